#include "common/util.h"
#include "engine/watchdog.h"

#include <signal.h>
#include <time.h>

enum { IDLE_TICKS_BEFORE_SLEEP = 250 };

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct watchdog_slot *slots;
    int signal;
    bool started;
    atomic_bool sleeping;
} wd = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* Under wd.lock: signals expired slots; true if any slot is armed. */
static bool watchdog_scan(void)
{
    uint64_t now = fl_now_ns();
    bool armed = false;
    for (struct watchdog_slot *s = wd.slots; s; s = s->next) {
        uint64_t deadline = atomic_load(&s->deadline_ns);
        if (!deadline)
            continue;
        armed = true;
        uint64_t seq = atomic_load(&s->call_seq);
        const atomic_bool *cancel = atomic_load(&s->cancel);
        bool due = now >= deadline || (cancel && atomic_load(cancel));
        /* the CAS fails if the call ended or a new one began meanwhile */
        if (due && atomic_compare_exchange_strong(&s->deadline_ns, &deadline, 0)) {
            atomic_store(&s->fired_seq, seq);
            pthread_kill(s->thread, wd.signal);
        }
    }
    return armed;
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    int idle_ticks = 0;
    struct timespec tick = {0, WATCHDOG_TICK_MS * 1000000L};
    pthread_mutex_lock(&wd.lock);
    for (;;) {
        idle_ticks = watchdog_scan() ? 0 : idle_ticks + 1;
        if (idle_ticks >= IDLE_TICKS_BEFORE_SLEEP) {
            atomic_store(&wd.sleeping, true);
            /* rescan after publishing `sleeping`: an arm either sees it or is seen here */
            if (!watchdog_scan())
                pthread_cond_wait(&wd.wake, &wd.lock);
            atomic_store(&wd.sleeping, false);
            idle_ticks = 0;
            continue;
        }
        pthread_mutex_unlock(&wd.lock);
        nanosleep(&tick, NULL);
        pthread_mutex_lock(&wd.lock);
    }
    return NULL;
}

static void watchdog_start(void)
{
    pthread_t thread;
    sigset_t all, old;
    /* the watchdog never runs guests: keep every signal away from it */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&thread, NULL, watchdog_main, NULL) == 0) {
        pthread_detach(thread);
        wd.started = true;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void watchdog_register(struct watchdog_slot *slot, int signal)
{
    slot->thread = pthread_self();
    atomic_init(&slot->deadline_ns, 0);
    atomic_init(&slot->cancel, NULL);
    atomic_init(&slot->call_seq, 0);
    atomic_init(&slot->fired_seq, UINT64_MAX);
    pthread_mutex_lock(&wd.lock);
    wd.signal = signal;
    if (!wd.started)
        watchdog_start();
    slot->prev = NULL;
    slot->next = wd.slots;
    if (wd.slots)
        wd.slots->prev = slot;
    wd.slots = slot;
    pthread_mutex_unlock(&wd.lock);
}

void watchdog_unregister(struct watchdog_slot *slot)
{
    pthread_mutex_lock(&wd.lock);
    if (slot->prev)
        slot->prev->next = slot->next;
    else if (wd.slots == slot)
        wd.slots = slot->next;
    if (slot->next)
        slot->next->prev = slot->prev;
    slot->prev = slot->next = NULL;
    pthread_mutex_unlock(&wd.lock);
}

void watchdog_arm(struct watchdog_slot *slot, uint32_t timeout_ms, const atomic_bool *cancel)
{
    atomic_fetch_add(&slot->call_seq, 1);
    atomic_store(&slot->cancel, cancel);
    atomic_store(&slot->deadline_ns,
                 timeout_ms ? fl_now_ns() + (uint64_t)timeout_ms * 1000000u : UINT64_MAX);
    if (atomic_load(&wd.sleeping)) {
        pthread_mutex_lock(&wd.lock);
        pthread_cond_signal(&wd.wake);
        pthread_mutex_unlock(&wd.lock);
    }
}

void watchdog_disarm(struct watchdog_slot *slot)
{
    atomic_store(&slot->deadline_ns, 0);
}

bool watchdog_fired_now(struct watchdog_slot *slot)
{
    return atomic_load(&slot->fired_seq) == atomic_load(&slot->call_seq);
}
