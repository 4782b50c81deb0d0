#include "core/activations.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/secret.h"
#include "common/util.h"
#include "core/db/db.h"

enum {
    BATCH_MAX = 2048,       /* records to a transaction at most */
    FLUSH_EVERY_MS = 50,    /* a record waits at most this long for its batch */
    PRUNE_EVERY_MS = 60000, /* retention is applied this often */
    SYNC_TIMEOUT_MS = 5000, /* activations_sync gives up after this */
    STORE_RETRY_MS = 1000,  /* a failed batch is tried again after this, then dropped */
};

/* A record waiting for the store: its own copy of everything (one allocation). */
struct pending {
    struct pending *next;
    uint64_t seq;
    size_t bytes;
    struct activation_wait *wait; /* told when its batch is committed, or NULL */
    bool superseded;              /* a later record of the same call is in its batch */
    struct activation_record r;
    char strings[];
};

struct activations {
    struct db *db;
    struct activations_config config;
    pthread_t thread;
    pthread_mutex_t lock; /* guards the fields below */
    pthread_cond_t work, written_changed;
    struct pending *head, **tail;
    size_t pending_count, pending_bytes;
    size_t waited_for; /* pending records a caller waits for: the batch does not wait to fill */
    uint64_t enqueued_seq, written_seq; /* records handed over, and settled (written or dropped) */
    atomic_bool stopping;               /* written under the lock, read anywhere */
    bool can_yield_cpu; /* the writer may run at SCHED_IDLE and come back (writer_may_yield) */
    atomic_uint_fast64_t written, dropped;
    atomic_uint awaited; /* records handed over with a wait, not settled yet */
};

/*
 * Random bytes for ids, read from the system 4 KiB at a time: one getrandom for 409 ids instead
 * of one each (that system call was 3% of the event loop's time). Per thread, so no lock; a
 * child of fork starts with an empty pool, so it never repeats its parent's ids.
 */
enum { ID_POOL_BYTES = 4096 };
static _Thread_local struct {
    uint8_t bytes[ID_POOL_BYTES];
    size_t used;
    bool filled;
} id_pool;

static void id_pool_forget(void)
{
    id_pool.filled = false; /* the child's one thread: the others' pools are not copied */
}

static void id_pool_register(void)
{
    pthread_atfork(NULL, NULL, id_pool_forget);
}

static bool id_random_bytes(uint8_t *out, size_t len)
{
    static pthread_once_t registered = PTHREAD_ONCE_INIT;
    pthread_once(&registered, id_pool_register);
    if (!id_pool.filled || ID_POOL_BYTES - id_pool.used < len) {
        if (!fl_random_bytes(id_pool.bytes, ID_POOL_BYTES))
            return false;
        id_pool.used = 0;
        id_pool.filled = true;
    }
    memcpy(out, id_pool.bytes + id_pool.used, len);
    memset(id_pool.bytes + id_pool.used, 0, len); /* handed out once */
    id_pool.used += len;
    return true;
}

bool activation_new_id(char id[ACTIVATION_ID_CHARS + 1], int64_t made_ms)
{
    /* 48 bits of wall-clock milliseconds, then 80 random bits: ids made later sort later, so
     * the store appends to its id index instead of touching a random page of it per record
     * (that cost the writer ten times more), and an id is still never guessed */
    enum { TIME_BYTES = 6 };
    uint8_t bytes[ACTIVATION_ID_CHARS / 2];
    if (!id_random_bytes(bytes + TIME_BYTES, sizeof(bytes) - TIME_BYTES))
        return false;
    uint64_t ms = (uint64_t)made_ms;
    for (int i = 0; i < TIME_BYTES; i++)
        bytes[i] = (uint8_t)(ms >> (8 * (TIME_BYTES - 1 - i)));
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof(bytes); i++) {
        id[2 * i] = hex[bytes[i] >> 4];
        id[2 * i + 1] = hex[bytes[i] & 15];
    }
    id[ACTIVATION_ID_CHARS] = '\0';
    return true;
}

