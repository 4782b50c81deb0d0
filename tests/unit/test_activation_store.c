/*
 * Tests of how SQLite finds one function's activation records (core/db/spans.h): the spans a
 * batch makes cover every record of each function, the merge keeps the newest distinct
 * records, and over a real SQLite store the function filter, with and without a module, a
 * status and a cursor, returns exactly what reading every record and filtering would, through
 * interleaved functions, long calls whose records come late, records written again (an
 * asynchronous call's), and pruning.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "core/db/db.h"
#include "core/db/spans.h"
#include "scratch.h"

/* An id made at `ms`, told apart by `n`. */
static void make_id(char id[33], int64_t ms, unsigned n)
{
    snprintf(id, 33, "%012llx%020u", (unsigned long long)ms, n);
}

/* ---- building spans ---- */

enum { MAX_SPANS = 4096 };

struct collected {
    struct span spans[MAX_SPANS];
    char modules[MAX_SPANS][8], functions[MAX_SPANS][8];
    size_t count;
};

static bool collect_span(void *arg, const struct span *span)
{
    struct collected *c = arg;
    assert_true(c->count < MAX_SPANS);
    c->spans[c->count] = *span;
    snprintf(c->modules[c->count], 8, "%s", span->module);
    snprintf(c->functions[c->count], 8, "%s", span->function);
    c->count++;
    return true;
}

static bool covered(const struct collected *c, const char *module, const char *function,
                    const char *id)
{
    for (size_t i = 0; i < c->count; i++)
        if (strcmp(c->modules[i], module) == 0 && strcmp(c->functions[i], function) == 0 &&
            strcmp(c->spans[i].first_id, id) <= 0 && strcmp(c->spans[i].last_id, id) >= 0)
            return true;
    return false;
}

static void test_span_builder(void **state)
{
    (void)state;
    static struct collected c;
    static char ids[3000][33];
    static const char *names[] = {"f", "g", "h"};
    struct span_builder b;

    /* one function, 1,000 records: one span */
    memset(&c, 0, sizeof(c));
    span_builder_init(&b, collect_span, &c);
    for (unsigned i = 0; i < 1000; i++) {
        make_id(ids[i], 1000 + i / 10, i);
        span_builder_add(&b, "m", "f", ids[i]);
    }
    assert_true(span_builder_finish(&b));
    assert_int_equal(c.count, 1);
    assert_string_equal(c.spans[0].first_id, ids[0]);
    assert_string_equal(c.spans[0].last_id, ids[999]);

    /* records out of order (calls that began earlier end later): the span widens both ways */
    memset(&c, 0, sizeof(c));
    span_builder_init(&b, collect_span, &c);
    for (unsigned i = 0; i < 100; i++)
        make_id(ids[i], 1000 + i, i);
    static const unsigned shuffled[] = {50, 10, 99, 0, 75, 1, 98};
    for (size_t i = 0; i < ARRAY_SIZE(shuffled); i++)
        span_builder_add(&b, "m", "f", ids[shuffled[i]]);
    assert_true(span_builder_finish(&b));
    assert_int_equal(c.count, 1);
    assert_string_equal(c.spans[0].first_id, ids[0]);
    assert_string_equal(c.spans[0].last_id, ids[99]);

    /* three functions in turn: one span each */
    memset(&c, 0, sizeof(c));
    span_builder_init(&b, collect_span, &c);
    for (unsigned i = 0; i < 900; i++) {
        make_id(ids[i], 1000 + i / 10, i);
        span_builder_add(&b, "m", names[i % 3], ids[i]);
    }
    assert_true(span_builder_finish(&b));
    assert_int_equal(c.count, 3);
    for (unsigned i = 0; i < 900; i++)
        assert_true(covered(&c, "m", names[i % 3], ids[i]));

    /* a function seen again after more than SPANS_GAP others, and a long call's record (its
     * id a minute older) in the middle: new spans, and every record still covered */
    memset(&c, 0, sizeof(c));
    span_builder_init(&b, collect_span, &c);
    for (unsigned i = 0; i < 400; i++) {
        bool rare = i % 100 == 0;
        make_id(ids[i], i == 250 ? 1000 - 60000 + 1000000 : 1000000 + i / 10, i);
        span_builder_add(&b, "m", rare || i == 250 ? "r" : "f", ids[i]);
    }
    assert_true(span_builder_finish(&b));
    for (unsigned i = 0; i < 400; i++)
        assert_true(covered(&c, "m", i % 100 == 0 || i == 250 ? "r" : "f", ids[i]));
    size_t rare_spans = 0;
    for (size_t i = 0; i < c.count; i++)
        rare_spans += strcmp(c.functions[i], "r") == 0;
    assert_int_equal(rare_spans, 5); /* 4 spread out, and the long call alone */

    /* more functions at once than are followed: the first ones close early, none is lost */
    memset(&c, 0, sizeof(c));
    span_builder_init(&b, collect_span, &c);
    static char functions[3000][8];
    for (unsigned i = 0; i < 3000; i++) {
        make_id(ids[i], 5000 + i / 100, i);
        snprintf(functions[i], sizeof(functions[i]), "f%u", i % (SPANS_OPEN_MAX + 36));
        span_builder_add(&b, "m", functions[i], ids[i]);
    }
    assert_true(span_builder_finish(&b));
    for (unsigned i = 0; i < 3000; i++)
        assert_true(covered(&c, "m", functions[i], ids[i]));
}

