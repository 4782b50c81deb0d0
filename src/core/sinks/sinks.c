#include "core/sinks/sinks.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "core/activations.h"
#include "core/catalogue.h"
#include "core/db/db.h"
#include "core/elements.h"

enum {
    SENDERS = 2,           /* threads sending at once */
    ATTEMPTS = 4,          /* a send and three retries, */
    RETRY_FIRST_MS = 1000, /* 1 s, 2 s and 4 s later */
    SEND_TIMEOUT_MS = 10000,
    CONNECT_TIMEOUT_MS = 5000,
    URL_MAX = 2048,
    CREDENTIAL_MAX = 256,
    HEADERS_MAX = 32,
    HEADER_NAME_MAX = 64,
    HEADER_VALUE_MAX = 1024,
    TYPE_SHOWN_MAX = 32,
};

/* The outcomes of one call's sends: written on its activation once all are known. */
struct outcome {
    char id[ACTIVATION_ID_CHARS + 1];
    atomic_uint remaining;
    pthread_mutex_t lock;
    cJSON *results; /* an array, one element per sink, in order */
};

/* One send of one result to one sink. */
struct send {
    struct send *next;
    cJSON *sink; /* a copy of the stored element */
    char *body;
    struct outcome *outcome;
    int index; /* in outcome->results */
    unsigned attempt;
    uint64_t due_ms; /* monotonic */
};

/* A function's sinks. */
struct entry {
    struct entry *next;
    char module[FL_NAME_MAX + 1], function[FL_NAME_MAX + 1];
    cJSON *sinks; /* the stored array */
};

struct sinks {
    struct db *db;
    struct activations *activations;
    unsigned queue_max;
    pthread_t threads[SENDERS];
    unsigned started;
    pthread_mutex_t lock; /* guards the fields below */
    pthread_cond_t work;
    struct entry *entries;
    struct send *queue; /* by due time */
    unsigned queued;
    bool stopping;
    atomic_uint functions_with_sinks; /* the hot path's test, without the lock */
    atomic_uint_fast64_t delivered, failed, refused;
};

/* ---- checking an upload's sinks ---- */

static bool url_ok(const char *text)
{
    CURLU *url = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL;
    bool ok = url && strlen(text) <= URL_MAX &&
              curl_url_set(url, CURLUPART_URL, text, 0) == CURLUE_OK &&
              curl_url_get(url, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
              curl_url_get(url, CURLUPART_HOST, &host, 0) == CURLUE_OK && host[0] &&
              curl_url_get(url, CURLUPART_USER, &user, 0) != CURLUE_OK; /* no user:pass@ */
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_url_cleanup(url);
    return ok;
}

static bool header_ok(const char *name, const cJSON *value)
{
    size_t len = strlen(name);
    if (!len || len > HEADER_NAME_MAX ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
                     "QRSTUVWXYZ0123456789-_") != len)
        return false;
    return cJSON_IsString(value) && strlen(value->valuestring) <= HEADER_VALUE_MAX &&
           !strpbrk(value->valuestring, "\r\n");
}

static bool optional_string(const cJSON *params, const char *name, size_t max)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(params, name);
    return !item || (cJSON_IsString(item) && strlen(item->valuestring) <= max);
}

