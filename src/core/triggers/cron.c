#include "core/triggers/cron.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

enum { MAX_EVERY_MS = 24 * 3600 * 1000, SEARCH_YEARS = 8 };

struct field {
    const char *name;
    unsigned low, high;
};

static const struct field fields[5] = {
    {"minute", 0, 59}, {"hour", 0, 23},           {"day of the month", 1, 31},
    {"month", 1, 12},  {"day of the week", 0, 7},
};

/* A number in [low, high] at *p; advances *p. */
static bool parse_number(const char **p, unsigned low, unsigned high, unsigned *out)
{
    if (!isdigit((unsigned char)**p))
        return false;
    unsigned long value = 0;
    while (isdigit((unsigned char)**p) && value <= high)
        value = value * 10 + (unsigned)(*(*p)++ - '0');
    if (isdigit((unsigned char)**p) || value < low || value > high)
        return false;
    *out = (unsigned)value;
    return true;
}

/* One comma-separated element: `*`, `n`, `a-b`, each optionally `/step`. */
static bool parse_element(const char **p, const struct field *f, uint64_t *bits)
{
    unsigned from = f->low, to = f->high, step = 1;
    if (**p == '*') {
        (*p)++;
    } else {
        if (!parse_number(p, f->low, f->high, &from))
            return false;
        to = from;
        if (**p == '-') {
            (*p)++;
            if (!parse_number(p, f->low, f->high, &to) || to < from)
                return false;
        }
    }
    if (**p == '/') {
        (*p)++;
        if (!parse_number(p, 1, f->high + 1, &step))
            return false;
        if (from == to) /* `5/15`: from 5 to the end, as in Vixie cron */
            to = f->high;
    }
    for (unsigned v = from; v <= to; v += step)
        *bits |= 1ULL << v;
    return true;
}

static bool parse_field(const char *text, size_t len, const struct field *f, uint64_t *bits,
                        bool *any)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    *any = strcmp(buf, "*") == 0;
    *bits = 0;
    const char *p = buf;
    for (;;) {
        if (!parse_element(&p, f, bits))
            return false;
        if (*p == '\0')
            return true;
        if (*p++ != ',')
            return false;
    }
}

static bool parse_every(const char *text, struct cron_schedule *out, char *detail,
                        size_t detail_len)
{
    const char *p = text + strlen("@every");
    while (*p == ' ')
        p++;
    unsigned number;
    if (!parse_number(&p, 1, MAX_EVERY_MS / 1000, &number) ||
        (strcmp(p, "s") != 0 && strcmp(p, "m") != 0 && strcmp(p, "h") != 0)) {
        snprintf(detail, detail_len, "@every takes a whole number and a unit: 10s, 5m or 1h");
        return false;
    }
    uint64_t unit = *p == 's' ? 1000 : *p == 'm' ? 60000 : 3600000;
    out->every_ms = (uint64_t)number * unit;
    if (out->every_ms > MAX_EVERY_MS) {
        snprintf(detail, detail_len, "@every is at most 24h");
        return false;
    }
    return true;
}

bool cron_parse(const char *text, struct cron_schedule *out, char *detail, size_t detail_len)
{
    static const struct {
        const char *name, *expression;
    } macros[] = {{"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
                  {"@weekly", "0 0 * * 0"},  {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
                  {"@annually", "0 0 1 1 *"}};
    memset(out, 0, sizeof(*out));
    if (strncmp(text, "@every", strlen("@every")) == 0)
        return parse_every(text, out, detail, detail_len);
    for (size_t i = 0; i < ARRAY_SIZE(macros); i++)
        if (strcmp(text, macros[i].name) == 0)
            text = macros[i].expression;
    if (text[0] == '@') {
        snprintf(detail, detail_len,
                 "a schedule starting with @ is @every 10s|5m|1h, @hourly, "
                 "@daily, @weekly, @monthly or @yearly");
        return false;
    }
    uint64_t bits[5];
    bool any[5];
    const char *p = text;
    for (int i = 0; i < 5; i++) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len == 0) {
            snprintf(detail, detail_len,
                     "a schedule is 5 fields (minute hour day month weekday) or @every 10s");
            return false;
        }
        if (!parse_field(p, len, &fields[i], &bits[i], &any[i])) {
            snprintf(detail, detail_len, "the %s field is not valid (%d to %d, *, a-b, a,b, /n)",
                     fields[i].name, fields[i].low, fields[i].high);
            return false;
        }
        p += len;
    }
    while (*p == ' ')
        p++;
    if (*p) {
        snprintf(detail, detail_len,
                 "a schedule is 5 fields (minute hour day month weekday) or @every 10s");
        return false;
    }
    out->minutes = bits[0];
    out->hours = (uint32_t)bits[1];
    out->days = (uint32_t)bits[2];
    out->months = (uint16_t)bits[3];
    out->weekdays = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f); /* 7 is Sunday too */
    out->any_day = any[2];
    out->any_weekday = any[4];
    return true;
}

static bool day_matches(const struct cron_schedule *s, const struct tm *tm)
{
    bool day = s->days & (1U << tm->tm_mday), weekday = s->weekdays & (1U << tm->tm_wday);
    if (s->any_day || s->any_weekday) /* one of them `*`: the other decides */
        return day && weekday;
    return day || weekday; /* both restricted: either, as in every cron */
}

int64_t cron_next(const struct cron_schedule *s, int64_t after_ms)
{
    if (s->every_ms)
        return after_ms + (int64_t)s->every_ms;
    time_t t = (time_t)(after_ms / 60000 + 1) * 60; /* the next whole minute */
    struct tm tm;
    gmtime_r(&t, &tm);
    int last_year = tm.tm_year + SEARCH_YEARS;
    while (tm.tm_year <= last_year) {
        if (!(s->months & (1U << (tm.tm_mon + 1)))) { /* the first day of the next month */
            tm.tm_mon++;
            tm.tm_mday = 1;
            tm.tm_hour = tm.tm_min = 0;
        } else if (!day_matches(s, &tm)) {
            tm.tm_mday++;
            tm.tm_hour = tm.tm_min = 0;
        } else if (!(s->hours & (1U << tm.tm_hour))) {
            tm.tm_hour++;
            tm.tm_min = 0;
        } else if (!(s->minutes & (1ULL << tm.tm_min))) {
            tm.tm_min++;
        } else {
            return (int64_t)timegm(&tm) * 1000;
        }
        t = timegm(&tm); /* normalises: the 32nd is the 1st of the next month */
        gmtime_r(&t, &tm);
    }
    return -1;
}
