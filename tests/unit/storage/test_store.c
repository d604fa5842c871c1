/* The image store: layout, atomic layer commits and their races, image records and lookup,
 * rm + gc, crash recovery, fsck (imgtrust/store.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/fs.h"
#include "imgtrust/json.h"
#include "imgtrust/store.h"
#include "imgtrust/strv.h"
#include "imgtrust/xalloc.h"

/* sha256 of "layer-a", "layer-b", "layer-c" and the OCI chain IDs, computed with sha256sum:
 *   printf 'sha256:A sha256:B' | sha256sum */
#define HEX_A "589f0d58b9053a4ff7329b8fdb4f9dd120e29354c086ad0b3b10733f6cfd6de3"
#define HEX_B "55fea2a37a9fc5963f1beccd0d162b856e6bd05ca07cdd3726847846ab740f0d"
#define HEX_C "e6c65c655ca8172ab7a2b634dab3220a45472dd6571b6efd956ccc05e229a201"
#define CHAIN_AB "267c5fd16af60e52927fabf0a36a31f3b5a2069347f7f00c7bd7f93f6ebc01f4"
#define CHAIN_ABC "82c0ed5f6c15be9b9180a8c04b9f2c676d74af6db13c711f5bb47a0fa43b56df"

struct fixture {
        char dir[64];
        char *root;
        struct it_store *st;
};

static int setup(void **state)
{
        struct fixture *f = xcalloc(1, sizeof *f);
        strcpy(f->dir, "/tmp/it-store-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->root = xasprintf("%s/a/b/storage", f->dir);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(store_open(f->root, &f->st, &err), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        store_close(f->st);
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f->root);
        free(f);
        return 0;
}

