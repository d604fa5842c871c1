/* Signature envelope walker: hand-made packet sequences (old and new headers, partial lengths,
 * deflate/zlib compressed) and real gpg output made in a throw-away GNUPGHOME. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "imgtrust/buf.h"
#include "imgtrust/envelope.h"
#include "imgtrust/payload.h"
#include "imgtrust/xalloc.h"

static const char PAYLOAD[] =
    "{\"critical\":{\"identity\":{\"docker-reference\":\"quay.example.org/team/api:2.4.1\"},"
    "\"image\":{\"docker-manifest-digest\":\"sha256:"
    "5f0c4b1e9d2a7c3e8b6a1d4f0e2c9b7a5d3e1f0a2b4c6d8e0f1a3b5c7d9e1f20\"},\"type\":\"atomic "
    "container signature\"},\"optional\":{\"creator\":\"imgtrust test\",\"timestamp\":1717171717}}";

/* ---- packet construction ---- */

/* Append a packet: old format picks the smallest length type; new format a one/two/five-octet
 * length. */
static void put_pkt(struct it_buf *b, int tag, const void *body, size_t n, bool newfmt)
{
        uint8_t h[6];
        size_t hl;
        if (newfmt) {
                h[0] = (uint8_t)(0xC0 | tag);
                if (n < 192) {
                        h[1] = (uint8_t)n;
                        hl = 2;
                } else if (n < 8384) {
                        h[1] = (uint8_t)(((n - 192) >> 8) + 192);
                        h[2] = (uint8_t)((n - 192) & 0xFF);
                        hl = 3;
                } else {
                        h[1] = 255;
                        h[2] = (uint8_t)(n >> 24);
                        h[3] = (uint8_t)(n >> 16);
                        h[4] = (uint8_t)(n >> 8);
                        h[5] = (uint8_t)n;
                        hl = 6;
                }
        } else if (n < 256) {
                h[0] = (uint8_t)(0x80 | (tag << 2));
                h[1] = (uint8_t)n;
                hl = 2;
        } else if (n < 65536) {
                h[0] = (uint8_t)(0x80 | (tag << 2) | 1);
                h[1] = (uint8_t)(n >> 8);
                h[2] = (uint8_t)n;
                hl = 3;
        } else {
                h[0] = (uint8_t)(0x80 | (tag << 2) | 2);
                h[1] = (uint8_t)(n >> 24);
                h[2] = (uint8_t)(n >> 16);
                h[3] = (uint8_t)(n >> 8);
                h[4] = (uint8_t)n;
                hl = 5;
        }
        it_buf_add(b, h, hl);
        it_buf_add(b, body, n);
}

static const uint8_t KEYID[8] = {0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0};

static void put_ops(struct it_buf *b)
{
        uint8_t o[13] = {3, 0, 8, 22};
        memcpy(o + 4, KEYID, 8);
        o[12] = 1;
        put_pkt(b, 4, o, sizeof o, false);
}

static void put_literal(struct it_buf *b, char fmt, const char *name, const void *data, size_t n,
                        bool newfmt)
{
        struct it_buf body = IT_BUF_INIT;
        it_buf_addch(&body, fmt);
        it_buf_addch(&body, (char)strlen(name));
        it_buf_adds(&body, name);
        it_buf_add(&body, "\0\0\0\0", 4);
        it_buf_add(&body, data, n);
        put_pkt(b, 11, body.data, body.len, newfmt);
        it_buf_free(&body);
}

/* A v4 signature body: creation time hashed, issuer key ID unhashed, optionally an issuer
 * fingerprint hashed; the MPIs are junk (no crypto here). */
static void put_sig(struct it_buf *b, bool with_fpr)
{
        struct it_buf s = IT_BUF_INIT;
        uint8_t head[4] = {4, 0, 22, 8};
        it_buf_add(&s, head, 4);
        struct it_buf hashed = IT_BUF_INIT;
        it_buf_add(&hashed, "\x05\x02\x60\x00\x00\x00", 6);
        if (with_fpr) {
                uint8_t f[23] = {22, 33, 4};
                for (int i = 0; i < 20; i++)
                        f[3 + i] = (uint8_t)(0xA0 + i);
                it_buf_add(&hashed, f, sizeof f);
        }
        it_buf_addch(&s, (char)(hashed.len >> 8));
        it_buf_addch(&s, (char)hashed.len);
        it_buf_add(&s, hashed.data, hashed.len);
        uint8_t unhashed[12] = {0, 10, 9, 16};
        memcpy(unhashed + 4, KEYID, 8);
        it_buf_add(&s, unhashed, sizeof unhashed);
        it_buf_add(&s, "\xAB\xCD\x00\x08\xFF", 5);
        put_pkt(b, 2, s.data, s.len, true);
        it_buf_free(&hashed);
        it_buf_free(&s);
}

