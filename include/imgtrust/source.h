/* Images read from local sources, as skopeo names them: `oci:PATH[:TAG]` (an OCI image layout),
 * `dir:PATH` (skopeo's directory layout) and `docker-archive:PATH[:NAME:TAG]` (`docker save`
 * output). They feed pushes: the manifest exactly as stored, the blobs it references, and a way to
 * stream each blob. Blob contents are not hashed here; the consumer hashes what it reads.
 *
 * Every path inside a source directory is opened relative to the directory with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) and must be a regular
 * file: blobs reached through symlinks are refused even when the link stays inside (skopeo follows
 * any symlink; this is stricter). Digests are validated before they become file names.
 *
 * oci: the manifest is the blob of the index.json entry whose org.opencontainers.image.ref.name
 * is TAG (only image manifest and index entries count, as in containers/image), or the only entry
 * when no tag is given; its bytes must hash to the entry's digest. dir: manifest.json, blobs named
 * by digest hex, an index's children as <hex>.manifest.json. docker-archive: the tar is indexed
 * once (ustar, pax and GNU long names; regular files, directories, symlinks that stay inside);
 * the image is the only one, or the one whose RepoTags hold NAME:TAG (also tried with
 * docker.io/library/ and docker.io/ in front); the manifest is synthesised as containers/image
 * does (config digest of the config bytes, layer digests from rootfs.diff_ids, every layer typed
 * ...diff.tar.gzip); layers must be uncompressed. A layer reached through a symlink gets the size
 * of its target, where skopeo 1.9.3 reports the symlink's 0.
 */
#ifndef IMGTRUST_SOURCE_H
#define IMGTRUST_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgtrust/digest.h"
#include "imgtrust/error.h"

/* Bounds on the JSON files of a source (index.json, dir:'s manifest.json, docker save's
 * manifest.json and image configs): containers/image's limits. */
#define IT_SOURCE_JSON_MAX (4u << 20)

enum it_source_kind { IT_SOURCE_OCI, IT_SOURCE_DIR, IT_SOURCE_DOCKER_ARCHIVE, IT_SOURCE_DOCKER };

struct it_registry;

struct it_source_blob {
        struct it_digest digest;
        int64_t size;     /* -1 when the manifest does not say */
        char *media_type; /* owned; "" when the descriptor has none */
        bool is_manifest; /* a child manifest of an index (pushed as a manifest, not a blob) */
};

struct it_tar_entry; /* docker-archive only */

struct it_source {
        enum it_source_kind kind;
        char *name;  /* the string it was opened from, for messages */
        char *path;  /* the directory or archive */
        char *tag;   /* oci: TAG or docker-archive: NAME:TAG; NULL when not given */
        int root_fd; /* the directory (oci:, dir:) or the archive file */

        char *manifest; /* the bytes as stored (docker-archive: synthesised); NUL-terminated */
        size_t manifest_len;
        const char *media_type;  /* static, as manifest_media_type() sniffs it */
        struct it_digest digest; /* manifest_digest() of the bytes */

        /* config and layers of the manifest; for an index each child manifest followed by its
         * config and layers. Each digest appears once, in first-seen order. */
        struct it_source_blob *blobs;
        size_t nblobs;

        /* docker-archive: the archive's entries. */
        struct it_tar_entry *entries;
        size_t nentries;

        /* docker://: the client it was read through (owned), the registry and repository. */
        struct it_registry *client;
        char *host;
        char *repo;
};

/* Open `spec` ("oci:/p", "oci:/p:tag", "dir:/p", "docker-archive:/p.tar[:name:tag]"), read and
 * check its manifest and list its blobs. *out is allocated; free with source_free(). IT_EINPUT for
 * an unknown transport, a malformed or hostile layout, a tag that is not there (the message lists
 * those that are); IT_EIO when a file cannot be read; IT_EUNSUPPORTED for what is valid but not
 * handled (schema 1 manifests, compressed docker-archive layers). Messages name the source and
 * the entry. */
int source_open(const char *spec, struct it_source **out, it_error *err);
void source_free(struct it_source *src);

/* docker://HOST/REPO:REF (or @DIGEST): the manifest the registry serves, read through `client`
 * (taken over by the source, freed with it, even on failure), child manifests of an index read
 * by digest. `name` is the spec for messages. */
int source_open_docker(const char *name, struct it_registry *client, const char *host,
                       const char *repo, const char *ref, struct it_source **out, it_error *err);

/* Download blob d of a docker:// source through `client` (the source's own or another one for
 * another thread) into an unnamed temporary file under $TMPDIR (else /var/tmp), checked against
 * its digest and the size the manifest gives: *fd (the caller closes it) is at offset 0 and
 * holds *size bytes. */
int source_docker_fetch(struct it_source *src, struct it_registry *client,
                        const struct it_digest *d, int *fd, int64_t *size, it_error *err);

/* Open blob `d` for streaming: *fd is a new descriptor (the caller closes it) positioned at the
 * blob's first byte, and exactly *size bytes from there are the blob. Any blob of the source may
 * be asked for, including child manifests of an index. IT_EINPUT when the blob is not in the
 * source, is a symlink or no regular file; IT_EIO when it cannot be opened. */
int source_open_blob(struct it_source *src, const struct it_digest *d, int *fd, int64_t *size,
                     it_error *err);

/* The read-only file `rel` under directory `root_fd`, resolved in that root without symlinks; it
 * must be a regular file. `what` names it in messages. */
int source_openat(int root_fd, const char *rel, const char *what, int *fd, int64_t *size,
                  it_error *err);

/* Read file `rel` under root_fd (as source_openat does) of at most max bytes into *data (allocated,
 * NUL-terminated). */
int source_readat(int root_fd, const char *rel, const char *what, size_t max, char **data,
                  size_t *len, it_error *err);

/* Parse a manifest of `src` and append its blobs (an index: each child, read with
 * source_read_blob and checked against its digest and size, then the child's blobs). Used by the
 * per-transport openers. */
int source_collect_blobs(struct it_source *src, const char *m, size_t len, const char *mt,
                         it_error *err);
void source_add_blob(struct it_source *src, const struct it_digest *d, int64_t size,
                     const char *media_type);

/* Per-transport parts (registry/source_oci.c, source_dir.c, source_archive.c). */
int source_oci_load(struct it_source *src, it_error *err);
int source_oci_open_blob(struct it_source *src, const struct it_digest *d, int *fd, int64_t *size,
                         it_error *err);
int source_dir_load(struct it_source *src, it_error *err);
int source_dir_open_blob(struct it_source *src, const struct it_digest *d, int *fd, int64_t *size,
                         it_error *err);
int source_archive_load(struct it_source *src, it_error *err);
int source_archive_open_blob(struct it_source *src, const struct it_digest *d, int *fd,
                             int64_t *size, it_error *err);
void source_archive_free_entries(struct it_source *src);
/* docker://: a child manifest by digest (a manifest GET), another blob by a blob GET into memory;
 * at most max bytes. */
int source_docker_read(struct it_source *src, const struct it_digest *d, size_t max, char **data,
                       size_t *len, it_error *err);

/* Read the whole blob `d` (at most max bytes) and check it hashes to d: for child manifests and
 * configs. *data is allocated and NUL-terminated. Messages do not name the source (the openers
 * add it). */
int source_read_blob(struct it_source *src, const struct it_digest *d, size_t max, char **data,
                     size_t *len, it_error *err);

#define _cleanup_source_ __attribute__((cleanup(source_freep)))
static inline void source_freep(struct it_source **s)
{
        if (*s)
                source_free(*s);
}

#endif
