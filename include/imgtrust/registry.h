/* A minimal Docker Registry HTTP API v2 client (libcurl): manifests by tag or digest, anonymous,
 * Basic or Bearer-token authentication, TLS verification with extra CA files and a client
 * certificate, or skopeo's insecure fallback to plain HTTP. Also the bounded HTTP GET that the
 * lookaside reader shares (both on imgtrust/http.h). */
#ifndef IMGTRUST_REGISTRY_H
#define IMGTRUST_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgtrust/buf.h"
#include "imgtrust/digest.h"
#include "imgtrust/error.h"
#include "imgtrust/http.h"

struct it_http_opts {
        bool tls_verify;
        const char *const *headers; /* extra "Name: value" lines, NULL-terminated; may be NULL */
        const char *userpwd;        /* "user:password" for Basic authentication, or NULL */
        void *curl; /* a CURL * easy handle to reuse (reset first, connections kept), or NULL for
                       a handle of this request only */
        const struct it_tls_config *tls; /* when not NULL, used instead of tls_verify */
};

/* GET url (with opts->curl or a handle of its own): http/https only (redirects too, at most 10),
 * proxies from the environment except for loopback hosts, the timeouts of http.h. Any HTTP status
 * is a success here (resp->status says which); a transport failure is IT_EIO "GET URL: reason". A
 * body of more than max bytes is IT_EIO "GET URL: response larger than MAX bytes". */
int http_get(const char *url, const struct it_http_opts *opts, size_t max,
             struct it_http_resp *resp, it_error *err);

/* One line for a failed status: "GET URL: HTTP 500 Internal Server Error" plus the first
 * `code: message` of a registry JSON error body, bounded and quoted. Sets IT_EIO. */
int http_status_error(const char *url, const struct it_http_resp *resp, it_error *err);

/* Accept list for manifests: OCI manifest and index, Docker schema 2 and manifest list, signed
 * and unsigned schema 1. NULL-terminated, static. */
extern const char *const it_manifest_accept_default[];

/* One auth-param of a WWW-Authenticate challenge's parameters (RFC 7235: token or
 * quoted-string, names compared without case), e.g. realm of `realm="https://a/token",service=x`.
 * Allocated, or NULL when absent. */
char *registry_challenge_param(const char *params, const char *name);

struct it_registry;

/* How to reach a registry; registry_client_new_opts copies everything. */
struct it_registry_opts {
        /* false: the certificate is not checked and plain HTTP is tried when HTTPS cannot be
         * reached, as skopeo does for an insecure registry. */
        bool tls_verify;
        const char *creds; /* "USER:PASS", or NULL for anonymous access; never printed */
        /* PEM files of extra CA certificates, NULL-terminated (may be NULL): added to the
         * system pool for every request of the client (it_tls_config). */
        const char *const *ca_files;
        const char *client_cert; /* PEM client certificate for TLS, or NULL */
        const char *client_key;  /* its PEM key, or NULL when client_cert holds it */
};

/* A client for one registry host ("host[:port]"), with one libcurl easy handle so connections
 * are reused across its requests (not thread-safe: one thread per client). Allocates *out.
 * IT_EINPUT for creds without ':' or without a user, an empty host, or a client key without a
 * client certificate. The ping, the token request and manifest GET/HEAD are retried as
 * registry_write.h says; a Bearer token the registry stops accepting (401 in the middle of a
 * session) is fetched again once and the request repeated. */
int registry_client_new_opts(const char *host, const struct it_registry_opts *opts,
                             struct it_registry **out, it_error *err);
/* registry_client_new_opts with only tls_verify and creds. */
int registry_client_new(const char *host, bool tls_verify, const char *creds,
                        struct it_registry **out, it_error *err);
void registry_client_free(struct it_registry *c);

/* GET /v2/<repo>/manifests/<ref>. ref is a tag or a digest (validated); accept NULL uses
 * it_manifest_accept_default. The body (at most IT_MANIFEST_MAX bytes) goes to *body; the
 * media type (Content-Type without parameters, or sniffed when the registry gives none or a
 * generic one) to *media_type (allocated; may be NULL to not ask); the digest computed from the
 * bytes (manifest_digest) to *digest. When ref is a digest the bytes must hash to it (spec §3.4).
 * Errors: IT_EIO naming the URL and the status, "authentication failed for HOST" after a 401
 * with credentials (which are never printed), IT_EINPUT for a bad repo/ref or manifest. */
int registry_get_manifest(struct it_registry *c, const char *repo, const char *ref,
                          const char *const *accept, struct it_buf *body, char **media_type,
                          struct it_digest *digest, it_error *err);

/* HEAD /v2/<repo>/manifests/<ref> with Accept (accept NULL: it_manifest_accept_default).
 * 404 clears *exists and returns 0. Otherwise *exists is set, *digest is the registry's
 * Docker-Content-Digest (a digest ref: that digest, and a Docker-Content-Digest that differs is
 * IT_EIO), *media_type (may be NULL to not ask) the Content-Type without parameters (allocated,
 * "" when none), *size (may be NULL) the Content-Length or -1. A tag answered without a usable
 * Docker-Content-Digest is IT_EIO. */
int registry_manifest_head(struct it_registry *c, const char *repo, const char *ref,
                           const char *const *accept, bool *exists, struct it_digest *digest,
                           char **media_type, int64_t *size, it_error *err);

/* Ping the registry now (the /v2/ request that settles the scheme and how to authenticate), if
 * c has not yet. */
int registry_client_ping(struct it_registry *c, it_error *err);

/* Take over what `from` (a client for the same host and TLS setting) settled: the scheme, the
 * authentication challenge and its current token, so that c, e.g. one more worker's client,
 * sends no ping and no token request of its own. Does nothing if c already pinged. */
void registry_client_adopt(struct it_registry *c, const struct it_registry *from);

/* "https" or "http": the scheme the client settled on (after its first request), or NULL. */
const char *registry_client_scheme(const struct it_registry *c);

#endif
