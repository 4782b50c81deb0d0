/*
 * wasm_to_c — the tier-0 translator (see wasm_to_c.h).
 *
 * Reading guide: `translate_module` reads the sections the decoder
 * summarised (tables, globals, elements, data, start) into `struct tr`, then
 * writes the file top-down: prelude, instance struct, prototypes, import
 * wrappers, element arrays, one C function per body (`translate_function`,
 * the instruction loop `translate_body`), and the glue symbols. Inside a
 * function the operand stack exists only at translation time, as type
 * letters: the value at depth d of type T is the C local `<T>d` (i j h d r x
 * for i32 i64 f32 f64 funcref externref). Constants and local reads are
 * deferred: written where they are used, and copied into their stack local
 * only when they must be (the local changes, or a label or jump is next).
 * Code after an unconditional branch is skipped, not written.
 */
#include "engine/wasm_to_c.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/glue.h"
#include "engine/rt_api.h"

extern const char fl_tier0_prelude[]; /* tier0_prelude.h, embedded by the build */

enum {
    TR_MAX_STACK = 1 << 14,
    TR_MAX_CONTROL = 1 << 14,
    TR_MAX_LOCALS = 50000,
    TR_MAX_SIGNATURES = 1 << 16,
};

enum ctl_kind { CTL_FUNC, CTL_BLOCK, CTL_LOOP, CTL_IF };

enum defer_kind { DEFER_NONE, DEFER_CONST, DEFER_LOCAL };

struct ctl {
    enum ctl_kind kind;
    uint32_t label;
    uint32_t height; /* stack depth below the block's parameters */
    const char *params, *results;
    uint32_t nparams, nresults;
    bool has_else;
};

struct elem_seg {
    uint8_t mode; /* 0 active, 1 passive, 2 declarative */
    uint32_t table;
    size_t offset_expr;
    char type; /* 'r' or 'x' */
    uint32_t count;
    uint32_t *items; /* function indices, UINT32_MAX for null */
};

struct data_seg {
    bool active;
    size_t offset_expr;
    size_t bytes;
    uint32_t len;
};

struct rd {
    const uint8_t *p, *end;
    bool bad;
};

struct tr {
    const uint8_t *wasm;
    size_t len;
    const struct wasm_desc *desc;
    struct fl_buf *out;
    struct fl_buf body;
    bool oom;
    enum fl_err err;
    char *detail;
    size_t detail_len;
    /* module */
    uint32_t func_imports, global_imports, table_imports;
    uint32_t *import_of_func, *import_of_global, *import_of_table;
    uint32_t memory_import;
    uint32_t *table_min, *table_max;
    size_t *global_init; /* defined globals: offset of the init expression */
    uint32_t elem_count, data_count;
    struct elem_seg *elems;
    struct data_seg *datas;
    bool has_start;
    uint32_t start;
    bool need_funcref_table;
    /* function being translated */
    uint32_t func;
    char *locals;
    uint32_t local_count;
    char stack[TR_MAX_STACK];
    /* What a stack value is until written to its local: a constant or a local's value is
     * used where it is needed instead of being copied first (shorter C for tcc, faster code). */
    uint8_t deferred[TR_MAX_STACK];
    uint64_t deferred_value[TR_MAX_STACK]; /* the constant's bits, or the local's index */
    uint32_t deferred_locals;              /* how many values are DEFER_LOCAL */
    uint32_t sp;
    struct ctl *ctls;
    uint32_t nctl;
    uint32_t max_depth[6];
    bool dead;
    uint32_t dead_nesting;
    uint32_t next_label;
};

/* ---- failing ---- */

static bool tr_fail(struct tr *t, enum fl_err err, const char *what)
{
    if (t->err == FL_OK) {
        t->err = err;
        snprintf(t->detail, t->detail_len, "tier-0 translator: %s (function %u)", what, t->func);
    }
    return false;
}

static bool tr_unsupported(struct tr *t, const char *what)
{
    return tr_fail(t, FL_ERR_UNSUPPORTED, what);
}

static bool tr_invalid(struct tr *t, const char *what)
{
    return tr_fail(t, FL_ERR_INVALID_WASM, what);
}

/* ---- reading ---- */

static uint8_t rd_u8(struct rd *r)
{
    if (r->p >= r->end) {
        r->bad = true;
        return 0;
    }
    return *r->p++;
}

static uint64_t rd_uleb(struct rd *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        uint8_t b = rd_u8(r);
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

static int64_t rd_sleb(struct rd *r)
{
    int64_t v = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        uint8_t b = rd_u8(r);
        if (shift < 64)
            v |= (int64_t)((uint64_t)(b & 0x7f) << shift);
        if (!(b & 0x80)) {
            if (shift + 7 < 64 && (b & 0x40))
                v |= (int64_t)(~0ull << (shift + 7));
            return v;
        }
    }
    r->bad = true;
    return 0;
}

static uint32_t rd_u32(struct rd *r)
{
    uint64_t v = rd_uleb(r);
    if (v > UINT32_MAX)
        r->bad = true;
    return (uint32_t)v;
}

static uint64_t rd_fixed(struct rd *r, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)rd_u8(r) << (8 * i);
    return v;
}

static char rd_valtype(struct rd *r)
{
    switch (rd_u8(r)) {
    case 0x7f:
        return 'i';
    case 0x7e:
        return 'I';
    case 0x7d:
        return 'f';
    case 0x7c:
        return 'F';
    case 0x70:
        return 'r';
    case 0x6f:
        return 'x';
    default:
        r->bad = true;
        return 'i';
    }
}

/* ---- writing ---- */

static void put_len(struct tr *t, const char *s, size_t n)
{
    if (!fl_buf_append(&t->body, s, n))
        t->oom = true;
}

static void put(struct tr *t, const char *s)
{
    put_len(t, s, strlen(s));
}

static void put_u64(struct tr *t, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_len(t, tmp + sizeof(tmp) - n, (size_t)n);
}

static void put_hex(struct tr *t, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "0x%llx", (unsigned long long)v);
    put_len(t, tmp, (size_t)n);
}

static int type_index(char letter)
{
    switch (letter) {
    case 'i':
        return 0;
    case 'I':
        return 1;
    case 'f':
        return 2;
    case 'F':
        return 3;
    case 'r':
        return 4;
    default:
        return 5;
    }
}

static const char *const ctype_of[] = {"u32", "u64", "f32", "f64", "fref", "xref"};
static const char slot_prefix[] = "ijhdrx";  /* not f: f32 and f64 are type names */
static const char multi_letter[] = "ijfdre"; /* wasm2c's letters in struct wasm_multi_* */

static void put_ctype(struct tr *t, char letter)
{
    put(t, ctype_of[type_index(letter)]);
}

/* The C local for a value of type `letter` at `depth` (one about to be written). */
static void put_var(struct tr *t, uint32_t depth, char letter)
{
    char prefix = slot_prefix[type_index(letter)];
    put_len(t, &prefix, 1);
    put_u64(t, depth);
}

static void put_hex(struct tr *t, uint64_t v);

/* A constant of type `letter` (i32 to f64) from its bits. */
static void put_constant(struct tr *t, char letter, uint64_t bits)
{
    static const char *const open[] = {"", "", "fromb32(", "fromb64("};
    static const char *const close[] = {"u", "ull", "u)", "ull)"};
    int k = type_index(letter);
    put(t, open[k]);
    put_hex(t, bits);
    put(t, close[k]);
}

/* The stack value at `depth`, to be read: its local, or what it was deferred as. */
static void put_value(struct tr *t, uint32_t depth)
{
    if (t->deferred[depth] == DEFER_CONST) {
        put_constant(t, t->stack[depth], t->deferred_value[depth]);
    } else if (t->deferred[depth] == DEFER_LOCAL) {
        put(t, "l");
        put_u64(t, t->deferred_value[depth]);
    } else {
        put_var(t, depth, t->stack[depth]);
    }
}

/* Writes a deferred value to its local. */
static void materialize(struct tr *t, uint32_t depth)
{
    if (t->deferred[depth] == DEFER_NONE)
        return;
    put_var(t, depth, t->stack[depth]);
    put(t, "=");
    put_value(t, depth);
    put(t, ";\n");
    t->deferred_locals -= t->deferred[depth] == DEFER_LOCAL;
    t->deferred[depth] = DEFER_NONE;
}

/* Before a label or a jump: every value is in its local, as the code on the other side
 * expects whichever way it came. */
static void materialize_all(struct tr *t)
{
    for (uint32_t d = 0; d < t->sp; d++)
        materialize(t, d);
}

/* Before local `index` changes: the values that are still that local's old value. */
static void materialize_local(struct tr *t, uint32_t index)
{
    for (uint32_t d = 0; t->deferred_locals && d < t->sp; d++)
        if (t->deferred[d] == DEFER_LOCAL && t->deferred_value[d] == index)
            materialize(t, d);
}

static void put_label(struct tr *t, char kind, uint32_t label)
{
    put_len(t, &kind, 1);
    put_u64(t, label);
}

static void put_multi_name(struct tr *t, const char *results, uint32_t n)
{
    put(t, "struct wasm_multi_");
    for (uint32_t i = 0; i < n; i++)
        put_len(t, &multi_letter[type_index(results[i])], 1);
}

/* A field of a struct wasm_multi_*: wasm2c's letter and the value's position. */
static void put_multi_field(struct tr *t, char letter, uint32_t index)
{
    put_len(t, &multi_letter[type_index(letter)], 1);
    put_u64(t, index);
}

/* The host's calling convention: every value travels as a uint64_t slot. */
static void put_from_slot(struct tr *t, char letter, const char *array, uint32_t index)
{
    static const char *const open[] = {"(u32)",    "", "fromb32((u32)",
                                       "fromb64(", "", "(void*)(uintptr_t)"};
    int k = type_index(letter);
    put(t, open[k]);
    put(t, array);
    put(t, "[");
    put_u64(t, index);
    put(t, k == 2 || k == 3 ? "])" : "]");
}

/* Opens the conversion of a value to a slot; the caller writes the value in parentheses. */
static void put_to_slot(struct tr *t, char letter)
{
    static const char *const to_slot[] = {"(u64)", "", "bits32", "bits64", "", "(u64)(uintptr_t)"};
    put(t, to_slot[type_index(letter)]);
}

