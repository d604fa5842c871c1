#include "imgtrust/strv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/xalloc.h"

void it_strv_take(struct it_strv *s, char *str)
{
        if (s->n + 2 > s->cap) {
                s->cap = s->cap ? s->cap * 2 : 8;
                s->v = xrealloc(s->v, s->cap * sizeof *s->v);
        }
        s->v[s->n++] = str;
        s->v[s->n] = NULL;
}

void it_strv_push(struct it_strv *s, const char *str)
{
        it_strv_take(s, xstrdup(str));
}

void it_strv_pushf(struct it_strv *s, const char *fmt, ...)
{
        va_list ap;
        char *str = NULL;
        va_start(ap, fmt);
        int r = vasprintf(&str, fmt, ap);
        va_end(ap);
        if (r < 0) {
                fputs("imgtrust: out of memory\n", stderr);
                abort();
        }
        it_strv_take(s, str);
}

bool it_strv_contains(const struct it_strv *s, const char *str)
{
        for (size_t i = 0; i < s->n; i++)
                if (strcmp(s->v[i], str) == 0)
                        return true;
        return false;
}

void it_strv_free(struct it_strv *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        s->v = NULL;
        s->n = s->cap = 0;
}
