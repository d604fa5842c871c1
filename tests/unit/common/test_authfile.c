/* Registry credentials from auth files (common/authfile.c) as containers/image 5.23 reads them,
 * and the shared base64 decoder (common/base64.c) under it. Every environment variable the
 * lookup reads points into a temporary directory.
 *
 * Run as `test_authfile --query HOST REPO|- [AUTHFILE]` it prints "USER:PASSWORD FILE", "none"
 * or the error, for tests/interop/regconf_skopeo.bats to compare with what skopeo sends. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "imgtrust/authfile.h"
#include "imgtrust/base64.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/xalloc.h"

/* ---- base64 ---- */

static char *b64_ok(const char *s, unsigned flags, size_t *len)
{
        unsigned char *out = NULL;
        size_t bad = 999;
        int rc = it_base64_decode(s, strlen(s), flags, &out, len, &bad);
        if (rc)
                fail_msg("%s: rejected at %zu", s, bad);
        assert_non_null(out);
        assert_int_equal(out[*len], '\0');
        return (char *)out;
}

static size_t b64_bad(const char *s, unsigned flags)
{
        unsigned char *out = (unsigned char *)"x";
        size_t len = 7, bad = 999;
        assert_int_equal(it_base64_decode(s, strlen(s), flags, &out, &len, &bad), IT_EINPUT);
        assert_null(out);
        assert_int_equal(len, 0);
        return bad;
}

static void test_base64(void **state)
{
        (void)state;
        static const struct {
                const char *in, *out;
        } ok[] = {
            {"", ""},
            {"YQ==", "a"},
            {"YWI=", "ab"},
            {"YWJj", "abc"},
            {"YWxpY2U6czNjcmV0", "alice:s3cret"},
            {"Ym9iOnB3OndpdGg6Y29sb25z", "bob:pw:with:colons"},
            {"+/+/", "\xfb\xff\xbf"},
        };
        for (unsigned flags = 0; flags < 4; flags++) {
                for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
                        size_t len = 0;
                        _cleanup_free_ char *d = b64_ok(ok[i].in, flags, &len);
                        assert_int_equal(len, strlen(ok[i].out));
                        assert_memory_equal(d, ok[i].out, len);
                }
        }
        /* NUL bytes decode as data */
        size_t len = 0;
        _cleanup_free_ char *nul = b64_ok("YQBiOmM=", 0, &len);
        assert_int_equal(len, 5);
        assert_memory_equal(nul, "a\0b:c", 5);

        /* Go's StdEncoding skips CR and LF anywhere, also within and after the padding. */
        _cleanup_free_ char *crlf = b64_ok("YW\r\nI6\nYw=\n=\r\n", IT_BASE64_GO, &len);
        assert_string_equal(crlf, "ab:c");
        assert_int_equal(b64_bad("YW\nI6Yw==", 0), 2);
        assert_int_equal(b64_bad("YWI6Yw==\n", IT_BASE64_LAX_BITS), 8);
        /* non-canonical last bits: tolerated only with LAX_BITS */
        _cleanup_free_ char *lax = b64_ok("YWI6Yx==", IT_BASE64_LAX_BITS, &len);
        assert_string_equal(lax, "ab:c");
        _cleanup_free_ char *lax2 = b64_ok("YWJ=", IT_BASE64_GO, &len);
        assert_string_equal(lax2, "ab");
        assert_int_equal(b64_bad("YWI6Yx==", 0), 8);
        assert_int_equal(b64_bad("YWJ=", IT_BASE64_SKIP_CRLF), 4);
        /* offsets of the first offending byte, in every mode */
        for (unsigned flags = 0; flags < 4; flags++) {
                assert_int_equal(b64_bad("YWxpY2U", flags), 7); /* too short */
                assert_int_equal(b64_bad("YWxp Y2U6", flags), 4);
                assert_int_equal(b64_bad("YW=6Yw==", flags), 3);
                assert_int_equal(b64_bad("Y===", flags), 1);
                assert_int_equal(b64_bad("=", flags), 0);
                assert_int_equal(b64_bad("YQ==YQ==", flags), 4);
                assert_int_equal(b64_bad("YQ=", flags), 3);
                assert_int_equal(b64_bad("YWI6Yw-_", flags), 6); /* URL alphabet */
                assert_int_equal(b64_bad("YWI6=", flags), 4);
        }
        /* a NULL bad_at is allowed */
        unsigned char *out = NULL;
        assert_int_equal(it_base64_decode("!", 1, 0, &out, &len, NULL), IT_EINPUT);
}