/* OPS, literal (PAYLOAD), signature. */
static void put_message(struct it_buf *b)
{
        put_ops(b);
        put_literal(b, 'b', "", PAYLOAD, strlen(PAYLOAD), false);
        put_sig(b, false);
}

/* zlib's deflate: raw (ZIP, 1) or with the zlib wrapper (ZLIB, 2). */
static void deflate_into(struct it_buf *out, const void *in, size_t n, int alg)
{
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        assert_int_equal(
            deflateInit2(&zs, 9, Z_DEFLATED, alg == 1 ? -15 : 15, 9, Z_DEFAULT_STRATEGY), Z_OK);
        size_t cap = deflateBound(&zs, n);
        uint8_t *buf = xmalloc(cap);
        zs.next_in = (Bytef *)in;
        zs.avail_in = (uInt)n;
        zs.next_out = buf;
        zs.avail_out = (uInt)cap;
        assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
        it_buf_add(out, buf, zs.total_out);
        deflateEnd(&zs);
        free(buf);
}

/* A compressed packet holding `inner`, with `extra` bytes appended after the deflate stream. */
static void put_compressed(struct it_buf *b, const struct it_buf *inner, int alg, const char *extra,
                           bool newfmt)
{
        struct it_buf body = IT_BUF_INIT;
        it_buf_addch(&body, (char)alg);
        if (alg == 0)
                it_buf_add(&body, inner->data, inner->len);
        else
                deflate_into(&body, inner->data, inner->len, alg);
        if (extra)
                it_buf_adds(&body, extra);
        put_pkt(b, 8, body.data, body.len, newfmt);
        it_buf_free(&body);
}

/* ---- checking ---- */

static void expect_ok(const void *blob, size_t len, struct sig_envelope *env)
{
        it_error err = IT_ERROR_INIT;
        int rc = sig_envelope_check(blob, len, env, &err);
        if (rc)
                fail_msg("unexpected error: %s", err.msg);
        it_error_clear(&err);
}

static void expect_err(const void *blob, size_t len, int code, const char *msg)
{
        it_error err = IT_ERROR_INIT;
        struct sig_envelope env;
        int rc = sig_envelope_check(blob, len, &env, &err);
        assert_int_equal(rc, code);
        char *m = it_error_format(&err);
        if (strcmp(m, msg) != 0)
                fail_msg("expected \"%s\", got \"%s\"", msg, m);
        free(m);
        assert_null(env.payload);
        sig_envelope_free(&env);
        it_error_clear(&err);
}

static void expect_buf_err(const struct it_buf *b, const char *msg)
{
        expect_err(b->data, b->len, IT_EINPUT, msg);
}

static void assert_payload(const struct sig_envelope *env)
{
        assert_int_equal(env->payload_len, strlen(PAYLOAD));
        assert_memory_equal(env->payload, PAYLOAD, env->payload_len);
        assert_int_equal(env->payload[env->payload_len], 0);
}

/* ---- hand-made ---- */

