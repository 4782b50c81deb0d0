#include "common/util.h"
#include "engine/c_gate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Every identifier our generators write outside preprocessor lines that is
 * not a generated name (see c_gate_generated_name). A new wasm2c or a change
 * to a generator that needs another name fails the spec suite until the name
 * is added here, after asking whether it could do harm.
 */
static const char *const c_gate_vocabulary[] = {
    /* C keywords and standard types */
    "bool", "case", "char", "const", "default", "double", "else", "extern", "false", "float", "for",
    "goto", "if", "inline", "int", "int16_t", "int32_t", "int64_t", "int8_t", "long", "offsetof",
    "return", "size_t", "sizeof", "static", "struct", "switch", "true", "typedef", "uint16_t",
    "uint32_t", "uint64_t", "uint8_t", "unsigned", "void", "va_arg", "va_end", "va_list",
    "va_start", "NULL", "INFINITY",
    /* libc and libm */
    "abort", "assert", "ceil", "ceilf", "copysign", "copysignf", "fabs", "fabsf", "floor", "floorf",
    "isnan", "memcpy", "memmove", "memset", "nan", "nearbyint", "nearbyintf", "sqrt", "sqrtf",
    "trunc", "truncf", "__builtin_clz", "__builtin_clzll", "__builtin_ctz", "__builtin_ctzll",
    "__builtin_popcount", "__builtin_popcountll", "_BitScanForward", "_BitScanForward64",
    "_BitScanReverse", "_BitScanReverse64",
    /* wasm-rt.h */
    "WASM_RT_EXTERNREF", "WASM_RT_F32", "WASM_RT_F64", "WASM_RT_FUNCREF", "WASM_RT_I32",
    "WASM_RT_I64", "wasm_rt_allocate_externref_table", "wasm_rt_allocate_funcref_table",
    "wasm_rt_allocate_memory", "wasm_rt_externref_null_value", "wasm_rt_externref_t",
    "wasm_rt_externref_table_t", "wasm_rt_free", "wasm_rt_free_externref_table",
    "wasm_rt_free_funcref_table", "wasm_rt_free_memory", "wasm_rt_funcref_null_value",
    "wasm_rt_funcref_t", "wasm_rt_funcref_table_t", "wasm_rt_function_ptr_t",
    "wasm_rt_grow_externref_table", "wasm_rt_grow_funcref_table", "wasm_rt_grow_memory",
    "wasm_rt_init", "wasm_rt_is_initialized", "wasm_rt_memory_t", "wasm_rt_register_func_type",
    "wasm_rt_trap", "wasm_rt_trap_t",
    /* wasm2c 1.0.32's template */
    "CALL_INDIRECT", "DEFINE_LOAD", "DEFINE_REINTERPRET", "DEFINE_STORE", "DEFINE_TABLE_COPY",
    "DEFINE_TABLE_FILL", "DEFINE_TABLE_GET", "DEFINE_TABLE_SET", "DIV_U", "FMAX", "FMIN",
    "FUNC_EPILOGUE", "FUNC_PROLOGUE", "I32_CLZ", "I32_CTZ", "I32_DIV_S", "I32_POPCNT", "I32_REM_S",
    "I32_ROTL", "I32_ROTR", "I32_TRUNC_SAT_S_F32", "I32_TRUNC_SAT_S_F64", "I32_TRUNC_SAT_U_F32",
    "I32_TRUNC_SAT_U_F64", "I32_TRUNC_S_F32", "I32_TRUNC_S_F64", "I32_TRUNC_U_F32",
    "I32_TRUNC_U_F64", "I64_CLZ", "I64_CTZ", "I64_DIV_S", "I64_POPCNT", "I64_REM_S", "I64_ROTL",
    "I64_ROTR", "I64_TRUNC_SAT_S_F32", "I64_TRUNC_SAT_S_F64", "I64_TRUNC_SAT_U_F32",
    "I64_TRUNC_SAT_U_F64", "I64_TRUNC_S_F32", "I64_TRUNC_S_F64", "I64_TRUNC_U_F32",
    "I64_TRUNC_U_F64", "LOAD_DATA", "POPCOUNT_DEFINE_PORTABLE", "RANGE_CHECK", "REM_U", "TRAP",
    "UNLIKELY", "UNREACHABLE", "OOB", "INT_OVERFLOW", "INVALID_CONVERSION", "cursor", "data",
    "dest", "dest_addr", "dest_chars", "dummy_member", "externref", "externref_table_fill",
    "externref_table_get", "externref_table_init", "externref_table_set", "f32_load",
    "f32_reinterpret_i32", "f32_store", "f64_load", "f64_reinterpret_i64", "f64_store", "func",
    "func_type", "func_type_index", "func_types", "funcref", "funcref_table_copy",
    "funcref_table_get", "funcref_table_init", "funcref_table_set", "i32_load", "i32_load16_s",
    "i32_load16_u", "i32_load8_s", "i32_load8_u", "i32_reinterpret_f32", "i32_store", "i32_store16",
    "i32_store8", "i64_load", "i64_load16_s", "i64_load16_u", "i64_load32_s", "i64_load32_u",
    "i64_load8_s", "i64_load8_u", "i64_reinterpret_f64", "i64_store", "i64_store16", "i64_store32",
    "i64_store8", "init_data_instances", "init_elem_instances", "init_func_types", "init_globals",
    "init_instance_import", "init_memories", "init_tables", "instance", "load_data", "memory_copy",
    "memory_fill", "memory_init", "module_instance", "module_offset", "quiet_nan", "quiet_nanf",
    "s_module_initialized", "src", "src_addr", "src_expr", "src_size", "wasm_ceil", "wasm_ceilf",
    "wasm_elem_segment_expr_t", "wasm_fabs", "wasm_fabsf", "wasm_floor", "wasm_floorf",
    "wasm_nearbyint", "wasm_nearbyintf", "wasm_quiet", "wasm_quietf", "wasm_sqrt", "wasm_sqrtf",
    "wasm_trunc", "wasm_truncf",
    /* our glue (glue.c, rt_api.h) and the tier-0 prelude (tier0_prelude.h, wasm_to_c.c) */
    "A", "DIVISION", "I", "M", "NAN_QUIET_UNARY", "T", "TABLE_OPS", "_", "a",
    "allocate_externref_table", "allocate_funcref_table", "allocate_memory", "ap", "api", "args",
    "b", "bits32", "bits64", "c", "call", "ci", "clz32", "clz64", "code", "ctx", "ctz32", "ctz64",
    "cv", "d", "dd", "delta", "divs32", "divu32", "divu64", "e_", "ed", "f", "fabs32", "fabs64",
    "fceil32", "fceil64", "fcopysign32", "fcopysign64", "ffloor32", "ffloor64", "fl_api",
    "fl_bits_f32", "fl_bits_f64", "fl_f32", "fl_f64", "fl_glue_bind", "fl_glue_export",
    "fl_glue_export_count", "fl_glue_exports", "fl_glue_free", "fl_glue_init_module",
    "fl_glue_instance_size", "fl_glue_instantiate", "fl_module_bytes", "fl_neg", "fl_negf",
    "fl_rt_api", "fmax32", "fmax64", "fmin32", "fmin64", "fnearest32", "fnearest64", "fneg32",
    "fneg64", "fnull", "fr", "free_externref_table", "free_funcref_table", "free_memory", "fref",
    "fromb32", "fromb64", "fsqrt32", "fsqrt64", "ftab", "ftrunc32", "ftrunc64", "get",
    "grow_externref_table", "grow_funcref_table", "grow_memory", "i", "import_call", "import_index",
    "import_ptr", "in_range", "initial", "inst", "k", "kind", "len", "m", "max", "mem", "mem_bytes",
    "mem_copy", "mem_fill", "mem_init", "mo", "n", "name", "name_len", "pages", "params", "popc32",
    "popc64", "quiet32", "quiet64", "r", "range_check", "register_func_type", "remu32", "results",
    "rotl32", "rotl64", "rotr32", "rotr64", "s", "seg", "sig", "size", "ss32f32", "ss32f64",
    "ss64f32", "ss64f64", "start", "su32f32", "su32f64", "su64f32", "su64f64", "t", "tinit",
    "tinit_x", "tmp", "trap", "trunc_check", "ts32f32", "ts32f64", "ts64f32", "ts64f64", "tu32f32",
    "tu32f64", "tu64f32", "tu64f64", "ty", "type", "types", "u32f32", "u32f64", "u64f32", "u64f64",
    "v", "val", "x", "xref", "xtab", "y", "r_", "tcopy_r", "tcopy_x", "tfill_r", "tfill_x",
    "tget_r", "tget_x", "tset_r", "tset_x", "divs64", "rems32", "rems64", "remu64", "uintptr_t"};

