/* seccomp_tool: read back the seccomp filter a process holds and evaluate a filter offline, for
 * the imgrun tests (the 32-bit x86 rules cannot be exercised by running i386 code here).
 *
 *   seccomp_tool dump PID FILE [INDEX]
 *       As root: stops PID with PTRACE_SEIZE + PTRACE_INTERRUPT (no signal is sent), copies its
 *       filter INDEX (0, the default, is the newest) with PTRACE_SECCOMP_GET_FILTER, detaches,
 *       and writes the raw struct sock_filter array to FILE. Prints "instructions: N" and
 *       "filters: M" (how many the process holds).
 *   seccomp_tool eval FILE ARCH NR|NAME [ARG0..ARG5]
 *       Runs FILE's program over one syscall as the kernel would and prints the action: ALLOW,
 *       ERRNO <errno name>, KILL_PROCESS, KILL_THREAD, TRAP <data>, TRACE <data>, LOG or
 *       USER_NOTIF. ARCH: x86_64, i386 or x32 (the x32 bit is added to NR). A NAME is resolved
 *       by libseccomp for ARCH (i386's direct socket calls, 359..373, by our own table); NR and
 *       the arguments take C number syntax.
 *   seccomp_tool exec-default [CAPS_HEX] -- CMD [ARG...]
 *       Sets no_new_privs, loads our default profile (seccomp_profile_default for the caps mask,
 *       default podman's 11) built by the library and executes CMD: a process to dump.
 *
 * Exit status: 0, 2 on bad usage or input, 3 when a system call fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/seccomp.h"
#include "imgtrust/xalloc.h"

#define X32_SYSCALL_BIT 0x40000000u
#define MAX_PROG 65536u /* more than BPF_MAXINSNS (4096) times the 16 filters anyone stacks */

static int die(const it_error *err)
{
        it_error_print("seccomp_tool", err);
        return it_error_exit_code(err->code);
}

static int usage(void)
{
        fputs("usage: seccomp_tool dump PID FILE [INDEX]\n"
              "       seccomp_tool eval FILE x86_64|i386|x32 NR|NAME [ARG0..ARG5]\n"
              "       seccomp_tool exec-default [CAPS_HEX] -- CMD [ARG...]\n",
              stderr);
        return 2;
}

static int parse_u64(const char *s, const char *what, uint64_t *out, it_error *err)
{
        char *end;

        errno = 0;
        *out = strtoull(s, &end, 0);
        if (errno || end == s || *end || *s == '-')
                return it_error_set(err, IT_EINPUT, "%s: not a number: \"%s\"", what, s);
        return 0;
}

/* Copies filter index of a ptrace-stopped tracee; *prog allocated. */
static int get_filter(pid_t pid, unsigned long index, struct sock_filter **prog, long *len,
                      it_error *err)
{
        long n = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, (void *)index, NULL);

        if (n < 0) {
                if (errno == EINVAL)
                        return it_error_set(err, IT_EINPUT,
                                            "process %d has no seccomp filter (Seccomp: is not 2)",
                                            (int)pid);
                if (errno == ENOENT)
                        return it_error_set(err, IT_EINPUT,
                                            "process %d has no seccomp filter at index %lu",
                                            (int)pid, index);
                if (errno == EACCES)
                        return it_error_set(
                            err, IT_EIO,
                            "PTRACE_SECCOMP_GET_FILTER: the reader must have CAP_SYS_ADMIN "
                            "and no seccomp filter of its own");
                if (errno == EMEDIUMTYPE)
                        return it_error_set(err, IT_EUNSUPPORTED,
                                            "process %d: filter %lu is not classic BPF", (int)pid,
                                            index);
                return it_error_sys(err, IT_EIO, errno, "PTRACE_SECCOMP_GET_FILTER of %d",
                                    (int)pid);
        }
        if (n == 0 || (unsigned long)n > MAX_PROG)
                return it_error_set(err, IT_EIO, "process %d: filter of %ld instructions", (int)pid,
                                    n);
        *prog = xcalloc((size_t)n, sizeof **prog);
        if (ptrace(PTRACE_SECCOMP_GET_FILTER, pid, (void *)index, *prog) != n)
                return it_error_sys(err, IT_EIO, errno, "PTRACE_SECCOMP_GET_FILTER of %d",
                                    (int)pid);
        *len = n;
        return 0;
}

