/*
 * engine — runs a user's WebAssembly function: the heart of the Worker.
 *
 * A library with no daemon in it. `engine_check` is the acceptance check
 * (also used by the Core on upload). `engine_module_load` translates a module
 * with wasm2c and compiles it with libtcc in memory (tier 0), then queues an
 * optimizing gcc build (tier 1) that runs in the background in a child
 * process and is swapped in when ready. Compiled artifacts are cached on disk
 * by content hash and tool versions. `engine_invoke` runs one invocation in a
 * fresh instance on the calling thread (see rt.h for traps and limits).
 *
 * Threading: engine_init/engine_deinit once per process; everything else is
 * safe from any number of threads. A module is reference-counted: every
 * engine_module_load / engine_module_ref is matched by engine_module_release.
 * Guest code runs on the calling thread's stack: threads that invoke should
 * have a stack of at least 1 MiB (engine_thread_create makes such threads).
 */
#ifndef FL_ENGINE_ENGINE_H
#define FL_ENGINE_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define ENGINE_PAGE_BYTES 65536u

struct engine_config {
    const char *cache_dir;       /* compiled artifacts; NULL: no disk cache */
    bool tier1;                  /* build optimized code in the background */
    uint32_t tier1_timeout_s;    /* wall-clock limit of one optimizing compile */
    uint64_t tier1_memory_bytes; /* address-space limit of the compiler process */
    /* Code sections this large are translated by two wasm2c at once on a machine with two
     * cores or more (translate.h); 0: never, 1: every module (tests) */
    uint64_t translate_split_min_bytes;
    /* Tier 0 from wasm2c's C instead of our own translator (the spec suite runs both). */
    bool tier0_via_wasm2c;
    /* The compiled artifacts on disk are kept under this size: past it, the least recently
     * used are removed after each tier-1 build. 0: no limit. */
    uint64_t cache_max_bytes;
    /* Functions' outbound HTTP (http_out.h): the allow-list (NULL or "": none) and the cap on a
     * request's and a response's body. */
    const char *http_allow;
    size_t http_max_bytes;
};

/* Defaults: no cache dir, tier 1 on, 300 s, 2 GiB, split translation from 256 KiB. */
void engine_config_defaults(struct engine_config *config);
enum fl_err engine_init(const struct engine_config *config, char *detail, size_t detail_len);
/* Waits for a running background compile, then frees everything. */
void engine_deinit(void);

enum engine_abi {
    ENGINE_ABI_V1 = 1, /* exports __invoke: fl_imps input/response */
    ENGINE_ABI_V0 = 0, /* exports _start: stdin JSON in, stdout JSON out */
};

struct engine_module_info {
    enum engine_abi abi;
    uint32_t initial_pages; /* 0 if the module has no memory */
    uint32_t max_pages;
    uint32_t import_count;
    uint32_t export_count;
};

/*
 * Accepts or refuses a module with a precise reason in `detail`:
 * FL_ERR_NOT_WASM, FL_ERR_INVALID_WASM, FL_ERR_UNSUPPORTED (SIMD, threads,
 * ...), FL_ERR_UNKNOWN_IMPORT (names the import and both signatures),
 * FL_ERR_NO_ENTRY, FL_ERR_MEMORY_LIMIT (initial memory above
 * `max_memory_bytes`; 0 means no cap). `info` may be NULL.
 * With `full_validation`, wabt's validator also type-checks every function.
 */
enum fl_err engine_check(const uint8_t *wasm, size_t len, uint64_t max_memory_bytes,
                         bool full_validation, struct engine_module_info *info, char *detail,
                         size_t detail_len);

struct engine_module;

enum fl_err engine_module_load(const uint8_t *wasm, size_t len, struct engine_module **out,
                               char *detail, size_t detail_len);
struct engine_module *engine_module_ref(struct engine_module *module);
void engine_module_release(struct engine_module *module);

enum engine_tier { ENGINE_TIER0 = 0, ENGINE_TIER1 = 1 };
enum engine_tier engine_module_tier(struct engine_module *module);
/* Waits until tier 1 is in place or has failed; false on timeout or failure. */
bool engine_module_wait_tier1(struct engine_module *module, uint32_t timeout_ms);
/* Content hash (hex SHA3-256 of the .wasm bytes). */
const char *engine_module_hash(const struct engine_module *module);
const struct engine_module_info *engine_module_info(const struct engine_module *module);

/* A call that ends within this is fast (engine_module_fast_streak). */
#define ENGINE_FAST_CALL_NS 200000u
/*
 * How many of the module's calls in a row, up to the last one, were fast (counted up to 64):
 * an embedder may run the next call where a slow one would hold others up (the Worker runs
 * it without a hand-off to another thread).
 */
unsigned engine_module_fast_streak(const struct engine_module *module);

struct engine_limits {
    uint64_t memory_bytes;   /* linear memory cap (rounded down to pages) */
    uint32_t timeout_ms;     /* 0: none */
    size_t max_output_bytes; /* result / error message */
    size_t max_log_bytes;    /* console_log, stdout/stderr kept as logs */
    /* NULL, or a flag that outlives the calls it is given to (not one per call): set, the call
     * ends within a few ms as at its time limit (FL_ERR_TIMEOUT). */
    const atomic_bool *cancel;
    /* NULL or "": outbound HTTP as the Worker allows it; else only what this list allows too
     * (a function's own narrowing, http_out.h) */
    const char *http_allow;
    /* the function's configuration and secrets as WASI's environment (environ_get): entries
     * "KEY=VALUE" each ended by a NUL, `env_len` bytes in all (NULL: an empty environment) */
    const char *env;
    size_t env_len;
};
void engine_limits_defaults(struct engine_limits *limits);

struct engine_result {
    enum fl_err
        status;   /* FL_OK, FL_ERR_FUNCTION, _TRAP, _TIMEOUT, _BAD_OUTPUT, _MEMORY_LIMIT, ... */
    char *output; /* the result JSON (FL_OK) or the function's error text; NUL-terminated */
    size_t output_len;
    char *logs; /* console_log lines and stderr (ABI v1: stdout too) */
    size_t logs_len;
    int exit_code;        /* ABI v0 only */
    uint64_t duration_ns; /* from the instance's creation to its end */
    char detail[256];     /* one sentence for anything but FL_OK */
};

/* Runs one invocation with `input` (JSON text) in a fresh instance. */
enum fl_err engine_invoke(struct engine_module *module, const char *input, size_t input_len,
                          const struct engine_limits *limits, struct engine_result *result);
void engine_result_deinit(struct engine_result *result);

/* Compilations so far, process-wide (for metrics). */
struct engine_stats {
    unsigned long tier0_compiles, tier1_compiles, tier1_failures;
    unsigned long tier0_fallbacks; /* tier 0 through wasm2c: our translator refused the module */
    double tier0_seconds, tier1_seconds; /* time spent compiling */
};
void engine_stats(struct engine_stats *out);

/* Starts a thread fit to run guest code (large stack, large guard). */
int engine_thread_create(pthread_t *thread, void *(*fn)(void *), void *arg);

#endif
