/*
 * catalogue — the Core's in-memory copy of every module and function
 * definition (no code), loaded from the store at start and kept in step
 * with every change, so that reads and the invocation path make no
 * database query. The store is written first; the catalogue follows.
 *
 * Threading: a reader-writer lock inside; lookups copy the definition out.
 */
#ifndef FL_CORE_CATALOGUE_H
#define FL_CORE_CATALOGUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FL_NAME_MAX 160

enum { META_HTTP_ALLOW_MAX = 255 };

struct fn_meta {
    char tag[FL_NAME_MAX + 1]; /* "" when untagged */
    uint32_t capacity_mb;
    uint32_t timeout_ms;
    /* the hosts its __http_request may call, narrowing the Worker's --http-allow: entries
     * joined by ',' ("" when not narrowed) */
    char http_allow[META_HTTP_ALLOW_MAX + 1];
};

struct fn_def {
    char module[FL_NAME_MAX + 1];
    char name[FL_NAME_MAX + 1];
    char hash[65];
    uint64_t size;
    struct fn_meta meta;
    char created_at[32];
    char updated_at[32];
};

struct catalogue;

struct catalogue *catalogue_new(void);
void catalogue_free(struct catalogue *cat);

void catalogue_add_module(struct catalogue *cat, const char *module);
bool catalogue_has_module(struct catalogue *cat, const char *module);
/* Renames the module and moves its functions with it. */
void catalogue_rename_module(struct catalogue *cat, const char *module, const char *new_name);
/* Removes the module and its functions. */
void catalogue_remove_module(struct catalogue *cat, const char *module);

/* Inserts or replaces (module, name); replacing under another name removes `old_name`. */
void catalogue_put(struct catalogue *cat, const struct fn_def *def, const char *old_name);
void catalogue_remove(struct catalogue *cat, const char *module, const char *name);
bool catalogue_get(struct catalogue *cat, const char *module, const char *name, struct fn_def *out);

/* Sorted names; the caller frees the array and every string. */
char **catalogue_modules(struct catalogue *cat, size_t *count);
char **catalogue_functions(struct catalogue *cat, const char *module, size_t *count);
size_t catalogue_function_count(struct catalogue *cat);

#endif
