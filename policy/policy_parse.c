/* policy.json: strict parse and validation, as containers/image's signature/policy_config*.go
 * (spec §6.2–6.7).
 *
 * sigstoreSigned takes the current upstream field set (skopeo 1.9.3 knows only keyPath, keyData
 * and signedIdentity). Where the two disagree on a field both know, an input is accepted only if
 * both accept it: a present but empty path member (keyPath, rekorPublicKeyPath, caPath, ...) is
 * refused instead of counting as absent. Scopes are checked as the transports compiled into
 * skopeo 1.9.3 and podman 4.3.1 check them: `atomic:` is not among them, so its scopes are not.
 */
#include "imgtrust/policy.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/base64.h"
#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/fs.h"
#include "imgtrust/json.h"
#include "imgtrust/ref.h"
#include "imgtrust/xalloc.h"

/* Values quoted in messages are cut here: a 4 MiB keyData must not become a 4 MiB message. */
#define QUOTE_MAX 128

struct pctx {
        const char *file;
        struct it_buf path; /* JSON path of the value being checked */
        it_error *err;
};

/* A value from the file, quoted for a one-line message. Allocated. */
static char *quote(const char *s, size_t n)
{
        return it_quoten(s, n, QUOTE_MAX);
}

static char *quote_json(const json_t *v)
{
        return quote(json_string_value(v), json_string_length(v));
}

static int pfail(struct pctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int pfail(struct pctx *c, const char *fmt, ...)
{
        struct it_buf b = IT_BUF_INIT;
        va_list ap;
        va_start(ap, fmt);
        it_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        _cleanup_free_ char *what = it_buf_detach(&b);
        if (!c->path.len)
                return it_error_set(c->err, IT_EINPUT, "%s: %s", c->file, what);
        /* Keys may hold control characters (it_json_path_key keeps them); a message is one line. */
        _cleanup_buf_ struct it_buf path = IT_BUF_INIT;
        for (const char *q = c->path.data; *q; q++) {
                unsigned char ch = (unsigned char)*q;
                if (ch < 0x20 || ch == 0x7f)
                        it_buf_addf(&path, "\\x%02x", ch);
                else
                        it_buf_addch(&path, (char)ch);
        }
        return it_error_set(c->err, IT_EINPUT, "%s: %s: %s", c->file, path.data, what);
}

static size_t push_key(struct pctx *c, const char *key)
{
        size_t n = c->path.len;
        it_json_path_key(&c->path, key);
        return n;
}

static size_t push_index(struct pctx *c, size_t i)
{
        size_t n = c->path.len;
        it_json_path_index(&c->path, i);
        return n;
}

static void pop(struct pctx *c, size_t n)
{
        c->path.len = n;
        if (c->path.data)
                c->path.data[n] = '\0';
}

static const char *type_with_article(json_type t)
{
        switch (t) {
        case JSON_OBJECT:
                return "an object";
        case JSON_ARRAY:
                return "an array";
        case JSON_STRING:
                return "a string";
        default:
                return "a value of another type";
        }
}

/* The value at the current path must have type t. */
static int check_type(struct pctx *c, const json_t *v, json_type t)
{
        if (json_typeof(v) == t)
                return 0;
        return pfail(c, "must be %s, not %s", type_with_article(t), it_json_type_name(v));
}

/* Member `key` of obj, of type t, or NULL in *out when absent. */
static int opt_member(struct pctx *c, const json_t *obj, const char *key, json_type t,
                      const json_t **out)
{
        *out = json_object_get(obj, key);
        if (!*out)
                return 0;
        size_t n = push_key(c, key);
        int rc = check_type(c, *out, t);
        pop(c, n);
        return rc;
}

static int req_member(struct pctx *c, const json_t *obj, const char *key, json_type t,
                      const json_t **out)
{
        int rc = opt_member(c, obj, key, t, out);
        if (rc < 0)
                return rc;
        if (!*out)
                return pfail(c, "missing mandatory key \"%s\"", key);
        return 0;
}

/* Fail at `key` (a member of the object at the current path). */
static int fail_at(struct pctx *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct pctx *c, const char *key, const char *fmt, ...)
{
        struct it_buf b = IT_BUF_INIT;
        va_list ap;
        va_start(ap, fmt);
        it_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        _cleanup_free_ char *what = it_buf_detach(&b);
        size_t n = push_key(c, key);
        int rc = pfail(c, "%s", what);
        pop(c, n);
        return rc;
}

/* Refuse any member not in `allowed` (NULL-terminated); `what` names the object in messages. */
static int check_keys(struct pctx *c, const json_t *obj, const char *const *allowed,
                      const char *what)
{
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)obj, k, v)
        {
                bool ok = false;
                for (const char *const *a = allowed; *a; a++)
                        if (strcmp(*a, k) == 0) {
                                ok = true;
                                break;
                        }
                if (ok)
                        continue;
                struct it_buf list = IT_BUF_INIT;
                for (const char *const *a = allowed; *a; a++) {
                        if (a != allowed)
                                it_buf_adds(&list, ", ");
                        it_buf_adds(&list, *a);
                }
                int rc = fail_at(c, k, "unknown key in %s (allowed: %s)", what, it_buf_str(&list));
                it_buf_free(&list);
                return rc;
        }
        return 0;
}

