/* Capability sets for imgrun: podman's names and merge rules, applied with the raw kernel ABI
 * (capget/capset, PR_CAPBSET_DROP, PR_CAP_AMBIENT) so no libcap is needed. */
#include "imgtrust/caps.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "imgtrust/cleanup.h"
#include "imgtrust/fs.h"
#include "imgtrust/xalloc.h"

#define BIT(n) (UINT64_C(1) << (n))

/* Index = capability number (linux/capability.h, Linux 6.x). */
static const char *const cap_names[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

#define NCAP_NAMES ((int)(sizeof(cap_names) / sizeof(cap_names[0])))

uint64_t caps_mask_upto(int last_cap)
{
        if (last_cap < 0)
                return 0;
        if (last_cap >= IT_CAPS_MAX)
                return UINT64_MAX;
        return BIT(last_cap + 1) - 1;
}

const char *caps_name(int cap)
{
        if (cap < 0 || cap >= NCAP_NAMES)
                return NULL;
        return cap_names[cap];
}

int caps_parse_name(const char *name, int *cap, it_error *err)
{
        const char *bare = name;

        if (strcasecmp(name, "all") == 0) {
                *cap = IT_CAP_ALL;
                return 0;
        }
        if (strncasecmp(name, "CAP_", 4) == 0)
                bare = name + 4;
        for (int i = 0; i < NCAP_NAMES; i++) {
                if (strcasecmp(bare, cap_names[i] + 4) == 0) {
                        *cap = i;
                        return 0;
                }
        }
        return it_error_set(err, IT_EINPUT, "unknown capability \"%s\"", name);
}

int caps_last_cap(void)
{
        _cleanup_free_ char *data = NULL;
        it_error err = IT_ERROR_INIT;
        size_t len = 0;
        char *end;
        long v;

        if (it_file_read("/proc/sys/kernel/cap_last_cap", 64, &data, &len, &err) < 0) {
                it_error_clear(&err);
                return IT_CAPS_LAST_CAP_FALLBACK;
        }
        errno = 0;
        v = strtol(data, &end, 10);
        if (errno || end == data || (*end && *end != '\n') || v < 0 || v > IT_CAPS_MAX)
                return IT_CAPS_LAST_CAP_FALLBACK;
        return (int)v;
}

int caps_read_bounding(int last_cap, uint64_t *out, it_error *err)
{
        uint64_t m = 0;

        for (int i = 0; i <= last_cap && i <= IT_CAPS_MAX; i++) {
                int r = prctl(PR_CAPBSET_READ, (unsigned long)i, 0, 0, 0);
                if (r < 0) {
                        /* The kernel knows fewer caps than cap_last_cap claimed. */
                        if (errno == EINVAL)
                                break;
                        return it_error_sys(err, IT_EIO, errno, "PR_CAPBSET_READ %d", i);
                }
                if (r)
                        m |= BIT(i);
        }
        *out = m;
        return 0;
}

/* Parses names into a mask; *all says whether "all" was among them. */
static int parse_list(const char *opt, const char *const *names, size_t n, int last_cap,
                      uint64_t *mask, bool *all, it_error *err)
{
        *mask = 0;
        *all = false;
        for (size_t i = 0; i < n; i++) {
                int cap;
                if (caps_parse_name(names[i], &cap, err) < 0)
                        return it_error_wrap(err, "%s", opt);
                if (cap == IT_CAP_ALL) {
                        *all = true;
                        continue;
                }
                /* podman's list of names stops at the kernel's cap_last_cap. */
                if (cap > last_cap)
                        return it_error_set(err, IT_EINPUT,
                                            "%s: capability \"%s\" is not supported by this "
                                            "kernel (cap_last_cap is %d)",
                                            opt, caps_name(cap), last_cap);
                *mask |= BIT(cap);
        }
        return 0;
}

int caps_compute(const char *const *add, size_t nadd, const char *const *drop, size_t ndrop,
                 bool privileged, bool root_user, uint64_t host_bounding, int last_cap,
                 struct it_caps *out, it_error *err)
{
        uint64_t all = caps_mask_upto(last_cap) & host_bounding;
        uint64_t addm, dropm, merged, user;
        bool add_all, drop_all;
        int r;

        memset(out, 0, sizeof(*out));
        r = parse_list("--cap-add", add, nadd, last_cap, &addm, &add_all, err);
        if (r < 0)
                return r;
        r = parse_list("--cap-drop", drop, ndrop, last_cap, &dropm, &drop_all, err);
        if (r < 0)
                return r;

        /* MergeCapabilities validates even when --privileged then ignores the result. */
        if (drop_all) {
                if (add_all)
                        return it_error_set(err, IT_EINPUT,
                                            "adding all caps and removing all caps not allowed");
                merged = addm;
        } else if (add_all) {
                merged = all & ~dropm;
        } else {
                uint64_t both = addm & dropm;
                if (both) {
                        int c = __builtin_ctzll(both);
                        return it_error_set(err, IT_EINPUT,
                                            "capability \"%s\" cannot be dropped and added",
                                            caps_name(c));
                }
                merged = (IT_CAPS_PODMAN_DEFAULT & ~dropm) | addm;
        }
        if (privileged)
                merged = all;
        out->bounding = merged & all;

        if (root_user) {
                out->effective = out->permitted = out->bounding;
                return 0;
        }
        /* Podman gives a non-root user the added caps only (MergeCapabilities(nil, add, nil)). Its
         * result is kept within the bounding set here: a cap outside it could otherwise survive
         * exec through the ambient set although --cap-drop named it. */
        user = (add_all ? all : addm) & out->bounding;
        out->effective = out->permitted = out->inheritable = out->ambient = user;
        return 0;
}

static int cap_get(uint64_t *eff, uint64_t *prm, uint64_t *inh)
{
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

        memset(d, 0, sizeof(d));
        if (syscall(SYS_capget, &h, d) < 0)
                return -1;
        *eff = d[0].effective | (uint64_t)d[1].effective << 32;
        *prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
        *inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
        return 0;
}

static int cap_set(uint64_t eff, uint64_t prm, uint64_t inh)
{
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];

        for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
                d[i].effective = (uint32_t)(eff >> (32 * i));
                d[i].permitted = (uint32_t)(prm >> (32 * i));
                d[i].inheritable = (uint32_t)(inh >> (32 * i));
        }
        return (int)syscall(SYS_capset, &h, d);
}

