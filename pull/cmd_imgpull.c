/* imgpull: pull an image from a registry into the store, after policy.json accepted it. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/cli.h"
#include "imgtrust/json.h"
#include "imgtrust/progress.h"
#include "imgtrust/pull.h"
#include "imgtrust/unpack.h"

static const char PROG[] = "imgpull";

static const char USAGE[] =
    "Usage: imgpull [OPTIONS] docker://REF\n"
    "\n"
    "Pull an image into the imgtrust store. policy.json decides first, with the signatures\n"
    "checked against the manifest that will be pulled (for a manifest list: the instance for\n"
    "the platform), exactly as imgverify does; a rejected image writes nothing to the store.\n"
    "Then the config and the layers the store lacks are fetched (in parallel), digest-checked,\n"
    "unpacked and committed together, and the image is recorded under REF (tag default latest).\n"
    "The last line printed is the image ID, sha256:<config digest>.\n"
    "\n"
    "Each layer streams from the registry into its directory in one pass, both digests checked\n"
    "on the way; it becomes visible only when complete. Owners: as root, the layers' own; as a\n"
    "user with a range in /etc/subuid and /etc/subgid, the layers are unpacked in a user\n"
    "namespace with podman's mapping (0 -> you, 1..N -> the range), and an ID beyond the range\n"
    "stops the pull at once with the /etc/subuid line that fixes it; as a user without a range,\n"
    "every file is owned by you (a warning says so).\n"
    "\n"
    "Options:\n"
    "  --policy FILE               policy.json (default: as imgtrust)\n"
    "  --registries.d DIR          registries.d directory (default: as imgtrust)\n"
    "  --platform OS/ARCH[/VARIANT]  instance of a manifest list (default: linux, this\n"
    "                              machine's architecture)\n"
    "  --root DIR                  the store (default: /var/lib/imgtrust/storage for root,\n"
    "                              else $XDG_DATA_HOME/imgtrust/storage)\n"
    "  --jobs N                    parallel layer downloads (default: number of CPUs)\n"
    "  --creds USER:PASS           registry credentials (else the containers auth files)\n"
    "  --authfile FILE             the auth file to read first\n"
    "  --tls-verify=false          do not verify TLS; try HTTPS, then plain HTTP (default: as\n"
    "                              registries.conf says for the registry)\n"
    "  --json                      print one JSON object {id, digest, name, layers}\n"
    "  --max-layer-bytes N         refuse a layer whose tar stream exceeds N bytes (64 GiB)\n"
    "  --max-layer-entries N       refuse a layer with more than N entries (500000)\n"
    "  --max-layer-name N          refuse a path or link target longer than N bytes (4096)\n"
    "  --max-layer-ratio N         refuse a layer expanding more than N:1 once past 1 GiB\n"
    "                              (100; 0 turns the check off)\n"
    "  --progress                  show progress even when stderr is not a terminal\n"
    "  -q, --quiet                 no progress and no summary\n"
    "  -h, --help                  show this help\n"
    "  --version                   show the version\n"
    "\n"
    "Exit codes: 0 pulled, 1 rejected by policy, 2 usage or bad input, 3 I/O or network error.\n";

static int usage(const char *msg)
{
        fprintf(stderr, "%s: %s (see '%s --help')\n", PROG, msg, PROG);
        return IT_EXIT_INPUT;
}

/* A whole decimal number in [lo, hi]; 0, or -1 when it is not one. */
static int number(const char *s, long long lo, long long hi, long long *out)
{
        char *end = NULL;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (!*s || *end || errno || v < lo || v > hi)
                return -1;
        *out = v;
        return 0;
}