static void test_plain_shapes(void **state)
{
        (void)state;
        struct sig_envelope env;
        struct it_buf b = IT_BUF_INIT;
        put_message(&b);
        expect_ok(b.data, b.len, &env);
        assert_payload(&env);
        assert_int_equal(env.literal_format, 'b');
        assert_string_equal(env.literal_name, "");
        assert_int_equal(env.compression, -1);
        assert_string_equal(env.issuer, "123456789ABCDEF0");
        sig_envelope_free(&env);

        /* No one-pass signature, new-format literal with a name, issuer fingerprint. */
        it_buf_reset(&b);
        put_literal(&b, 't', "payload.json", PAYLOAD, strlen(PAYLOAD), true);
        put_sig(&b, true);
        /* Starts with a literal header (0xCB), which the sniffing table refuses. */
        expect_buf_err(&b, "signature: unrecognized signature format (first byte 0xcb)");
        struct it_buf t = IT_BUF_INIT;
        it_buf_add(&t, "\0simple-signing\n", 16);
        it_buf_add(&t, b.data, b.len);
        expect_ok(t.data, t.len, &env);
        assert_payload(&env);
        assert_int_equal(env.literal_format, 't');
        assert_string_equal(env.literal_name, "payload.json");
        assert_string_equal(env.issuer, "A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3");
        sig_envelope_free(&env);
        it_buf_free(&t);

        /* The tagged prefix in front of an ordinary message. */
        it_buf_reset(&b);
        it_buf_add(&b, "\0simple-signing\n", 16);
        put_message(&b);
        expect_ok(b.data, b.len, &env);
        assert_payload(&env);
        sig_envelope_free(&env);
        it_buf_free(&b);
}

static void test_partial_lengths(void **state)
{
        (void)state;
        /* OPS, then a literal in partial chunks (512 + 512 + rest), then the signature. */
        struct it_buf lit = IT_BUF_INIT;
        it_buf_add(&lit, "b\0\0\0\0\0", 6);
        char big[1400];
        memset(big, 'x', sizeof big);
        it_buf_add(&lit, big, sizeof big);
        struct it_buf b = IT_BUF_INIT;
        put_ops(&b);
        it_buf_addch(&b, (char)0xCB);
        it_buf_addch(&b, (char)(224 + 9)); /* 512 */
        it_buf_add(&b, lit.data, 512);
        it_buf_addch(&b, (char)(224 + 9));
        it_buf_add(&b, lit.data + 512, 512);
        size_t rest = lit.len - 1024;
        it_buf_addch(&b, (char)(((rest - 192) >> 8) + 192));
        it_buf_addch(&b, (char)((rest - 192) & 0xFF));
        it_buf_add(&b, lit.data + 1024, rest);
        put_sig(&b, false);
        struct sig_envelope env;
        expect_ok(b.data, b.len, &env);
        assert_int_equal(env.payload_len, sizeof big);
        assert_memory_equal(env.payload, big, sizeof big);
        sig_envelope_free(&env);
        it_buf_free(&b);
        it_buf_free(&lit);
}

static void test_compressed(void **state)
{
        (void)state;
        struct it_buf inner = IT_BUF_INIT, b = IT_BUF_INIT;
        struct sig_envelope env;
        put_message(&inner);
        for (int alg = 0; alg <= 2; alg++) {
                for (int nf = 0; nf <= 1; nf++) {
                        it_buf_reset(&b);
                        put_compressed(&b, &inner, alg, NULL, nf);
                        expect_ok(b.data, b.len, &env);
                        assert_payload(&env);
                        assert_int_equal(env.compression, alg);
                        sig_envelope_free(&env);
                }
        }
        /* A marker packet may lead the compressed contents, not sit in the middle. */
        struct it_buf m = IT_BUF_INIT;
        put_pkt(&m, 10, "PGP", 3, false);
        put_message(&m);
        it_buf_reset(&b);
        put_compressed(&b, &m, 1, NULL, false);
        expect_ok(b.data, b.len, &env);
        assert_payload(&env);
        sig_envelope_free(&env);
        it_buf_reset(&m);
        put_ops(&m);
        put_pkt(&m, 10, "PGP", 3, false);
        put_literal(&m, 'b', "", PAYLOAD, strlen(PAYLOAD), false);
        put_sig(&m, false);
        it_buf_reset(&b);
        put_compressed(&b, &m, 2, NULL, false);
        expect_buf_err(&b, "signature: marker packet in the middle of the message");

        /* Bytes after the deflate stream, inside the packet. */
        for (int alg = 1; alg <= 2; alg++) {
                it_buf_reset(&b);
                put_compressed(&b, &inner, alg, "junk", false);
                expect_buf_err(&b, "signature: data after the end of the compressed stream");
        }
        /* Packets after the compressed packet. */
        it_buf_reset(&b);
        put_compressed(&b, &inner, 1, NULL, false);
        put_sig(&b, false);
        expect_buf_err(&b, "signature: data after the end of the signed message");
        it_buf_reset(&b);
        put_compressed(&b, &inner, 1, NULL, false);
        put_compressed(&b, &inner, 1, NULL, false);
        expect_buf_err(&b, "signature: data after the end of the signed message");
        it_buf_reset(&b);
        put_compressed(&b, &inner, 0, NULL, false);
        it_buf_adds(&b, "\n");
        expect_buf_err(&b, "signature: data after the end of the signed message");

        /* Truncated and corrupt deflate streams. */
        struct it_buf z = IT_BUF_INIT;
        it_buf_addch(&z, 1);
        deflate_into(&z, inner.data, inner.len, 1);
        it_buf_reset(&b);
        put_pkt(&b, 8, z.data, z.len - 5, false);
        expect_buf_err(&b, "signature: compressed stream is truncated");
        it_buf_reset(&z);
        it_buf_add(&z, "\x02\xff\xff\xff\xff", 5);
        it_buf_reset(&b);
        put_pkt(&b, 8, z.data, z.len, false);
        expect_buf_err(&b, "signature: corrupt compressed data: incorrect header check");

        /* A cut bzip2 stream, unknown algorithms, nesting, empty. */
        it_buf_reset(&b);
        put_pkt(&b, 8,
                "\x03"
                "BZh91AY&SY",
                11, false);
        expect_buf_err(&b, "signature: compressed stream is truncated"); /* bzip2, cut short */
        it_buf_reset(&b);
        put_pkt(&b, 8, "\x07xx", 3, false);
        expect_buf_err(&b, "signature: unknown compression algorithm 7");
        it_buf_reset(&m);
        put_compressed(&m, &inner, 1, NULL, false);
        it_buf_reset(&b);
        put_compressed(&b, &m, 2, NULL, false);
        expect_buf_err(&b, "signature: nested compressed data packet");
        it_buf_reset(&b);
        put_pkt(&b, 8, "", 0, false);
        expect_buf_err(&b, "signature: empty compressed data packet");
        it_buf_reset(&b);
        put_pkt(&b, 8, "\x00", 1, false);
        expect_buf_err(&b, "signature: no signed message in the compressed data");

        it_buf_free(&z);
        it_buf_free(&m);
        it_buf_free(&inner);
        it_buf_free(&b);
}

