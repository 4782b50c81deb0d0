/*
 * Engine tests: real functions built from C, WAT and Rust by the build,
 * run through the engine as a Worker would, good and hostile alike.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/compile.h"
#include "engine/engine.h"
#include "engine/rt.h"
#include "engine/wasm_decode.h"
#include "engine/wasm_to_c.h"
#include "fixture.h"

static char cache_dir[] = "/tmp/funless-test-engine-XXXXXX";

static int group_setup(void **state)
{
    (void)state;
    if (!mkdtemp(cache_dir))
        return -1;
    struct engine_config config;
    engine_config_defaults(&config);
    config.cache_dir = cache_dir;
    char detail[256];
    if (engine_init(&config, detail, sizeof(detail)) != FL_OK) {
        fprintf(stderr, "engine_init: %s\n", detail);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    engine_deinit();
    compile_remove_tree(cache_dir);
    return 0;
}

static struct engine_module *load(const char *name)
{
    struct fixture fx = fixture_read(name);
    struct engine_module *m = NULL;
    char detail[256] = "";
    enum fl_err err = engine_module_load(fx.bytes, fx.len, &m, detail, sizeof(detail));
    if (err != FL_OK)
        fprintf(stderr, "load %s: %s\n", name, detail);
    assert_int_equal(err, FL_OK);
    fixture_free(&fx);
    return m;
}

static enum fl_err invoke_with(struct engine_module *m, const char *input, uint64_t memory_bytes,
                               uint32_t timeout_ms, struct engine_result *res)
{
    /* cmocka installs its own SIGSEGV handler when each test starts: put the engine's in front */
    rt_reclaim_signals();
    struct engine_limits limits;
    engine_limits_defaults(&limits);
    if (memory_bytes)
        limits.memory_bytes = memory_bytes;
    if (timeout_ms)
        limits.timeout_ms = timeout_ms;
    return engine_invoke(m, input, input ? strlen(input) : 0, &limits, res);
}

static void expect(const char *fixture, const char *input, enum fl_err want, const char *in_output,
                   const char *in_detail)
{
    struct engine_module *m = load(fixture);
    struct engine_result res;
    enum fl_err err = invoke_with(m, input, 0, 2000, &res);
    if (err != want)
        fprintf(stderr, "%s(%s): got %s (%s)\n", fixture, input ? input : "", fl_strerror(err),
                res.detail);
    assert_int_equal(err, want);
    if (in_output) {
        assert_non_null(res.output);
        assert_non_null(strstr(res.output, in_output));
    }
    if (in_detail)
        assert_non_null(strstr(res.detail, in_detail));
    engine_result_deinit(&res);
    engine_module_release(m);
}

/* ---- ABI v1 and v0 ---- */

static void test_hello_c(void **state)
{
    (void)state;
    expect("c_hello.wasm", "{\"name\":\"Ada\"}", FL_OK, "{\"payload\":\"Hello Ada!\"}", NULL);
    expect("c_hello.wasm", "{\"nom\":1}", FL_ERR_FUNCTION, "missing field `name`", NULL);
    expect("c_hello.wasm", "[1,2]", FL_ERR_FUNCTION, "input JSON not well-formatted", NULL);
}

static void test_hello_logs(void **state)
{
    (void)state;
    struct engine_module *m = load("c_hello.wasm");
    struct engine_result res;
    assert_int_equal(invoke_with(m, "{\"name\":\"x\"}", 0, 0, &res), FL_OK);
    assert_string_equal(res.logs, "said hello\n");
    engine_result_deinit(&res);
    engine_module_release(m);
}

/* 100 MB of logs: cut at the bound with a note, the call still succeeds. */
static void test_log_flood(void **state)
{
    (void)state;
    struct engine_module *m = load("c_log_flood.wasm");
    struct engine_result res;
    assert_int_equal(invoke_with(m, "{}", 0, 0, &res), FL_OK);
    assert_string_equal(res.output, "{\"flooded\":true}");
    assert_true(res.logs_len > (64 << 10) && res.logs_len < (64 << 10) + 128);
    assert_non_null(strstr(res.logs, "more bytes of logs were dropped"));
    engine_result_deinit(&res);
    engine_module_release(m);
}

