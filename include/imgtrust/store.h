/* The image store: pulled layers as overlay lower directories, and image records.
 *
 * Our own format, not containers/storage's (runtime-storage.md §4 inspired it). Layout under the
 * root ($XDG_DATA_HOME/imgtrust/storage, else $HOME/.local/share/imgtrust/storage for users;
 * /var/lib/imgtrust/storage for root; or a given directory), every directory mode 0700:
 *
 *   lock                          flock(2) lock: store_lock(); shared for pulls and readers,
 *                                 exclusive for rm, gc and recover
 *   tmp.lock                      internal: serialises creating tmp/ entries against recover
 *   images.lock                   internal: serialises image record updates (names move)
 *   layers/<chainid-hex>/diff/    the layer's files in overlay form (an overlay lower dir)
 *   layers/<chainid-hex>/tar-split
 *                                 the layer's tar stream minus its files' data (format in
 *                                 imgtrust/tarsplit.h: gzip of "ITSPLIT1" + records: verbatim
 *                                 bytes, file references by path + size + sha256, an end record
 *                                 with the total size and diff ID), written by the unpacker into
 *                                 store_layer_split_fd() and renamed in with the layer; absent for
 *                                 layers stored before it existed or made without unpacking
 *   layers/<chainid-hex>/layer.json
 *                                 {"chain-id","diff-id","parent","compressed-digest",
 *                                  "compressed-size","size","media-type","created"}
 *   images/<config-hex>/manifest  manifest bytes exactly as pulled
 *   images/<config-hex>/config    config bytes exactly as pulled (their sha256 is the image ID)
 *   images/<config-hex>/image.json
 *                                 {"id","digest" (manifest),"names":[...],"layers":[chain IDs,
 *                                  base first],"created"}
 *   containers/<id>/              imgrun's containers (imgtrust/container.h), flock(2)ed by
 *                                 imgrun while the container runs
 *   cache/seccomp/<key>.bpf       imgrun's compiled seccomp programs (run/container.c)
 *   tmp/<kind>-<random>/          work in progress; each entry directory is flock(2)ed by its
 *                                 owner for as long as it lives, so store_recover() can tell an
 *                                 abandoned entry (owner killed) from a live one
 *
 * A layer appears in layers/ only by one rename(2) of a complete tmp/ entry (diff/ and
 * layer.json), so a killed pull never leaves a visible half layer. Layer IDs are OCI chain IDs
 * (runtime-storage.md §1.2), not containers/storage layer IDs. Every path inside the store is
 * opened relative to the store's root with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS); every
 * metadata file is written as temp + fsync + rename. JSON read back is parsed strictly.
 *
 * Removing a layer whose files belong to subordinate IDs needs the store's user namespace: run
 * store_image_remove()/store_gc()/store_recover() inside userns_spawn() when not root, or they
 * fail with EACCES naming the entry (the entry has already left layers/ by then, so the store stays
 * consistent and a later run inside the namespace finishes the job).
 */
#ifndef IMGTRUST_STORE_H
#define IMGTRUST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgtrust/digest.h"
#include "imgtrust/error.h"
#include "imgtrust/strv.h"

struct it_store;
struct it_store_layer_tx;

#define IT_STORE_MEDIA_TYPE_MAX 256
#define IT_STORE_TIME_MAX 40

/* What layer.json holds. Digests are "sha256:<hex>"; parent is "" for a base layer;
 * compressed_digest may be "" (a layer produced locally). */
struct it_layer_meta {
        char chain_id[IT_DIGEST_STR_MAX];
        char diff_id[IT_DIGEST_STR_MAX];
        char parent[IT_DIGEST_STR_MAX];
        char compressed_digest[IT_DIGEST_STR_MAX];
        uint64_t compressed_size;
        uint64_t size; /* uncompressed */
        char media_type[IT_STORE_MEDIA_TYPE_MAX];
        char created[IT_STORE_TIME_MAX]; /* RFC 3339, UTC, nanoseconds; set on commit */
};

