#include "imgtrust/regconf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/ref.h"
#include "imgtrust/strv.h"
#include "imgtrust/toml.h"
#include "imgtrust/xalloc.h"

#define QUOTE_MAX 120

#define SYSTEM_CONF "/etc/containers/registries.conf"
#define SYSTEM_DIR "/etc/containers/registries.conf.d"
#define USER_CONF ".config/containers/registries.conf"
#define USER_DIR ".config/containers/registries.conf.d"

/* ---- freeing ---- */

static void registry_clear(struct it_regconf_registry *r)
{
        free(r->prefix);
        free(r->location);
        for (size_t i = 0; i < r->nmirrors; i++)
                free(r->mirrors[i].location);
        free(r->mirrors);
        free(r->file);
        memset(r, 0, sizeof *r);
}

static void alias_clear(struct it_regconf_alias *a)
{
        free(a->name);
        free(a->value);
        free(a->file);
        memset(a, 0, sizeof *a);
}

static void strs_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

void regconf_free(struct it_regconf *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->nregistries; i++)
                registry_clear(&c->registries[i]);
        free(c->registries);
        strs_free(c->search, c->nsearch);
        free(c->search_file);
        strs_free(c->credential_helpers, c->ncredential_helpers);
        for (size_t i = 0; i < c->naliases; i++)
                alias_clear(&c->aliases[i]);
        free(c->aliases);
        strs_free(c->files, c->nfiles);
        free(c);
}

static void regconf_freep(struct it_regconf **c)
{
        regconf_free(*c);
}
#define _cleanup_regconf_ _cleanup_(regconf_freep)

/* A NULL-terminated copy of n strings. */
static char **strs_dup(char *const *v, size_t n)
{
        char **r = xcalloc(n + 1, sizeof *r);
        for (size_t i = 0; i < n; i++)
                r[i] = xstrdup(v[i]);
        return r;
}

/* ---- one file ---- */

struct raw_mirror {
        char *location;
        bool insecure;
        char *pull_from_mirror;
        unsigned line;
};

struct raw_registry {
        char *prefix;
        char *location;
        char *pull_from_mirror;
        bool insecure, blocked, mirror_by_digest_only;
        struct raw_mirror *mirrors;
        size_t nmirrors;
        unsigned line;
};

struct fctx {
        const char *what;
        it_error *err;
        struct raw_registry *regs;
        size_t nregs;
        /* V2 top level */
        char **search;
        size_t nsearch;
        bool search_set;
        unsigned search_line;
        char **helpers;
        size_t nhelpers;
        bool helpers_set;
        char *short_name_mode;
        unsigned short_name_mode_line;
        struct it_regconf_alias *aliases;
        size_t naliases;
        unsigned *alias_lines;
        /* V1 */
        struct it_toml_kv *v1[3]; /* search, insecure, block (borrowed from the document) */
};

static void fctx_free(struct fctx *f)
{
        for (size_t i = 0; i < f->nregs; i++) {
                struct raw_registry *r = &f->regs[i];
                free(r->prefix);
                free(r->location);
                free(r->pull_from_mirror);
                for (size_t k = 0; k < r->nmirrors; k++) {
                        free(r->mirrors[k].location);
                        free(r->mirrors[k].pull_from_mirror);
                }
                free(r->mirrors);
        }
        free(f->regs);
        strs_free(f->search, f->nsearch);
        strs_free(f->helpers, f->nhelpers);
        free(f->short_name_mode);
        for (size_t i = 0; i < f->naliases; i++)
                alias_clear(&f->aliases[i]);
        free(f->aliases);
        free(f->alias_lines);
}

__attribute__((format(printf, 3, 4))) static int ffail(struct fctx *f, unsigned line,
                                                       const char *fmt, ...)
{
        struct it_buf b = IT_BUF_INIT;
        va_list ap;
        va_start(ap, fmt);
        it_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        _cleanup_free_ char *msg = it_buf_detach(&b);
        if (line)
                return it_error_set(f->err, IT_EINPUT, "%s:%u: %s", f->what, line, msg);
        return it_error_set(f->err, IT_EINPUT, "%s: %s", f->what, msg);
}

static bool is_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static const char *type_name(enum it_toml_type t)
{
        switch (t) {
        case IT_TOML_STRING:
                return "a string";
        case IT_TOML_BOOL:
                return "a boolean";
        case IT_TOML_ARRAY:
                return "an array";
        }
        return "?";
}

static int want_type(struct fctx *f, const struct it_toml_kv *kv, enum it_toml_type t,
                     const char *where)
{
        if (kv->type == t)
                return 0;
        static const char *const wants[] = {"a string", "true or false", "an array of strings"};
        /* Keys of [aliases] are anyone's text: quoted unless plainly a bare key. */
        bool bare = *kv->key != '\0';
        for (const char *c = kv->key; *c; c++)
                bare = bare && (is_alnum(*c) || *c == '-' || *c == '_');
        _cleanup_free_ char *key = bare ? xstrdup(kv->key) : it_quote(kv->key, QUOTE_MAX);
        return ffail(f, kv->line, "%s in %s must be %s, not %s", key, where, wants[t],
                     type_name(kv->type));
}

