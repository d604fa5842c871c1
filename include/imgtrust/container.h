/* imgrun's runtime: launch a stored image in new namespaces with podman's default hardening
 * (runtime-storage.md §5, §6), rootless by default.
 *
 * A container lives in the store as
 *
 *   containers/<id>/container.json   {"id","image","pid","start-time","uid-start","uid-count"}
 *                                     written when the process starts; pid + start time tell a
 *                                     running container from a stale record (as mount records)
 *   containers/<id>/upper, work/     the overlay's upper and work directories
 *   containers/<id>/merged/          the mount point of the root filesystem (only in the
 *                                     container's mount namespace)
 *   containers/<id>/hosts, hostname  bind-mounted at /etc/hosts and /etc/hostname
 *
 * and the whole directory goes away after exit with --rm. Secrets never land there: each is
 * bind-mounted from its own file onto a tmpfs at /run/secrets.
 */
#ifndef IMGTRUST_CONTAINER_H
#define IMGTRUST_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>

#include "imgtrust/error.h"
#include "imgtrust/strv.h"

/* imgrun's own failures, as podman reports them (the container's status is passed through). */
enum {
        IT_RUN_EXIT_SETUP = 125,   /* bad option, image or setup failure */
        IT_RUN_EXIT_NOEXEC = 126,  /* the command exists but cannot be executed */
        IT_RUN_EXIT_NOTFOUND = 127 /* the command was not found */
};

enum it_run_network { IT_NET_PRIVATE, IT_NET_HOST };

struct it_run_opts {
        const char *store_root; /* NULL: store_default_root() */
        const char *image;      /* as imgstore names it */
        const char *const *cmd; /* CMD [ARG...] after the image */
        size_t ncmd;
        const char *entrypoint; /* --entrypoint, NULL when not given */
        struct it_strv env;     /* -e, in order */
        const char *workdir;
        const char *user;
        const char *hostname;
        struct it_strv cap_add, cap_drop;
        bool privileged;
        bool read_only;
        bool rm;
        bool init;
        bool tty;
        bool interactive;
        int no_new_privs; /* -1: default (on), 0, 1 */
        /* seccomp: "unconfined", a profile path, or NULL for the default profile; then the
         * per-syscall knobs in order ("allow:NAME", "deny:NAME", "deny:all"). */
        const char *seccomp;
        struct it_strv seccomp_rules;
        struct it_strv mask, unmask; /* absolute paths; unmask may hold "ALL" and globs */
        struct it_strv secrets;      /* names */
        bool pid_host;
        enum it_run_network network;
        bool userns_host; /* root only: no user namespace */
};

void run_opts_init(struct it_run_opts *o);
void run_opts_free(struct it_run_opts *o);

/* Run the container in the foreground: stdio passed through (or a pty with tty), signals
 * forwarded, wait for it to exit. *status gets its exit status (128 + N when killed by signal N).
 * Errors before the container's command started are returned (IT_EINPUT for bad options or
 * image, IT_EIO otherwise); *exec_errno is set when the command itself could not be executed
 * (ENOENT, EACCES, ...), so the caller can exit 127 or 126. */
int container_run(const struct it_run_opts *o, int *status, int *exec_errno, it_error *err);

#endif
