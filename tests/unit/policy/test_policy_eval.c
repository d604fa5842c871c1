/* Policy evaluation (spec §6.4, §6.5, §6.8): naming images per transport, choosing the scope, and
 * the decision with its reasons. The table runs policy JSON text through policy_parse. */
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
#include "imgtrust/policy.h"
#include "imgtrust/xalloc.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX64B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define D256 "sha256:" HEX64

#define ACC "[{\"type\":\"insecureAcceptAnything\"}]"
#define REJ "[{\"type\":\"reject\"}]"
#define SIG "[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":\"/k.gpg\"}]"
/* Default reject, one transport with the given scopes. */
#define POL(t, scopes) "{\"default\":" REJ ",\"transports\":{\"" t "\":{" scopes "}}}"
/* Default accept, to tell "global default" apart from a rejecting scope. */
#define POLA(t, scopes) "{\"default\":" ACC ",\"transports\":{\"" t "\":{" scopes "}}}"
#define S(name, reqs) "\"" name "\":" reqs

/* Every "@T@" below stands for a scratch directory made for this run (symlinks resolved) holding
 * img/ (with img/inner/), link -> img, a.tar and x.sif. */
struct fixture {
        char *t;
};

#define GLOBAL NULL

struct row {
        const char *policy;
        const char *image;
        const char *scope; /* GLOBAL: the global default */
        enum it_decision decision;
};