static void put_ret_type(struct tr *t, const char *results, uint32_t n)
{
    if (n == 0)
        put(t, "void");
    else if (n == 1)
        put_ctype(t, results[0]);
    else
        put_multi_name(t, results, n);
}

static void put_global(struct tr *t, uint32_t index)
{
    put(t, index < t->global_imports ? "(*c->g" : "c->g");
    put_u64(t, index);
    if (index < t->global_imports)
        put(t, ")");
}

/* ---- signatures ---- */

struct sig {
    const char *params, *results;
    uint32_t nparams, nresults;
};

static struct sig sig_of_type(const struct tr *t, uint32_t type)
{
    const char *s = t->desc->type_sigs[type];
    const char *colon = strchr(s, ':');
    return (struct sig){s, colon + 1, (uint32_t)(colon - s), (uint32_t)strlen(colon + 1)};
}

static struct sig sig_of_func(const struct tr *t, uint32_t func)
{
    return sig_of_type(t, t->desc->func_types[func]);
}

/* ---- the operand stack ---- */

static bool push(struct tr *t, char letter)
{
    if (t->sp >= TR_MAX_STACK)
        return tr_unsupported(t, "operand stack deeper than the translator allows");
    t->deferred[t->sp] = DEFER_NONE;
    t->stack[t->sp++] = letter;
    int k = type_index(letter);
    if (t->max_depth[k] < t->sp)
        t->max_depth[k] = t->sp;
    return true;
}

/* Checks that the top `n` values have the types in `types`, within the current block. */
static bool expect(struct tr *t, const char *types, uint32_t n)
{
    const struct ctl *c = &t->ctls[t->nctl - 1];
    if (t->sp < c->height + n)
        return tr_invalid(t, "operand stack underflow");
    for (uint32_t i = 0; i < n; i++)
        if (types && t->stack[t->sp - n + i] != types[i])
            return tr_invalid(t, "operand type mismatch");
    return true;
}

/* Drops the top `n` values (checked by the caller). */
static void drop(struct tr *t, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        t->deferred_locals -= t->deferred[--t->sp] == DEFER_LOCAL;
}

static bool pop_expect(struct tr *t, const char *types, uint32_t n)
{
    if (!expect(t, types, n))
        return false;
    drop(t, n);
    return true;
}

/* ---- blocks and branches ---- */

static bool read_blocktype(struct tr *t, struct rd *r, struct sig *out)
{
    static const char *const single[] = {"i", "I", "f", "F", "r", "x"};
    uint8_t b = r->p < r->end ? *r->p : 0;
    if (b == 0x40) {
        r->p++;
        *out = (struct sig){"", "", 0, 0};
        return true;
    }
    if (b == 0x7f || b == 0x7e || b == 0x7d || b == 0x7c || b == 0x70 || b == 0x6f) {
        char letter = rd_valtype(r);
        *out = (struct sig){"", single[type_index(letter)], 0, 1};
        return true;
    }
    int64_t index = rd_sleb(r);
    if (r->bad || index < 0 || (uint64_t)index >= t->desc->type_count)
        return tr_invalid(t, "bad block type");
    *out = sig_of_type(t, (uint32_t)index);
    return true;
}

static bool push_ctl(struct tr *t, enum ctl_kind kind, const struct sig *s)
{
    if (t->nctl >= TR_MAX_CONTROL)
        return tr_unsupported(t, "blocks nested deeper than the translator allows");
    if (t->nctl > 0 && !expect(t, s->params, s->nparams))
        return false;
    t->ctls[t->nctl++] = (struct ctl){kind,       t->next_label++, t->sp - s->nparams, s->params,
                                      s->results, s->nparams,      s->nresults,        false};
    return true;
}

/* Sets the stack to a block's base plus `types`. */
static void reset_stack(struct tr *t, const struct ctl *c, const char *types, uint32_t n)
{
    drop(t, t->sp > c->height ? t->sp - c->height : 0);
    t->sp = c->height;
    for (uint32_t i = 0; i < n; i++)
        push(t, types[i]);
}

static void put_return(struct tr *t)
{
    const struct ctl *f = &t->ctls[0];
    uint32_t n = f->nresults, base = t->sp - n;
    if (n == 0) {
        put(t, "return;\n");
    } else if (n == 1) {
        put(t, "return ");
        put_value(t, base);
        put(t, ";\n");
    } else {
        put(t, "{");
        put_multi_name(t, f->results, n);
        put(t, " r_;");
        for (uint32_t i = 0; i < n; i++) {
            put(t, "r_.");
            put_multi_field(t, f->results[i], i);
            put(t, "=");
            put_value(t, base + i);
            put(t, ";");
        }
        put(t, "return r_;}\n");
    }
}

/* Writes the jump to the label `depth` blocks out, moving its values into place. */
static bool put_branch(struct tr *t, uint32_t depth)
{
    if (depth >= t->nctl)
        return tr_invalid(t, "branch depth out of range");
    const struct ctl *target = &t->ctls[t->nctl - 1 - depth];
    bool loop = target->kind == CTL_LOOP;
    const char *types = loop ? target->params : target->results;
    uint32_t n = loop ? target->nparams : target->nresults;
    if (!expect(t, types, n))
        return false;
    if (target->kind == CTL_FUNC) {
        put_return(t);
        return true;
    }
    uint32_t from = t->sp - n, to = target->height;
    for (uint32_t i = 0; i < n && from != to; i++) {
        put_var(t, to + i, types[i]); /* the value moved, not what the slot held */
        put(t, "=");
        put_value(t, from + i);
        put(t, ";");
    }
    put(t, "goto ");
    put_label(t, loop ? 'L' : 'B', target->label);
    put(t, ";\n");
    return true;
}

static bool op_block(struct tr *t, struct rd *r, enum ctl_kind kind)
{
    struct sig s;
    if (!read_blocktype(t, r, &s))
        return false;
    if (kind == CTL_IF && !pop_expect(t, "i", 1))
        return false;
    materialize_all(t); /* the block's code may run zero or more times, or not at all */
    if (kind == CTL_IF) {
        put(t, "if(!");
        put_value(t, t->sp);
        put(t, ")goto ");
        put_label(t, 'E', t->next_label);
        put(t, ";\n");
    }
    if (!push_ctl(t, kind, &s))
        return false;
    if (kind == CTL_LOOP) {
        put_label(t, 'L', t->ctls[t->nctl - 1].label);
        put(t, ":;\n");
    }
    return true;
}

static bool op_else(struct tr *t)
{
    struct ctl *c = &t->ctls[t->nctl - 1];
    if (c->kind != CTL_IF || c->has_else)
        return tr_invalid(t, "else without if");
    if (!t->dead) {
        if (!expect(t, c->results, c->nresults) || t->sp != c->height + c->nresults)
            return tr_invalid(t, "values left at the end of a block");
        materialize_all(t);
        put(t, "goto ");
        put_label(t, 'B', c->label);
        put(t, ";\n");
    }
    put_label(t, 'E', c->label);
    put(t, ":;\n");
    c->has_else = true;
    t->dead = false;
    reset_stack(t, c, c->params, c->nparams);
    return true;
}

/* `end`: true when it closed the function. */
static bool op_end(struct tr *t, bool *function_done)
{
    struct ctl *c = &t->ctls[t->nctl - 1];
    if (!t->dead && (!expect(t, c->results, c->nresults) || t->sp != c->height + c->nresults))
        return tr_invalid(t, "values left at the end of a block");
    if (!t->dead && c->kind != CTL_FUNC)
        materialize_all(t);
    if (c->kind == CTL_FUNC) {
        if (!t->dead)
            put_return(t);
        *function_done = true;
        t->nctl--;
        return true;
    }
    if (c->kind == CTL_IF && !c->has_else) {
        if (c->nparams != c->nresults || strncmp(c->params, c->results, c->nparams) != 0)
            return tr_invalid(t, "if without else must leave its parameters");
        put_label(t, 'E', c->label);
        put(t, ":;\n");
    }
    if (c->kind != CTL_LOOP) {
        put_label(t, 'B', c->label);
        put(t, ":;\n");
    }
    t->dead = false;
    reset_stack(t, c, c->results, c->nresults);
    t->nctl--;
    return true;
}

/*
 * br_table: each entry jumps to one trampoline per distinct target, which moves the values
 * and jumps on. (Copies written per entry would make a table of n entries to a block with k
 * results n * k statements: a hostile module could ask for gigabytes of C.)
 */
static bool op_br_table(struct tr *t, struct rd *r)
{
    uint32_t n = rd_u32(r);
    if (r->bad || n > (uint32_t)(r->end - r->p))
        return tr_invalid(t, "bad br_table");
    if (!pop_expect(t, "i", 1))
        return false;
    bool *used = calloc(t->nctl, sizeof(bool));
    if (!used)
        return tr_fail(t, FL_ERR_NOMEM, "out of memory");
    uint32_t first = t->next_label; /* trampoline for depth d: T<first + d> */
    t->next_label += t->nctl;
    materialize_all(t);
    put(t, "switch(");
    put_value(t, t->sp);
    put(t, "){\n");
    bool ok = true;
    for (uint32_t i = 0; ok && i <= n; i++) {
        uint32_t depth = rd_u32(r);
        if (r->bad || depth >= t->nctl) {
            ok = tr_invalid(t, "bad br_table");
            break;
        }
        used[depth] = true;
        if (i < n) {
            put(t, "case ");
            put_u64(t, i);
            put(t, ":");
        } else {
            put(t, "default:");
        }
        put(t, "goto ");
        put_label(t, 'T', first + depth);
        put(t, ";\n");
    }
    put(t, "}\n");
    for (uint32_t d = 0; ok && d < t->nctl; d++) {
        if (!used[d])
            continue;
        put_label(t, 'T', first + d);
        put(t, ":");
        ok = put_branch(t, d);
    }
    free(used);
    t->dead = true;
    return ok;
}

/* ---- calls ---- */

