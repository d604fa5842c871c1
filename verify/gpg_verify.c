/* Verifying simple-signing blobs with gpgme in a private keyring (spec 2.4 steps 1-2, 2.5).
 *
 * Decisions use only gpgme's structured verify result, never gpg's text output. */
#include "imgtrust/gpg.h"
#include "imgtrust/gpgme_cleanup.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gpgme.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/xalloc.h"

struct it_gpg_keyring {
        char *home;
        gpgme_ctx_t ctx;
        struct it_strv trusted;
};

static int gpg_fail(it_error *err, int code, gpgme_error_t e, const char *what)
{
        return it_error_set(err, code, "%s: %s", what, gpgme_strerror(e));
}

/* gpgme errors that mean "gpg could not be run", as opposed to "gpg did not like the input". */
static bool engine_trouble(gpgme_error_t e)
{
        gpgme_err_code_t c = gpgme_err_code(e);
        return c == GPG_ERR_INV_ENGINE || c == GPG_ERR_ENGINE_TOO_OLD ||
               (c & GPG_ERR_SYSTEM_ERROR) != 0;
}

void it_gpg_keyring_free(struct it_gpg_keyring *kr)
{
        if (!kr)
                return;
        if (kr->ctx)
                gpgme_release(kr->ctx);
        if (kr->home) {
                _cleanup_error_ it_error ignored = IT_ERROR_INIT;
                it_gpg_home_remove(kr->home, &ignored);
                free(kr->home);
        }
        it_strv_free(&kr->trusted);
        free(kr);
}

static void keyring_freep(struct it_gpg_keyring **kr)
{
        it_gpg_keyring_free(*kr);
}

/* A keyring's gpgme context: home NULL is the user's own GNUPGHOME. */
static int keyring_ctx(struct it_gpg_keyring *kr, const char *home, it_error *err)
{
        gpgme_error_t e = gpgme_new(&kr->ctx);
        if (e)
                return gpg_fail(err, IT_EIO, e, "cannot start gpgme");
        e = gpgme_set_protocol(kr->ctx, GPGME_PROTOCOL_OpenPGP);
        if (!e && home)
                e = gpgme_ctx_set_engine_info(kr->ctx, GPGME_PROTOCOL_OpenPGP, NULL, home);
        if (!e)
                e = gpgme_set_keylist_mode(kr->ctx, GPGME_KEYLIST_MODE_LOCAL);
        if (e)
                return gpg_fail(err, IT_EIO, e, "cannot set up gpg");
        gpgme_set_armor(kr->ctx, 0);
        gpgme_set_textmode(kr->ctx, 0);
        gpgme_set_offline(kr->ctx, 1);
        return 0;
}

int it_gpg_keyring_new(struct it_gpg_keyring **out, it_error *err)
{
        *out = NULL;
        if (it_gpgme_init(err) != 0)
                return err->code;
        __attribute__((cleanup(keyring_freep))) struct it_gpg_keyring *kr = xcalloc(1, sizeof *kr);
        int rc = it_gpg_home_new(&kr->home, err);
        if (!rc)
                rc = keyring_ctx(kr, kr->home, err);
        if (rc)
                return rc;
        *out = IT_STEAL(kr);
        return 0;
}

static char *upper_dup(const char *s)
{
        char *u = xstrdup(s);
        for (char *p = u; *p; p++)
                *p = (char)toupper((unsigned char)*p);
        return u;
}

int it_gpg_keyring_user(const struct it_strv *trusted, struct it_gpg_keyring **out, it_error *err)
{
        *out = NULL;
        if (it_gpgme_init(err) != 0)
                return err->code;
        __attribute__((cleanup(keyring_freep))) struct it_gpg_keyring *kr = xcalloc(1, sizeof *kr);
        int rc = keyring_ctx(kr, NULL, err);
        if (rc)
                return rc;
        for (size_t i = 0; i < trusted->n; i++)
                it_strv_take(&kr->trusted, upper_dup(trusted->v[i]));
        *out = IT_STEAL(kr);
        return 0;
}

const struct it_strv *it_gpg_keyring_trusted(const struct it_gpg_keyring *kr)
{
        return &kr->trusted;
}

const char *it_gpg_keyring_home(const struct it_gpg_keyring *kr)
{
        return kr->home;
}

