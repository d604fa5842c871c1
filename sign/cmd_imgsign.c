/* imgsign: create simple-signing signatures (skopeo's standalone-sign, and more to come). */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>
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
#include "imgtrust/endpoint.h"
#include "imgtrust/paths.h"
#include "imgtrust/progress.h"
#include "imgtrust/publish.h"
#include "imgtrust/push.h"
#include "imgtrust/source.h"
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
    "  push [--sign-by KEY]... [OPTIONS] SOURCE docker://DEST\n"
    "          push an image to a registry, sign the digest it serves, publish and check\n"
    "          the signatures\n"
    "  sign --sign-by KEY [OPTIONS] docker://REF\n"
    "          sign what a registry serves for REF and publish the signature\n"
    "  standalone -o SIG MANIFEST DOCKER-REFERENCE KEY\n"
    "          sign a manifest file for DOCKER-REFERENCE with KEY from your keyring\n"
    "\n"
    "Options:\n"
    "  -h, --help     show this help\n"
    "  --version      show the version\n"
    "\n"
    "Exit codes: 0 ok, 1 a published signature could not be read back and verified,\n"
    "2 usage or bad input, 3 I/O or network error.\n";

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
    "under your own data directory): a file:// location, or an http(s):// lookaside-staging\n"
    "written by HTTP PUT. Existing signatures are never replaced. Prints where it wrote and\n"
    "the URL consumers will read it from.\n"
    "\n"
    "Options:\n"
    "  --sign-by KEY            the key (fingerprint or anything gpg accepts); required\n"
    "  --sign-identity REF      identity to sign (canonical, with tag or digest); default REF\n"
    "  --registries.d DIR       registries.d directory (default: as imgtrust)\n"
    "  --creds USER:PASS        registry credentials (else the auth files)\n"
    "  --tls-verify=false       do not verify TLS; try HTTPS, then plain HTTP (default: as\n"
    "                           registries.conf says for the registry)\n"
    "  --passphrase-file FILE   the key's passphrase is the first line of FILE\n"
    "  --lookaside-creds USER:PASS  credentials for an http(s) lookaside-staging server\n"
    "  --authfile FILE          registry and lookaside credentials (default: containers auth\n"
    "                           files)\n"
    "  -h, --help               show this help\n";

