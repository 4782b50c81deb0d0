/*
 * glue — writes the C file compiled next to wasm2c's output (see rt_api.h).
 *
 * For a module translated with `wasm2c -n m` it defines: the wasm_rt_*
 * functions as calls through the host's table, one wrapper per import that
 * packs its arguments into a uint64_t array for the host's dispatcher, one
 * uniform caller per exported function, an export table, and the
 * instantiate/free entry points. Names follow wasm2c 1.0.32's mangling.
 */
#include "engine/glue.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/anonymize.h"
#include "engine/rt_api.h"

/* wasm2c's names for the anonymized module's import i and export i (anonymize.h). */
#define GLUE_IMPORT "Z_" ANONYMIZE_IMPORT_MODULE "Z_f%u"
#define GLUE_IMPORTS_STRUCT "struct Z_" ANONYMIZE_IMPORT_MODULE "_instance_t"
#define GLUE_EXPORT "Z_mZ_e%u"

static const char *glue_ctype(char letter)
{
    switch (letter) {
    case 'i':
        return "u32";
    case 'I':
        return "u64";
    case 'f':
        return "f32";
    case 'F':
        return "f64";
    case 'r':
        return "wasm_rt_funcref_t";
    default:
        return "wasm_rt_externref_t";
    }
}

/* The letter wasm2c uses in multi-value struct names and fields. */
static char glue_multi_letter(char letter)
{
    switch (letter) {
    case 'i':
        return 'i';
    case 'I':
        return 'j';
    case 'f':
        return 'f';
    case 'F':
        return 'd';
    case 'r':
        return 'r';
    default:
        return 'e';
    }
}

/* Expression converting a uint64_t slot to the C type of `letter`. */
static bool glue_from_slot(struct fl_buf *out, char letter, const char *slot)
{
    switch (letter) {
    case 'i':
        return fl_buf_printf(out, "(u32)%s", slot);
    case 'I':
        return fl_buf_printf(out, "(u64)%s", slot);
    case 'f':
        return fl_buf_printf(out, "fl_f32(%s)", slot);
    case 'F':
        return fl_buf_printf(out, "fl_f64(%s)", slot);
    default:
        return fl_buf_printf(out, "(void *)(uintptr_t)%s", slot);
    }
}

static const char *glue_to_slot_fn(char letter)
{
    switch (letter) {
    case 'f':
        return "fl_bits_f32";
    case 'F':
        return "fl_bits_f64";
    case 'x':
        return "(uint64_t)(uintptr_t)";
    default:
        return "(uint64_t)";
    }
}

static bool glue_supported_sig(const char *sig)
{
    return strchr(sig, 'r') == NULL; /* funcref values cannot travel in a uint64_t slot */
}

static const char glue_prelude[] =
    "#include <stdarg.h>\n#include <stdlib.h>\n#include <string.h>\n"
    "static const struct fl_rt_api *fl_api;\n"
    "void fl_glue_bind(const struct fl_rt_api *api) { fl_api = api; }\n"
    "static uint64_t fl_bits_f32(f32 v) { uint32_t b; memcpy(&b, &v, 4); return b; }\n"
    "static uint64_t fl_bits_f64(f64 v) { uint64_t b; memcpy(&b, &v, 8); return b; }\n"
    "static f32 fl_f32(uint64_t s) { uint32_t b = (uint32_t)s; f32 v; memcpy(&v, &b, 4); return v; "
    "}\n"
    "static f64 fl_f64(uint64_t s) { f64 v; memcpy(&v, &s, 8); return v; }\n"
    "void wasm_rt_init(void) {}\n"
    "bool wasm_rt_is_initialized(void) { return true; }\n"
    "void wasm_rt_free(void) {}\n"
    "void wasm_rt_trap(wasm_rt_trap_t code) { fl_api->trap((int)code); abort(); }\n"
    "uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {\n"
    "  int types[2048]; va_list ap; va_start(ap, results);\n"
    "  for (uint32_t i = 0; i < params + results && i < 2048; i++) types[i] = va_arg(ap, int);\n"
    "  va_end(ap); return fl_api->register_func_type(params, results, types);\n}\n"
    "void wasm_rt_allocate_memory(wasm_rt_memory_t *m, uint32_t i, uint32_t x) "
    "{ fl_api->allocate_memory(m, i, x); }\n"
    "uint32_t wasm_rt_grow_memory(wasm_rt_memory_t *m, uint32_t d) "
    "{ return fl_api->grow_memory(m, d); }\n"
    "void wasm_rt_free_memory(wasm_rt_memory_t *m) { fl_api->free_memory(m); }\n"
    "void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t *t, uint32_t n, uint32_t x) "
    "{ fl_api->allocate_funcref_table(t, n, x); }\n"
    "void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t *t) "
    "{ fl_api->free_funcref_table(t); }\n"
    "uint32_t wasm_rt_grow_funcref_table(wasm_rt_funcref_table_t *t, uint32_t d, "
    "wasm_rt_funcref_t v) { return fl_api->grow_funcref_table(t, d, v); }\n"
    "void wasm_rt_allocate_externref_table(wasm_rt_externref_table_t *t, uint32_t n, uint32_t x) "
    "{ fl_api->allocate_externref_table(t, n, x); }\n"
    "void wasm_rt_free_externref_table(wasm_rt_externref_table_t *t) "
    "{ fl_api->free_externref_table(t); }\n"
    "uint32_t wasm_rt_grow_externref_table(wasm_rt_externref_table_t *t, uint32_t d, "
    "wasm_rt_externref_t v) { return fl_api->grow_externref_table(t, d, v); }\n";

