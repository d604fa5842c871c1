/* Registry credentials from containers-auth.json(5) files, as containers/image 5.23 (podman
 * 4.3, skopeo 1.9) finds them for a registry.
 *
 * Files, in order (a missing one is skipped; the first that yields credentials wins):
 *   1. the primary file: an explicit --authfile, else $REGISTRY_AUTH_FILE (both must exist, as
 *      podman checks), else $XDG_RUNTIME_DIR/containers/auth.json (skipped when that directory
 *      does not exist), else /run/containers/$UID/auth.json when XDG_RUNTIME_DIR is unset;
 *   2. ${XDG_CONFIG_HOME:-$HOME/.config}/containers/auth.json;
 *   3. $DOCKER_CONFIG/config.json if DOCKER_CONFIG is set, else $HOME/.docker/config.json;
 *   4. $HOME/.dockercfg (docker's legacy format: the top level is the "auths" object).
 * An explicit file does not stop the search: the later files are still read, as upstream does.
 *
 * Within a file: a credHelpers entry for the host comes first (external helpers are not
 * supported: IT_EUNSUPPORTED naming the helper); then the most specific of the keys
 * "host/ns/repo", "host/ns", "host" present in "auths" decides, alone; failing those, the first
 * key (file order) that is an http(s):// URL whose host part is the host ("https://h:5000/v1/"),
 * where docker.io, registry-1.docker.io and index.docker.io are one registry (docker login's
 * "https://index.docker.io/v1/"), or, for a plain key, is another name of Docker Hub.
 * The entry's "auth" is base64("user:password") as Go decodes it (line breaks skipped,
 * non-canonical last bits tolerated); an empty auth, one without ':', or an entry holding only
 * an "identitytoken" gives nothing from this file and the search goes on to the next file, as
 * skopeo 1.9 does (identity tokens are never used here; with both, the password is). The
 * password loses leading and trailing NUL bytes as upstream; any other NUL is IT_EINPUT (it
 * cannot be sent). "credsStore" is ignored, as containers/image ignores it. Bad JSON, wrong
 * types or bad base64 are IT_EINPUT naming the file and key; unlike Go, duplicate keys are
 * refused (strict JSON). Secrets never appear in messages.
 */
#ifndef IMGTRUST_AUTHFILE_H
#define IMGTRUST_AUTHFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "imgtrust/error.h"

/* Largest auth file read (the same value as lookaside_http.h's). */
#ifndef IT_AUTHFILE_MAX
#define IT_AUTHFILE_MAX (1u << 20)
#endif

/* Flags for authfile_parse_flags / authfile_lookup_sources. */
#define IT_AUTHFILE_LEGACY 1u         /* the file is a ~/.dockercfg (per source, set from it) */
#define IT_AUTHFILE_STRICT_BASE64 2u  /* no line breaks, canonical last bits only */
#define IT_AUTHFILE_REQUIRE_COLON 4u  /* an auth without ':' or with NUL bytes is IT_EINPUT */
#define IT_AUTHFILE_IGNORE_HELPERS 8u /* credHelpers entries are ignored, not IT_EUNSUPPORTED */

struct it_authfile_source {
        char *path;
        bool legacy;     /* ~/.dockercfg format */
        bool must_exist; /* missing is IT_EINPUT instead of skipped */
};

struct it_authfile_sources {
        struct it_authfile_source *v;
        size_t n;
};

#define IT_AUTHFILE_SOURCES_INIT                                                                   \
        {                                                                                          \
                0                                                                                  \
        }

/* The files above for an explicit authfile (NULL: none given), read from the environment
 * ($REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR, $XDG_CONFIG_HOME, $DOCKER_CONFIG, $HOME, else the
 * password database for the home directory), appended to *out. */
void authfile_sources(const char *authfile, struct it_authfile_sources *out);
void authfile_sources_add(struct it_authfile_sources *s, const char *path, bool legacy,
                          bool must_exist);
void authfile_sources_free(struct it_authfile_sources *s);

/* Credentials for host ("host[:port]", as in the image name: "docker.io" for Docker Hub) and
 * repo_path ("ns/repo", or NULL for the registry's own entry) from the files of src in order.
 * 0 with *userpwd "user:password" (allocated) and *from_file the file's path (allocated; pass
 * NULL to not ask), or 0 with both NULL when no file has usable credentials. */
int authfile_lookup_sources(const struct it_authfile_sources *src, const char *host,
                            const char *repo_path, unsigned flags, char **userpwd, char **from_file,
                            it_error *err);

/* authfile_sources(authfile) then authfile_lookup_sources with no flags. */
int authfile_lookup(const char *host, const char *repo_path, const char *authfile, char **userpwd,
                    char **from_file, it_error *err);

/* One file's text (len bytes, at most IT_AUTHFILE_MAX), named `what` in messages: 0 with
 * *userpwd allocated, or NULL when this file gives nothing for host/repo_path. */
int authfile_parse(const char *data, size_t len, const char *what, const char *host,
                   const char *repo_path, char **userpwd, it_error *err);
int authfile_parse_flags(const char *data, size_t len, const char *what, const char *host,
                         const char *repo_path, unsigned flags, char **userpwd, it_error *err);

#endif
