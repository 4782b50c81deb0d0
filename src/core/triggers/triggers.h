/*
 * triggers — what calls a function besides its clients (docs/triggers.md): the `events` of a
 * function upload, as FunLess takes them. Events are checked here (triggers_check), kept with
 * their function in the store (functions.events: they follow its renames and go with it), and
 * live in this registry while it exists. A cron event fires on the Core's event loop; an mqtt
 * event subscribes on a thread of its own (mqtt.h) and hands each message to the loop. Either
 * call goes through the asynchronous queue, an activation with trigger "cron" or "event",
 * retried like any queued call; a full queue holds an mqtt subscription back (nothing is
 * dropped) and skips a cron fire (nothing piles up).
 *
 * Threading: triggers_check anywhere; the registry's functions from any thread (they run on
 * the loop, evloop_call).
 */
#ifndef FL_CORE_TRIGGERS_TRIGGERS_H
#define FL_CORE_TRIGGERS_TRIGGERS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct evloop;
struct async_queue;
struct catalogue;
struct activations;
struct triggers;

/* A registry on `loop`: due calls go to `queue`, as the function is in `catalogue` then; an
 * mqtt message that is no call (not JSON, or past `message_max` bytes) leaves a record in
 * `activations` saying so. */
struct triggers *triggers_new(struct evloop *loop, struct async_queue *queue,
                              struct catalogue *catalogue, struct activations *activations,
                              size_t message_max);
/* Stops every trigger (before the queue stops). */
void triggers_free(struct triggers *triggers);

/* FunLess's `events` field, checked as elements_check says (core/elements.h). */
enum fl_err triggers_check(const char *json, size_t len, char **stored, cJSON **results,
                           unsigned *failed, char *detail, size_t detail_len);

/* The function's events are now `stored` (from triggers_check, or the store at start; "[]":
 * none): what was live for it stops, these start. */
void triggers_set(struct triggers *triggers, const char *module, const char *function,
                  const char *stored);
/* At start: as triggers_set, for events the store held; `last_fire_ms` (0: unknown) is when
 * its cron events last fired, and fires missed since (the Core was down) are logged, skipped. */
void triggers_restore(struct triggers *triggers, const char *module, const char *function,
                      const char *stored, int64_t last_fire_ms);
/* The function was renamed (its events go with it), or deleted (new_name NULL). */
void triggers_rename(struct triggers *triggers, const char *module, const char *function,
                     const char *new_name);
/* Every function of the module was renamed with it (new_module), or deleted (NULL). */
void triggers_rename_module(struct triggers *triggers, const char *module, const char *new_module);
/* For GET: the function's events as stored, secrets hidden, each with its live `state`; NULL
 * when it has none. */
cJSON *triggers_describe(struct triggers *triggers, const char *module, const char *function);

#endif
