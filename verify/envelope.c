#include "imgtrust/envelope.h"

#include <stdlib.h>
#include <string.h>
#include <bzlib.h>
#include <zlib.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/pgp.h"
#include "imgtrust/xalloc.h"

/* What a compressed message may inflate to: the payload plus the packet headers, literal data
 * header and signature packets around it. */
#define INFLATE_CAP (IT_SIG_PAYLOAD_MAX + ((size_t)64 << 10))

static bool is_encrypted(int tag)
{
        return tag == 1 || tag == 3 || tag == 9 || tag == 18 || tag == 20;
}

static const char CLEARSIGN_BEGIN[] = "-----BEGIN PGP SIGNED MESSAGE-----";

static int armor_error(const uint8_t *p, size_t len, it_error *err)
{
        size_t i = 0;
        while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
                i++;
        if (len - i >= sizeof CLEARSIGN_BEGIN - 1 &&
            memcmp(p + i, CLEARSIGN_BEGIN, sizeof CLEARSIGN_BEGIN - 1) == 0)
                return it_error_set(err, IT_EINPUT,
                                    "signature: clear-signed OpenPGP text; a binary signed message "
                                    "is required");
        return it_error_set(err, IT_EINPUT,
                            "signature: armored (ASCII) OpenPGP data; a binary signed message is "
                            "required");
}

int sig_blob_sniff(const void *blob, size_t len, enum sig_blob_kind *kind, const uint8_t **body,
                   size_t *body_len, it_error *err)
{
        const uint8_t *p = blob;
        if (len == 0)
                return it_error_set(err, IT_EINPUT, "signature: empty blob");
        if (pgp_is_armored(p, len))
                return armor_error(p, len, err);
        uint8_t b = p[0];
        if (b == 0) {
                size_t i = 1;
                while (i < len && p[i] != '\n') {
                        if (p[i] < 0x20 || p[i] > 0x7E)
                                return it_error_set(err, IT_EINPUT,
                                                    "signature: tagged blob with a non-printable "
                                                    "byte 0x%02x in its format name",
                                                    p[i]);
                        if (i > 64)
                                return it_error_set(err, IT_EINPUT,
                                                    "signature: tagged blob with an overlong "
                                                    "format name");
                        i++;
                }
                if (i >= len)
                        return it_error_set(err, IT_EINPUT,
                                            "signature: tagged blob without a newline after its "
                                            "format name");
                const char *name = (const char *)p + 1;
                size_t n = i - 1;
                *body = p + i + 1;
                *body_len = len - i - 1;
                if (n == strlen("simple-signing") && memcmp(name, "simple-signing", n) == 0) {
                        /* An armored body passes upstream's sniffing; the envelope refuses it. */
                        *kind = SIG_BLOB_SIMPLE_SIGNING;
                        return 0;
                }
                if (n == strlen("sigstore-json") && memcmp(name, "sigstore-json", n) == 0) {
                        *kind = SIG_BLOB_SIGSTORE;
                        return 0;
                }
                return it_error_set(err, IT_EINPUT, "signature: unknown tagged format \"%.*s\"",
                                    (int)n, name);
        }
        /* Upstream's table: compressed, one-pass signature and signature packet headers, and
         * '=' (which it treats as simple signing too). */
        if ((b >= 0xA0 && b <= 0xA3) || b == 0xC8 || (b >= 0x90 && b <= 0x92) || b == 0xC4 ||
            (b >= 0x88 && b <= 0x8B) || b == 0xC2 || b == 0x3D) {
                *kind = SIG_BLOB_SIMPLE_SIGNING;
                *body = p;
                *body_len = len;
                return 0;
        }
        /* Still unrecognized, but name the likeliest mistake. */
        int tag = (b & 0x40) ? (b & 0x3F) : ((b >> 2) & 0x0F);
        if ((b & 0x80) && is_encrypted(tag))
                return it_error_set(err, IT_EINPUT,
                                    "signature: encrypted OpenPGP message (packet tag %d); a "
                                    "signed message is required",
                                    tag);
        return it_error_set(err, IT_EINPUT,
                            "signature: unrecognized signature format (first byte 0x%02x)", b);
}

