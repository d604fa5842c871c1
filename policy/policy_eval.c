/* What a policy says about an image (spec §6.4, §6.5, §6.8): naming an image per transport the way
 * containers/image does, choosing the requirement list, and deciding what can be decided before
 * any signature is read.
 *
 * Image names are parsed without contacting anything: no registry, daemon or storage is opened.
 * Where upstream would ask the store (containers-storage defaults, truncated image IDs) the
 * difference is noted at the spot. */
#include "imgtrust/policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/digest.h"
#include "imgtrust/xalloc.h"

/* Longest image name accepted: a PATH_MAX path plus a reference. */
#define IMAGE_INPUT_MAX 8192
/* Longest piece of outside input repeated in a message. */
#define QUOTE_MAX 300

/* Outside input in a message: quoted, escaped, bounded, so the message stays one line.
 * Allocates. */
static char *quote(const char *s)
{
        return it_quote(s, QUOTE_MAX);
}

static bool is_lower_hex(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

static bool is_image_id(const char *s)
{
        return strlen(s) == 64 && is_lower_hex(s, 64);
}

/* ---- paths, as directory/explicitfilepath ---- */

/* filepath.Clean for an absolute path: no empty, "." or ".." components, no trailing slash.
 * Allocates. */
static char *clean_abs(const char *path)
{
        size_t n = strlen(path);
        char *out = xmalloc(n + 2);
        size_t o = 0;
        const char *p = path;
        while (*p) {
                while (*p == '/')
                        p++;
                const char *c = p;
                while (*p && *p != '/')
                        p++;
                size_t cn = (size_t)(p - c);
                if (cn == 0 || (cn == 1 && c[0] == '.'))
                        continue;
                if (cn == 2 && c[0] == '.' && c[1] == '.') {
                        while (o > 0 && out[o - 1] != '/')
                                o--;
                        if (o > 0)
                                o--; /* the slash before the dropped component */
                        continue;
                }
                out[o++] = '/';
                memcpy(out + o, c, cn);
                o += cn;
        }
        if (o == 0)
                out[o++] = '/';
        out[o] = '\0';
        return out;
}

/* filepath.Abs then EvalSymlinks: ".." is applied to the text before any symlink is followed,
 * as Go does. Allocates *out. */
static int resolve_existing(const char *path, char **out, it_error *err)
{
        _cleanup_free_ char *joined = NULL;
        if (path[0] != '/') {
                _cleanup_free_ char *cwd = getcwd(NULL, 0);
                if (!cwd)
                        return it_error_sys(err, IT_EIO, errno, "cannot get the working directory");
                joined = xasprintf("%s/%s", cwd, path);
        }
        _cleanup_free_ char *abs = clean_abs(joined ? joined : path);
        char *real = realpath(abs, NULL);
        if (!real) {
                _cleanup_free_ char *q = quote(abs);
                return it_error_sys(err, IT_EINPUT, errno, "cannot resolve %s", q);
        }
        *out = real;
        return 0;
}

/* ResolvePathToFullyExplicit: absolute, symlink-free, clean; the last component may be missing
 * (an image about to be written). Allocates *out. */
static int resolve_path(const char *path, char **out, it_error *err)
{
        struct stat st;
        if (lstat(path, &st) == 0)
                return resolve_existing(path, out, err);
        if (errno != ENOENT) {
                _cleanup_free_ char *q = quote(path);
                return it_error_sys(err, IT_EINPUT, errno, "cannot resolve %s", q);
        }
        const char *slash = strrchr(path, '/');
        _cleanup_free_ char *parent =
            slash ? xstrndup(path, (size_t)(slash - path + 1)) : xstrdup("");
        const char *file = slash ? slash + 1 : path;
        if (strcmp(file, ".") == 0 || strcmp(file, "..") == 0) {
                _cleanup_free_ char *q = quote(path);
                return it_error_set(err, IT_EINPUT, "cannot resolve %s: %s does not exist", q,
                                    file);
        }
        _cleanup_free_ char *rparent = NULL;
        int rc = resolve_existing(parent, &rparent, err);
        if (rc < 0)
                return rc;
        if (file[0] == '\0')
                *out = IT_STEAL(rparent);
        else if (strcmp(rparent, "/") == 0)
                *out = xasprintf("/%s", file);
        else
                *out = xasprintf("%s/%s", rparent, file);
        return 0;
}

/* dir and sif: every parent of the resolved path, "/" excluded (it would shadow ""). */
static void path_parents(const char *resolved, struct it_strv *out)
{
        _cleanup_free_ char *p = xstrdup(resolved);
        for (;;) {
                char *slash = strrchr(p, '/');
                if (!slash || slash == p)
                        break;
                *slash = '\0';
                it_strv_push(out, p);
        }
}

/* oci and oci-archive: the resolved path itself, then its parents, "/" excluded. */
static void path_self_and_parents(const char *resolved, struct it_strv *out)
{
        if (strcmp(resolved, "/") != 0)
                it_strv_push(out, resolved);
        path_parents(resolved, out);
}

/* ---- transports ---- */

static void set_docker_identity(struct it_image *img)
{
        img->identity = ref_policy_identity(&img->docker);
        ref_policy_namespaces(&img->docker, &img->namespaces);
}

static int parse_docker(const char *s, struct it_image *img, it_error *err)
{
        if (strncmp(s, "//", 2) != 0) {
                _cleanup_free_ char *q = quote(s);
                return it_error_set(err, IT_EINPUT,
                                    "docker: image reference %s does not start with //", q);
        }
        _cleanup_ref_ struct it_ref r = IT_REF_INIT;
        int rc = ref_parse_normalized(s + 2, &r, err);
        if (rc < 0)
                return rc;
        if (r.tag && r.digest)
                return it_error_set(
                    err, IT_EINPUT,
                    "Docker references with both a tag and digest are currently not supported");
        ref_tag_default(&r);
        img->docker = r;
        memset(&r, 0, sizeof r);
        img->has_docker = true;
        set_docker_identity(img);
        return 0;
}

/* OpenShift's atomic: hostname/namespace/stream:tag, the tag explicit. */
static int parse_atomic(const char *s, struct it_image *img, it_error *err)
{
        _cleanup_ref_ struct it_ref r = IT_REF_INIT;
        int rc = ref_parse_normalized(s, &r, err);
        if (rc < 0)
                return rc;
        _cleanup_free_ char *q = quote(s);
        if (!r.tag)
                return it_error_set(err, IT_EINPUT,
                                    "invalid image reference %s, expected format: "
                                    "'hostname/namespace/stream:tag'",
                                    q);
        /* Upstream accepts a digest next to the tag here but then has no policy identity. */
        if (r.digest)
                return it_error_set(err, IT_EINPUT,
                                    "atomic: references with both a tag and digest are not "
                                    "supported");
        const char *slash = strchr(r.path, '/');
        if (!slash || strchr(slash + 1, '/'))
                return it_error_set(err, IT_EINPUT,
                                    "invalid image reference %s, expected format: "
                                    "'hostname/namespace/stream:tag'",
                                    q);
        img->docker = r;
        memset(&r, 0, sizeof r);
        img->has_docker = true;
        set_docker_identity(img);
        return 0;
}

static int parse_docker_daemon(const char *s, struct it_image *img, it_error *err)
{
        _cleanup_free_ char *q = quote(s);
        /* "sha256:<hex>" would also read as repository "sha256" with a tag; upstream takes it as
         * an image ID, which has no identity but "" (the transport's default scope). */
        struct it_digest d;
        _cleanup_error_ it_error derr = IT_ERROR_INIT;
        if (digest_parse(s, &d, &derr) == 0) {
                if (d.alg != IT_DIGEST_SHA256)
                        return it_error_set(err, IT_EINPUT,
                                            "invalid docker-daemon: reference %s: only digest "
                                            "algorithm sha256 accepted",
                                            q);
                img->identity = xstrdup("");
                return 0;
        }
        _cleanup_ref_ struct it_ref r = IT_REF_INIT;
        int rc = ref_parse_normalized(s, &r, err);
        if (rc < 0)
                return rc;
        if (strcmp(r.domain, "docker.io") == 0 && strcmp(r.path, "library/sha256") == 0)
                return it_error_set(err, IT_EINPUT,
                                    "invalid docker-daemon: reference %s: the sha256 repository "
                                    "name is reserved for (non-shortened) digest references",
                                    q);
        if (ref_is_name_only(&r))
                return it_error_set(err, IT_EINPUT,
                                    "docker-daemon: reference %s has neither a tag nor a digest",
                                    q);
        if (r.tag && r.digest)
                return it_error_set(err, IT_EINPUT,
                                    "docker-daemon: references with both a tag and digest are "
                                    "currently not supported");
        img->docker = r;
        memset(&r, 0, sizeof r);
        img->has_docker = true;
        set_docker_identity(img);
        return 0;
}

/* The store a containers-storage name is in. Upstream opens the store and asks it; without
 * opening anything, what the name does not say is taken from the usual defaults: the overlay
 * driver, and /var/lib/containers/storage for root or the user's data directory otherwise. */
static char *storage_default_root(void)
{
        if (geteuid() == 0)
                return xstrdup("/var/lib/containers/storage");
        const char *xdg = getenv("XDG_DATA_HOME");
        if (xdg && xdg[0] == '/')
                return xasprintf("%s/containers/storage", xdg);
        const char *home = getenv("HOME");
        return xasprintf("%s/.local/share/containers/storage", home && home[0] ? home : "");
}

static int storage_invalid(it_error *err, const char *s, const char *why)
{
        _cleanup_free_ char *q = quote(s);
        return it_error_set(err, IT_EINPUT, "invalid containers-storage reference %s: %s", q, why);
}

static int parse_containers_storage(const char *s, struct it_image *img, it_error *err)
{
        if (s[0] == '\0')
                return storage_invalid(err, s, "empty reference");
        _cleanup_free_ char *driver = NULL;
        _cleanup_free_ char *root = NULL;
        const char *rest = s;
        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (!close)
                        return storage_invalid(err, s, "store specifier did not end");
                _cleanup_free_ char *spec = xstrndup(s + 1, (size_t)(close - s - 1));
                rest = close + 1;
                if (spec[0] == '\0')
                        return storage_invalid(err, s, "empty store specifier");
                char *graph = spec;
                char *at = strchr(spec, '@');
                if (at) {
                        *at = '\0';
                        if (spec[0] == '\0')
                                return storage_invalid(err, s, "empty driver name");
                        driver = xstrdup(spec);
                        graph = at + 1;
                        if (graph[0] == '\0')
                                return storage_invalid(err, s, "empty store location");
                }
                /* "root+runroot:options": neither the run root nor options name the store. */
                char *colon = strchr(graph, ':');
                if (colon)
                        *colon = '\0';
                char *plus = strchr(graph, '+');
                const char *runroot = "";
                if (plus) {
                        *plus = '\0';
                        runroot = plus + 1;
                }
                if ((graph[0] != '\0' && graph[0] != '/') ||
                    (runroot[0] != '\0' && runroot[0] != '/'))
                        return storage_invalid(err, s, "path name is not absolute");
                if (graph[0] != '\0')
                        root = clean_abs(graph);
        }
        if (!driver)
                driver = xstrdup("overlay");
        if (!root)
                root = storage_default_root();

        /* A trailing "@<64 hex>" is an image ID; a trailing "@alg:hex" is left to the name. */
        _cleanup_free_ char *name = xstrdup(rest);
        _cleanup_free_ char *id = NULL;
        char *at = strrchr(name, '@');
        if (at) {
                const char *possible = at + 1;
                if (possible[0] == '\0')
                        return storage_invalid(err, s, "empty trailing digest or ID");
                if (!digest_valid(possible)) {
                        /* Upstream also accepts a prefix of the ID of an image in the store. */
                        if (!is_image_id(possible)) {
                                _cleanup_free_ char *q = quote(possible);
                                _cleanup_free_ char *why =
                                    xasprintf("%s does not look like an image ID or digest", q);
                                return storage_invalid(err, s, why);
                        }
                        id = xstrdup(possible);
                        *at = '\0';
                }
        }
        /* A bare image ID: upstream finds it in the store; it can never be a name. */
        if (!id && is_image_id(name)) {
                id = IT_STEAL(name);
                name = xstrdup("");
        }
        if (name[0] == '\0' && !id)
                return storage_invalid(err, s, "no image name or ID");

        _cleanup_free_ char *store = xasprintf("[%s@%s]", driver, root);
        struct it_buf ident = IT_BUF_INIT;
        it_buf_adds(&ident, store);
        if (name[0] != '\0') {
                _cleanup_ref_ struct it_ref r = IT_REF_INIT;
                int rc = ref_parse_normalized(name, &r, err);
                if (rc < 0) {
                        it_buf_free(&ident);
                        return rc;
                }
                ref_tag_default(&r);
                _cleanup_free_ char *str = ref_string(&r);
                it_buf_adds(&ident, str);
                if (id)
                        it_strv_pushf(&img->namespaces, "%s%s", store, str);
                if (r.tag && r.digest)
                        it_strv_pushf(&img->namespaces, "%s%s/%s:%s", store, r.domain, r.path,
                                      r.tag);
                _cleanup_free_ char *n = ref_name(&r);
                for (;;) {
                        it_strv_pushf(&img->namespaces, "%s%s", store, n);
                        char *slash = strrchr(n, '/');
                        if (!slash)
                                break;
                        *slash = '\0';
                }
                img->docker = r;
                memset(&r, 0, sizeof r);
                img->has_docker = true;
        }
        if (id)
                it_buf_addf(&ident, "@%s", id);
        it_strv_push(&img->namespaces, store);
        it_strv_pushf(&img->namespaces, "[%s]", root);
        img->identity = it_buf_detach(&ident);
        return 0;
}