static const struct row table[] = {
    /* docker: exact identity, tag and digest */
    {POL("docker", S("r.io/a/b:1", ACC)), "docker://r.io/a/b:1", "r.io/a/b:1", IT_DECISION_ACCEPT},
    {POL("docker", S("r.io/a/b:1", ACC)), "docker://r.io/a/b:2", GLOBAL, IT_DECISION_REJECT},
    {POL("docker", S("r.io/a/b@" D256, ACC)), "docker://r.io/a/b@" D256, "r.io/a/b@" D256,
     IT_DECISION_ACCEPT},
    {POL("docker", S("r.io/a/b@" D256, ACC)), "docker://r.io/a/b:1", GLOBAL, IT_DECISION_REJECT},
    {POL("docker", S("r.io/a/b@sha256:" HEX64B, ACC)), "docker://r.io/a/b@" D256, GLOBAL,
     IT_DECISION_REJECT},
    /* repository and parent namespaces */
    {POL("docker", S("r.io/a/b", ACC)), "docker://r.io/a/b:1", "r.io/a/b", IT_DECISION_ACCEPT},
    {POL("docker", S("r.io/a/b", ACC)), "docker://r.io/a/b@" D256, "r.io/a/b", IT_DECISION_ACCEPT},
    {POL("docker", S("r.io/a", SIG)), "docker://r.io/a/b:1", "r.io/a",
     IT_DECISION_SIGNATURES_REQUIRED},
    {POL("docker", S("r.io", ACC)), "docker://r.io/a/b/c/d:1", "r.io", IT_DECISION_ACCEPT},
    {POL("docker", S("r.io/a/b/c", ACC)), "docker://r.io/a/b:1", GLOBAL, IT_DECISION_REJECT},
    {POL("docker", S("r.io/a/b", ACC)), "docker://r.io/a/bc:1", GLOBAL, IT_DECISION_REJECT},
    /* the nearest scope wins */
    {POL("docker", S("r.io", REJ) "," S("r.io/a", SIG) "," S("r.io/a/b", ACC)),
     "docker://r.io/a/b:1", "r.io/a/b", IT_DECISION_ACCEPT},
    {POL("docker", S("r.io", REJ) "," S("r.io/a", SIG) "," S("r.io/a/b", ACC)),
     "docker://r.io/a/c:1", "r.io/a", IT_DECISION_SIGNATURES_REQUIRED},
    {POL("docker", S("r.io/a/b:1", REJ) "," S("r.io/a/b", ACC)), "docker://r.io/a/b:1",
     "r.io/a/b:1", IT_DECISION_REJECT},
    /* host:port against port-less host (§10.34) */
    {POL("docker", S("r.io:5000/a", ACC)), "docker://r.io:5000/a/b:1", "r.io:5000/a",
     IT_DECISION_ACCEPT},
    {POL("docker", S("r.io:5000", ACC)), "docker://r.io:5000/a/b:1", "r.io:5000",
     IT_DECISION_ACCEPT},
    {POL("docker", S("r.io", ACC)), "docker://r.io:5000/a/b:1", GLOBAL, IT_DECISION_REJECT},
    {POL("docker", S("r.io/a", ACC)), "docker://r.io:5000/a/b:1", GLOBAL, IT_DECISION_REJECT},
    {POL("docker", S("r.io:5000", ACC)), "docker://r.io/a/b:1", GLOBAL, IT_DECISION_REJECT},
    /* wildcards (§10.33): ports ignored, the bare domain excluded */
    {POL("docker", S("*.example.com", ACC)), "docker://a.example.com/x:1", "*.example.com",
     IT_DECISION_ACCEPT},
    {POL("docker", S("*.example.com", ACC)), "docker://a.b.example.com:5000/x:1", "*.example.com",
     IT_DECISION_ACCEPT},
    {POL("docker", S("*.example.com", ACC)), "docker://example.com/x:1", GLOBAL,
     IT_DECISION_REJECT},
    {POL("docker", S("*.example.com", ACC)), "docker://example.com:5000/x:1", GLOBAL,
     IT_DECISION_REJECT},
    {POL("docker", S("*.com", ACC)), "docker://example.com/x:1", "*.com", IT_DECISION_ACCEPT},
    {POL("docker", S("*.com", ACC)), "docker://a.b.example.com:5000/x:1", "*.com",
     IT_DECISION_ACCEPT},
    {POL("docker", S("*.com", ACC)), "docker://localhost:5000/x:1", GLOBAL, IT_DECISION_REJECT},
    {POL("docker", S("*.b.example.com", SIG) "," S("*.example.com", REJ)),
     "docker://a.b.example.com/x:1", "*.b.example.com", IT_DECISION_SIGNATURES_REQUIRED},
    {POL("docker", S("*.example.com", REJ) "," S("a.example.com", ACC)),
     "docker://a.example.com/x:1", "a.example.com", IT_DECISION_ACCEPT},
    {POL("docker", S("*.io", ACC)), "docker://busybox", "*.io", IT_DECISION_ACCEPT},
    /* more specific accept under less specific reject: no merging (§10.36, §6.5) */
    {POL("docker", S("docker.io", REJ) "," S("docker.io/library/busybox", ACC)), "docker://busybox",
     "docker.io/library/busybox", IT_DECISION_ACCEPT},
    {POL("docker", S("docker.io", ACC) "," S("docker.io/library/busybox", REJ)), "docker://busybox",
     "docker.io/library/busybox", IT_DECISION_REJECT},
    {POL("docker", S("docker.io", REJ) "," S("docker.io/library/busybox", ACC)), "docker://alpine",
     "docker.io", IT_DECISION_REJECT},
    /* transport section present, nothing matches, no "" → global default (§10.37) */
    {POLA("docker", S("q.io", REJ)), "docker://r.io/a:1", GLOBAL, IT_DECISION_ACCEPT},
    {POL("docker", S("q.io", ACC)), "docker://r.io/a:1", GLOBAL, IT_DECISION_REJECT},
    /* "" of the transport */
    {POL("docker", S("", SIG) "," S("q.io", ACC)), "docker://r.io/a:1", "",
     IT_DECISION_SIGNATURES_REQUIRED},
    {POLA("docker", S("", REJ)), "docker://r.io/a:1", "", IT_DECISION_REJECT},
    /* short names as scopes never match (§10.32) */
    {POL("docker", S("busybox", ACC)), "docker://busybox", GLOBAL, IT_DECISION_REJECT},
    {POL("docker", S("docker.io/busybox", ACC)), "docker://busybox", GLOBAL, IT_DECISION_REJECT},
    {POL("docker", S("library/busybox", ACC)), "docker://busybox", GLOBAL, IT_DECISION_REJECT},
    {POL("docker", S("busybox:latest", ACC)), "docker://busybox", GLOBAL, IT_DECISION_REJECT},
    {POL("docker", S("docker.io/library/busybox", ACC)), "docker://busybox",
     "docker.io/library/busybox", IT_DECISION_ACCEPT},
    {POL("docker", S("docker.io/library/busybox", ACC)), "docker://docker.io/busybox:1",
     "docker.io/library/busybox", IT_DECISION_ACCEPT},
    {POL("docker", S("docker.io/library/busybox", ACC)), "docker://index.docker.io/busybox",
     "docker.io/library/busybox", IT_DECISION_ACCEPT},
    {POL("docker", S("example*.*.com", ACC)), "docker://example1.a.com/x:1", GLOBAL,
     IT_DECISION_REJECT},
    /* the default tag and pulls by digest (§10.35) */
    {POL("docker", S("docker.io/library/busybox:latest", ACC)), "docker://busybox",
     "docker.io/library/busybox:latest", IT_DECISION_ACCEPT},
    {POL("docker", S("docker.io/library/busybox:latest", ACC)), "docker://busybox@" D256, GLOBAL,
     IT_DECISION_REJECT},
    {POL("docker", S("docker.io/library/busybox:latest", ACC)), "docker://busybox:1.36", GLOBAL,
     IT_DECISION_REJECT},
    /* localhost */
    {POL("docker", S("localhost", ACC)), "docker://localhost:5000/app:1", GLOBAL,
     IT_DECISION_REJECT},
    {POL("docker", S("localhost:5000", ACC)), "docker://localhost:5000/app:1", "localhost:5000",
     IT_DECISION_ACCEPT},
    {POL("docker", S("localhost", ACC)), "docker://localhost/app:1", "localhost",
     IT_DECISION_ACCEPT},
    {POL("docker", S("localhost:5000", ACC)), "docker://localhost/app:1", GLOBAL,
     IT_DECISION_REJECT},
    /* a scope under another transport does not apply */
    {POL("atomic", S("r.io", ACC)), "docker://r.io/a/b:1", GLOBAL, IT_DECISION_REJECT},
    /* unknown transport names are ignored (§10.44) */
    {"{\"default\":" REJ ",\"transports\":{\"nosuch\":{\"r.io\":" ACC "},"
     "\"docker\":{\"r.io/a\":" SIG "}}}",
     "docker://r.io/a/b:1", "r.io/a", IT_DECISION_SIGNATURES_REQUIRED},
    {"{\"default\":" ACC ",\"transports\":{\"nosuch\":{\"\":" REJ "}}}", "docker://r.io/a/b:1",
     GLOBAL, IT_DECISION_ACCEPT},
    /* atomic */
    {POL("atomic", S("r.io/ns/stream:1", ACC)), "atomic:r.io/ns/stream:1", "r.io/ns/stream:1",
     IT_DECISION_ACCEPT},
    {POL("atomic", S("r.io/ns", ACC)), "atomic:r.io/ns/stream:1", "r.io/ns", IT_DECISION_ACCEPT},
    {POL("atomic", S("*.io", SIG)), "atomic:r.io/ns/stream:1", "*.io",
     IT_DECISION_SIGNATURES_REQUIRED},
    {POL("docker", S("r.io", ACC)), "atomic:r.io/ns/stream:1", GLOBAL, IT_DECISION_REJECT},
    /* docker-daemon: named like docker, image IDs only by "" */
    {POL("docker-daemon", S("docker.io/library/busybox", ACC)), "docker-daemon:busybox:latest",
     "docker.io/library/busybox", IT_DECISION_ACCEPT},
    /* (an image ID has no Docker reference for the default identity rule to compare with) */
    {POL("docker-daemon", S("docker.io", ACC) "," S("", SIG)), "docker-daemon:" D256, "",
     IT_DECISION_REJECT},
    {POL("docker-daemon", S("docker.io", ACC)), "docker-daemon:" D256, GLOBAL, IT_DECISION_REJECT},
    /* containers-storage */
    {POL("containers-storage", S("[vfs@/s]docker.io/library/busybox:latest", ACC)),
     "containers-storage:[vfs@/s]busybox", "[vfs@/s]docker.io/library/busybox:latest",
     IT_DECISION_ACCEPT},
    {POL("containers-storage", S("[vfs@/s]docker.io/library", ACC)),
     "containers-storage:[vfs@/s]busybox:1", "[vfs@/s]docker.io/library", IT_DECISION_ACCEPT},
    {POL("containers-storage", S("[vfs@/s]", SIG)), "containers-storage:[vfs@/s]busybox",
     "[vfs@/s]", IT_DECISION_SIGNATURES_REQUIRED},
    {POL("containers-storage", S("[/s]", ACC)), "containers-storage:[vfs@/s]busybox", "[/s]",
     IT_DECISION_ACCEPT},
    {POL("containers-storage", S("[overlay@/s]", ACC)), "containers-storage:[vfs@/s]busybox",
     GLOBAL, IT_DECISION_REJECT},
    {POL("containers-storage", S("[vfs@/s]@" HEX64, ACC)), "containers-storage:[vfs@/s]@" HEX64,
     "[vfs@/s]@" HEX64, IT_DECISION_ACCEPT},
    {POL("containers-storage", S("[vfs@/s]docker.io/library/busybox:latest", ACC)),
     "containers-storage:[vfs@/s]busybox@" HEX64, "[vfs@/s]docker.io/library/busybox:latest",
     IT_DECISION_ACCEPT},
    {POL("containers-storage", S("[vfs@/s]docker.io", ACC)), "containers-storage:[vfs@/s]" HEX64,
     GLOBAL, IT_DECISION_REJECT},
    {POL("containers-storage", S("[vfs@/s]", ACC)), "containers-storage:[vfs@/s//+/run:opt]busybox",
     "[vfs@/s]", IT_DECISION_ACCEPT},
    /* dir: resolved paths, parents, "/" never a namespace */
    {POL("dir", S("@T@/img", ACC)), "dir:@T@/img", "@T@/img", IT_DECISION_ACCEPT},
    {POL("dir", S("@T@", ACC)), "dir:@T@/img", "@T@", IT_DECISION_ACCEPT},
    {POL("dir", S("@T@/img", ACC)), "dir:@T@/img/inner", "@T@/img", IT_DECISION_ACCEPT},
    {POL("dir", S("@T@/img", ACC)), "dir:@T@/link", "@T@/img", IT_DECISION_ACCEPT},
    {POL("dir", S("@T@/img", ACC)), "dir:@T@//img/./inner/..", "@T@/img", IT_DECISION_ACCEPT},
    {POL("dir", S("@T@/new", ACC)), "dir:@T@/new", "@T@/new", IT_DECISION_ACCEPT},
    {POL("dir", S("@T@/img/new", ACC)), "dir:@T@/link/new", "@T@/img/new", IT_DECISION_ACCEPT},
    {POL("dir", S("@T@/im", ACC)), "dir:@T@/img", GLOBAL, IT_DECISION_REJECT},
    {POL("dir", S("", SIG)), "dir:@T@/img", "", IT_DECISION_REJECT},
    {POLA("dir", S("@T@/other", REJ)), "dir:@T@/img", GLOBAL, IT_DECISION_ACCEPT},
    /* oci: the :image part is no part of the identity */
    {POL("oci", S("@T@/img", ACC)), "oci:@T@/img:app", "@T@/img", IT_DECISION_ACCEPT},
    {POL("oci", S("@T@/img", ACC)), "oci:@T@/img", "@T@/img", IT_DECISION_ACCEPT},
    {POL("oci", S("@T@", ACC)), "oci:@T@/link:app:1", "@T@", IT_DECISION_ACCEPT},
    {POL("dir", S("@T@/img", ACC)), "oci:@T@/img", GLOBAL, IT_DECISION_REJECT},
    /* oci-archive */
    {POL("oci-archive", S("@T@/a.tar", ACC)), "oci-archive:@T@/a.tar:x", "@T@/a.tar",
     IT_DECISION_ACCEPT},
    {POL("oci-archive", S("@T@", SIG)), "oci-archive:@T@/a.tar", "@T@",
     IT_DECISION_REJECT /* no Docker identity for the default identity rule */},
    /* docker-archive and tarball: only "" */
    {POL("docker-archive", S("", ACC)), "docker-archive:@T@/a.tar", "", IT_DECISION_ACCEPT},
    {POL("docker-archive", S("", ACC)), "docker-archive:@T@/a.tar:busybox:1", "",
     IT_DECISION_ACCEPT},
    {POL("docker-archive", S("", SIG)), "docker-archive:@T@/a.tar:busybox:1", "",
     IT_DECISION_SIGNATURES_REQUIRED},
    {POLA("dir", S("", REJ)), "docker-archive:@T@/a.tar", GLOBAL, IT_DECISION_ACCEPT},
    {POL("tarball", S("", ACC)), "tarball:@T@/a.tar", "", IT_DECISION_ACCEPT},
    /* sif */
    {POL("sif", S("@T@/x.sif", ACC)), "sif:@T@/x.sif", "@T@/x.sif", IT_DECISION_ACCEPT},
    {POL("sif", S("@T@", ACC)), "sif:@T@/x.sif", "@T@", IT_DECISION_ACCEPT},
    /* decisions (§6.6, §6.8) */
    {"{\"default\":[{\"type\":\"insecureAcceptAnything\"},{\"type\":\"reject\"}]}",
     "docker://busybox", GLOBAL, IT_DECISION_REJECT},
    {"{\"default\":[{\"type\":\"insecureAcceptAnything\"},{\"type\":\"insecureAcceptAnything\"}]}",
     "docker://busybox", GLOBAL, IT_DECISION_ACCEPT},
    {"{\"default\":[{\"type\":\"signedBy\",\"keyType\":\"X509Certificates\",\"keyPath\":\"/k\"}]}",
     "docker://busybox", GLOBAL, IT_DECISION_REJECT},
    {"{\"default\":[{\"type\":\"signedBy\",\"keyType\":\"signedByGPGKeys\",\"keyPath\":\"/k\"}]}",
     "docker://busybox", GLOBAL, IT_DECISION_REJECT},
    {"{\"default\":[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPaths\":[]}]}",
     "docker://busybox", GLOBAL, IT_DECISION_REJECT},
    {"{\"default\":[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPaths\":[\"/a\",\"/b\"]},"
     "{\"type\":\"insecureAcceptAnything\"}]}",
     "docker://busybox", GLOBAL, IT_DECISION_SIGNATURES_REQUIRED},
    {"{\"default\":[{\"type\":\"signedBaseLayer\",\"baseLayerIdentity\":{\"type\":"
     "\"matchRepository\"}}]}",
     "docker://busybox", GLOBAL, IT_DECISION_REJECT},
    {"{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"/k.pub\"}]}", "docker://busybox",
     GLOBAL, IT_DECISION_SIGNATURES_REQUIRED},
    {"{\"default\":[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":\"/k\","
     "\"signedIdentity\":{\"type\":\"exactReference\",\"dockerReference\":\"r.io/a:1\"}}]}",
     "dir:@T@/img", GLOBAL, IT_DECISION_SIGNATURES_REQUIRED},
    {"{\"default\":[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":\"/k\","
     "\"signedIdentity\":{\"type\":\"matchRepository\"}}]}",
     "oci:@T@/img", GLOBAL, IT_DECISION_REJECT},
};

