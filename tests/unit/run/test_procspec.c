/* Process spec (imgtrust/procspec.h): image config parsing, podman's command/env/workdir merge
 * (podman pkg/specgen/generate/oci.go makeCommand; pkg/specgenutil parseEnv), and user
 * resolution against a rootfs built in a temporary directory. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/procspec.h"
#include "imgtrust/xalloc.h"

static char *joinv(char **v, size_t n)
{
        struct it_buf b = IT_BUF_INIT;
        for (size_t i = 0; i < n; i++) {
                if (i)
                        it_buf_addch(&b, '|');
                it_buf_adds(&b, v[i]);
        }
        return it_buf_detach(&b);
}

static void load(struct it_procspec *s, const char *json)
{
        it_error err = IT_ERROR_INIT;
        procspec_init(s);
        int r = procspec_from_config(json, strlen(json), s, &err);
        if (r < 0)
                fail_msg("%s", err.msg);
}

/* Table: image Entrypoint/Cmd x --entrypoint x CMD, expected argv as podman's makeCommand gives
 * it ("ERR" = no command). */
static void test_command_table(void **state)
{
        (void)state;
        static const char *const cmdv[] = {"ls", "-l"};
        static const struct {
                const char *config;
                const char *entrypoint;
                int ncmd;
                const char *want;
        } t[] = {
            {"{\"config\":{\"Entrypoint\":[\"/ep\",\"x\"],\"Cmd\":[\"c1\"]}}", NULL, 0, "/ep|x|c1"},
            /* CMD replaces Cmd, keeps Entrypoint */
            {"{\"config\":{\"Entrypoint\":[\"/ep\"],\"Cmd\":[\"c1\"]}}", NULL, 2, "/ep|ls|-l"},
            /* --entrypoint drops the image Cmd */
            {"{\"config\":{\"Entrypoint\":[\"/ep\"],\"Cmd\":[\"c1\"]}}", "/new", 0, "/new"},
            {"{\"config\":{\"Entrypoint\":[\"/ep\"],\"Cmd\":[\"c1\"]}}", "/new", 2, "/new|ls|-l"},
            /* JSON form */
            {"{\"config\":{\"Cmd\":[\"c1\"]}}", "[\"/bin/sh\",\"-c\"]", 0, "/bin/sh|-c"},
            /* --entrypoint "" is [""]: no entrypoint, and (len 1) no image Cmd */
            {"{\"config\":{\"Entrypoint\":[\"/ep\"],\"Cmd\":[\"c1\"]}}", "", 2, "ls|-l"},
            {"{\"config\":{\"Entrypoint\":[\"/ep\"],\"Cmd\":[\"c1\"]}}", "", 0, "ERR"},
            /* --entrypoint '[]': empty list, so the image Cmd stays (len(s.Entrypoint)==0) */
            {"{\"config\":{\"Entrypoint\":[\"/ep\"],\"Cmd\":[\"c1\"]}}", "[]", 0, "c1"},
            /* image entrypoint [""] counts as none */
            {"{\"config\":{\"Entrypoint\":[\"\"],\"Cmd\":[\"c1\"]}}", NULL, 0, "c1"},
            {"{\"config\":{\"Cmd\":[\"c1\",\"c2\"]}}", NULL, 0, "c1|c2"},
            {"{\"config\":{\"Cmd\":[\"c1\"]}}", NULL, 2, "ls|-l"},
            {"{\"config\":{}}", NULL, 0, "ERR"},
            {"{}", NULL, 1, "ls"},
            {"{\"config\":{\"Entrypoint\":null,\"Cmd\":null}}", NULL, 0, "ERR"},
            /* not a JSON array of strings: one word */
            {"{}", "[1]", 0, "[1]"},
        };
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
                struct it_procspec s;
                it_error err = IT_ERROR_INIT;
                load(&s, t[i].config);
                struct it_procspec_opts o = {
                    .entrypoint = t[i].entrypoint, .cmd = cmdv, .ncmd = (size_t)t[i].ncmd};
                int r = procspec_apply_options(&s, &o, &err);
                if (strcmp(t[i].want, "ERR") == 0) {
                        assert_int_equal(r, IT_EINPUT);
                        assert_string_equal(
                            err.msg, "no command: the image has no Entrypoint or Cmd, give one");
                } else {
                        if (r != 0)
                                fail_msg("row %zu: %s", i, err.msg);
                        _cleanup_free_ char *got = joinv(s.argv, s.argc);
                        if (strcmp(got, t[i].want) != 0)
                                fail_msg("row %zu: got %s want %s", i, got, t[i].want);
                        assert_null(s.argv[s.argc]);
                }
                it_error_clear(&err);
                procspec_free(&s);
        }
}

