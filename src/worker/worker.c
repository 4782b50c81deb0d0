/*
 * worker — `funless worker`: the executor. Cores dial it (proto/); it keeps
 * code in its cache and runs invocations on a pool of engine threads.
 *
 * Threading: the main thread accepts connections; each connection has a
 * reader thread (decodes frames, queues work, answers BUSY when the queue is
 * full) and a heartbeat thread (load data every HEARTBEAT_MS). `threads`
 * executor threads take jobs from one bounded FIFO. A connection is
 * reference-counted by its threads and its queued jobs; a job whose Core
 * went away runs and its reply is dropped.
 *
 * Fast calls skip the hand-off: a call of a function whose recent calls were
 * all fast (engine_module_fast_streak) runs on the reader itself when nothing
 * waits in the queue and no idle executor could take it sooner, and its reply
 * leaves with the others of the same burst of frames, in one write. Should
 * such a call run longer than RESCUE_AFTER_MS, the rescuer thread gives the
 * connection a new reader (its other frames, cancellations among them, are
 * read again at once); the old one sends its reply and ends.
 *
 * SIGTERM or SIGINT (read from a signalfd by the main thread) stops it
 * cleanly: no new connections, every Core hung up on, running calls
 * cancelled, compilers killed, every thread ended and everything freed.
 */
#include "worker/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/escape.h"
#include "common/funless_env.h"
#include "common/log.h"
#include "common/net.h"
#include "common/options.h"
#include "common/proc.h"
#include "common/secret.h"
#include "common/util.h"
#include "proto/announce.h"
#include "proto/link.h"
#include "worker/announcer.h"
#include "worker/cache.h"
#include "worker/metrics.h"
#include "worker/sandbox.h"

enum {
    HEARTBEAT_MS = 200,
    ANNOUNCE_INTERVAL_MS = 1000,
    LOG_BYTES = 64 << 10,
    HANDSHAKE_FRAME_MAX = 256, /* what is read of a frame before the Core proved the secret */
    FAST_STREAK_NEEDED = 8,    /* fast calls in a row before a function's run on the reader */
    RESCUE_AFTER_MS = 5,       /* a reader's call this long: the connection gets a new reader */
    RESCUE_TICK_MS = 2,        /* the rescuer's look at the readers, while any runs calls */
    RESCUER_IDLE_MS = 1000,    /* no call on a reader this long: the rescuer sleeps */
    REPLY_HOLD_US = 50,        /* an executor's replies wait for its next fast call at most */
};

/* A connection's reader: its generation (bumped when a new reader takes over), and whether it
 * is reading or running a call. One atomic word, so a replaced reader cannot mistake a later
 * reader's call for its own. */
enum { READER_READING = 0, READER_RUNNING = 1 };
#define READER_WORD(generation, state) ((generation) << 1 | (state))

struct conn {
    struct link link;
    atomic_int refs;
    atomic_bool closed;
    atomic_bool authenticated;    /* set by the reader when the Core proved the secret */
    bool counted_unauthenticated; /* holds one of worker.unauthenticated (the reader's) */
    uint8_t nonce[FL_NONCE_BYTES];
    struct worker *worker;
    struct conn *prev, *next;       /* on worker.conns (under its lock) */
    struct conn *rescue_next;       /* the rescuer's list of connections it hands over */
    atomic_uint reader;             /* READER_WORD of its reader now */
    _Atomic uint64_t running_since; /* when the reader began its call (READER_RUNNING) */
};

enum job_kind { JOB_PUT, JOB_INVOKE };

struct job {
    enum job_kind kind;
    struct conn *conn;
    uint32_t id;
    char module[PROTO_MAX_STR + 1], name[PROTO_MAX_STR + 1], hash[PROTO_MAX_STR + 1];
    uint32_t memory_mb, timeout_ms;
    uint8_t *args, *code;
    size_t args_len, code_len;
    char http_allow[PROTO_MAX_STR + 1]; /* the function's narrowing of --http-allow */
    uint8_t *env; /* its configuration and secrets (WASI environment), NULL none */
    size_t env_len;
    struct engine_module *loaded; /* its code, when the reader found it in memory (a ref) */
    struct job *next;
};

/* An executor thread, or a reader running calls itself (a "runner"), and the call it runs;
 * `cancel` is set (under the worker's lock, only while `running` is that call) to stop it.
 * Executors live as long as their threads and runners until the Worker stops, as
 * engine_limits.cancel wants (the watchdog may read the flag just after a call ended). */
struct executor {
    struct worker *worker;
    struct job *running;
    uint32_t reserved_mb; /* of the worker's memory budget, for `running` */
    atomic_bool cancel;
    bool taken;                   /* runners: a reader has it (under the worker's lock) */
    struct executor *next_runner; /* on worker.runners */
    /* Executors: replies queued on this connection (a reference), not sent yet, since when;
     * both under the worker's lock (the rescuer sends what waits too long) */
    struct conn *held_conn;
    uint64_t held_since;
};

struct worker {
    const char *name;
    struct executor *executors; /* `threads` of them */
    unsigned threads;
    unsigned queue_max;
    struct cache *cache;
    struct fl_secret secret;
    pthread_mutex_t lock;
    pthread_cond_t work;
    struct job *head, *tail;
    unsigned queued;
    atomic_uint in_flight;
    /* The memory offered to functions (--memory-mb, else the host's), and what the calls
     * running now have not reserved of it (each reserves its declared capacity). */
    uint64_t memory_budget_mb, memory_free_mb;
    /* Connections: open, and not yet through the handshake; their caps. */
    atomic_uint connections, unauthenticated;
    unsigned max_connections, max_unauthenticated, handshake_timeout_s;
    unsigned busy_poll_us; /* a reader polls this long after a lone call (reader_poll) */
    bool accept_any_core;  /* without a secret: Cores from other machines too */
    struct conn *conns;    /* open connections (under the lock) */
    bool stopping;         /* under the lock: executors end, connections close */
    pthread_t *executor_threads;
    unsigned executors_started;
    unsigned idle_executors;  /* waiting for a job (under the lock) */
    struct executor *runners; /* readers' (under the lock), freed by worker_stop */
    /* The rescuer: awake (ticking) while readers run calls; sleeps on `rescue` otherwise. */
    pthread_t rescuer;
    bool rescuer_started;
    atomic_bool rescuer_awake;
    pthread_cond_t rescue;
    struct announcer *announcer;
    bool serving_metrics;
};

