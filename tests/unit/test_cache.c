/*
 * The compiled-code cache on disk: an artifact the disk could not hold whole is never
 * committed (a full disk does not make a module fail for ever), and the cache keeps under its
 * size limit by removing the least recently used artifacts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/path.h"
#include "engine/compile.h"
#include "engine/engine.h"
#include "engine/rt.h"
#include "fixture.h"

static char cache_dir[PATH_MAX];

static void engine_start(uint64_t cache_max_bytes)
{
    snprintf(cache_dir, sizeof(cache_dir), "/tmp/funless-test-cache-XXXXXX");
    assert_non_null(mkdtemp(cache_dir));
    struct engine_config config;
    engine_config_defaults(&config);
    config.cache_dir = cache_dir;
    config.cache_max_bytes = cache_max_bytes;
    char detail[256];
    assert_int_equal(engine_init(&config, detail, sizeof(detail)), FL_OK);
}

static void engine_stop(void)
{
    engine_deinit();
    compile_remove_tree(cache_dir);
}

/* wat_tiny.wasm with a custom section named `tag`: the same code under another cache key. */
static struct fl_buf variant(const char *tag)
{
    struct fixture fx = fixture_read("wat_tiny.wasm");
    struct fl_buf b;
    fl_buf_init(&b, 1 << 20);
    size_t n = strlen(tag);
    char header[3] = {0, (char)(n + 1), (char)n};
    assert_true(n < 100 && fl_buf_append(&b, fx.bytes, fx.len) && fl_buf_append(&b, header, 3) &&
                fl_buf_append(&b, tag, n));
    fixture_free(&fx);
    return b;
}

static struct engine_module *load(const struct fl_buf *wasm)
{
    struct engine_module *m = NULL;
    char detail[256] = "";
    enum fl_err err =
        engine_module_load((const uint8_t *)wasm->data, wasm->len, &m, detail, sizeof(detail));
    if (err != FL_OK)
        fail_msg("load: %s", detail);
    return m;
}

static size_t artifacts(void)
{
    DIR *dir = opendir(cache_dir);
    size_t n = 0;
    for (struct dirent *e; dir && (e = readdir(dir)) != NULL;)
        n += strspn(e->d_name, "0123456789abcdef") == 64 && e->d_name[64] == '\0';
    if (dir)
        closedir(dir);
    return n;
}

/*
 * A full disk, as wasm2c meets it: it exits 0 with m.h left empty (it does not check its
 * writes). A `wasm2c` first in PATH does that while a flag file exists. The module fails tier 1
 * then, nothing is committed, and once the disk has room the same module gets tier 1.
 */
static void test_full_disk_is_not_permanent(void **state)
{
    (void)state;
    char dir[] = "/tmp/funless-test-wasm2c-XXXXXX", script[PATH_MAX], flag[PATH_MAX],
         path[2 * PATH_MAX];
    assert_non_null(mkdtemp(dir));
    fl_path_join(script, sizeof(script), dir, "wasm2c");
    fl_path_join(flag, sizeof(flag), dir, "disk-full");
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fprintf(f,
            "#!/bin/sh\n/usr/bin/wasm2c \"$@\" || exit $?\n[ -e %s ] || exit 0\n"
            "for a; do case \"$a\" in *.c) : >\"${a%%.c}.h\";; esac; done\nexit 0\n",
            flag);
    fclose(f);
    assert_int_equal(chmod(script, 0755), 0);
    const char *old_path = getenv("PATH");
    char *saved_path = strdup(old_path ? old_path : "/usr/bin:/bin");
    snprintf(path, sizeof(path), "%s:%s", dir, saved_path);
    setenv("PATH", path, 1);
    engine_start(0);
    assert_true(fl_write_file(flag, "", 0));
    struct fl_buf wasm = variant("full-disk");
    struct engine_module *m = load(&wasm);
    assert_false(engine_module_wait_tier1(m, 120000));
    engine_module_release(m);
    assert_int_equal(artifacts(), 0); /* nothing half-written was kept */
    unlink(flag);                     /* room again */
    m = load(&wasm);
    assert_true(engine_module_wait_tier1(m, 120000));
    engine_module_release(m);
    fl_buf_deinit(&wasm);
    engine_stop();
    setenv("PATH", saved_path, 1);
    free(saved_path);
    compile_remove_tree(dir);
}

/* With a limit of one byte only the artifact built last stays; the others are built again
 * when they are needed. */
static void test_size_limit_keeps_the_newest(void **state)
{
    (void)state;
    engine_start(1);
    struct fl_buf a = variant("lru-a"), b = variant("lru-b");
    struct engine_module *m = load(&a);
    assert_true(engine_module_wait_tier1(m, 120000));
    engine_module_release(m);
    assert_int_equal(artifacts(), 1);
    m = load(&b);
    assert_true(engine_module_wait_tier1(m, 120000));
    engine_module_release(m);
    assert_int_equal(artifacts(), 1);
    m = load(&a); /* evicted: compiled again, and works */
    assert_int_equal(engine_module_tier(m), ENGINE_TIER0);
    assert_true(engine_module_wait_tier1(m, 120000));
    rt_reclaim_signals();
    struct engine_limits limits;
    engine_limits_defaults(&limits);
    struct engine_result res;
    assert_int_equal(engine_invoke(m, "{}", 2, &limits, &res), FL_OK);
    assert_string_equal(res.output, "{}");
    engine_result_deinit(&res);
    engine_module_release(m);
    fl_buf_deinit(&a);
    fl_buf_deinit(&b);
    engine_stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_disk_is_not_permanent),
        cmocka_unit_test(test_size_limit_keeps_the_newest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
