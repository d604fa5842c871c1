/* registries.d files (spec §4.4, §5): where lookaside signatures are read from and written to.
 *
 * The files are read with libyaml's event API and a strict grammar of our own: upstream decodes
 * them leniently (ghodss/yaml over yaml.v2 in containers/image 5.23), but these files steer where
 * signatures come from, so anything ambiguous is refused instead of guessed: duplicate keys,
 * anchors and aliases (which also rules out "billion laughs"), tags, merge keys, several
 * documents, known keys spelled with other letter cases (upstream matches those case-blind), and
 * YAML 1.1 booleans such as "yes". Unknown keys are skipped, as upstream does, but still checked.
 *
 * Scopes are kept sorted (strcmp order) so that lookups and the cross-file conflict check stay
 * O(log n) and O(n) for large files. */
#include "imgtrust/regd.h"

#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/fs.h"
#include "imgtrust/strv.h"
#include "imgtrust/xalloc.h"

/* Nesting of mappings and sequences accepted anywhere in a file; real files use three levels. */
#define REGD_DEPTH_MAX 32
/* Longest piece of a key or value repeated in an error message. */
#define QUOTE_MAX 200

#define ROOT_SIGSTORE "file:///var/lib/containers/sigstore"
#define USER_SIGSTORE ".local/share/containers/sigstore"

/* Messages quote outside input; keep them one printable, bounded line. Allocates. */
static char *quote(const char *s)
{
        return it_quote(s, QUOTE_MAX);
}

static void section_free(struct it_regd_section *s)
{
        free(s->lookaside);
        free(s->lookaside_staging);
        free(s->sigstore);
        free(s->sigstore_staging);
        free(s->file);
        memset(s, 0, sizeof *s);
        s->use_sigstore_attachments = -1;
}

void regd_free(struct it_regd *r)
{
        if (!r)
                return;
        free(r->dir);
        section_free(&r->default_docker);
        for (size_t i = 0; i < r->nscopes; i++) {
                free(r->scopes[i].scope);
                section_free(&r->scopes[i].sec);
        }
        free(r->scopes);
        memset(r, 0, sizeof *r);
}

/* ---- YAML reading ---- */

struct yreader {
        yaml_parser_t yp;
        const char *file;
        it_error *err;
        int depth;
};

/* One mapping key, kept until the mapping ends to look for duplicates. */
struct ykey {
        char *text;
        size_t line;
};

struct ykeys {
        struct ykey *v;
        size_t n, cap;
};

static void ykeys_free(struct ykeys *k)
{
        for (size_t i = 0; i < k->n; i++)
                free(k->v[i].text);
        free(k->v);
}

static int ykey_cmp(const void *a, const void *b)
{
        const struct ykey *x = a, *y = b;
        int c = strcmp(x->text, y->text);
        if (c)
                return c;
        return x->line < y->line ? -1 : x->line > y->line;
}

static size_t ev_line(const yaml_event_t *ev)
{
        return ev->start_mark.line + 1;
}

static void event_deletep(yaml_event_t *ev)
{
        yaml_event_delete(ev);
}
#define _cleanup_event_ _cleanup_(event_deletep)

/* The next event, refusing what this grammar never allows anywhere: aliases, anchors and explicit
 * tags. */
