/* Checking simple-signing signatures against policy requirements (spec §2.4, §6.6, §6.8).
 *
 * One signature is checked in upstream's order: the blob's shape (envelope.h), the OpenPGP
 * signature against a keyring made only from the requirement's keys (gpg.h), the payload
 * (payload.h), the manifest digest, then the signedIdentity rule. Each failure is a distinct,
 * one-line reason.
 */
#ifndef IMGTRUST_SIGCHECK_H
#define IMGTRUST_SIGCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "imgtrust/buf.h"
#include "imgtrust/digest.h"
#include "imgtrust/error.h"
#include "imgtrust/policy.h"
#include "imgtrust/ref.h"
#include "imgtrust/strv.h"

/* A signature blob and where it came from (a URL or path, for messages). Borrowed. */
struct it_sig_input {
        const uint8_t *data;
        size_t len;
        const char *source;
};

/* A signature blob that passed spec §2.4 steps 1–4: the shape, the OpenPGP signature against
 * the keyring (by a trusted key or a signing subkey of one), the payload, the manifest digest. */
struct it_sig_verified {
        char *primary_fpr;      /* owned */
        char *signer_fpr;       /* the key that signed: the primary or a subkey; owned */
        char *docker_reference; /* what the payload claims; owned */
        char *digest;           /* what the payload names; owned */
};

void sig_verified_free(struct it_sig_verified *v);

/* Steps 1–4 for one blob against keyring kr (a struct it_gpg_keyring from gpg.h). The identity
 * (step 5) is the caller's. 0 with *out filled (free with sig_verified_free); IT_EREJECTED with
 * the reason; IT_EIO when gpg cannot run. */
struct it_gpg_keyring;
int sig_verify_blob(struct it_gpg_keyring *kr, const void *blob, size_t len,
                    const struct it_digest *manifest_digest, struct it_sig_verified *out,
                    it_error *err);

/* Export the public keys named by fingerprints from the user's keyring ($GNUPGHOME) into out,
 * binary. IT_EREJECTED when none is there. */
int sig_export_user_keys(const struct it_strv *fprs, struct it_buf *out, it_error *err);

/* What was accepted: the facts of the first signature that satisfied a requirement. */
struct it_sig_accepted {
        char *primary_fpr;      /* owned */
        char *docker_reference; /* the identity the signature claims; owned */
        char *source;           /* owned */
};

void sig_accepted_free(struct it_sig_accepted *a);

/* Keyrings made for requirements, kept while the cache lives, so checking many images under one
 * policy imports each requirement's keys (and starts its gpgme context) once. May be NULL
 * wherever a cache is taken: every check then makes its own keyring. */
struct it_sig_cache;
struct it_sig_cache *sig_cache_new(void);
void sig_cache_free(struct it_sig_cache *c);

/* Check every signature against one signedBy requirement until one is accepted. `image` is the
 * image's Docker reference (NULL when it has none); `manifest_digest` the digest the signatures
 * must name. 0 with *accepted filled (may be NULL) when one passes; IT_EREJECTED otherwise with
 * one detail per signature in err ("signature-2 (URL): bad signature (data was altered)");
 * IT_EIO when gpg cannot run. */
int sig_check_signed_by(struct it_sig_cache *cache, const struct it_requirement *req,
                        const struct it_ref *image, const struct it_digest *manifest_digest,
                        const struct it_sig_input *sigs, size_t nsigs,
                        struct it_sig_accepted *accepted, it_error *err);

/* Admission (spec §6.8): every requirement of the evaluated list must allow the image, in
 * order, stopping at the first denial. 0 accepted; IT_EREJECTED with the requirement named in
 * the message and per-signature details; IT_EUNSUPPORTED for sigstoreSigned; IT_EIO. One line
 * per accepted signature is appended to `accepted_lines` (may be NULL). */
int sig_check_policy(struct it_sig_cache *cache, const struct it_eval *ev,
                     const struct it_image *img, const struct it_digest *manifest_digest,
                     const struct it_sig_input *sigs, size_t nsigs, struct it_strv *accepted_lines,
                     it_error *err);

#endif