static int parse_dir(const char *s, struct it_image *img, it_error *err)
{
        int rc = resolve_path(s, &img->identity, err);
        if (rc < 0)
                return rc;
        path_parents(img->identity, &img->namespaces);
        return 0;
}

static int parse_sif(const char *s, struct it_image *img, it_error *err)
{
        return parse_dir(s, img, err);
}

static bool oci_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool oci_sep(char c)
{
        return c == '-' || c == '.' || c == '_' || c == ':' || c == '@' || c == '+';
}

/* The org.opencontainers.image.ref.name grammar: components of alphanumerics joined by one of
 * `-._:@+` or `--`, components separated by `/`. */
static bool oci_image_name_ok(const char *s)
{
        const char *p = s;
        for (;;) {
                if (!oci_alnum(*p))
                        return false;
                while (oci_alnum(*p))
                        p++;
                if (*p == '\0')
                        return true;
                if (*p == '/') {
                        p++;
                        continue;
                }
                if (p[0] == '-' && p[1] == '-')
                        p += 2;
                else if (oci_sep(*p))
                        p++;
                else
                        return false;
        }
}

/* oci and oci-archive: PATH[:IMAGE]. The image name is checked but is no part of the identity:
 * "PATH:x" and "PATH" may well be the same image. */
static int parse_oci(const char *s, struct it_image *img, it_error *err)
{
        const char *colon = strchr(s, ':');
        _cleanup_free_ char *path = colon ? xstrndup(s, (size_t)(colon - s)) : xstrdup(s);
        if (colon && colon[1] != '\0' && !oci_image_name_ok(colon + 1)) {
                _cleanup_free_ char *q = quote(colon + 1);
                return it_error_set(err, IT_EINPUT, "invalid image name %s", q);
        }
        int rc = resolve_path(path, &img->identity, err);
        if (rc < 0)
                return rc;
        path_self_and_parents(img->identity, &img->namespaces);
        return 0;
}