static int unknown_key(struct fctx *f, const struct it_toml_kv *kv, const char *where)
{
        _cleanup_free_ char *q = it_quote(kv->key, QUOTE_MAX);
        return ffail(f, kv->line, "unknown key %s in %s", q, where);
}

static bool path_is(const struct it_toml_section *s, const char *a, const char *b)
{
        if (s->npath != (b ? 2u : 1u) || strcmp(s->path[0], a) != 0)
                return false;
        return !b || strcmp(s->path[1], b) == 0;
}

static int top_level(struct fctx *f, const struct it_toml_section *s)
{
        for (size_t i = 0; i < s->nkv; i++) {
                const struct it_toml_kv *kv = &s->kv[i];
                int rc;
                if (!strcmp(kv->key, "unqualified-search-registries")) {
                        if ((rc = want_type(f, kv, IT_TOML_ARRAY, "the top level")))
                                return rc;
                        f->search = strs_dup(kv->items, kv->nitems);
                        f->nsearch = kv->nitems;
                        f->search_set = true;
                        f->search_line = kv->line;
                } else if (!strcmp(kv->key, "credential-helpers")) {
                        if ((rc = want_type(f, kv, IT_TOML_ARRAY, "the top level")))
                                return rc;
                        f->helpers = strs_dup(kv->items, kv->nitems);
                        f->nhelpers = kv->nitems;
                        f->helpers_set = true;
                } else if (!strcmp(kv->key, "short-name-mode")) {
                        if ((rc = want_type(f, kv, IT_TOML_STRING, "the top level")))
                                return rc;
                        f->short_name_mode = xstrdup(kv->str);
                        f->short_name_mode_line = kv->line;
                } else {
                        return unknown_key(f, kv, "the top level");
                }
        }
        return 0;
}

static int registry_table(struct fctx *f, const struct it_toml_section *s)
{
        f->regs = xrealloc(f->regs, (f->nregs + 1) * sizeof *f->regs);
        struct raw_registry *r = &f->regs[f->nregs++];
        memset(r, 0, sizeof *r);
        r->line = s->line;
        for (size_t i = 0; i < s->nkv; i++) {
                const struct it_toml_kv *kv = &s->kv[i];
                int rc;
                char **str = NULL;
                bool *flag = NULL;
                if (!strcmp(kv->key, "prefix"))
                        str = &r->prefix;
                else if (!strcmp(kv->key, "location"))
                        str = &r->location;
                else if (!strcmp(kv->key, "pull-from-mirror"))
                        str = &r->pull_from_mirror;
                else if (!strcmp(kv->key, "insecure"))
                        flag = &r->insecure;
                else if (!strcmp(kv->key, "blocked"))
                        flag = &r->blocked;
                else if (!strcmp(kv->key, "mirror-by-digest-only"))
                        flag = &r->mirror_by_digest_only;
                else if (!strcmp(kv->key, "mirror"))
                        return ffail(f, kv->line,
                                     "mirrors must be given as [[registry.mirror]] tables");
                else
                        return unknown_key(f, kv, "[[registry]]");
                if ((rc = want_type(f, kv, str ? IT_TOML_STRING : IT_TOML_BOOL, "[[registry]]")))
                        return rc;
                if (str)
                        *str = xstrdup(kv->str);
                else
                        *flag = kv->boolean;
        }
        return 0;
}

static int mirror_table(struct fctx *f, const struct it_toml_section *s)
{
        if (f->nregs == 0)
                return ffail(f, s->line, "[[registry.mirror]] before any [[registry]]");
        struct raw_registry *r = &f->regs[f->nregs - 1];
        r->mirrors = xrealloc(r->mirrors, (r->nmirrors + 1) * sizeof *r->mirrors);
        struct raw_mirror *m = &r->mirrors[r->nmirrors++];
        memset(m, 0, sizeof *m);
        m->line = s->line;
        for (size_t i = 0; i < s->nkv; i++) {
                const struct it_toml_kv *kv = &s->kv[i];
                int rc;
                if (!strcmp(kv->key, "location") || !strcmp(kv->key, "pull-from-mirror")) {
                        if ((rc = want_type(f, kv, IT_TOML_STRING, "[[registry.mirror]]")))
                                return rc;
                        char **str = kv->key[0] == 'l' ? &m->location : &m->pull_from_mirror;
                        *str = xstrdup(kv->str);
                } else if (!strcmp(kv->key, "insecure")) {
                        if ((rc = want_type(f, kv, IT_TOML_BOOL, "[[registry.mirror]]")))
                                return rc;
                        m->insecure = kv->boolean;
                } else {
                        return unknown_key(f, kv, "[[registry.mirror]]");
                }
        }
        return 0;
}

static int aliases_table(struct fctx *f, const struct it_toml_section *s)
{
        for (size_t i = 0; i < s->nkv; i++) {
                const struct it_toml_kv *kv = &s->kv[i];
                int rc;
                if ((rc = want_type(f, kv, IT_TOML_STRING, "[aliases]")))
                        return rc;
                f->aliases = xrealloc(f->aliases, (f->naliases + 1) * sizeof *f->aliases);
                f->alias_lines =
                    xrealloc(f->alias_lines, (f->naliases + 1) * sizeof *f->alias_lines);
                f->alias_lines[f->naliases] = kv->line;
                f->aliases[f->naliases++] = (struct it_regconf_alias){
                    .name = xstrdup(kv->key), .value = xstrdup(kv->str), .file = xstrdup(f->what)};
        }
        return 0;
}

