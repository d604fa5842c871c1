/* containers-certs.d (registry/certsd.c): which host directory is used, CA files and client
 * pairs in it, upstream's errors for orphans, bounds, with temporary base directories.
 *
 * Run as `test_certsd --query HOST` it prints what the default locations give for HOST (one
 * "dir|ca|cert|key PATH" line each) or the error, for tests/interop/regconf_skopeo.bats. */
#include <errno.h>
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

#include "imgtrust/certsd.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/strv.h"
#include "imgtrust/xalloc.h"

static void write_file(const char *path, const char *text)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (it_file_replace(path, text, strlen(text), 0644, &err))
                fail_msg("%s", err.msg);
}

static void mk(const char *path)
{
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
                fail_msg("mkdir %s: %s", path, strerror(errno));
}

struct bases {
        char *top, *home, *etc, *docker;
        const char *dirs[4];
};

static void bases_init(struct bases *b)
{
        char tmpl[] = "/tmp/it-certsd.XXXXXX";
        assert_non_null(mkdtemp(tmpl));
        b->top = xstrdup(tmpl);
        b->home = xasprintf("%s/home", tmpl);
        b->etc = xasprintf("%s/etc", tmpl);
        b->docker = xasprintf("%s/docker", tmpl);
        mk(b->home);
        mk(b->etc);
        mk(b->docker);
        b->dirs[0] = b->home;
        b->dirs[1] = b->etc;
        b->dirs[2] = b->docker;
        b->dirs[3] = NULL;
}

static void bases_free(struct bases *b)
{
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", b->top);
        assert_int_equal(system(cmd), 0);
        free(b->top);
        free(b->home);
        free(b->etc);
        free(b->docker);
}

/* base/host/name with text. */
static char *put(const char *base, const char *host, const char *name, const char *text)
{
        _cleanup_free_ char *dir = xasprintf("%s/%s", base, host);
        mk(dir);
        char *p = xasprintf("%s/%s", dir, name);
        if (text)
                write_file(p, text);
        return p;
}

static void put_only(const char *base, const char *host, const char *name, const char *text)
{
        free(put(base, host, name, text));
}

static void find_ok(const struct bases *b, const char *host, struct it_tls_files *out)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (certsd_find(host, b->dirs, out, &err)) {
                _cleanup_free_ char *line = it_error_format(&err);
                fail_msg("certsd_find: %s", line);
        }
}

static char *find_err(const struct bases *b, const char *host, int code)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_tls_files f = IT_TLS_FILES_INIT;
        assert_int_equal(certsd_find(host, b->dirs, &f, &err), code);
        assert_null(f.dir);
        assert_null(f.ca_files);
        assert_null(f.client_cert);
        return it_error_format(&err);
}

static void test_nothing(void **state)
{
        (void)state;
        struct bases b;
        bases_init(&b);
        _cleanup_tls_files_ struct it_tls_files f = IT_TLS_FILES_INIT;
        find_ok(&b, "reg.example:5000", &f);
        assert_null(f.dir);
        assert_int_equal(f.nca, 0);
        assert_null(f.ca_files);
        assert_null(f.client_cert);
        assert_null(f.client_key);
        /* an empty host directory is used (and gives nothing) */
        put_only(b.etc, "reg.example:5000", "README", "not a cert");
        find_ok(&b, "reg.example:5000", &f);
        _cleanup_free_ char *want = xasprintf("%s/reg.example:5000", b.etc);
        assert_string_equal(f.dir, want);
        assert_int_equal(f.nca, 0);
        assert_null(f.client_cert);
        bases_free(&b);
}

