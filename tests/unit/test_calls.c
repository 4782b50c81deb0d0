/*
 * The invocation state machine (core/cluster/invocation.h) against fake Workers
 * on loopback sockets: each fake speaks the real protocol and answers INVOKE as
 * its test says (a result, BUSY, NO_CODE, silence, hanging up), so every
 * transition is reached on purpose. Also runs under ThreadSanitizer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/util.h"
#include "core/cluster/cluster.h"
#include "core/cluster/invocation.h"
#include "proto/link.h"

enum fake_mode {
    FAKE_RESULT,  /* answers {"ok":NAME} */
    FAKE_BUSY,    /* answers BUSY */
    FAKE_NO_CODE, /* answers NO_CODE unless the INVOKE carries code, then a result */
    FAKE_SILENT,  /* answers nothing (and counts CANCEL frames) */
    FAKE_HANG_UP, /* closes the connection on INVOKE */
};

struct fake_worker {
    char name[32];
    enum fake_mode mode;
    int listen_fd;
    unsigned port;
    pthread_t thread;
    atomic_bool stop;
    atomic_uint invokes, invokes_with_code, cancels, code_puts;
    atomic_uint last_invoke_id;
};

static void fake_send(struct link *link, struct fl_buf *frame)
{
    link_write(link, frame);
    fl_buf_reset(frame);
}

/* Answers one frame; false: hang up. */
static bool fake_answer(struct fake_worker *f, struct link *link, const struct proto_msg *m,
                        struct fl_buf *out)
{
    uint32_t id = m->header.id;
    if (m->header.type == PROTO_CANCEL) {
        atomic_fetch_add(&f->cancels, 1);
        return true;
    }
    if (m->header.type == PROTO_CODE_PUT || m->header.type == PROTO_CODE_DROP) {
        atomic_fetch_add(&f->code_puts, 1);
        proto_put_ack(out, id, FL_OK, "");
        fake_send(link, out);
        return true;
    }
    if (m->header.type != PROTO_INVOKE)
        return true;
    atomic_fetch_add(&f->invokes, 1);
    atomic_store(&f->last_invoke_id, id);
    bool has_code = m->u.invoke.code.len > 0;
    atomic_fetch_add(&f->invokes_with_code, has_code);
    char output[64];
    snprintf(output, sizeof(output), "{\"ok\":\"%s\"}", f->name);
    switch (f->mode) {
    case FAKE_HANG_UP:
        return false;
    case FAKE_SILENT:
        return true;
    case FAKE_BUSY:
        proto_put_empty(out, PROTO_BUSY, id);
        break;
    case FAKE_NO_CODE:
        if (!has_code) {
            proto_put_empty(out, PROTO_NO_CODE, id);
            break;
        }
        __attribute__((fallthrough)); /* with the code, it runs */
    case FAKE_RESULT:
        proto_put_result(out, id, FL_OK, output, strlen(output), "", 0, "");
        break;
    }
    fake_send(link, out);
    return true;
}

/* One connection: HELLO, then heartbeats every 100 ms and answers. */
static void fake_serve(struct fake_worker *f, int fd)
{
    struct link link;
    link_init(&link, fd);
    struct fl_buf out, payload;
    fl_buf_init(&out, PROTO_MAX_PAYLOAD);
    fl_buf_init(&payload, PROTO_MAX_PAYLOAD);
    struct proto_msg *msg = malloc(sizeof(*msg));
    proto_put_hello(&out, f->name, 4, 4, (uint64_t)4 << 30, NULL, 0);
    fake_send(&link, &out);
    while (!atomic_load(&f->stop)) {
        struct pollfd p = {fd, POLLIN, 0};
        bool buffered = link.in_end > link.in_start; /* frames read ahead: poll would not say */
        if (!buffered && poll(&p, 1, 100) == 0) {
            proto_put_heartbeat(&out, (uint64_t)4 << 30, (uint64_t)4 << 30, 0, 0, 0);
            fake_send(&link, &out);
            continue;
        }
        if (link_read(&link, &payload, msg) != FL_OK || !fake_answer(f, &link, msg, &out))
            break;
    }
    free(msg);
    fl_buf_deinit(&payload);
    fl_buf_deinit(&out);
    link_close(&link);
    link_deinit(&link);
}

