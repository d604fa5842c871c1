/* signedIdentity matching (spec §6.7): the worked matrix for the three image-relative rules,
 * exactReference, exactRepository, remapIdentity, spec §10 items 19-27, and the why-strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/policy.h"
#include "imgtrust/ref.h"
#include "imgtrust/xalloc.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX64B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define D256 "sha256:" HEX64
#define D256B "sha256:" HEX64B

static struct it_signed_identity ident(enum it_ident_type t)
{
        struct it_signed_identity id = {.type = t, .given = true};
        return id;
}

/* The image reference as a pull makes it: normalised, default tag added. */
static void image_ref(const char *s, struct it_ref *out)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (ref_parse_normalized(s, out, &err) != 0)
                fail_msg("image ref \"%s\": %s", s, err.msg);
        ref_tag_default(out);
}

/* Match with image `img` (NULL: no Docker identity) and expect `want`; on false, the exact why. */
static void expect(const struct it_signed_identity *id, const char *img, const char *signed_ref,
                   bool want, const char *why_want)
{
        _cleanup_ref_ struct it_ref r = IT_REF_INIT;
        if (img)
                image_ref(img, &r);
        char *why = (char *)"untouched";
        bool got = policy_identity_match(id, img ? &r : NULL, signed_ref, &why);
        if (got != want)
                fail_msg("%s: image %s, signature %s: expected %s, got %s (%s)",
                         policy_ident_type_name(id->type), img ? img : "(none)", signed_ref,
                         want ? "match" : "no match", got ? "match" : "no match",
                         why ? why : "no why");
        if (want) {
                assert_null(why);
        } else {
                assert_non_null(why);
                if (why_want)
                        assert_string_equal(why, why_want);
        }
        free(why);
}

struct matrix_row {
        const char *image; /* NULL: no Docker identity */
        const char *signed_ref;
        bool exact, repo_digest_or_exact, repository;
};

/* Spec §6.7 worked matrix, with a real digest for X. */
static const struct matrix_row matrix[] = {
    {"r.io/a/b:1", "r.io/a/b:1", true, true, true},
    {"r.io/a/b:latest", "r.io/a/b:1", false, false, true},
    {"r.io/a/b@" D256, "r.io/a/b:1", false, true, true},
    {"r.io/a/b@" D256, "r.io/a/b@" D256, true, true, true},
    {"r.io/a/b:1", "r.io/a/b", false, false, true},
    {"r.io/a/b:1", "r.io/a/c:1", false, false, false},
    {"docker.io/library/busybox:latest", "busybox:latest", true, true, true},
    {NULL, "r.io/a/b:1", false, false, false},
    /* Beyond the spec's table: */
    {"r.io/a/b@" D256, "r.io/a/b@" D256B, false, true, true}, /* digest pull, other digest */
    {"r.io/a/b@" D256, "r.io/a/b", false, false, true},       /* digest pull, name-only */
    {"r.io/a/b@" D256, "r.io/a/c:1", false, false, false},
    {"busybox", "docker.io/library/busybox:latest", true, true, true}, /* default tag */
    {"busybox", "index.docker.io/library/busybox:latest", true, true, true},
    {"Example.COM/a:1", "example.com/a:1", false, false, false}, /* domain case kept */
    {"r.io:5000/a:1", "r.io/a:1", false, false, false},
    {"r.io/a/b:1", "UPPERCASEISINVALID", false, false, false},
    {"r.io/a/b:1", "", false, false, false},
};

static void test_matrix(void **state)
{
        (void)state;
        struct it_signed_identity ex = ident(IT_IDENT_MATCH_EXACT);
        struct it_signed_identity rde = ident(IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT);
        struct it_signed_identity rep = ident(IT_IDENT_MATCH_REPOSITORY);
        for (size_t i = 0; i < sizeof matrix / sizeof matrix[0]; i++) {
                const struct matrix_row *m = &matrix[i];
                expect(&ex, m->image, m->signed_ref, m->exact, NULL);
                expect(&rde, m->image, m->signed_ref, m->repo_digest_or_exact, NULL);
                expect(&rep, m->image, m->signed_ref, m->repository, NULL);
        }
}

