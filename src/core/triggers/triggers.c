#include "core/triggers/triggers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "core/async.h"
#include "core/catalogue.h"
#include "core/triggers/cron.h"

enum { SCHEDULE_MAX = 128, TYPE_SHOWN_MAX = 32 };

/* One live cron trigger: the loop's. */
struct trigger {
    struct trigger *next;
    char module[FL_NAME_MAX + 1], function[FL_NAME_MAX + 1];
    cJSON *spec; /* the stored element */
    struct cron_schedule schedule;
    char *args; /* the JSON each call gets */
    int64_t next_ms;
    uint64_t fired, skipped;
};

struct triggers {
    struct evloop *loop;
    struct async_queue *queue;
    struct catalogue *catalogue;
    struct evloop_source timer; /* a timerfd at the soonest fire */
    struct trigger *list;       /* [loop] */
};

/* ---- checking an upload's events ---- */

static cJSON *element_result(const char *error)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "status", error ? "error" : "success");
    if (error)
        cJSON_AddStringToObject(r, "message", error);
    return r;
}

/* A cron element: its normalised copy, or NULL with the reason. */
static cJSON *check_cron(const cJSON *params, char *why, size_t why_len)
{
    const cJSON *schedule = cJSON_GetObjectItemCaseSensitive(params, "schedule");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(params, "args");
    struct cron_schedule parsed;
    if (!cJSON_IsString(schedule) || strlen(schedule->valuestring) > SCHEDULE_MAX) {
        snprintf(why, why_len, "cron: params.schedule must be a string of at most %d characters",
                 SCHEDULE_MAX);
        return NULL;
    }
    char detail[160];
    if (!cron_parse(schedule->valuestring, &parsed, detail, sizeof(detail))) {
        snprintf(why, why_len, "cron: %s", detail);
        return NULL;
    }
    if (args && !cJSON_IsObject(args)) {
        snprintf(why, why_len, "cron: params.args must be a JSON object");
        return NULL;
    }
    cJSON *kept = cJSON_CreateObject(), *kept_params = cJSON_CreateObject();
    cJSON_AddStringToObject(kept, "type", "cron");
    cJSON_AddItemToObject(kept, "params", kept_params);
    cJSON_AddStringToObject(kept_params, "schedule", schedule->valuestring);
    if (args)
        cJSON_AddItemToObject(kept_params, "args", cJSON_Duplicate(args, true));
    return kept;
}

static cJSON *check_element(const cJSON *element, char *why, size_t why_len)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(element, "type");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(element, "params");
    if (!cJSON_IsString(type) || !cJSON_IsObject(params)) {
        snprintf(why, why_len, "an event is {\"type\":...,\"params\":{...}}");
        return NULL;
    }
    if (strcmp(type->valuestring, "cron") == 0)
        return check_cron(params, why, why_len);
    if (strcmp(type->valuestring, "mqtt") == 0)
        snprintf(why, why_len, "mqtt events are not available in this version yet");
    else
        snprintf(why, why_len, "unknown event type '%.*s' (cron)", TYPE_SHOWN_MAX,
                 type->valuestring);
    return NULL;
}

enum fl_err triggers_check(const char *json, size_t len, char **stored, cJSON **results,
                           unsigned *failed, char *detail, size_t detail_len)
{
    *stored = NULL;
    *results = NULL;
    *failed = 0;
    cJSON *events = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsArray(events)) {
        cJSON_Delete(events);
        return fl_fail(FL_ERR_BAD_REQUEST, detail, detail_len,
                       "events must be a JSON array of {\"type\":...,\"params\":{...}}");
    }
    cJSON *kept = cJSON_CreateArray();
    *results = cJSON_CreateArray();
    const cJSON *element;
    cJSON_ArrayForEach(element, events)
    {
        char why[256];
        cJSON *valid = check_element(element, why, sizeof(why));
        if (valid)
            cJSON_AddItemToArray(kept, valid);
        else
            (*failed)++;
        cJSON_AddItemToArray(*results, element_result(valid ? NULL : why));
    }
    cJSON_Delete(events);
    *stored = cJSON_PrintUnformatted(kept);
    cJSON_Delete(kept);
    if (!*stored || !*results) {
        free(*stored);
        cJSON_Delete(*results);
        *stored = NULL;
        *results = NULL;
        return fl_fail(FL_ERR_NOMEM, detail, detail_len, "out of memory");
    }
    return FL_OK;
}

cJSON *triggers_metadata(const cJSON *results, unsigned failed)
{
    int total = cJSON_GetArraySize(results);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "successful", total - (int)failed);
    cJSON_AddNumberToObject(m, "failed", failed);
    cJSON_AddNumberToObject(m, "total", total);
    return m;
}

