#include "core/catalogue.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/types.h>
#include <stdlib.h>
#include <string.h>

struct module {
    char *name;
    char owner[FL_NAME_MAX + 1]; /* "" shared */
    struct module_access *access;
    size_t access_count;
};

struct entry {
    struct fn_def def;
    struct module *module; /* its module: rights are found without a search */
    char *env;             /* its environment (catalogue_set_env), NULL none */
    size_t env_len;
    char *shown; /* ... what GETs show of it */
    struct entry *next;
};

/* Exchanges the environments of two entries (a function's follows it, the other is freed). */
static void entry_swap_env(struct entry *a, struct entry *b)
{
    struct entry held = *a;
    a->env = b->env;
    a->env_len = b->env_len;
    a->shown = b->shown;
    b->env = held.env;
    b->env_len = held.env_len;
    b->shown = held.shown;
    a->def.has_env = a->env != NULL;
}

static void entry_free(struct entry *e)
{
    if (e->env) /* it holds secrets */
        explicit_bzero(e->env, e->env_len);
    free(e->env);
    free(e->shown);
    free(e);
}

struct catalogue {
    pthread_rwlock_t lock;
    struct entry **buckets;
    size_t bucket_count, function_count;
    struct module **modules;
    size_t module_count;
};

static void module_free(struct module *m)
{
    if (m) {
        free(m->name);
        free(m->access);
        free(m);
    }
}

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
            entry_free(e);
        }
    for (size_t i = 0; i < cat->module_count; i++)
        module_free(cat->modules[i]);
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

/* Takes the entry out (NULL when there is none); the caller frees it or links it again. */
static struct entry *catalogue_unlink(struct catalogue *cat, const char *module, const char *name)
{
    struct entry **slot = catalogue_slot(cat, module, name);
    if (!*slot)
        return NULL;
    struct entry *e = *slot;
    *slot = e->next;
    cat->function_count--;
    return e;
}

static ssize_t catalogue_module_index(struct catalogue *cat, const char *module);

/* Inserts or replaces `def`; an entry it replaces keeps its environment. `moved`: an entry
 * taken out under another name, reused with its environment (NULL: a new one). */
static void catalogue_insert(struct catalogue *cat, const struct fn_def *def, struct entry *moved)
{
    ssize_t m = catalogue_module_index(cat, def->module);
    struct entry **slot = catalogue_slot(cat, def->module, def->name);
    if (*slot) {
        (*slot)->def = *def;
        (*slot)->module = m >= 0 ? cat->modules[m] : NULL;
        if (moved) { /* the moved one's environment wins: it is the function's */
            entry_swap_env(*slot, moved);
            entry_free(moved);
        }
        (*slot)->def.has_env = (*slot)->env != NULL;
        return;
    }
    struct entry *e = moved ? moved : calloc(1, sizeof(*e));
    if (!e)
        return;
    e->def = *def;
    e->def.has_env = e->env != NULL;
    e->module = m >= 0 ? cat->modules[m] : NULL;
    e->next = NULL;
    *slot = e;
    cat->function_count++;
    catalogue_grow(cat);
}

static ssize_t catalogue_module_index(struct catalogue *cat, const char *module)
{
    for (size_t i = 0; i < cat->module_count; i++)
        if (strcmp(cat->modules[i]->name, module) == 0)
            return (ssize_t)i;
    return -1;
}

void catalogue_add_module(struct catalogue *cat, const char *module, const char *owner)
{
    pthread_rwlock_wrlock(&cat->lock);
    if (catalogue_module_index(cat, module) < 0) {
        struct module **grown =
            realloc(cat->modules, (cat->module_count + 1) * sizeof(*cat->modules));
        struct module *m = calloc(1, sizeof(*m));
        if (grown)
            cat->modules = grown;
        if (m && (m->name = strdup(module)) != NULL && grown) {
            snprintf(m->owner, sizeof(m->owner), "%s", owner ? owner : "");
            cat->modules[cat->module_count++] = m;
        } else {
            module_free(m);
        }
    }
    pthread_rwlock_unlock(&cat->lock);
}

