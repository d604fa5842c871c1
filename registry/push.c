/* push_image: parallel blob transfers with one registry client per worker thread, then the
 * manifests in dependency order, then a read-back of the tag. */
#include "imgtrust/push.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgtrust/clock.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/manifest.h"
#include "imgtrust/registry.h"
#include "imgtrust/registry_write.h"
#include "imgtrust/xalloc.h"

struct worker;

struct shared {
        struct it_source *src;
        const struct it_push_opts *o;
        struct it_push_blob *blobs;
        const struct it_source_blob **sblobs;
        size_t n;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        size_t next;    /* next blob to take */
        size_t running; /* workers not finished */
        bool abort;
        it_error err; /* the first failure */
        int rc;
        bool same_registry; /* docker:// source on the destination registry: mount */
};

struct worker {
        struct shared *s;
        struct it_registry *dest;
        struct it_registry *src; /* docker:// sources only */
        pthread_t thread;
        bool started;
};

struct fd_reader {
        int fd;
        off_t start; /* where the blob begins in fd (docker-archive: inside the tar) */
        struct it_push_blob *b;
};

static int read_fd(void *ctx, void *buf, size_t cap, size_t *got, it_error *err)
{
        struct fd_reader *r = ctx;
        for (;;) {
                ssize_t n = read(r->fd, buf, cap);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return it_error_sys(err, IT_EIO, errno, "reading blob");
                *got = (size_t)n;
                atomic_fetch_add(&r->b->done, (int64_t)n);
                return 0;
        }
}

/* A failed upload starts again from the blob's first byte, in a new session. */
static int rewind_fd(void *ctx, it_error *err)
{
        struct fd_reader *r = ctx;
        if (lseek(r->fd, r->start, SEEK_SET) < 0)
                return it_error_sys(err, IT_EIO, errno, "rewinding blob");
        atomic_store(&r->b->done, 0);
        return 0;
}

static void apply_settings(struct it_registry *c, const struct it_push_opts *o)
{
        if (o->retry_tries > 0)
                registry_client_set_retry(c, o->retry_tries, o->retry_base_ms);
        if (o->chunk > 0)
                registry_client_set_upload_chunk(c, o->chunk);
}

/* One blob: skip, mount, or (fetch and) upload. */
static int transfer(struct worker *w, size_t i, it_error *err)
{
        struct shared *s = w->s;
        struct it_push_blob *b = &s->blobs[i];
        const struct it_source_blob *sb = s->sblobs[i];
        const char *repo = s->o->repo;
        char ds[IT_DIGEST_STR_MAX];
        digest_format(&b->digest, ds);
        atomic_store(&b->started_ms, it_mono_ms());
        atomic_store(&b->state, IT_PUSH_CHECKING);
        bool exists = false;
        int64_t have = -1;
        int rc = registry_blob_exists(w->dest, repo, ds, &exists, &have, err);
        if (rc)
                return rc;
        if (exists) {
                atomic_store(&b->state, IT_PUSH_EXISTS);
                return 0;
        }
        if (s->same_registry && strcmp(s->src->repo, repo)) {
                bool mounted = false;
                rc = registry_blob_mount(w->dest, repo, ds, s->src->repo, &mounted, err);
                if (rc)
                        return rc;
                if (mounted) {
                        atomic_store(&b->state, IT_PUSH_MOUNTED);
                        return 0;
                }
        }
        _cleanup_close_ int fd = -1;
        int64_t size = -1;
        if (s->src->kind == IT_SOURCE_DOCKER) {
                atomic_store(&b->state, IT_PUSH_FETCHING);
                rc = source_docker_fetch(s->src, w->src, &b->digest, &fd, &size, err);
        } else {
                rc = source_open_blob(s->src, &b->digest, &fd, &size, err);
        }
        if (rc)
                return rc;
        if (sb->size >= 0 && size != sb->size)
                return it_error_set(err, IT_EINPUT,
                                    "%s: blob %s has %lld bytes, the manifest says %lld",
                                    s->src->name, ds, (long long)size, (long long)sb->size);
        b->size = size;
        atomic_store(&b->state, IT_PUSH_UPLOADING);
        struct fd_reader r = {.fd = fd, .start = lseek(fd, 0, SEEK_CUR), .b = b};
        if (r.start < 0)
                return it_error_sys(err, IT_EIO, errno, "%s: blob %s", s->src->name, ds);
        rc = registry_blob_upload_rewindable(w->dest, repo, ds, size, read_fd, rewind_fd, &r, err);
        if (rc)
                return rc;
        atomic_store(&b->state, IT_PUSH_DONE);
        return 0;
}

