/*
 * funless run — runs one function locally through the engine (no Core).
 *
 * For function authors and tests: the same acceptance check, compiler tiers
 * and limits as a Worker. The compiled code is cached (by default in
 * ~/.cache/funless), so a second run of the same module compiles nothing:
 * after printing the result, the command waits for the background
 * optimizing compile so that the next run finds it.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/options.h"
#include "common/util.h"
#include "engine/engine.h"

enum { RUN_MAX_MODULE_BYTES = 256 << 20, RUN_MAX_INPUT_BYTES = 1 << 20 };

struct run_options {
    const char *input;
    const char *cache_dir;
    uint64_t memory_mb;
    uint64_t timeout_ms;
    uint64_t max_output_bytes;
    bool json;
    bool no_tier1;
    bool wait_tier1;
};

/* Appends the whole stream to `out` (whose max bounds it). */
static bool run_read_stream(FILE *f, struct fl_buf *out)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (!fl_buf_append(out, chunk, n))
            return false;
    return !ferror(f);
}

static int run_read_file(const char *path, struct fl_buf *out)
{
    if (fl_buf_read_file(out, path))
        return CLI_EXIT_OK;
    fprintf(stderr, "funless run: cannot read %s: %s\n", path,
            errno == EFBIG ? "larger than the 256 MiB bound" : strerror(errno));
    return CLI_EXIT_USAGE;
}

static int run_read_input(const char *spec, struct fl_buf *input)
{
    if (strcmp(spec, "-") == 0) {
        if (!run_read_stream(stdin, input)) {
            fprintf(stderr, "funless run: input on stdin exceeds %d bytes\n", RUN_MAX_INPUT_BYTES);
            return CLI_EXIT_USAGE;
        }
    } else {
        if (!fl_buf_set(input, spec, strlen(spec))) {
            fprintf(stderr, "funless run: input exceeds %d bytes\n", RUN_MAX_INPUT_BYTES);
            return CLI_EXIT_USAGE;
        }
    }
    cJSON *json = cJSON_ParseWithLength(input->data ? input->data : "", input->len);
    if (!json) {
        fprintf(stderr, "funless run: the input is not valid JSON\n");
        return CLI_EXIT_USAGE;
    }
    cJSON_Delete(json);
    return CLI_EXIT_OK;
}

static int run_exit_code(enum fl_err err)
{
    switch (err) {
    case FL_OK:
        return CLI_EXIT_OK;
    case FL_ERR_FUNCTION:
        return CLI_EXIT_FUNCTION_ERROR;
    case FL_ERR_TIMEOUT:
        return CLI_EXIT_TIMEOUT;
    case FL_ERR_TRAP:
    case FL_ERR_BAD_OUTPUT:
    case FL_ERR_MEMORY_LIMIT:
        return CLI_EXIT_TRAP;
    case FL_ERR_NOT_WASM:
    case FL_ERR_INVALID_WASM:
    case FL_ERR_UNSUPPORTED:
    case FL_ERR_UNKNOWN_IMPORT:
    case FL_ERR_NO_ENTRY:
        return CLI_EXIT_REFUSED;
    default:
        return CLI_EXIT_INTERNAL;
    }
}

static const char *run_error_kind(enum fl_err err)
{
    switch (run_exit_code(err)) {
    case CLI_EXIT_FUNCTION_ERROR:
        return "function_error";
    case CLI_EXIT_TIMEOUT:
        return "timeout";
    case CLI_EXIT_TRAP:
        return "trap";
    case CLI_EXIT_REFUSED:
        return "refused";
    default:
        return "internal";
    }
}

static void run_print_json(enum fl_err err, const char *detail, const struct engine_result *res,
                           int tier)
{
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "status", err == FL_OK ? "ok" : "error");
    if (err == FL_OK) {
        cJSON_AddItemToObject(out, "result", cJSON_Parse(res->output));
    } else {
        cJSON_AddStringToObject(out, "kind", run_error_kind(err));
        cJSON_AddStringToObject(out, "detail", detail);
        if (res && res->output)
            cJSON_AddStringToObject(out, "message", res->output);
    }
    if (res)
        cJSON_AddStringToObject(out, "logs", res->logs ? res->logs : "");
    if (tier >= 0)
        cJSON_AddNumberToObject(out, "tier", tier);
    char *text = cJSON_PrintUnformatted(out);
    printf("%s\n", text);
    free(text);
    cJSON_Delete(out);
}

static void run_print_plain(enum fl_err err, const struct engine_result *res)
{
    if (res->logs_len)
        fprintf(stderr, "%s", res->logs);
    if (err == FL_OK) {
        printf("%s\n", res->output);
        return;
    }
    fprintf(stderr, "funless run: %s\n", res->detail);
    if (res->output)
        fprintf(stderr, "Error: %s\n", res->output);
}

struct run_job {
    struct engine_module *module;
    const struct fl_buf *input;
    struct engine_limits limits;
    struct engine_result result;
};

static void *run_job_main(void *arg)
{
    struct run_job *job = arg;
    engine_invoke(job->module, job->input->data, job->input->len, &job->limits, &job->result);
    return NULL;
}

/* Guest code wants a thread with a large stack: run the invocation on one. */
static void run_invoke(struct run_job *job)
{
    pthread_t thread;
    if (engine_thread_create(&thread, run_job_main, job) != 0) {
        run_job_main(job);
        return;
    }
    pthread_join(thread, NULL);
}