static int next_event(struct yreader *y, yaml_event_t *ev)
{
        if (!yaml_parser_parse(&y->yp, ev)) {
                memset(ev, 0, sizeof *ev);
                const char *problem = y->yp.problem ? y->yp.problem : "unknown error";
                if (y->yp.error == YAML_MEMORY_ERROR) {
                        fputs("imgtrust: out of memory\n", stderr);
                        abort();
                }
                if (y->yp.context)
                        return it_error_set(y->err, IT_EINPUT,
                                            "%s: line %zu, column %zu: YAML syntax error: %s %s",
                                            y->file, y->yp.problem_mark.line + 1,
                                            y->yp.problem_mark.column + 1, y->yp.context, problem);
                return it_error_set(
                    y->err, IT_EINPUT, "%s: line %zu, column %zu: YAML syntax error: %s", y->file,
                    y->yp.problem_mark.line + 1, y->yp.problem_mark.column + 1, problem);
        }
        const yaml_char_t *anchor = NULL, *tag = NULL;
        switch (ev->type) {
        case YAML_ALIAS_EVENT:
                return it_error_set(y->err, IT_EINPUT,
                                    "%s: line %zu: YAML aliases are not supported", y->file,
                                    ev_line(ev));
        case YAML_SCALAR_EVENT:
                anchor = ev->data.scalar.anchor;
                tag = ev->data.scalar.tag;
                break;
        case YAML_SEQUENCE_START_EVENT:
                anchor = ev->data.sequence_start.anchor;
                tag = ev->data.sequence_start.tag;
                break;
        case YAML_MAPPING_START_EVENT:
                anchor = ev->data.mapping_start.anchor;
                tag = ev->data.mapping_start.tag;
                break;
        default:
                break;
        }
        if (anchor)
                return it_error_set(y->err, IT_EINPUT,
                                    "%s: line %zu: YAML anchors are not supported", y->file,
                                    ev_line(ev));
        if (tag)
                return it_error_set(y->err, IT_EINPUT, "%s: line %zu: YAML tags are not supported",
                                    y->file, ev_line(ev));
        return 0;
}

