/* docker-archive:PATH[:NAME:TAG] — `docker save` output read with a strict, bounded tar reader
 * that knows what Docker and containers/image write: ustar with pax or GNU long-name extensions,
 * regular files, directories and symlinks (docker save links a layer.tar to a layer saved
 * before). The manifest is synthesised as a Docker schema 2 manifest, byte for byte as
 * containers/image's docker-archive source does. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/json.h"
#include "imgtrust/manifest.h"
#include "imgtrust/source.h"
#include "imgtrust/xalloc.h"

#define BLOCK 512
/* docker save writes a few entries per layer; the duplicate-name check is quadratic. */
#define ENTRIES_MAX 8192
#define NAME_MAX_LEN 4096
#define PAX_MAX (64u << 10)
#define LINK_HOPS_MAX 8
#define QUOTE_MAX 80

#define MT_CONFIG "application/vnd.docker.container.image.v1+json"
/* containers/image labels every docker-archive layer so, compressed or not. */
#define MT_LAYER "application/vnd.docker.image.rootfs.diff.tar.gzip"

enum entry_type { ENT_FILE, ENT_DIR, ENT_SYMLINK };

struct it_tar_entry {
        char *name; /* cleaned: no leading "./" or "/", no trailing "/" */
        char *link; /* symlink target as stored */
        enum entry_type type;
        int64_t offset; /* of the data */
        int64_t size;
        bool is_blob;
        struct it_digest blob;
};

void source_archive_free_entries(struct it_source *src)
{
        for (size_t i = 0; i < src->nentries; i++) {
                free(src->entries[i].name);
                free(src->entries[i].link);
        }
        free(src->entries);
        src->entries = NULL;
        src->nentries = 0;
}

static int pread_all(int fd, void *buf, size_t n, int64_t off, it_error *err)
{
        size_t got = 0;
        while (got < n) {
                ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + (int64_t)got));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return it_error_sys(err, IT_EIO, errno, "read at offset %lld",
                                            (long long)off);
                if (r == 0)
                        return it_error_set(err, IT_EINPUT, "truncated tar at offset %lld",
                                            (long long)(off + (int64_t)got));
                got += (size_t)r;
        }
        return 0;
}

/* A numeric header field: octal digits padded with spaces/NULs, or GNU base-256. */
static int parse_num(const unsigned char *f, size_t n, int64_t *out)
{
        if (f[0] & 0x80) {
                if (f[0] != 0x80)
                        return -1; /* negative or too large */
                uint64_t v = 0;
                for (size_t i = 1; i < n; i++) {
                        if (v >> 55)
                                return -1;
                        v = (v << 8) | f[i];
                }
                *out = (int64_t)v;
                return 0;
        }
        size_t i = 0;
        while (i < n && f[i] == ' ')
                i++;
        uint64_t v = 0;
        bool any = false;
        for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
                if (v >> 60)
                        return -1;
                v = v * 8 + (uint64_t)(f[i] - '0');
                any = true;
        }
        for (; i < n; i++)
                if (f[i] != ' ' && f[i] != '\0')
                        return -1;
        if (!any)
                return -1;
        *out = (int64_t)v;
        return 0;
}

static bool checksum_ok(const unsigned char *h)
{
        int64_t want;
        if (parse_num(h + 148, 8, &want))
                return false;
        int64_t u = 0, s = 0;
        for (size_t i = 0; i < BLOCK; i++) {
                unsigned char c = i >= 148 && i < 156 ? ' ' : h[i];
                u += c;
                s += (signed char)c;
        }
        return want == u || want == s;
}

/* Clean an entry name: refuse absolute names, "..", empty and NUL-containing ones. Allocated. */
static char *clean_name(const char *raw, size_t n)
{
        _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
        size_t i = 0;
        if (n && raw[0] == '/')
                return NULL;
        while (i < n) {
                size_t j = i;
                while (j < n && raw[j] != '/')
                        j++;
                size_t len = j - i;
                if (memchr(raw + i, '\0', len))
                        return NULL;
                if (len == 2 && !memcmp(raw + i, "..", 2))
                        return NULL;
                if (len && !(len == 1 && raw[i] == '.')) {
                        if (b.len)
                                it_buf_addch(&b, '/');
                        it_buf_add(&b, raw + i, len);
                }
                i = j + 1;
        }
        if (!b.len || b.len > NAME_MAX_LEN)
                return NULL;
        return it_buf_detach(&b);
}

