#include "imgtrust/sigcheck.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/envelope.h"
#include "imgtrust/fs.h"
#include "imgtrust/gpg.h"
#include "imgtrust/payload.h"
#include "imgtrust/xalloc.h"

void sig_accepted_free(struct it_sig_accepted *a)
{
        if (!a)
                return;
        free(a->primary_fpr);
        free(a->docker_reference);
        free(a->source);
        memset(a, 0, sizeof *a);
}

/* A keyring holding only this requirement's keys, so a broken key file elsewhere in the policy
 * cannot affect it. IT_EREJECTED when the keys cannot be had: the requirement then fails. */
static int requirement_keyring(const struct it_requirement *req, struct it_gpg_keyring **out,
                               it_error *err)
{
        *out = NULL;
        struct it_gpg_keyring *kr = NULL;
        int rc = it_gpg_keyring_new(&kr, err);
        if (rc != 0)
                return rc;
        _cleanup_strv_ struct it_strv files = IT_STRV_INIT;
        policy_req_key_files(req, &files);
        for (size_t i = 0; i < files.n; i++) {
                _cleanup_free_ char *data = NULL;
                size_t len = 0;
                rc = it_file_read(files.v[i], IT_GPG_KEYS_MAX, &data, &len, err);
                if (rc == 0)
                        rc = it_gpg_keyring_import(kr, data, len, NULL, err);
                if (rc != 0) {
                        it_gpg_keyring_free(kr);
                        err->code = IT_EREJECTED;
                        return it_error_wrap(err, "key file %s", files.v[i]);
                }
        }
        for (size_t i = 0; i < req->nkey_data; i++) {
                rc = it_gpg_keyring_import(kr, req->key_data[i].data, req->key_data[i].len, NULL,
                                           err);
                if (rc != 0) {
                        it_gpg_keyring_free(kr);
                        err->code = IT_EREJECTED;
                        return it_error_wrap(err, "keyData");
                }
        }
        if (it_gpg_keyring_trusted(kr)->n == 0) {
                it_gpg_keyring_free(kr);
                return it_error_set(err, IT_EREJECTED,
                                    "no public keys imported from the requirement's keys");
        }
        *out = kr;
        return 0;
}

void sig_verified_free(struct it_sig_verified *v)
{
        free(v->primary_fpr);
        free(v->signer_fpr);
        free(v->docker_reference);
        free(v->digest);
        memset(v, 0, sizeof *v);
}

int sig_verify_blob(struct it_gpg_keyring *kr, const void *blob, size_t len,
                    const struct it_digest *manifest_digest, struct it_sig_verified *out,
                    it_error *err)
{
        memset(out, 0, sizeof *out);
        /* The shape first, independently of gpgme: gpg ignores what follows a compressed packet. */
        struct sig_envelope env = {0};
        int rc = sig_envelope_check(blob, len, &env, err);
        sig_envelope_free(&env);
        if (rc != 0) {
                err->code = IT_EREJECTED;
                return IT_EREJECTED;
        }
        /* gpg gets the OpenPGP bytes, without a `\0simple-signing\n` prefix. */
        enum sig_blob_kind kind;
        const uint8_t *body;
        size_t body_len;
        if (sig_blob_sniff(blob, len, &kind, &body, &body_len, err) != 0) {
                err->code = IT_EREJECTED;
                return IT_EREJECTED;
        }
        struct it_gpg_result res = IT_GPG_RESULT_INIT;
        rc = it_gpg_verify(kr, body, body_len, &res, err);
        if (rc != 0) {
                it_gpg_result_free(&res);
                return rc;
        }
        /* Only now, with the signature verified, is the payload looked at. */
        struct sig_payload p = {0};
        rc = payload_parse(it_buf_str(&res.payload), res.payload.len, &p, err);
        if (rc != 0) {
                err->code = IT_EREJECTED;
                rc = IT_EREJECTED;
        } else {
                char want[IT_DIGEST_STR_MAX];
                digest_format(manifest_digest, want);
                if (strcmp(p.digest_str, want) != 0) {
                        rc =
                            it_error_set(err, IT_EREJECTED,
                                         "signature is for manifest digest %s, not this image's %s",
                                         p.digest_str, want);
                } else {
                        out->primary_fpr = xstrdup(res.primary_fpr);
                        out->signer_fpr = xstrdup(res.signer_fpr);
                        out->docker_reference = xstrdup(p.docker_reference);
                        out->digest = xstrdup(p.digest_str);
                }
        }
        sig_payload_free(&p);
        it_gpg_result_free(&res);
        return rc;
}