/* PATH[:REF] or PATH:@INDEX; the policy identity is always "" (an archive has no name). */
static int parse_docker_archive(const char *s, struct it_image *img, it_error *err)
{
        _cleanup_free_ char *q = quote(s);
        if (s[0] == '\0')
                return it_error_set(err, IT_EINPUT,
                                    "docker-archive reference %s isn't of the form "
                                    "<path>[:<reference>]",
                                    q);
        const char *colon = strchr(s, ':');
        img->identity = xstrdup("");
        if (!colon)
                return 0;
        const char *r = colon + 1;
        if (r[0] == '@') {
                const char *p = r + 1;
                if (*p == '+')
                        p++;
                bool ok = *p != '\0';
                for (const char *c = p; *c; c++)
                        ok = ok && *c >= '0' && *c <= '9';
                if (!ok || strlen(p) > 9)
                        return it_error_set(err, IT_EINPUT, "invalid source index in %s", q);
                return 0;
        }
        _cleanup_ref_ struct it_ref ref = IT_REF_INIT;
        int rc = ref_parse_normalized(r, &ref, err);
        if (rc < 0)
                return it_error_wrap(err, "docker-archive parsing reference");
        _cleanup_free_ char *str = ref_string(&ref);
        if (!ref.tag && ref.digest)
                return it_error_set(err, IT_EINPUT, "reference does not include a tag: %s", str);
        if (ref.digest)
                return it_error_set(err, IT_EINPUT,
                                    "docker-archive doesn't support digest references: %s", str);
        ref_tag_default(&ref);
        img->docker = ref;
        memset(&ref, 0, sizeof ref);
        img->has_docker = true;
        return 0;
}

