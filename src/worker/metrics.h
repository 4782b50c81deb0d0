/*
 * metrics — the Worker's Prometheus metrics and the host figures its
 * heartbeats carry. Thread-safe.
 */
#ifndef FL_WORKER_METRICS_H
#define FL_WORKER_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

struct cache;

struct metrics_host {
    uint64_t total_mem, free_mem, available_mem; /* bytes */
    double load1, load5, load15;
    double cpu_utilization; /* 0..1 since the previous reading */
};

/* Memory figures are capped at `bytes` (the Worker's --memory-mb; 0: none). */
void metrics_set_memory_limit(uint64_t bytes);
void metrics_read_host(struct metrics_host *out);
/* One invocation ended with `outcome`, or was stopped because its Core gave up on it. */
void metrics_observe_invocation(const char *module, const char *function, enum fl_err outcome,
                                bool cancelled, double seconds);
void metrics_observe_busy(void);
/* A call ran on its connection's reader (no hand-off); a reader's call ran so long that the
 * connection got a new reader (worker.c). */
void metrics_observe_call_on_reader(void);
void metrics_observe_reader_rescue(void);
/* Serves GET /metrics on "ADDR:PORT"; the bound port in *port. */
bool metrics_serve(const char *listen, const char *node, struct cache *cache, unsigned *port);
/* Stops serving (joins the server's thread). */
void metrics_stop(void);

#endif
