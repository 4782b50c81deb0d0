#include "common/util.h"
#include "engine/wasm_decode.h"

#include <stdlib.h>
#include <string.h>

/* Upper bounds that keep a hostile module from making us allocate a lot. */
enum {
    MAX_TYPES = 100000,
    MAX_PARAMS = 1000,
    MAX_IMPORTS = 100000,
    MAX_FUNCS = 1000000,
    MAX_GLOBALS = 1000000,
    MAX_EXPORTS = 100000,
    MAX_NAME_BYTES = 100000,
    MAX_NESTING = 16000, /* blocks, loops and ifs inside one another in a function */
    WASM_MAX_PAGES = 65536,
};

struct reader {
    const uint8_t *base; /* the module's first byte, for offsets */
    const uint8_t *pos;
    const uint8_t *end;
    enum fl_err err;
    char *detail;
    size_t detail_len;
};

static bool rd_fail(struct reader *rd, enum fl_err err, const char *what)
{
    if (rd->err == FL_OK)
        rd->err = fl_fail(err, rd->detail, rd->detail_len, "%s", what);
    return false;
}

static bool rd_byte(struct reader *rd, uint8_t *out)
{
    if (rd->err != FL_OK)
        return false;
    if (rd->pos >= rd->end)
        return rd_fail(rd, FL_ERR_INVALID_WASM, "unexpected end of module");
    *out = *rd->pos++;
    return true;
}

/* Reads an unsigned or signed LEB128 of at most `bits` bits. */
static bool rd_leb(struct reader *rd, unsigned bits, bool is_signed, uint64_t *out)
{
    uint64_t value = 0;
    unsigned shift = 0;
    uint8_t byte;
    do {
        if (shift >= bits + 7 || !rd_byte(rd, &byte))
            return rd_fail(rd, FL_ERR_INVALID_WASM, "integer representation too long");
        value |= (uint64_t)(byte & 0x7f) << (shift < 64 ? shift : 63);
        shift += 7;
    } while (byte & 0x80);
    if (is_signed && shift < 64 && (byte & 0x40))
        value |= ~(uint64_t)0 << shift;
    *out = value;
    return true;
}

static bool rd_u32(struct reader *rd, uint32_t *out)
{
    uint64_t v;
    if (!rd_leb(rd, 32, false, &v))
        return false;
    if (v > UINT32_MAX)
        return rd_fail(rd, FL_ERR_INVALID_WASM, "integer too large");
    *out = (uint32_t)v;
    return true;
}

static bool rd_skip(struct reader *rd, size_t n)
{
    if (rd->err != FL_OK)
        return false;
    if ((size_t)(rd->end - rd->pos) < n)
        return rd_fail(rd, FL_ERR_INVALID_WASM, "unexpected end of module");
    rd->pos += n;
    return true;
}

static bool rd_count(struct reader *rd, uint32_t max, uint32_t *out)
{
    if (!rd_u32(rd, out))
        return false;
    /* Every element takes at least one byte: a larger count is a lie. */
    if (*out > max || *out > (size_t)(rd->end - rd->pos))
        return rd_fail(rd, FL_ERR_INVALID_WASM, "count exceeds module size");
    return true;
}

static bool rd_name_len(struct reader *rd, char **out, uint32_t *out_len)
{
    uint32_t len;
    if (!rd_count(rd, MAX_NAME_BYTES, &len))
        return false;
    char *name = malloc(len + 1);
    if (!name)
        return rd_fail(rd, FL_ERR_NOMEM, "out of memory");
    memcpy(name, rd->pos, len);
    name[len] = '\0';
    rd->pos += len;
    *out = name;
    if (out_len)
        *out_len = len;
    return true;
}

static bool rd_name(struct reader *rd, char **out)
{
    return rd_name_len(rd, out, NULL);
}

static bool valtype_letter(struct reader *rd, uint8_t code, char *out)
{
    switch (code) {
    case 0x7f:
        *out = 'i';
        return true;
    case 0x7e:
        *out = 'I';
        return true;
    case 0x7d:
        *out = 'f';
        return true;
    case 0x7c:
        *out = 'F';
        return true;
    case 0x70:
        *out = 'r';
        return true;
    case 0x6f:
        *out = 'x';
        return true;
    case 0x7b:
        return rd_fail(rd, FL_ERR_UNSUPPORTED, "SIMD (v128) is not supported");
    default:
        return rd_fail(rd, FL_ERR_INVALID_WASM, "invalid value type");
    }
}

