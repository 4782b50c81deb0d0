/*
 * tier0_prelude - the helpers every tier-0 C file starts with (see wasm_to_c.h).
 *
 * Not compiled by meson: the build embeds this file as a string, and the
 * translator writes it after `struct fl_rt_api` and `struct fl_glue_export`
 * (rt_api.h) into every module it translates; libtcc compiles it there.
 * Operations that are more than one C operator live here as functions, so
 * that the code written per instruction stays short (tcc's time is our
 * cold start). Traps unwind through the host (`A->trap`, never returns).
 */
#include <math.h>

typedef uint8_t u8;
typedef int8_t s8;
typedef uint16_t u16;
typedef int16_t s16;
typedef uint32_t u32;
typedef int32_t s32;
typedef uint64_t u64;
typedef int64_t s64;
typedef float f32;
typedef double f64;
typedef wasm_rt_funcref_t fref;
typedef void *xref;
typedef wasm_rt_funcref_table_t ftab;
typedef wasm_rt_externref_table_t xtab;

static const struct fl_rt_api *A;
void fl_glue_bind(const struct fl_rt_api *api)
{
    A = api;
}
void wasm_rt_trap(wasm_rt_trap_t code)
{
    A->trap((int)code);
    abort();
}
#define TRAP(x) wasm_rt_trap(WASM_RT_TRAP_##x)