static void test_bad_shapes(void **state)
{
        (void)state;
        struct it_buf b = IT_BUF_INIT;

        put_sig(&b, false);
        expect_buf_err(&b, "signature: detached signature; a signed message is required");

        it_buf_reset(&b);
        put_message(&b);
        put_message(&b);
        expect_buf_err(&b, "signature: data after the end of the signed message");

        it_buf_reset(&b);
        put_message(&b);
        it_buf_adds(&b, "trailing");
        expect_buf_err(&b, "signature: data after the end of the signed message");

        /* Two signers: two one-pass signatures and two signatures; or one OPS and two sigs. */
        it_buf_reset(&b);
        put_ops(&b);
        put_ops(&b);
        put_literal(&b, 'b', "", PAYLOAD, strlen(PAYLOAD), false);
        put_sig(&b, false);
        put_sig(&b, false);
        expect_buf_err(&b, "signature: 2 signature packets; exactly one is allowed");
        it_buf_reset(&b);
        put_message(&b);
        put_sig(&b, false);
        put_sig(&b, false);
        expect_buf_err(&b, "signature: 3 signature packets; exactly one is allowed");
        it_buf_reset(&b);
        put_ops(&b);
        put_ops(&b);
        put_literal(&b, 'b', "", PAYLOAD, strlen(PAYLOAD), false);
        put_sig(&b, false);
        expect_buf_err(&b, "signature: 2 one-pass signature packets but 1 signature packet");

        /* Unsigned literal data, with and without a one-pass signature. */
        it_buf_reset(&b);
        it_buf_add(&b, "\0simple-signing\n", 16);
        put_literal(&b, 'b', "", PAYLOAD, strlen(PAYLOAD), false);
        expect_buf_err(&b, "signature: unsigned literal data; a signed message is required");
        it_buf_reset(&b);
        put_ops(&b);
        put_literal(&b, 'b', "", PAYLOAD, strlen(PAYLOAD), false);
        expect_buf_err(&b, "signature: unsigned literal data; a signed message is required");
        it_buf_reset(&b);
        put_ops(&b);
        expect_buf_err(&b, "signature: one-pass signature without literal data");

        /* Old-style signed message (signature first). */
        it_buf_reset(&b);
        put_sig(&b, false);
        put_literal(&b, 'b', "", PAYLOAD, strlen(PAYLOAD), false);
        expect_buf_err(&b, "signature: signature packet before the literal data; a one-pass "
                           "signed message is required");
        it_buf_reset(&b);
        put_ops(&b);
        put_sig(&b, false);
        expect_buf_err(&b, "signature: signature packet before the literal data");

        /* Two literals; OPS after the literal; other packets; encrypted packets. */
        it_buf_reset(&b);
        put_ops(&b);
        put_literal(&b, 'b', "", "a", 1, false);
        put_literal(&b, 'b', "", "b", 1, false);
        put_sig(&b, false);
        expect_buf_err(&b, "signature: 2 literal data packets");
        it_buf_reset(&b);
        put_ops(&b);
        put_literal(&b, 'b', "", "a", 1, false);
        put_ops(&b);
        expect_buf_err(&b, "signature: one-pass signature packet after the literal data");
        it_buf_reset(&b);
        put_ops(&b);
        put_pkt(&b, 13, "Someone", 7, false);
        expect_buf_err(&b, "signature: unexpected OpenPGP packet (tag 13) in a signed message");
        int enc[] = {1, 3, 9, 18, 20};
        for (size_t i = 0; i < sizeof enc / sizeof enc[0]; i++) {
                it_buf_reset(&b);
                put_ops(&b);
                put_pkt(&b, enc[i], "xx", 2, true);
                char want[128];
                snprintf(want, sizeof want,
                         "signature: encrypted OpenPGP message (packet tag %d); a signed "
                         "message is required",
                         enc[i]);
                expect_buf_err(&b, want);
                /* At the start the sniffing step already names it. */
                it_buf_reset(&b);
                put_pkt(&b, enc[i], "xx", 2, true);
                expect_buf_err(&b, want);
        }

        /* Literal data packets that are malformed or too big. */
        it_buf_reset(&b);
        put_ops(&b);
        put_literal(&b, 'x', "", "a", 1, false);
        put_sig(&b, false);
        expect_buf_err(&b, "signature: literal data format 0x78 is not b, t or u");
        it_buf_reset(&b);
        put_ops(&b);
        put_pkt(&b, 11,
                "b\x05"
                "ab",
                4, false);
        put_sig(&b, false);
        expect_buf_err(&b, "signature: literal data packet is truncated");
        it_buf_reset(&b);
        put_ops(&b);
        char *huge = xcalloc(1, IT_SIG_PAYLOAD_MAX + 1);
        put_literal(&b, 'b', "", huge, IT_SIG_PAYLOAD_MAX + 1, true);
        put_sig(&b, false);
        expect_buf_err(&b, "signature: payload larger than 1 MiB");
        free(huge);

        /* Truncated packet: the walker's message behind our prefix. */
        it_buf_reset(&b);
        put_message(&b);
        /* The signature follows the 15-byte OPS and the literal (3-byte header, 6, payload). */
        char want[96];
        snprintf(want, sizeof want, "signature: OpenPGP data: packet at offset %zu is truncated",
                 15 + 3 + 6 + strlen(PAYLOAD));
        expect_err(b.data, b.len - 3, IT_EINPUT, want);
        it_buf_free(&b);
}