/* pax records "LEN key=value\n"; path, linkpath and size are used. */
static int parse_pax(const char *p, size_t n, char **path, char **linkpath, int64_t *size,
                     it_error *err)
{
        size_t i = 0;
        while (i < n) {
                size_t len = 0, j = i;
                while (j < n && p[j] >= '0' && p[j] <= '9' && len < PAX_MAX)
                        len = len * 10 + (size_t)(p[j++] - '0');
                if (j == i || j >= n || p[j] != ' ' || len <= j - i + 1 || len > n - i ||
                    p[i + len - 1] != '\n')
                        return it_error_set(err, IT_EINPUT, "malformed pax record");
                const char *kv = p + j + 1, *end = p + i + len - 1;
                const char *eq = memchr(kv, '=', (size_t)(end - kv));
                if (!eq)
                        return it_error_set(err, IT_EINPUT, "malformed pax record");
                size_t klen = (size_t)(eq - kv), vlen = (size_t)(end - eq - 1);
                const char *v = eq + 1;
                if (klen == 4 && !memcmp(kv, "path", 4)) {
                        free(*path);
                        *path = xstrndup(v, vlen);
                        if (strlen(*path) != vlen)
                                return it_error_set(err, IT_EINPUT, "pax path contains NUL");
                } else if (klen == 8 && !memcmp(kv, "linkpath", 8)) {
                        free(*linkpath);
                        *linkpath = xstrndup(v, vlen);
                        if (strlen(*linkpath) != vlen)
                                return it_error_set(err, IT_EINPUT, "pax linkpath contains NUL");
                } else if (klen == 4 && !memcmp(kv, "size", 4)) {
                        int64_t s = 0;
                        if (!vlen || vlen > 18)
                                return it_error_set(err, IT_EINPUT, "pax size is invalid");
                        for (size_t k = 0; k < vlen; k++) {
                                if (v[k] < '0' || v[k] > '9')
                                        return it_error_set(err, IT_EINPUT, "pax size is invalid");
                                s = s * 10 + (v[k] - '0');
                        }
                        *size = s;
                }
                i += len;
        }
        return 0;
}

static int read_small(int fd, int64_t off, int64_t size, size_t max, char **out, it_error *err)
{
        if (size < 0 || (uint64_t)size > max)
                return it_error_set(err, IT_EINPUT, "too large (%lld bytes; at most %zu are read)",
                                    (long long)size, max);
        _cleanup_free_ char *b = xmalloc((size_t)size + 1);
        int rc = pread_all(fd, b, (size_t)size, off, err);
        if (rc)
                return rc;
        b[size] = '\0';
        *out = IT_STEAL(b);
        return 0;
}

