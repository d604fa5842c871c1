/* Rendering push progress. Rates are computed per blob from its own start and finish times. */
#include "imgtrust/progress.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/clock.h"
#include "imgtrust/xalloc.h"

void progress_format_bytes(int64_t n, char *buf, size_t cap)
{
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = (double)n;
        size_t u = 0;
        while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
                v /= 1024;
                u++;
        }
        if (u == 0)
                snprintf(buf, cap, "%" PRId64 " B", n);
        else
                snprintf(buf, cap, "%.1f %s", v, units[u]);
}

static const char *state_name(int st)
{
        switch (st) {
        case IT_PUSH_WAITING:
                return "waiting";
        case IT_PUSH_CHECKING:
                return "checking";
        case IT_PUSH_FETCHING:
                return "fetching";
        case IT_PUSH_UPLOADING:
                return "uploading";
        case IT_PUSH_EXISTS:
                return "already there";
        case IT_PUSH_MOUNTED:
                return "mounted";
        case IT_PUSH_DONE:
                return "done";
        default:
                return "failed";
        }
}

static void line(struct it_progress *p, const struct it_push_blob *b, int64_t now)
{
        char done[24], size[24], rate[24] = "";
        int st = atomic_load(&b->state);
        int64_t d = atomic_load(&b->done);
        int64_t t0 = atomic_load(&b->started_ms), t1 = atomic_load(&b->finished_ms);
        progress_format_bytes(d, done, sizeof done);
        if (b->size >= 0)
                progress_format_bytes(b->size, size, sizeof size);
        else
                snprintf(size, sizeof size, "?");
        int64_t span = (t1 ? t1 : now) - t0;
        if (t0 && d > 0 && span > 0) {
                progress_format_bytes(d * 1000 / span, rate, sizeof rate - 3);
                snprintf(rate + strlen(rate), 3, "/s");
        }
        fprintf(p->out, "blob %.19s  %9s / %-9s %11s  %s%s\n", b->digest.hex, done, size, rate,
                state_name(st), p->tty ? "\033[K" : "");
}

static bool settled(int st)
{
        return st == IT_PUSH_EXISTS || st == IT_PUSH_MOUNTED || st == IT_PUSH_DONE ||
               st == IT_PUSH_FAILED;
}

void progress_push_cb(void *ctx, const struct it_push_blob *blobs, size_t n, bool final)
{
        struct it_progress *p = ctx;
        int64_t now = it_mono_ms();
        if (p->tty) {
                if (p->drawn)
                        fprintf(p->out, "\033[%zuA", p->drawn);
                for (size_t i = 0; i < n; i++)
                        line(p, &blobs[i], now);
                p->drawn = n;
                fflush(p->out);
                return;
        }
        if (!p->reported) {
                p->reported = xcalloc(n ? n : 1, sizeof *p->reported);
                p->nreported = n;
        }
        for (size_t i = 0; i < n && i < p->nreported; i++) {
                if (p->reported[i] || (!final && !settled(atomic_load(&blobs[i].state))))
                        continue;
                line(p, &blobs[i], now);
                p->reported[i] = true;
        }
        fflush(p->out);
}

void progress_free(struct it_progress *p)
{
        free(p->reported);
        p->reported = NULL;
}
