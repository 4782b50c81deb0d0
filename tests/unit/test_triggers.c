/*
 * Tests of src/core/triggers: cron expressions (every error path, when each kind of schedule
 * fires next, as tables) and the checking of FunLess's `events` field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/triggers/cron.h"
#include "core/elements.h"
#include "core/triggers/triggers.h"

/* "YYYY-MM-DD HH:MM" in UTC as ms since the epoch. */
static int64_t at(const char *text)
{
    struct tm tm = {0};
    if (sscanf(text, "%d-%d-%d %d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min) != 5)
        fail_msg("bad time %s", text);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000;
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *error;
    } rows[] = {
        {"", "5 fields"},
        {"* * * *", "5 fields"},
        {"* * * * * *", "5 fields"},
        {"60 * * * *", "minute"},
        {"* 24 * * *", "hour"},
        {"* * 0 * *", "day of the month"},
        {"* * 32 * *", "day of the month"},
        {"* * * 13 *", "month"},
        {"* * * * 8", "day of the week"},
        {"5-1 * * * *", "minute"},
        {"*/0 * * * *", "minute"},
        {"1,,2 * * * *", "minute"},
        {"a * * * *", "minute"},
        {"99999999999999999999 * * * *", "minute"},
        {"@every", "@every takes"},
        {"@every 0s", "@every takes"},
        {"@every 10", "@every takes"},
        {"@every 10d", "@every takes"},
        {"@every 25h", "at most 24h"},
        {"@sometimes", "@every 10s|5m|1h, @hourly"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct cron_schedule s;
        char detail[160] = "";
        if (cron_parse(rows[i].text, &s, detail, sizeof(detail)))
            fail_msg("'%s' was taken", rows[i].text);
        if (!strstr(detail, rows[i].error))
            fail_msg("'%s': '%s' does not say '%s'", rows[i].text, detail, rows[i].error);
    }
}

static void test_next(void **state)
{
    (void)state;
    static const struct {
        const char *schedule, *after, *next; /* next NULL: never */
    } rows[] = {
        {"* * * * *", "2026-12-05 10:00", "2026-12-05 10:01"},
        {"*/5 * * * *", "2026-12-05 10:03", "2026-12-05 10:05"},
        {"*/5 * * * *", "2026-12-05 10:55", "2026-12-05 11:00"},
        {"0 0 * * *", "2026-12-31 23:59", "2027-01-01 00:00"},
        {"30 2 * * 1", "2026-12-05 10:00", "2026-12-07 02:30"}, /* the next Monday */
        {"0 0 * * 7", "2026-12-05 10:00", "2026-12-06 00:00"},  /* 7 is Sunday */
        {"0 0 13 * 5", "2026-12-05 10:00", "2026-12-11 00:00"}, /* the 13th or a Friday */
        {"0 0 29 2 *", "2026-03-01 00:00", "2028-02-29 00:00"}, /* the next leap day */
        {"0 0 30 2 *", "2026-01-01 00:00", NULL},               /* never */
        {"15-17/2 8 * * *", "2026-12-05 08:15", "2026-12-05 08:17"},
        {"5/20 * * * *", "2026-12-05 08:06", "2026-12-05 08:25"},
        {"0 9 1 1,7 *", "2026-02-01 00:00", "2026-07-01 09:00"},
        {"@hourly", "2026-12-05 10:00", "2026-12-05 11:00"},
        {"@monthly", "2026-12-05 10:00", "2027-01-01 00:00"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct cron_schedule s;
        char detail[160];
        if (!cron_parse(rows[i].schedule, &s, detail, sizeof(detail)))
            fail_msg("'%s' refused: %s", rows[i].schedule, detail);
        int64_t next = cron_next(&s, at(rows[i].after));
        int64_t want = rows[i].next ? at(rows[i].next) : -1;
        if (next != want)
            fail_msg("'%s' after %s: %lld, not %lld", rows[i].schedule, rows[i].after,
                     (long long)next, (long long)want);
    }
    struct cron_schedule every;
    char detail[160];
    assert_true(cron_parse("@every 90s", &every, detail, sizeof(detail)));
    assert_int_equal(cron_next(&every, 1000), 91000);
    assert_true(cron_parse("@every 2h", &every, detail, sizeof(detail)));
    assert_int_equal(every.every_ms, 2 * 3600 * 1000);
}

static void test_check_events(void **state)
{
    (void)state;
    char *stored;
    cJSON *results;
    unsigned failed;
    char detail[256];
    assert_int_equal(triggers_check("{}", 2, &stored, &results, &failed, detail, sizeof(detail)),
                     FL_ERR_BAD_REQUEST);
    assert_int_equal(triggers_check("[", 1, &stored, &results, &failed, detail, sizeof(detail)),
                     FL_ERR_BAD_REQUEST);
    const char *events =
        "[{\"type\":\"cron\",\"params\":{\"schedule\":\"@every 5s\",\"args\":{\"a\":1},"
        "\"extra\":true}},"
        "{\"type\":\"cron\",\"params\":{\"schedule\":\"* * *\"}},"
        "{\"type\":\"cron\",\"params\":{\"schedule\":\"* * * * *\",\"args\":[1]}},"
        "{\"type\":\"mqtt\",\"params\":{\"host\":\"h\",\"port\":\"1883\",\"topic\":\"t/#\","
        "\"password\":\"p\"}},"
        "{\"type\":\"mqtt\",\"params\":{\"host\":\"h\",\"port\":70000,\"topic\":\"t\"}},"
        "{\"type\":\"mqtt\",\"params\":{\"host\":\"h;rm\",\"port\":1,\"topic\":\"t\"}},"
        "{\"type\":\"mqtt\",\"params\":{\"host\":\"h\",\"port\":1,\"topic\":\"a/#/b\"}},"
        "{\"type\":\"mqtt\",\"params\":{\"host\":\"h\",\"port\":1,\"topic\":\"t\",\"qos\":2}},"
        "{\"type\":\"cron\"},"
        "7]";
    assert_int_equal(
        triggers_check(events, strlen(events), &stored, &results, &failed, detail, sizeof(detail)),
        FL_OK);
    assert_int_equal(failed, 8);
    assert_int_equal(cJSON_GetArraySize(results), 10);
    /* only the valid elements are kept, normalised (unknown params dropped, the port a number) */
    assert_string_equal(stored,
                        "[{\"type\":\"cron\",\"params\":{\"schedule\":\"@every 5s\",\"args\":"
                        "{\"a\":1}}},{\"type\":\"mqtt\",\"params\":{\"host\":\"h\",\"port\":"
                        "1883,\"topic\":\"t/#\",\"qos\":0,\"password\":\"p\"}}]");
    char *shown = cJSON_PrintUnformatted(results);
    assert_non_null(strstr(shown, "{\"status\":\"success\"}"));
    assert_non_null(strstr(shown, "params.args must be a JSON object"));
    assert_non_null(strstr(shown, "params.port must be a port number"));
    assert_non_null(strstr(shown, "params.host must be a host name"));
    assert_non_null(strstr(shown, "params.topic must be a topic filter"));
    assert_non_null(strstr(shown, "params.qos must be 0 or 1"));
    cJSON *metadata = elements_metadata(results, failed);
    char *m = cJSON_PrintUnformatted(metadata);
    assert_string_equal(m, "{\"successful\":2,\"failed\":8,\"total\":10}");
    cJSON_free(m);
    cJSON_Delete(metadata);
    cJSON_free(shown);
    cJSON_Delete(results);
    free(stored);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_next),
        cmocka_unit_test(test_check_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