/* Writes `<results> = ` before a call, or opens the block that unpacks several. */
static void put_call_results(struct tr *t, const struct sig *s, uint32_t base)
{
    if (s->nresults == 1) {
        put_var(t, base, s->results[0]);
        put(t, "=");
    } else if (s->nresults > 1) {
        put(t, "{");
        put_multi_name(t, s->results, s->nresults);
        put(t, " r_=");
    }
}

static void put_call_args_and_unpack(struct tr *t, const struct sig *s, uint32_t base)
{
    for (uint32_t i = 0; i < s->nparams; i++) {
        put(t, ",");
        put_value(t, base + i);
    }
    put(t, ");");
    if (s->nresults > 1) {
        for (uint32_t i = 0; i < s->nresults; i++) {
            put_var(t, base + i, s->results[i]);
            put(t, "=r_.");
            put_multi_field(t, s->results[i], i);
            put(t, ";");
        }
        put(t, "}");
    }
    put(t, "\n");
}

static bool push_results(struct tr *t, const struct sig *s)
{
    for (uint32_t i = 0; i < s->nresults; i++)
        if (!push(t, s->results[i]))
            return false;
    return true;
}

static bool op_call(struct tr *t, struct rd *r)
{
    uint32_t func = rd_u32(r);
    if (r->bad || func >= t->desc->func_count)
        return tr_invalid(t, "call to an unknown function");
    struct sig s = sig_of_func(t, func);
    if (!pop_expect(t, s.params, s.nparams))
        return false;
    uint32_t base = t->sp;
    put_call_results(t, &s, base);
    put(t, "w");
    put_u64(t, func);
    put(t, func < t->func_imports ? "(c->ctx" : "(c");
    put_call_args_and_unpack(t, &s, base);
    return push_results(t, &s);
}

static bool table_is(const struct tr *t, uint32_t table, char type)
{
    return table < t->desc->table_count && t->desc->table_types[table] == type;
}

static bool op_call_indirect(struct tr *t, struct rd *r)
{
    uint32_t type = rd_u32(r), table = rd_u32(r);
    if (r->bad || type >= t->desc->type_count || !table_is(t, table, 'r'))
        return tr_invalid(t, "bad call_indirect");
    struct sig s = sig_of_type(t, type);
    if (!pop_expect(t, "i", 1))
        return false;
    uint32_t index = t->sp;
    if (!pop_expect(t, s.params, s.nparams))
        return false;
    uint32_t base = t->sp;
    put(t, "{const fref*e_=ci(c->t");
    put_u64(t, table);
    put(t, ",");
    put_value(t, index);
    put(t, ",ty[");
    put_u64(t, type);
    put(t, "]);");
    put_call_results(t, &s, base);
    put(t, "((");
    put_ret_type(t, s.results, s.nresults);
    put(t, "(*)(void*");
    for (uint32_t i = 0; i < s.nparams; i++) {
        put(t, ",");
        put_ctype(t, s.params[i]);
    }
    put(t, "))e_->func)(e_->module_instance");
    put_call_args_and_unpack(t, &s, base);
    put(t, "}\n");
    return push_results(t, &s);
}

/* ---- numeric instructions: one table row per opcode ---- */

struct numop {
    const char *in;  /* operand types */
    char out;        /* result type */
    const char *fmt; /* C expression: '@' first operand, '#' second */
};

static const struct numop numops[] = {
    [0x45] = {"i", 'i', "!@"},
    [0x46] = {"ii", 'i', "@==#"},
    [0x47] = {"ii", 'i', "@!=#"},
    [0x48] = {"ii", 'i', "(s32)@<(s32)#"},
    [0x49] = {"ii", 'i', "@<#"},
    [0x4a] = {"ii", 'i', "(s32)@>(s32)#"},
    [0x4b] = {"ii", 'i', "@>#"},
    [0x4c] = {"ii", 'i', "(s32)@<=(s32)#"},
    [0x4d] = {"ii", 'i', "@<=#"},
    [0x4e] = {"ii", 'i', "(s32)@>=(s32)#"},
    [0x4f] = {"ii", 'i', "@>=#"},
    [0x50] = {"I", 'i', "!@"},
    [0x51] = {"II", 'i', "@==#"},
    [0x52] = {"II", 'i', "@!=#"},
    [0x53] = {"II", 'i', "(s64)@<(s64)#"},
    [0x54] = {"II", 'i', "@<#"},
    [0x55] = {"II", 'i', "(s64)@>(s64)#"},
    [0x56] = {"II", 'i', "@>#"},
    [0x57] = {"II", 'i', "(s64)@<=(s64)#"},
    [0x58] = {"II", 'i', "@<=#"},
    [0x59] = {"II", 'i', "(s64)@>=(s64)#"},
    [0x5a] = {"II", 'i', "@>=#"},
    [0x5b] = {"ff", 'i', "@==#"},
    [0x5c] = {"ff", 'i', "@!=#"},
    [0x5d] = {"ff", 'i', "@<#"},
    [0x5e] = {"ff", 'i', "@>#"},
    [0x5f] = {"ff", 'i', "@<=#"},
    [0x60] = {"ff", 'i', "@>=#"},
    [0x61] = {"FF", 'i', "@==#"},
    [0x62] = {"FF", 'i', "@!=#"},
    [0x63] = {"FF", 'i', "@<#"},
    [0x64] = {"FF", 'i', "@>#"},
    [0x65] = {"FF", 'i', "@<=#"},
    [0x66] = {"FF", 'i', "@>=#"},
    [0x67] = {"i", 'i', "clz32(@)"},
    [0x68] = {"i", 'i', "ctz32(@)"},
    [0x69] = {"i", 'i', "popc32(@)"},
    [0x6a] = {"ii", 'i', "@+#"},
    [0x6b] = {"ii", 'i', "@-#"},
    [0x6c] = {"ii", 'i', "@*#"},
    [0x6d] = {"ii", 'i', "divs32(@,#)"},
    [0x6e] = {"ii", 'i', "divu32(@,#)"},
    [0x6f] = {"ii", 'i', "rems32(@,#)"},
    [0x70] = {"ii", 'i', "remu32(@,#)"},
    [0x71] = {"ii", 'i', "@&#"},
    [0x72] = {"ii", 'i', "@|#"},
    [0x73] = {"ii", 'i', "@^#"},
    [0x74] = {"ii", 'i', "@<<(#&31)"},
    [0x75] = {"ii", 'i', "(u32)((s32)@>>(#&31))"},
    [0x76] = {"ii", 'i', "@>>(#&31)"},
    [0x77] = {"ii", 'i', "rotl32(@,#)"},
    [0x78] = {"ii", 'i', "rotr32(@,#)"},
    [0x79] = {"I", 'I', "clz64(@)"},
    [0x7a] = {"I", 'I', "ctz64(@)"},
    [0x7b] = {"I", 'I', "popc64(@)"},
    [0x7c] = {"II", 'I', "@+#"},
    [0x7d] = {"II", 'I', "@-#"},
    [0x7e] = {"II", 'I', "@*#"},
    [0x7f] = {"II", 'I', "divs64(@,#)"},
    [0x80] = {"II", 'I', "divu64(@,#)"},
    [0x81] = {"II", 'I', "rems64(@,#)"},
    [0x82] = {"II", 'I', "remu64(@,#)"},
    [0x83] = {"II", 'I', "@&#"},
    [0x84] = {"II", 'I', "@|#"},
    [0x85] = {"II", 'I', "@^#"},
    [0x86] = {"II", 'I', "@<<(#&63)"},
    [0x87] = {"II", 'I', "(u64)((s64)@>>(#&63))"},
    [0x88] = {"II", 'I', "@>>(#&63)"},
    [0x89] = {"II", 'I', "rotl64(@,#)"},
    [0x8a] = {"II", 'I', "rotr64(@,#)"},
    [0x8b] = {"f", 'f', "fabs32(@)"},
    [0x8c] = {"f", 'f', "fneg32(@)"},
    [0x8d] = {"f", 'f', "fceil32(@)"},
    [0x8e] = {"f", 'f', "ffloor32(@)"},
    [0x8f] = {"f", 'f', "ftrunc32(@)"},
    [0x90] = {"f", 'f', "fnearest32(@)"},
    [0x91] = {"f", 'f', "fsqrt32(@)"},
    [0x92] = {"ff", 'f', "@+#"},
    [0x93] = {"ff", 'f', "@-#"},
    [0x94] = {"ff", 'f', "@*#"},
    [0x95] = {"ff", 'f', "@/#"},
    [0x96] = {"ff", 'f', "fmin32(@,#)"},
    [0x97] = {"ff", 'f', "fmax32(@,#)"},
    [0x98] = {"ff", 'f', "fcopysign32(@,#)"},
    [0x99] = {"F", 'F', "fabs64(@)"},
    [0x9a] = {"F", 'F', "fneg64(@)"},
    [0x9b] = {"F", 'F', "fceil64(@)"},
    [0x9c] = {"F", 'F', "ffloor64(@)"},
    [0x9d] = {"F", 'F', "ftrunc64(@)"},
    [0x9e] = {"F", 'F', "fnearest64(@)"},
    [0x9f] = {"F", 'F', "fsqrt64(@)"},
    [0xa0] = {"FF", 'F', "@+#"},
    [0xa1] = {"FF", 'F', "@-#"},
    [0xa2] = {"FF", 'F', "@*#"},
    [0xa3] = {"FF", 'F', "@/#"},
    [0xa4] = {"FF", 'F', "fmin64(@,#)"},
    [0xa5] = {"FF", 'F', "fmax64(@,#)"},
    [0xa6] = {"FF", 'F', "fcopysign64(@,#)"},
    [0xa7] = {"I", 'i', "(u32)@"},
    [0xa8] = {"f", 'i', "ts32f32(@)"},
    [0xa9] = {"f", 'i', "tu32f32(@)"},
    [0xaa] = {"F", 'i', "ts32f64(@)"},
    [0xab] = {"F", 'i', "tu32f64(@)"},
    [0xac] = {"i", 'I', "(u64)(s64)(s32)@"},
    [0xad] = {"i", 'I', "(u64)@"},
    [0xae] = {"f", 'I', "ts64f32(@)"},
    [0xaf] = {"f", 'I', "tu64f32(@)"},
    [0xb0] = {"F", 'I', "ts64f64(@)"},
    [0xb1] = {"F", 'I', "tu64f64(@)"},
    [0xb2] = {"i", 'f', "(f32)(s32)@"},
    [0xb3] = {"i", 'f', "u32f32(@)"},
    [0xb4] = {"I", 'f', "(f32)(s64)@"},
    [0xb5] = {"I", 'f', "u64f32(@)"},
    [0xb6] = {"F", 'f', "(f32)@"},
    [0xb7] = {"i", 'F', "(f64)(s32)@"},
    [0xb8] = {"i", 'F', "u32f64(@)"},
    [0xb9] = {"I", 'F', "(f64)(s64)@"},
    [0xba] = {"I", 'F', "u64f64(@)"},
    [0xbb] = {"f", 'F', "(f64)@"},
    [0xbc] = {"f", 'i', "bits32(@)"},
    [0xbd] = {"F", 'I', "bits64(@)"},
    [0xbe] = {"i", 'f', "fromb32(@)"},
    [0xbf] = {"I", 'F', "fromb64(@)"},
    [0xc0] = {"i", 'i', "(u32)(s32)(s8)@"},
    [0xc1] = {"i", 'i', "(u32)(s32)(s16)@"},
    [0xc2] = {"I", 'I', "(u64)(s64)(s8)@"},
    [0xc3] = {"I", 'I', "(u64)(s64)(s16)@"},
    [0xc4] = {"I", 'I', "(u64)(s64)(s32)@"},
};

