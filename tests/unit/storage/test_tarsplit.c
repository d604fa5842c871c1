/* tar-split (imgtrust/tarsplit.h): the stream rebuilt from the record and the unpacked files is
 * byte-identical to the original for tars of every kind (GNU tar gnu/pax/ustar, libarchive-made
 * pax/gnutar/ustar/v7 as bsdtar writes them, hand-made corner cases), in three compressions and
 * with tiny reads; store_fsck_content() is clean after a real unpack + commit and names the damage
 * (changed, truncated, deleted, symlinked file; corrupt or missing record). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/fs.h"
#include "imgtrust/store.h"
#include "imgtrust/strv.h"
#include "imgtrust/tarsplit.h"
#include "imgtrust/unpack.h"
#include "imgtrust/xalloc.h"

#define MT_TAR "application/vnd.oci.image.layer.v1.tar"
#define MT_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"

struct fx {
        char *base;
        int n; /* layer dirs made */
};

static int setup(void **state)
{
        struct fx *f = xcalloc(1, sizeof(*f));
        char tmpl[] = "/tmp/it-tarsplit-XXXXXX";

        assert_non_null(mkdtemp(tmpl));
        f->base = xstrdup(tmpl);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *cmd =
            xasprintf("chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", f->base, f->base);

        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", f->base);
        free(f->base);
        free(f);
        return 0;
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
        va_list ap;
        char *cmd;

        va_start(ap, fmt);
        assert_true(vasprintf(&cmd, fmt, ap) >= 0);
        va_end(ap);
        if (system(cmd) != 0)
                fail_msg("command failed: %s", cmd);
        free(cmd);
}

static void read_whole(const char *path, unsigned char **data, size_t *len)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;

        if (it_file_read(path, (size_t)1 << 30, (char **)data, len, &err) < 0)
                fail_msg("%s", err.msg);
}

static void write_file(const char *path, size_t size, unsigned seed)
{
        FILE *fp = fopen(path, "w");

        assert_non_null(fp);
        for (size_t i = 0; i < size; i++)
                fputc((int)((i * 31 + seed * 7 + (i >> 9)) & 0xff), fp);
        fclose(fp);
}

/* The tree every generated tar is made of. */
static char *make_tree(struct fx *f)
{
        char *src = xasprintf("%s/src", f->base);
        char longname[200];
        static const size_t sizes[] = {0, 1, 100, 511, 512, 513, 1023, 1024, 1025, 70000, 300000};

        memset(longname, 'n', 150);
        longname[150] = '\0';
        sh("mkdir -p '%s/dir/sub' '%s/deep/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/"
           "0123456789/0123456789/0123456789/0123456789/0123456789'",
           src, src);
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                _cleanup_free_ char *p = xasprintf("%s/dir/f%zu", src, sizes[i]);
                write_file(p, sizes[i], (unsigned)i);
        }
        _cleanup_free_ char *lp = xasprintf("%s/dir/sub/%s", src, longname);
        write_file(lp, 777, 3);
        _cleanup_free_ char *dp = xasprintf("%s/deep/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/"
                                            "w/x/y/z/0123456789/0123456789/0123456789/0123456789/"
                                            "0123456789/file-in-a-deep-directory",
                                            src);
        write_file(dp, 1500, 4);
        _cleanup_free_ char *x = xasprintf("%s/dir/f513", src);
        assert_int_equal(setxattr(x, "user.test", "value", 5, 0), 0);
        assert_int_equal(setxattr(x, "user.long", longname, 150, 0), 0);
        sh("cd '%s' && ln dir/f512 dir/hard512 && ln dir/f0 hard0 && ln -s dir/f1 sym && "
           "ln -s %s symlong && mkfifo fifo && touch -d @1000000000 dir/f100 && chmod 0600 dir/f1",
           src, longname);
        return src;
}

