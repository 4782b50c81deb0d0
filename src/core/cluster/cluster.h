/*
 * cluster — the Core's Workers: it dials each one (reconnecting with backoff),
 * keeps their load from heartbeats, pushes code to them, and runs invocations
 * on them (invocation.h: one state machine on the Core's event loop).
 *
 * Threading: the event loop given to cluster_new reads every Worker's link and
 * runs every invocation; each Worker has a thread of its own that dials it and
 * hangs up when it falls silent. The functions below may be called from any
 * thread unless they say otherwise; cluster_internal.h has the locking rules.
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
struct evloop;
/* Reads a function's code from the store, for a Worker that answers "no code" (the Core's
 * store); runs on a thread of the cluster's own, never on the loop. */
typedef enum fl_err (*cluster_code_fn)(void *arg, const struct fn_def *def, struct fl_buf *code);

/* `secret` (copied; NULL or unset: none) must match the Workers' (docs/protocol.md). `loop`
 * (running) reads the links and runs the invocations; it must outlive the cluster. */
struct cluster *cluster_new(const struct fl_secret *secret, struct evloop *loop,
                            cluster_code_fn code_fn, void *code_arg);
/* Where a call's environment comes from (catalogue_env), for functions whose definition says
 * they have one; set before the first call. */
void cluster_set_catalogue(struct cluster *cluster, struct catalogue *catalogue);
/* Disconnects every Worker and frees everything (invocations still out fail first). */
void cluster_free(struct cluster *cluster);
/* Fails every invocation out on a Worker now (shutting down: the HTTP server stops once they
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
/* Drops Workers from `source` whose address is not in `addresses` (their calls fail). */
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
 * Sends the code (or its removal) to every connected Worker. With `wait` (never on the loop's
 * thread, which delivers the acknowledgements), returns once all of them acknowledged, or
 * FL_ERR_UNAVAILABLE and a sentence naming the Worker that did not; without, once it is sent.
 * FL_ERR_TOO_LARGE when the code does not fit in a frame (nothing is then sent).
 */
enum fl_err cluster_push_code(struct cluster *cluster, const char *module, const char *name,
                              const char *hash, const uint8_t *code, size_t len, bool wait,
                              char *detail, size_t detail_len);
/* Sends code to every connected Worker to compile ahead, bound to no function (a CODE frame
 * with an empty module and name; docs/protocol.md); does not wait. */
void cluster_prefetch(struct cluster *cluster, const char *hash, const uint8_t *code, size_t len);
enum fl_err cluster_drop_code(struct cluster *cluster, const char *module, const char *name,
                              bool wait, char *detail, size_t detail_len);

#endif
