/* Signing pushed manifests and publishing the signatures where consumers look: sign each digest
 * with each key, append to the lookaside staging location of the destination (file:// or, by
 * HTTP PUT, http(s)://), then read each signature back from the location registries.d gives
 * consumers and verify it as they would. */
#ifndef IMGTRUST_PUBLISH_H
#define IMGTRUST_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

#include "imgtrust/digest.h"
#include "imgtrust/error.h"
#include "imgtrust/ref.h"
#include "imgtrust/regd.h"
#include "imgtrust/strv.h"

struct it_gpg_signer;

struct it_publish_opts {
        const struct it_regd *regd; /* where signatures go and are read from */
        const struct it_ref *dest;  /* the image's location (registries.d is looked up by it) */
        const char *identity;       /* the docker-reference signed (canonical, tag or digest) */
        struct it_gpg_signer *const *signers; /* gpg.h; borrowed */
        size_t nsigners;
        /* http(s) lookaside: "user:password" (never the registry's) or NULL: the auth file entry
         * for the lookaside host (authfile NULL: default locations). */
        const char *lookaside_creds;
        const char *authfile;
        bool tls_verify; /* for https lookasides */
};

struct it_published {
        struct it_digest digest;
        char *key_fpr;  /* primary fingerprint of the signer */
        char *written;  /* staging path or URL written */
        char *read_url; /* where consumers read it */
        unsigned index; /* the N of signature-N */
};

struct it_publish_result {
        struct it_published *v;
        size_t n;
};

/* What publish_signatures will need, checked before anything is pushed: the staging location
 * and, for an http(s) one, the lookaside credentials (a missing explicit auth file fails). */
int publish_check(const struct it_publish_opts *o, it_error *err);

/* Sign every digest with every key and append the signatures to the staging location; results in
 * order (digest-major). Warnings (a subkey signed) are appended to warnings (may be NULL). On
 * failure the signatures already appended stay where they are, listed in *res. */
int publish_signatures(const struct it_publish_opts *o, const struct it_digest *digests, size_t n,
                       struct it_publish_result *res, struct it_strv *warnings, it_error *err);

/* Read every published signature back from the consumers' lookaside (registries.d's read
 * location for o->dest) and verify it as a consumer would: the same bytes at signature-N, the
 * OpenPGP signature by the signer's public key (in the user's keyring, with only the signer
 * trusted, as a consumer holding that key checks it), the payload's digest, and its identity
 * against o->identity (matchRepoDigestOrExact). Fills each read_url. IT_EREJECTED naming the URL
 * and the reason when one fails. */
int publish_verify(const struct it_publish_opts *o, struct it_publish_result *res, it_error *err);

void publish_result_free(struct it_publish_result *res);

#endif
