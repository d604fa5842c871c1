/* imgpull's library half: admit, fetch config and layers, unpack into the store. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgtrust/clock.h"
#include "imgtrust/admit.h"
#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/endpoint.h"
#include "imgtrust/json.h"
#include "imgtrust/manifest.h"
#include "imgtrust/paths.h"
#include "imgtrust/policy.h"
#include "imgtrust/push.h"
#include "imgtrust/pull.h"
#include "imgtrust/ref.h"
#include "imgtrust/regd.h"
#include "imgtrust/registry.h"
#include "imgtrust/registry_write.h"
#include "imgtrust/sigcheck.h"
#include "imgtrust/store.h"
#include "imgtrust/unpack.h"
#include "imgtrust/userns.h"
#include "imgtrust/xalloc.h"

void pull_result_free(struct it_pull_result *r)
{
        if (!r)
                return;
        free(r->name);
        free(r->warning);
        it_strv_free(&r->layers);
        *r = (struct it_pull_result)IT_PULL_RESULT_INIT;
}

static bool platform_part_ok(const char *p)
{
        if (!*p || strlen(p) > 64)
                return false;
        for (; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
                      *p == '.' || *p == '-'))
                        return false;
        return true;
}

int pull_parse_platform(const char *s, char **os, char **arch, char **variant, it_error *err)
{
        *os = *arch = *variant = NULL;
        _cleanup_free_ char *copy = xstrdup(s);
        char *parts[4] = {0};
        size_t n = 0;
        char *p = copy;
        for (;;) {
                char *slash = strchr(p, '/');
                if (n == 3)
                        return it_error_set(err, IT_EINPUT,
                                            "--platform %s: expected OS/ARCH[/VARIANT]", s);
                parts[n++] = p;
                if (!slash)
                        break;
                *slash = '\0';
                p = slash + 1;
        }
        if (n < 2)
                return it_error_set(err, IT_EINPUT, "--platform %s: expected OS/ARCH[/VARIANT]", s);
        for (size_t i = 0; i < n; i++)
                if (!platform_part_ok(parts[i]))
                        return it_error_set(err, IT_EINPUT,
                                            "--platform %s: component %zu is empty or not "
                                            "[a-z0-9_.-]",
                                            s, i + 1);
        *os = xstrdup(parts[0]);
        *arch = xstrdup(parts[1]);
        *variant = n == 3 ? xstrdup(parts[2]) : NULL;
        return 0;
}

struct layer {
        struct it_digest digest;
        char digest_s[IT_DIGEST_STR_MAX];
        char *media_type;
        int64_t size;
        struct it_digest diff_id;
        char diff_id_s[IT_DIGEST_STR_MAX];
        char chain_id[IT_DIGEST_STR_MAX];
        char parent[IT_DIGEST_STR_MAX];
        bool present;
        /* Filled by the worker. */
        struct it_store_layer_tx *tx;
        struct it_unpack_stats stats;
};

struct image {
        struct it_digest config;
        int64_t config_size;
        struct layer *layers;
        size_t n;
};

static void image_free(struct image *im)
{
        for (size_t i = 0; i < im->n; i++) {
                free(im->layers[i].media_type);
                store_layer_abort(im->layers[i].tx);
        }
        free(im->layers);
}

static int desc_parse(const json_t *d, const char *what, struct it_digest *digest, int64_t *size,
                      char **media_type, it_error *err)
{
        const json_t *dg = json_object_get(d, "digest");
        const json_t *sz = json_object_get(d, "size");
        const json_t *mt = json_object_get(d, "mediaType");
        if (!json_is_object(d))
                return it_error_set(err, IT_EINPUT, "manifest: %s must be an object", what);
        if (!json_is_string(dg))
                return it_error_set(err, IT_EINPUT, "manifest: %s.digest must be a string", what);
        if (digest_parse(json_string_value(dg), digest, err) != 0)
                return it_error_wrap(err, "manifest: %s.digest", what);
        if (!json_is_integer(sz) || json_integer_value(sz) < 0)
                return it_error_set(err, IT_EINPUT,
                                    "manifest: %s.size must be a non-negative integer", what);
        *size = json_integer_value(sz);
        if (media_type) {
                if (!json_is_string(mt))
                        return it_error_set(err, IT_EINPUT,
                                            "manifest: %s.mediaType must be a string", what);
                *media_type = xstrdup(json_string_value(mt));
        }
        return 0;
}

