/* One HTTP request over libcurl (imgtrust/http.h) and the bounded GET built on it
 * (imgtrust/registry.h), shared by the registry client and the lookaside reader and writer. */
#include "imgtrust/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/json.h"
#include "imgtrust/registry.h"
#include "imgtrust/xalloc.h"

#define QUOTE_MAX 200

struct xfer {
        const struct it_http_req *q;
        struct it_http_resp *r;
        CURL *h;
};

void http_resp_free(struct it_http_resp *r)
{
        it_buf_free(&r->body);
        free(r->content_type);
        free(r->www_auth);
        free(r->location);
        free(r->docker_digest);
        free(r->redirect_url);
        memset(r, 0, sizeof *r);
        r->content_length = -1;
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

static bool header_is(const char *p, size_t n, const char *name, size_t *skip)
{
        size_t l = strlen(name);
        if (n <= l || strncasecmp(p, name, l))
                return false;
        *skip = l;
        return true;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
        struct it_http_resp *r = ((struct xfer *)ud)->r;
        size_t n = size * nmemb, k = 0;
        /* A redirect or a 100 Continue starts a new header block: keep only the last one's. */
        if (n >= 5 && !strncmp(p, "HTTP/", 5)) {
                free(r->content_type);
                free(r->www_auth);
                free(r->location);
                free(r->docker_digest);
                r->content_type = r->www_auth = r->location = r->docker_digest = NULL;
                r->content_length = -1;
                return n;
        }
        if (header_is(p, n, "content-type:", &k)) {
                free(r->content_type);
                r->content_type = header_value(p + k, n - k);
        } else if (header_is(p, n, "www-authenticate:", &k)) {
                if (!r->www_auth)
                        r->www_auth = header_value(p + k, n - k);
        } else if (header_is(p, n, "location:", &k)) {
                free(r->location);
                r->location = header_value(p + k, n - k);
        } else if (header_is(p, n, "docker-content-digest:", &k)) {
                free(r->docker_digest);
                r->docker_digest = header_value(p + k, n - k);
        } else if (header_is(p, n, "content-length:", &k)) {
                _cleanup_free_ char *v = header_value(p + k, n - k);
                char *end;
                errno = 0;
                long long l = strtoll(v, &end, 10);
                r->content_length = (*v && !*end && l >= 0 && errno == 0) ? l : -1;
        }
        return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
        struct xfer *x = ud;
        const struct it_http_req *q = x->q;
        struct it_http_resp *r = x->r;
        size_t n = size * nmemb;
        if (q->sink) {
                long st = 0;
                curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &st);
                if (st >= 200 && st < 300) {
                        if (q->sink(q->sink_ctx, p, n)) {
                                r->aborted = true;
                                return 0; /* CURLE_WRITE_ERROR */
                        }
                        r->sunk += (int64_t)n;
                        return n;
                }
        }
        if (r->body.len + n > q->max) {
                if (!q->max_is_error)
                        return n; /* an error body is read for its first code only */
                r->too_large = true;
                return 0;
        }
        it_buf_add(&r->body, p, n);
        return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
        struct xfer *x = ud;
        size_t got = 0, cap = size * nmemb;
        if (x->q->read(x->q->read_ctx, buf, cap, &got) || got > cap) {
                x->r->aborted = true;
                return CURL_READFUNC_ABORT;
        }
        return got;
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

static void x509_stack_freep(STACK_OF(X509) * *s)
{
        if (*s)
                sk_X509_pop_free(*s, X509_free);
}

/* The certificates of each PEM file, in order. */
static int load_ca_files(const char *const *files, STACK_OF(X509) * *out, it_error *err)
{
        _cleanup_(x509_stack_freep) STACK_OF(X509) *all = sk_X509_new_null();
        if (!all)
                abort();
        for (const char *const *f = files; *f; f++) {
                _cleanup_free_ char *data = NULL;
                size_t len = 0;
                int rc = it_file_read(*f, IT_TLS_CA_FILE_MAX, &data, &len, err);
                if (rc)
                        return it_error_wrap(err, "CA certificate file");
                if (!len)
                        return it_error_set(err, IT_EINPUT,
                                            "CA certificate file %s: no PEM certificate in it", *f);
                BIO *bio = BIO_new_mem_buf(data, (int)len);
                if (!bio)
                        abort();
                size_t found = 0;
                X509 *cert;
                ERR_clear_error();
                while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
                        if (!sk_X509_push(all, cert))
                                abort();
                        found++;
                }
                /* The loop ends at the first block that is not a certificate: only the end of
                 * the file (no start line) is fine. */
                unsigned long e = ERR_peek_last_error();
                bool at_end =
                    ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
                ERR_clear_error();
                BIO_free(bio);
                if (!found || (e && !at_end))
                        return it_error_set(err, IT_EINPUT, "CA certificate file %s: %s", *f,
                                            found ? "a PEM block after the certificates is not "
                                                    "a valid certificate"
                                                  : "no PEM certificate in it");
        }
        *out = IT_STEAL(all);
        return 0;
}