static int read_tar(struct it_source *src, it_error *err)
{
        int fd = src->root_fd;
        struct stat st;
        if (fstat(fd, &st) != 0)
                return it_error_sys(err, IT_EIO, errno, "stat");
        if (!S_ISREG(st.st_mode))
                return it_error_set(err, IT_EINPUT, "not a regular file");
        int64_t fsize = st.st_size, off = 0;
        _cleanup_free_ char *pax_path = NULL, *pax_link = NULL, *gnu_name = NULL, *gnu_link = NULL;
        int64_t pax_size = -1;
        for (;;) {
                unsigned char h[BLOCK];
                if (off + BLOCK > fsize)
                        return it_error_set(err, IT_EINPUT,
                                            "tar ends at offset %lld without an end marker",
                                            (long long)off);
                int rc = pread_all(fd, h, BLOCK, off, err);
                if (rc)
                        return rc;
                bool zero = true;
                for (size_t i = 0; i < BLOCK && zero; i++)
                        zero = h[i] == 0;
                if (zero)
                        break;
                if (!checksum_ok(h))
                        return it_error_set(err, IT_EINPUT,
                                            "tar header at offset %lld: bad checksum",
                                            (long long)off);
                if (memcmp(h + 257, "ustar", 5) != 0)
                        return it_error_set(err, IT_EINPUT,
                                            "tar header at offset %lld: not a ustar header",
                                            (long long)off);
                bool posix = !memcmp(h + 257, "ustar\0", 6);
                int64_t size;
                if (parse_num(h + 124, 12, &size))
                        return it_error_set(err, IT_EINPUT,
                                            "tar header at offset %lld: bad size field",
                                            (long long)off);
                char type = (char)h[156];
                if (pax_size >= 0 && type != 'x' && type != 'g' && type != 'L' && type != 'K')
                        size = pax_size;
                int64_t data = off + BLOCK;
                if (size > fsize - data)
                        return it_error_set(err, IT_EINPUT,
                                            "tar header at offset %lld: entry runs past the end "
                                            "of the archive",
                                            (long long)off);
                int64_t next = data + ((size + BLOCK - 1) / BLOCK) * BLOCK;

                if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
                        _cleanup_free_ char *body = NULL;
                        rc = read_small(fd, data, size, PAX_MAX, &body, err);
                        if (rc)
                                return it_error_wrap(err, "tar header at offset %lld",
                                                     (long long)off);
                        if (type == 'x') {
                                rc = parse_pax(body, (size_t)size, &pax_path, &pax_link, &pax_size,
                                               err);
                                if (rc)
                                        return it_error_wrap(err, "tar header at offset %lld",
                                                             (long long)off);
                        } else if (type == 'L') {
                                free(gnu_name);
                                gnu_name = xstrndup(body, (size_t)size);
                        } else if (type == 'K') {
                                free(gnu_link);
                                gnu_link = xstrndup(body, (size_t)size);
                        }
                        off = next;
                        continue;
                }

                enum entry_type et;
                if (type == '0' || type == '\0')
                        et = ENT_FILE;
                else if (type == '5')
                        et = ENT_DIR;
                else if (type == '2')
                        et = ENT_SYMLINK;
                else
                        return it_error_set(err, IT_EINPUT,
                                            "tar header at offset %lld: entry type '%c' is not "
                                            "supported",
                                            (long long)off,
                                            type >= 0x20 && type < 0x7f ? type : '?');
                _cleanup_free_ char *raw = NULL;
                if (pax_path)
                        raw = IT_STEAL(pax_path);
                else if (gnu_name)
                        raw = IT_STEAL(gnu_name);
                else if (posix && h[345])
                        raw = xasprintf("%.155s/%.100s", (const char *)h + 345, (const char *)h);
                else
                        raw = xstrndup((const char *)h, 100);
                _cleanup_free_ char *link = NULL;
                if (pax_link)
                        link = IT_STEAL(pax_link);
                else if (gnu_link)
                        link = IT_STEAL(gnu_link);
                else
                        link = xstrndup((const char *)h + 157, 100);
                pax_size = -1;
                /* Extended names apply to the one entry that follows them. */
                free(IT_STEAL(pax_path));
                free(IT_STEAL(pax_link));
                free(IT_STEAL(gnu_name));
                free(IT_STEAL(gnu_link));
                /* `tar -C dir .` starts with the directory itself. */
                if (et == ENT_DIR && (!strcmp(raw, ".") || !strcmp(raw, "./"))) {
                        off = next;
                        continue;
                }
                char *name = clean_name(raw, strlen(raw));
                if (!name) {
                        _cleanup_free_ char *q = it_quote(raw, QUOTE_MAX);
                        return it_error_set(err, IT_EINPUT,
                                            "tar entry %s: name is absolute, empty or has \"..\"",
                                            q);
                }
                for (size_t i = 0; i < src->nentries; i++)
                        if (!strcmp(src->entries[i].name, name)) {
                                _cleanup_free_ char *q = it_quote(name, QUOTE_MAX);
                                free(name);
                                return it_error_set(err, IT_EINPUT, "tar entry %s appears twice",
                                                    q);
                        }
                if (src->nentries >= ENTRIES_MAX) {
                        free(name);
                        return it_error_set(err, IT_EINPUT, "more than %d tar entries",
                                            ENTRIES_MAX);
                }
                src->entries = xrealloc(src->entries, (src->nentries + 1) * sizeof *src->entries);
                struct it_tar_entry *e = &src->entries[src->nentries++];
                memset(e, 0, sizeof *e);
                e->name = name;
                e->type = et;
                e->link = et == ENT_SYMLINK ? IT_STEAL(link) : NULL;
                e->offset = data;
                e->size = et == ENT_FILE ? size : 0;
                off = next;
        }
        return 0;
}