static int manifest_parse(const char *media_type, const struct it_buf *m, struct image *im,
                          it_error *err)
{
        if (!media_type || (strcmp(media_type, IT_MT_OCI_MANIFEST) != 0 &&
                            strcmp(media_type, IT_MT_DOCKER_V2S2) != 0))
                return it_error_set(err, IT_EUNSUPPORTED,
                                    "manifest type %s: only OCI and Docker schema 2 image "
                                    "manifests can be pulled",
                                    media_type ? media_type : "(unknown)");
        _cleanup_json_ json_t *j = NULL;
        if (it_json_parse(m->data, m->len, IT_MANIFEST_MAX, "manifest", &j, err) != 0)
                return err->code;
        int rc = desc_parse(json_object_get(j, "config"), "config", &im->config, &im->config_size,
                            NULL, err);
        if (rc != 0)
                return rc;
        const json_t *ls = json_object_get(j, "layers");
        if (!json_is_array(ls))
                return it_error_set(err, IT_EINPUT, "manifest: layers must be an array");
        if (json_array_size(ls) > IT_PULL_LAYERS_MAX)
                return it_error_set(err, IT_EINPUT, "manifest: more than %d layers",
                                    IT_PULL_LAYERS_MAX);
        im->n = json_array_size(ls);
        im->layers = xcalloc(im->n ? im->n : 1, sizeof *im->layers);
        for (size_t i = 0; i < im->n; i++) {
                struct layer *l = &im->layers[i];
                char what[32];
                snprintf(what, sizeof what, "layers[%zu]", i);
                rc = desc_parse(json_array_get(ls, i), what, &l->digest, &l->size, &l->media_type,
                                err);
                if (rc != 0)
                        return rc;
                digest_format(&l->digest, l->digest_s);
        }
        return 0;
}

static int config_diff_ids(const struct it_buf *cfg, struct image *im, it_error *err)
{
        _cleanup_json_ json_t *j = NULL;
        if (it_json_parse(cfg->data, cfg->len, IT_PULL_CONFIG_MAX, "config", &j, err) != 0)
                return err->code;
        const json_t *ids = json_object_get(json_object_get(j, "rootfs"), "diff_ids");
        if (!json_is_array(ids))
                return it_error_set(err, IT_EINPUT, "config: rootfs.diff_ids must be an array");
        if (json_array_size(ids) != im->n)
                return it_error_set(err, IT_EINPUT,
                                    "config: rootfs.diff_ids has %zu entries, the manifest %zu "
                                    "layers",
                                    json_array_size(ids), im->n);
        const char *parent = "";
        for (size_t i = 0; i < im->n; i++) {
                struct layer *l = &im->layers[i];
                const json_t *v = json_array_get(ids, i);
                if (!json_is_string(v))
                        return it_error_set(err, IT_EINPUT,
                                            "config: rootfs.diff_ids[%zu] must be a string", i);
                if (digest_parse(json_string_value(v), &l->diff_id, err) != 0)
                        return it_error_wrap(err, "config: rootfs.diff_ids[%zu]", i);
                digest_format(&l->diff_id, l->diff_id_s);
                if (store_chain_id(parent, l->diff_id_s, l->chain_id, err) != 0)
                        return it_error_wrap(err, "config: rootfs.diff_ids[%zu]", i);
                snprintf(l->parent, sizeof l->parent, "%s", parent);
                parent = l->chain_id;
        }
        return 0;
}

static int buf_sink(void *ctx, const void *data, size_t len, it_error *err)
{
        (void)err;
        it_buf_add(ctx, data, len);
        return 0;
}

/* The unpacker's side of a layer stream: reads the socket the download writes into. */
static int sock_source(void *ctx, void *buf, size_t cap, size_t *got, it_error *err)
{
        int fd = *(int *)ctx;
        for (;;) {
                ssize_t r = read(fd, buf, cap);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return it_error_sys(err, IT_EIO, errno, "layer stream");
                *got = (size_t)r;
                return 0;
        }
}

struct stream {
        int wfd;
        bool reader_gone;          /* the unpacker stopped reading (it failed) */
        struct it_push_blob *blob; /* progress, or NULL */
};