/* FILE[:FILE...]; identity "". Upstream opens the files while parsing; only empty names are
 * refused here. */
static int parse_tarball(const char *s, struct it_image *img, it_error *err)
{
        const char *p = s;
        for (;;) {
                const char *colon = strchr(p, ':');
                if (colon == p || *p == '\0') {
                        _cleanup_free_ char *q = quote(s);
                        return it_error_set(err, IT_EINPUT,
                                            "tarball reference %s has an empty file name", q);
                }
                if (!colon)
                        break;
                p = colon + 1;
        }
        img->identity = xstrdup("");
        return 0;
}

struct transport_parser {
        const char *name;
        int (*parse)(const char *s, struct it_image *img, it_error *err);
};

static const struct transport_parser transports[] = {
    {"docker", parse_docker},
    {"atomic", parse_atomic},
    {"docker-daemon", parse_docker_daemon},
    {"containers-storage", parse_containers_storage},
    {"dir", parse_dir},
    {"oci", parse_oci},
    {"oci-archive", parse_oci},
    {"docker-archive", parse_docker_archive},
    {"tarball", parse_tarball},
    {"sif", parse_sif},
};

int policy_image_parse(const char *s, struct it_image *out, it_error *err)
{
        memset(out, 0, sizeof *out);
        if (!s)
                return it_error_set(err, IT_EINPUT, "missing image name");
        size_t n = strnlen(s, IMAGE_INPUT_MAX + 1);
        if (n > IMAGE_INPUT_MAX) {
                _cleanup_free_ char *q = quote(s);
                return it_error_set(err, IT_EINPUT, "image name %s is longer than %d characters", q,
                                    IMAGE_INPUT_MAX);
        }
        const char *colon = strchr(s, ':');
        if (!colon) {
                _cleanup_free_ char *q = quote(s);
                return it_error_set(err, IT_EINPUT,
                                    "invalid image name %s, expected colon-separated "
                                    "transport:reference",
                                    q);
        }
        _cleanup_free_ char *tname = xstrndup(s, (size_t)(colon - s));
        const struct transport_parser *tp = NULL;
        for (size_t i = 0; i < sizeof transports / sizeof transports[0]; i++)
                if (strcmp(transports[i].name, tname) == 0)
                        tp = &transports[i];
        if (!tp) {
                _cleanup_free_ char *qt = quote(tname);
                _cleanup_free_ char *q = quote(s);
                it_error_set(err, IT_EINPUT, "unknown transport %s", qt);
                return it_error_wrap(err, "%s", q);
        }
        struct it_image img = IT_IMAGE_INIT;
        img.transport = xstrdup(tp->name);
        img.input = xstrdup(s);
        int rc = tp->parse(colon + 1, &img, err);
        if (rc < 0) {
                policy_image_free(&img);
                _cleanup_free_ char *q = quote(s);
                return it_error_wrap(err, "%s", q);
        }
        *out = img;
        return 0;
}