static void test_default_is_repo_digest_or_exact(void **state)
{
        (void)state;
        /* §10.24: an omitted signedIdentity is parsed as given=false with the default type. */
        struct it_signed_identity def = {0};
        assert_int_equal(def.type, IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT);
        expect(&def, "r.io/a/b@" D256, "r.io/a/b:1", true, NULL);
        expect(&def, "r.io/a/b:latest", "r.io/a/b:1", false,
               "signature is for \"r.io/a/b:1\", not \"r.io/a/b:latest\"");
}

static void test_edge_19_unparseable(void **state)
{
        (void)state;
        struct it_signed_identity rde = ident(IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT);
        expect(&rde, "busybox", "UPPERCASEISINVALID", false,
               "signature identity \"UPPERCASEISINVALID\" is not a valid reference");
        struct it_signed_identity rep = ident(IT_IDENT_MATCH_REPOSITORY);
        expect(&rep, "busybox", "bad ref!", false,
               "signature identity \"bad ref!\" is not a valid reference");
        /* Outside input is escaped in the message. */
        expect(&rep, "busybox", "a\nb\"c", false,
               "signature identity \"a\\x0ab\\\"c\" is not a valid reference");
        expect(&rep, "busybox", NULL, false, "signature identity \"\" is not a valid reference");
        struct it_signed_identity er = ident(IT_IDENT_EXACT_REFERENCE);
        er.docker_reference = (char *)"busybox:1";
        expect(&er, NULL, "UPPER:1", false,
               "signature identity \"UPPER:1\" is not a valid reference");
}

static void test_edge_20_short_form(void **state)
{
        (void)state;
        for (int t = IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT; t <= IT_IDENT_MATCH_REPOSITORY; t++) {
                struct it_signed_identity id = ident((enum it_ident_type)t);
                expect(&id, "docker.io/library/busybox:latest", "busybox:latest", true, NULL);
                expect(&id, "docker.io/library/busybox:latest", "library/busybox:latest", true,
                       NULL);
        }
}

static void test_edge_21_digest_pull(void **state)
{
        (void)state;
        struct it_signed_identity ex = ident(IT_IDENT_MATCH_EXACT);
        expect(&ex, "busybox@" D256, "busybox:1.36", false,
               "signature is for \"docker.io/library/busybox:1.36\", not "
               "\"docker.io/library/busybox@" D256 "\"");
        struct it_signed_identity rde = ident(IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT);
        expect(&rde, "busybox@" D256, "busybox:1.36", true, NULL);
        expect(
            &rde, "busybox@" D256, "quay.io/busybox:1.36", false,
            "signature is for repository \"quay.io/busybox\", not \"docker.io/library/busybox\"");
}

static void test_edge_22_tag_mismatch(void **state)
{
        (void)state;
        struct it_signed_identity rde = ident(IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT);
        expect(&rde, "busybox:latest", "busybox:1.0", false,
               "signature is for \"docker.io/library/busybox:1.0\", not "
               "\"docker.io/library/busybox:latest\"");
        struct it_signed_identity rep = ident(IT_IDENT_MATCH_REPOSITORY);
        expect(&rep, "busybox:latest", "busybox:1.0", true, NULL);
}

static void test_edge_23_name_only_signature(void **state)
{
        (void)state;
        const char *s = "docker.io/library/busybox";
        const char *img = "busybox:latest";
        struct it_signed_identity ex = ident(IT_IDENT_MATCH_EXACT);
        expect(&ex, img, s, false,
               "signature identity \"docker.io/library/busybox\" has neither tag nor digest; "
               "matchExact needs one");
        struct it_signed_identity rde = ident(IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT);
        expect(&rde, img, s, false,
               "signature identity \"docker.io/library/busybox\" has neither tag nor digest; "
               "matchRepoDigestOrExact needs one");
        struct it_signed_identity er = ident(IT_IDENT_EXACT_REFERENCE);
        er.docker_reference = (char *)"busybox:latest";
        expect(&er, img, s, false,
               "signature identity \"docker.io/library/busybox\" has neither tag nor digest; "
               "exactReference needs one");
        struct it_signed_identity rep = ident(IT_IDENT_MATCH_REPOSITORY);
        expect(&rep, img, s, true, NULL);
        struct it_signed_identity erp = ident(IT_IDENT_EXACT_REPOSITORY);
        erp.docker_repository = (char *)"busybox";
        expect(&erp, img, s, true, NULL);
}

