/* Layer unpacker (runtime-storage.md §1.4, §1.5, §2): normal layers in three compressions, digest
 * and media type checks, every extraction attack of §2.1 against a sentinel directory next to the
 * layer, whiteouts/opaque, device nodes, limits against bombs (streams generated on the fly). */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/unpack.h"
#include "imgtrust/xalloc.h"

#define MT_TAR "application/vnd.oci.image.layer.v1.tar"
#define MT_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MT_DOCKER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define BLOB_MAX (4 << 20)

struct fx {
        char *base, *layer, *sentinel;
        int fd; /* the layer dir */
};

static int setup(void **state)
{
        struct fx *f = xcalloc(1, sizeof(*f));
        char tmpl[] = "/tmp/it-unpack-XXXXXX";

        assert_non_null(mkdtemp(tmpl));
        f->base = xstrdup(tmpl);
        f->layer = xasprintf("%s/layer", f->base);
        f->sentinel = xasprintf("%s/sentinel", f->base);
        assert_int_equal(mkdir(f->layer, 0700), 0);
        assert_int_equal(mkdir(f->sentinel, 0755), 0);
        _cleanup_free_ char *victim = xasprintf("%s/victim", f->sentinel);
        FILE *v = fopen(victim, "w");
        assert_non_null(v);
        fputs("safe\n", v);
        fclose(v);
        assert_int_equal(chmod(victim, 0644), 0);
        f->fd = open(f->layer, O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(f->fd >= 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *cmd =
            xasprintf("chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", f->base, f->base);

        close(f->fd);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", f->base);
        free(f->base);
        free(f->layer);
        free(f->sentinel);
        free(f);
        return 0;
}

/* Nothing was created, changed or linked outside the layer dir. */
static void assert_host_untouched(struct fx *f)
{
        DIR *d = opendir(f->sentinel);
        struct dirent *de;
        int n = 0;

        assert_non_null(d);
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                assert_string_equal(de->d_name, "victim");
                n++;
        }
        closedir(d);
        assert_int_equal(n, 1);
        _cleanup_free_ char *victim = xasprintf("%s/victim", f->sentinel);
        struct stat sb;
        assert_int_equal(lstat(victim, &sb), 0);
        assert_int_equal(sb.st_nlink, 1);
        assert_int_equal(sb.st_mode, S_IFREG | 0644);
        assert_int_equal(sb.st_size, 5);
        char buf[16] = {0};
        FILE *v = fopen(victim, "r");
        assert_non_null(v);
        assert_int_equal(fread(buf, 1, sizeof(buf) - 1, v), 5);
        fclose(v);
        assert_string_equal(buf, "safe\n");
        d = opendir(f->base);
        assert_non_null(d);
        n = 0;
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                assert_true(strcmp(de->d_name, "layer") == 0 ||
                            strcmp(de->d_name, "sentinel") == 0);
                n++;
        }
        closedir(d);
        assert_int_equal(n, 2);
}

static void tar_header(unsigned char h[512], const char *name, char type, uint64_t size,
                       unsigned mode);

static int64_t count_entries(struct fx *f);

/* ---- building layers ---- */

struct ent {
        char type; /* f file, d dir, l symlink, h hardlink, c/b device, p fifo */
        const char *path;
        unsigned mode;
        const char *data; /* file content, or link target */
        int64_t uid, gid;
        time_t mtime;
        const char *xname[3], *xval[3];
};

static size_t build_tar(const struct ent *ents, size_t n, unsigned char *out, size_t cap)
{
        struct archive *a = archive_write_new();
        size_t used = 0;

        assert_int_equal(archive_write_set_format_pax(a), ARCHIVE_OK);
        /* As docker and podman write them: SCHILY.xattr only. */
        assert_int_equal(archive_write_set_options(a, "pax:xattrheader=SCHILY"), ARCHIVE_OK);
        assert_int_equal(archive_write_add_filter_none(a), ARCHIVE_OK);
        assert_int_equal(archive_write_open_memory(a, out, cap, &used), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                const struct ent *x = &ents[i];
                struct archive_entry *e = archive_entry_new();

                archive_entry_set_pathname(e, x->path);
                archive_entry_set_uid(e, x->uid);
                archive_entry_set_gid(e, x->gid);
                archive_entry_set_mtime(e, x->mtime, 0);
                switch (x->type) {
                case 'd':
                        archive_entry_set_filetype(e, AE_IFDIR);
                        break;
                case 'l':
                        archive_entry_set_filetype(e, AE_IFLNK);
                        archive_entry_set_symlink(e, x->data);
                        break;
                case 'h':
                        archive_entry_set_filetype(e, AE_IFREG);
                        archive_entry_set_hardlink(e, x->data);
                        break;
                case 'c':
                case 'b':
                        archive_entry_set_filetype(e, x->type == 'c' ? AE_IFCHR : AE_IFBLK);
                        archive_entry_set_rdevmajor(e, 1);
                        archive_entry_set_rdevminor(e, 3);
                        break;
                case 'p':
                        archive_entry_set_filetype(e, AE_IFIFO);
                        break;
                default:
                        archive_entry_set_filetype(e, AE_IFREG);
                        archive_entry_set_size(e, x->data ? (int64_t)strlen(x->data) : 0);
                }
                archive_entry_set_perm(e, x->mode);
                for (int k = 0; k < 3 && x->xname[k]; k++)
                        archive_entry_xattr_add_entry(e, x->xname[k], x->xval[k],
                                                      strlen(x->xval[k]));
                assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
                if (x->type == 'f' && x->data)
                        assert_int_equal(archive_write_data(a, x->data, strlen(x->data)),
                                         (la_ssize_t)strlen(x->data));
                archive_entry_free(e);
        }
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        return used;
}

/* Compress with libarchive's own gzip/zstd writer (raw format: just the filter). */
static size_t compress_blob(const char *filter, const unsigned char *in, size_t len,
                            unsigned char *out, size_t cap)
{
        struct archive *a = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        size_t used = 0;

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
        return used;
}

/* ---- reading ---- */

struct memsrc {
        const unsigned char *data;
        size_t len, off, chunk;
};

static int mem_read(void *ctx, void *buf, size_t cap, size_t *got, it_error *err)
{
        struct memsrc *m = ctx;
        size_t n = m->len - m->off;

        (void)err;
        if (n > cap)
                n = cap;
        if (m->chunk && n > m->chunk)
                n = m->chunk;
        memcpy(buf, m->data + m->off, n);
        m->off += n;
        *got = n;
        return 0;
}

struct layer {
        unsigned char *tar, *blob;
        size_t tar_len, blob_len;
        struct it_digest compressed, diff_id;
};

/* filter: NULL for an uncompressed layer, else "gzip" or "zstd". */
static void make_layer(struct layer *l, const struct ent *ents, size_t n, const char *filter)
{
        l->tar = xmalloc(BLOB_MAX);
        l->tar_len = build_tar(ents, n, l->tar, BLOB_MAX);
        if (filter) {
                l->blob = xmalloc(BLOB_MAX);
                l->blob_len = compress_blob(filter, l->tar, l->tar_len, l->blob, BLOB_MAX);
        } else {
                l->blob = xmalloc(l->tar_len);
                memcpy(l->blob, l->tar, l->tar_len);
                l->blob_len = l->tar_len;
        }
        digest_compute(IT_DIGEST_SHA256, l->tar, l->tar_len, &l->diff_id);
        digest_compute(IT_DIGEST_SHA256, l->blob, l->blob_len, &l->compressed);
}

