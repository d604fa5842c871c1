/* The registry client over TLS against Debian's docker-registry serving HTTPS on 127.0.0.1 with a
 * certificate from a test CA and requiring client certificates from another test CA (all made
 * with the openssl command in a temporary directory). Checks that extra CA files join the trust
 * store, that client certificates are sent, and how each refusal is worded. Skipped when
 * docker-registry or openssl is missing. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/http.h"
#include "imgtrust/manifest.h"
#include "imgtrust/registry.h"
#include "imgtrust/registry_write.h"
#include "imgtrust/xalloc.h"

#define D_HELLO "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

struct tls_env {
        bool ok;
        char dir[64];
        pid_t pid;
        int port;
        char host[32];
        char *ca, *other_ca, *cli_cert, *cli_key, *cli_both, *rogue_cert, *rogue_key;
};

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        struct it_buf b = IT_BUF_INIT;
        it_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        int rc = system(it_buf_str(&b));
        it_buf_free(&b);
        return rc;
}

static int free_port(void)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t al = sizeof a;
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
            getsockname(fd, (struct sockaddr *)&a, &al)) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        close(fd);
        return ntohs(a.sin_port);
}

static bool listening(int port)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                .sin_port = htons((uint16_t)port)};
        bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        if (fd >= 0)
                close(fd);
        return ok;
}

/* CA NAME: a self-signed CA in DIR/NAME.pem, DIR/NAME.key. */
static int make_ca(const char *dir, const char *name)
{
        return sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN=imgtrust %s' "
                  "-addext basicConstraints=critical,CA:TRUE -addext "
                  "keyUsage=critical,keyCertSign,cRLSign -keyout %s/%s.key -out %s/%s.pem "
                  ">/dev/null 2>&1",
                  name, dir, name, dir, name);
}

/* A leaf NAME signed by CA with extensions EXT. */
static int make_leaf(const char *dir, const char *name, const char *ca, const char *cn,
                     const char *ext)
{
        return sh("cd %s && printf '%s' >%s.ext && openssl req -newkey rsa:2048 -nodes "
                  "-subj '/CN=%s' -keyout %s.key -out %s.csr >/dev/null 2>&1 && openssl x509 "
                  "-req -days 2 -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial -extfile "
                  "%s.ext -out %s.pem >/dev/null 2>&1",
                  dir, ext, name, cn, name, name, name, ca, ca, name, name);
}

static int group_setup(void **state)
{
        struct tls_env *e = xcalloc(1, sizeof *e);
        *state = e;
        if (sh("command -v docker-registry >/dev/null 2>&1 && command -v openssl >/dev/null "
               "2>&1")) {
                print_message("docker-registry or openssl missing: TLS tests skipped\n");
                return 0;
        }
        snprintf(e->dir, sizeof e->dir, "/tmp/it-tls.XXXXXX");
        if (!mkdtemp(e->dir))
                return -1;
        const char *d = e->dir;
        if (make_ca(d, "ca") || make_ca(d, "clientca") || make_ca(d, "otherca") ||
            make_leaf(d, "server", "ca", "127.0.0.1",
                      "subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n") ||
            make_leaf(d, "client", "clientca", "imgtrust client",
                      "extendedKeyUsage=clientAuth\\n") ||
            make_leaf(d, "rogue", "otherca", "imgtrust rogue", "extendedKeyUsage=clientAuth\\n") ||
            sh("cat %s/client.pem %s/client.key >%s/client-both.pem", d, d, d))
                return -1;
        e->ca = xasprintf("%s/ca.pem", d);
        e->other_ca = xasprintf("%s/otherca.pem", d);
        e->cli_cert = xasprintf("%s/client.pem", d);
        e->cli_key = xasprintf("%s/client.key", d);
        e->cli_both = xasprintf("%s/client-both.pem", d);
        e->rogue_cert = xasprintf("%s/rogue.pem", d);
        e->rogue_key = xasprintf("%s/rogue.key", d);
        e->port = free_port();
        if (e->port < 0)
                return -1;
        snprintf(e->host, sizeof e->host, "127.0.0.1:%d", e->port);
        _cleanup_free_ char *cfg = xasprintf("%s/config.yml", d);
        FILE *f = fopen(cfg, "w");
        if (!f)
                return -1;
        fprintf(f,
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                "storage:\n  filesystem:\n    rootdirectory: %s/storage\n  delete:\n"
                "    enabled: true\n"
                "http:\n  addr: 127.0.0.1:%d\n  secret: imgtrust-test-secret\n  tls:\n"
                "    certificate: %s/server.pem\n    key: %s/server.key\n    clientcas:\n"
                "      - %s/clientca.pem\n",
                d, e->port, d, d, d);
        fclose(f);
        _cleanup_free_ char *log = xasprintf("%s/registry.log", d);
        pid_t pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                int nfd = open("/dev/null", O_RDONLY);
                if (lfd < 0 || nfd < 0)
                        _exit(127);
                dup2(nfd, 0);
                dup2(lfd, 1);
                dup2(lfd, 2);
                execlp("docker-registry", "docker-registry", "serve", cfg, (char *)NULL);
                _exit(127);
        }
        e->pid = pid;
        for (int i = 0; i < 150 && !listening(e->port); i++) {
                struct timespec ts = {.tv_nsec = 100 * 1000000L};
                nanosleep(&ts, NULL);
        }
        if (!listening(e->port)) {
                sh("cat %s >&2", log);
                return -1;
        }
        e->ok = true;
        return 0;
}

