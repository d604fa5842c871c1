/* Publishing signatures by HTTP PUT (sign/lookaside_put.c) and the lookaside credentials from a
 * containers auth file. The auth file and argument checks always run; the live tests skip unless
 * tests/cli/lookaside_put.bats gives them an nginx (tests/lib/services.bash):
 *   IT_LIVE_PUT_URL IT_LIVE_PUT_DIR   nginx base URL with dav PUT and the directory it serves
 *   IT_LIVE_PUT_CREDS                 right USER:PASS for $IT_LIVE_PUT_URL/auth (auth_basic)
 *   IT_LIVE_PUT_REDIR                 the Location prefix /redir/ and /putredir/ send to */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/lookaside.h"
#include "imgtrust/lookaside_http.h"
#include "imgtrust/xalloc.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define D256 "sha256:" HEX64
#define SIGDIR "@sha256=" HEX64

/* ---- auth file parsing ---- */

static char *parse_ok(const char *json, const char *host)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        char *up = NULL;
        int rc = lookaside_put_creds_parse(json, strlen(json), "auth.json", host, &up, &err);
        if (rc) {
                _cleanup_free_ char *line = it_error_format(&err);
                fail_msg("%s", line);
        }
        return up;
}

static char *parse_err(const char *json, const char *host)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        char *up = NULL;
        int rc = lookaside_put_creds_parse(json, strlen(json), "auth.json", host, &up, &err);
        assert_int_equal(rc, IT_EINPUT);
        assert_null(up);
        return it_error_format(&err);
}

/* base64("alice:s3cret") and base64("bob:pw:with:colons") */
#define ALICE "YWxpY2U6czNjcmV0"
#define BOB "Ym9iOnB3OndpdGg6Y29sb25z"

static void test_authfile_match(void **state)
{
        (void)state;
        _cleanup_free_ char *a = parse_ok(
            "{\"auths\":{\"looka.example:8443\":{\"auth\":\"" ALICE "\"}}}", "looka.example:8443");
        assert_string_equal(a, "alice:s3cret");
        /* docker writes scheme and path into the key */
        _cleanup_free_ char *b = parse_ok(
            "{\"auths\":{\"https://looka.example/v1/\":{\"auth\":\"" BOB "\"}}}", "looka.example");
        assert_string_equal(b, "bob:pw:with:colons");
        _cleanup_free_ char *c = parse_ok(
            "{\"auths\":{\"http://127.0.0.1:5000\":{\"auth\":\"" ALICE "\"}}}", "127.0.0.1:5000");
        assert_string_equal(c, "alice:s3cret");
        /* the exact key wins whatever the order */
        _cleanup_free_ char *d = parse_ok("{\"auths\":{\"https://h\":{\"auth\":\"" ALICE
                                          "\"},\"h\":{\"auth\":\"" BOB "\"}}}",
                                          "h");
        assert_string_equal(d, "bob:pw:with:colons");
        /* no entry, another port, a registry-only file, empty auth, identitytoken only */
        assert_null(parse_ok("{\"auths\":{\"h:1\":{\"auth\":\"" ALICE "\"}}}", "h"));
        assert_null(parse_ok("{\"auths\":{\"h\":{\"auth\":\"" ALICE "\"}}}", "h:1"));
        assert_null(parse_ok("{\"credHelpers\":{}}", "h"));
        assert_null(parse_ok("{\"auths\":{\"h\":{\"auth\":\"\"}}}", "h"));
        assert_null(parse_ok("{\"auths\":{\"h\":{\"identitytoken\":\"x\"}}}", "h"));
        /* a 1-byte and 2-byte tail: "a:b" is YTpi, "ab:c" YWI6Yw==, "abc:d" YWJjOmQ= */
        _cleanup_free_ char *e = parse_ok("{\"auths\":{\"h\":{\"auth\":\"YWI6Yw==\"}}}", "h");
        assert_string_equal(e, "ab:c");
        _cleanup_free_ char *f = parse_ok("{\"auths\":{\"h\":{\"auth\":\"YWJjOmQ=\"}}}", "h");
        assert_string_equal(f, "abc:d");
}

