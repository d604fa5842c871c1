/* Image references (spec §1): the docker/distribution grammar as forked by containers/image, with
 * its normalisation (ParseNormalizedNamed) and the policy identity and namespaces built from it.
 *
 * The grammar is regular, and anchored; it is matched here by hand, without backtracking, using
 * three facts about it: '@' occurs only before the digest; a tag follows the last ':' only when
 * that ':' comes after the last '/' (a ':' before it can only be a port); and the first
 * '/'-separated part of a name is its domain whenever it can be one (the regexp's greedy optional
 * domain). */
#include "imgtrust/ref.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/xalloc.h"

#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DEFAULT_DOMAIN "index.docker.io"
#define OFFICIAL_REPO_PREFIX "library/"
#define DEFAULT_TAG "latest"

/* Roughly the longest quotation of a bad reference in an error message. */
#define QUOTE_MAX 300

/* Error messages quote outside input; keep them one printable, bounded line. Allocates. */
static char *quote(const char *s, size_t n)
{
        return it_quoten(s, n, QUOTE_MAX);
}

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
        return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static bool is_word(char c)
{
        return is_alnum(c) || c == '_';
}

/* `[a-z0-9]+ (separator [a-z0-9]+)*`, separator one of `.`, `_`, `__`, `-+`. */
static bool path_component_ok(const char *p, size_t n)
{
        size_t i = 0;
        if (n == 0 || !is_lower_alnum(p[0]) || !is_lower_alnum(p[n - 1]))
                return false;
        while (i < n) {
                if (is_lower_alnum(p[i])) {
                        i++;
                        continue;
                }
                size_t start = i;
                while (i < n && !is_lower_alnum(p[i]))
                        i++;
                size_t run = i - start;
                const char *sep = p + start;
                bool dashes = true;
                for (size_t j = 0; j < run; j++)
                        dashes = dashes && sep[j] == '-';
                if (!dashes && !(run == 1 && (sep[0] == '.' || sep[0] == '_')) &&
                    !(run == 2 && sep[0] == '_' && sep[1] == '_'))
                        return false;
        }
        return true;
}

