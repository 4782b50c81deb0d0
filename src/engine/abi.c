/*
 * abi — the FunLess ABI v1 host functions, import module `fl_imps` (docs/abi.md).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "engine/host.h"
#include "engine/http_out.h"

uint8_t *call_guest_ptr(struct engine_call *call, uint32_t ptr, uint64_t len)
{
    if (!call->memory || (uint64_t)ptr + len > call->memory->size)
        rt_trap(RT_TRAP_WASM_BASE + WASM_RT_TRAP_OOB);
    return call->memory->data + ptr;
}

void call_fail(struct engine_call *call, enum fl_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call->host_detail, sizeof(call->host_detail), fmt, ap);
    va_end(ap);
    call->host_err = err;
    rt_trap(RT_TRAP_HOST);
}

void call_append(struct engine_call *call, struct fl_buf *buf, const void *bytes, size_t len,
                 const char *what)
{
    if (fl_buf_append(buf, bytes, len))
        return;
    if (buf != &call->logs) { /* a result or an error past its bound fails the call */
        call_fail(call, FL_ERR_BAD_OUTPUT, "function %s exceeds %zu bytes", what, buf->max);
        return;
    }
    /* logs past their bound are cut, not the call: what fits is kept, the rest counted */
    size_t room = buf->max > buf->len ? buf->max - buf->len : 0;
    if (room)
        fl_buf_append(buf, bytes, room);
    call->logs_dropped += len - room;
}

static void abi_get_input_data(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED,
                               const uint64_t *args, uint64_t *results)
{
    struct engine_call *call = (struct engine_call *)ctx;
    (void)results;
    uint8_t *dst = call_guest_ptr(call, (uint32_t)args[0], call->input_len);
    memcpy(dst, call->input, call->input_len);
}

/* Copies guest text into `buf`, replacing what it held ("the last call wins"). */
static void abi_set_text(struct engine_call *call, struct fl_buf *buf, const uint64_t *args,
                         const char *what)
{
    uint8_t *src = call_guest_ptr(call, (uint32_t)args[0], (uint32_t)args[1]);
    fl_buf_reset(buf);
    call_append(call, buf, src, (uint32_t)args[1], what);
}

static void abi_insert_response(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED,
                                const uint64_t *args, uint64_t *results)
{
    struct engine_call *call = (struct engine_call *)ctx;
    (void)results;
    abi_set_text(call, &call->response, args, "result");
    call->response_set = true;
}

static void abi_insert_error(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED,
                             const uint64_t *args, uint64_t *results)
{
    struct engine_call *call = (struct engine_call *)ctx;
    (void)results;
    abi_set_text(call, &call->error, args, "error message");
    call->error_set = true;
}

static void abi_console_log(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED,
                            const uint64_t *args, uint64_t *results)
{
    struct engine_call *call = (struct engine_call *)ctx;
    (void)results;
    uint8_t *src = call_guest_ptr(call, (uint32_t)args[0], (uint32_t)args[1]);
    call_append(call, &call->logs, src, (uint32_t)args[1], "logs");
    call_append(call, &call->logs, "\n", 1, "logs");
}

/* The bytes [ptr, ptr+len) are the guest's (checked without trapping). */
static bool guest_range_ok(const struct engine_call *call, uint32_t ptr, uint64_t len)
{
    return call->memory && (uint64_t)ptr + len <= call->memory->size;
}

/*
 * __http_request (docs/abi.md "Outbound HTTP"): the request under the Worker's allow-list
 * (http_out.h), waiting no longer than the call's time limit; the status (u16 LE), the body's
 * length (u32 LE) and the body go where the guest said. A refusal or a transport error is
 * status 0 and an empty body, with a line in the call's logs saying why.
 */
