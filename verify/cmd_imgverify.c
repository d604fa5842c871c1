/* imgverify: verify simple-signing signatures (skopeo's standalone-verify, and policy checks). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgtrust/admit.h"
#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/cli.h"
#include "imgtrust/endpoint.h"
#include "imgtrust/envelope.h"
#include "imgtrust/fs.h"
#include "imgtrust/gpg.h"
#include "imgtrust/json.h"
#include "imgtrust/lookaside.h"
#include "imgtrust/manifest.h"
#include "imgtrust/paths.h"
#include "imgtrust/policy.h"
#include "imgtrust/ref.h"
#include "imgtrust/regd.h"
#include "imgtrust/registry.h"
#include "imgtrust/sigcheck.h"
#include "imgtrust/xalloc.h"

static const char PROG[] = "imgverify";

static const char USAGE[] =
    "Usage: imgverify [OPTIONS] docker://REF...\n"
    "       imgverify standalone [--public-key-file FILE] MANIFEST DOCKER-REFERENCE "
    "FINGERPRINTS SIGNATURE\n"
    "\n"
    "Enforce policy.json on container images (simple signing, as skopeo and podman do): for\n"
    "each reference, evaluate the policy, fetch the manifest the registry serves, read the\n"
    "signatures from the lookaside registries.d names and check them.\n"
    "\n"
    "Options:\n"
    "  --policy FILE          policy.json (default: as imgtrust)\n"
    "  --registries.d DIR     registries.d directory (default: as imgtrust)\n"
    "  --manifest FILE        check this manifest instead of fetching it (one reference)\n"
    "  --creds USER:PASS      registry credentials (else the containers auth files)\n"
    "  --authfile FILE        the auth file to read first\n"
    "  --tls-verify=false     do not verify TLS; try HTTPS, then plain HTTP (default: as\n"
    "                         registries.conf says for the registry)\n"
    "  --json                 one JSON object per reference\n"
    "  -h, --help             show this help\n"
    "  --version              show the version\n"
    "\n"
    "Commands:\n"
    "  standalone   verify one signature of a manifest file, as skopeo standalone-verify\n"
    "\n"
    "Exit codes: 0 every reference accepted (standalone: verified), 1 rejected, 2 usage or bad\n"
    "input, 3 I/O or network error.\n";

static const char STANDALONE_HELP[] =
    "Usage: imgverify standalone [--public-key-file FILE] MANIFEST DOCKER-REFERENCE "
    "FINGERPRINTS SIGNATURE\n"
    "\n"
    "Verify SIGNATURE of MANIFEST for DOCKER-REFERENCE, as skopeo standalone-verify does.\n"
    "FINGERPRINTS is a comma-separated list of accepted key fingerprints (uppercase, as gpg\n"
    "prints them); a signature by a signing subkey counts as its primary key's. The keys come\n"
    "from your keyring ($GNUPGHOME), or only from FILE with --public-key-file, and then\n"
    "FINGERPRINTS may be the word any. Both references are normalised (no tag is added) and\n"
    "must be equal. The signature must be a binary OpenPGP signed message with one signature\n"
    "and nothing after it: armored, clear-signed and detached forms are refused.\n"
    "On success prints: Signature verified, digest DIGEST\n"
    "\n"
    "Options:\n"
    "  --public-key-file FILE   trust only the keys in FILE\n"
    "  -h, --help               show this help\n";

static int fail(it_error *err)
{
        return it_cli_fail(PROG, err);
}

static int usage_error(const char *cmd, const char *msg)
{
        return it_cli_usage(PROG, cmd, msg);
}

/* skopeo compares both references after normalisation, with no default tag. */
static int standalone_identity(const char *expected, const char *signed_ref, it_error *err)
{
        _cleanup_ref_ struct it_ref e = IT_REF_INIT;
        _cleanup_ref_ struct it_ref s = IT_REF_INIT;
        if (ref_parse_normalized(expected, &e, err) != 0)
                return it_error_wrap(err, "DOCKER-REFERENCE");
        if (ref_parse_normalized(signed_ref, &s, err) != 0) {
                err->code = IT_EREJECTED;
                return it_error_wrap(err, "the signature's identity");
        }
        _cleanup_free_ char *es = ref_string(&e);
        _cleanup_free_ char *ss = ref_string(&s);
        if (strcmp(es, ss) != 0) {
                _cleanup_free_ char *q = it_quote(signed_ref, 300);
                return it_error_set(err, IT_EREJECTED, "signature is for %s, not %s", q, expected);
        }
        return 0;
}