static void test_hello_rust(void **state)
{
    (void)state;
    if (!fixture_have_rust())
        skip();
    expect("rust_hello.wasm", "{\"name\":\"X\"}", FL_OK, "{\"payload\":\"Hello X!\"}", NULL);
    expect("rust_hello.wasm", "{}", FL_ERR_FUNCTION, "missing field `name`", NULL);
    expect("rust_hello.wasm", "not json", FL_ERR_FUNCTION, "input JSON not well-formatted", NULL);
}

static void test_function_error(void **state)
{
    (void)state;
    expect("c_error.wasm", NULL, FL_ERR_FUNCTION, "something went wrong", "reported an error");
}

static void test_abi_v0(void **state)
{
    (void)state;
    expect("c_echo_v0.wasm", "{\"a\":[1,2]}", FL_OK, "{\"echo\":{\"a\":[1,2]}}", NULL);
    expect("c_echo_v0.wasm", "{\"please\":\"fail\"}", FL_ERR_FUNCTION, NULL, "asked to fail");
}

static void test_wasi(void **state)
{
    (void)state;
    struct engine_module *m = load("c_wasi_tour.wasm");
    struct engine_result res;
    assert_int_equal(invoke_with(m, "{}", 0, 0, &res), FL_OK);
    assert_string_equal(res.output, "{\"year_ok\":true,\"random_ok\":true,\"home\":null}");
    assert_non_null(strstr(res.logs, "to stdout\n"));
    assert_non_null(strstr(res.logs, "to stderr\n"));
    engine_result_deinit(&res);
    /* sleep(10) goes through poll_oneoff: the time limit still stops it */
    assert_int_equal(invoke_with(m, "{\"sleep\":1}", 0, 300, &res), FL_ERR_TIMEOUT);
    engine_result_deinit(&res);
    engine_module_release(m);
}

/* ---- traps and limits ---- */

static void test_traps(void **state)
{
    (void)state;
    expect("wat_oob.wasm", NULL, FL_ERR_TRAP, NULL, "out of bounds memory access");
    expect("wat_unreachable.wasm", NULL, FL_ERR_TRAP, NULL, "unreachable");
    expect("wat_div_zero.wasm", NULL, FL_ERR_TRAP, NULL, "divide by zero");
    expect("wat_recursion.wasm", NULL, FL_ERR_TRAP, NULL, "call stack exhausted");
    expect("c_recursion.wasm", NULL, FL_ERR_TRAP, NULL, "call stack exhausted");
    /* the engine stays usable on this thread after every kind of trap */
    expect("wat_tiny.wasm", NULL, FL_OK, "{}", NULL);
}

static void test_timeout(void **state)
{
    (void)state;
    struct engine_module *m = load("wat_loop.wasm");
    struct engine_result res;
    assert_int_equal(invoke_with(m, NULL, 0, 150, &res), FL_ERR_TIMEOUT);
    assert_non_null(strstr(res.detail, "time limit of 150 ms"));
    engine_result_deinit(&res);
    engine_module_release(m);
    expect("wat_tiny.wasm", NULL, FL_OK, "{}", NULL);
}

static void test_memory_cap_grow(void **state)
{
    (void)state;
    struct engine_module *m = load("wat_grow.wasm");
    struct engine_result res;
    assert_int_equal(invoke_with(m, NULL, 4 << 20, 0, &res), FL_OK);
    assert_string_equal(res.output, "{\"pages\":64}");
    engine_result_deinit(&res);
    assert_int_equal(invoke_with(m, NULL, 1 << 20, 0, &res), FL_OK);
    assert_string_equal(res.output, "{\"pages\":16}");
    engine_result_deinit(&res);
    engine_module_release(m);
}

