/* Cleanup attributes for gpgme objects, for the modules that talk to gpgme directly. */
#ifndef IMGTRUST_GPGME_CLEANUP_H
#define IMGTRUST_GPGME_CLEANUP_H

#include <gpgme.h>

static inline void it_gpgme_ctx_releasep(gpgme_ctx_t *c)
{
        if (*c)
                gpgme_release(*c);
}

static inline void it_gpgme_data_releasep(gpgme_data_t *d)
{
        if (*d)
                gpgme_data_release(*d);
}

static inline void it_gpgme_key_unrefp(gpgme_key_t *k)
{
        if (*k)
                gpgme_key_unref(*k);
}

#define _cleanup_gpgme_ctx_ __attribute__((cleanup(it_gpgme_ctx_releasep)))
#define _cleanup_gpgme_data_ __attribute__((cleanup(it_gpgme_data_releasep)))
#define _cleanup_gpgme_key_ __attribute__((cleanup(it_gpgme_key_unrefp)))

#endif
