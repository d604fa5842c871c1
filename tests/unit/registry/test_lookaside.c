/* Lookaside storage over file:// (spec §4.2, §4.3 with our append rule, §10 items 46, 48–51):
 * reading until the first gap, limits, schemes, literal URL construction, digest validation
 * before any access; appending exclusively, also from concurrent processes. HTTP reading is
 * tested against nginx in tests/cli/services.bats. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/lookaside.h"
#include "imgtrust/manifest.h"
#include "imgtrust/regd.h"
#include "imgtrust/xalloc.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define D256 "sha256:" HEX64
#define REPO "library/app"
#define SIGDIR_SUFFIX "/" REPO "@sha256=" HEX64

struct fixture {
        char root[64];
        char *base; /* file://root */
        char *sigdir;
};

static void rm_rf(const char *path)
{
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", path);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", path);
}

static int setup(void **state)
{
        struct fixture *f = xcalloc(1, sizeof *f);
        strcpy(f->root, "/tmp/it-lookaside.XXXXXX");
        if (!mkdtemp(f->root))
                return -1;
        f->base = xasprintf("file://%s", f->root);
        f->sigdir = xasprintf("%s" SIGDIR_SUFFIX, f->root);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        rm_rf(f->root);
        free(f->base);
        free(f->sigdir);
        free(f);
        return 0;
}

static void mkdirs(const char *dir)
{
        _cleanup_free_ char *cmd = xasprintf("mkdir -p '%s'", dir);
        assert_int_equal(system(cmd), 0);
}

static void put(const char *dir, unsigned n, const char *content)
{
        mkdirs(dir);
        _cleanup_free_ char *p = xasprintf("%s/signature-%u", dir, n);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(it_file_replace(p, content, strlen(content), 0644, &err), 0);
}

static void read_ok(const char *base, struct it_sig_list *l)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = lookaside_read(base, REPO, D256, l, &err);
        if (rc)
                fail_msg("unexpected error: %s", err.msg);
}

static char *read_err(const char *base, const char *repo, const char *digest, int code)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_sig_list l = IT_SIG_LIST_INIT;
        int rc = lookaside_read(base, repo, digest, &l, &err);
        assert_int_equal(rc, code);
        assert_int_equal(l.n, 0);
        assert_null(l.v);
        return it_error_format(&err);
}

static void test_read_in_order(void **state)
{
        struct fixture *f = *state;
        put(f->sigdir, 1, "first");
        put(f->sigdir, 2, "second\0x");
        put(f->sigdir, 4, "after a gap");
        _cleanup_sig_list_ struct it_sig_list l = IT_SIG_LIST_INIT;
        read_ok(f->base, &l);
        assert_int_equal(l.n, 2);
        assert_int_equal(l.v[0].len, 5);
        assert_memory_equal(l.v[0].data, "first", 5);
        assert_int_equal(l.v[1].len, 6);
        assert_memory_equal(l.v[1].data, "second", 6);
        _cleanup_free_ char *src = xasprintf("%s" SIGDIR_SUFFIX "/signature-2", f->base);
        assert_string_equal(l.v[1].source, src);
}

static void test_read_gap_and_empty(void **state)
{
        struct fixture *f = *state;
        _cleanup_sig_list_ struct it_sig_list none = IT_SIG_LIST_INIT;
        read_ok(f->base, &none);
        assert_int_equal(none.n, 0);
        /* signature-1 missing but signature-2 present: zero signatures (spec §10 item 46). */
        put(f->sigdir, 2, "hidden");
        _cleanup_sig_list_ struct it_sig_list l = IT_SIG_LIST_INIT;
        read_ok(f->base, &l);
        assert_int_equal(l.n, 0);
        /* An empty file is a (zero-length) signature; sniffing is the caller's. */
        put(f->sigdir, 1, "");
        _cleanup_sig_list_ struct it_sig_list l2 = IT_SIG_LIST_INIT;
        read_ok(f->base, &l2);
        assert_int_equal(l2.n, 2);
        assert_int_equal(l2.v[0].len, 0);
}