/* As bsdtar writes them: libarchive's disk reader and a tar writer of the given format. */
static void lib_tar(const char *src, const char *format, const char *out)
{
        struct archive *d = archive_read_disk_new(), *w = archive_write_new();
        struct archive_entry_linkresolver *lr = archive_entry_linkresolver_new();
        struct archive_entry *e, *sparse;
        _cleanup_free_ char *cwd = getcwd(NULL, 0);

        assert_int_equal(chdir(src), 0);
        assert_int_equal(archive_write_set_format_by_name(w, format), ARCHIVE_OK);
        archive_entry_linkresolver_set_strategy(lr, archive_format(w));
        assert_int_equal(archive_write_open_filename(w, out), ARCHIVE_OK);
        archive_read_disk_set_standard_lookup(d);
        assert_int_equal(archive_read_disk_open(d, "."), ARCHIVE_OK);
        for (;;) {
                e = archive_entry_new();
                int r = archive_read_next_header2(d, e);
                if (r == ARCHIVE_EOF) {
                        archive_entry_free(e);
                        break;
                }
                assert_int_equal(r, ARCHIVE_OK);
                archive_read_disk_descend(d);
                sparse = NULL;
                archive_entry_linkify(lr, &e, &sparse);
                if (e) {
                        assert_true(archive_write_header(w, e) >= ARCHIVE_WARN);
                        if (archive_entry_size(e) > 0) {
                                char buf[8192];
                                int fd = open(archive_entry_sourcepath(e), O_RDONLY);
                                ssize_t n;

                                assert_true(fd >= 0);
                                while ((n = read(fd, buf, sizeof(buf))) > 0)
                                        assert_int_equal(archive_write_data(w, buf, (size_t)n), n);
                                close(fd);
                        }
                        archive_entry_free(e);
                }
        }
        assert_int_equal(archive_write_close(w), ARCHIVE_OK);
        archive_write_free(w);
        archive_read_free(d);
        archive_entry_linkresolver_free(lr);
        assert_int_equal(chdir(cwd), 0);
}

/* Compress with libarchive (raw format: only the filter). */
static unsigned char *compress_blob(const char *filter, const unsigned char *in, size_t len,
                                    size_t *out_len)
{
        struct archive *a = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        size_t cap = len + len / 2 + 65536, used = 0;
        unsigned char *out = xmalloc(cap);

        assert_int_equal(archive_write_set_format_raw(a), ARCHIVE_OK);
        assert_int_equal(archive_write_add_filter_by_name(a, filter), ARCHIVE_OK);
        assert_int_equal(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK);
        assert_int_equal(archive_write_open_memory(a, out, cap, &used), ARCHIVE_OK);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_pathname(e, "data");
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        assert_int_equal(archive_write_data(a, in, len), (la_ssize_t)len);
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        archive_entry_free(e);
        *out_len = used;
        return out;
}

struct memsrc {
        const unsigned char *data;
        size_t len, off, chunk;
        unsigned rnd;
};

static int mem_read(void *ctx, void *buf, size_t cap, size_t *got, it_error *err)
{
        struct memsrc *m = ctx;
        size_t n = m->len - m->off;

        (void)err;
        if (n > cap)
                n = cap;
        if (m->chunk) {
                /* Varying small reads: every split point of the read-ahead is exercised. */
                m->rnd = m->rnd * 1103515245 + 12345;
                size_t c = 1 + (m->rnd >> 8) % m->chunk;
                if (n > c)
                        n = c;
        }
        memcpy(buf, m->data + m->off, n);
        m->off += n;
        *got = n;
        return 0;
}

