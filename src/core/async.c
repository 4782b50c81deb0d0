#include "core/async.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "core/activations.h"
#include "core/app/app.h"
#include "core/app/scripts.h"
#include "core/catalogue.h"
#include "core/cluster/cluster.h"
#include "core/cluster/invocation.h"
#include "core/db/db.h"
#include "core/sinks/sinks.h"
#include "core/http/server.h"

enum {
    BACKOFF_FIRST_MS = 200, /* the first retry waits this, each next one twice as long */
    BACKOFF_MAX_MS = 30000,
    RETRY_SWEEP_MS = 20, /* how often waiting retries are looked at */
};

struct async_job {
    struct evloop_task task; /* its submission to the loop */
    struct async_queue *queue;
    char id[ACTIVATION_ID_CHARS + 1];
    char module[FL_NAME_MAX + 1], function[FL_NAME_MAX + 1], script[FL_NAME_MAX + 1];
    char trigger[ASYNC_TRIGGER_MAX + 1];
    char *args;
    int64_t start_wall_ms;
    unsigned attempts;
    uint64_t due_ms;     /* a retry waits until then (monotonic) */
    uint64_t started_ms; /* its current attempt began */
    struct fn_def def;
    struct app_script *policy;
    struct async_job *next;
};

struct async_queue {
    struct async_config config;
    struct evloop *loop;
    struct cluster *cluster;
    struct catalogue *catalogue;
    struct app_scripts *scripts;
    struct activations *activations;
    struct sinks *sinks;                 /* where results go (NULL: nowhere) */
    atomic_uint_fast64_t depth, retries; /* accepted and not ended; retries made */
    /* [loop] */
    struct async_job *ready, **ready_tail; /* to run now, in order */
    struct async_job *waiting;             /* retries waiting for their time */
    unsigned running;
    uint64_t swept_ms;
    bool stopping;
};

static void job_free(struct async_job *j)
{
    app_release(j->policy);
    free(j->args);
    free(j);
}

/* ---- records ---- */

static void job_record(struct async_job *j, const char *status, enum fl_err outcome,
                       int http_status, const struct invocation_outcome *o, const char *error)
{
    struct activation_record r = {
        .id = j->id,
        .module = j->module,
        .function = j->function,
        .hash = j->def.hash,
        .trigger = j->trigger,
        .status = status,
        .outcome = outcome,
        .http_status = http_status,
        .worker = o ? o->worker : "",
        .start_ms = j->start_wall_ms,
        .duration_ms = j->started_ms ? fl_ms_since(fl_now_ms(), j->started_ms) : 0,
        .attempts = j->attempts,
        .result = o && outcome == FL_OK && o->output_len ? o->output : NULL,
        .result_len = o ? o->output_len : 0,
        .error = error,
        .logs = o ? o->logs : NULL,
        .logs_len = o ? o->logs_len : 0,
        .args = j->args,
        .script = j->script,
    };
    activations_record(j->queue->activations, &r);
}

/* The call has ended for good: its final record, and its place in the queue is free. */
static void job_final(struct async_job *j, enum fl_err outcome, int http_status,
                      const struct invocation_outcome *o, const char *error)
{
    job_record(j, NULL, outcome, http_status, o, error);
    if (outcome == FL_OK && o && o->output_len) /* after the record: the sends update it */
        sinks_deliver(j->queue->sinks, j->module, j->function, j->id, o->output, o->output_len);
    atomic_fetch_sub(&j->queue->depth, 1);
    job_free(j);
}

/* ---- running (the loop) ---- */

static void queue_ready(struct async_queue *q, struct async_job *j)
{
    j->next = NULL;
    *q->ready_tail = j;
    q->ready_tail = &j->next;
}

