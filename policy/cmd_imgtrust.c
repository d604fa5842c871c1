/* imgtrust: edit, show and explain policy.json (and registries.d) the way podman image trust does.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/cli.h"
#include "imgtrust/fs.h"
#include "imgtrust/json.h"
#include "imgtrust/keyfile.h"
#include "imgtrust/lint.h"
#include "imgtrust/paths.h"
#include "imgtrust/policy.h"
#include "imgtrust/regd.h"
#include "imgtrust/xalloc.h"

static const char PROG[] = "imgtrust";

struct opts {
        const char *policy;
        const char *regd;
};

static void usage(FILE *f)
{
        fputs("Usage: imgtrust [--policy FILE] [--registries.d DIR] COMMAND [OPTIONS]\n"
              "\n"
              "Edit, show and explain the image trust policy (policy.json and registries.d).\n"
              "\n"
              "Commands:\n"
              "  set     set the requirements for a scope, as podman image trust set\n"
              "  show    show the policy, as podman image trust show\n"
              "  check   explain the decision for an image, or lint the configuration\n"
              "\n"
              "Options:\n"
              "  --policy FILE         policy.json to use (alias --policypath)\n"
              "  --registries.d DIR    registries.d directory to use (alias --registrypath)\n"
              "  -h, --help            show this help\n"
              "  --version             show the version\n"
              "\n"
              "Exit codes: 0 ok, 1 rejected or findings, 2 usage or bad input, 3 I/O error,\n"
              "10 signatures required (check).\n",
              f);
}

static int fail(it_error *err)
{
        return it_cli_fail(PROG, err);
}

static int usage_error(const char *cmd, const char *msg)
{
        return it_cli_usage(PROG, cmd, msg);
}

/* getopt's own messages are off (opterr = 0), so a bad option is reported in one line. */
static int bad_option(const char *cmd, char **argv)
{
        char msg[160];
        if (optopt)
                snprintf(msg, sizeof msg, "option -%c %s", optopt,
                         strchr("tf", optopt) ? "needs a value" : "is not known");
        else
                snprintf(msg, sizeof msg, "option %.100s is not known or needs a value",
                         argv[optind - 1]);
        return usage_error(cmd, msg);
}

/* ---------------------------------------------------------------- set */

static const char SET_HELP[] =
    "Usage: imgtrust set [-t TYPE] [-f PUBKEYFILE]... SCOPE|default\n"
    "\n"
    "Replace the requirements for SCOPE (a registry, namespace or repository, or the keyword\n"
    "default) in policy.json, writing what podman image trust set writes. Other entries and\n"
    "unknown top-level members of the file are kept; the file is replaced atomically.\n"
    "\n"
    "Options:\n"
    "  -t, --type TYPE          accept (insecureAcceptAnything), reject, signedBy (default)\n"
    "                           or sigstoreSigned\n"
    "  -f, --pubkeysfile FILE   public key file; repeat for several (one requirement each)\n"
    "  -h, --help               show this help\n";

