#include "worker/metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/escape.h"
#include "common/net.h"
#include "engine/engine.h"
#include "worker/cache.h"

enum { MAX_SERIES = 512, BUCKETS = 10 };

static const double bounds[BUCKETS] = {0.00001, 0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 10};

struct series {
    char module[64], function[64];
    const char *outcome;
    unsigned long count;
};

static struct {
    pthread_mutex_t lock;
    struct series series[MAX_SERIES];
    int count;
    unsigned long buckets[BUCKETS], observations, busy;
    double sum;
    unsigned long long cpu_busy, cpu_total;
    const char *node;
    struct cache *cache;
    struct MHD_Daemon *daemon; /* metrics_serve's */
} m = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const char *outcome_name(enum fl_err err)
{
    switch (err) {
    case FL_OK:
        return "ok";
    case FL_ERR_FUNCTION:
        return "function_error";
    case FL_ERR_TIMEOUT:
        return "timeout";
    case FL_ERR_TRAP:
    case FL_ERR_MEMORY_LIMIT:
        return "trap";
    case FL_ERR_BAD_OUTPUT:
        return "bad_output";
    default:
        return "error";
    }
}

void metrics_observe_invocation(const char *module, const char *function, enum fl_err outcome,
                                bool cancelled, double seconds)
{
    const char *name = cancelled ? "cancelled" : outcome_name(outcome);
    pthread_mutex_lock(&m.lock);
    struct series *s = NULL;
    for (int i = 0; i < m.count && !s; i++)
        if (m.series[i].outcome == name && strcmp(m.series[i].module, module) == 0 &&
            strcmp(m.series[i].function, function) == 0)
            s = &m.series[i];
    if (!s && m.count < MAX_SERIES) {
        s = &m.series[m.count++];
        snprintf(s->module, sizeof(s->module), "%s", module);
        snprintf(s->function, sizeof(s->function), "%s", function);
        s->outcome = name;
    }
    if (s)
        s->count++;
    for (int i = 0; i < BUCKETS; i++)
        if (seconds <= bounds[i])
            m.buckets[i]++;
    m.observations++;
    m.sum += seconds;
    pthread_mutex_unlock(&m.lock);
}

static atomic_ulong calls_on_reader, reader_rescues; /* per call: no lock */

void metrics_observe_call_on_reader(void)
{
    atomic_fetch_add_explicit(&calls_on_reader, 1, memory_order_relaxed);
}

void metrics_observe_reader_rescue(void)
{
    atomic_fetch_add(&reader_rescues, 1);
}

void metrics_observe_busy(void)
{
    pthread_mutex_lock(&m.lock);
    m.busy++;
    pthread_mutex_unlock(&m.lock);
}

static uint64_t meminfo_kb(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static _Atomic uint64_t memory_limit;

void metrics_set_memory_limit(uint64_t bytes)
{
    memory_limit = bytes;
}

static uint64_t at_most(uint64_t value, uint64_t limit)
{
    return limit && value > limit ? limit : value;
}

void metrics_read_host(struct metrics_host *out)
{
    memset(out, 0, sizeof(*out));
    char text[4096] = "";
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        size_t n = fread(text, 1, sizeof(text) - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    out->total_mem = meminfo_kb(text, "MemTotal:") << 10;
    out->free_mem = meminfo_kb(text, "MemFree:") << 10;
    out->available_mem = meminfo_kb(text, "MemAvailable:") << 10;
    uint64_t limit = memory_limit;
    out->total_mem = at_most(out->total_mem, limit);
    out->free_mem = at_most(out->free_mem, limit);
    out->available_mem = at_most(out->available_mem, limit);
    f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &out->load1, &out->load5, &out->load15) != 3)
            out->load1 = out->load5 = out->load15 = 0;
        fclose(f);
    }
    unsigned long long user, nice, sys, idle, iowait, irq, softirq;
    f = fopen("/proc/stat", "r");
    if (f && fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait,
                    &irq, &softirq) == 7) {
        unsigned long long busy = user + nice + sys + irq + softirq, total = busy + idle + iowait;
        pthread_mutex_lock(&m.lock);
        if (total > m.cpu_total)
            out->cpu_utilization = (double)(busy - m.cpu_busy) / (double)(total - m.cpu_total);
        m.cpu_busy = busy;
        m.cpu_total = total;
        pthread_mutex_unlock(&m.lock);
    }
    if (f)
        fclose(f);
}

