/* publish_signatures / publish_verify: a pipeline must never publish a signature nobody can find,
 * so every signature written is read back from where consumers read and verified as they would. */
#include "imgtrust/publish.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/gpg.h"
#include "imgtrust/lookaside.h"
#include "imgtrust/lookaside_http.h"
#include "imgtrust/payload.h"
#include "imgtrust/policy.h"
#include "imgtrust/sigcheck.h"
#include "imgtrust/version.h"
#include "imgtrust/xalloc.h"

void publish_result_free(struct it_publish_result *res)
{
        for (size_t i = 0; i < res->n; i++) {
                free(res->v[i].key_fpr);
                free(res->v[i].written);
                free(res->v[i].read_url);
        }
        free(res->v);
        memset(res, 0, sizeof *res);
}

static bool is_http(const char *url)
{
        return !strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8);
}

/* "host[:port]" of an http(s) URL. Allocated. */
static char *url_host(const char *url)
{
        const char *p = strstr(url, "://");
        p = p ? p + 3 : url;
        return xstrndup(p, strcspn(p, "/?#"));
}

/* Where signatures go: the staging base, whether it is written by PUT, and the lookaside
 * credentials for it. */
static int staging(const struct it_publish_opts *o, char **base, bool *put, char **userpwd,
                   it_error *err)
{
        *put = false;
        *userpwd = NULL;
        int rc = lookaside_write_base(o->regd, o->dest, base, err);
        if (rc)
                return rc;
        /* Only a location configured for writing is written over HTTP; a plain http lookaside
         * is where consumers read, and lookaside_write_append refuses it with a hint. */
        if (is_http(*base) && o->regd) {
                struct it_regd_choice ch = {0};
                rc = regd_lookaside(o->regd, o->dest, IT_REGD_WRITE, &ch, err);
                if (rc)
                        return rc;
                *put = ch.key && strstr(ch.key, "-staging");
                regd_choice_free(&ch);
        }
        if (!*put)
                return 0;
        if (o->lookaside_creds) {
                *userpwd = xstrdup(o->lookaside_creds);
                return 0;
        }
        _cleanup_free_ char *host = url_host(*base);
        return lookaside_put_creds_from_authfile(host, o->authfile, userpwd, err);
}

int publish_check(const struct it_publish_opts *o, it_error *err)
{
        _cleanup_free_ char *base = NULL;
        _cleanup_secret_ char *userpwd = NULL;
        bool put = false;
        return staging(o, &base, &put, &userpwd, err);
}

int publish_signatures(const struct it_publish_opts *o, const struct it_digest *digests, size_t n,
                       struct it_publish_result *res, struct it_strv *warnings, it_error *err)
{
        memset(res, 0, sizeof *res);
        _cleanup_free_ char *base = NULL;
        _cleanup_secret_ char *userpwd = NULL;
        bool put = false;
        int rc = staging(o, &base, &put, &userpwd, err);
        if (rc)
                return rc;
        res->v = xcalloc(n * o->nsigners + 1, sizeof *res->v);
        int64_t now = (int64_t)time(NULL);
        for (size_t i = 0; i < n; i++) {
                char ds[IT_DIGEST_STR_MAX];
                digest_format(&digests[i], ds);
                _cleanup_buf_ struct it_buf payload = IT_BUF_INIT;
                payload_build(o->identity, ds, "imgtrust " IMGTRUST_VERSION, now, &payload);
                for (size_t k = 0; k < o->nsigners; k++) {
                        _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
                        rc = it_gpg_signer_sign(o->signers[k], payload.data, payload.len, &sig,
                                                warnings, err);
                        if (rc)
                                return it_error_wrap(err, "signing %s", ds);
                        struct it_published *p = &res->v[res->n];
                        p->digest = digests[i];
                        if (put) {
                                struct it_lookaside_put_opts po = {.tls_verify = o->tls_verify,
                                                                   .userpwd = userpwd};
                                rc =
                                    lookaside_put_append(base, o->dest->path, ds, sig.data, sig.len,
                                                         &po, &p->written, &p->index, err);
                        } else {
                                rc = lookaside_write_append(base, o->dest->path, ds, sig.data,
                                                            sig.len, &p->written, &p->index, err);
                        }
                        if (rc)
                                return it_error_wrap(err, "publishing the signature of %s", ds);
                        p->key_fpr = xstrdup(it_gpg_signer_fpr(o->signers[k]));
                        res->n++;
                }
        }
        return 0;
}

