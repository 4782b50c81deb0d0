#include "core/triggers/triggers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "core/activations.h"
#include "core/async.h"
#include "core/catalogue.h"
#include "core/elements.h"
#include "core/triggers/cron.h"
#include "core/triggers/mqtt.h"

enum { SCHEDULE_MAX = 128, TYPE_SHOWN_MAX = 32, STOP_WAIT_MS = 2000 };

/* One live trigger: the loop's. */
struct trigger {
    struct trigger *next;
    char module[FL_NAME_MAX + 1], function[FL_NAME_MAX + 1];
    cJSON *spec; /* the stored element */
    /* cron */
    struct cron_schedule schedule;
    char *args;      /* the JSON each call gets */
    int64_t next_ms; /* -1: never (and every mqtt event) */
    uint64_t fired, skipped;
    /* mqtt */
    struct mqtt_client *mqtt;
};

/* A message of an mqtt event on its way into the queue (it holds a reference to its client). */
struct delivery {
    struct evloop_task task;
    struct triggers *tr;
    struct mqtt_client *client;
    struct delivery *next; /* in `blocked` */
    size_t len;
    char payload[];
};

struct triggers {
    struct evloop *loop;
    struct async_queue *queue;
    struct catalogue *catalogue;
    struct activations *activations;
    size_t message_max;         /* an mqtt message's bytes at most */
    struct evloop_source timer; /* a timerfd at the soonest fire */
    struct trigger *list;       /* [loop] */
    struct delivery *blocked;   /* [loop] messages waiting for room in the queue */
};

/* ---- checking an upload's events ---- */

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

/* An mqtt element: its normalised copy (the port a number), or NULL with the reason. */
static cJSON *check_mqtt(const cJSON *params, char *why, size_t why_len)
{
    struct mqtt_params p;
    if (!mqtt_params_check(params, &p, why, why_len))
        return NULL;
    cJSON *kept = cJSON_CreateObject(), *kept_params = cJSON_CreateObject();
    cJSON_AddStringToObject(kept, "type", "mqtt");
    cJSON_AddItemToObject(kept, "params", kept_params);
    cJSON_AddStringToObject(kept_params, "host", p.host);
    cJSON_AddNumberToObject(kept_params, "port", p.port);
    cJSON_AddStringToObject(kept_params, "topic", p.topic);
    cJSON_AddNumberToObject(kept_params, "qos", p.qos);
    const char *optional[] = {"username", "password", "client_id"};
    const char *values[] = {p.username, p.password, p.client_id};
    for (size_t i = 0; i < ARRAY_SIZE(optional); i++)
        if (values[i][0])
            cJSON_AddStringToObject(kept_params, optional[i], values[i]);
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
        return check_mqtt(params, why, why_len);
    snprintf(why, why_len, "unknown event type '%.*s' (mqtt, cron)", TYPE_SHOWN_MAX,
             type->valuestring);
    return NULL;
}

enum fl_err triggers_check(const char *json, size_t len, char **stored, cJSON **results,
                           unsigned *failed, char *detail, size_t detail_len)
{
    return elements_check(json, len, "events", check_element, stored, results, failed, detail,
                          detail_len);
}

/* ---- the registry (the loop) ---- */

