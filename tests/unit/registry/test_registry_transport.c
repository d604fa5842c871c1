/* The registry client's transport rules against a fake registry served by a thread of this test
 * on 127.0.0.1: retries of the ping, manifest GET/HEAD and blob requests (429, 5xx, a dropped
 * connection; never another 4xx), one token refresh after a 401 in the middle of a session, both
 * scopes in the token request of a mount, and the restart of a rewindable upload. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/manifest.h"
#include "imgtrust/registry.h"
#include "imgtrust/registry_write.h"
#include "imgtrust/strv.h"
#include "imgtrust/xalloc.h"

#define D_HELLO "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define D_EMPTY_OBJ "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
#define REQ_MAX (64u << 10)
#define BODY_MAX (1u << 20)

/* ---- the fake registry ---- */

struct fake_req {
        char method[16];
        char path[2048];
        char auth[256];
        char accept[1024];
        char range[64];
        char *body;
        size_t body_len;
        bool complete; /* the whole Content-Length arrived */
};

struct fake_resp {
        int status; /* 0: close the connection without answering */
        struct it_buf headers;
        const char *body;
        size_t body_len;
        char *owned; /* a body made for this response (freed after it is sent) */
};

struct fake {
        int lfd;
        int port;
        pthread_t thread;
        atomic_bool stop;
        pthread_mutex_t mu;
        struct it_strv log; /* "METHOD PATH auth=... body=..." per request; under mu */
        /* scenario, set by a test before its requests */
        bool bearer;
        int ping_fail;       /* next pings answered 500 */
        int token_fail;      /* next token requests answered 502 */
        int manifest_fail;   /* next manifest requests answered manifest_status */
        int manifest_status; /* 0: dropped connection */
        int put_fail;        /* next upload PUTs answered put_status */
        int put_status;
        int patch_fail_at;      /* this upload PATCH (1-based, over the test) answers 500 */
        int expire_at_manifest; /* tokens stop working at the next N manifest requests */
        int expire_at_put;      /* ... at the next N upload PUTs */
        bool always_401;        /* manifests refuse every token */
        /* state */
        char accepts[16][1024]; /* Accept of the first manifest requests */
        int naccepts;
        int tokens;
        char valid[32];
        int sessions;
        int patches;
};

static void fake_log(struct fake *f, const struct fake_req *q)
{
        _cleanup_free_ char *body = it_quoten(q->body ? q->body : "", q->body_len, 64);
        pthread_mutex_lock(&f->mu);
        it_strv_pushf(&f->log, "%s %s auth=%s body=%s%s", q->method, q->path,
                      *q->auth ? q->auth : "-", body, q->complete ? "" : " (incomplete)");
        pthread_mutex_unlock(&f->mu);
}