static int cmd_dump(int argc, char **argv, it_error *err)
{
        _cleanup_free_ struct sock_filter *prog = NULL;
        uint64_t pid, index = 0;
        long len = 0, count = 0;
        int status, rc;

        if (argc < 4 || argc > 5)
                return usage();
        if (geteuid() != 0) {
                it_error_set(err, IT_EINPUT,
                             "dump: must run as root: the kernel hands filters only to "
                             "CAP_SYS_ADMIN");
                return die(err);
        }
        if (parse_u64(argv[2], "PID", &pid, err) < 0 ||
            (argc == 5 && parse_u64(argv[4], "INDEX", &index, err) < 0))
                return die(err);
        if (pid == 0 || pid > INT32_MAX) {
                it_error_set(err, IT_EINPUT, "PID out of range: %s", argv[2]);
                return die(err);
        }
        if (ptrace(PTRACE_SEIZE, (pid_t)pid, NULL, NULL) < 0) {
                it_error_sys(err, IT_EIO, errno, "PTRACE_SEIZE of %d", (int)pid);
                return die(err);
        }
        if (ptrace(PTRACE_INTERRUPT, (pid_t)pid, NULL, NULL) < 0 ||
            waitpid((pid_t)pid, &status, __WALL) != (pid_t)pid) {
                it_error_sys(err, IT_EIO, errno, "stopping %d", (int)pid);
                ptrace(PTRACE_DETACH, (pid_t)pid, NULL, NULL);
                return die(err);
        }
        rc = get_filter((pid_t)pid, (unsigned long)index, &prog, &len, err);
        if (rc == 0) {
                /* count them: the index of the first ENOENT */
                while (ptrace(PTRACE_SECCOMP_GET_FILTER, (pid_t)pid, (void *)count, NULL) > 0)
                        count++;
        }
        if (ptrace(PTRACE_DETACH, (pid_t)pid, NULL, NULL) < 0 && rc == 0)
                rc = it_error_sys(err, IT_EIO, errno, "PTRACE_DETACH of %d", (int)pid);
        if (rc < 0)
                return die(err);
        rc = it_file_replace(argv[3], prog, (size_t)len * sizeof *prog, 0644, err);
        if (rc < 0)
                return die(err);
        printf("instructions: %ld\nfilters: %ld\n", len, count);
        return 0;
}

static const struct {
        const char *name;
        uint32_t audit;
        uint32_t scmp;
        uint32_t nr_bits;
} arches[] = {
    {"x86_64", AUDIT_ARCH_X86_64, SCMP_ARCH_X86_64, 0},
    {"i386", AUDIT_ARCH_I386, SCMP_ARCH_X86, 0},
    {"x32", AUDIT_ARCH_X86_64, SCMP_ARCH_X32, X32_SYSCALL_BIT},
};

/* libseccomp 2.5 knows i386's direct socket calls (Linux 4.3) only as pseudo numbers that stand
 * for socketcall(2); the kernel's numbers, from arch/x86/entry/syscalls/syscall_32.tbl. */
static int i386_socket_nr(const char *name)
{
        static const char *const names[] = {
            "socket",  "socketpair", "bind",       "connect",     "listen",
            "accept4", "getsockopt", "setsockopt", "getsockname", "getpeername",
            "sendto",  "sendmsg",    "recvfrom",   "recvmsg",     "shutdown"};

        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
                if (strcmp(name, names[i]) == 0)
                        return 359 + (int)i;
        return -1;
}

static void print_action(uint32_t ret)
{
        uint32_t data = ret & SECCOMP_RET_DATA;

        switch (ret & SECCOMP_RET_ACTION_FULL) {
        case SECCOMP_RET_KILL_PROCESS:
                puts("KILL_PROCESS");
                break;
        case SECCOMP_RET_KILL_THREAD:
                puts("KILL_THREAD");
                break;
        case SECCOMP_RET_TRAP:
                printf("TRAP %" PRIu32 "\n", data);
                break;
        case SECCOMP_RET_ERRNO: {
                const char *name = strerrorname_np((int)data);

                if (name)
                        printf("ERRNO %s\n", name);
                else
                        printf("ERRNO %" PRIu32 "\n", data);
                break;
        }
        case SECCOMP_RET_USER_NOTIF:
                puts("USER_NOTIF");
                break;
        case SECCOMP_RET_TRACE:
                printf("TRACE %" PRIu32 "\n", data);
                break;
        case SECCOMP_RET_LOG:
                puts("LOG");
                break;
        case SECCOMP_RET_ALLOW:
                puts("ALLOW");
                break;
        default:
                printf("UNKNOWN 0x%08" PRIx32 "\n", ret);
        }
}