static void test_exact_reference(void **state)
{
        (void)state;
        struct it_signed_identity er = ident(IT_IDENT_EXACT_REFERENCE);
        er.docker_reference = (char *)"r.io/a/b:1";
        /* The image's own reference is ignored, even when absent (§10.27). */
        expect(&er, NULL, "r.io/a/b:1", true, NULL);
        expect(&er, "q.io/x/y:9", "r.io/a/b:1", true, NULL);
        expect(&er, NULL, "r.io/a/b:2", false,
               "signature is for \"r.io/a/b:2\", not \"r.io/a/b:1\" (exactReference)");
        expect(&er, NULL, "r.io/a/b@" D256, false,
               "signature is for \"r.io/a/b@" D256 "\", not \"r.io/a/b:1\" (exactReference)");
        /* Normalised on both sides. */
        er.docker_reference = (char *)"busybox:1";
        expect(&er, NULL, "docker.io/library/busybox:1", true, NULL);
        er.docker_reference = (char *)"r.io/a/b@" D256;
        expect(&er, NULL, "r.io/a/b@" D256, true, NULL);
        /* A name-only dockerReference can never match (parse refuses it; guard anyway). */
        er.docker_reference = (char *)"r.io/a/b";
        expect(&er, NULL, "r.io/a/b:1", false,
               "exactReference dockerReference \"r.io/a/b\" has neither tag nor digest");
        er.docker_reference = (char *)"Bad";
        expect(&er, NULL, "r.io/a/b:1", false,
               "exactReference dockerReference \"Bad\" is not a valid reference");
        er.docker_reference = NULL;
        expect(&er, NULL, "r.io/a/b:1", false,
               "exactReference dockerReference \"\" is not a valid reference");
}

static void test_exact_repository(void **state)
{
        (void)state;
        struct it_signed_identity erp = ident(IT_IDENT_EXACT_REPOSITORY);
        erp.docker_repository = (char *)"r.io/a/b";
        expect(&erp, NULL, "r.io/a/b:1", true, NULL);
        expect(&erp, NULL, "r.io/a/b", true, NULL);
        expect(&erp, NULL, "r.io/a/b@" D256, true, NULL);
        expect(&erp, "q.io/other:1", "r.io/a/b:7", true, NULL);
        expect(&erp, NULL, "r.io/a/c:1", false,
               "signature is for repository \"r.io/a/c\", not \"r.io/a/b\" (exactRepository)");
        /* A tag on dockerRepository is tolerated and ignored. */
        erp.docker_repository = (char *)"busybox:whatever";
        expect(&erp, NULL, "docker.io/library/busybox:1", true, NULL);
        erp.docker_repository = (char *)"UPPER/x";
        expect(&erp, NULL, "r.io/a/b:1", false,
               "exactRepository dockerRepository \"UPPER/x\" is not a valid reference");
}

static struct it_signed_identity remap(const char *prefix, const char *signed_prefix)
{
        struct it_signed_identity id = ident(IT_IDENT_REMAP_IDENTITY);
        id.prefix = (char *)prefix;
        id.signed_prefix = (char *)signed_prefix;
        return id;
}