/* Unpack blob into a fresh dir with a tar-split recorded into a fresh file; returns the code. */
static int unpack_split(struct fx *f, const char *mt, const void *blob, size_t blob_len,
                        const struct it_digest *diff_id, size_t chunk, int *dir_fd, int *split_fd,
                        it_error *err)
{
        _cleanup_free_ char *dir = xasprintf("%s/layer%d", f->base, f->n);
        _cleanup_free_ char *split = xasprintf("%s/split%d", f->base, f->n++);
        struct memsrc m = {.data = blob, .len = blob_len, .chunk = chunk, .rnd = 7};
        struct it_unpack_opts o;
        struct it_digest cd;

        digest_compute(IT_DIGEST_SHA256, blob, blob_len, &cd);
        assert_int_equal(mkdir(dir, 0755), 0);
        *dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        *split_fd = open(split, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(*dir_fd >= 0 && *split_fd >= 0);
        unpack_opts_init(&o, mt);
        assert_int_equal(o.split_fd, -1);
        o.split_fd = *split_fd;
        o.compressed = &cd;
        o.diff_id = diff_id;
        o.chown = true;
        return unpack_layer(*dir_fd, mem_read, &m, &o, NULL, err);
}

/* The stream as the record and the files give it back. */
static void reassemble(int split_fd, int dir_fd, struct it_buf *out, char *reason, size_t rcap)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_tarsplit_reader *r;
        struct it_tarsplit_rec rec;

        *reason = '\0';
        /* Records only first: a layer that cannot be re-hashed is not rebuilt. */
        assert_int_equal(lseek(split_fd, 0, SEEK_SET), 0);
        tarsplit_reader_new(split_fd, "test", &r);
        do {
                if (tarsplit_next(r, &rec, &err) < 0)
                        fail_msg("%s", err.msg);
                if (rec.kind == IT_TARSPLIT_UNREHASHABLE)
                        snprintf(reason, rcap, "%s", rec.reason);
        } while (rec.kind != IT_TARSPLIT_END);
        tarsplit_reader_free(r);
        if (*reason)
                return;
        assert_int_equal(lseek(split_fd, 0, SEEK_SET), 0);
        tarsplit_reader_new(split_fd, "test", &r);
        for (;;) {
                if (tarsplit_next(r, &rec, &err) < 0)
                        fail_msg("%s", err.msg);
                if (rec.kind == IT_TARSPLIT_END)
                        break;
                if (rec.kind == IT_TARSPLIT_UNREHASHABLE) {
                        snprintf(reason, rcap, "%s", rec.reason);
                        continue;
                }
                if (rec.kind == IT_TARSPLIT_BYTES) {
                        it_buf_add(out, rec.data, rec.len);
                        continue;
                }
                int fd = openat(dir_fd, rec.path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                char buf[65536];
                ssize_t n;
                size_t total = 0;

                if (fd < 0)
                        fail_msg("%s: %s", rec.path, strerror(errno));
                while ((n = read(fd, buf, sizeof(buf))) > 0) {
                        it_buf_add(out, buf, (size_t)n);
                        total += (size_t)n;
                }
                close(fd);
                assert_int_equal(total, rec.size);
        }
        tarsplit_reader_free(r);
}

/* Unpack tar (as is, gzip, zstd; whole and in tiny reads) and check that the record gives back
 * exactly tar and that verification is clean. */
static void roundtrip(struct fx *f, const void *tarv, size_t len, const char *name)
{
        static const struct {
                const char *filter, *mt;
        } comp[] = {{NULL, MT_TAR}, {"gzip", MT_GZIP}, {"zstd", MT_ZSTD}};
        const unsigned char *tar = tarv;
        struct it_digest d;

        digest_compute(IT_DIGEST_SHA256, tar, len, &d);
        for (size_t c = 0; c < 3; c++) {
                for (size_t chunk = 0; chunk <= 700; chunk += 700) {
                        _cleanup_error_ it_error err = IT_ERROR_INIT;
                        _cleanup_buf_ struct it_buf back = IT_BUF_INIT;
                        _cleanup_strv_ struct it_strv problems = IT_STRV_INIT;
                        _cleanup_close_ int dfd = -1, sfd = -1;
                        _cleanup_free_ unsigned char *blob = NULL;
                        size_t blen = len;
                        char reason[1100];
                        struct it_digest got;

                        if (comp[c].filter)
                                blob = compress_blob(comp[c].filter, tar, len, &blen);
                        if (unpack_split(f, comp[c].mt, blob ? blob : tar, blen, &d, chunk, &dfd,
                                         &sfd, &err) != 0)
                                fail_msg("%s %s: %s", name, comp[c].mt, err.msg);
                        reassemble(sfd, dfd, &back, reason, sizeof(reason));
                        if (*reason)
                                fail_msg("%s: unexpectedly not re-hashable: %s", name, reason);
                        digest_compute(IT_DIGEST_SHA256, back.data, back.len, &got);
                        if (back.len != len || memcmp(back.data, tar, len) != 0)
                                fail_msg("%s %s chunk %zu: reassembled %zu bytes differ from the "
                                         "%zu of the tar",
                                         name, comp[c].mt, chunk, back.len, len);
                        assert_true(digest_equal(&got, &d));
                        assert_int_equal(lseek(sfd, 0, SEEK_SET), 0);
                        assert_int_equal(tarsplit_verify(sfd, dfd, "layer x", &d, &problems, &err),
                                         0);
                        if (problems.n)
                                fail_msg("%s: %s", name, problems.v[0]);
                }
        }
}

static void roundtrip_file(struct fx *f, const char *path)
{
        _cleanup_free_ unsigned char *tar = NULL;
        size_t len;

        read_whole(path, &tar, &len);
        roundtrip(f, tar, len, path);
}

static void test_gnu_tar(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *src = make_tree(f);
        static const char *const fmts[] = {"gnu", "oldgnu", "pax", "posix"};

        for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
                _cleanup_free_ char *out = xasprintf("%s/gnu-%s.tar", f->base, fmts[i]);
                sh("tar --format=%s --xattrs --xattrs-include='user.*' -C '%s' -cf '%s' .", fmts[i],
                   src, out);
                roundtrip_file(f, out);
        }
        /* ustar: names that fit, and GNU tar's default blocking factor (10240-byte records, so
         * plenty of zeros after the two end blocks). */
        _cleanup_free_ char *out = xasprintf("%s/gnu-ustar.tar", f->base);
        sh("tar --format=ustar -C '%s' -cf '%s' dir/f0 dir/f1 dir/f511 dir/f512 dir/f513 "
           "dir/hard512 sym fifo",
           src, out);
        roundtrip_file(f, out);
}

