/*
 * scripts — the Core's in-memory set of parsed APP scripts, by name, loaded
 * from the store at start and kept in step with every change (the store is
 * written first), so that an invocation naming a script makes no database
 * query and never parses YAML.
 *
 * Threading: a reader-writer lock inside; a script handed out is a
 * reference (app_release it), so replacing or deleting a script never pulls
 * it from under an invocation that is using it.
 */
#ifndef FL_CORE_APP_SCRIPTS_H
#define FL_CORE_APP_SCRIPTS_H

#include "core/app/app.h"

struct app_scripts;

struct app_scripts *app_scripts_new(void);
void app_scripts_free(struct app_scripts *set);

/* Inserts or replaces `name`; takes over the caller's reference to `script`. */
enum fl_err app_scripts_put(struct app_scripts *set, const char *name, struct app_script *script);
void app_scripts_remove(struct app_scripts *set, const char *name);
/* A new reference to the script, or NULL if there is none by that name. */
struct app_script *app_scripts_get(struct app_scripts *set, const char *name);

#endif