static void test_remap_identity(void **state)
{
        (void)state;
        struct it_signed_identity id = remap("mirror.example.com/vendor", "vendor.example.org");
        expect(&id, "mirror.example.com/vendor/app:1", "vendor.example.org/app:1", true, NULL);
        expect(&id, "mirror.example.com/vendor/app@" D256, "vendor.example.org/app:7", true, NULL);
        /* After remapping the original name no longer matches. */
        expect(&id, "mirror.example.com/vendor/app:1", "mirror.example.com/vendor/app:1", false,
               "signature is for \"mirror.example.com/vendor/app:1\", not "
               "\"vendor.example.org/app:1\" (remapped from \"mirror.example.com/vendor/app:1\")");
        expect(&id, "mirror.example.com/vendor/app:1", "vendor.example.org/app:2", false,
               "signature is for \"vendor.example.org/app:2\", not \"vendor.example.org/app:1\" "
               "(remapped from \"mirror.example.com/vendor/app:1\")");
        /* Outside the prefix the image is used as it is. */
        expect(&id, "other.example.com/app:1", "other.example.com/app:1", true, NULL);
        expect(&id, "other.example.com/app:1", "vendor.example.org/app:1", false,
               "signature is for \"vendor.example.org/app:1\", not \"other.example.com/app:1\"");
        /* The whole name may equal the prefix. */
        struct it_signed_identity whole = remap("mirror.example.com/vendor/app", "r.io/app");
        expect(&whole, "mirror.example.com/vendor/app:1", "r.io/app:1", true, NULL);
        /* A domain-only prefix; a port is part of the domain string. */
        struct it_signed_identity dom = remap("example.com", "r.io");
        expect(&dom, "example.com/ns/app:1", "r.io/ns/app:1", true, NULL);
        expect(&dom, "example.com:5000/ns/app:1", "r.io/ns/app:1", false,
               "signature is for \"r.io/ns/app:1\", not \"example.com:5000/ns/app:1\"");
        /* No Docker reference: nothing to remap. */
        expect(&id, NULL, "vendor.example.org/app:1", false,
               "image has no Docker reference; remapIdentity cannot match");
        /* remapIdentity keeps the name-only rule of matchRepoDigestOrExact. */
        expect(&id, "mirror.example.com/vendor/app:1", "vendor.example.org/app", false,
               "signature identity \"vendor.example.org/app\" has neither tag nor digest; "
               "remapIdentity needs one");
}

static void test_edge_25_non_canonical_rewrite(void **state)
{
        (void)state;
        struct it_signed_identity bad = remap("mirror.example", "docker.io");
        expect(&bad, "mirror.example/busybox:1", "docker.io/library/busybox:1", false,
               "remapIdentity rewrote \"mirror.example/busybox:1\" to \"docker.io/busybox:1\", "
               "which is not a canonical reference");
        expect(&bad, "mirror.example/busybox:1", "docker.io/busybox:1", false,
               "remapIdentity rewrote \"mirror.example/busybox:1\" to \"docker.io/busybox:1\", "
               "which is not a canonical reference");
        struct it_signed_identity good = remap("mirror.example", "docker.io/library");
        expect(&good, "mirror.example/busybox:1", "docker.io/library/busybox:1", true, NULL);
        expect(&good, "mirror.example/busybox:1", "busybox:1", true, NULL);
        /* index.docker.io is not canonical either. */
        struct it_signed_identity legacy = remap("mirror.example", "index.docker.io/library");
        expect(&legacy, "mirror.example/busybox:1", "busybox:1", false,
               "remapIdentity rewrote \"mirror.example/busybox:1\" to "
               "\"index.docker.io/library/busybox:1\", which is not a canonical reference");
}

static void test_edge_26_prefix_boundary(void **state)
{
        (void)state;
        struct it_signed_identity id = remap("example.com/ns", "r.io/signed");
        expect(&id, "example.com/ns/app:1", "r.io/signed/app:1", true, NULL);
        expect(&id, "example.com/ns:1", "r.io/signed:1", true, NULL);
        /* ns2 is not under ns: no rewrite, so the original must be signed. */
        expect(&id, "example.com/ns2/app:1", "r.io/signed2/app:1", false,
               "signature is for \"r.io/signed2/app:1\", not \"example.com/ns2/app:1\"");
        expect(&id, "example.com/ns2/app:1", "example.com/ns2/app:1", true, NULL);
}

static void test_edge_27_no_docker_identity(void **state)
{
        (void)state;
        struct it_signed_identity ex = ident(IT_IDENT_MATCH_EXACT);
        expect(&ex, NULL, "r.io/a/b:1", false,
               "image has no Docker reference; matchExact cannot match");
        struct it_signed_identity rde = ident(IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT);
        expect(&rde, NULL, "r.io/a/b:1", false,
               "image has no Docker reference; matchRepoDigestOrExact cannot match");
        struct it_signed_identity rep = ident(IT_IDENT_MATCH_REPOSITORY);
        expect(&rep, NULL, "r.io/a/b:1", false,
               "image has no Docker reference; matchRepository cannot match");
        /* The image is checked before the claim, as upstream. */
        expect(&rep, NULL, "UPPER", false,
               "image has no Docker reference; matchRepository cannot match");
}

