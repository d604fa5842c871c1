/* Digest parsing, validation (spec §1.4) and computation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/xalloc.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX96 HEX64 "0123456789abcdef0123456789abcdef"
#define HEX128 HEX64 HEX64

#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA384_ABC                                                                                 \
        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca1" \
        "34c825a7"
#define SHA512_ABC                                                                                 \
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23" \
        "a3feebbd454d4423643ce80e2a9ac94fa54ca49f"

static void expect_ok(const char *s, enum it_digest_alg alg, const char *hex)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_digest d;
        memset(&d, 0x55, sizeof d);
        assert_int_equal(digest_parse(s, &d, &err), 0);
        assert_int_equal(err.code, 0);
        assert_int_equal(d.alg, alg);
        assert_string_equal(d.hex, hex);
        assert_true(digest_valid(s));
        char out[IT_DIGEST_STR_MAX];
        digest_format(&d, out);
        assert_string_equal(out, s);
}

static void expect_bad(const char *s, const char *msg)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_digest d;
        assert_int_equal(digest_parse(s, &d, &err), IT_EINPUT);
        assert_int_equal(err.code, IT_EINPUT);
        _cleanup_free_ char *got = it_error_format(&err);
        assert_string_equal(got, msg);
        assert_false(digest_valid(s));
}

static void test_valid(void **state)
{
        expect_ok("sha256:" HEX64, IT_DIGEST_SHA256, HEX64);
        expect_ok("sha384:" HEX96, IT_DIGEST_SHA384, HEX96);
        expect_ok("sha512:" HEX128, IT_DIGEST_SHA512, HEX128);
        expect_ok("sha256:" SHA256_EMPTY, IT_DIGEST_SHA256, SHA256_EMPTY);
}

static void test_structure(void **state)
{
        expect_bad("", "invalid digest \"\": expected \"algorithm:hex\"");
        expect_bad(HEX64, "invalid digest \"" HEX64 "\": expected \"algorithm:hex\"");
        expect_bad(":" HEX64, "invalid digest \":" HEX64 "\": missing algorithm before ':'");
        expect_bad("sha256:", "invalid digest \"sha256:\": missing hex value after ':'");
        expect_bad(":", "invalid digest \":\": missing algorithm before ':'");
}

static void test_algorithm(void **state)
{
        expect_bad("md5:0123456789abcdef0123456789abcdef",
                   "invalid digest \"md5:0123456789abcdef0123456789abcdef\": "
                   "unsupported digest algorithm \"md5\"");
        expect_bad("SHA256:" HEX64,
                   "invalid digest \"SHA256:" HEX64 "\": unsupported digest algorithm \"SHA256\"");
        expect_bad("sha256+b64:" HEX64, "invalid digest \"sha256+b64:" HEX64
                                        "\": unsupported digest algorithm \"sha256+b64\"");
        expect_bad("sha:" HEX64,
                   "invalid digest \"sha:" HEX64 "\": unsupported digest algorithm \"sha\"");
        expect_bad("sha2566:" HEX64, "invalid digest \"sha2566:" HEX64
                                     "\": unsupported digest algorithm \"sha2566\"");
}

static void test_encoded(void **state)
{
        const char *len64 = "sha256 digest must be 64 lowercase hex characters";
        char want[512];

        snprintf(want, sizeof want, "invalid digest \"sha256:%.63s\": %s", HEX64, len64);
        char s[256];
        snprintf(s, sizeof s, "sha256:%.63s", HEX64);
        expect_bad(s, want);

        snprintf(s, sizeof s, "sha256:%s0", HEX64);
        snprintf(want, sizeof want, "invalid digest \"%s\": %s", s, len64);
        expect_bad(s, want);

        expect_bad("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
                   "invalid digest "
                   "\"sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\": "
                   "sha256 digest must be 64 lowercase hex characters");
        expect_bad("sha256:../..",
                   "invalid digest \"sha256:../..\": sha256 digest must be 64 lowercase hex "
                   "characters");
        /* Right length, but a path separator and "..": must never reach a path. */
        snprintf(s, sizeof s, "sha256:../%.61s", HEX64);
        assert_false(digest_valid(s));
        snprintf(s, sizeof s, "sha256:%.63sg", HEX64);
        assert_false(digest_valid(s));
        snprintf(s, sizeof s, "sha256:%s:", HEX64);
        assert_false(digest_valid(s));
        snprintf(s, sizeof s, "sha256: %.63s", HEX64);
        assert_false(digest_valid(s));

        /* The length belongs to the algorithm, not to any supported algorithm. */
        expect_bad("sha384:" HEX64, "invalid digest \"sha384:" HEX64
                                    "\": sha384 digest must be 96 lowercase hex characters");
        expect_bad("sha512:" HEX96, "invalid digest \"sha512:" HEX96
                                    "\": sha512 digest must be 128 lowercase hex characters");
        expect_bad("sha256:" HEX128, "invalid digest \"sha256:" HEX128
                                     "\": sha256 digest must be 64 lowercase hex characters");
}

