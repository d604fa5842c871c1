/* Key-file inspection through gpgme in a throw-away GNUPGHOME, and podman's ID column.
 *
 * The setup generates real keys with gpg in a scratch home and exports them; expectations come from
 * gpg itself (`--with-colons --fingerprint` for fingerprints, and `gpg --with-colons FILE`, which
 * is what podman runs, for the ID column). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/keyfile.h"
#include "imgtrust/strv.h"
#include "imgtrust/xalloc.h"

struct env {
        char *work; /* scratch root, removed at the end */
        char *gen;  /* GNUPGHOME the keys were generated in */
};

/* Generates the keys and their exports in $W (argument 1). Faked times make an expired key and
 * an expired subkey without waiting. */
static const char gen_script[] =
    "set -e\n"
    "W=$1\n"
    "export GNUPGHOME=$W/gen\n"
    "mkdir -m 700 $GNUPGHOME\n"
    "g() { gpg --batch --no-tty --passphrase '' --pinentry-mode loopback \"$@\"; }\n"
    "fpr() { gpg --with-colons --list-keys \"$1\" | awk -F: '/^fpr/{print $10; exit}'; }\n"
    "g --quick-gen-key 'Test One <one@example.test>' ed25519 sign never\n"
    "g --quick-gen-key 'Test Two <two@example.test>' ed25519 sign never\n"
    "g --quick-gen-key 'Multi Uid <multi@example.test>' ed25519 sign never\n"
    "g --quick-add-uid $(fpr multi@example.test) 'Multi Alt <alt@example.test>'\n"
    "g --quick-gen-key 'No Mail Person' ed25519 sign never\n"
    "g --quick-gen-key 'Rsa Key <rsa@example.test>' rsa2048 cert never\n"
    "g --quick-add-key $(fpr rsa@example.test) rsa2048 sign never\n"
    "g --quick-gen-key 'Cert Only <cert@example.test>' ed25519 cert never\n"
    "g --faked-system-time 20200101T000000 --quick-gen-key 'Old Sub <oldsub@example.test>' "
    "ed25519 cert never\n"
    "g --faked-system-time 20200102T000000 --quick-add-key $(fpr oldsub@example.test) ed25519 "
    "sign 1d\n"
    "g --faked-system-time 20200101T000000 --quick-gen-key 'Expired <expired@example.test>' "
    "ed25519 sign 2d\n"
    "g --quick-gen-key 'Revoked <revoked@example.test>' ed25519 sign never\n"
    "F=$(fpr revoked@example.test)\n"
    "sed 's/^:-----BEGIN/-----BEGIN/' $GNUPGHOME/openpgp-revocs.d/$F.rev | g --import\n"
    "g --quick-gen-key 'Revsub <revsub@example.test>' ed25519 cert never\n"
    "F=$(fpr revsub@example.test)\n"
    "g --quick-add-key $F ed25519 sign never\n"
    "printf 'key 1\\nrevkey\\ny\\n0\\n\\ny\\nsave\\n' | "
    "g --yes --command-fd 0 --edit-key $F\n"
    "g --quick-gen-key 'Weird: Name\\back <we:ird@x.test> tail' ed25519 sign never\n"
    "g --quick-gen-key 'a>b<c' ed25519 sign never\n"
    "for k in one two multi rsa cert oldsub expired revoked revsub; do\n"
    "  gpg --export --armor $k@example.test > $W/$k.asc\n"
    "  gpg --export $k@example.test > $W/$k.gpg\n"
    "done\n"
    "gpg --export --armor 'No Mail Person' > $W/nomail.asc\n"
    "gpg --export --armor we:ird@x.test > $W/weird.asc\n"
    "gpg --export --armor 'a>b<c' > $W/angle.asc\n"
    "cat $W/one.asc $W/two.asc > $W/one-two.asc\n"
    "cat $W/two.asc $W/one.asc > $W/two-one.asc\n"
    "cat $W/one.gpg $W/two.gpg > $W/one-two.gpg\n"
    "cat $W/two.asc $W/one.gpg > $W/mixed\n"
    "gpg --export --armor > $W/all.asc\n"
    "head -c 4096 /dev/urandom > $W/random.bin\n"
    "printf 'hello, not a key\\n' > $W/text.txt\n"
    "head -c 120 $W/one.gpg > $W/truncated.gpg\n"
    "head -c 40 $W/one.gpg > $W/truncated40.gpg\n"
    "printf -- '-----BEGIN PGP PUBLIC KEY BLOCK-----\\n\\nAAAA\\n"
    "-----END PGP PUBLIC KEY BLOCK-----\\n' > $W/badarmor.asc\n"
    "mkdir -m 700 $W/scratch\n";

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

