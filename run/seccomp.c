/* Seccomp profiles: podman's default, the JSON format, knobs, libseccomp build, BPF eval. */
#include <errno.h>
#include <inttypes.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/caps.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/json.h"
#include "imgtrust/seccomp.h"
#include "imgtrust/xalloc.h"
#include "seccomp_default.h"

#if defined(__x86_64__)
#define NATIVE_GOARCH "amd64"
#elif defined(__aarch64__)
#define NATIVE_GOARCH "arm64"
#elif defined(__i386__)
#define NATIVE_GOARCH "386"
#elif defined(__s390x__)
#define NATIVE_GOARCH "s390x"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_GOARCH "ppc64le"
#elif defined(__riscv) && __riscv_xlen == 64
#define NATIVE_GOARCH "riscv64"
#else
#define NATIVE_GOARCH "unknown"
#endif

static void strv_freev(char **v)
{
        if (!v)
                return;
        for (char **s = v; *s; s++)
                free(*s);
        free(v);
}

static void rule_free(struct it_seccomp_rule *r)
{
        free(r->name);
        strv_freev(r->arches_include);
        strv_freev(r->arches_exclude);
}

void seccomp_profile_init(struct it_seccomp_profile *p)
{
        memset(p, 0, sizeof *p);
        p->default_action = IT_SCMP_ERRNO;
        p->default_ret = ENOSYS;
        p->caps = IT_SECCOMP_PODMAN_CAPS;
}

static void drop_rules(struct it_seccomp_profile *p)
{
        for (size_t i = 0; i < p->nrules; i++)
                rule_free(&p->rules[i]);
        p->nrules = 0;
}

void seccomp_profile_free(struct it_seccomp_profile *p)
{
        drop_rules(p);
        free(p->rules);
        p->rules = NULL;
        p->alloc = 0;
}

/* Appends a rule for name with the action and no conditions; returns it for the caller to add
 * conditions to. */
static struct it_seccomp_rule *add_rule(struct it_seccomp_profile *p, const char *name,
                                        enum it_scmp_action action, int ret)
{
        if (p->nrules == p->alloc) {
                p->alloc = p->alloc ? p->alloc * 2 : 64;
                p->rules = xrealloc(p->rules, p->alloc * sizeof *p->rules);
        }
        struct it_seccomp_rule *r = &p->rules[p->nrules++];
        memset(r, 0, sizeof *r);
        r->name = xstrdup(name);
        r->action = action;
        r->ret = ret;
        return r;
}

static void rule_arg(struct it_seccomp_rule *r, unsigned int index, enum it_scmp_op op,
                     uint64_t value)
{
        r->args[r->nargs++] = (struct it_seccomp_arg){.index = index, .value = value, .op = op};
}

static bool has_cap(uint64_t caps, int cap)
{
        return cap >= 0 && cap < 64 && (caps >> cap) & 1;
}

/* The address families socket(2) may use; the rest get EAFNOSUPPORT. Families above
 * AF_PACKET are refused by one GT rule, so even values the kernel does not know yet (or a 64-bit
 * argument with garbage in its upper half) never reach the default action. */
static void add_socket_rules(struct it_seccomp_profile *p, uint64_t caps)
{
        bool audit = has_cap(caps, CAP_AUDIT_WRITE), raw = has_cap(caps, CAP_NET_RAW);
        rule_arg(add_rule(p, "socket", IT_SCMP_ALLOW, 0), 0, IT_SCMP_CMP_EQ, AF_UNIX);
        rule_arg(add_rule(p, "socket", IT_SCMP_ALLOW, 0), 0, IT_SCMP_CMP_EQ, AF_INET);
        rule_arg(add_rule(p, "socket", IT_SCMP_ALLOW, 0), 0, IT_SCMP_CMP_EQ, AF_INET6);
        if (audit) {
                rule_arg(add_rule(p, "socket", IT_SCMP_ALLOW, 0), 0, IT_SCMP_CMP_EQ, AF_NETLINK);
        } else {
                /* podman: NETLINK_AUDIT (9) without CAP_AUDIT_WRITE is EINVAL */
                struct it_seccomp_rule *r = add_rule(p, "socket", IT_SCMP_ERRNO, EINVAL);
                rule_arg(r, 0, IT_SCMP_CMP_EQ, AF_NETLINK);
                rule_arg(r, 2, IT_SCMP_CMP_EQ, 9);
                r = add_rule(p, "socket", IT_SCMP_ALLOW, 0);
                rule_arg(r, 0, IT_SCMP_CMP_EQ, AF_NETLINK);
                rule_arg(r, 2, IT_SCMP_CMP_NE, 9);
        }
        for (uint64_t fam = 0; fam <= AF_PACKET; fam++) {
                if (fam == AF_UNIX || fam == AF_INET || fam == AF_INET6 || fam == AF_NETLINK)
                        continue;
                if (fam == AF_PACKET && raw)
                        rule_arg(add_rule(p, "socket", IT_SCMP_ALLOW, 0), 0, IT_SCMP_CMP_EQ, fam);
                else
                        rule_arg(add_rule(p, "socket", IT_SCMP_ERRNO, EAFNOSUPPORT), 0,
                                 IT_SCMP_CMP_EQ, fam);
        }
        rule_arg(add_rule(p, "socket", IT_SCMP_ERRNO, EAFNOSUPPORT), 0, IT_SCMP_CMP_GT, AF_PACKET);
}

static void rule_arches(struct it_seccomp_rule *r, const char *const *names, size_t n)
{
        r->arches_include = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
                r->arches_include[i] = xstrdup(names[i]);
}

