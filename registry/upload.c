/* Blob and manifest writes and streamed blob reads over the client's libcurl handle: one request
 * function with bounded retries, used by HEAD, POST, PATCH, PUT, DELETE and GET. */
#include "imgtrust/registry_write.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/manifest.h"
#include "imgtrust/xalloc.h"

#define QUOTE_MAX 200
#define MAX_REDIRECTS 10
#define OCTET "Content-Type: application/octet-stream"

/* The streamed body of a PUT/PATCH: `len` bytes from read_fn, hashed into md. At `total` bytes
 * in all (the whole blob) the digest is checked before the last byte leaves. */
struct upstream {
        it_read_fn read;
        void *ctx;
        int64_t len;  /* bytes of this request */
        int64_t sent; /* of this request */
        int64_t *done;
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

struct req {
        const char *method;
        const char *url;
        const char *const *headers;
        bool auth;        /* send the credentials */
        const void *data; /* in-memory body */
        size_t len;
        struct upstream *up;     /* or a streamed body */
        struct downstream *down; /* 2xx body goes here, else to resp.body */
};

struct resp {
        long status;
        struct it_buf body;
        char *location;
        char *dcd; /* Docker-Content-Digest */
        int64_t clen;
        char *redirect; /* absolute, from libcurl */
};

static void resp_free(struct resp *r)
{
        it_buf_free(&r->body);
        free(r->location);
        free(r->dcd);
        free(r->redirect);
        memset(r, 0, sizeof *r);
        r->clen = -1;
}

struct xfer {
        struct resp *r;
        struct downstream *down;
        CURL *h;
};

static char *hvalue(const char *p, size_t n)
{
        while (n && (*p == ' ' || *p == '\t')) {
                p++;
                n--;
        }
        while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' ' || p[n - 1] == '\t'))
                n--;
        return xstrndup(p, n);
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
        struct xfer *x = ud;
        size_t n = size * nmemb;
        if (n >= 5 && !strncmp(p, "HTTP/", 5)) {
                free(x->r->location);
                free(x->r->dcd);
                x->r->location = x->r->dcd = NULL;
                x->r->clen = -1;
                return n;
        }
        static const char loc[] = "location:", dcd[] = "docker-content-digest:",
                          cl[] = "content-length:";
        if (n > sizeof loc - 1 && !strncasecmp(p, loc, sizeof loc - 1)) {
                free(x->r->location);
                x->r->location = hvalue(p + sizeof loc - 1, n - (sizeof loc - 1));
        } else if (n > sizeof dcd - 1 && !strncasecmp(p, dcd, sizeof dcd - 1)) {
                free(x->r->dcd);
                x->r->dcd = hvalue(p + sizeof dcd - 1, n - (sizeof dcd - 1));
        } else if (n > sizeof cl - 1 && !strncasecmp(p, cl, sizeof cl - 1)) {
                _cleanup_free_ char *v = hvalue(p + sizeof cl - 1, n - (sizeof cl - 1));
                char *end;
                long long l = strtoll(v, &end, 10);
                x->r->clen = (*v && !*end && l >= 0) ? l : -1;
        }
        return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
        struct xfer *x = ud;
        size_t n = size * nmemb;
        long st = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &st);
        struct downstream *d = x->down;
        if (d && st >= 200 && st < 300) {
                if (d->got + (int64_t)n > d->max) {
                        d->too_large = true;
                        return 0;
                }
                EVP_DigestUpdate(d->md, p, n);
                if (d->write(d->ctx, p, n, &d->err)) {
                        d->failed = true;
                        return 0;
                }
                d->got += (int64_t)n;
                return n;
        }
        if (x->r->body.len + n > IT_HTTP_ERROR_BODY_MAX)
                return n; /* an error body is read for its first code only */
        it_buf_add(&x->r->body, p, n);
        return n;
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

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
        struct upstream *u = ud;
        size_t cap = size * nmemb;
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
                        return CURL_READFUNC_ABORT;
                }
                if (got == 0 || got > want) {
                        u->mismatch = true; /* shorter than the size we were told */
                        return CURL_READFUNC_ABORT;
                }
                EVP_DigestUpdate(u->md, u->held, got);
                u->held_len = got;
                u->held_off = 0;
                if (*u->done + u->sent + (int64_t)got == u->total && !last_byte_check(u)) {
                        u->mismatch = true;
                        return CURL_READFUNC_ABORT;
                }
        }
        size_t n = u->held_len - u->held_off;
        if (n > cap)
                n = cap;
        memcpy(buf, u->held + u->held_off, n);
        u->held_off += n;
        u->sent += (int64_t)n;
        return n;
}

