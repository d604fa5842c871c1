/* The image store (layout in imgtrust/store.h). */
#include "imgtrust/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/json.h"
#include "imgtrust/ref.h"
#include "imgtrust/tarsplit.h"
#include "imgtrust/xalloc.h"

#define LAYER_JSON_MAX (64 * 1024)
#define IMAGE_JSON_MAX (1024 * 1024)
#define MANIFEST_MAX (4 * 1024 * 1024)
#define CONFIG_MAX (16 * 1024 * 1024)
#define IMAGE_NAMES_MAX 1000
#define IMAGE_NAME_LEN_MAX 1024
#define IMAGE_LAYERS_MAX 1000

struct it_store {
        char *root;
        int rootfd, layersfd, imagesfd, tmpfd, lockfd;
};

struct it_store_layer_tx {
        struct it_store *st;
        char name[64]; /* tmp/ entry */
        int entryfd;   /* flock(LOCK_EX) held while the entry lives */
        int difffd;
        int splitfd; /* tar-split, once asked for */
        bool synced; /* store_layers_sync() flushed the files written so far */
        char chain_id[IT_DIGEST_STR_MAX];
        char hex[IT_DIGEST_HEX_MAX + 1];
};

/* ---- fd-relative helpers ---- */

/* Everything inside the store is reached from one of its directory fds, never through a symlink
 * or outside it, whatever someone put in the tree. */
static int st_openat(int dirfd, const char *path, int flags, mode_t mode)
{
        return it_openat_beneath(dirfd, path, flags, mode);
}

static void random_hex(char *out, size_t nbytes)
{
        unsigned char r[16];
        if (nbytes > sizeof r)
                nbytes = sizeof r;
        size_t got = 0;
        while (got < nbytes) {
                ssize_t n = getrandom(r + got, nbytes - got, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        /* Uniqueness, not secrecy: mkdir/O_EXCL catches a clash. */
                        struct timespec ts;
                        clock_gettime(CLOCK_MONOTONIC, &ts);
                        unsigned long long v = (unsigned long long)ts.tv_nsec ^
                                               ((unsigned long long)getpid() << 32) ^
                                               (unsigned long long)ts.tv_sec;
                        for (; got < nbytes; got++, v = v * 6364136223846793005ULL + 1)
                                r[got] = (unsigned char)(v >> 56);
                        break;
                }
                got += (size_t)n;
        }
        for (size_t i = 0; i < nbytes; i++)
                sprintf(out + 2 * i, "%02x", r[i]);
}

static int flock_retry(int fd, int op)
{
        int r;
        do
                r = flock(fd, op);
        while (r != 0 && errno == EINTR);
        return r;
}

/* Write name in dirfd as temp + fsync + rename + directory fsync. */
static int write_atomic_at(int dirfd, const char *name, const void *data, size_t len,
                           const char *what, it_error *err)
{
        char rnd[17];
        random_hex(rnd, 8);
        _cleanup_free_ char *tmp = xasprintf(".%s.%s", name, rnd);
        _cleanup_close_ int fd = st_openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s: cannot create a temporary file", what);
        int saved;
        if (it_write_all(fd, data, len) != 0 || fsync(fd) != 0)
                goto fail;
        if (close(IT_STEAL_FD(fd)) != 0)
                goto fail;
        if (renameat(dirfd, tmp, dirfd, name) != 0)
                goto fail;
        (void)fsync(dirfd);
        return 0;
fail:
        saved = errno;
        unlinkat(dirfd, tmp, 0);
        return it_error_sys(err, IT_EIO, saved, "%s: cannot write", what);
}

/* A new file in a private (tmp/) directory: no rename needed, the directory's rename is. */
static int write_new_at(int dirfd, const char *name, const void *data, size_t len, const char *what,
                        it_error *err)
{
        _cleanup_close_ int fd = st_openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s: cannot create", what);
        if (it_write_all(fd, data, len) != 0 || fsync(fd) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s: cannot write", what);
        return 0;
}

static int read_at(int dirfd, const char *path, size_t max, const char *what, char **data,
                   size_t *len, it_error *err)
{
        *data = NULL;
        *len = 0;
        _cleanup_close_ int fd = st_openat(dirfd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
        if (fd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s", what);
        return it_fd_read(fd, what, max, data, len, err);
}

static int rm_tree_at(int dfd, const char *name, const char *what, it_error *err);

static int rm_children(int fd, const char *what, it_error *err)
{
        int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (dup_fd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s", what);
        DIR *d = fdopendir(dup_fd);
        if (!d) {
                int e = errno;
                close(dup_fd);
                return it_error_sys(err, IT_EIO, e, "%s", what);
        }
        int rc = 0;
        struct dirent *de;
        for (;;) {
                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno)
                                rc = it_error_sys(err, IT_EIO, errno, "%s", what);
                        break;
                }
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                rc = rm_tree_at(fd, de->d_name, what, err);
                if (rc < 0)
                        break;
        }
        closedir(d);
        return rc;
}

/* rm -rf of dfd/name without following symlinks. Directories the unpacker left read-only are made
 * writable first (we own them, or are root in the namespace that does). */
static int rm_tree_at(int dfd, const char *name, const char *what, it_error *err)
{
        if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
                return 0;
        if (errno != EISDIR && errno != EPERM)
                return it_error_sys(err, IT_EIO, errno, "%s: cannot remove %s", what, name);
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == EACCES && fchmodat(dfd, name, 0700, 0) == 0)
                fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s: cannot remove %s", what, name);
        struct stat sb;
        if (fstat(fd, &sb) == 0 && (sb.st_mode & 0700) != 0700)
                (void)fchmod(fd, 0700);
        int rc = rm_children(fd, what, err);
        close(fd);
        if (rc < 0)
                return rc;
        if (unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
                return it_error_sys(err, IT_EIO, errno, "%s: cannot remove %s", what, name);
        return 0;
}

static bool is_hex64(const char *s)
{
        size_t n = 0;
        for (; s[n]; n++)
                if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
                        return false;
        return n == 64;
}

/* "sha256:<64 hex>" only: store directory names are sha256 hex. */
static int parse_sha256(const char *s, const char *what, char hex[IT_DIGEST_HEX_MAX + 1],
                        it_error *err)
{
        struct it_digest d;
        int rc = digest_parse(s, &d, err);
        if (rc < 0)
                return it_error_wrap(err, "%s", what);
        if (d.alg != IT_DIGEST_SHA256)
                return it_error_set(err, IT_EINPUT, "%s: %s is not a sha256 digest", what, s);
        memcpy(hex, d.hex, 65);
        return 0;
}

static void now_rfc3339(char out[IT_STORE_TIME_MAX])
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        char base[32], full[64];
        strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(full, sizeof full, "%.31s.%09dZ", base, (int)(ts.tv_nsec % 1000000000));
        snprintf(out, IT_STORE_TIME_MAX, "%.39s", full);
}

/* ---- open, close, lock ---- */

char *store_default_root(void)
{
        if (geteuid() == 0)
                return xstrdup("/var/lib/imgtrust/storage");
        const char *xdg = getenv("XDG_DATA_HOME");
        if (xdg && *xdg == '/')
                return xasprintf("%s/imgtrust/storage", xdg);
        const char *home = getenv("HOME");
        if (home && *home)
                return xasprintf("%s/.local/share/imgtrust/storage", home);
        return NULL;
}

static int mkdir_p(const char *path, it_error *err)
{
        _cleanup_free_ char *p = xstrdup(path);
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, 0700) != 0 && errno != EEXIST)
                        return it_error_sys(err, IT_EIO, errno, "cannot create %s", p);
                *s = '/';
        }
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
                return it_error_sys(err, IT_EIO, errno, "cannot create %s", p);
        return 0;
}

