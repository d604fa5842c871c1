/* error chain, buffer, strict JSON reading, podman-style JSON writing, atomic replacement */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imgtrust/buf.h"
#include "imgtrust/cleanup.h"
#include "imgtrust/error.h"
#include "imgtrust/fs.h"
#include "imgtrust/json.h"
#include "imgtrust/strv.h"
#include "imgtrust/xalloc.h"

static void test_error_chain(void **state)
{
        (void)state;
        it_error err = IT_ERROR_INIT;
        assert_int_equal(it_error_set(&err, IT_EINPUT, "bad %s", "thing"), IT_EINPUT);
        assert_int_equal(it_error_wrap(&err, "inner"), IT_EINPUT);
        it_error_wrap(&err, "outer %d", 2);
        it_error_detail(&err, "detail one");
        char *s = it_error_format(&err);
        assert_string_equal(s, "outer 2: inner: bad thing");
        free(s);
        assert_int_equal(err.ndetails, 1);
        assert_string_equal(err.details[0], "detail one");
        it_error_clear(&err);
        assert_null(err.msg);
        assert_int_equal(err.code, 0);

        it_error_sys(&err, IT_EIO, ENOENT, "/x");
        s = it_error_format(&err);
        assert_string_equal(s, "/x: No such file or directory");
        free(s);
        assert_int_equal(err.sys_errno, ENOENT);
        it_error_clear(&err);

        assert_int_equal(it_error_exit_code(0), 0);
        assert_int_equal(it_error_exit_code(IT_EREJECTED), 1);
        assert_int_equal(it_error_exit_code(IT_EINPUT), 2);
        assert_int_equal(it_error_exit_code(IT_EIO), 3);
        assert_int_equal(it_error_exit_code(IT_EUNSUPPORTED), 2);
}

static void test_buf_strv(void **state)
{
        (void)state;
        struct it_buf b = IT_BUF_INIT;
        assert_string_equal(it_buf_str(&b), "");
        for (int i = 0; i < 1000; i++)
                it_buf_addf(&b, "%d,", i);
        assert_int_equal(b.len, strlen(b.data));
        assert_memory_equal(b.data, "0,1,2,", 6);
        it_buf_reset(&b);
        it_buf_add(&b, "a\0b", 3);
        assert_int_equal(b.len, 3);
        char *d = it_buf_detach(&b);
        assert_null(b.data);
        free(d);
        it_buf_free(&b);

        struct it_strv v = IT_STRV_INIT;
        for (int i = 0; i < 20; i++)
                it_strv_pushf(&v, "s%d", i);
        assert_int_equal(v.n, 20);
        assert_null(v.v[20]);
        assert_true(it_strv_contains(&v, "s19"));
        assert_false(it_strv_contains(&v, "s20"));
        it_strv_free(&v);
}

static int parse(const char *s, json_t **out, it_error *err)
{
        return it_json_parse(s, strlen(s), 1024, "f.json", out, err);
}

static void test_json_strict(void **state)
{
        (void)state;
        json_t *j = NULL;
        it_error err = IT_ERROR_INIT;
        assert_int_equal(parse("{\"a\":1,\"a\":2}", &j, &err), IT_EINPUT);
        char *s = it_error_format(&err);
        assert_non_null(strstr(s, "f.json"));
        assert_non_null(strstr(s, "duplicate"));
        free(s);
        it_error_clear(&err);

        assert_int_equal(parse("{\"a\":\"\xff\"}", &j, &err), IT_EINPUT);
        it_error_clear(&err);
        assert_int_equal(parse("{\"a\":1} x", &j, &err), IT_EINPUT);
        it_error_clear(&err);
        assert_int_equal(parse("{\"a\":\"\\u0000\"}", &j, &err), IT_EINPUT);
        it_error_clear(&err);
        assert_int_equal(parse("", &j, &err), IT_EINPUT);
        it_error_clear(&err);

        char big[2048];
        memset(big, ' ', sizeof big);
        big[0] = '{';
        big[sizeof big - 1] = '}';
        assert_int_equal(it_json_parse(big, sizeof big, 1024, "big.json", &j, &err), IT_EINPUT);
        s = it_error_format(&err);
        assert_non_null(strstr(s, "too large"));
        free(s);
        it_error_clear(&err);

        assert_int_equal(parse("{\"a\":[1,2]}", &j, &err), 0);
        json_decref(j);
}

static void test_json_path(void **state)
{
        (void)state;
        struct it_buf p = IT_BUF_INIT;
        it_json_path_key(&p, "transports");
        it_json_path_key(&p, "docker");
        it_json_path_key(&p, "quay.io/ns");
        it_json_path_index(&p, 0);
        it_json_path_key(&p, "keyPath");
        assert_string_equal(it_buf_str(&p), "transports.docker[\"quay.io/ns\"][0].keyPath");
        it_buf_free(&p);
}

