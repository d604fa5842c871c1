/* imgrun's launch sequence (imgtrust/container.h; runtime-storage.md §6): parent prepares, the
 * container's init is cloned into new namespaces, the parent writes its ID maps, the child builds
 * its filesystem view, drops to the configured user and capabilities, loads seccomp and execs;
 * the parent then forwards signals (and a pty) until the container exits. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "imgtrust/container.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <net/if.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "imgtrust/autons.h"
#include "imgtrust/buf.h"
#include "imgtrust/caps.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/fs.h"
#include "imgtrust/json.h"
#include "imgtrust/mount.h"
#include "imgtrust/procspec.h"
#include "imgtrust/rootfs.h"
#include "imgtrust/seccomp.h"
#include "imgtrust/store.h"
#include "imgtrust/userns.h"
#include "imgtrust/version.h"
#include "imgtrust/xalloc.h"

extern char **environ;

#define SECRET_MAX (512u * 1024)
#define PROFILE_MAX IT_SECCOMP_JSON_MAX
#define CONFIG_MAX (4u << 20)
#define NOFILE_MAX 1048576
#define NPROC_PODMAN 32768

void run_opts_init(struct it_run_opts *o)
{
        memset(o, 0, sizeof *o);
        o->no_new_privs = -1;
}

void run_opts_free(struct it_run_opts *o)
{
        it_strv_free(&o->env);
        it_strv_free(&o->cap_add);
        it_strv_free(&o->cap_drop);
        it_strv_free(&o->seccomp_rules);
        it_strv_free(&o->mask);
        it_strv_free(&o->unmask);
        it_strv_free(&o->secrets);
}

/* ---- child -> parent reports ---- */

enum { R_ERROR = 1, R_EXEC, R_TTY };

struct report {
        int kind;
        int code;
        int sys_errno;
        char msg[2048];
};

static void send_report(int fd, int kind, const it_error *err, int sys_errno)
{
        struct report r = {.kind = kind, .code = err ? err->code : 0, .sys_errno = sys_errno};
        if (err) {
                _cleanup_free_ char *m = it_error_format(err);
                snprintf(r.msg, sizeof r.msg, "%s", m ? m : "error");
        }
        ssize_t n;
        do
                n = send(fd, &r, sizeof r, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
}

static int send_fd(int sock, int fd)
{
        struct report r = {.kind = R_TTY};
        struct iovec iov = {.iov_base = &r, .iov_len = sizeof r};
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } u;
        memset(&u, 0, sizeof u);
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
        return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* One report; 0 at EOF (the command was executed: the socket is close-on-exec). */
static ssize_t recv_report(int sock, struct report *r, int *fd)
{
        *fd = -1;
        struct iovec iov = {.iov_base = r, .iov_len = sizeof *r};
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } u;
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
        ssize_t n;
        do
                n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n <= 0)
                return n;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
                        memcpy(fd, CMSG_DATA(c), sizeof *fd);
        if ((size_t)n != sizeof *r)
                return -1;
        r->msg[sizeof r->msg - 1] = '\0';
        return n;
}

/* ---- what the child needs, prepared by the parent ---- */

struct ctx {
        const struct it_run_opts *o;
        struct it_store *st;
        struct it_store_image img;
        char id[65];
        char *root_abs; /* the store root's absolute path */
        struct it_idmap map;
        bool userns;
        bool root_ns; /* root's container: a range of its own, prepared by the parent */
        struct it_autons_lease lease;
        int dirlock; /* containers/<id>/, flock(LOCK_EX)ed while the container lives */
        int rootmnt; /* root_ns: the overlay, made by the parent, handed over (-1 otherwise) */
        struct it_procspec spec;
        struct it_seccomp_profile profile;
        bool seccomp_on;
        char profile_src[160];   /* "default", or "json:<sha256 of the file>" */
        struct sock_filter *bpf; /* the compiled filter; NULL: none */
        size_t bpf_len;
        bool nnp;
        struct it_strv masked, ro_paths;
        struct it_rootfs_bind binds[3];
        char *bind_src[3]; /* host paths of binds[] */
        size_t nbinds;
        char **secret_src;
        struct it_rootfs_bind *secrets;
        size_t nsecrets;
        uint64_t host_bounding;
        int last_cap;
        dev_t merged_dev;
        ino_t merged_ino;
        sigset_t oldmask;
        int sync; /* the child's end */
};

static void ctx_free(struct ctx *c)
{
        store_image_free(&c->img);
        free(c->root_abs);
        procspec_free(&c->spec);
        seccomp_profile_free(&c->profile);
        free(c->bpf);
        it_strv_free(&c->masked);
        it_strv_free(&c->ro_paths);
        for (size_t i = 0; i < c->nbinds; i++) {
                if (c->binds[i].fd >= 0)
                        close(c->binds[i].fd);
                free(c->bind_src[i]);
        }
        for (size_t i = 0; i < c->nsecrets; i++) {
                if (c->secrets[i].fd >= 0)
                        close(c->secrets[i].fd);
                free((char *)c->secrets[i].path);
                free(c->secret_src[i]);
        }
        free(c->secrets);
        free(c->secret_src);
        if (c->rootmnt >= 0)
                close(c->rootmnt);
        if (c->dirlock >= 0)
                close(c->dirlock);
        autons_release(&c->lease);
        if (c->st)
                store_close(c->st);
}

/* ---- the container's init ---- */

static int loopback_up(it_error *err)
{
        _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s < 0)
                return it_error_sys(err, IT_EIO, errno, "loopback: socket");
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
        if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
                return it_error_sys(err, IT_EIO, errno, "loopback: SIOCGIFFLAGS");
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
                return it_error_sys(err, IT_EIO, errno, "loopback: bringing lo up");
        return 0;
}

/* podman's rlimits: NOFILE and NPROC at podman's own hard limit (it may not raise them rootless),
 * soft raised to hard. podman 4.3.1 lowers its own NPROC to 32768 when it starts (strace:
 * setrlimit(RLIMIT_NPROC, {32768, 32768})), so that is the most a container gets from it. */