static void test_sniffing(void **state)
{
        (void)state;
        expect_err("", 0, IT_EINPUT, "signature: empty blob");
        expect_err("\0simple-signing\n", 16, IT_EINPUT, "signature: empty blob");
        const char arm[] = "-----BEGIN PGP MESSAGE-----\n\nowGbwMvMwMV4\n-----END PGP "
                           "MESSAGE-----\n";
        expect_err(arm, strlen(arm), IT_EINPUT,
                   "signature: armored (ASCII) OpenPGP data; a binary signed message is "
                   "required");
        const char clr[] = "\r\n-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{}\n";
        expect_err(clr, strlen(clr), IT_EINPUT,
                   "signature: clear-signed OpenPGP text; a binary signed message is required");
        struct it_buf b = IT_BUF_INIT;
        it_buf_add(&b, "\0simple-signing\n", 16);
        it_buf_adds(&b, arm);
        expect_buf_err(&b, "signature: armored (ASCII) OpenPGP data; a binary signed message is "
                           "required");
        it_buf_free(&b);
        expect_err("\0sigstore-json\n{}", 17, IT_EINPUT,
                   "signature: sigstore signature, not simple signing");
        expect_err("\0cosign\nxx", 10, IT_EINPUT, "signature: unknown tagged format \"cosign\"");
        expect_err("\0simple-signing", 15, IT_EINPUT,
                   "signature: tagged blob without a newline after its format name");
        expect_err("\0simple\tsigning\n", 16, IT_EINPUT,
                   "signature: tagged blob with a non-printable byte 0x09 in its format name");
        expect_err("{\"critical\":{}}", 15, IT_EINPUT,
                   "signature: unrecognized signature format (first byte 0x7b)");
        /* '=' passes the sniffing (as upstream), then is no packet. */
        expect_err("=abc", 4, IT_EINPUT,
                   "signature: OpenPGP data: byte 0x3d at offset 0 is not a packet header");
        /* A marker packet first is outside upstream's table. */
        expect_err("\xa8\x03PGP", 5, IT_EINPUT,
                   "signature: unrecognized signature format (first byte 0xa8)");
        uint8_t *big = xcalloc(1, IT_SIG_BLOB_MAX + 1);
        big[0] = 0xA3;
        expect_err(big, IT_SIG_BLOB_MAX + 1, IT_EINPUT,
                   "signature: blob too large (4194305 bytes; at most 4194304 allowed)");
        free(big);
}