/* Replace every "@T@" by the scratch directory. Allocates. */
static char *subst(const char *s, const char *t)
{
        if (!s)
                return NULL;
        struct it_buf b = IT_BUF_INIT;
        for (const char *p = s; *p;) {
                if (strncmp(p, "@T@", 3) == 0) {
                        it_buf_adds(&b, t);
                        p += 3;
                } else {
                        it_buf_addch(&b, *p++);
                }
        }
        return it_buf_detach(&b);
}

static void parse_policy(const char *json, struct it_policy *p)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (policy_parse(json, strlen(json), "test.json", p, &err) != 0)
                fail_msg("policy %s: %s", json, err.msg);
}

static void parse_image(const char *s, struct it_image *img)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (policy_image_parse(s, img, &err) != 0) {
                _cleanup_free_ char *m = it_error_format(&err);
                fail_msg("image %s: %s", s, m);
        }
}

static void test_table(void **state)
{
        struct fixture *f = *state;
        size_t n = sizeof table / sizeof table[0];
        assert_true(n >= 40);
        for (size_t i = 0; i < n; i++) {
                const struct row *r = &table[i];
                _cleanup_free_ char *json = subst(r->policy, f->t);
                _cleanup_free_ char *image = subst(r->image, f->t);
                _cleanup_free_ char *scope = subst(r->scope, f->t);
                struct it_policy p = IT_POLICY_INIT;
                struct it_image img = IT_IMAGE_INIT;
                struct it_eval e = IT_EVAL_INIT;
                parse_policy(json, &p);
                parse_image(image, &img);
                policy_eval(&p, &img, &e);
                bool scope_ok = scope ? (e.scope && strcmp(e.scope, scope) == 0) : !e.scope;
                if (!scope_ok || e.decision != r->decision)
                        fail_msg("row %zu: %s with %s: expected scope %s and %s, got %s and %s", i,
                                 image, json, scope ? scope : "(global default)",
                                 policy_decision_name(r->decision),
                                 e.scope ? e.scope : "(global default)",
                                 policy_decision_name(e.decision));
                /* The list applied is the one of the scope chosen. */
                assert_non_null(e.reqs);
                assert_true(e.reqs->n >= 1);
                assert_int_equal(e.reasons.n, e.reqs->n);
                if (!scope)
                        assert_ptr_equal(e.reqs, &p.def);
                policy_eval_free(&e);
                policy_image_free(&img);
                policy_free(&p);
        }
}

