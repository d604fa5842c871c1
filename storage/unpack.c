/* Layer unpacker: see include/imgtrust/unpack.h. */
#include "imgtrust/unpack.h"

#include <archive.h>
#include <isa-l/igzip_lib.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/tarsplit.h"
#include "imgtrust/xalloc.h"

#define CBUF_SIZE (64 * 1024)
#define UBUF_SIZE (64 * 1024)
#define DBUF_SIZE (64 * 1024)
#define XATTR_VALUE_MAX (64 * 1024)
#define QUOTE_MAX 256
/* Stream bytes held back while recording a tar-split: what libarchive has read ahead but not
 * consumed, so not yet known to be headers or a file's data. A pax header this large is not a
 * layer worth storing. */
#define SPLIT_PENDING_MAX ((size_t)64 << 20)

enum comp { COMP_NONE, COMP_GZIP, COMP_ZSTD };

static const struct {
        const char *type;
        enum comp comp;
} media_types[] = {
    {"application/vnd.oci.image.layer.v1.tar", COMP_NONE},
    {"application/vnd.oci.image.layer.v1.tar+gzip", COMP_GZIP},
    {"application/vnd.oci.image.layer.v1.tar+zstd", COMP_ZSTD},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar", COMP_NONE},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", COMP_GZIP},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", COMP_ZSTD},
    {"application/vnd.docker.image.rootfs.diff.tar", COMP_NONE},
    {"application/vnd.docker.image.rootfs.diff.tar.gzip", COMP_GZIP},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", COMP_GZIP},
};

struct dirrec {
        char *path; /* cleaned, "" for the layer root */
        size_t depth;
        size_t seq;
        mode_t mode;
        struct timespec ts[2];
};

/* A set of paths (open addressing, power-of-two capacity). */
struct strset {
        char **v;
        size_t cap, n;
};

/* The tar-split recorder. Bytes reach it in stream order from inner_read(); those of a regular
 * file's data are hashed per file and replaced by a reference, everything else is kept verbatim.
 * libarchive reads ahead of what it consumes, so bytes are only classified once the consumed
 * offset (archive_filter_bytes(inner, 0)) has passed them: a later entry's data always starts at
 * or after it. */
struct recorder {
        struct it_tarsplit_writer *w;
        unsigned char *buf; /* pending bytes buf[head, head + len), stream offsets from buf_start */
        size_t head, len, cap;
        int64_t buf_start, stream_off;
        int64_t skip_end;    /* incoming bytes below this are the open file's data */
        int64_t entry_start; /* where the current entry's data starts */
        bool file_open;
        int64_t file_start, file_size, file_got;
        EVP_MD_CTX *fmd;
        struct strset files, dirs; /* recorded files, and every directory above one */
};

struct unpack {
        int root;
        const struct it_unpack_opts *o;
        struct it_unpack_stats *st;
        it_read_fn read_fn;
        void *read_ctx;
        enum comp comp;
        EVP_MD_CTX *cmd, *umd;
        unsigned char *cbuf, *ubuf;
        bool magic_checked, cin_eof, uin_eof;
        /* An error raised inside a libarchive callback; wins over libarchive's own message. */
        bool cb_failed;
        it_error cb_err;
        struct archive *outer, *inner;
        /* gzip layers are inflated by ISA-L (outer stays unused): three to four times zlib's
         * speed, and inflating is most of an unpack's CPU time. */
        struct inflate_state *gz;
        int64_t gz_member_end; /* compressed offset where the last member ended, or -1 */
        struct dirrec *dirs;
        size_t ndirs, dircap;
        struct recorder *rec; /* NULL when not recording */
        const char *cur_path; /* the cleaned path of the entry being applied */
};

void unpack_limits_default(struct it_unpack_limits *l)
{
        l->max_bytes = IT_UNPACK_MAX_BYTES_DEFAULT;
        l->max_entries = IT_UNPACK_MAX_ENTRIES_DEFAULT;
        l->max_name = IT_UNPACK_MAX_NAME_DEFAULT;
        l->max_ratio = IT_UNPACK_MAX_RATIO_DEFAULT;
        l->ratio_floor = IT_UNPACK_RATIO_FLOOR_DEFAULT;
}

void unpack_opts_init(struct it_unpack_opts *o, const char *media_type)
{
        memset(o, 0, sizeof(*o));
        o->media_type = media_type;
        unpack_limits_default(&o->limits);
        o->max_uid = UINT32_MAX - 1;
        o->max_gid = UINT32_MAX - 1;
        o->split_fd = -1;
}

