/*
 * push — code sent to every connected Worker ahead of its calls (on create
 * and update), and its removal (on delete). Pushes are sent by the API's
 * threads, which may wait for the Workers' ACKs; the loop delivers the ACKs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cluster/cluster_internal.h"

enum { PUSH_TIMEOUT_MS = 120000 };

/* [acks] */
static void ack_unlink(struct cworker *w, struct push_ack *a)
{
    assert(fl_mutex_held(&w->acks_lock));
    for (struct push_ack **slot = &w->acks; *slot; slot = &(*slot)->next)
        if (*slot == a) {
            *slot = a->next;
            return;
        }
}

void push_ack(struct cworker *w, const struct proto_msg *m)
{
    fl_mutex_lock(&w->acks_lock);
    for (struct push_ack *a = w->acks; a; a = a->next)
        if (a->id == m->header.id) {
            a->status = m->u.ack.status;
            snprintf(a->detail, sizeof(a->detail), "%.255s", m->u.ack.detail);
            a->done = true;
            ack_unlink(w, a);
            pthread_cond_signal(&a->answered);
            break;
        }
    fl_mutex_unlock(&w->acks_lock);
}

void push_fail_all(struct cworker *w)
{
    fl_mutex_lock(&w->acks_lock);
    for (struct push_ack *a = w->acks, *next; a; a = next) {
        next = a->next;
        a->done = a->lost = true;
        pthread_cond_signal(&a->answered);
    }
    w->acks = NULL;
    fl_mutex_unlock(&w->acks_lock);
}

/* Sends `frame` to `w`, registering `ack` (if any) first; false if it was not sent. `connected`
 * is checked under the acks lock: a disconnect clears it before push_fail_all, so an ACK is
 * either failed by it or never registered. */
static bool push_send(struct cworker *w, struct push_ack *ack, const struct fl_buf *frame)
{
    fl_mutex_lock(&w->acks_lock);
    bool connected = atomic_load(&w->connected);
    if (connected && ack) {
        ack->next = w->acks;
        w->acks = ack;
    }
    fl_mutex_unlock(&w->acks_lock);
    if (!connected)
        return false;
    if (worker_write(w, frame))
        return true;
    if (ack) {
        fl_mutex_lock(&w->acks_lock);
        if (!ack->done) /* else push_fail_all took it off the list already */
            ack_unlink(w, ack);
        fl_mutex_unlock(&w->acks_lock);
    }
    return false;
}

/* Waits for `ack` until its time; false on timeout (it is withdrawn). */
static bool push_wait_one(struct cworker *w, struct push_ack *ack, uint64_t timeout_ms)
{
    struct timespec deadline = fl_deadline_in(timeout_ms);
    fl_mutex_lock(&w->acks_lock);
    while (!ack->done && fl_cond_clockwait(&ack->answered, &w->acks_lock, &deadline) != ETIMEDOUT)
        ;
    bool done = ack->done;
    if (!done)
        ack_unlink(w, ack);
    fl_mutex_unlock(&w->acks_lock);
    return done;
}

/* One Worker a push goes to. */
struct push_target {
    struct cworker *w;
    struct push_ack ack;
    bool sent;
};

/* Waits for each sent push, stopping at the first failure (after which the rest are
 * withdrawn); a push that could not be sent is a failure too. */
static enum fl_err push_wait_all(struct push_target *t, size_t n, char *detail, size_t detail_len)
{
    enum fl_err err = FL_OK;
    for (size_t i = 0; i < n; i++) {
        struct cworker *w = t[i].w;
        if (!t[i].sent) {
            if (err == FL_OK && atomic_load(&w->connected))
                err = fl_fail(FL_ERR_UNAVAILABLE, detail, detail_len,
                              "the code could not be sent to worker %.100s", w->name);
        } else if (err != FL_OK) { /* withdrawn: unlinked unless it was answered meanwhile */
            fl_mutex_lock(&w->acks_lock);
            if (!t[i].ack.done)
                ack_unlink(w, &t[i].ack);
            fl_mutex_unlock(&w->acks_lock);
        } else if (!push_wait_one(w, &t[i].ack, PUSH_TIMEOUT_MS) || t[i].ack.lost) {
            err = fl_fail(FL_ERR_UNAVAILABLE, detail, detail_len,
                          "worker %.100s did not acknowledge the code", w->name);
        } else if (t[i].ack.status != FL_OK) {
            err = fl_fail(FL_ERR_UNAVAILABLE, detail, detail_len,
                          "worker %.100s refused the code: %.100s", w->name, t[i].ack.detail);
        }
    }
    return err;
}