/* 0xfc 0..7: the saturating truncations. */
static const struct numop satops[] = {
    {"f", 'i', "ss32f32(@)"}, {"f", 'i', "su32f32(@)"}, {"F", 'i', "ss32f64(@)"},
    {"F", 'i', "su32f64(@)"}, {"f", 'I', "ss64f32(@)"}, {"f", 'I', "su64f32(@)"},
    {"F", 'I', "ss64f64(@)"}, {"F", 'I', "su64f64(@)"},
};

static bool op_numeric(struct tr *t, const struct numop *op)
{
    uint32_t n = (uint32_t)strlen(op->in);
    if (!pop_expect(t, op->in, n))
        return false;
    uint32_t base = t->sp;
    put_var(t, base, op->out);
    put(t, "=");
    for (const char *p = op->fmt; *p; p++) {
        const char *run = p;
        while (*p && *p != '@' && *p != '#')
            p++;
        put_len(t, run, (size_t)(p - run));
        if (!*p)
            break;
        put_value(t, base + (*p == '#'));
    }
    put(t, ";\n");
    return push(t, op->out);
}

/* ---- memory ---- */

struct memop {
    char type;
    const char *access; /* the pointer cast, with any widening in front */
};

static const struct memop loads[] = {
    {'i', "*(u32*)"},           {'I', "*(u64*)"}, {'f', "*(f32*)"},           {'F', "*(f64*)"},
    {'i', "(u32)(s32)*(s8*)"},  {'i', "*(u8*)"},  {'i', "(u32)(s32)*(s16*)"}, {'i', "*(u16*)"},
    {'I', "(u64)(s64)*(s8*)"},  {'I', "*(u8*)"},  {'I', "(u64)(s64)*(s16*)"}, {'I', "*(u16*)"},
    {'I', "(u64)(s64)*(s32*)"}, {'I', "*(u32*)"},
};

static const struct memop stores[] = {
    {'i', "*(u32*)"}, {'I', "*(u64*)"}, {'f', "*(f32*)"}, {'F', "*(f64*)"}, {'i', "*(u8*)"},
    {'i', "*(u16*)"}, {'I', "*(u8*)"},  {'I', "*(u16*)"}, {'I', "*(u32*)"},
};

static void put_address(struct tr *t, uint32_t addr_depth, uint32_t offset)
{
    put(t, "(M+(u64)");
    put_value(t, addr_depth);
    if (offset) {
        put(t, "+");
        put_u64(t, offset);
        put(t, "u");
    }
    put(t, ")");
}

static bool op_memory_access(struct tr *t, struct rd *r, uint8_t op)
{
    rd_u32(r); /* alignment: a hint */
    uint32_t offset = rd_u32(r);
    if (r->bad || !t->desc->has_memory)
        return tr_invalid(t, "memory access without a memory");
    if (op <= 0x35) {
        const struct memop *m = &loads[op - 0x28];
        if (!pop_expect(t, "i", 1))
            return false;
        put_var(t, t->sp, m->type);
        put(t, "=");
        put(t, m->access);
        put_address(t, t->sp, offset);
        put(t, ";\n");
        return push(t, m->type);
    }
    const struct memop *m = &stores[op - 0x36];
    char types[3] = {'i', m->type, 0};
    if (!pop_expect(t, types, 2))
        return false;
    put(t, m->access);
    put_address(t, t->sp, offset);
    put(t, "=");
    put_value(t, t->sp + 1);
    put(t, ";\n");
    return true;
}

static bool op_memory_size_grow(struct tr *t, struct rd *r, bool grow)
{
    rd_u8(r);
    if (!t->desc->has_memory)
        return tr_invalid(t, "memory instruction without a memory");
    if (grow && !pop_expect(t, "i", 1))
        return false;
    put_var(t, t->sp, 'i');
    if (grow) {
        put(t, "=A->grow_memory(c->m,");
        put_value(t, t->sp);
        put(t, ");\n");
    } else {
        put(t, "=c->m->pages;\n");
    }
    return push(t, 'i');
}

/* ---- constants, variables, references ---- */

static bool op_const(struct tr *t, struct rd *r, uint8_t op)
{
    static const char letters[] = "iIfF";
    char letter = letters[op - 0x41];
    uint64_t v = op == 0x41   ? (uint32_t)rd_sleb(r)
                 : op == 0x42 ? (uint64_t)rd_sleb(r)
                              : rd_fixed(r, op == 0x43 ? 4 : 8);
    if (r->bad || !push(t, letter))
        return r->bad ? tr_invalid(t, "truncated constant") : false;
    t->deferred[t->sp - 1] = DEFER_CONST; /* written where it is used */
    t->deferred_value[t->sp - 1] = v;
    return true;
}

static bool op_local(struct tr *t, struct rd *r, uint8_t op)
{
    uint32_t index = rd_u32(r);
    if (r->bad || index >= t->local_count)
        return tr_invalid(t, "unknown local");
    char letter = t->locals[index];
    if (op == 0x20) { /* read where it is used, unless the local changes first */
        if (!push(t, letter))
            return false;
        t->deferred[t->sp - 1] = DEFER_LOCAL;
        t->deferred_value[t->sp - 1] = index;
        t->deferred_locals++;
        return true;
    }
    char types[2] = {letter, 0};
    if (!expect(t, types, 1))
        return false;
    materialize_local(t, index);
    put(t, "l");
    put_u64(t, index);
    put(t, "=");
    put_value(t, t->sp - 1);
    put(t, ";\n");
    if (op == 0x21)
        drop(t, 1);
    return true;
}

static bool op_global(struct tr *t, struct rd *r, uint8_t op)
{
    uint32_t index = rd_u32(r);
    if (r->bad || index >= t->desc->global_count)
        return tr_invalid(t, "unknown global");
    char letter = t->desc->global_types[index];
    if (op == 0x23) {
        put_var(t, t->sp, letter);
        put(t, "=");
        put_global(t, index);
        put(t, ";\n");
        return push(t, letter);
    }
    char types[2] = {letter, 0};
    if (!t->desc->global_mutable[index] || !pop_expect(t, types, 1))
        return tr_invalid(t, "bad global.set");
    put_global(t, index);
    put(t, "=");
    put_value(t, t->sp);
    put(t, ";\n");
    return true;
}

static bool op_select(struct tr *t, struct rd *r, bool typed)
{
    if (typed) {
        uint32_t n = rd_u32(r);
        if (n != 1)
            return tr_invalid(t, "select with other than one type");
        rd_valtype(r);
    }
    if (!pop_expect(t, "i", 1) || !expect(t, NULL, 2) || t->stack[t->sp - 1] != t->stack[t->sp - 2])
        return tr_invalid(t, "bad select");
    materialize(t, t->sp - 2); /* it is assigned to */
    put(t, "if(!");
    put_value(t, t->sp);
    put(t, ")");
    put_var(t, t->sp - 2, t->stack[t->sp - 2]);
    put(t, "=");
    put_value(t, t->sp - 1);
    put(t, ";\n");
    drop(t, 1);
    return true;
}

static bool op_ref(struct tr *t, struct rd *r, uint8_t op)
{
    if (op == 0xd0) {
        char letter = rd_valtype(r);
        put_var(t, t->sp, letter);
        put(t, letter == 'r' ? "=fnull;\n" : "=0;\n");
        return push(t, letter);
    }
    if (op == 0xd1) {
        if (!expect(t, NULL, 1))
            return false;
        char letter = t->stack[t->sp - 1];
        if (letter != 'r' && letter != 'x')
            return tr_invalid(t, "ref.is_null on a number");
        put_var(t, t->sp - 1, 'i');
        put(t, "=!");
        put_value(t, t->sp - 1);
        put(t, letter == 'r' ? ".func;\n" : ";\n");
        drop(t, 1);
        return push(t, 'i');
    }
    uint32_t func = rd_u32(r);
    if (r->bad || func >= t->desc->func_count)
        return tr_invalid(t, "ref.func of an unknown function");
    t->need_funcref_table = true;
    put_var(t, t->sp, 'r');
    put(t, "=fr(c,");
    put_u64(t, func);
    put(t, ");\n");
    return push(t, 'r');
}

/* ---- tables ---- */

static char table_letter(const struct tr *t, uint32_t table)
{
    return t->desc->table_types[table];
}

static bool op_table_get_set(struct tr *t, struct rd *r, bool set)
{
    uint32_t table = rd_u32(r);
    if (r->bad || table >= t->desc->table_count)
        return tr_invalid(t, "unknown table");
    char letter = table_letter(t, table), types[3] = {'i', letter, 0};
    const char *suffix = letter == 'r' ? "_r(c->t" : "_x(c->t";
    if (set) {
        if (!pop_expect(t, types, 2))
            return false;
        put(t, "tset");
        put(t, suffix);
        put_u64(t, table);
        put(t, ",");
        put_value(t, t->sp);
        put(t, ",");
        put_value(t, t->sp + 1);
        put(t, ");\n");
        return true;
    }
    if (!pop_expect(t, "i", 1))
        return false;
    put_var(t, t->sp, letter);
    put(t, "=tget");
    put(t, suffix);
    put_u64(t, table);
    put(t, ",");
    put_value(t, t->sp);
    put(t, ");\n");
    return push(t, letter);
}

