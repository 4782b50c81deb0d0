#include "common/evloop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/util.h"

enum { MAX_HOOKS = 8, MAX_EVENTS = 64 };

/* The loop whose thread this is (NULL on other threads). */
static _Thread_local const struct evloop *current_loop;

struct hook {
    void (*fn)(void *arg);
    void *arg;
    enum evloop_phase phase;
};

struct evloop {
    int epoll_fd;
    struct evloop_source wake; /* an eventfd: evloop_call and stopping */
    pthread_t thread;
    bool started;
    atomic_bool stopping, stopped;
    struct hook hooks[MAX_HOOKS];
    size_t hook_count;
    /* evloop_call: one call at a time (call_lock), handed over under `lock` */
    pthread_mutex_t call_lock, lock;
    pthread_cond_t called;
    struct hook call;
    bool call_done;
    /* The events epoll_wait returned this round, while they are handled (the loop's thread):
     * a source removed meanwhile is struck from the rest (its memory may be freed next). */
    struct epoll_event *batch;
    int batch_count;
    /* The next wait's bound: the tick, less after evloop_round_within, 0 after evloop_again */
    int next_wait_ms;
    uint64_t busy_poll_ns;       /* evloop_set_busy_poll */
    bool (*may_poll)(void *arg); /* evloop_set_poll_gate */
    void *may_poll_arg;
    /* evloop_post's tasks, oldest first (under `lock`) */
    struct evloop_task *tasks, **tasks_tail;
};

/* Under loop->lock: runs the call handed over, if any, with the lock released — the call may
 * take other locks, and a thread holding one of them may be posting a task (an MQTT client's,
 * inside its library's callback lock): holding ours meanwhile could deadlock both. */
static void evloop_run_call(struct evloop *loop)
{
    if (!loop->call.fn)
        return;
    struct hook call = loop->call;
    pthread_mutex_unlock(&loop->lock);
    call.fn(call.arg);
    pthread_mutex_lock(&loop->lock);
    loop->call.fn = NULL;
    loop->call_done = true;
    pthread_cond_broadcast(&loop->called);
}

/* Runs the tasks posted so far (the list is taken whole: a task may post another). */
static void evloop_run_tasks(struct evloop *loop)
{
    pthread_mutex_lock(&loop->lock);
    struct evloop_task *task = loop->tasks;
    loop->tasks = NULL;
    loop->tasks_tail = &loop->tasks;
    pthread_mutex_unlock(&loop->lock);
    while (task) {
        struct evloop_task *next = task->next; /* `task` may be freed by its run */
        task->run(task);
        task = next;
    }
}

static void evloop_woken(struct evloop_source *source)
{
    struct evloop *loop = container_of(source, struct evloop, wake);
    uint64_t count;
    if (read(source->fd, &count, sizeof(count)) < 0) { /* nothing to do: woken already */
    }
    pthread_mutex_lock(&loop->lock);
    evloop_run_call(loop);
    pthread_mutex_unlock(&loop->lock);
    evloop_run_tasks(loop);
}

void evloop_wake(struct evloop *loop)
{
    uint64_t one = 1;
    if (write(loop->wake.fd, &one, sizeof(one)) < 0) { /* the counter is full: it is awake */
    }
}

struct evloop *evloop_new(void)
{
    struct evloop *loop = calloc(1, sizeof(*loop));
    if (!loop)
        return NULL;
    loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    loop->wake = (struct evloop_source){eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), evloop_woken};
    pthread_mutex_init(&loop->call_lock, NULL);
    pthread_mutex_init(&loop->lock, NULL);
    pthread_cond_init(&loop->called, NULL);
    loop->tasks_tail = &loop->tasks;
    loop->next_wait_ms = EVLOOP_TICK_MS;
    if (loop->epoll_fd < 0 || loop->wake.fd < 0 || !evloop_add(loop, &loop->wake)) {
        evloop_free(loop);
        return NULL;
    }
    return loop;
}

static void evloop_round_end(struct evloop *loop)
{
    for (int phase = EVLOOP_WORK; phase <= EVLOOP_FLUSH; phase++)
        for (size_t i = 0; i < loop->hook_count; i++)
            if (loop->hooks[i].phase == (enum evloop_phase)phase)
                loop->hooks[i].fn(loop->hooks[i].arg);
}

/*
 * This round's events. After a round that had some, the loop first polls for up to
 * busy_poll_ns: the next ones (a Worker's reply, a client's next request) mostly come within
 * tens of microseconds, and putting the thread to sleep and waking it costs more than that on
 * a virtual machine (bench/README.md). An idle loop sleeps at once.
 */
static int evloop_wait(struct evloop *loop, struct epoll_event *events, int wait_ms, bool was_busy)
{
    if (was_busy && wait_ms && loop->busy_poll_ns &&
        (!loop->may_poll || loop->may_poll(loop->may_poll_arg))) {
        uint64_t until = fl_now_ns() + loop->busy_poll_ns;
        do {
            int n = epoll_wait(loop->epoll_fd, events, MAX_EVENTS, 0);
            if (n != 0)
                return n;
        } while (fl_now_ns() < until);
    }
    return epoll_wait(loop->epoll_fd, events, MAX_EVENTS, wait_ms);
}