/* ---- image names ---- */

static void expect_image(const char *s, const char *transport, const char *identity,
                         const char *const *namespaces, const char *docker)
{
        struct it_image img = IT_IMAGE_INIT;
        parse_image(s, &img);
        assert_string_equal(img.transport, transport);
        assert_string_equal(img.input, s);
        assert_string_equal(img.identity, identity);
        size_t n = 0;
        while (namespaces[n])
                n++;
        if (img.namespaces.n != n)
                fail_msg("%s: expected %zu namespaces, got %zu", s, n, img.namespaces.n);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(img.namespaces.v[i], namespaces[i]);
        if (docker) {
                assert_true(img.has_docker);
                _cleanup_free_ char *d = ref_string(&img.docker);
                assert_string_equal(d, docker);
        } else {
                assert_false(img.has_docker);
        }
        policy_image_free(&img);
}

#define NS(...)                                                                                    \
        (const char *const[])                                                                      \
        {                                                                                          \
                __VA_ARGS__, NULL                                                                  \
        }
#define NONE                                                                                       \
        (const char *const[])                                                                      \
        {                                                                                          \
                NULL                                                                               \
        }

static void test_image_docker(void **state)
{
        (void)state;
        expect_image("docker://registry.example.com:5000/ns/app:1.0", "docker",
                     "registry.example.com:5000/ns/app:1.0",
                     NS("registry.example.com:5000/ns/app", "registry.example.com:5000/ns",
                        "registry.example.com:5000", "*.example.com", "*.com"),
                     "registry.example.com:5000/ns/app:1.0");
        expect_image("docker://busybox", "docker", "docker.io/library/busybox:latest",
                     NS("docker.io/library/busybox", "docker.io/library", "docker.io", "*.io"),
                     "docker.io/library/busybox:latest");
        expect_image("docker://busybox@" D256, "docker", "docker.io/library/busybox@" D256,
                     NS("docker.io/library/busybox", "docker.io/library", "docker.io", "*.io"),
                     "docker.io/library/busybox@" D256);
        expect_image("docker://localhost:5000/app", "docker", "localhost:5000/app:latest",
                     NS("localhost:5000/app", "localhost:5000"), "localhost:5000/app:latest");
        expect_image("atomic:r.io/ns/stream:1", "atomic", "r.io/ns/stream:1",
                     NS("r.io/ns/stream", "r.io/ns", "r.io", "*.io"), "r.io/ns/stream:1");
        expect_image("docker-daemon:busybox:1", "docker-daemon", "docker.io/library/busybox:1",
                     NS("docker.io/library/busybox", "docker.io/library", "docker.io", "*.io"),
                     "docker.io/library/busybox:1");
        expect_image("docker-daemon:busybox@" D256, "docker-daemon",
                     "docker.io/library/busybox@" D256,
                     NS("docker.io/library/busybox", "docker.io/library", "docker.io", "*.io"),
                     "docker.io/library/busybox@" D256);
        expect_image("docker-daemon:" D256, "docker-daemon", "", NONE, NULL);
        /* Not a valid digest, so a repository "sha512" with a tag, as upstream. */
        expect_image("docker-daemon:sha512:0123", "docker-daemon", "docker.io/library/sha512:0123",
                     NS("docker.io/library/sha512", "docker.io/library", "docker.io", "*.io"),
                     "docker.io/library/sha512:0123");
}

