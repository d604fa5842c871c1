/* How to reach one registry host: TLS, credentials, and the host configuration podman would use
 * (registries.conf insecure/blocked, certs.d, auth files), folded into one value that can make as
 * many clients as a command needs (one per thread: a client is not thread-safe). */
#ifndef IMGTRUST_ENDPOINT_H
#define IMGTRUST_ENDPOINT_H

#include <stdbool.h>

#include "imgtrust/error.h"
#include "imgtrust/registry.h"

struct it_endpoint {
        char *host;        /* "host[:port]" */
        bool tls_verify;   /* false: certificate not checked, plain HTTP tried after HTTPS */
        char *creds;       /* "user:password" or NULL; never printed */
        char *creds_from;  /* where creds came from, for messages ("--creds", a file), or NULL */
        char **ca_files;   /* extra CA files (certs.d *.crt), NULL-terminated, or NULL */
        char *client_cert; /* certs.d client pair, or NULL */
        char *client_key;
        char *certs_dir;     /* the certs.d directory used, or NULL */
        char *insecure_from; /* registries.conf file that made the host insecure, or NULL */
};

#define IT_ENDPOINT_INIT                                                                           \
        {                                                                                          \
                0                                                                                  \
        }

/* What the user said on the command line for one side of a copy. */
struct it_endpoint_flags {
        int tls_verify;        /* -1 not given, 0 --tls-verify=false, 1 --tls-verify=true */
        const char *creds;     /* --creds or NULL */
        const char *authfile;  /* --authfile or NULL (default auth file locations) */
        const char *certs_dir; /* --cert-dir or NULL (certs.d locations) */
        const char *regconf;   /* registries.conf path or NULL (podman's locations) */
};

/* Resolve the endpoint for the image name "host[:port]/path" (no tag): registries.conf (a
 * blocked registry is IT_EINPUT naming the file), TLS from certs.d unless --cert-dir, insecure
 * from registries.conf unless --tls-verify was given, credentials from --creds, else the auth
 * file entry for host/path. Fills *ep (free with endpoint_free). */
int endpoint_resolve(const char *host, const char *path, const struct it_endpoint_flags *flags,
                     struct it_endpoint *ep, it_error *err);

/* A new client for ep (allocated; free with registry_client_free). */
int endpoint_client(const struct it_endpoint *ep, struct it_registry **out, it_error *err);

void endpoint_free(struct it_endpoint *ep);

#endif
