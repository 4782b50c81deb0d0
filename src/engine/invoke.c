/*
 * invoke — one invocation: fresh instance, the ABI's protocol, the outcome.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "engine/engine_internal.h"
#include "engine/host.h"

struct invocation {
    struct engine_module *module;
    const struct fl_glue *glue;
    const struct engine_module_info *info;
    void *instance;
    struct engine_call call;
    int32_t export_invoke, export_start, export_initialize, export_memory;
    uint32_t rc;
};

static int32_t invocation_export(const struct engine_module *m, const char *name,
                                 enum wasm_extern_kind kind)
{
    const struct wasm_desc *desc = engine_module_desc(m);
    const struct wasm_export *exp = wasm_desc_find_export(desc, name, kind);
    return exp ? (int32_t)(exp - desc->exports) : -1;
}

/* Runs inside rt_guarded_call: any trap unwinds out of it. */
static void invocation_body(void *arg)
{
    struct invocation *inv = arg;
    const struct fl_glue_export *exports = inv->glue->exports;
    uint64_t args[1] = {inv->call.input_len}, results[1] = {0};
    inv->glue->instantiate(inv->instance, &inv->call.rt);
    inv->call.memory = exports[inv->export_memory].get(inv->instance);
    if (inv->export_initialize >= 0 && exports[inv->export_initialize].call)
        exports[inv->export_initialize].call(inv->instance, args, results);
    if (inv->info->abi == ENGINE_ABI_V1) {
        exports[inv->export_invoke].call(inv->instance, args, results);
        inv->rc = (uint32_t)results[0];
    } else {
        exports[inv->export_start].call(inv->instance, args, results);
    }
}

static bool utf8_valid(const unsigned char *s, size_t len)
{
    static const uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        size_t n = c < 0x80             ? 0
                   : (c & 0xe0) == 0xc0 ? 1
                   : (c & 0xf0) == 0xe0 ? 2
                   : (c & 0xf8) == 0xf0 ? 3
                                        : 4;
        if (n == 4 || n > len - i - 1)
            return false;
        uint32_t cp = n == 0 ? c : c & (0x7fu >> (n + 1));
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

static bool json_valid(const char *text, size_t len)
{
    if (!text || !utf8_valid((const unsigned char *)text, len))
        return false;
    const char *end = NULL;
    cJSON *json = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!json)
        return false;
    cJSON_Delete(json);
    while (end < text + len && strchr(" \t\r\n", *end))
        end++;
    return end == text + len;
}