static void test_zip_bomb(void **state)
{
        (void)state;
        /* 20 MiB of zeros deflates to ~20 KiB; inflating must stop at the cap. */
        size_t n = (size_t)20 << 20;
        struct it_buf inner = IT_BUF_INIT, b = IT_BUF_INIT;
        put_ops(&inner);
        char *zeros = xcalloc(1, n);
        put_literal(&inner, 'b', "", zeros, n, true);
        free(zeros);
        put_sig(&inner, false);
        put_compressed(&b, &inner, 1, NULL, false);
        it_buf_free(&inner);
        assert_true(b.len < 100000);
        expect_buf_err(&b, "signature: compressed payload larger than 1 MiB");
        it_buf_free(&b);
}

/* ---- real gpg output ---- */

struct gpgenv {
        char dir[64];
        char *home;
};

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *cmd = NULL;
        assert_true(vasprintf(&cmd, fmt, ap) >= 0);
        va_end(ap);
        int rc = system(cmd);
        free(cmd);
        return rc;
}

static int gpg_setup(void **state)
{
        struct gpgenv *e = xcalloc(1, sizeof *e);
        snprintf(e->dir, sizeof e->dir, "/tmp/it-envelope-XXXXXX");
        if (!mkdtemp(e->dir))
                return -1;
        e->home = xasprintf("%s/home", e->dir);
        char *path = xasprintf("%s/payload.json", e->dir);
        FILE *f = fopen(path, "w");
        free(path);
        if (!f)
                return -1;
        fwrite(PAYLOAD, 1, strlen(PAYLOAD), f);
        fclose(f);
        int rc =
            run("set -e; cd %s; mkdir -m 700 home; export GNUPGHOME=$PWD/home\n"
                "g() { gpg --batch -q --no-tty --no-auto-check-trustdb --passphrase '' "
                "--pinentry-mode loopback \"$@\"; }\n"
                "g --quick-gen-key 'Signer A <a@example.test>' ed25519 sign never\n"
                "g --quick-gen-key 'Signer B <b@example.test>' ed25519 sign never\n"
                "A=$(gpg --with-colons --list-keys a@example.test | awk -F: '/^fpr/{print $10; "
                "exit}')\n"
                "g --quick-add-key $A cv25519 encr never\n"
                "echo $A > a.fpr\n"
                "g -u a@example.test -o signed.gpg --sign payload.json\n"
                "g -u a@example.test -o none.gpg --compress-algo none --sign payload.json\n"
                "g -u a@example.test -o zlib.gpg --compress-algo zlib --sign payload.json\n"
                "g -u a@example.test -o zip.gpg --compress-algo zip --sign payload.json\n"
                "g -u a@example.test -o bzip2.gpg --compress-algo bzip2 --sign payload.json\n"
                "g -u a@example.test -o detached.sig --detach-sign payload.json\n"
                "g -u a@example.test -o clear.asc --clearsign payload.json\n"
                "g -u a@example.test -o armored.asc --armor --sign payload.json\n"
                "g -u a@example.test -u b@example.test -o two-signers.gpg --sign payload.json\n"
                "g -u a@example.test -o two-signers-none.gpg -u b@example.test --compress-algo "
                "none --sign payload.json\n"
                "g -r a@example.test -o encrypted.gpg --encrypt payload.json\n"
                "g -u a@example.test -r a@example.test -o signenc.gpg --sign --encrypt "
                "payload.json\n"
                "cat signed.gpg signed.gpg > twice.gpg\n"
                "cat none.gpg none.gpg > twice-none.gpg\n"
                "cat signed.gpg > trailing.gpg; printf junk >> trailing.gpg\n"
                "cat none.gpg > trailing-none.gpg; printf junk >> trailing-none.gpg\n"
                "head -c $((20*1024*1024)) /dev/zero > zeros\n"
                "g -u a@example.test -o bomb.gpg --sign zeros; rm zeros\n"
                "g --store -o literal.gpg payload.json\n",
                e->dir);
        if (rc != 0)
                return -1;
        *state = e;
        return 0;
}

