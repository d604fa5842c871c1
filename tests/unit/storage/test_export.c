/* export_tree (imgtrust/export.h): a directory tree as a pax tar stream, read back with
 * libarchive entry by entry. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/export.h"
#include "imgtrust/fs.h"
#include "imgtrust/xalloc.h"

struct fixture {
        char dir[64];
        int dfd;
};

static int setup(void **state)
{
        struct fixture *f = xcalloc(1, sizeof *f);
        strcpy(f->dir, "/tmp/it-export-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(f->dfd >= 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        close(f->dfd);
        _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static void put(struct fixture *f, const char *name, const char *data, mode_t mode)
{
        int fd = openat(f->dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(it_write_all(fd, data, strlen(data)), 0);
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

/* The whole stream of export_tree(f->dir), in memory. Allocated. */
static char *export_mem(int dfd, size_t *len)
{
        int fd = memfd_create("tar", MFD_CLOEXEC);
        assert_true(fd >= 0);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        int rc = export_tree(dfd, fd, &err);
        if (rc != 0)
                fail_msg("export_tree: %s", err.msg);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        char *data;
        assert_int_equal(it_fd_read(fd, "tar", 64 << 20, &data, len, &err), 0);
        close(fd);
        return data;
}

/* One line an entry: "TYPE PERM UID GID SIZE NAME[ -> TARGET][ =CONTENT][ xattr:N=V...]". */
static char *describe(const char *tar, size_t len)
{
        struct archive *a = archive_read_new();
        archive_read_support_format_tar(a);
        assert_int_equal(archive_read_open_memory(a, tar, len), ARCHIVE_OK);
        _cleanup_buf_ struct it_buf b = IT_BUF_INIT;
        struct archive_entry *e;
        int r;
        while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
                assert_int_equal(archive_format(a), ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
                const char *hl = archive_entry_hardlink(e);
                const char *sl = archive_entry_symlink(e);
                char t = hl                                      ? 'h'
                         : archive_entry_filetype(e) == AE_IFDIR ? 'd'
                         : archive_entry_filetype(e) == AE_IFLNK ? 'l'
                         : archive_entry_filetype(e) == AE_IFIFO ? 'p'
                         : archive_entry_filetype(e) == AE_IFREG ? 'f'
                                                                 : '?';
                it_buf_addf(&b, "%c %o %lld %lld %lld %s", t, (unsigned)archive_entry_perm(e),
                            (long long)archive_entry_uid(e), (long long)archive_entry_gid(e),
                            (long long)archive_entry_size(e), archive_entry_pathname(e));
                if (hl)
                        it_buf_addf(&b, " -> %s", hl);
                if (sl)
                        it_buf_addf(&b, " -> %s", sl);
                if (t == 'f' && archive_entry_size(e) > 0) {
                        char data[256];
                        ssize_t n = archive_read_data(a, data, sizeof data - 1);
                        assert_true(n >= 0);
                        data[n] = '\0';
                        it_buf_addf(&b, " =%s", data);
                }
                archive_entry_xattr_reset(e);
                const char *xn;
                const void *xv;
                size_t xl;
                while (archive_entry_xattr_next(e, &xn, &xv, &xl) == ARCHIVE_OK)
                        it_buf_addf(&b, " xattr:%s=%.*s", xn, (int)xl, (const char *)xv);
                it_buf_addf(&b, "\n");
        }
        assert_int_equal(r, ARCHIVE_EOF);
        archive_read_free(a);
        return xstrdup(it_buf_str(&b));
}