static void test_image_storage(void **state)
{
        (void)state;
        expect_image("containers-storage:[vfs@/s]r.io/a/b:1", "containers-storage",
                     "[vfs@/s]r.io/a/b:1",
                     NS("[vfs@/s]r.io/a/b", "[vfs@/s]r.io/a", "[vfs@/s]r.io", "[vfs@/s]", "[/s]"),
                     "r.io/a/b:1");
        expect_image("containers-storage:[vfs@/s]busybox@" HEX64, "containers-storage",
                     "[vfs@/s]docker.io/library/busybox:latest@" HEX64,
                     NS("[vfs@/s]docker.io/library/busybox:latest",
                        "[vfs@/s]docker.io/library/busybox", "[vfs@/s]docker.io/library",
                        "[vfs@/s]docker.io", "[vfs@/s]", "[/s]"),
                     "docker.io/library/busybox:latest");
        expect_image("containers-storage:[vfs@/s]r.io/a:1@" D256, "containers-storage",
                     "[vfs@/s]r.io/a:1@" D256,
                     NS("[vfs@/s]r.io/a:1", "[vfs@/s]r.io/a", "[vfs@/s]r.io", "[vfs@/s]", "[/s]"),
                     "r.io/a:1@" D256);
        expect_image("containers-storage:[vfs@/s]r.io/a:1@" D256 "@" HEX64, "containers-storage",
                     "[vfs@/s]r.io/a:1@" D256 "@" HEX64,
                     NS("[vfs@/s]r.io/a:1@" D256, "[vfs@/s]r.io/a:1", "[vfs@/s]r.io/a",
                        "[vfs@/s]r.io", "[vfs@/s]", "[/s]"),
                     "r.io/a:1@" D256);
        expect_image("containers-storage:[vfs@/s]@" HEX64, "containers-storage", "[vfs@/s]@" HEX64,
                     NS("[vfs@/s]", "[/s]"), NULL);
        expect_image("containers-storage:[vfs@/s]" HEX64, "containers-storage", "[vfs@/s]@" HEX64,
                     NS("[vfs@/s]", "[/s]"), NULL);
        /* Run root and options do not name the store; the root is cleaned. */
        expect_image("containers-storage:[zfs@/var/lib//x/+/run/x:a=b,c]r.io/a:1",
                     "containers-storage", "[zfs@/var/lib/x]r.io/a:1",
                     NS("[zfs@/var/lib/x]r.io/a", "[zfs@/var/lib/x]r.io", "[zfs@/var/lib/x]",
                        "[/var/lib/x]"),
                     "r.io/a:1");
        /* Without a driver: overlay, as this system's podman defaults to. */
        expect_image(
            "containers-storage:[/s]r.io/a:1", "containers-storage", "[overlay@/s]r.io/a:1",
            NS("[overlay@/s]r.io/a", "[overlay@/s]r.io", "[overlay@/s]", "[/s]"), "r.io/a:1");
        if (geteuid() == 0)
                expect_image("containers-storage:r.io/a:1", "containers-storage",
                             "[overlay@/var/lib/containers/storage]r.io/a:1",
                             NS("[overlay@/var/lib/containers/storage]r.io/a",
                                "[overlay@/var/lib/containers/storage]r.io",
                                "[overlay@/var/lib/containers/storage]",
                                "[/var/lib/containers/storage]"),
                             "r.io/a:1");
}

static void test_image_paths(void **state)
{
        struct fixture *f = *state;
        _cleanup_free_ char *s = NULL, *id = NULL, *ns0 = NULL, *ns1 = NULL;

        s = subst("dir:@T@/img", f->t);
        id = subst("@T@/img", f->t);
        struct it_image img = IT_IMAGE_INIT;
        parse_image(s, &img);
        assert_string_equal(img.identity, id);
        assert_false(img.has_docker);
        /* Every parent but "/", nearest first. */
        assert_true(img.namespaces.n >= 1);
        assert_string_equal(img.namespaces.v[0], f->t);
        for (size_t i = 0; i < img.namespaces.n; i++) {
                assert_string_not_equal(img.namespaces.v[i], "/");
                assert_string_not_equal(img.namespaces.v[i], "");
        }
        const char *last = img.namespaces.v[img.namespaces.n - 1];
        assert_true(last[0] == '/' && strchr(last + 1, '/') == NULL);
        policy_image_free(&img);

        /* oci: the directory itself heads its namespaces. */
        free(s);
        s = subst("oci:@T@/link:app", f->t);
        parse_image(s, &img);
        assert_string_equal(img.identity, id);
        assert_string_equal(img.namespaces.v[0], id);
        assert_string_equal(img.namespaces.v[1], f->t);
        policy_image_free(&img);

        /* sif: like dir. */
        free(s);
        s = subst("sif:@T@/x.sif", f->t);
        ns0 = subst("@T@/x.sif", f->t);
        parse_image(s, &img);
        assert_string_equal(img.identity, ns0);
        assert_string_equal(img.namespaces.v[0], f->t);
        policy_image_free(&img);

        /* Near the root: "/" is never a namespace. */
        expect_image("dir:/", "dir", "/", NONE, NULL);
        expect_image("dir:/nonexistent-peval", "dir", "/nonexistent-peval", NONE, NULL);
        expect_image("oci:/nonexistent-peval:x", "oci", "/nonexistent-peval",
                     NS("/nonexistent-peval"), NULL);
        expect_image("sif:/tmp/nonexistent-peval.sif", "sif", "/tmp/nonexistent-peval.sif",
                     NS("/tmp"), NULL);

        /* Relative paths resolve against the working directory; "dir:" is the directory. */
        _cleanup_free_ char *cwd = getcwd(NULL, 0);
        assert_non_null(cwd);
        assert_int_equal(chdir(f->t), 0);
        ns1 = subst("@T@/img", f->t);
        parse_image("dir:img", &img);
        assert_string_equal(img.identity, ns1);
        policy_image_free(&img);
        parse_image("dir:", &img);
        assert_string_equal(img.identity, f->t);
        policy_image_free(&img);
        parse_image("dir:fresh", &img);
        _cleanup_free_ char *fresh = subst("@T@/fresh", f->t);
        assert_string_equal(img.identity, fresh);
        policy_image_free(&img);
        assert_int_equal(chdir(cwd), 0);

        /* Archives without a name have no identity; with one, a Docker reference. */
        expect_image("docker-archive:/x.tar", "docker-archive", "", NONE, NULL);
        expect_image("docker-archive:/x.tar:busybox", "docker-archive", "", NONE,
                     "docker.io/library/busybox:latest");
        expect_image("docker-archive:/x.tar:@0", "docker-archive", "", NONE, NULL);
        expect_image("tarball:/a.tar:/b.tar", "tarball", "", NONE, NULL);
}

static void expect_bad_image(const char *s, const char *msg)
{
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_image img = IT_IMAGE_INIT;
        int rc = policy_image_parse(s, &img, &err);
        if (rc != IT_EINPUT)
                fail_msg("%s: expected IT_EINPUT, got %d", s, rc);
        _cleanup_free_ char *m = it_error_format(&err);
        if (strcmp(m, msg) != 0)
                fail_msg("%s:\n  expected: %s\n  got:      %s", s, msg, m);
        assert_null(img.transport);
        assert_null(img.identity);
}

