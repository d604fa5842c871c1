/* Which docker scopes can ever match, and what lint reports for a configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "imgtrust/lint.h"

#define BUSYBOX_BY_DIGEST                                                                          \
        ("docker.io/library/busybox@sha256:"                                                       \
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

static void test_scope_valid(void **state)
{
        (void)state;
        static const char *const valid[] = {
            "docker.io",
            "docker.io/library",
            "docker.io/library/busybox",
            "docker.io/library/busybox:latest",
            BUSYBOX_BY_DIGEST,
            "docker.io/myorg",
            "quay.io/ns/app",
            "localhost",
            "localhost:5000",
            "localhost:5000/x",
            "registry.example.com:5000/prod",
            "*.example.com",
            "*.com",
            "10.1.2.3",
        };
        for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
                char *why = NULL;
                if (!trust_docker_scope_valid(valid[i], &why))
                        fail_msg("%s: flagged: %s", valid[i], why);
                assert_null(why);
        }
        static const struct {
                const char *scope, *why;
        } invalid[] = {
            {"busybox", "did you mean \"docker.io/library/busybox\""},
            {"library/busybox", "did you mean \"docker.io/library/busybox\""},
            {"index.docker.io", "not a valid registry host"},
            {"*.example.com:5000", "without port or path"},
            {"*.example.com/ns", "without port or path"},
            {"example*.*.com", "not a valid registry host"},
            {"Quay.io/UPPER", "never matches"},
        };
        for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
                char *why = NULL;
                if (trust_docker_scope_valid(invalid[i].scope, &why))
                        fail_msg("%s: not flagged", invalid[i].scope);
                assert_non_null(why);
                if (!strstr(why, invalid[i].why))
                        fail_msg("%s: \"%s\" lacks \"%s\"", invalid[i].scope, why, invalid[i].why);
                free(why);
        }
}

static void test_lint_findings(void **state)
{
        (void)state;
        const char *doc = "{\"default\":[{\"type\":\"reject\"}],\"transports\":{\"docker\":{"
                          "\"docker.io/library\":[{\"type\":\"insecureAcceptAnything\"}],"
                          "\"busybox\":[{\"type\":\"insecureAcceptAnything\"}],"
                          "\"q.io\":[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\","
                          "\"keyPath\":\"/nonexistent/k.gpg\"}],"
                          "\"x.io\":[{\"type\":\"signedBy\",\"keyType\":\"X509Certificates\","
                          "\"keyPaths\":[]}]}}}";
        struct it_policy p = IT_POLICY_INIT;
        it_error err = IT_ERROR_INIT;
        assert_int_equal(policy_parse(doc, strlen(doc), "p.json", &p, &err), 0);
        struct it_regd r = IT_REGD_INIT;
        const char *y = "docker:\n  other.io:\n    lookaside: https://s.example/\n"
                        "  q.io/team:\n    lookaside: https://s.example/\n";
        assert_int_equal(regd_parse(y, strlen(y), "r.yaml", &r, &err), 0);
        struct it_strv f = IT_STRV_INIT;
        trust_lint(&p, &r, &f);
        const char *want[] = {
            "p.json: transports.docker.busybox: scope \"busybox\" never matches",
            "p.json: transports.docker[\"q.io\"][0]: /nonexistent/k.gpg",
            "p.json: transports.docker[\"x.io\"][0].keyPaths: empty",
            "p.json: transports.docker[\"x.io\"][0].keyType: X509Certificates is not implemented",
            "r.yaml: docker[\"other.io\"].lookaside: no policy.json entry",
        };
        for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
                bool found = false;
                for (size_t i = 0; i < f.n; i++)
                        if (strncmp(f.v[i], want[w], strlen(want[w])) == 0)
                                found = true;
                if (!found) {
                        for (size_t i = 0; i < f.n; i++)
                                print_message("finding: %s\n", f.v[i]);
                        fail_msg("missing finding: %s", want[w]);
                }
        }
        for (size_t i = 0; i < f.n; i++)
                if (strstr(f.v[i], "docker.io/library\"]") || strstr(f.v[i], "q.io/team"))
                        fail_msg("false finding: %s", f.v[i]);
        assert_int_equal(f.n, 5);
        it_strv_free(&f);
        regd_free(&r);
        policy_free(&p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_scope_valid),
            cmocka_unit_test(test_lint_findings),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