static int respond(struct fake_resp *r, int status, const char *body, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int respond(struct fake_resp *r, int status, const char *body, const char *fmt, ...)
{
        r->status = status;
        r->body = body;
        r->body_len = body ? strlen(body) : 0;
        if (fmt) {
                va_list ap;
                va_start(ap, fmt);
                it_buf_vaddf(&r->headers, fmt, ap);
                va_end(ap);
        }
        return 0;
}

static bool has_prefix(const char *s, const char *p)
{
        return !strncmp(s, p, strlen(p));
}

static int challenge(struct fake *f, struct fake_resp *r)
{
        return respond(
            r, 401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"token\"}]}",
            "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\",service=\"fake\"\r\n",
            f->port);
}

/* Returns 0: its returns pass respond() through. */
static int handle(struct fake *f, const struct fake_req *q, struct fake_resp *r)
{
        const char *p = q->path;
        bool get = !strcmp(q->method, "GET"), head = !strcmp(q->method, "HEAD");
        if (!strcmp(p, "/v2/")) {
                if (f->ping_fail > 0) {
                        f->ping_fail--;
                        return respond(r, 500, NULL, NULL);
                }
                if (f->bearer)
                        return challenge(f, r);
                return respond(r, 200, "{}", NULL);
        }
        if (has_prefix(p, "/token?")) {
                if (f->token_fail > 0) {
                        f->token_fail--;
                        return respond(r, 502, NULL, NULL);
                }
                if (strcmp(q->auth, "Basic Ym9iOnB3")) /* bob:pw */
                        return respond(r, 401, NULL, NULL);
                snprintf(f->valid, sizeof f->valid, "tok-%d", ++f->tokens);
                r->owned = xasprintf("{\"token\":\"%s\"}", f->valid);
                return respond(r, 200, r->owned, "Content-Type: application/json\r\n");
        }
        bool manifest = strstr(p, "/manifests/") != NULL;
        bool upload_put = has_prefix(p, "/upload/") && !strcmp(q->method, "PUT");
        if ((manifest && f->expire_at_manifest > 0) || (upload_put && f->expire_at_put > 0)) {
                if (manifest)
                        f->expire_at_manifest--;
                else
                        f->expire_at_put--;
                f->valid[0] = '\0';
        }
        if (f->bearer) {
                char want[64];
                snprintf(want, sizeof want, "Bearer %s", f->valid);
                if (!*f->valid || strcmp(q->auth, want) || (manifest && f->always_401))
                        return challenge(f, r);
        }
        if (manifest && (get || head)) {
                if (f->naccepts < 16)
                        snprintf(f->accepts[f->naccepts++], sizeof f->accepts[0], "%s", q->accept);
                if (f->manifest_fail > 0) {
                        f->manifest_fail--;
                        return respond(r, f->manifest_status, NULL, NULL);
                }
                if (strstr(p, "/manifests/missing"))
                        return respond(r, 404,
                                       "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":"
                                       "\"manifest unknown\"}]}",
                                       "Content-Type: application/json\r\n");
                if (strstr(p, "/manifests/nodcd"))
                        return respond(
                            r, 200, "{}",
                            "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n");
                if (strstr(p, "/manifests/otherdcd"))
                        return respond(r, 200, "{}", "Docker-Content-Digest: %s\r\n", D_HELLO);
                return respond(r, 200, "{}",
                               "Content-Type: application/vnd.oci.image.manifest.v1+json; "
                               "charset=utf-8\r\nDocker-Content-Digest: %s\r\n",
                               D_EMPTY_OBJ);
        }
        if (strstr(p, "/blobs/uploads/") && !strcmp(q->method, "POST")) {
                if (strstr(p, "mount="))
                        return respond(r, 201, NULL, NULL);
                return respond(r, 202, NULL, "Location: /upload/%d?s=1\r\n", ++f->sessions);
        }
        if (has_prefix(p, "/upload/")) {
                if (!strcmp(q->method, "DELETE"))
                        return respond(r, 204, NULL, NULL);
                if (!q->complete)
                        return respond(r, 400, NULL, NULL);
                if (!strcmp(q->method, "PATCH")) {
                        if (++f->patches == f->patch_fail_at)
                                return respond(r, 500, NULL, NULL);
                        return respond(r, 202, NULL, "Location: /upload/%d?s=2\r\n", f->sessions);
                }
                if (upload_put) {
                        if (f->put_fail > 0) {
                                f->put_fail--;
                                return respond(r, f->put_status, NULL, NULL);
                        }
                        return respond(r, 201, NULL, NULL);
                }
        }
        if (strstr(p, "/blobs/sha256:") && (get || head))
                return respond(r, 200, "hello", "Docker-Content-Digest: %s\r\n", D_HELLO);
        return respond(r, 404, NULL, NULL);
}

static bool read_request(int fd, struct fake_req *q)
{
        char buf[REQ_MAX + 1];
        size_t n = 0;
        char *end = NULL;
        /* TLS (a client trying https first) is not spoken here. */
        unsigned char first;
        if (recv(fd, &first, 1, MSG_PEEK) != 1 || first == 0x16)
                return false;
        while (!end) {
                if (n == REQ_MAX)
                        return false;
                ssize_t k = recv(fd, buf + n, REQ_MAX - n, 0);
                if (k <= 0)
                        return false;
                n += (size_t)k;
                buf[n] = '\0';
                end = strstr(buf, "\r\n\r\n");
        }
        *end = '\0';
        size_t have = n - (size_t)(end + 4 - buf);
        if (sscanf(buf, "%15s %2047s", q->method, q->path) != 2)
                return false;
        size_t clen = 0;
        for (char *line = strstr(buf, "\r\n"); line; line = strstr(line, "\r\n")) {
                line += 2;
                if (!strncasecmp(line, "content-length:", 15))
                        clen = strtoul(line + 15, NULL, 10);
                else if (!strncasecmp(line, "authorization: ", 15))
                        sscanf(line + 15, "%255[^\r]", q->auth);
                else if (!strncasecmp(line, "accept: ", 8))
                        sscanf(line + 8, "%1023[^\r]", q->accept);
                else if (!strncasecmp(line, "content-range: ", 15))
                        sscanf(line + 15, "%63[^\r]", q->range);
        }
        if (clen > BODY_MAX)
                return false;
        q->body = xmalloc(clen + 1);
        memcpy(q->body, end + 4, have < clen ? have : clen);
        q->body_len = have < clen ? have : clen;
        while (q->body_len < clen) {
                ssize_t k = recv(fd, q->body + q->body_len, clen - q->body_len, 0);
                if (k <= 0)
                        break;
                q->body_len += (size_t)k;
        }
        q->body[q->body_len] = '\0';
        q->complete = q->body_len == clen;
        return true;
}

static void write_all(int fd, const void *p, size_t n)
{
        const char *c = p;
        while (n) {
                ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
                if (k <= 0)
                        return;
                c += k;
                n -= (size_t)k;
        }
}

static void serve_one(struct fake *f, int fd)
{
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        struct fake_req q = {0};
        if (!read_request(fd, &q)) {
                free(q.body);
                return;
        }
        fake_log(f, &q);
        struct fake_resp r = {0};
        pthread_mutex_lock(&f->mu);
        handle(f, &q, &r);
        pthread_mutex_unlock(&f->mu);
        if (r.status) {
                _cleanup_free_ char *head =
                    xasprintf("HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
                              r.status, r.body_len, it_buf_str(&r.headers));
                write_all(fd, head, strlen(head));
                if (strcmp(q.method, "HEAD") && r.body_len)
                        write_all(fd, r.body, r.body_len);
        }
        free(r.owned);
        it_buf_free(&r.headers);
        free(q.body);
}

static void *fake_main(void *ud)
{
        struct fake *f = ud;
        while (!atomic_load(&f->stop)) {
                struct pollfd pfd = {.fd = f->lfd, .events = POLLIN};
                if (poll(&pfd, 1, 100) <= 0)
                        continue;
                int fd = accept(f->lfd, NULL, NULL);
                if (fd < 0)
                        continue;
                serve_one(f, fd);
                close(fd);
        }
        return NULL;
}

static struct fake *fake_start(void)
{
        struct fake *f = xcalloc(1, sizeof *f);
        pthread_mutex_init(&f->mu, NULL);
        f->lfd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(f->lfd >= 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof a), 0);
        assert_int_equal(listen(f->lfd, 16), 0);
        socklen_t al = sizeof a;
        assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &al), 0);
        f->port = ntohs(a.sin_port);
        f->manifest_status = 500;
        f->put_status = 500;
        assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
        return f;
}