void policy_image_free(struct it_image *img)
{
        if (!img)
                return;
        free(img->transport);
        free(img->input);
        free(img->identity);
        it_strv_free(&img->namespaces);
        ref_free(&img->docker);
        memset(img, 0, sizeof *img);
}

/* ---- evaluation ---- */

static const struct it_scope *find_scope(const struct it_transport *t, const char *name)
{
        for (size_t i = 0; i < t->n; i++)
                if (strcmp(t->scopes[i].name, name) == 0)
                        return &t->scopes[i];
        return NULL;
}

/* The identity rules that compare against the image's own reference. */
static bool ident_needs_image(enum it_ident_type t)
{
        return t == IT_IDENT_MATCH_EXACT || t == IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT ||
               t == IT_IDENT_MATCH_REPOSITORY || t == IT_IDENT_REMAP_IDENTITY;
}

static void add_ident_rule(struct it_buf *b, const struct it_signed_identity *id)
{
        it_buf_addf(b, "identity rule %s", policy_ident_type_name(id->type));
        switch (id->type) {
        case IT_IDENT_EXACT_REFERENCE:
                it_buf_addf(b, " %s", id->docker_reference ? id->docker_reference : "(none)");
                break;
        case IT_IDENT_EXACT_REPOSITORY:
                it_buf_addf(b, " %s", id->docker_repository ? id->docker_repository : "(none)");
                break;
        case IT_IDENT_REMAP_IDENTITY:
                it_buf_addf(b, " %s -> %s", id->prefix ? id->prefix : "(none)",
                            id->signed_prefix ? id->signed_prefix : "(none)");
                break;
        default:
                break;
        }
}

