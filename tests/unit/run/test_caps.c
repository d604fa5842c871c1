/* Capability sets (imgtrust/caps.h): podman's names and merge rules, and caps_apply in a forked
 * child inside a fresh user namespace, checked through /proc/self/status before and after exec. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "imgtrust/caps.h"
#include "imgtrust/cleanup.h"

#define BIT(n) (UINT64_C(1) << (n))
#define ALL41 UINT64_C(0x000001ffffffffff)

static void expect_error(int r, const it_error *err, int code, const char *msg)
{
        _cleanup_free_ char *s = it_error_format(err);
        assert_int_equal(r, code);
        assert_string_equal(s, msg);
}

static void test_names(void **state)
{
        it_error err = IT_ERROR_INIT;
        int cap = -2;

        assert_int_equal(caps_parse_name("NET_RAW", &cap, &err), 0);
        assert_int_equal(cap, 13);
        assert_int_equal(caps_parse_name("CAP_NET_RAW", &cap, &err), 0);
        assert_int_equal(cap, 13);
        assert_int_equal(caps_parse_name("cap_net_bind_service", &cap, &err), 0);
        assert_int_equal(cap, 10);
        assert_int_equal(caps_parse_name("Sys_Admin", &cap, &err), 0);
        assert_int_equal(cap, 21);
        assert_int_equal(caps_parse_name("CHOWN", &cap, &err), 0);
        assert_int_equal(cap, 0);
        assert_int_equal(caps_parse_name("checkpoint_restore", &cap, &err), 0);
        assert_int_equal(cap, 40);
        assert_int_equal(caps_parse_name("all", &cap, &err), 0);
        assert_int_equal(cap, IT_CAP_ALL);
        assert_int_equal(caps_parse_name("ALL", &cap, &err), 0);
        assert_int_equal(cap, IT_CAP_ALL);

        expect_error(caps_parse_name("CAP_BOGUS", &cap, &err), &err, IT_EINPUT,
                     "unknown capability \"CAP_BOGUS\"");
        it_error_clear(&err);
        /* podman: "CAP_ALL" is not a name, and nothing is trimmed. */
        expect_error(caps_parse_name("CAP_ALL", &cap, &err), &err, IT_EINPUT,
                     "unknown capability \"CAP_ALL\"");
        it_error_clear(&err);
        expect_error(caps_parse_name(" chown", &cap, &err), &err, IT_EINPUT,
                     "unknown capability \" chown\"");
        it_error_clear(&err);
        expect_error(caps_parse_name("CAP_", &cap, &err), &err, IT_EINPUT,
                     "unknown capability \"CAP_\"");
        it_error_clear(&err);
        expect_error(caps_parse_name("", &cap, &err), &err, IT_EINPUT, "unknown capability \"\"");
        it_error_clear(&err);

        assert_string_equal(caps_name(0), "CAP_CHOWN");
        assert_string_equal(caps_name(13), "CAP_NET_RAW");
        assert_string_equal(caps_name(31), "CAP_SETFCAP");
        assert_string_equal(caps_name(40), "CAP_CHECKPOINT_RESTORE");
        assert_null(caps_name(41));
        assert_null(caps_name(-1));
        /* Every name round-trips. */
        for (int i = 0; i <= 40; i++) {
                assert_int_equal(caps_parse_name(caps_name(i), &cap, &err), 0);
                assert_int_equal(cap, i);
        }
}

static void test_mask_and_last_cap(void **state)
{
        int last = caps_last_cap();

        assert_int_equal(caps_mask_upto(40), ALL41);
        assert_int_equal(caps_mask_upto(0), 1);
        assert_int_equal(caps_mask_upto(-1), 0);
        assert_true(caps_mask_upto(63) == UINT64_MAX);
        assert_true(last >= 36 && last <= IT_CAPS_MAX);
}

static int compute(const char *const *add, size_t nadd, const char *const *drop, size_t ndrop,
                   bool privileged, bool root, struct it_caps *c, it_error *err)
{
        return caps_compute(add, nadd, drop, ndrop, privileged, root, ALL41, 40, c, err);
}

