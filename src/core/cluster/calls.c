/*
 * calls — invocations in flight: the state machine of invocation.h, run on
 * the Core's event loop. Nothing here takes a lock but placement's (the
 * Worker table), and nothing waits.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "core/cluster/cluster_internal.h"

enum {
    REPLY_MARGIN_MS = 30000, /* compile time and transfer on top of the function's limit */
    SWEEP_EVERY_MS = 100,    /* how often calls past their time are looked for */
};

enum call_state {
    CALL_PLACING,  /* being placed (inside invocation_start or after BUSY) */
    CALL_SENT,     /* INVOKE is on its way to `worker` or running there */
    CALL_FETCHING, /* `worker` had no code: the store is being read (code.c) */
    CALL_FINISHED, /* the outcome is known: `done` runs at the round's end */
};

struct invocation {
    struct cluster *cluster;
    struct fn_def def;
    const char *args;
    size_t args_len;
    const struct app_script *policy;
    char request_id[64];
    invocation_done_fn done;
    void *done_arg;
    enum call_state state;
    uint32_t id;                      /* of the INVOKE sent last */
    struct cworker *worker;           /* held (its in_flight) while SENT or FETCHING */
    uint64_t tried[MAX_WORKERS / 64]; /* Workers that answered BUSY, by slot */
    uint64_t deadline_ms;             /* of the INVOKE sent last */
    unsigned attempts;
    bool busy; /* a Worker answered BUSY */
    bool cancelled;
    struct code_fetch *fetch; /* the code, once a Worker lacked it (a reference) */
    const struct fl_buf *code;
    enum fl_err status;
    char detail[256];
    char worker_name[128];
    struct invocation *next_by_id;            /* in its bucket, while SENT */
    struct invocation *prev_sent, *next_sent; /* on cluster->sent, while SENT */
    struct invocation *next;                  /* on the ready list */
};

void calls_set_fetch(struct invocation *inv, struct code_fetch *fetch)
{
    inv->fetch = fetch;
}

const struct fn_def *calls_def(const struct invocation *inv)
{
    return &inv->def;
}

/* ---- bookkeeping ---- */

static struct invocation **call_bucket(struct cluster *c, uint32_t id)
{
    return &c->by_id[id & (CALL_BUCKETS - 1)];
}

/* The call is out on `w`: findable by its id, swept when overdue, failed when `w` is lost. */
static void call_register(struct invocation *inv)
{
    struct cluster *c = inv->cluster;
    struct invocation **bucket = call_bucket(c, inv->id);
    inv->next_by_id = *bucket;
    *bucket = inv;
    inv->prev_sent = NULL;
    inv->next_sent = c->sent;
    if (c->sent)
        c->sent->prev_sent = inv;
    c->sent = inv;
    inv->state = CALL_SENT;
}

static void call_unregister(struct invocation *inv)
{
    struct cluster *c = inv->cluster;
    assert(inv->state == CALL_SENT);
    for (struct invocation **slot = call_bucket(c, inv->id); *slot; slot = &(*slot)->next_by_id)
        if (*slot == inv) {
            *slot = inv->next_by_id;
            break;
        }
    if (inv->prev_sent)
        inv->prev_sent->next_sent = inv->next_sent;
    else
        c->sent = inv->next_sent;
    if (inv->next_sent)
        inv->next_sent->prev_sent = inv->prev_sent;
}

/* The call counts on `w` (placement sees it; the slot is not reused meanwhile). */
static void call_hold(struct invocation *inv, struct cworker *w)
{
    inv->worker = w;
    placement_count(w, inv->def.meta.tag, +1);
    snprintf(inv->worker_name, sizeof(inv->worker_name), "%.127s", w->name);
}

static void call_release(struct invocation *inv)
{
    if (inv->worker)
        placement_count(inv->worker, inv->def.meta.tag, -1);
    inv->worker = NULL;
}

