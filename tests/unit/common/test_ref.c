/* Image references: grammar, normalisation (spec §1.1-1.2), canonical parsing, familiar form,
 * policy identity and namespaces (§1.3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/ref.h"
#include "imgtrust/strv.h"
#include "imgtrust/xalloc.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX96 HEX64 "0123456789abcdef0123456789abcdef"
#define HEX128 HEX64 HEX64
#define D256 "sha256:" HEX64

/* Parse s, expect success and the given parts (NULL: absent) and canonical string. */
static void expect_norm(const char *s, const char *canon, const char *domain, const char *path,
                        const char *tag, const char *digest)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref r = IT_REF_INIT;
        int rc = ref_parse_normalized(s, &r, &err);
        if (rc != 0)
                fail_msg("\"%s\": unexpected error: %s", s, err.msg);
        assert_int_equal(err.code, 0);
        assert_string_equal(r.domain, domain);
        assert_string_equal(r.path, path);
        if (tag)
                assert_string_equal(r.tag, tag);
        else
                assert_null(r.tag);
        if (digest)
                assert_string_equal(r.digest, digest);
        else
                assert_null(r.digest);
        _cleanup_free_ char *str = ref_string(&r);
        assert_string_equal(str, canon);

        /* The canonical string is a fixed point of both parsers. */
        _cleanup_ref_ struct it_ref r2 = IT_REF_INIT;
        assert_int_equal(ref_parse_canonical(canon, &r2, &err), 0);
        _cleanup_free_ char *str2 = ref_string(&r2);
        assert_string_equal(str2, canon);
}

/* Parse s, expect IT_EINPUT and exactly this formatted message. */
static void expect_bad(const char *s, const char *msg)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref r = IT_REF_INIT;
        int rc = ref_parse_normalized(s, &r, &err);
        if (rc != IT_EINPUT)
                fail_msg("\"%s\": expected IT_EINPUT, got %d", s, rc);
        assert_null(r.domain);
        assert_null(r.path);
        _cleanup_free_ char *got = it_error_format(&err);
        assert_string_equal(got, msg);
        /* Never valid in canonical form either. */
        _cleanup_error_ it_error err2 = IT_ERROR_INIT;
        assert_int_equal(ref_parse_canonical(s, &r, &err2), IT_EINPUT);
        _cleanup_free_ char *got2 = it_error_format(&err2);
        assert_string_equal(got2, msg);
}

static void test_spec_table(void **state)
{
        expect_norm("busybox", "docker.io/library/busybox", "docker.io", "library/busybox", NULL,
                    NULL);
        expect_norm("busybox:1.36", "docker.io/library/busybox:1.36", "docker.io",
                    "library/busybox", "1.36", NULL);
        expect_norm("library/busybox", "docker.io/library/busybox", "docker.io", "library/busybox",
                    NULL, NULL);
        expect_norm("foo/bar:v1", "docker.io/foo/bar:v1", "docker.io", "foo/bar", "v1", NULL);
        expect_norm("index.docker.io/busybox", "docker.io/library/busybox", "docker.io",
                    "library/busybox", NULL, NULL);
        expect_norm("docker.io/busybox", "docker.io/library/busybox", "docker.io",
                    "library/busybox", NULL, NULL);
        expect_norm("localhost/app", "localhost/app", "localhost", "app", NULL, NULL);
        expect_norm("localhost:5000/app", "localhost:5000/app", "localhost:5000", "app", NULL,
                    NULL);
        expect_norm("quay.io/ns/app@" D256, "quay.io/ns/app@" D256, "quay.io", "ns/app", NULL,
                    D256);
        expect_norm("Example.COM/app", "Example.COM/app", "Example.COM", "app", NULL, NULL);
        expect_bad("Busybox", "invalid reference \"Busybox\": repository name must be lowercase");
}

