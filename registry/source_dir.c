/* dir:PATH — skopeo's directory layout: manifest.json, version, blobs named by digest hex, and the
 * manifests of an index's children as <hex>.manifest.json. */
#include <errno.h>
#include <stdbool.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/manifest.h"
#include "imgtrust/source.h"
#include "imgtrust/xalloc.h"

int source_dir_open_blob(struct it_source *src, const struct it_digest *d, int *fd, int64_t *size,
                         it_error *err)
{
        /* d is validated: lowercase hex only, so names stay in the directory. Children of an
         * index are <hex>.manifest.json, <alg>-<hex>.manifest.json for other algorithms than
         * sha256 (spec §9.1); skopeo 1.9.3 writes sha256 blobs only, named by the hex. */
        bool sha256 = d->alg == IT_DIGEST_SHA256;
        _cleanup_free_ char *mrel =
            sha256 ? xasprintf("%s.manifest.json", d->hex)
                   : xasprintf("%s-%s.manifest.json", digest_alg_name(d->alg), d->hex);
        if (!sha256)
                return source_openat(src->root_fd, mrel, mrel, fd, size, err);
        int rc = source_openat(src->root_fd, d->hex, d->hex, fd, size, err);
        if (rc != IT_EINPUT || err->sys_errno != ENOENT)
                return rc;
        _cleanup_error_ it_error first = IT_ERROR_INIT;
        it_error_move(&first, err);
        rc = source_openat(src->root_fd, mrel, mrel, fd, size, err);
        if (rc && err->sys_errno == ENOENT)
                it_error_move(err, &first);
        return rc;
}

int source_dir_load(struct it_source *src, it_error *err)
{
        _cleanup_free_ char *m = NULL;
        size_t mlen;
        int rc = source_readat(src->root_fd, "manifest.json", "manifest.json", IT_MANIFEST_MAX, &m,
                               &mlen, err);
        if (rc)
                return rc;
        src->media_type = manifest_media_type(m, mlen);
        if (!src->media_type)
                return it_error_set(err, IT_EINPUT, "manifest.json: unknown manifest type");
        rc = manifest_digest(m, mlen, &src->digest, err);
        if (rc)
                return it_error_wrap(err, "manifest.json");
        rc = source_collect_blobs(src, m, mlen, src->media_type, err);
        if (rc)
                return it_error_wrap(err, "manifest.json");
        src->manifest_len = mlen;
        src->manifest = IT_STEAL(m);
        return 0;
}
