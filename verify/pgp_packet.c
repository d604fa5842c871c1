#include "imgtrust/pgp.h"

#include <stdlib.h>
#include <string.h>

#include "imgtrust/xalloc.h"

/* A body length header; *partial is set for a new-format partial length. */
static int read_new_len(const uint8_t *d, size_t len, size_t *off, size_t *out, bool *partial)
{
        *partial = false;
        if (*off >= len)
                return -1;
        uint8_t o1 = d[(*off)++];
        if (o1 < 192) {
                *out = o1;
        } else if (o1 < 224) {
                if (*off >= len)
                        return -1;
                *out = ((size_t)(o1 - 192) << 8) + d[(*off)++] + 192;
        } else if (o1 == 255) {
                if (len - *off < 4)
                        return -1;
                *out = ((size_t)d[*off] << 24) | ((size_t)d[*off + 1] << 16) |
                       ((size_t)d[*off + 2] << 8) | d[*off + 3];
                *off += 4;
        } else {
                *out = (size_t)1 << (o1 & 0x1F);
                *partial = true;
        }
        return 0;
}

int pgp_packet_next(const uint8_t *d, size_t len, size_t *off, size_t max_body,
                    struct pgp_packet *pkt, it_error *err)
{
        memset(pkt, 0, sizeof *pkt);
        size_t start = *off, o = *off;
        if (o >= len)
                return it_error_set(err, IT_EINPUT, "OpenPGP data: no packet at offset %zu", start);
        uint8_t b = d[o++];
        if (!(b & 0x80))
                return it_error_set(
                    err, IT_EINPUT,
                    "OpenPGP data: byte 0x%02x at offset %zu is not a packet header", b, start);
        size_t blen = 0;
        if (b & 0x40) {
                pkt->new_format = true;
                pkt->tag = b & 0x3F;
                bool partial;
                if (read_new_len(d, len, &o, &blen, &partial) != 0)
                        goto truncated;
                if (partial) {
                        /* Join the chunks; only the last one has a definite length. */
                        struct it_buf body = IT_BUF_INIT;
                        pkt->partial = true;
                        for (;;) {
                                if (blen > len - o || body.len + blen > max_body) {
                                        it_buf_free(&body);
                                        if (blen > len - o)
                                                goto truncated;
                                        goto too_big;
                                }
                                it_buf_add(&body, d + o, blen);
                                o += blen;
                                if (!partial)
                                        break;
                                if (read_new_len(d, len, &o, &blen, &partial) != 0) {
                                        it_buf_free(&body);
                                        goto truncated;
                                }
                        }
                        pkt->body_len = body.len;
                        pkt->owned = (uint8_t *)it_buf_detach(&body);
                        pkt->body = pkt->owned;
                        *off = o;
                        return 0;
                }
        } else {
                pkt->tag = (b >> 2) & 0x0F;
                switch (b & 3) {
                case 0:
                        if (len - o < 1)
                                goto truncated;
                        blen = d[o];
                        o += 1;
                        break;
                case 1:
                        if (len - o < 2)
                                goto truncated;
                        blen = ((size_t)d[o] << 8) | d[o + 1];
                        o += 2;
                        break;
                case 2:
                        if (len - o < 4)
                                goto truncated;
                        blen = ((size_t)d[o] << 24) | ((size_t)d[o + 1] << 16) |
                               ((size_t)d[o + 2] << 8) | d[o + 3];
                        o += 4;
                        break;
                default:
                        pkt->indeterminate = true;
                        blen = len - o;
                        break;
                }
        }
        if (pkt->tag == 0)
                return it_error_set(err, IT_EINPUT,
                                    "OpenPGP data: packet at offset %zu has the reserved tag 0",
                                    start);
        if (blen > len - o)
                goto truncated;
        if (blen > max_body)
                goto too_big;
        pkt->body = d + o;
        pkt->body_len = blen;
        *off = o + blen;
        return 0;
truncated:
        return it_error_set(err, IT_EINPUT, "OpenPGP data: packet at offset %zu is truncated",
                            start);
too_big:
        return it_error_set(err, IT_EINPUT,
                            "OpenPGP data: packet at offset %zu is larger than %zu bytes", start,
                            max_body);
}

void pgp_packet_free(struct pgp_packet *pkt)
{
        free(pkt->owned);
        memset(pkt, 0, sizeof *pkt);
}

