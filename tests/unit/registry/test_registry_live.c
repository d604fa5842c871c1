/* The registry client and the HTTP lookaside reader against real services. Skipped unless
 * tests/cli/services.bats runs it with the services started (tests/lib/services.bash):
 *   IT_LIVE_REGISTRY=127.0.0.1:PORT IT_LIVE_REPO IT_LIVE_TAG IT_LIVE_DIGEST (skopeo's digest)
 *   IT_LIVE_CREDS / IT_LIVE_BADCREDS    registry with htpasswd: right and wrong USER:PASS
 *   IT_LIVE_LOOKASIDE_URL IT_LIVE_LOOKASIDE_DIR   nginx and the directory it serves
 *   IT_LIVE_FAKE_REGISTRY               nginx posing as a registry (see services.bats)
 *   IT_LIVE_INDEX_REPO IT_LIVE_INDEX_DIGEST IT_LIVE_AMD64_DIGEST IT_LIVE_ARM64_DIGEST
 *                                       a two-platform index pushed as REPO:multi
 *   IT_LIVE_DIGEST_CASES                "FILE DIGEST|error" lines from skopeo manifest-digest */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/fs.h"
#include "imgtrust/lookaside.h"
#include "imgtrust/manifest.h"
#include "imgtrust/registry.h"
#include "imgtrust/xalloc.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define D256 "sha256:" HEX64

static const char *env_or_skip(const char *name)
{
        const char *v = getenv(name);
        if (!v || !*v) {
                print_message("%s not set: skipped (run through tests/cli/services.bats)\n", name);
                skip();
        }
        return v;
}

#define _cleanup_registry_ _cleanup_(registry_freep)
static void registry_freep(struct it_registry **c)
{
        registry_client_free(*c);
}

static struct it_registry *client(const char *host, bool tls_verify, const char *creds)
{
        struct it_registry *c = NULL;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (registry_client_new(host, tls_verify, creds, &c, &err))
                fail_msg("%s", err.msg);
        return c;
}

static void fetch_ok(struct it_registry *c, const char *repo, const char *ref, struct it_buf *body,
                     char **mt, struct it_digest *d)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = registry_get_manifest(c, repo, ref, NULL, body, mt, d, &err);
        if (rc) {
                _cleanup_free_ char *line = it_error_format(&err);
                fail_msg("%s", line);
        }
}

static char *fetch_err(struct it_registry *c, const char *repo, const char *ref, int code)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_buf_ struct it_buf body = IT_BUF_INIT;
        struct it_digest d;
        char *mt = NULL;
        int rc = registry_get_manifest(c, repo, ref, NULL, &body, &mt, &d, &err);
        assert_int_equal(rc, code);
        assert_null(mt);
        return it_error_format(&err);
}

static void check_image(struct it_registry *c)
{
        const char *repo = env_or_skip("IT_LIVE_REPO");
        const char *tag = env_or_skip("IT_LIVE_TAG");
        const char *want = env_or_skip("IT_LIVE_DIGEST");
        _cleanup_buf_ struct it_buf body = IT_BUF_INIT;
        _cleanup_free_ char *mt = NULL;
        struct it_digest d;
        fetch_ok(c, repo, tag, &body, &mt, &d);
        char ds[IT_DIGEST_STR_MAX];
        digest_format(&d, ds);
        assert_string_equal(ds, want);
        assert_string_equal(mt, IT_MT_OCI_MANIFEST);
        struct it_digest raw;
        digest_compute(IT_DIGEST_SHA256, body.data, body.len, &raw);
        assert_true(digest_equal(&raw, &d));

        /* By digest: the same bytes. */
        _cleanup_buf_ struct it_buf body2 = IT_BUF_INIT;
        _cleanup_free_ char *mt2 = NULL;
        struct it_digest d2;
        fetch_ok(c, repo, want, &body2, &mt2, &d2);
        assert_int_equal(body2.len, body.len);
        assert_memory_equal(body2.data, body.data, body.len);
        assert_true(digest_equal(&d, &d2));
}