static void test_libarchive_tar(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *src = make_tree(f);
        static const char *const fmts[] = {"pax", "paxr", "gnutar", "ustar", "v7"};

        for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
                _cleanup_free_ char *out = xasprintf("%s/lib-%s.tar", f->base, fmts[i]);

                /* ustar and v7 cannot hold the long names: a tree without them. */
                if (i >= 3) {
                        _cleanup_free_ char *small = xasprintf("%s/small", f->base);
                        sh("rm -rf '%s' && mkdir '%s' && cp -a '%s/dir' '%s/' && ln -s dir/f1 "
                           "'%s/sym' && ln '%s/dir/f511' '%s/h511' && rm -f '%s'/dir/sub/n*",
                           small, small, src, small, small, small, small, small);
                        lib_tar(small, fmts[i], out);
                } else {
                        lib_tar(src, fmts[i], out);
                }
                roundtrip_file(f, out);
        }
}

/* ---- hand-made tars ---- */

/* n - 1 octal digits and a NUL, as tar headers have them (the value must fit). */
static void octal(char *dst, size_t n, uint64_t v)
{
        dst[n - 1] = '\0';
        for (size_t i = n - 1; i > 0; i--) {
                dst[i - 1] = (char)('0' + (v & 7));
                v >>= 3;
        }
}

static void header(struct it_buf *b, const char *name, char type, uint64_t size, const char *link)
{
        unsigned char h[512] = {0};
        unsigned sum = 0;

        snprintf((char *)h, 100, "%s", name);
        octal((char *)h + 100, 8, type == '5' ? 0755 : 0644);
        octal((char *)h + 108, 8, 0);
        octal((char *)h + 116, 8, 0);
        octal((char *)h + 124, 12, size);
        octal((char *)h + 136, 12, 1700000000);
        memset(h + 148, ' ', 8);
        h[156] = (unsigned char)type;
        if (link)
                snprintf((char *)h + 157, 100, "%s", link);
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        for (int i = 0; i < 512; i++)
                sum += h[i];
        snprintf((char *)h + 148, 8, "%06o", sum);
        it_buf_add(b, h, 512);
}

static void data(struct it_buf *b, const char *d, size_t n)
{
        static const unsigned char zero[512];

        it_buf_add(b, d, n);
        if (n % 512)
                it_buf_add(b, zero, 512 - n % 512);
}

static void pax(struct it_buf *b, const char *recs)
{
        header(b, "PaxHeaders/x", 'x', strlen(recs), NULL);
        data(b, recs, strlen(recs));
}

static void end(struct it_buf *b, size_t blocks)
{
        static const unsigned char zero[512];

        for (size_t i = 0; i < blocks; i++)
                it_buf_add(b, zero, 512);
}

static void test_handmade(void **state)
{
        struct fx *f = *state;

        {
                /* pax hardlink carrying data (POSIX.1-2001 allows it): the data is kept
                 * verbatim, the unpacker links. */
                _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
                header(&b, "a", '0', 4, NULL);
                data(&b, "AAAA", 4);
                pax(&b, "14 path=hlink\n");
                header(&b, "hlink", '1', 5, "a");
                data(&b, "hello", 5);
                header(&b, "after", '0', 3, NULL);
                data(&b, "zzz", 3);
                end(&b, 2);
                roundtrip(f, b.data, b.len, "pax hardlink with data");
        }
        {
                /* ustar hardlink with a size but no body (libarchive's heuristic: size 0). */
                _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
                header(&b, "a", '0', 600, NULL);
                char big[600];
                memset(big, 'q', sizeof(big));
                data(&b, big, sizeof(big));
                header(&b, "h", '1', 600, "a");
                header(&b, "b", '0', 0, NULL);
                end(&b, 2);
                roundtrip(f, b.data, b.len, "ustar hardlink with a size and no data");
        }
        {
                /* Whiteout and opaque entries with data; trailing zeros and garbage after the
                 * end; a directory entry repeated. */
                _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
                header(&b, "d/", '5', 0, NULL);
                header(&b, "d/f", '0', 1, NULL);
                data(&b, "1", 1);
                header(&b, ".wh.gone", '0', 3, NULL);
                data(&b, "abc", 3);
                header(&b, "o/.wh..wh..opq", '0', 2, NULL);
                data(&b, "xy", 2);
                header(&b, "d/", '5', 0, NULL);
                header(&b, "empty", '0', 0, NULL);
                end(&b, 20);
                it_buf_adds(&b, "trailing garbage that is not a tar");
                roundtrip(f, b.data, b.len, "whiteouts with data");
        }
        {
                /* GNU long name and long link records; one end block only; a tar with no end. */
                _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
                char ln[300];
                memset(ln, 'L', 299);
                ln[150] = '/';
                ln[299] = '\0';
                header(&b, "././@LongLink", 'L', 300, NULL);
                data(&b, ln, 300);
                header(&b, "trunc", '0', 2, NULL);
                data(&b, "ab", 2);
                header(&b, "././@LongLink", 'K', 300, NULL);
                data(&b, ln, 300);
                header(&b, "s", '2', 0, "x");
                end(&b, 1);
                roundtrip(f, b.data, b.len, "GNU long names");
        }
        {
                _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
                header(&b, "only", '0', 513, NULL);
                char d513[513];
                memset(d513, 'e', sizeof(d513));
                data(&b, d513, sizeof(d513));
                roundtrip(f, b.data, b.len, "no end blocks");
        }
        {
                _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
                end(&b, 2);
                roundtrip(f, b.data, b.len, "empty tar");
        }
}