/* ---- parsing one file ---- */

/* base64 of "alice:s3cret", "bob:pw:with:colons", "ns:x", "repo:x" */
#define ALICE "YWxpY2U6czNjcmV0"
#define BOB "Ym9iOnB3OndpdGg6Y29sb25z"
#define NS "bnM6eA=="
#define REPO "cmVwbzp4"

static char *parse_flags(const char *json, const char *host, const char *repo, unsigned flags)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        char *up = (char *)"unset";
        int rc =
            authfile_parse_flags(json, strlen(json), "auth.json", host, repo, flags, &up, &err);
        if (rc) {
                _cleanup_free_ char *line = it_error_format(&err);
                fail_msg("%s\n--- input: %s", line, json);
        }
        return up;
}

static char *parse(const char *json, const char *host, const char *repo)
{
        return parse_flags(json, host, repo, 0);
}

static void expect_creds(const char *json, const char *host, const char *repo, const char *want)
{
        _cleanup_free_ char *up = parse(json, host, repo);
        if (!want) {
                if (up)
                        fail_msg("expected nothing, got %s for %s / %s in %s", up, host,
                                 repo ? repo : "(null)", json);
                return;
        }
        if (!up || strcmp(up, want) != 0)
                fail_msg("expected %s, got %s for %s / %s in %s", want, up ? up : "(null)", host,
                         repo ? repo : "(null)", json);
}

static char *parse_err(const char *json, const char *host, const char *repo, unsigned flags,
                       int code)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        char *up = (char *)"unset";
        int rc =
            authfile_parse_flags(json, strlen(json), "auth.json", host, repo, flags, &up, &err);
        if (rc != code)
                fail_msg("expected %d, got %d for %s", code, rc, json);
        assert_null(up);
        return it_error_format(&err);
}

