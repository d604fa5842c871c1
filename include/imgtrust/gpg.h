/* The OpenPGP layer of simple signing (spec 2.1, 2.4 steps 1-2, 2.5), through gpgme.
 *
 * Verification happens in a private keyring: a temporary GNUPGHOME (mode 0700, "no-autostart", so
 * no gpg-agent is ever started for it) holding only the keys a caller imported, removed when the
 * keyring is freed. The user's GNUPGHOME is never read or written. One keyring keeps one gpgme
 * context, so verifying many signatures pays the set-up once; each verification still runs one
 * gpg process (that is how gpgme works).
 *
 * Signing happens in the user's keyring ($GNUPGHOME, default ~/.gnupg), as skopeo does.
 *
 * Neither parses the signed payload: callers get its bytes and the facts about the signer.
 */
#ifndef IMGTRUST_GPG_H
#define IMGTRUST_GPG_H

#include <stddef.h>
#include <stdint.h>

#include "imgtrust/buf.h"
#include "imgtrust/error.h"
#include "imgtrust/strv.h"

/* Largest signature blob looked at (the lookaside limit of spec 4.2). */
#define IT_GPG_BLOB_MAX (4u << 20)
/* Largest signed payload kept; gpg's output beyond it is refused while it is being produced, so
 * memory stays bounded whatever the blob decompresses to. */
#define IT_GPG_PAYLOAD_MAX (1u << 20)
/* Largest key material imported in one call. */
#define IT_GPG_KEYS_MAX (8u << 20)

/* A private verification keyring. Opaque; one per trust requirement. Not thread-safe. */
struct it_gpg_keyring;

/* Create an empty keyring in a fresh temporary GNUPGHOME under $TMPDIR (or /tmp). Allocates
 * *out; free it with it_gpg_keyring_free(). IT_EIO when gpg cannot be set up. */
int it_gpg_keyring_new(struct it_gpg_keyring **out, it_error *err);

/* Import key material (armored or binary, several keys allowed) into kr. The primary-key
 * fingerprints gpg reports as imported (including unchanged duplicates) join kr's trusted set and,
 * when `imported` is not NULL, are appended to it (uppercase hex). Data holding no key is not an
 * error here (nothing is added); callers decide. IT_EINPUT for data gpg refuses outright or larger
 * than IT_GPG_KEYS_MAX. */
int it_gpg_keyring_import(struct it_gpg_keyring *kr, const void *data, size_t len,
                          struct it_strv *imported, it_error *err);

/* The trusted set: every primary fingerprint imported so far. Owned by kr. */
const struct it_strv *it_gpg_keyring_trusted(const struct it_gpg_keyring *kr);

/* The keyring's GNUPGHOME (for diagnostics and tests). Owned by kr. */
const char *it_gpg_keyring_home(const struct it_gpg_keyring *kr);

/* A keyring over the user's own GNUPGHOME (nothing imported, nothing removed) whose trusted set
 * is `trusted` (primary fingerprints, copied): for checking a signature just made with a key of
 * that keyring as a consumer holding its public key would. Allocates *out. */
int it_gpg_keyring_user(const struct it_strv *trusted, struct it_gpg_keyring **out, it_error *err);

/* Release the gpgme context and remove the temporary home recursively. NULL is fine. */
void it_gpg_keyring_free(struct it_gpg_keyring *kr);

struct it_gpg_result {
        struct it_buf payload; /* the signed literal data, NUL-terminated (not counted) */
        char *signer_fpr;      /* key that made the signature: the primary or a signing subkey */
        char *primary_fpr;     /* its primary key, a member of the trusted set */
        char *key_id;          /* last 16 hex digits of signer_fpr, for display only */
        int64_t timestamp;     /* signature creation time, seconds since the epoch */
};

#define IT_GPG_RESULT_INIT                                                                         \
        {                                                                                          \
                .payload = IT_BUF_INIT                                                             \
        }

void it_gpg_result_free(struct it_gpg_result *res);

/* Verify one binary OpenPGP signed message (spec 2.4 steps 1 and 2) against kr. On success res is
 * filled (allocated; the caller frees it with it_gpg_result_free()). IT_EREJECTED for anything
 * about the blob or the key that made it, with a one-line reason: "no public key for key ID X (not
 * a trusted key)", "bad signature (data was altered)", "signature made by key X has expired", "key
 * X is revoked", "key X has expired", "signed by key X, which is not trusted here", more than one
 * signature, an oversized blob or payload, an armored or clear-signed blob, .... IT_EIO when gpg
 * cannot be run. */
int it_gpg_verify(struct it_gpg_keyring *kr, const void *blob, size_t len,
                  struct it_gpg_result *res, it_error *err);

/* Sign payload with the secret key key_spec (anything gpg accepts; it must name exactly one
 * secret key) from the user's keyring, producing a binary signed message (not armored, not text
 * mode) appended to out_blob. The primary key signs when it can, so that consumers that refuse
 * subkey signatures (skopeo 1.9.3, podman 4.3) accept the result; otherwise its signing subkey
 * signs and a warning saying so is pushed to warnings (which may be NULL). passphrase NULL leaves
 * unlocking to gpg-agent; otherwise it is given through loopback pinentry and a wrong one fails.
 * IT_EINPUT for a missing or ambiguous key, a key that cannot sign, a wrong passphrase; IT_EIO
 * when gpg cannot be run. */
int it_gpg_sign(const char *key_spec, const void *payload, size_t len, const char *passphrase,
                struct it_buf *out_blob, struct it_strv *warnings, it_error *err);

/* The same in two steps, for signing several payloads with one key: the secret key is looked
 * up (and checked, with it_gpg_sign's errors) once, in it_gpg_signer_new, which allocates *out;
 * the passphrase is copied. A signer is not thread-safe. */
struct it_gpg_signer;
int it_gpg_signer_new(const char *key_spec, const char *passphrase, struct it_gpg_signer **out,
                      it_error *err);
/* The primary fingerprint (uppercase hex). Owned by s. */
const char *it_gpg_signer_fpr(const struct it_gpg_signer *s);
int it_gpg_signer_sign(struct it_gpg_signer *s, const void *payload, size_t len,
                       struct it_buf *out_blob, struct it_strv *warnings, it_error *err);
void it_gpg_signer_free(struct it_gpg_signer *s);

/* skopeo's --passphrase-file: the file's first line, without its '\n'. Allocates *out. */
int it_gpg_passphrase_file(const char *path, char **out, it_error *err);

/* Initialise gpgme once per process (thread-safe). gpgme would otherwise run gpgconf several
 * times to find gpg; the engine is taken from its built-in default instead, so starting costs
 * one `gpg --version`. 0, or IT_EIO when no usable gpg is there. Every gpgme user calls this. */
int it_gpgme_init(it_error *err);

/* A fresh private GNUPGHOME (mode 0700, gpg.conf "no-autostart") under $TMPDIR or /tmp.
 * Allocates *out (the path). */
int it_gpg_home_new(char **out, it_error *err);
/* Remove such a home and everything gpg put in it. IT_EIO if something is left. */
int it_gpg_home_remove(const char *dir, it_error *err);

#endif
