/*
 * The WebAssembly core test suite through the engine.
 *
 * usage: spec_harness WAST_DIR OUT_DIR [FILE.wast ...]
 *
 * Each .wast is turned into JSON commands and .wasm modules by wabt's
 * wast2json; every module is accepted, translated and compiled (tier 0) by
 * the engine and instantiated by our runtime; every assertion is performed.
 * Prints passed/failed/skipped per file, each skip with its reason, and a
 * closing "N passed, N failed, N skipped" line. Exits non-zero when fewer
 * than 99% of the performed assertions pass. SPEC_SPLIT_TRANSLATE=1 sends
 * every module through split translation (engine/translate.h).
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "common/proc.h"
#include "engine/compile.h"
#include "engine/engine_internal.h"
#include "engine/translate.h"

enum { MAX_REGISTERED = 64, CALL_TIMEOUT_MS = 20000 };

struct instance {
    char *name; /* $name in the script, or NULL */
    struct engine_module *module;
    const struct fl_glue *glue;
    void *data;
    struct rt_ctx ctx;
};

struct registration {
    char *as;
    struct instance *instance;
};

struct func_binding;

struct counts {
    int passed, failed, skipped;
};

struct skip_reason {
    char *reason;
    int count;
};

static struct {
    const char *out_dir;
    struct instance **instances;
    int instance_count, instance_cap;
    struct instance *current;
    struct func_binding **bindings; /* every binding made for this file: see link_registered */
    int binding_count;
    struct registration registered[MAX_REGISTERED];
    int registered_count;
    struct counts file, total;
    struct skip_reason skips[64];
    int skip_kinds;
    bool verbose;
} h;

/* ---- the spectest host module ---- */

static uint32_t spectest_global_i32 = 666;
static uint64_t spectest_global_i64 = 666;
static float spectest_global_f32 = 666.6f;
static double spectest_global_f64 = 666.6;
static wasm_rt_funcref_table_t spectest_table;
static wasm_rt_memory_t spectest_memory;

static void spectest_print(struct rt_ctx *ctx, uint32_t index, const uint64_t *args,
                           uint64_t *results)
{
    (void)ctx, (void)index, (void)args, (void)results;
}

/* Each script starts with a fresh spectest module, as in the reference interpreter. */
static void spectest_make(void *arg)
{
    (void)arg;
    rt_api.allocate_memory(&spectest_memory, 1, 2);
    rt_api.allocate_funcref_table(&spectest_table, 10, 20);
}

static void spectest_free(void)
{
    rt_api.free_memory(&spectest_memory);
    rt_api.free_funcref_table(&spectest_table);
}

/* ---- linking ---- */

struct func_binding {
    struct instance *target;
    const struct fl_glue_export *export;
};

static void linked_call(struct rt_ctx *ctx, uint32_t index, const uint64_t *args, uint64_t *results)
{
    const struct func_binding *b = ctx->ptrs[index];
    b->export->call(b->target->data, args, results);
}

static struct instance *registered_instance(const char *as)
{
    for (int i = h.registered_count - 1; i >= 0; i--)
        if (strcmp(h.registered[i].as, as) == 0)
            return h.registered[i].instance;
    return NULL;
}

/*
 * cJSON strings end at a NUL, so the script's NUL characters arrive as
 * U+E000 (see run_file); an export name compares equal with its NULs mapped
 * the same way.
 */
static bool export_name_equals(const struct fl_glue_export *e, const char *name)
{
    const char *p = name;
    for (uint32_t i = 0; i < e->name_len; i++) {
        if (e->name[i] == '\0') {
            if (strncmp(p, "\xee\x80\x80", 3) != 0)
                return false;
            p += 3;
        } else if (*p++ != e->name[i]) {
            return false;
        }
    }
    return *p == '\0';
}

