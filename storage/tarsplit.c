/* tar-split records: see include/imgtrust/tarsplit.h for the format. */
#include "imgtrust/tarsplit.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/xalloc.h"

#define ZBUF_SIZE (64 * 1024)
#define FBUF_SIZE (256 * 1024)
#define MAGIC_LEN 8

/* ---- writer ---- */

struct it_tarsplit_writer {
        int fd;
        z_stream z;
        unsigned char *out;
        char *unrehashable;
        uint64_t files;
};

void tarsplit_writer_new(int fd, struct it_tarsplit_writer **out)
{
        struct it_tarsplit_writer *w = xcalloc(1, sizeof(*w));

        w->fd = fd;
        w->out = xmalloc(ZBUF_SIZE);
        /* Level 1: headers compress about as well as at 6, at a fraction of the time. */
        if (deflateInit2(&w->z, 1, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                abort();
        w->z.next_out = w->out;
        w->z.avail_out = ZBUF_SIZE;
        *out = w;
}

void tarsplit_writer_free(struct it_tarsplit_writer *w)
{
        if (!w)
                return;
        deflateEnd(&w->z);
        free(w->out);
        free(w->unrehashable);
        free(w);
}

static int zflush_out(struct it_tarsplit_writer *w, it_error *err)
{
        size_t n = ZBUF_SIZE - w->z.avail_out;

        if (n && it_write_all(w->fd, w->out, n) < 0)
                return it_error_sys(err, IT_EIO, errno, "tar-split: cannot write");
        w->z.next_out = w->out;
        w->z.avail_out = ZBUF_SIZE;
        return 0;
}

static int zput(struct it_tarsplit_writer *w, const void *p, size_t n, it_error *err)
{
        w->z.next_in = (unsigned char *)(uintptr_t)p;
        w->z.avail_in = (uInt)n;
        while (w->z.avail_in) {
                if (deflate(&w->z, Z_NO_FLUSH) == Z_STREAM_ERROR)
                        return it_error_set(err, IT_EIO, "tar-split: deflate failed");
                if (w->z.avail_out == 0 && zflush_out(w, err) < 0)
                        return IT_EIO;
        }
        return 0;
}

static void le(unsigned char *b, uint64_t v, int n)
{
        for (int i = 0; i < n; i++)
                b[i] = (unsigned char)(v >> (8 * i));
}

static int ensure_magic(struct it_tarsplit_writer *w, it_error *err)
{
        if (w->z.total_in)
                return 0;
        return zput(w, IT_TARSPLIT_MAGIC, MAGIC_LEN, err);
}

int tarsplit_write_bytes(struct it_tarsplit_writer *w, const void *p, size_t n, it_error *err)
{
        const unsigned char *b = p;
        int r;

        if (w->unrehashable)
                return 0;
        if ((r = ensure_magic(w, err)) < 0)
                return r;
        while (n) {
                size_t k = n > IT_TARSPLIT_CHUNK_MAX ? IT_TARSPLIT_CHUNK_MAX : n;
                unsigned char h[5] = {'V'};

                le(h + 1, k, 4);
                if ((r = zput(w, h, sizeof(h), err)) < 0 || (r = zput(w, b, k, err)) < 0)
                        return r;
                b += k;
                n -= k;
        }
        return 0;
}

int tarsplit_write_file(struct it_tarsplit_writer *w, const char *path, uint64_t size,
                        const unsigned char sha256[32], it_error *err)
{
        size_t plen = strlen(path);
        unsigned char h[11] = {'F'};
        int r;

        if (w->unrehashable)
                return 0;
        if (plen == 0 || plen > IT_TARSPLIT_PATH_MAX || size > IT_TARSPLIT_MAX_TOTAL)
                return it_error_set(err, IT_EINPUT, "tar-split: file name or size out of range");
        if ((r = ensure_magic(w, err)) < 0)
                return r;
        le(h + 1, size, 8);
        le(h + 9, plen, 2);
        if ((r = zput(w, h, sizeof(h), err)) < 0 || (r = zput(w, path, plen, err)) < 0 ||
            (r = zput(w, sha256, 32, err)) < 0)
                return r;
        w->files++;
        return 0;
}

void tarsplit_write_unrehashable(struct it_tarsplit_writer *w, const char *reason)
{
        if (!w->unrehashable)
                w->unrehashable = xstrndup(reason, IT_TARSPLIT_REASON_MAX);
}

bool tarsplit_writer_broken(const struct it_tarsplit_writer *w)
{
        return w->unrehashable != NULL;
}

int tarsplit_writer_finish(struct it_tarsplit_writer *w, uint64_t total,
                           const struct it_digest *diff_id, it_error *err)
{
        char d[IT_DIGEST_STR_MAX];
        unsigned char h[18] = {'E'};
        int r, zr;

        if ((r = ensure_magic(w, err)) < 0)
                return r;
        if (w->unrehashable) {
                size_t n = strlen(w->unrehashable);
                unsigned char x[3] = {'X'};

                /* Printable, as the reader demands. */
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char)w->unrehashable[i] < 0x20 ||
                            (unsigned char)w->unrehashable[i] >= 0x7f)
                                w->unrehashable[i] = '?';
                if (n == 0) {
                        free(w->unrehashable);
                        w->unrehashable = xstrdup("?");
                        n = 1;
                }
                le(x + 1, n, 2);
                if ((r = zput(w, x, sizeof(x), err)) < 0 ||
                    (r = zput(w, w->unrehashable, n, err)) < 0)
                        return r;
        }
        digest_format(diff_id, d);
        le(h + 1, total, 8);
        le(h + 9, w->files, 8);
        h[17] = (unsigned char)strlen(d);
        if ((r = zput(w, h, sizeof(h), err)) < 0 || (r = zput(w, d, strlen(d), err)) < 0)
                return r;
        w->z.next_in = NULL;
        w->z.avail_in = 0;
        do {
                zr = deflate(&w->z, Z_FINISH);
                if (zr == Z_STREAM_ERROR)
                        return it_error_set(err, IT_EIO, "tar-split: deflate failed");
                if ((r = zflush_out(w, err)) < 0)
                        return r;
        } while (zr != Z_STREAM_END);
        return 0;
}

