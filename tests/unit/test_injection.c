/*
 * Injection tests: uploads whose names carry C source (tests/fixtures/hostile_names.py) load
 * and run normally, or are refused, at tier 0 (our translator, and wasm2c with tcc) and at
 * tier 1 (wasm2c with gcc, loaded with dlopen), and none of their C is ever compiled: the file
 * it would create never appears and no artifact holds it. The gate refuses C that our
 * generators never write, even when wasm2c is handed the names raw; artifacts of an older
 * cache format are never loaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/path.h"
#include "engine/c_gate.h"
#include "engine/compile.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/rt.h"
#include "engine/translate.h"
#include "fixture.h"
#include "any_import.h"

static const char *const hostile_kinds[] = {"export", "custom", "name", "all"};
enum { HOSTILE_KINDS = sizeof(hostile_kinds) / sizeof(hostile_kinds[0]) };

static char cache_dir[PATH_MAX];

enum tier_mode { OWN_TRANSLATOR, TIER0_VIA_WASM2C, TIER1 };

static void engine_start(enum tier_mode mode)
{
    snprintf(cache_dir, sizeof(cache_dir), "/tmp/funless-test-injection-XXXXXX");
    assert_non_null(mkdtemp(cache_dir));
    struct engine_config config;
    engine_config_defaults(&config);
    config.cache_dir = cache_dir;
    config.tier1 = mode == TIER1;
    config.tier0_via_wasm2c = mode == TIER0_VIA_WASM2C;
    char detail[256] = "";
    enum fl_err err = engine_init(&config, detail, sizeof(detail));
    if (err != FL_OK)
        fprintf(stderr, "engine_init: %s\n", detail);
    assert_int_equal(err, FL_OK);
}

static void engine_stop(void)
{
    engine_deinit();
    compile_remove_tree(cache_dir);
}

/* The file the module's C would create (the build wrote its path into the module). */
static void marker_path(const char *kind, char *out, size_t len)
{
    snprintf(out, len, "%s/injected-%s", getenv("FIXTURES_DIR"), kind);
}

static void assert_no_marker(const char *kind)
{
    char path[PATH_MAX];
    marker_path(kind, path, sizeof(path));
    if (access(path, F_OK) == 0)
        fail_msg("the C in the %s names ran: %s exists", kind, path);
}

/* No artifact the compilers read holds a byte of the injected C. */
static void assert_clean_artifacts(const struct fixture *fx)
{
    char *toolchain = NULL, detail[256], key[FL_HASH_HEX_BYTES], dir[PATH_MAX];
    assert_int_equal(compile_toolchain_id(&toolchain, detail, sizeof(detail)), FL_OK);
    compile_cache_key(fx->bytes, fx->len, toolchain, key);
    free(toolchain);
    fl_path_join(dir, sizeof(dir), cache_dir, key);
    static const char *const files[] = {"m.c", "m.h", "glue.c"};
    for (int i = 0; i < 3; i++) {
        char path[PATH_MAX];
        fl_path_join(path, sizeof(path), dir, files[i]);
        struct fl_buf text;
        fl_buf_init(&text, (size_t)64 << 20);
        if (fl_buf_read_file(&text, path) && strstr(text.data, "fl_injected"))
            fail_msg("%s holds the injected C", path);
        fl_buf_deinit(&text);
    }
}

static void run_hostile(enum tier_mode mode, const char *kind)
{
    char name[64], detail[256] = "";
    snprintf(name, sizeof(name), "hostile_%s.wasm", kind);
    struct fixture fx = fixture_read(name);
    struct engine_module *m = NULL;
    enum fl_err err = engine_module_load(fx.bytes, fx.len, &m, detail, sizeof(detail));
    if (err != FL_OK)
        fail_msg("%s: %s", name, detail);
    rt_reclaim_signals();
    struct engine_limits limits;
    engine_limits_defaults(&limits);
    struct engine_result res;
    assert_int_equal(engine_invoke(m, "{}", 2, &limits, &res), FL_OK);
    assert_string_equal(res.output, "{\"ok\":true}");
    engine_result_deinit(&res);
    if (mode == TIER1) {
        assert_true(engine_module_wait_tier1(m, 120000));
        assert_int_equal(engine_module_tier(m), ENGINE_TIER1);
        assert_int_equal(engine_invoke(m, "{}", 2, &limits, &res), FL_OK);
        assert_string_equal(res.output, "{\"ok\":true}");
        engine_result_deinit(&res);
    }
    engine_module_release(m);
    assert_no_marker(kind);
    if (mode != OWN_TRANSLATOR)
        assert_clean_artifacts(&fx);
    fixture_free(&fx);
}

static void run_all_kinds(enum tier_mode mode)
{
    engine_start(mode);
    for (int i = 0; i < HOSTILE_KINDS; i++)
        run_hostile(mode, hostile_kinds[i]);
    engine_stop();
}

static void test_names_own_translator(void **state)
{
    (void)state;
    run_all_kinds(OWN_TRANSLATOR);
}

static void test_names_tier0_via_wasm2c(void **state)
{
    (void)state;
    run_all_kinds(TIER0_VIA_WASM2C);
}

