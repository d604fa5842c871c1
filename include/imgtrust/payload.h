/* The simple-signing payload JSON (spec §2.2, §2.3): a strict parser and a byte-compatible writer.
 *
 * Parse a payload only after the signature around it has been verified.
 */
#ifndef IMGTRUST_PAYLOAD_H
#define IMGTRUST_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgtrust/buf.h"
#include "imgtrust/digest.h"
#include "imgtrust/error.h"

#define IT_PAYLOAD_TYPE "atomic container signature"

struct sig_payload {
        struct it_digest digest;            /* critical.image.docker-manifest-digest */
        char digest_str[IT_DIGEST_STR_MAX]; /* the same, as written */
        char *docker_reference;             /* critical.identity.docker-reference; owned */
        char *creator;                      /* optional.creator; owned, NULL if absent/null */
        bool has_timestamp;                 /* optional.timestamp present and not null */
        int64_t timestamp;                  /* seconds since the epoch */
};

/* Parse len bytes (at most IT_SIG_PAYLOAD_MAX) strictly per §2.2 into out; the caller calls
 * sig_payload_free() (also after a failure). Errors are IT_EINPUT, one line, starting "payload: "
 * and naming the member ("payload: critical.type: ..."). */
int payload_parse(const void *data, size_t len, struct sig_payload *out, it_error *err);
void sig_payload_free(struct sig_payload *p);

/* Append the payload upstream would write (§2.3): sorted keys, no whitespace, strings escaped as
 * Go's encoding/json does (`<`, `>`, `&`, U+2028/9 as \uXXXX, invalid UTF-8 as U+FFFD), no
 * trailing newline. digest must already be valid (sha256 of the manifest); creator may be NULL
 * to leave it out. */
void payload_build(const char *docker_reference, const char *digest, const char *creator,
                   int64_t timestamp, struct it_buf *out);

#endif