static const struct fl_glue_export *instance_export(const struct instance *inst, const char *name,
                                                    int kind)
{
    for (uint32_t i = 0; i < *inst->glue->export_count; i++) {
        const struct fl_glue_export *e = &inst->glue->exports[i];
        if (e->kind == kind && export_name_equals(e, name))
            return e;
    }
    return NULL;
}

/* Limits rule of the spec: the provider's size and max must fit the import's. */
static bool limits_match(const struct wasm_import *imp, uint32_t size, uint32_t max)
{
    if (size < imp->limits_min)
        return false;
    return !imp->limits_has_max || (max != UINT32_MAX && max <= imp->limits_max);
}

static enum fl_err unlinkable(char *detail, size_t detail_len, const struct wasm_import *imp)
{
    return fl_fail(FL_ERR_UNKNOWN_IMPORT, detail, detail_len, "incompatible import \"%s\".\"%s\"",
                   imp->module, imp->name);
}

static enum fl_err link_spectest(const struct wasm_import *imp, const char *sig, rt_host_fn *fn,
                                 void **ptr, char *detail, size_t detail_len)
{
    static const struct {
        const char *name, *sig;
    } prints[] = {{"print", ":"},          {"print_i32", "i:"}, {"print_i64", "I:"},
                  {"print_f32", "f:"},     {"print_f64", "F:"}, {"print_i32_f32", "if:"},
                  {"print_f64_f64", "FF:"}};
    if (imp->kind == WASM_EXTERN_FUNC) {
        for (size_t i = 0; i < sizeof(prints) / sizeof(prints[0]); i++)
            if (strcmp(imp->name, prints[i].name) == 0 && strcmp(sig, prints[i].sig) == 0) {
                *fn = spectest_print;
                return FL_OK;
            }
    } else if (imp->kind == WASM_EXTERN_GLOBAL && !imp->global_mutable) {
        static const struct {
            const char *name;
            char type;
            void *value;
        } globals[] = {{"global_i32", 'i', &spectest_global_i32},
                       {"global_i64", 'I', &spectest_global_i64},
                       {"global_f32", 'f', &spectest_global_f32},
                       {"global_f64", 'F', &spectest_global_f64}};
        for (size_t i = 0; i < sizeof(globals) / sizeof(globals[0]); i++)
            if (strcmp(imp->name, globals[i].name) == 0 && imp->global_type == globals[i].type) {
                *ptr = globals[i].value;
                return FL_OK;
            }
    } else if (imp->kind == WASM_EXTERN_MEMORY && strcmp(imp->name, "memory") == 0 &&
               limits_match(imp, spectest_memory.pages, spectest_memory.max_pages)) {
        *ptr = &spectest_memory;
        return FL_OK;
    } else if (imp->kind == WASM_EXTERN_TABLE && strcmp(imp->name, "table") == 0 &&
               imp->table_type == 'r' &&
               limits_match(imp, spectest_table.size, spectest_table.max_size)) {
        *ptr = &spectest_table;
        return FL_OK;
    }
    return unlinkable(detail, detail_len, imp);
}