int main(int argc, char **argv)
{
        enum {
                OPT_POLICY = 1000,
                OPT_REGD,
                OPT_PLATFORM,
                OPT_ROOT,
                OPT_JOBS,
                OPT_CREDS,
                OPT_AUTH,
                OPT_TLS,
                OPT_JSON,
                OPT_MAX_BYTES,
                OPT_MAX_ENTRIES,
                OPT_MAX_NAME,
                OPT_MAX_RATIO,
                OPT_PROGRESS,
                OPT_VERSION
        };
        static const struct option lo[] = {
            {"policy", required_argument, NULL, OPT_POLICY},
            {"registries.d", required_argument, NULL, OPT_REGD},
            {"platform", required_argument, NULL, OPT_PLATFORM},
            {"root", required_argument, NULL, OPT_ROOT},
            {"jobs", required_argument, NULL, OPT_JOBS},
            {"creds", required_argument, NULL, OPT_CREDS},
            {"authfile", required_argument, NULL, OPT_AUTH},
            {"tls-verify", optional_argument, NULL, OPT_TLS},
            {"json", no_argument, NULL, OPT_JSON},
            {"max-layer-bytes", required_argument, NULL, OPT_MAX_BYTES},
            {"max-layer-entries", required_argument, NULL, OPT_MAX_ENTRIES},
            {"max-layer-name", required_argument, NULL, OPT_MAX_NAME},
            {"max-layer-ratio", required_argument, NULL, OPT_MAX_RATIO},
            {"progress", no_argument, NULL, OPT_PROGRESS},
            {"quiet", no_argument, NULL, 'q'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, OPT_VERSION},
            {NULL, 0, NULL, 0},
        };
        struct it_pull_opts o = {.tls_flag = -1};
        struct it_unpack_limits limits;
        unpack_limits_default(&limits);
        o.limits = &limits;
        long long n;
        const char *platform = NULL;
        bool json = false, progress = false, quiet = false;
        int c;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "hq", lo, NULL)) != -1) {
                switch (c) {
                case OPT_POLICY:
                        o.policy = optarg;
                        break;
                case OPT_REGD:
                        o.regd = optarg;
                        break;
                case OPT_PLATFORM:
                        platform = optarg;
                        break;
                case OPT_ROOT:
                        o.root = optarg;
                        break;
                case OPT_JOBS:
                        if (number(optarg, 1, 64, &n))
                                return usage("--jobs takes a number from 1 to 64");
                        o.jobs = (int)n;
                        break;
                case OPT_CREDS:
                        o.creds = optarg;
                        break;
                case OPT_AUTH:
                        o.authfile = optarg;
                        break;
                case OPT_TLS:
                        if (it_cli_bool(optarg, &o.tls_flag))
                                return usage("--tls-verify takes true or false");
                        break;
                case OPT_JSON:
                        json = true;
                        break;
                case OPT_MAX_BYTES:
                        if (number(optarg, 1, INT64_MAX, &n))
                                return usage("--max-layer-bytes takes a positive number");
                        limits.max_bytes = n;
                        break;
                case OPT_MAX_ENTRIES:
                        if (number(optarg, 1, INT64_MAX, &n))
                                return usage("--max-layer-entries takes a positive number");
                        limits.max_entries = n;
                        break;
                case OPT_MAX_NAME:
                        if (number(optarg, 1, 1 << 20, &n))
                                return usage("--max-layer-name takes a number from 1 to 1048576");
                        limits.max_name = (size_t)n;
                        break;
                case OPT_MAX_RATIO:
                        if (number(optarg, 0, INT64_MAX, &n))
                                return usage("--max-layer-ratio takes a number (0: no check)");
                        limits.max_ratio = n;
                        break;
                case OPT_PROGRESS:
                        progress = true;
                        break;
                case 'q':
                        quiet = true;
                        break;
                case 'h':
                        fputs(USAGE, stdout);
                        return 0;
                case OPT_VERSION:
                        it_cli_version(PROG);
                        return 0;
                default:
                        return usage("unknown option or missing value");
                }
        }
        if (argc - optind != 1)
                return usage("exactly one docker://REF is required");

        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *os = NULL, *arch = NULL, *variant = NULL;
        if (platform && pull_parse_platform(platform, &os, &arch, &variant, &err) != 0)
                return it_cli_fail(PROG, &err);
        o.os = os;
        o.arch = arch;
        o.variant = variant;

        struct it_progress prog = {.out = stderr, .tty = isatty(STDERR_FILENO) != 0};
        if (!quiet && (prog.tty || progress)) {
                o.progress = progress_push_cb;
                o.progress_ctx = &prog;
        }
        struct it_pull_result res = IT_PULL_RESULT_INIT;
        int rc = pull_image(&o, argv[optind], &res, &err);
        progress_free(&prog);
        if (res.warning)
                fprintf(stderr, "%s: warning: %s\n", PROG, res.warning);
        if (rc != 0) {
                pull_result_free(&res);
                return it_cli_fail(PROG, &err);
        }
        if (!quiet)
                fprintf(stderr, "%s: %s: %zu layers fetched (%lld bytes), %zu already present\n",
                        PROG, res.name, res.fetched, (long long)res.fetched_bytes, res.present);
        if (json) {
                _cleanup_json_ json_t *j = json_object();
                json_object_set_new(j, "id", json_string(res.id));
                json_object_set_new(j, "digest", json_string(res.digest));
                json_object_set_new(j, "name", json_string(res.name));
                json_t *ls = json_array();
                for (size_t i = 0; i < res.layers.n; i++)
                        json_array_append_new(ls, json_string(res.layers.v[i]));
                json_object_set_new(j, "layers", ls);
                _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
                it_json_write_go(&b, j, 2);
                puts(it_buf_str(&b));
        } else {
                printf("%s\n", res.id);
        }
        pull_result_free(&res);
        return 0;
}