static u32 clz32(u32 x)
{
    return x ? (u32)__builtin_clz(x) : 32;
}
static u64 clz64(u64 x)
{
    return x ? (u64)__builtin_clzll(x) : 64;
}
static u32 ctz32(u32 x)
{
    return x ? (u32)__builtin_ctz(x) : 32;
}
static u64 ctz64(u64 x)
{
    return x ? (u64)__builtin_ctzll(x) : 64;
}
static u32 popc32(u32 x)
{
    return (u32)__builtin_popcount(x);
}
static u64 popc64(u64 x)
{
    return (u64)__builtin_popcountll(x);
}
static u32 rotl32(u32 x, u32 n)
{
    n &= 31;
    return n ? (x << n) | (x >> (32 - n)) : x;
}
static u32 rotr32(u32 x, u32 n)
{
    n &= 31;
    return n ? (x >> n) | (x << (32 - n)) : x;
}
static u64 rotl64(u64 x, u64 n)
{
    n &= 63;
    return n ? (x << n) | (x >> (64 - n)) : x;
}
static u64 rotr64(u64 x, u64 n)
{
    n &= 63;
    return n ? (x >> n) | (x << (64 - n)) : x;
}
/* Division: by zero traps; the one signed quotient that overflows traps, its remainder is 0. */
#define DIVISION(bits)                                                                             \
    static u##bits divs##bits(u##bits a, u##bits b)                                                \
    {                                                                                              \
        if (b == 0)                                                                                \
            TRAP(DIV_BY_ZERO);                                                                     \
        if (a == (u##bits)1 << (bits - 1) && b == (u##bits) ~(u##bits)0)                           \
            TRAP(INT_OVERFLOW);                                                                    \
        return (u##bits)((s##bits)a / (s##bits)b);                                                 \
    }                                                                                              \
    static u##bits rems##bits(u##bits a, u##bits b)                                                \
    {                                                                                              \
        if (b == 0)                                                                                \
            TRAP(DIV_BY_ZERO);                                                                     \
        if (b == (u##bits) ~(u##bits)0)                                                            \
            return 0;                                                                              \
        return (u##bits)((s##bits)a % (s##bits)b);                                                 \
    }                                                                                              \
    static u##bits divu##bits(u##bits a, u##bits b)                                                \
    {                                                                                              \
        if (b == 0)                                                                                \
            TRAP(DIV_BY_ZERO);                                                                     \
        return a / b;                                                                              \
    }                                                                                              \
    static u##bits remu##bits(u##bits a, u##bits b)                                                \
    {                                                                                              \
        if (b == 0)                                                                                \
            TRAP(DIV_BY_ZERO);                                                                     \
        return a % b;                                                                              \
    }
DIVISION(32)
DIVISION(64)

/* Bits in and out of floats: never through an arithmetic conversion (NaN payloads). */
static u32 bits32(f32 x)
{
    u32 b;
    memcpy(&b, &x, 4);
    return b;
}
static u64 bits64(f64 x)
{
    u64 b;
    memcpy(&b, &x, 8);
    return b;
}
static f32 fromb32(u32 b)
{
    f32 x;
    memcpy(&x, &b, 4);
    return x;
}
static f64 fromb64(u64 b)
{
    f64 x;
    memcpy(&x, &b, 8);
    return x;
}
/* abs, neg and copysign touch only the sign bit (tcc's `-x` is a subtraction). */
static f32 fabs32(f32 x)
{
    return fromb32(bits32(x) & 0x7fffffffu);
}
static f64 fabs64(f64 x)
{
    return fromb64(bits64(x) & 0x7fffffffffffffffull);
}
static f32 fneg32(f32 x)
{
    return fromb32(bits32(x) ^ 0x80000000u);
}
static f64 fneg64(f64 x)
{
    return fromb64(bits64(x) ^ 0x8000000000000000ull);
}
static f32 fcopysign32(f32 x, f32 y)
{
    return fromb32((bits32(x) & 0x7fffffffu) | (bits32(y) & 0x80000000u));
}
static f64 fcopysign64(f64 x, f64 y)
{
    return fromb64((bits64(x) & 0x7fffffffffffffffull) | (bits64(y) & 0x8000000000000000ull));
}
static f32 quiet32(f32 x)
{
    return fromb32(bits32(x) | 0x7fc00000u);
}
static f64 quiet64(f64 x)
{
    return fromb64(bits64(x) | 0x7ff8000000000000ull);
}
static f32 fmin32(f32 x, f32 y)
{
    if (x != x || y != y)
        return quiet32(x != x ? x : y);
    if (x == 0 && y == 0)
        return (bits32(x) & 0x80000000u) ? x : y;
    return x < y ? x : y;
}
static f32 fmax32(f32 x, f32 y)
{
    if (x != x || y != y)
        return quiet32(x != x ? x : y);
    if (x == 0 && y == 0)
        return (bits32(x) & 0x80000000u) ? y : x;
    return x > y ? x : y;
}
static f64 fmin64(f64 x, f64 y)
{
    if (x != x || y != y)
        return quiet64(x != x ? x : y);
    if (x == 0 && y == 0)
        return (bits64(x) >> 63) ? x : y;
    return x < y ? x : y;
}
static f64 fmax64(f64 x, f64 y)
{
    if (x != x || y != y)
        return quiet64(x != x ? x : y);
    if (x == 0 && y == 0)
        return (bits64(x) >> 63) ? y : x;
    return x > y ? x : y;
}
/* Rounding and square root: a NaN comes back quiet, as WebAssembly requires of them. */
#define NAN_QUIET_UNARY(name, type, quiet, fn)                                                     \
    static type name(type x)                                                                       \
    {                                                                                              \
        return x != x ? quiet(x) : fn(x);                                                          \
    }
NAN_QUIET_UNARY(fceil32, f32, quiet32, ceilf)
NAN_QUIET_UNARY(ffloor32, f32, quiet32, floorf)
NAN_QUIET_UNARY(ftrunc32, f32, quiet32, truncf)
NAN_QUIET_UNARY(fnearest32, f32, quiet32, nearbyintf)
NAN_QUIET_UNARY(fsqrt32, f32, quiet32, sqrtf)
NAN_QUIET_UNARY(fceil64, f64, quiet64, ceil)
NAN_QUIET_UNARY(ffloor64, f64, quiet64, floor)
NAN_QUIET_UNARY(ftrunc64, f64, quiet64, trunc)
NAN_QUIET_UNARY(fnearest64, f64, quiet64, nearbyint)
NAN_QUIET_UNARY(fsqrt64, f64, quiet64, sqrt)
/* u64 to float, rounded once: halve (keeping the sticky bit) above 2^63. */
static f32 u64f32(u64 x)
{
    if (!(x >> 63))
        return (f32)(s64)x;
    return (f32)(s64)((x >> 1) | (x & 1)) * 2.0f;
}
static f64 u64f64(u64 x)
{
    if (!(x >> 63))
        return (f64)(s64)x;
    return (f64)(s64)((x >> 1) | (x & 1)) * 2.0;
}
static f32 u32f32(u32 x)
{
    return (f32)(s64)x;
}
static f64 u32f64(u32 x)
{
    return (f64)(s64)x;
}

/* Truncations: NaN is an invalid conversion, out of range an overflow (same bounds as wasm2c). */
static void trunc_check(int nan, int in_range)
{
    if (nan)
        TRAP(INVALID_CONVERSION);
    if (!in_range)
        TRAP(INT_OVERFLOW);
}
static u32 ts32f32(f32 x)
{
    trunc_check(x != x, x >= -2147483648.0f && x < 2147483648.0f);
    return (u32)(s32)x;
}
static u32 tu32f32(f32 x)
{
    trunc_check(x != x, x > -1.0f && x < 4294967296.0f);
    return (u32)(s64)x;
}
static u32 ts32f64(f64 x)
{
    trunc_check(x != x, x > -2147483649.0 && x < 2147483648.0);
    return (u32)(s32)x;
}
static u32 tu32f64(f64 x)
{
    trunc_check(x != x, x > -1.0 && x < 4294967296.0);
    return (u32)(s64)x;
}
static u64 ts64f32(f32 x)
{
    trunc_check(x != x, x >= -9223372036854775808.0f && x < 9223372036854775808.0f);
    return (u64)(s64)x;
}
static u64 tu64f32(f32 x)
{
    trunc_check(x != x, x > -1.0f && x < 18446744073709551616.0f);
    return x >= 9223372036854775808.0f ? (u64)(s64)(x - 9223372036854775808.0f) + (1ull << 63)
                                       : (u64)(s64)x;
}
static u64 ts64f64(f64 x)
{
    trunc_check(x != x, x >= -9223372036854775808.0 && x < 9223372036854775808.0);
    return (u64)(s64)x;
}
static u64 tu64f64(f64 x)
{
    trunc_check(x != x, x > -1.0 && x < 18446744073709551616.0);
    return x >= 9223372036854775808.0 ? (u64)(s64)(x - 9223372036854775808.0) + (1ull << 63)
                                      : (u64)(s64)x;
}
/* Saturating truncations: NaN is 0, out of range the nearest bound. */
static u32 ss32f32(f32 x)
{
    return x != x               ? 0
           : x < -2147483648.0f ? 0x80000000u
           : x >= 2147483648.0f ? 0x7fffffffu
                                : ts32f32(x);
}
static u32 su32f32(f32 x)
{
    return x != x || x <= -1.0f ? 0 : x >= 4294967296.0f ? 0xffffffffu : tu32f32(x);
}
static u32 ss32f64(f64 x)
{
    return x != x               ? 0
           : x <= -2147483649.0 ? 0x80000000u
           : x >= 2147483648.0  ? 0x7fffffffu
                                : ts32f64(x);
}
static u32 su32f64(f64 x)
{
    return x != x || x <= -1.0 ? 0 : x >= 4294967296.0 ? 0xffffffffu : tu32f64(x);
}
static u64 ss64f32(f32 x)
{
    return x != x                        ? 0
           : x < -9223372036854775808.0f ? 0x8000000000000000ull
           : x >= 9223372036854775808.0f ? 0x7fffffffffffffffull
                                         : ts64f32(x);
}
static u64 su64f32(f32 x)
{
    return x != x || x <= -1.0f ? 0 : x >= 18446744073709551616.0f ? ~0ull : tu64f32(x);
}
static u64 ss64f64(f64 x)
{
    return x != x                       ? 0
           : x < -9223372036854775808.0 ? 0x8000000000000000ull
           : x >= 9223372036854775808.0 ? 0x7fffffffffffffffull
                                        : ts64f64(x);
}
static u64 su64f64(f64 x)
{
    return x != x || x <= -1.0 ? 0 : x >= 18446744073709551616.0 ? ~0ull : tu64f64(x);
}

/* Bulk memory: every range is checked before anything is written. */
static void range_check(u64 start, u64 n, u64 size)
{
    if (start + n > size)
        TRAP(OOB);
}
static u64 mem_bytes(const wasm_rt_memory_t *m)
{
    return (u64)m->pages * 65536;
}
static void mem_fill(wasm_rt_memory_t *m, u32 d, u32 v, u32 n)
{
    range_check(d, n, mem_bytes(m));
    memset(m->data + d, (int)(v & 0xff), n);
}
static void mem_copy(wasm_rt_memory_t *m, u32 d, u32 s, u32 n)
{
    range_check(d, n, mem_bytes(m));
    range_check(s, n, mem_bytes(m));
    memmove(m->data + d, m->data + s, n);
}
/* memory.init and active data: `seg` is the segment's bytes, `len` 0 once dropped. */
static void mem_init(wasm_rt_memory_t *m, const u8 *seg, u32 len, u32 d, u32 s, u32 n)
{
    range_check(s, n, len);
    range_check(d, n, mem_bytes(m));
    memcpy(m->data + d, seg + s, n);
}

/* Tables: funcref (suffix r) and externref (suffix x) alike, every index checked. */
#define TABLE_OPS(suffix, table, elem)                                                             \
    static elem tget_##suffix(table *t, u32 i)                                                     \
    {                                                                                              \
        if (i >= t->size)                                                                          \
            TRAP(OOB);                                                                             \
        return t->data[i];                                                                         \
    }                                                                                              \
    static void tset_##suffix(table *t, u32 i, elem v)                                             \
    {                                                                                              \
        if (i >= t->size)                                                                          \
            TRAP(OOB);                                                                             \
        t->data[i] = v;                                                                            \
    }                                                                                              \
    static void tfill_##suffix(table *t, u32 d, elem v, u32 n)                                     \
    {                                                                                              \
        range_check(d, n, t->size);                                                                \
        for (u32 k = 0; k < n; k++)                                                                \
            t->data[d + k] = v;                                                                    \
    }                                                                                              \
    static void tcopy_##suffix(table *dt, table *st, u32 d, u32 s, u32 n)                          \
    {                                                                                              \
        range_check(d, n, dt->size);                                                               \
        range_check(s, n, st->size);                                                               \
        memmove(dt->data + d, st->data + s, (size_t)n * sizeof(elem));                             \
    }
TABLE_OPS(r, ftab, fref)
TABLE_OPS(x, xtab, xref)
/* The entry call_indirect calls, or a trap (wasm2c's single trap kind for all three reasons). */
static const fref *ci(ftab *t, u32 i, u32 type)
{
    if (i >= t->size || !t->data[i].func || t->data[i].func_type != type)
        TRAP(CALL_INDIRECT);
    return &t->data[i];
}