static bool rd_valtype(struct reader *rd, char *out)
{
    uint8_t code;
    return rd_byte(rd, &code) && valtype_letter(rd, code, out);
}

static bool rd_limits(struct reader *rd, uint32_t *min, uint32_t *max, bool *has_max,
                      bool is_memory)
{
    uint8_t flags;
    if (!rd_byte(rd, &flags))
        return false;
    if (is_memory && (flags & 0x02))
        return rd_fail(rd, FL_ERR_UNSUPPORTED, "shared memory (threads) is not supported");
    if (is_memory && (flags & 0x04))
        return rd_fail(rd, FL_ERR_UNSUPPORTED, "memory64 is not supported");
    if (flags > 1)
        return rd_fail(rd, FL_ERR_INVALID_WASM, "invalid limits flags");
    *has_max = flags & 1;
    *max = UINT32_MAX;
    if (!rd_u32(rd, min) || (*has_max && !rd_u32(rd, max)))
        return false;
    if (is_memory && (*min > WASM_MAX_PAGES || (*has_max && *max > WASM_MAX_PAGES)))
        return rd_fail(rd, FL_ERR_INVALID_WASM, "memory size must be at most 65536 pages (4GiB)");
    if (*has_max && *max < *min)
        return rd_fail(rd, FL_ERR_INVALID_WASM, "size minimum must not be greater than maximum");
    return true;
}

static bool rd_reftype_letter(struct reader *rd, char *letter)
{
    uint8_t code;
    if (!rd_byte(rd, &code))
        return false;
    if (code != 0x70 && code != 0x6f)
        return rd_fail(rd, FL_ERR_INVALID_WASM, "invalid reference type");
    *letter = code == 0x70 ? 'r' : 'x';
    return true;
}

static bool rd_reftype(struct reader *rd)
{
    char letter;
    return rd_reftype_letter(rd, &letter);
}

/* ---- instructions: decoded only to find refused opcodes and to skip immediates ---- */

static bool rd_blocktype(struct reader *rd)
{
    if (rd->pos < rd->end &&
        (*rd->pos == 0x40 || *rd->pos == 0x7b || (*rd->pos >= 0x6f && *rd->pos <= 0x7f))) {
        uint8_t code = *rd->pos++;
        char letter;
        return code == 0x40 || valtype_letter(rd, code, &letter);
    }
    uint64_t type_index;
    return rd_leb(rd, 33, true, &type_index);
}

static bool rd_memarg(struct reader *rd)
{
    uint32_t align, offset;
    if (!rd_u32(rd, &align) || !rd_u32(rd, &offset))
        return false;
    if (align >= 64)
        return rd_fail(rd, FL_ERR_UNSUPPORTED, "multiple memories are not supported");
    return true;
}

static bool rd_u32s(struct reader *rd, int n)
{
    uint32_t ignored;
    for (int i = 0; i < n; i++)
        if (!rd_u32(rd, &ignored))
            return false;
    return true;
}

static bool rd_prefixed_fc(struct reader *rd)
{
    uint32_t sub;
    if (!rd_u32(rd, &sub))
        return false;
    if (sub <= 7)
        return true; /* saturating truncations */
    switch (sub) {
    case 8:
    case 10:
    case 12:
    case 14:
        return rd_u32s(rd, 2);
    case 9:
    case 11:
    case 13:
    case 15:
    case 16:
    case 17:
        return rd_u32s(rd, 1);
    default:
        return rd_fail(rd, FL_ERR_INVALID_WASM, "invalid 0xfc opcode");
    }
}