/* A file overwritten (or removed) by a later entry: unpacked, marked as not re-hashable. */
static void expect_unrehashable(struct fx *f, struct it_buf *b, const char *want)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_buf_ struct it_buf back = IT_BUF_INIT;
        _cleanup_strv_ struct it_strv problems = IT_STRV_INIT;
        _cleanup_close_ int dfd = -1, sfd = -1;
        struct it_digest d;
        char reason[1100];

        end(b, 2);
        digest_compute(IT_DIGEST_SHA256, b->data, b->len, &d);
        if (unpack_split(f, MT_TAR, b->data, b->len, &d, 0, &dfd, &sfd, &err) != 0)
                fail_msg("%s", err.msg);
        reassemble(sfd, dfd, &back, reason, sizeof(reason));
        assert_string_equal(reason, want);
        assert_int_equal(lseek(sfd, 0, SEEK_SET), 0);
        assert_int_equal(tarsplit_verify(sfd, dfd, "layer x", &d, &problems, &err), 0);
        assert_int_equal(problems.n, 1);
        _cleanup_free_ char *line = xasprintf("layer x: cannot re-hash: %s", want);
        assert_string_equal(problems.v[0], line);
}

static void test_overwritten(void **state)
{
        struct fx *f = *state;
        {
                _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
                header(&b, "etc/passwd", '0', 3, NULL);
                data(&b, "one", 3);
                header(&b, "etc/passwd", '0', 3, NULL);
                data(&b, "two", 3);
                expect_unrehashable(f, &b,
                                    "entry \"etc/passwd\" replaces \"etc/passwd\", which holds a "
                                    "regular file recorded earlier in the layer");
        }
        {
                _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
                header(&b, "d/sub/f", '0', 3, NULL);
                data(&b, "one", 3);
                header(&b, "d", '2', 0, "elsewhere");
                expect_unrehashable(f, &b,
                                    "entry \"d\" replaces \"d\", which holds a regular file "
                                    "recorded earlier in the layer");
        }
        {
                _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
                header(&b, "d/f", '0', 3, NULL);
                data(&b, "one", 3);
                header(&b, "d/.wh.f", '0', 0, NULL);
                expect_unrehashable(f, &b,
                                    "entry \"d/.wh.f\" replaces \"d/f\", which holds a regular "
                                    "file recorded earlier in the layer");
        }
        {
                /* A directory entry over a directory keeps it: still re-hashable. */
                _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
                header(&b, "d/f", '0', 3, NULL);
                data(&b, "one", 3);
                header(&b, "d/", '5', 0, NULL);
                header(&b, "g", '1', 0, "d/f");
                end(&b, 2);
                roundtrip(f, b.data, b.len, "dir over dir");
        }
}

/* ---- the strict reader ---- */

static unsigned char *gz(const void *raw, size_t n, size_t *out_len)
{
        z_stream z = {0};
        size_t cap = n + 1024;
        unsigned char *out = xmalloc(cap);

        assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = (unsigned char *)(uintptr_t)raw;
        z.avail_in = (uInt)n;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        *out_len = cap - z.avail_out;
        deflateEnd(&z);
        return out;
}

