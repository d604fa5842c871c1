/* imgstore export: an image's merged root filesystem as a POSIX pax tar stream.
 *
 * The stream holds every entry below the root (not the root itself), depth first, names sorted
 * bytewise in each directory, directories named with a trailing '/'. Owners are numeric only (no
 * user or group names). A regular file seen again through another link (same device and inode)
 * is a tar hardlink to the first name (libarchive's link resolver). Extended attributes go into
 * SCHILY.xattr.NAME records, sorted by name, except the overlay's own (user.overlay.*,
 * trusted.overlay.*). Sockets cannot be archived and are left out.
 */
#ifndef IMGTRUST_EXPORT_H
#define IMGTRUST_EXPORT_H

#include "imgtrust/error.h"
#include "imgtrust/store.h"
#include "imgtrust/userns.h"

/* Maximum directory depth walked; deeper trees are IT_EINPUT. */
#define IT_EXPORT_DEPTH_MAX 512

/* Write the tree below the directory fd root as a tar stream to outfd (written, not closed).
 * Every file is opened relative to its directory's fd, never through a symlink or out of root. */
int export_tree(int root, int outfd, it_error *err);

/* Export img: mount its layers (mount_overlay) in a new user namespace (map) + mount namespace
 * and write export_tree() of the merged view to outfd, so owners are the image's own IDs. */
int export_image(struct it_store *st, const struct it_idmap *map, const struct it_store_image *img,
                 int outfd, it_error *err);

#endif
