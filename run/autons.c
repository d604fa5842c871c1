/* Per-container ID ranges for root's containers (imgtrust/autons.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "imgtrust/autons.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/proc.h"

/* Is slot record `name` (in dirfd) held by a live process? */
static bool slot_taken(int dirfd, const char *name)
{
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return false;
        char buf[64];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        int pid;
        unsigned long long st;
        if (sscanf(buf, "%d %llu", &pid, &st) != 2 || pid <= 0)
                return false;
        unsigned long long now;
        return it_proc_start_time(pid, &now) && now == st;
}

/* Slot k as an ID: the k-th block of size IDs over ranges in order. */
static bool slot_id(const struct it_subid_range *r, size_t n, uint32_t k, uint32_t *id)
{
        for (size_t i = 0; i < n; i++) {
                uint32_t blocks = r[i].count / IT_AUTONS_SIZE;
                if (k < blocks) {
                        *id = r[i].start + k * IT_AUTONS_SIZE;
                        return true;
                }
                k -= blocks;
        }
        return false;
}

static int ranges(const char *path, struct it_subid_range *r, size_t *n, it_error *err)
{
        int rc =
            userns_subid_parse(path, IT_AUTONS_OWNER, (uid_t)-1, r, IT_SUBID_RANGES_MAX, n, err);
        if (rc < 0)
                return rc;
        uint64_t total = 0;
        for (size_t i = 0; i < *n; i++)
                total += r[i].count / IT_AUTONS_SIZE;
        if (total == 0)
                return it_error_set(err, IT_EINPUT,
                                    "%s: no range of at least %u IDs for \"%s\", which root's "
                                    "containers take their user namespaces from: add the line "
                                    "\"%s:2147483647:2147483648\" (as podman's --userns=auto "
                                    "wants), or run with --userns host",
                                    path, IT_AUTONS_SIZE, IT_AUTONS_OWNER, IT_AUTONS_OWNER);
        return 0;
}

int autons_acquire(const char *dir, const char *subuid, const char *subgid, struct it_idmap *map,
                   struct it_autons_lease *lease, it_error *err)
{
        lease->path[0] = '\0';
        dir = dir ? dir : IT_AUTONS_DIR;
        subuid = subuid ? subuid : "/etc/subuid";
        subgid = subgid ? subgid : "/etc/subgid";
        struct it_subid_range ur[IT_SUBID_RANGES_MAX], gr[IT_SUBID_RANGES_MAX];
        size_t nu, ng;
        int rc;
        if ((rc = ranges(subuid, ur, &nu, err)) < 0 || (rc = ranges(subgid, gr, &ng, err)) < 0)
                return rc;
        /* mkdir -p of the record directory (under /run, a tmpfs: records end with the boot). */
        _cleanup_free_ char *copy = strdup(dir);
        for (char *s = copy ? strchr(copy + 1, '/') : NULL;; s = strchr(s + 1, '/')) {
                if (s)
                        *s = '\0';
                if (mkdir(copy, 0700) != 0 && errno != EEXIST)
                        return it_error_sys(err, IT_EIO, errno, "%s", copy);
                if (!s)
                        break;
                *s = '/';
        }
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s", dir);
        _cleanup_close_ int lk =
            openat(dfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (lk < 0 || flock(lk, LOCK_EX) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s/lock", dir);
        uint32_t u, g;
        for (uint32_t k = 0; slot_id(ur, nu, k, &u) && slot_id(gr, ng, k, &g); k++) {
                char name[16];
                snprintf(name, sizeof name, "%u", k);
                if (slot_taken(dfd, name))
                        continue;
                char rec[64];
                unsigned long long me = 0;
                (void)it_proc_start_time(getpid(), &me);
                int n = snprintf(rec, sizeof rec, "%d %llu\n", (int)getpid(), me);
                snprintf(lease->path, sizeof lease->path, "%s/%s", dir, name);
                if ((rc = it_file_replace(lease->path, rec, (size_t)n, 0600, err)) < 0) {
                        lease->path[0] = '\0';
                        return rc;
                }
                lease->slot = k;
                memset(map, 0, sizeof *map);
                map->uid[0] = (struct it_idmap_entry){0, u, IT_AUTONS_SIZE};
                map->gid[0] = (struct it_idmap_entry){0, g, IT_AUTONS_SIZE};
                map->nuid = map->ngid = 1;
                map->host_uid = u;
                map->host_gid = g;
                snprintf(map->user, sizeof map->user, "%s", IT_AUTONS_OWNER);
                return 0;
        }
        return it_error_set(err, IT_EINPUT,
                            "every %u-ID range of the \"%s\" entries in %s and %s is held by a "
                            "running container",
                            IT_AUTONS_SIZE, IT_AUTONS_OWNER, subuid, subgid);
}

void autons_release(struct it_autons_lease *lease)
{
        if (lease->path[0])
                (void)unlink(lease->path);
        lease->path[0] = '\0';
}