static int cmd_standalone(int argc, char **argv)
{
        static const struct option lo[] = {{"public-key-file", required_argument, NULL, 'k'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
        const char *keyfile = NULL;
        int c;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
                switch (c) {
                case 'k':
                        keyfile = optarg;
                        break;
                case 'h':
                        fputs(STANDALONE_HELP, stdout);
                        return 0;
                default:
                        return usage_error("standalone", "unknown option or missing value");
                }
        }
        if (argc - optind != 4)
                return usage_error("standalone", "exactly four arguments are required: MANIFEST "
                                                 "DOCKER-REFERENCE FINGERPRINTS SIGNATURE");
        const char *manifest_path = argv[optind], *ref = argv[optind + 1];
        const char *fprs_arg = argv[optind + 2], *sig_path = argv[optind + 3];
        _cleanup_strv_ struct it_strv fprs = IT_STRV_INIT;
        _cleanup_free_ char *fcopy = xstrdup(fprs_arg);
        for (char *save = NULL, *f = strtok_r(fcopy, ",", &save); f; f = strtok_r(NULL, ",", &save))
                it_strv_push(&fprs, f);
        bool any = fprs.n == 1 && strcmp(fprs.v[0], "any") == 0;
        if (fprs.n == 0)
                return usage_error("standalone", "FINGERPRINTS is empty");
        if (any && !keyfile)
                return usage_error("standalone", "the fingerprint \"any\" needs --public-key-file");

        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *manifest = NULL, *sig = NULL;
        size_t mlen = 0, slen = 0;
        struct it_digest d;
        if (it_file_read(manifest_path, IT_MANIFEST_MAX, &manifest, &mlen, &err) != 0 ||
            manifest_digest(manifest, mlen, &d, &err) != 0) {
                it_error_wrap(&err, "%s", manifest_path);
                return fail(&err);
        }
        if (it_file_read(sig_path, IT_SIG_BLOB_MAX, &sig, &slen, &err) != 0) {
                /* A signature too large to consider is a refused signature, not bad usage. */
                if (err.code == IT_EINPUT)
                        err.code = IT_EREJECTED;
                return fail(&err);
        }

        struct it_gpg_keyring *kr = NULL;
        if (it_gpg_keyring_new(&kr, &err) != 0)
                return fail(&err);
        _cleanup_buf_ struct it_buf keys = IT_BUF_INIT;
        int rc;
        if (keyfile) {
                _cleanup_free_ char *kd = NULL;
                size_t kl = 0;
                rc = it_file_read(keyfile, IT_GPG_KEYS_MAX, &kd, &kl, &err);
                if (rc == 0)
                        rc = it_gpg_keyring_import(kr, kd, kl, NULL, &err);
                if (rc != 0)
                        it_error_wrap(&err, "%s", keyfile);
        } else {
                rc = sig_export_user_keys(&fprs, &keys, &err);
                if (rc == 0)
                        rc = it_gpg_keyring_import(kr, keys.data, keys.len, NULL, &err);
        }
        if (rc == 0 && it_gpg_keyring_trusted(kr)->n == 0)
                rc = it_error_set(&err, IT_EREJECTED, "no public keys imported");
        struct it_sig_verified v = {0};
        if (rc == 0)
                rc = sig_verify_blob(kr, sig, slen, &d, &v, &err);
        it_gpg_keyring_free(kr);
        if (rc == 0 && !any && !it_strv_contains(&fprs, v.signer_fpr) &&
            !it_strv_contains(&fprs, v.primary_fpr))
                rc = it_error_set(&err, IT_EREJECTED, "signed by key %s, not one of %s",
                                  v.primary_fpr, fprs_arg);
        if (rc == 0)
                rc = standalone_identity(ref, v.docker_reference, &err);
        sig_verified_free(&v);
        if (rc != 0) {
                it_error_wrap(&err, "%s", sig_path);
                return fail(&err);
        }
        char ds[IT_DIGEST_STR_MAX];
        digest_format(&d, ds);
        printf("Signature verified, digest %s\n", ds);
        return 0;
}

/* ---------------------------------------------------------------- policy mode */

/* The policy mode is the program's main form, so its help is the program's. */
static int policy_usage(const char *msg)
{
        fprintf(stderr, "%s: %s (see '%s --help')\n", PROG, msg, PROG);
        return IT_EXIT_INPUT;
}

static int cmd_policy(int argc, char **argv)
{
        enum { OPT_POLICY = 1000, OPT_REGD, OPT_MANIFEST, OPT_CREDS, OPT_TLS, OPT_JSON, OPT_AUTH };
        static const struct option lo[] = {{"policy", required_argument, NULL, OPT_POLICY},
                                           {"registries.d", required_argument, NULL, OPT_REGD},
                                           {"manifest", required_argument, NULL, OPT_MANIFEST},
                                           {"creds", required_argument, NULL, OPT_CREDS},
                                           {"authfile", required_argument, NULL, OPT_AUTH},
                                           {"tls-verify", optional_argument, NULL, OPT_TLS},
                                           {"json", no_argument, NULL, OPT_JSON},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
        struct it_admit_opts o = {.tls_verify = true, .tls_flag = -1};
        bool json_out = false;
        const char *policy_arg = NULL, *regd_arg = NULL;
        int c;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
                switch (c) {
                case OPT_POLICY:
                        policy_arg = optarg;
                        break;
                case OPT_REGD:
                        regd_arg = optarg;
                        break;
                case OPT_MANIFEST:
                        o.manifest_file = optarg;
                        break;
                case OPT_CREDS:
                        o.creds = optarg;
                        break;
                case OPT_TLS:
                        if (it_cli_bool(optarg, &o.tls_flag))
                                return policy_usage("--tls-verify takes true or false");
                        o.tls_verify = o.tls_flag;
                        break;
                case OPT_AUTH:
                        o.authfile = optarg;
                        break;
                case OPT_JSON:
                        json_out = true;
                        break;
                case 'h':
                        fputs(USAGE, stdout);
                        return 0;
                default:
                        return policy_usage("unknown option or missing value");
                }
        }
        int nrefs = argc - optind;
        if (nrefs < 1)
                return policy_usage("at least one docker://REF is required");
        if (o.manifest_file && nrefs != 1)
                return policy_usage("--manifest goes with exactly one reference");

        _cleanup_error_ it_error err = IT_ERROR_INIT;
        _cleanup_free_ char *path = it_path_policy(policy_arg);
        _cleanup_free_ char *regd_dir = it_path_registries_d(regd_arg);
        struct it_policy pol = IT_POLICY_INIT;
        if (policy_load(path, &pol, &err) != 0)
                return fail(&err);
        struct it_regd regd = IT_REGD_INIT;
        if (regd_load_dir(regd_dir, &regd, &err) != 0) {
                policy_free(&pol);
                return fail(&err);
        }
        bool rejected = false, io = false, input = false;
        /* One keyring per requirement for all references: keys are imported once. */
        struct it_sig_cache *cache = sig_cache_new();
        _cleanup_json_ json_t *all = json_array();
        for (int i = optind; i < argc; i++) {
                json_t *one = json_object();
                json_object_set_new(one, "reference", json_string(argv[i]));
                it_error e = IT_ERROR_INIT;
                int rc = admit_image(&o, cache, &pol, &regd, argv[i], one, NULL, &e);
                const char *decision = rc == 0              ? "accepted"
                                       : rc == IT_EREJECTED ? "rejected"
                                                            : "error";
                json_object_set_new(one, "decision", json_string(decision));
                if (rc != 0) {
                        char *m = it_error_format(&e);
                        json_object_set_new(one, "reason", json_string(m));
                        free(m);
                        json_t *d = json_array();
                        for (size_t k = 0; k < e.ndetails; k++)
                                json_array_append_new(d, json_string(e.details[k]));
                        json_object_set_new(one, "details", d);
                        rejected |= rc == IT_EREJECTED;
                        io |= rc == IT_EIO;
                        input |= rc != IT_EREJECTED && rc != IT_EIO;
                }
                if (!json_out) {
                        if (rc == 0) {
                                printf("%s: accepted\n", argv[i]);
                                json_t *acc = json_object_get(one, "accepted_by");
                                for (size_t k = 0; k < json_array_size(acc); k++)
                                        printf("  %s\n", json_string_value(json_array_get(acc, k)));
                        } else {
                                if (rc == IT_EREJECTED)
                                        it_error_wrap(&e, "rejected");
                                it_error_wrap(&e, "%s", argv[i]);
                                it_error_print(PROG, &e);
                        }
                }
                it_error_clear(&e);
                json_array_append_new(all, one);
        }
        if (json_out) {
                _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
                it_json_write_go(&b, all, 2);
                puts(it_buf_str(&b));
        }
        sig_cache_free(cache);
        regd_free(&regd);
        policy_free(&pol);
        if (rejected)
                return IT_EXIT_REJECTED;
        if (input)
                return IT_EXIT_INPUT;
        if (io)
                return IT_EXIT_IO;
        return 0;
}

int main(int argc, char **argv)
{
        if (argc < 2)
                return policy_usage("at least one docker://REF is required");
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
        return cmd_policy(argc, argv);
}
