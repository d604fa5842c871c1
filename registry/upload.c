/* Blob and manifest writes and streamed blob reads: requests through registry_conn_request
 * (imgtrust/http.h underneath, with the client's retries and token refresh), used by HEAD, POST,
 * PATCH, PUT, DELETE and GET. */
#include "imgtrust/registry_write.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/http.h"
#include "imgtrust/manifest.h"
#include "imgtrust/xalloc.h"

#define QUOTE_MAX 200
#define MAX_REDIRECTS 10
#define OCTET "Content-Type: application/octet-stream"
/* Bytes asked of an it_read_fn at once (libcurl's largest read buffer). */
#define HELD_MAX CURL_MAX_READ_SIZE

/* The streamed body of a PUT/PATCH: `len` bytes from read_fn, hashed into md. At `total` bytes
 * in all (the whole blob) the digest is checked before the last byte leaves. */
struct upstream {
        it_read_fn read;
        void *ctx;
        int64_t len;  /* bytes of this request */
        int64_t sent; /* of this request */
        const int64_t *done;
        int64_t total;
        EVP_MD_CTX *md;
        const struct it_digest *want;
        bool mismatch;
        bool failed;
        it_error err;
        unsigned char *held; /* bytes read but not yet handed to curl */
        size_t held_cap, held_len, held_off;
};

struct downstream {
        it_write_fn write;
        void *ctx;
        int64_t max;
        int64_t got;
        EVP_MD_CTX *md;
        bool too_large;
        bool failed;
        it_error err;
};

static int down_write(void *ud, const void *p, size_t n)
{
        struct downstream *d = ud;
        if (d->got + (int64_t)n > d->max) {
                d->too_large = true;
                return -1;
        }
        EVP_DigestUpdate(d->md, p, n);
        if (d->write(d->ctx, p, n, &d->err)) {
                d->failed = true;
                return -1;
        }
        d->got += (int64_t)n;
        return 0;
}

/* Before the blob's last byte goes out, its digest must be right: abort otherwise, so the
 * registry never completes a blob we would not vouch for. */
static bool last_byte_check(struct upstream *u)
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        EVP_MD_CTX *copy = EVP_MD_CTX_new();
        if (!copy)
                abort();
        EVP_MD_CTX_copy_ex(copy, u->md);
        EVP_DigestFinal_ex(copy, md, &mdlen);
        EVP_MD_CTX_free(copy);
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        for (unsigned i = 0; i < mdlen; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        return !strcmp(hex, u->want->hex);
}

static int up_read(void *ud, char *buf, size_t cap, size_t *out)
{
        struct upstream *u = ud;
        *out = 0;
        if (u->sent >= u->len)
                return 0;
        if (u->held_off >= u->held_len) {
                int64_t left = u->len - u->sent;
                size_t want = cap < (size_t)left ? cap : (size_t)left;
                if (want > u->held_cap)
                        want = u->held_cap;
                size_t got = 0;
                if (u->read(u->ctx, u->held, want, &got, &u->err)) {
                        u->failed = true;
                        return -1;
                }
                if (got == 0 || got > want) {
                        u->mismatch = true; /* shorter than the size we were told */
                        return -1;
                }
                EVP_DigestUpdate(u->md, u->held, got);
                u->held_len = got;
                u->held_off = 0;
                if (*u->done + u->sent + (int64_t)got == u->total && !last_byte_check(u)) {
                        u->mismatch = true;
                        return -1;
                }
        }
        size_t n = u->held_len - u->held_off;
        if (n > cap)
                n = cap;
        memcpy(buf, u->held + u->held_off, n);
        u->held_off += n;
        u->sent += (int64_t)n;
        *out = n;
        return 0;
}

/* registry_conn_request, with a callback's own failure in place of libcurl's "transfer
 * stopped". IT_EINPUT without a message for a blob that does not match (the caller words it). */
