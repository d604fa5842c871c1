/* Reading lookaside signatures (spec §4.2): signature-1, signature-2, ... until the first gap. */
#include "imgtrust/lookaside.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/registry.h"
#include "imgtrust/xalloc.h"

#define QUOTE_MAX 200

void sig_list_free(struct it_sig_list *l)
{
        for (size_t i = 0; i < l->n; i++) {
                free(l->v[i].data);
                free(l->v[i].source);
        }
        free(l->v);
        l->v = NULL;
        l->n = 0;
}

static bool has_scheme(const char *url, const char *scheme)
{
        size_t n = strlen(scheme);
        return !strncasecmp(url, scheme, n) && url[n] == ':';
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int lookaside_file_path(const char *url, char **path, it_error *err)
{
        *path = NULL;
        if (!has_scheme(url, "file")) {
                _cleanup_free_ char *q = it_quote(url, QUOTE_MAX);
                return it_error_set(err, IT_EINPUT, "%s is not a file: URL", q);
        }
        const char *p = url + 5;
        /* url.URL: "//authority" is the host, which file URLs ignore. */
        if (p[0] == '/' && p[1] == '/') {
                p += 2;
                p += strcspn(p, "/?#");
        }
        size_t n = strcspn(p, "?#");
        if (n == 0 || p[0] != '/') {
                _cleanup_free_ char *q = it_quote(url, QUOTE_MAX);
                return it_error_set(err, IT_EINPUT, "%s: file: URL without an absolute path", q);
        }
        struct it_buf b = IT_BUF_INIT;
        for (size_t i = 0; i < n; i++) {
                if (p[i] != '%') {
                        it_buf_addch(&b, p[i]);
                        continue;
                }
                int h = i + 2 < n ? hexval(p[i + 1]) : -1, l = i + 2 < n ? hexval(p[i + 2]) : -1;
                if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                        it_buf_free(&b);
                        _cleanup_free_ char *q = it_quote(url, QUOTE_MAX);
                        return it_error_set(err, IT_EINPUT, "%s: invalid percent escape", q);
                }
                it_buf_addch(&b, (char)(h * 16 + l));
                i += 2;
        }
        *path = it_buf_detach(&b);
        return 0;
}

static void list_add(struct it_sig_list *l, char *data, size_t len, const char *source)
{
        l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
        l->v[l->n].data = (uint8_t *)data;
        l->v[l->n].len = len;
        l->v[l->n].source = xstrdup(source);
        l->n++;
}

/* 1 read, 0 absent, <0 error. */
static int read_file_sig(const char *url, struct it_sig_list *l, it_error *err)
{
        _cleanup_free_ char *path = NULL;
        int rc = lookaside_file_path(url, &path, err);
        if (rc)
                return rc;
        char *data = NULL;
        size_t len = 0;
        _cleanup_error_ it_error e = IT_ERROR_INIT;
        rc = it_file_read(path, IT_LOOKASIDE_SIG_MAX, &data, &len, &e);
        if (rc) {
                if (e.sys_errno == ENOENT)
                        return 0;
                it_error_move(err, &e);
                return rc;
        }
        list_add(l, data, len, url);
        return 1;
}

static int read_http_sig(const char *url, const struct it_lookaside_opts *opts,
                         struct it_sig_list *l, it_error *err)
{
        struct it_http_opts o = {.tls_verify = opts->tls_verify};
        struct it_http_resp r = IT_HTTP_RESP_INIT;
        int rc = http_get(url, &o, IT_LOOKASIDE_SIG_MAX, &r, err);
        if (rc) {
                http_resp_free(&r);
                return rc;
        }
        if (r.status == 404) {
                http_resp_free(&r);
                return 0;
        }
        if (r.status != 200) {
                rc = http_status_error(url, &r, err);
                http_resp_free(&r);
                return rc;
        }
        size_t len = r.body.len;
        char *data = r.body.data ? it_buf_detach(&r.body) : xstrdup("");
        list_add(l, data, len, url);
        http_resp_free(&r);
        return 1;
}

int lookaside_read_opts(const char *base_url, const char *repo_path, const char *digest,
                        const struct it_lookaside_opts *opts, struct it_sig_list *out,
                        it_error *err)
{
        static const struct it_lookaside_opts defaults = {.tls_verify = true};
        if (!opts)
                opts = &defaults;
        memset(out, 0, sizeof *out);
        /* Validate digest and path before anything else looks at the storage. */
        _cleanup_free_ char *first = NULL;
        int rc = regd_signature_url(base_url, repo_path, digest, 1, &first, err);
        if (rc)
                return rc;
        bool file = has_scheme(base_url, "file");
        bool http = has_scheme(base_url, "http") || has_scheme(base_url, "https");
        if (!file && !http) {
                _cleanup_free_ char *q = it_quote(base_url, QUOTE_MAX);
                return it_error_set(err, IT_EINPUT,
                                    "lookaside %s: unsupported scheme (file, http and https "
                                    "are)",
                                    q);
        }
        struct it_sig_list l = IT_SIG_LIST_INIT;
        for (unsigned n = 1;; n++) {
                _cleanup_free_ char *url = NULL;
                rc = regd_signature_url(base_url, repo_path, digest, n, &url, err);
                if (rc)
                        break;
                if (n > IT_LOOKASIDE_MAX_SIGS) {
                        /* Only an error when signature-129 really exists. */
                        struct it_sig_list extra = IT_SIG_LIST_INIT;
                        rc = file ? read_file_sig(url, &extra, err)
                                  : read_http_sig(url, opts, &extra, err);
                        sig_list_free(&extra);
                        if (rc > 0)
                                rc = it_error_set(err, IT_EINPUT,
                                                  "more than %d signatures in lookaside storage, "
                                                  "assuming that is unreasonable and a server "
                                                  "error",
                                                  IT_LOOKASIDE_MAX_SIGS);
                        break;
                }
                rc = file ? read_file_sig(url, &l, err) : read_http_sig(url, opts, &l, err);
                if (rc <= 0)
                        break;
        }
        if (rc < 0) {
                sig_list_free(&l);
                return it_error_wrap(err, "reading signatures of %s", digest);
        }
        *out = l;
        return 0;
}

int lookaside_read(const char *base_url, const char *repo_path, const char *digest,
                   struct it_sig_list *out, it_error *err)
{
        return lookaside_read_opts(base_url, repo_path, digest, NULL, out, err);
}
