/* The registry write side and streamed blob reads against real services. Skipped unless
 * tests/cli/upload.bats runs it with them (tests/lib/services.bash):
 *   IT_LIVE_REGISTRY=127.0.0.1:PORT [IT_LIVE_CREDS=USER:PASS]  Debian's docker-registry
 *   IT_LIVE_OUT          a directory: the pushed manifest is written to OUT/manifest.json
 *   IT_LIVE_FAKE=127.0.0.1:PORT  the python fake registry of upload.bats (Basic auth wanted) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/fs.h"
#include "imgtrust/registry.h"
#include "imgtrust/registry_write.h"
#include "imgtrust/xalloc.h"

#define MiB (1 << 20)

static const char *env_or_skip(const char *name)
{
        const char *v = getenv(name);
        if (!v || !*v) {
                print_message("%s not set: skipped (run through tests/cli/upload.bats)\n", name);
                skip();
        }
        return v;
}

static const char *env_opt(const char *name)
{
        const char *v = getenv(name);
        return v && *v ? v : NULL;
}

#define _cleanup_registry_ _cleanup_(registry_freep)
static void registry_freep(struct it_registry **c)
{
        registry_client_free(*c);
}

static struct it_registry *client(const char *host, const char *creds)
{
        struct it_registry *c = NULL;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (registry_client_new(host, false, creds, &c, &err))
                fail_msg("%s", err.msg);
        registry_client_set_retry(c, 3, 10);
        return c;
}

/* Pseudo-random bytes (xorshift), so every run uploads blobs the registry has not seen. */
static unsigned char *random_blob(size_t n, uint64_t seed)
{
        unsigned char *p = xmalloc(n);
        uint64_t x = seed ^ 0x9e3779b97f4a7c15ull;
        for (size_t i = 0; i < n; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                p[i] = (unsigned char)(x >> 24);
        }
        return p;
}

struct src {
        const unsigned char *p;
        size_t len, off;
        size_t max_read; /* largest read seen: the blob is never asked for whole */
};

static int src_read(void *ctx, void *buf, size_t cap, size_t *got, it_error *err)
{
        (void)err;
        struct src *s = ctx;
        size_t n = s->len - s->off < cap ? s->len - s->off : cap;
        memcpy(buf, s->p + s->off, n);
        s->off += n;
        *got = n;
        if (n > s->max_read)
                s->max_read = n;
        return 0;
}

static int sink_write(void *ctx, const void *data, size_t len, it_error *err)
{
        (void)err;
        it_buf_add(ctx, data, len);
        return 0;
}

static void dstr(const void *p, size_t n, char out[IT_DIGEST_STR_MAX])
{
        struct it_digest d;
        digest_compute(IT_DIGEST_SHA256, p, n, &d);
        digest_format(&d, out);
}

static void check(int rc, const it_error *err)
{
        if (rc) {
                _cleanup_free_ char *line = it_error_format(err);
                fail_msg("%s", line);
        }
}

static void exists(struct it_registry *c, const char *repo, const char *d, bool want,
                   int64_t want_size)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        bool e = !want;
        int64_t sz = 0;
        check(registry_blob_exists(c, repo, d, &e, &sz, &err), &err);
        assert_int_equal(e, want);
        assert_int_equal(sz, want ? want_size : -1);
}

static void upload(struct it_registry *c, const char *repo, const unsigned char *p, size_t n,
                   char d[IT_DIGEST_STR_MAX])
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        dstr(p, n, d);
        struct src s = {.p = p, .len = n};
        check(registry_blob_upload(c, repo, d, (int64_t)n, src_read, &s, &err), &err);
        assert_int_equal(s.off, n);
        assert_true(s.max_read <= 512u << 10); /* libcurl's largest read */
}

static void get_back(struct it_registry *c, const char *repo, const char *d, const unsigned char *p,
                     size_t n)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_buf_ struct it_buf got = IT_BUF_INIT;
        check(registry_blob_get(c, repo, d, sink_write, &got, (int64_t)n, &err), &err);
        assert_int_equal(got.len, n);
        assert_memory_equal(got.data, p, n);
        /* One byte less than the blob: refused. */
        it_buf_reset(&got);
        int rc = registry_blob_get(c, repo, d, sink_write, &got, (int64_t)n - 1, &err);
        assert_int_equal(rc, IT_EIO);
        assert_non_null(strstr(err.msg, "blob larger than"));
}

