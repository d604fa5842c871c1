#include "imgtrust/lint.h"

#include <stdlib.h>
#include <string.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/json.h"
#include "imgtrust/keyfile.h"
#include "imgtrust/xalloc.h"

static bool looks_like_domain(const char *s, size_t n)
{
        if (n == 9 && strncmp(s, "localhost", 9) == 0)
                return true;
        return memchr(s, '.', n) || memchr(s, ':', n);
}

bool trust_docker_scope_valid(const char *scope, char **why)
{
        *why = NULL;
        if (strncmp(scope, "*.", 2) == 0) {
                const char *d = scope + 2;
                if (*d && !strchr(d, '/') && !strchr(d, ':') && !strchr(d, '*'))
                        return true;
                *why =
                    xasprintf("wildcard scope \"%s\" must be \"*.\" followed by a domain without "
                              "port or path",
                              scope);
                return false;
        }
        if (!strchr(scope, '/')) {
                if (looks_like_domain(scope, strlen(scope))) {
                        /* A host[:port] scope: valid when a two-component repository on it keeps
                         * exactly that host after normalisation (index.docker.io would not). */
                        _cleanup_free_ char *probe = xasprintf("%s/x/y", scope);
                        struct it_ref r = IT_REF_INIT;
                        it_error err = IT_ERROR_INIT;
                        bool ok = ref_parse_normalized(probe, &r, &err) == 0 &&
                                  strcmp(r.domain, scope) == 0;
                        ref_free(&r);
                        it_error_clear(&err);
                        if (ok)
                                return true;
                        *why = xasprintf("scope \"%s\" is not a valid registry host", scope);
                        return false;
                }
        }
        /* An image identity (repo:tag, repo@digest) or a repository or namespace: the latter is
         * valid when a repository below it would be canonical. */
        struct it_ref r = IT_REF_INIT;
        it_error err = IT_ERROR_INIT;
        if (ref_parse_canonical(scope, &r, &err) == 0 && !ref_is_name_only(&r)) {
                ref_free(&r);
                return true;
        }
        ref_free(&r);
        it_error_clear(&err);
        _cleanup_free_ char *child = xasprintf("%s/x", scope);
        if (ref_parse_canonical(child, &r, &err) == 0) {
                ref_free(&r);
                return true;
        }
        ref_free(&r);
        it_error_clear(&err);
        if (ref_parse_normalized(scope, &r, &err) == 0) {
                _cleanup_free_ char *canon = ref_string(&r);
                *why =
                    xasprintf("scope \"%s\" never matches: scopes must be fully qualified; did you "
                              "mean \"%s\"?",
                              scope, canon);
                ref_free(&r);
                return false;
        }
        char *m = it_error_format(&err);
        *why = xasprintf("scope \"%s\" never matches: %s", scope, m);
        free(m);
        it_error_clear(&err);
        return false;
}

static void lint_keys(const struct it_policy *p, const struct it_requirement *r,
                      struct it_strv *out)
{
        _cleanup_strv_ struct it_strv files = IT_STRV_INIT;
        if (r->key_source == IT_KEYSRC_PATHS && r->key_paths.n == 0)
                it_strv_pushf(out, "%s: %s.keyPaths: empty; the requirement can never be met",
                              p->path, r->where);
        policy_req_key_files(r, &files);
        for (size_t i = 0; i < files.n + r->nkey_data; i++) {
                it_error err = IT_ERROR_INIT;
                struct it_keyring_info ki = IT_KEYRING_INFO_INIT;
                _cleanup_free_ char *what =
                    i < files.n ? xasprintf("key file %s", files.v[i]) : xasprintf("keyData");
                int rc = i < files.n ? keyfile_inspect_path(files.v[i], &ki, &err)
                                     : keyfile_inspect(r->key_data[i - files.n].data,
                                                       r->key_data[i - files.n].len, &ki, &err);
                if (rc != 0) {
                        char *m = it_error_format(&err);
                        it_strv_pushf(out, "%s: %s: %s", p->path, r->where, m);
                        free(m);
                } else if (ki.n == 0) {
                        it_strv_pushf(out, "%s: %s: %s holds no OpenPGP public key", p->path,
                                      r->where, what);
                } else {
                        size_t usable = 0;
                        for (size_t k = 0; k < ki.n; k++)
                                if (ki.keys[k].can_sign && !ki.keys[k].revoked &&
                                    !ki.keys[k].expired)
                                        usable++;
                        if (usable == 0)
                                it_strv_pushf(
                                    out,
                                    "%s: %s: %s holds no usable signing key (all revoked, "
                                    "expired or unable to sign)",
                                    p->path, r->where, what);
                }
                keyring_info_free(&ki);
                it_error_clear(&err);
        }
}

