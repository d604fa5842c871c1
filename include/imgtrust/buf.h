/* A growing byte buffer, always NUL-terminated, for building strings and collecting bodies. */
#ifndef IMGTRUST_BUF_H
#define IMGTRUST_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct it_buf {
        char *data; /* NULL until something is added; then NUL-terminated */
        size_t len;
        size_t cap;
};

#define IT_BUF_INIT                                                                                \
        {                                                                                          \
                0                                                                                  \
        }

void it_buf_add(struct it_buf *b, const void *p, size_t n);
void it_buf_adds(struct it_buf *b, const char *s);
void it_buf_addch(struct it_buf *b, char c);
void it_buf_addf(struct it_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void it_buf_vaddf(struct it_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* "" when empty, never NULL. */
const char *it_buf_str(const struct it_buf *b);
void it_buf_reset(struct it_buf *b);
/* Hand the string to the caller (who frees it); the buffer is left empty. Never NULL. */
char *it_buf_detach(struct it_buf *b);
void it_buf_free(struct it_buf *b);

/* Outside input in a one-line message: s[0..n) in double quotes, `"` and `\` escaped, bytes
 * outside printable ASCII as \xNN, cut with "..." once `max` characters have been written. */
void it_buf_add_quoted(struct it_buf *b, const char *s, size_t n, size_t max);
/* The same as a new string (allocated); it_quote takes a NUL-terminated string. */
char *it_quoten(const char *s, size_t n, size_t max);
char *it_quote(const char *s, size_t max);

#define _cleanup_buf_ __attribute__((cleanup(it_buf_free)))

#endif
