/* probe: what a container process sees, as sorted `key: value` lines that can be diffed between
 * runtimes (imgrun, podman). Built by the tests: cc -static -O2 -o probe tests/probes/probe.c
 *
 *   probe status | syscalls | sockets | fs | ids [PATH...] | fds | limits | all [PATH...]
 *   probe exit N | kill SIG | sleep S | cat FILE
 *
 * Errors are errno names (strerrorname_np: EPERM, ENOSYS...), success is OK. Every line of one
 * invocation is sorted (strcmp) before printing. Keys:
 *   status   CapAmb CapBnd CapEff CapInh CapPrm NoNewPrivs Seccomp Seccomp_filters (verbatim)
 *   syscalls syscall.NAME: OK|ERRNO for the calls in group_syscalls (unshare_newuser,
 *            unshare_newns and chroot run in a child; personality_0x40000 is undone)
 *   sockets  socket.NAME: OK|ERRNO, NAME the family plus type/protocol where it matters
 *   fs       fs.read.P: OK 0|OK >0|ERRNO; fs.stat.P: c|b MAJ:MIN, f d l p s or ERRNO;
 *            fs.write.P (writes back what it read); fs.remount_sys_rw; fs.mount_tmpfs_mnt;
 *            fs.mknod_c_1_3; fs.create.P (removed again); fs.dev: sorted names;
 *            fs.count.P: entries; fs.mount.P: FSTYPE ro|rw[,nosuid][,nodev][,noexec] of the
 *            topmost mount at P, or none; fs.umask: 0022
 *   ids      ids.uid_map/gid_map (lines joined by ", ", blanks squeezed), ids.setgroups,
 *            ids.uid euid gid egid, ids.groups (sorted, or none), ids.hostname, and
 *            stat.PATH: UID:GID MODE (octal, 4 digits) for each PATH argument
 *   fds      fds: the open descriptors, ascending, without the one reading /proc/self/fd
 *   limits   limits.nofile / limits.nproc: SOFT HARD (or unlimited)
 * exit N exits N; kill SIG dies of SIG (a name or number; as a PID namespace's init only SEGV
 * can, other signals print "probe: still alive..." and exit 99); sleep S prints "caught: SIGX"
 * on HUP INT QUIT TERM USR1 USR2 and dies of it (exit 128+N as init); cat FILE copies FILE.
 * `syscalls`, `fs` and `all` make calls that could change the host if they ran unconfined as root,
 * with harmless arguments even then; they refuse (exit 3) unless the process is in a non-initial
 * user namespace whose uid_map is not the identity and in a non-initial UTS namespace, where the
 * kernel denies every host-wide change.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/quota.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/timex.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Inode numbers of the initial namespaces (include/linux/proc_ns.h). */
#define INIT_USER_INO 0xEFFFFFFDu
#define INIT_UTS_INO 0xEFFFFFFEu

#define MAX_LINES 512

struct out {
        char *lines[MAX_LINES];
        size_t n;
};

static void emit(struct out *o, const char *fmt, ...)
{
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        va_end(ap);
        if (o->n == MAX_LINES)
                abort();
        o->lines[o->n++] = s;
}

static int cmp_line(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void flush_out(struct out *o)
{
        qsort(o->lines, o->n, sizeof o->lines[0], cmp_line);
        for (size_t i = 0; i < o->n; i++) {
                puts(o->lines[i]);
                free(o->lines[i]);
        }
        o->n = 0;
        fflush(stdout);
}

static const char *ename(int e)
{
        static char buf[16];
        const char *s = strerrorname_np(e);

        if (s)
                return s;
        snprintf(buf, sizeof buf, "E%d", e);
        return buf;
}

/* OK for r >= 0, else the errno name. */
static const char *res(long r)
{
        return r >= 0 ? "OK" : ename(errno);
}

static void result(struct out *o, const char *prefix, const char *name, long r)
{
        emit(o, "%s.%s: %s", prefix, name, res(r));
}

/* Whole file into buf (NUL-terminated, truncated at size-1); bytes read or -1 with errno. */
static ssize_t slurp(const char *path, char *buf, size_t size)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t len = 0;
        ssize_t r = 0;

        if (fd < 0)
                return -1;
        while (len + 1 < size && (r = read(fd, buf + len, size - 1 - len)) > 0)
                len += (size_t)r;
        int e = errno;
        close(fd);
        buf[len] = '\0';
        if (r < 0) {
                errno = e;
                return -1;
        }
        return (ssize_t)len;
}