static int cb_fail(struct unpack *u, struct archive *a, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int cb_fail(struct unpack *u, struct archive *a, int code, const char *fmt, ...)
{
        va_list ap;
        _cleanup_free_ char *msg = NULL;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                abort();
        va_end(ap);
        it_error_set(&u->cb_err, code, "%s", msg);
        u->cb_failed = true;
        if (a)
                archive_set_error(a, EIO, "%s", msg);
        return -1;
}

static const char magic_gzip[] = {0x1f, (char)0x8b};
static const char magic_zstd[] = {0x28, (char)0xb5, 0x2f, (char)0xfd};

static int check_magic(struct unpack *u, struct archive *a, size_t n)
{
        const char *b = (const char *)u->cbuf;
        bool gz = n >= 2 && memcmp(b, magic_gzip, 2) == 0;
        bool zs = n >= 4 && memcmp(b, magic_zstd, 4) == 0;
        const char *mt = u->o->media_type;

        switch (u->comp) {
        case COMP_GZIP:
                if (!gz)
                        return cb_fail(u, a, IT_EINPUT,
                                       "layer data is not gzip (no 1f 8b magic) but the media "
                                       "type is %s",
                                       mt);
                break;
        case COMP_ZSTD:
                if (!zs)
                        return cb_fail(u, a, IT_EINPUT,
                                       "layer data is not zstd (no 28 b5 2f fd magic) but the "
                                       "media type is %s",
                                       mt);
                break;
        case COMP_NONE:
                if (gz || zs)
                        return cb_fail(u, a, IT_EINPUT,
                                       "layer data is %s-compressed but the media type %s says "
                                       "uncompressed",
                                       gz ? "gzip" : "zstd", mt);
                break;
        }
        u->magic_checked = true;
        return 0;
}

/* One read_fn call into cbuf + off, hashed and counted. */
static int read_more(struct unpack *u, size_t off, size_t *got)
{
        int r;

        *got = 0;
        if (u->cin_eof)
                return 0;
        r = u->read_fn(u->read_ctx, u->cbuf + off, CBUF_SIZE - off, got, &u->cb_err);
        if (r < 0) {
                u->cb_failed = true;
                if (!u->cb_err.code)
                        it_error_set(&u->cb_err, r, "reading the layer failed");
                return r;
        }
        if (*got > CBUF_SIZE - off) {
                u->cb_failed = true;
                return it_error_set(&u->cb_err, IT_EIO, "layer reader returned too many bytes");
        }
        if (*got == 0)
                u->cin_eof = true;
        EVP_DigestUpdate(u->cmd, u->cbuf + off, *got);
        u->st->compressed_bytes += (int64_t)*got;
        /* Compression can add a little; anything beyond is not a layer of the allowed size
         * (and bounds trailing bytes after the compressed stream, which are hashed too). */
        int64_t max = u->o->limits.max_bytes;
        int64_t cmax = max > INT64_MAX / 2 ? INT64_MAX : max + max / 8 + (1 << 20);
        if (u->st->compressed_bytes > cmax) {
                u->cb_failed = true;
                return it_error_set(&u->cb_err, IT_EINPUT,
                                    "layer blob is larger than %lld bytes (--max-layer-bytes)",
                                    (long long)cmax);
        }
        return 0;
}

static la_ssize_t outer_read(struct archive *a, void *cd, const void **buf)
{
        struct unpack *u = cd;
        size_t n = 0, got;

        if (u->cb_failed)
                return -1;
        do {
                if (read_more(u, n, &got) < 0) {
                        archive_set_error(a, EIO, "reading the layer failed");
                        return -1;
                }
                n += got;
        } while (!u->magic_checked && got > 0 && n < 4);
        if (!u->magic_checked && check_magic(u, a, n) < 0)
                return -1;
        *buf = u->cbuf;
        return (la_ssize_t)n;
}

/* ---- tar-split recording ---- */

static uint64_t str_hash(const char *s)
{
        uint64_t h = 14695981039346656037ULL;

        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 1099511628211ULL;
        return h;
}

static bool set_has(const struct strset *set, const char *k)
{
        if (!set->cap)
                return false;
        for (size_t i = str_hash(k) & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
                if (!set->v[i])
                        return false;
                if (strcmp(set->v[i], k) == 0)
                        return true;
        }
}

static void set_insert(char **v, size_t cap, char *k)
{
        size_t i = str_hash(k) & (cap - 1);

        while (v[i])
                i = (i + 1) & (cap - 1);
        v[i] = k;
}

/* false when k was there already. */
static bool set_add(struct strset *set, const char *k)
{
        if (set_has(set, k))
                return false;
        if (2 * (set->n + 1) > set->cap) {
                size_t ncap = set->cap ? 2 * set->cap : 64;
                char **nv = xcalloc(ncap, sizeof(*nv));

                for (size_t i = 0; i < set->cap; i++)
                        if (set->v[i])
                                set_insert(nv, ncap, set->v[i]);
                free(set->v);
                set->v = nv;
                set->cap = ncap;
        }
        set_insert(set->v, set->cap, xstrdup(k));
        set->n++;
        return true;
}

static void set_free(struct strset *set)
{
        for (size_t i = 0; i < set->cap; i++)
                free(set->v[i]);
        free(set->v);
}

/* Write the pending bytes below stream offset limit as verbatim stream bytes. */
static int rec_flush_to(struct recorder *rc, int64_t limit, it_error *err)
{
        size_t n;
        int r;

        if (limit <= rc->buf_start || !rc->len)
                return 0;
        n = (uint64_t)(limit - rc->buf_start) < rc->len ? (size_t)(limit - rc->buf_start) : rc->len;
        if ((r = tarsplit_write_bytes(rc->w, rc->buf + rc->head, n, err)) < 0)
                return r;
        rc->head += n;
        rc->len -= n;
        rc->buf_start += (int64_t)n;
        if (!rc->len)
                rc->head = 0;
        return 0;
}

/* Bytes [stream_off, stream_off + n) of the uncompressed stream, as inner_read hands them to
 * libarchive (a is NULL once the tar reader is done: everything left is verbatim). */
static int rec_feed(struct unpack *u, struct archive *a, const unsigned char *p, size_t n)
{
        struct recorder *rc = u->rec;
        int64_t off = rc->stream_off, limit;
        _cleanup_error_ it_error e = IT_ERROR_INIT;

        if (!a)
                limit = INT64_MAX;
        else if (rc->file_open)
                limit = rc->file_start;
        else
                limit = archive_filter_bytes(u->inner, 0);
        if (rec_flush_to(rc, limit, &e) < 0)
                return cb_fail(u, a, e.code, "%s", e.msg);
        rc->stream_off += (int64_t)n;
        if (off < rc->skip_end) {
                size_t k = (uint64_t)(rc->skip_end - off) < n ? (size_t)(rc->skip_end - off) : n;

                p += k;
                n -= k;
                off += (int64_t)k;
        }
        if (!n)
                return 0;
        if (!rc->len) {
                rc->head = 0;
                rc->buf_start = off;
        }
        if (rc->len + n > SPLIT_PENDING_MAX)
                return cb_fail(u, a, IT_EINPUT,
                               "more than %zu MiB of tar headers at offset %lld of the layer "
                               "stream; its tar-split cannot be recorded",
                               SPLIT_PENDING_MAX >> 20, (long long)rc->buf_start);
        if (rc->head + rc->len + n > rc->cap) {
                if (rc->head) {
                        memmove(rc->buf, rc->buf + rc->head, rc->len);
                        rc->head = 0;
                }
                if (rc->len + n > rc->cap) {
                        while (rc->len + n > rc->cap)
                                rc->cap = rc->cap ? 2 * rc->cap : 256 * 1024;
                        rc->buf = xrealloc(rc->buf, rc->cap);
                }
        }
        memcpy(rc->buf + rc->head + rc->len, p, n);
        rc->len += n;
        return 0;
}

/* A header was read: everything before the entry's data is verbatim. */
static int rec_header(struct unpack *u, it_error *err)
{
        struct recorder *rc = u->rec;
        int64_t pos;

        if (!rc)
                return 0;
        pos = archive_filter_bytes(u->inner, 0);
        if (pos < rc->buf_start || pos > rc->stream_off)
                return it_error_set(err, IT_EIO,
                                    "tar-split: libarchive's stream offset %lld is outside the "
                                    "pending bytes %lld..%lld",
                                    (long long)pos, (long long)rc->buf_start,
                                    (long long)rc->stream_off);
        rc->entry_start = pos;
        return rec_flush_to(rc, pos, err);
}

/* The current entry's data is the content of a regular file the unpacker creates. */
static void rec_file_begin(struct unpack *u, int64_t size)
{
        struct recorder *rc = u->rec;
        size_t k;

        if (!rc)
                return;
        rc->file_open = true;
        rc->file_start = rc->entry_start;
        rc->file_size = size;
        rc->file_got = 0;
        /* Read ahead already: drop what belongs to the file. */
        k = (uint64_t)size < rc->len ? (size_t)size : rc->len;
        rc->head += k;
        rc->len -= k;
        rc->buf_start += (int64_t)k;
        if (!rc->len) {
                rc->head = 0;
                rc->buf_start = rc->stream_off;
        }
        rc->skip_end = rc->file_start + size;
        EVP_DigestInit_ex(rc->fmd, EVP_sha256(), NULL);
}

static void rec_file_data(struct unpack *u, const void *p, size_t n)
{
        if (!u->rec)
                return;
        EVP_DigestUpdate(u->rec->fmd, p, n);
        u->rec->file_got += (int64_t)n;
}

static int rec_file_end(struct unpack *u, it_error *err)
{
        struct recorder *rc = u->rec;
        unsigned char sha[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        int r;

        if (!rc)
                return 0;
        rc->file_open = false;
        EVP_DigestFinal_ex(rc->fmd, sha, &n);
        if (rc->file_got != rc->file_size)
                return it_error_set(err, IT_EIO,
                                    "tar-split: %lld bytes of data read for a file of %lld",
                                    (long long)rc->file_got, (long long)rc->file_size);
        if ((r = tarsplit_write_file(rc->w, u->cur_path, (uint64_t)rc->file_size, sha, err)) < 0)
                return r;
        if (set_add(&rc->files, u->cur_path)) {
                _cleanup_free_ char *d = xstrdup(u->cur_path);

                for (char *s = strrchr(d, '/'); s; s = strrchr(d, '/')) {
                        *s = '\0';
                        if (!set_add(&rc->dirs, d))
                                break;
                }
        }
        return 0;
}

/* An entry is about to (re)place path: if that removes a file recorded before (or a directory
 * holding one), the stream can no longer be rebuilt from the layer's files. */
static void rec_touch(struct unpack *u, const char *path, bool is_dir, const char *q)
{
        struct recorder *rc = u->rec;

        if (!rc || tarsplit_writer_broken(rc->w))
                return;
        if (set_has(&rc->files, path) || (!is_dir && set_has(&rc->dirs, path))) {
                _cleanup_free_ char *pq = it_quote(path, QUOTE_MAX);
                _cleanup_free_ char *why =
                    xasprintf("entry %s replaces %s, which holds a regular file recorded earlier "
                              "in the layer",
                              q, pq);
                tarsplit_write_unrehashable(rc->w, why);
        }
}

/* The next piece of the uncompressed stream from a gzip blob: 0 at its end, -1 on failure (in
 * cb_err). Members may follow one another (as gzip and Go's reader allow); anything else after a
 * member, even zeros, is corrupt data, as Go's reader (podman) finds it. */
static la_ssize_t gz_read(struct unpack *u, struct archive *a)
{
        struct inflate_state *s = u->gz;
        size_t got;

        for (;;) {
                if (s->avail_in == 0 && !u->cin_eof) {
                        if (read_more(u, 0, &got) < 0) {
                                if (a)
                                        archive_set_error(a, EIO, "reading the layer failed");
                                return -1;
                        }
                        s->next_in = u->cbuf;
                        s->avail_in = (uint32_t)got;
                }
                if (s->block_state == ISAL_BLOCK_FINISH) {
                        if (s->avail_in == 0 && u->cin_eof)
                                return 0;
                        if (s->avail_in == 0)
                                continue;
                        /* Another member: the reset forgets the input, which stays ours. */
                        uint8_t *in = s->next_in;
                        uint32_t n = s->avail_in;
                        u->gz_member_end = u->st->compressed_bytes - n;
                        isal_inflate_reset(s);
                        s->crc_flag = ISAL_GZIP;
                        s->next_in = in;
                        s->avail_in = n;
                }
                s->next_out = u->ubuf;
                s->avail_out = UBUF_SIZE;
                int r = isal_inflate(s);
                if (r != ISAL_DECOMP_OK && u->gz_member_end >= 0 &&
                    (r == ISAL_INVALID_WRAPPER || r == ISAL_UNSUPPORTED_METHOD))
                        return cb_fail(u, a, IT_EINPUT,
                                       "decompressing the layer: the bytes after the gzip member "
                                       "ending at compressed byte %lld are not another member",
                                       (long long)u->gz_member_end);
                if (r != ISAL_DECOMP_OK)
                        return cb_fail(u, a, IT_EINPUT, "decompressing the layer: %s",
                                       r == ISAL_INCORRECT_CHECKSUM ? "gzip checksum mismatch"
                                       : r == ISAL_INVALID_WRAPPER || r == ISAL_UNSUPPORTED_METHOD
                                           ? "not a gzip stream"
                                           : "corrupt gzip data");
                if (UBUF_SIZE - s->avail_out > 0)
                        u->gz_member_end = -1;
                size_t produced = UBUF_SIZE - s->avail_out;
                if (produced > 0)
                        return (la_ssize_t)produced;
                if (s->block_state != ISAL_BLOCK_FINISH && s->avail_in == 0 && u->cin_eof)
                        return cb_fail(u, a, IT_EINPUT,
                                       "decompressing the layer: the gzip stream is truncated");
        }
}

static la_ssize_t inner_read(struct archive *a, void *cd, const void **buf)
{
        struct unpack *u = cd;
        const struct it_unpack_limits *l = &u->o->limits;
        la_ssize_t n;
        int64_t ub;

        if (u->cb_failed)
                return -1;
        if (u->uin_eof)
                return 0;
        n = u->gz ? gz_read(u, a) : archive_read_data(u->outer, u->ubuf, UBUF_SIZE);
        if (n < 0) {
                if (!u->cb_failed)
                        cb_fail(u, a, IT_EINPUT, "decompressing the layer: %s",
                                archive_error_string(u->outer));
                else if (a)
                        archive_set_error(a, EIO, "reading the layer failed");
                return -1;
        }
        if (n == 0)
                u->uin_eof = true;
        EVP_DigestUpdate(u->umd, u->ubuf, (size_t)n);
        if (u->rec && n > 0 && rec_feed(u, a, u->ubuf, (size_t)n) < 0)
                return -1;
        ub = u->st->uncompressed_bytes += n;
        if (ub > l->max_bytes)
                return cb_fail(u, a, IT_EINPUT,
                               "layer is larger than %lld bytes uncompressed (--max-layer-bytes)",
                               (long long)l->max_bytes);
        if (l->max_ratio > 0 && ub > l->ratio_floor && ub / l->max_ratio > u->st->compressed_bytes)
                return cb_fail(u, a, IT_EINPUT,
                               "layer expands more than %lld:1 (%lld bytes from %lld; a "
                               "decompression bomb?) (--max-layer-ratio)",
                               (long long)l->max_ratio, (long long)ub,
                               (long long)u->st->compressed_bytes);
        *buf = u->ubuf;
        return n;
}

/* The error of a failed libarchive call: ours from a callback if there was one. */
static int archive_fail(struct unpack *u, struct archive *a, it_error *err, const char *what)
{
        if (u->cb_failed) {
                it_error_move(err, &u->cb_err);
                return err->code ? err->code : IT_EIO;
        }
        return it_error_set(err, IT_EINPUT, "%s: %s", what,
                            archive_error_string(a) ? archive_error_string(a) : "unknown error");
}

/* Lexical cleaning as tar does: leading '/' dropped, empty and "." components dropped; ".." and
 * over-long names refused. Allocates *out ("" for the root). */
static int clean_path(const char *raw, size_t max, const char *what, char **out, it_error *err)
{
        _cleanup_free_ char *q = it_quote(raw, QUOTE_MAX);
        struct it_buf b = IT_BUF_INIT;
        const char *p = raw;

        while (*p) {
                const char *s = p;
                size_t n;

                while (*p && *p != '/')
                        p++;
                n = (size_t)(p - s);
                while (*p == '/')
                        p++;
                if (n == 0 || (n == 1 && s[0] == '.'))
                        continue;
                if (n == 2 && s[0] == '.' && s[1] == '.') {
                        it_buf_free(&b);
                        return it_error_set(err, IT_EINPUT, "%s %s contains a \"..\" component",
                                            what, q);
                }
                if (n > NAME_MAX) {
                        it_buf_free(&b);
                        return it_error_set(err, IT_EINPUT,
                                            "%s %s has a component longer than %d bytes", what, q,
                                            NAME_MAX);
                }
                if (b.len)
                        it_buf_addch(&b, '/');
                it_buf_add(&b, s, n);
                if (b.len > max) {
                        it_buf_free(&b);
                        return it_error_set(err, IT_EINPUT,
                                            "%s %s is longer than %zu bytes (--max-layer-name)",
                                            what, q, max);
                }
        }
        *out = b.len ? it_buf_detach(&b) : (it_buf_free(&b), xstrdup(""));
        return 0;
}

static int xopenat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
        struct open_how how = {.flags = flags, .mode = 0, .resolve = resolve};
        int fd;

        for (int i = 0; i < 16; i++) {
                fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
                if (fd >= 0 || errno != EAGAIN)
                        return fd;
        }
        return -1;
}

#define RESOLVE_STRICT                                                                             \
        (RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

static int walk_error(const char *q, const char *dir, int e, it_error *err)
{
        _cleanup_free_ char *dq = it_quote(dir, QUOTE_MAX);

        if (e == ELOOP)
                return it_error_set(err, IT_EINPUT, "entry %s: cannot extract through symlink %s",
                                    q, dq);
        if (e == ENOTDIR)
                return it_error_set(err, IT_EINPUT, "entry %s: a parent of it is not a directory",
                                    q);
        if (e == ENOENT)
                return it_error_set(err, IT_EINPUT, "entry %s: %s does not exist in the layer", q,
                                    dq);
        if (e == EXDEV)
                return it_error_set(err, IT_EINPUT, "entry %s: parent escapes the layer", q);
        return it_error_sys(err, IT_EIO, e, "entry %s: cannot open parent %s", q, dq);
}

static void defer_dir(struct unpack *u, const char *path, mode_t mode, const struct timespec ts[2])
{
        struct dirrec *d;
        size_t depth = 0;

        /* Consecutive duplicates of one directory (a million "d/" entries) keep one record. */
        if (u->ndirs && strcmp(u->dirs[u->ndirs - 1].path, path) == 0) {
                d = &u->dirs[u->ndirs - 1];
                d->mode = mode;
                d->ts[0] = ts[0];
                d->ts[1] = ts[1];
                return;
        }
        if (u->ndirs == u->dircap) {
                u->dircap = u->dircap ? 2 * u->dircap : 64;
                u->dirs = xrealloc(u->dirs, u->dircap * sizeof(*u->dirs));
        }
        for (const char *p = path; *p; p++)
                depth += *p == '/';
        d = &u->dirs[u->ndirs];
        d->path = xstrdup(path);
        d->depth = *path ? depth + 1 : 0;
        d->seq = u->ndirs++;
        d->mode = mode;
        d->ts[0] = ts[0];
        d->ts[1] = ts[1];
}

/* Open (creating missing components 0755, as tar does) the parent directory dir of an entry:
 * O_PATH fd into *out, or -1 for the layer root itself. */
static int open_parent(struct unpack *u, const char *dir, const char *q, bool create, int *out,
                       it_error *err)
{
        static const struct timespec omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
        _cleanup_free_ char *walk = NULL;
        _cleanup_close_ int cur = -1;
        int fd;

        *out = -1;
        if (!*dir)
                return 0;
        fd = xopenat2(u->root, dir, O_PATH | O_DIRECTORY | O_CLOEXEC, RESOLVE_STRICT);
        if (fd >= 0) {
                *out = fd;
                return 0;
        }
        if (errno != ENOENT || !create)
                return walk_error(q, dir, errno, err);
        walk = xstrdup(dir);
        for (char *c = walk, *next; c; c = next) {
                int base = cur >= 0 ? cur : u->root;

                next = strchr(c, '/');
                if (next)
                        *next++ = '\0';
                fd = xopenat2(base, c, O_PATH | O_DIRECTORY | O_CLOEXEC, RESOLVE_STRICT);
                if (fd < 0 && errno == ENOENT) {
                        if (mkdirat(base, c, 0700) < 0 && errno != EEXIST)
                                return it_error_sys(err, IT_EIO, errno,
                                                    "entry %s: cannot create a parent directory",
                                                    q);
                        u->st->dirs++;
                        /* c is walk's prefix up to this component. */
                        defer_dir(u, walk, 0755, omit);
                        fd = xopenat2(base, c, O_PATH | O_DIRECTORY | O_CLOEXEC, RESOLVE_STRICT);
                }
                if (fd < 0)
                        return walk_error(q, walk, errno, err);
                if (cur >= 0)
                        close(cur);
                cur = fd;
                if (next)
                        next[-1] = '/';
        }
        *out = IT_STEAL_FD(cur);
        return 0;
}

/* Remove name (a whole tree for a directory) beneath parent, by fds only. */
static int remove_tree(int parent, const char *name)
{
        struct stat sb;
        char **names = NULL;
        size_t n = 0, cap = 0;
        int fd, r = 0;
        DIR *d;
        struct dirent *de;

        if (fstatat(parent, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(sb.st_mode))
                return unlinkat(parent, name, 0) < 0 ? -errno : 0;
        fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                close(fd);
                return r;
        }
        /* Names first, then recurse with the directory closed: depth costs no fds. */
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (n == cap) {
                        cap = cap ? 2 * cap : 16;
                        names = xrealloc(names, cap * sizeof(*names));
                }
                names[n++] = xstrdup(de->d_name);
        }
        for (size_t i = 0; i < n; i++) {
                if (r == 0)
                        r = remove_tree(dirfd(d), names[i]);
                free(names[i]);
        }
        free(names);
        closedir(d);
        if (r == 0 && unlinkat(parent, name, AT_REMOVEDIR) < 0)
                r = -errno;
        return r;
}

/* Make room for a new entry at pfd/name: keep an existing directory when keep_dir (returns 1),
 * otherwise remove whatever is there. */
static int clear_target(int pfd, const char *name, bool keep_dir, const char *q, it_error *err)
{
        struct stat sb;
        int r;

        if (fstatat(pfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return it_error_sys(err, IT_EIO, errno, "entry %s: cannot stat", q);
        }
        if (keep_dir && S_ISDIR(sb.st_mode))
                return 1;
        r = remove_tree(pfd, name);
        if (r < 0)
                return it_error_sys(err, IT_EIO, -r, "entry %s: cannot replace the existing %s", q,
                                    S_ISDIR(sb.st_mode) ? "directory" : "file");
        return 0;
}

static int check_ids(struct unpack *u, struct archive_entry *e, const char *q, it_error *err)
{
        int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);

        if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX)
                return it_error_set(err, IT_EINPUT, "entry %s: invalid owner %lld:%lld", q,
                                    (long long)uid, (long long)gid);
        if ((uint32_t)uid > u->st->max_uid_seen)
                u->st->max_uid_seen = (uint32_t)uid;
        if ((uint32_t)gid > u->st->max_gid_seen)
                u->st->max_gid_seen = (uint32_t)gid;
        if (!u->o->chown)
                return 0;
        if (uid > u->o->max_uid && u->o->idmap)
                return userns_range_error(err, u->o->idmap, false, (uint32_t)uid,
                                          archive_entry_pathname(e));
        if (gid > u->o->max_gid && u->o->idmap)
                return userns_range_error(err, u->o->idmap, true, (uint32_t)gid,
                                          archive_entry_pathname(e));
        if (uid > u->o->max_uid)
                return it_error_set(err, IT_EINPUT,
                                    "entry %s: uid %lld is above the highest mapped uid %u", q,
                                    (long long)uid, u->o->max_uid);
        if (gid > u->o->max_gid)
                return it_error_set(err, IT_EINPUT,
                                    "entry %s: gid %lld is above the highest mapped gid %u", q,
                                    (long long)gid, u->o->max_gid);
        return 0;
}