static void test_domains(void **state)
{
        expect_norm("localhost/x", "localhost/x", "localhost", "x", NULL, NULL);
        expect_norm("localhost:5000/a/b", "localhost:5000/a/b", "localhost:5000", "a/b", NULL,
                    NULL);
        expect_norm("host:5000/a/b", "host:5000/a/b", "host:5000", "a/b", NULL, NULL);
        expect_norm("host:5000/a/b:t", "host:5000/a/b:t", "host:5000", "a/b", "t", NULL);
        expect_norm("index.docker.io/library/busybox:1", "docker.io/library/busybox:1", "docker.io",
                    "library/busybox", "1", NULL);
        expect_norm("docker.io/library/busybox", "docker.io/library/busybox", "docker.io",
                    "library/busybox", NULL, NULL);
        expect_norm("UPPER.example.com/x", "UPPER.example.com/x", "UPPER.example.com", "x", NULL,
                    NULL);
        /* Only the exact lowercase default domain gets library/. */
        expect_norm("Docker.io/busybox", "Docker.io/busybox", "Docker.io", "busybox", NULL, NULL);
        expect_norm("10.1.2.3/x", "10.1.2.3/x", "10.1.2.3", "x", NULL, NULL);
        expect_norm("a-b.c:1/x", "a-b.c:1/x", "a-b.c:1", "x", NULL, NULL);
        /* A first part without '.', ':' and not "localhost" is a path component. */
        expect_norm("myregistry/x", "docker.io/myregistry/x", "docker.io", "myregistry/x", NULL,
                    NULL);
        expect_norm("localhostx/x", "docker.io/localhostx/x", "docker.io", "localhostx/x", NULL,
                    NULL);
        /* Without '/', there is no domain: what looks like a port is a tag. */
        expect_norm("localhost", "docker.io/library/localhost", "docker.io", "library/localhost",
                    NULL, NULL);
        expect_norm("localhost:5000", "docker.io/library/localhost:5000", "docker.io",
                    "library/localhost", "5000", NULL);
        expect_norm("example.com", "docker.io/library/example.com", "docker.io",
                    "library/example.com", NULL, NULL);

        expect_bad("[::1]:5000/a",
                   "invalid reference \"[::1]:5000/a\": invalid reference format: invalid "
                   "registry host \"[::1]:5000\"");
        expect_bad("[fe80::1]/a", "invalid reference \"[fe80::1]/a\": invalid reference format: "
                                  "invalid registry host \"[fe80::1]\"");
        expect_bad("a:b/c", "invalid reference \"a:b/c\": invalid reference format: invalid "
                            "registry host \"a:b\"");
        expect_bad("host:/c", "invalid reference \"host:/c\": invalid reference format: invalid "
                              "registry host \"host:\"");
        expect_bad("-a.com/c", "invalid reference \"-a.com/c\": invalid reference format: invalid "
                               "registry host \"-a.com\"");
        expect_bad("a..com/c", "invalid reference \"a..com/c\": invalid reference format: invalid "
                               "registry host \"a..com\"");
        /* Upstream accepts these as names without a registry; we refuse them outright. */
        expect_bad("a_b.c/foo",
                   "invalid reference \"a_b.c/foo\": \"a_b.c\" is not a valid registry host name");
        expect_bad("A_b.c/foo",
                   "invalid reference \"A_b.c/foo\": repository name must be lowercase");
}

static void test_case(void **state)
{
        expect_bad("foo/Bar:tag",
                   "invalid reference \"foo/Bar:tag\": repository name must be lowercase");
        expect_bad("example.com/App",
                   "invalid reference \"example.com/App\": repository name must be lowercase");
        expect_bad("LOCALHOST/x", "invalid reference \"LOCALHOST/x\": repository name must be "
                                  "lowercase");
        /* Upstream checks case up to the first ':', which includes a digest algorithm. */
        expect_bad("busybox@SHA256:" HEX64, "invalid reference \"busybox@SHA256:" HEX64
                                            "\": repository name must be lowercase");
        /* Tags may have uppercase. */
        expect_norm("busybox:V1.0_RC", "docker.io/library/busybox:V1.0_RC", "docker.io",
                    "library/busybox", "V1.0_RC", NULL);
}

