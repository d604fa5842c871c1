/* Lookaside signature storage (spec §4): reading signature-1, signature-2, ... from file:// or
 * http(s):// bases, and appending one signature under a file:// base. */
#ifndef IMGTRUST_LOOKASIDE_H
#define IMGTRUST_LOOKASIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgtrust/error.h"
#include "imgtrust/ref.h"
#include "imgtrust/regd.h"

/* Largest signature read (upstream's limit for HTTP; applied to files too). */
#define IT_LOOKASIDE_SIG_MAX (4u << 20)
/* More signatures than this for one digest is an error (spec §4.2; skopeo 1.9.3 has no limit,
 * newer containers/image fails at 128 already). */
#define IT_LOOKASIDE_MAX_SIGS 128

struct it_sig_blob {
        uint8_t *data; /* owned; NUL-terminated for convenience, not counted in len */
        size_t len;
        char *source; /* URL it was read from; owned */
};

struct it_sig_list {
        struct it_sig_blob *v;
        size_t n;
};

#define IT_SIG_LIST_INIT                                                                           \
        {                                                                                          \
                0                                                                                  \
        }

void sig_list_free(struct it_sig_list *l);
#define _cleanup_sig_list_ __attribute__((cleanup(sig_list_free)))

struct it_lookaside_opts {
        bool tls_verify; /* for https bases; the registry connection's setting */
};

/* Read every signature of `digest` for repository path repo_path (no domain) below base_url:
 * N = 1, 2, ... until the first missing one (spec §4.2). file://: ENOENT ends the list, other
 * errors fail; http(s)://: 200 is a signature (at most IT_LOOKASIDE_SIG_MAX bytes), 404 ends
 * the list, any other status or transport error fails naming the URL. More than
 * IT_LOOKASIDE_MAX_SIGS is an error; other schemes are "unsupported scheme". The digest and path
 * are validated before anything is accessed. Blobs are returned raw, in order; *out is filled
 * (free with sig_list_free) and left empty on error. opts NULL: TLS verified. */
int lookaside_read(const char *base_url, const char *repo_path, const char *digest,
                   struct it_sig_list *out, it_error *err);
int lookaside_read_opts(const char *base_url, const char *repo_path, const char *digest,
                        const struct it_lookaside_opts *opts, struct it_sig_list *out,
                        it_error *err);

/* The file system path of a file:// URL: the path component (host ignored), percent-decoded.
 * Allocated. IT_EINPUT for another scheme or a bad escape. */
int lookaside_file_path(const char *url, char **path, it_error *err);

/* Add blob as the lowest free signature-N (N from 1) of digest under the file:// base_url,
 * never replacing an existing file: the blob is written to a temporary file in the same
 * directory (parents made 0755), made 0644, fsynced, then hard-linked (or renamed with
 * RENAME_NOREPLACE) to signature-N, trying N+1 while the name exists, so concurrent writers
 * each get their own number. *written_path (allocated; may be NULL to not ask) and *index (may
 * be NULL) say where it went. An http(s) base is IT_EINPUT telling the user to configure
 * lookaside-staging; other schemes IT_EINPUT "unsupported scheme"; N beyond
 * IT_LOOKASIDE_MAX_SIGS (no reader would accept the set) IT_EINPUT. */
int lookaside_write_append(const char *base_url, const char *repo_path, const char *digest,
                           const void *blob, size_t len, char **written_path, unsigned *index,
                           it_error *err);

/* The base URL signatures of ref are written to (registries.d write keys, else the built-in
 * default for this user; regd may be NULL for the built-in default). Allocated in *url. */
int lookaside_write_base(const struct it_regd *regd, const struct it_ref *ref, char **url,
                         it_error *err);

#endif
