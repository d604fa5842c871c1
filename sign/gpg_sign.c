/* Making simple-signing blobs with gpgme in the user's keyring (spec 2.5, 8.1). */
#include "imgtrust/gpg.h"
#include "imgtrust/gpgme_cleanup.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gpgme.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/xalloc.h"

/* A passphrase file holds one line; anything this large is not one. */
#define PASSPHRASE_FILE_MAX (64u << 10)

static bool engine_trouble(gpgme_error_t e)
{
        gpgme_err_code_t c = gpgme_err_code(e);
        return c == GPG_ERR_INV_ENGINE || c == GPG_ERR_ENGINE_TOO_OLD ||
               (c & GPG_ERR_SYSTEM_ERROR) != 0;
}

struct passphrase_hook {
        const char *passphrase;
        bool was_bad;
};

/* Loopback pinentry: gpg asks us; a second request after a bad answer means the passphrase we
 * have is wrong, and asking again would only repeat it. */
static gpgme_error_t passphrase_cb(void *hook, const char *uid_hint, const char *info,
                                   int prev_was_bad, int fd)
{
        struct passphrase_hook *h = hook;
        if (prev_was_bad) {
                h->was_bad = true;
                return gpgme_error(GPG_ERR_CANCELED);
        }
        if (gpgme_io_writen(fd, h->passphrase, strlen(h->passphrase)) != 0 ||
            gpgme_io_writen(fd, "\n", 1) != 0)
                return gpgme_error_from_syserror();
        return 0;
}

static bool usable(gpgme_subkey_t k)
{
        return k->can_sign && k->secret && !k->revoked && !k->expired && !k->disabled &&
               !k->invalid;
}

/* Find the one secret key key_spec names. Allocates *out (a gpgme reference). */
static int find_secret_key(gpgme_ctx_t ctx, const char *key_spec, gpgme_key_t *out, it_error *err)
{
        /* A keylist in ctx itself: gpgme_get_key would make a second context whose engine info
         * copy runs `gpg --version` again. */
        *out = NULL;
        gpgme_error_t e = gpgme_op_keylist_start(ctx, key_spec, 1);
        if (!e)
                e = gpgme_op_keylist_next(ctx, out);
        if (!e) {
                gpgme_key_t another = NULL;
                gpgme_error_t e2 = gpgme_op_keylist_next(ctx, &another);
                if (!e2) {
                        /* The same key listed twice (a damaged keyring) is not ambiguous. */
                        bool same = another->subkeys && (*out)->subkeys && another->subkeys->fpr &&
                                    (*out)->subkeys->fpr &&
                                    !strcmp(another->subkeys->fpr, (*out)->subkeys->fpr);
                        gpgme_key_unref(another);
                        if (!same)
                                e = gpg_error(GPG_ERR_AMBIGUOUS_NAME);
                }
        }
        gpgme_op_keylist_end(ctx);
        if (e && *out) {
                gpgme_key_unref(*out);
                *out = NULL;
        }
        gpgme_err_code_t c = gpgme_err_code(e);
        if (c == GPG_ERR_AMBIGUOUS_NAME)
                return it_error_set(err, IT_EINPUT,
                                    "key \"%s\" matches several secret keys; name one by its "
                                    "fingerprint",
                                    key_spec);
        if (c == GPG_ERR_EOF || (!e && !*out))
                return it_error_set(err, IT_EINPUT, "no secret key \"%s\" in the GnuPG keyring",
                                    key_spec);
        if (e)
                return it_error_set(err, engine_trouble(e) ? IT_EIO : IT_EINPUT,
                                    "cannot look up secret key \"%s\": %s", key_spec,
                                    gpgme_strerror(e));
        gpgme_subkey_t primary = (*out)->subkeys;
        if (!primary || !primary->fpr)
                return it_error_set(err, IT_EINPUT, "secret key \"%s\" has no fingerprint",
                                    key_spec);
        if ((*out)->revoked)
                return it_error_set(err, IT_EINPUT, "key %s is revoked", primary->fpr);
        if ((*out)->expired)
                return it_error_set(err, IT_EINPUT, "key %s has expired", primary->fpr);
        if ((*out)->disabled || (*out)->invalid)
                return it_error_set(err, IT_EINPUT, "key %s is disabled or invalid", primary->fpr);
        return 0;
}