bool catalogue_set_access(struct catalogue *cat, const char *module,
                          const struct module_access *access, size_t count)
{
    struct module_access *copy = count ? malloc(count * sizeof(*copy)) : NULL;
    if (count && !copy)
        return false;
    if (count)
        memcpy(copy, access, count * sizeof(*copy));
    pthread_rwlock_wrlock(&cat->lock);
    ssize_t i = catalogue_module_index(cat, module);
    if (i >= 0) {
        free(cat->modules[i]->access);
        cat->modules[i]->access = copy;
        cat->modules[i]->access_count = count;
    } else {
        free(copy);
    }
    pthread_rwlock_unlock(&cat->lock);
    return i >= 0;
}

/* The rights `who` has on `m` (NULL: none). */
static unsigned module_rights(const struct module *m, const char *subject, bool admin)
{
    if (!m)
        return 0;
    if (admin || m->owner[0] == '\0' || strcmp(m->owner, subject) == 0)
        return RIGHTS_ALL;
    unsigned rights = 0;
    for (size_t i = 0; i < m->access_count; i++)
        if (strcmp(m->access[i].subject, subject) == 0 || strcmp(m->access[i].subject, "*") == 0)
            rights |= m->access[i].rights;
    return rights & ~RIGHT_OWN;
}

unsigned catalogue_rights(struct catalogue *cat, const char *module, const char *subject,
                          bool admin)
{
    pthread_rwlock_rdlock(&cat->lock);
    ssize_t i = catalogue_module_index(cat, module);
    unsigned rights = i >= 0 ? module_rights(cat->modules[i], subject, admin) : 0;
    pthread_rwlock_unlock(&cat->lock);
    return rights;
}

bool catalogue_get_as(struct catalogue *cat, const char *module, const char *name,
                      const char *subject, bool admin, struct fn_def *out, unsigned *rights)
{
    pthread_rwlock_rdlock(&cat->lock);
    struct entry **slot = catalogue_slot(cat, module, name);
    bool found = *slot != NULL;
    if (found) {
        *out = (*slot)->def;
        *rights = module_rights((*slot)->module, subject, admin);
    } else {
        *rights = 0;
    }
    pthread_rwlock_unlock(&cat->lock);
    return found;
}

bool catalogue_module_info(struct catalogue *cat, const char *module, char owner[FL_NAME_MAX + 1],
                           struct module_access **access, size_t *count)
{
    pthread_rwlock_rdlock(&cat->lock);
    ssize_t i = catalogue_module_index(cat, module);
    bool ok = i >= 0;
    *access = NULL;
    *count = 0;
    if (ok) {
        const struct module *m = cat->modules[i];
        snprintf(owner, FL_NAME_MAX + 1, "%s", m->owner);
        if (m->access_count && (*access = malloc(m->access_count * sizeof(**access))) != NULL) {
            memcpy(*access, m->access, m->access_count * sizeof(**access));
            *count = m->access_count;
        }
    }
    pthread_rwlock_unlock(&cat->lock);
    return ok;
}

void catalogue_transfer(struct catalogue *cat, const char *from, const char *to)
{
    pthread_rwlock_wrlock(&cat->lock);
    for (size_t i = 0; i < cat->module_count; i++)
        if (strcmp(cat->modules[i]->owner, from) == 0)
            snprintf(cat->modules[i]->owner, sizeof(cat->modules[i]->owner), "%s", to);
    for (size_t i = 0; i < cat->bucket_count; i++)
        for (struct entry *e = cat->buckets[i]; e; e = e->next)
            if (strcmp(e->def.owner, from) == 0)
                snprintf(e->def.owner, sizeof(e->def.owner), "%s", to);
    pthread_rwlock_unlock(&cat->lock);
}

char **catalogue_owned_modules(struct catalogue *cat, const char *subject, size_t *count)
{
    pthread_rwlock_rdlock(&cat->lock);
    char **names = calloc(cat->module_count + 1, sizeof(char *));
    *count = 0;
    for (size_t i = 0; names && i < cat->module_count; i++)
        if (strcmp(cat->modules[i]->owner, subject) == 0 &&
            (names[*count] = strdup(cat->modules[i]->name)) != NULL)
            (*count)++;
    pthread_rwlock_unlock(&cat->lock);
    return names;
}

