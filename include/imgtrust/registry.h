/* A minimal Docker Registry HTTP API v2 client (libcurl): manifests by tag or digest, anonymous,
 * Basic or Bearer-token authentication, TLS verification or skopeo's insecure fallback to plain
 * HTTP. Also the bounded HTTP GET that the lookaside reader shares. */
#ifndef IMGTRUST_REGISTRY_H
#define IMGTRUST_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "imgtrust/buf.h"
#include "imgtrust/digest.h"
#include "imgtrust/error.h"

/* Seconds to establish a connection; a transfer slower than 1 byte/s for IT_HTTP_LOW_SPEED_TIME
 * seconds is abandoned. */
#define IT_HTTP_CONNECT_TIMEOUT 10
#define IT_HTTP_LOW_SPEED_TIME 30
/* A registry's JSON error body, read for its first code/message only. */
#define IT_HTTP_ERROR_BODY_MAX (64u << 10)

struct it_http_opts {
        bool tls_verify;
        const char *const *headers; /* extra "Name: value" lines, NULL-terminated; may be NULL */
        const char *userpwd;        /* "user:password" for Basic authentication, or NULL */
        void *curl; /* a CURL * easy handle to reuse (reset first, connections kept), or NULL for
                       a handle of this request only */
};

struct it_http_resp {
        long status;        /* 0 when no response came */
        struct it_buf body; /* at most `max` bytes */
        char *content_type; /* of the final response, parameters kept; owned or NULL */
        char *www_auth;     /* WWW-Authenticate of the final response; owned or NULL */
};

#define IT_HTTP_RESP_INIT                                                                          \
        {                                                                                          \
                0                                                                                  \
        }

void http_resp_free(struct it_http_resp *r);

/* GET url (with opts->curl or a handle of its own): http/https only (redirects too, at most 10),
 * proxies from the environment except for loopback hosts, the timeouts above. Any HTTP status is a
 * success here (resp->status says which); a transport failure is IT_EIO "GET URL: reason". A body
 * of more than max bytes is IT_EIO "GET URL: response larger than MAX bytes". */
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

/* A client for one registry host ("host[:port]"), with one libcurl easy handle so connections
 * are reused across its requests (not thread-safe: one thread per client). creds is "USER:PASS" or
 * NULL for anonymous access (copied). tls_verify false: the certificate is not checked and plain
 * HTTP is tried when HTTPS cannot be reached, as skopeo does for an insecure registry. Allocates
 * *out. IT_EINPUT for creds without ':' or an empty host. */
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

/* "https" or "http": the scheme the client settled on (after its first request), or NULL. */
const char *registry_client_scheme(const struct it_registry *c);

#endif