static void job_done(void *arg, const struct invocation_outcome *o)
{
    struct async_job *j = arg;
    struct async_queue *q = j->queue;
    q->running--;
    app_release(j->policy);
    j->policy = NULL;
    if (q->stopping) { /* stays "running" in the store: the next start runs it again */
        atomic_fetch_sub(&q->depth, 1);
        job_free(j);
        return;
    }
    char error[512]; /* what a synchronous caller would have been told */
    enum fl_err failure = invocation_failure(o, j->def.meta.timeout_ms, error, sizeof(error));
    int http_status = http_status_of(failure);
    bool platform = o->status == FL_ERR_UNAVAILABLE || o->status == FL_ERR_BUSY ||
                    o->status == FL_ERR_WORKER_LOST;
    if (platform && j->attempts <= q->config.retries) {
        uint64_t backoff = (uint64_t)BACKOFF_FIRST_MS
                           << (j->attempts - 1 < 16 ? j->attempts - 1 : 16);
        j->due_ms = fl_now_ms() + (backoff < BACKOFF_MAX_MS ? backoff : BACKOFF_MAX_MS);
        atomic_fetch_add(&q->retries, 1);
        job_record(j, "queued", o->status, http_status, o, error);
        j->next = q->waiting;
        q->waiting = j;
        return;
    }
    job_final(j, o->status == FL_OK && !o->output_len ? FL_ERR_BAD_OUTPUT : o->status, http_status,
              o, o->status == FL_OK ? NULL : error);
}

/* Starts one call: the function and script as they are now. */
static void job_start(struct async_queue *q, struct async_job *j)
{
    if (!catalogue_get(q->catalogue, j->module, j->function, &j->def)) {
        job_final(j, FL_ERR_NOT_FOUND, 404, NULL, "the function was deleted before it ran");
        return;
    }
    if (j->script[0] && !(j->policy = app_scripts_get(q->scripts, j->script))) {
        job_final(j, FL_ERR_NOT_FOUND, 404, NULL, "its APP script was deleted before it ran");
        return;
    }
    j->attempts++;
    j->started_ms = fl_now_ms();
    job_record(j, "running", FL_OK, 0, NULL, NULL); /* a crash now counts this attempt */
    struct invocation_request req = {
        .def = &j->def,
        .args = j->args,
        .args_len = strlen(j->args),
        .policy = j->policy,
        .request_id = j->id,
        .done = job_done,
        .done_arg = j,
    };
    if (!invocation_start(q->cluster, &req)) { /* out of memory: a little later */
        j->attempts--;
        j->due_ms = fl_now_ms() + BACKOFF_FIRST_MS;
        j->next = q->waiting;
        q->waiting = j;
        return;
    }
    q->running++;
}

/* [loop] Retries whose time has come go in line; then calls start while there is room. */
static void async_round_end(void *arg)
{
    struct async_queue *q = arg;
    uint64_t now = fl_now_ms();
    if (fl_ms_since(now, q->swept_ms) >= RETRY_SWEEP_MS) {
        q->swept_ms = now;
        for (struct async_job **slot = &q->waiting; *slot;) {
            struct async_job *j = *slot;
            if (now >= j->due_ms) {
                *slot = j->next;
                queue_ready(q, j);
            } else {
                slot = &j->next;
            }
        }
    }
    /* with no Worker at all (the Core has just started, or lost them all) calls wait in line
     * rather than spend their retries */
    if (q->ready && q->running < q->config.concurrency && cluster_connected(q->cluster) == 0)
        return;
    while (!q->stopping && q->ready && q->running < q->config.concurrency) {
        struct async_job *j = q->ready;
        if (!(q->ready = j->next))
            q->ready_tail = &q->ready;
        job_start(q, j);
    }
}

static void job_submitted(struct evloop_task *task)
{
    struct async_job *j = container_of(task, struct async_job, task);
    queue_ready(j->queue, j);
    evloop_again(j->queue->loop); /* it may start this very round */
}

/* ---- the queue ---- */

static void async_hook(void *arg)
{
    struct async_queue *q = arg;
    if (!evloop_on_round_end(q->loop, EVLOOP_WORK, async_round_end, q))
        q->loop = NULL;
}

struct async_queue *async_new(const struct async_config *config, struct evloop *loop,
                              struct cluster *cluster, struct catalogue *catalogue,
                              struct app_scripts *scripts, struct activations *activations)
{
    struct async_queue *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    *q = (struct async_queue){.config = *config,
                              .loop = loop,
                              .cluster = cluster,
                              .catalogue = catalogue,
                              .scripts = scripts,
                              .activations = activations};
    q->ready_tail = &q->ready;
    evloop_call(loop, async_hook, q);
    if (!q->loop) {
        free(q);
        return NULL;
    }
    return q;
}

/* Jobs not started: they are queued in the store, and the next start runs them. */
static void jobs_drop(struct async_job *list)
{
    for (struct async_job *j = list, *next; j; j = next) {
        next = j->next;
        job_free(j);
    }
}

