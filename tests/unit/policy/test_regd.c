/* registries.d: strict YAML reading, merging across files, lookaside selection with per-key
 * fall-through (spec §4.4, §5), podman's STORE column (§7.2) and signature URLs (§4.1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/ref.h"
#include "imgtrust/regd.h"
#include "imgtrust/xalloc.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define D256 "sha256:" HEX64

#define _cleanup_regd_ _cleanup_(regd_free)

static char *fixture(const char *sub)
{
        const char *root = getenv("IMGTRUST_FIXTURES");
        assert_non_null(root);
        return xasprintf("%s/regd/%s", root, sub);
}

static void load_fixture(const char *sub, struct it_regd *r)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *dir = fixture(sub);
        int rc = regd_load_dir(dir, r, &err);
        if (rc)
                fail_msg("%s: unexpected error: %s", sub, err.msg);
}

static int parse(const char *yaml, struct it_regd *r, it_error *err)
{
        return regd_parse(yaml, strlen(yaml), "t.yaml", r, err);
}

static void parse_ok(const char *yaml, struct it_regd *r)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (parse(yaml, r, &err))
                fail_msg("unexpected error: %s\n--- input:\n%s", err.msg, yaml);
}

/* Parsing yaml fails with exactly msg (IT_EINPUT) and leaves the configuration empty. */
static void parse_bad(const char *yaml, const char *msg)
{
        _cleanup_regd_ struct it_regd r = IT_REGD_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = parse(yaml, &r, &err);
        if (rc == 0)
                fail_msg("accepted:\n%s", yaml);
        assert_int_equal(rc, IT_EINPUT);
        _cleanup_free_ char *got = it_error_format(&err);
        if (strcmp(got, msg) != 0)
                fail_msg("input:\n%s\nexpected: %s\n     got: %s", yaml, msg, got);
        assert_false(r.has_default);
        assert_int_equal(r.nscopes, 0);
}

/* The choice for ref in mode: url, and the section that gave it (scope NULL: the built-in
 * default; file is then NULL too, else the file name must end in file_suffix). */
static void expect_choice(const struct it_regd *r, const char *refs, enum it_regd_mode mode,
                          const char *url, const char *scope, const char *key,
                          const char *file_suffix)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref ref = IT_REF_INIT;
        assert_int_equal(ref_parse_normalized(refs, &ref, &err), 0);
        struct it_regd_choice c;
        int rc = regd_lookaside(r, &ref, mode, &c, &err);
        if (rc)
                fail_msg("%s: unexpected error: %s", refs, err.msg);
        _cleanup_free_ char *builtin = regd_builtin_default();
        const char *want = url ? url : builtin;
        if (strcmp(c.url, want) != 0)
                fail_msg("%s (%s): expected %s, got %s", refs,
                         mode == IT_REGD_READ ? "read" : "write", want, c.url);
        if (scope) {
                assert_non_null(c.scope);
                assert_string_equal(c.scope, scope);
                assert_string_equal(c.key, key);
                assert_non_null(c.file);
                size_t fl = strlen(c.file), sl = strlen(file_suffix);
                assert_true(fl >= sl);
                assert_string_equal(c.file + fl - sl, file_suffix);
        } else {
                assert_null(c.scope);
                assert_null(c.key);
                assert_null(c.file);
        }
        regd_choice_free(&c);
        assert_null(c.url);
}

static void expect_choice_error(const struct it_regd *r, const char *refs, enum it_regd_mode mode,
                                const char *msg)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref ref = IT_REF_INIT;
        assert_int_equal(ref_parse_normalized(refs, &ref, &err), 0);
        struct it_regd_choice c;
        assert_int_equal(regd_lookaside(r, &ref, mode, &c, &err), IT_EINPUT);
        assert_null(c.url);
        _cleanup_free_ char *got = it_error_format(&err);
        assert_string_equal(got, msg);
}

/* ---- spec §5.4 example ---- */

static void test_example_table(void **state)
{
        _cleanup_regd_ struct it_regd r = IT_REGD_INIT;
        load_fixture("example", &r);
        assert_true(r.has_default);
        assert_int_equal(r.nscopes, 3);

        expect_choice(&r, "registry.example.com/team/api:1", IT_REGD_READ,
                      "https://team-sigs.example.com/store", "registry.example.com/team",
                      "lookaside", "/example/example.yaml");
        expect_choice(&r, "registry.example.com/team/api:1", IT_REGD_WRITE,
                      "file:///srv/team-staging", "registry.example.com/team", "lookaside-staging",
                      "/example/example.yaml");
        expect_choice(&r, "registry.example.com/other/x:1", IT_REGD_READ,
                      "https://sigs.example.com/store", "registry.example.com", "lookaside",
                      "/example/example.yaml");
        /* The write goes to the http location (and fails there, not here). */
        expect_choice(&r, "registry.example.com/other/x:1", IT_REGD_WRITE,
                      "https://sigs.example.com/store", "registry.example.com", "lookaside",
                      "/example/example.yaml");
        expect_choice(&r, "registry.example.com:5000/x:1", IT_REGD_READ, "file:///srv/local-5000",
                      "registry.example.com:5000", "lookaside", "/example/example.yaml");
        expect_choice(&r, "registry.example.com:5000/x:1", IT_REGD_WRITE, "file:///srv/local-5000",
                      "registry.example.com:5000", "lookaside", "/example/example.yaml");
        expect_choice(&r, "docker.io/library/busybox:latest", IT_REGD_READ, NULL, NULL, NULL, NULL);
        expect_choice(&r, "busybox", IT_REGD_READ, NULL, NULL, NULL, NULL);
        expect_choice(&r, "docker.io/library/busybox:latest", IT_REGD_WRITE,
                      "file:///var/lib/containers/sigstore", "default-docker", "lookaside-staging",
                      "/example/example.yaml");
}