static int group_teardown(void **state)
{
        struct tls_env *e = *state;
        if (e->pid > 0) {
                kill(e->pid, SIGTERM);
                waitpid(e->pid, NULL, 0);
        }
        if (e->dir[0])
                sh("rm -rf '%s'", e->dir);
        free(e->ca);
        free(e->other_ca);
        free(e->cli_cert);
        free(e->cli_key);
        free(e->cli_both);
        free(e->rogue_cert);
        free(e->rogue_key);
        free(e);
        return 0;
}

static struct tls_env *env_or_skip(void **state)
{
        struct tls_env *e = *state;
        if (!e->ok)
                skip();
        return e;
}

#define _cleanup_registry_ _cleanup_(registry_freep)
static void registry_freep(struct it_registry **c)
{
        registry_client_free(*c);
}

static struct it_registry *client(const struct tls_env *e, bool verify, const char *const *cas,
                                  const char *cert, const char *key)
{
        struct it_registry_opts o = {
            .tls_verify = verify, .ca_files = cas, .client_cert = cert, .client_key = key};
        struct it_registry *c = NULL;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (registry_client_new_opts(e->host, &o, &c, &err))
                fail_msg("%s", err.msg);
        registry_client_set_retry(c, 3, 5);
        return c;
}

static void check(int rc, const it_error *err)
{
        if (rc) {
                _cleanup_free_ char *line = it_error_format(err);
                fail_msg("%s", line);
        }
}

/* The first request (a ping) fails; the formatted error. */
static char *ping_error(struct it_registry *c)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        bool exists = true;
        int rc = registry_blob_exists(c, "tls/app", D_HELLO, &exists, NULL, &err);
        assert_int_equal(rc, IT_EIO);
        assert_null(registry_client_scheme(c));
        return it_error_format(&err);
}

static void assert_starts(const char *s, const char *prefix)
{
        if (strncmp(s, prefix, strlen(prefix)))
                fail_msg("\"%s\" does not start with \"%s\"", s, prefix);
}

struct src {
        const char *p;
        size_t len, off;
};

static int src_read(void *ctx, void *buf, size_t cap, size_t *got, it_error *err)
{
        (void)err;
        struct src *s = ctx;
        size_t n = s->len - s->off < cap ? s->len - s->off : cap;
        memcpy(buf, s->p + s->off, n);
        s->off += n;
        *got = n;
        return 0;
}

static int src_rewind(void *ctx, it_error *err)
{
        (void)err;
        ((struct src *)ctx)->off = 0;
        return 0;
}

static int sink_write(void *ctx, const void *data, size_t len, it_error *err)
{
        (void)err;
        it_buf_add(ctx, data, len);
        return 0;
}

