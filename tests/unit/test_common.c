/* Tests of src/common: bounded buffers, options, paths, hashes, processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/hash.h"
#include "common/options.h"
#include "common/path.h"
#include "common/proc.h"

static void test_buf_bounded(void **state)
{
    (void)state;
    struct fl_buf b;
    fl_buf_init(&b, 8);
    assert_true(fl_buf_append(&b, "abcd", 4));
    assert_true(fl_buf_append(&b, "efgh", 4));
    assert_false(fl_buf_append(&b, "i", 1)); /* past the max: refused, unchanged */
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "abcdefgh");
    assert_false(fl_buf_set(&b, "123456789", 9));
    assert_string_equal(b.data, "abcdefgh");
    assert_true(fl_buf_set(&b, "xy", 2));
    assert_string_equal(b.data, "xy");
    assert_false(fl_buf_printf(&b, "%d", 1234567));
    assert_true(fl_buf_printf(&b, "%d", 12));
    assert_string_equal(b.data, "xy12");
    size_t len;
    char *s = fl_buf_steal(&b, &len);
    assert_int_equal(len, 4);
    assert_null(b.data);
    free(s);
    fl_buf_deinit(&b);
}

static void test_options(void **state)
{
    (void)state;
    const char *name = NULL;
    uint64_t n = 0;
    bool flag = false;
    const struct fl_option opts[] = {
        {"--name", "FL_TEST_NAME", FL_OPT_STRING, &name, "def", 0, 0, "a name"},
        {"--n", "FL_TEST_N", FL_OPT_UINT, &n, "5", 1, 10, "a number"},
        {"--flag", NULL, FL_OPT_FLAG, &flag, NULL, 0, 0, "a flag"},
    };
    char *pos[2], err[200];
    size_t npos;
    bool help;
    char *argv1[] = {"x", "file", "--n", "7", "--flag", "--name=abc", NULL};
    assert_true(fl_options_parse(opts, 3, 6, argv1, pos, 2, &npos, &help, err, sizeof(err)));
    assert_int_equal(npos, 1);
    assert_string_equal(pos[0], "file");
    assert_int_equal(n, 7);
    assert_true(flag);
    assert_string_equal(name, "abc");
    setenv("FL_TEST_N", "9", 1);
    char *argv2[] = {"x", NULL};
    assert_true(fl_options_parse(opts, 3, 1, argv2, pos, 2, &npos, &help, err, sizeof(err)));
    assert_int_equal(n, 9); /* env over default */
    char *argv3[] = {"x", "--n", "11", NULL};
    assert_false(fl_options_parse(opts, 3, 3, argv3, pos, 2, &npos, &help, err, sizeof(err)));
    assert_non_null(strstr(err, "from 1 to 10"));
    char *argv4[] = {"x", "--bogus", NULL};
    assert_false(fl_options_parse(opts, 3, 2, argv4, pos, 2, &npos, &help, err, sizeof(err)));
    unsetenv("FL_TEST_N");
}

static void test_path_join(void **state)
{
    (void)state;
    char out[8];
    assert_true(fl_path_join(out, sizeof(out), "a", "bc"));
    assert_string_equal(out, "a/bc");
    assert_false(fl_path_join(out, sizeof(out), "abcd", "efgh"));
    assert_string_equal(out, "");
}

static void test_hash_sha3(void **state)
{
    (void)state;
    char hex[FL_HASH_HEX_BYTES];
    const void *parts[] = {"abc"};
    size_t lens[] = {3};
    fl_hash_hex(parts, lens, 1, hex);
    /* SHA3-256("abc"), FIPS 202 example */
    assert_string_equal(hex, "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
}

static void test_proc_limits(void **state)
{
    (void)state;
    struct fl_buf out;
    fl_buf_init(&out, 16);
    int status;
    const char *echo[] = {"sh", "-c", "echo hello world, this is long; exit 3", NULL};
    assert_int_equal(proc_run(echo, -1, NULL, &out, &status), FL_OK);
    assert_int_equal(status, 3);
    assert_int_equal(out.len, 16); /* output kept up to its bound */
    const char *sleeper[] = {"sleep", "10", NULL};
    struct proc_limits limits = {.timeout_ms = 100};
    assert_int_equal(proc_run(sleeper, -1, &limits, NULL, &status), FL_OK);
    assert_int_equal(status, -1); /* killed at the deadline */
    fl_buf_deinit(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_bounded), cmocka_unit_test(test_options),
        cmocka_unit_test(test_path_join),   cmocka_unit_test(test_hash_sha3),
        cmocka_unit_test(test_proc_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