static void test_path_components(void **state)
{
        expect_norm("a__b", "docker.io/library/a__b", "docker.io", "library/a__b", NULL, NULL);
        expect_norm("a_b.c-d", "docker.io/library/a_b.c-d", "docker.io", "library/a_b.c-d", NULL,
                    NULL);
        expect_norm("a---b", "docker.io/library/a---b", "docker.io", "library/a---b", NULL, NULL);
        expect_norm("a.b", "docker.io/library/a.b", "docker.io", "library/a.b", NULL, NULL);
        expect_norm("0/1/2", "docker.io/0/1/2", "docker.io", "0/1/2", NULL, NULL);

        expect_bad("", "invalid reference \"\": repository name must have at least one component");
        expect_bad("a//b",
                   "invalid reference \"a//b\": invalid reference format: empty path component");
        expect_bad("a/",
                   "invalid reference \"a/\": invalid reference format: empty path component");
        expect_bad("/a",
                   "invalid reference \"/a\": invalid reference format: empty path component");
        expect_bad("example.com/", "invalid reference \"example.com/\": invalid reference format: "
                                   "repository name must have at least one component");
        expect_bad("-a", "invalid reference \"-a\": invalid reference format: invalid path "
                         "component \"-a\"");
        expect_bad("a-", "invalid reference \"a-\": invalid reference format: invalid path "
                         "component \"a-\"");
        expect_bad("a___b", "invalid reference \"a___b\": invalid reference format: invalid path "
                            "component \"a___b\"");
        expect_bad("a..b", "invalid reference \"a..b\": invalid reference format: invalid path "
                           "component \"a..b\"");
        expect_bad("a._b", "invalid reference \"a._b\": invalid reference format: invalid path "
                           "component \"a._b\"");
        expect_bad("a-_b", "invalid reference \"a-_b\": invalid reference format: invalid path "
                           "component \"a-_b\"");
        expect_bad("_a", "invalid reference \"_a\": invalid reference format: invalid path "
                         "component \"_a\"");
        expect_bad("x/../y", "invalid reference \"x/../y\": invalid reference format: invalid path "
                             "component \"..\"");
        expect_bad("x/./y", "invalid reference \"x/./y\": invalid reference format: invalid path "
                            "component \".\"");
        expect_bad("a b", "invalid reference \"a b\": invalid reference format: invalid path "
                          "component \"a b\"");
        expect_bad("caf\xc3\xa9", "invalid reference \"caf\\xc3\\xa9\": invalid reference format: "
                                  "invalid path component \"caf\\xc3\\xa9\"");
}

static void test_image_id(void **state)
{
        expect_bad(HEX64,
                   "invalid reference \"" HEX64 "\": cannot specify 64-byte hexadecimal strings");
        /* 63 and 65 characters are ordinary names. */
        expect_norm("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
                    "docker.io/library/0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
                    "cde",
                    "docker.io",
                    "library/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", NULL,
                    NULL);
        expect_norm(HEX64 "0", "docker.io/library/" HEX64 "0", "docker.io", "library/" HEX64 "0",
                    NULL, NULL);
        /* Only the bare string is an ID: with a namespace or tag it is a name. */
        expect_norm("x/" HEX64, "docker.io/x/" HEX64, "docker.io", "x/" HEX64, NULL, NULL);
        expect_norm(HEX64 ":1", "docker.io/library/" HEX64 ":1", "docker.io", "library/" HEX64, "1",
                    NULL);
}

static void test_tags(void **state)
{
        char s[512], canon[512], tag[256];
        memset(tag, 'T', 128);
        tag[128] = '\0';
        snprintf(s, sizeof s, "busybox:%s", tag);
        snprintf(canon, sizeof canon, "docker.io/library/busybox:%s", tag);
        expect_norm(s, canon, "docker.io", "library/busybox", tag, NULL);

        strcat(s, "T");
        char want[1024];
        snprintf(want, sizeof want,
                 "invalid reference \"%s\": invalid reference format: tag must be 1-128 "
                 "characters of [A-Za-z0-9_.-], not starting with '.' or '-'",
                 s);
        expect_bad(s, want);

        expect_norm("busybox:_x", "docker.io/library/busybox:_x", "docker.io", "library/busybox",
                    "_x", NULL);
        expect_norm("busybox:1.2-3_4", "docker.io/library/busybox:1.2-3_4", "docker.io",
                    "library/busybox", "1.2-3_4", NULL);
        expect_bad("busybox:",
                   "invalid reference \"busybox:\": invalid reference format: missing tag after "
                   "':'");
        expect_bad("busybox:.x", "invalid reference \"busybox:.x\": invalid reference format: tag "
                                 "must be 1-128 characters of [A-Za-z0-9_.-], not starting with "
                                 "'.' or '-'");
        expect_bad("busybox:-x", "invalid reference \"busybox:-x\": invalid reference format: tag "
                                 "must be 1-128 characters of [A-Za-z0-9_.-], not starting with "
                                 "'.' or '-'");
        expect_bad("busybox:a:b", "invalid reference \"busybox:a:b\": invalid reference format: "
                                  "invalid path component \"busybox:a\"");
        expect_bad("busybox:a+b", "invalid reference \"busybox:a+b\": invalid reference format: "
                                  "tag must be 1-128 characters of [A-Za-z0-9_.-], not starting "
                                  "with '.' or '-'");
}