/* Blob upload (rewindable), existence, GET, mount, manifest PUT, GET and HEAD. */
static void exercise(struct it_registry *c, const char *repo)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct src s = {.p = "hello", .len = 5};
        check(registry_blob_upload_rewindable(c, repo, D_HELLO, 5, src_read, src_rewind, &s, &err),
              &err);
        bool exists = false;
        int64_t size = 0;
        check(registry_blob_exists(c, repo, D_HELLO, &exists, &size, &err), &err);
        assert_true(exists);
        assert_int_equal(size, 5);
        _cleanup_buf_ struct it_buf got = IT_BUF_INIT;
        check(registry_blob_get(c, repo, D_HELLO, sink_write, &got, 100, &err), &err);
        assert_string_equal(it_buf_str(&got), "hello");
        bool mounted = false;
        _cleanup_free_ char *other = xasprintf("%s-copy", repo);
        check(registry_blob_mount(c, other, D_HELLO, repo, &mounted, &err), &err);
        assert_true(mounted);

        /* The config blob the manifest names, then the manifest. */
        const char *cfg = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
                          "\"layers\",\"diff_ids\":[]}}";
        struct it_digest cd;
        digest_compute(IT_DIGEST_SHA256, cfg, strlen(cfg), &cd);
        char cds[IT_DIGEST_STR_MAX];
        digest_format(&cd, cds);
        struct src cs = {.p = cfg, .len = strlen(cfg)};
        check(registry_blob_upload(c, repo, cds, (int64_t)strlen(cfg), src_read, &cs, &err), &err);
        _cleanup_free_ char *man =
            xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
                      "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":"
                      "%zu},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
                      "\"digest\":\"%s\",\"size\":5}]}",
                      IT_MT_OCI_MANIFEST, cds, strlen(cfg), D_HELLO);
        struct it_digest md;
        check(registry_manifest_put(c, repo, "v1", IT_MT_OCI_MANIFEST, man, strlen(man), &md, &err),
              &err);
        _cleanup_buf_ struct it_buf body = IT_BUF_INIT;
        _cleanup_free_ char *mt = NULL;
        struct it_digest gd;
        check(registry_get_manifest(c, repo, "v1", NULL, &body, &mt, &gd, &err), &err);
        assert_string_equal(it_buf_str(&body), man);
        assert_string_equal(mt, IT_MT_OCI_MANIFEST);
        assert_true(digest_equal(&gd, &md));
        struct it_digest hd;
        _cleanup_free_ char *hmt = NULL;
        check(registry_manifest_head(c, repo, "v1", NULL, &exists, &hd, &hmt, &size, &err), &err);
        assert_true(exists);
        assert_true(digest_equal(&hd, &md));
        assert_string_equal(hmt, IT_MT_OCI_MANIFEST);
        assert_int_equal(size, (int64_t)strlen(man));
        assert_string_equal(registry_client_scheme(c), "https");
}

static void test_untrusted(void **state)
{
        struct tls_env *e = env_or_skip(state);
        /* The system pool alone, and with an unrelated CA: the server is not trusted. */
        const char *other[] = {e->other_ca, NULL};
        for (int i = 0; i < 2; i++) {
                _cleanup_registry_ struct it_registry *c =
                    client(e, true, i ? other : NULL, e->cli_cert, e->cli_key);
                _cleanup_free_ char *m = ping_error(c);
                _cleanup_free_ char *w = xasprintf(
                    "pinging registry %s: GET https://%s/v2/: TLS: the certificate of %s is not "
                    "trusted (SSL certificate problem: ",
                    e->host, e->host, e->host);
                assert_starts(m, w);
                assert_non_null(strstr(m, "); add the CA that issued it, or do not verify TLS"));
        }
}

