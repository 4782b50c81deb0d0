/*
 * Fuzz target: module acceptance (the decoder and every check before a tool
 * runs) and the tier-0 translator, which reads every module the decoder
 * accepts while wabt's validator is still running (so it sees invalid ones).
 * Built with clang -fsanitize=fuzzer by `make fuzz`; its corpus is replayed
 * by the normal suite through replay_main.c.
 */
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "engine/engine.h"
#include "engine/wasm_decode.h"
#include "engine/wasm_to_c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char detail[256];
    struct engine_module_info info;
    engine_check(data, size, 64u << 20, false, &info, detail, sizeof(detail));
    struct wasm_desc desc = {0};
    if (wasm_decode(data, size, &desc, detail, sizeof(detail)) == FL_OK) {
        struct fl_buf c_source;
        fl_buf_init(&c_source, (size_t)256 << 20);
        wasm_to_c(data, size, &desc, &c_source, detail, sizeof(detail));
        fl_buf_deinit(&c_source);
    }
    wasm_desc_deinit(&desc);
    return 0;
}
