/* Appending a signature to file:// lookaside storage. Unlike upstream (which rewrites the whole
 * list in place, spec §4.3), a signature is only ever added under a new number, atomically and
 * exclusively, so concurrent signers cannot lose each other's signatures. */
#include "imgtrust/fs.h"
#include "imgtrust/lookaside.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/xalloc.h"

#define QUOTE_MAX 200

static bool has_scheme(const char *url, const char *scheme)
{
        size_t n = strlen(scheme);
        return !strncasecmp(url, scheme, n) && url[n] == ':';
}

/* mkdir -p with mode 0755 for every directory made. */
static int make_parents(const char *dir, it_error *err)
{
        _cleanup_free_ char *p = xstrdup(dir);
        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s != '\0')
                        continue;
                char saved = *s;
                *s = '\0';
                if (mkdir(p, 0755) != 0 && errno != EEXIST)
                        return it_error_sys(err, IT_EIO, errno, "cannot create directory %s", p);
                *s = saved;
                if (!saved)
                        break;
        }
        struct stat st;
        if (stat(dir, &st) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s", dir);
        if (!S_ISDIR(st.st_mode))
                return it_error_set(err, IT_EIO, "%s: not a directory", dir);
        return 0;
}

/* Give tmp the name dst unless dst exists: 0, -EEXIST, or -errno. */
static int place_exclusive(const char *tmp, const char *dst)
{
        if (link(tmp, dst) == 0)
                return 0;
        int e = errno;
        if (e == EEXIST)
                return -EEXIST;
        if (e != EPERM && e != ENOTSUP && e != EOPNOTSUPP && e != EMLINK && e != ENOSYS)
                return -e;
        /* File systems without hard links: an exclusive rename still never replaces. */
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
                return 1;
        return -errno;
}

int lookaside_write_append(const char *base_url, const char *repo_path, const char *digest,
                           const void *blob, size_t len, char **written_path, unsigned *index,
                           it_error *err)
{
        if (written_path)
                *written_path = NULL;
        _cleanup_free_ char *first = NULL;
        int rc = regd_signature_url(base_url, repo_path, digest, 1, &first, err);
        if (rc)
                return rc;
        if (has_scheme(base_url, "http") || has_scheme(base_url, "https")) {
                _cleanup_free_ char *q = it_quote(base_url, QUOTE_MAX);
                return it_error_set(err, IT_EINPUT,
                                    "writing signatures to %s is not supported; configure "
                                    "lookaside-staging: file://... in registries.d for this "
                                    "image",
                                    q);
        }
        if (!has_scheme(base_url, "file")) {
                _cleanup_free_ char *q = it_quote(base_url, QUOTE_MAX);
                return it_error_set(err, IT_EINPUT,
                                    "lookaside %s: unsupported scheme for writing (only file: is)",
                                    q);
        }
        if (len > IT_LOOKASIDE_SIG_MAX)
                return it_error_set(err, IT_EINPUT,
                                    "signature of %zu bytes is larger than readers accept (%u)",
                                    len, IT_LOOKASIDE_SIG_MAX);
        _cleanup_free_ char *path1 = NULL;
        rc = lookaside_file_path(first, &path1, err);
        if (rc)
                return rc;
        char *slash = strrchr(path1, '/');
        _cleanup_free_ char *dir = xstrndup(path1, (size_t)(slash - path1));
        rc = make_parents(dir, err);
        if (rc)
                return rc;

        _cleanup_free_ char *tmp = xasprintf("%s/.signature-tmp.XXXXXX", dir);
        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return it_error_sys(err, IT_EIO, errno, "cannot create a temporary file in %s",
                                    dir);
        if (it_write_all(fd, blob, len) != 0 || fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
                rc = it_error_sys(err, IT_EIO, errno, "%s", tmp);
                unlink(tmp);
                return rc;
        }
        close(IT_STEAL_FD(fd));

        for (unsigned n = 1; n <= IT_LOOKASIDE_MAX_SIGS; n++) {
                _cleanup_free_ char *dst = xasprintf("%s/signature-%u", dir, n);
                int r = place_exclusive(tmp, dst);
                if (r == -EEXIST)
                        continue;
                if (r < 0) {
                        rc = it_error_sys(err, IT_EIO, -r, "cannot create %s", dst);
                        unlink(tmp);
                        return rc;
                }
                if (r == 0)
                        unlink(tmp); /* linked: drop the temporary name */
                _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd >= 0)
                        (void)fsync(dfd);
                if (index)
                        *index = n;
                if (written_path)
                        *written_path = IT_STEAL(dst);
                return 0;
        }
        unlink(tmp);
        return it_error_set(err, IT_EINPUT,
                            "%s already holds %d signatures, the most readers accept for one "
                            "digest",
                            dir, IT_LOOKASIDE_MAX_SIGS);
}

int lookaside_write_base(const struct it_regd *regd, const struct it_ref *ref, char **url,
                         it_error *err)
{
        *url = NULL;
        if (!regd) {
                *url = regd_builtin_default();
                return 0;
        }
        struct it_regd_choice ch;
        int rc = regd_lookaside(regd, ref, IT_REGD_WRITE, &ch, err);
        if (rc)
                return rc;
        *url = IT_STEAL(ch.url);
        regd_choice_free(&ch);
        return 0;
}
