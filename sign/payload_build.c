#include "imgtrust/payload.h"

#include <inttypes.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (as Go's utf8.DecodeRune judges it), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
        unsigned char c = s[0];
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c < 0x80)
                return 1;
        if (c >= 0xC2 && c <= 0xDF) {
                need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
                need = 2;
                if (c == 0xE0)
                        lo = 0xA0; /* overlong */
                else if (c == 0xED)
                        hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
                need = 3;
                if (c == 0xF0)
                        lo = 0x90;
                else if (c == 0xF4)
                        hi = 0x8F; /* above U+10FFFF */
        } else {
                return 0;
        }
        if (n - 1 < need || s[1] < lo || s[1] > hi)
                return 0;
        for (size_t i = 2; i <= need; i++)
                if (s[i] < 0x80 || s[i] > 0xBF)
                        return 0;
        return need + 1;
}

/* A JSON string as Go's encoding/json (with HTML escaping, as json.Marshal does) writes it. */
static void go_string(struct it_buf *out, const char *str)
{
        static const char hex[] = "0123456789abcdef";
        const unsigned char *s = (const unsigned char *)str;
        size_t n = strlen(str);
        it_buf_addch(out, '"');
        for (size_t i = 0; i < n;) {
                unsigned char c = s[i];
                if (c < 0x80) {
                        if (c == '"' || c == '\\') {
                                it_buf_addch(out, '\\');
                                it_buf_addch(out, (char)c);
                        } else if (c == '\n') {
                                it_buf_adds(out, "\\n");
                        } else if (c == '\r') {
                                it_buf_adds(out, "\\r");
                        } else if (c == '\t') {
                                it_buf_adds(out, "\\t");
                        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
                                it_buf_adds(out, "\\u00");
                                it_buf_addch(out, hex[c >> 4]);
                                it_buf_addch(out, hex[c & 15]);
                        } else {
                                it_buf_addch(out, (char)c);
                        }
                        i++;
                        continue;
                }
                size_t l = utf8_len(s + i, n - i);
                if (l == 0) {
                        it_buf_adds(out, "\\ufffd");
                        i++;
                } else if (l == 3 && c == 0xE2 && s[i + 1] == 0x80 &&
                           (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) {
                        it_buf_adds(out, s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
                        i += 3;
                } else {
                        it_buf_add(out, s + i, l);
                        i += l;
                }
        }
        it_buf_addch(out, '"');
}

void payload_build(const char *docker_reference, const char *digest, const char *creator,
                   int64_t timestamp, struct it_buf *out)
{
        it_buf_adds(out, "{\"critical\":{\"identity\":{\"docker-reference\":");
        go_string(out, docker_reference);
        it_buf_adds(out, "},\"image\":{\"docker-manifest-digest\":");
        go_string(out, digest);
        it_buf_adds(out, "},\"type\":\"" IT_PAYLOAD_TYPE "\"},\"optional\":{");
        if (creator) {
                it_buf_adds(out, "\"creator\":");
                go_string(out, creator);
                it_buf_addch(out, ',');
        }
        it_buf_addf(out, "\"timestamp\":%" PRId64 "}}", timestamp);
}