static void expect_reader_error(const void *raw, size_t n, const char *want)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        size_t glen;
        _cleanup_free_ unsigned char *g = gz(raw, n, &glen);
        struct it_tarsplit_reader *r;
        struct it_tarsplit_rec rec;
        int rc;

        tarsplit_reader_new_mem(g, glen, "t", &r);
        do
                rc = tarsplit_next(r, &rec, &err);
        while (rc == 0 && rec.kind != IT_TARSPLIT_END);
        tarsplit_reader_free(r);
        assert_int_equal(rc, IT_EINPUT);
        assert_string_equal(err.msg, want);
}

#define D64 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void test_reader_strict(void **state)
{
        (void)state;
        static const unsigned char end_ok[] = "ITSPLIT1E\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x47" D64;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_tarsplit_reader *r;
        struct it_tarsplit_rec rec;
        size_t glen;
        _cleanup_free_ unsigned char *g = gz(end_ok, sizeof(end_ok) - 1, &glen);

        tarsplit_reader_new_mem(g, glen, "t", &r);
        assert_int_equal(tarsplit_next(r, &rec, &err), 0);
        assert_int_equal(rec.kind, IT_TARSPLIT_END);
        assert_int_equal(rec.total, 0);
        tarsplit_reader_free(r);

        expect_reader_error(
            "ITSPLIT2", 8, "tar-split t: not a tar-split record (no ITSPLIT1 magic) (at offset 8)");
        expect_reader_error("ITSPLIT1", 8, "tar-split t: truncated (no end record) (at offset 8)");
        expect_reader_error("ITSPLIT1Q", 9, "tar-split t: unknown record type 0x51 (at offset 8)");
        expect_reader_error("ITSPLIT1V\0\0\0\0", 13,
                            "tar-split t: byte record of 0 bytes (1..1048576 allowed) (at offset "
                            "13)");
        expect_reader_error("ITSPLIT1V\1\0\x10\0", 13,
                            "tar-split t: byte record of 1048577 bytes (1..1048576 allowed) (at "
                            "offset 13)");
        expect_reader_error("ITSPLIT1F\3\0\0\0\0\0\0\0\2\0..", 21,
                            "tar-split t: invalid file name \"..\" (at offset 21)");
        expect_reader_error("ITSPLIT1F\3\0\0\0\0\0\0\0\2\0/a", 21,
                            "tar-split t: invalid file name \"/a\" (at offset 21)");
        expect_reader_error("ITSPLIT1F\3\0\0\0\0\0\0\0\1\x10", 19,
                            "tar-split t: file name of 4097 bytes (1..4096 allowed) (at offset "
                            "19)");
        expect_reader_error("ITSPLIT1F\0\0\0\0\0\2\0\0\1\0a", 20,
                            "tar-split t: stream longer than 1099511627776 bytes (at offset 19)");
        /* E that disagrees with the records. */
        {
                unsigned char b[200];
                memcpy(b, "ITSPLIT1V\2\0\0\0xyE\3\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x47" D64, 104);
                expect_reader_error(b, 104,
                                    "tar-split t: end record says 3 bytes in 0 files, the records "
                                    "hold 2 bytes in 0 files (at offset 104)");
        }
        /* Something after E, and X followed by another record. */
        {
                unsigned char b[200];
                memcpy(b, end_ok, sizeof(end_ok) - 1);
                b[sizeof(end_ok) - 1] = 'V';
                expect_reader_error(b, sizeof(end_ok),
                                    "tar-split t: data after the end record (at offset 98)");
                expect_reader_error("ITSPLIT1X\2\0okV", 14,
                                    "tar-split t: a record after the cannot-re-hash reason (at "
                                    "offset 13)");
        }
        /* Not gzip, and bytes after the gzip member. */
        {
                _cleanup_error_ it_error e2 = IT_ERROR_INIT;
                unsigned char buf[400];

                tarsplit_reader_new_mem("ITSPLIT1", 8, "t", &r);
                assert_int_equal(tarsplit_next(r, &rec, &e2), IT_EINPUT);
                assert_string_equal(e2.msg, "tar-split t: not a valid gzip stream: incorrect "
                                            "header check (at offset 0)");
                tarsplit_reader_free(r);
                it_error_clear(&e2);
                memcpy(buf, g, glen);
                buf[glen] = 0;
                tarsplit_reader_new_mem(buf, glen + 1, "t", &r);
                assert_int_equal(tarsplit_next(r, &rec, &e2), IT_EINPUT);
                assert_string_equal(e2.msg,
                                    "tar-split t: bytes after the gzip stream (at offset 97)");
                tarsplit_reader_free(r);
        }
}

/* ---- store fsck ---- */

struct sfx {
        struct it_store *st;
        char *root;
        char chain[IT_DIGEST_STR_MAX], diff[IT_DIGEST_STR_MAX];
        char *diffdir, *split;
};

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n";

