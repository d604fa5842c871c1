/* Fuzz target: image configs through procspec_from_config; an accepted config is also merged
 * with no options, which must either give a command or say that there is none. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "imgtrust/procspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct it_procspec spec;
        it_error err = IT_ERROR_INIT;
        procspec_init(&spec);
        if (procspec_from_config((const char *)data, size, &spec, &err) < 0) {
                if (!err.msg)
                        abort();
        } else if (procspec_apply_options(&spec, NULL, &err) == 0) {
                if (spec.argc == 0 || !spec.argv[0] || spec.argv[spec.argc] || !spec.cwd ||
                    spec.cwd[0] != '/')
                        abort();
        } else if (!err.msg) {
                abort();
        }
        it_error_clear(&err);
        procspec_free(&spec);
        return 0;
}
