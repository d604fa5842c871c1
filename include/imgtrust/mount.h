/* Read-only overlay mounts of stored images (imgstore mount/umount/export).
 *
 * An image's layers (layers/<hex>/diff/, top layer first) are mounted as one read-only overlay
 * with the `userxattr` option, since the store marks opaque directories with
 * user.overlay.opaque=y. Each lower directory is given to the kernel as its own "lowerdir+"
 * parameter (new mount API, Linux 6.8), relative to layers/, so the number of layers is not
 * bounded by the one-page option string of mount(2) (64-hex names fill it at ~58 layers).
 *
 * A mount that outlives the command lives in a user namespace + mount namespace kept alive by a
 * holder process (double-forked, in its own session, stdio on /dev/null, waiting for SIGTERM).
 * The store records it as
 *
 *   mounts/<image-id-hex>.json    {"id","pid","start-time","path"}; start-time is field 22 of
 *                                 /proc/PID/stat, so a recycled pid is never taken for the holder
 *   mounts/<image-id-hex>/merged/ the mount point (the overlay is mounted there only inside the
 *                                 holder's mount namespace)
 *
 * and the path that works from the host is /proc/<pid>/root/<store root>/mounts/<hex>/merged.
 * A record whose holder is gone is stale: mount_status() removes it.
 */
#ifndef IMGTRUST_MOUNT_H
#define IMGTRUST_MOUNT_H

#include <stdbool.h>
#include <sys/types.h>

#include "imgtrust/error.h"
#include "imgtrust/store.h"
#include "imgtrust/userns.h"

struct it_mount_info {
        pid_t pid;
        unsigned long long start_time;
        char *path; /* allocated: the host path of the merged view */
};

/* Free what info holds. */
void mount_info_clear(struct it_mount_info *info);

/* Make a detached read-only overlay of img's layers and return the O_DIRECTORY fd of its root
 * in *root_fd (the mount lives as long as some fd or mount refers to it). Needs CAP_SYS_ADMIN
 * over the current mount namespace: run it as root, or inside userns_spawn_flags(USERNS_NEWNS).
 * Changes the working directory of the calling process (to layers/, then back to "/"). */
int mount_overlay(struct it_store *st, const struct it_store_image *img, int *root_fd,
                  it_error *err);

/* What mount_overlay_spec() mounts besides the layers. */
struct it_overlay_spec {
        /* upperdir and workdir, relative to the store root (both, or neither: read-only). */
        const char *upper;
        const char *work;
        /* >= 0: every lower layer is an idmapped mount through this user namespace (root running
         * a container in a namespace of its own; the layers keep their on-disk owners). */
        int idmap_userns_fd;
        /* With idmap_userns_fd: a directory (relative to the store root) where the idmapped
         * layers are attached while the overlay is made (overlay takes lower layers only from
         * mounts in the caller's namespace), then detached. The caller must be in a private
         * mount namespace of its own. */
        const char *stage;
};

/* mount_overlay with a writable upper directory (imgrun's container root filesystem: not
 * read-only, and setuid files keep working) and/or idmapped lower layers. */
int mount_overlay_spec(struct it_store *st, const struct it_store_image *img,
                       const struct it_overlay_spec *spec, int *root_fd, it_error *err);

/* Is image id (hex) mounted? A stale record (holder gone, or its pid now someone else's) is
 * removed and reads as not mounted. When mounted and info is not NULL, *info is filled
 * (mount_info_clear() frees it). */
int mount_status(struct it_store *st, const char *id, bool *mounted, struct it_mount_info *info,
                 it_error *err);

/* Remove every stale record (as mount_status does for one). */
int mount_clean_stale(struct it_store *st, it_error *err);

/* Mount img read-only in a user namespace (map) + mount namespace held by a holder process, and
 * record it. When it is already mounted, nothing changes and *already is set. *path (allocated)
 * receives the host path of the merged view. Hold the exclusive store lock. Setup errors are
 * returned before the holder detaches; a killed caller leaves no holder. */
int mount_image(struct it_store *st, const struct it_idmap *map, const struct it_store_image *img,
                char **path, bool *already, it_error *err);

/* End the holder of image id (hex), wait until it is gone, remove the record. IT_EINPUT when
 * the image is not mounted. Hold the exclusive store lock. */
int mount_release(struct it_store *st, const char *id, it_error *err);

#endif