static void *worker_main(void *arg)
{
        struct worker *w = arg;
        struct shared *s = w->s;
        for (;;) {
                pthread_mutex_lock(&s->lock);
                if (s->abort || s->next >= s->n) {
                        pthread_mutex_unlock(&s->lock);
                        break;
                }
                size_t i = s->next++;
                pthread_mutex_unlock(&s->lock);
                it_error e = IT_ERROR_INIT;
                int rc = transfer(w, i, &e);
                atomic_store(&s->blobs[i].finished_ms, it_mono_ms());
                if (rc) {
                        atomic_store(&s->blobs[i].state, IT_PUSH_FAILED);
                        pthread_mutex_lock(&s->lock);
                        if (!s->rc) {
                                s->rc = rc;
                                it_error_move(&s->err, &e);
                        }
                        s->abort = true;
                        pthread_mutex_unlock(&s->lock);
                }
                it_error_clear(&e);
        }
        pthread_mutex_lock(&s->lock);
        s->running--;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        return NULL;
}

void push_result_free(struct it_push_result *res)
{
        free(res->instances);
        memset(res, 0, sizeof *res);
}

static bool is_manifest_blob(const struct it_source_blob *b)
{
        return b->is_manifest;
}

static int new_client(const struct it_endpoint *ep, const struct it_push_opts *o,
                      struct it_registry **out, it_error *err)
{
        int rc = endpoint_client(ep, out, err);
        if (!rc)
                apply_settings(*out, o);
        return rc;
}

/* The blobs, in parallel. */
static int push_blobs(struct it_source *src, const struct it_push_opts *o, struct it_registry *c0,
                      struct it_push_result *res, it_error *err)
{
        struct shared s = {.src = src, .o = o, .rc = 0};
        s.err = (it_error)IT_ERROR_INIT;
        for (size_t i = 0; i < src->nblobs; i++)
                if (!is_manifest_blob(&src->blobs[i]))
                        s.n++;
        if (s.n == 0)
                return 0;
        s.blobs = xcalloc(s.n, sizeof *s.blobs);
        s.sblobs = xcalloc(s.n, sizeof *s.sblobs);
        for (size_t i = 0, k = 0; i < src->nblobs; i++) {
                if (is_manifest_blob(&src->blobs[i]))
                        continue;
                s.sblobs[k] = &src->blobs[i];
                s.blobs[k].digest = src->blobs[i].digest;
                s.blobs[k].size = src->blobs[i].size;
                k++;
        }
        s.same_registry =
            src->kind == IT_SOURCE_DOCKER && src->host && !strcmp(src->host, o->dest->host);
        size_t nw = o->jobs > 0 ? (size_t)o->jobs : IT_PUSH_JOBS_DEFAULT;
        if (nw > s.n)
                nw = s.n;
        struct worker *ws = xcalloc(nw, sizeof *ws);
        pthread_mutex_init(&s.lock, NULL);
        pthread_cond_init(&s.cond, NULL);
        int rc = 0;
        /* Clients are made here, not in the threads: libcurl's global init is not thread-safe
         * everywhere. */
        for (size_t i = 0; i < nw && !rc; i++) {
                ws[i].s = &s;
                rc = new_client(o->dest, o, &ws[i].dest, err);
                if (!rc)
                        registry_client_adopt(ws[i].dest, c0);
                if (!rc && src->kind == IT_SOURCE_DOCKER)
                        rc = new_client(o->src_ep, o, &ws[i].src, err);
        }
        for (size_t i = 0; i < nw && !rc; i++) {
                pthread_mutex_lock(&s.lock);
                s.running++;
                pthread_mutex_unlock(&s.lock);
                if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0) {
                        pthread_mutex_lock(&s.lock);
                        s.running--;
                        s.abort = true;
                        pthread_mutex_unlock(&s.lock);
                        rc = it_error_sys(err, IT_EIO, errno, "cannot start a worker thread");
                        break;
                }
                ws[i].started = true;
        }
        long every = o->progress_ms > 0 ? o->progress_ms : 200;
        pthread_mutex_lock(&s.lock);
        while (s.running > 0) {
                it_cond_wait_ms(&s.cond, &s.lock, every);
                if (o->progress && s.running > 0) {
                        pthread_mutex_unlock(&s.lock);
                        o->progress(o->progress_ctx, s.blobs, s.n, false);
                        pthread_mutex_lock(&s.lock);
                }
        }
        pthread_mutex_unlock(&s.lock);
        for (size_t i = 0; i < nw; i++) {
                if (ws[i].started)
                        pthread_join(ws[i].thread, NULL);
                registry_client_free(ws[i].dest);
                registry_client_free(ws[i].src);
        }
        if (o->progress && !rc)
                o->progress(o->progress_ctx, s.blobs, s.n, true);
        if (!rc && s.rc) {
                rc = s.rc;
                it_error_move(err, &s.err);
        }
        for (size_t i = 0; i < s.n && !rc; i++) {
                int st = atomic_load(&s.blobs[i].state);
                if (st == IT_PUSH_DONE) {
                        res->uploaded++;
                        res->bytes_uploaded += s.blobs[i].size;
                } else if (st == IT_PUSH_EXISTS) {
                        res->existed++;
                } else if (st == IT_PUSH_MOUNTED) {
                        res->mounted++;
                }
        }
        it_error_clear(&s.err);
        pthread_cond_destroy(&s.cond);
        pthread_mutex_destroy(&s.lock);
        free(ws);
        free(s.blobs);
        free(s.sblobs);
        return rc;
}