/* One element: its normalised copy, or NULL with the reason. */
static cJSON *check_element(const cJSON *element, char *why, size_t why_len)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(element, "type");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(element, "params");
    if (!cJSON_IsString(type) || !cJSON_IsObject(params)) {
        snprintf(why, why_len, "a sink is {\"type\":...,\"params\":{...}}");
        return NULL;
    }
    bool couchdb = strcmp(type->valuestring, "couchdb") == 0;
    if (!couchdb && strcmp(type->valuestring, "http") != 0) {
        snprintf(why, why_len, "unknown sink type '%.*s' (couchdb, http)", TYPE_SHOWN_MAX,
                 type->valuestring);
        return NULL;
    }
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(params, "url");
    if (!cJSON_IsString(url) || !url_ok(url->valuestring)) {
        snprintf(why, why_len,
                 "%s: params.url must be an http:// or https:// URL with a host, without "
                 "credentials (give username and password)",
                 type->valuestring);
        return NULL;
    }
    cJSON *kept = cJSON_CreateObject(), *kept_params = cJSON_CreateObject();
    cJSON_AddStringToObject(kept, "type", type->valuestring);
    cJSON_AddItemToObject(kept, "params", kept_params);
    cJSON_AddStringToObject(kept_params, "url", url->valuestring);
    if (couchdb) {
        if (!optional_string(params, "username", CREDENTIAL_MAX) ||
            !optional_string(params, "password", CREDENTIAL_MAX)) {
            snprintf(why, why_len, "couchdb: params.username and password are strings");
            cJSON_Delete(kept);
            return NULL;
        }
        const char *names[] = {"username", "password"};
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, names[i]);
            if (v)
                cJSON_AddStringToObject(kept_params, names[i], v->valuestring);
        }
        return kept;
    }
    const cJSON *headers = cJSON_GetObjectItemCaseSensitive(params, "headers");
    if (headers && (!cJSON_IsObject(headers) || cJSON_GetArraySize(headers) > HEADERS_MAX)) {
        snprintf(why, why_len, "http: params.headers must be an object of at most %d headers",
                 HEADERS_MAX);
        cJSON_Delete(kept);
        return NULL;
    }
    const cJSON *h;
    cJSON_ArrayForEach(h, headers)
    {
        if (!header_ok(h->string, h)) {
            snprintf(why, why_len,
                     "http: a header is a name of letters, digits, - and _ and a string value "
                     "without line breaks");
            cJSON_Delete(kept);
            return NULL;
        }
    }
    if (headers)
        cJSON_AddItemToObject(kept_params, "headers", cJSON_Duplicate(headers, true));
    return kept;
}

enum fl_err sinks_check(const char *json, size_t len, char **stored, cJSON **results,
                        unsigned *failed, char *detail, size_t detail_len)
{
    return elements_check(json, len, "sinks", check_element, stored, results, failed, detail,
                          detail_len);
}

/* ---- the registry ---- */

static bool is_function(const struct entry *e, const char *module, const char *function)
{
    return strcmp(e->module, module) == 0 && (!function || strcmp(e->function, function) == 0);
}

/* Under the lock: removes the function's entry (every one of the module's when NULL). */
static void remove_entries(struct sinks *s, const char *module, const char *function)
{
    for (struct entry **slot = &s->entries; *slot;) {
        struct entry *e = *slot;
        if (is_function(e, module, function)) {
            *slot = e->next;
            cJSON_Delete(e->sinks);
            free(e);
            atomic_fetch_sub(&s->functions_with_sinks, 1);
        } else {
            slot = &e->next;
        }
    }
}

void sinks_set(struct sinks *s, const char *module, const char *function, const char *stored)
{
    cJSON *list = cJSON_Parse(stored);
    struct entry *e = cJSON_GetArraySize(list) > 0 ? calloc(1, sizeof(*e)) : NULL;
    if (e) {
        snprintf(e->module, sizeof(e->module), "%s", module);
        snprintf(e->function, sizeof(e->function), "%s", function);
        e->sinks = list;
    } else {
        cJSON_Delete(list);
    }
    pthread_mutex_lock(&s->lock);
    remove_entries(s, module, function);
    if (e) {
        e->next = s->entries;
        s->entries = e;
        atomic_fetch_add(&s->functions_with_sinks, 1);
    }
    pthread_mutex_unlock(&s->lock);
}

/* The function's entry (every one of the module's when `function` is NULL) gets the new module
 * or name given; neither given: it is removed. */