/* Lines of s with runs of blanks turned into one space, joined by ", ". In place. */
static char *normalise(char *s)
{
        char *w = s;
        int sp = 0, nl = 0;

        for (char *r = s; *r; r++) {
                if (*r == '\n') {
                        nl = 1;
                        sp = 0;
                } else if (isspace((unsigned char)*r)) {
                        sp = 1;
                } else {
                        if (nl && w != s) {
                                *w++ = ',';
                                *w++ = ' ';
                        } else if (sp && w != s && !nl) {
                                *w++ = ' ';
                        }
                        nl = sp = 0;
                        *w++ = *r;
                }
        }
        *w = '\0';
        return s;
}

static int in_container(void)
{
        struct stat u, h;
        char map[256];

        if (stat("/proc/self/ns/user", &u) < 0 || stat("/proc/self/ns/uts", &h) < 0)
                return 0;
        if (u.st_ino == INIT_USER_INO || h.st_ino == INIT_UTS_INO)
                return 0;
        if (slurp("/proc/self/uid_map", map, sizeof map) < 0)
                return 0;
        return strcmp(normalise(map), "0 0 4294967295") != 0;
}

static void need_container(void)
{
        if (!in_container()) {
                fputs("refused: not inside a container\n", stderr);
                exit(3);
        }
}

static void group_status(struct out *o)
{
        static const char *const keys[] = {"CapInh", "CapPrm",     "CapEff",  "CapBnd",
                                           "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters"};
        char buf[8192];

        if (slurp("/proc/self/status", buf, sizeof buf) < 0) {
                emit(o, "status: %s", ename(errno));
                return;
        }
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
                size_t kl = strlen(keys[i]);
                const char *v = "missing";
                char val[64];

                for (char *l = buf; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
                        if (strncmp(l, keys[i], kl) == 0 && l[kl] == ':') {
                                const char *p = l + kl + 1;
                                size_t n;

                                p += strspn(p, " \t");
                                n = strcspn(p, "\n");
                                snprintf(val, sizeof val, "%.*s", (int)n, p);
                                v = val;
                                break;
                        }
                }
                emit(o, "%s: %s", keys[i], v);
        }
}

/* Runs fn in a child (for calls that change the caller's own state) and reports its answer. */
static void in_child(struct out *o, const char *name, long (*fn)(void))
{
        int p[2], st, e = 0;
        pid_t pid;

        if (pipe(p) < 0) {
                emit(o, "syscall.%s: untested (pipe: %s)", name, ename(errno));
                return;
        }
        fflush(NULL);
        pid = fork();
        if (pid == 0) {
                long r = fn();
                int ce = r < 0 ? errno : 0;

                if (write(p[1], &ce, sizeof ce) != sizeof ce)
                        _exit(1);
                _exit(0);
        }
        close(p[1]);
        if (pid < 0 || read(p[0], &e, sizeof e) != sizeof e)
                e = pid < 0 ? errno : EIO;
        close(p[0]);
        if (pid > 0)
                waitpid(pid, &st, 0);
        emit(o, "syscall.%s: %s", name, e ? ename(e) : "OK");
}

static long unshare_user(void)
{
        return unshare(CLONE_NEWUSER);
}

static long unshare_ns(void)
{
        return unshare(CLONE_NEWNS);
}

static long do_chroot(void)
{
        return syscall(SYS_chroot, "/");
}

static long closing(long r)
{
        if (r >= 0)
                close((int)r);
        return r;
}

