/* Inspecting OpenPGP key material (key files named by a policy) in a private, temporary keyring,
 * never the user's. */
#ifndef IMGTRUST_KEYFILE_H
#define IMGTRUST_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "imgtrust/error.h"
#include "imgtrust/strv.h"

struct it_keyinfo {
        char *fpr;              /* primary key fingerprint, uppercase hex */
        struct it_strv uids;    /* user IDs as in the key ("Name <mail>") */
        struct it_strv subkeys; /* subkey fingerprints (the primary excluded) */
        bool can_sign;          /* primary or a subkey can sign */
        bool revoked;
        bool expired;
};

struct it_keyring_info {
        struct it_keyinfo *keys;
        size_t n;
};

#define IT_KEYRING_INFO_INIT                                                                       \
        {                                                                                          \
                0                                                                                  \
        }

/* Import key bytes (armored or binary, several keys allowed) into a fresh GNUPGHOME that is
 * removed afterwards, and describe the keys found, in file order. Zero keys is not an error here
 * (out->n == 0); callers decide. IT_EIO when gpg cannot be run. */
int keyfile_inspect(const void *data, size_t len, struct it_keyring_info *out, it_error *err);
/* Read a key file (bounded) and inspect it. */
int keyfile_inspect_path(const char *path, struct it_keyring_info *out, it_error *err);
void keyring_info_free(struct it_keyring_info *k);

/* Largest key file read. */
#define IT_KEYFILE_MAX (8u << 20)

/* podman's ID column for key material, from the key file's bytes (armored or binary) as
 * `gpg2 --with-colons FILE` lists them: every user ID in file order, reduced to the text between
 * '<' and '>' when it has both. Appended to *out. IT_EINPUT for malformed OpenPGP data. */
int keyfile_podman_ids_data(const void *data, size_t len, struct it_strv *out, it_error *err);

#endif
