/* tar-split: a layer's uncompressed tar stream minus the data of its regular files, so that the
 * stream can be rebuilt later from the record and the unpacked files and re-hashed against the
 * layer's diff ID (what containers/storage keeps with github.com/vbatts/tar-split, in our own
 * compact form). The unpacker writes it (unpack.h split_fd); store_fsck_content() reads it.
 *
 * File format, version 1. The whole file is one gzip member (RFC 1952); the decompressed bytes
 * are the magic "ITSPLIT1" followed by records, each a one-byte tag and little-endian fields:
 *
 *   'V' u32 n, n bytes          n (1..1 MiB) bytes of the tar stream, verbatim: headers, pax and
 *                               GNU long-name records, padding, the end blocks, trailing bytes,
 *                               and the data of entries that are not files on disk (hardlink or
 *                               whiteout entries that carry data).
 *   'F' u64 size, u16 n, n bytes path, 32 bytes sha256
 *                               the data of a regular file: size bytes, the content of the file at
 *                               path (relative to the layer's diff/ root, cleaned: no leading '/',
 *                               no empty, "." or ".." component; 1..4096 bytes, components at
 *                               most 255) whose sha256 is given.
 *   'X' u16 n, n bytes          the layer cannot be re-hashed, for this reason (1..1024 printable
 *                               bytes; e.g. a file that a later entry of the layer overwrote).
 *                               Only 'E' may follow.
 *   'E' u64 total, u64 files, u8 n, n bytes diff ID
 *                               the end: total stream bytes (every 'V' n plus every 'F' size),
 *                               the number of 'F' records, and the digest of the whole stream
 *                               ("sha256:<hex>"). Nothing may follow, in the record or the gzip
 *                               file.
 *
 * The stream is the 'V' bytes and the 'F' file contents in record order. The reader is strict and
 * bounded: unknown tags, out-of-range lengths, a total above IT_TARSPLIT_MAX_TOTAL, more than
 * IT_TARSPLIT_MAX_FILES files, a missing or inconsistent 'E', or anything after it are IT_EINPUT.
 */
#ifndef IMGTRUST_TARSPLIT_H
#define IMGTRUST_TARSPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgtrust/digest.h"
#include "imgtrust/error.h"
#include "imgtrust/strv.h"

#define IT_TARSPLIT_MAGIC "ITSPLIT1"
#define IT_TARSPLIT_CHUNK_MAX (1 << 20)
#define IT_TARSPLIT_PATH_MAX 4096
#define IT_TARSPLIT_REASON_MAX 1024
#define IT_TARSPLIT_MAX_TOTAL ((uint64_t)1 << 40)
#define IT_TARSPLIT_MAX_FILES ((uint64_t)1 << 24)

struct it_tarsplit_writer;
struct it_tarsplit_reader;

/* A writer of the format above into fd (borrowed; written sequentially from its current offset).
 * *out is allocated; tarsplit_writer_free() frees it. */
void tarsplit_writer_new(int fd, struct it_tarsplit_writer **out);
/* Stream bytes kept verbatim (any length; split into 'V' records). */
int tarsplit_write_bytes(struct it_tarsplit_writer *w, const void *p, size_t n, it_error *err);
/* A regular file's data. path is cleaned as described above (the caller's job: the unpacker's
 * own cleaned name). */
int tarsplit_write_file(struct it_tarsplit_writer *w, const char *path, uint64_t size,
                        const unsigned char sha256[32], it_error *err);
/* Mark the layer as not re-hashable (the first reason wins); later bytes and files are not
 * recorded. */
void tarsplit_write_unrehashable(struct it_tarsplit_writer *w, const char *reason);
bool tarsplit_writer_broken(const struct it_tarsplit_writer *w);
/* Write 'X' if marked, then 'E', and finish the gzip member. The caller syncs and closes fd. */
int tarsplit_writer_finish(struct it_tarsplit_writer *w, uint64_t total,
                           const struct it_digest *diff_id, it_error *err);
void tarsplit_writer_free(struct it_tarsplit_writer *w);

enum it_tarsplit_kind {
        IT_TARSPLIT_BYTES,
        IT_TARSPLIT_FILE,
        IT_TARSPLIT_UNREHASHABLE,
        IT_TARSPLIT_END
};

/* One record; pointers stay valid until the next tarsplit_next() or tarsplit_reader_free(). */
struct it_tarsplit_rec {
        enum it_tarsplit_kind kind;
        const unsigned char *data; /* BYTES */
        size_t len;                /* BYTES */
        const char *path;          /* FILE (NUL-terminated, validated) */
        uint64_t size;             /* FILE */
        unsigned char sha256[32];  /* FILE */
        const char *reason;        /* UNREHASHABLE */
        uint64_t total, files;     /* END */
        struct it_digest diff_id;  /* END */
};

/* A reader of fd (borrowed) or of a memory buffer (borrowed, for fuzzing); what names the file in
 * messages ("tar-split: <what>: ..."). *out is allocated; tarsplit_reader_free() frees it. */
void tarsplit_reader_new(int fd, const char *what, struct it_tarsplit_reader **out);
void tarsplit_reader_new_mem(const void *data, size_t len, const char *what,
                             struct it_tarsplit_reader **out);
/* The next record into *rec. After END, returns IT_EINPUT if anything follows (checked at END).
 * Every violation of the format is IT_EINPUT naming the file and the offset in the decompressed
 * record; read errors IT_EIO. */
int tarsplit_next(struct it_tarsplit_reader *r, struct it_tarsplit_rec *rec, it_error *err);
void tarsplit_reader_free(struct it_tarsplit_reader *r);

/* Rebuild the stream of the record in split_fd (borrowed) from the files beneath diff_fd
 * (borrowed; each opened with openat2 RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS and O_NOFOLLOW, never followed out of it), hash it and compare with
 * diff_id. label names the layer in problem lines ("layer sha256:..."). A damaged layer or
 * record adds one line to *problems and returns 0:
 *   "<label>: <path>: content changed (sha256:<now>, recorded sha256:<then>), the layer no longer
 *    matches its diff ID <diff_id>" (also "size changed (N bytes, recorded M)", "missing",
 *   "is a symlink now, not a regular file (not followed)", ...),
 *   "<label>: cannot re-hash: <reason>", "<label>: tar-split: <what is wrong with the record>".
 * A file that cannot be read for lack of permission (files of subordinate IDs outside the
 * store's user namespace) fails with IT_EIO and EACCES naming the file. */
int tarsplit_verify(int split_fd, int diff_fd, const char *label, const struct it_digest *diff_id,
                    struct it_strv *problems, it_error *err);

#endif
