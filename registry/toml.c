#include "imgtrust/toml.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/xalloc.h"

/* Values and keys quoted in messages are cut here. */
#define QUOTE_MAX 80

struct tp {
        const char *s;
        size_t n;
        size_t i;
        unsigned line;
        const char *what;
        it_error *err;
        struct it_toml_doc *doc;
        /* Hash maps (jansson objects) keep the checks linear on large files: the keys of the
         * current section (key -> line), each header path's first section and last [[...]]
         * (path -> index), and each [table] within its enclosing array element. */
        json_t *keys, *kinds, *arrays, *tables;
};

__attribute__((format(printf, 2, 3))) static int fail(struct tp *p, const char *fmt, ...)
{
        struct it_buf b = IT_BUF_INIT;
        va_list ap;
        va_start(ap, fmt);
        it_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        _cleanup_free_ char *msg = it_buf_detach(&b);
        return it_error_set(p->err, IT_EINPUT, "%s:%u: %s", p->what, p->line, msg);
}

static bool eof(const struct tp *p)
{
        return p->i >= p->n;
}

static char peek(const struct tp *p)
{
        return eof(p) ? '\0' : p->s[p->i];
}

static bool at(const struct tp *p, const char *lit)
{
        size_t l = strlen(lit);
        return p->n - p->i >= l && memcmp(p->s + p->i, lit, l) == 0;
}

static bool is_bare(char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
}

static void skip_ws(struct tp *p)
{
        while (!eof(p) && (p->s[p->i] == ' ' || p->s[p->i] == '\t'))
                p->i++;
}

/* At a '#': up to (not including) the line end. */
static void skip_comment(struct tp *p)
{
        while (!eof(p) && p->s[p->i] != '\n' && p->s[p->i] != '\r')
                p->i++;
}

/* At '\n' or "\r\n" (a lone '\r' was refused by check_text). */
static void take_newline(struct tp *p)
{
        if (p->s[p->i] == '\r')
                p->i++;
        p->i++;
        p->line++;
}

static bool at_newline(const struct tp *p)
{
        return !eof(p) && (p->s[p->i] == '\n' || p->s[p->i] == '\r');
}

/* Whitespace, comments and line breaks, as allowed between array elements. */
static void skip_ws_nl(struct tp *p)
{
        for (;;) {
                skip_ws(p);
                if (peek(p) == '#')
                        skip_comment(p);
                if (!at_newline(p))
                        return;
                take_newline(p);
        }
}

/* Valid UTF-8 throughout, and no control characters but tab and line ends (TOML 1.0 allows
 * none elsewhere, comments included), so the parser below deals with clean text only. */
