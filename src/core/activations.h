/*
 * activations — the record of every invocation (docs/activations.md): what ran, where, how it
 * ended, its result and its logs.
 *
 * A record is handed over when the call ends (activations_record, on the event loop: it copies
 * and never waits) and written to the store by a thread of its own, many records to a
 * transaction (group commit). A slow or stalled store never holds up a call: past a bounded
 * buffer, records are dropped and counted (the metrics say how many), never the calls.
 * The same thread prunes what is past the retention limits.
 */
#ifndef FL_CORE_ACTIVATIONS_H
#define FL_CORE_ACTIVATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/evloop.h"

struct db;

enum activation_keep { ACTIVATIONS_ALL, ACTIVATIONS_ERRORS, ACTIVATIONS_OFF };

/* A shorter retention for some modules (a subject's keep_hours quota, docs/tenants.md). */
struct activation_retention {
    char *modules; /* names joined by ',' */
    uint64_t keep_hours;
};
/* The retentions shorter than the Core's, asked for at each prune (on the writer's thread): an
 * array the writer frees, strings and all; NULL when there are none. */
typedef struct activation_retention *(*activations_retention_fn)(void *arg, size_t *count);

struct activations_config {
    enum activation_keep keep;
    uint64_t keep_hours;  /* records older than this are pruned */
    uint64_t max_records; /* and all but the newest this many */
    size_t result_max_bytes;
    size_t log_max_bytes;
    unsigned log_max_lines;
    size_t buffer_max_bytes; /* records waiting for the store at most (past it: dropped) */
    activations_retention_fn retention; /* NULL: every module keeps records keep_hours */
    void *retention_arg;
};

enum { ACTIVATION_ID_CHARS = 32 };

/* A finished call, as the API saw it; the strings are copied. */
struct activation_record {
    const char *id;
    const char *module, *function, *hash;
    const char *trigger; /* "http" or "async" */
    const char *status;  /* "queued" or "running"; NULL: from `outcome` */
    enum fl_err outcome; /* the invocation's status (invocation.h) */
    int http_status;
    const char *worker;
    int64_t start_ms; /* wall clock, ms since the epoch, when it was accepted */
    uint64_t duration_ms;
    unsigned attempts;
    const char *result; /* JSON on success, else NULL */
    size_t result_len;
    const char *error; /* the reply's detail when not a success, else NULL */
    const char *logs;  /* the function's log lines, '\n'-separated */
    size_t logs_len;
    const char *args;   /* an asynchronous call's arguments (its queue entry), else NULL */
    const char *script; /* its APP script's name, else NULL */
};

struct activations;

/* Starts the writer; NULL when out of memory or threads. */
struct activations *activations_start(struct db *db, const struct activations_config *config);
/* Writes what is buffered, stops the writer, frees everything. */
void activations_stop(struct activations *activations);

/* A fresh id: 32 lower-case hex characters, the first 12 `made_ms` (the wall clock in ms when the
 * call was accepted, its record's start: ids sort by it), the other 20 from the system's random
 * source. False when there are no random bytes. */
bool activation_new_id(char id[ACTIVATION_ID_CHARS + 1], int64_t made_ms);
/* The record's `status` word for an invocation outcome (success, error, trap, ...). */
const char *activation_status_of(enum fl_err outcome);

/* Waiting for a record to be in the store (an asynchronous call is accepted only then). */
struct activation_wait {
    struct evloop *loop;                                         /* where `done` runs */
    void (*done)(struct activation_wait *wait, enum fl_err err); /* FL_OK: it is in the store */
    struct evloop_task task;                                     /* the writer's */
    enum fl_err err;
};
/* Hands a record to the writer like activations_record, and calls `wait->done` on its loop once
 * the batch holding it is committed (or has failed): many such records share one commit.
 * False, without a call, when the writer is too far behind to take it. */
bool activations_record_durable(struct activations *activations,
                                const struct activation_record *record,
                                struct activation_wait *wait);
/* Hands a record to the writer (kept or not as --activations says; an asynchronous call's
 * always, as the store is its queue); never waits. */
void activations_record(struct activations *activations, const struct activation_record *record);
/* Waits (a bounded time) until every record handed over before the call is in the store, so
 * that a read right after a call finds it. */
enum fl_err activations_sync(struct activations *activations, char *detail, size_t detail_len);

/* Whether a caller waits for a record to reach the store (an asynchronous call's accept) now;
 * any thread. The event loop does not poll while one does: the commit it waits for needs the
 * CPU (evloop_set_poll_gate). */
bool activations_awaited(struct activations *activations);

/* For the metrics: records written and dropped since start. */
void activations_counts(struct activations *activations, uint64_t *written, uint64_t *dropped);

#endif
