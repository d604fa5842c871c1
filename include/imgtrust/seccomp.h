/* Seccomp profiles for imgrun: podman's default, the OCI/podman JSON format, per-syscall knobs,
 * compiled with libseccomp, exported as classic BPF and evaluated offline.
 *
 * A profile is an ordered list of one-name rules, each with optional argument conditions and
 * capability/arch/kernel conditions (podman's includes/excludes). The conditions are evaluated
 * against profile->caps and the host when the filter is built, as podman does when it turns a
 * profile into the OCI spec. When a name has several unconditional rules the first one counts
 * (podman 4.3.1's setns is both allowed and, without CAP_SYS_ADMIN, denied: it ends up allowed),
 * and an unconditional rule for a name overrides its argument-conditioned ones (libseccomp does
 * so).
 */
#ifndef IMGTRUST_SECCOMP_H
#define IMGTRUST_SECCOMP_H

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>

#include "imgtrust/error.h"

/* Podman's 11 default capabilities (containers.conf default_capabilities). */
#define IT_SECCOMP_PODMAN_CAPS UINT64_C(0x00000000800405fb)

/* Bounds of what a JSON profile may hold; more is IT_EINPUT. */
#define IT_SECCOMP_JSON_MAX (4u << 20)
#define IT_SECCOMP_MAX_RULES 16384u
#define IT_SECCOMP_MAX_ARGS 6u
#define IT_SECCOMP_MAX_ARCHES 16u

enum it_scmp_action {
        IT_SCMP_KILL_PROCESS,
        IT_SCMP_KILL_THREAD,
        IT_SCMP_TRAP,
        IT_SCMP_ERRNO, /* ret: the errno */
        IT_SCMP_TRACE, /* ret: the message for the tracer */
        IT_SCMP_LOG,
        IT_SCMP_ALLOW,
};

/* Same numbering as libseccomp's enum scmp_compare. */
enum it_scmp_op {
        IT_SCMP_CMP_NE = 1,
        IT_SCMP_CMP_LT,
        IT_SCMP_CMP_LE,
        IT_SCMP_CMP_EQ,
        IT_SCMP_CMP_GE,
        IT_SCMP_CMP_GT,
        IT_SCMP_CMP_MASKED_EQ, /* (arg & value) == value_two */
};

struct it_seccomp_arg {
        unsigned int index; /* 0..5 */
        uint64_t value;
        uint64_t value_two;
        enum it_scmp_op op;
};

struct it_seccomp_rule {
        char *name; /* owned */
        enum it_scmp_action action;
        int ret;
        size_t nargs;
        struct it_seccomp_arg args[IT_SECCOMP_MAX_ARGS];
        uint64_t caps_include; /* all of these caps must be held */
        uint64_t caps_exclude; /* none of these caps may be held (podman: "any listed cap held"
                                  excludes the rule) */
        char **arches_include; /* NULL-terminated Go arch names ("amd64"); NULL: any; owned */
        char **arches_exclude;
        unsigned int min_kernel_major, min_kernel_minor; /* 0.0: no minimum */
};

struct it_seccomp_profile {
        enum it_scmp_action default_action;
        int default_ret;
        uint32_t arches[IT_SECCOMP_MAX_ARCHES]; /* SCMP_ARCH_* to filter; narches 0: the native
                                                   arch and its sub-architectures */
        size_t narches;
        uint64_t caps; /* effective capability set the includes/excludes are checked against */
        struct it_seccomp_rule *rules;
        size_t nrules, alloc;
};

/* An empty profile: default ERRNO(ENOSYS), no rules, caps = IT_SECCOMP_PODMAN_CAPS. */
void seccomp_profile_init(struct it_seccomp_profile *p);
void seccomp_profile_free(struct it_seccomp_profile *p);

/* Podman 4.3.1's default profile (containers/common 0.50.1 seccomp.json) for the capability set
 * caps_mask (bit N = capability N), plus our socket restriction: socket(2) only for AF_UNIX,
 * AF_INET, AF_INET6, AF_NETLINK (NETLINK_AUDIT needs CAP_AUDIT_WRITE, else EINVAL, as podman) and
 * AF_PACKET when CAP_NET_RAW is in caps_mask; every other family EAFNOSUPPORT; and the 32-bit
 * socketcall(2) multiplexer, whose family seccomp cannot see, refused with EPERM (ENOSYS is
 * impossible with libseccomp 2.5: see seccomp.c). p must be initialised; previous content is
 * replaced. Allocates. */
void seccomp_profile_default(struct it_seccomp_profile *p, uint64_t caps_mask);

/* Parse a podman/Docker/OCI JSON profile (defaultAction, defaultErrnoRet, architectures, archMap,
 * syscalls[{name|names, action, errnoRet, args, includes, excludes, comment}]) into p
 * (initialised; previous content replaced; caps left as they were). Unknown keys, wrong types,
 * unknown actions, ops, architectures and capabilities are IT_EINPUT naming the JSON path, e.g.
 * "seccomp profile: .syscalls[3].args[0].op: unknown operator \"SCMP_CMP_XX\"". Syscall names
 * libseccomp does not know are kept and skipped when building, as crun does. Allocates. */
int seccomp_profile_parse_json(const char *bytes, size_t len, struct it_seccomp_profile *p,
                               it_error *err);

/* podman's seccomp:allow:NAME / seccomp:deny:NAME: drop every rule for name, then allow it
 * unconditionally or make it fail with EPERM. A name libseccomp knows on none of the filtered
 * architectures is IT_EINPUT ("unknown syscall \"NAME\""). */
int seccomp_profile_allow(struct it_seccomp_profile *p, const char *name, it_error *err);
int seccomp_profile_deny(struct it_seccomp_profile *p, const char *name, it_error *err);
/* seccomp:deny:all: drop every rule and make the default EPERM, so only what is allowed back
 * afterwards runs. Nothing is kept implicitly, not even execve: the caller allows back what the
 * container needs. */
void seccomp_profile_deny_all(struct it_seccomp_profile *p);

/* Compile p with libseccomp into *out (seccomp_release() it). Default action as the profile says
 * (ENOSYS for podman's), every architecture of p->arches, the includes/excludes evaluated against
 * p->caps, the host arch and the running kernel. NO_NEW_PRIVS is not set by loading
 * (SCMP_FLTATR_CTL_NNP off): the caller decides. */
int seccomp_filter_build(const struct it_seccomp_profile *p, scmp_filter_ctx *out, it_error *err);

/* Load ctx into the calling thread. With no_new_privs off the kernel wants CAP_SYS_ADMIN in the
 * current user namespace; without it this fails with IT_EIO and says so. */
int seccomp_filter_load(scmp_filter_ctx ctx, it_error *err);

/* Load a classic BPF program (as seccomp_filter_export_bpf gives it) into the calling thread,
 * with the same rules about no_new_privs as seccomp_filter_load. The kernel checks the program. */
int seccomp_bpf_load(const struct sock_filter *prog, size_t len, it_error *err);

/* The classic BPF program of ctx, as the kernel would receive it. *prog is allocated. */
int seccomp_filter_export_bpf(scmp_filter_ctx ctx, struct sock_filter **prog, size_t *len,
                              it_error *err);

/* Run a seccomp BPF program over data as the kernel would; *ret is the SECCOMP_RET_* value
 * (action in SECCOMP_RET_ACTION_FULL, errno in SECCOMP_RET_DATA). A malformed program is
 * IT_EINPUT. */
int seccomp_bpf_eval(const struct sock_filter *prog, size_t len, const struct seccomp_data *data,
                     uint32_t *ret, it_error *err);

#endif