static void lint_identity(const struct it_policy *p, const struct it_requirement *r,
                          struct it_strv *out)
{
        const struct it_signed_identity *id = &r->identity;
        if (id->type != IT_IDENT_REMAP_IDENTITY)
                return;
        /* Upstream's check lets short names such as "library/busybox" through; they never match. */
        const char *names[2] = {id->prefix, id->signed_prefix};
        const char *keys[2] = {"prefix", "signedPrefix"};
        for (int i = 0; i < 2; i++) {
                const char *s = names[i];
                const char *slash = strchr(s, '/');
                size_t hl = slash ? (size_t)(slash - s) : strlen(s);
                if (!looks_like_domain(s, hl))
                        it_strv_pushf(
                            out,
                            "%s: %s.signedIdentity.%s: \"%s\" does not start with a registry "
                            "host, so it never matches",
                            p->path, r->where, keys[i], s);
        }
}

static void lint_reqs(const struct it_policy *p, const struct it_reqs *reqs, struct it_strv *out)
{
        for (size_t i = 0; i < reqs->n; i++) {
                const struct it_requirement *r = &reqs->v[i];
                if (r->type == IT_REQ_SIGNED_BY || r->type == IT_REQ_SIGSTORE_SIGNED)
                        lint_keys(p, r, out);
                if (r->type == IT_REQ_SIGNED_BY && r->key_type != IT_KEY_GPG_KEYS)
                        it_strv_pushf(out,
                                      "%s: %s.keyType: %s is not implemented (here or upstream); "
                                      "every image is rejected",
                                      p->path, r->where, policy_key_type_name(r->key_type));
                if (r->type == IT_REQ_SIGNED_BY)
                        lint_identity(p, r, out);
        }
}

static const struct it_transport *find_transport(const struct it_policy *p, const char *name)
{
        for (size_t i = 0; i < p->ntransports; i++)
                if (strcmp(p->transports[i].name, name) == 0)
                        return &p->transports[i];
        return NULL;
}

static bool has_signature_requirement(const struct it_reqs *reqs)
{
        for (size_t i = 0; i < reqs->n; i++)
                if (reqs->v[i].type == IT_REQ_SIGNED_BY ||
                    reqs->v[i].type == IT_REQ_SIGSTORE_SIGNED)
                        return true;
        return false;
}

/* Is a registries.d scope governed by a policy entry that asks for signatures? Either the same
 * or a related scope (one a namespace of the other) or a wildcard over its host, or a fallback
 * (the docker "" scope or the global default) that asks for signatures. */
static bool regd_scope_covered(const struct it_policy *p, const char *scope)
{
        const struct it_transport *t = find_transport(p, "docker");
        if (t) {
                for (size_t i = 0; i < t->n; i++) {
                        const char *ps = t->scopes[i].name;
                        size_t pl = strlen(ps), sl = strlen(scope);
                        if (!*ps)
                                continue;
                        if (strcmp(ps, scope) == 0)
                                return true;
                        if (pl < sl && strncmp(ps, scope, pl) == 0 && strchr("/:@", scope[pl]))
                                return true;
                        if (sl < pl && strncmp(ps, scope, sl) == 0 && strchr("/:@", ps[sl]))
                                return true;
                        if (strncmp(ps, "*.", 2) == 0) {
                                size_t hl = strcspn(scope, "/");
                                _cleanup_free_ char *host = xstrndup(scope, hl);
                                char *colon = strchr(host, ':');
                                if (colon)
                                        *colon = '\0';
                                size_t dl = strlen(ps + 1), h = strlen(host);
                                if (h > dl && strcmp(host + h - dl, ps + 1) == 0)
                                        return true;
                        }
                }
                for (size_t i = 0; i < t->n; i++)
                        if (!*t->scopes[i].name && has_signature_requirement(&t->scopes[i].reqs))
                                return true;
        }
        return has_signature_requirement(&p->def);
}

static void lint_regd(const struct it_policy *p, const struct it_regd *r, struct it_strv *out)
{
        for (size_t i = 0; i < r->nscopes; i++) {
                const struct it_regd_scope *s = &r->scopes[i];
                if (!s->sec.lookaside && !s->sec.sigstore)
                        continue;
                if (!regd_scope_covered(p, s->scope))
                        it_strv_pushf(
                            out,
                            "%s: docker[\"%s\"].lookaside: no policy.json entry (%s) asks "
                            "for signatures of this scope, so its signatures are never "
                            "checked",
                            s->sec.file, s->scope, p->path);
        }
}

void trust_lint(const struct it_policy *p, const struct it_regd *r, struct it_strv *findings)
{
        lint_reqs(p, &p->def, findings);
        for (size_t i = 0; i < p->ntransports; i++) {
                const struct it_transport *t = &p->transports[i];
                for (size_t j = 0; j < t->n; j++) {
                        lint_reqs(p, &t->scopes[j].reqs, findings);
                        if (strcmp(t->name, "docker") != 0 || !*t->scopes[j].name)
                                continue;
                        char *why = NULL;
                        if (!trust_docker_scope_valid(t->scopes[j].name, &why)) {
                                struct it_buf path = IT_BUF_INIT;
                                it_json_path_key(&path, "transports");
                                it_json_path_key(&path, "docker");
                                it_json_path_key(&path, t->scopes[j].name);
                                it_strv_pushf(findings, "%s: %s: %s", p->path, it_buf_str(&path),
                                              why);
                                it_buf_free(&path);
                                free(why);
                        }
                }
        }
        lint_regd(p, r, findings);
}
