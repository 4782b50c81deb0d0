/*
 * accept — the acceptance check: is this a module funless will run?
 *
 * Order matters: everything that can be decided from our own decoder
 * (not Wasm, refused features, imports, entry point, memory cap) is decided
 * before any external tool sees the bytes; wabt's validator comes last.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/proc.h"
#include "engine/engine_internal.h"
#include "engine/host.h"

static const char *sig_type_name(char letter)
{
    switch (letter) {
    case 'i':
        return "i32";
    case 'I':
        return "i64";
    case 'f':
        return "f32";
    case 'F':
        return "f64";
    case 'r':
        return "funcref";
    default:
        return "externref";
    }
}

void engine_format_sig(const char *sig, char *out, size_t out_len)
{
    size_t at = 0;
    bool results = false, first = true;
    at += (size_t)snprintf(out, out_len, "(");
    for (const char *p = sig; *p && at < out_len; p++) {
        if (*p == ':') {
            at += (size_t)snprintf(out + at, out_len - at, ") -> (");
            results = true;
            first = true;
            continue;
        }
        at +=
            (size_t)snprintf(out + at, out_len - at, "%s%s", first ? "" : ", ", sig_type_name(*p));
        first = false;
    }
    if (at < out_len)
        snprintf(out + at, out_len - at, ")");
    (void)results;
}

static const char *import_kind_name(enum wasm_extern_kind kind)
{
    static const char *const names[] = {"function", "table", "memory", "global"};
    return names[kind];
}

enum fl_err engine_resolve_host(void *user, const struct wasm_import *imp, const char *sig,
                                rt_host_fn *fn, void **ptr, char *detail, size_t detail_len)
{
    (void)user, (void)ptr;
    const struct host_import_def *def =
        imp->kind == WASM_EXTERN_FUNC ? host_import_find(imp->module, imp->name) : NULL;
    if (!def)
        return fl_fail(FL_ERR_UNKNOWN_IMPORT, detail, detail_len,
                       "unknown import: %s \"%s\".\"%s\" is not provided by the host",
                       import_kind_name(imp->kind), imp->module, imp->name);
    if (strcmp(def->sig, sig) != 0) {
        char want[160], got[160];
        engine_format_sig(def->sig, want, sizeof(want));
        engine_format_sig(sig, got, sizeof(got));
        return fl_fail(FL_ERR_UNKNOWN_IMPORT, detail, detail_len,
                       "import \"%s\".\"%s\" has signature %s, but the host provides %s",
                       imp->module, imp->name, got, want);
    }
    *fn = def->fn;
    return FL_OK;
}

static enum fl_err accept_imports(const struct wasm_desc *desc, engine_import_resolver resolver,
                                  void *user, char *detail, size_t detail_len)
{
    for (uint32_t i = 0; i < desc->import_count; i++) {
        const struct wasm_import *imp = &desc->imports[i];
        const char *sig = imp->kind == WASM_EXTERN_FUNC ? desc->type_sigs[imp->type_index] : "";
        rt_host_fn fn = NULL;
        void *ptr = NULL;
        enum fl_err err = resolver(user, imp, sig, &fn, &ptr, detail, detail_len);
        if (err != FL_OK)
            return err;
    }
    return FL_OK;
}

static enum fl_err accept_entry(const struct wasm_desc *desc, enum engine_abi *abi, char *detail,
                                size_t detail_len)
{
    const struct wasm_export *invoke = wasm_desc_find_export(desc, "__invoke", WASM_EXTERN_FUNC);
    const struct wasm_export *start = wasm_desc_find_export(desc, "_start", WASM_EXTERN_FUNC);
    if (invoke) {
        if (strcmp(wasm_desc_func_sig(desc, invoke->index), "i:i") != 0)
            return fl_fail(FL_ERR_NO_ENTRY, detail, detail_len,
                           "export __invoke must have type (i32) -> (i32)");
        *abi = ENGINE_ABI_V1;
    } else if (start) {
        if (strcmp(wasm_desc_func_sig(desc, start->index), ":") != 0)
            return fl_fail(FL_ERR_NO_ENTRY, detail, detail_len,
                           "export _start must have type () -> ()");
        *abi = ENGINE_ABI_V0;
    } else {
        return fl_fail(FL_ERR_NO_ENTRY, detail, detail_len,
                       "the module exports neither __invoke (ABI v1) nor _start (ABI v0)");
    }
    if (!wasm_desc_find_export(desc, "memory", WASM_EXTERN_MEMORY))
        return fl_fail(FL_ERR_NO_ENTRY, detail, detail_len,
                       "the module must export its memory as \"memory\"");
    return FL_OK;
}

enum fl_err accept_validate_full(const uint8_t *wasm, size_t len, char *detail, size_t detail_len)
{
    int fd = memfd_create("funless-validate", MFD_CLOEXEC);
    if (fd < 0)
        return fl_fail(FL_ERR_IO, detail, detail_len, "cannot create a memory file");
    enum fl_err err = FL_ERR_IO;
    struct fl_buf out;
    fl_buf_init(&out, 4096);
    if (write(fd, wasm, len) == (ssize_t)len && lseek(fd, 0, SEEK_SET) == 0) {
        const char *argv[] = {"wasm-validate", "/dev/stdin", NULL};
        /* niced: on a machine it shares with a Worker, the Worker's compile of this same module
         * (the Core sends it ahead) is what the first invocation waits for */
        struct proc_limits limits = {
            .memory_bytes = (uint64_t)1 << 31, .cpu_s = 60, .timeout_ms = 60000, .nice = 10};
        int status;
        err = proc_run(argv, fd, &limits, &out, &status);
        if (err == FL_OK && status != 0) {
            /* wabt prints "/dev/stdin:0000023: error: type mismatch in ...": keep what follows the
             * path */
            const char *msg = out.data ? strstr(out.data, "error: ") : NULL;
            size_t n = msg ? strcspn(msg + 7, "\n") : 0;
            err = fl_fail(status < 0 ? FL_ERR_IO : FL_ERR_INVALID_WASM, detail, detail_len,
                          "invalid WebAssembly module: %.*s", (int)n,
                          msg ? msg + 7 : "validation failed");
        } else if (err != FL_OK) {
            fl_fail(err, detail, detail_len, "cannot run wasm-validate");
        }
    }
    fl_buf_deinit(&out);
    close(fd);
    return err;
}

