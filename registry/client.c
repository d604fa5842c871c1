/* Registry client: the /v2/ ping that settles the scheme and the authentication challenge, then
 * manifest GET/HEAD with Basic credentials or a Bearer token fetched from the challenge's realm,
 * and the request helper with retries and token refresh that upload.c shares. */
#include "imgtrust/registry.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/json.h"
#include "imgtrust/manifest.h"
#include "imgtrust/registry_write.h"
#include "imgtrust/strv.h"
#include "imgtrust/xalloc.h"

#define QUOTE_MAX 200
#define PING_BODY_MAX (64u << 10)
#define TOKEN_BODY_MAX (1u << 20)
#define REPO_MAX 255
#define TAG_MAX 128

const char *const it_manifest_accept_default[] = {
    IT_MT_OCI_MANIFEST,
    IT_MT_OCI_INDEX,
    IT_MT_DOCKER_V2S2,
    IT_MT_DOCKER_LIST,
    IT_MT_DOCKER_V2S1_SIGNED,
    IT_MT_DOCKER_V2S1,
    NULL,
};

enum auth_kind { AUTH_NONE, AUTH_BASIC, AUTH_BEARER };

struct it_registry {
        char *host;
        struct it_tls_config tls; /* points into the copies below */
        struct it_strv ca_files;
        char *client_cert;
        char *client_key;
        char *creds; /* "user:pass" or NULL; never put in messages */
        const char *scheme;
        enum auth_kind auth;
        char *realm;
        char *service;
        char *token;
        char *token_scope;
        CURL *curl;
        /* registry_write.h settings */
        int retry_tries;
        long retry_base_ms;
        int64_t upload_chunk;
        unsigned requests;
};

int registry_client_new_opts(const char *host, const struct it_registry_opts *opts,
                             struct it_registry **out, it_error *err)
{
        static const struct it_registry_opts defaults = {.tls_verify = true};
        if (!opts)
                opts = &defaults;
        *out = NULL;
        const char *creds = opts->creds;
        if (!host || !*host || strpbrk(host, "/?#@ \t\r\n"))
                return it_error_set(err, IT_EINPUT, "invalid registry host %s",
                                    host ? host : "(null)");
        if (creds && !strchr(creds, ':'))
                return it_error_set(err, IT_EINPUT, "credentials must be USER:PASSWORD");
        if (creds && creds[0] == ':')
                return it_error_set(err, IT_EINPUT, "credentials must name a user (USER:PASSWORD)");
        if (opts->client_key && !opts->client_cert)
                return it_error_set(err, IT_EINPUT,
                                    "registry %s: a TLS client key %s without a client certificate",
                                    host, opts->client_key);
        for (const char *const *f = opts->ca_files; f && *f; f++)
                if (!**f)
                        return it_error_set(err, IT_EINPUT,
                                            "registry %s: empty CA certificate file name", host);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        struct it_registry *c = xcalloc(1, sizeof *c);
        c->host = xstrdup(host);
        for (const char *const *f = opts->ca_files; f && *f; f++)
                it_strv_push(&c->ca_files, *f);
        c->client_cert = opts->client_cert ? xstrdup(opts->client_cert) : NULL;
        c->client_key = opts->client_key ? xstrdup(opts->client_key) : NULL;
        c->tls = (struct it_tls_config){
            .verify = opts->tls_verify,
            .ca_files = (const char *const *)c->ca_files.v,
            .client_cert = c->client_cert,
            .client_key = c->client_key,
        };
        c->creds = creds ? xstrdup(creds) : NULL;
        c->retry_tries = IT_RETRY_TRIES_DEFAULT;
        c->retry_base_ms = IT_RETRY_BASE_MS_DEFAULT;
        c->upload_chunk = IT_UPLOAD_CHUNK_DEFAULT;
        c->curl = curl_easy_init();
        if (!c->curl) {
                registry_client_free(c);
                return it_error_set(err, IT_EIO, "cannot initialise libcurl");
        }
        *out = c;
        return 0;
}

