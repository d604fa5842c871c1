/* Policy signature checks (spec §2.4, §6.6, §6.8, §10): sig_verify_blob, sig_check_signed_by and
 * sig_check_policy against real keys and signatures.
 *
 * The setup makes the keys with gpg in a scratch home ($W/gen), which is also the user's
 * GNUPGHOME for it_gpg_sign, and exports each public key to its own file so requirements parsed
 * from policy JSON name real keyPath files. Signatures that need a faked clock or a key state
 * that cannot sign any more (expired, revoked) are made by the setup script; the rest are made
 * per test with it_gpg_sign over payload_build output or hand-written payloads. TMPDIR is an
 * empty directory ($W/tmp) so every test can check that the private keyrings left nothing. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/fs.h"
#include "imgtrust/gpg.h"
#include "imgtrust/payload.h"
#include "imgtrust/policy.h"
#include "imgtrust/ref.h"
#include "imgtrust/sigcheck.h"
#include "imgtrust/strv.h"
#include "imgtrust/xalloc.h"

/* A Docker schema 2 manifest; its sha256 is what the signatures must name. */
static const char MANIFEST[] =
    "{\n   \"schemaVersion\": 2,\n   \"mediaType\": "
    "\"application/vnd.docker.distribution.manifest.v2+json\",\n   \"config\": {\n      "
    "\"mediaType\": \"application/vnd.docker.container.image.v1+json\",\n      \"size\": 1457,\n "
    "     \"digest\": "
    "\"sha256:3f57d9401f8d42f986df300f0c69192fc41da28ccc8d797829467780db3dd741\"\n   },\n   "
    "\"layers\": []\n}\n";

static const char BUSYBOX[] = "docker.io/library/busybox:latest";

/* $1 = work dir; $W/payload (a valid payload for MANIFEST) is written by the C setup first. */
static const char gen_script[] =
    "set -e\n"
    "W=$1\n"
    "export GNUPGHOME=$W/gen\n"
    "mkdir -m 700 $GNUPGHOME $W/tmp\n"
    "g() { gpg --batch --no-tty --passphrase '' --pinentry-mode loopback \"$@\"; }\n"
    "fpr() { gpg --with-colons --list-keys \"$1\" | awk -F: '/^fpr/{print $10; exit}'; }\n"
    "subfpr() { gpg --with-colons --list-keys \"$1\" | awk -F: '/^fpr/{n++; if (n==2) "
    "{print $10; exit}}'; }\n"
    "g --quick-gen-key 'Alice <a@example.test>' ed25519 sign never\n"
    "g --quick-gen-key 'Bob <b@example.test>' ed25519 sign never\n"
    "g --quick-gen-key 'Sub <sub@example.test>' ed25519 cert never\n"
    "g --quick-add-key $(fpr sub@example.test) ed25519 sign never\n"
    /* Valid for two days from 2020-01-01; it signed on the first day. */
    "g --faked-system-time 20200101T000000 --quick-gen-key 'Expired <expired@example.test>' "
    "ed25519 sign 2d\n"
    "g --faked-system-time 20200101T120000 -u $(fpr expired@example.test)! --sign "
    "-o $W/expired.sig $W/payload\n"
    /* Signed first, then revoked with the certificate gpg made at generation time. */
    "g --quick-gen-key 'Revoked <revoked@example.test>' ed25519 sign never\n"
    "F=$(fpr revoked@example.test)\n"
    "g -u $F! --sign -o $W/revoked.sig $W/payload\n"
    "sed 's/^:-----BEGIN/-----BEGIN/' $GNUPGHOME/openpgp-revocs.d/$F.rev | g --import\n"
    /* Uncompressed, so a byte of the payload can be changed without breaking the packets. */
    "g -z 0 -u $(fpr a@example.test)! --sign -o $W/plain.sig $W/payload\n"
    "for k in a b sub expired revoked; do\n"
    "  gpg --export $k@example.test > $W/$k.gpg\n"
    "  fpr $k@example.test > $W/$k.fpr\n"
    "  subfpr $k@example.test > $W/$k.subfpr\n"
    "done\n"
    "base64 -w0 $W/a.gpg > $W/a.b64\n";

struct env {
        char *work; /* scratch root, removed at the end */
        char *gen;  /* GNUPGHOME the keys were made in; the "user's" keyring */
        char *tmp;  /* TMPDIR for the private keyrings */
        struct it_digest digest;
        char digest_str[IT_DIGEST_STR_MAX];
        char *a, *b, *sub, *sub_signer, *expired, *revoked; /* fingerprints */
        struct it_ref busybox;
};

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

static char *wpath(const struct env *e, const char *name)
{
        return xasprintf("%s/%s", e->work, name);
}

static char *wfile(const struct env *e, const char *name, size_t *len)
{
        _cleanup_free_ char *path = wpath(e, name);
        char *data = NULL;
        size_t n = 0;
        it_error err = IT_ERROR_INIT;
        if (it_file_read(path, 64u << 20, &data, &n, &err) != 0)
                fail_msg("cannot read %s: %s", path, err.msg);
        if (len)
                *len = n;
        return data;
}

static char *read_fpr(const struct env *e, const char *name)
{
        char *s = wfile(e, name, NULL);
        s[strcspn(s, "\n")] = '\0';
        assert_int_equal(strlen(s), 40);
        return s;
}

