/*
 * glue — generates the C glue compiled with wasm2c's output (engine-internal).
 * See rt_api.h for what the glue is and why it exists.
 */
#ifndef FL_ENGINE_GLUE_H
#define FL_ENGINE_GLUE_H

#include <stdbool.h>

#include "common/buf.h"
#include "engine/wasm_decode.h"

/* Appends the glue source for `desc` (translated with `wasm2c -n m`) to `out`. */
bool glue_generate(const struct wasm_desc *desc, struct fl_buf *out);

/* Appends `s` (`len` bytes, NULs included) as a C string literal. */
bool glue_c_string(struct fl_buf *out, const char *s, size_t len);

#endif