static void test_ca_files_and_client_cert(void **state)
{
        struct tls_env *e = env_or_skip(state);
        /* Two files; the second holds the registry's CA. */
        const char *cas[] = {e->other_ca, e->ca, NULL};
        _cleanup_registry_ struct it_registry *c = client(e, true, cas, e->cli_cert, e->cli_key);
        exercise(c, "tls/verified");

        /* Key and certificate in one file. */
        _cleanup_registry_ struct it_registry *c2 = client(e, true, cas, e->cli_both, NULL);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        bool exists = false;
        check(registry_blob_exists(c2, "tls/verified", D_HELLO, &exists, NULL, &err), &err);
        assert_true(exists);

        /* http_get (the lookaside reader's GET) takes the same TLS settings. */
        const char *ca_only[] = {e->ca, NULL};
        struct it_tls_config tls = {.verify = true,
                                    .ca_files = ca_only,
                                    .client_cert = e->cli_cert,
                                    .client_key = e->cli_key};
        struct it_http_opts o = {.tls = &tls};
        _cleanup_free_ char *url = xasprintf("https://%s/v2/", e->host);
        _cleanup_(http_resp_free) struct it_http_resp r = IT_HTTP_RESP_INIT;
        check(http_get(url, &o, 1024, &r, &err), &err);
        assert_int_equal(r.status, 200);
        assert_string_equal(it_buf_str(&r.body), "{}");
}

static void test_client_cert_refused(void **state)
{
        struct tls_env *e = env_or_skip(state);
        const char *cas[] = {e->ca, NULL};
        /* None given. */
        _cleanup_registry_ struct it_registry *c = client(e, true, cas, NULL, NULL);
        _cleanup_free_ char *m = ping_error(c);
        _cleanup_free_ char *w =
            xasprintf("pinging registry %s: GET https://%s/v2/: TLS: %s refused the connection: it "
                      "wants a client certificate and none was given (",
                      e->host, e->host, e->host);
        assert_starts(m, w);
        assert_non_null(strstr(m, "alert bad certificate"));

        /* One from a CA the registry does not accept. */
        _cleanup_registry_ struct it_registry *r =
            client(e, true, cas, e->rogue_cert, e->rogue_key);
        _cleanup_free_ char *m2 = ping_error(r);
        _cleanup_free_ char *w2 = xasprintf("pinging registry %s: GET https://%s/v2/: TLS: %s "
                                            "refused the client certificate %s (",
                                            e->host, e->host, e->host, e->rogue_cert);
        assert_starts(m2, w2);

        /* A certificate file that is not there. */
        _cleanup_free_ char *nofile = xasprintf("%s/nothere.pem", e->dir);
        _cleanup_registry_ struct it_registry *n = client(e, true, cas, nofile, e->cli_key);
        _cleanup_free_ char *m3 = ping_error(n);
        _cleanup_free_ char *w3 =
            xasprintf("pinging registry %s: GET https://%s/v2/: TLS: cannot use the client "
                      "certificate %s with key %s (",
                      e->host, e->host, nofile, e->cli_key);
        assert_starts(m3, w3);

        /* Not verifying does not spare the client certificate: HTTPS is refused, and plain
         * HTTP gets the TLS server's 400. */
        _cleanup_registry_ struct it_registry *i = client(e, false, NULL, NULL, NULL);
        _cleanup_free_ char *m4 = ping_error(i);
        _cleanup_free_ char *w4 =
            xasprintf("pinging registry %s: GET https://%s/v2/: TLS: %s refused the connection: it "
                      "wants a client certificate and none was given (",
                      e->host, e->host, e->host);
        assert_starts(m4, w4);
        _cleanup_free_ char *w4b =
            xasprintf("(plain HTTP: GET http://%s/v2/: HTTP 400 Bad Request)", e->host);
        assert_non_null(strstr(m4, w4b));
}

static void test_insecure(void **state)
{
        struct tls_env *e = env_or_skip(state);
        /* No CA: the certificate is not checked, the client certificate still sent. */
        _cleanup_registry_ struct it_registry *c = client(e, false, NULL, e->cli_cert, e->cli_key);
        exercise(c, "tls/insecure");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_untrusted),
            cmocka_unit_test(test_ca_files_and_client_cert),
            cmocka_unit_test(test_client_cert_refused),
            cmocka_unit_test(test_insecure),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
