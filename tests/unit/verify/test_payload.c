/* Simple-signing payload: every row of the strictness table (spec §2.2), edge cases §10 9–16,
 * and the byte layout written (§2.3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/buf.h"
#include "imgtrust/digest.h"
#include "imgtrust/envelope.h"
#include "imgtrust/payload.h"
#include "imgtrust/xalloc.h"

#define HEX64 "5f0c4b1e9d2a7c3e8b6a1d4f0e2c9b7a5d3e1f0a2b4c6d8e0f1a3b5c7d9e1f20"
#define DIGEST "sha256:" HEX64
#define TYPE "\"type\":\"atomic container signature\""
#define IMAGE "\"image\":{\"docker-manifest-digest\":\"" DIGEST "\"}"
#define IDENT "\"identity\":{\"docker-reference\":\"quay.example.org/team/api:2.4.1\"}"
#define CRIT "{" TYPE "," IMAGE "," IDENT "}"
#define OPT "{\"creator\":\"mytool 1.2.0\",\"timestamp\":1717171717}"
#define DOC(crit, opt) "{\"critical\":" crit ",\"optional\":" opt "}"

static void expect_err(const char *json, const char *msg)
{
        struct sig_payload p;
        it_error err = IT_ERROR_INIT;
        int rc = payload_parse(json, strlen(json), &p, &err);
        if (rc != IT_EINPUT)
                fail_msg("%s: expected IT_EINPUT, got %d", json, rc);
        char *m = it_error_format(&err);
        if (strcmp(m, msg) != 0)
                fail_msg("%s:\n expected \"%s\"\n got      \"%s\"", json, msg, m);
        free(m);
        assert_null(p.docker_reference);
        assert_null(p.creator);
        sig_payload_free(&p);
        it_error_clear(&err);
}

static void expect_ok(const char *json, struct sig_payload *p)
{
        it_error err = IT_ERROR_INIT;
        if (payload_parse(json, strlen(json), p, &err) != 0)
                fail_msg("%s: unexpected error: %s", json, err.msg);
}

static void test_spec_example(void **state)
{
        (void)state;
        const char *json = "{\n  \"critical\": {\n    \"type\": \"atomic container signature\",\n"
                           "    \"image\": { \"docker-manifest-digest\": \"" DIGEST "\" },\n"
                           "    \"identity\": { \"docker-reference\": "
                           "\"quay.example.org/team/api:2.4.1\" }\n  },\n  \"optional\": {\n"
                           "    \"creator\": \"mytool 1.2.0\",\n    \"timestamp\": 1717171717\n"
                           "  }\n}\n";
        struct sig_payload p;
        expect_ok(json, &p);
        assert_string_equal(p.digest_str, DIGEST);
        assert_int_equal(p.digest.alg, IT_DIGEST_SHA256);
        assert_string_equal(p.digest.hex, HEX64);
        assert_string_equal(p.docker_reference, "quay.example.org/team/api:2.4.1");
        assert_string_equal(p.creator, "mytool 1.2.0");
        assert_true(p.has_timestamp);
        assert_int_equal(p.timestamp, 1717171717);
        sig_payload_free(&p);
}

static void test_top_level(void **state)
{
        (void)state;
        expect_err("[]", "payload: expected an object, got array");
        expect_err("\"x\"", "payload: line 1, column 3: invalid JSON: '[' or '{' expected near "
                            "'\"x\"'");
        expect_err("{\"critical\":" CRIT "}", "payload: optional: missing");
        expect_err("{\"optional\":{}}", "payload: critical: missing");
        expect_err("{}", "payload: critical: missing");
        expect_err("{\"critical\":" CRIT ",\"optional\":{},\"extra\":1}",
                   "payload: extra: unknown member");
        expect_err("{\"critical\":" CRIT ",\"optional\":{},\"a b\":1}",
                   "payload: [\"a b\"]: unknown member");
        expect_err("", "payload: empty, expected a JSON document");
        expect_err(DOC(CRIT, "{}") " x",
                   "payload: line 1, column 241: invalid JSON: end of file expected near 'x'");
        expect_err(DOC(CRIT, "{}") "{}",
                   "payload: line 1, column 240: invalid JSON: end of file expected near '{'");
        /* Whitespace after the object is fine. */
        struct sig_payload p;
        expect_ok(DOC(CRIT, "{}") " \n\t", &p);
        assert_false(p.has_timestamp);
        assert_null(p.creator);
        sig_payload_free(&p);
        /* Bounded. */
        size_t n = IT_SIG_PAYLOAD_MAX + 1;
        char *big = xmalloc(n + 1);
        memset(big, ' ', n);
        big[n] = '\0';
        expect_err(big, "payload: too large (1048577 bytes; at most 1048576 are read)");
        free(big);
}

