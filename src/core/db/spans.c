#include "core/db/spans.h"

#include <stdlib.h>
#include <string.h>

/* ---- building a batch's spans ---- */

/* The time at the start of an id (12 hex characters of milliseconds); 0 if it has none. */
static int64_t id_ms(const char *id)
{
    int64_t ms = 0;
    for (int i = 0; i < 12; i++) {
        char c = id[i];
        int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (digit < 0)
            return 0;
        ms = ms * 16 + digit;
    }
    return ms;
}

static void copy_id(char out[33], const char *id)
{
    size_t n = strnlen(id, 32);
    memcpy(out, id, n);
    out[n] = '\0';
}

void span_builder_init(struct span_builder *b, span_closed_fn closed, void *arg)
{
    memset(b, 0, sizeof(*b));
    b->closed = closed;
    b->arg = arg;
}

/* Hands span `i` to `closed` and forgets it. */
static void close_span(struct span_builder *b, size_t i)
{
    if (!b->failed && !b->closed(b->arg, &b->open[i].span))
        b->failed = true;
    b->open[i] = b->open[--b->count];
}

static void open_span(struct span_builder *b, const char *module, const char *function,
                      const char *id, int64_t ms)
{
    if (b->count == SPANS_OPEN_MAX) { /* the function seen longest ago */
        size_t oldest = 0;
        for (size_t i = 1; i < b->count; i++)
            if (b->open[i].last_position < b->open[oldest].last_position)
                oldest = i;
        close_span(b, oldest);
    }
    struct span_open *o = &b->open[b->count++];
    o->span.module = module;
    o->span.function = function;
    copy_id(o->span.first_id, id);
    copy_id(o->span.last_id, id);
    o->last_position = b->position;
    o->first_ms = o->last_ms = ms;
}

void span_builder_add(struct span_builder *b, const char *module, const char *function,
                      const char *id)
{
    int64_t ms = id_ms(id);
    size_t i = 0;
    while (i < b->count && (strcmp(b->open[i].span.function, function) != 0 ||
                            strcmp(b->open[i].span.module, module) != 0))
        i++;
    if (i < b->count) {
        struct span_open *o = &b->open[i];
        int64_t low = ms < o->first_ms ? ms : o->first_ms, high = ms > o->last_ms ? ms : o->last_ms;
        if (b->position - o->last_position - 1 <= SPANS_GAP && high - low <= SPANS_TIME_MS) {
            if (strcmp(id, o->span.first_id) < 0)
                copy_id(o->span.first_id, id);
            if (strcmp(id, o->span.last_id) > 0)
                copy_id(o->span.last_id, id);
            o->first_ms = low;
            o->last_ms = high;
            o->last_position = b->position++;
            return;
        }
        close_span(b, i);
    }
    open_span(b, module, function, id, ms);
    b->position++;
}

bool span_builder_finish(struct span_builder *b)
{
    while (b->count)
        close_span(b, b->count - 1);
    return !b->failed;
}

/* ---- merging what the spans hold ---- */

/* A record's text fields, in one list (so that a copy is one loop). */
enum { ROW_FIELDS = 20 };
_Static_assert(sizeof(struct db_activation) == ROW_FIELDS * sizeof(const char *),
               "a field added to struct db_activation must be added to row_fields");

static void row_fields(struct db_activation *r, const char **fields[ROW_FIELDS])
{
    const char **all[ROW_FIELDS] = {&r->id,
                                    &r->module,
                                    &r->function,
                                    &r->hash,
                                    &r->trigger,
                                    &r->status,
                                    &r->http_status,
                                    &r->worker,
                                    &r->start,
                                    &r->start_ms,
                                    &r->duration_ms,
                                    &r->attempts,
                                    &r->result,
                                    &r->result_truncated,
                                    &r->error,
                                    &r->logs,
                                    &r->logs_truncated,
                                    &r->args,
                                    &r->script,
                                    &r->sinks};
    memcpy(fields, all, sizeof(all));
}

/* A copy of `row` whose strings live in *block (one allocation); false when out of memory. */
static bool row_copy(const struct db_activation *row, struct db_activation *out, void **block)
{
    *out = *row;
    const char **fields[ROW_FIELDS];
    row_fields(out, fields);
    size_t bytes = 0;
    for (int i = 0; i < ROW_FIELDS; i++)
        bytes += (*fields[i] ? strlen(*fields[i]) : 0) + 1;
    char *cursor = *block = malloc(bytes);
    if (!cursor)
        return false;
    for (int i = 0; i < ROW_FIELDS; i++) {
        size_t n = *fields[i] ? strlen(*fields[i]) : 0;
        memcpy(cursor, *fields[i] ? *fields[i] : "", n + 1);
        *fields[i] = cursor;
        cursor += n + 1;
    }
    return true;
}

bool span_hits_init(struct span_hits *h, size_t limit)
{
    *h = (struct span_hits){.limit = limit};
    h->rows = calloc(limit ? limit : 1, sizeof(*h->rows));
    h->blocks = calloc(limit ? limit : 1, sizeof(*h->blocks));
    return h->rows && h->blocks;
}

bool span_hits_add(struct span_hits *h, const struct db_activation *row)
{
    if (!span_hits_wants(h, row->id))
        return true;
    size_t low = 0, high = h->count; /* the first kept row older than `row` (newest first) */
    while (low < high) {
        size_t mid = (low + high) / 2;
        int order = strcmp(h->rows[mid].id, row->id);
        if (order == 0)
            return true; /* read through two spans */
        if (order > 0)
            low = mid + 1;
        else
            high = mid;
    }
    struct db_activation copy;
    void *block;
    if (!row_copy(row, &copy, &block))
        return false;
    if (h->count == h->limit) /* full: the oldest goes */
        free(h->blocks[--h->count]);
    memmove(&h->rows[low + 1], &h->rows[low], (h->count - low) * sizeof(*h->rows));
    memmove(&h->blocks[low + 1], &h->blocks[low], (h->count - low) * sizeof(*h->blocks));
    h->rows[low] = copy;
    h->blocks[low] = block;
    h->count++;
    return true;
}

bool span_hits_wants(const struct span_hits *h, const char *last_id)
{
    return h->limit && (h->count < h->limit || strcmp(last_id, h->rows[h->limit - 1].id) > 0);
}

void span_hits_deinit(struct span_hits *h)
{
    for (size_t i = 0; h->blocks && i < h->count; i++)
        free(h->blocks[i]);
    free(h->rows);
    free(h->blocks);
    *h = (struct span_hits){0};
}
