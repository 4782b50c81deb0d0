/*
 * watchdog — enforces invocation time limits without a system call per
 * invocation (engine-internal).
 *
 * Each thread that runs guests owns a slot. Arming a slot is two atomic
 * stores; one watchdog thread scans the slots every WATCHDOG_TICK_MS while
 * any is armed, and sends the time-limit signal to a thread whose deadline
 * passed. When nothing has been armed for a while it sleeps on a condition
 * variable, and the next arm wakes it (the only system call, after idling).
 * Limits are therefore enforced within a tick of their deadline, and so is a
 * cancellation (a flag the caller sets: its client went away).
 *
 * A call number guards against a late signal: the handler acts only if the
 * signal was sent for the call that is running now (watchdog_fired_now).
 */
#ifndef FL_ENGINE_WATCHDOG_H
#define FL_ENGINE_WATCHDOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define WATCHDOG_TICK_MS 2

struct watchdog_slot {
    _Atomic uint64_t deadline_ns;        /* CLOCK_MONOTONIC; 0 when disarmed */
    _Atomic(const atomic_bool *) cancel; /* set: the call ends now, as at its deadline */
    _Atomic uint64_t call_seq;           /* bumped by every arm */
    _Atomic uint64_t fired_seq;          /* the call the last signal was sent for */
    pthread_t thread;
    struct watchdog_slot *prev, *next;
};

/* Registers the calling thread's slot; `signal` is sent on expiry. */
void watchdog_register(struct watchdog_slot *slot, int signal);
void watchdog_unregister(struct watchdog_slot *slot);
/* Arms the slot for `timeout_ms` (0: no deadline, only `cancel`). `cancel` (or NULL) must
 * outlive every call it is given to: the watchdog may read it just after the call ended. */
void watchdog_arm(struct watchdog_slot *slot, uint32_t timeout_ms, const atomic_bool *cancel);
void watchdog_disarm(struct watchdog_slot *slot);
/* In the signal handler: was this signal meant for the call now running? */
bool watchdog_fired_now(struct watchdog_slot *slot);

#endif
