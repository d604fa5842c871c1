/* policy.json strict parsing and validation (spec §6.2–6.7, §10 items 38–45) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/error.h"
#include "imgtrust/fs.h"
#include "imgtrust/json.h"
#include "imgtrust/policy.h"
#include "imgtrust/xalloc.h"

#define FILE_NAME "/etc/containers/policy.json"
#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char *parse_error(const char *json)
{
        struct it_policy p = IT_POLICY_INIT;
        it_error err = IT_ERROR_INIT;
        int rc = policy_parse(json, strlen(json), FILE_NAME, &p, &err);
        if (rc != IT_EINPUT)
                fail_msg("expected IT_EINPUT for %s, got %d", json, rc);
        assert_null(p.path);
        assert_null(p.def.v);
        assert_null(p.transports);
        char *msg = it_error_format(&err);
        it_error_clear(&err);
        return msg;
}

/* Parsing `json` fails, with a message "FILE: ..." that contains every given substring. */
#define expect_invalid(json, ...)                                                                  \
        do {                                                                                       \
                char *msg_ = parse_error(json);                                                    \
                const char *subs_[] = {__VA_ARGS__, NULL};                                         \
                if (strncmp(msg_, FILE_NAME ": ", strlen(FILE_NAME) + 2) != 0)                     \
                        fail_msg("message does not start with the file name: %s", msg_);           \
                for (const char **s_ = subs_; *s_; s_++)                                           \
                        if (!strstr(msg_, *s_))                                                    \
                                fail_msg("message \"%s\" lacks \"%s\"", msg_, *s_);                \
                if (strchr(msg_, '\n'))                                                            \
                        fail_msg("message spans lines: %s", msg_);                                 \
                free(msg_);                                                                        \
        } while (0)

static void parse_ok(const char *json, struct it_policy *p)
{
        it_error err = IT_ERROR_INIT;
        int rc = policy_parse(json, strlen(json), FILE_NAME, p, &err);
        if (rc != 0) {
                char *msg = it_error_format(&err);
                fail_msg("unexpected error for %s: %s", json, msg);
        }
        assert_string_equal(p->path, FILE_NAME);
}

/* One requirement as the whole default list. */
static void parse_req_ok(const char *req, struct it_policy *p)
{
        char *json = xasprintf("{\"default\":[%s]}", req);
        parse_ok(json, p);
        free(json);
        assert_int_equal(p->def.n, 1);
        assert_string_equal(p->def.v[0].where, "default[0]");
}

static char *req_error(const char *req)
{
        char *json = xasprintf("{\"default\":[%s]}", req);
        char *msg = parse_error(json);
        free(json);
        return msg;
}

#define expect_req_invalid(req, ...)                                                               \
        do {                                                                                       \
                char *msg_ = req_error(req);                                                       \
                const char *subs_[] = {__VA_ARGS__, NULL};                                         \
                for (const char **s_ = subs_; *s_; s_++)                                           \
                        if (!strstr(msg_, *s_))                                                    \
                                fail_msg("message \"%s\" lacks \"%s\"", msg_, *s_);                \
                free(msg_);                                                                        \
        } while (0)

static const char *fixtures(void)
{
        const char *f = getenv("IMGTRUST_FIXTURES");
        if (!f)
                fail_msg("IMGTRUST_FIXTURES is not set");
        return f;
}

