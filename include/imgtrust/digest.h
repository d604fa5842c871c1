/* Digests (`algorithm:hex`). A digest from outside is parsed here before it is used for anything,
 * above all before it becomes part of a path or URL. */
#ifndef IMGTRUST_DIGEST_H
#define IMGTRUST_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "imgtrust/error.h"

enum it_digest_alg { IT_DIGEST_SHA256, IT_DIGEST_SHA384, IT_DIGEST_SHA512 };

#define IT_DIGEST_HEX_MAX 128
/* "sha512:" + 128 hex + NUL */
#define IT_DIGEST_STR_MAX (7 + IT_DIGEST_HEX_MAX + 1)

struct it_digest {
        enum it_digest_alg alg;
        char hex[IT_DIGEST_HEX_MAX + 1]; /* lowercase, exactly digest_hex_len(alg) chars */
};

/* Parse and validate: known algorithm, lowercase hex of the exact length. IT_EINPUT otherwise,
 * with a message saying what is wrong ("unsupported digest algorithm \"md5\"", "sha256 digest
 * must be 64 lowercase hex characters"). */
int digest_parse(const char *s, struct it_digest *out, it_error *err);
bool digest_valid(const char *s);
/* "sha256:…" into out (IT_DIGEST_STR_MAX bytes). */
void digest_format(const struct it_digest *d, char out[IT_DIGEST_STR_MAX]);
const char *digest_alg_name(enum it_digest_alg alg);
size_t digest_hex_len(enum it_digest_alg alg);
/* Digest of data with the given algorithm (OpenSSL). */
void digest_compute(enum it_digest_alg alg, const void *data, size_t len, struct it_digest *out);
bool digest_equal(const struct it_digest *a, const struct it_digest *b);
/* OpenSSL's implementation of alg, for hashing a stream with EVP_DigestUpdate. */
const EVP_MD *digest_evp(enum it_digest_alg alg);
/* Finish md (an EVP_MD_CTX started with digest_evp(alg)) into *out. */
void digest_final(EVP_MD_CTX *md, enum it_digest_alg alg, struct it_digest *out);

#endif
