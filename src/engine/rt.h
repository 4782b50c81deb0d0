/*
 * rt — our implementation of the wasm2c runtime (engine-internal).
 *
 * Why our own: Debian's libwasm-rt-impl.a has one global jump buffer, an
 * alternate signal stack only on the first thread, is not PIC and leaks
 * address space per instance (ARCHITECTURE.md). This one is per thread.
 *
 * Threading model: every thread that runs guest code owns a `struct
 * rt_thread` (thread-local, created on first use, freed at thread exit) with
 * its jump buffer, alternate signal stack, time-limit timer and one reusable
 * linear-memory region (8 GiB of reserved address space: 4 GiB + the largest
 * offset, so that every 32-bit access lands in it, then guard). Guest memory
 * accesses are not bounds-checked by the generated code: a SIGSEGV whose
 * address lies inside one of the thread's regions, taken while the thread
 * runs guest code, is an out-of-bounds trap; one near the thread's stack
 * bottom is stack exhaustion; anything else is a host bug and crashes loudly.
 * A memory's `data` never moves: growing only opens more of its region, and
 * the tier-0 translator's code (wasm_to_c.h) relies on it, keeping the base
 * in a local for a whole call.
 *
 * Time limits: the watchdog (watchdog.h) signals a thread whose call ran
 * past its deadline. While generated code runs the handler unwinds at once;
 * while a host function runs (`in_host`) it only marks the call, and the
 * host function traps when it returns to the guest.
 */
#ifndef FL_ENGINE_RT_H
#define FL_ENGINE_RT_H

#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>

#include "engine/rt_api.h"

/* Outcome of rt_guarded_call: 0 or one of these. */
enum rt_trap {
    RT_OK = 0,
    RT_TRAP_WASM_BASE = 1,   /* + wasm_rt_trap_t */
    RT_TRAP_TIMEOUT = 100,   /* time limit reached */
    RT_TRAP_EXIT = 101,      /* WASI proc_exit: not an error by itself */
    RT_TRAP_HOST = 102,      /* a host function refused (message kept by the caller) */
    RT_TRAP_MEMORY_CAP = 103 /* initial memory above the per-call cap */
};

struct rt_ctx;
/* A host function; `import_index` lets one function serve several imports (ctx->ptrs[i]). */
typedef void (*rt_host_fn)(struct rt_ctx *ctx, uint32_t import_index, const uint64_t *args,
                           uint64_t *results);

/* The import context handed to instantiate: resolves the module's imports. */
struct rt_ctx {
    struct rt_ctx *self;     /* == this struct: see api_import_call in rt.c */
    const rt_host_fn *funcs; /* per import index: host function, or NULL */
    void *const *ptrs;       /* per import index: global/memory/table pointer, or host data */
};

struct rt_limits {
    uint32_t max_pages;        /* linear memory cap for instances created in the call */
    uint32_t timeout_ms;       /* 0: no time limit */
    const atomic_bool *cancel; /* NULL, or set to end the call as at its time limit */
    /* whose memory it is (the module; NULL: anyone's): a pooled region this owner used last is
     * taken first, since its resident pages and its page tables are this owner's footprint,
     * which the reset walks */
    const void *memory_owner;
};

/* The table bound into every loaded glue. */
extern const struct fl_rt_api rt_api;

/* Installs the signal handlers once per process. Idempotent, thread-safe. */
void rt_global_init(void);

/*
 * The engine owns SIGSEGV and SIGBUS and chains faults that are not a
 * guest's to the handler installed before it. A host that installs its own
 * handler later (test frameworks do, per test) calls this to put the
 * engine's back in front, chaining to the newer one.
 */
void rt_reclaim_signals(void);

/*
 * Runs fn(arg) on the calling thread with traps caught and the limits in
 * force; returns RT_OK or an rt_trap code. Nested calls (a host function
 * calling back into a guest) run inside the outer call's limits.
 */
int rt_guarded_call(const struct rt_limits *limits, void (*fn)(void *), void *arg);

/* Unwinds the current guarded call with `code` (from host functions). */
__attribute__((noreturn)) void rt_trap(int code);

/* Host functions bracket their work with these (see the timeout rule above). */
void rt_host_enter(void);
void rt_host_leave(void);
/* The running call's time limit (CLOCK_MONOTONIC ns), 0 when it has none: a host function that
 * waits (outbound HTTP) waits no longer than this. */
uint64_t rt_call_deadline_ns(void);

/* Human text for a trap code. */
const char *rt_trap_message(int code);

/* Frees the calling thread's runtime state now (also done at thread exit). */
void rt_thread_release(void);

/* For tests: whether resets find touched pages with PAGEMAP_SCAN here (else mincore), and a
 * switch to mincore where it would (both ways must reset alike). */
bool rt_reset_uses_pagemap_scan(void);
void rt_reset_force_mincore(bool on);

#endif