static int cmd_sign(int argc, char **argv)
{
        enum {
                OPT_SIGN_BY = 1000,
                OPT_IDENT,
                OPT_REGD,
                OPT_CREDS,
                OPT_TLS,
                OPT_PASS,
                OPT_LCREDS,
                OPT_AUTH
        };
        static const struct option lo[] = {{"sign-by", required_argument, NULL, OPT_SIGN_BY},
                                           {"sign-identity", required_argument, NULL, OPT_IDENT},
                                           {"registries.d", required_argument, NULL, OPT_REGD},
                                           {"creds", required_argument, NULL, OPT_CREDS},
                                           {"tls-verify", optional_argument, NULL, OPT_TLS},
                                           {"passphrase-file", required_argument, NULL, OPT_PASS},
                                           {"lookaside-creds", required_argument, NULL, OPT_LCREDS},
                                           {"authfile", required_argument, NULL, OPT_AUTH},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
        const char *key = NULL, *ident = NULL, *regd_opt = NULL, *creds = NULL, *passfile = NULL;
        const char *lookaside_creds = NULL, *authfile = NULL;
        int tls_flag = -1;
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
                        if (it_cli_bool(optarg, &tls_flag))
                                return usage_error("sign", "--tls-verify takes true or false");
                        tls_verify = tls_flag;
                        break;
                case OPT_PASS:
                        passfile = optarg;
                        break;
                case OPT_LCREDS:
                        lookaside_creds = optarg;
                        break;
                case OPT_AUTH:
                        authfile = optarg;
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
        struct it_endpoint ep = IT_ENDPOINT_INIT;
        struct it_endpoint_flags fl = {
            .tls_verify = tls_flag, .creds = creds, .authfile = authfile};
        int rc = endpoint_resolve(ref.domain, ref.path, &fl, &ep, &err);
        if (rc == 0)
                rc = endpoint_client(&ep, &client, &err);
        endpoint_free(&ep);
        if (rc == 0)
                rc = registry_get_manifest(client, ref.path, ref.digest ? ref.digest : ref.tag,
                                           NULL, &manifest, NULL, &d, &err);
        registry_client_free(client);
        char ds[IT_DIGEST_STR_MAX] = "";
        _cleanup_free_ char *read_url = NULL;
        struct it_gpg_signer *signer = NULL;
        if (rc == 0)
                rc = it_gpg_signer_new(key, passphrase, &signer, &err);
        struct it_publish_opts po = {.regd = &regd,
                                     .dest = &ref,
                                     .identity = identity,
                                     .signers = &signer,
                                     .nsigners = 1,
                                     .lookaside_creds = lookaside_creds,
                                     .authfile = authfile,
                                     .tls_verify = tls_verify};
        struct it_publish_result pub = {0};
        _cleanup_strv_ struct it_strv warnings = IT_STRV_INIT;
        struct it_regd_choice ch = {0};
        if (rc == 0) {
                digest_format(&d, ds);
                rc = publish_signatures(&po, &d, 1, &pub, &warnings, &err);
        }
        it_gpg_signer_free(signer);
        for (size_t i = 0; i < warnings.n; i++)
                fprintf(stderr, "%s: warning: %s\n", PROG, warnings.v[i]);
        if (rc == 0)
                rc = regd_lookaside(&regd, &ref, IT_REGD_READ, &ch, &err);
        if (rc == 0)
                rc = regd_signature_url(ch.url, ref.path, ds, pub.v[0].index, &read_url, &err);
        regd_choice_free(&ch);
        regd_free(&regd);
        if (rc != 0) {
                publish_result_free(&pub);
                it_error_wrap(&err, "%s", argv[optind]);
                return fail(&err);
        }
        printf("Signed %s for %s\n", ds, identity);
        printf("Wrote %s\n", pub.v[0].written);
        printf("Consumers read it from %s\n", read_url);
        publish_result_free(&pub);
        return 0;
}

static const char PUSH_HELP[] =
    "Usage: imgsign push [--sign-by KEY]... [OPTIONS] SOURCE docker://DEST\n"
    "\n"
    "Push SOURCE to the registry as DEST: blobs the registry lacks go up in parallel, blobs it\n"
    "has are skipped, blobs of another repository of the same registry are mounted; an index\n"
    "is pushed whole, every child manifest first. With --sign-by, the digest the registry\n"
    "then serves (for an index: the index and every instance) is signed with each KEY, each\n"
    "signature is added as the next free signature-N of DEST's lookaside staging location\n"
    "(registries.d; file:// or, by HTTP PUT, http(s)://), then read back from where\n"
    "consumers read (DEST's lookaside) and verified as they would. Prints the manifest digest\n"
    "alone on stdout.\n"
    "\n"
    "SOURCE: oci:PATH[:TAG], dir:PATH, docker-archive:PATH[:NAME:TAG], docker://REF.\n"
    "\n"
    "Options:\n"
    "  --sign-by KEY              sign with KEY from your keyring (repeatable)\n"
    "  --sign-identity REF        the identity to sign (canonical, with tag or digest);\n"
    "                             default: DEST\n"
    "  --passphrase-file FILE     the key's passphrase is the first line of FILE\n"
    "  --registries.d DIR         registries.d directory (default: as imgtrust)\n"
    "  --creds USER:PASS          destination registry credentials (also --dest-creds)\n"
    "  --dest-tls-verify=false    do not verify the destination's TLS; try HTTPS, then HTTP\n"
    "  --dest-cert-dir DIR        certificates for the destination (else certs.d)\n"
    "  --src-creds USER:PASS      source registry credentials (docker:// sources)\n"
    "  --src-tls-verify=false     do not verify the source registry's TLS\n"
    "  --src-cert-dir DIR         certificates for the source (else certs.d)\n"
    "  --authfile FILE            registry and lookaside credentials (default: containers\n"
    "                             auth files)\n"
    "  --registries-conf FILE     registries.conf (default: podman's locations)\n"
    "  --lookaside-creds USER:PASS  credentials for an http(s) lookaside staging server\n"
    "  --lookaside-tls-verify=false  do not verify the lookaside's TLS\n"
    "  --digestfile FILE          also write the manifest digest to FILE\n"
    "  --jobs N                   parallel blob uploads (default 6)\n"
    "  --progress                 show progress even when stderr is not a terminal\n"
    "  -q, --quiet                no progress and no summary\n"
    "  -h, --help                 show this help\n"
    "\n"
    "Exit codes: 0 pushed (and signed); 1 a signature could not be read back and verified\n"
    "(the image is pushed); 2 usage or bad input; 3 I/O or network error.\n";

struct push_args {
        struct it_strv keys;
        const char *ident, *passfile, *regd, *digestfile, *authfile, *regconf;
        const char *lookaside_creds;
        int lookaside_tls;
        struct it_endpoint_flags dest, src;
        int jobs;
        bool progress, quiet;
};

static int parse_push(int argc, char **argv, struct push_args *a)
{
        enum {
                O_SIGN_BY = 1000,
                O_IDENT,
                O_PASS,
                O_REGD,
                O_CREDS,
                O_DTLS,
                O_DCERT,
                O_SCREDS,
                O_STLS,
                O_SCERT,
                O_AUTH,
                O_REGCONF,
                O_LCREDS,
                O_LTLS,
                O_DIGESTFILE,
                O_JOBS,
                O_PROGRESS,
        };
        static const struct option lo[] = {
            {"sign-by", required_argument, NULL, O_SIGN_BY},
            {"sign-identity", required_argument, NULL, O_IDENT},
            {"passphrase-file", required_argument, NULL, O_PASS},
            {"registries.d", required_argument, NULL, O_REGD},
            {"creds", required_argument, NULL, O_CREDS},
            {"dest-creds", required_argument, NULL, O_CREDS},
            {"dest-tls-verify", optional_argument, NULL, O_DTLS},
            {"tls-verify", optional_argument, NULL, O_DTLS},
            {"dest-cert-dir", required_argument, NULL, O_DCERT},
            {"src-creds", required_argument, NULL, O_SCREDS},
            {"src-tls-verify", optional_argument, NULL, O_STLS},
            {"src-cert-dir", required_argument, NULL, O_SCERT},
            {"authfile", required_argument, NULL, O_AUTH},
            {"registries-conf", required_argument, NULL, O_REGCONF},
            {"lookaside-creds", required_argument, NULL, O_LCREDS},
            {"lookaside-tls-verify", optional_argument, NULL, O_LTLS},
            {"digestfile", required_argument, NULL, O_DIGESTFILE},
            {"jobs", required_argument, NULL, O_JOBS},
            {"progress", no_argument, NULL, O_PROGRESS},
            {"quiet", no_argument, NULL, 'q'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0}};
        a->dest.tls_verify = a->src.tls_verify = -1;
        a->lookaside_tls = 1;
        int c;
        optind = 1;
        opterr = 0;
        /* Options may follow the arguments, as skopeo allows. */
        while ((c = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
                switch (c) {
                case O_SIGN_BY:
                        it_strv_push(&a->keys, optarg);
                        break;
                case O_IDENT:
                        a->ident = optarg;
                        break;
                case O_PASS:
                        a->passfile = optarg;
                        break;
                case O_REGD:
                        a->regd = optarg;
                        break;
                case O_CREDS:
                        a->dest.creds = optarg;
                        break;
                case O_DTLS:
                        if (it_cli_bool(optarg, &a->dest.tls_verify))
                                return usage_error("push", "--dest-tls-verify takes true or false");
                        break;
                case O_DCERT:
                        a->dest.certs_dir = optarg;
                        break;
                case O_SCREDS:
                        a->src.creds = optarg;
                        break;
                case O_STLS:
                        if (it_cli_bool(optarg, &a->src.tls_verify))
                                return usage_error("push", "--src-tls-verify takes true or false");
                        break;
                case O_SCERT:
                        a->src.certs_dir = optarg;
                        break;
                case O_AUTH:
                        a->authfile = optarg;
                        break;
                case O_REGCONF:
                        a->regconf = optarg;
                        break;
                case O_LCREDS:
                        a->lookaside_creds = optarg;
                        break;
                case O_LTLS:
                        if (it_cli_bool(optarg, &a->lookaside_tls))
                                return usage_error("push",
                                                   "--lookaside-tls-verify takes true or false");
                        break;
                case O_DIGESTFILE:
                        a->digestfile = optarg;
                        break;
                case O_JOBS: {
                        char *end;
                        long n = strtol(optarg, &end, 10);
                        if (!*optarg || *end || n < 1 || n > 64)
                                return usage_error("push", "--jobs takes a number from 1 to 64");
                        a->jobs = (int)n;
                        break;
                }
                case O_PROGRESS:
                        a->progress = true;
                        break;
                case 'q':
                        a->quiet = true;
                        break;
                case 'h':
                        fputs(PUSH_HELP, stdout);
                        return 0;
                default:
                        return usage_error("push", "unknown option or missing value");
                }
        }
        a->dest.authfile = a->src.authfile = a->authfile;
        a->dest.regconf = a->src.regconf = a->regconf;
        if (argc - optind != 2)
                return usage_error("push", "exactly two arguments are required: SOURCE "
                                           "docker://DEST");
        if (strncmp(argv[optind + 1], "docker://", 9) != 0)
                return usage_error("push", "the destination must be docker://REF");
        static const char *const transports[] = {"oci:", "dir:", "docker-archive:", "docker://"};
        for (size_t i = 0; i < sizeof transports / sizeof transports[0]; i++)
                if (!strncmp(argv[optind], transports[i], strlen(transports[i])))
                        return -1;
        _cleanup_free_ char *q = it_quote(argv[optind], 200);
        fprintf(stderr,
                "%s: %s: unknown source transport (expected oci:, dir:, docker-archive: or "
                "docker://)\n",
                PROG, q);
        return IT_EXIT_INPUT;
}

/* docker://REF as a source: its registry's endpoint and a client reading it. */
static int open_docker_source(const char *spec, const struct it_endpoint_flags *flags,
                              struct it_endpoint *ep, struct it_source **src, it_error *err)
{
        _cleanup_ref_ struct it_ref r = IT_REF_INIT;
        int rc = ref_parse_normalized(spec + 9, &r, err);
        if (rc)
                return it_error_wrap(err, "%s", spec);
        if (r.tag && r.digest)
                return it_error_set(err, IT_EINPUT,
                                    "%s: references with both a tag and a digest are not "
                                    "supported",
                                    spec);
        ref_tag_default(&r);
        rc = endpoint_resolve(r.domain, r.path, flags, ep, err);
        if (rc)
                return it_error_wrap(err, "%s", spec);
        struct it_registry *c = NULL;
        rc = endpoint_client(ep, &c, err);
        if (rc)
                return rc;
        return source_open_docker(spec, c, r.domain, r.path, r.digest ? r.digest : r.tag, src, err);
}

static void print_summary(const struct it_push_result *res, const char *dest, const char *ds)
{
        char up[24];
        progress_format_bytes(res->bytes_uploaded, up, sizeof up);
        fprintf(stderr, "%s: pushed %s as %s: %zu blob%s uploaded (%s), %zu already there", PROG,
                ds, dest, res->uploaded, res->uploaded == 1 ? "" : "s", up, res->existed);
        if (res->mounted)
                fprintf(stderr, ", %zu mounted", res->mounted);
        if (res->ninstances)
                fprintf(stderr, ", %zu instance manifest%s", res->ninstances,
                        res->ninstances == 1 ? "" : "s");
        fputc('\n', stderr);
}

static int cmd_push(int argc, char **argv)
{
        struct push_args a = {.keys = IT_STRV_INIT};
        int prc = parse_push(argc, argv, &a);
        if (prc >= 0) {
                it_strv_free(&a.keys);
                return prc;
        }
        const char *src_spec = argv[optind], *dest_spec = argv[optind + 1];
        _cleanup_strv_ struct it_strv keys = a.keys;
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_ref_ struct it_ref dest = IT_REF_INIT;
        if (ref_parse_normalized(dest_spec + 9, &dest, &err) != 0) {
                it_error_wrap(&err, "%s", dest_spec);
                return fail(&err);
        }
        if (dest.tag && dest.digest) {
                it_error_set(&err, IT_EINPUT,
                             "%s: references with both a tag and a digest are not supported",
                             dest_spec);
                return fail(&err);
        }
        if (!dest.digest)
                ref_tag_default(&dest);
        _cleanup_free_ char *identity = NULL;
        if (a.ident) {
                _cleanup_ref_ struct it_ref ir = IT_REF_INIT;
                if (ref_parse_canonical(a.ident, &ir, &err) != 0) {
                        it_error_wrap(&err, "--sign-identity");
                        return fail(&err);
                }
                if (ref_is_name_only(&ir)) {
                        it_error_set(&err, IT_EINPUT, "--sign-identity %s: needs a tag or a digest",
                                     a.ident);
                        return fail(&err);
                }
                identity = ref_string(&ir);
        } else {
                identity = ref_string(&dest);
        }
        _cleanup_free_ char *passphrase = NULL;
        if (a.passfile && it_gpg_passphrase_file(a.passfile, &passphrase, &err) != 0)
                return fail(&err);
        _cleanup_free_ char *regd_dir = it_path_registries_d(a.regd);
        struct it_regd regd = IT_REGD_INIT;
        if (regd_load_dir(regd_dir, &regd, &err) != 0)
                return fail(&err);
        /* A key that cannot sign fails here, before anything is pushed. */
        struct it_gpg_signer **signers = xcalloc(keys.n + 1, sizeof *signers);
        for (size_t i = 0; i < keys.n; i++) {
                if (it_gpg_signer_new(keys.v[i], passphrase, &signers[i], &err) != 0) {
                        for (size_t k = 0; k < i; k++)
                                it_gpg_signer_free(signers[k]);
                        free(signers);
                        regd_free(&regd);
                        it_error_wrap(&err, "--sign-by");
                        return fail(&err);
                }
        }
        struct it_endpoint dep = IT_ENDPOINT_INIT, sep = IT_ENDPOINT_INIT;
        struct it_source *src = NULL;
        struct it_push_result res = {0};
        struct it_publish_result pub = {0};
        struct it_progress prog = {.out = stderr, .tty = isatty(STDERR_FILENO) != 0};
        struct it_publish_opts pu = {.regd = &regd,
                                     .dest = &dest,
                                     .identity = identity,
                                     .signers = signers,
                                     .nsigners = keys.n,
                                     .lookaside_creds = a.lookaside_creds,
                                     .authfile = a.authfile,
                                     .tls_verify = a.lookaside_tls != 0};
        /* Where the signatures will go is settled before anything is pushed. */
        int rc = keys.n ? publish_check(&pu, &err) : 0;
        if (rc)
                it_error_wrap(&err, "%s", dest_spec);
        if (!rc) {
                rc = endpoint_resolve(dest.domain, dest.path, &a.dest, &dep, &err);
                if (rc)
                        it_error_wrap(&err, "%s", dest_spec);
        }
        if (!rc) {
                if (!strncmp(src_spec, "docker://", 9))
                        rc = open_docker_source(src_spec, &a.src, &sep, &src, &err);
                else
                        rc = source_open(src_spec, &src, &err);
        }
        if (!rc && dest.digest) {
                struct it_digest want;
                rc = digest_parse(dest.digest, &want, &err);
                if (!rc && !digest_equal(&want, &src->digest)) {
                        char ds[IT_DIGEST_STR_MAX];
                        digest_format(&src->digest, ds);
                        rc = it_error_set(&err, IT_EINPUT, "%s: the source's manifest is %s",
                                          dest_spec, ds);
                }
        }
        if (!rc) {
                bool show = !a.quiet && (prog.tty || a.progress);
                struct it_push_opts po = {.dest = &dep,
                                          .repo = dest.path,
                                          .tag = dest.digest ? NULL : dest.tag,
                                          .src_ep = src->kind == IT_SOURCE_DOCKER ? &sep : NULL,
                                          .jobs = a.jobs,
                                          .progress = show ? progress_push_cb : NULL,
                                          .progress_ctx = &prog};
                rc = push_image(src, &po, &res, &err);
                if (rc)
                        it_error_wrap(&err, "pushing %s to %s", src_spec, dest_spec);
        }
        char ds[IT_DIGEST_STR_MAX] = "";
        if (!rc) {
                digest_format(&res.digest, ds);
                if (!a.quiet)
                        print_summary(&res, dest_spec, ds);
        }
        bool pushed = !rc;
        if (!rc && keys.n) {
                size_t nd = 1 + res.ninstances;
                _cleanup_free_ struct it_digest *ds_all = xcalloc(nd, sizeof *ds_all);
                ds_all[0] = res.digest;
                for (size_t i = 0; i < res.ninstances; i++)
                        ds_all[i + 1] = res.instances[i];
                _cleanup_strv_ struct it_strv warnings = IT_STRV_INIT;
                rc = publish_signatures(&pu, ds_all, nd, &pub, &warnings, &err);
                for (size_t i = 0; i < warnings.n; i++)
                        fprintf(stderr, "%s: warning: %s\n", PROG, warnings.v[i]);
                if (!rc)
                        rc = publish_verify(&pu, &pub, &err);
                if (rc)
                        it_error_wrap(&err, "%s", dest_spec);
        }
        if (!rc && !a.quiet) {
                for (size_t i = 0; i < pub.n; i++) {
                        char sd[IT_DIGEST_STR_MAX];
                        digest_format(&pub.v[i].digest, sd);
                        fprintf(stderr, "%s: signed %s for %s with %s: wrote %s, verified at %s\n",
                                PROG, sd, identity, pub.v[i].key_fpr, pub.v[i].written,
                                pub.v[i].read_url);
                }
        }
        /* The image is in the registry even when its signatures failed: say which it is. */
        if (pushed && a.digestfile) {
                _cleanup_error_ it_error e2 = IT_ERROR_INIT;
                int r2 = it_file_replace(a.digestfile, ds, strlen(ds), 0644, &e2);
                if (r2 && !rc) {
                        rc = r2;
                        it_error_move(&err, &e2);
                }
        }
        if (pushed)
                printf("%s\n", ds);
        progress_free(&prog);
        for (size_t i = 0; i < keys.n; i++)
                it_gpg_signer_free(signers[i]);
        free(signers);
        publish_result_free(&pub);
        push_result_free(&res);
        source_free(src);
        endpoint_free(&dep);
        endpoint_free(&sep);
        regd_free(&regd);
        return rc ? fail(&err) : 0;
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
        if (!strcmp(cmd, "push"))
                return cmd_push(argc - 1, argv + 1);
        fprintf(stderr, "%s: unknown command \"%s\" (see '%s --help')\n", PROG, cmd, PROG);
        return IT_EXIT_INPUT;
}
