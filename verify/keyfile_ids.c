/* podman's ID column, reproduced from the key file's packets.
 *
 * podman runs `gpg2 --with-colons FILE` and keeps field 10 of the pub: and uid: lines. That
 * listing shows user IDs in the order the file stores them; gpgme (and gpg --show-keys) put the
 * primary user ID first, so the order only comes out right from the packets themselves.
 */
#include <stdlib.h>
#include <string.h>

#include "imgtrust/buf.h"
#include "imgtrust/keyfile.h"
#include "imgtrust/pgp.h"
#include "imgtrust/xalloc.h"

/* A user ID as `gpg --with-colons` prints it in field 10 (es_write_sanitized with ':' as the
 * delimiter), since podman works on that text. */
static char *colon_escape(const uint8_t *s, size_t n)
{
        struct it_buf b = IT_BUF_INIT;
        for (size_t i = 0; i < n; i++) {
                uint8_t c = s[i];
                if (c >= 0x20 && c != 0x7f && c != ':' && c != '\\') {
                        it_buf_addch(&b, (char)c);
                        continue;
                }
                switch (c) {
                case '\n':
                        it_buf_adds(&b, "\\n");
                        break;
                case '\r':
                        it_buf_adds(&b, "\\r");
                        break;
                case '\f':
                        it_buf_adds(&b, "\\f");
                        break;
                case '\v':
                        it_buf_adds(&b, "\\v");
                        break;
                case '\b':
                        it_buf_adds(&b, "\\b");
                        break;
                default:
                        it_buf_addf(&b, "\\x%02x", c);
                        break;
                }
        }
        return it_buf_detach(&b);
}

/* podman keeps the text between the first '<' and the next '>' when the ID has both. */
static char *podman_email(const char *uid)
{
        const char *lt = strchr(uid, '<');
        if (!lt || !strchr(uid, '>'))
                return xstrdup(uid);
        const char *rest = lt + 1;
        const char *gt = strchr(rest, '>');
        return gt ? xstrndup(rest, (size_t)(gt - rest)) : xstrdup(rest);
}

int keyfile_podman_ids_data(const void *data, size_t len, struct it_strv *out, it_error *err)
{
        struct it_buf bin = IT_BUF_INIT;
        const uint8_t *d = data;
        if (pgp_is_armored(data, len)) {
                if (pgp_dearmor(data, len, &bin, err) != 0) {
                        it_buf_free(&bin);
                        return err->code;
                }
                d = (const uint8_t *)it_buf_str(&bin);
                len = bin.len;
        }
        size_t off = 0;
        int rc = 0;
        while (off < len) {
                struct pgp_packet pkt;
                rc = pgp_packet_next(d, len, &off, IT_KEYFILE_MAX, &pkt, err);
                if (rc != 0)
                        break;
                if (pkt.tag == PGP_TAG_USER_ID && pkt.body_len > 0) {
                        char *uid = colon_escape(pkt.body, pkt.body_len);
                        it_strv_take(out, podman_email(uid));
                        free(uid);
                }
                pgp_packet_free(&pkt);
        }
        it_buf_free(&bin);
        return rc;
}