enum fl_err accept_module(const uint8_t *wasm, size_t len, uint64_t max_memory_bytes,
                          bool full_validation, bool require_entry, engine_import_resolver resolver,
                          void *user, struct wasm_desc *desc, enum engine_abi *abi, char *detail,
                          size_t detail_len)
{
    enum fl_err err = wasm_decode(wasm, len, desc, detail, detail_len);
    if (err == FL_OK)
        err = accept_imports(desc, resolver, user, detail, detail_len);
    *abi = ENGINE_ABI_V1;
    if (err == FL_OK && require_entry)
        err = accept_entry(desc, abi, detail, detail_len);
    if (err == FL_OK && max_memory_bytes && desc->has_memory &&
        (uint64_t)desc->memory_min_pages * ENGINE_PAGE_BYTES > max_memory_bytes)
        err = fl_fail(FL_ERR_MEMORY_LIMIT, detail, detail_len,
                      "initial memory of %u pages (%llu MiB) exceeds the limit of %llu MiB",
                      desc->memory_min_pages,
                      (unsigned long long)desc->memory_min_pages * ENGINE_PAGE_BYTES >> 20,
                      (unsigned long long)max_memory_bytes >> 20);
    if (err == FL_OK && full_validation)
        err = accept_validate_full(wasm, len, detail, detail_len);
    if (err != FL_OK)
        wasm_desc_deinit(desc);
    return err;
}

enum fl_err engine_check(const uint8_t *wasm, size_t len, uint64_t max_memory_bytes,
                         bool full_validation, struct engine_module_info *info, char *detail,
                         size_t detail_len)
{
    struct wasm_desc desc;
    enum engine_abi abi;
    enum fl_err err = accept_module(wasm, len, max_memory_bytes, full_validation, true,
                                    engine_resolve_host, NULL, &desc, &abi, detail, detail_len);
    if (err != FL_OK)
        return err;
    if (info)
        *info = (struct engine_module_info){
            .abi = abi,
            .initial_pages = desc.has_memory ? desc.memory_min_pages : 0,
            .max_pages = desc.has_memory ? desc.memory_max_pages : 0,
            .import_count = desc.import_count,
            .export_count = desc.export_count,
        };
    wasm_desc_deinit(&desc);
    return FL_OK;
}