int registry_client_new(const char *host, bool tls_verify, const char *creds,
                        struct it_registry **out, it_error *err)
{
        struct it_registry_opts o = {.tls_verify = tls_verify, .creds = creds};
        return registry_client_new_opts(host, &o, out, err);
}

void registry_client_free(struct it_registry *c)
{
        if (!c)
                return;
        free(c->host);
        it_strv_free(&c->ca_files);
        free(c->client_cert);
        free(c->client_key);
        it_secret_free(c->creds);
        free(c->realm);
        free(c->service);
        it_secret_free(c->token);
        free(c->token_scope);
        if (c->curl)
                curl_easy_cleanup(c->curl);
        free(c);
}

const char *registry_client_scheme(const struct it_registry *c)
{
        return c->scheme;
}

char *registry_challenge_param(const char *params, const char *name)
{
        const char *p = params;
        size_t nl = strlen(name);
        while (*p) {
                while (*p == ' ' || *p == '\t' || *p == ',')
                        p++;
                const char *k = p;
                while (*p && *p != '=' && *p != ',' && *p != ' ')
                        p++;
                size_t kl = (size_t)(p - k);
                if (*p != '=')
                        continue;
                p++;
                struct it_buf v = IT_BUF_INIT;
                if (*p == '"') {
                        p++;
                        while (*p && *p != '"') {
                                if (*p == '\\' && p[1])
                                        p++;
                                it_buf_addch(&v, *p++);
                        }
                        if (*p == '"')
                                p++;
                } else {
                        while (*p && *p != ',' && *p != ' ')
                                it_buf_addch(&v, *p++);
                }
                if (kl == nl && !strncasecmp(k, name, nl))
                        return it_buf_detach(&v);
                it_buf_free(&v);
        }
        return NULL;
}

static void parse_challenge(struct it_registry *c, const char *hdr)
{
        c->auth = AUTH_NONE;
        if (!hdr)
                return;
        if (!strncasecmp(hdr, "basic", 5) && (!hdr[5] || hdr[5] == ' ')) {
                c->auth = AUTH_BASIC;
        } else if (!strncasecmp(hdr, "bearer", 6) && (!hdr[6] || hdr[6] == ' ')) {
                free(c->realm);
                free(c->service);
                c->realm = registry_challenge_param(hdr + 6, "realm");
                c->service = registry_challenge_param(hdr + 6, "service");
                if (c->realm)
                        c->auth = AUTH_BEARER;
        }
}

/* it_http_perform with the retry rule of registry_write.h, for the requests made before a
 * registry_conn exists (ping, token). */
static int perform_retried(const struct it_registry *c, const struct it_http_req *q,
                           struct it_http_resp *r, it_error *err)
{
        long wait = c->retry_base_ms;
        for (int i = 1;; i++) {
                _cleanup_error_ it_error e = IT_ERROR_INIT;
                int rc = it_http_perform(q, r, &e);
                if (i >= c->retry_tries || !it_http_retryable(q, rc, r)) {
                        if (rc)
                                it_error_move(err, &e);
                        return rc;
                }
                it_http_sleep_ms(wait);
                wait *= 4;
        }
}

/* GET /v2/: which scheme answers, and how it wants us to authenticate. */
static int ping(struct it_registry *c, it_error *err)
{
        static const char *const schemes[] = {"https", "http"};
        _cleanup_error_ it_error first = IT_ERROR_INIT;
        for (size_t i = 0; i < (c->tls.verify ? 1u : 2u); i++) {
                _cleanup_free_ char *url = xasprintf("%s://%s/v2/", schemes[i], c->host);
                struct it_http_req q = {
                    .method = "GET",
                    .url = url,
                    .tls = &c->tls,
                    .follow_redirects = true,
                    .max = PING_BODY_MAX,
                    .max_is_error = true,
                    .curl = c->curl,
                };
                _cleanup_(http_resp_free) struct it_http_resp r = IT_HTTP_RESP_INIT;
                _cleanup_error_ it_error e = IT_ERROR_INIT;
                int rc = perform_retried(c, &q, &r, &e);
                if (!rc && r.status != 200 && r.status != 401)
                        rc = it_http_status_error("GET", url, &r, &e);
                if (rc) {
                        if (i == 0) {
                                it_error_move(&first, &e);
                        } else {
                                /* The HTTPS failure says more (e.g. a TLS server answers plain
                                 * HTTP with 400); keep both on the line. */
                                _cleanup_free_ char *m1 = it_error_format(&first);
                                _cleanup_free_ char *m2 = it_error_format(&e);
                                it_error_set(&first, first.code, "%s (plain HTTP: %s)", m1, m2);
                        }
                        continue;
                }
                c->scheme = schemes[i];
                parse_challenge(c, r.status == 401 ? r.www_auth : NULL);
                return 0;
        }
        it_error_move(err, &first);
        return it_error_wrap(err, "pinging registry %s", c->host);
}