/* Ownership by fd (fd >= 0) or by pfd/name without following a symlink. */
static int apply_owner(struct unpack *u, struct archive_entry *e, int fd, int pfd, const char *name,
                       const char *q, it_error *err)
{
        uid_t uid = (uid_t)archive_entry_uid(e);
        gid_t gid = (gid_t)archive_entry_gid(e);
        int r;

        if (!u->o->chown)
                return 0;
        r = fd >= 0 ? fchown(fd, uid, gid) : fchownat(pfd, name, uid, gid, AT_SYMLINK_NOFOLLOW);
        if (r < 0 && errno == EINVAL)
                return it_error_set(err, IT_EINPUT,
                                    "entry %s: owner %u:%u is not mapped in this user namespace", q,
                                    (unsigned)uid, (unsigned)gid);
        if (r < 0)
                return it_error_sys(err, IT_EIO, errno, "entry %s: cannot set owner %u:%u", q,
                                    (unsigned)uid, (unsigned)gid);
        return 0;
}

static bool is_overlay_xattr(const char *n)
{
        return strncmp(n, "user.overlay.", 13) == 0 || strncmp(n, "trusted.overlay.", 16) == 0;
}

/* xattrs by fd, or (fd < 0: a symlink) by the path /proc/self/fd/pfd/name with lsetxattr. */
static int apply_xattrs(struct unpack *u, struct archive_entry *e, int fd, int pfd,
                        const char *name, const char *q, it_error *err)
{
        const char *xn;
        const void *xv;
        size_t xs;

        archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK) {
                int r;

                if (is_overlay_xattr(xn)) {
                        u->st->xattrs_overlay_skipped++;
                        continue;
                }
                if (!*xn || strlen(xn) > XATTR_NAME_MAX || xs > XATTR_VALUE_MAX)
                        return it_error_set(err, IT_EINPUT,
                                            "entry %s: xattr name or value too long", q);
                if (fd >= 0) {
                        r = fsetxattr(fd, xn, xv, xs, 0);
                } else {
                        _cleanup_free_ char *p = xasprintf("/proc/self/fd/%d/%s", pfd, name);
                        r = lsetxattr(p, xn, xv, xs, 0);
                }
                if (r < 0 && (errno == EPERM || errno == ENOTSUP || errno == EACCES)) {
                        u->st->xattrs_failed++;
                        continue;
                }
                if (r < 0) {
                        _cleanup_free_ char *xq = it_quote(xn, QUOTE_MAX);
                        return it_error_sys(err, IT_EIO, errno, "entry %s: cannot set xattr %s", q,
                                            xq);
                }
                u->st->xattrs_set++;
        }
        return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
        if (archive_entry_mtime_is_set(e)) {
                ts[1].tv_sec = archive_entry_mtime(e);
                ts[1].tv_nsec = archive_entry_mtime_nsec(e);
        } else {
                ts[1].tv_sec = 0;
                ts[1].tv_nsec = UTIME_OMIT;
        }
        if (archive_entry_atime_is_set(e)) {
                ts[0].tv_sec = archive_entry_atime(e);
                ts[0].tv_nsec = archive_entry_atime_nsec(e);
        } else {
                ts[0] = ts[1];
        }
        for (int i = 0; i < 2; i++)
                if (ts[i].tv_nsec != UTIME_OMIT && (ts[i].tv_nsec < 0 || ts[i].tv_nsec > 999999999))
                        ts[i].tv_nsec = 0;
}

