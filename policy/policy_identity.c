/* signedIdentity (spec §6.7): does the docker-reference a signature claims fit the image?
 *
 * Follows containers/image's policy_reference_match.go rule for rule. Every failure says which
 * part did not fit, because "signature rejected" alone leaves users guessing between a wrong tag,
 * a wrong repository and an unparseable claim. */
#include "imgtrust/policy.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/xalloc.h"

/* Longest piece of outside input repeated in a message. */
#define QUOTE_MAX 300

/* A signature's claim is outside input: quote, escape and bound it. Allocates. */
static char *quote(const char *s)
{
        return it_quote(s, QUOTE_MAX);
}

static bool fail(char **why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(char **why, const char *fmt, ...)
{
        if (why) {
                struct it_buf b = IT_BUF_INIT;
                va_list ap;
                va_start(ap, fmt);
                it_buf_vaddf(&b, fmt, ap);
                va_end(ap);
                *why = it_buf_detach(&b);
        }
        return false;
}

/* Normalise the signature's claim; an unparseable claim simply does not match. */
static bool parse_signed(const char *signed_ref, struct it_ref *out, char **why)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (ref_parse_normalized(signed_ref ? signed_ref : "", out, &err) == 0)
                return true;
        _cleanup_free_ char *q = quote(signed_ref ? signed_ref : "");
        return fail(why, "signature identity %s is not a valid reference", q);
}

static bool parse_policy_ref(const char *field, const char *s, struct it_ref *out, char **why)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (s && ref_parse_normalized(s, out, &err) == 0)
                return true;
        _cleanup_free_ char *q = quote(s ? s : "");
        return fail(why, "%s %s is not a valid reference", field, q);
}

static bool same_string(const struct it_ref *signed_r, const struct it_ref *want,
                        const char *suffix, char **why)
{
        _cleanup_free_ char *s = ref_string(signed_r);
        _cleanup_free_ char *w = ref_string(want);
        if (strcmp(s, w) == 0)
                return true;
        return fail(why, "signature is for \"%s\", not \"%s\"%s", s, w, suffix);
}

static bool same_name(const struct it_ref *signed_r, const struct it_ref *want, const char *suffix,
                      char **why)
{
        _cleanup_free_ char *s = ref_name(signed_r);
        _cleanup_free_ char *w = ref_name(want);
        if (strcmp(s, w) == 0)
                return true;
        return fail(why, "signature is for repository \"%s\", not \"%s\"%s", s, w, suffix);
}

static bool signed_needs_tag_or_digest(const struct it_ref *signed_r, const char *rule, char **why)
{
        if (!ref_is_name_only(signed_r))
                return true;
        _cleanup_free_ char *s = ref_string(signed_r);
        return fail(why, "signature identity \"%s\" has neither tag nor digest; %s needs one", s,
                    rule);
}

/* matchRepoDigestOrExact between an image reference (perhaps remapped) and the claim. */
static bool repo_digest_or_exact(const struct it_ref *image, const struct it_ref *signed_r,
                                 const char *rule, const char *suffix, char **why)
{
        if (!signed_needs_tag_or_digest(signed_r, rule, why))
                return false;
        /* A tag wins over a digest: name:tag@digest is compared whole. */
        if (image->tag)
                return same_string(signed_r, image, suffix, why);
        /* Pulled by digest: the manifest digest is checked against the signature elsewhere, so
         * any tag or digest of the same repository is the same image. */
        if (image->digest)
                return same_name(signed_r, image, suffix, why);
        _cleanup_free_ char *i = ref_string(image);
        return fail(why, "image reference \"%s\" has neither tag nor digest; %s cannot match", i,
                    rule);
}

/* remapIdentity: `prefix` names whole components of name(I); "example.com/ns" is no prefix of
 * "example.com/ns2/app". */
static bool name_has_prefix(const char *name, const char *prefix)
{
        size_t pn = strlen(prefix);
        if (strncmp(name, prefix, pn) != 0)
                return false;
        return name[pn] == '\0' || name[pn] == '/';
}

