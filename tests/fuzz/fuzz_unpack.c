/* Fuzz the layer unpacker with plain tar input: each input is unpacked into a fresh temporary
 * layer directory with tiny limits and no digests; nothing may appear next to the layer
 * directory, and every error is one bounded line. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/unpack.h"

static void check(bool cond)
{
        if (!cond)
                abort();
}

struct src {
        const uint8_t *data;
        size_t len, off;
};

static int src_read(void *ctx, void *buf, size_t cap, size_t *got, it_error *err)
{
        struct src *s = ctx;
        size_t n = s->len - s->off;

        (void)err;
        if (n > cap)
                n = cap;
        /* Odd read sizes exercise the magic check and the callback plumbing. */
        if (n > 777)
                n = 777;
        memcpy(buf, s->data + s->off, n);
        s->off += n;
        *got = n;
        return 0;
}

static int make_traversable(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
        (void)sb;
        (void)ftw;
        if (flag == FTW_D)
                chmod(p, 0700);
        return 0;
}

static int remove_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
        (void)sb;
        (void)ftw;
        if (flag == FTW_DP)
                rmdir(p);
        else
                unlink(p);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char base[] = "/tmp/it-fuzz-unpack-XXXXXX";
        char layer[sizeof(base) + 8];
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct src s = {data, size, 0};
        struct it_unpack_opts o;
        struct it_unpack_stats st;
        int fd, r, n = 0;
        DIR *d;
        struct dirent *de;

        check(mkdtemp(base) != NULL);
        snprintf(layer, sizeof(layer), "%s/layer", base);
        check(mkdir(layer, 0700) == 0);
        fd = open(layer, O_PATH | O_DIRECTORY | O_CLOEXEC);
        check(fd >= 0);

        unpack_opts_init(&o, "application/vnd.oci.image.layer.v1.tar");
        o.skip_digests = true;
        o.limits.max_bytes = 1 << 20;
        o.limits.max_entries = 64;
        o.limits.max_name = 256;
        o.limits.max_ratio = 0;
        r = unpack_layer(fd, src_read, &s, &o, &st, &err);
        if (r < 0) {
                _cleanup_free_ char *line = it_error_format(&err);
                check(err.msg != NULL);
                check(!strchr(line, '\n') && strlen(line) < 4096);
        } else {
                check(st.entries <= 64 && st.uncompressed_bytes <= 1 << 20);
        }
        close(fd);

        /* Only the layer directory exists beside it. */
        d = opendir(base);
        check(d != NULL);
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
                        check(strcmp(de->d_name, "layer") == 0);
                        n++;
                }
        }
        closedir(d);
        check(n == 1);
        nftw(base, make_traversable, 16, FTW_PHYS);
        nftw(base, remove_one, 16, FTW_PHYS | FTW_DEPTH);
        return 0;
}
