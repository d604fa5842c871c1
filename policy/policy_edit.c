/* `podman image trust set` as podman 4.3.1 does it (spec §7.1), on a JSON document.
 *
 * Podman keeps every requirement list as raw JSON and re-indents it; here the lists are jansson
 * values written back with Go's escaping, so member order and content survive. (Escapes such as
 * "\u00e9" or "\/" and number spellings like 1.0 are normalised, where podman keeps them as
 * written.)
 */
#include "imgtrust/policy.h"

#include <stdlib.h>
#include <string.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/json.h"
#include "imgtrust/xalloc.h"

int policy_trust_requirements(const char *type, const struct it_strv *keyfiles, json_t **out,
                              it_error *err)
{
        *out = NULL;
        const char *t = type;
        if (strcmp(t, "accept") == 0)
                t = "insecureAcceptAnything";
        bool keyed = strcmp(t, "signedBy") == 0 || strcmp(t, "sigstoreSigned") == 0;
        if (!keyed && strcmp(t, "insecureAcceptAnything") != 0 && strcmp(t, "reject") != 0)
                return it_error_set(
                    err, IT_EINPUT,
                    "invalid choice: %s (choose from 'accept', 'reject', 'signedBy', "
                    "'sigstoreSigned')",
                    type);
        /* podman's -f is a comma-separated string slice: an empty value names no file. */
        size_t nkeys = 0;
        for (size_t i = 0; keyfiles && i < keyfiles->n; i++)
                if (*keyfiles->v[i])
                        nkeys++;
        if (!keyed && nkeys)
                return it_error_set(err, IT_EINPUT,
                                    "%zu public keys unexpectedly provided for trust type %s",
                                    nkeys, type);
        if (keyed && !nkeys)
                return it_error_set(err, IT_EINPUT,
                                    "at least one public key must be defined for type '%s'", t);
        json_t *arr = json_array();
        if (!keyed) {
                json_t *o = json_object();
                json_object_set_new(o, "type", json_string(t));
                json_array_append_new(arr, o);
        }
        for (size_t i = 0; keyed && i < keyfiles->n; i++) {
                if (!*keyfiles->v[i])
                        continue;
                json_t *o = json_object();
                json_object_set_new(o, "type", json_string(t));
                if (strcmp(t, "signedBy") == 0)
                        json_object_set_new(o, "keyType", json_string("GPGKeys"));
                json_t *path = json_string(keyfiles->v[i]);
                if (!path) {
                        json_decref(o);
                        json_decref(arr);
                        return it_error_set(err, IT_EINPUT,
                                            "public key path is not valid UTF-8: %s",
                                            keyfiles->v[i]);
                }
                json_object_set_new(o, "keyPath", path);
                json_array_append_new(arr, o);
        }
        *out = arr;
        return 0;
}

/* ---- podman's isValidImageURI: "http://" + scope through Go's url.Parse, then two regexps ---- */

static bool is_alnum(unsigned char ch)
{
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static bool is_hex(unsigned char ch)
{
        return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static int hex_value(unsigned char ch)
{
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        return (ch | 0x20) - 'a' + 10;
}

/* Go's %q, enough for messages. Allocated. */
static char *go_quote(const char *s, size_t n)
{
        struct it_buf b = IT_BUF_INIT;
        it_buf_addch(&b, '"');
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)s[i];
                static const char ctl[] = "\a\b\f\n\r\t\v", names[] = "abfnrtv";
                const char *esc = ch ? strchr(ctl, ch) : NULL;
                if (ch == '"' || ch == '\\')
                        it_buf_addf(&b, "\\%c", ch);
                else if (esc)
                        it_buf_addf(&b, "\\%c", names[esc - ctl]);
                else if (ch < 0x20 || ch == 0x7f)
                        it_buf_addf(&b, "\\x%02x", ch);
                else
                        it_buf_addch(&b, (char)ch);
        }
        it_buf_addch(&b, '"');
        return it_buf_detach(&b);
}

