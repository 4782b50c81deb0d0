#!/usr/bin/env python3
"""Writes a C function whose wasm32 build is about 1 MB.

usage: gen_big.py OUT.c FUNCTIONS LOOPS_PER_FUNCTION
Many distinct functions (arithmetic, loops, branches), all reachable from
__invoke through a table, so that the compiler drops none of them."""
import sys

out_path, n, loops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = open(out_path, "w")
out.write('#include "fl.h"\n#include <stdint.h>\n\n')
for i in range(n):
    out.write(f"__attribute__((noinline)) static uint32_t f{i}(uint32_t x, uint32_t y)\n{{\n")
    out.write(f"    uint32_t acc = x ^ {i * 2654435761 % 2**32}u;\n")
    for r in range(loops):
        j = i + r
        out.write(f"""    for (uint32_t k = 0; k < (y & 7); k++) {{
        acc = (acc << {j % 13 + 1}) | (acc >> {31 - j % 13});
        acc += k * {j % 97 + 3}u;
        if (acc & {1 << (j % 16)}u)
            acc ^= y * {j % 251 + 1}u;
        else
            acc -= x / {j % 7 + 1}u;
    }}
""")
    out.write(f"""    switch (acc % 5) {{
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