/* ---- per-key fall-through (spec §5.4, code behaviour) ---- */

static void test_fallthrough(void **state)
{
        _cleanup_regd_ struct it_regd r = IT_REGD_INIT;
        parse_ok("default-docker:\n"
                 "  sigstore: https://dd-sigstore\n"
                 "  lookaside-staging: file:///dd-staging\n"
                 "docker:\n"
                 "  reg.test/ns/app:1:\n"
                 "    sigstore-staging: file:///identity-staging\n"
                 "  reg.test/ns/app@" D256 ":\n"
                 "    lookaside: https://by-digest\n"
                 "  reg.test/ns/app:\n"
                 "    use-sigstore-attachments: true\n"
                 "  reg.test/ns:\n"
                 "    sigstore: https://ns-sigstore\n"
                 "    lookaside: https://ns-lookaside\n"
                 "  reg.test:\n"
                 "    lookaside: ''\n"
                 "    sigstore: ~\n"
                 "    lookaside-staging: file:///host-staging\n"
                 "  \"*.test\":\n"
                 "    lookaside: https://wild\n",
                 &r);
        /* identity has only a write key: reads fall through app (nothing) to ns; lookaside
         * beats sigstore within a section. */
        expect_choice(&r, "reg.test/ns/app:1", IT_REGD_READ, "https://ns-lookaside", "reg.test/ns",
                      "lookaside", "t.yaml");
        expect_choice(&r, "reg.test/ns/app:1", IT_REGD_WRITE, "file:///identity-staging",
                      "reg.test/ns/app:1", "sigstore-staging", "t.yaml");
        /* Another tag: the identity section does not apply; for writing, a read key of a more
         * specific section (ns) beats a staging key of a less specific one (host). */
        expect_choice(&r, "reg.test/ns/app:2", IT_REGD_WRITE, "https://ns-lookaside", "reg.test/ns",
                      "lookaside", "t.yaml");
        /* Digest identity. */
        expect_choice(&r, "reg.test/ns/app@" D256, IT_REGD_READ, "https://by-digest",
                      "reg.test/ns/app@" D256, "lookaside", "t.yaml");
        /* host section: '' and ~ are unset, staging only for writes; reads go on to wildcard. */
        expect_choice(&r, "reg.test/other:1", IT_REGD_READ, "https://wild", "*.test", "lookaside",
                      "t.yaml");
        expect_choice(&r, "reg.test/other:1", IT_REGD_WRITE, "file:///host-staging", "reg.test",
                      "lookaside-staging", "t.yaml");
        /* Nothing specific: default-docker's sigstore (read) and staging (write). */
        expect_choice(&r, "quay.io/x/y:1", IT_REGD_READ, "https://dd-sigstore", "default-docker",
                      "sigstore", "t.yaml");
        expect_choice(&r, "quay.io/x/y:1", IT_REGD_WRITE, "file:///dd-staging", "default-docker",
                      "lookaside-staging", "t.yaml");
}

static void test_fallthrough_to_builtin(void **state)
{
        _cleanup_regd_ struct it_regd r = IT_REGD_INIT;
        parse_ok("default-docker:\n"
                 "  lookaside-staging: file:///only-staging\n"
                 "docker:\n"
                 "  reg.test: {}\n"
                 "  reg.test/a:\n",
                 &r);
        assert_int_equal(r.nscopes, 2);
        expect_choice(&r, "reg.test/a:1", IT_REGD_READ, NULL, NULL, NULL, NULL);
        expect_choice(&r, "reg.test/a:1", IT_REGD_WRITE, "file:///only-staging", "default-docker",
                      "lookaside-staging", "t.yaml");
}

static void test_multi_file_merge(void **state)
{
        _cleanup_regd_ struct it_regd r = IT_REGD_INIT;
        load_fixture("split", &r);
        assert_true(r.has_default);
        assert_int_equal(r.nscopes, 2);
        assert_string_equal(r.scopes[0].scope, "registry.example.com/team");
        assert_string_equal(r.scopes[1].scope, "registry.example.com/team/api:1");
        expect_choice(&r, "registry.example.com/team/api:1", IT_REGD_WRITE,
                      "file:///srv/api-1-staging", "registry.example.com/team/api:1",
                      "sigstore-staging", "/split/20-team.yaml");
        expect_choice(&r, "registry.example.com/team/api:1", IT_REGD_READ,
                      "https://default.example/store", "default-docker", "sigstore",
                      "/split/10-default.yaml");
        expect_choice(&r, "registry.example.com/team/api:2", IT_REGD_WRITE,
                      "file:///srv/team-staging", "registry.example.com/team", "lookaside-staging",
                      "/split/20-team.yaml");

        /* File names are the directory joined with one '/', as given otherwise. */
        _cleanup_regd_ struct it_regd r2 = IT_REGD_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *dir = fixture("split");
        _cleanup_free_ char *slash = xasprintf("%s/", dir);
        assert_int_equal(regd_load_dir(slash, &r2, &err), 0);
        assert_string_equal(r2.dir, slash);
        _cleanup_free_ char *want = xasprintf("%s/10-default.yaml", dir);
        assert_string_equal(r2.default_docker.file, want);
}