/* ---- reader ---- */

struct it_tarsplit_reader {
        int fd;
        const unsigned char *mem;
        size_t memlen, memoff;
        char *what;
        z_stream z;
        bool zinit, zend, in_eof, started, ended, unrehashable;
        unsigned char *in, *buf;
        uint64_t off; /* decompressed offset */
        uint64_t total, files;
        char path[IT_TARSPLIT_PATH_MAX + 1];
        char reason[IT_TARSPLIT_REASON_MAX + 1];
};

static void reader_init(struct it_tarsplit_reader *r, const char *what)
{
        r->what = xstrdup(what);
        r->in = xmalloc(ZBUF_SIZE);
        r->buf = xmalloc(IT_TARSPLIT_CHUNK_MAX);
        if (inflateInit2(&r->z, 16 + 15) != Z_OK)
                abort();
        r->zinit = true;
}

void tarsplit_reader_new(int fd, const char *what, struct it_tarsplit_reader **out)
{
        struct it_tarsplit_reader *r = xcalloc(1, sizeof(*r));

        r->fd = fd;
        reader_init(r, what);
        *out = r;
}

void tarsplit_reader_new_mem(const void *data, size_t len, const char *what,
                             struct it_tarsplit_reader **out)
{
        struct it_tarsplit_reader *r = xcalloc(1, sizeof(*r));

        r->fd = -1;
        r->mem = data;
        r->memlen = len;
        reader_init(r, what);
        *out = r;
}

void tarsplit_reader_free(struct it_tarsplit_reader *r)
{
        if (!r)
                return;
        if (r->zinit)
                inflateEnd(&r->z);
        free(r->what);
        free(r->in);
        free(r->buf);
        free(r);
}