static void test_registry(void **state)
{
        (void)state;
        const char *host = env_or_skip("IT_LIVE_REGISTRY");
        const char *out = env_or_skip("IT_LIVE_OUT");
        const char *creds = env_opt("IT_LIVE_CREDS");
        _cleanup_registry_ struct it_registry *c = client(host, creds);
        uint64_t seed = (uint64_t)time(NULL);
        _cleanup_error_ it_error err = IT_ERROR_INIT;

        /* 1 MiB monolithic: POST + PUT. */
        _cleanup_free_ unsigned char *small = random_blob(MiB, seed);
        char ds[IT_DIGEST_STR_MAX];
        dstr(small, MiB, ds);
        exists(c, "up/one", ds, false, 0);
        unsigned n0 = registry_client_requests(c);
        upload(c, "up/one", small, MiB, ds);
        assert_int_equal(registry_client_requests(c) - n0, 2);
        exists(c, "up/one", ds, true, MiB);
        get_back(c, "up/one", ds, small, MiB);

        /* 5 MiB with 1 MiB chunks: POST, 5 PATCH, PUT. */
        registry_client_set_upload_chunk(c, MiB);
        _cleanup_free_ unsigned char *big = random_blob(5 * MiB + 17, seed + 1);
        char db[IT_DIGEST_STR_MAX];
        dstr(big, 5 * MiB + 17, db);
        exists(c, "up/one", db, false, 0);
        n0 = registry_client_requests(c);
        upload(c, "up/one", big, 5 * MiB + 17, db);
        assert_int_equal(registry_client_requests(c) - n0, 1 + 6 + 1);
        exists(c, "up/one", db, true, 5 * MiB + 17);
        get_back(c, "up/one", db, big, 5 * MiB + 17);

        /* Wrong digest, both paths: refused before the last byte, session deleted, no blob. */
        for (int chunked = 0; chunked < 2; chunked++) {
                registry_client_set_upload_chunk(c, chunked ? 256 << 10 : 32 * MiB);
                _cleanup_free_ unsigned char *other = random_blob(MiB, seed + 2 + chunked);
                char dother[IT_DIGEST_STR_MAX];
                dstr(other, MiB, dother);
                other[MiB - 1] ^= 1;
                struct src s = {.p = other, .len = MiB};
                it_error_clear(&err);
                int rc = registry_blob_upload(c, "up/one", dother, MiB, src_read, &s, &err);
                assert_int_equal(rc, IT_EINPUT);
                _cleanup_free_ char *line = it_error_format(&err);
                _cleanup_free_ char *want = xasprintf(
                    "blob for up/one/%s does not match: its bytes do not hash to it or are not "
                    "1048576 bytes; upload cancelled",
                    dother);
                assert_string_equal(line, want);
                exists(c, "up/one", dother, false, 0);
                /* Shorter than announced. */
                other[MiB - 1] ^= 1;
                struct src s2 = {.p = other, .len = MiB - 5};
                it_error_clear(&err);
                rc = registry_blob_upload(c, "up/one", dother, MiB, src_read, &s2, &err);
                assert_int_equal(rc, IT_EINPUT);
                exists(c, "up/one", dother, false, 0);
        }
        registry_client_set_upload_chunk(c, 32 * MiB);

        /* Mount: from a repository holding the blob (201), and from one lacking it (202). */
        bool mounted = false;
        check(registry_blob_mount(c, "up/two", ds, "up/one", &mounted, &err), &err);
        assert_true(mounted);
        exists(c, "up/two", ds, true, MiB);
        mounted = true;
        check(registry_blob_mount(c, "up/three", db, "up/nothing", &mounted, &err), &err);
        assert_false(mounted);
        exists(c, "up/three", db, false, 0);

        /* A manifest referencing a config and the 1 MiB layer, pushed by tag to up/two. */
        _cleanup_free_ char *cfg =
            xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},"
                      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
                      ds);
        char dc[IT_DIGEST_STR_MAX];
        upload(c, "up/two", (const unsigned char *)cfg, strlen(cfg), dc);
        _cleanup_free_ char *man = xasprintf(
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
            "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
            "\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
            "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":%d}]}",
            dc, strlen(cfg), ds, MiB);
        struct it_digest md;
        check(registry_manifest_put(c, "up/two", "v1", "application/vnd.oci.image.manifest.v1+json",
                                    man, strlen(man), &md, &err),
              &err);
        char dm[IT_DIGEST_STR_MAX], dmf[IT_DIGEST_STR_MAX];
        dstr(man, strlen(man), dm);
        digest_format(&md, dmf);
        assert_string_equal(dm, dmf);
        /* By digest too; a digest the bytes do not have is refused here. */
        check(registry_manifest_put(c, "up/two", dm, "application/vnd.oci.image.manifest.v1+json",
                                    man, strlen(man), NULL, &err),
              &err);
        int rc =
            registry_manifest_put(c, "up/two", ds, "application/vnd.oci.image.manifest.v1+json",
                                  man, strlen(man), NULL, &err);
        assert_int_equal(rc, IT_EINPUT);
        _cleanup_free_ char *path = xasprintf("%s/manifest.json", out);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(man, 1, strlen(man), f), strlen(man));
        assert_int_equal(fclose(f), 0);
}

