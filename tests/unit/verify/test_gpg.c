/* The OpenPGP layer: signing in the user's keyring and verifying in private keyrings.
 *
 * The setup makes real keys and signatures with gpg in a scratch home ($W/gen), which also plays
 * the user's GNUPGHOME for it_gpg_sign; faked times give expired keys and signatures without
 * waiting. TMPDIR points at an empty directory ($W/tmp) so every test can check that the private
 * keyrings left nothing behind. skopeo 1.9.3 checks interoperability in both directions. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/gpg.h"
#include "imgtrust/strv.h"
#include "imgtrust/xalloc.h"

struct env {
        char *work; /* scratch root, removed at the end */
        char *gen;  /* GNUPGHOME the keys were made in; the "user's" keyring */
        char *tmp;  /* TMPDIR for the private keyrings */
};

static const char gen_script[] =
    "set -e\n"
    "W=$1\n"
    "export GNUPGHOME=$W/gen\n"
    "mkdir -m 700 $GNUPGHOME $W/tmp\n"
    "g() { gpg --batch --no-tty --passphrase '' --pinentry-mode loopback \"$@\"; }\n"
    "fpr() { gpg --with-colons --list-keys \"$1\" | awk -F: '/^fpr/{print $10; exit}'; }\n"
    "subfpr() { gpg --with-colons --list-keys \"$1\" | awk -F: '/^fpr/{n++; if (n==2) "
    "{print $10; exit}}'; }\n"
    "printf '{\"critical\":{},\"optional\":{}}' > $W/payload\n"
    "g --faked-system-time 20190101T000000 --quick-gen-key 'One <one@example.test>' ed25519 "
    "sign never\n"
    "g --quick-gen-key 'Two <two@example.test>' ed25519 sign never\n"
    "g --quick-gen-key 'Both <both@example.test>' ed25519 sign never\n"
    "g --quick-add-key $(fpr both@example.test) ed25519 sign never\n"
    "g --quick-gen-key 'Sub <sub@example.test>' ed25519 cert never\n"
    "g --quick-add-key $(fpr sub@example.test) ed25519 sign never\n"
    "g --faked-system-time 20200101T000000 --quick-gen-key 'Expired <expired@example.test>' "
    "ed25519 sign 2d\n"
    "g --faked-system-time 20200101T120000 -u $(fpr expired@example.test)! --sign "
    "-o $W/expired.sig $W/payload\n"
    "g --faked-system-time 20200101T120000 --default-sig-expire 1d -u $(fpr one@example.test)! "
    "--sign -o $W/sigexpired.sig $W/payload\n"
    "g --faked-system-time 20190101T000000 --quick-gen-key 'Oldsub <oldsub@example.test>' "
    "ed25519 cert never\n"
    "g --faked-system-time 20190102T000000 --quick-add-key $(fpr oldsub@example.test) ed25519 "
    "sign 1d\n"
    "g --faked-system-time 20190102T120000 -u $(fpr oldsub@example.test) --sign "
    "-o $W/oldsub.sig $W/payload\n"
    "g --quick-gen-key 'Certonly <certonly@example.test>' ed25519 cert never\n"
    "g --quick-gen-key 'Revoked <revoked@example.test>' ed25519 sign never\n"
    "F=$(fpr revoked@example.test)\n"
    "g -u $F! --sign -o $W/revoked.sig $W/payload\n"
    "sed 's/^:-----BEGIN/-----BEGIN/' $GNUPGHOME/openpgp-revocs.d/$F.rev | g --import\n"
    "g --quick-gen-key 'Revsub <revsub@example.test>' ed25519 cert never\n"
    "F=$(fpr revsub@example.test)\n"
    "g --quick-add-key $F ed25519 sign never\n"
    "g -u $F --sign -o $W/revsub.sig $W/payload\n"
    "printf 'key 1\\nrevkey\\ny\\n0\\n\\ny\\nsave\\n' | g --yes --command-fd 0 --edit-key $F\n"
    "gpg --batch --no-tty --pinentry-mode loopback --passphrase 'open sesame' "
    "--quick-gen-key 'Pass <pass@example.test>' ed25519 sign never\n"
    "for k in one two both sub expired revoked revsub pass oldsub certonly; do\n"
    "  gpg --export $k@example.test > $W/$k.gpg\n"
    "  fpr $k@example.test > $W/$k.fpr\n"
    "  subfpr $k@example.test > $W/$k.subfpr\n"
    "done\n"
    "cat $W/one.gpg $W/two.gpg > $W/one-two.gpg\n"
    "ONE=$(fpr one@example.test)\n"
    "g -u $ONE! -u $(fpr two@example.test)! --sign -o $W/twosigs.sig $W/payload\n"
    "g -z 0 -u $ONE! --sign -o $W/uncompressed.sig $W/payload\n"
    "g -u $ONE! --armor --sign -o $W/armored.sig $W/payload\n"
    "g -u $ONE! --clearsign -o $W/clearsigned.sig $W/payload\n"
    "g --store -o $W/literal.sig $W/payload\n"
    "g --quick-add-key $(fpr two@example.test) cv25519 encr never\n"
    "g -r two@example.test -e -o $W/encrypted.sig $W/payload\n"
    "g --symmetric --passphrase x -o $W/symmetric.sig $W/payload\n"
    "head -c 3145728 /dev/zero > $W/big\n"
    "g -u $ONE! --sign -o $W/big.sig $W/big\n"
    "printf '{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
    "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
    "\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\","
    "\"size\":2},\"layers\":[]}' > $W/manifest.json\n"
    "echo sha256:$(sha256sum < $W/manifest.json | cut -d' ' -f1) > $W/manifest.digest\n"
    "skopeo standalone-sign $W/manifest.json docker.io/library/busybox:latest $ONE "
    "-o $W/skopeo.sig\n"
    "printf 'open sesame\\nsecond line\\n' > $W/passfile\n"
    "printf 'no newline' > $W/passfile2\n";

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *cmd = NULL;
        if (vasprintf(&cmd, fmt, ap) < 0)
                abort();
        va_end(ap);
        return system(cmd);
}