static int setup(void **state)
{
        struct env *e = xcalloc(1, sizeof *e);
        e->work = xstrdup("/tmp/imgtrust-keyfile-test-XXXXXX");
        if (!mkdtemp(e->work))
                return -1;
        e->gen = xasprintf("%s/gen", e->work);
        _cleanup_free_ char *script = xasprintf("%s/gen.sh", e->work);
        FILE *f = fopen(script, "w");
        if (!f)
                return -1;
        fputs(gen_script, f);
        fclose(f);
        int rc = run("sh %s %s >%s/gen.log 2>&1", script, e->work, e->work);
        if (rc != 0) {
                run("cat %s/gen.log >&2", e->work);
                return -1;
        }
        *state = e;
        return 0;
}

static int teardown(void **state)
{
        struct env *e = *state;
        if (!e)
                return 0;
        /* Key generation started an agent for the scratch home. */
        run("gpgconf --homedir %s --kill all >/dev/null 2>&1", e->gen);
        run("rm -rf %s", e->work);
        free(e->gen);
        free(e->work);
        free(e);
        return 0;
}

static char *wpath(const struct env *e, const char *name)
{
        return xasprintf("%s/%s", e->work, name);
}

/* Lines of a command's stdout. */
static void read_lines(const char *cmd, struct it_strv *out)
{
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, p)) > 0) {
                if (line[n - 1] == '\n')
                        line[--n] = '\0';
                it_strv_push(out, line);
        }
        free(line);
        assert_int_equal(pclose(p), 0);
}

/* Field i (from 1) of a colon-separated line. Allocates. */
static char *field(const char *line, int i)
{
        const char *s = line;
        for (int k = 1; k < i; k++) {
                s = strchr(s, ':');
                if (!s)
                        return xstrdup("");
                s++;
        }
        return xstrndup(s, strcspn(s, ":"));
}

/* What gpg reports for the key with this e-mail (or user ID): primary fingerprint, subkey
 * fingerprints, uids (colon-escaped), from the generating keyring. */
struct gpg_key {
        char *fpr;
        struct it_strv subs;
        struct it_strv uids;
};

static void gpg_key_free(struct gpg_key *k)
{
        free(k->fpr);
        it_strv_free(&k->subs);
        it_strv_free(&k->uids);
}

static void gpg_key(const struct env *e, const char *who, struct gpg_key *k)
{
        memset(k, 0, sizeof *k);
        _cleanup_strv_ struct it_strv lines = IT_STRV_INIT;
        _cleanup_free_ char *cmd =
            xasprintf("gpg --homedir %s --with-colons --fingerprint --list-keys '%s' 2>/dev/null",
                      e->gen, who);
        read_lines(cmd, &lines);
        const char *last = "";
        for (size_t i = 0; i < lines.n; i++) {
                const char *l = lines.v[i];
                if (!strncmp(l, "pub:", 4) || !strncmp(l, "sub:", 4)) {
                        last = l;
                } else if (!strncmp(l, "fpr:", 4)) {
                        char *f = field(l, 10);
                        if (!strncmp(last, "pub:", 4) && !k->fpr)
                                k->fpr = f;
                        else if (!strncmp(last, "sub:", 4))
                                it_strv_take(&k->subs, f);
                        else
                                free(f);
                        last = "";
                } else if (!strncmp(l, "uid:", 4)) {
                        it_strv_take(&k->uids, field(l, 10));
                }
        }
        assert_non_null(k->fpr);
        assert_int_equal(strlen(k->fpr), 40);
}