static void metrics_render(struct fl_buf *out)
{
    struct metrics_host host;
    struct cache_stats cs;
    metrics_read_host(&host);
    cache_stats(m.cache, &cs);
    const char *gauges[] = {"cpu_utilization", "load_avg1",     "load_avg5", "load_avg15",
                            "free_mem",        "available_mem", "total_mem"};
    /* FunLess's units: cpu_utilization in percent (Erlang's cpu_sup:util/0), memory in bytes,
     * load averages as `top` shows them */
    double values[] = {host.cpu_utilization * 100,
                       host.load1,
                       host.load5,
                       host.load15,
                       (double)host.free_mem,
                       (double)host.available_mem,
                       (double)host.total_mem};
    for (int i = 0; i < 7; i++) {
        fl_buf_printf(out,
                      "# HELP worker_prom_ex_os_mon_resources_%s Host %s (FunLess's name and "
                      "unit).\n"
                      "# TYPE worker_prom_ex_os_mon_resources_%s gauge\n"
                      "worker_prom_ex_os_mon_resources_%s{node=\"",
                      gauges[i], gauges[i], gauges[i], gauges[i]);
        fl_buf_prom_label(out, m.node);
        fl_buf_printf(out, "\"} %.17g\n", values[i]);
    }
    pthread_mutex_lock(&m.lock);
    fl_buf_printf(
        out, "# HELP funless_worker_invocations_total Invocations run, by function and outcome.\n"
             "# TYPE funless_worker_invocations_total counter\n");
    /* module and function names arrive in frames: escaped, whoever sent them */
    for (int i = 0; i < m.count; i++) {
        fl_buf_printf(out, "funless_worker_invocations_total{module=\"");
        fl_buf_prom_label(out, m.series[i].module);
        fl_buf_printf(out, "\",function=\"");
        fl_buf_prom_label(out, m.series[i].function);
        fl_buf_printf(out, "\",outcome=\"%s\"} %lu\n", m.series[i].outcome, m.series[i].count);
    }
    fl_buf_printf(out,
                  "# HELP funless_worker_invocation_duration_seconds Time to run an invocation.\n"
                  "# TYPE funless_worker_invocation_duration_seconds histogram\n");
    for (int i = 0; i < BUCKETS; i++)
        fl_buf_printf(out, "funless_worker_invocation_duration_seconds_bucket{le=\"%g\"} %lu\n",
                      bounds[i], m.buckets[i]);
    fl_buf_printf(
        out,
        "funless_worker_invocation_duration_seconds_bucket{le=\"+Inf\"} %lu\n"
        "funless_worker_invocation_duration_seconds_sum %.6f\n"
        "funless_worker_invocation_duration_seconds_count %lu\n"
        "# HELP funless_worker_busy_total Invocations refused because the queue was full.\n"
        "# TYPE funless_worker_busy_total counter\nfunless_worker_busy_total %lu\n",
        m.observations, m.sum, m.observations, m.busy);
    pthread_mutex_unlock(&m.lock);
    fl_buf_printf(out,
                  "# HELP funless_worker_calls_on_reader_total Invocations run by the thread that "
                  "read them (fast functions, no hand-off).\n"
                  "# TYPE funless_worker_calls_on_reader_total counter\n"
                  "funless_worker_calls_on_reader_total %lu\n"
                  "# HELP funless_worker_reader_rescues_total Calls on a reader that ran so long "
                  "that their connection got a new reader.\n"
                  "# TYPE funless_worker_reader_rescues_total counter\n"
                  "funless_worker_reader_rescues_total %lu\n",
                  atomic_load(&calls_on_reader), atomic_load(&reader_rescues));
    struct engine_stats es;
    engine_stats(&es);
    fl_buf_printf(out,
                  "# HELP funless_worker_compile_seconds Time spent compiling code, by tier "
                  "(0: wasm2c + libtcc, in memory; 1: gcc in the background).\n"
                  "# TYPE funless_worker_compile_seconds summary\n"
                  "funless_worker_compile_seconds_sum{tier=\"0\"} %.6f\n"
                  "funless_worker_compile_seconds_count{tier=\"0\"} %lu\n"
                  "funless_worker_compile_seconds_sum{tier=\"1\"} %.6f\n"
                  "funless_worker_compile_seconds_count{tier=\"1\"} %lu\n"
                  "# HELP funless_worker_compile_failures_total Optimizing compiles that failed.\n"
                  "# TYPE funless_worker_compile_failures_total counter\n"
                  "funless_worker_compile_failures_total{tier=\"1\"} %lu\n",
                  es.tier0_seconds, es.tier0_compiles, es.tier1_seconds,
                  es.tier1_compiles + es.tier1_failures, es.tier1_failures);
    fl_buf_printf(
        out,
        "# HELP funless_worker_cache_hits_total Invocations whose code was loaded.\n"
        "# TYPE funless_worker_cache_hits_total counter\nfunless_worker_cache_hits_total %lu\n"
        "# HELP funless_worker_cache_misses_total Invocations whose code had to be loaded.\n"
        "# TYPE funless_worker_cache_misses_total counter\nfunless_worker_cache_misses_total %lu\n"
        "# HELP funless_worker_functions Functions whose code this Worker holds.\n"
        "# TYPE funless_worker_functions gauge\nfunless_worker_functions %lu\n",
        cs.hits, cs.misses, cs.functions);
}

static enum MHD_Result metrics_answer(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    (void)cls, (void)version, (void)upload_data;
    if (!*con_cls) {
        *con_cls = (void *)1;
        return MHD_YES;
    }
    *upload_data_size = 0;
    struct fl_buf body;
    fl_buf_init(&body, 1 << 20);
    unsigned status = 200;
    if (strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0)
        metrics_render(&body);
    else {
        status = 404;
        fl_buf_printf(&body, "not found\n");
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(body.len, body.data ? body.data : "",
                                                             MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    fl_buf_deinit(&body);
    return ok;
}

bool metrics_serve(const char *listen, const char *node, struct cache *cache, unsigned *port)
{
    struct sockaddr_in addr;
    if (!fl_parse_listen(listen, &addr))
        return false;
    m.node = node;
    m.cache = cache;
    struct metrics_host warmup;
    metrics_read_host(&warmup);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0,
                                            NULL, NULL, metrics_answer, NULL, MHD_OPTION_SOCK_ADDR,
                                            (struct sockaddr *)&addr, MHD_OPTION_END);
    if (!d)
        return false;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? info->port : 0;
    m.daemon = d;
    return true;
}

void metrics_stop(void)
{
    if (m.daemon)
        MHD_stop_daemon(m.daemon);
    m.daemon = NULL;
}