static int read_all(gpgme_data_t d, struct it_buf *out, it_error *err)
{
        if (gpgme_data_seek(d, 0, SEEK_SET) < 0)
                return it_error_sys(err, IT_EIO, errno, "cannot read the signature from gpgme");
        char chunk[8192];
        for (;;) {
                ssize_t r = gpgme_data_read(d, chunk, sizeof chunk);
                if (r < 0)
                        return it_error_sys(err, IT_EIO, errno,
                                            "cannot read the signature from gpgme");
                if (r == 0)
                        return 0;
                it_buf_add(out, chunk, (size_t)r);
        }
}

struct it_gpg_signer {
        gpgme_ctx_t ctx;
        gpgme_key_t key;
        char *passphrase;
        struct passphrase_hook hook;
        bool primary_signs;
};

void it_gpg_signer_free(struct it_gpg_signer *s)
{
        if (!s)
                return;
        if (s->key)
                gpgme_key_unref(s->key);
        if (s->ctx)
                gpgme_release(s->ctx);
        it_secret_free(s->passphrase);
        free(s);
}

static void signer_freep(struct it_gpg_signer **s)
{
        it_gpg_signer_free(*s);
}

int it_gpg_signer_new(const char *key_spec, const char *passphrase, struct it_gpg_signer **out,
                      it_error *err)
{
        *out = NULL;
        if (!key_spec || !*key_spec)
                return it_error_set(err, IT_EINPUT, "no signing key given");
        if (passphrase && strchr(passphrase, '\n'))
                return it_error_set(err, IT_EINPUT, "the passphrase must not contain a newline");
        if (it_gpgme_init(err) != 0)
                return err->code;
        __attribute__((cleanup(signer_freep))) struct it_gpg_signer *s = xcalloc(1, sizeof *s);
        gpgme_error_t e = gpgme_new(&s->ctx);
        if (!e)
                e = gpgme_set_protocol(s->ctx, GPGME_PROTOCOL_OpenPGP);
        if (!e)
                e = gpgme_set_keylist_mode(s->ctx, GPGME_KEYLIST_MODE_LOCAL);
        if (e)
                return it_error_set(err, IT_EIO, "cannot set up gpg: %s", gpgme_strerror(e));
        gpgme_set_armor(s->ctx, 0);
        gpgme_set_textmode(s->ctx, 0);
        gpgme_set_offline(s->ctx, 1);

        int rc = find_secret_key(s->ctx, key_spec, &s->key, err);
        if (rc)
                return rc;
        gpgme_subkey_t primary = s->key->subkeys;
        s->primary_signs = usable(primary);
        bool subkey_signs = false;
        for (gpgme_subkey_t k = primary->next; k; k = k->next)
                subkey_signs = subkey_signs || usable(k);
        if (!s->primary_signs && !subkey_signs)
                return it_error_set(err, IT_EINPUT, "key %s has no usable secret key that can sign",
                                    primary->fpr);
        e = gpgme_signers_add(s->ctx, s->key);
        if (e)
                return it_error_set(err, IT_EIO, "cannot select key %s: %s", primary->fpr,
                                    gpgme_strerror(e));
        if (passphrase) {
                s->passphrase = xstrdup(passphrase);
                s->hook.passphrase = s->passphrase;
                e = gpgme_set_pinentry_mode(s->ctx, GPGME_PINENTRY_MODE_LOOPBACK);
                if (e)
                        return it_error_set(err, IT_EIO, "cannot use loopback pinentry: %s",
                                            gpgme_strerror(e));
                gpgme_set_passphrase_cb(s->ctx, passphrase_cb, &s->hook);
        }
        *out = IT_STEAL(s);
        return 0;
}

const char *it_gpg_signer_fpr(const struct it_gpg_signer *s)
{
        return s->key->subkeys->fpr;
}

int it_gpg_signer_sign(struct it_gpg_signer *s, const void *payload, size_t len,
                       struct it_buf *out_blob, struct it_strv *warnings, it_error *err)
{
        if (len > IT_GPG_PAYLOAD_MAX)
                return it_error_set(err, IT_EINPUT,
                                    "payload too large to sign (%zu bytes; at most %u)", len,
                                    IT_GPG_PAYLOAD_MAX);
        gpgme_subkey_t primary = s->key->subkeys;
        _cleanup_gpgme_data_ gpgme_data_t in = NULL;
        _cleanup_gpgme_data_ gpgme_data_t out = NULL;
        gpgme_error_t e = gpgme_data_new_from_mem(&in, payload, len, 0);
        if (!e)
                e = gpgme_data_new(&out);
        if (e)
                return it_error_set(err, IT_EIO, "cannot pass the payload to gpg: %s",
                                    gpgme_strerror(e));

