/* The one base64 decoder (RFC 4648 standard alphabet, '=' padding required), with the two
 * leniencies of Go's base64.StdEncoding as flags, so each caller states which reader it mimics:
 * policy.json key data and containers auth files are decoded by Go's encoding/json and
 * StdEncoding.DecodeString (both flags); the lookaside credentials keep the stricter form. */
#ifndef IMGTRUST_BASE64_H
#define IMGTRUST_BASE64_H

#include <stddef.h>

/* '\r' and '\n' anywhere in the input are skipped (Go's StdEncoding does this). */
#define IT_BASE64_SKIP_CRLF 1u
/* Non-zero bits after the last encoded byte ("YWI6Yx==") are tolerated (Go's non-strict mode);
 * without it they are refused, as Go's Strict() does. */
#define IT_BASE64_LAX_BITS 2u
/* What Go's base64.StdEncoding accepts. */
#define IT_BASE64_GO (IT_BASE64_SKIP_CRLF | IT_BASE64_LAX_BITS)

/* Decode s[0..len). On success returns 0, *out is allocated (the caller frees it) and holds
 * *out_len bytes plus a NUL terminator not counted in *out_len (decoded data may itself hold NUL
 * bytes). Invalid input returns IT_EINPUT with *out NULL and, when bad_at is not NULL, the offset
 * of the first offending byte in *bad_at (len when the input ends too early); callers word the
 * message themselves. The empty string decodes to zero bytes. */
int it_base64_decode(const char *s, size_t len, unsigned flags, unsigned char **out,
                     size_t *out_len, size_t *bad_at);

#endif