enum url_mode { URL_HOST, URL_OTHER };

/* net/url's shouldEscape for the host: what may appear unescaped. */
static bool host_char_ok(unsigned char ch)
{
        return is_alnum(ch) || strchr("!$&'()*+,;=:[]<>\"-_.~", ch);
}

/* net/url's unescape() checks; on error *why is set (allocated). On success the decoded string
 * is returned (allocated). */
static char *url_unescape(const char *s, size_t n, enum url_mode mode, char **why)
{
        struct it_buf out = IT_BUF_INIT;
        for (size_t i = 0; i < n;) {
                unsigned char ch = (unsigned char)s[i];
                if (ch == '%') {
                        if (i + 2 >= n || !is_hex((unsigned char)s[i + 1]) ||
                            !is_hex((unsigned char)s[i + 2])) {
                                size_t m = n - i < 3 ? n - i : 3;
                                _cleanup_free_ char *q = go_quote(s + i, m);
                                *why = xasprintf("invalid URL escape %s", q);
                                it_buf_free(&out);
                                return NULL;
                        }
                        /* In a host only non-ASCII bytes (and "%25") may be escaped. */
                        if (mode == URL_HOST && hex_value((unsigned char)s[i + 1]) < 8 &&
                            strncmp(s + i, "%25", 3) != 0) {
                                _cleanup_free_ char *q = go_quote(s + i, 3);
                                *why = xasprintf("invalid URL escape %s", q);
                                it_buf_free(&out);
                                return NULL;
                        }
                        it_buf_addch(&out, (char)(hex_value((unsigned char)s[i + 1]) << 4 |
                                                  hex_value((unsigned char)s[i + 2])));
                        i += 3;
                        continue;
                }
                if (mode == URL_HOST && ch < 0x80 && !host_char_ok(ch)) {
                        _cleanup_free_ char *q = go_quote(s + i, 1);
                        *why = xasprintf("invalid character %s in host name", q);
                        it_buf_free(&out);
                        return NULL;
                }
                it_buf_addch(&out, (char)ch);
                i++;
        }
        return it_buf_detach(&out);
}

static bool valid_optional_port(const char *p, size_t n)
{
        if (n == 0)
                return true;
        if (p[0] != ':')
                return false;
        for (size_t i = 1; i < n; i++)
                if (p[i] < '0' || p[i] > '9')
                        return false;
        return true;
}

static bool valid_userinfo(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!is_alnum((unsigned char)s[i]) && !strchr("-._:~!$&'()*+,;=%@", s[i]))
                        return false;
        return true;
}

