/* Manifest digests (spec §3): exact bytes, signed schema 1 JWS payloads, media type sniffing,
 * manifest list / OCI index instances and containers/image's platform choice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/manifest.h"
#include "imgtrust/xalloc.h"

#define HEX64A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX64B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define HEX64C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define HEX64D "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"

static void expect_digest_of(const char *m, size_t len, const void *payload, size_t plen)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_digest got, want;
        int rc = manifest_digest(m, len, &got, &err);
        if (rc)
                fail_msg("unexpected error: %s", err.msg);
        digest_compute(IT_DIGEST_SHA256, payload, plen, &want);
        char gs[IT_DIGEST_STR_MAX], ws[IT_DIGEST_STR_MAX];
        digest_format(&got, gs);
        digest_format(&want, ws);
        assert_string_equal(gs, ws);
}

static void expect_digest_error(const char *m, size_t len, const char *needle)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_digest got;
        assert_int_equal(manifest_digest(m, len, &got, &err), IT_EINPUT);
        _cleanup_free_ char *line = it_error_format(&err);
        if (!strstr(line, needle))
                fail_msg("error %s lacks %s", line, needle);
}

static void test_raw_bytes(void **state)
{
        static const char m[] =
            "{\"schemaVersion\":2,\"mediaType\":\"" IT_MT_OCI_MANIFEST "\",\"config\":{},"
            "\"layers\":[]}";
        expect_digest_of(m, strlen(m), m, strlen(m));
        /* The same document with other whitespace is another manifest. */
        static const char m2[] =
            "{\"schemaVersion\": 2,\"mediaType\":\"" IT_MT_OCI_MANIFEST "\",\"config\":{},"
            "\"layers\":[]}";
        struct it_digest a, b;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(manifest_digest(m, strlen(m), &a, &err), 0);
        assert_int_equal(manifest_digest(m2, strlen(m2), &b, &err), 0);
        assert_false(digest_equal(&a, &b));
        /* A known value: sha256 of "{}". */
        assert_int_equal(manifest_digest("{}", 2, &a, &err), 0);
        char s[IT_DIGEST_STR_MAX];
        digest_format(&a, s);
        assert_string_equal(
            s, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
        /* Unsigned schema 1 and "signatures": null are raw bytes too. */
        static const char s1[] = "{\"schemaVersion\":1,\"name\":\"a/b\",\"signatures\":null}";
        expect_digest_of(s1, strlen(s1), s1, strlen(s1));
}

static void test_not_json_and_size(void **state)
{
        expect_digest_error("not json", 8, "manifest: line 1, column 3: invalid JSON");
        expect_digest_error("", 0, "manifest: empty");
        expect_digest_error("{\"a\":1,\"a\":2}", 13, "invalid JSON");
        size_t n = IT_MANIFEST_MAX + 1;
        char *big = xmalloc(n);
        memset(big, ' ', n);
        big[0] = '{';
        big[n - 1] = '}';
        expect_digest_error(big, n, "manifest: too large (4194305 bytes; at most 4194304");
        /* Exactly the limit is fine. */
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_digest d;
        assert_int_equal(manifest_digest(big, n - 1 - 1, &d, &err), IT_EINPUT); /* no '}' */
        big[n - 2] = '}';
        assert_int_equal(manifest_digest(big, n - 1, &d, &err), 0);
        free(big);
}