int registry_client_ping(struct it_registry *c, it_error *err)
{
        return c->scheme ? 0 : ping(c, err);
}

void registry_client_adopt(struct it_registry *c, const struct it_registry *from)
{
        if (!from->scheme || c->scheme || strcmp(c->host, from->host) ||
            c->tls.verify != from->tls.verify)
                return;
        c->scheme = from->scheme;
        c->auth = from->auth;
        c->realm = from->realm ? xstrdup(from->realm) : NULL;
        c->service = from->service ? xstrdup(from->service) : NULL;
        if (from->token && from->token_scope) {
                c->token = xstrdup(from->token);
                c->token_scope = xstrdup(from->token_scope);
        }
}

int registry_auth_error(const struct it_registry *c, const char *method, const char *url,
                        it_error *err)
{
        if (c->creds)
                return it_error_set(err, IT_EIO,
                                    "authentication failed for %s (%s %s: HTTP 401 Unauthorized)",
                                    c->host, method, url);
        return it_error_set(err, IT_EIO,
                            "authentication required for %s (%s %s: HTTP 401 Unauthorized); "
                            "give --creds USER:PASSWORD",
                            c->host, method, url);
}

/* A token for scope (space-separated scopes, each sent as its own scope= parameter, as the
 * distribution token spec allows); the cached one unless `force`. */
static int fetch_token(struct it_registry *c, const char *scope, bool force, it_error *err)
{
        if (!force && c->token && c->token_scope && !strcmp(c->token_scope, scope))
                return 0;
        CURL *h = c->curl;
        struct it_buf u = IT_BUF_INIT;
        it_buf_adds(&u, c->realm);
        char sep = strchr(c->realm, '?') ? '&' : '?';
        if (c->service) {
                char *s = curl_easy_escape(h, c->service, 0);
                it_buf_addf(&u, "%cservice=%s", sep, s);
                curl_free(s);
                sep = '&';
        }
        _cleanup_free_ char *scopes = xstrdup(scope);
        char *save = NULL;
        for (char *one = strtok_r(scopes, " ", &save); one; one = strtok_r(NULL, " ", &save)) {
                char *sc = curl_easy_escape(h, one, 0);
                it_buf_addf(&u, "%cscope=%s", sep, sc);
                curl_free(sc);
                sep = '&';
        }
        _cleanup_free_ char *url = it_buf_detach(&u);

        struct it_http_req q = {
            .method = "GET",
            .url = url,
            .userpwd = c->creds,
            .tls = &c->tls,
            .follow_redirects = true,
            .max = TOKEN_BODY_MAX,
            .max_is_error = true,
            .curl = c->curl,
        };
        _cleanup_(http_resp_free) struct it_http_resp r = IT_HTTP_RESP_INIT;
        int rc = perform_retried(c, &q, &r, err);
        if (rc)
                return it_error_wrap(err, "getting a token for %s", c->host);
        if (r.status == 401 || r.status == 403)
                return registry_auth_error(c, "GET", url, err);
        if (r.status != 200) {
                it_http_status_error("GET", url, &r, err);
                return it_error_wrap(err, "getting a token for %s", c->host);
        }
        _cleanup_json_ json_t *j = NULL;
        rc = it_json_parse(it_buf_str(&r.body), r.body.len, TOKEN_BODY_MAX, "token response", &j,
                           err);
        if (rc)
                return it_error_wrap(err, "GET %s", url);
        const json_t *t = json_object_get(j, "token");
        if (!json_is_string(t) || !*json_string_value(t))
                t = json_object_get(j, "access_token");
        if (!json_is_string(t) || !*json_string_value(t) || strpbrk(json_string_value(t), "\r\n"))
                return it_error_set(err, IT_EIO, "GET %s: no token in the response", url);
        it_secret_free(c->token);
        free(c->token_scope);
        c->token = xstrdup(json_string_value(t));
        c->token_scope = xstrdup(scope);
        return 0;
}

