#include "imgtrust/authfile.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgtrust/base64.h"
#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/json.h"
#include "imgtrust/xalloc.h"

#define QUOTE_MAX 120

/* ---- where ---- */

void authfile_sources_add(struct it_authfile_sources *s, const char *path, bool legacy,
                          bool must_exist)
{
        s->v = xrealloc(s->v, (s->n + 1) * sizeof *s->v);
        s->v[s->n++] = (struct it_authfile_source){xstrdup(path), legacy, must_exist};
}

void authfile_sources_free(struct it_authfile_sources *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i].path);
        free(s->v);
        s->v = NULL;
        s->n = 0;
}

static const char *env(const char *name)
{
        const char *v = getenv(name);
        return v && *v ? v : NULL;
}

/* homedir.Get(): $HOME, else the password database. Allocated or NULL. */
static char *home_dir(void)
{
        const char *h = env("HOME");
        if (h)
                return xstrdup(h);
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res && res->pw_dir &&
            *res->pw_dir)
                return xstrdup(res->pw_dir);
        return NULL;
}

void authfile_sources(const char *authfile, struct it_authfile_sources *out)
{
        if (!authfile)
                authfile = env("REGISTRY_AUTH_FILE");
        const char *run = env("XDG_RUNTIME_DIR");
        if (authfile) {
                authfile_sources_add(out, authfile, false, true);
        } else if (run) {
                /* A runtime directory that does not exist is a misconfiguration upstream only
                 * warns about before going on with the other files. */
                struct stat st;
                if (stat(run, &st) == 0 || errno != ENOENT) {
                        _cleanup_free_ char *p = xasprintf("%s/containers/auth.json", run);
                        authfile_sources_add(out, p, false, false);
                }
        } else {
                _cleanup_free_ char *p =
                    xasprintf("/run/containers/%lu/auth.json", (unsigned long)getuid());
                authfile_sources_add(out, p, false, false);
        }
        _cleanup_free_ char *home = home_dir();
        const char *xdg = env("XDG_CONFIG_HOME");
        if (xdg || home) {
                _cleanup_free_ char *p = xdg ? xasprintf("%s/containers/auth.json", xdg)
                                             : xasprintf("%s/.config/containers/auth.json", home);
                authfile_sources_add(out, p, false, false);
        }
        const char *docker = env("DOCKER_CONFIG");
        if (docker || home) {
                _cleanup_free_ char *p = docker ? xasprintf("%s/config.json", docker)
                                                : xasprintf("%s/.docker/config.json", home);
                authfile_sources_add(out, p, false, false);
        }
        if (home) {
                _cleanup_free_ char *p = xasprintf("%s/.dockercfg", home);
                authfile_sources_add(out, p, true, false);
        }
}

/* ---- one file ---- */

/* normalizeRegistry: Docker Hub's names are one. */
static const char *normalize_registry(const char *r)
{
        if (!strcmp(r, "registry-1.docker.io") || !strcmp(r, "docker.io"))
                return "index.docker.io";
        return r;
}

/* normalizeAuthFileKey: a URL key (or any legacy key) is cut to its host. Allocated. */
static char *normalize_key(const char *key, bool legacy)
{
        const char *s = key;
        if (!strncmp(s, "http://", 7))
                s += 7;
        if (!strncmp(s, "https://", 8))
                s += 8;
        size_t n = strlen(s);
        if (legacy || s != key)
                n = strcspn(s, "/");
        _cleanup_free_ char *h = xstrndup(s, n);
        return xstrdup(normalize_registry(h));
}

static int decode_entry(const json_t *entry, const char *what, const char *path, unsigned flags,
                        char **userpwd, it_error *err)
{
        if (!json_is_object(entry))
                return it_error_set(err, IT_EINPUT, "%s: %s is not an object", what, path);
        const json_t *tok = json_object_get(entry, "identitytoken");
        if (tok && !json_is_string(tok))
                return it_error_set(err, IT_EINPUT, "%s: %s.identitytoken is not a string", what,
                                    path);
        const json_t *auth = json_object_get(entry, "auth");
        if (!auth)
                return 0; /* e.g. only an identitytoken, or a credential helper's marker */
        if (!json_is_string(auth))
                return it_error_set(err, IT_EINPUT, "%s: %s.auth is not a string", what, path);
        if (json_string_length(auth) == 0)
                return 0;
        _cleanup_free_ unsigned char *dec = NULL;
        size_t dlen = 0;
        unsigned b64 = flags & IT_AUTHFILE_STRICT_BASE64 ? 0 : IT_BASE64_GO;
        if (it_base64_decode(json_string_value(auth), json_string_length(auth), b64, &dec, &dlen,
                             NULL) != 0)
                return it_error_set(err, IT_EINPUT,
                                    "%s: %s.auth is not valid base64 (standard, with \"=\" "
                                    "padding)",
                                    what, path);
        const char *d = (const char *)dec;
        const char *colon = memchr(d, ':', dlen);
        if (flags & IT_AUTHFILE_REQUIRE_COLON) {
                if (memchr(d, '\0', dlen) || !colon)
                        return it_error_set(err, IT_EINPUT,
                                            "%s: %s.auth does not decode to \"user:password\"",
                                            what, path);
                *userpwd = (char *)IT_STEAL(dec);
                return 0;
        }
        if (!colon)
                return 0; /* skipped, as docker does */
        /* The password loses leading and trailing NULs (strings.Trim); others cannot be sent. */
        const char *pw = colon + 1, *end = d + dlen;
        while (pw < end && *pw == '\0')
                pw++;
        while (end > pw && end[-1] == '\0')
                end--;
        if (memchr(d, '\0', (size_t)(colon - d)) || memchr(pw, '\0', (size_t)(end - pw)))
                return it_error_set(err, IT_EINPUT,
                                    "%s: %s.auth holds a NUL byte in the user name or password",
                                    what, path);
        *userpwd = xasprintf("%.*s:%.*s", (int)(colon - d), d, (int)(end - pw), pw);
        return 0;
}