int it_gpg_keyring_import(struct it_gpg_keyring *kr, const void *data, size_t len,
                          struct it_strv *imported, it_error *err)
{
        if (len > IT_GPG_KEYS_MAX)
                return it_error_set(err, IT_EINPUT, "key data too large (%zu bytes; at most %u)",
                                    len, IT_GPG_KEYS_MAX);
        if (len == 0)
                return 0;
        _cleanup_gpgme_data_ gpgme_data_t in = NULL;
        gpgme_error_t e = gpgme_data_new_from_mem(&in, data, len, 0);
        if (e)
                return gpg_fail(err, IT_EIO, e, "cannot pass key data to gpg");
        e = gpgme_op_import(kr->ctx, in);
        if (gpgme_err_code(e) == GPG_ERR_NO_DATA)
                return 0; /* no OpenPGP data at all: zero keys, the caller decides */
        if (e)
                return gpg_fail(err, engine_trouble(e) ? IT_EIO : IT_EINPUT, e,
                                "cannot import keys");
        gpgme_import_result_t r = gpgme_op_import_result(kr->ctx);
        for (gpgme_import_status_t s = r ? r->imports : NULL; s; s = s->next) {
                if (gpgme_err_code(s->result) != GPG_ERR_NO_ERROR || !s->fpr || !*s->fpr)
                        continue;
                _cleanup_free_ char *fpr = upper_dup(s->fpr);
                if (imported && !it_strv_contains(imported, fpr))
                        it_strv_push(imported, fpr);
                if (!it_strv_contains(&kr->trusted, fpr))
                        it_strv_take(&kr->trusted, IT_STEAL(fpr));
        }
        return 0;
}

void it_gpg_result_free(struct it_gpg_result *res)
{
        if (!res)
                return;
        it_buf_free(&res->payload);
        free(res->signer_fpr);
        free(res->primary_fpr);
        free(res->key_id);
        memset(res, 0, sizeof *res);
}

/* gpg's output sink for the signed payload: refuses to grow past IT_GPG_PAYLOAD_MAX, which makes
 * the verify operation fail instead of buffering whatever a compressed packet expands to. */
struct capped_sink {
        struct it_buf *buf;
        bool overflow;
};

static ssize_t capped_write(void *handle, const void *p, size_t n)
{
        struct capped_sink *sink = handle;
        if (n > IT_GPG_PAYLOAD_MAX - sink->buf->len) {
                sink->overflow = true;
                errno = EFBIG;
                return -1;
        }
        it_buf_add(sink->buf, p, n);
        return (ssize_t)n;
}

/* gpg decides between binary and armored input from the first byte alone: a packet tag it
 * expects at the start of a message means binary; anything else makes it hunt for armor, and
 * clear-signed text would then verify. Require a tag that starts a signed message. */
static bool binary_message_start(uint8_t b)
{
        if (!(b & 0x80))
                return false;
        int tag = (b & 0x40) ? (b & 0x3f) : ((b >> 2) & 0x0f);
        return tag == 2 || tag == 4 || tag == 8 || tag == 10 || tag == 11;
}

static char *key_id_of(const char *fpr)
{
        size_t n = strlen(fpr);
        return upper_dup(n > 16 ? fpr + n - 16 : fpr);
}

/* Reasons for a signature gpg did not call good, most specific first. */
static int signature_problem(gpgme_signature_t s, const char *fpr, const char *key_id,
                             it_error *err)
{
        gpgme_err_code_t c = gpgme_err_code(s->status);
        if (c == GPG_ERR_NO_PUBKEY)
                return it_error_set(err, IT_EREJECTED,
                                    "no public key for key ID %s (not a trusted key)", key_id);
        if (c == GPG_ERR_BAD_SIGNATURE)
                return it_error_set(err, IT_EREJECTED, "bad signature (data was altered)");
        if (c == GPG_ERR_SIG_EXPIRED || (s->summary & GPGME_SIGSUM_SIG_EXPIRED))
                return it_error_set(err, IT_EREJECTED, "signature made by key %s has expired", fpr);
        if (c == GPG_ERR_CERT_REVOKED || (s->summary & GPGME_SIGSUM_KEY_REVOKED))
                return it_error_set(err, IT_EREJECTED, "key %s is revoked", fpr);
        if (c == GPG_ERR_KEY_EXPIRED || (s->summary & GPGME_SIGSUM_KEY_EXPIRED))
                return it_error_set(err, IT_EREJECTED, "key %s has expired", fpr);
        if (c != GPG_ERR_NO_ERROR)
                return it_error_set(err, IT_EREJECTED, "signature by key %s is not valid: %s", fpr,
                                    gpgme_strerror(s->status));
        if (s->wrong_key_usage)
                return it_error_set(err, IT_EREJECTED, "key %s is not allowed to make signatures",
                                    fpr);
        if (s->validity == GPGME_VALIDITY_NEVER)
                return it_error_set(err, IT_EREJECTED, "key %s is marked as never valid", fpr);
        if (s->validity_reason)
                return it_error_set(err, IT_EREJECTED, "key %s is not valid: %s", fpr,
                                    gpgme_strerror(s->validity_reason));
        return 0;
}