static void test_tree(void **state)
{
        struct fixture *f = *state;
        assert_int_equal(mkdirat(f->dfd, "dir", 0750), 0);
        assert_int_equal(fchmodat(f->dfd, "dir", 0750, 0), 0);
        put(f, "dir/inner", "in", 0600);
        put(f, "hl1", "link", 0644);
        assert_int_equal(linkat(f->dfd, "hl1", f->dfd, "hl2", 0), 0);
        assert_int_equal(linkat(f->dfd, "hl1", f->dfd, "dir/hl3", 0), 0);
        assert_int_equal(symlinkat("dir/inner", f->dfd, "sym"), 0);
        put(f, "owned", "o", 0640);
        assert_int_equal(fchownat(f->dfd, "owned", 1000, 1001, 0), 0);
        put(f, "xa", "x", 0644);
        _cleanup_free_ char *xa = xasprintf("%s/xa", f->dir);
        assert_int_equal(setxattr(xa, "user.test", "hello", 5, 0), 0);
        assert_int_equal(setxattr(xa, "user.a", "1", 1, 0), 0);
        /* The overlay's own markers never leave the store. */
        assert_int_equal(setxattr(xa, "user.overlay.opaque", "y", 1, 0), 0);
        if (setxattr(xa, "trusted.overlay.origin", "z", 1, 0) != 0)
                assert_int_equal(errno, EPERM); /* only root may set trusted.* */
        assert_int_equal(mkfifoat(f->dfd, "fifo", 0600), 0);
        put(f, "empty", "", 0644);
        /* A socket cannot be archived: left out. */
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s/sock", f->dir);
        assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
        close(s);

        size_t len;
        _cleanup_free_ char *tar = export_mem(f->dfd, &len);
        _cleanup_free_ char *got = describe(tar, len);
        uid_t u = getuid();
        gid_t g = getgid();
        _cleanup_free_ char *want =
            xasprintf("d 750 %u %u 0 dir/\n"
                      "f 644 %u %u 4 dir/hl3 =link\n"
                      "f 600 %u %u 2 dir/inner =in\n"
                      "f 644 %u %u 0 empty\n"
                      "p 600 %u %u 0 fifo\n"
                      "h 644 %u %u 0 hl1 -> dir/hl3\n"
                      "h 644 %u %u 0 hl2 -> dir/hl3\n"
                      "f 640 1000 1001 1 owned =o\n"
                      "l 777 %u %u 0 sym -> dir/inner\n"
                      "f 644 %u %u 1 xa =x xattr:user.a=1 xattr:user.test=hello\n",
                      u, g, u, g, u, g, u, g, u, g, u, g, u, g, u, g, u, g);
        assert_string_equal(got, want);
        /* SCHILY.xattr records only (what GNU tar and containers/storage read), no
         * LIBARCHIVE.xattr duplicates, no user names. */
        assert_non_null(memmem(tar, len, "SCHILY.xattr.user.test=hello", 28));
        assert_null(memmem(tar, len, "LIBARCHIVE.xattr", 16));
        assert_null(memmem(tar, len, "overlay", 7));
        /* The same tree gives the same bytes. */
        size_t len2;
        _cleanup_free_ char *tar2 = export_mem(f->dfd, &len2);
        assert_int_equal(len, len2);
        assert_memory_equal(tar, tar2, len);
}

static void test_sorted_order(void **state)
{
        struct fixture *f = *state;
        const char *names[] = {"b", "a", "C", "a.b", "_"};
        for (size_t i = 0; i < 5; i++)
                put(f, names[i], "", 0644);
        assert_int_equal(mkdirat(f->dfd, "a0", 0755), 0);
        assert_int_equal(fchmodat(f->dfd, "a0", 0755, 0), 0);
        put(f, "a0/z", "", 0644);
        put(f, "a0/Z", "", 0644);
        size_t len;
        _cleanup_free_ char *tar = export_mem(f->dfd, &len);
        _cleanup_free_ char *got = describe(tar, len);
        _cleanup_buf_ struct it_buf names_only = IT_BUF_INIT;
        for (char *p = got; *p;) {
                char *nl = strchr(p, '\n');
                char *sp = p;
                for (int k = 0; k < 5; k++)
                        sp = strchr(sp, ' ') + 1;
                it_buf_addf(&names_only, "%.*s ", (int)(nl - sp), sp);
                p = nl + 1;
        }
        assert_string_equal(it_buf_str(&names_only), "C _ a a.b a0/ a0/Z a0/z b ");
}

static void test_empty(void **state)
{
        struct fixture *f = *state;
        size_t len;
        _cleanup_free_ char *tar = export_mem(f->dfd, &len);
        /* Just the end-of-archive blocks. */
        assert_int_equal(len, 1024);
        for (size_t i = 0; i < len; i++)
                assert_int_equal(tar[i], 0);
}

static void test_write_error(void **state)
{
        struct fixture *f = *state;
        put(f, "file", "data", 0644);
        _cleanup_free_ char *p = xasprintf("%s/file", f->dir);
        int ro = open(p, O_RDONLY | O_CLOEXEC);
        assert_true(ro >= 0);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(export_tree(f->dfd, ro, &err), IT_EIO);
        assert_non_null(strstr(err.msg, "tar entry"));
        close(ro);
}

static void test_too_deep(void **state)
{
        struct fixture *f = *state;
        int fd = dup(f->dfd);
        for (int i = 0; i <= IT_EXPORT_DEPTH_MAX; i++) {
                assert_int_equal(mkdirat(fd, "d", 0755), 0);
                int n = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                assert_true(n >= 0);
                close(fd);
                fd = n;
        }
        close(fd);
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        _cleanup_error_ it_error err = IT_ERROR_INIT;
        assert_int_equal(export_tree(f->dfd, null, &err), IT_EINPUT);
        assert_non_null(strstr(err.msg, "deeper than 512 directories"));
        close(null);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_tree, setup, teardown),
            cmocka_unit_test_setup_teardown(test_sorted_order, setup, teardown),
            cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
            cmocka_unit_test_setup_teardown(test_write_error, setup, teardown),
            cmocka_unit_test_setup_teardown(test_too_deep, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