static void test_keys(void **state)
{
        (void)state;
        const char *ns = "{\"auths\":{\"r.io:5000\":{\"auth\":\"" ALICE "\"},"
                         "\"r.io:5000/ns\":{\"auth\":\"" NS "\"},"
                         "\"r.io:5000/ns/repo\":{\"auth\":\"" REPO "\"}}}";
        /* the most specific key present */
        expect_creds(ns, "r.io:5000", "ns/repo", "repo:x");
        expect_creds(ns, "r.io:5000", "ns/other", "ns:x");
        expect_creds(ns, "r.io:5000", "ns/repo/deeper", "repo:x");
        expect_creds(ns, "r.io:5000", "nsx/repo", "alice:s3cret");
        expect_creds(ns, "r.io:5000", NULL, "alice:s3cret");
        expect_creds(ns, "r.io:5000", "", "alice:s3cret");
        expect_creds(ns, "r.io", "ns/repo", NULL); /* another port is another registry */
        expect_creds(ns, "r.io:500", "ns/repo", NULL);
        /* the most specific key decides alone: an unusable one does not fall back */
        expect_creds("{\"auths\":{\"h/ns\":{\"auth\":\"bm9jb2xvbg==\"},"
                     "\"h\":{\"auth\":\"" ALICE "\"}}}",
                     "h", "ns/repo", NULL);
        expect_creds("{\"auths\":{\"h/ns\":{},\"h\":{\"auth\":\"" ALICE "\"}}}", "h", "ns/x", NULL);
        /* URL keys, as docker login writes them, match by host */
        expect_creds("{\"auths\":{\"https://h:1/v1/\":{\"auth\":\"" BOB "\"}}}", "h:1", "a/b",
                     "bob:pw:with:colons");
        expect_creds("{\"auths\":{\"http://127.0.0.1:5000\":{\"auth\":\"" ALICE "\"}}}",
                     "127.0.0.1:5000", NULL, "alice:s3cret");
        /* an exact key wins over a URL key whatever the order; URL keys in file order */
        expect_creds("{\"auths\":{\"https://h\":{\"auth\":\"" ALICE "\"},\"h\":{\"auth\":\"" BOB
                     "\"}}}",
                     "h", NULL, "bob:pw:with:colons");
        expect_creds("{\"auths\":{\"https://h/a\":{\"auth\":\"" ALICE "\"},\"http://h/b\":"
                     "{\"auth\":\"" BOB "\"}}}",
                     "h", NULL, "alice:s3cret");
        /* a plain key is never cut: "h/" and "h/other" are no entry for "h" */
        expect_creds("{\"auths\":{\"h/\":{\"auth\":\"" ALICE "\"}}}", "h", "ns/x", NULL);
        expect_creds("{\"auths\":{\"h/other\":{\"auth\":\"" ALICE "\"}}}", "h", "ns/x", NULL);
        /* a URL key names a host, never a namespace */
        expect_creds("{\"auths\":{\"https://h/ns\":{\"auth\":\"" ALICE "\"}}}", "h", "other/x",
                     "alice:s3cret");
        /* Docker Hub: its names are one registry */
        const char *hub = "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"" ALICE "\"}}}";
        expect_creds(hub, "docker.io", "library/busybox", "alice:s3cret");
        expect_creds(hub, "registry-1.docker.io", NULL, "alice:s3cret");
        expect_creds(hub, "index.docker.io", NULL, "alice:s3cret");
        expect_creds(hub, "quay.io", NULL, NULL);
        expect_creds("{\"auths\":{\"registry-1.docker.io\":{\"auth\":\"" ALICE "\"}}}", "docker.io",
                     "library/busybox", "alice:s3cret");
        expect_creds("{\"auths\":{\"docker.io/library\":{\"auth\":\"" NS
                     "\"},\"docker.io\":{\"auth\":\"" ALICE "\"}}}",
                     "docker.io", "library/busybox", "ns:x");
        /* no auths, other members ignored */
        expect_creds("{}", "h", NULL, NULL);
        expect_creds("{\"credsStore\":\"desktop\",\"HttpHeaders\":{\"X\":\"y\"},"
                     "\"auths\":{\"h\":{\"auth\":\"" ALICE "\",\"email\":\"a@b\"}}}",
                     "h", NULL, "alice:s3cret");
        /* a credential helper for another host is not in the way */
        expect_creds("{\"credHelpers\":{\"other\":\"pass\"},\"auths\":{\"h\":{\"auth\":\"" ALICE
                     "\"}}}",
                     "h", NULL, "alice:s3cret");

        /* legacy ~/.dockercfg: the top level is the auths object, keys are always cut */
        _cleanup_free_ char *l1 =
            parse_flags("{\"https://h:1/v1/\":{\"auth\":\"" BOB "\",\"email\":\"e\"}}", "h:1",
                        "x/y", IT_AUTHFILE_LEGACY);
        assert_string_equal(l1, "bob:pw:with:colons");
        _cleanup_free_ char *l2 =
            parse_flags("{\"h/other\":{\"auth\":\"" BOB "\"}}", "h", "x/y", IT_AUTHFILE_LEGACY);
        assert_string_equal(l2, "bob:pw:with:colons");
        _cleanup_free_ char *l3 = parse_flags("{\"auths\":{\"h\":{\"auth\":\"" BOB "\"}}}", "h",
                                              NULL, IT_AUTHFILE_LEGACY);
        assert_null(l3);
}