static void *evloop_main(void *arg)
{
    struct evloop *loop = arg;
    struct epoll_event events[MAX_EVENTS];
    current_loop = loop;
    int n = 0;
    while (!atomic_load(&loop->stopping)) {
        int wait_ms = loop->next_wait_ms;
        n = evloop_wait(loop, events, wait_ms, n > 0);
        loop->next_wait_ms = EVLOOP_TICK_MS;
        loop->batch = events;
        loop->batch_count = n;
        for (int i = 0; i < n; i++) {
            struct evloop_source *source = events[i].data.ptr;
            if (source) /* NULL: removed by an earlier handler of this round */
                source->ready(source);
        }
        loop->batch_count = 0;
        evloop_round_end(loop);
    }
    pthread_mutex_lock(&loop->lock);
    atomic_store(&loop->stopped, true);
    evloop_run_call(loop); /* handed over just before the end */
    pthread_mutex_unlock(&loop->lock);
    evloop_run_tasks(loop); /* posted before the end: they still run, here */
    return NULL;
}

bool evloop_start(struct evloop *loop)
{
    loop->started = pthread_create(&loop->thread, NULL, evloop_main, loop) == 0;
    return loop->started;
}

void evloop_free(struct evloop *loop)
{
    if (!loop)
        return;
    if (loop->started) {
        atomic_store(&loop->stopping, true);
        evloop_wake(loop);
        pthread_join(loop->thread, NULL);
    }
    if (loop->epoll_fd >= 0)
        close(loop->epoll_fd);
    if (loop->wake.fd >= 0)
        close(loop->wake.fd);
    pthread_cond_destroy(&loop->called);
    pthread_mutex_destroy(&loop->lock);
    pthread_mutex_destroy(&loop->call_lock);
    free(loop);
}

bool evloop_add(struct evloop *loop, struct evloop_source *source)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = source};
    return !atomic_load(&loop->stopped) &&
           epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, source->fd, &ev) == 0;
}

void evloop_remove(struct evloop *loop, struct evloop_source *source)
{
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, source->fd, NULL);
    for (int i = 0; i < loop->batch_count; i++) /* events of this round not handled yet */
        if (loop->batch[i].data.ptr == source)
            loop->batch[i].data.ptr = NULL;
}

bool evloop_on_round_end(struct evloop *loop, enum evloop_phase phase, void (*fn)(void *arg),
                         void *arg)
{
    if ((loop->started && !evloop_on_thread(loop)) || loop->hook_count == MAX_HOOKS)
        return false;
    loop->hooks[loop->hook_count++] = (struct hook){fn, arg, phase};
    return true;
}

void evloop_off_round_end(struct evloop *loop, void (*fn)(void *arg), void *arg)
{
    for (size_t i = 0; i < loop->hook_count; i++)
        if (loop->hooks[i].fn == fn && loop->hooks[i].arg == arg) {
            loop->hooks[i] = loop->hooks[--loop->hook_count];
            return;
        }
}

void evloop_call(struct evloop *loop, void (*fn)(void *arg), void *arg)
{
    if (evloop_stopped(loop) || evloop_on_thread(loop)) {
        fn(arg);
        return;
    }
    pthread_mutex_lock(&loop->call_lock);
    pthread_mutex_lock(&loop->lock);
    if (atomic_load(&loop->stopped)) {
        pthread_mutex_unlock(&loop->lock);
        fn(arg);
        pthread_mutex_lock(&loop->lock);
    } else {
        loop->call = (struct hook){fn, arg, EVLOOP_WORK};
        loop->call_done = false;
        evloop_wake(loop);
        while (!loop->call_done)
            pthread_cond_wait(&loop->called, &loop->lock);
    }
    pthread_mutex_unlock(&loop->lock);
    pthread_mutex_unlock(&loop->call_lock);
}

bool evloop_post_chain(struct evloop *loop, struct evloop_task *first)
{
    struct evloop_task *last = first;
    while (last->next)
        last = last->next;
    pthread_mutex_lock(&loop->lock);
    bool open = !atomic_load(&loop->stopped);
    /* Only the first tasks of a list wake the loop: the loop reads its wake-up before it takes
     * the list, so a list that is not empty has a wake-up on its way. */
    bool first_of_list = loop->tasks == NULL;
    if (open) {
        *loop->tasks_tail = first;
        loop->tasks_tail = &last->next;
    }
    pthread_mutex_unlock(&loop->lock);
    if (open && first_of_list)
        evloop_wake(loop);
    return open;
}

bool evloop_post(struct evloop *loop, struct evloop_task *task)
{
    task->next = NULL;
    return evloop_post_chain(loop, task);
}

void evloop_again(struct evloop *loop)
{
    if (evloop_on_thread(loop)) /* elsewhere (a loop that has stopped) there is no next round */
        loop->next_wait_ms = 0;
}

void evloop_set_busy_poll(struct evloop *loop, unsigned us)
{
    loop->busy_poll_ns = (uint64_t)us * 1000;
}

void evloop_set_poll_gate(struct evloop *loop, bool (*may_poll)(void *arg), void *arg)
{
    loop->may_poll = may_poll;
    loop->may_poll_arg = arg;
}

void evloop_round_within(struct evloop *loop, int ms)
{
    if (!evloop_on_thread(loop))
        return;
    ms = ms < 1 ? 1 : ms;
    if (ms < loop->next_wait_ms)
        loop->next_wait_ms = ms;
}

bool evloop_on_thread(const struct evloop *loop)
{
    return current_loop == loop;
}

bool evloop_stopped(const struct evloop *loop)
{
    return !loop->started || atomic_load(&loop->stopped);
}