static int check_text(struct tp *p)
{
        const unsigned char *s = (const unsigned char *)p->s;
        unsigned line = 1;
        for (size_t i = 0; i < p->n;) {
                unsigned char c = s[i];
                if (c == '\n') {
                        line++;
                        i++;
                        continue;
                }
                if (c == '\r') {
                        if (i + 1 >= p->n || s[i + 1] != '\n') {
                                p->line = line;
                                return fail(p, "carriage return not followed by a line feed");
                        }
                        i++;
                        continue;
                }
                if ((c < 0x20 && c != '\t') || c == 0x7f) {
                        p->line = line;
                        return fail(p, "control character 0x%02x not allowed", c);
                }
                if (c < 0x80) {
                        i++;
                        continue;
                }
                size_t need;
                uint32_t cp, min;
                if (c >= 0xc2 && c <= 0xdf) {
                        need = 1, cp = c & 0x1f, min = 0x80;
                } else if (c >= 0xe0 && c <= 0xef) {
                        need = 2, cp = c & 0x0f, min = 0x800;
                } else if (c >= 0xf0 && c <= 0xf4) {
                        need = 3, cp = c & 0x07, min = 0x10000;
                } else {
                        p->line = line;
                        return fail(p, "invalid UTF-8");
                }
                if (p->n - i - 1 < need) {
                        p->line = line;
                        return fail(p, "invalid UTF-8");
                }
                for (size_t k = 1; k <= need; k++) {
                        if ((s[i + k] & 0xc0) != 0x80) {
                                p->line = line;
                                return fail(p, "invalid UTF-8");
                        }
                        cp = cp << 6 | (s[i + k] & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
                        p->line = line;
                        return fail(p, "invalid UTF-8");
                }
                i += need + 1;
        }
        return 0;
}

static void add_utf8(struct it_buf *b, uint32_t cp)
{
        if (cp < 0x80) {
                it_buf_addch(b, (char)cp);
        } else if (cp < 0x800) {
                it_buf_addch(b, (char)(0xc0 | cp >> 6));
                it_buf_addch(b, (char)(0x80 | (cp & 0x3f)));
        } else if (cp < 0x10000) {
                it_buf_addch(b, (char)(0xe0 | cp >> 12));
                it_buf_addch(b, (char)(0x80 | (cp >> 6 & 0x3f)));
                it_buf_addch(b, (char)(0x80 | (cp & 0x3f)));
        } else {
                it_buf_addch(b, (char)(0xf0 | cp >> 18));
                it_buf_addch(b, (char)(0x80 | (cp >> 12 & 0x3f)));
                it_buf_addch(b, (char)(0x80 | (cp >> 6 & 0x3f)));
                it_buf_addch(b, (char)(0x80 | (cp & 0x3f)));
        }
}

static int hex_value(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* At the opening quote of a one-line basic or literal string. */
static int parse_string(struct tp *p, char **out)
{
        char quote = p->s[p->i];
        if ((quote == '"' && at(p, "\"\"\"")) || (quote == '\'' && at(p, "'''")))
                return fail(p, "multi-line strings are not supported here");
        p->i++;
        _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
        for (;;) {
                if (eof(p) || at_newline(p))
                        return fail(p, "unterminated string");
                char c = p->s[p->i];
                if (c == quote) {
                        p->i++;
                        break;
                }
                if (c != '\\' || quote == '\'') {
                        it_buf_addch(&b, c);
                        p->i++;
                        continue;
                }
                p->i++;
                char e = peek(p);
                const char *simple = strchr("btnfr\"\\", e);
                if (e && simple) {
                        static const char map[] = "\b\t\n\f\r\"\\";
                        it_buf_addch(&b, map[simple - "btnfr\"\\"]);
                        p->i++;
                        continue;
                }
                if (e != 'u' && e != 'U') {
                        if (at_newline(p) || eof(p))
                                return fail(p, "unterminated string");
                        if (e > 0x20 && e < 0x7f)
                                return fail(p, "invalid escape sequence \\%c in string", e);
                        return fail(p, "invalid escape sequence in string");
                }
                size_t digits = e == 'u' ? 4 : 8;
                p->i++;
                uint32_t cp = 0;
                for (size_t k = 0; k < digits; k++) {
                        int v = hex_value(peek(p));
                        if (v < 0)
                                return fail(p, "\\%c escape needs %zu hexadecimal digits", e,
                                            digits);
                        cp = cp << 4 | (uint32_t)v;
                        p->i++;
                }
                if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return fail(p, "\\%c escape U+%04X is not a Unicode scalar value", e,
                                    (unsigned)cp);
                if (cp == 0)
                        return fail(p, "NUL character (\\%c0000) not allowed in strings", e);
                add_utf8(&b, cp);
        }
        *out = it_buf_detach(&b);
        return 0;
}

static int parse_key(struct tp *p, char **out)
{
        char c = peek(p);
        if (c == '"' || c == '\'')
                return parse_string(p, out);
        size_t start = p->i;
        while (!eof(p) && is_bare(p->s[p->i]))
                p->i++;
        if (p->i == start) {
                if (eof(p) || at_newline(p))
                        return fail(p, "expected a key");
                _cleanup_free_ char *q = it_quoten(p->s + p->i, 1, QUOTE_MAX);
                return fail(p, "expected a key, found %s", q);
        }
        *out = xstrndup(p->s + start, p->i - start);
        return 0;
}

/* What a value we do not support looks like, for the message. */
static const char *unsupported_value(const struct tp *p)
{
        char c = peek(p);
        if (c == '{')
                return "inline tables are not supported here";
        if ((c >= '0' && c <= '9') || c == '+' || c == '-' || at(p, "inf") || at(p, "nan"))
                return "numbers and dates are not supported here";
        return NULL;
}

static int parse_bool(struct tp *p, bool *out)
{
        const char *lit = peek(p) == 't' ? "true" : "false";
        size_t l = strlen(lit);
        if (!at(p, lit) || (p->n - p->i > l && is_bare(p->s[p->i + l])))
                return fail(p, "invalid value (expected a string, true, false or an array of "
                               "strings)");
        *out = lit[0] == 't';
        p->i += l;
        return 0;
}

static void kv_clear(struct it_toml_kv *kv)
{
        free(kv->key);
        free(kv->str);
        for (size_t i = 0; i < kv->nitems; i++)
                free(kv->items[i]);
        free(kv->items);
        memset(kv, 0, sizeof *kv);
}

static int parse_array(struct tp *p, struct it_toml_kv *kv)
{
        unsigned opened = p->line;
        size_t cap = 0;
        p->i++;
        kv->type = IT_TOML_ARRAY;
        kv->items = xcalloc(1, sizeof *kv->items);
        for (;;) {
                skip_ws_nl(p);
                if (eof(p))
                        goto unterminated;
                char c = peek(p);
                if (c == ']') {
                        p->i++;
                        return 0;
                }
                if (c == '[')
                        return fail(p, "nested arrays are not supported here");
                if (c != '"' && c != '\'') {
                        const char *why = unsupported_value(p);
                        if (c == 't' || c == 'f')
                                why = "arrays may only hold strings here";
                        return fail(p, "%s",
                                    why ? why
                                        : "invalid array element (a string "
                                          "expected)");
                }
                char *item = NULL;
                int rc = parse_string(p, &item);
                if (rc)
                        return rc;
                if (kv->nitems + 2 > cap) {
                        cap = cap ? cap * 2 : 8;
                        kv->items = xrealloc(kv->items, cap * sizeof *kv->items);
                }
                kv->items[kv->nitems++] = item;
                kv->items[kv->nitems] = NULL;
                skip_ws_nl(p);
                if (eof(p))
                        goto unterminated;
                c = peek(p);
                if (c == ',') {
                        p->i++;
                        continue;
                }
                if (c == ']') {
                        p->i++;
                        return 0;
                }
                _cleanup_free_ char *q = it_quoten(p->s + p->i, 1, QUOTE_MAX);
                return fail(p, "expected ',' or ']' in the array, found %s", q);
        }
unterminated:
        return fail(p, "unterminated array (opened at line %u)", opened);
}

static int parse_value(struct tp *p, struct it_toml_kv *kv)
{
        char c = peek(p);
        if (c == '"' || c == '\'') {
                kv->type = IT_TOML_STRING;
                return parse_string(p, &kv->str);
        }
        if (c == 't' || c == 'f') {
                kv->type = IT_TOML_BOOL;
                return parse_bool(p, &kv->boolean);
        }
        if (c == '[')
                return parse_array(p, kv);
        if (eof(p) || at_newline(p) || c == '#')
                return fail(p, "missing value after '='");
        const char *why = unsupported_value(p);
        return fail(p, "%s",
                    why ? why
                        : "invalid value (expected a string, true, false or an "
                          "array of strings)");
}

static struct it_toml_section *current(struct tp *p)
{
        return &p->doc->sections[p->doc->nsections - 1];
}

char *it_toml_section_name(const struct it_toml_section *s)
{
        if (s->npath == 0)
                return xstrdup("the top level");
        struct it_buf b = IT_BUF_INIT;
        it_buf_adds(&b, s->array ? "[[" : "[");
        for (size_t i = 0; i < s->npath; i++) {
                if (i)
                        it_buf_addch(&b, '.');
                bool bare = *s->path[i] != '\0';
                for (const char *c = s->path[i]; *c; c++)
                        bare = bare && is_bare(*c);
                if (bare)
                        it_buf_adds(&b, s->path[i]);
                else
                        it_buf_add_quoted(&b, s->path[i], strlen(s->path[i]), QUOTE_MAX);
        }
        it_buf_adds(&b, s->array ? "]]" : "]");
        return it_buf_detach(&b);
}

/* A map key for the first n components of s's path: length-prefixed, so unambiguous. */
static char *path_key(const struct it_toml_section *s, size_t n)
{
        struct it_buf b = IT_BUF_INIT;
        for (size_t i = 0; i < n; i++)
                it_buf_addf(&b, "%zu:%s", strlen(s->path[i]), s->path[i]);
        return it_buf_detach(&b);
}

static void map_set(json_t *map, const char *key, size_t value)
{
        json_object_set_new(map, key, json_integer((json_int_t)value));
}

static bool map_get(json_t *map, const char *key, size_t *value)
{
        json_t *v = json_object_get(map, key);
        if (!v)
                return false;
        *value = (size_t)json_integer_value(v);
        return true;
}

/* TOML's rules for the new (last) section against the earlier ones: [x] and [[x]] never share a
 * name, and a [x] is defined once within the current element of each enclosing [[y]]. */
static int check_section(struct tp *p)
{
        size_t idx = p->doc->nsections - 1, first, stamp = 0, v;
        const struct it_toml_section *s = &p->doc->sections[idx];
        _cleanup_free_ char *key = path_key(s, s->npath);
        if (map_get(p->kinds, key, &first)) {
                const struct it_toml_section *o = &p->doc->sections[first];
                if (o->array != s->array) {
                        _cleanup_free_ char *a = it_toml_section_name(s);
                        _cleanup_free_ char *b = it_toml_section_name(o);
                        return fail(p, "%s conflicts with %s at line %u", a, b, o->line);
                }
        } else {
                map_set(p->kinds, key, idx);
        }
        if (s->array) {
                map_set(p->arrays, key, idx);
                return 0;
        }
        for (size_t d = 1; d < s->npath; d++) {
                _cleanup_free_ char *pk = path_key(s, d);
                if (map_get(p->arrays, pk, &v) && v > stamp)
                        stamp = v;
        }
        _cleanup_free_ char *tkey = xasprintf("%s#%zu", key, stamp);
        if (map_get(p->tables, tkey, &v)) {
                _cleanup_free_ char *a = it_toml_section_name(s);
                return fail(p, "table %s defined twice (first at line %u)", a,
                            p->doc->sections[v].line);
        }
        map_set(p->tables, tkey, idx);
        return 0;
}

static struct it_toml_section *add_section(struct tp *p)
{
        struct it_toml_doc *d = p->doc;
        d->sections = xrealloc(d->sections, (d->nsections + 1) * sizeof *d->sections);
        struct it_toml_section *s = &d->sections[d->nsections++];
        memset(s, 0, sizeof *s);
        s->path = xcalloc(1, sizeof *s->path);
        s->line = p->line;
        return s;
}

static int parse_header(struct tp *p)
{
        json_object_clear(p->keys);
        struct it_toml_section *s = add_section(p);
        p->i++;
        if (peek(p) == '[') {
                s->array = true;
                p->i++;
        }
        for (;;) {
                skip_ws(p);
                char *part = NULL;
                int rc = parse_key(p, &part);
                if (rc)
                        return rc;
                if (s->npath == IT_TOML_MAX_DEPTH) {
                        free(part);
                        return fail(p, "table header nested deeper than %d levels",
                                    IT_TOML_MAX_DEPTH);
                }
                s->path = xrealloc(s->path, (s->npath + 2) * sizeof *s->path);
                s->path[s->npath++] = part;
                s->path[s->npath] = NULL;
                skip_ws(p);
                if (peek(p) == '.') {
                        p->i++;
                        continue;
                }
                break;
        }
        if (peek(p) != ']' || (s->array && !at(p, "]]")))
                return fail(p, "expected '%s' to close the table header", s->array ? "]]" : "]");
        p->i += s->array ? 2 : 1;
        return check_section(p);
}

static int parse_keyval(struct tp *p)
{
        struct it_toml_kv kv = {0};
        struct it_toml_section *s = current(p);
        kv.line = p->line;
        int rc = parse_key(p, &kv.key);
        if (rc)
                goto out;
        skip_ws(p);
        if (peek(p) == '.') {
                rc = fail(p, "dotted keys are not supported here");
                goto out;
        }
        if (peek(p) != '=') {
                _cleanup_free_ char *q = it_quote(kv.key, QUOTE_MAX);
                rc = fail(p, "expected '=' after the key %s", q);
                goto out;
        }
        p->i++;
        skip_ws(p);
        rc = parse_value(p, &kv);
        if (rc)
                goto out;
        size_t prev;
        if (map_get(p->keys, kv.key, &prev)) {
                _cleanup_free_ char *q = it_quote(kv.key, QUOTE_MAX);
                _cleanup_free_ char *name = it_toml_section_name(s);
                p->line = kv.line;
                rc = fail(p, "key %s given twice in %s (first at line %zu)", q, name, prev);
                goto out;
        }
        map_set(p->keys, kv.key, kv.line);
        s->kv = xrealloc(s->kv, (s->nkv + 1) * sizeof *s->kv);
        s->kv[s->nkv++] = kv;
        return 0;
out:
        kv_clear(&kv);
        return rc;
}

/* After a header or key/value: blanks, maybe a comment, then the end of the line. */
static int end_of_line(struct tp *p)
{
        skip_ws(p);
        if (peek(p) == '#')
                skip_comment(p);
        if (eof(p))
                return 0;
        if (at_newline(p)) {
                take_newline(p);
                return 0;
        }
        _cleanup_free_ char *q = it_quoten(p->s + p->i, p->n - p->i < 20 ? p->n - p->i : 20, 20);
        return fail(p, "unexpected %s after the value (one key or header per line)", q);
}

int it_toml_parse(const char *data, size_t len, const char *what, struct it_toml_doc *doc,
                  it_error *err)
{
        memset(doc, 0, sizeof *doc);
        struct tp p = {.s = data, .n = len, .line = 1, .what = what, .err = err, .doc = doc};
        if (len > IT_TOML_MAX)
                return it_error_set(err, IT_EINPUT,
                                    "%s: too large (%zu bytes; at most %u are read)", what, len,
                                    IT_TOML_MAX);
        if (at(&p, "\xef\xbb\xbf"))
                p.i = 3;
        int rc = check_text(&p);
        if (rc)
                return rc;
        p.keys = json_object();
        p.kinds = json_object();
        p.arrays = json_object();
        p.tables = json_object();
        if (!p.keys || !p.kinds || !p.arrays || !p.tables) {
                fputs("imgtrust: out of memory\n", stderr);
                abort();
        }
        add_section(&p);
        while (!eof(&p)) {
                skip_ws(&p);
                char c = peek(&p);
                if (eof(&p))
                        break;
                if (at_newline(&p)) {
                        take_newline(&p);
                        continue;
                }
                if (c == '#') {
                        skip_comment(&p);
                        continue;
                }
                rc = c == '[' ? parse_header(&p) : parse_keyval(&p);
                if (!rc)
                        rc = end_of_line(&p);
                if (rc) {
                        it_toml_free(doc);
                        break;
                }
        }
        json_decref(p.keys);
        json_decref(p.kinds);
        json_decref(p.arrays);
        json_decref(p.tables);
        return rc;
}

void it_toml_free(struct it_toml_doc *doc)
{
        for (size_t i = 0; i < doc->nsections; i++) {
                struct it_toml_section *s = &doc->sections[i];
                for (size_t k = 0; k < s->npath; k++)
                        free(s->path[k]);
                free(s->path);
                for (size_t k = 0; k < s->nkv; k++)
                        kv_clear(&s->kv[k]);
                free(s->kv);
        }
        free(doc->sections);
        memset(doc, 0, sizeof *doc);
}