static void test_files(void **state)
{
        (void)state;
        struct bases b;
        bases_init(&b);
        const char *h = "reg.example:5000";
        _cleanup_free_ char *ca2 = put(b.etc, h, "z-extra.crt", "-----BEGIN CERTIFICATE-----\nB");
        _cleanup_free_ char *ca1 = put(b.etc, h, "ca.crt", "-----BEGIN CERTIFICATE-----\nA\n");
        _cleanup_free_ char *cert = put(b.etc, h, "client.cert", "cert");
        _cleanup_free_ char *key = put(b.etc, h, "client.key", "key");
        put_only(b.etc, h, "other.cert", "cert2");
        put_only(b.etc, h, "other.key", "key2");
        put_only(b.etc, h, "notes.txt", "ignored");
        /* a dangling .crt link is skipped, as upstream does */
        _cleanup_free_ char *dangling = put(b.etc, h, "gone.crt", NULL);
        assert_int_equal(symlink("/nonexistent/it-certsd", dangling), 0);
        /* /etc/docker/certs.d is not read when /etc/containers/certs.d has the host */
        put_only(b.docker, h, "docker.crt", "x");

        _cleanup_tls_files_ struct it_tls_files f = IT_TLS_FILES_INIT;
        find_ok(&b, h, &f);
        _cleanup_free_ char *dir = xasprintf("%s/%s", b.etc, h);
        assert_string_equal(f.dir, dir);
        assert_int_equal(f.nca, 2);
        assert_string_equal(f.ca_files[0], ca1); /* name order */
        assert_string_equal(f.ca_files[1], ca2);
        assert_null(f.ca_files[2]);
        assert_string_equal(f.client_cert, cert); /* the first pair */
        assert_string_equal(f.client_key, key);

        /* the CA bundle: concatenated, a newline added where missing */
        _cleanup_buf_ struct it_buf pem = IT_BUF_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(certsd_read_cas(&f, &pem, &err), 0);
        assert_string_equal(it_buf_str(&pem), "-----BEGIN CERTIFICATE-----\nA\n"
                                              "-----BEGIN CERTIFICATE-----\nB\n");
        /* a CA file removed since is skipped */
        unlink(ca2);
        it_buf_reset(&pem);
        assert_int_equal(certsd_read_cas(&f, &pem, &err), 0);
        assert_string_equal(it_buf_str(&pem), "-----BEGIN CERTIFICATE-----\nA\n");
        certsd_files_free(&f);

        /* The user's directory comes first, alone, when it exists. */
        _cleanup_free_ char *uca = put(b.home, h, "user.crt", "u");
        find_ok(&b, h, &f);
        _cleanup_free_ char *udir = xasprintf("%s/%s", b.home, h);
        assert_string_equal(f.dir, udir);
        assert_int_equal(f.nca, 1);
        assert_string_equal(f.ca_files[0], uca);
        assert_null(f.client_cert);
        certsd_files_free(&f);

        /* /etc/docker/certs.d is the last resort; other hosts and ports are other dirs. */
        find_ok(&b, "reg.example", &f);
        assert_null(f.dir);
        _cleanup_free_ char *dca = put(b.docker, "reg.example", "ca.crt", "d");
        find_ok(&b, "reg.example", &f);
        assert_int_equal(f.nca, 1);
        assert_string_equal(f.ca_files[0], dca);
        certsd_files_free(&f);

        /* --cert-dir: one directory as is */
        assert_int_equal(certsd_read_dir(dir, &f, &err), 0);
        assert_string_equal(f.dir, dir);
        assert_int_equal(f.nca, 1);
        certsd_files_free(&f);
        _cleanup_free_ char *nodir = xasprintf("%s/nonexistent", b.top);
        assert_int_equal(certsd_read_dir(nodir, &f, &err), 0);
        assert_null(f.dir);
        bases_free(&b);
}