static void b64url(struct it_buf *out, const void *data, size_t len)
{
        static const char tbl[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        const uint8_t *p = data;
        size_t i = 0;
        for (; i + 2 < len; i += 3) {
                uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
                for (int k = 3; k >= 0; k--)
                        it_buf_addch(out, tbl[(v >> (6 * k)) & 63]);
        }
        if (len - i == 1) {
                uint32_t v = (uint32_t)p[i] << 16;
                it_buf_addch(out, tbl[(v >> 18) & 63]);
                it_buf_addch(out, tbl[(v >> 12) & 63]);
        } else if (len - i == 2) {
                uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
                it_buf_addch(out, tbl[(v >> 18) & 63]);
                it_buf_addch(out, tbl[(v >> 12) & 63]);
                it_buf_addch(out, tbl[(v >> 6) & 63]);
        }
}

/* The JWS payload of our hand-made schema 1 manifest: what the signatures cover. */
static const char s1_payload[] = "{\n   \"schemaVersion\": 1,\n   \"name\": \"library/app\",\n"
                                 "   \"tag\": \"latest\",\n   \"architecture\": \"amd64\",\n"
                                 "   \"fsLayers\": [],\n   \"history\": []\n}";

static char *protected_header(long long flen, const char *tail)
{
        struct it_buf t = IT_BUF_INIT, hdr = IT_BUF_INIT, out = IT_BUF_INIT;
        b64url(&t, tail, strlen(tail));
        it_buf_addf(
            &hdr, "{\"formatLength\":%lld,\"formatTail\":\"%s\",\"time\":\"2016-01-01T00:00:00Z\"}",
            flen, it_buf_str(&t));
        b64url(&out, hdr.data, hdr.len);
        it_buf_free(&t);
        it_buf_free(&hdr);
        return it_buf_detach(&out);
}

/* A signed schema 1 manifest as libtrust pretty-prints it: the payload without its closing
 * "\n}", then the signatures, then "\n}". Each protected header may be given. */
static char *schema1_signed(const char *prot1, const char *prot2)
{
        size_t flen = strlen(s1_payload) - 2;
        struct it_buf m = IT_BUF_INIT;
        it_buf_add(&m, s1_payload, flen);
        it_buf_addf(&m,
                    ",\n   \"signatures\": [\n      {\n         \"header\": {\"alg\": \"ES256\"},\n"
                    "         \"signature\": \"c2ln\",\n         \"protected\": \"%s\"\n      }",
                    prot1);
        if (prot2)
                it_buf_addf(&m,
                            ",\n      {\"header\": {\"alg\": \"ES256\"}, \"signature\": "
                            "\"c2ln\", \"protected\": \"%s\"}",
                            prot2);
        it_buf_adds(&m, "\n   ]\n}");
        return it_buf_detach(&m);
}

static void test_schema1_signed(void **state)
{
        size_t flen = strlen(s1_payload) - 2;
        _cleanup_free_ char *p = protected_header((long long)flen, "\n}");
        _cleanup_free_ char *m = schema1_signed(p, NULL);
        assert_string_equal(manifest_media_type(m, strlen(m)), IT_MT_DOCKER_V2S1_SIGNED);
        expect_digest_of(m, strlen(m), s1_payload, strlen(s1_payload));

        /* Two signatures that agree. */
        _cleanup_free_ char *m2 = schema1_signed(p, p);
        expect_digest_of(m2, strlen(m2), s1_payload, strlen(s1_payload));

        /* The raw bytes are not the digest. */
        struct it_digest got, raw;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(manifest_digest(m, strlen(m), &got, &err), 0);
        digest_compute(IT_DIGEST_SHA256, m, strlen(m), &raw);
        assert_false(digest_equal(&got, &raw));

        /* Protected header split by a line break and spaces still decodes. */
        struct it_buf split = IT_BUF_INIT;
        it_buf_add(&split, p, 10);
        it_buf_adds(&split, "\\n  ");
        it_buf_adds(&split, p + 10);
        _cleanup_free_ char *ps = it_buf_detach(&split);
        _cleanup_free_ char *m3 = schema1_signed(ps, NULL);
        expect_digest_of(m3, strlen(m3), s1_payload, strlen(s1_payload));
}

static void test_schema1_errors(void **state)
{
        size_t flen = strlen(s1_payload) - 2;
        _cleanup_free_ char *p = protected_header((long long)flen, "\n}");

        static const char num[] = "{\"schemaVersion\":1,\"name\":\"a/b\",\"signatures\":1}";
        assert_string_equal(manifest_media_type(num, strlen(num)), IT_MT_DOCKER_V2S1_SIGNED);
        expect_digest_error(num, strlen(num),
                            "signed schema 1 manifest: signatures: expected an array, got number");
        static const char empty[] = "{\"schemaVersion\":1,\"signatures\":[]}";
        expect_digest_error(empty, strlen(empty), "missing signatures");
        static const char noprot[] = "{\"schemaVersion\":1,\"signatures\":[{}]}";
        expect_digest_error(noprot, strlen(noprot),
                            "signatures[0]: protected: expected a string, got missing");
        static const char badb64[] =
            "{\"schemaVersion\":1,\"signatures\":[{\"protected\":\"a+b/\"}]}";
        expect_digest_error(badb64, strlen(badb64),
                            "signatures[0]: protected: illegal base64url data at input byte 1");
        static const char notjson[] =
            "{\"schemaVersion\":1,\"signatures\":[{\"protected\":\"eHl6\"}]}";
        expect_digest_error(notjson, strlen(notjson), "signatures[0]: protected: line 1");

        /* Signatures that disagree. */
        _cleanup_free_ char *other = protected_header((long long)flen - 1, "\n}");
        _cleanup_free_ char *m = schema1_signed(p, other);
        expect_digest_error(m, strlen(m), "signatures[1]: formatLength/formatTail differ");
        _cleanup_free_ char *other2 = protected_header((long long)flen, "\n }");
        _cleanup_free_ char *m2 = schema1_signed(p, other2);
        expect_digest_error(m2, strlen(m2), "signatures[1]: formatLength/formatTail differ");

        /* formatLength beyond the manifest, or negative. */
        _cleanup_free_ char *huge = protected_header(100000, "\n}");
        _cleanup_free_ char *m3 = schema1_signed(huge, NULL);
        expect_digest_error(m3, strlen(m3), "invalid format length 100000");
        _cleanup_free_ char *neg = protected_header(-1, "\n}");
        _cleanup_free_ char *m4 = schema1_signed(neg, NULL);
        expect_digest_error(m4, strlen(m4), "invalid format length -1");
}

static void expect_type(const char *m, const char *want)
{
        const char *got = manifest_media_type(m, strlen(m));
        if (!want) {
                if (got)
                        fail_msg("%s: want unknown, got %s", m, got);
                return;
        }
        if (!got)
                fail_msg("%s: want %s, got unknown", m, want);
        assert_string_equal(got, want);
}

static void test_media_type(void **state)
{
        expect_type("{\"mediaType\":\"" IT_MT_DOCKER_V2S2 "\"}", IT_MT_DOCKER_V2S2);
        expect_type("{\"mediaType\":\"" IT_MT_DOCKER_LIST "\",\"schemaVersion\":2}",
                    IT_MT_DOCKER_LIST);
        expect_type("{\"mediaType\":\"" IT_MT_OCI_INDEX "\"}", IT_MT_OCI_INDEX);
        expect_type("{\"schemaVersion\":1}", IT_MT_DOCKER_V2S1);
        expect_type("{\"schemaVersion\":1,\"signatures\":[]}", IT_MT_DOCKER_V2S1_SIGNED);
        expect_type("{\"schemaVersion\":2,\"config\":{\"mediaType\":"
                    "\"application/vnd.oci.image.config.v1+json\"}}",
                    IT_MT_OCI_MANIFEST);
        expect_type("{\"schemaVersion\":2,\"config\":{\"mediaType\":"
                    "\"application/vnd.docker.container.image.v1+json\"}}",
                    IT_MT_DOCKER_V2S2);
        expect_type("{\"schemaVersion\":2,\"manifests\":[{}]}", IT_MT_OCI_INDEX);
        expect_type("{\"schemaVersion\":2}", IT_MT_OCI_MANIFEST);
        expect_type("{\"schemaVersion\":3}", NULL);
        expect_type("{\"mediaType\":1,\"schemaVersion\":2}", NULL);
        expect_type("{\"schemaVersion\":\"2\"}", NULL);
        expect_type("[]", NULL);
        expect_type("garbage", NULL);
        /* An unknown top-level type falls back to schemaVersion, as upstream does. */
        expect_type("{\"mediaType\":\"text/plain\",\"schemaVersion\":1,\"signatures\":[]}",
                    IT_MT_DOCKER_V2S1_SIGNED);
}

#define INST(mt, hex, plat)                                                                        \
        "{\"mediaType\":\"" mt "\",\"digest\":\"sha256:" hex "\",\"size\":10" plat "}"
#define PLAT(os, arch, var) ",\"platform\":{\"os\":\"" os "\",\"architecture\":\"" arch "\"" var "}"

static const char docker_list[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" IT_MT_DOCKER_LIST
    "\",\"manifests\":[" INST(IT_MT_DOCKER_V2S2, HEX64A, PLAT("linux", "arm", ",\"variant\":\"v7\"")) "," INST(
        IT_MT_DOCKER_V2S2, HEX64B,
        PLAT("linux", "arm64",
             ",\"variant\":\"v8\"")) "," INST(IT_MT_DOCKER_V2S2, HEX64C,
                                              PLAT("linux", "amd64",
                                                   "")) "," INST(IT_MT_DOCKER_V2S2, HEX64D,
                                                                 PLAT("windows", "amd64", "")) "]}";

static void load_list(const char *m, struct it_manifest_list *l)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = manifest_list_instances(m, strlen(m), l, &err);
        if (rc)
                fail_msg("unexpected error: %s", err.msg);
}

static const char *chosen(const struct it_manifest_list *l, const char *os, const char *arch,
                          const char *variant)
{
        static char buf[IT_DIGEST_STR_MAX];
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        size_t i = 99;
        int rc = manifest_list_choose(l, os, arch, variant, &i, &err);
        if (rc)
                fail_msg("unexpected error: %s", err.msg);
        assert_true(i < l->n);
        digest_format(&l->v[i].digest, buf);
        return buf;
}

static void test_list_instances(void **state)
{
        _cleanup_manifest_list_ struct it_manifest_list l = IT_MANIFEST_LIST_INIT;
        load_list(docker_list, &l);
        assert_string_equal(l.media_type, IT_MT_DOCKER_LIST);
        assert_int_equal(l.n, 4);
        assert_string_equal(l.v[0].arch, "arm");
        assert_string_equal(l.v[0].variant, "v7");
        assert_string_equal(l.v[1].os, "linux");
        assert_string_equal(l.v[2].variant, "");
        assert_string_equal(l.v[3].os, "windows");
        assert_string_equal(l.v[3].media_type, IT_MT_DOCKER_V2S2);
        assert_int_equal(l.v[3].size, 10);
        assert_true(l.v[2].has_platform);

        /* The default is linux and this machine's architecture. */
        assert_string_equal(manifest_host_arch(), "amd64");
        assert_string_equal(chosen(&l, NULL, NULL, NULL), "sha256:" HEX64C);
        assert_string_equal(chosen(&l, "linux", "amd64", NULL), "sha256:" HEX64C);
        assert_string_equal(chosen(&l, "windows", "amd64", NULL), "sha256:" HEX64D);
        assert_string_equal(chosen(&l, NULL, "arm64", NULL), "sha256:" HEX64B);
        assert_string_equal(chosen(&l, NULL, "arm64", "v8"), "sha256:" HEX64B);
        assert_string_equal(chosen(&l, NULL, "arm", NULL), "sha256:" HEX64A);
        assert_string_equal(chosen(&l, NULL, "arm", "v7"), "sha256:" HEX64A);
        /* v8 is more capable than v7 and may run it. */
        assert_string_equal(chosen(&l, NULL, "arm", "v8"), "sha256:" HEX64A);

        _cleanup_error_ it_error err = IT_ERROR_INIT;
        size_t i;
        /* A wanted variant is tried first, then less capable ones, then any variant (upstream's
         * last candidate has an empty variant, which matches every entry). */
        assert_string_equal(chosen(&l, NULL, "arm", "v6"), "sha256:" HEX64A);
        static const char arms[] =
            "{\"schemaVersion\":2,\"mediaType\":\"" IT_MT_DOCKER_LIST "\",\"manifests\":[" INST(
                IT_MT_DOCKER_V2S2, HEX64A,
                PLAT(
                    "linux", "arm",
                    ",\"variant\":\"v7\"")) "," INST(IT_MT_DOCKER_V2S2, HEX64B,
                                                     PLAT(
                                                         "linux", "arm",
                                                         ",\"variant\":\"v5\"")) "," INST(IT_MT_DOCKER_V2S2,
                                                                                          HEX64C,
                                                                                          PLAT(
                                                                                              "linu"
                                                                                              "x",
                                                                                              "arm",
                                                                                              ",\"v"
                                                                                              "aria"
                                                                                              "nt\""
                                                                                              ":\"v"
                                                                                              "6"
                                                                                              "\"")) "]}";
        _cleanup_manifest_list_ struct it_manifest_list a = IT_MANIFEST_LIST_INIT;
        load_list(arms, &a);
        assert_string_equal(chosen(&a, NULL, "arm", "v6"), "sha256:" HEX64C);
        assert_string_equal(chosen(&a, NULL, "arm", "v8"), "sha256:" HEX64A);
        assert_string_equal(chosen(&a, NULL, "arm", "v5"), "sha256:" HEX64B);
        assert_string_equal(chosen(&a, NULL, "arm", "v9"), "sha256:" HEX64A);
        assert_string_equal(chosen(&a, NULL, "arm", NULL), "sha256:" HEX64A);

        assert_int_equal(manifest_list_choose(&l, "linux", "s390x", NULL, &i, &err), IT_EINPUT);
        assert_string_equal(err.msg, "no image found in manifest list for architecture "
                                     "\"s390x\", variant \"\", OS \"linux\"");
}

static void test_oci_index_choice(void **state)
{
        static const char idx[] =
            "{\"schemaVersion\":2,\"mediaType\":\"" IT_MT_OCI_INDEX "\",\"manifests\":[" INST(
                IT_MT_OCI_MANIFEST, HEX64A,
                PLAT("linux", "arm64", "")) "," INST(IT_MT_OCI_MANIFEST, HEX64B,
                                                     "") "," INST(IT_MT_OCI_MANIFEST, HEX64C,
                                                                  ",\"platform\":null") "]}";
        _cleanup_manifest_list_ struct it_manifest_list l = IT_MANIFEST_LIST_INIT;
        load_list(idx, &l);
        assert_string_equal(l.media_type, IT_MT_OCI_INDEX);
        assert_false(l.v[1].has_platform);
        assert_false(l.v[2].has_platform);
        assert_string_equal(chosen(&l, NULL, "arm64", NULL), "sha256:" HEX64A);
        /* No platform matches: the first entry without platform. */
        assert_string_equal(chosen(&l, NULL, "amd64", NULL), "sha256:" HEX64B);

        /* Index without platform-less entries and no match. */
        static const char idx2[] = "{\"schemaVersion\":2,\"manifests\":[" INST(
            IT_MT_OCI_MANIFEST, HEX64A, PLAT("linux", "arm64", "")) "]}";
        _cleanup_manifest_list_ struct it_manifest_list l2 = IT_MANIFEST_LIST_INIT;
        load_list(idx2, &l2);
        assert_string_equal(l2.media_type, IT_MT_OCI_INDEX);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        size_t i;
        assert_int_equal(manifest_list_choose(&l2, NULL, "amd64", NULL, &i, &err), IT_EINPUT);
        assert_string_equal(err.msg, "no image found in image index for architecture \"amd64\", "
                                     "variant \"\", OS \"linux\"");
}

static void expect_list_error(const char *m, const char *needle)
{
        _cleanup_manifest_list_ struct it_manifest_list l = IT_MANIFEST_LIST_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(manifest_list_instances(m, strlen(m), &l, &err), IT_EINPUT);
        assert_int_equal(l.n, 0);
        assert_null(l.v);
        _cleanup_free_ char *line = it_error_format(&err);
        if (!strstr(line, needle))
                fail_msg("error %s lacks %s", line, needle);
}

static void test_list_errors(void **state)
{
#define LIST(entries)                                                                              \
        "{\"schemaVersion\":2,\"mediaType\":\"" IT_MT_DOCKER_LIST "\",\"manifests\":[" entries "]" \
        "}"
        expect_list_error(LIST(INST(IT_MT_DOCKER_V2S2, HEX64A,
                                    "") ","
                                        "{\"mediaType\":\"x\",\"digest\":\"sha256:../../etc\"}"),
                          "manifest list: manifests[1].digest: invalid digest "
                          "\"sha256:../../etc\": sha256 digest must be 64");
        expect_list_error(LIST("{\"digest\":\"sha256:"
                               "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                               "\"}"),
                          "manifests[0].digest");
        expect_list_error(LIST("{\"digest\":\"md5:abc\"}"),
                          "manifests[0].digest: invalid digest \"md5:abc\": unsupported digest "
                          "algorithm \"md5\"");
        expect_list_error(LIST("{\"size\":1}"),
                          "manifests[0].digest: expected a string, got missing");
        expect_list_error(LIST("1"), "manifests[0]: expected an object, got number");
        expect_list_error(LIST(INST("x", HEX64A, ",\"platform\":[]")),
                          "manifests[0].platform: expected an object, got array");
        expect_list_error(LIST(INST("x", HEX64A, ",\"platform\":{\"os\":1}")),
                          "manifests[0].platform.os: expected a string, got number");
        expect_list_error(LIST(INST("x", HEX64A, "") "") "x", "invalid JSON");
        expect_list_error("{\"schemaVersion\":2,\"mediaType\":\"" IT_MT_DOCKER_V2S2 "\"}",
                          "manifest is not a manifest list or image index (" IT_MT_DOCKER_V2S2);
        expect_list_error("{\"mediaType\":\"" IT_MT_OCI_INDEX "\",\"manifests\":{}}",
                          "manifest list: manifests: expected an array, got object");
        expect_list_error(LIST("{\"digest\":\"sha256:" HEX64A "\",\"size\":-1}"),
                          "manifests[0].size: expected a non-negative integer");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_raw_bytes),        cmocka_unit_test(test_not_json_and_size),
            cmocka_unit_test(test_schema1_signed),   cmocka_unit_test(test_schema1_errors),
            cmocka_unit_test(test_media_type),       cmocka_unit_test(test_list_instances),
            cmocka_unit_test(test_oci_index_choice), cmocka_unit_test(test_list_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
