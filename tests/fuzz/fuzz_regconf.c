/* Fuzz target: registries.conf parsing (registry/toml.c and registry/regconf.c), as a main file
 * and as a drop-in, and the lookups over what was parsed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/regconf.h"
#include "imgtrust/toml.h"

static const char *const names[] = {
    "docker.io/library/busybox",
    "example.com",
    "example.com:5000/ns/app",
    "a.b.example.com/x@sha256:00",
    "registry.com/foo/bar",
    "localhost:5000/x",
    "x",
    "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        for (int drop_in = 0; drop_in < 2; drop_in++) {
                struct it_regconf *c = NULL;
                it_error err = IT_ERROR_INIT;
                int rc = regconf_parse_file_data((const char *)data, size, "fuzz.conf", drop_in, &c,
                                                 &err);
                if (rc) {
                        /* Every failure says where. */
                        if (!err.msg || strncmp(err.msg, "fuzz.conf:", 10) != 0 || c)
                                abort();
                        it_error_clear(&err);
                        continue;
                }
                /* Unique prefixes in byte order, as the lookups assume. */
                for (size_t i = 1; i < c->nregistries; i++)
                        if (strcmp(c->registries[i - 1].prefix, c->registries[i].prefix) >= 0)
                                abort();
                for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
                        struct it_regconf_match m;
                        if (regconf_find(c, names[i], &m)) {
                                if (m.match_len > strlen(names[i]) || !m.registry)
                                        abort();
                                free(regconf_rewrite(&m, names[i]));
                        }
                        (void)regconf_check_blocked(c, names[i], &err);
                        it_error_clear(&err);
                        (void)regconf_alias(c, names[i]);
                }
                regconf_free(c);
        }
        return 0;
}