/* Output of a shell command. Allocated. */
static char *capture(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *capture(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *cmd = NULL;
        if (vasprintf(&cmd, fmt, ap) < 0)
                abort();
        va_end(ap);
        struct it_buf b = IT_BUF_INIT;
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
                it_buf_add(&b, chunk, n);
        pclose(p);
        return it_buf_detach(&b);
}

static int setup(void **state)
{
        struct env *e = xcalloc(1, sizeof *e);
        e->work = xstrdup("/tmp/imgtrust-gpg-test-XXXXXX");
        if (!mkdtemp(e->work))
                return -1;
        e->gen = xasprintf("%s/gen", e->work);
        e->tmp = xasprintf("%s/tmp", e->work);
        _cleanup_free_ char *script = xasprintf("%s/gen.sh", e->work);
        FILE *f = fopen(script, "w");
        if (!f)
                return -1;
        fputs(gen_script, f);
        fclose(f);
        int rc = run("sh %s %s >%s/gen.log 2>&1", script, e->work, e->work);
        if (rc != 0) {
                run("cat %s/gen.log >&2", e->work);
                run("gpgconf --homedir %s --kill all >/dev/null 2>&1; rm -rf %s", e->gen, e->work);
                return -1;
        }
        setenv("GNUPGHOME", e->gen, 1);
        setenv("TMPDIR", e->tmp, 1);
        *state = e;
        return 0;
}

static int teardown(void **state)
{
        struct env *e = *state;
        if (!e)
                return 0;
        /* Key generation and signing started an agent for the scratch home. */
        run("gpgconf --homedir %s --kill all >/dev/null 2>&1", e->gen);
        run("rm -rf %s", e->work);
        free(e->gen);
        free(e->tmp);
        free(e->work);
        free(e);
        return 0;
}

static char *wfile(const struct env *e, const char *name, size_t *len)
{
        _cleanup_free_ char *path = xasprintf("%s/%s", e->work, name);
        char *data = NULL;
        size_t n = 0;
        it_error err = IT_ERROR_INIT;
        if (it_file_read(path, 64u << 20, &data, &n, &err) != 0)
                fail_msg("cannot read %s: %s", path, err.msg);
        if (len)
                *len = n;
        return data;
}

/* A fingerprint file written by the setup, without its newline. */
static char *fpr(const struct env *e, const char *name)
{
        char *s = wfile(e, name, NULL);
        s[strcspn(s, "\n")] = '\0';
        assert_int_equal(strlen(s), 40);
        return s;
}

static void assert_tmp_empty(const struct env *e)
{
        DIR *d = opendir(e->tmp);
        assert_non_null(d);
        struct dirent *de;
        int n = 0;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        n++;
        closedir(d);
        assert_int_equal(n, 0);
}

/* A keyring with the named exported key files imported. Allocated. */
static struct it_gpg_keyring *keyring(const struct env *e, const char *file)
{
        struct it_gpg_keyring *kr = NULL;
        it_error err = IT_ERROR_INIT;
        assert_int_equal(it_gpg_keyring_new(&kr, &err), 0);
        size_t len;
        _cleanup_free_ char *keys = wfile(e, file, &len);
        assert_int_equal(it_gpg_keyring_import(kr, keys, len, NULL, &err), 0);
        return kr;
}

/* Verify blob against the key file; expect rejection with exactly `reason`. */
static void expect_reject(const struct env *e, const char *keys, const void *blob, size_t len,
                          const char *reason)
{
        struct it_gpg_keyring *kr = keyring(e, keys);
        struct it_gpg_result res = IT_GPG_RESULT_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = it_gpg_verify(kr, blob, len, &res, &err);
        assert_int_equal(rc, IT_EREJECTED);
        assert_string_equal(err.msg, reason);
        assert_null(res.payload.data);
        assert_null(res.primary_fpr);
        it_gpg_keyring_free(kr);
        assert_tmp_empty(e);
}

static void expect_reject_file(const struct env *e, const char *keys, const char *sig,
                               const char *reason)
{
        size_t len;
        _cleanup_free_ char *blob = wfile(e, sig, &len);
        expect_reject(e, keys, blob, len, reason);
}

static void test_sign_verify_primary(void **state)
{
        struct env *e = *state;
        _cleanup_free_ char *one = fpr(e, "one.fpr");
        static const char payload[] = "{\"hello\":\"world\"}";
        _cleanup_buf_ struct it_buf blob = IT_BUF_INIT;
        _cleanup_strv_ struct it_strv warnings = IT_STRV_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        time_t before = time(NULL);
        assert_int_equal(it_gpg_sign("one@example.test", payload, sizeof payload - 1, NULL, &blob,
                                     &warnings, &err),
                         0);
        assert_int_equal(warnings.n, 0);
        assert_true(blob.len > 0);
        assert_true((unsigned char)blob.data[0] & 0x80); /* binary, not armored */

        struct it_gpg_keyring *kr = NULL;
        assert_int_equal(it_gpg_keyring_new(&kr, &err), 0);
        size_t klen;
        _cleanup_free_ char *keys = wfile(e, "one.gpg", &klen);
        _cleanup_strv_ struct it_strv imported = IT_STRV_INIT;
        assert_int_equal(it_gpg_keyring_import(kr, keys, klen, &imported, &err), 0);
        assert_int_equal(imported.n, 1);
        assert_string_equal(imported.v[0], one);
        assert_int_equal(it_gpg_keyring_trusted(kr)->n, 1);

        struct it_gpg_result res = IT_GPG_RESULT_INIT;
        assert_int_equal(it_gpg_verify(kr, blob.data, blob.len, &res, &err), 0);
        assert_int_equal(res.payload.len, sizeof payload - 1);
        assert_memory_equal(res.payload.data, payload, sizeof payload - 1);
        assert_string_equal(res.signer_fpr, one);
        assert_string_equal(res.primary_fpr, one);
        assert_string_equal(res.key_id, one + 24);
        assert_true(res.timestamp >= before - 2 && res.timestamp <= time(NULL) + 2);
        it_gpg_result_free(&res);
        it_gpg_keyring_free(kr);
        assert_tmp_empty(e);
}

/* A key whose primary and subkey can both sign: gpg alone would pick the subkey. */
static void test_sign_pins_primary(void **state)
{
        struct env *e = *state;
        _cleanup_free_ char *both = fpr(e, "both.fpr");
        _cleanup_buf_ struct it_buf blob = IT_BUF_INIT;
        _cleanup_strv_ struct it_strv warnings = IT_STRV_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(it_gpg_sign(both, "x", 1, NULL, &blob, &warnings, &err), 0);
        assert_int_equal(warnings.n, 0);
        struct it_gpg_keyring *kr = keyring(e, "both.gpg");
        struct it_gpg_result res = IT_GPG_RESULT_INIT;
        assert_int_equal(it_gpg_verify(kr, blob.data, blob.len, &res, &err), 0);
        assert_string_equal(res.signer_fpr, both);
        assert_string_equal(res.primary_fpr, both);
        assert_string_equal(res.payload.data, "x");
        it_gpg_result_free(&res);
        it_gpg_keyring_free(kr);
        assert_tmp_empty(e);
}

static void test_sign_with_subkey(void **state)
{
        struct env *e = *state;
        _cleanup_free_ char *primary = fpr(e, "sub.fpr");
        _cleanup_free_ char *sub = fpr(e, "sub.subfpr");
        _cleanup_buf_ struct it_buf blob = IT_BUF_INIT;
        _cleanup_strv_ struct it_strv warnings = IT_STRV_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(it_gpg_sign("<sub@example.test>", "p", 1, NULL, &blob, &warnings, &err),
                         0);
        assert_int_equal(warnings.n, 1);
        _cleanup_free_ char *want =
            xasprintf("key %s: the primary key cannot sign; signing with subkey %s, which skopeo "
                      "1.9.3 and podman 4.3 reject",
                      primary, sub);
        assert_string_equal(warnings.v[0], want);

        struct it_gpg_keyring *kr = keyring(e, "sub.gpg");
        struct it_gpg_result res = IT_GPG_RESULT_INIT;
        assert_int_equal(it_gpg_verify(kr, blob.data, blob.len, &res, &err), 0);
        assert_string_equal(res.signer_fpr, sub);
        assert_string_equal(res.primary_fpr, primary);
        assert_string_equal(res.key_id, sub + 24);
        it_gpg_result_free(&res);
        it_gpg_keyring_free(kr);
        assert_tmp_empty(e);
}

static void test_untrusted_key(void **state)
{
        struct env *e = *state;
        _cleanup_free_ char *one = fpr(e, "one.fpr");
        _cleanup_free_ char *want =
            xasprintf("no public key for key ID %s (not a trusted key)", one + 24);
        expect_reject_file(e, "two.gpg", "uncompressed.sig", want);
}

static void test_tampered(void **state)
{
        struct env *e = *state;
        size_t len;
        _cleanup_free_ char *blob = wfile(e, "uncompressed.sig", &len);
        char *p = memmem(blob, len, "critical", 8);
        assert_non_null(p);
        p[0] = 'C';
        expect_reject(e, "one.gpg", blob, len, "bad signature (data was altered)");
}

static void test_expired_key(void **state)
{
        struct env *e = *state;
        _cleanup_free_ char *f = fpr(e, "expired.fpr");
        _cleanup_free_ char *want = xasprintf("key %s has expired", f);
        expect_reject_file(e, "expired.gpg", "expired.sig", want);
}

static void test_expired_signature(void **state)
{
        struct env *e = *state;
        _cleanup_free_ char *f = fpr(e, "one.fpr");
        _cleanup_free_ char *want = xasprintf("signature made by key %s has expired", f);
        expect_reject_file(e, "one.gpg", "sigexpired.sig", want);
}

/* A subkey's own expiry counts even when its primary is valid and trusted. */
static void test_expired_subkey(void **state)
{
        struct env *e = *state;
        _cleanup_free_ char *f = fpr(e, "oldsub.subfpr");
        _cleanup_free_ char *want = xasprintf("key %s has expired", f);
        expect_reject_file(e, "oldsub.gpg", "oldsub.sig", want);
}

static void test_revoked_key(void **state)
{
        struct env *e = *state;
        _cleanup_free_ char *f = fpr(e, "revoked.fpr");
        _cleanup_free_ char *want = xasprintf("key %s is revoked", f);
        expect_reject_file(e, "revoked.gpg", "revoked.sig", want);
}

static void test_revoked_subkey(void **state)
{
        struct env *e = *state;
        _cleanup_free_ char *f = fpr(e, "revsub.subfpr");
        _cleanup_free_ char *want = xasprintf("key %s is revoked", f);
        expect_reject_file(e, "revsub.gpg", "revsub.sig", want);
}

static void test_two_signatures(void **state)
{
        struct env *e = *state;
        expect_reject_file(e, "one-two.gpg", "twosigs.sig",
                           "signature blob holds 2 signatures; exactly one is allowed");
}

static void test_payload_cap(void **state)
{
        struct env *e = *state;
        expect_reject_file(e, "one.gpg", "big.sig", "signed payload larger than 1048576 bytes");
}

static void test_not_signed_messages(void **state)
{
        struct env *e = *state;
        static const char not_binary[] =
            "signature is not a binary OpenPGP message (armored, clear-signed or other data)";
        expect_reject_file(e, "one.gpg", "armored.sig", not_binary);
        expect_reject_file(e, "one.gpg", "clearsigned.sig", not_binary);
        expect_reject_file(e, "one.gpg", "literal.sig", "not a signed message (no signature)");
        expect_reject_file(e, "one.gpg", "encrypted.sig", not_binary);
        expect_reject_file(e, "one.gpg", "symmetric.sig", not_binary);
        expect_reject(e, "one.gpg", "", 0, "signature is empty");
        expect_reject(e, "one.gpg", "{\"critical\":1}", 14, not_binary);
        size_t big = IT_GPG_BLOB_MAX + 1;
        _cleanup_free_ char *huge = xcalloc(1, big);
        huge[0] = (char)0xa3;
        expect_reject(e, "one.gpg", huge, big,
                      "signature too large (4194305 bytes; at most 4194304)");

        /* An empty keyring trusts nobody. */
        struct it_gpg_keyring *kr = NULL;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(it_gpg_keyring_new(&kr, &err), 0);
        assert_int_equal(it_gpg_keyring_import(kr, "junk", 4, NULL, &err), 0);
        assert_int_equal(it_gpg_keyring_trusted(kr)->n, 0);
        size_t len;
        _cleanup_free_ char *blob = wfile(e, "uncompressed.sig", &len);
        struct it_gpg_result res = IT_GPG_RESULT_INIT;
        assert_int_equal(it_gpg_verify(kr, blob, len, &res, &err), IT_EREJECTED);
        assert_string_equal(err.msg, "no public keys imported");
        it_gpg_keyring_free(kr);
        assert_tmp_empty(e);
}

static void test_passphrase(void **state)
{
        struct env *e = *state;
        _cleanup_free_ char *f = fpr(e, "pass.fpr");
        _cleanup_buf_ struct it_buf blob = IT_BUF_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;

        /* Wrong first: gpg-agent caches a passphrase once it has worked. */
        assert_int_equal(it_gpg_sign(f, "p", 1, "wrong", &blob, NULL, &err), IT_EINPUT);
        _cleanup_free_ char *want = xasprintf("wrong passphrase for key %s", f);
        assert_string_equal(err.msg, want);
        assert_int_equal(blob.len, 0);
        it_error_clear(&err);

        assert_int_equal(it_gpg_sign(f, "p", 1, "a\nb", &blob, NULL, &err), IT_EINPUT);
        assert_string_equal(err.msg, "the passphrase must not contain a newline");
        it_error_clear(&err);

        _cleanup_free_ char *pfile = xasprintf("%s/passfile", e->work);
        _cleanup_free_ char *pass = NULL;
        assert_int_equal(it_gpg_passphrase_file(pfile, &pass, &err), 0);
        assert_string_equal(pass, "open sesame");
        assert_int_equal(it_gpg_sign(f, "p", 1, pass, &blob, NULL, &err), 0);
        struct it_gpg_keyring *kr = keyring(e, "pass.gpg");
        struct it_gpg_result res = IT_GPG_RESULT_INIT;
        assert_int_equal(it_gpg_verify(kr, blob.data, blob.len, &res, &err), 0);
        assert_string_equal(res.primary_fpr, f);
        it_gpg_result_free(&res);
        it_gpg_keyring_free(kr);
        assert_tmp_empty(e);
}

static void test_key_spec_errors(void **state)
{
        struct env *e = *state;
        _cleanup_buf_ struct it_buf blob = IT_BUF_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(it_gpg_sign("example.test", "p", 1, NULL, &blob, NULL, &err), IT_EINPUT);
        assert_string_equal(err.msg, "key \"example.test\" matches several secret keys; name one "
                                     "by its fingerprint");
        it_error_clear(&err);
        assert_int_equal(it_gpg_sign("nobody@example.test", "p", 1, NULL, &blob, NULL, &err),
                         IT_EINPUT);
        assert_string_equal(err.msg, "no secret key \"nobody@example.test\" in the GnuPG keyring");
        it_error_clear(&err);
        assert_int_equal(it_gpg_sign("", "p", 1, NULL, &blob, NULL, &err), IT_EINPUT);
        assert_string_equal(err.msg, "no signing key given");
        it_error_clear(&err);

        _cleanup_free_ char *expired = fpr(e, "expired.fpr");
        assert_int_equal(it_gpg_sign(expired, "p", 1, NULL, &blob, NULL, &err), IT_EINPUT);
        _cleanup_free_ char *want = xasprintf("key %s has expired", expired);
        assert_string_equal(err.msg, want);
        it_error_clear(&err);
        _cleanup_free_ char *revoked = fpr(e, "revoked.fpr");
        assert_int_equal(it_gpg_sign(revoked, "p", 1, NULL, &blob, NULL, &err), IT_EINPUT);
        _cleanup_free_ char *want2 = xasprintf("key %s is revoked", revoked);
        assert_string_equal(err.msg, want2);
        it_error_clear(&err);
        _cleanup_free_ char *certonly = fpr(e, "certonly.fpr");
        assert_int_equal(it_gpg_sign(certonly, "p", 1, NULL, &blob, NULL, &err), IT_EINPUT);
        _cleanup_free_ char *want3 =
            xasprintf("key %s has no usable secret key that can sign", certonly);
        assert_string_equal(err.msg, want3);
        it_error_clear(&err);
        assert_int_equal(blob.len, 0);

        _cleanup_free_ char *pfile = xasprintf("%s/passfile2", e->work);
        _cleanup_free_ char *pass = NULL;
        assert_int_equal(it_gpg_passphrase_file(pfile, &pass, &err), 0);
        assert_string_equal(pass, "no newline");
        _cleanup_free_ char *missing = xasprintf("%s/nonexistent", e->work);
        _cleanup_free_ char *none = NULL;
        assert_int_equal(it_gpg_passphrase_file(missing, &none, &err), IT_EIO);
        assert_null(none);
}

static void test_import_several(void **state)
{
        struct env *e = *state;
        _cleanup_free_ char *one = fpr(e, "one.fpr");
        _cleanup_free_ char *two = fpr(e, "two.fpr");
        struct it_gpg_keyring *kr = NULL;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(it_gpg_keyring_new(&kr, &err), 0);
        size_t len;
        _cleanup_free_ char *keys = wfile(e, "one-two.gpg", &len);
        _cleanup_strv_ struct it_strv imported = IT_STRV_INIT;
        assert_int_equal(it_gpg_keyring_import(kr, keys, len, &imported, &err), 0);
        assert_int_equal(imported.n, 2);
        assert_string_equal(imported.v[0], one);
        assert_string_equal(imported.v[1], two);
        /* Importing again reports the keys unchanged: still trusted, not duplicated. */
        _cleanup_strv_ struct it_strv again = IT_STRV_INIT;
        assert_int_equal(it_gpg_keyring_import(kr, keys, len, &again, &err), 0);
        assert_int_equal(again.n, 2);
        const struct it_strv *trusted = it_gpg_keyring_trusted(kr);
        assert_int_equal(trusted->n, 2);
        assert_true(it_strv_contains(trusted, one));
        assert_true(it_strv_contains(trusted, two));
        const char *home = it_gpg_keyring_home(kr);
        assert_true(strncmp(home, e->tmp, strlen(e->tmp)) == 0);
        struct stat st;
        assert_int_equal(stat(home, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
        it_gpg_keyring_free(kr);
        assert_tmp_empty(e);
}

/* Verification reads and writes nothing in the user's GNUPGHOME. */
static void test_user_home_untouched(void **state)
{
        struct env *e = *state;
        static const char snap[] = "cd %s && find . ! -name . -printf '%%p %%y %%s %%T@ %%m\\n' | "
                                   "sort && find . -type f -exec sha256sum {} + | sort";
        _cleanup_free_ char *before = capture(snap, e->gen);
        assert_true(strlen(before) > 0);
        _cleanup_free_ char *one = fpr(e, "one.fpr");
        size_t len;
        _cleanup_free_ char *blob = wfile(e, "skopeo.sig", &len);
        struct it_gpg_keyring *kr = keyring(e, "one-two.gpg");
        struct it_gpg_result res = IT_GPG_RESULT_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(it_gpg_verify(kr, blob, len, &res, &err), 0);
        assert_string_equal(res.primary_fpr, one);
        it_gpg_result_free(&res);
        it_gpg_keyring_free(kr);
        _cleanup_free_ char *after = capture(snap, e->gen);
        assert_string_equal(before, after);
        assert_tmp_empty(e);
}

static void test_skopeo_signature_verifies(void **state)
{
        struct env *e = *state;
        _cleanup_free_ char *one = fpr(e, "one.fpr");
        _cleanup_free_ char *digest = wfile(e, "manifest.digest", NULL);
        digest[strcspn(digest, "\n")] = '\0';
        size_t len;
        _cleanup_free_ char *blob = wfile(e, "skopeo.sig", &len);
        struct it_gpg_keyring *kr = keyring(e, "one.gpg");
        struct it_gpg_result res = IT_GPG_RESULT_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(it_gpg_verify(kr, blob, len, &res, &err), 0);
        assert_string_equal(res.signer_fpr, one);
        _cleanup_free_ char *prefix =
            xasprintf("{\"critical\":{\"identity\":{\"docker-reference\":\"docker.io/library/"
                      "busybox:latest\"},\"image\":{\"docker-manifest-digest\":\"%s\"},\"type\":"
                      "\"atomic container signature\"},\"optional\":{\"creator\":\"atomic ",
                      digest);
        assert_true(strncmp(res.payload.data, prefix, strlen(prefix)) == 0);
        it_gpg_result_free(&res);
        it_gpg_keyring_free(kr);
        assert_tmp_empty(e);
}

static void write_file(const char *path, const void *data, size_t len)
{
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
}

static void test_skopeo_verifies_ours(void **state)
{
        struct env *e = *state;
        _cleanup_free_ char *one = fpr(e, "one.fpr");
        _cleanup_free_ char *sub = fpr(e, "sub.fpr");
        _cleanup_free_ char *digest = wfile(e, "manifest.digest", NULL);
        digest[strcspn(digest, "\n")] = '\0';
        _cleanup_free_ char *payload =
            xasprintf("{\"critical\":{\"identity\":{\"docker-reference\":\"docker.io/library/"
                      "busybox:latest\"},\"image\":{\"docker-manifest-digest\":\"%s\"},\"type\":"
                      "\"atomic container signature\"},\"optional\":{\"creator\":\"imgtrust "
                      "test\",\"timestamp\":1700000000}}",
                      digest);
        _cleanup_buf_ struct it_buf blob = IT_BUF_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(it_gpg_sign(one, payload, strlen(payload), NULL, &blob, NULL, &err), 0);
        _cleanup_free_ char *path = xasprintf("%s/ours.sig", e->work);
        write_file(path, blob.data, blob.len);
        _cleanup_free_ char *out =
            capture("TMPDIR=/tmp skopeo standalone-verify %s/manifest.json "
                    "docker.io/library/busybox:latest %s %s 2>&1; echo rc=$?",
                    e->work, one, path);
        _cleanup_free_ char *want = xasprintf("Signature verified, digest %s\nrc=0\n", digest);
        assert_string_equal(out, want);

        /* The warning's claim: skopeo 1.9.3 rejects a subkey signature, even naming the primary. */
        it_buf_reset(&blob);
        assert_int_equal(it_gpg_sign(sub, payload, strlen(payload), NULL, &blob, NULL, &err), 0);
        write_file(path, blob.data, blob.len);
        _cleanup_free_ char *out2 =
            capture("TMPDIR=/tmp skopeo standalone-verify %s/manifest.json "
                    "docker.io/library/busybox:latest %s %s 2>&1; echo rc=$?",
                    e->work, sub, path);
        assert_non_null(strstr(out2, "Error verifying signature"));
        assert_non_null(strstr(out2, "rc=1\n"));
}

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One keyring serves many verifications; prints the costs the benchmark cares about. */
static void test_keyring_reuse(void **state)
{
        struct env *e = *state;
        _cleanup_free_ char *one = fpr(e, "one.fpr");
        size_t len, klen;
        _cleanup_free_ char *blob = wfile(e, "skopeo.sig", &len);
        _cleanup_free_ char *keys = wfile(e, "one.gpg", &klen);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        double t0 = now_ms();
        struct it_gpg_keyring *kr = NULL;
        assert_int_equal(it_gpg_keyring_new(&kr, &err), 0);
        assert_int_equal(it_gpg_keyring_import(kr, keys, klen, NULL, &err), 0);
        double t1 = now_ms();
        struct it_gpg_result res = IT_GPG_RESULT_INIT;
        assert_int_equal(it_gpg_verify(kr, blob, len, &res, &err), 0);
        it_gpg_result_free(&res);
        double t2 = now_ms();
        const int rounds = 10;
        for (int i = 0; i < rounds; i++) {
                assert_int_equal(it_gpg_verify(kr, blob, len, &res, &err), 0);
                assert_string_equal(res.primary_fpr, one);
                it_gpg_result_free(&res);
        }
        double t3 = now_ms();
        it_gpg_keyring_free(kr);
        printf("# keyring new+import %.1f ms; first verify %.1f ms; later verifies %.1f ms each\n",
               t1 - t0, t2 - t1, (t3 - t2) / rounds);
        assert_tmp_empty(e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sign_verify_primary),
            cmocka_unit_test(test_sign_pins_primary),
            cmocka_unit_test(test_sign_with_subkey),
            cmocka_unit_test(test_untrusted_key),
            cmocka_unit_test(test_tampered),
            cmocka_unit_test(test_expired_key),
            cmocka_unit_test(test_expired_signature),
            cmocka_unit_test(test_expired_subkey),
            cmocka_unit_test(test_revoked_key),
            cmocka_unit_test(test_import_several),
            cmocka_unit_test(test_revoked_subkey),
            cmocka_unit_test(test_two_signatures),
            cmocka_unit_test(test_payload_cap),
            cmocka_unit_test(test_not_signed_messages),
            cmocka_unit_test(test_passphrase),
            cmocka_unit_test(test_key_spec_errors),
            cmocka_unit_test(test_user_home_untouched),
            cmocka_unit_test(test_skopeo_signature_verifies),
            cmocka_unit_test(test_skopeo_verifies_ours),
            cmocka_unit_test(test_keyring_reuse),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