/* Writes `name(prefix, slot, slot, slot);` for three operands of `types`. */
static bool put_call3(struct tr *t, const char *name, const char *prefix, const char *types)
{
    if (!pop_expect(t, types, 3))
        return false;
    put(t, name);
    put(t, "(");
    put(t, prefix);
    for (uint32_t i = 0; i < 3; i++) {
        put(t, ",");
        put_value(t, t->sp + i);
    }
    put(t, ");\n");
    return true;
}

static bool op_bulk_memory(struct tr *t, struct rd *r, uint32_t sub)
{
    if (!t->desc->has_memory && sub != 9)
        return tr_invalid(t, "bulk memory instruction without a memory");
    char prefix[160];
    if (sub == 8) { /* memory.init */
        uint32_t seg = rd_u32(r);
        rd_u8(r);
        if (r->bad || seg >= t->data_count)
            return tr_invalid(t, "unknown data segment");
        snprintf(prefix, sizeof(prefix), "c->m," WASM_TO_C_BYTES_SYMBOL "+%zu,c->dd[%u]?0:%uu",
                 t->datas[seg].bytes, seg, t->datas[seg].len);
        return put_call3(t, "mem_init", prefix, "iii");
    }
    if (sub == 9) { /* data.drop */
        uint32_t seg = rd_u32(r);
        if (r->bad || seg >= t->data_count)
            return tr_invalid(t, "unknown data segment");
        put(t, "c->dd[");
        put_u64(t, seg);
        put(t, "]=1;\n");
        return true;
    }
    if (sub == 10) {
        rd_u8(r);
        rd_u8(r);
        return put_call3(t, "mem_copy", "c->m", "iii");
    }
    rd_u8(r);
    return put_call3(t, "mem_fill", "c->m", "iii");
}

static bool op_bulk_table(struct tr *t, struct rd *r, uint32_t sub)
{
    char prefix[160];
    uint32_t a = rd_u32(r), b = sub == 12 || sub == 14 ? rd_u32(r) : 0;
    if (r->bad)
        return tr_invalid(t, "truncated table instruction");
    if (sub == 13) { /* elem.drop */
        if (a >= t->elem_count)
            return tr_invalid(t, "unknown element segment");
        put(t, "c->ed[");
        put_u64(t, a);
        put(t, "]=1;\n");
        return true;
    }
    if (sub == 12) { /* table.init seg table */
        if (a >= t->elem_count || b >= t->desc->table_count ||
            t->elems[a].type != table_letter(t, b))
            return tr_invalid(t, "bad table.init");
        if (table_letter(t, b) == 'r')
            snprintf(prefix, sizeof(prefix), "c,c->t%u,E%u,c->ed[%u]?0:%uu", b, a, a,
                     t->elems[a].count);
        else
            snprintf(prefix, sizeof(prefix), "c->t%u,c->ed[%u]?0:%uu", b, a, t->elems[a].count);
        t->need_funcref_table |= table_letter(t, b) == 'r';
        return put_call3(t, table_letter(t, b) == 'r' ? "tinit" : "tinit_x", prefix, "iii");
    }
    if (a >= t->desc->table_count || (sub == 14 && b >= t->desc->table_count))
        return tr_invalid(t, "unknown table");
    char letter = table_letter(t, a);
    if (sub == 14) { /* table.copy dst src */
        if (table_letter(t, b) != letter)
            return tr_invalid(t, "table.copy between tables of different types");
        snprintf(prefix, sizeof(prefix), "c->t%u,c->t%u", a, b);
        return put_call3(t, letter == 'r' ? "tcopy_r" : "tcopy_x", prefix, "iii");
    }
    if (sub == 16) { /* table.size */
        put_var(t, t->sp, 'i');
        put(t, "=c->t");
        put_u64(t, a);
        put(t, "->size;\n");
        return push(t, 'i');
    }
    char types[4] = {letter, 'i', 0, 0};
    if (sub == 15) { /* table.grow: init n -> old size */
        if (!pop_expect(t, types, 2))
            return false;
        put_var(t, t->sp, 'i');
        put(t, letter == 'r' ? "=A->grow_funcref_table(c->t" : "=A->grow_externref_table(c->t");
        put_u64(t, a);
        put(t, ",");
        put_value(t, t->sp + 1);
        put(t, ",");
        put_value(t, t->sp);
        put(t, ");\n");
        return push(t, 'i');
    }
    /* table.fill: dst value n */
    snprintf(prefix, sizeof(prefix), "c->t%u", a);
    types[0] = 'i';
    types[1] = letter;
    types[2] = 'i';
    return put_call3(t, letter == 'r' ? "tfill_r" : "tfill_x", prefix, types);
}

static bool op_prefixed(struct tr *t, struct rd *r)
{
    uint32_t sub = rd_u32(r);
    if (r->bad || sub > 17)
        return tr_unsupported(t, "unknown 0xfc instruction");
    if (sub <= 7)
        return op_numeric(t, &satops[sub]);
    if (sub <= 11)
        return op_bulk_memory(t, r, sub);
    return op_bulk_table(t, r, sub);
}

/* ---- skipping unreachable code ---- */

static void skip_immediates(struct rd *r, uint8_t op)
{
    switch (op) {
    case 0x0c:
    case 0x0d:
    case 0x10:
    case 0x20:
    case 0x21:
    case 0x22:
    case 0x23:
    case 0x24:
    case 0x25:
    case 0x26:
    case 0xd2:
        rd_u32(r);
        break;
    case 0x0e:
        for (uint32_t n = rd_u32(r) + 1; n && !r->bad; n--)
            rd_u32(r);
        break;
    case 0x11:
        rd_u32(r);
        rd_u32(r);
        break;
    case 0x1c:
        for (uint32_t n = rd_u32(r); n && !r->bad; n--)
            rd_u8(r);
        break;
    case 0x3f:
    case 0x40:
    case 0xd0:
        rd_u8(r);
        break;
    case 0x41:
    case 0x42:
        rd_sleb(r);
        break;
    case 0x43:
        rd_fixed(r, 4);
        break;
    case 0x44:
        rd_fixed(r, 8);
        break;
    case 0xfc: {
        uint32_t sub = rd_u32(r);
        if (sub == 8 || sub == 12 || sub == 14) {
            rd_u32(r);
            sub == 8 ? (void)rd_u8(r) : (void)rd_u32(r);
        } else if (sub == 9 || sub == 13 || sub == 15 || sub == 16 || sub == 17) {
            rd_u32(r);
        } else if (sub == 10) {
            rd_u8(r);
            rd_u8(r);
        } else if (sub == 11) {
            rd_u8(r);
        }
        break;
    }
    default:
        if (op >= 0x28 && op <= 0x3e) {
            rd_u32(r);
            rd_u32(r);
        }
    }
}

/* Unreachable code: true when `op` ends the skipping (an else or end of the dead block). */
static bool skip_dead(struct tr *t, struct rd *r, uint8_t op)
{
    if (op == 0x02 || op == 0x03 || op == 0x04) {
        struct sig s;
        read_blocktype(t, r, &s);
        t->dead_nesting++;
        return false;
    }
    if ((op == 0x0b || op == 0x05) && t->dead_nesting == 0)
        return true;
    if (op == 0x0b)
        t->dead_nesting--;
    else
        skip_immediates(r, op);
    return false;
}

/* ---- one instruction ---- */

static bool op_control(struct tr *t, struct rd *r, uint8_t op, bool *done)
{
    switch (op) {
    case 0x00:
        put(t, "TRAP(UNREACHABLE);\n");
        t->dead = true;
        return true;
    case 0x01:
        return true;
    case 0x02:
        return op_block(t, r, CTL_BLOCK);
    case 0x03:
        return op_block(t, r, CTL_LOOP);
    case 0x04:
        return op_block(t, r, CTL_IF);
    case 0x05:
        return op_else(t);
    case 0x0b:
        return op_end(t, done);
    case 0x0c:
        t->dead = true;
        materialize_all(t);
        return put_branch(t, rd_u32(r));
    case 0x0d: {
        uint32_t depth = rd_u32(r);
        if (!pop_expect(t, "i", 1))
            return false;
        materialize_all(t);
        put(t, "if(");
        put_value(t, t->sp);
        put(t, "){");
        return put_branch(t, depth) && (put(t, "}\n"), true);
    }
    case 0x0e:
        return op_br_table(t, r);
    case 0x0f:
        t->dead = true;
        return expect(t, t->ctls[0].results, t->ctls[0].nresults) && (put_return(t), true);
    case 0x10:
        return op_call(t, r);
    case 0x11:
        return op_call_indirect(t, r);
    default: /* exceptions: refused by the decoder already */
        return tr_unsupported(t, "instruction the translator does not know");
    }
}

static bool op_one(struct tr *t, struct rd *r, uint8_t op, bool *done)
{
    if (op <= 0x11)
        return op_control(t, r, op, done);
    if (op == 0x1a)
        return pop_expect(t, NULL, 1);
    if (op == 0x1b || op == 0x1c)
        return op_select(t, r, op == 0x1c);
    if (op >= 0x20 && op <= 0x22)
        return op_local(t, r, op);
    if (op == 0x23 || op == 0x24)
        return op_global(t, r, op);
    if (op == 0x25 || op == 0x26)
        return op_table_get_set(t, r, op == 0x26);
    if (op >= 0x28 && op <= 0x3e)
        return op_memory_access(t, r, op);
    if (op == 0x3f || op == 0x40)
        return op_memory_size_grow(t, r, op == 0x40);
    if (op >= 0x41 && op <= 0x44)
        return op_const(t, r, op);
    if (op >= 0x45 && op <= 0xc4 && numops[op].in)
        return op_numeric(t, &numops[op]);
    if (op >= 0xd0 && op <= 0xd2)
        return op_ref(t, r, op);
    if (op == 0xfc)
        return op_prefixed(t, r);
    return tr_unsupported(t, "instruction the translator does not know");
}

