#include "core/quota.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

static const char *const quota_keys[] = {"functions", "code_mb", "rate", "concurrent",
                                         "keep_hours"};
enum { QUOTA_KEYS = 5, QUOTA_VALUE_MAX = 1000000000, QUOTA_BUCKETS = 1024 };

static int64_t *quota_override_field(struct quota_override *o, int k)
{
    int64_t *fields[QUOTA_KEYS] = {&o->functions, &o->code_mb, &o->rate, &o->concurrent,
                                   &o->keep_hours};
    return fields[k];
}

static uint32_t *quota_limits_field(struct quota_limits *l, int k)
{
    uint32_t *fields[QUOTA_KEYS] = {&l->functions, &l->code_mb, &l->rate, &l->concurrent,
                                    &l->keep_hours};
    return fields[k];
}

static int quota_key_index(const char *key)
{
    for (int k = 0; k < QUOTA_KEYS; k++)
        if (strcmp(quota_keys[k], key) == 0)
            return k;
    return -1;
}

enum fl_err quota_parse(const char *json, struct quota_override *out, char *detail,
                        size_t detail_len)
{
    *out = (struct quota_override){-1, -1, -1, -1, -1};
    if (!json || !*json)
        return FL_OK;
    cJSON *root = cJSON_Parse(json);
    enum fl_err err = cJSON_IsObject(root) ? FL_OK
                                           : fl_fail(FL_ERR_BAD_REQUEST, detail, detail_len,
                                                     "a quota is a JSON object");
    const cJSON *item, *fields = err == FL_OK ? root : NULL;
    cJSON_ArrayForEach(item, fields)
    {
        int k = quota_key_index(item->string);
        if (k < 0) {
            err = fl_fail(FL_ERR_BAD_REQUEST, detail, detail_len,
                          "unknown quota '%.40s' (functions, code_mb, rate, concurrent, "
                          "keep_hours)",
                          item->string);
            break;
        }
        if (cJSON_IsNull(item))
            continue; /* back to the default */
        double v = cJSON_IsNumber(item) ? item->valuedouble : -1;
        if (v < 0 || v > QUOTA_VALUE_MAX || floor(v) != v) {
            err = fl_fail(FL_ERR_BAD_REQUEST, detail, detail_len,
                          "quota '%s' must be an integer from 0 (no limit) to %d, or null",
                          quota_keys[k], QUOTA_VALUE_MAX);
            break;
        }
        *quota_override_field(out, k) = (int64_t)v;
    }
    cJSON_Delete(root);
    return err;
}

char *quota_override_json(const struct quota_override *o)
{
    cJSON *root = cJSON_CreateObject();
    struct quota_override copy = *o;
    for (int k = 0; k < QUOTA_KEYS; k++)
        if (*quota_override_field(&copy, k) >= 0)
            cJSON_AddNumberToObject(root, quota_keys[k], (double)*quota_override_field(&copy, k));
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

cJSON *quota_limits_json(const struct quota_limits *limits)
{
    cJSON *root = cJSON_CreateObject();
    struct quota_limits copy = *limits;
    for (int k = 0; k < QUOTA_KEYS; k++)
        cJSON_AddNumberToObject(root, quota_keys[k], *quota_limits_field(&copy, k));
    return root;
}

struct quota_entry {
    struct quota_entry *next;
    struct quota_override override;
    double tokens;       /* the rate's bucket: at most `rate` */
    int64_t refilled_ns; /* when `tokens` was last brought up to date */
    uint32_t running;
    char subject[];
};

struct quotas {
    pthread_mutex_t lock;
    struct quota_limits defaults;
    struct quota_entry *buckets[QUOTA_BUCKETS];
};

struct quotas *quotas_new(const struct quota_limits *defaults)
{
    struct quotas *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    pthread_mutex_init(&q->lock, NULL);
    q->defaults = *defaults;
    return q;
}

void quotas_free(struct quotas *q)
{
    if (!q)
        return;
    for (size_t b = 0; b < QUOTA_BUCKETS; b++)
        for (struct quota_entry *e = q->buckets[b], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static size_t quota_bucket(const char *subject)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)subject; *c; c++)
        h = (h ^ *c) * 1099511628211ULL;
    return (size_t)(h % QUOTA_BUCKETS);
}