static int bad(struct it_tarsplit_reader *r, it_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(struct it_tarsplit_reader *r, it_error *err, const char *fmt, ...)
{
        va_list ap;
        _cleanup_free_ char *msg = NULL;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                abort();
        va_end(ap);
        return it_error_set(err, IT_EINPUT, "tar-split %s: %s (at offset %llu)", r->what, msg,
                            (unsigned long long)r->off);
}

static int fill_in(struct it_tarsplit_reader *r, it_error *err)
{
        size_t n;

        if (r->z.avail_in || r->in_eof)
                return 0;
        if (r->fd < 0) {
                n = r->memlen - r->memoff;
                if (n > ZBUF_SIZE)
                        n = ZBUF_SIZE;
                r->z.next_in = (unsigned char *)(uintptr_t)(r->mem + r->memoff);
                r->memoff += n;
        } else {
                ssize_t k;

                do
                        k = read(r->fd, r->in, ZBUF_SIZE);
                while (k < 0 && errno == EINTR);
                if (k < 0)
                        return it_error_sys(err, IT_EIO, errno, "tar-split %s: cannot read",
                                            r->what);
                n = (size_t)k;
                r->z.next_in = r->in;
        }
        r->z.avail_in = (uInt)n;
        if (n == 0)
                r->in_eof = true;
        return 0;
}

/* Exactly n decompressed bytes into dst; *got < n only at the end of the gzip member. */
static int inflate_some(struct it_tarsplit_reader *r, unsigned char *dst, size_t n, size_t *got,
                        it_error *err)
{
        int zr, rc;

        *got = 0;
        r->z.next_out = dst;
        r->z.avail_out = (uInt)n;
        while (r->z.avail_out && !r->zend) {
                if ((rc = fill_in(r, err)) < 0)
                        return rc;
                if (r->z.avail_in == 0 && r->in_eof)
                        return bad(r, err, "truncated (the gzip stream ends early)");
                zr = inflate(&r->z, Z_NO_FLUSH);
                if (zr == Z_STREAM_END) {
                        r->zend = true;
                } else if (zr == Z_NEED_DICT || zr == Z_DATA_ERROR || zr == Z_MEM_ERROR ||
                           zr == Z_STREAM_ERROR) {
                        return bad(r, err, "not a valid gzip stream: %s",
                                   r->z.msg ? r->z.msg : "inflate failed");
                }
        }
        *got = n - r->z.avail_out;
        r->off += *got;
        return 0;
}

static int read_exact(struct it_tarsplit_reader *r, void *dst, size_t n, it_error *err)
{
        size_t got;
        int rc = inflate_some(r, dst, n, &got, err);

        if (rc < 0)
                return rc;
        if (got < n)
                return bad(r, err, "truncated (no end record)");
        return 0;
}

static uint64_t get_le(const unsigned char *b, int n)
{
        uint64_t v = 0;

        for (int i = n - 1; i >= 0; i--)
                v = (v << 8) | b[i];
        return v;
}

static bool path_ok(const char *p, size_t n)
{
        size_t comp = 0;

        if (n == 0 || p[0] == '/' || p[n - 1] == '/')
                return false;
        for (size_t i = 0; i <= n; i++) {
                if (i == n || p[i] == '/') {
                        const char *c = p + i - comp;

                        if (comp == 0 || comp > 255 || (comp == 1 && c[0] == '.') ||
                            (comp == 2 && c[0] == '.' && c[1] == '.'))
                                return false;
                        comp = 0;
                } else if (p[i] == '\0') {
                        return false;
                } else {
                        comp++;
                }
        }
        return true;
}

/* After 'E': nothing more in the record, the gzip member complete, no bytes after it. */
static int check_end(struct it_tarsplit_reader *r, it_error *err)
{
        unsigned char b;
        size_t got;
        int rc;

        if ((rc = inflate_some(r, &b, 1, &got, err)) < 0)
                return rc;
        if (got)
                return bad(r, err, "data after the end record");
        if (!r->zend)
                return bad(r, err, "truncated (the gzip stream ends early)");
        if ((rc = fill_in(r, err)) < 0)
                return rc;
        if (r->z.avail_in)
                return bad(r, err, "bytes after the gzip stream");
        return 0;
}

int tarsplit_next(struct it_tarsplit_reader *r, struct it_tarsplit_rec *rec, it_error *err)
{
        unsigned char tag, h[17];
        uint64_t n;
        int rc;

        memset(rec, 0, sizeof(*rec));
        if (r->ended)
                return bad(r, err, "read past the end record");
        if (!r->started) {
                char m[MAGIC_LEN];
                size_t got;

                if ((rc = inflate_some(r, (unsigned char *)m, MAGIC_LEN, &got, err)) < 0)
                        return rc;
                if (got < MAGIC_LEN || memcmp(m, IT_TARSPLIT_MAGIC, MAGIC_LEN) != 0)
                        return bad(r, err, "not a tar-split record (no %s magic)",
                                   IT_TARSPLIT_MAGIC);
                r->started = true;
        }
        if ((rc = read_exact(r, &tag, 1, err)) < 0)
                return rc;
        if (r->unrehashable && tag != 'E') {
                r->off--;
                return bad(r, err, "a record after the cannot-re-hash reason");
        }
        switch (tag) {
        case 'V':
                if ((rc = read_exact(r, h, 4, err)) < 0)
                        return rc;
                n = get_le(h, 4);
                if (n == 0 || n > IT_TARSPLIT_CHUNK_MAX)
                        return bad(r, err, "byte record of %llu bytes (1..%d allowed)",
                                   (unsigned long long)n, IT_TARSPLIT_CHUNK_MAX);
                if (n > IT_TARSPLIT_MAX_TOTAL - r->total)
                        return bad(r, err, "stream longer than %llu bytes",
                                   (unsigned long long)IT_TARSPLIT_MAX_TOTAL);
                if ((rc = read_exact(r, r->buf, (size_t)n, err)) < 0)
                        return rc;
                r->total += n;
                rec->kind = IT_TARSPLIT_BYTES;
                rec->data = r->buf;
                rec->len = (size_t)n;
                return 0;
        case 'F': {
                uint64_t size;

                if ((rc = read_exact(r, h, 10, err)) < 0)
                        return rc;
                size = get_le(h, 8);
                n = get_le(h + 8, 2);
                if (n == 0 || n > IT_TARSPLIT_PATH_MAX)
                        return bad(r, err, "file name of %llu bytes (1..%d allowed)",
                                   (unsigned long long)n, IT_TARSPLIT_PATH_MAX);
                if (size > IT_TARSPLIT_MAX_TOTAL - r->total)
                        return bad(r, err, "stream longer than %llu bytes",
                                   (unsigned long long)IT_TARSPLIT_MAX_TOTAL);
                if (r->files >= IT_TARSPLIT_MAX_FILES)
                        return bad(r, err, "more than %llu files",
                                   (unsigned long long)IT_TARSPLIT_MAX_FILES);
                if ((rc = read_exact(r, r->path, (size_t)n, err)) < 0)
                        return rc;
                r->path[n] = '\0';
                if (!path_ok(r->path, (size_t)n)) {
                        _cleanup_free_ char *q = it_quoten(r->path, (size_t)n, 256);
                        return bad(r, err, "invalid file name %s", q);
                }
                if ((rc = read_exact(r, rec->sha256, 32, err)) < 0)
                        return rc;
                r->total += size;
                r->files++;
                rec->kind = IT_TARSPLIT_FILE;
                rec->path = r->path;
                rec->size = size;
                return 0;
        }
        case 'X':
                if ((rc = read_exact(r, h, 2, err)) < 0)
                        return rc;
                n = get_le(h, 2);
                if (n == 0 || n > IT_TARSPLIT_REASON_MAX)
                        return bad(r, err, "reason of %llu bytes (1..%d allowed)",
                                   (unsigned long long)n, IT_TARSPLIT_REASON_MAX);
                if ((rc = read_exact(r, r->reason, (size_t)n, err)) < 0)
                        return rc;
                r->reason[n] = '\0';
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char)r->reason[i] < 0x20 ||
                            (unsigned char)r->reason[i] >= 0x7f)
                                return bad(r, err, "reason is not printable");
                r->unrehashable = true;
                rec->kind = IT_TARSPLIT_UNREHASHABLE;
                rec->reason = r->reason;
                return 0;
        case 'E': {
                char d[IT_DIGEST_STR_MAX];
                _cleanup_error_ it_error de = IT_ERROR_INIT;

                if ((rc = read_exact(r, h, 17, err)) < 0)
                        return rc;
                n = h[16];
                if (n == 0 || n >= sizeof(d))
                        return bad(r, err, "diff ID of %llu bytes", (unsigned long long)n);
                if ((rc = read_exact(r, d, (size_t)n, err)) < 0)
                        return rc;
                d[n] = '\0';
                if (memchr(d, '\0', n) || digest_parse(d, &rec->diff_id, &de) < 0)
                        return bad(r, err, "invalid diff ID");
                rec->total = get_le(h, 8);
                rec->files = get_le(h + 8, 8);
                /* After 'X' the writer stopped recording: the counts cover more. */
                if (!r->unrehashable && (rec->total != r->total || rec->files != r->files))
                        return bad(r, err,
                                   "end record says %llu bytes in %llu files, the records hold "
                                   "%llu bytes in %llu files",
                                   (unsigned long long)rec->total, (unsigned long long)rec->files,
                                   (unsigned long long)r->total, (unsigned long long)r->files);
                if ((rc = check_end(r, err)) < 0)
                        return rc;
                r->ended = true;
                rec->kind = IT_TARSPLIT_END;
                return 0;
        }
        default:
                r->off--;
                return bad(r, err, "unknown record type 0x%02x", tag);
        }
}