static void group_syscalls(struct out *o)
{
        const char *nx = "/nonexistent/probe";
        char cwd[4096];
        struct utsname un;
        struct timex tx;
        struct timespec ts;
        long r, old;

        uname(&un);

        result(o, "syscall", "kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
        result(o, "syscall", "kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, "", 0));
        result(o, "syscall", "init_module", syscall(SYS_init_module, NULL, 0, ""));
        result(o, "syscall", "finit_module", syscall(SYS_finit_module, -1, "", 0));
        result(o, "syscall", "delete_module", syscall(SYS_delete_module, "probe_nonexistent", 0));
        result(o, "syscall", "open_by_handle_at", syscall(SYS_open_by_handle_at, -1, NULL, 0));
        result(o, "syscall", "iopl", syscall(SYS_iopl, 3));
        result(o, "syscall", "ioperm", syscall(SYS_ioperm, 0x80, 1, 1));
        result(o, "syscall", "swapon", syscall(SYS_swapon, nx, 0));
        result(o, "syscall", "swapoff", syscall(SYS_swapoff, nx));
        result(o, "syscall", "sysfs", syscall(SYS_sysfs, 3));
        result(o, "syscall", "_sysctl", syscall(SYS__sysctl, NULL));
        memset(&tx, 0, sizeof tx);
        result(o, "syscall", "adjtimex_read", syscall(SYS_adjtimex, &tx));
        tx.modes = ADJ_TICK; /* the tick just read: no change even if allowed */
        result(o, "syscall", "adjtimex_set", syscall(SYS_adjtimex, &tx));
        memset(&tx, 0, sizeof tx);
        result(o, "syscall", "clock_adjtime_read", syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx));
        result(o, "syscall", "lookup_dcookie", syscall(SYS_lookup_dcookie, 0, NULL, 0));
        {
                struct perf_event_attr pa;

                memset(&pa, 0, sizeof pa);
                pa.type = PERF_TYPE_SOFTWARE;
                pa.size = sizeof pa;
                pa.config = PERF_COUNT_SW_CPU_CLOCK;
                pa.disabled = 1;
                pa.exclude_kernel = 1;
                pa.exclude_hv = 1;
                result(o, "syscall", "perf_event_open",
                       closing(syscall(SYS_perf_event_open, &pa, 0, -1, -1, 0)));
        }
        result(o, "syscall", "fanotify_init", closing(syscall(SYS_fanotify_init, 0, 0)));
        result(o, "syscall", "kcmp", syscall(SYS_kcmp, getpid(), getpid(), 0, 0, 0));
        result(o, "syscall", "bpf", syscall(SYS_bpf, 0, NULL, 0));
        result(o, "syscall", "userfaultfd", closing(syscall(SYS_userfaultfd, O_CLOEXEC)));
        result(o, "syscall", "move_pages", syscall(SYS_move_pages, 0, 0, NULL, NULL, NULL, 0));
        result(o, "syscall", "migrate_pages", syscall(SYS_migrate_pages, 0, 0, NULL, NULL));
        result(o, "syscall", "vmsplice", syscall(SYS_vmsplice, -1, NULL, 0, 0));
        /* no special device and not Q_SYNC: the kernel answers ENODEV once allowed */
        result(o, "syscall", "quotactl",
               syscall(SYS_quotactl, (unsigned)Q_GETFMT << 8 | USRQUOTA, NULL, 0, NULL));
        result(o, "syscall", "acct", syscall(SYS_acct, NULL));
        result(o, "syscall", "settimeofday", syscall(SYS_settimeofday, NULL, NULL));
        /* CLOCK_MONOTONIC cannot be set: EINVAL once past the filter, never a change */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        result(o, "syscall", "clock_settime", syscall(SYS_clock_settime, CLOCK_MONOTONIC, &ts));
        result(o, "syscall", "io_uring_setup", syscall(SYS_io_uring_setup, 1, NULL));
        /* a key in the process keyring dies with the process */
        result(o, "syscall", "add_key", syscall(SYS_add_key, "user", "probe", "x", 1, -2));
        result(o, "syscall", "request_key",
               syscall(SYS_request_key, "user", "probe-nonexistent", NULL, 0));
        result(o, "syscall", "keyctl_get_keyring_id", syscall(SYS_keyctl, 0, -3, 0));
        old = syscall(SYS_personality, 0xffffffffUL);
        result(o, "syscall", "personality_0xffffffff", old);
        r = syscall(SYS_personality, 0x40000UL);
        result(o, "syscall", "personality_0x40000", r);
        if (r >= 0 && old >= 0)
                syscall(SYS_personality, (unsigned long)old);
        result(o, "syscall", "getcwd", syscall(SYS_getcwd, cwd, sizeof cwd));
        result(o, "syscall", "sethostname",
               syscall(SYS_sethostname, un.nodename, strlen(un.nodename)));
        result(o, "syscall", "setdomainname",
               syscall(SYS_setdomainname, un.domainname, strlen(un.domainname)));
        result(o, "syscall", "setns", syscall(SYS_setns, -1, 0));
        result(o, "syscall", "unshare_0", syscall(SYS_unshare, 0));
        in_child(o, "unshare_newuser", unshare_user);
        in_child(o, "unshare_newns", unshare_ns);
        result(o, "syscall", "mount", syscall(SYS_mount, nx, nx, "tmpfs", 0, NULL));
        result(o, "syscall", "umount2", syscall(SYS_umount2, nx, 0));
        result(o, "syscall", "pivot_root", syscall(SYS_pivot_root, nx, nx));
        in_child(o, "chroot", do_chroot);
        /* not tracing anyone: ESRCH once allowed */
        result(o, "syscall", "ptrace", syscall(SYS_ptrace, PTRACE_PEEKUSER, getpid(), 0, 0));
        {
                char args[8] = {0};

                result(o, "syscall", "clone3", syscall(SYS_clone3, args, sizeof args));
        }
        result(o, "syscall", "reboot", syscall(SYS_reboot, 0, 0, 0, NULL));
        result(o, "syscall", "syslog", syscall(SYS_syslog, 10, NULL, 0));
        result(o, "syscall", "vhangup", syscall(SYS_vhangup));
        result(o, "syscall", "process_madvise", syscall(SYS_process_madvise, -1, NULL, 0, 0, 0));
}

static void group_sockets(struct out *o)
{
        static const struct {
                const char *name;
                int domain, type, proto;
        } s[] = {
            {"AF_UNIX", AF_UNIX, SOCK_STREAM, 0},
            {"AF_INET_STREAM", AF_INET, SOCK_STREAM, 0},
            {"AF_INET_DGRAM", AF_INET, SOCK_DGRAM, 0},
            {"AF_INET_DGRAM_ICMP", AF_INET, SOCK_DGRAM, 1},
            {"AF_INET_RAW_ICMP", AF_INET, SOCK_RAW, 1},
            {"AF_INET6", AF_INET6, SOCK_STREAM, 0},
            {"AF_NETLINK_ROUTE", AF_NETLINK, SOCK_RAW, 0},
            {"AF_NETLINK_AUDIT", AF_NETLINK, SOCK_RAW, 9},
            {"AF_PACKET_RAW", AF_PACKET, SOCK_RAW, 0},
            {"AF_AX25", AF_AX25, SOCK_DGRAM, 0},
            {"AF_IPX", AF_IPX, SOCK_DGRAM, 0},
            {"AF_APPLETALK", AF_APPLETALK, SOCK_DGRAM, 0},
            {"AF_NETROM", AF_NETROM, SOCK_SEQPACKET, 0},
            {"AF_X25", AF_X25, SOCK_SEQPACKET, 0},
            {"AF_ROSE", AF_ROSE, SOCK_SEQPACKET, 0},
            {"AF_DECnet", AF_DECnet, SOCK_SEQPACKET, 0},
            {"AF_KEY", AF_KEY, SOCK_RAW, 2},
            {"AF_ALG", AF_ALG, SOCK_SEQPACKET, 0},
            {"AF_VSOCK", AF_VSOCK, SOCK_STREAM, 0},
            {"AF_XDP", AF_XDP, SOCK_RAW, 0},
        };

        for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
                result(o, "socket", s[i].name,
                       closing(
                           syscall(SYS_socket, s[i].domain, s[i].type | SOCK_CLOEXEC, s[i].proto)));
}

static void stat_line(struct out *o, const char *path)
{
        struct stat st;

        if (lstat(path, &st) < 0) {
                emit(o, "fs.stat.%s: %s", path, ename(errno));
                return;
        }
        switch (st.st_mode & S_IFMT) {
        case S_IFCHR:
        case S_IFBLK:
                emit(o, "fs.stat.%s: %c %u:%u", path, S_ISCHR(st.st_mode) ? 'c' : 'b',
                     major(st.st_rdev), minor(st.st_rdev));
                break;
        default:
                emit(o, "fs.stat.%s: %c", path,
                     S_ISREG(st.st_mode)    ? 'f'
                     : S_ISDIR(st.st_mode)  ? 'd'
                     : S_ISLNK(st.st_mode)  ? 'l'
                     : S_ISFIFO(st.st_mode) ? 'p'
                                            : 's');
        }
}

static void read_line(struct out *o, const char *path)
{
        char buf[65536];
        ssize_t n = slurp(path, buf, sizeof buf);

        if (n < 0)
                emit(o, "fs.read.%s: %s", path, ename(errno));
        else
                emit(o, "fs.read.%s: OK %s", path, n ? ">0" : "0");
}

/* Writes the file's own content back: a change only in what is refused. */
static void rewrite_line(struct out *o, const char *path)
{
        char buf[256];
        ssize_t n = slurp(path, buf, sizeof buf);
        int fd;

        if (n < 0) {
                emit(o, "fs.write.%s: %s", path, ename(errno));
                return;
        }
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
                emit(o, "fs.write.%s: %s", path, ename(errno));
                return;
        }
        n = write(fd, buf, (size_t)n);
        emit(o, "fs.write.%s: %s", path, res(n));
        close(fd);
}