static void *fake_main(void *arg)
{
    struct fake_worker *f = arg;
    while (!atomic_load(&f->stop)) {
        struct pollfd p = {f->listen_fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(f->listen_fd, NULL, NULL);
        if (fd >= 0)
            fake_serve(f, fd);
    }
    return NULL;
}

static struct fake_worker *fake_start(const char *name, enum fake_mode mode)
{
    struct fake_worker *f = calloc(1, sizeof(*f));
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->mode = mode;
    f->listen_fd = link_listen("127.0.0.1:0", &f->port);
    assert_true(f->listen_fd >= 0);
    pthread_create(&f->thread, NULL, fake_main, f);
    return f;
}

static void fake_stop(struct fake_worker *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    close(f->listen_fd);
    free(f);
}

/* ---- the Core's side ---- */

struct fixture {
    struct evloop *loop;
    struct cluster *cluster;
    struct fake_worker *fakes[2];
    size_t fake_count;
    atomic_uint code_reads;
    size_t code_len; /* what the code reader returns */
    bool code_fails;
};

static enum fl_err read_code(void *arg, const struct fn_def *def, struct fl_buf *code)
{
    struct fixture *fx = arg;
    (void)def;
    atomic_fetch_add(&fx->code_reads, 1);
    usleep(50 * 1000); /* a slow store: calls that lack the code meanwhile share this read */
    if (fx->code_fails)
        return FL_ERR_STORE_DOWN;
    if (!fl_buf_resize(code, fx->code_len))
        return FL_ERR_NOMEM;
    memset(code->data, 0x5a, fx->code_len);
    return FL_OK;
}

static struct fixture *fixture_new(void)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    fx->code_len = 100;
    fx->loop = evloop_new();
    assert_true(fx->loop && evloop_start(fx->loop));
    fx->cluster = cluster_new(NULL, fx->loop, read_code, fx);
    assert_non_null(fx->cluster);
    return fx;
}

static void fixture_free(struct fixture *fx)
{
    cluster_free(fx->cluster);
    evloop_free(fx->loop);
    for (size_t i = 0; i < fx->fake_count; i++)
        fake_stop(fx->fakes[i]);
    free(fx);
}

/* A fake Worker the cluster has joined. */
static struct fake_worker *fixture_add_worker(struct fixture *fx, const char *name,
                                              enum fake_mode mode)
{
    struct fake_worker *f = fake_start(name, mode);
    fx->fakes[fx->fake_count++] = f;
    char address[64];
    snprintf(address, sizeof(address), "127.0.0.1:%u", f->port);
    assert_int_equal(cluster_add_worker(fx->cluster, address), FL_OK);
    for (int i = 0; i < 200 && cluster_connected(fx->cluster) < fx->fake_count; i++)
        usleep(10 * 1000);
    assert_int_equal(cluster_connected(fx->cluster), fx->fake_count);
    return f;
}

/* One call from start to outcome, as the API makes it. */
struct call {
    struct fixture *fx;
    struct fn_def def;
    struct invocation *invocation;
    atomic_bool done;
    atomic_uint misuse;   /* `done` twice, or inside start or cancel */
    pthread_mutex_t lock; /* the outcome's fields, `finished` */
    pthread_cond_t finished_changed;
    bool finished;
    enum fl_err status;
    char output[256], detail[256], worker[64];
    unsigned attempts;
};

static void call_done(void *arg, const struct invocation_outcome *o)
{
    struct call *call = arg;
    if (atomic_load(&call->done)) /* twice: the test's thread fails it (no cmocka here) */
        atomic_fetch_add(&call->misuse, 1);
    pthread_mutex_lock(&call->lock);
    call->status = o->status;
    snprintf(call->output, sizeof(call->output), "%.*s", (int)o->output_len, o->output);
    snprintf(call->detail, sizeof(call->detail), "%s", o->detail);
    snprintf(call->worker, sizeof(call->worker), "%s", o->worker);
    call->attempts = o->attempts;
    call->invocation = NULL;
    atomic_store(&call->done, true);
    call->finished = true;
    pthread_cond_signal(&call->finished_changed);
    pthread_mutex_unlock(&call->lock);
}

static void call_start_on_loop(void *arg)
{
    struct call *call = arg;
    struct invocation_request req = {.def = &call->def,
                                     .args = "{}",
                                     .args_len = 2,
                                     .request_id = "test",
                                     .done = call_done,
                                     .done_arg = call};
    call->invocation = invocation_start(call->fx->cluster, &req);
    if (!call->invocation || atomic_load(&call->done)) /* never inside invocation_start */
        atomic_fetch_add(&call->misuse, 1);
}