/* "keyPath /k.gpg", "keyPaths /a, /b", "keyData", ... into the heading; where the keys are into
 * `where`. Returns false when the source names no key at all, so nothing can ever verify. */
static bool describe_keys(const struct it_requirement *r, struct it_buf *head, struct it_buf *where)
{
        switch (r->key_source) {
        case IT_KEYSRC_PATH:
                it_buf_addf(head, ", keyPath %s", r->key_path ? r->key_path : "");
                it_buf_addf(where, "a key in %s", r->key_path ? r->key_path : "");
                return true;
        case IT_KEYSRC_PATHS:
                if (r->key_paths.n == 0) {
                        it_buf_adds(head, ", keyPaths []");
                        return false;
                }
                it_buf_adds(head, ", keyPaths ");
                it_buf_adds(where, "a key in ");
                for (size_t i = 0; i < r->key_paths.n; i++) {
                        it_buf_addf(head, "%s%s", i ? ", " : "", r->key_paths.v[i]);
                        it_buf_addf(where, "%s%s", i ? " or " : "", r->key_paths.v[i]);
                }
                return true;
        case IT_KEYSRC_DATA:
                it_buf_adds(head, ", keyData");
                it_buf_adds(where, "the key in keyData");
                return true;
        case IT_KEYSRC_DATAS:
                if (r->nkey_data == 0) {
                        it_buf_adds(head, ", keyDatas []");
                        return false;
                }
                it_buf_addf(head, ", keyDatas (%zu)", r->nkey_data);
                it_buf_addf(where, "one of the %zu keys in keyDatas", r->nkey_data);
                return true;
        case IT_KEYSRC_FULCIO:
                it_buf_adds(head, ", fulcio");
                it_buf_adds(where, "a Fulcio-issued certificate");
                return true;
        case IT_KEYSRC_PKI:
                it_buf_adds(head, ", pki");
                it_buf_adds(where, "a certificate from the configured PKI");
                return true;
        case IT_KEYSRC_NONE:
        default:
                it_buf_adds(head, ", no key");
                return false;
        }
}