/* ---- functions ---- */

static bool read_locals(struct tr *t, struct rd *r, const struct sig *s)
{
    uint32_t groups = rd_u32(r);
    uint64_t total = s->nparams;
    const uint8_t *start = r->p;
    for (uint32_t g = 0; g < groups && !r->bad; g++) {
        total += rd_u32(r);
        rd_valtype(r);
    }
    if (r->bad || total > TR_MAX_LOCALS)
        return tr_unsupported(t, "more locals than the translator allows");
    t->locals = realloc(t->locals, total + 1);
    if (!t->locals)
        return tr_fail(t, FL_ERR_NOMEM, "out of memory");
    memcpy(t->locals, s->params, s->nparams);
    t->local_count = s->nparams;
    r->p = start;
    for (uint32_t g = 0; g < groups; g++) {
        uint32_t n = rd_u32(r);
        char letter = rd_valtype(r);
        memset(t->locals + t->local_count, letter, n);
        t->local_count += n;
    }
    return true;
}

static bool translate_body(struct tr *t, struct rd *r, const struct sig *s)
{
    t->sp = 0;
    t->deferred_locals = 0;
    t->nctl = 0;
    t->dead = false;
    t->dead_nesting = 0;
    memset(t->max_depth, 0, sizeof(t->max_depth));
    struct sig func_block = {"", s->results, 0, s->nresults};
    if (!push_ctl(t, CTL_FUNC, &func_block))
        return false;
    bool done = false;
    while (!done) {
        uint8_t op = rd_u8(r);
        if (r->bad)
            return tr_invalid(t, "function body ends before its end");
        if (t->dead && !skip_dead(t, r, op))
            continue;
        if (!op_one(t, r, op, &done) || t->err != FL_OK)
            return false;
        if (r->bad)
            return tr_invalid(t, "truncated instruction");
        if (t->oom)
            return tr_fail(t, FL_ERR_NOMEM, "output too large");
    }
    if (r->p != r->end)
        return tr_invalid(t, "bytes after the end of a function body");
    return true;
}

static void put_signature(struct tr *t, uint32_t func, bool names)
{
    struct sig s = sig_of_func(t, func);
    put(t, "static ");
    put_ret_type(t, s.results, s.nresults);
    put(t, " w");
    put_u64(t, func);
    put(t, names ? "(void*cv" : "(void*");
    for (uint32_t i = 0; i < s.nparams; i++) {
        put(t, ",");
        put_ctype(t, s.params[i]);
        if (names) {
            put(t, " l");
            put_u64(t, i);
        }
    }
    put(t, ")");
}

static void put_declarations(struct tr *t, uint32_t nparams)
{
    for (uint32_t i = nparams; i < t->local_count; i++) {
        put_ctype(t, t->locals[i]);
        put(t, " l");
        put_u64(t, i);
        put(t, t->locals[i] == 'r' ? "={0};" : "=0;");
    }
    static const char letters[] = "iIfFrx";
    for (int k = 0; k < 6; k++) {
        if (!t->max_depth[k])
            continue;
        put_ctype(t, letters[k]);
        for (uint32_t d = 0; d < t->max_depth[k]; d++) {
            char name[2] = {slot_prefix[k], 0};
            put(t, d ? "," : " ");
            put(t, name);
            put_u64(t, d);
        }
        put(t, ";\n");
    }
}

/* One function: its body is translated aside, then written after its declarations. */
static bool translate_function(struct tr *t, uint32_t body_index)
{
    uint32_t func = t->func_imports + body_index;
    t->func = func;
    const struct wasm_desc *d = t->desc;
    struct rd r = {t->wasm + d->body_offsets[body_index], t->wasm + d->body_offsets[body_index + 1],
                   false};
    uint32_t size = rd_u32(&r);
    if (r.bad || size != (size_t)(r.end - r.p))
        return tr_invalid(t, "bad body size");
    struct sig s = sig_of_func(t, func);
    if (!read_locals(t, &r, &s))
        return false;
    struct fl_buf out = t->body; /* the file so far */
    fl_buf_init(&t->body, out.max);
    bool ok = translate_body(t, &r, &s);
    struct fl_buf code = t->body;
    t->body = out;
    if (ok) {
        put_signature(t, func, true);
        put(t, "{struct I*c=cv;(void)c;");
        if (d->has_memory)
            put(t, "u8*M=c->m->data;(void)M;");
        put(t, "\n");
        put_declarations(t, s.nparams);
        put_len(t, code.data ? code.data : "", code.len);
        put(t, "}\n");
    }
    fl_buf_deinit(&code);
    return ok && !t->oom;
}

/* ---- module sections ---- */

/* Skips a constant expression, keeping its start. */
static bool skip_const_expr(struct rd *r, size_t *start, const uint8_t *base)
{
    *start = (size_t)(r->p - base);
    for (uint8_t op; (op = rd_u8(r)) != 0x0b && !r->bad;)
        skip_immediates(r, op);
    return !r->bad;
}

static bool read_tables(struct tr *t, struct rd *r)
{
    uint32_t n = rd_u32(r);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint32_t table = t->table_imports + i;
        if (table >= t->desc->table_count)
            return tr_invalid(t, "table count disagrees with the decoder");
        rd_u8(r); /* reference type: the decoder kept it */
        uint8_t flags = rd_u8(r);
        t->table_min[table] = rd_u32(r);
        t->table_max[table] = flags & 1 ? rd_u32(r) : UINT32_MAX;
    }
    return !r->bad;
}

static bool read_globals(struct tr *t, struct rd *r)
{
    uint32_t n = rd_u32(r);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        if (t->global_imports + i >= t->desc->global_count)
            return tr_invalid(t, "global count disagrees with the decoder");
        rd_valtype(r);
        rd_u8(r);
        if (!skip_const_expr(r, &t->global_init[i], t->wasm))
            return false;
    }
    return !r->bad;
}

static bool read_elem_items(struct tr *t, struct rd *r, struct elem_seg *e, bool expressions)
{
    e->count = rd_u32(r);
    if (r->bad || e->count > (size_t)(r->end - r->p))
        return tr_invalid(t, "bad element segment");
    e->items = calloc(e->count + 1, sizeof(uint32_t));
    if (!e->items)
        return tr_fail(t, FL_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < e->count && !r->bad; i++) {
        if (!expressions) {
            e->items[i] = rd_u32(r);
        } else {
            uint8_t op = rd_u8(r);
            if (op == 0xd2)
                e->items[i] = rd_u32(r);
            else if (op == 0xd0 && (rd_u8(r), true))
                e->items[i] = UINT32_MAX;
            else
                return tr_unsupported(t, "element expression other than ref.func or ref.null");
            if (rd_u8(r) != 0x0b)
                return tr_unsupported(t, "element expression of more than one instruction");
        }
        if (e->items[i] != UINT32_MAX && e->items[i] >= t->desc->func_count)
            return tr_invalid(t, "element refers to an unknown function");
    }
    return !r->bad;
}

static bool read_elem(struct tr *t, struct rd *r, struct elem_seg *e)
{
    uint32_t flags = rd_u32(r);
    if (flags > 7)
        return tr_invalid(t, "bad element segment flags");
    e->mode = flags & 1 ? (flags & 2 ? 2 : 1) : 0;
    e->type = 'r';
    if (e->mode == 0) {
        e->table = flags & 2 ? rd_u32(r) : 0;
        if (!skip_const_expr(r, &e->offset_expr, t->wasm))
            return false;
    }
    if (flags & 3) { /* an element kind or reference type follows */
        uint8_t kind = rd_u8(r);
        e->type = (flags & 4) && kind == 0x6f ? 'x' : 'r';
    }
    if (e->mode == 0 && (e->table >= t->desc->table_count || table_letter(t, e->table) != e->type))
        return tr_invalid(t, "element segment for an unknown table");
    return read_elem_items(t, r, e, flags & 4);
}

static bool read_elems(struct tr *t, struct rd *r)
{
    t->elem_count = rd_u32(r);
    if (r->bad || t->elem_count > (size_t)(r->end - r->p))
        return tr_invalid(t, "bad element section");
    t->elems = calloc(t->elem_count + 1, sizeof(*t->elems));
    if (!t->elems)
        return tr_fail(t, FL_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < t->elem_count; i++)
        if (!read_elem(t, r, &t->elems[i]))
            return false;
    return !r->bad;
}

static bool read_datas(struct tr *t, struct rd *r)
{
    t->data_count = rd_u32(r);
    if (r->bad || t->data_count > (size_t)(r->end - r->p))
        return tr_invalid(t, "bad data section");
    t->datas = calloc(t->data_count + 1, sizeof(*t->datas));
    if (!t->datas)
        return tr_fail(t, FL_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < t->data_count && !r->bad; i++) {
        struct data_seg *s = &t->datas[i];
        uint32_t flags = rd_u32(r);
        s->active = flags != 1;
        if (flags == 2)
            rd_u32(r);
        if (s->active && !skip_const_expr(r, &s->offset_expr, t->wasm))
            return false;
        s->len = rd_u32(r);
        s->bytes = (size_t)(r->p - t->wasm);
        if (r->bad || s->len > (size_t)(r->end - r->p) || flags > 2)
            return tr_invalid(t, "bad data segment");
        r->p += s->len;
    }
    return !r->bad;
}

static bool read_sections(struct tr *t)
{
    struct rd r = {t->wasm + 8, t->wasm + t->len, false};
    while (r.p < r.end && !r.bad) {
        uint8_t id = rd_u8(&r);
        uint32_t size = rd_u32(&r);
        if (r.bad || size > (size_t)(r.end - r.p))
            return tr_invalid(t, "bad section size");
        struct rd s = {r.p, r.p + size, false};
        bool ok = true;
        if (id == 4)
            ok = read_tables(t, &s);
        else if (id == 6)
            ok = read_globals(t, &s);
        else if (id == 8)
            t->has_start = true, t->start = rd_u32(&s);
        else if (id == 9)
            ok = read_elems(t, &s);
        else if (id == 11)
            ok = read_datas(t, &s);
        if (!ok || s.bad)
            return t->err != FL_OK ? false : tr_invalid(t, "bad section");
        r.p += size;
    }
    if (t->has_start && t->start >= t->desc->func_count)
        return tr_invalid(t, "unknown start function");
    return !r.bad;
}