/* url.Parse("http://" + scope): the host and fragment, or *why. */
static bool go_url_parse(const char *scope, char **host, char **frag, char **why, bool *in_fragment)
{
        const char *hash = strchr(scope, '#');
        size_t ulen = hash ? (size_t)(hash - scope) : strlen(scope);
        *host = *frag = NULL;
        for (size_t i = 0; i < ulen; i++) {
                unsigned char ch = (unsigned char)scope[i];
                if (ch < 0x20 || ch == 0x7f) {
                        *why = xstrdup("net/url: invalid control character in URL");
                        return false;
                }
        }
        /* The query is cut off (a single trailing "?" included) and not checked. */
        const char *q = memchr(scope, '?', ulen);
        size_t rlen = q ? (size_t)(q - scope) : ulen;
        const char *slash = memchr(scope, '/', rlen);
        size_t alen = slash ? (size_t)(slash - scope) : rlen;
        const char *at = NULL;
        for (size_t i = alen; i > 0; i--)
                if (scope[i - 1] == '@') {
                        at = scope + i - 1;
                        break;
                }
        const char *h = at ? at + 1 : scope;
        size_t hlen = alen - (size_t)(h - scope);
        if (hlen && h[0] == '[') {
                const char *close = NULL;
                for (size_t i = hlen; i > 0; i--)
                        if (h[i - 1] == ']') {
                                close = h + i - 1;
                                break;
                        }
                if (!close) {
                        *why = xstrdup("missing ']' in host");
                        return false;
                }
                size_t plen = hlen - (size_t)(close + 1 - h);
                if (!valid_optional_port(close + 1, plen)) {
                        _cleanup_free_ char *qp = go_quote(close + 1, plen);
                        *why = xasprintf("invalid port %s after host", qp);
                        return false;
                }
        } else {
                const char *colon = NULL;
                for (size_t i = hlen; i > 0; i--)
                        if (h[i - 1] == ':') {
                                colon = h + i - 1;
                                break;
                        }
                size_t plen = colon ? hlen - (size_t)(colon - h) : 0;
                if (colon && !valid_optional_port(colon, plen)) {
                        _cleanup_free_ char *qp = go_quote(colon, plen);
                        *why = xasprintf("invalid port %s after host", qp);
                        return false;
                }
        }
        _cleanup_free_ char *decoded_host = url_unescape(h, hlen, URL_HOST, why);
        if (!decoded_host)
                return false;
        if (at) {
                size_t ulen2 = (size_t)(at - scope);
                if (!valid_userinfo(scope, ulen2)) {
                        *why = xstrdup("net/url: invalid userinfo");
                        return false;
                }
                _cleanup_free_ char *user = url_unescape(scope, ulen2, URL_OTHER, why);
                if (!user)
                        return false;
        }
        if (slash) {
                _cleanup_free_ char *path =
                    url_unescape(slash, rlen - (size_t)(slash - scope), URL_OTHER, why);
                if (!path)
                        return false;
        }
        if (hash) {
                char *f = url_unescape(hash + 1, strlen(hash + 1), URL_OTHER, why);
                if (!f) {
                        *in_fragment = true;
                        return false;
                }
                *frag = f;
        }
        *host = IT_STEAL(decoded_host);
        return true;
}

/* ^[a-zA-Z0-9-_\.]+\/?:?[0-9]*[a-z0-9-\/:]*$ on a host (which holds no "/"): a first part of
 * [A-Za-z0-9_.-] up to the first ":", then only [a-z0-9:-]. */
static bool host_regexp(const char *h)
{
        size_t i = 0;
        while (h[i] && h[i] != ':' && (is_alnum((unsigned char)h[i]) || strchr("-_.", h[i])))
                i++;
        if (i == 0)
                return false;
        if (!h[i])
                return true;
        if (h[i] != ':')
                return false;
        for (; h[i]; i++)
                if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= '0' && h[i] <= '9') || h[i] == '-' ||
                      h[i] == ':' || h[i] == '/'))
                        return false;
        return true;
}

/* ^[a-z0-9-:\./]*$ */
static bool fragment_regexp(const char *f)
{
        for (; *f; f++)
                if (!((*f >= 'a' && *f <= 'z') || (*f >= '0' && *f <= '9') || strchr("-:./", *f)))
                        return false;
        return true;
}

int policy_trust_check_scope(const char *scope, it_error *err)
{
        _cleanup_free_ char *host = NULL, *frag = NULL, *why = NULL;
        bool in_fragment = false;
        if (!go_url_parse(scope, &host, &frag, &why, &in_fragment)) {
                /* url.Error names the URL without its fragment, unless the fragment failed. */
                const char *hash = strchr(scope, '#');
                size_t n = hash && !in_fragment ? (size_t)(hash - scope) : strlen(scope);
                _cleanup_free_ char *url = xasprintf("http://%.*s", (int)n, scope);
                _cleanup_free_ char *q = go_quote(url, strlen(url));
                return it_error_set(err, IT_EINPUT, "invalid image uri: %s: parse %s: %s", scope, q,
                                    why);
        }
        if (!host_regexp(host) || (frag && !fragment_regexp(frag)))
                return it_error_set(err, IT_EINPUT, "invalid image uri: %s", scope);
        return 0;
}

/* ---- editing ---- */