static struct conn *conn_ref(struct conn *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

static void conn_release(struct conn *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    struct worker *w = c->worker;
    pthread_mutex_lock(&w->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&w->lock);
    link_close(&c->link);
    link_deinit(&c->link);
    free(c);
    atomic_fetch_sub(&w->connections, 1); /* last: shutdown waits for it to reach 0 */
}

static void conn_send(struct conn *c, const struct fl_buf *frame)
{
    if (!atomic_load(&c->closed) && !link_write(&c->link, frame))
        atomic_store(&c->closed, true);
}

/* ---- the pool ---- */

static void job_free(struct job *job)
{
    if (job->loaded)
        engine_module_release(job->loaded);
    conn_release(job->conn);
    free(job->args);
    free(job->code);
    if (job->env) /* it holds secrets: they do not outlive the call in the Worker's memory */
        explicit_bzero(job->env, job->env_len);
    free(job->env);
    free(job);
}

/* Queues a job; invocations past queue_max are refused (false). */
static bool worker_enqueue(struct worker *w, struct job *job)
{
    pthread_mutex_lock(&w->lock);
    bool ok = job->kind != JOB_INVOKE || w->queued < w->queue_max;
    if (ok) {
        job->next = NULL;
        if (w->tail)
            w->tail->next = job;
        else
            w->head = job;
        w->tail = job;
        w->queued++;
        pthread_cond_signal(&w->work);
    }
    pthread_mutex_unlock(&w->lock);
    return ok;
}

/* Under the lock: the first queued job whose memory fits what is free (code pushes need
 * none), and the one before it; NULL when none does. */
static struct job *worker_next_fitting(struct worker *w, struct job **before)
{
    *before = NULL;
    for (struct job *job = w->head; job; *before = job, job = job->next)
        if (job->kind != JOB_INVOKE || job->memory_mb <= w->memory_free_mb)
            return job;
    return NULL;
}

/* Under the lock: `ex` runs `job` now, with the memory it declares reserved. */
static void executor_take(struct executor *ex, struct job *job)
{
    struct worker *w = ex->worker;
    ex->running = job;
    ex->reserved_mb = job->kind == JOB_INVOKE ? job->memory_mb : 0;
    w->memory_free_mb -= ex->reserved_mb;
    atomic_store(&ex->cancel, false);
}

/* ---- an executor's replies: queued while it runs fast calls, sent together ---- */

/* Under the lock: the rescuer ticks from now on (it wakes for the first work after a quiet
 * second). */
static void rescuer_wake(struct worker *w)
{
    if (atomic_load(&w->rescuer_awake))
        return;
    atomic_store(&w->rescuer_awake, true);
    pthread_cond_signal(&w->rescue);
}

static void executor_send_held(struct executor *ex)
{
    if (!ex->held_conn) /* only `ex` sets it: no lock needed to see it unset */
        return;
    pthread_mutex_lock(&ex->worker->lock);
    struct conn *c = ex->held_conn;
    ex->held_conn = NULL;
    pthread_mutex_unlock(&ex->worker->lock);
    if (!link_send_queued(&c->link))
        atomic_store(&c->closed, true);
    conn_release(c);
}

/* `frame` queued to leave with the connection's next write: true, a send is owed. False when it
 * left at once (the queue was full: what was queued goes first) or the Core is gone. */
static bool conn_queue(struct conn *c, const struct fl_buf *frame)
{
    if (atomic_load(&c->closed))
        return false;
    if (link_queue(&c->link, frame))
        return true;
    conn_send(c, frame);
    return false;
}

/* `frame` goes to `c` with the executor's next send. */
static void executor_reply(struct executor *ex, struct conn *c, const struct fl_buf *frame)
{
    if (ex->held_conn && ex->held_conn != c)
        executor_send_held(ex);
    if (conn_queue(c, frame) && !ex->held_conn) {
        pthread_mutex_lock(&ex->worker->lock);
        ex->held_conn = conn_ref(c);
        ex->held_since = fl_now_ns();
        rescuer_wake(ex->worker); /* should its next call run long, the rescuer sends them */
        pthread_mutex_unlock(&ex->worker->lock);
    }
}

/* Whether the replies `ex` holds may wait for `next` too: a fast call on the same connection,
 * and they have not waited REPLY_HOLD_US already. */
static bool executor_may_hold(const struct executor *ex, const struct job *next)
{
    return next->kind == JOB_INVOKE && next->conn == ex->held_conn && next->loaded &&
           engine_module_fast_streak(next->loaded) >= FAST_STREAK_NEEDED &&
           fl_now_ns() - ex->held_since < (uint64_t)REPLY_HOLD_US * 1000u;
}

/*
 * The next job for `ex`: calls run only while the memory they declare fits in the Worker's
 * budget (the rest wait in the queue, in order, behind nothing that does not fit), so
 * concurrent calls never overcommit --memory-mb. Held replies leave before it waits.
 */
static struct job *worker_dequeue(struct executor *ex)
{
    struct worker *w = ex->worker;
    pthread_mutex_lock(&w->lock);
    struct job *before, *job;
    while (!w->stopping && (job = worker_next_fitting(w, &before)) == NULL) {
        if (ex->held_conn) {
            pthread_mutex_unlock(&w->lock);
            executor_send_held(ex);
            pthread_mutex_lock(&w->lock);
            continue;
        }
        w->idle_executors++;
        pthread_cond_wait(&w->work, &w->lock);
        w->idle_executors--;
    }
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        return NULL; /* what is still queued is freed by worker_stop */
    }
    if (before)
        before->next = job->next;
    else
        w->head = job->next;
    if (w->tail == job)
        w->tail = before;
    w->queued--;
    executor_take(ex, job);
    pthread_mutex_unlock(&w->lock);
    return job;
}

/* The job `ex` ran is done: its memory goes back, and a call waiting for it may start. */
static void worker_finished(struct executor *ex)
{
    struct worker *w = ex->worker;
    pthread_mutex_lock(&w->lock);
    w->memory_free_mb += ex->reserved_mb;
    ex->reserved_mb = 0;
    ex->running = NULL;
    if (w->head)
        pthread_cond_broadcast(&w->work);
    pthread_mutex_unlock(&w->lock);
}

/* Under the lock: stops the call `ex` runs if it is `c`'s invocation `id` (any, with `all`). */
static void executor_cancel_if(struct executor *ex, const struct conn *c, bool all, uint32_t id)
{
    struct job *job = ex->running;
    if (job && job->conn == c && job->kind == JOB_INVOKE && (all || job->id == id))
        atomic_store(&ex->cancel, true);
}

/*
 * The Core gave up on invocation `id` of `c` (its client went away), or on every one of them
 * (`all`: the connection is gone): a queued one is dropped, a running one stopped within a
 * few ms (the watchdog sees its executor's cancel flag); either way its slot is free.
 */
static void worker_cancel(struct worker *w, const struct conn *c, bool all, uint32_t id)
{
    struct job *dropped = NULL;
    pthread_mutex_lock(&w->lock);
    struct job *kept_tail = NULL;
    for (struct job *job = w->head, *next; job; job = next) {
        next = job->next;
        if (job->conn == c && job->kind == JOB_INVOKE && (all || job->id == id)) {
            if (kept_tail)
                kept_tail->next = next;
            else
                w->head = next;
            w->queued--;
            job->next = dropped;
            dropped = job;
        } else {
            kept_tail = job;
        }
    }
    w->tail = kept_tail;
    for (unsigned i = 0; i < w->threads; i++)
        executor_cancel_if(&w->executors[i], c, all, id);
    for (struct executor *runner = w->runners; runner; runner = runner->next_runner)
        executor_cancel_if(runner, c, all, id);
    pthread_mutex_unlock(&w->lock);
    for (struct job *job = dropped, *next; job; job = next) {
        next = job->next;
        metrics_observe_invocation(job->module, job->name, FL_OK, true, 0);
        job_free(job);
    }
}

static void worker_run_put(struct worker *w, struct job *job)
{
    char detail[256] = "";
    enum fl_err err = cache_put(w->cache, job->module, job->name, job->hash, job->code,
                                job->code_len, detail, sizeof(detail));
    struct fl_buf frame;
    fl_buf_init(&frame, PROTO_MAX_PAYLOAD);
    proto_put_ack(&frame, job->id, err, detail);
    conn_send(job->conn, &frame);
    fl_buf_deinit(&frame);
}