struct cached_keyring {
        const struct it_requirement *req;
        struct it_gpg_keyring *kr;
};

struct it_sig_cache {
        struct cached_keyring *v;
        size_t n;
};

struct it_sig_cache *sig_cache_new(void)
{
        return xcalloc(1, sizeof(struct it_sig_cache));
}

void sig_cache_free(struct it_sig_cache *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++)
                it_gpg_keyring_free(c->v[i].kr);
        free(c->v);
        free(c);
}

/* The requirement's keyring from the cache, or a new one (added to the cache when there is one;
 * *owned tells the caller whether to free it). */
static int cached_keyring(struct it_sig_cache *c, const struct it_requirement *req,
                          struct it_gpg_keyring **kr, bool *owned, it_error *err)
{
        *owned = false;
        for (size_t i = 0; c && i < c->n; i++)
                if (c->v[i].req == req) {
                        *kr = c->v[i].kr;
                        return 0;
                }
        int rc = requirement_keyring(req, kr, err);
        if (rc != 0)
                return rc;
        if (!c) {
                *owned = true;
                return 0;
        }
        c->v = xrealloc(c->v, (c->n + 1) * sizeof *c->v);
        c->v[c->n++] = (struct cached_keyring){req, *kr};
        return 0;
}

/* One signature against one requirement: steps 1–4, then the requirement's identity rule. */
static int check_one(struct it_gpg_keyring *kr, const struct it_requirement *req,
                     const struct it_ref *image, const struct it_digest *want,
                     const struct it_sig_input *sig, struct it_sig_accepted *acc, it_error *err)
{
        struct it_sig_verified v;
        int rc = sig_verify_blob(kr, sig->data, sig->len, want, &v, err);
        if (rc != 0)
                return rc;
        char *why = NULL;
        if (!policy_identity_match(&req->identity, image, v.docker_reference, &why)) {
                rc = it_error_set(err, IT_EREJECTED, "identity: %s", why ? why : "does not match");
        } else if (acc) {
                acc->primary_fpr = IT_STEAL(v.primary_fpr);
                acc->docker_reference = IT_STEAL(v.docker_reference);
                acc->source = xstrdup(sig->source);
        }
        free(why);
        sig_verified_free(&v);
        return rc;
}

