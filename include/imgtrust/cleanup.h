/* Scope-bound cleanup for locals, so every early return frees what the function owns. */
#ifndef IMGTRUST_CLEANUP_H
#define IMGTRUST_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgtrust/error.h"

static inline void it_freep(void *p)
{
        free(*(void **)p);
}
static inline void it_closep(int *fd)
{
        if (*fd >= 0)
                close(*fd);
}
static inline void it_fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

/* Free a secret (password, token, "user:password") after overwriting it, so it does not linger in
 * freed memory. NULL is fine. */
static inline void it_secret_free(char *s)
{
        if (s) {
                explicit_bzero(s, strlen(s));
                free(s);
        }
}
static inline void it_secret_freep(char **s)
{
        it_secret_free(*s);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_secret_ _cleanup_(it_secret_freep)
#define _cleanup_free_ _cleanup_(it_freep)
#define _cleanup_close_ _cleanup_(it_closep)
#define _cleanup_fclose_ _cleanup_(it_fclosep)
#define _cleanup_error_ _cleanup_(it_error_clear)

/* Hand ownership out of a cleanup-managed local. */
#define IT_STEAL(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) it_steal_tmp_ = (p);                                                 \
                (p) = NULL;                                                                        \
                it_steal_tmp_;                                                                     \
        })
#define IT_STEAL_FD(fd)                                                                            \
        ({                                                                                         \
                int it_steal_fd_ = (fd);                                                           \
                (fd) = -1;                                                                         \
                it_steal_fd_;                                                                      \
        })

#endif