static void test_critical(void **state)
{
        (void)state;
        expect_err(DOC("null", "{}"), "payload: critical: expected an object, got null");
        expect_err(DOC("[]", "{}"), "payload: critical: expected an object, got array");
        expect_err(DOC("{" TYPE "," IMAGE "}", "{}"), "payload: critical.identity: missing");
        expect_err(DOC("{" TYPE "," IDENT "}", "{}"), "payload: critical.image: missing");
        expect_err(DOC("{" IMAGE "," IDENT "}", "{}"), "payload: critical.type: missing");
        /* §10.9: unknown members anywhere under critical. */
        expect_err(DOC("{" TYPE "," IMAGE "," IDENT ",\"new-feature\":true}", "{}"),
                   "payload: critical.new-feature: unknown member");
        expect_err(DOC("{" TYPE ",\"image\":{\"docker-manifest-digest\":\"" DIGEST
                       "\",\"x\":1}," IDENT "}",
                       "{}"),
                   "payload: critical.image.x: unknown member");
        expect_err(
            DOC("{" TYPE "," IMAGE ",\"identity\":{\"docker-reference\":\"a\",\"x\":null}}", "{}"),
            "payload: critical.identity.x: unknown member");
        /* §10.12: type exactly. */
        const char *types[] = {"Atomic container signature", "atomic  container signature",
                               "atomic container signature ", "", "atomic"};
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
                char *doc = xasprintf("{\"critical\":{\"type\":\"%s\"," IMAGE "," IDENT
                                      "},\"optional\":{}}",
                                      types[i]);
                expect_err(doc, "payload: critical.type: not \"atomic container signature\"");
                free(doc);
        }
        expect_err(
            DOC("{\"type\":\"atomic container signature\\u0000\"," IMAGE "," IDENT "}", "{}"),
            "payload: line 1, column 54: invalid JSON: \\u0000 is not allowed without "
            "JSON_ALLOW_NUL");
        expect_err(DOC("{\"type\":null," IMAGE "," IDENT "}", "{}"),
                   "payload: critical.type: expected a string, got null");
        expect_err(DOC("{\"type\":1," IMAGE "," IDENT "}", "{}"),
                   "payload: critical.type: expected a string, got number");
        /* image / identity shapes and nulls. */
        expect_err(DOC("{" TYPE ",\"image\":null," IDENT "}", "{}"),
                   "payload: critical.image: expected an object, got null");
        expect_err(DOC("{" TYPE ",\"image\":{}," IDENT "}", "{}"),
                   "payload: critical.image.docker-manifest-digest: missing");
        expect_err(DOC("{" TYPE ",\"image\":{\"docker-manifest-digest\":null}," IDENT "}", "{}"),
                   "payload: critical.image.docker-manifest-digest: expected a string, got "
                   "null");
        expect_err(DOC("{" TYPE "," IMAGE ",\"identity\":\"x\"}", "{}"),
                   "payload: critical.identity: expected an object, got string");
        expect_err(DOC("{" TYPE "," IMAGE ",\"identity\":{}}", "{}"),
                   "payload: critical.identity.docker-reference: missing");
        expect_err(DOC("{" TYPE "," IMAGE ",\"identity\":{\"docker-reference\":null}}", "{}"),
                   "payload: critical.identity.docker-reference: expected a string, got null");
        expect_err(DOC("{" TYPE "," IMAGE ",\"identity\":{\"docker-reference\":[]}}", "{}"),
                   "payload: critical.identity.docker-reference: expected a string, got array");
        /* Any string is a docker-reference at parse time (§10.19 fails later, in matching). */
        const char *refs[] = {"UPPERCASEISINVALID", "", "busybox:latest", "<&>"};
        for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
                char *doc = xasprintf("{\"critical\":{" TYPE "," IMAGE
                                      ",\"identity\":{\"docker-reference\":\"%s\"}},"
                                      "\"optional\":{}}",
                                      refs[i]);
                struct sig_payload p;
                expect_ok(doc, &p);
                assert_string_equal(p.docker_reference, refs[i]);
                sig_payload_free(&p);
                free(doc);
        }
}

