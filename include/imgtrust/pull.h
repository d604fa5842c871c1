/* Pulling an image from a registry into the store (issue 6): the policy decides, with signatures
 * checked against the manifest that will be pulled, before anything is written; then the config,
 * then the missing layers in parallel, each unpacked into a store transaction, and the image
 * record.
 *
 * Owners (runtime-storage.md §3): root applies the tar's IDs. A user with a subordinate range in
 * /etc/subuid and /etc/subgid unpacks in a user namespace with podman's mapping (userns_run), so
 * the tar's IDs land on the subordinate host IDs; an ID the mapping lacks stops the layer at its
 * entry with the /etc/subuid line that fixes it. A user without a range gets every file owned by
 * themselves and a warning in the result (whiteouts, 0/0 character devices, then need
 * Linux >= 5.8).
 */
#ifndef IMGTRUST_PULL_H
#define IMGTRUST_PULL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgtrust/digest.h"
#include "imgtrust/error.h"
#include "imgtrust/push.h"
#include "imgtrust/strv.h"
#include "imgtrust/unpack.h"

/* A config blob larger than this is refused (containers/image allows 4 MiB for manifests; configs
 * with long histories are larger, but not by orders of magnitude). */
#define IT_PULL_CONFIG_MAX (16u << 20)
/* Layers in one manifest. */
#define IT_PULL_LAYERS_MAX 1000

struct it_pull_opts {
        const char *policy;   /* policy.json, or NULL for the default (it_path_policy) */
        const char *regd;     /* registries.d, or NULL for the default */
        const char *root;     /* store root, or NULL for store_default_root() */
        const char *creds;    /* --creds or NULL */
        const char *authfile; /* --authfile or NULL */
        int tls_flag;         /* -1 not given, 0 --tls-verify=false, 1 true */
        /* Platform for a manifest list; NULL: linux, the host's architecture, any variant. */
        const char *os, *arch, *variant;
        int jobs; /* parallel layer downloads; <= 0: the number of online CPUs */
        /* Subordinate ID files; NULL: /etc/subuid, /etc/subgid (tests point elsewhere). */
        const char *subuid, *subgid;
        /* Layer limits; NULL: unpack_limits_default(). Borrowed. */
        const struct it_unpack_limits *limits;
        /* Called about every progress_ms (<= 0: 200) while layers move, from the process doing
         * the work (in a user namespace: the namespace's child, which shares stderr), with one
         * entry per layer (IT_PUSH_EXISTS for a layer already stored, FETCHING, DONE, FAILED);
         * once more with final set after the last. */
        it_push_progress_fn progress;
        void *progress_ctx;
        long progress_ms;
};

struct it_pull_result {
        char id[IT_DIGEST_STR_MAX];     /* "sha256:<config hex>" */
        char digest[IT_DIGEST_STR_MAX]; /* the manifest pulled (a list's chosen instance) */
        char *name;                     /* the fully qualified reference recorded (allocated) */
        struct it_strv layers;          /* chain IDs, base first */
        size_t fetched;                 /* layers downloaded and unpacked */
        size_t present;                 /* layers already in the store */
        int64_t fetched_bytes;          /* compressed bytes downloaded */
        char *warning;                  /* something the user should know (allocated), or NULL */
};

#define IT_PULL_RESULT_INIT                                                                        \
        {                                                                                          \
                .name = NULL, .warning = NULL                                                      \
        }

void pull_result_free(struct it_pull_result *r);

/* Parse "OS/ARCH[/VARIANT]" strictly: 2 or 3 non-empty components of [a-z0-9_.-]. The strings
 * are allocated (variant NULL when absent). IT_EINPUT otherwise. */
int pull_parse_platform(const char *s, char **os, char **arch, char **variant, it_error *err);

/* Pull refstr ("docker://REF"; the tag defaults to latest). Returns 0, IT_EREJECTED (policy or
 * signatures; nothing written, the store is not even opened), IT_EINPUT, IT_EUNSUPPORTED or
 * IT_EIO. Each layer streams from the registry into the unpacker (no copy on disk), both digests
 * checked on the way; a download that breaks off is retried once from the start; the transactions
 * are committed only when every layer succeeded, so a failed pull commits no layer. *res is
 * filled on success (warning possibly also on failure). */
int pull_image(const struct it_pull_opts *o, const char *refstr, struct it_pull_result *res,
               it_error *err);

#endif