static int set_rlimits(it_error *err)
{
        static const int res[] = {RLIMIT_NOFILE, RLIMIT_NPROC};
        for (size_t i = 0; i < 2; i++) {
                struct rlimit rl;
                if (getrlimit(res[i], &rl) != 0)
                        return it_error_sys(err, IT_EIO, errno, "getrlimit");
                if (res[i] == RLIMIT_NOFILE && rl.rlim_max > NOFILE_MAX)
                        rl.rlim_max = NOFILE_MAX;
                if (res[i] == RLIMIT_NPROC && rl.rlim_max > NPROC_PODMAN)
                        rl.rlim_max = NPROC_PODMAN;
                rl.rlim_cur = rl.rlim_max;
                if (setrlimit(res[i], &rl) != 0)
                        return it_error_sys(err, IT_EIO, errno, "setrlimit %s",
                                            i == 0 ? "RLIMIT_NOFILE" : "RLIMIT_NPROC");
        }
        return 0;
}

/* The root filesystem: the store's overlay with this container's upper directory, attached at
 * containers/<id>/merged in our mount namespace. *rootfd: its root directory. */
static int mount_root(struct ctx *c, int *rootfd, it_error *err)
{
        if (c->root_ns) {
                /* The store is root's and out of our reach: the parent made the overlay (lower
                 * layers idmapped into our namespace). Any directory of our own mount namespace
                 * does as its mount point; nothing of the host's tree stays after pivot_root. */
                static const char *const spots[] = {"/tmp", "/mnt", "/run"};
                int e = ENOENT;
                for (size_t i = 0; i < 3; i++) {
                        if (move_mount(c->rootmnt, "", AT_FDCWD, spots[i],
                                       MOVE_MOUNT_F_EMPTY_PATH) == 0) {
                                *rootfd =
                                    openat(c->rootmnt, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                                if (*rootfd < 0)
                                        return it_error_sys(err, IT_EIO, errno, "root filesystem");
                                return 0;
                        }
                        e = errno;
                }
                return it_error_sys(err, IT_EIO, e, "cannot mount the root filesystem");
        }
        char upper[96], work[96];
        snprintf(upper, sizeof upper, "containers/%s/upper", c->id);
        snprintf(work, sizeof work, "containers/%s/work", c->id);
        const struct it_overlay_spec os = {
            .upper = upper, .work = work, .idmap_userns_fd = -1, .stage = NULL};
        _cleanup_close_ int ovl = -1;
        int rc = mount_overlay_spec(c->st, &c->img, &os, &ovl, err);
        if (rc < 0)
                return rc;
        /* Reopened by path: an fd from before the clone belongs to the parent's mounts. */
        _cleanup_free_ char *mp = xasprintf("%s/containers/%s/merged", c->root_abs, c->id);
        _cleanup_close_ int target = open(mp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat sb;
        if (target < 0 || fstat(target, &sb) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s", mp);
        if (sb.st_dev != c->merged_dev || sb.st_ino != c->merged_ino)
                return it_error_set(err, IT_EIO, "%s: replaced while the container started", mp);
        if (move_mount(ovl, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s: cannot mount the root filesystem", mp);
        *rootfd = openat(ovl, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (*rootfd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s", mp);
        return 0;
}

static int open_pty(int rootfd, int *master, int *slave, it_error *err)
{
        *master = it_openat_beneath(rootfd, "dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC, 0);
        if (*master < 0)
                return it_error_sys(err, IT_EIO, errno, "/dev/pts/ptmx");
        int unlock = 0;
        if (ioctl(*master, TIOCSPTLCK, &unlock) != 0)
                return it_error_sys(err, IT_EIO, errno, "/dev/pts/ptmx: unlock");
        *slave = ioctl(*master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
        if (*slave < 0)
                return it_error_sys(err, IT_EIO, errno, "/dev/pts/ptmx: opening the terminal");
        return 0;
}

static int build_seccomp(struct ctx *c, uint64_t bounding, scmp_filter_ctx *f, it_error *err)
{
        const struct it_run_opts *o = c->o;
        if (!o->seccomp)
                seccomp_profile_default(&c->profile, bounding);
        c->profile.caps = bounding;
        for (size_t i = 0; i < o->seccomp_rules.n; i++) {
                const char *r = o->seccomp_rules.v[i];
                int rc = 0;
                if (strcmp(r, "deny:all") == 0) {
                        /* Nothing runs but what is allowed back, except handing over to the
                         * command and ending: a process that cannot exit_group spins on. */
                        seccomp_profile_deny_all(&c->profile);
                        static const char *const keep[] = {"execve", "exit", "exit_group"};
                        for (size_t k = 0; k < 3 && rc == 0; k++)
                                rc = seccomp_profile_allow(&c->profile, keep[k], err);
                } else if (strncmp(r, "allow:", 6) == 0)
                        rc = seccomp_profile_allow(&c->profile, r + 6, err);
                else if (strncmp(r, "deny:", 5) == 0)
                        rc = seccomp_profile_deny(&c->profile, r + 5, err);
                if (rc < 0)
                        return it_error_wrap(err, "--security-opt seccomp:%s", r);
        }
        return seccomp_filter_build(&c->profile, f, err);
}

/* The reaper of --init: PID 1 of the container, without capabilities, forwarding signals to
 * the command and exiting with its status. */
static _Noreturn void init_loop(pid_t child, const sigset_t *fwd)
{
        struct it_caps none = {0};
        _cleanup_error_ it_error ign = IT_ERROR_INIT;
        (void)caps_apply(&none, caps_last_cap(), &ign);
        (void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        /* The command runs as the same user: it could read our memory and open our
         * descriptors through /proc/1 (the store's directories among them). Keep neither. */
        (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        syscall(SYS_close_range, 3U, ~0U, 0U);
        int sfd = signalfd(-1, fwd, SFD_CLOEXEC | SFD_NONBLOCK);
        for (;;) {
                int st;
                pid_t r;
                while ((r = waitpid(-1, &st, WNOHANG)) > 0)
                        if (r == child)
                                _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
                struct pollfd p = {.fd = sfd, .events = POLLIN};
                /* SIGCHLD is in fwd only to wake us; it is not forwarded. */
                if (poll(&p, 1, -1) > 0) {
                        struct signalfd_siginfo si;
                        while (read(sfd, &si, sizeof si) == sizeof si)
                                if (si.ssi_signo != SIGCHLD)
                                        kill(child, (int)si.ssi_signo);
                }
        }
}

/* The parent's fd of a file to bind, opened again by path in our mount namespace (a mount from
 * the parent's namespace cannot be cloned here) and checked to be the same file. */
static int reopen_bind(struct it_rootfs_bind *b, const char *src, it_error *err)
{
        struct stat a, n;
        int fd = open(src, O_PATH | O_CLOEXEC);
        if (fd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s", src);
        if (fstat(fd, &n) != 0 || fstat(b->fd, &a) != 0 || a.st_dev != n.st_dev ||
            a.st_ino != n.st_ino) {
                close(fd);
                return it_error_set(err, IT_EIO, "%s: replaced while the container started", src);
        }
        close(b->fd);
        b->fd = fd;
        return 0;
}

/* Everything from "maps written" to execve; returns only on failure. */
static int child_run(struct ctx *c, int *exec_errno, it_error *err)
{
        const struct it_run_opts *o = c->o;
        int rc;
        if (c->userns) {
                if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0)
                        return it_error_sys(err, IT_EIO, errno, "becoming root of the namespace");
                if (!c->map.single_id && setgroups(0, NULL) != 0)
                        return it_error_sys(err, IT_EIO, errno, "setgroups");
        }
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
                return it_error_sys(err, IT_EIO, errno, "making mounts private");
        for (size_t i = 0; i < c->nbinds && !c->root_ns; i++)
                if ((rc = reopen_bind(&c->binds[i], c->bind_src[i], err)) < 0)
                        return rc;
        for (size_t i = 0; i < c->nsecrets && !c->root_ns; i++)
                if ((rc = reopen_bind(&c->secrets[i], c->secret_src[i], err)) < 0)
                        return it_error_wrap(err, "--secret");
        /* podman's one default sysctl: ICMP echo through datagram sockets for group 0, since
         * NET_RAW is not among the default capabilities (our network namespace's own copy). */
        if (o->network != IT_NET_HOST) {
                _cleanup_close_ int pg =
                    open("/proc/sys/net/ipv4/ping_group_range", O_WRONLY | O_CLOEXEC);
                if (pg < 0 || write(pg, "0 0", 3) != 3)
                        return it_error_sys(err, IT_EIO, errno, "sysctl net.ipv4.ping_group_range");
        }
        _cleanup_close_ int rootfd = -1;
        if ((rc = mount_root(c, &rootfd, err)) < 0)
                return rc;
        if ((rc = procspec_resolve_user(&c->spec, rootfd, NULL, err)) < 0)
                return rc;
        struct it_caps caps;
        bool root_user = c->spec.uid == 0;
        if ((rc = caps_compute((const char *const *)o->cap_add.v, o->cap_add.n,
                               (const char *const *)o->cap_drop.v, o->cap_drop.n, o->privileged,
                               root_user, c->host_bounding, c->last_cap, &caps, err)) < 0)
                return rc;
        struct it_rootfs_cfg rc_cfg = {
            .read_only = o->read_only,
            .privileged = o->privileged,
            .net_host = o->network == IT_NET_HOST,
            .pid_host = o->pid_host,
            .gid5_mapped = !c->userns || userns_idmap_span(&c->map, true) > 5,
            .masked = &c->masked,
            .ro_paths = &c->ro_paths,
            .binds = c->binds,
            .nbinds = c->nbinds,
            .secrets = c->secrets,
            .nsecrets = c->nsecrets,
        };
        if ((rc = rootfs_prepare(rootfd, &rc_cfg, err)) < 0)
                return rc;
        _cleanup_close_ int master = -1, slave = -1;
        if (o->tty) {
                if ((rc = open_pty(rootfd, &master, &slave, err)) < 0 ||
                    (rc = rootfs_bind(rootfd, slave, "/dev/console", err)) < 0)
                        return rc;
                if (send_fd(c->sync, master) != 0)
                        return it_error_sys(err, IT_EIO, errno, "passing the terminal");
                close(master);
                master = -1;
        }
        if ((rc = rootfs_pivot(rootfd, o->read_only, err)) < 0)
                return rc;
        if (sethostname(c->spec.hostname, strlen(c->spec.hostname)) != 0)
                return it_error_sys(err, IT_EIO, errno, "sethostname");
        if (o->network != IT_NET_HOST && (rc = loopback_up(err)) < 0)
                return rc;
        if ((rc = set_rlimits(err)) < 0)
                return rc;
        umask(c->spec.umask);
        if (setsid() < 0)
                return it_error_sys(err, IT_EIO, errno, "setsid");
        if (o->tty) {
                if (ioctl(slave, TIOCSCTTY, 0) != 0)
                        return it_error_sys(err, IT_EIO, errno, "the terminal");
                for (int fd = 0; fd < 3; fd++)
                        if (dup2(slave, fd) < 0)
                                return it_error_sys(err, IT_EIO, errno, "the terminal");
        } else if (!o->interactive) {
                int n = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (n < 0 || dup3(n, 0, 0) < 0)
                        return it_error_sys(err, IT_EIO, errno, "/dev/null");
                close(n);
        }
        if (o->init) {
                sigset_t fwd;
                sigfillset(&fwd);
                pid_t k = fork();
                if (k < 0)
                        return it_error_sys(err, IT_EIO, errno, "--init: fork");
                if (k > 0) {
                        close(c->sync);
                        init_loop(k, &fwd);
                }
        }
        bool cwd_ok = chdir(c->spec.cwd) == 0;
        int cwd_errno = errno;
        /* Without no_new_privs the kernel wants CAP_SYS_ADMIN to load a filter: load it while
         * we still have it, and count on the profile allowing what follows (setresuid, capset,
         * prctl, execve), as crun does. */
        if (c->bpf && !c->nnp && (rc = seccomp_bpf_load(c->bpf, c->bpf_len, err)) < 0)
                return rc;
        if (!c->userns || !c->map.single_id) {
                /* podman adds the primary group to the supplementary ones whenever a user is
                 * named (--user or the image's User). */
                size_t ng = c->spec.ngroups;
                _cleanup_free_ gid_t *g = xcalloc(ng + 1, sizeof *g);
                bool have = false;
                for (size_t i = 0; i < ng; i++) {
                        g[i] = c->spec.groups[i];
                        have = have || g[i] == c->spec.gid;
                }
                if (c->spec.user && c->spec.user[0] && !have)
                        g[ng++] = c->spec.gid;
                if (setgroups(ng, ng ? g : NULL) != 0)
                        return it_error_sys(err, IT_EIO, errno, "setgroups");
        }
        if (setresgid(c->spec.gid, c->spec.gid, c->spec.gid) != 0)
                return it_error_sys(err, IT_EIO, errno, "user %s: setresgid(%u)", c->spec.user,
                                    (unsigned)c->spec.gid);
        if (c->spec.uid != 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
                return it_error_sys(err, IT_EIO, errno, "PR_SET_KEEPCAPS");
        if (setresuid(c->spec.uid, c->spec.uid, c->spec.uid) != 0)
                return it_error_sys(err, IT_EIO, errno, "user %s: setresuid(%u)", c->spec.user,
                                    (unsigned)c->spec.uid);
        if ((rc = caps_apply(&caps, c->last_cap, err)) < 0)
                return rc;
        if (!cwd_ok && chdir(c->spec.cwd) != 0)
                return it_error_sys(err, IT_EINPUT, cwd_errno, "working directory %s", c->spec.cwd);
        if (c->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
                return it_error_sys(err, IT_EIO, errno, "PR_SET_NO_NEW_PRIVS");
        if (c->bpf && c->nnp && (rc = seccomp_bpf_load(c->bpf, c->bpf_len, err)) < 0)
                return rc;
        sigprocmask(SIG_SETMASK, &c->oldmask, NULL);
        /* Only 0, 1 and 2 (and the report socket until exec) reach the command. */
        syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
        environ = c->spec.env;
        execvp(c->spec.argv[0], c->spec.argv);
        *exec_errno = errno;
        return it_error_sys(err, IT_EINPUT, errno, "%s", c->spec.argv[0]);
}

/* The parent's go-ahead: "g", or for root_ns the mounts it made: the overlay, then one detached
 * mount per bind and per secret, in order. */
static int recv_go(struct ctx *c)
{
        size_t want = c->root_ns ? 1 + c->nbinds + c->nsecrets : 0;
        char b;
        struct iovec iov = {.iov_base = &b, .iov_len = 1};
        size_t clen = CMSG_SPACE(sizeof(int) * (want ? want : 1));
        _cleanup_free_ char *cbuf = xcalloc(1, clen);
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = clen};
        ssize_t n;
        do
                n = recvmsg(c->sync, &mh, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n != 1 || b != 'g')
                return -1;
        if (!want)
                return 0;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        if (!cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int) * want))
                return -1;
        int *fds = (int *)(void *)CMSG_DATA(cm);
        c->rootmnt = fds[0];
        for (size_t i = 0; i < c->nbinds; i++) {
                close(c->binds[i].fd);
                c->binds[i].fd = fds[1 + i];
                c->binds[i].detached = true;
        }
        for (size_t i = 0; i < c->nsecrets; i++) {
                close(c->secrets[i].fd);
                c->secrets[i].fd = fds[1 + c->nbinds + i];
                c->secrets[i].detached = true;
        }
        return 0;
}

/* root_ns: the overlay with idmapped layers and detached copies of the files to bind, made here
 * (the container cannot reach root's store), sent to the child with the go-ahead. */
static int send_mounts(struct ctx *c, pid_t pid, int sync, it_error *err)
{
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
        _cleanup_close_ int ns = open(path, O_RDONLY | O_CLOEXEC);
        if (ns < 0)
                return it_error_sys(err, IT_EIO, errno, "%s", path);
        char upper[96], work[96];
        snprintf(upper, sizeof upper, "containers/%s/upper", c->id);
        snprintf(work, sizeof work, "containers/%s/work", c->id);
        size_t n = 1 + c->nbinds + c->nsecrets;
        _cleanup_free_ int *fds = xcalloc(n, sizeof *fds);
        for (size_t i = 0; i < n; i++)
                fds[i] = -1;
        int rc = 0;
        /* The binds first: their sources are mounts of the namespace we are leaving. */
        for (size_t i = 1; rc == 0 && i < n; i++) {
                bool sec = i > c->nbinds;
                struct it_rootfs_bind *b = sec ? &c->secrets[i - 1 - c->nbinds] : &c->binds[i - 1];
                fds[i] = open_tree(b->fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
                struct mount_attr a = {.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                                   MOUNT_ATTR_NOEXEC |
                                                   (b->read_only ? MOUNT_ATTR_RDONLY : 0)};
                if (fds[i] < 0 || mount_setattr(fds[i], "", AT_EMPTY_PATH, &a, sizeof a) != 0)
                        rc = it_error_sys(err, IT_EIO, errno, "%s: cannot bind it", b->path);
        }
        char stage[96];
        snprintf(stage, sizeof stage, "containers/%s/merged", c->id);
        /* The layers are staged as mounts in a namespace of our own, never the host's. */
        if (rc == 0 &&
            (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0))
                rc = it_error_sys(err, IT_EIO, errno, "a private mount namespace");
        const struct it_overlay_spec os = {
            .upper = upper, .work = work, .idmap_userns_fd = ns, .stage = stage};
        if (rc == 0)
                rc = mount_overlay_spec(c->st, &c->img, &os, &fds[0], err);
        if (rc == 0) {
                char b = 'g';
                struct iovec iov = {.iov_base = &b, .iov_len = 1};
                size_t clen = CMSG_SPACE(sizeof(int) * n);
                _cleanup_free_ char *cbuf = xcalloc(1, clen);
                struct msghdr mh = {
                    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = clen};
                struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
                memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
                if (sendmsg(sync, &mh, MSG_NOSIGNAL) != 1)
                        rc = it_error_sys(err, IT_EIO, errno, "container %.12s did not start",
                                          c->id);
        }
        for (size_t i = 0; i < n; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        return rc;
}

static _Noreturn void child_main(struct ctx *c)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int exec_errno = 0;
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || recv_go(c) != 0)
                _exit(IT_RUN_EXIT_SETUP);
        (void)child_run(c, &exec_errno, &err);
        send_report(c->sync, exec_errno ? R_EXEC : R_ERROR, &err,
                    exec_errno ? exec_errno : err.sys_errno);
        _exit(exec_errno == ENOENT ? IT_RUN_EXIT_NOTFOUND
              : exec_errno         ? IT_RUN_EXIT_NOEXEC
                                   : IT_RUN_EXIT_SETUP);
}

/* ---- parent ---- */

static void hex_id(char out[65])
{
        unsigned char b[32];
        size_t got = 0;
        while (got < sizeof b) {
                ssize_t n = getrandom(b + got, sizeof b - got, 0);
                if (n > 0)
                        got += (size_t)n;
        }
        for (size_t i = 0; i < sizeof b; i++)
                snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static int write_file_at(int dirfd, const char *name, const char *text, it_error *err)
{
        _cleanup_close_ int fd =
            openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 || it_write_all(fd, text, strlen(text)) != 0)
                return it_error_sys(err, IT_EIO, errno, "container file %s", name);
        return 0;
}

/* containers/<id>/ with upper, work, merged and the files to bind. */
static int make_container_dir(struct ctx *c, it_error *err)
{
        int root = store_root_fd(c->st);
        if (mkdirat(root, "containers", 0700) != 0 && errno != EEXIST)
                return it_error_sys(err, IT_EIO, errno, "%s/containers", c->root_abs);
        _cleanup_close_ int cs = it_openat_beneath(root, "containers", O_RDONLY | O_DIRECTORY, 0);
        if (cs < 0 || mkdirat(cs, c->id, 0700) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s/containers/%s", c->root_abs, c->id);
        _cleanup_close_ int d = it_openat_beneath(cs, c->id, O_RDONLY | O_DIRECTORY, 0);
        if (d < 0)
                return it_error_sys(err, IT_EIO, errno, "%s/containers/%s", c->root_abs, c->id);
        /* Tells imgstore (ps, gc) that the container is alive; it dies with us. */
        c->dirlock = fcntl(d, F_DUPFD_CLOEXEC, 3);
        if (c->dirlock < 0 || flock(c->dirlock, LOCK_EX) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s/containers/%s: lock", c->root_abs,
                                    c->id);
        /* upper/ becomes the container's "/": its mode shows there. */
        if (mkdirat(d, "upper", 0755) != 0 || mkdirat(d, "work", 0700) != 0 ||
            mkdirat(d, "merged", 0755) != 0 || fchmodat(d, "upper", 0755, 0) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s/containers/%s", c->root_abs, c->id);
        struct stat sb;
        if (fstatat(d, "merged", &sb, AT_SYMLINK_NOFOLLOW) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s/containers/%s/merged", c->root_abs,
                                    c->id);
        c->merged_dev = sb.st_dev;
        c->merged_ino = sb.st_ino;
        _cleanup_buf_ struct it_buf hosts = IT_BUF_INIT;
        it_buf_addf(&hosts,
                    "127.0.0.1\tlocalhost localhost.localdomain\n"
                    "::1\tlocalhost localhost.localdomain\n"
                    "127.0.1.1\t%s\n",
                    c->spec.hostname);
        _cleanup_free_ char *hn = xasprintf("%s\n", c->spec.hostname);
        int rc;
        if ((rc = write_file_at(d, "hosts", it_buf_str(&hosts), err)) < 0 ||
            (rc = write_file_at(d, "hostname", hn, err)) < 0)
                return rc;
        if (c->userns && geteuid() == 0) {
                /* Root's container: its root is the first ID of its range. */
                uint32_t hu = c->map.uid[0].host_id, hg = c->map.gid[0].host_id;
                static const char *const own[] = {"upper", "work", "hosts", "hostname", ""};
                for (size_t i = 0; i < sizeof own / sizeof *own; i++)
                        if (fchownat(d, own[i], hu, hg,
                                     own[i][0] ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH) != 0)
                                return it_error_sys(err, IT_EIO, errno, "chown %s", own[i]);
        }
        static const char *const names[] = {"hosts", "hostname"};
        static const char *const paths[] = {"/etc/hosts", "/etc/hostname"};
        for (size_t i = 0; i < 2; i++) {
                int fd = openat(d, names[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return it_error_sys(err, IT_EIO, errno, "container file %s", names[i]);
                c->bind_src[c->nbinds] =
                    xasprintf("%s/containers/%s/%s", c->root_abs, c->id, names[i]);
                c->binds[c->nbinds++] = (struct it_rootfs_bind){fd, paths[i], false, false};
        }
        if (c->o->network == IT_NET_HOST) {
                int fd = open("/etc/resolv.conf", O_PATH | O_CLOEXEC);
                if (fd >= 0) {
                        c->bind_src[c->nbinds] = xstrdup("/etc/resolv.conf");
                        c->binds[c->nbinds++] =
                            (struct it_rootfs_bind){fd, "/etc/resolv.conf", false, false};
                }
        }
        return 0;
}

static char *secrets_dir(void)
{
        if (geteuid() == 0)
                return xstrdup("/etc/imgtrust/secrets");
        const char *x = getenv("XDG_CONFIG_HOME");
        if (x && x[0] == '/')
                return xasprintf("%s/imgtrust/secrets", x);
        const char *h = getenv("HOME");
        if (!h || h[0] != '/') {
                struct passwd *pw = getpwuid(geteuid());
                h = pw ? pw->pw_dir : "/";
        }
        return xasprintf("%s/.config/imgtrust/secrets", h);
}

static int open_secrets(struct ctx *c, it_error *err)
{
        const struct it_strv *s = &c->o->secrets;
        if (s->n == 0)
                return 0;
        _cleanup_free_ char *dir = secrets_dir();
        c->secrets = xcalloc(s->n, sizeof *c->secrets);
        c->secret_src = xcalloc(s->n, sizeof *c->secret_src);
        for (size_t i = 0; i < s->n; i++) {
                const char *name = s->v[i];
                if (!name[0] || strchr(name, '/') || strcmp(name, ".") == 0 ||
                    strcmp(name, "..") == 0 || strlen(name) > 253)
                        return it_error_set(err, IT_EINPUT, "--secret \"%s\": not a valid name",
                                            name);
                for (size_t j = 0; j < i; j++)
                        if (strcmp(s->v[j], name) == 0)
                                return it_error_set(err, IT_EINPUT, "--secret %s: given twice",
                                                    name);
                _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
                int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return it_error_sys(err, IT_EINPUT, errno, "--secret %s: %s", name, path);
                c->secret_src[c->nsecrets] = xstrdup(path);
                c->secrets[c->nsecrets++] =
                    (struct it_rootfs_bind){fd, xasprintf("/run/secrets/%s", name), true, false};
                struct stat sb;
                if (fstat(fd, &sb) != 0)
                        return it_error_sys(err, IT_EIO, errno, "--secret %s: %s", name, path);
                if (!S_ISREG(sb.st_mode))
                        return it_error_set(err, IT_EINPUT, "--secret %s: %s is not a regular file",
                                            name, path);
                if ((uint64_t)sb.st_size > SECRET_MAX)
                        return it_error_set(err, IT_EINPUT,
                                            "--secret %s: %s is larger than 512 KiB (podman's "
                                            "limit)",
                                            name, path);
        }
        return 0;
}

/* ---- the compiled filter, cached ---- */

/* Compiling podman's profile for three ABIs takes libseccomp ~20 ms, a third of a container's
 * start. The program depends only on what goes into the key, so it is kept in the store:
 * cache/seccomp/<FNV-1a of the key, hex>.bpf holds the key itself (compared byte for byte), a
 * NUL, the program and, last, the FNV-1a-64 of all that (a torn or truncated file is never
 * loaded; the store is the user's own, so integrity is all that is asked, and no digest library
 * is loaded for it: OpenSSL's start-up alone cost 2 MiB of peak memory). */
#define BPF_CACHE_MAX (IT_PROCSPEC_STRING_MAX + BPF_MAXINSNS * sizeof(struct sock_filter) + 8)

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
        const unsigned char *b = p;
        for (size_t i = 0; i < n; i++) {
                h ^= b[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

#define FNV_BASIS UINT64_C(0xcbf29ce484222325)

static void seccomp_key(struct ctx *c, uint64_t bounding, struct it_buf *key)
{
        const struct scmp_version *v = seccomp_version();
        struct utsname u;
        if (uname(&u) != 0)
                memset(&u, 0, sizeof u);
        it_buf_addf(key, "imgtrust %s seccomp 2\nlibseccomp %u.%u.%u\nkernel %s %s %s\n",
                    IMGTRUST_VERSION, v ? v->major : 0, v ? v->minor : 0, v ? v->micro : 0,
                    u.release, u.version, u.machine);
        it_buf_addf(key, "bounding %016llx\nprofile %s\n", (unsigned long long)bounding,
                    c->profile_src[0] ? c->profile_src : "default");
        for (size_t i = 0; i < c->o->seccomp_rules.n; i++)
                it_buf_addf(key, "rule %s\n", c->o->seccomp_rules.v[i]);
}

static int seccomp_program(struct ctx *c, uint64_t bounding, it_error *err)
{
        _cleanup_buf_ struct it_buf key = IT_BUF_INIT;
        seccomp_key(c, bounding, &key);
        it_buf_add(&key, "", 1); /* the NUL ends the key in the entry */
        _cleanup_free_ char *rel = xasprintf(
            "cache/seccomp/%016llx.bpf", (unsigned long long)fnv1a(FNV_BASIS, key.data, key.len));
        int root = store_root_fd(c->st);
        _cleanup_close_ int fd = it_openat_beneath(root, rel, O_RDONLY, 0);
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        _cleanup_error_ it_error ign = IT_ERROR_INIT;
        if (fd >= 0 && it_fd_read(fd, rel, BPF_CACHE_MAX, &data, &len, &ign) == 0 &&
            len > key.len + 8 && (len - key.len - 8) % sizeof(struct sock_filter) == 0 &&
            memcmp(data, key.data, key.len) == 0) {
                uint64_t sum = fnv1a(FNV_BASIS, data, len - 8), want;
                memcpy(&want, data + len - 8, 8);
                if (sum == want) {
                        size_t plen = len - key.len - 8;
                        c->bpf_len = plen / sizeof(struct sock_filter);
                        c->bpf = xmalloc(plen);
                        memcpy(c->bpf, data + key.len, plen);
                        return 0;
                }
        }
        scmp_filter_ctx f = NULL;
        int rc = build_seccomp(c, bounding, &f, err);
        if (rc == 0)
                rc = seccomp_filter_export_bpf(f, &c->bpf, &c->bpf_len, err);
        if (f)
                seccomp_release(f);
        if (rc < 0)
                return rc;
        /* Keep it for the next start; a store we cannot write to only costs the compile. */
        _cleanup_buf_ struct it_buf out = IT_BUF_INIT;
        it_buf_add(&out, key.data, key.len);
        it_buf_add(&out, c->bpf, c->bpf_len * sizeof(struct sock_filter));
        uint64_t sum = fnv1a(FNV_BASIS, out.data, out.len);
        it_buf_add(&out, &sum, sizeof sum);
        if ((mkdirat(root, "cache", 0700) == 0 || errno == EEXIST) &&
            (mkdirat(root, "cache/seccomp", 0700) == 0 || errno == EEXIST)) {
                _cleanup_free_ char *path = xasprintf("%s/%s", c->root_abs, rel);
                (void)it_file_replace(path, out.data, out.len, 0600, &ign);
        }
        return 0;
}

static int prepare(struct ctx *c, it_error *err)
{
        const struct it_run_opts *o = c->o;
        int rc;
        _cleanup_free_ char *root = o->store_root ? xstrdup(o->store_root) : store_default_root();
        if ((rc = store_open(root, &c->st, err)) < 0)
                return rc;
        /* Shared for the container's lifetime: rm and gc wait until it exits. */
        if ((rc = store_lock(c->st, false, err)) < 0)
                return rc;
        char self[64], buf[4096];
        snprintf(self, sizeof self, "/proc/self/fd/%d", store_root_fd(c->st));
        ssize_t n = readlink(self, buf, sizeof buf - 1);
        if (n <= 0 || buf[0] != '/')
                return it_error_sys(err, IT_EIO, errno, "%s: cannot find its path", root);
        buf[n] = '\0';
        c->root_abs = xstrdup(buf);
        if ((rc = store_image_lookup(c->st, o->image, &c->img, err)) < 0)
                return rc;
        _cleanup_free_ char *config = NULL;
        size_t clen;
        if ((rc = store_image_read(c->st, c->img.id, true, &config, &clen, err)) < 0 ||
            (rc = procspec_from_config(config, clen, &c->spec, err)) < 0)
                return it_error_wrap(err, "image %s", o->image);
        hex_id(c->id);
        char shortid[13];
        memcpy(shortid, c->id, 12);
        shortid[12] = '\0';
        const struct it_procspec_opts po = {
            .cmd = o->cmd,
            .ncmd = o->ncmd,
            .entrypoint = o->entrypoint,
            .env = (const char *const *)o->env.v,
            .nenv = o->env.n,
            .workdir = o->workdir,
            .user = o->user,
            .hostname = o->hostname ? o->hostname : shortid,
        };
        if ((rc = procspec_apply_options(&c->spec, &po, err)) < 0)
                return rc;
        c->nnp = o->no_new_privs != 0;
        c->seccomp_on = !(o->seccomp && strcmp(o->seccomp, "unconfined") == 0) &&
                        !(o->privileged && !o->seccomp && o->seccomp_rules.n == 0);
        seccomp_profile_init(&c->profile);
        if (o->seccomp && strcmp(o->seccomp, "unconfined") != 0) {
                _cleanup_free_ char *data = NULL;
                size_t len;
                if ((rc = it_file_read(o->seccomp, PROFILE_MAX, &data, &len, err)) < 0 ||
                    (rc = seccomp_profile_parse_json(data, len, &c->profile, err)) < 0)
                        return it_error_wrap(err, "--security-opt seccomp=%s", o->seccomp);
                struct it_digest d;
                digest_compute(IT_DIGEST_SHA256, data, len, &d);
                snprintf(c->profile_src, sizeof c->profile_src, "json:%s", d.hex);
        }
        if (!o->privileged) {
                rootfs_default_masked(&c->masked);
                rootfs_default_readonly(&c->ro_paths);
                rootfs_unmask(&c->masked, &o->unmask);
                rootfs_unmask(&c->ro_paths, &o->unmask);
        }
        for (size_t i = 0; i < o->mask.n; i++)
                it_strv_push(&c->masked, o->mask.v[i]);
        c->last_cap = caps_last_cap();
        if ((rc = caps_read_bounding(c->last_cap, &c->host_bounding, err)) < 0)
                return rc;
        /* Validate the capability options now, for an error before anything is created. */
        struct it_caps probe;
        if ((rc = caps_compute((const char *const *)o->cap_add.v, o->cap_add.n,
                               (const char *const *)o->cap_drop.v, o->cap_drop.n, o->privileged,
                               true, c->host_bounding, c->last_cap, &probe, err)) < 0)
                return rc;
        /* The filter depends on the bounding set only, which the user does not change. */
        if (c->seccomp_on && (rc = seccomp_program(c, probe.bounding, err)) < 0)
                return rc;
        if ((rc = open_secrets(c, err)) < 0)
                return rc;
        uid_t uid = geteuid();
        if (uid != 0) {
                c->userns = true;
                if ((rc = userns_idmap_for_user(NULL, NULL, uid, &c->map, err)) < 0)
                        return rc;
        } else if (!o->userns_host) {
                c->userns = c->root_ns = true;
                if ((rc = autons_acquire(NULL, NULL, NULL, &c->map, &c->lease, err)) < 0)
                        return rc;
        }
        return make_container_dir(c, err);
}

static int remove_tree_at(int parent, const char *name)
{
        _cleanup_close_ int fd = it_openat_beneath(parent, name, O_RDONLY | O_DIRECTORY, 0);
        /* overlay leaves work/work with mode 0: ours to open up. */
        if (fd < 0 && errno == EACCES && fchmodat(parent, name, 0700, 0) == 0)
                fd = it_openat_beneath(parent, name, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                return unlinkat(parent, name, 0) == 0 || errno == ENOENT ? 0 : -1;
        DIR *d = fdopendir(fd);
        if (!d)
                return -1;
        fd = -1;
        int fd2 = dirfd(d);
        struct dirent *e;
        int rc = 0;
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                    remove_tree_at(fd2, e->d_name) != 0)
                        rc = -1;
        closedir(d);
        if (unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
                rc = -1;
        return rc;
}

struct rm_arg {
        const char *root_abs;
        const char *id;
};

static int rm_container_fn(void *p, it_error *err)
{
        const struct rm_arg *a = p;
        _cleanup_free_ char *cs = xasprintf("%s/containers", a->root_abs);
        _cleanup_close_ int fd = open(cs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || remove_tree_at(fd, a->id) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s/%s: cannot remove it", cs, a->id);
        return 0;
}

/* --rm: files in upper/ may belong to subordinate IDs; remove them inside the namespace. */
static int remove_container(struct ctx *c, it_error *err)
{
        struct rm_arg a = {c->root_abs, c->id};
        int rc = rm_container_fn(&a, err);
        /* What the container left owned by its other IDs can only go from inside the
         * namespace; spawning it costs ~20 ms, so only when needed. */
        if (rc < 0 && c->userns && geteuid() != 0 && !c->map.single_id) {
                it_error_clear(err);
                rc = userns_run(&c->map, 0, rm_container_fn, &a, err);
        }
        return rc;
}

static int write_record(struct ctx *c, pid_t pid, it_error *err)
{
        _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
        it_buf_addf(&b, "{\"id\":\"%s\",\"image\":\"%s\",\"pid\":%d", c->id, c->img.id, (int)pid);
        if (c->userns && geteuid() == 0)
                it_buf_addf(&b, ",\"uid-start\":%u,\"uid-count\":%u", c->map.uid[0].host_id,
                            c->map.uid[0].size);
        it_buf_addf(&b, "}\n");
        _cleanup_free_ char *p = xasprintf("%s/containers/%s/container.json", c->root_abs, c->id);
        return it_file_replace(p, it_buf_str(&b), b.len, 0600, err);
}

/* ---- the parent's loop: signals, pty, exit ---- */

struct relay {
        int master;
        bool raw;
        struct termios saved;
};

static void copy_some(int from, int to, bool *eof)
{
        char buf[8192];
        ssize_t n = read(from, buf, sizeof buf);
        if (n <= 0) {
                if (n == 0 || (errno != EINTR && errno != EAGAIN))
                        *eof = true;
                return;
        }
        (void)it_write_all(to, buf, (size_t)n);
}

static void set_winsize(int master)
{
        struct winsize ws;
        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
                (void)ioctl(master, TIOCSWINSZ, &ws);
}

static int wait_loop(pid_t pid, int sigfd, struct relay *r, bool interactive, int *status,
                     it_error *err)
{
        int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pfd < 0)
                return it_error_sys(err, IT_EIO, errno, "pidfd_open");
        bool in_eof = !interactive || r->master < 0, out_eof = r->master < 0;
        for (;;) {
                struct pollfd p[4] = {{.fd = pfd, .events = POLLIN},
                                      {.fd = sigfd, .events = POLLIN},
                                      {.fd = out_eof ? -1 : r->master, .events = POLLIN},
                                      {.fd = in_eof ? -1 : STDIN_FILENO, .events = POLLIN}};
                if (poll(p, 4, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        close(pfd);
                        return it_error_sys(err, IT_EIO, errno, "poll");
                }
                if (p[1].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        while (read(sigfd, &si, sizeof si) == sizeof si) {
                                if (si.ssi_signo == SIGWINCH && r->master >= 0)
                                        set_winsize(r->master);
                                else if (si.ssi_signo != SIGCHLD && si.ssi_signo != SIGWINCH)
                                        kill(pid, (int)si.ssi_signo);
                        }
                }
                if (!out_eof && (p[2].revents & (POLLIN | POLLHUP | POLLERR)))
                        copy_some(r->master, STDOUT_FILENO, &out_eof);
                if (!in_eof && (p[3].revents & (POLLIN | POLLHUP | POLLERR))) {
                        copy_some(STDIN_FILENO, r->master, &in_eof);
                        if (in_eof) /* end of input: the terminal's EOF character */
                                (void)it_write_all(r->master, "\004", 1);
                }
                if (p[0].revents & POLLIN) {
                        siginfo_t si = {0};
                        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG) == 0 &&
                            si.si_pid == pid) {
                                while (!out_eof) /* what the command wrote last */
                                        copy_some(r->master, STDOUT_FILENO, &out_eof);
                                *status =
                                    si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
                                close(pfd);
                                return 0;
                        }
                }
        }
}

/* The container's init in new namespaces; the process after exec; its exit. */
static int launch(struct ctx *c, int sigfd, int *status, int *exec_errno, it_error *err)
{
        const struct it_run_opts *o = c->o;
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0)
                return it_error_sys(err, IT_EIO, errno, "socketpair");
        unsigned long flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP;
        if (c->userns)
                flags |= CLONE_NEWUSER;
        if (!o->pid_host)
                flags |= CLONE_NEWPID;
        if (o->network != IT_NET_HOST)
                flags |= CLONE_NEWNET;
        c->sync = sp[1];
        fflush(NULL);
        pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
        if (pid < 0) {
                int e = errno;
                close(sp[0]);
                close(sp[1]);
                return it_error_sys(err, IT_EIO, e, "clone (new namespaces)");
        }
        if (pid == 0) {
                close(sp[0]);
                child_main(c);
        }
        close(sp[1]);
        _cleanup_close_ int sync = sp[0];
        /* With --pid host the command could reach our descriptors (the store's directories)
         * and our root through /proc as the same user: not dumpable, they are root's. The
         * child has its own copy of the flag (exec resets it there). */
        (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        struct relay r = {.master = -1};
        int rc = 0;
        if (c->userns)
                rc = userns_write_maps(&c->map, pid, err);
        if (rc == 0 && c->root_ns)
                rc = send_mounts(c, pid, sync, err);
        else if (rc == 0 && write(sync, "g", 1) != 1)
                rc = it_error_sys(err, IT_EIO, errno, "container %.12s did not start", c->id);
        while (rc == 0) {
                struct report rep;
                int fd;
                ssize_t n = recv_report(sync, &rep, &fd);
                if (n == 0)
                        break;
                if (n < 0) {
                        rc = it_error_sys(err, IT_EIO, errno, "container %.12s: setup", c->id);
                } else if (rep.kind == R_TTY && fd >= 0) {
                        if (r.master >= 0)
                                close(r.master);
                        r.master = fd;
                } else {
                        rc = it_error_set(err, rep.code ? rep.code : IT_EIO, "%s", rep.msg);
                        err->sys_errno = rep.sys_errno;
                        if (rep.kind == R_EXEC)
                                *exec_errno = rep.sys_errno;
                }
        }
        if (rc == 0)
                rc = write_record(c, pid, err);
        if (rc == 0) {
                if (r.master >= 0) {
                        set_winsize(r.master);
                        if (o->interactive && isatty(STDIN_FILENO) &&
                            tcgetattr(STDIN_FILENO, &r.saved) == 0) {
                                struct termios raw = r.saved;
                                cfmakeraw(&raw);
                                r.raw = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
                        }
                }
                rc = wait_loop(pid, sigfd, &r, o->interactive, status, err);
                if (r.raw)
                        tcsetattr(STDIN_FILENO, TCSANOW, &r.saved);
        }
        if (r.master >= 0)
                close(r.master);
        if (rc < 0) {
                kill(pid, SIGKILL);
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        return rc;
}

int container_run(const struct it_run_opts *o, int *status, int *exec_errno, it_error *err)
{
        *status = 0;
        *exec_errno = 0;
        struct ctx c = {.o = o, .rootmnt = -1, .dirlock = -1};
        procspec_init(&c.spec);
        /* Every signal we forward waits in a signalfd from the start, so one that arrives
         * while the container is set up reaches it rather than ending imgrun half-way (the
         * child restores the mask before exec). */
        sigset_t fwd;
        sigemptyset(&fwd);
        static const int sigs[] = {SIGHUP,  SIGINT,   SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2,
                                   SIGCONT, SIGWINCH, SIGCHLD, SIGALRM, SIGPIPE};
        for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
                sigaddset(&fwd, sigs[i]);
        sigprocmask(SIG_BLOCK, &fwd, &c.oldmask);
        int rc = prepare(&c, err);
        bool dir_made = c.merged_ino != 0;
        if (rc == 0) {
                int sigfd = signalfd(-1, &fwd, SFD_CLOEXEC | SFD_NONBLOCK);
                if (sigfd < 0) {
                        rc = it_error_sys(err, IT_EIO, errno, "signalfd");
                } else {
                        rc = launch(&c, sigfd, status, exec_errno, err);
                        close(sigfd);
                }
        }
        sigprocmask(SIG_SETMASK, &c.oldmask, NULL);
        if (dir_made && (o->rm || rc < 0)) {
                _cleanup_error_ it_error e2 = IT_ERROR_INIT;
                if (remove_container(&c, &e2) < 0 && rc == 0) {
                        it_error_move(err, &e2);
                        rc = err->code;
                }
        }
        ctx_free(&c);
        return rc;
}