static void test_memory_bomb(void **state)
{
    (void)state;
    struct engine_module *m = load("c_memory_bomb.wasm");
    struct engine_result res;
    assert_int_equal(invoke_with(m, NULL, 16 << 20, 0, &res), FL_OK);
    int blocks = -1;
    assert_int_equal(sscanf(res.output, "{\"blocks\":%d}", &blocks), 1);
    assert_true(blocks >= 12 && blocks < 16); /* never more than the cap */
    engine_result_deinit(&res);
    engine_module_release(m);
}

static void test_initial_memory_above_cap(void **state)
{
    (void)state;
    struct engine_module *m = load("wat_big_memory.wasm");
    struct engine_result res;
    assert_int_equal(invoke_with(m, NULL, 64 << 20, 0, &res), FL_ERR_MEMORY_LIMIT);
    engine_result_deinit(&res);
    assert_int_equal(invoke_with(m, NULL, 200 << 20, 0, &res), FL_ERR_BAD_OUTPUT);
    engine_result_deinit(&res);
    engine_module_release(m);
}

static void test_huge_output(void **state)
{
    (void)state;
    expect("c_huge_output.wasm", NULL, FL_ERR_BAD_OUTPUT, NULL, "exceeds 1048576 bytes");
}

static void test_hostile_pointers(void **state)
{
    (void)state;
    static const char *const selectors[] = {"1", "12", "123", "1234", "12345", "123456"};
    for (size_t i = 0; i < sizeof(selectors) / sizeof(selectors[0]); i++)
        expect("wat_hostile.wasm", selectors[i], FL_ERR_TRAP, NULL, "out of bounds");
    expect("wat_tiny.wasm", NULL, FL_OK, "{}", NULL);
}

/* ---- acceptance ---- */

static void expect_refused(const uint8_t *bytes, size_t len, bool full, enum fl_err want,
                           const char *in_detail)
{
    char detail[256] = "";
    enum fl_err err = engine_check(bytes, len, 64 << 20, full, NULL, detail, sizeof(detail));
    if (err != want || !strstr(detail, in_detail))
        fprintf(stderr, "check: got %s (%s), want %s (%s)\n", fl_strerror(err), detail,
                fl_strerror(want), in_detail);
    assert_int_equal(err, want);
    assert_non_null(strstr(detail, in_detail));
}

static void expect_fixture_refused(const char *name, bool full, enum fl_err want,
                                   const char *in_detail)
{
    struct fixture fx = fixture_read(name);
    expect_refused(fx.bytes, fx.len, full, want, in_detail);
    fixture_free(&fx);
}

static void test_refused_modules(void **state)
{
    (void)state;
    expect_refused((const uint8_t *)"", 0, false, FL_ERR_NOT_WASM, "not a WebAssembly module");
    expect_refused((const uint8_t *)"not wasm!", 9, false, FL_ERR_NOT_WASM, "magic");
    expect_fixture_refused("wat_unknown_import.wasm", false, FL_ERR_UNKNOWN_IMPORT,
                           "\"env\".\"launch_missiles\"");
    expect_fixture_refused("wat_bad_signature.wasm", false, FL_ERR_UNKNOWN_IMPORT,
                           "(i32) -> (i32)");
    expect_fixture_refused("wat_simd.wasm", false, FL_ERR_UNSUPPORTED, "SIMD");
    /* wasm2c could not compile it (it crashed): refused, not accepted and never run */
    expect_fixture_refused("nested_20000.wasm", false, FL_ERR_UNSUPPORTED, "nested deeper");
    expect_fixture_refused("wat_no_entry.wasm", false, FL_ERR_NO_ENTRY, "__invoke");
    expect_fixture_refused("wat_big_memory.wasm", false, FL_ERR_MEMORY_LIMIT,
                           "exceeds the limit of 64 MiB");
    expect_fixture_refused("wat_invalid_type.wasm", true, FL_ERR_INVALID_WASM, "type mismatch");
}

