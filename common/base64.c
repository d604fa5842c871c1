#include "imgtrust/base64.h"

#include <stdbool.h>
#include <stdlib.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/error.h"
#include "imgtrust/xalloc.h"

static int b64_value(unsigned char ch)
{
        if (ch >= 'A' && ch <= 'Z')
                return ch - 'A';
        if (ch >= 'a' && ch <= 'z')
                return ch - 'a' + 26;
        if (ch >= '0' && ch <= '9')
                return ch - '0' + 52;
        if (ch == '+')
                return 62;
        if (ch == '/')
                return 63;
        return -1;
}

static bool skippable(unsigned flags, char ch)
{
        return (flags & IT_BASE64_SKIP_CRLF) && (ch == '\r' || ch == '\n');
}

static size_t skip(const char *s, size_t len, size_t i, unsigned flags)
{
        while (i < len && skippable(flags, s[i]))
                i++;
        return i;
}

static int bad(size_t *bad_at, size_t at)
{
        if (bad_at)
                *bad_at = at;
        return IT_EINPUT;
}

int it_base64_decode(const char *s, size_t len, unsigned flags, unsigned char **out,
                     size_t *out_len, size_t *bad_at)
{
        *out = NULL;
        *out_len = 0;
        _cleanup_free_ unsigned char *buf = xmalloc(len / 4 * 3 + 4);
        size_t o = 0;
        unsigned q[4] = {0};
        int j = 0;
        bool padded = false;
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char)s[i];
                if (skippable(flags, (char)ch))
                        continue;
                if (ch == '=') {
                        /* "xx==" or "xxx=", and then nothing (but skipped line breaks). */
                        if (j < 2)
                                return bad(bad_at, i);
                        if (j == 2) {
                                i = skip(s, len, i + 1, flags);
                                if (i == len || s[i] != '=')
                                        return bad(bad_at, i);
                        }
                        i = skip(s, len, i + 1, flags);
                        if (i < len)
                                return bad(bad_at, i);
                        padded = true;
                        break;
                }
                int v = b64_value(ch);
                if (v < 0)
                        return bad(bad_at, i);
                q[j++] = (unsigned)v;
                if (j == 4) {
                        unsigned w = q[0] << 18 | q[1] << 12 | q[2] << 6 | q[3];
                        buf[o++] = (unsigned char)(w >> 16);
                        buf[o++] = (unsigned char)(w >> 8);
                        buf[o++] = (unsigned char)w;
                        j = 0;
                }
        }
        if (!padded && j != 0)
                return bad(bad_at, len);
        if (padded) {
                unsigned w = q[0] << 18 | q[1] << 12 | (j == 3 ? q[2] << 6 : 0);
                /* The bits below the last whole byte must be zero unless told otherwise. */
                if (!(flags & IT_BASE64_LAX_BITS) && (j == 3 ? (q[2] & 0x3) : (q[1] & 0xf)))
                        return bad(bad_at, len);
                buf[o++] = (unsigned char)(w >> 16);
                if (j == 3)
                        buf[o++] = (unsigned char)(w >> 8);
        }
        buf[o] = '\0';
        *out = IT_STEAL(buf);
        *out_len = o;
        return 0;
}