static void test_authfile_strict(void **state)
{
        (void)state;
        static const struct {
                const char *json, *msg;
        } cases[] = {
            {"{\"auths\":{\"h\":{\"auth\":\"YWxpY2U\"}}}",
             "auth.json: .auths.h.auth is not valid base64 (standard, with \"=\" padding)"},
            {"{\"auths\":{\"h\":{\"auth\":\"YWxp Y2U6\"}}}",
             "auth.json: .auths.h.auth is not valid base64 (standard, with \"=\" padding)"},
            {"{\"auths\":{\"h\":{\"auth\":\"YWI6Yx==\"}}}", /* non-zero trailing bits */
             "auth.json: .auths.h.auth is not valid base64 (standard, with \"=\" padding)"},
            {"{\"auths\":{\"h\":{\"auth\":\"YW=6Yw==\"}}}",
             "auth.json: .auths.h.auth is not valid base64 (standard, with \"=\" padding)"},
            {"{\"auths\":{\"h\":{\"auth\":\"YWxpY2U=\"}}}", /* "alice" */
             "auth.json: .auths.h.auth does not decode to \"user:password\""},
            {"{\"auths\":{\"h\":{\"auth\":\"YQBiOmM=\"}}}", /* "a\0b:c" */
             "auth.json: .auths.h.auth does not decode to \"user:password\""},
            {"{\"auths\":{\"h\":{\"auth\":7}}}", "auth.json: .auths.h.auth is not a string"},
            {"{\"auths\":{\"h\":\"" ALICE "\"}}", "auth.json: .auths.h is not an object"},
            {"{\"auths\":[]}", "auth.json: .auths is not an object"},
            {"[]", "auth.json: top level is not an object"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                _cleanup_free_ char *m = parse_err(cases[i].json, "h");
                assert_string_equal(m, cases[i].msg);
        }
        /* it_json_parse's strictness: duplicate keys and trailing data */
        _cleanup_free_ char *dup =
            parse_err("{\"auths\":{\"h\":{\"auth\":\"" ALICE "\",\"auth\":\"" BOB "\"}}}", "h");
        assert_non_null(strstr(dup, "auth.json"));
        assert_non_null(strstr(dup, "duplicate"));
        _cleanup_free_ char *trail = parse_err("{\"auths\":{}} x", "h");
        assert_non_null(strstr(trail, "auth.json"));
        /* the secret is never in a message */
        assert_null(strstr(dup, "alice"));
}

static void write_file(const char *path, const char *text)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (it_file_replace(path, text, strlen(text), 0600, &err))
                fail_msg("%s", err.msg);
}

static void test_authfile_search(void **state)
{
        (void)state;
        char tmpl[] = "/tmp/it-authfile.XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        _cleanup_free_ char *xdg = xasprintf("%s/run", tmpl);
        _cleanup_free_ char *home = xasprintf("%s/home", tmpl);
        _cleanup_free_ char *cdir = xasprintf("%s/containers", xdg);
        _cleanup_free_ char *ddir = xasprintf("%s/.docker", home);
        _cleanup_free_ char *xfile = xasprintf("%s/auth.json", cdir);
        _cleanup_free_ char *dfile = xasprintf("%s/config.json", ddir);
        assert_int_equal(mkdir(xdg, 0700), 0);
        assert_int_equal(mkdir(home, 0700), 0);
        assert_int_equal(mkdir(cdir, 0700), 0);
        assert_int_equal(mkdir(ddir, 0700), 0);
        setenv("XDG_RUNTIME_DIR", xdg, 1);
        setenv("HOME", home, 1);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        char *up = NULL;

        /* neither file: no credentials */
        assert_int_equal(lookaside_put_creds_from_authfile("h:1", NULL, &up, &err), 0);
        assert_null(up);
        /* docker's file only */
        write_file(dfile, "{\"auths\":{\"https://h:1\":{\"auth\":\"" BOB "\"}}}");
        assert_int_equal(lookaside_put_creds_from_authfile("h:1", NULL, &up, &err), 0);
        assert_string_equal(up, "bob:pw:with:colons");
        free(up);
        up = NULL;
        /* the containers file comes first when it has the host ... */
        write_file(xfile, "{\"auths\":{\"h:1\":{\"auth\":\"" ALICE "\"}}}");
        assert_int_equal(lookaside_put_creds_from_authfile("h:1", NULL, &up, &err), 0);
        assert_string_equal(up, "alice:s3cret");
        free(up);
        up = NULL;
        /* ... and is passed over when it has not */
        write_file(xfile, "{\"auths\":{\"other\":{\"auth\":\"" ALICE "\"}}}");
        assert_int_equal(lookaside_put_creds_from_authfile("h:1", NULL, &up, &err), 0);
        assert_string_equal(up, "bob:pw:with:colons");
        free(up);
        up = NULL;
        /* a broken file is an error naming it, not skipped */
        write_file(xfile, "{\"auths\":{\"h:1\":{\"auth\":\"!!\"}}}");
        assert_int_equal(lookaside_put_creds_from_authfile("h:1", NULL, &up, &err), IT_EINPUT);
        assert_null(up);
        _cleanup_free_ char *want = xasprintf("%s: .auths[\"h:1\"].auth is not valid base64 "
                                              "(standard, with \"=\" padding)",
                                              xfile);
        _cleanup_free_ char *got = it_error_format(&err);
        assert_string_equal(got, want);
        it_error_clear(&err);
        /* an explicit file is the only one read, and must exist */
        assert_int_equal(lookaside_put_creds_from_authfile("h:1", dfile, &up, &err), 0);
        assert_string_equal(up, "bob:pw:with:colons");
        free(up);
        up = NULL;
        _cleanup_free_ char *missing = xasprintf("%s/nope.json", tmpl);
        assert_int_equal(lookaside_put_creds_from_authfile("h:1", missing, &up, &err), IT_EINPUT);
        assert_null(up);
        _cleanup_free_ char *m2 = it_error_format(&err);
        assert_non_null(strstr(m2, missing));
        it_error_clear(&err);
        assert_int_equal(lookaside_put_creds_from_authfile("", NULL, &up, &err), IT_EINPUT);
        unlink(xfile);
        unlink(dfile);
        rmdir(cdir);
        rmdir(ddir);
        rmdir(xdg);
        rmdir(home);
        rmdir(tmpl);
}