static void free_layer(struct layer *l)
{
        free(l->tar);
        free(l->blob);
}

static int unpack_blob(struct fx *f, const struct layer *l, const char *mt,
                       struct it_unpack_opts *o, struct it_unpack_stats *st, size_t chunk,
                       it_error *err)
{
        struct memsrc m = {.data = l->blob, .len = l->blob_len, .chunk = chunk};
        struct it_unpack_opts def;

        if (!o) {
                unpack_opts_init(&def, mt);
                o = &def;
        }
        o->media_type = mt;
        o->compressed = &l->compressed;
        o->diff_id = &l->diff_id;
        return unpack_layer(f->fd, mem_read, &m, o, st, err);
}

/* Unpack ents as a plain tar; returns the code, err filled. */
static int unpack_ents(struct fx *f, const struct ent *ents, size_t n, it_error *err)
{
        struct layer l;
        int r;

        make_layer(&l, ents, n, NULL);
        r = unpack_blob(f, &l, MT_TAR, NULL, NULL, 0, err);
        free_layer(&l);
        return r;
}

static void expect_refused(struct fx *f, const struct ent *ents, size_t n, int code,
                           const char *msg)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;

        assert_int_equal(unpack_ents(f, ents, n, &err), code);
        _cleanup_free_ char *line = it_error_format(&err);
        assert_string_equal(line, msg);
        assert_host_untouched(f);
}

static struct stat lstat_in(struct fx *f, const char *path)
{
        struct stat sb;

        if (fstatat(f->fd, path, &sb, AT_SYMLINK_NOFOLLOW) < 0)
                fail_msg("%s: %s", path, strerror(errno));
        return sb;
}

