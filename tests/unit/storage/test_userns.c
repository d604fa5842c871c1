/* Subordinate ID files, podman's mapping, the range error, and the user-namespace helper
 * (imgtrust/userns.h).
 *
 * The newuidmap path needs an unprivileged user with a range. As root the test makes one without
 * touching the host's files: a child process enters a private mount namespace, bind-mounts a
 * passwd with an extra user and its own /etc/subuid and /etc/subgid over the real ones (the setuid
 * helpers read those), and becomes that user. Everything goes away with the child.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/store.h"
#include "imgtrust/strv.h"
#include "imgtrust/userns.h"
#include "imgtrust/xalloc.h"

#define TEST_UID 61234u
#define SUB_START 200000u

static char *write_tmp(const char *content)
{
        char *path = xstrdup("/tmp/it-subid-XXXXXX");
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(it_write_all(fd, content, strlen(content)), 0);
        close(fd);
        return path;
}

static void test_parse_good(void **state)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *p = write_tmp("# comment\n"
                                           "tuser:100000:65536\n"
                                           "\n"
                                           "1001:300000:1000\n"
                                           "other:200000:65536\n"
                                           "tuser:500000:10"); /* no final newline */
        struct it_subid_range r[8];
        size_t n = 99;
        assert_int_equal(userns_subid_parse(p, "tuser", 1001, r, 8, &n, &err), 0);
        assert_int_equal(n, 3);
        assert_int_equal(r[0].start, 100000);
        assert_int_equal(r[0].count, 65536);
        assert_int_equal(r[1].start, 300000);
        assert_int_equal(r[1].count, 1000);
        assert_int_equal(r[2].start, 500000);
        assert_int_equal(r[2].count, 10);
        /* By uid only (no passwd entry). */
        assert_int_equal(userns_subid_parse(p, NULL, 1001, r, 8, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_int_equal(r[0].start, 300000);
        /* By name only. */
        assert_int_equal(userns_subid_parse(p, "other", 2000, r, 8, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_int_equal(r[0].start, 200000);
        /* Nobody: no ranges; a missing file is no ranges either. */
        assert_int_equal(userns_subid_parse(p, "nobody", 65534, r, 8, &n, &err), 0);
        assert_int_equal(n, 0);
        assert_int_equal(userns_subid_parse("/nonexistent/subuid", "tuser", 1001, r, 8, &n, &err),
                         0);
        assert_int_equal(n, 0);
        assert_int_equal(err.code, 0);
        /* The upper edge of the ID space is allowed. */
        _cleanup_free_ char *edge = write_tmp("tuser:4294967295:1\n");
        assert_int_equal(userns_subid_parse(edge, "tuser", 1001, r, 8, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_int_equal(r[0].start, 4294967295u);
        unlink(p);
        unlink(edge);
}

static void expect_bad(const char *content, const char *msg_after_path)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *p = write_tmp(content);
        struct it_subid_range r[2];
        size_t n;
        assert_int_equal(userns_subid_parse(p, "tuser", 1001, r, 2, &n, &err), IT_EINPUT);
        _cleanup_free_ char *got = it_error_format(&err);
        _cleanup_free_ char *want = xasprintf("%s%s", p, msg_after_path);
        assert_string_equal(got, want);
        unlink(p);
}

static void test_parse_bad(void **state)
{
        expect_bad("tuser:100000\n", ":1: expected NAME:START:COUNT, got \"tuser:100000\"");
        expect_bad("ok:1:1\ntuser:1:2:3\n", ":2: expected NAME:START:COUNT, got \"tuser:1:2:3\"");
        expect_bad(":1:2\n", ":1: expected NAME:START:COUNT, got \":1:2\"");
        expect_bad("tuser:-1:5\n", ":1: expected NAME:START:COUNT, got \"tuser:-1:5\"");
        expect_bad("tuser: 1:5\n", ":1: expected NAME:START:COUNT, got \"tuser: 1:5\"");
        expect_bad("tu ser:1:5\n", ":1: expected NAME:START:COUNT, got \"tu ser:1:5\"");
        expect_bad("tuser:1:5\r\n", ":1: expected NAME:START:COUNT, got \"tuser:1:5\\x0d\"");
        expect_bad("tuser:99999999999:1\n",
                   ":1: expected NAME:START:COUNT, got \"tuser:99999999999:1\"");
        expect_bad("#x\ntuser:1:0\n", ":2: range 1+0 is empty or past the 32-bit ID space");
        expect_bad("tuser:4294967295:2\n",
                   ":1: range 4294967295+2 is empty or past the 32-bit ID space");
        /* A bad line of another user is still refused: the file is wrong. */
        expect_bad("other:x:1\n", ":1: expected NAME:START:COUNT, got \"other:x:1\"");
        /* Bounded: more ranges than the caller has room for. */
        expect_bad("tuser:1:1\ntuser:10:1\ntuser:20:1\n", ":3: more than 2 ranges for one user");

        /* Bounded: size. */
        size_t big = IT_SUBID_FILE_MAX + 1;
        char *huge = xmalloc(big + 1);
        memset(huge, '#', big);
        huge[big] = '\0';
        _cleanup_free_ char *p = write_tmp(huge);
        free(huge);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_subid_range r[2];
        size_t n;
        assert_int_equal(userns_subid_parse(p, "tuser", 1001, r, 2, &n, &err), IT_EINPUT);
        _cleanup_free_ char *got = it_error_format(&err);
        assert_non_null(strstr(got, "too large"));
        unlink(p);
}

static void test_mapping(void **state)
{
        struct it_subid_range ur[2] = {{100000, 65536}, {300000, 1000}};
        struct it_subid_range gr[1] = {{100000, 65536}};
        struct it_idmap m;
        userns_idmap_build(1001, 1002, "tuser", ur, 2, gr, 1, &m);
        assert_false(m.single_id);
        assert_int_equal(m.nuid, 3);
        assert_int_equal(m.uid[0].container_id, 0);
        assert_int_equal(m.uid[0].host_id, 1001);
        assert_int_equal(m.uid[0].size, 1);
        assert_int_equal(m.uid[1].container_id, 1);
        assert_int_equal(m.uid[1].host_id, 100000);
        assert_int_equal(m.uid[1].size, 65536);
        assert_int_equal(m.uid[2].container_id, 65537);
        assert_int_equal(m.uid[2].host_id, 300000);
        assert_int_equal(m.uid[2].size, 1000);
        assert_int_equal(m.ngid, 2);
        assert_int_equal(m.gid[0].host_id, 1002);
        assert_int_equal(userns_idmap_span(&m, false), 66537);
        assert_int_equal(userns_idmap_span(&m, true), 65537);
        uint32_t h;
        assert_true(userns_idmap_to_host(&m, false, 0, &h));
        assert_int_equal(h, 1001);
        assert_true(userns_idmap_to_host(&m, false, 1, &h));
        assert_int_equal(h, 100000);
        assert_true(userns_idmap_to_host(&m, false, 1000, &h)); /* spec §3.3: 1000 -> 100999 */
        assert_int_equal(h, 100999);
        assert_true(userns_idmap_to_host(&m, false, 65537, &h));
        assert_int_equal(h, 300000);
        assert_false(userns_idmap_to_host(&m, false, 66537, &h));
        assert_false(userns_idmap_to_host(&m, true, 65537, &h));

        /* No gid range: the single-ID fallback for both sides. */
        userns_idmap_build(1001, 1001, "tuser", ur, 2, NULL, 0, &m);
        assert_true(m.single_id);
        assert_int_equal(m.nuid, 1);
        assert_int_equal(m.ngid, 1);
        assert_int_equal(userns_idmap_span(&m, false), 1);
        assert_false(userns_idmap_to_host(&m, false, 1, &h));

        /* Root: the whole ID space as itself. */
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(userns_idmap_for_user("/nonexistent", "/nonexistent", 0, &m, &err), 0);
        assert_false(m.single_id);
        assert_int_equal(m.nuid, 1);
        assert_int_equal(m.uid[0].size, UINT32_MAX);
        assert_true(userns_idmap_to_host(&m, false, 70000, &h));
        assert_int_equal(h, 70000);

        /* A user from a given file, by uid (no passwd entry for this one). */
        _cleanup_free_ char *su = write_tmp("61234:100000:65536\n");
        struct passwd *pw = getpwuid(TEST_UID);
        if (!pw) {
                assert_int_equal(userns_idmap_for_user(su, su, TEST_UID, &m, &err), 0);
                assert_false(m.single_id);
                assert_string_equal(m.user, "");
                assert_int_equal(m.uid[1].host_id, 100000);
                assert_int_equal(m.gid[1].size, 65536);
        }
        unlink(su);
}

static void test_range_error(void **state)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_subid_range r[2] = {{100000, 65536}, {300000, 1000}};
        struct it_idmap m;
        userns_idmap_build(1001, 1001, "tuser", r, 1, r, 1, &m);
        assert_int_equal(userns_range_error(&err, &m, false, 70000, "etc/x"), IT_EINPUT);
        _cleanup_free_ char *a = it_error_format(&err);
        assert_string_equal(a, "layer entry \"etc/x\": needs uid 70000 but the user namespace maps "
                               "uids 0-65536 (65537 IDs): in /etc/subuid, change "
                               "\"tuser:100000:65536\" to \"tuser:100000:70000\"");
        /* Check the advice: with that line, 70000 is mapped. */
        struct it_subid_range fixed = {100000, 70000};
        struct it_idmap m2;
        userns_idmap_build(1001, 1001, "tuser", &fixed, 1, &fixed, 1, &m2);
        uint32_t h;
        assert_true(userns_idmap_to_host(&m2, false, 70000, &h));
        assert_false(userns_idmap_to_host(&m2, false, 70001, &h));

        /* Two ranges: the last one grows by the shortfall. */
        userns_idmap_build(1001, 1001, "tuser", r, 2, r, 2, &m);
        it_error_clear(&err);
        userns_range_error(&err, &m, true, 70000, NULL);
        _cleanup_free_ char *b = it_error_format(&err);
        assert_string_equal(b, "needs gid 70000 but the user namespace maps gids 0-66536 (66537 "
                               "IDs): in /etc/subgid, change \"tuser:300000:1000\" to "
                               "\"tuser:300000:4464\"");
        /* No range at all, user known only by uid. */
        userns_idmap_build(1001, 1001, NULL, NULL, 0, NULL, 0, &m);
        it_error_clear(&err);
        userns_range_error(&err, &m, false, 5, "usr/bin/x");
        _cleanup_free_ char *c = it_error_format(&err);
        assert_string_equal(c, "layer entry \"usr/bin/x\": needs uid 5 but the user namespace maps "
                               "uids 0-0 (1 IDs): no subordinate uids for 1001: add the line "
                               "\"1001:100000:65536\" to /etc/subuid");
}

/* ---- spawning ---- */

struct probe {
        const char *dir;
        uid_t chown_to;
        const char *setgroups; /* expected /proc/self/setgroups, or NULL */
};

/* Runs as "root" in the namespace: reports through its exit status what it saw. */
static int probe_fn(void *arg)
{
        const struct probe *p = arg;
        if (getuid() != 0 || geteuid() != 0)
                return 10;
        if (getgid() != 0)
                return 11;
        if (p->setgroups) {
                char buf[32] = "";
                int sfd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
                ssize_t n = sfd >= 0 ? read(sfd, buf, sizeof buf - 1) : -1;
                if (sfd >= 0)
                        close(sfd);
                if (n < 0 || strcmp(buf, p->setgroups) != 0)
                        return 15;
        }
        char path[512];
        snprintf(path, sizeof path, "%s/f", p->dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
                return 12;
        close(fd);
        if (chown(path, p->chown_to, p->chown_to) != 0)
                return errno == EINVAL ? 13 : 14;
        return 0;
}

static char *make_dir(void)
{
        char *d = xstrdup("/tmp/it-userns-XXXXXX");
        assert_non_null(mkdtemp(d));
        assert_int_equal(chmod(d, 0777), 0);
        return d;
}

static void rm_dir(const char *d)
{
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", d);
        assert_int_equal(system(cmd), 0);
}

static void test_spawn_status(void **state)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_idmap m;
        assert_int_equal(userns_idmap_for_user(NULL, NULL, geteuid(), &m, &err), 0);
        _cleanup_free_ char *d = make_dir();
        struct probe p = {d, 0, NULL};
        pid_t pid;
        assert_int_equal(userns_spawn(&m, probe_fn, &p, &pid, &err), 0);
        int status = -1;
        assert_int_equal(userns_wait(pid, &status, &err), 0);
        assert_int_equal(status, 0);
        rm_dir(d);
}

static int run_fail_fn(void *arg, it_error *err)
{
        int *shared = arg;
        *shared = (int)getuid() + 1; /* 1: root inside */
        it_error_set(err, IT_EINPUT, "entry %s: bad", "x");
        it_error_wrap(err, "layer %d", 7);
        it_error_detail(err, "first detail");
        it_error_detail(err, "second detail");
        err->sys_errno = ENOENT;
        return IT_EINPUT;
}

static int run_ok_fn(void *arg, it_error *err)
{
        (void)arg;
        (void)err;
        return 0;
}

static int run_kill_fn(void *arg, it_error *err)
{
        (void)arg;
        (void)err;
        raise(SIGKILL);
        return 0;
}

/* userns_run: fn's code, main line, details and errno come back; a killed child is IT_EIO; shared
 * memory carries results. */
static void test_run(void **state)
{
        (void)state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_idmap m;
        assert_int_equal(userns_idmap_for_user(NULL, NULL, geteuid(), &m, &err), 0);
        int *shared = userns_shared_alloc(sizeof *shared);
        assert_int_equal(userns_run(&m, 0, run_fail_fn, shared, &err), IT_EINPUT);
        assert_int_equal(*shared, 1);
        _cleanup_free_ char *line = it_error_format(&err);
        assert_string_equal(line, "layer 7: entry x: bad");
        assert_int_equal(err.ndetails, 2);
        assert_string_equal(err.details[0], "first detail");
        assert_string_equal(err.details[1], "second detail");
        assert_int_equal(err.sys_errno, ENOENT);
        it_error_clear(&err);
        assert_int_equal(userns_run(&m, USERNS_NEWNS, run_ok_fn, NULL, &err), 0);
        assert_int_equal(err.code, 0);
        assert_int_equal(userns_run(&m, 0, run_kill_fn, NULL, &err), IT_EIO);
        _cleanup_free_ char *k = it_error_format(&err);
        assert_non_null(strstr(k, "was killed (signal 9, Killed)"));
        userns_shared_free(shared, sizeof *shared);
}

/* Root writes any map itself: container 1 -> host SUB_START without a helper. */
static void test_spawn_root_direct(void **state)
{
        if (geteuid() != 0) {
                print_message("skipped: only root writes a multi-line map without newuidmap\n");
                skip();
                return;
        }
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_subid_range r = {SUB_START, 65536};
        struct it_idmap m;
        userns_idmap_build(0, 0, "root", &r, 1, &r, 1, &m);
        _cleanup_free_ char *d = make_dir();
        struct probe p = {d, 1, NULL};
        pid_t pid;
        assert_int_equal(userns_spawn_flags(&m, USERNS_NEWNS, probe_fn, &p, &pid, &err), 0);
        int status = -1;
        assert_int_equal(userns_wait(pid, &status, &err), 0);
        assert_int_equal(status, 0);
        _cleanup_free_ char *f = xasprintf("%s/f", d);
        struct stat sb;
        assert_int_equal(stat(f, &sb), 0);
        assert_int_equal(sb.st_uid, SUB_START);
        assert_int_equal(sb.st_gid, SUB_START);
        rm_dir(d);
}

/* In a child: become TEST_UID with `subid` as /etc/subuid and /etc/subgid (root: private mount
 * namespace and bind mounts). Returns NULL when done, or why it could not. */
static const char *become_test_user(const char *subid)
{
        if (unshare(CLONE_NEWNS) != 0)
                return "unshare(CLONE_NEWNS)";
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
                return "make / private";
        char *passwd = NULL;
        size_t plen;
        it_error e = IT_ERROR_INIT;
        if (it_file_read("/etc/passwd", 1 << 20, &passwd, &plen, &e) != 0)
                return "read /etc/passwd";
        struct it_buf b = IT_BUF_INIT;
        it_buf_adds(&b, passwd);
        if (plen && passwd[plen - 1] != '\n')
                it_buf_addch(&b, '\n');
        it_buf_addf(&b, "itusernstest:x:%u:%u::/nonexistent:/usr/sbin/nologin\n", TEST_UID,
                    TEST_UID);
        char *pw = write_tmp(it_buf_str(&b));
        char *sub = write_tmp(subid);
        chmod(pw, 0644);
        chmod(sub, 0644);
        if (mount(pw, "/etc/passwd", NULL, MS_BIND, NULL) != 0 ||
            mount(sub, "/etc/subuid", NULL, MS_BIND, NULL) != 0 ||
            mount(sub, "/etc/subgid", NULL, MS_BIND, NULL) != 0)
                return "bind mounts over /etc";
        /* The mounts hold the files; the names can go now. */
        unlink(pw);
        unlink(sub);
        if (setgroups(0, NULL) != 0 || setresgid(TEST_UID, TEST_UID, TEST_UID) != 0 ||
            setresuid(TEST_UID, TEST_UID, TEST_UID) != 0)
                return "become the test user";
        /* Changing uid made us non-dumpable, which makes /proc/PID root's: a real user's
         * process is dumpable. */
        if (prctl(PR_SET_DUMPABLE, 1) != 0)
                return "PR_SET_DUMPABLE";
        return NULL;
}

/* Run body in a forked child; its message ("ok" or what failed) comes back. */
static void run_child(const char *(*body)(void *), void *arg, char out[512])
{
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(p[0]);
                const char *r = body(arg);
                if (write(p[1], r, strlen(r)) < 0)
                        _exit(2);
                _exit(0);
        }
        close(p[1]);
        size_t n = 0;
        ssize_t r;
        while (n < 511 && (r = read(p[0], out + n, 511 - n)) > 0)
                n += (size_t)r;
        out[n] = '\0';
        close(p[0]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
}

static char child_msg[512];

static const char *fmt_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *fmt_msg(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(child_msg, sizeof child_msg, fmt, ap);
        va_end(ap);
        return child_msg;
}

/* The full rootless path: a user with a range, newuidmap/newgidmap, chown 1 -> range start. */
static const char *full_path_body(void *arg)
{
        const char *dir = arg;
        if (geteuid() == 0) {
                const char *why = become_test_user("itusernstest:"
                                                   "200000"
                                                   ":65536\n");
                if (why)
                        return fmt_msg("setup: %s: %s", why, strerror(errno));
        }
        it_error e = IT_ERROR_INIT;
        struct it_idmap m;
        if (userns_idmap_for_user(NULL, NULL, geteuid(), &m, &e) != 0)
                return fmt_msg("idmap: %s", it_error_format(&e));
        if (m.single_id)
                return "no subordinate range";
        uint32_t start = m.uid[1].host_id;
        struct probe p = {dir, 1, NULL};
        pid_t pid;
        if (userns_spawn(&m, probe_fn, &p, &pid, &e) != 0)
                return fmt_msg("spawn: %s", it_error_format(&e));
        int status;
        if (userns_wait(pid, &status, &e) != 0 || status != 0)
                return fmt_msg("probe exit status %d", status);
        char path[512];
        snprintf(path, sizeof path, "%s/f", dir);
        struct stat sb;
        if (stat(path, &sb) != 0)
                return "no file";
        if (sb.st_uid != start || sb.st_gid != m.gid[1].host_id)
                return fmt_msg("owner %u:%u, expected %u", (unsigned)sb.st_uid, (unsigned)sb.st_gid,
                               start);
        if (geteuid() != TEST_UID)
                return "ok";
        /* A range the user was not granted: the helper's refusal is the message. */
        struct it_subid_range bad = {900000, 10};
        struct it_idmap m2;
        userns_idmap_build(TEST_UID, TEST_UID, "itusernstest", &bad, 1, &bad, 1, &m2);
        if (userns_spawn(&m2, probe_fn, &p, &pid, &e) == 0)
                return "spawn with an ungranted range succeeded";
        char *msg = it_error_format(&e);
        /* The pid varies: compare around it. */
        if (strncmp(msg, "newgidmap ", 10) != 0 ||
            !strstr(msg, " 0 61234 1 1 900000 10 failed (status 1): \"newgidmap: gid range "
                         "[1-11) -> [900000-900010) not allowed") ||
            strchr(msg, '\n'))
                return fmt_msg("unexpected refusal: %s", msg);
        return "ok";
}

static void test_spawn_newuidmap(void **state)
{
        if (geteuid() == 0 && getpwuid(TEST_UID)) {
                print_message("skipped: uid %u exists on this host\n", TEST_UID);
                skip();
                return;
        }
        if (geteuid() != 0) {
                _cleanup_error_ it_error err = IT_ERROR_INIT;
                struct it_idmap m;
                assert_int_equal(userns_idmap_for_user(NULL, NULL, geteuid(), &m, &err), 0);
                if (m.single_id) {
                        print_message("skipped: no /etc/subuid and /etc/subgid range for uid %u\n",
                                      (unsigned)geteuid());
                        skip();
                        return;
                }
        }
        _cleanup_free_ char *d = make_dir();
        char msg[512];
        run_child(full_path_body, d, msg);
        assert_string_equal(msg, "ok");
        rm_dir(d);
}

/* No range: the single-ID fallback (setgroups deny, one line written directly). */
static const char *single_body(void *arg)
{
        const char *dir = arg;
        if (geteuid() == 0) {
                const char *why = become_test_user("someoneelse:100000:65536\n");
                if (why)
                        return fmt_msg("setup: %s: %s", why, strerror(errno));
        }
        it_error e = IT_ERROR_INIT;
        struct it_idmap m;
        if (userns_idmap_for_user(NULL, NULL, geteuid(), &m, &e) != 0)
                return fmt_msg("idmap: %s", it_error_format(&e));
        if (!m.single_id)
                return "expected the single-ID fallback";
        struct probe p = {dir, 1, "deny\n"};
        pid_t pid;
        if (userns_spawn(&m, probe_fn, &p, &pid, &e) != 0)
                return fmt_msg("spawn: %s", it_error_format(&e));
        int status;
        if (userns_wait(pid, &status, &e) != 0)
                return "wait";
        if (status != 13) /* created the file, but chown to 1 is EINVAL: 1 is not mapped */
                return fmt_msg("probe exit status %d, expected 13", status);
        char path[512];
        snprintf(path, sizeof path, "%s/f", dir);
        struct stat sb;
        if (stat(path, &sb) != 0 || sb.st_uid != geteuid())
                return "file not owned by the user";
        return "ok";
}

static void test_spawn_single_id(void **state)
{
        if (geteuid() == 0 && getpwuid(TEST_UID)) {
                skip();
                return;
        }
        if (geteuid() != 0) {
                _cleanup_error_ it_error err = IT_ERROR_INIT;
                struct it_idmap m;
                assert_int_equal(userns_idmap_for_user(NULL, NULL, geteuid(), &m, &err), 0);
                if (!m.single_id) {
                        print_message("skipped: this user has a range\n");
                        skip();
                        return;
                }
        }
        _cleanup_free_ char *d = make_dir();
        char msg[512];
        run_child(single_body, d, msg);
        assert_string_equal(msg, "ok");
        rm_dir(d);
}

/* Files of subordinate IDs in a layer: outside the namespace gc takes the layer out of layers/
 * but cannot delete its files (the header says so); store_recover() inside the namespace does. */
static int unpack_fn(void *arg)
{
        int dfd = *(int *)arg;
        if (mkdirat(dfd, "d", 0755) != 0)
                return 20;
        int fd = openat(dfd, "d/f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return 21;
        close(fd);
        if (fchownat(dfd, "d/f", 1, 1, AT_SYMLINK_NOFOLLOW) != 0 ||
            fchownat(dfd, "d", 1, 1, AT_SYMLINK_NOFOLLOW) != 0 || fchmodat(dfd, "d", 0555, 0) != 0)
                return 22;
        return 0;
}

static int recover_fn(void *arg)
{
        it_error e = IT_ERROR_INIT;
        size_t n = 0;
        int rc = store_recover(arg, &n, &e);
        it_error_clear(&e);
        return rc == 0 ? (int)n : 100;
}

static size_t count_entries(const char *path)
{
        DIR *d = opendir(path);
        if (!d)
                return 1000;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
        closedir(d);
        return n;
}

static const char *gc_body(void *arg)
{
        const char *dir = arg;
        if (geteuid() == 0) {
                const char *why = become_test_user("itusernstest:200000:65536\n");
                if (why)
                        return fmt_msg("setup: %s: %s", why, strerror(errno));
        }
        it_error e = IT_ERROR_INIT;
        struct it_idmap m;
        if (userns_idmap_for_user(NULL, NULL, geteuid(), &m, &e) != 0 || m.single_id)
                return "idmap";
        char root[512], tmp[600], layers[600];
        snprintf(root, sizeof root, "%s/store", dir);
        snprintf(tmp, sizeof tmp, "%s/tmp", root);
        snprintf(layers, sizeof layers, "%s/layers", root);
        struct it_store *st;
        if (store_open(root, &st, &e) != 0)
                return fmt_msg("open: %s", it_error_format(&e));
        const char *chain =
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        int dfd;
        struct it_store_layer_tx *tx;
        if (store_layer_begin(st, chain, &dfd, &tx, &e) != 0)
                return "begin";
        pid_t pid;
        int status = -1;
        if (userns_spawn(&m, unpack_fn, &dfd, &pid, &e) != 0 ||
            userns_wait(pid, &status, &e) != 0 || status != 0)
                return fmt_msg("unpack in the namespace: status %d", status);
        struct it_layer_meta meta = {0};
        strcpy(meta.diff_id, chain);
        if (store_layer_commit(tx, &meta, &e) != 0)
                return fmt_msg("commit: %s", it_error_format(&e));
        struct stat sb;
        char f[700];
        snprintf(f, sizeof f, "%s/%s/diff/d/f", layers, chain + 7);
        if (stat(f, &sb) != 0 || sb.st_uid != m.uid[1].host_id)
                return "layer file not owned by the range start";

        struct it_strv removed = IT_STRV_INIT;
        int rc = store_gc(st, &removed, &e);
        char *msg = it_error_format(&e);
        if (rc != IT_EIO || !strstr(msg, "Permission denied"))
                return fmt_msg("gc outside the namespace: rc %d: %s", rc, msg);
        if (removed.n != 1 || strcmp(removed.v[0], chain) != 0)
                return "gc did not report the layer as gone";
        if (store_layer_exists(st, chain) || count_entries(layers) != 0)
                return "layer still visible";
        if (count_entries(tmp) != 1)
                return "expected the remains in tmp/";
        if (userns_spawn(&m, recover_fn, st, &pid, &e) != 0 || userns_wait(pid, &status, &e) != 0)
                return "recover in the namespace";
        if (status != 1)
                return fmt_msg("recover in the namespace removed %d entries, expected 1", status);
        if (count_entries(tmp) != 0)
                return "tmp/ not empty";
        store_close(st);
        return "ok";
}

static void test_store_gc_in_userns(void **state)
{
        if (geteuid() == 0 && getpwuid(TEST_UID)) {
                skip();
                return;
        }
        if (geteuid() != 0) {
                _cleanup_error_ it_error err = IT_ERROR_INIT;
                struct it_idmap m;
                assert_int_equal(userns_idmap_for_user(NULL, NULL, geteuid(), &m, &err), 0);
                if (m.single_id) {
                        print_message("skipped: no subordinate range for uid %u\n",
                                      (unsigned)geteuid());
                        skip();
                        return;
                }
        }
        _cleanup_free_ char *d = make_dir();
        char msg[512];
        run_child(gc_body, d, msg);
        assert_string_equal(msg, "ok");
        rm_dir(d);
}

static int sleep_fn(void *arg)
{
        int fd = *(int *)arg;
        pid_t me = getpid();
        if (write(fd, &me, sizeof me) != sizeof me)
                return 1;
        for (;;)
                pause();
}

/* A killed parent takes its helper with it (PR_SET_PDEATHSIG). */
static void test_pdeathsig(void **state)
{
        assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0); /* the orphan comes to us */
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t parent = fork();
        assert_true(parent >= 0);
        if (parent == 0) {
                close(p[0]);
                it_error e = IT_ERROR_INIT;
                struct it_idmap m;
                pid_t helper;
                int fd = p[1];
                if (userns_idmap_for_user(NULL, NULL, geteuid(), &m, &e) != 0 ||
                    userns_spawn(&m, sleep_fn, &fd, &helper, &e) != 0)
                        _exit(1);
                for (;;)
                        pause();
        }
        close(p[1]);
        pid_t helper = -1;
        assert_int_equal(read(p[0], &helper, sizeof helper), sizeof helper);
        close(p[0]);
        assert_true(helper > 0);
        assert_int_equal(kill(helper, 0), 0); /* alive */
        assert_int_equal(kill(parent, SIGKILL), 0);
        int status;
        assert_int_equal(waitpid(parent, &status, 0), parent);
        pid_t r = 0;
        for (int i = 0; i < 500 && r == 0; i++) {
                r = waitpid(helper, &status, WNOHANG);
                if (r == 0)
                        usleep(10000);
        }
        if (r == 0)
                kill(helper, SIGKILL);
        assert_int_equal(r, helper);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);
        assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_parse_good),
            cmocka_unit_test(test_parse_bad),
            cmocka_unit_test(test_mapping),
            cmocka_unit_test(test_range_error),
            cmocka_unit_test(test_spawn_status),
            cmocka_unit_test(test_spawn_root_direct),
            cmocka_unit_test(test_run),
            cmocka_unit_test(test_spawn_newuidmap),
            cmocka_unit_test(test_spawn_single_id),
            cmocka_unit_test(test_pdeathsig),
            cmocka_unit_test(test_store_gc_in_userns),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