static void call_free(struct invocation *inv)
{
    if (inv->fetch)
        code_fetch_release(inv->fetch);
    free(inv);
}

/* ---- finishing ---- */

static void call_done(struct invocation *inv, const char *output, size_t output_len,
                      const char *logs, size_t logs_len)
{
    struct invocation_outcome outcome = {
        .status = inv->status,
        .output = output ? output : "",
        .output_len = output ? output_len : 0,
        .logs = logs ? logs : "",
        .logs_len = logs ? logs_len : 0,
        .detail = inv->detail,
        .worker = inv->worker_name,
        .attempts = inv->attempts,
    };
    inv->done(inv->done_arg, &outcome);
    call_free(inv);
}

/* The outcome is known (not from a RESULT): `done` runs at the round's end, never inside the
 * function that caused it. */
static void call_finish(struct invocation *inv, enum fl_err status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void call_finish(struct invocation *inv, enum fl_err status, const char *fmt, ...)
{
    struct cluster *c = inv->cluster;
    if (inv->state == CALL_SENT)
        call_unregister(inv);
    call_release(inv);
    inv->state = CALL_FINISHED;
    inv->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(inv->detail, sizeof(inv->detail), fmt, ap);
    va_end(ap);
    enum fl_log_level level =
        status == FL_ERR_BUSY || status == FL_ERR_UNAVAILABLE || status == FL_ERR_CANCELLED
            ? FL_LOG_DEBUG
            : FL_LOG_WARN;
    fl_log(level, "invocation_failed", "request=%s function=%s/%s status=%s worker=%s detail=%s",
           inv->request_id, inv->def.module, inv->def.name, fl_strerror(status), inv->worker_name,
           inv->detail);
    inv->next = NULL;
    *c->ready_tail = inv;
    c->ready_tail = &inv->next;
    evloop_again(c->loop); /* the round's end may have run already */
}

/* ---- placing and sending ---- */

/* Sends the call (with the code once it was read) to `w`. */
static void call_send(struct invocation *inv, struct cworker *w)
{
    struct cluster *c = inv->cluster;
    const struct fn_def *def = &inv->def;
    inv->id = cluster_new_id(c);
    fl_buf_reset(&c->frame);
    fl_buf_reset(&c->env); /* read now: a change of configuration reaches the next call */
    if (def->has_env && c->catalogue)
        catalogue_env(c->catalogue, def->module, def->name, &c->env);
    if (!proto_put_invoke(&c->frame, inv->id, def->module, def->name, def->hash,
                          def->meta.capacity_mb, def->meta.timeout_ms, (const uint8_t *)inv->args,
                          inv->args_len, inv->code ? (const uint8_t *)inv->code->data : NULL,
                          inv->code ? inv->code->len : 0, def->meta.http_allow,
                          (const uint8_t *)c->env.data, c->env.len)) {
        call_finish(inv, FL_ERR_TOO_LARGE,
                    "the call's code (%zu bytes) and arguments (%zu bytes) do not fit in a frame "
                    "to the Workers",
                    inv->code ? inv->code->len : 0, inv->args_len);
        return;
    }
    call_hold(inv, w);
    inv->attempts++;
    inv->deadline_ms = fl_now_ms() + def->meta.timeout_ms + REPLY_MARGIN_MS;
    call_register(inv);
    if (!worker_write(w, &c->frame))
        call_finish(inv, FL_ERR_NOMEM, "out of memory queueing the call for worker %s", w->name);
}

/* Places the call on a Worker it has not tried, or finishes it: no Worker fits. */
static void call_place(struct invocation *inv)
{
    struct cluster *c = inv->cluster;
    char why[200] = "";
    bool none_connected;
    inv->state = CALL_PLACING;
    fl_mutex_lock(&c->lock);
    struct cworker *w =
        placement_pick(c, &inv->def, inv->policy, inv->tried, &none_connected, why, sizeof(why));
    fl_mutex_unlock(&c->lock);
    if (w)
        call_send(inv, w);
    else if (inv->busy)
        call_finish(inv, FL_ERR_BUSY, "too many concurrent invocations, retry later");
    else if (none_connected)
        call_finish(inv, FL_ERR_UNAVAILABLE, "no worker available");
    else
        call_finish(inv, FL_ERR_UNAVAILABLE, "no worker can run %.60s/%.60s: %.100s",
                    inv->def.module, inv->def.name, why);
}

struct invocation *invocation_start(struct cluster *c, const struct invocation_request *req)
{
    ON_LOOP(c);
    struct invocation *inv = calloc(1, sizeof(*inv));
    if (!inv)
        return NULL;
    inv->cluster = c;
    inv->def = *req->def;
    inv->args = req->args;
    inv->args_len = req->args_len;
    inv->policy = req->policy;
    inv->done = req->done;
    inv->done_arg = req->done_arg;
    snprintf(inv->request_id, sizeof(inv->request_id), "%s",
             req->request_id ? req->request_id : "");
    call_place(inv);
    return inv;
}

void invocation_cancel(struct invocation *inv)
{
    ON_LOOP(inv->cluster);
    if (inv->state == CALL_FETCHING) {
        inv->cancelled = true; /* finished when the read ends */
    } else if (inv->state == CALL_SENT) {
        struct fl_buf frame;
        fl_buf_init(&frame, 64);
        if (proto_put_empty(&frame, PROTO_CANCEL, inv->id))
            worker_write(inv->worker, &frame);
        fl_buf_deinit(&frame);
        call_finish(inv, FL_ERR_CANCELLED, "cancelled: the client went away");
    }
}

enum fl_err invocation_failure(const struct invocation_outcome *o, uint32_t timeout_ms,
                               char *detail, size_t detail_len)
{
    if (o->status == FL_OK && o->output_len == 0) /* a Worker's result must be JSON */
        return fl_fail(FL_ERR_BAD_OUTPUT, detail, detail_len, "function returned invalid JSON");
    if (o->status == FL_OK)
        return FL_OK;
    if (o->status == FL_ERR_FUNCTION)
        return fl_fail(FL_ERR_FUNCTION, detail, detail_len, "Error: %.*s",
                       o->output_len ? (int)o->output_len : 400,
                       o->output_len ? o->output : o->detail);
    if (o->status == FL_ERR_TIMEOUT)
        return fl_fail(FL_ERR_TIMEOUT, detail, detail_len,
                       "function exceeded its time limit of %u ms", timeout_ms);
    /* running out of memory at run time is a trap, not a refused upload (422) */
    return fl_fail(o->status == FL_ERR_MEMORY_LIMIT ? FL_ERR_TRAP : o->status, detail, detail_len,
                   "%s", o->detail);
}

/* ---- what the Workers answer ---- */

/* The call `w` answers with frame id `id`, or NULL (answered already, given up on, or not
 * `w`'s: a Worker cannot answer for another). */
static struct invocation *call_find(struct cworker *w, uint32_t id)
{
    for (struct invocation *inv = *call_bucket(w->cluster, id); inv; inv = inv->next_by_id)
        if (inv->id == id)
            return inv->worker == w ? inv : NULL;
    return NULL;
}

/* The function ran: its status is the engine's (a Worker cannot claim the Core's own codes). */
static void call_result(struct invocation *inv, const struct proto_msg *m)
{
    call_unregister(inv);
    call_release(inv);
    inv->state = CALL_FINISHED;
    uint32_t status = m->u.result.status;
    inv->status = status < FL_ERR_BUSY ? (enum fl_err)status : FL_ERR_WORKER_LOST;
    snprintf(inv->detail, sizeof(inv->detail), "%.255s",
             status < FL_ERR_BUSY ? m->u.result.detail : "the worker answered an unknown status");
    call_done(inv, (const char *)m->u.result.output.data, m->u.result.output.len,
              (const char *)m->u.result.logs.data, m->u.result.logs.len);
}

/* The Worker had no code: it is read from the store, then sent with the call. */
static void call_no_code(struct invocation *inv)
{
    call_unregister(inv);
    inv->state = CALL_FETCHING; /* the Worker stays held: the code goes to it */
    if (inv->code) {
        inv->state = CALL_PLACING;
        call_finish(inv, FL_ERR_WORKER_LOST, "worker %s did not take the code", inv->worker_name);
    } else if (!code_fetch_start(inv->cluster, inv)) {
        inv->state = CALL_PLACING;
        call_finish(inv, FL_ERR_NOMEM, "out of memory reading the code");
    }
}

void calls_reply(struct cworker *w, const struct proto_msg *m)
{
    ON_LOOP(w->cluster);
    struct invocation *inv = call_find(w, m->header.id);
    if (!inv)
        return;
    if (m->header.type == PROTO_RESULT) {
        call_result(inv, m);
    } else if (m->header.type == PROTO_NO_CODE) {
        call_no_code(inv);
    } else { /* BUSY: another Worker, if one fits */
        call_unregister(inv);
        call_release(inv);
        inv->tried[w->slot / 64] |= (uint64_t)1 << (w->slot % 64);
        inv->busy = true;
        call_place(inv);
    }
}

void calls_code_ready(struct invocation *inv, const struct fl_buf *code, const char *detail)
{
    assert(inv->state == CALL_FETCHING);
    struct cworker *w = inv->worker;
    inv->state = CALL_PLACING;
    if (!code) {
        call_finish(inv, FL_ERR_STORE, "cannot read the code of %s/%s: %s", inv->def.module,
                    inv->def.name, detail);
        return;
    }
    if (inv->cancelled) {
        call_finish(inv, FL_ERR_CANCELLED, "cancelled: the client went away");
        return;
    }
    inv->code = code;
    call_release(inv);
    if (atomic_load(&w->connected)) /* the Worker that lacked it gets it */
        call_send(inv, w);
    else
        call_place(inv);
}

void calls_worker_lost(struct cworker *w)
{
    struct cluster *c = w->cluster;
    ON_LOOP(c);
    for (struct invocation *inv = c->sent, *next; inv; inv = next) {
        next = inv->next_sent;
        if (inv->worker == w)
            call_finish(inv, FL_ERR_WORKER_LOST, "worker %s lost during invocation",
                        inv->worker_name);
    }
}

void calls_fail_all(struct cluster *c, const char *why)
{
    ON_LOOP(c);
    while (c->sent)
        call_finish(c->sent, FL_ERR_WORKER_LOST, "%s", why);
}

/* Calls whose reply is overdue: the Worker is told to stop, and the caller gets 502. */
static void calls_sweep(struct cluster *c, uint64_t now)
{
    for (struct invocation *inv = c->sent, *next; inv; inv = next) {
        next = inv->next_sent;
        if (now < inv->deadline_ms)
            continue;
        struct fl_buf frame;
        fl_buf_init(&frame, 64);
        if (proto_put_empty(&frame, PROTO_CANCEL, inv->id))
            worker_write(inv->worker, &frame);
        fl_buf_deinit(&frame);
        call_finish(inv, FL_ERR_WORKER_LOST, "worker %s did not answer within %u ms",
                    inv->worker_name, inv->def.meta.timeout_ms + REPLY_MARGIN_MS);
    }
}

void calls_round_end(struct cluster *c)
{
    ON_LOOP(c);
    uint64_t now = fl_now_ms();
    if (fl_ms_since(now, c->swept_ms) >= SWEEP_EVERY_MS) {
        c->swept_ms = now;
        calls_sweep(c, now);
    }
    struct invocation *inv = c->ready; /* `done` may finish others: they wait for the next round */
    c->ready = NULL;
    c->ready_tail = &c->ready;
    while (inv) {
        struct invocation *next = inv->next;
        call_done(inv, NULL, 0, NULL, 0);
        inv = next;
    }
}
