/* Per-container ID ranges for root's containers (imgtrust/autons.h): slots carved from the
 * "containers" entries, records by pid + start time, stale records reused, exact errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "imgtrust/autons.h"
#include "imgtrust/cleanup.h"

struct fx {
        char dir[64];
        char subuid[96], subgid[96], rec[96];
};

static void put(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof *f);
        snprintf(f->dir, sizeof f->dir, "/tmp/autons.XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        snprintf(f->subuid, sizeof f->subuid, "%s/subuid", f->dir);
        snprintf(f->subgid, sizeof f->subgid, "%s/subgid", f->dir);
        snprintf(f->rec, sizeof f->rec, "%s/run/userns", f->dir);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
        int r = system(cmd);
        free(f);
        return r == 0 ? 0 : -1;
}

static void test_slots(void **state)
{
        struct fx *f = *state;
        /* Two ranges for containers (a 100000-ID one holds one slot), others ignored. */
        put(f->subuid, "alice:100000:65536\ncontainers:1000000:100000\ncontainers:5000000:"
                       "131072\n");
        put(f->subgid, "containers:2000000:300000\n");
        it_error err = IT_ERROR_INIT;
        struct it_idmap m1, m2, m3;
        struct it_autons_lease l1, l2, l3;
        assert_int_equal(autons_acquire(f->rec, f->subuid, f->subgid, &m1, &l1, &err), 0);
        assert_int_equal(l1.slot, 0);
        assert_int_equal(m1.nuid, 1);
        assert_int_equal(m1.uid[0].container_id, 0);
        assert_int_equal(m1.uid[0].host_id, 1000000);
        assert_int_equal(m1.uid[0].size, 65536);
        assert_int_equal(m1.gid[0].host_id, 2000000);
        assert_false(m1.single_id);
        assert_int_equal(autons_acquire(f->rec, f->subuid, f->subgid, &m2, &l2, &err), 0);
        assert_int_equal(l2.slot, 1);
        assert_int_equal(m2.uid[0].host_id, 5000000);
        assert_int_equal(m2.gid[0].host_id, 2000000 + 65536);
        assert_int_equal(autons_acquire(f->rec, f->subuid, f->subgid, &m3, &l3, &err), 0);
        assert_int_equal(m3.uid[0].host_id, 5000000 + 65536);
        assert_int_equal(m3.gid[0].host_id, 2000000 + 2 * 65536);
        /* The subgid entry has 4 slots but subuid only 3: all taken. */
        struct it_idmap m4;
        struct it_autons_lease l4;
        assert_int_equal(autons_acquire(f->rec, f->subuid, f->subgid, &m4, &l4, &err), IT_EINPUT);
        _cleanup_free_ char *msg = it_error_format(&err);
        char want[512];
        snprintf(want, sizeof want,
                 "every 65536-ID range of the \"containers\" entries in %s and %s is held by a "
                 "running container",
                 f->subuid, f->subgid);
        assert_string_equal(msg, want);
        it_error_clear(&err);
        /* Released slots are free again; the record file goes. */
        char held[sizeof l2.path];
        memcpy(held, l2.path, sizeof held);
        assert_int_equal(access(held, F_OK), 0);
        autons_release(&l2);
        assert_int_not_equal(access(held, F_OK), 0);
        assert_int_equal(autons_acquire(f->rec, f->subuid, f->subgid, &m4, &l4, &err), 0);
        assert_int_equal(l4.slot, 1);
        autons_release(&l1);
        autons_release(&l3);
        autons_release(&l4);
}

static void test_stale(void **state)
{
        struct fx *f = *state;
        put(f->subuid, "containers:1000000:65536\n");
        put(f->subgid, "containers:1000000:65536\n");
        it_error err = IT_ERROR_INIT;
        struct it_idmap m;
        struct it_autons_lease l;
        /* A record of a process that has gone: fork one, let it take the slot and exit. */
        pid_t p = fork();
        assert_true(p >= 0);
        if (p == 0) {
                struct it_autons_lease cl;
                struct it_idmap cm;
                it_error e = IT_ERROR_INIT;
                _exit(autons_acquire(f->rec, f->subuid, f->subgid, &cm, &cl, &e) == 0 ? 0 : 1);
        }
        int st;
        assert_int_equal(waitpid(p, &st, 0), p);
        assert_int_equal(WEXITSTATUS(st), 0);
        char rec[128];
        snprintf(rec, sizeof rec, "%s/0", f->rec);
        assert_int_equal(access(rec, F_OK), 0);
        assert_int_equal(autons_acquire(f->rec, f->subuid, f->subgid, &m, &l, &err), 0);
        assert_int_equal(l.slot, 0);
        /* Now held by us (a live process): a second request finds no slot. */
        struct it_idmap m2;
        struct it_autons_lease l2;
        assert_int_equal(autons_acquire(f->rec, f->subuid, f->subgid, &m2, &l2, &err), IT_EINPUT);
        it_error_clear(&err);
        autons_release(&l);
}

static void test_no_entry(void **state)
{
        struct fx *f = *state;
        put(f->subuid, "alice:100000:65536\ncontainers:1000000:1000\n");
        put(f->subgid, "containers:1000000:65536\n");
        it_error err = IT_ERROR_INIT;
        struct it_idmap m;
        struct it_autons_lease l;
        assert_int_equal(autons_acquire(f->rec, f->subuid, f->subgid, &m, &l, &err), IT_EINPUT);
        _cleanup_free_ char *msg = it_error_format(&err);
        char want[512];
        snprintf(want, sizeof want,
                 "%s: no range of at least 65536 IDs for \"containers\", which root's containers "
                 "take their user namespaces from: add the line "
                 "\"containers:2147483647:2147483648\" (as podman's --userns=auto wants), or run "
                 "with --userns host",
                 f->subuid);
        assert_string_equal(msg, want);
        it_error_clear(&err);
        assert_string_equal(l.path, "");
        /* A malformed file is named with its line. */
        put(f->subuid, "containers:x:65536\n");
        assert_int_equal(autons_acquire(f->rec, f->subuid, f->subgid, &m, &l, &err), IT_EINPUT);
        _cleanup_free_ char *msg2 = it_error_format(&err);
        snprintf(want, sizeof want, "%s:1: expected NAME:START:COUNT, got \"containers:x:65536\"",
                 f->subuid);
        assert_string_equal(msg2, want);
        it_error_clear(&err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_slots, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stale, setup, teardown),
            cmocka_unit_test_setup_teardown(test_no_entry, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