const char *activation_status_of(enum fl_err outcome)
{
    switch (outcome) {
    case FL_OK:
        return "success";
    case FL_ERR_TRAP:
    case FL_ERR_MEMORY_LIMIT:
        return "trap";
    case FL_ERR_TIMEOUT:
        return "timeout";
    case FL_ERR_UNAVAILABLE:
        return "unavailable";
    case FL_ERR_BUSY:
        return "busy";
    case FL_ERR_WORKER_LOST:
        return "lost";
    default: /* the function's own error, invalid output, the code unreadable, cancelled */
        return "error";
    }
}

/* ---- handing over (the event loop) ---- */

static size_t text_len(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Copies `len` bytes of `from` into *cursor (NUL-terminated); NULL stays NULL. */
static const char *copy_into(char **cursor, const char *from, size_t len)
{
    if (!from)
        return NULL;
    char *to = *cursor;
    memcpy(to, from, len);
    to[len] = '\0';
    *cursor += len + 1;
    return to;
}

static struct pending *pending_copy(const struct activation_record *r, size_t result_max,
                                    size_t logs_max)
{
    size_t result_len = r->result && r->result_len <= result_max ? r->result_len : 0;
    size_t logs_len = r->logs_len < logs_max ? r->logs_len : logs_max;
    size_t bytes = text_len(r->id) + text_len(r->module) + text_len(r->function) +
                   text_len(r->hash) + text_len(r->trigger) + text_len(r->worker) +
                   text_len(r->error) + text_len(r->status) + text_len(r->args) +
                   text_len(r->script) + result_len + 1 + logs_len + 1;
    struct pending *p = malloc(sizeof(*p) + bytes);
    if (!p)
        return NULL;
    p->bytes = sizeof(*p) + bytes;
    char *cursor = p->strings;
    p->r = *r;
    p->r.id = copy_into(&cursor, r->id, strlen(r->id));
    p->r.module = copy_into(&cursor, r->module, strlen(r->module));
    p->r.function = copy_into(&cursor, r->function, strlen(r->function));
    p->r.hash = copy_into(&cursor, r->hash, strlen(r->hash));
    p->r.trigger = copy_into(&cursor, r->trigger, strlen(r->trigger));
    p->r.worker = copy_into(&cursor, r->worker ? r->worker : "", r->worker ? strlen(r->worker) : 0);
    p->r.error = copy_into(&cursor, r->error, r->error ? strlen(r->error) : 0);
    p->r.status = copy_into(&cursor, r->status, r->status ? strlen(r->status) : 0);
    p->r.args = copy_into(&cursor, r->args, r->args ? strlen(r->args) : 0);
    p->r.script = copy_into(&cursor, r->script, r->script ? strlen(r->script) : 0);
    /* a result past its bound is not kept (a cut JSON text would not be JSON): truncated */
    p->r.result = r->result ? copy_into(&cursor, r->result, result_len) : NULL;
    p->r.result_len = r->result && r->result_len > result_max ? SIZE_MAX : result_len;
    p->r.logs = copy_into(&cursor, r->logs ? r->logs : "", r->logs ? logs_len : 0);
    p->r.logs_len = r->logs_len > logs_max ? SIZE_MAX : logs_len; /* SIZE_MAX: cut */
    return p;
}

/* Queues `p` for the writer; false (and `p` freed) past the buffer's bound. */
static bool pending_push(struct activations *a, struct pending *p)
{
    pthread_mutex_lock(&a->lock);
    if (a->pending_bytes + p->bytes > a->config.buffer_max_bytes) {
        pthread_mutex_unlock(&a->lock);
        free(p);
        return false;
    }
    p->next = NULL;
    a->pending_bytes += p->bytes;
    a->waited_for += p->wait != NULL;
    p->seq = ++a->enqueued_seq;
    *a->tail = p;
    a->tail = &p->next;
    if (++a->pending_count >= BATCH_MAX)
        pthread_cond_signal(&a->work);
    pthread_mutex_unlock(&a->lock);
    return true;
}

static void wait_done(struct evloop_task *task)
{
    struct activation_wait *w = container_of(task, struct activation_wait, task);
    w->done(w, w->err);
}

bool activations_record_durable(struct activations *a, const struct activation_record *r,
                                struct activation_wait *wait)
{
    struct pending *p = pending_copy(r, a->config.result_max_bytes, a->config.log_max_bytes);
    if (!p)
        return false;
    p->wait = wait;
    p->superseded = false;
    wait->task.run = wait_done;
    atomic_fetch_add(&a->awaited, 1);
    if (!pending_push(a, p)) {
        atomic_fetch_sub(&a->awaited, 1);
        return false;
    }
    pthread_mutex_lock(&a->lock);
    pthread_cond_signal(&a->work); /* a caller waits: the batch does not wait to fill */
    pthread_mutex_unlock(&a->lock);
    return true;
}

void activations_record(struct activations *a, const struct activation_record *r)
{
    bool queued_call = strcmp(r->trigger, "async") == 0;
    if (!a || (!queued_call && (a->config.keep == ACTIVATIONS_OFF ||
                                (a->config.keep == ACTIVATIONS_ERRORS && r->outcome == FL_OK))))
        return;
    struct pending *p = pending_copy(r, a->config.result_max_bytes, a->config.log_max_bytes);
    if (p) {
        p->wait = NULL;
        p->superseded = false;
    }
    if (!p || !pending_push(a, p)) /* the store is behind: the record goes, never the call */
        atomic_fetch_add(&a->dropped, 1);
}

/* ---- writing (the writer's thread) ---- */

/* The logs as a JSON array of lines, at most `max_lines`; *cut when lines or bytes were cut. */
static char *logs_json(const struct activation_record *r, unsigned max_lines, bool *cut)
{
    *cut = r->logs_len == SIZE_MAX;
    if (!r->logs[0]) /* most calls log nothing */
        return NULL;
    cJSON *lines = cJSON_CreateArray();
    const char *text = r->logs, *end = text + strlen(text);
    unsigned count = 0;
    for (const char *line = text; lines && line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t len = nl ? (size_t)(nl - line) : (size_t)(end - line);
        if (count == max_lines) {
            *cut = true;
            break;
        }
        char *copy = strndup(line, len);
        cJSON_AddItemToArray(lines, cJSON_CreateString(copy ? copy : ""));
        free(copy);
        count++;
        line += len + (nl ? 1 : 0);
    }
    char *json = lines ? cJSON_PrintUnformatted(lines) : NULL;
    cJSON_Delete(lines);
    return json;
}

/* A record's row: its numbers and JSON as text in `scratch` (freed by the caller). */
static void row_of(const struct activation_record *r, unsigned max_lines, struct db_activation *row,
                   char numbers[4][32], char start[32], char **logs)
{
    bool logs_cut;
    *logs = logs_json(r, max_lines, &logs_cut);
    fl_format_wall_ms(r->start_ms, start);
    snprintf(numbers[0], 32, "%d", r->http_status);
    snprintf(numbers[1], 32, "%lld", (long long)r->start_ms);
    snprintf(numbers[2], 32, "%llu", (unsigned long long)r->duration_ms);
    snprintf(numbers[3], 32, "%u", r->attempts);
    *row = (struct db_activation){
        .id = r->id,
        .module = r->module,
        .function = r->function,
        .hash = r->hash,
        .trigger = r->trigger,
        .status = r->status ? r->status : activation_status_of(r->outcome),
        .http_status = numbers[0],
        .worker = r->worker,
        .start = start,
        .start_ms = numbers[1],
        .duration_ms = numbers[2],
        .attempts = numbers[3],
        .result = r->result ? r->result : "",
        .result_truncated = r->result_len == SIZE_MAX ? "1" : "0",
        .error = r->error ? r->error : "",
        .logs = *logs ? *logs : "[]",
        .logs_truncated = logs_cut ? "1" : "0",
        .args = r->args ? r->args : "",
        .script = r->script ? r->script : "",
    };
}

/*
 * An asynchronous call leaves several records (queued, running, its end), each a whole row
 * (args included): when a later one is in the same batch, the earlier is not written at all.
 * Under load batches grow, and so does what this saves.
 */
static void mark_superseded(struct pending *batch, size_t count)
{
    size_t slots = 16;
    while (slots < 2 * count)
        slots *= 2;
    struct pending **seen = calloc(slots, sizeof(*seen));
    for (struct pending *p = batch; seen && p; p = p->next) {
        uint64_t hash; /* the id's random end (activation_new_id), as good a hash as any */
        memcpy(&hash, p->r.id + ACTIVATION_ID_CHARS - sizeof(hash), sizeof(hash));
        size_t slot = (size_t)(hash * 0x9e3779b97f4a7c15ULL) & (slots - 1);
        while (seen[slot] && strcmp(seen[slot]->r.id, p->r.id) != 0)
            slot = (slot + 1) & (slots - 1);
        if (seen[slot])
            seen[slot]->superseded = true;
        seen[slot] = p;
    }
    free(seen); /* out of memory: every record is written */
}

/* Writes one batch in one transaction; false when the store failed. */
static bool write_batch(struct activations *a, struct pending *batch, size_t count)
{
    mark_superseded(batch, count);
    struct db_activation *rows = calloc(count, sizeof(*rows));
    char(*numbers)[4][32] = calloc(count, sizeof(*numbers));
    char(*starts)[32] = calloc(count, sizeof(*starts));
    char **logs = calloc(count, sizeof(*logs));
    bool ok = rows && numbers && starts && logs;
    size_t i = 0;
    for (struct pending *p = batch; ok && p; p = p->next) {
        if (!p->superseded) {
            row_of(&p->r, a->config.log_max_lines, &rows[i], numbers[i], starts[i], &logs[i]);
            i++;
        }
    }
    char detail[256] = "";
    ok = ok && a->db->ops->activation_write(a->db, rows, i, detail, sizeof(detail)) == FL_OK;
    if (!ok)
        fl_log(FL_LOG_WARN, "activations_not_written", "records=%zu detail=%s", count, detail);
    for (size_t k = 0; logs && k < count; k++)
        cJSON_free(logs[k]);
    free(rows);
    free(numbers);
    free(starts);
    free(logs);
    return ok;
}

/* The modules whose owners keep their records for less time than the Core does. */
static void prune_shorter(struct activations *a)
{
    size_t count = 0;
    struct activation_retention *shorter =
        a->config.retention ? a->config.retention(a->config.retention_arg, &count) : NULL;
    for (size_t i = 0; i < count; i++) {
        char detail[256];
        int64_t before_ms = fl_wall_ms() - (int64_t)shorter[i].keep_hours * 3600 * 1000;
        if (shorter[i].keep_hours < a->config.keep_hours &&
            db_activation_prune_modules(a->db, shorter[i].modules, before_ms, detail,
                                        sizeof(detail)) != FL_OK)
            fl_log(FL_LOG_WARN, "activations_not_pruned", "detail=%s", detail);
        free(shorter[i].modules);
    }
    free(shorter);
}

static void prune(struct activations *a)
{
    int64_t before_ms = fl_wall_ms() - (int64_t)a->config.keep_hours * 3600 * 1000;
    char detail[256];
    if (a->db->ops->activation_prune(a->db, before_ms, a->config.max_records, detail,
                                     sizeof(detail)) != FL_OK)
        fl_log(FL_LOG_WARN, "activations_not_pruned", "detail=%s", detail);
    prune_shorter(a);
}

/* Takes what is pending (at most BATCH_MAX records), waiting up to FLUSH_EVERY_MS for it.
 * *urgent: a caller waits on one of them, or the buffer is over half full. */
static struct pending *take_batch(struct activations *a, size_t *count, uint64_t *last_seq,
                                  bool *urgent)
{
    pthread_mutex_lock(&a->lock);
    if (a->pending_count < BATCH_MAX && !a->stopping && !a->waited_for) {
        struct timespec deadline = fl_deadline_in(FLUSH_EVERY_MS);
        pthread_cond_clockwait(&a->work, &a->lock, CLOCK_MONOTONIC, &deadline);
    }
    struct pending *batch = a->head, *last = NULL;
    size_t n = 0;
    *urgent = a->pending_bytes > a->config.buffer_max_bytes / 2 || a->stopping;
    for (struct pending *p = batch; p && n < BATCH_MAX; p = p->next, n++) {
        last = p;
        a->pending_bytes -= p->bytes;
        a->waited_for -= p->wait != NULL;
        *urgent |= p->wait != NULL;
    }
    if (last) {
        a->head = last->next;
        if (!a->head)
            a->tail = &a->head;
        last->next = NULL;
        a->pending_count -= n;
        *last_seq = last->seq;
    }
    pthread_mutex_unlock(&a->lock);
    *count = n;
    return n ? batch : NULL;
}

/* Hands the callers of one loop their outcome, in one post: a wake-up for each was a system
 * call per accepted asynchronous call. */
static void tell_waiting(struct evloop *loop, struct evloop_task *chain)
{
    if (!chain || evloop_post_chain(loop, chain))
        return;
    for (struct evloop_task *task = chain, *next; task; task = next) { /* the loop has stopped */
        next = task->next;
        struct activation_wait *w = container_of(task, struct activation_wait, task);
        w->done(w, w->err);
    }
}

static void settle(struct activations *a, struct pending *batch, uint64_t last_seq, bool written)
{
    struct evloop *loop = NULL; /* the callers' loop (one in practice), in order */
    struct evloop_task *chain = NULL, **chain_tail = &chain;
    while (batch) {
        struct pending *next = batch->next;
        struct activation_wait *w = batch->wait;
        if (w) { /* its caller learns the outcome on its loop */
            atomic_fetch_sub(&a->awaited, 1);
            w->err = written ? FL_OK : FL_ERR_STORE_DOWN;
            if (w->loop != loop) {
                tell_waiting(loop, chain);
                loop = w->loop;
                chain = NULL;
                chain_tail = &chain;
            }
            w->task.next = NULL;
            *chain_tail = &w->task;
            chain_tail = &w->task.next;
        }
        free(batch);
        batch = next;
    }
    tell_waiting(loop, chain);
    pthread_mutex_lock(&a->lock);
    a->written_seq = last_seq;
    pthread_cond_broadcast(&a->written_changed);
    pthread_mutex_unlock(&a->lock);
}

/*
 * The writer's CPU priority. A batch takes milliseconds of CPU; run as an equal of the event
 * loop, it holds a core the loop then waits for, and throughput fell by a quarter. So records
 * are written with the CPU the calls leave over (SCHED_IDLE), and the writer competes as an
 * equal (SCHED_OTHER) only while a batch is urgent: a caller waits on it (an asynchronous call
 * is accepted once its record is in) or the buffer is over half full (records would be dropped).
 * Coming back from SCHED_IDLE needs CAP_SYS_NICE or RLIMIT_NICE >= 20: without them the writer
 * never yields (writer_may_yield tells, once, on a thread of its own).
 */
static void writer_set_urgent(struct activations *a, bool urgent, bool *now_urgent)
{
    if (!a->can_yield_cpu || urgent == *now_urgent)
        return;
    struct sched_param none = {0};
    if (pthread_setschedparam(pthread_self(), urgent ? SCHED_OTHER : SCHED_IDLE, &none) == 0)
        *now_urgent = urgent;
}

static void *probe_yield(void *arg)
{
    struct sched_param none = {0};
    *(bool *)arg = pthread_setschedparam(pthread_self(), SCHED_IDLE, &none) == 0 &&
                   pthread_setschedparam(pthread_self(), SCHED_OTHER, &none) == 0;
    return NULL;
}

static bool writer_may_yield(void)
{
    bool may = false;
    pthread_t probe;
    if (pthread_create(&probe, NULL, probe_yield, &may) == 0)
        pthread_join(probe, NULL);
    return may;
}

static void *writer_main(void *arg)
{
    struct activations *a = arg;
    uint64_t pruned_ms = 0;
    bool urgent_now = true; /* threads start at SCHED_OTHER */
    for (;;) {
        size_t count;
        uint64_t last_seq = 0;
        bool urgent;
        struct pending *batch = take_batch(a, &count, &last_seq, &urgent);
        writer_set_urgent(a, urgent, &urgent_now);
        if (batch) {
            bool ok = write_batch(a, batch, count);
            if (!ok && !a->stopping) { /* once more, after a pause: then it is dropped */
                struct timespec pause = {STORE_RETRY_MS / 1000, 0};
                nanosleep(&pause, NULL);
                ok = write_batch(a, batch, count);
            }
            atomic_fetch_add(ok ? &a->written : &a->dropped, count);
            settle(a, batch, last_seq, ok);
        }
        if (fl_ms_since(fl_now_ms(), pruned_ms) >= PRUNE_EVERY_MS) {
            pruned_ms = fl_now_ms();
            prune(a);
        }
        pthread_mutex_lock(&a->lock);
        bool done = a->stopping && !a->head;
        pthread_mutex_unlock(&a->lock);
        if (done)
            return NULL;
    }
}

struct activations *activations_start(struct db *db, const struct activations_config *config)
{
    struct activations *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->db = db;
    a->config = *config;
    a->tail = &a->head;
    a->can_yield_cpu = writer_may_yield();
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->work, NULL);
    pthread_cond_init(&a->written_changed, NULL);
    if (pthread_create(&a->thread, NULL, writer_main, a) != 0) {
        pthread_cond_destroy(&a->written_changed);
        pthread_cond_destroy(&a->work);
        pthread_mutex_destroy(&a->lock);
        free(a);
        return NULL;
    }
    return a;
}