/* Whys for images a pull never produces but storage can: name-only, and tag plus digest. */
static void test_unusual_images(void **state)
{
        (void)state;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref name_only = IT_REF_INIT;
        assert_int_equal(ref_parse_normalized("r.io/a/b", &name_only, &err), 0);
        char *why = NULL;
        struct it_signed_identity ex = ident(IT_IDENT_MATCH_EXACT);
        assert_false(policy_identity_match(&ex, &name_only, "r.io/a/b:1", &why));
        assert_string_equal(why, "image reference \"r.io/a/b\" has neither tag nor digest; "
                                 "matchExact needs one");
        free(why);
        struct it_signed_identity rde = ident(IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT);
        assert_false(policy_identity_match(&rde, &name_only, "r.io/a/b:1", &why));
        assert_string_equal(why, "image reference \"r.io/a/b\" has neither tag nor digest; "
                                 "matchRepoDigestOrExact cannot match");
        free(why);

        _cleanup_ref_ struct it_ref both = IT_REF_INIT;
        assert_int_equal(ref_parse_normalized("r.io/a/b:1@" D256, &both, &err), 0);
        /* Tagged and digested: compared whole, as upstream's NamedTagged case. */
        assert_true(policy_identity_match(&rde, &both, "r.io/a/b:1@" D256, &why));
        assert_null(why);
        assert_false(policy_identity_match(&rde, &both, "r.io/a/b:1", &why));
        assert_string_equal(why, "signature is for \"r.io/a/b:1\", not \"r.io/a/b:1@" D256 "\"");
        free(why);
        assert_true(policy_identity_match(&ex, &both, "r.io/a/b:1@" D256, &why));
        /* why may be NULL. */
        assert_false(policy_identity_match(&ex, &both, "r.io/a/b:2", NULL));
}

/* Every failure of one rule says something different. */
static void test_why_distinct(void **state)
{
        (void)state;
        struct it_signed_identity rde = ident(IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT);
        _cleanup_ref_ struct it_ref tagged = IT_REF_INIT, digested = IT_REF_INIT;
        image_ref("r.io/a/b:1", &tagged);
        image_ref("r.io/a/b@" D256, &digested);
        struct {
                const struct it_ref *img;
                const char *s;
        } cases[] = {
            {NULL, "r.io/a/b:1"},    {&tagged, "BAD"},          {&tagged, "r.io/a/b"},
            {&tagged, "r.io/a/b:2"}, {&digested, "r.io/a/c:1"},
        };
        char *whys[5] = {0};
        for (size_t i = 0; i < 5; i++) {
                assert_false(policy_identity_match(&rde, cases[i].img, cases[i].s, &whys[i]));
                assert_non_null(whys[i]);
                for (size_t j = 0; j < i; j++)
                        assert_string_not_equal(whys[i], whys[j]);
        }
        for (size_t i = 0; i < 5; i++)
                free(whys[i]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_matrix),
            cmocka_unit_test(test_default_is_repo_digest_or_exact),
            cmocka_unit_test(test_edge_19_unparseable),
            cmocka_unit_test(test_edge_20_short_form),
            cmocka_unit_test(test_edge_21_digest_pull),
            cmocka_unit_test(test_edge_22_tag_mismatch),
            cmocka_unit_test(test_edge_23_name_only_signature),
            cmocka_unit_test(test_exact_reference),
            cmocka_unit_test(test_exact_repository),
            cmocka_unit_test(test_remap_identity),
            cmocka_unit_test(test_edge_25_non_canonical_rewrite),
            cmocka_unit_test(test_edge_26_prefix_boundary),
            cmocka_unit_test(test_edge_27_no_docker_identity),
            cmocka_unit_test(test_unusual_images),
            cmocka_unit_test(test_why_distinct),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