/* The SSL_CTX libcurl hands to the callback is OpenSSL's only when libcurl was built with it (as
 * Debian's libcurl4-openssl is); NULL means another TLS library, where extra CAs cannot be added.
 */
typedef void *(*cert_store_fn)(const void *ssl_ctx);

static void *cert_store_of(const void *ssl_ctx)
{
        return SSL_CTX_get_cert_store((const SSL_CTX *)ssl_ctx);
}

static cert_store_fn cert_store_lookup(void)
{
        const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
        if (!v || !v->ssl_version || strncmp(v->ssl_version, "OpenSSL", 7))
                return NULL;
        return cert_store_of;
}

struct extra_cas {
        STACK_OF(X509) * certs;
        cert_store_fn cert_store;
};

/* Runs for every new TLS connection, after libcurl set up the system pool: the extra CAs join
 * it. The store is the connection's own because the CA cache is off for these requests. */
static CURLcode on_ssl_ctx(CURL *h, void *sslctx, void *ud)
{
        (void)h;
        const struct extra_cas *cas = ud;
        X509_STORE *store = cas->cert_store(sslctx);
        if (!store)
                return CURLE_SSL_CACERT_BADFILE;
        for (int i = 0; i < sk_X509_num(cas->certs); i++)
                X509_STORE_add_cert(store, sk_X509_value(cas->certs, i)); /* duplicates are fine */
        ERR_clear_error();
        return CURLE_OK;
}

static bool transient_curl(CURLcode cc)
{
        switch (cc) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_PARTIAL_FILE:
                return true;
        default:
                return false;
        }
}

/* "host[:port]" of an absolute URL (allocated). */
static char *url_host(const char *url)
{
        const char *p = strstr(url, "://");
        p = p ? p + 3 : url;
        size_t n = strcspn(p, "/?#");
        const char *at = memchr(p, '@', n);
        if (at) {
                n -= (size_t)(at + 1 - p);
                p = at + 1;
        }
        return xstrndup(p, n);
}

/* The TLS alert a server sends when it wants a client certificate or refuses ours (Go sends
 * "bad certificate", TLS 1.3 servers may send "certificate required"). */
static bool client_cert_alert(const char *msg)
{
        static const char *const alerts[] = {
            "alert bad certificate",
            "alert certificate required",
            "alert unknown ca",
            "alert certificate unknown",
            "alert handshake failure",
            "alert certificate expired",
            "alert unsupported certificate",
            "alert access denied",
        };
        for (size_t i = 0; i < sizeof alerts / sizeof alerts[0]; i++)
                if (strstr(msg, alerts[i]))
                        return true;
        return false;
}