/* podman's parseUids over `gpg --with-colons FILE`, reproduced from its Go source. */
static void podman_ids_from_gpg(const struct env *e, const char *file, struct it_strv *out)
{
        _cleanup_strv_ struct it_strv lines = IT_STRV_INIT;
        _cleanup_free_ char *cmd =
            xasprintf("GNUPGHOME=%s/scratch gpg --with-colons %s 2>/dev/null", e->work, file);
        read_lines(cmd, &lines);
        for (size_t i = 0; i < lines.n; i++) {
                const char *l = lines.v[i];
                if (strncmp(l, "uid:", 4) != 0 && strncmp(l, "pub:", 4) != 0)
                        continue;
                _cleanup_free_ char *uid = field(l, 10);
                if (!*uid)
                        continue;
                const char *lt = strchr(uid, '<');
                if (lt && strchr(uid, '>'))
                        it_strv_take(out, xstrndup(lt + 1, strcspn(lt + 1, ">")));
                else
                        it_strv_push(out, uid);
        }
}

static void inspect(const struct env *e, const char *name, struct it_keyring_info *k)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *p = wpath(e, name);
        int rc = keyfile_inspect_path(p, k, &err);
        if (rc)
                fail_msg("%s: unexpected error: %s", name, err.msg);
}

static void assert_strv(const struct it_strv *got, const char *const *want, size_t n)
{
        if (got->n != n)
                fail_msg("expected %zu entries, got %zu (first: %s)", n, got->n,
                         got->n ? got->v[0] : "-");
        for (size_t i = 0; i < n; i++)
                assert_string_equal(got->v[i], want[i]);
}

/* The key matches what gpg says about `who`, with the given flags. */
static void expect_key(const struct env *e, const struct it_keyinfo *k, const char *who,
                       bool can_sign, bool revoked, bool expired)
{
        struct gpg_key g;
        gpg_key(e, who, &g);
        assert_string_equal(k->fpr, g.fpr);
        assert_int_equal(k->subkeys.n, g.subs.n);
        for (size_t i = 0; i < g.subs.n; i++)
                assert_string_equal(k->subkeys.v[i], g.subs.v[i]);
        assert_int_equal(k->uids.n, g.uids.n);
        if (can_sign != k->can_sign || revoked != k->revoked || expired != k->expired)
                fail_msg("%s: can_sign/revoked/expired: expected %d/%d/%d, got %d/%d/%d", who,
                         can_sign, revoked, expired, k->can_sign, k->revoked, k->expired);
        gpg_key_free(&g);
}

static void test_single_key(void **state)
{
        struct env *e = *state;
        for (int bin = 0; bin < 2; bin++) {
                struct it_keyring_info k;
                inspect(e, bin ? "one.gpg" : "one.asc", &k);
                assert_int_equal(k.n, 1);
                expect_key(e, &k.keys[0], "one@example.test", true, false, false);
                const char *uids[] = {"Test One <one@example.test>"};
                assert_strv(&k.keys[0].uids, uids, 1);
                assert_int_equal(k.keys[0].subkeys.n, 0);
                keyring_info_free(&k);
                assert_null(k.keys);
                assert_int_equal(k.n, 0);
        }
}

static void test_several_keys_in_file_order(void **state)
{
        struct env *e = *state;
        const char *const files[] = {"one-two.asc", "one-two.gpg", "two-one.asc"};
        const bool one_first[] = {true, true, false};
        for (size_t i = 0; i < 3; i++) {
                struct it_keyring_info k;
                inspect(e, files[i], &k);
                assert_int_equal(k.n, 2);
                expect_key(e, &k.keys[one_first[i] ? 0 : 1], "one@example.test", true, false,
                           false);
                expect_key(e, &k.keys[one_first[i] ? 1 : 0], "two@example.test", true, false,
                           false);
                keyring_info_free(&k);
        }
        /* Binary data after an armored block is not read (gpg --with-colons agrees). */
        struct it_keyring_info m;
        inspect(e, "mixed", &m);
        assert_int_equal(m.n, 1);
        expect_key(e, &m.keys[0], "two@example.test", true, false, false);
        keyring_info_free(&m);
        /* The whole keyring. */
        struct it_keyring_info all;
        inspect(e, "all.asc", &all);
        assert_int_equal(all.n, 12);
        keyring_info_free(&all);
}