static bool has_suffix(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void test_fixtures_valid(void **state)
{
        (void)state;
        char *dir = xasprintf("%s/policy/valid", fixtures());
        DIR *d = opendir(dir);
        assert_non_null(d);
        struct dirent *e;
        int n = 0;
        while ((e = readdir(d))) {
                if (!has_suffix(e->d_name, ".json"))
                        continue;
                char *path = xasprintf("%s/%s", dir, e->d_name);
                struct it_policy p = IT_POLICY_INIT;
                it_error err = IT_ERROR_INIT;
                if (policy_load(path, &p, &err) != 0)
                        fail_msg("%s: %s", e->d_name, it_error_format(&err));
                assert_string_equal(p.path, path);
                assert_true(p.def.n >= 1);
                policy_free(&p);
                free(path);
                n++;
        }
        closedir(d);
        free(dir);
        assert_true(n >= 45);
}

static void test_fixtures_invalid(void **state)
{
        (void)state;
        char *dir = xasprintf("%s/policy/invalid", fixtures());
        DIR *d = opendir(dir);
        assert_non_null(d);
        struct dirent *e;
        int n = 0;
        while ((e = readdir(d))) {
                if (!has_suffix(e->d_name, ".json"))
                        continue;
                char *path = xasprintf("%s/%s", dir, e->d_name);
                char *errpath = xasprintf("%.*s.err", (int)(strlen(path) - 5), path);
                char *want = NULL;
                size_t wlen = 0;
                it_error err = IT_ERROR_INIT;
                if (it_file_read(errpath, 4096, &want, &wlen, &err) != 0)
                        fail_msg("%s: no .err file", e->d_name);
                while (wlen && (want[wlen - 1] == '\n'))
                        want[--wlen] = '\0';
                assert_true(wlen > 0);

                struct it_policy p = IT_POLICY_INIT;
                int rc = policy_load(path, &p, &err);
                if (rc == 0)
                        fail_msg("%s: parsed, expected \"%s\"", e->d_name, want);
                assert_int_equal(rc, IT_EINPUT);
                assert_null(p.def.v);
                char *msg = it_error_format(&err);
                char *prefix = xasprintf("%s: ", path);
                if (strncmp(msg, prefix, strlen(prefix)) != 0)
                        fail_msg("%s: message does not start with the path: %s", e->d_name, msg);
                if (!strstr(msg, want))
                        fail_msg("%s: message \"%s\" lacks \"%s\"", e->d_name, msg, want);
                if (strchr(msg, '\n'))
                        fail_msg("%s: message spans lines", e->d_name);
                free(prefix);
                free(msg);
                it_error_clear(&err);
                free(want);
                free(errpath);
                free(path);
                n++;
        }
        closedir(d);
        free(dir);
        assert_true(n >= 115);
}

static void test_exact_message(void **state)
{
        (void)state;
        char *msg = parse_error("{\"default\":[{\"type\":\"reject\"}],\"transports\":{\"docker\":{"
                                "\"quay.io/ns\":[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\","
                                "\"keyPath\":5}]}}}");
        assert_string_equal(msg, "/etc/containers/policy.json: "
                                 "transports.docker[\"quay.io/ns\"][0].keyPath: must be a string, "
                                 "not number");
        free(msg);
        /* A whole-document problem names the file alone. */
        msg = parse_error("{}");
        assert_string_equal(msg, "/etc/containers/policy.json: missing mandatory key \"default\"");
        free(msg);
        msg = parse_error("[]");
        assert_string_equal(msg, "/etc/containers/policy.json: must be a JSON object with "
                                 "\"default\" and \"transports\", not array");
        free(msg);
        msg = parse_error("{\"default\":[{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\","
                          "\"keyPath\":\"/a\",\"keyData\":\"aGVsbG8=\"}]}");
        assert_string_equal(msg, "/etc/containers/policy.json: default[0]: exactly one of "
                                 "keyPath, keyPaths and keyData must be specified, 2 present "
                                 "(keyPath, keyData)");
        free(msg);
}

/* §10 item 38 */
static void test_item38_whole_file_invalid(void **state)
{
        (void)state;
        expect_invalid("{\"default\":[{\"type\":\"reject\"}],\"default\":[{\"type\":\"reject\"}]}",
                       "invalid JSON", "duplicate");
        expect_invalid("{\"default\":[{\"type\":\"reject\"}],\"transports\":{\"docker\":{\"a\":[{"
                       "\"type\":\"reject\"}],\"a\":[{\"type\":\"reject\"}]}}}",
                       "duplicate");
        expect_invalid("{\"default\":[{\"type\":\"reject\",\"type\":\"reject\"}]}", "duplicate");
        expect_invalid("{\"default\":[{\"type\":\"reject\"}],\"extra\":{}}",
                       FILE_NAME ": extra: unknown key");
        expect_invalid("{\"default\":[{\"type\":\"reject\",\"extra\":1}]}",
                       "default[0].extra: unknown key in a reject requirement (allowed: type)");
        expect_invalid("{\"default\":[]}", "default: the requirement list must not be empty");
        expect_invalid("{\"default\":[{\"type\":\"reject\"}],\"transports\":{\"dir\":{\"\":[]}}}",
                       "transports.dir[\"\"]: the requirement list must not be empty");
        expect_invalid("{\"transports\":{}}", "missing mandatory key \"default\"");
        expect_invalid("{\"default\":null}", "default: must be an array, not null");
        expect_invalid("{\"default\":[{\"type\":\"reject\"}],\"transports\":{\"docker\":{\"x\":"
                       "null}}}",
                       "transports.docker.x: must be an array, not null");
}

/* §10 item 39 */
static void test_item39_signed_by_keys(void **state)
{
        (void)state;
        expect_req_invalid("{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\"}",
                           "default[0]: ", "exactly one of keyPath, keyPaths and keyData",
                           "none present");
        expect_req_invalid("{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":\"/a\","
                           "\"keyPaths\":[\"/b\"]}",
                           "exactly one of keyPath, keyPaths and keyData", "2 present",
                           "(keyPath, keyPaths)");
        expect_req_invalid("{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPaths\":[],"
                           "\"keyData\":\"\"}",
                           "exactly one of", "(keyPaths, keyData)");
        expect_req_invalid("{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":\"\"}",
                           "default[0].keyPath: ", "exactly one of keyPath, keyPaths and keyData");
        expect_req_invalid("{\"type\":\"signedBy\",\"keyPath\":\"/a\"}",
                           "default[0]: missing mandatory key \"keyType\"");
}

/* §10 items 40 and 41: these parse; evaluation rejects them. */
static void test_item40_41_parse(void **state)
{
        (void)state;
        static const struct {
                const char *name;
                enum it_key_type t;
        } kt[] = {
            {"GPGKeys", IT_KEY_GPG_KEYS},
            {"signedByGPGKeys", IT_KEY_SIGNED_BY_GPG_KEYS},
            {"X509Certificates", IT_KEY_X509_CERTIFICATES},
            {"signedByX509CAs", IT_KEY_SIGNED_BY_X509_CAS},
        };
        for (size_t i = 0; i < sizeof kt / sizeof *kt; i++) {
                struct it_policy p = IT_POLICY_INIT;
                char *req = xasprintf(
                    "{\"type\":\"signedBy\",\"keyType\":\"%s\",\"keyPath\":\"/k\"}", kt[i].name);
                parse_req_ok(req, &p);
                assert_int_equal(p.def.v[0].type, IT_REQ_SIGNED_BY);
                assert_int_equal(p.def.v[0].key_type, kt[i].t);
                assert_string_equal(policy_key_type_name(kt[i].t), kt[i].name);
                assert_int_equal(p.def.v[0].key_source, IT_KEYSRC_PATH);
                assert_string_equal(p.def.v[0].key_path, "/k");
                policy_free(&p);
                free(req);
        }
        expect_req_invalid("{\"type\":\"signedBy\",\"keyType\":\"X509\",\"keyPath\":\"/k\"}",
                           "default[0].keyType: unknown keyType \"X509\"");

        struct it_policy p = IT_POLICY_INIT;
        parse_req_ok("{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPaths\":[]}", &p);
        assert_int_equal(p.def.v[0].key_source, IT_KEYSRC_PATHS);
        assert_int_equal(p.def.v[0].key_paths.n, 0);
        policy_free(&p);
        parse_req_ok("{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPaths\":[\"/a\",\"\","
                     "\"/b\"]}",
                     &p);
        assert_int_equal(p.def.v[0].key_paths.n, 3);
        assert_string_equal(p.def.v[0].key_paths.v[0], "/a");
        assert_string_equal(p.def.v[0].key_paths.v[1], "");
        assert_string_equal(p.def.v[0].key_paths.v[2], "/b");
        assert_false(p.def.v[0].identity.given);
        assert_int_equal(p.def.v[0].identity.type, IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT);
        policy_free(&p);
}

/* §10 item 42 and keyData decoding */
static void test_item42_key_data(void **state)
{
        (void)state;
        static const struct {
                const char *b64, *plain;
        } ok[] = {
            {"aGVsbG8gd29ybGQ=", "hello world"},
            {"aGVs\\nbG8g\\r\\nd29y\\nbGQ=\\n", "hello world"},
            {"aGVsbA==", "hell"},
            {"aGVsbA=\\n=\\r\\n", "hell"},
            {"", ""},
            {"QR==", "A"}, /* non-zero trailing bits, accepted as Go's StdEncoding does */
            {"+/8=", "\xfb\xff"},
        };
        for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
                struct it_policy p = IT_POLICY_INIT;
                char *req =
                    xasprintf("{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyData\":\"%s\"}",
                              ok[i].b64);
                parse_req_ok(req, &p);
                const struct it_requirement *r = &p.def.v[0];
                assert_int_equal(r->key_source, IT_KEYSRC_DATA);
                assert_int_equal(r->nkey_data, 1);
                assert_int_equal(r->key_data[0].len, strlen(ok[i].plain));
                assert_memory_equal(r->key_data[0].data, ok[i].plain, strlen(ok[i].plain));
                policy_free(&p);
                free(req);
        }
        static const char *const bad[] = {
            "aGVsbG8",      /* unpadded */
            "aGVsbA=",      /* half the padding */
            "aGVsbA===",    /* too much padding */
            "aGVsbA==aGVs", /* data after the padding */
            "ab-_",         /* URL-safe alphabet */
            "aGVs bG8=",    /* space */
            "a===",         /* padding after one character */
            "====",         /* only padding */
            "aGVsbG8=\\t",  /* tab */
            "not base64!",
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                char *req = xasprintf(
                    "{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyData\":\"%s\"}", bad[i]);
                expect_req_invalid(req, "default[0].keyData: invalid base64");
                free(req);
        }
}