int sig_check_signed_by(struct it_sig_cache *cache, const struct it_requirement *req,
                        const struct it_ref *image, const struct it_digest *manifest_digest,
                        const struct it_sig_input *sigs, size_t nsigs,
                        struct it_sig_accepted *accepted, it_error *err)
{
        if (req->key_type != IT_KEY_GPG_KEYS)
                return it_error_set(err, IT_EREJECTED, "keyType %s is not implemented",
                                    policy_key_type_name(req->key_type));
        struct it_gpg_keyring *kr = NULL;
        bool owned = false;
        int rc = cached_keyring(cache, req, &kr, &owned, err);
        if (rc != 0)
                return rc;
        /* As upstream: a blob of no recognisable format fails the whole read, whatever the
         * others hold. */
        for (size_t i = 0; i < nsigs; i++) {
                enum sig_blob_kind kind;
                const uint8_t *body;
                size_t blen;
                if (sig_blob_sniff(sigs[i].data, sigs[i].len, &kind, &body, &blen, err) != 0) {
                        if (owned)
                                it_gpg_keyring_free(kr);
                        err->code = IT_EREJECTED;
                        return it_error_wrap(err, "reading signatures: %s", sigs[i].source);
                }
        }
        it_error all = IT_ERROR_INIT;
        size_t simple = 0;
        rc = IT_EREJECTED;
        for (size_t i = 0; i < nsigs; i++) {
                enum sig_blob_kind kind;
                const uint8_t *body;
                size_t blen;
                it_error one = IT_ERROR_INIT;
                if (sig_blob_sniff(sigs[i].data, sigs[i].len, &kind, &body, &blen, &one) == 0 &&
                    kind == SIG_BLOB_SIGSTORE) {
                        /* signedBy looks at simple signing only (spec §6.6). */
                        it_error_detail(&all, "%s: a sigstore signature, passed over by signedBy",
                                        sigs[i].source);
                        it_error_clear(&one);
                        continue;
                }
                it_error_clear(&one);
                simple++;
                int r = check_one(kr, req, image, manifest_digest, &sigs[i], accepted, &one);
                if (r == 0) {
                        rc = 0;
                        it_error_clear(&one);
                        break;
                }
                char *m = it_error_format(&one);
                it_error_detail(&all, "%s: %s", sigs[i].source, m);
                free(m);
                it_error_clear(&one);
                if (r == IT_EIO) {
                        rc = IT_EIO;
                        break;
                }
        }
        if (owned)
                it_gpg_keyring_free(kr);
        if (rc == 0) {
                it_error_clear(&all);
                return 0;
        }
        if (simple == 0 && rc == IT_EREJECTED)
                it_error_set(err, IT_EREJECTED,
                             "a signature was required, but no signature exists");
        else if (rc == IT_EIO)
                it_error_set(err, IT_EIO, "signatures could not be checked");
        else
                it_error_set(err, IT_EREJECTED, "no signature from a trusted key");
        /* Keep the per-signature reasons under the main line. */
        err->details = all.details;
        err->ndetails = all.ndetails;
        all.details = NULL;
        all.ndetails = 0;
        it_error_clear(&all);
        return rc;
}

int sig_check_policy(struct it_sig_cache *cache, const struct it_eval *ev,
                     const struct it_image *img, const struct it_digest *manifest_digest,
                     const struct it_sig_input *sigs, size_t nsigs, struct it_strv *accepted_lines,
                     it_error *err)
{
        const struct it_ref *image = img->has_docker ? &img->docker : NULL;
        if (!ev->reqs || ev->reqs->n == 0)
                return it_error_set(err, IT_EREJECTED, "no requirements apply (an empty list)");
        for (size_t i = 0; i < ev->reqs->n; i++) {
                const struct it_requirement *r = &ev->reqs->v[i];
                int rc = 0;
                switch (r->type) {
                case IT_REQ_INSECURE_ACCEPT_ANYTHING:
                        continue;
                case IT_REQ_REJECT:
                        rc = it_error_set(err, IT_EREJECTED, "rejects every image");
                        break;
                case IT_REQ_SIGNED_BASE_LAYER:
                        rc = it_error_set(
                            err, IT_EREJECTED,
                            "signedBaseLayer is not implemented (upstream rejects too)");
                        break;
                case IT_REQ_SIGSTORE_SIGNED:
                        rc = it_error_set(err, IT_EUNSUPPORTED,
                                          "sigstoreSigned signatures cannot be verified yet");
                        break;
                case IT_REQ_SIGNED_BY: {
                        struct it_sig_accepted acc = {0};
                        rc = sig_check_signed_by(cache, r, image, manifest_digest, sigs, nsigs,
                                                 &acc, err);
                        if (rc == 0 && accepted_lines)
                                it_strv_pushf(accepted_lines,
                                              "requirement %zu (signedBy): %s: signed by %s for %s",
                                              i + 1, acc.source, acc.primary_fpr,
                                              acc.docker_reference);
                        sig_accepted_free(&acc);
                        break;
                }
                }
                if (rc != 0)
                        return it_error_wrap(err, "requirement %zu (%s, %s)", i + 1,
                                             policy_req_type_name(r->type), r->where);
        }
        return 0;
}