static int cmd_set(struct opts *o, int argc, char **argv)
{
        static const struct option lo[] = {{"type", required_argument, NULL, 't'},
                                           {"pubkeysfile", required_argument, NULL, 'f'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
        const char *type = "signedBy";
        _cleanup_strv_ struct it_strv keys = IT_STRV_INIT;
        int c;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+t:f:h", lo, NULL)) != -1) {
                switch (c) {
                case 't':
                        type = optarg;
                        break;
                case 'f':
                        /* podman's -f is a string slice: "a,b" names two files, "" none. */
                        for (char *save = NULL, *k = strtok_r(optarg, ",", &save); k;
                             k = strtok_r(NULL, ",", &save))
                                it_strv_push(&keys, k);
                        break;
                case 'h':
                        fputs(SET_HELP, stdout);
                        return 0;
                default:
                        return bad_option("set", argv);
                }
        }
        if (argc - optind != 1)
                return usage_error("set", "exactly one SCOPE (or default) is required");
        const char *scope = argv[optind];

        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *path = it_path_policy(o->policy);
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        _cleanup_json_ json_t *doc = NULL;
        if (it_file_read(path, IT_POLICY_MAX_BYTES, &data, &len, &err) == 0) {
                if (it_json_parse(data, len, IT_POLICY_MAX_BYTES, path, &doc, &err) != 0)
                        return fail(&err);
                /* Refuse to build on a file containers/image would refuse: the edit would keep it
                 * broken. */
                struct it_policy pol = IT_POLICY_INIT;
                if (policy_from_json(doc, path, true, &pol, &err) != 0)
                        return fail(&err);
                policy_free(&pol);
        } else if (err.sys_errno == ENOENT) {
                it_error_clear(&err);
                doc = json_object();
        } else {
                return fail(&err);
        }

        json_t *reqs = NULL;
        if (strcmp(scope, "default") != 0 && policy_trust_check_scope(scope, &err) != 0)
                return fail(&err);
        if (policy_trust_requirements(type, &keys, &reqs, &err) != 0)
                return fail(&err);
        if (policy_trust_set(doc, scope, reqs, &err) != 0)
                return fail(&err);

        _cleanup_free_ char *out = policy_serialize(doc);
        struct it_policy check = IT_POLICY_INIT;
        _cleanup_json_ json_t *redoc = NULL;
        if (it_json_parse(out, strlen(out), IT_POLICY_MAX_BYTES, path, &redoc, &err) != 0 ||
            policy_from_json(redoc, path, true, &check, &err) != 0) {
                it_error_wrap(&err, "refusing to write an invalid policy");
                return fail(&err);
        }
        policy_free(&check);
        if (it_file_replace(path, out, strlen(out), 0644, &err) != 0)
                return fail(&err);
        return 0;
}

/* ---------------------------------------------------------------- show */

static const char SHOW_HELP[] =
    "Usage: imgtrust show [--raw] [-j|--json] [-n|--noheading] [SCOPE]\n"
    "\n"
    "Show the trust policy as podman image trust show does: one row per requirement with\n"
    "TRANSPORT NAME TYPE ID STORE. ID lists the e-mail addresses of the keys in the key files;\n"
    "STORE is the lookaside from registries.d. SCOPE is accepted and ignored, as by podman.\n"
    "\n"
    "Options:\n"
    "  --raw            print policy.json as it is\n"
    "  -j, --json       print the rows as JSON\n"
    "  -n, --noheading  do not print the header line\n"
    "  -h, --help       show this help\n";

struct row {
        const char *transport;
        const char *name;
        const char *repo_name;
        const char *type;
        char *gpg_id;
        const char *sigstore;
};

static int cmp_transport(const void *a, const void *b)
{
        return strcmp((*(struct it_transport *const *)a)->name,
                      (*(struct it_transport *const *)b)->name);
}

static int cmp_scope(const void *a, const void *b)
{
        return strcmp((*(struct it_scope *const *)a)->name, (*(struct it_scope *const *)b)->name);
}

static char *show_gpg_ids(const struct it_requirement *r)
{
        if (r->type == IT_REQ_SIGSTORE_SIGNED)
                return xstrdup("N/A");
        if (r->type != IT_REQ_SIGNED_BY)
                return xstrdup("");
        _cleanup_strv_ struct it_strv ids = IT_STRV_INIT;
        _cleanup_strv_ struct it_strv files = IT_STRV_INIT;
        policy_req_key_files(r, &files);
        for (size_t i = 0; i < files.n + r->nkey_data; i++) {
                _cleanup_error_ it_error err = IT_ERROR_INIT;
                _cleanup_free_ char *data = NULL;
                size_t len = 0;
                int rc;
                if (i < files.n) {
                        rc = it_file_read(files.v[i], IT_KEYFILE_MAX, &data, &len, &err);
                        if (rc == 0)
                                rc = keyfile_podman_ids_data(data, len, &ids, &err);
                        if (rc != 0)
                                it_error_wrap(&err, "%s", files.v[i]);
                } else {
                        rc = keyfile_podman_ids_data(r->key_data[i - files.n].data,
                                                     r->key_data[i - files.n].len, &ids, &err);
                        if (rc != 0)
                                it_error_wrap(&err, "%s.keyData", r->where);
                }
                /* podman shows an empty ID when gpg cannot read the keys; we also say why. */
                if (rc != 0)
                        it_error_print(PROG, &err);
        }
        struct it_buf b = IT_BUF_INIT;
        for (size_t i = 0; i < ids.n; i++) {
                if (i)
                        it_buf_adds(&b, ", ");
                it_buf_adds(&b, ids.v[i]);
        }
        return it_buf_detach(&b);
}

static const char *show_type(const struct it_requirement *r)
{
        switch (r->type) {
        case IT_REQ_INSECURE_ACCEPT_ANYTHING:
                return "accept";
        case IT_REQ_SIGNED_BY:
                return "signed";
        case IT_REQ_SIGSTORE_SIGNED:
                return "sigstoreSigned";
        case IT_REQ_REJECT:
                return "reject";
        default:
                fprintf(stderr, "%s: %s: no display type for requirement type %s\n", PROG, r->where,
                        policy_req_type_name(r->type));
                return "";
        }
}

static void add_rows(struct row **rows, size_t *n, const struct it_reqs *reqs,
                     const char *transport, const char *name, const char *repo_name,
                     const char *regd_scope, const struct it_regd *regd)
{
        for (size_t i = 0; i < reqs->n; i++) {
                *rows = xrealloc(*rows, (*n + 1) * sizeof **rows);
                struct row *r = &(*rows)[(*n)++];
                r->transport = transport;
                r->name = name;
                r->repo_name = repo_name;
                r->type = show_type(&reqs->v[i]);
                r->gpg_id = show_gpg_ids(&reqs->v[i]);
                r->sigstore = regd_podman_store(regd, regd_scope);
        }
}

/* Width as Go's tabwriter counts it: UTF-8 characters, not bytes. */
static size_t text_width(const char *s)
{
        size_t n = 0;
        for (; *s; s++)
                if (((unsigned char)*s & 0xC0) != 0x80)
                        n++;
        return n;
}

static void print_cell(const char *s, size_t width)
{
        fputs(s, stdout);
        for (size_t l = text_width(s); l < width; l++)
                putchar(' ');
}

static int cmd_show(struct opts *o, int argc, char **argv)
{
        static const struct option lo[] = {{"raw", no_argument, NULL, 'r'},
                                           {"json", no_argument, NULL, 'j'},
                                           {"noheading", no_argument, NULL, 'n'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
        bool raw = false, json = false, noheading = false;
        int c;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+jnh", lo, NULL)) != -1) {
                switch (c) {
                case 'r':
                        raw = true;
                        break;
                case 'j':
                        json = true;
                        break;
                case 'n':
                        noheading = true;
                        break;
                case 'h':
                        fputs(SHOW_HELP, stdout);
                        return 0;
                default:
                        return bad_option("show", argv);
                }
        }
        if (argc - optind > 1)
                return usage_error("show", "at most one SCOPE is accepted");

        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *path = it_path_policy(o->policy);
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        if (it_file_read(path, IT_POLICY_MAX_BYTES, &data, &len, &err) != 0)
                return fail(&err);
        if (raw) {
                fwrite(data, 1, len, stdout);
                putchar('\n');
                return 0;
        }
        _cleanup_json_ json_t *doc = NULL;
        struct it_policy pol = IT_POLICY_INIT;
        if (it_json_parse(data, len, IT_POLICY_MAX_BYTES, path, &doc, &err) != 0 ||
            policy_from_json(doc, path, true, &pol, &err) != 0)
                return fail(&err);
        _cleanup_free_ char *regd_dir = it_path_registries_d(o->regd);
        struct it_regd regd = IT_REGD_INIT;
        if (regd_load_dir(regd_dir, &regd, &err) != 0) {
                policy_free(&pol);
                return fail(&err);
        }

        struct row *rows = NULL;
        size_t nrows = 0;
        add_rows(&rows, &nrows, &pol.def, "all", "* (default)", "default", "", &regd);
        struct it_transport **ts = xcalloc(pol.ntransports, sizeof *ts);
        for (size_t i = 0; i < pol.ntransports; i++)
                ts[i] = &pol.transports[i];
        qsort(ts, pol.ntransports, sizeof *ts, cmp_transport);
        for (size_t i = 0; i < pol.ntransports; i++) {
                const char *tname = strcmp(ts[i]->name, "docker") == 0 ? "repository" : ts[i]->name;
                struct it_scope **ss = xcalloc(ts[i]->n, sizeof *ss);
                for (size_t j = 0; j < ts[i]->n; j++)
                        ss[j] = &ts[i]->scopes[j];
                qsort(ss, ts[i]->n, sizeof *ss, cmp_scope);
                for (size_t j = 0; j < ts[i]->n; j++)
                        add_rows(&rows, &nrows, &ss[j]->reqs, tname, ss[j]->name, ss[j]->name,
                                 ss[j]->name, &regd);
                free(ss);
        }
        free(ts);

        if (json) {
                if (nrows == 0) {
                        puts("null");
                } else {
                        _cleanup_json_ json_t *arr = json_array();
                        for (size_t i = 0; i < nrows; i++) {
                                json_t *obj = json_object();
                                json_object_set_new(obj, "transport",
                                                    json_string(rows[i].transport));
                                if (*rows[i].name)
                                        json_object_set_new(obj, "name", json_string(rows[i].name));
                                if (*rows[i].repo_name)
                                        json_object_set_new(obj, "repo_name",
                                                            json_string(rows[i].repo_name));
                                if (*rows[i].sigstore)
                                        json_object_set_new(obj, "sigstore",
                                                            json_string(rows[i].sigstore));
                                json_object_set_new(obj, "type", json_string(rows[i].type));
                                if (*rows[i].gpg_id)
                                        json_object_set_new(obj, "gpg_id",
                                                            json_string(rows[i].gpg_id));
                                json_array_append_new(arr, obj);
                        }
                        _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
                        it_json_write_go(&b, arr, 2);
                        puts(it_buf_str(&b));
                }
        } else {
                size_t w[4] = {12, 12, 12, 12};
                const char *head[5] = {"TRANSPORT", "NAME", "TYPE", "ID", "STORE"};
                for (size_t i = 0; i <= nrows; i++) {
                        const char *cells[4];
                        if (i == nrows) {
                                memcpy(cells, head, sizeof cells);
                        } else {
                                cells[0] = rows[i].transport;
                                cells[1] = rows[i].repo_name;
                                cells[2] = rows[i].type;
                                cells[3] = rows[i].gpg_id;
                        }
                        for (int k = 0; k < 4; k++)
                                if (text_width(cells[k]) + 2 > w[k])
                                        w[k] = text_width(cells[k]) + 2;
                }
                if (!noheading) {
                        for (int k = 0; k < 4; k++)
                                print_cell(head[k], w[k]);
                        puts(head[4]);
                }
                for (size_t i = 0; i < nrows; i++) {
                        print_cell(rows[i].transport, w[0]);
                        print_cell(rows[i].repo_name, w[1]);
                        print_cell(rows[i].type, w[2]);
                        print_cell(rows[i].gpg_id, w[3]);
                        puts(rows[i].sigstore);
                }
        }
        for (size_t i = 0; i < nrows; i++)
                free(rows[i].gpg_id);
        free(rows);
        regd_free(&regd);
        policy_free(&pol);
        return 0;
}

/* ---------------------------------------------------------------- check */

static const char CHECK_HELP[] =
    "Usage: imgtrust check [--json] [TRANSPORT:REF]\n"
    "\n"
    "With a reference: evaluate policy.json for it without contacting any server and print the\n"
    "decision and how it was reached: the transport and scope that matched, what was passed over,\n"
    "the requirements, and for signedBy the keys and where signatures are looked for.\n"
    "Exit 0 accept, 1 reject, 10 signatures required.\n"
    "\n"
    "Without a reference: lint policy.json and registries.d together, one line per finding;\n"
    "exit 1 if there is any.\n"
    "\n"
    "Options:\n"
    "  --json      print the decision as JSON (the decision is the member \"decision\")\n"
    "  -h, --help  show this help\n";

/* A JSON string made from an allocated C string, which is freed. */
static json_t *json_take(char *s)
{
        json_t *j = json_string(s);
        free(s);
        return j;
}

/* Keys of a requirement, as a JSON array of {file, fingerprint, uids} (or an error member). */
static json_t *check_keys(const struct it_requirement *r)
{
        json_t *arr = json_array();
        struct it_strv files = IT_STRV_INIT;
        policy_req_key_files(r, &files);
        for (size_t i = 0; i < files.n + r->nkey_data; i++) {
                it_error err = IT_ERROR_INIT;
                struct it_keyring_info ki = IT_KEYRING_INFO_INIT;
                json_t *src = json_object();
                int rc;
                if (i < files.n) {
                        json_object_set_new(src, "file", json_string(files.v[i]));
                        rc = keyfile_inspect_path(files.v[i], &ki, &err);
                } else {
                        json_object_set_new(src, "keyData",
                                            json_integer((json_int_t)(i - files.n)));
                        rc = keyfile_inspect(r->key_data[i - files.n].data,
                                             r->key_data[i - files.n].len, &ki, &err);
                }
                if (rc != 0) {
                        char *m = it_error_format(&err);
                        json_object_set_new(src, "error", json_string(m));
                        free(m);
                } else if (ki.n == 0) {
                        json_object_set_new(src, "error",
                                            json_string("holds no OpenPGP public key"));
                }
                json_t *keys = json_array();
                for (size_t k = 0; k < ki.n; k++) {
                        json_t *key = json_object();
                        json_object_set_new(key, "fingerprint", json_string(ki.keys[k].fpr));
                        json_t *uids = json_array();
                        for (size_t u = 0; u < ki.keys[k].uids.n; u++)
                                json_array_append_new(uids, json_string(ki.keys[k].uids.v[u]));
                        json_object_set_new(key, "uids", uids);
                        if (ki.keys[k].revoked)
                                json_object_set_new(key, "revoked", json_true());
                        if (ki.keys[k].expired)
                                json_object_set_new(key, "expired", json_true());
                        if (!ki.keys[k].can_sign)
                                json_object_set_new(key, "can_sign", json_false());
                        json_array_append_new(keys, key);
                }
                json_object_set_new(src, "keys", keys);
                json_array_append_new(arr, src);
                keyring_info_free(&ki);
                it_error_clear(&err);
        }
        it_strv_free(&files);
        return arr;
}

static json_t *check_identity(const struct it_signed_identity *id)
{
        json_t *o = json_object();
        json_object_set_new(o, "type", json_string(policy_ident_type_name(id->type)));
        if (!id->given)
                json_object_set_new(o, "default", json_true());
        if (id->docker_reference)
                json_object_set_new(o, "dockerReference", json_string(id->docker_reference));
        if (id->docker_repository)
                json_object_set_new(o, "dockerRepository", json_string(id->docker_repository));
        if (id->prefix)
                json_object_set_new(o, "prefix", json_string(id->prefix));
        if (id->signed_prefix)
                json_object_set_new(o, "signedPrefix", json_string(id->signed_prefix));
        return o;
}

/* Where signatures for img would be read from. */
static json_t *check_lookaside(const struct it_image *img, const struct it_regd *regd,
                               it_error *err)
{
        json_t *o = json_object();
        if (!img->has_docker) {
                if (strcmp(img->transport, "dir") == 0)
                        json_object_set_new(o, "location",
                                            json_take(xasprintf("%s/signature-N", img->identity)));
                else
                        json_object_set_new(o, "location", json_string("stored with the image"));
                return o;
        }
        struct it_regd_choice ch = {0};
        if (regd_lookaside(regd, &img->docker, IT_REGD_READ, &ch, err) != 0) {
                char *m = it_error_format(err);
                json_object_set_new(o, "error", json_string(m));
                free(m);
                it_error_clear(err);
                return o;
        }
        json_object_set_new(o, "url", json_string(ch.url));
        json_object_set_new(o, "location",
                            json_take(xasprintf("%s/%s@<manifest digest alg>=<hex>/signature-N",
                                                ch.url, img->docker.path)));
        json_object_set_new(o, "scope", ch.scope ? json_string(ch.scope) : json_null());
        json_object_set_new(o, "key", ch.key ? json_string(ch.key) : json_null());
        json_object_set_new(o, "file", ch.file ? json_string(ch.file) : json_null());
        regd_choice_free(&ch);
        return o;
}

static json_t *check_requirement(const struct it_requirement *r, const struct it_image *img,
                                 const struct it_regd *regd, const char *reason)
{
        it_error err = IT_ERROR_INIT;
        json_t *o = json_object();
        json_object_set_new(o, "type", json_string(policy_req_type_name(r->type)));
        json_object_set_new(o, "where", json_string(r->where));
        json_object_set_new(o, "reason", json_string(reason ? reason : ""));
        if (r->type == IT_REQ_SIGNED_BY || r->type == IT_REQ_SIGSTORE_SIGNED) {
                if (r->type == IT_REQ_SIGNED_BY)
                        json_object_set_new(o, "keyType",
                                            json_string(policy_key_type_name(r->key_type)));
                json_object_set_new(o, "keys", check_keys(r));
                json_object_set_new(o, "signedIdentity", check_identity(&r->identity));
                json_object_set_new(o, "lookaside", check_lookaside(img, regd, &err));
        }
        it_error_clear(&err);
        return o;
}

static void print_check_human(const json_t *j)
{
        const char *s;
        printf("decision: %s\n", json_string_value(json_object_get(j, "decision")));
        printf("  reference: %s\n", json_string_value(json_object_get(j, "reference")));
        printf("  transport: %s (%s)\n", json_string_value(json_object_get(j, "transport")),
               json_is_true(json_object_get(j, "transport_section"))
                   ? "section in policy.json"
                   : "no section for it in policy.json");
        s = json_string_value(json_object_get(j, "identity"));
        printf("  identity: %s\n", s && *s ? s : "(none: this transport has no image identity)");
        json_t *po = json_object_get(j, "passed_over");
        if (json_array_size(po)) {
                printf("  passed over (not in policy.json):");
                for (size_t i = 0; i < json_array_size(po); i++)
                        printf("%s %s", i ? "," : "", json_string_value(json_array_get(po, i)));
                putchar('\n');
        }
        json_t *scope = json_object_get(j, "scope");
        if (json_is_string(scope))
                printf("  scope: \"%s\" (%s)\n", json_string_value(scope),
                       json_string_value(json_object_get(j, "scope_path")));
        else
                printf("  scope: global default (default)\n");
        json_t *reqs = json_object_get(j, "requirements");
        for (size_t i = 0; i < json_array_size(reqs); i++) {
                json_t *r = json_array_get(reqs, i);
                printf("  %s\n", json_string_value(json_object_get(r, "reason")));
                json_t *keys = json_object_get(r, "keys");
                for (size_t k = 0; k < json_array_size(keys); k++) {
                        json_t *src = json_array_get(keys, k);
                        json_t *file = json_object_get(src, "file");
                        _cleanup_free_ char *name =
                            json_is_string(file)
                                ? xstrdup(json_string_value(file))
                                : xasprintf("keyData[%d]", (int)json_integer_value(
                                                               json_object_get(src, "keyData")));
                        json_t *e = json_object_get(src, "error");
                        if (e) {
                                printf("    keys from %s: %s\n", name, json_string_value(e));
                                continue;
                        }
                        json_t *ks = json_object_get(src, "keys");
                        for (size_t x = 0; x < json_array_size(ks); x++) {
                                json_t *key = json_array_get(ks, x);
                                json_t *uids = json_object_get(key, "uids");
                                printf("    key %s from %s%s%s%s\n",
                                       json_string_value(json_object_get(key, "fingerprint")), name,
                                       json_array_size(uids) ? " (" : "",
                                       json_array_size(uids)
                                           ? json_string_value(json_array_get(uids, 0))
                                           : "",
                                       json_array_size(uids) ? ")" : "");
                        }
                }
                json_t *id = json_object_get(r, "signedIdentity");
                if (id)
                        printf("    identity rule: %s%s\n",
                               json_string_value(json_object_get(id, "type")),
                               json_is_true(json_object_get(id, "default")) ? " (default)" : "");
                json_t *la = json_object_get(r, "lookaside");
                if (la) {
                        json_t *e = json_object_get(la, "error");
                        if (e) {
                                printf("    signatures from: unknown: %s\n", json_string_value(e));
                                continue;
                        }
                        printf("    signatures from: %s\n",
                               json_string_value(json_object_get(la, "location")));
                        json_t *sc = json_object_get(la, "scope");
                        if (json_is_string(sc))
                                printf("    (registries.d: %s of \"%s\" in %s)\n",
                                       json_string_value(json_object_get(la, "key")),
                                       json_string_value(sc),
                                       json_string_value(json_object_get(la, "file")));
                        else
                                printf("    (registries.d: no entry; built-in default)\n");
                }
        }
}

static int check_reference(const struct it_policy *pol, const struct it_regd *regd,
                           const char *refstr, bool json)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_image img = IT_IMAGE_INIT;
        if (policy_image_parse(refstr, &img, &err) != 0)
                return fail(&err);
        struct it_eval ev = IT_EVAL_INIT;
        policy_eval(pol, &img, &ev);

        _cleanup_json_ json_t *j = json_object();
        json_object_set_new(j, "reference", json_string(refstr));
        json_object_set_new(j, "decision", json_string(policy_decision_name(ev.decision)));
        json_object_set_new(j, "transport", json_string(img.transport));
        json_object_set_new(j, "transport_section", json_boolean(ev.transport != NULL));
        json_object_set_new(j, "identity", json_string(img.identity));
        json_t *po = json_array();
        for (size_t i = 0; i < ev.passed_over.n; i++)
                json_array_append_new(po, json_string(ev.passed_over.v[i]));
        json_object_set_new(j, "passed_over", po);
        if (ev.scope) {
                struct it_buf p = IT_BUF_INIT;
                it_json_path_key(&p, "transports");
                it_json_path_key(&p, ev.transport);
                it_json_path_key(&p, ev.scope);
                json_object_set_new(j, "scope", json_string(ev.scope));
                json_object_set_new(j, "scope_path", json_string(it_buf_str(&p)));
                it_buf_free(&p);
        } else {
                json_object_set_new(j, "scope", json_null());
                json_object_set_new(j, "scope_path", json_string("default"));
        }
        json_t *reqs = json_array();
        for (size_t i = 0; ev.reqs && i < ev.reqs->n; i++)
                json_array_append_new(reqs,
                                      check_requirement(&ev.reqs->v[i], &img, regd,
                                                        i < ev.reasons.n ? ev.reasons.v[i] : NULL));
        json_object_set_new(j, "requirements", reqs);

        if (json) {
                _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
                it_json_write_go(&b, j, 2);
                puts(it_buf_str(&b));
        } else {
                print_check_human(j);
        }
        enum it_decision d = ev.decision;
        policy_eval_free(&ev);
        policy_image_free(&img);
        switch (d) {
        case IT_DECISION_ACCEPT:
                return IT_EXIT_OK;
        case IT_DECISION_REJECT:
                return IT_EXIT_REJECTED;
        default:
                return IT_EXIT_SIGNATURES_REQUIRED;
        }
}

static int cmd_check(struct opts *o, int argc, char **argv)
{
        static const struct option lo[] = {
            {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
        bool json = false;
        int c;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
                switch (c) {
                case 'j':
                        json = true;
                        break;
                case 'h':
                        fputs(CHECK_HELP, stdout);
                        return 0;
                default:
                        return bad_option("check", argv);
                }
        }
        if (argc - optind > 1)
                return usage_error("check", "at most one TRANSPORT:REF is accepted");

        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *path = it_path_policy(o->policy);
        _cleanup_free_ char *regd_dir = it_path_registries_d(o->regd);
        struct it_policy pol = IT_POLICY_INIT;
        if (policy_load(path, &pol, &err) != 0)
                return fail(&err);
        struct it_regd regd = IT_REGD_INIT;
        if (regd_load_dir(regd_dir, &regd, &err) != 0) {
                policy_free(&pol);
                return fail(&err);
        }
        int rc;
        if (argc - optind == 1) {
                rc = check_reference(&pol, &regd, argv[optind], json);
        } else {
                struct it_strv findings = IT_STRV_INIT;
                trust_lint(&pol, &regd, &findings);
                if (json) {
                        _cleanup_json_ json_t *arr = json_array();
                        for (size_t i = 0; i < findings.n; i++)
                                json_array_append_new(arr, json_string(findings.v[i]));
                        _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
                        it_json_write_go(&b, arr, 2);
                        puts(it_buf_str(&b));
                } else {
                        for (size_t i = 0; i < findings.n; i++)
                                puts(findings.v[i]);
                }
                rc = findings.n ? IT_EXIT_REJECTED : IT_EXIT_OK;
                it_strv_free(&findings);
        }
        regd_free(&regd);
        policy_free(&pol);
        return rc;
}

int main(int argc, char **argv)
{
        struct opts o = {0};
        static const char *const policy_names[] = {"policy", "policypath", NULL};
        static const char *const regd_names[] = {"registries.d", "registrypath", NULL};
        if (it_cli_take_option(&argc, argv, policy_names, &o.policy, PROG) != 0 ||
            it_cli_take_option(&argc, argv, regd_names, &o.regd, PROG) != 0)
                return IT_EXIT_INPUT;
        if (argc < 2) {
                fprintf(stderr, "%s: a command is required: set, show or check (see '%s --help')\n",
                        PROG, PROG);
                return IT_EXIT_INPUT;
        }
        const char *cmd = argv[1];
        if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
                usage(stdout);
                return 0;
        }
        if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
                it_cli_version(PROG);
                return 0;
        }
        if (strcmp(cmd, "set") == 0)
                return cmd_set(&o, argc - 1, argv + 1);
        if (strcmp(cmd, "show") == 0)
                return cmd_show(&o, argc - 1, argv + 1);
        if (strcmp(cmd, "check") == 0)
                return cmd_check(&o, argc - 1, argv + 1);
        fprintf(stderr, "%s: unknown command \"%s\" (see '%s --help')\n", PROG, cmd, PROG);
        return IT_EXIT_INPUT;
}