static void test_names_tier1(void **state)
{
    (void)state;
    run_all_kinds(TIER1);
}

/* ---- import names: only a host that provides any import lets such a module load ---- */

static void test_import_names(void **state)
{
    (void)state;
    static const char *const kinds[] = {"import_module", "import_field"};
    for (int mode = TIER0_VIA_WASM2C; mode <= TIER1; mode++) {
        engine_start((enum tier_mode)mode);
        for (int i = 0; i < 2; i++) {
            char name[64], detail[256] = "";
            snprintf(name, sizeof(name), "hostile_%s.wasm", kinds[i]);
            struct fixture fx = fixture_read(name);
            /* the host's own resolver refuses it, naming the import */
            struct engine_module *m = NULL;
            assert_int_equal(engine_module_load(fx.bytes, fx.len, &m, detail, sizeof(detail)),
                             FL_ERR_UNKNOWN_IMPORT);
            assert_int_equal(engine_module_load_custom(fx.bytes, fx.len, provide_any_import, NULL,
                                                       &m, detail, sizeof(detail)),
                             FL_OK);
            if (mode == TIER1)
                assert_true(engine_module_wait_tier1(m, 120000));
            engine_module_release(m);
            assert_no_marker(kinds[i]);
            assert_clean_artifacts(&fx);
            fixture_free(&fx);
        }
        engine_stop();
    }
}

/* ---- the gate ---- */

/* Had wasm2c been handed the names raw, as before, the gate would refuse what it wrote. */
static void test_gate_refuses_raw_translation(void **state)
{
    (void)state;
    engine_start(OWN_TRANSLATOR);
    struct fixture fx = fixture_read("hostile_export.wasm");
    struct wasm_desc desc;
    char detail[256] = "", dir[PATH_MAX], path[PATH_MAX];
    assert_int_equal(wasm_decode(fx.bytes, fx.len, &desc, detail, sizeof(detail)), FL_OK);
    fl_path_join(dir, sizeof(dir), cache_dir, "raw");
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(translate_module(dir, fx.bytes, fx.len, &desc, 0, detail, sizeof(detail)),
                     FL_OK);
    fl_path_join(path, sizeof(path), dir, "m.h");
    struct fl_buf text;
    fl_buf_init(&text, (size_t)64 << 20);
    assert_true(fl_buf_read_file(&text, path));
    assert_non_null(strstr(text.data, "fl_injected")); /* wasm2c did copy the C */
    assert_int_equal(compile_gate_text("m.h", text.data, text.len, detail, sizeof(detail)),
                     FL_ERR_COMPILE);
    assert_non_null(strstr(detail, "m.h line"));
    fl_buf_deinit(&text);
    wasm_desc_deinit(&desc);
    fixture_free(&fx);
    engine_stop();
}

static const char gate_learned[] = "#include <math.h>\n"
                                   "#define TRAP(x) wasm_rt_trap(WASM_RT_TRAP_##x)\n";

struct gate_case {
    const char *c, *why;
};

static void test_gate_cases(void **state)
{
    (void)state;
    struct c_gate *gate = c_gate_new();
    assert_non_null(gate);
    assert_true(c_gate_learn(gate, gate_learned, strlen(gate_learned)));
    static const struct gate_case accepted[] = {
        {"#include <math.h>\nstatic u32 w2c_f0(u32 l0) { return l0 ? 1u : TRAP(OOB); }\n", NULL},
        {"/* export: 'e0' */\nu32 Z_mZ_e0(Z_m_instance_t*, u32);\n", NULL},
        {"static const u8 d0[] = {0x7f, 1e+5, .5f};\nconst char *s = \"a\\\"b\";\n", NULL},
        {"#ifndef wasm_multi_ij\n#define wasm_multi_ij wasm_multi_ij\n#endif  /* wasm_multi_ij "
         "*/\n",
         NULL},
    };
    static const struct gate_case refused[] = {
        {"__attribute__((constructor)) static void f(void) {}\n", "'__attribute__'"},
        {"static void f(void) { asm(\"syscall\"); }\n", "'asm'"},
        {"static void f(void) { system(\"id\"); }\n", "'system'"},
        {"#include <unistd.h>\n", "preprocessor line"},
        {"#pragma GCC optimize(\"O0\")\n", "preprocessor line"},
        {"  #define X 1\n", "preprocessor line"},
        {"%:include <unistd.h>\n", "digraph"},
        {"u32 x; # define X\n", "character"},
        {"u32 x; /* never closed\n", "unterminated comment"},
        {"u32 x; // continued \\\nsystem();\n", "continued"},
        {"const char *s = \"never closed\n", "unterminated literal"},
        {"const char *s = \"\xe2\x80\x94\";\n", "printable ASCII"},
        {"u32 x;\r\n", "printable ASCII"},
        {"const char *s = \"?\?/\";\n", "trigraph"},
        {"#ifndef wasm_multi_zz\n", "preprocessor line"},
        {"#define wasm_multi_ij wasm_multi_ji\n", "preprocessor line"},
        {"u32 w2c_f0$x;\n", "character"},
    };
    char detail[256];
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
        enum fl_err err = c_gate_check(gate, "case", accepted[i].c, strlen(accepted[i].c), detail,
                                       sizeof(detail));
        if (err != FL_OK)
            fail_msg("accepted case %zu refused: %s", i, detail);
    }
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        detail[0] = '\0';
        enum fl_err err =
            c_gate_check(gate, "case", refused[i].c, strlen(refused[i].c), detail, sizeof(detail));
        if (err != FL_ERR_COMPILE || !strstr(detail, refused[i].why))
            fail_msg("refused case %zu: got %d (%s), wanted a reason with %s", i, (int)err, detail,
                     refused[i].why);
    }
    c_gate_free(gate);
}

