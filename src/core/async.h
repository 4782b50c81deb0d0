/*
 * async — invocations accepted now and run later (POST /v1/fn/{m}/{f}?async=true;
 * docs/activations.md). The store is the queue: a call is answered 202 only once its record
 * ("queued", with its arguments) is written, and a Core that starts puts every queued or
 * running record back on the queue, so that a call accepted before a crash still ends.
 *
 * The calls run on the event loop through the same placement as synchronous ones, at most
 * `concurrency` at once (synchronous traffic is never starved); a platform failure (no
 * Worker, every Worker busy, the Worker lost) is retried up to `retries` times with an
 * exponential backoff, a function's own failure never.
 *
 * Threading: async_reserve, async_submit and the counters from any thread; the rest is the
 * loop's (async_load and async_stop post to it and wait).
 */
#ifndef FL_CORE_ASYNC_H
#define FL_CORE_ASYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

struct evloop;
struct cluster;
struct catalogue;
struct app_scripts;
struct activations;
struct db;
struct fn_def;

struct async_config {
    unsigned concurrency; /* calls running at once */
    unsigned retries;     /* platform failures retried this many times */
    uint64_t queue_max;   /* calls accepted and not ended (429 past it) */
};

/* What is queued: a record of trigger "async", "cron" or "event". */
struct async_entry {
    const char *id, *module, *function, *args, *script; /* script "" for the default policy */
    const char *trigger;                                /* NULL: "async" */
    int64_t start_ms;                                   /* accepted at (wall clock) */
    unsigned attempts;                                  /* made so far */
};

struct async_queue;

struct async_queue *async_new(const struct async_config *config, struct evloop *loop,
                              struct cluster *cluster, struct catalogue *catalogue,
                              struct app_scripts *scripts, struct activations *activations);
/* Stops starting calls and recording outcomes: what is queued or out stays so in the store, and
 * the next start runs it. Before the cluster fails its calls. */
void async_stop(struct async_queue *queue);
/* Once no call of the queue's is out any more (after cluster_free). */
void async_free(struct async_queue *queue);

/* A place in the queue for a call about to be accepted; false when it is full (429). */
bool async_reserve(struct async_queue *queue);
/* The place was not used after all (the record could not be written). */
void async_unreserve(struct async_queue *queue);
/* The call (with its reserved place) is in the store: it runs. */
void async_submit(struct async_queue *queue, const struct async_entry *entry);
enum { ASYNC_TRIGGER_MAX = 8 };
/* Whether records of this trigger are calls of the queue ("async", "cron", "event"). */
bool async_trigger_queued(const char *trigger);

/* A call to accept into the queue (async_enqueue). */
struct async_request {
    const struct fn_def *def;
    const char *args;    /* its JSON arguments */
    const char *script;  /* its APP script, "" for the default policy */
    const char *trigger; /* "async", "cron" or "event" */
    /* On the loop once its queued record is in the store (FL_OK: it runs) or could not be
     * written (it does not run); `id` is its activation's. */
    void (*accepted)(void *arg, const char *id, enum fl_err err);
    void *arg;
};
/* [loop] Reserves a place, hands the record over and, once it is in the store, runs the call:
 * `accepted` tells. FL_OK; FL_ERR_BUSY when the queue is full or the store behind (nothing more
 * happens: `accepted` is not called); FL_ERR_IO with no random bytes for an id. */
enum fl_err async_enqueue(struct async_queue *queue, const struct async_request *request);

/* Before async_load: successful calls' results go to their functions' sinks (core/sinks). */
struct sinks;
void async_set_sinks(struct async_queue *queue, struct sinks *sinks);

/* At start: every queued or running record of the store goes (back) on the queue. */
enum fl_err async_load(struct async_queue *queue, struct db *db, char *detail, size_t detail_len);

/* For the metrics. */
uint64_t async_depth(struct async_queue *queue);
uint64_t async_retries(struct async_queue *queue);

#endif
