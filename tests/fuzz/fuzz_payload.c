/* Simple-signing payload parser on arbitrary bytes; what it accepts must survive a rebuild. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        it_error err = IT_ERROR_INIT;
        struct sig_payload p;
        if (payload_parse(data, size, &p, &err) != 0) {
                char *m = it_error_format(&err);
                if (strncmp(m, "payload: ", 9) != 0 || p.docker_reference)
                        abort();
                free(m);
                it_error_clear(&err);
                return 0;
        }
        if (!p.docker_reference || !digest_valid(p.digest_str))
                abort();
        /* Build → parse gives the same facts back. */
        struct it_buf b = IT_BUF_INIT;
        payload_build(p.docker_reference, p.digest_str, p.creator,
                      p.has_timestamp ? p.timestamp : 0, &b);
        struct sig_payload q;
        if (payload_parse(b.data, b.len, &q, &err) != 0)
                abort();
        if (strcmp(q.docker_reference, p.docker_reference) != 0 ||
            strcmp(q.digest_str, p.digest_str) != 0 ||
            (p.has_timestamp && q.timestamp != p.timestamp) || (!p.creator) != (!q.creator))
                abort();
        sig_payload_free(&q);
        it_buf_free(&b);
        sig_payload_free(&p);
        return 0;
}