static bool rd_instruction(struct reader *rd, uint8_t op)
{
    uint64_t ignored;
    if (op == 0x02 || op == 0x03 || op == 0x04)
        return rd_blocktype(rd);
    if (op == 0x0c || op == 0x0d || op == 0x10 || (op >= 0x20 && op <= 0x26) || op == 0xd2)
        return rd_u32s(rd, 1);
    if (op == 0x11)
        return rd_u32s(rd, 2);
    if (op >= 0x28 && op <= 0x3e)
        return rd_memarg(rd);
    if (op == 0x3f || op == 0x40)
        return rd_skip(rd, 1);
    switch (op) {
    case 0x00:
    case 0x01:
    case 0x05:
    case 0x0b:
    case 0x0f:
    case 0x1a:
    case 0x1b:
    case 0xd1:
        return true;
    case 0x0e: {
        uint32_t n;
        if (!rd_count(rd, UINT32_MAX, &n))
            return false;
        for (uint32_t i = 0; i <= n; i++) /* n targets and the default */
            if (!rd_u32s(rd, 1))
                return false;
        return true;
    }
    case 0x1c: {
        uint32_t n;
        char letter;
        if (!rd_count(rd, MAX_PARAMS, &n))
            return false;
        for (uint32_t i = 0; i < n; i++)
            if (!rd_valtype(rd, &letter))
                return false;
        return true;
    }
    case 0x41:
        return rd_leb(rd, 32, true, &ignored);
    case 0x42:
        return rd_leb(rd, 64, true, &ignored);
    case 0x43:
        return rd_skip(rd, 4);
    case 0x44:
        return rd_skip(rd, 8);
    case 0xd0:
        return rd_reftype(rd);
    case 0xfc:
        return rd_prefixed_fc(rd);
    case 0xfd:
        return rd_fail(rd, FL_ERR_UNSUPPORTED, "SIMD instructions are not supported");
    case 0xfe:
        return rd_fail(rd, FL_ERR_UNSUPPORTED, "atomic instructions (threads) are not supported");
    case 0x06:
    case 0x07:
    case 0x08:
    case 0x09:
    case 0x18:
    case 0x19:
        return rd_fail(rd, FL_ERR_UNSUPPORTED, "exception handling is not supported");
    case 0x12:
    case 0x13:
        return rd_fail(rd, FL_ERR_UNSUPPORTED, "tail calls are not supported");
    }
    if (op >= 0x45 && op <= 0xc4)
        return true; /* numeric instructions have no immediates */
    return rd_fail(rd, FL_ERR_INVALID_WASM, "illegal opcode");
}

/* Decodes instructions up to the end of `rd` (a function body). Blocks nested deeper than
 * MAX_NESTING are refused: our tier-0 translator and wasm2c (which recurses, and crashed on
 * 20,000) could not compile such a module, which would be accepted and never run. */
static bool rd_expr(struct reader *rd)
{
    uint8_t op;
    uint32_t depth = 0; /* inside the function's own block */
    while (rd->pos < rd->end) {
        if (!rd_byte(rd, &op) || !rd_instruction(rd, op))
            return false;
        if (op == 0x02 || op == 0x03 || op == 0x04)
            depth++;
        else if (op == 0x0b && depth)
            depth--;
        if (depth > MAX_NESTING)
            return rd_fail(rd, FL_ERR_UNSUPPORTED,
                           "blocks nested deeper than 16000 are not supported");
    }
    return rd->err == FL_OK;
}

/* A constant expression inside a section: decode until its final `end`. */
static bool rd_const_expr(struct reader *rd)
{
    uint8_t op = 0;
    while (rd_byte(rd, &op) && op != 0x0b)
        if (!rd_instruction(rd, op))
            return false;
    return rd->err == FL_OK;
}

/* ---- sections ---- */

static bool rd_type_section(struct reader *rd, struct wasm_desc *desc)
{
    if (!rd_count(rd, MAX_TYPES, &desc->type_count))
        return false;
    desc->type_sigs = calloc(desc->type_count ? desc->type_count : 1, sizeof(char *));
    if (!desc->type_sigs)
        return rd_fail(rd, FL_ERR_NOMEM, "out of memory");
    for (uint32_t t = 0; t < desc->type_count; t++) {
        uint8_t form;
        uint32_t nparams, nresults;
        if (!rd_byte(rd, &form))
            return false;
        if (form != 0x60)
            return rd_fail(rd, FL_ERR_INVALID_WASM, "invalid function type form");
        if (!rd_count(rd, MAX_PARAMS, &nparams))
            return false;
        char *sig = malloc(nparams + MAX_PARAMS + 2);
        if (!sig)
            return rd_fail(rd, FL_ERR_NOMEM, "out of memory");
        desc->type_sigs[t] = sig;
        size_t at = 0;
        for (uint32_t i = 0; i < nparams; i++)
            if (!rd_valtype(rd, &sig[at++]))
                return false;
        sig[at++] = ':';
        if (!rd_count(rd, MAX_PARAMS, &nresults))
            return false;
        for (uint32_t i = 0; i < nresults; i++)
            if (!rd_valtype(rd, &sig[at++]))
                return false;
        sig[at] = '\0';
    }
    return true;
}

