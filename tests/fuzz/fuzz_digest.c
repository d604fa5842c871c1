/* Fuzz digest parsing: what is accepted formats back to the same string and has the exact shape
 * of its algorithm; computing digests of the input always yields parseable digests. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/xalloc.h"

static void check(bool cond)
{
        if (!cond)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = xmalloc(size + 1);
        memcpy(s, data, size);
        s[size] = '\0';

        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_digest d;
        if (digest_parse(s, &d, &err) == 0) {
                check(digest_valid(s));
                size_t n = strlen(d.hex);
                check(n == digest_hex_len(d.alg));
                for (size_t i = 0; i < n; i++)
                        check((d.hex[i] >= '0' && d.hex[i] <= '9') ||
                              (d.hex[i] >= 'a' && d.hex[i] <= 'f'));
                char out[IT_DIGEST_STR_MAX];
                digest_format(&d, out);
                check(strcmp(out, s) == 0);
        } else {
                check(!digest_valid(s));
                check(err.code == IT_EINPUT && err.msg);
                _cleanup_free_ char *line = it_error_format(&err);
                check(!strchr(line, '\n') && strlen(line) < 1024);
        }

        static const enum it_digest_alg algs[] = {IT_DIGEST_SHA256, IT_DIGEST_SHA384,
                                                  IT_DIGEST_SHA512};
        for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
                struct it_digest c, p;
                char out[IT_DIGEST_STR_MAX];
                digest_compute(algs[i], data, size, &c);
                digest_format(&c, out);
                _cleanup_error_ it_error e = IT_ERROR_INIT;
                check(digest_parse(out, &p, &e) == 0);
                check(digest_equal(&c, &p));
        }
        free(s);
        return 0;
}
