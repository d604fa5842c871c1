/* Admission: policy evaluation plus the signature checks, shared by imgverify and imgpull. */
#include <stdlib.h>
#include <string.h>

#include "imgtrust/admit.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/endpoint.h"
#include "imgtrust/fs.h"
#include "imgtrust/lookaside.h"
#include "imgtrust/manifest.h"
#include "imgtrust/registry.h"
#include "imgtrust/xalloc.h"

void admit_result_free(struct it_admit_result *r)
{
        if (!r)
                return;
        ref_free(&r->ref);
        it_buf_free(&r->manifest);
        free(r->media_type);
        it_strv_free(&r->accepted);
        *r = (struct it_admit_result)IT_ADMIT_RESULT_INIT;
}

static int read_manifest_file(const struct it_admit_opts *o, const struct it_ref *ref,
                              struct it_admit_result *res, it_error *err)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        if (it_file_read(o->manifest_file, IT_MANIFEST_MAX, &data, &len, err) != 0 ||
            manifest_digest(data, len, &res->digest, err) != 0)
                return it_error_wrap(err, "%s", o->manifest_file);
        if (ref->digest) {
                struct it_digest want;
                if (digest_parse(ref->digest, &want, err) != 0)
                        return err->code;
                if (!digest_equal(&want, &res->digest))
                        return it_error_set(err, IT_EINPUT,
                                            "%s: its digest is not the reference's %s",
                                            o->manifest_file, ref->digest);
        }
        const char *mt = manifest_media_type(data, len);
        res->media_type = mt ? xstrdup(mt) : NULL;
        it_buf_add(&res->manifest, data, len);
        return 0;
}

/* The manifest whose signatures count: for a list, the instance for the platform, as
 * containers/image does (spec §3.3). */
static int fetch_manifest(const struct it_admit_opts *o, const struct it_ref *ref,
                          struct it_admit_result *res, it_error *err)
{
        if (o->manifest_file)
                return read_manifest_file(o, ref, res, err);
        struct it_endpoint ep = IT_ENDPOINT_INIT;
        struct it_endpoint_flags fl = {
            .tls_verify = o->tls_flag, .creds = o->creds, .authfile = o->authfile};
        struct it_registry *c = NULL;
        int rc = endpoint_resolve(ref->domain, ref->path, &fl, &ep, err);
        if (rc == 0)
                rc = endpoint_client(&ep, &c, err);
        endpoint_free(&ep);
        if (rc != 0)
                return rc;
        rc = registry_get_manifest(c, ref->path, ref->digest ? ref->digest : ref->tag, NULL,
                                   &res->manifest, &res->media_type, &res->digest, err);
        if (rc == 0 && res->media_type && manifest_type_is_list(res->media_type)) {
                _cleanup_manifest_list_ struct it_manifest_list l = IT_MANIFEST_LIST_INIT;
                size_t i = 0;
                res->list_digest = res->digest;
                res->has_list = true;
                rc = manifest_list_instances(res->manifest.data, res->manifest.len, &l, err);
                if (rc == 0)
                        rc = manifest_list_choose(&l, o->os, o->arch, o->variant, &i, err);
                if (rc == 0) {
                        char ds[IT_DIGEST_STR_MAX];
                        digest_format(&l.v[i].digest, ds);
                        it_buf_reset(&res->manifest);
                        free(res->media_type);
                        res->media_type = NULL;
                        rc = registry_get_manifest(c, ref->path, ds, NULL, &res->manifest,
                                                   &res->media_type, &res->digest, err);
                        if (rc == 0 && res->media_type && manifest_type_is_list(res->media_type))
                                rc = it_error_set(err, IT_EINPUT,
                                                  "%s: instance %s is itself a manifest list",
                                                  ref->path, ds);
                }
        }
        registry_client_free(c);
        return rc;
}