static void create_line(struct out *o, const char *path)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

        emit(o, "fs.create.%s: %s", path, res(fd));
        if (fd >= 0) {
                close(fd);
                unlink(path);
        }
}

/* Entries of a directory (without . and ..): count, or the errno. */
static void count_line(struct out *o, const char *path)
{
        DIR *d = opendir(path);
        struct dirent *e;
        int n = 0;

        if (!d) {
                emit(o, "fs.count.%s: %s", path, ename(errno));
                return;
        }
        while ((e = readdir(d)))
                n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
        closedir(d);
        emit(o, "fs.count.%s: %d", path, n);
}

static void dev_line(struct out *o)
{
        struct dirent **names;
        int n = scandir("/dev", &names, NULL, alphasort);
        char list[4096] = "";
        size_t len = 0;

        if (n < 0) {
                emit(o, "fs.dev: %s", ename(errno));
                return;
        }
        for (int i = 0; i < n; i++) {
                const char *s = names[i]->d_name;

                if (strcmp(s, ".") && strcmp(s, "..") && len + strlen(s) + 2 < sizeof list)
                        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
                                                len ? " " : "", s);
                free(names[i]);
        }
        free(names);
        emit(o, "fs.dev: %s", list);
}

/* The topmost mount at each of these mount points: fs type, ro|rw and nosuid/nodev/noexec. */
static void mounts_lines(struct out *o)
{
        static const char *const points[] = {
            "/", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys/fs/cgroup"};
        char seen[sizeof points / sizeof points[0]][128];
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char *line = NULL;
        size_t cap = 0;

        for (size_t i = 0; i < sizeof points / sizeof points[0]; i++)
                strcpy(seen[i], "none");
        while (f && getline(&line, &cap, f) > 0) {
                char mp[4096], opts[1024], fstype[64];
                const char *dash = strstr(line, " - ");

                if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s %1023s", mp, opts) != 2 ||
                    sscanf(dash + 3, "%63s", fstype) != 1)
                        continue;
                for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
                        if (strcmp(mp, points[i]))
                                continue;
                        char *c = opts, *tok;
                        int ro = 0, nosuid = 0, nodev = 0, noexec = 0;

                        while ((tok = strsep(&c, ","))) {
                                ro |= !strcmp(tok, "ro");
                                nosuid |= !strcmp(tok, "nosuid");
                                nodev |= !strcmp(tok, "nodev");
                                noexec |= !strcmp(tok, "noexec");
                        }
                        snprintf(seen[i], sizeof seen[i], "%s %s%s%s%s", fstype, ro ? "ro" : "rw",
                                 nosuid ? ",nosuid" : "", nodev ? ",nodev" : "",
                                 noexec ? ",noexec" : "");
                }
        }
        free(line);
        if (f)
                fclose(f);
        for (size_t i = 0; i < sizeof points / sizeof points[0]; i++)
                emit(o, "fs.mount.%s: %s", points[i], seen[i]);
}