static int do_file(struct unpack *u, struct archive_entry *e, int pfd, const char *name,
                   const char *q, it_error *err)
{
        const struct it_unpack_limits *l = &u->o->limits;
        _cleanup_free_ unsigned char *buf = NULL;
        _cleanup_close_ int fd = -1;
        int64_t size = archive_entry_size(e);
        struct timespec ts[2];
        int r;

        if (size < 0 || size > l->max_bytes - u->st->file_bytes)
                return it_error_set(err, IT_EINPUT,
                                    "entry %s: size %lld is over the layer limit of %lld bytes "
                                    "(--max-layer-bytes)",
                                    q, (long long)size, (long long)l->max_bytes);
        r = clear_target(pfd, name, false, q, err);
        if (r < 0)
                return r;
        fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return it_error_sys(err, IT_EIO, errno, "entry %s: cannot create", q);
        buf = xmalloc(DBUF_SIZE);
        rec_file_begin(u, size);
        for (;;) {
                la_ssize_t n = archive_read_data(u->inner, buf, DBUF_SIZE);

                if (n == 0)
                        break;
                if (n < 0) {
                        archive_fail(u, u->inner, err, "reading the layer");
                        return it_error_wrap(err, "entry %s", q);
                }
                if (it_write_all(fd, buf, (size_t)n) < 0)
                        return it_error_sys(err, IT_EIO, errno, "entry %s: cannot write", q);
                rec_file_data(u, buf, (size_t)n);
                u->st->file_bytes += n;
        }
        if ((r = rec_file_end(u, err)) < 0)
                return it_error_wrap(err, "entry %s", q);
        if ((r = apply_owner(u, e, fd, -1, NULL, q, err)) < 0 ||
            (r = apply_xattrs(u, e, fd, -1, NULL, q, err)) < 0)
                return r;
        if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
                return it_error_sys(err, IT_EIO, errno, "entry %s: cannot set mode", q);
        entry_times(e, ts);
        if (futimens(fd, ts) < 0)
                return it_error_sys(err, IT_EIO, errno, "entry %s: cannot set times", q);
        u->st->files++;
        return 0;
}