enum { C_GATE_VOCABULARY_SIZE = ARRAY_SIZE(c_gate_vocabulary) };

/* The vocabulary as an open-addressing hash set (a name is looked up per identifier of
 * megabytes of C: this is the gate's hot path). */
enum { C_GATE_SLOTS = 2048 };

struct c_gate {
    const char *slots[C_GATE_SLOTS];
    char **directives; /* sorted once learning is done */
    size_t directive_count, directive_cap;
    bool sorted;
};

static int c_gate_compare(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static uint32_t c_gate_hash(const char *p, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

struct c_gate *c_gate_new(void)
{
    struct c_gate *gate = calloc(1, sizeof(*gate));
    if (!gate)
        return NULL;
    for (size_t i = 0; i < C_GATE_VOCABULARY_SIZE; i++) {
        const char *word = c_gate_vocabulary[i];
        uint32_t slot = c_gate_hash(word, strlen(word)) % C_GATE_SLOTS;
        while (gate->slots[slot])
            slot = (slot + 1) % C_GATE_SLOTS;
        gate->slots[slot] = word;
    }
    return gate;
}

void c_gate_free(struct c_gate *gate)
{
    if (!gate)
        return;
    for (size_t i = 0; i < gate->directive_count; i++)
        free(gate->directives[i]);
    free(gate->directives);
    free(gate);
}

/* ---- scanning ---- */

/* The end of the preprocessor line starting at `p`: its newline (not one after a backslash),
 * or `end`. */
static const char *c_gate_directive_end(const char *p, const char *end)
{
    for (; p < end; p++)
        if (*p == '\n' && !(p[-1] == '\\'))
            return p;
    return end;
}

static bool c_gate_add_directive(struct c_gate *gate, const char *line, size_t len)
{
    if (gate->directive_count == gate->directive_cap) {
        size_t cap = gate->directive_cap ? gate->directive_cap * 2 : 128;
        char **grown = realloc(gate->directives, cap * sizeof(char *));
        if (!grown)
            return false;
        gate->directives = grown;
        gate->directive_cap = cap;
    }
    char *copy = strndup(line, len);
    if (!copy)
        return false;
    gate->directives[gate->directive_count++] = copy;
    gate->sorted = false;
    return true;
}

bool c_gate_learn(struct c_gate *gate, const char *text, size_t len)
{
    const char *end = text + len;
    bool line_start = true;
    for (const char *p = text; p < end; p++) {
        if (*p == '#' && line_start) {
            const char *eol = c_gate_directive_end(p, end);
            if (!c_gate_add_directive(gate, p, (size_t)(eol - p)))
                return false;
            p = eol - 1;
            continue;
        }
        if (*p == '\n')
            line_start = true;
        else if (*p != ' ' && *p != '\t')
            line_start = false;
    }
    qsort(gate->directives, gate->directive_count, sizeof(char *), c_gate_compare);
    gate->sorted = true;
    return true;
}

/* ---- checking ---- */

struct c_gate_scan {
    const struct c_gate *gate;
    const char *text, *p, *end;
    const char *what;
    char *detail;
    size_t detail_len;
};

static enum fl_err c_gate_refuse(const struct c_gate_scan *s, const char *at, const char *why)
{
    unsigned line = 1;
    for (const char *q = s->text; q < at; q++)
        line += *q == '\n';
    return fl_fail(FL_ERR_COMPILE, s->detail, s->detail_len,
                   "generated C refused before compiling (%s line %u: %s)", s->what, line, why);
}

static bool c_gate_is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool c_gate_is_ident(char c)
{
    return c_gate_is_ident_start(c) || (c >= '0' && c <= '9');
}

static bool c_gate_all(const char *p, const char *end, const char *set)
{
    for (; p < end; p++)
        if (!strchr(set, *p))
            return false;
    return true;
}

static bool c_gate_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool c_gate_is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool c_gate_all_digits(const char *p, const char *end)
{
    for (; p < end; p++)
        if (!c_gate_is_digit(*p))
            return false;
    return true;
}

static bool c_gate_has_prefix(const char *p, size_t len, const char *prefix, size_t *rest)
{
    size_t n = strlen(prefix);
    if (len <= n || memcmp(p, prefix, n) != 0)
        return false;
    *rest = n;
    return true;
}

/* Names the generators make up: wasm2c's (w2c_*, Z_*, wasm_multi_*, segment arrays), the
 * tier-0 translator's (a letter or two and a number: l3, s12, to1) and the glue's (fl_call7). */
static bool c_gate_generated_name(const char *p, size_t len)
{
    static const char *const open_prefixes[] = {"w2c_",
                                                "Z_",
                                                "data_segment_data_w2c_",
                                                "data_segment_dropped_w2c_",
                                                "elem_segment_dropped_w2c_",
                                                "elem_segment_exprs_w2c_"};
    static const char *const numbered_prefixes[] = {"fl_call", "fl_get"};
    const char *end = p + len;
    size_t letters = 0, rest;
    while (letters < len && letters < 2 && c_gate_is_letter(p[letters]))
        letters++;
    if (letters >= 1 && letters < len && c_gate_all_digits(p + letters, end))
        return true; /* the translator's l3, s12, to1: by far the most common */
    if (p[0] != 'w' && p[0] != 'Z' && p[0] != 'd' && p[0] != 'e' && p[0] != 'f')
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(open_prefixes); i++)
        if (c_gate_has_prefix(p, len, open_prefixes[i], &rest))
            return true;
    if (c_gate_has_prefix(p, len, "wasm_multi_", &rest))
        return c_gate_all(p + rest, end, "ijfdre");
    for (size_t i = 0; i < ARRAY_SIZE(numbered_prefixes); i++)
        if (c_gate_has_prefix(p, len, numbered_prefixes[i], &rest))
            return c_gate_all_digits(p + rest, end);
    return false;
}

static bool c_gate_known_word(const struct c_gate *gate, const char *p, size_t len)
{
    for (uint32_t slot = c_gate_hash(p, len) % C_GATE_SLOTS; gate->slots[slot];
         slot = (slot + 1) % C_GATE_SLOTS)
        if (strncmp(gate->slots[slot], p, len) == 0 && gate->slots[slot][len] == '\0')
            return true;
    return false;
}

static bool c_gate_learned(const struct c_gate *gate, const char *line, size_t len)
{
    size_t lo = 0, hi = gate->directive_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *known = gate->directives[mid];
        int cmp = strncmp(line, known, len);
        if (cmp == 0)
            cmp = known[len] == '\0' ? 0 : -1;
        if (cmp == 0)
            return true;
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return false;
}

/* wasm2c guards each multi-value result struct it declares: `#ifndef wasm_multi_X`,
 * `#define wasm_multi_X wasm_multi_X`, and `#endif` with the name in a comment. */
static bool c_gate_multi_value_guard(const char *line, size_t len)
{
    char name[64], again[64], tail[8];
    if (len >= sizeof(name))
        return false;
    char copy[64];
    memcpy(copy, line, len);
    copy[len] = '\0';
    int used = 0;
    if ((sscanf(copy, "#ifndef %63[a-z_]%n", name, &used) == 1 && (size_t)used == len) ||
        (sscanf(copy, "#define %63[a-z_] %63[a-z_]%n", name, again, &used) == 2 &&
         (size_t)used == len && strcmp(name, again) == 0) ||
        (sscanf(copy, "#endif  /* %63[a-z_] %7[*/]%n", name, tail, &used) == 2 &&
         (size_t)used == len && strcmp(tail, "*/") == 0)) {
        size_t rest;
        return c_gate_has_prefix(name, strlen(name), "wasm_multi_", &rest) &&
               c_gate_all(name + rest, name + strlen(name), "ijfdre");
    }
    return false;
}

static enum fl_err c_gate_directive(struct c_gate_scan *s)
{
    const char *eol = c_gate_directive_end(s->p, s->end);
    size_t len = (size_t)(eol - s->p);
    if (!c_gate_learned(s->gate, s->p, len) && !c_gate_multi_value_guard(s->p, len))
        return c_gate_refuse(s, s->p, "a preprocessor line the generators never write");
    s->p = eol;
    return FL_OK;
}

/* A string or character literal ending on its line. */
static enum fl_err c_gate_literal(struct c_gate_scan *s)
{
    const char *start = s->p;
    char quote = *s->p++;
    while (s->p < s->end && *s->p != quote) {
        if (*s->p == '\n' || (*s->p == '\\' && (s->p + 1 >= s->end || s->p[1] == '\n')))
            return c_gate_refuse(s, start, "an unterminated literal");
        s->p += *s->p == '\\' ? 2 : 1;
    }
    if (s->p >= s->end)
        return c_gate_refuse(s, start, "an unterminated literal");
    s->p++;
    return FL_OK;
}

static enum fl_err c_gate_comment(struct c_gate_scan *s)
{
    const char *start = s->p;
    if (s->p[1] == '/') {
        const char *eol = memchr(s->p, '\n', (size_t)(s->end - s->p));
        s->p = eol ? eol : s->end;
        if (s->p[-1] == '\\') /* a line comment would swallow the next line */
            return c_gate_refuse(s, start, "a comment continued on the next line");
        return FL_OK;
    }
    const char *close = NULL;
    for (const char *q = s->p + 2; q + 1 < s->end; q++)
        if (q[0] == '*' && q[1] == '/') {
            close = q;
            break;
        }
    if (!close)
        return c_gate_refuse(s, start, "an unterminated comment");
    s->p = close + 2;
    return FL_OK;
}

static enum fl_err c_gate_identifier(struct c_gate_scan *s)
{
    const char *start = s->p;
    while (s->p < s->end && c_gate_is_ident(*s->p))
        s->p++;
    size_t len = (size_t)(s->p - start);
    if (c_gate_generated_name(start, len) || c_gate_known_word(s->gate, start, len))
        return FL_OK;
    char why[96];
    snprintf(why, sizeof(why), "the name '%.*s' is not one the generators use",
             (int)(len < 40 ? len : 40), start);
    return c_gate_refuse(s, start, why);
}

/* A preprocessing number: a digit (or a dot and a digit), then digits, letters, '_', '.', and
 * signs after an exponent letter. Its letters are not names. */
static void c_gate_number(struct c_gate_scan *s)
{
    s->p++;
    while (s->p < s->end) {
        char c = *s->p;
        char before = s->p[-1];
        if ((c == '+' || c == '-') &&
            (before == 'e' || before == 'E' || before == 'p' || before == 'P'))
            s->p++;
        else if (c_gate_is_ident(c) || c == '.')
            s->p++;
        else
            break;
    }
}

/* Any byte but printable ASCII, tab and newline; and "??", which a compiler with trigraphs on
 * reads as another character (one that continues a comment's line, say). */
static enum fl_err c_gate_bytes(const struct c_gate_scan *s)
{
    for (const char *p = s->text; p < s->end; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\n' && c != '\t') || c > 0x7e)
            return c_gate_refuse(s, p, "a byte that is not printable ASCII");
        if (c == '?' && p + 1 < s->end && p[1] == '?')
            return c_gate_refuse(s, p, "a trigraph");
    }
    return FL_OK;
}

enum fl_err c_gate_check(const struct c_gate *gate, const char *what, const char *text, size_t len,
                         char *detail, size_t detail_len)
{
    struct c_gate_scan s = {gate, text, text, text + len, what, detail, detail_len};
    bool line_start = true;
    enum fl_err err = c_gate_bytes(&s);
    while (err == FL_OK && s.p < s.end) {
        char c = *s.p;
        if (c == '\n' || c == ' ' || c == '\t') {
            line_start = c == '\n' || line_start;
            s.p++;
            continue;
        }
        bool was_line_start = line_start;
        line_start = false;
        if (c == '#' && was_line_start)
            err = c_gate_directive(&s);
        else if (c == '"' || c == '\'')
            err = c_gate_literal(&s);
        else if (c == '/' && s.p + 1 < s.end && (s.p[1] == '/' || s.p[1] == '*'))
            err = c_gate_comment(&s);
        else if (c_gate_is_ident_start(c))
            err = c_gate_identifier(&s);
        else if ((c >= '0' && c <= '9') ||
                 (c == '.' && s.p + 1 < s.end && s.p[1] >= '0' && s.p[1] <= '9'))
            c_gate_number(&s);
        else if (c == '#' || c == '\\' || c == '$' || c == '@' || c == '`' ||
                 (c == '%' && s.p + 1 < s.end && s.p[1] == ':'))
            err = c_gate_refuse(&s, s.p,
                                "a character (or digraph) the generators never write "
                                "outside literals and comments");
        else
            s.p++;
    }
    return err;
}
