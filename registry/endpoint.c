/* Endpoint resolution: command-line flags first, then the host's podman configuration
 * (registries.conf for blocked and insecure registries, certs.d, the auth files). */
#include "imgtrust/endpoint.h"

#include <stdlib.h>
#include <string.h>

#include "imgtrust/authfile.h"
#include "imgtrust/certsd.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/regconf.h"
#include "imgtrust/xalloc.h"

void endpoint_free(struct it_endpoint *ep)
{
        free(ep->host);
        it_secret_free(ep->creds);
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

static void regconf_freep(struct it_regconf **c)
{
        if (*c)
                regconf_free(*c);
}

int endpoint_resolve(const char *host, const char *path, const struct it_endpoint_flags *flags,
                     struct it_endpoint *ep, it_error *err)
{
        memset(ep, 0, sizeof *ep);
        ep->host = xstrdup(host);
        _cleanup_free_ char *name = xasprintf("%s/%s", host, path ? path : "");
        if (path == NULL || !*path)
                name[strlen(name) - 1] = '\0';

        /* registries.conf: blocked always applies; insecure unless --tls-verify was given. */
        __attribute__((cleanup(regconf_freep))) struct it_regconf *conf = NULL;
        int rc = regconf_load(flags->regconf, NULL, NULL, &conf, err);
        if (rc)
                return rc;
        rc = regconf_check_blocked(conf, name, err);
        if (rc)
                return rc;
        struct it_regconf_match m;
        bool found = regconf_find(conf, name, &m);
        if (flags->tls_verify >= 0) {
                ep->tls_verify = flags->tls_verify != 0;
        } else {
                ep->tls_verify = !(found && m.insecure);
                if (!ep->tls_verify)
                        ep->insecure_from = xstrdup(m.file ? m.file : "registries.conf");
        }

        /* TLS files: --cert-dir alone when given, else certs.d. */
        struct it_tls_files tf = IT_TLS_FILES_INIT;
        rc = flags->certs_dir ? certsd_read_dir(flags->certs_dir, &tf, err)
                              : certsd_find(host, NULL, &tf, err);
        if (rc)
                return rc;
        if (tf.nca) {
                ep->ca_files = xcalloc(tf.nca + 1, sizeof *ep->ca_files);
                for (size_t i = 0; i < tf.nca; i++)
                        ep->ca_files[i] = xstrdup(tf.ca_files[i]);
        }
        ep->client_cert = tf.client_cert ? xstrdup(tf.client_cert) : NULL;
        ep->client_key = tf.client_key ? xstrdup(tf.client_key) : NULL;
        ep->certs_dir = tf.dir ? xstrdup(tf.dir) : NULL;
        certsd_files_free(&tf);

        /* Credentials: --creds, else the auth files (most specific key first). */
        if (flags->creds) {
                ep->creds = xstrdup(flags->creds);
                ep->creds_from = xstrdup("--creds");
                return 0;
        }
        return authfile_lookup(host, path, flags->authfile, &ep->creds, &ep->creds_from, err);
}

int endpoint_client(const struct it_endpoint *ep, struct it_registry **out, it_error *err)
{
        struct it_registry_opts o = {.tls_verify = ep->tls_verify,
                                     .creds = ep->creds,
                                     .ca_files = (const char *const *)ep->ca_files,
                                     .client_cert = ep->client_cert,
                                     .client_key = ep->client_key};
        return registry_client_new_opts(ep->host, &o, out, err);
}
