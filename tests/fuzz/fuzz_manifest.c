/* Fuzz manifest digests, media type sniffing and manifest list parsing: every error is one
 * bounded line; a digest is that of the raw bytes unless the manifest is signed schema 1; every
 * instance digest of an accepted list is valid, and a chosen instance is one of the list. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/manifest.h"

static void check(bool cond)
{
        if (!cond)
                abort();
}

static void check_error(const it_error *err)
{
        check(err->code == IT_EINPUT && err->msg);
        _cleanup_free_ char *line = it_error_format(err);
        check(!strchr(line, '\n') && strlen(line) < 4096);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *mt = manifest_media_type(data, size);

        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_digest d;
        if (manifest_digest(data, size, &d, &err) == 0) {
                check(mt != NULL || size > 0);
                if (!mt || strcmp(mt, IT_MT_DOCKER_V2S1_SIGNED) != 0) {
                        struct it_digest raw;
                        digest_compute(IT_DIGEST_SHA256, data, size, &raw);
                        check(digest_equal(&d, &raw));
                }
        } else {
                check_error(&err);
        }

        _cleanup_error_ it_error lerr = IT_ERROR_INIT;
        _cleanup_manifest_list_ struct it_manifest_list l = IT_MANIFEST_LIST_INIT;
        if (manifest_list_instances(data, size, &l, &lerr) == 0) {
                check(manifest_type_is_list(mt));
                check(manifest_type_is_list(l.media_type));
                for (size_t i = 0; i < l.n; i++) {
                        char s[IT_DIGEST_STR_MAX];
                        digest_format(&l.v[i].digest, s);
                        check(digest_valid(s));
                        check(l.v[i].os && l.v[i].arch && l.v[i].variant && l.v[i].media_type);
                }
                static const char *const archs[] = {NULL, "amd64", "arm", "arm64"};
                static const char *const variants[] = {NULL, "v7", "v8", "v9"};
                for (size_t a = 0; a < 4; a++)
                        for (size_t v = 0; v < 4; v++) {
                                _cleanup_error_ it_error cerr = IT_ERROR_INIT;
                                size_t idx = (size_t)-1;
                                if (manifest_list_choose(&l, NULL, archs[a], variants[v], &idx,
                                                         &cerr) == 0)
                                        check(idx < l.n);
                                else
                                        check_error(&cerr);
                        }
        } else {
                check(l.n == 0 && l.v == NULL);
                check_error(&lerr);
        }
        return 0;
}