static void expect_caps(const struct it_caps *c, uint64_t bnd, uint64_t eff, uint64_t prm,
                        uint64_t inh, uint64_t amb)
{
        char got[IT_CAPS_STATUS_LEN], want[IT_CAPS_STATUS_LEN];
        struct it_caps w = {.bounding = bnd,
                            .effective = eff,
                            .permitted = prm,
                            .inheritable = inh,
                            .ambient = amb};
        assert_string_equal(caps_format_status(c, got, sizeof(got)),
                            caps_format_status(&w, want, sizeof(want)));
}

static void test_defaults(void **state)
{
        it_error err = IT_ERROR_INIT;
        struct it_caps c;

        assert_int_equal(compute(NULL, 0, NULL, 0, false, true, &c, &err), 0);
        expect_caps(&c, 0x800405fb, 0x800405fb, 0x800405fb, 0, 0);

        /* --user=1000: nothing but the bounding set. */
        assert_int_equal(compute(NULL, 0, NULL, 0, false, false, &c, &err), 0);
        expect_caps(&c, 0x800405fb, 0, 0, 0, 0);

        /* A host bounding set without CAP_SETFCAP narrows the default. */
        assert_int_equal(
            caps_compute(NULL, 0, NULL, 0, false, true, ALL41 & ~BIT(31), 40, &c, &err), 0);
        expect_caps(&c, 0x000405fb, 0x000405fb, 0x000405fb, 0, 0);
}

static void test_add_drop(void **state)
{
        it_error err = IT_ERROR_INIT;
        struct it_caps c;
        const char *net_raw[] = {"NET_RAW"};
        const char *all[] = {"all"};
        const char *nbs[] = {"net_bind_service"};
        const char *two[] = {"CAP_CHOWN", "kill"};

        assert_int_equal(compute(net_raw, 1, NULL, 0, false, true, &c, &err), 0);
        expect_caps(&c, 0x800425fb, 0x800425fb, 0x800425fb, 0, 0);
        assert_true(c.bounding == (IT_CAPS_PODMAN_DEFAULT | BIT(13)));

        assert_int_equal(compute(NULL, 0, two, 2, false, true, &c, &err), 0);
        expect_caps(&c, 0x800405da, 0x800405da, 0x800405da, 0, 0);

        /* Adding a default cap changes nothing. */
        assert_int_equal(compute(two, 1, NULL, 0, false, true, &c, &err), 0);
        expect_caps(&c, 0x800405fb, 0x800405fb, 0x800405fb, 0, 0);

        assert_int_equal(compute(NULL, 0, all, 1, false, true, &c, &err), 0);
        expect_caps(&c, 0, 0, 0, 0, 0);
        assert_int_equal(compute(NULL, 0, all, 1, false, false, &c, &err), 0);
        expect_caps(&c, 0, 0, 0, 0, 0);

        /* --cap-drop=all --cap-add=X gives only X, whatever the order of names in drop. */
        {
                const char *drops[] = {"chown", "ALL"};
                assert_int_equal(compute(net_raw, 1, drops, 2, false, true, &c, &err), 0);
                expect_caps(&c, BIT(13), BIT(13), BIT(13), 0, 0);
        }

        /* --cap-add=all: every cap the host bounding set holds, minus the dropped ones. */
        assert_int_equal(compute(all, 1, NULL, 0, false, true, &c, &err), 0);
        expect_caps(&c, ALL41, ALL41, ALL41, 0, 0);
        assert_int_equal(compute(all, 1, net_raw, 1, false, true, &c, &err), 0);
        expect_caps(&c, ALL41 & ~BIT(13), ALL41 & ~BIT(13), ALL41 & ~BIT(13), 0, 0);

        /* Non-root user: the added caps in all four process sets, bounding as for root. */
        assert_int_equal(compute(nbs, 1, NULL, 0, false, false, &c, &err), 0);
        expect_caps(&c, 0x800405fb, 0x400, 0x400, 0x400, 0x400);
        assert_int_equal(compute(net_raw, 1, nbs, 1, false, false, &c, &err), 0);
        expect_caps(&c, 0x800421fb, BIT(13), BIT(13), BIT(13), BIT(13));
        assert_int_equal(compute(all, 1, NULL, 0, false, false, &c, &err), 0);
        expect_caps(&c, ALL41, ALL41, ALL41, ALL41, ALL41);
        /* A dropped cap never reaches the user's sets, even through "all". */
        assert_int_equal(compute(all, 1, net_raw, 1, false, false, &c, &err), 0);
        expect_caps(&c, ALL41 & ~BIT(13), ALL41 & ~BIT(13), ALL41 & ~BIT(13), ALL41 & ~BIT(13),
                    ALL41 & ~BIT(13));
}