static int run_module(const struct run_options *opt, const struct fl_buf *code,
                      const struct fl_buf *input)
{
    char detail[256] = "";
    struct engine_module *module = NULL;
    /* The memory cap is known here, so a module above it is refused like any other. */
    enum fl_err err = engine_check((const uint8_t *)code->data, code->len, opt->memory_mb << 20,
                                   false, NULL, detail, sizeof(detail));
    if (err == FL_OK)
        err = engine_module_load((const uint8_t *)code->data, code->len, &module, detail,
                                 sizeof(detail));
    if (err != FL_OK) {
        if (opt->json)
            run_print_json(err, detail, NULL, -1);
        else
            fprintf(stderr, "funless run: module refused: %s\n", detail);
        return run_exit_code(err) == CLI_EXIT_INTERNAL ? CLI_EXIT_INTERNAL : CLI_EXIT_REFUSED;
    }
    struct run_job job = {.module = module, .input = input};
    engine_limits_defaults(&job.limits);
    job.limits.memory_bytes = opt->memory_mb << 20;
    job.limits.timeout_ms = (uint32_t)opt->timeout_ms;
    job.limits.max_output_bytes = opt->max_output_bytes;
    int tier = (int)engine_module_tier(module);
    run_invoke(&job);
    err = job.result.status;
    if (opt->json)
        run_print_json(err, job.result.detail, &job.result, tier);
    else
        run_print_plain(err, &job.result);
    fflush(stdout);
    if (opt->wait_tier1 && !opt->no_tier1)
        engine_module_wait_tier1(module, 600000);
    engine_result_deinit(&job.result);
    engine_module_release(module);
    return run_exit_code(err);
}

static char *run_default_cache_dir(void)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char *dir = NULL;
    if (xdg && *xdg)
        return asprintf(&dir, "%s/funless", xdg) < 0 ? NULL : dir;
    return asprintf(&dir, "%s/.cache/funless", home && *home ? home : "/tmp") < 0 ? NULL : dir;
}

int cmd_run(int argc, char **argv)
{
    struct run_options opt;
    const struct fl_option options[] = {
        {"--input", NULL, FL_OPT_STRING, &opt.input, "{}", 0, 0,
         "input JSON, or - to read it from stdin"},
        {"--memory-mb", "FUNLESS_MEMORY_MB", FL_OPT_UINT, &opt.memory_mb, "64", 1, 4096,
         "linear memory limit in MiB"},
        {"--timeout-ms", "FUNLESS_TIMEOUT_MS", FL_OPT_UINT, &opt.timeout_ms, "60000", 1, 3600000,
         "time limit in milliseconds"},
        {"--max-output-bytes", NULL, FL_OPT_UINT, &opt.max_output_bytes, "1048576", 1, 1 << 30,
         "largest result accepted"},
        {"--json", NULL, FL_OPT_FLAG, &opt.json, NULL, 0, 0,
         "print one JSON object: status, result or error, logs, tier"},
        {"--cache-dir", "FUNLESS_CACHE_DIR", FL_OPT_STRING, &opt.cache_dir, NULL, 0, 0,
         "compiled-code cache (default ~/.cache/funless)"},
        {"--no-tier1", NULL, FL_OPT_FLAG, &opt.no_tier1, NULL, 0, 0, "do not build optimized code"},
        {"--wait-tier1", NULL, FL_OPT_FLAG, &opt.wait_tier1, "true", 0, 0,
         "after the result, wait for the optimized build to fill the cache"},
    };
    const size_t count = ARRAY_SIZE(options);
    char *positional[1], err[256];
    size_t npositional;
    bool help;
    if (!fl_options_parse(options, count, argc, argv, positional, 1, &npositional, &help, err,
                          sizeof(err))) {
        fprintf(stderr, "funless run: %s\n", err);
        return CLI_EXIT_USAGE;
    }
    if (help || npositional != 1) {
        fl_options_print_help(help ? stdout : stderr,
                              "usage: funless run FILE.wasm [OPTIONS]\n\n"
                              "Runs a function once and prints its result JSON.\n"
                              "exit codes: 0 ok, 1 function error, 2 trap/limit/invalid output,\n"
                              "3 time limit, 4 module refused, 64 usage, 70 internal error",
                              options, count);
        return help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    struct fl_buf code, input;
    fl_buf_init(&code, RUN_MAX_MODULE_BYTES);
    fl_buf_init(&input, RUN_MAX_INPUT_BYTES);
    int rc = run_read_file(positional[0], &code);
    if (rc == CLI_EXIT_OK)
        rc = run_read_input(opt.input, &input);
    char *default_cache = opt.cache_dir ? NULL : run_default_cache_dir();
    struct engine_config config;
    engine_config_defaults(&config);
    config.cache_dir = opt.cache_dir ? opt.cache_dir : default_cache;
    config.tier1 = !opt.no_tier1;
    char detail[256];
    if (rc == CLI_EXIT_OK && engine_init(&config, detail, sizeof(detail)) != FL_OK) {
        fprintf(stderr, "funless run: %s\n", detail);
        rc = CLI_EXIT_INTERNAL;
    } else if (rc == CLI_EXIT_OK) {
        rc = run_module(&opt, &code, &input);
        engine_deinit();
    }
    free(default_cache);
    fl_buf_deinit(&code);
    fl_buf_deinit(&input);
    return rc;
}