static void fake_stop(struct fake **fp)
{
        struct fake *f = *fp;
        if (!f)
                return;
        atomic_store(&f->stop, true);
        pthread_join(f->thread, NULL);
        close(f->lfd);
        it_strv_free(&f->log);
        pthread_mutex_destroy(&f->mu);
        free(f);
}
#define _cleanup_fake_ _cleanup_(fake_stop)

/* The log since entry `from`, one request per line. */
static char *fake_log_since(struct fake *f, size_t from)
{
        struct it_buf b = IT_BUF_INIT;
        pthread_mutex_lock(&f->mu);
        for (size_t i = from; i < f->log.n; i++)
                it_buf_addf(&b, "%s\n", f->log.v[i]);
        pthread_mutex_unlock(&f->mu);
        return it_buf_detach(&b);
}

static size_t fake_log_len(struct fake *f)
{
        pthread_mutex_lock(&f->mu);
        size_t n = f->log.n;
        pthread_mutex_unlock(&f->mu);
        return n;
}

static size_t count_prefix(struct fake *f, size_t from, const char *prefix)
{
        size_t n = 0;
        pthread_mutex_lock(&f->mu);
        for (size_t i = from; i < f->log.n; i++)
                n += has_prefix(f->log.v[i], prefix);
        pthread_mutex_unlock(&f->mu);
        return n;
}

/* ---- client helpers ---- */

#define _cleanup_registry_ _cleanup_(registry_freep)
static void registry_freep(struct it_registry **c)
{
        registry_client_free(*c);
}

static struct it_registry *client(struct fake *f, const char *creds)
{
        _cleanup_free_ char *host = xasprintf("127.0.0.1:%d", f->port);
        struct it_registry *c = NULL;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        /* Not verifying: HTTPS is tried, refused, and plain HTTP used, as for a real insecure
         * registry. */
        if (registry_client_new(host, false, creds, &c, &err))
                fail_msg("%s", err.msg);
        registry_client_set_retry(c, 3, 5);
        return c;
}

static void check(int rc, const it_error *err)
{
        if (rc) {
                _cleanup_free_ char *line = it_error_format(err);
                fail_msg("%s", line);
        }
}

static void assert_log(struct fake *f, size_t from, const char *want)
{
        _cleanup_free_ char *got = fake_log_since(f, from);
        if (strcmp(got, want))
                fail_msg("requests differ\n--- want:\n%s--- got:\n%s", want, got);
}

struct src {
        const char *p;
        size_t len, off;
        unsigned rewinds;
};

static int src_read(void *ctx, void *buf, size_t cap, size_t *got, it_error *err)
{
        (void)err;
        struct src *s = ctx;
        size_t n = s->len - s->off < cap ? s->len - s->off : cap;
        memcpy(buf, s->p + s->off, n);
        s->off += n;
        *got = n;
        return 0;
}

static int src_rewind(void *ctx, it_error *err)
{
        (void)err;
        struct src *s = ctx;
        s->off = 0;
        s->rewinds++;
        return 0;
}

static int sink_write(void *ctx, const void *data, size_t len, it_error *err)
{
        (void)err;
        it_buf_add(ctx, data, len);
        return 0;
}

/* ---- tests ---- */