static void test_uids(void **state)
{
        struct env *e = *state;
        struct it_keyring_info k;
        inspect(e, "multi.asc", &k);
        assert_int_equal(k.n, 1);
        expect_key(e, &k.keys[0], "multi@example.test", true, false, false);
        /* gpg lists the most recent self-signed uid first; the export is in that order too. */
        struct gpg_key g;
        gpg_key(e, "multi@example.test", &g);
        assert_int_equal(g.uids.n, 2);
        assert_string_equal(k.keys[0].uids.v[0], g.uids.v[0]);
        assert_string_equal(k.keys[0].uids.v[1], g.uids.v[1]);
        assert_true(it_strv_contains(&k.keys[0].uids, "Multi Uid <multi@example.test>"));
        assert_true(it_strv_contains(&k.keys[0].uids, "Multi Alt <alt@example.test>"));
        gpg_key_free(&g);
        keyring_info_free(&k);

        inspect(e, "nomail.asc", &k);
        assert_int_equal(k.n, 1);
        const char *uids[] = {"No Mail Person"};
        assert_strv(&k.keys[0].uids, uids, 1);
        expect_key(e, &k.keys[0], "No Mail Person", true, false, false);
        keyring_info_free(&k);

        /* gpgme hands back the raw user ID, not gpg's escaped colon form. */
        inspect(e, "weird.asc", &k);
        const char *weird[] = {"Weird: Name\\back <we:ird@x.test> tail"};
        assert_strv(&k.keys[0].uids, weird, 1);
        keyring_info_free(&k);
}

static void test_signing_capability(void **state)
{
        struct env *e = *state;
        struct it_keyring_info k;

        /* Certify-only RSA primary with an RSA signing subkey. */
        inspect(e, "rsa.asc", &k);
        assert_int_equal(k.n, 1);
        assert_int_equal(k.keys[0].subkeys.n, 1);
        expect_key(e, &k.keys[0], "rsa@example.test", true, false, false);
        keyring_info_free(&k);

        inspect(e, "cert.asc", &k);
        expect_key(e, &k.keys[0], "cert@example.test", false, false, false);
        keyring_info_free(&k);

        /* The only signing subkey expired in 2020. */
        inspect(e, "oldsub.asc", &k);
        assert_int_equal(k.keys[0].subkeys.n, 1);
        expect_key(e, &k.keys[0], "oldsub@example.test", false, false, false);
        keyring_info_free(&k);

        /* The only signing subkey is revoked. */
        inspect(e, "revsub.gpg", &k);
        assert_int_equal(k.keys[0].subkeys.n, 1);
        expect_key(e, &k.keys[0], "revsub@example.test", false, false, false);
        keyring_info_free(&k);

        /* The primary can sign but the key expired / was revoked: reported, not hidden. */
        inspect(e, "expired.asc", &k);
        expect_key(e, &k.keys[0], "expired@example.test", true, false, true);
        keyring_info_free(&k);
        inspect(e, "revoked.gpg", &k);
        expect_key(e, &k.keys[0], "revoked@example.test", true, true, false);
        keyring_info_free(&k);
}

/* podman's ID column from the key file's bytes. */
static void podman_ids_of(const char *path, struct it_strv *out)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        it_error err = IT_ERROR_INIT;
        assert_int_equal(it_file_read(path, IT_KEYFILE_MAX, &data, &len, &err), 0);
        if (keyfile_podman_ids_data(data, len, out, &err) != 0)
                fail_msg("%s: %s", path, err.msg);
}