static void call_cancel_on_loop(void *arg)
{
    struct call *call = arg;
    if (call->invocation)
        invocation_cancel(call->invocation);
    if (atomic_load(&call->done)) /* never inside invocation_cancel */
        atomic_fetch_add(&call->misuse, 1);
}

static struct call *call_start(struct fixture *fx)
{
    struct call *call = calloc(1, sizeof(*call));
    call->fx = fx;
    snprintf(call->def.module, sizeof(call->def.module), "_");
    snprintf(call->def.name, sizeof(call->def.name), "fn");
    snprintf(call->def.hash, sizeof(call->def.hash), "%064d", 7);
    call->def.meta.capacity_mb = 16;
    call->def.meta.timeout_ms = 1000;
    pthread_mutex_init(&call->lock, NULL);
    pthread_cond_init(&call->finished_changed, NULL);
    evloop_call(fx->loop, call_start_on_loop, call);
    return call;
}

static void call_wait(struct call *call)
{
    struct timespec deadline = fl_deadline_in(10000);
    pthread_mutex_lock(&call->lock);
    while (!call->finished && pthread_cond_clockwait(&call->finished_changed, &call->lock,
                                                     CLOCK_MONOTONIC, &deadline) == 0)
        ;
    bool finished = call->finished;
    pthread_mutex_unlock(&call->lock);
    assert_true(finished);
    usleep(1000); /* a second `done` would come now */
    assert_int_equal(atomic_load(&call->misuse), 0);
}

static void call_free(struct call *call)
{
    pthread_cond_destroy(&call->finished_changed);
    pthread_mutex_destroy(&call->lock);
    free(call);
}

/* ---- tests ---- */

static void test_result(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new();
    fixture_add_worker(fx, "w1", FAKE_RESULT);
    struct call *call = call_start(fx);
    call_wait(call);
    assert_int_equal(call->status, FL_OK);
    assert_string_equal(call->output, "{\"ok\":\"w1\"}");
    assert_string_equal(call->worker, "w1");
    assert_int_equal(call->attempts, 1);
    call_free(call);
    fixture_free(fx);
}

static void test_busy_goes_to_the_next_worker(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new();
    struct fake_worker *busy = fixture_add_worker(fx, "a_busy", FAKE_BUSY);
    fixture_add_worker(fx, "b_free", FAKE_RESULT);
    for (int i = 0; i < 8; i++) { /* whichever is placed first, the free one answers */
        struct call *call = call_start(fx);
        call_wait(call);
        assert_int_equal(call->status, FL_OK);
        assert_string_equal(call->worker, "b_free");
        assert_true(call->attempts <= 2);
        call_free(call);
    }
    assert_true(atomic_load(&busy->invokes) >= 1);
    fixture_free(fx);
}

static void test_all_busy_is_busy(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new();
    fixture_add_worker(fx, "a", FAKE_BUSY);
    fixture_add_worker(fx, "b", FAKE_BUSY);
    struct call *call = call_start(fx);
    call_wait(call);
    assert_int_equal(call->status, FL_ERR_BUSY);
    assert_int_equal(call->attempts, 2);
    call_free(call);
    fixture_free(fx);
}

static void test_no_worker_is_unavailable(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new();
    struct call *call = call_start(fx);
    call_wait(call);
    assert_int_equal(call->status, FL_ERR_UNAVAILABLE);
    assert_string_equal(call->detail, "no worker available");
    assert_int_equal(call->attempts, 0);
    call_free(call);
    fixture_free(fx);
}

/* NO_CODE: the code is read once for every call that lacks it at the time, and each call is
 * sent again with it. */
static void test_no_code_reads_once_and_resends(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new();
    struct fake_worker *w = fixture_add_worker(fx, "w", FAKE_NO_CODE);
    struct call *calls[6];
    for (size_t i = 0; i < ARRAY_SIZE(calls); i++)
        calls[i] = call_start(fx);
    for (size_t i = 0; i < ARRAY_SIZE(calls); i++) {
        call_wait(calls[i]);
        assert_int_equal(calls[i]->status, FL_OK);
        assert_int_equal(calls[i]->attempts, 2);
        call_free(calls[i]);
    }
    assert_int_equal(atomic_load(&fx->code_reads), 1);
    assert_int_equal(atomic_load(&w->invokes_with_code), ARRAY_SIZE(calls));
    fixture_free(fx);
}