int push_image(struct it_source *src, const struct it_push_opts *o, struct it_push_result *res,
               it_error *err)
{
        memset(res, 0, sizeof *res);
        if (!src->media_type)
                return it_error_set(err, IT_EINPUT, "%s: manifest of unknown type", src->name);
        /* One ping and one push token, shared by every worker's client. */
        struct it_registry *c = NULL;
        int rc = new_client(o->dest, o, &c, err);
        if (rc)
                return rc;
        _cleanup_free_ char *scope = xasprintf("repository:%s:pull,push", o->repo);
        struct registry_conn cn;
        rc = registry_conn_get(c, scope, &cn, err);
        registry_conn_release(&cn);
        if (!rc)
                rc = push_blobs(src, o, c, res, err);
        if (rc) {
                registry_client_free(c);
                return rc;
        }
        /* Children before the index that names them; an index inside an index comes before
         * its own children in the list, so walk it backwards. */
        size_t nman = 0;
        for (size_t i = 0; i < src->nblobs; i++)
                nman += is_manifest_blob(&src->blobs[i]);
        res->instances = nman ? xcalloc(nman, sizeof *res->instances) : NULL;
        for (size_t i = src->nblobs; i-- > 0 && !rc;) {
                const struct it_source_blob *b = &src->blobs[i];
                if (!is_manifest_blob(b))
                        continue;
                char ds[IT_DIGEST_STR_MAX];
                digest_format(&b->digest, ds);
                _cleanup_free_ char *m = NULL;
                size_t mlen = 0;
                rc = source_read_blob(src, &b->digest, IT_MANIFEST_MAX, &m, &mlen, err);
                if (rc) {
                        it_error_wrap(err, "%s: manifest %s", src->name, ds);
                        break;
                }
                const char *mt = *b->media_type ? b->media_type : manifest_media_type(m, mlen);
                if (!mt) {
                        rc = it_error_set(err, IT_EINPUT, "%s: manifest %s of unknown type",
                                          src->name, ds);
                        break;
                }
                rc = registry_manifest_put(c, o->repo, ds, mt, m, mlen, NULL, err);
        }
        for (size_t i = 0, k = 0; i < src->nblobs && !rc; i++)
                if (is_manifest_blob(&src->blobs[i]))
                        res->instances[k++] = src->blobs[i].digest;
        res->ninstances = rc ? 0 : nman;
        char top[IT_DIGEST_STR_MAX];
        digest_format(&src->digest, top);
        struct it_digest put = {0};
        if (!rc)
                rc = registry_manifest_put(c, o->repo, o->tag ? o->tag : top, src->media_type,
                                           src->manifest, src->manifest_len, &put, err);
        /* Sign only what the registry now serves under the name: another pusher of the same tag
         * between our PUT and this GET would otherwise get our signature. */
        struct it_buf served = IT_BUF_INIT;
        struct it_digest sd = {0};
        if (!rc)
                rc = registry_get_manifest(c, o->repo, o->tag ? o->tag : top, NULL, &served, NULL,
                                           &sd, err);
        it_buf_free(&served);
        if (!rc && !digest_equal(&sd, &src->digest)) {
                char ss[IT_DIGEST_STR_MAX];
                digest_format(&sd, ss);
                rc = it_error_set(err, IT_EIO,
                                  "%s/%s:%s: the registry serves %s after the push of %s "
                                  "(another push to the same tag?)",
                                  o->dest->host, o->repo, o->tag ? o->tag : top, ss, top);
        }
        registry_client_free(c);
        if (rc) {
                push_result_free(res);
                return rc;
        }
        res->digest = sd;
        return 0;
}