static void test_retry_ping_and_manifest(void **state)
{
        (void)state;
        _cleanup_fake_ struct fake *f = fake_start();
        _cleanup_registry_ struct it_registry *c = client(f, NULL);
        _cleanup_error_ it_error err = IT_ERROR_INIT;

        /* 500, 500, 200 for the ping and then for the manifest GET: three requests each. */
        f->ping_fail = 2;
        f->manifest_fail = 2;
        _cleanup_buf_ struct it_buf body = IT_BUF_INIT;
        _cleanup_free_ char *mt = NULL;
        struct it_digest d;
        check(registry_get_manifest(c, "app", "v1", NULL, &body, &mt, &d, &err), &err);
        assert_string_equal(it_buf_str(&body), "{}");
        assert_string_equal(mt, IT_MT_OCI_MANIFEST);
        assert_int_equal(count_prefix(f, 0, "GET /v2/ "), 3);
        assert_int_equal(count_prefix(f, 0, "GET /v2/app/manifests/v1 "), 3);
        assert_int_equal(registry_client_requests(c), 3); /* the ping is not counted */
        assert_string_equal(registry_client_scheme(c), "http");

        /* A dropped connection is retried like a 5xx. */
        size_t from = fake_log_len(f);
        f->manifest_fail = 1;
        f->manifest_status = 0;
        check(registry_get_manifest(c, "app", "v1", NULL, &body, NULL, &d, &err), &err);
        assert_int_equal(count_prefix(f, from, "GET /v2/app/manifests/v1 "), 2);

        /* 429 too; 404 never; a lasting 503 three times, then its status. */
        from = fake_log_len(f);
        f->manifest_fail = 1;
        f->manifest_status = 429;
        check(registry_get_manifest(c, "app", "v1", NULL, &body, NULL, &d, &err), &err);
        assert_int_equal(count_prefix(f, from, "GET /v2/app/manifests/v1 "), 2);

        from = fake_log_len(f);
        int rc = registry_get_manifest(c, "app", "missing", NULL, &body, NULL, &d, &err);
        assert_int_equal(rc, IT_EIO);
        _cleanup_free_ char *w404 = xasprintf("GET http://127.0.0.1:%d/v2/app/manifests/missing: "
                                              "HTTP 404 Not Found: \"MANIFEST_UNKNOWN\" \"manifest "
                                              "unknown\"",
                                              f->port);
        assert_string_equal(err.msg, w404);
        assert_int_equal(count_prefix(f, from, "GET /v2/app/manifests/missing "), 1);

        from = fake_log_len(f);
        f->manifest_fail = 100;
        f->manifest_status = 503;
        it_error_clear(&err);
        rc = registry_get_manifest(c, "app", "v1", NULL, &body, NULL, &d, &err);
        assert_int_equal(rc, IT_EIO);
        _cleanup_free_ char *w503 = xasprintf("GET http://127.0.0.1:%d/v2/app/manifests/v1: HTTP "
                                              "503 Service Unavailable",
                                              f->port);
        assert_string_equal(err.msg, w503);
        assert_int_equal(count_prefix(f, from, "GET /v2/app/manifests/v1 "), 3);
        f->manifest_fail = 0;

        /* A ping that keeps failing: three tries, then the error names the registry. */
        _cleanup_registry_ struct it_registry *c2 = client(f, NULL);
        from = fake_log_len(f);
        f->ping_fail = 100;
        it_error_clear(&err);
        rc = registry_get_manifest(c2, "app", "v1", NULL, &body, NULL, &d, &err);
        assert_int_equal(rc, IT_EIO);
        assert_int_equal(count_prefix(f, from, "GET /v2/ "), 3);
        _cleanup_free_ char *line = it_error_format(&err);
        _cleanup_free_ char *wping = xasprintf("pinging registry 127.0.0.1:%d: GET https://"
                                               "127.0.0.1:%d/v2/: ",
                                               f->port, f->port);
        if (strncmp(line, wping, strlen(wping)) ||
            !strstr(line, "(plain HTTP: GET http://127.0.0.1:") ||
            !strstr(line, "/v2/: HTTP 500 Internal Server Error)"))
                fail_msg("unexpected: %s", line);
        f->ping_fail = 0;
}

