/*
 * cluster — the Core's Workers: it dials each one (reconnecting with
 * backoff), keeps their load data from heartbeats, counts its own in-flight
 * invocations per Worker, pushes code, and runs invocations on them.
 *
 * Placement is APP's (core/app/app.h), over a snapshot of the Workers in name order.
 *
 * Threading: one dialer thread per Worker, which also reads the Worker's
 * link — unless an event loop does (cluster_use_loop: the Core's HTTP
 * loop). Callers block in cluster_invoke / cluster_push_* until the reply,
 * a timeout, or the Worker's loss (which fails every call waiting on it at
 * once) — or, with cluster_invoke_start, are called back on the reader's
 * thread instead; what the loop's thread sends leaves at the end of its
 * round, in one write per Worker.
 */
#ifndef FL_CORE_CLUSTER_H
#define FL_CORE_CLUSTER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "core/catalogue.h"

struct cluster;

struct fl_secret;
/* `secret` (copied; NULL or unset: none) must match the Workers' (docs/protocol.md). */
struct cluster *cluster_new(const struct fl_secret *secret);
/* Disconnects every Worker and frees everything (calls still waiting fail). */
void cluster_free(struct cluster *cluster);
struct evloop;
/* Before any Worker is added and before the loop starts: `loop` reads the links from now on. */
bool cluster_use_loop(struct cluster *cluster, struct evloop *loop);
/* Fails every call waiting for a Worker now (shutting down: the HTTP server stops once they
 * have answered). */
void cluster_fail_calls(struct cluster *cluster);

/* How the Core learnt of a Worker (docs/discovery.md). */
enum cluster_source {
    CLUSTER_STATIC,    /* --workers, or POST /v1/admin/workers: dialed until the Core stops */
    CLUSTER_MULTICAST, /* announced on the LAN: dropped when silent and disconnected */
    CLUSTER_DNS,       /* a DNS answer: dropped when no longer in it */
};

/* Starts dialing "HOST:PORT" (idempotent per address; a static Worker stays static). */
enum fl_err cluster_add_worker(struct cluster *cluster, const char *address);
/* The same for a discovered Worker; also marks it as heard from now. */
enum fl_err cluster_discovered(struct cluster *cluster, const char *address,
                               enum cluster_source source);
/* Drops Workers from `source` that are disconnected and were not heard from for `silent_ms`. */
void cluster_expire(struct cluster *cluster, enum cluster_source source, uint64_t silent_ms);
/* Drops Workers from `source` whose address is not in `addresses` (their calls fail at once). */
void cluster_retain(struct cluster *cluster, enum cluster_source source,
                    const char *const *addresses, size_t count);
size_t cluster_connected(struct cluster *cluster);

/* Where free memory and load come from: heartbeats (the default), or (false) someone calling
 * cluster_set_load — the Prometheus source. */
void cluster_load_from_heartbeats(struct cluster *cluster, bool heartbeats);
/* Load data for the connected Worker named `name` (no-op if there is none). */
void cluster_set_load(struct cluster *cluster, const char *name, uint64_t free_mem,
                      uint64_t total_mem, double load);
/* [{"name","address","source","connected","free_mem","total_mem","load","in_flight","queued"}...]
 */
cJSON *cluster_workers_json(struct cluster *cluster);

/*
 * Sends the code (or its removal) to every connected Worker. With `wait`,
 * returns once all of them acknowledged (or failed: FL_ERR_UNAVAILABLE and a
 * sentence naming the Worker); without, returns once it is sent.
 */
enum fl_err cluster_push_code(struct cluster *cluster, const char *module, const char *name,
                              const char *hash, const uint8_t *code, size_t len, bool wait,
                              char *detail, size_t detail_len);
/* Sends code to every connected Worker to compile ahead, bound to no function (a CODE frame
 * with an empty module and name; docs/protocol.md); does not wait. */
void cluster_prefetch(struct cluster *cluster, const char *hash, const uint8_t *code, size_t len);
enum fl_err cluster_drop_code(struct cluster *cluster, const char *module, const char *name,
                              bool wait, char *detail, size_t detail_len);

/* Fetches a function's code when a Worker answers "no code" (the store, for the Core). */
typedef enum fl_err (*cluster_code_fn)(void *arg, const struct fn_def *def, struct fl_buf *code);

struct cluster_result {
    enum fl_err status;   /* the engine's outcome, or UNAVAILABLE / TOO_MANY / WORKER_LOST */
    struct fl_buf output; /* result JSON, or the function's error message */
    char detail[256];
    char worker[128]; /* where it ran ("" when nowhere) */
    bool busy;        /* every Worker was saturated (429) */
    bool worker_lost; /* the Worker died or disconnected mid-call (502) */
};

/* Where a call cluster_invoke_start began was left (see cluster_invoke_finish). */
struct cworker;
struct cluster_retry {
    struct cworker *worker; /* NULL: nowhere */
    bool no_code;           /* it had no code (it gets it), or (false) it was busy */
};

struct app_script;
/*
 * Places one invocation — with the APP script `policy`, or the default policy when it is
 * NULL — and runs it; `out` is caller-owned (deinit below). `retry` (or NULL) goes on from
 * an unfinished cluster_invoke_start: the Worker without the code gets it, a busy one is
 * passed over.
 */
void cluster_invoke(struct cluster *cluster, const struct fn_def *def, const char *args,
                    size_t args_len, const struct app_script *policy, cluster_code_fn code_fn,
                    void *code_arg, const struct cluster_retry *retry, struct cluster_result *out);
void cluster_result_deinit(struct cluster_result *result);

/*
 * The same without a thread waiting: the call is placed and sent, and `done(done_arg)` runs
 * once per attempt — on the thread that reads the Worker's link (the loop's), on the Worker's
 * own thread when the reply is overdue, or on this one before the function returns when the
 * send fails — when the reply comes, the Worker is lost, or the reply is overdue. NULL when no
 * Worker can take it: cluster_invoke then gives the reason. `def`, `args` and `policy` must
 * live until the call is finished. After each `done`, cluster_invoke_finish, exactly once.
 */
typedef void (*cluster_done_fn)(void *arg);
struct cluster_call;
struct cluster_call *cluster_invoke_start(struct cluster *cluster, const struct fn_def *def,
                                          const char *args, size_t args_len,
                                          const struct app_script *policy, cluster_done_fn done,
                                          void *done_arg);
enum cluster_step {
    CLUSTER_CALL_DONE,       /* `out` is the outcome (deinit it); the call is freed */
    CLUSTER_CALL_AGAIN,      /* the Worker was busy: sent to another, `done` runs again */
    CLUSTER_CALL_NEEDS_CODE, /* the Worker had no code: cluster_invoke with `retry` resends
                              * it (it reads the store: not on the loop); the call is freed */
};
enum cluster_step cluster_invoke_finish(struct cluster *cluster, struct cluster_call *call,
                                        struct cluster_result *out, struct cluster_retry *retry);
/* The caller's client is gone: the Worker is told to stop the call (a CANCEL frame), and `done`
 * runs as for a lost call; cluster_invoke_finish follows as usual. Nothing once `done` has run
 * for this attempt. On the loop's thread. */
void cluster_invoke_cancel(struct cluster *cluster, struct cluster_call *call);

#endif