static void rename_entries(struct sinks *s, const char *module, const char *function,
                           const char *new_module, const char *new_name)
{
    pthread_mutex_lock(&s->lock);
    if (!new_module && !new_name)
        remove_entries(s, module, function);
    for (struct entry *e = s->entries; (new_module || new_name) && e; e = e->next) {
        if (!is_function(e, module, function))
            continue;
        if (new_module)
            snprintf(e->module, sizeof(e->module), "%s", new_module);
        if (new_name)
            snprintf(e->function, sizeof(e->function), "%s", new_name);
    }
    pthread_mutex_unlock(&s->lock);
}

void sinks_rename(struct sinks *s, const char *module, const char *function, const char *new_name)
{
    rename_entries(s, module, function, NULL, new_name);
}

void sinks_rename_module(struct sinks *s, const char *module, const char *new_module)
{
    rename_entries(s, module, NULL, new_module, NULL);
}

/* Under the lock: the function's stored sinks, or NULL. */
static const cJSON *sinks_of(struct sinks *s, const char *module, const char *function)
{
    for (struct entry *e = s->entries; e; e = e->next)
        if (is_function(e, module, function))
            return e->sinks;
    return NULL;
}

cJSON *sinks_describe(struct sinks *s, const char *module, const char *function)
{
    if (!atomic_load(&s->functions_with_sinks))
        return NULL;
    pthread_mutex_lock(&s->lock);
    const cJSON *list = sinks_of(s, module, function), *sink;
    cJSON *shown = list ? cJSON_CreateArray() : NULL;
    cJSON_ArrayForEach(sink, list)
    {
        cJSON_AddItemToArray(shown, elements_shown(sink));
    }
    pthread_mutex_unlock(&s->lock);
    return shown;
}

/* ---- sending ---- */

/* Under the lock: into the queue, ordered by due time. */
static void queue_send(struct sinks *s, struct send *d)
{
    struct send **slot = &s->queue;
    while (*slot && (*slot)->due_ms <= d->due_ms)
        slot = &(*slot)->next;
    d->next = *slot;
    *slot = d;
    s->queued++;
    pthread_cond_signal(&s->work);
}

static void outcome_write(struct sinks *s, struct outcome *o)
{
    char *json = cJSON_PrintUnformatted(o->results);
    char detail[256];
    /* the call's own record first: a send can end before the writer's next batch */
    if (json && activations_sync(s->activations, detail, sizeof(detail)) == FL_OK &&
        s->db->ops->activation_sinks(s->db, o->id, json, detail, sizeof(detail)) != FL_OK)
        fl_log(FL_LOG_WARN, "sink_outcome_not_written", "request=%s detail=%s", o->id, detail);
    cJSON_free(json);
    cJSON_Delete(o->results);
    pthread_mutex_destroy(&o->lock);
    free(o);
}

/* The send is over (delivered, given up or refused): its outcome goes in; the last one of its
 * call writes them all on the activation. */
enum send_end { SENT, GIVEN_UP, REFUSED };

static void send_done(struct sinks *s, struct send *d, enum send_end end, long http_status,
                      const char *detail)
{
    bool delivered = end == SENT;
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(d->sink, "params");
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "type",
                            cJSON_GetObjectItemCaseSensitive(d->sink, "type")->valuestring);
    cJSON_AddStringToObject(r, "url", cJSON_GetObjectItemCaseSensitive(params, "url")->valuestring);
    cJSON_AddStringToObject(r, "status", delivered ? "delivered" : "failed");
    cJSON_AddNumberToObject(r, "attempts", d->attempt);
    if (http_status)
        cJSON_AddNumberToObject(r, "http_status", (double)http_status);
    if (!delivered && detail)
        cJSON_AddStringToObject(r, "detail", detail);
    atomic_fetch_add(end == SENT ? &s->delivered : end == REFUSED ? &s->refused : &s->failed, 1);
    struct outcome *o = d->outcome;
    pthread_mutex_lock(&o->lock);
    cJSON_ReplaceItemInArray(o->results, d->index, r);
    pthread_mutex_unlock(&o->lock);
    if (atomic_fetch_sub(&o->remaining, 1) == 1)
        outcome_write(s, o);
    cJSON_Delete(d->sink);
    free(d->body);
    free(d);
}