void seccomp_profile_default(struct it_seccomp_profile *p, uint64_t caps_mask)
{
        drop_rules(p);
        p->default_action = IT_SCMP_ERRNO;
        p->default_ret = ENOSYS;
        p->narches = 0;
        p->caps = caps_mask;
        /* socketcall first, unconditional and not equal to the default action. On x86
         * libseccomp 2.5 writes every socket rule twice: onto the direct socket syscall (359),
         * conditions kept, and onto socketcall(2) with the arg0 condition replaced by
         * "call == SYS_SOCKET", so the family check is lost and rules that differ only in the
         * family collide (EEXIST). No filter attribute turns that off; an unconditional rule
         * for socketcall added first makes libseccomp drop the rewritten ones. It cannot be
         * ENOSYS: libseccomp refuses a rule equal to the default action (EACCES), and then the
         * rewritten "socketcall(SYS_SOCKET) -> allow" chains would stay. Hence EPERM. */
        add_rule(p, "socketcall", IT_SCMP_ERRNO, EPERM);
        for (size_t i = 0; i < it_seccomp_default_neperm; i++)
                add_rule(p, it_seccomp_default_eperm[i], IT_SCMP_ERRNO, EPERM);
        for (size_t i = 0; i < it_seccomp_default_nallow; i++)
                add_rule(p, it_seccomp_default_allow[i], IT_SCMP_ALLOW, 0);
        static const uint64_t personas[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
        for (size_t i = 0; i < sizeof personas / sizeof personas[0]; i++)
                rule_arg(add_rule(p, "personality", IT_SCMP_ALLOW, 0), 0, IT_SCMP_CMP_EQ,
                         personas[i]);
        static const char *const ppc[] = {"ppc64le"}, *const arm[] = {"arm", "arm64"},
                                 *const a64[] = {"amd64", "x32"},
                                 *const a86[] = {"amd64", "x32", "x86"},
                                 *const s390[] = {"s390", "s390x"};
        rule_arches(add_rule(p, "sync_file_range2", IT_SCMP_ALLOW, 0), ppc, 1);
        static const char *const armcalls[] = {"arm_fadvise64_64", "arm_sync_file_range",
                                               "breakpoint",       "cacheflush",
                                               "set_tls",          "sync_file_range2"};
        for (size_t i = 0; i < 6; i++)
                rule_arches(add_rule(p, armcalls[i], IT_SCMP_ALLOW, 0), arm, 2);
        rule_arches(add_rule(p, "arch_prctl", IT_SCMP_ALLOW, 0), a64, 2);
        rule_arches(add_rule(p, "modify_ldt", IT_SCMP_ALLOW, 0), a86, 3);
        static const char *const s390calls[] = {"s390_pci_mmio_read", "s390_pci_mmio_write",
                                                "s390_runtime_instr"};
        for (size_t i = 0; i < 3; i++)
                rule_arches(add_rule(p, s390calls[i], IT_SCMP_ALLOW, 0), s390, 2);
        for (size_t g = 0; g < it_seccomp_default_ngated; g++) {
                const struct it_seccomp_gated *gt = &it_seccomp_default_gated[g];
                for (size_t i = 0; i < gt->nnames; i++) {
                        struct it_seccomp_rule *r = add_rule(p, gt->names[i], IT_SCMP_ALLOW, 0);
                        r->caps_include = UINT64_C(1) << gt->cap;
                        r = add_rule(p, gt->names[i], IT_SCMP_ERRNO, EPERM);
                        r->caps_exclude = UINT64_C(1) << gt->cap;
                }
        }
        add_socket_rules(p, caps_mask);
}

/* ---- knobs ---- */

static void host_arches(uint32_t *arches, size_t *n)
{
        uint32_t native = seccomp_arch_native();
        *n = 0;
        arches[(*n)++] = native;
        switch (native) {
        case SCMP_ARCH_X86_64:
                arches[(*n)++] = SCMP_ARCH_X86;
                arches[(*n)++] = SCMP_ARCH_X32;
                break;
        case SCMP_ARCH_AARCH64:
                arches[(*n)++] = SCMP_ARCH_ARM;
                break;
        case SCMP_ARCH_S390X:
                arches[(*n)++] = SCMP_ARCH_S390;
                break;
        default:
                break;
        }
}

static void effective_arches(const struct it_seccomp_profile *p, uint32_t *arches, size_t *n)
{
        if (p->narches == 0) {
                host_arches(arches, n);
                return;
        }
        memcpy(arches, p->arches, p->narches * sizeof *arches);
        *n = p->narches;
}

static int check_name(const struct it_seccomp_profile *p, const char *name, it_error *err)
{
        uint32_t arches[IT_SECCOMP_MAX_ARCHES];
        size_t n;
        effective_arches(p, arches, &n);
        for (size_t i = 0; i < n; i++)
                if (seccomp_syscall_resolve_name_arch(arches[i], name) != __NR_SCMP_ERROR)
                        return 0;
        _cleanup_free_ char *q = it_quote(name, 64);
        return it_error_set(err, IT_EINPUT, "unknown syscall %s", q);
}

static void remove_name(struct it_seccomp_profile *p, const char *name)
{
        size_t o = 0;
        for (size_t i = 0; i < p->nrules; i++) {
                if (strcmp(p->rules[i].name, name) == 0)
                        rule_free(&p->rules[i]);
                else
                        p->rules[o++] = p->rules[i];
        }
        p->nrules = o;
}

int seccomp_profile_allow(struct it_seccomp_profile *p, const char *name, it_error *err)
{
        int r = check_name(p, name, err);
        if (r < 0)
                return r;
        remove_name(p, name);
        add_rule(p, name, IT_SCMP_ALLOW, 0);
        return 0;
}

int seccomp_profile_deny(struct it_seccomp_profile *p, const char *name, it_error *err)
{
        int r = check_name(p, name, err);
        if (r < 0)
                return r;
        remove_name(p, name);
        add_rule(p, name, IT_SCMP_ERRNO, EPERM);
        return 0;
}

void seccomp_profile_deny_all(struct it_seccomp_profile *p)
{
        drop_rules(p);
        p->default_action = IT_SCMP_ERRNO;
        p->default_ret = EPERM;
}

/* ---- JSON ---- */

static const struct {
        const char *name;
        enum it_scmp_action action;
} action_names[] = {
    {"SCMP_ACT_KILL", IT_SCMP_KILL_THREAD},
    {"SCMP_ACT_KILL_THREAD", IT_SCMP_KILL_THREAD},
    {"SCMP_ACT_KILL_PROCESS", IT_SCMP_KILL_PROCESS},
    {"SCMP_ACT_TRAP", IT_SCMP_TRAP},
    {"SCMP_ACT_ERRNO", IT_SCMP_ERRNO},
    {"SCMP_ACT_TRACE", IT_SCMP_TRACE},
    {"SCMP_ACT_LOG", IT_SCMP_LOG},
    {"SCMP_ACT_ALLOW", IT_SCMP_ALLOW},
};

static const struct {
        const char *name;
        enum it_scmp_op op;
} op_names[] = {
    {"SCMP_CMP_NE", IT_SCMP_CMP_NE},
    {"SCMP_CMP_LT", IT_SCMP_CMP_LT},
    {"SCMP_CMP_LE", IT_SCMP_CMP_LE},
    {"SCMP_CMP_EQ", IT_SCMP_CMP_EQ},
    {"SCMP_CMP_GE", IT_SCMP_CMP_GE},
    {"SCMP_CMP_GT", IT_SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", IT_SCMP_CMP_MASKED_EQ},
};

static const struct {
        const char *name;
        uint32_t token;
} arch_names[] = {
    {"SCMP_ARCH_X86", SCMP_ARCH_X86},
    {"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64},
    {"SCMP_ARCH_X32", SCMP_ARCH_X32},
    {"SCMP_ARCH_ARM", SCMP_ARCH_ARM},
    {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64},
    {"SCMP_ARCH_MIPS", SCMP_ARCH_MIPS},
    {"SCMP_ARCH_MIPS64", SCMP_ARCH_MIPS64},
    {"SCMP_ARCH_MIPS64N32", SCMP_ARCH_MIPS64N32},
    {"SCMP_ARCH_MIPSEL", SCMP_ARCH_MIPSEL},
    {"SCMP_ARCH_MIPSEL64", SCMP_ARCH_MIPSEL64},
    {"SCMP_ARCH_MIPSEL64N32", SCMP_ARCH_MIPSEL64N32},
    {"SCMP_ARCH_PPC", SCMP_ARCH_PPC},
    {"SCMP_ARCH_PPC64", SCMP_ARCH_PPC64},
    {"SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE},
    {"SCMP_ARCH_S390", SCMP_ARCH_S390},
    {"SCMP_ARCH_S390X", SCMP_ARCH_S390X},
    {"SCMP_ARCH_PARISC", SCMP_ARCH_PARISC},
    {"SCMP_ARCH_PARISC64", SCMP_ARCH_PARISC64},
    {"SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64},
};

struct jctx {
        struct it_buf path;
        it_error *err;
};

static int jfail(struct jctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int jfail(struct jctx *c, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *m = NULL;
        if (vasprintf(&m, fmt, ap) < 0)
                abort();
        va_end(ap);
        return it_error_set(c->err, IT_EINPUT, "seccomp profile: %s: %s",
                            c->path.len ? it_buf_str(&c->path) : ".", m);
}

/* Path helpers: push returns the old length to restore. */
static size_t jpush_key(struct jctx *c, const char *k)
{
        size_t old = c->path.len;
        it_json_path_key(&c->path, k);
        return old;
}
static size_t jpush_index(struct jctx *c, size_t i)
{
        size_t old = c->path.len;
        it_json_path_index(&c->path, i);
        return old;
}
static void jpop(struct jctx *c, size_t old)
{
        c->path.len = old;
        if (c->path.data)
                c->path.data[old] = '\0';
}

static int jcheck_keys(struct jctx *c, json_t *o, const char *const *allowed)
{
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v)
        {
                bool ok = false;
                for (const char *const *a = allowed; *a; a++)
                        if (strcmp(*a, k) == 0)
                                ok = true;
                if (!ok) {
                        _cleanup_free_ char *q = it_quote(k, 64);
                        return jfail(c, "unknown key %s", q);
                }
        }
        return 0;
}

static int jstring(struct jctx *c, json_t *v, const char **out)
{
        if (!json_is_string(v))
                return jfail(c, "expected a string, got %s", it_json_type_name(v));
        *out = json_string_value(v);
        return 0;
}

static int juint(struct jctx *c, json_t *v, uint64_t max, uint64_t *out)
{
        /* jansson holds integers as json_int_t (long long): values above INT64_MAX, legal in
         * Go's uint64 fields, do not parse as integers; reals are refused. */
        if (!json_is_integer(v))
                return jfail(c, "expected a non-negative integer, got %s", it_json_type_name(v));
        json_int_t i = json_integer_value(v);
        if (i < 0 || (uint64_t)i > max)
                return jfail(c, "%lld is out of range (0..%" PRIu64 ")", (long long)i, max);
        *out = (uint64_t)i;
        return 0;
}

static int parse_action(struct jctx *c, json_t *v, enum it_scmp_action *out)
{
        const char *s = NULL;
        int r = jstring(c, v, &s);
        if (r < 0)
                return r;
        for (size_t i = 0; i < sizeof action_names / sizeof action_names[0]; i++)
                if (strcmp(action_names[i].name, s) == 0) {
                        *out = action_names[i].action;
                        return 0;
                }
        _cleanup_free_ char *q = it_quote(s, 64);
        if (strcmp(s, "SCMP_ACT_NOTIFY") == 0)
                return it_error_set(c->err, IT_EUNSUPPORTED,
                                    "seccomp profile: %s: action %s is not supported",
                                    it_buf_str(&c->path), q);
        return jfail(c, "unknown action %s", q);
}

static int parse_arch(struct jctx *c, json_t *v, uint32_t *out)
{
        const char *s = NULL;
        int r = jstring(c, v, &s);
        if (r < 0)
                return r;
        for (size_t i = 0; i < sizeof arch_names / sizeof arch_names[0]; i++)
                if (strcmp(arch_names[i].name, s) == 0) {
                        *out = arch_names[i].token;
                        return 0;
                }
        _cleanup_free_ char *q = it_quote(s, 64);
        return jfail(c, "unknown architecture %s", q);
}

static int parse_caps(struct jctx *c, json_t *v, uint64_t *out)
{
        if (!json_is_array(v))
                return jfail(c, "expected an array, got %s", it_json_type_name(v));
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
                size_t old = jpush_index(c, i);
                const char *s = NULL;
                int r = jstring(c, e, &s);
                if (r < 0)
                        return r;
                /* Profiles spell capabilities exactly ("CAP_SYS_ADMIN"), unlike --cap-add. */
                int k;
                for (k = 0; caps_name(k); k++)
                        if (strcmp(caps_name(k), s) == 0)
                                break;
                if (!caps_name(k)) {
                        _cleanup_free_ char *q = it_quote(s, 64);
                        return jfail(c, "unknown capability %s", q);
                }
                *out |= UINT64_C(1) << k;
                jpop(c, old);
        }
        return 0;
}

static int parse_strv(struct jctx *c, json_t *v, char ***out)
{
        if (!json_is_array(v))
                return jfail(c, "expected an array, got %s", it_json_type_name(v));
        char **res = xcalloc(json_array_size(v) + 1, sizeof(char *));
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
                size_t old = jpush_index(c, i);
                const char *s = NULL;
                int r = jstring(c, e, &s);
                if (r < 0) {
                        strv_freev(res);
                        return r;
                }
                res[i] = xstrdup(s);
                jpop(c, old);
        }
        strv_freev(*out);
        *out = res;
        return 0;
}

static void rule_tmpl_free(struct it_seccomp_rule *r)
{
        r->name = NULL;
        rule_free(r);
}

/* includes/excludes into tmpl */
static int parse_filter(struct jctx *c, json_t *v, bool include, struct it_seccomp_rule *tmpl)
{
        static const char *const keys[] = {"caps", "arches", "minKernel", NULL};
        if (!json_is_object(v))
                return jfail(c, "expected an object, got %s", it_json_type_name(v));
        int r = jcheck_keys(c, v, keys);
        if (r < 0)
                return r;
        json_t *f;
        if ((f = json_object_get(v, "caps")) && !json_is_null(f)) {
                size_t old = jpush_key(c, "caps");
                r = parse_caps(c, f, include ? &tmpl->caps_include : &tmpl->caps_exclude);
                if (r < 0)
                        return r;
                jpop(c, old);
        }
        if ((f = json_object_get(v, "arches")) && !json_is_null(f)) {
                size_t old = jpush_key(c, "arches");
                r = parse_strv(c, f, include ? &tmpl->arches_include : &tmpl->arches_exclude);
                if (r < 0)
                        return r;
                jpop(c, old);
        }
        if ((f = json_object_get(v, "minKernel")) && !json_is_null(f)) {
                size_t old = jpush_key(c, "minKernel");
                const char *s = NULL;
                if ((r = jstring(c, f, &s)) < 0)
                        return r;
                if (!include)
                        return jfail(c, "minKernel is only valid in includes");
                unsigned int maj, min;
                int n = 0;
                if (*s && sscanf(s, "%3u.%3u%n", &maj, &min, &n) == 2 && s[n] == '\0') {
                        tmpl->min_kernel_major = maj;
                        tmpl->min_kernel_minor = min;
                } else if (*s) {
                        _cleanup_free_ char *q = it_quote(s, 64);
                        return jfail(c, "%s is not a kernel version MAJOR.MINOR", q);
                }
                jpop(c, old);
        }
        return 0;
}

static int parse_args(struct jctx *c, json_t *v, struct it_seccomp_rule *tmpl)
{
        static const char *const keys[] = {"index", "value", "valueTwo", "op", NULL};
        if (!json_is_array(v))
                return jfail(c, "expected an array, got %s", it_json_type_name(v));
        if (json_array_size(v) > IT_SECCOMP_MAX_ARGS)
                return jfail(c, "%zu conditions, at most %u", json_array_size(v),
                             IT_SECCOMP_MAX_ARGS);
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
                size_t old = jpush_index(c, i);
                struct it_seccomp_arg *a = &tmpl->args[i];
                if (!json_is_object(e))
                        return jfail(c, "expected an object, got %s", it_json_type_name(e));
                int r = jcheck_keys(c, e, keys);
                if (r < 0)
                        return r;
                uint64_t idx = 0;
                json_t *f;
                size_t o2;
                if (!(f = json_object_get(e, "index")))
                        return jfail(c, "missing index");
                o2 = jpush_key(c, "index");
                if ((r = juint(c, f, IT_SECCOMP_MAX_ARGS - 1, &idx)) < 0)
                        return r;
                jpop(c, o2);
                a->index = (unsigned int)idx;
                for (size_t k = 0; k < i; k++)
                        if (tmpl->args[k].index == a->index)
                                return jfail(c, "argument %u is compared twice", a->index);
                if (!(f = json_object_get(e, "value")))
                        return jfail(c, "missing value");
                o2 = jpush_key(c, "value");
                if ((r = juint(c, f, INT64_MAX, &a->value)) < 0)
                        return r;
                jpop(c, o2);
                if ((f = json_object_get(e, "valueTwo"))) {
                        o2 = jpush_key(c, "valueTwo");
                        if ((r = juint(c, f, INT64_MAX, &a->value_two)) < 0)
                                return r;
                        jpop(c, o2);
                }
                if (!(f = json_object_get(e, "op")))
                        return jfail(c, "missing op");
                o2 = jpush_key(c, "op");
                const char *s = NULL;
                if ((r = jstring(c, f, &s)) < 0)
                        return r;
                size_t k;
                for (k = 0; k < sizeof op_names / sizeof op_names[0]; k++)
                        if (strcmp(op_names[k].name, s) == 0)
                                break;
                if (k == sizeof op_names / sizeof op_names[0]) {
                        _cleanup_free_ char *q = it_quote(s, 64);
                        return jfail(c, "unknown operator %s", q);
                }
                a->op = op_names[k].op;
                jpop(c, o2);
                jpop(c, old);
        }
        tmpl->nargs = json_array_size(v);
        return 0;
}

static int parse_syscall(struct jctx *c, json_t *v, struct it_seccomp_profile *p)
{
        static const char *const keys[] = {"name", "names",   "action",   "errnoRet", "errno",
                                           "args", "comment", "includes", "excludes", NULL};
        if (!json_is_object(v))
                return jfail(c, "expected an object, got %s", it_json_type_name(v));
        int r = jcheck_keys(c, v, keys);
        if (r < 0)
                return r;
        struct it_seccomp_rule tmpl __attribute__((cleanup(rule_tmpl_free))) = {0};
        json_t *f;
        size_t old;
        if (!(f = json_object_get(v, "action")))
                return jfail(c, "missing action");
        old = jpush_key(c, "action");
        if ((r = parse_action(c, f, &tmpl.action)) < 0)
                return r;
        jpop(c, old);
        tmpl.ret = tmpl.action == IT_SCMP_ERRNO ? EPERM : 0;
        if ((f = json_object_get(v, "errnoRet")) && !json_is_null(f)) {
                old = jpush_key(c, "errnoRet");
                uint64_t n;
                if ((r = juint(c, f, 0xffff, &n)) < 0)
                        return r;
                if (tmpl.action != IT_SCMP_ERRNO && tmpl.action != IT_SCMP_TRACE)
                        return jfail(c, "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
                tmpl.ret = (int)n;
                jpop(c, old);
        }
        if ((f = json_object_get(v, "errno")) && !json_is_null(f) && !json_is_string(f)) {
                old = jpush_key(c, "errno");
                return jfail(c, "expected a string, got %s", it_json_type_name(f));
        }
        if ((f = json_object_get(v, "comment")) && !json_is_null(f) && !json_is_string(f)) {
                old = jpush_key(c, "comment");
                return jfail(c, "expected a string, got %s", it_json_type_name(f));
        }
        int rc = 0;
        if ((f = json_object_get(v, "args")) && !json_is_null(f)) {
                old = jpush_key(c, "args");
                if ((r = parse_args(c, f, &tmpl)) < 0)
                        return r;
                jpop(c, old);
        }
        if ((f = json_object_get(v, "includes")) && !json_is_null(f)) {
                old = jpush_key(c, "includes");
                if ((rc = parse_filter(c, f, true, &tmpl)) < 0)
                        return rc;
                jpop(c, old);
        }
        if ((f = json_object_get(v, "excludes")) && !json_is_null(f)) {
                old = jpush_key(c, "excludes");
                if ((rc = parse_filter(c, f, false, &tmpl)) < 0)
                        return rc;
                jpop(c, old);
        }
        json_t *names = json_object_get(v, "names"), *name = json_object_get(v, "name");
        if (names && name)
                return jfail(c, "both name and names");
        size_t n = 0;
        if (names) {
                old = jpush_key(c, "names");
                if (!json_is_array(names) || json_array_size(names) == 0) {
                        rc = jfail(c, "expected a non-empty array of syscall names");
                        return rc;
                }
                n = json_array_size(names);
        } else if (name) {
                old = jpush_key(c, "name");
                n = 1;
        } else {
                rc = jfail(c, "missing names");
                return rc;
        }
        if (p->nrules + n > IT_SECCOMP_MAX_RULES) {
                rc = jfail(c, "more than %u rules", IT_SECCOMP_MAX_RULES);
                return rc;
        }
        for (size_t i = 0; i < n; i++) {
                json_t *e = names ? json_array_get(names, i) : name;
                size_t o2 = names ? jpush_index(c, i) : c->path.len;
                const char *s = NULL;
                if ((rc = jstring(c, e, &s)) < 0)
                        return rc;
                if (*s == '\0' || strlen(s) > 64 ||
                    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(s)) {
                        _cleanup_free_ char *q = it_quote(s, 64);
                        rc = jfail(c, "%s is not a syscall name", q);
                        return rc;
                }
                jpop(c, o2);
                struct it_seccomp_rule *r2 = add_rule(p, s, tmpl.action, tmpl.ret);
                char *nm = r2->name;
                *r2 = tmpl;
                r2->name = nm;
                r2->arches_include = NULL;
                r2->arches_exclude = NULL;
                if (tmpl.arches_include) {
                        size_t k = 0;
                        while (tmpl.arches_include[k])
                                k++;
                        rule_arches(r2, (const char *const *)tmpl.arches_include, k);
                }
                if (tmpl.arches_exclude) {
                        size_t k = 0;
                        while (tmpl.arches_exclude[k])
                                k++;
                        r2->arches_exclude = xcalloc(k + 1, sizeof(char *));
                        for (size_t j = 0; j < k; j++)
                                r2->arches_exclude[j] = xstrdup(tmpl.arches_exclude[j]);
                }
        }
        jpop(c, old);
        return 0;
}

static int parse_arch_list(struct jctx *c, json_t *v, struct it_seccomp_profile *p)
{
        if (!json_is_array(v))
                return jfail(c, "expected an array, got %s", it_json_type_name(v));
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
                size_t old = jpush_index(c, i);
                uint32_t a;
                int r = parse_arch(c, e, &a);
                if (r < 0)
                        return r;
                bool dup = false;
                for (size_t k = 0; k < p->narches; k++)
                        dup |= p->arches[k] == a;
                if (!dup) {
                        if (p->narches == IT_SECCOMP_MAX_ARCHES)
                                return jfail(c, "too many architectures");
                        p->arches[p->narches++] = a;
                }
                jpop(c, old);
        }
        return 0;
}

/* podman: the architectures are those archMap lists for the native arch (itself and its
 * subArchitectures); without a matching archMap entry, the "architectures" list. */
static int parse_arch_map(struct jctx *c, json_t *v, struct it_seccomp_profile *p, bool *matched)
{
        static const char *const keys[] = {"architecture", "subArchitectures", NULL};
        if (!json_is_array(v))
                return jfail(c, "expected an array, got %s", it_json_type_name(v));
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
                size_t old = jpush_index(c, i);
                if (!json_is_object(e))
                        return jfail(c, "expected an object, got %s", it_json_type_name(e));
                int r = jcheck_keys(c, e, keys);
                if (r < 0)
                        return r;
                json_t *a = json_object_get(e, "architecture");
                if (!a)
                        return jfail(c, "missing architecture");
                size_t o2 = jpush_key(c, "architecture");
                uint32_t tok;
                if ((r = parse_arch(c, a, &tok)) < 0)
                        return r;
                jpop(c, o2);
                json_t *subs = json_object_get(e, "subArchitectures");
                if (subs && !json_is_null(subs) && !json_is_array(subs)) {
                        o2 = jpush_key(c, "subArchitectures");
                        return jfail(c, "expected an array, got %s", it_json_type_name(subs));
                }
                if (tok == seccomp_arch_native() && !*matched) {
                        *matched = true;
                        p->narches = 0;
                        p->arches[p->narches++] = tok;
                        if (subs && !json_is_null(subs)) {
                                o2 = jpush_key(c, "subArchitectures");
                                if ((r = parse_arch_list(c, subs, p)) < 0)
                                        return r;
                                jpop(c, o2);
                        }
                } else if (subs && !json_is_null(subs)) {
                        /* validate the names even when not ours */
                        struct it_seccomp_profile scratch = {0};
                        o2 = jpush_key(c, "subArchitectures");
                        if ((r = parse_arch_list(c, subs, &scratch)) < 0)
                                return r;
                        jpop(c, o2);
                }
                jpop(c, old);
        }
        return 0;
}

static int parse_root(json_t *root, struct it_seccomp_profile *p, struct jctx *c, it_error *err)
{
        int r;
        static const char *const keys[] = {
            "defaultAction", "defaultErrnoRet", "defaultErrno", "architectures",    "archMap",
            "syscalls",      "flags",           "listenerPath", "listenerMetadata", NULL};

        if (!json_is_object(root))
                return jfail(c, "expected an object, got %s", it_json_type_name(root));
        if ((r = jcheck_keys(c, root, keys)) < 0)
                return r;
        json_t *f;
        if (!(f = json_object_get(root, "defaultAction"))) {
                r = jfail(c, "missing defaultAction");
                return r;
        }
        jpush_key(c, "defaultAction");
        if ((r = parse_action(c, f, &p->default_action)) < 0)
                return r;
        jpop(c, 0);
        if (p->default_action == IT_SCMP_ERRNO)
                p->default_ret = EPERM;
        if ((f = json_object_get(root, "defaultErrnoRet")) && !json_is_null(f)) {
                jpush_key(c, "defaultErrnoRet");
                uint64_t n;
                if ((r = juint(c, f, 0xffff, &n)) < 0)
                        return r;
                if (p->default_action != IT_SCMP_ERRNO && p->default_action != IT_SCMP_TRACE) {
                        r = jfail(c, "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
                        return r;
                }
                p->default_ret = (int)n;
                jpop(c, 0);
        }
        if ((f = json_object_get(root, "flags")) && !json_is_null(f)) {
                jpush_key(c, "flags");
                if (!json_is_array(f) || json_array_size(f) != 0) {
                        r = it_error_set(err, IT_EUNSUPPORTED,
                                         "seccomp profile: flags: filter flags are not supported");
                        return r;
                }
                jpop(c, 0);
        }
        if ((f = json_object_get(root, "listenerPath")) && !json_is_null(f) &&
            !(json_is_string(f) && json_string_length(f) == 0)) {
                r = it_error_set(
                    err, IT_EUNSUPPORTED,
                    "seccomp profile: listenerPath: notify listeners are not supported");
                return r;
        }
        bool matched = false;
        if ((f = json_object_get(root, "archMap")) && !json_is_null(f)) {
                jpush_key(c, "archMap");
                if ((r = parse_arch_map(c, f, p, &matched)) < 0)
                        return r;
                jpop(c, 0);
        }
        if ((f = json_object_get(root, "architectures")) && !json_is_null(f)) {
                jpush_key(c, "architectures");
                struct it_seccomp_profile scratch = {0};
                if ((r = parse_arch_list(c, f, matched ? &scratch : p)) < 0)
                        return r;
                jpop(c, 0);
        }
        if ((f = json_object_get(root, "syscalls")) && !json_is_null(f)) {
                jpush_key(c, "syscalls");
                if (!json_is_array(f)) {
                        r = jfail(c, "expected an array, got %s", it_json_type_name(f));
                        return r;
                }
                size_t i;
                json_t *e;
                json_array_foreach(f, i, e)
                {
                        size_t old = jpush_index(c, i);
                        if ((r = parse_syscall(c, e, p)) < 0)
                                return r;
                        jpop(c, old);
                }
                jpop(c, 0);
        }
        return 0;
}

int seccomp_profile_parse_json(const char *bytes, size_t len, struct it_seccomp_profile *p,
                               it_error *err)
{
        _cleanup_json_ json_t *root = NULL;
        int r = it_json_parse(bytes, len, IT_SECCOMP_JSON_MAX, "seccomp profile", &root, err);
        if (r < 0)
                return r;
        drop_rules(p);
        p->narches = 0;
        p->default_ret = 0;
        struct jctx c = {.err = err};
        r = parse_root(root, p, &c, err);
        it_buf_free(&c.path);
        if (r < 0)
                drop_rules(p);
        return r;
}

/* ---- build ---- */

static uint32_t scmp_action(enum it_scmp_action a, int ret)
{
        switch (a) {
        case IT_SCMP_KILL_PROCESS:
                return SCMP_ACT_KILL_PROCESS;
        case IT_SCMP_KILL_THREAD:
                return SCMP_ACT_KILL_THREAD;
        case IT_SCMP_TRAP:
                return SCMP_ACT_TRAP;
        case IT_SCMP_ERRNO:
                return SCMP_ACT_ERRNO((uint32_t)ret);
        case IT_SCMP_TRACE:
                return SCMP_ACT_TRACE((uint32_t)ret);
        case IT_SCMP_LOG:
                return SCMP_ACT_LOG;
        case IT_SCMP_ALLOW:
                break;
        }
        return SCMP_ACT_ALLOW;
}

static bool in_strv(char **v, const char *s)
{
        for (; v && *v; v++)
                if (strcmp(*v, s) == 0)
                        return true;
        return false;
}

static void kernel_version(unsigned int *maj, unsigned int *min)
{
        struct utsname u;
        *maj = *min = 0;
        if (uname(&u) == 0 && sscanf(u.release, "%u.%u", maj, min) != 2)
                *maj = *min = 0;
}

static bool rule_applies(const struct it_seccomp_profile *p, const struct it_seccomp_rule *r,
                         unsigned int kmaj, unsigned int kmin)
{
        if ((p->caps & r->caps_include) != r->caps_include)
                return false;
        if (r->caps_exclude && (p->caps & r->caps_exclude))
                return false;
        if (r->arches_include && !in_strv(r->arches_include, NATIVE_GOARCH))
                return false;
        if (in_strv(r->arches_exclude, NATIVE_GOARCH))
                return false;
        if (r->min_kernel_major && (kmaj < r->min_kernel_major ||
                                    (kmaj == r->min_kernel_major && kmin < r->min_kernel_minor)))
                return false;
        return true;
}

int seccomp_filter_build(const struct it_seccomp_profile *p, scmp_filter_ctx *out, it_error *err)
{
        uint32_t arches[IT_SECCOMP_MAX_ARCHES];
        size_t narches;
        uint32_t native = seccomp_arch_native();
        unsigned int kmaj, kmin;
        int rc;

        *out = NULL;
        scmp_filter_ctx ctx = seccomp_init(scmp_action(p->default_action, p->default_ret));
        if (!ctx)
                return it_error_set(err, IT_EIO, "seccomp: cannot create a libseccomp filter");
        /* Loading must not switch no_new_privs on behind the caller's back. */
        if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0) {
                rc = it_error_sys(err, IT_EIO, -rc, "seccomp: cannot clear SCMP_FLTATR_CTL_NNP");
                goto fail;
        }
        /* The native arch is always in the context (seccomp_init adds it), as podman does. */
        effective_arches(p, arches, &narches);
        for (size_t i = 0; i < narches; i++) {
                if (arches[i] == native)
                        continue;
                rc = seccomp_arch_add(ctx, arches[i]);
                if (rc < 0 && rc != -EEXIST) {
                        rc = it_error_sys(err, IT_EIO, -rc,
                                          "seccomp: cannot add architecture 0x%08" PRIx32,
                                          arches[i]);
                        goto fail;
                }
        }
        kernel_version(&kmaj, &kmin);
        for (size_t i = 0; i < p->nrules; i++) {
                const struct it_seccomp_rule *r = &p->rules[i];
                if (!rule_applies(p, r, kmaj, kmin))
                        continue;
                /* The first unconditional rule for a name wins and overrides the name's
                 * argument-conditioned rules (see seccomp.h): decided here rather than left
                 * to libseccomp, which skips rules equal to the default action. */
                bool shadowed = false;
                for (size_t k = 0; k < p->nrules && !shadowed; k++) {
                        const struct it_seccomp_rule *o = &p->rules[k];
                        if (k == i || o->nargs != 0 || (r->nargs == 0 && k > i))
                                continue;
                        shadowed = strcmp(o->name, r->name) == 0 && rule_applies(p, o, kmaj, kmin);
                }
                if (shadowed)
                        continue;
                int nr = seccomp_syscall_resolve_name(r->name);
                if (nr == __NR_SCMP_ERROR)
                        continue; /* unknown to libseccomp: skipped, as crun does */
                struct scmp_arg_cmp cmp[IT_SECCOMP_MAX_ARGS];
                for (size_t k = 0; k < r->nargs; k++) {
                        const struct it_seccomp_arg *a = &r->args[k];
                        cmp[k] = (struct scmp_arg_cmp){.arg = a->index,
                                                       .op = (enum scmp_compare)a->op,
                                                       .datum_a = a->value,
                                                       .datum_b = a->value_two};
                        if (a->op == IT_SCMP_CMP_MASKED_EQ) {
                                /* OCI: (arg & value) == valueTwo */
                                cmp[k].datum_a = a->value;
                                cmp[k].datum_b = a->value_two;
                        }
                }
                uint32_t act = scmp_action(r->action, r->ret);
                if (act == scmp_action(p->default_action, p->default_ret))
                        continue; /* libseccomp refuses rules that repeat the default */
                rc = seccomp_rule_add_array(ctx, act, nr, (unsigned int)r->nargs, cmp);
                if (rc < 0) {
                        _cleanup_free_ char *q = it_quote(r->name, 64);
                        rc = it_error_sys(err, IT_EINPUT, -rc, "seccomp: rule %zu for %s", i, q);
                        goto fail;
                }
        }
        *out = ctx;
        return 0;
fail:
        seccomp_release(ctx);
        return rc;
}

int seccomp_filter_load(scmp_filter_ctx ctx, it_error *err)
{
        int rc = seccomp_load(ctx);
        if (rc == 0)
                return 0;
        if ((rc == -EACCES || rc == -EPERM) && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0)
                return it_error_sys(err, IT_EIO, -rc,
                                    "seccomp: cannot load the filter: no_new_privs is off and "
                                    "CAP_SYS_ADMIN is not held in this user namespace");
        return it_error_sys(err, IT_EIO, -rc, "seccomp: cannot load the filter");
}

int seccomp_bpf_load(const struct sock_filter *prog, size_t len, it_error *err)
{
        struct sock_fprog fp = {.len = (unsigned short)len, .filter = (struct sock_filter *)prog};
        if (len == 0 || len > BPF_MAXINSNS)
                return it_error_set(err, IT_EINPUT, "seccomp: a program of %zu instructions", len);
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) == 0)
                return 0;
        int e = errno;
        if ((e == EACCES || e == EPERM) && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0)
                return it_error_sys(err, IT_EIO, e,
                                    "seccomp: cannot load the filter: no_new_privs is off and "
                                    "CAP_SYS_ADMIN is not held in this user namespace");
        return it_error_sys(err, IT_EIO, e, "seccomp: cannot load the filter");
}