/* §10 item 43 */
static void test_item43_path_scopes(void **state)
{
        (void)state;
        static const struct {
                const char *transport, *scope, *want;
        } bad[] = {
            {"dir", "rel", "must be an absolute path"},
            {"dir", "/", "\"/\" is not allowed"},
            {"dir", "/a/", "not a clean path (use \"/a\")"},
            {"dir", "/a/./b", "not a clean path (use \"/a/b\")"},
            {"dir", "/a/b/..", "not a clean path (use \"/a\")"},
            {"dir", "/../a", "not a clean path (use \"/a\")"},
            {"sif", "/", "\"/\" is not allowed"},
            {"sif", "x.sif", "must be an absolute path"},
            {"oci", "/", "\"/\" is not allowed"},
            {"oci", "/l//x", "not a clean path (use \"/l/x\")"},
            {"oci-archive", "a.tar", "must be an absolute path"},
            {"docker-archive", "/a.tar", "docker-archive supports only the default scope \"\""},
            {"tarball", "/a.tar", "tarball supports only the default scope \"\""},
            {"docker-daemon", "sha256:" H64, "a digest"},
            {"containers-storage", "busybox", "must start with"},
            {"containers-storage", "[]", "must start with"},
            {"containers-storage", "[overlay@]x", "must start with"},
            {"containers-storage", "[@/r]x", "must start with"},
            {"containers-storage", "[/r", "must start with"},
            {"containers-storage", "[overlay@r]x", "absolute"},
            {"containers-storage", "[/r]x@" H64 "0", "neither a valid image ID nor a valid digest"},
            {"containers-storage", "[/r]x@sha256:" H64 "@abc", "\"abc\" is not a valid image ID"},
            {"containers-storage", "[/r]x@md5:" H64 "@" H64, "is not a valid digest"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                char *json =
                    xasprintf("{\"default\":[{\"type\":\"reject\"}],\"transports\":{\"%s\":"
                              "{\"%s\":[{\"type\":\"reject\"}]}}}",
                              bad[i].transport, bad[i].scope);
                struct it_buf where = IT_BUF_INIT;
                it_json_path_key(&where, "transports");
                it_json_path_key(&where, bad[i].transport);
                it_json_path_key(&where, bad[i].scope);
                it_buf_adds(&where, ": invalid scope: ");
                expect_invalid(json, it_buf_str(&where), bad[i].want);
                it_buf_free(&where);
                free(json);
        }
        static const struct {
                const char *transport, *scope;
        } good[] = {
            {"dir", "/a/b"},
            {"dir", "/a:b"},
            {"oci", "/a/b:tag"},
            {"oci-archive", "/x.tar"},
            {"sif", "/x.sif"},
            {"docker-daemon", "sha256:abc"},
            {"docker-daemon", "sha256:" H64 "0"},
            {"docker-daemon", "busybox:latest"},
            {"containers-storage", "[/r]"},
            {"containers-storage", "[overlay@/var/lib/containers/storage]busybox:1"},
            {"containers-storage", "[/r]busybox@" H64},
            {"containers-storage", "[/r]busybox@sha256:" H64},
            {"containers-storage", "[/r]busybox:1@sha256:" H64 "@" H64},
            {"containers-storage", "[vfs@/r+/run:opt=1]x"},
            {"atomic", "a/b/c/d"}, /* not validated by skopeo 1.9.3 / podman 4.3.1 */
        };
        for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
                char *json =
                    xasprintf("{\"default\":[{\"type\":\"reject\"}],\"transports\":{\"%s\":"
                              "{\"%s\":[{\"type\":\"reject\"}]}}}",
                              good[i].transport, good[i].scope);
                struct it_policy p = IT_POLICY_INIT;
                parse_ok(json, &p);
                assert_int_equal(p.ntransports, 1);
                assert_true(p.transports[0].known);
                assert_string_equal(p.transports[0].scopes[0].name, good[i].scope);
                policy_free(&p);
                free(json);
        }
}