static size_t discard(char *data, size_t size, size_t count, void *arg)
{
    (void)data;
    (void)arg;
    return size * count; /* the answer's body is not kept */
}

/* One attempt; true when the sink answered 2xx. */
static bool send_once(struct send *d, long *http_status, char *detail, size_t detail_len)
{
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(d->sink, "params");
    const char *url = cJSON_GetObjectItemCaseSensitive(params, "url")->valuestring;
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(params, "username");
    const cJSON *pass = cJSON_GetObjectItemCaseSensitive(params, "password");
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    const cJSON *h;
    cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(params, "headers"))
    {
        char line[HEADER_NAME_MAX + HEADER_VALUE_MAX + 4];
        snprintf(line, sizeof(line), "%s: %s", h->string, h->valuestring);
        headers = curl_slist_append(headers, line);
    }
    *http_status = 0;
    CURLcode rc = CURLE_OUT_OF_MEMORY;
    if (curl && headers) {
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, d->body);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)SEND_TIMEOUT_MS);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
        if (cJSON_IsString(user)) { /* couchdb: HTTP basic authentication */
            curl_easy_setopt(curl, CURLOPT_USERNAME, user->valuestring);
            curl_easy_setopt(curl, CURLOPT_PASSWORD, cJSON_IsString(pass) ? pass->valuestring : "");
        }
        rc = curl_easy_perform(curl);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, http_status);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
        snprintf(detail, detail_len, "%s", curl_easy_strerror(rc));
        return false;
    }
    if (*http_status < 200 || *http_status > 299) {
        snprintf(detail, detail_len, "the sink answered %ld", *http_status);
        return false;
    }
    return true;
}