static int v1_table(struct fctx *f, const struct it_toml_section *s, int which)
{
        static const char *const names[] = {"[registries.search]", "[registries.insecure]",
                                            "[registries.block]"};
        for (size_t i = 0; i < s->nkv; i++) {
                struct it_toml_kv *kv = &s->kv[i];
                int rc;
                if (strcmp(kv->key, "registries") != 0)
                        return unknown_key(f, kv, names[which]);
                if ((rc = want_type(f, kv, IT_TOML_ARRAY, names[which])))
                        return rc;
                f->v1[which] = kv;
        }
        return 0;
}

static int walk(struct fctx *f, const struct it_toml_doc *doc)
{
        int rc = top_level(f, &doc->sections[0]);
        for (size_t i = 1; !rc && i < doc->nsections; i++) {
                const struct it_toml_section *s = &doc->sections[i];
                _cleanup_free_ char *name = it_toml_section_name(s);
                if (path_is(s, "registry", NULL)) {
                        if (!s->array)
                                return ffail(f, s->line,
                                             "registries must be given as [[registry]] tables, "
                                             "not %s",
                                             name);
                        rc = registry_table(f, s);
                } else if (path_is(s, "registry", "mirror")) {
                        if (!s->array)
                                return ffail(f, s->line,
                                             "mirrors must be given as [[registry.mirror]] "
                                             "tables, not %s",
                                             name);
                        rc = mirror_table(f, s);
                } else if (path_is(s, "aliases", NULL)) {
                        if (s->array)
                                return ffail(f, s->line,
                                             "aliases must be an [aliases] table, "
                                             "not %s",
                                             name);
                        rc = aliases_table(f, s);
                } else if (path_is(s, "registries", NULL) && !s->array) {
                        if (s->nkv)
                                return unknown_key(f, &s->kv[0], "[registries]");
                } else if (s->npath == 2 && !strcmp(s->path[0], "registries") && !s->array &&
                           (!strcmp(s->path[1], "search") || !strcmp(s->path[1], "insecure") ||
                            !strcmp(s->path[1], "block"))) {
                        int which = s->path[1][0] == 's' ? 0 : s->path[1][0] == 'i' ? 1 : 2;
                        rc = v1_table(f, s, which);
                } else {
                        return ffail(f, s->line, "unknown table %s", name);
                }
        }
        return rc;
}

/* ---- validation, as containers/image's postProcessRegistries and loadConfigFile ---- */

/* Trailing slashes removed; URI schemes refused. */
static int parse_location(struct fctx *f, unsigned line, const char *in, char **out)
{
        size_t n = strlen(in);
        while (n && in[n - 1] == '/')
                n--;
        if ((n >= 7 && !strncmp(in, "http://", 7)) || (n >= 8 && !strncmp(in, "https://", 8))) {
                _cleanup_free_ char *q = it_quote(in, QUOTE_MAX);
                return ffail(f, line, "invalid location %s: URI schemes are not supported", q);
        }
        *out = xstrndup(in, n);
        return 0;
}

/* reference.DomainRegexp: components of [a-zA-Z0-9] with inner '-', joined by '.', and an
 * optional ":port". */
static bool domain_ok(const char *s)
{
        const char *colon = strchr(s, ':');
        size_t host_len = colon ? (size_t)(colon - s) : strlen(s);
        if (colon) {
                if (!colon[1])
                        return false;
                for (const char *p = colon + 1; *p; p++)
                        if (*p < '0' || *p > '9')
                                return false;
        }
        size_t start = 0;
        for (size_t i = 0; i <= host_len; i++) {
                if (i < host_len && s[i] != '.')
                        continue;
                if (i == start || !is_alnum(s[start]) || !is_alnum(s[i - 1]))
                        return false;
                for (size_t k = start; k < i; k++)
                        if (!is_alnum(s[k]) && s[k] != '-')
                                return false;
                start = i + 1;
        }
        return true;
}

static int parse_pull_from_mirror(struct fctx *f, const struct raw_mirror *m, const char *loc,
                                  enum it_pull_from_mirror *out)
{
        const char *v = m->pull_from_mirror;
        if (!v || !*v || !strcmp(v, "all"))
                *out = IT_PULL_FROM_MIRROR_ALL;
        else if (!strcmp(v, "digest-only"))
                *out = IT_PULL_FROM_MIRROR_DIGEST_ONLY;
        else if (!strcmp(v, "tag-only"))
                *out = IT_PULL_FROM_MIRROR_TAG_ONLY;
        else {
                _cleanup_free_ char *qv = it_quote(v, QUOTE_MAX);
                _cleanup_free_ char *ql = it_quote(loc, QUOTE_MAX);
                return ffail(f, m->line, "unsupported pull-from-mirror value %s for mirror %s", qv,
                             ql);
        }
        return 0;
}