static void test_manifest_head(void **state)
{
        (void)state;
        _cleanup_fake_ struct fake *f = fake_start();
        _cleanup_registry_ struct it_registry *c = client(f, NULL);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        bool exists = false;
        struct it_digest d;
        char ds[IT_DIGEST_STR_MAX];
        _cleanup_free_ char *mt = NULL;
        int64_t size = 0;

        f->manifest_fail = 2;
        check(registry_manifest_head(c, "app", "v1", NULL, &exists, &d, &mt, &size, &err), &err);
        assert_true(exists);
        digest_format(&d, ds);
        assert_string_equal(ds, D_EMPTY_OBJ);
        assert_string_equal(mt, IT_MT_OCI_MANIFEST);
        assert_int_equal(size, 2);
        assert_int_equal(count_prefix(f, 0, "HEAD /v2/app/manifests/v1 "), 3);
        assert_int_equal(count_prefix(f, 0, "GET /v2/app/manifests/"), 0);

        const char *acc[] = {IT_MT_OCI_INDEX, NULL};
        free(mt);
        mt = NULL;
        check(registry_manifest_head(c, "app", D_EMPTY_OBJ, acc, &exists, &d, NULL, NULL, &err),
              &err);
        assert_true(exists);
        digest_format(&d, ds);
        assert_string_equal(ds, D_EMPTY_OBJ);

        /* 404: does not exist, no error. */
        exists = true;
        check(registry_manifest_head(c, "app", "missing", NULL, &exists, &d, &mt, &size, &err),
              &err);
        assert_false(exists);
        assert_null(mt);
        assert_int_equal(size, -1);

        /* A tag without Docker-Content-Digest, a digest the registry contradicts. */
        int rc = registry_manifest_head(c, "app", "nodcd", NULL, &exists, &d, NULL, NULL, &err);
        assert_int_equal(rc, IT_EIO);
        _cleanup_free_ char *w1 = xasprintf("HEAD http://127.0.0.1:%d/v2/app/manifests/nodcd: no "
                                            "usable Docker-Content-Digest in the answer (none)",
                                            f->port);
        assert_string_equal(err.msg, w1);
        it_error_clear(&err);
        rc = registry_manifest_head(c, "app", "otherdcd", NULL, &exists, &d, NULL, NULL, &err);
        assert_int_equal(rc, 0);
        digest_format(&d, ds);
        assert_string_equal(ds, D_HELLO);
        rc = registry_manifest_head(c, "app", D_EMPTY_OBJ "x", NULL, &exists, &d, NULL, NULL, &err);
        assert_int_equal(rc, IT_EINPUT);
        it_error_clear(&err);
        /* A digest reference answered with another digest. */
        f->manifest_fail = 0;
        rc = registry_manifest_head(c, "app",
                                    "sha256:"
                                    "0000000000000000000000000000000000000000000000000000"
                                    "000000000000",
                                    NULL, &exists, &d, NULL, NULL, &err);
        assert_int_equal(rc, IT_EIO);
        assert_non_null(strstr(err.msg, "registry says the manifest is \"" D_EMPTY_OBJ
                                        "\", not the requested sha256:0000"));

        /* The Accept sent: the default list, or the one given. */
        pthread_mutex_lock(&f->mu);
        _cleanup_free_ char *acc_default = xstrdup(f->accepts[0]);
        _cleanup_free_ char *acc_given = xstrdup(f->accepts[3]);
        pthread_mutex_unlock(&f->mu);
        assert_string_equal(acc_default, IT_MT_OCI_MANIFEST
                            ", " IT_MT_OCI_INDEX ", " IT_MT_DOCKER_V2S2 ", " IT_MT_DOCKER_LIST
                            ", " IT_MT_DOCKER_V2S1_SIGNED ", " IT_MT_DOCKER_V2S1);
        assert_string_equal(acc_given, IT_MT_OCI_INDEX);
}

static void test_token_refresh(void **state)
{
        (void)state;
        _cleanup_fake_ struct fake *f = fake_start();
        f->bearer = true;
        _cleanup_registry_ struct it_registry *c = client(f, "bob:pw");
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_buf_ struct it_buf body = IT_BUF_INIT;
        struct it_digest d;

        /* The token request is retried like the others: 502, 502, then the token. */
        f->token_fail = 2;
        check(registry_get_manifest(c, "app", "v1", NULL, &body, NULL, &d, &err), &err);
        assert_int_equal(f->tokens, 1);
        assert_int_equal(count_prefix(f, 0, "GET /token?"), 3);
        /* The token expires: the next GET gets 401, one new token, the GET again. */
        size_t from = fake_log_len(f);
        f->expire_at_manifest = 1;
        check(registry_get_manifest(c, "app", "v1", NULL, &body, NULL, &d, &err), &err);
        assert_int_equal(f->tokens, 2);
        assert_log(f, from,
                   "GET /v2/app/manifests/v1 auth=Bearer tok-1 body=\"\"\n"
                   "GET /token?service=fake&scope=repository%3Aapp%3Apull auth=Basic Ym9iOnB3 "
                   "body=\"\"\n"
                   "GET /v2/app/manifests/v1 auth=Bearer tok-2 body=\"\"\n");
        assert_int_equal(registry_client_requests(c), 3);

        /* A registry that refuses every token: one refresh only, then the error. */
        from = fake_log_len(f);
        f->always_401 = true;
        int rc = registry_get_manifest(c, "app", "v1", NULL, &body, NULL, &d, &err);
        assert_int_equal(rc, IT_EIO);
        _cleanup_free_ char *w = xasprintf("authentication failed for 127.0.0.1:%d (GET http://"
                                           "127.0.0.1:%d/v2/app/manifests/v1: HTTP 401 "
                                           "Unauthorized)",
                                           f->port, f->port);
        assert_string_equal(err.msg, w);
        assert_int_equal(count_prefix(f, from, "GET /token?"), 1);
        assert_int_equal(count_prefix(f, from, "GET /v2/app/manifests/v1 "), 2);
        f->always_401 = false;

        /* The same rule for a blob request (HEAD). */
        from = fake_log_len(f);
        f->expire_at_manifest = 0;
        bool exists = false;
        check(registry_blob_exists(c, "app", D_HELLO, &exists, NULL, &err), &err);
        assert_true(exists);
        /* a mount asks for one token with both scopes */
        from = fake_log_len(f);
        bool mounted = false;
        check(registry_blob_mount(c, "dest/app", D_HELLO, "src/app", &mounted, &err), &err);
        assert_true(mounted);
        _cleanup_free_ char *wm = xasprintf(
            "GET /token?service=fake&scope=repository%%3Adest%%2Fapp%%3Apull%%2Cpush&scope="
            "repository%%3Asrc%%2Fapp%%3Apull auth=Basic Ym9iOnB3 body=\"\"\n"
            "POST /v2/dest/app/blobs/uploads/?mount=%s&from=src/app auth=Bearer tok-%d "
            "body=\"\"\n",
            "sha256%3A2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", f->tokens);
        assert_log(f, from, wm);
}

