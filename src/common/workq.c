#include "common/workq.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/util.h"

enum { WORKQ_MAX_THREADS = 16, WORKQ_STACK_BYTES = 256 * 1024 };

struct workq {
    struct evloop *loop;
    pthread_mutex_t lock; /* guards jobs, stopping */
    pthread_cond_t ready;
    struct workq_job *jobs, **tail;
    bool stopping;
    pthread_t threads[WORKQ_MAX_THREADS];
    unsigned thread_count;
};

static void workq_job_done(struct evloop_task *task)
{
    struct workq_job *job = container_of(task, struct workq_job, task);
    job->done(job);
}

static struct workq_job *workq_take(struct workq *q)
{
    pthread_mutex_lock(&q->lock);
    while (!q->jobs && !q->stopping)
        pthread_cond_wait(&q->ready, &q->lock);
    struct workq_job *job = q->jobs;
    if (job && !(q->jobs = job->next))
        q->tail = &q->jobs;
    pthread_mutex_unlock(&q->lock);
    return job;
}

static void *workq_main(void *arg)
{
    struct workq *q = arg;
    for (struct workq_job *job; (job = workq_take(q));) {
        job->work(job);
        job->task.run = workq_job_done;
        if (!evloop_post(q->loop, &job->task)) /* the loop has ended: nobody else will */
            job->done(job);
    }
    return NULL;
}

struct workq *workq_new(struct evloop *loop, unsigned threads)
{
    struct workq *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->loop = loop;
    q->tail = &q->jobs;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->ready, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, WORKQ_STACK_BYTES);
    threads = threads < 1 ? 1 : threads > WORKQ_MAX_THREADS ? WORKQ_MAX_THREADS : threads;
    while (q->thread_count < threads &&
           pthread_create(&q->threads[q->thread_count], &attr, workq_main, q) == 0)
        q->thread_count++;
    pthread_attr_destroy(&attr);
    if (q->thread_count == 0) {
        workq_free(q);
        return NULL;
    }
    return q;
}

bool workq_submit(struct workq *q, struct workq_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&q->lock);
    bool open = !q->stopping;
    if (open) {
        *q->tail = job;
        q->tail = &job->next;
        pthread_cond_signal(&q->ready);
    }
    pthread_mutex_unlock(&q->lock);
    return open;
}

void workq_free(struct workq *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->stopping = true; /* the threads empty the queue first: workq_take returns NULL after */
    pthread_cond_broadcast(&q->ready);
    pthread_mutex_unlock(&q->lock);
    for (unsigned i = 0; i < q->thread_count; i++)
        pthread_join(q->threads[i], NULL);
    pthread_cond_destroy(&q->ready);
    pthread_mutex_destroy(&q->lock);
    free(q);
}
