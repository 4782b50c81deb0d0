/*
 * engine_internal — what the engine's own files and its test harnesses share
 * beyond the public engine.h: custom import resolution and direct calls of
 * exports (the WebAssembly spec-suite harness needs both).
 */
#ifndef FL_ENGINE_INTERNAL_H
#define FL_ENGINE_INTERNAL_H

#include "engine/engine.h"
#include "engine/rt.h"
#include "engine/rt_api.h"
#include "engine/wasm_decode.h"

/*
 * Resolves one import: a function import gets `*fn`, any other kind `*ptr`.
 * Returns FL_OK or FL_ERR_UNKNOWN_IMPORT with a sentence in `detail`.
 */
typedef enum fl_err (*engine_import_resolver)(void *user, const struct wasm_import *imp,
                                              const char *sig, rt_host_fn *fn, void **ptr,
                                              char *detail, size_t detail_len);

/* The host's resolver: fl_imps and wasi_snapshot_preview1 functions only. */
enum fl_err engine_resolve_host(void *user, const struct wasm_import *imp, const char *sig,
                                rt_host_fn *fn, void **ptr, char *detail, size_t detail_len);

/* Writes "(i32, i64) -> f32" for "iI:f". */
void engine_format_sig(const char *sig, char *out, size_t out_len);

/*
 * Decodes and checks `wasm` (see engine_check); on FL_OK `desc` holds the
 * decoded module and `abi` its ABI. With `require_entry` false (spec tests)
 * a module without __invoke/_start is accepted.
 */
enum fl_err accept_module(const uint8_t *wasm, size_t len, uint64_t max_memory_bytes,
                          bool full_validation, bool require_entry, engine_import_resolver resolver,
                          void *user, struct wasm_desc *desc, enum engine_abi *abi, char *detail,
                          size_t detail_len);

/* Runs wabt's validator on the bytes (a child process). */
enum fl_err accept_validate_full(const uint8_t *wasm, size_t len, char *detail, size_t detail_len);

/* Loads with a custom resolver and without requiring an entry point. */
enum fl_err engine_module_load_custom(const uint8_t *wasm, size_t len,
                                      engine_import_resolver resolver, void *user,
                                      struct engine_module **out, char *detail, size_t detail_len);

/* The glue of the module's best compiled tier (valid while the module lives). */
const struct fl_glue *engine_module_glue(struct engine_module *module);
const struct wasm_desc *engine_module_desc(const struct engine_module *module);
/* The import context for instances of this module (funcs/ptrs from its resolver). */
void engine_module_init_ctx(const struct engine_module *module, struct rt_ctx *ctx);
/* A call of the module took `duration_ns` (engine_module_fast_streak). */
void engine_module_note_call(struct engine_module *module, uint64_t duration_ns);

#endif