static int setup(void **state)
{
        struct env *e = xcalloc(1, sizeof *e);
        e->work = xstrdup("/tmp/imgtrust-sigcheck-test-XXXXXX");
        if (!mkdtemp(e->work))
                return -1;
        e->gen = xasprintf("%s/gen", e->work);
        e->tmp = xasprintf("%s/tmp", e->work);
        digest_compute(IT_DIGEST_SHA256, MANIFEST, strlen(MANIFEST), &e->digest);
        digest_format(&e->digest, e->digest_str);

        struct it_buf payload = IT_BUF_INIT;
        payload_build(BUSYBOX, e->digest_str, "imgtrust test", 1717171717, &payload);
        _cleanup_free_ char *ppath = wpath(e, "payload");
        _cleanup_free_ char *script = wpath(e, "gen.sh");
        it_error err = IT_ERROR_INIT;
        int rc = it_file_replace(ppath, payload.data, payload.len, 0644, &err);
        if (rc == 0)
                rc = it_file_replace(script, gen_script, strlen(gen_script), 0644, &err);
        it_buf_free(&payload);
        if (rc != 0) {
                fprintf(stderr, "setup: %s\n", err.msg);
                return -1;
        }
        rc = run("sh %s %s >%s/gen.log 2>&1", script, e->work, e->work);
        if (rc != 0) {
                run("cat %s/gen.log >&2", e->work);
                run("gpgconf --homedir %s --kill all >/dev/null 2>&1; rm -rf %s", e->gen, e->work);
                return -1;
        }
        setenv("GNUPGHOME", e->gen, 1);
        setenv("TMPDIR", e->tmp, 1);
        e->a = read_fpr(e, "a.fpr");
        e->b = read_fpr(e, "b.fpr");
        e->sub = read_fpr(e, "sub.fpr");
        e->sub_signer = read_fpr(e, "sub.subfpr");
        e->expired = read_fpr(e, "expired.fpr");
        e->revoked = read_fpr(e, "revoked.fpr");
        if (ref_parse_normalized(BUSYBOX, &e->busybox, &err) != 0)
                return -1;
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
        ref_free(&e->busybox);
        free(e->a);
        free(e->b);
        free(e->sub);
        free(e->sub_signer);
        free(e->expired);
        free(e->revoked);
        free(e->gen);
        free(e->tmp);
        free(e->work);
        free(e);
        return 0;
}

/* Every private keyring is gone once the call that made it returns. */
static void assert_tmp_empty(const struct env *e)
{
        DIR *d = opendir(e->tmp);
        assert_non_null(d);
        struct dirent *de;
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        fail_msg("left behind in TMPDIR: %s", de->d_name);
        }
        closedir(d);
}

/* Sign bytes with key (a fingerprint) from the user's keyring. */
static void sign_raw(const char *key, const char *payload, struct it_buf *out)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *spec = xasprintf("%s!", key);
        int rc = it_gpg_sign(spec, payload, strlen(payload), NULL, out, NULL, &err);
        if (rc != 0)
                fail_msg("it_gpg_sign(%s): %s", key, err.msg);
}

/* A payload for ref and digest, signed by key. */
static void sign_for(const char *key, const char *ref, const char *digest, struct it_buf *out)
{
        _cleanup_buf_ struct it_buf p = IT_BUF_INIT;
        payload_build(ref, digest, "imgtrust test", (int64_t)time(NULL), &p);
        sign_raw(key, it_buf_str(&p), out);
}

/* A policy whose default list is `reqs` (a JSON array text). */
static void parse_policy(const char *reqs, struct it_policy *p)
{
        _cleanup_free_ char *doc = xasprintf("{\"default\":%s}", reqs);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = policy_parse(doc, strlen(doc), "policy.json", p, &err);
        if (rc != 0)
                fail_msg("policy_parse(%s): %s", doc, err.msg);
}

/* A one-requirement policy: signedBy with keyPath $W/keyfile and the given signedIdentity
 * (a JSON object text, or NULL for the default). */
static void signed_by_policy(const struct env *e, const char *keyfile, const char *identity,
                             struct it_policy *p)
{
        _cleanup_free_ char *path = wpath(e, keyfile);
        _cleanup_free_ char *ident =
            identity ? xasprintf(",\"signedIdentity\":%s", identity) : xstrdup("");
        _cleanup_free_ char *reqs = xasprintf(
            "[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":\"%s\"%s}]", path, ident);
        parse_policy(reqs, p);
}

static struct it_sig_input sig_in(const struct it_buf *b, const char *source)
{
        return (struct it_sig_input){(const uint8_t *)b->data, b->len, source};
}

/* Run one signedBy requirement; on IT_EREJECTED return it and leave the error in *err. */
static int check_req(const struct env *e, const struct it_requirement *r, const struct it_ref *img,
                     const struct it_sig_input *sigs, size_t n, struct it_sig_accepted *acc,
                     it_error *err)
{
        int rc = sig_check_signed_by(NULL, r, img, &e->digest, sigs, n, acc, err);
        assert_tmp_empty(e);
        return rc;
}

/* Expect a rejection of one signature (source "sig-1") whose reason is exactly `detail`. */
static void expect_one_reason(const struct env *e, const char *keyfile, const char *identity,
                              const struct it_ref *img, const struct it_buf *sig,
                              const char *detail)
{
        struct it_policy p = IT_POLICY_INIT;
        signed_by_policy(e, keyfile, identity, &p);
        struct it_sig_input in = sig_in(sig, "sig-1");
        struct it_sig_accepted acc = {0};
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = check_req(e, &p.def.v[0], img, &in, 1, &acc, &err);
        assert_int_equal(rc, IT_EREJECTED);
        assert_int_equal(err.code, IT_EREJECTED);
        assert_string_equal(err.msg, "no signature from a trusted key");
        assert_int_equal(err.ndetails, 1);
        _cleanup_free_ char *want = xasprintf("sig-1: %s", detail);
        assert_string_equal(err.details[0], want);
        assert_null(acc.primary_fpr);
        sig_accepted_free(&acc);
        policy_free(&p);
}

/* ---- sig_verify_blob ---- */

