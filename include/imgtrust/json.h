/* Strict JSON in, podman-compatible JSON out.
 *
 * Every JSON document from outside is read through it_json_parse(): size-bounded, duplicate keys
 * refused, invalid UTF-8 and NUL in strings refused, nothing allowed after the top-level value.
 */
#ifndef IMGTRUST_JSON_H
#define IMGTRUST_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "imgtrust/buf.h"
#include "imgtrust/error.h"

/* Parse len bytes named `what` (a file name, for messages). On success *out holds a new
 * reference the caller must json_decref(). Errors are IT_EINPUT and name what, line and column. */
int it_json_parse(const char *data, size_t len, size_t max, const char *what, json_t **out,
                  it_error *err);

/* Append a member to a JSON path used in messages: `.key` for plain identifiers, `["key"]`
 * otherwise (scopes contain dots and slashes). */
void it_json_path_key(struct it_buf *path, const char *key);
void it_json_path_index(struct it_buf *path, size_t i);

/* Serialise as Go's json.MarshalIndent does (what podman writes): `indent` spaces per level,
 * `<`, `>`, `&`, U+2028 and U+2029 escaped as \uXXXX, members in the order the object holds them,
 * no trailing newline. */
/* One JSON string as Go's encoding/json writes it (json.Marshal: HTML escaping on, U+2028/9
 * escaped, invalid UTF-8 as \ufffd), quotes included. */
void it_json_write_go_string(struct it_buf *out, const char *s, size_t len);

void it_json_write_go(struct it_buf *out, const json_t *v, int indent);

/* Name of a JSON type for messages ("string", "array", ...). */
const char *it_json_type_name(const json_t *v);

#define _cleanup_json_ __attribute__((cleanup(it_json_decrefp)))
static inline void it_json_decrefp(json_t **j)
{
        if (*j)
                json_decref(*j);
}

#endif