/* An image record. store_image_free() frees what it holds. */
struct it_store_image {
        char id[IT_DIGEST_HEX_MAX + 1];  /* config digest hex */
        char digest[IT_DIGEST_STR_MAX];  /* manifest digest */
        struct it_strv names;            /* fully qualified references */
        struct it_strv layers;           /* chain IDs, base first */
        char created[IT_STORE_TIME_MAX]; /* RFC 3339 UTC */
};

/* Default root for this user (see above). Allocated; NULL when neither XDG_DATA_HOME nor HOME is
 * set for a non-root user. */
char *store_default_root(void);

/* Open (and create, mode 0700, with missing parents) the store at root, or at
 * store_default_root() when root is NULL. *out is allocated; store_close() frees it. */
int store_open(const char *root, struct it_store **out, it_error *err);
void store_close(struct it_store *st);
const char *store_root_path(const struct it_store *st);
/* The root's O_DIRECTORY fd (owned by the store). */
int store_root_fd(const struct it_store *st);

/* Block until the store lock is held, shared or exclusive (flock(2), so a second store_open in
 * the same process is a separate holder). Taking it again converts the lock. */
int store_lock(struct it_store *st, bool exclusive, it_error *err);
void store_unlock(struct it_store *st);

/* ChainID per OCI: base = diff_id; otherwise sha256(parent + " " + diff_id). parent NULL or ""
 * for a base layer. IT_EINPUT for a digest that is not sha256:<64 hex>. */
int store_chain_id(const char *parent, const char *diff_id, char out[IT_DIGEST_STR_MAX],
                   it_error *err);

/* Start a layer: a fresh tmp/ entry, locked by this process. *diff_fd is an O_DIRECTORY fd of
 * its empty diff/ directory to unpack into; it belongs to the transaction (do not close it).
 * *tx is allocated; store_layer_commit() or store_layer_abort() frees it. */
int store_layer_begin(struct it_store *st, const char *chain_id, int *diff_fd,
                      struct it_store_layer_tx **tx, it_error *err);
/* Finish: meta's diff_id and parent must give the chain ID the layer was begun with (meta's own
 * chain_id and created are ignored and set). Writes layer.json, syncs, renames the entry to
 * layers/<hex>. When another process committed the same chain ID first, ours is dropped and
 * this succeeds (one copy). tx is freed in every case; on failure the entry is removed. */
int store_layer_commit(struct it_store_layer_tx *tx, const struct it_layer_meta *meta,
                       it_error *err);
/* The tmp entry's tar-split file (created on the first call, mode 0600), to pass as the
 * unpacker's split_fd. The fd belongs to tx (do not close it); store_layer_commit() syncs it with
 * the rest. Returns the fd, or a negative it_code. */
int store_layer_split_fd(struct it_store_layer_tx *tx, it_error *err);
/* Several layers about to be committed together (all of one store, their files written): one
 * syncfs for them all, so that each store_layer_commit() after it need not flush the file
 * system again. */
int store_layers_sync(struct it_store_layer_tx *const *txs, size_t n, it_error *err);
/* Drop the entry and free tx. NULL is a no-op. */
void store_layer_abort(struct it_store_layer_tx *tx);

bool store_layer_exists(struct it_store *st, const char *chain_id);
/* Read layers/<hex>/layer.json strictly into *out. */
int store_layer_get(struct it_store *st, const char *chain_id, struct it_layer_meta *out,
                    it_error *err);
/* "<root>/layers/<hex>/diff", for an overlay lowerdir option. Allocated. */
char *store_layer_diff_path(const struct it_store *st, const char *chain_id);

/* Record an image: the config's sha256 is its ID. Written in a tmp/ entry and renamed in; an
 * existing record with that ID gains the names. Each name is taken off any other image first
 * (as podman does when re-tagging; that image stays, possibly without names). chain_ids are the
 * layers, base first; each must exist. On success *id_out (may be NULL, IT_DIGEST_HEX_MAX + 1
 * bytes) receives the image ID. */
