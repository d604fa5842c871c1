/* The container's filesystem view (runtime-storage.md §5.2-5.4, §6 steps 4-10): the kernel
 * filesystems, a fresh /dev, masked and read-only paths, binds, pivot_root.
 *
 * Runs in the container's init process, as root of its user namespace, in its own mount
 * namespace. Every mount target is resolved beneath the root filesystem one component at a time
 * without following any symlink (the image cannot redirect a mount with "/dev -> /host"), created
 * when missing, and the mount is attached to that exact inode with move_mount() and checked
 * afterwards to be the one seen at the path.
 */
#ifndef IMGTRUST_ROOTFS_H
#define IMGTRUST_ROOTFS_H

#include <stdbool.h>
#include <stddef.h>

#include "imgtrust/error.h"
#include "imgtrust/strv.h"

/* One file bind-mounted into the container. */
struct it_rootfs_bind {
        int fd;           /* the source, opened (O_PATH is enough) by the caller */
        const char *path; /* absolute path in the container */
        bool read_only;
        bool detached; /* fd is a detached mount (attrs set) to attach as it is */
};

struct it_rootfs_cfg {
        bool read_only;  /* --read-only: root remounted ro, tmpfs on /tmp, /run, /var/tmp */
        bool privileged; /* /sys writable */
        bool net_host;   /* no network namespace: /sys is the host's (ro), /sys/kernel masked */
        bool pid_host;   /* no PID namespace: /proc is the host's, bound recursively */
        bool gid5_mapped;
        const struct it_strv *masked;       /* absolute paths */
        const struct it_strv *ro_paths;     /* absolute paths */
        const struct it_rootfs_bind *binds; /* files (hosts, hostname, resolv.conf) */
        size_t nbinds;
        const struct it_rootfs_bind *secrets; /* under a tmpfs at /run/secrets */
        size_t nsecrets;
};

/* Podman's masked and read-only paths (podman 4.3.1 and containers/common since, united; the
 * thermal_throttle directories expanded for the CPUs this host has). */
void rootfs_default_masked(struct it_strv *out);
void rootfs_default_readonly(struct it_strv *out);

/* Remove from list every path matched by an unmask entry: "ALL", or a glob (fnmatch, FNM_PATHNAME)
 * as podman's --security-opt unmask=... */
void rootfs_unmask(struct it_strv *list, const struct it_strv *unmask);

/* Mount proc, /dev (tmpfs with null, zero, full, random, urandom, tty bound from the host, devpts,
 * shm, mqueue and the fd links), sysfs read-only, cgroup2 read-only when it can be had, the binds,
 * the secrets, the --read-only tmpfs, then the masked and read-only paths, all beneath rootfd
 * (the root of the container's root filesystem mount). Errors name the path. */
int rootfs_prepare(int rootfd, const struct it_rootfs_cfg *cfg, it_error *err);

/* Bind the file fd onto path (created as an empty file when missing): the pty at /dev/console. */
int rootfs_bind(int rootfd, int fd, const char *path, it_error *err);

/* pivot_root into rootfd and detach the old root; the working directory becomes "/". With
 * read_only, "/" is then made read-only. */
int rootfs_pivot(int rootfd, bool read_only, it_error *err);

#endif
