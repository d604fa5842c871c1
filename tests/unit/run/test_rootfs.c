/* The masked and read-only path lists (imgtrust/rootfs.h) and podman's unmask rules. The mounts
 * themselves are checked from inside containers by tests/interop/run*.bats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "imgtrust/rootfs.h"
#include "imgtrust/strv.h"

static void test_defaults(void **state)
{
        (void)state;
        struct it_strv m = IT_STRV_INIT, r = IT_STRV_INIT;
        rootfs_default_masked(&m);
        rootfs_default_readonly(&r);
        /* podman 4.3.1's list, then what containers/common added since. */
        static const char *const want_m[] = {"/proc/acpi",
                                             "/proc/kcore",
                                             "/proc/keys",
                                             "/proc/latency_stats",
                                             "/proc/timer_list",
                                             "/proc/timer_stats",
                                             "/proc/sched_debug",
                                             "/proc/scsi",
                                             "/proc/interrupts",
                                             "/sys/firmware",
                                             "/sys/fs/selinux",
                                             "/sys/dev/block",
                                             "/sys/devices/virtual/powercap"};
        assert_true(m.n >= 13);
        for (size_t i = 0; i < 13; i++)
                assert_string_equal(m.v[i], want_m[i]);
        for (size_t i = 13; i < m.n; i++)
                assert_true(strncmp(m.v[i], "/sys/devices/system/cpu/cpu", 27) == 0 &&
                            strstr(m.v[i], "/thermal_throttle") != NULL);
        static const char *const want_r[] = {"/proc/asound", "/proc/bus", "/proc/fs",
                                             "/proc/irq",    "/proc/sys", "/proc/sysrq-trigger"};
        assert_int_equal(r.n, 6);
        for (size_t i = 0; i < 6; i++)
                assert_string_equal(r.v[i], want_r[i]);
        it_strv_free(&m);
        it_strv_free(&r);
}

static void test_unmask(void **state)
{
        (void)state;
        struct it_strv m = IT_STRV_INIT, un = IT_STRV_INIT;
        rootfs_default_masked(&m);
        size_t n0 = m.n;
        it_strv_push(&un, "/proc/keys");
        rootfs_unmask(&m, &un);
        assert_int_equal(m.n, n0 - 1);
        assert_false(it_strv_contains(&m, "/proc/keys"));
        assert_true(it_strv_contains(&m, "/proc/kcore"));
        assert_null(m.v[m.n]);
        /* Globs match whole components (FNM_PATHNAME): a star after /proc/ takes /proc entries
         * only. */
        it_strv_free(&un);
        it_strv_push(&un, "/proc/*");
        rootfs_unmask(&m, &un);
        for (size_t i = 0; i < m.n; i++)
                assert_true(strncmp(m.v[i], "/sys/", 5) == 0);
        assert_true(it_strv_contains(&m, "/sys/firmware"));
        it_strv_free(&un);
        it_strv_push(&un, "/sys/*");
        rootfs_unmask(&m, &un);
        assert_true(it_strv_contains(&m, "/sys/fs/selinux"));
        assert_false(it_strv_contains(&m, "/sys/firmware"));
        it_strv_free(&un);
        it_strv_push(&un, "ALL");
        rootfs_unmask(&m, &un);
        assert_int_equal(m.n, 0);
        it_strv_free(&un);
        it_strv_free(&m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_defaults),
            cmocka_unit_test(test_unmask),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