/* ---- verify ---- */

static void raw_hex(const unsigned char raw[32], char out[65])
{
        static const char hex[] = "0123456789abcdef";

        for (int i = 0; i < 32; i++) {
                out[2 * i] = hex[raw[i] >> 4];
                out[2 * i + 1] = hex[raw[i] & 15];
        }
        out[64] = '\0';
}

static int openat2_in(int dirfd, const char *path, uint64_t flags)
{
        return it_openat_beneath(dirfd, path, (int)flags | O_NOFOLLOW, 0);
}

static const char *type_name(mode_t m)
{
        if (S_ISLNK(m))
                return "a symlink now, not a regular file (not followed)";
        if (S_ISDIR(m))
                return "a directory now, not a regular file";
        if (S_ISCHR(m))
                return "a character device now, not a regular file";
        if (S_ISBLK(m))
                return "a block device now, not a regular file";
        if (S_ISFIFO(m))
                return "a FIFO now, not a regular file";
        if (S_ISSOCK(m))
                return "a socket now, not a regular file";
        return "no longer a regular file";
}

struct verify {
        int diff_fd;
        const char *label;
        char dstr[IT_DIGEST_STR_MAX];
        EVP_MD_CTX *smd, *fmd;
        unsigned char *buf;
        struct it_strv *problems;
};

