/*
 * APP placement benchmark (not a test): the cost of choosing a Worker for one
 * invocation with a 3-block script over 64 Workers, against the default
 * policy over the same Workers, measured in the same run.
 *
 * Each decision starts from a fresh copy of the 64-Worker snapshot (as the
 * Core takes one per invocation), and the script is built so that the first
 * two blocks find nothing valid and the third decides: every block is walked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/app/app.h"

enum { WORKERS = 64, RUNS = 200000, ROUNDS = 5 };
#define MB ((uint64_t)1 << 20)

static const char script_yaml[] = "- web:\n  - workers: '*'\n    strategy: platform\n"
                                  "- batch:\n  - workers: '*'\n    strategy: random\n"
                                  "- gpu:\n"
                                  "  - workers: [w07, w13, w21, w33, w42, w50, w58, w63]\n"
                                  "    invalidate: {capacity_used: 10%}\n"
                                  "  - workers: '*'\n"
                                  "    invalidate: {max_concurrent_invocations: 2}\n"
                                  "    affinity: ['!web']\n"
                                  "  - workers: '*'\n"
                                  "    strategy: platform\n"
                                  "    affinity: ['!batch']\n"
                                  "  followup: default\n"
                                  "- default:\n  - workers: '*'\n";

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static char names[WORKERS][8];
static const char *const running_web[] = {"web"};
static volatile long sink;

static void make_workers(struct app_worker *w)
{
    for (int i = 0; i < WORKERS; i++) {
        snprintf(names[i], sizeof(names[i]), "w%02d", i);
        w[i] = (struct app_worker){.name = names[i],
                                   .free_mem = (uint64_t)(512 + 37 * i % 400) * MB,
                                   .total_mem = 1024 * MB,
                                   .in_flight = (unsigned)(2 + i % 3),
                                   .tags = i % 5 ? NULL : running_web,
                                   .tag_count = i % 5 ? 0 : 1};
    }
}

/* Nanoseconds per decision, best of ROUNDS (the least disturbed by other processes). */
static double measure(const struct app_script *script, const struct app_worker *workers)
{
    struct app_worker snapshot[WORKERS];
    bool valid[WORKERS];
    char detail[256];
    double best = 1e18;
    for (int round = 0; round < ROUNDS; round++) {
        double t0 = now_ns();
        for (int i = 0; i < RUNS; i++) {
            memcpy(snapshot, workers, sizeof(snapshot));
            if (script) {
                sink = app_select(script, "gpu", 64 * MB, snapshot, WORKERS, (uint64_t)i, detail,
                                  sizeof(detail));
            } else {
                for (int k = 0; k < WORKERS; k++)
                    valid[k] = snapshot[k].free_mem >= 64 * MB;
                sink = app_most_free(snapshot, valid, WORKERS, (uint64_t)i);
            }
        }
        double ns = (now_ns() - t0) / RUNS;
        best = ns < best ? ns : best;
    }
    return best;
}

int main(void)
{
    struct app_script *script;
    char detail[256];
    if (app_parse(script_yaml, strlen(script_yaml), &script, detail, sizeof(detail)) != FL_OK) {
        fprintf(stderr, "bench_app: %s\n", detail);
        return 2;
    }
    struct app_worker workers[WORKERS];
    make_workers(workers);
    long chosen = app_select(script, "gpu", 64 * MB, workers, WORKERS, 0, detail, sizeof(detail));
    if (chosen < 0) {
        fprintf(stderr, "bench_app: the script chose nothing: %s\n", detail);
        return 2;
    }
    double base = measure(NULL, workers), app = measure(script, workers);
    printf("APP placement, 3-block script (all blocks walked) over %d Workers, best of %d x %d:\n",
           WORKERS, ROUNDS, RUNS);
    printf("  APP %.0f ns per decision; default policy %.0f ns; ratio %.1fx (target: APP <= "
           "2 us)\n",
           app, base, app / base);
    app_release(script);
    return 0;
}