/* Verify one read-back signature with a keyring holding only its signer's public key. */
static int verify_one(struct it_gpg_keyring *kr, const struct it_published *p,
                      const struct it_sig_blob *b, const struct it_ref *ident, it_error *err)
{
        struct it_sig_verified v = {0};
        int rc = sig_verify_blob(kr, b->data, b->len, &p->digest, &v, err);
        if (rc)
                return rc;
        _cleanup_free_ char *why = NULL;
        struct it_signed_identity id = {.type = IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT};
        if (strcasecmp(v.primary_fpr, p->key_fpr))
                rc = it_error_set(err, IT_EREJECTED, "signed by %s, not by %s", v.primary_fpr,
                                  p->key_fpr);
        else if (!policy_identity_match(&id, ident, v.docker_reference, &why))
                rc = it_error_set(err, IT_EREJECTED, "%s", why ? why : "identity does not match");
        sig_verified_free(&v);
        return rc;
}

static void keyring_freep(struct it_gpg_keyring **kr)
{
        it_gpg_keyring_free(*kr);
}

int publish_verify(const struct it_publish_opts *o, struct it_publish_result *res, it_error *err)
{
        struct it_regd_choice ch = {0};
        int rc = regd_lookaside(o->regd, o->dest, IT_REGD_READ, &ch, err);
        if (rc)
                return rc;
        _cleanup_ref_ struct it_ref ident = IT_REF_INIT;
        rc = ref_parse_canonical(o->identity, &ident, err);
        /* The signers' keys from the user's keyring, only they trusted. */
        _cleanup_strv_ struct it_strv fprs = IT_STRV_INIT;
        for (size_t i = 0; i < o->nsigners; i++)
                it_strv_push(&fprs, it_gpg_signer_fpr(o->signers[i]));
        _cleanup_(keyring_freep) struct it_gpg_keyring *kr = NULL;
        if (!rc)
                rc = it_gpg_keyring_user(&fprs, &kr, err);
        struct it_lookaside_opts lo = {.tls_verify = o->tls_verify};
        for (size_t i = 0; i < res->n && !rc; i++) {
                struct it_published *p = &res->v[i];
                char ds[IT_DIGEST_STR_MAX];
                digest_format(&p->digest, ds);
                _cleanup_sig_list_ struct it_sig_list l = IT_SIG_LIST_INIT;
                rc = lookaside_read_opts(ch.url, o->dest->path, ds, &lo, &l, err);
                if (rc) {
                        it_error_wrap(err, "reading back the signatures of %s from %s", ds, ch.url);
                        break;
                }
                _cleanup_free_ char *url = NULL;
                if (regd_signature_url(ch.url, o->dest->path, ds, p->index, &url, err) != 0) {
                        rc = err->code;
                        break;
                }
                if (l.n < p->index) {
                        rc = it_error_set(err, IT_EREJECTED,
                                          "%s was written but consumers will not find it: %s "
                                          "is missing (lookaside %s from %s)",
                                          p->written, url, ch.url,
                                          ch.file ? ch.file : "the built-in default");
                        break;
                }
                const struct it_sig_blob *b = &l.v[p->index - 1];
                free(p->read_url);
                p->read_url = xstrdup(url);
                rc = verify_one(kr, p, b, &ident, err);
                if (rc) {
                        err->code = IT_EREJECTED;
                        it_error_wrap(err, "read back %s", url);
                        break;
                }
        }
        regd_choice_free(&ch);
        return rc;
}