static void test_verify_blob_ok(void **state)
{
        struct env *e = *state;
        _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
        sign_for(e->a, "busybox:latest", e->digest_str, &sig);
        struct it_gpg_keyring *kr = NULL;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(it_gpg_keyring_new(&kr, &err), 0);
        _cleanup_free_ char *keys = NULL;
        size_t klen = 0;
        keys = wfile(e, "a.gpg", &klen);
        assert_int_equal(it_gpg_keyring_import(kr, keys, klen, NULL, &err), 0);
        struct it_sig_verified v;
        int rc = sig_verify_blob(kr, sig.data, sig.len, &e->digest, &v, &err);
        it_gpg_keyring_free(kr);
        if (rc != 0)
                fail_msg("sig_verify_blob: %s", err.msg);
        assert_string_equal(v.primary_fpr, e->a);
        assert_string_equal(v.signer_fpr, e->a);
        /* The claim as signed, not normalised. */
        assert_string_equal(v.docker_reference, "busybox:latest");
        assert_string_equal(v.digest, e->digest_str);
        sig_verified_free(&v);
        assert_tmp_empty(e);
}

/* §10.3: a signing subkey's signature counts as its primary key's. */
static void test_verify_blob_subkey(void **state)
{
        struct env *e = *state;
        _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
        _cleanup_buf_ struct it_buf p = IT_BUF_INIT;
        payload_build(BUSYBOX, e->digest_str, NULL, 1, &p);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_strv_ struct it_strv warnings = IT_STRV_INIT;
        assert_int_equal(it_gpg_sign(e->sub, p.data, p.len, NULL, &sig, &warnings, &err), 0);
        assert_int_equal(warnings.n, 1);

        struct it_policy pol = IT_POLICY_INIT;
        signed_by_policy(e, "sub.gpg", NULL, &pol);
        struct it_sig_input in = sig_in(&sig, "sig-1");
        struct it_sig_accepted acc = {0};
        int rc = check_req(e, &pol.def.v[0], &e->busybox, &in, 1, &acc, &err);
        if (rc != 0)
                fail_msg("subkey signature: %s", err.msg);
        assert_string_equal(acc.primary_fpr, e->sub);
        assert_string_equal(acc.docker_reference, BUSYBOX);
        assert_string_equal(acc.source, "sig-1");
        sig_accepted_free(&acc);
        policy_free(&pol);
}

/* ---- sig_check_signed_by ---- */

static void test_accepted(void **state)
{
        struct env *e = *state;
        _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
        /* Short form: normalised to docker.io/library/busybox:latest (§10.20). */
        sign_for(e->a, "busybox:latest", e->digest_str, &sig);
        struct it_policy p = IT_POLICY_INIT;
        signed_by_policy(e, "a.gpg", NULL, &p);
        struct it_sig_input in = sig_in(&sig, "https://sigs.example.test/sig-1");
        struct it_sig_accepted acc = {0};
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = check_req(e, &p.def.v[0], &e->busybox, &in, 1, &acc, &err);
        if (rc != 0)
                fail_msg("rejected: %s", err.msg);
        assert_int_equal(err.code, 0);
        assert_string_equal(acc.primary_fpr, e->a);
        assert_string_equal(acc.docker_reference, "busybox:latest");
        assert_string_equal(acc.source, "https://sigs.example.test/sig-1");
        sig_accepted_free(&acc);
        /* `accepted` may be NULL. */
        assert_int_equal(check_req(e, &p.def.v[0], &e->busybox, &in, 1, NULL, &err), 0);
        policy_free(&p);
}

/* A cache keeps the requirement's keyring: the key file is read once, even if it goes away. */
static void test_cache_reuses_keyring(void **state)
{
        struct env *e = *state;
        _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
        sign_for(e->a, BUSYBOX, e->digest_str, &sig);
        _cleanup_free_ char *copy = wpath(e, "a-cached.gpg");
        size_t len = 0;
        _cleanup_free_ char *key = wfile(e, "a.gpg", &len);
        it_error err = IT_ERROR_INIT;
        assert_int_equal(it_file_replace(copy, key, len, 0644, &err), 0);
        struct it_policy p = IT_POLICY_INIT;
        signed_by_policy(e, "a-cached.gpg", NULL, &p);
        struct it_sig_input in = sig_in(&sig, "sig-1");
        struct it_sig_cache *cache = sig_cache_new();
        assert_int_equal(
            sig_check_signed_by(cache, &p.def.v[0], &e->busybox, &e->digest, &in, 1, NULL, &err),
            0);
        assert_int_equal(unlink(copy), 0);
        assert_int_equal(
            sig_check_signed_by(cache, &p.def.v[0], &e->busybox, &e->digest, &in, 1, NULL, &err),
            0);
        /* Without the cache the missing file is noticed. */
        assert_int_equal(
            sig_check_signed_by(NULL, &p.def.v[0], &e->busybox, &e->digest, &in, 1, NULL, &err),
            IT_EREJECTED);
        it_error_clear(&err);
        sig_cache_free(cache);
        assert_tmp_empty(e);
        policy_free(&p);
}

static void test_accepted_key_data(void **state)
{
        struct env *e = *state;
        _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
        sign_for(e->a, BUSYBOX, e->digest_str, &sig);
        _cleanup_free_ char *b64 = wfile(e, "a.b64", NULL);
        _cleanup_free_ char *reqs =
            xasprintf("[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyData\":\"%s\"}]", b64);
        struct it_policy p = IT_POLICY_INIT;
        parse_policy(reqs, &p);
        struct it_sig_input in = sig_in(&sig, "sig-1");
        struct it_sig_accepted acc = {0};
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = check_req(e, &p.def.v[0], &e->busybox, &in, 1, &acc, &err);
        if (rc != 0)
                fail_msg("rejected: %s", err.msg);
        assert_string_equal(acc.primary_fpr, e->a);
        sig_accepted_free(&acc);
        policy_free(&p);
}

/* §10.1: a valid signature by a key the requirement does not list. */
static void test_untrusted_key(void **state)
{
        struct env *e = *state;
        _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
        sign_for(e->a, BUSYBOX, e->digest_str, &sig);
        _cleanup_free_ char *want =
            xasprintf("no public key for key ID %s (not a trusted key)", e->a + 24);
        expect_one_reason(e, "b.gpg", NULL, &e->busybox, &sig, want);
}