static bool exists_in(struct fx *f, const char *path)
{
        struct stat sb;

        return fstatat(f->fd, path, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

static char *read_in(struct fx *f, const char *path)
{
        int fd = openat(f->fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        char *buf = xcalloc(1, 4096);

        assert_true(fd >= 0);
        assert_true(read(fd, buf, 4095) >= 0);
        close(fd);
        return buf;
}

static ssize_t getxattr_in(struct fx *f, const char *path, const char *name, char *buf, size_t cap)
{
        _cleanup_free_ char *p = xasprintf("%s/%s", f->layer, path);

        return lgetxattr(p, name, buf, cap);
}

/* ---- normal layers ---- */

static const struct ent normal[] = {
    {'d', "etc/", 0755, NULL, 0, 0, 1000, {"user.overlay.opaque"}, {"y"}},
    {'f',
     "etc/hosts",
     0644,
     "hello\n",
     1000,
     1001,
     2000,
     {"user.test", "trusted.overlay.redirect"},
     {"value", "/x"}},
    {'f', "/bin/su", 04755, "#!su\n", 0, 0, 2500, {NULL}, {NULL}},
    {'d', "./tmp", 01777, NULL, 0, 0, 1500, {NULL}, {NULL}},
    {'l', "etc/link", 0777, "hosts", 0, 0, 3000, {NULL}, {NULL}},
    {'h', "etc/hosts2", 0644, "etc/hosts", 1000, 1001, 2000, {NULL}, {NULL}},
    {'p', "run/fifo", 0620, NULL, 0, 0, 4000, {NULL}, {NULL}},
    {'d', "ro/", 0500, NULL, 0, 0, 5000, {NULL}, {NULL}},
    {'f', "ro/file", 0400, "", 0, 0, 5100, {NULL}, {NULL}},
};

static void check_normal(struct fx *f, const struct layer *l, const struct it_unpack_stats *st)
{
        struct stat sb;
        char buf[64];

        sb = lstat_in(f, "etc");
        assert_int_equal(sb.st_mode, S_IFDIR | 0755);
        assert_int_equal(sb.st_mtime, 1000);
        sb = lstat_in(f, "etc/hosts");
        assert_int_equal(sb.st_mode, S_IFREG | 0644);
        assert_int_equal(sb.st_mtime, 2000);
        assert_int_equal(sb.st_nlink, 2);
        assert_int_equal(sb.st_size, 6);
        _cleanup_free_ char *content = read_in(f, "etc/hosts");
        assert_string_equal(content, "hello\n");
        struct stat sb2 = lstat_in(f, "etc/hosts2");
        assert_int_equal(sb2.st_ino, sb.st_ino);
        sb = lstat_in(f, "bin/su");
        assert_int_equal(sb.st_mode, S_IFREG | 04755);
        assert_int_equal(sb.st_mtime, 2500);
        sb = lstat_in(f, "bin"); /* implicit parent */
        assert_int_equal(sb.st_mode, S_IFDIR | 0755);
        sb = lstat_in(f, "tmp");
        assert_int_equal(sb.st_mode, S_IFDIR | 01777);
        assert_int_equal(sb.st_mtime, 1500);
        sb = lstat_in(f, "etc/link");
        assert_true(S_ISLNK(sb.st_mode));
        assert_int_equal(sb.st_mtime, 3000);
        ssize_t n = readlinkat(f->fd, "etc/link", buf, sizeof(buf));
        assert_int_equal(n, 5);
        assert_memory_equal(buf, "hosts", 5);
        sb = lstat_in(f, "run/fifo");
        assert_int_equal(sb.st_mode, S_IFIFO | 0620);
        assert_int_equal(sb.st_mtime, 4000);
        sb = lstat_in(f, "ro");
        assert_int_equal(sb.st_mode, S_IFDIR | 0500);
        assert_int_equal(sb.st_mtime, 5000);
        sb = lstat_in(f, "ro/file");
        assert_int_equal(sb.st_mode, S_IFREG | 0400);

        n = getxattr_in(f, "etc/hosts", "user.test", buf, sizeof(buf));
        assert_int_equal(n, 5);
        assert_memory_equal(buf, "value", 5);
        /* Overlay xattrs from the tar are never applied. */
        assert_int_equal(getxattr_in(f, "etc", "user.overlay.opaque", buf, sizeof(buf)), -1);
        assert_int_equal(errno, ENODATA);
        assert_int_equal(getxattr_in(f, "etc/hosts", "trusted.overlay.redirect", buf, sizeof(buf)),
                         -1);
        assert_int_equal(st->xattrs_overlay_skipped, 2);
        assert_int_equal(st->xattrs_set, 1);
        assert_int_equal(st->entries, 9);
        assert_int_equal(st->files, 3);
        assert_int_equal(st->dirs, 5); /* etc tmp ro + implicit bin run */
        assert_int_equal(st->symlinks, 1);
        assert_int_equal(st->hardlinks, 1);
        assert_int_equal(st->fifos, 1);
        assert_int_equal(st->file_bytes, 11);
        assert_int_equal(st->max_uid_seen, 1000);
        assert_int_equal(st->max_gid_seen, 1001);
        assert_int_equal(st->uncompressed_bytes, (int64_t)l->tar_len);
        assert_int_equal(st->compressed_bytes, (int64_t)l->blob_len);
        assert_true(digest_equal(&st->diff_id, &l->diff_id));
        assert_true(digest_equal(&st->compressed, &l->compressed));
        assert_host_untouched(f);
}

static void normal_with(void **state, const char *filter, const char *mt, size_t chunk)
{
        struct fx *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_unpack_stats st;
        struct it_unpack_opts o;
        struct layer l;

        make_layer(&l, normal, sizeof(normal) / sizeof(normal[0]), filter);
        unpack_opts_init(&o, mt);
        o.chown = geteuid() == 0;
        int r = unpack_blob(f, &l, mt, &o, &st, chunk, &err);
        if (r)
                fail_msg("%s", err.msg);
        check_normal(f, &l, &st);
        if (o.chown) {
                struct stat sb = lstat_in(f, "etc/hosts");
                assert_int_equal(sb.st_uid, 1000);
                assert_int_equal(sb.st_gid, 1001);
        }
        if (filter && strcmp(filter, "gzip") == 0)
                assert_memory_equal(l.blob, "\x1f\x8b", 2);
        if (filter && strcmp(filter, "zstd") == 0)
                assert_memory_equal(l.blob, "\x28\xb5\x2f\xfd", 4);
        free_layer(&l);
}

static void test_normal_plain(void **state)
{
        normal_with(state, NULL, MT_TAR, 0);
}

static void test_normal_plain_tiny_reads(void **state)
{
        normal_with(state, NULL, "application/vnd.docker.image.rootfs.diff.tar", 1);
}

static void test_normal_gzip(void **state)
{
        normal_with(state, "gzip", MT_GZIP, 3);
}

static void test_normal_docker_gzip(void **state)
{
        normal_with(state, "gzip", MT_DOCKER_GZIP, 0);
}

/* gzip members one after another (as `cat a.gz b.gz` makes) are one stream, read in tiny pieces
 * too; a flipped byte of the CRC trailer is refused. */
static void test_gzip_members(void **state)
{
        struct fx *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_unpack_stats st;
        struct layer l;

        make_layer(&l, normal, sizeof(normal) / sizeof(normal[0]), NULL);
        size_t half = l.tar_len / 2;
        unsigned char *two = xmalloc(2 * BLOB_MAX);
        size_t n1 = compress_blob("gzip", l.tar, half, two, BLOB_MAX);
        size_t n2 = compress_blob("gzip", l.tar + half, l.tar_len - half, two + n1, BLOB_MAX);
        free(l.blob);
        l.blob = two;
        l.blob_len = n1 + n2;
        digest_compute(IT_DIGEST_SHA256, l.blob, l.blob_len, &l.compressed);
        for (size_t chunk = 0; chunk <= 7; chunk += 7) {
                it_error_clear(&err);
                if (chunk) {
                        _cleanup_free_ char *cmd =
                            xasprintf("rm -rf '%s'/* '%s'/.[!.]*", f->layer, f->layer);
                        assert_int_equal(system(cmd), 0);
                }
                int r = unpack_blob(f, &l, MT_GZIP, NULL, &st, chunk, &err);
                if (r)
                        fail_msg("%s", err.msg);
                check_normal(f, &l, &st);
        }
        /* The first member's CRC (4 bytes before its ISIZE) with one bit flipped. */
        l.blob[n1 - 8] ^= 1;
        digest_compute(IT_DIGEST_SHA256, l.blob, l.blob_len, &l.compressed);
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'/* '%s'/.[!.]*", f->layer, f->layer);
        assert_int_equal(system(cmd), 0);
        it_error_clear(&err);
        assert_int_equal(unpack_blob(f, &l, MT_GZIP, NULL, &st, 0, &err), IT_EINPUT);
        assert_string_equal(err.msg, "decompressing the layer: gzip checksum mismatch");
        free_layer(&l);
}

static void test_normal_zstd(void **state)
{
        normal_with(state, "zstd", MT_ZSTD, 0);
}

/* ---- digests and media types ---- */

static void test_wrong_compressed_digest(void **state)
{
        struct fx *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_unpack_opts o;
        struct layer l;
        char want[IT_DIGEST_STR_MAX], got[IT_DIGEST_STR_MAX];

        make_layer(&l, normal, 2, "gzip");
        digest_format(&l.compressed, got);
        l.compressed.hex[0] = l.compressed.hex[0] == '0' ? '1' : '0';
        digest_format(&l.compressed, want);
        unpack_opts_init(&o, MT_GZIP);
        assert_int_equal(unpack_blob(f, &l, MT_GZIP, &o, NULL, 0, &err), IT_EINPUT);
        _cleanup_free_ char *msg =
            xasprintf("layer digest mismatch: expected %s, got %s", want, got);
        assert_string_equal(err.msg, msg);
        free_layer(&l);
}

static void test_wrong_diff_id(void **state)
{
        struct fx *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct layer l;
        char want[IT_DIGEST_STR_MAX], got[IT_DIGEST_STR_MAX];

        make_layer(&l, normal, 2, "zstd");
        digest_format(&l.diff_id, got);
        l.diff_id.hex[63] = l.diff_id.hex[63] == 'a' ? 'b' : 'a';
        digest_format(&l.diff_id, want);
        assert_int_equal(unpack_blob(f, &l, MT_ZSTD, NULL, NULL, 0, &err), IT_EINPUT);
        _cleanup_free_ char *msg =
            xasprintf("layer diffID mismatch: expected %s, got %s", want, got);
        assert_string_equal(err.msg, msg);
        free_layer(&l);
}

/* For an uncompressed layer the compressed digest is the diffID; a diffID that differs fails. */
static void test_plain_digest_is_diff_id(void **state)
{
        struct fx *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct layer l;

        make_layer(&l, normal, 2, NULL);
        assert_true(digest_equal(&l.compressed, &l.diff_id));
        assert_int_equal(unpack_blob(f, &l, MT_TAR, NULL, NULL, 0, &err), 0);
        free_layer(&l);
}

static void test_media_type_mismatch(void **state)
{
        struct fx *f = *state;
        struct layer gz, zs, plain;

        make_layer(&gz, normal, 2, "gzip");
        make_layer(&zs, normal, 2, "zstd");
        make_layer(&plain, normal, 2, NULL);
        struct {
                const struct layer *l;
                const char *mt;
                int code;
                const char *msg;
        } cases[] = {
            {&gz, MT_TAR, IT_EINPUT,
             "layer data is gzip-compressed but the media type " MT_TAR " says uncompressed"},
            {&zs, MT_TAR, IT_EINPUT,
             "layer data is zstd-compressed but the media type " MT_TAR " says uncompressed"},
            {&plain, MT_GZIP, IT_EINPUT,
             "layer data is not gzip (no 1f 8b magic) but the media type is " MT_GZIP},
            {&gz, MT_ZSTD, IT_EINPUT,
             "layer data is not zstd (no 28 b5 2f fd magic) but the media type is " MT_ZSTD},
            {&zs, MT_DOCKER_GZIP, IT_EINPUT,
             "layer data is not gzip (no 1f 8b magic) but the media type is " MT_DOCKER_GZIP},
            {&gz, "application/vnd.oci.image.layer.v1.tar+bzip2", IT_EUNSUPPORTED,
             "unsupported layer media type "
             "\"application/vnd.oci.image.layer.v1.tar+bzip2\""},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                _cleanup_error_ it_error err = IT_ERROR_INIT;
                assert_int_equal(unpack_blob(f, cases[i].l, cases[i].mt, NULL, NULL, 0, &err),
                                 cases[i].code);
                assert_string_equal(err.msg, cases[i].msg);
                assert_false(exists_in(f, "etc"));
        }
        free_layer(&gz);
        free_layer(&zs);
        free_layer(&plain);
}

static void test_empty_and_garbage(void **state)
{
        struct fx *f = *state;
        unsigned char zeros[1024] = {0};
        struct {
                const void *data;
                size_t len;
                int code;
                const char *msg;
        } cases[] = {
            {"", 0, IT_EINPUT, "layer blob is empty"},
            {"garbage", 7, IT_EINPUT, "reading the layer tar: Unrecognized archive format"},
            {zeros, sizeof(zeros), 0, NULL}, /* an empty tar: valid */
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                _cleanup_error_ it_error err = IT_ERROR_INIT;
                struct memsrc m = {.data = cases[i].data, .len = cases[i].len};
                struct it_unpack_opts o;
                struct it_unpack_stats st;
                struct it_digest d;

                digest_compute(IT_DIGEST_SHA256, cases[i].data, cases[i].len, &d);
                unpack_opts_init(&o, MT_TAR);
                o.compressed = o.diff_id = &d;
                assert_int_equal(unpack_layer(f->fd, mem_read, &m, &o, &st, &err), cases[i].code);
                if (cases[i].msg)
                        assert_string_equal(err.msg, cases[i].msg);
                else
                        assert_int_equal(st.entries, 0);
        }
        assert_int_equal(count_entries(f), 0);
}

/* A valid gzip layer followed by endless bytes: what follows a gzip member must be another member
 * (as Go's reader, podman's, requires), so the zeros are refused at once, after one read. */
struct trailing {
        struct memsrc m;
        int64_t extra;
};

static int trailing_read(void *ctx, void *buf, size_t cap, size_t *got, it_error *err)
{
        struct trailing *t = ctx;

        if (t->m.off < t->m.len)
                return mem_read(&t->m, buf, cap, got, err);
        memset(buf, 0, cap);
        t->extra += (int64_t)cap;
        *got = cap;
        return 0;
}

static void test_endless_trailing_bytes(void **state)
{
        struct fx *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct layer l;
        struct it_unpack_opts o;

        make_layer(&l, normal, 2, "gzip");
        struct trailing t = {.m = {.data = l.blob, .len = l.blob_len}};
        unpack_opts_init(&o, MT_GZIP);
        o.compressed = &l.compressed;
        o.diff_id = &l.diff_id;
        o.limits.max_bytes = 8 << 20;
        assert_int_equal(unpack_layer(f->fd, trailing_read, &t, &o, NULL, &err), IT_EINPUT);
        _cleanup_free_ char *want =
            xasprintf("decompressing the layer: the bytes after the gzip member ending at "
                      "compressed byte %zu are not another member",
                      l.blob_len);
        assert_string_equal(err.msg, want);
        assert_true(t.extra <= 1 << 20);
        free_layer(&l);
}

/* ---- attacks (§2.1) ---- */

static void test_dotdot(void **state)
{
        struct fx *f = *state;
        const struct ent e1[] = {{'f', "../sentinel/pwned", 0644, "x", 0, 0, 0, {0}, {0}}};
        const struct ent e2[] = {{'f', "a/../../sentinel/x", 0644, "x", 0, 0, 0, {0}, {0}}};
        const struct ent e3[] = {{'d', "..", 0755, NULL, 0, 0, 0, {0}, {0}}};

        expect_refused(f, e1, 1, IT_EINPUT,
                       "entry \"../sentinel/pwned\" contains a \"..\" component");
        expect_refused(f, e2, 1, IT_EINPUT,
                       "entry \"a/../../sentinel/x\" contains a \"..\" component");
        expect_refused(f, e3, 1, IT_EINPUT, "entry \"../\" contains a \"..\" component");
        assert_false(exists_in(f, "a"));
}

static void test_absolute_made_relative(void **state)
{
        struct fx *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *abs = xasprintf("%s/pwned", f->sentinel);
        const struct ent e[] = {
            {'f', "/abs/file", 0644, "x", 0, 0, 0, {0}, {0}},
            {'f', abs, 0644, "y", 0, 0, 0, {0}, {0}},
        };

        assert_int_equal(unpack_ents(f, e, 2, &err), 0);
        _cleanup_free_ char *c = read_in(f, "abs/file");
        assert_string_equal(c, "x");
        /* The sentinel's absolute path landed beneath the layer, not in the sentinel. */
        _cleanup_free_ char *inside = xasprintf("%s/pwned", f->sentinel + 1);
        _cleanup_free_ char *c2 = read_in(f, inside);
        assert_string_equal(c2, "y");
        assert_host_untouched(f);
}

static void test_symlink_parent_escape(void **state)
{
        struct fx *f = *state;
        const struct ent abs[] = {
            {'l', "link", 0777, f->sentinel, 0, 0, 0, {0}, {0}},
            {'f', "link/pwned", 0644, "x", 0, 0, 0, {0}, {0}},
        };
        const struct ent rel[] = {
            {'l', "rl", 0777, "../sentinel", 0, 0, 0, {0}, {0}},
            {'f', "rl/pwned", 0644, "x", 0, 0, 0, {0}, {0}},
        };
        const struct ent deep[] = {
            {'d', "d/", 0755, NULL, 0, 0, 0, {0}, {0}},
            {'l', "d/up", 0777, "/", 0, 0, 0, {0}, {0}},
            {'f', "d/up/d/x", 0644, "x", 0, 0, 0, {0}, {0}},
        };
        const struct ent tmp[] = {
            {'l', "t", 0777, "/tmp", 0, 0, 0, {0}, {0}},
            {'d', "t/it-unpack-pwned-dir", 0755, NULL, 0, 0, 0, {0}, {0}},
        };

        expect_refused(f, abs, 2, IT_EINPUT,
                       "entry \"link/pwned\": cannot extract through symlink \"link\"");
        expect_refused(f, rel, 2, IT_EINPUT,
                       "entry \"rl/pwned\": cannot extract through symlink \"rl\"");
        expect_refused(f, deep, 3, IT_EINPUT,
                       "entry \"d/up/d/x\": cannot extract through symlink \"d/up/d\"");
        expect_refused(f, tmp, 2, IT_EINPUT,
                       "entry \"t/it-unpack-pwned-dir/\": cannot extract through symlink \"t\"");
        struct stat sb;
        assert_int_equal(lstat("/tmp/it-unpack-pwned-dir", &sb), -1);
}

static void test_hardlink_escape(void **state)
{
        struct fx *f = *state;
        _cleanup_free_ char *victim = xasprintf("%s/victim", f->sentinel);
        const struct ent up[] = {{'h', "hl", 0644, "../../etc/passwd", 0, 0, 0, {0}, {0}}};
        const struct ent abs[] = {{'h', "hl", 0644, victim, 0, 0, 0, {0}, {0}}};
        const struct ent dir[] = {
            {'d', "d", 0755, NULL, 0, 0, 0, {0}, {0}},
            {'h', "hl", 0644, "d", 0, 0, 0, {0}, {0}},
        };
        const struct ent via[] = {
            {'l', "s", 0777, f->sentinel, 0, 0, 0, {0}, {0}},
            {'h', "hl", 0644, "s/victim", 0, 0, 0, {0}, {0}},
        };
        _cleanup_free_ char *absmsg = xasprintf("entry \"hl\" (hardlink target): \"%s\" does "
                                                "not exist in the layer",
                                                f->sentinel + 1);
        const struct ent missing[] = {{'h', "hl", 0644, "nothere", 0, 0, 0, {0}, {0}}};

        expect_refused(f, up, 1, IT_EINPUT,
                       "entry \"hl\": hardlink target \"../../etc/passwd\" contains a \"..\" "
                       "component");
        expect_refused(f, abs, 1, IT_EINPUT, absmsg);
        expect_refused(f, dir, 2, IT_EINPUT, "entry \"hl\": hardlink to a directory");
        expect_refused(f, via, 2, IT_EINPUT,
                       "entry \"hl\" (hardlink target): cannot extract through symlink \"s\"");
        expect_refused(f, missing, 1, IT_EINPUT,
                       "entry \"hl\": hardlink target is not in the layer: No such file or "
                       "directory");
        assert_false(exists_in(f, "hl"));
}

/* A hardlink to a symlink links the symlink itself; nothing outside is linked or touched. */
static void test_hardlink_to_outside_symlink(void **state)
{
        struct fx *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *victim = xasprintf("%s/victim", f->sentinel);
        const struct ent e[] = {
            {'l', "s", 0777, victim, 0, 0, 0, {0}, {0}},
            {'h', "hl", 0644, "s", 0, 0, 0, {0}, {0}},
            {'h', "hl2", 0644, "/s", 0, 0, 0, {0}, {0}},
        };
        char buf[4096];

        assert_int_equal(unpack_ents(f, e, 3, &err), 0);
        struct stat s = lstat_in(f, "s"), h = lstat_in(f, "hl"), h2 = lstat_in(f, "hl2");
        assert_true(S_ISLNK(h.st_mode));
        assert_int_equal(h.st_ino, s.st_ino);
        assert_int_equal(h2.st_ino, s.st_ino);
        assert_int_equal(s.st_nlink, 3);
        ssize_t n = readlinkat(f->fd, "hl", buf, sizeof(buf));
        assert_int_equal(n, (ssize_t)strlen(victim));
        assert_host_untouched(f);
}

static void test_dir_replaced_by_symlink(void **state)
{
        struct fx *f = *state;
        const struct ent e[] = {
            {'d', "d/", 0755, NULL, 0, 0, 0, {0}, {0}},
            {'f', "d/old", 0644, "o", 0, 0, 0, {0}, {0}},
            {'l', "d", 0777, f->sentinel, 0, 0, 0, {0}, {0}},
            {'f', "d/victim", 0644, "pwned", 0, 0, 0, {0}, {0}},
        };

        expect_refused(f, e, 4, IT_EINPUT,
                       "entry \"d/victim\": cannot extract through symlink \"d\"");
        assert_true(S_ISLNK(lstat_in(f, "d").st_mode));
}

/* A file over an existing symlink replaces the link, never writes through it (A4), and the
 * layer root can be neither replaced nor linked (A13). */
static void test_file_over_symlink_and_root(void **state)
{
        struct fx *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *victim = xasprintf("%s/victim", f->sentinel);
        const struct ent e[] = {
            {'l', "f", 0777, victim, 0, 0, 0, {0}, {0}},
            {'f', "f", 0600, "new", 0, 0, 0, {0}, {0}},
            {'d', "./", 0711, NULL, 0, 0, 77, {0}, {0}},
        };
        const struct ent root_link[] = {{'l', ".", 0777, "/", 0, 0, 0, {0}, {0}}};
        const struct ent root_fifo[] = {{'p', "//", 0644, NULL, 0, 0, 0, {0}, {0}}};

        assert_int_equal(unpack_ents(f, e, 3, &err), 0);
        assert_int_equal(lstat_in(f, "f").st_mode, S_IFREG | 0600);
        struct stat sb;
        assert_int_equal(stat(f->layer, &sb), 0);
        assert_int_equal(sb.st_mode, S_IFDIR | 0711);
        assert_int_equal(sb.st_mtime, 77);
        assert_host_untouched(f);
        expect_refused(f, root_link, 1, IT_EINPUT, "entry \".\" would replace the layer root");
        expect_refused(f, root_fifo, 1, IT_EINPUT, "entry \"//\" would replace the layer root");
        /* A hand-made header (libarchive reads a regular file named "x/" as a directory). */
        unsigned char tar[2048] = {0};
        struct memsrc m = {.data = tar, .len = sizeof(tar)};
        struct it_unpack_opts o;
        tar_header(tar, "/", '6', 0, 0644);
        unpack_opts_init(&o, MT_TAR);
        o.skip_digests = true;
        it_error_clear(&err);
        assert_int_equal(unpack_layer(f->fd, mem_read, &m, &o, NULL, &err), IT_EINPUT);
        assert_string_equal(err.msg, "entry \"/\" would replace the layer root");
        assert_host_untouched(f);
}

static void test_devices_refused(void **state)
{
        struct fx *f = *state;
        const struct ent c[] = {{'c', "dev/mem", 0600, NULL, 0, 0, 0, {0}, {0}}};
        const struct ent b[] = {{'b', "dev/sda", 0600, NULL, 0, 0, 0, {0}, {0}}};

        expect_refused(f, c, 1, IT_EINPUT,
                       "entry \"dev/mem\": device nodes are not accepted in a layer");
        expect_refused(f, b, 1, IT_EINPUT,
                       "entry \"dev/sda\": device nodes are not accepted in a layer");
        assert_false(exists_in(f, "dev"));
}

static void test_ids_above_map(void **state)
{
        struct fx *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_unpack_opts o;
        struct layer l;
        const struct ent e[] = {
            {'f', "ok", 0644, "", 65535, 65535, 0, {0}, {0}},
            {'f', "big", 0644, "", 70000, 0, 0, {0}, {0}},
        };
        const struct ent g[] = {{'f', "bigg", 0644, "", 0, 65536, 0, {0}, {0}}};

        make_layer(&l, e, 2, NULL);
        unpack_opts_init(&o, MT_TAR);
        o.chown = true;
        o.max_uid = o.max_gid = 65535;
        if (geteuid() != 0)
                o.chown = false; /* cannot chown ok to 65535 either; check the id test below */
        if (o.chown) {
                assert_int_equal(unpack_blob(f, &l, MT_TAR, &o, NULL, 0, &err), IT_EINPUT);
                assert_string_equal(err.msg,
                                    "entry \"big\": uid 70000 is above the highest mapped uid "
                                    "65535");
                assert_false(exists_in(f, "big"));
                assert_int_equal(lstat_in(f, "ok").st_uid, 65535);
        }
        free_layer(&l);
        it_error_clear(&err);
        make_layer(&l, g, 1, NULL);
        o.chown = true;
        assert_int_equal(unpack_blob(f, &l, MT_TAR, &o, NULL, 0, &err), IT_EINPUT);
        assert_string_equal(err.msg,
                            "entry \"bigg\": gid 65536 is above the highest mapped gid 65535");
        free_layer(&l);
}

static void test_long_names(void **state)
{
        struct fx *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_unpack_opts o;
        struct layer l;
        char comp[300];
        memset(comp, 'a', 256);
        comp[256] = '\0';
        const struct ent e[] = {{'f', "abcdefghij/abcdefghij", 0644, "", 0, 0, 0, {0}, {0}}};
        const struct ent c[] = {{'f', comp, 0644, "", 0, 0, 0, {0}, {0}}};

        make_layer(&l, e, 1, NULL);
        unpack_opts_init(&o, MT_TAR);
        o.limits.max_name = 20;
        assert_int_equal(unpack_blob(f, &l, MT_TAR, &o, NULL, 0, &err), IT_EINPUT);
        assert_string_equal(err.msg, "entry \"abcdefghij/abcdefghij\" is longer than 20 bytes "
                                     "(--max-layer-name)");
        free_layer(&l);
        it_error_clear(&err);
        assert_int_equal(unpack_ents(f, c, 1, &err), IT_EINPUT);
        assert_non_null(strstr(err.msg, "has a component longer than 255 bytes"));
}

/* pax names are UTF-8; they land byte for byte whatever the caller's locale ("C" here). */
static void test_utf8_names(void **state)
{
        struct fx *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        const struct ent e[] = {
            {'f', "caf\xc3\xa9/na\xc3\xafve.txt", 0644, "x", 0, 0, 0, {0}, {0}},
            {'l', "\xe6\x97\xa5\xe6\x9c\xac", 0777, "caf\xc3\xa9/\xc3\xa9", 0, 0, 0, {0}, {0}},
        };
        char buf[64] = {0};
        struct layer l;

        /* Only the writer gets a UTF-8 locale (libarchive's writer needs one for these names);
         * the unpack runs under "C". */
        locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
        assert_non_null(utf8);
        locale_t old = uselocale(utf8);
        make_layer(&l, e, 2, NULL);
        uselocale(old);
        freelocale(utf8);
        assert_int_equal(unpack_blob(f, &l, MT_TAR, NULL, NULL, 0, &err), 0);
        free_layer(&l);
        assert_true(exists_in(f, "caf\xc3\xa9/na\xc3\xafve.txt"));
        assert_int_equal(readlinkat(f->fd, "\xe6\x97\xa5\xe6\x9c\xac", buf, sizeof(buf)), 8);
        assert_string_equal(buf, "caf\xc3\xa9/\xc3\xa9");
}

/* ---- whiteouts ---- */

#define WHITEOUT_EPERM                                                                             \
        "entry \".wh.x\": cannot create the whiteout (character device 0/0): mknod not "           \
        "permitted (it needs Linux >= 5.8 or a user namespace, and a layer directory that is not " \
        "on overlayfs)"

static bool can_mknod_whiteout(struct fx *f)
{
        _cleanup_free_ char *p = xasprintf("%s/probe", f->base);
        bool ok = mknod(p, S_IFCHR, makedev(0, 0)) == 0;

        if (ok)
                unlink(p);
        return ok;
}

static void test_whiteouts(void **state)
{
        struct fx *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_unpack_stats st;
        struct it_unpack_opts o;
        struct layer l;
        const struct ent e[] = {
            {'f', "x", 0644, "replaced", 0, 0, 0, {0}, {0}},
            {'d', "gone/", 0755, NULL, 0, 0, 0, {0}, {0}},
            {'f', "gone/deep", 0644, "d", 0, 0, 0, {0}, {0}},
            {'f', ".wh.x", 0644, NULL, 0, 0, 0, {0}, {0}},
            {'f', ".wh.gone", 0644, NULL, 0, 0, 0, {0}, {0}},
            {'f', "a/.wh.lower", 0644, NULL, 0, 0, 0, {0}, {0}},
            {'d', "b/", 0755, NULL, 0, 0, 0, {0}, {0}},
            {'f', "b/keep", 0644, "k", 0, 0, 0, {0}, {0}},
            {'f', "b/.wh..wh..opq", 0644, NULL, 0, 0, 0, {0}, {0}},
            {'f', "new/.wh..wh..opq", 0644, NULL, 0, 0, 0, {0}, {0}},
        };
        char buf[8];

        make_layer(&l, e, sizeof(e) / sizeof(e[0]), NULL);
        unpack_opts_init(&o, MT_TAR);
        int r = unpack_blob(f, &l, MT_TAR, &o, &st, 0, &err);
        if (!can_mknod_whiteout(f)) {
                assert_int_equal(r, IT_EUNSUPPORTED);
                assert_string_equal(err.msg, WHITEOUT_EPERM);
                free_layer(&l);
                return;
        }
        if (r)
                fail_msg("%s", err.msg);
        const char *wh[] = {"x", "gone", "a/lower"};
        for (int i = 0; i < 3; i++) {
                struct stat sb = lstat_in(f, wh[i]);
                assert_true(S_ISCHR(sb.st_mode));
                assert_int_equal(sb.st_rdev, makedev(0, 0));
        }
        assert_false(exists_in(f, ".wh.x"));
        assert_false(exists_in(f, "a/.wh.lower"));
        assert_false(exists_in(f, "b/.wh..wh..opq"));
        assert_true(exists_in(f, "b/keep"));
        assert_int_equal(getxattr_in(f, "b", "user.overlay.opaque", buf, sizeof(buf)), 1);
        assert_int_equal(buf[0], 'y');
        assert_int_equal(getxattr_in(f, "new", "user.overlay.opaque", buf, sizeof(buf)), 1);
        assert_int_equal(getxattr_in(f, "a", "user.overlay.opaque", buf, sizeof(buf)), -1);
        assert_int_equal(st.whiteouts, 3);
        assert_int_equal(st.opaques, 2);
        assert_host_untouched(f);
        free_layer(&l);
}

static void test_bad_whiteouts(void **state)
{
        struct fx *f = *state;
        const struct ent bare[] = {{'f', "a/.wh.", 0644, NULL, 0, 0, 0, {0}, {0}}};
        const struct ent dots[] = {{'f', ".wh..", 0644, NULL, 0, 0, 0, {0}, {0}}};
        const struct ent up[] = {{'f', ".wh...", 0644, NULL, 0, 0, 0, {0}, {0}}};
        const struct ent meta[] = {{'f', ".wh..wh.plnk", 0644, NULL, 0, 0, 0, {0}, {0}}};
        const struct ent via[] = {
            {'l', "s", 0777, f->sentinel, 0, 0, 0, {0}, {0}},
            {'f', "s/.wh.victim", 0644, NULL, 0, 0, 0, {0}, {0}},
        };

        expect_refused(f, bare, 1, IT_EINPUT, "entry \"a/.wh.\": invalid whiteout name");
        expect_refused(f, dots, 1, IT_EINPUT, "entry \".wh..\": invalid whiteout name");
        expect_refused(f, up, 1, IT_EINPUT, "entry \".wh...\": invalid whiteout name");
        expect_refused(f, meta, 1, IT_EINPUT,
                       "entry \".wh..wh.plnk\": unsupported whiteout meta entry (only "
                       ".wh..wh..opq is known)");
        expect_refused(f, via, 2, IT_EINPUT,
                       "entry \"s/.wh.victim\": cannot extract through symlink \"s\"");
        const struct ent comp[] = {{'f', "a/.wh.b/c", 0644, NULL, 0, 0, 0, {0}, {0}}};
        expect_refused(f, comp, 1, IT_EINPUT,
                       "entry \"a/.wh.b/c\": a directory name starting with .wh. is reserved");
}

static void write_file(const char *path, const char *s)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);

        if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
                _exit(77);
        close(fd);
}

/* Whiteouts cannot be written through an overlay mount (§1.5): in a child, a user namespace
 * with a rootless overlay mount, and the unpack into its merged directory must fail with
 * IT_EUNSUPPORTED and the message above. Exit 0 pass, 1 fail, 77 skip. */
static int whiteout_on_overlay_child(struct fx *f, const struct layer *l)
{
        _cleanup_free_ char *opts = NULL, *merged = NULL, *map = NULL;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        uid_t uid = geteuid();
        gid_t gid = getegid();
        const char *sub[] = {"lo", "up", "wk", "mnt"};

        for (int i = 0; i < 4; i++) {
                _cleanup_free_ char *p = xasprintf("%s/%s", f->base, sub[i]);
                if (mkdir(p, 0700) < 0)
                        return 77;
        }
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
                return 77;
        write_file("/proc/self/setgroups", "deny");
        map = xasprintf("0 %u 1", (unsigned)uid);
        write_file("/proc/self/uid_map", map);
        free(map);
        map = xasprintf("0 %u 1", (unsigned)gid);
        write_file("/proc/self/gid_map", map);
        opts = xasprintf("lowerdir=%s/lo,upperdir=%s/up,workdir=%s/wk,userxattr", f->base, f->base,
                         f->base);
        merged = xasprintf("%s/mnt", f->base);
        if (mount("overlay", merged, "overlay", 0, opts) < 0)
                return 77;
        int fd = open(merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return 1;
        struct memsrc m = {.data = l->blob, .len = l->blob_len};
        struct it_unpack_opts o;
        unpack_opts_init(&o, MT_TAR);
        o.compressed = &l->compressed;
        o.diff_id = &l->diff_id;
        int r = unpack_layer(fd, mem_read, &m, &o, NULL, &err);
        if (r != IT_EUNSUPPORTED || !err.msg || strcmp(err.msg, WHITEOUT_EPERM) != 0) {
                fprintf(stderr, "unexpected: %d %s\n", r, err.msg ? err.msg : "");
                return 1;
        }
        return 0;
}

static void test_whiteout_on_overlay_unsupported(void **state)
{
        struct fx *f = *state;
        const struct ent e[] = {{'f', ".wh.x", 0644, NULL, 0, 0, 0, {0}, {0}}};
        struct layer l;
        int status;

        make_layer(&l, e, 1, NULL);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(whiteout_on_overlay_child(f, &l));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        free_layer(&l);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 77)
                skip();
        assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- bombs, generated on the fly ---- */

static void octal(char *field, size_t len, uint64_t v)
{
        snprintf(field, len, "%0*llo", (int)len - 1, (unsigned long long)v);
}

/* A ustar header; sizes beyond the octal field use base-256 as GNU tar does. */
static void tar_header(unsigned char h[512], const char *name, char type, uint64_t size,
                       unsigned mode)
{
        unsigned sum = 0;

        memset(h, 0, 512);
        memcpy(h, name, strlen(name));
        octal((char *)h + 100, 8, mode);
        octal((char *)h + 108, 8, 0);
        octal((char *)h + 116, 8, 0);
        if (size < 077777777777ULL) {
                octal((char *)h + 124, 12, size);
        } else {
                h[124] = 0x80;
                for (int i = 0; i < 8; i++)
                        h[135 - i] = (unsigned char)(size >> (8 * i));
        }
        octal((char *)h + 136, 12, 0);
        h[156] = (unsigned char)type;
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        memset(h + 148, ' ', 8);
        for (int i = 0; i < 512; i++)
                sum += h[i];
        snprintf((char *)h + 148, 8, "%06o", sum);
}

/* gzip stream = head, then body repeated forever (deflate state reset by Z_FULL_FLUSH, so each
 * 1 MiB of zeros compresses to the same bytes). */
struct bomb {
        unsigned char *head, *body;
        size_t head_len, body_len, pos;
        bool in_head;
        int64_t served;
};

static size_t deflate_piece(z_stream *z, const void *in, size_t len, unsigned char *out, size_t cap)
{
        z->next_in = (unsigned char *)(uintptr_t)in;
        z->avail_in = (uInt)len;
        z->next_out = out;
        z->avail_out = (uInt)cap;
        assert_int_equal(deflate(z, Z_FULL_FLUSH), Z_OK);
        assert_int_equal(z->avail_in, 0);
        assert_true(z->avail_out > 0);
        return cap - z->avail_out;
}

static void bomb_init(struct bomb *b, const unsigned char *prefix, size_t prefix_len)
{
        z_stream z;
        size_t zlen = 1 << 20, cap = 1 << 16;
        unsigned char *zeros = xcalloc(1, zlen), *third = xmalloc(cap);

        memset(&z, 0, sizeof(z));
        assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
        b->head = xmalloc(cap);
        b->body = xmalloc(cap);
        b->head_len = deflate_piece(&z, prefix ? (const void *)prefix : zeros,
                                    prefix ? prefix_len : zlen, b->head, cap);
        b->body_len = deflate_piece(&z, zeros, zlen, b->body, cap);
        size_t n = deflate_piece(&z, zeros, zlen, third, cap);
        assert_int_equal(n, b->body_len);
        assert_memory_equal(third, b->body, n);
        deflateEnd(&z);
        free(zeros);
        free(third);
        b->in_head = true;
        b->pos = 0;
        b->served = 0;
}

static int bomb_read(void *ctx, void *buf, size_t cap, size_t *got, it_error *err)
{
        struct bomb *b = ctx;
        const unsigned char *src = b->in_head ? b->head : b->body;
        size_t len = b->in_head ? b->head_len : b->body_len;
        size_t n = len - b->pos;

        (void)err;
        if (n > cap)
                n = cap;
        memcpy(buf, src + b->pos, n);
        b->pos += n;
        if (b->pos == len) {
                b->pos = 0;
                b->in_head = false;
        }
        b->served += (int64_t)n;
        *got = n;
        return 0;
}

static void bomb_free(struct bomb *b)
{
        free(b->head);
        free(b->body);
}

static const struct it_digest any_digest = {IT_DIGEST_SHA256, "00000000000000000000000000000000"
                                                              "00000000000000000000000000000000"};

static void test_gzip_bomb_small_limit(void **state)
{
        struct fx *f = *state;
        unsigned char h[512];
        struct bomb b;
        struct it_unpack_opts o;
        struct it_unpack_stats st;

        /* A 20 GiB file: refused by its header before anything is written. */
        tar_header(h, "bomb", '0', (uint64_t)20 << 30, 0644);
        bomb_init(&b, h, sizeof(h));
        unpack_opts_init(&o, MT_GZIP);
        o.compressed = o.diff_id = &any_digest;
        o.limits.max_bytes = 1 << 20;
        {
                _cleanup_error_ it_error err = IT_ERROR_INIT;
                assert_int_equal(unpack_layer(f->fd, bomb_read, &b, &o, &st, &err), IT_EINPUT);
                assert_string_equal(err.msg, "entry \"bomb\": size 21474836480 is over the layer "
                                             "limit of 1048576 bytes (--max-layer-bytes)");
                assert_false(exists_in(f, "bomb"));
                assert_true(st.uncompressed_bytes <= 1 << 20);
        }
        bomb_free(&b);

        /* Zeros only: the tar ends at once, the rest still counts (it is part of the diffID). */
        bomb_init(&b, NULL, 0);
        {
                _cleanup_error_ it_error err = IT_ERROR_INIT;
                assert_int_equal(unpack_layer(f->fd, bomb_read, &b, &o, &st, &err), IT_EINPUT);
                assert_string_equal(err.msg, "layer is larger than 1048576 bytes uncompressed "
                                             "(--max-layer-bytes)");
                assert_true(st.uncompressed_bytes <= (1 << 20) + (64 << 10));
                assert_true(b.served < (1 << 20));
        }
        bomb_free(&b);
        assert_host_untouched(f);
}

static void test_gzip_bomb_default_limit(void **state)
{
        struct fx *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        unsigned char h[512];
        struct bomb b;
        struct it_unpack_opts o;
        struct it_unpack_stats st;

        tar_header(h, "bomb", '0', (uint64_t)20 << 30, 0644);
        bomb_init(&b, h, sizeof(h));
        unpack_opts_init(&o, MT_GZIP);
        o.compressed = o.diff_id = &any_digest;
        assert_int_equal(unpack_layer(f->fd, bomb_read, &b, &o, &st, &err), IT_EINPUT);
        _cleanup_free_ char *line = it_error_format(&err);
        assert_non_null(strstr(line, "entry \"bomb\": layer expands more than 100:1 ("));
        assert_non_null(strstr(line, "(--max-layer-ratio)"));
        struct stat sb = lstat_in(f, "bomb");
        assert_true(sb.st_size < (off_t)2 << 30);
        assert_true(sb.st_size >= (off_t)1 << 29);
        assert_true(st.uncompressed_bytes < (int64_t)2 << 30);
        assert_true(b.served < (int64_t)4 << 20);
        bomb_free(&b);
        assert_host_untouched(f);
}

/* n tiny entries: files f0000000.. or, with same_dir, the directory "d/" again and again. */
struct gen {
        int64_t n, i;
        bool same_dir;
        unsigned char block[512];
        size_t pos; /* bytes of block served; 512 = need next */
        int trailer;
};

static int gen_read(void *ctx, void *buf, size_t cap, size_t *got, it_error *err)
{
        struct gen *g = ctx;
        size_t out = 0;

        (void)err;
        while (out < cap) {
                if (g->pos == 512) {
                        if (g->i < g->n) {
                                char name[32];
                                if (g->same_dir)
                                        snprintf(name, sizeof(name), "d/");
                                else
                                        snprintf(name, sizeof(name), "f%07lld", (long long)g->i);
                                tar_header(g->block, name, g->same_dir ? '5' : '0', 0,
                                           g->same_dir ? 0755 : 0644);
                                g->i++;
                        } else if (g->trailer < 2) {
                                memset(g->block, 0, 512);
                                g->trailer++;
                        } else {
                                break;
                        }
                        g->pos = 0;
                }
                size_t n = 512 - g->pos;
                if (n > cap - out)
                        n = cap - out;
                memcpy((char *)buf + out, g->block + g->pos, n);
                g->pos += n;
                out += n;
        }
        *got = out;
        return 0;
}

static int64_t count_entries(struct fx *f)
{
        DIR *d = opendir(f->layer);
        struct dirent *de;
        int64_t n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

static void test_million_entries_small_limit(void **state)
{
        struct fx *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct gen g = {.n = 1000000, .pos = 512};
        struct it_unpack_opts o;
        struct it_unpack_stats st;

        unpack_opts_init(&o, MT_TAR);
        o.compressed = o.diff_id = &any_digest;
        o.limits.max_entries = 1000;
        assert_int_equal(unpack_layer(f->fd, gen_read, &g, &o, &st, &err), IT_EINPUT);
        assert_string_equal(err.msg, "layer has more than 1000 entries (--max-layer-entries)");
        assert_int_equal(count_entries(f), 1000);
        assert_true(exists_in(f, "f0000999"));
        assert_false(exists_in(f, "f0001000"));
        assert_true(g.i < 1200);
        assert_host_untouched(f);
}

static void test_million_entries_default_limit(void **state)
{
        struct fx *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct gen g = {.n = 1000000, .pos = 512, .same_dir = true};
        struct it_unpack_opts o;
        struct it_unpack_stats st;

        unpack_opts_init(&o, MT_TAR);
        o.compressed = o.diff_id = &any_digest;
        assert_int_equal(o.limits.max_entries, 500000);
        assert_int_equal(unpack_layer(f->fd, gen_read, &g, &o, &st, &err), IT_EINPUT);
        assert_string_equal(err.msg, "layer has more than 500000 entries (--max-layer-entries)");
        assert_int_equal(st.entries, 500001);
        assert_true(g.i < 500200);
        assert_int_equal(count_entries(f), 1);
}

/* A complete generated layer with a few entries passes, and its digests are those computed. */
static void test_generated_ok(void **state)
{
        struct fx *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct gen g = {.n = 50, .pos = 512};
        struct it_unpack_opts o;
        struct it_unpack_stats st;
        unsigned char *all = xmalloc(64 * 512);
        size_t len = 0, got;

        /* The exact stream, to compute its digest. */
        struct gen g2 = g;
        while (gen_read(&g2, all + len, 1000, &got, &err) == 0 && got)
                len += got;
        assert_int_equal(len, 52 * 512);
        struct it_digest d;
        digest_compute(IT_DIGEST_SHA256, all, len, &d);
        unpack_opts_init(&o, MT_TAR);
        o.compressed = o.diff_id = &d;
        if (unpack_layer(f->fd, gen_read, &g, &o, &st, &err))
                fail_msg("%s", err.msg);
        assert_int_equal(count_entries(f), 50);
        assert_int_equal(st.uncompressed_bytes, 52 * 512);
        free(all);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
            T(test_normal_plain),
            T(test_normal_plain_tiny_reads),
            T(test_normal_gzip),
            T(test_normal_docker_gzip),
            T(test_normal_zstd),
            T(test_gzip_members),
            T(test_wrong_compressed_digest),
            T(test_wrong_diff_id),
            T(test_plain_digest_is_diff_id),
            T(test_media_type_mismatch),
            T(test_empty_and_garbage),
            T(test_endless_trailing_bytes),
            T(test_dotdot),
            T(test_absolute_made_relative),
            T(test_symlink_parent_escape),
            T(test_hardlink_escape),
            T(test_hardlink_to_outside_symlink),
            T(test_dir_replaced_by_symlink),
            T(test_file_over_symlink_and_root),
            T(test_devices_refused),
            T(test_ids_above_map),
            T(test_long_names),
            T(test_utf8_names),
            T(test_whiteouts),
            T(test_bad_whiteouts),
            T(test_whiteout_on_overlay_unsupported),
            T(test_gzip_bomb_small_limit),
            T(test_gzip_bomb_default_limit),
            T(test_million_entries_small_limit),
            T(test_million_entries_default_limit),
            T(test_generated_ok),
#undef T
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