/* §10 items 44 and 45 */
static void test_item44_45_accepted(void **state)
{
        (void)state;
        struct it_policy p = IT_POLICY_INIT;
        parse_ok("{\"default\":[{\"type\":\"reject\"}],\"transports\":{"
                 "\"nonsense\":{\"rel ~ ative\":[{\"type\":\"insecureAcceptAnything\"}]},"
                 "\"ostree\":{\"x\":[{\"type\":\"reject\"}]},"
                 "\"docker\":{\"example*.*.com\":[{\"type\":\"reject\"}],\"busybox\":[{\"type\":"
                 "\"reject\"}],\"\":[{\"type\":\"insecureAcceptAnything\"}]}}}",
                 &p);
        assert_int_equal(p.ntransports, 3);
        assert_string_equal(p.transports[0].name, "nonsense");
        assert_false(p.transports[0].known);
        assert_string_equal(p.transports[0].scopes[0].name, "rel ~ ative");
        assert_string_equal(p.transports[0].scopes[0].reqs.v[0].where,
                            "transports.nonsense[\"rel ~ ative\"][0]");
        assert_string_equal(p.transports[1].name, "ostree");
        assert_false(p.transports[1].known);
        assert_string_equal(p.transports[2].name, "docker");
        assert_true(p.transports[2].known);
        assert_int_equal(p.transports[2].n, 3);
        assert_string_equal(p.transports[2].scopes[1].name, "busybox");
        assert_string_equal(p.transports[2].scopes[2].name, "");
        assert_string_equal(p.transports[2].scopes[2].reqs.v[0].where,
                            "transports.docker[\"\"][0]");
        assert_int_equal(p.transports[2].scopes[2].reqs.v[0].type, IT_REQ_INSECURE_ACCEPT_ANYTHING);
        policy_free(&p);
        /* Requirements of unknown transports are still checked, as upstream. */
        expect_invalid("{\"default\":[{\"type\":\"reject\"}],\"transports\":{\"nonsense\":{\"x\":[{"
                       "\"type\":\"nope\"}]}}}",
                       "transports.nonsense.x[0].type: unknown requirement type \"nope\"");
}

static void test_wrong_types(void **state)
{
        (void)state;
        expect_invalid("{\"default\":{}}", "default: must be an array, not object");
        expect_invalid("{\"default\":\"reject\"}", "default: must be an array, not string");
        expect_invalid("{\"default\":[[]]}", "default[0]: must be an object, not array");
        expect_invalid("{\"default\":[true]}", "default[0]: must be an object, not boolean");
        expect_invalid("{\"default\":[{\"type\":\"reject\"}],\"transports\":null}",
                       "transports: must be an object, not null");
        expect_invalid("{\"default\":[{\"type\":\"reject\"}],\"transports\":[]}",
                       "transports: must be an object, not array");
        expect_invalid("{\"default\":[{\"type\":\"reject\"}],\"transports\":{\"docker\":[]}}",
                       "transports.docker: must be an object, not array");
        expect_invalid("{\"default\":[{\"type\":\"reject\"}],\"transports\":{\"docker\":{\"q.io\":"
                       "{}}}}",
                       "transports.docker[\"q.io\"]: must be an array, not object");
        expect_req_invalid("{\"type\":1.5}", "default[0].type: must be a string, not number");
        expect_req_invalid("{\"type\":[\"reject\"]}",
                           "default[0].type: must be a string, not array");
        expect_req_invalid("{\"type\":\"signedBy\",\"keyType\":null,\"keyPath\":\"/k\"}",
                           "default[0].keyType: must be a string, not null");
        expect_req_invalid("{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPaths\":{}}",
                           "default[0].keyPaths: must be an array, not object");
        expect_req_invalid("{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPaths\":[null]}",
                           "default[0].keyPaths[0]: must be a string, not null");
        expect_req_invalid("{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyData\":[\"x\"]}",
                           "default[0].keyData: must be a string, not array");
        expect_req_invalid("{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":\"/k\","
                           "\"signedIdentity\":\"matchExact\"}",
                           "default[0].signedIdentity: must be an object, not string");
        expect_req_invalid("{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":\"/k\","
                           "\"signedIdentity\":{\"type\":false}}",
                           "default[0].signedIdentity.type: must be a string, not boolean");
        expect_req_invalid("{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":\"/k\","
                           "\"signedIdentity\":{\"type\":\"remapIdentity\",\"prefix\":1,"
                           "\"signedPrefix\":\"x.io\"}}",
                           "default[0].signedIdentity.prefix: must be a string, not number");
        expect_req_invalid("{\"type\":\"sigstoreSigned\",\"fulcio\":[]}",
                           "default[0].fulcio: must be an object, not array");
        expect_req_invalid("{\"type\":\"sigstoreSigned\",\"keyPath\":\"/k\","
                           "\"rekorPublicKeyDatas\":\"aGVsbG8=\"}",
                           "default[0].rekorPublicKeyDatas: must be an array, not string");
}

static void test_unknown_types(void **state)
{
        (void)state;
        expect_req_invalid("{\"type\":\"acceptAnything\"}",
                           "default[0].type: unknown requirement type \"acceptAnything\"");
        expect_req_invalid("{\"type\":\"\"}", "default[0].type: unknown requirement type \"\"");
        expect_req_invalid("{}", "default[0]: missing mandatory key \"type\"");
        expect_req_invalid("{\"type\":\"bad\\nline\"}",
                           "unknown requirement type \"bad\\x0aline\"");
        expect_req_invalid("{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":\"/k\","
                           "\"signedIdentity\":{\"type\":\"matchTag\"}}",
                           "default[0].signedIdentity.type: unknown signedIdentity type "
                           "\"matchTag\"");
        expect_req_invalid("{\"type\":\"signedBaseLayer\",\"baseLayerIdentity\":{\"type\":\"x\"}}",
                           "default[0].baseLayerIdentity.type: unknown baseLayerIdentity type "
                           "\"x\"");
        /* A long value is cut in the message. */
        char long_type[600];
        memset(long_type, 'x', sizeof long_type - 1);
        long_type[sizeof long_type - 1] = '\0';
        char *req = xasprintf("{\"type\":\"%s\"}", long_type);
        char *msg = req_error(req);
        assert_non_null(strstr(msg, "xxx\"..."));
        assert_true(strlen(msg) < 400);
        free(msg);
        free(req);
}