static void test_values(void **state)
{
        (void)state;
        /* Go's decoder: line breaks skipped, non-canonical last bits tolerated */
        expect_creds("{\"auths\":{\"h\":{\"auth\":\"YWI6\\nYw==\"}}}", "h", NULL, "ab:c");
        expect_creds("{\"auths\":{\"h\":{\"auth\":\"YWI6Yx==\"}}}", "h", NULL, "ab:c");
        /* skipped entries: empty, no ':', identity token only */
        expect_creds("{\"auths\":{\"h\":{\"auth\":\"\"}}}", "h", NULL, NULL);
        expect_creds("{\"auths\":{\"h\":{}}}", "h", NULL, NULL);
        expect_creds("{\"auths\":{\"h\":{\"auth\":\"YWxpY2U=\"}}}", "h", NULL, NULL);
        expect_creds("{\"auths\":{\"h\":{\"identitytoken\":\"tok\"}}}", "h", NULL, NULL);
        /* with both, the password is used (the token never is) */
        expect_creds("{\"auths\":{\"h\":{\"auth\":\"" ALICE "\",\"identitytoken\":\"t\"}}}", "h",
                     NULL, "alice:s3cret");
        /* an empty user or password is kept; the password loses its NUL padding */
        expect_creds("{\"auths\":{\"h\":{\"auth\":\"dXNlcjo=\"}}}", "h", NULL, "user:");
        expect_creds("{\"auths\":{\"h\":{\"auth\":\"OnB3\"}}}", "h", NULL, ":pw");
        expect_creds("{\"auths\":{\"h\":{\"auth\":\"YTpiAAA=\"}}}", "h", NULL, "a:b");
        expect_creds("{\"auths\":{\"h\":{\"auth\":\"YToAAGI=\"}}}", "h", NULL, "a:b");

        static const struct {
                const char *json, *msg;
                int code;
        } bad[] = {
            {"{\"auths\":{\"h\":{\"auth\":\"YWxpY2U\"}}}",
             "auth.json: .auths.h.auth is not valid base64 (standard, with \"=\" padding)",
             IT_EINPUT},
            {"{\"auths\":{\"h\":{\"auth\":\"YWxp Y2U6\"}}}",
             "auth.json: .auths.h.auth is not valid base64 (standard, with \"=\" padding)",
             IT_EINPUT},
            {"{\"auths\":{\"h\":{\"auth\":\"YQBiOmM=\"}}}", /* "a\0b:c" */
             "auth.json: .auths.h.auth holds a NUL byte in the user name or password", IT_EINPUT},
            {"{\"auths\":{\"h\":{\"auth\":\"YTpiAGM=\"}}}", /* "a:b\0c" */
             "auth.json: .auths.h.auth holds a NUL byte in the user name or password", IT_EINPUT},
            {"{\"auths\":{\"h\":{\"auth\":7}}}", "auth.json: .auths.h.auth is not a string",
             IT_EINPUT},
            {"{\"auths\":{\"h\":{\"auth\":\"" ALICE "\",\"identitytoken\":1}}}",
             "auth.json: .auths.h.identitytoken is not a string", IT_EINPUT},
            {"{\"auths\":{\"h\":\"" ALICE "\"}}", "auth.json: .auths.h is not an object",
             IT_EINPUT},
            {"{\"auths\":{\"https://h/v1/\":[]}}",
             "auth.json: .auths[\"https://h/v1/\"] is not an object", IT_EINPUT},
            {"{\"auths\":[]}", "auth.json: .auths is not an object", IT_EINPUT},
            {"[]", "auth.json: top level is not an object", IT_EINPUT},
            {"{\"credHelpers\":[]}", "auth.json: .credHelpers is not an object", IT_EINPUT},
            {"{\"credHelpers\":{\"h\":1}}", "auth.json: .credHelpers.h is not a string", IT_EINPUT},
            /* an external helper would run a program: not supported here */
            {"{\"credHelpers\":{\"h\":\"secretservice\"},\"auths\":{\"h\":{\"auth\":\"" ALICE
             "\"}}}",
             "auth.json: .credHelpers.h: credential helper \"secretservice\" "
             "(docker-credential-*) is not supported; give the credentials with --creds or as "
             "an \"auths\" entry",
             IT_EUNSUPPORTED},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                _cleanup_free_ char *m = parse_err(bad[i].json, "h", NULL, 0, bad[i].code);
                if (strcmp(m, bad[i].msg) != 0)
                        fail_msg("got  %s\nwant %s", m, bad[i].msg);
        }
        /* strict JSON: duplicates and trailing data; secrets are never shown */
        _cleanup_free_ char *dup =
            parse_err("{\"auths\":{\"h\":{\"auth\":\"" ALICE "\",\"auth\":\"" BOB "\"}}}", "h",
                      NULL, 0, IT_EINPUT);
        assert_non_null(strstr(dup, "auth.json: line 1"));
        assert_non_null(strstr(dup, "duplicate"));
        assert_null(strstr(dup, "alice"));
        _cleanup_free_ char *trail = parse_err("{} x", "h", NULL, 0, IT_EINPUT);
        assert_non_null(strstr(trail, "auth.json: line 1"));
        _cleanup_free_ char *empty = parse_err("", "h", NULL, 0, IT_EINPUT);
        assert_string_equal(empty, "auth.json: empty, expected a JSON document");
        /* hosts */
        _cleanup_free_ char *h1 = parse_err("{}", "", NULL, 0, IT_EINPUT);
        assert_string_equal(h1, "credentials: invalid registry host \"\"");
        _cleanup_free_ char *h2 = parse_err("{}", "a/b", NULL, 0, IT_EINPUT);
        assert_string_equal(h2, "credentials: invalid registry host \"a/b\"");

        /* The stricter reading kept for the lookaside's credentials. */
        const unsigned strict =
            IT_AUTHFILE_STRICT_BASE64 | IT_AUTHFILE_REQUIRE_COLON | IT_AUTHFILE_IGNORE_HELPERS;
        _cleanup_free_ char *s1 =
            parse_err("{\"auths\":{\"h\":{\"auth\":\"YWI6Yx==\"}}}", "h", NULL, strict, IT_EINPUT);
        assert_string_equal(s1, "auth.json: .auths.h.auth is not valid base64 (standard, with "
                                "\"=\" padding)");
        _cleanup_free_ char *s2 =
            parse_err("{\"auths\":{\"h\":{\"auth\":\"YWxpY2U=\"}}}", "h", NULL, strict, IT_EINPUT);
        assert_string_equal(s2, "auth.json: .auths.h.auth does not decode to \"user:password\"");
        _cleanup_free_ char *s3 =
            parse_err("{\"auths\":{\"h\":{\"auth\":\"YTpiAAA=\"}}}", "h", NULL, strict, IT_EINPUT);
        assert_string_equal(s3, "auth.json: .auths.h.auth does not decode to \"user:password\"");
        _cleanup_free_ char *s4 = parse_flags(
            "{\"credHelpers\":{\"h\":\"pass\"},\"auths\":{\"h\":{\"auth\":\"" ALICE "\"}}}", "h",
            NULL, strict);
        assert_string_equal(s4, "alice:s3cret");
}

