/*
 * rt_api — the one door between generated code and the host (engine-internal).
 *
 * wasm2c output calls `wasm_rt_*` functions and one C function per import.
 * The glue file we generate next to it (glue.c) defines all of those as thin
 * wrappers that call through a `struct fl_rt_api` table which the host hands
 * over right after loading the code (`fl_glue_bind`). So the compiled code,
 * tier 0 (libtcc, in memory) and tier 1 (a gcc `.so`) alike, needs no symbol
 * from the host executable and the same glue serves both tiers.
 *
 * The struct is declared once, here, as a macro: the generator pastes the
 * same text into every glue file, so host and generated code cannot drift.
 */
#ifndef FL_ENGINE_RT_API_H
#define FL_ENGINE_RT_API_H

#include <stdint.h>

#include <wasm-rt.h>

/* Bump when the glue, this table or what reaches a compiler changes: it is part of the code
 * cache key, so that nothing compiled by an older version is ever loaded (6: names anonymized
 * before wasm2c, after export names that carried C source; see docs/security.md). */
#define FL_GLUE_VERSION "funless-glue-6"

#define FL_RT_API_FIELDS                                                                           \
    void (*trap)(int code);                                                                        \
    uint32_t (*register_func_type)(uint32_t params, uint32_t results, const int *types);           \
    void (*allocate_memory)(wasm_rt_memory_t * mem, uint32_t initial, uint32_t max);               \
    uint32_t (*grow_memory)(wasm_rt_memory_t * mem, uint32_t delta);                               \
    void (*free_memory)(wasm_rt_memory_t * mem);                                                   \
    void (*allocate_funcref_table)(wasm_rt_funcref_table_t * t, uint32_t n, uint32_t max);         \
    void (*free_funcref_table)(wasm_rt_funcref_table_t * t);                                       \
    uint32_t (*grow_funcref_table)(wasm_rt_funcref_table_t * t, uint32_t d, wasm_rt_funcref_t v);  \
    void (*allocate_externref_table)(wasm_rt_externref_table_t * t, uint32_t n, uint32_t max);     \
    void (*free_externref_table)(wasm_rt_externref_table_t * t);                                   \
    uint32_t (*grow_externref_table)(wasm_rt_externref_table_t * t, uint32_t d, void *v);          \
    void (*import_call)(void *ctx, uint32_t import_index, uint64_t *args, uint64_t *results);      \
    void *(*import_ptr)(void *ctx, uint32_t import_index);

struct fl_rt_api {
    FL_RT_API_FIELDS
};

#define FL_RT_STRINGIFY_(x) #x
#define FL_RT_STRINGIFY(x) FL_RT_STRINGIFY_(x)
#define FL_RT_API_DECL "struct fl_rt_api {" FL_RT_STRINGIFY(FL_RT_API_FIELDS) "};\n"

/* What the glue file exports for one export of the module. */
enum fl_glue_kind { FL_GLUE_FUNC = 0, FL_GLUE_TABLE = 1, FL_GLUE_MEMORY = 2, FL_GLUE_GLOBAL = 3 };

#define FL_GLUE_EXPORT_FIELDS                                                                      \
    const char *name;                                                                              \
    uint32_t name_len;                                                                             \
    int kind;                                                                                      \
    const char *sig;                                                                               \
    void (*call)(void *instance, const uint64_t *args, uint64_t *results);                         \
    void *(*get)(void *instance);

struct fl_glue_export {
    FL_GLUE_EXPORT_FIELDS
};

#define FL_GLUE_EXPORT_DECL "struct fl_glue_export {" FL_RT_STRINGIFY(FL_GLUE_EXPORT_FIELDS) "};\n"

/* The symbols every glue file defines, looked up by name after loading. */
struct fl_glue {
    void (*bind)(const struct fl_rt_api *api);
    void (*init_module)(void);
    void (*instantiate)(void *instance, void *ctx);
    void (*free)(void *instance);
    const uint32_t *instance_size;
    const struct fl_glue_export *exports;
    const uint32_t *export_count;
};

#endif
