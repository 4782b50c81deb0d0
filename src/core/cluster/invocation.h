/*
 * invocation — one call of a function, from the request that asks for it to
 * its outcome: the one path every invocation takes (docs/core.md draws it).
 *
 * An invocation is created once per request and lives on the Core's event
 * loop: every way it can go is a transition of this object on the loop's
 * thread, and no thread is spent on it.
 *
 *   placed ──> SENT ──RESULT──────────────────────────────> finished
 *               │ ├──BUSY──> placed again, that Worker excluded (none: 429)
 *               │ ├──NO_CODE──> FETCHING (the store, off the loop) ──> SENT with the code
 *               │ ├──the Worker's link ends──> finished: worker lost (502)
 *               │ ├──its time is up──> CANCEL to the Worker, finished: worker lost (502)
 *               │ └──invocation_cancel──> CANCEL to the Worker, finished: cancelled
 *   no Worker fits ──> finished: unavailable (503), or busy (429) once one said BUSY
 *
 * `done` runs once per invocation, on the loop's thread — never inside
 * invocation_start or invocation_cancel — and the invocation is freed after.
 */
#ifndef FL_CORE_CLUSTER_INVOCATION_H
#define FL_CORE_CLUSTER_INVOCATION_H

#include <stddef.h>

#include "common/err.h"
#include "core/catalogue.h"

struct cluster;
struct app_script;
struct invocation;

struct invocation_outcome {
    /* FL_OK or the function's own failure (FL_ERR_FUNCTION, _TRAP, _TIMEOUT, _BAD_OUTPUT,
     * _MEMORY_LIMIT), or the platform's: FL_ERR_BUSY (every Worker that fits is full),
     * FL_ERR_UNAVAILABLE (none fits), FL_ERR_WORKER_LOST, FL_ERR_STORE (the code cannot be
     * read), FL_ERR_TOO_LARGE (code and arguments exceed a frame), FL_ERR_CANCELLED. */
    enum fl_err status;
    const char *output; /* the result JSON, or the function's error text ("" if none) */
    size_t output_len;
    const char *logs; /* the function's log lines, '\n'-separated ("" if none) */
    size_t logs_len;
    const char *detail; /* one sentence on what went wrong ("" on success) */
    const char *worker; /* where it ran last ("" when nowhere) */
    unsigned attempts;  /* INVOKE frames sent */
};

/*
 * What an outcome means to whoever asked (docs/api.md): FL_OK for a result, else the reply's
 * error (the one status table maps it to HTTP) and its detail in `detail` — the function's own
 * message, the time limit it ran into, the platform's reason. The synchronous reply and an
 * asynchronous call's record are both made from it. `timeout_ms` is the function's.
 */
enum fl_err invocation_failure(const struct invocation_outcome *outcome, uint32_t timeout_ms,
                               char *detail, size_t detail_len);

/* On the loop's thread; `outcome` and its strings live only during the call. */
typedef void (*invocation_done_fn)(void *arg, const struct invocation_outcome *outcome);

struct invocation_request {
    const struct fn_def *def; /* copied */
    const char *args;         /* JSON text: must live until `done` */
    size_t args_len;
    const struct app_script *policy; /* NULL: the default policy; must live until `done` */
    const char *request_id;          /* for the log (copied) */
    invocation_done_fn done;
    void *done_arg;
};

/* On the loop's thread: places the call and sends it. NULL only when out of memory (nothing
 * started, `done` will not run). */
struct invocation *invocation_start(struct cluster *cluster, const struct invocation_request *req);
/* On the loop's thread, before `done` has run: the caller no longer wants the outcome (its client
 * went away). The Worker is told to stop (a CANCEL frame) and `done` follows with
 * FL_ERR_CANCELLED (or, reading the code, once the read ends). */
void invocation_cancel(struct invocation *invocation);

#endif