static void test_name_length(void **state)
{
        /* "docker.io/library/" is 18 characters; the limit applies after normalisation. */
        char s[300], canon[600], path[600];
        memset(s, 'a', 237);
        s[237] = '\0';
        snprintf(canon, sizeof canon, "docker.io/library/%s", s);
        snprintf(path, sizeof path, "library/%s", s);
        assert_int_equal(strlen(canon), 255);
        expect_norm(s, canon, "docker.io", path, NULL, NULL);

        /* Tag and digest do not count. */
        char s2[1024], canon2[1024];
        snprintf(s2, sizeof s2, "%s:latest@%s", s, D256);
        snprintf(canon2, sizeof canon2, "%s:latest@%s", canon, D256);
        expect_norm(s2, canon2, "docker.io", path, "latest", D256);

        strcat(s, "a");
        char want[1024];
        snprintf(want, sizeof want,
                 "invalid reference \"%s\": repository name must not be more than 255 characters",
                 s);
        expect_bad(s, want);

        /* Same with an explicit domain. */
        char h[512];
        memset(h, 'b', 260);
        memcpy(h, "h.io/", 5);
        h[255] = '\0';
        expect_norm(h, h, "h.io", h + 5, NULL, NULL);
        strcat(h, "b");
        snprintf(want, sizeof want,
                 "invalid reference \"%s\": repository name must not be more than 255 characters",
                 h);
        expect_bad(h, want);
}

static void test_input_length(void **state)
{
        size_t n = IT_REF_INPUT_MAX + 1;
        char *s = xmalloc(n + 1);
        memset(s, 'a', n);
        s[n] = '\0';
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref r = IT_REF_INIT;
        assert_int_equal(ref_parse_normalized(s, &r, &err), IT_EINPUT);
        _cleanup_free_ char *got = it_error_format(&err);
        assert_true(strlen(got) < 400);
        assert_non_null(strstr(got, "aaaa\"...: longer than 4096 characters"));
        assert_int_equal(strncmp(got, "invalid reference \"aaa", 22), 0);
        free(s);

        _cleanup_error_ it_error err2 = IT_ERROR_INIT;
        assert_int_equal(ref_parse_normalized(NULL, &r, &err2), IT_EINPUT);
        assert_string_equal(err2.msg, "missing reference");
}

static void test_digests(void **state)
{
        expect_norm("busybox@" D256, "docker.io/library/busybox@" D256, "docker.io",
                    "library/busybox", NULL, D256);
        expect_norm("busybox@sha384:" HEX96, "docker.io/library/busybox@sha384:" HEX96, "docker.io",
                    "library/busybox", NULL, "sha384:" HEX96);
        expect_norm("busybox@sha512:" HEX128, "docker.io/library/busybox@sha512:" HEX128,
                    "docker.io", "library/busybox", NULL, "sha512:" HEX128);
        expect_norm("busybox:1@" D256, "docker.io/library/busybox:1@" D256, "docker.io",
                    "library/busybox", "1", D256);
        expect_norm("localhost:5000/a:b@" D256, "localhost:5000/a:b@" D256, "localhost:5000", "a",
                    "b", D256);

        expect_bad("busybox@",
                   "invalid reference \"busybox@\": invalid reference format: missing digest "
                   "after '@'");
        expect_bad("busybox@sha256:abc", "invalid reference \"busybox@sha256:abc\": invalid "
                                         "reference format: invalid digest format");
        expect_bad("busybox@" D256 "@" D256, "invalid reference \"busybox@" D256 "@" D256
                                             "\": invalid reference format: invalid digest "
                                             "format");
        expect_bad("busybox@" HEX64, "invalid reference \"busybox@" HEX64
                                     "\": invalid reference format: invalid digest format");
        expect_bad("busybox@sha256:../..", "invalid reference \"busybox@sha256:../..\": invalid "
                                           "reference format: invalid digest format");
        /* Grammatical digests that digest_parse refuses. */
        expect_bad("busybox@md5:0123456789abcdef0123456789abcdef",
                   "invalid reference \"busybox@md5:0123456789abcdef0123456789abcdef\": invalid "
                   "digest \"md5:0123456789abcdef0123456789abcdef\": unsupported digest "
                   "algorithm \"md5\"");
        expect_bad("busybox@sha256:" HEX64 "0",
                   "invalid reference \"busybox@sha256:" HEX64 "0\": invalid digest \"sha256:" HEX64
                   "0\": sha256 digest must be 64 lowercase hex characters");
        expect_bad("busybox:1@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789ab"
                   "cdef",
                   "invalid reference "
                   "\"busybox:1@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789ab"
                   "cdef\": invalid digest "
                   "\"sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\": "
                   "sha256 digest must be 64 lowercase hex characters");
        expect_bad("busybox@sha384:" HEX64,
                   "invalid reference \"busybox@sha384:" HEX64 "\": invalid digest \"sha384:" HEX64
                   "\": sha384 digest must be 96 lowercase hex "
                   "characters");
}