static void test_fetch(void **state)
{
        /* skip() jumps over cleanup handlers: every skip comes before anything is allocated. */
        const char *host = env_or_skip("IT_LIVE_REGISTRY");
        const char *repo = env_or_skip("IT_LIVE_REPO");
        env_or_skip("IT_LIVE_TAG");
        env_or_skip("IT_LIVE_DIGEST");
        if (getenv("IT_LIVE_CREDS") && *getenv("IT_LIVE_CREDS"))
                skip(); /* test_auth covers the authenticated registry */
        /* Plain HTTP registry: reachable only with TLS verification off (skopeo's fallback). */
        _cleanup_registry_ struct it_registry *c = client(host, false, NULL);
        check_image(c);
        assert_string_equal(registry_client_scheme(c), "http");

        _cleanup_free_ char *m1 = fetch_err(c, repo, "no-such-tag", IT_EIO);
        _cleanup_free_ char *w1 = xasprintf("GET http://%s/v2/%s/manifests/no-such-tag: HTTP 404 "
                                            "Not Found: \"MANIFEST_UNKNOWN\" \"manifest unknown\"",
                                            host, repo);
        assert_string_equal(m1, w1);
        _cleanup_free_ char *m2 = fetch_err(c, "no/such/repo", "latest", IT_EIO);
        _cleanup_free_ char *w2 = xasprintf("GET http://%s/v2/no/such/repo/manifests/latest: HTTP "
                                            "404 Not Found: \"MANIFEST_UNKNOWN\" \"manifest "
                                            "unknown\"",
                                            host);
        assert_string_equal(m2, w2);
        _cleanup_free_ char *m3 = fetch_err(c, repo, "sha256:../../x", IT_EINPUT);
        assert_string_equal(m3, "invalid digest \"sha256:../../x\": sha256 digest must be 64 "
                                "lowercase hex characters");
        _cleanup_free_ char *m4 = fetch_err(c, "../x", "latest", IT_EINPUT);
        assert_string_equal(m4, "invalid repository name \"../x\"");
        _cleanup_free_ char *m5 = fetch_err(c, repo, "-bad", IT_EINPUT);
        assert_string_equal(m5, "invalid tag \"-bad\"");

        /* With TLS verification the plain-HTTP registry is not used. */
        _cleanup_registry_ struct it_registry *v = client(host, true, NULL);
        _cleanup_free_ char *m6 = fetch_err(v, repo, "latest", IT_EIO);
        _cleanup_free_ char *w6 =
            xasprintf("pinging registry %s: GET https://%s/v2/: ", host, host);
        if (strncmp(m6, w6, strlen(w6)))
                fail_msg("%s does not start with %s", m6, w6);
}

static void test_auth(void **state)
{
        const char *host = env_or_skip("IT_LIVE_REGISTRY");
        const char *creds = env_or_skip("IT_LIVE_CREDS");
        const char *bad = env_or_skip("IT_LIVE_BADCREDS");
        const char *repo = env_or_skip("IT_LIVE_REPO");
        env_or_skip("IT_LIVE_TAG");
        env_or_skip("IT_LIVE_DIGEST");
        _cleanup_registry_ struct it_registry *c = client(host, false, creds);
        check_image(c);

        _cleanup_registry_ struct it_registry *b = client(host, false, bad);
        _cleanup_free_ char *m = fetch_err(b, repo, "latest", IT_EIO);
        _cleanup_free_ char *w = xasprintf("authentication failed for %s (GET http://%s/v2/%s/"
                                           "manifests/latest: HTTP 401 Unauthorized)",
                                           host, host, repo);
        assert_string_equal(m, w);
        const char *pw = strchr(bad, ':') + 1;
        assert_null(strstr(m, pw));

        _cleanup_registry_ struct it_registry *a = client(host, false, NULL);
        _cleanup_free_ char *m2 = fetch_err(a, repo, "latest", IT_EIO);
        _cleanup_free_ char *w2 = xasprintf("authentication required for %s (GET http://%s/v2/%s/"
                                            "manifests/latest: HTTP 401 Unauthorized); give "
                                            "--creds USER:PASSWORD",
                                            host, host, repo);
        assert_string_equal(m2, w2);
}

static void put(const char *dir, unsigned n, const char *content, size_t len)
{
        _cleanup_free_ char *cmd = xasprintf("mkdir -p '%s'", dir);
        assert_int_equal(system(cmd), 0);
        _cleanup_free_ char *p = xasprintf("%s/signature-%u", dir, n);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(it_file_replace(p, content, len, 0644, &err), 0);
}

