/* store_fill: put one synthetic image into a store through the store API, for the imgstore CLI
 * tests (imgpull is not needed to fill a store).
 *
 *   store_fill ROOT CREATED NAMES LAYER...
 *
 * CREATED is the config's "created" value; NAMES is a comma-separated list of image names (or
 * "-" for none); each LAYER is WORD:SIZE, a layer whose diff/ holds one file WORD containing WORD,
 * whose diff ID is sha256(WORD) and whose layer.json size is SIZE. Layers already stored (same
 * chain ID) are shared, not written again. The config and manifest are built deterministically
 * from the arguments, so the image ID printed on stdout is stable across runs.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/fs.h"
#include "imgtrust/store.h"
#include "imgtrust/strv.h"
#include "imgtrust/tarsplit.h"
#include "imgtrust/xalloc.h"

static int die(const it_error *err)
{
        it_error_print("store_fill", err);
        return 3;
}

/* A tar-split record under which `imgstore fsck` re-hashes the layer clean: its "stream" is the
 * file's bytes alone, and the diff ID is their sha256 (imgstore mount/export tests). */
static int put_split(struct it_store_layer_tx *tx, const char *word, it_error *err)
{
        int fd = store_layer_split_fd(tx, err);
        if (fd < 0)
                return fd;
        struct it_digest d;
        digest_compute(IT_DIGEST_SHA256, word, strlen(word), &d);
        unsigned char raw[32];
        for (size_t i = 0; i < 32; i++)
                sscanf(d.hex + 2 * i, "%2hhx", &raw[i]);
        struct it_tarsplit_writer *w;
        tarsplit_writer_new(fd, &w);
        int rc = tarsplit_write_file(w, word, strlen(word), raw, err);
        if (rc == 0)
                rc = tarsplit_writer_finish(w, strlen(word), &d, err);
        tarsplit_writer_free(w);
        return rc;
}

static int put_layer(struct it_store *st, const char *word, unsigned long long size,
                     const char *parent, char chain[IT_DIGEST_STR_MAX],
                     char diff_id[IT_DIGEST_STR_MAX], it_error *err)
{
        struct it_digest d;
        digest_compute(IT_DIGEST_SHA256, word, strlen(word), &d);
        digest_format(&d, diff_id);
        int rc = store_chain_id(parent, diff_id, chain, err);
        if (rc < 0 || store_layer_exists(st, chain))
                return rc;
        int dfd;
        struct it_store_layer_tx *tx;
        if ((rc = store_layer_begin(st, chain, &dfd, &tx, err)) < 0)
                return rc;
        int fd = openat(dfd, word, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 || it_write_all(fd, word, strlen(word)) != 0) {
                if (fd >= 0)
                        close(fd);
                store_layer_abort(tx);
                return it_error_set(err, IT_EIO, "cannot write layer file %s", word);
        }
        close(fd);
        if ((rc = put_split(tx, word, err)) < 0) {
                store_layer_abort(tx);
                return rc;
        }
        struct it_layer_meta m = {0};
        snprintf(m.diff_id, sizeof m.diff_id, "%s", diff_id);
        snprintf(m.parent, sizeof m.parent, "%s", parent);
        m.size = size;
        snprintf(m.media_type, sizeof m.media_type, "application/vnd.oci.image.layer.v1.tar");
        return store_layer_commit(tx, &m, err);
}

int main(int argc, char **argv)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (argc < 5) {
                fputs("usage: store_fill ROOT CREATED NAMES WORD:SIZE...\n", stderr);
                return 2;
        }
        struct it_store *st;
        if (store_open(argv[1], &st, &err) < 0)
                return die(&err);
        _cleanup_strv_ struct it_strv chains = IT_STRV_INIT;
        _cleanup_buf_ struct it_buf ids = IT_BUF_INIT;
        _cleanup_buf_ struct it_buf mlayers = IT_BUF_INIT;
        char parent[IT_DIGEST_STR_MAX] = "";
        int rc = 0;
        for (int i = 4; i < argc && rc == 0; i++) {
                _cleanup_free_ char *w = xstrdup(argv[i]);
                char *colon = strrchr(w, ':');
                if (!colon) {
                        fprintf(stderr, "store_fill: %s: want WORD:SIZE\n", argv[i]);
                        store_close(st);
                        return 2;
                }
                *colon = '\0';
                char chain[IT_DIGEST_STR_MAX], diff_id[IT_DIGEST_STR_MAX];
                rc = put_layer(st, w, strtoull(colon + 1, NULL, 10), parent, chain, diff_id, &err);
                it_strv_push(&chains, chain);
                it_buf_addf(&ids, "%s\"%s\"", i > 4 ? "," : "", diff_id);
                it_buf_addf(&mlayers,
                            "%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
                            "\"digest\":\"%s\",\"size\":%zu}",
                            i > 4 ? "," : "", diff_id, strlen(w));
                memcpy(parent, chain, sizeof parent);
        }
        if (rc < 0) {
                store_close(st);
                return die(&err);
        }
        _cleanup_free_ char *config = xasprintf(
            "{\"created\":\"%s\",\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":"
            "{\"Env\":[\"PATH=/usr/bin:/bin\"],\"Cmd\":[\"/bin/sh\"]},\"rootfs\":{\"type\":"
            "\"layers\",\"diff_ids\":[%s]}}",
            argv[2], it_buf_str(&ids));
        struct it_digest cd;
        digest_compute(IT_DIGEST_SHA256, config, strlen(config), &cd);
        _cleanup_free_ char *manifest = xasprintf(
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
            "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
            "\"sha256:%s\",\"size\":%zu},\"layers\":[%s]}",
            cd.hex, strlen(config), it_buf_str(&mlayers));
        _cleanup_strv_ struct it_strv names = IT_STRV_INIT;
        if (strcmp(argv[3], "-") != 0) {
                _cleanup_free_ char *all = xstrdup(argv[3]);
                char *save = NULL;
                for (char *t = strtok_r(all, ",", &save); t; t = strtok_r(NULL, ",", &save))
                        it_strv_push(&names, t);
        }
        char id[IT_DIGEST_HEX_MAX + 1];
        rc = store_image_put(st, manifest, strlen(manifest), config, strlen(config),
                             (const char *const *)names.v, names.n, (const char *const *)chains.v,
                             chains.n, id, &err);
        store_close(st);
        if (rc < 0)
                return die(&err);
        printf("%s\n", id);
        return 0;
}