/* ---- the registry (the loop) ---- */

static void trigger_free(struct trigger *t)
{
    cJSON_Delete(t->spec);
    free(t->args);
    free(t);
}

/* The soonest fire arms the timer (nothing to fire: disarmed). */
static void timer_arm(struct triggers *tr)
{
    int64_t soonest = -1;
    for (struct trigger *t = tr->list; t; t = t->next)
        if (t->next_ms >= 0 && (soonest < 0 || t->next_ms < soonest))
            soonest = t->next_ms;
    struct itimerspec at = {0};
    if (soonest >= 0) {
        at.it_value.tv_sec = soonest / 1000;
        at.it_value.tv_nsec = (long)(soonest % 1000) * 1000000L;
        if (!at.it_value.tv_sec && !at.it_value.tv_nsec)
            at.it_value.tv_nsec = 1;
    }
    /* CANCEL_ON_SET: a change of the wall clock wakes the loop, and the fires are reckoned
     * again from the new time */
    timerfd_settime(tr->timer.fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &at, NULL);
}

/* The next fire after `now`: fires missed meanwhile (the Core was down or busy) are skipped. */
static void trigger_advance(struct trigger *t, int64_t now)
{
    if (t->schedule.every_ms && t->next_ms >= 0 && t->next_ms <= now) {
        int64_t every = (int64_t)t->schedule.every_ms;
        t->next_ms += ((now - t->next_ms) / every + 1) * every;
    } else if (!t->schedule.every_ms) {
        t->next_ms = cron_next(&t->schedule, now);
    }
}

static void fire_accepted(void *arg, const char *id, enum fl_err err)
{
    (void)arg;
    if (err != FL_OK)
        fl_log(FL_LOG_WARN, "cron_call_not_queued", "request=%s detail=%s", id,
               "its record could not be written");
}

static void trigger_fire(struct triggers *tr, struct trigger *t)
{
    struct fn_def def;
    if (!catalogue_get(tr->catalogue, t->module, t->function, &def))
        return; /* deleted meanwhile: its triggers go with it */
    struct async_request call = {.def = &def,
                                 .args = t->args ? t->args : "{}",
                                 .script = "",
                                 .trigger = "cron",
                                 .accepted = fire_accepted};
    enum fl_err err = async_enqueue(tr->queue, &call);
    if (err == FL_OK) {
        t->fired++;
    } else { /* a full queue skips the fire rather than pile calls up */
        t->skipped++;
        fl_log(FL_LOG_WARN, "cron_fire_skipped", "function=%s/%s detail=%s", t->module, t->function,
               err == FL_ERR_BUSY ? "the queue is full" : fl_strerror(err));
    }
}

static void timer_ready(struct evloop_source *source)
{
    struct triggers *tr = container_of(source, struct triggers, timer);
    uint64_t expirations;
    ssize_t got = read(source->fd, &expirations, sizeof(expirations));
    if (got < 0 && errno == EAGAIN)
        return;
    bool clock_changed = got < 0 && errno == ECANCELED;
    int64_t now = fl_wall_ms();
    for (struct trigger *t = tr->list; t; t = t->next) {
        if (t->next_ms >= 0 && t->next_ms <= now) {
            trigger_fire(tr, t);
            trigger_advance(t, now);
        } else if (clock_changed && !t->schedule.every_ms) {
            trigger_advance(t, now); /* the wall clock moved back: reckoned again */
        }
    }
    timer_arm(tr);
}

struct triggers *triggers_new(struct evloop *loop, struct async_queue *queue,
                              struct catalogue *catalogue)
{
    struct triggers *tr = calloc(1, sizeof(*tr));
    if (!tr)
        return NULL;
    tr->loop = loop;
    tr->queue = queue;
    tr->catalogue = catalogue;
    tr->timer.fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    tr->timer.ready = timer_ready;
    if (tr->timer.fd < 0 || !evloop_add(loop, &tr->timer)) {
        if (tr->timer.fd >= 0)
            close(tr->timer.fd);
        free(tr);
        return NULL;
    }
    return tr;
}

static void free_on_loop(void *arg)
{
    struct triggers *tr = arg;
    evloop_remove(tr->loop, &tr->timer);
    while (tr->list) {
        struct trigger *t = tr->list;
        tr->list = t->next;
        trigger_free(t);
    }
}

void triggers_free(struct triggers *tr)
{
    if (!tr)
        return;
    evloop_call(tr->loop, free_on_loop, tr);
    close(tr->timer.fd);
    free(tr);
}

/* ---- changes (from any thread, run on the loop) ---- */

struct change {
    struct triggers *tr;
    const char *module, *function, *new_module, *new_name, *stored;
    cJSON *described;
};

