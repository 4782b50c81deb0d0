/*
 * c_gate — the check generated C passes before any compiler sees it
 * (engine-internal).
 *
 * No byte of a user's module reaches generated C except as escaped data
 * (anonymize.h, wasm_to_c.h, glue.h). The gate is the second line, for a
 * future bug in a generator or in wasm2c: a C file compiles only if it holds
 * nothing but what our generators emit.
 *
 * - Preprocessor lines: only those of the generators' fixed text, learned at
 *   start-up from outputs for a module of ours (c_gate_learn), and wasm2c's
 *   per-module guards of its multi-value structs (`#ifndef wasm_multi_ij`,
 *   `#define wasm_multi_ij wasm_multi_ij`, and `#endif` naming it in a comment).
 * - Identifiers: a fixed vocabulary (C keywords, the libc and runtime names
 *   the generators use) and the generated-name patterns (`w2c_*`, `Z_*`,
 *   `l12`, `fl_call3`, ...). `asm`, `__attribute__`, `_Pragma`, `system` and
 *   every other name are refused, so is `#` or `\` outside a preprocessor
 *   line, and any byte but printable ASCII, tab and newline.
 * - Comments and string literals must end; their contents are data.
 *
 * Fails closed: a module whose C holds anything else is refused with
 * FL_ERR_COMPILE and a reason naming the first offending line.
 *
 * A gate is built once (learning is not thread-safe) and then only read: any
 * number of threads may check at once.
 */
#ifndef FL_ENGINE_C_GATE_H
#define FL_ENGINE_C_GATE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct c_gate;

struct c_gate *c_gate_new(void);
void c_gate_free(struct c_gate *gate);

/* Remembers every preprocessor line of `text`, trusted output of our generators for a module
 * of ours. False when out of memory. */
bool c_gate_learn(struct c_gate *gate, const char *text, size_t len);

/* FL_OK when `text` (the file `what`) holds only what the generators emit; else FL_ERR_COMPILE
 * with the reason and line in `detail`. */
enum fl_err c_gate_check(const struct c_gate *gate, const char *what, const char *text, size_t len,
                         char *detail, size_t detail_len);

#endif