static void curl_slist_freep(struct curl_slist **l)
{
        curl_slist_free_all(*l);
}

static char *noproxy_list(void)
{
        const char *env = getenv("no_proxy");
        if (!env || !*env)
                env = getenv("NO_PROXY");
        if (env && !strcmp(env, "*"))
                return xstrdup("*");
        return xasprintf("%s%slocalhost,127.0.0.1,::1", env && *env ? env : "",
                         env && *env ? "," : "");
}

static bool transient_curl(CURLcode cc)
{
        switch (cc) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_PARTIAL_FILE:
                return true;
        default:
                return false;
        }
}

/* One attempt. rc < 0 is a transport failure (*transient says whether to retry). */
static int perform(struct registry_conn *cn, const struct req *q, struct resp *r, bool *transient,
                   it_error *err)
{
        CURL *h = cn->curl;
        curl_easy_reset(h);
        resp_free(r);
        *transient = false;
        _cleanup_(curl_slist_freep) struct curl_slist *hdrs = NULL;
        for (const char *const *p = q->headers; p && *p; p++)
                hdrs = curl_slist_append(hdrs, *p);
        if (q->auth && cn->auth_hdr)
                hdrs = curl_slist_append(hdrs, cn->auth_hdr);
        /* libcurl would wait a second for 100 Continue on every PATCH/PUT. */
        hdrs = curl_slist_append(hdrs, "Expect:");
        _cleanup_free_ char *noproxy = noproxy_list();
        char errbuf[CURL_ERROR_SIZE] = "";
        struct xfer x = {.r = r, .down = q->down, .h = h};

        curl_easy_setopt(h, CURLOPT_URL, q->url);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)IT_HTTP_CONNECT_TIMEOUT);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)IT_HTTP_LOW_SPEED_TIME);
        curl_easy_setopt(h, CURLOPT_NOPROXY, noproxy);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "imgtrust");
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, cn->tls_verify ? 1L : 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, cn->tls_verify ? 2L : 0L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        if (q->auth && cn->userpwd) {
                curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
                curl_easy_setopt(h, CURLOPT_USERPWD, cn->userpwd);
        }
        if (!strcmp(q->method, "HEAD")) {
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        } else if (!strcmp(q->method, "GET")) {
                curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        } else if (q->up) {
                curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
                curl_easy_setopt(h, CURLOPT_READDATA, q->up);
                curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->up->len);
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
        } else {
                curl_easy_setopt(h, CURLOPT_POST, 1L);
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->data ? q->data : "");
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->len);
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
        }
        (*cn->requests)++;
        CURLcode cc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
        char *redir = NULL;
        if (curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &redir) == CURLE_OK && redir)
                r->redirect = xstrdup(redir);
        curl_easy_reset(h);
        if (cc == CURLE_OK)
                return 0;
        if (q->up && q->up->failed) {
                it_error_move(err, &q->up->err);
                return err->code;
        }
        if (q->up && q->up->mismatch)
                return IT_EINPUT; /* the caller words it */
        if (q->down && q->down->failed) {
                it_error_move(err, &q->down->err);
                return err->code;
        }
        if (q->down && q->down->too_large)
                return it_error_set(err, IT_EIO, "GET %s: blob larger than %lld bytes", q->url,
                                    (long long)q->down->max);
        *transient = transient_curl(cc);
        for (char *c = errbuf; *c; c++)
                if ((unsigned char)*c < 0x20)
                        *c = ' ';
        return it_error_set(err, IT_EIO, "%s %s: %s", q->method, q->url,
                            *errbuf ? errbuf : curl_easy_strerror(cc));
}

static void sleep_ms(long ms)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) == -1)
                ;
}

/* perform() with the retry rule of registry_write.h. */
static int request(struct registry_conn *cn, const struct req *q, struct resp *r, it_error *err)
{
        long wait = cn->base_ms;
        for (int i = 1;; i++) {
                bool transient = false;
                _cleanup_error_ it_error e = IT_ERROR_INIT;
                int rc = perform(cn, q, r, &transient, &e);
                bool again = rc ? transient : (r->status == 429 || r->status >= 500);
                /* A consumed stream cannot be replayed; a download already handed out bytes. */
                if (q->up || (q->down && q->down->got > 0))
                        again = false;
                if (!again || i >= cn->tries) {
                        it_error_move(err, &e);
                        return rc;
                }
                sleep_ms(wait);
                wait *= 4;
        }
}