static void expect_canonical_bad(const char *s, const char *normal)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref r = IT_REF_INIT;
        assert_int_equal(ref_parse_canonical(s, &r, &err), IT_EINPUT);
        assert_null(r.domain);
        _cleanup_free_ char *got = it_error_format(&err);
        char want[1024];
        snprintf(want, sizeof want,
                 "invalid reference \"%s\": repository name must be canonical (normalized form "
                 "is \"%s\")",
                 s, normal);
        assert_string_equal(got, want);
}

static void test_canonical(void **state)
{
        expect_canonical_bad("busybox", "docker.io/library/busybox");
        expect_canonical_bad("busybox:latest", "docker.io/library/busybox:latest");
        expect_canonical_bad("docker.io/busybox:1", "docker.io/library/busybox:1");
        expect_canonical_bad("index.docker.io/library/busybox", "docker.io/library/busybox");
        expect_canonical_bad("library/busybox", "docker.io/library/busybox");

        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref r = IT_REF_INIT;
        assert_int_equal(ref_parse_canonical("docker.io/library/busybox:latest", &r, &err), 0);
        assert_string_equal(r.domain, "docker.io");
        assert_string_equal(r.path, "library/busybox");
        assert_string_equal(r.tag, "latest");
        assert_null(r.digest);
        ref_free(&r);
        assert_int_equal(ref_parse_canonical("Example.COM/app", &r, &err), 0);
        assert_string_equal(r.domain, "Example.COM");
        ref_free(&r);
        assert_int_equal(ref_parse_canonical("localhost/app:1@" D256, &r, &err), 0);
        assert_string_equal(r.tag, "1");
        assert_string_equal(r.digest, D256);
}

static void check_familiar(const char *s, const char *want)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref r = IT_REF_INIT;
        assert_int_equal(ref_parse_normalized(s, &r, &err), 0);
        _cleanup_free_ char *got = ref_familiar(&r);
        assert_string_equal(got, want);
}

static void test_familiar(void **state)
{
        check_familiar("docker.io/library/busybox:latest", "busybox:latest");
        check_familiar("busybox", "busybox");
        check_familiar("docker.io/foo/bar:v1", "foo/bar:v1");
        check_familiar("library/a/b", "library/a/b");
        check_familiar("busybox:1@" D256, "busybox:1@" D256);
        check_familiar("quay.io/ns/app@" D256, "quay.io/ns/app@" D256);
        check_familiar("localhost/library/x", "localhost/library/x");
        check_familiar("Example.COM/app:1", "Example.COM/app:1");
}

static void test_tag_default(void **state)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref r = IT_REF_INIT;
        assert_int_equal(ref_parse_normalized("busybox", &r, &err), 0);
        assert_true(ref_is_name_only(&r));
        ref_tag_default(&r);
        assert_false(ref_is_name_only(&r));
        assert_string_equal(r.tag, "latest");
        _cleanup_free_ char *s = ref_string(&r);
        assert_string_equal(s, "docker.io/library/busybox:latest");
        _cleanup_free_ char *n = ref_name(&r);
        assert_string_equal(n, "docker.io/library/busybox");

        _cleanup_ref_ struct it_ref t = IT_REF_INIT;
        assert_int_equal(ref_parse_normalized("busybox:1", &t, &err), 0);
        ref_tag_default(&t);
        assert_string_equal(t.tag, "1");

        _cleanup_ref_ struct it_ref d = IT_REF_INIT;
        assert_int_equal(ref_parse_normalized("busybox@" D256, &d, &err), 0);
        assert_false(ref_is_name_only(&d));
        ref_tag_default(&d);
        assert_null(d.tag);
        _cleanup_free_ char *ds = ref_string(&d);
        assert_string_equal(ds, "docker.io/library/busybox@" D256);
}

