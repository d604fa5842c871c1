/* imgstore: look after the image store that imgpull fills (list, inspect, remove, gc, fsck,
 * mount, export, unshare). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/cli.h"
#include "imgtrust/export.h"
#include "imgtrust/fs.h"
#include "imgtrust/json.h"
#include "imgtrust/mount.h"
#include "imgtrust/store.h"
#include "imgtrust/strv.h"
#include "imgtrust/userns.h"
#include "imgtrust/xalloc.h"

static const char PROG[] = "imgstore";

/* Same bound the store applies to the config files it checks. */
#define CONFIG_MAX (4u << 20)

static const char USAGE[] =
    "Usage: imgstore [--root DIR] COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "Look after the image store that imgpull fills.\n"
    "\n"
    "Commands:\n"
    "  ls [--json]              list images: NAMES, IMAGE ID, CREATED, SIZE\n"
    "  ps                       list imgrun's containers: CONTAINER ID, IMAGE ID, STATUS\n"
    "  inspect [--json] IMAGE...  show an image's record, layers and config\n"
    "  rm IMAGE...              remove images (layers other images use stay; the rest go at gc)\n"
    "  gc                       remove exited containers, layers no image uses and abandoned\n"
    "                           work entries (waits while containers run)\n"
    "  fsck                     check the store's structure and re-hash every layer\n"
    "  mount IMAGE              mount an image read-only; prints a path that works from the host\n"
    "  umount IMAGE             end a mount made by 'imgstore mount'\n"
    "  export [-o FILE] IMAGE   the image's merged root filesystem as a pax tar stream\n"
    "  unshare [CMD [ARG...]]   run CMD (default $SHELL) in the store's user namespace\n"
    "\n"
    "IMAGE is a name (\"alpine\" finds docker.io/library/alpine:latest), a full image ID or a\n"
    "unique prefix of one. For a user with a range in /etc/subuid and /etc/subgid, rm, gc,\n"
    "fsck, mount, export and unshare work inside the store's user namespace (container 0 is\n"
    "the user, 1..N the subordinate range, as podman maps it).\n"
    "\n"
    "Options:\n"
    "  --root DIR    the store (default: $XDG_DATA_HOME/imgtrust/storage, or\n"
    "                ~/.local/share/imgtrust/storage; /var/lib/imgtrust/storage for root)\n"
    "  -h, --help    show this help ('imgstore COMMAND --help' for one command)\n"
    "  --version     show the version\n"
    "\n"
    "Exit codes: 0 success (fsck: clean), 1 fsck found problems, 2 usage error, unknown or\n"
    "ambiguous IMAGE, IMAGE mounted (rm) or not mounted (umount), 3 I/O error (including an\n"
    "unusable store root). unshare exits with CMD's status (128 + N when a signal N ended it;\n"
    "127 when CMD cannot be found, 126 when it cannot be run).\n";

static void store_closep(struct it_store **st)
{
        store_close(*st);
}
#define _cleanup_store_ _cleanup_(store_closep)

struct image_list {
        struct it_store_image *v;
        size_t n;
};

static void image_list_clear(struct image_list *l)
{
        if (l->v)
                store_image_list_free(l->v, l->n);
        l->v = NULL;
        l->n = 0;
}

static int fail(it_error *err)
{
        return it_cli_fail(PROG, err);
}

/* Parse a subcommand's options: only --json (when json is not NULL) and --help. Returns -1 when
 * help was printed, 0 to go on, or an exit code > 0. */
