#include "imgtrust/source.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/json.h"
#include "imgtrust/manifest.h"
#include "imgtrust/registry.h"
#include "imgtrust/xalloc.h"

/* An index of indexes of ... is legal but nothing real nests deeper than this. */
#define NEST_MAX 4
#define QUOTE_MAX 80

int source_openat(int root_fd, const char *rel, const char *what, int *fd, int64_t *size,
                  it_error *err)
{
        *fd = -1;
        int f = it_openat_beneath(root_fd, rel, O_RDONLY | O_NOCTTY | O_NOFOLLOW, 0);
        if (f < 0) {
                if (errno == ELOOP)
                        return it_error_set(err, IT_EINPUT, "%s: is or passes through a symlink",
                                            what);
                if (errno == ENOENT)
                        return it_error_sys(err, IT_EINPUT, errno, "%s", what);
                return it_error_sys(err, IT_EIO, errno, "%s", what);
        }
        _cleanup_close_ int cf = f;
        struct stat st;
        if (fstat(cf, &st) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s", what);
        if (!S_ISREG(st.st_mode))
                return it_error_set(err, IT_EINPUT, "%s: not a regular file", what);
        *size = st.st_size;
        *fd = IT_STEAL_FD(cf);
        return 0;
}

int source_readat(int root_fd, const char *rel, const char *what, size_t max, char **data,
                  size_t *len, it_error *err)
{
        *data = NULL;
        *len = 0;
        _cleanup_close_ int fd = -1;
        int64_t size;
        int rc = source_openat(root_fd, rel, what, &fd, &size, err);
        if (rc)
                return rc;
        if ((uint64_t)size > max)
                return it_error_set(err, IT_EINPUT,
                                    "%s: too large (%lld bytes; at most %zu are read)", what,
                                    (long long)size, max);
        return it_fd_read(fd, what, max, data, len, err);
}

void source_add_blob(struct it_source *src, const struct it_digest *d, int64_t size,
                     const char *media_type)
{
        for (size_t i = 0; i < src->nblobs; i++)
                if (digest_equal(&src->blobs[i].digest, d))
                        return;
        src->blobs = xrealloc(src->blobs, (src->nblobs + 1) * sizeof *src->blobs);
        struct it_source_blob *b = &src->blobs[src->nblobs++];
        b->digest = *d;
        b->size = size;
        b->media_type = xstrdup(media_type ? media_type : "");
        b->is_manifest = false;
}

/* One descriptor ({"mediaType","digest","size"}) at `what`. */
static int add_descriptor(struct it_source *src, const json_t *desc, const char *what,
                          it_error *err)
{
        if (!json_is_object(desc))
                return it_error_set(err, IT_EINPUT, "%s: expected an object, got %s", what,
                                    desc ? it_json_type_name(desc) : "missing");
        const json_t *dg = json_object_get(desc, "digest");
        const json_t *sz = json_object_get(desc, "size");
        const json_t *mt = json_object_get(desc, "mediaType");
        if (!json_is_string(dg))
                return it_error_set(err, IT_EINPUT, "%s.digest: expected a string", what);
        struct it_digest d;
        int rc = digest_parse(json_string_value(dg), &d, err);
        if (rc)
                return it_error_wrap(err, "%s.digest", what);
        int64_t size = -1;
        if (sz) {
                if (!json_is_integer(sz) || json_integer_value(sz) < 0)
                        return it_error_set(err, IT_EINPUT,
                                            "%s.size: expected a non-negative integer", what);
                size = json_integer_value(sz);
        }
        if (mt && !json_is_string(mt))
                return it_error_set(err, IT_EINPUT, "%s.mediaType: expected a string", what);
        source_add_blob(src, &d, size, mt ? json_string_value(mt) : "");
        return 0;
}

static int collect(struct it_source *src, const char *m, size_t len, const char *mt, int depth,
                   it_error *err);
static int open_blob_raw(struct it_source *src, const struct it_digest *d, int *fd, int64_t *size,
                         it_error *err);

static int collect_list(struct it_source *src, const char *m, size_t len, int depth, it_error *err)
{
        if (depth >= NEST_MAX)
                return it_error_set(err, IT_EINPUT, "manifest lists nested deeper than %d",
                                    NEST_MAX);
        _cleanup_manifest_list_ struct it_manifest_list l = IT_MANIFEST_LIST_INIT;
        int rc = manifest_list_instances(m, len, &l, err);
        if (rc)
                return rc;
        for (size_t i = 0; i < l.n; i++) {
                const struct it_manifest_instance *in = &l.v[i];
                char ds[IT_DIGEST_STR_MAX];
                digest_format(&in->digest, ds);
                source_add_blob(src, &in->digest, in->size, in->media_type);
                for (size_t k = 0; k < src->nblobs; k++)
                        if (digest_equal(&src->blobs[k].digest, &in->digest))
                                src->blobs[k].is_manifest = true;
                _cleanup_free_ char *child = NULL;
                size_t clen;
                rc = source_read_blob(src, &in->digest, IT_MANIFEST_MAX, &child, &clen, err);
                if (rc)
                        return it_error_wrap(err, "manifests[%zu]", i);
                if (in->size >= 0 && (uint64_t)in->size != clen)
                        return it_error_set(err, IT_EINPUT,
                                            "manifests[%zu]: %s has %zu bytes, the index says "
                                            "%lld",
                                            i, ds, clen, (long long)in->size);
                const char *cmt = manifest_media_type(child, clen);
                rc = collect(src, child, clen, cmt, depth + 1, err);
                if (rc)
                        return it_error_wrap(err, "manifests[%zu] %s", i, ds);
        }
        return 0;
}

static int collect(struct it_source *src, const char *m, size_t len, const char *mt, int depth,
                   it_error *err)
{
        if (!mt)
                return it_error_set(err, IT_EINPUT, "manifest: unknown manifest type");
        if (manifest_type_is_list(mt))
                return collect_list(src, m, len, depth, err);
        if (strcmp(mt, IT_MT_DOCKER_V2S2) && strcmp(mt, IT_MT_OCI_MANIFEST))
                return it_error_set(err, IT_EUNSUPPORTED, "manifest: type %s is not supported", mt);
        _cleanup_json_ json_t *root = NULL;
        int rc = it_json_parse(m, len, IT_MANIFEST_MAX, "manifest", &root, err);
        if (rc)
                return rc;
        rc = add_descriptor(src, json_object_get(root, "config"), "manifest: config", err);
        if (rc)
                return rc;
        const json_t *layers = json_object_get(root, "layers");
        if (!json_is_array(layers))
                return it_error_set(err, IT_EINPUT, "manifest: layers: expected an array");
        size_t i;
        const json_t *l;
        json_array_foreach(layers, i, l)
        {
                _cleanup_free_ char *what = xasprintf("manifest: layers[%zu]", i);
                rc = add_descriptor(src, l, what, err);
                if (rc)
                        return rc;
        }
        return 0;
}

int source_collect_blobs(struct it_source *src, const char *m, size_t len, const char *mt,
                         it_error *err)
{
        return collect(src, m, len, mt, 0, err);
}

int source_read_blob(struct it_source *src, const struct it_digest *d, size_t max, char **data,
                     size_t *len, it_error *err)
{
        *data = NULL;
        *len = 0;
        char ds[IT_DIGEST_STR_MAX];
        digest_format(d, ds);
        if (src->kind == IT_SOURCE_DOCKER)
                return source_docker_read(src, d, max, data, len, err);
        _cleanup_close_ int fd = -1;
        int64_t size;
        int rc = open_blob_raw(src, d, &fd, &size, err);
        if (rc)
                return rc;
        if ((uint64_t)size > max)
                return it_error_set(err, IT_EINPUT,
                                    "blob %s: too large (%lld bytes; at most %zu are read)", ds,
                                    (long long)size, max);
        _cleanup_free_ char *buf = xmalloc((size_t)size + 1);
        size_t n = 0;
        while (n < (size_t)size) {
                ssize_t r = read(fd, buf + n, (size_t)size - n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return it_error_sys(err, IT_EIO, errno, "blob %s", ds);
                if (r == 0)
                        return it_error_set(err, IT_EIO, "blob %s: truncated", ds);
                n += (size_t)r;
        }
        buf[n] = '\0';
        struct it_digest got;
        digest_compute(d->alg, buf, n, &got);
        if (!digest_equal(&got, d)) {
                char gs[IT_DIGEST_STR_MAX];
                digest_format(&got, gs);
                return it_error_set(err, IT_EINPUT, "blob %s: content has digest %s", ds, gs);
        }
        *data = IT_STEAL(buf);
        *len = n;
        return 0;
}

static int open_blob_raw(struct it_source *src, const struct it_digest *d, int *fd, int64_t *size,
                         it_error *err)
{
        *fd = -1;
        *size = 0;
        switch (src->kind) {
        case IT_SOURCE_OCI:
                return source_oci_open_blob(src, d, fd, size, err);
        case IT_SOURCE_DIR:
                return source_dir_open_blob(src, d, fd, size, err);
        case IT_SOURCE_DOCKER_ARCHIVE:
                return source_archive_open_blob(src, d, fd, size, err);
        case IT_SOURCE_DOCKER:
                return source_docker_fetch(src, src->client, d, fd, size, err);
        }
        return it_error_set(err, IT_EINPUT, "unknown source kind");
}

int source_open_blob(struct it_source *src, const struct it_digest *d, int *fd, int64_t *size,
                     it_error *err)
{
        int rc = open_blob_raw(src, d, fd, size, err);
        return rc ? it_error_wrap(err, "%s", src->name) : 0;
}

void source_free(struct it_source *src)
{
        if (!src)
                return;
        if (src->kind == IT_SOURCE_DOCKER_ARCHIVE)
                source_archive_free_entries(src);
        registry_client_free(src->client);
        free(src->host);
        free(src->repo);
        for (size_t i = 0; i < src->nblobs; i++)
                free(src->blobs[i].media_type);
        free(src->blobs);
        free(src->manifest);
        if (src->root_fd >= 0)
                close(src->root_fd);
        free(src->name);
        free(src->path);
        free(src->tag);
        free(src);
}

/* containers/image splits `PATH:REST` at the first colon: paths with colons cannot be named. */
static void split_path(struct it_source *src, const char *rest)
{
        const char *colon = strchr(rest, ':');
        if (!colon) {
                src->path = xstrdup(rest);
                return;
        }
        src->path = xstrndup(rest, (size_t)(colon - rest));
        if (colon[1])
                src->tag = xstrdup(colon + 1);
}

int source_open(const char *spec, struct it_source **out, it_error *err)
{
        *out = NULL;
        _cleanup_source_ struct it_source *src = xcalloc(1, sizeof *src);
        src->root_fd = -1;
        src->name = xstrdup(spec);
        static const struct {
                const char *prefix;
                enum it_source_kind kind;
        } kinds[] = {
            {"oci:", IT_SOURCE_OCI},
            {"dir:", IT_SOURCE_DIR},
            {"docker-archive:", IT_SOURCE_DOCKER_ARCHIVE},
        };
        const char *rest = NULL;
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
                size_t n = strlen(kinds[i].prefix);
                if (!strncmp(spec, kinds[i].prefix, n)) {
                        src->kind = kinds[i].kind;
                        rest = spec + n;
                        break;
                }
        }
        if (!rest) {
                _cleanup_free_ char *q = it_quote(spec, QUOTE_MAX);
                return it_error_set(err, IT_EINPUT,
                                    "%s: unknown source transport (expected oci:, dir: or "
                                    "docker-archive:)",
                                    q);
        }
        if (src->kind == IT_SOURCE_DIR)
                src->path = xstrdup(rest);
        else
                split_path(src, rest);
        if (!*src->path)
                return it_error_set(err, IT_EINPUT, "%s: empty path", spec);

        int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY;
        if (src->kind != IT_SOURCE_DOCKER_ARCHIVE)
                flags |= O_DIRECTORY;
        src->root_fd = open(src->path, flags);
        if (src->root_fd < 0)
                return it_error_sys(err, errno == ENOENT || errno == ENOTDIR ? IT_EINPUT : IT_EIO,
                                    errno, "%s: %s", spec, src->path);

        int rc;
        switch (src->kind) {
        case IT_SOURCE_OCI:
                rc = source_oci_load(src, err);
                break;
        case IT_SOURCE_DIR:
                rc = source_dir_load(src, err);
                break;
        default:
                rc = source_archive_load(src, err);
                break;
        }
        if (rc)
                return it_error_wrap(err, "%s", spec);
        *out = IT_STEAL(src);
        return 0;
}