static void test_env(void **state)
{
        (void)state;
        struct it_procspec s;
        it_error err = IT_ERROR_INIT;
        load(&s,
             "{\"config\":{\"Cmd\":[\"x\"],\"Env\":[\"PATH=/img\",\"A=1\",\"B=x=y\",\"A=2\"]}}");
        static const char *const caller[] = {"FROMCALLER=c", "PRE_1=p1", "PRE_2=p2", "NOEQ", NULL};
        static const char *const e[] = {"C=3",   "B=over", "FROMCALLER", "ABSENT",
                                        "PRE_*", " D=4",   "E="};
        struct it_procspec_opts o = {.env = e, .nenv = 7, .caller_env = caller, .hostname = "h1"};
        assert_int_equal(procspec_apply_options(&s, &o, &err), 0);
        _cleanup_free_ char *got = joinv(s.env, s.nenv);
        assert_string_equal(got, "PATH=/img|TERM=xterm|container=imgtrust|A=2|B=over|C=3|"
                                 "FROMCALLER=c|PRE_1=p1|PRE_2=p2|D=4|E=|HOSTNAME=h1");
        assert_string_equal(s.cwd, "/");
        assert_string_equal(s.hostname, "h1");
        assert_int_equal(s.umask, 0022);

        /* HOSTNAME from -e wins. */
        static const char *const e2[] = {"HOSTNAME=mine"};
        struct it_procspec_opts o2 = {.env = e2, .nenv = 1, .hostname = "h1"};
        assert_int_equal(procspec_apply_options(&s, &o2, &err), 0);
        _cleanup_free_ char *got2 = joinv(s.env, s.nenv);
        assert_string_equal(got2,
                            "PATH=/img|TERM=xterm|container=imgtrust|A=2|B=x=y|HOSTNAME=mine");

        static const struct {
                const char *arg, *msg;
        } bad[] = {
            {"=A", "-e \"=A\": invalid environment variable"},
            {"=", "-e \"=\": invalid environment variable"},
            {"A B=1", "-e \"A B=1\": the name has white space in it"},
        };
        for (size_t i = 0; i < 3; i++) {
                struct it_procspec_opts ob = {.env = &bad[i].arg, .nenv = 1};
                assert_int_equal(procspec_apply_options(&s, &ob, &err), IT_EINPUT);
                assert_string_equal(err.msg, bad[i].msg);
                it_error_clear(&err);
        }
        procspec_free(&s);
}

static void test_workdir(void **state)
{
        (void)state;
        struct it_procspec s;
        it_error err = IT_ERROR_INIT;
        load(&s, "{\"config\":{\"Cmd\":[\"x\"],\"WorkingDir\":\"/srv\"}}");
        assert_int_equal(procspec_apply_options(&s, NULL, &err), 0);
        assert_string_equal(s.cwd, "/srv");
        struct it_procspec_opts o = {.workdir = "/w"};
        assert_int_equal(procspec_apply_options(&s, &o, &err), 0);
        assert_string_equal(s.cwd, "/w");
        o.workdir = "rel";
        assert_int_equal(procspec_apply_options(&s, &o, &err), IT_EINPUT);
        assert_string_equal(err.msg, "--workdir \"rel\": not an absolute path");
        it_error_clear(&err);
        procspec_free(&s);
}

static void test_bad_configs(void **state)
{
        (void)state;
        static const struct {
                const char *json, *msg;
        } t[] = {
            {"{\"config\":{\"Env\":[\"A=1\",\"B=2\",\"C=3\",\"NOPE\"]}}",
             "config: config.Env[3]: not KEY=VALUE"},
            {"{\"config\":{\"Env\":[\"=x\"]}}", "config: config.Env[0]: not KEY=VALUE"},
            {"{\"config\":{\"Cmd\":\"ls\"}}",
             "config: config.Cmd: expected an array of strings, got string"},
            {"{\"config\":{\"Entrypoint\":[\"a\",1]}}",
             "config: config.Entrypoint[1]: expected a string, got number"},
            {"{\"config\":{\"WorkingDir\":\"srv\"}}",
             "config: config.WorkingDir: \"srv\" is not an absolute path"},
            {"{\"config\":{\"User\":5}}", "config: config.User: expected a string, got number"},
            {"{\"config\":{\"Cmd\":[\"a\\u0000b\"]}}",
             "config: line 1, column 28: invalid JSON: \\u0000 is not allowed without "
             "JSON_ALLOW_NUL near '\"a\\u0000b\"'"},
            {"{\"config\":[]}", "config: config: expected an object, got array"},
            {"[]", "config: .: expected an object, got array"},
            {"{\"config\":{},\"config\":{}}",
             "config: line 1, column 21: invalid JSON: duplicate object key near '\"config\"'"},
        };
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
                struct it_procspec s;
                it_error err = IT_ERROR_INIT;
                procspec_init(&s);
                assert_int_equal(procspec_from_config(t[i].json, strlen(t[i].json), &s, &err),
                                 IT_EINPUT);
                if (strcmp(err.msg, t[i].msg) != 0)
                        fail_msg("row %zu: got %s", i, err.msg);
                it_error_clear(&err);
                procspec_free(&s);
        }
}

