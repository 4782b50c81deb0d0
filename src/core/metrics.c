#include "common/util.h"
#include "core/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

enum { MAX_SERIES = 256, BUCKETS = 11 };

static const double metrics_bounds[BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                               0.01,   0.05,    0.1,    0.5,   1.0};

struct series {
    char route[48];
    char method[8];
    int status;
    unsigned long count;
};

static struct {
    pthread_mutex_t lock;
    struct series series[MAX_SERIES];
    int series_count;
    unsigned long buckets[BUCKETS];
    unsigned long observations;
    double sum_seconds;
    unsigned long store_errors;
} m = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct series *metrics_series(const char *route, const char *method, int status)
{
    for (int i = 0; i < m.series_count; i++)
        if (m.series[i].status == status && strcmp(m.series[i].route, route) == 0 &&
            strcmp(m.series[i].method, method) == 0)
            return &m.series[i];
    if (m.series_count == MAX_SERIES)
        return NULL;
    struct series *s = &m.series[m.series_count++];
    snprintf(s->route, sizeof(s->route), "%s", route);
    /* methods come from the client: keep the known ones, fold the rest */
    static const char *const known[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"};
    snprintf(s->method, sizeof(s->method), "other");
    for (size_t i = 0; i < ARRAY_SIZE(known); i++)
        if (strcmp(method, known[i]) == 0)
            snprintf(s->method, sizeof(s->method), "%s", known[i]);
    s->status = status;
    return s;
}

void metrics_observe_request(const char *route, const char *method, int status, double seconds)
{
    pthread_mutex_lock(&m.lock);
    struct series *s = metrics_series(route, method, status);
    if (s)
        s->count++;
    for (int i = 0; i < BUCKETS; i++)
        if (seconds <= metrics_bounds[i])
            m.buckets[i]++;
    m.observations++;
    m.sum_seconds += seconds;
    pthread_mutex_unlock(&m.lock);
}

void metrics_store_error(void)
{
    pthread_mutex_lock(&m.lock);
    m.store_errors++;
    pthread_mutex_unlock(&m.lock);
}

void metrics_render(struct fl_buf *out, unsigned long functions, unsigned long modules)
{
    pthread_mutex_lock(&m.lock);
    fl_buf_printf(out, "# HELP funless_core_http_requests_total HTTP requests answered, by route, "
                       "method and status.\n# TYPE funless_core_http_requests_total counter\n");
    for (int i = 0; i < m.series_count; i++)
        fl_buf_printf(
            out, "funless_core_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %lu\n",
            m.series[i].route, m.series[i].method, m.series[i].status, m.series[i].count);
    fl_buf_printf(out,
                  "# HELP funless_core_http_request_duration_seconds Time to answer a request.\n"
                  "# TYPE funless_core_http_request_duration_seconds histogram\n");
    for (int i = 0; i < BUCKETS; i++)
        fl_buf_printf(out, "funless_core_http_request_duration_seconds_bucket{le=\"%g\"} %lu\n",
                      metrics_bounds[i], m.buckets[i]);
    fl_buf_printf(out,
                  "funless_core_http_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n"
                  "funless_core_http_request_duration_seconds_sum %.6f\n"
                  "funless_core_http_request_duration_seconds_count %lu\n",
                  m.observations, m.sum_seconds, m.observations);
    fl_buf_printf(out,
                  "# HELP funless_core_store_errors_total Failed store operations.\n"
                  "# TYPE funless_core_store_errors_total counter\n"
                  "funless_core_store_errors_total %lu\n"
                  "# HELP funless_core_functions Functions defined.\n"
                  "# TYPE funless_core_functions gauge\nfunless_core_functions %lu\n"
                  "# HELP funless_core_modules Modules defined.\n"
                  "# TYPE funless_core_modules gauge\nfunless_core_modules %lu\n",
                  m.store_errors, functions, modules);
    pthread_mutex_unlock(&m.lock);
}
