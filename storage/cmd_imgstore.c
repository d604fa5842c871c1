/* imgstore: look after the image store that imgpull fills (list, inspect, remove, gc, fsck). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/cli.h"
#include "imgtrust/json.h"
#include "imgtrust/store.h"
#include "imgtrust/strv.h"
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
    "  inspect [--json] IMAGE...  show an image's record, layers and config\n"
    "  rm IMAGE...              remove images (layers other images use stay; the rest go at gc)\n"
    "  gc                       remove layers no image uses and abandoned work entries\n"
    "  fsck                     check the store's structure; one line per problem\n"
    "\n"
    "IMAGE is a name (\"alpine\" finds docker.io/library/alpine:latest), a full image ID or a\n"
    "unique prefix of one. Not yet implemented: mount, umount, export, unshare.\n"
    "\n"
    "Options:\n"
    "  --root DIR    the store (default: $XDG_DATA_HOME/imgtrust/storage, or\n"
    "                ~/.local/share/imgtrust/storage; /var/lib/imgtrust/storage for root)\n"
    "  -h, --help    show this help\n"
    "  --version     show the version\n"
    "\n"
    "Exit codes: 0 success (fsck: clean), 1 fsck found problems, 2 usage error, unknown or\n"
    "ambiguous IMAGE, 3 I/O error (including an unusable store root).\n";

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

static const char RM_HELP[] =
    "Usage: imgstore [--root DIR] rm IMAGE...\n"
    "\n"
    "Remove each image's record (prints Untagged: NAME for its names, then Deleted: ID). Its\n"
    "layers stay until 'imgstore gc', which keeps those other images still use. An IMAGE that\n"
    "cannot be found is reported and the others are still removed.\n";

static bool is_full_id(const char *s)
{
        if (strncmp(s, "sha256:", 7) == 0)
                s += 7;
        size_t n = 0;
        for (; (s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'); n++)
                ;
        return n == 64 && !s[n];
}

static int rm_one(struct it_store *st, const char *what, it_error *err)
{
        struct it_store_image img;
        int rc = store_image_lookup(st, what, &img, err);
        if (rc < 0 && is_full_id(what)) {
                /* A record that no longer parses (fsck names it) can still be removed by its
                 * full ID; the store refuses when there is no such record. */
                it_error_clear(err);
                if ((rc = store_image_remove(st, what, err)) == 0)
                        printf("Deleted: %s\n", strncmp(what, "sha256:", 7) ? what : what + 7);
                return rc;
        }
        if (rc < 0)
                return rc;
        if ((rc = store_image_remove(st, img.id, err)) == 0) {
                for (size_t i = 0; i < img.names.n; i++)
                        printf("Untagged: %s\n", img.names.v[i]);
                printf("Deleted: %s\n", img.id);
        }
        store_image_free(&img);
        return rc;
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
        int ex = 0;
        for (int i = optind; i < argc; i++) {
                if (rm_one(st, argv[i], &err) < 0) {
                        int e = fail(&err);
                        ex = ex ? ex : e;
                        it_error_clear(&err);
                }
        }
        return ex;
}

static const char GC_HELP[] =
    "Usage: imgstore [--root DIR] gc\n"
    "\n"
    "Remove every layer no image record uses (one line per removed layer: its chain ID) and\n"
    "work entries left by killed commands.\n";

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
        _cleanup_strv_ struct it_strv removed = IT_STRV_INIT;
        rc = store_gc(st, &removed, &err);
        /* What went is printed even when something else could not go. */
        for (size_t i = 0; i < removed.n; i++)
                printf("%s\n", removed.v[i]);
        return rc < 0 ? fail(&err) : 0;
}

static const char FSCK_HELP[] =
    "Usage: imgstore [--root DIR] fsck\n"
    "\n"
    "Check the store's structure: every layer record parses and its chain ID follows from its\n"
    "diff ID and parent, the parent exists, each image's config and manifest hash to its ID\n"
    "and digest, its layers exist and match the config's diff IDs. Prints nothing and exits 0\n"
    "when clean; otherwise one line per problem on stdout and exit 1. Layer contents are not\n"
    "re-hashed yet.\n";

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
        _cleanup_strv_ struct it_strv problems = IT_STRV_INIT;
        if (store_fsck(st, &problems, &err) < 0)
                return fail(&err);
        for (size_t i = 0; i < problems.n; i++)
                printf("%s\n", problems.v[i]);
        return problems.n ? IT_EXIT_REJECTED : 0;
}

int main(int argc, char **argv)
{
        static const char *const root_opt[] = {"root", NULL};
        const char *root = NULL;
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
        if (!strcmp(cmd, "gc"))
                return cmd_gc(root, argc - 1, argv + 1);
        if (!strcmp(cmd, "fsck"))
                return cmd_fsck(root, argc - 1, argv + 1);
        if (!strcmp(cmd, "mount") || !strcmp(cmd, "umount") || !strcmp(cmd, "export") ||
            !strcmp(cmd, "unshare")) {
                fprintf(stderr, "%s: %s: not implemented yet\n", PROG, cmd);
                return IT_EXIT_INPUT;
        }
        _cleanup_free_ char *q = it_quote(cmd, 64);
        fprintf(stderr, "%s: unknown command %s (see '%s --help')\n", PROG, q, PROG);
        return IT_EXIT_INPUT;
}