/* ---- argument checks (no server) ---- */

static char *append_err(const char *base, const char *path, const char *digest, size_t len,
                        int code)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *blob = xmalloc(len + 1);
        memset(blob, 'x', len + 1);
        char *url = (char *)"unchanged";
        unsigned idx = 99;
        int rc = lookaside_put_append(base, path, digest, blob, len, NULL, &url, &idx, &err);
        assert_int_equal(rc, code);
        assert_null(url);
        assert_int_equal(idx, 99);
        return it_error_format(&err);
}

static void test_put_args(void **state)
{
        (void)state;
        _cleanup_free_ char *a = append_err("file:///tmp/x", "a/b", D256, 3, IT_EINPUT);
        assert_string_equal(a, "lookaside \"file:///tmp/x\": unsupported scheme for HTTP PUT "
                               "(http or https expected)");
        _cleanup_free_ char *b =
            append_err("http://u:secret@127.0.0.1:1/s", "a/b", D256, 3, IT_EINPUT);
        assert_null(strstr(b, "secret"));
        assert_non_null(strstr(b, "credentials"));
        _cleanup_free_ char *c =
            append_err("http://127.0.0.1:1/s", "a/b", "sha256:abc", 3, IT_EINPUT);
        assert_non_null(strstr(c, "sha256:abc"));
        _cleanup_free_ char *d =
            append_err("http://127.0.0.1:1/s", "a/b", D256, IT_LOOKASIDE_SIG_MAX + 1, IT_EINPUT);
        assert_string_equal(d, "signature of 4194305 bytes is larger than the 4194304 bytes "
                               "readers accept");
}

/* ---- live ---- */

static const char *env_or_skip(const char *name)
{
        const char *v = getenv(name);
        if (!v || !*v) {
                print_message("%s not set: skipped (run through tests/cli/lookaside_put.bats)\n",
                              name);
                skip();
        }
        return v;
}

static void put_ok(const char *base, const char *path, const char *blob, size_t len,
                   const char *userpwd, char **url, unsigned *idx)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_lookaside_put_opts o = {.tls_verify = true, .userpwd = userpwd};
        if (lookaside_put_append(base, path, D256, blob, len, &o, url, idx, &err)) {
                _cleanup_free_ char *line = it_error_format(&err);
                fail_msg("%s", line);
        }
}

static char *put_err(const char *base, const char *path, const char *userpwd)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_lookaside_put_opts o = {.tls_verify = true, .userpwd = userpwd};
        char *url = NULL;
        unsigned idx = 0;
        int rc = lookaside_put_append(base, path, D256, "sig", 3, &o, &url, &idx, &err);
        assert_int_equal(rc, IT_EIO);
        assert_null(url);
        return it_error_format(&err);
}