static const char ARMOR_BEGIN[] = "-----BEGIN PGP";

bool pgp_is_armored(const void *data, size_t len)
{
        const char *p = data;
        size_t i = 0;
        while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
                i++;
        return len - i >= sizeof ARMOR_BEGIN - 1 &&
               memcmp(p + i, ARMOR_BEGIN, sizeof ARMOR_BEGIN - 1) == 0;
}

static int b64val(int c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

static uint32_t crc24(const uint8_t *d, size_t n)
{
        uint32_t crc = 0xB704CEu;
        for (size_t i = 0; i < n; i++) {
                crc ^= (uint32_t)d[i] << 16;
                for (int k = 0; k < 8; k++) {
                        crc <<= 1;
                        if (crc & 0x1000000u)
                                crc ^= 0x1864CFBu;
                }
        }
        return crc & 0xFFFFFFu;
}

/* Decode base64 text (whitespace skipped, '=' padding ends it) and append to out. */
static int b64_decode(const char *s, size_t n, struct it_buf *out)
{
        uint32_t acc = 0;
        int bits = 0;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
                        continue;
                if (c == '=')
                        break;
                int v = b64val((unsigned char)c);
                if (v < 0)
                        return -1;
                acc = (acc << 6) | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        it_buf_addch(out, (char)((acc >> bits) & 0xFF));
                }
        }
        return 0;
}

/* The next line of [p, end): returns its start and sets *next past the newline. */
static const char *next_line(const char *p, const char *end, const char **next, size_t *n)
{
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        *next = nl ? nl + 1 : end;
        *n = (size_t)(e - p);
        if (*n && p[*n - 1] == '\r')
                (*n)--;
        return p;
}

int pgp_dearmor(const void *data, size_t len, struct it_buf *out, it_error *err)
{
        const char *p = data, *end = p + len, *next;
        size_t n, blocks = 0;
        while (p < end) {
                const char *line = next_line(p, end, &next, &n);
                p = next;
                if (n < sizeof ARMOR_BEGIN - 1 || memcmp(line, ARMOR_BEGIN, sizeof ARMOR_BEGIN - 1))
                        continue;
                /* Armor headers run to the first empty line. */
                for (;;) {
                        if (p >= end)
                                return it_error_set(err, IT_EINPUT, "OpenPGP armor: truncated");
                        line = next_line(p, end, &next, &n);
                        p = next;
                        if (n == 0)
                                break;
                        if (!memchr(line, ':', n))
                                return it_error_set(err, IT_EINPUT,
                                                    "OpenPGP armor: malformed header line");
                }
                struct it_buf body = IT_BUF_INIT;
                struct it_buf text = IT_BUF_INIT;
                long crc = -1;
                bool ended = false;
                while (p < end) {
                        line = next_line(p, end, &next, &n);
                        p = next;
                        if (n >= 5 && memcmp(line, "-----", 5) == 0) {
                                ended = true;
                                break;
                        }
                        if (n == 5 && line[0] == '=') {
                                struct it_buf c = IT_BUF_INIT;
                                if (b64_decode(line + 1, 4, &c) == 0 && c.len == 3)
                                        crc = ((long)(uint8_t)c.data[0] << 16) |
                                              ((long)(uint8_t)c.data[1] << 8) | (uint8_t)c.data[2];
                                it_buf_free(&c);
                                continue;
                        }
                        it_buf_add(&text, line, n);
                }
                int rc = ended ? b64_decode(text.data ? text.data : "", text.len, &body) : -1;
                it_buf_free(&text);
                if (rc != 0) {
                        it_buf_free(&body);
                        return it_error_set(err, IT_EINPUT, "OpenPGP armor: %s",
                                            ended ? "invalid base64" : "no END line");
                }
                if (crc >= 0 && (uint32_t)crc != crc24((const uint8_t *)body.data, body.len)) {
                        it_buf_free(&body);
                        return it_error_set(err, IT_EINPUT, "OpenPGP armor: checksum mismatch");
                }
                it_buf_add(out, body.data ? body.data : "", body.len);
                it_buf_free(&body);
                blocks++;
        }
        if (blocks == 0)
                return it_error_set(err, IT_EINPUT, "OpenPGP armor: no armored block");
        return 0;
}