static enum fl_err link_registered(struct instance *target, const struct wasm_import *imp,
                                   const char *sig, rt_host_fn *fn, void **ptr, char *detail,
                                   size_t detail_len)
{
    const struct fl_glue_export *e = instance_export(target, imp->name, (int)imp->kind);
    if (!e)
        return unlinkable(detail, detail_len, imp);
    const struct wasm_desc *desc = engine_module_desc(target->module);
    if (imp->kind == WASM_EXTERN_FUNC) {
        if (!e->call || !e->sig || strcmp(e->sig, sig) != 0)
            return unlinkable(detail, detail_len, imp);
        /* The engine resolves twice (check, then load): bindings live until the file ends. */
        struct func_binding *b = malloc(sizeof(*b));
        *b = (struct func_binding){target, e};
        h.bindings = realloc(h.bindings, sizeof(*h.bindings) * (size_t)(h.binding_count + 1));
        h.bindings[h.binding_count++] = b;
        *fn = linked_call;
        *ptr = b;
        return FL_OK;
    }
    void *value = e->get(target->data);
    if (imp->kind == WASM_EXTERN_GLOBAL) {
        const struct wasm_export *we = wasm_desc_find_export(desc, imp->name, WASM_EXTERN_GLOBAL);
        if (!we || desc->global_types[we->index] != imp->global_type ||
            desc->global_mutable[we->index] != imp->global_mutable)
            return unlinkable(detail, detail_len, imp);
    } else if (imp->kind == WASM_EXTERN_MEMORY) {
        const wasm_rt_memory_t *m = value;
        if (!limits_match(imp, m->pages, m->max_pages))
            return unlinkable(detail, detail_len, imp);
    } else {
        /* both table kinds start with data, max_size, size */
        const wasm_rt_funcref_table_t *t = value;
        const struct wasm_export *we = wasm_desc_find_export(desc, imp->name, WASM_EXTERN_TABLE);
        if (!we || desc->table_types[we->index] != imp->table_type ||
            !limits_match(imp, t->size, t->max_size))
            return unlinkable(detail, detail_len, imp);
    }
    *ptr = value;
    return FL_OK;
}

static enum fl_err harness_resolve(void *user, const struct wasm_import *imp, const char *sig,
                                   rt_host_fn *fn, void **ptr, char *detail, size_t detail_len)
{
    (void)user;
    if (strcmp(imp->module, "spectest") == 0)
        return link_spectest(imp, sig, fn, ptr, detail, detail_len);
    struct instance *target = registered_instance(imp->module);
    if (!target)
        return unlinkable(detail, detail_len, imp);
    return link_registered(target, imp, sig, fn, ptr, detail, detail_len);
}

/* ---- bookkeeping ---- */

static void count_skip(const char *reason)
{
    h.file.skipped++;
    for (int i = 0; i < h.skip_kinds; i++)
        if (strcmp(h.skips[i].reason, reason) == 0) {
            h.skips[i].count++;
            return;
        }
    if (h.skip_kinds < 64)
        h.skips[h.skip_kinds++] = (struct skip_reason){strdup(reason), 1};
}

static void count_result(bool ok, int line, const char *what, const char *why)
{
    if (ok) {
        h.file.passed++;
        return;
    }
    h.file.failed++;
    printf("    FAIL line %d: %s: %s\n", line, what, why);
}

static void instance_free(struct instance *inst);

/* Instances live until the end of the file (the script may refer to them). */
static void keep_instance(struct instance *inst)
{
    if (!inst)
        return;
    if (h.instance_count == h.instance_cap) {
        h.instance_cap = h.instance_cap ? 2 * h.instance_cap : 64;
        h.instances = realloc(h.instances, sizeof(*h.instances) * (size_t)h.instance_cap);
    }
    h.instances[h.instance_count++] = inst;
}

static bool instance_is_registered(const struct instance *inst)
{
    for (int i = 0; i < h.registered_count; i++)
        if (h.registered[i].instance == inst)
            return true;
    return false;
}

/*
 * The script can no longer name an unnamed, unregistered instance once
 * another module replaces it; unless it imported a table (and so may have
 * put its functions into a table that outlives it), it can go. This keeps
 * files with hundreds of modules within the per-thread memory regions.
 */
static void retire_instance(struct instance *inst)
{
    if (!inst || inst->name || instance_is_registered(inst))
        return;
    const struct wasm_desc *desc = engine_module_desc(inst->module);
    for (uint32_t i = 0; i < desc->import_count; i++)
        if (desc->imports[i].kind == WASM_EXTERN_TABLE)
            return;
    for (int i = 0; i < h.instance_count; i++)
        if (h.instances[i] == inst) {
            h.instances[i] = h.instances[--h.instance_count];
            instance_free(inst);
            return;
        }
}

static struct instance *find_instance(const cJSON *name)
{
    if (!cJSON_IsString(name))
        return h.current;
    for (int i = h.instance_count - 1; i >= 0; i--)
        if (h.instances[i]->name && strcmp(h.instances[i]->name, name->valuestring) == 0)
            return h.instances[i];
    return NULL;
}