static int sub_options(int argc, char **argv, const char *cmd, const char *help, bool *json)
{
        static const struct option lo[] = {
            {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
        int c;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
                switch (c) {
                case 'j':
                        if (!json)
                                return it_cli_usage(PROG, cmd, "unknown option --json");
                        *json = true;
                        break;
                case 'h':
                        fputs(help, stdout);
                        return -1;
                default:
                        return it_cli_usage(PROG, cmd, "unknown option or missing value");
                }
        }
        return 0;
}

static int open_locked(const char *root, bool exclusive, struct it_store **st, it_error *err)
{
        int rc = store_open(root, st, err);
        if (rc < 0)
                return rc;
        if ((rc = store_lock(*st, exclusive, err)) < 0) {
                store_close(*st);
                *st = NULL;
        }
        return rc;
}

/* Sum of the layers' uncompressed sizes; false when a layer's record cannot be read (fsck says
 * why), so that a damaged store still lists. */
static bool image_size(struct it_store *st, const struct it_store_image *img, uint64_t *size)
{
        *size = 0;
        for (size_t i = 0; i < img->layers.n; i++) {
                _cleanup_error_ it_error e = IT_ERROR_INIT;
                struct it_layer_meta m;
                if (store_layer_get(st, img->layers.v[i], &m, &e) < 0)
                        return false;
                *size += m.size;
        }
        return true;
}

/* The image's config, parsed; NULL when it cannot be read or parsed. */
static json_t *image_config(struct it_store *st, const char *id, it_error *err)
{
        _cleanup_free_ char *data = NULL;
        size_t len;
        if (store_image_read(st, id, true, &data, &len, err) < 0)
                return NULL;
        json_t *j = NULL;
        _cleanup_free_ char *what = xasprintf("%s/images/%s/config", store_root_path(st), id);
        if (it_json_parse(data, len, CONFIG_MAX, what, &j, err) < 0)
                return NULL;
        return j;
}

/* The config's "created" when it has one (when the image was built, as podman shows), else
 * when the record was written. Allocated. */
static char *image_created(const json_t *config, const struct it_store_image *img)
{
        const char *c = json_string_value(json_object_get(config, "created"));
        return xstrdup(c && *c ? c : img->created);
}

/* "2024-01-02T03:04:05.5Z" -> "2024-01-02 03:04:05" (UTC, as stored); anything else as is. */
static char *created_short(const char *c)
{
        if (strlen(c) >= 20 && c[4] == '-' && c[10] == 'T' && c[13] == ':' && c[16] == ':') {
                char *s = xstrndup(c, 19);
                s[10] = ' ';
                return s;
        }
        return xstrdup(c);
}

/* Decimal units, three significant digits, as podman prints sizes. Allocated. */
static char *human_size(uint64_t n)
{
        static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
        double v = (double)n;
        size_t u = 0;
        while (v >= 1000.0 && u + 1 < sizeof units / sizeof units[0]) {
                v /= 1000.0;
                u++;
        }
        if (v >= 999.5 && u + 1 < sizeof units / sizeof units[0]) {
                v /= 1000.0;
                u++;
        }
        return xasprintf("%.3g %s", v, units[u]);
}

static json_t *strv_json(const struct it_strv *s)
{
        json_t *a = json_array();
        for (size_t i = 0; i < s->n; i++)
                json_array_append_new(a, json_string(s->v[i]));
        return a;
}

static void print_json(const json_t *j)
{
        _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
        it_json_write_go(&b, j, 4);
        printf("%s\n", it_buf_str(&b));
}

static const char LS_HELP[] =
    "Usage: imgstore [--root DIR] ls [--json]\n"
    "\n"
    "List the stored images, newest first: NAMES (comma-separated, <none> when untagged),\n"
    "IMAGE ID (first 12 hex digits), CREATED (the config's, UTC), SIZE (the layers'\n"
    "uncompressed sizes added up; - when a layer record is damaged).\n"
    "--json prints an array of {\"id\", \"names\", \"created\", \"size\" (bytes, null when\n"
    "unknown), \"layers\" (chain IDs, base first)}.\n";

static int cmd_ls(const char *root, int argc, char **argv)
{
        bool json = false;
        int rc = sub_options(argc, argv, "ls", LS_HELP, &json);
        if (rc)
                return rc < 0 ? 0 : rc;
        if (optind < argc)
                return it_cli_usage(PROG, "ls", "takes no arguments");
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_store_ struct it_store *st = NULL;
        if (open_locked(root, false, &st, &err) < 0)
                return fail(&err);
        _cleanup_(image_list_clear) struct image_list l = {NULL, 0};
        if (store_image_list(st, &l.v, &l.n, &err) < 0)
                return fail(&err);
        {
                /* Records of mounts whose holder died go here too; ls still lists if not. */
                _cleanup_error_ it_error ignored = IT_ERROR_INIT;
                (void)mount_clean_stale(st, &ignored);
        }

        _cleanup_json_ json_t *arr = json_array();
        _cleanup_strv_ struct it_strv cells = IT_STRV_INIT; /* 4 per row, header first */
        it_strv_push(&cells, "NAMES");
        it_strv_push(&cells, "IMAGE ID");
        it_strv_push(&cells, "CREATED");
        it_strv_push(&cells, "SIZE");
        for (size_t i = 0; i < l.n; i++) {
                const struct it_store_image *img = &l.v[i];
                _cleanup_error_ it_error ignored = IT_ERROR_INIT;
                _cleanup_json_ json_t *cfg = image_config(st, img->id, &ignored);
                _cleanup_free_ char *created = image_created(cfg, img);
                uint64_t size;
                bool known = image_size(st, img, &size);
                if (json) {
                        json_t *o = json_object();
                        json_object_set_new(o, "id", json_string(img->id));
                        json_object_set_new(o, "names", strv_json(&img->names));
                        json_object_set_new(o, "created", json_string(created));
                        json_object_set_new(o, "size",
                                            known ? json_integer((json_int_t)size) : json_null());
                        json_object_set_new(o, "layers", strv_json(&img->layers));
                        json_array_append_new(arr, o);
                        continue;
                }
                _cleanup_buf_ struct it_buf names = IT_BUF_INIT;
                for (size_t k = 0; k < img->names.n; k++)
                        it_buf_addf(&names, "%s%s", k ? "," : "", img->names.v[k]);
                it_strv_push(&cells, img->names.n ? it_buf_str(&names) : "<none>");
                it_strv_take(&cells, xstrndup(img->id, 12));
                it_strv_take(&cells, created_short(created));
                it_strv_take(&cells, known ? human_size(size) : xstrdup("-"));
        }
        if (json) {
                print_json(arr);
                return 0;
        }
        size_t w[4] = {0};
        for (size_t i = 0; i < cells.n; i++)
                if (strlen(cells.v[i]) > w[i % 4])
                        w[i % 4] = strlen(cells.v[i]);
        for (size_t i = 0; i < cells.n; i += 4)
                printf("%-*s  %-*s  %-*s  %s\n", (int)w[0], cells.v[i], (int)w[1], cells.v[i + 1],
                       (int)w[2], cells.v[i + 2], cells.v[i + 3]);
        return 0;
}

static const char INSPECT_HELP[] =
    "Usage: imgstore [--root DIR] inspect [--json] IMAGE...\n"
    "\n"
    "Show each image's ID, names, manifest digest, creation time, size, layer chain IDs (base\n"
    "first) and its config, pretty-printed. --json prints an array with one object per image:\n"
    "{\"id\", \"names\", \"digest\", \"created\", \"size\", \"layers\", \"config\"}.\n";

static int inspect_one(struct it_store *st, const char *what, bool json, json_t *arr, bool first,
                       it_error *err)
{
        struct it_store_image img;
        int rc = store_image_lookup(st, what, &img, err);
        if (rc < 0)
                return rc;
        _cleanup_json_ json_t *cfg = image_config(st, img.id, err);
        if (!cfg) {
                store_image_free(&img);
                return err->code;
        }
        _cleanup_free_ char *created = image_created(cfg, &img);
        uint64_t size;
        bool known = image_size(st, &img, &size);
        if (json) {
                json_t *o = json_object();
                json_object_set_new(o, "id", json_string(img.id));
                json_object_set_new(o, "names", strv_json(&img.names));
                json_object_set_new(o, "digest", json_string(img.digest));
                json_object_set_new(o, "created", json_string(created));
                json_object_set_new(o, "size",
                                    known ? json_integer((json_int_t)size) : json_null());
                json_object_set_new(o, "layers", strv_json(&img.layers));
                json_object_set(o, "config", cfg);
                json_array_append_new(arr, o);
                store_image_free(&img);
                return 0;
        }
        if (!first)
                putchar('\n');
        printf("ID:       %s\n", img.id);
        if (!img.names.n)
                printf("Names:    <none>\n");
        for (size_t i = 0; i < img.names.n; i++)
                printf("%s%s\n", i ? "          " : "Names:    ", img.names.v[i]);
        printf("Digest:   %s\n", img.digest);
        printf("Created:  %s\n", created);
        if (known) {
                _cleanup_free_ char *h = human_size(size);
                printf("Size:     %" PRIu64 " (%s)\n", size, h);
        } else {
                printf("Size:     -\n");
        }
        for (size_t i = 0; i < img.layers.n; i++)
                printf("%s%s\n", i ? "          " : "Layers:   ", img.layers.v[i]);
        printf("Config:\n");
        print_json(cfg);
        store_image_free(&img);
        return 0;
}

static int cmd_inspect(const char *root, int argc, char **argv)
{
        bool json = false;
        int rc = sub_options(argc, argv, "inspect", INSPECT_HELP, &json);
        if (rc)
                return rc < 0 ? 0 : rc;
        if (optind >= argc)
                return it_cli_usage(PROG, "inspect", "IMAGE is required");
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_store_ struct it_store *st = NULL;
        if (open_locked(root, false, &st, &err) < 0)
                return fail(&err);
        _cleanup_json_ json_t *arr = json_array();
        int ex = 0;
        for (int i = optind; i < argc; i++) {
                if (inspect_one(st, argv[i], json, arr, i == optind, &err) < 0) {
                        int e = fail(&err);
                        ex = ex ? ex : e;
                        it_error_clear(&err);
                }
        }
        if (json)
                print_json(arr);
        return ex;
}

/* ---- running in the store's user namespace ---- */

/* The store's ID mapping for the calling user (identity for root). */
static int store_map(struct it_idmap *map, it_error *err)
{
        return userns_idmap_for_user(NULL, NULL, geteuid(), map, err);
}

struct body_ctx {
        int (*body)(void *arg);
        void *arg;
        int *exit_code; /* shared memory */
};

static int body_child(void *p, it_error *err)
{
        (void)err;
        struct body_ctx *c = p;
        *c->exit_code = c->body(c->arg);
        /* The child leaves by _exit(): what it printed must be out first. */
        fflush(stdout);
        fflush(stderr);
        return 0;
}

/* Run body(arg) (which prints its own output and errors and returns an exit code) where the
 * store's files can be removed: for a user with a subordinate range inside the store's user
 * namespace, since files of subordinate IDs are not the user's to delete outside it; for root
 * and for a user without a range (all files are the user's) right here. */
static int run_in_store_ns(int (*body)(void *), void *arg)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_idmap map;
        if (store_map(&map, &err) < 0)
                return fail(&err);
        if (geteuid() == 0 || map.single_id)
                return body(arg);
        int *ex = userns_shared_alloc(sizeof *ex);
        *ex = IT_EXIT_IO;
        struct body_ctx c = {body, arg, ex};
        fflush(NULL);
        int rc = userns_run(&map, 0, body_child, &c, &err);
        int code = *ex;
        userns_shared_free(ex, sizeof *ex);
        if (rc < 0)
                return fail(&err);
        return code;
}