static int cmd_eval(int argc, char **argv, it_error *err)
{
        _cleanup_free_ char *bytes = NULL;
        struct seccomp_data data = {0};
        size_t len = 0, a;
        uint32_t ret;
        uint64_t v;

        if (argc < 5 || argc > 11)
                return usage();
        for (a = 0; a < sizeof arches / sizeof arches[0]; a++)
                if (strcmp(argv[3], arches[a].name) == 0)
                        break;
        if (a == sizeof arches / sizeof arches[0]) {
                it_error_set(err, IT_EINPUT, "unknown architecture \"%s\" (x86_64, i386, x32)",
                             argv[3]);
                return die(err);
        }
        if (it_file_read(argv[2], MAX_PROG * sizeof(struct sock_filter), &bytes, &len, err) < 0)
                return die(err);
        if (len == 0 || len % sizeof(struct sock_filter)) {
                it_error_set(err, IT_EINPUT, "%s: %zu bytes is not a sock_filter array", argv[2],
                             len);
                return die(err);
        }
        if (argv[4][0] >= '0' && argv[4][0] <= '9') {
                if (parse_u64(argv[4], "NR", &v, err) < 0)
                        return die(err);
                if (v > UINT32_MAX) {
                        it_error_set(err, IT_EINPUT, "NR out of range: %s", argv[4]);
                        return die(err);
                }
                data.nr = (int)(uint32_t)v;
        } else {
                int nr = seccomp_syscall_resolve_name_arch(arches[a].scmp, argv[4]);

                if (nr < 0 && arches[a].audit == AUDIT_ARCH_I386)
                        nr = i386_socket_nr(argv[4]);
                if (nr < 0) {
                        it_error_set(err, IT_EINPUT, "unknown syscall \"%s\" on %s", argv[4],
                                     arches[a].name);
                        return die(err);
                }
                data.nr = nr;
        }
        data.nr = (int)((uint32_t)data.nr | arches[a].nr_bits);
        data.arch = arches[a].audit;
        for (int i = 5; i < argc; i++) {
                if (parse_u64(argv[i], "argument", &v, err) < 0)
                        return die(err);
                /* a 32-bit ABI passes 32-bit arguments; the kernel zero-extends them */
                data.args[i - 5] = arches[a].audit == AUDIT_ARCH_I386 ? (uint32_t)v : v;
        }
        if (seccomp_bpf_eval((const struct sock_filter *)bytes, len / sizeof(struct sock_filter),
                             &data, &ret, err) < 0)
                return die(err);
        print_action(ret);
        return 0;
}

static int cmd_exec_default(int argc, char **argv, it_error *err)
{
        struct it_seccomp_profile p;
        scmp_filter_ctx ctx;
        uint64_t caps = IT_SECCOMP_PODMAN_CAPS;
        int i = 2;

        if (i < argc && strcmp(argv[i], "--") != 0) {
                if (parse_u64(argv[i], "CAPS_HEX", &caps, err) < 0)
                        return die(err);
                i++;
        }
        if (i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc)
                return usage();
        seccomp_profile_init(&p);
        seccomp_profile_default(&p, caps);
        int rc = seccomp_filter_build(&p, &ctx, err);
        seccomp_profile_free(&p);
        if (rc < 0)
                return die(err);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                it_error_sys(err, IT_EIO, errno, "PR_SET_NO_NEW_PRIVS");
                seccomp_release(ctx);
                return die(err);
        }
        rc = seccomp_filter_load(ctx, err);
        seccomp_release(ctx);
        if (rc < 0)
                return die(err);
        execvp(argv[i + 1], argv + i + 1);
        fprintf(stderr, "seccomp_tool: exec %s: %s\n", argv[i + 1], strerror(errno));
        return 127;
}

int main(int argc, char **argv)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;

        if (argc < 2)
                return usage();
        if (strcmp(argv[1], "dump") == 0)
                return cmd_dump(argc, argv, &err);
        if (strcmp(argv[1], "eval") == 0)
                return cmd_eval(argc, argv, &err);
        if (strcmp(argv[1], "exec-default") == 0)
                return cmd_exec_default(argc, argv, &err);
        return usage();
}