static void test_identity_types(void **state)
{
        (void)state;
        static const struct {
                const char *json;
                enum it_ident_type t;
                const char *ref, *repo, *prefix, *signed_prefix;
        } ok[] = {
            {"{\"type\":\"matchExact\"}", IT_IDENT_MATCH_EXACT, NULL, NULL, NULL, NULL},
            {"{\"type\":\"matchRepoDigestOrExact\"}", IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT, NULL,
             NULL, NULL, NULL},
            {"{\"type\":\"matchRepository\"}", IT_IDENT_MATCH_REPOSITORY, NULL, NULL, NULL, NULL},
            {"{\"type\":\"exactReference\",\"dockerReference\":\"busybox:1\"}",
             IT_IDENT_EXACT_REFERENCE, "busybox:1", NULL, NULL, NULL},
            {"{\"type\":\"exactReference\",\"dockerReference\":\"q.io/a/b@sha256:" H64 "\"}",
             IT_IDENT_EXACT_REFERENCE, "q.io/a/b@sha256:" H64, NULL, NULL, NULL},
            {"{\"type\":\"exactRepository\",\"dockerRepository\":\"busybox\"}",
             IT_IDENT_EXACT_REPOSITORY, NULL, "busybox", NULL, NULL},
            {"{\"type\":\"exactRepository\",\"dockerRepository\":\"q.io/a:1\"}",
             IT_IDENT_EXACT_REPOSITORY, NULL, "q.io/a:1", NULL, NULL},
            {"{\"type\":\"remapIdentity\",\"prefix\":\"m.example/v\",\"signedPrefix\":\"docker.io/"
             "library\"}",
             IT_IDENT_REMAP_IDENTITY, NULL, NULL, "m.example/v", "docker.io/library"},
            {"{\"signedPrefix\":\"localhost:5000\",\"prefix\":\"Host.Example.COM:1\",\"type\":"
             "\"remapIdentity\"}",
             IT_IDENT_REMAP_IDENTITY, NULL, NULL, "Host.Example.COM:1", "localhost:5000"},
            {"{\"type\":\"remapIdentity\",\"prefix\":\"a.b/c__d/e-f/g.h/i--j\",\"signedPrefix\":"
             "\"busybox\"}",
             IT_IDENT_REMAP_IDENTITY, NULL, NULL, "a.b/c__d/e-f/g.h/i--j", "busybox"},
        };
        for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
                char *req = xasprintf("{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":"
                                      "\"/k\",\"signedIdentity\":%s}",
                                      ok[i].json);
                struct it_policy p = IT_POLICY_INIT;
                parse_req_ok(req, &p);
                const struct it_signed_identity *id = &p.def.v[0].identity;
                assert_true(id->given);
                assert_int_equal(id->type, ok[i].t);
#define CHECK_FIELD(f, want)                                                                       \
        if (want)                                                                                  \
                assert_string_equal(id->f, want);                                                  \
        else                                                                                       \
                assert_null(id->f);
                CHECK_FIELD(docker_reference, ok[i].ref);
                CHECK_FIELD(docker_repository, ok[i].repo);
                CHECK_FIELD(prefix, ok[i].prefix);
                CHECK_FIELD(signed_prefix, ok[i].signed_prefix);
#undef CHECK_FIELD
                policy_free(&p);
                free(req);
        }
        static const struct {
                const char *json, *want;
        } bad[] = {
            {"{\"type\":\"exactReference\",\"dockerReference\":\"busybox\"}",
             "signedIdentity.dockerReference: \"busybox\" has neither a tag nor a digest"},
            {"{\"type\":\"exactReference\",\"dockerReference\":\"q.io/A:1\"}",
             "signedIdentity.dockerReference: invalid reference \"q.io/A:1\""},
            {"{\"type\":\"exactReference\",\"dockerReference\":\"" H64 "\"}",
             "signedIdentity.dockerReference: invalid reference"},
            {"{\"type\":\"exactRepository\",\"dockerRepository\":\"a b\"}",
             "signedIdentity.dockerRepository: invalid reference \"a b\""},
            {"{\"type\":\"exactRepository\"}",
             "signedIdentity: missing mandatory key \"dockerRepository\""},
            {"{\"type\":\"matchRepository\",\"prefix\":\"x\"}",
             "signedIdentity.prefix: unknown key in matchRepository signedIdentity"},
            {"{\"type\":\"remapIdentity\",\"prefix\":\"q.io\"}",
             "signedIdentity: missing mandatory key \"signedPrefix\""},
            {"{\"type\":\"remapIdentity\",\"prefix\":\"q.io/ns@sha256:" H64 "\",\"signedPrefix\":"
             "\"x.io\"}",
             "signedIdentity.prefix: \"q.io/ns@sha256:"},
            {"{\"type\":\"remapIdentity\",\"prefix\":\"q.io/ns/\",\"signedPrefix\":\"x.io\"}",
             "signedIdentity.prefix: \"q.io/ns/\" is not valid"},
            {"{\"type\":\"remapIdentity\",\"prefix\":\"q.io\",\"signedPrefix\":\"x_y.io\"}",
             "signedIdentity.signedPrefix: \"x_y.io\" is not valid"},
            {"{\"type\":\"remapIdentity\",\"prefix\":\"q.io\",\"signedPrefix\":\"x.io/a_-b\"}",
             "signedIdentity.signedPrefix: \"x.io/a_-b\" is not valid"},
            {"{\"type\":\"remapIdentity\",\"prefix\":\"q.io\",\"signedPrefix\":\"x.io:99/a/\"}",
             "signedIdentity.signedPrefix: \"x.io:99/a/\" is not valid"},
            {"{\"type\":\"remapIdentity\",\"prefix\":\"q.io\",\"signedPrefix\":\"x.io/a\","
             "\"extra\":\"\"}",
             "signedIdentity.extra: unknown key"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                char *req = xasprintf("{\"type\":\"signedBy\",\"keyType\":\"GPGKeys\",\"keyPath\":"
                                      "\"/k\",\"signedIdentity\":%s}",
                                      bad[i].json);
                expect_req_invalid(req, "default[0].", bad[i].want);
                free(req);
        }
}