static int send_req(struct registry_conn *cn, const struct it_http_req *q, bool auth,
                    struct upstream *up, struct downstream *down, struct it_http_resp *r,
                    it_error *err)
{
        int rc = registry_conn_request(cn, q, auth, r, err);
        if (!rc)
                return 0;
        if (up && up->failed) {
                it_error_move(err, &up->err);
                return err->code ? err->code : IT_EIO;
        }
        if (up && up->mismatch) {
                it_error_clear(err);
                return IT_EINPUT;
        }
        if (down && down->failed) {
                it_error_move(err, &down->err);
                return err->code ? err->code : IT_EIO;
        }
        if (down && down->too_large)
                return it_error_set(err, IT_EIO, "GET %s: blob larger than %lld bytes", q->url,
                                    (long long)down->max);
        return rc;
}

static int status_error(const struct registry_conn *cn, const char *method, const char *url,
                        const struct it_http_resp *r, it_error *err)
{
        if (r->status == 401)
                return registry_auth_error(cn->client, method, url, err);
        return it_http_status_error(method, url, r, err);
}

static int check_args(const char *repo, const char *digest, struct it_digest *d, it_error *err)
{
        if (!registry_repo_valid(repo)) {
                _cleanup_free_ char *q = it_quote(repo ? repo : "", QUOTE_MAX);
                return it_error_set(err, IT_EINPUT, "invalid repository name %s", q);
        }
        if (digest)
                return digest_parse(digest, d, err);
        return 0;
}

static void conn_releasep(struct registry_conn *cn)
{
        registry_conn_release(cn);
}

static int conn_for(struct it_registry *c, const char *repo, bool push, struct registry_conn *cn,
                    it_error *err)
{
        _cleanup_free_ char *scope =
            xasprintf("repository:%s:%s", repo, push ? "pull,push" : "pull");
        return registry_conn_get(c, scope, cn, err);
}

static char *base_url(const struct registry_conn *cn)
{
        return xasprintf("%s://%s", cn->scheme, cn->host);
}