static void test_tampered(void **state)
{
        struct env *e = *state;
        size_t len = 0;
        _cleanup_free_ char *blob = wfile(e, "plain.sig", &len);
        /* One hex digit of the signed digest, still a valid digest. */
        char *hit = memmem(blob, len, e->digest_str + 7, 64);
        assert_non_null(hit);
        hit[10] = hit[10] == '0' ? '1' : '0';
        struct it_buf sig = {.data = blob, .len = len};
        expect_one_reason(e, "a.gpg", NULL, &e->busybox, &sig, "bad signature (data was altered)");

        /* Untouched, the same blob is fine: the failure above is the changed byte. */
        _cleanup_free_ char *orig = wfile(e, "plain.sig", NULL);
        memcpy(blob, orig, len);
        struct it_policy p = IT_POLICY_INIT;
        signed_by_policy(e, "a.gpg", NULL, &p);
        struct it_sig_input in = sig_in(&sig, "sig-1");
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (check_req(e, &p.def.v[0], &e->busybox, &in, 1, NULL, &err) != 0)
                fail_msg("untampered: %s", err.msg);
        policy_free(&p);
}

/* §10.17: the signature names another manifest. */
static void test_digest_mismatch(void **state)
{
        struct env *e = *state;
        struct it_digest other;
        char os[IT_DIGEST_STR_MAX];
        digest_compute(IT_DIGEST_SHA256, "{}", 2, &other);
        digest_format(&other, os);
        _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
        sign_for(e->a, BUSYBOX, os, &sig);
        _cleanup_free_ char *want = xasprintf(
            "signature is for manifest digest %s, not this image's %s", os, e->digest_str);
        expect_one_reason(e, "a.gpg", NULL, &e->busybox, &sig, want);
}