static void test_no_code_store_failure(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new();
    fx->code_fails = true;
    fixture_add_worker(fx, "w", FAKE_NO_CODE);
    struct call *call = call_start(fx);
    call_wait(call);
    assert_int_equal(call->status, FL_ERR_STORE);
    assert_non_null(strstr(call->detail, "cannot read the code"));
    call_free(call);
    fixture_free(fx);
}

/* Code and arguments past a frame: a clear error at once, not a wait for the time limit. */
static void test_code_too_large_for_a_frame(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new();
    fx->code_len = (size_t)PROTO_MAX_PAYLOAD + 1;
    fixture_add_worker(fx, "w", FAKE_NO_CODE);
    uint64_t started = fl_now_ms();
    struct call *call = call_start(fx);
    call_wait(call);
    assert_int_equal(call->status, FL_ERR_TOO_LARGE);
    assert_true(fl_now_ms() - started < 5000);
    call_free(call);
    fixture_free(fx);
}

static void test_worker_lost_mid_call(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new();
    fixture_add_worker(fx, "w", FAKE_HANG_UP);
    struct call *call = call_start(fx);
    call_wait(call);
    assert_int_equal(call->status, FL_ERR_WORKER_LOST);
    assert_non_null(strstr(call->detail, "lost during invocation"));
    call_free(call);
    fixture_free(fx);
}

/* The caller goes away: the Worker gets CANCEL for that call, and `done` comes once. */
static void test_cancel_tells_the_worker(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new();
    struct fake_worker *w = fixture_add_worker(fx, "w", FAKE_SILENT);
    struct call *call = call_start(fx);
    for (int i = 0; i < 200 && !atomic_load(&w->invokes); i++)
        usleep(10 * 1000);
    assert_int_equal(atomic_load(&w->invokes), 1);
    evloop_call(fx->loop, call_cancel_on_loop, call);
    call_wait(call);
    assert_int_equal(call->status, FL_ERR_CANCELLED);
    for (int i = 0; i < 200 && !atomic_load(&w->cancels); i++)
        usleep(10 * 1000);
    assert_int_equal(atomic_load(&w->cancels), 1);
    call_free(call);
    fixture_free(fx);
}

/* At shutdown, calls still out end (502) instead of waiting for their Worker. */
static void test_fail_calls_at_shutdown(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new();
    struct fake_worker *w = fixture_add_worker(fx, "w", FAKE_SILENT);
    struct call *call = call_start(fx);
    for (int i = 0; i < 200 && !atomic_load(&w->invokes); i++)
        usleep(10 * 1000);
    cluster_fail_calls(fx->cluster);
    call_wait(call);
    assert_int_equal(call->status, FL_ERR_WORKER_LOST);
    assert_non_null(strstr(call->detail, "shutting down"));
    call_free(call);
    fixture_free(fx);
}

/* A push whose frame cannot be built fails, with `wait` or without (it used to say yes). */
static void test_push_too_large_fails(void **state)
{
    (void)state;
    struct fixture *fx = fixture_new();
    struct fake_worker *w = fixture_add_worker(fx, "w", FAKE_RESULT);
    size_t len = (size_t)PROTO_MAX_PAYLOAD + 1;
    uint8_t *code = calloc(1, len);
    char detail[256] = "";
    assert_int_equal(
        cluster_push_code(fx->cluster, "_", "fn", "h", code, len, true, detail, sizeof(detail)),
        FL_ERR_TOO_LARGE);
    assert_non_null(strstr(detail, "does not fit"));
    assert_int_equal(
        cluster_push_code(fx->cluster, "_", "fn", "h", code, len, false, detail, sizeof(detail)),
        FL_ERR_TOO_LARGE);
    assert_int_equal(
        cluster_push_code(fx->cluster, "_", "fn", "h", code, 1000, true, detail, sizeof(detail)),
        FL_OK);
    assert_int_equal(atomic_load(&w->code_puts), 1);
    free(code);
    fixture_free(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result),
        cmocka_unit_test(test_busy_goes_to_the_next_worker),
        cmocka_unit_test(test_all_busy_is_busy),
        cmocka_unit_test(test_no_worker_is_unavailable),
        cmocka_unit_test(test_no_code_reads_once_and_resends),
        cmocka_unit_test(test_no_code_store_failure),
        cmocka_unit_test(test_code_too_large_for_a_frame),
        cmocka_unit_test(test_worker_lost_mid_call),
        cmocka_unit_test(test_cancel_tells_the_worker),
        cmocka_unit_test(test_fail_calls_at_shutdown),
        cmocka_unit_test(test_push_too_large_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
