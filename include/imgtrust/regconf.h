/* containers-registries.conf(5): which registries are blocked or insecure, where a name is
 * really pulled from, as containers/image 5.23 (podman 4.3, skopeo 1.9) reads it.
 *
 * Files, in the order read:
 *   1. the main file: an explicit path, else $CONTAINERS_REGISTRIES_CONF (as podman; skopeo 1.9
 *      ignores the variable), else $HOME/.config/containers/registries.conf if it exists, else
 *      ROOT/etc/containers/registries.conf. A missing default main file is an empty one; a
 *      missing explicit one is an error. The user's file is found through $HOME only:
 *      containers/image does not look at $XDG_CONFIG_HOME for it.
 *   2. drop-ins: the *.conf files (not directories) of ROOT/etc/containers/registries.conf.d in
 *      byte order of their names, then those of $HOME/.config/containers/registries.conf.d; only
 *      the latter when the main file is the user's. Missing directories are skipped. Drop-ins
 *      are read even with an explicit main file, as containers/image does.
 * Merging: a later file's [[registry]] replaces an earlier one with the same prefix (whatever
 * else it says); unqualified-search-registries and credential-helpers replace earlier lists when
 * the key is present (even as []); a non-empty short-name-mode replaces; an alias replaces the
 * same name and "" erases it. A user drop-in does not hide a system drop-in of the same name:
 * both are read, the user's later.
 *
 * Each file is TOML (the subset of imgtrust/toml.h), either V2 (top-level
 * unqualified-search-registries, short-name-mode, credential-helpers; [[registry]] with prefix,
 * location, insecure, blocked, mirror-by-digest-only and [[registry.mirror]] with location,
 * insecure, pull-from-mirror; [aliases]) or V1 ([registries.search], [registries.insecure],
 * [registries.block], each `registries = [...]`), never both with content (drop-ins: V2 only).
 * Validation follows containers/image's postProcessRegistries and loadConfigFile, with its
 * messages; unlike it, keys and tables it would silently ignore are errors here, and duplicate
 * keys are errors (as TOML says). Errors are IT_EINPUT "FILE:LINE: what is wrong" (IT_EIO for
 * unreadable files).
 */
#ifndef IMGTRUST_REGCONF_H
#define IMGTRUST_REGCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "imgtrust/error.h"

/* Largest registries.conf (or drop-in) read. */
#define IT_REGCONF_MAX (1u << 20)
/* Most drop-in files read from one directory. */
#define IT_REGCONF_MAX_DROPINS 1024

/* The credential helper name that means "the auth files" (containers-auth.json(5)). */
#define IT_REGCONF_AUTH_FILES_HELPER "containers-auth.json"

enum it_short_name_mode {
        IT_SHORT_NAME_PERMISSIVE = 0, /* the default */
        IT_SHORT_NAME_ENFORCING,
        IT_SHORT_NAME_DISABLED
};

enum it_pull_from_mirror {
        IT_PULL_FROM_MIRROR_ALL = 0, /* "all" or not given */
        IT_PULL_FROM_MIRROR_DIGEST_ONLY,
        IT_PULL_FROM_MIRROR_TAG_ONLY
};

struct it_regconf_mirror {
        char *location;
        bool insecure;
        enum it_pull_from_mirror pull_from_mirror;
};

struct it_regconf_registry {
        char *prefix;   /* trailing '/' removed; the location when not given */
        char *location; /* trailing '/' removed; "" only with a "*.domain" prefix */
        bool insecure;
        bool blocked;
        bool mirror_by_digest_only;
        struct it_regconf_mirror *mirrors;
        size_t nmirrors;
        char *file;    /* the file that defined this entry, for messages */
        unsigned line; /* its [[registry]] header (V1: the list naming it) */
};

struct it_regconf_alias {
        char *name;
        char *value; /* fully qualified name; "" (single files only) erases the alias */
        char *file;
};

struct it_regconf {
        /* Unique prefixes, sorted bytewise (as containers/image keeps them; ties in
         * regconf_find go to the first). */
        struct it_regconf_registry *registries;
        size_t nregistries;
        /* unqualified-search-registries, NULL-terminated, host[:port] each. */
        char **search;
        size_t nsearch;
        bool search_set;   /* the key was present (a drop-in's [] clears earlier lists) */
        char *search_file; /* the file that set them, or NULL */
        /* credential-helpers; after regconf_load never empty (default: the auth files). */
        char **credential_helpers;
        size_t ncredential_helpers;
        bool credential_helpers_set;
        enum it_short_name_mode short_name_mode;
        bool short_name_mode_set;
        struct it_regconf_alias *aliases; /* sorted by name */
        size_t naliases;
        char **files; /* every file read, in order, NULL-terminated */
        size_t nfiles;
};

/* Read the configuration. path: the main file (must exist), or NULL for $CONTAINERS_REGISTRIES_CONF
 * or the default locations. root: prefix of the system paths (/etc/containers/...), NULL or ""
 * for the real root (tests give a temporary directory). home: the user's home, NULL for $HOME
 * (else the password database). *out is allocated (regconf_free). */
int regconf_load(const char *path, const char *root, const char *home, struct it_regconf **out,
                 it_error *err);

/* One file's text (len bytes, at most IT_REGCONF_MAX), named `what` in messages and entries.
 * drop_in: V1 is refused. The result is what this file says, validated, before any merging or
 * defaults (short-name mode and credential helpers keep their *_set flags; "" aliases stay).
 * *out is allocated (regconf_free). */
int regconf_parse_file_data(const char *data, size_t len, const char *what, bool drop_in,
                            struct it_regconf **out, it_error *err);

struct it_regconf_match {
        const struct it_regconf_registry *registry; /* NULL: no entry matches */
        size_t match_len; /* bytes of the name the prefix covered (a "*." prefix: up to the end
                             of the matched domain) */
        /* Copied from registry for convenience (false/NULL without a match). */
        bool insecure;
        bool blocked;
        const char *prefix;
        const char *location;
        const char *file;
};

/* The entry for name "host[:port][/path]" (no tag or digest; containers/image also passes
 * "docker.io/library/x" for Docker Hub names): the longest matching prefix, where a prefix
 * matches when it equals the name or is followed in it by '/', ':' or '@', and "*.example.com"
 * matches hosts ending in ".example.com" at any depth. Returns true and fills *out on a match;
 * false (with *out cleared) otherwise. Pointers stay valid until regconf_free. */
bool regconf_find(const struct it_regconf *conf, const char *name, struct it_regconf_match *out);

/* Where name is really found: the entry's location followed by what the prefix did not match,
 * or name itself (no match, or an empty location). Allocated. */
char *regconf_rewrite(const struct it_regconf_match *m, const char *name);

/* 0, or IT_EINPUT "registry PREFIX is blocked in FILE (line N)" when name's entry is blocked. */
int regconf_check_blocked(const struct it_regconf *conf, const char *name, it_error *err);

/* The value of alias `name`, or NULL. */
const char *regconf_alias(const struct it_regconf *conf, const char *name);

void regconf_free(struct it_regconf *conf);

#endif
