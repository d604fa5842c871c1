/* Fuzz policy.json parsing: every input is either refused with a one-line IT_EINPUT message naming
 * the file, or parsed; a parsed document written back as podman does (policy_serialize), and then
 * edited as `trust set` does, stays valid and keeps its requirements. The bytes are also tried as
 * a `trust set` scope. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/json.h"
#include "imgtrust/policy.h"
#include "imgtrust/xalloc.h"

#define NAME "fuzz.json"

static void check(bool cond, const char *what)
{
        if (!cond) {
                fprintf(stderr, "fuzz_policy: %s\n", what);
                abort();
        }
}

static size_t count_reqs(const struct it_policy *p)
{
        size_t n = p->def.n;
        for (size_t i = 0; i < p->ntransports; i++)
                for (size_t j = 0; j < p->transports[i].n; j++)
                        n += p->transports[i].scopes[j].reqs.n;
        return n;
}

static void check_reparses(const char *text, const struct it_policy *orig, size_t extra)
{
        struct it_policy q = IT_POLICY_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        if (policy_parse(text, strlen(text), NAME, &q, &err) != 0) {
                _cleanup_free_ char *m = it_error_format(&err);
                fprintf(stderr, "fuzz_policy: re-parse failed: %s\n%s\n", m, text);
                abort();
        }
        check(count_reqs(&q) == count_reqs(orig) + extra, "requirements lost in serialisation");
        check(q.def.n == orig->def.n || extra, "default changed");
        for (size_t i = 0; !extra && i < q.def.n; i++) {
                const struct it_requirement *a = &orig->def.v[i], *b = &q.def.v[i];
                check(a->type == b->type && a->key_source == b->key_source &&
                          a->nkey_data == b->nkey_data && a->identity.type == b->identity.type,
                      "default requirement changed");
                for (size_t k = 0; k < a->nkey_data; k++)
                        check(a->key_data[k].len == b->key_data[k].len &&
                                  memcmp(a->key_data[k].data, b->key_data[k].data,
                                         a->key_data[k].len) == 0,
                              "key data changed");
        }
        policy_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct it_policy p = IT_POLICY_INIT;
        _cleanup_error_ it_error err = IT_ERROR_INIT;

        _cleanup_free_ char *s = xmalloc(size + 1);
        memcpy(s, data, size);
        s[size] = '\0';
        if (size < 4096 && policy_trust_check_scope(s, &err) != 0) {
                check(err.code == IT_EINPUT, "scope check: not IT_EINPUT");
                it_error_clear(&err);
        }

        if (policy_parse((const char *)data, size, NAME, &p, &err) != 0) {
                check(err.code == IT_EINPUT && err.msg, "refused without IT_EINPUT");
                _cleanup_free_ char *line = it_error_format(&err);
                check(strncmp(line, NAME ": ", strlen(NAME) + 2) == 0, "message lacks the file");
                check(!strchr(line, '\n'), "message spans lines");
                check(!p.def.v && !p.transports && !p.path, "half-built policy left behind");
                return 0;
        }
        check(p.def.n > 0, "empty default accepted");

        _cleanup_json_ json_t *doc = NULL;
        check(it_json_parse((const char *)data, size, IT_POLICY_MAX_BYTES, NAME, &doc, &err) == 0,
              "JSON refused after the policy parsed");
        _cleanup_free_ char *out = policy_serialize(doc);
        check(out[0] == '{' && out[strlen(out) - 1] == '}', "not an object without newline");
        check_reparses(out, &p, 0);

        /* `trust set` of a new docker scope keeps everything else. */
        json_t *reqs = NULL;
        check(policy_trust_requirements("reject", NULL, &reqs, &err) == 0, "requirements");
        const char *scope = "fuzz.example/ns";
        bool existed = false;
        for (size_t i = 0; i < p.ntransports; i++)
                for (size_t j = 0; j < p.transports[i].n; j++)
                        if (strcmp(p.transports[i].scopes[j].name, scope) == 0)
                                existed = true;
        check(policy_trust_set(doc, scope, reqs, &err) == 0, "trust set failed");
        _cleanup_free_ char *edited = policy_serialize(doc);
        if (!existed)
                check_reparses(edited, &p, 1);
        policy_free(&p);
        return 0;
}
