/* Capability sets for imgrun (runtime-storage.md §5.1, §6 step 13, §7): podman's names, its
 * --cap-add/--cap-drop merge (containers/common capabilities.MergeCapabilities, as podman 4.3.1
 * behaves), the five sets it gives root and non-root users, and applying them in the container.
 *
 * Sets are 64-bit masks, bit N = capability N, as /proc/self/status prints them.
 */
#ifndef IMGTRUST_CAPS_H
#define IMGTRUST_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imgtrust/error.h"

/* Podman's 11 default capabilities (containers.conf default_capabilities). */
#define IT_CAPS_PODMAN_DEFAULT UINT64_C(0x00000000800405fb)
/* Used when /proc/sys/kernel/cap_last_cap cannot be read (CAP_CHECKPOINT_RESTORE, Linux 5.9). */
#define IT_CAPS_LAST_CAP_FALLBACK 40
/* Highest capability number a 64-bit mask can hold. */
#define IT_CAPS_MAX 63
/* caps_parse_name's *cap for "all". */
#define IT_CAP_ALL (-1)
/* Size of the buffer caps_format_status needs (5 lines of "CapXxx:\t%016x\n", and NUL). */
#define IT_CAPS_STATUS_LEN 128

struct it_caps {
        uint64_t bounding, effective, permitted, inheritable, ambient;
};

/* Mask of capabilities 0..last_cap (last_cap clamped to 0..IT_CAPS_MAX). */
uint64_t caps_mask_upto(int last_cap);

/* Capability name as podman prints it ("CAP_NET_RAW"); NULL for a number this build does not
 * know (> CAP_CHECKPOINT_RESTORE or < 0). Static storage. */
const char *caps_name(int cap);

/* Parse one name as podman accepts it: case-insensitive, with or without the "CAP_" prefix
 * ("NET_RAW", "cap_net_raw"), or "all" (*cap = IT_CAP_ALL; "CAP_ALL" is not a name, as in
 * podman). No trimming: " chown" is unknown. An unknown name is IT_EINPUT naming it. Whether the
 * running kernel knows the capability is caps_compute's check. */
int caps_parse_name(const char *name, int *cap, it_error *err);

/* /proc/sys/kernel/cap_last_cap, or IT_CAPS_LAST_CAP_FALLBACK when it cannot be read or parsed. */
int caps_last_cap(void);

/* The calling thread's bounding set (PR_CAPBSET_READ for 0..last_cap). */
int caps_read_bounding(int last_cap, uint64_t *out, it_error *err);

/* The five sets podman gives a container (podman 4.3.1 securityConfigureGenerator +
 * MergeCapabilities):
 *   bounding: privileged: every cap 0..last_cap; otherwise, in this order:
 *     - "all" in drop: only the added caps ("all" also in add is an error);
 *     - "all" in add: every cap, minus the dropped ones;
 *     - else the defaults minus drop plus add; a cap both added and dropped is an error.
 *     then intersected with host_bounding (podman's own bounding set).
 *   root_user (no --user, or user "0"/"root"): effective = permitted = bounding, inheritable =
 *     ambient = 0 (on exec the kernel gives uid 0 its bounding set anyway).
 *   otherwise: effective = permitted = inheritable = ambient = the added caps ("all": every cap)
 *     intersected with the bounding set; --privileged does not add to them (as in podman).
 * add and drop hold names as caps_parse_name takes them (either may be NULL when its count is 0).
 * A name unknown, or beyond last_cap, is IT_EINPUT naming the option and the name. */
int caps_compute(const char *const *add, size_t nadd, const char *const *drop, size_t ndrop,
                 bool privileged, bool root_user, uint64_t host_bounding, int last_cap,
                 struct it_caps *out, it_error *err);

/* Make the calling process hold exactly the sets in c (all in the current user namespace):
 * raise effective to permitted (a setresuid away from 0 under PR_SET_KEEPCAPS clears effective,
 * and dropping from the bounding set needs CAP_SETPCAP), PR_CAPBSET_DROP every cap 0..last_cap
 * not in c->bounding, capset(effective, permitted, inheritable), then clear the ambient set and
 * raise c->ambient. Must run in the container's init process after setresgid/setresuid and
 * before exec. For a non-root user, the caller sets PR_SET_KEEPCAPS(1) before setresuid (or the
 * kernel empties permitted and nothing can be raised back); exec clears the flag.
 * c must be consistent: effective and inheritable within permitted and bounding, ambient within
 * permitted and inheritable (IT_EINPUT otherwise, before anything changes). A failed call is
 * IT_EIO naming the step and the cap; the process's sets are then undefined: exit. */
int caps_apply(const struct it_caps *c, int last_cap, it_error *err);

/* The calling thread's five sets from /proc/thread-self/status. */
int caps_read_current(struct it_caps *out, it_error *err);

/* The sets as /proc/self/status shows them, in its order:
 * "CapInh:\t%016x\nCapPrm:\t...\nCapEff:\t...\nCapBnd:\t...\nCapAmb:\t...\n".
 * buf needs IT_CAPS_STATUS_LEN bytes. Returns buf. */
char *caps_format_status(const struct it_caps *c, char *buf, size_t size);

/* Parse the Cap* lines of a /proc/PID/status text into out. Each of the five must appear once
 * with exactly 16 hex digits; anything else is IT_EINPUT naming the line. Other lines ignored. */
int caps_parse_status(const char *text, size_t len, struct it_caps *out, it_error *err);

#endif
