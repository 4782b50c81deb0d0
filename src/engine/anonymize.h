/*
 * anonymize — the module wasm2c sees carries no byte of the user's names
 * (engine-internal).
 *
 * wabt 1.0.32's wasm2c copies import and export names raw into C comments
 * and the `name` section into identifiers: a name holding "*\/" and C source
 * would be compiled and loaded by tier 1. So before wasm2c sees a module it
 * is rewritten: every import becomes `i.f<index>`, every export `e<index>`,
 * and every custom section (`name`, `producers`, ... and any other) is
 * dropped. All other sections are copied byte for byte, so the code wasm2c
 * translates is the user's. The glue (glue.h) names imports and exports by
 * these indices, and keeps the real names only as escaped C string data.
 */
#ifndef FL_ENGINE_ANONYMIZE_H
#define FL_ENGINE_ANONYMIZE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "engine/wasm_decode.h"

/* The module name every import gets (wasm2c names its instance struct Z_<it>_instance_t). */
#define ANONYMIZE_IMPORT_MODULE "i"

/* Appends to `out` the module `wasm` (decoded as `desc`) with generated names and no custom
 * section. FL_ERR_INVALID_WASM if its sections do not read as `desc` says (fail closed). */
enum fl_err anonymize_module(const uint8_t *wasm, size_t len, const struct wasm_desc *desc,
                             struct fl_buf *out, char *detail, size_t detail_len);

#endif