static int check_consistent(const struct it_caps *c, it_error *err)
{
        if (c->effective & ~c->permitted)
                return it_error_set(err, IT_EINPUT,
                                    "capabilities: effective %016" PRIx64
                                    " is not within permitted %016" PRIx64,
                                    c->effective, c->permitted);
        if ((c->permitted | c->inheritable) & ~c->bounding)
                return it_error_set(err, IT_EINPUT,
                                    "capabilities: permitted %016" PRIx64
                                    " or inheritable %016" PRIx64
                                    " is not within bounding %016" PRIx64,
                                    c->permitted, c->inheritable, c->bounding);
        if (c->ambient & ~(c->permitted & c->inheritable))
                return it_error_set(err, IT_EINPUT,
                                    "capabilities: ambient %016" PRIx64
                                    " is not within permitted and inheritable",
                                    c->ambient);
        return 0;
}

int caps_apply(const struct it_caps *c, int last_cap, it_error *err)
{
        uint64_t eff, prm, inh;
        int r;

        r = check_consistent(c, err);
        if (r < 0)
                return r;
        if (last_cap > IT_CAPS_MAX)
                last_cap = IT_CAPS_MAX;
        if (cap_get(&eff, &prm, &inh) < 0)
                return it_error_sys(err, IT_EIO, errno, "capget");
        if (c->permitted & ~prm)
                return it_error_set(err, IT_EIO,
                                    "capabilities: permitted %016" PRIx64
                                    " asks for more than the process holds (%016" PRIx64
                                    "; was PR_SET_KEEPCAPS set before setresuid?)",
                                    c->permitted, prm);
        if (eff != prm && cap_set(prm, prm, inh) < 0)
                return it_error_sys(err, IT_EIO, errno, "capset: raising effective to permitted");

        for (int i = 0; i <= last_cap; i++) {
                if (c->bounding & BIT(i))
                        continue;
                if (prctl(PR_CAPBSET_DROP, (unsigned long)i, 0, 0, 0) < 0) {
                        /* A cap past what the kernel knows is not in its bounding set. */
                        if (errno == EINVAL)
                                break;
                        return it_error_sys(err, IT_EIO, errno, "PR_CAPBSET_DROP %s",
                                            caps_name(i) ? caps_name(i) : "(unnamed)");
                }
        }

        if (cap_set(c->effective, c->permitted, c->inheritable) < 0)
                return it_error_sys(err, IT_EIO, errno,
                                    "capset effective %016" PRIx64 " permitted %016" PRIx64
                                    " inheritable %016" PRIx64,
                                    c->effective, c->permitted, c->inheritable);

        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
                /* Kernels before 4.3 have no ambient set: fine only when none is asked for. */
                if (errno != EINVAL || c->ambient)
                        return it_error_sys(err, IT_EIO, errno, "PR_CAP_AMBIENT_CLEAR_ALL");
        }
        for (int i = 0; i <= last_cap; i++) {
                if (!(c->ambient & BIT(i)))
                        continue;
                if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long)i, 0, 0) < 0)
                        return it_error_sys(err, IT_EIO, errno, "PR_CAP_AMBIENT_RAISE %s",
                                            caps_name(i) ? caps_name(i) : "(unnamed)");
        }
        return 0;
}