static void hex_upper(char *out, const uint8_t *p, size_t n)
{
        static const char hex[] = "0123456789ABCDEF";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = hex[p[i] >> 4];
                out[2 * i + 1] = hex[p[i] & 15];
        }
        out[2 * n] = '\0';
}

/* Look through a v4/v5 subpacket area for the issuer fingerprint (33, preferred) or key ID (16). */
static void scan_subpackets(const uint8_t *p, size_t n, char issuer[65])
{
        size_t o = 0;
        while (o < n) {
                size_t sl;
                uint8_t c = p[o++];
                if (c < 192) {
                        sl = c;
                } else if (c < 255) {
                        if (o >= n)
                                return;
                        sl = ((size_t)(c - 192) << 8) + p[o++] + 192;
                } else {
                        if (n - o < 4)
                                return;
                        sl = ((size_t)p[o] << 24) | ((size_t)p[o + 1] << 16) |
                             ((size_t)p[o + 2] << 8) | p[o + 3];
                        o += 4;
                }
                if (sl == 0 || sl > n - o)
                        return;
                uint8_t type = p[o] & 0x7F;
                const uint8_t *d = p + o + 1;
                size_t dl = sl - 1;
                if (type == 33 && dl >= 1 && (dl - 1 == 20 || dl - 1 == 32))
                        hex_upper(issuer, d + 1, dl - 1);
                else if (type == 16 && dl == 8 && issuer[0] == '\0')
                        hex_upper(issuer, d, 8);
                o += sl;
        }
}

/* Best effort: an unusual signature packet is for gpgme to judge, not for us. */
static void find_issuer(const uint8_t *p, size_t n, char issuer[65])
{
        if (n >= 15 && (p[0] == 2 || p[0] == 3) && p[1] == 5) {
                hex_upper(issuer, p + 7, 8);
                return;
        }
        if (n < 6 || (p[0] != 4 && p[0] != 5))
                return;
        size_t hl = ((size_t)p[4] << 8) | p[5];
        if (hl > n - 6)
                return;
        char hashed[65] = "", unhashed[65] = "";
        scan_subpackets(p + 6, hl, hashed);
        size_t o = 6 + hl;
        if (n - o >= 2) {
                size_t ul = ((size_t)p[o] << 8) | p[o + 1];
                if (ul <= n - o - 2)
                        scan_subpackets(p + o + 2, ul, unhashed);
        }
        /* A fingerprint beats a key ID wherever it is. */
        const char *best = strlen(hashed) > strlen(unhashed) ? hashed : unhashed;
        if (strlen(hashed) == strlen(unhashed))
                best = hashed;
        memcpy(issuer, best, strlen(best) + 1);
}

static int literal_data(const struct pgp_packet *pkt, struct sig_envelope *out, it_error *err)
{
        const uint8_t *p = pkt->body;
        size_t n = pkt->body_len;
        if (n < 2 || n - 2 < p[1] || n - 2 - p[1] < 4)
                return it_error_set(err, IT_EINPUT, "signature: literal data packet is truncated");
        if (p[0] != 'b' && p[0] != 't' && p[0] != 'u')
                return it_error_set(err, IT_EINPUT,
                                    "signature: literal data format 0x%02x is not b, t or u", p[0]);
        size_t off = 2 + (size_t)p[1] + 4, clen = n - off;
        if (clen > IT_SIG_PAYLOAD_MAX)
                return it_error_set(err, IT_EINPUT, "signature: payload larger than 1 MiB");
        out->literal_format = (char)p[0];
        out->literal_name = xstrndup((const char *)p + 2, p[1]);
        out->payload = xmalloc(clen + 1);
        memcpy(out->payload, p + off, clen);
        out->payload[clen] = '\0';
        out->payload_len = clen;
        return 0;
}