static void instance_free(struct instance *inst)
{
    if (!inst)
        return;
    if (inst->data)
        inst->glue->free(inst->data);
    free(inst->data);
    engine_module_release(inst->module);
    free(inst->name);
    free(inst);
}

static void free_all_instances(void)
{
    for (int i = h.instance_count - 1; i >= 0; i--)
        instance_free(h.instances[i]);
    h.instance_count = 0;
    h.current = NULL;
    for (int i = 0; i < h.registered_count; i++)
        free(h.registered[i].as);
    h.registered_count = 0;
    for (int i = 0; i < h.binding_count; i++)
        free(h.bindings[i]);
    free(h.bindings);
    h.bindings = NULL;
    h.binding_count = 0;
}

/* ---- instantiation and calls ---- */

static void do_instantiate(void *arg)
{
    struct instance *inst = arg;
    inst->glue->instantiate(inst->data, &inst->ctx);
}

static const struct rt_limits harness_limits = {.max_pages = 65536, .timeout_ms = CALL_TIMEOUT_MS};

/*
 * Loads and instantiates; *trap gets the trap code if instantiation trapped.
 * *out is set whenever the module loaded (also after a trap): keep_instance it.
 */
static enum fl_err instantiate(const char *filename, struct instance **out, int *trap, char *detail,
                               size_t detail_len)
{
    char path[4096];
    struct fl_buf bytes;
    fl_buf_init(&bytes, (size_t)64 << 20);
    snprintf(path, sizeof(path), "%s/%s", h.out_dir, filename);
    *out = NULL;
    *trap = 0;
    if (!fl_buf_read_file(&bytes, path)) {
        fl_buf_deinit(&bytes);
        return fl_fail(FL_ERR_IO, detail, detail_len, "cannot read %s", path);
    }
    struct instance *inst = calloc(1, sizeof(*inst));
    enum fl_err err =
        engine_module_load_custom((const uint8_t *)bytes.data, bytes.len, harness_resolve, NULL,
                                  &inst->module, detail, detail_len);
    fl_buf_deinit(&bytes);
    if (err != FL_OK) {
        free(inst);
        return err;
    }
    inst->glue = engine_module_glue(inst->module);
    inst->data = calloc(1, *inst->glue->instance_size);
    engine_module_init_ctx(inst->module, &inst->ctx);
    *trap = rt_guarded_call(&harness_limits, do_instantiate, inst);
    /* Even a trapped instance stays alive: its functions may already sit in shared tables. */
    *out = inst;
    if (*trap) {
        snprintf(detail, detail_len, "instantiation trapped: %s", rt_trap_message(*trap));
        return FL_ERR_TRAP;
    }
    return FL_OK;
}

struct call {
    struct instance *inst;
    const struct fl_glue_export *export;
    uint64_t args[64];
    uint64_t results[64];
};

static void do_call(void *arg)
{
    struct call *c = arg;
    c->export->call(c->inst->data, c->args, c->results);
}

static bool parse_value(const cJSON *v, char *type, uint64_t *bits, const char **nan_kind)
{
    const cJSON *t = cJSON_GetObjectItem(v, "type"), *val = cJSON_GetObjectItem(v, "value");
    if (!cJSON_IsString(t))
        return false;
    const char *ts = t->valuestring;
    *type = strcmp(ts, "i32") == 0         ? 'i'
            : strcmp(ts, "i64") == 0       ? 'I'
            : strcmp(ts, "f32") == 0       ? 'f'
            : strcmp(ts, "f64") == 0       ? 'F'
            : strcmp(ts, "externref") == 0 ? 'x'
                                           : 'r';
    if (*type == 'r' || !cJSON_IsString(val))
        return false;
    *nan_kind = NULL;
    if (*type == 'x') { /* host references: null is 0, (ref.extern N) is N + 1 */
        *bits =
            strcmp(val->valuestring, "null") == 0 ? 0 : strtoull(val->valuestring, NULL, 10) + 1;
        return true;
    }
    if (strncmp(val->valuestring, "nan:", 4) == 0) {
        *nan_kind = val->valuestring + 4;
        *bits = 0;
        return true;
    }
    *bits = strtoull(val->valuestring, NULL, 10);
    return true;
}