/* Names of the present members among `keys`, for "N present (a, b)". */
static size_t count_present(const json_t *obj, const char *const *keys, struct it_buf *names)
{
        size_t n = 0;
        for (const char *const *k = keys; *k; k++) {
                if (!json_object_get(obj, *k))
                        continue;
                if (n++)
                        it_buf_adds(names, ", ");
                it_buf_adds(names, *k);
        }
        return n;
}

static void join_or(struct it_buf *b, const char *const *keys)
{
        size_t n = 0;
        while (keys[n])
                n++;
        for (size_t i = 0; i < n; i++) {
                if (i)
                        it_buf_adds(b, i + 1 == n ? " and " : ", ");
                it_buf_adds(b, keys[i]);
        }
}

/* Exactly one (or, with at_most, at most one) of `keys` must be present in obj. Returns the
 * index of the one present, -1 for none (at_most), or an error. */
static int one_of(struct pctx *c, const json_t *obj, const char *const *keys, bool at_most,
                  int *which)
{
        _cleanup_buf_ struct it_buf names = IT_BUF_INIT;
        size_t n = count_present(obj, keys, &names);
        *which = -1;
        for (int i = 0; keys[i]; i++)
                if (json_object_get(obj, keys[i]))
                        *which = i;
        if (n == 1 || (n == 0 && at_most))
                return 0;
        _cleanup_buf_ struct it_buf list = IT_BUF_INIT;
        join_or(&list, keys);
        if (n == 0)
                return pfail(c, "exactly one of %s must be specified, none present",
                             it_buf_str(&list));
        return pfail(c, "%s one of %s must be specified, %zu present (%s)",
                     at_most ? "at most" : "exactly", it_buf_str(&list), n, it_buf_str(&names));
}

/* ---- base64: Go's base64.StdEncoding, as encoding/json decodes []byte ('=' padding required,
 * CR and LF skipped anywhere, non-zero trailing bits tolerated) ---- */

/* On failure returns false and the offset of the offending byte in *bad. */
static bool b64_decode(const char *s, size_t len, struct it_key_blob *out, size_t *bad)
{
        return it_base64_decode(s, len, IT_BASE64_GO, &out->data, &out->len, bad) == 0;
}

/* Decode the base64 string member at the current path into *out. */
static int decode_b64(struct pctx *c, const json_t *v, struct it_key_blob *out)
{
        size_t bad = 0;
        if (b64_decode(json_string_value(v), json_string_length(v), out, &bad))
                return 0;
        return pfail(c, "invalid base64 at byte %zu (standard base64 with \"=\" padding expected)",
                     bad);
}

/* ---- signedIdentity ---- */