/* ---- conflicts, file selection, empty configurations ---- */

/* Loading fixture sub fails with code and the message want_fmt (printf-style with %1$s the
 * fixture directory) formats to. */
#define expect_load_error(sub, code, want_fmt)                                                     \
        do {                                                                                       \
                _cleanup_regd_ struct it_regd r_ = IT_REGD_INIT;                                   \
                _cleanup_error_ it_error err_ = IT_ERROR_INIT;                                     \
                _cleanup_free_ char *dir_ = fixture(sub);                                          \
                assert_int_equal(regd_load_dir(dir_, &r_, &err_), code);                           \
                _cleanup_free_ char *got_ = it_error_format(&err_);                                \
                _cleanup_free_ char *want_ = xasprintf(want_fmt, dir_, dir_);                      \
                assert_string_equal(got_, want_);                                                  \
                /* A failed load leaves nothing half-loaded. */                                    \
                assert_null(r_.dir);                                                               \
                assert_false(r_.has_default);                                                      \
                assert_int_equal(r_.nscopes, 0);                                                   \
        } while (0)

static void test_conflicts(void **state)
{
        expect_load_error("conflict-scope", IT_EINPUT,
                          "\"docker\" namespace \"reg.test/app\" defined both in \"%s/a.yaml\" "
                          "and \"%s/b.yaml\"");
        expect_load_error("conflict-default", IT_EINPUT,
                          "\"default-docker\" defined both in \"%s/a.yaml\" and \"%s/b.yaml\"");

        /* The same through regd_parse: the earlier file is kept intact. */
        _cleanup_regd_ struct it_regd r = IT_REGD_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        const char *a = "docker: {x.test: {lookaside: 'https://a'}, y.test: {}}\n";
        const char *b = "docker: {z.test: {}, x.test: {lookaside: 'https://a'}}\n";
        assert_int_equal(regd_parse(a, strlen(a), "first.yaml", &r, &err), 0);
        assert_int_equal(regd_parse(b, strlen(b), "second.yaml", &r, &err), IT_EINPUT);
        _cleanup_free_ char *got = it_error_format(&err);
        assert_string_equal(
            got,
            "\"docker\" namespace \"x.test\" defined both in \"first.yaml\" and \"second.yaml\"");
        assert_int_equal(r.nscopes, 2);
        assert_string_equal(r.scopes[0].scope, "x.test");
        assert_string_equal(r.scopes[1].scope, "y.test");
}

static void test_yml_ignored(void **state)
{
        _cleanup_regd_ struct it_regd r = IT_REGD_INIT;
        load_fixture("yml-ignored", &r);
        /* b.yml and c.yaml.orig would conflict with a.yaml; .hidden.yaml is read, as upstream. */
        assert_true(r.has_default);
        assert_int_equal(r.nscopes, 1);
        assert_string_equal(r.scopes[0].scope, "hidden.test");
        expect_choice(&r, "reg.test/x:1", IT_REGD_READ, "https://from-yaml.example/store",
                      "default-docker", "lookaside", "/yml-ignored/a.yaml");
        expect_choice(&r, "hidden.test/x:1", IT_REGD_READ, "https://hidden.example/store",
                      "hidden.test", "lookaside", "/yml-ignored/.hidden.yaml");
}

static void test_missing_dir(void **state)
{
        _cleanup_regd_ struct it_regd r = IT_REGD_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(regd_load_dir("/nonexistent/registries.d", &r, &err), 0);
        assert_string_equal(r.dir, "/nonexistent/registries.d");
        assert_false(r.has_default);
        assert_int_equal(r.nscopes, 0);
        expect_choice(&r, "busybox", IT_REGD_READ, NULL, NULL, NULL, NULL);
        expect_choice(&r, "busybox", IT_REGD_WRITE, NULL, NULL, NULL, NULL);
        assert_string_equal(regd_podman_store(&r, ""), "");
        assert_string_equal(regd_podman_store(&r, "docker.io"), "");
}

static void test_empty_files(void **state)
{
        /* empty, "{}", "~", comment + "---", and null default-docker/docker. */
        _cleanup_regd_ struct it_regd r = IT_REGD_INIT;
        load_fixture("empty", &r);
        assert_false(r.has_default);
        assert_int_equal(r.nscopes, 0);
        _cleanup_regd_ struct it_regd r2 = IT_REGD_INIT;
        parse_ok("", &r2);
        parse_ok("{}", &r2);
        parse_ok("# nothing\n", &r2);
        parse_ok("---\n...\n", &r2);
        parse_ok("default-docker: null\ndocker: ~\n", &r2);
        assert_false(r2.has_default);
        assert_int_equal(r2.nscopes, 0);
}