/* Runs `job` on `module` (released here); its RESULT frame, if anyone waits for it, in
 * `frame`. */
static void executor_call(struct executor *ex, struct job *job, struct engine_module *module,
                          struct fl_buf *frame)
{
    struct engine_limits limits;
    engine_limits_defaults(&limits);
    limits.memory_bytes = (uint64_t)job->memory_mb << 20;
    limits.timeout_ms = job->timeout_ms;
    limits.max_log_bytes = LOG_BYTES;
    limits.cancel = &ex->cancel;
    limits.http_allow = job->http_allow;
    limits.env = (const char *)job->env;
    limits.env_len = job->env_len;
    struct engine_result res;
    engine_invoke(module, (const char *)job->args, job->args_len, &limits, &res);
    bool cancelled = atomic_load(&ex->cancel);
    metrics_observe_invocation(job->module, job->name, res.status, cancelled,
                               (double)res.duration_ns / 1e9);
    if (!cancelled) /* else nobody waits for the answer */
        proto_put_result(frame, job->id, res.status, res.output, res.output ? res.output_len : 0,
                         res.logs, res.logs ? res.logs_len : 0, res.detail);
    engine_result_deinit(&res);
    engine_module_release(module);
}

static void worker_run_invoke(struct executor *ex, struct job *job)
{
    struct worker *w = ex->worker;
    char detail[256] = "";
    struct fl_buf frame;
    fl_buf_init(&frame, PROTO_MAX_PAYLOAD);
    struct engine_module *module = NULL;
    enum fl_err err = FL_OK;
    if (job->code_len) /* the Core resent the code after our NO_CODE */
        err = cache_put(w->cache, job->module, job->name, job->hash, job->code, job->code_len,
                        detail, sizeof(detail));
    if (err == FL_OK && job->loaded) {
        module = job->loaded; /* the reader's lookup: ours to release now */
        job->loaded = NULL;
    } else if (err == FL_OK) {
        err = cache_get(w->cache, job->hash, &module, detail, sizeof(detail));
    }
    if (err == FL_ERR_NOT_FOUND)
        proto_put_empty(&frame, PROTO_NO_CODE, job->id);
    else if (err != FL_OK)
        proto_put_result(&frame, job->id, err, NULL, 0, NULL, 0, detail);
    else
        executor_call(ex, job, module, &frame);
    if (frame.len)
        executor_reply(ex, job->conn, &frame);
    fl_buf_deinit(&frame);
}

static void *worker_executor(void *arg)
{
    struct executor *ex = arg;
    struct worker *w = ex->worker;
    for (struct job *job; (job = worker_dequeue(ex));) {
        if (ex->held_conn && !executor_may_hold(ex, job))
            executor_send_held(ex);
        atomic_fetch_add(&w->in_flight, 1);
        if (job->kind == JOB_PUT)
            worker_run_put(w, job);
        else
            worker_run_invoke(ex, job);
        atomic_fetch_sub(&w->in_flight, 1);
        worker_finished(ex);
        job_free(job);
    }
    executor_send_held(ex);
    return NULL;
}

/* ---- connections ---- */

static uint8_t *worker_copy(struct proto_bytes b, size_t *len)
{
    *len = b.len;
    uint8_t *copy = malloc(b.len + 1);
    if (copy) {
        if (b.len)
            memcpy(copy, b.data, b.len);
        copy[b.len] = '\0';
    }
    return copy;
}

/* What a job is, for whom (its frame's id on `c`), and for which code. */
static void job_name(struct job *job, enum job_kind kind, struct conn *c, uint32_t id,
                     const char *module, const char *name, const char *hash)
{
    job->kind = kind;
    job->conn = c;
    job->id = id;
    snprintf(job->module, sizeof(job->module), "%s", module);
    snprintf(job->name, sizeof(job->name), "%s", name);
    snprintf(job->hash, sizeof(job->hash), "%s", hash);
}

/* Invocation `m` as a job whose bytes (arguments, environment) stay `m`'s: the reader's own
 * call. */
static void job_view_invoke(struct job *job, struct conn *c, const struct proto_msg *m)
{
    job_name(job, JOB_INVOKE, c, m->header.id, m->u.invoke.module, m->u.invoke.name,
             m->u.invoke.hash);
    job->memory_mb = m->u.invoke.memory_mb;
    job->timeout_ms = m->u.invoke.timeout_ms;
    snprintf(job->http_allow, sizeof(job->http_allow), "%s", m->u.invoke.http_allow);
    job->args = (uint8_t *)m->u.invoke.args.data;
    job->args_len = m->u.invoke.args.len;
    job->env = m->u.invoke.env.len ? (uint8_t *)m->u.invoke.env.data : NULL;
    job->env_len = m->u.invoke.env.len;
}

/* A queued job for `m` (CODE_PUT or INVOKE), owning copies of its bytes; NULL: no memory. */
static struct job *worker_job(struct conn *c, const struct proto_msg *m)
{
    struct job *job = calloc(1, sizeof(*job));
    if (!job)
        return NULL;
    if (m->header.type == PROTO_CODE_PUT) {
        job_name(job, JOB_PUT, c, m->header.id, m->u.code_put.module, m->u.code_put.name,
                 m->u.code_put.hash);
        job->code = worker_copy(m->u.code_put.code, &job->code_len);
    } else {
        job_view_invoke(job, c, m);
        job->args = worker_copy(m->u.invoke.args, &job->args_len);
        job->code = m->u.invoke.code.len ? worker_copy(m->u.invoke.code, &job->code_len) : NULL;
        job->env = m->u.invoke.env.len ? worker_copy(m->u.invoke.env, &job->env_len) : NULL;
    }
    conn_ref(c);
    return job;
}

/*
 * The handshake (docs/protocol.md): with a cluster secret, nothing but AUTH is
 * accepted until the Core proves it; the Worker then proves it too. False: hang up.
 */
static bool worker_authenticate(struct conn *c, const struct proto_msg *m, struct fl_buf *frame)
{
    const struct fl_secret *secret = &c->worker->secret;
    uint8_t want[FL_MAC_BYTES], mine[FL_MAC_BYTES];
    if (m->header.type != PROTO_AUTH || m->u.auth.mac.len != FL_MAC_BYTES ||
        m->u.auth.nonce.len != FL_NONCE_BYTES) {
        fl_log(FL_LOG_WARN, "refused", "reason=%s", "a Core without the cluster secret");
        return false;
    }
    fl_secret_mac(secret, "core", c->nonce, FL_NONCE_BYTES, m->u.auth.nonce.data, FL_NONCE_BYTES,
                  want);
    if (!fl_mac_equal(want, m->u.auth.mac.data)) {
        fl_log(FL_LOG_WARN, "refused", "reason=%s", "wrong cluster secret");
        return false;
    }
    fl_secret_mac(secret, "worker", m->u.auth.nonce.data, FL_NONCE_BYTES, c->nonce, FL_NONCE_BYTES,
                  mine);
    fl_buf_reset(frame);
    proto_put_auth(frame, PROTO_AUTH_OK, NULL, 0, mine, sizeof(mine));
    conn_send(c, frame);
    atomic_store(&c->authenticated, true);
    return true;
}

