/*
 * workq — a few threads that run the work an event loop must not wait for
 * (reading a function's code from the store), then hand each job back to the
 * loop: `work` runs on one of the queue's threads, `done` on the loop's thread.
 *
 * The threads are fixed (no thread per job), so a burst of jobs waits in line
 * instead of starting a thread each.
 */
#ifndef FL_COMMON_WORKQ_H
#define FL_COMMON_WORKQ_H

#include <stdbool.h>

#include "common/evloop.h"

struct workq_job {
    void (*work)(struct workq_job *job); /* on a queue thread: may wait */
    void (*done)(struct workq_job *job); /* then on the loop's thread (may free the job) */
    struct evloop_task task;             /* the queue's */
    struct workq_job *next;              /* the queue's */
};

struct workq;

/* `threads` threads (at least 1) whose jobs end on `loop`. */
struct workq *workq_new(struct evloop *loop, unsigned threads);
/* From any thread. False when the queue is stopping (the job will not run). */
bool workq_submit(struct workq *queue, struct workq_job *job);
/* Runs the jobs already queued, joins the threads and frees the queue. Their `done` runs on the
 * loop if it still runs, else here. */
void workq_free(struct workq *queue);

#endif
