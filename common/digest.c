/* Digests (spec §1.4). Validation follows opencontainers/go-digest: the first ':' splits algorithm
 * from encoded value, the algorithm must be one we know, and the value must be lowercase hex of the
 * algorithm's exact length. Anything else (uppercase, "../..", empty parts) is refused, because
 * digests end up in file paths and URLs. */
#include "imgtrust/digest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/xalloc.h"

/* Roughly the longest quotation of a bad digest in an error message; outside input can be huge. */
#define QUOTE_MAX 150

static const struct {
        enum it_digest_alg alg;
        const char *name;
        size_t hex_len;
} algs[] = {
    {IT_DIGEST_SHA256, "sha256", 64},
    {IT_DIGEST_SHA384, "sha384", 96},
    {IT_DIGEST_SHA512, "sha512", 128},
};

const char *digest_alg_name(enum it_digest_alg alg)
{
        for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
                if (algs[i].alg == alg)
                        return algs[i].name;
        abort(); /* a caller passed something that is not an enum value */
}

size_t digest_hex_len(enum it_digest_alg alg)
{
        for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
                if (algs[i].alg == alg)
                        return algs[i].hex_len;
        abort();
}

/* Messages quote the offending input; keep them one printable, bounded line. Allocates. */
static char *quote(const char *s, size_t n)
{
        return it_quoten(s, n, QUOTE_MAX);
}

/* what: allocated description of the problem, consumed here. */
static int fail(it_error *err, const char *s, char *what)
{
        _cleanup_free_ char *q = quote(s, strlen(s));
        _cleanup_free_ char *w = what;
        return it_error_set(err, IT_EINPUT, "invalid digest %s: %s", q, w);
}

static bool is_lower_hex(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int digest_parse(const char *s, struct it_digest *out, it_error *err)
{
        if (!s)
                return it_error_set(err, IT_EINPUT, "missing digest");
        const char *colon = strchr(s, ':');
        if (!colon)
                return fail(err, s, xstrdup("expected \"algorithm:hex\""));
        if (colon == s)
                return fail(err, s, xstrdup("missing algorithm before ':'"));
        if (colon[1] == '\0')
                return fail(err, s, xstrdup("missing hex value after ':'"));

        size_t alg_len = (size_t)(colon - s);
        const char *hex = colon + 1;
        for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
                if (strlen(algs[i].name) != alg_len || memcmp(algs[i].name, s, alg_len) != 0)
                        continue;
                size_t n = strlen(hex);
                bool ok = n == algs[i].hex_len;
                for (size_t j = 0; ok && j < n; j++)
                        ok = is_lower_hex(hex[j]);
                if (!ok)
                        return fail(err, s,
                                    xasprintf("%s digest must be %zu lowercase hex characters",
                                              algs[i].name, algs[i].hex_len));
                if (out) {
                        out->alg = algs[i].alg;
                        memcpy(out->hex, hex, n + 1);
                }
                return 0;
        }
        _cleanup_free_ char *qalg = quote(s, alg_len);
        return fail(err, s, xasprintf("unsupported digest algorithm %s", qalg));
}

bool digest_valid(const char *s)
{
        _cleanup_error_ it_error e = IT_ERROR_INIT;
        return digest_parse(s, NULL, &e) == 0;
}

void digest_format(const struct it_digest *d, char out[IT_DIGEST_STR_MAX])
{
        snprintf(out, IT_DIGEST_STR_MAX, "%s:%s", digest_alg_name(d->alg), d->hex);
}

const EVP_MD *digest_evp(enum it_digest_alg alg)
{
        switch (alg) {
        case IT_DIGEST_SHA256:
                return EVP_sha256();
        case IT_DIGEST_SHA384:
                return EVP_sha384();
        case IT_DIGEST_SHA512:
                return EVP_sha512();
        }
        abort();
}

static void digest_from_raw(const unsigned char *raw, unsigned int n, enum it_digest_alg alg,
                            struct it_digest *out)
{
        static const char hexdig[] = "0123456789abcdef";
        if ((size_t)n * 2 != digest_hex_len(alg))
                abort();
        for (unsigned int i = 0; i < n; i++) {
                out->hex[2 * i] = hexdig[raw[i] >> 4];
                out->hex[2 * i + 1] = hexdig[raw[i] & 0xf];
        }
        out->hex[2 * n] = '\0';
        out->alg = alg;
}

void digest_final(EVP_MD_CTX *md, enum it_digest_alg alg, struct it_digest *out)
{
        unsigned char raw[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        if (EVP_DigestFinal_ex(md, raw, &n) != 1)
                abort();
        digest_from_raw(raw, n, alg, out);
}

void digest_compute(enum it_digest_alg alg, const void *data, size_t len, struct it_digest *out)
{
        unsigned char raw[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        /* Only fails on allocation failure inside OpenSSL; treat it like xmalloc does. */
        if (EVP_Digest(data ? data : "", len, raw, &n, digest_evp(alg), NULL) != 1)
                abort();
        digest_from_raw(raw, n, alg, out);
}

bool digest_equal(const struct it_digest *a, const struct it_digest *b)
{
        return a->alg == b->alg && strcmp(a->hex, b->hex) == 0;
}
