/* OpenPGP packet walker and armor decoder, on hand-made packets and on real gpg output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/keyfile.h"
#include "imgtrust/pgp.h"
#include "imgtrust/xalloc.h"

static void test_old_and_new_lengths(void **state)
{
        (void)state;
        /* old format tag 13, 1-byte length; new format tag 13, 2-byte length (192+) */
        uint8_t d[3 + 2 + 200];
        d[0] = 0x80 | (13 << 2) | 0;
        d[1] = 1;
        d[2] = 'a';
        d[3] = 0xC0 | 13;
        d[4] = 192 + 0; /* first octet 192 => ((192-192)<<8) + o2 + 192 */
        memset(d + 5, 'b', 200);
        uint8_t full[3 + 3 + 200];
        memcpy(full, d, 4);
        full[4] = 192;
        full[5] = 8; /* 8 + 192 = 200 */
        memset(full + 6, 'b', 200);
        size_t off = 0;
        struct pgp_packet p;
        it_error err = IT_ERROR_INIT;
        assert_int_equal(pgp_packet_next(full, sizeof full, &off, 1024, &p, &err), 0);
        assert_int_equal(p.tag, 13);
        assert_false(p.new_format);
        assert_int_equal(p.body_len, 1);
        assert_int_equal(p.body[0], 'a');
        pgp_packet_free(&p);
        assert_int_equal(pgp_packet_next(full, sizeof full, &off, 1024, &p, &err), 0);
        assert_true(p.new_format);
        assert_int_equal(p.body_len, 200);
        pgp_packet_free(&p);
        assert_int_equal(off, sizeof full);
        /* Bounded: the same packet with a 100-byte limit. */
        off = 3;
        assert_int_equal(pgp_packet_next(full, sizeof full, &off, 100, &p, &err), IT_EINPUT);
        assert_non_null(strstr(err.msg, "larger than 100"));
        it_error_clear(&err);
        /* Truncated. */
        off = 3;
        assert_int_equal(pgp_packet_next(full, 50, &off, 1024, &p, &err), IT_EINPUT);
        assert_non_null(strstr(err.msg, "truncated"));
        it_error_clear(&err);
}

static void test_partial_and_bad_header(void **state)
{
        (void)state;
        /* new-format literal packet: partial chunk of 2 (0xE1), then final length 3 */
        const uint8_t d[] = {0xC0 | 11, 0xE1, 'a', 'b', 3, 'c', 'd', 'e'};
        size_t off = 0;
        struct pgp_packet p;
        it_error err = IT_ERROR_INIT;
        assert_int_equal(pgp_packet_next(d, sizeof d, &off, 1024, &p, &err), 0);
        assert_true(p.partial);
        assert_int_equal(p.body_len, 5);
        assert_memory_equal(p.body, "abcde", 5);
        assert_int_equal(off, sizeof d);
        pgp_packet_free(&p);

        const uint8_t bad[] = {0x3D, 0x00};
        off = 0;
        assert_int_equal(pgp_packet_next(bad, sizeof bad, &off, 1024, &p, &err), IT_EINPUT);
        assert_non_null(strstr(err.msg, "not a packet header"));
        it_error_clear(&err);
}

static void test_armor(void **state)
{
        (void)state;
        /* "hello" = aGVsbG8=, CRC-24 of "hello" = 0x47F58A -> R/WK */
        const char *a = "junk before\n-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: x\n\n"
                        "aGVsbG8=\n=R/WK\n-----END PGP PUBLIC KEY BLOCK-----\n";
        assert_true(pgp_is_armored("\n  -----BEGIN PGP X", 18));
        assert_false(pgp_is_armored("\x99\x01", 2));
        struct it_buf out = IT_BUF_INIT;
        it_error err = IT_ERROR_INIT;
        assert_int_equal(pgp_dearmor(a, strlen(a), &out, &err), 0);
        assert_int_equal(out.len, 5);
        assert_memory_equal(out.data, "hello", 5);
        it_buf_free(&out);

        const char *badcrc = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\naGVsbG8=\n=AAAA\n"
                             "-----END PGP PUBLIC KEY BLOCK-----\n";
        assert_int_equal(pgp_dearmor(badcrc, strlen(badcrc), &out, &err), IT_EINPUT);
        assert_non_null(strstr(err.msg, "checksum"));
        it_error_clear(&err);
        it_buf_free(&out);
        const char *noend = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\naGVsbG8=\n";
        assert_int_equal(pgp_dearmor(noend, strlen(noend), &out, &err), IT_EINPUT);
        it_error_clear(&err);
        it_buf_free(&out);
}

/* Two user IDs, the second added later (gpg makes it primary): podman lists file order. */
static void test_podman_ids_real_key(void **state)
{
        (void)state;
        char dir[] = "/tmp/it-pgp-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char *cmd = xasprintf(
            "set -e; export GNUPGHOME=%s; "
            "gpg --batch -q --passphrase '' --quick-gen-key 'Ops <ops@acme.test>' ed25519 sign "
            "never 2>/dev/null; "
            "F=$(gpg --with-colons --list-keys | awk -F: '/^fpr/{print $10; exit}'); sleep 1; "
            "gpg --batch -q --passphrase '' --quick-add-uid $F 'Alice Two <alice2@acme.test>'; "
            "gpg --batch -q --passphrase '' --quick-add-uid $F 'No Mail'; "
            "gpg --export >%s/k.gpg; gpg --export --armor >%s/k.asc; "
            "gpgconf --kill all",
            dir, dir, dir);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        for (int armored = 0; armored < 2; armored++) {
                char *path = xasprintf("%s/k.%s", dir, armored ? "asc" : "gpg");
                FILE *f = fopen(path, "rb");
                assert_non_null(f);
                char buf[65536];
                size_t n = fread(buf, 1, sizeof buf, f);
                fclose(f);
                struct it_strv ids = IT_STRV_INIT;
                it_error err = IT_ERROR_INIT;
                assert_int_equal(keyfile_podman_ids_data(buf, n, &ids, &err), 0);
                assert_int_equal(ids.n, 3);
                assert_string_equal(ids.v[0], "ops@acme.test");
                assert_string_equal(ids.v[1], "alice2@acme.test");
                assert_string_equal(ids.v[2], "No Mail");
                it_strv_free(&ids);
                free(path);
        }
        cmd = xasprintf("rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
        free(cmd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_old_and_new_lengths),
            cmocka_unit_test(test_partial_and_bad_header),
            cmocka_unit_test(test_armor),
            cmocka_unit_test(test_podman_ids_real_key),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
