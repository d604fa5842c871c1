/* policy.json: strict parse and validation (as containers/image), podman's `trust set` edit,
 * serialisation, and evaluation with an account of why (spec §6, §7.1).
 *
 * This module is pure: files in, decisions out. Key files are not read here (see keyfile.h).
 */
#ifndef IMGTRUST_POLICY_H
#define IMGTRUST_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "imgtrust/error.h"
#include "imgtrust/ref.h"
#include "imgtrust/strv.h"

/* Largest policy.json we read. Real files are kilobytes; inline keyData stays far below this. */
#define IT_POLICY_MAX_BYTES (4u << 20)

enum it_req_type {
        IT_REQ_INSECURE_ACCEPT_ANYTHING,
        IT_REQ_REJECT,
        IT_REQ_SIGNED_BY,
        IT_REQ_SIGSTORE_SIGNED,
        IT_REQ_SIGNED_BASE_LAYER,
};

enum it_key_type {
        IT_KEY_GPG_KEYS, /* the only one implemented, as upstream */
        IT_KEY_SIGNED_BY_GPG_KEYS,
        IT_KEY_X509_CERTIFICATES,
        IT_KEY_SIGNED_BY_X509_CAS,
};

enum it_ident_type {
        IT_IDENT_MATCH_REPO_DIGEST_OR_EXACT, /* the default when signedIdentity is absent */
        IT_IDENT_MATCH_EXACT,
        IT_IDENT_MATCH_REPOSITORY,
        IT_IDENT_EXACT_REFERENCE,
        IT_IDENT_EXACT_REPOSITORY,
        IT_IDENT_REMAP_IDENTITY,
};

struct it_signed_identity {
        enum it_ident_type type;
        bool given;              /* present in the file (false: the default applies) */
        char *docker_reference;  /* exactReference */
        char *docker_repository; /* exactRepository */
        char *prefix;            /* remapIdentity */
        char *signed_prefix;     /* remapIdentity */
};

enum it_key_source {
        IT_KEYSRC_NONE,
        IT_KEYSRC_PATH,  /* keyPath */
        IT_KEYSRC_PATHS, /* keyPaths */
        IT_KEYSRC_DATA,  /* keyData */
        IT_KEYSRC_DATAS, /* keyDatas (sigstoreSigned) */
        IT_KEYSRC_FULCIO,
        IT_KEYSRC_PKI,
};

struct it_key_blob {
        unsigned char *data;
        size_t len;
};

struct it_requirement {
        enum it_req_type type;
        char *where; /* JSON path in the file: `transports.docker["quay.io"][0]` */
        /* signedBy and sigstoreSigned */
        enum it_key_type key_type;
        enum it_key_source key_source;
        char *key_path;               /* keyPath */
        struct it_strv key_paths;     /* keyPaths */
        struct it_key_blob *key_data; /* keyData (1) or keyDatas (n), base64-decoded */
        size_t nkey_data;
        struct it_signed_identity
            identity; /* signedIdentity; baseLayerIdentity for signedBaseLayer */
};

struct it_reqs {
        struct it_requirement *v;
        size_t n;
};

struct it_scope {
        char *name; /* "" is the transport's default */
        struct it_reqs reqs;
};

struct it_transport {
        char *name;
        bool known; /* an unknown transport name is accepted and ignored, as upstream */
        struct it_scope *scopes;
        size_t n;
};

struct it_policy {
        char *path; /* file name used in messages */
        struct it_reqs def;
        struct it_transport *transports;
        size_t ntransports;
};

#define IT_POLICY_INIT                                                                             \
        {                                                                                          \
                0                                                                                  \
        }

/* Parse and validate the whole document (spec §6.2–6.7). Every violation is IT_EINPUT with a
 * message "PATH: JSONPATH: what is wrong". `path` names the file in messages. */
int policy_parse(const char *data, size_t len, const char *path, struct it_policy *out,
                 it_error *err);
/* Read and parse a file (bounded by IT_POLICY_MAX_BYTES). */
int policy_load(const char *path, struct it_policy *out, it_error *err);
/* Validate an already parsed document; with allow_unknown_top, unknown top-level members are
 * passed over (what `imgtrust set` keeps of a file) instead of refused. */
