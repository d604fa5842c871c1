/* The OpenPGP envelope of a simple-signing signature (spec §2.1, §4.6), checked without gpgme.
 *
 * A stored signature blob is sniffed first (tagged `\0name\n` prefix, armor, clear-signing), then
 * its packets are walked strictly: optionally one Compressed Data packet wrapping — or directly —
 * [One-Pass Signature] Literal Data Signature, with exactly one Signature packet and nothing
 * before or after. This is a shape check only; the signature is verified by gpgme afterwards, and
 * the payload must not be trusted (or parsed) before that verification succeeds.
 */
#ifndef IMGTRUST_ENVELOPE_H
#define IMGTRUST_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgtrust/error.h"

/* Largest signature blob read (same bound as a lookaside signature over HTTP). */
#define IT_SIG_BLOB_MAX ((size_t)4 << 20)
/* Largest payload (literal data content), and so the most a compressed message inflates to. */
#define IT_SIG_PAYLOAD_MAX ((size_t)1 << 20)

enum sig_blob_kind {
        SIG_BLOB_SIMPLE_SIGNING, /* raw OpenPGP bytes (or `\0simple-signing\n` + them) */
        SIG_BLOB_SIGSTORE,       /* `\0sigstore-json\n` + JSON */
};

/* Sniff a stored blob per §4.6, classifying exactly as containers/image does (a blob that fails
 * here fails the whole signature read upstream; callers do the same). On success *kind is set and
 * *body and *body_len point into blob past any tagged prefix. Empty, armored, clear-signed, unknown
 * tagged and unrecognized blobs are IT_EINPUT, each with its own message. */
int sig_blob_sniff(const void *blob, size_t len, enum sig_blob_kind *kind, const uint8_t **body,
                   size_t *body_len, it_error *err);

struct sig_envelope {
        uint8_t *payload;    /* literal data content; owned, NUL-terminated (not counted) */
        size_t payload_len;  /* at most IT_SIG_PAYLOAD_MAX */
        char literal_format; /* 'b', 't' or 'u' */
        char *literal_name;  /* literal data file name up to any NUL; owned, usually "" */
        int compression;     /* -1 when not compressed, else the algorithm (0, 1 ZIP, 2 ZLIB) */
        /* Issuer from the Signature packet for diagnostics only (unverified): uppercase hex
         * fingerprint (issuer fingerprint subpacket) or 16-digit key ID; "" when not found. */
        char issuer[65];
};

/* Check that blob is a simple-signing blob holding exactly one signed message with exactly one
 * signature, and copy its literal data into out (the caller calls sig_envelope_free(), also
 * after a failure). Errors: IT_EINPUT with a one-line reason starting "signature: ";
 * (ZIP, ZLIB and BZip2 compression are read.) Blobs over IT_SIG_BLOB_MAX are refused, and
 * inflating stops (and fails) just past IT_SIG_PAYLOAD_MAX. */
int sig_envelope_check(const void *blob, size_t len, struct sig_envelope *out, it_error *err);
void sig_envelope_free(struct sig_envelope *env);

#endif