int store_image_put(struct it_store *st, const void *manifest, size_t manifest_len,
                    const void *config, size_t config_len, const char *const *names, size_t nnames,
                    const char *const *chain_ids, size_t nlayers, char *id_out, it_error *err);
/* Every image, newest first (ties by ID). *imgs is allocated; store_image_list_free() frees it. */
int store_image_list(struct it_store *st, struct it_store_image **imgs, size_t *n, it_error *err);
void store_image_list_free(struct it_store_image *imgs, size_t n);
/* Find one image by name (exactly as stored, or as a normalised reference: "alpine" finds
 * docker.io/library/alpine:latest), full ID (hex or sha256:hex), or unique ID prefix. Not found
 * and an ambiguous prefix are IT_EINPUT; the ambiguous case lists every candidate ID in the
 * message. *out is filled; store_image_free() frees it. */
int store_image_lookup(struct it_store *st, const char *what, struct it_store_image *out,
                       it_error *err);
void store_image_free(struct it_store_image *img);
/* Read the manifest or config bytes of image id (hex). *data is allocated and NUL-terminated. */
int store_image_read(struct it_store *st, const char *id, bool config, char **data, size_t *len,
                     it_error *err);
/* Remove image `what` (as store_image_lookup finds it). Its layers stay until store_gc(). Hold
 * the exclusive lock. */
int store_image_remove(struct it_store *st, const char *what, it_error *err);

/* A container directory (containers/<id>/, made by imgrun). */
struct it_store_container {
        char id[IT_DIGEST_HEX_MAX + 1];
        char image[IT_DIGEST_HEX_MAX + 1]; /* "" when its record is missing or unreadable */
        long pid;                          /* imgrun's, from the record; 0 when unknown */
        bool running;                      /* imgrun still holds the directory's lock */
};

/* Every container directory, in name order; *out is allocated (free()). */
int store_container_list(struct it_store *st, struct it_store_container **out, size_t *n,
                         it_error *err);

/* Remove the directories of containers that no longer run (imgrun keeps them without --rm),
 * layers no image references and stale tmp/ entries. removed (may be NULL) receives
 * "container <id>" and the chain IDs dropped. Hold the exclusive lock (imgrun holds the shared
 * one while a container runs, so gc waits for running containers). */
int store_gc(struct it_store *st, struct it_strv *removed, it_error *err);
/* After a crash: remove every tmp/ entry whose owner no longer holds its lock. *nremoved (may be
 * NULL) receives how many. Safe while other processes pull. */
int store_recover(struct it_store *st, size_t *nremoved, it_error *err);
/* Check structure: every layer.json parses, names its own directory, and its chain ID follows from
 * its diff ID and parent; the parent exists; every image record parses, its config and manifest
 * hash to its ID and digest, its layers exist, and their chain IDs follow from the config's
 * rootfs.diff_ids. Each problem is one line in *problems (one line per problem, naming the path);
 * returns 0 when the check could run (problems or not). */
int store_fsck(struct it_store *st, struct it_strv *problems, it_error *err);
/* Re-hash every layer (in chain ID order): rebuild its tar stream from layers/<hex>/tar-split and
 * the files of its diff/ (never following a symlink out of it) and compare with its diff ID. Each
 * damaged layer is one line in *problems, as tarsplit_verify() words it: the first file whose
 * content or size changed, that is missing or is no longer a regular file ("layer sha256:<chain>:
 * etc/passwd: content changed (sha256:..., recorded sha256:...), the layer no longer matches its
 * diff ID sha256:..."); "layer sha256:<chain>: no tar-split record, cannot re-hash"; "...: cannot
 * re-hash: <reason>"; "...: tar-split file: <what is wrong with the record>". Returns 0 when the
 * check could run; IT_EIO naming the file when one cannot be read (EACCES: files of subordinate
 * IDs, run it inside the store's user namespace). Reads every byte of every layer; hold the shared
 * lock. */
int store_fsck_content(struct it_store *st, struct it_strv *problems, it_error *err);

#endif