static void test_message_bounded(void **state)
{
        /* Outside input can be large and contain control characters; the message stays short. */
        char *s = xmalloc(10010);
        memcpy(s, "sha256:\n\"", 9);
        memset(s + 9, 'a', 10000);
        s[10009] = '\0';
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(digest_parse(s, NULL, &err), IT_EINPUT);
        _cleanup_free_ char *got = it_error_format(&err);
        assert_non_null(strstr(got, "invalid digest \"sha256:\\x0a\\\"aaaa"));
        assert_non_null(strstr(got, "aaa\"...: sha256 digest must be 64"));
        assert_null(strchr(got, '\n'));
        assert_true(strlen(got) < 300);
        free(s);
}

static void test_null(void **state)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(digest_parse(NULL, NULL, &err), IT_EINPUT);
        assert_string_equal(err.msg, "missing digest");
        assert_false(digest_valid(NULL));
}

static void test_alg_props(void **state)
{
        assert_string_equal(digest_alg_name(IT_DIGEST_SHA256), "sha256");
        assert_string_equal(digest_alg_name(IT_DIGEST_SHA384), "sha384");
        assert_string_equal(digest_alg_name(IT_DIGEST_SHA512), "sha512");
        assert_int_equal(digest_hex_len(IT_DIGEST_SHA256), 64);
        assert_int_equal(digest_hex_len(IT_DIGEST_SHA384), 96);
        assert_int_equal(digest_hex_len(IT_DIGEST_SHA512), 128);
}

static void test_compute(void **state)
{
        struct it_digest d;
        digest_compute(IT_DIGEST_SHA256, "", 0, &d);
        assert_int_equal(d.alg, IT_DIGEST_SHA256);
        assert_string_equal(d.hex, SHA256_EMPTY);
        digest_compute(IT_DIGEST_SHA256, NULL, 0, &d);
        assert_string_equal(d.hex, SHA256_EMPTY);
        digest_compute(IT_DIGEST_SHA256, "abc", 3, &d);
        assert_string_equal(d.hex, SHA256_ABC);
        digest_compute(IT_DIGEST_SHA384, "abc", 3, &d);
        assert_int_equal(d.alg, IT_DIGEST_SHA384);
        assert_string_equal(d.hex, SHA384_ABC);
        digest_compute(IT_DIGEST_SHA512, "abc", 3, &d);
        assert_int_equal(d.alg, IT_DIGEST_SHA512);
        assert_string_equal(d.hex, SHA512_ABC);
        /* Bytes after a NUL count: the length, not strlen, is what is hashed. */
        digest_compute(IT_DIGEST_SHA256, "abc\0", 4, &d);
        assert_string_not_equal(d.hex, SHA256_ABC);

        char out[IT_DIGEST_STR_MAX];
        digest_compute(IT_DIGEST_SHA256, "abc", 3, &d);
        digest_format(&d, out);
        assert_string_equal(out, "sha256:" SHA256_ABC);
}

static void test_equal(void **state)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_digest a, b, c, e;
        digest_compute(IT_DIGEST_SHA256, "abc", 3, &a);
        assert_int_equal(digest_parse("sha256:" SHA256_ABC, &b, &err), 0);
        assert_true(digest_equal(&a, &b));
        digest_compute(IT_DIGEST_SHA256, "", 0, &c);
        assert_false(digest_equal(&a, &c));
        /* Same hex under another algorithm name is a different digest. */
        e = a;
        e.alg = IT_DIGEST_SHA384;
        assert_false(digest_equal(&a, &e));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_valid),           cmocka_unit_test(test_structure),
            cmocka_unit_test(test_algorithm),       cmocka_unit_test(test_encoded),
            cmocka_unit_test(test_message_bounded), cmocka_unit_test(test_null),
            cmocka_unit_test(test_alg_props),       cmocka_unit_test(test_compute),
            cmocka_unit_test(test_equal),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
