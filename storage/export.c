/* The merged root filesystem of an image as a pax tar stream (imgtrust/export.h). */
#include "imgtrust/export.h"
#include "imgtrust/fs.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
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
#include "imgtrust/mount.h"
#include "imgtrust/strv.h"
#include "imgtrust/xalloc.h"

#define COPY_BUF (128 * 1024)
#define XATTR_LIST_MAX_ (64 * 1024)
#define XATTR_VALUE_MAX (64 * 1024)

struct walk {
        struct archive *a;
        struct archive_entry_linkresolver *lr;
        char *buf; /* COPY_BUF bytes */
};

static int open_in(int dirfd, const char *name, int flags)
{
        return it_openat_beneath(dirfd, name, flags | O_NOFOLLOW, 0);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ar_error(struct archive *a, const char *path, it_error *err)
{
        int e = archive_errno(a);
        const char *m = archive_error_string(a);
        if (e > 0)
                return it_error_sys(err, IT_EIO, e, "tar entry %s: %s", path, m ? m : "write");
        return it_error_set(err, IT_EIO, "tar entry %s: %s", path, m ? m : "write failed");
}

static bool overlay_private(const char *name)
{
        return strncmp(name, "user.overlay.", 13) == 0 ||
               strncmp(name, "trusted.overlay.", 16) == 0;
}

/* The file's extended attributes, sorted by name, the overlay's own left out. */
static int add_xattrs(int fd, struct archive_entry *e, const char *path, it_error *err)
{
        _cleanup_free_ char *list = xmalloc(XATTR_LIST_MAX_);
        ssize_t n = flistxattr(fd, list, XATTR_LIST_MAX_);
        if (n < 0) {
                if (errno == ENOTSUP || errno == EOPNOTSUPP)
                        return 0;
                return it_error_sys(err, IT_EIO, errno, "%s: listing extended attributes", path);
        }
        _cleanup_strv_ struct it_strv names = IT_STRV_INIT;
        for (ssize_t i = 0; i < n;) {
                const char *nm = list + i;
                size_t l = strnlen(nm, (size_t)(n - i));
                if (l && !overlay_private(nm))
                        it_strv_take(&names, xstrndup(nm, l));
                i += (ssize_t)l + 1;
        }
        if (names.n > 1)
                qsort(names.v, names.n, sizeof *names.v, cmp_str);
        _cleanup_free_ char *val = xmalloc(XATTR_VALUE_MAX);
        for (size_t i = 0; i < names.n; i++) {
                ssize_t vl = fgetxattr(fd, names.v[i], val, XATTR_VALUE_MAX);
                if (vl < 0) {
                        if (errno == ENODATA)
                                continue; /* removed meanwhile */
                        return it_error_sys(err, IT_EIO, errno, "%s: extended attribute %s", path,
                                            names.v[i]);
                }
                archive_entry_xattr_add_entry(e, names.v[i], val, (size_t)vl);
        }
        return 0;
}

static int copy_data(struct walk *w, int fd, int64_t size, const char *path, it_error *err)
{
        int64_t left = size;
        while (left > 0) {
                size_t want = left > COPY_BUF ? COPY_BUF : (size_t)left;
                ssize_t n = read(fd, w->buf, want);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return it_error_sys(err, IT_EIO, errno, "%s: read", path);
                if (n == 0)
                        return it_error_set(err, IT_EIO, "%s: file shrank while being read", path);
                if (archive_write_data(w->a, w->buf, (size_t)n) != n)
                        return ar_error(w->a, path, err);
                left -= n;
        }
        return 0;
}

static int write_entry(struct walk *w, struct archive_entry *entry, int fd, const char *path,
                       it_error *err)
{
        struct archive_entry *e = entry, *sparse = NULL;
        /* For tar the resolver hands every entry straight back: the first of a set of links as
         * is, the later ones as hardlinks to it with no data. */
        archive_entry_linkify(w->lr, &e, &sparse);
        if (!e)
                return 0;
        if (archive_write_header(w->a, e) != ARCHIVE_OK)
                return ar_error(w->a, path, err);
        if (archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e) &&
            archive_entry_size(e) > 0)
                return copy_data(w, fd, archive_entry_size(e), path, err);
        return 0;
}

static int walk_dir(struct walk *w, int dirfd, const char *prefix, int depth, it_error *err);

static void entry_free(struct archive_entry **e)
{
        if (*e)
                archive_entry_free(*e);
}