static void test_streamed_upload_401(void **state)
{
        (void)state;
        _cleanup_fake_ struct fake *f = fake_start();
        f->bearer = true;
        _cleanup_registry_ struct it_registry *c = client(f, "bob:pw");
        _cleanup_error_ it_error err = IT_ERROR_INIT;

        /* Not rewindable: the PUT's 401 ends the upload with a clear message. */
        f->expire_at_put = 1;
        struct src s = {.p = "hello", .len = 5};
        int rc = registry_blob_upload(c, "app", D_HELLO, 5, src_read, &s, &err);
        assert_int_equal(rc, IT_EIO);
        _cleanup_free_ char *line = it_error_format(&err);
        _cleanup_free_ char *w = xasprintf(
            "uploading blob " D_HELLO " to app: PUT http://127.0.0.1:%d/upload/1?s=1&digest=sha256"
            "%%3A2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824: HTTP 401 "
            "Unauthorized: the registry stopped accepting the token in the middle of a streamed "
            "upload (expired?), and this upload cannot be repeated (its source cannot be rewound)",
            f->port);
        assert_string_equal(line, w);
        /* The DELETE of the dead session got the 401 too: it fetched the new token. */
        const char *dq = "digest=sha256%3A2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362"
                         "938b9824";
        const char *tok = "GET /token?service=fake&scope=repository%3Aapp%3Apull%2Cpush "
                          "auth=Basic Ym9iOnB3 body=\"\"\n";
        _cleanup_free_ char *w1 =
            xasprintf("GET /v2/ auth=- body=\"\"\n"
                      "%s"
                      "POST /v2/app/blobs/uploads/ auth=Bearer tok-1 body=\"\"\n"
                      "PUT /upload/1?s=1&%s auth=Bearer tok-1 body=\"hello\"\n"
                      "DELETE /upload/1?s=1 auth=Bearer tok-1 body=\"\"\n"
                      "%s"
                      "DELETE /upload/1?s=1 auth=Bearer tok-2 body=\"\"\n",
                      tok, dq, tok);
        assert_log(f, 0, w1);
        assert_int_equal(s.rewinds, 0);

        /* Rewindable: a new token, a new session, the same bytes. */
        size_t from = fake_log_len(f);
        f->expire_at_put = 1;
        struct src s2 = {.p = "hello", .len = 5};
        check(
            registry_blob_upload_rewindable(c, "app", D_HELLO, 5, src_read, src_rewind, &s2, &err),
            &err);
        assert_int_equal(s2.rewinds, 1);
        assert_int_equal(f->tokens, 3);
        _cleanup_free_ char *w2 =
            xasprintf("POST /v2/app/blobs/uploads/ auth=Bearer tok-2 body=\"\"\n"
                      "PUT /upload/2?s=1&%s auth=Bearer tok-2 body=\"hello\"\n"
                      "DELETE /upload/2?s=1 auth=Bearer tok-2 body=\"\"\n"
                      "%s"
                      "DELETE /upload/2?s=1 auth=Bearer tok-3 body=\"\"\n"
                      "POST /v2/app/blobs/uploads/ auth=Bearer tok-3 body=\"\"\n"
                      "PUT /upload/3?s=1&%s auth=Bearer tok-3 body=\"hello\"\n",
                      dq, tok, dq);
        assert_log(f, from, w2);

        /* Two expiries in one upload: one new token only, then the 401 is final. */
        from = fake_log_len(f);
        f->expire_at_put = 2;
        struct src s3 = {.p = "hello", .len = 5};
        it_error_clear(&err);
        rc = registry_blob_upload_rewindable(c, "app", D_HELLO, 5, src_read, src_rewind, &s3, &err);
        assert_int_equal(rc, IT_EIO);
        assert_int_equal(s3.rewinds, 1);
        assert_int_equal(count_prefix(f, from, "GET /token?"), 1);
        assert_int_equal(count_prefix(f, from, "PUT "), 2);
        assert_non_null(strstr(err.msg, "authentication "));
        assert_non_null(strstr(err.msg, ": HTTP 401 Unauthorized)"));
        f->expire_at_put = 0;
}