/* ---- the files searched ---- */

struct env {
        char *top, *run, *cfg, *home, *docker;
        char *primary, *xdg_file, *docker_file, *legacy_file;
};

static void write_file(const char *path, const char *text)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (it_file_replace(path, text, strlen(text), 0600, &err))
                fail_msg("%s", err.msg);
}

static void mk(const char *path)
{
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
                fail_msg("mkdir %s: %s", path, strerror(errno));
}

static void env_init(struct env *e)
{
        char tmpl[] = "/tmp/it-authfile.XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        e->top = xstrdup(tmpl);
        e->run = xasprintf("%s/run", tmpl);
        e->cfg = xasprintf("%s/cfg", tmpl);
        e->home = xasprintf("%s/home", tmpl);
        e->docker = xasprintf("%s/home/.docker", tmpl);
        _cleanup_free_ char *rc = xasprintf("%s/containers", e->run);
        _cleanup_free_ char *cc = xasprintf("%s/containers", e->cfg);
        mk(e->run);
        mk(rc);
        mk(e->cfg);
        mk(cc);
        mk(e->home);
        mk(e->docker);
        e->primary = xasprintf("%s/auth.json", rc);
        e->xdg_file = xasprintf("%s/auth.json", cc);
        e->docker_file = xasprintf("%s/config.json", e->docker);
        e->legacy_file = xasprintf("%s/.dockercfg", e->home);
        setenv("XDG_RUNTIME_DIR", e->run, 1);
        setenv("XDG_CONFIG_HOME", e->cfg, 1);
        setenv("HOME", e->home, 1);
        unsetenv("DOCKER_CONFIG");
        unsetenv("REGISTRY_AUTH_FILE");
}