/* `[a-zA-Z0-9]` or `[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`. */
static bool domain_component_ok(const char *p, size_t n)
{
        if (n == 0 || !is_alnum(p[0]) || !is_alnum(p[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_alnum(p[i]) && p[i] != '-')
                        return false;
        return true;
}

/* `component ("." component)* (":" [0-9]+)?`. */
static bool domain_ok(const char *p, size_t n)
{
        const char *colon = memchr(p, ':', n);
        size_t host_len = colon ? (size_t)(colon - p) : n;
        if (colon) {
                size_t port_len = n - host_len - 1;
                if (port_len == 0)
                        return false;
                for (size_t i = 0; i < port_len; i++)
                        if (!is_digit(colon[1 + i]))
                                return false;
        }
        size_t start = 0;
        for (size_t i = 0; i <= host_len; i++) {
                if (i == host_len || p[i] == '.') {
                        if (!domain_component_ok(p + start, i - start))
                                return false;
                        start = i + 1;
                }
        }
        return true;
}

/* `[\w][\w.-]{0,127}`. */
static bool tag_ok(const char *p, size_t n)
{
        if (n == 0 || n > IT_REF_TAG_MAX || !is_word(p[0]))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!is_word(p[i]) && p[i] != '.' && p[i] != '-')
                        return false;
        return true;
}

static bool is_alpha(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_xdigit(char c)
{
        return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The reference grammar's digest shape, `[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:
 * [[:xdigit:]]{32,}`; digest_parse() decides afterwards whether it is a digest we accept. */
static bool digest_syntax_ok(const char *p, size_t n)
{
        const char *colon = memchr(p, ':', n);
        if (!colon)
                return false;
        size_t alg_len = (size_t)(colon - p);
        size_t hex_len = n - alg_len - 1;
        if (alg_len == 0 || hex_len < 32)
                return false;
        bool need_alpha = true;
        for (size_t i = 0; i < alg_len; i++) {
                char c = p[i];
                if (need_alpha) {
                        if (!is_alpha(c))
                                return false;
                        need_alpha = false;
                } else if (c == '-' || c == '_' || c == '+' || c == '.') {
                        need_alpha = true;
                } else if (!is_alnum(c)) {
                        return false;
                }
        }
        if (need_alpha)
                return false;
        for (size_t i = 0; i < hex_len; i++)
                if (!is_xdigit(colon[1 + i]))
                        return false;
        return true;
}

/* Pieces of a string that matched the grammar, pointing into it. */
struct slice {
        const char *p;
        size_t n;
};

struct match {
        struct slice domain; /* n == 0: the name had no domain */
        struct slice path;
        struct slice tag; /* p == NULL: untagged */
        struct slice digest;
};

/* Match the whole string s (length n) against `name (":" tag)? ("@" digest)?`. On failure returns
 * false and sets *why to an allocated description. */
static bool match_reference(const char *s, size_t n, struct match *m, char **why)
{
        memset(m, 0, sizeof *m);
        const char *end = s + n;
        const char *at = memchr(s, '@', n);
        const char *left_end = at ? at : end;

        if (at) {
                size_t dn = (size_t)(end - at - 1);
                if (!digest_syntax_ok(at + 1, dn)) {
                        *why =
                            xstrdup(dn == 0 ? "missing digest after '@'" : "invalid digest format");
                        return false;
                }
                m->digest = (struct slice){at + 1, dn};
        }

        const char *last_slash = NULL, *last_colon = NULL;
        for (const char *q = s; q < left_end; q++) {
                if (*q == '/')
                        last_slash = q;
                else if (*q == ':')
                        last_colon = q;
        }
        const char *name_end = left_end;
        if (last_colon && (!last_slash || last_colon > last_slash)) {
                size_t tn = (size_t)(left_end - last_colon - 1);
                if (!tag_ok(last_colon + 1, tn)) {
                        *why = xstrdup(tn == 0 ? "missing tag after ':'"
                                               : "tag must be 1-128 characters of [A-Za-z0-9_.-], "
                                                 "not starting with '.' or '-'");
                        return false;
                }
                m->tag = (struct slice){last_colon + 1, tn};
                name_end = last_colon;
        }

        size_t name_len = (size_t)(name_end - s);
        const char *first_slash = memchr(s, '/', name_len);
        const char *path = s;
        if (first_slash && domain_ok(s, (size_t)(first_slash - s))) {
                m->domain = (struct slice){s, (size_t)(first_slash - s)};
                path = first_slash + 1;
        }
        m->path = (struct slice){path, (size_t)(name_end - path)};
        if (m->path.n == 0) {
                *why = xstrdup("repository name must have at least one component");
                return false;
        }
        const char *c = path;
        for (;;) {
                const char *slash = memchr(c, '/', (size_t)(name_end - c));
                const char *cend = slash ? slash : name_end;
                if (!path_component_ok(c, (size_t)(cend - c))) {
                        _cleanup_free_ char *q = quote(c, (size_t)(cend - c));
                        if (c == s && slash)
                                *why = xasprintf("invalid registry host %s", q);
                        else if (c == cend)
                                *why = xstrdup("empty path component");
                        else
                                *why = xasprintf("invalid path component %s", q);
                        return false;
                }
                if (!slash)
                        break;
                c = slash + 1;
        }
        return true;
}

static bool is_image_id(const char *s, size_t n)
{
        if (n != 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
                        return false;
        return true;
}

static int ref_fail(it_error *err, const char *s, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int ref_fail(it_error *err, const char *s, size_t n, const char *fmt, ...)
{
        _cleanup_free_ char *q = quote(s, n);
        struct it_buf b = IT_BUF_INIT;
        va_list ap;
        va_start(ap, fmt);
        it_buf_vaddf(&b, fmt, ap);
        va_end(ap);
        _cleanup_free_ char *what = it_buf_detach(&b);
        return it_error_set(err, IT_EINPUT, "invalid reference %s: %s", q, what);
}

int ref_parse_normalized(const char *s, struct it_ref *out, it_error *err)
{
        if (!s)
                return it_error_set(err, IT_EINPUT, "missing reference");
        size_t n = strnlen(s, IT_REF_INPUT_MAX + 1);
        if (n > IT_REF_INPUT_MAX)
                return ref_fail(err, s, n, "longer than %d characters", IT_REF_INPUT_MAX);
        if (n == 0)
                return ref_fail(err, s, n, "repository name must have at least one component");
        if (is_image_id(s, n))
                return ref_fail(err, s, n, "cannot specify 64-byte hexadecimal strings");

        /* splitDockerDomain: only a first part that looks like a host is one. */
        const char *slash = strchr(s, '/');
        struct slice dom = {DEFAULT_DOMAIN, strlen(DEFAULT_DOMAIN)};
        const char *rest = s;
        if (slash) {
                size_t dn = (size_t)(slash - s);
                if (memchr(s, '.', dn) || memchr(s, ':', dn) ||
                    (dn == strlen("localhost") && memcmp(s, "localhost", dn) == 0)) {
                        dom = (struct slice){s, dn};
                        rest = slash + 1;
                }
        }
        if (dom.n == strlen(LEGACY_DEFAULT_DOMAIN) &&
            memcmp(dom.p, LEGACY_DEFAULT_DOMAIN, dom.n) == 0)
                dom = (struct slice){DEFAULT_DOMAIN, strlen(DEFAULT_DOMAIN)};
        bool official = dom.n == strlen(DEFAULT_DOMAIN) &&
                        memcmp(dom.p, DEFAULT_DOMAIN, dom.n) == 0 && !strchr(rest, '/');

        /* Upstream checks case on everything up to the first ':', digest algorithm included. */
        for (const char *q = rest; *q && *q != ':'; q++)
                if (*q >= 'A' && *q <= 'Z')
                        return ref_fail(err, s, n, "repository name must be lowercase");

        _cleanup_free_ char *full =
            xasprintf("%.*s/%s%s", (int)dom.n, dom.p, official ? OFFICIAL_REPO_PREFIX : "", rest);
        size_t full_len = strlen(full);
        struct match m;
        _cleanup_free_ char *why = NULL;
        if (!match_reference(full, full_len, &m, &why)) {
                /* As upstream: a string that only fails because of case gets its own message. */
                _cleanup_free_ char *lower = xstrdup(full);
                for (char *q = lower; *q; q++)
                        if (*q >= 'A' && *q <= 'Z')
                                *q = (char)(*q - 'A' + 'a');
                struct match lm;
                _cleanup_free_ char *lwhy = NULL;
                if (match_reference(lower, full_len, &lm, &lwhy))
                        return ref_fail(err, s, n, "repository name must be lowercase");
                return ref_fail(err, s, n, "invalid reference format: %s", why);
        }
        if (m.domain.n == 0) {
                /* Upstream accepts e.g. "a_b.c/app" as a name without any registry and only fails
                 * when contacting it; nothing can be pulled from or matched against such a name. */
                _cleanup_free_ char *q = quote(dom.p, dom.n);
                return ref_fail(err, s, n, "%s is not a valid registry host name", q);
        }
        size_t name_len = m.domain.n + 1 + m.path.n;
        if (name_len > IT_REF_NAME_MAX)
                return ref_fail(err, s, n, "repository name must not be more than %d characters",
                                IT_REF_NAME_MAX);

        _cleanup_free_ char *digest = NULL;
        if (m.digest.p) {
                digest = xstrndup(m.digest.p, m.digest.n);
                if (digest_parse(digest, NULL, err) < 0) {
                        _cleanup_free_ char *q = quote(s, n);
                        return it_error_wrap(err, "invalid reference %s", q);
                }
        }

        out->domain = xstrndup(m.domain.p, m.domain.n);
        out->path = xstrndup(m.path.p, m.path.n);
        out->tag = m.tag.p ? xstrndup(m.tag.p, m.tag.n) : NULL;
        out->digest = IT_STEAL(digest);
        return 0;
}

int ref_parse_canonical(const char *s, struct it_ref *out, it_error *err)
{
        _cleanup_ref_ struct it_ref r = IT_REF_INIT;
        int rc = ref_parse_normalized(s, &r, err);
        if (rc < 0)
                return rc;
        _cleanup_free_ char *canon = ref_string(&r);
        if (strcmp(canon, s) != 0) {
                _cleanup_free_ char *q = quote(canon, strlen(canon));
                return ref_fail(err, s, strlen(s),
                                "repository name must be canonical (normalized form is %s)", q);
        }
        *out = r;
        memset(&r, 0, sizeof r);
        return 0;
}

void ref_tag_default(struct it_ref *r)
{
        if (ref_is_name_only(r))
                r->tag = xstrdup(DEFAULT_TAG);
}

bool ref_is_name_only(const struct it_ref *r)
{
        return !r->tag && !r->digest;
}

char *ref_name(const struct it_ref *r)
{
        return xasprintf("%s/%s", r->domain, r->path);
}

static void add_suffixes(struct it_buf *b, const struct it_ref *r)
{
        if (r->tag)
                it_buf_addf(b, ":%s", r->tag);
        if (r->digest)
                it_buf_addf(b, "@%s", r->digest);
}

char *ref_string(const struct it_ref *r)
{
        struct it_buf b = IT_BUF_INIT;
        it_buf_addf(&b, "%s/%s", r->domain, r->path);
        add_suffixes(&b, r);
        return it_buf_detach(&b);
}

char *ref_familiar(const struct it_ref *r)
{
        struct it_buf b = IT_BUF_INIT;
        if (strcmp(r->domain, DEFAULT_DOMAIN) != 0) {
                it_buf_addf(&b, "%s/%s", r->domain, r->path);
        } else {
                const char *p = r->path;
                size_t pn = strlen(OFFICIAL_REPO_PREFIX);
                if (strncmp(p, OFFICIAL_REPO_PREFIX, pn) == 0 && !strchr(p + pn, '/'))
                        p += pn;
                it_buf_adds(&b, p);
        }
        add_suffixes(&b, r);
        return it_buf_detach(&b);
}

char *ref_policy_identity(const struct it_ref *r)
{
        /* A name-only reference has no identity upstream; callers add the default tag first, and
         * returning the bare name keeps such a mistake from matching any tagged scope. */
        if (r->digest)
                return xasprintf("%s/%s@%s", r->domain, r->path, r->digest);
        if (r->tag)
                return xasprintf("%s/%s:%s", r->domain, r->path, r->tag);
        return ref_name(r);
}

void ref_policy_namespaces(const struct it_ref *r, struct it_strv *out)
{
        _cleanup_free_ char *name = ref_name(r);
        for (;;) {
                it_strv_push(out, name);
                char *slash = strrchr(name, '/');
                if (!slash)
                        break;
                *slash = '\0';
        }
        /* Wildcards ignore the port: "*.example.com" covers a.example.com:5000 too. */
        const char *host = r->domain;
        const char *colon = strrchr(host, ':');
        size_t host_len = colon ? (size_t)(colon - host) : strlen(host);
        for (size_t i = 0; i < host_len; i++)
                if (host[i] == '.')
                        it_strv_pushf(out, "*.%.*s", (int)(host_len - i - 1), host + i + 1);
}

static char *dup_or_null(const char *s)
{
        return s ? xstrdup(s) : NULL;
}

/* dst is overwritten, not freed: pass an empty (IT_REF_INIT or ref_free'd) reference. */
void ref_copy(struct it_ref *dst, const struct it_ref *src)
{
        dst->domain = dup_or_null(src->domain);
        dst->path = dup_or_null(src->path);
        dst->tag = dup_or_null(src->tag);
        dst->digest = dup_or_null(src->digest);
}

void ref_free(struct it_ref *r)
{
        if (!r)
                return;
        free(r->domain);
        free(r->path);
        free(r->tag);
        free(r->digest);
        memset(r, 0, sizeof *r);
}