static bool value_matches(char type, uint64_t got, uint64_t want, const char *nan_kind)
{
    if (type == 'i')
        return (uint32_t)got == (uint32_t)want;
    if (type == 'x' || type == 'I')
        return got == want;
    if (!nan_kind)
        return type == 'f' ? (uint32_t)got == (uint32_t)want : got == want;
    bool canonical = strcmp(nan_kind, "canonical") == 0;
    if (type == 'f') {
        uint32_t b = (uint32_t)got & 0x7fffffffu;
        return canonical ? b == 0x7fc00000u : (b & 0x7fc00000u) == 0x7fc00000u;
    }
    uint64_t b = got & 0x7fffffffffffffffull;
    return canonical ? b == 0x7ff8000000000000ull
                     : (b & 0x7ff8000000000000ull) == 0x7ff8000000000000ull;
}

/* Performs an action; returns false with a skip reason when it cannot be performed. */
static bool perform(const cJSON *action, struct call *c, int *trap, const char **skip)
{
    const cJSON *type = cJSON_GetObjectItem(action, "type");
    const cJSON *field = cJSON_GetObjectItem(action, "field");
    c->inst = find_instance(cJSON_GetObjectItem(action, "module"));
    *trap = 0;
    if (!c->inst) {
        *skip = "the module of the action did not load";
        return false;
    }
    if (!cJSON_IsString(field)) {
        *skip = "export name not representable";
        return false;
    }
    bool is_get = cJSON_IsString(type) && strcmp(type->valuestring, "get") == 0;
    c->export =
        instance_export(c->inst, field->valuestring, is_get ? FL_GLUE_GLOBAL : FL_GLUE_FUNC);
    if (!c->export) {
        *skip = "export not found (name with a NUL byte?)";
        return false;
    }
    if (is_get) {
        const struct wasm_desc *desc = engine_module_desc(c->inst->module);
        const struct wasm_export *we =
            wasm_desc_find_export(desc, field->valuestring, WASM_EXTERN_GLOBAL);
        char gt = desc->global_types[we->index];
        if (gt == 'r') {
            *skip = "funcref values (not representable outside an instance)";
            return false;
        }
        memcpy(c->results, c->export->get(c->inst->data), gt == 'i' || gt == 'f' ? 4 : 8);
        return true;
    }
    if (!c->export->call) {
        *skip = "funcref values (not representable outside an instance)";
        return false;
    }
    const cJSON *args = cJSON_GetObjectItem(action, "args");
    int n = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, args)
    {
        char t;
        const char *nan;
        if (!parse_value(a, &t, &c->args[n++], &nan)) {
            *skip = "funcref values (not representable outside an instance)";
            return false;
        }
    }
    *trap = rt_guarded_call(&harness_limits, do_call, c);
    return true;
}

static void check_return(const cJSON *cmd, int line)
{
    struct call c;
    int trap;
    const char *skip = NULL;
    if (!perform(cJSON_GetObjectItem(cmd, "action"), &c, &trap, &skip)) {
        count_skip(skip);
        return;
    }
    if (trap) {
        count_result(false, line, "assert_return", rt_trap_message(trap));
        return;
    }
    const cJSON *expected = cJSON_GetObjectItem(cmd, "expected"), *e;
    int i = 0;
    cJSON_ArrayForEach(e, expected)
    {
        char t;
        uint64_t want;
        const char *nan;
        if (!parse_value(e, &t, &want, &nan)) {
            count_skip("funcref values (not representable outside an instance)");
            return;
        }
        if (!value_matches(t, c.results[i], want, nan)) {
            char why[128];
            snprintf(why, sizeof(why), "result %d: got 0x%llx, want 0x%llx%s%s", i,
                     (unsigned long long)c.results[i], (unsigned long long)want, nan ? " nan:" : "",
                     nan ? nan : "");
            count_result(false, line, "assert_return", why);
            return;
        }
        i++;
    }
    count_result(true, line, "assert_return", "");
}

