/*
 * sandbox — the Worker restricts itself at start, as defense in depth for a
 * bug in code generation (docs/security.md).
 *
 * - PR_SET_NO_NEW_PRIVS: neither the Worker nor a compiler it runs can gain
 *   privileges (set-uid programs run without them).
 * - Landlock, where the kernel has it (Linux 5.13+): from then on the Worker
 *   and every process it starts (wasm2c, gcc, wasm-validate) may create,
 *   write, rename or remove files only beneath the directories given; reading
 *   is not limited (the compilers read /usr). An older kernel gets the first
 *   part only, and the report says so.
 *
 * Irreversible for the process. Called once, on the main thread, before the
 * Worker starts its threads.
 */
#ifndef FL_WORKER_SANDBOX_H
#define FL_WORKER_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct sandbox_report {
    bool no_new_privs;
    int landlock_abi;     /* the kernel's Landlock ABI version; 0: none */
    bool landlock_active; /* the write rules are enforced */
};

/* Applies both to the calling process; FL_ERR_IO only when the kernel refused a step it
 * offers. `writable` holds `count` existing directories. */
enum fl_err sandbox_apply(const char *const writable[], size_t count, struct sandbox_report *report,
                          char *detail, size_t detail_len);

/* What `funless worker` applies: writes beneath its cache dir and the temporary directory
 * ($TMPDIR, else /tmp) only, and to /dev/null. */
enum fl_err sandbox_worker(const char *cache_dir, struct sandbox_report *report, char *detail,
                           size_t detail_len);

/* One line for the log: what was applied. */
void sandbox_describe(const struct sandbox_report *report, const char *cache_dir, char *out,
                      size_t out_len);

#endif