static void test_sigstore(void **state)
{
        (void)state;
        static const struct {
                const char *fields;
                enum it_key_source src;
                size_t nblobs, npaths;
        } ok[] = {
            {"\"keyPath\":\"/c.pub\"", IT_KEYSRC_PATH, 0, 0},
            {"\"keyPaths\":[\"/a\",\"/b\"]", IT_KEYSRC_PATHS, 0, 2},
            {"\"keyData\":\"aGVsbG8=\"", IT_KEYSRC_DATA, 1, 0},
            {"\"keyDatas\":[\"aGVsbG8=\",\"d29ybGQ=\",\"\"]", IT_KEYSRC_DATAS, 3, 0},
            {"\"fulcio\":{\"caPath\":\"/ca\",\"oidcIssuer\":\"https://"
             "i\",\"subjectEmail\":\"a@b\"},"
             "\"rekorPublicKeyPath\":\"/r\"",
             IT_KEYSRC_FULCIO, 0, 0},
            {"\"fulcio\":{\"caData\":\"aGVsbG8=\",\"oidcIssuer\":\"i\",\"subjectEmail\":\"e\"},"
             "\"rekorPublicKeyDatas\":[\"aGVsbG8=\"]",
             IT_KEYSRC_FULCIO, 0, 0},
            {"\"pki\":{\"caRootsPath\":\"/r\",\"subjectEmail\":\"e\"}", IT_KEYSRC_PKI, 0, 0},
            {"\"pki\":{\"caRootsData\":\"aGVsbG8=\",\"caIntermediatesPath\":\"/i\","
             "\"subjectHostname\":\"h\"}",
             IT_KEYSRC_PKI, 0, 0},
            {"\"keyPath\":\"/c\",\"rekorPublicKeyPaths\":[\"/r1\",\"/r2\"],\"signedIdentity\":{"
             "\"type\":\"matchExact\"}",
             IT_KEYSRC_PATH, 0, 0},
        };
        for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
                char *req = xasprintf("{\"type\":\"sigstoreSigned\",%s}", ok[i].fields);
                struct it_policy p = IT_POLICY_INIT;
                parse_req_ok(req, &p);
                const struct it_requirement *r = &p.def.v[0];
                assert_int_equal(r->type, IT_REQ_SIGSTORE_SIGNED);
                assert_int_equal(r->key_source, ok[i].src);
                assert_int_equal(r->nkey_data, ok[i].nblobs);
                assert_int_equal(r->key_paths.n, ok[i].npaths);
                if (ok[i].src == IT_KEYSRC_PATH)
                        assert_non_null(r->key_path);
                policy_free(&p);
                free(req);
        }
        struct it_policy p = IT_POLICY_INIT;
        parse_req_ok("{\"type\":\"sigstoreSigned\",\"keyDatas\":[\"aGVsbG8=\",\"d29ybGQ=\"],"
                     "\"signedIdentity\":{\"type\":\"exactRepository\",\"dockerRepository\":\"q.io/"
                     "x\"}}",
                     &p);
        assert_int_equal(p.def.v[0].key_data[1].len, 5);
        assert_memory_equal(p.def.v[0].key_data[1].data, "world", 5);
        assert_int_equal(p.def.v[0].identity.type, IT_IDENT_EXACT_REPOSITORY);
        policy_free(&p);

        static const struct {
                const char *fields, *want;
        } bad[] = {
            {"\"keyType\":\"GPGKeys\",\"keyPath\":\"/k\"", "default[0].keyType: unknown key"},
            {"\"keyPath\":\"/a\",\"fulcio\":{\"caPath\":\"/c\",\"oidcIssuer\":\"i\","
             "\"subjectEmail\":\"e\"},\"rekorPublicKeyPath\":\"/r\"",
             "2 present (keyPath, fulcio)"},
            {"\"pki\":{\"caRootsPath\":\"/r\",\"subjectEmail\":\"e\"},\"keyDatas\":[\"\"]",
             "2 present (keyDatas, pki)"},
            {"\"fulcio\":{\"caPath\":\"/c\",\"oidcIssuer\":\"i\",\"subjectEmail\":\"e\"}",
             "is required with fulcio"},
            {"\"keyPath\":\"/a\",\"rekorPublicKeyPaths\":[\"/r\"],\"rekorPublicKeyDatas\":[\"\"]",
             "at most one of rekorPublicKeyPath, rekorPublicKeyPaths, rekorPublicKeyData and "
             "rekorPublicKeyDatas must be specified, 2 present"},
            {"\"keyPaths\":[]", "default[0].keyPaths: must not be empty"},
            {"\"keyPath\":\"\"", "default[0].keyPath: must not be empty"},
            {"\"keyData\":\"aGVsbG8\"", "default[0].keyData: invalid base64"},
            {"\"keyDatas\":[\"aGVsbG8=\",\"a-b=\"]", "default[0].keyDatas[1]: invalid base64"},
            {"\"fulcio\":{\"caPath\":\"/c\",\"oidcIssuer\":\"\",\"subjectEmail\":\"e\"},"
             "\"rekorPublicKeyPath\":\"/r\"",
             "default[0].fulcio.oidcIssuer: must not be empty"},
            {"\"fulcio\":{\"caPath\":\"/c\",\"oidcIssuer\":\"i\"},\"rekorPublicKeyPath\":\"/r\"",
             "default[0].fulcio: missing mandatory key \"subjectEmail\""},
            {"\"pki\":{\"caRootsPath\":\"/r\",\"caRootsData\":\"\",\"subjectEmail\":\"e\"}",
             "default[0].pki: exactly one of caRootsPath and caRootsData must be specified, 2 "
             "present"},
            {"\"pki\":{\"caRootsPath\":\"/r\",\"subjectEmail\":1}",
             "default[0].pki.subjectEmail: must be a string, not number"},
            {"\"pki\":{\"caRootsPath\":\"/r\",\"oidcIssuer\":\"x\",\"subjectEmail\":\"e\"}",
             "default[0].pki.oidcIssuer: unknown key in pki"},
            {"\"keyPath\":\"/a\",\"signedIdentity\":{\"type\":\"exactReference\","
             "\"dockerReference\":\"x\"}",
             "default[0].signedIdentity.dockerReference: \"x\" has neither a tag nor a digest"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
                char *req = xasprintf("{\"type\":\"sigstoreSigned\",%s}", bad[i].fields);
                expect_req_invalid(req, bad[i].want);
                free(req);
        }
}