static void test_read_limits(void **state)
{
        struct fixture *f = *state;
        for (unsigned n = 1; n <= 128; n++)
                put(f->sigdir, n, "s");
        _cleanup_sig_list_ struct it_sig_list l = IT_SIG_LIST_INIT;
        read_ok(f->base, &l);
        assert_int_equal(l.n, 128);
        put(f->sigdir, 129, "s");
        _cleanup_free_ char *msg = read_err(f->base, REPO, D256, IT_EINPUT);
        assert_string_equal(msg, "reading signatures of " D256 ": more than 128 signatures in "
                                 "lookaside storage, assuming that is unreasonable and a server "
                                 "error");

        /* One signature over 4 MiB fails the read. */
        const char *other = "sha256:"
                            "1111111111111111111111111111111111111111111111111111111111111111";
        _cleanup_free_ char *dir = xasprintf("%s/" REPO "@sha256=%s", f->root, other + 7);
        mkdirs(dir);
        _cleanup_free_ char *p = xasprintf("%s/signature-1", dir);
        char *big = xcalloc(IT_LOOKASIDE_SIG_MAX + 1, 1);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(it_file_replace(p, big, IT_LOOKASIDE_SIG_MAX + 1, 0644, &err), 0);
        _cleanup_free_ char *m2 = read_err(f->base, REPO, other, IT_EINPUT);
        _cleanup_free_ char *want = xasprintf("reading signatures of %s: %s: too large (4194305 "
                                              "bytes; at most 4194304 are read)",
                                              other, p);
        assert_string_equal(m2, want);
        /* Exactly 4 MiB is fine. */
        assert_int_equal(it_file_replace(p, big, IT_LOOKASIDE_SIG_MAX, 0644, &err), 0);
        free(big);
        struct it_sig_list l2 = IT_SIG_LIST_INIT;
        assert_int_equal(lookaside_read(f->base, REPO, other, &l2, &err), 0);
        assert_int_equal(l2.n, 1);
        assert_int_equal(l2.v[0].len, IT_LOOKASIDE_SIG_MAX);
        sig_list_free(&l2);
}

static void test_read_other_errors(void **state)
{
        struct fixture *f = *state;
        /* Anything but ENOENT fails the whole read. */
        _cleanup_free_ char *d = xasprintf("%s/signature-1", f->sigdir);
        mkdirs(d);
        _cleanup_free_ char *m = read_err(f->base, REPO, D256, IT_EINPUT);
        _cleanup_free_ char *want =
            xasprintf("reading signatures of " D256 ": %s: not a regular file", d);
        assert_string_equal(m, want);
        rm_rf(d);
        /* A file where a directory should be: ENOTDIR, not "absent". */
        _cleanup_free_ char *parent = xasprintf("%s/library", f->root);
        rm_rf(parent);
        mkdirs(f->root);
        put(f->root, 9, "x");
        _cleanup_free_ char *sig9 = xasprintf("%s/signature-9", f->root);
        _cleanup_free_ char *base9 = xasprintf("file://%s", sig9);
        _cleanup_free_ char *m2 = read_err(base9, REPO, D256, IT_EIO);
        assert_non_null(strstr(m2, "Not a directory"));
}

static void test_read_schemes(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *m1 = read_err(f->root, REPO, D256, IT_EINPUT);
        _cleanup_free_ char *w1 = xasprintf("lookaside \"%s\": unsupported scheme (file, http and "
                                            "https are)",
                                            f->root);
        assert_string_equal(m1, w1);
        _cleanup_free_ char *m2 = read_err("ftp://example.test/sigs", REPO, D256, IT_EINPUT);
        assert_string_equal(m2, "lookaside \"ftp://example.test/sigs\": unsupported scheme (file, "
                                "http and https are)");
        /* file URLs: the host is ignored, escapes are decoded, query and fragment dropped. */
        put(f->sigdir, 1, "one");
        _cleanup_free_ char *withhost = xasprintf("file://localhost%s?x=1#frag", f->root);
        _cleanup_sig_list_ struct it_sig_list l = IT_SIG_LIST_INIT;
        read_ok(withhost, &l);
        assert_int_equal(l.n, 1);
        _cleanup_free_ char *src =
            xasprintf("file://localhost%s" SIGDIR_SUFFIX "/signature-1?x=1#frag", f->root);
        assert_string_equal(l.v[0].source, src);

        _cleanup_free_ char *spaced = xasprintf("%s/with space", f->root);
        _cleanup_free_ char *sd = xasprintf("%s" SIGDIR_SUFFIX, spaced);
        put(sd, 1, "sp");
        _cleanup_free_ char *enc = xasprintf("file://%s/with%%20space", f->root);
        _cleanup_sig_list_ struct it_sig_list l2 = IT_SIG_LIST_INIT;
        read_ok(enc, &l2);
        assert_int_equal(l2.n, 1);
        assert_memory_equal(l2.v[0].data, "sp", 2);
        _cleanup_free_ char *bad = xasprintf("file://%s/with%%2", f->root);
        _cleanup_free_ char *m3 = read_err(bad, REPO, D256, IT_EINPUT);
        assert_non_null(strstr(m3, "invalid percent escape"));
}