static void test_errors(void **state)
{
        it_error err = IT_ERROR_INIT;
        struct it_caps c;
        const char *net_raw[] = {"NET_RAW"};
        const char *net_raw2[] = {"cap_net_raw"};
        const char *all[] = {"all"};
        const char *bogus[] = {"chown", "CAP_BOGUS"};
        const char *bpf[] = {"BPF"};

        expect_error(compute(net_raw, 1, net_raw2, 1, false, true, &c, &err), &err, IT_EINPUT,
                     "capability \"CAP_NET_RAW\" cannot be dropped and added");
        it_error_clear(&err);
        expect_error(compute(all, 1, all, 1, false, true, &c, &err), &err, IT_EINPUT,
                     "adding all caps and removing all caps not allowed");
        it_error_clear(&err);
        expect_error(compute(bogus, 2, NULL, 0, false, true, &c, &err), &err, IT_EINPUT,
                     "--cap-add: unknown capability \"CAP_BOGUS\"");
        it_error_clear(&err);
        expect_error(compute(NULL, 0, bogus, 2, false, true, &c, &err), &err, IT_EINPUT,
                     "--cap-drop: unknown capability \"CAP_BOGUS\"");
        it_error_clear(&err);
        /* Even --privileged validates the lists. */
        expect_error(compute(bogus, 2, NULL, 0, true, true, &c, &err), &err, IT_EINPUT,
                     "--cap-add: unknown capability \"CAP_BOGUS\"");
        it_error_clear(&err);
        expect_error(caps_compute(bpf, 1, NULL, 0, false, true, ALL41, 38, &c, &err), &err,
                     IT_EINPUT,
                     "--cap-add: capability \"CAP_BPF\" is not supported by this kernel "
                     "(cap_last_cap is 38)");
        it_error_clear(&err);
}

static void test_privileged(void **state)
{
        it_error err = IT_ERROR_INIT;
        struct it_caps c;
        uint64_t host = ALL41 & ~BIT(24); /* as in this CI container: no CAP_SYS_RESOURCE */
        const char *nbs[] = {"NET_BIND_SERVICE"};

        assert_int_equal(caps_compute(NULL, 0, NULL, 0, true, true, host, 40, &c, &err), 0);
        expect_caps(&c, host, host, host, 0, 0);
        assert_int_equal(caps_compute(NULL, 0, NULL, 0, true, true, ALL41, 40, &c, &err), 0);
        assert_true(c.bounding == (BIT(41) - 1));
        assert_int_equal(caps_compute(NULL, 0, NULL, 0, true, true, UINT64_MAX, 37, &c, &err), 0);
        expect_caps(&c, BIT(38) - 1, BIT(38) - 1, BIT(38) - 1, 0, 0);
        /* A non-root user still gets only what was added. */
        assert_int_equal(caps_compute(nbs, 1, NULL, 0, true, false, host, 40, &c, &err), 0);
        expect_caps(&c, host, 0x400, 0x400, 0x400, 0x400);
}

static void test_status_format_parse(void **state)
{
        it_error err = IT_ERROR_INIT;
        struct it_caps c = {.bounding = 0x800405fb,
                            .effective = 0x400,
                            .permitted = 0x401,
                            .inheritable = 2,
                            .ambient = BIT(40)};
        struct it_caps back;
        char buf[IT_CAPS_STATUS_LEN];
        const char *bad = "CapInh:\t0000000000000000\nCapPrm:\t00000000000000zz\n";
        const char *missing = "Name:\tx\nCapInh:\t0000000000000000\n";

        assert_string_equal(caps_format_status(&c, buf, sizeof(buf)),
                            "CapInh:\t0000000000000002\n"
                            "CapPrm:\t0000000000000401\n"
                            "CapEff:\t0000000000000400\n"
                            "CapBnd:\t00000000800405fb\n"
                            "CapAmb:\t0000010000000000\n");
        assert_int_equal(caps_parse_status(buf, strlen(buf), &back, &err), 0);
        assert_memory_equal(&back, &c, sizeof(c));

        expect_error(caps_parse_status(bad, strlen(bad), &back, &err), &err, IT_EINPUT,
                     "status: malformed line \"CapPrm:\t00000000000000zz\"");
        it_error_clear(&err);
        expect_error(caps_parse_status(missing, strlen(missing), &back, &err), &err, IT_EINPUT,
                     "status: no CapPrm line");
        it_error_clear(&err);
}