static void *sender_main(void *arg)
{
    struct sinks *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        struct send *d = s->queue;
        uint64_t now = fl_now_ms();
        if (!d || d->due_ms > now) {
            struct timespec until = fl_deadline_in(d ? d->due_ms - now : 1000);
            pthread_cond_clockwait(&s->work, &s->lock, CLOCK_MONOTONIC, &until);
            continue;
        }
        s->queue = d->next;
        s->queued--;
        pthread_mutex_unlock(&s->lock);
        d->attempt++;
        long http_status;
        char detail[160];
        bool delivered = send_once(d, &http_status, detail, sizeof(detail));
        if (delivered || d->attempt >= ATTEMPTS) {
            send_done(s, d, delivered ? SENT : GIVEN_UP, http_status, detail);
            pthread_mutex_lock(&s->lock);
        } else { /* again, after a pause twice as long as the last one */
            d->due_ms = fl_now_ms() + ((uint64_t)RETRY_FIRST_MS << (d->attempt - 1));
            pthread_mutex_lock(&s->lock);
            queue_send(s, d);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* The body a sink gets: couchdb the result itself (a document), http a webhook's envelope. */
static char *body_for(const cJSON *sink, const char *module, const char *function, const char *id,
                      const char *result, size_t result_len)
{
    if (strcmp(cJSON_GetObjectItemCaseSensitive(sink, "type")->valuestring, "couchdb") == 0)
        return strndup(result, result_len);
    cJSON *envelope = cJSON_CreateObject();
    cJSON_AddStringToObject(envelope, "activation_id", id);
    cJSON_AddStringToObject(envelope, "module", module);
    cJSON_AddStringToObject(envelope, "function", function);
    cJSON *parsed = cJSON_ParseWithLength(result, result_len);
    cJSON_AddItemToObject(envelope, "result", parsed ? parsed : cJSON_CreateNull());
    char *body = cJSON_PrintUnformatted(envelope);
    cJSON_Delete(envelope);
    return body;
}

void sinks_deliver(struct sinks *s, const char *module, const char *function,
                   const char *activation_id, const char *result, size_t result_len)
{
    if (!s || !atomic_load(&s->functions_with_sinks)) /* the common case: no lock taken */
        return;
    pthread_mutex_lock(&s->lock);
    const cJSON *list = sinks_of(s, module, function);
    cJSON *copy = list ? cJSON_Duplicate(list, true) : NULL;
    pthread_mutex_unlock(&s->lock);
    int count = cJSON_GetArraySize(copy);
    struct outcome *o = count ? calloc(1, sizeof(*o)) : NULL;
    if (!o) {
        cJSON_Delete(copy);
        return;
    }
    snprintf(o->id, sizeof(o->id), "%s", activation_id);
    atomic_init(&o->remaining, (unsigned)count);
    pthread_mutex_init(&o->lock, NULL);
    o->results = cJSON_CreateArray();
    for (int i = 0; i < count; i++)
        cJSON_AddItemToArray(o->results, cJSON_CreateNull());
    for (int i = 0; i < count; i++) {
        struct send *d = calloc(1, sizeof(*d));
        if (!d) { /* out of memory: this one is not sent */
            if (atomic_fetch_sub(&o->remaining, 1) == 1)
                outcome_write(s, o);
            continue;
        }
        d->sink = cJSON_Duplicate(cJSON_GetArrayItem(copy, i), true);
        d->body = body_for(d->sink, module, function, activation_id, result, result_len);
        d->outcome = o;
        d->index = i;
        d->due_ms = fl_now_ms();
        pthread_mutex_lock(&s->lock);
        bool room = s->queued < s->queue_max && !s->stopping;
        if (room)
            queue_send(s, d);
        pthread_mutex_unlock(&s->lock);
        if (!room)
            send_done(s, d, REFUSED, 0, "too many sends waiting (the sinks are slow or down)");
    }
    cJSON_Delete(copy);
}

/* ---- start and stop ---- */

struct sinks *sinks_start(struct db *db, struct activations *activations, unsigned queue_max)
{
    /* no curl_global_init here: the first curl_easy_init does it (thread-safe since libcurl
     * 7.84, Debian 12 has 7.88), so a Core that never sends pays nothing for it — it starts
     * OpenSSL, 3 MB of RSS */
    struct sinks *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->db = db;
    s->activations = activations;
    s->queue_max = queue_max;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->work, NULL);
    for (; s->started < SENDERS; s->started++)
        if (pthread_create(&s->threads[s->started], NULL, sender_main, s) != 0)
            break;
    if (s->started == 0) {
        sinks_stop(s);
        return NULL;
    }
    return s;
}

void sinks_stop(struct sinks *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->lock);
    for (unsigned i = 0; i < s->started; i++)
        pthread_join(s->threads[i], NULL);
    while (s->queue) { /* not sent: their outcomes are not written either */
        struct send *d = s->queue;
        s->queue = d->next;
        if (atomic_fetch_sub(&d->outcome->remaining, 1) == 1) {
            cJSON_Delete(d->outcome->results);
            pthread_mutex_destroy(&d->outcome->lock);
            free(d->outcome);
        }
        cJSON_Delete(d->sink);
        free(d->body);
        free(d);
    }
    while (s->entries) {
        struct entry *e = s->entries;
        s->entries = e->next;
        cJSON_Delete(e->sinks);
        free(e);
    }
    pthread_cond_destroy(&s->work);
    pthread_mutex_destroy(&s->lock);
    free(s); /* libcurl's global state stays: other threads (the Prometheus source) may use it */
}

void sinks_counts(struct sinks *s, uint64_t *delivered, uint64_t *failed, uint64_t *refused)
{
    *delivered = s ? atomic_load(&s->delivered) : 0;
    *failed = s ? atomic_load(&s->failed) : 0;
    *refused = s ? atomic_load(&s->refused) : 0;
}
