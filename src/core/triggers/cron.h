/*
 * cron — when a cron trigger fires (docs/triggers.md): a 5-field cron expression in UTC
 * ("minute hour day-of-month month day-of-week", each `*`, a number, `a-b`, a list with `,`
 * and a step with `/n`; day-of-week 0-7, 0 and 7 both Sunday; when both day fields are
 * restricted, a day matching either fires, as in every cron), or `@every N` with a unit of
 * s, m or h (at least 1 s, at most 24 h), or `@hourly`, `@daily`, `@weekly`, `@monthly`,
 * `@yearly`. Pure functions: no clock, no allocation.
 */
#ifndef FL_CORE_TRIGGERS_CRON_H
#define FL_CORE_TRIGGERS_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cron_schedule {
    uint64_t every_ms;         /* @every: the period; 0 for a cron expression */
    uint64_t minutes;          /* bit n: minute n (0-59) */
    uint32_t hours;            /* bit n: hour n (0-23) */
    uint32_t days;             /* bit n: day of the month n (1-31) */
    uint16_t months;           /* bit n: month n (1-12) */
    uint8_t weekdays;          /* bit n: day of the week n (0-6, Sunday 0) */
    bool any_day, any_weekday; /* the field was `*` (day matching: see above) */
};

/* Parses `text`; false with the reason in `detail`. */
bool cron_parse(const char *text, struct cron_schedule *out, char *detail, size_t detail_len);

/* The first time (ms since the epoch, UTC) after `after_ms` that the schedule fires; for
 * @every, `after_ms` + the period. -1 when it never fires (e.g. February 30th). */
int64_t cron_next(const struct cron_schedule *schedule, int64_t after_ms);

#endif