static int convert_registry(struct fctx *f, const struct raw_registry *raw,
                            struct it_regconf_registry *r)
{
        int rc = parse_location(f, raw->line, raw->location ? raw->location : "", &r->location);
        if (rc)
                return rc;
        if (!raw->prefix || !*raw->prefix) {
                if (!*r->location)
                        return ffail(f, raw->line,
                                     "invalid condition: both location and prefix are unset");
                r->prefix = xstrdup(r->location);
        } else {
                if ((rc = parse_location(f, raw->line, raw->prefix, &r->prefix)))
                        return rc;
                if (strncmp(r->prefix, "*.", 2) != 0 && !*r->location)
                        return ffail(f, raw->line,
                                     "invalid condition: location is unset and prefix is not in "
                                     "the format: *.example.com");
        }
        if (raw->pull_from_mirror && *raw->pull_from_mirror) {
                _cleanup_free_ char *q = it_quote(r->prefix, QUOTE_MAX);
                return ffail(f, raw->line,
                             "pull-from-mirror must not be set for a non-mirror "
                             "registry %s",
                             q);
        }
        r->insecure = raw->insecure;
        r->blocked = raw->blocked;
        r->mirror_by_digest_only = raw->mirror_by_digest_only;
        r->file = xstrdup(f->what);
        r->line = raw->line;
        r->mirrors = xcalloc(raw->nmirrors ? raw->nmirrors : 1, sizeof *r->mirrors);
        for (size_t i = 0; i < raw->nmirrors; i++) {
                const struct raw_mirror *rm = &raw->mirrors[i];
                struct it_regconf_mirror *m = &r->mirrors[r->nmirrors++];
                if ((rc = parse_location(f, rm->line, rm->location ? rm->location : "",
                                         &m->location)))
                        return rc;
                if (!*m->location)
                        return ffail(f, rm->line, "invalid condition: mirror location is unset");
                if (r->mirror_by_digest_only && rm->pull_from_mirror && *rm->pull_from_mirror) {
                        _cleanup_free_ char *qp = it_quote(r->prefix, QUOTE_MAX);
                        _cleanup_free_ char *ql = it_quote(m->location, QUOTE_MAX);
                        return ffail(f, rm->line,
                                     "cannot set mirror usage mirror-by-digest-only for the "
                                     "registry (%s) and pull-from-mirror for per-mirror (%s) at "
                                     "the same time",
                                     qp, ql);
                }
                if ((rc = parse_pull_from_mirror(f, rm, m->location, &m->pull_from_mirror)))
                        return rc;
                m->insecure = rm->insecure;
        }
        return 0;
}

/* Sorting helpers: indices into an array of registries, by a key then by file order. */
struct sort_item {
        const char *key;
        size_t index;
};

static int cmp_item(const void *a, const void *b)
{
        const struct sort_item *x = a, *y = b;
        int c = strcmp(x->key, y->key);
        if (c)
                return c;
        return x->index < y->index ? -1 : x->index > y->index;
}

static const char *conflict_key(const struct it_regconf_registry *r)
{
        return *r->location ? r->location : r->prefix;
}

/* Entries sharing a location (or, without one, a prefix) must agree on insecure and blocked;
 * the first such entry in file order with a disagreement is reported, as upstream. Sorting
 * keeps this O(n log n) for large files. */
static int check_conflicts(struct fctx *f, const struct it_regconf_registry *regs, size_t n)
{
        if (n == 0)
                return 0;
        _cleanup_free_ struct sort_item *items = xcalloc(n, sizeof *items);
        for (size_t i = 0; i < n; i++)
                items[i] = (struct sort_item){conflict_key(&regs[i]), i};
        qsort(items, n, sizeof *items, cmp_item);
        size_t best_first = n, best_other = n;
        for (size_t g = 0; g < n;) {
                size_t e = g + 1;
                while (e < n && !strcmp(items[e].key, items[g].key))
                        e++;
                /* items[g] is the group's first entry in file order. */
                const struct it_regconf_registry *first = &regs[items[g].index];
                for (size_t k = g + 1; k < e; k++) {
                        const struct it_regconf_registry *o = &regs[items[k].index];
                        if (o->insecure != first->insecure || o->blocked != first->blocked) {
                                if (items[g].index < best_first) {
                                        best_first = items[g].index;
                                        best_other = items[k].index;
                                }
                                break;
                        }
                }
                g = e;
        }
        if (best_first == n)
                return 0;
        const struct it_regconf_registry *a = &regs[best_first], *b = &regs[best_other];
        return ffail(f, a->line,
                     "registry '%s' is defined multiple times with conflicting '%s' setting "
                     "(also at line %u)",
                     a->location, a->insecure != b->insecure ? "insecure" : "blocked", b->line);
}

/* Keep the first entry of each prefix and sort by prefix, as upstream does. */
static void dedupe_sort(struct it_regconf_registry **regs, size_t *n)
{
        if (*n == 0)
                return;
        _cleanup_free_ struct sort_item *items = xcalloc(*n, sizeof *items);
        for (size_t i = 0; i < *n; i++)
                items[i] = (struct sort_item){(*regs)[i].prefix, i};
        qsort(items, *n, sizeof *items, cmp_item);
        struct it_regconf_registry *out = xcalloc(*n, sizeof *out);
        size_t m = 0;
        for (size_t i = 0; i < *n; i++) {
                struct it_regconf_registry *r = &(*regs)[items[i].index];
                if (m && !strcmp(out[m - 1].prefix, r->prefix)) {
                        registry_clear(r);
                        continue;
                }
                out[m++] = *r;
        }
        free(*regs);
        *regs = out;
        *n = m;
}

