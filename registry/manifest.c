#include "imgtrust/manifest.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/json.h"
#include "imgtrust/xalloc.h"

/* A JWS protected header is tiny; anything larger is not one. */
#define PROTECTED_MAX (64u << 10)
#define QUOTE_MAX 80

/* it_json_type_name, with "missing" for an absent member. */
static const char *type_name(const json_t *v)
{
        return v ? it_json_type_name(v) : "missing";
}

static int parse_manifest(const void *m, size_t len, json_t **out, it_error *err)
{
        return it_json_parse(m, len, IT_MANIFEST_MAX, "manifest", out, err);
}

static bool is_known_v2(const char *mt)
{
        return !strcmp(mt, IT_MT_DOCKER_V2S2) || !strcmp(mt, IT_MT_DOCKER_LIST) ||
               !strcmp(mt, IT_MT_OCI_MANIFEST) || !strcmp(mt, IT_MT_OCI_INDEX);
}

/* GuessMIMEType on a parsed document. Go's json.Unmarshal fails (and the guess is "") when a
 * member it reads has the wrong type; the same members are checked here. */
static const char *guess_type(const json_t *root)
{
        if (!json_is_object(root))
                return NULL;
        const json_t *mt = json_object_get(root, "mediaType");
        const json_t *sv = json_object_get(root, "schemaVersion");
        if (mt && !json_is_string(mt) && !json_is_null(mt))
                return NULL;
        if (sv && !json_is_integer(sv) && !json_is_null(sv))
                return NULL;
        const char *mts = json_is_string(mt) ? json_string_value(mt) : "";
        if (is_known_v2(mts)) {
                for (const char *const *k =
                         (const char *const[]){IT_MT_DOCKER_V2S2, IT_MT_DOCKER_LIST,
                                               IT_MT_OCI_MANIFEST, IT_MT_OCI_INDEX, NULL};
                     *k; k++)
                        if (!strcmp(*k, mts))
                                return *k;
        }
        json_int_t v = json_is_integer(sv) ? json_integer_value(sv) : 0;
        if (v == 1) {
                const json_t *s = json_object_get(root, "signatures");
                return s && !json_is_null(s) ? IT_MT_DOCKER_V2S1_SIGNED : IT_MT_DOCKER_V2S1;
        }
        if (v != 2)
                return NULL;
        const json_t *cfg = json_object_get(root, "config");
        const char *cmt = "";
        if (cfg && !json_is_null(cfg)) {
                if (!json_is_object(cfg))
                        return NULL;
                const json_t *c = json_object_get(cfg, "mediaType");
                if (c && !json_is_string(c) && !json_is_null(c))
                        return NULL;
                if (json_is_string(c))
                        cmt = json_string_value(c);
        }
        if (!strcmp(cmt, "application/vnd.oci.image.config.v1+json"))
                return IT_MT_OCI_MANIFEST;
        if (!strcmp(cmt, "application/vnd.docker.container.image.v1+json"))
                return IT_MT_DOCKER_V2S2;
        const json_t *mans = json_object_get(root, "manifests");
        if (mans && !json_is_array(mans) && !json_is_null(mans))
                return NULL;
        if (json_is_array(mans) && json_array_size(mans) != 0)
                /* Upstream then returns the config's media type when there is one: not a manifest
                 * type at all, so it is "unknown" here. */
                return *cmt ? NULL : IT_MT_OCI_INDEX;
        return IT_MT_OCI_MANIFEST;
}

const char *manifest_media_type(const void *m, size_t len)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_json_ json_t *root = NULL;
        if (parse_manifest(m, len, &root, &err))
                return NULL;
        return guess_type(root);
}

bool manifest_type_is_list(const char *media_type)
{
        return media_type &&
               (!strcmp(media_type, IT_MT_DOCKER_LIST) || !strcmp(media_type, IT_MT_OCI_INDEX));
}

static int b64url_value(unsigned char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '-')
                return 62;
        if (c == '_')
                return 63;
        return -1;
}

/* libtrust's joseBase64UrlDecode: line breaks and spaces dropped, padding restored, then Go's
 * base64.URLEncoding (not strict: CR ignored, unused bits of the last character ignored). */
