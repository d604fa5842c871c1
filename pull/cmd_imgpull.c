/* imgpull: pull an image from a registry into the store, after policy.json accepted it. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/cli.h"
#include "imgtrust/json.h"
#include "imgtrust/pull.h"

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
    "Limitation (first cut): no user namespace yet. As root the files get the owners in the\n"
    "layers; as any other user every file is owned by the caller (the layers' owners are\n"
    "ignored), and whiteouts need Linux 5.8 or later (unprivileged mknod of 0/0).\n"
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
    "  -h, --help                  show this help\n"
    "  --version                   show the version\n"
    "\n"
    "Exit codes: 0 pulled, 1 rejected by policy, 2 usage or bad input, 3 I/O or network error.\n";

static int usage(const char *msg)
{
        fprintf(stderr, "%s: %s (see '%s --help')\n", PROG, msg, PROG);
        return IT_EXIT_INPUT;
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
                OPT_VERSION
        };
        static const struct option lo[] = {{"policy", required_argument, NULL, OPT_POLICY},
                                           {"registries.d", required_argument, NULL, OPT_REGD},
                                           {"platform", required_argument, NULL, OPT_PLATFORM},
                                           {"root", required_argument, NULL, OPT_ROOT},
                                           {"jobs", required_argument, NULL, OPT_JOBS},
                                           {"creds", required_argument, NULL, OPT_CREDS},
                                           {"authfile", required_argument, NULL, OPT_AUTH},
                                           {"tls-verify", optional_argument, NULL, OPT_TLS},
                                           {"json", no_argument, NULL, OPT_JSON},
                                           {"help", no_argument, NULL, 'h'},
                                           {"version", no_argument, NULL, OPT_VERSION},
                                           {NULL, 0, NULL, 0}};
        struct it_pull_opts o = {.tls_flag = -1};
        const char *platform = NULL;
        bool json = false;
        int c;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
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
                case OPT_JOBS: {
                        char *end = NULL;
                        long n = strtol(optarg, &end, 10);
                        if (!*optarg || *end || n < 1 || n > 64)
                                return usage("--jobs takes a number from 1 to 64");
                        o.jobs = (int)n;
                        break;
                }
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

        struct it_pull_result res = IT_PULL_RESULT_INIT;
        if (pull_image(&o, argv[optind], &res, &err) != 0) {
                pull_result_free(&res);
                return it_cli_fail(PROG, &err);
        }
        fprintf(stderr, "%s: %s: %zu layers fetched (%lld bytes), %zu already present\n", PROG,
                res.name, res.fetched, (long long)res.fetched_bytes, res.present);
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