static int check_short_name(struct fctx *f, unsigned line, const char *name)
{
        _cleanup_free_ char *q = it_quote(name, QUOTE_MAX);
        _cleanup_ref_ struct it_ref r = IT_REF_INIT;
        _cleanup_error_ it_error rerr = IT_ERROR_INIT;
        if (ref_parse_normalized(name, &r, &rerr) != 0)
                return ffail(f, line,
                             "validating short-name aliases: cannot parse short name %s: "
                             "%s",
                             q, rerr.msg);
        if (r.digest)
                return ffail(f, line,
                             "validating short-name aliases: invalid short name %s: must "
                             "not contain digest",
                             q);
        if (r.tag)
                return ffail(f, line,
                             "validating short-name aliases: invalid short name %s: must "
                             "not contain tag",
                             q);
        const char *slash = strchr(name, '/');
        if (slash) {
                size_t dn = (size_t)(slash - name);
                if (memchr(name, '.', dn) || memchr(name, ':', dn) ||
                    (dn == 9 && !memcmp(name, "localhost", 9)))
                        return ffail(f, line,
                                     "validating short-name aliases: invalid short name "
                                     "%s: must not contain registry",
                                     q);
        }
        return 0;
}

static int check_alias_value(struct fctx *f, unsigned line, const char *value)
{
        if (!*value)
                return 0; /* erases the alias */
        _cleanup_free_ char *q = it_quote(value, QUOTE_MAX);
        _cleanup_ref_ struct it_ref r = IT_REF_INIT;
        _cleanup_error_ it_error rerr = IT_ERROR_INIT;
        if (ref_parse_normalized(value, &r, &rerr) != 0)
                return ffail(f, line, "validating short-name aliases: parsing alias %s: %s", q,
                             rerr.msg);
        if (r.digest)
                return ffail(f, line,
                             "validating short-name aliases: invalid alias %s: must not "
                             "contain digest",
                             q);
        if (r.tag)
                return ffail(f, line,
                             "validating short-name aliases: invalid alias %s: must not "
                             "contain tag",
                             q);
        const char *slash = strchr(value, '/');
        size_t dn = slash ? (size_t)(slash - value) : 0;
        if (!slash || !(memchr(value, '.', dn) || memchr(value, ':', dn) ||
                        (dn == 9 && !memcmp(value, "localhost", 9))))
                return ffail(f, line,
                             "validating short-name aliases: invalid alias %s: must "
                             "contain registry and repository",
                             q);
        return 0;
}

static int cmp_alias(const void *a, const void *b)
{
        const struct it_regconf_alias *x = a, *y = b;
        return strcmp(x->name, y->name);
}

static bool v1_nonempty(const struct fctx *f)
{
        for (int i = 0; i < 3; i++)
                if (f->v1[i] && f->v1[i]->nitems)
                        return true;
        return false;
}

/* containers/image's V2RegistriesConf.Nonempty: empty lists and strings do not count. */
static bool v2_nonempty(const struct fctx *f)
{
        return f->nregs || f->nsearch || f->nhelpers ||
               (f->short_name_mode && *f->short_name_mode) || f->naliases;
}

/* V1 lists as V2 entries: blocked first, then insecure, one entry per location (compared
 * without trailing '/', as getRegistry does) in order of first mention. */
static void v1_convert(struct fctx *f)
{
        json_t *seen = json_object(); /* location -> index in f->regs, linear for long lists */
        if (!seen) {
                fputs("imgtrust: out of memory\n", stderr);
                abort();
        }
        for (int which = 2; which >= 1; which--) {
                const struct it_toml_kv *kv = f->v1[which];
                for (size_t i = 0; kv && i < kv->nitems; i++) {
                        const char *loc = kv->items[i];
                        size_t n = strlen(loc);
                        while (n && loc[n - 1] == '/')
                                n--;
                        _cleanup_free_ char *key = xstrndup(loc, n);
                        json_t *at = json_object_get(seen, key);
                        struct raw_registry *r;
                        if (at) {
                                r = &f->regs[json_integer_value(at)];
                        } else {
                                json_object_set_new(seen, key, json_integer((json_int_t)f->nregs));
                                f->regs = xrealloc(f->regs, (f->nregs + 1) * sizeof *f->regs);
                                r = &f->regs[f->nregs++];
                                memset(r, 0, sizeof *r);
                                r->location = xstrdup(loc);
                                r->line = kv->line;
                        }
                        if (which == 2)
                                r->blocked = true;
                        else
                                r->insecure = true;
                }
        }
        json_decref(seen);
        if (f->v1[0]) {
                f->search = strs_dup(f->v1[0]->items, f->v1[0]->nitems);
                f->nsearch = f->v1[0]->nitems;
                f->search_set = true;
                f->search_line = f->v1[0]->line;
        }
}

int regconf_parse_file_data(const char *data, size_t len, const char *what, bool drop_in,
                            struct it_regconf **out, it_error *err)
{
        *out = NULL;
        if (len > IT_REGCONF_MAX)
                return it_error_set(err, IT_EINPUT,
                                    "%s: too large (%zu bytes; at most %u are read)", what, len,
                                    IT_REGCONF_MAX);
        struct it_toml_doc doc = IT_TOML_DOC_INIT;
        int rc = it_toml_parse(data, len, what, &doc, err);
        if (rc)
                return rc;
        struct fctx f = {.what = what, .err = err};
        _cleanup_regconf_ struct it_regconf *c = xcalloc(1, sizeof *c);
        rc = walk(&f, &doc);
        if (rc)
                goto out;