static int transport_error(const struct it_http_req *q, const char *method, CURLcode cc,
                           char *errbuf, struct it_http_resp *r, it_error *err)
{
        /* errbuf may quote the server; keep the message on one line. */
        for (char *c = errbuf; *c; c++)
                if ((unsigned char)*c < 0x20)
                        *c = ' ';
        const char *why = *errbuf ? errbuf : curl_easy_strerror(cc);
        const struct it_tls_config *tls = q->tls;
        _cleanup_free_ char *host = url_host(q->url);
        switch (cc) {
        case CURLE_PEER_FAILED_VERIFICATION:
                return it_error_set(err, IT_EIO,
                                    "%s %s: TLS: the certificate of %s is not trusted (%s); add "
                                    "the CA that issued it, or do not verify TLS",
                                    method, q->url, host, why);
        case CURLE_SSL_CERTPROBLEM:
                return it_error_set(err, IT_EIO,
                                    "%s %s: TLS: cannot use the client certificate %s with key "
                                    "%s (%s)",
                                    method, q->url, tls && tls->client_cert ? tls->client_cert : "",
                                    tls && tls->client_key ? tls->client_key : "in the same file",
                                    why);
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
                if (!client_cert_alert(why))
                        break;
                if (tls && tls->client_cert)
                        return it_error_set(err, IT_EIO,
                                            "%s %s: TLS: %s refused the client certificate %s "
                                            "(%s)",
                                            method, q->url, host, tls->client_cert, why);
                return it_error_set(err, IT_EIO,
                                    "%s %s: TLS: %s refused the connection: it wants a client "
                                    "certificate and none was given (%s)",
                                    method, q->url, host, why);
        default:
                break;
        }
        r->transient = transient_curl(cc);
        if (cc == CURLE_SSL_CONNECT_ERROR)
                return it_error_set(err, IT_EIO, "%s %s: TLS handshake with %s failed: %s", method,
                                    q->url, host, why);
        return it_error_set(err, IT_EIO, "%s %s: %s", method, q->url, why);
}

int it_http_perform(const struct it_http_req *q, struct it_http_resp *resp, it_error *err)
{
        static const struct it_tls_config verify_default = {.verify = true};
        const struct it_tls_config *tls = q->tls ? q->tls : &verify_default;
        const char *method = q->method ? q->method : "GET";
        http_resp_free(resp);

        _cleanup_(x509_stack_freep) STACK_OF(X509) *cas = NULL;
        if (tls->verify && tls->ca_files && *tls->ca_files) {
                int rc = load_ca_files(tls->ca_files, &cas, err);
                if (rc)
                        return it_error_wrap(err, "%s %s", method, q->url);
        }
        _cleanup_(curl_easy_cleanupp) CURL *own = NULL;
        CURL *h = q->curl;
        if (h) {
                curl_easy_reset(h);
        } else {
                h = own = curl_easy_init();
                if (!h)
                        return it_error_set(err, IT_EIO, "%s %s: cannot initialise libcurl", method,
                                            q->url);
        }
        bool has_body = strcmp(method, "GET") && strcmp(method, "HEAD");
        _cleanup_(curl_slist_freep) struct curl_slist *hdrs = NULL;
        for (const char *const *p = q->headers; p && *p; p++)
                hdrs = curl_slist_append(hdrs, *p);
        if (q->auth_header)
                hdrs = curl_slist_append(hdrs, q->auth_header);
        /* libcurl would wait a second for 100 Continue on every PATCH/PUT. */
        if (has_body)
                hdrs = curl_slist_append(hdrs, "Expect:");
        _cleanup_free_ char *noproxy = noproxy_list();
        char errbuf[CURL_ERROR_SIZE] = "";
        struct xfer x = {.q = q, .r = resp, .h = h};

        curl_easy_setopt(h, CURLOPT_URL, q->url);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, q->follow_redirects ? 1L : 0L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)IT_HTTP_MAX_REDIRECTS);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)IT_HTTP_CONNECT_TIMEOUT);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)IT_HTTP_LOW_SPEED_TIME);
        curl_easy_setopt(h, CURLOPT_NOPROXY, noproxy);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "imgtrust");
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, tls->verify ? 1L : 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, tls->verify ? 2L : 0L);
        struct extra_cas extra = {.certs = cas, .cert_store = cas ? cert_store_lookup() : NULL};
        if (cas) {
                /* A cached store would be shared with later connections: build one for each. */
                curl_easy_setopt(h, CURLOPT_CA_CACHE_TIMEOUT, 0L);
                if (!extra.cert_store ||
                    curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx) != CURLE_OK) {
                        if (!own)
                                curl_easy_reset(h);
                        return it_error_set(err, IT_EUNSUPPORTED,
                                            "%s %s: extra CA certificates need libcurl built "
                                            "with OpenSSL",
                                            method, q->url);
                }
                curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, &extra);
        }
        if (tls->client_cert) {
                curl_easy_setopt(h, CURLOPT_SSLCERT, tls->client_cert);
                curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
                if (tls->client_key) {
                        curl_easy_setopt(h, CURLOPT_SSLKEY, tls->client_key);
                        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
                }
        }
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
        if (hdrs)
                curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        if (q->userpwd) {
                curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
                curl_easy_setopt(h, CURLOPT_USERPWD, q->userpwd);
        }
        if (!strcmp(method, "HEAD")) {
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        } else if (!has_body) {
                curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        } else if (q->read) {
                curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
                curl_easy_setopt(h, CURLOPT_READDATA, &x);
                curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->read_len);
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        } else if (!strcmp(method, "DELETE")) {
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        } else {
                curl_easy_setopt(h, CURLOPT_POST, 1L);
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body ? q->body : "");
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        }
        if (q->counter)
                (*q->counter)++;
        CURLcode cc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
        char *redir = NULL;
        if (!q->follow_redirects &&
            curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &redir) == CURLE_OK && redir)
                resp->redirect_url = xstrdup(redir);
        /* A reused handle outlives this call: drop its pointers into our locals (connections
         * stay). */
        if (!own)
                curl_easy_reset(h);
        if (resp->too_large)
                return it_error_set(err, IT_EIO, "%s %s: response larger than %zu bytes", method,
                                    q->url, q->max);
        if (cc == CURLE_OK)
                return 0;
        if (resp->aborted)
                return it_error_set(err, IT_EIO, "%s %s: transfer stopped", method, q->url);
        return transport_error(q, method, cc, errbuf, resp, err);
}