static struct it_tar_entry *find_entry(struct it_source *src, const char *name)
{
        for (size_t i = 0; i < src->nentries; i++)
                if (!strcmp(src->entries[i].name, name))
                        return &src->entries[i];
        return NULL;
}

/* The regular file `name` names, following symlinks inside the archive as containers/image does
 * (relative to the link's directory). */
static int resolve(struct it_source *src, const char *name, struct it_tar_entry **out,
                   it_error *err)
{
        _cleanup_free_ char *cur = clean_name(name, strlen(name));
        _cleanup_free_ char *q = it_quote(name, QUOTE_MAX);
        if (!cur)
                return it_error_set(err, IT_EINPUT, "entry %s: invalid name", q);
        for (int hop = 0; hop <= LINK_HOPS_MAX; hop++) {
                struct it_tar_entry *e = find_entry(src, cur);
                if (!e && hop == 0)
                        return it_error_set(err, IT_EINPUT, "entry %s: not in the archive", q);
                if (!e) {
                        _cleanup_free_ char *tq = it_quote(cur, QUOTE_MAX);
                        return it_error_set(err, IT_EINPUT,
                                            "entry %s: symlink target %s is not in the archive", q,
                                            tq);
                }
                if (e->type == ENT_FILE) {
                        *out = e;
                        return 0;
                }
                if (e->type != ENT_SYMLINK)
                        return it_error_set(err, IT_EINPUT, "entry %s: not a regular file", q);
                if (e->link[0] == '/')
                        return it_error_set(err, IT_EINPUT,
                                            "entry %s: symlink with an absolute target", q);
                /* Resolve ".." against the link's directory; clean_name refuses what is left. */
                _cleanup_buf_ struct it_buf path = IT_BUF_INIT;
                const char *slash = strrchr(cur, '/');
                size_t dlen = slash ? (size_t)(slash - cur) : 0;
                _cleanup_free_ char *dir = xstrndup(cur, dlen);
                const char *l = e->link;
                while (!strncmp(l, "../", 3) || !strcmp(l, "..")) {
                        if (!*dir)
                                return it_error_set(err, IT_EINPUT,
                                                    "entry %s: symlink leads out of the archive",
                                                    q);
                        char *s = strrchr(dir, '/');
                        if (s)
                                *s = '\0';
                        else
                                dir[0] = '\0';
                        l += l[2] ? 3 : 2;
                }
                if (*dir)
                        it_buf_addf(&path, "%s/", dir);
                it_buf_adds(&path, l);
                char *next = clean_name(it_buf_str(&path), path.len);
                if (!next)
                        return it_error_set(err, IT_EINPUT,
                                            "entry %s: symlink target is invalid or leads out of "
                                            "the archive",
                                            q);
                free(cur);
                cur = next;
        }
        return it_error_set(err, IT_EINPUT, "entry %s: more than %d symlinks", q, LINK_HOPS_MAX);
}

static int read_entry(struct it_source *src, const char *name, size_t max, char **data, size_t *len,
                      struct it_tar_entry **ent, it_error *err)
{
        struct it_tar_entry *e;
        int rc = resolve(src, name, &e, err);
        if (rc)
                return rc;
        rc = read_small(src->root_fd, e->offset, e->size, max, data, err);
        if (rc) {
                _cleanup_free_ char *q = it_quote(name, QUOTE_MAX);
                return it_error_wrap(err, "entry %s", q);
        }
        *len = (size_t)e->size;
        if (ent)
                *ent = e;
        return 0;
}