        if (v1_nonempty(&f)) {
                if (drop_in) {
                        rc = ffail(&f, 0, "registry must be in v2 format but is in v1");
                        goto out;
                }
                if (v2_nonempty(&f)) {
                        rc = ffail(&f, 0, "mixing sysregistry v1/v2 is not supported");
                        goto out;
                }
                /* Empty V2 lists ("unqualified-search-registries = []") give way to V1's. */
                strs_free(f.search, f.nsearch);
                f.search = NULL;
                f.nsearch = 0;
                f.search_set = false;
                strs_free(f.helpers, f.nhelpers);
                f.helpers = NULL;
                f.nhelpers = 0;
                f.helpers_set = false;
                v1_convert(&f);
        }

        c->registries = xcalloc(f.nregs ? f.nregs : 1, sizeof *c->registries);
        for (size_t i = 0; i < f.nregs; i++) {
                rc = convert_registry(&f, &f.regs[i], &c->registries[c->nregistries++]);
                if (rc)
                        goto out;
        }
        if ((rc = check_conflicts(&f, c->registries, c->nregistries)))
                goto out;

        for (size_t i = 0; i < f.nsearch; i++) {
                char *loc = NULL;
                if ((rc = parse_location(&f, f.search_line, f.search[i], &loc)))
                        goto out;
                free(f.search[i]);
                f.search[i] = loc;
                if (!domain_ok(loc)) {
                        _cleanup_free_ char *q = it_quote(loc, QUOTE_MAX);
                        rc = ffail(&f, f.search_line,
                                   "Invalid unqualified-search-registries entry %s", q);
                        goto out;
                }
        }
        dedupe_sort(&c->registries, &c->nregistries);

        if (f.short_name_mode && *f.short_name_mode) {
                const char *m = f.short_name_mode;
                if (!strcmp(m, "disabled"))
                        c->short_name_mode = IT_SHORT_NAME_DISABLED;
                else if (!strcmp(m, "enforcing"))
                        c->short_name_mode = IT_SHORT_NAME_ENFORCING;
                else if (!strcmp(m, "permissive"))
                        c->short_name_mode = IT_SHORT_NAME_PERMISSIVE;
                else {
                        _cleanup_free_ char *q = it_quote(m, QUOTE_MAX);
                        rc = ffail(&f, f.short_name_mode_line, "invalid short-name mode: %s", q);
                        goto out;
                }
                c->short_name_mode_set = true;
        }

        for (size_t i = 0; i < c->nregistries; i++) {
                const struct it_regconf_registry *r = &c->registries[i];
                if (!strncmp(r->prefix, "*.", 2) && strpbrk(r->prefix, "/@:")) {
                        _cleanup_free_ char *q = it_quote(r->prefix, QUOTE_MAX);
                        rc = ffail(&f, r->line,
                                   "Wildcarded prefix should be in the format: *.example.com. "
                                   "Current prefix %s is incorrectly formatted",
                                   q);
                        goto out;
                }
        }

        for (size_t i = 0; i < f.naliases; i++) {
                if ((rc = check_short_name(&f, f.alias_lines[i], f.aliases[i].name)) ||
                    (rc = check_alias_value(&f, f.alias_lines[i], f.aliases[i].value)))
                        goto out;
        }

        c->search = f.search ? IT_STEAL(f.search) : xcalloc(1, sizeof *c->search);
        c->nsearch = f.nsearch;
        f.nsearch = 0;
        c->search_set = f.search_set;
        c->search_file = f.search_set ? xstrdup(what) : NULL;
        c->credential_helpers = f.helpers ? IT_STEAL(f.helpers) : xcalloc(1, sizeof(char *));
        c->ncredential_helpers = f.nhelpers;
        f.nhelpers = 0;
        c->credential_helpers_set = f.helpers_set;
        c->aliases = IT_STEAL(f.aliases);
        c->naliases = f.naliases;
        f.naliases = 0;
        if (c->naliases)
                qsort(c->aliases, c->naliases, sizeof *c->aliases, cmp_alias);
        c->files = xcalloc(2, sizeof *c->files);
        c->files[c->nfiles++] = xstrdup(what);
        *out = IT_STEAL(c);
out:
        fctx_free(&f);
        it_toml_free(&doc);
        return rc;
}

/* ---- merging ---- */

static void take_list(char ***dst, size_t *ndst, char ***src, size_t *nsrc)
{
        strs_free(*dst, *ndst);
        *dst = *src;
        *ndst = *nsrc;
        *src = xcalloc(1, sizeof **src);
        *nsrc = 0;
}

