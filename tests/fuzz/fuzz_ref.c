/* Fuzz the reference parser: no crash, bounded output, and the canonical string of anything
 * accepted is a fixed point of both parsers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/ref.h"
#include "imgtrust/strv.h"
#include "imgtrust/xalloc.h"

static void check(bool cond)
{
        if (!cond)
                abort();
}

static void check_error(const it_error *err)
{
        check(err->code == IT_EINPUT && err->msg);
        _cleanup_free_ char *line = it_error_format(err);
        check(!strchr(line, '\n') && strlen(line) < 1024);
}

static bool same(const char *a, const char *b)
{
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_accepted(const char *s, const struct it_ref *r)
{
        _cleanup_free_ char *name = ref_name(r);
        check(strlen(name) <= IT_REF_NAME_MAX);
        check(!r->tag || (strlen(r->tag) >= 1 && strlen(r->tag) <= IT_REF_TAG_MAX));
        check(!r->digest || digest_valid(r->digest));
        /* Nothing that could walk out of a directory survives the grammar. */
        check(!strstr(r->path, "..") && !strstr(r->path, "//") && r->path[0] != '/');

        _cleanup_free_ char *canon = ref_string(r);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref again = IT_REF_INIT;
        check(ref_parse_canonical(canon, &again, &err) == 0);
        check(same(again.domain, r->domain) && same(again.path, r->path) &&
              same(again.tag, r->tag) && same(again.digest, r->digest));

        _cleanup_ref_ struct it_ref copy = IT_REF_INIT;
        ref_copy(&copy, r);
        _cleanup_free_ char *copy_s = ref_string(&copy);
        check(strcmp(copy_s, canon) == 0);

        _cleanup_free_ char *fam = ref_familiar(r);
        check(strlen(fam) <= strlen(canon));
        _cleanup_free_ char *id = ref_policy_identity(r);
        check(strncmp(id, name, strlen(name)) == 0);

        _cleanup_strv_ struct it_strv ns = IT_STRV_INIT;
        ref_policy_namespaces(r, &ns);
        check(ns.n >= 2 && strcmp(ns.v[0], name) == 0);
        for (size_t i = 0; i < ns.n; i++) {
                size_t l = strlen(ns.v[i]);
                if (ns.v[i][0] == '*')
                        check(l > 2 && ns.v[i][1] == '.' && !strchr(ns.v[i], '/') &&
                              !strchr(ns.v[i], ':'));
                else
                        check(strncmp(ns.v[i], name, l) == 0 &&
                              (name[l] == '\0' || name[l] == '/'));
        }

        ref_tag_default(&copy);
        check(!ref_is_name_only(&copy));
        (void)s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *s = xmalloc(size + 1);
        memcpy(s, data, size);
        s[size] = '\0';

        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref r = IT_REF_INIT;
        if (ref_parse_normalized(s, &r, &err) == 0)
                check_accepted(s, &r);
        else
                check_error(&err);

        _cleanup_error_ it_error cerr = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref c = IT_REF_INIT;
        if (ref_parse_canonical(s, &c, &cerr) == 0) {
                /* Canonical implies normalisable to itself. */
                check(r.domain != NULL);
                _cleanup_free_ char *cs = ref_string(&c);
                check(strcmp(cs, s) == 0);
        } else {
                check_error(&cerr);
        }
        free(s);
        return 0;
}
