#!/usr/bin/env python3
"""Writes a C function whose wasm32 build is about 1 MB: many distinct small functions
(arithmetic, loops, branches) reachable from __invoke, so nothing is dropped."""
import sys

n = int(sys.argv[2]) if len(sys.argv) > 2 else 1700
out = open(sys.argv[1], "w")
out.write('#include "fl.h"\n#include <stdint.h>\n\n')
for i in range(n):
    out.write(f"""__attribute__((noinline)) static uint32_t f{i}(uint32_t x, uint32_t y)
{{
    uint32_t acc = x ^ {i * 2654435761 % 2**32}u;
    for (uint32_t k = 0; k < (y & 7); k++) {{
        acc = (acc << {(i+0) % 13 + 1}) | (acc >> {31 - (i+0) % 13});
        acc += k * {(i+0) % 97 + 3}u;
        if (acc & {1 << ((i+0) % 16)}u)
            acc ^= y * {(i+0) % 251 + 1}u;
        else
            acc -= x / {(i+0) % 7 + 1}u;
    }}
    for (uint32_t k = 0; k < (y & 7); k++) {{
        acc = (acc << {(i+1) % 13 + 1}) | (acc >> {31 - (i+1) % 13});
        acc += k * {(i+1) % 97 + 3}u;
        if (acc & {1 << ((i+1) % 16)}u)
            acc ^= y * {(i+1) % 251 + 1}u;
        else
            acc -= x / {(i+1) % 7 + 1}u;
    }}
    for (uint32_t k = 0; k < (y & 7); k++) {{
        acc = (acc << {(i+2) % 13 + 1}) | (acc >> {31 - (i+2) % 13});
        acc += k * {(i+2) % 97 + 3}u;
        if (acc & {1 << ((i+2) % 16)}u)
            acc ^= y * {(i+2) % 251 + 1}u;
        else
            acc -= x / {(i+2) % 7 + 1}u;
    }}
    for (uint32_t k = 0; k < (y & 7); k++) {{
        acc = (acc << {(i+3) % 13 + 1}) | (acc >> {31 - (i+3) % 13});
        acc += k * {(i+3) % 97 + 3}u;
        if (acc & {1 << ((i+3) % 16)}u)
            acc ^= y * {(i+3) % 251 + 1}u;
        else
            acc -= x / {(i+3) % 7 + 1}u;
    }}

    switch (acc % 5) {{
    case 0: acc *= {i % 89 + 11}u; break;
    case 1: acc += {i % 71 + 5}u; break;
    case 2: acc ^= {i % 61 + 3}u; break;
    case 3: acc -= {i % 53 + 7}u; break;
    default: acc = ~acc; break;
    }}
    return acc;
}}
""")
out.write("typedef uint32_t (*fn)(uint32_t, uint32_t);\nstatic const fn table[] = {\n")
out.write(",\n".join(f"    f{i}" for i in range(n)))
out.write("\n};\n\n")
out.write("""FL_EXPORT("__invoke") int invoke(int len)
{
    uint32_t acc = (uint32_t)len;
    for (unsigned i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        acc = table[i](acc, i);
    char out[32] = "{\\"acc\\":0000000000}";
    for (int d = 16; d >= 7; d--) {
        out[d] = (char)('0' + acc % 10);
        acc /= 10;
    }
    fl_insert_response(out, 18);
    return 0;
}
""")