static void assert_file(const char *path, const void *data, size_t len)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *got = NULL;
        size_t n = 0;
        if (it_file_read(path, IT_LOOKASIDE_SIG_MAX, &got, &n, &err))
                fail_msg("%s", err.msg);
        assert_int_equal(n, len);
        assert_memory_equal(got, data, len);
}

static void test_put_empty(void **state)
{
        (void)state;
        const char *base = env_or_skip("IT_LIVE_PUT_URL");
        const char *dir = env_or_skip("IT_LIVE_PUT_DIR");
        /* binary, with NUL and high bytes: compared byte for byte */
        static const char blob[] = "\x89PGP\0\xff\x01 signature one";
        _cleanup_free_ char *url = NULL;
        unsigned idx = 0;
        put_ok(base, "empty/app", blob, sizeof blob - 1, NULL, &url, &idx);
        assert_int_equal(idx, 1);
        _cleanup_free_ char *want = xasprintf("%s/empty/app" SIGDIR "/signature-1", base);
        assert_string_equal(url, want);
        _cleanup_free_ char *path = xasprintf("%s/empty/app" SIGDIR "/signature-1", dir);
        assert_file(path, blob, sizeof blob - 1);
        /* the next one goes to 2, and the reader sees both in order */
        _cleanup_free_ char *url2 = NULL;
        put_ok(base, "empty/app", "second", 6, NULL, &url2, &idx);
        assert_int_equal(idx, 2);
        _cleanup_sig_list_ struct it_sig_list l = IT_SIG_LIST_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(lookaside_read(base, "empty/app", D256, &l, &err), 0);
        assert_int_equal(l.n, 2);
        assert_int_equal(l.v[0].len, sizeof blob - 1);
        assert_memory_equal(l.v[0].data, blob, sizeof blob - 1);
        assert_string_equal((char *)l.v[1].data, "second");
}

static void test_put_existing(void **state)
{
        (void)state;
        const char *base = env_or_skip("IT_LIVE_PUT_URL");
        const char *dir = env_or_skip("IT_LIVE_PUT_DIR");
        _cleanup_free_ char *d1 = xasprintf("%s/have", dir);
        _cleanup_free_ char *d2 = xasprintf("%s/have/two" SIGDIR, dir);
        _cleanup_free_ char *s1 = xasprintf("%s/signature-1", d2);
        _cleanup_free_ char *s2 = xasprintf("%s/signature-2", d2);
        _cleanup_free_ char *s3 = xasprintf("%s/signature-3", d2);
        mkdir(d1, 0755);
        _cleanup_free_ char *mid = xasprintf("%s/have/two", dir);
        mkdir(mid, 0755);
        assert_int_equal(mkdir(d2, 0755), 0);
        write_file(s1, "one");
        write_file(s2, "two");
        chmod(s1, 0644);
        chmod(s2, 0644);
        _cleanup_free_ char *url = NULL;
        unsigned idx = 0;
        put_ok(base, "have/two", "three", 5, NULL, &url, &idx);
        assert_int_equal(idx, 3);
        assert_file(s1, "one", 3);
        assert_file(s2, "two", 3);
        assert_file(s3, "three", 5);
}

static void test_put_full(void **state)
{
        (void)state;
        const char *base = env_or_skip("IT_LIVE_PUT_URL");
        const char *dir = env_or_skip("IT_LIVE_PUT_DIR");
        _cleanup_free_ char *d0 = xasprintf("%s/full", dir);
        _cleanup_free_ char *d1 = xasprintf("%s/full/app" SIGDIR, dir);
        mkdir(d0, 0755);
        _cleanup_free_ char *mid = xasprintf("%s/full/app", dir);
        mkdir(mid, 0755);
        assert_int_equal(mkdir(d1, 0755), 0);
        for (unsigned i = 1; i <= IT_LOOKASIDE_MAX_SIGS; i++) {
                _cleanup_free_ char *p = xasprintf("%s/signature-%u", d1, i);
                write_file(p, "s");
                chmod(p, 0644);
        }
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        char *url = NULL;
        int rc = lookaside_put_append(base, "full/app", D256, "x", 1, NULL, &url, NULL, &err);
        assert_int_equal(rc, IT_EINPUT);
        assert_null(url);
        _cleanup_free_ char *want = xasprintf("%s/full/app" SIGDIR "/signature-1: already 128 "
                                              "signatures; no reader accepts more (spec 4.2)",
                                              base);
        _cleanup_free_ char *got = it_error_format(&err);
        assert_string_equal(got, want);
        _cleanup_free_ char *p129 = xasprintf("%s/signature-129", d1);
        assert_false(it_path_exists(p129));
}

