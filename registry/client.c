/* Registry client: the /v2/ ping that settles the scheme and the authentication challenge, then
 * manifest GETs with Basic credentials or a Bearer token fetched from the challenge's realm. */
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
        bool tls_verify;
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

int registry_client_new(const char *host, bool tls_verify, const char *creds,
                        struct it_registry **out, it_error *err)
{
        *out = NULL;
        if (!host || !*host || strpbrk(host, "/?#@ \t\r\n"))
                return it_error_set(err, IT_EINPUT, "invalid registry host %s",
                                    host ? host : "(null)");
        if (creds && !strchr(creds, ':'))
                return it_error_set(err, IT_EINPUT, "credentials must be USER:PASSWORD");
        if (creds && creds[0] == ':')
                return it_error_set(err, IT_EINPUT, "credentials must name a user (USER:PASSWORD)");
        curl_global_init(CURL_GLOBAL_DEFAULT);
        struct it_registry *c = xcalloc(1, sizeof *c);
        c->host = xstrdup(host);
        c->tls_verify = tls_verify;
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

void registry_client_free(struct it_registry *c)
{
        if (!c)
                return;
        free(c->host);
        if (c->creds) {
                explicit_bzero(c->creds, strlen(c->creds));
                free(c->creds);
        }
        free(c->realm);
        free(c->service);
        if (c->token) {
                explicit_bzero(c->token, strlen(c->token));
                free(c->token);
        }
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

/* GET /v2/: which scheme answers, and how it wants us to authenticate. */
static int ping(struct it_registry *c, it_error *err)
{
        static const char *const schemes[] = {"https", "http"};
        _cleanup_error_ it_error first = IT_ERROR_INIT;
        for (size_t i = 0; i < (c->tls_verify ? 1u : 2u); i++) {
                _cleanup_free_ char *url = xasprintf("%s://%s/v2/", schemes[i], c->host);
                struct it_http_opts o = {.tls_verify = c->tls_verify, .curl = c->curl};
                struct it_http_resp r = IT_HTTP_RESP_INIT;
                _cleanup_error_ it_error e = IT_ERROR_INIT;
                int rc = http_get(url, &o, PING_BODY_MAX, &r, &e);
                if (rc) {
                        http_resp_free(&r);
                        if (i == 0)
                                it_error_move(&first, &e);
                        continue;
                }
                if (r.status != 200 && r.status != 401) {
                        rc = http_status_error(url, &r, err);
                        http_resp_free(&r);
                        return it_error_wrap(err, "pinging registry %s", c->host);
                }
                c->scheme = schemes[i];
                parse_challenge(c, r.status == 401 ? r.www_auth : NULL);
                http_resp_free(&r);
                return 0;
        }
        it_error_move(err, &first);
        return it_error_wrap(err, "pinging registry %s", c->host);
}

static int auth_failed(const struct it_registry *c, const char *url, it_error *err)
{
        if (c->creds)
                return it_error_set(err, IT_EIO,
                                    "authentication failed for %s (GET %s: HTTP 401 Unauthorized)",
                                    c->host, url);
        return it_error_set(err, IT_EIO,
                            "authentication required for %s (GET %s: HTTP 401 Unauthorized); "
                            "give --creds USER:PASSWORD",
                            c->host, url);
}

static int fetch_token(struct it_registry *c, const char *scope, it_error *err)
{
        if (c->token && c->token_scope && !strcmp(c->token_scope, scope))
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
        char *sc = curl_easy_escape(h, scope, 0);
        it_buf_addf(&u, "%cscope=%s", sep, sc);
        curl_free(sc);
        _cleanup_free_ char *url = it_buf_detach(&u);

        struct it_http_opts o = {.tls_verify = c->tls_verify, .userpwd = c->creds, .curl = c->curl};
        struct it_http_resp r = IT_HTTP_RESP_INIT;
        int rc = http_get(url, &o, TOKEN_BODY_MAX, &r, err);
        if (rc) {
                http_resp_free(&r);
                return it_error_wrap(err, "getting a token for %s", c->host);
        }
        if (r.status == 401 || r.status == 403) {
                http_resp_free(&r);
                return auth_failed(c, url, err);
        }
        if (r.status != 200) {
                http_status_error(url, &r, err);
                http_resp_free(&r);
                return it_error_wrap(err, "getting a token for %s", c->host);
        }
        json_t *j = NULL;
        rc = it_json_parse(it_buf_str(&r.body), r.body.len, TOKEN_BODY_MAX, "token response", &j,
                           err);
        http_resp_free(&r);
        if (rc)
                return it_error_wrap(err, "GET %s", url);
        const json_t *t = json_object_get(j, "token");
        if (!json_is_string(t) || !*json_string_value(t))
                t = json_object_get(j, "access_token");
        if (!json_is_string(t) || !*json_string_value(t) || strpbrk(json_string_value(t), "\r\n")) {
                json_decref(j);
                return it_error_set(err, IT_EIO, "GET %s: no token in the response", url);
        }
        free(c->token);
        free(c->token_scope);
        c->token = xstrdup(json_string_value(t));
        c->token_scope = xstrdup(scope);
        json_decref(j);
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
        const char *g = manifest_media_type(it_buf_str(body), body->len);
        return xstrdup(g ? g : "");
}

int registry_get_manifest(struct it_registry *c, const char *repo, const char *ref,
                          const char *const *accept, struct it_buf *body, char **media_type,
                          struct it_digest *digest, it_error *err)
{
        if (media_type)
                *media_type = NULL;
        if (!repo || !repo_valid(repo)) {
                _cleanup_free_ char *q = it_quote(repo ? repo : "", QUOTE_MAX);
                return it_error_set(err, IT_EINPUT, "invalid repository name %s", q);
        }
        struct it_digest want;
        bool by_digest = ref && strchr(ref, ':');
        if (by_digest) {
                int rc = digest_parse(ref, &want, err);
                if (rc)
                        return rc;
        } else if (!ref || !tag_valid(ref)) {
                _cleanup_free_ char *q = it_quote(ref ? ref : "", QUOTE_MAX);
                return it_error_set(err, IT_EINPUT, "invalid tag %s", q);
        }
        if (!c->scheme) {
                int rc = ping(c, err);
                if (rc)
                        return rc;
        }
        _cleanup_free_ char *url =
            xasprintf("%s://%s/v2/%s/manifests/%s", c->scheme, c->host, repo, ref);

        struct it_buf acc = IT_BUF_INIT;
        it_buf_adds(&acc, "Accept: ");
        for (const char *const *a = accept ? accept : it_manifest_accept_default; *a; a++)
                it_buf_addf(&acc, "%s%s",
                            a == (accept ? accept : it_manifest_accept_default) ? "" : ", ", *a);
        _cleanup_free_ char *accept_hdr = it_buf_detach(&acc);
        _cleanup_free_ char *auth_hdr = NULL;
        struct it_http_opts o = {.tls_verify = c->tls_verify, .curl = c->curl};
        if (c->auth == AUTH_BEARER) {
                _cleanup_free_ char *scope = xasprintf("repository:%s:pull", repo);
                int rc = fetch_token(c, scope, err);
                if (rc)
                        return rc;
                auth_hdr = xasprintf("Authorization: Bearer %s", c->token);
        } else if (c->auth == AUTH_BASIC) {
                o.userpwd = c->creds;
        }
        const char *hdrs[] = {accept_hdr, auth_hdr, NULL};
        o.headers = hdrs;

        struct it_http_resp r = IT_HTTP_RESP_INIT;
        int rc = http_get(url, &o, IT_MANIFEST_MAX, &r, err);
        if (auth_hdr)
                explicit_bzero(auth_hdr, strlen(auth_hdr));
        if (rc) {
                http_resp_free(&r);
                return rc;
        }
        if (r.status == 401) {
                http_resp_free(&r);
                return auth_failed(c, url, err);
        }
        if (r.status != 200) {
                rc = http_status_error(url, &r, err);
                http_resp_free(&r);
                return rc;
        }
        struct it_digest got;
        rc = manifest_digest(it_buf_str(&r.body), r.body.len, &got, err);
        if (rc) {
                http_resp_free(&r);
                return it_error_wrap(err, "GET %s", url);
        }
        if (by_digest && !digest_equal(&got, &want)) {
                char gs[IT_DIGEST_STR_MAX];
                digest_format(&got, gs);
                http_resp_free(&r);
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
        http_resp_free(&r);
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
                int rc = fetch_token(c, scope, err);
                if (rc)
                        return rc;
                conn->auth_hdr = xasprintf("Authorization: Bearer %s", c->token);
        } else if (c->auth == AUTH_BASIC) {
                conn->userpwd = c->creds;
        }
        conn->curl = c->curl;
        conn->host = c->host;
        conn->scheme = c->scheme;
        conn->tls_verify = c->tls_verify;
        conn->tries = c->retry_tries;
        conn->base_ms = c->retry_base_ms;
        conn->chunk = c->upload_chunk;
        conn->requests = &c->requests;
        return 0;
}

void registry_conn_release(struct registry_conn *conn)
{
        if (conn->auth_hdr) {
                explicit_bzero(conn->auth_hdr, strlen(conn->auth_hdr));
                free(conn->auth_hdr);
        }
        memset(conn, 0, sizeof *conn);
}
