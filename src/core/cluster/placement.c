/*
 * placement — which Worker takes a call: an APP script's choice (core/app/app.h),
 * or the default policy, over a snapshot of the connected Workers in name order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cluster/cluster_internal.h"

enum {
    AFFINITY_RECENT_MS = 5000, /* a tag counts for affinity this long after its last call ends */
};

/* What one placement looks at: the connected Workers in name order. */
struct placement {
    struct app_worker view[MAX_WORKERS];
    struct cworker *who[MAX_WORKERS];
    bool valid[MAX_WORKERS];
    size_t count;
};

struct placement *placement_new(void)
{
    return calloc(1, sizeof(struct placement));
}

void placement_free(struct placement *pl)
{
    free(pl);
}

/* [loop] The record of `tag` on `w`, made if needed (NULL when the table is full of running
 * tags: affinity then does not see this one). */
static struct tag_use *tag_use_of(struct cworker *w, const char *tag)
{
    struct tag_use *idle = NULL;
    for (size_t i = 0; i < w->tag_use_count; i++) {
        struct tag_use *u = &w->tag_uses[i];
        if (strcmp(u->tag, tag) == 0)
            return u;
        if (!u->running && (!idle || u->last_ms < idle->last_ms))
            idle = u;
    }
    if (w->tag_use_count < MAX_TAG_USES) {
        struct tag_use *grown = realloc(w->tag_uses, (w->tag_use_count + 1) * sizeof(*w->tag_uses));
        if (grown) {
            w->tag_uses = grown;
            idle = &grown[w->tag_use_count++];
        }
    }
    if (idle) {
        *idle = (struct tag_use){.running = 0};
        snprintf(idle->tag, sizeof(idle->tag), "%s", tag);
    }
    return idle;
}

void placement_count(struct cworker *w, const char *tag, int delta)
{
    ON_LOOP(w->cluster);
    if (delta > 0)
        atomic_fetch_add(&w->in_flight, 1);
    else
        atomic_fetch_sub(&w->in_flight, 1);
    struct tag_use *u = tag[0] ? tag_use_of(w, tag) : NULL;
    if (!u)
        return;
    if (delta > 0 || u->running > 0)
        u->running += (unsigned)delta;
    u->last_ms = fl_now_ms();
}

static bool tried_has(const uint64_t *tried, size_t slot)
{
    return tried[slot / 64] >> (slot % 64) & 1;
}

/* [loop, lock] The connected Workers' state, `tried` ones excluded, with the tags they run when
 * `with_tags`. */
static void placement_snapshot(struct cluster *c, const uint64_t *tried, bool with_tags,
                               struct placement *pl)
{
    uint64_t now = fl_now_ms();
    pl->count = 0;
    for (size_t k = 0; k < c->count; k++) {
        struct cworker *w = c->workers[c->by_name[k]];
        if (!atomic_load(&w->connected))
            continue;
        size_t tags = 0; /* only APP's affinity reads them */
        for (size_t i = 0; with_tags && i < w->tag_use_count; i++) {
            const struct tag_use *u = &w->tag_uses[i];
            if (u->running || fl_ms_since(now, u->last_ms) <= AFFINITY_RECENT_MS)
                w->active_tags[tags++] = u->tag;
        }
        pl->who[pl->count] = w;
        pl->view[pl->count++] = (struct app_worker){
            .name = w->name,
            .free_mem = w->free_mem,
            .total_mem = w->total_mem,
            .in_flight = atomic_load(&w->in_flight),
            .tags = w->active_tags,
            .tag_count = tags,
            .excluded = tried_has(tried, w->slot),
        };
    }
}

static uint64_t random_u64(void)
{
    static _Thread_local uint64_t state;
    if (!state)
        state = fl_now_ns() << 20 ^ (uint64_t)(uintptr_t)&state ^ 0x9E3779B97F4A7C15u;
    state ^= state << 13; /* xorshift64: placement needs spread, not secrecy */
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

/*
 * With an APP script, the script decides (docs/app.md); without, the default policy: among
 * Workers not tried yet whose free memory holds the capacity, the most free memory; ties
 * (Workers on one host report the same memory) go to the fewest in flight, then round-robin.
 */
struct cworker *placement_pick(struct cluster *c, const struct fn_def *def,
                               const struct app_script *policy, const uint64_t *tried,
                               bool *none_connected, char *detail, size_t detail_len)
{
    ON_LOOP(c);
    assert(fl_mutex_held(&c->lock));
    struct placement *pl = c->placement;
    uint64_t capacity = (uint64_t)def->meta.capacity_mb << 20;
    placement_snapshot(c, tried, policy != NULL, pl);
    *none_connected = pl->count == 0;
    long chosen;
    if (policy) {
        chosen = app_select(policy, def->meta.tag, capacity, pl->view, pl->count, random_u64(),
                            detail, detail_len);
    } else {
        for (size_t i = 0; i < pl->count; i++)
            pl->valid[i] = !pl->view[i].excluded && pl->view[i].free_mem >= capacity;
        chosen = app_most_free(pl->view, pl->valid, pl->count, c->round_robin++);
        if (chosen < 0)
            snprintf(detail, detail_len, "not enough free memory");
    }
    return chosen >= 0 ? pl->who[chosen] : NULL;
}