static bool map_imports(struct tr *t)
{
    const struct wasm_desc *d = t->desc;
    size_t n = d->import_count + 1;
    t->import_of_func = calloc(n, sizeof(uint32_t));
    t->import_of_global = calloc(n, sizeof(uint32_t));
    t->import_of_table = calloc(n, sizeof(uint32_t));
    t->table_min = calloc(d->table_count + 1, sizeof(uint32_t));
    t->table_max = calloc(d->table_count + 1, sizeof(uint32_t));
    t->global_init = calloc(d->global_count + 1, sizeof(size_t));
    t->ctls = calloc(TR_MAX_CONTROL, sizeof(struct ctl));
    if (!t->import_of_func || !t->import_of_global || !t->import_of_table || !t->table_min ||
        !t->table_max || !t->global_init || !t->ctls)
        return tr_fail(t, FL_ERR_NOMEM, "out of memory");
    for (uint32_t i = 0; i < d->import_count; i++) {
        const struct wasm_import *imp = &d->imports[i];
        if (imp->kind == WASM_EXTERN_FUNC) {
            if (strchr(d->type_sigs[imp->type_index], 'r'))
                return tr_unsupported(t, "imported function with funcref values");
            t->import_of_func[t->func_imports++] = i;
        } else if (imp->kind == WASM_EXTERN_GLOBAL) {
            t->import_of_global[t->global_imports++] = i;
        } else if (imp->kind == WASM_EXTERN_TABLE) {
            t->table_min[t->table_imports] = imp->limits_min;
            t->import_of_table[t->table_imports++] = i;
        } else {
            t->memory_import = i;
        }
    }
    return true;
}

/* ---- the file ---- */

static void put_multi_structs(struct tr *t)
{
    const struct wasm_desc *d = t->desc;
    for (uint32_t i = 0; i < d->type_count; i++) {
        struct sig s = sig_of_type(t, i);
        bool seen = false;
        for (uint32_t j = 0; j < i && !seen; j++)
            seen = strcmp(strchr(d->type_sigs[j], ':') + 1, s.results) == 0;
        if (s.nresults < 2 || seen)
            continue;
        put_multi_name(t, s.results, s.nresults);
        put(t, "{");
        for (uint32_t k = 0; k < s.nresults; k++) {
            put_ctype(t, s.results[k]);
            put(t, " ");
            put_multi_field(t, s.results[k], k);
            put(t, ";");
        }
        put(t, "};\n");
    }
}

static void put_instance_struct(struct tr *t)
{
    const struct wasm_desc *d = t->desc;
    put(t, "struct I{void*ctx;wasm_rt_memory_t*m;wasm_rt_memory_t mo;\n");
    for (uint32_t i = 0; i < d->table_count; i++) {
        const char *type = d->table_types[i] == 'r' ? "ftab" : "xtab";
        put(t, type);
        put(t, "*t");
        put_u64(t, i);
        put(t, ";");
        put(t, type);
        put(t, " to");
        put_u64(t, i);
        put(t, ";\n");
    }
    for (uint32_t i = 0; i < d->global_count; i++) {
        put_ctype(t, d->global_types[i]);
        put(t, i < t->global_imports ? "*g" : " g");
        put_u64(t, i);
        put(t, ";\n");
    }
    put(t, "u8 dd[");
    put_u64(t, t->data_count + 1);
    put(t, "];u8 ed[");
    put_u64(t, t->elem_count + 1);
    put(t, "];};\n");
}

static const char tr_module_helpers[] =
    "static const fref fnull;\n"
    "static fref fr(struct I*c,u32 k);\n"
    "static void tinit(struct I*c,ftab*t,const u32*seg,u32 len,u32 d,u32 s,u32 n)"
    "{range_check(s,n,len);range_check(d,n,t->size);"
    "for(u32 k=0;k<n;k++)t->data[d+k]=fr(c,seg[s+k]);}\n"
    "static void tinit_x(xtab*t,u32 len,u32 d,u32 s,u32 n)"
    "{range_check(s,n,len);range_check(d,n,t->size);for(u32 k=0;k<n;k++)t->data[d+k]=0;}\n";

/* Imported functions: a C function per import that packs the values for the host. */
static void put_import_wrapper(struct tr *t, uint32_t func)
{
    struct sig s = sig_of_func(t, func);
    put_signature(t, func, true);
    put(t, "{u64 a[");
    put_u64(t, s.nparams + 1);
    put(t, "],r[");
    put_u64(t, s.nresults + 1);
    put(t, "];");
    for (uint32_t i = 0; i < s.nparams; i++) {
        put(t, "a[");
        put_u64(t, i);
        put(t, "]=");
        put_to_slot(t, s.params[i]);
        put(t, "(l");
        put_u64(t, i);
        put(t, ");");
    }
    put(t, "A->import_call(cv,");
    put_u64(t, t->import_of_func[func]);
    put(t, ",a,r);");
    if (s.nresults == 1) {
        put(t, "return ");
        put_from_slot(t, s.results[0], "r", 0);
        put(t, ";");
    } else if (s.nresults > 1) {
        put_multi_name(t, s.results, s.nresults);
        put(t, " v;");
        for (uint32_t i = 0; i < s.nresults; i++) {
            put(t, "v.");
            put_multi_field(t, s.results[i], i);
            put(t, "=");
            put_from_slot(t, s.results[i], "r", i);
            put(t, ";");
        }
        put(t, "return v;");
    }
    put(t, "}\n");
}

static void put_elem_arrays(struct tr *t)
{
    for (uint32_t i = 0; i < t->elem_count; i++) {
        const struct elem_seg *e = &t->elems[i];
        put(t, "static const u32 E");
        put_u64(t, i);
        put(t, "[]={");
        for (uint32_t k = 0; k < e->count; k++) {
            put_u64(t, e->items[k]);
            put(t, "u,");
        }
        put(t, "0};\n");
        t->need_funcref_table |= e->type == 'r' && e->count > 0;
    }
}

/* The funcref of function k: its type, code and the instance (an import's: the context). */
static void put_funcref_table(struct tr *t)
{
    put(t, "static fref fr(struct I*c,u32 k){");
    if (t->need_funcref_table) {
        put(t, "static const struct{wasm_rt_function_ptr_t f;u32 t;}T[]={\n");
        for (uint32_t f = 0; f < t->desc->func_count; f++) {
            put(t, "{(wasm_rt_function_ptr_t)w");
            put_u64(t, f);
            put(t, ",");
            put_u64(t, t->desc->func_types[f]);
            put(t, "},\n");
        }
        put(t, "{0,0}};\nfref v;if(k==0xffffffffu)return fnull;v.func_type=ty[T[k].t];"
               "v.func=T[k].f;v.module_instance=k<");
        put_u64(t, t->func_imports);
        put(t, "u?c->ctx:(void*)c;return v;}\n");
    } else {
        put(t, "(void)c;(void)k;return fnull;}\n");
    }
}

/* A constant expression (globals, segment offsets) as C. */
static bool put_const_expr(struct tr *t, size_t at)
{
    struct rd r = {t->wasm + at, t->wasm + t->len, false};
    uint8_t op = rd_u8(&r);
    if (op == 0x41) {
        put_hex(t, (uint32_t)rd_sleb(&r));
        put(t, "u");
    } else if (op == 0x42) {
        put_hex(t, (uint64_t)rd_sleb(&r));
        put(t, "ull");
    } else if (op == 0x43 || op == 0x44) {
        put(t, op == 0x43 ? "fromb32(" : "fromb64(");
        put_hex(t, rd_fixed(&r, op == 0x43 ? 4 : 8));
        put(t, op == 0x43 ? "u)" : "ull)");
    } else if (op == 0x23) {
        uint32_t g = rd_u32(&r);
        if (g >= t->desc->global_count)
            return tr_invalid(t, "constant expression reads an unknown global");
        put_global(t, g);
    } else if (op == 0xd0) {
        put(t, rd_u8(&r) == 0x70 ? "fnull" : "0");
    } else if (op == 0xd2) {
        uint32_t f = rd_u32(&r);
        if (f >= t->desc->func_count)
            return tr_invalid(t, "constant expression refers to an unknown function");
        t->need_funcref_table = true;
        put(t, "fr(c,");
        put_u64(t, f);
        put(t, ")");
    } else {
        return tr_unsupported(t, "constant expression the translator does not know");
    }
    if (rd_u8(&r) != 0x0b || r.bad)
        return tr_unsupported(t, "constant expression of more than one instruction");
    return true;
}

static void put_import_ptrs(struct tr *t)
{
    const struct wasm_desc *d = t->desc;
    for (uint32_t i = 0; i < t->global_imports; i++) {
        put(t, "c->g");
        put_u64(t, i);
        put(t, "=A->import_ptr(ctx,");
        put_u64(t, t->import_of_global[i]);
        put(t, ");\n");
    }
    for (uint32_t i = 0; i < t->table_imports; i++) {
        put(t, "c->t");
        put_u64(t, i);
        put(t, "=A->import_ptr(ctx,");
        put_u64(t, t->import_of_table[i]);
        put(t, ");\n");
    }
    if (d->has_memory && d->memory_imported) {
        put(t, "c->m=A->import_ptr(ctx,");
        put_u64(t, t->memory_import);
        put(t, ");\n");
    }
}

static bool put_own_state(struct tr *t)
{
    const struct wasm_desc *d = t->desc;
    for (uint32_t i = t->global_imports; i < d->global_count; i++) {
        put(t, "c->g");
        put_u64(t, i);
        put(t, "=");
        if (!put_const_expr(t, t->global_init[i - t->global_imports]))
            return false;
        put(t, ";\n");
    }
    if (d->has_memory && !d->memory_imported) {
        put(t, "A->allocate_memory(&c->mo,");
        put_u64(t, d->memory_min_pages);
        put(t, ",");
        put_u64(t, d->memory_has_max ? d->memory_max_pages : 65536);
        put(t, ");c->m=&c->mo;\n");
    }
    for (uint32_t i = t->table_imports; i < d->table_count; i++) {
        put(t, d->table_types[i] == 'r' ? "A->allocate_funcref_table(&c->to"
                                        : "A->allocate_externref_table(&c->to");
        put_u64(t, i);
        put(t, ",");
        put_u64(t, t->table_min[i]);
        put(t, ",");
        put_u64(t, t->table_max[i]);
        put(t, "u);c->t");
        put_u64(t, i);
        put(t, "=&c->to");
        put_u64(t, i);
        put(t, ";\n");
    }
    return true;
}