static void test_lookaside_http(void **state)
{
        const char *url = env_or_skip("IT_LIVE_LOOKASIDE_URL");
        const char *dir = env_or_skip("IT_LIVE_LOOKASIDE_DIR");
        _cleanup_free_ char *sigdir = xasprintf("%s/library/app@sha256=" HEX64, dir);
        put(sigdir, 1, "\x89\x01\x02", 3);
        put(sigdir, 2, "second\0blob", 11);
        put(sigdir, 4, "after the gap", 13);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_sig_list_ struct it_sig_list l = IT_SIG_LIST_INIT;
        int rc = lookaside_read(url, "library/app", D256, &l, &err);
        if (rc)
                fail_msg("%s", err.msg);
        assert_int_equal(l.n, 2);
        assert_int_equal(l.v[0].len, 3);
        assert_memory_equal(l.v[0].data, "\x89\x01\x02", 3);
        assert_int_equal(l.v[1].len, 11);
        assert_memory_equal(l.v[1].data, "second\0blob", 11);
        _cleanup_free_ char *src = xasprintf("%s/library/app@sha256=" HEX64 "/signature-2", url);
        assert_string_equal(l.v[1].source, src);

        /* Nothing there: 404 on signature-1, zero signatures. */
        _cleanup_sig_list_ struct it_sig_list none = IT_SIG_LIST_INIT;
        assert_int_equal(lookaside_read(url, "library/other", D256, &none, &err), 0);
        assert_int_equal(none.n, 0);

        /* Any other status fails the whole read. */
        _cleanup_free_ char *b500 = xasprintf("%s/status500", url);
        struct it_sig_list l5 = IT_SIG_LIST_INIT;
        assert_int_equal(lookaside_read(b500, "library/app", D256, &l5, &err), IT_EIO);
        assert_int_equal(l5.n, 0);
        _cleanup_free_ char *w5 = xasprintf("reading signatures of " D256 ": GET %s/library/app@"
                                            "sha256=" HEX64 "/signature-1: HTTP 500 Internal "
                                            "Server Error",
                                            b500);
        _cleanup_free_ char *m5 = it_error_format(&err);
        assert_string_equal(m5, w5);
        it_error_clear(&err);
        _cleanup_free_ char *b403 = xasprintf("%s/status403", url);
        assert_int_equal(lookaside_read(b403, "library/app", D256, &l5, &err), IT_EIO);
        assert_non_null(strstr(err.msg, "HTTP 403 Forbidden"));
        it_error_clear(&err);

        /* Over 4 MiB fails; exactly 4 MiB is read. */
        _cleanup_free_ char *bigdir = xasprintf("%s/library/big@sha256=" HEX64, dir);
        char *big = xcalloc(IT_LOOKASIDE_SIG_MAX + 1, 1);
        put(bigdir, 1, big, IT_LOOKASIDE_SIG_MAX);
        struct it_sig_list lb = IT_SIG_LIST_INIT;
        assert_int_equal(lookaside_read(url, "library/big", D256, &lb, &err), 0);
        assert_int_equal(lb.n, 1);
        assert_int_equal(lb.v[0].len, IT_LOOKASIDE_SIG_MAX);
        sig_list_free(&lb);
        put(bigdir, 1, big, IT_LOOKASIDE_SIG_MAX + 1);
        free(big);
        assert_int_equal(lookaside_read(url, "library/big", D256, &lb, &err), IT_EIO);
        assert_non_null(strstr(err.msg, "response larger than 4194304 bytes"));

        /* Transport failure (nothing listens on port 1) fails too. */
        it_error_clear(&err);
        assert_int_equal(lookaside_read("http://127.0.0.1:1", "library/app", D256, &lb, &err),
                         IT_EIO);
        assert_non_null(strstr(err.msg, "GET http://127.0.0.1:1/library/app@sha256="));
}