/* The trusted primary key behind signer fpr (itself, or the primary of the subkey fpr).
 * Allocates *primary. */
static int trusted_primary(struct it_gpg_keyring *kr, const char *fpr, char **primary,
                           it_error *err)
{
        *primary = NULL;
        if (it_strv_contains(&kr->trusted, fpr)) {
                *primary = xstrdup(fpr);
                return 0;
        }
        _cleanup_gpgme_key_ gpgme_key_t key = NULL;
        gpgme_error_t e = gpgme_get_key(kr->ctx, fpr, &key, 0);
        if (!e && key && key->subkeys && key->subkeys->fpr) {
                _cleanup_free_ char *p = upper_dup(key->subkeys->fpr);
                if (it_strv_contains(&kr->trusted, p)) {
                        *primary = IT_STEAL(p);
                        return 0;
                }
        }
        return it_error_set(err, IT_EREJECTED, "signed by key %s, which is not trusted here", fpr);
}

int it_gpg_verify(struct it_gpg_keyring *kr, const void *blob, size_t len,
                  struct it_gpg_result *res, it_error *err)
{
        memset(res, 0, sizeof *res);
        if (len == 0)
                return it_error_set(err, IT_EREJECTED, "signature is empty");
        if (len > IT_GPG_BLOB_MAX)
                return it_error_set(err, IT_EREJECTED,
                                    "signature too large (%zu bytes; at most %u)", len,
                                    IT_GPG_BLOB_MAX);
        if (!binary_message_start(*(const uint8_t *)blob))
                return it_error_set(err, IT_EREJECTED,
                                    "signature is not a binary OpenPGP message (armored, "
                                    "clear-signed or other data)");
        if (kr->trusted.n == 0)
                return it_error_set(err, IT_EREJECTED, "no public keys imported");

        /* Declared before the gpgme data objects, so they outlive them: gpgme borrows them. */
        _cleanup_buf_ struct it_buf payload = IT_BUF_INIT;
        struct capped_sink sink = {.buf = &payload};
        struct gpgme_data_cbs cbs = {.write = capped_write};
        _cleanup_gpgme_data_ gpgme_data_t sig = NULL;
        _cleanup_gpgme_data_ gpgme_data_t plain = NULL;
        gpgme_error_t e = gpgme_data_new_from_mem(&sig, blob, len, 0);
        if (!e)
                e = gpgme_data_new_from_cbs(&plain, &cbs, &sink);
        if (e)
                return gpg_fail(err, IT_EIO, e, "cannot pass the signature to gpg");

        e = gpgme_op_verify(kr->ctx, sig, NULL, plain);
        if (sink.overflow)
                return it_error_set(err, IT_EREJECTED, "signed payload larger than %u bytes",
                                    IT_GPG_PAYLOAD_MAX);
        if (e)
                return gpg_fail(err, engine_trouble(e) ? IT_EIO : IT_EREJECTED, e,
                                "cannot verify signature");
        gpgme_verify_result_t r = gpgme_op_verify_result(kr->ctx);
        size_t n = 0;
        for (gpgme_signature_t s = r ? r->signatures : NULL; s; s = s->next)
                n++;
        if (n == 0)
                return it_error_set(err, IT_EREJECTED, "not a signed message (no signature)");
        if (n > 1)
                return it_error_set(err, IT_EREJECTED,
                                    "signature blob holds %zu signatures; exactly one is allowed",
                                    n);
        gpgme_signature_t s = r->signatures;
        if (!s->fpr || !*s->fpr)
                return it_error_set(err, IT_EREJECTED, "signature names no signing key");
        _cleanup_free_ char *fpr = upper_dup(s->fpr);
        _cleanup_free_ char *key_id = key_id_of(fpr);
        int rc = signature_problem(s, fpr, key_id, err);
        if (rc)
                return rc;
        _cleanup_free_ char *primary = NULL;
        rc = trusted_primary(kr, fpr, &primary, err);
        if (rc)
                return rc;

        if (!payload.data)
                it_buf_add(&payload, "", 0);
        res->payload = payload;
        memset(&payload, 0, sizeof payload);
        res->signer_fpr = IT_STEAL(fpr);
        res->primary_fpr = IT_STEAL(primary);
        res->key_id = IT_STEAL(key_id);
        res->timestamp = (int64_t)s->timestamp;
        return 0;
}
