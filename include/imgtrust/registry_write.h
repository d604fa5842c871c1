/* The registry client's write side and streamed blob reads (Docker Registry HTTP API v2 / OCI
 * distribution): blob existence, upload (monolithic or chunked), cross-repository mount, manifest
 * PUT and digest-checked blob GET, with bounded retries. */
#ifndef IMGTRUST_REGISTRY_WRITE_H
#define IMGTRUST_REGISTRY_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgtrust/digest.h"
#include "imgtrust/error.h"
#include "imgtrust/registry.h"

/* Blobs larger than this go up in PATCH chunks of this size, then a bodyless PUT. */
#define IT_UPLOAD_CHUNK_DEFAULT ((int64_t)32 << 20)
#define IT_RETRY_TRIES_DEFAULT 3
#define IT_RETRY_BASE_MS_DEFAULT 100

/* Up to cap bytes into buf; *got 0 means the end. Returns 0 or a negative it_code. */
typedef int (*it_read_fn)(void *ctx, void *buf, size_t cap, size_t *got, it_error *err);
/* Takes len bytes of a blob being downloaded. Returns 0 or a negative it_code. */
typedef int (*it_write_fn)(void *ctx, const void *data, size_t len, it_error *err);

/* Rewinds a stream to the start of the blob (e.g. lseek to its offset). Returns 0 or a negative
 * it_code. */
typedef int (*it_rewind_fn)(void *ctx, it_error *err);

/* Requests are tried `tries` times in all (>= 1), waiting base_ms, then 4x longer each time,
 * after a 429, a 5xx or a connection failure; never after another 4xx (nor after a TLS failure).
 * This holds for the ping, the token request, manifest GET/HEAD/PUT and the blob requests. A
 * request whose body is streamed from an it_read_fn (the upload PUT/PATCH) is not repeated by
 * itself: registry_blob_upload_rewindable restarts the whole upload in a new session instead,
 * within the same `tries`. A blob GET is retried only while nothing has reached its
 * it_write_fn. With Bearer authentication a 401 on a request made with a token fetches a new
 * token once and repeats the request (not counted as a try); a streamed upload PUT/PATCH that
 * gets it fails unless the upload can be restarted. */
void registry_client_set_retry(struct it_registry *c, int tries, long base_ms);
/* Chunk threshold and size for registry_blob_upload (> 0; tests use small ones). */
void registry_client_set_upload_chunk(struct it_registry *c, int64_t bytes);
/* Number of HTTP requests sent for blobs and manifests by this client so far, retries included
 * (not the ping nor token requests; tests). */
unsigned registry_client_requests(const struct it_registry *c);

/* HEAD /v2/<repo>/blobs/<digest>: *exists, and *size (may be NULL; -1 when unknown). */
int registry_blob_exists(struct it_registry *c, const char *repo, const char *digest, bool *exists,
                         int64_t *size, it_error *err);

/* POST an upload session, then stream size bytes from read_fn: one PUT ?digest= for blobs of at
 * most the chunk threshold, else PATCH chunks (Content-Range) and a bodyless PUT ?digest=. The
 * bytes are hashed on the way; when they do not hash to digest (or are not size bytes) the
 * transfer is aborted before its last byte is sent, the session is DELETEd and the result is
 * IT_EINPUT "blob ... does not match". Never holds the blob in memory. A failed PUT/PATCH is not
 * repeated (the stream cannot be rewound). */
int registry_blob_upload(struct it_registry *c, const char *repo, const char *digest, int64_t size,
                         it_read_fn read_fn, void *ctx, it_error *err);

/* The same with a stream that rewind_fn can take back to the blob's start (NULL: as
 * registry_blob_upload): a PUT/PATCH
 * that fails with a 429, a 5xx, a connection failure, or a 401 with Bearer authentication (token
 * expired: a new one is fetched, once) cancels its session (DELETE), rewinds, and uploads again
 * from a new POST, while the retry budget (`tries` sessions in all) lasts. */
int registry_blob_upload_rewindable(struct it_registry *c, const char *repo, const char *digest,
                                    int64_t size, it_read_fn read_fn, it_rewind_fn rewind_fn,
                                    void *ctx, it_error *err);

/* POST ?mount=<digest>&from=<from_repo>: 201 sets *mounted; 202 (the registry opened an upload
 * session instead) clears it and the session is DELETEd. With Bearer authentication one token is
 * asked for both scopes, repository:REPO:pull,push and repository:FROM_REPO:pull. */
int registry_blob_mount(struct it_registry *c, const char *repo, const char *digest,
                        const char *from_repo, bool *mounted, it_error *err);

/* PUT /v2/<repo>/manifests/<tag_or_digest> with Content-Type media_type. *out (may be NULL) is
 * the sha256 of bytes; a Docker-Content-Digest answer that differs, or a digest reference the
 * bytes do not hash to, is an error. */
int registry_manifest_put(struct it_registry *c, const char *repo, const char *tag_or_digest,
                          const char *media_type, const void *bytes, size_t len,
                          struct it_digest *out, it_error *err);

/* GET /v2/<repo>/blobs/<digest> streamed into write_fn, at most max bytes, hashed as it arrives.
 * Redirects (at most 10) are followed; credentials are sent only to the registry's own
 * scheme://host:port. A digest mismatch is IT_EIO after the stream ends: the caller discards what
 * it was given. */
int registry_blob_get(struct it_registry *c, const char *repo, const char *digest,
                      it_write_fn write_fn, void *ctx, int64_t max, it_error *err);

/* Internal to registry/: what client.c knows and upload.c needs. */
struct registry_conn {
        struct it_registry *client;
        void *curl;         /* the client's CURL * */
        const char *host;   /* host[:port] */
        const char *scheme; /* settled by the ping */
        const struct it_tls_config *tls;
        const char *userpwd; /* Basic credentials, or NULL */
        char *auth_hdr;      /* "Authorization: Bearer ..." (allocated) or NULL */
        char *scope;         /* the token's scopes, space-separated (allocated) */
        bool refreshed;      /* the token was fetched again after a 401 */
        int tries;
        long base_ms;
        int64_t chunk;
        unsigned *requests;
};
/* Pings when needed and gets credentials for scope ("repository:R:pull,push"; several scopes
 * separated by a space are asked for in one token request); fills *conn.
 * registry_conn_release() frees and wipes the header. */
int registry_conn_get(struct it_registry *c, const char *scope, struct registry_conn *conn,
                      it_error *err);
void registry_conn_release(struct registry_conn *conn);
/* The message for a 401 that survived authentication: "authentication failed for HOST (...)"
 * with credentials, else "authentication required for HOST (...); give --creds". IT_EIO. */
int registry_auth_error(const struct it_registry *c, const char *method, const char *url,
                        it_error *err);
/* Fetches a new token for conn's scope (Bearer only) and updates conn->auth_hdr; once per conn
 * (conn->refreshed). IT_EIO when not Bearer or already refreshed. */
int registry_conn_refresh(struct registry_conn *conn, it_error *err);
/* it_http_perform with conn's TLS, handle and counter, and the credentials when `auth`, under the
 * retry and token refresh rules above. q->headers, method, url and body are the caller's; a
 * streamed request (q->read) gets one attempt and its 401 is returned as a status. */
int registry_conn_request(struct registry_conn *conn, const struct it_http_req *q, bool auth,
                          struct it_http_resp *resp, it_error *err);
bool registry_repo_valid(const char *repo);

#endif