void activations_stop(struct activations *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = true;
    pthread_cond_signal(&a->work);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->thread, NULL);
    pthread_cond_destroy(&a->written_changed);
    pthread_cond_destroy(&a->work);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

enum fl_err activations_sync(struct activations *a, char *detail, size_t detail_len)
{
    struct timespec deadline = fl_deadline_in(SYNC_TIMEOUT_MS);
    pthread_mutex_lock(&a->lock);
    uint64_t wanted = a->enqueued_seq;
    pthread_cond_signal(&a->work); /* no need to wait for the batch to fill */
    int rc = 0;
    while (a->written_seq < wanted && rc == 0)
        rc = pthread_cond_clockwait(&a->written_changed, &a->lock, CLOCK_MONOTONIC, &deadline);
    bool caught_up = a->written_seq >= wanted;
    pthread_mutex_unlock(&a->lock);
    return caught_up ? FL_OK
                     : fl_fail(FL_ERR_STORE_DOWN, detail, detail_len,
                               "the activation records are not written yet");
}

bool activations_awaited(struct activations *a)
{
    return a && atomic_load(&a->awaited) > 0;
}

void activations_counts(struct activations *a, uint64_t *written, uint64_t *dropped)
{
    *written = a ? atomic_load(&a->written) : 0;
    *dropped = a ? atomic_load(&a->dropped) : 0;
}