/* Under the lock: the subject's entry, made on first use when `create`. */
static struct quota_entry *quota_entry(struct quotas *q, const char *subject, bool create)
{
    struct quota_entry **head = &q->buckets[quota_bucket(subject)];
    for (struct quota_entry *e = *head; e; e = e->next)
        if (strcmp(e->subject, subject) == 0)
            return e;
    if (!create)
        return NULL;
    size_t len = strlen(subject) + 1;
    struct quota_entry *e = calloc(1, sizeof(*e) + len);
    if (!e)
        return NULL;
    memcpy(e->subject, subject, len);
    e->override = (struct quota_override){-1, -1, -1, -1, -1};
    e->tokens = -1; /* full at first use */
    e->next = *head;
    *head = e;
    return e;
}

static struct quota_limits quota_effective(const struct quotas *q, const struct quota_entry *e)
{
    struct quota_limits limits = q->defaults;
    if (!e)
        return limits;
    struct quota_override o = e->override;
    for (int k = 0; k < QUOTA_KEYS; k++)
        if (*quota_override_field(&o, k) >= 0)
            *quota_limits_field(&limits, k) = (uint32_t)*quota_override_field(&o, k);
    return limits;
}

bool quotas_set(struct quotas *q, const char *subject, const struct quota_override *o)
{
    pthread_mutex_lock(&q->lock);
    struct quota_entry *e = quota_entry(q, subject, true);
    if (e)
        e->override = *o;
    pthread_mutex_unlock(&q->lock);
    return e != NULL;
}

void quotas_remove(struct quotas *q, const char *subject)
{
    pthread_mutex_lock(&q->lock);
    for (struct quota_entry **at = &q->buckets[quota_bucket(subject)]; *at; at = &(*at)->next)
        if (strcmp((*at)->subject, subject) == 0) {
            struct quota_entry *gone = *at;
            *at = gone->next;
            free(gone);
            break;
        }
    pthread_mutex_unlock(&q->lock);
}

struct quota_limits quotas_limits(struct quotas *q, const char *subject)
{
    pthread_mutex_lock(&q->lock);
    struct quota_limits limits = quota_effective(q, quota_entry(q, subject, false));
    pthread_mutex_unlock(&q->lock);
    return limits;
}

/* Brings the bucket up to date; false when it holds no whole token. */
static bool quota_take_token(struct quota_entry *e, uint32_t rate, uint32_t *retry_after_s)
{
    int64_t now = (int64_t)fl_now_ns();
    if (e->tokens < 0 || e->tokens > rate)
        e->tokens = rate;
    else
        e->tokens += (double)(now - e->refilled_ns) * rate / 1e9;
    if (e->tokens > rate)
        e->tokens = rate;
    e->refilled_ns = now;
    if (e->tokens >= 1) {
        e->tokens -= 1;
        return true;
    }
    *retry_after_s = (uint32_t)ceil((1 - e->tokens) / rate);
    if (*retry_after_s == 0)
        *retry_after_s = 1;
    return false;
}

enum quota_verdict quota_admit(struct quotas *q, const char *subject, bool concurrent,
                               uint32_t *retry_after_s)
{
    enum quota_verdict verdict = QUOTA_OK;
    pthread_mutex_lock(&q->lock);
    struct quota_entry *e = quota_entry(q, subject, true);
    struct quota_limits limits = quota_effective(q, e);
    if (!e) {
        verdict = QUOTA_CONCURRENT; /* out of memory: refuse rather than count nothing */
    } else if (concurrent && limits.concurrent && e->running >= limits.concurrent) {
        verdict = QUOTA_CONCURRENT;
    } else if (limits.rate && !quota_take_token(e, limits.rate, retry_after_s)) {
        verdict = QUOTA_RATE;
    } else if (concurrent) {
        e->running++;
    }
    pthread_mutex_unlock(&q->lock);
    return verdict;
}

void quota_release(struct quotas *q, const char *subject)
{
    pthread_mutex_lock(&q->lock);
    struct quota_entry *e = quota_entry(q, subject, false);
    if (e && e->running > 0)
        e->running--;
    pthread_mutex_unlock(&q->lock);
}

uint32_t quota_running(struct quotas *q, const char *subject)
{
    pthread_mutex_lock(&q->lock);
    struct quota_entry *e = quota_entry(q, subject, false);
    uint32_t running = e ? e->running : 0;
    pthread_mutex_unlock(&q->lock);
    return running;
}
