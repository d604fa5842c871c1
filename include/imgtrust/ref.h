/* Image references (docker/distribution grammar, containers/image normalisation; spec §1). */
#ifndef IMGTRUST_REF_H
#define IMGTRUST_REF_H

#include <stdbool.h>

#include "imgtrust/error.h"
#include "imgtrust/strv.h"

#define IT_REF_NAME_MAX 255
#define IT_REF_TAG_MAX 128
#define IT_REF_INPUT_MAX 4096

struct it_ref {
        char *domain; /* "docker.io", "localhost:5000", "Example.COM" (case kept) */
        char *path;   /* "library/busybox" */
        char *tag;    /* NULL when untagged */
        char *digest; /* NULL when undigested; validated by digest_parse */
};

#define IT_REF_INIT                                                                                \
        {                                                                                          \
                0                                                                                  \
        }

/* Normalise as ParseNormalizedNamed (spec §1.2): docker.io and library/ implied, index.docker.io
 * rewritten, uppercase path refused, 64-hex strings refused, name at most 255 characters. No tag
 * is added. Fills *out with allocated strings (free with ref_free). IT_EINPUT on error. */
int ref_parse_normalized(const char *s, struct it_ref *out, it_error *err);
/* As above, but `s` must already be in canonical form (ParseNamed): "busybox" is refused. */
int ref_parse_canonical(const char *s, struct it_ref *out, it_error *err);
/* Add ":latest" when there is neither tag nor digest (TagNameOnly). */
void ref_tag_default(struct it_ref *r);
bool ref_is_name_only(const struct it_ref *r);

/* Allocated strings; caller frees. */
char *ref_name(const struct it_ref *r);     /* domain/path */
char *ref_string(const struct it_ref *r);   /* name[:tag][@digest] */
char *ref_familiar(const struct it_ref *r); /* busybox:latest, for display only */

/* Policy identity (spec §1.3): name:tag, or name@digest when digested (tag ignored then).
 * Allocated. */
char *ref_policy_identity(const struct it_ref *r);
/* Policy namespaces in search order (spec §1.3), appended to *out. */
void ref_policy_namespaces(const struct it_ref *r, struct it_strv *out);

void ref_copy(struct it_ref *dst, const struct it_ref *src);
void ref_free(struct it_ref *r);

#define _cleanup_ref_ __attribute__((cleanup(ref_free)))

#endif