static void test_errors(void **state)
{
        (void)state;
        struct bases b;
        bases_init(&b);
        const char *h = "reg.example";
        _cleanup_free_ char *dir = xasprintf("%s/%s", b.etc, h);
        /* a .cert without its .key */
        _cleanup_free_ char *c1 = put(b.etc, h, "client.cert", "c");
        _cleanup_free_ char *m1 = find_err(&b, h, IT_EINPUT);
        _cleanup_free_ char *w1 = xasprintf("%s: missing key client.key for client certificate "
                                            "client.cert. Note that CA certificates should use the "
                                            "extension .crt",
                                            dir);
        assert_string_equal(m1, w1);
        unlink(c1);
        /* a .key without its .cert */
        _cleanup_free_ char *k1 = put(b.etc, h, "client.key", "k");
        _cleanup_free_ char *m2 = find_err(&b, h, IT_EINPUT);
        _cleanup_free_ char *w2 =
            xasprintf("%s: missing client certificate client.cert for key client.key", dir);
        assert_string_equal(m2, w2);
        /* a pair whose .cert is a dangling link cannot be loaded */
        _cleanup_free_ char *c2 = put(b.etc, h, "client.cert", NULL);
        assert_int_equal(symlink("/nonexistent/it-certsd", c2), 0);
        _cleanup_free_ char *m3 = find_err(&b, h, IT_EIO);
        _cleanup_free_ char *w3 = xasprintf("%s: No such file or directory", c2);
        assert_string_equal(m3, w3);
        unlink(c2);
        unlink(k1);
        /* a later orphan fails even after a good pair */
        put_only(b.etc, h, "a.cert", "c");
        put_only(b.etc, h, "a.key", "k");
        _cleanup_free_ char *k4 = put(b.etc, h, "b.key", "k");
        _cleanup_free_ char *m4 = find_err(&b, h, IT_EINPUT);
        _cleanup_free_ char *w4 =
            xasprintf("%s: missing client certificate b.cert for key b.key", dir);
        assert_string_equal(m4, w4);
        unlink(k4);
        /* a directory named *.crt */
        _cleanup_free_ char *d = put(b.etc, h, "sub.crt", NULL);
        mk(d);
        _cleanup_free_ char *m5 = find_err(&b, h, IT_EINPUT);
        _cleanup_free_ char *w5 = xasprintf("%s: not a regular file", d);
        assert_string_equal(m5, w5);
        rmdir(d);
        /* bounded */
        _cleanup_free_ char *big = put(b.etc, h, "big.crt", NULL);
        {
                FILE *fp = fopen(big, "w");
                assert_non_null(fp);
                assert_int_equal(fseek(fp, IT_CERTSD_FILE_MAX, SEEK_SET), 0);
                fputc('x', fp);
                fclose(fp);
        }
        _cleanup_free_ char *m6 = find_err(&b, h, IT_EINPUT);
        _cleanup_free_ char *w6 = xasprintf("%s: too large (1048577 bytes; at most 1048576 are "
                                            "read)",
                                            big);
        assert_string_equal(m6, w6);
        unlink(big);
        /* a host directory that is a file */
        _cleanup_free_ char *fh = xasprintf("%s/file.host", b.home);
        write_file(fh, "x");
        _cleanup_free_ char *m7 = find_err(&b, "file.host", IT_EIO);
        _cleanup_free_ char *w7 = xasprintf("%s: Not a directory", fh);
        assert_string_equal(m7, w7);
        /* hosts that would leave the base directory */
        static const char *const bad[] = {"", ".", "..", "a/b", "../etc"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                _cleanup_free_ char *m = find_err(&b, bad[i], IT_EINPUT);
                _cleanup_free_ char *q = it_quote(bad[i], 100);
                _cleanup_free_ char *w = xasprintf("certs.d: invalid registry host %s", q);
                assert_string_equal(m, w);
        }
        bases_free(&b);
}

static void test_defaults(void **state)
{
        (void)state;
        _cleanup_strv_ struct it_strv d = IT_STRV_INIT;
        certsd_default_dirs("/home/u", &d);
        assert_int_equal(d.n, 3);
        assert_string_equal(d.v[0], "/home/u/.config/containers/certs.d");
        assert_string_equal(d.v[1], "/etc/containers/certs.d");
        assert_string_equal(d.v[2], "/etc/docker/certs.d");
        it_strv_free(&d);
        /* $HOME, not $XDG_CONFIG_HOME (containers/image uses homedir.Get()) */
        setenv("HOME", "/h2", 1);
        setenv("XDG_CONFIG_HOME", "/xdg", 1);
        certsd_default_dirs(NULL, &d);
        assert_string_equal(d.v[0], "/h2/.config/containers/certs.d");
        unsetenv("XDG_CONFIG_HOME");
}

static int query(const char *host)
{
        it_error err = IT_ERROR_INIT;
        struct it_tls_files f = IT_TLS_FILES_INIT;
        if (certsd_find(host, NULL, &f, &err)) {
                it_error_print("test_certsd", &err);
                it_error_clear(&err);
                return 1;
        }
        if (f.dir)
                printf("dir %s\n", f.dir);
        for (size_t i = 0; i < f.nca; i++)
                printf("ca %s\n", f.ca_files[i]);
        if (f.client_cert)
                printf("cert %s\nkey %s\n", f.client_cert, f.client_key);
        certsd_files_free(&f);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc == 3 && !strcmp(argv[1], "--query"))
                return query(argv[2]);
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_nothing),
            cmocka_unit_test(test_files),
            cmocka_unit_test(test_errors),
            cmocka_unit_test(test_defaults),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