/* The distribution grammar's path components, joined by '/'. */
static bool repo_valid(const char *repo)
{
        size_t n = strlen(repo);
        if (n == 0 || n > REPO_MAX)
                return false;
        const char *p = repo;
        for (;;) {
                /* component: [a-z0-9]+ ((.|_|__|-+)[a-z0-9]+)* */
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
                        return false;
                while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' ||
                       *p == '_' || *p == '-') {
                        bool sep = *p == '.' || *p == '_' || *p == '-';
                        if (sep && !((p[1] >= 'a' && p[1] <= 'z') || (p[1] >= '0' && p[1] <= '9') ||
                                     (*p == '_' && p[1] == '_') || (*p == '-' && p[1] == '-')))
                                return false;
                        if (*p == '.' && p[1] == '.')
                                return false;
                        p++;
                }
                if (!*p)
                        return true;
                if (*p != '/')
                        return false;
                p++;
        }
}

static bool tag_valid(const char *t)
{
        size_t n = strlen(t);
        if (n == 0 || n > TAG_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = t[i];
                bool word = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                            (ch >= '0' && ch <= '9') || ch == '_';
                if (!word && (i == 0 || (ch != '.' && ch != '-')))
                        return false;
        }
        return true;
}

static char *media_type_of(const char *content_type, const struct it_buf *body)
{
        if (content_type) {
                size_t n = strcspn(content_type, "; \t");
                _cleanup_free_ char *mt = xstrndup(content_type, n);
                /* Registries serve some manifests with a generic type; upstream then guesses. */
                if (*mt && strcasecmp(mt, "text/plain") && strcasecmp(mt, "application/json") &&
                    strcasecmp(mt, "application/octet-stream"))
                        return IT_STEAL(mt);
        }
        const char *g = body ? manifest_media_type(it_buf_str(body), body->len) : NULL;
        return xstrdup(g ? g : "");
}

static void conn_releasep(struct registry_conn *cn)
{
        registry_conn_release(cn);
}

/* The checks of a manifest reference; *by_digest and *want say whether it is a digest. */
static int check_manifest_ref(const char *repo, const char *ref, bool *by_digest,
                              struct it_digest *want, it_error *err)
{
        if (!repo || !repo_valid(repo)) {
                _cleanup_free_ char *q = it_quote(repo ? repo : "", QUOTE_MAX);
                return it_error_set(err, IT_EINPUT, "invalid repository name %s", q);
        }
        *by_digest = ref && strchr(ref, ':');
        if (*by_digest)
                return digest_parse(ref, want, err);
        if (!ref || !tag_valid(ref)) {
                _cleanup_free_ char *q = it_quote(ref ? ref : "", QUOTE_MAX);
                return it_error_set(err, IT_EINPUT, "invalid tag %s", q);
        }
        return 0;
}

static char *accept_header(const char *const *accept)
{
        const char *const *list = accept ? accept : it_manifest_accept_default;
        struct it_buf acc = IT_BUF_INIT;
        it_buf_adds(&acc, "Accept: ");
        for (const char *const *a = list; *a; a++)
                it_buf_addf(&acc, "%s%s", a == list ? "" : ", ", *a);
        return it_buf_detach(&acc);
}

