/* registries.conf (registry/regconf.c) and its TOML reader (registry/toml.c): the TOML subset,
 * V2 and V1 files, containers/image's validation and messages, longest-prefix matching with
 * wildcards, and the locations and merging of the main file and drop-ins, with a temporary
 * directory standing in for / and for $HOME.
 *
 * Run as `test_regconf --query CONF|- ROOT HOME NAME...` it prints, for each NAME, what the
 * configuration says ("NAME blocked PREFIX FILE", "NAME insecure PREFIX FILE", "NAME ok PREFIX"
 * or "NAME none"), for tests/interop/regconf_skopeo.bats to compare with skopeo. */
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

#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/regconf.h"
#include "imgtrust/toml.h"
#include "imgtrust/xalloc.h"

/* ---- helpers ---- */

static struct it_regconf *parse_ok_as(const char *text, bool drop_in)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_regconf *c = NULL;
        int rc = regconf_parse_file_data(text, strlen(text), "t.conf", drop_in, &c, &err);
        if (rc) {
                _cleanup_free_ char *line = it_error_format(&err);
                fail_msg("unexpected error: %s\n--- input:\n%s", line, text);
        }
        assert_non_null(c);
        return c;
}

static struct it_regconf *parse_ok(const char *text)
{
        return parse_ok_as(text, false);
}

static char *parse_err_as(const char *text, bool drop_in, int code)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_regconf *c = NULL;
        int rc = regconf_parse_file_data(text, strlen(text), "t.conf", drop_in, &c, &err);
        if (rc != code)
                fail_msg("expected %d, got %d for:\n%s", code, rc, text);
        assert_null(c);
        return it_error_format(&err);
}

static void expect_err(const char *text, const char *msg)
{
        _cleanup_free_ char *m = parse_err_as(text, false, IT_EINPUT);
        if (strcmp(m, msg) != 0)
                fail_msg("message\n  got:  %s\n  want: %s\n--- input:\n%s", m, msg, text);
}

static void expect_ok(const char *text)
{
        regconf_free(parse_ok(text));
}

static const struct it_regconf_registry *find(const struct it_regconf *c, const char *name)
{
        struct it_regconf_match m;
        return regconf_find(c, name, &m) ? m.registry : NULL;
}

static void write_file(const char *path, const char *text)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (it_file_replace(path, text, strlen(text), 0644, &err))
                fail_msg("%s", err.msg);
}

static void mkdirs(const char *path)
{
        _cleanup_free_ char *p = xstrdup(path);
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, 0755) != 0 && errno != EEXIST)
                        fail_msg("mkdir %s: %s", p, strerror(errno));
                *s = '/';
        }
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
                fail_msg("mkdir %s: %s", p, strerror(errno));
}

static void rm_rf(const char *path)
{
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", path);
        assert_int_equal(system(cmd), 0);
}

/* A temporary tree: T/root/etc/containers and T/home/.config/containers. */
struct tree {
        char *top, *root, *home, *sys_conf, *sys_dir, *user_conf, *user_dir;
};

static void tree_init(struct tree *t)
{
        char tmpl[] = "/tmp/it-regconf.XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        t->top = xstrdup(tmpl);
        t->root = xasprintf("%s/root", tmpl);
        t->home = xasprintf("%s/home", tmpl);
        t->sys_conf = xasprintf("%s/etc/containers/registries.conf", t->root);
        t->sys_dir = xasprintf("%s/etc/containers/registries.conf.d", t->root);
        t->user_conf = xasprintf("%s/.config/containers/registries.conf", t->home);
        t->user_dir = xasprintf("%s/.config/containers/registries.conf.d", t->home);
        mkdirs(t->sys_dir);
        mkdirs(t->user_dir);
        unsetenv("CONTAINERS_REGISTRIES_CONF");
}

static void tree_free(struct tree *t)
{
        rm_rf(t->top);
        free(t->top);
        free(t->root);
        free(t->home);
        free(t->sys_conf);
        free(t->sys_dir);
        free(t->user_conf);
        free(t->user_dir);
}

static void put(const char *dir, const char *name, const char *text)
{
        _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
        write_file(p, text);
}

static struct it_regconf *load_ok(const struct tree *t, const char *path)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_regconf *c = NULL;
        if (regconf_load(path, t->root, t->home, &c, &err)) {
                _cleanup_free_ char *line = it_error_format(&err);
                fail_msg("regconf_load: %s", line);
        }
        return c;
}

static char *load_err(const struct tree *t, const char *path, int code)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_regconf *c = NULL;
        assert_int_equal(regconf_load(path, t->root, t->home, &c, &err), code);
        assert_null(c);
        return it_error_format(&err);
}

/* ---- the TOML subset ---- */

static void test_toml_subset(void **state)
{
        (void)state;
        struct it_toml_doc d = IT_TOML_DOC_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        const char *text = "\xef\xbb\xbf# comment\r\n"
                           "a = \"tab\\there \\\"q\\\" \\\\ \\u00e9 \\U0001F600\" # trailing\n"
                           "b = 'C:\\path\\no escapes'\n"
                           "\"quoted key\" = true\n"
                           "'lit key' = false\n"
                           "c = [ # opening\n"
                           "  \"x\", # one\n"
                           "  'y',\n"
                           "\n"
                           "]\n"
                           "e = []\n"
                           "[ registries . search ]\n"
                           "registries=[\"r\"]\n"
                           "[[registry]]\n"
                           "[[registry.mirror]]\n"
                           "[[registry]]\n"
                           "[\"aliases\"]\n";
        assert_int_equal(it_toml_parse(text, strlen(text), "t", &d, &err), 0);
        assert_int_equal(d.nsections, 6);
        const struct it_toml_section *top = &d.sections[0];
        assert_int_equal(top->npath, 0);
        assert_int_equal(top->nkv, 6);
        assert_string_equal(top->kv[0].key, "a");
        assert_int_equal(top->kv[0].line, 2);
        assert_string_equal(top->kv[0].str, "tab\there \"q\" \\ \xc3\xa9 \xf0\x9f\x98\x80");
        assert_string_equal(top->kv[1].str, "C:\\path\\no escapes");
        assert_string_equal(top->kv[2].key, "quoted key");
        assert_int_equal(top->kv[2].type, IT_TOML_BOOL);
        assert_true(top->kv[2].boolean);
        assert_string_equal(top->kv[3].key, "lit key");
        assert_false(top->kv[3].boolean);
        assert_int_equal(top->kv[4].type, IT_TOML_ARRAY);
        assert_int_equal(top->kv[4].nitems, 2);
        assert_string_equal(top->kv[4].items[0], "x");
        assert_string_equal(top->kv[4].items[1], "y");
        assert_null(top->kv[4].items[2]);
        assert_int_equal(top->kv[5].nitems, 0);
        assert_int_equal(d.sections[1].npath, 2);
        assert_string_equal(d.sections[1].path[0], "registries");
        assert_string_equal(d.sections[1].path[1], "search");
        assert_int_equal(d.sections[1].line, 12);
        assert_true(d.sections[2].array);
        assert_true(d.sections[3].array);
        assert_int_equal(d.sections[3].npath, 2);
        assert_string_equal(d.sections[5].path[0], "aliases");
        _cleanup_free_ char *n1 = it_toml_section_name(&d.sections[3]);
        assert_string_equal(n1, "[[registry.mirror]]");
        _cleanup_free_ char *n0 = it_toml_section_name(&d.sections[0]);
        assert_string_equal(n0, "the top level");
        it_toml_free(&d);

        /* [x.y] in two elements of [[x]] are two tables, as TOML says. */
        const char *t2 = "[[a]]\n[a.b]\nk='1'\n[[a]]\n[a.b]\nk='2'\n";
        assert_int_equal(it_toml_parse(t2, strlen(t2), "t", &d, &err), 0);
        assert_int_equal(d.nsections, 5);
        it_toml_free(&d);
        /* An empty file has just the top level. */
        assert_int_equal(it_toml_parse("", 0, "t", &d, &err), 0);
        assert_int_equal(d.nsections, 1);
        it_toml_free(&d);
}