static void test_unreadable(void **state)
{
        char tmpl[] = "/tmp/regd-test-XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        _cleanup_free_ char *link = xasprintf("%s/dangling.yaml", tmpl);
        assert_int_equal(symlink("/nonexistent/x.yaml", link), 0);
        _cleanup_regd_ struct it_regd r = IT_REGD_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(regd_load_dir(tmpl, &r, &err), IT_EIO);
        _cleanup_free_ char *got = it_error_format(&err);
        _cleanup_free_ char *want = xasprintf("%s: No such file or directory", link);
        assert_string_equal(got, want);
        unlink(link);

        /* A file where the directory should be cannot be listed. */
        _cleanup_free_ char *file = xasprintf("%s/file", tmpl);
        FILE *f = fopen(file, "w");
        assert_non_null(f);
        fclose(f);
        it_error_clear(&err);
        assert_int_equal(regd_load_dir(file, &r, &err), IT_EIO);
        _cleanup_free_ char *got2 = it_error_format(&err);
        _cleanup_free_ char *want2 = xasprintf("registries.d %s: Not a directory", file);
        assert_string_equal(got2, want2);
        unlink(file);
        assert_int_equal(rmdir(tmpl), 0);
}

/* ---- strict YAML ---- */

static void test_duplicate_keys(void **state)
{
        parse_bad("docker: {}\ndocker: {}\n",
                  "t.yaml: line 2: top level: mapping key \"docker\" already defined at line 1");
        parse_bad("docker:\n  a.test: {}\n  b.test: {}\n  a.test: {}\n",
                  "t.yaml: line 4: docker: mapping key \"a.test\" already defined at line 2");
        parse_bad("default-docker:\n  lookaside: https://a\n  lookaside: https://b\n",
                  "t.yaml: line 3: default-docker: mapping key \"lookaside\" already defined at "
                  "line 2");
        parse_bad("docker:\n  a.test:\n    sigstore: https://a\n    'sigstore': https://b\n",
                  "t.yaml: line 4: docker[\"a.test\"]: mapping key \"sigstore\" already defined "
                  "at line 3");
        /* Also inside values that are otherwise ignored. */
        parse_bad("unknown:\n  x: 1\n  y: [{a: 1, a: 2}]\n",
                  "t.yaml: line 3: \"unknown\": mapping key \"a\" already defined at line 3");
        /* ~ and "" are the same (empty) scope. */
        parse_bad("docker:\n  ~: {}\n  '': {}\n",
                  "t.yaml: line 3: docker: mapping key \"\" already defined at line 2");
}

static void test_wrong_types(void **state)
{
        parse_bad("- a\n- b\n", "t.yaml: the top level must be a YAML mapping");
        parse_bad("just a string\n", "t.yaml: the top level must be a YAML mapping");
        parse_bad("docker: [a]\n", "t.yaml: docker: must be a mapping");
        parse_bad("docker: x\n", "t.yaml: docker: must be a mapping");
        parse_bad("default-docker: [a]\n", "t.yaml: default-docker: must be a mapping");
        parse_bad("docker:\n  reg.test: https://x\n",
                  "t.yaml: docker[\"reg.test\"]: must be a mapping");
        parse_bad("docker:\n  reg.test:\n    lookaside: [https://x]\n",
                  "t.yaml: docker[\"reg.test\"].lookaside: must be a string");
        parse_bad("default-docker:\n  sigstore-staging: {a: b}\n",
                  "t.yaml: default-docker.sigstore-staging: must be a string");
        const char *const bools[] = {"yes", "no",     "on",        "off",    "y",  "1",
                                     "0",   "'true'", "\"false\"", "[true]", "tru"};
        for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
                _cleanup_free_ char *y =
                    xasprintf("docker:\n  a.test:\n    use-sigstore-attachments: %s\n", bools[i]);
                parse_bad(y, "t.yaml: docker[\"a.test\"].use-sigstore-attachments: must be true or "
                             "false");
        }
        parse_bad("docker: {a.test: {lookaside: \"https://x\\0y\"}}\n",
                  "t.yaml: line 1: docker[\"a.test\"].lookaside: contains a NUL character");
        parse_bad("docker:\n  [a, b]: {}\n",
                  "t.yaml: line 2: docker: mapping keys must be scalars");
        /* Known keys in another letter case: upstream matches them case-blind. */
        parse_bad(
            "default-docker:\n  Lookaside: https://x\n",
            "t.yaml: line 2: default-docker: key \"Lookaside\" must be spelled \"lookaside\"");
        parse_bad("Docker: {}\n",
                  "t.yaml: line 1: top level: key \"Docker\" must be spelled \"docker\"");
}

static void test_scalars_as_text(void **state)
{
        /* Any scalar is a string upstream; the URL check comes when it is used. */
        _cleanup_regd_ struct it_regd r = IT_REGD_INIT;
        parse_ok("docker:\n  a.test: {lookaside: 5}\n  b.test: {lookaside: \"https://q\"}\n", &r);
        assert_string_equal(r.scopes[0].sec.lookaside, "5");
        assert_string_equal(r.scopes[1].sec.lookaside, "https://q");
        expect_choice_error(&r, "a.test/x:1", IT_REGD_READ,
                            "t.yaml: docker[\"a.test\"].lookaside: invalid URL \"5\": missing "
                            "scheme (e.g. file:// or https://)");
}