static int jose_b64url_decode(const char *s, struct it_buf *out, const char *what, it_error *err)
{
        _cleanup_buf_ struct it_buf clean = IT_BUF_INIT;
        for (const char *p = s; *p; p++)
                if (*p != '\n' && *p != ' ' && *p != '\r')
                        it_buf_addch(&clean, *p);
        const char *c = it_buf_str(&clean);
        size_t n = clean.len;
        if (n % 4 == 1)
                return it_error_set(err, IT_EINPUT, "%s: illegal base64url string", what);
        /* Padding already present is only valid when the length was a multiple of 4. */
        size_t pad = 0;
        if (n % 4 == 0)
                while (pad < 2 && n > pad && c[n - 1 - pad] == '=')
                        pad++;
        size_t data = n - pad;
        if (pad && data % 4 != 4 - pad)
                return it_error_set(err, IT_EINPUT, "%s: illegal base64url data at input byte %zu",
                                    what, data);
        uint32_t acc = 0;
        unsigned bits = 0;
        for (size_t i = 0; i < data; i++) {
                int v = b64url_value((unsigned char)c[i]);
                if (v < 0)
                        return it_error_set(err, IT_EINPUT,
                                            "%s: illegal base64url data at input byte %zu", what,
                                            i);
                acc = (acc << 6) | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        it_buf_addch(out, (char)((acc >> bits) & 0xff));
                }
        }
        return 0;
}

/* libtrust ParsePrettySignature + Payload(): the bytes the schema 1 signatures cover. */
static int schema1_payload(const char *m, size_t len, const json_t *root, struct it_buf *payload,
                           it_error *err)
{
        const json_t *sigs = json_object_get(root, "signatures");
        if (!json_is_array(sigs))
                return it_error_set(err, IT_EINPUT,
                                    "signed schema 1 manifest: signatures: expected an array, got "
                                    "%s",
                                    type_name(sigs));
        if (json_array_size(sigs) == 0)
                return it_error_set(err, IT_EINPUT,
                                    "signed schema 1 manifest: signatures: missing signatures");
        json_int_t flen = -1;
        _cleanup_free_ char *ftail = NULL;
        size_t i;
        const json_t *sig;
        json_array_foreach(sigs, i, sig)
        {
                _cleanup_free_ char *what =
                    xasprintf("signed schema 1 manifest: signatures[%zu]", i);
                if (!json_is_object(sig))
                        return it_error_set(err, IT_EINPUT, "%s: expected an object, got %s", what,
                                            type_name(sig));
                const json_t *prot = json_object_get(sig, "protected");
                if (!json_is_string(prot))
                        return it_error_set(err, IT_EINPUT,
                                            "%s: protected: expected a string, got %s", what,
                                            type_name(prot));
                _cleanup_buf_ struct it_buf hdr = IT_BUF_INIT;
                _cleanup_free_ char *pwhat = xasprintf("%s: protected", what);
                int rc = jose_b64url_decode(json_string_value(prot), &hdr, pwhat, err);
                if (rc)
                        return rc;
                _cleanup_json_ json_t *h = NULL;
                rc = it_json_parse(it_buf_str(&hdr), hdr.len, PROTECTED_MAX, pwhat, &h, err);
                if (rc)
                        return rc;
                const json_t *fl = h ? json_object_get(h, "formatLength") : NULL;
                const json_t *ft = h ? json_object_get(h, "formatTail") : NULL;
                if (!json_is_object(h) || !json_is_integer(fl) || !json_is_string(ft))
                        return it_error_set(err, IT_EINPUT,
                                            "%s: protected header lacks formatLength (integer) "
                                            "and formatTail (string)",
                                            what);
                if (i == 0) {
                        flen = json_integer_value(fl);
                        ftail = xstrdup(json_string_value(ft));
                } else if (flen != json_integer_value(fl) ||
                           strcmp(ftail, json_string_value(ft)) != 0) {
                        return it_error_set(err, IT_EINPUT,
                                            "%s: formatLength/formatTail differ from "
                                            "signatures[0]",
                                            what);
                }
                if (flen < 0 || (unsigned long long)flen > len)
                        return it_error_set(err, IT_EINPUT,
                                            "%s: invalid format length %lld (manifest has %zu "
                                            "bytes)",
                                            what, (long long)flen, len);
        }
        _cleanup_buf_ struct it_buf tail = IT_BUF_INIT;
        int rc = jose_b64url_decode(ftail, &tail, "signed schema 1 manifest: formatTail", err);
        if (rc)
                return rc;
        it_buf_add(payload, m, (size_t)flen);
        it_buf_add(payload, tail.data ? tail.data : "", tail.len);
        return 0;
}