static int check_signatures(const struct it_admit_opts *o, struct it_sig_cache *cache,
                            const struct it_regd *regd, const struct it_eval *ev,
                            const struct it_image *img, json_t *out, struct it_admit_result *res,
                            it_error *err)
{
        _cleanup_sig_list_ struct it_sig_list sigs = IT_SIG_LIST_INIT;
        char ds[IT_DIGEST_STR_MAX] = "";
        struct it_regd_choice ch = {0};
        digest_format(&res->digest, ds);
        if (out)
                json_object_set_new(out, "digest", json_string(ds));
        int rc = regd_lookaside(regd, &img->docker, IT_REGD_READ, &ch, err);
        if (rc == 0) {
                if (out)
                        json_object_set_new(out, "lookaside", json_string(ch.url));
                struct it_lookaside_opts lo = {.tls_verify = o->tls_verify};
                rc = lookaside_read_opts(ch.url, img->docker.path, ds, &lo, &sigs, err);
        }
        regd_choice_free(&ch);
        if (rc != 0)
                return rc;
        struct it_sig_input *in = xcalloc(sigs.n ? sigs.n : 1, sizeof *in);
        for (size_t i = 0; i < sigs.n; i++)
                in[i] = (struct it_sig_input){sigs.v[i].data, sigs.v[i].len, sigs.v[i].source};
        rc = sig_check_policy(cache, ev, img, &res->digest, in, sigs.n, &res->accepted, err);
        free(in);
        return rc;
}

int admit_image(const struct it_admit_opts *o, struct it_sig_cache *cache,
                const struct it_policy *pol, const struct it_regd *regd, const char *refstr,
                json_t *out, struct it_admit_result *res_out, it_error *err)
{
        struct it_admit_result local = IT_ADMIT_RESULT_INIT;
        struct it_admit_result *res = res_out ? res_out : &local;
        struct it_image img = IT_IMAGE_INIT;
        int rc = policy_image_parse(refstr, &img, err);
        if (rc != 0)
                return rc;
        if (img.has_docker) {
                ref_copy(&res->ref, &img.docker);
                res->has_ref = true;
        }
        struct it_eval ev = IT_EVAL_INIT;
        policy_eval(pol, &img, &ev);
        if (out) {
                json_object_set_new(out, "identity", json_string(img.identity));
                json_object_set_new(out, "scope", ev.scope ? json_string(ev.scope) : json_null());
                json_t *reasons = json_array();
                for (size_t i = 0; i < ev.reasons.n; i++)
                        json_array_append_new(reasons, json_string(ev.reasons.v[i]));
                json_object_set_new(out, "requirements", reasons);
        }
        bool docker = img.has_docker && strcmp(img.transport, "docker") == 0;
        if (ev.decision == IT_DECISION_REJECT) {
                rc = sig_check_policy(cache, &ev, &img, NULL, NULL, 0, NULL, err);
                if (rc == 0) /* policy_eval and the checks disagree: never let that accept */
                        rc = it_error_set(err, IT_EREJECTED, "rejected by policy");
        } else if (ev.decision == IT_DECISION_ACCEPT && !o->always_fetch) {
                it_strv_push(&res->accepted, "no signature is required");
        } else if (!docker) {
                rc = it_error_set(err, IT_EINPUT,
                                  "only docker:// references can be checked against signatures");
        } else {
                rc = fetch_manifest(o, &img.docker, res, err);
                if (rc == 0) {
                        res->fetched = true;
                        if (ev.decision == IT_DECISION_ACCEPT) {
                                char ds[IT_DIGEST_STR_MAX];
                                digest_format(&res->digest, ds);
                                if (out)
                                        json_object_set_new(out, "digest", json_string(ds));
                                it_strv_push(&res->accepted, "no signature is required");
                        } else {
                                rc = check_signatures(o, cache, regd, &ev, &img, out, res, err);
                        }
                }
        }
        if (out) {
                json_t *acc = json_array();
                for (size_t i = 0; i < res->accepted.n; i++)
                        json_array_append_new(acc, json_string(res->accepted.v[i]));
                json_object_set_new(out, "accepted_by", acc);
        }
        policy_eval_free(&ev);
        policy_image_free(&img);
        admit_result_free(&local);
        return rc;
}
