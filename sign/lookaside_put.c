/* Publishing a signature to an http(s):// lookaside by PUT. WebDAV servers offer no portable
 * exclusive create (nginx ignores If-None-Match on PUT), so a name is probed first, the PUT asks
 * for exclusivity anyway, and the file is read back to detect a writer that won the same name. */
#include "imgtrust/lookaside_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/json.h"
#include "imgtrust/lookaside.h"
#include "imgtrust/regd.h"
#include "imgtrust/xalloc.h"

#define QUOTE_MAX 200
/* Bounds of the wait before the second read-back, in milliseconds. */
#define SETTLE_MIN_MS 20
#define SETTLE_MAX_MS 2000

static bool has_scheme(const char *url, const char *scheme)
{
        size_t n = strlen(scheme);
        return !strncasecmp(url, scheme, n) && url[n] == ':';
}

static void curl_slist_freep(struct curl_slist **l)
{
        curl_slist_free_all(*l);
}

static void curl_easy_cleanupp(CURL **h)
{
        if (*h)
                curl_easy_cleanup(*h);
}

struct reply {
        long status;
        struct it_buf body;
        size_t max;
        bool too_large;
        char *location;
};

static void reply_free(struct reply *r)
{
        it_buf_free(&r->body);
        free(r->location);
        r->location = NULL;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
        struct reply *r = ud;
        size_t n = size * nmemb;
        if (r->body.len + n > r->max) {
                r->too_large = true;
                return 0;
        }
        it_buf_add(&r->body, p, n);
        return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
        struct reply *r = ud;
        size_t n = size * nmemb;
        static const char loc[] = "location:";
        if (n > sizeof loc - 1 && !strncasecmp(p, loc, sizeof loc - 1)) {
                const char *v = p + sizeof loc - 1;
                size_t vn = n - (sizeof loc - 1);
                while (vn && (*v == ' ' || *v == '\t')) {
                        v++;
                        vn--;
                }
                while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
                        vn--;
                free(r->location);
                r->location = xstrndup(v, vn);
        }
        return n;
}

/* Go's ProxyFromEnvironment never proxies loopback; libcurl would. */
static char *noproxy_list(void)
{
        const char *env = getenv("no_proxy");
        if (!env || !*env)
                env = getenv("NO_PROXY");
        if (env && !strcmp(env, "*"))
                return xstrdup("*");
        return xasprintf("%s%slocalhost,127.0.0.1,::1", env && *env ? env : "",
                         env && *env ? "," : "");
}

/* One request on h without following redirects, so credentials reach the base URL's host only.
 * method "HEAD", "GET" or "PUT" (with blob). Any status is a success here. */
static int request(CURL *h, const char *method, const char *url, const void *blob, size_t len,
                   const struct it_lookaside_put_opts *opts, struct reply *r, it_error *err)
{
        curl_easy_reset(h);
        _cleanup_(curl_slist_freep) struct curl_slist *hdrs = NULL;
        _cleanup_free_ char *noproxy = noproxy_list();
        char errbuf[CURL_ERROR_SIZE] = "";
        r->status = 0;
        r->too_large = false;
        it_buf_free(&r->body);
        free(r->location);
        r->location = NULL;
        r->max = IT_LOOKASIDE_SIG_MAX;

        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
        curl_easy_setopt(h, CURLOPT_NOPROXY, noproxy);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "imgtrust");
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, opts->tls_verify ? 1L : 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, opts->tls_verify ? 2L : 0L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
        if (!strcmp(method, "HEAD")) {
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        } else if (!strcmp(method, "PUT")) {
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, blob);
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
                hdrs = curl_slist_append(hdrs, "If-None-Match: *");
                hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
                /* No 100-continue round trip: the body is small. */
                hdrs = curl_slist_append(hdrs, "Expect:");
                curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        }
        if (opts->userpwd) {
                curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
                curl_easy_setopt(h, CURLOPT_USERPWD, opts->userpwd);
        }
        CURLcode cc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_reset(h); /* drop pointers into this frame */
        if (r->too_large)
                return it_error_set(err, IT_EIO, "%s %s: response larger than %u bytes", method,
                                    url, IT_LOOKASIDE_SIG_MAX);
        if (cc != CURLE_OK) {
                for (char *c = errbuf; *c; c++)
                        if ((unsigned char)*c < 0x20)
                                *c = ' ';
                return it_error_set(err, IT_EIO, "%s %s: %s", method, url,
                                    *errbuf ? errbuf : curl_easy_strerror(cc));
        }
        return 0;
}

