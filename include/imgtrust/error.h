/* One error type for the whole library.
 *
 * A failing function fills *err (message and code) and returns the negative code; each caller on
 * the way up may add context with it_error_wrap(), so the user reads an account from the outside
 * in: "docker://x/y:1: scope \"x\": keyPath: cannot read /k.gpg: No such file or directory".
 * Details are extra lines (one per signature tried, per finding) printed below the main line.
 */
#ifndef IMGTRUST_ERROR_H
#define IMGTRUST_ERROR_H

#include <stdarg.h>
#include <stddef.h>

/* Negative codes returned by library functions; the CLI maps them to exit codes. */
enum it_code {
        IT_OK = 0,
        IT_EREJECTED = -1,   /* policy or signature said no: exit 1 */
        IT_EINPUT = -2,      /* bad usage, file, field or reference: exit 2 */
        IT_EIO = -3,         /* I/O, network, system call: exit 3 */
        IT_EUNSUPPORTED = -4 /* valid but not implemented here: exit 2 */
};

/* CLI exit codes (documented in every man page). */
enum it_exit {
        IT_EXIT_OK = 0,
        IT_EXIT_REJECTED = 1,
        IT_EXIT_INPUT = 2,
        IT_EXIT_IO = 3,
        IT_EXIT_SIGNATURES_REQUIRED = 10 /* imgtrust check only */
};

#define IT_ERROR_MAX_CTX 16

typedef struct it_error {
        int code;                    /* enum it_code, 0 when no error is set */
        int sys_errno;               /* errno of the failing call, or 0 */
        char *msg;                   /* innermost message; owned */
        char *ctx[IT_ERROR_MAX_CTX]; /* contexts, innermost first; owned */
        size_t nctx;
        char **details; /* extra lines; owned */
        size_t ndetails;
} it_error;

#define IT_ERROR_INIT                                                                              \
        {                                                                                          \
                0                                                                                  \
        }

/* Set the error (replacing any previous one) and return code. */
int it_error_set(it_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, appending ": strerror(errnum)" and keeping errnum. */
int it_error_sys(it_error *err, int code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Add a context prefix; returns err->code so callers can `return it_error_wrap(...)`. */
int it_error_wrap(it_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Add a detail line below the main message. */
void it_error_detail(it_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Free what err holds and reset it to IT_ERROR_INIT. */
void it_error_clear(it_error *err);
/* Move src into *dst (dst cleared first); src is left empty. */
void it_error_move(it_error *dst, it_error *src);

/* The main line, outermost context first: "ctxN: ...: ctx1: msg". Allocated; caller frees. */
char *it_error_format(const it_error *err);
/* Print "prog: <main line>" and then each detail indented by two spaces, to stderr. */
void it_error_print(const char *prog, const it_error *err);
/* Exit code for a library return code (0, or enum it_code). */
int it_error_exit_code(int code);

#endif
