/* Seccomp profiles (imgtrust/seccomp.h): podman's default loaded in a forked child and probed with
 * raw syscalls, the knobs, the exported BPF evaluated for i386/x32, and the JSON parser. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <linux/audit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/seccomp.h"
#include "imgtrust/xalloc.h"

#define CAP_BIT(n) (UINT64_C(1) << (n))
#define NET_RAW 13

/* ---- child probes ---- */

static int child_failures;

/* Checks that a raw syscall result is `want` (>= 0: any non-negative result; < 0: -errno). */
static void expect(const char *what, long rc, int want)
{
        int got = rc < 0 ? errno : 0;
        bool ok = want >= 0 ? rc >= 0 : (rc < 0 && got == -want);
        if (!ok) {
                fprintf(stderr, "child: %s: got %s%s, want %s\n", what, rc < 0 ? "errno " : "ok",
                        rc < 0 ? strerror(got) : "", want >= 0 ? "success" : strerror(-want));
                child_failures++;
        }
}

static long sock(long family, int type, int proto)
{
        long fd = syscall(SYS_socket, family, type, proto);
        if (fd >= 0)
                close((int)fd);
        return fd;
}

/* Runs probe(arg) in a child under profile p with no_new_privs set; returns its exit status. */
static int run_filtered(const struct it_seccomp_profile *p, void (*probe)(void *), void *arg)
{
        it_error err = IT_ERROR_INIT;
        scmp_filter_ctx ctx;
        int rc = seccomp_filter_build(p, &ctx, &err);
        if (rc < 0)
                fail_msg("build: %s", err.msg);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                        _exit(100);
                if (seccomp_filter_load(ctx, &err) < 0) {
                        fprintf(stderr, "child: load: %s\n", err.msg);
                        _exit(101);
                }
                probe(arg);
                _exit(child_failures ? 1 : 0);
        }
        seccomp_release(ctx);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static void probe_default(void *arg)
{
        /* explicit EPERM list of podman 4.3.1 */
        expect("kexec_load", syscall(SYS_kexec_load, 0, 0, 0, 0), -EPERM);
        expect("sysfs(3)", syscall(SYS_sysfs, 3), -EPERM);
        expect("userfaultfd", syscall(SYS_userfaultfd, 0), -EPERM);
        expect("move_pages", syscall(SYS_move_pages, 0, 0, 0, 0, 0, 0), -EPERM);
        /* capability-gated, caps absent */
        expect("acct", syscall(SYS_acct, NULL), -EPERM);
        expect("kcmp", syscall(SYS_kcmp, getpid(), getpid(), 0, 0, 0), -EPERM);
        expect("init_module", syscall(SYS_init_module, NULL, 0, ""), -EPERM);
        expect("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0), -EPERM);
        /* not listed: ENOSYS */
        expect("add_key", syscall(SYS_add_key, "user", "x", "y", 1, 0), -ENOSYS);
        expect("request_key", syscall(SYS_request_key, "user", "x", NULL, 0), -ENOSYS);
        expect("io_uring_setup", syscall(SYS_io_uring_setup, 1, NULL), -ENOSYS);
        /* allowed */
        expect("getpid", syscall(SYS_getpid), 0);
        char cwd[256];
        expect("getcwd", syscall(SYS_getcwd, cwd, sizeof cwd), 0);
        expect("keyctl(GET_KEYRING_ID)", syscall(SYS_keyctl, 0, -3, 0), 0);
        expect("setns(-1) reaches the kernel", syscall(SYS_setns, -1, 0), -EBADF);
        expect("personality(query)", syscall(SYS_personality, 0xffffffffUL), 0);
        expect("personality(ADDR_NO_RANDOMIZE)", syscall(SYS_personality, 0x40000UL), -ENOSYS);
        /* socket families */
        expect("socket AF_UNIX", sock(AF_UNIX, SOCK_STREAM, 0), 0);
        expect("socket AF_INET", sock(AF_INET, SOCK_DGRAM, 0), 0);
        expect("socket AF_INET6", sock(AF_INET6, SOCK_DGRAM, 0), 0);
        expect("socket AF_NETLINK ROUTE", sock(AF_NETLINK, SOCK_RAW, 0), 0);
        expect("socket AF_NETLINK AUDIT", sock(AF_NETLINK, SOCK_RAW, 9), -EINVAL);
        expect("socket AF_X25", sock(AF_X25, SOCK_SEQPACKET, 0), -EAFNOSUPPORT);
        expect("socket AF_APPLETALK", sock(AF_APPLETALK, SOCK_DGRAM, 0), -EAFNOSUPPORT);
        expect("socket AF_KEY", sock(AF_KEY, SOCK_RAW, 2), -EAFNOSUPPORT);
        expect("socket AF_UNSPEC", sock(AF_UNSPEC, SOCK_DGRAM, 0), -EAFNOSUPPORT);
        expect("socket AF_VSOCK", sock(AF_VSOCK, SOCK_STREAM, 0), -EAFNOSUPPORT);
        expect("socket AF_PACKET without NET_RAW in the mask", sock(AF_PACKET, SOCK_RAW, 0),
               -EAFNOSUPPORT);
        /* the upper half of the 64-bit register does not smuggle AF_INET past the filter */
        expect("socket 0x100000002", sock(0x100000002L, SOCK_DGRAM, 0), -EAFNOSUPPORT);
}

static void test_default_in_child(void **state)
{
        struct it_seccomp_profile p;
        seccomp_profile_init(&p);
        seccomp_profile_default(&p, IT_SECCOMP_PODMAN_CAPS);
        assert_int_equal(run_filtered(&p, probe_default, NULL), 0);
        seccomp_profile_free(&p);
}

static void probe_net_raw(void *arg)
{
        long rc = sock(AF_PACKET, SOCK_RAW, 0);
        /* The filter let it through: the kernel answers (success, or EPERM without the cap). */
        if (rc < 0 && errno != EPERM) {
                fprintf(stderr, "child: AF_PACKET with NET_RAW: %s\n", strerror(errno));
                child_failures++;
        }
        expect("socket AF_X25", sock(AF_X25, SOCK_SEQPACKET, 0), -EAFNOSUPPORT);
}

static void test_net_raw_allows_packet(void **state)
{
        struct it_seccomp_profile p;
        seccomp_profile_init(&p);
        seccomp_profile_default(&p, IT_SECCOMP_PODMAN_CAPS | CAP_BIT(NET_RAW));
        assert_int_equal(run_filtered(&p, probe_net_raw, NULL), 0);
        seccomp_profile_free(&p);
}

static void probe_knobs(void *arg)
{
        char cwd[256];
        expect("getcwd denied", syscall(SYS_getcwd, cwd, sizeof cwd), -EPERM);
        expect("sysfs allowed back", syscall(SYS_sysfs, 3), 0);
        expect("getpid still allowed", syscall(SYS_getpid), 0);
}

static void test_knobs(void **state)
{
        struct it_seccomp_profile p;
        it_error err = IT_ERROR_INIT;
        seccomp_profile_init(&p);
        seccomp_profile_default(&p, IT_SECCOMP_PODMAN_CAPS);
        assert_int_equal(seccomp_profile_deny(&p, "getcwd", &err), 0);
        assert_int_equal(seccomp_profile_allow(&p, "sysfs", &err), 0);
        assert_int_equal(run_filtered(&p, probe_knobs, NULL), 0);

        assert_int_equal(seccomp_profile_deny(&p, "nosuchcall", &err), IT_EINPUT);
        assert_string_equal(err.msg, "unknown syscall \"nosuchcall\"");
        it_error_clear(&err);
        assert_int_equal(seccomp_profile_allow(&p, "", &err), IT_EINPUT);
        assert_string_equal(err.msg, "unknown syscall \"\"");
        it_error_clear(&err);
        /* names of a sub-architecture only are known */
        assert_int_equal(seccomp_profile_deny(&p, "socketcall", &err), 0);
        seccomp_profile_free(&p);
}

static void probe_deny_all(void *arg)
{
        expect("getppid denied", syscall(SYS_getppid), -EPERM);
        expect("getpid allowed back", syscall(SYS_getpid), 0);
        expect("add_key denied", syscall(SYS_add_key, "user", "x", "y", 1, 0), -EPERM);
}

static void test_deny_all(void **state)
{
        struct it_seccomp_profile p;
        it_error err = IT_ERROR_INIT;
        seccomp_profile_init(&p);
        seccomp_profile_default(&p, IT_SECCOMP_PODMAN_CAPS);
        seccomp_profile_deny_all(&p);
        assert_int_equal(p.nrules, 0);
        /* what the probe and, under ASan, the sanitizer runtime need */
        static const char *const back[] = {
            "getpid",       "write",          "exit_group", "exit",        "sigaltstack",
            "mmap",         "munmap",         "madvise",    "mprotect",    "prctl",
            "rt_sigaction", "rt_sigprocmask", "futex",      "sched_yield", "brk"};
        for (size_t i = 0; i < sizeof back / sizeof back[0]; i++)
                assert_int_equal(seccomp_profile_allow(&p, back[i], &err), 0);
        assert_int_equal(run_filtered(&p, probe_deny_all, NULL), 0);
        seccomp_profile_free(&p);
}

/* ---- BPF evaluation ---- */

struct bpf {
        struct sock_filter *prog;
        size_t len;
};

static void export(const struct it_seccomp_profile *p, struct bpf *b)
{
        it_error err = IT_ERROR_INIT;
        scmp_filter_ctx ctx;
        if (seccomp_filter_build(p, &ctx, &err) < 0)
                fail_msg("build: %s", err.msg);
        if (seccomp_filter_export_bpf(ctx, &b->prog, &b->len, &err) < 0)
                fail_msg("export: %s", err.msg);
        seccomp_release(ctx);
}

static uint32_t eval(const struct bpf *b, uint32_t arch, int nr, uint64_t a0, uint64_t a2)
{
        struct seccomp_data d = {.nr = nr, .arch = arch, .args = {a0, 1, a2}};
        uint32_t ret = 0xdeadbeef;
        it_error err = IT_ERROR_INIT;
        if (seccomp_bpf_eval(b->prog, b->len, &d, &ret, &err) < 0)
                fail_msg("eval: %s", err.msg);
        return ret;
}

#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | (uint32_t)(e))
#define I386_SOCKET 359
#define I386_SOCKETCALL 102
#define I386_GETCWD 183
#define X32_BIT 0x40000000

static void test_bpf_i386(void **state)
{
        struct it_seccomp_profile p;
        struct bpf b;
        seccomp_profile_init(&p);
        seccomp_profile_default(&p, IT_SECCOMP_PODMAN_CAPS);
        export(&p, &b);
        /* i386: the direct socket syscall sees the family rule */
        assert_int_equal(eval(&b, AUDIT_ARCH_I386, I386_SOCKET, AF_X25, 0),
                         RET_ERRNO(EAFNOSUPPORT));
        assert_int_equal(eval(&b, AUDIT_ARCH_I386, I386_SOCKET, AF_INET, 0), SECCOMP_RET_ALLOW);
        assert_int_equal(eval(&b, AUDIT_ARCH_I386, I386_SOCKET, AF_NETLINK, 9), RET_ERRNO(EINVAL));
        /* socketcall refused for every call, SYS_SOCKET (1) included */
        assert_int_equal(eval(&b, AUDIT_ARCH_I386, I386_SOCKETCALL, 1, 0), RET_ERRNO(EPERM));
        assert_int_equal(eval(&b, AUDIT_ARCH_I386, I386_SOCKETCALL, 3, 0), RET_ERRNO(EPERM));
        assert_int_equal(eval(&b, AUDIT_ARCH_I386, I386_GETCWD, 0, 0), SECCOMP_RET_ALLOW);
        /* x86_64 and x32 */
        assert_int_equal(eval(&b, AUDIT_ARCH_X86_64, SYS_socket, AF_X25, 0),
                         RET_ERRNO(EAFNOSUPPORT));
        assert_int_equal(eval(&b, AUDIT_ARCH_X86_64, SYS_socket, AF_PACKET, 0),
                         RET_ERRNO(EAFNOSUPPORT));
        assert_int_equal(eval(&b, AUDIT_ARCH_X86_64, X32_BIT | SYS_socket, AF_INET, 0),
                         SECCOMP_RET_ALLOW);
        assert_int_equal(eval(&b, AUDIT_ARCH_X86_64, X32_BIT | SYS_socket, AF_KEY, 0),
                         RET_ERRNO(EAFNOSUPPORT));
        assert_int_equal(eval(&b, AUDIT_ARCH_X86_64, SYS_kexec_load, 0, 0), RET_ERRNO(EPERM));
        assert_int_equal(eval(&b, AUDIT_ARCH_X86_64, SYS_add_key, 0, 0), RET_ERRNO(ENOSYS));
        /* an arch the filter does not know is killed */
        assert_int_equal(eval(&b, AUDIT_ARCH_AARCH64, 1, 0, 0) & SECCOMP_RET_ACTION_FULL,
                         SECCOMP_RET_KILL_THREAD);
        free(b.prog);

        seccomp_profile_default(&p, IT_SECCOMP_PODMAN_CAPS | CAP_BIT(NET_RAW));
        export(&p, &b);
        assert_int_equal(eval(&b, AUDIT_ARCH_X86_64, SYS_socket, AF_PACKET, 0), SECCOMP_RET_ALLOW);
        assert_int_equal(eval(&b, AUDIT_ARCH_I386, I386_SOCKET, AF_PACKET, 0), SECCOMP_RET_ALLOW);
        free(b.prog);
        seccomp_profile_free(&p);
}

/* ---- JSON ---- */

static char *read_fixture(const char *name, size_t *len)
{
        const char *src = getenv("IMGTRUST_SRC");
        _cleanup_free_ char *path =
            xasprintf("%s/tests/fuzz/seeds/seccomp_profile/%s", src ? src : "../..", name);
        FILE *f = fopen(path, "rb");
        if (!f)
                fail_msg("cannot open %s", path);
        char *buf = xmalloc(1 << 20);
        *len = fread(buf, 1, 1 << 20, f);
        fclose(f);
        return buf;
}

static void test_json_podman(void **state)
{
        size_t len;
        _cleanup_free_ char *json = read_fixture("podman-4.3.1-common-0.50.1.json", &len);
        struct it_seccomp_profile p;
        struct bpf b;
        it_error err = IT_ERROR_INIT;
        seccomp_profile_init(&p);
        if (seccomp_profile_parse_json(json, len, &p, &err) < 0)
                fail_msg("parse: %s", err.msg);
        assert_int_equal(p.default_action, IT_SCMP_ERRNO);
        assert_int_equal(p.default_ret, ENOSYS);
        assert_int_equal(p.narches, 3);
        assert_int_equal(p.arches[0], SCMP_ARCH_X86_64);
        assert_int_equal(p.arches[1], SCMP_ARCH_X86);
        assert_int_equal(p.arches[2], SCMP_ARCH_X32);
        assert_int_equal(p.nrules, 28 + 374 + 5 + 1 + 6 + 1 + 1 + 3 +
                                       2 * (1 + 8 + 1 + 4 + 1 + 2 + 2 + 4 + 1) + 5);
        export(&p, &b);
        assert_int_equal(eval(&b, AUDIT_ARCH_X86_64, SYS_kexec_load, 0, 0), RET_ERRNO(EPERM));
        assert_int_equal(eval(&b, AUDIT_ARCH_X86_64, SYS_add_key, 0, 0), RET_ERRNO(ENOSYS));
        /* setns: allowed and, without CAP_SYS_ADMIN, denied; podman ends up allowing it */
        assert_int_equal(eval(&b, AUDIT_ARCH_X86_64, SYS_setns, 0, 0), SECCOMP_RET_ALLOW);
        assert_int_equal(eval(&b, AUDIT_ARCH_X86_64, SYS_acct, 0, 0), RET_ERRNO(EPERM));
        assert_int_equal(eval(&b, AUDIT_ARCH_X86_64, SYS_socket, AF_NETLINK, 9), RET_ERRNO(EINVAL));
        /* podman itself does not filter families */
        assert_int_equal(eval(&b, AUDIT_ARCH_X86_64, SYS_socket, AF_X25, 0), SECCOMP_RET_ALLOW);
        assert_int_equal(eval(&b, AUDIT_ARCH_I386, I386_SOCKETCALL, 1, 0), SECCOMP_RET_ALLOW);
        free(b.prog);
        /* with CAP_SYS_PACCT the gated rule flips */
        p.caps |= CAP_BIT(20);
        export(&p, &b);
        assert_int_equal(eval(&b, AUDIT_ARCH_X86_64, SYS_acct, 0, 0), SECCOMP_RET_ALLOW);
        free(b.prog);
        seccomp_profile_free(&p);
}

static void bad(const char *json, int code, const char *msg)
{
        struct it_seccomp_profile p;
        it_error err = IT_ERROR_INIT;
        seccomp_profile_init(&p);
        assert_int_equal(seccomp_profile_parse_json(json, strlen(json), &p, &err), code);
        assert_string_equal(err.msg, msg);
        assert_int_equal(p.nrules, 0);
        it_error_clear(&err);
        seccomp_profile_free(&p);
}

static void test_json_errors(void **state)
{
        bad("[]", IT_EINPUT, "seccomp profile: .: expected an object, got array");
        bad("{}", IT_EINPUT, "seccomp profile: .: missing defaultAction");
        bad("{\"defaultAction\":\"SCMP_ACT_NOPE\"}", IT_EINPUT,
            "seccomp profile: defaultAction: unknown action \"SCMP_ACT_NOPE\"");
        bad("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"extra\":1}", IT_EINPUT,
            "seccomp profile: .: unknown key \"extra\"");
        bad("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":-1}", IT_EINPUT,
            "seccomp profile: defaultErrnoRet: -1 is out of range (0..65535)");
        bad("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_Z80\"]}",
            IT_EINPUT, "seccomp profile: architectures[0]: unknown architecture \"SCMP_ARCH_Z80\"");
        bad("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
            "\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":7,\"value\":1,\"op\":"
            "\"SCMP_CMP_EQ\"}]}]}",
            IT_EINPUT, "seccomp profile: syscalls[0].args[0].index: 7 is out of range (0..5)");
        bad("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
            "\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,\"value\":1,\"op\":"
            "\"SCMP_CMP_XX\"}]}]}",
            IT_EINPUT, "seccomp profile: syscalls[0].args[0].op: unknown operator \"SCMP_CMP_XX\"");
        bad("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":\"read\","
            "\"action\":\"SCMP_ACT_ALLOW\"}]}",
            IT_EINPUT,
            "seccomp profile: syscalls[0].names: expected a non-empty array of syscall names");
        bad("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\",\"Bad/"
            "Name\"],"
            "\"action\":\"SCMP_ACT_ALLOW\"}]}",
            IT_EINPUT, "seccomp profile: syscalls[0].names[1]: \"Bad/Name\" is not a syscall name");
        bad("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
            "\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"caps\":[\"CAP_FLY\"]}}]}",
            IT_EINPUT,
            "seccomp profile: syscalls[0].includes.caps[0]: unknown capability \"CAP_FLY\"");
        bad("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"]}]}",
            IT_EINPUT, "seccomp profile: syscalls[0]: missing action");
        bad("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
            "\"action\":\"SCMP_ACT_NOTIFY\"}]}",
            IT_EUNSUPPORTED,
            "seccomp profile: syscalls[0].action: action \"SCMP_ACT_NOTIFY\" is not supported");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_default_in_child),
            cmocka_unit_test(test_net_raw_allows_packet),
            cmocka_unit_test(test_knobs),
            cmocka_unit_test(test_deny_all),
            cmocka_unit_test(test_bpf_i386),
            cmocka_unit_test(test_json_podman),
            cmocka_unit_test(test_json_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
