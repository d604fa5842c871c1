/* The process to run: image config + podman-style options -> argv, env, cwd, uid/gid/groups.
 * The podman behaviours followed are listed in imgtrust/procspec.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "imgtrust/procspec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/json.h"
#include "imgtrust/strv.h"
#include "imgtrust/xalloc.h"

extern char **environ;

static void free_strv_raw(char **v, size_t n)
{
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

void procspec_init(struct it_procspec *spec)
{
        memset(spec, 0, sizeof *spec);
        spec->umask = IT_PROCSPEC_UMASK;
}

static void free_result(struct it_procspec *spec)
{
        free_strv_raw(spec->argv, spec->argc);
        free_strv_raw(spec->env, spec->nenv);
        free(spec->cwd);
        free(spec->user);
        free(spec->hostname);
        free(spec->groups);
        spec->argv = spec->env = NULL;
        spec->argc = spec->nenv = 0;
        spec->cwd = spec->user = spec->hostname = NULL;
        spec->groups = NULL;
        spec->ngroups = 0;
}

void procspec_free(struct it_procspec *spec)
{
        free_result(spec);
        free_strv_raw(spec->img_entrypoint, spec->img_nentrypoint);
        free_strv_raw(spec->img_cmd, spec->img_ncmd);
        free_strv_raw(spec->img_env, spec->img_nenv);
        free(spec->img_workdir);
        free(spec->img_user);
        procspec_init(spec);
}

/* ---- image config ---- */

struct cctx {
        struct it_buf path;
        it_error *err;
        size_t total; /* bytes of strings kept so far */
};

