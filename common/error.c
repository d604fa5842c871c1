#include "imgtrust/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/buf.h"
#include "imgtrust/xalloc.h"

__attribute__((format(printf, 1, 0))) static char *vfmt(const char *fmt, va_list ap)
{
        struct it_buf b = IT_BUF_INIT;
        it_buf_vaddf(&b, fmt, ap);
        return it_buf_detach(&b);
}

void it_error_clear(it_error *err)
{
        if (!err)
                return;
        free(err->msg);
        for (size_t i = 0; i < err->nctx; i++)
                free(err->ctx[i]);
        for (size_t i = 0; i < err->ndetails; i++)
                free(err->details[i]);
        free(err->details);
        memset(err, 0, sizeof *err);
}

void it_error_move(it_error *dst, it_error *src)
{
        it_error_clear(dst);
        *dst = *src;
        memset(src, 0, sizeof *src);
}

int it_error_set(it_error *err, int code, const char *fmt, ...)
{
        it_error_clear(err);
        va_list ap;
        va_start(ap, fmt);
        err->msg = vfmt(fmt, ap);
        va_end(ap);
        err->code = code;
        return code;
}

int it_error_sys(it_error *err, int code, int errnum, const char *fmt, ...)
{
        it_error_clear(err);
        struct it_buf b = IT_BUF_INIT;
        va_list ap;
        va_start(ap, fmt);
        it_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        it_buf_addf(&b, ": %s", strerror(errnum));
        err->msg = it_buf_detach(&b);
        err->code = code;
        err->sys_errno = errnum;
        return code;
}

int it_error_wrap(it_error *err, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *c = vfmt(fmt, ap);
        va_end(ap);
        if (err->nctx < IT_ERROR_MAX_CTX)
                err->ctx[err->nctx++] = c;
        else
                free(c); /* deeper than any real call chain; the innermost contexts are kept */
        return err->code;
}

void it_error_detail(it_error *err, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *d = vfmt(fmt, ap);
        va_end(ap);
        err->details = xrealloc(err->details, (err->ndetails + 1) * sizeof *err->details);
        err->details[err->ndetails++] = d;
}

char *it_error_format(const it_error *err)
{
        struct it_buf b = IT_BUF_INIT;
        for (size_t i = err->nctx; i > 0; i--) {
                it_buf_adds(&b, err->ctx[i - 1]);
                it_buf_adds(&b, ": ");
        }
        it_buf_adds(&b, err->msg ? err->msg : "unknown error");
        return it_buf_detach(&b);
}

void it_error_print(const char *prog, const it_error *err)
{
        char *line = it_error_format(err);
        fprintf(stderr, "%s: %s\n", prog, line);
        free(line);
        for (size_t i = 0; i < err->ndetails; i++)
                fprintf(stderr, "  %s\n", err->details[i]);
}

int it_error_exit_code(int code)
{
        switch (code) {
        case IT_OK:
                return IT_EXIT_OK;
        case IT_EREJECTED:
                return IT_EXIT_REJECTED;
        case IT_EIO:
                return IT_EXIT_IO;
        default:
                return IT_EXIT_INPUT;
        }
}