static void env_free(struct env *e)
{
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", e->top);
        assert_int_equal(system(cmd), 0);
        free(e->top);
        free(e->run);
        free(e->cfg);
        free(e->home);
        free(e->docker);
        free(e->primary);
        free(e->xdg_file);
        free(e->docker_file);
        free(e->legacy_file);
}

static void auth_for(const char *path, const char *host, const char *b64, bool legacy)
{
        _cleanup_free_ char *j =
            legacy ? xasprintf("{\"%s\":{\"auth\":\"%s\"}}", host, b64)
                   : xasprintf("{\"auths\":{\"%s\":{\"auth\":\"%s\"}}}", host, b64);
        write_file(path, j);
}

/* Look up h:1/ns/repo; expect creds (or NULL) from file (or NULL). */
static void expect_lookup(const char *authfile, const char *want, const char *from)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        char *up = NULL, *file = NULL;
        int rc = authfile_lookup("h:1", "ns/repo", authfile, &up, &file, &err);
        if (rc) {
                _cleanup_free_ char *line = it_error_format(&err);
                fail_msg("authfile_lookup: %s", line);
        }
        if (!want) {
                assert_null(up);
                assert_null(file);
                return;
        }
        assert_non_null(up);
        assert_string_equal(up, want);
        assert_string_equal(file, from);
        free(up);
        free(file);
}

static char *lookup_err(const char *authfile, int code)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        char *up = NULL, *file = NULL;
        assert_int_equal(authfile_lookup("h:1", "ns/repo", authfile, &up, &file, &err), code);
        assert_null(up);
        assert_null(file);
        return it_error_format(&err);
}