/* send(MSG_NOSIGNAL): an unpacker that gave up is EPIPE here, not a SIGPIPE for the process. */
static int sock_sink(void *ctx, const void *data, size_t len, it_error *err)
{
        struct stream *s = ctx;
        const char *p = data;
        while (len > 0) {
                ssize_t w = send(s->wfd, p, len, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) {
                        s->reader_gone = true;
                        return it_error_set(err, IT_EIO, "the unpacker stopped reading");
                }
                if (w < 0)
                        return it_error_sys(err, IT_EIO, errno, "layer stream");
                p += w;
                len -= (size_t)w;
                if (s->blob)
                        atomic_fetch_add(&s->blob->done, (int64_t)w);
        }
        return 0;
}

struct pool {
        struct it_store *st;
        const char *repo;
        struct image *im;
        bool chown;
        const struct it_idmap *map; /* with chown in a user namespace, else NULL */
        const struct it_unpack_limits *limits;
        pthread_mutex_t lock; /* next, err, running, store transaction calls */
        pthread_cond_t cond;  /* a worker finished */
        size_t running;
        struct it_push_blob *blobs; /* one per layer, for the progress display */
        size_t next;
        bool failed;
        it_error err;
        int rc;
};

struct unpacker {
        int rfd;
        int diff_fd;
        struct it_unpack_opts uo;
        struct it_unpack_stats *stats;
        int rc;
        it_error err;
};

static void *unpack_main(void *arg)
{
        struct unpacker *u = arg;
        u->rc = unpack_layer(u->diff_fd, sock_source, &u->rfd, &u->uo, u->stats, &u->err);
        /* A failed unpack stops reading: the download then ends with EPIPE at once. */
        close(u->rfd);
        u->rfd = -1;
        return NULL;
}

/* One attempt: download into a socket pair, the unpacker on the other end in its own thread, so
 * the layer goes from the network to its directory in one pass with no copy on disk. *retry is
 * set when the download (not the layer) failed after bytes were handed out. */
static int stream_layer(struct pool *p, struct it_registry *c, struct layer *l, bool *retry,
                        it_error *err)
{
        *retry = false;
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
                return it_error_sys(err, IT_EIO, errno, "layer %s: socket pair", l->digest_s);
        /* Bigger buffers let the download run ahead of small-file bursts in the unpacker. */
        int sz = 1 << 20;
        (void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        (void)setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);

        int diff_fd = -1, split_fd = -1;
        pthread_mutex_lock(&p->lock);
        int rc = store_layer_begin(p->st, l->chain_id, &diff_fd, &l->tx, err);
        /* The tar-split record lets fsck re-hash the layer later (store.h). */
        if (rc == 0 && (split_fd = store_layer_split_fd(l->tx, err)) < 0)
                rc = split_fd;
        pthread_mutex_unlock(&p->lock);
        if (rc != 0) {
                close(sv[0]);
                close(sv[1]);
                return rc;
        }
        struct unpacker u = {
            .rfd = sv[0], .diff_fd = diff_fd, .stats = &l->stats, .err = IT_ERROR_INIT};
        unpack_opts_init(&u.uo, l->media_type);
        u.uo.compressed = &l->digest;
        u.uo.diff_id = &l->diff_id;
        u.uo.split_fd = split_fd;
        u.uo.chown = p->chown;
        if (p->limits)
                u.uo.limits = *p->limits;
        if (p->map) {
                uint64_t su = userns_idmap_span(p->map, false),
                         sg = userns_idmap_span(p->map, true);
                u.uo.max_uid = su ? (uint32_t)(su - 1) : 0;
                u.uo.max_gid = sg ? (uint32_t)(sg - 1) : 0;
                u.uo.idmap = p->map;
        }
        pthread_t t;
        int e = pthread_create(&t, NULL, unpack_main, &u);
        if (e != 0) {
                close(sv[0]);
                close(sv[1]);
                return it_error_sys(err, IT_EIO, e, "layer %s: starting the unpacker", l->digest_s);
        }
        struct it_push_blob *b = &p->blobs[l - p->im->layers];
        atomic_store(&b->done, 0);
        struct stream s = {.wfd = sv[1], .blob = b};
        _cleanup_error_ it_error derr = IT_ERROR_INIT;
        int drc = registry_blob_get(c, p->repo, l->digest_s, sock_sink, &s, l->size, &derr);
        close(sv[1]);
        pthread_join(t, NULL);
        if (u.rc != 0 && (drc == 0 || s.reader_gone)) {
                /* The layer itself is wrong (or the unpacker could not write): its account. */
                it_error_move(err, &u.err);
                return it_error_wrap(err, "layer %s", l->digest_s);
        }
        it_error_clear(&u.err);
        if (drc != 0) {
                *retry = drc == IT_EIO;
                it_error_move(err, &derr);
                return it_error_wrap(err, "layer %s", l->digest_s);
        }
        return 0;
}