/* A manifest request (GET or HEAD) with the credentials for pulling from repo. */
static int manifest_request(struct it_registry *c, const char *method, const char *repo,
                            const char *ref, const char *const *accept, struct registry_conn *cn,
                            char **url, struct it_http_resp *r, it_error *err)
{
        _cleanup_free_ char *scope = xasprintf("repository:%s:pull", repo);
        int rc = registry_conn_get(c, scope, cn, err);
        if (rc)
                return rc;
        *url = xasprintf("%s://%s/v2/%s/manifests/%s", cn->scheme, cn->host, repo, ref);
        _cleanup_free_ char *accept_hdr = accept_header(accept);
        const char *hdrs[] = {accept_hdr, NULL};
        struct it_http_req q = {
            .method = method,
            .url = *url,
            .headers = hdrs,
            .follow_redirects = true,
            .max = IT_MANIFEST_MAX,
            .max_is_error = true,
        };
        rc = registry_conn_request(cn, &q, true, r, err);
        if (rc)
                return rc;
        if (r->status == 401)
                return registry_auth_error(c, method, *url, err);
        return 0;
}

int registry_get_manifest(struct it_registry *c, const char *repo, const char *ref,
                          const char *const *accept, struct it_buf *body, char **media_type,
                          struct it_digest *digest, it_error *err)
{
        if (media_type)
                *media_type = NULL;
        struct it_digest want;
        bool by_digest = false;
        int rc = check_manifest_ref(repo, ref, &by_digest, &want, err);
        if (rc)
                return rc;
        _cleanup_(conn_releasep) struct registry_conn cn = {0};
        _cleanup_free_ char *url = NULL;
        _cleanup_(http_resp_free) struct it_http_resp r = IT_HTTP_RESP_INIT;
        rc = manifest_request(c, "GET", repo, ref, accept, &cn, &url, &r, err);
        if (rc)
                return rc;
        if (r.status != 200)
                return it_http_status_error("GET", url, &r, err);
        struct it_digest got;
        rc = manifest_digest(it_buf_str(&r.body), r.body.len, &got, err);
        if (rc)
                return it_error_wrap(err, "GET %s", url);
        if (by_digest && !digest_equal(&got, &want)) {
                char gs[IT_DIGEST_STR_MAX];
                digest_format(&got, gs);
                return it_error_set(err, IT_EIO,
                                    "GET %s: manifest digest %s does not match the requested "
                                    "digest %s",
                                    url, gs, ref);
        }
        if (media_type)
                *media_type = media_type_of(r.content_type, &r.body);
        *digest = got;
        it_buf_free(body);
        *body = r.body;
        memset(&r.body, 0, sizeof r.body);
        return 0;
}

int registry_manifest_head(struct it_registry *c, const char *repo, const char *ref,
                           const char *const *accept, bool *exists, struct it_digest *digest,
                           char **media_type, int64_t *size, it_error *err)
{
        *exists = false;
        if (media_type)
                *media_type = NULL;
        if (size)
                *size = -1;
        struct it_digest want;
        bool by_digest = false;
        int rc = check_manifest_ref(repo, ref, &by_digest, &want, err);
        if (rc)
                return rc;
        _cleanup_(conn_releasep) struct registry_conn cn = {0};
        _cleanup_free_ char *url = NULL;
        _cleanup_(http_resp_free) struct it_http_resp r = IT_HTTP_RESP_INIT;
        rc = manifest_request(c, "HEAD", repo, ref, accept, &cn, &url, &r, err);
        if (rc)
                return rc;
        if (r.status == 404)
                return 0;
        if (r.status != 200)
                return it_http_status_error("HEAD", url, &r, err);
        struct it_digest got;
        _cleanup_error_ it_error perr = IT_ERROR_INIT;
        bool have = r.docker_digest && digest_parse(r.docker_digest, &got, &perr) == 0;
        if (by_digest) {
                if (r.docker_digest && (!have || !digest_equal(&got, &want))) {
                        _cleanup_free_ char *q = it_quote(r.docker_digest, QUOTE_MAX);
                        return it_error_set(err, IT_EIO,
                                            "HEAD %s: registry says the manifest is %s, not the "
                                            "requested %s",
                                            url, q, ref);
                }
                got = want;
        } else if (!have) {
                _cleanup_free_ char *q =
                    it_quote(r.docker_digest ? r.docker_digest : "", QUOTE_MAX);
                return it_error_set(err, IT_EIO,
                                    "HEAD %s: no usable Docker-Content-Digest in the answer (%s)",
                                    url, r.docker_digest ? q : "none");
        }
        *exists = true;
        *digest = got;
        if (media_type)
                *media_type = media_type_of(r.content_type, NULL);
        if (size)
                *size = r.content_length;
        return 0;
}

