/*
 * wasm_to_c — our own single-pass translator from a module to C, for tier 0
 * (engine-internal).
 *
 * Why: the first invocation of an unseen module waits for its tier-0 code,
 * and wasm2c 1.0.32 (one thread, a general-purpose writer) alone took longer
 * than the whole budget for a 1 MB module. This translator reads the code
 * section once and writes short C for libtcc: one statement per instruction,
 * operand-stack slots as typed C locals named by depth, control flow as
 * labels and gotos, everything longer than an operator in the prelude
 * (tier0_prelude.h). wasm2c stays the translator for tier 1 (gcc).
 *
 * The output defines the same `fl_glue_*` symbols as glue.c (rt_api.h), so
 * the host cannot tell the tiers apart; instances have their own layout
 * (each compiled code reports its instance size). Functions follow wasm2c's
 * C calling convention (instance pointer first, multi-value results in
 * `struct wasm_multi_*`), so funcref tables can be shared with wasm2c code.
 *
 * Data segments are not copied into the C: the code refers to the module's
 * bytes through the symbol `fl_module_bytes`, which the loader provides and
 * keeps alive as long as the code.
 *
 * Validation is not this translator's job (wabt's validator runs beside it:
 * engine.c); it is written to stay safe on any input — every index and the
 * stack depth are checked — and it refuses what it does not translate with
 * FL_ERR_UNSUPPORTED, in which case the engine uses wasm2c for tier 0 too.
 */
#ifndef FL_ENGINE_WASM_TO_C_H
#define FL_ENGINE_WASM_TO_C_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "engine/wasm_decode.h"

/* The symbol the generated code reads data segments from. */
#define WASM_TO_C_BYTES_SYMBOL "fl_module_bytes"

/* Appends the C for `wasm` (already decoded into `desc`) to `out`. */
enum fl_err wasm_to_c(const uint8_t *wasm, size_t len, const struct wasm_desc *desc,
                      struct fl_buf *out, char *detail, size_t detail_len);

#endif