static void group_fs(struct out *o)
{
        static const char *const creates[] = {"/probe-x", "/tmp/probe-x", "/run/probe-x",
                                              "/var/tmp/probe-x"};
        mode_t m;
        long r;

        read_line(o, "/proc/kcore");
        read_line(o, "/proc/keys");
        read_line(o, "/proc/timer_list");
        stat_line(o, "/proc/kcore");
        stat_line(o, "/proc/keys");
        stat_line(o, "/proc/timer_list");
        stat_line(o, "/dev/null");
        rewrite_line(o, "/proc/sys/kernel/hostname");
        rewrite_line(o, "/proc/sys/kernel/domainname");
        r = mount(NULL, "/sys", NULL, MS_REMOUNT | MS_BIND, NULL);
        emit(o, "fs.remount_sys_rw: %s", res(r));
        if (r == 0)
                mount(NULL, "/sys", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
        r = mount("none", "/mnt", "tmpfs", 0, "size=4k");
        emit(o, "fs.mount_tmpfs_mnt: %s", res(r));
        if (r == 0)
                umount2("/mnt", MNT_DETACH);
        r = mknod("/tmp/probe-node", S_IFCHR | 0600, makedev(1, 3));
        emit(o, "fs.mknod_c_1_3: %s", res(r));
        if (r == 0)
                unlink("/tmp/probe-node");
        for (size_t i = 0; i < sizeof creates / sizeof creates[0]; i++)
                create_line(o, creates[i]);
        dev_line(o);
        count_line(o, "/proc/acpi");
        count_line(o, "/sys/firmware");
        mounts_lines(o);
        m = umask(0);
        umask(m);
        emit(o, "fs.umask: %04o", (unsigned)m);
}

static void map_line(struct out *o, const char *key, const char *path)
{
        char buf[1024];

        if (slurp(path, buf, sizeof buf) < 0)
                emit(o, "ids.%s: %s", key, ename(errno));
        else
                emit(o, "ids.%s: %s", key, normalise(buf));
}

static int cmp_gid(const void *a, const void *b)
{
        gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;

        return (x > y) - (x < y);
}

static void group_ids(struct out *o, int npaths, char **paths)
{
        gid_t g[256];
        int n = getgroups(256, g);
        char list[2048] = "";
        size_t len = 0;
        struct utsname un;

        map_line(o, "uid_map", "/proc/self/uid_map");
        map_line(o, "gid_map", "/proc/self/gid_map");
        map_line(o, "setgroups", "/proc/self/setgroups");
        emit(o, "ids.uid: %u", (unsigned)getuid());
        emit(o, "ids.euid: %u", (unsigned)geteuid());
        emit(o, "ids.gid: %u", (unsigned)getgid());
        emit(o, "ids.egid: %u", (unsigned)getegid());
        if (n > 0)
                qsort(g, (size_t)n, sizeof g[0], cmp_gid);
        for (int i = 0; i < n; i++)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%u", i ? " " : "",
                                        (unsigned)g[i]);
        emit(o, "ids.groups: %s", n < 0 ? ename(errno) : n ? list : "none");
        uname(&un);
        emit(o, "ids.hostname: %s", un.nodename);
        for (int i = 0; i < npaths; i++) {
                struct stat st;

                if (lstat(paths[i], &st) < 0)
                        emit(o, "stat.%s: %s", paths[i], ename(errno));
                else
                        emit(o, "stat.%s: %u:%u %04o", paths[i], (unsigned)st.st_uid,
                             (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777));
        }
}

