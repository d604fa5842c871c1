/* Fuzz the /etc/subuid parser: no crash, one-line errors, and every accepted range is non-empty,
 * inside the 32-bit ID space, and gives a map whose IDs translate back consistently. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/userns.h"

static void check(bool cond)
{
        if (!cond)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* The parser reads a path (as shadow does); a memfd gives it one without touching disk. */
        _cleanup_close_ int fd = memfd_create("subid", MFD_CLOEXEC);
        check(fd >= 0);
        check(it_write_all(fd, data, size) == 0);
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        struct it_subid_range r[IT_SUBID_RANGES_MAX];
        size_t n = 0;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = userns_subid_parse(path, "tuser", 1001, r, IT_SUBID_RANGES_MAX, &n, &err);
        if (rc < 0) {
                check(rc == IT_EINPUT || rc == IT_EIO);
                _cleanup_free_ char *line = it_error_format(&err);
                check(!strchr(line, '\n') && strlen(line) < 2048);
                return 0;
        }
        check(n <= IT_SUBID_RANGES_MAX);
        for (size_t i = 0; i < n; i++)
                check(r[i].count >= 1 && (uint64_t)r[i].start + r[i].count <= (uint64_t)1 << 32);
        struct it_idmap m;
        userns_idmap_build(1001, 1001, "tuser", r, n, r, n, &m);
        check(m.single_id == (n == 0));
        uint64_t span = userns_idmap_span(&m, false);
        check(span >= 1 && span <= (uint64_t)1 << 32);
        uint32_t h;
        check(userns_idmap_to_host(&m, false, 0, &h) && h == 1001);
        if (n)
                check(userns_idmap_to_host(&m, false, 1, &h) && h == r[0].start);
        /* The first ID past the span is unmapped. */
        if (span <= UINT32_MAX)
                check(!userns_idmap_to_host(&m, false, (uint32_t)span, &h));
        it_error_clear(&err);
        check(userns_range_error(&err, &m, false, 70000, "x") == IT_EINPUT);
        _cleanup_free_ char *line = it_error_format(&err);
        check(!strchr(line, '\n'));
        return 0;
}