static void trigger_free(struct trigger *t)
{
    if (t->mqtt) { /* its messages on their way see no owner and are let go */
        mqtt_set_owner(t->mqtt, NULL);
        mqtt_stop(t->mqtt, 0);
    }
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

/* ---- mqtt messages ---- */

static void delivery_release(struct delivery *d)
{
    mqtt_delivered(d->client); /* its client reads the next message */
    mqtt_unref(d->client);
    free(d);
}

static void delivery_accepted(void *arg, const char *id, enum fl_err err)
{
    struct delivery *d = arg;
    if (err != FL_OK)
        fl_log(FL_LOG_WARN, "event_call_not_queued", "request=%s detail=%s", id,
               "its record could not be written");
    delivery_release(d);
}

/* A message that is no call: an activation that says why, and nothing runs. */
static void delivery_refused(struct triggers *tr, const struct fn_def *def, const char *why)
{
    char id[ACTIVATION_ID_CHARS + 1];
    int64_t now = fl_wall_ms();
    if (!activation_new_id(id, now))
        return;
    struct activation_record r = {.id = id,
                                  .module = def->module,
                                  .function = def->name,
                                  .hash = def->hash,
                                  .trigger = "event",
                                  .outcome = FL_ERR_BAD_REQUEST,
                                  .http_status = 400,
                                  .worker = "",
                                  .start_ms = now,
                                  .error = why};
    activations_record(tr->activations, &r);
}

/* [loop] Into the queue; false when it is full (the message waits in `blocked`). */
static bool delivery_try(struct triggers *tr, struct delivery *d)
{
    struct trigger *t = mqtt_owner(d->client);
    struct fn_def def;
    if (!t || !catalogue_get(tr->catalogue, t->module, t->function, &def)) {
        delivery_release(d); /* the event or its function is gone */
        return true;
    }
    cJSON *args = d->len <= tr->message_max ? cJSON_ParseWithLength(d->payload, d->len) : NULL;
    bool json = args != NULL;
    cJSON_Delete(args);
    if (!json) {
        delivery_refused(tr, &def,
                         d->len > tr->message_max
                             ? "the message is larger than --max-json-kb"
                             : "the message is not JSON: its payload becomes the call's args");
        delivery_release(d);
        return true;
    }
    struct async_request call = {.def = &def,
                                 .args = d->payload,
                                 .script = "",
                                 .trigger = "event",
                                 .accepted = delivery_accepted,
                                 .arg = d};
    enum fl_err err = async_enqueue(tr->queue, &call);
    if (err == FL_ERR_BUSY)
        return false;
    if (err != FL_OK) {
        fl_log(FL_LOG_WARN, "event_call_not_queued", "function=%s/%s detail=%s", t->module,
               t->function, fl_strerror(err));
        delivery_release(d);
    }
    return true;
}

static void delivery_arrived(struct evloop_task *task)
{
    struct delivery *d = container_of(task, struct delivery, task);
    struct triggers *tr = mqtt_owner(d->client) ? d->tr : NULL; /* else tr may be gone */
    if (!tr) {
        delivery_release(d);
    } else if (tr->blocked || !delivery_try(tr, d)) { /* in order, behind those waiting */
        struct delivery **tail = &tr->blocked;
        while (*tail)
            tail = &(*tail)->next;
        d->next = NULL;
        *tail = d;
    }
}

/* [loop] Round end: messages waiting for room in the queue try again, oldest first. */
static void retry_blocked(void *arg)
{
    struct triggers *tr = arg;
    while (tr->blocked) {
        struct delivery *d = tr->blocked;
        tr->blocked = d->next;
        if (!delivery_try(tr, d)) {
            d->next = tr->blocked;
            tr->blocked = d;
            return;
        }
    }
}

/* On the client's thread: the message goes to the loop. */
static void mqtt_message(void *arg, struct mqtt_client *client, const void *payload, size_t len)
{
    struct triggers *tr = arg;
    struct delivery *d = malloc(sizeof(*d) + len + 1);
    if (!d) {
        mqtt_delivered(client);
        return;
    }
    mqtt_ref(client);
    d->tr = tr;
    d->client = client;
    d->len = len;
    memcpy(d->payload, payload, len);
    d->payload[len] = '\0';
    d->task.run = delivery_arrived;
    if (!evloop_post(tr->loop, &d->task))
        delivery_release(d);
}

static void stop_retrying(void *arg)
{
    struct triggers *tr = arg;
    evloop_off_round_end(tr->loop, retry_blocked, tr);
}

static void start_on_loop(void *arg)
{
    struct triggers *tr = arg;
    if (!evloop_on_round_end(tr->loop, EVLOOP_WORK, retry_blocked, tr))
        tr->loop = NULL;
}

struct triggers *triggers_new(struct evloop *loop, struct async_queue *queue,
                              struct catalogue *catalogue, struct activations *activations,
                              size_t message_max)
{
    struct triggers *tr = calloc(1, sizeof(*tr));
    if (!tr)
        return NULL;
    tr->loop = loop;
    tr->queue = queue;
    tr->catalogue = catalogue;
    tr->activations = activations;
    tr->message_max = message_max;
    mosquitto_lib_init(); /* once, before any client (it is not thread-safe) */
    tr->timer.fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    tr->timer.ready = timer_ready;
    evloop_call(loop, start_on_loop, tr);
    if (tr->timer.fd < 0 || !tr->loop || !evloop_add(loop, &tr->timer)) {
        if (tr->loop)
            evloop_call(loop, stop_retrying, tr);
        if (tr->timer.fd >= 0)
            close(tr->timer.fd);
        free(tr);
        return NULL;
    }
    return tr;
}

struct stopping {
    struct triggers *tr;
    struct mqtt_client **clients; /* to stop off the loop, waiting for each */
    size_t count;
};

static void free_on_loop(void *arg)
{
    struct stopping *s = arg;
    struct triggers *tr = s->tr;
    evloop_remove(tr->loop, &tr->timer);
    stop_retrying(tr);
    while (tr->blocked) {
        struct delivery *d = tr->blocked;
        tr->blocked = d->next;
        delivery_release(d);
    }
    size_t n = 0;
    for (struct trigger *t = tr->list; t; t = t->next)
        n += t->mqtt != NULL;
    s->clients = calloc(n ? n : 1, sizeof(*s->clients));
    while (tr->list) {
        struct trigger *t = tr->list;
        tr->list = t->next;
        if (t->mqtt && s->clients) { /* stopped by triggers_free, which may wait */
            mqtt_set_owner(t->mqtt, NULL);
            s->clients[s->count++] = t->mqtt;
            t->mqtt = NULL;
        }
        trigger_free(t);
    }
}

void triggers_free(struct triggers *tr)
{
    if (!tr)
        return;
    struct stopping s = {.tr = tr};
    evloop_call(tr->loop, free_on_loop, &s);
    for (size_t i = 0; i < s.count; i++)
        mqtt_stop(s.clients[i], STOP_WAIT_MS);
    free(s.clients);
    close(tr->timer.fd);
    free(tr);
    mosquitto_lib_cleanup();
}

/* ---- changes (from any thread, run on the loop) ---- */

struct change {
    struct triggers *tr;
    const char *module, *function, *new_module, *new_name, *stored;
    int64_t last_fire_ms; /* triggers_restore's */
    cJSON *described;
};

/* Fires of `t` that fell between `last_fire_ms` and now: logged, never made up for. */
static void log_missed(const struct trigger *t, int64_t last_fire_ms, int64_t now)
{
    if (!last_fire_ms || t->mqtt)
        return;
    unsigned missed = 0;
    int64_t at = cron_next(&t->schedule, last_fire_ms);
    for (; at >= 0 && at <= now && missed < 100000; missed++)
        at = cron_next(&t->schedule, at);
    if (!missed)
        return;
    char since[32];
    fl_format_wall_ms(last_fire_ms, since);
    const cJSON *schedule = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(t->spec, "params"), "schedule");
    fl_log(FL_LOG_WARN, "cron_fires_missed", "function=%s/%s schedule=%s missed=%u since=%s",
           t->module, t->function, schedule ? schedule->valuestring : "", missed, since);
}

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