static const char RM_HELP[] =
    "Usage: imgstore [--root DIR] rm IMAGE...\n"
    "\n"
    "Remove each image's record (prints Untagged: NAME for its names, then Deleted: ID). Its\n"
    "layers stay until 'imgstore gc', which keeps those other images still use. An IMAGE that\n"
    "cannot be found, or is mounted ('imgstore umount' it first), is reported (exit 2) and the\n"
    "others are still removed.\n";

static bool is_full_id(const char *s)
{
        if (strncmp(s, "sha256:", 7) == 0)
                s += 7;
        size_t n = 0;
        for (; (s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'); n++)
                ;
        return n == 64 && !s[n];
}

/* IT_EINPUT when image id (hex) is mounted: a removed image would leave its mount holding
 * layers that gc then takes away underneath it. */
static int refuse_mounted(struct it_store *st, const char *what, const char *id, it_error *err)
{
        struct it_mount_info info = {0};
        bool mounted;
        int rc = mount_status(st, id, &mounted, &info, err);
        if (rc < 0 || !mounted)
                return rc;
        rc = it_error_set(err, IT_EINPUT, "image %s is mounted at %s: imgstore umount %s first",
                          what, info.path, what);
        mount_info_clear(&info);
        return rc;
}

static int rm_one(struct it_store *st, const char *what, it_error *err)
{
        struct it_store_image img;
        int rc = store_image_lookup(st, what, &img, err);
        if (rc < 0 && is_full_id(what)) {
                /* A record that no longer parses (fsck names it) can still be removed by its
                 * full ID; the store refuses when there is no such record. */
                it_error_clear(err);
                const char *hex = strncmp(what, "sha256:", 7) ? what : what + 7;
                if ((rc = refuse_mounted(st, what, hex, err)) < 0)
                        return rc;
                if ((rc = store_image_remove(st, what, err)) == 0)
                        printf("Deleted: %s\n", hex);
                return rc;
        }
        if (rc < 0)
                return rc;
        if ((rc = refuse_mounted(st, what, img.id, err)) == 0 &&
            (rc = store_image_remove(st, img.id, err)) == 0) {
                for (size_t i = 0; i < img.names.n; i++)
                        printf("Untagged: %s\n", img.names.v[i]);
                printf("Deleted: %s\n", img.id);
        }
        store_image_free(&img);
        return rc;
}

struct rm_args {
        struct it_store *st;
        int argc, first;
        char **argv;
};

static int rm_body(void *p)
{
        struct rm_args *a = p;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int ex = 0;
        for (int i = a->first; i < a->argc; i++) {
                if (rm_one(a->st, a->argv[i], &err) < 0) {
                        fflush(stdout);
                        int e = fail(&err);
                        ex = ex ? ex : e;
                        it_error_clear(&err);
                }
        }
        return ex;
}

static int cmd_rm(const char *root, int argc, char **argv)
{
        int rc = sub_options(argc, argv, "rm", RM_HELP, NULL);
        if (rc)
                return rc < 0 ? 0 : rc;
        if (optind >= argc)
                return it_cli_usage(PROG, "rm", "IMAGE is required");
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_store_ struct it_store *st = NULL;
        if (open_locked(root, true, &st, &err) < 0)
                return fail(&err);
        struct rm_args a = {st, argc, optind, argv};
        return run_in_store_ns(rm_body, &a);
}

static const char GC_HELP[] =
    "Usage: imgstore [--root DIR] gc\n"
    "\n"
    "Remove every layer no image record uses (one line per removed layer: its chain ID), work\n"
    "entries left by killed commands, and records of mounts whose holder is gone.\n";

static int gc_body(void *p)
{
        struct it_store *st = p;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_strv_ struct it_strv removed = IT_STRV_INIT;
        int rc = mount_clean_stale(st, &err);
        if (rc == 0)
                rc = store_gc(st, &removed, &err);
        /* What went is printed even when something else could not go. */
        for (size_t i = 0; i < removed.n; i++)
                printf("%s\n", removed.v[i]);
        fflush(stdout);
        return rc < 0 ? fail(&err) : 0;
}

static const char PS_HELP[] =
    "Usage: imgstore [--root DIR] ps\n"
    "\n"
    "List the containers imgrun made in the store: CONTAINER ID (12 characters), IMAGE ID\n"
    "(12), STATUS (running while its imgrun lives, else exited; 'imgrun --rm' leaves none,\n"
    "'imgstore gc' removes exited ones).\n";

static int cmd_ps(const char *root, int argc, char **argv)
{
        int rc = sub_options(argc, argv, "ps", PS_HELP, NULL);
        if (rc)
                return rc < 0 ? 0 : rc;
        if (optind < argc)
                return it_cli_usage(PROG, "ps", "takes no arguments");
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_store_ struct it_store *st = NULL;
        if (open_locked(root, false, &st, &err) < 0)
                return fail(&err);
        struct it_store_container *v = NULL;
        size_t n = 0;
        if (store_container_list(st, &v, &n, &err) < 0)
                return fail(&err);
        printf("%-14s %-14s %s\n", "CONTAINER ID", "IMAGE ID", "STATUS");
        for (size_t i = 0; i < n; i++)
                printf("%-14.12s %-14.12s %s\n", v[i].id, v[i].image[0] ? v[i].image : "-",
                       v[i].running ? "running" : "exited");
        free(v);
        return 0;
}

static int cmd_gc(const char *root, int argc, char **argv)
{
        int rc = sub_options(argc, argv, "gc", GC_HELP, NULL);
        if (rc)
                return rc < 0 ? 0 : rc;
        if (optind < argc)
                return it_cli_usage(PROG, "gc", "takes no arguments");
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_store_ struct it_store *st = NULL;
        if (open_locked(root, true, &st, &err) < 0)
                return fail(&err);
        return run_in_store_ns(gc_body, st);
}

static const char FSCK_HELP[] =
    "Usage: imgstore [--root DIR] fsck\n"
    "\n"
    "Remove what killed commands left in tmp/, then check the store's structure: every layer\n"
    "record parses and its chain ID follows from its diff ID and parent, the parent exists,\n"
    "each image's config and manifest hash to its ID and digest, its layers exist and match\n"
    "the config's diff IDs; then every layer's files are re-hashed (its tar stream rebuilt\n"
    "from its tar-split record) against its diff ID.\n"
    "Prints nothing and exits 0 when clean; otherwise one line per problem on stdout and\n"
    "exit 1.\n";

static int fsck_body(void *p)
{
        struct it_store *st = p;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_strv_ struct it_strv problems = IT_STRV_INIT;
        /* What a killed pull left in tmp/ is not damage: clean it first, as the next pull
         * would. */
        if (store_recover(st, NULL, &err) < 0 || store_fsck(st, &problems, &err) < 0)
                return fail(&err);
        /* Then the contents: every layer re-hashed against its diff ID (inside the namespace,
         * where files of subordinate IDs can be read). */
        if (store_fsck_content(st, &problems, &err) < 0) {
                for (size_t i = 0; i < problems.n; i++)
                        printf("%s\n", problems.v[i]);
                fflush(stdout);
                return fail(&err);
        }
        for (size_t i = 0; i < problems.n; i++)
                printf("%s\n", problems.v[i]);
        fflush(stdout);
        return problems.n ? IT_EXIT_REJECTED : 0;
}

static int cmd_fsck(const char *root, int argc, char **argv)
{
        int rc = sub_options(argc, argv, "fsck", FSCK_HELP, NULL);
        if (rc)
                return rc < 0 ? 0 : rc;
        if (optind < argc)
                return it_cli_usage(PROG, "fsck", "takes no arguments");
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_store_ struct it_store *st = NULL;
        if (open_locked(root, false, &st, &err) < 0)
                return fail(&err);
        return run_in_store_ns(fsck_body, st);
}

/* ---- mount, umount ---- */

static const char MOUNT_HELP[] =
    "Usage: imgstore [--root DIR] mount IMAGE\n"
    "\n"
    "Mount IMAGE's layers read-only as one overlay, inside a user namespace and mount namespace\n"
    "kept alive by a small holder process until 'imgstore umount IMAGE', for scanning the\n"
    "image without running it. Prints the path of the merged view that works from the host:\n"
    "/proc/PID/root/STORE/mounts/ID/merged (PID is the holder). Mounting a mounted image prints\n"
    "the same path again. Needs Linux 6.8 or later (overlayfs lowerdir+ and userxattr).\n";

static const char UMOUNT_HELP[] =
    "Usage: imgstore [--root DIR] umount IMAGE\n"
    "\n"
    "End the mount of IMAGE made by 'imgstore mount': the holder is sent SIGTERM and waited for,\n"
    "its record removed; prints the image ID. Exit 2 when IMAGE is not mounted.\n";

static int one_image_cmd(const char *root, int argc, char **argv, const char *cmd, const char *help,
                         bool exclusive, struct it_store **st, struct it_store_image *img,
                         it_error *err)
{
        int rc = sub_options(argc, argv, cmd, help, NULL);
        if (rc)
                return rc < 0 ? -1 : rc;
        if (optind >= argc)
                return it_cli_usage(PROG, cmd, "IMAGE is required");
        if (optind + 1 < argc)
                return it_cli_usage(PROG, cmd, "takes one IMAGE");
        if (open_locked(root, exclusive, st, err) < 0)
                return fail(err);
        if (store_image_lookup(*st, argv[optind], img, err) < 0)
                return fail(err);
        return 0;
}

static int cmd_mount(const char *root, int argc, char **argv)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_store_ struct it_store *st = NULL;
        struct it_store_image img;
        int rc = one_image_cmd(root, argc, argv, "mount", MOUNT_HELP, true, &st, &img, &err);
        if (rc)
                return rc < 0 ? 0 : rc;
        struct it_idmap map;
        _cleanup_free_ char *path = NULL;
        bool already;
        if (store_map(&map, &err) == 0 && mount_image(st, &map, &img, &path, &already, &err) == 0)
                printf("%s\n", path);
        store_image_free(&img);
        return err.code ? fail(&err) : 0;
}

static int cmd_umount(const char *root, int argc, char **argv)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_store_ struct it_store *st = NULL;
        struct it_store_image img;
        int rc = one_image_cmd(root, argc, argv, "umount", UMOUNT_HELP, true, &st, &img, &err);
        if (rc)
                return rc < 0 ? 0 : rc;
        if (mount_release(st, img.id, &err) == 0)
                printf("%s\n", img.id);
        store_image_free(&img);
        return err.code ? fail(&err) : 0;
}

