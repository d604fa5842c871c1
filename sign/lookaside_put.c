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

#include "imgtrust/authfile.h"
#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/clock.h"
#include "imgtrust/fs.h"
#include "imgtrust/http.h"
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

static void curl_easy_cleanupp(CURL **h)
{
        if (*h)
                curl_easy_cleanup(*h);
}

/* One request on h without following redirects, so credentials reach the base URL's host only.
 * method "HEAD", "GET" or "PUT" (with blob). Any status is a success here. */
static int request(CURL *h, const char *method, const char *url, const void *blob, size_t len,
                   const struct it_lookaside_put_opts *opts, struct it_http_resp *r, it_error *err)
{
        static const char *const put_headers[] = {
            "If-None-Match: *",
            "Content-Type: application/octet-stream",
            NULL,
        };
        struct it_tls_config tls = {.verify = opts->tls_verify};
        struct it_http_req q = {
            .method = method,
            .url = url,
            .headers = strcmp(method, "PUT") ? NULL : put_headers,
            .userpwd = opts->userpwd,
            .tls = &tls,
            .body = blob,
            .body_len = len,
            .max = IT_LOOKASIDE_SIG_MAX,
            .max_is_error = true,
            .curl = h,
        };
        return it_http_perform(&q, r, err);
}

/* Any status the caller did not expect: a redirect names its target, 401/403 the credentials. */
static int status_error(const char *method, const char *url, const struct it_http_resp *r,
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

static void sleep_ms(int64_t ms)
{
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
}

/* GET url and compare with blob: 1 same, 0 other bytes (another writer's PUT landed). */
static int read_back(CURL *h, const char *url, const void *blob, size_t len,
                     const struct it_lookaside_put_opts *opts, struct it_http_resp *r,
                     it_error *err)
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
        struct it_http_resp r = IT_HTTP_RESP_INIT;
        for (unsigned n = 1; n <= IT_LOOKASIDE_MAX_SIGS; n++) {
                _cleanup_free_ char *url = NULL;
                rc = regd_signature_url(base_url, repo_path, digest, n, &url, err);
                if (rc)
                        goto out;
                int64_t t0 = it_mono_ms();
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
                int64_t rtt = it_mono_ms() - t0;
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
        http_resp_free(&r);
        return rc;
}

/* ---- auth file ---- */

/* The lookaside's own credentials keep their stricter reading: canonical base64 only, an auth
 * that is not "user:password" is an error, credential helpers are not consulted. */
#define LOOKASIDE_AUTH_FLAGS                                                                       \
        (IT_AUTHFILE_STRICT_BASE64 | IT_AUTHFILE_REQUIRE_COLON | IT_AUTHFILE_IGNORE_HELPERS)

int lookaside_put_creds_parse(const char *data, size_t len, const char *what, const char *host,
                              char **userpwd, it_error *err)
{
        return authfile_parse_flags(data, len, what, host, NULL, LOOKASIDE_AUTH_FLAGS, userpwd,
                                    err);
}

int lookaside_put_creds_from_authfile(const char *host, const char *authfile, char **userpwd,
                                      it_error *err)
{
        *userpwd = NULL;
        if (!host || !*host)
                return it_error_set(err, IT_EINPUT, "lookaside credentials: empty host");
        struct it_authfile_sources src = IT_AUTHFILE_SOURCES_INIT;
        if (authfile) {
                authfile_sources_add(&src, authfile, false, true);
        } else {
                const char *xdg = getenv("XDG_RUNTIME_DIR");
                if (xdg && *xdg) {
                        _cleanup_free_ char *p = xasprintf("%s/containers/auth.json", xdg);
                        authfile_sources_add(&src, p, false, false);
                }
                const char *home = getenv("HOME");
                if (home && *home) {
                        _cleanup_free_ char *p = xasprintf("%s/.docker/config.json", home);
                        authfile_sources_add(&src, p, false, false);
                }
        }
        int rc =
            authfile_lookup_sources(&src, host, NULL, LOOKASIDE_AUTH_FLAGS, userpwd, NULL, err);
        authfile_sources_free(&src);
        return rc;
}