static void test_sources(void **state)
{
        (void)state;
        struct env e;
        env_init(&e);
        struct it_authfile_sources s = IT_AUTHFILE_SOURCES_INIT;
        authfile_sources(NULL, &s);
        assert_int_equal(s.n, 4);
        assert_string_equal(s.v[0].path, e.primary);
        assert_false(s.v[0].must_exist);
        assert_string_equal(s.v[1].path, e.xdg_file);
        assert_string_equal(s.v[2].path, e.docker_file);
        assert_false(s.v[2].legacy);
        assert_string_equal(s.v[3].path, e.legacy_file);
        assert_true(s.v[3].legacy);
        authfile_sources_free(&s);

        /* explicit file first (must exist), the rest still follows */
        authfile_sources("/x/auth.json", &s);
        assert_int_equal(s.n, 4);
        assert_string_equal(s.v[0].path, "/x/auth.json");
        assert_true(s.v[0].must_exist);
        assert_string_equal(s.v[1].path, e.xdg_file);
        authfile_sources_free(&s);
        setenv("REGISTRY_AUTH_FILE", "/env/auth.json", 1);
        authfile_sources(NULL, &s);
        assert_string_equal(s.v[0].path, "/env/auth.json");
        assert_true(s.v[0].must_exist);
        authfile_sources_free(&s);
        authfile_sources("/x/auth.json", &s); /* the option beats the variable */
        assert_string_equal(s.v[0].path, "/x/auth.json");
        authfile_sources_free(&s);
        unsetenv("REGISTRY_AUTH_FILE");

        /* defaults without the XDG variables; DOCKER_CONFIG */
        unsetenv("XDG_CONFIG_HOME");
        unsetenv("XDG_RUNTIME_DIR");
        setenv("DOCKER_CONFIG", "/dc", 1);
        authfile_sources(NULL, &s);
        assert_int_equal(s.n, 4);
        _cleanup_free_ char *run =
            xasprintf("/run/containers/%lu/auth.json", (unsigned long)getuid());
        assert_string_equal(s.v[0].path, run);
        _cleanup_free_ char *cfg = xasprintf("%s/.config/containers/auth.json", e.home);
        assert_string_equal(s.v[1].path, cfg);
        assert_string_equal(s.v[2].path, "/dc/config.json");
        assert_string_equal(s.v[3].path, e.legacy_file);
        authfile_sources_free(&s);
        unsetenv("DOCKER_CONFIG");
        /* a runtime directory that does not exist is passed over */
        _cleanup_free_ char *gone = xasprintf("%s/gone", e.top);
        setenv("XDG_RUNTIME_DIR", gone, 1);
        authfile_sources(NULL, &s);
        assert_int_equal(s.n, 3);
        assert_string_equal(s.v[0].path, cfg);
        authfile_sources_free(&s);
        env_free(&e);
}