static void abi_http_request(struct rt_ctx *ctx, uint32_t import_index FL_UNUSED,
                             const uint64_t *args, uint64_t *results)
{
    struct engine_call *call = (struct engine_call *)ctx;
    (void)results;
    uint32_t resp = (uint32_t)args[0];
    uint8_t *resp_len = call_guest_ptr(call, (uint32_t)args[1], 4);
    uint8_t *status = call_guest_ptr(call, (uint32_t)args[2], 2);
    struct http_out_request request = {
        .method = (enum http_out_method)((uint32_t)args[3] <= HTTP_OUT_DELETE ? args[3] : 0),
        .url = (const char *)call_guest_ptr(call, (uint32_t)args[4], (uint32_t)args[5]),
        .url_len = (uint32_t)args[5],
        .headers = (const char *)call_guest_ptr(call, (uint32_t)args[6], (uint32_t)args[7]),
        .headers_len = (uint32_t)args[7],
        .body = (const char *)call_guest_ptr(call, (uint32_t)args[8], (uint32_t)args[9]),
        .body_len = (uint32_t)args[9],
        .deadline_ns = rt_call_deadline_ns(),
    };
    const struct http_allow *allow;
    size_t max_bytes;
    http_out_policy(&allow, &max_bytes);
    struct http_out_response response;
    /* in host code the time limit only marks the call (rt.h): nothing is left half done, and
     * the request itself ends by the limit */
    rt_host_enter();
    if ((uint32_t)args[3] > HTTP_OUT_DELETE) {
        memset(&response, 0, sizeof(response));
        snprintf(response.why, sizeof(response.why), "refused: method %u is not 0-3",
                 (unsigned)(uint32_t)args[3]);
    } else {
        struct http_allow *narrow = NULL; /* parsed per request: calls out are rare and slow */
        char why[200];
        if (call->http_allow && call->http_allow[0] &&
            http_allow_parse(call->http_allow, &narrow, why, sizeof(why)) != FL_OK) {
            memset(&response, 0, sizeof(response));
            snprintf(response.why, sizeof(response.why), "refused: %.180s", why);
        } else {
            http_out_perform(allow, narrow, max_bytes, &request, &response);
        }
        http_allow_free(narrow);
    }
    bool fits = !response.status || guest_range_ok(call, resp, response.body_len);
    if (fits) {
        status[0] = (uint8_t)response.status;
        status[1] = (uint8_t)(response.status >> 8);
        fl_put_le32(resp_len, (uint32_t)response.body_len);
        if (response.body_len)
            memcpy(call->memory->data + resp, response.body, response.body_len);
    }
    free(response.body);
    if (!response.status) {
        char line[256];
        int n = snprintf(line, sizeof(line), "http_request %s\n", response.why);
        call_append(call, &call->logs, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : 0,
                    "logs");
    }
    rt_host_leave(); /* a time limit that passed meanwhile ends the call here */
    if (request.deadline_ns && fl_now_ns() >= request.deadline_ns)
        rt_trap(RT_TRAP_TIMEOUT); /* the request ran to the limit: before the watchdog's tick */
    if (!fits) /* the guest's buffer is not in its memory: a trap, as for every pointer */
        rt_trap(RT_TRAP_WASM_BASE + WASM_RT_TRAP_OOB);
}

static const struct host_import_def abi_imports[] = {
    {"fl_imps", "__get_input_data", "i:", abi_get_input_data},
    {"fl_imps", "__insert_response", "ii:", abi_insert_response},
    {"fl_imps", "__insert_error", "ii:", abi_insert_error},
    {"fl_imps", "__console_log", "ii:", abi_console_log},
    {"fl_imps", "__http_request", "iiiiiiiiii:", abi_http_request},
};

const struct host_import_def *host_import_find(const char *module, const char *name)
{
    if (strcmp(module, "wasi_snapshot_preview1") == 0)
        return wasi_import_find(name);
    for (size_t i = 0; i < ARRAY_SIZE(abi_imports); i++)
        if (strcmp(abi_imports[i].module, module) == 0 && strcmp(abi_imports[i].name, name) == 0)
            return &abi_imports[i];
    return NULL;
}
