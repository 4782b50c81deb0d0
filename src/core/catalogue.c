#include "core/catalogue.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/types.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    struct fn_def def;
    struct entry *next;
};

struct catalogue {
    pthread_rwlock_t lock;
    struct entry **buckets;
    size_t bucket_count, function_count;
    char **modules;
    size_t module_count;
};

static uint64_t catalogue_hash(const char *module, const char *name)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a over "module\0name" */
    for (const char *p = module; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0) * 1099511628211ull;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

struct catalogue *catalogue_new(void)
{
    struct catalogue *cat = calloc(1, sizeof(*cat));
    if (!cat)
        return NULL;
    cat->bucket_count = 256;
    cat->buckets = calloc(cat->bucket_count, sizeof(*cat->buckets));
    if (!cat->buckets) {
        free(cat);
        return NULL;
    }
    pthread_rwlock_init(&cat->lock, NULL);
    return cat;
}

void catalogue_free(struct catalogue *cat)
{
    if (!cat)
        return;
    for (size_t i = 0; i < cat->bucket_count; i++)
        for (struct entry *e = cat->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    for (size_t i = 0; i < cat->module_count; i++)
        free(cat->modules[i]);
    free(cat->modules);
    free(cat->buckets);
    pthread_rwlock_destroy(&cat->lock);
    free(cat);
}

static struct entry **catalogue_slot(struct catalogue *cat, const char *module, const char *name)
{
    struct entry **slot = &cat->buckets[catalogue_hash(module, name) % cat->bucket_count];
    while (*slot &&
           (strcmp((*slot)->def.module, module) != 0 || strcmp((*slot)->def.name, name) != 0))
        slot = &(*slot)->next;
    return slot;
}

/* Doubles the buckets when they average more than one entry. */
static void catalogue_grow(struct catalogue *cat)
{
    if (cat->function_count < cat->bucket_count)
        return;
    size_t count = cat->bucket_count * 2;
    struct entry **buckets = calloc(count, sizeof(*buckets));
    if (!buckets)
        return;
    for (size_t i = 0; i < cat->bucket_count; i++)
        for (struct entry *e = cat->buckets[i], *next; e; e = next) {
            next = e->next;
            struct entry **slot = &buckets[catalogue_hash(e->def.module, e->def.name) % count];
            e->next = *slot;
            *slot = e;
        }
    free(cat->buckets);
    cat->buckets = buckets;
    cat->bucket_count = count;
}

static void catalogue_unlink(struct catalogue *cat, const char *module, const char *name)
{
    struct entry **slot = catalogue_slot(cat, module, name);
    if (!*slot)
        return;
    struct entry *e = *slot;
    *slot = e->next;
    free(e);
    cat->function_count--;
}

static void catalogue_insert(struct catalogue *cat, const struct fn_def *def)
{
    struct entry **slot = catalogue_slot(cat, def->module, def->name);
    if (*slot) {
        (*slot)->def = *def;
        return;
    }
    struct entry *e = malloc(sizeof(*e));
    if (!e)
        return;
    e->def = *def;
    e->next = NULL;
    *slot = e;
    cat->function_count++;
    catalogue_grow(cat);
}

static ssize_t catalogue_module_index(struct catalogue *cat, const char *module)
{
    for (size_t i = 0; i < cat->module_count; i++)
        if (strcmp(cat->modules[i], module) == 0)
            return (ssize_t)i;
    return -1;
}

void catalogue_add_module(struct catalogue *cat, const char *module)
{
    pthread_rwlock_wrlock(&cat->lock);
    if (catalogue_module_index(cat, module) < 0) {
        char **grown = realloc(cat->modules, (cat->module_count + 1) * sizeof(char *));
        char *copy = strdup(module);
        if (grown)
            cat->modules = grown;
        if (grown && copy)
            cat->modules[cat->module_count++] = copy;
        else
            free(copy);
    }
    pthread_rwlock_unlock(&cat->lock);
}

bool catalogue_has_module(struct catalogue *cat, const char *module)
{
    pthread_rwlock_rdlock(&cat->lock);
    bool found = catalogue_module_index(cat, module) >= 0;
    pthread_rwlock_unlock(&cat->lock);
    return found;
}

/* Moves (rename) or drops (new_name NULL) every function of `module`. */
static void catalogue_move_functions(struct catalogue *cat, const char *module,
                                     const char *new_name)
{
    struct entry *moved = NULL;
    for (size_t i = 0; i < cat->bucket_count; i++) {
        struct entry **slot = &cat->buckets[i];
        while (*slot) {
            struct entry *e = *slot;
            if (strcmp(e->def.module, module) != 0) {
                slot = &e->next;
                continue;
            }
            *slot = e->next;
            cat->function_count--;
            e->next = moved;
            moved = e;
        }
    }
    for (struct entry *e = moved, *next; e; e = next) {
        next = e->next;
        if (new_name) {
            snprintf(e->def.module, sizeof(e->def.module), "%s", new_name);
            catalogue_insert(cat, &e->def);
        }
        free(e);
    }
}

void catalogue_rename_module(struct catalogue *cat, const char *module, const char *new_name)
{
    pthread_rwlock_wrlock(&cat->lock);
    ssize_t i = catalogue_module_index(cat, module);
    char *copy = strdup(new_name);
    if (i >= 0 && copy) {
        free(cat->modules[i]);
        cat->modules[i] = copy;
        catalogue_move_functions(cat, module, new_name);
    } else {
        free(copy);
    }
    pthread_rwlock_unlock(&cat->lock);
}

void catalogue_remove_module(struct catalogue *cat, const char *module)
{
    pthread_rwlock_wrlock(&cat->lock);
    ssize_t i = catalogue_module_index(cat, module);
    if (i >= 0) {
        free(cat->modules[i]);
        cat->modules[i] = cat->modules[--cat->module_count];
        catalogue_move_functions(cat, module, NULL);
    }
    pthread_rwlock_unlock(&cat->lock);
}

void catalogue_put(struct catalogue *cat, const struct fn_def *def, const char *old_name)
{
    pthread_rwlock_wrlock(&cat->lock);
    if (old_name && strcmp(old_name, def->name) != 0)
        catalogue_unlink(cat, def->module, old_name);
    catalogue_insert(cat, def);
    pthread_rwlock_unlock(&cat->lock);
}

void catalogue_remove(struct catalogue *cat, const char *module, const char *name)
{
    pthread_rwlock_wrlock(&cat->lock);
    catalogue_unlink(cat, module, name);
    pthread_rwlock_unlock(&cat->lock);
}

bool catalogue_get(struct catalogue *cat, const char *module, const char *name, struct fn_def *out)
{
    pthread_rwlock_rdlock(&cat->lock);
    struct entry **slot = catalogue_slot(cat, module, name);
    bool found = *slot != NULL;
    if (found)
        *out = (*slot)->def;
    pthread_rwlock_unlock(&cat->lock);
    return found;
}

static int catalogue_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **catalogue_modules(struct catalogue *cat, size_t *count)
{
    pthread_rwlock_rdlock(&cat->lock);
    char **names = calloc(cat->module_count + 1, sizeof(char *));
    *count = 0;
    for (size_t i = 0; names && i < cat->module_count; i++)
        if ((names[*count] = strdup(cat->modules[i])) != NULL)
            (*count)++;
    pthread_rwlock_unlock(&cat->lock);
    if (names)
        qsort(names, *count, sizeof(char *), catalogue_cmp);
    return names;
}

char **catalogue_functions(struct catalogue *cat, const char *module, size_t *count)
{
    pthread_rwlock_rdlock(&cat->lock);
    char **names = calloc(cat->function_count + 1, sizeof(char *));
    *count = 0;
    for (size_t i = 0; names && i < cat->bucket_count; i++)
        for (struct entry *e = cat->buckets[i]; e; e = e->next)
            if (strcmp(e->def.module, module) == 0 && (names[*count] = strdup(e->def.name)) != NULL)
                (*count)++;
    pthread_rwlock_unlock(&cat->lock);
    if (names)
        qsort(names, *count, sizeof(char *), catalogue_cmp);
    return names;
}

size_t catalogue_function_count(struct catalogue *cat)
{
    pthread_rwlock_rdlock(&cat->lock);
    size_t n = cat->function_count;
    pthread_rwlock_unlock(&cat->lock);
    return n;
}