static void test_truncated_and_corrupt(void **state)
{
    (void)state;
    struct fixture fx = fixture_read("c_hello.wasm");
    char detail[256];
    /* every prefix is refused with an error value (none crashes) */
    for (size_t len = 0; len < fx.len; len += 1 + len / 8)
        assert_int_not_equal(engine_check(fx.bytes, len, 0, false, NULL, detail, sizeof(detail)),
                             FL_OK);
    expect_refused(fx.bytes, fx.len / 2, false, FL_ERR_INVALID_WASM, "");
    /* a flipped section id */
    fx.bytes[8] = 0x7f;
    expect_refused(fx.bytes, fx.len, false, FL_ERR_INVALID_WASM, "section");
    fixture_free(&fx);
    /* and loading a corrupt module fails cleanly too */
    struct engine_module *m = NULL;
    assert_int_not_equal(
        engine_module_load((const uint8_t *)"\0asm\1\0\0\0\1\5", 10, &m, detail, sizeof(detail)),
        FL_OK);
    assert_null(m);
}

static void test_accepted_info(void **state)
{
    (void)state;
    struct fixture fx = fixture_read("c_echo_v0.wasm");
    struct engine_module_info info;
    char detail[256];
    assert_int_equal(engine_check(fx.bytes, fx.len, 64 << 20, true, &info, detail, sizeof(detail)),
                     FL_OK);
    assert_int_equal(info.abi, ENGINE_ABI_V0);
    fixture_free(&fx);
}

/* ---- tiers and cache ---- */

static void put_leb(struct fl_buf *b, uint32_t v)
{
    do {
        uint8_t byte = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            byte |= 0x80;
        fl_buf_append(b, &byte, 1);
    } while (v);
}

static void put_section(struct fl_buf *module, uint8_t id, const struct fl_buf *body)
{
    fl_buf_append(module, &id, 1);
    put_leb(module, (uint32_t)body->len);
    fl_buf_append(module, body->data, body->len);
}

/*
 * A br_table of `entries` entries, all to a block of `results` results: written per entry,
 * the moves of the values would be entries * results statements. The translator writes
 * them once per target, so the C stays about as large as the table.
 */
static void test_translator_wide_br_table(void **state)
{
    (void)state;
    enum { RESULTS = 300, ENTRIES = 30000 };
    struct fl_buf module, sec, code;
    fl_buf_init(&module, 1 << 24);
    fl_buf_init(&sec, 1 << 24);
    fl_buf_init(&code, 1 << 24);
    fl_buf_append(&module, "\0asm\1\0\0\0", 8);
    /* types: 0 = () -> (i32), 1 = () -> (i32 x RESULTS) */
    fl_buf_append(&sec, "\2\x60\0\1\x7f\x60\0", 7);
    put_leb(&sec, RESULTS);
    for (int i = 0; i < RESULTS; i++)
        fl_buf_append(&sec, "\x7f", 1);
    put_section(&module, 1, &sec);
    fl_buf_reset(&sec);
    fl_buf_append(&sec, "\1\0", 2); /* one function of type 0 */
    put_section(&module, 3, &sec);
    /* body: block (type 1) i32.const 7 (left behind by the branch, so the results move)
     * RESULTS x i32.const 7; i32.const 0; br_table 0...0 end; drops */
    fl_buf_append(&code, "\0\x02\x01\x41\x07", 5);
    for (int i = 0; i < RESULTS; i++)
        fl_buf_append(&code, "\x41\x07", 2);
    fl_buf_append(&code, "\x41\0\x0e", 3);
    put_leb(&code, ENTRIES);
    for (int i = 0; i <= ENTRIES; i++)
        fl_buf_append(&code, "\0", 1);
    fl_buf_append(&code, "\x0b", 1);
    for (int i = 1; i < RESULTS; i++)
        fl_buf_append(&code, "\x1a", 1);
    fl_buf_append(&code, "\x0b", 1);
    fl_buf_reset(&sec);
    fl_buf_append(&sec, "\1", 1);
    put_leb(&sec, (uint32_t)code.len);
    fl_buf_append(&sec, code.data, code.len);
    put_section(&module, 10, &sec);
    struct wasm_desc desc = {0};
    char detail[256] = "";
    assert_int_equal(
        wasm_decode((const uint8_t *)module.data, module.len, &desc, detail, sizeof(detail)),
        FL_OK);
    struct fl_buf c_source;
    fl_buf_init(&c_source, (size_t)1 << 30);
    enum fl_err err = wasm_to_c((const uint8_t *)module.data, module.len, &desc, &c_source, detail,
                                sizeof(detail));
    if (err != FL_OK)
        fprintf(stderr, "wasm_to_c: %s\n", detail);
    assert_int_equal(err, FL_OK);
    assert_true(c_source.len < (size_t)2 << 20); /* per-entry moves would be ~3 M statements */
    fl_buf_deinit(&c_source);
    wasm_desc_deinit(&desc);
    fl_buf_deinit(&code);
    fl_buf_deinit(&sec);
    fl_buf_deinit(&module);
}

