#include "imgtrust/certsd.h"

#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/strv.h"
#include "imgtrust/xalloc.h"

#define QUOTE_MAX 120

void certsd_files_free(struct it_tls_files *f)
{
        for (size_t i = 0; i < f->nca; i++)
                free(f->ca_files[i]);
        free(f->ca_files);
        free(f->client_cert);
        free(f->client_key);
        free(f->dir);
        memset(f, 0, sizeof *f);
}

void certsd_default_dirs(const char *home, struct it_strv *out)
{
        const char *h = home && *home ? home : getenv("HOME");
        char buf[4096];
        struct passwd pw, *res = NULL;
        if ((!h || !*h) && getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res)
                h = res->pw_dir;
        if (h && *h)
                it_strv_pushf(out, "%s/.config/containers/certs.d", h);
        it_strv_push(out, "/etc/containers/certs.d");
        it_strv_push(out, "/etc/docker/certs.d");
}

static bool has_suffix(const char *s, const char *suffix)
{
        size_t l = strlen(s), k = strlen(suffix);
        return l >= k && memcmp(s + l - k, suffix, k) == 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool listed(const struct it_strv *names, const char *name)
{
        return names->n && bsearch(&name, names->v, names->n, sizeof *names->v, cmp_str) != NULL;
}

/* A certificate or key file: regular and bounded. 1 when it vanished (ENOENT) and may be
 * skipped, 0 when fine. */
static int check_file(const char *path, it_error *err)
{
        struct stat st;
        if (stat(path, &st) != 0) {
                if (errno == ENOENT)
                        return 1;
                return it_error_sys(err, IT_EIO, errno, "%s", path);
        }
        if (!S_ISREG(st.st_mode))
                return it_error_set(err, IT_EINPUT, "%s: not a regular file", path);
        if ((unsigned long long)st.st_size > IT_CERTSD_FILE_MAX)
                return it_error_set(err, IT_EINPUT,
                                    "%s: too large (%lld bytes; at most %u are read)", path,
                                    (long long)st.st_size, IT_CERTSD_FILE_MAX);
        return 0;
}

static int list_dir(DIR *d, const char *dir, struct it_strv *names, it_error *err)
{
        for (;;) {
                errno = 0;
                struct dirent *e = readdir(d);
                if (!e) {
                        if (errno)
                                return it_error_sys(err, IT_EIO, errno, "%s", dir);
                        break;
                }
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                        continue;
                if (names->n == IT_CERTSD_MAX_ENTRIES)
                        return it_error_set(err, IT_EINPUT,
                                            "%s: more than %d entries; refusing to read it", dir,
                                            IT_CERTSD_MAX_ENTRIES);
                it_strv_push(names, e->d_name);
        }
        if (names->n)
                qsort(names->v, names->n, sizeof *names->v, cmp_str);
        return 0;
}

int certsd_read_dir(const char *dir, struct it_tls_files *out, it_error *err)
{
        memset(out, 0, sizeof *out);
        DIR *d = opendir(dir);
        if (!d) {
                /* As tlsclientconfig.SetupCertificates: nothing there, or not ours to read. */
                if (errno == ENOENT || errno == EACCES || errno == EPERM)
                        return 0;
                return it_error_sys(err, IT_EIO, errno, "%s", dir);
        }
        _cleanup_strv_ struct it_strv names = IT_STRV_INIT;
        int rc = list_dir(d, dir, &names, err);
        closedir(d);
        if (rc)
                return rc;

        struct it_tls_files f = IT_TLS_FILES_INIT;
        f.dir = xstrdup(dir);
        _cleanup_strv_ struct it_strv cas = IT_STRV_INIT;
        for (size_t i = 0; i < names.n; i++) {
                const char *name = names.v[i];
                _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
                if (has_suffix(name, ".crt")) {
                        rc = check_file(path, err);
                        if (rc < 0)
                                goto fail;
                        if (rc == 0) /* else a dangling link, skipped as upstream does */
                                it_strv_push(&cas, path);
                        continue;
                }
                bool cert = has_suffix(name, ".cert");
                if (!cert && !has_suffix(name, ".key"))
                        continue;
                size_t stem = strlen(name) - (cert ? 5 : 4);
                _cleanup_free_ char *other =
                    xasprintf("%.*s%s", (int)stem, name, cert ? ".key" : ".cert");
                if (!listed(&names, other)) {
                        rc = cert ? it_error_set(err, IT_EINPUT,
                                                 "%s: missing key %s for client certificate %s. "
                                                 "Note that CA certificates should use the "
                                                 "extension .crt",
                                                 dir, other, name)
                                  : it_error_set(err, IT_EINPUT,
                                                 "%s: missing client certificate %s for key %s",
                                                 dir, other, name);
                        goto fail;
                }
                if (!cert)
                        continue; /* the pair is handled at its .cert */
                _cleanup_free_ char *key = xasprintf("%s/%s", dir, other);
                /* Upstream loads every pair, so a pair that cannot be read fails here too. */
                const char *pair[] = {path, key};
                rc = 0;
                for (int k = 0; k < 2 && rc == 0; k++) {
                        rc = check_file(pair[k], err);
                        if (rc == 1)
                                rc = it_error_sys(err, IT_EIO, ENOENT, "%s", pair[k]);
                }
                if (rc < 0)
                        goto fail;
                if (!f.client_cert) {
                        f.client_cert = IT_STEAL(path);
                        f.client_key = IT_STEAL(key);
                }
        }
        if (cas.n) {
                f.ca_files = IT_STEAL(cas.v);
                f.nca = cas.n;
                cas.n = cas.cap = 0;
        }
        *out = f;
        return 0;
fail:
        certsd_files_free(&f);
        return rc;
}

int certsd_find(const char *host, const char *const *dirs, struct it_tls_files *out, it_error *err)
{
        memset(out, 0, sizeof *out);
        if (!host || !*host || strchr(host, '/') || !strcmp(host, ".") || !strcmp(host, "..")) {
                _cleanup_free_ char *q = it_quote(host ? host : "", QUOTE_MAX);
                return it_error_set(err, IT_EINPUT, "certs.d: invalid registry host %s", q);
        }
        _cleanup_strv_ struct it_strv defaults = IT_STRV_INIT;
        if (!dirs) {
                certsd_default_dirs(NULL, &defaults);
                dirs = (const char *const *)defaults.v;
        }
        for (size_t i = 0; dirs[i]; i++) {
                _cleanup_free_ char *path = xasprintf("%s/%s", dirs[i], host);
                struct stat st;
                if (stat(path, &st) != 0) {
                        if (errno == ENOENT || errno == EACCES || errno == EPERM)
                                continue;
                        return it_error_sys(err, IT_EIO, errno, "%s", path);
                }
                return certsd_read_dir(path, out, err);
        }
        return 0;
}

int certsd_read_cas(const struct it_tls_files *f, struct it_buf *pem, it_error *err)
{
        for (size_t i = 0; i < f->nca; i++) {
                _cleanup_free_ char *data = NULL;
                size_t len = 0;
                _cleanup_error_ it_error rerr = IT_ERROR_INIT;
                int rc = it_file_read(f->ca_files[i], IT_CERTSD_FILE_MAX, &data, &len, &rerr);
                if (rc) {
                        if (rc == IT_EIO && rerr.sys_errno == ENOENT)
                                continue;
                        it_error_move(err, &rerr);
                        return rc;
                }
                it_buf_add(pem, data, len);
                if (len && data[len - 1] != '\n')
                        it_buf_addch(pem, '\n');
        }
        return 0;
}