static void test_trailing_slash_literal(void **state)
{
        struct fixture *f = *state;
        put(f->sigdir, 1, "one");
        _cleanup_free_ char *base = xasprintf("%s/", f->base);
        _cleanup_sig_list_ struct it_sig_list l = IT_SIG_LIST_INIT;
        read_ok(base, &l);
        assert_int_equal(l.n, 1);
        _cleanup_free_ char *src = xasprintf("%s//" REPO "@sha256=" HEX64 "/signature-1", f->base);
        assert_string_equal(l.v[0].source, src);
}

static void test_bad_digest_before_access(void **state)
{
        struct fixture *f = *state;
        /* An http base nothing listens on: the digest error comes first, no connection. */
        _cleanup_free_ char *m1 =
            read_err("http://127.0.0.1:1/sigs", REPO, "sha256:../../etc", IT_EINPUT);
        assert_string_equal(m1, "invalid digest \"sha256:../../etc\": sha256 digest must be 64 "
                                "lowercase hex characters");
        _cleanup_free_ char *m2 = read_err(f->base, REPO, "sha256:" HEX64 "/../x", IT_EINPUT);
        assert_non_null(strstr(m2, "sha256 digest must be 64"));
        _cleanup_free_ char *m3 = read_err(f->base, "library/../../etc", D256, IT_EINPUT);
        assert_string_equal(m3, "unexpected path elements in repository path "
                                "\"library/../../etc\" for signature storage");

        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(
            lookaside_write_append(f->base, REPO, "sha256:..", "x", 1, NULL, NULL, &err),
            IT_EINPUT);
        _cleanup_free_ char *lib = xasprintf("%s/library", f->root);
        assert_false(it_path_exists(lib));
}

static char *slurp(const char *path)
{
        char *data = NULL;
        size_t len;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (it_file_read(path, 1 << 20, &data, &len, &err))
                fail_msg("%s", err.msg);
        return data;
}

