/* Pushing an image from a source (source.h) to a registry: the blobs the registry lacks go up in
 * parallel (one client per worker), blobs it has are skipped, blobs of another repository of the
 * same registry are mounted; then child manifests by digest (deepest first), then the manifest
 * under its tag; then the tag is read back to make sure the registry serves what was pushed. */
#ifndef IMGTRUST_PUSH_H
#define IMGTRUST_PUSH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgtrust/digest.h"
#include "imgtrust/endpoint.h"
#include "imgtrust/error.h"
#include "imgtrust/source.h"

/* containers/image's default number of parallel blob copies. */
#define IT_PUSH_JOBS_DEFAULT 6

enum it_push_state {
        IT_PUSH_WAITING,
        IT_PUSH_CHECKING,  /* HEAD at the destination */
        IT_PUSH_FETCHING,  /* docker:// source: downloading */
        IT_PUSH_UPLOADING, /* bytes going up */
        IT_PUSH_EXISTS,    /* the registry had it */
        IT_PUSH_MOUNTED,   /* mounted from the source repository */
        IT_PUSH_DONE,      /* uploaded */
        IT_PUSH_FAILED,
};

/* One blob's transfer, updated by the workers, read by the progress callback. */
struct it_push_blob {
        struct it_digest digest;
        int64_t size; /* -1 until known */
        _Atomic int64_t done;
        _Atomic int state;                       /* enum it_push_state */
        _Atomic int64_t started_ms, finished_ms; /* CLOCK_MONOTONIC, 0 when not yet */
};

/* Called from the pushing thread about every progress_ms while blobs move, and once more with
 * final set when they are all settled. */
typedef void (*it_push_progress_fn)(void *ctx, const struct it_push_blob *blobs, size_t n,
                                    bool final);

struct it_push_opts {
        const struct it_endpoint *dest; /* the destination registry */
        const char *repo;               /* destination repository path */
        const char *tag;                /* NULL: the manifest is pushed by its digest only */
        /* docker:// sources: how workers reach the source registry (a client each). */
        const struct it_endpoint *src_ep;
        int jobs; /* parallel blob transfers; <= 0: IT_PUSH_JOBS_DEFAULT */
        it_push_progress_fn progress;
        void *progress_ctx;
        long progress_ms; /* <= 0: 200 */
        /* Tests: retry budget and chunk size for every client (0: defaults). */
        int retry_tries;
        long retry_base_ms;
        int64_t chunk;
};

struct it_push_result {
        struct it_digest digest;     /* the manifest (or index) the registry serves for the tag */
        struct it_digest *instances; /* child manifests of an index, in the index's order */
        size_t ninstances;
        size_t uploaded, existed, mounted; /* blob counts */
        int64_t bytes_uploaded;
};

/* Push src (opened with source_open or source_open_docker) as opts says. On failure nothing is
 * tagged: blobs already uploaded stay (the registry garbage-collects unreferenced ones) and the
 * error names the blob and the request. A blob whose bytes do not hash to its digest is
 * IT_EINPUT (local sources) or IT_EIO (fetched from a registry). Fills *res (free with
 * push_result_free). */
int push_image(struct it_source *src, const struct it_push_opts *opts, struct it_push_result *res,
               it_error *err);
void push_result_free(struct it_push_result *res);

#endif