/* ---- caps_apply in a child in a new user namespace ---- */

struct apply_case {
        bool map_root;       /* map uid 0 to the outer uid (else the child is the overflow uid) */
        bool lose_effective; /* empty the effective set first, as setresuid under KEEPCAPS does */
        struct it_caps want; /* applied, then read back before exec */
        struct it_caps after_exec;
};

static int write_file(const char *path, const char *s)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t n;
        if (fd < 0)
                return -1;
        n = write(fd, s, strlen(s));
        close(fd);
        return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* Child: returns the exit code; on success it execs /bin/grep and never returns. */
static int child_apply(const struct apply_case *tc, int outfd)
{
        it_error err = IT_ERROR_INIT;
        uid_t uid = geteuid();
        gid_t gid = getegid();
        struct it_caps got;
        char line[64];

        if (unshare(CLONE_NEWUSER) < 0) {
                perror("child: unshare(CLONE_NEWUSER)");
                return 10;
        }
        if (tc->map_root) {
                snprintf(line, sizeof(line), "0 %u 1\n", (unsigned)uid);
                if (write_file("/proc/self/setgroups", "deny") < 0 ||
                    write_file("/proc/self/uid_map", line) < 0) {
                        perror("child: uid_map");
                        return 11;
                }
                snprintf(line, sizeof(line), "0 %u 1\n", (unsigned)gid);
                if (write_file("/proc/self/gid_map", line) < 0) {
                        perror("child: gid_map");
                        return 11;
                }
        }
        if (tc->lose_effective) {
                struct it_caps cur;
                if (caps_read_current(&cur, &err) < 0)
                        return 12;
                /* capset with effective 0 through caps_apply's own path: permitted stays. */
                cur.effective = 0;
                cur.ambient = 0;
                if (caps_apply(&cur, caps_last_cap(), &err) < 0)
                        goto fail;
                if (caps_read_current(&cur, &err) < 0)
                        goto fail;
                if (cur.effective != 0) {
                        fprintf(stderr, "child: effective not emptied\n");
                        return 13;
                }
        }
        if (caps_apply(&tc->want, caps_last_cap(), &err) < 0)
                goto fail;
        if (caps_read_current(&got, &err) < 0)
                goto fail;
        if (memcmp(&got, &tc->want, sizeof(got)) != 0) {
                char a[IT_CAPS_STATUS_LEN], b[IT_CAPS_STATUS_LEN];
                fprintf(stderr, "child: got\n%swant\n%s", caps_format_status(&got, a, sizeof(a)),
                        caps_format_status(&tc->want, b, sizeof(b)));
                return 14;
        }
        if (dup2(outfd, 1) < 0)
                return 15;
        execl("/bin/grep", "grep", "^Cap", "/proc/self/status", (char *)NULL);
        perror("child: exec /bin/grep");
        return 16;
fail : {
        _cleanup_free_ char *s = it_error_format(&err);
        fprintf(stderr, "child: %s\n", s);
        it_error_clear(&err);
        return 17;
}
}