/* Fold `up` (a later file) into c; up is emptied. */
static void merge(struct it_regconf *c, struct it_regconf *up)
{
        /* Registries: both sorted by unique prefix; a later entry replaces an earlier one. */
        size_t n = c->nregistries + up->nregistries, m = 0, i = 0, k = 0;
        struct it_regconf_registry *out = xcalloc(n ? n : 1, sizeof *out);
        while (i < c->nregistries || k < up->nregistries) {
                int cmp = i == c->nregistries ? 1
                          : k == up->nregistries
                              ? -1
                              : strcmp(c->registries[i].prefix, up->registries[k].prefix);
                if (cmp < 0) {
                        out[m++] = c->registries[i++];
                } else {
                        if (cmp == 0)
                                registry_clear(&c->registries[i++]);
                        out[m++] = up->registries[k++];
                }
        }
        free(c->registries);
        c->registries = out;
        c->nregistries = m;
        up->nregistries = 0;

        if (up->search_set) {
                take_list(&c->search, &c->nsearch, &up->search, &up->nsearch);
                c->search_set = true;
                free(c->search_file);
                c->search_file = IT_STEAL(up->search_file);
        }
        if (up->credential_helpers_set) {
                take_list(&c->credential_helpers, &c->ncredential_helpers, &up->credential_helpers,
                          &up->ncredential_helpers);
                c->credential_helpers_set = true;
        }
        if (up->short_name_mode_set) {
                c->short_name_mode = up->short_name_mode;
                c->short_name_mode_set = true;
        }

        /* Aliases: both sorted by unique name; a later value replaces. */
        n = c->naliases + up->naliases;
        struct it_regconf_alias *al = xcalloc(n ? n : 1, sizeof *al);
        m = i = k = 0;
        while (i < c->naliases || k < up->naliases) {
                int cmp = i == c->naliases    ? 1
                          : k == up->naliases ? -1
                                              : strcmp(c->aliases[i].name, up->aliases[k].name);
                if (cmp < 0) {
                        al[m++] = c->aliases[i++];
                } else {
                        if (cmp == 0)
                                alias_clear(&c->aliases[i++]);
                        al[m++] = up->aliases[k++];
                }
        }
        free(c->aliases);
        c->aliases = al;
        c->naliases = m;
        up->naliases = 0;

        c->files = xrealloc(c->files, (c->nfiles + up->nfiles + 1) * sizeof *c->files);
        for (size_t j = 0; j < up->nfiles; j++)
                c->files[c->nfiles++] = IT_STEAL(up->files[j]);
        c->files[c->nfiles] = NULL;
        up->nfiles = 0;
}

/* ---- files and directories ---- */

/* 0 with *out set; 0 with *out NULL when the file is missing and that is allowed. */
static int load_file(const char *path, bool drop_in, bool must_exist, struct it_regconf **out,
                     it_error *err)
{
        *out = NULL;
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        _cleanup_error_ it_error rerr = IT_ERROR_INIT;
        int rc = it_file_read(path, IT_REGCONF_MAX, &data, &len, &rerr);
        if (rc) {
                if (!must_exist && rc == IT_EIO && rerr.sys_errno == ENOENT)
                        return 0;
                it_error_move(err, &rerr);
                return it_error_wrap(err, "%s",
                                     drop_in ? "reading drop-in registries configuration"
                                             : "reading registries configuration");
        }
        return regconf_parse_file_data(data, len, path, drop_in, out, err);
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.conf entries of dir that are not directories, sorted; a missing dir has none. */
static int list_dropins(const char *dir, struct it_strv *out, it_error *err)
{
        DIR *d = opendir(dir);
        if (!d) {
                /* As filepath.WalkDir: a missing directory has no files, nor has a file. */
                if (errno == ENOENT || errno == ENOTDIR)
                        return 0;
                return it_error_sys(err, IT_EIO, errno, "reading registries.conf.d %s", dir);
        }
        _cleanup_strv_ struct it_strv names = IT_STRV_INIT;
        int rc = 0;
        for (;;) {
                errno = 0;
                struct dirent *e = readdir(d);
                if (!e) {
                        if (errno)
                                rc = it_error_sys(err, IT_EIO, errno,
                                                  "reading registries.conf.d %s", dir);
                        break;
                }
                size_t l = strlen(e->d_name);
                if (l < 5 || strcmp(e->d_name + l - 5, ".conf") != 0)
                        continue;
                struct stat st;
                /* Directories are skipped; a symlink is read (and fails if it leads to one). */
                if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                    S_ISDIR(st.st_mode))
                        continue;
                if (names.n == IT_REGCONF_MAX_DROPINS) {
                        rc = it_error_set(err, IT_EINPUT,
                                          "%s: more than %d drop-in files; refusing to read them",
                                          dir, IT_REGCONF_MAX_DROPINS);
                        break;
                }
                it_strv_push(&names, e->d_name);
        }
        closedir(d);
        if (rc)
                return rc;
        if (names.n)
                qsort(names.v, names.n, sizeof *names.v, cmp_str);
        for (size_t i = 0; i < names.n; i++)
                it_strv_pushf(out, "%s/%s", dir, names.v[i]);
        return 0;
}

static char *home_dir(const char *home)
{
        if (home && *home)
                return xstrdup(home);
        const char *h = getenv("HOME");
        if (h && *h)
                return xstrdup(h);
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res && res->pw_dir &&
            *res->pw_dir)
                return xstrdup(res->pw_dir);
        return NULL;
}