static bool remap_match(const struct it_signed_identity *id, const struct it_ref *image,
                        const struct it_ref *signed_r, char **why)
{
        const char *rule = "remapIdentity";
        _cleanup_free_ char *name = ref_name(image);
        if (!id->prefix || !id->signed_prefix || !name_has_prefix(name, id->prefix))
                return repo_digest_or_exact(image, signed_r, rule, "", why);

        _cleanup_free_ char *str = ref_string(image);
        /* The first occurrence of prefix in str is at 0, since name(I) starts with it. */
        _cleanup_free_ char *rewritten =
            xasprintf("%s%s", id->signed_prefix, str + strlen(id->prefix));
        _cleanup_ref_ struct it_ref remapped = IT_REF_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (ref_parse_canonical(rewritten, &remapped, &err) < 0)
                return fail(why,
                            "remapIdentity rewrote \"%s\" to \"%s\", which is not a canonical "
                            "reference",
                            str, rewritten);
        _cleanup_free_ char *suffix = xasprintf(" (remapped from \"%s\")", str);
        return repo_digest_or_exact(&remapped, signed_r, rule, suffix, why);
}

bool policy_identity_match(const struct it_signed_identity *id, const struct it_ref *image,
                           const char *signed_ref, char **why)
{
        if (why)
                *why = NULL;
        const char *rule = policy_ident_type_name(id->type);
        _cleanup_ref_ struct it_ref s = IT_REF_INIT;
        _cleanup_ref_ struct it_ref x = IT_REF_INIT;

        switch (id->type) {
        case IT_IDENT_MATCH_EXACT:
        case IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT:
        case IT_IDENT_MATCH_REPOSITORY:
        case IT_IDENT_REMAP_IDENTITY:
                if (!image)
                        return fail(why, "image has no Docker reference; %s cannot match", rule);
                if (!parse_signed(signed_ref, &s, why))
                        return false;
                break;
        case IT_IDENT_EXACT_REFERENCE:
                if (!parse_policy_ref("exactReference dockerReference", id->docker_reference, &x,
                                      why))
                        return false;
                if (!parse_signed(signed_ref, &s, why))
                        return false;
                break;
        case IT_IDENT_EXACT_REPOSITORY:
                if (!parse_policy_ref("exactRepository dockerRepository", id->docker_repository, &x,
                                      why))
                        return false;
                if (!parse_signed(signed_ref, &s, why))
                        return false;
                break;
        default:
                return fail(why, "unknown signedIdentity type");
        }

        switch (id->type) {
        case IT_IDENT_MATCH_EXACT:
                if (ref_is_name_only(image)) {
                        _cleanup_free_ char *i = ref_string(image);
                        return fail(why,
                                    "image reference \"%s\" has neither tag nor digest; "
                                    "matchExact needs one",
                                    i);
                }
                if (!signed_needs_tag_or_digest(&s, rule, why))
                        return false;
                return same_string(&s, image, "", why);
        case IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT:
                return repo_digest_or_exact(image, &s, rule, "", why);
        case IT_IDENT_MATCH_REPOSITORY:
                return same_name(&s, image, "", why);
        case IT_IDENT_EXACT_REFERENCE:
                if (ref_is_name_only(&x)) {
                        _cleanup_free_ char *xs = ref_string(&x);
                        return fail(why,
                                    "exactReference dockerReference \"%s\" has neither tag nor "
                                    "digest",
                                    xs);
                }
                if (!signed_needs_tag_or_digest(&s, rule, why))
                        return false;
                return same_string(&s, &x, " (exactReference)", why);
        case IT_IDENT_EXACT_REPOSITORY:
                return same_name(&s, &x, " (exactRepository)", why);
        case IT_IDENT_REMAP_IDENTITY:
                return remap_match(id, image, &s, why);
        default:
                return fail(why, "unknown signedIdentity type");
        }
}
