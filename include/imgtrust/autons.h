/* User namespaces for root's containers, as podman --userns=auto gives them: each running
 * container gets a range of IT_AUTONS_SIZE IDs of its own, carved from the "containers" entries
 * of /etc/subuid and /etc/subgid, so container root is never host root and two containers never
 * share an ID.
 *
 * Slot k of the entries is uid start_u + k * size and gid start_g + k * size (over the entries'
 * ranges in file order). Which slots are taken is recorded under IT_AUTONS_DIR:
 *
 *   lock           flock(2)ed while a slot is chosen
 *   <k>            "PID START-TIME\n" of the imgrun process holding slot k; a record whose
 *                  process is gone (or whose pid now belongs to another process) is free again
 */
#ifndef IMGTRUST_AUTONS_H
#define IMGTRUST_AUTONS_H

#include <stdint.h>

#include "imgtrust/error.h"
#include "imgtrust/userns.h"

#define IT_AUTONS_DIR "/run/imgtrust/userns"
#define IT_AUTONS_SIZE 65536u
#define IT_AUTONS_OWNER "containers"

struct it_autons_lease {
        char path[128]; /* the slot's record; "" when none is held */
        uint32_t slot;
};

/* Take a free slot for the calling process (records it) and fill map: container 0..size-1 ->
 * the slot's uids and gids. dir: the record directory (NULL: IT_AUTONS_DIR); subuid/subgid: the
 * files (NULL: /etc/subuid, /etc/subgid). No "containers" entry, or every slot taken, is
 * IT_EINPUT saying what to add or that all are in use. */
int autons_acquire(const char *dir, const char *subuid, const char *subgid, struct it_idmap *map,
                   struct it_autons_lease *lease, it_error *err);

/* Give the slot back (remove its record). */
void autons_release(struct it_autons_lease *lease);

#endif