/* ---- users ---- */

static char tmpl[64];

static void put(int dfd, const char *path, const char *text)
{
        int fd = openat(dfd, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
}

static int mkroot(void)
{
        strcpy(tmpl, "/tmp/procspec-XXXXXX");
        assert_non_null(mkdtemp(tmpl));
        int fd = open(tmpl, O_RDONLY | O_DIRECTORY);
        assert_true(fd >= 0);
        assert_int_equal(mkdirat(fd, "etc", 0755), 0);
        return fd;
}

static void rmroot(int fd)
{
        close(fd);
        _cleanup_free_ char *cmd = xasprintf("rm -rf %s", tmpl);
        assert_int_equal(system(cmd), 0);
}

static void resolve_ok(int fd, const char *user, unsigned uid, unsigned gid, const char *groups,
                       const char *home)
{
        struct it_procspec s;
        it_error err = IT_ERROR_INIT;
        load(&s, "{\"config\":{\"Cmd\":[\"x\"]}}");
        assert_int_equal(procspec_apply_options(&s, NULL, &err), 0);
        if (procspec_resolve_user(&s, fd, user, &err) != 0)
                fail_msg("%s: %s", user, err.msg);
        assert_int_equal(s.uid, uid);
        assert_int_equal(s.gid, gid);
        struct it_buf b = IT_BUF_INIT;
        for (size_t i = 0; i < s.ngroups; i++)
                it_buf_addf(&b, "%s%u", i ? "," : "", (unsigned)s.groups[i]);
        assert_string_equal(it_buf_str(&b), groups);
        it_buf_free(&b);
        _cleanup_free_ char *h = xasprintf("HOME=%s", home);
        assert_string_equal(s.env[s.nenv - 1], h);
        procspec_free(&s);
}

static void resolve_err(int fd, const char *user, int code, const char *msg)
{
        struct it_procspec s;
        it_error err = IT_ERROR_INIT;
        load(&s, "{\"config\":{\"Cmd\":[\"x\"]}}");
        assert_int_equal(procspec_apply_options(&s, NULL, &err), 0);
        int r = procspec_resolve_user(&s, fd, user, &err);
        _cleanup_free_ char *m = it_error_format(&err);
        if (r != code || strcmp(m, msg) != 0)
                fail_msg("%s: got %d \"%s\"", user, r, m);
        it_error_clear(&err);
        procspec_free(&s);
}

static void test_users(void **state)
{
        (void)state;
        int fd = mkroot();
        put(fd, "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\n# comment\n\napp:x:1000:1001::/home/app:/bin/sh\n"
            "nohome:x:1002:1002:::\n");
        put(fd, "etc/group",
            "root:x:0:\nwheel:x:10:root,app\napp:x:1001:\naudio:x:29:x,app\n"
            "staff:x:50:app\n");
        resolve_ok(fd, "", 0, 0, "10", "/root");
        resolve_ok(fd, "0", 0, 0, "10", "/root");
        resolve_ok(fd, "app", 1000, 1001, "10,29,50", "/home/app");
        resolve_ok(fd, "1000", 1000, 1001, "10,29,50", "/home/app");
        resolve_ok(fd, "app:audio", 1000, 29, "", "/home/app");
        resolve_ok(fd, "1000:7", 1000, 7, "", "/home/app");
        resolve_ok(fd, "app:50", 1000, 50, "", "/home/app");
        resolve_ok(fd, "4242", 4242, 0, "", "/");
        resolve_ok(fd, "4242:wheel", 4242, 10, "", "/");
        resolve_ok(fd, "nohome", 1002, 1002, "", "/");
        resolve_err(fd, "x", IT_EINPUT, "user \"x\": no such user in the image's /etc/passwd");
        resolve_err(fd, "app:nogroup", IT_EINPUT,
                    "user \"app:nogroup\": group \"nogroup\": no such group in the image's "
                    "/etc/group");
        resolve_err(fd, "app:", IT_EINPUT, "user \"app:\": expected USER[:GROUP]");
        resolve_err(fd, "4294967295", IT_EINPUT, "user \"4294967295\": uid out of range");

        put(fd, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nbroken:x:1\n");
        resolve_err(fd, "0", IT_EINPUT,
                    "user \"0\": /etc/passwd: line 2: expected 7 fields separated by ':'");
        put(fd, "etc/passwd", "a:x:zz:0:::\n");
        resolve_err(fd, "0", IT_EINPUT, "user \"0\": /etc/passwd: line 1: the uid is not a number");

        /* No passwd at all: numeric is fine, a name is not. */
        assert_int_equal(unlinkat(fd, "etc/passwd", 0), 0);
        resolve_ok(fd, "123:45", 123, 45, "", "/");
        resolve_err(fd, "app", IT_EINPUT, "user \"app\": no such user in the image's /etc/passwd");

        /* A symlink pointing out of the rootfs is not followed, even for a numeric user. */
        assert_int_equal(symlinkat("/etc/passwd", fd, "etc/passwd"), 0);
        resolve_err(fd, "root", IT_EINPUT,
                    "user \"root\": /etc/passwd in the image: a symbolic link, not followed: Too "
                    "many levels of symbolic links");
        resolve_err(fd, "0", IT_EINPUT,
                    "user \"0\": /etc/passwd in the image: a symbolic link, not followed: Too many "
                    "levels of symbolic links");
        rmroot(fd);
}

static void test_home_kept(void **state)
{
        (void)state;
        int fd = mkroot();
        put(fd, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
        struct it_procspec s;
        it_error err = IT_ERROR_INIT;
        load(&s, "{\"config\":{\"Cmd\":[\"x\"],\"Env\":[\"HOME=/custom\"],\"User\":\"root\"}}");
        assert_int_equal(procspec_apply_options(&s, NULL, &err), 0);
        assert_true(s.user_given);
        assert_string_equal(s.user, "root");
        assert_int_equal(procspec_resolve_user(&s, fd, NULL, &err), 0);
        _cleanup_free_ char *got = joinv(s.env, s.nenv);
        assert_string_equal(got, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/"
                                 "bin|TERM=xterm|container=imgtrust|HOME=/custom");
        /* --user overrides config.User */
        struct it_procspec_opts o = {.user = "7:8"};
        assert_int_equal(procspec_apply_options(&s, &o, &err), 0);
        assert_string_equal(s.user, "7:8");
        assert_int_equal(procspec_resolve_user(&s, fd, NULL, &err), 0);
        assert_int_equal(s.uid, 7);
        assert_int_equal(s.gid, 8);
        procspec_free(&s);
        rmroot(fd);
}

static void test_bounds_and_files(void **state)
{
        (void)state;
        /* 4097 Cmd entries: one over IT_PROCSPEC_ARGV_MAX. */
        struct it_buf b = IT_BUF_INIT;
        it_buf_adds(&b, "{\"config\":{\"Cmd\":[");
        for (int i = 0; i <= IT_PROCSPEC_ARGV_MAX; i++)
                it_buf_adds(&b, i ? ",\"a\"" : "\"a\"");
        it_buf_adds(&b, "]}}");
        struct it_procspec s;
        it_error err = IT_ERROR_INIT;
        procspec_init(&s);
        assert_int_equal(procspec_from_config(b.data, b.len, &s, &err), IT_EINPUT);
        assert_string_equal(err.msg, "config: config.Cmd: too many entries (4097; at most 4096)");
        it_error_clear(&err);
        procspec_free(&s);
        it_buf_free(&b);

        int fd = mkroot();
        /* A directory where /etc/passwd should be; a symlink even inside the rootfs; a bad
         * /etc/group line. */
        assert_int_equal(mkdirat(fd, "etc/passwd", 0755), 0);
        resolve_err(fd, "0", IT_EINPUT, "user \"0\": /etc/passwd in the image: not a regular file");
        assert_int_equal(unlinkat(fd, "etc/passwd", AT_REMOVEDIR), 0);
        put(fd, "etc/passwd.real", "root:x:0:0:root:/root:/bin/sh\n");
        assert_int_equal(symlinkat("passwd.real", fd, "etc/passwd"), 0);
        resolve_err(fd, "0", IT_EINPUT,
                    "user \"0\": /etc/passwd in the image: a symbolic link, not followed: Too "
                    "many levels of symbolic links");
        assert_int_equal(unlinkat(fd, "etc/passwd", 0), 0);
        put(fd, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
        put(fd, "etc/group", "root:x:0:\nbad:x:\n");
        resolve_err(fd, "root", IT_EINPUT,
                    "user \"root\": /etc/group: line 2: expected 4 fields separated by ':'");
        rmroot(fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_command_table),
            cmocka_unit_test(test_env),
            cmocka_unit_test(test_workdir),
            cmocka_unit_test(test_bad_configs),
            cmocka_unit_test(test_users),
            cmocka_unit_test(test_home_kept),
            cmocka_unit_test(test_bounds_and_files),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
