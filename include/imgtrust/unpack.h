/* Layer unpacker: one streaming pass from the compressed bytes of a layer blob to an overlay lower
 * directory (runtime-storage.md §1.4, §1.5, §2).
 *
 * The compressed bytes are hashed as they are read, decompressed by libarchive (the filter named
 * by the media type only, after the magic bytes were checked against it), the uncompressed tar
 * stream is hashed for the diffID while the tar reader consumes it, and every entry is created
 * fd-relative beneath the layer directory (openat2 RESOLVE_IN_ROOT, no symlinks in parents), never
 * by path string. Whiteouts become 0/0 character devices, opaque markers the `user.overlay.opaque`
 * xattr that a `userxattr` overlay mount reads.
 */
#ifndef IMGTRUST_UNPACK_H
#define IMGTRUST_UNPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgtrust/digest.h"
#include "imgtrust/error.h"
#include "imgtrust/registry_write.h"
#include "imgtrust/userns.h"

/* Bounds against decompression bombs and hostile headers. Exceeding one fails with IT_EINPUT
 * naming the limit and the command-line flag that raises it. */
struct it_unpack_limits {
        /* Uncompressed tar stream bytes (headers, data, padding; bounds the bytes written);
         * --max-layer-bytes. An entry whose declared size would cross it is refused before any
         * of its data is written. */
        int64_t max_bytes;
        /* Entries (headers) in the layer; --max-layer-entries. */
        int64_t max_entries;
        /* Length of an entry's path and of a link target, after cleaning; --max-layer-name.
         * Components are also bounded by NAME_MAX (255). */
        size_t max_name;
        /* Uncompressed:compressed ratio, checked once more than ratio_floor uncompressed bytes
         * have been produced; --max-layer-ratio. 0 disables the ratio check. */
        int64_t max_ratio;
        int64_t ratio_floor;
};

/* Defaults: max_bytes 64 GiB, max_entries 500000, max_name 4096, max_ratio 100, ratio_floor
 * 1 GiB. A gzip bomb of zeros (ratio ~1000:1) is thus stopped after 1 GiB uncompressed, well
 * before 2 GiB is written, while real layers (ratios 2-20) of any size up to 64 GiB pass. */
#define IT_UNPACK_MAX_BYTES_DEFAULT ((int64_t)64 << 30)
#define IT_UNPACK_MAX_ENTRIES_DEFAULT 500000
#define IT_UNPACK_MAX_NAME_DEFAULT 4096
#define IT_UNPACK_MAX_RATIO_DEFAULT 100
#define IT_UNPACK_RATIO_FLOOR_DEFAULT ((int64_t)1 << 30)

struct it_unpack_opts {
        /* Layer media type, OCI or Docker name: ...layer.v1.tar, ...tar+gzip, ...tar+zstd (and the
         * nondistributable variants), application/vnd.docker.image.rootfs.diff.tar[.gzip],
         * ...rootfs.foreign.diff.tar.gzip. Anything else is IT_EUNSUPPORTED. Borrowed. */
        const char *media_type;
        /* Expected digests of the blob as stored and of the uncompressed tar stream (diffID).
         * Both required unless skip_digests. Borrowed. */
        const struct it_digest *compressed;
        const struct it_digest *diff_id;
        struct it_unpack_limits limits;
        /* Apply the tar's numeric uid/gid (inside a user namespace or as root); false leaves
         * everything owned by the caller and ignores the ids. */
        bool chown;
        /* With chown: highest ids the mapping can represent; an entry above fails at once with
         * IT_EINPUT naming the entry and the id. */
        uint32_t max_uid, max_gid;
        /* With chown: the mapping max_uid/max_gid come from (may be NULL); an id above them is
         * then reported by userns_range_error(), with the /etc/subuid line that fixes it.
         * Borrowed. */
        const struct it_idmap *idmap;
        /* Fuzzing only: do not require or compare the digests. */
        bool skip_digests;
        /* Where to record the layer's tar-split (imgtrust/tarsplit.h: the stream minus the data
         * of the regular files created, for re-hashing the unpacked layer later), written from
         * the fd's current offset and complete when unpack_layer() returns 0; the caller syncs
         * and closes it. -1 (unpack_opts_init's default): not recorded. A layer that cannot be
         * re-hashed (a file that a later entry overwrites) is still unpacked; the record says
         * why. More than 64 MiB of headers between two files' data fails the unpack (IT_EINPUT)
         * when recording. Borrowed. */
        int split_fd;
};

/* What one unpack did (filled as far as it got, also on failure). */
struct it_unpack_stats {
        int64_t compressed_bytes;   /* blob bytes read */
        int64_t uncompressed_bytes; /* tar stream bytes */
        int64_t file_bytes;         /* regular file data written */
        int64_t entries;
        int64_t files, dirs, symlinks, hardlinks, fifos, whiteouts, opaques;
        int64_t xattrs_set;
        int64_t xattrs_overlay_skipped; /* user.overlay.* / trusted.overlay.* from the tar */
        int64_t xattrs_failed; /* refused by the kernel or fs (EPERM, ENOTSUP), as podman */
        uint32_t max_uid_seen, max_gid_seen;
        struct it_digest compressed; /* computed; valid after a complete read */
        struct it_digest diff_id;
};

/* Fill *o with media_type and the defaults above (chown false, max ids UINT32_MAX - 1, split_fd
 * -1). */
void unpack_opts_init(struct it_unpack_opts *o, const char *media_type);
void unpack_limits_default(struct it_unpack_limits *l);

/* Stream a layer (compressed bytes from read_fn) into the directory dir_fd (empty, the layer's
 * diff dir; any fd of a directory, O_PATH is fine; borrowed, not closed). Returns 0 only when
 * every entry was applied and both the compressed digest and the diffID match; otherwise a
 * negative it_code with *err naming the entry, limit or digest ("diffID mismatch: ...").
 * IT_EUNSUPPORTED when whiteouts cannot be created (mknod of 0/0 refused: run inside a user
 * namespace) or the media type is unknown. On failure dir_fd's contents are undefined (the
 * caller removes the directory); nothing is ever created outside it. st may be NULL. */
int unpack_layer(int dir_fd, it_read_fn read_fn, void *ctx, const struct it_unpack_opts *o,
                 struct it_unpack_stats *st, it_error *err);

#endif