static void check_trap(const cJSON *cmd, int line, bool exhaustion)
{
    struct call c;
    int trap;
    const char *skip = NULL;
    if (!perform(cJSON_GetObjectItem(cmd, "action"), &c, &trap, &skip)) {
        count_skip(skip);
        return;
    }
    int want = RT_TRAP_WASM_BASE + WASM_RT_TRAP_EXHAUSTION;
    bool ok = trap != 0 && trap != RT_TRAP_TIMEOUT && (!exhaustion || trap == want);
    count_result(ok, line, exhaustion ? "assert_exhaustion" : "assert_trap",
                 trap ? rt_trap_message(trap) : "returned normally");
}

/* ---- commands ---- */

static void cmd_module(const cJSON *cmd, int line)
{
    const cJSON *filename = cJSON_GetObjectItem(cmd, "filename");
    const cJSON *name = cJSON_GetObjectItem(cmd, "name");
    char detail[256];
    int trap;
    struct instance *inst = NULL;
    enum fl_err err = instantiate(filename->valuestring, &inst, &trap, detail, sizeof(detail));
    retire_instance(h.current);
    h.current = NULL;
    if (err == FL_ERR_UNSUPPORTED) {
        count_skip("module uses a feature funless refuses (SIMD, threads, exceptions, ...)");
        return;
    }
    count_result(err == FL_OK, line, "module", detail);
    keep_instance(inst);
    if (err != FL_OK)
        return;
    if (cJSON_IsString(name))
        inst->name = strdup(name->valuestring);
    h.current = inst;
}

static void cmd_register(const cJSON *cmd)
{
    struct instance *inst = find_instance(cJSON_GetObjectItem(cmd, "name"));
    const cJSON *as = cJSON_GetObjectItem(cmd, "as");
    if (inst && cJSON_IsString(as) && h.registered_count < MAX_REGISTERED)
        h.registered[h.registered_count++] = (struct registration){strdup(as->valuestring), inst};
}

/* assert_invalid / assert_malformed / assert_unlinkable / assert_uninstantiable */
static void cmd_refused(const cJSON *cmd, int line, const char *kind)
{
    const cJSON *module_type = cJSON_GetObjectItem(cmd, "module_type");
    if (cJSON_IsString(module_type) && strcmp(module_type->valuestring, "text") == 0) {
        count_skip(
            "text-format module: malformed text is the text parser's business, not the engine's");
        return;
    }
    const cJSON *filename = cJSON_GetObjectItem(cmd, "filename");
    char path[4096], detail[256] = "";
    snprintf(path, sizeof(path), "%s/%s", h.out_dir, filename->valuestring);
    bool refused;
    if (strcmp(kind, "assert_unlinkable") == 0 || strcmp(kind, "assert_uninstantiable") == 0) {
        struct instance *inst = NULL;
        int trap;
        enum fl_err err = instantiate(filename->valuestring, &inst, &trap, detail, sizeof(detail));
        refused = err != FL_OK;
        keep_instance(inst);
    } else {
        struct fl_buf bytes;
        fl_buf_init(&bytes, (size_t)64 << 20);
        fl_buf_read_file(&bytes, path);
        struct wasm_desc desc;
        enum engine_abi abi;
        enum fl_err err =
            accept_module((const uint8_t *)(bytes.data ? bytes.data : ""), bytes.len, 0, true,
                          false, harness_resolve, NULL, &desc, &abi, detail, sizeof(detail));
        if (err == FL_OK)
            wasm_desc_deinit(&desc);
        refused = err != FL_OK;
        fl_buf_deinit(&bytes);
    }
    count_result(refused, line, kind, "the module was accepted");
}