static int cfail(struct cctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cfail(struct cctx *c, const char *fmt, ...)
{
        va_list ap;
        _cleanup_buf_ struct it_buf m = IT_BUF_INIT;
        va_start(ap, fmt);
        it_buf_vaddf(&m, fmt, ap);
        va_end(ap);
        return it_error_set(c->err, IT_EINPUT, "config: %s: %s", it_buf_str(&c->path),
                            it_buf_str(&m));
}

static void cpop(struct cctx *c, size_t old)
{
        c->path.len = old;
        if (c->path.data)
                c->path.data[old] = '\0';
}

/* A string member: no NUL (jansson allows \u0000), bounded. */
static int cstring(struct cctx *c, json_t *v, const char **out)
{
        if (!json_is_string(v))
                return cfail(c, "expected a string, got %s", it_json_type_name(v));
        size_t n = json_string_length(v);
        const char *s = json_string_value(v);
        if (strlen(s) != n)
                return cfail(c, "contains a NUL character");
        if (n > IT_PROCSPEC_STRING_MAX)
                return cfail(c, "too long (%zu bytes; at most %d)", n, IT_PROCSPEC_STRING_MAX);
        c->total += n + 1;
        if (c->total > IT_PROCSPEC_TOTAL_MAX)
                return cfail(c, "the config's strings exceed %zu bytes in all",
                             IT_PROCSPEC_TOTAL_MAX);
        *out = s;
        return 0;
}

static int cstrings(struct cctx *c, json_t *v, size_t max, bool env, char ***out, size_t *n)
{
        if (!json_is_array(v))
                return cfail(c, "expected an array of strings, got %s", it_json_type_name(v));
        size_t len = json_array_size(v);
        if (len > max)
                return cfail(c, "too many entries (%zu; at most %zu)", len, max);
        _cleanup_strv_ struct it_strv sv = IT_STRV_INIT;
        for (size_t i = 0; i < len; i++) {
                size_t old = c->path.len;
                it_json_path_index(&c->path, i);
                const char *s = NULL;
                int r = cstring(c, json_array_get(v, i), &s);
                if (r < 0)
                        return r;
                if (env && (s[0] == '=' || !strchr(s, '=')))
                        return cfail(c, "not KEY=VALUE");
                cpop(c, old);
                it_strv_push(&sv, s);
        }
        if (!sv.v) /* an empty array is kept as an empty list, not as absent */
                sv.v = xcalloc(1, sizeof *sv.v);
        *n = sv.n;
        *out = IT_STEAL(sv.v);
        sv.n = 0;
        return 0;
}

static int config_members(struct cctx *c, json_t *root, struct it_procspec *spec)
{
        int r;
        if (!json_is_object(root)) {
                it_buf_adds(&c->path, ".");
                return cfail(c, "expected an object, got %s", it_json_type_name(root));
        }
        json_t *cfg = json_object_get(root, "config");
        if (!cfg || json_is_null(cfg))
                return 0; /* e.g. a scratch image built without any config */
        it_json_path_key(&c->path, "config");
        if (!json_is_object(cfg))
                return cfail(c, "expected an object, got %s", it_json_type_name(cfg));

        json_t *v;
        size_t old = c->path.len;
        if ((v = json_object_get(cfg, "Entrypoint")) && !json_is_null(v)) {
                it_json_path_key(&c->path, "Entrypoint");
                r = cstrings(c, v, IT_PROCSPEC_ARGV_MAX, false, &spec->img_entrypoint,
                             &spec->img_nentrypoint);
                if (r < 0)
                        return r;
                cpop(c, old);
        }
        if ((v = json_object_get(cfg, "Cmd")) && !json_is_null(v)) {
                it_json_path_key(&c->path, "Cmd");
                r = cstrings(c, v, IT_PROCSPEC_ARGV_MAX, false, &spec->img_cmd, &spec->img_ncmd);
                if (r < 0)
                        return r;
                cpop(c, old);
        }
        if ((v = json_object_get(cfg, "Env")) && !json_is_null(v)) {
                it_json_path_key(&c->path, "Env");
                r = cstrings(c, v, IT_PROCSPEC_ENV_MAX, true, &spec->img_env, &spec->img_nenv);
                if (r < 0)
                        return r;
                cpop(c, old);
        }
        const char *s;
        if ((v = json_object_get(cfg, "WorkingDir")) && !json_is_null(v)) {
                it_json_path_key(&c->path, "WorkingDir");
                if ((r = cstring(c, v, &s)) < 0)
                        return r;
                if (*s && *s != '/') {
                        _cleanup_free_ char *q = it_quote(s, 128);
                        return cfail(c, "%s is not an absolute path", q);
                }
                if (strlen(s) >= PATH_MAX)
                        return cfail(c, "longer than PATH_MAX");
                if (*s)
                        spec->img_workdir = xstrdup(s);
                cpop(c, old);
        }
        if ((v = json_object_get(cfg, "User")) && !json_is_null(v)) {
                it_json_path_key(&c->path, "User");
                if ((r = cstring(c, v, &s)) < 0)
                        return r;
                if (strlen(s) > 512)
                        return cfail(c, "too long (%zu bytes; at most 512)", strlen(s));
                if (*s)
                        spec->img_user = xstrdup(s);
                cpop(c, old);
        }
        return 0;
}

int procspec_from_config(const char *config, size_t len, struct it_procspec *spec, it_error *err)
{
        _cleanup_json_ json_t *root = NULL;
        int r = it_json_parse(config, len, IT_PROCSPEC_CONFIG_MAX, "config", &root, err);
        if (r < 0)
                return r;
        struct cctx c = {.path = IT_BUF_INIT, .err = err};
        r = config_members(&c, root, spec);
        it_buf_free(&c.path);
        return r;
}

/* ---- options ---- */

/* Ordered KEY=VALUE list with unique keys: a later value replaces the earlier in place. */
static size_t key_len(const char *kv)
{
        const char *eq = strchr(kv, '=');
        return eq ? (size_t)(eq - kv) : strlen(kv);
}

static ssize_t env_find(const struct it_strv *env, const char *key, size_t klen)
{
        for (size_t i = 0; i < env->n; i++)
                if (key_len(env->v[i]) == klen && strncmp(env->v[i], key, klen) == 0)
                        return (ssize_t)i;
        return -1;
}

static void env_set(struct it_strv *env, const char *kv)
{
        ssize_t i = env_find(env, kv, key_len(kv));
        if (i >= 0) {
                free(env->v[i]);
                env->v[i] = xstrdup(kv);
        } else {
                it_strv_push(env, kv);
        }
}

static bool env_has(const struct it_strv *env, const char *key)
{
        return env_find(env, key, strlen(key)) >= 0;
}

static bool is_ws(char ch)
{
        return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* One -e as podman's parseEnv takes it (pkg/specgenutil/util.go). */
static int env_option(struct it_strv *env, const char *arg, const char *const *caller,
                      it_error *err)
{
        _cleanup_free_ char *q = it_quote(arg, 128);
        const char *eq = strchr(arg, '=');
        size_t klen = eq ? (size_t)(eq - arg) : strlen(arg);
        if (klen == 0)
                return it_error_set(err, IT_EINPUT, "-e %s: invalid environment variable", q);
        const char *name = arg;
        while (klen && is_ws(*name)) {
                name++;
                klen--;
        }
        for (size_t i = 0; i < klen; i++)
                if (is_ws(name[i]))
                        return it_error_set(err, IT_EINPUT, "-e %s: the name has white space in it",
                                            q);
        if (klen == 0)
                return it_error_set(err, IT_EINPUT, "-e %s: invalid environment variable", q);
        if (strlen(arg) > IT_PROCSPEC_STRING_MAX)
                return it_error_set(err, IT_EINPUT, "-e %s: too long (at most %d bytes)", q,
                                    IT_PROCSPEC_STRING_MAX);
        if (eq) {
                _cleanup_free_ char *kv = xasprintf("%.*s=%s", (int)klen, name, eq + 1);
                env_set(env, kv);
                return 0;
        }
        bool prefix = name[klen - 1] == '*';
        if (prefix)
                klen--;
        /* A name alone takes the caller's value; absent, it is skipped (podman 4.x). KEY*
         * takes every caller variable whose name starts with KEY. */
        for (const char *const *e = caller; e && *e; e++) {
                const char *ceq = strchr(*e, '=');
                if (!ceq)
                        continue;
                size_t cklen = (size_t)(ceq - *e);
                if (prefix ? (cklen >= klen && strncmp(*e, name, klen) == 0)
                           : (cklen == klen && strncmp(*e, name, klen) == 0)) {
                        env_set(env, *e);
                        if (!prefix)
                                break;
                }
        }
        return 0;
}

/* podman's --entrypoint: a JSON array of strings, else the string itself as one word. */
static void parse_entrypoint(const char *arg, struct it_strv *out)
{
        json_error_t je;
        json_t *j = json_loads(arg, JSON_REJECT_DUPLICATES, &je);
        if (j && json_is_array(j)) {
                bool all = true;
                for (size_t i = 0; i < json_array_size(j); i++) {
                        json_t *e = json_array_get(j, i);
                        if (!json_is_string(e) ||
                            strlen(json_string_value(e)) != json_string_length(e))
                                all = false;
                }
                if (all) {
                        for (size_t i = 0; i < json_array_size(j); i++)
                                it_strv_push(out, json_string_value(json_array_get(j, i)));
                        json_decref(j);
                        return;
                }
        }
        if (j)
                json_decref(j);
        it_strv_push(out, arg);
}

static bool is_empty_entrypoint(char *const *v, size_t n)
{
        return n == 1 && v[0][0] == '\0';
}

static void push_all(struct it_strv *dst, char *const *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                it_strv_push(dst, v[i]);
}

static int check_bounds(const struct it_strv *argv, const struct it_strv *env, it_error *err)
{
        if (argv->n > IT_PROCSPEC_ARGV_MAX)
                return it_error_set(err, IT_EINPUT, "command: too many arguments (%zu; at most %d)",
                                    argv->n, IT_PROCSPEC_ARGV_MAX);
        if (env->n > IT_PROCSPEC_ENV_MAX)
                return it_error_set(err, IT_EINPUT,
                                    "environment: too many variables (%zu; at most %d)", env->n,
                                    IT_PROCSPEC_ENV_MAX);
        size_t total = 0;
        for (size_t i = 0; i < argv->n; i++)
                total += strlen(argv->v[i]) + 1;
        for (size_t i = 0; i < env->n; i++)
                total += strlen(env->v[i]) + 1;
        if (total > 2 * IT_PROCSPEC_TOTAL_MAX)
                return it_error_set(err, IT_EINPUT,
                                    "command and environment: %zu bytes, at most %zu", total,
                                    2 * IT_PROCSPEC_TOTAL_MAX);
        return 0;
}

int procspec_apply_options(struct it_procspec *spec, const struct it_procspec_opts *opts,
                           it_error *err)
{
        static const struct it_procspec_opts none;
        const struct it_procspec_opts *o = opts ? opts : &none;

        /* argv: makeCommand. */
        _cleanup_strv_ struct it_strv argv = IT_STRV_INIT;
        _cleanup_strv_ struct it_strv ep = IT_STRV_INIT;
        bool ep_given = o->entrypoint != NULL;
        if (ep_given)
                parse_entrypoint(o->entrypoint, &ep);
        else
                push_all(&ep, spec->img_entrypoint, spec->img_nentrypoint);
        if (!is_empty_entrypoint(ep.v, ep.n))
                push_all(&argv, ep.v, ep.n);
        if (o->ncmd > 0)
                push_all(&argv, (char *const *)o->cmd, o->ncmd);
        else if (!ep_given || ep.n == 0)
                push_all(&argv, spec->img_cmd, spec->img_ncmd);
        if (argv.n == 0)
                return it_error_set(err, IT_EINPUT,
                                    "no command: the image has no Entrypoint or Cmd, give one");

        /* env: defaults, image, -e; HOSTNAME if absent. */
        _cleanup_strv_ struct it_strv env = IT_STRV_INIT;
        env_set(&env, IT_PROCSPEC_DEFAULT_PATH);
        env_set(&env, IT_PROCSPEC_DEFAULT_TERM);
        env_set(&env, IT_PROCSPEC_CONTAINER_ENV);
        for (size_t i = 0; i < spec->img_nenv; i++)
                env_set(&env, spec->img_env[i]);
        const char *const *caller = o->caller_env ? o->caller_env : (const char *const *)environ;
        for (size_t i = 0; i < o->nenv; i++) {
                int r = env_option(&env, o->env[i], caller, err);
                if (r < 0)
                        return r;
        }
        if (o->hostname && !env_has(&env, "HOSTNAME"))
                it_strv_pushf(&env, "HOSTNAME=%s", o->hostname);
        int r = check_bounds(&argv, &env, err);
        if (r < 0)
                return r;

        /* cwd */
        const char *cwd = "/";
        if (o->workdir) {
                _cleanup_free_ char *q = it_quote(o->workdir, 128);
                if (o->workdir[0] != '/')
                        return it_error_set(err, IT_EINPUT, "--workdir %s: not an absolute path",
                                            q);
                if (strlen(o->workdir) >= PATH_MAX)
                        return it_error_set(err, IT_EINPUT, "--workdir %s: longer than PATH_MAX",
                                            q);
                cwd = o->workdir;
        } else if (spec->img_workdir) {
                cwd = spec->img_workdir;
        }

        const char *user = o->user ? o->user : spec->img_user ? spec->img_user : "";

        free_result(spec);
        spec->argc = argv.n;
        spec->argv = IT_STEAL(argv.v);
        argv.n = 0;
        spec->nenv = env.n;
        spec->env = IT_STEAL(env.v);
        env.n = 0;
        spec->cwd = xstrdup(cwd);
        spec->user = xstrdup(user);
        spec->user_given = *user != '\0';
        spec->hostname = o->hostname ? xstrdup(o->hostname) : NULL;
        spec->uid = 0;
        spec->gid = 0;
        return 0;
}

/* ---- users ---- */

struct idfile {
        char *data; /* NULL when the file does not exist */
        size_t len;
        const char *name; /* "/etc/passwd" */
};

static void idfile_free(struct idfile *f)
{
        free(f->data);
}

static int idfile_open(int rootfd, const char *name, struct idfile *f, it_error *err)
{
        f->data = NULL;
        f->len = 0;
        f->name = name;
        _cleanup_close_ int fd =
            it_openat_beneath(rootfd, name, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                if (errno == ELOOP || errno == EXDEV)
                        return it_error_sys(err, IT_EINPUT, errno,
                                            "%s in the image: a symbolic link, not followed", name);
                return it_error_sys(err, IT_EIO, errno, "%s in the image: cannot open", name);
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return it_error_sys(err, IT_EIO, errno, "%s in the image: cannot stat", name);
        if (!S_ISREG(st.st_mode))
                return it_error_set(err, IT_EINPUT, "%s in the image: not a regular file", name);
        return it_fd_read(fd, name, IT_PROCSPEC_IDFILE_MAX, &f->data, &f->len, err);
}

/* One record of an /etc/passwd or /etc/group text. */
struct idrec {
        const char *f[7];
        size_t flen[7];
};

static int parse_id(const char *s, size_t n, uint32_t *out)
{
        if (n == 0 || n > 10)
                return -1;
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        /* (uid_t)-1 means "unchanged" to setresuid: never an id. */
        if (v >= UINT32_MAX)
                return -1;
        *out = (uint32_t)v;
        return 0;
}

/* Walk the records of f with nfields fields each, calling fn until it returns nonzero.
 * Every line is checked, so a malformed file fails whatever is looked up. Blank
 * lines, comments and NIS compat entries ("+", "-") are skipped as glibc's files backend does. */
typedef int (*idrec_fn)(const struct idrec *rec, void *ctx);

static int idfile_walk(const struct idfile *f, int nfields, idrec_fn fn, void *ctx, it_error *err)
{
        const char *p = f->data, *end = f->data + f->len;
        bool done = false;
        for (size_t line = 1; p < end; line++) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                const char *le = nl ? nl : end;
                const char *next = nl ? nl + 1 : end;
                if (le == p || *p == '#' || *p == '+' || *p == '-') {
                        p = next;
                        continue;
                }
                if (memchr(p, '\0', (size_t)(le - p)))
                        return it_error_set(err, IT_EINPUT, "%s: line %zu: contains a NUL byte",
                                            f->name, line);
                struct idrec rec;
                int n = 0;
                const char *s = p;
                for (;;) {
                        const char *colon = memchr(s, ':', (size_t)(le - s));
                        const char *fe = colon ? colon : le;
                        if (n == nfields) {
                                n++;
                                break;
                        }
                        rec.f[n] = s;
                        rec.flen[n] = (size_t)(fe - s);
                        n++;
                        if (!colon)
                                break;
                        s = colon + 1;
                }
                if (n != nfields)
                        return it_error_set(err, IT_EINPUT,
                                            "%s: line %zu: expected %d fields separated by ':'",
                                            f->name, line, nfields);
                uint32_t id;
                if (parse_id(rec.f[2], rec.flen[2], &id) < 0)
                        return it_error_set(err, IT_EINPUT, "%s: line %zu: %s is not a number",
                                            f->name, line, nfields == 7 ? "the uid" : "the gid");
                if (nfields == 7 && parse_id(rec.f[3], rec.flen[3], &id) < 0)
                        return it_error_set(err, IT_EINPUT, "%s: line %zu: the gid is not a number",
                                            f->name, line);
                if (rec.flen[0] == 0)
                        return it_error_set(err, IT_EINPUT, "%s: line %zu: empty name", f->name,
                                            line);
                /* The whole file is checked, also past the record looked for. */
                if (!done && fn(&rec, ctx) > 0)
                        done = true;
                p = next;
        }
        return 0;
}

static bool field_eq(const struct idrec *r, int i, const char *s)
{
        return r->flen[i] == strlen(s) && memcmp(r->f[i], s, r->flen[i]) == 0;
}

struct pwfind {
        const char *name; /* match by name, or */
        uint32_t uid;     /* by uid when name is NULL */
        bool found;
        uint32_t pw_uid, pw_gid;
        char *pw_name, *pw_home;
};

static int pw_match(const struct idrec *r, void *ctx)
{
        struct pwfind *w = ctx;
        uint32_t uid = 0; /* idfile_walk has checked the ids */
        parse_id(r->f[2], r->flen[2], &uid);
        if (w->name ? !field_eq(r, 0, w->name) : uid != w->uid)
                return 0;
        w->found = true;
        w->pw_uid = uid;
        parse_id(r->f[3], r->flen[3], &w->pw_gid);
        w->pw_name = xstrndup(r->f[0], r->flen[0]);
        w->pw_home = xstrndup(r->f[5], r->flen[5]);
        return 1;
}

struct grfind {
        const char *name; /* a group by name */
        bool found;
        uint32_t gid;
        const char *member; /* or every group listing member */
        gid_t *groups;
        size_t ngroups;
};

static int gr_match(const struct idrec *r, void *ctx)
{
        struct grfind *w = ctx;
        uint32_t gid = 0; /* idfile_walk has checked the ids */
        parse_id(r->f[2], r->flen[2], &gid);
        if (w->name) {
                if (!field_eq(r, 0, w->name))
                        return 0;
                w->found = true;
                w->gid = gid;
                return 1;
        }
        size_t mlen = strlen(w->member);
        const char *s = r->f[3], *end = r->f[3] + r->flen[3];
        while (s < end) {
                const char *comma = memchr(s, ',', (size_t)(end - s));
                const char *me = comma ? comma : end;
                if ((size_t)(me - s) == mlen && memcmp(s, w->member, mlen) == 0) {
                        for (size_t i = 0; i < w->ngroups; i++)
                                if (w->groups[i] == gid)
                                        return 0;
                        if (w->ngroups >= IT_PROCSPEC_GROUPS_MAX)
                                return 0;
                        w->groups = xrealloc(w->groups, (w->ngroups + 1) * sizeof *w->groups);
                        w->groups[w->ngroups++] = gid;
                        return 0;
                }
                s = comma ? comma + 1 : end;
        }
        return 0;
}

static bool all_digits(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

int procspec_resolve_user(struct it_procspec *spec, int rootfs_dirfd, const char *user_string,
                          it_error *err)
{
        const char *us = user_string ? user_string : spec->user ? spec->user : "";
        _cleanup_free_ char *uq = it_quote(us, 128);
        _cleanup_free_ char *upart = NULL;
        const char *gpart = NULL;
        const char *colon = strchr(us, ':');
        upart = colon ? xstrndup(us, (size_t)(colon - us)) : xstrdup(us);
        if (colon)
                gpart = colon + 1;
        if (*us && (!*upart || (gpart && !*gpart)))
                return it_error_set(err, IT_EINPUT, "user %s: expected USER[:GROUP]", uq);

        struct pwfind pw = {0};
        uint32_t uid = 0;
        bool numeric = !*upart || all_digits(upart);
        if (*upart && numeric && parse_id(upart, strlen(upart), &uid) < 0)
                return it_error_set(err, IT_EINPUT, "user %s: uid out of range", uq);
        if (numeric)
                pw.uid = uid;
        else
                pw.name = upart;

        __attribute__((cleanup(idfile_free))) struct idfile passwd = {0};
        int r = idfile_open(rootfs_dirfd, "/etc/passwd", &passwd, err);
        if (r < 0)
                return it_error_wrap(err, "user %s", uq);
        if (passwd.data) {
                r = idfile_walk(&passwd, 7, pw_match, &pw, err);
                if (r < 0) {
                        free(pw.pw_name);
                        free(pw.pw_home);
                        return it_error_wrap(err, "user %s", uq);
                }
        }
        _cleanup_free_ char *pw_name = pw.pw_name;
        _cleanup_free_ char *pw_home = pw.pw_home;
        if (!numeric && !pw.found)
                return it_error_set(err, IT_EINPUT,
                                    "user %s: no such user in the image's /etc/passwd", uq);

        uint32_t gid = pw.found ? pw.pw_gid : 0;
        if (!numeric)
                uid = pw.pw_uid;
        __attribute__((cleanup(idfile_free))) struct idfile group = {0};
        bool need_group = (gpart && !all_digits(gpart)) || (!gpart && pw_name);
        if (need_group) {
                r = idfile_open(rootfs_dirfd, "/etc/group", &group, err);
                if (r < 0)
                        return it_error_wrap(err, "user %s", uq);
        }
        struct grfind gr = {0};
        if (gpart) {
                if (all_digits(gpart)) {
                        if (parse_id(gpart, strlen(gpart), &gid) < 0)
                                return it_error_set(err, IT_EINPUT, "user %s: gid out of range",
                                                    uq);
                } else {
                        _cleanup_free_ char *gq = it_quote(gpart, 128);
                        gr.name = gpart;
                        if (group.data && (r = idfile_walk(&group, 4, gr_match, &gr, err)) < 0)
                                return it_error_wrap(err, "user %s", uq);
                        if (!gr.found)
                                return it_error_set(
                                    err, IT_EINPUT,
                                    "user %s: group %s: no such group in the image's /etc/group",
                                    uq, gq);
                        gid = gr.gid;
                }
        } else if (pw_name && group.data) {
                /* runc's GetExecUser: supplementary groups only when no group is given. */
                gr.member = pw_name;
                r = idfile_walk(&group, 4, gr_match, &gr, err);
                if (r < 0) {
                        free(gr.groups);
                        return it_error_wrap(err, "user %s", uq);
                }
        }

        free(spec->groups);
        spec->groups = gr.groups;
        spec->ngroups = gr.ngroups;
        spec->uid = (uid_t)uid;
        spec->gid = (gid_t)gid;
        spec->user_given = *us != '\0';
        if (spec->user != us) {
                free(spec->user);
                spec->user = xstrdup(us);
        }

        /* HOME, when the env has none (libpod generateSpec). */
        bool has_home = false;
        for (size_t i = 0; i < spec->nenv; i++)
                if (strncmp(spec->env[i], "HOME=", 5) == 0)
                        has_home = true;
        if (!has_home) {
                const char *home = pw_home && *pw_home ? pw_home : "/";
                spec->env = xrealloc(spec->env, (spec->nenv + 2) * sizeof *spec->env);
                spec->env[spec->nenv++] = xasprintf("HOME=%s", home);
                spec->env[spec->nenv] = NULL;
        }
        return 0;
}
