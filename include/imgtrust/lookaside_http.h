/* Publishing signatures to an http(s):// lookaside (lookaside-staging) by HTTP PUT, e.g. to
 * nginx's dav module, and the lookaside's own credentials from a containers auth file. */
#ifndef IMGTRUST_LOOKASIDE_HTTP_H
#define IMGTRUST_LOOKASIDE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "imgtrust/error.h"

/* Largest auth file read. */
#define IT_AUTHFILE_MAX (1u << 20)

struct it_lookaside_put_opts {
        bool tls_verify;
        /* "user:password" for Basic authentication at the lookaside (never the registry's), or
         * NULL. Sent only to the base URL's host: no request follows a redirect. */
        const char *userpwd;
};

/* Add blob (at most IT_LOOKASIDE_SIG_MAX bytes) as the lowest free signature-N of digest under the
 * http(s):// base_url. N from 1 is probed with HEAD (200 taken, 404 free, anything else fails
 * naming the URL and status); the free one is PUT with `If-None-Match: *` (412 means taken: try
 * N+1), 201 or 204 is success, and the file is read back twice, the second time after twice this
 * writer's probe-and-PUT time: other bytes mean another writer's PUT of the same name landed
 * later, so N+1 is tried. Residual race: a server that ignores If-None-Match (nginx's dav module
 * does) lets a PUT replace a file written after that writer's probe; a replacement arriving after
 * the second read-back (a writer stalled that long) loses the first signature silently. No
 * redirect is followed (IT_EIO naming the
 * Location); 401/403 are IT_EIO saying the lookaside refused the credentials (never printed).
 * N beyond IT_LOOKASIDE_MAX_SIGS, a bad digest or path, credentials in the URL or another scheme
 * are IT_EINPUT. *url_written (allocated; may be NULL to not ask) and *index (may be NULL) say
 * where it went. opts NULL: TLS verified, no credentials. */
int lookaside_put_append(const char *base_url, const char *repo_path, const char *digest,
                         const void *blob, size_t len, const struct it_lookaside_put_opts *opts,
                         char **url_written, unsigned *index, it_error *err);

/* Credentials for host ("host[:port]") from a containers auth file
 * ({"auths":{"HOST":{"auth":"base64(user:pass)"}}}; keys may carry an http(s):// prefix and a
 * path, as docker writes them; an exact key wins). authfile NULL: $XDG_RUNTIME_DIR/containers/
 * auth.json, then ~/.docker/config.json, missing files skipped, the first with an entry wins; a
 * given authfile must exist. *userpwd is "user:pass" (allocated) or NULL when no file has an
 * entry (or the entry's auth is empty). Bad JSON, wrong types, bad base64 or a decoded value
 * without ':' are IT_EINPUT naming the file and key. */
int lookaside_put_creds_from_authfile(const char *host, const char *authfile, char **userpwd,
                                      it_error *err);

/* The parser behind it: data (len bytes) is the auth file's text, `what` names it in messages.
 * 0 with *userpwd NULL when there is no entry for host. */
int lookaside_put_creds_parse(const char *data, size_t len, const char *what, const char *host,
                              char **userpwd, it_error *err);

#endif