static int inflate_body(const uint8_t *in, size_t in_len, int alg, struct it_buf *out,
                        it_error *err)
{
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        /* ZIP (1) is a raw deflate stream; ZLIB (2) has the zlib header and checksum. */
        if (inflateInit2(&zs, alg == 1 ? -15 : 15) != Z_OK)
                return it_error_set(err, IT_EIO, "signature: cannot initialise zlib");
        size_t cap = 0;
        uint8_t *buf = NULL;
        zs.next_in = (Bytef *)in;
        zs.avail_in = (uInt)in_len;
        int zrc;
        for (;;) {
                if (zs.total_out == cap) {
                        if (cap >= INFLATE_CAP) {
                                inflateEnd(&zs);
                                free(buf);
                                return it_error_set(err, IT_EINPUT,
                                                    "signature: compressed payload larger than "
                                                    "1 MiB");
                        }
                        cap = cap ? cap * 2 : (size_t)64 << 10;
                        if (cap > INFLATE_CAP)
                                cap = INFLATE_CAP;
                        buf = xrealloc(buf, cap);
                }
                zs.next_out = buf + zs.total_out;
                zs.avail_out = (uInt)(cap - zs.total_out);
                zrc = inflate(&zs, Z_NO_FLUSH);
                if (zrc == Z_STREAM_END)
                        break;
                if (zrc == Z_OK)
                        continue;
                if (zrc == Z_BUF_ERROR && zs.avail_out == 0)
                        continue; /* grow the buffer */
                if (zrc == Z_BUF_ERROR) {
                        inflateEnd(&zs);
                        free(buf);
                        return it_error_set(err, IT_EINPUT,
                                            "signature: compressed stream is truncated");
                }
                it_error_set(err, IT_EINPUT, "signature: corrupt compressed data: %s",
                             zs.msg ? zs.msg : "inflate failed");
                inflateEnd(&zs);
                free(buf);
                return err->code;
        }
        size_t left = zs.avail_in, total = zs.total_out;
        inflateEnd(&zs);
        if (left != 0) {
                free(buf);
                return it_error_set(err, IT_EINPUT,
                                    "signature: data after the end of the compressed stream");
        }
        it_buf_add(out, buf, total);
        free(buf);
        return 0;
}

/* BZip2 (algorithm 3), with the same cap and end-of-stream rules as inflate_body: gpg can be
 * configured to compress with it and containers/image verifies such signatures. */
static int bunzip_body(const uint8_t *in, size_t in_len, struct it_buf *out, it_error *err)
{
        bz_stream bz;
        memset(&bz, 0, sizeof bz);
        if (BZ2_bzDecompressInit(&bz, 0, 0) != BZ_OK)
                return it_error_set(err, IT_EIO, "signature: cannot start bzip2 decompression");
        size_t cap = 0, total = 0;
        uint8_t *buf = NULL;
        bz.next_in = (char *)in;
        bz.avail_in = (unsigned)in_len;
        int rc;
        for (;;) {
                if (total == cap) {
                        if (cap >= INFLATE_CAP) {
                                BZ2_bzDecompressEnd(&bz);
                                free(buf);
                                return it_error_set(err, IT_EINPUT,
                                                    "signature: compressed payload larger than "
                                                    "1 MiB");
                        }
                        cap = cap ? cap * 2 : (size_t)64 << 10;
                        if (cap > INFLATE_CAP)
                                cap = INFLATE_CAP;
                        buf = xrealloc(buf, cap);
                }
                bz.next_out = (char *)buf + total;
                bz.avail_out = (unsigned)(cap - total);
                rc = BZ2_bzDecompress(&bz);
                total = cap - bz.avail_out;
                if (rc == BZ_STREAM_END)
                        break;
                if (rc != BZ_OK) {
                        BZ2_bzDecompressEnd(&bz);
                        free(buf);
                        return it_error_set(err, IT_EINPUT,
                                            "signature: corrupt bzip2 compressed data (%d)", rc);
                }
                if (bz.avail_in == 0 && bz.avail_out != 0) {
                        BZ2_bzDecompressEnd(&bz);
                        free(buf);
                        return it_error_set(err, IT_EINPUT,
                                            "signature: compressed stream is truncated");
                }
        }
        unsigned left = bz.avail_in;
        BZ2_bzDecompressEnd(&bz);
        if (left != 0) {
                free(buf);
                return it_error_set(err, IT_EINPUT,
                                    "signature: data after the end of the compressed stream");
        }
        it_buf_add(out, buf, total);
        free(buf);
        return 0;
}