static bool is_null_scalar(const yaml_event_t *ev)
{
        if (ev->type != YAML_SCALAR_EVENT || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        const char *v = (const char *)ev->data.scalar.value;
        return !strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
               !strcmp(v, "NULL");
}

/* The text of a scalar event, refusing embedded NULs ("\0" in a double-quoted scalar). */
static int scalar_text(struct yreader *y, const yaml_event_t *ev, const char *where,
                       const char **out)
{
        const char *v = (const char *)ev->data.scalar.value;
        if (strlen(v) != ev->data.scalar.length)
                return it_error_set(y->err, IT_EINPUT, "%s: line %zu: %s: contains a NUL character",
                                    y->file, ev_line(ev), where);
        *out = v;
        return 0;
}

typedef int (*key_fn)(struct yreader *y, const char *key, const yaml_event_t *key_ev,
                      const char *where, void *ctx);

static int skip_node(struct yreader *y, yaml_event_t *first, const char *where);

/* Walk a mapping whose MAPPING_START has been consumed: each key is handed to fn, which consumes
 * its value. Duplicate keys are refused once the mapping is complete. */
static int parse_mapping(struct yreader *y, const char *where, key_fn fn, void *ctx)
{
        if (++y->depth > REGD_DEPTH_MAX)
                return it_error_set(y->err, IT_EINPUT, "%s: %s: nested more than %d levels deep",
                                    y->file, where, REGD_DEPTH_MAX);
        struct ykeys keys __attribute__((cleanup(ykeys_free))) = {0};
        for (;;) {
                _cleanup_event_ yaml_event_t ev;
                int rc = next_event(y, &ev);
                if (rc)
                        return rc;
                if (ev.type == YAML_MAPPING_END_EVENT)
                        break;
                if (ev.type != YAML_SCALAR_EVENT)
                        return it_error_set(y->err, IT_EINPUT,
                                            "%s: line %zu: %s: mapping keys must be scalars",
                                            y->file, ev_line(&ev), where);
                const char *key = NULL;
                rc = scalar_text(y, &ev, where, &key);
                if (rc)
                        return rc;
                if (ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !strcmp(key, "<<"))
                        return it_error_set(y->err, IT_EINPUT,
                                            "%s: line %zu: %s: YAML merge keys are not supported",
                                            y->file, ev_line(&ev), where);
                /* A null key decodes to "" upstream (a string-typed key). */
                if (is_null_scalar(&ev))
                        key = "";
                if (keys.n == keys.cap) {
                        keys.cap = keys.cap ? keys.cap * 2 : 8;
                        keys.v = xrealloc(keys.v, keys.cap * sizeof *keys.v);
                }
                keys.v[keys.n].text = xstrdup(key);
                keys.v[keys.n].line = ev_line(&ev);
                keys.n++;
                rc = fn(y, key, &ev, where, ctx);
                if (rc)
                        return rc;
        }
        if (keys.n > 1) {
                qsort(keys.v, keys.n, sizeof *keys.v, ykey_cmp);
                for (size_t i = 1; i < keys.n; i++) {
                        if (strcmp(keys.v[i - 1].text, keys.v[i].text) != 0)
                                continue;
                        _cleanup_free_ char *q = quote(keys.v[i].text);
                        return it_error_set(
                            y->err, IT_EINPUT,
                            "%s: line %zu: %s: mapping key %s already defined at line %zu", y->file,
                            keys.v[i].line, where, q, keys.v[i - 1].line);
                }
        }
        y->depth--;
        return 0;
}

static int skip_key(struct yreader *y, const char *key, const yaml_event_t *key_ev,
                    const char *where, void *ctx)
{
        _cleanup_event_ yaml_event_t ev;
        int rc = next_event(y, &ev);
        if (rc)
                return rc;
        return skip_node(y, &ev, where);
}

/* Consume the rest of a node whose first event is *first, checking it as strictly as the rest. */
static int skip_node(struct yreader *y, yaml_event_t *first, const char *where)
{
        switch (first->type) {
        case YAML_SCALAR_EVENT:
                return 0;
        case YAML_MAPPING_START_EVENT:
                return parse_mapping(y, where, skip_key, NULL);
        case YAML_SEQUENCE_START_EVENT:
                if (++y->depth > REGD_DEPTH_MAX)
                        return it_error_set(y->err, IT_EINPUT,
                                            "%s: %s: nested more than %d levels deep", y->file,
                                            where, REGD_DEPTH_MAX);
                for (;;) {
                        _cleanup_event_ yaml_event_t ev;
                        int rc = next_event(y, &ev);
                        if (rc)
                                return rc;
                        if (ev.type == YAML_SEQUENCE_END_EVENT)
                                break;
                        rc = skip_node(y, &ev, where);
                        if (rc)
                                return rc;
                }
                y->depth--;
                return 0;
        default:
                return it_error_set(y->err, IT_EINPUT, "%s: line %zu: %s: unexpected YAML event",
                                    y->file, ev_line(first), where);
        }
}

/* A key that upstream would match case-blind to one of ours but we do not: refuse rather than
 * silently read the file differently. */
static int check_spelling(struct yreader *y, const char *key, const yaml_event_t *key_ev,
                          const char *where, const char *const *known)
{
        for (size_t i = 0; known[i]; i++) {
                if (strcasecmp(key, known[i]) == 0 && strcmp(key, known[i]) != 0) {
                        _cleanup_free_ char *q = quote(key);
                        return it_error_set(y->err, IT_EINPUT,
                                            "%s: line %zu: %s: key %s must be spelled \"%s\"",
                                            y->file, ev_line(key_ev), where, q, known[i]);
                }
        }
        return 0;
}

static const char *const section_keys[] = {
    "lookaside",        "lookaside-staging",        "sigstore",
    "sigstore-staging", "use-sigstore-attachments", NULL};
static const char *const top_keys[] = {"default-docker", "docker", NULL};

struct section_ctx {
        struct it_regd_section *sec;
};

static int section_key(struct yreader *y, const char *key, const yaml_event_t *key_ev,
                       const char *where, void *vctx)
{
        struct section_ctx *ctx = vctx;
        _cleanup_free_ char *kw = xasprintf("%s.%s", where, key);
        _cleanup_event_ yaml_event_t ev;
        int rc = next_event(y, &ev);
        if (rc)
                return rc;
        char **slot = NULL;
        if (!strcmp(key, "lookaside"))
                slot = &ctx->sec->lookaside;
        else if (!strcmp(key, "lookaside-staging"))
                slot = &ctx->sec->lookaside_staging;
        else if (!strcmp(key, "sigstore"))
                slot = &ctx->sec->sigstore;
        else if (!strcmp(key, "sigstore-staging"))
                slot = &ctx->sec->sigstore_staging;
        if (slot) {
                if (ev.type != YAML_SCALAR_EVENT)
                        return it_error_set(y->err, IT_EINPUT, "%s: %s: must be a string", y->file,
                                            kw);
                const char *v = NULL;
                rc = scalar_text(y, &ev, kw, &v);
                if (rc)
                        return rc;
                /* A repeated key is refused when the mapping ends; until then the last wins. */
                free(*slot);
                *slot = NULL;
                /* Upstream reads null and "" alike as unset, falling through to other sections. */
                if (!is_null_scalar(&ev) && *v)
                        *slot = xstrdup(v);
                return 0;
        }
        if (!strcmp(key, "use-sigstore-attachments")) {
                const char *v =
                    ev.type == YAML_SCALAR_EVENT ? (const char *)ev.data.scalar.value : NULL;
                bool plain = v && ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
                if (plain && is_null_scalar(&ev))
                        ctx->sec->use_sigstore_attachments = -1;
                else if (plain && (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE")))
                        ctx->sec->use_sigstore_attachments = 1;
                else if (plain &&
                         (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE")))
                        ctx->sec->use_sigstore_attachments = 0;
                else
                        return it_error_set(y->err, IT_EINPUT, "%s: %s: must be true or false",
                                            y->file, kw);
                return 0;
        }
        rc = check_spelling(y, key, key_ev, where, section_keys);
        if (rc)
                return rc;
        return skip_node(y, &ev, kw);
}

/* A section value: a mapping, or null (present but empty). *first is its first event. */
static int parse_section(struct yreader *y, const yaml_event_t *first, const char *where,
                         struct it_regd_section *sec)
{
        if (is_null_scalar(first))
                return 0;
        if (first->type != YAML_MAPPING_START_EVENT)
                return it_error_set(y->err, IT_EINPUT, "%s: %s: must be a mapping", y->file, where);
        struct section_ctx ctx = {sec};
        return parse_mapping(y, where, section_key, &ctx);
}

static int docker_key(struct yreader *y, const char *key, const yaml_event_t *key_ev,
                      const char *where, void *vctx)
{
        struct it_regd *into = vctx;
        _cleanup_free_ char *q = quote(key);
        _cleanup_free_ char *w = xasprintf("docker[%s]", q);
        _cleanup_event_ yaml_event_t ev;
        int rc = next_event(y, &ev);
        if (rc)
                return rc;
        struct it_regd_section sec = {.use_sigstore_attachments = -1};
        rc = parse_section(y, &ev, w, &sec);
        if (rc) {
                section_free(&sec);
                return rc;
        }
        sec.file = xstrdup(y->file);
        /* The capacity is implicit: 8, then doubling whenever the count reaches a power of two. */
        size_t n = into->nscopes;
        if (n == 0 || (n >= 8 && (n & (n - 1)) == 0))
                into->scopes = xrealloc(into->scopes, (n ? 2 * n : 8) * sizeof *into->scopes);
        into->scopes[into->nscopes].scope = xstrdup(key);
        into->scopes[into->nscopes].sec = sec;
        into->nscopes++;
        return 0;
}

static int top_key(struct yreader *y, const char *key, const yaml_event_t *key_ev,
                   const char *where, void *vctx)
{
        struct it_regd *into = vctx;
        _cleanup_event_ yaml_event_t ev;
        int rc = next_event(y, &ev);
        if (rc)
                return rc;
        if (!strcmp(key, "default-docker")) {
                /* A null default-docker is absent upstream (a nil pointer), so it conflicts with
                 * nothing. */
                /* A repeated key is refused when the mapping ends; until then the last wins. */
                section_free(&into->default_docker);
                into->has_default = false;
                if (is_null_scalar(&ev))
                        return 0;
                rc = parse_section(y, &ev, "default-docker", &into->default_docker);
                if (rc)
                        return rc;
                into->has_default = true;
                into->default_docker.file = xstrdup(y->file);
                return 0;
        }
        if (!strcmp(key, "docker")) {
                if (is_null_scalar(&ev))
                        return 0;
                if (ev.type != YAML_MAPPING_START_EVENT)
                        return it_error_set(y->err, IT_EINPUT, "%s: docker: must be a mapping",
                                            y->file);
                return parse_mapping(y, "docker", docker_key, into);
        }
        rc = check_spelling(y, key, key_ev, "top level", top_keys);
        if (rc)
                return rc;
        _cleanup_free_ char *q = quote(key);
        return skip_node(y, &ev, q);
}

static int parse_stream(struct yreader *y, struct it_regd *into)
{
        _cleanup_event_ yaml_event_t ev;
        int rc = next_event(y, &ev);
        if (rc)
                return rc;
        if (ev.type != YAML_STREAM_START_EVENT)
                return it_error_set(y->err, IT_EINPUT, "%s: not a YAML stream", y->file);

        _cleanup_event_ yaml_event_t doc;
        rc = next_event(y, &doc);
        if (rc)
                return rc;
        if (doc.type == YAML_STREAM_END_EVENT)
                return 0; /* an empty file */

        _cleanup_event_ yaml_event_t node;
        rc = next_event(y, &node);
        if (rc)
                return rc;
        if (node.type == YAML_MAPPING_START_EVENT) {
                rc = parse_mapping(y, "top level", top_key, into);
                if (rc)
                        return rc;
        } else if (!is_null_scalar(&node)) {
                return it_error_set(y->err, IT_EINPUT, "%s: the top level must be a YAML mapping",
                                    y->file);
        }

        _cleanup_event_ yaml_event_t end;
        rc = next_event(y, &end);
        if (rc)
                return rc;
        _cleanup_event_ yaml_event_t last;
        rc = next_event(y, &last);
        if (rc)
                return rc;
        if (last.type != YAML_STREAM_END_EVENT)
                return it_error_set(y->err, IT_EINPUT, "%s: line %zu: more than one YAML document",
                                    y->file, ev_line(&last));
        return 0;
}

static int scope_cmp(const void *a, const void *b)
{
        return strcmp(((const struct it_regd_scope *)a)->scope,
                      ((const struct it_regd_scope *)b)->scope);
}

/* Move the (sorted) scopes of add into r, refusing any scope both have; on error r is unchanged
 * and add still owns everything. */
static int merge_into(struct it_regd *r, struct it_regd *add, it_error *err)
{
        if (add->has_default && r->has_default)
                return it_error_set(err, IT_EINPUT,
                                    "\"default-docker\" defined both in \"%s\" and \"%s\"",
                                    r->default_docker.file, add->default_docker.file);
        size_t i = 0, j = 0, n = 0;
        while (i < r->nscopes && j < add->nscopes) {
                int c = strcmp(r->scopes[i].scope, add->scopes[j].scope);
                if (c == 0) {
                        _cleanup_free_ char *q = quote(add->scopes[j].scope);
                        return it_error_set(
                            err, IT_EINPUT,
                            "\"docker\" namespace %s defined both in \"%s\" and \"%s\"", q,
                            r->scopes[i].sec.file, add->scopes[j].sec.file);
                }
                if (c < 0)
                        i++;
                else
                        j++;
        }
        struct it_regd_scope *m = xcalloc(r->nscopes + add->nscopes + 1, sizeof *m);
        i = j = 0;
        while (i < r->nscopes || j < add->nscopes) {
                if (j == add->nscopes ||
                    (i < r->nscopes && strcmp(r->scopes[i].scope, add->scopes[j].scope) < 0))
                        m[n++] = r->scopes[i++];
                else
                        m[n++] = add->scopes[j++];
        }
        free(r->scopes);
        r->scopes = m;
        r->nscopes = n;
        free(add->scopes);
        add->scopes = NULL;
        add->nscopes = 0;
        if (add->has_default) {
                r->default_docker = add->default_docker;
                r->has_default = true;
                memset(&add->default_docker, 0, sizeof add->default_docker);
                add->has_default = false;
        }
        return 0;
}

int regd_parse(const char *data, size_t len, const char *file, struct it_regd *into, it_error *err)
{
        if (len > IT_REGD_FILE_MAX)
                return it_error_set(err, IT_EINPUT, "%s: too large (%zu bytes; at most %u)", file,
                                    len, IT_REGD_FILE_MAX);
        if (!into->has_default)
                into->default_docker.use_sigstore_attachments = -1;

        _cleanup_(regd_free) struct it_regd tmp = IT_REGD_INIT;
        tmp.default_docker.use_sigstore_attachments = -1;
        struct yreader y = {.file = file, .err = err};
        if (!yaml_parser_initialize(&y.yp)) {
                fputs("imgtrust: out of memory\n", stderr);
                abort();
        }
        yaml_parser_set_input_string(&y.yp, (const unsigned char *)data, len);
        int rc = parse_stream(&y, &tmp);
        yaml_parser_delete(&y.yp);
        if (rc)
                return rc;
        if (tmp.nscopes > 1)
                qsort(tmp.scopes, tmp.nscopes, sizeof *tmp.scopes, scope_cmp);
        return merge_into(into, &tmp, err);
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_yaml_name(const char *name)
{
        size_t n = strlen(name);
        return n >= 5 && !strcmp(name + n - 5, ".yaml");
}

static void closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

/* On failure *out is freed (left empty), so a failing load cannot be half used. */
int regd_load_dir(const char *dir, struct it_regd *out, it_error *err)
{
        memset(out, 0, sizeof *out);
        out->default_docker.use_sigstore_attachments = -1;
        out->dir = xstrdup(dir);

        __attribute__((cleanup(closedirp))) DIR *d = opendir(dir);
        if (!d) {
                if (errno == ENOENT)
                        return 0;
                int e = errno;
                regd_free(out);
                return it_error_sys(err, IT_EIO, e, "registries.d %s", dir);
        }
        _cleanup_strv_ struct it_strv names = IT_STRV_INIT;
        for (;;) {
                errno = 0;
                struct dirent *e = readdir(d);
                if (!e) {
                        if (errno) {
                                int en = errno;
                                regd_free(out);
                                return it_error_sys(err, IT_EIO, en, "registries.d %s", dir);
                        }
                        break;
                }
                /* Upstream reads every name ending in ".yaml", hidden or not; ".yml" is not. */
                if (is_yaml_name(e->d_name))
                        it_strv_push(&names, e->d_name);
        }
        /* Directory order is arbitrary; sorting makes conflict messages reproducible. */
        if (names.n > 1)
                qsort(names.v, names.n, sizeof *names.v, name_cmp);
        size_t dlen = strlen(dir);
        bool slash = dlen > 0 && dir[dlen - 1] == '/';
        for (size_t i = 0; i < names.n; i++) {
                _cleanup_free_ char *path = xasprintf("%s%s%s", dir, slash ? "" : "/", names.v[i]);
                _cleanup_free_ char *data = NULL;
                size_t len = 0;
                int rc = it_file_read(path, IT_REGD_FILE_MAX, &data, &len, err);
                if (rc == 0)
                        rc = regd_parse(data, len, path, out, err);
                if (rc) {
                        regd_free(out);
                        return rc;
                }
        }
        return 0;
}

/* ---- lookups ---- */

/* The section for exactly key[0..len), or NULL. Scopes never contain NUL, so this agrees with the
 * strcmp order they are sorted in. */
static const struct it_regd_section *find_scope_n(const struct it_regd *r, const char *key,
                                                  size_t len, const char **scope)
{
        size_t lo = 0, hi = r->nscopes;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const char *s = r->scopes[mid].scope;
                size_t slen = strlen(s);
                int c = memcmp(key, s, len < slen ? len : slen);
                if (c == 0)
                        c = len < slen ? -1 : len > slen;
                if (c == 0) {
                        if (scope)
                                *scope = s;
                        return &r->scopes[mid].sec;
                }
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return NULL;
}

static const struct it_regd_section *find_scope(const struct it_regd *r, const char *key,
                                                const char **scope)
{
        return find_scope_n(r, key, strlen(key), scope);
}

/* The value a section gives for mode (key order of spec §4.4), or NULL. */
static const char *section_value(const struct it_regd_section *s, enum it_regd_mode mode,
                                 const char **key)
{
        if (mode == IT_REGD_WRITE) {
                if (s->lookaside_staging) {
                        *key = "lookaside-staging";
                        return s->lookaside_staging;
                }
                if (s->sigstore_staging) {
                        *key = "sigstore-staging";
                        return s->sigstore_staging;
                }
        }
        if (s->lookaside) {
                *key = "lookaside";
                return s->lookaside;
        }
        if (s->sigstore) {
                *key = "sigstore";
                return s->sigstore;
        }
        return NULL;
}

static bool is_hex(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* What is wrong with a configured URL, or NULL. Stricter than url.Parse in one way on purpose: a
 * value without a scheme parses upstream and only fails when used ("unsupported scheme"). */
static const char *url_problem(const char *s)
{
        for (const char *p = s; *p; p++) {
                unsigned char c = (unsigned char)*p;
                if (c < 0x20 || c == 0x7f)
                        return "contains a control character";
                if (c == '%' && !(is_hex(p[1]) && is_hex(p[2])))
                        return "contains an invalid %-escape";
        }
        const char *p = s;
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
                return "missing scheme (e.g. file:// or https://)";
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
               *p == '+' || *p == '-' || *p == '.')
                p++;
        if (*p != ':')
                return "missing scheme (e.g. file:// or https://)";
        return NULL;
}

int regd_lookaside(const struct it_regd *r, const struct it_ref *ref, enum it_regd_mode mode,
                   struct it_regd_choice *out, it_error *err)
{
        memset(out, 0, sizeof *out);
        _cleanup_free_ char *identity = ref_policy_identity(ref);
        _cleanup_strv_ struct it_strv ns = IT_STRV_INIT;
        ref_policy_namespaces(ref, &ns);

        const struct it_regd_section *sec = NULL;
        const char *scope = NULL, *key = NULL, *value = NULL;
        for (size_t i = 0; i <= ns.n && !value; i++) {
                const char *cand = i == 0 ? identity : ns.v[i - 1];
                sec = find_scope(r, cand, &scope);
                if (sec)
                        value = section_value(sec, mode, &key);
        }
        if (!value && r->has_default) {
                sec = &r->default_docker;
                scope = "default-docker";
                value = section_value(sec, mode, &key);
        }
        if (!value) {
                out->url = regd_builtin_default();
                return 0;
        }
        const char *problem = url_problem(value);
        if (problem) {
                _cleanup_free_ char *qv = quote(value);
                if (sec == &r->default_docker)
                        return it_error_set(err, IT_EINPUT,
                                            "%s: default-docker.%s: invalid URL %s: %s", sec->file,
                                            key, qv, problem);
                _cleanup_free_ char *qs = quote(scope);
                return it_error_set(err, IT_EINPUT, "%s: docker[%s].%s: invalid URL %s: %s",
                                    sec->file, qs, key, qv, problem);
        }
        out->url = xstrdup(value);
        out->scope = scope;
        out->key = key;
        out->file = sec->file;
        return 0;
}

void regd_choice_free(struct it_regd_choice *c)
{
        if (!c)
                return;
        free(c->url);
        memset(c, 0, sizeof *c);
}

bool regd_use_sigstore_attachments(const struct it_regd *r, const struct it_ref *ref)
{
        _cleanup_free_ char *identity = ref_policy_identity(ref);
        _cleanup_strv_ struct it_strv ns = IT_STRV_INIT;
        ref_policy_namespaces(ref, &ns);
        for (size_t i = 0; i <= ns.n; i++) {
                const struct it_regd_section *s =
                    find_scope(r, i == 0 ? identity : ns.v[i - 1], NULL);
                if (s && s->use_sigstore_attachments >= 0)
                        return s->use_sigstore_attachments == 1;
        }
        if (r->has_default && r->default_docker.use_sigstore_attachments >= 0)
                return r->default_docker.use_sigstore_attachments == 1;
        return false;
}

const char *regd_podman_store(const struct it_regd *r, const char *scope)
{
        const struct it_regd_section *s = NULL;
        if (scope && *scope) {
                /* podman cuts at the last '/' down to and including the empty string ("/x"
                 * tries "/x", then ""), and never looks at wildcards or ports. */
                size_t len = strlen(scope);
                for (;;) {
                        s = find_scope_n(r, scope, len, NULL);
                        if (s)
                                break;
                        const char *slash = memrchr(scope, '/', len);
                        if (!slash)
                                break;
                        len = (size_t)(slash - scope);
                }
        }
        if (!s && r->has_default)
                s = &r->default_docker;
        if (!s)
                return "";
        if (s->lookaside)
                return s->lookaside;
        return s->sigstore ? s->sigstore : "";
}

/* ---- built-in default and signature URLs ---- */

/* Clean an absolute path as path.Clean does (no empty, "." or ".." components). Allocates. */
static char *clean_abs(const char *p)
{
        struct it_strv parts = IT_STRV_INIT;
        const char *s = p;
        while (*s) {
                while (*s == '/')
                        s++;
                const char *e = strchrnul(s, '/');
                size_t n = (size_t)(e - s);
                bool dot = n == 1 && s[0] == '.';
                bool dotdot = n == 2 && s[0] == '.' && s[1] == '.';
                if (dotdot && parts.n) {
                        parts.n--;
                        free(parts.v[parts.n]);
                        parts.v[parts.n] = NULL;
                } else if (n && !dot && !dotdot) {
                        it_strv_take(&parts, xstrndup(s, n));
                }
                s = e;
        }
        struct it_buf b = IT_BUF_INIT;
        for (size_t i = 0; i < parts.n; i++)
                it_buf_addf(&b, "/%s", parts.v[i]);
        if (!parts.n)
                it_buf_addch(&b, '/');
        it_strv_free(&parts);
        return it_buf_detach(&b);
}

/* Percent-encode a path as url.URL.EscapedPath does for a path without a valid RawPath. */
static void add_escaped_path(struct it_buf *b, const char *p)
{
        for (; *p; p++) {
                unsigned char c = (unsigned char)*p;
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    strchr("-_.~$&+,/:;=@", c))
                        it_buf_addch(b, (char)c);
                else
                        it_buf_addf(b, "%%%02X", c);
        }
}

char *regd_builtin_default_for(uid_t euid, const char *home)
{
        if (euid == 0)
                return xstrdup(ROOT_SIGSTORE);
        _cleanup_free_ char *pw_home = NULL;
        if (!home || home[0] != '/') {
                struct passwd pw, *res = NULL;
                char buf[4096];
                if (getpwuid_r(euid, &pw, buf, sizeof buf, &res) == 0 && res && pw.pw_dir &&
                    pw.pw_dir[0] == '/')
                        pw_home = xstrdup(pw.pw_dir);
                home = pw_home ? pw_home : "/";
        }
        _cleanup_free_ char *joined = xasprintf("%s/%s", home, USER_SIGSTORE);
        _cleanup_free_ char *clean = clean_abs(joined);
        struct it_buf b = IT_BUF_INIT;
        it_buf_adds(&b, "file://");
        add_escaped_path(&b, clean);
        return it_buf_detach(&b);
}

char *regd_builtin_default(void)
{
        return regd_builtin_default_for(geteuid(), getenv("HOME"));
}

/* path.Clean(p) == p, and not "." or empty: a repository path from a reference never fails this,
 * so a failure means a bug or hostile input further up. */
static bool repo_path_clean(const char *p)
{
        if (!*p || *p == '/')
                return false;
        for (const char *s = p;;) {
                const char *e = strchrnul(s, '/');
                size_t n = (size_t)(e - s);
                if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
                        return false;
                if (!*e)
                        return true;
                s = e + 1;
        }
}

int regd_signature_url(const char *base, const char *repo_path, const char *digest, unsigned n,
                       char **out, it_error *err)
{
        *out = NULL;
        struct it_digest d;
        int rc = digest_parse(digest, &d, err);
        if (rc)
                return rc;
        if (!repo_path || !repo_path_clean(repo_path)) {
                _cleanup_free_ char *q = quote(repo_path ? repo_path : "");
                return it_error_set(err, IT_EINPUT,
                                    "unexpected path elements in repository path %s for "
                                    "signature storage",
                                    q);
        }
        if (n == 0)
                return it_error_set(err, IT_EINPUT, "signature numbers start at 1");
        /* url.URL keeps the query and fragment apart from the path the suffix is appended to. */
        size_t path_end = strcspn(base, "?#");
        struct it_buf b = IT_BUF_INIT;
        it_buf_add(&b, base, path_end);
        it_buf_addf(&b, "/%s@%s=%s/signature-%u", repo_path, digest_alg_name(d.alg), d.hex, n);
        it_buf_adds(&b, base + path_end);
        *out = it_buf_detach(&b);
        return 0;
}