/* Any status the caller did not expect: a redirect names its target, 401/403 the credentials. */
static int status_error(const char *method, const char *url, const struct reply *r,
                        const struct it_lookaside_put_opts *opts, it_error *err)
{
        if (r->status >= 300 && r->status < 400) {
                _cleanup_free_ char *q = it_quote(r->location ? r->location : "", QUOTE_MAX);
                return it_error_set(err, IT_EIO,
                                    "%s %s: HTTP %ld redirect to %s refused (lookaside writes "
                                    "do not follow redirects; configure the final URL)",
                                    method, url, r->status, q);
        }
        if (r->status == 401 || r->status == 403)
                return it_error_set(err, IT_EIO, "%s %s: HTTP %ld %s: %s", method, url, r->status,
                                    r->status == 401 ? "Unauthorized" : "Forbidden",
                                    opts->userpwd ? "the lookaside refused the credentials given"
                                                  : "the lookaside wants credentials (none "
                                                    "given)");
        if (r->status == 0)
                return it_error_set(err, IT_EIO, "%s %s: no HTTP response", method, url);
        return it_error_set(err, IT_EIO, "%s %s: HTTP %ld", method, url, r->status);
}

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
}

/* GET url and compare with blob: 1 same, 0 other bytes (another writer's PUT landed). */
static int read_back(CURL *h, const char *url, const void *blob, size_t len,
                     const struct it_lookaside_put_opts *opts, struct reply *r, it_error *err)
{
        int rc = request(h, "GET", url, NULL, 0, opts, r, err);
        if (rc)
                return rc;
        if (r->status != 200) {
                rc = status_error("GET", url, r, opts, err);
                it_error_wrap(err, "reading back the signature just written");
                return rc;
        }
        return r->body.len == len && (!len || !memcmp(r->body.data, blob, len));
}

/* userinfo in the URL would bypass the separate lookaside credentials and end up in messages. */
static bool has_userinfo(const char *url)
{
        const char *a = strstr(url, "://");
        if (!a)
                return false;
        a += 3;
        size_t n = strcspn(a, "/?#");
        return memchr(a, '@', n) != NULL;
}

