/*
 * spans — how SQLite finds one function's activation records without an index entry per
 * record (db_sqlite.c; docs/activations.md, "Cost").
 *
 * A span is a function's first and last record id in one written batch: every record of the
 * function lies in one of its spans, and a span holds few records of other functions. A batch
 * gives a function a new span where its records lie far apart: more than SPANS_GAP records of
 * others between two of its own (in the order the batch is written), or ids made more than
 * SPANS_TIME_MS apart (a long call's record comes with much newer ones). So reading a span
 * costs at most about SPANS_GAP records of others for each record of the function.
 *
 * Reading: the function's spans newest first (by last id), the records of each (newest first,
 * at most the limit), merged into `struct span_hits`, which keeps the newest `limit` distinct
 * records; once it is full, a span whose last id is older than its oldest one holds nothing
 * that could enter, and neither does any span after it.
 *
 * Pure logic: no store, no lock. Ids are the 32 hex characters of activation_new_id, whose
 * first 12 are the time in milliseconds.
 */
#ifndef FL_CORE_DB_SPANS_H
#define FL_CORE_DB_SPANS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/db/db.h"

enum {
    SPANS_GAP = 64,       /* records of others between two of a function's, at most */
    SPANS_TIME_MS = 1000, /* and the time between the ids of one span's records, at most */
    SPANS_OPEN_MAX = 64,  /* functions followed at once in a batch; past it, the oldest closes */
};

struct span {
    const char *module, *function; /* the batch's strings: valid while it is */
    char first_id[33], last_id[33];
};

/* Called for each closed span; false stops (the write failed). */
typedef bool (*span_closed_fn)(void *arg, const struct span *span);

struct span_open {
    struct span span;
    size_t last_position; /* in the batch, of the function's last record */
    int64_t first_ms, last_ms;
};

struct span_builder {
    struct span_open open[SPANS_OPEN_MAX];
    size_t count, position;
    span_closed_fn closed;
    void *arg;
    bool failed;
};

void span_builder_init(struct span_builder *b, span_closed_fn closed, void *arg);
/* The batch's next record (the strings must outlive the builder's use of them). */
void span_builder_add(struct span_builder *b, const char *module, const char *function,
                      const char *id);
/* Closes the spans still open; false when a `closed` call failed, now or before. */
bool span_builder_finish(struct span_builder *b);

/* The newest `limit` distinct records seen, newest first (copies). */
struct span_hits {
    struct db_activation *rows;
    void **blocks; /* each row's strings, one allocation */
    size_t count, limit;
};

bool span_hits_init(struct span_hits *h, size_t limit);
/* Keeps a copy of `row` if it is among the newest `limit` and not already there; false when
 * out of memory. */
bool span_hits_add(struct span_hits *h, const struct db_activation *row);
/* Whether a span whose last id is `last_id` can still add anything. */
bool span_hits_wants(const struct span_hits *h, const char *last_id);
void span_hits_deinit(struct span_hits *h);

#endif
