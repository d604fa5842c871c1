/* Public keys out of the user's keyring, for `imgverify standalone` without --public-key-file.
 *
 * skopeo verifies such signatures against the whole user keyring and then compares the signer
 * with the fingerprints given. Exporting just those keys into a private keyring gives the same
 * answers (a signature by any other key finds no public key) and keeps one verification path.
 */
#include <gpgme.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/gpg.h"
#include "imgtrust/sigcheck.h"
#include "imgtrust/xalloc.h"

int sig_export_user_keys(const struct it_strv *fprs, struct it_buf *out, it_error *err)
{
        if (it_gpgme_init(err) != 0)
                return err->code;
        gpgme_ctx_t ctx = NULL;
        gpgme_data_t data = NULL;
        gpgme_error_t ge = gpgme_new(&ctx);
        if (!ge)
                ge = gpgme_set_protocol(ctx, GPGME_PROTOCOL_OpenPGP);
        if (!ge)
                ge = gpgme_data_new(&data);
        if (ge) {
                int rc = it_error_set(err, IT_EIO, "gpgme: %s", gpgme_strerror(ge));
                gpgme_data_release(data);
                gpgme_release(ctx);
                return rc;
        }
        const char **patterns = xcalloc(fprs->n + 1, sizeof *patterns);
        for (size_t i = 0; i < fprs->n; i++)
                patterns[i] = fprs->v[i];
        ge = gpgme_op_export_ext(ctx, patterns, 0, data);
        free(patterns);
        int rc = 0;
        if (ge) {
                rc = it_error_set(err, IT_EIO, "exporting keys from your keyring: %s",
                                  gpgme_strerror(ge));
        } else {
                size_t len = 0;
                char *mem = gpgme_data_release_and_get_mem(data, &len);
                data = NULL;
                if (len == 0)
                        rc = it_error_set(err, IT_EREJECTED, "no public key %s in your keyring",
                                          fprs->n ? fprs->v[0] : "");
                else
                        it_buf_add(out, mem, len);
                gpgme_free(mem);
        }
        gpgme_data_release(data);
        gpgme_release(ctx);
        return rc;
}