static enum fl_err result_fail(struct engine_result *res, enum fl_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum fl_err result_fail(struct engine_result *res, enum fl_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
    va_end(ap);
    res->status = err;
    return err;
}

static enum fl_err outcome_json(struct invocation *inv, struct engine_result *res)
{
    if (!json_valid(inv->call.response.data, inv->call.response.len))
        return result_fail(res, FL_ERR_BAD_OUTPUT, "function returned invalid JSON");
    res->output = fl_buf_steal(&inv->call.response, &res->output_len);
    res->status = FL_OK;
    return FL_OK;
}

static enum fl_err outcome_v1(struct invocation *inv, struct engine_result *res)
{
    if (inv->rc == 0 && inv->call.response_set)
        return outcome_json(inv, res);
    if (inv->rc == 0)
        return result_fail(res, FL_ERR_BAD_OUTPUT,
                           "function returned 0 without setting a response");
    if (inv->rc == 1) {
        if (inv->call.error_set)
            res->output = fl_buf_steal(&inv->call.error, &res->output_len);
        return result_fail(res, FL_ERR_FUNCTION, "%s",
                           inv->call.error_set ? "function reported an error"
                                               : "function failed without an error message");
    }
    return result_fail(res, FL_ERR_BAD_OUTPUT, "function returned %d (expected 0 or 1)",
                       (int)inv->rc);
}

/* The last line of stderr, for error details of ABI v0 functions. */
static const char *logs_tail(const struct fl_buf *logs, int *len)
{
    if (!logs->data || logs->len == 0) {
        *len = 0;
        return "";
    }
    size_t end = logs->len;
    while (end > 0 && logs->data[end - 1] == '\n')
        end--;
    size_t start = end;
    while (start > 0 && logs->data[start - 1] != '\n' && end - start < 160)
        start--;
    *len = (int)(end - start);
    return logs->data + start;
}

static enum fl_err outcome_v0(struct invocation *inv, struct engine_result *res)
{
    res->exit_code = inv->call.exit_code;
    if (inv->call.exit_code == 0)
        return outcome_json(inv, res);
    int n;
    const char *tail = logs_tail(&inv->call.logs, &n);
    return result_fail(res, FL_ERR_FUNCTION, "function exited with code %d%s%.*s",
                       inv->call.exit_code, n ? ": " : "", n, tail);
}

static enum fl_err outcome_trap(struct invocation *inv, int code,
                                const struct engine_limits *limits, struct engine_result *res)
{
    int n;
    const char *tail = inv->info->abi == ENGINE_ABI_V0 ? logs_tail(&inv->call.logs, &n) : "";
    if (inv->info->abi != ENGINE_ABI_V0)
        n = 0;
    switch (code) {
    case RT_TRAP_TIMEOUT:
        return result_fail(res, FL_ERR_TIMEOUT, "function exceeded its time limit of %u ms",
                           limits->timeout_ms);
    case RT_TRAP_MEMORY_CAP:
        return result_fail(res, FL_ERR_MEMORY_LIMIT,
                           "function's initial memory exceeds its memory limit of %llu MiB",
                           (unsigned long long)(limits->memory_bytes >> 20));
    case RT_TRAP_HOST:
        return result_fail(res, inv->call.host_err ? inv->call.host_err : FL_ERR_TRAP, "%s",
                           inv->call.host_err ? inv->call.host_detail : "host resources exhausted");
    default:
        return result_fail(res, FL_ERR_TRAP, "function trapped: %s%s%.*s", rt_trap_message(code),
                           n ? "; stderr: " : "", n, tail);
    }
}

static void invocation_init(struct invocation *inv, struct engine_module *m, const char *input,
                            size_t input_len, const struct engine_limits *limits)
{
    memset(inv, 0, sizeof(*inv));
    inv->module = m;
    inv->glue = engine_module_glue(m);
    inv->info = engine_module_info(m);
    inv->export_invoke = invocation_export(m, "__invoke", WASM_EXTERN_FUNC);
    inv->export_start = invocation_export(m, "_start", WASM_EXTERN_FUNC);
    inv->export_initialize = invocation_export(m, "_initialize", WASM_EXTERN_FUNC);
    inv->export_memory = invocation_export(m, "memory", WASM_EXTERN_MEMORY);
    engine_module_init_ctx(m, &inv->call.rt);
    inv->call.abi = inv->info->abi;
    inv->call.input = input;
    inv->call.input_len = input_len;
    inv->call.http_allow = limits->http_allow;
    inv->call.env = limits->env;
    inv->call.env_len = limits->env ? limits->env_len : 0;
    fl_buf_init(&inv->call.response, limits->max_output_bytes);
    fl_buf_init(&inv->call.error, limits->max_output_bytes);
    fl_buf_init(&inv->call.logs, limits->max_log_bytes);
}

static void invocation_deinit(struct invocation *inv)
{
    fl_buf_deinit(&inv->call.response);
    fl_buf_deinit(&inv->call.error);
    fl_buf_deinit(&inv->call.logs);
}

enum { LOGS_CUT_NOTE_BYTES = 96 };

enum fl_err engine_invoke(struct engine_module *m, const char *input, size_t input_len,
                          const struct engine_limits *limits, struct engine_result *res)
{
    memset(res, 0, sizeof(*res));
    if (!input) {
        input = "{}";
        input_len = 2;
    }
    struct invocation inv;
    invocation_init(&inv, m, input, input_len, limits);
    if (inv.export_memory < 0 || (inv.export_invoke < 0 && inv.export_start < 0)) {
        invocation_deinit(&inv);
        return result_fail(res, FL_ERR_NO_ENTRY, "module has no entry point or no exported memory");
    }
    uint64_t started_ns = fl_now_ns();
    inv.instance = calloc(1, *inv.glue->instance_size);
    if (!inv.instance) {
        invocation_deinit(&inv);
        return result_fail(res, FL_ERR_NOMEM, "out of memory");
    }
    uint64_t pages = limits->memory_bytes / ENGINE_PAGE_BYTES;
    struct rt_limits rt_limits = {.max_pages = pages > 65536 ? 65536 : (uint32_t)pages,
                                  .timeout_ms = limits->timeout_ms,
                                  .cancel = limits->cancel,
                                  .memory_owner = m};
    int code = rt_guarded_call(&rt_limits, invocation_body, &inv);
    inv.glue->free(inv.instance);
    free(inv.instance);
    res->duration_ns = fl_now_ns() - started_ns;
    engine_module_note_call(m, res->duration_ns);
    if (code == RT_OK || code == RT_TRAP_EXIT)
        inv.info->abi == ENGINE_ABI_V1 &&code == RT_OK ? outcome_v1(&inv, res)
                                                       : outcome_v0(&inv, res);
    else
        outcome_trap(&inv, code, limits, res);
    if (inv.call.logs_dropped) { /* said at the end, past the bound (its room was reserved) */
        inv.call.logs.max += LOGS_CUT_NOTE_BYTES;
        fl_buf_printf(&inv.call.logs, "\n[funless: %llu more bytes of logs were dropped]\n",
                      (unsigned long long)inv.call.logs_dropped);
    }
    res->logs = fl_buf_steal(&inv.call.logs, &res->logs_len);
    invocation_deinit(&inv);
    return res->status;
}

void engine_result_deinit(struct engine_result *res)
{
    free(res->output);
    free(res->logs);
    res->output = res->logs = NULL;
}