/* A real layer (GNU tar of a small tree) unpacked into the store with its tar-split. */
static void store_layer(struct fx *f, struct sfx *s, bool record)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ unsigned char *tar = NULL;
        _cleanup_free_ char *src = xasprintf("%s/tree", f->base);
        _cleanup_free_ char *tarp = xasprintf("%s/tree.tar", f->base);
        struct it_store_layer_tx *tx;
        struct it_unpack_opts o;
        struct it_digest d;
        struct memsrc m = {0};
        size_t len;
        int dfd;

        sh("mkdir -p '%s/etc' '%s/usr/bin' && printf '%%s' '%s' > '%s/etc/passwd' && "
           "printf 'hello\\n' > '%s/usr/bin/hello' && tar --format=pax -C '%s' -cf '%s' .",
           src, src, passwd, src, src, src, tarp);
        read_whole(tarp, &tar, &len);
        digest_compute(IT_DIGEST_SHA256, tar, len, &d);
        digest_format(&d, s->diff);
        s->root = xasprintf("%s/store", f->base);
        assert_int_equal(store_open(s->root, &s->st, &err), 0);
        assert_int_equal(store_chain_id("", s->diff, s->chain, &err), 0);
        assert_int_equal(store_layer_begin(s->st, s->chain, &dfd, &tx, &err), 0);
        unpack_opts_init(&o, MT_TAR);
        o.compressed = o.diff_id = &d;
        o.chown = true;
        if (record) {
                o.split_fd = store_layer_split_fd(tx, &err);
                assert_true(o.split_fd >= 0);
                assert_int_equal(store_layer_split_fd(tx, &err), o.split_fd);
        }
        m.data = tar;
        m.len = len;
        if (unpack_layer(dfd, mem_read, &m, &o, NULL, &err) != 0)
                fail_msg("%s", err.msg);
        struct it_layer_meta meta = {0};
        snprintf(meta.diff_id, sizeof(meta.diff_id), "%s", s->diff);
        meta.size = len;
        snprintf(meta.media_type, sizeof(meta.media_type), MT_TAR);
        assert_int_equal(store_layer_commit(tx, &meta, &err), 0);
        s->diffdir = xasprintf("%s/layers/%s/diff", s->root, s->chain + 7);
        s->split = xasprintf("%s/layers/%s/tar-split", s->root, s->chain + 7);
}

static void store_done(struct sfx *s)
{
        store_close(s->st);
        free(s->root);
        free(s->diffdir);
        free(s->split);
}

static void expect_fsck(struct sfx *s, const char *want)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_strv_ struct it_strv p = IT_STRV_INIT;

        if (store_fsck_content(s->st, &p, &err) != 0)
                fail_msg("%s", err.msg);
        if (!want) {
                if (p.n)
                        fail_msg("unexpected: %s", p.v[0]);
                return;
        }
        if (p.n != 1)
                fail_msg("%zu problems, expected 1: %s", p.n, p.n ? p.v[0] : "");
        assert_string_equal(p.v[0], want);
}

static char *layer_line(struct sfx *s, const char *what)
{
        return xasprintf("layer %s: %s, the layer no longer matches its diff ID %s", s->chain, what,
                         s->diff);
}