int policy_trust_set(json_t *doc, const char *scope, json_t *reqs, it_error *err)
{
        if (!json_is_object(doc)) {
                json_decref(reqs);
                return it_error_set(err, IT_EINPUT, "the policy is not a JSON object");
        }
        if (!json_is_array(reqs)) {
                json_decref(reqs);
                return it_error_set(err, IT_EINPUT, "the requirements are not a JSON array");
        }
        if (strcmp(scope, "default") == 0) {
                json_object_set_new(doc, "default", reqs);
                return 0;
        }
        /* podman only asks for the member: "default": [] or null count as set. */
        if (!json_object_get(doc, "default")) {
                json_decref(reqs);
                return it_error_set(err, IT_EINPUT, "default trust policy must be set");
        }
        json_t *transports = json_object_get(doc, "transports");
        if (transports && !json_is_object(transports) && !json_is_null(transports)) {
                json_decref(reqs);
                return it_error_set(err, IT_EINPUT, "transports: must be an object, not %s",
                                    it_json_type_name(transports));
        }
        if (json_is_object(transports)) {
                /* podman takes the first transport in Go's random map order; we take the first
                 * by name, so that the result does not depend on chance. */
                const char *best = NULL;
                const char *k;
                json_t *v;
                json_object_foreach(transports, k, v)
                {
                        if (json_is_object(v) && json_object_get(v, scope) &&
                            (!best || strcmp(k, best) < 0))
                                best = k;
                }
                if (best) {
                        json_object_set_new(json_object_get(transports, best), scope, reqs);
                        return 0;
                }
        } else {
                transports = json_object();
                json_object_set_new(doc, "transports", transports);
        }
        json_t *docker = json_object_get(transports, "docker");
        if (docker && !json_is_object(docker) && !json_is_null(docker)) {
                json_decref(reqs);
                return it_error_set(err, IT_EINPUT, "transports.docker: must be an object, not %s",
                                    it_json_type_name(docker));
        }
        if (!json_is_object(docker)) {
                docker = json_object();
                json_object_set_new(transports, "docker", docker);
        }
        json_object_set_new(docker, scope, reqs);
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A shallow copy of obj with members sorted by key (Go's map order); with deep, member objects
 * are sorted one level further. New reference. */
static json_t *sorted_copy(const json_t *obj, bool deep)
{
        size_t n = json_object_size(obj);
        _cleanup_free_ const char **keys = xcalloc(n + 1, sizeof *keys);
        size_t i = 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)obj, k, v)
        {
                keys[i++] = k;
        }
        qsort(keys, n, sizeof *keys, cmp_str);
        json_t *out = json_object();
        for (i = 0; i < n; i++) {
                json_t *m = json_object_get(obj, keys[i]);
                if (deep && json_is_object(m))
                        json_object_set_new(out, keys[i], sorted_copy(m, false));
                else
                        json_object_set(out, keys[i], m);
        }
        return out;
}

char *policy_serialize(const json_t *doc)
{
        _cleanup_json_ json_t *out = json_object();
        json_t *def = json_object_get(doc, "default");
        /* A missing default is a nil json.RawMessage in podman, written as null. */
        json_object_set(out, "default", def ? def : json_null());
        json_t *transports = json_object_get(doc, "transports");
        if (json_is_object(transports)) {
                /* omitempty: an empty or null transports map is left out. */
                if (json_object_size(transports))
                        json_object_set_new(out, "transports", sorted_copy(transports, true));
        } else if (transports && !json_is_null(transports)) {
                json_object_set(out, "transports", transports);
        }
        /* podman drops other top-level members; they are kept, after what podman writes. */
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)doc, k, v)
        {
                if (strcmp(k, "default") != 0 && strcmp(k, "transports") != 0)
                        json_object_set(out, k, v);
        }
        struct it_buf b = IT_BUF_INIT;
        it_json_write_go(&b, out, 4);
        return it_buf_detach(&b);
}