        /* gpgme names a signer to gpg by the primary's key ID ("-u KEYID"), and gpg then signs
         * with the newest signing subkey if there is one. Older consumers (skopeo 1.9.3,
         * podman 4.3) reject subkey signatures, so when the primary can sign it must: gpg's
         * "FPR!" form pins the exact key. gpgme offers no other way to pass it than the key ID
         * field it reads, which is set for the one call and restored. */
        _cleanup_free_ char *pinned = xasprintf("%s!", primary->fpr);
        char *saved_keyid = primary->keyid;
        if (s->primary_signs)
                primary->keyid = pinned;
        s->hook.was_bad = false;
        e = gpgme_op_sign(s->ctx, in, out, GPGME_SIG_MODE_NORMAL);
        primary->keyid = saved_keyid;

        if (s->hook.was_bad || gpgme_err_code(e) == GPG_ERR_BAD_PASSPHRASE)
                return it_error_set(err, IT_EINPUT, "wrong passphrase for key %s", primary->fpr);
        if (s->passphrase && gpgme_err_code(e) == GPG_ERR_CANCELED)
                return it_error_set(err, IT_EINPUT, "passphrase for key %s was refused",
                                    primary->fpr);
        if (e)
                return it_error_set(err, engine_trouble(e) ? IT_EIO : IT_EINPUT,
                                    "cannot sign with key %s: %s", primary->fpr, gpgme_strerror(e));
        gpgme_sign_result_t r = gpgme_op_sign_result(s->ctx);
        if (!r || r->invalid_signers)
                return it_error_set(err, IT_EINPUT, "key %s cannot sign: %s", primary->fpr,
                                    r && r->invalid_signers
                                        ? gpgme_strerror(r->invalid_signers->reason)
                                        : "no result from gpg");
        if (!r->signatures || r->signatures->next || !r->signatures->fpr)
                return it_error_set(err, IT_EIO, "gpg did not make exactly one signature");
        const char *used = r->signatures->fpr;
        if (s->primary_signs && strcasecmp(used, primary->fpr) != 0)
                return it_error_set(err, IT_EIO, "gpg signed with %s instead of the primary key %s",
                                    used, primary->fpr);
        if (!s->primary_signs && warnings)
                it_strv_pushf(warnings,
                              "key %s: the primary key cannot sign; signing with subkey %s, which "
                              "skopeo 1.9.3 and podman 4.3 reject",
                              primary->fpr, used);
        return read_all(out, out_blob, err);
}

int it_gpg_sign(const char *key_spec, const void *payload, size_t len, const char *passphrase,
                struct it_buf *out_blob, struct it_strv *warnings, it_error *err)
{
        if (!key_spec || !*key_spec)
                return it_error_set(err, IT_EINPUT, "no signing key given");
        if (len > IT_GPG_PAYLOAD_MAX)
                return it_error_set(err, IT_EINPUT,
                                    "payload too large to sign (%zu bytes; at most %u)", len,
                                    IT_GPG_PAYLOAD_MAX);
        __attribute__((cleanup(signer_freep))) struct it_gpg_signer *s = NULL;
        int rc = it_gpg_signer_new(key_spec, passphrase, &s, err);
        if (rc)
                return rc;
        return it_gpg_signer_sign(s, payload, len, out_blob, warnings, err);
}

int it_gpg_passphrase_file(const char *path, char **out, it_error *err)
{
        *out = NULL;
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int rc = it_file_read(path, PASSPHRASE_FILE_MAX, &data, &len, err);
        if (rc)
                return rc;
        const char *nl = memchr(data, '\n', len);
        size_t n = nl ? (size_t)(nl - data) : len;
        if (memchr(data, '\0', n))
                return it_error_set(err, IT_EINPUT, "%s: the passphrase contains a NUL byte", path);
        *out = xstrndup(data, n);
        return 0;
}
