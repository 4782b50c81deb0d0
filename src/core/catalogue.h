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

#include "common/buf.h"

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
    char owner[FL_NAME_MAX + 1]; /* the subject that created it ("" before tenants) */
    bool has_env; /* it has configuration or secrets: catalogue_env gives them (set by it) */
};

/* What a subject may do with a module (docs/tenants.md). The owner, the admin and everyone on a
 * shared module (no owner) have every right; others what the module's access list grants them
 * by name, or to "*". No right at all: the module does not exist for them. */
enum {
    RIGHT_READ = 1,   /* see it, its functions and their activations */
    RIGHT_INVOKE = 2, /* invoke its functions */
    RIGHT_WRITE = 4,  /* create, update and delete its functions, set their configuration */
    RIGHT_OWN = 8,    /* rename, delete and share it (never granted by an access list) */
    RIGHTS_ALL = 15,
};

struct module_access {
    char subject[FL_NAME_MAX + 1]; /* a subject, or "*" for every subject */
    unsigned rights;               /* RIGHT_READ | RIGHT_INVOKE | RIGHT_WRITE */
};

struct catalogue;

struct catalogue *catalogue_new(void);
void catalogue_free(struct catalogue *cat);

/* `owner`: the subject that created it, "" for a shared module. */
void catalogue_add_module(struct catalogue *cat, const char *module, const char *owner);
/* Replaces the module's access list (copied); false when there is no such module. */
bool catalogue_set_access(struct catalogue *cat, const char *module,
                          const struct module_access *access, size_t count);
/* The rights of `subject` (or of an admin) on `module`: 0 when it has none or there is none. */
unsigned catalogue_rights(struct catalogue *cat, const char *module, const char *subject,
                          bool admin);
/* The module's owner and a copy of its access list (the caller frees it). */
bool catalogue_module_info(struct catalogue *cat, const char *module, char owner[FL_NAME_MAX + 1],
                           struct module_access **access, size_t *count);
/* Modules owned and functions created by `from` pass to `to` (a subject being deleted). */
void catalogue_transfer(struct catalogue *cat, const char *from, const char *to);
/* The names of the modules `subject` owns (the caller frees the array and the strings). */
char **catalogue_owned_modules(struct catalogue *cat, const char *subject, size_t *count);
/* How many functions and bytes of code `subject` created (its quota counts them). */
void catalogue_owned(struct catalogue *cat, const char *subject, size_t *functions,
                     uint64_t *code_bytes);
bool catalogue_has_module(struct catalogue *cat, const char *module);
/* Renames the module and moves its functions with it. */
void catalogue_rename_module(struct catalogue *cat, const char *module, const char *new_name);
/* Removes the module and its functions. */
void catalogue_remove_module(struct catalogue *cat, const char *module);

/* Inserts or replaces (module, name); replacing under another name removes `old_name`. */
void catalogue_put(struct catalogue *cat, const struct fn_def *def, const char *old_name);
void catalogue_remove(struct catalogue *cat, const char *module, const char *name);
bool catalogue_get(struct catalogue *cat, const char *module, const char *name, struct fn_def *out);
/* catalogue_get and the rights of `subject` on its module, in one lookup (the invocation path). */
bool catalogue_get_as(struct catalogue *cat, const char *module, const char *name,
                      const char *subject, bool admin, struct fn_def *out, unsigned *rights);

/* A function's environment: its configuration and secrets as WASI entries "KEY=VALUE\0", kept
 * in memory only here (the store holds the secrets sealed). set: replaces it (env_len 0: none);
 * env: appends it to `out` (nothing when it has none). Renames carry it along. */
bool catalogue_set_env(struct catalogue *cat, const char *module, const char *name, const char *env,
                       size_t env_len, const char *shown);
bool catalogue_env(struct catalogue *cat, const char *module, const char *name, struct fl_buf *out);
/* What GETs show of it (`shown` as set: the configuration and the secrets' names, never their
 * values), a copy the caller frees; NULL when it has none. */
char *catalogue_env_shown(struct catalogue *cat, const char *module, const char *name);

/* Sorted names; the caller frees the array and every string. Modules: those on which `subject`
 * (or an admin) has any of `rights`. */
char **catalogue_modules(struct catalogue *cat, const char *subject, bool admin, unsigned rights,
                         size_t *count);
char **catalogue_functions(struct catalogue *cat, const char *module, size_t *count);
size_t catalogue_function_count(struct catalogue *cat);

#endif