static bool refuse_span(void *arg, const struct span *span)
{
    (void)span;
    (*(int *)arg)++;
    return false;
}

static void test_span_builder_failure(void **state)
{
    (void)state;
    int calls = 0;
    struct span_builder b;
    span_builder_init(&b, refuse_span, &calls);
    char id[33];
    make_id(id, 1, 1);
    span_builder_add(&b, "m", "f", id);
    span_builder_add(&b, "m", "g", id);
    assert_false(span_builder_finish(&b));
    assert_int_equal(calls, 1); /* nothing more is written once a write failed */
}

/* ---- merging ---- */

static void test_span_hits(void **state)
{
    (void)state;
    struct span_hits h;
    assert_true(span_hits_init(&h, 3));
    char ids[6][33];
    for (unsigned i = 0; i < 6; i++)
        make_id(ids[i], 100 + i, i);
    int order[] = {2, 0, 4, 2, 1, 5, 4, 3};
    for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
        struct db_activation row = {.id = ids[order[i]], .module = "m", .logs = "[\"x\"]"};
        assert_true(span_hits_add(&h, &row));
    }
    assert_int_equal(h.count, 3);
    assert_string_equal(h.rows[0].id, ids[5]);
    assert_string_equal(h.rows[1].id, ids[4]);
    assert_string_equal(h.rows[2].id, ids[3]);
    assert_string_equal(h.rows[0].logs, "[\"x\"]");
    assert_string_equal(h.rows[0].result, ""); /* absent fields read as "" */
    assert_false(span_hits_wants(&h, ids[3]));
    assert_true(span_hits_wants(&h, ids[4]));
    span_hits_deinit(&h);
    assert_true(span_hits_init(&h, 0));
    assert_false(span_hits_wants(&h, ids[5]));
    span_hits_deinit(&h);
}

/* ---- the store ---- */

enum { RECORDS = 3000 };

struct record {
    char id[33];
    char module[4], function[4], status[12];
    int64_t ms;
};

static struct record records[RECORDS];

static void write_batch(struct db *db, struct record *const *batch, size_t n)
{
    struct db_activation *rows = calloc(n, sizeof(*rows));
    char(*starts)[24] = calloc(n, sizeof(*starts));
    for (size_t i = 0; i < n; i++) {
        snprintf(starts[i], sizeof(starts[i]), "%lld", (long long)batch[i]->ms);
        rows[i] = (struct db_activation){.id = batch[i]->id,
                                         .module = batch[i]->module,
                                         .function = batch[i]->function,
                                         .hash = "h",
                                         .trigger = "http",
                                         .status = batch[i]->status,
                                         .http_status = "200",
                                         .worker = "w",
                                         .start = "t",
                                         .start_ms = starts[i],
                                         .duration_ms = "1",
                                         .attempts = "1",
                                         .result_truncated = "0",
                                         .logs = "[]",
                                         .logs_truncated = "0"};
    }
    char detail[256];
    assert_int_equal(db->ops->activation_write(db, rows, n, detail, sizeof(detail)), FL_OK);
    free(rows);
    free(starts);
}

/* Records made over time by functions of two modules (the same names in both), written in
 * batches in roughly the order they end; a few long calls end batches later than they began,
 * and every 50th is written again later (an asynchronous call's end). */