static bool is_lower_alnum(char ch)
{
        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static bool is_alnum(char ch)
{
        return is_lower_alnum(ch) || (ch >= 'A' && ch <= 'Z');
}

/* reference.DomainRegexp: components of [A-Za-z0-9-] not starting or ending with '-', joined
 * by '.', then an optional ":port". */
static bool match_domain(const char *s, size_t n)
{
        size_t i = 0;
        for (;;) {
                size_t start = i;
                while (i < n && (is_alnum(s[i]) || s[i] == '-'))
                        i++;
                if (i == start || s[start] == '-' || s[i - 1] == '-')
                        return false;
                if (i < n && s[i] == '.') {
                        i++;
                        continue;
                }
                break;
        }
        if (i == n)
                return true;
        if (s[i] != ':' || ++i == n)
                return false;
        for (; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

/* One path component: [a-z0-9]+ separated by ".", "_", "__" or a run of "-". */
static bool match_path_component(const char *s, size_t n)
{
        size_t i = 0;
        for (;;) {
                size_t start = i;
                while (i < n && is_lower_alnum(s[i]))
                        i++;
                if (i == start)
                        return false;
                if (i == n)
                        return true;
                if (s[i] == '.')
                        i++;
                else if (s[i] == '_')
                        i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
                else if (s[i] == '-')
                        while (i < n && s[i] == '-')
                                i++;
                else
                        return false;
        }
}

/* validateIdentityRemappingPrefix: exactly a domain, or a name that starts with an explicit
 * domain and "/". Like upstream it cannot tell "library/busybox" from "host/busybox". */
static bool valid_remap_prefix(const char *s)
{
        size_t n = strlen(s);
        if (match_domain(s, n))
                return true;
        const char *slash = strchr(s, '/');
        if (!slash || !match_domain(s, (size_t)(slash - s)))
                return false;
        const char *p = slash + 1;
        for (;;) {
                const char *next = strchr(p, '/');
                size_t len = next ? (size_t)(next - p) : strlen(p);
                if (!match_path_component(p, len))
                        return false;
                if (!next)
                        return true;
                p = next + 1;
        }
}

/* A reference member (dockerReference, dockerRepository) that must normalise. */
static int ident_reference(struct pctx *c, const json_t *obj, const char *key, bool need_tag,
                           char **out)
{
        const json_t *v;
        int rc = req_member(c, obj, key, JSON_STRING, &v);
        if (rc < 0)
                return rc;
        const char *s = json_string_value(v);
        _cleanup_error_ it_error rerr = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref ref = IT_REF_INIT;
        if (ref_parse_normalized(s, &ref, &rerr) < 0) {
                _cleanup_free_ char *msg = it_error_format(&rerr);
                return fail_at(c, key, "%s", msg);
        }
        if (need_tag && ref_is_name_only(&ref)) {
                _cleanup_free_ char *q = quote_json(v);
                return fail_at(c, key, "%s has neither a tag nor a digest", q);
        }
        *out = xstrdup(s);
        return 0;
}

static int remap_prefix(struct pctx *c, const json_t *obj, const char *key, char **out)
{
        const json_t *v;
        int rc = req_member(c, obj, key, JSON_STRING, &v);
        if (rc < 0)
                return rc;
        if (!valid_remap_prefix(json_string_value(v))) {
                _cleanup_free_ char *q = quote_json(v);
                return fail_at(c, key,
                               "%s is not valid: must be a host[:port], or a repository name "
                               "starting with one and \"/\", without tag or digest",
                               q);
        }
        *out = xstrdup(json_string_value(v));
        return 0;
}

static const struct {
        const char *name;
        enum it_ident_type type;
} ident_types[] = {
    {"matchRepoDigestOrExact", IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT},
    {"matchExact", IT_IDENT_MATCH_EXACT},
    {"matchRepository", IT_IDENT_MATCH_REPOSITORY},
    {"exactReference", IT_IDENT_EXACT_REFERENCE},
    {"exactRepository", IT_IDENT_EXACT_REPOSITORY},
    {"remapIdentity", IT_IDENT_REMAP_IDENTITY},
};

/* The signedIdentity object obj; `key` names it in messages. */
static int parse_identity_object(struct pctx *c, const json_t *obj, const char *key,
                                 struct it_signed_identity *id)
{
        const json_t *t;
        int rc = req_member(c, obj, "type", JSON_STRING, &t);
        if (rc < 0)
                return rc;
        size_t i;
        for (i = 0; i < sizeof ident_types / sizeof *ident_types; i++)
                if (strcmp(json_string_value(t), ident_types[i].name) == 0)
                        break;
        if (i == sizeof ident_types / sizeof *ident_types) {
                _cleanup_free_ char *q = quote_json(t);
                return fail_at(c, "type",
                               "unknown %s type %s (expected matchRepoDigestOrExact, matchExact, "
                               "matchRepository, exactReference, exactRepository or remapIdentity)",
                               key, q);
        }
        id->type = ident_types[i].type;
        id->given = true;
        static const char *const only_type[] = {"type", NULL};
        static const char *const exact_ref[] = {"type", "dockerReference", NULL};
        static const char *const exact_repo[] = {"type", "dockerRepository", NULL};
        static const char *const remap[] = {"type", "prefix", "signedPrefix", NULL};
        _cleanup_free_ char *what = xasprintf("%s %s", ident_types[i].name, key);
        switch (id->type) {
        case IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT:
        case IT_IDENT_MATCH_EXACT:
        case IT_IDENT_MATCH_REPOSITORY:
                return check_keys(c, obj, only_type, what);
        case IT_IDENT_EXACT_REFERENCE:
                rc = check_keys(c, obj, exact_ref, what);
                if (rc == 0)
                        rc =
                            ident_reference(c, obj, "dockerReference", true, &id->docker_reference);
                return rc;
        case IT_IDENT_EXACT_REPOSITORY:
                rc = check_keys(c, obj, exact_repo, what);
                if (rc == 0)
                        rc = ident_reference(c, obj, "dockerRepository", false,
                                             &id->docker_repository);
                return rc;
        case IT_IDENT_REMAP_IDENTITY:
                rc = check_keys(c, obj, remap, what);
                if (rc == 0)
                        rc = remap_prefix(c, obj, "prefix", &id->prefix);
                if (rc == 0)
                        rc = remap_prefix(c, obj, "signedPrefix", &id->signed_prefix);
                return rc;
        }
        return 0;
}

/* The signedIdentity-like object at member `key` of req (the current path). */
static int parse_identity(struct pctx *c, const json_t *req, const char *key, bool mandatory,
                          struct it_signed_identity *id)
{
        const json_t *obj;
        int rc = mandatory ? req_member(c, req, key, JSON_OBJECT, &obj)
                           : opt_member(c, req, key, JSON_OBJECT, &obj);
        if (rc < 0 || !obj)
                return rc; /* absent: the default, matchRepoDigestOrExact */
        size_t n = push_key(c, key);
        rc = parse_identity_object(c, obj, key, id);
        pop(c, n);
        return rc;
}

/* ---- key material ---- */

/* A path string member that, when present, must not be empty. */
static int path_member(struct pctx *c, const json_t *obj, const char *key, const json_t **out)
{
        int rc = opt_member(c, obj, key, JSON_STRING, out);
        if (rc < 0 || !*out)
                return rc;
        if (json_string_length(*out) == 0)
                return fail_at(c, key, "must not be empty");
        return 0;
}

/* An array of strings; with nonempty, [] is refused. */
static int string_array(struct pctx *c, const json_t *obj, const char *key, bool nonempty,
                        const json_t **out)
{
        int rc = opt_member(c, obj, key, JSON_ARRAY, out);
        if (rc < 0 || !*out)
                return rc;
        size_t n = push_key(c, key);
        if (nonempty && json_array_size(*out) == 0)
                rc = pfail(c, "must not be empty");
        for (size_t i = 0; rc == 0 && i < json_array_size(*out); i++) {
                size_t m = push_index(c, i);
                rc = check_type(c, json_array_get(*out, i), JSON_STRING);
                pop(c, m);
        }
        pop(c, n);
        return rc;
}

/* A base64 string member, decoded into a new blob of r (when r is not NULL). */
static int b64_member(struct pctx *c, const json_t *obj, const char *key, struct it_requirement *r)
{
        const json_t *v;
        int rc = opt_member(c, obj, key, JSON_STRING, &v);
        if (rc < 0 || !v)
                return rc;
        struct it_key_blob blob = {0};
        size_t n = push_key(c, key);
        rc = decode_b64(c, v, &blob);
        pop(c, n);
        if (rc < 0)
                return rc;
        if (!r) {
                free(blob.data);
                return 0;
        }
        r->key_data = xrealloc(r->key_data, (r->nkey_data + 1) * sizeof *r->key_data);
        r->key_data[r->nkey_data++] = blob;
        return 0;
}

/* An array of base64 strings (keyDatas, rekorPublicKeyDatas); must not be empty. */
static int b64_array(struct pctx *c, const json_t *obj, const char *key, struct it_requirement *r)
{
        const json_t *arr;
        int rc = string_array(c, obj, key, true, &arr);
        if (rc < 0 || !arr)
                return rc;
        size_t n = push_key(c, key);
        for (size_t i = 0; rc == 0 && i < json_array_size(arr); i++) {
                struct it_key_blob blob = {0};
                size_t m = push_index(c, i);
                rc = decode_b64(c, json_array_get(arr, i), &blob);
                pop(c, m);
                if (rc < 0)
                        break;
                if (!r) {
                        free(blob.data);
                        continue;
                }
                r->key_data = xrealloc(r->key_data, (r->nkey_data + 1) * sizeof *r->key_data);
                r->key_data[r->nkey_data++] = blob;
        }
        pop(c, n);
        return rc;
}

static void store_paths(struct it_requirement *r, const json_t *arr)
{
        for (size_t i = 0; i < json_array_size(arr); i++)
                it_strv_push(&r->key_paths, json_string_value(json_array_get(arr, i)));
}

/* ---- requirements ---- */

static const char *const key_type_names[] = {
    [IT_KEY_GPG_KEYS] = "GPGKeys",
    [IT_KEY_SIGNED_BY_GPG_KEYS] = "signedByGPGKeys",
    [IT_KEY_X509_CERTIFICATES] = "X509Certificates",
    [IT_KEY_SIGNED_BY_X509_CAS] = "signedByX509CAs",
};

static int parse_signed_by(struct pctx *c, const json_t *obj, struct it_requirement *r)
{
        static const char *const allowed[] = {"type",    "keyType",        "keyPath", "keyPaths",
                                              "keyData", "signedIdentity", NULL};
        static const char *const sources[] = {"keyPath", "keyPaths", "keyData", NULL};
        int rc = check_keys(c, obj, allowed, "a signedBy requirement");
        if (rc < 0)
                return rc;
        const json_t *kt;
        rc = req_member(c, obj, "keyType", JSON_STRING, &kt);
        if (rc < 0)
                return rc;
        size_t i;
        for (i = 0; i < sizeof key_type_names / sizeof *key_type_names; i++)
                if (strcmp(json_string_value(kt), key_type_names[i]) == 0)
                        break;
        if (i == sizeof key_type_names / sizeof *key_type_names) {
                _cleanup_free_ char *q = quote_json(kt);
                return fail_at(c, "keyType",
                               "unknown keyType %s (expected GPGKeys, signedByGPGKeys, "
                               "X509Certificates or signedByX509CAs)",
                               q);
        }
        r->key_type = (enum it_key_type)i;

        const json_t *path, *paths;
        rc = opt_member(c, obj, "keyPath", JSON_STRING, &path);
        if (rc == 0)
                rc = string_array(c, obj, "keyPaths", false, &paths);
        if (rc == 0) {
                const json_t *data;
                rc = opt_member(c, obj, "keyData", JSON_STRING, &data);
        }
        int which;
        if (rc == 0)
                rc = one_of(c, obj, sources, false, &which);
        if (rc < 0)
                return rc;
        switch (which) {
        case 0:
                if (json_string_length(path) == 0)
                        return fail_at(c, "keyPath",
                                       "empty; exactly one of keyPath, keyPaths and keyData must "
                                       "be specified, and an empty keyPath counts as none");
                r->key_source = IT_KEYSRC_PATH;
                r->key_path = xstrdup(json_string_value(path));
                break;
        case 1:
                r->key_source = IT_KEYSRC_PATHS;
                store_paths(r, paths);
                break;
        default:
                r->key_source = IT_KEYSRC_DATA;
                rc = b64_member(c, obj, "keyData", r);
                if (rc < 0)
                        return rc;
                break;
        }
        return parse_identity(c, obj, "signedIdentity", false, &r->identity);
}

static int parse_fulcio(struct pctx *c, const json_t *obj)
{
        static const char *const allowed[] = {"caPath", "caData", "oidcIssuer", "subjectEmail",
                                              NULL};
        static const char *const ca[] = {"caPath", "caData", NULL};
        int rc = check_keys(c, obj, allowed, "fulcio");
        const json_t *v;
        int which;
        if (rc == 0)
                rc = path_member(c, obj, "caPath", &v);
        if (rc == 0)
                rc = b64_member(c, obj, "caData", NULL);
        if (rc == 0)
                rc = one_of(c, obj, ca, false, &which);
        if (rc == 0)
                rc = req_member(c, obj, "oidcIssuer", JSON_STRING, &v);
        if (rc == 0 && json_string_length(v) == 0)
                rc = fail_at(c, "oidcIssuer", "must not be empty");
        if (rc == 0)
                rc = req_member(c, obj, "subjectEmail", JSON_STRING, &v);
        if (rc == 0 && json_string_length(v) == 0)
                rc = fail_at(c, "subjectEmail", "must not be empty");
        return rc;
}

static int parse_pki(struct pctx *c, const json_t *obj)
{
        static const char *const allowed[] = {"caRootsPath",
                                              "caRootsData",
                                              "caIntermediatesPath",
                                              "caIntermediatesData",
                                              "subjectEmail",
                                              "subjectHostname",
                                              NULL};
        static const char *const roots[] = {"caRootsPath", "caRootsData", NULL};
        static const char *const inter[] = {"caIntermediatesPath", "caIntermediatesData", NULL};
        int rc = check_keys(c, obj, allowed, "pki");
        const json_t *email = NULL, *host = NULL, *v;
        int which;
        if (rc == 0)
                rc = path_member(c, obj, "caRootsPath", &v);
        if (rc == 0)
                rc = b64_member(c, obj, "caRootsData", NULL);
        if (rc == 0)
                rc = one_of(c, obj, roots, false, &which);
        if (rc == 0)
                rc = path_member(c, obj, "caIntermediatesPath", &v);
        if (rc == 0)
                rc = b64_member(c, obj, "caIntermediatesData", NULL);
        if (rc == 0)
                rc = one_of(c, obj, inter, true, &which);
        if (rc == 0)
                rc = opt_member(c, obj, "subjectEmail", JSON_STRING, &email);
        if (rc == 0)
                rc = opt_member(c, obj, "subjectHostname", JSON_STRING, &host);
        if (rc < 0)
                return rc;
        /* As upstream, an empty subject counts as absent. */
        if ((!email || json_string_length(email) == 0) && (!host || json_string_length(host) == 0))
                return pfail(c, "at least one of subjectEmail and subjectHostname must be "
                                "specified");
        return 0;
}

static int sub_object(struct pctx *c, const json_t *obj, const char *key,
                      int (*parse)(struct pctx *, const json_t *))
{
        const json_t *v;
        int rc = opt_member(c, obj, key, JSON_OBJECT, &v);
        if (rc < 0 || !v)
                return rc;
        size_t n = push_key(c, key);
        rc = parse(c, v);
        pop(c, n);
        return rc;
}

static int parse_sigstore(struct pctx *c, const json_t *obj, struct it_requirement *r)
{
        static const char *const allowed[] = {"type",
                                              "keyPath",
                                              "keyPaths",
                                              "keyData",
                                              "keyDatas",
                                              "fulcio",
                                              "pki",
                                              "rekorPublicKeyPath",
                                              "rekorPublicKeyPaths",
                                              "rekorPublicKeyData",
                                              "rekorPublicKeyDatas",
                                              "signedIdentity",
                                              NULL};
        static const char *const sources[] = {"keyPath", "keyPaths", "keyData", "keyDatas",
                                              "fulcio",  "pki",      NULL};
        static const char *const rekor[] = {"rekorPublicKeyPath", "rekorPublicKeyPaths",
                                            "rekorPublicKeyData", "rekorPublicKeyDatas", NULL};
        int rc = check_keys(c, obj, allowed, "a sigstoreSigned requirement");
        const json_t *path = NULL, *paths = NULL, *v;
        int which = -1, rwhich = -1;
        if (rc == 0)
                rc = opt_member(c, obj, "keyPath", JSON_STRING, &path);
        if (rc == 0)
                rc = string_array(c, obj, "keyPaths", true, &paths);
        if (rc == 0)
                rc = b64_member(c, obj, "keyData", r);
        if (rc == 0)
                rc = b64_array(c, obj, "keyDatas", r);
        if (rc == 0)
                rc = sub_object(c, obj, "fulcio", parse_fulcio);
        if (rc == 0)
                rc = sub_object(c, obj, "pki", parse_pki);
        if (rc == 0)
                rc = one_of(c, obj, sources, false, &which);
        /* Checked after counting, as for signedBy: `"keyPath": ""` is one source too many or an
         * empty one. */
        if (rc == 0 && path && json_string_length(path) == 0)
                rc = fail_at(c, "keyPath", "must not be empty");
        if (rc == 0)
                rc = path_member(c, obj, "rekorPublicKeyPath", &v);
        if (rc == 0)
                rc = string_array(c, obj, "rekorPublicKeyPaths", true, &v);
        if (rc == 0)
                rc = b64_member(c, obj, "rekorPublicKeyData", NULL);
        if (rc == 0)
                rc = b64_array(c, obj, "rekorPublicKeyDatas", NULL);
        if (rc == 0)
                rc = one_of(c, obj, rekor, true, &rwhich);
        if (rc < 0)
                return rc;
        if (which == 4 && rwhich < 0)
                return pfail(c, "a Rekor public key (rekorPublicKeyPath, rekorPublicKeyPaths, "
                                "rekorPublicKeyData or rekorPublicKeyDatas) is required with "
                                "fulcio");
        static const enum it_key_source srcs[] = {IT_KEYSRC_PATH,  IT_KEYSRC_PATHS,  IT_KEYSRC_DATA,
                                                  IT_KEYSRC_DATAS, IT_KEYSRC_FULCIO, IT_KEYSRC_PKI};
        r->key_source = srcs[which];
        if (path)
                r->key_path = xstrdup(json_string_value(path));
        if (paths)
                store_paths(r, paths);
        return parse_identity(c, obj, "signedIdentity", false, &r->identity);
}

static const char *const req_type_names[] = {
    [IT_REQ_INSECURE_ACCEPT_ANYTHING] = "insecureAcceptAnything",
    [IT_REQ_REJECT] = "reject",
    [IT_REQ_SIGNED_BY] = "signedBy",
    [IT_REQ_SIGSTORE_SIGNED] = "sigstoreSigned",
    [IT_REQ_SIGNED_BASE_LAYER] = "signedBaseLayer",
};

static int parse_requirement(struct pctx *c, const json_t *obj, struct it_requirement *r)
{
        r->where = xstrdup(it_buf_str(&c->path));
        int rc = check_type(c, obj, JSON_OBJECT);
        if (rc < 0)
                return rc;
        const json_t *t;
        rc = req_member(c, obj, "type", JSON_STRING, &t);
        if (rc < 0)
                return rc;
        size_t i;
        for (i = 0; i < sizeof req_type_names / sizeof *req_type_names; i++)
                if (strcmp(json_string_value(t), req_type_names[i]) == 0)
                        break;
        if (i == sizeof req_type_names / sizeof *req_type_names) {
                _cleanup_free_ char *q = quote_json(t);
                return fail_at(c, "type",
                               "unknown requirement type %s (expected insecureAcceptAnything, "
                               "reject, signedBy, sigstoreSigned or signedBaseLayer)",
                               q);
        }
        r->type = (enum it_req_type)i;
        static const char *const only_type[] = {"type", NULL};
        static const char *const base_layer[] = {"type", "baseLayerIdentity", NULL};
        switch (r->type) {
        case IT_REQ_INSECURE_ACCEPT_ANYTHING:
                return check_keys(c, obj, only_type, "an insecureAcceptAnything requirement");
        case IT_REQ_REJECT:
                return check_keys(c, obj, only_type, "a reject requirement");
        case IT_REQ_SIGNED_BY:
                return parse_signed_by(c, obj, r);
        case IT_REQ_SIGSTORE_SIGNED:
                return parse_sigstore(c, obj, r);
        case IT_REQ_SIGNED_BASE_LAYER:
                rc = check_keys(c, obj, base_layer, "a signedBaseLayer requirement");
                if (rc < 0)
                        return rc;
                return parse_identity(c, obj, "baseLayerIdentity", true, &r->identity);
        }
        return 0;
}

/* The requirement list at the current path. */
static int parse_reqs(struct pctx *c, const json_t *arr, struct it_reqs *out)
{
        int rc = check_type(c, arr, JSON_ARRAY);
        if (rc < 0)
                return rc;
        size_t n = json_array_size(arr);
        if (n == 0)
                return pfail(c, "the requirement list must not be empty");
        out->v = xcalloc(n, sizeof *out->v);
        for (size_t i = 0; i < n; i++) {
                out->n++; /* counted first so that policy_free frees a half-built one */
                size_t m = push_index(c, i);
                rc = parse_requirement(c, json_array_get(arr, i), &out->v[i]);
                pop(c, m);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

/* ---- scopes (ValidatePolicyConfigurationScope of each transport) ---- */

enum scope_rule {
        SCOPE_ANY,           /* docker; atomic (not compiled into skopeo 1.9.3 / podman 4.3.1) */
        SCOPE_PATH_NOT_ROOT, /* dir, sif, oci, oci-archive: absolute, clean, not "/" */
        SCOPE_ONLY_DEFAULT,  /* docker-archive, tarball */
        SCOPE_NOT_DIGEST,    /* docker-daemon */
        SCOPE_STORAGE,       /* containers-storage */
};

static const struct {
        const char *name;
        enum scope_rule rule;
} known_transports[] = {
    {"atomic", SCOPE_ANY},
    {"containers-storage", SCOPE_STORAGE},
    {"dir", SCOPE_PATH_NOT_ROOT},
    {"docker", SCOPE_ANY},
    {"docker-archive", SCOPE_ONLY_DEFAULT},
    {"docker-daemon", SCOPE_NOT_DIGEST},
    {"oci", SCOPE_PATH_NOT_ROOT},
    {"oci-archive", SCOPE_PATH_NOT_ROOT},
    {"sif", SCOPE_PATH_NOT_ROOT},
    {"tarball", SCOPE_ONLY_DEFAULT},
};

/* Go's filepath.Clean of an absolute path. Allocated. */
static char *clean_abs_path(const char *p)
{
        struct it_buf b = IT_BUF_INIT;
        while (*p) {
                while (*p == '/')
                        p++;
                const char *e = strchrnul(p, '/');
                size_t n = (size_t)(e - p);
                if (n == 0 || (n == 1 && p[0] == '.')) {
                        /* nothing */
                } else if (n == 2 && p[0] == '.' && p[1] == '.') {
                        char *last = b.len ? strrchr(b.data, '/') : NULL;
                        if (last) {
                                b.len = (size_t)(last - b.data);
                                b.data[b.len] = '\0';
                        }
                } else {
                        it_buf_addch(&b, '/');
                        it_buf_add(&b, p, n);
                }
                p = e;
        }
        if (b.len == 0)
                it_buf_addch(&b, '/');
        return it_buf_detach(&b);
}

static bool valid_image_id(const char *s)
{
        _cleanup_free_ char *d = xasprintf("sha256:%s", s);
        return digest_valid(d);
}

/* containers-storage: "[driver@/root]" or "[/root]", then optionally name[:tag], "@digest" and/or
 * "@id". Returns NULL when valid, else what is wrong (allocated). */
static char *check_storage_scope(const char *scope)
{
        const char *close = strchr(scope, ']');
        if (scope[0] != '[' || !close || close == scope)
                return xstrdup("must start with \"[/graph/root]\" or \"[driver@/graph/root]\"");
        _cleanup_free_ char *spec = xstrndup(scope + 1, (size_t)(close - scope - 1));
        char *at = strchr(spec, '@');
        const char *root = spec;
        if (at) {
                *at = '\0';
                root = at + 1;
                if (!*spec || !*root)
                        return xstrdup("must start with \"[/graph/root]\" or "
                                       "\"[driver@/graph/root]\"");
        } else if (!*spec) {
                return xstrdup("must start with \"[/graph/root]\" or \"[driver@/graph/root]\"");
        }
        if (root[0] != '/')
                return xstrdup("the store root must be an absolute path");
        const char *rest = close + 1;
        const char *a1 = strchr(rest, '@');
        if (!a1)
                return NULL;
        const char *a2 = strchr(a1 + 1, '@');
        if (!a2) {
                if (valid_image_id(a1 + 1) || digest_valid(a1 + 1))
                        return NULL;
                _cleanup_free_ char *q = quote(a1 + 1, strlen(a1 + 1));
                return xasprintf("%s is neither a valid image ID nor a valid digest", q);
        }
        _cleanup_free_ char *dig = xstrndup(a1 + 1, (size_t)(a2 - a1 - 1));
        if (!digest_valid(dig)) {
                _cleanup_free_ char *q = quote(dig, strlen(dig));
                return xasprintf("%s is not a valid digest", q);
        }
        if (!valid_image_id(a2 + 1)) {
                _cleanup_free_ char *q = quote(a2 + 1, strlen(a2 + 1));
                return xasprintf("%s is not a valid image ID", q);
        }
        return NULL;
}

/* NULL when `scope` (not "") is valid for a transport with this rule, else what is wrong. */
static char *check_scope(const char *transport, enum scope_rule rule, const char *scope)
{
        switch (rule) {
        case SCOPE_ANY:
                return NULL;
        case SCOPE_PATH_NOT_ROOT: {
                if (scope[0] != '/')
                        return xstrdup("must be an absolute path");
                if (strcmp(scope, "/") == 0)
                        return xstrdup("\"/\" is not allowed, use the default scope \"\"");
                _cleanup_free_ char *clean = clean_abs_path(scope);
                if (strcmp(clean, scope) != 0) {
                        _cleanup_free_ char *q = quote(clean, strlen(clean));
                        return xasprintf("not a clean path (use %s)", q);
                }
                return NULL;
        }
        case SCOPE_ONLY_DEFAULT:
                return xasprintf("%s supports only the default scope \"\"", transport);
        case SCOPE_NOT_DIGEST:
                if (digest_valid(scope))
                        return xstrdup("a digest (image ID) cannot be used as a scope");
                return NULL;
        case SCOPE_STORAGE:
                return check_storage_scope(scope);
        }
        return NULL;
}

static int parse_transport(struct pctx *c, const char *name, const json_t *obj,
                           struct it_transport *t)
{
        t->name = xstrdup(name);
        int rule = -1;
        for (size_t i = 0; i < sizeof known_transports / sizeof *known_transports; i++)
                if (strcmp(name, known_transports[i].name) == 0)
                        rule = (int)known_transports[i].rule;
        t->known = rule >= 0;
        int rc = check_type(c, obj, JSON_OBJECT);
        if (rc < 0)
                return rc;
        t->scopes = xcalloc(json_object_size(obj) + 1, sizeof *t->scopes);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)obj, k, v)
        {
                struct it_scope *s = &t->scopes[t->n++];
                s->name = xstrdup(k);
                size_t m = push_key(c, k);
                if (*k && rule >= 0) {
                        _cleanup_free_ char *why = check_scope(name, (enum scope_rule)rule, k);
                        if (why)
                                rc = pfail(c, "invalid scope: %s", why);
                }
                if (rc == 0)
                        rc = parse_reqs(c, v, &s->reqs);
                pop(c, m);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

static int parse_transports(struct pctx *c, const json_t *obj, struct it_policy *p)
{
        int rc = check_type(c, obj, JSON_OBJECT);
        if (rc < 0)
                return rc;
        p->transports = xcalloc(json_object_size(obj) + 1, sizeof *p->transports);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)obj, k, v)
        {
                size_t n = push_key(c, k);
                rc = parse_transport(c, k, v, &p->transports[p->ntransports++]);
                pop(c, n);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

/* ---- the document ---- */

int policy_from_json(const json_t *doc, const char *path, bool allow_unknown_top,
                     struct it_policy *out, it_error *err)
{
        struct pctx c = {.file = path, .path = IT_BUF_INIT, .err = err};
        struct it_policy p = IT_POLICY_INIT;
        int rc = 0;
        bool have_default = false;
        memset(out, 0, sizeof *out);
        p.path = xstrdup(path);
        if (!json_is_object(doc)) {
                rc = pfail(&c, "must be a JSON object with \"default\" and \"transports\", not %s",
                           it_json_type_name(doc));
                goto out;
        }
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)doc, k, v)
        {
                size_t m = push_key(&c, k);
                if (strcmp(k, "default") == 0) {
                        have_default = true;
                        rc = parse_reqs(&c, v, &p.def);
                } else if (strcmp(k, "transports") == 0) {
                        rc = parse_transports(&c, v, &p);
                } else if (!allow_unknown_top) {
                        rc = pfail(&c, "unknown key (allowed at the top level: default, "
                                       "transports)");
                }
                pop(&c, m);
                if (rc < 0)
                        goto out;
        }
        if (!have_default)
                rc = pfail(&c, "missing mandatory key \"default\"");
out:
        it_buf_free(&c.path);
        if (rc < 0) {
                policy_free(&p);
                return rc;
        }
        *out = p;
        return 0;
}

/* jansson quotes the text near a syntax error as it is, line breaks included; a message is one
 * line. */
static void message_one_line(it_error *err)
{
        if (!err->msg || !strpbrk(err->msg, "\n\r"))
                return;
        struct it_buf b = IT_BUF_INIT;
        for (const char *q = err->msg; *q; q++) {
                if (*q == '\n' || *q == '\r')
                        it_buf_adds(&b, *q == '\n' ? "\\n" : "\\r");
                else
                        it_buf_addch(&b, *q);
        }
        free(err->msg);
        err->msg = it_buf_detach(&b);
}

int policy_parse(const char *data, size_t len, const char *path, struct it_policy *out,
                 it_error *err)
{
        _cleanup_json_ json_t *doc = NULL;
        memset(out, 0, sizeof *out);
        int rc = it_json_parse(data, len, IT_POLICY_MAX_BYTES, path, &doc, err);
        if (rc < 0) {
                message_one_line(err);
                return rc;
        }
        return policy_from_json(doc, path, false, out, err);
}

int policy_load(const char *path, struct it_policy *out, it_error *err)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        memset(out, 0, sizeof *out);
        int rc = it_file_read(path, IT_POLICY_MAX_BYTES, &data, &len, err);
        if (rc < 0)
                return rc;
        return policy_parse(data, len, path, out, err);
}

static void identity_free(struct it_signed_identity *id)
{
        free(id->docker_reference);
        free(id->docker_repository);
        free(id->prefix);
        free(id->signed_prefix);
}

static void reqs_free(struct it_reqs *reqs)
{
        for (size_t i = 0; i < reqs->n; i++) {
                struct it_requirement *r = &reqs->v[i];
                free(r->where);
                free(r->key_path);
                it_strv_free(&r->key_paths);
                for (size_t j = 0; j < r->nkey_data; j++)
                        free(r->key_data[j].data);
                free(r->key_data);
                identity_free(&r->identity);
        }
        free(reqs->v);
        reqs->v = NULL;
        reqs->n = 0;
}

void policy_free(struct it_policy *p)
{
        if (!p)
                return;
        free(p->path);
        reqs_free(&p->def);
        for (size_t i = 0; i < p->ntransports; i++) {
                struct it_transport *t = &p->transports[i];
                for (size_t j = 0; j < t->n; j++) {
                        free(t->scopes[j].name);
                        reqs_free(&t->scopes[j].reqs);
                }
                free(t->scopes);
                free(t->name);
        }
        free(p->transports);
        memset(p, 0, sizeof *p);
}

const char *policy_req_type_name(enum it_req_type t)
{
        if ((size_t)t < sizeof req_type_names / sizeof *req_type_names)
                return req_type_names[t];
        return "unknown";
}

const char *policy_ident_type_name(enum it_ident_type t)
{
        for (size_t i = 0; i < sizeof ident_types / sizeof *ident_types; i++)
                if (ident_types[i].type == t)
                        return ident_types[i].name;
        return "unknown";
}

const char *policy_key_type_name(enum it_key_type t)
{
        if ((size_t)t < sizeof key_type_names / sizeof *key_type_names)
                return key_type_names[t];
        return "unknown";
}

void policy_req_key_files(const struct it_requirement *r, struct it_strv *out)
{
        if (r->key_path)
                it_strv_push(out, r->key_path);
        for (size_t i = 0; i < r->key_paths.n; i++)
                it_strv_push(out, r->key_paths.v[i]);
}
