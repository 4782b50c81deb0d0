#include "any_import.h"

#include <string.h>

static void stub_import(struct rt_ctx *ctx, uint32_t index, const uint64_t *args, uint64_t *results)
{
    (void)ctx, (void)index, (void)args, (void)results;
}

enum fl_err provide_any_import(void *user, const struct wasm_import *imp, const char *sig,
                               rt_host_fn *fn, void **ptr, char *detail, size_t detail_len)
{
    (void)user;
    if (strcmp(imp->module, "fl_imps") == 0)
        return engine_resolve_host(NULL, imp, sig, fn, ptr, detail, detail_len);
    *fn = stub_import;
    return FL_OK;
}