static int gpg_teardown(void **state)
{
        struct gpgenv *e = *state;
        run("gpgconf --homedir %s --kill all >/dev/null 2>&1", e->home);
        run("rm -rf %s", e->dir);
        free(e->home);
        free(e);
        return 0;
}

static void read_blob(const struct gpgenv *e, const char *name, struct it_buf *out)
{
        char *path = xasprintf("%s/%s", e->dir, name);
        FILE *f = fopen(path, "rb");
        if (!f)
                fail_msg("cannot open %s", path);
        char tmp[65536];
        size_t n;
        while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
                it_buf_add(out, tmp, n);
        fclose(f);
        free(path);
}

static void expect_file_err(const struct gpgenv *e, const char *name, int code, const char *msg)
{
        struct it_buf b = IT_BUF_INIT;
        read_blob(e, name, &b);
        expect_err(b.data, b.len, code, msg);
        it_buf_free(&b);
}

static void test_gpg_accepted(void **state)
{
        struct gpgenv *e = *state;
        struct it_buf fpr = IT_BUF_INIT;
        read_blob(e, "a.fpr", &fpr);
        /* bzip2 too: gpg can be set to use it and containers/image verifies such messages. */
        const char *names[] = {"signed.gpg", "none.gpg", "zlib.gpg", "zip.gpg", "bzip2.gpg"};
        const int algs[] = {-2, -1, 2, 1, 3};
        for (size_t i = 0; i < 5; i++) {
                struct it_buf b = IT_BUF_INIT;
                read_blob(e, names[i], &b);
                struct sig_envelope env;
                expect_ok(b.data, b.len, &env);
                assert_payload(&env);
                assert_int_equal(env.literal_format, 'b');
                assert_string_equal(env.literal_name, "payload.json");
                if (algs[i] != -2)
                        assert_int_equal(env.compression, algs[i]);
                else
                        assert_true(env.compression == 1 || env.compression == 2);
                /* gpg writes the issuer fingerprint subpacket. */
                assert_int_equal(strlen(env.issuer), 40);
                assert_memory_equal(env.issuer, fpr.data, 40);
                /* And the payload parses. */
                struct sig_payload p;
                it_error err = IT_ERROR_INIT;
                assert_int_equal(payload_parse(env.payload, env.payload_len, &p, &err), 0);
                assert_string_equal(p.docker_reference, "quay.example.org/team/api:2.4.1");
                sig_payload_free(&p);
                sig_envelope_free(&env);
                it_buf_free(&b);
        }
        it_buf_free(&fpr);
}