struct walk {
        size_t ops, sigs;
        bool literal, seen, sig_first;
};

static int walk(const uint8_t *d, size_t len, bool inner, struct sig_envelope *out, it_error *err);

static int compressed(const struct pgp_packet *pkt, struct sig_envelope *out, it_error *err)
{
        if (pkt->body_len < 1)
                return it_error_set(err, IT_EINPUT, "signature: empty compressed data packet");
        int alg = pkt->body[0];
        const uint8_t *in = pkt->body + 1;
        size_t in_len = pkt->body_len - 1;
        out->compression = alg;
        switch (alg) {
        case 0:
                return walk(in, in_len, true, out, err);
        case 1:
        case 2: {
                _cleanup_buf_ struct it_buf inflated = IT_BUF_INIT;
                int rc = inflate_body(in, in_len, alg, &inflated, err);
                if (rc)
                        return rc;
                return walk((const uint8_t *)inflated.data, inflated.len, true, out, err);
        }
        case 3: {
                _cleanup_buf_ struct it_buf inflated = IT_BUF_INIT;
                int rc = bunzip_body(in, in_len, &inflated, err);
                if (rc)
                        return rc;
                return walk((const uint8_t *)inflated.data, inflated.len, true, out, err);
        }
        default:
                return it_error_set(err, IT_EINPUT, "signature: unknown compression algorithm %d",
                                    alg);
        }
}

/* Count the Signature packets that follow a complete message, for a better message when a
 * second signer's packet, rather than junk, is what follows. */
static size_t trailing_sigs(const uint8_t *d, size_t len, size_t off, size_t max_body)
{
        size_t n = 0;
        while (off < len) {
                struct pgp_packet pkt;
                it_error e = IT_ERROR_INIT;
                if (pgp_packet_next(d, len, &off, max_body, &pkt, &e) != 0) {
                        it_error_clear(&e);
                        break;
                }
                int tag = pkt.tag;
                pgp_packet_free(&pkt);
                if (tag != PGP_TAG_SIGNATURE)
                        break;
                n++;
        }
        return n;
}