/* Reads are bounded in time only until the handshake is done (a Core may be quiet for long). */
static void conn_set_read_timeout(struct conn *c, unsigned seconds)
{
    struct timeval tv = {.tv_sec = seconds};
    setsockopt(c->link.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static void *worker_heartbeat(void *arg);

/* The Core is through the handshake (or none is needed): it counts as authenticated, and gets
 * heartbeats, from a thread of their own. False: hang up. */
static bool conn_admitted(struct conn *c)
{
    struct worker *w = c->worker;
    if (c->counted_unauthenticated) {
        c->counted_unauthenticated = false;
        atomic_fetch_sub(&w->unauthenticated, 1);
    }
    conn_set_read_timeout(c, 0);
    pthread_t heartbeat;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    conn_ref(c);
    bool ok = pthread_create(&heartbeat, &attr, worker_heartbeat, c) == 0;
    if (!ok)
        conn_release(c);
    pthread_attr_destroy(&attr);
    return ok;
}

/* ---- a connection's reader ---- */

/* A reader thread's own: its buffers, and the runner it runs calls with. */
struct reader {
    struct conn *conn;
    unsigned generation;     /* of c->reader */
    bool admitted;           /* through the handshake (a new reader after a rescue is) */
    bool replies_queued;     /* link_queue'd replies wait for link_send_queued */
    bool replaced;           /* a new reader took the connection over: this one ends */
    struct executor *runner; /* taken at its first call */
    struct fl_buf handshake, payload, frame;
    struct proto_msg *msg;
};

/* A runner for `r` (kept until the reader ends); false if out of memory. */
static bool reader_take_runner(struct reader *r)
{
    struct worker *w = r->conn->worker;
    if (r->runner)
        return true;
    pthread_mutex_lock(&w->lock);
    struct executor *runner = w->runners;
    while (runner && runner->taken)
        runner = runner->next_runner;
    if (!runner && (runner = calloc(1, sizeof(*runner))) != NULL) {
        runner->worker = w;
        atomic_init(&runner->cancel, false);
        runner->next_runner = w->runners;
        w->runners = runner;
    }
    if (runner)
        runner->taken = true;
    r->runner = runner;
    pthread_mutex_unlock(&w->lock);
    return runner != NULL;
}

static void reader_give_runner(struct reader *r)
{
    if (!r->runner)
        return;
    pthread_mutex_lock(&r->conn->worker->lock);
    r->runner->taken = false;
    pthread_mutex_unlock(&r->conn->worker->lock);
    r->runner = NULL;
}

/* r->frame leaves with the next write on the connection (the reader's before it waits). */
static void reader_reply(struct reader *r)
{
    if (r->frame.len && conn_queue(r->conn, &r->frame))
        r->replies_queued = true;
}

/* The reader starts a call: the rescuer must see it, and be awake to. */
static void reader_call_starts(struct reader *r)
{
    struct conn *c = r->conn;
    struct worker *w = c->worker;
    atomic_store(&c->running_since, fl_now_ns());
    atomic_store(&c->reader, READER_WORD(r->generation, READER_RUNNING));
    if (!atomic_load(&w->rescuer_awake)) { /* the first call after a quiet second */
        pthread_mutex_lock(&w->lock);
        rescuer_wake(w);
        pthread_mutex_unlock(&w->lock);
    }
}

/* The reader's call ended: false if a new reader took the connection over meanwhile. */
static bool reader_call_ends(struct reader *r)
{
    unsigned running = READER_WORD(r->generation, READER_RUNNING);
    return atomic_compare_exchange_strong(&r->conn->reader, &running,
                                          READER_WORD(r->generation, READER_READING));
}

/*
 * Runs invocation `m` of `module` (a ref, released here when it runs) on the reader itself,
 * if that holds no one up: the function's recent calls were all fast, nothing waits in the
 * queue, its memory fits, and no idle executor could start it while the reader goes on with
 * frames read ahead. True when it ran.
 */
static bool reader_try_call(struct reader *r, const struct proto_msg *m,
                            struct engine_module *module)
{
    struct conn *c = r->conn;
    struct worker *w = c->worker;
    if (engine_module_fast_streak(module) < FAST_STREAK_NEEDED || !reader_take_runner(r))
        return false;
    struct job job = {0};
    job_view_invoke(&job, c, m);
    bool frames_ahead = link_has_frame(&c->link);
    pthread_mutex_lock(&w->lock);
    bool run = !w->stopping && w->queued == 0 && job.memory_mb <= w->memory_free_mb &&
               (!frames_ahead || w->idle_executors == 0);
    if (run)
        executor_take(r->runner, &job);
    pthread_mutex_unlock(&w->lock);
    if (!run)
        return false;
    atomic_fetch_add(&w->in_flight, 1);
    metrics_observe_call_on_reader();
    reader_call_starts(r);
    fl_buf_reset(&r->frame);
    executor_call(r->runner, &job, module, &r->frame);
    if (job.env) /* secrets do not outlive the call in the Worker's memory */
        explicit_bzero(job.env, job.env_len);
    atomic_fetch_sub(&w->in_flight, 1);
    worker_finished(r->runner);
    if (reader_call_ends(r)) {
        reader_reply(r);
    } else {
        r->replaced = true;
        if (r->frame.len)
            conn_send(c, &r->frame);
    }
    return true;
}

static void reader_invoke(struct reader *r, const struct proto_msg *m)
{
    struct conn *c = r->conn;
    struct worker *w = c->worker;
    struct engine_module *loaded = NULL;
    if (!m->u.invoke.code.len && cache_get_loaded(w->cache, m->u.invoke.hash, &loaded) &&
        reader_try_call(r, m, loaded))
        return;
    struct job *job = worker_job(c, m);
    if (job) {
        job->loaded = loaded;
        loaded = NULL;
    }
    if (job && worker_enqueue(w, job))
        return;
    if (job)
        job_free(job);
    if (loaded)
        engine_module_release(loaded);
    fl_buf_reset(&r->frame);
    proto_put_empty(&r->frame, PROTO_BUSY, m->header.id);
    metrics_observe_busy();
    reader_reply(r);
}

static void reader_handle(struct reader *r, const struct proto_msg *m)
{
    struct conn *c = r->conn;
    struct worker *w = c->worker;
    fl_buf_reset(&r->frame);
    if (m->header.type == PROTO_CANCEL) {
        worker_cancel(w, c, false, m->header.id);
    } else if (m->header.type == PROTO_CODE_DROP) {
        cache_drop(w->cache, m->u.code_drop.module, m->u.code_drop.name);
        proto_put_ack(&r->frame, m->header.id, FL_OK, "");
    } else if (m->header.type == PROTO_INVOKE && m->u.invoke.memory_mb > w->memory_budget_mb) {
        char why[160];
        snprintf(why, sizeof(why),
                 "the function declares %u MiB of memory; this Worker offers %llu (--memory-mb)",
                 m->u.invoke.memory_mb, (unsigned long long)w->memory_budget_mb);
        proto_put_result(&r->frame, m->header.id, FL_ERR_MEMORY_LIMIT, NULL, 0, NULL, 0, why);
    } else if (m->header.type == PROTO_INVOKE) {
        reader_invoke(r, m);
        return;
    } else if (m->header.type == PROTO_CODE_PUT) {
        struct job *job = worker_job(c, m);
        if (job && worker_enqueue(w, job))
            return;
        if (job)
            job_free(job);
        proto_put_empty(&r->frame, PROTO_BUSY, m->header.id);
        metrics_observe_busy();
    } /* nothing else is for a Worker: ignored */
    reader_reply(r);
}

/* The connection is over: its calls are cancelled and its socket shut (its threads end). */
static void conn_hang_up(struct conn *c)
{
    if (c->counted_unauthenticated)
        atomic_fetch_sub(&c->worker->unauthenticated, 1);
    c->counted_unauthenticated = false;
    atomic_store(&c->closed, true);
    worker_cancel(c->worker, c, true, 0); /* the Core is gone: so are its calls */
    shutdown(c->link.fd, SHUT_RDWR);
}

/*
 * Before the reader sleeps in link_read: when the frames came one at a time (the last burst
 * held one: a Core with one call in flight), the next is likely tens of microseconds away, and
 * sleeping and waking cost more on a virtual machine, so the reader polls for up to
 * --busy-poll-us first. After a burst of several frames it does not: the Core is busy, and the
 * poll would take CPU from it (bench/README.md). `burst` counts the frames since the read-ahead
 * buffer was last empty.
 */
static void reader_poll(struct reader *r, unsigned *burst)
{
    struct link *link = &r->conn->link;
    if (link_has_bytes(link)) {
        ++*burst;
        return;
    }
    unsigned poll_us = r->conn->worker->busy_poll_us;
    if (*burst == 1 && poll_us)
        link_poll_briefly(link, (uint64_t)poll_us * 1000);
    *burst = 1;
}

/* Replies queued by the reader leave before it waits for the next frame. */
static void reader_send_replies(struct reader *r)
{
    if (!r->replies_queued || link_has_frame(&r->conn->link))
        return;
    r->replies_queued = false;
    if (!link_send_queued(&r->conn->link))
        atomic_store(&r->conn->closed, true);
}

/*
 * Until the Core has proved the cluster secret, a frame may hold HANDSHAKE_FRAME_MAX bytes
 * (a larger one is refused from its header, unread), and the handshake must end within
 * handshake_timeout_s: nothing is spent on a client that has not proved itself.
 */
static void *worker_reader(void *arg)
{
    struct reader *r = arg;
    struct conn *c = r->conn;
    fl_buf_init(&r->handshake, HANDSHAKE_FRAME_MAX);
    fl_buf_init(&r->payload, PROTO_MAX_PAYLOAD);
    fl_buf_init(&r->frame, PROTO_MAX_PAYLOAD);
    r->msg = malloc(sizeof(*r->msg));
    bool admitted = r->admitted || (atomic_load(&c->authenticated) && conn_admitted(c));
    unsigned burst = 0;
    while (r->msg && (admitted || !atomic_load(&c->authenticated))) {
        reader_send_replies(r);
        if (admitted)
            reader_poll(r, &burst);
        if (link_read(&c->link, admitted ? &r->payload : &r->handshake, r->msg) != FL_OK)
            break;
        if (!admitted) {
            if (!worker_authenticate(c, r->msg, &r->frame) || !conn_admitted(c))
                break;
            admitted = true;
            continue;
        }
        reader_handle(r, r->msg);
        if (r->replaced)
            break;
    }
    if (!r->replaced)
        conn_hang_up(c);
    reader_give_runner(r);
    free(r->msg);
    fl_buf_deinit(&r->handshake);
    fl_buf_deinit(&r->payload);
    fl_buf_deinit(&r->frame);
    free(r);
    conn_release(c);
    return NULL;
}

/* Starts `c`'s reader (of `generation`; a later one is admitted already) with the reference
 * to `c` the caller holds; false if it could not. */
static bool reader_start(struct conn *c, unsigned generation)
{
    struct reader *r = calloc(1, sizeof(*r));
    if (!r)
        return false;
    r->conn = c;
    r->generation = generation;
    r->admitted = generation > 0;
    r->replies_queued = generation > 0; /* the replaced reader's may wait in the queue */
    pthread_t thread;
    if (engine_thread_create(&thread, worker_reader, r) != 0) { /* it runs guest code too */
        free(r);
        return false;
    }
    pthread_detach(thread);
    return true;
}

/* ---- the rescuer ---- */

/* Under the lock: sends the replies an executor has held for RESCUE_AFTER_MS (its next call,
 * fast until then, runs long); true if any executor holds replies. */
static bool rescuer_send_held(struct worker *w, uint64_t now)
{
    bool holding = false;
    for (unsigned i = 0; i < w->executors_started; i++) {
        struct executor *ex = &w->executors[i];
        if (!ex->held_conn)
            continue;
        holding = true;
        if (now - ex->held_since >= (uint64_t)RESCUE_AFTER_MS * 1000000u)
            link_flush(&ex->held_conn->link); /* never waits: a sender sends them anyway */
    }
    return holding;
}

/*
 * Under the lock: hands every connection whose reader has run one call for RESCUE_AFTER_MS
 * to a new reader (collected on `rescued`, each with a reference), and sends the replies
 * executors held as long. True if any reader ran a call within RESCUER_IDLE_MS (or, with
 * `running_only`, runs one now), or an executor holds replies.
 */
static bool rescuer_scan(struct worker *w, bool running_only, struct conn **rescued)
{
    uint64_t now = fl_now_ns();
    bool busy = rescuer_send_held(w, now);
    for (struct conn *c = w->conns; c; c = c->next) {
        unsigned word = atomic_load(&c->reader);
        uint64_t since = atomic_load(&c->running_since);
        uint64_t age = since < now ? now - since : 0; /* `since` may be newer than `now` */
        bool running = word & READER_RUNNING;
        busy |= running || (!running_only && age < (uint64_t)RESCUER_IDLE_MS * 1000000u);
        if (!running || age < (uint64_t)RESCUE_AFTER_MS * 1000000u)
            continue;
        unsigned next = READER_WORD((word >> 1) + 1, READER_READING);
        if (atomic_compare_exchange_strong(&c->reader, &word, next)) {
            metrics_observe_reader_rescue();
            c->rescue_next = *rescued;
            *rescued = conn_ref(c);
        }
    }
    return busy;
}

/* New readers for the connections rescuer_scan took over. */
static void rescuer_hand_over(struct conn *rescued)
{
    for (struct conn *c = rescued, *next; c; c = next) {
        next = c->rescue_next;
        link_flush(&c->link); /* what the old reader queued before its call */
        if (reader_start(c, atomic_load(&c->reader) >> 1))
            continue;
        fl_log(FL_LOG_WARN, "reader_failed", "detail=%s", "no thread for a new reader");
        conn_hang_up(c); /* the Core reconnects */
        conn_release(c);
    }
}

/* Ticks every RESCUE_TICK_MS while readers run calls; sleeps on w->rescue otherwise. */
static void *worker_rescuer(void *arg)
{
    struct worker *w = arg;
    struct timespec tick = {0, RESCUE_TICK_MS * 1000000L};
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        if (!atomic_load(&w->rescuer_awake)) {
            pthread_cond_wait(&w->rescue, &w->lock);
            continue;
        }
        struct conn *rescued = NULL;
        if (!rescuer_scan(w, false, &rescued)) {
            /* quiet: sleep — unless a reader began a call before it could see that we do */
            atomic_store(&w->rescuer_awake, false);
            if (rescuer_scan(w, true, &rescued))
                atomic_store(&w->rescuer_awake, true);
        }
        pthread_mutex_unlock(&w->lock);
        rescuer_hand_over(rescued);
        nanosleep(&tick, NULL);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void *worker_heartbeat(void *arg)
{
    struct conn *c = arg;
    struct worker *w = c->worker;
    struct fl_buf frame;
    fl_buf_init(&frame, 4096);
    struct timespec interval = {0, HEARTBEAT_MS * 1000000L};
    while (!atomic_load(&c->closed)) {
        struct metrics_host host;
        metrics_read_host(&host);
        pthread_mutex_lock(&w->lock);
        unsigned queued = w->queued;
        pthread_mutex_unlock(&w->lock);
        if (!atomic_load(
                &c->authenticated)) { /* no load data for a Core that did not prove the secret */
            nanosleep(&interval, NULL);
            continue;
        }
        fl_buf_reset(&frame);
        proto_put_heartbeat(&frame, host.available_mem, host.total_mem,
                            (uint32_t)(host.load1 * 1000), atomic_load(&w->in_flight), queued);
        conn_send(c, &frame);
        nanosleep(&interval, NULL);
    }
    fl_buf_deinit(&frame);
    conn_release(c);
    return NULL;
}

/* A line now and then about refused connections (an attack must not flood the log). */
static void worker_log_refused(const char *why)
{
    static _Atomic long last_s;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long previous = atomic_exchange(&last_s, (long)now.tv_sec);
    if (previous != (long)now.tv_sec)
        fl_log(FL_LOG_WARN, "connection_refused", "reason=%s", why);
}

/* Whether a new connection from `peer` gets a hearing; counts it when it does. */
static bool worker_admit_connection(struct worker *w, const struct sockaddr_storage *peer)
{
    if (!w->secret.set && !w->accept_any_core && !fl_addr_is_loopback(peer)) {
        worker_log_refused("not from this machine, and no cluster secret (see --secret-file)");
        return false;
    }
    if (atomic_fetch_add(&w->connections, 1) >= w->max_connections) {
        atomic_fetch_sub(&w->connections, 1);
        worker_log_refused("--max-connections reached");
        return false;
    }
    if (w->secret.set && atomic_fetch_add(&w->unauthenticated, 1) >= w->max_unauthenticated) {
        atomic_fetch_sub(&w->unauthenticated, 1);
        atomic_fetch_sub(&w->connections, 1);
        worker_log_refused("--max-unauthenticated reached");
        return false;
    }
    return true;
}

/* A thread reads the connection; heartbeats start once the Core is through the handshake. */
static void worker_accept(struct worker *w, int fd, const struct sockaddr_storage *peer)
{
    if (!worker_admit_connection(w, peer)) {
        close(fd);
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        atomic_fetch_sub(&w->connections, 1);
        if (w->secret.set)
            atomic_fetch_sub(&w->unauthenticated, 1);
        close(fd);
        return;
    }
    link_init(&c->link, fd);
    atomic_init(&c->refs, 2); /* the reader, and this function until HELLO is out */
    c->worker = w;
    pthread_mutex_lock(&w->lock);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    if (w->stopping) /* its reader ends at once */
        shutdown(fd, SHUT_RDWR);
    pthread_mutex_unlock(&w->lock);
    c->counted_unauthenticated = w->secret.set;
    atomic_init(&c->authenticated, !w->secret.set);
    if (w->secret.set) {
        conn_set_read_timeout(c, w->handshake_timeout_s);
        if (!fl_random_bytes(c->nonce, sizeof(c->nonce))) {
            atomic_fetch_sub(&w->unauthenticated, 1);
            conn_release(c);
            conn_release(c);
            return;
        }
    }
    struct metrics_host host;
    metrics_read_host(&host);
    struct fl_buf frame;
    fl_buf_init(&frame, 4096);
    proto_put_hello(&frame, w->name, w->threads, w->queue_max, host.total_mem, c->nonce,
                    w->secret.set ? sizeof(c->nonce) : 0);
    conn_send(c, &frame);
    fl_buf_deinit(&frame);
    if (!reader_start(c, 0)) {
        if (c->counted_unauthenticated)
            atomic_fetch_sub(&w->unauthenticated, 1);
        conn_release(c);
    }
    conn_release(c);
}

/* ---- main ---- */

struct worker_options {
    const char *name, *listen, *cache_dir, *metrics, *secret_file, *announce, *sandbox;
    uint64_t threads, queue, cache_max_mb, disk_cache_max_mb, memory_mb, max_connections,
        max_unauthenticated, handshake_timeout_s, http_max_kb, busy_poll_us;
    const char *http_allow;
    bool accept_any_core;
    const char *log_format, *log_level;
};

/* Multicast announcements from the address we listen on (so that it is the one Cores dial). */
static bool worker_announce(struct worker *w, const struct worker_options *opt, unsigned port)
{
    if (strcmp(opt->announce, "off") == 0)
        return true;
    char source[64], detail[256];
    snprintf(source, sizeof(source), "%.*s", (int)strcspn(opt->listen, ":"), opt->listen);
    struct announcer_config config = {.group = opt->announce,
                                      .source = source,
                                      .name = w->name,
                                      .port = port,
                                      .secret = &w->secret,
                                      .interval_ms = ANNOUNCE_INTERVAL_MS};
    if ((w->announcer = announcer_start(&config, detail, sizeof(detail))))
        return true;
    fl_log(FL_LOG_ERROR, "start_failed", "detail=%s", detail);
    return false;
}

/*
 * No Nagle (replies are small and latency-bound); and a Core that vanished without closing
 * (its machine cut off the network) is noticed within about 10 s — by the user timeout while
 * heartbeats go unacknowledged, by keepalive probes on an idle connection — so that the
 * connection's threads end instead of waiting on it for ever.
 */
static bool worker_tune_socket(int fd)
{
    int one = 1, idle_s = 5, interval_s = 2, probes = 3;
    unsigned user_timeout_ms = 10000;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0 &&
           setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms,
                      sizeof(user_timeout_ms)) == 0 &&
           setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) == 0 &&
           setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s)) == 0 &&
           setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof(interval_s)) == 0 &&
           setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes)) == 0;
}