static void test_rewind_upload(void **state)
{
        (void)state;
        _cleanup_fake_ struct fake *f = fake_start();
        _cleanup_registry_ struct it_registry *c = client(f, NULL);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        const char *dq = "digest=sha256%3A2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362"
                         "938b9824";
        bool exists;
        check(registry_blob_exists(c, "app", D_HELLO, &exists, NULL, &err), &err);

        /* A 500 on the PUT: the session is dropped and a second one completes. */
        size_t from = fake_log_len(f);
        f->put_fail = 1;
        struct src s = {.p = "hello", .len = 5};
        check(registry_blob_upload_rewindable(c, "app", D_HELLO, 5, src_read, src_rewind, &s, &err),
              &err);
        assert_int_equal(s.rewinds, 1);
        _cleanup_free_ char *w1 = xasprintf("POST /v2/app/blobs/uploads/ auth=- body=\"\"\n"
                                            "PUT /upload/1?s=1&%s auth=- body=\"hello\"\n"
                                            "DELETE /upload/1?s=1 auth=- body=\"\"\n"
                                            "POST /v2/app/blobs/uploads/ auth=- body=\"\"\n"
                                            "PUT /upload/2?s=1&%s auth=- body=\"hello\"\n",
                                            dq, dq);
        assert_log(f, from, w1);

        /* Without a rewind callback the same failure ends the upload. */
        from = fake_log_len(f);
        f->put_fail = 1;
        struct src s2 = {.p = "hello", .len = 5};
        int rc = registry_blob_upload(c, "app", D_HELLO, 5, src_read, &s2, &err);
        assert_int_equal(rc, IT_EIO);
        _cleanup_free_ char *line = it_error_format(&err);
        _cleanup_free_ char *wl = xasprintf("uploading blob " D_HELLO " to app: PUT http://"
                                            "127.0.0.1:%d/upload/3?s=1&%s: HTTP 500 Internal "
                                            "Server Error",
                                            f->port, dq);
        assert_string_equal(line, wl);
        assert_int_equal(count_prefix(f, from, "POST "), 1);
        assert_int_equal(count_prefix(f, from, "PUT "), 1);
        assert_int_equal(count_prefix(f, from, "DELETE "), 1);

        /* Chunks of 2 bytes, the second PATCH answered 500: a whole new session. */
        registry_client_set_upload_chunk(c, 2);
        from = fake_log_len(f);
        f->patches = 0;
        f->patch_fail_at = 2;
        struct src s3 = {.p = "hello", .len = 5};
        check(
            registry_blob_upload_rewindable(c, "app", D_HELLO, 5, src_read, src_rewind, &s3, &err),
            &err);
        assert_int_equal(s3.rewinds, 1);
        _cleanup_free_ char *w3 = xasprintf("POST /v2/app/blobs/uploads/ auth=- body=\"\"\n"
                                            "PATCH /upload/4?s=1 auth=- body=\"he\"\n"
                                            "PATCH /upload/4?s=2 auth=- body=\"ll\"\n"
                                            "DELETE /upload/4?s=2 auth=- body=\"\"\n"
                                            "POST /v2/app/blobs/uploads/ auth=- body=\"\"\n"
                                            "PATCH /upload/5?s=1 auth=- body=\"he\"\n"
                                            "PATCH /upload/5?s=2 auth=- body=\"ll\"\n"
                                            "PATCH /upload/5?s=2 auth=- body=\"o\"\n"
                                            "PUT /upload/5?s=2&%s auth=- body=\"\"\n",
                                            dq);
        assert_log(f, from, w3);
        registry_client_set_upload_chunk(c, 1 << 20);

        /* A dropped connection on the PUT counts the same. */
        from = fake_log_len(f);
        f->put_fail = 1;
        f->put_status = 0;
        struct src s4 = {.p = "hello", .len = 5};
        check(
            registry_blob_upload_rewindable(c, "app", D_HELLO, 5, src_read, src_rewind, &s4, &err),
            &err);
        assert_int_equal(s4.rewinds, 1);
        assert_int_equal(count_prefix(f, from, "POST "), 2);
        assert_int_equal(count_prefix(f, from, "PUT "), 2);

        /* The budget: three sessions, then the last error. */
        from = fake_log_len(f);
        f->put_fail = 100;
        f->put_status = 503;
        struct src s5 = {.p = "hello", .len = 5};
        it_error_clear(&err);
        rc = registry_blob_upload_rewindable(c, "app", D_HELLO, 5, src_read, src_rewind, &s5, &err);
        assert_int_equal(rc, IT_EIO);
        assert_non_null(strstr(err.msg, ": HTTP 503 Service Unavailable"));
        assert_int_equal(s5.rewinds, 2);
        assert_int_equal(count_prefix(f, from, "POST "), 3);
        assert_int_equal(count_prefix(f, from, "PUT "), 3);
        f->put_fail = 0;

        /* 4xx other than 401: never restarted. */
        from = fake_log_len(f);
        f->put_fail = 1;
        f->put_status = 400;
        struct src s6 = {.p = "hello", .len = 5};
        rc = registry_blob_upload_rewindable(c, "app", D_HELLO, 5, src_read, src_rewind, &s6, &err);
        assert_int_equal(rc, IT_EIO);
        assert_int_equal(s6.rewinds, 0);
        assert_int_equal(count_prefix(f, from, "PUT "), 1);

        /* Wrong bytes: refused before the last byte, not restarted. */
        from = fake_log_len(f);
        struct src bad = {.p = "hellp", .len = 5};
        it_error_clear(&err);
        rc =
            registry_blob_upload_rewindable(c, "app", D_HELLO, 5, src_read, src_rewind, &bad, &err);
        assert_int_equal(rc, IT_EINPUT);
        assert_string_equal(err.msg, "blob for app/" D_HELLO " does not match: its bytes do not "
                                     "hash to it or are not 5 bytes; upload cancelled");
        assert_int_equal(bad.rewinds, 0);
        assert_int_equal(count_prefix(f, from, "POST "), 1);

        /* The blob GET still works on the same client (and is retried before any byte). */
        _cleanup_buf_ struct it_buf got = IT_BUF_INIT;
        check(registry_blob_get(c, "app", D_HELLO, sink_write, &got, 100, &err), &err);
        assert_string_equal(it_buf_str(&got), "hello");
}

