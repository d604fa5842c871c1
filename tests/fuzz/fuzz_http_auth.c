/* WWW-Authenticate challenge parameters, as a registry (or anything posing as one) sends them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        static const char *const names[] = {"realm", "service", "scope", "error", ""};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
                char *v = registry_challenge_param(s, names[i]);
                /* A value is never longer than what it was read from. */
                if (v && strlen(v) > size)
                        abort();
                free(v);
        }
        free(s);
        return 0;
}