/* The docker save manifest.json item this source names. */
static int pick_image(struct it_source *src, const json_t *arr, const json_t **item, it_error *err)
{
        if (!json_is_array(arr) || json_array_size(arr) == 0)
                return it_error_set(err, IT_EINPUT, "manifest.json: expected a non-empty array");
        if (!src->tag) {
                if (json_array_size(arr) != 1)
                        return it_error_set(err, IT_EINPUT,
                                            "manifest.json: %zu images and none chosen (name one "
                                            "with docker-archive:PATH:NAME:TAG)",
                                            json_array_size(arr));
                *item = json_array_get(arr, 0);
                return 0;
        }
        /* containers/image compares normalised references; the short forms docker.io/library/
         * and docker.io/ are tried here. */
        _cleanup_free_ char *lib = xasprintf("docker.io/library/%s", src->tag);
        _cleanup_free_ char *hub = xasprintf("docker.io/%s", src->tag);
        _cleanup_buf_ struct it_buf tags = IT_BUF_INIT;
        size_t i;
        const json_t *it;
        json_array_foreach(arr, i, it)
        {
                const json_t *rt = json_is_object(it) ? json_object_get(it, "RepoTags") : NULL;
                size_t j;
                const json_t *t;
                json_array_foreach(rt, j, t)
                {
                        if (!json_is_string(t))
                                continue;
                        const char *s = json_string_value(t);
                        if (!strcmp(s, src->tag) || !strcmp(s, lib) || !strcmp(s, hub)) {
                                *item = it;
                                return 0;
                        }
                        if (tags.len)
                                it_buf_adds(&tags, ", ");
                        it_buf_add_quoted(&tags, s, strlen(s), QUOTE_MAX);
                }
        }
        _cleanup_free_ char *q = it_quote(src->tag, QUOTE_MAX);
        return it_error_set(err, IT_EINPUT, "manifest.json: no image tagged %s (tags: %s)", q,
                            tags.len ? it_buf_str(&tags) : "none");
}

static void add_descriptor(struct it_buf *m, const char *mt, int64_t size,
                           const struct it_digest *d)
{
        char ds[IT_DIGEST_STR_MAX];
        digest_format(d, ds);
        it_buf_addf(m, "{\"mediaType\":\"%s\",\"size\":%lld,\"digest\":\"%s\"}", mt,
                    (long long)size, ds);
}