/* The python fake registry (upload.bats) answers per repository: */
static void test_fake(void **state)
{
        (void)state;
        const char *host = env_or_skip("IT_LIVE_FAKE");
        _cleanup_registry_ struct it_registry *c = client(host, "bob:pw");
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        const char *d = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

        /* flaky: 500, 500, then 200. */
        unsigned n0 = registry_client_requests(c);
        exists(c, "flaky", d, true, 5);
        assert_int_equal(registry_client_requests(c) - n0, 3);
        /* busy: 429 once. */
        n0 = registry_client_requests(c);
        exists(c, "busy", d, true, 5);
        assert_int_equal(registry_client_requests(c) - n0, 2);
        /* down: always 503, three tries. */
        bool e;
        n0 = registry_client_requests(c);
        int rc = registry_blob_exists(c, "down", d, &e, NULL, &err);
        assert_int_equal(rc, IT_EIO);
        assert_int_equal(registry_client_requests(c) - n0, 3);
        _cleanup_free_ char *want503 =
            xasprintf("HEAD http://%s/v2/down/blobs/%s: HTTP 503 Service Unavailable", host, d);
        assert_string_equal(err.msg, want503);
        /* denied: 403, never retried. */
        n0 = registry_client_requests(c);
        it_error_clear(&err);
        rc = registry_blob_exists(c, "denied", d, &e, NULL, &err);
        assert_int_equal(rc, IT_EIO);
        assert_int_equal(registry_client_requests(c) - n0, 1);

        /* flaky GET: retried while nothing was delivered, then "hello". */
        _cleanup_buf_ struct it_buf got = IT_BUF_INIT;
        check(registry_blob_get(c, "flaky", d, sink_write, &got, 100, &err), &err);
        assert_int_equal(got.len, 5);
        assert_memory_equal(got.data, "hello", 5);
        /* mismatch: serves "jello" as the digest of "hello". */
        it_buf_reset(&got);
        it_error_clear(&err);
        rc = registry_blob_get(c, "mismatch", d, sink_write, &got, 100, &err);
        assert_int_equal(rc, IT_EIO);
        assert_non_null(strstr(err.msg, "blob content hashes to sha256:"));
        assert_non_null(strstr(err.msg, ", not the requested sha256:2cf24dba"));
        /* redir: 307 to the same server under the name localhost: followed, without the
         * credentials (the server logs whether Authorization came). */
        it_buf_reset(&got);
        check(registry_blob_get(c, "redir", d, sink_write, &got, 100, &err), &err);
        assert_int_equal(got.len, 5);
        assert_memory_equal(got.data, "hello", 5);
        /* samehost: 307 to another path of this origin: credentials kept. */
        it_buf_reset(&got);
        check(registry_blob_get(c, "samehost", d, sink_write, &got, 100, &err), &err);
        assert_memory_equal(got.data, "hello", 5);

        /* upl: a session at a relative Location with a query of its own (upload.bats checks
         * what arrived). Right bytes, wrong bytes (nothing sent whole), chunks of 2, wrong
         * bytes in the last chunk. */
        struct src s = {.p = (const unsigned char *)"hello", .len = 5};
        check(registry_blob_upload(c, "upl", d, 5, src_read, &s, &err), &err);
        struct src bad = {.p = (const unsigned char *)"hellp", .len = 5};
        rc = registry_blob_upload(c, "upl", d, 5, src_read, &bad, &err);
        assert_int_equal(rc, IT_EINPUT);
        registry_client_set_upload_chunk(c, 2);
        struct src s2 = {.p = (const unsigned char *)"hello", .len = 5};
        check(registry_blob_upload(c, "upl", d, 5, src_read, &s2, &err), &err);
        struct src bad2 = {.p = (const unsigned char *)"hellp", .len = 5};
        it_error_clear(&err);
        rc = registry_blob_upload(c, "upl", d, 5, src_read, &bad2, &err);
        assert_int_equal(rc, IT_EINPUT);
        _cleanup_free_ char *wantup = xasprintf("blob for upl/%s does not match: its bytes do "
                                                "not hash to it or are not 5 bytes; upload "
                                                "cancelled",
                                                d);
        assert_string_equal(err.msg, wantup);

        /* badput: manifest PUT answered with another Docker-Content-Digest. */
        it_error_clear(&err);
        rc = registry_manifest_put(c, "badput", "v1", "application/vnd.oci.image.manifest.v1+json",
                                   "{}", 2, NULL, &err);
        assert_int_equal(rc, IT_EIO);
        _cleanup_free_ char *wantput = xasprintf(
            "PUT http://%s/v2/badput/manifests/v1: registry says the manifest is \"%s\", not "
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            host, d);
        assert_string_equal(err.msg, wantput);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_registry),
            cmocka_unit_test(test_fake),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