static void test_digest(void **state)
{
        (void)state;
        /* §10.15 */
        struct {
                const char *digest, *msg;
        } bad[] = {
            {"sha256:../..", "invalid digest \"sha256:../..\": sha256 digest must be 64 "
                             "lowercase hex characters"},
            {"sha256:5F0C4B1E9D2A7C3E8B6A1D4F0E2C9B7A5D3E1F0A2B4C6D8E0F1A3B5C7D9E1F20",
             "invalid digest "
             "\"sha256:5F0C4B1E9D2A7C3E8B6A1D4F0E2C9B7A5D3E1F0A2B4C6D8E0F1A3B5C7D9E1F20\": "
             "sha256 digest must be 64 lowercase hex characters"},
            {"sha256:5f0c", "invalid digest \"sha256:5f0c\": sha256 digest must be 64 "
                            "lowercase hex characters"},
            {"md5:d41d8cd98f00b204e9800998ecf8427e",
             "invalid digest \"md5:d41d8cd98f00b204e9800998ecf8427e\": unsupported digest "
             "algorithm \"md5\""},
            {HEX64, "invalid digest \"" HEX64 "\": expected \"algorithm:hex\""},
            {"", "invalid digest \"\": expected \"algorithm:hex\""},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                char *doc = xasprintf("{\"critical\":{" TYPE
                                      ",\"image\":{\"docker-manifest-digest\":\"%s\"}," IDENT
                                      "},\"optional\":{}}",
                                      bad[i].digest);
                char *msg =
                    xasprintf("payload: critical.image.docker-manifest-digest: %s", bad[i].msg);
                expect_err(doc, msg);
                free(msg);
                free(doc);
        }
        /* §10.16: a valid sha512 digest parses, but can never equal the sha256 the verifier
         * computes of the manifest. */
        const char manifest[] = "{\"schemaVersion\":2}";
        struct it_digest d512, d256;
        digest_compute(IT_DIGEST_SHA512, manifest, strlen(manifest), &d512);
        digest_compute(IT_DIGEST_SHA256, manifest, strlen(manifest), &d256);
        char s512[IT_DIGEST_STR_MAX];
        digest_format(&d512, s512);
        char *doc =
            xasprintf("{\"critical\":{" TYPE ",\"image\":{\"docker-manifest-digest\":\"%s\"}," IDENT
                      "},\"optional\":{}}",
                      s512);
        struct sig_payload p;
        expect_ok(doc, &p);
        assert_int_equal(p.digest.alg, IT_DIGEST_SHA512);
        assert_string_equal(p.digest_str, s512);
        assert_true(digest_equal(&p.digest, &d512));
        assert_false(digest_equal(&p.digest, &d256));
        sig_payload_free(&p);
        free(doc);
}

