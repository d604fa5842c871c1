/* docker://REF as a push source: the manifest the source registry serves, blobs fetched into
 * unnamed temporary files (digest-checked before anyone reads them). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/manifest.h"
#include "imgtrust/registry.h"
#include "imgtrust/registry_write.h"
#include "imgtrust/source.h"
#include "imgtrust/xalloc.h"

/* Blobs of unknown size are refused beyond this (a registry must not fill the disk). */
#define BLOB_MAX ((int64_t)64 << 30)

int source_open_docker(const char *name, struct it_registry *client, const char *host,
                       const char *repo, const char *ref, struct it_source **out, it_error *err)
{
        *out = NULL;
        _cleanup_source_ struct it_source *src = xcalloc(1, sizeof *src);
        src->kind = IT_SOURCE_DOCKER;
        src->root_fd = -1;
        src->client = client;
        src->name = xstrdup(name);
        src->host = xstrdup(host);
        src->repo = xstrdup(repo);
        src->tag = strchr(ref, ':') ? NULL : xstrdup(ref);
        struct it_buf body = IT_BUF_INIT;
        _cleanup_free_ char *mt = NULL;
        int rc = registry_get_manifest(client, repo, ref, NULL, &body, &mt, &src->digest, err);
        if (rc) {
                it_buf_free(&body);
                return it_error_wrap(err, "%s", name);
        }
        src->manifest_len = body.len;
        src->manifest = it_buf_detach(&body);
        src->media_type = manifest_media_type(src->manifest, src->manifest_len);
        /* A body that does not say its type: the registry's Content-Type then decides. */
        for (const char *const *a = it_manifest_accept_default; !src->media_type && mt && *a; a++)
                if (!strcmp(mt, *a))
                        src->media_type = *a;
        if (!src->media_type)
                return it_error_set(err, IT_EUNSUPPORTED, "%s: manifest of unknown type %s", name,
                                    mt && *mt ? mt : "(none)");
        if (!strcmp(src->media_type, IT_MT_DOCKER_V2S1) ||
            !strcmp(src->media_type, IT_MT_DOCKER_V2S1_SIGNED))
                return it_error_set(err, IT_EUNSUPPORTED,
                                    "%s: schema 1 manifests are not supported", name);
        rc = source_collect_blobs(src, src->manifest, src->manifest_len, src->media_type, err);
        if (rc)
                return it_error_wrap(err, "%s", name);
        *out = IT_STEAL(src);
        return 0;
}

static const struct it_source_blob *find_blob(const struct it_source *src,
                                              const struct it_digest *d)
{
        for (size_t i = 0; i < src->nblobs; i++)
                if (digest_equal(&src->blobs[i].digest, d))
                        return &src->blobs[i];
        return NULL;
}

static int to_fd(void *ctx, const void *data, size_t len, it_error *err)
{
        int fd = *(int *)ctx;
        if (it_write_all(fd, data, len) != 0)
                return it_error_sys(err, IT_EIO, errno, "writing a temporary file");
        return 0;
}

int source_docker_fetch(struct it_source *src, struct it_registry *client,
                        const struct it_digest *d, int *fd, int64_t *size, it_error *err)
{
        *fd = -1;
        *size = 0;
        char ds[IT_DIGEST_STR_MAX];
        digest_format(d, ds);
        const struct it_source_blob *b = find_blob(src, d);
        if (!b)
                return it_error_set(err, IT_EINPUT, "blob %s: not in the image", ds);
        const char *tmp = getenv("TMPDIR");
        if (!tmp || !*tmp)
                tmp = "/var/tmp";
        _cleanup_close_ int f = open(tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (f < 0)
                return it_error_sys(err, IT_EIO, errno, "%s: temporary file for blob %s", tmp, ds);
        int64_t max = b->size >= 0 ? b->size : BLOB_MAX;
        int rc = registry_blob_get(client, src->repo, ds, to_fd, &f, max, err);
        if (rc)
                return rc;
        off_t end = lseek(f, 0, SEEK_END);
        if (end < 0 || lseek(f, 0, SEEK_SET) < 0)
                return it_error_sys(err, IT_EIO, errno, "blob %s: temporary file", ds);
        if (b->size >= 0 && end != b->size)
                return it_error_set(err, IT_EIO, "blob %s: %lld bytes, the manifest says %lld", ds,
                                    (long long)end, (long long)b->size);
        *size = end;
        *fd = IT_STEAL_FD(f);
        return 0;
}

static int to_buf(void *ctx, const void *data, size_t len, it_error *err)
{
        (void)err;
        it_buf_add(ctx, data, len);
        return 0;
}

int source_docker_read(struct it_source *src, const struct it_digest *d, size_t max, char **data,
                       size_t *len, it_error *err)
{
        *data = NULL;
        *len = 0;
        char ds[IT_DIGEST_STR_MAX];
        digest_format(d, ds);
        const struct it_source_blob *b = find_blob(src, d);
        struct it_buf body = IT_BUF_INIT;
        int rc;
        if (b && b->is_manifest) {
                struct it_digest got;
                rc =
                    registry_get_manifest(src->client, src->repo, ds, NULL, &body, NULL, &got, err);
                if (!rc && body.len > max)
                        rc = it_error_set(err, IT_EINPUT, "manifest %s: more than %zu bytes", ds,
                                          max);
        } else {
                rc =
                    registry_blob_get(src->client, src->repo, ds, to_buf, &body, (int64_t)max, err);
        }
        if (rc) {
                it_buf_free(&body);
                return rc;
        }
        *len = body.len;
        *data = it_buf_detach(&body);
        return 0;
}
