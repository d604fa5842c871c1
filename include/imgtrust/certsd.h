/* containers-certs.d(5): the TLS files containers/image 5.23 uses for a registry host.
 *
 * The host directory is the first of these that exists (only that one is read):
 *   $HOME/.config/containers/certs.d/HOST   (every user, root included; not $XDG_CONFIG_HOME)
 *   /etc/containers/certs.d/HOST
 *   /etc/docker/certs.d/HOST
 * where HOST is the registry as written in the image name ("host[:port]"; "docker.io" for
 * Docker Hub). A candidate that cannot be looked at for lack of permission is passed over, as
 * upstream does. In the directory, in name order: every *.crt is a CA certificate added to the
 * system pool; every *.cert needs the *.key of the same stem and the other way round (either
 * alone is an error, with upstream's message). */
#ifndef IMGTRUST_CERTSD_H
#define IMGTRUST_CERTSD_H

#include <stddef.h>

#include "imgtrust/buf.h"
#include "imgtrust/error.h"

/* Largest certificate or key file accepted. */
#define IT_CERTSD_FILE_MAX (1u << 20)
/* Most directory entries looked at. */
#define IT_CERTSD_MAX_ENTRIES 4096

struct it_tls_files {
        char **ca_files; /* full paths of the *.crt files, name order, NULL-terminated (or NULL
                            when nca == 0) */
        size_t nca;
        char *client_cert; /* the first *.cert (name order) and its *.key, or both NULL; further
                              pairs are checked but not returned (upstream offers them all to
                              the server, which is rare enough to leave out) */
        char *client_key;
        char *dir; /* the directory read (allocated), or NULL when none exists */
};

#define IT_TLS_FILES_INIT                                                                          \
        {                                                                                          \
                0                                                                                  \
        }

/* The TLS files for host ("host[:port]") under the base directories `dirs` (NULL-terminated;
 * NULL for the defaults above, with $HOME, else the password database, for the first). A host
 * that is empty, holds '/' or is "." or ".." is IT_EINPUT. No directory at all is success with
 * everything NULL. *out is filled with allocated strings (certsd_files_free). */
int certsd_find(const char *host, const char *const *dirs, struct it_tls_files *out, it_error *err);

/* The same for one directory given as is (skopeo's --cert-dir); a missing one gives nothing. */
int certsd_read_dir(const char *dir, struct it_tls_files *out, it_error *err);

/* The default base directories (see above) for home (NULL: $HOME or the password database),
 * appended to *out. */
struct it_strv;
void certsd_default_dirs(const char *home, struct it_strv *out);

/* The CA files' contents one after the other (PEM text, each at most IT_CERTSD_FILE_MAX bytes),
 * appended to *pem, e.g. to add to the system bundle. A file gone since certsd_find is skipped. */
int certsd_read_cas(const struct it_tls_files *f, struct it_buf *pem, it_error *err);

void certsd_files_free(struct it_tls_files *f);

#define _cleanup_tls_files_ __attribute__((cleanup(certsd_files_free)))

#endif