static bool glue_import_func(struct fl_buf *out, const char *sig, uint32_t index)
{
    const char *colon = strchr(sig, ':');
    size_t nparams = (size_t)(colon - sig);
    const char *results = colon + 1;
    bool ok = fl_buf_printf(out, "%s " GLUE_IMPORT "(" GLUE_IMPORTS_STRUCT " *c",
                            results[0] ? glue_ctype(results[0]) : "void", index);
    for (size_t i = 0; ok && i < nparams; i++)
        ok = fl_buf_printf(out, ", %s p%zu", glue_ctype(sig[i]), i);
    ok = ok && fl_buf_printf(out, ") {\n  uint64_t a[%zu], r[1];\n", nparams + 1);
    for (size_t i = 0; ok && i < nparams; i++)
        ok = fl_buf_printf(out, "  a[%zu] = %s(p%zu);\n", i, glue_to_slot_fn(sig[i]), i);
    ok = ok && fl_buf_printf(out, "  fl_api->import_call(c, %u, a, r);\n", index);
    if (ok && results[0]) {
        ok = fl_buf_printf(out, "  return ") && glue_from_slot(out, results[0], "r[0]") &&
             fl_buf_printf(out, ";\n");
    }
    return ok && fl_buf_printf(out, "}\n");
}

static bool glue_import_ptr(struct fl_buf *out, const struct wasm_import *imp, uint32_t index)
{
    const char *type =
        imp->kind == WASM_EXTERN_MEMORY ? "wasm_rt_memory_t"
        : imp->kind == WASM_EXTERN_TABLE
            ? (imp->table_type == 'r' ? "wasm_rt_funcref_table_t" : "wasm_rt_externref_table_t")
            : glue_ctype(imp->global_type);
    return fl_buf_printf(out,
                         "%s *" GLUE_IMPORT "(" GLUE_IMPORTS_STRUCT
                         " *c) { return fl_api->import_ptr(c, %u); }\n",
                         type, index, index);
}

static bool glue_imports(struct fl_buf *out, const struct wasm_desc *desc)
{
    for (uint32_t i = 0; i < desc->import_count; i++) {
        const struct wasm_import *imp = &desc->imports[i];
        bool ok = imp->kind == WASM_EXTERN_FUNC
                      ? glue_import_func(out, desc->type_sigs[imp->type_index], i)
                      : glue_import_ptr(out, imp, i);
        if (!ok)
            return false;
    }
    return true;
}

static bool glue_export_call(struct fl_buf *out, const char *sig, uint32_t index)
{
    const char *colon = strchr(sig, ':');
    size_t nparams = (size_t)(colon - sig), nresults = strlen(colon + 1);
    const char *results = colon + 1;
    bool ok = fl_buf_printf(out,
                            "static void fl_call%u(void *inst, const uint64_t *a, "
                            "uint64_t *r) {\n  (void)a; (void)r;\n  ",
                            index);
    if (nresults == 1) {
        ok = ok && fl_buf_printf(out, "%s v = ", glue_ctype(results[0]));
    } else if (nresults > 1) {
        ok = ok && fl_buf_printf(out, "struct wasm_multi_");
        for (size_t i = 0; ok && i < nresults; i++)
            ok = fl_buf_printf(out, "%c", glue_multi_letter(results[i]));
        ok = ok && fl_buf_printf(out, " v = ");
    }
    ok = ok && fl_buf_printf(out, GLUE_EXPORT "((Z_m_instance_t *)inst", index);
    for (size_t i = 0; ok && i < nparams; i++) {
        char slot[32];
        snprintf(slot, sizeof(slot), "a[%zu]", i);
        ok = fl_buf_printf(out, ", ") && glue_from_slot(out, sig[i], slot);
    }
    ok = ok && fl_buf_printf(out, ");\n");
    if (ok && nresults == 1)
        ok = fl_buf_printf(out, "  r[0] = %s(v);\n", glue_to_slot_fn(results[0]));
    for (size_t i = 0; ok && nresults > 1 && i < nresults; i++)
        ok = fl_buf_printf(out, "  r[%zu] = %s(v.%c%zu);\n", i, glue_to_slot_fn(results[i]),
                           glue_multi_letter(results[i]), i);
    return ok && fl_buf_printf(out, "}\n");
}

