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

/* podman's ID column for key material: for every key, the e-mail (the text between '<' and '>')
 * of each user ID, or the whole user ID when it has none; appended to *out in order. */
void keyfile_podman_ids(const struct it_keyring_info *k, struct it_strv *out);

#endif
