#include "core/app/scripts.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A plain array: operators keep a handful of scripts, and lookups are a few strcmp. */
struct entry {
    char *name;
    struct app_script *script;
};

struct app_scripts {
    pthread_rwlock_t lock;
    struct entry *entries;
    size_t count, capacity;
};

struct app_scripts *app_scripts_new(void)
{
    struct app_scripts *set = calloc(1, sizeof(*set));
    if (set)
        pthread_rwlock_init(&set->lock, NULL);
    return set;
}

void app_scripts_free(struct app_scripts *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->count; i++) {
        free(set->entries[i].name);
        app_release(set->entries[i].script);
    }
    free(set->entries);
    pthread_rwlock_destroy(&set->lock);
    free(set);
}

/* Under the lock. */
static struct entry *find(struct app_scripts *set, const char *name)
{
    for (size_t i = 0; i < set->count; i++)
        if (strcmp(set->entries[i].name, name) == 0)
            return &set->entries[i];
    return NULL;
}

/* Under the write lock: a new, empty entry named `name`, or NULL without memory. */
static struct entry *append(struct app_scripts *set, const char *name)
{
    if (set->count == set->capacity) {
        size_t capacity = set->capacity ? set->capacity * 2 : 8;
        struct entry *grown = realloc(set->entries, capacity * sizeof(*grown));
        if (!grown)
            return NULL;
        set->entries = grown;
        set->capacity = capacity;
    }
    char *copy = strdup(name);
    if (!copy)
        return NULL;
    struct entry *e = &set->entries[set->count++];
    *e = (struct entry){copy, NULL};
    return e;
}

enum fl_err app_scripts_put(struct app_scripts *set, const char *name, struct app_script *script)
{
    pthread_rwlock_wrlock(&set->lock);
    struct entry *e = find(set, name);
    if (!e)
        e = append(set, name);
    struct app_script *old = e ? e->script : script;
    if (e)
        e->script = script;
    pthread_rwlock_unlock(&set->lock);
    app_release(old); /* outside the lock: it may free a large script */
    return e ? FL_OK : FL_ERR_NOMEM;
}

void app_scripts_remove(struct app_scripts *set, const char *name)
{
    pthread_rwlock_wrlock(&set->lock);
    struct entry *e = find(set, name);
    struct app_script *old = NULL;
    if (e) {
        old = e->script;
        free(e->name);
        *e = set->entries[--set->count];
    }
    pthread_rwlock_unlock(&set->lock);
    app_release(old);
}

struct app_script *app_scripts_get(struct app_scripts *set, const char *name)
{
    pthread_rwlock_rdlock(&set->lock);
    struct entry *e = find(set, name);
    struct app_script *script = e ? app_retain(e->script) : NULL;
    pthread_rwlock_unlock(&set->lock);
    return script;
}