int policy_from_json(const json_t *doc, const char *path, bool allow_unknown_top,
                     struct it_policy *out, it_error *err);
void policy_free(struct it_policy *p);

/* The key files a requirement names (keyPath, then keyPaths), appended to *out. */
void policy_req_key_files(const struct it_requirement *r, struct it_strv *out);

const char *policy_req_type_name(enum it_req_type t);     /* "signedBy", ... */
const char *policy_ident_type_name(enum it_ident_type t); /* "matchRepoDigestOrExact", ... */
const char *policy_key_type_name(enum it_key_type t);

/* ---- podman image trust set (spec §7.1) ---- */

/* The requirement list podman writes for `-t TYPE -f FILE...`: TYPE is accept,
 * insecureAcceptAnything, reject, signedBy or sigstoreSigned. Returns a new JSON array in *out.
 * IT_EINPUT with podman's wording for a bad type or a wrong number of key files. */
int policy_trust_requirements(const char *type, const struct it_strv *keyfiles, json_t **out,
                              it_error *err);
/* podman's loose scope syntax check for `trust set`. */
int policy_trust_check_scope(const char *scope, it_error *err);
/* Put `reqs` (stolen) at `scope` of doc (a policy document object), as podman does: `default`
 * replaces the global default; another scope needs a default, replaces the scope in the first
 * transport (by name) that has it, or is added under transports.docker. */
int policy_trust_set(json_t *doc, const char *scope, json_t *reqs, it_error *err);
/* podman's file layout: 4-space indent, `default` then `transports` (transports and scopes sorted
 * by name), then any other top-level members as they were; no trailing newline. Allocated. */
char *policy_serialize(const json_t *doc);

/* ---- evaluation ---- */

/* What a policy is asked about: a transport and what it names (spec §6.4). */
struct it_image {
        char *transport;           /* "docker", "dir", "oci", ... */
        char *input;               /* as the user wrote it, for messages */
        char *identity;            /* policy identity; "" for transports that have none */
        struct it_strv namespaces; /* in search order */
        struct it_ref docker;      /* the Docker reference, when has_docker */
        bool has_docker;
};

#define IT_IMAGE_INIT                                                                              \
        {                                                                                          \
                0                                                                                  \
        }

/* Parse "TRANSPORT:REF" (docker://busybox, dir:/path, oci:/path:tag, docker-archive:/p,
 * containers-storage:[root]ref, atomic:..., oci-archive:..., docker-daemon:...) without contacting
 * anything. Docker references get the default tag. dir/oci/oci-archive paths are resolved like
 * upstream (absolute, symlinks resolved, a missing last component allowed). IT_EINPUT on error. */
int policy_image_parse(const char *s, struct it_image *out, it_error *err);
void policy_image_free(struct it_image *img);

enum it_decision {
        IT_DECISION_ACCEPT,              /* no signature needed */
        IT_DECISION_REJECT,              /* refused whatever signatures exist */
        IT_DECISION_SIGNATURES_REQUIRED, /* depends on signatures */
};

struct it_eval {
        enum it_decision decision;
        const struct it_reqs *reqs; /* the list that applies; borrowed from the policy */
        const char *transport;      /* the transport section consulted, NULL if the file has none */
        const char *scope; /* matched scope ("" = transport default); NULL = global default */
        struct it_strv passed_over; /* identity/namespaces tried and not in the file, in order */
        struct it_strv reasons;     /* one line per requirement: what it asks or why it rejects */
};

#define IT_EVAL_INIT                                                                               \
        {                                                                                          \
                0                                                                                  \
        }

/* Choose the requirements for img (spec §6.5) and decide what can be known without signatures. */
void policy_eval(const struct it_policy *p, const struct it_image *img, struct it_eval *out);
void policy_eval_free(struct it_eval *e);
const char *policy_decision_name(enum it_decision d); /* accept, reject, signatures-required */

/* signedIdentity (spec §6.7): does a signature claiming `signed_ref` match image reference `image`
 * (NULL when the image has no Docker identity)? On false, *why (allocated) says why not. */
bool policy_identity_match(const struct it_signed_identity *id, const struct it_ref *image,
                           const char *signed_ref, char **why);

#endif
