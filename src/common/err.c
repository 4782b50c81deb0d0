#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const fl_err_names[FL_ERR__COUNT] = {
    [FL_OK] = "ok",
    [FL_ERR_NOMEM] = "out of memory",
    [FL_ERR_IO] = "input/output error",
    [FL_ERR_INVALID_ARG] = "invalid argument",
    [FL_ERR_NOT_WASM] = "not a WebAssembly module",
    [FL_ERR_INVALID_WASM] = "invalid WebAssembly module",
    [FL_ERR_UNSUPPORTED] = "unsupported WebAssembly feature",
    [FL_ERR_UNKNOWN_IMPORT] = "unknown import",
    [FL_ERR_NO_ENTRY] = "no entry point",
    [FL_ERR_MEMORY_LIMIT] = "memory limit exceeded",
    [FL_ERR_COMPILE] = "compilation failed",
    [FL_ERR_FUNCTION] = "function error",
    [FL_ERR_TRAP] = "function trapped",
    [FL_ERR_TIMEOUT] = "time limit exceeded",
    [FL_ERR_BAD_OUTPUT] = "invalid function output",
    [FL_ERR_BAD_REQUEST] = "bad request",
    [FL_ERR_INVALID_NAME] = "invalid name or value",
    [FL_ERR_NOT_FOUND] = "not found",
    [FL_ERR_EXISTS] = "already exists",
    [FL_ERR_FORBIDDEN_OP] = "operation not allowed",
    [FL_ERR_TOO_LARGE] = "too large",
    [FL_ERR_UNAUTHORIZED] = "unauthorized",
    [FL_ERR_FORBIDDEN] = "forbidden",
    [FL_ERR_METHOD] = "method not allowed",
    [FL_ERR_STORE] = "store error",
    [FL_ERR_UNAVAILABLE] = "service unavailable",
    [FL_ERR_STORE_DOWN] = "store unreachable",
    [FL_ERR_STORE_FULL] = "store full",
    [FL_ERR_BUSY] = "every worker is busy",
    [FL_ERR_WORKER_LOST] = "worker lost",
    [FL_ERR_CANCELLED] = "cancelled",
};

const char *fl_strerror(enum fl_err err)
{
    if ((unsigned)err >= FL_ERR__COUNT)
        return "unknown error";
    return fl_err_names[err];
}

enum fl_err fl_fail(enum fl_err err, char *detail, size_t detail_len, const char *fmt, ...)
{
    if (detail && detail_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, detail_len, fmt, ap);
        va_end(ap);
    }
    return err;
}
