/* imgsign: create simple-signing signatures (skopeo's standalone-sign, and more to come). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/cli.h"
#include "imgtrust/fs.h"
#include "imgtrust/gpg.h"
#include "imgtrust/lookaside.h"
#include "imgtrust/manifest.h"
#include "imgtrust/paths.h"
#include "imgtrust/payload.h"
#include "imgtrust/ref.h"
#include "imgtrust/regd.h"
#include "imgtrust/registry.h"
#include "imgtrust/version.h"
#include "imgtrust/xalloc.h"

static const char PROG[] = "imgsign";

static const char USAGE[] =
    "Usage: imgsign COMMAND [OPTIONS] ARGS\n"
    "\n"
    "Sign container image manifests with GPG (simple signing, as skopeo and podman do).\n"
    "\n"
    "Commands:\n"
    "  standalone -o SIG MANIFEST DOCKER-REFERENCE KEY\n"
    "          sign a manifest file for DOCKER-REFERENCE with KEY from your keyring\n"
    "\n"
    "Options:\n"
    "  -h, --help     show this help\n"
    "  --version      show the version\n"
    "\n"
    "Exit codes: 0 ok, 2 usage or bad input, 3 I/O error.\n";

static const char STANDALONE_HELP[] =
    "Usage: imgsign standalone [--passphrase-file FILE] -o SIGNATURE MANIFEST DOCKER-REFERENCE "
    "KEY\n"
    "\n"
    "Sign MANIFEST for DOCKER-REFERENCE (written into the signature as given) with KEY (a\n"
    "fingerprint or anything gpg accepts) from your keyring ($GNUPGHOME), as skopeo\n"
    "standalone-sign does. The primary key signs when it can; a signature by a subkey is\n"
    "refused by skopeo 1.9.3 and podman 4.3, and a warning says so.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE         where to write the signature (required)\n"
    "  --passphrase-file FILE    the key's passphrase is the first line of FILE\n"
    "  -h, --help                show this help\n";

static int fail(it_error *err)
{
        return it_cli_fail(PROG, err);
}

static int usage_error(const char *cmd, const char *msg)
{
        return it_cli_usage(PROG, cmd, msg);
}

static int cmd_standalone(int argc, char **argv)
{
        static const struct option lo[] = {{"output", required_argument, NULL, 'o'},
                                           {"passphrase-file", required_argument, NULL, 'p'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
        const char *output = NULL, *passfile = NULL;
        int c;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+o:h", lo, NULL)) != -1) {
                switch (c) {
                case 'o':
                        output = optarg;
                        break;
                case 'p':
                        passfile = optarg;
                        break;
                case 'h':
                        fputs(STANDALONE_HELP, stdout);
                        return 0;
                default:
                        return usage_error("standalone", "unknown option or missing value");
                }
        }
        if (argc - optind != 3)
                return usage_error(
                    "standalone",
                    "exactly three arguments are required: MANIFEST DOCKER-REFERENCE KEY");
        if (!output)
                return usage_error("standalone", "--output (-o) is required");
        const char *manifest_path = argv[optind], *ref = argv[optind + 1], *key = argv[optind + 2];
        if (!*ref)
                return usage_error("standalone", "DOCKER-REFERENCE must not be empty");

        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *passphrase = NULL;
        if (passfile && it_gpg_passphrase_file(passfile, &passphrase, &err) != 0)
                return fail(&err);
        _cleanup_free_ char *manifest = NULL;
        size_t mlen = 0;
        struct it_digest d;
        if (it_file_read(manifest_path, IT_MANIFEST_MAX, &manifest, &mlen, &err) != 0 ||
            manifest_digest(manifest, mlen, &d, &err) != 0) {
                it_error_wrap(&err, "%s", manifest_path);
                return fail(&err);
        }
        char ds[IT_DIGEST_STR_MAX];
        digest_format(&d, ds);
        _cleanup_buf_ struct it_buf payload = IT_BUF_INIT;
        payload_build(ref, ds, "imgtrust " IMGTRUST_VERSION, (int64_t)time(NULL), &payload);

        _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
        _cleanup_strv_ struct it_strv warnings = IT_STRV_INIT;
        if (it_gpg_sign(key, payload.data, payload.len, passphrase, &sig, &warnings, &err) != 0)
                return fail(&err);
        for (size_t i = 0; i < warnings.n; i++)
                fprintf(stderr, "%s: warning: %s\n", PROG, warnings.v[i]);
        if (it_file_replace(output, sig.data, sig.len, 0644, &err) != 0)
                return fail(&err);
        return 0;
}

static const char SIGN_HELP[] =
    "Usage: imgsign sign --sign-by KEY [OPTIONS] docker://REF\n"
    "\n"
    "Fetch the manifest the registry serves for REF, sign its digest with KEY from your\n"
    "keyring, and add the signature as the next free signature-N of the lookaside staging\n"
    "location registries.d gives for REF (lookaside-staging, else lookaside; without either,\n"
    "under your own data directory). Existing signatures are never replaced. Prints where\n"
    "it wrote and the URL consumers will read it from.\n"
    "\n"
    "Options:\n"
    "  --sign-by KEY            the key (fingerprint or anything gpg accepts); required\n"
    "  --sign-identity REF      identity to sign (canonical, with tag or digest); default REF\n"
    "  --registries.d DIR       registries.d directory (default: as imgtrust)\n"
    "  --creds USER:PASS        registry credentials\n"
    "  --tls-verify=false       do not verify TLS; try HTTPS, then plain HTTP\n"
    "  --passphrase-file FILE   the key's passphrase is the first line of FILE\n"
    "  -h, --help               show this help\n";

static int cmd_sign(int argc, char **argv)
{
        enum { OPT_SIGN_BY = 1000, OPT_IDENT, OPT_REGD, OPT_CREDS, OPT_TLS, OPT_PASS };
        static const struct option lo[] = {{"sign-by", required_argument, NULL, OPT_SIGN_BY},
                                           {"sign-identity", required_argument, NULL, OPT_IDENT},
                                           {"registries.d", required_argument, NULL, OPT_REGD},
                                           {"creds", required_argument, NULL, OPT_CREDS},
                                           {"tls-verify", optional_argument, NULL, OPT_TLS},
                                           {"passphrase-file", required_argument, NULL, OPT_PASS},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
        const char *key = NULL, *ident = NULL, *regd_opt = NULL, *creds = NULL, *passfile = NULL;
        bool tls_verify = true;
        int c;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
                switch (c) {
                case OPT_SIGN_BY:
                        key = optarg;
                        break;
                case OPT_IDENT:
                        ident = optarg;
                        break;
                case OPT_REGD:
                        regd_opt = optarg;
                        break;
                case OPT_CREDS:
                        creds = optarg;
                        break;
                case OPT_TLS:
                        if (!optarg || !strcmp(optarg, "true"))
                                tls_verify = true;
                        else if (!strcmp(optarg, "false"))
                                tls_verify = false;
                        else
                                return usage_error("sign", "--tls-verify takes true or false");
                        break;
                case OPT_PASS:
                        passfile = optarg;
                        break;
                case 'h':
                        fputs(SIGN_HELP, stdout);
                        return 0;
                default:
                        return usage_error("sign", "unknown option or missing value");
                }
        }
        if (!key)
                return usage_error("sign", "--sign-by KEY is required");
        if (argc - optind != 1 || strncmp(argv[optind], "docker://", 9) != 0)
                return usage_error("sign", "exactly one docker://REF is required");

        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref ref = IT_REF_INIT;
        if (ref_parse_normalized(argv[optind] + 9, &ref, &err) != 0)
                return fail(&err);
        if (ref.tag && ref.digest) {
                it_error_set(&err, IT_EINPUT,
                             "%s: references with both a tag and a digest are not supported",
                             argv[optind]);
                return fail(&err);
        }
        ref_tag_default(&ref);
        _cleanup_free_ char *identity = NULL;
        if (ident) {
                _cleanup_ref_ struct it_ref ir = IT_REF_INIT;
                if (ref_parse_canonical(ident, &ir, &err) != 0) {
                        it_error_wrap(&err, "--sign-identity");
                        return fail(&err);
                }
                if (ref_is_name_only(&ir)) {
                        it_error_set(&err, IT_EINPUT, "--sign-identity %s: needs a tag or a digest",
                                     ident);
                        return fail(&err);
                }
                identity = ref_string(&ir);
        } else {
                identity = ref_string(&ref);
        }
        _cleanup_free_ char *passphrase = NULL;
        if (passfile && it_gpg_passphrase_file(passfile, &passphrase, &err) != 0)
                return fail(&err);
        _cleanup_free_ char *regd_dir = it_path_registries_d(regd_opt);
        struct it_regd regd = IT_REGD_INIT;
        if (regd_load_dir(regd_dir, &regd, &err) != 0)
                return fail(&err);

        /* Sign exactly what the registry serves now. */
        struct it_registry *client = NULL;
        _cleanup_buf_ struct it_buf manifest = IT_BUF_INIT;
        struct it_digest d;
        int rc = registry_client_new(ref.domain, tls_verify, creds, &client, &err);
        if (rc == 0)
                rc = registry_get_manifest(client, ref.path, ref.digest ? ref.digest : ref.tag,
                                           NULL, &manifest, NULL, &d, &err);
        registry_client_free(client);
        char ds[IT_DIGEST_STR_MAX] = "";
        _cleanup_buf_ struct it_buf payload = IT_BUF_INIT;
        _cleanup_buf_ struct it_buf sig = IT_BUF_INIT;
        _cleanup_strv_ struct it_strv warnings = IT_STRV_INIT;
        _cleanup_free_ char *base = NULL, *written = NULL, *read_url = NULL;
        unsigned index = 0;
        struct it_regd_choice ch = {0};
        if (rc == 0) {
                digest_format(&d, ds);
                payload_build(identity, ds, "imgtrust " IMGTRUST_VERSION, (int64_t)time(NULL),
                              &payload);
                rc = it_gpg_sign(key, payload.data, payload.len, passphrase, &sig, &warnings, &err);
        }
        for (size_t i = 0; i < warnings.n; i++)
                fprintf(stderr, "%s: warning: %s\n", PROG, warnings.v[i]);
        if (rc == 0)
                rc = lookaside_write_base(&regd, &ref, &base, &err);
        if (rc == 0)
                rc = lookaside_write_append(base, ref.path, ds, sig.data, sig.len, &written, &index,
                                            &err);
        if (rc == 0)
                rc = regd_lookaside(&regd, &ref, IT_REGD_READ, &ch, &err);
        if (rc == 0)
                rc = regd_signature_url(ch.url, ref.path, ds, index, &read_url, &err);
        regd_choice_free(&ch);
        regd_free(&regd);
        if (rc != 0) {
                it_error_wrap(&err, "%s", argv[optind]);
                return fail(&err);
        }
        printf("Signed %s for %s\n", ds, identity);
        printf("Wrote %s\n", written);
        printf("Consumers read it from %s\n", read_url);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "%s: a command is required (see '%s --help')\n", PROG, PROG);
                return IT_EXIT_INPUT;
        }
        const char *cmd = argv[1];
        if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
                fputs(USAGE, stdout);
                return 0;
        }
        if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
                it_cli_version(PROG);
                return 0;
        }
        if (!strcmp(cmd, "standalone"))
                return cmd_standalone(argc - 1, argv + 1);
        if (!strcmp(cmd, "sign"))
                return cmd_sign(argc - 1, argv + 1);
        fprintf(stderr, "%s: unknown command \"%s\" (see '%s --help')\n", PROG, cmd, PROG);
        return IT_EXIT_INPUT;
}
