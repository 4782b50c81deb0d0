/*
 * code — a function's code read from the store for the Workers that answer
 * "no code", off the loop (the store may be slow, or a remote PostgreSQL).
 * One read per function at a time: calls that lack the same code while it is
 * being read wait for that read and share its bytes, so a Worker that joins a
 * busy cluster costs one read per function, not one per call.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "core/cluster/cluster_internal.h"

enum { MAX_CODE_BYTES = 256 << 20 };

struct code_fetch {
    struct workq_job job;
    struct cluster *cluster;
    struct fn_def def;
    struct fl_buf code;
    enum fl_err err; /* set by the read */
    char detail[256];
    unsigned refs;               /* [loop] the read's own, and each call's */
    bool reading;                /* [loop] on cluster->fetches */
    struct invocation **waiters; /* [loop] calls to resume when the read ends */
    size_t waiter_count, waiter_cap;
    struct code_fetch *next; /* [loop] on cluster->fetches */
};

/* On a store reader's thread. */
static void code_read(struct workq_job *job)
{
    struct code_fetch *f = container_of(job, struct code_fetch, job);
    struct cluster *c = f->cluster;
    f->err = c->code_fn ? c->code_fn(c->code_arg, &f->def, &f->code) : FL_ERR_NOT_FOUND;
    if (f->err != FL_OK)
        fl_log(FL_LOG_WARN, "code_read_failed", "function=%s/%s error=%s", f->def.module,
               f->def.name, fl_strerror(f->err));
}

void code_fetch_release(struct code_fetch *f)
{
    if (--f->refs)
        return;
    fl_buf_deinit(&f->code);
    free(f->waiters);
    free(f);
}

/* [loop] The read has ended: every waiting call goes on. */
static void code_read_done(struct workq_job *job)
{
    struct code_fetch *f = container_of(job, struct code_fetch, job);
    struct cluster *c = f->cluster;
    for (struct code_fetch **slot = &c->fetches; *slot; slot = &(*slot)->next)
        if (*slot == f) {
            *slot = f->next;
            break;
        }
    f->reading = false;
    const char *detail = fl_strerror(f->err);
    for (size_t i = 0; i < f->waiter_count; i++)
        calls_code_ready(f->waiters[i], f->err == FL_OK ? &f->code : NULL, detail);
    code_fetch_release(f); /* the read's reference */
}

static bool code_fetch_wait(struct code_fetch *f, struct invocation *inv)
{
    if (f->waiter_count == f->waiter_cap) {
        size_t cap = f->waiter_cap ? f->waiter_cap * 2 : 4;
        struct invocation **grown = realloc(f->waiters, cap * sizeof(*grown));
        if (!grown)
            return false;
        f->waiters = grown;
        f->waiter_cap = cap;
    }
    f->waiters[f->waiter_count++] = inv;
    f->refs++;
    calls_set_fetch(inv, f);
    return true;
}

bool code_fetch_start(struct cluster *c, struct invocation *inv)
{
    ON_LOOP(c);
    const struct fn_def *def = calls_def(inv);
    for (struct code_fetch *f = c->fetches; f; f = f->next)
        if (strcmp(f->def.hash, def->hash) == 0 && strcmp(f->def.module, def->module) == 0 &&
            strcmp(f->def.name, def->name) == 0)
            return code_fetch_wait(f, inv);
    struct code_fetch *f = calloc(1, sizeof(*f));
    if (!f)
        return false;
    f->cluster = c;
    f->def = *def;
    f->refs = 1;
    fl_buf_init(&f->code, MAX_CODE_BYTES);
    f->job = (struct workq_job){.work = code_read, .done = code_read_done};
    if (!code_fetch_wait(f, inv) || !workq_submit(c->store_readers, &f->job)) {
        if (f->waiter_count) { /* it holds a reference: calls_set_fetch is undone */
            calls_set_fetch(inv, NULL);
            f->refs--;
        }
        code_fetch_release(f);
        return false;
    }
    f->reading = true;
    f->next = c->fetches;
    c->fetches = f;
    return true;
}