int manifest_digest(const void *m, size_t len, struct it_digest *out, it_error *err)
{
        _cleanup_json_ json_t *root = NULL;
        int rc = parse_manifest(m, len, &root, err);
        if (rc)
                return rc;
        const char *mt = guess_type(root);
        if (mt && !strcmp(mt, IT_MT_DOCKER_V2S1_SIGNED)) {
                _cleanup_buf_ struct it_buf payload = IT_BUF_INIT;
                rc = schema1_payload(m, len, root, &payload, err);
                if (rc)
                        return rc;
                digest_compute(IT_DIGEST_SHA256, payload.data ? payload.data : "", payload.len,
                               out);
                return 0;
        }
        digest_compute(IT_DIGEST_SHA256, m, len, out);
        return 0;
}

void manifest_list_free(struct it_manifest_list *l)
{
        for (size_t i = 0; i < l->n; i++) {
                free(l->v[i].media_type);
                free(l->v[i].os);
                free(l->v[i].arch);
                free(l->v[i].variant);
        }
        free(l->v);
        memset(l, 0, sizeof *l);
}

/* An optional string member: absent or null is "", anything but a string an error. */
static int opt_string(const json_t *obj, const char *key, const char *what, char **out,
                      it_error *err)
{
        const json_t *v = json_object_get(obj, key);
        if (v && !json_is_null(v) && !json_is_string(v))
                return it_error_set(err, IT_EINPUT, "%s.%s: expected a string, got %s", what, key,
                                    type_name(v));
        *out = xstrdup(json_is_string(v) ? json_string_value(v) : "");
        return 0;
}

static int parse_instance(const json_t *e, size_t i, struct it_manifest_instance *in, it_error *err)
{
        _cleanup_free_ char *what = xasprintf("manifest list: manifests[%zu]", i);
        if (!json_is_object(e))
                return it_error_set(err, IT_EINPUT, "%s: expected an object, got %s", what,
                                    type_name(e));
        const json_t *d = json_object_get(e, "digest");
        if (!json_is_string(d))
                return it_error_set(err, IT_EINPUT, "%s.digest: expected a string, got %s", what,
                                    type_name(d));
        int rc = digest_parse(json_string_value(d), &in->digest, err);
        if (rc)
                return it_error_wrap(err, "%s.digest", what);
        const json_t *sz = json_object_get(e, "size");
        in->size = -1;
        if (sz && !json_is_null(sz)) {
                if (!json_is_integer(sz) || json_integer_value(sz) < 0)
                        return it_error_set(err, IT_EINPUT,
                                            "%s.size: expected a non-negative integer", what);
                in->size = json_integer_value(sz);
        }
        rc = opt_string(e, "mediaType", what, &in->media_type, err);
        if (rc)
                return rc;
        const json_t *p = json_object_get(e, "platform");
        if (p && !json_is_null(p)) {
                if (!json_is_object(p))
                        return it_error_set(err, IT_EINPUT,
                                            "%s.platform: expected an object, got %s", what,
                                            type_name(p));
                in->has_platform = true;
        }
        _cleanup_free_ char *pwhat = xasprintf("%s.platform", what);
        const json_t *po = in->has_platform ? p : NULL;
        if (po) {
                if ((rc = opt_string(po, "os", pwhat, &in->os, err)) ||
                    (rc = opt_string(po, "architecture", pwhat, &in->arch, err)) ||
                    (rc = opt_string(po, "variant", pwhat, &in->variant, err)))
                        return rc;
        } else {
                in->os = xstrdup("");
                in->arch = xstrdup("");
                in->variant = xstrdup("");
        }
        return 0;
}