bool it_http_retryable(const struct it_http_req *q, int rc, const struct it_http_resp *resp)
{
        /* A consumed stream cannot be replayed; a download already handed out bytes. */
        if (q->read || resp->sunk > 0 || resp->aborted)
                return false;
        if (rc)
                return resp->transient;
        return resp->status == 429 || resp->status >= 500;
}

void it_http_sleep_ms(long ms)
{
        if (ms <= 0)
                return;
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
                ;
}

int http_get(const char *url, const struct it_http_opts *opts, size_t max,
             struct it_http_resp *resp, it_error *err)
{
        static const struct it_http_opts defaults = {.tls_verify = true};
        if (!opts)
                opts = &defaults;
        struct it_tls_config tls = {.verify = opts->tls_verify};
        struct it_http_req q = {
            .method = "GET",
            .url = url,
            .headers = opts->headers,
            .userpwd = opts->userpwd,
            .tls = opts->tls ? opts->tls : &tls,
            .follow_redirects = true,
            .max = max,
            .max_is_error = true,
            .curl = opts->curl,
        };
        return it_http_perform(&q, resp, err);
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

int it_http_status_error(const char *method, const char *url, const struct it_http_resp *resp,
                         it_error *err)
{
        _cleanup_buf_ struct it_buf msg = IT_BUF_INIT;
        const char *reason = reason_phrase(resp->status);
        it_buf_addf(&msg, "%s %s: HTTP %ld%s%s", method, url, resp->status, *reason ? " " : "",
                    reason);
        /* The registry's {"errors":[{"code":..., "message":...}]}, when it sent one. */
        _cleanup_json_ json_t *j = NULL;
        _cleanup_error_ it_error ignored = IT_ERROR_INIT;
        if (resp->body.len && it_json_parse(it_buf_str(&resp->body), resp->body.len,
                                            IT_HTTP_ERROR_BODY_MAX, "body", &j, &ignored) == 0) {
                const json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
                const json_t *code = json_object_get(e0, "code");
                const json_t *m = json_object_get(e0, "message");
                if (json_is_string(code)) {
                        _cleanup_free_ char *qc = it_quote(json_string_value(code), QUOTE_MAX);
                        it_buf_addf(&msg, ": %s", qc);
                }
                if (json_is_string(m)) {
                        _cleanup_free_ char *qm = it_quote(json_string_value(m), QUOTE_MAX);
                        it_buf_addf(&msg, "%s %s", json_is_string(code) ? "" : ":", qm);
                }
        }
        return it_error_set(err, IT_EIO, "%s", it_buf_str(&msg));
}

int http_status_error(const char *url, const struct it_http_resp *resp, it_error *err)
{
        return it_http_status_error("GET", url, resp, err);
}