/* The caller has made room with desc_grow_funcs. */
static bool desc_add_func(struct reader *rd, struct wasm_desc *desc, uint32_t type_index)
{
    if (type_index >= desc->type_count)
        return rd_fail(rd, FL_ERR_INVALID_WASM, "unknown type");
    desc->func_types[desc->func_count++] = type_index;
    return true;
}

static bool desc_grow_funcs(struct reader *rd, struct wasm_desc *desc, uint32_t extra)
{
    uint32_t *grown = realloc(desc->func_types, sizeof(uint32_t) * (desc->func_count + extra + 1));
    if (!grown)
        return rd_fail(rd, FL_ERR_NOMEM, "out of memory");
    desc->func_types = grown;
    return true;
}

static bool desc_grow_globals(struct reader *rd, struct wasm_desc *desc, uint32_t extra)
{
    size_t n = (size_t)desc->global_count + extra + 1;
    char *types = realloc(desc->global_types, n);
    if (types)
        desc->global_types = types;
    bool *muts = realloc(desc->global_mutable, n * sizeof(bool));
    if (muts)
        desc->global_mutable = muts;
    if (!types || !muts)
        return rd_fail(rd, FL_ERR_NOMEM, "out of memory");
    return true;
}

static bool desc_add_table(struct reader *rd, struct wasm_desc *desc, char type)
{
    char *types = realloc(desc->table_types, (size_t)desc->table_count + 1);
    if (!types)
        return rd_fail(rd, FL_ERR_NOMEM, "out of memory");
    desc->table_types = types;
    desc->table_types[desc->table_count++] = type;
    return true;
}

static bool rd_set_memory(struct reader *rd, struct wasm_desc *desc, uint32_t min, uint32_t max,
                          bool has_max)
{
    if (desc->has_memory)
        return rd_fail(rd, FL_ERR_UNSUPPORTED, "multiple memories are not supported");
    desc->has_memory = true;
    desc->memory_min_pages = min;
    desc->memory_max_pages = has_max ? max : WASM_MAX_PAGES;
    desc->memory_has_max = has_max;
    return true;
}

static bool rd_import_type(struct reader *rd, struct wasm_desc *desc, struct wasm_import *imp,
                           uint8_t kind)
{
    uint8_t mut;
    imp->kind = kind;
    switch (kind) {
    case WASM_EXTERN_FUNC:
        return rd_u32(rd, &imp->type_index) && desc_grow_funcs(rd, desc, 1) &&
               desc_add_func(rd, desc, imp->type_index);
    case WASM_EXTERN_TABLE:
        return rd_reftype_letter(rd, &imp->table_type) &&
               desc_add_table(rd, desc, imp->table_type) &&
               rd_limits(rd, &imp->limits_min, &imp->limits_max, &imp->limits_has_max, false);
    case WASM_EXTERN_MEMORY:
        desc->memory_imported = true;
        return rd_limits(rd, &imp->limits_min, &imp->limits_max, &imp->limits_has_max, true) &&
               rd_set_memory(rd, desc, imp->limits_min, imp->limits_max, imp->limits_has_max);
    case WASM_EXTERN_GLOBAL:
        if (!rd_valtype(rd, &imp->global_type) || !rd_byte(rd, &mut) ||
            !desc_grow_globals(rd, desc, 1))
            return false;
        if (mut > 1)
            return rd_fail(rd, FL_ERR_INVALID_WASM, "malformed mutability");
        imp->global_mutable = mut;
        desc->global_types[desc->global_count] = imp->global_type;
        desc->global_mutable[desc->global_count++] = mut;
        return true;
    case 4:
        return rd_fail(rd, FL_ERR_UNSUPPORTED, "exception handling is not supported");
    default:
        return rd_fail(rd, FL_ERR_INVALID_WASM, "malformed import kind");
    }
}

