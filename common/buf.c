#include "imgtrust/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/xalloc.h"

static void grow(struct it_buf *b, size_t extra)
{
        size_t need = b->len + extra + 1;
        if (need <= b->cap)
                return;
        size_t cap = b->cap ? b->cap : 64;
        while (cap < need)
                cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
}

void it_buf_add(struct it_buf *b, const void *p, size_t n)
{
        grow(b, n);
        if (n)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
}

void it_buf_adds(struct it_buf *b, const char *s)
{
        it_buf_add(b, s, strlen(s));
}

void it_buf_addch(struct it_buf *b, char c)
{
        it_buf_add(b, &c, 1);
}

void it_buf_vaddf(struct it_buf *b, const char *fmt, va_list ap)
{
        va_list cp;
        va_copy(cp, ap);
        int n = vsnprintf(NULL, 0, fmt, cp);
        va_end(cp);
        if (n <= 0)
                return;
        grow(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        b->len += (size_t)n;
}

void it_buf_addf(struct it_buf *b, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        it_buf_vaddf(b, fmt, ap);
        va_end(ap);
}

const char *it_buf_str(const struct it_buf *b)
{
        return b->data ? b->data : "";
}

void it_buf_reset(struct it_buf *b)
{
        b->len = 0;
        if (b->data)
                b->data[0] = '\0';
}

char *it_buf_detach(struct it_buf *b)
{
        char *s = b->data ? b->data : xstrdup("");
        b->data = NULL;
        b->len = b->cap = 0;
        return s;
}

void it_buf_free(struct it_buf *b)
{
        free(b->data);
        b->data = NULL;
        b->len = b->cap = 0;
}

void it_buf_add_quoted(struct it_buf *b, const char *s, size_t n, size_t max)
{
        size_t start = b->len, i;
        it_buf_addch(b, '"');
        for (i = 0; i < n && b->len - start <= max; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == '"' || c == '\\')
                        it_buf_addf(b, "\\%c", c);
                else if (c < 0x20 || c >= 0x7f)
                        it_buf_addf(b, "\\x%02x", c);
                else
                        it_buf_addch(b, (char)c);
        }
        it_buf_addch(b, '"');
        if (i < n)
                it_buf_adds(b, "...");
}

char *it_quoten(const char *s, size_t n, size_t max)
{
        struct it_buf b = IT_BUF_INIT;
        it_buf_add_quoted(&b, s, n, max);
        return it_buf_detach(&b);
}

char *it_quote(const char *s, size_t max)
{
        return it_quoten(s, strlen(s), max);
}
