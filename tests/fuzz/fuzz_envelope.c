/* Signature envelope sniffing and packet walk on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        it_error err = IT_ERROR_INIT;
        struct sig_envelope env;
        int rc = sig_envelope_check(data, size, &env, &err);
        if (rc == 0) {
                if (!env.payload || env.payload_len > IT_SIG_PAYLOAD_MAX ||
                    env.payload[env.payload_len] != 0 || !env.literal_name ||
                    !strchr("btu", env.literal_format) || err.code != 0)
                        abort();
        } else {
                /* Failures leave nothing behind and say one line. */
                char *m = it_error_format(&err);
                if (env.payload || strncmp(m, "signature: ", 11) != 0 || strchr(m, '\n'))
                        abort();
                free(m);
        }
        sig_envelope_free(&env);
        it_error_clear(&err);
        return 0;
}
