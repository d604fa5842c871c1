/* Fuzz the docker-archive reader (bounded tar parsing, symlink resolution inside the archive,
 * docker save's manifest.json and the synthesised manifest): every error is one bounded line of
 * an expected kind; an accepted archive's manifest is a Docker schema 2 manifest whose digest
 * is that of its bytes, and every blob it lists opens within the archive. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/manifest.h"
#include "imgtrust/source.h"

static void check(bool cond)
{
        if (!cond)
                abort();
}

static void check_error(const it_error *err)
{
        check((err->code == IT_EINPUT || err->code == IT_EUNSUPPORTED) && err->msg);
        _cleanup_free_ char *line = it_error_format(err);
        check(!strchr(line, '\n') && strlen(line) < 4096);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_close_ int fd = memfd_create("fuzz-archive", MFD_CLOEXEC);
        check(fd >= 0);
        check(it_write_all(fd, data, size) == 0);
        char spec[64];
        snprintf(spec, sizeof spec, "docker-archive:/proc/self/fd/%d", fd);

        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_source_ struct it_source *src = NULL;
        if (source_open(spec, &src, &err)) {
                check(!src);
                check_error(&err);
                return 0;
        }
        check(!strcmp(src->media_type, IT_MT_DOCKER_V2S2));
        const char *mt = manifest_media_type(src->manifest, src->manifest_len);
        check(mt && !strcmp(mt, src->media_type));
        struct it_digest d;
        digest_compute(IT_DIGEST_SHA256, src->manifest, src->manifest_len, &d);
        check(digest_equal(&d, &src->digest));
        check(src->nblobs >= 1);
        for (size_t i = 0; i < src->nblobs; i++) {
                _cleanup_error_ it_error berr = IT_ERROR_INIT;
                _cleanup_close_ int bfd = -1;
                int64_t bsize;
                check(source_open_blob(src, &src->blobs[i].digest, &bfd, &bsize, &berr) == 0);
                check(bsize == src->blobs[i].size);
                struct stat st;
                check(fstat(bfd, &st) == 0);
                off_t pos = lseek(bfd, 0, SEEK_CUR);
                check(pos >= 0 && pos + bsize <= st.st_size);
        }
        return 0;
}