/* An mqtt event's subscription: a client of its own, its id the one given or one made from the
 * function's name and the event's place (stable, so that the broker keeps its session). */
static struct trigger *mqtt_trigger_from(struct triggers *tr, const char *module,
                                         const char *function, const cJSON *spec, int index)
{
    struct mqtt_params params;
    char why[256];
    struct trigger *t = calloc(1, sizeof(*t));
    if (!t || !mqtt_params_check(cJSON_GetObjectItemCaseSensitive(spec, "params"), &params, why,
                                 sizeof(why))) {
        free(t);
        return NULL;
    }
    if (!params.client_id[0])
        snprintf(params.client_id, sizeof(params.client_id), "funless/%s/%s/%d", module, function,
                 index);
    snprintf(t->module, sizeof(t->module), "%s", module);
    snprintf(t->function, sizeof(t->function), "%s", function);
    t->spec = cJSON_Duplicate(spec, true);
    t->next_ms = -1;
    if (!(t->mqtt = mqtt_start(&params, mqtt_message, tr))) {
        trigger_free(t);
        return NULL;
    }
    mqtt_set_owner(t->mqtt, t);
    return t;
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
    int index = 0;
    cJSON_ArrayForEach(spec, events)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(spec, "type");
        const char *kind = cJSON_IsString(type) ? type->valuestring : "";
        struct trigger *t = strcmp(kind, "cron") == 0
                                ? trigger_from(c->module, c->function, spec, now)
                            : strcmp(kind, "mqtt") == 0
                                ? mqtt_trigger_from(c->tr, c->module, c->function, spec, index)
                                : NULL;
        index++;
        if (!t) {
            fl_log(FL_LOG_WARN, "trigger_not_started", "function=%s/%s detail=%s", c->module,
                   c->function, "an event the store holds is not valid");
            continue;
        }
        log_missed(t, c->last_fire_ms, now);
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

void triggers_restore(struct triggers *tr, const char *module, const char *function,
                      const char *stored, int64_t last_fire_ms)
{
    struct change c = {.tr = tr,
                       .module = module,
                       .function = function,
                       .stored = stored,
                       .last_fire_ms = last_fire_ms};
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
    c->described = NULL; /* nothing allocated for a function without events: GET is hot */
    for (struct trigger *t = c->tr->list; t; t = t->next) {
        if (!is_function(t, c->module, c->function))
            continue;
        if (!c->described)
            c->described = cJSON_CreateArray();
        cJSON *d = elements_shown(t->spec);
        if (t->mqtt) {
            char detail[160];
            cJSON_AddStringToObject(d, "state", mqtt_state(t->mqtt, detail, sizeof(detail)));
            if (detail[0])
                cJSON_AddStringToObject(d, "detail", detail);
            cJSON_AddItemToArray(c->described, d);
            continue;
        }
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