static void test_fsck_clean_and_damage(void **state)
{
        struct fx *f = *state;
        struct sfx s = {0};
        struct stat sb;

        store_layer(f, &s, true);
        assert_int_equal(stat(s.split, &sb), 0);
        assert_int_equal(sb.st_mode, S_IFREG | 0600);
        expect_fsck(&s, NULL);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_strv_ struct it_strv p = IT_STRV_INIT;
        assert_int_equal(store_fsck(s.st, &p, &err), 0);
        assert_int_equal(p.n, 0);

        /* Same size, one byte changed. */
        _cleanup_free_ char *pw = xasprintf("%s/etc/passwd", s.diffdir);
        _cleanup_free_ char *evil = xstrdup(passwd);
        evil[0] = 'R';
        assert_int_equal(it_file_replace(pw, evil, strlen(evil), 0644, &err), 0);
        struct it_digest now, then;
        digest_compute(IT_DIGEST_SHA256, evil, strlen(evil), &now);
        digest_compute(IT_DIGEST_SHA256, passwd, strlen(passwd), &then);
        _cleanup_free_ char *what = xasprintf(
            "etc/passwd: content changed (sha256:%s, recorded sha256:%s)", now.hex, then.hex);
        _cleanup_free_ char *line = layer_line(&s, what);
        expect_fsck(&s, line);

        /* Truncated. */
        assert_int_equal(truncate(pw, 4), 0);
        _cleanup_free_ char *l2 = layer_line(&s, "etc/passwd: size changed (4 bytes, recorded 30)");
        expect_fsck(&s, l2);

        /* Deleted. */
        assert_int_equal(unlink(pw), 0);
        _cleanup_free_ char *l3 = layer_line(&s, "etc/passwd: missing");
        expect_fsck(&s, l3);

        /* A symlink to the host's /etc/passwd: reported, never followed. */
        assert_int_equal(symlink("/etc/passwd", pw), 0);
        _cleanup_free_ char *l4 =
            layer_line(&s, "etc/passwd: is a symlink now, not a regular file (not followed)");
        expect_fsck(&s, l4);
        assert_int_equal(unlink(pw), 0);

        /* A parent directory swapped for a symlink to the host's /etc. */
        _cleanup_free_ char *etc = xasprintf("%s/etc", s.diffdir);
        _cleanup_free_ char *etc2 = xasprintf("%s/etc.moved", s.diffdir);
        assert_int_equal(rename(etc, etc2), 0);
        assert_int_equal(symlink("/etc", etc), 0);
        _cleanup_free_ char *l5 =
            layer_line(&s, "etc/passwd: a parent directory is a symlink now (not followed)");
        expect_fsck(&s, l5);
        assert_int_equal(unlink(etc), 0);
        assert_int_equal(rename(etc2, etc), 0);

        /* Restored: clean again. */
        assert_int_equal(it_file_replace(pw, passwd, strlen(passwd), 0644, &err), 0);
        expect_fsck(&s, NULL);
        store_done(&s);
}

static void test_fsck_record_damage(void **state)
{
        struct fx *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct sfx s = {0};
        _cleanup_free_ unsigned char *orig = NULL;
        size_t len;

        store_layer(f, &s, true);
        read_whole(s.split, &orig, &len);

        /* A flipped byte inside the compressed data. */
        _cleanup_free_ unsigned char *bad = xmalloc(len);
        memcpy(bad, orig, len);
        bad[len / 2] ^= 0x55;
        assert_int_equal(it_file_replace(s.split, bad, len, 0600, &err), 0);
        _cleanup_error_ it_error e2 = IT_ERROR_INIT;
        _cleanup_strv_ struct it_strv p = IT_STRV_INIT;
        assert_int_equal(store_fsck_content(s.st, &p, &e2), 0);
        assert_int_equal(p.n, 1);
        _cleanup_free_ char *pre = xasprintf("layer %s: tar-split file: ", s.chain);
        if (strncmp(p.v[0], pre, strlen(pre)) != 0)
                fail_msg("%s", p.v[0]);

        /* Valid gzip, wrong content. */
        _cleanup_free_ unsigned char *g = NULL;
        size_t glen;
        g = gz("ITSPLIT9", 8, &glen);
        assert_int_equal(it_file_replace(s.split, g, glen, 0600, &err), 0);
        _cleanup_free_ char *l2 = xasprintf("layer %s: tar-split file: not a tar-split record (no "
                                            "ITSPLIT1 magic) (at offset 8)",
                                            s.chain);
        expect_fsck(&s, l2);

        /* Truncated. */
        assert_int_equal(it_file_replace(s.split, orig, len - 10, 0600, &err), 0);
        _cleanup_free_ char *l3 = xasprintf("layer %s: tar-split file: truncated", s.chain);
        it_strv_free(&p);
        assert_int_equal(store_fsck_content(s.st, &p, &e2), 0);
        assert_int_equal(p.n, 1);
        if (strncmp(p.v[0], l3, strlen(l3)) != 0)
                fail_msg("%s", p.v[0]);

        /* Missing. */
        assert_int_equal(unlink(s.split), 0);
        _cleanup_free_ char *l4 =
            xasprintf("layer %s: no tar-split record, cannot re-hash", s.chain);
        expect_fsck(&s, l4);
        store_done(&s);
}

static void test_fsck_unrecorded(void **state)
{
        struct fx *f = *state;
        struct sfx s = {0};

        store_layer(f, &s, false);
        _cleanup_free_ char *l =
            xasprintf("layer %s: no tar-split record, cannot re-hash", s.chain);
        expect_fsck(&s, l);
        store_done(&s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
            T(test_gnu_tar),
            T(test_libarchive_tar),
            T(test_handmade),
            T(test_overwritten),
            T(test_reader_strict),
            T(test_fsck_clean_and_damage),
            T(test_fsck_record_damage),
            T(test_fsck_unrecorded),
#undef T
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