static void test_fake_registry(void **state)
{
        /* nginx posing as a registry: a manifest whose bytes do not match the digest asked for,
         * and a Bearer-token challenge. */
        const char *host = env_or_skip("IT_LIVE_FAKE_REGISTRY");
        _cleanup_registry_ struct it_registry *c = client(host, false, NULL);
        _cleanup_free_ char *m = fetch_err(c, "fake/app", D256, IT_EIO);
        _cleanup_free_ char *w = xasprintf("GET http://%s/v2/fake/app/manifests/" D256 ": "
                                           "manifest digest sha256:44136fa355b3678a1146ad16f7e864"
                                           "9e94fb4fc21fe77e8310c060f61caaff8a does not match the "
                                           "requested digest " D256,
                                           host);
        assert_string_equal(m, w);

        /* The same bytes by tag are fine, with the digest computed from them; a generic
         * Content-Type makes us sniff. */
        _cleanup_buf_ struct it_buf body = IT_BUF_INIT;
        _cleanup_free_ char *mt = NULL;
        struct it_digest d;
        fetch_ok(c, "fake/app", "v1", &body, &mt, &d);
        char ds[IT_DIGEST_STR_MAX];
        digest_format(&d, ds);
        assert_string_equal(
            ds, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
        assert_string_equal(mt, "");

        const char *creds = getenv("IT_LIVE_FAKE_CREDS");
        if (!creds)
                return;
        /* Bearer: the token realm wants Basic credentials, the registry the token. */
        _cleanup_registry_ struct it_registry *t = client(host, false, creds);
        _cleanup_buf_ struct it_buf b2 = IT_BUF_INIT;
        _cleanup_free_ char *mt2 = NULL;
        fetch_ok(t, "bearer/app", "v1", &b2, &mt2, &d);
        assert_string_equal(it_buf_str(&b2), "{}");
        assert_string_equal(mt2, IT_MT_OCI_MANIFEST);
        _cleanup_registry_ struct it_registry *t2 = client(host, false, "alice:wrong");
        _cleanup_free_ char *m2 = fetch_err(t2, "bearer/app", "v1", IT_EIO);
        assert_non_null(strstr(m2, "authentication failed for "));
        assert_null(strstr(m2, "wrong"));
}

static void test_index(void **state)
{
        const char *host = env_or_skip("IT_LIVE_REGISTRY");
        const char *repo = env_or_skip("IT_LIVE_INDEX_REPO");
        const char *want = env_or_skip("IT_LIVE_INDEX_DIGEST");
        const char *amd64 = env_or_skip("IT_LIVE_AMD64_DIGEST");
        const char *arm64 = env_or_skip("IT_LIVE_ARM64_DIGEST");
        _cleanup_registry_ struct it_registry *c = client(host, false, NULL);
        _cleanup_buf_ struct it_buf body = IT_BUF_INIT;
        _cleanup_free_ char *mt = NULL;
        struct it_digest d;
        fetch_ok(c, repo, "multi", &body, &mt, &d);
        assert_string_equal(mt, IT_MT_OCI_INDEX);
        char ds[IT_DIGEST_STR_MAX];
        digest_format(&d, ds);
        assert_string_equal(ds, want);

        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_manifest_list_ struct it_manifest_list l = IT_MANIFEST_LIST_INIT;
        assert_int_equal(manifest_list_instances(body.data, body.len, &l, &err), 0);
        assert_int_equal(l.n, 2);
        size_t i;
        assert_int_equal(manifest_list_choose(&l, NULL, NULL, NULL, &i, &err), 0);
        char is[IT_DIGEST_STR_MAX];
        digest_format(&l.v[i].digest, is);
        assert_string_equal(is, amd64);
        /* The chosen instance fetched by its digest (verified against it). */
        _cleanup_buf_ struct it_buf ib = IT_BUF_INIT;
        _cleanup_free_ char *imt = NULL;
        struct it_digest id;
        fetch_ok(c, repo, is, &ib, &imt, &id);
        assert_string_equal(imt, IT_MT_OCI_MANIFEST);
        assert_true(digest_equal(&id, &l.v[i].digest));
        assert_int_equal((int64_t)ib.len, l.v[i].size);

        assert_int_equal(manifest_list_choose(&l, "linux", "arm64", NULL, &i, &err), 0);
        digest_format(&l.v[i].digest, is);
        assert_string_equal(is, arm64);
        /* Asked for the arm64 instance, the client takes nothing else. */
        _cleanup_buf_ struct it_buf ab = IT_BUF_INIT;
        fetch_ok(c, repo, arm64, &ab, NULL, &id);
        digest_format(&id, is);
        assert_string_equal(is, arm64);
}

/* IT_LIVE_DIGEST_CASES: lines "FILE DIGEST" or "FILE error", from `skopeo manifest-digest`. */
static void test_digest_vs_skopeo(void **state)
{
        const char *cases = env_or_skip("IT_LIVE_DIGEST_CASES");
        _cleanup_free_ char *copy = xstrdup(cases);
        size_t n = 0;
        char *save = NULL;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *sp = strrchr(line, ' ');
                assert_non_null(sp);
                *sp = '\0';
                const char *want = sp + 1;
                char *data = NULL;
                size_t len = 0;
                _cleanup_error_ it_error err = IT_ERROR_INIT;
                assert_int_equal(it_file_read(line, IT_MANIFEST_MAX, &data, &len, &err), 0);
                struct it_digest d;
                int rc = manifest_digest(data, len, &d, &err);
                free(data);
                if (!strcmp(want, "error")) {
                        if (rc != IT_EINPUT)
                                fail_msg("%s: skopeo fails, we did not", line);
                } else {
                        if (rc)
                                fail_msg("%s: %s", line, err.msg);
                        char ds[IT_DIGEST_STR_MAX];
                        digest_format(&d, ds);
                        if (strcmp(ds, want))
                                fail_msg("%s: skopeo %s, we %s", line, want, ds);
                }
                n++;
        }
        assert_true(n >= 5);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_fetch),          cmocka_unit_test(test_auth),
            cmocka_unit_test(test_lookaside_http), cmocka_unit_test(test_fake_registry),
            cmocka_unit_test(test_index),          cmocka_unit_test(test_digest_vs_skopeo),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