#define WRITERS 4
#define PER_WRITER 5

/* Each writer reports "INDEX WRITER SEQ" lines on fd. */
static int writer(const char *base, int w, int fd)
{
        for (int s = 0; s < PER_WRITER; s++) {
                _cleanup_free_ char *blob = xasprintf("writer %d signature %d", w, s);
                _cleanup_error_ it_error err = IT_ERROR_INIT;
                unsigned idx = 0;
                if (lookaside_put_append(base, "race/app", D256, blob, strlen(blob), NULL, NULL,
                                         &idx, &err)) {
                        _cleanup_free_ char *line = it_error_format(&err);
                        fprintf(stderr, "writer %d: %s\n", w, line);
                        return 1;
                }
                _cleanup_free_ char *rep = xasprintf("%u %d %d\n", idx, w, s);
                if (it_write_all(fd, rep, strlen(rep)))
                        return 1;
        }
        return 0;
}

static void test_put_concurrent(void **state)
{
        (void)state;
        const char *base = env_or_skip("IT_LIVE_PUT_URL");
        const char *dir = env_or_skip("IT_LIVE_PUT_DIR");
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pids[WRITERS];
        for (int w = 0; w < WRITERS; w++) {
                pids[w] = fork();
                assert_true(pids[w] >= 0);
                if (pids[w] == 0) {
                        close(p[0]);
                        _exit(writer(base, w, p[1]));
                }
        }
        close(p[1]);
        for (int w = 0; w < WRITERS; w++) {
                int st = 0;
                assert_int_equal(waitpid(pids[w], &st, 0), pids[w]);
                assert_true(WIFEXITED(st));
                assert_int_equal(WEXITSTATUS(st), 0);
        }
        FILE *f = fdopen(p[0], "r");
        assert_non_null(f);
        /* last[i]: which blob each reported index should hold */
        int owner_w[WRITERS * PER_WRITER + 1], owner_s[WRITERS * PER_WRITER + 1];
        int reports[WRITERS * PER_WRITER + 1] = {0};
        unsigned idx;
        int w, s, lines = 0, distinct = 0;
        while (fscanf(f, "%u %d %d", &idx, &w, &s) == 3) {
                lines++;
                assert_true(idx >= 1 && idx <= WRITERS * PER_WRITER);
                if (!reports[idx]++)
                        distinct++;
                owner_w[idx] = w;
                owner_s[idx] = s;
        }
        fclose(f);
        assert_int_equal(lines, WRITERS * PER_WRITER);
        /* What nginx's dav module allows to guarantee (it replaces on PUT whatever
         * If-None-Match says): signature-1..K without gaps, K the number of distinct indices
         * reported, each holding the blob of a writer that reported it. Two writers reporting
         * one index is the documented residual race; the count is printed. */
        int held = 0;
        for (unsigned i = 1; i <= WRITERS * PER_WRITER + 1; i++) {
                _cleanup_free_ char *path = xasprintf("%s/race/app" SIGDIR "/signature-%u", dir, i);
                if (!it_path_exists(path))
                        break;
                held++;
                assert_true(i <= WRITERS * PER_WRITER);
                assert_true(reports[i] > 0);
                _cleanup_error_ it_error err = IT_ERROR_INIT;
                _cleanup_free_ char *got = NULL;
                size_t n;
                assert_int_equal(it_file_read(path, 4096, &got, &n, &err), 0);
                int gw, gs;
                assert_int_equal(sscanf(got, "writer %d signature %d", &gw, &gs), 2);
                if (reports[i] == 1) {
                        assert_int_equal(gw, owner_w[i]);
                        assert_int_equal(gs, owner_s[i]);
                }
        }
        assert_int_equal(held, distinct);
        print_message("concurrent appends: %d of %d signatures kept (%d lost to the residual "
                      "race)\n",
                      held, lines, lines - held);
        if (getenv("IT_LIVE_PUT_STRICT_RACE"))
                assert_int_equal(held, lines);
}

