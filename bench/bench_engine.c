/*
 * Engine benchmarks (not tests): every figure is reported with a baseline
 * measured in the same run, as a ratio, because the machines are shared.
 *
 * usage: bench_engine TINY.wasm SHA256.wasm|- BIG.wasm|- [RUST_HELLO.wasm TOUCH64K.wasm
 *                                                         TOUCH64K_TOGETHER.wasm]
 *   1. warm instantiate + call + free of a tiny function (median, p99)
 *      baseline: the same work natively (fresh zeroed 64 KiB, call, JSON check, free)
 *   1b. the same for functions with more memory: the Rust hello (17 pages, 1.06 MiB) and a
 *      16 MiB function that writes 64 KiB, spread over its 16 MiB (the worst case for the
 *      reset's page-table scan) and in one piece (as a real function's stack, data and heap);
 *      baseline: the tiny function, interleaved
 *   2. sha256 of 4 MiB at tier 1 and tier 0, baseline: the same C compiled natively (-O2)
 *   3. an unseen ~1 MB module to its first successful invocation (tier 0)
 *      baseline: wasm2c alone on the same module
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/proc.h"
#include "engine/compile.h"
#include "engine/engine.h"

void sha256_pattern(int mib, char out[65]);

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return v[(int)(p * (n - 1))];
}

static struct fl_buf read_wasm(const char *path)
{
    struct fl_buf b;
    fl_buf_init(&b, (size_t)64 << 20);
    FILE *f = fopen(path, "rb");
    char chunk[65536];
    size_t n;
    while (f && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fl_buf_append(&b, chunk, n);
    if (!f) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    return b;
}

static struct engine_module *load(const struct fl_buf *wasm)
{
    struct engine_module *m;
    char detail[256];
    if (engine_module_load((const uint8_t *)wasm->data, wasm->len, &m, detail, sizeof(detail)) !=
        FL_OK) {
        fprintf(stderr, "load: %s\n", detail);
        exit(2);
    }
    return m;
}

static double invoke_ns(struct engine_module *m, const char *input, struct engine_limits *limits)
{
    struct engine_result res;
    double t0 = now_ns();
    enum fl_err err = engine_invoke(m, input, strlen(input), limits, &res);
    double t = now_ns() - t0;
    if (err != FL_OK) {
        fprintf(stderr, "invoke: %s\n", res.detail);
        exit(2);
    }
    engine_result_deinit(&res);
    return t;
}

/* The native equivalent of one tiny invocation. */
static void native_tiny(char *out)
{
    memcpy(out, "{}", 3);
}

static double native_tiny_ns(void (*volatile fn)(char *))
{
    double t0 = now_ns();
    char *memory = calloc(1, 65536);
    fn(memory);
    cJSON *json = cJSON_ParseWithLength(memory, 2);
    char *copy = strdup(memory);
    cJSON_Delete(json);
    free(copy);
    free(memory);
    return now_ns() - t0;
}

enum { TINY_RUNS = 200000 };

static void bench_tiny(const char *path)
{
    struct fl_buf wasm = read_wasm(path);
    struct engine_module *m = load(&wasm);
    engine_module_wait_tier1(m, 120000);
    struct engine_limits limits;
    engine_limits_defaults(&limits);
    double *t = malloc(sizeof(double) * TINY_RUNS), *b = malloc(sizeof(double) * TINY_RUNS);
    for (int i = 0; i < 10000; i++)
        invoke_ns(m, "{}", &limits);
    for (int i = 0; i < TINY_RUNS; i++) {
        t[i] = invoke_ns(m, "{}", &limits);
        b[i] = native_tiny_ns(native_tiny);
    }
    double med = percentile(t, TINY_RUNS, 0.5), p99 = percentile(t, TINY_RUNS, 0.99);
    double base = percentile(b, TINY_RUNS, 0.5);
    printf("tiny function, warm instantiate+call+free (tier %d, %d runs):\n", engine_module_tier(m),
           TINY_RUNS);
    printf("  median %.2f us, p99 %.2f us; native baseline median %.2f us; ratio %.1fx (target: "
           "median <= 2 us)\n",
           med / 1e3, p99 / 1e3, base / 1e3, med / base);
    free(t);
    free(b);
    engine_module_release(m);
    fl_buf_deinit(&wasm);
}

enum { RESET_RUNS = 100000, RESET_KINDS = 4 };

/* Instantiate + call + reset of functions with more memory, interleaved with the tiny one. */
static void bench_reset(const char *const paths[RESET_KINDS])
{
    const char *inputs[] = {"{}", "{\"name\":\"bench\"}", "{}", "{}"};
    const char *names[] = {"tiny (1 page)", "Rust hello (17 pages, 1.06 MiB)",
                           "16 MiB, writes 64 KiB spread", "16 MiB, writes 64 KiB together"};
    const double targets_us[] = {2, 2, 3, 3};
    struct fl_buf wasm[RESET_KINDS];
    struct engine_module *m[RESET_KINDS];
    double *t[RESET_KINDS];
    struct engine_limits limits;
    engine_limits_defaults(&limits);
    for (int k = 0; k < RESET_KINDS; k++) {
        wasm[k] = read_wasm(paths[k]);
        m[k] = load(&wasm[k]);
        engine_module_wait_tier1(m[k], 120000);
        t[k] = malloc(sizeof(double) * RESET_RUNS);
        for (int i = 0; i < 5000; i++)
            invoke_ns(m[k], inputs[k], &limits);
    }
    for (int i = 0; i < RESET_RUNS; i++)
        for (int k = 0; k < RESET_KINDS; k++)
            t[k][i] = invoke_ns(m[k], inputs[k], &limits);
    double tiny = percentile(t[0], RESET_RUNS, 0.5);
    printf("instantiate+call+reset by memory size (%d runs each, interleaved):\n", RESET_RUNS);
    for (int k = 0; k < RESET_KINDS; k++) {
        double med = percentile(t[k], RESET_RUNS, 0.5), p99 = percentile(t[k], RESET_RUNS, 0.99);
        printf("  %-32s median %.2f us, p99 %.2f us; %.2fx the tiny function (target: median "
               "<= %.0f us)\n",
               names[k], med / 1e3, p99 / 1e3, med / tiny, targets_us[k]);
        free(t[k]);
        engine_module_release(m[k]);
        fl_buf_deinit(&wasm[k]);
    }
}