static void test_podman_ids(void **state)
{
        struct env *e = *state;
        const char *const files[] = {"one.asc",     "one-two.gpg", "two-one.asc", "multi.asc",
                                     "nomail.asc",  "weird.asc",   "angle.asc",   "rsa.gpg",
                                     "revoked.asc", "all.asc"};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
                _cleanup_free_ char *p = wpath(e, files[i]);
                _cleanup_strv_ struct it_strv want = IT_STRV_INIT;
                podman_ids_from_gpg(e, p, &want);
                _cleanup_strv_ struct it_strv got = IT_STRV_INIT;
                podman_ids_of(p, &got);
                if (got.n != want.n)
                        fail_msg("%s: %zu ids, gpg/podman gives %zu", files[i], got.n, want.n);
                for (size_t j = 0; j < want.n; j++)
                        if (strcmp(got.v[j], want.v[j]) != 0)
                                fail_msg("%s: id %zu: \"%s\", gpg/podman gives \"%s\"", files[i], j,
                                         got.v[j], want.v[j]);
        }

        /* The same, spelled out. */
        _cleanup_strv_ struct it_strv ids = IT_STRV_INIT;
        it_strv_push(&ids, "kept");
        const char *const named[] = {"one-two.asc", "weird.asc", "angle.asc", "nomail.asc"};
        for (size_t i = 0; i < 4; i++) {
                _cleanup_free_ char *p = wpath(e, named[i]);
                podman_ids_of(p, &ids);
        }
        const char *want[] = {"kept", "one@example.test", "two@example.test", "we\\x3aird@x.test",
                              "c",    "No Mail Person"};
        assert_strv(&ids, want, 6);
}

static void test_not_keys(void **state)
{
        struct env *e = *state;
        /* truncated.gpg ends inside the self-signature: gpg refuses to import the key ("w/o user
         * IDs"), although `gpg --with-colons FILE` (podman) still lists its packets. */
        const char *const files[] = {"random.bin", "text.txt", "truncated.gpg", "truncated40.gpg",
                                     "badarmor.asc"};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
                struct it_keyring_info k;
                inspect(e, files[i], &k);
                if (k.n != 0)
                        fail_msg("%s: %zu keys", files[i], k.n);
                keyring_info_free(&k);
        }
        struct it_keyring_info k;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(keyfile_inspect("", 0, &k, &err), 0);
        assert_int_equal(k.n, 0);

        assert_int_equal(keyfile_inspect_path("/nonexistent/key.gpg", &k, &err), IT_EIO);
        _cleanup_free_ char *msg = it_error_format(&err);
        assert_string_equal(msg, "/nonexistent/key.gpg: No such file or directory");
        assert_int_equal(k.n, 0);

        size_t big = (8u << 20) + 1;
        _cleanup_free_ char *data = xcalloc(1, big);
        it_error_clear(&err);
        assert_int_equal(keyfile_inspect(data, big, &k, &err), IT_EINPUT);
        assert_string_equal(err.msg, "key data too large (8388609 bytes; at most 8388608)");
}

static bool dir_empty(const char *path)
{
        DIR *d = opendir(path);
        assert_non_null(d);
        struct dirent *de;
        bool empty = true;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        empty = false;
        closedir(d);
        return empty;
}

/* True when a live process has `needle` in its command line (a gpg-agent for a home below it). */
static bool process_mentions(const char *needle)
{
        DIR *d = opendir("/proc");
        assert_non_null(d);
        struct dirent *de;
        bool found = false;
        while (!found && (de = readdir(d))) {
                if (de->d_name[0] < '0' || de->d_name[0] > '9')
                        continue;
                char path[300], buf[4096];
                snprintf(path, sizeof path, "/proc/%s/cmdline", de->d_name);
                FILE *f = fopen(path, "r");
                if (!f)
                        continue;
                size_t n = fread(buf, 1, sizeof buf - 1, f);
                fclose(f);
                for (size_t i = 0; i < n; i++)
                        if (!buf[i])
                                buf[i] = ' ';
                buf[n] = '\0';
                if (strstr(buf, needle) && strstr(buf, "gpg"))
                        found = true;
        }
        closedir(d);
        return found;
}

