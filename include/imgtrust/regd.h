/* registries.d, the YAML files of one directory: where signatures are read from and written
 * to (spec §4.4, §5). */
#ifndef IMGTRUST_REGD_H
#define IMGTRUST_REGD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "imgtrust/error.h"
#include "imgtrust/ref.h"

#define IT_REGD_FILE_MAX (1u << 20)

struct it_regd_section {
        char *lookaside;
        char *lookaside_staging;
        char *sigstore;               /* deprecated alias of lookaside */
        char *sigstore_staging;       /* deprecated alias of lookaside-staging */
        int use_sigstore_attachments; /* -1 unset, 0, 1 */
        char *file;                   /* the file it came from */
};

struct it_regd_scope {
        char *scope;
        struct it_regd_section sec;
};

struct it_regd {
        char *dir;
        bool has_default;
        struct it_regd_section default_docker;
        struct it_regd_scope *scopes;
        size_t nscopes;
};

#define IT_REGD_INIT                                                                               \
        {                                                                                          \
                0                                                                                  \
        }

/* Read every *.yaml of dir (a missing dir is an empty configuration). A scope (or default-docker)
 * in two files is IT_EINPUT naming both files. */
int regd_load_dir(const char *dir, struct it_regd *out, it_error *err);
/* Merge one file's contents into *into; `file` names it in messages. Strict YAML: duplicate keys
 * and wrong types refused; unknown keys ignored as upstream does. */
int regd_parse(const char *data, size_t len, const char *file, struct it_regd *into, it_error *err);
void regd_free(struct it_regd *r);

enum it_regd_mode { IT_REGD_READ, IT_REGD_WRITE };

struct it_regd_choice {
        char *url; /* allocated base URL */
        const char
            *scope; /* section that supplied it: a scope, "default-docker", or NULL (built-in) */
        const char *key;  /* "lookaside", "lookaside-staging", ..., or NULL (built-in) */
        const char *file; /* file of that section, or NULL */
};

/* Base URL for a reference's signatures (identity, namespaces, default-docker, then the built-in
 * default for this user), falling through per key as containers/image does. */
int regd_lookaside(const struct it_regd *r, const struct it_ref *ref, enum it_regd_mode mode,
                   struct it_regd_choice *out, it_error *err);
void regd_choice_free(struct it_regd_choice *c);
/* The built-in default base for this user (allocated): file:///var/lib/containers/sigstore for
 * root, file://$HOME/.local/share/containers/sigstore otherwise. */
char *regd_builtin_default(void);
/* The same decision for a given effective UID and home directory (allocated): a home that is not
 * absolute (or NULL) is replaced by the passwd entry of euid, else "/"; the path is cleaned as
 * filepath.Join does and percent-encoded as url.URL.String does. */
char *regd_builtin_default_for(uid_t euid, const char *home);

/* use-sigstore-attachments for a reference: the most specific section (identity, namespaces,
 * default-docker) that sets it; false when none does. */
bool regd_use_sigstore_attachments(const struct it_regd *r, const struct it_ref *ref);

/* The STORE column of `podman image trust show` for a policy scope ("" for default rows):
 * podman's own lookup (exact key, then cut at the last '/', no wildcards, first section found
 * wins, else default-docker); lookaside, else sigstore; "" when none. Borrowed string. */
const char *regd_podman_store(const struct it_regd *r, const char *scope);

/* Lookaside URL of signature n (from 1) for repository path `repo_path` (no domain) and a digest:
 * base + "/" + path + "@" + alg + "=" + hex + "/signature-" + n, concatenated literally (spec
 * §4.1). The digest is validated first. Allocated in *out. A query or fragment of base stays at
 * the end, as url.URL puts it (the suffix goes into the path component). */
int regd_signature_url(const char *base, const char *repo_path, const char *digest, unsigned n,
                       char **out, it_error *err);

#endif
