/* A strict, bounded OpenPGP packet walker (RFC 4880 §4) and ASCII-armor decoder.
 *
 * It does no cryptography: it lets us see the shape of untrusted OpenPGP data (what packets, in
 * what order, with nothing after them) before, and independently of, gpgme.
 */
#ifndef IMGTRUST_PGP_H
#define IMGTRUST_PGP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgtrust/buf.h"
#include "imgtrust/error.h"

enum pgp_tag {
        PGP_TAG_SIGNATURE = 2,
        PGP_TAG_ONE_PASS_SIGNATURE = 4,
        PGP_TAG_SECRET_KEY = 5,
        PGP_TAG_PUBLIC_KEY = 6,
        PGP_TAG_SECRET_SUBKEY = 7,
        PGP_TAG_COMPRESSED = 8,
        PGP_TAG_MARKER = 10,
        PGP_TAG_LITERAL = 11,
        PGP_TAG_TRUST = 12,
        PGP_TAG_USER_ID = 13,
        PGP_TAG_PUBLIC_SUBKEY = 14,
        PGP_TAG_USER_ATTRIBUTE = 17,
};

struct pgp_packet {
        int tag;
        bool new_format;
        bool partial;        /* the body came in partial-length chunks */
        bool indeterminate;  /* old-format packet running to the end of the data */
        const uint8_t *body; /* points into the input, or into `owned` for a chunked body */
        size_t body_len;
        uint8_t *owned; /* allocated when the body had to be joined from chunks */
};

/* Read the packet at data[*off], advancing *off past it. Bodies larger than max_body are
 * IT_EINPUT. The caller calls pgp_packet_free() on success. */
int pgp_packet_next(const uint8_t *data, size_t len, size_t *off, size_t max_body,
                    struct pgp_packet *pkt, it_error *err);
void pgp_packet_free(struct pgp_packet *pkt);

/* True if data starts (after whitespace) with "-----BEGIN PGP". */
bool pgp_is_armored(const void *data, size_t len);
/* Decode every armored block in data (headers skipped, CRC-24 checked) into out. */
int pgp_dearmor(const void *data, size_t len, struct it_buf *out, it_error *err);

#endif