int seccomp_filter_export_bpf(scmp_filter_ctx ctx, struct sock_filter **prog, size_t *len,
                              it_error *err)
{
        *prog = NULL;
        *len = 0;
        _cleanup_close_ int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
        if (fd < 0)
                return it_error_sys(err, IT_EIO, errno, "seccomp: memfd_create");
        int rc = seccomp_export_bpf(ctx, fd);
        if (rc < 0)
                return it_error_sys(err, IT_EIO, -rc, "seccomp: cannot export the filter");
        off_t size = lseek(fd, 0, SEEK_END);
        if (size < 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
            size > (off_t)(BPF_MAXINSNS * sizeof(struct sock_filter)) * 16)
                return it_error_set(err, IT_EIO, "seccomp: exported filter has %lld bytes",
                                    (long long)size);
        _cleanup_free_ struct sock_filter *buf = xmalloc(size ? (size_t)size : 1);
        size_t got = 0;
        while (got < (size_t)size) {
                ssize_t n = pread(fd, (char *)buf + got, (size_t)size - got, (off_t)got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return it_error_sys(err, IT_EIO, n < 0 ? errno : EIO,
                                            "seccomp: cannot read the exported filter");
                got += (size_t)n;
        }
        *len = (size_t)size / sizeof(struct sock_filter);
        *prog = IT_STEAL(buf);
        return 0;
}

/* ---- classic BPF ---- */

int seccomp_bpf_eval(const struct sock_filter *prog, size_t len, const struct seccomp_data *data,
                     uint32_t *ret, it_error *err)
{
        uint32_t A = 0, X = 0, M[BPF_MEMWORDS] = {0};
        const unsigned char *d = (const unsigned char *)data;
        if (len == 0 || len > BPF_MAXINSNS)
                return it_error_set(err, IT_EINPUT, "bpf: program of %zu instructions", len);
        for (size_t pc = 0; pc < len; pc++) {
                const struct sock_filter *in = &prog[pc];
                uint32_t k = in->k;
                switch (in->code) {
                case BPF_LD | BPF_W | BPF_ABS:
                        if (k % 4 || k + 4 > sizeof *data)
                                return it_error_set(err, IT_EINPUT, "bpf: %zu: load at offset %u",
                                                    pc, k);
                        memcpy(&A, d + k, 4);
                        break;
                case BPF_LD | BPF_W | BPF_LEN:
                        A = sizeof *data;
                        break;
                case BPF_LDX | BPF_W | BPF_LEN:
                        X = sizeof *data;
                        break;
                case BPF_LD | BPF_IMM:
                        A = k;
                        break;
                case BPF_LDX | BPF_IMM:
                        X = k;
                        break;
                case BPF_LD | BPF_MEM:
                case BPF_LDX | BPF_MEM:
                case BPF_ST:
                case BPF_STX:
                        if (k >= BPF_MEMWORDS)
                                return it_error_set(err, IT_EINPUT, "bpf: %zu: scratch %u", pc, k);
                        if (in->code == (BPF_LD | BPF_MEM))
                                A = M[k];
                        else if (in->code == (BPF_LDX | BPF_MEM))
                                X = M[k];
                        else if (in->code == BPF_ST)
                                M[k] = A;
                        else
                                M[k] = X;
                        break;
                case BPF_ALU | BPF_ADD | BPF_K:
                        A += k;
                        break;
                case BPF_ALU | BPF_ADD | BPF_X:
                        A += X;
                        break;
                case BPF_ALU | BPF_SUB | BPF_K:
                        A -= k;
                        break;
                case BPF_ALU | BPF_SUB | BPF_X:
                        A -= X;
                        break;
                case BPF_ALU | BPF_MUL | BPF_K:
                        A *= k;
                        break;
                case BPF_ALU | BPF_MUL | BPF_X:
                        A *= X;
                        break;
                case BPF_ALU | BPF_DIV | BPF_K:
                case BPF_ALU | BPF_DIV | BPF_X:
                case BPF_ALU | BPF_MOD | BPF_K:
                case BPF_ALU | BPF_MOD | BPF_X: {
                        uint32_t v = BPF_SRC(in->code) == BPF_X ? X : k;
                        if (v == 0) {
                                *ret = 0; /* the kernel returns 0 (kill) on division by zero */
                                return 0;
                        }
                        A = BPF_OP(in->code) == BPF_DIV ? A / v : A % v;
                        break;
                }
                case BPF_ALU | BPF_AND | BPF_K:
                        A &= k;
                        break;
                case BPF_ALU | BPF_AND | BPF_X:
                        A &= X;
                        break;
                case BPF_ALU | BPF_OR | BPF_K:
                        A |= k;
                        break;
                case BPF_ALU | BPF_OR | BPF_X:
                        A |= X;
                        break;
                case BPF_ALU | BPF_XOR | BPF_K:
                        A ^= k;
                        break;
                case BPF_ALU | BPF_XOR | BPF_X:
                        A ^= X;
                        break;
                case BPF_ALU | BPF_LSH | BPF_K:
                        A = k < 32 ? A << k : 0;
                        break;
                case BPF_ALU | BPF_LSH | BPF_X:
                        A = X < 32 ? A << X : 0;
                        break;
                case BPF_ALU | BPF_RSH | BPF_K:
                        A = k < 32 ? A >> k : 0;
                        break;
                case BPF_ALU | BPF_RSH | BPF_X:
                        A = X < 32 ? A >> X : 0;
                        break;
                case BPF_ALU | BPF_NEG:
                        A = -A;
                        break;
                case BPF_MISC | BPF_TAX:
                        X = A;
                        break;
                case BPF_MISC | BPF_TXA:
                        A = X;
                        break;
                case BPF_RET | BPF_K:
                        *ret = k;
                        return 0;
                case BPF_RET | BPF_A:
                        *ret = A;
                        return 0;
                case BPF_JMP | BPF_JA:
                        if (k >= len - pc - 1)
                                return it_error_set(err, IT_EINPUT, "bpf: %zu: jump out of range",
                                                    pc);
                        pc += k;
                        break;
                case BPF_JMP | BPF_JEQ | BPF_K:
                case BPF_JMP | BPF_JEQ | BPF_X:
                case BPF_JMP | BPF_JGT | BPF_K:
                case BPF_JMP | BPF_JGT | BPF_X:
                case BPF_JMP | BPF_JGE | BPF_K:
                case BPF_JMP | BPF_JGE | BPF_X:
                case BPF_JMP | BPF_JSET | BPF_K:
                case BPF_JMP | BPF_JSET | BPF_X: {
                        uint32_t v = BPF_SRC(in->code) == BPF_X ? X : k;
                        bool t;
                        switch (BPF_OP(in->code)) {
                        case BPF_JEQ:
                                t = A == v;
                                break;
                        case BPF_JGT:
                                t = A > v;
                                break;
                        case BPF_JGE:
                                t = A >= v;
                                break;
                        default:
                                t = (A & v) != 0;
                                break;
                        }
                        size_t off = t ? in->jt : in->jf;
                        if (off >= len - pc - 1)
                                return it_error_set(err, IT_EINPUT, "bpf: %zu: jump out of range",
                                                    pc);
                        pc += off;
                        break;
                }
                default:
                        return it_error_set(err, IT_EINPUT, "bpf: %zu: unsupported opcode 0x%04x",
                                            pc, in->code);
                }
        }
        return it_error_set(err, IT_EINPUT, "bpf: program ends without a return");
}