int source_archive_load(struct it_source *src, it_error *err)
{
        int rc = read_tar(src, err);
        if (rc)
                return rc;
        _cleanup_free_ char *mj = NULL;
        size_t mjlen;
        rc = read_entry(src, "manifest.json", IT_SOURCE_JSON_MAX, &mj, &mjlen, NULL, err);
        if (rc)
                return rc;
        _cleanup_json_ json_t *arr = NULL;
        rc = it_json_parse(mj, mjlen, IT_SOURCE_JSON_MAX, "manifest.json", &arr, err);
        if (rc)
                return rc;
        const json_t *item = NULL;
        rc = pick_image(src, arr, &item, err);
        if (rc)
                return rc;
        const json_t *cfg = json_is_object(item) ? json_object_get(item, "Config") : NULL;
        const json_t *layers = json_is_object(item) ? json_object_get(item, "Layers") : NULL;
        if (!json_is_string(cfg) || !json_is_array(layers))
                return it_error_set(err, IT_EINPUT,
                                    "manifest.json: image lacks Config (string) and Layers "
                                    "(array)");
        _cleanup_free_ char *config = NULL;
        size_t clen;
        struct it_tar_entry *ce;
        rc = read_entry(src, json_string_value(cfg), IT_SOURCE_JSON_MAX, &config, &clen, &ce, err);
        if (rc)
                return rc;
        _cleanup_json_ json_t *cj = NULL;
        _cleanup_free_ char *cq = it_quote(json_string_value(cfg), QUOTE_MAX);
        rc = it_json_parse(config, clen, IT_SOURCE_JSON_MAX, cq, &cj, err);
        if (rc)
                return rc;
        const json_t *rootfs = json_is_object(cj) ? json_object_get(cj, "rootfs") : NULL;
        const json_t *diff_ids =
            json_is_object(rootfs) ? json_object_get(rootfs, "diff_ids") : NULL;
        if (!json_is_array(diff_ids))
                return it_error_set(err, IT_EINPUT, "config %s: rootfs.diff_ids: expected an array",
                                    cq);
        if (json_array_size(diff_ids) != json_array_size(layers))
                return it_error_set(err, IT_EINPUT,
                                    "config %s has %zu diff_ids, manifest.json lists %zu layers",
                                    cq, json_array_size(diff_ids), json_array_size(layers));

        struct it_digest cd;
        digest_compute(IT_DIGEST_SHA256, config, clen, &cd);
        ce->is_blob = true;
        ce->blob = cd;

        _cleanup_buf_ struct it_buf m = IT_BUF_INIT;
        it_buf_adds(&m, "{\"schemaVersion\":2,\"mediaType\":\"" IT_MT_DOCKER_V2S2 "\",\"config\":");
        add_descriptor(&m, MT_CONFIG, (int64_t)clen, &cd);
        it_buf_adds(&m, ",\"layers\":[");
        size_t i;
        const json_t *l;
        json_array_foreach(layers, i, l)
        {
                if (!json_is_string(l))
                        return it_error_set(err, IT_EINPUT,
                                            "manifest.json: Layers[%zu]: expected a string", i);
                const json_t *di = json_array_get(diff_ids, i);
                struct it_digest d;
                if (!json_is_string(di))
                        return it_error_set(err, IT_EINPUT,
                                            "config %s: rootfs.diff_ids[%zu]: expected a string",
                                            cq, i);
                rc = digest_parse(json_string_value(di), &d, err);
                if (rc)
                        return it_error_wrap(err, "config %s: rootfs.diff_ids[%zu]", cq, i);
                struct it_tar_entry *e;
                rc = resolve(src, json_string_value(l), &e, err);
                if (rc)
                        return it_error_wrap(err, "manifest.json: Layers[%zu]", i);
                unsigned char magic[4] = {0};
                if (e->size >= 4) {
                        rc = pread_all(src->root_fd, magic, 4, e->offset, err);
                        if (rc)
                                return rc;
                }
                if ((magic[0] == 0x1f && magic[1] == 0x8b) ||
                    !memcmp(magic, "\x28\xb5\x2f\xfd", 4) || !memcmp(magic, "BZh", 3))
                        return it_error_set(err, IT_EUNSUPPORTED,
                                            "manifest.json: Layers[%zu]: compressed layers are "
                                            "not supported",
                                            i);
                if (e->is_blob && !digest_equal(&e->blob, &d))
                        return it_error_set(err, IT_EINPUT,
                                            "manifest.json: Layers[%zu]: the entry is used with "
                                            "two different digests",
                                            i);
                e->is_blob = true;
                e->blob = d;
                if (i)
                        it_buf_addch(&m, ',');
                add_descriptor(&m, MT_LAYER, e->size, &d);
        }
        it_buf_adds(&m, "]}");

        src->manifest_len = m.len;
        src->manifest = it_buf_detach(&m);
        src->media_type = IT_MT_DOCKER_V2S2;
        rc = manifest_digest(src->manifest, src->manifest_len, &src->digest, err);
        if (rc)
                return rc;
        return source_collect_blobs(src, src->manifest, src->manifest_len, src->media_type, err);
}

int source_archive_open_blob(struct it_source *src, const struct it_digest *d, int *fd,
                             int64_t *size, it_error *err)
{
        char ds[IT_DIGEST_STR_MAX];
        digest_format(d, ds);
        const struct it_tar_entry *e = NULL;
        for (size_t i = 0; i < src->nentries && !e; i++)
                if (src->entries[i].is_blob && digest_equal(&src->entries[i].blob, d))
                        e = &src->entries[i];
        if (!e)
                return it_error_set(err, IT_EINPUT, "blob %s: not in the archive", ds);
        /* A new open file description, so each blob stream has its own offset. */
        _cleanup_free_ char *self = xasprintf("/proc/self/fd/%d", src->root_fd);
        _cleanup_close_ int f = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (f < 0)
                return it_error_sys(err, IT_EIO, errno, "blob %s: reopen archive", ds);
        struct stat a, b;
        if (fstat(f, &a) != 0 || fstat(src->root_fd, &b) != 0)
                return it_error_sys(err, IT_EIO, errno, "blob %s: stat", ds);
        if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
                return it_error_set(err, IT_EIO, "blob %s: archive changed while open", ds);
        if (lseek(f, (off_t)e->offset, SEEK_SET) < 0)
                return it_error_sys(err, IT_EIO, errno, "blob %s: seek", ds);
        *size = e->size;
        *fd = IT_STEAL_FD(f);
        return 0;
}