static void test_image_errors(void **state)
{
        struct fixture *f = *state;
        expect_bad_image("foo:bar", "\"foo:bar\": unknown transport \"foo\"");
        expect_bad_image("ostree:/x", "\"ostree:/x\": unknown transport \"ostree\"");
        expect_bad_image("busybox", "invalid image name \"busybox\", expected colon-separated "
                                    "transport:reference");
        expect_bad_image("docker:busybox",
                         "\"docker:busybox\": docker: image reference \"busybox\" does not start "
                         "with //");
        expect_bad_image("docker://busybox:1@" D256,
                         "\"docker://busybox:1@" D256 "\": Docker references with both a tag and "
                         "digest are currently not supported");
        expect_bad_image("docker://Busybox",
                         "\"docker://Busybox\": invalid reference \"Busybox\": repository name "
                         "must be lowercase");
        expect_bad_image("docker://", "\"docker://\": invalid reference \"\": repository name "
                                      "must have at least one component");
        expect_bad_image("atomic:r.io/ns/stream",
                         "\"atomic:r.io/ns/stream\": invalid image reference \"r.io/ns/stream\", "
                         "expected format: 'hostname/namespace/stream:tag'");
        expect_bad_image("atomic:r.io/a/b/c:1",
                         "\"atomic:r.io/a/b/c:1\": invalid image reference \"r.io/a/b/c:1\", "
                         "expected format: 'hostname/namespace/stream:tag'");
        expect_bad_image("docker-daemon:busybox",
                         "\"docker-daemon:busybox\": docker-daemon: reference \"busybox\" has "
                         "neither a tag nor a digest");
        expect_bad_image("docker-daemon:" HEX64,
                         "\"docker-daemon:" HEX64 "\": invalid reference \"" HEX64
                         "\": cannot specify 64-byte hexadecimal strings");
        expect_bad_image("docker-daemon:sha512:" HEX64 HEX64,
                         "\"docker-daemon:sha512:" HEX64 HEX64
                         "\": invalid docker-daemon: reference \"sha512:" HEX64 HEX64
                         "\": only digest algorithm sha256 accepted");
        expect_bad_image("docker-daemon:sha256:abc",
                         "\"docker-daemon:sha256:abc\": invalid docker-daemon: reference "
                         "\"sha256:abc\": the sha256 repository name is reserved for "
                         "(non-shortened) digest references");
        expect_bad_image("docker-daemon:a:1@" D256,
                         "\"docker-daemon:a:1@" D256 "\": docker-daemon: references with both a "
                         "tag and digest are currently not supported");
        expect_bad_image("containers-storage:",
                         "\"containers-storage:\": invalid containers-storage reference \"\": "
                         "empty reference");
        expect_bad_image("containers-storage:[]x",
                         "\"containers-storage:[]x\": invalid containers-storage reference "
                         "\"[]x\": empty store specifier");
        expect_bad_image("containers-storage:[vfs@]x",
                         "\"containers-storage:[vfs@]x\": invalid containers-storage reference "
                         "\"[vfs@]x\": empty store location");
        expect_bad_image("containers-storage:[@/s]x",
                         "\"containers-storage:[@/s]x\": invalid containers-storage reference "
                         "\"[@/s]x\": empty driver name");
        expect_bad_image("containers-storage:[vfs@/s",
                         "\"containers-storage:[vfs@/s\": invalid containers-storage reference "
                         "\"[vfs@/s\": store specifier did not end");
        expect_bad_image("containers-storage:[vfs@s]x",
                         "\"containers-storage:[vfs@s]x\": invalid containers-storage reference "
                         "\"[vfs@s]x\": path name is not absolute");
        expect_bad_image("containers-storage:[vfs@/s]x:1@",
                         "\"containers-storage:[vfs@/s]x:1@\": invalid containers-storage "
                         "reference \"[vfs@/s]x:1@\": empty trailing digest or ID");
        expect_bad_image("containers-storage:[vfs@/s]x:1@f4aa",
                         "\"containers-storage:[vfs@/s]x:1@f4aa\": invalid containers-storage "
                         "reference \"[vfs@/s]x:1@f4aa\": \"f4aa\" does not look like an image "
                         "ID or digest");
        expect_bad_image("containers-storage:[vfs@/s]",
                         "\"containers-storage:[vfs@/s]\": invalid containers-storage "
                         "reference \"[vfs@/s]\": no image name or ID");
        expect_bad_image("oci:/x:-bad", "\"oci:/x:-bad\": invalid image name \"-bad\"");
        expect_bad_image("oci:/x:@0", "\"oci:/x:@0\": invalid image name \"@0\"");
        expect_bad_image("docker-archive:",
                         "\"docker-archive:\": docker-archive reference \"\" isn't of the form "
                         "<path>[:<reference>]");
        expect_bad_image("docker-archive:/a.tar:busybox@" D256,
                         "\"docker-archive:/a.tar:busybox@" D256
                         "\": reference does not include a tag: docker.io/library/busybox@" D256);
        expect_bad_image("docker-archive:/a.tar:busybox:1@" D256,
                         "\"docker-archive:/a.tar:busybox:1@" D256
                         "\": docker-archive doesn't support digest references: "
                         "docker.io/library/busybox:1@" D256);
        expect_bad_image("docker-archive:/a.tar:@x",
                         "\"docker-archive:/a.tar:@x\": invalid source index in \"/a.tar:@x\"");
        expect_bad_image("docker-archive:/a.tar:",
                         "\"docker-archive:/a.tar:\": docker-archive parsing reference: invalid "
                         "reference \"\": repository name must have at least one component");
        expect_bad_image("tarball:", "\"tarball:\": tarball reference \"\" has an empty file name");
        expect_bad_image("tarball:/a::/b",
                         "\"tarball:/a::/b\": tarball reference \"/a::/b\" has an empty file name");
        expect_bad_image("dir:/nonexistent-peval/x",
                         "\"dir:/nonexistent-peval/x\": cannot resolve \"/nonexistent-peval\": No "
                         "such file or directory");
        _cleanup_free_ char *nd = subst("dir:@T@/a.tar/x", f->t);
        _cleanup_free_ char *nd_msg =
            subst("\"dir:@T@/a.tar/x\": cannot resolve \"@T@/a.tar/x\": Not a directory", f->t);
        expect_bad_image(nd, nd_msg);

        /* Bounded input. */
        char *big = xmalloc(9000);
        memcpy(big, "dir:/", 5);
        memset(big + 5, 'a', 8994);
        big[8999] = '\0';
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        struct it_image img = IT_IMAGE_INIT;
        assert_int_equal(policy_image_parse(big, &img, &err), IT_EINPUT);
        assert_non_null(strstr(err.msg, "is longer than 8192 characters"));
        free(big);
        it_error_clear(&err);
        assert_int_equal(policy_image_parse(NULL, &img, &err), IT_EINPUT);
        assert_string_equal(err.msg, "missing image name");
}

/* ---- passed_over, transport, reasons ---- */

static void eval_json(const char *json, const char *image, struct it_policy *p,
                      struct it_image *img, struct it_eval *e)
{
        parse_policy(json, p);
        parse_image(image, img);
        policy_eval(p, img, e);
}

static void expect_strv(const struct it_strv *v, const char *const *want)
{
        size_t n = 0;
        while (want[n])
                n++;
        if (v->n != n)
                fail_msg("expected %zu strings, got %zu (first: %s)", n, v->n,
                         v->n ? v->v[0] : "none");
        for (size_t i = 0; i < n; i++)
                assert_string_equal(v->v[i], want[i]);
}