int manifest_list_instances(const void *m, size_t len, struct it_manifest_list *out, it_error *err)
{
        memset(out, 0, sizeof *out);
        _cleanup_json_ json_t *root = NULL;
        int rc = parse_manifest(m, len, &root, err);
        if (rc)
                return rc;
        const char *mt = guess_type(root);
        if (!manifest_type_is_list(mt)) {
                return it_error_set(err, IT_EINPUT,
                                    "manifest is not a manifest list or image index (%s)",
                                    mt ? mt : "unknown type");
        }
        const json_t *mans = json_object_get(root, "manifests");
        if (!json_is_array(mans))
                return it_error_set(err, IT_EINPUT,
                                    "manifest list: manifests: expected an array, got %s",
                                    type_name(mans));
        struct it_manifest_list l = {.media_type = mt};
        l.v = xcalloc(json_array_size(mans) + 1, sizeof *l.v);
        size_t i;
        const json_t *e;
        json_array_foreach(mans, i, e)
        {
                rc = parse_instance(e, i, &l.v[i], err);
                l.n = i + 1;
                if (rc) {
                        manifest_list_free(&l);
                        return rc;
                }
        }
        *out = l;
        return 0;
}

const char *manifest_host_arch(void)
{
        static const struct {
                const char *machine, *goarch;
        } map[] = {
            {"x86_64", "amd64"},    {"aarch64", "arm64"}, {"i686", "386"},
            {"i386", "386"},        {"armv7l", "arm"},    {"armv6l", "arm"},
            {"ppc64le", "ppc64le"}, {"s390x", "s390x"},   {"riscv64", "riscv64"},
            {"mips64", "mips64le"},
        };
        struct utsname u;
        if (uname(&u) == 0)
                for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
                        if (!strcmp(u.machine, map[i].machine))
                                return map[i].goarch;
#if defined(__x86_64__)
        return "amd64";
#elif defined(__aarch64__)
        return "arm64";
#else
        return "unknown";
#endif
}

/* containers/image's platform.compatibility: variants of an architecture, most capable first. */
static const char *const *arch_variants(const char *arch)
{
        static const char *const arm[] = {"v8", "v7", "v6", "v5", NULL};
        static const char *const arm64[] = {"v8", NULL};
        if (!strcmp(arch, "arm"))
                return arm;
        if (!strcmp(arch, "arm64"))
                return arm64;
        return NULL;
}

int manifest_list_choose(const struct it_manifest_list *l, const char *os, const char *arch,
                         const char *variant, size_t *index, it_error *err)
{
        const char *want_os = os ? os : "linux";
        const char *want_arch = arch ? arch : manifest_host_arch();
        const char *want_variant = variant ? variant : "";
        /* WantedPlatforms: the variants to try in order. */
        const char *cands[16];
        size_t nc = 0;
        const char *const *compat = arch_variants(want_arch);
        if (*want_variant) {
                size_t start = 0;
                bool known = false;
                for (size_t i = 0; compat && compat[i]; i++)
                        if (!strcmp(compat[i], want_variant)) {
                                start = i;
                                known = true;
                                break;
                        }
                if (known)
                        for (size_t i = start; compat[i] && nc < 14; i++)
                                cands[nc++] = compat[i];
                else
                        cands[nc++] = want_variant;
                cands[nc++] = "";
        } else {
                cands[nc++] = "";
                for (size_t i = 0; compat && compat[i] && nc < 15; i++)
                        cands[nc++] = compat[i];
        }
        bool oci = !strcmp(l->media_type ? l->media_type : "", IT_MT_OCI_INDEX);
        for (size_t c = 0; c < nc; c++) {
                for (size_t i = 0; i < l->n; i++) {
                        const struct it_manifest_instance *in = &l->v[i];
                        if (oci && !in->has_platform)
                                continue;
                        if (strcmp(in->arch, want_arch) || strcmp(in->os, want_os))
                                continue;
                        if (*cands[c] && strcmp(in->variant, cands[c]))
                                continue;
                        *index = i;
                        return 0;
                }
        }
        if (oci)
                for (size_t i = 0; i < l->n; i++)
                        if (!l->v[i].has_platform) {
                                *index = i;
                                return 0;
                        }
        _cleanup_free_ char *qa = it_quote(want_arch, QUOTE_MAX);
        _cleanup_free_ char *qv = it_quote(cands[0], QUOTE_MAX);
        _cleanup_free_ char *qo = it_quote(want_os, QUOTE_MAX);
        return it_error_set(err, IT_EINPUT,
                            "no image found in %s for architecture %s, variant %s, OS %s",
                            oci ? "image index" : "manifest list", qa, qv, qo);
}