static void async_stop_on_loop(void *arg)
{
    struct async_queue *q = arg;
    q->stopping = true;
    evloop_off_round_end(q->loop, async_round_end, q);
    jobs_drop(q->ready);
    jobs_drop(q->waiting);
    q->ready = q->waiting = NULL;
    q->ready_tail = &q->ready;
}

void async_stop(struct async_queue *q)
{
    if (q)
        evloop_call(q->loop, async_stop_on_loop, q);
}

void async_free(struct async_queue *q)
{
    free(q);
}

bool async_reserve(struct async_queue *q)
{
    if (atomic_fetch_add(&q->depth, 1) < q->config.queue_max)
        return true;
    atomic_fetch_sub(&q->depth, 1);
    return false;
}

void async_unreserve(struct async_queue *q)
{
    atomic_fetch_sub(&q->depth, 1);
}

void async_submit(struct async_queue *q, const struct async_entry *e)
{
    struct async_job *j = calloc(1, sizeof(*j));
    char *args = strdup(e->args ? e->args : "{}");
    if (!j || !args) { /* it stays queued in the store: the next start runs it */
        free(j);
        free(args);
        atomic_fetch_sub(&q->depth, 1);
        fl_log(FL_LOG_ERROR, "async_not_queued", "request=%s detail=%s", e->id, "out of memory");
        return;
    }
    j->queue = q;
    snprintf(j->id, sizeof(j->id), "%s", e->id);
    snprintf(j->module, sizeof(j->module), "%s", e->module);
    snprintf(j->function, sizeof(j->function), "%s", e->function);
    snprintf(j->script, sizeof(j->script), "%s", e->script ? e->script : "");
    snprintf(j->trigger, sizeof(j->trigger), "%s", e->trigger ? e->trigger : "async");
    j->args = args;
    j->start_wall_ms = e->start_ms;
    j->attempts = e->attempts;
    j->task.run = job_submitted;
    if (evloop_on_thread(q->loop)) { /* an accept's commit, told on the loop: no hand-off */
        job_submitted(&j->task);
        return;
    }
    if (!evloop_post(q->loop, &j->task)) {
        atomic_fetch_sub(&q->depth, 1);
        job_free(j);
    }
}

void async_set_sinks(struct async_queue *q, struct sinks *sinks)
{
    q->sinks = sinks;
}

bool async_trigger_queued(const char *trigger)
{
    return strcmp(trigger, "async") == 0 || strcmp(trigger, "cron") == 0 ||
           strcmp(trigger, "event") == 0;
}

/* ---- accepting (the loop) ---- */

struct enqueue {
    struct activation_wait wait;
    struct async_queue *queue;
    struct async_entry entry; /* its strings point into `strings` */
    void (*accepted)(void *arg, const char *id, enum fl_err err);
    void *arg;
    char id[ACTIVATION_ID_CHARS + 1];
    char strings[];
};

static void enqueue_written(struct activation_wait *wait, enum fl_err err)
{
    struct enqueue *q = container_of(wait, struct enqueue, wait);
    if (err == FL_OK)
        async_submit(q->queue, &q->entry);
    else
        async_unreserve(q->queue);
    if (q->accepted)
        q->accepted(q->arg, q->id, err);
    free(q);
}

enum fl_err async_enqueue(struct async_queue *queue, const struct async_request *r)
{
    int64_t now = fl_wall_ms();
    size_t module_len = strlen(r->def->module) + 1, name_len = strlen(r->def->name) + 1;
    size_t args_len = strlen(r->args) + 1, script_len = strlen(r->script) + 1;
    size_t trigger_len = strlen(r->trigger) + 1;
    struct enqueue *q =
        malloc(sizeof(*q) + module_len + name_len + args_len + script_len + trigger_len);
    if (!q)
        return FL_ERR_NOMEM;
    if (!activation_new_id(q->id, now)) {
        free(q);
        return FL_ERR_IO;
    }
    if (!async_reserve(queue)) {
        free(q);
        return FL_ERR_BUSY;
    }
    char *p = q->strings;
    q->entry = (struct async_entry){.id = q->id,
                                    .module = memcpy(p, r->def->module, module_len),
                                    .function = memcpy(p += module_len, r->def->name, name_len),
                                    .args = memcpy(p += name_len, r->args, args_len),
                                    .script = memcpy(p += args_len, r->script, script_len),
                                    .trigger = memcpy(p += script_len, r->trigger, trigger_len),
                                    .start_ms = now};
    q->queue = queue;
    q->accepted = r->accepted;
    q->arg = r->arg;
    q->wait = (struct activation_wait){.loop = queue->loop, .done = enqueue_written};
    struct activation_record queued = {.id = q->id,
                                       .module = q->entry.module,
                                       .function = q->entry.function,
                                       .hash = r->def->hash,
                                       .trigger = q->entry.trigger,
                                       .status = "queued",
                                       .worker = "",
                                       .start_ms = now,
                                       .args = q->entry.args,
                                       .script = q->entry.script};
    if (!activations_record_durable(queue->activations, &queued, &q->wait)) {
        async_unreserve(queue);
        free(q);
        return FL_ERR_BUSY; /* the store is behind */
    }
    return FL_OK;
}