static void test_client_opts(void **state)
{
        (void)state;
        struct it_registry *c = NULL;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_registry_opts o = {.tls_verify = true, .client_key = "/k.pem"};
        assert_int_equal(registry_client_new_opts("r.example", &o, &c, &err), IT_EINPUT);
        assert_null(c);
        assert_string_equal(err.msg, "registry r.example: a TLS client key /k.pem without a client "
                                     "certificate");
        const char *cas[] = {"", NULL};
        struct it_registry_opts o2 = {.tls_verify = true, .ca_files = cas};
        assert_int_equal(registry_client_new_opts("r.example", &o2, &c, &err), IT_EINPUT);
        assert_string_equal(err.msg, "registry r.example: empty CA certificate file name");
        struct it_registry_opts o3 = {.creds = "nocolon"};
        assert_int_equal(registry_client_new_opts("r.example", &o3, &c, &err), IT_EINPUT);
        assert_string_equal(err.msg, "credentials must be USER:PASSWORD");

        /* A CA file that is missing or holds no certificate fails the first request, naming
         * it; the options were copied (the caller's arrays may go). */
        char tmpl[] = "/tmp/it-transport.XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        _cleanup_free_ char *junk = xasprintf("%s/junk.pem", tmpl);
        FILE *fp = fopen(junk, "w");
        assert_non_null(fp);
        fputs("not a certificate\n", fp);
        fclose(fp);
        _cleanup_free_ char *missing = xasprintf("%s/missing.pem", tmpl);
        for (int i = 0; i < 2; i++) {
                char *files[] = {xstrdup(i ? junk : missing), NULL};
                struct it_registry_opts o4 = {.tls_verify = true,
                                              .ca_files = (const char *const *)files};
                it_error_clear(&err);
                assert_int_equal(registry_client_new_opts("127.0.0.1:1", &o4, &c, &err), 0);
                free(files[0]);
                _cleanup_buf_ struct it_buf body = IT_BUF_INIT;
                struct it_digest d;
                int rc = registry_get_manifest(c, "app", "v1", NULL, &body, NULL, &d, &err);
                registry_client_free(c);
                c = NULL;
                _cleanup_free_ char *line = it_error_format(&err);
                _cleanup_free_ char *w =
                    i ? xasprintf("pinging registry 127.0.0.1:1: GET https://127.0.0.1:1/v2/: CA "
                                  "certificate file %s: no PEM certificate in it",
                                  junk)
                      : xasprintf("pinging registry 127.0.0.1:1: GET https://127.0.0.1:1/v2/: CA "
                                  "certificate file: ");
                assert_int_equal(rc, i ? IT_EINPUT : IT_EIO);
                if (strncmp(line, w, strlen(w)) || (!i && !strstr(line, missing)))
                        fail_msg("got %s", line);
        }
        unlink(junk);
        rmdir(tmpl);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_retry_ping_and_manifest),
            cmocka_unit_test(test_manifest_head),
            cmocka_unit_test(test_token_refresh),
            cmocka_unit_test(test_streamed_upload_401),
            cmocka_unit_test(test_rewind_upload),
            cmocka_unit_test(test_client_opts),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