/* The executor threads and the rescuer (joined by worker_stop). */
static bool worker_start_executors(struct worker *w)
{
    w->executors = calloc(w->threads, sizeof(*w->executors));
    w->executor_threads = calloc(w->threads, sizeof(*w->executor_threads));
    if (!w->executors || !w->executor_threads)
        return false;
    for (unsigned i = 0; i < w->threads; i++) {
        w->executors[i].worker = w;
        atomic_init(&w->executors[i].cancel, false);
        if (engine_thread_create(&w->executor_threads[i], worker_executor, &w->executors[i]) != 0)
            return false;
        w->executors_started++;
    }
    w->rescuer_started = pthread_create(&w->rescuer, NULL, worker_rescuer, w) == 0;
    return w->rescuer_started;
}

/*
 * A clean stop: every Core is hung up on and every running call cancelled; the executors end,
 * then what was still queued is freed, then the connections' threads end (they hold the
 * connections); the rest is freed.
 */
static void worker_stop(struct worker *w)
{
    proc_kill_running(); /* compilers: no new code now */
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    for (struct conn *c = w->conns; c; c = c->next) {
        atomic_store(&c->closed, true);
        shutdown(c->link.fd, SHUT_RDWR);
    }
    for (unsigned i = 0; i < w->executors_started; i++)
        if (w->executors[i].running)
            atomic_store(&w->executors[i].cancel, true);
    for (struct executor *runner = w->runners; runner; runner = runner->next_runner)
        if (runner->running)
            atomic_store(&runner->cancel, true);
    pthread_cond_broadcast(&w->work);
    pthread_cond_broadcast(&w->rescue);
    pthread_mutex_unlock(&w->lock);
    for (unsigned i = 0; i < w->executors_started; i++)
        pthread_join(w->executor_threads[i], NULL);
    if (w->rescuer_started)
        pthread_join(w->rescuer, NULL);
    pthread_mutex_lock(&w->lock);
    struct job *queued = w->head;
    w->head = w->tail = NULL;
    w->queued = 0;
    pthread_mutex_unlock(&w->lock);
    for (struct job *job = queued, *next; job; job = next) {
        next = job->next;
        job_free(job);
    }
    for (int i = 0; i < 1000 && atomic_load(&w->connections); i++)
        usleep(10 * 1000); /* heartbeats notice within HEARTBEAT_MS */
    if (w->serving_metrics)
        metrics_stop();
    announcer_stop(w->announcer);
    for (struct executor *runner = w->runners, *next; runner; runner = next) {
        next = runner->next_runner;
        free(runner);
    }
    free(w->executors);
    free(w->executor_threads);
}

