/*
 * app_select — docs/app.md's semantics: pick the tag, try its blocks in order,
 * keep the valid candidates of the first block that has any, and let the
 * block's strategy choose among them. No allocation: candidates are
 * walked (twice at most), never collected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/app/app.h"

#define MEMORY_STEP ((uint64_t)64 << 20) /* free memory is compared in these steps */

/* Free memory for comparisons: a Worker without load data yet has all of it free. */
static uint64_t free_memory(const struct app_worker *w)
{
    return w->total_mem ? w->free_mem : UINT64_MAX;
}

/* The default policy's order: more free memory (in steps), then fewer calls in flight. */
static bool more_free(const struct app_worker *a, const struct app_worker *b)
{
    uint64_t fa = free_memory(a) / MEMORY_STEP, fb = free_memory(b) / MEMORY_STEP;
    return fa > fb || (fa == fb && a->in_flight < b->in_flight);
}

long app_most_free(const struct app_worker *workers, const bool *valid, size_t count,
                   uint64_t rotate)
{
    long best = -1;
    for (size_t k = 0; k < count; k++) {
        size_t i = (size_t)((k + rotate) % count);
        if (valid[i] && (best < 0 || more_free(&workers[i], &workers[best])))
            best = (long)i;
    }
    return best;
}

static bool runs_tag(const struct app_worker *w, const char *tag)
{
    for (size_t i = 0; i < w->tag_count; i++)
        if (strcmp(w->tags[i], tag) == 0)
            return true;
    return false;
}

/* docs/app.md, semantics 2, and aAPP's affinity. */
static bool worker_valid(const struct app_block *b, const struct app_worker *w, uint64_t capacity)
{
    if (w->excluded)
        return false;
    if (w->total_mem) {
        uint64_t free_mem = w->free_mem < w->total_mem ? w->free_mem : w->total_mem;
        if (free_mem < capacity)
            return false;
        double used_pct =
            (double)(w->total_mem - free_mem + capacity) * 100.0 / (double)w->total_mem;
        if (b->capacity_used_pct >= 0 && used_pct > b->capacity_used_pct)
            return false;
    }
    if (b->max_concurrent >= 0 && (long)w->in_flight >= b->max_concurrent)
        return false;
    for (size_t i = 0; i < b->affinity_count; i++)
        if (!runs_tag(w, b->affinity[i]))
            return false;
    for (size_t i = 0; i < b->anti_affinity_count; i++)
        if (runs_tag(w, b->anti_affinity[i]))
            return false;
    return true;
}

struct walk {
    const struct app_block *block;
    const struct app_worker *workers;
    size_t count;
    uint64_t capacity;
};

static int by_name(const void *key, const void *element)
{
    return strcmp(key, ((const struct app_worker *)element)->name);
}

static size_t candidate_count(const struct walk *w)
{
    return w->block->all_workers ? w->count : w->block->worker_count;
}

/* The i-th candidate's index in workers if it exists and is valid, else -1. */
static long valid_candidate(const struct walk *w, size_t i)
{
    const struct app_worker *found =
        w->block->all_workers
            ? &w->workers[i]
            : bsearch(w->block->workers[i], w->workers, w->count, sizeof(*w->workers), by_name);
    if (!found || !worker_valid(w->block, found, w->capacity))
        return -1;
    return found - w->workers;
}

/* The block's choice, or -1 when it has no valid candidate. */
static long block_choice(const struct walk *w, uint64_t random)
{
    size_t n = candidate_count(w), valid = 0;
    long chosen = -1;
    for (size_t k = 0; k < n; k++) {
        /* platform breaks ties by where it starts; the others walk in block order */
        size_t i = w->block->strategy == APP_PLATFORM ? (size_t)((k + random) % n) : k;
        long index = valid_candidate(w, i);
        if (index < 0)
            continue;
        valid++;
        if (w->block->strategy == APP_BEST_FIRST)
            return index;
        if (w->block->strategy == APP_PLATFORM &&
            (chosen < 0 || more_free(&w->workers[index], &w->workers[chosen])))
            chosen = index;
    }
    if (w->block->strategy != APP_RANDOM || valid == 0)
        return chosen;
    size_t pick = (size_t)(random % valid); /* uniform among the valid: the pick-th of them */
    for (size_t i = 0; i < n; i++) {
        long index = valid_candidate(w, i);
        if (index >= 0 && pick-- == 0)
            return index;
    }
    return -1;
}

static const struct app_tag *find_tag(const struct app_script *script, const char *name)
{
    for (size_t i = 0; i < script->tag_count; i++)
        if (strcmp(script->tags[i].name, name) == 0)
            return &script->tags[i];
    return NULL;
}

static long tag_choice(const struct app_tag *tag, uint64_t capacity,
                       const struct app_worker *workers, size_t count, uint64_t random)
{
    for (size_t b = 0; b < tag->block_count; b++) {
        struct walk w = {&tag->blocks[b], workers, count, capacity};
        long chosen = block_choice(&w, random);
        if (chosen >= 0)
            return chosen;
    }
    return -1;
}

long app_select(const struct app_script *script, const char *tag, uint64_t capacity,
                const struct app_worker *workers, size_t count, uint64_t random, char *detail,
                size_t detail_len)
{
    const struct app_tag *fallback = find_tag(script, "default");
    const struct app_tag *chosen_tag = tag[0] ? find_tag(script, tag) : NULL;
    if (!chosen_tag)
        chosen_tag = fallback;
    if (!chosen_tag) {
        fl_fail(FL_ERR_UNAVAILABLE, detail, detail_len, "no matching tag for '%.160s'",
                tag[0] ? tag : "(untagged)");
        return -1;
    }
    long chosen = tag_choice(chosen_tag, capacity, workers, count, random);
    if (chosen < 0 && chosen_tag != fallback && chosen_tag->followup_default && fallback)
        chosen = tag_choice(fallback, capacity, workers, count, random);
    if (chosen < 0)
        fl_fail(FL_ERR_UNAVAILABLE, detail, detail_len,
                "no valid worker in the blocks of tag %.160s%s", chosen_tag->name,
                chosen_tag != fallback && chosen_tag->followup_default
                    ? (fallback ? " nor of default" : " and no default tag to follow up with")
                    : "");
    return chosen;
}
