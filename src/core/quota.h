/*
 * quota — what each subject may use (docs/tenants.md): functions, total code, invocations per
 * second (a token bucket holding one second's worth) and invocations at once, and how long its
 * activation records are kept. The admin sets a subject's own values; the Core's options give
 * the defaults; 0 is "no limit". Admins have none.
 *
 * The counting behind the rate and concurrency limits lives here, per subject, in a hash table:
 * an invocation asks quota_admit (O(1)) and gives its place back with quota_release.
 * Threading: a mutex inside, held for a few instructions.
 */
#ifndef FL_CORE_QUOTA_H
#define FL_CORE_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/err.h"

struct quota_limits {
    uint32_t functions;  /* functions in the modules it owns */
    uint32_t code_mb;    /* their code, in MiB */
    uint32_t rate;       /* invocations per second */
    uint32_t concurrent; /* invocations running at once */
    uint32_t keep_hours; /* activation records of its modules */
};

/* A subject's own values over the defaults: -1 where it has none (JSON null or absent). */
struct quota_override {
    int64_t functions, code_mb, rate, concurrent, keep_hours;
};

/* Parses {"functions":N, ...} (unknown keys, negative or non-integer values: FL_ERR_BAD_REQUEST
 * with the reason in `detail`); "{}" or NULL gives no override. */
enum fl_err quota_parse(const char *json, struct quota_override *out, char *detail,
                        size_t detail_len);
/* The override as stored JSON (caller frees). */
char *quota_override_json(const struct quota_override *o);
/* {"functions":N,...} of effective limits (0: none). */
cJSON *quota_limits_json(const struct quota_limits *limits);

struct quotas;

struct quotas *quotas_new(const struct quota_limits *defaults);
void quotas_free(struct quotas *q);

/* Sets (or replaces) a subject's override; the counts it has are kept. */
bool quotas_set(struct quotas *q, const char *subject, const struct quota_override *o);
void quotas_remove(struct quotas *q, const char *subject);
/* A subject's effective limits. */
struct quota_limits quotas_limits(struct quotas *q, const char *subject);

enum quota_verdict { QUOTA_OK, QUOTA_RATE, QUOTA_CONCURRENT };
/* One invocation by `subject`: QUOTA_OK takes a token and a place (give the place back with
 * quota_release); QUOTA_RATE sets `retry_after_s`. `concurrent` false: the call only counts
 * against the rate (asynchronous calls, which the queue bounds). */
enum quota_verdict quota_admit(struct quotas *q, const char *subject, bool concurrent,
                               uint32_t *retry_after_s);
void quota_release(struct quotas *q, const char *subject);
/* Invocations of `subject` running now. */
uint32_t quota_running(struct quotas *q, const char *subject);

#endif