static int do_dir(struct unpack *u, struct archive_entry *e, int pfd, const char *name,
                  const char *path, const char *q, it_error *err)
{
        _cleanup_close_ int fd = -1;
        struct timespec ts[2];
        int r;

        if (*path) {
                r = clear_target(pfd, name, true, q, err);
                if (r < 0)
                        return r;
                if (r == 0) {
                        if (mkdirat(pfd, name, 0700) < 0)
                                return it_error_sys(err, IT_EIO, errno,
                                                    "entry %s: cannot create directory", q);
                        u->st->dirs++;
                }
                fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        } else {
                fd = openat(u->root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        if (fd < 0)
                return it_error_sys(err, IT_EIO, errno, "entry %s: cannot open directory", q);
        if ((r = apply_owner(u, e, fd, -1, NULL, q, err)) < 0 ||
            (r = apply_xattrs(u, e, fd, -1, NULL, q, err)) < 0)
                return r;
        entry_times(e, ts);
        defer_dir(u, path, archive_entry_perm(e) & 07777, ts);
        return 0;
}

static int do_symlink(struct unpack *u, struct archive_entry *e, int pfd, const char *name,
                      const char *q, it_error *err)
{
        const char *target = archive_entry_symlink(e);
        struct timespec ts[2];
        int r;

        if (!target || !*target)
                return it_error_set(err, IT_EINPUT, "entry %s: symlink without a target", q);
        if (strlen(target) > u->o->limits.max_name)
                return it_error_set(err, IT_EINPUT,
                                    "entry %s: symlink target longer than %zu bytes "
                                    "(--max-layer-name)",
                                    q, u->o->limits.max_name);
        r = clear_target(pfd, name, false, q, err);
        if (r < 0)
                return r;
        if (symlinkat(target, pfd, name) < 0)
                return it_error_sys(err, IT_EIO, errno, "entry %s: cannot create symlink", q);
        if ((r = apply_owner(u, e, -1, pfd, name, q, err)) < 0 ||
            (r = apply_xattrs(u, e, -1, pfd, name, q, err)) < 0)
                return r;
        entry_times(e, ts);
        if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return it_error_sys(err, IT_EIO, errno, "entry %s: cannot set times", q);
        u->st->symlinks++;
        return 0;
}

static int do_hardlink(struct unpack *u, const char *hl, int pfd, const char *name, const char *q,
                       it_error *err)
{
        _cleanup_free_ char *tpath = NULL;
        _cleanup_close_ int tpfd = -1;
        const char *tname, *slash;
        struct stat sb;
        int r;

        r = clean_path(hl, u->o->limits.max_name, "hardlink target", &tpath, err);
        if (r < 0)
                return it_error_wrap(err, "entry %s", q);
        if (!*tpath)
                return it_error_set(err, IT_EINPUT, "entry %s: hardlink to the layer root", q);
        slash = strrchr(tpath, '/');
        if (slash) {
                tpath[slash - tpath] = '\0';
                tname = slash + 1;
                _cleanup_free_ char *tq = xasprintf("%s (hardlink target)", q);

                r = open_parent(u, tpath, tq, false, &tpfd, err);
                if (r < 0)
                        return r;
        } else {
                tname = tpath;
        }
        if (fstatat(tpfd >= 0 ? tpfd : u->root, tname, &sb, AT_SYMLINK_NOFOLLOW) < 0)
                return it_error_sys(err, IT_EINPUT, errno,
                                    "entry %s: hardlink target is not in the layer", q);
        if (S_ISDIR(sb.st_mode))
                return it_error_set(err, IT_EINPUT, "entry %s: hardlink to a directory", q);
        r = clear_target(pfd, name, false, q, err);
        if (r < 0)
                return r;
        /* Flags 0: a symlink target is linked itself, never followed. */
        if (linkat(tpfd >= 0 ? tpfd : u->root, tname, pfd, name, 0) < 0)
                return it_error_sys(err, IT_EIO, errno, "entry %s: cannot create hardlink", q);
        u->st->hardlinks++;
        return 0;
}

static int do_fifo(struct unpack *u, struct archive_entry *e, int pfd, const char *name,
                   const char *q, it_error *err)
{
        struct timespec ts[2];
        int r = clear_target(pfd, name, false, q, err);

        if (r < 0)
                return r;
        if (mknodat(pfd, name, S_IFIFO | 0600, 0) < 0)
                return it_error_sys(err, IT_EIO, errno, "entry %s: cannot create FIFO", q);
        if ((r = apply_owner(u, e, -1, pfd, name, q, err)) < 0)
                return r;
        if (fchmodat(pfd, name, archive_entry_perm(e) & 07777, AT_SYMLINK_NOFOLLOW) < 0)
                return it_error_sys(err, IT_EIO, errno, "entry %s: cannot set mode", q);
        entry_times(e, ts);
        if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return it_error_sys(err, IT_EIO, errno, "entry %s: cannot set times", q);
        u->st->fifos++;
        return 0;
}

static int do_whiteout(struct unpack *u, struct archive_entry *e, int pfd, const char *wname,
                       const char *q, it_error *err)
{
        int r;

        if (!*wname || strcmp(wname, ".") == 0 || strcmp(wname, "..") == 0)
                return it_error_set(err, IT_EINPUT, "entry %s: invalid whiteout name", q);
        if (strncmp(wname, ".wh.", 4) == 0)
                return it_error_set(err, IT_EINPUT,
                                    "entry %s: unsupported whiteout meta entry (only "
                                    ".wh..wh..opq is known)",
                                    q);
        if (archive_entry_filetype(e) == AE_IFDIR)
                return it_error_set(err, IT_EINPUT, "entry %s: a whiteout must not be a directory",
                                    q);
        r = clear_target(pfd, wname, false, q, err);
        if (r < 0)
                return r;
        if (mknodat(pfd, wname, S_IFCHR, makedev(0, 0)) < 0) {
                if (errno == EPERM)
                        return it_error_set(err, IT_EUNSUPPORTED,
                                            "entry %s: cannot create the whiteout (character "
                                            "device 0/0): mknod not permitted (it needs Linux "
                                            ">= 5.8 or a user namespace, and a layer directory "
                                            "that is not on overlayfs)",
                                            q);
                return it_error_sys(err, IT_EIO, errno, "entry %s: cannot create the whiteout", q);
        }
        if ((r = apply_owner(u, e, -1, pfd, wname, q, err)) < 0)
                return r;
        u->st->whiteouts++;
        return 0;
}

static int do_opaque(struct unpack *u, int pfd, const char *q, it_error *err)
{
        _cleanup_close_ int fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return it_error_sys(err, IT_EIO, errno, "entry %s: cannot open the directory", q);
        if (fsetxattr(fd, "user.overlay.opaque", "y", 1, 0) < 0)
                return it_error_sys(err, errno == ENOTSUP ? IT_EUNSUPPORTED : IT_EIO, errno,
                                    "entry %s: cannot set user.overlay.opaque", q);
        u->st->opaques++;
        return 0;
}

static int unpack_entry(struct unpack *u, struct archive_entry *e, it_error *err)
{
        const char *raw = archive_entry_pathname(e);
        const char *hl = archive_entry_hardlink(e);
        _cleanup_free_ char *path = NULL, *q = NULL, *dir = NULL;
        _cleanup_close_ int pfd = -1;
        const char *base;
        mode_t type = archive_entry_filetype(e);
        char *slash;
        int r, p;

        if (!raw)
                return it_error_set(err, IT_EINPUT, "entry %lld has no name",
                                    (long long)u->st->entries);
        q = it_quote(raw, QUOTE_MAX);
        if (++u->st->entries > u->o->limits.max_entries)
                return it_error_set(err, IT_EINPUT,
                                    "layer has more than %lld entries (--max-layer-entries)",
                                    (long long)u->o->limits.max_entries);
        r = clean_path(raw, u->o->limits.max_name, "entry", &path, err);
        if (r < 0)
                return r;
        if (archive_entry_sparse_count(e) > 0)
                return it_error_set(err, IT_EINPUT, "entry %s: sparse files are not accepted", q);
        r = check_ids(u, e, q, err);
        if (r < 0)
                return r;
        if (!*path) {
                if (hl || type != AE_IFDIR)
                        return it_error_set(err, IT_EINPUT, "entry %s would replace the layer root",
                                            q);
                return do_dir(u, e, u->root, "", "", q, err);
        }
        slash = strrchr(path, '/');
        dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
        base = slash ? slash + 1 : path;
        /* ".wh." is reserved (image-spec): only a last component may carry it, as a whiteout. */
        if (strncmp(dir, ".wh.", 4) == 0 || strstr(dir, "/.wh."))
                return it_error_set(err, IT_EINPUT,
                                    "entry %s: a directory name starting with .wh. is reserved", q);
        if (strncmp(base, ".wh.", 4) != 0 && !hl) {
                switch (type) {
                case AE_IFREG:
                case AE_IFDIR:
                case AE_IFLNK:
                case AE_IFIFO:
                        break;
                case AE_IFCHR:
                case AE_IFBLK:
                        return it_error_set(err, IT_EINPUT,
                                            "entry %s: device nodes are not accepted in a layer",
                                            q);
                default:
                        return it_error_set(err, IT_EINPUT, "entry %s: unsupported file type 0%o",
                                            q, (unsigned)type);
                }
        }
        r = open_parent(u, dir, q, true, &pfd, err);
        if (r < 0)
                return r;
        p = pfd >= 0 ? pfd : u->root;
        u->cur_path = path;
        if (strcmp(base, ".wh..wh..opq") == 0)
                return do_opaque(u, p, q, err);
        if (strncmp(base, ".wh.", 4) == 0) {
                _cleanup_free_ char *target =
                    *dir ? xasprintf("%s/%s", dir, base + 4) : xstrdup(base + 4);
                rec_touch(u, target, false, q);
                return do_whiteout(u, e, p, base + 4, q, err);
        }
        rec_touch(u, path, !hl && type == AE_IFDIR, q);
        if (hl)
                return do_hardlink(u, hl, p, base, q, err);
        switch (type) {
        case AE_IFDIR:
                return do_dir(u, e, p, base, path, q, err);
        case AE_IFLNK:
                return do_symlink(u, e, p, base, q, err);
        case AE_IFIFO:
                return do_fifo(u, e, p, base, q, err);
        default:
                return do_file(u, e, p, base, q, err);
        }
}

static int dirrec_cmp(const void *a, const void *b)
{
        const struct dirrec *x = a, *y = b;
        int c;

        if (x->depth != y->depth)
                return x->depth > y->depth ? -1 : 1;
        c = strcmp(x->path, y->path);
        if (c)
                return c;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Directory modes and times last, deepest first, so filling them neither needed write
 * permission the tar did not give nor disturbed their mtimes. For a path listed twice the last
 * record wins. */
static int finish_dirs(struct unpack *u, it_error *err)
{
        if (!u->ndirs)
                return 0;
        qsort(u->dirs, u->ndirs, sizeof(*u->dirs), dirrec_cmp);
        for (size_t i = 0; i < u->ndirs; i++) {
                struct dirrec *d = &u->dirs[i];
                _cleanup_close_ int fd = -1;

                if (i + 1 < u->ndirs && strcmp(d->path, u->dirs[i + 1].path) == 0)
                        continue;
                fd = xopenat2(u->root, *d->path ? d->path : ".",
                              O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, RESOLVE_STRICT);
                if (fd < 0 && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP))
                        continue; /* replaced or removed by a later entry */
                if (fd < 0 || fchmod(fd, d->mode) < 0 || futimens(fd, d->ts) < 0) {
                        _cleanup_free_ char *pq = it_quote(d->path, QUOTE_MAX);
                        return it_error_sys(err, IT_EIO, errno,
                                            "directory %s: cannot set mode or times", pq);
                }
        }
        return 0;
}

static int compare_digest(const char *what, const struct it_digest *want,
                          const struct it_digest *got, it_error *err)
{
        char w[IT_DIGEST_STR_MAX], g[IT_DIGEST_STR_MAX];

        if (digest_equal(want, got))
                return 0;
        digest_format(want, w);
        digest_format(got, g);
        return it_error_set(err, IT_EINPUT, "%s mismatch: expected %s, got %s", what, w, g);
}

static int run_tar(struct unpack *u, it_error *err);

static int run(struct unpack *u, it_error *err)
{
        struct archive_entry *e;
        int r;

        u->outer = archive_read_new();
        u->inner = archive_read_new();
        if (!u->outer || !u->inner)
                abort();
        archive_read_support_format_raw(u->outer);
        if (u->comp == COMP_GZIP)
                return run_tar(u, err);
        if (u->comp == COMP_ZSTD)
                r = archive_read_support_filter_zstd(u->outer);
        else
                r = ARCHIVE_OK;
        if (r != ARCHIVE_OK)
                return it_error_set(err, IT_EUNSUPPORTED, "libarchive cannot decompress %s: %s",
                                    u->o->media_type, archive_error_string(u->outer));
        r = archive_read_open(u->outer, u, NULL, outer_read, NULL);
        if (r == ARCHIVE_OK)
                r = archive_read_next_header(u->outer, &e);
        if (r == ARCHIVE_EOF)
                u->uin_eof = true;
        else if (r != ARCHIVE_OK && !u->cb_failed && u->st->compressed_bytes == 0)
                return it_error_set(err, IT_EINPUT, "layer blob is empty");
        else if (r != ARCHIVE_OK)
                return archive_fail(u, u->outer, err, "opening the layer");

        return run_tar(u, err);
}

/* The tar reader over the uncompressed stream (inner_read), and every entry applied. */
static int run_tar(struct unpack *u, it_error *err)
{
        struct archive_entry *e;
        int r;

        if (u->comp == COMP_GZIP) {
                size_t n = 0, got;
                do {
                        if (read_more(u, n, &got) < 0)
                                return archive_fail(u, u->outer, err, "opening the layer");
                        n += got;
                } while (got > 0 && n < 4);
                if (n == 0)
                        return it_error_set(err, IT_EINPUT, "layer blob is empty");
                if (check_magic(u, NULL, n) < 0)
                        return archive_fail(u, u->outer, err, "opening the layer");
                u->magic_checked = true;
                u->gz = xmalloc(sizeof *u->gz);
                u->gz_member_end = -1;
                isal_inflate_init(u->gz);
                u->gz->crc_flag = ISAL_GZIP;
                u->gz->next_in = u->cbuf;
                u->gz->avail_in = (uint32_t)n;
        }
        archive_read_support_format_tar(u->inner);
        if (archive_read_open(u->inner, u, NULL, inner_read, NULL) != ARCHIVE_OK)
                return archive_fail(u, u->inner, err, "reading the layer tar");
        for (;;) {
                r = archive_read_next_header(u->inner, &e);
                if (r == ARCHIVE_EOF)
                        break;
                /* Strict: a warning means libarchive skipped or repaired something. */
                if (r != ARCHIVE_OK)
                        return archive_fail(u, u->inner, err, "reading the layer tar");
                if ((r = rec_header(u, err)) < 0)
                        return r;
                r = unpack_entry(u, e, err);
                if (r < 0)
                        return r;
        }
        /* The diffID covers the whole stream, also what follows the end-of-archive blocks. */
        while (!u->uin_eof) {
                const void *b;

                if (inner_read(NULL, u, &b) < 0)
                        return archive_fail(u, u->outer, err, "reading the layer");
        }
        while (!u->cin_eof) {
                size_t got;

                if (read_more(u, 0, &got) < 0)
                        return archive_fail(u, u->outer, err, "reading the layer");
        }
        return finish_dirs(u, err);
}

int unpack_layer(int dir_fd, it_read_fn read_fn, void *ctx, const struct it_unpack_opts *o,
                 struct it_unpack_stats *st, it_error *err)
{
        struct it_unpack_stats dummy;
        struct unpack u = {.root = dir_fd, .o = o, .read_fn = read_fn, .read_ctx = ctx};
        enum it_digest_alg calg = IT_DIGEST_SHA256, ualg = IT_DIGEST_SHA256;
        size_t i;
        int r;

        u.st = st ? st : &dummy;
        memset(u.st, 0, sizeof(*u.st));
        if (!o->media_type)
                return it_error_set(err, IT_EINPUT, "layer media type missing");
        for (i = 0; i < sizeof(media_types) / sizeof(media_types[0]); i++)
                if (strcmp(media_types[i].type, o->media_type) == 0)
                        break;
        if (i == sizeof(media_types) / sizeof(media_types[0])) {
                _cleanup_free_ char *mq = it_quote(o->media_type, QUOTE_MAX);
                return it_error_set(err, IT_EUNSUPPORTED, "unsupported layer media type %s", mq);
        }
        u.comp = media_types[i].comp;
        if (!o->skip_digests) {
                if (!o->compressed || !o->diff_id)
                        return it_error_set(err, IT_EINPUT,
                                            "layer digest and diffID are both required");
                calg = o->compressed->alg;
                ualg = o->diff_id->alg;
        }
        if (o->limits.max_bytes <= 0 || o->limits.max_entries <= 0 || o->limits.max_name == 0 ||
            o->limits.max_ratio < 0 || o->limits.ratio_floor < 0)
                return it_error_set(err, IT_EINPUT, "invalid layer limits");

        u.cmd = EVP_MD_CTX_new();
        u.umd = EVP_MD_CTX_new();
        if (!u.cmd || !u.umd)
                abort();
        EVP_DigestInit_ex(u.cmd, digest_evp(calg), NULL);
        EVP_DigestInit_ex(u.umd, digest_evp(ualg), NULL);
        u.cbuf = xmalloc(CBUF_SIZE);
        u.ubuf = xmalloc(UBUF_SIZE);
        if (o->split_fd >= 0) {
                u.rec = xcalloc(1, sizeof(*u.rec));
                tarsplit_writer_new(o->split_fd, &u.rec->w);
                u.rec->fmd = EVP_MD_CTX_new();
                if (!u.rec->fmd)
                        abort();
        }

        /* libarchive converts pax (UTF-8) names to the locale's charset; under "C" a non-ASCII
         * name is mangled or refused. Names are bytes to us, as to podman: a UTF-8 ctype for
         * this thread only, for the duration of the unpack. */
        locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
        locale_t old = utf8 ? uselocale(utf8) : (locale_t)0;

        r = run(&u, err);
        if (utf8) {
                uselocale(old);
                freelocale(utf8);
        }
        if (r == 0) {
                digest_final(u.cmd, calg, &u.st->compressed);
                digest_final(u.umd, ualg, &u.st->diff_id);
                if (!o->skip_digests) {
                        r = compare_digest("layer digest", o->compressed, &u.st->compressed, err);
                        if (r == 0)
                                r = compare_digest("layer diffID", o->diff_id, &u.st->diff_id, err);
                }
        }
        if (r == 0 && u.rec) {
                r = rec_flush_to(u.rec, INT64_MAX, err);
                if (r == 0)
                        r = tarsplit_writer_finish(u.rec->w, (uint64_t)u.st->uncompressed_bytes,
                                                   &u.st->diff_id, err);
                if (r < 0)
                        it_error_wrap(err, "recording the layer's tar-split");
        }
        if (u.rec) {
                tarsplit_writer_free(u.rec->w);
                EVP_MD_CTX_free(u.rec->fmd);
                free(u.rec->buf);
                set_free(&u.rec->files);
                set_free(&u.rec->dirs);
                free(u.rec);
        }

        if (u.inner)
                archive_read_free(u.inner);
        if (u.outer)
                archive_read_free(u.outer);
        EVP_MD_CTX_free(u.cmd);
        EVP_MD_CTX_free(u.umd);
        free(u.gz);
        free(u.cbuf);
        free(u.ubuf);
        for (i = 0; i < u.ndirs; i++)
                free(u.dirs[i].path);
        free(u.dirs);
        it_error_clear(&u.cb_err);
        return r;
}
