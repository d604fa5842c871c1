/* oci:PATH[:TAG] — an OCI image layout: index.json naming manifests, blobs/<alg>/<hex>. */
#include <string.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/json.h"
#include "imgtrust/manifest.h"
#include "imgtrust/source.h"
#include "imgtrust/xalloc.h"

#define REF_NAME "org.opencontainers.image.ref.name"
#define QUOTE_MAX 80

int source_oci_open_blob(struct it_source *src, const struct it_digest *d, int *fd, int64_t *size,
                         it_error *err)
{
        /* d is validated: algorithm name and lowercase hex only, so the path stays in blobs/. */
        _cleanup_free_ char *rel = xasprintf("blobs/%s/%s", digest_alg_name(d->alg), d->hex);
        return source_openat(src->root_fd, rel, rel, fd, size, err);
}

/* containers/image only matches entries that are image manifests or indexes. */
static bool selectable(const json_t *e)
{
        const json_t *mt = json_object_get(e, "mediaType");
        const char *s = json_is_string(mt) ? json_string_value(mt) : "";
        return !strcmp(s, IT_MT_OCI_MANIFEST) || !strcmp(s, IT_MT_OCI_INDEX);
}

static const char *ref_name(const json_t *e)
{
        const json_t *ann = json_object_get(e, "annotations");
        const json_t *rn = json_is_object(ann) ? json_object_get(ann, REF_NAME) : NULL;
        return json_is_string(rn) ? json_string_value(rn) : NULL;
}

static int pick_entry(struct it_source *src, const json_t *mans, size_t *idx, it_error *err)
{
        if (!src->tag) {
                if (json_array_size(mans) != 1)
                        return it_error_set(err, IT_EINPUT,
                                            "index.json: %zu images and no tag given (choose one "
                                            "with oci:PATH:TAG)",
                                            json_array_size(mans));
                *idx = 0;
                return 0;
        }
        _cleanup_buf_ struct it_buf tags = IT_BUF_INIT;
        size_t i;
        const json_t *e;
        json_array_foreach(mans, i, e)
        {
                if (!json_is_object(e))
                        return it_error_set(err, IT_EINPUT,
                                            "index.json: manifests[%zu]: expected an object", i);
                const char *rn = ref_name(e);
                if (!rn || !selectable(e))
                        continue;
                if (!strcmp(rn, src->tag)) {
                        *idx = i;
                        return 0;
                }
                if (tags.len)
                        it_buf_adds(&tags, ", ");
                it_buf_add_quoted(&tags, rn, strlen(rn), QUOTE_MAX);
        }
        _cleanup_free_ char *q = it_quote(src->tag, QUOTE_MAX);
        return it_error_set(err, IT_EINPUT, "index.json: no image tagged %s (tags: %s)", q,
                            tags.len ? it_buf_str(&tags) : "none");
}

int source_oci_load(struct it_source *src, it_error *err)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        int rc = source_readat(src->root_fd, "index.json", "index.json", IT_SOURCE_JSON_MAX, &data,
                               &len, err);
        if (rc)
                return rc;
        _cleanup_json_ json_t *index = NULL;
        rc = it_json_parse(data, len, IT_SOURCE_JSON_MAX, "index.json", &index, err);
        if (rc)
                return rc;
        const json_t *mans = json_is_object(index) ? json_object_get(index, "manifests") : NULL;
        if (!json_is_array(mans))
                return it_error_set(err, IT_EINPUT, "index.json: manifests: expected an array");
        size_t idx = 0;
        rc = pick_entry(src, mans, &idx, err);
        if (rc)
                return rc;
        const json_t *e = json_array_get(mans, idx);
        if (!json_is_object(e))
                return it_error_set(err, IT_EINPUT,
                                    "index.json: manifests[%zu]: expected an object", idx);
        const json_t *dg = json_object_get(e, "digest");
        if (!json_is_string(dg))
                return it_error_set(err, IT_EINPUT,
                                    "index.json: manifests[%zu].digest: expected a string", idx);
        struct it_digest d;
        rc = digest_parse(json_string_value(dg), &d, err);
        if (rc)
                return it_error_wrap(err, "index.json: manifests[%zu].digest", idx);
        const json_t *sz = json_object_get(e, "size");
        if (sz && (!json_is_integer(sz) || json_integer_value(sz) < 0))
                return it_error_set(err, IT_EINPUT,
                                    "index.json: manifests[%zu].size: expected a non-negative "
                                    "integer",
                                    idx);

        _cleanup_free_ char *m = NULL;
        size_t mlen;
        rc = source_read_blob(src, &d, IT_MANIFEST_MAX, &m, &mlen, err);
        if (rc)
                return it_error_wrap(err, "index.json: manifests[%zu]", idx);
        if (sz && (uint64_t)json_integer_value(sz) != mlen)
                return it_error_set(err, IT_EINPUT,
                                    "index.json: manifests[%zu]: manifest has %zu bytes, the "
                                    "index says %lld",
                                    idx, mlen, (long long)json_integer_value(sz));
        src->media_type = manifest_media_type(m, mlen);
        if (!src->media_type)
                return it_error_set(err, IT_EINPUT,
                                    "index.json: manifests[%zu]: unknown manifest type", idx);
        rc = manifest_digest(m, mlen, &src->digest, err);
        if (rc)
                return rc;
        rc = source_collect_blobs(src, m, mlen, src->media_type, err);
        if (rc)
                return rc;
        src->manifest_len = mlen;
        src->manifest = IT_STEAL(m);
        return 0;
}