/* ---- export ---- */

static const char EXPORT_HELP[] =
    "Usage: imgstore [--root DIR] export [-o FILE] IMAGE\n"
    "\n"
    "Write IMAGE's merged root filesystem as a POSIX pax tar stream to stdout (never to a\n"
    "terminal) or to FILE (-o, --output), which appears complete or not at all. The stream is\n"
    "what the image defines, not how the host stores it: owners are the image's numeric IDs,\n"
    "whiteouts and opaque markers are applied (no .wh. entries), hardlinks are tar hardlinks,\n"
    "extended attributes are SCHILY.xattr records (the overlay's own left out); entries are\n"
    "in sorted order, directories before their contents, so the same image gives the same\n"
    "bytes.\n";

/* A temporary file in FILE's directory: unnamed (O_TMPFILE) where the file system allows, so a
 * killed export leaves nothing behind; else a hidden name. */
struct out_file {
        int dirfd;
        int fd;
        char *base;
        char *tmp; /* the hidden name, when not O_TMPFILE */
};

static int out_open(const char *file, struct out_file *o, it_error *err)
{
        _cleanup_free_ char *copy = xstrdup(file);
        char *slash = strrchr(copy, '/');
        const char *dir = ".";
        const char *base = copy;
        if (slash) {
                *slash = '\0';
                dir = slash == copy ? "/" : copy;
                base = slash + 1;
        }
        if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
                return it_error_set(err, IT_EINPUT, "%s: not a file name", file);
        o->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (o->dirfd < 0)
                return it_error_sys(err, IT_EIO, errno, "%s", dir);
        o->base = xstrdup(base);
        o->fd = openat(o->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
        if (o->fd >= 0)
                return 0;
        o->tmp = xasprintf(".%s.tmp-%d", base, (int)getpid());
        o->fd = openat(o->dirfd, o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (o->fd < 0) {
                int e = errno;
                free(o->tmp);
                o->tmp = NULL;
                return it_error_sys(err, IT_EIO, e, "%s: cannot create a temporary file", file);
        }
        return 0;
}

static int out_commit(struct out_file *o, const char *file, it_error *err)
{
        if (fsync(o->fd) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s", file);
        if (!o->tmp) {
                char proc[64];
                snprintf(proc, sizeof proc, "/proc/self/fd/%d", o->fd);
                o->tmp = xasprintf(".%s.tmp-%d", o->base, (int)getpid());
                (void)unlinkat(o->dirfd, o->tmp, 0);
                if (linkat(AT_FDCWD, proc, o->dirfd, o->tmp, AT_SYMLINK_FOLLOW) != 0) {
                        int e = errno;
                        free(o->tmp);
                        o->tmp = NULL;
                        return it_error_sys(err, IT_EIO, e, "%s", file);
                }
        }
        if (renameat(o->dirfd, o->tmp, o->dirfd, o->base) != 0)
                return it_error_sys(err, IT_EIO, errno, "%s", file);
        free(o->tmp);
        o->tmp = NULL;
        (void)fsync(o->dirfd);
        return 0;
}

static void out_close(struct out_file *o)
{
        if (o->tmp)
                (void)unlinkat(o->dirfd, o->tmp, 0);
        if (o->fd >= 0)
                close(o->fd);
        if (o->dirfd >= 0)
                close(o->dirfd);
        free(o->tmp);
        free(o->base);
}

static int cmd_export(const char *root, int argc, char **argv)
{
        static const struct option lo[] = {{"output", required_argument, NULL, 'o'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
        const char *file = NULL;
        int c;
        optind = 1;
        opterr = 0;
        /* Options may follow IMAGE here (export IMAGE -o FILE). */
        while ((c = getopt_long(argc, argv, "ho:", lo, NULL)) != -1) {
                switch (c) {
                case 'o':
                        file = optarg;
                        break;
                case 'h':
                        fputs(EXPORT_HELP, stdout);
                        return 0;
                default:
                        return it_cli_usage(PROG, "export", "unknown option or missing value");
                }
        }
        if (optind >= argc)
                return it_cli_usage(PROG, "export", "IMAGE is required");
        if (optind + 1 < argc)
                return it_cli_usage(PROG, "export", "takes one IMAGE");
        if (file && !*file)
                return it_cli_usage(PROG, "export", "-o needs a file name");
        if (!file && isatty(STDOUT_FILENO))
                return it_cli_usage(PROG, "export",
                                    "refusing to write a tar stream to a terminal (redirect "
                                    "stdout or use -o FILE)");
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_store_ struct it_store *st = NULL;
        if (open_locked(root, false, &st, &err) < 0)
                return fail(&err);
        struct it_store_image img;
        if (store_image_lookup(st, argv[optind], &img, &err) < 0)
                return fail(&err);
        struct it_idmap map;
        struct out_file o = {-1, -1, NULL, NULL};
        if (store_map(&map, &err) == 0 && (!file || out_open(file, &o, &err) == 0) &&
            export_image(st, &map, &img, file ? o.fd : STDOUT_FILENO, &err) == 0 && file)
                out_commit(&o, file, &err);
        store_image_free(&img);
        if (file)
                out_close(&o);
        return err.code ? fail(&err) : 0;
}

/* ---- unshare ---- */

static const char UNSHARE_HELP[] =
    "Usage: imgstore [--root DIR] unshare [CMD [ARG...]]\n"
    "\n"
    "Run CMD (default: $SHELL, else /bin/sh) as root of the store's user namespace, in a new\n"
    "mount namespace, as 'podman unshare' does: container 0 is you, 1..N your range in\n"
    "/etc/subuid and /etc/subgid, so the store's files show the IDs the images gave them and\n"
    "can be changed or removed. IMGTRUST_STORAGE_ROOT is set to the store's root (podman sets\n"
    "CONTAINERS_GRAPHROOT). stdin, stdout and stderr are passed through; the exit status is\n"
    "CMD's. Options after CMD are CMD's; use -- before a CMD that starts with '-'.\n";

struct unshare_ctx {
        char **argv;
};

static int unshare_child(void *p)
{
        struct unshare_ctx *c = p;
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        execvp(c->argv[0], c->argv);
        int e = errno;
        _cleanup_free_ char *q = it_quote(c->argv[0], 200);
        fprintf(stderr, "%s: unshare: cannot run %s: %s\n", PROG, q, strerror(e));
        return e == ENOENT ? 127 : 126;
}

static int cmd_unshare(const char *root, int argc, char **argv)
{
        int rc = sub_options(argc, argv, "unshare", UNSHARE_HELP, NULL);
        if (rc)
                return rc < 0 ? 0 : rc;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_store_ struct it_store *st = NULL;
        /* Not locked: CMD may well run imgstore rm or gc, which lock exclusively. */
        if (store_open(root, &st, &err) < 0)
                return fail(&err);
        char self[64], abs[PATH_MAX];
        snprintf(self, sizeof self, "/proc/self/fd/%d", store_root_fd(st));
        ssize_t n = readlink(self, abs, sizeof abs - 1);
        if (n <= 0 || abs[0] != '/') {
                it_error_sys(&err, IT_EIO, errno, "%s", store_root_path(st));
                return fail(&err);
        }
        abs[n] = '\0';
        setenv("IMGTRUST_STORAGE_ROOT", abs, 1);
        char *def[2] = {NULL, NULL};
        const char *sh = getenv("SHELL");
        def[0] = (char *)(sh && *sh ? sh : "/bin/sh");
        struct unshare_ctx c = {optind < argc ? argv + optind : def};
        struct it_idmap map;
        if (store_map(&map, &err) < 0)
                return fail(&err);
        pid_t pid;
        fflush(NULL);
        if (userns_spawn_flags(&map, USERNS_NEWNS, unshare_child, &c, &pid, &err) < 0)
                return fail(&err);
        /* As a shell does for its foreground job: ^C is for CMD, not for us. */
        signal(SIGINT, SIG_IGN);
        signal(SIGQUIT, SIG_IGN);
        int status;
        if (userns_wait(pid, &status, &err) < 0)
                return fail(&err);
        return status;
}

/* unshare's own arguments are CMD's: only a --root before the word "unshare" is ours. Returns
 * the index of "unshare" (and the root given) or 0. */
static int find_unshare(int argc, char **argv, const char **root)
{
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--root") && i + 1 < argc)
                        *root = argv[++i];
                else if (!strncmp(argv[i], "--root=", 7))
                        *root = argv[i] + 7;
                else
                        return strcmp(argv[i], "unshare") ? 0 : i;
        }
        return 0;
}

int main(int argc, char **argv)
{
        static const char *const root_opt[] = {"root", NULL};
        const char *root = NULL;
        int u = find_unshare(argc, argv, &root);
        if (u) {
                if (root && !*root)
                        return it_cli_usage(PROG, "unshare", "--root needs a directory");
                return cmd_unshare(root, argc - u, argv + u);
        }
        root = NULL;
        if (it_cli_take_option(&argc, argv, root_opt, &root, PROG) < 0)
                return IT_EXIT_INPUT;
        if (argc < 2) {
                fputs(USAGE, stderr);
                return IT_EXIT_INPUT;
        }
        const char *cmd = argv[1];
        if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
                fputs(USAGE, stdout);
                return 0;
        }
        if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
                it_cli_version(PROG);
                return 0;
        }
        if (root && !*root)
                return it_cli_usage(PROG, cmd, "--root needs a directory");
        if (!strcmp(cmd, "ls"))
                return cmd_ls(root, argc - 1, argv + 1);
        if (!strcmp(cmd, "inspect"))
                return cmd_inspect(root, argc - 1, argv + 1);
        if (!strcmp(cmd, "rm"))
                return cmd_rm(root, argc - 1, argv + 1);
        if (!strcmp(cmd, "ps"))
                return cmd_ps(root, argc - 1, argv + 1);
        if (!strcmp(cmd, "gc"))
                return cmd_gc(root, argc - 1, argv + 1);
        if (!strcmp(cmd, "fsck"))
                return cmd_fsck(root, argc - 1, argv + 1);
        if (!strcmp(cmd, "mount"))
                return cmd_mount(root, argc - 1, argv + 1);
        if (!strcmp(cmd, "umount"))
                return cmd_umount(root, argc - 1, argv + 1);
        if (!strcmp(cmd, "export"))
                return cmd_export(root, argc - 1, argv + 1);
        if (!strcmp(cmd, "unshare"))
                return cmd_unshare(root, argc - 1, argv + 1);
        _cleanup_free_ char *q = it_quote(cmd, 64);
        fprintf(stderr, "%s: unknown command %s (see '%s --help')\n", PROG, q, PROG);
        return IT_EXIT_INPUT;
}
