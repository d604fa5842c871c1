/* The process imgrun starts: argv, environment, working directory and user, from the image config
 * (runtime-storage.md §1.3) and podman-style options, merged as podman 4.3.1 merges them:
 *
 *   argv (pkg/specgen/generate/oci.go makeCommand): Entrypoint ++ Cmd; an entrypoint of exactly
 *     [""] counts as none; CMD given on the command line replaces the image Cmd and keeps the
 *     Entrypoint; --entrypoint replaces the Entrypoint and drops the image Cmd, unless CMD is
 *     given or the new entrypoint is an empty list ("[]"). An empty result is IT_EINPUT (podman
 *     fails later, at exec).
 *   env (pkg/specgen/generate/container.go CompleteSpec; specgenutil parseEnv): containers.conf's
 *     default env (PATH=..., TERM=xterm, always, not only with -t), container=imgtrust, then the
 *     image Env, then each -e in order; a later value for a key replaces the earlier one in place,
 *     so the order is the order keys were first seen (podman goes through a Go map: its order is
 *     random). HOSTNAME and HOME are added last, each only when absent (libpod generateSpec).
 *     container= says which engine runs the container (systemd-detect-virt reports it); we say
 *     "imgtrust", not "podman"; -e container=podman restores podman's value.
 *   cwd: -w, else WorkingDir, else "/"; always absolute.
 *   user: --user, else User, else root; resolved by procspec_resolve_user against the image's own
 *     /etc/passwd and /etc/group, as runc's user.GetExecUser does for podman and crun.
 */
#ifndef IMGTRUST_PROCSPEC_H
#define IMGTRUST_PROCSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "imgtrust/error.h"

/* Bounds on what an image config (or the command line) may ask for. Strings are bounded by the
 * kernel's MAX_ARG_STRLEN (NUL included); the totals keep argv and env well inside ARG_MAX. */
#define IT_PROCSPEC_CONFIG_MAX ((size_t)4 << 20)
#define IT_PROCSPEC_ARGV_MAX 4096
#define IT_PROCSPEC_ENV_MAX 4096
#define IT_PROCSPEC_STRING_MAX 131071
#define IT_PROCSPEC_TOTAL_MAX ((size_t)1 << 20)
/* /etc/passwd and /etc/group of an image are read up to this size. */
#define IT_PROCSPEC_IDFILE_MAX ((size_t)4 << 20)
#define IT_PROCSPEC_GROUPS_MAX 65536

/* Podman's defaults (containers.conf env, umask). */
#define IT_PROCSPEC_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define IT_PROCSPEC_DEFAULT_TERM "TERM=xterm"
#define IT_PROCSPEC_CONTAINER_ENV "container=imgtrust"
#define IT_PROCSPEC_UMASK 0022

struct it_procspec {
        /* The result; argv and env are NULL-terminated (argc, nenv not counting the NULL). */
        char **argv;
        size_t argc;
        char **env; /* "KEY=VALUE", keys unique */
        size_t nenv;
        char *cwd;
        uid_t uid;
        gid_t gid;
        gid_t *groups; /* supplementary groups */
        size_t ngroups;
        bool user_given; /* the image or --user named a user (else root by default) */
        char *user;      /* the user string that applies, "" for none */
        char *hostname;  /* NULL until procspec_apply_options is given one */
        mode_t umask;

        /* The image config as parsed, kept for procspec_apply_options. */
        char **img_entrypoint; /* NULL when the config has none */
        size_t img_nentrypoint;
        char **img_cmd;
        size_t img_ncmd;
        char **img_env;
        size_t img_nenv;
        char *img_workdir; /* NULL when absent or "" */
        char *img_user;    /* NULL when absent or "" */
};

/* podman run's options that shape the process. Every member may be NULL/0 (not given). */
struct it_procspec_opts {
        const char *const *cmd; /* CMD [ARG...] after the image name */
        size_t ncmd;
        /* --entrypoint as podman takes it: a JSON array of strings ('["/bin/sh","-c"]'), else one
         * word ("/bin/sh"); "" is [""], which means no entrypoint and no image Cmd. */
        const char *entrypoint;
        const char *const *env; /* -e/--env, in order: KEY=VALUE, KEY, or KEY* */
        size_t nenv;
        /* Where -e KEY and -e KEY* take values from ("KEY=VALUE", NULL-terminated); NULL means
         * the process's own environ. */
        const char *const *caller_env;
        const char *workdir;  /* -w */
        const char *user;     /* --user */
        const char *hostname; /* the container's hostname, for HOSTNAME */
};

void procspec_init(struct it_procspec *spec);
void procspec_free(struct it_procspec *spec);
#define _cleanup_procspec_ __attribute__((cleanup(procspec_free)))

/* Parse an image config (OCI or Docker; both name the members Entrypoint, Cmd, Env, WorkingDir,
 * User under "config") into spec's img_* members (allocated; procspec_free releases them).
 * Strict: each present member must have its type (null counts as absent, as in Go), Env entries
 * KEY=VALUE with a non-empty KEY, WorkingDir absolute, strings without NUL, counts and sizes within
 * the IT_PROCSPEC_* bounds. Other members are ignored. Errors are IT_EINPUT naming the JSON path:
 * "config: config.Env[3]: not KEY=VALUE". spec must be fresh (procspec_init). */
int procspec_from_config(const char *config, size_t len, struct it_procspec *spec, it_error *err);

/* Build argv, env, cwd, user and hostname from the parsed config and opts (NULL: no options), as
 * described at the top. Replaces any earlier result. Errors (IT_EINPUT): no command, a bad -e
 * ("-e \"=A\": invalid environment variable"), a relative -w, bounds exceeded. */
int procspec_apply_options(struct it_procspec *spec, const struct it_procspec_opts *opts,
                           it_error *err);

/* Resolve user_string (NULL: spec->user) against the image's /etc/passwd and /etc/group, opened
 * beneath rootfs_dirfd with it_openat_beneath (a symlink anywhere on the way is an error, never
 * followed). Forms: "" (root), UID, NAME, with ":GID" or ":GROUP". Sets uid, gid (the given group,
 * else the user's primary group from passwd, else 0), groups (when no group is given: every group
 * of /etc/group listing the user's name, as runc does), and HOME=<passwd home, else "/"> when the
 * env has no HOME. A missing /etc/passwd or /etc/group is fine for numeric ids. Errors: IT_EINPUT
 * for an unknown name ("user \"x\": no such user in the image's /etc/passwd"), a malformed file
 * ("/etc/passwd: line 3: ..."), a symlinked or non-regular file; IT_EIO for a failed read. */
int procspec_resolve_user(struct it_procspec *spec, int rootfs_dirfd, const char *user_string,
                          it_error *err);

#endif
