/* Describing OpenPGP key material (key files named by a policy) with gpgme.
 *
 * Keys are imported into a private GNUPGHOME made for the one call and removed afterwards, so the
 * user's keyring is never read or written. Its gpg.conf says "no-autostart": importing public keys
 * and listing them need no gpg-agent (gpg only probes for one), and an agent started for a
 * throw-away home would outlive it. */
#include "imgtrust/keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gpgme.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/gpg.h"
#include "imgtrust/gpgme_cleanup.h"
#include "imgtrust/xalloc.h"

static void keyinfo_free(struct it_keyinfo *k)
{
        free(k->fpr);
        it_strv_free(&k->uids);
        it_strv_free(&k->subkeys);
        memset(k, 0, sizeof *k);
}

void keyring_info_free(struct it_keyring_info *k)
{
        if (!k)
                return;
        for (size_t i = 0; i < k->n; i++)
                keyinfo_free(&k->keys[i]);
        free(k->keys);
        memset(k, 0, sizeof *k);
}

static void describe(gpgme_key_t key, struct it_keyinfo *out)
{
        memset(out, 0, sizeof *out);
        gpgme_subkey_t primary = key->subkeys;
        out->fpr = xstrdup(primary && primary->fpr ? primary->fpr : "");
        for (gpgme_user_id_t u = key->uids; u; u = u->next)
                it_strv_push(&out->uids, u->uid ? u->uid : "");
        out->can_sign = primary && primary->can_sign;
        for (gpgme_subkey_t s = primary ? primary->next : NULL; s; s = s->next) {
                it_strv_push(&out->subkeys, s->fpr ? s->fpr : "");
                if (s->can_sign && !s->revoked && !s->expired && !s->invalid && !s->disabled)
                        out->can_sign = true;
        }
        out->revoked = key->revoked;
        out->expired = key->expired;
}

static int gpg_fail(it_error *err, int code, gpgme_error_t e, const char *what)
{
        return it_error_set(err, code, "%s: %s", what, gpgme_strerror(e));
}

/* Import and list in a prepared home; keys are appended to *out in keyring order, which for a
 * fresh keybox is the order of first appearance in the data. */
static int inspect_in(const char *home, const void *data, size_t len, struct it_keyring_info *out,
                      it_error *err)
{
        _cleanup_gpgme_ctx_ gpgme_ctx_t ctx = NULL;
        gpgme_error_t e = gpgme_new(&ctx);
        if (e)
                return gpg_fail(err, IT_EIO, e, "cannot start gpgme");
        e = gpgme_set_protocol(ctx, GPGME_PROTOCOL_OpenPGP);
        if (!e)
                e = gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, NULL, home);
        if (!e)
                e = gpgme_set_keylist_mode(ctx, GPGME_KEYLIST_MODE_LOCAL);
        if (e)
                return gpg_fail(err, IT_EIO, e, "cannot set up gpg");
        gpgme_set_offline(ctx, 1);

        _cleanup_gpgme_data_ gpgme_data_t in = NULL;
        e = gpgme_data_new_from_mem(&in, data, len, 0);
        if (e)
                return gpg_fail(err, IT_EIO, e, "cannot pass key data to gpg");
        e = gpgme_op_import(ctx, in);
        if (gpgme_err_code(e) == GPG_ERR_NO_DATA)
                return 0; /* no OpenPGP data at all: zero keys, the caller decides */
        if (e) {
                gpgme_err_code_t c = gpgme_err_code(e);
                bool io = c == GPG_ERR_INV_ENGINE || c == GPG_ERR_ENGINE_TOO_OLD ||
                          gpgme_err_source(e) == GPG_ERR_SOURCE_GPGME;
                return gpg_fail(err, io ? IT_EIO : IT_EINPUT, e, "cannot import keys");
        }

        e = gpgme_op_keylist_start(ctx, NULL, 0);
        if (e)
                return gpg_fail(err, IT_EIO, e, "cannot list imported keys");
        for (;;) {
                _cleanup_gpgme_key_ gpgme_key_t key = NULL;
                e = gpgme_op_keylist_next(ctx, &key);
                if (gpgme_err_code(e) == GPG_ERR_EOF)
                        break;
                if (e) {
                        gpgme_op_keylist_end(ctx);
                        return gpg_fail(err, IT_EIO, e, "cannot list imported keys");
                }
                out->keys = xrealloc(out->keys, (out->n + 1) * sizeof *out->keys);
                describe(key, &out->keys[out->n]);
                out->n++;
        }
        return 0;
}

int keyfile_inspect(const void *data, size_t len, struct it_keyring_info *out, it_error *err)
{
        memset(out, 0, sizeof *out);
        if (len > IT_KEYFILE_MAX)
                return it_error_set(err, IT_EINPUT, "key data too large (%zu bytes; at most %u)",
                                    len, IT_KEYFILE_MAX);
        if (len == 0)
                return 0;
        if (it_gpgme_init(err) != 0)
                return err->code;
        _cleanup_free_ char *home = NULL;
        int rc = it_gpg_home_new(&home, err);
        if (rc)
                return rc;
        rc = inspect_in(home, data, len, out, err);
        if (rc) {
                keyring_info_free(out);
                _cleanup_error_ it_error ignored = IT_ERROR_INIT;
                it_gpg_home_remove(home, &ignored);
                return rc;
        }
        rc = it_gpg_home_remove(home, err);
        if (rc)
                keyring_info_free(out);
        return rc;
}

int keyfile_inspect_path(const char *path, struct it_keyring_info *out, it_error *err)
{
        memset(out, 0, sizeof *out);
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int rc = it_file_read(path, IT_KEYFILE_MAX, &data, &len, err);
        if (rc)
                return rc;
        rc = keyfile_inspect(data, len, out, err);
        if (rc)
                return it_error_wrap(err, "%s", path);
        return 0;
}
