/* Bounded HTTP GET over libcurl, shared by the registry client and the lookaside reader. */
#include "imgtrust/registry.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/json.h"
#include "imgtrust/xalloc.h"

#define QUOTE_MAX 200

struct xfer {
        struct it_buf *body;
        size_t max;
        bool too_large;
        char *content_type;
        char *www_auth;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
        struct xfer *x = ud;
        size_t n = size * nmemb;
        if (x->body->len + n > x->max) {
                x->too_large = true;
                return 0; /* CURLE_WRITE_ERROR */
        }
        it_buf_add(x->body, p, n);
        return n;
}

/* Header value with surrounding blanks and the line break removed. */
static char *header_value(const char *p, size_t n)
{
        while (n && (*p == ' ' || *p == '\t')) {
                p++;
                n--;
        }
        while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' ' || p[n - 1] == '\t'))
                n--;
        return xstrndup(p, n);
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
        struct xfer *x = ud;
        size_t n = size * nmemb;
        /* A redirect or a 100 Continue starts a new header block: keep only the last one's. */
        if (n >= 5 && !strncmp(p, "HTTP/", 5)) {
                free(x->content_type);
                free(x->www_auth);
                x->content_type = x->www_auth = NULL;
                return n;
        }
        static const char ct[] = "content-type:", wa[] = "www-authenticate:";
        if (n > sizeof ct - 1 && !strncasecmp(p, ct, sizeof ct - 1)) {
                free(x->content_type);
                x->content_type = header_value(p + sizeof ct - 1, n - (sizeof ct - 1));
        } else if (n > sizeof wa - 1 && !strncasecmp(p, wa, sizeof wa - 1) && !x->www_auth) {
                x->www_auth = header_value(p + sizeof wa - 1, n - (sizeof wa - 1));
        }
        return n;
}

void http_resp_free(struct it_http_resp *r)
{
        it_buf_free(&r->body);
        free(r->content_type);
        free(r->www_auth);
        memset(r, 0, sizeof *r);
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

static void curl_slist_freep(struct curl_slist **l)
{
        curl_slist_free_all(*l);
}

static void curl_easy_cleanupp(CURL **h)
{
        if (*h)
                curl_easy_cleanup(*h);
}

int http_get(const char *url, const struct it_http_opts *opts, size_t max,
             struct it_http_resp *resp, it_error *err)
{
        static const struct it_http_opts defaults = {.tls_verify = true};
        if (!opts)
                opts = &defaults;
        http_resp_free(resp);
        _cleanup_(curl_easy_cleanupp) CURL *own = NULL;
        CURL *h = opts->curl;
        if (h) {
                curl_easy_reset(h);
        } else {
                h = own = curl_easy_init();
                if (!h)
                        return it_error_set(err, IT_EIO, "GET %s: cannot initialise libcurl", url);
        }
        _cleanup_(curl_slist_freep) struct curl_slist *hdrs = NULL;
        for (const char *const *p = opts->headers; p && *p; p++)
                hdrs = curl_slist_append(hdrs, *p);
        _cleanup_free_ char *noproxy = noproxy_list();
        char errbuf[CURL_ERROR_SIZE] = "";
        struct xfer x = {.body = &resp->body, .max = max};

        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)IT_HTTP_CONNECT_TIMEOUT);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)IT_HTTP_LOW_SPEED_TIME);
        curl_easy_setopt(h, CURLOPT_NOPROXY, noproxy);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "imgtrust");
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, opts->tls_verify ? 1L : 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, opts->tls_verify ? 2L : 0L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
        if (hdrs)
                curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        if (opts->userpwd) {
                curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
                curl_easy_setopt(h, CURLOPT_USERPWD, opts->userpwd);
        }
        CURLcode cc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
        /* A reused handle outlives this call: drop its pointers into our locals (connections
         * stay). */
        if (!own)
                curl_easy_reset(h);
        resp->content_type = x.content_type;
        resp->www_auth = x.www_auth;
        if (x.too_large)
                return it_error_set(err, IT_EIO, "GET %s: response larger than %zu bytes", url,
                                    max);
        if (cc != CURLE_OK) {
                /* errbuf may quote the server; keep the message on one line. */
                for (char *c = errbuf; *c; c++)
                        if ((unsigned char)*c < 0x20)
                                *c = ' ';
                return it_error_set(err, IT_EIO, "GET %s: %s", url,
                                    *errbuf ? errbuf : curl_easy_strerror(cc));
        }
        return 0;
}

static const char *reason_phrase(long status)
{
        switch (status) {
        case 400:
                return "Bad Request";
        case 401:
                return "Unauthorized";
        case 403:
                return "Forbidden";
        case 404:
                return "Not Found";
        case 405:
                return "Method Not Allowed";
        case 406:
                return "Not Acceptable";
        case 408:
                return "Request Timeout";
        case 429:
                return "Too Many Requests";
        case 500:
                return "Internal Server Error";
        case 502:
                return "Bad Gateway";
        case 503:
                return "Service Unavailable";
        case 504:
                return "Gateway Timeout";
        default:
                return "";
        }
}

int http_status_error(const char *url, const struct it_http_resp *resp, it_error *err)
{
        struct it_buf msg = IT_BUF_INIT;
        const char *reason = reason_phrase(resp->status);
        it_buf_addf(&msg, "GET %s: HTTP %ld%s%s", url, resp->status, *reason ? " " : "", reason);
        /* The registry's {"errors":[{"code":..., "message":...}]}, when it sent one. */
        json_t *j = NULL;
        it_error ignored = IT_ERROR_INIT;
        if (resp->body.len && it_json_parse(it_buf_str(&resp->body), resp->body.len,
                                            IT_HTTP_ERROR_BODY_MAX, "body", &j, &ignored) == 0) {
                const json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
                const json_t *code = json_object_get(e0, "code");
                const json_t *m = json_object_get(e0, "message");
                if (json_is_string(code)) {
                        _cleanup_free_ char *q = it_quote(json_string_value(code), QUOTE_MAX);
                        it_buf_addf(&msg, ": %s", q);
                }
                if (json_is_string(m)) {
                        _cleanup_free_ char *q = it_quote(json_string_value(m), QUOTE_MAX);
                        it_buf_addf(&msg, "%s %s", json_is_string(code) ? "" : ":", q);
                }
        }
        if (j)
                json_decref(j);
        it_error_clear(&ignored);
        int rc = it_error_set(err, IT_EIO, "%s", it_buf_str(&msg));
        it_buf_free(&msg);
        return rc;
}
