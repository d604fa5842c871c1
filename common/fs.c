#include "imgtrust/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/xalloc.h"

int it_openat_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
        struct open_how how = {
            .flags = (uint64_t)(flags | O_CLOEXEC),
            .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        long fd;
        do
                fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
        while (fd < 0 && (errno == EINTR || errno == EAGAIN));
        return (int)fd;
}

bool it_path_exists(const char *path)
{
        struct stat st;
        return stat(path, &st) == 0;
}

int it_fd_read(int fd, const char *what, size_t max, char **data, size_t *len, it_error *err)
{
        *data = NULL;
        *len = 0;
        struct stat st;
        if (fstat(fd, &st) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s", what);
        if (!S_ISREG(st.st_mode))
                return it_error_set(err, IT_EINPUT, "%s: not a regular file", what);
        if ((unsigned long long)st.st_size > max)
                return it_error_set(err, IT_EINPUT,
                                    "%s: too large (%lld bytes; at most %zu are read)", what,
                                    (long long)st.st_size, max);
        /* The size can change under us; read at most max+1 bytes whatever fstat said. Files of
         * /proc say 0 and some (sysctls) answer only a first read whole: start with a page. */
        size_t cap = (size_t)st.st_size + 1, n = 0;
        if (cap < 4096)
                cap = max + 1 < 4096 ? max + 1 : 4096;
        _cleanup_free_ char *buf = xmalloc(cap + 1);
        for (;;) {
                if (n == cap) {
                        if (cap > max)
                                return it_error_set(err, IT_EINPUT,
                                                    "%s: too large (at most %zu bytes are read)",
                                                    what, max);
                        cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
                        buf = xrealloc(buf, cap + 1);
                }
                ssize_t r = read(fd, buf + n, cap - n);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return it_error_sys(err, IT_EIO, errno, "%s", what);
                }
                if (r == 0)
                        break;
                n += (size_t)r;
        }
        if (n > max)
                return it_error_set(err, IT_EINPUT, "%s: too large (at most %zu bytes are read)",
                                    what, max);
        buf[n] = '\0';
        *data = IT_STEAL(buf);
        *len = n;
        return 0;
}

int it_file_read(const char *path, size_t max, char **data, size_t *len, it_error *err)
{
        *data = NULL;
        *len = 0;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s", path);
        return it_fd_read(fd, path, max, data, len, err);
}

int it_write_all(int fd, const void *data, size_t len)
{
        const char *p = data;
        while (len) {
                ssize_t w = write(fd, p, len);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                p += w;
                len -= (size_t)w;
        }
        return 0;
}

/* The rename is done by now; a failed directory sync is not worth undoing it for. */
static void sync_dir(const char *dir)
{
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0)
                (void)fsync(dfd);
}

int it_file_replace(const char *path_in, const void *data, size_t len, mode_t mode, it_error *err)
{
        /* A configuration file that is a symlink is replaced where it really lives, as a program
         * writing in place would; replacing the link itself would silently detach it. */
        _cleanup_free_ char *resolved = NULL;
        struct stat lst;
        if (lstat(path_in, &lst) == 0 && S_ISLNK(lst.st_mode)) {
                resolved = realpath(path_in, NULL);
                if (!resolved)
                        return it_error_sys(err, IT_EIO, errno, "%s", path_in);
        }
        const char *path = resolved ? resolved : path_in;
        _cleanup_free_ char *dcopy = xstrdup(path);
        _cleanup_free_ char *bcopy = xstrdup(path);
        const char *dir = dirname(dcopy);
        const char *base = basename(bcopy);
        _cleanup_free_ char *tmp = xasprintf("%s/.%s.XXXXXX", dir, base);

        struct stat st;
        if (stat(path, &st) == 0) {
                if (!S_ISREG(st.st_mode))
                        return it_error_set(err, IT_EINPUT, "%s: not a regular file", path);
                mode = st.st_mode & 07777;
        } else if (errno != ENOENT) {
                return it_error_sys(err, IT_EIO, errno, "%s", path);
        }

        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s: cannot create a temporary file in %s",
                                    path, dir);
        int saved;
        if (it_write_all(fd, data, len) != 0 || fchmod(fd, mode) != 0 || fsync(fd) != 0)
                goto fail;
        if (close(IT_STEAL_FD(fd)) != 0)
                goto fail;
        if (rename(tmp, path) != 0)
                goto fail;
        sync_dir(dir);
        return 0;
fail:
        saved = errno;
        unlink(tmp);
        return it_error_sys(err, IT_EIO, saved, "%s: cannot write", path);
}