static void test_unknown_keys(void **state)
{
        _cleanup_regd_ struct it_regd r = IT_REGD_INIT;
        parse_ok("version: 2\n"
                 "extra: [1, {a: [b, c]}, ~]\n"
                 "default-docker:\n"
                 "  lookaside: https://x\n"
                 "  future-key: {nested: true}\n"
                 "docker:\n"
                 "  a.test:\n"
                 "    other: 1\n",
                 &r);
        assert_true(r.has_default);
        assert_string_equal(r.default_docker.lookaside, "https://x");
        assert_int_equal(r.nscopes, 1);
}

static void test_aliases_refused(void **state)
{
        parse_bad("default-docker: &x\n  lookaside: https://a\ndocker:\n  reg.test: *x\n",
                  "t.yaml: line 1: YAML anchors are not supported");
        parse_bad("unused: &a [1]\n", "t.yaml: line 1: YAML anchors are not supported");
        parse_bad("a: *x\n", "t.yaml: line 1: YAML aliases are not supported");
        /* Billion laughs stops at the first anchor. */
        parse_bad("a: &a [\"lol\",\"lol\"]\nb: &b [*a,*a]\nc: &c [*b,*b]\n",
                  "t.yaml: line 1: YAML anchors are not supported");
        parse_bad("docker:\n  <<: {a.test: {}}\n",
                  "t.yaml: line 2: docker: YAML merge keys are not supported");
        parse_bad("docker: !!map {}\n", "t.yaml: line 1: YAML tags are not supported");
        parse_bad("default-docker: {lookaside: !!str https://x}\n",
                  "t.yaml: line 1: YAML tags are not supported");
}

static void test_structure_limits(void **state)
{
        parse_bad("docker: {}\n---\ndocker: {}\n", "t.yaml: line 2: more than one YAML document");
        parse_bad("a: [\n", "t.yaml: line 2, column 1: YAML syntax error: while parsing a flow "
                            "node did not find expected node content");
        parse_bad("a: b: c\n", "t.yaml: line 1, column 5: YAML syntax error: mapping values are "
                               "not allowed in this context");
        /* Deep nesting inside an ignored key. */
        char deep[200];
        size_t n = 0;
        n += (size_t)snprintf(deep + n, sizeof deep - n, "x: ");
        for (int i = 0; i < 40; i++)
                deep[n++] = '[';
        for (int i = 0; i < 40; i++)
                deep[n++] = ']';
        deep[n] = '\0';
        parse_bad(deep, "t.yaml: \"x\": nested more than 32 levels deep");

        _cleanup_regd_ struct it_regd r = IT_REGD_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(regd_parse("{}", IT_REGD_FILE_MAX + 1, "big.yaml", &r, &err), IT_EINPUT);
        assert_string_equal(err.msg, "big.yaml: too large (1048577 bytes; at most 1048576)");
}

static void test_many_scopes(void **state)
{
        /* Sorted storage: lookups find each of many scopes, spread over two files. */
        _cleanup_regd_ struct it_regd r = IT_REGD_INIT;
        for (int file = 0; file < 2; file++) {
                struct it_buf b = IT_BUF_INIT;
                it_buf_adds(&b, "docker:\n");
                for (int i = 999; i >= 0; i--)
                        if (i % 2 == file)
                                it_buf_addf(&b, "  r%d.test: {lookaside: 'https://s/%d'}\n", i, i);
                _cleanup_free_ char *y = it_buf_detach(&b);
                _cleanup_free_ char *name = xasprintf("f%d.yaml", file);
                _cleanup_error_ it_error err = IT_ERROR_INIT;
                assert_int_equal(regd_parse(y, strlen(y), name, &r, &err), 0);
        }
        assert_int_equal(r.nscopes, 1000);
        for (size_t i = 1; i < r.nscopes; i++)
                assert_true(strcmp(r.scopes[i - 1].scope, r.scopes[i].scope) < 0);
        for (int i = 0; i < 1000; i += 37) {
                _cleanup_free_ char *ref = xasprintf("r%d.test/x:1", i);
                _cleanup_free_ char *url = xasprintf("https://s/%d", i);
                _cleanup_free_ char *scope = xasprintf("r%d.test", i);
                expect_choice(&r, ref, IT_REGD_READ, url, scope, "lookaside",
                              i % 2 ? "f1.yaml" : "f0.yaml");
        }
}

/* ---- scope matching ---- */

static void test_localhost_and_ports(void **state)
{
        _cleanup_regd_ struct it_regd r = IT_REGD_INIT;
        parse_ok("docker:\n"
                 "  localhost: {lookaside: 'file:///localhost'}\n"
                 "  localhost:5000/ns: {lookaside: 'file:///localhost-5000-ns'}\n"
                 "  registry.example.com: {lookaside: 'file:///no-port'}\n",
                 &r);
        expect_choice(&r, "localhost/x:1", IT_REGD_READ, "file:///localhost", "localhost",
                      "lookaside", "t.yaml");
        expect_choice(&r, "localhost:5000/x:1", IT_REGD_READ, NULL, NULL, NULL, NULL);
        expect_choice(&r, "localhost:5000/ns/x:1", IT_REGD_READ, "file:///localhost-5000-ns",
                      "localhost:5000/ns", "lookaside", "t.yaml");
        expect_choice(&r, "registry.example.com:5000/x:1", IT_REGD_READ, NULL, NULL, NULL, NULL);
        expect_choice(&r, "registry.example.com/x:1", IT_REGD_READ, "file:///no-port",
                      "registry.example.com", "lookaside", "t.yaml");
}

