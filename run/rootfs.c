/* The container's filesystem view: kernel filesystems, /dev, masks, binds, pivot_root
 * (imgtrust/rootfs.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "imgtrust/rootfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/xalloc.h"

static void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

/* podman 4.3.1's masked paths, and those containers/common added since (Docker parity). */
static const char *const MASKED[] = {
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/interrupts",
    "/sys/firmware",
    "/sys/fs/selinux",
    "/sys/dev/block",
    "/sys/devices/virtual/powercap",
};
static const char *const READONLY[] = {
    "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

void rootfs_default_masked(struct it_strv *out)
{
        for (size_t i = 0; i < sizeof MASKED / sizeof *MASKED; i++)
                it_strv_push(out, MASKED[i]);
        /* containers/common expands cpu*\/thermal_throttle on the host when it builds the spec. */
        _cleanup_(closedirp) DIR *d = opendir("/sys/devices/system/cpu");
        struct dirent *e;
        while (d && (e = readdir(d))) {
                if (strncmp(e->d_name, "cpu", 3) != 0 || !e->d_name[3] ||
                    strspn(e->d_name + 3, "0123456789") != strlen(e->d_name + 3))
                        continue;
                _cleanup_free_ char *p =
                    xasprintf("/sys/devices/system/cpu/%s/thermal_throttle", e->d_name);
                if (access(p, F_OK) == 0)
                        it_strv_push(out, p);
        }
}

void rootfs_default_readonly(struct it_strv *out)
{
        for (size_t i = 0; i < sizeof READONLY / sizeof *READONLY; i++)
                it_strv_push(out, READONLY[i]);
}

void rootfs_unmask(struct it_strv *list, const struct it_strv *unmask)
{
        size_t k = 0;
        for (size_t i = 0; i < list->n; i++) {
                bool drop = false;
                for (size_t j = 0; j < unmask->n && !drop; j++)
                        drop = strcmp(unmask->v[j], "ALL") == 0 ||
                               fnmatch(unmask->v[j], list->v[i], FNM_PATHNAME) == 0;
                if (drop)
                        free(list->v[i]);
                else
                        list->v[k++] = list->v[i];
        }
        list->n = k;
        if (list->v)
                list->v[k] = NULL;
}

/* ---- mount targets ---- */

enum target_kind { T_DIR, T_FILE, T_EXISTING };

static int openat_nofollow(int dirfd, const char *name, int flags)
{
        struct open_how how = {
            .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        return (int)syscall(SYS_openat2, dirfd, name, &how, sizeof how);
}

/* Open path (absolute, in the container) beneath rootfd for use as a mount target, one
 * component at a time, never following a symlink. T_DIR and T_FILE create what is missing
 * (parents as 0755 directories); T_EXISTING returns 1 and *out = -1 when the path is absent. */
static int open_target(int rootfd, const char *path, enum target_kind kind, int *out, it_error *err)
{
        *out = -1;
        if (path[0] != '/')
                return it_error_set(err, IT_EINPUT, "%s: not an absolute path", path);
        _cleanup_free_ char *copy = xstrdup(path);
        _cleanup_close_ int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return it_error_sys(err, IT_EIO, errno, "%s", path);
        char *save = NULL;
        char *comp = strtok_r(copy, "/", &save);
        if (!comp) {
                *out = IT_STEAL_FD(cur);
                return 0;
        }
        for (;;) {
                char *next = strtok_r(NULL, "/", &save);
                bool last = next == NULL;
                if (strcmp(comp, "..") == 0 || strcmp(comp, ".") == 0)
                        return it_error_set(err, IT_EINPUT, "%s: \".\" or \"..\" in a mount path",
                                            path);
                int fd = openat_nofollow(cur, comp, O_PATH | (last && kind == T_FILE ? 0 : 0));
                if (fd < 0 && errno == ENOENT) {
                        if (kind == T_EXISTING)
                                return 1;
                        int r;
                        if (last && kind == T_FILE) {
                                r = openat(cur, comp,
                                           O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
                                           0644);
                                if (r >= 0)
                                        close(r);
                        } else {
                                r = mkdirat(cur, comp, 0755);
                        }
                        if (r < 0 && errno != EEXIST)
                                return it_error_sys(err, IT_EIO, errno,
                                                    "%s: cannot create the mount point", path);
                        fd = openat_nofollow(cur, comp, O_PATH);
                }
                if (fd < 0) {
                        if (errno == ELOOP)
                                return it_error_set(err, IT_EINPUT,
                                                    "%s: \"%s\" is a symlink in the image; "
                                                    "refusing to follow it for a mount",
                                                    path, comp);
                        return it_error_sys(err, IT_EIO, errno, "%s", path);
                }
                struct stat st;
                if (fstat(fd, &st) != 0) {
                        int e = errno;
                        close(fd);
                        return it_error_sys(err, IT_EIO, e, "%s", path);
                }
                if (S_ISLNK(st.st_mode)) {
                        close(fd);
                        return it_error_set(err, IT_EINPUT,
                                            "%s: \"%s\" is a symlink in the image; refusing to "
                                            "follow it for a mount",
                                            path, comp);
                }
                if (!last && !S_ISDIR(st.st_mode)) {
                        close(fd);
                        return it_error_set(err, IT_EINPUT, "%s: \"%s\" is not a directory", path,
                                            comp);
                }
                if (last) {
                        if ((kind == T_DIR && !S_ISDIR(st.st_mode)) ||
                            (kind == T_FILE && S_ISDIR(st.st_mode))) {
                                close(fd);
                                return it_error_set(err, IT_EINPUT,
                                                    "%s: is %s a directory in the image", path,
                                                    kind == T_DIR ? "not" : "");
                        }
                        *out = fd;
                        return 0;
                }
                close(cur);
                cur = fd;
                comp = next;
        }
}

static int mnt_id_of(int fd, const char *path, uint64_t *id)
{
        struct statx sx;
        if (statx(fd, path, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) != 0)
                return -1;
        *id = sx.stx_mnt_id;
        return 0;
}

/* Attach the detached mount mfd onto the target opened with open_target(), then check that the
 * path now shows that very mount (nothing swapped the target in between). */
static int attach(int rootfd, int mfd, int target, const char *path, it_error *err)
{
        if (move_mount(mfd, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s: cannot mount", path);
        uint64_t want, got;
        _cleanup_close_ int now = -1;
        if (mnt_id_of(mfd, "", &want) != 0 ||
            (now = openat_nofollow(rootfd, path[1] ? path + 1 : ".", O_PATH)) < 0 ||
            mnt_id_of(now, "", &got) != 0 || want != got)
                return it_error_set(err, IT_EIO, "%s: the mount is not where it was put", path);
        return 0;
}

/* A new filesystem of type with string options (key, value, ..., NULL), as a detached mount. */
static int fs_new(const char *type, const char *const *opts, unsigned attrs, int *mfd,
                  it_error *err)
{
        *mfd = -1;
        _cleanup_close_ int fs = fsopen(type, FSOPEN_CLOEXEC);
        if (fs < 0)
                return it_error_sys(err, IT_EIO, errno, "%s: fsopen", type);
        for (size_t i = 0; opts && opts[i]; i += 2) {
                int r = opts[i + 1] ? fsconfig(fs, FSCONFIG_SET_STRING, opts[i], opts[i + 1], 0)
                                    : fsconfig(fs, FSCONFIG_SET_FLAG, opts[i], NULL, 0);
                if (r != 0)
                        return it_error_sys(err, IT_EIO, errno, "%s: option %s", type, opts[i]);
        }
        if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s: cannot create", type);
        *mfd = fsmount(fs, FSMOUNT_CLOEXEC, attrs);
        if (*mfd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s: fsmount", type);
        return 0;
}

/* Mount a new filesystem at path (a directory, created when missing). */
static int mount_fs_at(int rootfd, const char *path, const char *type, const char *const *opts,
                       unsigned attrs, it_error *err)
{
        _cleanup_close_ int mfd = -1;
        _cleanup_close_ int target = -1;
        int rc = fs_new(type, opts, attrs, &mfd, err);
        if (rc == 0)
                rc = open_target(rootfd, path, T_DIR, &target, err);
        if (rc == 0)
                rc = attach(rootfd, mfd, target, path, err);
        if (rc < 0)
                return it_error_wrap(err, "mounting %s on %s", type, path);
        return 0;
}

static int set_attrs(int mfd, unsigned set, bool recursive, const char *what, it_error *err)
{
        struct mount_attr a = {.attr_set = set};
        if (mount_setattr(mfd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof a) !=
            0)
                return it_error_sys(err, IT_EIO, errno, "%s: mount_setattr", what);
        return 0;
}

/* Bind src (an fd, "" path) or src_path (relative to src) onto path. */
static int bind_at(int rootfd, int src, const char *src_path, const char *path,
                   enum target_kind kind, unsigned attrs, bool recursive, it_error *err)
{
        _cleanup_close_ int mfd =
            open_tree(src, src_path,
                      OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (src_path[0] ? 0 : AT_EMPTY_PATH) |
                          (recursive ? AT_RECURSIVE : 0));
        if (mfd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s: cannot bind %s", path,
                                    src_path[0] ? src_path : "the source");
        int rc = attrs ? set_attrs(mfd, attrs, recursive, path, err) : 0;
        _cleanup_close_ int target = -1;
        if (rc == 0)
                rc = open_target(rootfd, path, kind, &target, err);
        if (rc == 0)
                rc = attach(rootfd, mfd, target, path, err);
        return rc;
}

/* ---- /dev ---- */

static const char *const DEVICES[] = {"null", "zero", "full", "random", "urandom", "tty"};

static int setup_dev(int rootfd, const struct it_rootfs_cfg *cfg, it_error *err)
{
        static const char *const dev_opts[] = {"mode", "755", "size", "65536k", NULL};
        int rc = mount_fs_at(rootfd, "/dev", "tmpfs", dev_opts,
                             MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_STRICTATIME, err);
        if (rc < 0)
                return rc;
        _cleanup_close_ int hostdev = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (hostdev < 0)
                return it_error_sys(err, IT_EIO, errno, "/dev of the host");
        /* Rootless cannot mknod: bind the host's nodes, as crun does. */
        for (size_t i = 0; i < sizeof DEVICES / sizeof *DEVICES; i++) {
                char path[32];
                snprintf(path, sizeof path, "/dev/%s", DEVICES[i]);
                if ((rc = bind_at(rootfd, hostdev, DEVICES[i], path, T_FILE, MOUNT_ATTR_NOSUID,
                                  false, err)) < 0)
                        return it_error_wrap(err, "device %s", path);
        }
        _cleanup_close_ int dev = -1;
        if ((rc = open_target(rootfd, "/dev", T_DIR, &dev, err)) < 0)
                return rc;
        _cleanup_close_ int devdir = openat(dev, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (devdir < 0)
                return it_error_sys(err, IT_EIO, errno, "/dev");
        static const char *const links[][2] = {
            {"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"},
            {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
            {"/proc/kcore", "core"},       {"pts/ptmx", "ptmx"},
        };
        for (size_t i = 0; i < sizeof links / sizeof *links; i++)
                if (symlinkat(links[i][0], devdir, links[i][1]) != 0)
                        return it_error_sys(err, IT_EIO, errno, "/dev/%s", links[i][1]);
        const char *pts_opts[] = {"newinstance",
                                  NULL,
                                  "ptmxmode",
                                  "0666",
                                  "mode",
                                  "0620",
                                  cfg->gid5_mapped ? "gid" : NULL,
                                  "5",
                                  NULL};
        if ((rc = mount_fs_at(rootfd, "/dev/pts", "devpts", pts_opts,
                              MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, err)) < 0)
                return rc;
        static const char *const shm_opts[] = {"mode", "1777", "size", "65536k", NULL};
        if ((rc = mount_fs_at(rootfd, "/dev/shm", "tmpfs", shm_opts,
                              MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err)) < 0)
                return rc;
        /* mqueue needs the IPC namespace to belong to our user namespace; it always does. */
        return mount_fs_at(rootfd, "/dev/mqueue", "mqueue", NULL,
                           MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err);
}

/* ---- masks ---- */

static int mask_path(int rootfd, int devnull, const char *path, it_error *err)
{
        _cleanup_close_ int target = -1;
        int rc = open_target(rootfd, path, T_EXISTING, &target, err);
        if (rc != 0)
                return rc < 0 ? rc : 0; /* absent: nothing to hide (crun skips it too) */
        struct stat st;
        if (fstat(target, &st) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s", path);
        _cleanup_close_ int mfd = -1;
        if (S_ISDIR(st.st_mode)) {
                static const char *const opts[] = {"size", "0k", "nr_inodes", "1", NULL};
                rc = fs_new("tmpfs", opts,
                            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                MOUNT_ATTR_NOEXEC,
                            &mfd, err);
        } else {
                mfd = open_tree(devnull, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
                rc = mfd < 0 ? it_error_sys(err, IT_EIO, errno, "/dev/null") : 0;
                if (rc == 0)
                        rc =
                            set_attrs(mfd, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, false, path, err);
        }
        if (rc == 0)
                rc = attach(rootfd, mfd, target, path, err);
        if (rc < 0)
                return it_error_wrap(err, "masking %s", path);
        return 0;
}

static int readonly_path(int rootfd, const char *path, it_error *err)
{
        _cleanup_close_ int target = -1;
        int rc = open_target(rootfd, path, T_EXISTING, &target, err);
        if (rc != 0)
                return rc < 0 ? rc : 0;
        _cleanup_close_ int mfd = open_tree(
            target, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
        if (mfd < 0)
                return it_error_sys(err, IT_EIO, errno, "read-only %s: cannot bind it", path);
        if ((rc = set_attrs(mfd, MOUNT_ATTR_RDONLY, true, path, err)) < 0 ||
            (rc = attach(rootfd, mfd, target, path, err)) < 0)
                return it_error_wrap(err, "making %s read-only", path);
        return 0;
}

/* ---- the whole view ---- */

static int attach_detached(int rootfd, const struct it_rootfs_bind *b, it_error *err)
{
        _cleanup_close_ int target = -1;
        int rc = open_target(rootfd, b->path, T_FILE, &target, err);
        if (rc == 0)
                rc = attach(rootfd, b->fd, target, b->path, err);
        if (rc < 0)
                return it_error_wrap(err, "bind-mounting %s", b->path);
        return 0;
}

int rootfs_prepare(int rootfd, const struct it_rootfs_cfg *cfg, it_error *err)
{
        int rc;
        const unsigned kern = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
        if (cfg->pid_host) {
                /* No PID namespace of ours: the kernel refuses a new proc; bind the host's. */
                rc = bind_at(rootfd, AT_FDCWD, "/proc", "/proc", T_DIR, kern, true, err);
        } else {
                rc = mount_fs_at(rootfd, "/proc", "proc", NULL, kern, err);
        }
        if (rc < 0)
                return rc;
        if ((rc = setup_dev(rootfd, cfg, err)) < 0)
                return rc;
        unsigned sys_attrs = kern | (cfg->privileged ? 0 : MOUNT_ATTR_RDONLY);
        if (cfg->net_host)
                rc = bind_at(rootfd, AT_FDCWD, "/sys", "/sys", T_DIR, sys_attrs, true, err);
        else
                rc = mount_fs_at(rootfd, "/sys", "sysfs", NULL, sys_attrs, err);
        if (rc < 0)
                return rc;
        if (!cfg->net_host) {
                /* cgroup2 in our cgroup namespace, read-only; a v1-only host has none to give,
                 * and the container then sees the empty directory of the read-only sysfs. */
                _cleanup_close_ int mfd = -1;
                _cleanup_error_ it_error ign = IT_ERROR_INIT;
                _cleanup_close_ int target = -1;
                if (fs_new("cgroup2", NULL, kern | (cfg->privileged ? 0 : MOUNT_ATTR_RDONLY), &mfd,
                           &ign) == 0 &&
                    open_target(rootfd, "/sys/fs/cgroup", T_EXISTING, &target, &ign) == 0 &&
                    (rc = attach(rootfd, mfd, target, "/sys/fs/cgroup", err)) < 0)
                        return rc;
        }
        for (size_t i = 0; i < cfg->nbinds; i++) {
                const struct it_rootfs_bind *b = &cfg->binds[i];
                if (b->detached) {
                        if ((rc = attach_detached(rootfd, b, err)) < 0)
                                return rc;
                        continue;
                }
                if ((rc = bind_at(rootfd, b->fd, "", b->path, T_FILE,
                                  MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC |
                                      (b->read_only ? MOUNT_ATTR_RDONLY : 0),
                                  false, err)) < 0)
                        return it_error_wrap(err, "bind-mounting %s", b->path);
        }
        if (cfg->read_only) {
                static const char *const tmp_opts[] = {"mode", "1777", NULL};
                static const char *const run_opts[] = {"mode", "755", NULL};
                static const char *const dirs[] = {"/tmp", "/var/tmp", "/run"};
                for (size_t i = 0; i < 3; i++)
                        if ((rc = mount_fs_at(rootfd, dirs[i], "tmpfs", i < 2 ? tmp_opts : run_opts,
                                              MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, err)) < 0)
                                return rc;
        }
        if (cfg->nsecrets > 0) {
                /* The mount points live in a tmpfs, so not even an empty file reaches the
                 * container's upper directory. */
                static const char *const sec_opts[] = {"mode", "755", "size", "1024k", NULL};
                if ((rc = mount_fs_at(rootfd, "/run/secrets", "tmpfs", sec_opts, kern, err)) < 0)
                        return rc;
                for (size_t i = 0; i < cfg->nsecrets; i++)
                        if (cfg->secrets[i].detached) {
                                if ((rc = attach_detached(rootfd, &cfg->secrets[i], err)) < 0)
                                        return rc;
                        } else if ((rc = bind_at(rootfd, cfg->secrets[i].fd, "",
                                                 cfg->secrets[i].path, T_FILE,
                                                 kern | MOUNT_ATTR_RDONLY, false, err)) < 0)
                                return it_error_wrap(err, "secret %s", cfg->secrets[i].path);
        }
        if (cfg->net_host && !cfg->privileged) {
                /* The host's /sys/kernel would otherwise be readable, as podman notes. */
                _cleanup_close_ int devnull = open("/dev/null", O_PATH | O_CLOEXEC);
                if ((rc = mask_path(rootfd, devnull, "/sys/kernel", err)) < 0)
                        return rc;
        }
        _cleanup_close_ int devnull = open("/dev/null", O_PATH | O_CLOEXEC);
        if (devnull < 0)
                return it_error_sys(err, IT_EIO, errno, "/dev/null");
        for (size_t i = 0; cfg->masked && i < cfg->masked->n; i++)
                if ((rc = mask_path(rootfd, devnull, cfg->masked->v[i], err)) < 0)
                        return rc;
        for (size_t i = 0; cfg->ro_paths && i < cfg->ro_paths->n; i++)
                if ((rc = readonly_path(rootfd, cfg->ro_paths->v[i], err)) < 0)
                        return rc;
        return 0;
}

int rootfs_bind(int rootfd, int fd, const char *path, it_error *err)
{
        return bind_at(rootfd, fd, "", path, T_FILE, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, false,
                       err);
}

int rootfs_pivot(int rootfd, bool read_only, it_error *err)
{
        _cleanup_close_ int oldroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (oldroot < 0)
                return it_error_sys(err, IT_EIO, errno, "/");
        if (fchdir(rootfd) != 0)
                return it_error_sys(err, IT_EIO, errno, "the root filesystem");
        /* pivot_root(".", ".") stacks the old root on the new one: no put_old directory in the
         * image is needed. */
        if (syscall(SYS_pivot_root, ".", ".") != 0)
                return it_error_sys(err, IT_EIO, errno, "pivot_root");
        if (fchdir(oldroot) != 0)
                return it_error_sys(err, IT_EIO, errno, "old root");
        if (mount(NULL, ".", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
                return it_error_sys(err, IT_EIO, errno, "old root: making it private");
        if (umount2(".", MNT_DETACH) != 0)
                return it_error_sys(err, IT_EIO, errno, "old root: detaching it");
        if (chdir("/") != 0)
                return it_error_sys(err, IT_EIO, errno, "chdir /");
        if (read_only) {
                struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
                if (mount_setattr(AT_FDCWD, "/", 0, &a, sizeof a) != 0)
                        return it_error_sys(err, IT_EIO, errno, "--read-only: remounting /");
        }
        return 0;
}