static void run_command(const cJSON *cmd)
{
    const char *type = cJSON_GetObjectItem(cmd, "type")->valuestring;
    int line = cJSON_GetObjectItem(cmd, "line")->valueint;
    if (h.verbose)
        fprintf(stderr, "line %d: %s\n", line, type);
    if (strcmp(type, "module") == 0)
        cmd_module(cmd, line);
    else if (strcmp(type, "register") == 0)
        cmd_register(cmd);
    else if (strcmp(type, "assert_return") == 0)
        check_return(cmd, line);
    else if (strcmp(type, "assert_trap") == 0)
        check_trap(cmd, line, false);
    else if (strcmp(type, "assert_exhaustion") == 0)
        check_trap(cmd, line, true);
    else if (strcmp(type, "action") == 0) {
        struct call c;
        int trap;
        const char *skip;
        if (perform(cJSON_GetObjectItem(cmd, "action"), &c, &trap, &skip))
            count_result(trap == 0, line, "action", rt_trap_message(trap));
        else
            count_skip(skip);
    } else if (strncmp(type, "assert_", 7) == 0)
        cmd_refused(cmd, line, type);
}

static bool convert(const char *wast_dir, const char *file, char *json_path, size_t len)
{
    char wast[4096];
    snprintf(wast, sizeof(wast), "%s/%s", wast_dir, file);
    snprintf(json_path, len, "%s/%.*s.json", h.out_dir, (int)(strlen(file) - 5), file);
    const char *argv[] = {"wast2json", wast, "-o", json_path, NULL};
    struct fl_buf out;
    fl_buf_init(&out, 4096);
    int status = -1;
    struct proc_limits limits = {.timeout_ms = 120000};
    proc_run(argv, -1, &limits, &out, &status);
    if (status != 0)
        printf("  wast2json failed: %s\n", out.data ? out.data : "");
    fl_buf_deinit(&out);
    return status == 0;
}