static size_t count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        assert_non_null(d);
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static void test_write_append(void **state)
{
        struct fixture *f = *state;
        /* A fresh digest: directories made 0755, signature-1 0644. */
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *path = NULL;
        unsigned idx = 0;
        mode_t old = umask(022);
        int rc = lookaside_write_append(f->base, REPO, D256, "AAA", 3, &path, &idx, &err);
        umask(old);
        if (rc)
                fail_msg("%s", err.msg);
        _cleanup_free_ char *want1 = xasprintf("%s/signature-1", f->sigdir);
        assert_string_equal(path, want1);
        assert_int_equal(idx, 1);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_int_equal(stat(f->sigdir, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        _cleanup_free_ char *c1 = slurp(path);
        assert_string_equal(c1, "AAA");

        /* Existing 1 and 2: the new one is 3, the others untouched. */
        put(f->sigdir, 2, "BBB");
        _cleanup_free_ char *p3 = NULL;
        assert_int_equal(lookaside_write_append(f->base, REPO, D256, "CCC", 3, &p3, &idx, &err), 0);
        assert_int_equal(idx, 3);
        _cleanup_free_ char *want3 = xasprintf("%s/signature-3", f->sigdir);
        assert_string_equal(p3, want3);
        _cleanup_free_ char *c1b = slurp(want1);
        assert_string_equal(c1b, "AAA");
        _cleanup_free_ char *c3 = slurp(want3);
        assert_string_equal(c3, "CCC");
        /* No temporary files are left behind. */
        assert_int_equal(count_entries(f->sigdir), 3);

        /* A gap is filled first: what readers see stays a prefix. */
        _cleanup_free_ char *p2 = xasprintf("%s/signature-2", f->sigdir);
        assert_int_equal(unlink(p2), 0);
        assert_int_equal(lookaside_write_append(f->base, REPO, D256, "DDD", 3, NULL, &idx, &err),
                         0);
        assert_int_equal(idx, 2);
        _cleanup_sig_list_ struct it_sig_list l = IT_SIG_LIST_INIT;
        read_ok(f->base, &l);
        assert_int_equal(l.n, 3);
        assert_memory_equal(l.v[1].data, "DDD", 3);
}

static void test_write_limit_and_schemes(void **state)
{
        struct fixture *f = *state;
        for (unsigned n = 1; n <= 127; n++)
                put(f->sigdir, n, "s");
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        /* The 128th still fits. */
        unsigned idx = 0;
        assert_int_equal(lookaside_write_append(f->base, REPO, D256, "x", 1, NULL, &idx, &err), 0);
        assert_int_equal(idx, 128);
        assert_int_equal(lookaside_write_append(f->base, REPO, D256, "x", 1, NULL, NULL, &err),
                         IT_EINPUT);
        _cleanup_free_ char *want = xasprintf("%s already holds 128 signatures, the most readers "
                                              "accept for one digest",
                                              f->sigdir);
        assert_string_equal(err.msg, want);
        assert_int_equal(count_entries(f->sigdir), 128);

        it_error_clear(&err);
        assert_int_equal(lookaside_write_append("https://sigs.example.test/store", REPO, D256, "x",
                                                1, NULL, NULL, &err),
                         IT_EINPUT);
        assert_string_equal(err.msg, "writing signatures to \"https://sigs.example.test/store\" "
                                     "is not supported; configure lookaside-staging: file://... "
                                     "in registries.d for this image");
        it_error_clear(&err);
        assert_int_equal(lookaside_write_append("http://h/s", REPO, D256, "x", 1, NULL, NULL, &err),
                         IT_EINPUT);
        assert_non_null(strstr(err.msg, "lookaside-staging"));
        it_error_clear(&err);
        assert_int_equal(lookaside_write_append(f->root, REPO, D256, "x", 1, NULL, NULL, &err),
                         IT_EINPUT);
        assert_non_null(strstr(err.msg, "unsupported scheme for writing"));
}

#define WRITERS 2
#define PER_WRITER 20

static void test_write_concurrent(void **state)
{
        struct fixture *f = *state;
        pid_t pids[WRITERS];
        for (int w = 0; w < WRITERS; w++) {
                pids[w] = fork();
                assert_true(pids[w] >= 0);
                if (pids[w] == 0) {
                        for (int i = 0; i < PER_WRITER; i++) {
                                it_error err = IT_ERROR_INIT;
                                char blob[32];
                                int n = snprintf(blob, sizeof blob, "writer %d blob %d", w, i);
                                if (lookaside_write_append(f->base, REPO, D256, blob, (size_t)n,
                                                           NULL, NULL, &err))
                                        _exit(1);
                        }
                        _exit(0);
                }
        }
        for (int w = 0; w < WRITERS; w++) {
                int status;
                assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
                assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        assert_int_equal(count_entries(f->sigdir), WRITERS * PER_WRITER);
        _cleanup_sig_list_ struct it_sig_list l = IT_SIG_LIST_INIT;
        read_ok(f->base, &l);
        assert_int_equal(l.n, WRITERS * PER_WRITER);
        bool seen[WRITERS][PER_WRITER] = {{false}};
        for (size_t k = 0; k < l.n; k++) {
                int w, i;
                assert_int_equal(sscanf((const char *)l.v[k].data, "writer %d blob %d", &w, &i), 2);
                assert_true(w >= 0 && w < WRITERS && i >= 0 && i < PER_WRITER);
                assert_false(seen[w][i]);
                seen[w][i] = true;
        }
}

static void test_write_base(void **state)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *def = NULL;
        assert_int_equal(lookaside_write_base(NULL, NULL, &def, &err), 0);
        _cleanup_free_ char *builtin = regd_builtin_default();
        assert_string_equal(def, builtin);

        static const char yaml[] = "docker:\n  example.test/ns:\n    lookaside: "
                                   "https://sigs.example.test/\n    lookaside-staging: "
                                   "file:///srv/staging\n  other.test:\n    lookaside: "
                                   "https://read.only/\n";
        struct it_regd r = IT_REGD_INIT;
        assert_int_equal(regd_parse(yaml, strlen(yaml), "t.yaml", &r, &err), 0);
        _cleanup_ref_ struct it_ref ref = IT_REF_INIT;
        assert_int_equal(ref_parse_normalized("example.test/ns/app:1", &ref, &err), 0);
        _cleanup_free_ char *u = NULL;
        assert_int_equal(lookaside_write_base(&r, &ref, &u, &err), 0);
        assert_string_equal(u, "file:///srv/staging");
        /* Only a read location: writing goes there too (and is then refused as http). */
        _cleanup_ref_ struct it_ref ref2 = IT_REF_INIT;
        assert_int_equal(ref_parse_normalized("other.test/app:1", &ref2, &err), 0);
        _cleanup_free_ char *u2 = NULL;
        assert_int_equal(lookaside_write_base(&r, &ref2, &u2, &err), 0);
        assert_string_equal(u2, "https://read.only/");
        /* Nothing configured: the built-in default. */
        _cleanup_ref_ struct it_ref ref3 = IT_REF_INIT;
        assert_int_equal(ref_parse_normalized("busybox", &ref3, &err), 0);
        _cleanup_free_ char *u3 = NULL;
        assert_int_equal(lookaside_write_base(&r, &ref3, &u3, &err), 0);
        assert_string_equal(u3, builtin);
        regd_free(&r);
}

/* Spec §10 item 57: a pull of one platform reads the signatures of the chosen instance's digest,
 * never the list's; item 55: signatures are found by digest, whatever tag the image was pushed
 * under (the identity check that then rejects them is the policy's). */
static void test_instance_and_tag_independence(void **state)
{
        struct fixture *f = *state;
        static const char list[] =
            "{\"schemaVersion\":2,\"mediaType\":\"" IT_MT_OCI_INDEX "\",\"manifests\":["
            "{\"mediaType\":\"" IT_MT_OCI_MANIFEST "\",\"digest\":\"sha256:" HEX64 "\",\"size\":1,"
            "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";
        struct it_digest ld;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(manifest_digest(list, strlen(list), &ld, &err), 0);
        char lds[IT_DIGEST_STR_MAX];
        digest_format(&ld, lds);
        /* Only the list is signed. */
        assert_int_equal(
            lookaside_write_append(f->base, REPO, lds, "list-sig", 8, NULL, NULL, &err), 0);
        _cleanup_manifest_list_ struct it_manifest_list l = IT_MANIFEST_LIST_INIT;
        assert_int_equal(manifest_list_instances(list, strlen(list), &l, &err), 0);
        size_t i;
        assert_int_equal(manifest_list_choose(&l, NULL, NULL, NULL, &i, &err), 0);
        char ids[IT_DIGEST_STR_MAX];
        digest_format(&l.v[i].digest, ids);
        assert_string_equal(ids, D256);
        struct it_sig_list inst = IT_SIG_LIST_INIT;
        assert_int_equal(lookaside_read(f->base, REPO, ids, &inst, &err), 0);
        assert_int_equal(inst.n, 0);
        struct it_sig_list ls = IT_SIG_LIST_INIT;
        assert_int_equal(lookaside_read(f->base, REPO, lds, &ls, &err), 0);
        assert_int_equal(ls.n, 1);
        assert_memory_equal(ls.v[0].data, "list-sig", 8);
        sig_list_free(&ls);
        /* The instance signed once (for tag v1); a read for the same digest finds it, as a pull
         * of tag v2 of the same manifest would. */
        assert_int_equal(lookaside_write_append(f->base, REPO, ids, "v1-sig", 6, NULL, NULL, &err),
                         0);
        assert_int_equal(lookaside_read(f->base, REPO, ids, &inst, &err), 0);
        assert_int_equal(inst.n, 1);
        assert_memory_equal(inst.v[0].data, "v1-sig", 6);
        sig_list_free(&inst);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_read_in_order, setup, teardown),
            cmocka_unit_test_setup_teardown(test_read_gap_and_empty, setup, teardown),
            cmocka_unit_test_setup_teardown(test_read_limits, setup, teardown),
            cmocka_unit_test_setup_teardown(test_read_other_errors, setup, teardown),
            cmocka_unit_test_setup_teardown(test_read_schemes, setup, teardown),
            cmocka_unit_test_setup_teardown(test_trailing_slash_literal, setup, teardown),
            cmocka_unit_test_setup_teardown(test_bad_digest_before_access, setup, teardown),
            cmocka_unit_test_setup_teardown(test_write_append, setup, teardown),
            cmocka_unit_test_setup_teardown(test_write_limit_and_schemes, setup, teardown),
            cmocka_unit_test_setup_teardown(test_write_concurrent, setup, teardown),
            cmocka_unit_test(test_write_base),
            cmocka_unit_test_setup_teardown(test_instance_and_tag_independence, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
