#include "imgtrust/json.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

int it_json_parse(const char *data, size_t len, size_t max, const char *what, json_t **out,
                  it_error *err)
{
        *out = NULL;
        if (len > max)
                return it_error_set(err, IT_EINPUT,
                                    "%s: too large (%zu bytes; at most %zu are read)", what, len,
                                    max);
        if (len == 0)
                return it_error_set(err, IT_EINPUT, "%s: empty, expected a JSON document", what);
        json_error_t je;
        json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
        if (!j) {
                /* jansson quotes the offending input, which may hold line breaks: keep one line. */
                for (char *c = je.text; *c; c++)
                        if ((unsigned char)*c < 0x20 || *c == 0x7f)
                                *c = '?';
                return it_error_set(err, IT_EINPUT, "%s: line %d, column %d: invalid JSON: %s",
                                    what, je.line, je.column, je.text);
        }
        *out = j;
        return 0;
}

static bool is_ident(const char *k)
{
        if (!*k || !(isalpha((unsigned char)*k) || *k == '_'))
                return false;
        for (; *k; k++)
                if (!(isalnum((unsigned char)*k) || *k == '_' || *k == '-'))
                        return false;
        return true;
}

void it_json_path_key(struct it_buf *path, const char *key)
{
        if (is_ident(key)) {
                if (path->len)
                        it_buf_addch(path, '.');
                it_buf_adds(path, key);
                return;
        }
        it_buf_adds(path, "[\"");
        for (const char *p = key; *p; p++) {
                unsigned char c = (unsigned char)*p;
                if (c < 0x20 || c == 0x7f) {
                        it_buf_addf(path, "\\u%04x", c); /* messages stay one line */
                        continue;
                }
                if (c == '"' || c == '\\')
                        it_buf_addch(path, '\\');
                it_buf_addch(path, (char)c);
        }
        it_buf_adds(path, "\"]");
}

void it_json_path_index(struct it_buf *path, size_t i)
{
        it_buf_addf(path, "[%zu]", i);
}

const char *it_json_type_name(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "object";
        case JSON_ARRAY:
                return "array";
        case JSON_STRING:
                return "string";
        case JSON_INTEGER:
        case JSON_REAL:
                return "number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "boolean";
        case JSON_NULL:
                return "null";
        }
        return "unknown";
}

/* Length of the valid UTF-8 sequence at s (as Go's utf8.DecodeRune judges it), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
        unsigned char c = s[0];
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c < 0x80)
                return 1;
        if (c >= 0xC2 && c <= 0xDF) {
                need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
                need = 2;
                if (c == 0xE0)
                        lo = 0xA0; /* overlong */
                else if (c == 0xED)
                        hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
                need = 3;
                if (c == 0xF0)
                        lo = 0x90;
                else if (c == 0xF4)
                        hi = 0x8F; /* above U+10FFFF */
        } else {
                return 0;
        }
        if (n - 1 < need || s[1] < lo || s[1] > hi)
                return 0;
        for (size_t i = 2; i <= need; i++)
                if (s[i] < 0x80 || s[i] > 0xBF)
                        return 0;
        return need + 1;
}

void it_json_write_go_string(struct it_buf *out, const char *str, size_t n)
{
        static const char hex[] = "0123456789abcdef";
        const unsigned char *s = (const unsigned char *)str;
        it_buf_addch(out, '"');
        for (size_t i = 0; i < n;) {
                unsigned char c = s[i];
                if (c < 0x80) {
                        if (c == '"' || c == '\\') {
                                it_buf_addch(out, '\\');
                                it_buf_addch(out, (char)c);
                        } else if (c == '\n') {
                                it_buf_adds(out, "\\n");
                        } else if (c == '\r') {
                                it_buf_adds(out, "\\r");
                        } else if (c == '\t') {
                                it_buf_adds(out, "\\t");
                        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
                                it_buf_adds(out, "\\u00");
                                it_buf_addch(out, hex[c >> 4]);
                                it_buf_addch(out, hex[c & 15]);
                        } else {
                                it_buf_addch(out, (char)c);
                        }
                        i++;
                        continue;
                }
                size_t l = utf8_len(s + i, n - i);
                if (l == 0) {
                        it_buf_adds(out, "\\ufffd");
                        i++;
                } else if (l == 3 && c == 0xE2 && s[i + 1] == 0x80 &&
                           (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) {
                        it_buf_adds(out, s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
                        i += 3;
                } else {
                        it_buf_add(out, s + i, l);
                        i += l;
                }
        }
        it_buf_addch(out, '"');
}

static void write_real(struct it_buf *out, double d)
{
        /* Shortest text that reads back as the same double, as Go prints float64. */
        char tmp[64];
        for (int prec = 1; prec <= 17; prec++) {
                snprintf(tmp, sizeof tmp, "%.*g", prec, d);
                if (strtod(tmp, NULL) == d)
                        break;
        }
        it_buf_adds(out, tmp);
}

static void newline(struct it_buf *out, int indent, int depth)
{
        it_buf_addch(out, '\n');
        for (int i = 0; i < indent * depth; i++)
                it_buf_addch(out, ' ');
}

static void write_value(struct it_buf *out, const json_t *v, int indent, int depth)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT: {
                if (json_object_size(v) == 0) {
                        it_buf_adds(out, "{}");
                        return;
                }
                it_buf_addch(out, '{');
                const char *k;
                json_t *m;
                bool first = true;
                json_object_foreach((json_t *)v, k, m)
                {
                        if (!first)
                                it_buf_addch(out, ',');
                        first = false;
                        newline(out, indent, depth + 1);
                        it_json_write_go_string(out, k, strlen(k));
                        it_buf_adds(out, ": ");
                        write_value(out, m, indent, depth + 1);
                }
                newline(out, indent, depth);
                it_buf_addch(out, '}');
                return;
        }
        case JSON_ARRAY: {
                if (json_array_size(v) == 0) {
                        it_buf_adds(out, "[]");
                        return;
                }
                it_buf_addch(out, '[');
                for (size_t i = 0; i < json_array_size(v); i++) {
                        if (i)
                                it_buf_addch(out, ',');
                        newline(out, indent, depth + 1);
                        write_value(out, json_array_get(v, i), indent, depth + 1);
                }
                newline(out, indent, depth);
                it_buf_addch(out, ']');
                return;
        }
        case JSON_STRING:
                it_json_write_go_string(out, json_string_value(v), json_string_length(v));
                return;
        case JSON_INTEGER:
                it_buf_addf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return;
        case JSON_REAL:
                write_real(out, json_real_value(v));
                return;
        case JSON_TRUE:
                it_buf_adds(out, "true");
                return;
        case JSON_FALSE:
                it_buf_adds(out, "false");
                return;
        case JSON_NULL:
                it_buf_adds(out, "null");
                return;
        }
}

void it_json_write_go(struct it_buf *out, const json_t *v, int indent)
{
        write_value(out, v, indent, 0);
}
