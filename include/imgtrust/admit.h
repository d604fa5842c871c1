/* Admission: the policy.json decision for one image reference, with its signatures checked against
 * the manifest that would be pulled (imgverify's policy mode, and imgpull before it writes
 * anything). */
#ifndef IMGTRUST_ADMIT_H
#define IMGTRUST_ADMIT_H

#include <jansson.h>
#include <stdbool.h>

#include "imgtrust/buf.h"
#include "imgtrust/digest.h"
#include "imgtrust/error.h"
#include "imgtrust/policy.h"
#include "imgtrust/ref.h"
#include "imgtrust/regd.h"
#include "imgtrust/sigcheck.h"
#include "imgtrust/strv.h"

struct it_admit_opts {
        const char *manifest_file; /* check this file instead of fetching (imgverify --manifest) */
        const char *creds;         /* --creds or NULL */
        const char *authfile;      /* --authfile or NULL */
        int tls_flag;              /* -1 not given (registries.conf decides), 0 false, 1 true */
        bool tls_verify;           /* for the lookaside */
        /* Platform chosen from a manifest list (manifest_list_choose: NULL = its defaults). */
        const char *os, *arch, *variant;
        /* Fetch the manifest even when the policy needs no signature (a pull needs it). */
        bool always_fetch;
};

/* What admit_image() learned; admit_result_free() frees it. */
struct it_admit_result {
        struct it_ref ref; /* the Docker reference, tag defaulted (when has_ref) */
        bool has_ref;
        bool fetched;            /* manifest, media_type and digest are set */
        struct it_buf manifest;  /* the image manifest checked (for a list: the chosen instance) */
        char *media_type;        /* its media type (allocated) or NULL when unknown */
        struct it_digest digest; /* its digest: the one the signatures were checked against */
        struct it_digest list_digest; /* the list's digest, when has_list */
        bool has_list;
        struct it_strv accepted; /* why it was accepted, one line each */
};

#define IT_ADMIT_RESULT_INIT                                                                       \
        {                                                                                          \
                0                                                                                  \
        }

/* Decide refstr ("docker://..." or any transport policy_image_parse knows): evaluate pol, fetch
 * the manifest when signatures are needed (or o->always_fetch), for a list the instance for the
 * platform, read its signatures from the lookaside regd names and check them (sig_check_policy).
 * Returns 0 accepted, IT_EREJECTED, IT_EINPUT, IT_EIO (IT_EUNSUPPORTED passes through). out (may
 * be NULL) receives the JSON account imgverify --json prints: identity, scope, requirements,
 * digest, lookaside, accepted_by. res (may be NULL) is filled as far as the decision got. */
int admit_image(const struct it_admit_opts *o, struct it_sig_cache *cache,
                const struct it_policy *pol, const struct it_regd *regd, const char *refstr,
                json_t *out, struct it_admit_result *res, it_error *err);

void admit_result_free(struct it_admit_result *r);

#endif
