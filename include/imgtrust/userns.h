/* Rootless ID mapping (runtime-storage.md §3): /etc/subuid and /etc/subgid, podman's mapping,
 * and a helper process that runs a function as root in a new user namespace.
 *
 * The mapping is podman's: container 0 -> the user, 1..N -> the subordinate ranges one after
 * another (container ID U, 1 <= U <= first range's count, is host start + U - 1). With no range
 * for the user (in either file) the fallback is a single mapping, container 0 -> the user, written
 * directly to /proc/PID/uid_map after "deny" to /proc/PID/setgroups; it_idmap.single_id says so,
 * and every file then belongs to the user (chown to another ID fails with EINVAL).
 */
#ifndef IMGTRUST_USERNS_H
#define IMGTRUST_USERNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "imgtrust/error.h"

#define IT_SUBID_FILE_MAX (1024 * 1024)
#define IT_SUBID_RANGES_MAX 32
/* One line for the user, one per subordinate range. */
#define IT_IDMAP_MAX (IT_SUBID_RANGES_MAX + 1)

struct it_subid_range {
        uint32_t start;
        uint32_t count; /* >= 1; start + count <= 2^32 */
};

struct it_idmap_entry {
        uint32_t container_id;
        uint32_t host_id;
        uint32_t size;
};

struct it_idmap {
        struct it_idmap_entry uid[IT_IDMAP_MAX];
        size_t nuid;
        struct it_idmap_entry gid[IT_IDMAP_MAX];
        size_t ngid;
        bool single_id; /* no subordinate range: only the user is mapped (to 0) */
        uid_t host_uid; /* the user the namespace belongs to */
        gid_t host_gid;
        char user[64]; /* login name, for messages ("" when the uid has no passwd entry) */
        struct it_subid_range subuid[IT_SUBID_RANGES_MAX], subgid[IT_SUBID_RANGES_MAX];
        size_t nsubuid, nsubgid;
};

/* Parse a subordinate ID file (/etc/subuid or /etc/subgid format, `OWNER:START:COUNT` a line;
 * blank lines and lines starting with '#' skipped) and collect the ranges whose OWNER is `user`
 * (may be NULL) or the decimal `uid`, in file order. Strict: a malformed line, a count of 0, a
 * range past 2^32, more than IT_SUBID_RANGES_MAX matches, a file over IT_SUBID_FILE_MAX are
 * IT_EINPUT naming path and line. A missing file is no ranges (0). */
int userns_subid_parse(const char *path, const char *user, uid_t uid, struct it_subid_range *ranges,
                       size_t max, size_t *n, it_error *err);

/* Podman's mapping for uid/gid from the ranges (single_id when either list is empty). user is
 * for messages; ranges are copied into map. */
void userns_idmap_build(uid_t uid, gid_t gid, const char *user,
                        const struct it_subid_range *uranges, size_t nu,
                        const struct it_subid_range *granges, size_t ng, struct it_idmap *map);

/* The mapping for uid (its login name and primary gid from the passwd database, when it has an
 * entry), reading subuid_path and subgid_path (NULL: /etc/subuid, /etc/subgid). For root the map
 * is the identity of the whole ID space (root needs no namespace to own any ID). */
int userns_idmap_for_user(const char *subuid_path, const char *subgid_path, uid_t uid,
                          struct it_idmap *map, it_error *err);

/* How many container IDs from 0 up are mapped without a gap (uids or gids). */
uint64_t userns_idmap_span(const struct it_idmap *map, bool gid);
/* Host ID of container ID id; false when unmapped. */
bool userns_idmap_to_host(const struct it_idmap *map, bool gid, uint32_t id, uint32_t *host);

/* The "image needs ID N but the range has M" error: IT_EINPUT, naming `entry` (a tar entry or
 * file; may be NULL), the ID, the map's size, the file (/etc/subuid or /etc/subgid) and the exact
 * line that would fix it (the last range grown by the shortfall, as container IDs 1.. are the
 * ranges in order), e.g.
 *   layer entry "etc/x": needs uid 70000 but the user namespace maps uids 0-65536 (65537 IDs):
 *   in /etc/subuid, change "tuser:100000:65536" to "tuser:100000:70000"
 * or, with no range: ...: no subordinate uids for tuser: add the line "tuser:100000:65536" to
 * /etc/subuid (100000 is useradd's SUB_UID_MIN; the range must not overlap another user's).
 * Returns IT_EINPUT. */
int userns_range_error(it_error *err, const struct it_idmap *map, bool gid, uint32_t id,
                       const char *entry);

/* Write map into /proc/PID/{setgroups,gid_map,uid_map} of a process that has just created its
 * user namespace (newgidmap/newuidmap for a subordinate map; directly for root and single_id). */
int userns_write_maps(const struct it_idmap *map, pid_t pid, it_error *err);

enum { USERNS_NEWNS = 1 << 0 /* also a new mount namespace, mounts made private */ };

/* Fork a child that unshares CLONE_NEWUSER (and CLONE_NEWNS with USERNS_NEWNS), waits until the
 * parent has written its maps (newuidmap/newgidmap for a subordinate map; directly for root and
 * for single_id), becomes uid/gid 0 there and returns fn(arg) as its exit status (low 8 bits).
 * The child dies with the thread that spawned it (PR_SET_PDEATHSIG, SIGKILL). fn runs in a forked
 * child of a possibly multi-threaded process: it should not rely on locks other threads held.
 * *pid is the child; reap it with userns_wait(). On failure no child is left. */
int userns_spawn(const struct it_idmap *map, int (*fn)(void *), void *arg, pid_t *pid,
                 it_error *err);
int userns_spawn_flags(const struct it_idmap *map, unsigned flags, int (*fn)(void *), void *arg,
                       pid_t *pid, it_error *err);
/* Wait for the child; *status gets its exit status, or 128 + signal when killed. */
int userns_wait(pid_t pid, int *status, it_error *err);

/* Run fn(arg, err) as root of a new user namespace (userns_spawn_flags) and wait for it: returns
 * fn's return code, and fn's error in *err (its main line as one message, with its detail lines
 * and errno). A child that dies without reporting (a signal) is IT_EIO naming the signal. fn runs
 * in a forked child: results other than the error go back only through memory from
 * userns_shared_alloc(). */
int userns_run(const struct it_idmap *map, unsigned flags, int (*fn)(void *arg, it_error *err),
               void *arg, it_error *err);

/* Zeroed memory shared with children forked later (mmap MAP_SHARED|MAP_ANONYMOUS); aborts when
 * out of memory. userns_shared_free() releases it. */
void *userns_shared_alloc(size_t len);
void userns_shared_free(void *p, size_t len);

#endif