static void fill_store(struct db *db)
{
    static const char *modules[] = {"a", "b"}, *functions[] = {"f", "g", "r"};
    static const char *statuses[] = {"success", "error", "trap"};
    unsigned seed = 7;
    for (unsigned i = 0; i < RECORDS; i++) {
        struct record *r = &records[i];
        r->ms = 1700000000000LL + i * 3;
        make_id(r->id, r->ms, i);
        seed = seed * 1103515245u + 12345u;
        snprintf(r->module, sizeof(r->module), "%s", modules[(seed >> 16) % 2]);
        /* r is rare: one record in 40 */
        snprintf(r->function, sizeof(r->function), "%s",
                 (seed >> 8) % 40 == 0 ? functions[2] : functions[(seed >> 20) % 2]);
        snprintf(r->status, sizeof(r->status), "%s", statuses[(seed >> 4) % 3]);
    }
    struct record *batch[RECORDS];
    size_t n = 0;
    for (unsigned i = 0; i < RECORDS; i++) {
        bool long_call = i % 97 == 5; /* ends 700 records later */
        if (!long_call)
            batch[n++] = &records[i];
        if (i >= 700 && (i - 700) % 97 == 5)
            batch[n++] = &records[i - 700];
        if (i % 50 == 0 && i >= 200)
            batch[n++] = &records[i - 200]; /* written again */
        if (n >= 37 + i % 200) {
            if (n > 3) { /* a little out of order, as calls end */
                struct record *t = batch[n - 1];
                batch[n - 1] = batch[n - 3];
                batch[n - 3] = t;
            }
            write_batch(db, batch, n);
            n = 0;
        }
    }
    for (unsigned i = RECORDS - 700; i < RECORDS; i++)
        if (i % 97 == 5)
            batch[n++] = &records[i];
    write_batch(db, batch, n);
}

struct listed {
    char ids[RECORDS][33];
    size_t count;
};

static void list_row(void *arg, const struct db_activation *row)
{
    struct listed *l = arg;
    assert_true(l->count < RECORDS);
    snprintf(l->ids[l->count++], 33, "%s", row->id);
}

static int newest_first(const void *a, const void *b)
{
    return -strcmp(((const struct record *)a)->id, ((const struct record *)b)->id);
}

/* Pages through `q` (function filter) `page` at a time and checks every page against the
 * records, sorted newest first, that match. */
static void check_filter(struct db *db, const char *module, const char *function,
                         const char *status, unsigned page)
{
    static struct record sorted[RECORDS];
    memcpy(sorted, records, sizeof(records));
    qsort(sorted, RECORDS, sizeof(*sorted), newest_first);
    static struct listed expected, got;
    expected.count = got.count = 0;
    for (size_t i = 0; i < RECORDS; i++)
        if ((!*module || strcmp(sorted[i].module, module) == 0) &&
            strcmp(sorted[i].function, function) == 0 &&
            (!*status || strcmp(sorted[i].status, status) == 0))
            memcpy(expected.ids[expected.count++], sorted[i].id, sizeof(sorted[i].id));
    assert_true(expected.count > 0);
    char before[33] = "", detail[256];
    for (;;) {
        size_t had = got.count;
        struct db_activation_query q = {.module = module,
                                        .function = function,
                                        .status = status,
                                        .before = before,
                                        .limit = page};
        assert_int_equal(db->ops->activation_query(db, &q, list_row, &got, detail, sizeof(detail)),
                         FL_OK);
        if (got.count == had)
            break;
        assert_true(got.count - had <= page);
        snprintf(before, sizeof(before), "%s", got.ids[got.count - 1]);
    }
    assert_int_equal(got.count, expected.count);
    for (size_t i = 0; i < got.count; i++)
        assert_string_equal(got.ids[i], expected.ids[i]);
}

static void test_store_function_filter(void **state)
{
    (void)state;
    char url[256], detail[256];
    snprintf(url, sizeof(url), "sqlite:%s/spans.db", scratch_dir);
    struct db *db = NULL;
    assert_int_equal(db_open(url, &db, detail, sizeof(detail)), FL_OK);
    fill_store(db);
    check_filter(db, "a", "f", "", 50);
    check_filter(db, "b", "g", "", 7);
    check_filter(db, "a", "r", "", 3);  /* rare: its spans are short */
    check_filter(db, "", "f", "", 100); /* the function in either module */
    check_filter(db, "", "r", "", 1000);
    check_filter(db, "b", "f", "trap", 20);
    check_filter(db, "a", "g", "error", 1000);

    /* pruning by count keeps the newest, and the function filter agrees with it */
    assert_int_equal(db->ops->activation_prune(db, 0, 1000, detail, sizeof(detail)), FL_OK);
    static struct record sorted[RECORDS];
    memcpy(sorted, records, sizeof(records));
    qsort(sorted, RECORDS, sizeof(*sorted), newest_first);
    memcpy(records, sorted, 1000 * sizeof(*records)); /* what is left, newest first */
    memset(&records[1000], 0, (RECORDS - 1000) * sizeof(*records));
    for (size_t i = 1000; i < RECORDS; i++)
        snprintf(records[i].function, sizeof(records[i].function), "-"); /* matches nothing */
    check_filter(db, "a", "f", "", 30);
    check_filter(db, "", "r", "", 5);
    db_close(db);
}