int authfile_parse_flags(const char *data, size_t len, const char *what, const char *host,
                         const char *repo_path, unsigned flags, char **userpwd, it_error *err)
{
        *userpwd = NULL;
        if (!host || !*host || strchr(host, '/')) {
                _cleanup_free_ char *q = it_quote(host ? host : "", QUOTE_MAX);
                return it_error_set(err, IT_EINPUT, "credentials: invalid registry host %s", q);
        }
        _cleanup_json_ json_t *root = NULL;
        int rc = it_json_parse(data, len, IT_AUTHFILE_MAX, what, &root, err);
        if (rc)
                return rc;
        if (!json_is_object(root))
                return it_error_set(err, IT_EINPUT, "%s: top level is not an object", what);
        bool legacy = flags & IT_AUTHFILE_LEGACY;
        _cleanup_buf_ struct it_buf path = IT_BUF_INIT;
        const json_t *auths = root;
        if (!legacy) {
                const json_t *helpers = json_object_get(root, "credHelpers");
                if (helpers && !json_is_object(helpers))
                        return it_error_set(err, IT_EINPUT, "%s: .credHelpers is not an object",
                                            what);
                const json_t *helper = helpers ? json_object_get(helpers, host) : NULL;
                if (helper && !(flags & IT_AUTHFILE_IGNORE_HELPERS)) {
                        it_buf_adds(&path, ".credHelpers");
                        it_json_path_key(&path, host);
                        if (!json_is_string(helper))
                                return it_error_set(err, IT_EINPUT, "%s: %s is not a string", what,
                                                    it_buf_str(&path));
                        _cleanup_free_ char *q = it_quote(json_string_value(helper), QUOTE_MAX);
                        return it_error_set(err, IT_EUNSUPPORTED,
                                            "%s: %s: credential helper %s (docker-credential-*) "
                                            "is not supported; give the credentials with --creds "
                                            "or as an \"auths\" entry",
                                            what, it_buf_str(&path), q);
                }
                auths = json_object_get(root, "auths");
                if (!auths)
                        return 0;
                if (!json_is_object(auths))
                        return it_error_set(err, IT_EINPUT, "%s: .auths is not an object", what);
                it_buf_adds(&path, ".auths");
        }

        /* The most specific exact key present decides alone. */
        _cleanup_free_ char *key =
            repo_path && *repo_path ? xasprintf("%s/%s", host, repo_path) : xstrdup(host);
        const char *found = NULL;
        for (;;) {
                if (json_object_get(auths, key)) {
                        found = key;
                        break;
                }
                char *slash = strrchr(key, '/');
                if (!slash)
                        break;
                *slash = '\0';
        }
        if (!found) {
                const char *want = normalize_registry(host);
                const char *k;
                json_t *v;
                json_object_foreach((json_t *)auths, k, v)
                {
                        _cleanup_free_ char *nk = normalize_key(k, legacy);
                        if (!strcmp(nk, want)) {
                                found = k;
                                break;
                        }
                }
        }
        if (!found)
                return 0;
        _cleanup_free_ char *name = xstrdup(found);
        it_json_path_key(&path, name);
        return decode_entry(json_object_get(auths, name), what, it_buf_str(&path), flags, userpwd,
                            err);
}

int authfile_parse(const char *data, size_t len, const char *what, const char *host,
                   const char *repo_path, char **userpwd, it_error *err)
{
        return authfile_parse_flags(data, len, what, host, repo_path, 0, userpwd, err);
}

int authfile_lookup_sources(const struct it_authfile_sources *src, const char *host,
                            const char *repo_path, unsigned flags, char **userpwd, char **from_file,
                            it_error *err)
{
        *userpwd = NULL;
        if (from_file)
                *from_file = NULL;
        for (size_t i = 0; i < src->n; i++) {
                const struct it_authfile_source *s = &src->v[i];
                _cleanup_free_ char *data = NULL;
                size_t len = 0;
                _cleanup_error_ it_error rerr = IT_ERROR_INIT;
                int rc = it_file_read(s->path, IT_AUTHFILE_MAX, &data, &len, &rerr);
                if (rc) {
                        if (!s->must_exist && rc == IT_EIO && rerr.sys_errno == ENOENT)
                                continue;
                        /* A file the user named and that is not there is bad input, as podman's
                         * "credential file is not accessible". */
                        if (s->must_exist && rc == IT_EIO && rerr.sys_errno == ENOENT)
                                rc = rerr.code = IT_EINPUT;
                        it_error_move(err, &rerr);
                        return rc;
                }
                unsigned f = (flags & ~IT_AUTHFILE_LEGACY) | (s->legacy ? IT_AUTHFILE_LEGACY : 0);
                rc = authfile_parse_flags(data, len, s->path, host, repo_path, f, userpwd, err);
                if (rc)
                        return rc;
                if (*userpwd) {
                        if (from_file)
                                *from_file = xstrdup(s->path);
                        return 0;
                }
        }
        return 0;
}

int authfile_lookup(const char *host, const char *repo_path, const char *authfile, char **userpwd,
                    char **from_file, it_error *err)
{
        struct it_authfile_sources src = IT_AUTHFILE_SOURCES_INIT;
        authfile_sources(authfile, &src);
        int rc = authfile_lookup_sources(&src, host, repo_path, 0, userpwd, from_file, err);
        authfile_sources_free(&src);
        return rc;
}