static int cmp_int(const void *a, const void *b)
{
        int x = *(const int *)a, y = *(const int *)b;

        return (x > y) - (x < y);
}

static void group_fds(struct out *o)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        int fds[1024], n = 0;
        char list[8192] = "";
        size_t len = 0;

        if (!d) {
                emit(o, "fds: %s", ename(errno));
                return;
        }
        while ((e = readdir(d)) && n < 1024) {
                if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
                        fds[n++] = atoi(e->d_name);
        }
        closedir(d);
        qsort(fds, (size_t)n, sizeof fds[0], cmp_int);
        for (int i = 0; i < n; i++)
                len +=
                    (size_t)snprintf(list + len, sizeof list - len, "%s%d", i ? " " : "", fds[i]);
        emit(o, "fds: %s", list);
}

static void limit_line(struct out *o, const char *name, int res_id)
{
        struct rlimit rl;
        char s[32], h[32];

        if (getrlimit(res_id, &rl) < 0) {
                emit(o, "limits.%s: %s", name, ename(errno));
                return;
        }
        if (rl.rlim_cur == RLIM_INFINITY)
                strcpy(s, "unlimited");
        else
                snprintf(s, sizeof s, "%llu", (unsigned long long)rl.rlim_cur);
        if (rl.rlim_max == RLIM_INFINITY)
                strcpy(h, "unlimited");
        else
                snprintf(h, sizeof h, "%llu", (unsigned long long)rl.rlim_max);
        emit(o, "limits.%s: %s %s", name, s, h);
}