static void test_passed_over(void **state)
{
        struct fixture *f = *state;
        struct it_policy p = IT_POLICY_INIT;
        struct it_image img = IT_IMAGE_INIT;
        struct it_eval e = IT_EVAL_INIT;

        eval_json(POL("docker", S("*.com", ACC)), "docker://registry.example.com:5000/ns/app:1.0",
                  &p, &img, &e);
        assert_string_equal(e.transport, "docker");
        assert_string_equal(e.scope, "*.com");
        expect_strv(&e.passed_over,
                    NS("registry.example.com:5000/ns/app:1.0", "registry.example.com:5000/ns/app",
                       "registry.example.com:5000/ns", "registry.example.com:5000",
                       "*.example.com"));
        policy_eval_free(&e);
        policy_image_free(&img);
        policy_free(&p);

        /* Nothing matched, "" neither: every candidate is listed, then the global default. */
        eval_json(POL("docker", S("q.io", ACC)), "docker://busybox", &p, &img, &e);
        assert_string_equal(e.transport, "docker");
        assert_null(e.scope);
        assert_ptr_equal(e.reqs, &p.def);
        expect_strv(&e.passed_over,
                    NS("docker.io/library/busybox:latest", "docker.io/library/busybox",
                       "docker.io/library", "docker.io", "*.io"));
        policy_eval_free(&e);
        policy_image_free(&img);
        policy_free(&p);

        /* Exact identity: nothing passed over. */
        eval_json(POL("docker", S("docker.io/library/busybox:latest", ACC)), "docker://busybox", &p,
                  &img, &e);
        expect_strv(&e.passed_over, NONE);
        policy_eval_free(&e);
        policy_image_free(&img);
        policy_free(&p);

        /* No section for the transport: nothing is tried. */
        eval_json(POL("dir", S("", ACC)), "docker://busybox", &p, &img, &e);
        assert_null(e.transport);
        assert_null(e.scope);
        expect_strv(&e.passed_over, NONE);
        policy_eval_free(&e);
        policy_image_free(&img);
        policy_free(&p);

        /* oci lists its directory once although it is identity and first namespace. */
        _cleanup_free_ char *json = subst(POL("oci", S("", ACC)), f->t);
        _cleanup_free_ char *im = subst("oci:@T@/img:x", f->t);
        _cleanup_free_ char *dir = subst("@T@/img", f->t);
        eval_json(json, im, &p, &img, &e);
        assert_string_equal(e.scope, "");
        assert_true(e.passed_over.n >= 2);
        assert_string_equal(e.passed_over.v[0], dir);
        assert_string_equal(e.passed_over.v[1], f->t);
        policy_eval_free(&e);
        policy_image_free(&img);
        policy_free(&p);

        /* An empty identity is the transport default itself, never "passed over". */
        eval_json(POL("docker-archive", S("", ACC)), "docker-archive:/x.tar", &p, &img, &e);
        assert_string_equal(e.transport, "docker-archive");
        assert_string_equal(e.scope, "");
        expect_strv(&e.passed_over, NONE);
        policy_eval_free(&e);
        policy_image_free(&img);
        policy_free(&p);
}

static void expect_reasons(const char *json, const char *image, enum it_decision d,
                           const char *const *reasons)
{
        struct it_policy p = IT_POLICY_INIT;
        struct it_image img = IT_IMAGE_INIT;
        struct it_eval e = IT_EVAL_INIT;
        eval_json(json, image, &p, &img, &e);
        if (e.decision != d)
                fail_msg("%s with %s: expected %s, got %s", image, json, policy_decision_name(d),
                         policy_decision_name(e.decision));
        expect_strv(&e.reasons, reasons);
        policy_eval_free(&e);
        policy_image_free(&img);
        policy_free(&p);
}

static void test_reasons(void **state)
{
        (void)state;
        expect_reasons("{\"default\":" REJ "}", "docker://busybox", IT_DECISION_REJECT,
                       NS("requirement 1 (reject): rejects every image"));
        expect_reasons("{\"default\":" ACC "}", "docker://busybox", IT_DECISION_ACCEPT,
                       NS("requirement 1 (insecureAcceptAnything): accepts every image"));
        expect_reasons("{\"default\":" SIG "}", "docker://busybox", IT_DECISION_SIGNATURES_REQUIRED,
                       NS("requirement 1 (signedBy, GPGKeys, keyPath /k.gpg): needs a signature "
                          "by a key in /k.gpg, identity rule matchRepoDigestOrExact"));
        expect_reasons(
            "{\"default\":[{\"type\":\"insecureAcceptAnything\"},{\"type\":\"signedBy\","
            "\"keyType\":\"X509Certificates\","
            "\"keyPath\":\"/k\"}]}",
            "docker://busybox", IT_DECISION_REJECT,
            NS("requirement 1 (insecureAcceptAnything): accepts every image",
               "requirement 2 (signedBy): keyType X509Certificates is not implemented; rejects "
               "every image"));
        expect_reasons(
            "{\"default\":[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPaths\":[]}]}",
            "docker://busybox", IT_DECISION_REJECT,
            NS("requirement 1 (signedBy, GPGKeys, keyPaths []): no keys are listed, so no "
               "signature can be accepted; rejects every image"));
        expect_reasons(
            "{\"default\":[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPaths\":[\"/a.gpg\","
            "\"/b.gpg\"],\"signedIdentity\":{\"type\":\"matchRepository\"}},"
            "{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyData\":\"AAAA\","
            "\"signedIdentity\":{\"type\":\"matchExact\"}}]}",
            "docker://busybox", IT_DECISION_SIGNATURES_REQUIRED,
            NS("requirement 1 (signedBy, GPGKeys, keyPaths /a.gpg, /b.gpg): needs a signature by "
               "a key in /a.gpg or /b.gpg, identity rule matchRepository",
               "requirement 2 (signedBy, GPGKeys, keyData): needs a signature by the key in "
               "keyData, identity rule matchExact"));
        expect_reasons(
            "{\"default\":[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":\"/k\","
            "\"signedIdentity\":{\"type\":\"exactReference\",\"dockerReference\":"
            "\"r.io/a:1\"}},{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":\"/k\","
            "\"signedIdentity\":{\"type\":\"exactRepository\",\"dockerRepository\":\"r.io/a\"}},"
            "{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":\"/k\","
            "\"signedIdentity\":{\"type\":\"remapIdentity\",\"prefix\":\"m.io/v\","
            "\"signedPrefix\":\"v.io\"}}]}",
            "docker://m.io/v/app:1", IT_DECISION_SIGNATURES_REQUIRED,
            NS("requirement 1 (signedBy, GPGKeys, keyPath /k): needs a signature by a key in /k, "
               "identity rule exactReference r.io/a:1",
               "requirement 2 (signedBy, GPGKeys, keyPath /k): needs a signature by a key in /k, "
               "identity rule exactRepository r.io/a",
               "requirement 3 (signedBy, GPGKeys, keyPath /k): needs a signature by a key in /k, "
               "identity rule remapIdentity m.io/v -> v.io"));
        expect_reasons("{\"default\":[{\"type\":\"signedBaseLayer\",\"baseLayerIdentity\":"
                       "{\"type\":\"matchRepository\"}}]}",
                       "docker://busybox", IT_DECISION_REJECT,
                       NS("requirement 1 (signedBaseLayer): not implemented (as upstream); rejects "
                          "every image"));
        expect_reasons("{\"default\":[{\"type\":\"sigstoreSigned\",\"keyPath\":\"/k.pub\"}]}",
                       "docker://busybox", IT_DECISION_SIGNATURES_REQUIRED,
                       NS("requirement 1 (sigstoreSigned, keyPath /k.pub): needs a sigstore "
                          "signature by a key in /k.pub, identity rule matchRepoDigestOrExact"));
        /* No Docker identity: the image-relative rules can never match (§10.27). */
        expect_reasons("{\"default\":" SIG "}", "docker-archive:/x.tar", IT_DECISION_REJECT,
                       NS("requirement 1 (signedBy, GPGKeys, keyPath /k.gpg): identity rule "
                          "matchRepoDigestOrExact compares with the image's Docker reference and "
                          "docker-archive:/x.tar has none; rejects every image"));
        expect_reasons("{\"default\":" SIG "}", "docker-archive:/x.tar:r.io/a:1",
                       IT_DECISION_SIGNATURES_REQUIRED,
                       NS("requirement 1 (signedBy, GPGKeys, keyPath /k.gpg): needs a signature "
                          "by a key in /k.gpg, identity rule matchRepoDigestOrExact"));
        /* [signedBy A, signedBy B]: both are needed (§10.30, §10.31). */
        expect_reasons("{\"default\":[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":"
                       "\"/a.gpg\"},{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":"
                       "\"/b.gpg\"}]}",
                       "docker://busybox", IT_DECISION_SIGNATURES_REQUIRED,
                       NS("requirement 1 (signedBy, GPGKeys, keyPath /a.gpg): needs a signature "
                          "by a key in /a.gpg, identity rule matchRepoDigestOrExact",
                          "requirement 2 (signedBy, GPGKeys, keyPath /b.gpg): needs a signature "
                          "by a key in /b.gpg, identity rule matchRepoDigestOrExact"));
}

