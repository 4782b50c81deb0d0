/*
 * host — the functions the host offers to guests, and the per-invocation
 * state they work on (engine-internal).
 *
 * `struct engine_call` lives on the invoking thread's stack for one
 * invocation; its first member is the rt_ctx handed to instantiate, so every
 * host function receives it. Every guest pointer goes through call_guest_ptr,
 * which bounds-checks in 64 bits and traps on a bad range.
 */
#ifndef FL_ENGINE_HOST_H
#define FL_ENGINE_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "engine/engine.h"
#include "engine/rt.h"

/* Host functions share one signature; most ignore some of its parameters. */
#define FL_UNUSED __attribute__((unused))

struct engine_call {
    struct rt_ctx rt; /* first: generated code passes it back as the import context */
    wasm_rt_memory_t *memory;
    enum engine_abi abi;
    const char *input;
    size_t input_len;
    size_t stdin_pos;
    struct fl_buf response; /* ABI v1: __insert_response; ABI v0: stdout */
    struct fl_buf error;    /* ABI v1: __insert_error */
    struct fl_buf logs;     /* console_log, stderr (and stdout in ABI v1) */
    uint64_t logs_dropped;  /* log bytes past the bound: cut, the call goes on */
    bool response_set;
    bool error_set;
    int exit_code;
    const char *http_allow; /* the function's narrowing of the Worker's (NULL or "": none) */
    const char *env;        /* WASI's environment: "KEY=VALUE\0" entries, env_len bytes */
    size_t env_len;
    enum fl_err host_err;   /* set with host_detail before trapping with RT_TRAP_HOST */
    char host_detail[200];
};

struct host_import_def {
    const char *module;
    const char *name;
    const char *sig; /* "params:results" in wasm_decode.h letters */
    rt_host_fn fn;
};

/* The host function named (module, name), or NULL. */
const struct host_import_def *host_import_find(const char *module, const char *name);
/* Part of host_import_find: the WASI preview1 table (wasi.c). */
const struct host_import_def *wasi_import_find(const char *name);

/* A pointer to guest bytes [ptr, ptr+len), or a trap. */
uint8_t *call_guest_ptr(struct engine_call *call, uint32_t ptr, uint64_t len);
/* Fails the invocation with `err` and a sentence (never returns). */
__attribute__((noreturn, format(printf, 3, 4))) void
call_fail(struct engine_call *call, enum fl_err err, const char *fmt, ...);
/* Appends guest output to `buf`, failing the invocation past its bound. */
void call_append(struct engine_call *call, struct fl_buf *buf, const void *bytes, size_t len,
                 const char *what);

#endif