static bool is_function(const struct trigger *t, const char *module, const char *function)
{
    return strcmp(t->module, module) == 0 && (!function || strcmp(t->function, function) == 0);
}

/* Removes the triggers of `function` (every function of the module when NULL). */
static void remove_matching(struct triggers *tr, const char *module, const char *function)
{
    for (struct trigger **slot = &tr->list; *slot;) {
        struct trigger *t = *slot;
        if (is_function(t, module, function)) {
            *slot = t->next;
            trigger_free(t);
        } else {
            slot = &t->next;
        }
    }
}

static struct trigger *trigger_from(const char *module, const char *function, const cJSON *spec,
                                    int64_t now)
{
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(spec, "params");
    const cJSON *schedule = cJSON_GetObjectItemCaseSensitive(params, "schedule");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(params, "args");
    struct trigger *t = calloc(1, sizeof(*t));
    char detail[160];
    if (!t || !cJSON_IsString(schedule) ||
        !cron_parse(schedule->valuestring, &t->schedule, detail, sizeof(detail))) {
        free(t);
        return NULL;
    }
    snprintf(t->module, sizeof(t->module), "%s", module);
    snprintf(t->function, sizeof(t->function), "%s", function);
    t->spec = cJSON_Duplicate(spec, true);
    t->args = args ? cJSON_PrintUnformatted(args) : NULL;
    t->next_ms =
        t->schedule.every_ms ? now + (int64_t)t->schedule.every_ms : cron_next(&t->schedule, now);
    return t;
}

static void set_on_loop(void *arg)
{
    struct change *c = arg;
    remove_matching(c->tr, c->module, c->function);
    cJSON *events = cJSON_Parse(c->stored);
    const cJSON *spec;
    int64_t now = fl_wall_ms();
    cJSON_ArrayForEach(spec, events)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(spec, "type");
        struct trigger *t = cJSON_IsString(type) && strcmp(type->valuestring, "cron") == 0
                                ? trigger_from(c->module, c->function, spec, now)
                                : NULL;
        if (!t) {
            fl_log(FL_LOG_WARN, "trigger_not_started", "function=%s/%s detail=%s", c->module,
                   c->function, "an event the store holds is not valid");
            continue;
        }
        t->next = c->tr->list;
        c->tr->list = t;
    }
    cJSON_Delete(events);
    timer_arm(c->tr);
}

void triggers_set(struct triggers *tr, const char *module, const char *function, const char *stored)
{
    struct change c = {.tr = tr, .module = module, .function = function, .stored = stored};
    evloop_call(tr->loop, set_on_loop, &c);
}

static void rename_on_loop(void *arg)
{
    struct change *c = arg;
    if (!c->new_name && !c->new_module) {
        remove_matching(c->tr, c->module, c->function);
    } else {
        for (struct trigger *t = c->tr->list; t; t = t->next) {
            if (!is_function(t, c->module, c->function))
                continue;
            if (c->new_module)
                snprintf(t->module, sizeof(t->module), "%s", c->new_module);
            if (c->new_name)
                snprintf(t->function, sizeof(t->function), "%s", c->new_name);
        }
    }
    timer_arm(c->tr);
}

void triggers_rename(struct triggers *tr, const char *module, const char *function,
                     const char *new_name)
{
    struct change c = {.tr = tr, .module = module, .function = function, .new_name = new_name};
    evloop_call(tr->loop, rename_on_loop, &c);
}

void triggers_rename_module(struct triggers *tr, const char *module, const char *new_module)
{
    struct change c = {.tr = tr, .module = module, .new_module = new_module};
    evloop_call(tr->loop, rename_on_loop, &c);
}

static void describe_on_loop(void *arg)
{
    struct change *c = arg;
    c->described = cJSON_CreateArray();
    for (struct trigger *t = c->tr->list; t; t = t->next) {
        if (!is_function(t, c->module, c->function))
            continue;
        cJSON *d = cJSON_Duplicate(t->spec, true);
        cJSON_AddStringToObject(d, "state", t->next_ms >= 0 ? "scheduled" : "never");
        if (t->next_ms >= 0) {
            char next[32];
            fl_format_wall_ms(t->next_ms, next);
            cJSON_AddStringToObject(d, "next", next);
        }
        cJSON_AddNumberToObject(d, "fired", (double)t->fired);
        cJSON_AddNumberToObject(d, "skipped", (double)t->skipped);
        cJSON_AddItemToArray(c->described, d);
    }
}

cJSON *triggers_describe(struct triggers *tr, const char *module, const char *function)
{
    struct change c = {.tr = tr, .module = module, .function = function};
    evloop_call(tr->loop, describe_on_loop, &c);
    return c.described;
}