int lookaside_put_append(const char *base_url, const char *repo_path, const char *digest,
                         const void *blob, size_t len, const struct it_lookaside_put_opts *opts,
                         char **url_written, unsigned *index, it_error *err)
{
        static const struct it_lookaside_put_opts defaults = {.tls_verify = true};
        if (!opts)
                opts = &defaults;
        if (url_written)
                *url_written = NULL;
        _cleanup_free_ char *first = NULL;
        int rc = regd_signature_url(base_url, repo_path, digest, 1, &first, err);
        if (rc)
                return rc;
        if (!has_scheme(base_url, "http") && !has_scheme(base_url, "https")) {
                _cleanup_free_ char *q = it_quote(base_url, QUOTE_MAX);
                return it_error_set(err, IT_EINPUT,
                                    "lookaside %s: unsupported scheme for HTTP PUT (http or https "
                                    "expected)",
                                    q);
        }
        if (has_userinfo(base_url))
                return it_error_set(err, IT_EINPUT,
                                    "lookaside URL with credentials in it is not supported; give "
                                    "the lookaside credentials separately");
        if (len > IT_LOOKASIDE_SIG_MAX)
                return it_error_set(err, IT_EINPUT,
                                    "signature of %zu bytes is larger than the %u bytes readers "
                                    "accept",
                                    len, IT_LOOKASIDE_SIG_MAX);
        _cleanup_(curl_easy_cleanupp) CURL *h = curl_easy_init();
        if (!h)
                return it_error_set(err, IT_EIO, "PUT %s: cannot initialise libcurl", first);
        struct reply r = {0};
        for (unsigned n = 1; n <= IT_LOOKASIDE_MAX_SIGS; n++) {
                _cleanup_free_ char *url = NULL;
                rc = regd_signature_url(base_url, repo_path, digest, n, &url, err);
                if (rc)
                        goto out;
                int64_t t0 = now_ms();
                rc = request(h, "HEAD", url, NULL, 0, opts, &r, err);
                if (rc)
                        goto out;
                if (r.status == 200)
                        continue;
                if (r.status != 404) {
                        rc = status_error("HEAD", url, &r, opts, err);
                        goto out;
                }
                rc = request(h, "PUT", url, blob, len, opts, &r, err);
                if (rc)
                        goto out;
                if (r.status == 412)
                        continue; /* a server honouring If-None-Match: someone was faster */
                if (r.status != 201 && r.status != 204) {
                        rc = status_error("PUT", url, &r, opts, err);
                        goto out;
                }
                int64_t rtt = now_ms() - t0;
                rc = read_back(h, url, blob, len, opts, &r, err);
                if (rc < 0)
                        goto out;
                if (rc == 0)
                        continue; /* another writer's PUT landed after ours */
                /* A writer that probed this N before our PUT landed sends its PUT about one round
                 * trip later and would replace ours (nginx ignores If-None-Match): look again
                 * after twice our own probe-and-PUT time, so such a loss is noticed and retried
                 * under N+1. Not a guarantee: a writer stalled longer still wins silently. */
                sleep_ms(rtt * 2 < SETTLE_MIN_MS   ? SETTLE_MIN_MS
                         : rtt * 2 > SETTLE_MAX_MS ? SETTLE_MAX_MS
                                                   : rtt * 2);
                rc = read_back(h, url, blob, len, opts, &r, err);
                if (rc < 0)
                        goto out;
                if (rc == 0)
                        continue;
                if (url_written)
                        *url_written = xstrdup(url);
                if (index)
                        *index = n;
                rc = 0;
                goto out;
        }
        rc = it_error_set(err, IT_EINPUT,
                          "%s: already %d signatures; no reader accepts more (spec 4.2)", first,
                          IT_LOOKASIDE_MAX_SIGS);
out:
        reply_free(&r);
        return rc;
}

/* ---- auth file ---- */

static int b64_value(unsigned char ch)
{
        if (ch >= 'A' && ch <= 'Z')
                return ch - 'A';
        if (ch >= 'a' && ch <= 'z')
                return ch - 'a' + 26;
        if (ch >= '0' && ch <= '9')
                return ch - '0' + 52;
        if (ch == '+')
                return 62;
        if (ch == '/')
                return 63;
        return -1;
}

/* Standard base64 with '=' padding (Go's base64.StdEncoding, without its CR/LF skipping).
 * Allocated, NUL-terminated; NULL when invalid. */
static char *b64_decode(const char *s, size_t n, size_t *out_len)
{
        if (n % 4)
                return NULL;
        char *out = xmalloc(n / 4 * 3 + 1);
        size_t o = 0;
        for (size_t i = 0; i < n; i += 4) {
                int v[4];
                int pad = 0;
                for (int k = 0; k < 4; k++) {
                        unsigned char ch = (unsigned char)s[i + k];
                        if (ch == '=' && i + 4 == n && k >= 2) {
                                v[k] = 0;
                                pad++;
                                continue;
                        }
                        if (pad) /* data after '=' */
                                goto bad;
                        v[k] = b64_value(ch);
                        if (v[k] < 0)
                                goto bad;
                }
                unsigned x = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 |
                             (unsigned)v[3];
                /* Non-canonical trailing bits are refused, as Go does in strict mode. */
                if ((pad == 1 && (x & 0xff)) || (pad == 2 && (x & 0xffff)))
                        goto bad;
                out[o++] = (char)(x >> 16);
                if (pad < 2)
                        out[o++] = (char)(x >> 8 & 0xff);
                if (pad < 1)
                        out[o++] = (char)(x & 0xff);
        }
        out[o] = '\0';
        *out_len = o;
        return out;
bad:
        free(out);
        return NULL;
}

