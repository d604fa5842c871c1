/* imgrun: run a stored image in a rootless, hardened container (imgtrust/container.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/cli.h"
#include "imgtrust/container.h"
#include "imgtrust/error.h"
#include "imgtrust/strv.h"

static const char PROG[] = "imgrun";

static const char USAGE[] =
    "Usage: imgrun [--root DIR] [OPTIONS] IMAGE [CMD [ARG...]]\n"
    "\n"
    "Run a command in a new container of IMAGE (as imgstore names it), in the foreground.\n"
    "The container gets new user, mount, PID, IPC, UTS, cgroup and network namespaces\n"
    "(loopback only); the user namespace maps 0 to you and 1..N to your range in\n"
    "/etc/subuid and /etc/subgid, as podman does (for root: a range of its own from the\n"
    "\"containers\" entry, as podman --userns=auto). The image's Entrypoint, Cmd, Env,\n"
    "WorkingDir and User apply. Hardening, by default: podman's 11 capabilities, podman's\n"
    "seccomp profile plus a socket family filter, no_new_privs, masked and read-only /proc\n"
    "and /sys paths, read-only /sys, a fresh /dev; see imgrun(1) for where that is stricter\n"
    "than podman.\n"
    "\n"
    "Options:\n"
    "  --root DIR                 the store (default: as imgpull)\n"
    "  --rm                       remove the container's directory when it exits\n"
    "  --read-only                mount the root filesystem read-only (tmpfs on /tmp,\n"
    "                             /var/tmp and /run)\n"
    "  --entrypoint CMD           overwrite the image's Entrypoint (a word or a JSON array)\n"
    "  -e, --env KEY[=VALUE]      set an environment variable (KEY alone, or KEY*: from\n"
    "                             imgrun's environment)\n"
    "  -w, --workdir DIR          working directory in the container\n"
    "  -u, --user USER[:GROUP]    run as USER (name or UID; names from the image's files)\n"
    "  --hostname NAME            the container's hostname (default: 12 characters of its ID)\n"
    "  --cap-add CAP[,CAP...]     add capabilities (CAP_NET_RAW, net_raw, or all)\n"
    "  --cap-drop CAP[,CAP...]    drop capabilities (all: every one)\n"
    "  --privileged               all capabilities (in the user namespace), no seccomp filter\n"
    "                             unless one is given, no masked or read-only paths, /sys\n"
    "                             writable. It keeps the user namespace, no_new_privs unless\n"
    "                             turned off, and the fresh /dev (no host devices)\n"
    "  --security-opt OPT         no-new-privileges[=true|false] (default true, stricter\n"
    "                             than podman), mask=/P1:/P2, unmask=/P|ALL,\n"
    "                             seccomp=unconfined|PROFILE.json, seccomp:allow:NAME,\n"
    "                             seccomp:deny:NAME, seccomp:deny:all\n"
    "  --secret NAME              mount the file $XDG_CONFIG_HOME/imgtrust/secrets/NAME\n"
    "                             (root: /etc/imgtrust/secrets/NAME) read-only at\n"
    "                             /run/secrets/NAME; it is never copied\n"
    "  --pid host                 share the host's PID namespace\n"
    "  --network none|host        none (default): loopback only; host: the host's network\n"
    "  --userns host              root only: no user namespace (container root is host root)\n"
    "  --memory, --memory-swap, --cpus, --cpu-shares, --pids-limit VALUE\n"
    "                             refused: imgrun sets up no cgroups, and a limit it\n"
    "                             cannot enforce is an error, never skipped\n"
    "  --init                     run a small init as PID 1 that reaps zombies and forwards\n"
    "                             signals\n"
    "  -t, --tty                  give the command a terminal\n"
    "  -i, --interactive          pass stdin (else the command reads /dev/null)\n"
    "  -h, --help                 show this help\n"
    "  --version                  show the version\n"
    "\n"
    "Exit status: the command's (128+N when signal N ended it); 125 when imgrun itself\n"
    "failed (bad option or image, setup), 126 when the command cannot be executed, 127\n"
    "when it is not found, as podman run.\n";

static int usage(const char *msg)
{
        fprintf(stderr, "%s: %s (see 'imgrun --help')\n", PROG, msg);
        return IT_RUN_EXIT_SETUP;
}

static void push_list(struct it_strv *v, const char *arg)
{
        _cleanup_free_ char *copy = strdup(arg);
        char *save = NULL;
        for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
                it_strv_push(v, t);
}

static int security_opt(struct it_run_opts *o, const char *arg)
{
        if (strcmp(arg, "no-new-privileges") == 0 || strcmp(arg, "no-new-privileges=true") == 0 ||
            strcmp(arg, "no-new-privileges:true") == 0) {
                o->no_new_privs = 1;
                return 0;
        }
        if (strcmp(arg, "no-new-privileges=false") == 0 ||
            strcmp(arg, "no-new-privileges:false") == 0) {
                o->no_new_privs = 0;
                return 0;
        }
        if (strncmp(arg, "mask=", 5) == 0 || strncmp(arg, "unmask=", 7) == 0) {
                bool un = arg[0] == 'u';
                const char *list = arg + (un ? 7 : 5);
                _cleanup_free_ char *copy = strdup(list);
                char *save = NULL;
                for (char *t = copy ? strtok_r(copy, ":", &save) : NULL; t;
                     t = strtok_r(NULL, ":", &save)) {
                        if (t[0] != '/' && !(un && strcmp(t, "ALL") == 0)) {
                                fprintf(stderr,
                                        "%s: --security-opt %s: \"%s\" is not an "
                                        "absolute path\n",
                                        PROG, arg, t);
                                return -1;
                        }
                        it_strv_push(un ? &o->unmask : &o->mask, t);
                }
                return 0;
        }
        if (strncmp(arg, "seccomp=", 8) == 0 && arg[8]) {
                o->seccomp = arg + 8;
                return 0;
        }
        if (strcmp(arg, "seccomp:deny:all") == 0 ||
            (strncmp(arg, "seccomp:allow:", 14) == 0 && arg[14]) ||
            (strncmp(arg, "seccomp:deny:", 13) == 0 && arg[13])) {
                it_strv_push(&o->seccomp_rules, arg + 8);
                return 0;
        }
        fprintf(stderr, "%s: --security-opt \"%s\": unknown option (see 'imgrun --help')\n", PROG,
                arg);
        return -1;
}

int main(int argc, char **argv)
{
        enum {
                OPT_ROOT = 1000,
                OPT_RM,
                OPT_READ_ONLY,
                OPT_ENTRYPOINT,
                OPT_HOSTNAME,
                OPT_CAP_ADD,
                OPT_CAP_DROP,
                OPT_PRIVILEGED,
                OPT_SECURITY,
                OPT_SECRET,
                OPT_PID,
                OPT_NETWORK,
                OPT_USERNS,
                OPT_INIT,
                OPT_LIMIT,
                OPT_VERSION
        };
        static const struct option lo[] = {
            {"root", required_argument, NULL, OPT_ROOT},
            {"rm", no_argument, NULL, OPT_RM},
            {"read-only", no_argument, NULL, OPT_READ_ONLY},
            {"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
            {"env", required_argument, NULL, 'e'},
            {"workdir", required_argument, NULL, 'w'},
            {"user", required_argument, NULL, 'u'},
            {"hostname", required_argument, NULL, OPT_HOSTNAME},
            {"cap-add", required_argument, NULL, OPT_CAP_ADD},
            {"cap-drop", required_argument, NULL, OPT_CAP_DROP},
            {"privileged", no_argument, NULL, OPT_PRIVILEGED},
            {"security-opt", required_argument, NULL, OPT_SECURITY},
            {"secret", required_argument, NULL, OPT_SECRET},
            {"pid", required_argument, NULL, OPT_PID},
            {"network", required_argument, NULL, OPT_NETWORK},
            {"net", required_argument, NULL, OPT_NETWORK},
            {"userns", required_argument, NULL, OPT_USERNS},
            {"init", no_argument, NULL, OPT_INIT},
            {"memory", required_argument, NULL, OPT_LIMIT},
            {"pids-limit", required_argument, NULL, OPT_LIMIT},
            {"cpus", required_argument, NULL, OPT_LIMIT},
            {"memory-swap", required_argument, NULL, OPT_LIMIT},
            {"cpu-shares", required_argument, NULL, OPT_LIMIT},
            {"tty", no_argument, NULL, 't'},
            {"interactive", no_argument, NULL, 'i'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, OPT_VERSION},
            {NULL, 0, NULL, 0},
        };
        struct it_run_opts o __attribute__((cleanup(run_opts_free)));
        run_opts_init(&o);
        opterr = 0;
        int c;
        /* '+': options end at IMAGE; what follows belongs to the command. */
        int li = 0;
        while ((c = getopt_long(argc, argv, "+e:w:u:tih", lo, &li)) != -1) {
                switch (c) {
                case OPT_ROOT:
                        o.store_root = optarg;
                        break;
                case OPT_RM:
                        o.rm = true;
                        break;
                case OPT_READ_ONLY:
                        o.read_only = true;
                        break;
                case OPT_ENTRYPOINT:
                        o.entrypoint = optarg;
                        break;
                case 'e':
                        it_strv_push(&o.env, optarg);
                        break;
                case 'w':
                        o.workdir = optarg;
                        break;
                case 'u':
                        o.user = optarg;
                        break;
                case OPT_HOSTNAME:
                        if (!optarg[0] || strlen(optarg) > 64)
                                return usage("--hostname takes 1 to 64 characters");
                        o.hostname = optarg;
                        break;
                case OPT_CAP_ADD:
                        push_list(&o.cap_add, optarg);
                        break;
                case OPT_CAP_DROP:
                        push_list(&o.cap_drop, optarg);
                        break;
                case OPT_PRIVILEGED:
                        o.privileged = true;
                        break;
                case OPT_SECURITY:
                        if (security_opt(&o, optarg) < 0)
                                return IT_RUN_EXIT_SETUP;
                        break;
                case OPT_SECRET:
                        it_strv_push(&o.secrets, optarg);
                        break;
                case OPT_PID:
                        if (strcmp(optarg, "host") == 0)
                                o.pid_host = true;
                        else if (strcmp(optarg, "private") != 0)
                                return usage("--pid takes host or private");
                        break;
                case OPT_NETWORK:
                        if (strcmp(optarg, "host") == 0)
                                o.network = IT_NET_HOST;
                        else if (strcmp(optarg, "none") == 0 || strcmp(optarg, "private") == 0)
                                o.network = IT_NET_PRIVATE;
                        else
                                return usage("--network takes none or host");
                        break;
                case OPT_USERNS:
                        if (strcmp(optarg, "host") == 0)
                                o.userns_host = true;
                        else if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "") != 0)
                                return usage("--userns takes auto or host");
                        break;
                case OPT_INIT:
                        o.init = true;
                        break;
                case OPT_LIMIT:
                        /* A limit asked for and not enforced would be a lie: refuse. */
                        fprintf(stderr,
                                "%s: --%s %s: cannot be enforced: imgrun sets up no cgroups, so "
                                "it has no way to apply resource limits; refusing to run "
                                "without it\n",
                                PROG, lo[li].name, optarg);
                        return IT_RUN_EXIT_SETUP;
                case 't':
                        o.tty = true;
                        break;
                case 'i':
                        o.interactive = true;
                        break;
                case 'h':
                        fputs(USAGE, stdout);
                        return 0;
                case OPT_VERSION:
                        it_cli_version(PROG);
                        return 0;
                default:
                        if (optopt && optopt < 256)
                                fprintf(stderr,
                                        "%s: -%c: unknown option or missing value "
                                        "(see 'imgrun --help')\n",
                                        PROG, optopt);
                        else
                                fprintf(stderr,
                                        "%s: %s: unknown option or missing value "
                                        "(see 'imgrun --help')\n",
                                        PROG, argv[optind - 1]);
                        return IT_RUN_EXIT_SETUP;
                }
        }
        if (optind >= argc)
                return usage("an IMAGE is required");
        o.image = argv[optind];
        o.cmd = (const char *const *)argv + optind + 1;
        o.ncmd = (size_t)(argc - optind - 1);
        if (o.userns_host && geteuid() != 0)
                return usage("--userns host: only root can run a container without a user "
                             "namespace");
        if (o.userns_host)
                fprintf(stderr,
                        "%s: warning: --userns host: no user namespace; container root is "
                        "host root, its capabilities are real, and files it writes are "
                        "root's\n",
                        PROG);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int status = 0, exec_errno = 0;
        if (container_run(&o, &status, &exec_errno, &err) < 0) {
                it_error_print(PROG, &err);
                if (exec_errno)
                        return exec_errno == ENOENT ? IT_RUN_EXIT_NOTFOUND : IT_RUN_EXIT_NOEXEC;
                return IT_RUN_EXIT_SETUP;
        }
        return status;
}