static int walk_one(struct walk *w, int dirfd, const char *prefix, const char *name, int depth,
                    it_error *err)
{
        _cleanup_free_ char *path = xasprintf("%s%s", prefix, name);
        struct stat sb;
        if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT)
                        return 0;
                return it_error_sys(err, IT_EIO, errno, "%s", path);
        }
        _cleanup_close_ int fd = -1;
        if (S_ISDIR(sb.st_mode) || S_ISREG(sb.st_mode)) {
                fd = open_in(dirfd, name,
                             S_ISDIR(sb.st_mode) ? O_RDONLY | O_DIRECTORY : O_RDONLY | O_NONBLOCK);
                /* The type may have changed since fstatat: describe what we opened. */
                if (fd < 0 || fstat(fd, &sb) != 0)
                        return it_error_sys(err, IT_EIO, errno, "%s", path);
        } else if (S_ISSOCK(sb.st_mode)) {
                return 0;
        }
        __attribute__((cleanup(entry_free))) struct archive_entry *e = archive_entry_new();
        archive_entry_set_uid(e, sb.st_uid);
        archive_entry_set_gid(e, sb.st_gid);
        archive_entry_set_perm(e, sb.st_mode & 07777);
        archive_entry_set_mtime(e, sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec);
        int rc = 0;
        if (S_ISDIR(sb.st_mode)) {
                _cleanup_free_ char *dpath = xasprintf("%s/", path);
                archive_entry_set_pathname(e, dpath);
                archive_entry_set_filetype(e, AE_IFDIR);
                if ((rc = add_xattrs(fd, e, path, err)) < 0 ||
                    (rc = write_entry(w, e, -1, dpath, err)) < 0)
                        return rc;
                if (depth + 1 > IT_EXPORT_DEPTH_MAX)
                        return it_error_set(err, IT_EINPUT, "%s: deeper than %d directories", dpath,
                                            IT_EXPORT_DEPTH_MAX);
                return walk_dir(w, fd, dpath, depth + 1, err);
        }
        archive_entry_set_pathname(e, path);
        archive_entry_set_dev(e, sb.st_dev);
        archive_entry_set_ino64(e, (int64_t)sb.st_ino);
        archive_entry_set_nlink(e, (unsigned)sb.st_nlink);
        if (S_ISREG(sb.st_mode)) {
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_size(e, sb.st_size);
                if ((rc = add_xattrs(fd, e, path, err)) < 0)
                        return rc;
                return write_entry(w, e, fd, path, err);
        }
        if (S_ISLNK(sb.st_mode)) {
                char target[4097];
                ssize_t n = readlinkat(dirfd, name, target, sizeof target);
                if (n < 0)
                        return it_error_sys(err, IT_EIO, errno, "%s: readlink", path);
                if ((size_t)n >= sizeof target)
                        return it_error_set(err, IT_EINPUT, "%s: symlink target too long", path);
                target[n] = '\0';
                archive_entry_set_filetype(e, AE_IFLNK);
                archive_entry_set_symlink(e, target);
                return write_entry(w, e, -1, path, err);
        }
        archive_entry_set_filetype(e, S_ISCHR(sb.st_mode)   ? AE_IFCHR
                                      : S_ISBLK(sb.st_mode) ? AE_IFBLK
                                                            : AE_IFIFO);
        archive_entry_set_rdevmajor(e, major(sb.st_rdev));
        archive_entry_set_rdevminor(e, minor(sb.st_rdev));
        return write_entry(w, e, -1, path, err);
}

static int walk_dir(struct walk *w, int dirfd, const char *prefix, int depth, it_error *err)
{
        int dfd = open_in(dirfd, ".", O_RDONLY | O_DIRECTORY);
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d) {
                int rc = it_error_sys(err, IT_EIO, errno, "%s", *prefix ? prefix : "/");
                if (dfd >= 0)
                        close(dfd);
                return rc;
        }
        _cleanup_strv_ struct it_strv names = IT_STRV_INIT;
        struct dirent *de;
        errno = 0;
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        it_strv_push(&names, de->d_name);
                errno = 0;
        }
        int e = errno;
        closedir(d);
        if (e)
                return it_error_sys(err, IT_EIO, e, "%s: readdir", *prefix ? prefix : "/");
        if (names.n > 1)
                qsort(names.v, names.n, sizeof *names.v, cmp_str);
        for (size_t i = 0; i < names.n; i++) {
                int rc = walk_one(w, dirfd, prefix, names.v[i], depth, err);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

int export_tree(int root, int outfd, it_error *err)
{
        struct walk w = {archive_write_new(), archive_entry_linkresolver_new(), xmalloc(COPY_BUF)};
        int rc = 0;
        if (!w.a || !w.lr)
                abort();
        if (archive_write_set_format_pax(w.a) != ARCHIVE_OK ||
            archive_write_set_option(w.a, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||
            archive_write_set_bytes_in_last_block(w.a, 1) != ARCHIVE_OK ||
            archive_write_open_fd(w.a, outfd) != ARCHIVE_OK)
                rc = ar_error(w.a, "(start)", err);
        if (rc == 0) {
                archive_entry_linkresolver_set_strategy(w.lr, archive_format(w.a));
                rc = walk_dir(&w, root, "", 0, err);
        }
        if (rc == 0 && archive_write_close(w.a) != ARCHIVE_OK)
                rc = ar_error(w.a, "(end)", err);
        archive_entry_linkresolver_free(w.lr);
        archive_write_free(w.a);
        free(w.buf);
        return rc;
}

struct export_ctx {
        struct it_store *st;
        const struct it_store_image *img;
        int outfd;
};

static int export_child(void *arg, it_error *err)
{
        struct export_ctx *c = arg;
        _cleanup_close_ int root = -1;
        int rc = mount_overlay(c->st, c->img, &root, err);
        if (rc < 0)
                return rc;
        if ((rc = export_tree(root, c->outfd, err)) < 0)
                return it_error_wrap(err, "exporting image %s", c->img->id);
        return 0;
}

int export_image(struct it_store *st, const struct it_idmap *map, const struct it_store_image *img,
                 int outfd, it_error *err)
{
        struct export_ctx c = {st, img, outfd};
        fflush(NULL);
        return userns_run(map, USERNS_NEWNS, export_child, &c, err);
}