static void test_identity_mismatch(void **state)
{
        struct env *e = *state;
        static const struct {
                const char *identity; /* signedIdentity JSON */
                const char *image;    /* the image's reference */
                const char *signed_ref;
                const char *reason;
        } cases[] = {
            {"{\"type\":\"matchExact\"}", BUSYBOX, "docker.io/library/busybox:1.36",
             "identity: signature is for \"docker.io/library/busybox:1.36\", not "
             "\"docker.io/library/busybox:latest\""},
            /* §10.23: a name-only claim fails the default rule. */
            {"{\"type\":\"matchRepoDigestOrExact\"}", BUSYBOX, "docker.io/library/busybox",
             "identity: signature identity \"docker.io/library/busybox\" has neither tag nor "
             "digest; matchRepoDigestOrExact needs one"},
            {"{\"type\":\"matchRepository\"}", BUSYBOX, "docker.io/library/alpine:latest",
             "identity: signature is for repository \"docker.io/library/alpine\", not "
             "\"docker.io/library/busybox\""},
            {"{\"type\":\"exactReference\",\"dockerReference\":\"quay.io/team/app:1\"}", BUSYBOX,
             BUSYBOX,
             "identity: signature is for \"docker.io/library/busybox:latest\", not "
             "\"quay.io/team/app:1\" (exactReference)"},
            {"{\"type\":\"exactRepository\",\"dockerRepository\":\"quay.io/team/app\"}", BUSYBOX,
             BUSYBOX,
             "identity: signature is for repository \"docker.io/library/busybox\", not "
             "\"quay.io/team/app\" (exactRepository)"},
            {"{\"type\":\"remapIdentity\",\"prefix\":\"mirror.example.test\",\"signedPrefix\":"
             "\"docker.io/library\"}",
             "mirror.example.test/busybox:latest", "docker.io/library/alpine:latest",
             "identity: signature is for \"docker.io/library/alpine:latest\", not "
             "\"docker.io/library/busybox:latest\" (remapped from "
             "\"mirror.example.test/busybox:latest\")"},
            /* §10.25: a rewrite that is not canonical never matches. */
            {"{\"type\":\"remapIdentity\",\"prefix\":\"mirror.example.test\",\"signedPrefix\":"
             "\"docker.io\"}",
             "mirror.example.test/busybox:latest", "docker.io/library/busybox:latest",
             "identity: remapIdentity rewrote \"mirror.example.test/busybox:latest\" to "
             "\"docker.io/busybox:latest\", which is not a canonical reference"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
                sign_for(e->a, cases[i].signed_ref, e->digest_str, &sig);
                _cleanup_ref_ struct it_ref img = IT_REF_INIT;
                _cleanup_error_ it_error err = IT_ERROR_INIT;
                assert_int_equal(ref_parse_normalized(cases[i].image, &img, &err), 0);
                print_message("case %zu: %s\n", i, cases[i].identity);
                expect_one_reason(e, "a.gpg", cases[i].identity, &img, &sig, cases[i].reason);
        }
}

/* The same rules accept a matching claim (so the rejections above are about the identity). */
static void test_identity_match(void **state)
{
        struct env *e = *state;
        static const struct {
                const char *identity, *image, *signed_ref;
        } cases[] = {
            {"{\"type\":\"matchExact\"}", BUSYBOX, "busybox:latest"},
            {"{\"type\":\"matchRepoDigestOrExact\"}", BUSYBOX, BUSYBOX},
            {"{\"type\":\"matchRepository\"}", BUSYBOX, "docker.io/library/busybox:1.36"},
            {"{\"type\":\"exactReference\",\"dockerReference\":\"quay.io/team/app:1\"}", BUSYBOX,
             "quay.io/team/app:1"},
            {"{\"type\":\"exactRepository\",\"dockerRepository\":\"quay.io/team/app\"}", BUSYBOX,
             "quay.io/team/app:2"},
            {"{\"type\":\"remapIdentity\",\"prefix\":\"mirror.example.test\",\"signedPrefix\":"
             "\"docker.io/library\"}",
             "mirror.example.test/busybox:latest", BUSYBOX},
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
                _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
                sign_for(e->a, cases[i].signed_ref, e->digest_str, &sig);
                _cleanup_ref_ struct it_ref img = IT_REF_INIT;
                _cleanup_error_ it_error err = IT_ERROR_INIT;
                assert_int_equal(ref_parse_normalized(cases[i].image, &img, &err), 0);
                struct it_policy p = IT_POLICY_INIT;
                signed_by_policy(e, "a.gpg", cases[i].identity, &p);
                struct it_sig_input in = sig_in(&sig, "sig-1");
                if (check_req(e, &p.def.v[0], &img, &in, 1, NULL, &err) != 0)
                        fail_msg("case %zu (%s): %s; %s", i, cases[i].identity, err.msg,
                                 err.ndetails ? err.details[0] : "");
                policy_free(&p);
        }
}

/* §10.9: a critical member this implementation does not know. */
static void test_unknown_critical(void **state)
{
        struct env *e = *state;
        _cleanup_free_ char *payload = xasprintf(
            "{\"critical\":{\"identity\":{\"docker-reference\":\"%s\"},\"image\":{\"docker-"
            "manifest-digest\":\"%s\"},\"type\":\"atomic container signature\",\"future\":true},"
            "\"optional\":{}}",
            BUSYBOX, e->digest_str);
        _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
        sign_raw(e->a, payload, &sig);
        expect_one_reason(e, "a.gpg", NULL, &e->busybox, &sig,
                          "payload: critical.future: unknown member");
}

static void test_missing_critical(void **state)
{
        struct env *e = *state;
        _cleanup_free_ char *payload =
            xasprintf("{\"critical\":{\"image\":{\"docker-manifest-digest\":\"%s\"},\"type\":"
                      "\"atomic container signature\"},\"optional\":{}}",
                      e->digest_str);
        _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
        sign_raw(e->a, payload, &sig);
        expect_one_reason(e, "a.gpg", NULL, &e->busybox, &sig,
                          "payload: critical.identity: missing");
}

static void test_expired_key(void **state)
{
        struct env *e = *state;
        size_t len = 0;
        _cleanup_free_ char *blob = wfile(e, "expired.sig", &len);
        struct it_buf sig = {.data = blob, .len = len};
        _cleanup_free_ char *want = xasprintf("key %s has expired", e->expired);
        expect_one_reason(e, "expired.gpg", NULL, &e->busybox, &sig, want);
}

static void test_revoked_key(void **state)
{
        struct env *e = *state;
        size_t len = 0;
        _cleanup_free_ char *blob = wfile(e, "revoked.sig", &len);
        struct it_buf sig = {.data = blob, .len = len};
        _cleanup_free_ char *want = xasprintf("key %s is revoked", e->revoked);
        expect_one_reason(e, "revoked.gpg", NULL, &e->busybox, &sig, want);
}

/* §10.29: garbage around one good signature does not matter; the source of the good one is
 * what is reported. */
static void test_one_valid_among_garbage(void **state)
{
        struct env *e = *state;
        _cleanup_buf_ struct it_buf good = IT_BUF_INIT;
        sign_for(e->a, BUSYBOX, e->digest_str, &good);
        /* OpenPGP-shaped junk: passes format sniffing, fails the envelope. */
        struct it_buf junk = {.data = (char *)"\xa3not a signature", .len = 16};
        _cleanup_buf_ struct it_buf cut = IT_BUF_INIT;
        it_buf_add(&cut, good.data, good.len / 2);
        _cleanup_buf_ struct it_buf wrongkey = IT_BUF_INIT;
        sign_for(e->b, BUSYBOX, e->digest_str, &wrongkey);
        struct it_sig_input sigs[] = {sig_in(&junk, "sig-1"), sig_in(&cut, "sig-2"),
                                      sig_in(&wrongkey, "sig-3"), sig_in(&good, "sig-4"),
                                      sig_in(&junk, "sig-5")};
        struct it_policy p = IT_POLICY_INIT;
        signed_by_policy(e, "a.gpg", NULL, &p);
        struct it_sig_accepted acc = {0};
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = check_req(e, &p.def.v[0], &e->busybox, sigs, 5, &acc, &err);
        if (rc != 0)
                fail_msg("rejected: %s", err.msg);
        assert_string_equal(acc.source, "sig-4");
        assert_string_equal(acc.primary_fpr, e->a);
        assert_int_equal(err.ndetails, 0);
        sig_accepted_free(&acc);
        policy_free(&p);
}

/* All bad: one detail line per signature, in order, each naming its source. */
static void test_details_per_signature(void **state)
{
        struct env *e = *state;
        _cleanup_buf_ struct it_buf wrongkey = IT_BUF_INIT;
        sign_for(e->b, BUSYBOX, e->digest_str, &wrongkey);
        _cleanup_buf_ struct it_buf other = IT_BUF_INIT;
        sign_for(e->a, "docker.io/library/alpine:latest", e->digest_str, &other);
        struct it_buf empty = {.data = (char *)"=", .len = 1}; /* '=': simple signing to upstream */
        struct it_buf sigstore = {.data = (char *)"\0sigstore-json\n{}", .len = 17};
        struct it_sig_input sigs[] = {
            sig_in(&wrongkey, "file:///s/sig-1"), sig_in(&empty, "file:///s/sig-2"),
            sig_in(&sigstore, "file:///s/sig-3"), sig_in(&other, "file:///s/sig-4")};
        struct it_policy p = IT_POLICY_INIT;
        signed_by_policy(e, "a.gpg", NULL, &p);
        struct it_sig_accepted acc = {0};
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = check_req(e, &p.def.v[0], &e->busybox, sigs, 4, &acc, &err);
        assert_int_equal(rc, IT_EREJECTED);
        assert_string_equal(err.msg, "no signature from a trusted key");
        assert_int_equal(err.ndetails, 4);
        _cleanup_free_ char *d1 = xasprintf(
            "file:///s/sig-1: no public key for key ID %s (not a trusted key)", e->b + 24);
        assert_string_equal(err.details[0], d1);
        assert_string_equal(err.details[1], "file:///s/sig-2: signature: OpenPGP data: byte 0x3d "
                                            "at offset 0 is not a packet header");
        assert_string_equal(err.details[2],
                            "file:///s/sig-3: a sigstore signature, passed over by signedBy");
        assert_string_equal(err.details[3], "file:///s/sig-4: identity: signature is for "
                                            "\"docker.io/library/alpine:latest\", not "
                                            "\"docker.io/library/busybox:latest\"");
        for (size_t i = 0; i < err.ndetails; i++)
                assert_null(strchr(err.details[i], '\n'));
        assert_null(acc.source);
        policy_free(&p);
}

/* §4.2/§4.6: one blob of no recognisable format fails the whole read, as upstream. */
static void test_unrecognised_blob_fails_read(void **state)
{
        struct env *e = *state;
        _cleanup_buf_ struct it_buf good = IT_BUF_INIT;
        sign_for(e->a, BUSYBOX, e->digest_str, &good);
        struct it_buf armored = {.data = (char *)"-----BEGIN PGP MESSAGE-----\n", .len = 28};
        struct it_buf empty = {.data = (char *)"", .len = 0};
        struct it_policy p = IT_POLICY_INIT;
        signed_by_policy(e, "a.gpg", NULL, &p);
        const struct it_buf *bad[] = {&armored, &empty};
        for (size_t i = 0; i < 2; i++) {
                struct it_sig_input sigs[] = {sig_in(bad[i], "sig-1"), sig_in(&good, "sig-2")};
                _cleanup_error_ it_error err = IT_ERROR_INIT;
                assert_int_equal(check_req(e, &p.def.v[0], &e->busybox, sigs, 2, NULL, &err),
                                 IT_EREJECTED);
                char *m = it_error_format(&err);
                if (strncmp(m, "reading signatures: sig-1: signature: ", 38) != 0)
                        fail_msg("unexpected: %s", m);
                free(m);
        }
        /* A tagged simple-signing blob is read without its prefix. */
        _cleanup_buf_ struct it_buf tagged = IT_BUF_INIT;
        it_buf_add(&tagged, "\0simple-signing\n", 16);
        it_buf_add(&tagged, good.data, good.len);
        struct it_sig_input one = sig_in(&tagged, "sig-1");
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = check_req(e, &p.def.v[0], &e->busybox, &one, 1, NULL, &err);
        if (rc != 0)
                fail_msg("tagged blob rejected: %s", err.msg);
        policy_free(&p);
}

/* §10.28 */
static void test_no_signatures(void **state)
{
        struct env *e = *state;
        struct it_policy p = IT_POLICY_INIT;
        signed_by_policy(e, "a.gpg", NULL, &p);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = check_req(e, &p.def.v[0], &e->busybox, NULL, 0, NULL, &err);
        assert_int_equal(rc, IT_EREJECTED);
        assert_string_equal(err.msg, "a signature was required, but no signature exists");
        assert_int_equal(err.ndetails, 0);
        policy_free(&p);
}

/* signedBy passes over sigstore signatures, so a sigstore-only image has none for it. */
static void test_only_sigstore(void **state)
{
        struct env *e = *state;
        struct it_buf sigstore = {.data = (char *)"\0sigstore-json\n{}", .len = 17};
        struct it_sig_input in = sig_in(&sigstore, "sig-1");
        struct it_policy p = IT_POLICY_INIT;
        signed_by_policy(e, "a.gpg", NULL, &p);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = check_req(e, &p.def.v[0], &e->busybox, &in, 1, NULL, &err);
        assert_int_equal(rc, IT_EREJECTED);
        assert_string_equal(err.msg, "a signature was required, but no signature exists");
        assert_int_equal(err.ndetails, 1);
        assert_string_equal(err.details[0], "sig-1: a sigstore signature, passed over by signedBy");
        policy_free(&p);
}

/* §10.41 */
static void test_key_paths_empty(void **state)
{
        struct env *e = *state;
        _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
        sign_for(e->a, BUSYBOX, e->digest_str, &sig);
        struct it_policy p = IT_POLICY_INIT;
        parse_policy("[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPaths\":[]}]", &p);
        struct it_sig_input in = sig_in(&sig, "sig-1");
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = check_req(e, &p.def.v[0], &e->busybox, &in, 1, NULL, &err);
        assert_int_equal(rc, IT_EREJECTED);
        _cleanup_free_ char *m = it_error_format(&err);
        assert_string_equal(m, "no public keys imported from the requirement's keys");
        policy_free(&p);
}

/* A key file with no key in it is no better. */
static void test_key_file_without_keys(void **state)
{
        struct env *e = *state;
        _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
        sign_for(e->a, BUSYBOX, e->digest_str, &sig);
        _cleanup_free_ char *path = wpath(e, "empty.gpg");
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(it_file_replace(path, "", 0, 0644, &err), 0);
        struct it_policy p = IT_POLICY_INIT;
        signed_by_policy(e, "empty.gpg", NULL, &p);
        struct it_sig_input in = sig_in(&sig, "sig-1");
        int rc = check_req(e, &p.def.v[0], &e->busybox, &in, 1, NULL, &err);
        assert_int_equal(rc, IT_EREJECTED);
        _cleanup_free_ char *m = it_error_format(&err);
        assert_string_equal(m, "no public keys imported from the requirement's keys");
        policy_free(&p);
}

static void test_missing_key_file(void **state)
{
        struct env *e = *state;
        _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
        sign_for(e->a, BUSYBOX, e->digest_str, &sig);
        _cleanup_free_ char *missing = wpath(e, "nosuch.gpg");
        _cleanup_free_ char *good = wpath(e, "a.gpg");
        /* A good key file beside it does not save the requirement. */
        _cleanup_free_ char *reqs = xasprintf(
            "[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPaths\":[\"%s\",\"%s\"]}]", good,
            missing);
        struct it_policy p = IT_POLICY_INIT;
        parse_policy(reqs, &p);
        struct it_sig_input in = sig_in(&sig, "sig-1");
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = check_req(e, &p.def.v[0], &e->busybox, &in, 1, NULL, &err);
        assert_int_equal(rc, IT_EREJECTED);
        assert_int_equal(err.code, IT_EREJECTED);
        _cleanup_free_ char *m = it_error_format(&err);
        if (!strstr(m, missing) || !strstr(m, "No such file or directory"))
                fail_msg("reason does not name %s and why: %s", missing, m);
        assert_null(strchr(m, '\n'));
        policy_free(&p);
}

/* ---- sig_check_policy ---- */

static int check_policy(const struct env *e, const char *reqs, const char *image,
                        const struct it_sig_input *sigs, size_t n, struct it_strv *lines,
                        it_error *err)
{
        struct it_policy p = IT_POLICY_INIT;
        parse_policy(reqs, &p);
        struct it_image img = IT_IMAGE_INIT;
        _cleanup_error_ it_error perr = IT_ERROR_INIT;
        if (policy_image_parse(image, &img, &perr) != 0)
                fail_msg("policy_image_parse(%s): %s", image, perr.msg);
        struct it_eval ev = IT_EVAL_INIT;
        policy_eval(&p, &img, &ev);
        int rc = sig_check_policy(NULL, &ev, &img, &e->digest, sigs, n, lines, err);
        policy_eval_free(&ev);
        policy_image_free(&img);
        policy_free(&p);
        assert_tmp_empty(e);
        return rc;
}

/* §10.30, §6.8: each signedBy needs its own signature. */
static void test_policy_two_signed_by(void **state)
{
        struct env *e = *state;
        _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
        sign_for(e->a, BUSYBOX, e->digest_str, &sig);
        _cleanup_free_ char *ka = wpath(e, "a.gpg");
        _cleanup_free_ char *kb = wpath(e, "b.gpg");
        _cleanup_free_ char *reqs =
            xasprintf("[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":\"%s\"},"
                      "{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":\"%s\"}]",
                      ka, kb);
        struct it_sig_input in = sig_in(&sig, "sig-1");
        _cleanup_strv_ struct it_strv lines = IT_STRV_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = check_policy(e, reqs, "docker://busybox", &in, 1, &lines, &err);
        assert_int_equal(rc, IT_EREJECTED);
        _cleanup_free_ char *m = it_error_format(&err);
        assert_string_equal(
            m, "requirement 2 (signedBy, default[1]): no signature from a trusted key");
        assert_int_equal(err.ndetails, 1);
        _cleanup_free_ char *d =
            xasprintf("sig-1: no public key for key ID %s (not a trusted key)", e->a + 24);
        assert_string_equal(err.details[0], d);
        /* Requirement 1 was satisfied before 2 failed. */
        assert_int_equal(lines.n, 1);
        _cleanup_free_ char *l =
            xasprintf("requirement 1 (signedBy): sig-1: signed by %s for %s", e->a, BUSYBOX);
        assert_string_equal(lines.v[0], l);

        /* With B's signature too, both pass, each with its own. */
        _cleanup_buf_ struct it_buf sigb = IT_BUF_INIT;
        sign_for(e->b, "busybox:latest", e->digest_str, &sigb);
        struct it_sig_input both[] = {sig_in(&sig, "sig-1"), sig_in(&sigb, "sig-2")};
        _cleanup_strv_ struct it_strv lines2 = IT_STRV_INIT;
        it_error_clear(&err);
        rc = check_policy(e, reqs, "docker://busybox", both, 2, &lines2, &err);
        if (rc != 0)
                fail_msg("rejected: %s", err.msg);
        assert_int_equal(lines2.n, 2);
        assert_string_equal(lines2.v[0], l);
        _cleanup_free_ char *l2 =
            xasprintf("requirement 2 (signedBy): sig-2: signed by %s for busybox:latest", e->b);
        assert_string_equal(lines2.v[1], l2);
}

static void test_policy_other_types(void **state)
{
        struct env *e = *state;
        _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
        sign_for(e->a, BUSYBOX, e->digest_str, &sig);
        struct it_sig_input in = sig_in(&sig, "sig-1");
        _cleanup_strv_ struct it_strv lines = IT_STRV_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;

        /* A valid signature does not sway reject. */
        int rc =
            check_policy(e, "[{\"type\":\"reject\"}]", "docker://busybox", &in, 1, &lines, &err);
        assert_int_equal(rc, IT_EREJECTED);
        _cleanup_free_ char *m1 = it_error_format(&err);
        assert_string_equal(m1, "requirement 1 (reject, default[0]): rejects every image");
        assert_int_equal(lines.n, 0);

        it_error_clear(&err);
        rc = check_policy(e, "[{\"type\":\"insecureAcceptAnything\"}]", "docker://busybox", NULL, 0,
                          &lines, &err);
        assert_int_equal(rc, 0);
        assert_int_equal(err.code, 0);
        /* Neutral: no signature is "accepted" by it. */
        assert_int_equal(lines.n, 0);

        /* §6.6: parses, always rejects. */
        it_error_clear(&err);
        rc = check_policy(e,
                          "[{\"type\":\"signedBaseLayer\",\"baseLayerIdentity\":{\"type\":"
                          "\"matchRepository\"}}]",
                          "docker://busybox", &in, 1, &lines, &err);
        assert_int_equal(rc, IT_EREJECTED);
        _cleanup_free_ char *m3 = it_error_format(&err);
        if (strncmp(m3, "requirement 1 (signedBaseLayer, default[0]): ", 45) != 0 ||
            !strstr(m3, "not implemented"))
                fail_msg("signedBaseLayer: %s", m3);

        it_error_clear(&err);
        _cleanup_free_ char *ka = wpath(e, "a.gpg");
        _cleanup_free_ char *reqs =
            xasprintf("[{\"type\":\"sigstoreSigned\",\"keyPath\":\"%s\"}]", ka);
        rc = check_policy(e, reqs, "docker://busybox", &in, 1, &lines, &err);
        assert_int_equal(rc, IT_EUNSUPPORTED);
        _cleanup_free_ char *m4 = it_error_format(&err);
        if (strncmp(m4, "requirement 1 (sigstoreSigned, default[0]): ", 44) != 0)
                fail_msg("sigstoreSigned: %s", m4);

        /* insecureAcceptAnything then reject: the list is ANDed. */
        it_error_clear(&err);
        rc = check_policy(e, "[{\"type\":\"insecureAcceptAnything\"},{\"type\":\"reject\"}]",
                          "docker://busybox", &in, 1, &lines, &err);
        assert_int_equal(rc, IT_EREJECTED);
        _cleanup_free_ char *m5 = it_error_format(&err);
        assert_string_equal(m5, "requirement 2 (reject, default[1]): rejects every image");
        assert_int_equal(lines.n, 0);
}

/* §10.27: an image without a Docker identity only passes rules that ignore it. */
static void test_policy_no_docker_identity(void **state)
{
        struct env *e = *state;
        _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
        sign_for(e->a, BUSYBOX, e->digest_str, &sig);
        struct it_sig_input in = sig_in(&sig, "sig-1");
        _cleanup_free_ char *ka = wpath(e, "a.gpg");
        _cleanup_free_ char *image = xasprintf("dir:%s", e->work);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *def =
            xasprintf("[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":\"%s\"}]", ka);
        int rc = check_policy(e, def, image, &in, 1, NULL, &err);
        assert_int_equal(rc, IT_EREJECTED);
        assert_int_equal(err.ndetails, 1);
        assert_string_equal(err.details[0], "sig-1: identity: image has no Docker reference; "
                                            "matchRepoDigestOrExact cannot match");

        it_error_clear(&err);
        _cleanup_free_ char *exact = xasprintf(
            "[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":\"%s\","
            "\"signedIdentity\":{\"type\":\"exactReference\",\"dockerReference\":\"%s\"}}]",
            ka, BUSYBOX);
        _cleanup_strv_ struct it_strv lines = IT_STRV_INIT;
        rc = check_policy(e, exact, image, &in, 1, &lines, &err);
        if (rc != 0)
                fail_msg("exactReference for dir: %s", err.msg);
        assert_int_equal(lines.n, 1);
}

/* ---- sig_export_user_keys ---- */

/* The trusted set of a keyring made from what was exported. */
static void import_exported(const struct env *e, const struct it_buf *keys, struct it_strv *out)
{
        struct it_gpg_keyring *kr = NULL;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(it_gpg_keyring_new(&kr, &err), 0);
        if (it_gpg_keyring_import(kr, keys->data, keys->len, NULL, &err) != 0)
                fail_msg("import: %s", err.msg);
        const struct it_strv *t = it_gpg_keyring_trusted(kr);
        for (size_t i = 0; i < t->n; i++)
                it_strv_push(out, t->v[i]);
        it_gpg_keyring_free(kr);
        assert_tmp_empty(e);
}

static void test_export_user_keys(void **state)
{
        struct env *e = *state;
        _cleanup_strv_ struct it_strv fprs = IT_STRV_INIT;
        it_strv_push(&fprs, e->a);
        _cleanup_buf_ struct it_buf keys = IT_BUF_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (sig_export_user_keys(&fprs, &keys, &err) != 0)
                fail_msg("export: %s", err.msg);
        /* Binary, not armored. */
        assert_true(keys.len > 0);
        assert_true((unsigned char)keys.data[0] & 0x80);
        _cleanup_strv_ struct it_strv got = IT_STRV_INIT;
        import_exported(e, &keys, &got);
        assert_int_equal(got.n, 1);
        assert_string_equal(got.v[0], e->a);

        /* Only the named keys: B joins when named, nothing else does. */
        it_strv_push(&fprs, e->b);
        it_buf_free(&keys);
        if (sig_export_user_keys(&fprs, &keys, &err) != 0)
                fail_msg("export: %s", err.msg);
        _cleanup_strv_ struct it_strv got2 = IT_STRV_INIT;
        import_exported(e, &keys, &got2);
        assert_int_equal(got2.n, 2);
        assert_true(it_strv_contains(&got2, e->a));
        assert_true(it_strv_contains(&got2, e->b));

        _cleanup_strv_ struct it_strv none = IT_STRV_INIT;
        it_strv_push(&none, "0123456789ABCDEF0123456789ABCDEF01234567");
        _cleanup_buf_ struct it_buf nokeys = IT_BUF_INIT;
        assert_int_equal(sig_export_user_keys(&none, &nokeys, &err), IT_EREJECTED);
        assert_string_equal(
            err.msg, "no public key 0123456789ABCDEF0123456789ABCDEF01234567 in your keyring");
        assert_int_equal(nokeys.len, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_verify_blob_ok),
            cmocka_unit_test(test_verify_blob_subkey),
            cmocka_unit_test(test_accepted),
            cmocka_unit_test(test_cache_reuses_keyring),
            cmocka_unit_test(test_accepted_key_data),
            cmocka_unit_test(test_untrusted_key),
            cmocka_unit_test(test_tampered),
            cmocka_unit_test(test_digest_mismatch),
            cmocka_unit_test(test_identity_mismatch),
            cmocka_unit_test(test_identity_match),
            cmocka_unit_test(test_unknown_critical),
            cmocka_unit_test(test_missing_critical),
            cmocka_unit_test(test_expired_key),
            cmocka_unit_test(test_revoked_key),
            cmocka_unit_test(test_one_valid_among_garbage),
            cmocka_unit_test(test_unrecognised_blob_fails_read),
            cmocka_unit_test(test_details_per_signature),
            cmocka_unit_test(test_no_signatures),
            cmocka_unit_test(test_only_sigstore),
            cmocka_unit_test(test_key_paths_empty),
            cmocka_unit_test(test_key_file_without_keys),
            cmocka_unit_test(test_missing_key_file),
            cmocka_unit_test(test_policy_two_signed_by),
            cmocka_unit_test(test_policy_other_types),
            cmocka_unit_test(test_policy_no_docker_identity),
            cmocka_unit_test(test_export_user_keys),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
