/* Test helper: an import resolver that provides every import (the injection tests and the
 * names fuzz target load modules whose import names are hostile bytes). */
#ifndef FL_TEST_ANY_IMPORT_H
#define FL_TEST_ANY_IMPORT_H

#include "engine/engine_internal.h"

/* fl_imps from the host; any other function import gets a stub that does nothing. */
enum fl_err provide_any_import(void *user, const struct wasm_import *imp, const char *sig,
                               rt_host_fn *fn, void **ptr, char *detail, size_t detail_len);

#endif