static void run_file(const char *wast_dir, const char *file)
{
    char json_path[4096];
    h.file = (struct counts){0};
    rt_guarded_call(&harness_limits, spectest_make, NULL);
    struct fl_buf text;
    fl_buf_init(&text, (size_t)256 << 20);
    cJSON *root = NULL;
    if (convert(wast_dir, file, json_path, sizeof(json_path)) &&
        fl_buf_read_file(&text, json_path)) {
        for (char *nul = text.data; (nul = strstr(nul, "\\u0000")) != NULL; nul += 6)
            memcpy(nul, "\\ue000", 6);
        root = cJSON_ParseWithLength(text.data, text.len);
    }
    fl_buf_deinit(&text);
    if (!root) {
        h.file.failed++;
        printf("%-28s cannot convert or parse\n", file);
    } else {
        const cJSON *cmd;
        cJSON_ArrayForEach(cmd, cJSON_GetObjectItem(root, "commands")) run_command(cmd);
        cJSON_Delete(root);
    }
    free_all_instances();
    spectest_free();
    free(h.instances);
    h.instances = NULL;
    h.instance_cap = 0;
    printf("%-28s %5d passed %4d failed %4d skipped\n", file, h.file.passed, h.file.failed,
           h.file.skipped);
    fflush(stdout);
    h.total.passed += h.file.passed;
    h.total.failed += h.file.failed;
    h.total.skipped += h.file.skipped;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_wast(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    char **names = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".wast") == 0) {
            names = realloc(names, sizeof(char *) * (size_t)(n + 1));
            names[n++] = strdup(e->d_name);
        }
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), compare_names);
    *out = names;
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s WAST_DIR OUT_DIR [FILE.wast ...]\n", argv[0]);
        return 2;
    }
    /* The suite's .wast files are not part of the repository. FUNLESS_SPEC_DIR names them, else
     * the first folder of WAST_DIR (a ':'-separated list) that exists: the one
     * scripts/fetch-spec-suite.sh fills, then the one beside the repository where our own
     * machines keep them. Without any, the test is skipped (meson's 77), not failed: a clone
     * alone must pass its tests. */
    const char *spec_dir = getenv("FUNLESS_SPEC_DIR");
    static char found[4096];
    found[0] = '\0';
    if (spec_dir && *spec_dir) {
        snprintf(found, sizeof(found), "%s", spec_dir);
    } else {
        char candidates[4096];
        snprintf(candidates, sizeof(candidates), "%s", argv[1]);
        for (char *save = NULL, *dir = strtok_r(candidates, ":", &save); dir && !found[0];
             dir = strtok_r(NULL, ":", &save)) {
            struct stat candidate;
            if (stat(dir, &candidate) == 0 && S_ISDIR(candidate.st_mode))
                snprintf(found, sizeof(found), "%s", dir);
        }
    }
    struct stat st;
    if (!found[0] || stat(found, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("SKIP: no WebAssembly spec suite (looked in %s); run scripts/fetch-spec-suite.sh, "
               "or set FUNLESS_SPEC_DIR to a folder of the testsuite's .wast files\n",
               spec_dir && *spec_dir ? spec_dir : argv[1]);
        return 77;
    }
    argv[1] = found;
    h.out_dir = argv[2];
    h.verbose = getenv("SPEC_VERBOSE") != NULL;
    mkdir(h.out_dir, 0755);
    struct engine_config config;
    engine_config_defaults(&config);
    config.tier1 = false;                 /* thousands of tiny modules: tier 0 is what runs them */
    if (getenv("SPEC_SPLIT_TRANSLATE")) { /* every module through two wasm2c and the splice */
        config.translate_split_min_bytes = 1;
        config.tier0_via_wasm2c = true;
    }
    char detail[256];
    if (engine_init(&config, detail, sizeof(detail)) != FL_OK) {
        fprintf(stderr, "engine_init: %s\n", detail);
        return 2;
    }
    char **files = argv + 3;
    int n = argc - 3;
    char **listed = NULL;
    if (n == 0 && (n = list_wast(argv[1], &listed)) < 0) {
        perror(argv[1]);
        return 2;
    }
    for (int i = 0; i < n; i++)
        run_file(argv[1], listed ? listed[i] : files[i]);
    printf("\nskipped assertions, by reason:\n");
    for (int i = 0; i < h.skip_kinds; i++) {
        printf("  %5d  %s\n", h.skips[i].count, h.skips[i].reason);
        free(h.skips[i].reason);
    }
    int performed = h.total.passed + h.total.failed;
    double rate = performed ? 100.0 * h.total.passed / performed : 0;
    bool split_ok = true;
    if (config.translate_split_min_bytes == 1) { /* every split must have held */
        unsigned long split, abandoned;
        translate_stats(&split, &abandoned);
        printf("\nsplit translation: %lu modules split, %lu abandoned for one wasm2c\n", split,
               abandoned);
        split_ok = split > 0 && abandoned == 0;
    }
    struct engine_stats stats;
    engine_stats(&stats);
    if (!config.tier0_via_wasm2c) /* our translator must take every module of the suite */
        printf("\ntier-0 translator: %lu modules compiled, %lu through wasm2c instead\n",
               stats.tier0_compiles, stats.tier0_fallbacks);
    bool translator_ok = config.tier0_via_wasm2c || stats.tier0_fallbacks == 0;
    printf("\npass rate %.2f%% of %d performed assertions (target >= 99%%)\n", rate, performed);
    printf("%d passed, %d failed, %d skipped\n", h.total.passed, h.total.failed, h.total.skipped);
    for (int i = 0; listed && i < n; i++)
        free(listed[i]);
    free(listed);
    engine_deinit();
    return rate >= 99.0 && split_ok && translator_ok ? 0 : 1;
}