/* Accepts Cores until SIGTERM or SIGINT (blocked in every thread, read from `signals`). */
static void worker_accept_loop(struct worker *w, int listener, int signals)
{
    struct pollfd fds[2] = {{listener, POLLIN, 0}, {signals, POLLIN, 0}};
    for (;;) {
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            usleep(10000);
        if (fds[1].revents) {
            struct signalfd_siginfo info;
            if (read(signals, &info, sizeof(info)) == sizeof(info))
                fl_log(FL_LOG_INFO, "shutdown", "signal=%u", info.ssi_signo);
            return;
        }
        if (!fds[0].revents)
            continue;
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof(peer);
        int fd = accept4(listener, (struct sockaddr *)&peer, &peer_len, SOCK_CLOEXEC);
        if (fd >= 0 && worker_tune_socket(fd))
            worker_accept(w, fd, &peer);
        else if (fd >= 0)
            close(fd);
        else if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN)
            usleep(10000);
    }
}

static int worker_serve(struct worker *w, const struct worker_options *opt, int signals)
{
    unsigned port;
    int listener = link_listen(opt->listen, &port);
    if (listener < 0) {
        fl_log(FL_LOG_ERROR, "start_failed", "detail=%s address=%s error=%s", "cannot listen",
               opt->listen, strerror(errno));
        return 1;
    }
    unsigned metrics_port = 0;
    w->serving_metrics = strcmp(opt->metrics, "off") != 0;
    int rc = 1;
    if (w->serving_metrics && !metrics_serve(opt->metrics, w->name, w->cache, &metrics_port)) {
        w->serving_metrics = false;
        fl_log(FL_LOG_ERROR, "start_failed", "detail=%s address=%s", "cannot serve metrics",
               opt->metrics);
    } else if (worker_announce(w, opt, port) && worker_start_executors(w)) {
        char host[64];
        snprintf(host, sizeof(host), "%.*s", (int)strcspn(opt->listen, ":"), opt->listen);
        printf("funless worker %s: listening on %s:%u (metrics on port %u, %u threads, queue %u)\n",
               w->name, host, port, metrics_port, w->threads, w->queue_max);
        fflush(stdout);
        worker_accept_loop(w, listener, signals);
        rc = 0;
    }
    close(listener);
    worker_stop(w);
    return rc;
}