void registry_client_set_retry(struct it_registry *c, int tries, long base_ms)
{
        c->retry_tries = tries < 1 ? 1 : tries;
        c->retry_base_ms = base_ms < 0 ? 0 : base_ms;
}

void registry_client_set_upload_chunk(struct it_registry *c, int64_t bytes)
{
        c->upload_chunk = bytes > 0 ? bytes : IT_UPLOAD_CHUNK_DEFAULT;
}

unsigned registry_client_requests(const struct it_registry *c)
{
        return c->requests;
}

bool registry_repo_valid(const char *repo)
{
        return repo && repo_valid(repo);
}

int registry_conn_get(struct it_registry *c, const char *scope, struct registry_conn *conn,
                      it_error *err)
{
        memset(conn, 0, sizeof *conn);
        if (!c->scheme) {
                int rc = ping(c, err);
                if (rc)
                        return rc;
        }
        if (c->auth == AUTH_BEARER) {
                int rc = fetch_token(c, scope, false, err);
                if (rc)
                        return rc;
                conn->auth_hdr = xasprintf("Authorization: Bearer %s", c->token);
        } else if (c->auth == AUTH_BASIC) {
                conn->userpwd = c->creds;
        }
        conn->client = c;
        conn->scope = xstrdup(scope);
        conn->curl = c->curl;
        conn->host = c->host;
        conn->scheme = c->scheme;
        conn->tls = &c->tls;
        conn->tries = c->retry_tries;
        conn->base_ms = c->retry_base_ms;
        conn->chunk = c->upload_chunk;
        conn->requests = &c->requests;
        return 0;
}

void registry_conn_release(struct registry_conn *conn)
{
        it_secret_free(conn->auth_hdr);
        free(conn->scope);
        memset(conn, 0, sizeof *conn);
}

int registry_conn_refresh(struct registry_conn *conn, it_error *err)
{
        struct it_registry *c = conn->client;
        if (!c || c->auth != AUTH_BEARER || !conn->auth_hdr || conn->refreshed)
                return it_error_set(err, IT_EIO, "no token to fetch again for %s",
                                    conn->host ? conn->host : "the registry");
        conn->refreshed = true;
        int rc = fetch_token(c, conn->scope, true, err);
        if (rc)
                return rc;
        it_secret_free(conn->auth_hdr);
        conn->auth_hdr = xasprintf("Authorization: Bearer %s", c->token);
        return 0;
}

int registry_conn_request(struct registry_conn *conn, const struct it_http_req *q, bool auth,
                          struct it_http_resp *resp, it_error *err)
{
        struct it_http_req rq = *q;
        rq.curl = conn->curl;
        rq.tls = conn->tls;
        rq.counter = conn->requests;
        long wait = conn->base_ms;
        for (int i = 1;;) {
                rq.auth_header = auth ? conn->auth_hdr : NULL;
                rq.userpwd = auth ? conn->userpwd : NULL;
                _cleanup_error_ it_error e = IT_ERROR_INIT;
                int rc = it_http_perform(&rq, resp, &e);
                /* A token that stopped working (expired) is replaced once; the request is
                 * repeated with it, outside the retry count. A streamed body is gone: the
                 * caller decides. */
                if (!rc && resp->status == 401 && rq.auth_header && !q->read && resp->sunk == 0 &&
                    !conn->refreshed) {
                        rc = registry_conn_refresh(conn, err);
                        if (rc)
                                return rc;
                        continue;
                }
                if (i >= conn->tries || !it_http_retryable(&rq, rc, resp)) {
                        if (rc)
                                it_error_move(err, &e);
                        return rc;
                }
                it_http_sleep_ms(wait);
                wait *= 4;
                i++;
        }
}