static void test_wildcards(void **state)
{
        _cleanup_regd_ struct it_regd r = IT_REGD_INIT;
        parse_ok("docker:\n"
                 "  '*.example.com': {lookaside: 'https://wild-example'}\n"
                 "  '*.com': {lookaside: 'https://wild-com'}\n"
                 "  '*.b.example.com': {sigstore: 'https://wild-b'}\n",
                 &r);
        expect_choice(&r, "a.example.com/x:1", IT_REGD_READ, "https://wild-example",
                      "*.example.com", "lookaside", "t.yaml");
        /* Wildcards ignore the port. */
        expect_choice(&r, "a.example.com:5000/x:1", IT_REGD_READ, "https://wild-example",
                      "*.example.com", "lookaside", "t.yaml");
        /* Left-to-right order: *.b.example.com before *.example.com. */
        expect_choice(&r, "a.b.example.com/x:1", IT_REGD_READ, "https://wild-b", "*.b.example.com",
                      "sigstore", "t.yaml");
        /* example.com itself only yields *.com. */
        expect_choice(&r, "example.com/x:1", IT_REGD_READ, "https://wild-com", "*.com", "lookaside",
                      "t.yaml");
        expect_choice(&r, "example.org/x:1", IT_REGD_READ, NULL, NULL, NULL, NULL);
}

static bool attachments(const struct it_regd *r, const char *refs)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref ref = IT_REF_INIT;
        assert_int_equal(ref_parse_normalized(refs, &ref, &err), 0);
        return regd_use_sigstore_attachments(r, &ref);
}

static void test_use_sigstore_attachments(void **state)
{
        _cleanup_regd_ struct it_regd none = IT_REGD_INIT;
        parse_ok("docker: {a.test: {lookaside: 'https://x'}}\n", &none);
        assert_false(attachments(&none, "a.test/x:1"));

        _cleanup_regd_ struct it_regd r = IT_REGD_INIT;
        parse_ok("default-docker: {use-sigstore-attachments: True}\n"
                 "docker:\n"
                 "  a.test/ns/x:1: {lookaside: 'https://unset-here'}\n"
                 "  a.test/ns: {use-sigstore-attachments: false}\n"
                 "  a.test/ns/y: {use-sigstore-attachments: TRUE}\n"
                 "  a.test: {use-sigstore-attachments: ~}\n"
                 "  '*.test': {use-sigstore-attachments: FALSE}\n",
                 &r);
        assert_false(attachments(&r, "a.test/ns/x:1"));
        assert_true(attachments(&r, "a.test/ns/y:1"));
        assert_false(attachments(&r, "a.test/other:1"));
        assert_true(attachments(&r, "quay.io/x:1"));

        _cleanup_regd_ struct it_regd split = IT_REGD_INIT;
        load_fixture("split", &split);
        assert_true(attachments(&split, "registry.example.com/team/api:1"));
        assert_false(attachments(&split, "registry.example.com/other:1"));
}

/* ---- URL validation when a value is chosen ---- */

static void test_invalid_urls(void **state)
{
        _cleanup_regd_ struct it_regd r = IT_REGD_INIT;
        parse_ok("default-docker: {lookaside-staging: ':x', lookaside: 'https://ok'}\n"
                 "docker:\n"
                 "  abs.test: {lookaside: /abs/path}\n"
                 "  rel.test: {sigstore: 'relative/path'}\n"
                 "  esc.test: {lookaside: 'https://h/%zz'}\n"
                 "  ctl.test: {lookaside: \"https://h/\\ta\"}\n"
                 "  ok.test: {lookaside: 'HTTPS+x.-y://h/a%20b'}\n",
                 &r);
        expect_choice_error(&r, "abs.test/x:1", IT_REGD_READ,
                            "t.yaml: docker[\"abs.test\"].lookaside: invalid URL \"/abs/path\": "
                            "missing scheme (e.g. file:// or https://)");
        expect_choice_error(&r, "rel.test/x:1", IT_REGD_READ,
                            "t.yaml: docker[\"rel.test\"].sigstore: invalid URL \"relative/path\": "
                            "missing scheme (e.g. file:// or https://)");
        expect_choice_error(&r, "esc.test/x:1", IT_REGD_READ,
                            "t.yaml: docker[\"esc.test\"].lookaside: invalid URL "
                            "\"https://h/%zz\": contains an invalid %-escape");
        expect_choice_error(&r, "ctl.test/x:1", IT_REGD_READ,
                            "t.yaml: docker[\"ctl.test\"].lookaside: invalid URL "
                            "\"https://h/\\x09a\": contains a control character");
        expect_choice(&r, "ok.test/x:1", IT_REGD_READ, "HTTPS+x.-y://h/a%20b", "ok.test",
                      "lookaside", "t.yaml");
        /* Only the chosen value is checked: reading other.test is fine, writing is not. */
        expect_choice(&r, "other.test/x:1", IT_REGD_READ, "https://ok", "default-docker",
                      "lookaside", "t.yaml");
        expect_choice_error(&r, "other.test/x:1", IT_REGD_WRITE,
                            "t.yaml: default-docker.lookaside-staging: invalid URL \":x\": missing "
                            "scheme (e.g. file:// or https://)");
        /* An invalid URL stops the search: no fall-through past it. */
        expect_choice_error(&r, "abs.test/x:1", IT_REGD_WRITE,
                            "t.yaml: docker[\"abs.test\"].lookaside: invalid URL \"/abs/path\": "
                            "missing scheme (e.g. file:// or https://)");
}