static void test_temp_home_removed(void **state)
{
        struct env *e = *state;
        _cleanup_free_ char *tmp = wpath(e, "tmpdir");
        assert_int_equal(mkdir(tmp, 0700), 0);
        const char *old = getenv("TMPDIR");
        _cleanup_free_ char *saved = old ? xstrdup(old) : NULL;
        setenv("TMPDIR", tmp, 1);

        const char *const files[] = {"all.asc", "random.bin", "one.gpg"};
        for (size_t i = 0; i < 3; i++) {
                struct it_keyring_info k;
                inspect(e, files[i], &k);
                keyring_info_free(&k);
                assert_true(dir_empty(tmp));
        }
        assert_false(process_mentions(tmp));

        /* An unusable TMPDIR is an I/O error, not a silent fallback. */
        _cleanup_free_ char *missing = wpath(e, "no-such-dir");
        setenv("TMPDIR", missing, 1);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_keyring_info k;
        _cleanup_free_ char *one = wpath(e, "one.asc");
        assert_int_equal(keyfile_inspect_path(one, &k, &err), IT_EIO);
        _cleanup_free_ char *msg = it_error_format(&err);
        _cleanup_free_ char *want =
            xasprintf("%s: cannot create a temporary GnuPG home in %s: No such file or directory",
                      one, missing);
        assert_string_equal(msg, want);

        if (saved)
                setenv("TMPDIR", saved, 1);
        else
                unsetenv("TMPDIR");
        assert_int_equal(rmdir(tmp), 0);
}

/* Names, sizes and modification times of a directory's entries, as one string. */
static char *snapshot(const char *dir)
{
        _cleanup_strv_ struct it_strv lines = IT_STRV_INIT;
        _cleanup_free_ char *cmd =
            xasprintf("cd %s && find . -printf '%%p %%s %%T@ %%m\\n' | sort", dir);
        read_lines(cmd, &lines);
        struct it_buf b = IT_BUF_INIT;
        for (size_t i = 0; i < lines.n; i++)
                it_buf_addf(&b, "%s\n", lines.v[i]);
        return it_buf_detach(&b);
}

static void test_user_keyring_untouched(void **state)
{
        struct env *e = *state;
        _cleanup_free_ char *user = wpath(e, "user-gnupg");
        _cleanup_free_ char *home = wpath(e, "home");
        assert_int_equal(mkdir(home, 0700), 0);
        assert_int_equal(
            run("mkdir -m 700 %s && gpg --homedir %s --batch --import %s/two.gpg >/dev/null 2>&1",
                user, user, e->work),
            0);
        _cleanup_free_ char *before = snapshot(user);

        const char *old_gh = getenv("GNUPGHOME"), *old_home = getenv("HOME");
        _cleanup_free_ char *saved_gh = old_gh ? xstrdup(old_gh) : NULL;
        _cleanup_free_ char *saved_home = old_home ? xstrdup(old_home) : NULL;
        setenv("GNUPGHOME", user, 1);
        setenv("HOME", home, 1);

        struct it_keyring_info k;
        inspect(e, "one-two.asc", &k);
        assert_int_equal(k.n, 2);
        keyring_info_free(&k);

        _cleanup_free_ char *after = snapshot(user);
        assert_string_equal(before, after);
        assert_true(dir_empty(home));
        /* one@example.test did not land in the user's keyring. */
        assert_int_equal(
            run("gpg --homedir %s --list-keys one@example.test >/dev/null 2>&1", user) == 0, 0);

        if (saved_gh)
                setenv("GNUPGHOME", saved_gh, 1);
        else
                unsetenv("GNUPGHOME");
        if (saved_home)
                setenv("HOME", saved_home, 1);
        else
                unsetenv("HOME");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            /* First, before gpgme has been initialised in this process. */
            cmocka_unit_test(test_user_keyring_untouched),
            cmocka_unit_test(test_single_key),
            cmocka_unit_test(test_several_keys_in_file_order),
            cmocka_unit_test(test_uids),
            cmocka_unit_test(test_signing_capability),
            cmocka_unit_test(test_podman_ids),
            cmocka_unit_test(test_not_keys),
            cmocka_unit_test(test_temp_home_removed),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
