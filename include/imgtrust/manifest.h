/* Manifests: their digests (spec §3), media type sniffing as containers/image guesses it, and the
 * instances of manifest lists / OCI image indexes with containers/image's platform choice. */
#ifndef IMGTRUST_MANIFEST_H
#define IMGTRUST_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgtrust/digest.h"
#include "imgtrust/error.h"

/* containers/image refuses manifests larger than this. */
#define IT_MANIFEST_MAX (4u << 20)

#define IT_MT_DOCKER_V2S1 "application/vnd.docker.distribution.manifest.v1+json"
#define IT_MT_DOCKER_V2S1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"
#define IT_MT_DOCKER_V2S2 "application/vnd.docker.distribution.manifest.v2+json"
#define IT_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define IT_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define IT_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"

/* sha256 digest of a manifest (spec §3.1–3.2): of the exact bytes, except for a signed Docker
 * schema 1 manifest, whose digest is that of its JWS payload (the first formatLength bytes and the
 * decoded formatTail, on which every signature must agree). The manifest must be a strict JSON
 * document of at most IT_MANIFEST_MAX bytes; IT_EINPUT otherwise or when the schema 1 signatures
 * cannot be read ("signatures": 1). */
int manifest_digest(const void *m, size_t len, struct it_digest *out, it_error *err);

/* The media type containers/image's GuessMIMEType gives these bytes: a known top-level
 * mediaType, else by schemaVersion (1: signed when `signatures` is present and not null; 2: by
 * config.mediaType, then an index when `manifests` is not empty, else an OCI manifest). NULL
 * when it cannot tell (not strict JSON, wrong member types, an unknown type). A static string. */
const char *manifest_media_type(const void *m, size_t len);

/* IT_MT_DOCKER_LIST or IT_MT_OCI_INDEX. */
bool manifest_type_is_list(const char *media_type);

struct it_manifest_instance {
        struct it_digest digest; /* validated */
        char *media_type;        /* owned; "" when the entry has none */
        int64_t size;            /* -1 when absent */
        bool has_platform;
        char *os;      /* owned; "" when absent */
        char *arch;    /* owned; "" when absent */
        char *variant; /* owned; "" when absent */
};

struct it_manifest_list {
        const char *media_type; /* IT_MT_DOCKER_LIST or IT_MT_OCI_INDEX (static) */
        struct it_manifest_instance *v;
        size_t n;
};

#define IT_MANIFEST_LIST_INIT                                                                      \
        {                                                                                          \
                0                                                                                  \
        }

/* The instances of a manifest list or OCI index (the type sniffed as manifest_media_type does),
 * in order. Each digest is validated (spec §1.4) and a bad one fails the whole list, naming its
 * index; member types are checked. IT_EINPUT when the bytes are no list. Fills *out (free with
 * manifest_list_free). */
int manifest_list_instances(const void *m, size_t len, struct it_manifest_list *out, it_error *err);
void manifest_list_free(struct it_manifest_list *l);

/* The GOARCH name of the machine this runs on ("amd64", "arm64", ...). Static string. */
const char *manifest_host_arch(void);

/* Pick the instance containers/image pulls (ChooseInstance): os NULL means "linux", arch NULL the
 * host's; variant NULL means no preference (every variant matches, an entry without variant
 * first, then the known variants of the architecture). A Docker list compares every entry; an OCI
 * index skips entries without platform and falls back to the first of those when nothing
 * matched. *index is the position in l->v. IT_EINPUT "no image found in manifest list for
 * architecture ..., variant ..., OS ..." when nothing fits. */
int manifest_list_choose(const struct it_manifest_list *l, const char *os, const char *arch,
                         const char *variant, size_t *index, it_error *err);

#define _cleanup_manifest_list_ __attribute__((cleanup(manifest_list_free)))

#endif