static void test_gpg_rejected(void **state)
{
        struct gpgenv *e = *state;
        expect_file_err(e, "detached.sig", IT_EINPUT,
                        "signature: detached signature; a signed message is required");
        expect_file_err(e, "clear.asc", IT_EINPUT,
                        "signature: clear-signed OpenPGP text; a binary signed message is "
                        "required");
        expect_file_err(e, "armored.asc", IT_EINPUT,
                        "signature: armored (ASCII) OpenPGP data; a binary signed message is "
                        "required");
        expect_file_err(e, "two-signers.gpg", IT_EINPUT,
                        "signature: 2 signature packets; exactly one is allowed");
        expect_file_err(e, "two-signers-none.gpg", IT_EINPUT,
                        "signature: 2 signature packets; exactly one is allowed");
        expect_file_err(e, "encrypted.gpg", IT_EINPUT,
                        "signature: encrypted OpenPGP message (packet tag 1); a signed message "
                        "is required");
        expect_file_err(e, "signenc.gpg", IT_EINPUT,
                        "signature: encrypted OpenPGP message (packet tag 1); a signed message "
                        "is required");
        /* gpg writes the compressed packet with an indeterminate length, so what follows it is
         * inside the packet, after the deflate stream. */
        expect_file_err(e, "twice.gpg", IT_EINPUT,
                        "signature: data after the end of the compressed stream");
        expect_file_err(e, "trailing.gpg", IT_EINPUT,
                        "signature: data after the end of the compressed stream");
        expect_file_err(e, "twice-none.gpg", IT_EINPUT,
                        "signature: data after the end of the signed message");
        expect_file_err(e, "trailing-none.gpg", IT_EINPUT,
                        "signature: data after the end of the signed message");
        expect_file_err(e, "bomb.gpg", IT_EINPUT,
                        "signature: compressed payload larger than 1 MiB");
        /* gpg --store compresses its literal data. */
        expect_file_err(e, "literal.gpg", IT_EINPUT,
                        "signature: unsigned literal data; a signed message is required");
}

/* Re-wrap gpg's message: inflate it and deflate it again, with and without bytes after the
 * deflate stream inside the packet. */
static void test_gpg_rewrapped(void **state)
{
        struct gpgenv *e = *state;
        struct it_buf b = IT_BUF_INIT;
        read_blob(e, "zip.gpg", &b);
        /* Old-format compressed packet with an indeterminate length. */
        assert_int_equal((uint8_t)b.data[0], 0xA3);
        assert_int_equal(b.data[1], 1);
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        assert_int_equal(inflateInit2(&zs, -15), Z_OK);
        uint8_t out[65536];
        zs.next_in = (Bytef *)b.data + 2;
        zs.avail_in = (uInt)(b.len - 2);
        zs.next_out = out;
        zs.avail_out = sizeof out;
        assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
        struct it_buf inner = IT_BUF_INIT;
        it_buf_add(&inner, out, zs.total_out);
        inflateEnd(&zs);

        struct it_buf w = IT_BUF_INIT;
        put_compressed(&w, &inner, 1, NULL, true);
        struct sig_envelope env;
        expect_ok(w.data, w.len, &env);
        assert_payload(&env);
        sig_envelope_free(&env);
        it_buf_reset(&w);
        put_compressed(&w, &inner, 1, "\x01\x02\x03", true);
        expect_buf_err(&w, "signature: data after the end of the compressed stream");
        /* Same with gpg's own indeterminate header. */
        it_buf_reset(&w);
        it_buf_add(&w, "\xA3\x01", 2);
        deflate_into(&w, inner.data, inner.len, 1);
        expect_ok(w.data, w.len, &env);
        sig_envelope_free(&env);
        it_buf_adds(&w, "x");
        expect_buf_err(&w, "signature: data after the end of the compressed stream");
        /* Uncompressed inside a compressed packet of algorithm 0. */
        it_buf_reset(&w);
        put_compressed(&w, &inner, 0, NULL, false);
        expect_ok(w.data, w.len, &env);
        assert_int_equal(env.compression, 0);
        sig_envelope_free(&env);
        it_buf_free(&w);
        it_buf_free(&inner);
        it_buf_free(&b);
}

int main(void)
{
        const struct CMUnitTest pure[] = {
            cmocka_unit_test(test_plain_shapes), cmocka_unit_test(test_partial_lengths),
            cmocka_unit_test(test_compressed),   cmocka_unit_test(test_bad_shapes),
            cmocka_unit_test(test_sniffing),     cmocka_unit_test(test_zip_bomb),
        };
        const struct CMUnitTest gpg[] = {
            cmocka_unit_test(test_gpg_accepted),
            cmocka_unit_test(test_gpg_rejected),
            cmocka_unit_test(test_gpg_rewrapped),
        };
        int fails = cmocka_run_group_tests_name("envelope", pure, NULL, NULL);
        fails += cmocka_run_group_tests_name("envelope-gpg", gpg, gpg_setup, gpg_teardown);
        return fails;
}