static bool rd_import(struct reader *rd, struct wasm_desc *desc, struct wasm_import *imp)
{
    uint8_t kind;
    if (!rd_name(rd, &imp->module) || !rd_name(rd, &imp->name))
        return false;
    const uint8_t *type_start = rd->pos;
    bool ok = rd_byte(rd, &kind) && rd_import_type(rd, desc, imp, kind);
    imp->type_offset = (size_t)(type_start - rd->base);
    imp->type_len = (size_t)(rd->pos - type_start);
    return ok;
}

static bool rd_import_section(struct reader *rd, struct wasm_desc *desc)
{
    if (!rd_count(rd, MAX_IMPORTS, &desc->import_count))
        return false;
    desc->imports = calloc(desc->import_count ? desc->import_count : 1, sizeof(*desc->imports));
    if (!desc->imports)
        return rd_fail(rd, FL_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < desc->import_count; i++)
        if (!rd_import(rd, desc, &desc->imports[i]))
            return false;
    return true;
}

static bool rd_function_section(struct reader *rd, struct wasm_desc *desc)
{
    uint32_t n, type_index;
    if (!rd_count(rd, MAX_FUNCS, &n) || !desc_grow_funcs(rd, desc, n))
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (!rd_u32(rd, &type_index) || !desc_add_func(rd, desc, type_index))
            return false;
    return true;
}

static bool rd_table_section(struct reader *rd, struct wasm_desc *desc)
{
    uint32_t n, min, max;
    bool has_max;
    char type;
    if (!rd_count(rd, MAX_IMPORTS, &n))
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (!rd_reftype_letter(rd, &type) || !desc_add_table(rd, desc, type) ||
            !rd_limits(rd, &min, &max, &has_max, false))
            return false;
    return true;
}

static bool rd_memory_section(struct reader *rd, struct wasm_desc *desc)
{
    uint32_t n, min, max;
    bool has_max;
    if (!rd_count(rd, 2, &n))
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (!rd_limits(rd, &min, &max, &has_max, true) ||
            !rd_set_memory(rd, desc, min, max, has_max))
            return false;
    return true;
}

static bool rd_global_section(struct reader *rd, struct wasm_desc *desc)
{
    uint32_t n;
    uint8_t mut;
    if (!rd_count(rd, MAX_GLOBALS, &n) || !desc_grow_globals(rd, desc, n))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        char type;
        if (!rd_valtype(rd, &type) || !rd_byte(rd, &mut) || !rd_const_expr(rd))
            return false;
        if (mut > 1)
            return rd_fail(rd, FL_ERR_INVALID_WASM, "malformed mutability");
        desc->global_types[desc->global_count] = type;
        desc->global_mutable[desc->global_count++] = mut;
    }
    return true;
}

static bool export_index_valid(const struct wasm_desc *desc, const struct wasm_export *exp)
{
    switch (exp->kind) {
    case WASM_EXTERN_FUNC:
        return exp->index < desc->func_count;
    case WASM_EXTERN_TABLE:
        return exp->index < desc->table_count;
    case WASM_EXTERN_MEMORY:
        return exp->index == 0 && desc->has_memory;
    default:
        return exp->index < desc->global_count;
    }
}

static bool rd_export_section(struct reader *rd, struct wasm_desc *desc)
{
    if (!rd_count(rd, MAX_EXPORTS, &desc->export_count))
        return false;
    desc->exports = calloc(desc->export_count ? desc->export_count : 1, sizeof(*desc->exports));
    if (!desc->exports)
        return rd_fail(rd, FL_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < desc->export_count; i++) {
        struct wasm_export *exp = &desc->exports[i];
        uint8_t kind;
        if (!rd_name_len(rd, &exp->name, &exp->name_len) || !rd_byte(rd, &kind) ||
            !rd_u32(rd, &exp->index))
            return false;
        if (kind > WASM_EXTERN_GLOBAL)
            return rd_fail(rd, kind == 4 ? FL_ERR_UNSUPPORTED : FL_ERR_INVALID_WASM,
                           kind == 4 ? "exception handling is not supported"
                                     : "malformed export kind");
        exp->kind = kind;
        if (!export_index_valid(desc, exp))
            return rd_fail(rd, FL_ERR_INVALID_WASM,
                           "export refers to an unknown function, table, memory or global");
    }
    return true;
}