/* ---- the cache ---- */

/* A shared object whose constructor creates `marker`: what a vulnerable version may have built. */
static void plant_old_artifact(const char *dir, const char *marker)
{
    char path[PATH_MAX], command[3 * PATH_MAX];
    assert_int_equal(mkdir(dir, 0755), 0);
    static const char *const files[] = {"m.c", "m.h", "glue.c"};
    for (int i = 0; i < 3; i++) {
        fl_path_join(path, sizeof(path), dir, files[i]);
        assert_true(fl_write_file(path, "\n", 1));
    }
    char source[PATH_MAX];
    fl_path_join(source, sizeof(source), dir, "evil.c");
    FILE *f = fopen(source, "w");
    assert_non_null(f);
    fprintf(f,
            "#include <fcntl.h>\n#include <unistd.h>\n"
            "__attribute__((constructor)) static void planted(void) "
            "{ close(open(\"%s\", O_CREAT | O_WRONLY, 0600)); }\n",
            marker);
    fclose(f);
    snprintf(command, sizeof(command), "gcc -shared -fPIC -o %s/tier1.so %s", dir, source);
    assert_int_equal(system(command), 0);
}

static void test_old_cache_format_never_loaded(void **state)
{
    (void)state;
    struct fixture fx = fixture_read("wat_tiny.wasm");
    char *old_id = NULL, detail[256], key[FL_HASH_HEX_BYTES], old_dir[PATH_MAX], marker[PATH_MAX],
         stamp[PATH_MAX];
    assert_int_equal(compile_toolchain_id_for("funless-glue-5", &old_id, detail, sizeof(detail)),
                     FL_OK);
    compile_cache_key(fx.bytes, fx.len, old_id, key);
    free(old_id);
    snprintf(cache_dir, sizeof(cache_dir), "/tmp/funless-test-injection-XXXXXX");
    assert_non_null(mkdtemp(cache_dir));
    fl_path_join(old_dir, sizeof(old_dir), cache_dir, key);
    fl_path_join(marker, sizeof(marker), cache_dir, "planted-ran");
    plant_old_artifact(old_dir, marker);
    /* the stamp says the format is current, so nothing is pruned: the key alone must keep the
     * old tier1.so from being loaded */
    fl_path_join(stamp, sizeof(stamp), cache_dir, "FORMAT");
    assert_true(fl_write_file(stamp, FL_GLUE_VERSION "\n", strlen(FL_GLUE_VERSION "\n")));
    struct engine_config config;
    engine_config_defaults(&config);
    config.cache_dir = cache_dir;
    assert_int_equal(engine_init(&config, detail, sizeof(detail)), FL_OK);
    struct engine_module *m = NULL;
    assert_int_equal(engine_module_load(fx.bytes, fx.len, &m, detail, sizeof(detail)), FL_OK);
    assert_int_equal(engine_module_tier(m), ENGINE_TIER0); /* compiled, not loaded */
    assert_true(engine_module_wait_tier1(m, 120000));
    engine_module_release(m);
    engine_deinit();
    assert_int_equal(access(marker, F_OK), -1);
    assert_int_equal(access(old_dir, F_OK), 0);
    /* an older stamp (or none): the older format's artifacts are removed at start */
    assert_true(fl_write_file(stamp, "funless-glue-5\n", strlen("funless-glue-5\n")));
    assert_int_equal(engine_init(&config, detail, sizeof(detail)), FL_OK);
    engine_deinit();
    assert_int_equal(access(old_dir, F_OK), -1);
    assert_int_equal(access(marker, F_OK), -1);
    compile_remove_tree(cache_dir);
    fixture_free(&fx);
}

int main(void)
{
    static const char *const every_kind[] = {"export", "custom",        "name",
                                             "all",    "import_module", "import_field"};
    for (int i = 0; i < 6; i++) { /* a marker left by an earlier run would fail the tests */
        char path[PATH_MAX];
        marker_path(every_kind[i], path, sizeof(path));
        unlink(path);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gate_cases),
        cmocka_unit_test(test_names_own_translator),
        cmocka_unit_test(test_names_tier0_via_wasm2c),
        cmocka_unit_test(test_names_tier1),
        cmocka_unit_test(test_import_names),
        cmocka_unit_test(test_gate_refuses_raw_translation),
        cmocka_unit_test(test_old_cache_format_never_loaded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
