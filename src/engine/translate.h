/*
 * translate — a module to C with wasm2c (engine-internal), on two cores when
 * the module is large: wabt 1.0.32's wasm2c runs on one thread, and on a
 * cold start its time is most of the wait for the first invocation.
 *
 * Split translation: two copies of the module, each with the bodies of the
 * other half of its functions replaced by `unreachable`, go through two
 * wasm2c processes at once; the C of the first copy is kept with the second
 * copy's function definitions put in place of its stubs. wasm2c writes
 * everything but the function bodies from the other sections, which both
 * copies share, and writes the definitions in function order — checked for
 * each module; any surprise falls back to one wasm2c on the whole module,
 * which also gives the error message when the module is invalid.
 */
#ifndef FL_ENGINE_TRANSLATE_H
#define FL_ENGINE_TRANSLATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "engine/wasm_decode.h"

/* Writes dir/m.c and dir/m.h for `wasm`; splits when its code section has at least
 * `split_min_bytes` (0: never). FL_ERR_INVALID_WASM with wasm2c's reason. */
/* Modules translated split, and splits abandoned for one wasm2c (since the process started). */
void translate_stats(unsigned long *split, unsigned long *abandoned);

enum fl_err translate_module(const char *dir, const uint8_t *wasm, size_t len,
                             const struct wasm_desc *desc, uint64_t split_min_bytes, char *detail,
                             size_t detail_len);

#endif