static bool rd_code_section(struct reader *rd, struct wasm_desc *desc)
{
    uint32_t n;
    if (!rd_count(rd, MAX_FUNCS, &n))
        return false;
    if (!(desc->body_offsets = calloc((size_t)n + 1, sizeof(*desc->body_offsets))))
        return rd_fail(rd, FL_ERR_NOMEM, "out of memory");
    desc->body_count = n;
    desc->body_offsets[n] = (size_t)(rd->end - rd->base);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t body_size, groups;
        desc->body_offsets[i] = (size_t)(rd->pos - rd->base);
        if (!rd_count(rd, UINT32_MAX, &body_size))
            return false;
        struct reader body = *rd;
        body.end = rd->pos + body_size;
        if (rd_count(&body, UINT32_MAX, &groups))
            for (uint32_t g = 0; g < groups && body.err == FL_OK; g++) {
                uint32_t count;
                char type;
                if (rd_u32(&body, &count))
                    rd_valtype(&body, &type);
            }
        if (body.err == FL_OK)
            rd_expr(&body);
        if (body.err != FL_OK) {
            rd->err = body.err;
            return false;
        }
        rd->pos += body_size;
    }
    return true;
}

/* An active segment's offset must be an instruction sequence, not empty (wabt misses this). */
static bool rd_offset_expr(struct reader *rd)
{
    if (rd->pos < rd->end && *rd->pos == 0x0b)
        return rd_fail(rd, FL_ERR_INVALID_WASM, "type mismatch: empty offset expression");
    return rd_const_expr(rd);
}

static bool rd_skip_bytes_vec(struct reader *rd)
{
    uint32_t n;
    return rd_count(rd, UINT32_MAX, &n) && rd_skip(rd, n);
}

static bool rd_data_section(struct reader *rd)
{
    uint32_t n, flags, memory;
    if (!rd_count(rd, MAX_GLOBALS, &n))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        if (!rd_u32(rd, &flags))
            return false;
        if (flags > 2)
            return rd_fail(rd, FL_ERR_INVALID_WASM, "malformed data segment flags");
        if ((flags == 2 && !rd_u32(rd, &memory)) || (flags != 1 && !rd_offset_expr(rd)) ||
            !rd_skip_bytes_vec(rd))
            return false;
    }
    return true;
}

static bool rd_element_items(struct reader *rd, bool expressions)
{
    uint32_t n;
    if (!rd_count(rd, UINT32_MAX, &n))
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (expressions ? !rd_const_expr(rd) : !rd_u32s(rd, 1))
            return false;
    return true;
}

static bool rd_element_section(struct reader *rd)
{
    uint32_t n, flags, table;
    if (!rd_count(rd, MAX_GLOBALS, &n))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        if (!rd_u32(rd, &flags))
            return false;
        if (flags > 7)
            return rd_fail(rd, FL_ERR_INVALID_WASM, "malformed elements segment kind");
        bool active = (flags & 1) == 0, explicit_table = flags & 2, expressions = flags & 4;
        if ((explicit_table && active && !rd_u32(rd, &table)) || (active && !rd_offset_expr(rd)))
            return false;
        /* the element kind (0x00) or reference type, absent in the two legacy forms */
        if (flags != 0 && flags != 4 && !rd_skip(rd, 1))
            return false;
        if (!rd_element_items(rd, expressions))
            return false;
    }
    return true;
}

static bool rd_section(struct reader *rd, uint8_t id, struct wasm_desc *desc)
{
    switch (id) {
    case 0:
        return true; /* custom: ignored */
    case 1:
        return rd_type_section(rd, desc);
    case 2:
        return rd_import_section(rd, desc);
    case 3:
        return rd_function_section(rd, desc);
    case 4:
        return rd_table_section(rd, desc);
    case 5:
        return rd_memory_section(rd, desc);
    case 6:
        return rd_global_section(rd, desc);
    case 7:
        return rd_export_section(rd, desc);
    case 8:
        desc->has_start_section = true;
        return true;
    case 9:
        return rd_element_section(rd);
    case 11:
        return rd_data_section(rd);
    case 12:
        return true; /* data count: validated by wabt */
    case 10:
        return rd_code_section(rd, desc);
    case 13:
        return rd_fail(rd, FL_ERR_UNSUPPORTED, "exception handling is not supported");
    default:
        return rd_fail(rd, FL_ERR_INVALID_WASM, "malformed section id");
    }
}