char *caps_format_status(const struct it_caps *c, char *buf, size_t size)
{
        snprintf(buf, size,
                 "CapInh:\t%016" PRIx64 "\nCapPrm:\t%016" PRIx64 "\nCapEff:\t%016" PRIx64
                 "\nCapBnd:\t%016" PRIx64 "\nCapAmb:\t%016" PRIx64 "\n",
                 c->inheritable, c->permitted, c->effective, c->bounding, c->ambient);
        return buf;
}

static int hexval(char ch)
{
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        return -1;
}

int caps_parse_status(const char *text, size_t len, struct it_caps *out, it_error *err)
{
        static const char *const keys[] = {"CapInh:\t", "CapPrm:\t", "CapEff:\t", "CapBnd:\t",
                                           "CapAmb:\t"};
        uint64_t *dst[] = {&out->inheritable, &out->permitted, &out->effective, &out->bounding,
                           &out->ambient};
        unsigned seen = 0;
        size_t pos = 0;

        memset(out, 0, sizeof(*out));
        while (pos < len) {
                const char *line = text + pos;
                const char *nl = memchr(line, '\n', len - pos);
                size_t ll = nl ? (size_t)(nl - line) : len - pos;

                pos += ll + (nl ? 1 : 0);
                for (int k = 0; k < 5; k++) {
                        size_t kl = strlen(keys[k]);
                        uint64_t v = 0;

                        if (ll < 6 || memcmp(line, keys[k], 6) != 0)
                                continue;
                        if (ll != kl + 16 || memcmp(line, keys[k], kl) != 0)
                                return it_error_set(err, IT_EINPUT,
                                                    "status: malformed line \"%.*s\"",
                                                    (int)(ll > 64 ? 64 : ll), line);
                        for (size_t i = 0; i < 16; i++) {
                                int h = hexval(line[kl + i]);
                                if (h < 0)
                                        return it_error_set(err, IT_EINPUT,
                                                            "status: malformed line \"%.*s\"",
                                                            (int)ll, line);
                                v = v << 4 | (uint64_t)h;
                        }
                        if (seen & (1u << k))
                                return it_error_set(err, IT_EINPUT, "status: %.6s appears twice",
                                                    keys[k]);
                        seen |= 1u << k;
                        *dst[k] = v;
                }
        }
        for (int k = 0; k < 5; k++)
                if (!(seen & (1u << k)))
                        return it_error_set(err, IT_EINPUT, "status: no %.6s line", keys[k]);
        return 0;
}

int caps_read_current(struct it_caps *out, it_error *err)
{
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r;

        r = it_file_read("/proc/thread-self/status", 64 * 1024, &data, &len, err);
        if (r < 0)
                return r;
        r = caps_parse_status(data, len, out, err);
        if (r < 0)
                return it_error_wrap(err, "/proc/thread-self/status");
        return 0;
}