static int status_error(const char *method, const char *url, const struct resp *r, it_error *err)
{
        struct it_http_resp hr = {.status = r->status, .body = r->body};
        _cleanup_error_ it_error e = IT_ERROR_INIT;
        http_status_error(url, &hr, &e);
        /* http_status_error words it as a GET. */
        const char *m = e.msg && !strncmp(e.msg, "GET ", 4) ? e.msg + 4 : (e.msg ? e.msg : url);
        if (r->status == 401)
                return it_error_set(err, IT_EIO, "%s %s (check the credentials)", method, m);
        return it_error_set(err, IT_EIO, "%s %s", method, m);
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
        struct req q = {.method = "HEAD", .url = url, .auth = true};
        struct resp r = {.clen = -1};
        rc = request(&cn, &q, &r, err);
        if (!rc) {
                if (r.status == 200) {
                        *exists = true;
                        if (size)
                                *size = r.clen;
                } else if (r.status != 404) {
                        rc = status_error("HEAD", url, &r, err);
                }
        }
        resp_free(&r);
        return rc;
}

static void cancel_session(struct registry_conn *cn, const char *url)
{
        struct req q = {.method = "DELETE", .url = url, .auth = true};
        struct resp r = {.clen = -1};
        _cleanup_error_ it_error ignored = IT_ERROR_INIT;
        request(cn, &q, &r, &ignored);
        resp_free(&r);
}

/* POST to open a session (or mount); *status and the resolved Location in *loc. */
static int start_session(struct registry_conn *cn, const char *url, long *status, char **loc,
                         it_error *err)
{
        struct req q = {.method = "POST", .url = url, .auth = true};
        struct resp r = {.clen = -1};
        *loc = NULL;
        int rc = request(cn, &q, &r, err);
        if (rc) {
                resp_free(&r);
                return rc;
        }
        *status = r.status;
        if (r.status != 201 && r.status != 202) {
                rc = status_error("POST", url, &r, err);
                resp_free(&r);
                return rc;
        }
        if (r.status == 202) {
                _cleanup_free_ char *b = base_url(cn);
                *loc = r.location ? resolve(b, r.location) : NULL;
                if (!*loc) {
                        resp_free(&r);
                        return it_error_set(err, IT_EIO, "POST %s: 202 without a usable Location",
                                            url);
                }
        }
        resp_free(&r);
        return 0;
}

static void md_freep(EVP_MD_CTX **m)
{
        EVP_MD_CTX_free(*m);
}

static const EVP_MD *evp_of(enum it_digest_alg a)
{
        return a == IT_DIGEST_SHA512   ? EVP_sha512()
               : a == IT_DIGEST_SHA384 ? EVP_sha384()
                                       : EVP_sha256();
}

