/* Fuzz the tar-split reader (imgtrust/tarsplit.h): no crash, one-line errors, records within their
 * bounds (paths clean, chunks 1..1 MiB, totals consistent), and the input is taken as raw bytes
 * (gzip-compressed first, so the record parser is reached) and as a gzip file as is. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/tarsplit.h"
#include "imgtrust/xalloc.h"

static void check(bool cond)
{
        if (!cond)
                abort();
}

static void run(const uint8_t *data, size_t size)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_tarsplit_reader *r;
        struct it_tarsplit_rec rec;
        uint64_t total = 0, files = 0;
        bool ended = false;
        int rc;

        tarsplit_reader_new_mem(data, size, "fuzz", &r);
        for (int i = 0; i < 100000; i++) {
                rc = tarsplit_next(r, &rec, &err);
                if (rc < 0) {
                        check(rc == IT_EINPUT || rc == IT_EIO);
                        check(err.msg && !strchr(err.msg, '\n'));
                        break;
                }
                if (rec.kind == IT_TARSPLIT_BYTES) {
                        check(rec.len >= 1 && rec.len <= IT_TARSPLIT_CHUNK_MAX);
                        total += rec.len;
                } else if (rec.kind == IT_TARSPLIT_FILE) {
                        size_t n = strlen(rec.path);
                        check(n >= 1 && n <= IT_TARSPLIT_PATH_MAX && rec.path[0] != '/');
                        check(!strstr(rec.path, "//") && strcmp(rec.path, "..") != 0);
                        total += rec.size;
                        files++;
                } else if (rec.kind == IT_TARSPLIT_END) {
                        check(total <= IT_TARSPLIT_MAX_TOTAL);
                        ended = true;
                        break;
                }
        }
        if (ended)
                check(tarsplit_next(r, &rec, &err) == IT_EINPUT);
        tarsplit_reader_free(r);
        (void)files;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size > (1 << 20))
                return 0;
        /* As is: the gzip layer and its trailers. */
        run(data, size);
        /* Compressed: the records themselves. */
        z_stream z = {0};
        size_t cap = size + 1024;
        _cleanup_free_ unsigned char *out = xmalloc(cap);
        check(deflateInit2(&z, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK);
        z.next_in = (unsigned char *)(uintptr_t)data;
        z.avail_in = (uInt)size;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        check(deflate(&z, Z_FINISH) == Z_STREAM_END);
        size_t n = cap - z.avail_out;
        deflateEnd(&z);
        run(out, n);
        return 0;
}
