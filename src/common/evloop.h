/*
 * evloop — one thread that waits on many sockets at once (epoll), calls each
 * one's handler when it can be read, and then the loop's round-end hooks.
 *
 * The Core runs its HTTP server and the reading of its Worker links on one
 * loop: a Worker's reply becomes an HTTP answer on the thread that read it,
 * and the invocations one round sends to a Worker leave in one write (a
 * round-end hook), so a call costs no thread switch of the Core's own.
 *
 * Handlers and hooks run on the loop's thread and must not wait.
 */
#ifndef FL_COMMON_EVLOOP_H
#define FL_COMMON_EVLOOP_H

#include <stdbool.h>

enum { EVLOOP_TICK_MS = 250 }; /* round-end hooks run at least this often */

struct evloop;

struct evloop_source {
    int fd;
    /* On the loop's thread while `fd` is readable or hung up (level-triggered). */
    void (*ready)(struct evloop_source *source);
};

struct evloop *evloop_new(void);
/* Before evloop_start: after a round that handled events, poll for up to `us` microseconds
 * before sleeping (0, the default: sleep at once). Trades CPU for latency while traffic flows;
 * an idle loop does not poll. */
void evloop_set_busy_poll(struct evloop *loop, unsigned us);
/* Before evloop_start, or on the loop's thread: the loop polls only when `may_poll(arg)` says
 * so (asked on its thread before each poll; NULL: always). */
void evloop_set_poll_gate(struct evloop *loop, bool (*may_poll)(void *arg), void *arg);
/* Starts the loop's thread. */
bool evloop_start(struct evloop *loop);
/* Stops the thread (if started) and frees the loop; sources still added are just dropped. */
void evloop_free(struct evloop *loop);

/* From any thread: watches `source` until evloop_remove. False once the loop has stopped. */
bool evloop_add(struct evloop *loop, struct evloop_source *source);
/* On the loop's thread (or once it has stopped): no more calls for `source`, not even for an
 * event of the round being handled (so its memory may be freed right after). */
void evloop_remove(struct evloop *loop, struct evloop_source *source);
/* What a round-end hook does: work hooks run first, then flush hooks send what they queued. */
enum evloop_phase { EVLOOP_WORK, EVLOOP_FLUSH };
/* Before evloop_start, or on the loop's thread: `fn(arg)` runs after every round of handlers
 * (and on every tick) until evloop_off_round_end. False when there are too many. */
bool evloop_on_round_end(struct evloop *loop, enum evloop_phase phase, void (*fn)(void *arg),
                         void *arg);
/* On the loop's thread (or before it starts): undoes evloop_on_round_end. */
void evloop_off_round_end(struct evloop *loop, void (*fn)(void *arg), void *arg);
/* From any thread: the loop ends its wait and runs a round (its hooks) soon. */
void evloop_wake(struct evloop *loop);

/* Work handed to the loop from another thread without waiting for it (evloop_post). */
struct evloop_task {
    void (*run)(struct evloop_task *task); /* on the loop's thread */
    struct evloop_task *next;              /* the loop's */
};
/* From any thread, never waiting: `task->run(task)` runs on the loop's thread soon, in the
 * order posted. False once the loop has stopped (the task will not run). */
bool evloop_post(struct evloop *loop, struct evloop_task *task);
/* Posts the tasks linked from `first` through their `next` (NULL-terminated) as one: a thread
 * handing the loop many at once wakes it once, not once per task. */
bool evloop_post_chain(struct evloop *loop, struct evloop_task *first);
/* On the loop's thread: the next round starts at once rather than when a socket is ready (a
 * handler left work for a round-end hook that has already run this round). Elsewhere, nothing. */
void evloop_again(struct evloop *loop);
/* On the loop's thread: the next round starts within `ms` (at least 1) even when no socket is
 * ready (a hook that has something due then, without a timer of its own). Elsewhere, nothing. */
void evloop_round_within(struct evloop *loop, int ms);

/* Runs `fn(arg)` on the loop's thread and returns once it has run (at once if the caller is
 * that thread or the loop is not running). */
void evloop_call(struct evloop *loop, void (*fn)(void *arg), void *arg);
bool evloop_on_thread(const struct evloop *loop);
/* The thread has ended (or never started): sources are nobody's but their owners'. */
bool evloop_stopped(const struct evloop *loop);

#endif