static void test_optional(void **state)
{
        (void)state;
        struct sig_payload p;
        /* §10.11 */
        expect_ok(DOC(CRIT, "{}"), &p);
        assert_null(p.creator);
        assert_false(p.has_timestamp);
        sig_payload_free(&p);
        expect_err(DOC(CRIT, "null"), "payload: optional: expected an object, got null");
        expect_err(DOC(CRIT, "[]"), "payload: optional: expected an object, got array");
        /* §10.10: unknown members ignored. */
        expect_ok(DOC(CRIT, "{\"future\":{\"x\":[1,2]},\"creator\":\"c\",\"timestamp\":-5}"), &p);
        assert_string_equal(p.creator, "c");
        assert_true(p.has_timestamp);
        assert_int_equal(p.timestamp, -5);
        sig_payload_free(&p);
        /* null is upstream's empty value: absent. */
        expect_ok(DOC(CRIT, "{\"creator\":null,\"timestamp\":null}"), &p);
        assert_null(p.creator);
        assert_false(p.has_timestamp);
        sig_payload_free(&p);
        /* Integral reals are integers (upstream reads a float64). */
        expect_ok(DOC(CRIT, "{\"timestamp\":1.7e9}"), &p);
        assert_true(p.has_timestamp);
        assert_int_equal(p.timestamp, 1700000000);
        sig_payload_free(&p);
        expect_ok(DOC(CRIT, "{\"timestamp\":1717171717.0}"), &p);
        assert_int_equal(p.timestamp, 1717171717);
        sig_payload_free(&p);
        expect_ok(DOC(CRIT, "{\"timestamp\":-9223372036854775808}"), &p);
        assert_int_equal(p.timestamp, INT64_MIN);
        sig_payload_free(&p);
        expect_ok(DOC(CRIT, "{\"timestamp\":-9.223372036854775808e18}"), &p);
        assert_int_equal(p.timestamp, INT64_MIN);
        sig_payload_free(&p);
        /* §10.13 */
        expect_err(DOC(CRIT, "{\"timestamp\":0.5}"),
                   "payload: optional.timestamp: 0.5 is not an integer");
        expect_err(DOC(CRIT, "{\"timestamp\":1717171717.5}"),
                   "payload: optional.timestamp: 1717171717.5 is not an integer");
        expect_err(DOC(CRIT, "{\"timestamp\":\"1717171717\"}"),
                   "payload: optional.timestamp: expected a number, got string");
        expect_err(DOC(CRIT, "{\"timestamp\":true}"),
                   "payload: optional.timestamp: expected a number, got boolean");
        expect_err(DOC(CRIT, "{\"timestamp\":9.3e18}"),
                   "payload: optional.timestamp: 9.3e+18 is outside the int64 range");
        expect_err(DOC(CRIT, "{\"timestamp\":99999999999999999999}"),
                   "payload: line 1, column 269: invalid JSON: too big integer near "
                   "'99999999999999999999'");
        expect_err(DOC(CRIT, "{\"creator\":5}"),
                   "payload: optional.creator: expected a string, got number");
        expect_err(DOC(CRIT, "{\"creator\":{}}"),
                   "payload: optional.creator: expected a string, got object");
}

static void test_duplicates(void **state)
{
        (void)state;
        /* §10.14 */
        expect_err("{\"critical\":" CRIT ",\"critical\":" CRIT ",\"optional\":{}}",
                   "payload: line 1, column 235: invalid JSON: duplicate object key near "
                   "'\"critical\"'");
        expect_err(DOC("{" TYPE "," TYPE "," IMAGE "," IDENT "}", "{}"),
                   "payload: line 1, column 55: invalid JSON: duplicate object key near "
                   "'\"type\"'");
        expect_err(DOC(CRIT, "{\"creator\":\"a\",\"creator\":\"b\"}"),
                   "payload: line 1, column 260: invalid JSON: duplicate object key near "
                   "'\"creator\"'");
        expect_err(DOC(CRIT, "{\"x\":1,\"x\":1}"),
                   "payload: line 1, column 246: invalid JSON: duplicate object key near "
                   "'\"x\"'");
}