static void test_json_write_go(void **state)
{
        (void)state;
        json_t *j = NULL;
        it_error err = IT_ERROR_INIT;
        assert_int_equal(parse("{\"b\":[{\"x\":\"a<b>&c\\n\\u0001\\u2028\"}],\"a\":{},\"c\":[],"
                               "\"d\":true,\"e\":null,\"f\":1.5,\"g\":-3}",
                               &j, &err),
                         0);
        struct it_buf b = IT_BUF_INIT;
        it_json_write_go(&b, j, 4);
        assert_string_equal(it_buf_str(&b),
                            "{\n"
                            "    \"b\": [\n"
                            "        {\n"
                            "            \"x\": \"a\\u003cb\\u003e\\u0026c\\n\\u0001\\u2028\"\n"
                            "        }\n"
                            "    ],\n"
                            "    \"a\": {},\n"
                            "    \"c\": [],\n"
                            "    \"d\": true,\n"
                            "    \"e\": null,\n"
                            "    \"f\": 1.5,\n"
                            "    \"g\": -3\n"
                            "}");
        it_buf_free(&b);
        json_decref(j);
}

static char *tmpdir_make(void)
{
        char *d = xstrdup("/tmp/it-test-XXXXXX");
        assert_non_null(mkdtemp(d));
        return d;
}

static size_t count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static void test_file_replace(void **state)
{
        (void)state;
        _cleanup_free_ char *dir = tmpdir_make();
        _cleanup_free_ char *path = xasprintf("%s/policy.json", dir);
        it_error err = IT_ERROR_INIT;

        assert_int_equal(it_file_replace(path, "one", 3, 0644, &err), 0);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_int_equal(chmod(path, 0600), 0);
        assert_int_equal(it_file_replace(path, "two!", 4, 0644, &err), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600); /* mode kept */

        char *data = NULL;
        size_t len = 0;
        assert_int_equal(it_file_read(path, 100, &data, &len, &err), 0);
        assert_int_equal(len, 4);
        assert_string_equal(data, "two!");
        free(data);
        assert_int_equal(count_entries(dir), 1); /* no temporary file left */

        /* Bounded read. */
        assert_int_equal(it_file_read(path, 3, &data, &len, &err), IT_EINPUT);
        it_error_clear(&err);
        /* Missing file keeps errno for callers that treat ENOENT as "start empty". */
        _cleanup_free_ char *missing = xasprintf("%s/nope", dir);
        assert_int_equal(it_file_read(missing, 3, &data, &len, &err), IT_EIO);
        assert_int_equal(err.sys_errno, ENOENT);
        it_error_clear(&err);

        /* A directory in the way: refused, nothing changed. */
        _cleanup_free_ char *sub = xasprintf("%s/sub", dir);
        assert_int_equal(mkdir(sub, 0755), 0);
        assert_int_equal(it_file_replace(sub, "x", 1, 0644, &err), IT_EINPUT);
        it_error_clear(&err);
        /* A directory that does not exist: I/O error. */
        _cleanup_free_ char *nodir = xasprintf("%s/no/such/file", dir);
        assert_int_equal(it_file_replace(nodir, "x", 1, 0644, &err), IT_EIO);
        it_error_clear(&err);

        rmdir(sub);
        unlink(path);
        rmdir(dir);
}

/* Files of /proc report size 0, and a sysctl answers only its first read whole: the bounded read
 * must still get it all. */
static void test_file_read_proc(void **state)
{
        (void)state;
        it_error err = IT_ERROR_INIT;
        char *data = NULL;
        size_t len = 0;
        assert_int_equal(it_file_read("/proc/sys/kernel/cap_last_cap", 64, &data, &len, &err), 0);
        FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
        assert_non_null(f);
        int want = -1;
        assert_int_equal(fscanf(f, "%d", &want), 1);
        fclose(f);
        _cleanup_free_ char *text = xasprintf("%d\n", want);
        assert_string_equal(data, text);
        assert_int_equal(len, strlen(text));
        free(data);
        /* The bound still holds for such files. */
        assert_int_equal(it_file_read("/proc/sys/kernel/cap_last_cap", 1, &data, &len, &err),
                         IT_EINPUT);
        it_error_clear(&err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_error_chain),    cmocka_unit_test(test_buf_strv),
            cmocka_unit_test(test_json_strict),    cmocka_unit_test(test_json_path),
            cmocka_unit_test(test_json_write_go),  cmocka_unit_test(test_file_replace),
            cmocka_unit_test(test_file_read_proc),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
