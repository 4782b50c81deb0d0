/*
 * wasm_decode — a structural decoder for WebAssembly binaries (engine-internal).
 *
 * It reads every section far enough to know the module's types, imports,
 * exports and memory, and decodes each instruction of every function body so
 * that features we refuse (SIMD, threads, exceptions, tail calls, memory64)
 * are found before any translator or compiler sees the module: wabt 1.0.32's
 * wasm2c crashes on SIMD. Full type-checking is left to wabt's validator
 * (see accept.c). Never trusts a length: every read is bounds-checked.
 *
 * Ownership: wasm_decode fills a caller-owned struct wasm_desc whose arrays
 * it allocates; wasm_desc_deinit frees them (also after a failed decode).
 */
#ifndef FL_ENGINE_WASM_DECODE_H
#define FL_ENGINE_WASM_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

enum wasm_extern_kind {
    WASM_EXTERN_FUNC = 0,
    WASM_EXTERN_TABLE,
    WASM_EXTERN_MEMORY,
    WASM_EXTERN_GLOBAL
};

/* Value types as signature letters: i=i32 I=i64 f=f32 F=f64 r=funcref x=externref. */
struct wasm_import {
    char *module;
    char *name;
    enum wasm_extern_kind kind;
    uint32_t type_index; /* functions: index into wasm_desc.type_sigs */
    char global_type;    /* globals: value-type letter */
    bool global_mutable;
    char table_type;                 /* tables: 'r' funcref or 'x' externref */
    uint32_t limits_min, limits_max; /* tables and memories */
    bool limits_has_max;
    /* The import's kind byte and type, as a byte range of the module (anonymize.c copies it). */
    size_t type_offset, type_len;
};

struct wasm_export {
    char *name; /* NUL-terminated; may also contain NULs: see name_len */
    uint32_t name_len;
    enum wasm_extern_kind kind;
    uint32_t index;
};

struct wasm_desc {
    uint32_t type_count;
    char **type_sigs; /* "params:results", e.g. "ii:i" */
    uint32_t import_count;
    struct wasm_import *imports;
    uint32_t func_count; /* imported + defined */
    uint32_t *func_types;
    uint32_t global_count; /* imported + defined */
    char *global_types;
    bool *global_mutable;
    uint32_t table_count; /* imported + defined */
    char *table_types;    /* 'r' or 'x' per table */
    uint32_t export_count;
    struct wasm_export *exports;
    bool has_memory;
    bool memory_imported;
    uint32_t memory_min_pages, memory_max_pages;
    bool memory_has_max;
    bool has_start_section;
    /* The code section, as byte offsets into the module: the section from its id byte to its
     * end, and where each body (its size field first) starts; body_offsets[body_count] is the
     * section's end. (translate.c rebuilds modules from these.) */
    size_t code_section_start, code_section_end;
    uint32_t body_count;
    size_t *body_offsets;
};

enum fl_err wasm_decode(const uint8_t *bytes, size_t len, struct wasm_desc *desc, char *detail,
                        size_t detail_len);
void wasm_desc_deinit(struct wasm_desc *desc);

/* The export of that name and kind, or NULL. */
const struct wasm_export *wasm_desc_find_export(const struct wasm_desc *desc, const char *name,
                                                enum wasm_extern_kind kind);
/* Appends `value` as an unsigned LEB128 (for code that writes modules); false past out->max. */
bool wasm_put_leb(struct fl_buf *out, uint64_t value);

/* Signature string of function `func_index` (imported or defined), or NULL. */
const char *wasm_desc_func_sig(const struct wasm_desc *desc, uint32_t func_index);

#endif