/* The sandbox (sandbox.h) before any thread starts, unless --sandbox off; one log line. */
static bool worker_restrict(const struct worker_options *opt)
{
    if (strcmp(opt->sandbox, "off") == 0) {
        fl_log(FL_LOG_WARN, "sandbox", "state=%s", "off (--sandbox off)");
        return true;
    }
    if (strcmp(opt->sandbox, "on") != 0) {
        fl_log(FL_LOG_ERROR, "start_failed", "detail=%s", "--sandbox takes on or off");
        return false;
    }
    struct sandbox_report report;
    char detail[256], line[8192];
    if (sandbox_worker(opt->cache_dir, &report, detail, sizeof(detail)) != FL_OK) {
        fl_log(FL_LOG_ERROR, "start_failed", "detail=%s", detail);
        return false;
    }
    sandbox_describe(&report, opt->cache_dir, line, sizeof(line));
    fl_log(FL_LOG_INFO, "sandbox", "state=%s", line);
    return true;
}

/* FunLess's environment (its Worker's) as ours: docs/funless.md. NODE_LONG_NAME is the name
 * APP scripts know a Worker by, as our --name is. */
static void worker_funless_env(char *ignored, size_t ignored_len)
{
    static const struct fl_env_alias aliases[] = {
        {"NODE_LONG_NAME", "FUNLESS_WORKER_NAME", "%s",
         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"},
    };
    static const char *const meaningless[] = {"NODE_TAG",
                                              "DEPLOY_ENV",
                                              "LIBCLUSTER_PORT",
                                              "NODE_IP",
                                              "RESOURCE_CACHE_ENTRY_LIMIT",
                                              "RESOURCHE_CACHE_TTL_MINUTES",
                                              "RELEASE_COOKIE",
                                              NULL};
    fl_funless_env(aliases, ARRAY_SIZE(aliases), meaningless, ignored, ignored_len);
}

int worker_main(int argc, char **argv)
{
    struct worker_options opt;
    char hostname[256] = "worker", cpus[16];
    gethostname(hostname, sizeof(hostname));
    snprintf(cpus, sizeof(cpus), "%ld", sysconf(_SC_NPROCESSORS_ONLN));
    const struct fl_option options[] = {
        {"--name", "FUNLESS_WORKER_NAME", FL_OPT_STRING, &opt.name, hostname, 0, 0,
         "this Worker's name (APP scripts use it)"},
        {"--listen", "FUNLESS_WORKER_LISTEN", FL_OPT_STRING, &opt.listen, "0.0.0.0:4020", 0, 0,
         "where Cores connect"},
        {"--threads", "FUNLESS_WORKER_THREADS", FL_OPT_UINT, &opt.threads, cpus, 1, 256,
         "executor threads (one per core by default)"},
        {"--queue", "FUNLESS_WORKER_QUEUE", FL_OPT_UINT, &opt.queue, "256", 1, 1000000,
         "invocations waiting at most; past it the Core hears BUSY"},
        {"--cache-dir", "FUNLESS_CACHE_DIR", FL_OPT_STRING, &opt.cache_dir, "./funless-cache", 0, 0,
         "raw and compiled code"},
        {"--cache-max-mb", "FUNLESS_CACHE_MAX_MB", FL_OPT_UINT, &opt.cache_max_mb, "1024", 1,
         1 << 20, "loaded code kept in memory (LRU by bytes)"},
        {"--disk-cache-max-mb", "FUNLESS_DISK_CACHE_MAX_MB", FL_OPT_UINT, &opt.disk_cache_max_mb,
         "2048", 0, 1 << 30,
         "compiled code kept on disk (least recently used removed past it; 0: no limit)"},
        {"--http-allow", "FUNLESS_HTTP_ALLOW", FL_OPT_STRING, &opt.http_allow, "", 0, 0,
         "hosts functions may call (__http_request): host, host:port, *.domain, an address or "
         "a network, comma-separated; empty: none (docs/abi.md)"},
        {"--http-max-kb", "FUNLESS_HTTP_MAX_KB", FL_OPT_UINT, &opt.http_max_kb, "1024", 1, 1 << 16,
         "a function's outbound HTTP request or response body at most"},
        {"--secret-file", "FUNLESS_SECRET_FILE", FL_OPT_STRING, &opt.secret_file, NULL, 0, 0,
         "the cluster secret: only Cores that prove it get a hearing"},
        {"--metrics", "FUNLESS_WORKER_METRICS", FL_OPT_STRING, &opt.metrics, "127.0.0.1:4021", 0, 0,
         "Prometheus /metrics address (it lists function names: loopback unless asked), or off"},
        {"--announce", "FUNLESS_WORKER_ANNOUNCE", FL_OPT_STRING, &opt.announce, ANNOUNCE_DEFAULT, 0,
         0, "multicast GROUP:PORT where Cores discover it (TTL 1), or off"},
        {"--memory-mb", "FUNLESS_WORKER_MEMORY_MB", FL_OPT_UINT, &opt.memory_mb, "0", 0, 1 << 30,
         "memory offered to functions (0: the host's); reported to Cores and Prometheus"},
        {"--max-connections", "FUNLESS_WORKER_MAX_CONNECTIONS", FL_OPT_UINT, &opt.max_connections,
         "64", 1, 4096, "Core connections open at once (a thread each)"},
        {"--max-unauthenticated", "FUNLESS_WORKER_MAX_UNAUTHENTICATED", FL_OPT_UINT,
         &opt.max_unauthenticated, "8", 1, 4096,
         "connections still in the handshake at once (with --secret-file)"},
        {"--busy-poll-us", "FUNLESS_WORKER_BUSY_POLL_US", FL_OPT_UINT, &opt.busy_poll_us, "0", 0,
         10000,
         "when calls come one at a time, a connection's reader polls this long for the next "
         "before it sleeps (0: it sleeps at once; for a Worker with cores of its own)"},
        {"--handshake-timeout-s", "FUNLESS_WORKER_HANDSHAKE_TIMEOUT_S", FL_OPT_UINT,
         &opt.handshake_timeout_s, "5", 1, 600,
         "a Core must prove the cluster secret within this, or is hung up on"},
        {"--insecure-accept-any-core", "FUNLESS_WORKER_INSECURE_ACCEPT_ANY_CORE", FL_OPT_FLAG,
         &opt.accept_any_core, "false", 0, 0,
         "without --secret-file, serve Cores on other machines too (anyone who reaches the "
         "port can then run code here)"},
        {"--sandbox", "FUNLESS_WORKER_SANDBOX", FL_OPT_STRING, &opt.sandbox, "on", 0, 0,
         "on: no new privileges, and (Landlock) files written only under the cache and temp "
         "dirs; off: none of it"},
        {"--log-format", "FUNLESS_LOG_FORMAT", FL_OPT_STRING, &opt.log_format, "kv", 0, 0,
         "log lines as key=value pairs (kv) or JSON objects (json)"},
        {"--log-level", "FUNLESS_LOG_LEVEL", FL_OPT_STRING, &opt.log_level, "info", 0, 0,
         "the least level logged: debug, info, warn or error"},
    };
    const size_t count = ARRAY_SIZE(options);
    char err[256], detail[256], engine_dir[4200], *positional[1], ignored[512];
    size_t npositional;
    bool help;
    worker_funless_env(ignored, sizeof(ignored));
    if (!fl_options_parse(options, count, argc, argv, positional, 0, &npositional, &help, err,
                          sizeof(err))) {
        fprintf(stderr, "funless worker: %s\n", err);
        return 64;
    }
    if (help) {
        fl_options_print_help(stdout,
                              "usage: funless worker [OPTIONS]\n\nRuns a Worker: Cores connect to "
                              "it and it runs their functions.",
                              options, count);
        return 0;
    }
    if (!fl_log_setup_from_options("funless worker", "worker", opt.log_format, opt.log_level))
        return 64;
    if (ignored[0])
        fl_log(FL_LOG_WARN, "funless_settings_ignored", "names=%s detail=%s", ignored,
               "FunLess settings that mean nothing to funless, or hold a value it cannot use "
               "(docs/funless.md)");
    if (!fl_worker_name_valid(opt.name)) {
        fprintf(stderr, "funless worker: --name takes 1 to 63 letters, digits, '.', '_' or '-'\n");
        return 64;
    }
    /* SIGTERM and SIGINT: blocked before any thread starts (they inherit it), read by the
     * accept loop; then the Worker stops cleanly (worker_stop) */
    signal(SIGPIPE, SIG_IGN);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    int signals = signalfd(-1, &stop_signals, SFD_CLOEXEC);
    metrics_set_memory_limit(opt.memory_mb << 20);
    struct metrics_host host;
    metrics_read_host(&host); /* capped at --memory-mb */
    struct worker w = {.name = opt.name,
                       .threads = (unsigned)opt.threads,
                       .queue_max = (unsigned)opt.queue,
                       .max_connections = (unsigned)opt.max_connections,
                       .max_unauthenticated = (unsigned)opt.max_unauthenticated,
                       .busy_poll_us = (unsigned)opt.busy_poll_us,
                       .handshake_timeout_s = (unsigned)opt.handshake_timeout_s,
                       .accept_any_core = opt.accept_any_core,
                       .memory_budget_mb = host.total_mem >> 20,
                       .memory_free_mb = host.total_mem >> 20};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.work, NULL);
    pthread_cond_init(&w.rescue, NULL);
    struct engine_config config;
    engine_config_defaults(&config);
    snprintf(engine_dir, sizeof(engine_dir), "%s/compiled", opt.cache_dir);
    config.cache_dir = engine_dir;
    config.cache_max_bytes = opt.disk_cache_max_mb << 20;
    config.http_allow = opt.http_allow;
    config.http_max_bytes = (size_t)opt.http_max_kb << 10;
    if (fl_secret_load(opt.secret_file, &w.secret, detail, sizeof(detail)) != FL_OK ||
        cache_open(opt.cache_dir, opt.cache_max_mb << 20, &w.cache, detail, sizeof(detail)) !=
            FL_OK ||
        engine_init(&config, detail, sizeof(detail)) != FL_OK) {
        fl_log(FL_LOG_ERROR, "start_failed", "detail=%s", detail);
        cache_free(w.cache);
        close(signals);
        return 1;
    }
    int rc = signals >= 0 && worker_restrict(&opt) ? worker_serve(&w, &opt, signals) : 1;
    cache_free(w.cache);
    engine_deinit();
    pthread_cond_destroy(&w.work);
    pthread_cond_destroy(&w.rescue);
    pthread_mutex_destroy(&w.lock);
    close(signals);
    return rc;
}