static void test_toml_errors(void **state)
{
        (void)state;
        static const struct {
                const char *text, *msg;
        } cases[] = {
            {"a = 1\n", "t.conf:1: numbers and dates are not supported here"},
            {"a = -1\n", "t.conf:1: numbers and dates are not supported here"},
            {"a = 1979-05-27\n", "t.conf:1: numbers and dates are not supported here"},
            {"a = inf\n", "t.conf:1: numbers and dates are not supported here"},
            {"a = {x = 'y'}\n", "t.conf:1: inline tables are not supported here"},
            {"a = \"\"\"x\"\"\"\n", "t.conf:1: multi-line strings are not supported here"},
            {"a = '''x'''\n", "t.conf:1: multi-line strings are not supported here"},
            {"a.b = 'x'\n", "t.conf:1: dotted keys are not supported here"},
            {"a = [[ 'x' ]]\n", "t.conf:1: nested arrays are not supported here"},
            {"a = [ true ]\n", "t.conf:1: arrays may only hold strings here"},
            {"a = [ 1 ]\n", "t.conf:1: numbers and dates are not supported here"},
            {"a = [ 'x' 'y' ]\n", "t.conf:1: expected ',' or ']' in the array, found \"'\""},
            {"a = [ 'x',,]\n", "t.conf:1: invalid array element (a string expected)"},
            {"a = [ 'x',\n'y'\n", "t.conf:3: unterminated array (opened at line 1)"},
            {"a = \"abc\nb = 'x'\n", "t.conf:1: unterminated string"},
            {"a = 'abc", "t.conf:1: unterminated string"},
            {"a = \"\\q\"\n", "t.conf:1: invalid escape sequence \\q in string"},
            {"a = \"\\u00e\"\n", "t.conf:1: \\u escape needs 4 hexadecimal digits"},
            {"a = \"\\U0000004\"\n", "t.conf:1: \\U escape needs 8 hexadecimal digits"},
            {"a = \"\\ud800\"\n", "t.conf:1: \\u escape U+D800 is not a Unicode scalar value"},
            {"a = \"\\U00110000\"\n",
             "t.conf:1: \\U escape U+110000 is not a Unicode scalar value"},
            {"a = \"\\u0000\"\n", "t.conf:1: NUL character (\\u0000) not allowed in strings"},
            {"a = truex\n",
             "t.conf:1: invalid value (expected a string, true, false or an array of strings)"},
            {"a = True\n",
             "t.conf:1: invalid value (expected a string, true, false or an array of strings)"},
            {"a =\n", "t.conf:1: missing value after '='"},
            {"a = # c\n", "t.conf:1: missing value after '='"},
            {"a\n", "t.conf:1: expected '=' after the key \"a\""},
            {"= 'x'\n", "t.conf:1: expected a key, found \"=\""},
            {"a = 'x' 'y'\n",
             "t.conf:1: unexpected \"'y'\\x0a\" after the value (one key or header per line)"},
            {"a = 'x'\na = 'y'\n", "t.conf:2: key \"a\" given twice in the top level (first at "
                                   "line 1)"},
            {"a = 'x'\n\"a\" = 'y'\n", "t.conf:2: key \"a\" given twice in the top level (first "
                                       "at line 1)"},
            {"[aliases]\n\n[aliases]\n", "t.conf:3: table [aliases] defined twice (first at "
                                         "line 1)"},
            {"[registry]\n[[registry]]\n", "t.conf:2: [[registry]] conflicts with [registry] at "
                                           "line 1"},
            {"[a\n", "t.conf:1: expected ']' to close the table header"},
            {"[[a]\n", "t.conf:1: expected ']]' to close the table header"},
            {"[[a] ]\n", "t.conf:1: expected ']]' to close the table header"},
            {"[]\n", "t.conf:1: expected a key, found \"]\""},
            {"[a.b.c.d.e.f.g.h.i]\n", "t.conf:1: table header nested deeper than 8 levels"},
            {"[a] b = 'x'\n",
             "t.conf:1: unexpected \"b = 'x'\\x0a\" after the value (one key or header per line)"},
            {"# fine\n\xff\n", "t.conf:2: invalid UTF-8"},
            {"a = '\xc0\xaf'\n", "t.conf:1: invalid UTF-8"},         /* overlong */
            {"a = '\xed\xa0\x80'\n", "t.conf:1: invalid UTF-8"},     /* surrogate */
            {"a = '\xf4\x90\x80\x80'\n", "t.conf:1: invalid UTF-8"}, /* > U+10FFFF */
            {"a = '\xe2\x82'", "t.conf:1: invalid UTF-8"},           /* cut short */
            {"a = 'x'\x01\n", "t.conf:1: control character 0x01 not allowed"},
            {"# x\x7f\n", "t.conf:1: control character 0x7f not allowed"},
            {"\n\na = 'x'\rb = 'y'\n", "t.conf:3: carriage return not followed by a line feed"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
                expect_err(cases[i].text, cases[i].msg);
        /* A NUL byte is a control character too. */
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_regconf *c = NULL;
        assert_int_equal(regconf_parse_file_data("a = 'x'\0", 8, "t.conf", false, &c, &err),
                         IT_EINPUT);
        assert_string_equal(err.msg, "t.conf:1: control character 0x00 not allowed");
        it_error_clear(&err);
        /* Bounded. */
        size_t big = IT_REGCONF_MAX + 1;
        _cleanup_free_ char *huge = xmalloc(big);
        memset(huge, '#', big);
        assert_int_equal(regconf_parse_file_data(huge, big, "t.conf", false, &c, &err), IT_EINPUT);
        assert_string_equal(err.msg, "t.conf: too large (1048577 bytes; at most 1048576 are "
                                     "read)");
}

/* ---- V2 ---- */

static void test_v2_full(void **state)
{
        (void)state;
        struct it_regconf *c =
            parse_ok("unqualified-search-registries = [\"registry.fedoraproject.org\", "
                     "\"quay.io/\", \"localhost:5000\"]\n"
                     "short-name-mode = \"enforcing\"\n"
                     "credential-helpers = [\"containers-auth.json\", \"pass\"]\n"
                     "\n"
                     "[[registry]]\n"
                     "prefix = \"example.com/foo\"\n"
                     "insecure = false\n"
                     "blocked = false\n"
                     "location = \"internal-registry-for-example.com/bar/\"\n"
                     "\n"
                     "[[registry.mirror]]\n"
                     "location = \"example-mirror-0.local/mirror-for-foo\"\n"
                     "\n"
                     "[[registry.mirror]]\n"
                     "location = \"example-mirror-1.local/mirrors/foo\"\n"
                     "insecure = true\n"
                     "pull-from-mirror = \"digest-only\"\n"
                     "\n"
                     "[[registry]]\n"
                     "location = \"registry.com\"\n"
                     "mirror-by-digest-only = true\n"
                     "[[registry.mirror]]\n"
                     "location = \"mirror.registry.com\"\n"
                     "\n"
                     "[[registry]]\n"
                     "prefix = \"*.wild.example\"\n"
                     "insecure = true\n"
                     "\n"
                     "[aliases]\n"
                     "\"fedora\" = \"registry.fedoraproject.org/fedora\"\n"
                     "alpine = \"docker.io/library/alpine\"\n"
                     "gone = \"\"\n");
        assert_int_equal(c->nsearch, 3);
        assert_string_equal(c->search[0], "registry.fedoraproject.org");
        assert_string_equal(c->search[1], "quay.io"); /* trailing '/' removed */
        assert_string_equal(c->search[2], "localhost:5000");
        assert_null(c->search[3]);
        assert_true(c->search_set);
        assert_string_equal(c->search_file, "t.conf");
        assert_int_equal(c->short_name_mode, IT_SHORT_NAME_ENFORCING);
        assert_true(c->short_name_mode_set);
        assert_int_equal(c->ncredential_helpers, 2);
        assert_string_equal(c->credential_helpers[1], "pass");
        /* sorted by prefix: "*." < "e" < "r" */
        assert_int_equal(c->nregistries, 3);
        const struct it_regconf_registry *w = &c->registries[0], *e = &c->registries[1],
                                         *r = &c->registries[2];
        assert_string_equal(w->prefix, "*.wild.example");
        assert_string_equal(w->location, "");
        assert_true(w->insecure);
        assert_int_equal(w->line, 25);
        assert_string_equal(e->prefix, "example.com/foo");
        assert_string_equal(e->location, "internal-registry-for-example.com/bar");
        assert_false(e->insecure);
        assert_false(e->blocked);
        assert_string_equal(e->file, "t.conf");
        assert_int_equal(e->line, 5);
        assert_int_equal(e->nmirrors, 2);
        assert_string_equal(e->mirrors[0].location, "example-mirror-0.local/mirror-for-foo");
        assert_false(e->mirrors[0].insecure);
        assert_int_equal(e->mirrors[0].pull_from_mirror, IT_PULL_FROM_MIRROR_ALL);
        assert_true(e->mirrors[1].insecure);
        assert_int_equal(e->mirrors[1].pull_from_mirror, IT_PULL_FROM_MIRROR_DIGEST_ONLY);
        assert_string_equal(r->prefix, "registry.com"); /* defaults to the location */
        assert_true(r->mirror_by_digest_only);
        assert_int_equal(r->nmirrors, 1);
        /* aliases sorted; "" kept in a single file's result */
        assert_int_equal(c->naliases, 3);
        assert_string_equal(c->aliases[0].name, "alpine");
        assert_string_equal(c->aliases[1].name, "fedora");
        assert_string_equal(c->aliases[1].value, "registry.fedoraproject.org/fedora");
        assert_string_equal(c->aliases[2].value, "");
        assert_string_equal(regconf_alias(c, "alpine"), "docker.io/library/alpine");
        assert_null(regconf_alias(c, "gone"));
        assert_null(regconf_alias(c, "nope"));
        assert_int_equal(c->nfiles, 1);
        assert_string_equal(c->files[0], "t.conf");
        regconf_free(c);

        /* Empty and comment-only files are valid and say nothing. */
        c = parse_ok("# nothing\n\n   # at all\n");
        assert_int_equal(c->nregistries, 0);
        assert_false(c->search_set);
        assert_false(c->credential_helpers_set);
        assert_false(c->short_name_mode_set);
        assert_int_equal(c->short_name_mode, IT_SHORT_NAME_PERMISSIVE);
        regconf_free(c);
        /* pull-from-mirror "all" and "tag-only"; [registries] alone */
        c = parse_ok("[[registry]]\nlocation='a'\n[[registry.mirror]]\nlocation='m'\n"
                     "pull-from-mirror='tag-only'\n[[registry.mirror]]\nlocation='n'\n"
                     "pull-from-mirror='all'\n[registries]\n");
        assert_int_equal(c->registries[0].mirrors[0].pull_from_mirror,
                         IT_PULL_FROM_MIRROR_TAG_ONLY);
        assert_int_equal(c->registries[0].mirrors[1].pull_from_mirror, IT_PULL_FROM_MIRROR_ALL);
        regconf_free(c);
        /* short-name modes */
        c = parse_ok("short-name-mode = 'disabled'\n");
        assert_int_equal(c->short_name_mode, IT_SHORT_NAME_DISABLED);
        regconf_free(c);
        c = parse_ok("short-name-mode = 'permissive'\n");
        assert_int_equal(c->short_name_mode, IT_SHORT_NAME_PERMISSIVE);
        assert_true(c->short_name_mode_set);
        regconf_free(c);
        c = parse_ok("short-name-mode = ''\n");
        assert_false(c->short_name_mode_set);
        regconf_free(c);
}

static void test_v2_duplicates_first_wins(void **state)
{
        (void)state;
        /* Later entries with a prefix already seen in the same file are ignored (upstream). */
        struct it_regconf *c = parse_ok("[[registry]]\nlocation = \"dup.host\"\nblocked = true\n"
                                        "[[registry]]\nprefix = \"dup.host\"\nlocation = "
                                        "\"other.host\"\n");
        assert_int_equal(c->nregistries, 1);
        assert_string_equal(c->registries[0].location, "dup.host");
        assert_true(c->registries[0].blocked);
        regconf_free(c);
        c = parse_ok("[[registry]]\nprefix = \"dup.host\"\nlocation = \"other.host\"\n"
                     "[[registry]]\nlocation = \"dup.host/\"\nblocked = true\n");
        assert_int_equal(c->nregistries, 1);
        assert_string_equal(c->registries[0].location, "other.host");
        assert_false(c->registries[0].blocked);
        regconf_free(c);
        /* The same location under two prefixes with the same settings is fine. */
        c = parse_ok("[[registry]]\nprefix='a.host/x'\nlocation='same.host'\ninsecure=true\n"
                     "[[registry]]\nprefix='b.host'\nlocation='same.host'\ninsecure=true\n");
        assert_int_equal(c->nregistries, 2);
        regconf_free(c);
}

static void test_v2_errors(void **state)
{
        (void)state;
        static const struct {
                const char *text, *msg;
        } cases[] = {
            /* containers/image's own checks and messages */
            {"[[registry]]\nlocation = \"https://example.com\"\n",
             "t.conf:1: invalid location \"https://example.com\": URI schemes are not supported"},
            {"[[registry]]\nprefix = \"http://example.com/\"\nlocation='x'\n",
             "t.conf:1: invalid location \"http://example.com/\": URI schemes are not "
             "supported"},
            {"\n[[registry]]\ninsecure = true\n",
             "t.conf:2: invalid condition: both location and prefix are unset"},
            {"[[registry]]\nlocation = \"/\"\n",
             "t.conf:1: invalid condition: both location and prefix are unset"},
            {"[[registry]]\nprefix = \"np.host\"\n",
             "t.conf:1: invalid condition: location is unset and prefix is not in the format: "
             "*.example.com"},
            {"[[registry]]\nprefix = \"*.wild.com:5000\"\n",
             "t.conf:1: Wildcarded prefix should be in the format: *.example.com. Current prefix "
             "\"*.wild.com:5000\" is incorrectly formatted"},
            {"[[registry]]\nprefix = \"*.wild.com/ns\"\n",
             "t.conf:1: Wildcarded prefix should be in the format: *.example.com. Current prefix "
             "\"*.wild.com/ns\" is incorrectly formatted"},
            {"[[registry]]\nprefix='a.host/x'\nlocation='same.host'\ninsecure=true\n"
             "[[registry]]\nprefix='b.host'\nlocation='same.host/'\n",
             "t.conf:1: registry 'same.host' is defined multiple times with conflicting "
             "'insecure' setting (also at line 5)"},
            {"[[registry]]\nlocation='z.host'\n[[registry]]\nprefix='a.host'\n"
             "location='z.host'\nblocked=true\n",
             "t.conf:1: registry 'z.host' is defined multiple times with conflicting 'blocked' "
             "setting (also at line 3)"},
            {"[[registry]]\nlocation='r'\npull-from-mirror='all'\n",
             "t.conf:1: pull-from-mirror must not be set for a non-mirror registry \"r\""},
            {"[[registry]]\nlocation='pfm.host'\n[[registry.mirror]]\nlocation='m.host'\n"
             "pull-from-mirror='bogus'\n",
             "t.conf:3: unsupported pull-from-mirror value \"bogus\" for mirror \"m.host\""},
            {"[[registry]]\nlocation='r'\nmirror-by-digest-only=true\n[[registry.mirror]]\n"
             "location='m'\npull-from-mirror='tag-only'\n",
             "t.conf:4: cannot set mirror usage mirror-by-digest-only for the registry (\"r\") "
             "and pull-from-mirror for per-mirror (\"m\") at the same time"},
            {"[[registry]]\nlocation='r'\n[[registry.mirror]]\ninsecure=true\n",
             "t.conf:3: invalid condition: mirror location is unset"},
            {"[[registry]]\nlocation='r'\n[[registry.mirror]]\nlocation='https://m'\n",
             "t.conf:3: invalid location \"https://m\": URI schemes are not supported"},
            {"short-name-mode = \"prompt\"\n", "t.conf:1: invalid short-name mode: \"prompt\""},
            {"unqualified-search-registries = [\"ok.io\", \"quay.io/ns\"]\n",
             "t.conf:1: Invalid unqualified-search-registries entry \"quay.io/ns\""},
            {"unqualified-search-registries = [\"-bad.io\"]\n",
             "t.conf:1: Invalid unqualified-search-registries entry \"-bad.io\""},
            {"unqualified-search-registries = [\"a.io:\"]\n",
             "t.conf:1: Invalid unqualified-search-registries entry \"a.io:\""},
            {"unqualified-search-registries = [\"\"]\n",
             "t.conf:1: Invalid unqualified-search-registries entry \"\""},
            {"unqualified-search-registries = [\"https://quay.io\"]\n",
             "t.conf:1: invalid location \"https://quay.io\": URI schemes are not supported"},
            /* what containers/image would silently ignore is refused here */
            {"foo = 'x'\n", "t.conf:1: unknown key \"foo\" in the top level"},
            {"[[registry]]\nlocation='x'\nbar = true\n",
             "t.conf:3: unknown key \"bar\" in [[registry]]"},
            {"[[registry]]\nlocation='x'\n[[registry.mirror]]\nlocation='m'\nblocked=true\n",
             "t.conf:5: unknown key \"blocked\" in [[registry.mirror]]"},
            {"[registries.search]\nlist = ['a']\n",
             "t.conf:2: unknown key \"list\" in [registries.search]"},
            {"[registries]\nsearch = ['a']\n", "t.conf:2: unknown key \"search\" in [registries]"},
            {"[mirrors]\n", "t.conf:1: unknown table [mirrors]"},
            {"[registries.extra]\n", "t.conf:1: unknown table [registries.extra]"},
            {"[aliases.x]\n", "t.conf:1: unknown table [aliases.x]"},
            {"[[registry.mirror.x]]\n", "t.conf:1: unknown table [[registry.mirror.x]]"},
            {"[[registries.search]]\n", "t.conf:1: unknown table [[registries.search]]"},
            {"[registry]\nlocation='x'\n",
             "t.conf:1: registries must be given as [[registry]] tables, not [registry]"},
            {"[[registry]]\nlocation='x'\n[registry.mirror]\nlocation='m'\n",
             "t.conf:3: mirrors must be given as [[registry.mirror]] tables, not "
             "[registry.mirror]"},
            {"[[registry.mirror]]\nlocation='m'\n",
             "t.conf:1: [[registry.mirror]] before any [[registry]]"},
            {"[[aliases]]\n", "t.conf:1: aliases must be an [aliases] table, not [[aliases]]"},
            /* types */
            {"[[registry]]\nlocation='x'\ninsecure='true'\n",
             "t.conf:3: insecure in [[registry]] must be true or false, not a string"},
            {"[[registry]]\nlocation=['x']\n",
             "t.conf:2: location in [[registry]] must be a string, not an array"},
            {"unqualified-search-registries = 'quay.io'\n",
             "t.conf:1: unqualified-search-registries in the top level must be an array of "
             "strings, not a string"},
            {"short-name-mode = true\n",
             "t.conf:1: short-name-mode in the top level must be a string, not a boolean"},
            {"[aliases]\nx = true\n", "t.conf:2: x in [aliases] must be a string, not a boolean"},
            {"[aliases]\n\"a\\nb\" = true\n",
             "t.conf:2: \"a\\x0ab\" in [aliases] must be a string, not a boolean"},
            {"\"a\\tb\" = 'x'\n", "t.conf:1: unknown key \"a\\x09b\" in the top level"},
            {"[registries.block]\nregistries = 'x'\n",
             "t.conf:2: registries in [registries.block] must be an array of strings, not a "
             "string"},
            /* aliases, as containers/image validates them */
            {"[aliases]\n\"example.com/foo\" = \"example.com/foo\"\n",
             "t.conf:2: validating short-name aliases: invalid short name \"example.com/foo\": "
             "must not contain registry"},
            {"[aliases]\n\"localhost/foo\" = \"example.com/foo\"\n",
             "t.conf:2: validating short-name aliases: invalid short name \"localhost/foo\": "
             "must not contain registry"},
            {"[aliases]\n\"foo:tag\" = \"example.com/foo\"\n",
             "t.conf:2: validating short-name aliases: invalid short name \"foo:tag\": must not "
             "contain tag"},
            {"[aliases]\nfoo = \"foo/bar\"\n",
             "t.conf:2: validating short-name aliases: invalid alias \"foo/bar\": must contain "
             "registry and repository"},
            {"[aliases]\nfoo = \"bar\"\n",
             "t.conf:2: validating short-name aliases: invalid alias \"bar\": must contain "
             "registry and repository"},
            {"[aliases]\nfoo = \"example.com/foo:1\"\n",
             "t.conf:2: validating short-name aliases: invalid alias \"example.com/foo:1\": "
             "must not contain tag"},
            {"[aliases]\nfoo = \"example.com/foo@sha256:"
             "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n",
             "t.conf:2: validating short-name aliases: invalid alias \"example.com/foo@sha256:"
             "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\": must not "
             "contain digest"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
                expect_err(cases[i].text, cases[i].msg);
        /* Bad alias syntax is reported through the reference parser. */
        _cleanup_free_ char *m =
            parse_err_as("[aliases]\n\"Foo\" = \"example.com/foo\"\n", false, IT_EINPUT);
        assert_non_null(strstr(m, "t.conf:2: validating short-name aliases: cannot parse short "
                                  "name \"Foo\": "));
        /* Valid aliases: localhost and ports as registries, library images. */
        expect_ok("[aliases]\nfoo = \"localhost/foo\"\nbar = \"h:5000/ns/bar\"\n"
                  "\"ns/baz\" = \"quay.io/ns/baz\"\n");
        /* Upstream accepts a location with '@' and keeps it. */
        struct it_regconf *c = parse_ok("[[registry]]\nlocation = \"john.doe@example.com\"\n");
        assert_string_equal(c->registries[0].prefix, "john.doe@example.com");
        regconf_free(c);
}

/* ---- V1 ---- */

static void test_v1(void **state)
{
        (void)state;
        struct it_regconf *c = parse_ok("[registries.search]\n"
                                        "registries = ['registry-a.com', 'registry-c.com']\n"
                                        "\n"
                                        "[registries.insecure]\n"
                                        "registries = ['registry-b.com/', 'registry-d.com']\n"
                                        "\n"
                                        "[registries.block]\n"
                                        "registries = ['registry-b.com', 'registry-e.com:5000']\n");
        assert_int_equal(c->nsearch, 2);
        assert_string_equal(c->search[1], "registry-c.com");
        assert_true(c->search_set);
        assert_int_equal(c->nregistries, 3);
        const struct it_regconf_registry *b = find(c, "registry-b.com/bar/foo/barfoo");
        assert_non_null(b);
        assert_string_equal(b->prefix, "registry-b.com");
        assert_string_equal(b->location, "registry-b.com");
        assert_true(b->insecure);
        assert_true(b->blocked);
        assert_int_equal(b->line, 8); /* the block list, where it was first named */
        const struct it_regconf_registry *d = find(c, "registry-d.com/x");
        assert_true(d->insecure);
        assert_false(d->blocked);
        assert_int_equal(d->line, 5);
        const struct it_regconf_registry *e = find(c, "registry-e.com:5000/x");
        assert_true(e->blocked);
        assert_null(find(c, "registry-a.com/x")); /* search entries are no [[registry]] */
        regconf_free(c);

        /* Mixing: only lists with content count, on either side (as skopeo 1.9 behaves). */
        static const char *const mixed[] = {
            "short-name-mode = 'permissive'\n[registries.block]\nregistries=['m.host']\n",
            "[aliases]\nfoo = 'docker.io/library/foo'\n[registries.block]\nregistries=['m']\n",
            "[[registry]]\nlocation='x'\n[registries.block]\nregistries=['m.host']\n",
            "unqualified-search-registries = ['a.io']\n[registries.block]\nregistries=['m']\n",
            "credential-helpers = ['pass']\n[registries.search]\nregistries=['m']\n",
        };
        for (size_t i = 0; i < sizeof mixed / sizeof mixed[0]; i++)
                expect_err(mixed[i], "t.conf: mixing sysregistry v1/v2 is not supported");
        static const char *const fine[] = {
            "unqualified-search-registries = []\n[registries.block]\nregistries=['m.host']\n",
            "[aliases]\n[registries.block]\nregistries=['m.host']\n",
            "credential-helpers = []\n[registries.block]\nregistries=['m.host']\n",
            "short-name-mode = ''\n[registries.block]\nregistries=['m.host']\n",
            "[registries.search]\nregistries = []\n[[registry]]\nlocation='x'\nblocked=true\n",
        };
        for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
                c = parse_ok(fine[i]);
                assert_int_equal(c->nregistries, 1);
                assert_true(c->registries[0].blocked);
                regconf_free(c);
        }
        /* V1's search list replaces an empty V2 one, and an empty V1 search list is "set". */
        c = parse_ok("unqualified-search-registries = []\n[registries.search]\n"
                     "registries=['s.io']\n");
        assert_int_equal(c->nsearch, 1);
        assert_string_equal(c->search[0], "s.io");
        regconf_free(c);
        /* A V1 list naming an invalid location fails like the V2 checks. */
        expect_err("[registries.block]\nregistries = ['']\n",
                   "t.conf:2: invalid condition: both location and prefix are unset");
        expect_err("[registries.insecure]\nregistries = ['https://x']\n",
                   "t.conf:2: invalid location \"https://x\": URI schemes are not supported");
        expect_err("[registries.search]\nregistries = ['a/b']\n",
                   "t.conf:2: Invalid unqualified-search-registries entry \"a/b\"");
        /* Drop-ins must be V2; empty V1 lists do not count. */
        _cleanup_free_ char *m =
            parse_err_as("[registries.block]\nregistries=['v1d.host']\n", true, IT_EINPUT);
        assert_string_equal(m, "t.conf: registry must be in v2 format but is in v1");
        c = parse_ok_as("[registries.block]\nregistries=[]\n", true);
        assert_int_equal(c->nregistries, 0);
        regconf_free(c);
}

/* ---- matching ---- */

static void test_find(void **state)
{
        (void)state;
        struct it_regconf *c = parse_ok("[[registry]]\nprefix='simple-prefix.com'\n"
                                        "location='registry.com:5000'\n"
                                        "[[registry]]\nprefix='complex-prefix.com:4000/with/path'\n"
                                        "location='another-registry.com:5000'\n"
                                        "[[registry]]\nlocation='no-prefix.com'\n"
                                        "[[registry]]\nprefix=''\nlocation='empty-prefix.com'\n"
                                        "[[registry]]\nlocation='docker.io/library'\n"
                                        "[[registry]]\nlocation='docker.io'\ninsecure=true\n"
                                        "[[registry]]\nlocation='example.com/foo:bar'\n"
                                        "[[registry]]\nprefix='*.example.org'\nblocked=true\n"
                                        "[[registry]]\nprefix='*.sub.example.org'\n"
                                        "location='mirror.example.net/sub'\n"
                                        "[[registry]]\nlocation='a.example.org'\n");
        struct it_regconf_match m;
        assert_true(regconf_find(c, "simple-prefix.com/foo/bar", &m));
        assert_string_equal(m.prefix, "simple-prefix.com");
        assert_string_equal(m.location, "registry.com:5000");
        assert_string_equal(m.file, "t.conf");
        assert_int_equal(m.match_len, strlen("simple-prefix.com"));
        _cleanup_free_ char *rw = regconf_rewrite(&m, "simple-prefix.com/foo/bar");
        assert_string_equal(rw, "registry.com:5000/foo/bar");
        assert_true(regconf_find(c, "simple-prefix.com", &m));
        assert_true(regconf_find(c, "simple-prefix.com/", &m));
        assert_false(regconf_find(c, "simple-prefix.comx/y", &m));
        assert_null(m.registry);
        assert_null(m.prefix);
        assert_false(m.blocked);
        /* the unintended "example.com" matches "example.com:5000" of upstream, kept */
        assert_true(regconf_find(c, "simple-prefix.com:5000/x", &m));
        assert_string_equal(m.prefix, "simple-prefix.com");
        /* '@' is a separator as well */
        assert_true(regconf_find(c, "no-prefix.com@sha256:00", &m));
        assert_true(regconf_find(c, "complex-prefix.com:4000/with/path/and/beyond", &m));
        assert_string_equal(m.prefix, "complex-prefix.com:4000/with/path");
        _cleanup_free_ char *rw2 = regconf_rewrite(&m, "complex-prefix.com:4000/with/path/x");
        assert_string_equal(rw2, "another-registry.com:5000/x");
        assert_false(regconf_find(c, "complex-prefix.com:4000/with", &m));
        assert_false(regconf_find(c, "complex-prefix.com:4000/with/pathx", &m));
        assert_true(regconf_find(c, "empty-prefix.com/foo", &m));
        assert_string_equal(m.prefix, "empty-prefix.com");
        /* longest prefix wins */
        assert_true(regconf_find(c, "docker.io/library/busybox", &m));
        assert_string_equal(m.prefix, "docker.io/library");
        assert_false(m.insecure);
        assert_true(regconf_find(c, "docker.io/libraryy/busybox", &m));
        assert_string_equal(m.prefix, "docker.io");
        assert_true(m.insecure);
        /* a prefix with a tag only matches that exact image */
        assert_true(regconf_find(c, "example.com/foo:bar", &m));
        assert_false(regconf_find(c, "example.com/foo", &m));
        assert_false(regconf_find(c, "example.com/foo:bar2", &m));
        /* wildcards: any depth of subdomain, never the bare domain, ports allowed after */
        assert_true(regconf_find(c, "x.example.org/ns/app", &m));
        assert_string_equal(m.prefix, "*.example.org");
        assert_true(m.blocked);
        assert_int_equal(m.match_len, strlen("x.example.org"));
        _cleanup_free_ char *rw3 = regconf_rewrite(&m, "x.example.org/ns/app");
        assert_string_equal(rw3, "x.example.org/ns/app"); /* no location: used as is */
        assert_true(regconf_find(c, "deep.er.example.org:5000/app", &m));
        assert_string_equal(m.prefix, "*.example.org");
        assert_true(regconf_find(c, "x.example.org", &m));
        assert_false(regconf_find(c, "example.org/app", &m));
        assert_false(regconf_find(c, "xexample.org/app", &m));
        assert_false(regconf_find(c, "x.example.org.evil.net/app", &m));
        assert_false(regconf_find(c, "evil.net/x.example.org/app", &m));
        /* the longer wildcard wins, and rewrites what it matched */
        assert_true(regconf_find(c, "a.sub.example.org/app", &m));
        assert_string_equal(m.prefix, "*.sub.example.org");
        _cleanup_free_ char *rw4 = regconf_rewrite(&m, "a.sub.example.org/app");
        assert_string_equal(rw4, "mirror.example.net/sub/app");
        /* equal lengths: the first in prefix order, where '*' sorts before letters */
        assert_true(regconf_find(c, "a.example.org/app", &m));
        assert_string_equal(m.prefix, "*.example.org");
        /* no match: the name is used as is */
        assert_false(regconf_find(c, "quay.io/x", &m));
        _cleanup_free_ char *rw5 = regconf_rewrite(&m, "quay.io/x");
        assert_string_equal(rw5, "quay.io/x");
        assert_false(regconf_find(NULL, "quay.io/x", &m));

        /* regconf_check_blocked */
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(regconf_check_blocked(c, "quay.io/x", &err), 0);
        assert_int_equal(regconf_check_blocked(c, "docker.io/library/x", &err), 0);
        assert_int_equal(regconf_check_blocked(c, "b.example.org/x", &err), IT_EINPUT);
        assert_string_equal(err.msg, "registry *.example.org is blocked in t.conf (line 19)");
        regconf_free(c);
}

/* ---- files, directories, merging ---- */

static void test_load_locations(void **state)
{
        (void)state;
        struct tree t;
        tree_init(&t);

        /* Nothing at all: empty, with the default credential helper. */
        struct it_regconf *c = load_ok(&t, NULL);
        assert_int_equal(c->nregistries, 0);
        assert_int_equal(c->nfiles, 0);
        assert_int_equal(c->ncredential_helpers, 1);
        assert_string_equal(c->credential_helpers[0], "containers-auth.json");
        assert_int_equal(c->short_name_mode, IT_SHORT_NAME_PERMISSIVE);
        regconf_free(c);

        /* The system file, then system drop-ins in name order, then the user's drop-ins. */
        write_file(t.sys_conf, "unqualified-search-registries = ['sys.io']\n"
                               "[[registry]]\nlocation = 'blocked.host'\nblocked = true\n"
                               "[[registry]]\nlocation = 'p.host'\nblocked = true\n"
                               "[aliases]\nfoo = 'sys.io/foo'\nbar = 'sys.io/bar'\n");
        put(t.sys_dir, "20-b.conf", "[[registry]]\nlocation = 'twenty.host'\nblocked = true\n");
        put(t.sys_dir, "10-a.conf",
            "short-name-mode = 'disabled'\n"
            "[[registry]]\nlocation = 'twenty.host'\ninsecure = true\n"
            "[[registry]]\nprefix = 'p.host'\nlocation = 'p2.host'\n");
        put(t.sys_dir, "30.conf.bak", "this is = not read");
        put(t.sys_dir, ".hidden.conf", "credential-helpers = ['secretservice']\n");
        _cleanup_free_ char *subdir = xasprintf("%s/sub.conf", t.sys_dir);
        mkdirs(subdir);
        put(subdir, "x.conf", "[[registry]]\nlocation='s.host'\nblocked=true\n");
        _cleanup_free_ char *dangling = xasprintf("%s/40-gone.conf", t.sys_dir);
        assert_int_equal(symlink("/nonexistent/it-regconf", dangling), 0);
        put(t.user_dir, "10-a.conf",
            "unqualified-search-registries = []\n"
            "[aliases]\nbar = ''\nbaz = 'user.io/baz'\n");
        put(t.user_dir, "50-user.conf", "[[registry]]\nlocation = 'user.host'\ninsecure = true\n");
        c = load_ok(&t, NULL);
        assert_int_equal(c->nfiles, 6);
        assert_string_equal(c->files[0], t.sys_conf);
        _cleanup_free_ char *f1 = xasprintf("%s/.hidden.conf", t.sys_dir);
        _cleanup_free_ char *f2 = xasprintf("%s/10-a.conf", t.sys_dir);
        _cleanup_free_ char *f3 = xasprintf("%s/20-b.conf", t.sys_dir);
        _cleanup_free_ char *f4 = xasprintf("%s/10-a.conf", t.user_dir);
        _cleanup_free_ char *f5 = xasprintf("%s/50-user.conf", t.user_dir);
        assert_string_equal(c->files[1], f1);
        assert_string_equal(c->files[2], f2);
        assert_string_equal(c->files[3], f3);
        assert_string_equal(c->files[4], f4); /* the user's file of the same name is read too */
        assert_string_equal(c->files[5], f5);
        assert_null(c->files[6]);
        /* same prefix: the later file's entry replaces the earlier one entirely */
        struct it_regconf_match m;
        assert_true(regconf_find(c, "twenty.host/x", &m));
        assert_true(m.blocked);
        assert_false(m.insecure);
        assert_string_equal(m.file, f3);
        assert_true(regconf_find(c, "p.host/x", &m));
        assert_false(m.blocked);
        assert_string_equal(m.location, "p2.host");
        assert_true(regconf_find(c, "blocked.host/x", &m));
        assert_true(m.blocked);
        assert_string_equal(m.file, t.sys_conf);
        assert_int_equal(m.registry->line, 2);
        assert_true(regconf_find(c, "user.host/x", &m));
        assert_true(m.insecure);
        assert_false(regconf_find(c, "s.host/x", &m)); /* directories are not read */
        /* an explicitly empty list replaces; settings given keep their last value */
        assert_int_equal(c->nsearch, 0);
        assert_true(c->search_set);
        assert_string_equal(c->search_file, f4);
        assert_int_equal(c->short_name_mode, IT_SHORT_NAME_DISABLED);
        assert_int_equal(c->ncredential_helpers, 1);
        assert_string_equal(c->credential_helpers[0], "secretservice");
        /* aliases merged, "" erases */
        assert_int_equal(c->naliases, 2);
        assert_string_equal(regconf_alias(c, "foo"), "sys.io/foo");
        assert_null(regconf_alias(c, "bar"));
        assert_string_equal(regconf_alias(c, "baz"), "user.io/baz");
        assert_string_equal(c->aliases[0].file, f4);
        /* the registries stay sorted by prefix */
        for (size_t i = 1; i < c->nregistries; i++)
                assert_true(strcmp(c->registries[i - 1].prefix, c->registries[i].prefix) < 0);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(regconf_check_blocked(c, "twenty.host/app", &err), IT_EINPUT);
        _cleanup_free_ char *want = xasprintf("registry twenty.host is blocked in %s (line 1)", f3);
        assert_string_equal(err.msg, want);
        regconf_free(c);

        /* The user's registries.conf replaces the system file and hides the system drop-ins. */
        write_file(t.user_conf, "[[registry]]\nlocation = 'mine.host'\nblocked = true\n");
        c = load_ok(&t, NULL);
        assert_int_equal(c->nfiles, 3);
        assert_string_equal(c->files[0], t.user_conf);
        assert_string_equal(c->files[1], f4);
        assert_string_equal(c->files[2], f5);
        assert_false(regconf_find(c, "blocked.host/x", &m));
        assert_false(regconf_find(c, "twenty.host/x", &m));
        assert_true(regconf_find(c, "mine.host/x", &m));
        assert_true(m.blocked);
        assert_string_equal(m.file, t.user_conf);
        assert_int_equal(c->ncredential_helpers, 1);
        assert_string_equal(c->credential_helpers[0], "containers-auth.json");
        regconf_free(c);

        /* An explicit file replaces the main file only: both drop-in directories are read. */
        _cleanup_free_ char *explicit = xasprintf("%s/explicit.conf", t.top);
        write_file(explicit, "[[registry]]\nlocation = 'exp.host'\nblocked = true\n");
        c = load_ok(&t, explicit);
        assert_int_equal(c->nfiles, 6);
        assert_string_equal(c->files[0], explicit);
        assert_string_equal(c->files[1], f1);
        assert_true(regconf_find(c, "exp.host/x", &m));
        assert_true(regconf_find(c, "twenty.host/x", &m));
        assert_false(regconf_find(c, "mine.host/x", &m));
        regconf_free(c);
        /* ... and so does $CONTAINERS_REGISTRIES_CONF (podman's variable). */
        setenv("CONTAINERS_REGISTRIES_CONF", explicit, 1);
        c = load_ok(&t, NULL);
        assert_string_equal(c->files[0], explicit);
        regconf_free(c);
        /* A missing explicit file is an error, a missing default one is not. */
        _cleanup_free_ char *missing = xasprintf("%s/missing.conf", t.top);
        setenv("CONTAINERS_REGISTRIES_CONF", missing, 1);
        _cleanup_free_ char *m1 = load_err(&t, NULL, IT_EIO);
        _cleanup_free_ char *w1 = xasprintf("reading registries configuration: %s: No such file "
                                            "or directory",
                                            missing);
        assert_string_equal(m1, w1);
        unsetenv("CONTAINERS_REGISTRIES_CONF");
        _cleanup_free_ char *m2 = load_err(&t, missing, IT_EIO);
        assert_string_equal(m2, w1);
        unlink(t.user_conf);
        unlink(t.sys_conf);
        c = load_ok(&t, NULL);
        assert_int_equal(c->nfiles, 5); /* drop-ins only */
        regconf_free(c);
        tree_free(&t);
}

static void test_load_errors(void **state)
{
        (void)state;
        struct tree t;
        tree_init(&t);
        /* A bad drop-in is an error naming it and the line, not skipped. */
        put(t.sys_dir, "10-ok.conf", "[[registry]]\nlocation = 'ok.host'\n");
        put(t.sys_dir, "20-bad.conf", "# comment\n[[registry]]\nlocation = 'x'\ninsecure = 1\n");
        _cleanup_free_ char *m1 = load_err(&t, NULL, IT_EINPUT);
        _cleanup_free_ char *w1 =
            xasprintf("%s/20-bad.conf:4: numbers and dates are not supported here", t.sys_dir);
        assert_string_equal(m1, w1);
        /* V1 in a drop-in */
        put(t.sys_dir, "20-bad.conf", "[registries.block]\nregistries = ['v1d.host']\n");
        _cleanup_free_ char *m2 = load_err(&t, NULL, IT_EINPUT);
        _cleanup_free_ char *w2 =
            xasprintf("%s/20-bad.conf: registry must be in v2 format but is in v1", t.sys_dir);
        assert_string_equal(m2, w2);
        /* V1 in the main file is fine, and drop-ins still merge over it. */
        put(t.sys_dir, "20-bad.conf", "[[registry]]\nlocation = 'v1.host'\n");
        write_file(t.sys_conf, "[registries.block]\nregistries = ['v1.host', 'v1b.host']\n");
        struct it_regconf *c = load_ok(&t, NULL);
        struct it_regconf_match m;
        assert_true(regconf_find(c, "v1b.host/x", &m));
        assert_true(m.blocked);
        assert_true(regconf_find(c, "v1.host/x", &m));
        assert_false(m.blocked); /* replaced by the drop-in's entry */
        regconf_free(c);
        /* A drop-in that is a symlink to a directory fails as upstream's read does. */
        _cleanup_free_ char *link = xasprintf("%s/30-dir.conf", t.sys_dir);
        assert_int_equal(symlink(t.user_dir, link), 0);
        _cleanup_free_ char *m3 = load_err(&t, NULL, IT_EINPUT);
        _cleanup_free_ char *w3 =
            xasprintf("reading drop-in registries configuration: %s: not a regular file", link);
        assert_string_equal(m3, w3);
        unlink(link);
        /* A registries.conf.d that is a file holds no drop-ins (filepath.WalkDir). */
        rm_rf(t.user_dir);
        write_file(t.user_dir, "not a directory");
        c = load_ok(&t, NULL);
        assert_int_equal(c->nfiles, 3);
        regconf_free(c);
        /* Too many drop-ins */
        rm_rf(t.sys_dir);
        mkdirs(t.sys_dir);
        for (int i = 0; i <= IT_REGCONF_MAX_DROPINS; i++) {
                /* fopen, not it_file_replace: a thousand fsyncs are slow */
                _cleanup_free_ char *name = xasprintf("%s/%04d.conf", t.sys_dir, i);
                FILE *fp = fopen(name, "w");
                assert_non_null(fp);
                fclose(fp);
        }
        _cleanup_free_ char *m4 = load_err(&t, NULL, IT_EINPUT);
        _cleanup_free_ char *w4 = xasprintf("%s: more than 1024 drop-in files; refusing to read "
                                            "them",
                                            t.sys_dir);
        assert_string_equal(m4, w4);
        tree_free(&t);
}

/* ---- query mode for the interop test ---- */

static int query(int argc, char **argv)
{
        if (argc < 6) {
                fprintf(stderr, "usage: %s --query CONF|- ROOT HOME NAME...\n", argv[0]);
                return 2;
        }
        it_error err = IT_ERROR_INIT;
        struct it_regconf *c = NULL;
        const char *conf = strcmp(argv[2], "-") ? argv[2] : NULL;
        if (regconf_load(conf, argv[3], argv[4], &c, &err)) {
                it_error_print("test_regconf", &err);
                it_error_clear(&err);
                return 1;
        }
        for (int i = 5; i < argc; i++) {
                struct it_regconf_match m;
                if (!regconf_find(c, argv[i], &m))
                        printf("%s none\n", argv[i]);
                else if (m.blocked)
                        printf("%s blocked %s %s\n", argv[i], m.prefix, m.file);
                else if (m.insecure)
                        printf("%s insecure %s %s\n", argv[i], m.prefix, m.file);
                else
                        printf("%s ok %s\n", argv[i], m.prefix);
        }
        regconf_free(c);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc > 1 && !strcmp(argv[1], "--query"))
                return query(argc, argv);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_toml_subset), cmocka_unit_test(test_toml_errors),
            cmocka_unit_test(test_v2_full),     cmocka_unit_test(test_v2_duplicates_first_wins),
            cmocka_unit_test(test_v2_errors),   cmocka_unit_test(test_v1),
            cmocka_unit_test(test_find),        cmocka_unit_test(test_load_locations),
            cmocka_unit_test(test_load_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
