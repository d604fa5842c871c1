/* File helpers: bounded reads and atomic replacement. */
#ifndef IMGTRUST_FS_H
#define IMGTRUST_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "imgtrust/error.h"

/* Read the regular file `path` of at most `max` bytes. *data is allocated, NUL-terminated
 * (the NUL is not counted in *len); the caller frees it. A larger file is IT_EINPUT; a missing or
 * unreadable one IT_EIO with errno kept in err->sys_errno. */
int it_file_read(const char *path, size_t max, char **data, size_t *len, it_error *err);

/* openat2(dirfd, path) confined beneath dirfd: RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS, O_CLOEXEC added, retried on EINTR and EAGAIN. The way every path inside
 * a store, a rootfs or a layout is opened: never by string concatenation, never through a link.
 * Returns the fd, or -1 with errno (ELOOP for a symlink on the way, EXDEV for an escape). */
int it_openat_beneath(int dirfd, const char *path, int flags, mode_t mode);

/* The same for an open descriptor (read from its current offset); `what` names it in messages. */
int it_fd_read(int fd, const char *what, size_t max, char **data, size_t *len, it_error *err);

/* Replace `path` with `data` atomically: a temporary file in the same directory, written, fsynced,
 * given the mode of the file it replaces (or `mode` for a new file), renamed over `path`, and the
 * directory fsynced. A symlink is followed: its target is replaced. On any failure `path` is
 * untouched and the temporary file removed. */
int it_file_replace(const char *path, const void *data, size_t len, mode_t mode, it_error *err);

bool it_path_exists(const char *path);

/* write() all of data, retrying on EINTR. 0, or -1 with errno set. */
int it_write_all(int fd, const void *data, size_t len);

#endif