/* The host part of an auths key: without an http(s):// prefix and anything from the first '/'. */
static char *key_host(const char *key)
{
        if (!strncasecmp(key, "https://", 8))
                key += 8;
        else if (!strncasecmp(key, "http://", 7))
                key += 7;
        return xstrndup(key, strcspn(key, "/"));
}

int lookaside_put_creds_parse(const char *data, size_t len, const char *what, const char *host,
                              char **userpwd, it_error *err)
{
        *userpwd = NULL;
        _cleanup_json_ json_t *root = NULL;
        int rc = it_json_parse(data, len, IT_AUTHFILE_MAX, what, &root, err);
        if (rc)
                return rc;
        if (!json_is_object(root))
                return it_error_set(err, IT_EINPUT, "%s: top level is not an object", what);
        json_t *auths = json_object_get(root, "auths");
        if (!auths)
                return 0;
        if (!json_is_object(auths))
                return it_error_set(err, IT_EINPUT, "%s: .auths is not an object", what);
        /* An exact key wins over one that matches after normalisation. */
        const char *found = NULL;
        const char *key;
        json_t *entry;
        json_object_foreach(auths, key, entry)
        {
                if (!strcmp(key, host)) {
                        found = key;
                        break;
                }
                _cleanup_free_ char *kh = key_host(key);
                if (!found && !strcmp(kh, host))
                        found = key;
        }
        if (!found)
                return 0;
        _cleanup_buf_ struct it_buf path = IT_BUF_INIT;
        it_buf_adds(&path, ".auths");
        it_json_path_key(&path, found);
        entry = json_object_get(auths, found);
        if (!json_is_object(entry))
                return it_error_set(err, IT_EINPUT, "%s: %s is not an object", what,
                                    it_buf_str(&path));
        json_t *auth = json_object_get(entry, "auth");
        if (!auth)
                return 0; /* e.g. only an identitytoken: nothing for Basic authentication */
        if (!json_is_string(auth))
                return it_error_set(err, IT_EINPUT, "%s: %s.auth is not a string", what,
                                    it_buf_str(&path));
        if (json_string_length(auth) == 0)
                return 0;
        size_t dlen = 0;
        _cleanup_free_ char *dec =
            b64_decode(json_string_value(auth), json_string_length(auth), &dlen);
        if (!dec)
                return it_error_set(err, IT_EINPUT,
                                    "%s: %s.auth is not valid base64 (standard, with \"=\" "
                                    "padding)",
                                    what, it_buf_str(&path));
        if (memchr(dec, '\0', dlen) || !strchr(dec, ':'))
                return it_error_set(err, IT_EINPUT,
                                    "%s: %s.auth does not decode to \"user:password\"", what,
                                    it_buf_str(&path));
        *userpwd = dec;
        dec = NULL;
        return 0;
}

/* 0 with *userpwd set or NULL; a missing file is skipped unless `must_exist`. */
static int creds_from_file(const char *path, const char *host, bool must_exist, char **userpwd,
                           it_error *err)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        _cleanup_error_ it_error rerr = IT_ERROR_INIT;
        int rc = it_file_read(path, IT_AUTHFILE_MAX, &data, &len, &rerr);
        if (rc) {
                if (!must_exist && rc == IT_EIO && rerr.sys_errno == ENOENT)
                        return 0;
                it_error_move(err, &rerr);
                return rc;
        }
        return lookaside_put_creds_parse(data, len, path, host, userpwd, err);
}

int lookaside_put_creds_from_authfile(const char *host, const char *authfile, char **userpwd,
                                      it_error *err)
{
        *userpwd = NULL;
        if (!host || !*host)
                return it_error_set(err, IT_EINPUT, "lookaside credentials: empty host");
        if (authfile)
                return creds_from_file(authfile, host, true, userpwd, err);
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        if (xdg && *xdg) {
                _cleanup_free_ char *p = xasprintf("%s/containers/auth.json", xdg);
                int rc = creds_from_file(p, host, false, userpwd, err);
                if (rc || *userpwd)
                        return rc;
        }
        const char *home = getenv("HOME");
        if (home && *home) {
                _cleanup_free_ char *p = xasprintf("%s/.docker/config.json", home);
                return creds_from_file(p, host, false, userpwd, err);
        }
        return 0;
}