static void file_problem(struct verify *v, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void file_problem(struct verify *v, const char *path, const char *fmt, ...)
{
        struct it_buf b = IT_BUF_INIT;
        bool plain = true;
        va_list ap;

        for (const char *p = path; *p; p++)
                plain = plain && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f;
        it_buf_addf(&b, "%s: ", v->label);
        if (plain)
                it_buf_adds(&b, path);
        else
                it_buf_add_quoted(&b, path, strlen(path), 256);
        it_buf_adds(&b, ": ");
        va_start(ap, fmt);
        it_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        it_buf_addf(&b, ", the layer no longer matches its diff ID %s", v->dstr);
        it_strv_push(v->problems, it_buf_str(&b));
        it_buf_free(&b);
}

/* 0: the file is as recorded (its bytes hashed into the stream); 1: a problem was added. */
static int verify_file(struct verify *v, const struct it_tarsplit_rec *rec, it_error *err)
{
        _cleanup_close_ int pfd = -1, fd = -1;
        struct stat ps, sb;
        uint64_t total = 0;
        unsigned char got[EVP_MAX_MD_SIZE];
        unsigned int glen = 0;

        pfd = openat2_in(v->diff_fd, rec->path, O_PATH);
        if (pfd < 0) {
                int e = errno;

                if (e == ENOENT)
                        file_problem(v, rec->path, "missing");
                else if (e == ELOOP)
                        file_problem(v, rec->path,
                                     "a parent directory is a symlink now (not followed)");
                else if (e == ENOTDIR)
                        file_problem(v, rec->path, "a parent is no longer a directory");
                else if (e == EACCES)
                        return it_error_sys(err, IT_EIO, e, "%s: diff/%s: cannot open", v->label,
                                            rec->path);
                else
                        file_problem(v, rec->path, "cannot open: %s", strerror(e));
                return 1;
        }
        if (fstat(pfd, &ps) < 0)
                return it_error_sys(err, IT_EIO, errno, "%s: diff/%s: cannot stat", v->label,
                                    rec->path);
        if (!S_ISREG(ps.st_mode)) {
                file_problem(v, rec->path, "is %s", type_name(ps.st_mode));
                return 1;
        }
        if ((uint64_t)ps.st_size != rec->size) {
                file_problem(v, rec->path, "size changed (%lld bytes, recorded %llu)",
                             (long long)ps.st_size, (unsigned long long)rec->size);
                return 1;
        }
        /* Opened for reading only once known to be a regular file (no device is ever opened);
         * the same inode, or it was swapped meanwhile. */
        fd = openat2_in(v->diff_fd, rec->path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
        if (fd < 0 && errno == EACCES)
                return it_error_sys(err, IT_EIO, errno,
                                    "%s: diff/%s: cannot read (files of subordinate IDs are read "
                                    "inside the store's user namespace)",
                                    v->label, rec->path);
        if (fd < 0 || fstat(fd, &sb) < 0 || sb.st_dev != ps.st_dev || sb.st_ino != ps.st_ino) {
                file_problem(v, rec->path, "changed while being checked");
                return 1;
        }
        EVP_DigestInit_ex(v->fmd, EVP_sha256(), NULL);
        for (;;) {
                ssize_t n = read(fd, v->buf, FBUF_SIZE);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return it_error_sys(err, IT_EIO, errno, "%s: diff/%s: cannot read",
                                            v->label, rec->path);
                if (n == 0)
                        break;
                total += (uint64_t)n;
                if (total > rec->size)
                        break;
                EVP_DigestUpdate(v->fmd, v->buf, (size_t)n);
                EVP_DigestUpdate(v->smd, v->buf, (size_t)n);
        }
        if (total != rec->size) {
                file_problem(v, rec->path, "size changed while being read (recorded %llu bytes)",
                             (unsigned long long)rec->size);
                return 1;
        }
        EVP_DigestFinal_ex(v->fmd, got, &glen);
        if (glen != 32 || memcmp(got, rec->sha256, 32) != 0) {
                char now[65], then[65];

                raw_hex(got, now);
                raw_hex(rec->sha256, then);
                file_problem(v, rec->path, "content changed (sha256:%s, recorded sha256:%s)", now,
                             then);
                return 1;
        }
        return 0;
}

int tarsplit_verify(int split_fd, int diff_fd, const char *label, const struct it_digest *diff_id,
                    struct it_strv *problems, it_error *err)
{
        struct it_tarsplit_reader *r = NULL;
        struct verify v = {.diff_fd = diff_fd, .label = label, .problems = problems};
        struct it_tarsplit_rec rec;
        _cleanup_error_ it_error rerr = IT_ERROR_INIT;
        int rc = 0;

        digest_format(diff_id, v.dstr);
        /* The whole record first (gzip CRC included): damage to it must not pass for damage to
         * a file. It is small next to the files' data. */
        if (lseek(split_fd, 0, SEEK_SET) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s: tar-split file: cannot seek", label);
        tarsplit_reader_new(split_fd, "file", &r);
        _cleanup_free_ char *reason = NULL;
        do {
                rc = tarsplit_next(r, &rec, &rerr);
                if (rc == 0 && rec.kind == IT_TARSPLIT_UNREHASHABLE)
                        reason = xstrdup(rec.reason);
        } while (rc == 0 && rec.kind != IT_TARSPLIT_END);
        tarsplit_reader_free(r);
        r = NULL;
        if (rc == 0 && reason) {
                it_strv_pushf(problems, "%s: cannot re-hash: %s", label, reason);
                return 0;
        }
        if (rc == IT_EINPUT) {
                _cleanup_free_ char *m = it_error_format(&rerr);
                it_strv_pushf(problems, "%s: %s", label, m);
                return 0;
        }
        if (rc < 0) {
                it_error_move(err, &rerr);
                return it_error_wrap(err, "%s", label);
        }
        if (lseek(split_fd, 0, SEEK_SET) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s: tar-split file: cannot seek", label);
        tarsplit_reader_new(split_fd, "file", &r);
        v.smd = EVP_MD_CTX_new();
        v.fmd = EVP_MD_CTX_new();
        if (!v.smd || !v.fmd)
                abort();
        EVP_DigestInit_ex(v.smd, digest_evp(diff_id->alg), NULL);
        v.buf = xmalloc(FBUF_SIZE);
        for (;;) {
                rc = tarsplit_next(r, &rec, &rerr);
                if (rc == IT_EINPUT) {
                        _cleanup_free_ char *m = it_error_format(&rerr);
                        it_strv_pushf(problems, "%s: %s", label, m);
                        rc = 0;
                        break;
                }
                if (rc < 0) {
                        it_error_move(err, &rerr);
                        it_error_wrap(err, "%s", label);
                        break;
                }
                if (rec.kind == IT_TARSPLIT_BYTES) {
                        EVP_DigestUpdate(v.smd, rec.data, rec.len);
                } else if (rec.kind == IT_TARSPLIT_FILE) {
                        rc = verify_file(&v, &rec, err);
                        if (rc != 0) {
                                rc = rc > 0 ? 0 : rc;
                                break;
                        }
                } else if (rec.kind == IT_TARSPLIT_UNREHASHABLE) {
                        it_strv_pushf(problems, "%s: cannot re-hash: %s", label, rec.reason);
                        break;
                } else {
                        struct it_digest got;
                        char g[IT_DIGEST_STR_MAX];

                        if (!digest_equal(&rec.diff_id, diff_id)) {
                                digest_format(&rec.diff_id, g);
                                it_strv_pushf(problems,
                                              "%s: the tar-split record is of %s, not of the "
                                              "layer's diff ID %s",
                                              label, g, v.dstr);
                                break;
                        }
                        digest_final(v.smd, diff_id->alg, &got);
                        if (!digest_equal(&got, diff_id)) {
                                digest_format(&got, g);
                                it_strv_pushf(problems,
                                              "%s: the reassembled stream is %s, not its diff ID "
                                              "%s (the tar-split record is damaged)",
                                              label, g, v.dstr);
                        }
                        break;
                }
        }
        tarsplit_reader_free(r);
        EVP_MD_CTX_free(v.smd);
        EVP_MD_CTX_free(v.fmd);
        free(v.buf);
        return rc;
}