/* ---- built-in defaults ---- */

static void test_builtin_defaults(void **state)
{
        _cleanup_free_ char *mine = regd_builtin_default();
        if (geteuid() == 0)
                assert_string_equal(mine, "file:///var/lib/containers/sigstore");

        const struct {
                uid_t uid;
                const char *home, *want;
        } cases[] = {
            {0, "/home/u", "file:///var/lib/containers/sigstore"},
            {0, NULL, "file:///var/lib/containers/sigstore"},
            {1000, "/home/u", "file:///home/u/.local/share/containers/sigstore"},
            {1000, "/home/u/", "file:///home/u/.local/share/containers/sigstore"},
            {1000, "/home//u/./x/..", "file:///home/u/.local/share/containers/sigstore"},
            {1000, "/", "file:///.local/share/containers/sigstore"},
            {1000, "/home/a b%?#é",
             "file:///home/a%20b%25%3F%23%C3%A9/.local/share/containers/"
             "sigstore"},
            {1000, "/h/$&+,:;=@~", "file:///h/$&+,:;=@~/.local/share/containers/sigstore"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                _cleanup_free_ char *got = regd_builtin_default_for(cases[i].uid, cases[i].home);
                assert_string_equal(got, cases[i].want);
        }
        /* No usable $HOME: the passwd entry (nobody's is /nonexistent here), else "/". */
        struct passwd *pw = getpwuid(65534);
        _cleanup_free_ char *want =
            xasprintf("file://%s/.local/share/containers/sigstore",
                      pw && pw->pw_dir[0] == '/' && strcmp(pw->pw_dir, "/") != 0 ? pw->pw_dir : "");
        _cleanup_free_ char *g1 = regd_builtin_default_for(65534, NULL);
        _cleanup_free_ char *g2 = regd_builtin_default_for(65534, "relative/home");
        _cleanup_free_ char *g3 = regd_builtin_default_for(65534, "");
        assert_string_equal(g1, want);
        assert_string_equal(g2, want);
        assert_string_equal(g3, want);
        _cleanup_free_ char *g4 = regd_builtin_default_for(4000000000u, NULL);
        assert_string_equal(g4, "file:///.local/share/containers/sigstore");

        /* regd_builtin_default follows $HOME for non-root only. */
        const char *old = getenv("HOME");
        _cleanup_free_ char *saved = old ? xstrdup(old) : NULL;
        setenv("HOME", "/somewhere/else", 1);
        _cleanup_free_ char *after = regd_builtin_default();
        _cleanup_free_ char *expect = regd_builtin_default_for(geteuid(), "/somewhere/else");
        assert_string_equal(after, expect);
        if (saved)
                setenv("HOME", saved, 1);
        else
                unsetenv("HOME");
}

/* ---- podman's STORE column (verified with podman 4.3.1 `image trust show --registrypath`) ---- */

static void test_podman_store(void **state)
{
        _cleanup_regd_ struct it_regd a = IT_REGD_INIT;
        load_fixture("podman-a", &a);
        const struct {
                const char *scope, *want;
        } ca[] = {
            {"", "https://default-sig"},
            {"a.example.com/x", "https://default-sig"}, /* no wildcards */
            {"docker.io/library/busybox", "https://default-sig"},
            {"localhost:5000/x", "https://default-sig"}, /* no port stripping */
            {"registry.example.com/other", "https://sigs.example.com/store"},
            {"registry.example.com/team/api", ""},   /* found section has no lookaside */
            {"registry.example.com/team/api:1", ""}, /* a tag is not split off */
            {"registry.example.com:5000/x", "file:///srv/local-5000"}, /* sigstore */
        };
        for (size_t i = 0; i < sizeof ca / sizeof ca[0]; i++) {
                const char *got = regd_podman_store(&a, ca[i].scope);
                if (strcmp(got, ca[i].want) != 0)
                        fail_msg("podman-a \"%s\": expected \"%s\", got \"%s\"", ca[i].scope,
                                 ca[i].want, got);
        }

        _cleanup_regd_ struct it_regd b = IT_REGD_INIT;
        load_fixture("podman-b", &b);
        const struct {
                const char *scope, *want;
        } cb[] = {
            {"", "https://dd"}, /* default rows never look up the "" scope */
            {"reg.test/ns/q", "https://ns"},
            {"/reg.test/ns", "https://empty-key"}, /* cut down to "" */
            {"/x", "https://empty-key"},
            {"default", "https://default-key"},
            {"reg.test", "https://dd"},
            {"reg.test/ns/", "https://ns"},
            {"reg.test/ns/app", "https://ns"},
            {"reg.test/ns/app/sub/deeper", "https://sub"},
            {"reg.test/nsx", "https://dd"},
        };
        for (size_t i = 0; i < sizeof cb / sizeof cb[0]; i++) {
                const char *got = regd_podman_store(&b, cb[i].scope);
                if (strcmp(got, cb[i].want) != 0)
                        fail_msg("podman-b \"%s\": expected \"%s\", got \"%s\"", cb[i].scope,
                                 cb[i].want, got);
        }

        _cleanup_regd_ struct it_regd y = IT_REGD_INIT;
        load_fixture("yml-ignored", &y);
        assert_string_equal(regd_podman_store(&y, ""), "https://from-yaml.example/store");
        assert_string_equal(regd_podman_store(&y, "hidden.test/x"), "https://hidden.example/store");
        _cleanup_regd_ struct it_regd s = IT_REGD_INIT;
        load_fixture("split", &s);
        assert_string_equal(regd_podman_store(&s, "registry.example.com/team/api"), "");
        assert_string_equal(regd_podman_store(&s, "reg.test/app"), "https://default.example/store");
}

/* ---- signature URLs (spec §4.1) ---- */

static void expect_url(const char *base, const char *repo, const char *digest, unsigned n,
                       const char *want)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *url = NULL;
        int rc = regd_signature_url(base, repo, digest, n, &url, &err);
        if (rc)
                fail_msg("unexpected error: %s", err.msg);
        assert_string_equal(url, want);
}

