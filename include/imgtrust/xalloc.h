/* Allocation that cannot fail: running out of memory aborts, as in git. Bounded inputs keep every
 * allocation small, so an allocation failure means the machine is in trouble, not bad input. */
#ifndef IMGTRUST_XALLOC_H
#define IMGTRUST_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
