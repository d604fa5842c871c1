/* One HTTP request over libcurl, shared by the registry client (registry/), the lookaside reader
 * (verify/lookaside.c, through http_get) and the lookaside writer (sign/lookaside_put.c): the
 * libcurl options, header and body callbacks, proxy exceptions, TLS settings and error wording
 * live here only. Internal to libimgtrust. */
#ifndef IMGTRUST_HTTP_H
#define IMGTRUST_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgtrust/buf.h"
#include "imgtrust/error.h"

/* Seconds to establish a connection; a transfer slower than 1 byte/s for IT_HTTP_LOW_SPEED_TIME
 * seconds is abandoned. */
#define IT_HTTP_CONNECT_TIMEOUT 10
#define IT_HTTP_LOW_SPEED_TIME 30
/* A registry's JSON error body, read for its first code/message only. */
#define IT_HTTP_ERROR_BODY_MAX (64u << 10)
/* Redirects followed by one request that follows them. */
#define IT_HTTP_MAX_REDIRECTS 10
/* Largest PEM file of extra CA certificates read. */
#define IT_TLS_CA_FILE_MAX (1u << 20)

/* TLS settings of every request. */
struct it_tls_config {
        bool verify; /* check the server's certificate chain and name */
        /* PEM files of extra CA certificates, NULL-terminated (may be NULL): added to the system
         * pool, not replacing it. Read for every request that verifies; a file that cannot be
         * read or holds no certificate fails the request before anything is sent. */
        const char *const *ca_files;
        const char *client_cert; /* PEM client certificate, or NULL */
        const char *client_key;  /* its PEM private key, or NULL (then in client_cert) */
};

struct it_http_resp {
        long status;            /* 0 when no response came */
        struct it_buf body;     /* in-memory body, at most the request's `max` bytes */
        char *content_type;     /* of the final response, parameters kept; owned or NULL */
        char *www_auth;         /* first WWW-Authenticate of the final response; owned or NULL */
        char *location;         /* Location of the final response as sent; owned or NULL */
        char *docker_digest;    /* Docker-Content-Digest of the final response; owned or NULL */
        int64_t content_length; /* of the final response, -1 when absent (set by the request) */
        char *redirect_url;     /* absolute target of a redirect not followed; owned or NULL */
        int64_t sunk;           /* bytes handed to the request's sink */
        bool transient;         /* a transport failure that may pass: worth another try */
        bool aborted;           /* the request's read or sink callback stopped the transfer */
        bool too_large;         /* the body passed `max` (with max_is_error) */
};

#define IT_HTTP_RESP_INIT                                                                          \
        {                                                                                          \
                0                                                                                  \
        }

void http_resp_free(struct it_http_resp *r);

/* A streamed request body: up to cap bytes into buf, *got 0 at the end. Nonzero aborts the
 * transfer (the callback keeps its own account of why). */
typedef int (*it_http_read_fn)(void *ctx, char *buf, size_t cap, size_t *got);
/* Takes len bytes of a 2xx response body. Nonzero aborts the transfer. */
typedef int (*it_http_sink_fn)(void *ctx, const void *data, size_t len);

struct it_http_req {
        const char *method;         /* "GET" (also NULL), "HEAD", "POST", "PUT", "PATCH", ... */
        const char *url;            /* http:// or https:// */
        const char *const *headers; /* "Name: value" lines, NULL-terminated; may be NULL */
        const char *auth_header;    /* one more header line (credentials: never in messages) */
        const char *userpwd;        /* "user:password" for Basic authentication, or NULL */
        const struct it_tls_config *tls; /* NULL: verified against the system pool */
        /* Followed (http/https only, at most IT_HTTP_MAX_REDIRECTS; libcurl sends userpwd and
         * auth_header to the first host only); else a 3xx is the response, its target in
         * redirect_url. */
        bool follow_redirects;
        /* Request body (methods other than GET/HEAD): `read` streams read_len bytes; else
         * body/body_len (body may be NULL for none). */
        const void *body;
        size_t body_len;
        it_http_read_fn read;
        void *read_ctx;
        int64_t read_len;
        /* Response body: a 2xx body goes to `sink` when given; anything else to resp->body, at
         * most max bytes: beyond, the request fails (max_is_error: "response larger than") or
         * the rest is dropped. */
        it_http_sink_fn sink;
        void *sink_ctx;
        size_t max;
        bool max_is_error;
        void *curl; /* a CURL * to reuse (reset before and after, connections kept), or NULL */
        unsigned *counter; /* incremented when the request is sent; may be NULL */
};

/* One attempt, no retry. Proxies come from the environment except for loopback hosts (as Go
 * does), the timeouts above, User-Agent imgtrust, no "Expect: 100-continue". Any HTTP status is
 * a success here (resp->status says which; resp is freed first). Failures are IT_EIO
 * "METHOD URL: reason" (resp->transient when worth another try; resp->aborted when a callback
 * stopped it), with TLS failures worded to name the host and what to fix; an unusable CA file
 * is IT_EIO/IT_EINPUT naming it. */
int it_http_perform(const struct it_http_req *q, struct it_http_resp *resp, it_error *err);

/* Whether a finished attempt (rc from it_http_perform) deserves another under the registry retry
 * rule: a transient transport failure, 429 or 5xx; never a streamed request body, nor a response
 * that already reached the sink. */
bool it_http_retryable(const struct it_http_req *q, int rc, const struct it_http_resp *resp);

/* One line for a failed status: "METHOD URL: HTTP 500 Internal Server Error" plus the first
 * `code: message` of a registry JSON error body, bounded and quoted. Sets IT_EIO. */
int it_http_status_error(const char *method, const char *url, const struct it_http_resp *resp,
                         it_error *err);

/* Waits ms milliseconds (retry backoff). */
void it_http_sleep_ms(long ms);

#endif