static void group_limits(struct out *o)
{
        limit_line(o, "nofile", RLIMIT_NOFILE);
        limit_line(o, "nproc", RLIMIT_NPROC);
}

static int signum(const char *s)
{
        static const struct {
                const char *name;
                int sig;
        } t[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},
                 {"ABRT", SIGABRT}, {"KILL", SIGKILL}, {"SEGV", SIGSEGV},
                 {"TERM", SIGTERM}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};

        if (strncmp(s, "SIG", 3) == 0)
                s += 3;
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
                if (strcmp(s, t[i].name) == 0)
                        return t[i].sig;
        return atoi(s);
}

/* Says which signal arrived, then dies of it; a namespace's init ignores its own default-action
 * signals, so it exits 128+N instead, which a runtime reports the same way. */
static void on_signal(int sig)
{
        char line[64];
        const char *name = sigabbrev_np(sig);
        int n = snprintf(line, sizeof line, "caught: SIG%s\n", name ? name : "?");

        if (write(STDOUT_FILENO, line, (size_t)n) < 0)
                _exit(98);
        signal(sig, SIG_DFL);
        kill(getpid(), sig);
        _exit(128 + sig);
}

static int usage(void)
{
        fputs("usage: probe status|syscalls|sockets|fs|ids [PATH...]|fds|limits|all [PATH...]\n"
              "       probe exit N|kill SIG|sleep S|cat FILE\n",
              stderr);
        return 2;
}

int main(int argc, char **argv)
{
        struct out o = {.n = 0};
        const char *cmd = argc > 1 ? argv[1] : "";

        if (strcmp(cmd, "exit") == 0 && argc == 3)
                return atoi(argv[2]);
        if (strcmp(cmd, "kill") == 0 && argc == 3) {
                int sig = signum(argv[2]);
                sigset_t all;

                signal(sig, SIG_DFL);
                sigfillset(&all);
                sigprocmask(SIG_UNBLOCK, &all, NULL);
                fflush(NULL);
                /* a fault kills even a namespace's init, which ignores its own signals */
                if (sig == SIGSEGV)
                        *(volatile int *)0 = 0;
                kill(getpid(), sig);
                fprintf(stderr, "probe: still alive after signal %d (pid %d)\n", sig, getpid());
                return 99;
        }
        if (strcmp(cmd, "sleep") == 0 && argc == 3) {
                static const int caught[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
                struct timespec ts = {.tv_sec = atol(argv[2])};

                for (size_t i = 0; i < sizeof caught / sizeof caught[0]; i++)
                        signal(caught[i], on_signal);
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
                return 0;
        }
        if (strcmp(cmd, "cat") == 0 && argc == 3) {
                char buf[65536];
                int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
                ssize_t n;

                if (fd < 0) {
                        fprintf(stderr, "probe: %s: %s\n", argv[2], ename(errno));
                        return 1;
                }
                while ((n = read(fd, buf, sizeof buf)) > 0)
                        if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
                                return 1;
                return n < 0;
        }

        int all = strcmp(cmd, "all") == 0;
        int paths = strcmp(cmd, "ids") == 0 || all;

        if (argc > 2 && !paths)
                return usage();
        if (all || !strcmp(cmd, "syscalls") || !strcmp(cmd, "fs"))
                need_container();
        if (all || !strcmp(cmd, "status"))
                group_status(&o);
        if (all || !strcmp(cmd, "syscalls"))
                group_syscalls(&o);
        if (all || !strcmp(cmd, "sockets"))
                group_sockets(&o);
        if (all || !strcmp(cmd, "fs"))
                group_fs(&o);
        if (all || !strcmp(cmd, "ids"))
                group_ids(&o, argc - 2, argv + 2);
        if (all || !strcmp(cmd, "limits"))
                group_limits(&o);
        if (!strcmp(cmd, "fds"))
                group_fds(&o);
        if (o.n == 0)
                return usage();
        flush_out(&o);
        return 0;
}
