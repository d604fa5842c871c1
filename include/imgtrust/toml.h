/* A strict reader for the small part of TOML that containers-registries.conf(5) files use.
 *
 * Supported: comments; [table] and [[array-of-tables]] headers with dotted bare or quoted keys;
 * `key = value` with a bare or quoted (not dotted) key; values that are basic strings (with the
 * TOML escapes), literal strings, booleans, and arrays of strings (over several lines, with
 * comments and a trailing comma). Everything else TOML has (numbers, dates, inline tables,
 * multi-line strings, dotted keys, arrays of other types) is refused by name, as are syntax
 * errors, invalid UTF-8, control characters, a key given twice in one table, and a [table]
 * header given twice. The result is the file's sections in order; what they mean is for the
 * caller. Errors are IT_EINPUT, "what:LINE: message".
 */
#ifndef IMGTRUST_TOML_H
#define IMGTRUST_TOML_H

#include <stdbool.h>
#include <stddef.h>

#include "imgtrust/error.h"

/* Largest input accepted. */
#define IT_TOML_MAX (1u << 20)
/* Deepest header accepted ([a.b.c.d]). */
#define IT_TOML_MAX_DEPTH 8

enum it_toml_type { IT_TOML_STRING, IT_TOML_BOOL, IT_TOML_ARRAY };

struct it_toml_kv {
        char *key;
        unsigned line;
        enum it_toml_type type;
        char *str;    /* IT_TOML_STRING */
        bool boolean; /* IT_TOML_BOOL */
        char **items; /* IT_TOML_ARRAY: strings, NULL-terminated */
        size_t nitems;
};

struct it_toml_section {
        char **path; /* header components, NULL-terminated; npath == 0 for the top level */
        size_t npath;
        bool array; /* [[...]] */
        unsigned line;
        struct it_toml_kv *kv;
        size_t nkv;
};

struct it_toml_doc {
        struct it_toml_section *sections; /* [0] is the top level, always present */
        size_t nsections;
};

#define IT_TOML_DOC_INIT                                                                           \
        {                                                                                          \
                0                                                                                  \
        }

/* Parse data[0..len) named `what` in messages (at most IT_TOML_MAX bytes). On success *doc holds
 * the sections (free with it_toml_free); on failure it is left empty. */
int it_toml_parse(const char *data, size_t len, const char *what, struct it_toml_doc *doc,
                  it_error *err);

/* The header as written for messages: "[a.b]" / "[[a.b]]", or "the top level". Allocated. */
char *it_toml_section_name(const struct it_toml_section *s);

void it_toml_free(struct it_toml_doc *doc);

#endif
