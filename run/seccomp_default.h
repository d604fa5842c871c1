/* Internal to run/: the data of podman's default seccomp profile (seccomp_default.c). */
#ifndef IMGTRUST_RUN_SECCOMP_DEFAULT_H
#define IMGTRUST_RUN_SECCOMP_DEFAULT_H

#include <linux/capability.h>
#include <stddef.h>

/* Names allowed when cap is in the capability set, EPERM otherwise. */
struct it_seccomp_gated {
        int cap;
        const char *const *names;
        size_t nnames;
};

extern const char *const *const it_seccomp_default_eperm;
extern const size_t it_seccomp_default_neperm;
extern const char *const *const it_seccomp_default_allow;
extern const size_t it_seccomp_default_nallow;
extern const struct it_seccomp_gated it_seccomp_default_gated[];
extern const size_t it_seccomp_default_ngated;

#endif