/* The translator does not validate: wabt, running beside it, has the last word. */
static void test_validation_beside_translator(void **state)
{
    (void)state;
    const char *const invalid[] = {"wat_invalid_align.wasm", "wat_invalid_type.wasm"};
    const char *const reason[] = {"alignment", "type mismatch"};
    for (int i = 0; i < 2; i++) {
        struct fixture fx = fixture_read(invalid[i]);
        struct engine_module *m = NULL;
        char detail[256] = "";
        assert_int_equal(engine_module_load(fx.bytes, fx.len, &m, detail, sizeof(detail)),
                         FL_ERR_INVALID_WASM);
        assert_null(m);
        if (!strstr(detail, reason[i]))
            fprintf(stderr, "%s: %s\n", invalid[i], detail);
        assert_non_null(strstr(detail, reason[i]));
        fixture_free(&fx);
    }
}

/* A module the translator does not take still gets tier 0, through wasm2c. */
static void test_translator_fallback(void **state)
{
    (void)state;
    struct engine_stats before, after;
    engine_stats(&before);
    expect("wat_many_locals.wasm", "{}", FL_OK, "{\"locals\":60000}", NULL);
    engine_stats(&after);
    assert_int_equal(after.tier0_fallbacks, before.tier0_fallbacks + 1);
    /* and one it takes does not count */
    expect("wat_tiny.wasm", "{}", FL_OK, "{}", NULL);
    engine_stats(&before);
    assert_int_equal(before.tier0_fallbacks, after.tier0_fallbacks);
}

static void test_tier1_swap_and_cache(void **state)
{
    (void)state;
    struct engine_module *m = load("c_sha256.wasm");
    struct engine_result res;
    const char *want = "{\"sha256\":\"";
    assert_int_equal(invoke_with(m, "{\"mib\":1}", 0, 0, &res), FL_OK);
    char *tier0_output = strdup(res.output);
    assert_non_null(strstr(tier0_output, want));
    engine_result_deinit(&res);
    assert_true(engine_module_wait_tier1(m, 120000));
    assert_int_equal(engine_module_tier(m), ENGINE_TIER1);
    assert_int_equal(invoke_with(m, "{\"mib\":1}", 0, 0, &res), FL_OK);
    assert_string_equal(res.output, tier0_output); /* both tiers agree */
    engine_result_deinit(&res);
    engine_module_release(m);
    /* the same bytes again: tier 1 straight from the cache, nothing compiled */
    m = load("c_sha256.wasm");
    assert_int_equal(engine_module_tier(m), ENGINE_TIER1);
    engine_module_release(m);
    free(tier0_output);
}