/* A download that breaks off is tried once more from the start, into a fresh transaction. */
static int fetch_layer(struct pool *p, struct it_registry *c, struct layer *l, it_error *err)
{
        bool retry = false;
        int rc = stream_layer(p, c, l, &retry, err);
        if (rc != 0 && retry) {
                pthread_mutex_lock(&p->lock);
                store_layer_abort(l->tx);
                l->tx = NULL;
                pthread_mutex_unlock(&p->lock);
                memset(&l->stats, 0, sizeof l->stats);
                it_error_clear(err);
                rc = stream_layer(p, c, l, &retry, err);
        }
        return rc;
}

struct worker {
        struct pool *p;
        struct it_registry *c; /* this worker's own client (a client is not thread-safe) */
        pthread_t thread;
};

static void *worker(void *arg)
{
        struct worker *w = arg;
        struct pool *p = w->p;
        it_error err = IT_ERROR_INIT;
        int rc = 0;
        for (;;) {
                struct layer *l = NULL;
                pthread_mutex_lock(&p->lock);
                if (rc != 0 && !p->failed) {
                        p->failed = true;
                        p->rc = rc;
                        it_error_move(&p->err, &err);
                }
                while (!p->failed && p->next < p->im->n && p->im->layers[p->next].present)
                        p->next++;
                if (!p->failed && p->next < p->im->n)
                        l = &p->im->layers[p->next++];
                pthread_mutex_unlock(&p->lock);
                if (!l)
                        break;
                struct it_push_blob *b = &p->blobs[l - p->im->layers];
                atomic_store(&b->started_ms, it_mono_ms());
                atomic_store(&b->state, IT_PUSH_FETCHING);
                rc = fetch_layer(p, w->c, l, &err);
                atomic_store(&b->finished_ms, it_mono_ms());
                atomic_store(&b->state, rc == 0 ? IT_PUSH_DONE : IT_PUSH_FAILED);
        }
        it_error_clear(&err);
        pthread_mutex_lock(&p->lock);
        p->running--;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

static int default_jobs(void)
{
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

/* How files get their owners: as root the tar's IDs; in the user's namespace the tar's IDs
 * within the mapping; without a subordinate range, the caller owns everything. */
struct owners {
        bool chown;
        const struct it_idmap *map; /* the namespace's mapping, or NULL */
};

static int fetch_layers(struct it_store *st, const struct owners *ow, const struct it_pull_opts *o,
                        const struct it_endpoint *ep, const struct it_registry *first,
                        const char *repo, struct image *im, size_t missing, it_error *err)
{
        struct pool p = {.st = st,
                         .repo = repo,
                         .im = im,
                         .chown = ow->chown,
                         .map = ow->map,
                         .limits = o->limits,
                         .err = IT_ERROR_INIT};
        size_t nw = o->jobs <= 0 ? (size_t)default_jobs() : (size_t)o->jobs;
        if (nw > missing)
                nw = missing;
        p.blobs = xcalloc(im->n ? im->n : 1, sizeof *p.blobs);
        for (size_t i = 0; i < im->n; i++) {
                p.blobs[i].digest = im->layers[i].digest;
                p.blobs[i].size = im->layers[i].size;
                atomic_store(&p.blobs[i].state,
                             im->layers[i].present ? IT_PUSH_EXISTS : IT_PUSH_WAITING);
        }
        struct worker *ws = xcalloc(nw ? nw : 1, sizeof *ws);
        int rc = 0;
        /* Clients are made here, not in the threads: libcurl's global init is not thread-safe
         * everywhere. Each adopts the first client's scheme and token: no ping, no token
         * request of its own. */
        for (size_t i = 0; i < nw && rc == 0; i++) {
                ws[i].p = &p;
                rc = endpoint_client(ep, &ws[i].c, err);
                if (rc == 0)
                        registry_client_adopt(ws[i].c, first);
        }
        pthread_mutex_init(&p.lock, NULL);
        pthread_cond_init(&p.cond, NULL);
        size_t started = 0;
        for (; rc == 0 && started < nw; started++) {
                pthread_mutex_lock(&p.lock);
                p.running++;
                pthread_mutex_unlock(&p.lock);
                int e = pthread_create(&ws[started].thread, NULL, worker, &ws[started]);
                if (e != 0) {
                        pthread_mutex_lock(&p.lock);
                        p.running--;
                        pthread_mutex_unlock(&p.lock);
                        /* The running workers take the remaining layers. */
                        if (started == 0)
                                rc = it_error_sys(err, IT_EIO, e, "starting a download thread");
                        break;
                }
        }
        long every = o->progress_ms > 0 ? o->progress_ms : 200;
        pthread_mutex_lock(&p.lock);
        while (p.running > 0) {
                it_cond_wait_ms(&p.cond, &p.lock, every);
                if (o->progress && p.running > 0) {
                        pthread_mutex_unlock(&p.lock);
                        o->progress(o->progress_ctx, p.blobs, im->n, false);
                        pthread_mutex_lock(&p.lock);
                }
        }
        pthread_mutex_unlock(&p.lock);
        for (size_t i = 0; i < started; i++)
                pthread_join(ws[i].thread, NULL);
        if (o->progress && rc == 0 && !p.failed)
                o->progress(o->progress_ctx, p.blobs, im->n, true);
        for (size_t i = 0; i < nw; i++)
                registry_client_free(ws[i].c);
        free(ws);
        free(p.blobs);
        pthread_cond_destroy(&p.cond);
        pthread_mutex_destroy(&p.lock);
        if (rc == 0 && p.failed) {
                rc = p.rc;
                it_error_move(err, &p.err);
        }
        it_error_clear(&p.err);
        return rc;
}

static int commit_layers(struct image *im, size_t *fetched, int64_t *fetched_bytes, it_error *err)
{
        /* One flush of the file system for all of them, then a rename each. */
        struct it_store_layer_tx **txs = xcalloc(im->n ? im->n : 1, sizeof *txs);
        size_t ntx = 0;
        for (size_t i = 0; i < im->n; i++)
                if (!im->layers[i].present && im->layers[i].tx)
                        txs[ntx++] = im->layers[i].tx;
        int src = store_layers_sync(txs, ntx, err);
        free(txs);
        if (src != 0)
                return src;
        for (size_t i = 0; i < im->n; i++) {
                struct layer *l = &im->layers[i];
                if (l->present)
                        continue;
                struct it_layer_meta meta = {0};
                snprintf(meta.diff_id, sizeof meta.diff_id, "%s", l->diff_id_s);
                snprintf(meta.parent, sizeof meta.parent, "%s", l->parent);
                snprintf(meta.compressed_digest, sizeof meta.compressed_digest, "%s", l->digest_s);
                meta.compressed_size = (uint64_t)l->stats.compressed_bytes;
                meta.size = (uint64_t)l->stats.uncompressed_bytes;
                snprintf(meta.media_type, sizeof meta.media_type, "%s", l->media_type);
                struct it_store_layer_tx *tx = l->tx;
                l->tx = NULL;
                int rc = store_layer_commit(tx, &meta, err);
                if (rc != 0)
                        return it_error_wrap(err, "layer %s", l->digest_s);
                (*fetched)++;
                *fetched_bytes += l->stats.compressed_bytes;
        }
        return 0;
}

static int load_policy(const struct it_pull_opts *o, struct it_policy *pol, struct it_regd *regd,
                       it_error *err)
{
        _cleanup_free_ char *path = it_path_policy(o->policy);
        _cleanup_free_ char *regd_dir = it_path_registries_d(o->regd);
        if (policy_load(path, pol, err) != 0)
                return err->code;
        return regd_load_dir(regd_dir, regd, err);
}

static int admit(const struct it_pull_opts *o, const char *refstr, struct it_admit_result *ar,
                 it_error *err)
{
        struct it_policy pol = IT_POLICY_INIT;
        struct it_regd regd = IT_REGD_INIT;
        int rc = load_policy(o, &pol, &regd, err);
        if (rc == 0) {
                struct it_admit_opts ao = {.creds = o->creds,
                                           .authfile = o->authfile,
                                           .tls_flag = o->tls_flag,
                                           .tls_verify = o->tls_flag != 0,
                                           .os = o->os,
                                           .arch = o->arch,
                                           .variant = o->variant,
                                           .always_fetch = true};
                struct it_sig_cache *cache = sig_cache_new();
                rc = admit_image(&ao, cache, &pol, &regd, refstr, NULL, ar, err);
                sig_cache_free(cache);
                if (rc == IT_EREJECTED)
                        it_error_wrap(err, "rejected");
        }
        regd_free(&regd);
        policy_free(&pol);
        return rc;
}

/* What the store phase reports; in a user namespace it lives in shared memory. */
struct store_out {
        char id[IT_DIGEST_STR_MAX];
        size_t fetched, present;
        int64_t fetched_bytes;
};

static int store_layers(const struct it_pull_opts *o, const struct owners *ow,
                        const struct it_admit_result *ar, struct image *im,
                        const struct it_buf *config, const struct it_endpoint *ep,
                        const struct it_registry *first, const char *name, struct it_store *st,
                        struct store_out *out, it_error *err)
{
        int rc;
        if ((rc = store_lock(st, false, err)) != 0 || (rc = store_recover(st, NULL, err)) != 0)
                return rc;
        size_t missing = 0;
        for (size_t i = 0; i < im->n; i++) {
                im->layers[i].present = store_layer_exists(st, im->layers[i].chain_id);
                if (im->layers[i].present)
                        out->present++;
                else
                        missing++;
        }
        if (missing > 0) {
                rc = fetch_layers(st, ow, o, ep, first, ar->ref.path, im, missing, err);
                if (rc == 0)
                        rc = commit_layers(im, &out->fetched, &out->fetched_bytes, err);
                if (rc != 0)
                        return rc;
        } else if (o->progress) {
                struct it_push_blob *bs = xcalloc(im->n ? im->n : 1, sizeof *bs);
                for (size_t i = 0; i < im->n; i++) {
                        bs[i].digest = im->layers[i].digest;
                        bs[i].size = im->layers[i].size;
                        atomic_store(&bs[i].state, IT_PUSH_EXISTS);
                }
                o->progress(o->progress_ctx, bs, im->n, true);
                free(bs);
        }
        const char **chain = xcalloc(im->n ? im->n : 1, sizeof *chain);
        for (size_t i = 0; i < im->n; i++)
                chain[i] = im->layers[i].chain_id;
        const char *names[1] = {name};
        char hex[IT_DIGEST_HEX_MAX + 1];
        rc = store_image_put(st, ar->manifest.data, ar->manifest.len, config->data, config->len,
                             names, 1, chain, im->n, hex, err);
        free(chain);
        if (rc == 0)
                snprintf(out->id, sizeof out->id, "sha256:%s", hex);
        return rc;
}

struct store_phase {
        const struct it_pull_opts *o;
        struct owners ow;
        const struct it_admit_result *ar;
        struct image *im;
        const struct it_buf *config;
        const struct it_endpoint *ep;
        const struct it_registry *first;
        const char *name;
        const char *root;
        struct store_out *out;
};

static int store_phase_run(void *arg, it_error *err)
{
        struct store_phase *sp = arg;
        struct it_store *st = NULL;
        int rc = store_open(sp->root, &st, err);
        if (rc != 0)
                return rc;
        rc = store_layers(sp->o, &sp->ow, sp->ar, sp->im, sp->config, sp->ep, sp->first, sp->name,
                          st, sp->out, err);
        /* A failed pull commits nothing: drop every transaction while the store is open. */
        for (size_t i = 0; i < sp->im->n; i++) {
                store_layer_abort(sp->im->layers[i].tx);
                sp->im->layers[i].tx = NULL;
        }
        store_close(st);
        return rc;
}

static int pull_into_store(const struct it_pull_opts *o, const struct it_admit_result *ar,
                           struct image *im, const struct it_buf *config,
                           const struct it_endpoint *ep, const struct it_registry *first,
                           struct it_pull_result *res, it_error *err)
{
        struct store_phase sp = {.o = o,
                                 .ar = ar,
                                 .im = im,
                                 .config = config,
                                 .ep = ep,
                                 .first = first,
                                 .name = res->name};
        struct it_idmap map;
        int rc;
        /* Chosen out here: inside the namespace everyone is root, whose default differs. */
        _cleanup_free_ char *root = o->root ? xstrdup(o->root) : store_default_root();
        if (!root)
                return it_error_set(err, IT_EINPUT,
                                    "no store: neither XDG_DATA_HOME nor HOME is set; give --root");
        sp.root = root;
        if (geteuid() == 0) {
                sp.ow.chown = true;
        } else {
                rc = userns_idmap_for_user(o->subuid, o->subgid, getuid(), &map, err);
                if (rc != 0)
                        return rc;
                if (map.single_id) {
                        const char *u = map.user[0] ? map.user : "this user";
                        free(res->warning);
                        res->warning = xasprintf(
                            "no subordinate uid/gid range for %s in %s and %s: every file is "
                            "stored as owned by %s, whatever the image says (podman's layout "
                            "needs a line such as \"%s:100000:65536\" in both files)",
                            u, o->subuid ? o->subuid : "/etc/subuid",
                            o->subgid ? o->subgid : "/etc/subgid", u, u);
                } else {
                        sp.ow.chown = true;
                        sp.ow.map = &map;
                }
        }
        struct store_out *out;
        if (sp.ow.map) {
                /* The namespace child reports through shared memory; its threads start there,
                 * after the fork, so none of ours is copied half-way through a lock. */
                out = userns_shared_alloc(sizeof *out);
                sp.out = out;
                rc = userns_run(&map, 0, store_phase_run, &sp, err);
        } else {
                out = xcalloc(1, sizeof *out);
                sp.out = out;
                rc = store_phase_run(&sp, err);
        }
        if (rc == 0) {
                snprintf(res->id, sizeof res->id, "%s", out->id);
                res->fetched = out->fetched;
                res->present = out->present;
                res->fetched_bytes = out->fetched_bytes;
                for (size_t i = 0; i < im->n; i++)
                        it_strv_push(&res->layers, im->layers[i].chain_id);
        }
        if (sp.ow.map)
                userns_shared_free(out, sizeof *out);
        else
                free(out);
        return rc;
}

/* Everything after the policy said yes: the manifest's config and layers. */
static int pull_admitted(const struct it_pull_opts *o, const struct it_admit_result *ar,
                         struct image *im, struct it_pull_result *res, it_error *err)
{
        int rc = manifest_parse(ar->media_type, &ar->manifest, im, err);
        if (rc != 0)
                return rc;
        char cs[IT_DIGEST_STR_MAX];
        digest_format(&im->config, cs);
        if (im->config_size > (int64_t)IT_PULL_CONFIG_MAX)
                return it_error_set(err, IT_EINPUT, "config %s: %" PRId64 " bytes, more than %u",
                                    cs, im->config_size, IT_PULL_CONFIG_MAX);
        struct it_endpoint ep = IT_ENDPOINT_INIT;
        struct it_endpoint_flags fl = {
            .tls_verify = o->tls_flag, .creds = o->creds, .authfile = o->authfile};
        struct it_registry *c = NULL;
        _cleanup_buf_ struct it_buf config = IT_BUF_INIT;
        rc = endpoint_resolve(ar->ref.domain, ar->ref.path, &fl, &ep, err);
        if (rc == 0)
                rc = endpoint_client(&ep, &c, err);
        if (rc == 0) {
                rc =
                    registry_blob_get(c, ar->ref.path, cs, buf_sink, &config, im->config_size, err);
                if (rc != 0)
                        it_error_wrap(err, "config %s", cs);
        }
        if (rc == 0)
                rc = config_diff_ids(&config, im, err);
        if (rc == 0)
                rc = pull_into_store(o, ar, im, &config, &ep, c, res, err);
        registry_client_free(c);
        endpoint_free(&ep);
        return rc;
}

int pull_image(const struct it_pull_opts *o, const char *refstr, struct it_pull_result *res,
               it_error *err)
{
        if (strncmp(refstr, "docker://", 9) != 0)
                return it_error_set(err, IT_EINPUT, "%s: only docker:// references can be pulled",
                                    refstr);
        struct it_admit_result ar = IT_ADMIT_RESULT_INIT;
        struct image im = {0};
        int rc = admit(o, refstr, &ar, err);
        if (rc == 0 && (!ar.has_ref || !ar.fetched))
                rc = it_error_set(err, IT_EINPUT, "no manifest to pull");
        if (rc == 0) {
                digest_format(&ar.digest, res->digest);
                res->name = ref_string(&ar.ref);
                rc = pull_admitted(o, &ar, &im, res, err);
        }
        if (rc != 0)
                it_error_wrap(err, "%s", refstr);
        image_free(&im);
        admit_result_free(&ar);
        return rc;
}