void catalogue_owned(struct catalogue *cat, const char *subject, size_t *functions,
                     uint64_t *code_bytes)
{
    *functions = 0;
    *code_bytes = 0;
    pthread_rwlock_rdlock(&cat->lock);
    for (size_t i = 0; i < cat->bucket_count; i++)
        for (struct entry *e = cat->buckets[i]; e; e = e->next)
            if (strcmp(e->def.owner, subject) == 0) {
                (*functions)++;
                *code_bytes += e->def.size;
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
            catalogue_insert(cat, &e->def, e);
        } else {
            entry_free(e);
        }
    }
}

void catalogue_rename_module(struct catalogue *cat, const char *module, const char *new_name)
{
    pthread_rwlock_wrlock(&cat->lock);
    ssize_t i = catalogue_module_index(cat, module);
    char *copy = strdup(new_name);
    if (i >= 0 && copy) {
        free(cat->modules[i]->name);
        cat->modules[i]->name = copy;
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
        struct module *gone = cat->modules[i];
        cat->modules[i] = cat->modules[--cat->module_count];
        catalogue_move_functions(cat, module, NULL);
        module_free(gone);
    }
    pthread_rwlock_unlock(&cat->lock);
}

void catalogue_put(struct catalogue *cat, const struct fn_def *def, const char *old_name)
{
    pthread_rwlock_wrlock(&cat->lock);
    struct entry *renamed = old_name && strcmp(old_name, def->name) != 0
                                ? catalogue_unlink(cat, def->module, old_name)
                                : NULL;
    catalogue_insert(cat, def, renamed);
    pthread_rwlock_unlock(&cat->lock);
}

void catalogue_remove(struct catalogue *cat, const char *module, const char *name)
{
    pthread_rwlock_wrlock(&cat->lock);
    struct entry *e = catalogue_unlink(cat, module, name);
    if (e)
        entry_free(e);
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

char **catalogue_modules(struct catalogue *cat, const char *subject, bool admin, unsigned rights,
                         size_t *count)
{
    pthread_rwlock_rdlock(&cat->lock);
    char **names = calloc(cat->module_count + 1, sizeof(char *));
    *count = 0;
    for (size_t i = 0; names && i < cat->module_count; i++)
        if ((module_rights(cat->modules[i], subject, admin) & rights) != 0 &&
            (names[*count] = strdup(cat->modules[i]->name)) != NULL)
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

bool catalogue_set_env(struct catalogue *cat, const char *module, const char *name, const char *env,
                       size_t env_len, const char *shown)
{
    struct entry fresh = {.env = env_len ? malloc(env_len) : NULL,
                          .env_len = env_len,
                          .shown = shown ? strdup(shown) : NULL};
    if ((env_len && !fresh.env) || (shown && !fresh.shown)) {
        free(fresh.env);
        free(fresh.shown);
        return false;
    }
    if (env_len)
        memcpy(fresh.env, env, env_len);
    pthread_rwlock_wrlock(&cat->lock);
    struct entry *e = *catalogue_slot(cat, module, name);
    if (e)
        entry_swap_env(e, &fresh); /* `fresh` now holds the old one, freed below */
    pthread_rwlock_unlock(&cat->lock);
    if (fresh.env)
        explicit_bzero(fresh.env, fresh.env_len);
    free(fresh.env);
    free(fresh.shown);
    return e != NULL;
}

char *catalogue_env_shown(struct catalogue *cat, const char *module, const char *name)
{
    pthread_rwlock_rdlock(&cat->lock);
    struct entry *e = *catalogue_slot(cat, module, name);
    char *shown = e && e->shown ? strdup(e->shown) : NULL;
    pthread_rwlock_unlock(&cat->lock);
    return shown;
}

bool catalogue_env(struct catalogue *cat, const char *module, const char *name, struct fl_buf *out)
{
    pthread_rwlock_rdlock(&cat->lock);
    struct entry *e = *catalogue_slot(cat, module, name);
    bool ok = !e || !e->env || fl_buf_append(out, e->env, e->env_len);
    pthread_rwlock_unlock(&cat->lock);
    return ok;
}