/* Location may be relative; resolve it against the registry URL. Allocated, or NULL. */
static char *resolve(const char *base, const char *loc)
{
        CURLU *u = curl_url();
        char *out = NULL;
        if (u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
            curl_url_set(u, CURLUPART_URL, loc, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK) {
                char *r = xstrdup(out);
                curl_free(out);
                curl_url_cleanup(u);
                return r;
        }
        curl_url_cleanup(u);
        return NULL;
}

/* "scheme://host[:port]" of an absolute URL, for the same-origin test. */
static size_t origin_len(const char *url)
{
        const char *p = strstr(url, "://");
        if (!p)
                return 0;
        p += 3;
        return (size_t)(p - url) + strcspn(p, "/?#");
}

static bool same_origin(const char *a, const char *b)
{
        size_t la = origin_len(a), lb = origin_len(b);
        return la && la == lb && !strncasecmp(a, b, la);
}

static char *with_query(const char *url, const char *param)
{
        return xasprintf("%s%c%s", url, strchr(url, '?') ? '&' : '?', param);
}

static char *digest_param(const struct it_digest *d)
{
        return xasprintf("digest=%s%%3A%s", digest_alg_name(d->alg), d->hex);
}

int registry_blob_exists(struct it_registry *c, const char *repo, const char *digest, bool *exists,
                         int64_t *size, it_error *err)
{
        struct it_digest d;
        *exists = false;
        if (size)
                *size = -1;
        int rc = check_args(repo, digest, &d, err);
        if (rc)
                return rc;
        _cleanup_(conn_releasep) struct registry_conn cn = {0};
        rc = conn_for(c, repo, false, &cn, err);
        if (rc)
                return rc;
        _cleanup_free_ char *url =
            xasprintf("%s://%s/v2/%s/blobs/%s", cn.scheme, cn.host, repo, digest);
        struct it_http_req q = {.method = "HEAD", .url = url, .max = IT_HTTP_ERROR_BODY_MAX};
        _cleanup_(http_resp_free) struct it_http_resp r = IT_HTTP_RESP_INIT;
        rc = send_req(&cn, &q, true, NULL, NULL, &r, err);
        if (rc)
                return rc;
        if (r.status == 200) {
                *exists = true;
                if (size)
                        *size = r.content_length;
        } else if (r.status != 404) {
                return status_error(&cn, "HEAD", url, &r, err);
        }
        return 0;
}

static void cancel_session(struct registry_conn *cn, const char *url)
{
        if (!url)
                return;
        struct it_http_req q = {.method = "DELETE", .url = url, .max = IT_HTTP_ERROR_BODY_MAX};
        _cleanup_(http_resp_free) struct it_http_resp r = IT_HTTP_RESP_INIT;
        _cleanup_error_ it_error ignored = IT_ERROR_INIT;
        send_req(cn, &q, true, NULL, NULL, &r, &ignored);
}

/* POST to open a session (or mount); *status and the resolved Location in *loc. */
static int start_session(struct registry_conn *cn, const char *url, long *status, char **loc,
                         it_error *err)
{
        struct it_http_req q = {.method = "POST", .url = url, .max = IT_HTTP_ERROR_BODY_MAX};
        _cleanup_(http_resp_free) struct it_http_resp r = IT_HTTP_RESP_INIT;
        *loc = NULL;
        int rc = send_req(cn, &q, true, NULL, NULL, &r, err);
        if (rc)
                return rc;
        *status = r.status;
        if (r.status != 201 && r.status != 202)
                return status_error(cn, "POST", url, &r, err);
        if (r.status == 202) {
                _cleanup_free_ char *b = base_url(cn);
                *loc = r.location ? resolve(b, r.location) : NULL;
                if (!*loc)
                        return it_error_set(err, IT_EIO, "POST %s: 202 without a usable Location",
                                            url);
        }
        return 0;
}

static void md_freep(EVP_MD_CTX **m)
{
        EVP_MD_CTX_free(*m);
}

/* How one upload session ended, when it did not succeed. */
struct session_end {
        bool mismatch;     /* the bytes are not the blob: never repeated */
        bool restartable;  /* 429, 5xx or a transient transport failure of a PUT/PATCH */
        bool unauthorized; /* a 401 with a Bearer token not yet fetched again */
};

/* After a PUT/PATCH failed (rc) or got an unexpected status. */
static void classify(const struct registry_conn *cn, int rc, const struct upstream *u,
                     const struct it_http_resp *r, struct session_end *end)
{
        if (rc) {
                end->restartable = r->transient && !u->failed && !u->mismatch;
        } else if (r->status == 401) {
                end->unauthorized = end->restartable = cn->auth_hdr && !cn->refreshed;
        } else {
                end->restartable = r->status == 429 || r->status >= 500;
        }
}

/* One session: POST, then PUT (or PATCHes and a bodyless PUT). On failure the session is
 * DELETEd and *end says why. */
static int upload_session(struct registry_conn *cn, const char *repo, const struct it_digest *want,
                          int64_t size, it_read_fn read_fn, void *ctx, unsigned char *held,
                          struct session_end *end, it_error *err)
{
        _cleanup_free_ char *post =
            xasprintf("%s://%s/v2/%s/blobs/uploads/", cn->scheme, cn->host, repo);
        long st = 0;
        _cleanup_free_ char *loc = NULL;
        int rc = start_session(cn, post, &st, &loc, err);
        if (rc)
                return rc;
        if (st != 202)
                return it_error_set(err, IT_EIO, "POST %s: HTTP %ld, expected 202", post, st);

        _cleanup_(md_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
        if (!md || !EVP_DigestInit_ex(md, digest_evp(want->alg), NULL))
                abort();
        int64_t done = 0;
        bool chunked = size > cn->chunk;
        struct upstream u = {.read = read_fn,
                             .ctx = ctx,
                             .done = &done,
                             .total = size,
                             .md = md,
                             .want = want,
                             .held = held,
                             .held_cap = HELD_MAX};
        _cleanup_free_ char *url = NULL;
        _cleanup_(http_resp_free) struct it_http_resp r = IT_HTTP_RESP_INIT;
        const char *method = "PATCH";
        /* Chunked: PATCH pieces to each new Location, then PUT ?digest= without a body. */
        while (chunked && done < size) {
                int64_t n = size - done < cn->chunk ? size - done : cn->chunk;
                _cleanup_free_ char *range = xasprintf("Content-Range: %lld-%lld", (long long)done,
                                                       (long long)(done + n - 1));
                const char *hdrs[] = {OCTET, range, NULL};
                u.len = n;
                u.sent = 0;
                u.held_len = u.held_off = 0;
                struct it_http_req q = {.method = "PATCH",
                                        .url = loc,
                                        .headers = hdrs,
                                        .read = up_read,
                                        .read_ctx = &u,
                                        .read_len = n,
                                        .max = IT_HTTP_ERROR_BODY_MAX};
                rc = send_req(cn, &q, true, &u, NULL, &r, err);
                if (rc || r.status != 202)
                        goto fail;
                done += n;
                if (r.location) {
                        _cleanup_free_ char *b = base_url(cn);
                        char *nl = resolve(b, r.location);
                        if (nl) {
                                free(loc);
                                loc = nl;
                        }
                }
        }
        {
                method = "PUT";
                _cleanup_free_ char *dp = digest_param(want);
                url = with_query(loc, dp);
                const char *hdrs[] = {OCTET, NULL};
                u.len = chunked ? 0 : size;
                u.sent = 0;
                u.held_len = u.held_off = 0;
                struct it_http_req q = {
                    .method = "PUT", .url = url, .headers = hdrs, .max = IT_HTTP_ERROR_BODY_MAX};
                if (!chunked) {
                        q.read = up_read;
                        q.read_ctx = &u;
                        q.read_len = size;
                }
                if (!chunked && size == 0 && !last_byte_check(&u)) {
                        u.mismatch = true;
                        rc = IT_EINPUT;
                        goto fail;
                }
                rc = send_req(cn, &q, true, chunked ? NULL : &u, NULL, &r, err);
                if (rc || r.status != 201)
                        goto fail;
        }
        return 0;
fail:
        if (u.mismatch) {
                end->mismatch = true;
        } else {
                classify(cn, rc, &u, &r, end);
                if (!rc && end->unauthorized)
                        rc = it_error_set(err, IT_EIO,
                                          "%s %s: HTTP 401 Unauthorized: the registry stopped "
                                          "accepting the token in the middle of a streamed upload "
                                          "(expired?), and this upload cannot be repeated (its "
                                          "source cannot be rewound)",
                                          method, url ? url : loc);
                else if (!rc)
                        rc = status_error(cn, method, url ? url : loc, &r, err);
        }
        http_resp_free(&r);
        cancel_session(cn, loc);
        return rc;
}

int registry_blob_upload_rewindable(struct it_registry *c, const char *repo, const char *digest,
                                    int64_t size, it_read_fn read_fn, it_rewind_fn rewind_fn,
                                    void *ctx, it_error *err)
{
        struct it_digest want;
        int rc = check_args(repo, digest, &want, err);
        if (rc)
                return rc;
        if (size < 0)
                return it_error_set(err, IT_EINPUT, "blob %s: negative size", digest);
        _cleanup_(conn_releasep) struct registry_conn cn = {0};
        rc = conn_for(c, repo, true, &cn, err);
        if (rc)
                return rc;
        _cleanup_free_ unsigned char *held = xmalloc(HELD_MAX);
        long wait = cn.base_ms;
        for (int attempt = 1;;) {
                struct session_end end = {0};
                rc = upload_session(&cn, repo, &want, size, read_fn, ctx, held, &end, err);
                if (!rc)
                        return 0;
                if (end.mismatch) {
                        it_error_clear(err);
                        return it_error_set(err, IT_EINPUT,
                                            "blob for %s/%s does not match: its bytes do not hash "
                                            "to it or are not %lld bytes; upload cancelled",
                                            repo, digest, (long long)size);
                }
                /* A new token is not a try; anything else waits and uses one. */
                if (!rewind_fn || !end.restartable || (!end.unauthorized && attempt >= cn.tries))
                        return it_error_wrap(err, "uploading blob %s to %s", digest, repo);
                it_error_clear(err);
                /* The DELETE of the dead session may have fetched the new token already. */
                if (end.unauthorized && !cn.refreshed) {
                        rc = registry_conn_refresh(&cn, err);
                        if (rc)
                                return it_error_wrap(err, "uploading blob %s to %s", digest, repo);
                } else if (!end.unauthorized) {
                        it_http_sleep_ms(wait);
                        wait *= 4;
                        attempt++;
                }
                rc = rewind_fn(ctx, err);
                if (rc)
                        return it_error_wrap(err, "uploading blob %s to %s: rewinding its source",
                                             digest, repo);
        }
}

int registry_blob_upload(struct it_registry *c, const char *repo, const char *digest, int64_t size,
                         it_read_fn read_fn, void *ctx, it_error *err)
{
        return registry_blob_upload_rewindable(c, repo, digest, size, read_fn, NULL, ctx, err);
}

int registry_blob_mount(struct it_registry *c, const char *repo, const char *digest,
                        const char *from_repo, bool *mounted, it_error *err)
{
        struct it_digest d;
        *mounted = false;
        int rc = check_args(repo, digest, &d, err);
        if (!rc)
                rc = check_args(from_repo, NULL, NULL, err);
        if (rc)
                return rc;
        /* One token for both repositories: push here, pull there. */
        _cleanup_free_ char *scope =
            xasprintf("repository:%s:pull,push repository:%s:pull", repo, from_repo);
        _cleanup_(conn_releasep) struct registry_conn cn = {0};
        rc = registry_conn_get(c, scope, &cn, err);
        if (rc)
                return rc;
        _cleanup_free_ char *url =
            xasprintf("%s://%s/v2/%s/blobs/uploads/?mount=%s%%3A%s&from=%s", cn.scheme, cn.host,
                      repo, digest_alg_name(d.alg), d.hex, from_repo);
        long st = 0;
        _cleanup_free_ char *loc = NULL;
        rc = start_session(&cn, url, &st, &loc, err);
        if (rc)
                return it_error_wrap(err, "mounting blob %s from %s into %s", digest, from_repo,
                                     repo);
        if (st == 201) {
                *mounted = true;
                return 0;
        }
        cancel_session(&cn, loc);
        return 0;
}

int registry_manifest_put(struct it_registry *c, const char *repo, const char *tag_or_digest,
                          const char *media_type, const void *bytes, size_t len,
                          struct it_digest *out, it_error *err)
{
        int rc = check_args(repo, NULL, NULL, err);
        if (rc)
                return rc;
        struct it_digest ref;
        bool by_digest = tag_or_digest && strchr(tag_or_digest, ':');
        if (by_digest) {
                rc = digest_parse(tag_or_digest, &ref, err);
                if (rc)
                        return rc;
        } else if (!tag_or_digest || !*tag_or_digest ||
                   strspn(tag_or_digest, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789_.-") != strlen(tag_or_digest) ||
                   strlen(tag_or_digest) > 128 || tag_or_digest[0] == '.' ||
                   tag_or_digest[0] == '-') {
                _cleanup_free_ char *q = it_quote(tag_or_digest ? tag_or_digest : "", QUOTE_MAX);
                return it_error_set(err, IT_EINPUT, "invalid tag %s", q);
        }
        if (len > IT_MANIFEST_MAX)
                return it_error_set(err, IT_EINPUT,
                                    "manifest for %s: %zu bytes, more than the %u a registry "
                                    "client reads back",
                                    repo, len, IT_MANIFEST_MAX);
        if (!media_type || !*media_type || strpbrk(media_type, "\r\n"))
                return it_error_set(err, IT_EINPUT, "manifest for %s: no usable media type", repo);
        struct it_digest got;
        digest_compute(IT_DIGEST_SHA256, bytes, len, &got);
        if (by_digest) {
                struct it_digest chk;
                digest_compute(ref.alg, bytes, len, &chk);
                if (!digest_equal(&chk, &ref))
                        return it_error_set(err, IT_EINPUT,
                                            "manifest for %s@%s: its bytes do not hash to the "
                                            "digest it is pushed as",
                                            repo, tag_or_digest);
        }
        _cleanup_(conn_releasep) struct registry_conn cn = {0};
        rc = conn_for(c, repo, true, &cn, err);
        if (rc)
                return rc;
        _cleanup_free_ char *url =
            xasprintf("%s://%s/v2/%s/manifests/%s", cn.scheme, cn.host, repo, tag_or_digest);
        _cleanup_free_ char *ct = xasprintf("Content-Type: %s", media_type);
        const char *hdrs[] = {ct, NULL};
        struct it_http_req q = {.method = "PUT",
                                .url = url,
                                .headers = hdrs,
                                .body = bytes,
                                .body_len = len,
                                .max = IT_HTTP_ERROR_BODY_MAX};
        _cleanup_(http_resp_free) struct it_http_resp r = IT_HTTP_RESP_INIT;
        rc = send_req(&cn, &q, true, NULL, NULL, &r, err);
        if (rc)
                return rc;
        if (r.status != 201 && r.status != 200)
                return status_error(&cn, "PUT", url, &r, err);
        if (r.docker_digest) {
                char gs[IT_DIGEST_STR_MAX];
                digest_format(&got, gs);
                if (strcmp(r.docker_digest, gs)) {
                        _cleanup_free_ char *qd = it_quote(r.docker_digest, QUOTE_MAX);
                        return it_error_set(err, IT_EIO,
                                            "PUT %s: registry says the manifest is %s, not %s", url,
                                            qd, gs);
                }
        }
        if (out)
                *out = got;
        return 0;
}

int registry_blob_get(struct it_registry *c, const char *repo, const char *digest,
                      it_write_fn write_fn, void *ctx, int64_t max, it_error *err)
{
        struct it_digest want;
        int rc = check_args(repo, digest, &want, err);
        if (rc)
                return rc;
        _cleanup_(conn_releasep) struct registry_conn cn = {0};
        rc = conn_for(c, repo, false, &cn, err);
        if (rc)
                return rc;
        _cleanup_free_ char *origin =
            xasprintf("%s://%s/v2/%s/blobs/%s", cn.scheme, cn.host, repo, digest);
        _cleanup_free_ char *url = xstrdup(origin);
        _cleanup_(md_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
        if (!md || !EVP_DigestInit_ex(md, digest_evp(want.alg), NULL))
                abort();
        struct downstream d = {.write = write_fn, .ctx = ctx, .max = max, .md = md};
        _cleanup_(http_resp_free) struct it_http_resp r = IT_HTTP_RESP_INIT;
        /* Redirects by hand: credentials go to the registry's own origin only. */
        for (int hops = 0;; hops++) {
                struct it_http_req q = {.method = "GET",
                                        .url = url,
                                        .sink = down_write,
                                        .sink_ctx = &d,
                                        .max = IT_HTTP_ERROR_BODY_MAX};
                rc = send_req(&cn, &q, same_origin(url, origin), NULL, &d, &r, err);
                it_error_clear(&d.err);
                if (rc)
                        return it_error_wrap(err, "fetching blob %s of %s", digest, repo);
                if (r.status >= 300 && r.status < 400 && r.redirect_url) {
                        if (hops >= MAX_REDIRECTS)
                                return it_error_set(err, IT_EIO, "GET %s: too many redirects",
                                                    origin);
                        if (strncmp(r.redirect_url, "http://", 7) &&
                            strncmp(r.redirect_url, "https://", 8))
                                return it_error_set(err, IT_EIO,
                                                    "GET %s: redirect to a non-HTTP URL", url);
                        free(url);
                        url = xstrdup(r.redirect_url);
                        continue;
                }
                break;
        }
        if (r.status != 200)
                return status_error(&cn, "GET", url, &r, err);
        unsigned char mdv[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        EVP_DigestFinal_ex(md, mdv, &mdlen);
        char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
        for (unsigned i = 0; i < mdlen; i++)
                snprintf(hex + 2 * i, 3, "%02x", mdv[i]);
        if (strcmp(hex, want.hex))
                return it_error_set(err, IT_EIO,
                                    "GET %s: blob content hashes to %s:%s, not the requested %s",
                                    origin, digest_alg_name(want.alg), hex, digest);
        return 0;
}