static void test_copy(void **state)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref r = IT_REF_INIT;
        _cleanup_ref_ struct it_ref c = IT_REF_INIT;
        assert_int_equal(ref_parse_normalized("q.io/a:1@" D256, &r, &err), 0);
        ref_copy(&c, &r);
        ref_free(&r);
        assert_null(r.domain);
        assert_string_equal(c.domain, "q.io");
        assert_string_equal(c.path, "a");
        assert_string_equal(c.tag, "1");
        assert_string_equal(c.digest, D256);

        _cleanup_ref_ struct it_ref c2 = IT_REF_INIT;
        assert_int_equal(ref_parse_normalized("q.io/a", &r, &err), 0);
        ref_copy(&c2, &r);
        assert_null(c2.tag);
        assert_null(c2.digest);
        ref_free(&r);
        ref_free(NULL);
}

static void check_policy(const char *s, bool add_default_tag, const char *identity,
                         const char *const *namespaces)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref r = IT_REF_INIT;
        assert_int_equal(ref_parse_normalized(s, &r, &err), 0);
        if (add_default_tag)
                ref_tag_default(&r);
        _cleanup_free_ char *id = ref_policy_identity(&r);
        assert_string_equal(id, identity);
        _cleanup_strv_ struct it_strv ns = IT_STRV_INIT;
        it_strv_push(&ns, "kept"); /* appended, not replaced */
        ref_policy_namespaces(&r, &ns);
        size_t want = 0;
        while (namespaces[want])
                want++;
        assert_int_equal(ns.n, want + 1);
        assert_string_equal(ns.v[0], "kept");
        for (size_t i = 0; i < want; i++)
                assert_string_equal(ns.v[i + 1], namespaces[i]);
        assert_null(ns.v[ns.n]);
}

static void test_policy(void **state)
{
        check_policy(
            "registry.example.com:5000/ns/app:1.0", false, "registry.example.com:5000/ns/app:1.0",
            (const char *const[]){"registry.example.com:5000/ns/app",
                                  "registry.example.com:5000/ns", "registry.example.com:5000",
                                  "*.example.com", "*.com", NULL});
        check_policy("busybox", true, "docker.io/library/busybox:latest",
                     (const char *const[]){"docker.io/library/busybox", "docker.io/library",
                                           "docker.io", "*.io", NULL});
        check_policy("localhost:5000/x", true, "localhost:5000/x:latest",
                     (const char *const[]){"localhost:5000/x", "localhost:5000", NULL});
        check_policy("localhost/x:1", false, "localhost/x:1",
                     (const char *const[]){"localhost/x", "localhost", NULL});
        check_policy(
            "10.1.2.3/x", true, "10.1.2.3/x:latest",
            (const char *const[]){"10.1.2.3/x", "10.1.2.3", "*.1.2.3", "*.2.3", "*.3", NULL});
        check_policy("a.b.example.com:5000/ns/app@" D256, false,
                     "a.b.example.com:5000/ns/app@" D256,
                     (const char *const[]){"a.b.example.com:5000/ns/app", "a.b.example.com:5000/ns",
                                           "a.b.example.com:5000", "*.b.example.com",
                                           "*.example.com", "*.com", NULL});
        /* The host itself never yields its own wildcard. */
        check_policy("example.com/app:1", false, "example.com/app:1",
                     (const char *const[]){"example.com/app", "example.com", "*.com", NULL});
        /* Digest wins over tag; the pull-by-digest identity never equals a tagged scope. */
        check_policy("busybox:latest@" D256, false, "docker.io/library/busybox@" D256,
                     (const char *const[]){"docker.io/library/busybox", "docker.io/library",
                                           "docker.io", "*.io", NULL});
        /* Domain case is kept everywhere. */
        check_policy("Example.COM/app:1", false, "Example.COM/app:1",
                     (const char *const[]){"Example.COM/app", "Example.COM", "*.COM", NULL});
        /* Name only (no default tag added): the bare name. */
        check_policy("quay.io/a/b/c", false, "quay.io/a/b/c",
                     (const char *const[]){"quay.io/a/b/c", "quay.io/a/b", "quay.io/a", "quay.io",
                                           "*.io", NULL});
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_spec_table),  cmocka_unit_test(test_domains),
            cmocka_unit_test(test_case),        cmocka_unit_test(test_path_components),
            cmocka_unit_test(test_image_id),    cmocka_unit_test(test_tags),
            cmocka_unit_test(test_name_length), cmocka_unit_test(test_input_length),
            cmocka_unit_test(test_digests),     cmocka_unit_test(test_canonical),
            cmocka_unit_test(test_familiar),    cmocka_unit_test(test_tag_default),
            cmocka_unit_test(test_copy),        cmocka_unit_test(test_policy),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