/* A call is stopped within a few ms of its cancel flag being set (its client went away). */
static atomic_bool cancel_flag;

static void *cancel_after_50ms(void *arg)
{
    (void)arg;
    usleep(50 * 1000);
    atomic_store(&cancel_flag, true);
    return NULL;
}

static void test_cancel(void **state)
{
    (void)state;
    struct engine_module *m = load("wat_loop.wasm");
    struct engine_limits limits;
    engine_limits_defaults(&limits);
    limits.timeout_ms = 0; /* no time limit at all: only the flag stops it */
    limits.cancel = &cancel_flag;
    atomic_store(&cancel_flag, false);
    pthread_t canceller;
    assert_int_equal(pthread_create(&canceller, NULL, cancel_after_50ms, NULL), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rt_reclaim_signals();
    struct engine_result res;
    assert_int_equal(engine_invoke(m, NULL, 0, &limits, &res), FL_ERR_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(canceller, NULL);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(ms >= 45 && ms < 1000); /* without the flag it would never end */
    engine_result_deinit(&res);
    /* the flag left set does not stop a call that has none */
    limits.cancel = NULL;
    limits.timeout_ms = 100;
    assert_int_equal(invoke_with(m, NULL, 0, 100, &res), FL_ERR_TIMEOUT);
    engine_result_deinit(&res);
    engine_module_release(m);
}

/* As deep as accepted: it runs at both tiers. */
static void test_deepest_nesting_runs(void **state)
{
    (void)state;
    struct engine_module *m = load("nested_16000.wasm");
    struct engine_result res;
    assert_int_equal(invoke_with(m, "{}", 0, 0, &res), FL_OK);
    assert_string_equal(res.output, "{}");
    engine_result_deinit(&res);
    assert_true(engine_module_wait_tier1(m, 120000));
    assert_int_equal(invoke_with(m, "{}", 0, 0, &res), FL_OK);
    assert_string_equal(res.output, "{}");
    engine_result_deinit(&res);
    engine_module_release(m);
}

/* ---- many threads at once ---- */

struct torture {
    struct engine_module *tiny, *oob, *loop, *recursion, *grow;
    atomic_int failures;
    int iterations;
};

static void torture_one(struct torture *t, int i)
{
    struct engine_result res;
    enum fl_err err, want;
    switch (i % 10) {
    case 0:
        err = invoke_with(t->loop, NULL, 0, 5, &res);
        want = FL_ERR_TIMEOUT;
        break;
    case 1:
        err = invoke_with(t->oob, NULL, 0, 0, &res);
        want = FL_ERR_TRAP;
        break;
    case 2:
        err = invoke_with(t->recursion, NULL, 0, 0, &res);
        want = FL_ERR_TRAP;
        break;
    case 3:
        err = invoke_with(t->grow, NULL, 2 << 20, 0, &res);
        want = FL_OK;
        break;
    default:
        err = invoke_with(t->tiny, NULL, 0, 0, &res);
        want = FL_OK;
        break;
    }
    bool ok = err == want && (want != FL_OK || (res.output && res.output[0] == '{'));
    if (i % 10 == 3 && ok)
        ok = strcmp(res.output, "{\"pages\":32}") == 0;
    if (!ok)
        atomic_fetch_add(&t->failures, 1);
    engine_result_deinit(&res);
}

static void *torture_thread(void *arg)
{
    struct torture *t = arg;
    for (int i = 0; i < t->iterations; i++)
        torture_one(t, i);
    return NULL;
}

/* No byte a call writes is seen by the next call on the thread, whichever way it ended and
 * whichever way its memory was reset (a small memory, a large one; after a trap, a time-out). */
static void memory_isolation_rounds(void)
{
    struct engine_module *touch = load("wat_touch64k.wasm");
    struct engine_module *rust = load("c_hello.wasm");
    struct engine_result res;
    /* inputs by length (wat_touch64k): a call, a trap, a time-out, 16 MiB written (the reset
     * that hands pages back), each followed by a call that must find its pages zero */
    const char *inputs[] = {"{}", "{\"trap\":true}",
                            "{}", "{\"spin\":true,\"xx\":1}",
                            "{}", "{\"everything\":true,\"pad\":\"xx\"}",
                            "{}"};
    const enum fl_err outcomes[] = {FL_OK, FL_ERR_TRAP, FL_OK, FL_ERR_TIMEOUT, FL_OK, FL_OK, FL_OK};
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
            assert_int_equal(invoke_with(touch, inputs[i], 0, 200, &res), outcomes[i]);
            if (outcomes[i] == FL_OK && i != 5) /* it wrote its pages; it found them zero */
                assert_string_equal(res.output, "{\"dirty\":0}");
            engine_result_deinit(&res);
            /* a small memory between large ones: its reset path, then the large one's again */
            assert_int_equal(invoke_with(rust, "{\"name\":\"x\"}", 0, 0, &res), FL_OK);
            engine_result_deinit(&res);
        }
    /* the same 64 KiB in one piece: the reset's scan finds one run of pages */
    struct engine_module *together = load("wat_touch64k_together.wasm");
    for (int round = 0; round < 3; round++) {
        assert_int_equal(invoke_with(together, "{}", 0, 0, &res), FL_OK);
        assert_string_equal(res.output, "{\"dirty\":0}");
        engine_result_deinit(&res);
    }
    engine_module_release(together);
    engine_module_release(rust);
    engine_module_release(touch);
}

/* Every reset path, each way of finding the touched pages: PAGEMAP_SCAN where the kernel has
 * it (Linux 6.7), and mincore. */
static void test_memory_isolation(void **state)
{
    (void)state;
    if (!rt_reset_uses_pagemap_scan())
        printf("# this kernel has no PAGEMAP_SCAN: resets use mincore only\n");
    memory_isolation_rounds();
    rt_reset_force_mincore(true);
    memory_isolation_rounds();
    rt_reset_force_mincore(false);
}

static void test_torture_threads(void **state)
{
    (void)state;
    struct torture t = {.iterations = 1000};
    t.tiny = load("wat_tiny.wasm");
    t.oob = load("wat_oob.wasm");
    t.loop = load("wat_loop.wasm");
    t.recursion = load("wat_recursion.wasm");
    t.grow = load("wat_grow.wasm");
    atomic_init(&t.failures, 0);
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(engine_thread_create(&threads[i], torture_thread, &t), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    assert_int_equal(atomic_load(&t.failures), 0);
    engine_module_release(t.tiny);
    engine_module_release(t.oob);
    engine_module_release(t.loop);
    engine_module_release(t.recursion);
    engine_module_release(t.grow);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_c),
        cmocka_unit_test(test_hello_logs),
        cmocka_unit_test(test_log_flood),
        cmocka_unit_test(test_hello_rust),
        cmocka_unit_test(test_function_error),
        cmocka_unit_test(test_abi_v0),
        cmocka_unit_test(test_wasi),
        cmocka_unit_test(test_traps),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_memory_cap_grow),
        cmocka_unit_test(test_memory_bomb),
        cmocka_unit_test(test_initial_memory_above_cap),
        cmocka_unit_test(test_huge_output),
        cmocka_unit_test(test_hostile_pointers),
        cmocka_unit_test(test_refused_modules),
        cmocka_unit_test(test_truncated_and_corrupt),
        cmocka_unit_test(test_accepted_info),
        cmocka_unit_test(test_validation_beside_translator),
        cmocka_unit_test(test_translator_fallback),
        cmocka_unit_test(test_translator_wide_br_table),
        cmocka_unit_test(test_tier1_swap_and_cache),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_deepest_nesting_runs),
        cmocka_unit_test(test_memory_isolation),
        cmocka_unit_test(test_torture_threads),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