static double median_of(double *v, int n)
{
    return percentile(v, n, 0.5);
}

static double native_sha256_ns(void)
{
    char hex[65];
    double t0 = now_ns();
    sha256_pattern(4, hex);
    return now_ns() - t0;
}

/* Native and tier 1 alternate, run by run, so that drift in the machine's load hits both. */
static void bench_sha256(const char *path)
{
    enum { RUNS = 15 };
    struct fl_buf wasm = read_wasm(path);
    struct engine_config config;
    struct engine_limits limits;
    engine_limits_defaults(&limits);
    double native[RUNS], tier0[RUNS], tier1[RUNS], ratio[RUNS];
    char detail[256];
    engine_deinit(); /* tier 0 alone: an engine whose optimizer is off */
    engine_config_defaults(&config);
    config.tier1 = false;
    engine_init(&config, detail, sizeof(detail));
    struct engine_module *m = load(&wasm);
    for (int i = 0; i < RUNS / 3; i++)
        tier0[i] = invoke_ns(m, "{\"mib\":4}", &limits);
    engine_module_release(m);
    engine_deinit();
    engine_config_defaults(&config);
    engine_init(&config, detail, sizeof(detail));
    m = load(&wasm);
    engine_module_wait_tier1(m, 300000);
    for (int i = 0; i < RUNS; i++) {
        native[i] = native_sha256_ns();
        tier1[i] = invoke_ns(m, "{\"mib\":4}", &limits);
        ratio[i] = tier1[i] / native[i];
    }
    double n = median_of(native, RUNS), t0m = median_of(tier0, RUNS / 3),
           t1m = median_of(tier1, RUNS);
    printf("sha256 of 4 MiB (medians; native and tier 1 alternate, %d runs):\n", RUNS);
    printf("  native gcc -O2 %.1f ms, tier 1 %.1f ms, tier 0 %.1f ms\n", n / 1e6, t1m / 1e6,
           t0m / 1e6);
    printf("  tier 1 / native = %.2fx (median of per-run ratios; target <= 1.2x); tier 0 / tier 1 "
           "= %.2fx\n",
           median_of(ratio, RUNS), t0m / t1m);
    engine_module_release(m);
    fl_buf_deinit(&wasm);
}

static void bench_cold(const char *path)
{
    enum { RUNS = 3 };
    struct fl_buf wasm = read_wasm(path);
    struct engine_limits limits;
    engine_limits_defaults(&limits);
    double cold[RUNS], translate[RUNS];
    for (int i = 0; i < RUNS; i++) {
        /* a fresh private cache each time: the module is unseen */
        engine_deinit();
        struct engine_config config;
        engine_config_defaults(&config);
        config.tier1 = false;
        char detail[256];
        engine_init(&config, detail, sizeof(detail));
        double t0 = now_ns();
        struct engine_module *m = load(&wasm);
        invoke_ns(m, "{}", &limits);
        cold[i] = now_ns() - t0;
        engine_module_release(m);
        const char *argv[] = {"wasm2c", "-n", "m", path, "-o", "/tmp/funless-bench-wasm2c.c", NULL};
        int status;
        t0 = now_ns();
        proc_run(argv, -1, NULL, NULL, &status);
        translate[i] = now_ns() - t0;
    }
    remove("/tmp/funless-bench-wasm2c.c");
    remove("/tmp/funless-bench-wasm2c.h");
    double c = median_of(cold, RUNS), w = median_of(translate, RUNS);
    printf("unseen %.2f MB module to its first successful invocation, tier 0 (median of %d):\n",
           (double)wasm.len / 1e6, RUNS);
    printf("  %.0f ms; wasm2c alone %.0f ms; ratio %.2fx (target: <= 300 ms)\n", c / 1e6, w / 1e6,
           c / w);
    fl_buf_deinit(&wasm);
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 7) {
        fprintf(stderr,
                "usage: %s TINY.wasm SHA256.wasm BIG.wasm [RUST_HELLO.wasm TOUCH64K.wasm "
                "TOUCH64K_TOGETHER.wasm]\n",
                argv[0]);
        return 2;
    }
    struct engine_config config;
    engine_config_defaults(&config);
    char detail[256];
    if (engine_init(&config, detail, sizeof(detail)) != FL_OK) {
        fprintf(stderr, "%s\n", detail);
        return 2;
    }
    bench_tiny(argv[1]);
    if (argc == 7) {
        const char *const reset_paths[RESET_KINDS] = {argv[1], argv[4], argv[5], argv[6]};
        bench_reset(reset_paths);
    }
    if (strcmp(argv[2], "-") != 0) /* "-": not this one (a quicker run) */
        bench_sha256(argv[2]);
    if (strcmp(argv[3], "-") != 0)
        bench_cold(argv[3]);
    engine_deinit();
    return 0;
}