/* ---- at start ---- */

struct load {
    struct async_queue *queue;
    struct async_entry *entries;
    char **strings;
    size_t count, cap;
    const char *status;
};

static void load_row(void *arg, const struct db_activation *row)
{
    struct load *l = arg;
    if (!async_trigger_queued(row->trigger)) /* a synchronous call's record */
        return;
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct async_entry *grown = realloc(l->entries, cap * sizeof(*grown));
        if (!grown)
            return;
        l->entries = grown;
        l->cap = cap;
    }
    /* the row lives only during the callback: its strings are copied */
    char *copy = NULL;
    size_t len = strlen(row->id) + strlen(row->module) + strlen(row->function) + strlen(row->args) +
                 strlen(row->script) + strlen(row->trigger) + 6;
    if (!(copy = malloc(len)))
        return;
    struct async_entry *e = &l->entries[l->count];
    char *p = copy;
    e->id = strcpy(p, row->id), p += strlen(p) + 1;
    e->module = strcpy(p, row->module), p += strlen(p) + 1;
    e->function = strcpy(p, row->function), p += strlen(p) + 1;
    e->args = strcpy(p, row->args), p += strlen(p) + 1;
    e->script = strcpy(p, row->script), p += strlen(p) + 1;
    e->trigger = strcpy(p, row->trigger);
    e->start_ms = strtoll(row->start_ms, NULL, 10);
    e->attempts = (unsigned)atoi(row->attempts);
    char **grown = realloc(l->strings, (l->count + 1) * sizeof(*grown));
    if (!grown) {
        free(copy);
        return;
    }
    l->strings = grown;
    l->strings[l->count++] = copy;
}

enum fl_err async_load(struct async_queue *q, struct db *db, char *detail, size_t detail_len)
{
    struct load l = {.queue = q};
    enum fl_err err = FL_OK;
    size_t running_from = 0;
    for (int pass = 0; pass < 2 && err == FL_OK; pass++) {
        running_from = pass == 1 ? l.count : running_from;
        struct db_activation_query query = {
            .status = pass == 0 ? "queued" : "running",
            .limit =
                (unsigned)(q->config.queue_max < 1000000000 ? q->config.queue_max : 1000000000)};
        err = db->ops->activation_query(db, &query, load_row, &l, detail, detail_len);
    }
    size_t requeued = 0, lost = 0;
    for (size_t k = l.count; err == FL_OK && k-- > 0;) { /* the store lists newest first */
        struct async_entry *e = &l.entries[k];
        if (k >= running_from && e->attempts > q->config.retries) {
            /* the Core stopped during its last attempt: it does not get another */
            struct activation_record r = {.id = e->id,
                                          .module = e->module,
                                          .function = e->function,
                                          .hash = "",
                                          .trigger = e->trigger,
                                          .outcome = FL_ERR_WORKER_LOST,
                                          .http_status = http_status_of(FL_ERR_WORKER_LOST),
                                          .worker = "",
                                          .start_ms = e->start_ms,
                                          .attempts = e->attempts,
                                          .error = "the Core stopped during its last attempt",
                                          .args = e->args,
                                          .script = e->script};
            activations_record(q->activations, &r);
            lost++;
            continue;
        }
        atomic_fetch_add(&q->depth, 1);
        async_submit(q, e);
        requeued++;
    }
    for (size_t k = 0; k < l.count; k++)
        free(l.strings[k]);
    free(l.strings);
    free(l.entries);
    if (requeued || lost)
        fl_log(FL_LOG_INFO, "async_requeued", "calls=%zu lost=%zu", requeued, lost);
    return err;
}

uint64_t async_depth(struct async_queue *q)
{
    return q ? atomic_load(&q->depth) : 0;
}

uint64_t async_retries(struct async_queue *q)
{
    return q ? atomic_load(&q->retries) : 0;
}