enum push_kind { PUSH_CODE, PUSH_DROP };

/* The frame of a push; false when it cannot be built (too large for a frame). */
static bool push_frame(struct fl_buf *frame, enum push_kind kind, uint32_t id, const char *module,
                       const char *name, const char *hash, const uint8_t *code, size_t len)
{
    fl_buf_reset(frame);
    return kind == PUSH_CODE ? proto_put_code(frame, id, module, name, hash, code, len)
                             : proto_put_drop(frame, id, module, name);
}

static enum fl_err cluster_push(struct cluster *c, enum push_kind kind, const char *module,
                                const char *name, const char *hash, const uint8_t *code, size_t len,
                                bool wait, char *detail, size_t detail_len)
{
    assert(!wait || !evloop_on_thread(c->loop)); /* the loop delivers the ACKs */
    fl_mutex_lock(&c->lock); /* which Workers: pinned, their slots are not reused meanwhile */
    size_t n = c->count;
    struct push_target *t = calloc(n ? n : 1, sizeof(*t));
    for (size_t i = 0; t && i < n; i++)
        (t[i].w = c->workers[i])->pins++;
    fl_mutex_unlock(&c->lock);
    if (!t)
        return fl_fail(FL_ERR_NOMEM, detail, detail_len, "out of memory");
    struct fl_buf frame;
    fl_buf_init(&frame, PROTO_MAX_PAYLOAD);
    bool built = true;
    for (size_t i = 0; i < n && built; i++) {
        t[i].ack.id = cluster_new_id(c);
        pthread_cond_init(&t[i].ack.answered, NULL);
        built = push_frame(&frame, kind, t[i].ack.id, module, name, hash, code, len);
        t[i].sent = built && push_send(t[i].w, wait ? &t[i].ack : NULL, &frame);
    }
    enum fl_err err = FL_OK;
    if (!built)
        err = fl_fail(FL_ERR_TOO_LARGE, detail, detail_len,
                      "the code (%zu bytes) does not fit in a frame to the Workers", len);
    if (wait) { /* after a failure to build, this withdraws what was sent */
        enum fl_err waited = push_wait_all(t, n, err == FL_OK ? detail : NULL, detail_len);
        if (err == FL_OK)
            err = waited;
    }
    fl_mutex_lock(&c->lock);
    for (size_t i = 0; i < n; i++)
        t[i].w->pins--;
    fl_mutex_unlock(&c->lock);
    for (size_t i = 0; i < n; i++)
        if (t[i].ack.id)
            pthread_cond_destroy(&t[i].ack.answered);
    free(t);
    fl_buf_deinit(&frame);
    return err;
}

enum fl_err cluster_push_code(struct cluster *c, const char *module, const char *name,
                              const char *hash, const uint8_t *code, size_t len, bool wait,
                              char *detail, size_t detail_len)
{
    return cluster_push(c, PUSH_CODE, module, name, hash, code, len, wait, detail, detail_len);
}

void cluster_prefetch(struct cluster *c, const char *hash, const uint8_t *code, size_t len)
{
    cluster_push(c, PUSH_CODE, "", "", hash, code, len, false, NULL, 0);
}

enum fl_err cluster_drop_code(struct cluster *c, const char *module, const char *name, bool wait,
                              char *detail, size_t detail_len)
{
    return cluster_push(c, PUSH_DROP, module, name, NULL, NULL, 0, wait, detail, detail_len);
}