static int open_subdir(struct it_store *st, const char *name, int *fd, it_error *err)
{
        if (mkdirat(st->rootfd, name, 0700) != 0 && errno != EEXIST)
                return it_error_sys(err, IT_EIO, errno, "%s/%s: cannot create", st->root, name);
        *fd = st_openat(st->rootfd, name, O_RDONLY | O_DIRECTORY, 0);
        if (*fd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s/%s", st->root, name);
        return 0;
}

static int open_lockfile(const struct it_store *st, const char *name, int *fd, it_error *err)
{
        *fd = st_openat(st->rootfd, name, O_RDWR | O_CREAT, 0600);
        if (*fd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s/%s", st->root, name);
        return 0;
}

void store_close(struct it_store *st)
{
        if (!st)
                return;
        int *fds[] = {&st->rootfd, &st->layersfd, &st->imagesfd, &st->tmpfd, &st->lockfd};
        for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
                if (*fds[i] >= 0)
                        close(*fds[i]);
        free(st->root);
        free(st);
}

int store_open(const char *root, struct it_store **out, it_error *err)
{
        *out = NULL;
        _cleanup_free_ char *def = NULL;
        if (!root) {
                def = store_default_root();
                if (!def)
                        return it_error_set(err, IT_EINPUT,
                                            "no store location: neither XDG_DATA_HOME nor HOME "
                                            "is set (give a root)");
                root = def;
        }
        if (!*root)
                return it_error_set(err, IT_EINPUT, "empty store root");
        struct it_store *st = xcalloc(1, sizeof *st);
        st->rootfd = st->layersfd = st->imagesfd = st->tmpfd = st->lockfd = -1;
        st->root = xstrdup(root);
        size_t l = strlen(st->root);
        while (l > 1 && st->root[l - 1] == '/')
                st->root[--l] = '\0';
        int rc = mkdir_p(st->root, err);
        if (rc < 0)
                goto fail;
        st->rootfd = open(st->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (st->rootfd < 0) {
                rc = it_error_sys(err, IT_EIO, errno, "%s", st->root);
                goto fail;
        }
        if ((rc = open_subdir(st, "layers", &st->layersfd, err)) < 0 ||
            (rc = open_subdir(st, "images", &st->imagesfd, err)) < 0 ||
            (rc = open_subdir(st, "tmp", &st->tmpfd, err)) < 0 ||
            (rc = open_lockfile(st, "lock", &st->lockfd, err)) < 0)
                goto fail;
        *out = st;
        return 0;
fail:
        store_close(st);
        return rc;
}

const char *store_root_path(const struct it_store *st)
{
        return st->root;
}

int store_root_fd(const struct it_store *st)
{
        return st->rootfd;
}

int store_lock(struct it_store *st, bool exclusive, it_error *err)
{
        if (flock_retry(st->lockfd, exclusive ? LOCK_EX : LOCK_SH) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s/lock: cannot lock", st->root);
        return 0;
}

void store_unlock(struct it_store *st)
{
        (void)flock_retry(st->lockfd, LOCK_UN);
}

/* ---- chain IDs ---- */

int store_chain_id(const char *parent, const char *diff_id, char out[IT_DIGEST_STR_MAX],
                   it_error *err)
{
        char hex[IT_DIGEST_HEX_MAX + 1];
        int rc = parse_sha256(diff_id, "diff ID", hex, err);
        if (rc < 0)
                return rc;
        if (!parent || !*parent) {
                snprintf(out, IT_DIGEST_STR_MAX, "sha256:%s", hex);
                return 0;
        }
        char phex[IT_DIGEST_HEX_MAX + 1];
        if ((rc = parse_sha256(parent, "parent chain ID", phex, err)) < 0)
                return rc;
        _cleanup_free_ char *s = xasprintf("sha256:%s sha256:%s", phex, hex);
        struct it_digest d;
        digest_compute(IT_DIGEST_SHA256, s, strlen(s), &d);
        digest_format(&d, out);
        return 0;
}

/* ---- tmp/ entries ---- */

/* A new locked directory tmp/<kind>-<random>. tmp.lock (shared) spans creation and locking so
 * that store_recover(), which takes it exclusively, never sees an entry not yet locked. */
static int tmp_entry_new(struct it_store *st, const char *kind, char name[64], int *fd,
                         it_error *err)
{
        _cleanup_close_ int lk = -1;
        int rc = open_lockfile(st, "tmp.lock", &lk, err);
        if (rc < 0)
                return rc;
        if (flock_retry(lk, LOCK_SH) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s/tmp.lock", st->root);
        for (int tries = 0;; tries++) {
                char rnd[17];
                random_hex(rnd, 8);
                snprintf(name, 64, "%s-%s", kind, rnd);
                if (mkdirat(st->tmpfd, name, 0700) == 0)
                        break;
                if (errno != EEXIST || tries > 100)
                        return it_error_sys(err, IT_EIO, errno, "%s/tmp: cannot create an entry",
                                            st->root);
        }
        *fd = st_openat(st->tmpfd, name, O_RDONLY | O_DIRECTORY, 0);
        if (*fd < 0 || flock_retry(*fd, LOCK_EX | LOCK_NB) != 0) {
                int e = errno;
                if (*fd >= 0)
                        close(*fd);
                *fd = -1;
                unlinkat(st->tmpfd, name, AT_REMOVEDIR);
                return it_error_sys(err, IT_EIO, e, "%s/tmp/%s", st->root, name);
        }
        return 0;
}

/* Move dirfd/name into tmp/ (so it leaves its visible place in one step) and delete it there. A
 * failed delete leaves an unlocked tmp/ entry for the next recover. */
static int discard_dir(struct it_store *st, int dirfd, const char *name, const char *what,
                       it_error *err)
{
        char rnd[17], tname[128];
        random_hex(rnd, 8);
        snprintf(tname, sizeof tname, "rm-%.64s-%s", name, rnd);
        if (renameat(dirfd, name, st->tmpfd, tname) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s: cannot remove", what);
        (void)fsync(dirfd);
        return rm_tree_at(st->tmpfd, tname, what, err);
}

/* ---- layers ---- */

int store_layer_begin(struct it_store *st, const char *chain_id, int *diff_fd,
                      struct it_store_layer_tx **tx, it_error *err)
{
        *diff_fd = -1;
        *tx = NULL;
        char hex[IT_DIGEST_HEX_MAX + 1];
        int rc = parse_sha256(chain_id, "chain ID", hex, err);
        if (rc < 0)
                return rc;
        struct it_store_layer_tx *t = xcalloc(1, sizeof *t);
        t->st = st;
        t->entryfd = t->difffd = t->splitfd = -1;
        memcpy(t->hex, hex, sizeof t->hex);
        snprintf(t->chain_id, sizeof t->chain_id, "sha256:%s", hex);
        rc = tmp_entry_new(st, "layer", t->name, &t->entryfd, err);
        if (rc < 0) {
                free(t);
                return rc;
        }
        if (mkdirat(t->entryfd, "diff", 0755) != 0 ||
            (t->difffd = st_openat(t->entryfd, "diff", O_RDONLY | O_DIRECTORY, 0)) < 0) {
                rc = it_error_sys(err, IT_EIO, errno, "%s/tmp/%s/diff", st->root, t->name);
                store_layer_abort(t);
                return rc;
        }
        *diff_fd = t->difffd;
        *tx = t;
        return 0;
}

void store_layer_abort(struct it_store_layer_tx *tx)
{
        if (!tx)
                return;
        _cleanup_error_ it_error ignored = IT_ERROR_INIT;
        if (tx->difffd >= 0)
                close(tx->difffd);
        if (tx->splitfd >= 0)
                close(tx->splitfd);
        /* Removed while still locked; if this fails, recover finds it unlocked later. */
        (void)rm_tree_at(tx->st->tmpfd, tx->name, "layer", &ignored);
        if (tx->entryfd >= 0)
                close(tx->entryfd);
        free(tx);
}

int store_layer_split_fd(struct it_store_layer_tx *tx, it_error *err)
{
        if (tx->splitfd >= 0)
                return tx->splitfd;
        tx->splitfd = st_openat(tx->entryfd, "tar-split", O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (tx->splitfd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s/tmp/%s/tar-split: cannot create",
                                    tx->st->root, tx->name);
        return tx->splitfd;
}

static json_t *layer_meta_json(const struct it_layer_meta *m)
{
        json_t *j = json_object();
        json_object_set_new(j, "chain-id", json_string(m->chain_id));
        json_object_set_new(j, "diff-id", json_string(m->diff_id));
        json_object_set_new(j, "parent", json_string(m->parent));
        json_object_set_new(j, "compressed-digest", json_string(m->compressed_digest));
        json_object_set_new(j, "compressed-size", json_integer((json_int_t)m->compressed_size));
        json_object_set_new(j, "size", json_integer((json_int_t)m->size));
        json_object_set_new(j, "media-type", json_string(m->media_type));
        json_object_set_new(j, "created", json_string(m->created));
        return j;
}

static bool printable(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
                        return false;
        return true;
}

static int write_layer_json(struct it_store_layer_tx *tx, const struct it_layer_meta *m,
                            it_error *err)
{
        _cleanup_json_ json_t *j = layer_meta_json(m);
        _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2));
        _cleanup_free_ char *what = xasprintf("%s/tmp/%s/layer.json", tx->st->root, tx->name);
        return write_new_at(tx->entryfd, "layer.json", text, strlen(text), what, err);
}

int store_layer_commit(struct it_store_layer_tx *tx, const struct it_layer_meta *in, it_error *err)
{
        struct it_store *st = tx->st;
        struct it_layer_meta m = *in;
        char hex[IT_DIGEST_HEX_MAX + 1];
        char want[IT_DIGEST_STR_MAX];
        int rc;
        m.media_type[sizeof m.media_type - 1] = '\0';
        m.compressed_digest[sizeof m.compressed_digest - 1] = '\0';
        m.parent[sizeof m.parent - 1] = '\0';
        m.diff_id[sizeof m.diff_id - 1] = '\0';
        if ((rc = store_chain_id(m.parent, m.diff_id, want, err)) < 0)
                goto fail;
        if (strcmp(want, tx->chain_id) != 0) {
                rc = it_error_set(err, IT_EINPUT,
                                  "layer %s: diff ID %s on parent %s gives chain ID %s",
                                  tx->chain_id, m.diff_id, *m.parent ? m.parent : "(none)", want);
                goto fail;
        }
        if (*m.compressed_digest &&
            (rc = parse_sha256(m.compressed_digest, "compressed digest", hex, err)) < 0)
                goto fail;
        if (!printable(m.media_type) || m.size > INT64_MAX || m.compressed_size > INT64_MAX) {
                rc = it_error_set(err, IT_EINPUT, "layer %s: invalid media type or size",
                                  tx->chain_id);
                goto fail;
        }
        memcpy(m.chain_id, tx->chain_id, sizeof m.chain_id);
        now_rfc3339(m.created);
        if ((rc = write_layer_json(tx, &m, err)) < 0)
                goto fail;
        /* The files the unpacker wrote: one syncfs instead of walking the tree (done already for
         * a batch by store_layers_sync). */
        if ((!tx->synced && syncfs(tx->difffd) != 0) || fsync(tx->difffd) != 0 ||
            (tx->splitfd >= 0 && fsync(tx->splitfd) != 0) || fsync(tx->entryfd) != 0) {
                rc = it_error_sys(err, IT_EIO, errno, "%s/tmp/%s: cannot sync", st->root, tx->name);
                goto fail;
        }
        if (renameat2(st->tmpfd, tx->name, st->layersfd, tx->hex, RENAME_NOREPLACE) != 0) {
                int e = errno;
                if (e == EINVAL) /* no RENAME_NOREPLACE here: a layer dir is never empty */
                        e = renameat(st->tmpfd, tx->name, st->layersfd, tx->hex) == 0 ? 0 : errno;
                if (e == EEXIST || e == ENOTEMPTY) {
                        /* Someone else committed this chain ID first: theirs is as good. */
                        store_layer_abort(tx);
                        return 0;
                }
                if (e != 0) {
                        rc = it_error_sys(err, IT_EIO, e, "%s/layers/%s: cannot commit", st->root,
                                          tx->hex);
                        goto fail;
                }
        }
        (void)fsync(st->layersfd);
        (void)fsync(st->tmpfd);
        close(tx->difffd);
        if (tx->splitfd >= 0)
                close(tx->splitfd);
        close(tx->entryfd);
        free(tx);
        return 0;
fail:
        store_layer_abort(tx);
        return rc;
}

int store_layers_sync(struct it_store_layer_tx *const *txs, size_t n, it_error *err)
{
        if (n == 0)
                return 0;
        if (syncfs(txs[0]->difffd) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s: cannot sync", txs[0]->st->root);
        for (size_t i = 0; i < n; i++)
                txs[i]->synced = true;
        return 0;
}

bool store_layer_exists(struct it_store *st, const char *chain_id)
{
        _cleanup_error_ it_error ignored = IT_ERROR_INIT;
        char hex[IT_DIGEST_HEX_MAX + 1];
        if (parse_sha256(chain_id, "chain ID", hex, &ignored) < 0)
                return false;
        char path[192];
        snprintf(path, sizeof path, "layers/%s/layer.json", hex);
        _cleanup_close_ int fd = st_openat(st->rootfd, path, O_PATH, 0);
        return fd >= 0;
}

char *store_layer_diff_path(const struct it_store *st, const char *chain_id)
{
        const char *c = strchr(chain_id, ':');
        return xasprintf("%s/layers/%s/diff", st->root, c ? c + 1 : chain_id);
}

static int json_str_field(const json_t *obj, const char *key, bool may_be_empty, char *out,
                          size_t cap, const char *what, it_error *err)
{
        const json_t *v = json_object_get(obj, key);
        if (!v || !json_is_string(v))
                return it_error_set(err, IT_EINPUT, "%s: \"%s\" must be a string", what, key);
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (n >= cap || strlen(s) != n || !printable(s) || (!may_be_empty && n == 0))
                return it_error_set(err, IT_EINPUT, "%s: invalid \"%s\"", what, key);
        memcpy(out, s, n + 1);
        return 0;
}

static int json_u64_field(const json_t *obj, const char *key, uint64_t *out, const char *what,
                          it_error *err)
{
        const json_t *v = json_object_get(obj, key);
        if (!v || !json_is_integer(v) || json_integer_value(v) < 0)
                return it_error_set(err, IT_EINPUT, "%s: \"%s\" must be a non-negative integer",
                                    what, key);
        *out = (uint64_t)json_integer_value(v);
        return 0;
}

static int only_keys(const json_t *obj, const char *const *keys, const char *what, it_error *err)
{
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)obj, k, v)
        {
                bool ok = false;
                for (size_t i = 0; keys[i]; i++)
                        ok = ok || !strcmp(k, keys[i]);
                if (!ok) {
                        _cleanup_free_ char *q = it_quote(k, 64);
                        return it_error_set(err, IT_EINPUT, "%s: unknown field %s", what, q);
                }
        }
        return 0;
}

static int parse_layer_json(const char *data, size_t len, const char *what, struct it_layer_meta *m,
                            it_error *err)
{
        static const char *const keys[] = {"chain-id",          "diff-id",         "parent",
                                           "compressed-digest", "compressed-size", "size",
                                           "media-type",        "created",         NULL};
        memset(m, 0, sizeof *m);
        _cleanup_json_ json_t *j = NULL;
        int rc = it_json_parse(data, len, LAYER_JSON_MAX, what, &j, err);
        if (rc < 0)
                return rc;
        if (!json_is_object(j))
                return it_error_set(err, IT_EINPUT, "%s: expected an object", what);
        char hex[IT_DIGEST_HEX_MAX + 1];
        if ((rc = only_keys(j, keys, what, err)) < 0 ||
            (rc = json_str_field(j, "chain-id", false, m->chain_id, sizeof m->chain_id, what,
                                 err)) < 0 ||
            (rc = json_str_field(j, "diff-id", false, m->diff_id, sizeof m->diff_id, what, err)) <
                0 ||
            (rc = json_str_field(j, "parent", true, m->parent, sizeof m->parent, what, err)) < 0 ||
            (rc = json_str_field(j, "compressed-digest", true, m->compressed_digest,
                                 sizeof m->compressed_digest, what, err)) < 0 ||
            (rc = json_u64_field(j, "compressed-size", &m->compressed_size, what, err)) < 0 ||
            (rc = json_u64_field(j, "size", &m->size, what, err)) < 0 ||
            (rc = json_str_field(j, "media-type", true, m->media_type, sizeof m->media_type, what,
                                 err)) < 0 ||
            (rc = json_str_field(j, "created", false, m->created, sizeof m->created, what, err)) <
                0)
                return rc;
        if ((rc = parse_sha256(m->chain_id, what, hex, err)) < 0 ||
            (rc = parse_sha256(m->diff_id, what, hex, err)) < 0 ||
            (*m->parent && (rc = parse_sha256(m->parent, what, hex, err)) < 0) ||
            (*m->compressed_digest &&
             (rc = parse_sha256(m->compressed_digest, what, hex, err)) < 0))
                return rc;
        return 0;
}

static int layer_get_hex(struct it_store *st, const char *hex, struct it_layer_meta *out,
                         it_error *err)
{
        char path[192];
        snprintf(path, sizeof path, "layers/%s/layer.json", hex);
        _cleanup_free_ char *what = xasprintf("%s/%s", st->root, path);
        _cleanup_free_ char *data = NULL;
        size_t len;
        int rc = read_at(st->rootfd, path, LAYER_JSON_MAX, what, &data, &len, err);
        if (rc < 0)
                return rc;
        return parse_layer_json(data, len, what, out, err);
}

int store_layer_get(struct it_store *st, const char *chain_id, struct it_layer_meta *out,
                    it_error *err)
{
        char hex[IT_DIGEST_HEX_MAX + 1];
        int rc = parse_sha256(chain_id, "chain ID", hex, err);
        if (rc < 0)
                return rc;
        return layer_get_hex(st, hex, out, err);
}

/* ---- images ---- */

void store_image_free(struct it_store_image *img)
{
        if (!img)
                return;
        it_strv_free(&img->names);
        it_strv_free(&img->layers);
        memset(img, 0, sizeof *img);
}

void store_image_list_free(struct it_store_image *imgs, size_t n)
{
        for (size_t i = 0; i < n; i++)
                store_image_free(&imgs[i]);
        free(imgs);
}

static json_t *image_json(const struct it_store_image *img)
{
        json_t *j = json_object();
        json_object_set_new(j, "id", json_string(img->id));
        json_object_set_new(j, "digest", json_string(img->digest));
        json_t *names = json_array();
        for (size_t i = 0; i < img->names.n; i++)
                json_array_append_new(names, json_string(img->names.v[i]));
        json_object_set_new(j, "names", names);
        json_t *layers = json_array();
        for (size_t i = 0; i < img->layers.n; i++)
                json_array_append_new(layers, json_string(img->layers.v[i]));
        json_object_set_new(j, "layers", layers);
        json_object_set_new(j, "created", json_string(img->created));
        return j;
}

static int str_array(const json_t *j, const char *key, size_t max, size_t maxlen, bool digests,
                     struct it_strv *out, const char *what, it_error *err)
{
        const json_t *a = json_object_get(j, key);
        if (!a || !json_is_array(a) || json_array_size(a) > max)
                return it_error_set(err, IT_EINPUT, "%s: \"%s\" must be an array of at most %zu",
                                    what, key, max);
        size_t i;
        const json_t *v;
        json_array_foreach(a, i, v)
        {
                const char *s = json_string_value(v);
                if (!s || !*s || strlen(s) != json_string_length(v) || strlen(s) > maxlen ||
                    !printable(s))
                        return it_error_set(err, IT_EINPUT, "%s: \"%s\"[%zu] is invalid", what, key,
                                            i);
                char hex[IT_DIGEST_HEX_MAX + 1];
                if (digests) {
                        int rc = parse_sha256(s, what, hex, err);
                        if (rc < 0)
                                return rc;
                }
                it_strv_push(out, s);
        }
        return 0;
}

static int parse_image_json(const char *data, size_t len, const char *what,
                            struct it_store_image *img, it_error *err)
{
        static const char *const keys[] = {"id", "digest", "names", "layers", "created", NULL};
        memset(img, 0, sizeof *img);
        _cleanup_json_ json_t *j = NULL;
        int rc = it_json_parse(data, len, IMAGE_JSON_MAX, what, &j, err);
        if (rc < 0)
                return rc;
        if (!json_is_object(j))
                return it_error_set(err, IT_EINPUT, "%s: expected an object", what);
        char hex[IT_DIGEST_HEX_MAX + 1];
        if ((rc = only_keys(j, keys, what, err)) < 0 ||
            (rc = json_str_field(j, "id", false, img->id, sizeof img->id, what, err)) < 0 ||
            (rc = json_str_field(j, "digest", false, img->digest, sizeof img->digest, what, err)) <
                0 ||
            (rc = json_str_field(j, "created", false, img->created, sizeof img->created, what,
                                 err)) < 0 ||
            (rc = parse_sha256(img->digest, what, hex, err)) < 0)
                goto fail;
        if (!is_hex64(img->id)) {
                rc = it_error_set(err, IT_EINPUT, "%s: \"id\" must be 64 lowercase hex", what);
                goto fail;
        }
        if ((rc = str_array(j, "names", IMAGE_NAMES_MAX, IMAGE_NAME_LEN_MAX, false, &img->names,
                            what, err)) < 0 ||
            (rc = str_array(j, "layers", IMAGE_LAYERS_MAX, IT_DIGEST_STR_MAX, true, &img->layers,
                            what, err)) < 0)
                goto fail;
        return 0;
fail:
        store_image_free(img);
        return rc;
}

static int image_get_hex(struct it_store *st, const char *hex, struct it_store_image *img,
                         it_error *err)
{
        char path[192];
        snprintf(path, sizeof path, "images/%s/image.json", hex);
        _cleanup_free_ char *what = xasprintf("%s/%s", st->root, path);
        _cleanup_free_ char *data = NULL;
        size_t len;
        int rc = read_at(st->rootfd, path, IMAGE_JSON_MAX, what, &data, &len, err);
        if (rc < 0)
                return rc;
        if ((rc = parse_image_json(data, len, what, img, err)) < 0)
                return rc;
        if (strcmp(img->id, hex) != 0) {
                store_image_free(img);
                return it_error_set(err, IT_EINPUT, "%s: \"id\" does not match its directory",
                                    what);
        }
        return 0;
}

static int image_write(struct it_store *st, int dirfd, const struct it_store_image *img, bool fresh,
                       it_error *err)
{
        _cleanup_json_ json_t *j = image_json(img);
        _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2));
        _cleanup_free_ char *what = xasprintf("%s/images/%s/image.json", st->root, img->id);
        if (fresh)
                return write_new_at(dirfd, "image.json", text, strlen(text), what, err);
        return write_atomic_at(dirfd, "image.json", text, strlen(text), what, err);
}

static int image_rewrite(struct it_store *st, const struct it_store_image *img, it_error *err)
{
        _cleanup_close_ int dfd = st_openat(st->imagesfd, img->id, O_RDONLY | O_DIRECTORY, 0);
        if (dfd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s/images/%s", st->root, img->id);
        return image_write(st, dfd, img, false, err);
}

/* Hex names of the entries of dirfd that look like store objects. */
static int list_hex(struct it_store *st, int dirfd, const char *dname, struct it_strv *out,
                    it_error *err)
{
        int dup_fd = st_openat(dirfd, ".", O_RDONLY | O_DIRECTORY, 0);
        if (dup_fd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s/%s", st->root, dname);
        DIR *d = fdopendir(dup_fd);
        if (!d) {
                int e = errno;
                close(dup_fd);
                return it_error_sys(err, IT_EIO, e, "%s/%s", st->root, dname);
        }
        struct dirent *de;
        while ((de = readdir(d)))
                if (is_hex64(de->d_name))
                        it_strv_push(out, de->d_name);
        closedir(d);
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_image(const void *a, const void *b)
{
        const struct it_store_image *x = a, *y = b;
        int c = strcmp(y->created, x->created);
        return c ? c : strcmp(x->id, y->id);
}

int store_image_list(struct it_store *st, struct it_store_image **imgs, size_t *n, it_error *err)
{
        *imgs = NULL;
        *n = 0;
        _cleanup_strv_ struct it_strv ids = IT_STRV_INIT;
        int rc = list_hex(st, st->imagesfd, "images", &ids, err);
        if (rc < 0)
                return rc;
        struct it_store_image *v = xcalloc(ids.n ? ids.n : 1, sizeof *v);
        for (size_t i = 0; i < ids.n; i++) {
                rc = image_get_hex(st, ids.v[i], &v[i], err);
                if (rc < 0) {
                        store_image_list_free(v, i);
                        return rc;
                }
        }
        qsort(v, ids.n, sizeof *v, cmp_image);
        *imgs = v;
        *n = ids.n;
        return 0;
}

static void image_copy(struct it_store_image *dst, const struct it_store_image *src)
{
        memset(dst, 0, sizeof *dst);
        memcpy(dst->id, src->id, sizeof dst->id);
        memcpy(dst->digest, src->digest, sizeof dst->digest);
        memcpy(dst->created, src->created, sizeof dst->created);
        for (size_t i = 0; i < src->names.n; i++)
                it_strv_push(&dst->names, src->names.v[i]);
        for (size_t i = 0; i < src->layers.n; i++)
                it_strv_push(&dst->layers, src->layers.v[i]);
}

static ssize_t find_name(const struct it_store_image *v, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (it_strv_contains(&v[i].names, name))
                        return (ssize_t)i;
        return -1;
}

static int lookup_in(struct it_store *st, const struct it_store_image *v, size_t n,
                     const char *what, size_t *idx, it_error *err)
{
        ssize_t k = find_name(v, n, what);
        if (k < 0) {
                struct it_ref r = IT_REF_INIT;
                _cleanup_error_ it_error ignored = IT_ERROR_INIT;
                if (ref_parse_normalized(what, &r, &ignored) == 0) {
                        ref_tag_default(&r);
                        _cleanup_free_ char *s = ref_string(&r);
                        k = find_name(v, n, s);
                }
                ref_free(&r);
        }
        if (k >= 0) {
                *idx = (size_t)k;
                return 0;
        }
        const char *p = strncmp(what, "sha256:", 7) == 0 ? what + 7 : what;
        size_t plen = strlen(p);
        bool hex = plen > 0 && plen <= 64;
        for (size_t i = 0; hex && i < plen; i++)
                hex = (p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f');
        _cleanup_free_ char *q = it_quote(what, 128);
        if (hex) {
                size_t found = 0, first = 0;
                for (size_t i = 0; i < n; i++)
                        if (strncmp(v[i].id, p, plen) == 0 && found++ == 0)
                                first = i;
                if (found == 1) {
                        *idx = first;
                        return 0;
                }
                if (found > 1) {
                        struct it_buf b = IT_BUF_INIT;
                        for (size_t i = 0; i < n; i++)
                                if (strncmp(v[i].id, p, plen) == 0)
                                        it_buf_addf(&b, "%s%s", b.len ? ", " : "", v[i].id);
                        int rc = it_error_set(err, IT_EINPUT,
                                              "image ID prefix %s is ambiguous: matches %s", q,
                                              it_buf_str(&b));
                        it_buf_free(&b);
                        return rc;
                }
        }
        return it_error_set(err, IT_EINPUT, "no image %s in %s", q, st->root);
}

int store_image_lookup(struct it_store *st, const char *what, struct it_store_image *out,
                       it_error *err)
{
        memset(out, 0, sizeof *out);
        struct it_store_image *v;
        size_t n, idx = 0;
        int rc = store_image_list(st, &v, &n, err);
        if (rc < 0)
                return rc;
        rc = lookup_in(st, v, n, what, &idx, err);
        if (rc == 0)
                image_copy(out, &v[idx]);
        store_image_list_free(v, n);
        return rc;
}

int store_image_read(struct it_store *st, const char *id, bool config, char **data, size_t *len,
                     it_error *err)
{
        *data = NULL;
        *len = 0;
        if (!is_hex64(id))
                return it_error_set(err, IT_EINPUT, "invalid image ID %s", id);
        char path[192];
        snprintf(path, sizeof path, "images/%s/%s", id, config ? "config" : "manifest");
        _cleanup_free_ char *what = xasprintf("%s/%s", st->root, path);
        return read_at(st->rootfd, path, config ? CONFIG_MAX : MANIFEST_MAX, what, data, len, err);
}

static int images_lock(struct it_store *st, int *fd, it_error *err)
{
        int rc = open_lockfile(st, "images.lock", fd, err);
        if (rc < 0)
                return rc;
        if (flock_retry(*fd, LOCK_EX) != 0) {
                rc = it_error_sys(err, IT_EIO, errno, "%s/images.lock", st->root);
                close(*fd);
                *fd = -1;
        }
        return rc;
}

/* A new record in a tmp/ entry, renamed to images/<id>. 1 when the ID exists already. */
static int image_create(struct it_store *st, const void *manifest, size_t mlen, const void *config,
                        size_t clen, const struct it_store_image *img, it_error *err)
{
        char name[64];
        _cleanup_close_ int efd = -1;
        int rc = tmp_entry_new(st, "image", name, &efd, err);
        if (rc < 0)
                return rc;
        _cleanup_free_ char *mwhat = xasprintf("%s/tmp/%s/manifest", st->root, name);
        _cleanup_free_ char *cwhat = xasprintf("%s/tmp/%s/config", st->root, name);
        if ((rc = write_new_at(efd, "manifest", manifest, mlen, mwhat, err)) < 0 ||
            (rc = write_new_at(efd, "config", config, clen, cwhat, err)) < 0 ||
            (rc = image_write(st, efd, img, true, err)) < 0)
                goto fail;
        if (fsync(efd) != 0) {
                rc = it_error_sys(err, IT_EIO, errno, "%s/tmp/%s", st->root, name);
                goto fail;
        }
        if (renameat2(st->tmpfd, name, st->imagesfd, img->id, RENAME_NOREPLACE) != 0) {
                int e = errno;
                if (e == EINVAL)
                        e = renameat(st->tmpfd, name, st->imagesfd, img->id) == 0 ? 0 : errno;
                if (e == EEXIST || e == ENOTEMPTY) {
                        rc = 1;
                        goto fail;
                }
                if (e) {
                        rc = it_error_sys(err, IT_EIO, e, "%s/images/%s", st->root, img->id);
                        goto fail;
                }
        }
        (void)fsync(st->imagesfd);
        return 0;
fail:;
        _cleanup_error_ it_error ignored = IT_ERROR_INIT;
        (void)rm_tree_at(st->tmpfd, name, "image", &ignored);
        return rc;
}

int store_image_put(struct it_store *st, const void *manifest, size_t manifest_len,
                    const void *config, size_t config_len, const char *const *names, size_t nnames,
                    const char *const *chain_ids, size_t nlayers, char *id_out, it_error *err)
{
        if (manifest_len == 0 || manifest_len > MANIFEST_MAX || config_len == 0 ||
            config_len > CONFIG_MAX)
                return it_error_set(err, IT_EINPUT, "image: empty or oversized manifest/config");
        if (nnames > IMAGE_NAMES_MAX || nlayers > IMAGE_LAYERS_MAX)
                return it_error_set(err, IT_EINPUT, "image: too many names or layers");
        struct it_store_image img = {0};
        _cleanup_close_ int lk = -1;
        struct it_digest d;
        digest_compute(IT_DIGEST_SHA256, config, config_len, &d);
        memcpy(img.id, d.hex, 65);
        digest_compute(IT_DIGEST_SHA256, manifest, manifest_len, &d);
        digest_format(&d, img.digest);
        now_rfc3339(img.created);
        int rc = 0;
        for (size_t i = 0; i < nnames; i++) {
                if (!*names[i] || strlen(names[i]) > IMAGE_NAME_LEN_MAX || !printable(names[i])) {
                        _cleanup_free_ char *q = it_quote(names[i], 128);
                        rc = it_error_set(err, IT_EINPUT, "image name %s is invalid", q);
                        goto out;
                }
                if (!it_strv_contains(&img.names, names[i]))
                        it_strv_push(&img.names, names[i]);
        }
        /* Held from the layer check on, so a concurrent store_gc() cannot drop them between. */
        if ((rc = images_lock(st, &lk, err)) < 0)
                goto out;
        for (size_t i = 0; i < nlayers; i++) {
                char hex[IT_DIGEST_HEX_MAX + 1];
                if ((rc = parse_sha256(chain_ids[i], "layer", hex, err)) < 0)
                        goto out;
                if (!store_layer_exists(st, chain_ids[i])) {
                        rc = it_error_set(err, IT_EINPUT, "image %s: layer %s is not in %s", img.id,
                                          chain_ids[i], st->root);
                        goto out;
                }
                it_strv_pushf(&img.layers, "sha256:%s", hex);
        }

        rc = image_create(st, manifest, manifest_len, config, config_len, &img, err);
        if (rc == 1) {
                /* Same config pulled before: keep its manifest and record, add the names. */
                struct it_store_image old;
                if ((rc = image_get_hex(st, img.id, &old, err)) < 0)
                        goto out;
                for (size_t i = 0; i < img.names.n; i++)
                        if (!it_strv_contains(&old.names, img.names.v[i]))
                                it_strv_push(&old.names, img.names.v[i]);
                rc = image_rewrite(st, &old, err);
                store_image_free(&old);
        }
        if (rc < 0)
                goto out;
        if (img.names.n) {
                struct it_store_image *v;
                size_t n;
                if ((rc = store_image_list(st, &v, &n, err)) < 0)
                        goto out;
                for (size_t i = 0; i < n && rc == 0; i++) {
                        if (!strcmp(v[i].id, img.id))
                                continue;
                        struct it_strv keep = IT_STRV_INIT;
                        for (size_t k = 0; k < v[i].names.n; k++)
                                if (!it_strv_contains(&img.names, v[i].names.v[k]))
                                        it_strv_push(&keep, v[i].names.v[k]);
                        if (keep.n != v[i].names.n) {
                                it_strv_free(&v[i].names);
                                v[i].names = keep;
                                rc = image_rewrite(st, &v[i], err);
                        } else {
                                it_strv_free(&keep);
                        }
                }
                store_image_list_free(v, n);
        }
        if (rc == 0 && id_out)
                memcpy(id_out, img.id, 65);
out:
        store_image_free(&img);
        return rc;
}

int store_image_remove(struct it_store *st, const char *what, it_error *err)
{
        _cleanup_close_ int lk = -1;
        int rc = images_lock(st, &lk, err);
        if (rc < 0)
                return rc;
        /* A full ID removes the record even when it (or another record) no longer parses, so
         * that what fsck reports can be cleaned up. */
        const char *full = strncmp(what, "sha256:", 7) == 0 ? what + 7 : what;
        if (is_hex64(full)) {
                struct stat sb;
                if (fstatat(st->imagesfd, full, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
                        _cleanup_free_ char *w = xasprintf("%s/images/%s", st->root, full);
                        return discard_dir(st, st->imagesfd, full, w, err);
                }
        }
        struct it_store_image img;
        if ((rc = store_image_lookup(st, what, &img, err)) < 0)
                return rc;
        _cleanup_free_ char *w = xasprintf("%s/images/%s", st->root, img.id);
        rc = discard_dir(st, st->imagesfd, img.id, w, err);
        store_image_free(&img);
        return rc;
}

/* ---- gc, recover, fsck ---- */

int store_recover(struct it_store *st, size_t *nremoved, it_error *err)
{
        if (nremoved)
                *nremoved = 0;
        _cleanup_close_ int lk = -1;
        int rc = open_lockfile(st, "tmp.lock", &lk, err);
        if (rc < 0)
                return rc;
        if (flock_retry(lk, LOCK_EX) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s/tmp.lock", st->root);
        _cleanup_strv_ struct it_strv names = IT_STRV_INIT;
        int dfd = st_openat(st->tmpfd, ".", O_RDONLY | O_DIRECTORY, 0);
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d) {
                rc = it_error_sys(err, IT_EIO, errno, "%s/tmp", st->root);
                if (dfd >= 0)
                        close(dfd);
                return rc;
        }
        struct dirent *de;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        it_strv_push(&names, de->d_name);
        closedir(d);
        for (size_t i = 0; i < names.n; i++) {
                _cleanup_close_ int fd =
                    openat(st->tmpfd, names.v[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
                if (fd < 0 && errno == EACCES)
                        continue; /* not ours to judge */
                if (fd >= 0 && flock_retry(fd, LOCK_EX | LOCK_NB) != 0) {
                        if (errno == EWOULDBLOCK)
                                continue; /* its owner is alive */
                        return it_error_sys(err, IT_EIO, errno, "%s/tmp/%s", st->root, names.v[i]);
                }
                _cleanup_free_ char *w = xasprintf("%s/tmp/%s", st->root, names.v[i]);
                /* One entry we cannot remove (files of subordinate IDs outside the namespace)
                 * does not keep the others: the first error is reported at the end. */
                _cleanup_error_ it_error e = IT_ERROR_INIT;
                if (rm_tree_at(st->tmpfd, names.v[i], w, &e) < 0) {
                        if (rc == 0)
                                it_error_move(err, &e);
                        rc = rc ? rc : IT_EIO;
                        continue;
                }
                if (nremoved)
                        (*nremoved)++;
        }
        return rc;
}

/* Is the container directory in use? imgrun holds flock(LOCK_EX) on it while the container
 * lives (the lock goes with the process, so a killed imgrun frees it). */
static bool container_busy(int cfd, const char *name)
{
        _cleanup_close_ int d = st_openat(cfd, name, O_RDONLY | O_DIRECTORY, 0);
        if (d < 0)
                return false;
        return flock(d, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
}

/* containers/ and the names in it; none (and *cfd -1) when it does not exist. */
static int open_containers(struct it_store *st, int *cfd, struct it_strv *names, it_error *err)
{
        *cfd = st_openat(st->rootfd, "containers", O_RDONLY | O_DIRECTORY, 0);
        if (*cfd < 0)
                return errno == ENOENT
                           ? 0
                           : it_error_sys(err, IT_EIO, errno, "%s/containers", st->root);
        return list_hex(st, *cfd, "containers", names, err);
}

int store_container_list(struct it_store *st, struct it_store_container **out, size_t *n,
                         it_error *err)
{
        *out = NULL;
        *n = 0;
        _cleanup_close_ int cfd = -1;
        _cleanup_strv_ struct it_strv names = IT_STRV_INIT;
        int rc = open_containers(st, &cfd, &names, err);
        if (rc < 0)
                return rc;
        struct it_store_container *v = xcalloc(names.n ? names.n : 1, sizeof *v);
        for (size_t i = 0; i < names.n; i++) {
                struct it_store_container *c = &v[*n];
                snprintf(c->id, sizeof c->id, "%s", names.v[i]);
                c->running = container_busy(cfd, names.v[i]);
                _cleanup_free_ char *rel = xasprintf("%s/container.json", names.v[i]);
                _cleanup_close_ int fd = st_openat(cfd, rel, O_RDONLY, 0);
                _cleanup_free_ char *data = NULL;
                size_t len;
                _cleanup_error_ it_error e = IT_ERROR_INIT;
                _cleanup_json_ json_t *j = NULL;
                if (fd >= 0 && it_fd_read(fd, rel, 65536, &data, &len, &e) == 0 &&
                    it_json_parse(data, len, 65536, rel, &j, &e) == 0 && json_is_object(j)) {
                        const char *img = json_string_value(json_object_get(j, "image"));
                        if (img && strlen(img) == 64 && strspn(img, "0123456789abcdef") == 64)
                                snprintf(c->image, sizeof c->image, "%s", img);
                        json_t *pid = json_object_get(j, "pid");
                        if (json_is_integer(pid))
                                c->pid = (long)json_integer_value(pid);
                }
                (*n)++;
        }
        *out = v;
        return 0;
}

/* Remove the directories of containers that no longer run (imgrun without --rm keeps them). */
static int gc_containers(struct it_store *st, struct it_strv *removed, it_error *err)
{
        _cleanup_close_ int cfd = -1;
        _cleanup_strv_ struct it_strv names = IT_STRV_INIT;
        int rc = open_containers(st, &cfd, &names, err);
        for (size_t i = 0; rc == 0 && i < names.n; i++) {
                if (container_busy(cfd, names.v[i]))
                        continue;
                _cleanup_free_ char *w = xasprintf("%s/containers/%s", st->root, names.v[i]);
                if ((rc = discard_dir(st, cfd, names.v[i], w, err)) == 0 && removed)
                        it_strv_pushf(removed, "container %s", names.v[i]);
        }
        return rc;
}

int store_gc(struct it_store *st, struct it_strv *removed, it_error *err)
{
        struct it_store_image *v;
        size_t n;
        _cleanup_close_ int lk = -1;
        int rc = gc_containers(st, removed, err);
        if (rc < 0)
                return rc;
        rc = images_lock(st, &lk, err);
        if (rc < 0)
                return rc;
        if ((rc = store_image_list(st, &v, &n, err)) < 0)
                return rc;
        _cleanup_strv_ struct it_strv used = IT_STRV_INIT;
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < v[i].layers.n; k++)
                        it_strv_push(&used, v[i].layers.v[k] + 7);
        store_image_list_free(v, n);
        _cleanup_strv_ struct it_strv layers = IT_STRV_INIT;
        if ((rc = list_hex(st, st->layersfd, "layers", &layers, err)) < 0)
                return rc;
        for (size_t i = 0; i < layers.n; i++) {
                if (it_strv_contains(&used, layers.v[i]))
                        continue;
                _cleanup_free_ char *w = xasprintf("%s/layers/%s", st->root, layers.v[i]);
                _cleanup_error_ it_error e = IT_ERROR_INIT;
                int r = discard_dir(st, st->layersfd, layers.v[i], w, &e);
                /* Out of layers/ even when its files could not all go: recover finishes it. */
                if (r == 0 || !store_layer_exists(st, layers.v[i])) {
                        if (removed)
                                it_strv_pushf(removed, "sha256:%s", layers.v[i]);
                }
                if (r < 0 && rc == 0) {
                        it_error_move(err, &e);
                        rc = r;
                }
        }
        if (rc < 0)
                return rc;
        return store_recover(st, NULL, err);
}

static void problem(struct it_strv *p, it_error *e)
{
        _cleanup_free_ char *m = it_error_format(e);
        it_strv_push(p, m);
        it_error_clear(e);
}

static void fsck_layers(struct it_store *st, struct it_strv *problems)
{
        _cleanup_error_ it_error e = IT_ERROR_INIT;
        _cleanup_strv_ struct it_strv all = IT_STRV_INIT;
        int dfd = st_openat(st->layersfd, ".", O_RDONLY | O_DIRECTORY, 0);
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d) {
                it_strv_pushf(problems, "%s/layers: cannot read: %s", st->root, strerror(errno));
                if (dfd >= 0)
                        close(dfd);
                return;
        }
        struct dirent *de;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        it_strv_push(&all, de->d_name);
        closedir(d);
        for (size_t i = 0; i < all.n; i++) {
                const char *hex = all.v[i];
                if (!is_hex64(hex)) {
                        _cleanup_free_ char *q = it_quote(hex, 80);
                        it_strv_pushf(problems, "%s/layers/%s: not a layer name", st->root, q);
                        continue;
                }
                struct it_layer_meta m;
                if (layer_get_hex(st, hex, &m, &e) < 0) {
                        problem(problems, &e);
                        continue;
                }
                char want[IT_DIGEST_STR_MAX];
                if (strcmp(m.chain_id + 7, hex) != 0)
                        it_strv_pushf(problems,
                                      "%s/layers/%s/layer.json: chain-id %s does not "
                                      "match the directory",
                                      st->root, hex, m.chain_id);
                if (store_chain_id(m.parent, m.diff_id, want, &e) < 0)
                        problem(problems, &e);
                else if (strcmp(want, m.chain_id) != 0)
                        it_strv_pushf(problems,
                                      "%s/layers/%s/layer.json: diff-id %s on parent %s "
                                      "gives chain ID %s, not %s",
                                      st->root, hex, m.diff_id, *m.parent ? m.parent : "(none)",
                                      want, m.chain_id);
                if (*m.parent && !store_layer_exists(st, m.parent))
                        it_strv_pushf(problems, "%s/layers/%s: parent layer %s is missing",
                                      st->root, hex, m.parent);
                char diff[192];
                snprintf(diff, sizeof diff, "layers/%s/diff", hex);
                _cleanup_close_ int fd = st_openat(st->rootfd, diff, O_RDONLY | O_DIRECTORY, 0);
                if (fd < 0)
                        it_strv_pushf(problems, "%s/%s: not a directory: %s", st->root, diff,
                                      strerror(errno));
        }
}

/* The config's rootfs.diff_ids, as chain IDs. */
static int config_chain(const char *cfg, size_t len, const char *what, struct it_strv *out,
                        it_error *err)
{
        _cleanup_json_ json_t *j = NULL;
        int rc = it_json_parse(cfg, len, CONFIG_MAX, what, &j, err);
        if (rc < 0)
                return rc;
        const json_t *ids = json_object_get(json_object_get(j, "rootfs"), "diff_ids");
        if (!json_is_array(ids))
                return it_error_set(err, IT_EINPUT, "%s: rootfs.diff_ids must be an array", what);
        char prev[IT_DIGEST_STR_MAX] = "";
        size_t i;
        const json_t *v;
        json_array_foreach(ids, i, v)
        {
                if (!json_is_string(v))
                        return it_error_set(err, IT_EINPUT,
                                            "%s: rootfs.diff_ids[%zu] must be a "
                                            "string",
                                            what, i);
                char c[IT_DIGEST_STR_MAX];
                if ((rc = store_chain_id(prev, json_string_value(v), c, err)) < 0)
                        return it_error_wrap(err, "%s: rootfs.diff_ids[%zu]", what, i);
                it_strv_push(out, c);
                memcpy(prev, c, sizeof prev);
        }
        return 0;
}

static void fsck_image(struct it_store *st, const char *hex, struct it_strv *problems)
{
        _cleanup_error_ it_error e = IT_ERROR_INIT;
        struct it_store_image img;
        if (image_get_hex(st, hex, &img, &e) < 0) {
                problem(problems, &e);
                return;
        }
        _cleanup_free_ char *cfg = NULL, *man = NULL;
        size_t clen, mlen;
        struct it_digest d;
        char ds[IT_DIGEST_STR_MAX];
        if (store_image_read(st, hex, true, &cfg, &clen, &e) < 0) {
                problem(problems, &e);
        } else {
                digest_compute(IT_DIGEST_SHA256, cfg, clen, &d);
                if (strcmp(d.hex, hex) != 0)
                        it_strv_pushf(problems,
                                      "%s/images/%s/config: sha256 is %s, not the image "
                                      "ID",
                                      st->root, hex, d.hex);
        }
        if (store_image_read(st, hex, false, &man, &mlen, &e) < 0) {
                problem(problems, &e);
        } else {
                digest_compute(IT_DIGEST_SHA256, man, mlen, &d);
                digest_format(&d, ds);
                if (strcmp(ds, img.digest) != 0)
                        it_strv_pushf(problems,
                                      "%s/images/%s/manifest: digest is %s, image.json "
                                      "says %s",
                                      st->root, hex, ds, img.digest);
        }
        for (size_t i = 0; i < img.layers.n; i++) {
                struct it_layer_meta m;
                if (!store_layer_exists(st, img.layers.v[i])) {
                        it_strv_pushf(problems, "%s/images/%s: layer %s is missing", st->root, hex,
                                      img.layers.v[i]);
                        continue;
                }
                if (store_layer_get(st, img.layers.v[i], &m, &e) < 0) {
                        problem(problems, &e);
                        continue;
                }
                const char *want_parent = i ? img.layers.v[i - 1] : "";
                if (strcmp(m.parent, want_parent) != 0)
                        it_strv_pushf(problems, "%s/images/%s: layer %s has parent %s, expected %s",
                                      st->root, hex, img.layers.v[i],
                                      *m.parent ? m.parent : "(none)",
                                      *want_parent ? want_parent : "(none)");
        }
        if (cfg) {
                _cleanup_strv_ struct it_strv chain = IT_STRV_INIT;
                _cleanup_free_ char *what = xasprintf("%s/images/%s/config", st->root, hex);
                if (config_chain(cfg, clen, what, &chain, &e) < 0) {
                        problem(problems, &e);
                } else if (chain.n != img.layers.n) {
                        it_strv_pushf(problems,
                                      "%s/images/%s: config has %zu diff IDs, record "
                                      "has %zu layers",
                                      st->root, hex, chain.n, img.layers.n);
                } else {
                        for (size_t i = 0; i < chain.n; i++)
                                if (strcmp(chain.v[i], img.layers.v[i]) != 0)
                                        it_strv_pushf(problems,
                                                      "%s/images/%s: layer %zu is %s, "
                                                      "the config's diff IDs give %s",
                                                      st->root, hex, i, img.layers.v[i],
                                                      chain.v[i]);
                }
        }
        store_image_free(&img);
}

int store_fsck(struct it_store *st, struct it_strv *problems, it_error *err)
{
        fsck_layers(st, problems);
        _cleanup_strv_ struct it_strv ids = IT_STRV_INIT;
        int rc = list_hex(st, st->imagesfd, "images", &ids, err);
        if (rc < 0)
                return rc;
        for (size_t i = 0; i < ids.n; i++)
                fsck_image(st, ids.v[i], problems);
        return 0;
}

static int fsck_layer_content(struct it_store *st, const char *hex, struct it_strv *problems,
                              it_error *err)
{
        _cleanup_error_ it_error e = IT_ERROR_INIT;
        struct it_layer_meta m;
        struct it_digest d;
        char path[192];
        _cleanup_free_ char *label = xasprintf("layer sha256:%s", hex);

        if (layer_get_hex(st, hex, &m, &e) < 0 || digest_parse(m.diff_id, &d, &e) < 0) {
                _cleanup_free_ char *msg = it_error_format(&e);
                it_strv_pushf(problems, "%s: cannot re-hash: %s", label, msg);
                return 0;
        }
        snprintf(path, sizeof path, "layers/%s/tar-split", hex);
        _cleanup_close_ int sfd =
            st_openat(st->rootfd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
        if (sfd < 0 && errno == ENOENT) {
                it_strv_pushf(problems, "%s: no tar-split record, cannot re-hash", label);
                return 0;
        }
        if (sfd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s/%s", st->root, path);
        struct stat sb;
        if (fstat(sfd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
                it_strv_pushf(problems, "%s: %s/%s is not a regular file, cannot re-hash", label,
                              st->root, path);
                return 0;
        }
        snprintf(path, sizeof path, "layers/%s/diff", hex);
        _cleanup_close_ int dfd = st_openat(st->rootfd, path, O_PATH | O_DIRECTORY, 0);
        if (dfd < 0) {
                it_strv_pushf(problems, "%s: %s/%s: not a directory: %s", label, st->root, path,
                              strerror(errno));
                return 0;
        }
        return tarsplit_verify(sfd, dfd, label, &d, problems, err);
}

int store_fsck_content(struct it_store *st, struct it_strv *problems, it_error *err)
{
        _cleanup_strv_ struct it_strv layers = IT_STRV_INIT;
        int rc = list_hex(st, st->layersfd, "layers", &layers, err);
        if (rc < 0)
                return rc;
        if (layers.n > 1)
                qsort(layers.v, layers.n, sizeof(*layers.v), cmp_str);
        for (size_t i = 0; i < layers.n; i++)
                if ((rc = fsck_layer_content(st, layers.v[i], problems, err)) < 0)
                        return rc;
        return 0;
}