static int walk(const uint8_t *d, size_t len, bool inner, struct sig_envelope *out, it_error *err)
{
        struct walk w = {0};
        size_t off = 0, max_body = inner ? INFLATE_CAP : IT_SIG_BLOB_MAX;
        while (off < len) {
                if (w.literal && w.sigs >= (w.ops ? w.ops : 1)) {
                        size_t more = trailing_sigs(d, len, off, max_body);
                        if (more)
                                return it_error_set(err, IT_EINPUT,
                                                    "signature: %zu signature packets; exactly "
                                                    "one is allowed",
                                                    w.sigs + more);
                        return it_error_set(err, IT_EINPUT,
                                            "signature: data after the end of the signed "
                                            "message");
                }
                struct pgp_packet pkt;
                int rc = pgp_packet_next(d, len, &off, max_body, &pkt, err);
                if (rc)
                        return it_error_wrap(err, "signature");
                int tag = pkt.tag;
                if (tag == PGP_TAG_MARKER && !w.seen) {
                        pgp_packet_free(&pkt);
                        continue;
                }
                bool first = !w.seen;
                w.seen = true;
                if (is_encrypted(tag)) {
                        rc = it_error_set(err, IT_EINPUT,
                                          "signature: encrypted OpenPGP message (packet tag %d); a "
                                          "signed message is required",
                                          tag);
                } else if (tag == PGP_TAG_COMPRESSED) {
                        if (inner)
                                rc = it_error_set(err, IT_EINPUT,
                                                  "signature: nested compressed data packet");
                        else if (!first)
                                rc = it_error_set(err, IT_EINPUT,
                                                  "signature: compressed data packet in the "
                                                  "middle of the message");
                        else if ((rc = compressed(&pkt, out, err)) == 0 && off < len)
                                rc = it_error_set(err, IT_EINPUT,
                                                  "signature: data after the end of the signed "
                                                  "message");
                        pgp_packet_free(&pkt);
                        return rc;
                } else if (tag == PGP_TAG_ONE_PASS_SIGNATURE) {
                        if (w.literal || w.sig_first)
                                rc = it_error_set(err, IT_EINPUT,
                                                  "signature: one-pass signature packet after "
                                                  "the %s",
                                                  w.literal ? "literal data" : "signature");
                        w.ops++;
                } else if (tag == PGP_TAG_LITERAL) {
                        if (w.literal)
                                rc = it_error_set(err, IT_EINPUT,
                                                  "signature: 2 literal data packets");
                        else if (w.sig_first)
                                rc = it_error_set(err, IT_EINPUT,
                                                  "signature: signature packet before the "
                                                  "literal data; a one-pass signed message is "
                                                  "required");
                        else
                                rc = literal_data(&pkt, out, err);
                        w.literal = true;
                } else if (tag == PGP_TAG_SIGNATURE) {
                        if (!w.literal) {
                                if (w.ops)
                                        rc = it_error_set(err, IT_EINPUT,
                                                          "signature: signature packet before "
                                                          "the literal data");
                                w.sig_first = true;
                        } else if (w.sigs == 0) {
                                find_issuer(pkt.body, pkt.body_len, out->issuer);
                        }
                        w.sigs++;
                } else if (tag == PGP_TAG_MARKER) {
                        rc = it_error_set(err, IT_EINPUT,
                                          "signature: marker packet in the middle of the message");
                } else {
                        rc = it_error_set(err, IT_EINPUT,
                                          "signature: unexpected OpenPGP packet (tag %d) in a "
                                          "signed message",
                                          tag);
                }
                pgp_packet_free(&pkt);
                if (rc)
                        return rc;
        }
        if (!w.literal) {
                if (w.sigs)
                        return it_error_set(err, IT_EINPUT,
                                            "signature: detached signature; a signed message is "
                                            "required");
                if (w.ops)
                        return it_error_set(err, IT_EINPUT,
                                            "signature: one-pass signature without literal data");
                return it_error_set(err, IT_EINPUT, "signature: no signed message in the %s",
                                    inner ? "compressed data" : "blob");
        }
        if (w.sigs == 0)
                return it_error_set(err, IT_EINPUT,
                                    "signature: unsigned literal data; a signed message is "
                                    "required");
        if (w.sigs > 1)
                return it_error_set(err, IT_EINPUT,
                                    "signature: %zu signature packets; exactly one is allowed",
                                    w.sigs);
        if (w.ops > w.sigs)
                return it_error_set(err, IT_EINPUT,
                                    "signature: %zu one-pass signature packets but %zu signature "
                                    "packet",
                                    w.ops, w.sigs);
        return 0;
}

int sig_envelope_check(const void *blob, size_t len, struct sig_envelope *out, it_error *err)
{
        memset(out, 0, sizeof *out);
        out->compression = -1;
        if (len > IT_SIG_BLOB_MAX)
                return it_error_set(err, IT_EINPUT,
                                    "signature: blob too large (%zu bytes; at most %zu allowed)",
                                    len, IT_SIG_BLOB_MAX);
        enum sig_blob_kind kind;
        const uint8_t *body;
        size_t body_len;
        int rc = sig_blob_sniff(blob, len, &kind, &body, &body_len, err);
        if (rc)
                return rc;
        if (kind == SIG_BLOB_SIGSTORE)
                return it_error_set(err, IT_EINPUT,
                                    "signature: sigstore signature, not simple signing");
        if (body_len == 0)
                return it_error_set(err, IT_EINPUT, "signature: empty blob");
        if (pgp_is_armored(body, body_len))
                return armor_error(body, body_len, err);
        rc = walk(body, body_len, false, out, err);
        if (rc) {
                sig_envelope_free(out);
                out->compression = -1;
        }
        return rc;
}

void sig_envelope_free(struct sig_envelope *env)
{
        free(env->payload);
        free(env->literal_name);
        memset(env, 0, sizeof *env);
}
