/* OpenPGP packet walker, armor decoder and podman key IDs on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "imgtrust/keyfile.h"
#include "imgtrust/pgp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        it_error err = IT_ERROR_INIT;
        struct it_strv ids = IT_STRV_INIT;
        (void)keyfile_podman_ids_data(data, size, &ids, &err);
        it_strv_free(&ids);
        it_error_clear(&err);

        size_t off = 0;
        while (off < size) {
                struct pgp_packet pkt;
                size_t before = off;
                if (pgp_packet_next(data, size, &off, 1u << 20, &pkt, &err) != 0) {
                        it_error_clear(&err);
                        break;
                }
                if (off <= before || off > size || pkt.body_len > (1u << 20))
                        abort();
                if (!pkt.partial && (pkt.body < data || pkt.body + pkt.body_len > data + size))
                        abort();
                pgp_packet_free(&pkt);
        }
        struct it_buf out = IT_BUF_INIT;
        if (pgp_dearmor(data, size, &out, &err) == 0 && out.len > size)
                abort(); /* base64 never grows */
        it_buf_free(&out);
        it_error_clear(&err);
        return 0;
}