static void test_signed_base_layer(void **state)
{
        (void)state;
        struct it_policy p = IT_POLICY_INIT;
        parse_req_ok("{\"type\":\"signedBaseLayer\",\"baseLayerIdentity\":{\"type\":"
                     "\"exactRepository\",\"dockerRepository\":\"fedora\"}}",
                     &p);
        assert_int_equal(p.def.v[0].type, IT_REQ_SIGNED_BASE_LAYER);
        assert_true(p.def.v[0].identity.given);
        assert_int_equal(p.def.v[0].identity.type, IT_IDENT_EXACT_REPOSITORY);
        assert_string_equal(p.def.v[0].identity.docker_repository, "fedora");
        policy_free(&p);
        expect_req_invalid("{\"type\":\"signedBaseLayer\"}",
                           "default[0]: missing mandatory key \"baseLayerIdentity\"");
        expect_req_invalid("{\"type\":\"signedBaseLayer\",\"baseLayerIdentity\":{\"type\":"
                           "\"matchExact\"},\"signedIdentity\":{\"type\":\"matchExact\"}}",
                           "default[0].signedIdentity: unknown key in a signedBaseLayer "
                           "requirement");
        expect_req_invalid("{\"type\":\"signedBaseLayer\",\"baseLayerIdentity\":[]}",
                           "default[0].baseLayerIdentity: must be an object, not array");
}

static const char spec69[] =
    "{\n"
    "  \"default\": [{ \"type\": \"reject\" }],\n"
    "  \"transports\": {\n"
    "    \"docker\": {\n"
    "      \"registry.example.com/public\": [{ \"type\": \"insecureAcceptAnything\" }],\n"
    "      \"registry.example.com:5000/prod\": [\n"
    "        { \"type\": \"signedBy\", \"keyType\": \"GPGKeys\", \"keyPath\": "
    "\"/etc/pki/containers/prod.gpg\" }\n"
    "      ],\n"
    "      \"*.dev.example.com\": [\n"
    "        { \"type\": \"signedBy\", \"keyType\": \"GPGKeys\",\n"
    "          \"keyPaths\": [\"/etc/pki/containers/dev-a.gpg\", "
    "\"/etc/pki/containers/dev-b.gpg\"],\n"
    "          \"signedIdentity\": { \"type\": \"matchRepository\" } }\n"
    "      ],\n"
    "      \"mirror.example.com/vendor\": [\n"
    "        { \"type\": \"signedBy\", \"keyType\": \"GPGKeys\", \"keyPath\": "
    "\"/etc/pki/containers/vendor.gpg\",\n"
    "          \"signedIdentity\": { \"type\": \"remapIdentity\",\n"
    "                              \"prefix\": \"mirror.example.com/vendor\",\n"
    "                              \"signedPrefix\": \"vendor.example.org\" } }\n"
    "      ]\n"
    "    },\n"
    "    \"dir\": { \"\": [{ \"type\": \"insecureAcceptAnything\" }] },\n"
    "    \"docker-daemon\": { \"\": [{ \"type\": \"insecureAcceptAnything\" }] }\n"
    "  }\n"
    "}\n";

static void test_spec_example(void **state)
{
        (void)state;
        struct it_policy p = IT_POLICY_INIT;
        parse_ok(spec69, &p);
        assert_int_equal(p.def.n, 1);
        assert_int_equal(p.def.v[0].type, IT_REQ_REJECT);
        assert_int_equal(p.ntransports, 3);
        const struct it_transport *d = &p.transports[0];
        assert_string_equal(d->name, "docker");
        assert_true(d->known);
        assert_int_equal(d->n, 4);
        assert_string_equal(d->scopes[0].name, "registry.example.com/public");
        assert_int_equal(d->scopes[0].reqs.v[0].type, IT_REQ_INSECURE_ACCEPT_ANYTHING);
        const struct it_requirement *prod = &d->scopes[1].reqs.v[0];
        assert_string_equal(prod->where,
                            "transports.docker[\"registry.example.com:5000/prod\"][0]");
        assert_int_equal(prod->key_source, IT_KEYSRC_PATH);
        assert_string_equal(prod->key_path, "/etc/pki/containers/prod.gpg");
        const struct it_requirement *dev = &d->scopes[2].reqs.v[0];
        assert_int_equal(dev->key_source, IT_KEYSRC_PATHS);
        assert_int_equal(dev->key_paths.n, 2);
        assert_string_equal(dev->key_paths.v[1], "/etc/pki/containers/dev-b.gpg");
        assert_int_equal(dev->identity.type, IT_IDENT_MATCH_REPOSITORY);
        const struct it_requirement *vendor = &d->scopes[3].reqs.v[0];
        assert_int_equal(vendor->identity.type, IT_IDENT_REMAP_IDENTITY);
        assert_string_equal(vendor->identity.prefix, "mirror.example.com/vendor");
        assert_string_equal(vendor->identity.signed_prefix, "vendor.example.org");
        assert_string_equal(p.transports[1].name, "dir");
        assert_string_equal(p.transports[1].scopes[0].name, "");
        assert_string_equal(p.transports[1].scopes[0].reqs.v[0].where, "transports.dir[\"\"][0]");
        assert_string_equal(p.transports[2].name, "docker-daemon");
        policy_free(&p);
        policy_free(&p); /* freeing twice is harmless */
}

static void test_json_level_errors(void **state)
{
        (void)state;
        /* Every proper prefix of a valid document is refused. */
        size_t n = strlen(spec69);
        for (size_t i = 0; i + 1 < n; i++) {
                struct it_policy p = IT_POLICY_INIT;
                it_error err = IT_ERROR_INIT;
                int rc = policy_parse(spec69, i, FILE_NAME, &p, &err);
                if (rc != IT_EINPUT)
                        fail_msg("prefix of %zu bytes: rc %d", i, rc);
                it_error_clear(&err);
        }
        expect_invalid("{\"default\":[{\"type\":\"reject\"}]} x", "invalid JSON");
        expect_invalid("{\"default\":[{\"type\":\"reject\"}]}{}", "invalid JSON");
        expect_invalid("{\"default\":[{\"type\":\"reject\"}],}", "invalid JSON");
        expect_invalid("{\"default\":[{\"type\":\"reject\"}]", "invalid JSON");
        expect_invalid("{\"default\":[{\"type\":\"rej\xc3\x28\"}]}", "invalid JSON");
        expect_invalid("{\"default\":[{\"type\":\"reject\\u0000\"}]}", "invalid JSON");
        expect_invalid("{\"default\":[{\"type\":\"reject\"}],\"\xff\":1}", "invalid JSON");
        expect_invalid("", "empty");
        expect_invalid("null", "invalid JSON");
}