/* One requirement: its line in *reason (allocated) and what it alone decides. */
static enum it_decision judge(const struct it_requirement *r, size_t idx,
                              const struct it_image *img, char **reason)
{
        struct it_buf b = IT_BUF_INIT;
        enum it_decision d = IT_DECISION_REJECT;
        it_buf_addf(&b, "requirement %zu (%s", idx, policy_req_type_name(r->type));
        switch (r->type) {
        case IT_REQ_INSECURE_ACCEPT_ANYTHING:
                it_buf_adds(&b, "): accepts every image");
                d = IT_DECISION_ACCEPT;
                break;
        case IT_REQ_REJECT:
                it_buf_adds(&b, "): rejects every image");
                break;
        case IT_REQ_SIGNED_BASE_LAYER:
                it_buf_adds(&b, "): not implemented (as upstream); rejects every image");
                break;
        case IT_REQ_SIGNED_BY:
        case IT_REQ_SIGSTORE_SIGNED: {
                bool sigstore = r->type == IT_REQ_SIGSTORE_SIGNED;
                if (!sigstore && r->key_type != IT_KEY_GPG_KEYS) {
                        it_buf_addf(&b, "): keyType %s is not implemented; rejects every image",
                                    policy_key_type_name(r->key_type));
                        break;
                }
                if (!sigstore)
                        it_buf_addf(&b, ", %s", policy_key_type_name(r->key_type));
                _cleanup_buf_ struct it_buf where = IT_BUF_INIT;
                if (!describe_keys(r, &b, &where)) {
                        it_buf_adds(&b, "): no keys are listed, so no signature can be accepted; "
                                        "rejects every image");
                        break;
                }
                if (ident_needs_image(r->identity.type) && !img->has_docker) {
                        it_buf_addf(&b,
                                    "): identity rule %s compares with the image's Docker "
                                    "reference and %s has none; rejects every image",
                                    policy_ident_type_name(r->identity.type),
                                    img->input ? img->input : "the image");
                        break;
                }
                it_buf_addf(&b, "): needs a %ssignature by %s, ", sigstore ? "sigstore " : "",
                            it_buf_str(&where));
                add_ident_rule(&b, &r->identity);
                d = IT_DECISION_SIGNATURES_REQUIRED;
                break;
        }
        default:
                it_buf_adds(&b, "): unknown requirement type; rejects every image");
                break;
        }
        *reason = it_buf_detach(&b);
        return d;
}

void policy_eval(const struct it_policy *p, const struct it_image *img, struct it_eval *out)
{
        memset(out, 0, sizeof *out);
        const struct it_reqs *reqs = &p->def;
        const struct it_transport *t = NULL;
        for (size_t i = 0; img->transport && i < p->ntransports && !t; i++)
                if (strcmp(p->transports[i].name, img->transport) == 0)
                        t = &p->transports[i];
        if (t) {
                out->transport = t->name;
                const struct it_scope *sc = NULL;
                const char *ident = img->identity ? img->identity : "";
                sc = find_scope(t, ident);
                /* An empty identity is the transport default itself, not a candidate passed
                 * over. */
                if (!sc && ident[0] != '\0')
                        it_strv_push(&out->passed_over, ident);
                for (size_t i = 0; i < img->namespaces.n && !sc; i++) {
                        sc = find_scope(t, img->namespaces.v[i]);
                        if (!sc && !it_strv_contains(&out->passed_over, img->namespaces.v[i]))
                                it_strv_push(&out->passed_over, img->namespaces.v[i]);
                }
                if (!sc)
                        sc = find_scope(t, "");
                if (sc) {
                        out->scope = sc->name;
                        reqs = &sc->reqs;
                }
        }
        out->reqs = reqs;

        if (reqs->n == 0) {
                it_strv_push(&out->reasons, "no requirements: an empty list rejects every image");
                out->decision = IT_DECISION_REJECT;
                return;
        }
        bool reject = false, need_sig = false;
        for (size_t i = 0; i < reqs->n; i++) {
                char *line = NULL;
                enum it_decision d = judge(&reqs->v[i], i + 1, img, &line);
                it_strv_take(&out->reasons, line);
                reject = reject || d == IT_DECISION_REJECT;
                need_sig = need_sig || d == IT_DECISION_SIGNATURES_REQUIRED;
        }
        out->decision = reject     ? IT_DECISION_REJECT
                        : need_sig ? IT_DECISION_SIGNATURES_REQUIRED
                                   : IT_DECISION_ACCEPT;
}

void policy_eval_free(struct it_eval *e)
{
        if (!e)
                return;
        it_strv_free(&e->passed_over);
        it_strv_free(&e->reasons);
        memset(e, 0, sizeof *e);
}

const char *policy_decision_name(enum it_decision d)
{
        switch (d) {
        case IT_DECISION_ACCEPT:
                return "accept";
        case IT_DECISION_REJECT:
                return "reject";
        case IT_DECISION_SIGNATURES_REQUIRED:
                return "signatures-required";
        }
        return "unknown";
}