int regconf_load(const char *path, const char *root, const char *home, struct it_regconf **out,
                 it_error *err)
{
        *out = NULL;
        if (!root)
                root = "";
        _cleanup_free_ char *h = home_dir(home);
        _cleanup_free_ char *user_conf = h ? xasprintf("%s/%s", h, USER_CONF) : NULL;
        _cleanup_free_ char *user_dir = h ? xasprintf("%s/%s", h, USER_DIR) : NULL;
        _cleanup_free_ char *sys_conf = xasprintf("%s%s", root, SYSTEM_CONF);
        _cleanup_free_ char *sys_dir = xasprintf("%s%s", root, SYSTEM_DIR);

        if (!path) {
                const char *env = getenv("CONTAINERS_REGISTRIES_CONF");
                if (env && *env)
                        path = env;
        }
        const char *main_conf;
        bool explicit_main = path != NULL, read_sys_dir = true;
        if (path) {
                main_conf = path;
        } else if (user_conf && it_path_exists(user_conf)) {
                main_conf = user_conf;
                read_sys_dir = false;
        } else {
                main_conf = sys_conf;
        }

        _cleanup_regconf_ struct it_regconf *c = NULL;
        int rc = load_file(main_conf, false, explicit_main, &c, err);
        if (rc)
                return rc;
        if (!c) {
                c = xcalloc(1, sizeof *c);
                c->registries = xcalloc(1, sizeof *c->registries);
                c->search = xcalloc(1, sizeof *c->search);
                c->credential_helpers = xcalloc(1, sizeof *c->credential_helpers);
                c->files = xcalloc(1, sizeof *c->files);
        }

        _cleanup_strv_ struct it_strv dropins = IT_STRV_INIT;
        if (read_sys_dir && (rc = list_dropins(sys_dir, &dropins, err)))
                return rc;
        if (user_dir && (rc = list_dropins(user_dir, &dropins, err)))
                return rc;
        for (size_t i = 0; i < dropins.n; i++) {
                _cleanup_regconf_ struct it_regconf *d = NULL;
                if ((rc = load_file(dropins.v[i], true, false, &d, err)))
                        return rc;
                if (d) /* else removed since the listing */
                        merge(c, d);
        }

        /* Defaults, and erased aliases dropped. */
        if (c->ncredential_helpers == 0) {
                strs_free(c->credential_helpers, 0);
                c->credential_helpers = xcalloc(2, sizeof *c->credential_helpers);
                c->credential_helpers[0] = xstrdup(IT_REGCONF_AUTH_FILES_HELPER);
                c->ncredential_helpers = 1;
        }
        size_t m = 0;
        for (size_t i = 0; i < c->naliases; i++) {
                if (!*c->aliases[i].value)
                        alias_clear(&c->aliases[i]);
                else
                        c->aliases[m++] = c->aliases[i];
        }
        c->naliases = m;
        *out = IT_STEAL(c);
        return 0;
}

/* ---- lookups ---- */

/* containers/image's refMatchingPrefix: the length of name the prefix covers, or -1. */
static long match_prefix(const char *name, const char *prefix)
{
        size_t nl = strlen(name), pl = strlen(prefix);
        if (!strncmp(prefix, "*.", 2)) {
                /* The first occurrence of ".domain", with no '/' before it. */
                const char *hit = strstr(name, prefix + 1);
                if (!hit || memchr(name, '/', (size_t)(hit - name)))
                        return -1;
                size_t end = (size_t)(hit - name) + pl - 1;
                if (end == nl || name[end] == ':' || name[end] == '/' || name[end] == '@')
                        return (long)end;
                return -1;
        }
        if (nl < pl || strncmp(name, prefix, pl) != 0)
                return -1;
        if (nl == pl)
                return (long)pl;
        char c = name[pl];
        /* Upstream lets "example.com" match "example.com:5000" too (a known quirk kept). */
        return c == ':' || c == '/' || c == '@' ? (long)pl : -1;
}

bool regconf_find(const struct it_regconf *conf, const char *name, struct it_regconf_match *out)
{
        memset(out, 0, sizeof *out);
        size_t best = 0;
        for (size_t i = 0; conf && i < conf->nregistries; i++) {
                const struct it_regconf_registry *r = &conf->registries[i];
                long ml = match_prefix(name, r->prefix);
                if (ml < 0)
                        continue;
                size_t pl = strlen(r->prefix);
                if (pl > best) {
                        best = pl;
                        out->registry = r;
                        out->match_len = (size_t)ml;
                }
        }
        if (!out->registry)
                return false;
        out->insecure = out->registry->insecure;
        out->blocked = out->registry->blocked;
        out->prefix = out->registry->prefix;
        out->location = out->registry->location;
        out->file = out->registry->file;
        return true;
}

char *regconf_rewrite(const struct it_regconf_match *m, const char *name)
{
        if (!m->registry || !*m->registry->location)
                return xstrdup(name);
        return xasprintf("%s%s", m->registry->location, name + m->match_len);
}

int regconf_check_blocked(const struct it_regconf *conf, const char *name, it_error *err)
{
        struct it_regconf_match m;
        if (!regconf_find(conf, name, &m) || !m.blocked)
                return 0;
        return it_error_set(err, IT_EINPUT, "registry %s is blocked in %s (line %u)", m.prefix,
                            m.file, m.registry->line);
}

const char *regconf_alias(const struct it_regconf *conf, const char *name)
{
        size_t lo = 0, hi = conf->naliases;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(conf->aliases[mid].name, name);
                if (c == 0)
                        return *conf->aliases[mid].value ? conf->aliases[mid].value : NULL;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}