static bool glue_export_get(struct fl_buf *out, uint32_t index)
{
    return fl_buf_printf(out,
                         "static void *fl_get%u(void *inst) { return (void *)" GLUE_EXPORT
                         "((Z_m_instance_t *)inst); }\n",
                         index, index);
}

bool glue_c_string(struct fl_buf *out, const char *s, size_t len)
{
    bool ok = fl_buf_append(out, "\"", 1);
    const unsigned char *end = (const unsigned char *)s + len;
    for (const unsigned char *p = (const unsigned char *)s; ok && p < end; p++)
        ok = isalnum(*p) && *p < 0x80 ? fl_buf_append(out, p, 1) : fl_buf_printf(out, "\\%03o", *p);
    return ok && fl_buf_append(out, "\"", 1);
}

static const char *glue_export_sig(const struct wasm_desc *desc, const struct wasm_export *exp)
{
    if (exp->kind == WASM_EXTERN_FUNC)
        return wasm_desc_func_sig(desc, exp->index);
    return NULL;
}

static bool glue_exports(struct fl_buf *out, const struct wasm_desc *desc)
{
    bool ok = true;
    for (uint32_t i = 0; ok && i < desc->export_count; i++) {
        const struct wasm_export *exp = &desc->exports[i];
        const char *sig = glue_export_sig(desc, exp);
        if (exp->kind == WASM_EXTERN_FUNC && sig && glue_supported_sig(sig))
            ok = glue_export_call(out, sig, i);
        else if (exp->kind != WASM_EXTERN_FUNC)
            ok = glue_export_get(out, i);
    }
    ok = ok && fl_buf_printf(out, "const struct fl_glue_export fl_glue_exports[] = {\n");
    for (uint32_t i = 0; ok && i < desc->export_count; i++) {
        const struct wasm_export *exp = &desc->exports[i];
        const char *sig = glue_export_sig(desc, exp);
        bool callable = exp->kind == WASM_EXTERN_FUNC && sig && glue_supported_sig(sig);
        ok = fl_buf_printf(out, "  {") && glue_c_string(out, exp->name, exp->name_len) &&
             fl_buf_printf(out, ", %u, %d, ", exp->name_len, (int)exp->kind) &&
             (sig ? glue_c_string(out, sig, strlen(sig)) : fl_buf_printf(out, "0")) &&
             (callable                        ? fl_buf_printf(out, ", fl_call%u, 0},\n", i)
              : exp->kind == WASM_EXTERN_FUNC ? fl_buf_printf(out, ", 0, 0},\n")
                                              : fl_buf_printf(out, ", 0, fl_get%u},\n", i));
    }
    return ok && fl_buf_printf(out,
                               "  {0, 0, 0, 0, 0, 0}\n};\n"
                               "const uint32_t fl_glue_export_count = %u;\n",
                               desc->export_count);
}

/* All imports come from one module (anonymize.h): wasm2c takes one instance pointer for it. */
static bool glue_instantiate(struct fl_buf *out, const struct wasm_desc *desc)
{
    return fl_buf_printf(out,
                         "void fl_glue_instantiate(void *inst, void *ctx) {\n"
                         "  (void)ctx;\n  Z_m_instantiate((Z_m_instance_t *)inst%s);\n}\n",
                         desc->import_count ? ", ctx" : "");
}

bool glue_generate(const struct wasm_desc *desc, struct fl_buf *out)
{
    return fl_buf_printf(out, "/* Generated by funless (%s). */\n#include \"m.h\"\n%s%s%s",
                         FL_GLUE_VERSION, FL_RT_API_DECL, FL_GLUE_EXPORT_DECL, glue_prelude) &&
           glue_imports(out, desc) && glue_exports(out, desc) && glue_instantiate(out, desc) &&
           fl_buf_printf(out,
                         "void fl_glue_init_module(void) { Z_m_init_module(); }\n"
                         "void fl_glue_free(void *inst) { Z_m_free((Z_m_instance_t *)inst); }\n"
                         "const uint32_t fl_glue_instance_size = sizeof(Z_m_instance_t);\n");
}
