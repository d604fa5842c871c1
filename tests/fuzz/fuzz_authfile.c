/* Fuzz target: auth file parsing (common/authfile.c, with the base64 decoder under it) for a few
 * registry names, in the default, legacy and strict (lookaside) readings. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/authfile.h"

static const struct {
        const char *host, *repo;
} keys[] = {
    {"h", NULL},
    {"h:1", "ns/repo"},
    {"docker.io", "library/busybox"},
    {"127.0.0.1:5000", "a/b/c"},
};

static const unsigned flag_sets[] = {
    0,
    IT_AUTHFILE_LEGACY,
    IT_AUTHFILE_STRICT_BASE64 | IT_AUTHFILE_REQUIRE_COLON | IT_AUTHFILE_IGNORE_HELPERS,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
                for (size_t f = 0; f < sizeof flag_sets / sizeof flag_sets[0]; f++) {
                        char *up = NULL;
                        it_error err = IT_ERROR_INIT;
                        int rc = authfile_parse_flags((const char *)data, size, "fuzz.json",
                                                      keys[k].host, keys[k].repo, flag_sets[f], &up,
                                                      &err);
                        if (rc) {
                                if (up || !err.msg)
                                        abort();
                        } else if (up && !strchr(up, ':')) {
                                abort(); /* credentials are always "user:password" */
                        }
                        free(up);
                        it_error_clear(&err);
                }
        }
        return 0;
}
