/*
 * metrics — the Core's own Prometheus metrics: requests by route, method
 * and status, a latency histogram, store errors. Thread-safe; rendered in
 * the Prometheus text format at /metrics.
 */
#ifndef FL_CORE_METRICS_H
#define FL_CORE_METRICS_H

#include "common/buf.h"

void metrics_observe_request(const char *route, const char *method, int status, double seconds);
void metrics_store_error(void);
/* Appends the text exposition to `out`; `functions` and `modules` are gauges. */
void metrics_render(struct fl_buf *out, unsigned long functions, unsigned long modules);

#endif
