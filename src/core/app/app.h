/*
 * app — APP scheduling scripts (docs/app.md; decisions in
 * docs/app.md): the parser from YAML, the normalised JSON form the API
 * returns, and the choice of a Worker for one invocation.
 *
 * The choice is a pure function of a parsed script and a snapshot of the
 * Workers, so it is tested as a table and takes no lock of its own; the
 * cluster calls it under its lock with the snapshot it keeps.
 */
#ifndef FL_CORE_APP_APP_H
#define FL_CORE_APP_APP_H

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

enum app_strategy { APP_BEST_FIRST, APP_RANDOM, APP_PLATFORM };

struct app_block {
    bool all_workers; /* workers: "*" */
    char **workers;   /* names, in the script's order (when not all) */
    size_t worker_count;
    enum app_strategy strategy;
    double capacity_used_pct; /* invalidate.capacity_used; < 0: no limit */
    long max_concurrent;      /* invalidate.max_concurrent_invocations; < 0: no limit */
    char **affinity;          /* tags a Worker must be running */
    size_t affinity_count;
    char **anti_affinity; /* tags it must not be running ("!tag") */
    size_t anti_affinity_count;
    unsigned line; /* in the YAML, 1-based, for messages */
};

struct app_tag {
    char *name;
    struct app_block *blocks;
    size_t block_count;
    bool followup_default; /* followup: default (else fail) */
};

struct app_script {
    struct app_tag *tags;
    size_t tag_count;
    atomic_uint refs; /* app_parse returns one reference; app_release drops one */
};

/*
 * Parses and checks a script. On error: FL_ERR_INVALID_NAME (-> 422) with a
 * sentence naming the tag, the block and the line; FL_ERR_NOMEM.
 */
enum fl_err app_parse(const char *yaml, size_t len, struct app_script **out, char *detail,
                      size_t detail_len);
/* References: a script in use by an invocation outlives its replacement or deletion. */
struct app_script *app_retain(struct app_script *script);
void app_release(struct app_script *script); /* frees it with its last reference; NULL is fine */

/* The normalised form: {"tags":{"t":{"blocks":[...],"followup":"fail"}}} (docs/app.md). */
cJSON *app_to_json(const struct app_script *script);

/* One Worker as the choice sees it. */
struct app_worker {
    const char *name;
    uint64_t free_mem, total_mem; /* bytes; total 0 = no load data yet: all memory free */
    unsigned in_flight;           /* the Core's own count of calls running there */
    const char *const *tags;      /* tags of functions running there or run lately */
    size_t tag_count;
    bool excluded; /* not a candidate for this call (it answered "busy") */
};

/*
 * Chooses a Worker for a function tagged `tag` ("" = untagged) needing
 * `capacity` bytes. `workers` must be sorted by name (strcmp); `random` is
 * any random value (the `random` strategy and tie-breaking use it).
 * Returns the chosen index, or -1 with the reason in `detail`.
 */
long app_select(const struct app_script *script, const char *tag, uint64_t capacity,
                const struct app_worker *workers, size_t count, uint64_t random, char *detail,
                size_t detail_len);

/* The `platform` strategy, which is also the Core's default policy: among the valid
 * Workers (valid[i]), the most free memory in 64 MiB steps, then the fewest in-flight,
 * ties starting from `rotate`. -1 if none is valid. */
long app_most_free(const struct app_worker *workers, const bool *valid, size_t count,
                   uint64_t rotate);

#endif