static void expect_url_error(const char *repo, const char *digest, unsigned n, const char *msg)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        char *url = (char *)"untouched";
        assert_int_equal(regd_signature_url("https://h/s", repo, digest, n, &url, &err), IT_EINPUT);
        assert_null(url);
        _cleanup_free_ char *got = it_error_format(&err);
        assert_string_equal(got, msg);
}

static void test_signature_url(void **state)
{
        expect_url("https://sigs.example.net/store", "library/busybox", D256, 1,
                   "https://sigs.example.net/store/library/busybox@sha256=" HEX64 "/signature-1");
        expect_url("https://h/lookaside/", "library/busybox", D256, 1,
                   "https://h/lookaside//library/busybox@sha256=" HEX64 "/signature-1");
        expect_url("file:///var/lib/containers/sigstore", "ns/app", D256, 12,
                   "file:///var/lib/containers/sigstore/ns/app@sha256=" HEX64 "/signature-12");
        expect_url("https://h/s?token=1#frag", "a", D256, 3,
                   "https://h/s/a@sha256=" HEX64 "/signature-3?token=1#frag");
        expect_url("https://h", "a/b-c_d.e", "sha512:" HEX64 HEX64, 1,
                   "https://h/a/b-c_d.e@sha512=" HEX64 HEX64 "/signature-1");

        expect_url_error("a", "sha256:../..", 1,
                         "invalid digest \"sha256:../..\": sha256 digest must be 64 lowercase "
                         "hex characters");
        expect_url_error("a", "sha256:" HEX64 "/../x", 1,
                         "invalid digest \"sha256:" HEX64
                         "/../x\": sha256 digest must be 64 lowercase hex characters");
        expect_url_error("a", "md5:d41d8cd98f00b204e9800998ecf8427e", 1,
                         "invalid digest \"md5:d41d8cd98f00b204e9800998ecf8427e\": unsupported "
                         "digest algorithm \"md5\"");
        expect_url_error("a", "", 1, "invalid digest \"\": expected \"algorithm:hex\"");

        const char *const unclean[] = {"",     ".",   "..",  "/a",     "a/",
                                       "a//b", "./a", "a/.", "a/../b", "a/.."};
        for (size_t i = 0; i < sizeof unclean / sizeof unclean[0]; i++) {
                _cleanup_free_ char *msg = xasprintf("unexpected path elements in repository path "
                                                     "\"%s\" for signature storage",
                                                     unclean[i]);
                expect_url_error(unclean[i], D256, 1, msg);
        }
        expect_url_error("a", D256, 0, "signature numbers start at 1");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_example_table),
            cmocka_unit_test(test_fallthrough),
            cmocka_unit_test(test_fallthrough_to_builtin),
            cmocka_unit_test(test_multi_file_merge),
            cmocka_unit_test(test_conflicts),
            cmocka_unit_test(test_yml_ignored),
            cmocka_unit_test(test_missing_dir),
            cmocka_unit_test(test_empty_files),
            cmocka_unit_test(test_unreadable),
            cmocka_unit_test(test_duplicate_keys),
            cmocka_unit_test(test_wrong_types),
            cmocka_unit_test(test_scalars_as_text),
            cmocka_unit_test(test_unknown_keys),
            cmocka_unit_test(test_aliases_refused),
            cmocka_unit_test(test_structure_limits),
            cmocka_unit_test(test_many_scopes),
            cmocka_unit_test(test_localhost_and_ports),
            cmocka_unit_test(test_wildcards),
            cmocka_unit_test(test_use_sigstore_attachments),
            cmocka_unit_test(test_invalid_urls),
            cmocka_unit_test(test_builtin_defaults),
            cmocka_unit_test(test_podman_store),
            cmocka_unit_test(test_signature_url),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