static void test_lookup(void **state)
{
        (void)state;
        struct env e;
        env_init(&e);
        /* nothing anywhere */
        expect_lookup(NULL, NULL, NULL);
        /* each file alone, then the order between them */
        auth_for(e.legacy_file, "https://h:1/v1/", ALICE, true);
        expect_lookup(NULL, "alice:s3cret", e.legacy_file);
        auth_for(e.docker_file, "https://h:1", BOB, false);
        expect_lookup(NULL, "bob:pw:with:colons", e.docker_file);
        auth_for(e.xdg_file, "h:1/ns", NS, false);
        expect_lookup(NULL, "ns:x", e.xdg_file);
        auth_for(e.primary, "h:1", REPO, false);
        expect_lookup(NULL, "repo:x", e.primary);
        /* the first file with usable credentials wins, even against a more specific key */
        auth_for(e.primary, "h:1", "", false);
        expect_lookup(NULL, "ns:x", e.xdg_file);
        auth_for(e.primary, "h:1", "bm9jb2xvbg==", false); /* "nocolon": skipped */
        expect_lookup(NULL, "ns:x", e.xdg_file);
        write_file(e.primary, "{\"auths\":{\"h:1\":{\"identitytoken\":\"t\"}}}");
        expect_lookup(NULL, "ns:x", e.xdg_file);
        auth_for(e.primary, "other", ALICE, false);
        expect_lookup(NULL, "ns:x", e.xdg_file);
        /* DOCKER_CONFIG replaces ~/.docker */
        unlink(e.xdg_file);
        _cleanup_free_ char *dc = xasprintf("%s/dc", e.top);
        mk(dc);
        _cleanup_free_ char *dcf = xasprintf("%s/config.json", dc);
        auth_for(dcf, "h:1", NS, false);
        setenv("DOCKER_CONFIG", dc, 1);
        expect_lookup(NULL, "ns:x", dcf);
        unsetenv("DOCKER_CONFIG");
        expect_lookup(NULL, "bob:pw:with:colons", e.docker_file);

        /* An explicit file must exist; without an entry the search goes on. */
        _cleanup_free_ char *explicit = xasprintf("%s/explicit.json", e.top);
        _cleanup_free_ char *m1 = lookup_err(explicit, IT_EINPUT);
        _cleanup_free_ char *w1 = xasprintf("%s: No such file or directory", explicit);
        assert_string_equal(m1, w1);
        auth_for(explicit, "h:1", ALICE, false);
        expect_lookup(explicit, "alice:s3cret", explicit);
        write_file(explicit, "{\"auths\":{}}");
        expect_lookup(explicit, "bob:pw:with:colons", e.docker_file);
        setenv("REGISTRY_AUTH_FILE", explicit, 1);
        expect_lookup(NULL, "bob:pw:with:colons", e.docker_file);
        unlink(explicit);
        _cleanup_free_ char *m3 = lookup_err(NULL, IT_EINPUT);
        assert_string_equal(m3, w1);
        unsetenv("REGISTRY_AUTH_FILE");

        /* A broken file is an error naming it, not skipped, unless an earlier file answered. */
        write_file(e.primary, "{\"auths\":{\"h:1\":{\"auth\":\"!!\"}}}");
        _cleanup_free_ char *m4 = lookup_err(NULL, IT_EINPUT);
        _cleanup_free_ char *w4 = xasprintf("%s: .auths[\"h:1\"].auth is not valid base64 "
                                            "(standard, with \"=\" padding)",
                                            e.primary);
        assert_string_equal(m4, w4);
        auth_for(e.primary, "h:1", ALICE, false);
        write_file(e.docker_file, "not json");
        expect_lookup(NULL, "alice:s3cret", e.primary);
        unlink(e.primary);
        _cleanup_free_ char *m5 = lookup_err(NULL, IT_EINPUT);
        assert_non_null(strstr(m5, e.docker_file));
        assert_non_null(strstr(m5, "invalid JSON"));
        /* a credential helper entry stops the search with IT_EUNSUPPORTED */
        write_file(e.docker_file, "{\"credHelpers\":{\"h:1\":\"pass\"}}");
        _cleanup_free_ char *m6 = lookup_err(NULL, IT_EUNSUPPORTED);
        assert_non_null(strstr(m6, "credential helper \"pass\""));
        /* a directory where a file is expected */
        unlink(e.docker_file);
        mk(e.docker_file);
        _cleanup_free_ char *m7 = lookup_err(NULL, IT_EINPUT);
        _cleanup_free_ char *w7 = xasprintf("%s: not a regular file", e.docker_file);
        assert_string_equal(m7, w7);
        rmdir(e.docker_file);
        /* bounded */
        {
                FILE *fp = fopen(e.primary, "w");
                assert_non_null(fp);
                assert_int_equal(fseek(fp, IT_AUTHFILE_MAX, SEEK_SET), 0);
                fputc(' ', fp);
                fclose(fp);
        }
        _cleanup_free_ char *m8 = lookup_err(NULL, IT_EINPUT);
        _cleanup_free_ char *w8 = xasprintf("%s: too large (1048577 bytes; at most 1048576 are "
                                            "read)",
                                            e.primary);
        assert_string_equal(m8, w8);
        unlink(e.primary);
        /* from_file may be NULL */
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        char *up = NULL;
        assert_int_equal(authfile_lookup("h:1", NULL, NULL, &up, NULL, &err), 0);
        assert_string_equal(up, "alice:s3cret"); /* the legacy file still has it */
        free(up);
        env_free(&e);
}

static int query(int argc, char **argv)
{
        it_error err = IT_ERROR_INIT;
        char *up = NULL, *file = NULL;
        const char *repo = strcmp(argv[3], "-") ? argv[3] : NULL;
        if (authfile_lookup(argv[2], repo, argc > 4 ? argv[4] : NULL, &up, &file, &err)) {
                it_error_print("test_authfile", &err);
                it_error_clear(&err);
                return 1;
        }
        if (up)
                printf("%s %s\n", up, file);
        else
                printf("none\n");
        free(up);
        free(file);
        return 0;
}

int main(int argc, char **argv)
{
        if ((argc == 4 || argc == 5) && !strcmp(argv[1], "--query"))
                return query(argc, argv);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_base64), cmocka_unit_test(test_keys),
            cmocka_unit_test(test_values), cmocka_unit_test(test_sources),
            cmocka_unit_test(test_lookup),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
