/*
 * Fuzz target: module acceptance (the decoder and every check before a tool
 * runs). Built with clang -fsanitize=fuzzer by `make fuzz`; its corpus is
 * replayed by the normal suite through replay_main.c.
 */
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char detail[256];
    struct engine_module_info info;
    engine_check(data, size, 64u << 20, false, &info, detail, sizeof(detail));
    return 0;
}