/* Policies built by hand: an empty list (only programmatic), and odd key sources. */
static void test_hand_built(void **state)
{
        (void)state;
        struct it_policy p = IT_POLICY_INIT;
        struct it_image img = IT_IMAGE_INIT;
        struct it_eval e = IT_EVAL_INIT;
        parse_image("docker://busybox", &img);

        policy_eval(&p, &img, &e);
        assert_int_equal(e.decision, IT_DECISION_REJECT);
        assert_null(e.transport);
        assert_null(e.scope);
        expect_strv(&e.reasons, NS("no requirements: an empty list rejects every image"));
        policy_eval_free(&e);

        struct it_requirement reqs[2] = {
            {.type = IT_REQ_SIGSTORE_SIGNED, .key_source = IT_KEYSRC_DATAS, .nkey_data = 0},
            {.type = IT_REQ_SIGSTORE_SIGNED, .key_source = IT_KEYSRC_FULCIO},
        };
        reqs[1].identity.type = IT_IDENT_MATCH_REPOSITORY;
        struct it_scope scope = {.name = (char *)"docker.io", .reqs = {reqs, 2}};
        struct it_transport tr = {
            .name = (char *)"docker", .known = true, .scopes = &scope, .n = 1};
        p.transports = &tr;
        p.ntransports = 1;
        policy_eval(&p, &img, &e);
        assert_int_equal(e.decision, IT_DECISION_REJECT);
        assert_string_equal(e.transport, "docker");
        assert_string_equal(e.scope, "docker.io");
        assert_ptr_equal(e.reqs, &scope.reqs);
        expect_strv(&e.reasons,
                    NS("requirement 1 (sigstoreSigned, keyDatas []): no keys are listed, so no "
                       "signature can be accepted; rejects every image",
                       "requirement 2 (sigstoreSigned, fulcio): needs a sigstore signature by a "
                       "Fulcio-issued certificate, identity rule matchRepository"));
        policy_eval_free(&e);
        /* policy_eval_free leaves an empty, reusable value. */
        assert_null(e.reasons.v);
        assert_int_equal(e.passed_over.n, 0);
        policy_image_free(&img);
}

static void test_decision_names(void **state)
{
        (void)state;
        assert_string_equal(policy_decision_name(IT_DECISION_ACCEPT), "accept");
        assert_string_equal(policy_decision_name(IT_DECISION_REJECT), "reject");
        assert_string_equal(policy_decision_name(IT_DECISION_SIGNATURES_REQUIRED),
                            "signatures-required");
        assert_string_equal(policy_decision_name((enum it_decision)42), "unknown");
}

/* ---- fixture ---- */

static int setup(void **state)
{
        const char *base = getenv("TMPDIR");
        _cleanup_free_ char *tmpl =
            xasprintf("%s/peval-test-XXXXXX", base && base[0] == '/' ? base : "/tmp");
        if (!mkdtemp(tmpl))
                return -1;
        struct fixture *f = xcalloc(1, sizeof *f);
        f->t = realpath(tmpl, NULL);
        if (!f->t)
                return -1;
        _cleanup_free_ char *img = xasprintf("%s/img", f->t);
        _cleanup_free_ char *inner = xasprintf("%s/img/inner", f->t);
        _cleanup_free_ char *link = xasprintf("%s/link", f->t);
        _cleanup_free_ char *tar = xasprintf("%s/a.tar", f->t);
        _cleanup_free_ char *sif = xasprintf("%s/x.sif", f->t);
        if (mkdir(img, 0755) || mkdir(inner, 0755) || symlink(img, link))
                return -1;
        FILE *fp = fopen(tar, "w");
        if (!fp || fclose(fp))
                return -1;
        fp = fopen(sif, "w");
        if (!fp || fclose(fp))
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        const char *names[] = {"img/inner", "img", "link", "a.tar", "x.sif"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
                _cleanup_free_ char *p = xasprintf("%s/%s", f->t, names[i]);
                if (remove(p) != 0)
                        return -1;
        }
        if (rmdir(f->t) != 0)
                return -1;
        free(f->t);
        free(f);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_table),          cmocka_unit_test(test_image_docker),
            cmocka_unit_test(test_image_storage),  cmocka_unit_test(test_image_paths),
            cmocka_unit_test(test_image_errors),   cmocka_unit_test(test_passed_over),
            cmocka_unit_test(test_reasons),        cmocka_unit_test(test_hand_built),
            cmocka_unit_test(test_decision_names),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
