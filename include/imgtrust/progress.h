/* The push progress display: one line per blob (digest, bytes, rate, state), redrawn in place on
 * a terminal; on anything else one plain line per blob as it settles. */
#ifndef IMGTRUST_PROGRESS_H
#define IMGTRUST_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "imgtrust/push.h"

struct it_progress {
        FILE *out;
        bool tty;       /* redraw in place with ANSI cursor movement */
        size_t drawn;   /* lines drawn last time (tty) */
        bool *reported; /* per blob: its settled line was printed (plain mode); owned */
        size_t nreported;
        int64_t start_ms;
};

/* An it_push_progress_fn; ctx is a struct it_progress zero-initialised but for out and tty. */
void progress_push_cb(void *ctx, const struct it_push_blob *blobs, size_t n, bool final);
void progress_free(struct it_progress *p);

/* "12.0 MiB" style, into buf of at least 16 bytes. */
void progress_format_bytes(int64_t n, char *buf, size_t cap);

#endif