int registry_blob_upload(struct it_registry *c, const char *repo, const char *digest, int64_t size,
                         it_read_fn read_fn, void *ctx, it_error *err)
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
        _cleanup_free_ char *post =
            xasprintf("%s://%s/v2/%s/blobs/uploads/", cn.scheme, cn.host, repo);
        long st = 0;
        _cleanup_free_ char *loc = NULL;
        rc = start_session(&cn, post, &st, &loc, err);
        if (rc)
                return it_error_wrap(err, "uploading blob %s to %s", digest, repo);
        if (st != 202)
                return it_error_set(err, IT_EIO, "POST %s: HTTP %ld, expected 202", post, st);

        _cleanup_(md_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
        if (!md || !EVP_DigestInit_ex(md, evp_of(want.alg), NULL))
                abort();
        _cleanup_free_ unsigned char *held = xmalloc(CURL_MAX_READ_SIZE);
        int64_t done = 0;
        bool chunked = size > cn.chunk;
        struct upstream u = {.read = read_fn,
                             .ctx = ctx,
                             .done = &done,
                             .total = size,
                             .md = md,
                             .want = &want,
                             .held = held,
                             .held_cap = CURL_MAX_READ_SIZE};
        _cleanup_free_ char *url = NULL;
        struct resp r = {.clen = -1};
        /* Chunked: PATCH pieces to each new Location, then PUT ?digest= without a body. */
        while (chunked && done < size) {
                int64_t n = size - done < cn.chunk ? size - done : cn.chunk;
                _cleanup_free_ char *range = xasprintf("Content-Range: %lld-%lld", (long long)done,
                                                       (long long)(done + n - 1));
                const char *hdrs[] = {OCTET, range, NULL};
                u.len = n;
                u.sent = 0;
                u.held_len = u.held_off = 0;
                struct req q = {
                    .method = "PATCH", .url = loc, .headers = hdrs, .auth = true, .up = &u};
                rc = request(&cn, &q, &r, err);
                if (rc)
                        goto fail;
                if (r.status != 202) {
                        rc = status_error("PATCH", loc, &r, err);
                        goto fail;
                }
                done += n;
                if (r.location) {
                        _cleanup_free_ char *b = base_url(&cn);
                        char *nl = resolve(b, r.location);
                        if (nl) {
                                free(loc);
                                loc = nl;
                        }
                }
                resp_free(&r);
        }
        {
                _cleanup_free_ char *dp = digest_param(&want);
                url = with_query(loc, dp);
                const char *hdrs[] = {OCTET, NULL};
                u.len = chunked ? 0 : size;
                u.sent = 0;
                u.held_len = u.held_off = 0;
                struct req q = {.method = "PUT",
                                .url = url,
                                .headers = hdrs,
                                .auth = true,
                                .up = chunked ? NULL : &u};
                if (!chunked && size == 0 && !last_byte_check(&u)) {
                        u.mismatch = true;
                        rc = IT_EINPUT;
                        goto fail;
                }
                rc = request(&cn, &q, &r, err);
                if (rc)
                        goto fail;
                if (r.status != 201) {
                        rc = status_error("PUT", url, &r, err);
                        goto fail;
                }
        }
        resp_free(&r);
        return 0;
fail:
        resp_free(&r);
        cancel_session(&cn, loc);
        if (u.mismatch) {
                it_error_clear(err);
                return it_error_set(err, IT_EINPUT,
                                    "blob for %s/%s does not match: its bytes do not hash to it "
                                    "or are not %lld bytes; upload cancelled",
                                    repo, digest, (long long)size);
        }
        return it_error_wrap(err, "uploading blob %s to %s", digest, repo);
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
        _cleanup_(conn_releasep) struct registry_conn cn = {0};
        rc = conn_for(c, repo, true, &cn, err);
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
        struct req q = {
            .method = "PUT", .url = url, .headers = hdrs, .auth = true, .data = bytes, .len = len};
        struct resp r = {.clen = -1};
        rc = request(&cn, &q, &r, err);
        if (!rc && r.status != 201 && r.status != 200)
                rc = status_error("PUT", url, &r, err);
        if (!rc && r.dcd) {
                char gs[IT_DIGEST_STR_MAX];
                digest_format(&got, gs);
                if (strcmp(r.dcd, gs)) {
                        _cleanup_free_ char *qd = it_quote(r.dcd, QUOTE_MAX);
                        rc = it_error_set(err, IT_EIO,
                                          "PUT %s: registry says the manifest is %s, not %s", url,
                                          qd, gs);
                }
        }
        resp_free(&r);
        if (!rc && out)
                *out = got;
        return rc;
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
        if (!md || !EVP_DigestInit_ex(md, evp_of(want.alg), NULL))
                abort();
        struct downstream d = {.write = write_fn, .ctx = ctx, .max = max, .md = md};
        struct resp r = {.clen = -1};
        for (int hops = 0;; hops++) {
                struct req q = {
                    .method = "GET", .url = url, .auth = same_origin(url, origin), .down = &d};
                rc = request(&cn, &q, &r, err);
                if (rc) {
                        resp_free(&r);
                        return it_error_wrap(err, "fetching blob %s of %s", digest, repo);
                }
                if (r.status >= 300 && r.status < 400 && r.redirect) {
                        if (hops >= MAX_REDIRECTS) {
                                resp_free(&r);
                                return it_error_set(err, IT_EIO, "GET %s: too many redirects",
                                                    origin);
                        }
                        if (strncmp(r.redirect, "http://", 7) &&
                            strncmp(r.redirect, "https://", 8)) {
                                resp_free(&r);
                                return it_error_set(err, IT_EIO,
                                                    "GET %s: redirect to a non-HTTP URL", url);
                        }
                        free(url);
                        url = xstrdup(r.redirect);
                        continue;
                }
                break;
        }
        if (r.status != 200) {
                rc = status_error("GET", url, &r, err);
                resp_free(&r);
                return rc;
        }
        resp_free(&r);
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
