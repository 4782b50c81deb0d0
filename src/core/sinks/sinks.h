/*
 * sinks — where a function's results go besides its caller (docs/sinks.md): the `sinks` of a
 * function upload, as FunLess takes them (`couchdb`), and webhooks (`http`). Sinks are checked
 * here (sinks_check), kept with their function in the store (functions.sinks: they follow its
 * renames and go with it) and live in this registry while it exists.
 *
 * The result of every successful call of a function with sinks (whatever called it) is sent to
 * each of them by threads of their own (libcurl), never by the event loop and never holding up
 * a call: at most `queue_max` sends wait, past it a send fails at once and is counted. A send
 * that fails is tried again (1 s, 2 s, 4 s later), then given up; the outcome of each goes on
 * the call's activation (`sinks`) and into the metrics.
 *
 * Threading: every function from any thread; sinks_deliver never waits.
 */
#ifndef FL_CORE_SINKS_SINKS_H
#define FL_CORE_SINKS_SINKS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct db;
struct activations;
struct sinks;

/* Starts the senders; NULL when out of memory or threads. */
struct sinks *sinks_start(struct db *db, struct activations *activations, unsigned queue_max);
/* Stops the senders (sends not done are dropped: a result is sent at most once per sink). */
void sinks_stop(struct sinks *sinks);

/* FunLess's `sinks` field, checked as elements_check says (core/elements.h). */
enum fl_err sinks_check(const char *json, size_t len, char **stored, cJSON **results,
                        unsigned *failed, char *detail, size_t detail_len);

/* The function's sinks are now `stored` (from sinks_check or the store; "[]": none). */
void sinks_set(struct sinks *sinks, const char *module, const char *function, const char *stored);
/* The function was renamed (new_name), or deleted (NULL). */
void sinks_rename(struct sinks *sinks, const char *module, const char *function,
                  const char *new_name);
/* Every function of the module was renamed with it (new_module), or deleted (NULL). */
void sinks_rename_module(struct sinks *sinks, const char *module, const char *new_module);
/* For GET: the function's sinks, passwords hidden; NULL when it has none. */
cJSON *sinks_describe(struct sinks *sinks, const char *module, const char *function);

/* A call of the function succeeded with `result` (JSON): it goes to the function's sinks, if
 * any. Never waits. */
void sinks_deliver(struct sinks *sinks, const char *module, const char *function,
                   const char *activation_id, const char *result, size_t result_len);

/* For the metrics: sends delivered, failed (after their retries), and refused (a full queue). */
void sinks_counts(struct sinks *sinks, uint64_t *delivered, uint64_t *failed, uint64_t *refused);

#endif