static void test_put_auth(void **state)
{
        (void)state;
        const char *base = env_or_skip("IT_LIVE_PUT_URL");
        const char *dir = env_or_skip("IT_LIVE_PUT_DIR");
        const char *creds = env_or_skip("IT_LIVE_PUT_CREDS");
        _cleanup_free_ char *abase = xasprintf("%s/auth", base);
        _cleanup_free_ char *url = NULL;
        unsigned idx = 0;
        put_ok(abase, "locked/app", "authorised", 10, creds, &url, &idx);
        assert_int_equal(idx, 1);
        _cleanup_free_ char *path = xasprintf("%s/auth/locked/app" SIGDIR "/signature-1", dir);
        assert_file(path, "authorised", 10);

        /* the probe of signature-1 is refused before anything is compared */
        _cleanup_free_ char *u1 = xasprintf("%s/locked/app" SIGDIR "/signature-1", abase);
        _cleanup_free_ char *m = put_err(abase, "locked/app", "alice:not-the-pw");
        _cleanup_free_ char *want =
            xasprintf("HEAD %s: HTTP 401 Unauthorized: the lookaside refused the "
                      "credentials given",
                      u1);
        assert_string_equal(m, want);
        assert_null(strstr(m, "not-the-pw"));
        _cleanup_free_ char *m2 = put_err(abase, "locked/app", NULL);
        _cleanup_free_ char *want2 = xasprintf(
            "HEAD %s: HTTP 401 Unauthorized: the lookaside wants credentials (none given)", u1);
        assert_string_equal(m2, want2);
}

static void test_put_redirect(void **state)
{
        (void)state;
        const char *base = env_or_skip("IT_LIVE_PUT_URL");
        const char *other = env_or_skip("IT_LIVE_PUT_REDIR");
        const char *creds = env_or_skip("IT_LIVE_PUT_CREDS");
        /* every method redirected: the probe already refuses */
        _cleanup_free_ char *rbase = xasprintf("%s/redir", base);
        _cleanup_free_ char *m = put_err(rbase, "r/app", creds);
        _cleanup_free_ char *want = xasprintf(
            "HEAD %s/r/app" SIGDIR "/signature-1: HTTP 307 redirect to \"%s/redir/r/app" SIGDIR
            "/signature-1\" refused (lookaside writes do not follow redirects; configure "
            "the final URL)",
            rbase, other);
        assert_string_equal(m, want);
        assert_null(strstr(m, creds));
        /* only PUT redirected */
        _cleanup_free_ char *pbase = xasprintf("%s/putredir", base);
        _cleanup_free_ char *m2 = put_err(pbase, "r/app", creds);
        _cleanup_free_ char *want2 = xasprintf(
            "PUT %s/r/app" SIGDIR "/signature-1: HTTP 307 redirect to \"%s/putredir/r/app" SIGDIR
            "/signature-1\" refused (lookaside writes do not follow redirects; configure "
            "the final URL)",
            pbase, other);
        assert_string_equal(m2, want2);
}

static void test_put_status(void **state)
{
        (void)state;
        const char *base = env_or_skip("IT_LIVE_PUT_URL");
        _cleanup_free_ char *b500 = xasprintf("%s/status500", base);
        _cleanup_free_ char *m = put_err(b500, "x/app", NULL);
        _cleanup_free_ char *want =
            xasprintf("HEAD %s/x/app" SIGDIR "/signature-1: HTTP 500", b500);
        assert_string_equal(m, want);
        _cleanup_free_ char *b403 = xasprintf("%s/status403", base);
        _cleanup_free_ char *m2 = put_err(b403, "x/app", "u:hidden-pw");
        _cleanup_free_ char *want2 =
            xasprintf("HEAD %s/x/app" SIGDIR "/signature-1: HTTP 403 Forbidden: the "
                      "lookaside refused the credentials given",
                      b403);
        assert_string_equal(m2, want2);
        /* a connection refused is a transport error naming the URL */
        _cleanup_free_ char *m3 = put_err("http://127.0.0.1:1/none", "x/app", NULL);
        assert_non_null(strstr(m3, "HEAD http://127.0.0.1:1/none/x/app" SIGDIR "/signature-1: "));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_authfile_match),  cmocka_unit_test(test_authfile_strict),
            cmocka_unit_test(test_authfile_search), cmocka_unit_test(test_put_args),
            cmocka_unit_test(test_put_empty),       cmocka_unit_test(test_put_existing),
            cmocka_unit_test(test_put_concurrent),  cmocka_unit_test(test_put_auth),
            cmocka_unit_test(test_put_redirect),    cmocka_unit_test(test_put_status),
            cmocka_unit_test(test_put_full),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