static void run_apply_case(const struct apply_case *tc)
{
        it_error err = IT_ERROR_INIT;
        struct it_caps got;
        char buf[1024];
        size_t len = 0;
        int pfd[2], status;
        pid_t pid;

        assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(pfd[0]);
                _exit(child_apply(tc, pfd[1]));
        }
        close(pfd[1]);
        for (;;) {
                ssize_t n = read(pfd[0], buf + len, sizeof(buf) - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        close(pfd[0]);
        buf[len] = '\0';
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_int_equal(caps_parse_status(buf, len, &got, &err), 0);
        {
                char a[IT_CAPS_STATUS_LEN], b[IT_CAPS_STATUS_LEN];
                assert_string_equal(caps_format_status(&got, a, sizeof(a)),
                                    caps_format_status(&tc->after_exec, b, sizeof(b)));
        }
}

static void test_apply_root_default(void **state)
{
        it_error err = IT_ERROR_INIT;
        struct apply_case tc = {.map_root = true};

        assert_int_equal(caps_compute(NULL, 0, NULL, 0, false, true, ALL41, 40, &tc.want, &err), 0);
        tc.after_exec = tc.want;
        run_apply_case(&tc);
}

static void test_apply_root_net_raw(void **state)
{
        it_error err = IT_ERROR_INIT;
        const char *add[] = {"NET_RAW"};
        struct apply_case tc = {.map_root = true};

        assert_int_equal(caps_compute(add, 1, NULL, 0, false, true, ALL41, 40, &tc.want, &err), 0);
        assert_true(tc.want.bounding == UINT64_C(0x800425fb));
        tc.after_exec = tc.want;
        run_apply_case(&tc);
}

static void test_apply_drop_all(void **state)
{
        it_error err = IT_ERROR_INIT;
        const char *drop[] = {"all"};
        struct apply_case tc = {.map_root = true};

        assert_int_equal(caps_compute(NULL, 0, drop, 1, false, true, ALL41, 40, &tc.want, &err), 0);
        tc.after_exec = tc.want;
        run_apply_case(&tc);
}

/* A non-root user (the unmapped overflow uid) keeps its caps across exec only through ambient. */
static void test_apply_user_ambient(void **state)
{
        it_error err = IT_ERROR_INIT;
        const char *add[] = {"NET_BIND_SERVICE"};
        struct apply_case tc = {.map_root = false, .lose_effective = true};

        assert_int_equal(caps_compute(add, 1, NULL, 0, false, false, ALL41, 40, &tc.want, &err), 0);
        tc.after_exec = tc.want;
        run_apply_case(&tc);
}

/* Without ambient caps the same user has nothing after exec, bounding kept. */
static void test_apply_user_plain(void **state)
{
        it_error err = IT_ERROR_INIT;
        struct apply_case tc = {.map_root = false, .lose_effective = true};

        assert_int_equal(caps_compute(NULL, 0, NULL, 0, false, false, ALL41, 40, &tc.want, &err),
                         0);
        tc.after_exec = tc.want;
        run_apply_case(&tc);
}

static void test_apply_inconsistent(void **state)
{
        it_error err = IT_ERROR_INIT;
        struct it_caps c = {.bounding = 0x400, .effective = 0x401, .permitted = 0x400};

        expect_error(caps_apply(&c, 40, &err), &err, IT_EINPUT,
                     "capabilities: effective 0000000000000401 is not within permitted "
                     "0000000000000400");
        it_error_clear(&err);
        c.effective = c.permitted = 0x401;
        expect_error(caps_apply(&c, 40, &err), &err, IT_EINPUT,
                     "capabilities: permitted 0000000000000401 or inheritable 0000000000000000 "
                     "is not within bounding 0000000000000400");
        it_error_clear(&err);
        c.effective = c.permitted = c.bounding = 0x400;
        c.ambient = 0x400;
        expect_error(caps_apply(&c, 40, &err), &err, IT_EINPUT,
                     "capabilities: ambient 0000000000000400 is not within permitted and "
                     "inheritable");
        it_error_clear(&err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_names),
            cmocka_unit_test(test_mask_and_last_cap),
            cmocka_unit_test(test_defaults),
            cmocka_unit_test(test_add_drop),
            cmocka_unit_test(test_errors),
            cmocka_unit_test(test_privileged),
            cmocka_unit_test(test_status_format_parse),
            cmocka_unit_test(test_apply_root_default),
            cmocka_unit_test(test_apply_root_net_raw),
            cmocka_unit_test(test_apply_drop_all),
            cmocka_unit_test(test_apply_user_ambient),
            cmocka_unit_test(test_apply_user_plain),
            cmocka_unit_test(test_apply_inconsistent),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