static void test_build(void **state)
{
        (void)state;
        struct it_buf b = IT_BUF_INIT;
        payload_build("quay.example.org/team/api:2.4.1", DIGEST, "imgtrust 0.1.0", 1717171717, &b);
        assert_string_equal(b.data, "{\"critical\":{\"identity\":{\"docker-reference\":\"quay."
                                    "example.org/team/api:2.4.1\"},\"image\":{\"docker-"
                                    "manifest-digest\":\"" DIGEST "\"},\"type\":\"atomic "
                                    "container signature\"},\"optional\":{\"creator\":"
                                    "\"imgtrust 0.1.0\",\"timestamp\":1717171717}}");
        it_buf_reset(&b);
        /* Go's escaping: <>& and U+2028/9 as \u, control bytes as \u00XX (\b, \f too), named
         * \n \r \t, invalid UTF-8 as U+FFFD, valid UTF-8 kept. */
        payload_build("a<b>&c\"d\\", DIGEST,
                      "x\n\r\t\b\f\x01\x7f \xe2\x80\xa8\xe2\x80\xa9 \xc3\xa9\xf0\x9f\x90\xb3 "
                      "\xff\xc3 \xed\xa0\x80 \xc0\xaf",
                      -1, &b);
        assert_string_equal(
            b.data, "{\"critical\":{\"identity\":{\"docker-reference\":\"a\\u003cb\\u003e\\u0026"
                    "c\\\"d\\\\\"},\"image\":{\"docker-manifest-digest\":\"" DIGEST
                    "\"},\"type\":\"atomic container signature\"},\"optional\":{\"creator\":"
                    "\"x\\n\\r\\t\\u0008\\u000c\\u0001\x7f \\u2028\\u2029 \xc3\xa9\xf0\x9f\x90\xb3"
                    " \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd \\ufffd\\ufffd\",\"timestamp\":-1}}");
        /* Round trip. */
        struct sig_payload p;
        it_error err = IT_ERROR_INIT;
        assert_int_equal(payload_parse(b.data, b.len, &p, &err), 0);
        assert_string_equal(p.docker_reference, "a<b>&c\"d\\");
        assert_string_equal(p.digest_str, DIGEST);
        assert_string_equal(p.creator, "x\n\r\t\b\f\x01\x7f \xe2\x80\xa8\xe2\x80\xa9 "
                                       "\xc3\xa9\xf0\x9f\x90\xb3 \xef\xbf\xbd\xef\xbf\xbd "
                                       "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
                                       "\xef\xbf\xbd\xef\xbf\xbd");
        assert_int_equal(p.timestamp, -1);
        sig_payload_free(&p);
        /* No creator. */
        it_buf_reset(&b);
        payload_build("busybox:latest", DIGEST, NULL, 0, &b);
        assert_string_equal(b.data, "{\"critical\":{\"identity\":{\"docker-reference\":"
                                    "\"busybox:latest\"},\"image\":{\"docker-manifest-digest\":"
                                    "\"" DIGEST "\"},\"type\":\"atomic container signature\"},"
                                    "\"optional\":{\"timestamp\":0}}");
        assert_int_equal(payload_parse(b.data, b.len, &p, &err), 0);
        assert_null(p.creator);
        assert_true(p.has_timestamp);
        assert_int_equal(p.timestamp, 0);
        sig_payload_free(&p);
        it_buf_free(&b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_spec_example), cmocka_unit_test(test_top_level),
            cmocka_unit_test(test_critical),     cmocka_unit_test(test_digest),
            cmocka_unit_test(test_optional),     cmocka_unit_test(test_duplicates),
            cmocka_unit_test(test_build),
        };
        return cmocka_run_group_tests_name("payload", tests, NULL, NULL);
}