/* ---- keeping the newest --activation-max ---- */

static bool present[RECORDS];

/* The store holds exactly the newest `keep` of the records `present` says were written. */
static void check_newest_kept(struct db *db, size_t keep)
{
    static struct listed got;
    got.count = 0;
    char detail[256];
    struct db_activation_query q = {.id = "",
                                    .module = "",
                                    .function = "",
                                    .status = "",
                                    .before = "",
                                    .modules = "",
                                    .limit = RECORDS};
    assert_int_equal(db->ops->activation_query(db, &q, list_row, &got, detail, sizeof(detail)),
                     FL_OK);
    size_t expected = 0;
    for (size_t i = RECORDS; i-- > 0;) /* ids grow with i: newest first */
        if (present[i] && expected < keep) {
            assert_true(expected < got.count);
            assert_string_equal(got.ids[expected], records[i].id);
            expected++;
        }
    assert_int_equal(got.count, expected);
}

static void write_range(struct db *db, unsigned from, unsigned to, const char *status)
{
    struct record *batch[100];
    size_t n = 0;
    for (unsigned i = from; i < to; i++) {
        snprintf(records[i].status, sizeof(records[i].status), "%s", status);
        batch[n++] = &records[i];
        present[i] = true;
        if (n == 100 || i + 1 == to) {
            write_batch(db, batch, n);
            n = 0;
        }
    }
}

/* The count prune reads only what it deletes: the store counts its records as they are written
 * and pruned. A record written again (an asynchronous call's end) is not counted twice, and
 * records deleted behind the count's back (a tenant's retention) make it count again. */
static void test_store_keep_newest(void **state)
{
    (void)state;
    char url[256], detail[256];
    snprintf(url, sizeof(url), "sqlite:%s/keep.db", scratch_dir);
    struct db *db = NULL;
    assert_int_equal(db_open(url, &db, detail, sizeof(detail)), FL_OK);
    memset(present, 0, sizeof(present));
    for (unsigned i = 0; i < 1600; i++) {
        records[i].ms = 1700000000000LL + i;
        make_id(records[i].id, records[i].ms, i);
        snprintf(records[i].module, sizeof(records[i].module), "%s", i % 2 ? "b" : "a");
        snprintf(records[i].function, sizeof(records[i].function), "f");
    }
    write_range(db, 0, 1000, "success");
    assert_int_equal(db->ops->activation_prune(db, 0, 5000, detail, sizeof(detail)), FL_OK);
    check_newest_kept(db, 5000); /* under the bound: nothing goes (and the store is counted) */

    write_range(db, 0, 300, "error"); /* written again: 1,000 records still */
    write_range(db, 1000, 1500, "success");
    assert_int_equal(db->ops->activation_prune(db, 0, 1200, detail, sizeof(detail)), FL_OK);
    check_newest_kept(db, 1200);
    for (unsigned i = 0; i < 300; i++)
        present[i] = false; /* what the prune deleted */

    /* module b's records go with its shorter retention; then 100 more */
    assert_int_equal(db_activation_prune_modules(db, "b", 1800000000000LL, detail, sizeof(detail)),
                     FL_OK);
    for (unsigned i = 0; i < 1500; i++)
        present[i] = present[i] && i % 2 == 0;
    write_range(db, 1500, 1600, "success");
    assert_int_equal(db->ops->activation_prune(db, 0, 650, detail, sizeof(detail)), FL_OK);
    check_newest_kept(db, 650);
    assert_int_equal(db->ops->activation_prune(db, 0, 650, detail, sizeof(detail)), FL_OK);
    check_newest_kept(db, 650); /* and again: nothing more goes */
    db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_span_builder),      cmocka_unit_test(test_span_builder_failure),
        cmocka_unit_test(test_span_hits),         cmocka_unit_test(test_store_function_filter),
        cmocka_unit_test(test_store_keep_newest),
    };
    return cmocka_run_group_tests(tests, scratch_make, scratch_remove);
}