/* Known sections appear at most once, in this order (data count sits before code). */
static int section_rank(uint8_t id)
{
    static const int rank[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 11, 6};
    return id < ARRAY_SIZE(rank) ? rank[id] : 99;
}

enum fl_err wasm_decode(const uint8_t *bytes, size_t len, struct wasm_desc *desc, char *detail,
                        size_t detail_len)
{
    static const uint8_t magic[4] = {0x00, 0x61, 0x73, 0x6d};
    static const uint8_t version[4] = {0x01, 0x00, 0x00, 0x00};
    memset(desc, 0, sizeof(*desc));
    if (len < 4 || memcmp(bytes, magic, 4) != 0)
        return fl_fail(FL_ERR_NOT_WASM, detail, detail_len,
                       "not a WebAssembly module (missing \\0asm magic number)");
    if (len < 8 || memcmp(bytes + 4, version, 4) != 0)
        return fl_fail(FL_ERR_INVALID_WASM, detail, detail_len,
                       "unsupported WebAssembly binary version (only version 1 is supported)");
    struct reader rd = {bytes, bytes + 8, bytes + len, FL_OK, detail, detail_len};
    int last_rank = 0;
    while (rd.pos < rd.end && rd.err == FL_OK) {
        uint8_t id;
        uint32_t size;
        size_t section_start = (size_t)(rd.pos - bytes);
        if (!rd_byte(&rd, &id) || !rd_count(&rd, UINT32_MAX, &size))
            break;
        if (id != 0 && section_rank(id) <= last_rank && section_rank(id) != 99) {
            rd_fail(&rd, FL_ERR_INVALID_WASM, "unexpected section (duplicate or out of order)");
            break;
        }
        if (id != 0)
            last_rank = section_rank(id);
        struct reader section = rd;
        section.end = rd.pos + size;
        if (id == 10) {
            desc->code_section_start = section_start;
            desc->code_section_end = (size_t)(section.end - bytes);
        }
        if (rd_section(&section, id, desc) && id != 0 && id != 8 && id != 12 &&
            section.pos != section.end)
            rd_fail(&section, FL_ERR_INVALID_WASM, "section size mismatch");
        rd.err = section.err;
        rd.pos = section.end;
    }
    return rd.err;
}

void wasm_desc_deinit(struct wasm_desc *desc)
{
    for (uint32_t i = 0; desc->type_sigs && i < desc->type_count; i++)
        free(desc->type_sigs[i]);
    for (uint32_t i = 0; desc->imports && i < desc->import_count; i++) {
        free(desc->imports[i].module);
        free(desc->imports[i].name);
    }
    for (uint32_t i = 0; desc->exports && i < desc->export_count; i++)
        free(desc->exports[i].name);
    free(desc->type_sigs);
    free(desc->imports);
    free(desc->func_types);
    free(desc->global_types);
    free(desc->global_mutable);
    free(desc->table_types);
    free(desc->exports);
    free(desc->body_offsets);
    memset(desc, 0, sizeof(*desc));
}

const struct wasm_export *wasm_desc_find_export(const struct wasm_desc *desc, const char *name,
                                                enum wasm_extern_kind kind)
{
    for (uint32_t i = 0; i < desc->export_count; i++)
        if (desc->exports[i].kind == kind && desc->exports[i].name_len == strlen(name) &&
            strcmp(desc->exports[i].name, name) == 0)
            return &desc->exports[i];
    return NULL;
}

const char *wasm_desc_func_sig(const struct wasm_desc *desc, uint32_t func_index)
{
    if (func_index >= desc->func_count)
        return NULL;
    return desc->type_sigs[desc->func_types[func_index]];
}

bool wasm_put_leb(struct fl_buf *out, uint64_t value)
{
    bool ok = true;
    do {
        char byte = (char)(value & 0x7f);
        value >>= 7;
        if (value)
            byte = (char)(byte | 0x80);
        ok = ok && fl_buf_append(out, &byte, 1);
    } while (value);
    return ok;
}