/* Active segments (elements, then data, as the specification orders them), then start. */
static bool put_segments_and_start(struct tr *t)
{
    for (uint32_t i = 0; i < t->elem_count; i++) {
        const struct elem_seg *e = &t->elems[i];
        if (e->mode == 0) {
            put(t, e->type == 'r' ? "tinit(c,c->t" : "tinit_x(c->t");
            put_u64(t, e->table);
            if (e->type == 'r') {
                put(t, ",E");
                put_u64(t, i);
            }
            put(t, ",");
            put_u64(t, e->count);
            put(t, "u,");
            if (!put_const_expr(t, e->offset_expr))
                return false;
            put(t, ",0,");
            put_u64(t, e->count);
            put(t, "u);\n");
        }
        if (e->mode != 1) {
            put(t, "c->ed[");
            put_u64(t, i);
            put(t, "]=1;\n");
        }
    }
    for (uint32_t i = 0; i < t->data_count; i++) {
        const struct data_seg *s = &t->datas[i];
        if (!s->active)
            continue;
        if (!t->desc->has_memory)
            return tr_invalid(t, "active data segment without a memory");
        put(t, "mem_init(c->m," WASM_TO_C_BYTES_SYMBOL "+");
        put_u64(t, s->bytes);
        put(t, ",");
        put_u64(t, s->len);
        put(t, "u,");
        if (!put_const_expr(t, s->offset_expr))
            return false;
        put(t, ",0,");
        put_u64(t, s->len);
        put(t, "u);c->dd[");
        put_u64(t, i);
        put(t, "]=1;\n");
    }
    if (t->has_start) {
        put(t, "w");
        put_u64(t, t->start);
        put(t, t->start < t->func_imports ? "(c->ctx);\n" : "(c);\n");
    }
    return true;
}

static void put_init_module(struct tr *t)
{
    const struct wasm_desc *d = t->desc;
    put(t, "static u32 ty[");
    put_u64(t, d->type_count + 1);
    put(t, "];\nvoid fl_glue_init_module(void){\n");
    for (uint32_t i = 0; i < d->type_count; i++) {
        struct sig s = sig_of_type(t, i);
        put(t, "{static const int k[]={");
        for (const char *p = d->type_sigs[i]; *p; p++) {
            if (*p == ':')
                continue;
            put_u64(t, (uint64_t)type_index(*p));
            put(t, ",");
        }
        put(t, "0};ty[");
        put_u64(t, i);
        put(t, "]=A->register_func_type(");
        put_u64(t, s.nparams);
        put(t, ",");
        put_u64(t, s.nresults);
        put(t, ",k);}\n");
    }
    put(t, "}\n");
}

static bool put_instantiate(struct tr *t)
{
    put(t, "void fl_glue_instantiate(void*inst,void*ctx){struct I*c=inst;c->ctx=ctx;\n");
    put_import_ptrs(t);
    if (!put_own_state(t) || !put_segments_and_start(t))
        return false;
    put(t, "}\nvoid fl_glue_free(void*inst){struct I*c=inst;(void)c;\n");
    const struct wasm_desc *d = t->desc;
    if (d->has_memory && !d->memory_imported)
        put(t, "A->free_memory(&c->mo);\n");
    for (uint32_t i = t->table_imports; i < d->table_count; i++) {
        put(t, d->table_types[i] == 'r' ? "A->free_funcref_table(&c->to"
                                        : "A->free_externref_table(&c->to");
        put_u64(t, i);
        put(t, ");\n");
    }
    put(t, "}\nconst uint32_t fl_glue_instance_size=sizeof(struct I);\n");
    return true;
}

/* An export's caller: slots in, slots out (the host's uniform calling convention). */
static void put_export_call(struct tr *t, uint32_t index, uint32_t func)
{
    struct sig s = sig_of_func(t, func);
    put(t, "static void fl_call");
    put_u64(t, index);
    put(t, "(void*inst,const uint64_t*a,uint64_t*r){struct I*c=inst;(void)a;(void)r;");
    if (s.nresults > 0) {
        put_ret_type(t, s.results, s.nresults);
        put(t, " v=");
    }
    put(t, "w");
    put_u64(t, func);
    put(t, func < t->func_imports ? "(c->ctx" : "(c");
    for (uint32_t i = 0; i < s.nparams; i++) {
        put(t, ",");
        put_from_slot(t, s.params[i], "a", i);
    }
    put(t, ");");
    for (uint32_t i = 0; i < s.nresults; i++) {
        put(t, "r[");
        put_u64(t, i);
        put(t, "]=");
        put_to_slot(t, s.results[i]);
        put(t, "(v");
        if (s.nresults > 1) {
            put(t, ".");
            put_multi_field(t, s.results[i], i);
        }
        put(t, ");");
    }
    put(t, "}\n");
}

static void put_export_get(struct tr *t, uint32_t index, const struct wasm_export *exp)
{
    put(t, "static void*fl_get");
    put_u64(t, index);
    put(t, "(void*inst){struct I*c=inst;return ");
    if (exp->kind == WASM_EXTERN_MEMORY) {
        put(t, "c->m");
    } else if (exp->kind == WASM_EXTERN_TABLE) {
        put(t, "c->t");
        put_u64(t, exp->index);
    } else {
        put(t, exp->index < t->global_imports ? "c->g" : "&c->g");
        put_u64(t, exp->index);
    }
    put(t, ";}\n");
}

static bool put_exports(struct tr *t)
{
    const struct wasm_desc *d = t->desc;
    for (uint32_t i = 0; i < d->export_count; i++) {
        const struct wasm_export *exp = &d->exports[i];
        if (exp->kind != WASM_EXTERN_FUNC)
            put_export_get(t, i, exp);
        else if (!strchr(wasm_desc_func_sig(d, exp->index), 'r'))
            put_export_call(t, i, exp->index);
    }
    put(t, "const struct fl_glue_export fl_glue_exports[]={\n");
    for (uint32_t i = 0; i < d->export_count; i++) {
        const struct wasm_export *exp = &d->exports[i];
        const char *sig = exp->kind == WASM_EXTERN_FUNC ? wasm_desc_func_sig(d, exp->index) : NULL;
        bool callable = sig && !strchr(sig, 'r');
        put(t, "{");
        if (!glue_c_string(&t->body, exp->name, exp->name_len))
            t->oom = true;
        put(t, ",");
        put_u64(t, exp->name_len);
        put(t, ",");
        put_u64(t, (uint64_t)exp->kind);
        put(t, ",");
        if (!(sig ? glue_c_string(&t->body, sig, strlen(sig)) : fl_buf_append(&t->body, "0", 1)))
            t->oom = true;
        put(t, callable ? ",fl_call" : exp->kind == WASM_EXTERN_FUNC ? ",0,0},\n" : ",0,fl_get");
        if (callable || exp->kind != WASM_EXTERN_FUNC) {
            put_u64(t, i);
            put(t, callable ? ",0},\n" : "},\n");
        }
    }
    put(t, "{0,0,0,0,0,0}};\nconst uint32_t fl_glue_export_count=");
    put_u64(t, d->export_count);
    put(t, ";\n");
    return true;
}

static bool translate_module(struct tr *t)
{
    const struct wasm_desc *d = t->desc;
    if (!map_imports(t) || !read_sections(t))
        return false;
    put(t, "/* Generated by funless tier 0 (" FL_GLUE_VERSION "). */\n#include <wasm-rt.h>\n");
    put(t, FL_RT_API_DECL);
    put(t, FL_GLUE_EXPORT_DECL);
    put(t, fl_tier0_prelude);
    put(t, "extern const u8 " WASM_TO_C_BYTES_SYMBOL "[];\n");
    put_multi_structs(t);
    put_instance_struct(t);
    put(t, tr_module_helpers);
    put_init_module(t);
    for (uint32_t f = 0; f < d->func_count; f++) {
        put_signature(t, f, false);
        put(t, ";\n");
    }
    for (uint32_t f = 0; f < t->func_imports; f++)
        put_import_wrapper(t, f);
    put_elem_arrays(t);
    if (d->body_count != d->func_count - t->func_imports)
        return tr_invalid(t, "function and code section counts differ");
    for (uint32_t i = 0; i < d->body_count; i++)
        if (!translate_function(t, i))
            return false;
    put_funcref_table(t);
    return put_instantiate(t) && put_exports(t) && !t->oom;
}

static void tr_free(struct tr *t)
{
    free(t->import_of_func);
    free(t->import_of_global);
    free(t->import_of_table);
    free(t->table_min);
    free(t->table_max);
    free(t->global_init);
    for (uint32_t i = 0; t->elems && i < t->elem_count; i++)
        free(t->elems[i].items);
    free(t->elems);
    free(t->datas);
    free(t->ctls);
    free(t->locals);
}

enum fl_err wasm_to_c(const uint8_t *wasm, size_t len, const struct wasm_desc *desc,
                      struct fl_buf *out, char *detail, size_t detail_len)
{
    struct tr *t = calloc(1, sizeof(*t));
    if (!t)
        return FL_ERR_NOMEM;
    *t = (struct tr){.wasm = wasm,
                     .len = len,
                     .desc = desc,
                     .detail = detail,
                     .detail_len = detail_len,
                     .err = FL_OK};
    t->body = *out; /* written in place: the buffer is handed back below */
    bool ok = len >= 8 && translate_module(t);
    *out = t->body;
    enum fl_err err = ok ? FL_OK : t->err != FL_OK ? t->err : FL_ERR_NOMEM;
    if (!ok && t->err == FL_OK)
        snprintf(detail, detail_len, "tier-0 translator: output too large");
    tr_free(t);
    free(t);
    return err;
}