static void test_size_bound(void **state)
{
        (void)state;
        char dir[] = "/tmp/test_policy_parse.XXXXXX";
        assert_non_null(mkdtemp(dir));
        char *path = xasprintf("%s/policy.json", dir);
        /* 5 MiB: a valid document padded with spaces. */
        size_t n = 5u << 20;
        char *big = xmalloc(n);
        memset(big, ' ', n);
        const char *doc = "{\"default\":[{\"type\":\"reject\"}]}";
        memcpy(big, doc, strlen(doc));
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(big, 1, n, f), n);
        fclose(f);
        struct it_policy p = IT_POLICY_INIT;
        it_error err = IT_ERROR_INIT;
        assert_int_equal(policy_load(path, &p, &err), IT_EINPUT);
        char *msg = it_error_format(&err);
        assert_non_null(strstr(msg, path));
        assert_non_null(strstr(msg, "too large"));
        free(msg);
        it_error_clear(&err);
        assert_int_equal(policy_parse(big, n, FILE_NAME, &p, &err), IT_EINPUT);
        msg = it_error_format(&err);
        assert_non_null(strstr(msg, "too large"));
        free(msg);
        it_error_clear(&err);
        /* Just under the bound it is read. */
        assert_int_equal(policy_parse(big, IT_POLICY_MAX_BYTES, FILE_NAME, &p, &err), 0);
        policy_free(&p);
        free(big);

        /* A missing file is an I/O error that keeps errno. */
        char *missing = xasprintf("%s/none.json", dir);
        assert_int_equal(policy_load(missing, &p, &err), IT_EIO);
        assert_int_not_equal(err.sys_errno, 0);
        it_error_clear(&err);
        unlink(path);
        rmdir(dir);
        free(missing);
        free(path);
}

static void test_allow_unknown_top(void **state)
{
        (void)state;
        json_t *doc = json_loads("{\"default\":[{\"type\":\"reject\"}],\"keep\":{\"x\":1},"
                                 "\"transports\":{}}",
                                 0, NULL);
        assert_non_null(doc);
        struct it_policy p = IT_POLICY_INIT;
        it_error err = IT_ERROR_INIT;
        assert_int_equal(policy_from_json(doc, "f.json", true, &p, &err), 0);
        assert_int_equal(p.def.n, 1);
        assert_int_equal(p.ntransports, 0);
        policy_free(&p);
        assert_int_equal(policy_from_json(doc, "f.json", false, &p, &err), IT_EINPUT);
        char *msg = it_error_format(&err);
        assert_string_equal(msg, "f.json: keep: unknown key (allowed at the top level: default, "
                                 "transports)");
        free(msg);
        it_error_clear(&err);
        json_decref(doc);
        /* Everything else stays strict. */
        doc = json_loads("{\"default\":[{\"type\":\"reject\",\"x\":1}],\"keep\":1}", 0, NULL);
        assert_int_equal(policy_from_json(doc, "f.json", true, &p, &err), IT_EINPUT);
        it_error_clear(&err);
        json_decref(doc);
        doc = json_loads("{\"keep\":1}", 0, NULL);
        assert_int_equal(policy_from_json(doc, "f.json", true, &p, &err), IT_EINPUT);
        msg = it_error_format(&err);
        assert_string_equal(msg, "f.json: missing mandatory key \"default\"");
        free(msg);
        it_error_clear(&err);
        json_decref(doc);
}

static void test_names(void **state)
{
        (void)state;
        assert_string_equal(policy_req_type_name(IT_REQ_INSECURE_ACCEPT_ANYTHING),
                            "insecureAcceptAnything");
        assert_string_equal(policy_req_type_name(IT_REQ_REJECT), "reject");
        assert_string_equal(policy_req_type_name(IT_REQ_SIGNED_BY), "signedBy");
        assert_string_equal(policy_req_type_name(IT_REQ_SIGSTORE_SIGNED), "sigstoreSigned");
        assert_string_equal(policy_req_type_name(IT_REQ_SIGNED_BASE_LAYER), "signedBaseLayer");
        assert_string_equal(policy_ident_type_name(IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT),
                            "matchRepoDigestOrExact");
        assert_string_equal(policy_ident_type_name(IT_IDENT_MATCH_EXACT), "matchExact");
        assert_string_equal(policy_ident_type_name(IT_IDENT_MATCH_REPOSITORY), "matchRepository");
        assert_string_equal(policy_ident_type_name(IT_IDENT_EXACT_REFERENCE), "exactReference");
        assert_string_equal(policy_ident_type_name(IT_IDENT_EXACT_REPOSITORY), "exactRepository");
        assert_string_equal(policy_ident_type_name(IT_IDENT_REMAP_IDENTITY), "remapIdentity");
        assert_string_equal(policy_key_type_name(IT_KEY_GPG_KEYS), "GPGKeys");
        assert_string_equal(policy_req_type_name((enum it_req_type)99), "unknown");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_fixtures_valid),
            cmocka_unit_test(test_fixtures_invalid),
            cmocka_unit_test(test_exact_message),
            cmocka_unit_test(test_item38_whole_file_invalid),
            cmocka_unit_test(test_item39_signed_by_keys),
            cmocka_unit_test(test_item40_41_parse),
            cmocka_unit_test(test_item42_key_data),
            cmocka_unit_test(test_item43_path_scopes),
            cmocka_unit_test(test_item44_45_accepted),
            cmocka_unit_test(test_wrong_types),
            cmocka_unit_test(test_unknown_types),
            cmocka_unit_test(test_identity_types),
            cmocka_unit_test(test_sigstore),
            cmocka_unit_test(test_signed_base_layer),
            cmocka_unit_test(test_spec_example),
            cmocka_unit_test(test_json_level_errors),
            cmocka_unit_test(test_size_bound),
            cmocka_unit_test(test_allow_unknown_top),
            cmocka_unit_test(test_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