static size_t count_dir(const char *root, const char *sub)
{
        _cleanup_free_ char *p = xasprintf("%s/%s", root, sub);
        DIR *d = opendir(p);
        assert_non_null(d);
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static bool exists(const char *root, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool exists(const char *root, const char *fmt, ...)
{
        struct it_buf b = IT_BUF_INIT;
        it_buf_addf(&b, "%s/", root);
        va_list ap;
        va_start(ap, fmt);
        it_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        struct stat sb;
        bool r = lstat(it_buf_str(&b), &sb) == 0;
        it_buf_free(&b);
        return r;
}

static void digest_of(const char *s, char out[IT_DIGEST_STR_MAX])
{
        struct it_digest d;
        digest_compute(IT_DIGEST_SHA256, s, strlen(s), &d);
        digest_format(&d, out);
}

/* A layer whose diff/ holds one file "f" with `content`; diff ID = sha256(content). */
static void add_layer(struct it_store *st, const char *parent, const char *content,
                      char chain[IT_DIGEST_STR_MAX])
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_layer_meta m = {0};
        digest_of(content, m.diff_id);
        snprintf(m.parent, sizeof m.parent, "%.*s", (int)sizeof m.parent - 1, parent ? parent : "");
        assert_int_equal(store_chain_id(parent, m.diff_id, chain, &err), 0);
        m.size = strlen(content);
        strcpy(m.media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
        int dfd;
        struct it_store_layer_tx *tx;
        assert_int_equal(store_layer_begin(st, chain, &dfd, &tx, &err), 0);
        int fd = openat(dfd, "f", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(it_write_all(fd, content, strlen(content)), 0);
        close(fd);
        int rc = store_layer_commit(tx, &m, &err);
        if (rc) {
                _cleanup_free_ char *msg = it_error_format(&err);
                fail_msg("commit: %s", msg);
        }
}

/* A config naming the diff IDs of `contents` in order, made unique by `tag`. */
static char *config_for(const char *tag, const char *const *contents, size_t n)
{
        struct it_buf b = IT_BUF_INIT;
        it_buf_addf(&b, "{\"tag\":\"%s\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[", tag);
        for (size_t i = 0; i < n; i++) {
                char d[IT_DIGEST_STR_MAX];
                digest_of(contents[i], d);
                it_buf_addf(&b, "%s\"%s\"", i ? "," : "", d);
        }
        it_buf_adds(&b, "]}}");
        return it_buf_detach(&b);
}

static void put_image(struct it_store *st, const char *tag, const char *const *contents, size_t n,
                      const char *name, char *id)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        char chains[8][IT_DIGEST_STR_MAX];
        const char *cp[8];
        for (size_t i = 0; i < n; i++) {
                /* An existing chain ID takes the "committed meanwhile" path: one copy. */
                add_layer(st, i ? chains[i - 1] : NULL, contents[i], chains[i]);
                cp[i] = chains[i];
        }
        _cleanup_free_ char *cfg = config_for(tag, contents, n);
        _cleanup_free_ char *man = xasprintf("{\"manifest-for\":\"%s\"}", tag);
        const char *names[1] = {name};
        int rc = store_image_put(st, man, strlen(man), cfg, strlen(cfg), names, name ? 1 : 0, cp, n,
                                 id, &err);
        if (rc) {
                _cleanup_free_ char *msg = it_error_format(&err);
                fail_msg("put: %s", msg);
        }
}

static void test_chain_id(void **state)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        char c[IT_DIGEST_STR_MAX], d[IT_DIGEST_STR_MAX];
        assert_int_equal(store_chain_id(NULL, "sha256:" HEX_A, c, &err), 0);
        assert_string_equal(c, "sha256:" HEX_A);
        assert_int_equal(store_chain_id("", "sha256:" HEX_A, c, &err), 0);
        assert_string_equal(c, "sha256:" HEX_A);
        assert_int_equal(store_chain_id("sha256:" HEX_A, "sha256:" HEX_B, c, &err), 0);
        assert_string_equal(c, "sha256:" CHAIN_AB);
        /* The same by hand with digest_compute over "parent diff". */
        digest_of("sha256:" HEX_A " sha256:" HEX_B, d);
        assert_string_equal(c, d);
        assert_int_equal(store_chain_id("sha256:" CHAIN_AB, "sha256:" HEX_C, c, &err), 0);
        assert_string_equal(c, "sha256:" CHAIN_ABC);
        /* Not the containers/storage ID (hex "+" hex) */
        digest_of(HEX_A "+" HEX_B, d);
        assert_string_not_equal(c, d);

        assert_int_equal(store_chain_id(NULL, "sha256:abc", c, &err), IT_EINPUT);
        _cleanup_free_ char *m = it_error_format(&err);
        assert_string_equal(m, "diff ID: invalid digest \"sha256:abc\": sha256 digest must be 64 "
                               "lowercase hex characters");
        it_error_clear(&err);
        assert_int_equal(store_chain_id("sha512:" HEX_A HEX_A, "sha256:" HEX_B, c, &err),
                         IT_EINPUT);
        _cleanup_free_ char *m2 = it_error_format(&err);
        assert_non_null(strstr(m2, "parent chain ID"));
}

static void test_open_layout(void **state)
{
        struct fixture *f = *state;
        const char *dirs[] = {"", "/layers", "/images", "/tmp"};
        for (size_t i = 0; i < 4; i++) {
                _cleanup_free_ char *p = xasprintf("%s%s", f->root, dirs[i]);
                struct stat sb;
                assert_int_equal(stat(p, &sb), 0);
                assert_true(S_ISDIR(sb.st_mode));
                assert_int_equal(sb.st_mode & 07777, 0700);
        }
        _cleanup_free_ char *lk = xasprintf("%s/lock", f->root);
        struct stat sb;
        assert_int_equal(stat(lk, &sb), 0);
        assert_true(S_ISREG(sb.st_mode));
        assert_int_equal(sb.st_mode & 0777, 0600);
        assert_string_equal(store_root_path(f->st), f->root);
        assert_int_equal(count_dir(f->root, "layers"), 0);

        /* Reopening an existing store works; a store whose layers/ is a symlink does not. */
        struct it_store *again = NULL;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(store_open(f->root, &again, &err), 0);
        store_close(again);
        _cleanup_free_ char *bad = xasprintf("%s/bad", f->dir);
        assert_int_equal(mkdir(bad, 0700), 0);
        _cleanup_free_ char *badl = xasprintf("%s/layers", bad);
        assert_int_equal(symlink("/etc", badl), 0);
        assert_int_equal(store_open(bad, &again, &err), IT_EIO);
        assert_null(again);
        _cleanup_free_ char *m = it_error_format(&err);
        _cleanup_free_ char *want = xasprintf("%s/layers: Too many levels of symbolic links", bad);
        assert_string_equal(m, want);

        /* Default location. */
        _cleanup_free_ char *def = NULL;
        if (geteuid() == 0) {
                def = store_default_root();
                assert_string_equal(def, "/var/lib/imgtrust/storage");
        } else {
                setenv("XDG_DATA_HOME", "/x/data", 1);
                def = store_default_root();
                assert_string_equal(def, "/x/data/imgtrust/storage");
        }
}

static void test_layer_commit(void **state)
{
        struct fixture *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int dfd;
        struct it_store_layer_tx *tx;
        assert_false(store_layer_exists(f->st, "sha256:" HEX_A));
        assert_int_equal(store_layer_begin(f->st, "sha256:" HEX_A, &dfd, &tx, &err), 0);
        /* In progress: one tmp/ entry with an empty diff/, nothing in layers/. */
        assert_int_equal(count_dir(f->root, "tmp"), 1);
        assert_int_equal(count_dir(f->root, "layers"), 0);
        int fd = openat(dfd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_int_equal(it_write_all(fd, "layer-a", 7), 0);
        close(fd);
        struct it_layer_meta m = {0};
        strcpy(m.diff_id, "sha256:" HEX_A);
        strcpy(m.compressed_digest, "sha256:" HEX_C);
        m.compressed_size = 99;
        m.size = 7;
        strcpy(m.media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
        assert_int_equal(store_layer_commit(tx, &m, &err), 0);
        assert_int_equal(count_dir(f->root, "tmp"), 0);
        assert_int_equal(count_dir(f->root, "layers"), 1);
        assert_true(exists(f->root, "layers/%s/diff/f", HEX_A));
        assert_true(store_layer_exists(f->st, "sha256:" HEX_A));
        _cleanup_free_ char *diff = store_layer_diff_path(f->st, "sha256:" HEX_A);
        _cleanup_free_ char *want = xasprintf("%s/layers/" HEX_A "/diff", f->root);
        assert_string_equal(diff, want);

        struct it_layer_meta got;
        assert_int_equal(store_layer_get(f->st, "sha256:" HEX_A, &got, &err), 0);
        assert_string_equal(got.chain_id, "sha256:" HEX_A);
        assert_string_equal(got.diff_id, "sha256:" HEX_A);
        assert_string_equal(got.parent, "");
        assert_string_equal(got.compressed_digest, "sha256:" HEX_C);
        assert_int_equal(got.compressed_size, 99);
        assert_int_equal(got.size, 7);
        assert_string_equal(got.media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
        assert_int_equal(strlen(got.created), 30); /* 2026-11-23T14:00:00.123456789Z */
        assert_int_equal(got.created[29], 'Z');

        /* A diff ID that does not give the chain ID begun with: refused, nothing left. */
        assert_int_equal(store_layer_begin(f->st, "sha256:" CHAIN_AB, &dfd, &tx, &err), 0);
        struct it_layer_meta bad = {0};
        strcpy(bad.diff_id, "sha256:" HEX_B); /* no parent: chain would be HEX_B */
        assert_int_equal(store_layer_commit(tx, &bad, &err), IT_EINPUT);
        _cleanup_free_ char *msg = it_error_format(&err);
        assert_string_equal(msg, "layer sha256:" CHAIN_AB ": diff ID sha256:" HEX_B
                                 " on parent (none) gives chain ID sha256:" HEX_B);
        assert_int_equal(count_dir(f->root, "tmp"), 0);
        assert_int_equal(count_dir(f->root, "layers"), 1);

        /* Abort removes the entry and its files. */
        assert_int_equal(store_layer_begin(f->st, "sha256:" HEX_B, &dfd, &tx, &err), 0);
        assert_int_equal(mkdirat(dfd, "sub", 0555), 0);
        store_layer_abort(tx);
        assert_int_equal(count_dir(f->root, "tmp"), 0);
        assert_false(store_layer_exists(f->st, "sha256:" HEX_B));

        /* A chain ID that is not a sha256 digest never names a directory. */
        it_error_clear(&err);
        assert_int_equal(store_layer_begin(f->st, "sha256:../../etc", &dfd, &tx, &err), IT_EINPUT);
        assert_null(tx);
        assert_int_equal(count_dir(f->root, "tmp"), 0);
}

/* Several processes commit the same chain ID at once: all succeed, one copy remains. */
static void test_commit_race(void **state)
{
        struct fixture *f = *state;
        enum { N = 4, ROUNDS = 5 };
        for (int round = 0; round < ROUNDS; round++) {
                char content[32], chain[IT_DIGEST_STR_MAX];
                snprintf(content, sizeof content, "race-%d", round);
                digest_of(content, chain);
                int go[2];
                assert_int_equal(pipe(go), 0);
                pid_t pids[N];
                for (int i = 0; i < N; i++) {
                        pids[i] = fork();
                        assert_true(pids[i] >= 0);
                        if (pids[i] == 0) {
                                close(go[1]);
                                it_error e = IT_ERROR_INIT;
                                struct it_store *st;
                                if (store_open(f->root, &st, &e) != 0)
                                        _exit(10);
                                if (store_lock(st, false, &e) != 0)
                                        _exit(11);
                                int dfd;
                                struct it_store_layer_tx *tx;
                                if (store_layer_begin(st, chain, &dfd, &tx, &e) != 0)
                                        _exit(12);
                                int fd = openat(dfd, "f", O_WRONLY | O_CREAT, 0644);
                                if (fd < 0 || write(fd, content, strlen(content)) < 0)
                                        _exit(13);
                                close(fd);
                                char b;
                                if (read(go[0], &b, 1) != 0) /* wait for the start signal */
                                        _exit(14);
                                struct it_layer_meta m = {0};
                                strcpy(m.diff_id, chain);
                                if (store_layer_commit(tx, &m, &e) != 0)
                                        _exit(15);
                                store_close(st);
                                _exit(0);
                        }
                }
                close(go[0]);
                usleep(50000);
                close(go[1]); /* everyone commits now */
                for (int i = 0; i < N; i++) {
                        int status;
                        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
                        assert_true(WIFEXITED(status));
                        assert_int_equal(WEXITSTATUS(status), 0);
                }
                assert_int_equal(count_dir(f->root, "layers"), (size_t)round + 1);
                assert_int_equal(count_dir(f->root, "tmp"), 0);
                assert_true(store_layer_exists(f->st, chain));
                _cleanup_free_ char *sub = xasprintf("layers/%s/diff", chain + 7);
                assert_int_equal(count_dir(f->root, sub), 1);
        }
}

struct racer {
        struct it_store *st;
        const char *chain;
        pthread_barrier_t *barrier;
        int rc;
};

static void *race_thread(void *arg)
{
        struct racer *r = arg;
        it_error e = IT_ERROR_INIT;
        int dfd;
        struct it_store_layer_tx *tx;
        r->rc = store_layer_begin(r->st, r->chain, &dfd, &tx, &e);
        if (r->rc == 0) {
                int fd = openat(dfd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                if (fd >= 0)
                        close(fd);
        }
        pthread_barrier_wait(r->barrier);
        if (r->rc == 0) {
                struct it_layer_meta m = {0};
                memcpy(m.diff_id, r->chain, strlen(r->chain) + 1);
                r->rc = store_layer_commit(tx, &m, &e);
        }
        it_error_clear(&e);
        return NULL;
}

/* The same with threads sharing one store handle. */
static void test_commit_race_threads(void **state)
{
        struct fixture *f = *state;
        enum { N = 4 };
        char chain[IT_DIGEST_STR_MAX];
        digest_of("threads", chain);
        pthread_barrier_t b;
        assert_int_equal(pthread_barrier_init(&b, NULL, N), 0);
        pthread_t t[N];
        struct racer r[N];
        for (int i = 0; i < N; i++) {
                r[i] = (struct racer){f->st, chain, &b, -99};
                assert_int_equal(pthread_create(&t[i], NULL, race_thread, &r[i]), 0);
        }
        for (int i = 0; i < N; i++) {
                assert_int_equal(pthread_join(t[i], NULL), 0);
                assert_int_equal(r[i].rc, 0);
        }
        pthread_barrier_destroy(&b);
        assert_int_equal(count_dir(f->root, "layers"), 1);
        assert_int_equal(count_dir(f->root, "tmp"), 0);
        assert_true(store_layer_exists(f->st, chain));
}

static void test_images(void **state)
{
        struct fixture *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        char ida[65], idb[65], idc[65];
        const char *la[] = {"layer-a", "layer-b"};
        const char *lb[] = {"layer-a", "layer-c"};
        put_image(f->st, "A", la, 2, "docker.io/library/alpine:latest", ida);
        put_image(f->st, "B", lb, 2, "quay.io/x/b:1", idb);
        assert_int_equal(count_dir(f->root, "images"), 2);
        assert_int_equal(count_dir(f->root, "layers"), 3);
        assert_int_equal(count_dir(f->root, "tmp"), 0);

        /* Layout: manifest and config bytes exactly as given; the ID is the config's sha256. */
        const char *la2[] = {"layer-a", "layer-b"};
        _cleanup_free_ char *cfg = config_for("A", la2, 2);
        char cd[IT_DIGEST_STR_MAX];
        digest_of(cfg, cd);
        assert_string_equal(ida, cd + 7);
        _cleanup_free_ char *cpath = xasprintf("%s/images/%s/config", f->root, ida);
        _cleanup_free_ char *data = NULL;
        size_t len;
        assert_int_equal(it_file_read(cpath, 1 << 20, &data, &len, &err), 0);
        assert_string_equal(data, cfg);
        _cleanup_free_ char *man = NULL;
        assert_int_equal(store_image_read(f->st, ida, false, &man, &len, &err), 0);
        assert_string_equal(man, "{\"manifest-for\":\"A\"}");
        assert_true(exists(f->root, "images/%s/image.json", ida));

        struct it_store_image img;
        assert_int_equal(store_image_lookup(f->st, "docker.io/library/alpine:latest", &img, &err),
                         0);
        assert_string_equal(img.id, ida);
        char md[IT_DIGEST_STR_MAX];
        digest_of("{\"manifest-for\":\"A\"}", md);
        assert_string_equal(img.digest, md);
        assert_int_equal(img.layers.n, 2);
        assert_string_equal(img.layers.v[0], "sha256:" HEX_A);
        assert_string_equal(img.layers.v[1], "sha256:" CHAIN_AB);
        assert_int_equal(img.names.n, 1);
        store_image_free(&img);
        /* Short name, full ID, sha256:ID, unique prefix. */
        const char *ways[] = {"alpine", ida, NULL, NULL};
        _cleanup_free_ char *full = xasprintf("sha256:%s", ida);
        ways[2] = full;
        char pre[13];
        snprintf(pre, sizeof pre, "%.12s", ida);
        ways[3] = pre;
        for (size_t i = 0; i < 4; i++) {
                assert_int_equal(store_image_lookup(f->st, ways[i], &img, &err), 0);
                assert_string_equal(img.id, ida);
                store_image_free(&img);
        }
        assert_int_equal(store_image_lookup(f->st, "quay.io/x/b:1", &img, &err), 0);
        assert_string_equal(img.id, idb);
        store_image_free(&img);

        assert_int_equal(store_image_lookup(f->st, "nosuch", &img, &err), IT_EINPUT);
        _cleanup_free_ char *m1 = it_error_format(&err);
        _cleanup_free_ char *w1 = xasprintf("no image \"nosuch\" in %s", f->root);
        assert_string_equal(m1, w1);
        it_error_clear(&err);

        /* An ambiguous prefix names every candidate. Make a third image whose ID starts like A's.
         */
        char tag[32];
        for (int i = 0;; i++) {
                snprintf(tag, sizeof tag, "C%d", i);
                const char *one[] = {"layer-a"};
                _cleanup_free_ char *c = config_for(tag, one, 1);
                char d[IT_DIGEST_STR_MAX];
                digest_of(c, d);
                if (d[7] == ida[0] && strncmp(d + 7, idb, 1) != 0)
                        break;
                assert_true(i < 10000);
        }
        const char *one[] = {"layer-a"};
        put_image(f->st, tag, one, 1, NULL, idc);
        char p1[2] = {ida[0], 0};
        assert_int_equal(store_image_lookup(f->st, p1, &img, &err), IT_EINPUT);
        _cleanup_free_ char *m2 = it_error_format(&err);
        _cleanup_free_ char *w2a = xasprintf("image ID prefix \"%s\" is ambiguous: matches ", p1);
        assert_memory_equal(m2, w2a, strlen(w2a));
        assert_non_null(strstr(m2, ida));
        assert_non_null(strstr(m2, idc));
        assert_null(strstr(m2, idb));
        it_error_clear(&err);

        /* Re-tagging moves the name: C takes alpine:latest, A keeps its record without names. */
        const char *nm[] = {"docker.io/library/alpine:latest"};
        const char *cl[] = {"sha256:" HEX_A};
        const char *one2[] = {"layer-a"};
        _cleanup_free_ char *ccfg = config_for(tag, one2, 1);
        _cleanup_free_ char *cman = xasprintf("{\"manifest-for\":\"%s\"}", tag);
        char idc2[65];
        assert_int_equal(store_image_put(f->st, cman, strlen(cman), ccfg, strlen(ccfg), nm, 1, cl,
                                         1, idc2, &err),
                         0);
        assert_string_equal(idc2, idc);
        assert_int_equal(store_image_lookup(f->st, "alpine", &img, &err), 0);
        assert_string_equal(img.id, idc);
        store_image_free(&img);
        assert_int_equal(store_image_lookup(f->st, ida, &img, &err), 0);
        assert_int_equal(img.names.n, 0);
        store_image_free(&img);
        assert_int_equal(count_dir(f->root, "images"), 3);

        struct it_store_image *v;
        size_t n;
        assert_int_equal(store_image_list(f->st, &v, &n, &err), 0);
        assert_int_equal(n, 3);
        for (size_t i = 1; i < n; i++)
                assert_true(strcmp(v[i - 1].created, v[i].created) >= 0);
        store_image_list_free(v, n);

        /* A layer not in the store is refused. */
        const char *missing[] = {"sha256:" CHAIN_ABC};
        assert_int_equal(
            store_image_put(f->st, cman, strlen(cman), "{}", 2, NULL, 0, missing, 1, NULL, &err),
            IT_EINPUT);
        _cleanup_free_ char *m3 = it_error_format(&err);
        assert_non_null(strstr(m3, "layer sha256:" CHAIN_ABC " is not in "));
        assert_int_equal(count_dir(f->root, "images"), 3);
        assert_int_equal(count_dir(f->root, "tmp"), 0);

        /* A symlink planted in the store is not followed. */
        _cleanup_free_ char *ij = xasprintf("%s/images/%s/image.json", f->root, idb);
        assert_int_equal(unlink(ij), 0);
        assert_int_equal(symlink("/etc/passwd", ij), 0);
        assert_int_equal(store_image_list(f->st, &v, &n, &err), IT_EIO);
        _cleanup_free_ char *m4 = it_error_format(&err);
        _cleanup_free_ char *w4 = xasprintf("%s: Too many levels of symbolic links", ij);
        assert_string_equal(m4, w4);
        /* ...and the broken record can still be removed by its full ID. */
        assert_int_equal(store_image_remove(f->st, idb, &err), 0);
        assert_false(exists(f->root, "images/%s", idb));
        assert_int_equal(store_image_list(f->st, &v, &n, &err), 0);
        assert_int_equal(n, 2);
        store_image_list_free(v, n);
        assert_int_equal(count_dir(f->root, "tmp"), 0);
        struct stat sb; /* the link went, not what it pointed to */
        assert_int_equal(lstat("/etc/passwd", &sb), 0);
        assert_true(S_ISREG(sb.st_mode));
}

static void test_rm_gc(void **state)
{
        struct fixture *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        char ida[65], idb[65];
        const char *la[] = {"layer-a", "layer-b"};
        const char *lb[] = {"layer-a", "layer-c"};
        put_image(f->st, "A", la, 2, "example.com/a:1", ida);
        put_image(f->st, "B", lb, 2, "example.com/b:1", idb);
        char chain_ac[IT_DIGEST_STR_MAX];
        digest_of("sha256:" HEX_A " sha256:" HEX_C, chain_ac);

        assert_int_equal(store_lock(f->st, true, &err), 0);
        assert_int_equal(store_image_remove(f->st, "example.com/a:1", &err), 0);
        assert_int_equal(count_dir(f->root, "images"), 1);
        assert_false(exists(f->root, "images/%s", ida));
        assert_int_equal(count_dir(f->root, "layers"), 3); /* layers stay until gc */
        assert_int_equal(count_dir(f->root, "tmp"), 0);

        struct it_strv removed = IT_STRV_INIT;
        assert_int_equal(store_gc(f->st, &removed, &err), 0);
        assert_int_equal(removed.n, 1);
        assert_string_equal(removed.v[0], "sha256:" CHAIN_AB);
        it_strv_free(&removed);
        assert_true(store_layer_exists(f->st, "sha256:" HEX_A)); /* shared with B */
        assert_true(store_layer_exists(f->st, chain_ac));
        assert_false(store_layer_exists(f->st, "sha256:" CHAIN_AB));
        assert_int_equal(count_dir(f->root, "tmp"), 0);

        assert_int_equal(store_image_remove(f->st, "example.com/a:1", &err), IT_EINPUT);
        it_error_clear(&err);
        assert_int_equal(store_image_remove(f->st, idb, &err), 0);
        assert_int_equal(store_gc(f->st, &removed, &err), 0);
        assert_int_equal(removed.n, 2);
        it_strv_free(&removed);
        assert_int_equal(count_dir(f->root, "layers"), 0);
        assert_int_equal(count_dir(f->root, "images"), 0);
        store_unlock(f->st);
}

/* A child begins a layer; `die` says whether it exits at once (abandoning it) or waits on fd. */
static pid_t begin_in_child(const char *root, bool die, int *hold_fd)
{
        int p[2], ready[2];
        assert_int_equal(pipe(p), 0);
        assert_int_equal(pipe(ready), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(p[1]);
                close(ready[0]);
                it_error e = IT_ERROR_INIT;
                struct it_store *st;
                int dfd;
                struct it_store_layer_tx *tx;
                if (store_open(root, &st, &e) != 0 ||
                    store_layer_begin(st, "sha256:" HEX_A, &dfd, &tx, &e) != 0)
                        _exit(1);
                if (mkdirat(dfd, "etc", 0555) != 0)
                        _exit(2);
                if (write(ready[1], "r", 1) != 1)
                        _exit(3);
                if (die)
                        _exit(0); /* no commit, no abort: as if killed */
                char b;
                while (read(p[0], &b, 1) > 0)
                        ;
                _exit(0);
        }
        close(p[0]);
        close(ready[1]);
        char b;
        assert_int_equal(read(ready[0], &b, 1), 1);
        close(ready[0]);
        *hold_fd = p[1];
        return pid;
}

static void test_recover(void **state)
{
        struct fixture *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int hold_dead, hold_live;
        pid_t dead = begin_in_child(f->root, true, &hold_dead);
        int status;
        assert_int_equal(waitpid(dead, &status, 0), dead);
        assert_int_equal(WEXITSTATUS(status), 0);
        pid_t live = begin_in_child(f->root, false, &hold_live);
        /* And one held by this very process, through another store handle. */
        struct it_store *mine;
        assert_int_equal(store_open(f->root, &mine, &err), 0);
        int dfd;
        struct it_store_layer_tx *tx;
        assert_int_equal(store_layer_begin(mine, "sha256:" HEX_B, &dfd, &tx, &err), 0);
        assert_int_equal(count_dir(f->root, "tmp"), 3);
        /* A stray file in tmp/ (no lock possible) is garbage too. */
        _cleanup_free_ char *stray = xasprintf("%s/tmp/stray", f->root);
        int sfd = open(stray, O_WRONLY | O_CREAT, 0600);
        assert_true(sfd >= 0);
        close(sfd);

        size_t n = 99;
        assert_int_equal(store_recover(f->st, &n, &err), 0);
        assert_int_equal(n, 2);
        assert_int_equal(count_dir(f->root, "tmp"), 2);
        assert_int_equal(count_dir(f->root, "layers"), 0);

        /* The live child is killed: its entry goes on the next recover. */
        kill(live, SIGKILL);
        assert_int_equal(waitpid(live, &status, 0), live);
        close(hold_live);
        close(hold_dead);
        assert_int_equal(store_recover(f->st, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_int_equal(count_dir(f->root, "tmp"), 1);

        /* Ours still commits after all that. */
        int fd = openat(dfd, "f", O_WRONLY | O_CREAT, 0644);
        close(fd);
        struct it_layer_meta m = {0};
        strcpy(m.diff_id, "sha256:" HEX_B);
        assert_int_equal(store_layer_commit(tx, &m, &err), 0);
        assert_true(store_layer_exists(f->st, "sha256:" HEX_B));
        assert_int_equal(count_dir(f->root, "tmp"), 0);
        store_close(mine);
}

static void dump(const struct it_strv *p)
{
        for (size_t i = 0; i < p->n; i++)
                print_message("problem: %s\n", p->v[i]);
}

static bool has_problem(const struct it_strv *p, const char *want)
{
        for (size_t i = 0; i < p->n; i++)
                if (!strcmp(p->v[i], want))
                        return true;
        print_message("wanted: %s\n", want);
        dump(p);
        return false;
}

static void expect_n(const struct it_strv *p, size_t n)
{
        if (p->n != n)
                dump(p);
        assert_int_equal(p->n, n);
}

static void test_fsck(void **state)
{
        struct fixture *f = *state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        char ida[65], idb[65];
        const char *la[] = {"layer-a", "layer-b"};
        const char *lb[] = {"layer-a", "layer-c"};
        put_image(f->st, "A", la, 2, "example.com/a:1", ida);
        put_image(f->st, "B", lb, 2, "example.com/b:1", idb);
        char chain_ac[IT_DIGEST_STR_MAX];
        digest_of("sha256:" HEX_A " sha256:" HEX_C, chain_ac);

        _cleanup_strv_ struct it_strv p = IT_STRV_INIT;
        assert_int_equal(store_fsck(f->st, &p, &err), 0);
        expect_n(&p, 0);

        /* A missing layer. */
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s/layers/" CHAIN_AB "'", f->root);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(store_fsck(f->st, &p, &err), 0);
        expect_n(&p, 1);
        _cleanup_free_ char *w1 =
            xasprintf("%s/images/%s: layer sha256:" CHAIN_AB " is missing", f->root, ida);
        assert_string_equal(p.v[0], w1);
        it_strv_free(&p);

        /* A corrupted layer.json (shared base: reported for the layer and B's use of it). */
        _cleanup_free_ char *lj = xasprintf("%s/layers/" HEX_A "/layer.json", f->root);
        assert_int_equal(it_file_replace(lj, "{\"chain-id\":", 12, 0600, &err), 0);
        assert_int_equal(store_fsck(f->st, &p, &err), 0);
        _cleanup_free_ char *w2 =
            xasprintf("%s: line 1, column 12: invalid JSON: unexpected token near end of file", lj);
        size_t corrupt = 0;
        for (size_t i = 0; i < p.n; i++)
                corrupt += strcmp(p.v[i], w2) == 0;
        /* The layer itself, and A's and B's use of it. */
        if (corrupt != 3)
                dump(&p);
        assert_int_equal(corrupt, 3);
        expect_n(&p, 4);
        assert_true(has_problem(&p, w1));
        it_strv_free(&p);

        /* Valid JSON, wrong chain: diff-id changed. */
        _cleanup_free_ char *bad = xasprintf(
            "{\"chain-id\":\"sha256:" HEX_A "\",\"diff-id\":\"sha256:" HEX_B "\",\"parent\":\"\","
            "\"compressed-digest\":\"\",\"compressed-size\":0,\"size\":7,\"media-type\":\"\","
            "\"created\":\"2026-01-01T00:00:00.000000000Z\"}");
        assert_int_equal(it_file_replace(lj, bad, strlen(bad), 0600, &err), 0);
        assert_int_equal(store_fsck(f->st, &p, &err), 0);
        _cleanup_free_ char *w3 =
            xasprintf("%s: diff-id sha256:" HEX_B " on parent (none) gives chain ID sha256:" HEX_B
                      ", not sha256:" HEX_A,
                      lj);
        assert_true(has_problem(&p, w3));
        expect_n(&p, 2); /* w1 and w3 */
        it_strv_free(&p);

        /* An unknown field is refused too (our own format, read strictly). */
        _cleanup_free_ char *extra = xasprintf("{\"chain-id\":\"sha256:" HEX_A "\",\"x\":1}");
        assert_int_equal(it_file_replace(lj, extra, strlen(extra), 0600, &err), 0);
        assert_int_equal(store_fsck(f->st, &p, &err), 0);
        _cleanup_free_ char *w4 = xasprintf("%s: unknown field \"x\"", lj);
        assert_true(has_problem(&p, w4));
        it_strv_free(&p);

        /* A config whose bytes no longer hash to the ID. */
        _cleanup_free_ char *cfg = xasprintf("%s/images/%s/config", f->root, idb);
        assert_int_equal(it_file_replace(cfg, "{}", 2, 0600, &err), 0);
        assert_int_equal(store_fsck(f->st, &p, &err), 0);
        char d[IT_DIGEST_STR_MAX];
        digest_of("{}", d);
        _cleanup_free_ char *w5 = xasprintf("%s: sha256 is %s, not the image ID", cfg, d + 7);
        assert_true(has_problem(&p, w5));
        (void)chain_ac;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_chain_id),
            cmocka_unit_test_setup_teardown(test_open_layout, setup, teardown),
            cmocka_unit_test_setup_teardown(test_layer_commit, setup, teardown),
            cmocka_unit_test_setup_teardown(test_commit_race, setup, teardown),
            cmocka_unit_test_setup_teardown(test_commit_race_threads, setup, teardown),
            cmocka_unit_test_setup_teardown(test_images, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rm_gc, setup, teardown),
            cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
            cmocka_unit_test_setup_teardown(test_fsck, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
