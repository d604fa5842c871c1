/* A growing list of owned strings. */
#ifndef IMGTRUST_STRV_H
#define IMGTRUST_STRV_H

#include <stdbool.h>
#include <stddef.h>

struct it_strv {
        char **v; /* NULL-terminated once anything is added */
        size_t n;
        size_t cap;
};

#define IT_STRV_INIT                                                                               \
        {                                                                                          \
                0                                                                                  \
        }

void it_strv_push(struct it_strv *s, const char *str); /* copies str */
void it_strv_take(struct it_strv *s, char *str);       /* takes ownership of str */
void it_strv_pushf(struct it_strv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool it_strv_contains(const struct it_strv *s, const char *str);
void it_strv_free(struct it_strv *s);

#define _cleanup_strv_ __attribute__((cleanup(it_strv_free)))

#endif
