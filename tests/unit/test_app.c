/*
 * Tests of src/core/app: the APP parser (every error path, the normalised
 * form) and the choice of a Worker, as tables — one row per rule of APP.md.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/app/app.h"
#include "core/app/scripts.h"

#define MB ((uint64_t)1 << 20)

static struct app_script *parse_ok(const char *yaml)
{
    struct app_script *script = NULL;
    char detail[256] = "";
    enum fl_err err = app_parse(yaml, strlen(yaml), &script, detail, sizeof(detail));
    if (err != FL_OK)
        fail_msg("script refused: %s\n%s", detail, yaml);
    return script;
}

/* ---- the parser ---- */

struct parse_row {
    const char *yaml;
    const char *error; /* a substring of the message */
};

static const struct parse_row parse_errors[] = {
    {"- a: [", "line 2: did not find expected node content"}, /* at the end of the text */
    {"", "line 1: the script is empty"},
    {"a: b\n", "line 1: a script must be a non-empty list of tags"},
    {"[]\n", "a script must be a non-empty list of tags"},
    {"- just_a_word\n", "line 1: each element must be a map of one tag"},
    {"- a:\n  - workers: '*'\n  b:\n  - workers: '*'\n", "line 3: each element must be a map of "
                                                         "one tag to its blocks, and optionally "
                                                         "followup (found 'b' too)"},
    {"- followup: fail\n", "line 1: followup without a tag"},
    {"- a-b:\n  - workers: '*'\n", "line 1: tag name 'a-b' is not a name"},
    {"- a:\n  - workers: '*'\n- a:\n  - workers: '*'\n", "line 3: tag a is defined twice"},
    {"- a:\n  - workers: '*'\n  followup: maybe\n",
     "tag a, line 3: unknown followup 'maybe' (default or fail)"},
    {"- a: 3\n", "tag a, line 1: a tag's value must be a non-empty list of blocks"},
    {"- a: []\n", "tag a, line 1: a tag's value must be a non-empty list"},
    {"- a:\n  - 3\n", "tag a, block 1, line 2: a block must be a map"},
    {"- gpu:\n  - workers: '*'\n  - workers: [w1]\n    strateg: random\n",
     "tag gpu, block 2, line 4: unknown key 'strateg' (workers, strategy, invalidate, affinity)"},
    {"- a:\n  - strategy: random\n", "tag a, block 1, line 2: workers is missing"},
    {"- a:\n  - workers: []\n", "workers must be a non-empty list"},
    {"- a:\n  - workers: ['*', w1]\n", "workers is either \"*\" or a list of names, not both"},
    {"- a:\n  - workers: [[w1]]\n", "workers must list names"},
    {"- a:\n  - workers: ''\n", "a Worker name must have 1 to 255 characters"},
    {"- a:\n  - workers: '*'\n    strategy: fastest\n",
     "line 3: unknown strategy 'fastest' (best-first, random or platform)"},
    {"- a:\n  - workers: '*'\n    strategy: [random]\n", "unknown strategy '(not a word)'"},
    {"- a:\n  - workers: '*'\n    invalidate: 50\n", "invalidate must be a map"},
    {"- a:\n  - workers: '*'\n    invalidate:\n      capacity_used: 150%\n",
     "line 4: capacity_used must be a percentage from 0 to 100"},
    {"- a:\n  - workers: '*'\n    invalidate:\n      capacity_used: half\n", "percentage"},
    {"- a:\n  - workers: '*'\n    invalidate:\n      capacity_used: -5%\n", "percentage"},
    {"- a:\n  - workers: '*'\n    invalidate:\n      capacity_used: 50%%\n", "percentage"},
    {"- a:\n  - workers: '*'\n    invalidate:\n      max_concurrent_invocations: -1\n",
     "max_concurrent_invocations must be a whole number from 0 to 1000000"},
    {"- a:\n  - workers: '*'\n    invalidate:\n      max_concurrent_invocations: 1.5\n",
     "whole number"},
    {"- a:\n  - workers: '*'\n    invalidate:\n      max_concurrent_invocations: 99999999\n",
     "whole number"},
    {"- a:\n  - workers: '*'\n    invalidate:\n      memory: 3\n",
     "unknown invalidate key 'memory'"},
    {"- a:\n  - workers: '*'\n    affinity: [b, '!']\n", "affinity entry '!' is not a tag or !tag"},
    {"- a:\n  - workers: '*'\n    affinity: [x-y]\n", "affinity entry 'x-y'"},
    {"- a:\n  - workers: '*'\n    workers: [w1]\n", "line 3: key 'workers' appears twice"},
    {"- a:\n  - workers: '*'\n    ? [k]\n    : v\n", "a block's keys must be words"},
};

static void test_parse_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(parse_errors) / sizeof(parse_errors[0]); i++) {
        const struct parse_row *row = &parse_errors[i];
        struct app_script *script = NULL;
        char detail[256] = "";
        enum fl_err err = app_parse(row->yaml, strlen(row->yaml), &script, detail, sizeof(detail));
        if (err != FL_ERR_INVALID_NAME || script || !strstr(detail, row->error))
            fail_msg("row %zu: err %d, detail \"%s\", wanted \"%s\"", i, err, detail, row->error);
    }
}

static void expect_normalised(const char *yaml, const char *json)
{
    struct app_script *script = parse_ok(yaml);
    cJSON *normalised = app_to_json(script);
    char *text = cJSON_PrintUnformatted(normalised);
    assert_string_equal(text, json);
    free(text);
    cJSON_Delete(normalised);
    app_release(script);
}

static void test_parse_normalised(void **state)
{
    (void)state;
    /* APP.md's example, comments and all */
    expect_normalised(
        "- gpu_jobs:                        # tag name\n"
        "  - workers: [w_gpu1, w_gpu2]\n"
        "    strategy: best-first\n"
        "    invalidate:\n"
        "      capacity_used: 50%\n"
        "      max_concurrent_invocations: 3\n"
        "  - workers: \"*\"\n"
        "    strategy: random\n"
        "  followup: default\n"
        "- default:\n"
        "  - workers: \"*\"\n"
        "    strategy: platform\n",
        "{\"tags\":{\"gpu_jobs\":{\"blocks\":[{\"workers\":[\"w_gpu1\",\"w_gpu2\"],\"strategy\":"
        "\"best-first\",\"invalidate\":{\"capacity_used\":50,\"max_concurrent_invocations\":3},"
        "\"affinity\":{\"affinity\":[],\"antiaffinity\":[]}},{\"workers\":\"*\",\"strategy\":"
        "\"random\",\"invalidate\":{\"capacity_used\":\"infinity\",\"max_concurrent_invocations\":"
        "\"infinity\"},\"affinity\":{\"affinity\":[],\"antiaffinity\":[]}}],"
        "\"followup\":\"default\"},\"default\":{\"blocks\":[{\"workers\":\"*\",\"strategy\":"
        "\"platform\",\"invalidate\":{\"capacity_used\":\"infinity\",\"max_concurrent_"
        "invocations\":\"infinity\"},\"affinity\":{\"affinity\":[],\"antiaffinity\":[]}}],"
        "\"followup\":\"fail\"}}}");
    /* a plain number as OpenWhisk's APP writes it; one Worker name without a list; affinity */
    expect_normalised("- t:\n  - workers: w1\n    invalidate: {capacity_used: 12.5}\n"
                      "    affinity: [a, '!b']\n",
                      "{\"tags\":{\"t\":{\"blocks\":[{\"workers\":[\"w1\"],\"strategy\":\"best-"
                      "first\",\"invalidate\":{\"capacity_used\":12.5,\"max_concurrent_"
                      "invocations\":\"infinity\"},\"affinity\":{\"affinity\":"
                      "[\"a\"],\"antiaffinity\":[\"b\"]}}],\"followup\":\"fail\"}}}");
}

/* ---- the choice ---- */

struct worker_row {
    const char *name;
    unsigned free_mb, total_mb, in_flight;
    const char *tags; /* comma-separated, NULL: none */
    bool excluded;
};

struct select_row {
    const char *rule;
    const char *yaml;
    const char *tag;
    unsigned capacity_mb;
    struct worker_row workers[4]; /* sorted by name; ends at a NULL name */
    uint64_t random;
    const char *chosen; /* NULL: an error containing `error` */
    const char *error;
};

#define ALL_W "- t:\n  - workers: '*'\n"

static const struct select_row select_rows[] = {
    {"best-first: the first valid in block order",
     "- t:\n  - workers: [w2, w1]\n",
     "t",
     64,
     {{"w1", 900, 1024}, {"w2", 200, 1024}},
     0,
     "w2",
     NULL},
    {"best-first is the default strategy; '*' walks in name order",
     ALL_W,
     "t",
     64,
     {{"a", 100, 1024}, {"b", 900, 1024}},
     5,
     "a",
     NULL},
    {"free memory must hold the capacity",
     "- t:\n  - workers: [w2, w1]\n",
     "t",
     64,
     {{"w1", 900, 1024}, {"w2", 32, 1024}},
     0,
     "w1",
     NULL},
    {"unknown Worker names are skipped",
     "- t:\n  - workers: [ghost, w1]\n",
     "t",
     64,
     {{"w1", 900, 1024}},
     0,
     "w1",
     NULL},
    {"random: uniform among the valid (random 0)",
     ALL_W "    strategy: random\n",
     "t",
     64,
     {{"a", 900, 1024}, {"b", 10, 1024}, {"c", 900, 1024}},
     0,
     "a",
     NULL},
    {"random: uniform among the valid (random 1)",
     ALL_W "    strategy: random\n",
     "t",
     64,
     {{"a", 900, 1024}, {"b", 10, 1024}, {"c", 900, 1024}},
     1,
     "c",
     NULL},
    {"random: uniform among the valid (random 2)",
     ALL_W "    strategy: random\n",
     "t",
     64,
     {{"a", 900, 1024}, {"b", 10, 1024}, {"c", 900, 1024}},
     2,
     "a",
     NULL},
    {"platform: the most free memory",
     ALL_W "    strategy: platform\n",
     "t",
     64,
     {{"a", 300, 1024}, {"b", 900, 1024}, {"c", 500, 1024}},
     0,
     "b",
     NULL},
    {"platform: equal memory goes to the fewest in flight",
     ALL_W "    strategy: platform\n",
     "t",
     64,
     {{"a", 900, 1024, 3}, {"b", 900, 1024, 1}, {"c", 900, 1024, 2}},
     0,
     "b",
     NULL},
    {"capacity_used: 50% keeps a Worker that stays under half",
     ALL_W "    invalidate: {capacity_used: 50%}\n",
     "t",
     64,
     {{"a", 500, 1024}, {"b", 600, 1024}},
     0,
     "b",
     NULL},
    {"capacity_used: 50 (plain number) is the same rule",
     ALL_W "    invalidate: {capacity_used: 50}\n",
     "t",
     64,
     {{"a", 500, 1024}, {"b", 600, 1024}},
     0,
     "b",
     NULL},
    {"capacity_used counts the function's own capacity",
     ALL_W "    invalidate: {capacity_used: 50%}\n",
     "t",
     100,
     {{"a", 600, 1024}},
     0,
     NULL,
     "no valid worker in the blocks of tag t"},
    {"max_concurrent_invocations: the Core's in-flight count must stay under it",
     ALL_W "    invalidate: {max_concurrent_invocations: 2}\n",
     "t",
     64,
     {{"a", 900, 1024, 2}, {"b", 900, 1024, 1}},
     0,
     "b",
     NULL},
    {"max_concurrent_invocations: 0 never takes a call",
     ALL_W "    invalidate: {max_concurrent_invocations: 0}\n",
     "t",
     64,
     {{"a", 900, 1024}},
     0,
     NULL,
     "no valid worker"},
    {"blocks in order: the first with a valid candidate decides",
     "- t:\n  - workers: [a]\n  - workers: [b]\n  - workers: [c]\n",
     "t",
     64,
     {{"a", 10, 1024}, {"b", 900, 1024}, {"c", 900, 1024}},
     0,
     "b",
     NULL},
    {"followup: fail (the default) when no block decides",
     "- t:\n  - workers: [a]\n"
     "- default:\n  - workers: [b]\n",
     "t",
     64,
     {{"a", 10, 1024}, {"b", 900, 1024}},
     0,
     NULL,
     "no valid worker in the blocks of tag t"},
    {"followup: default runs the default tag's blocks",
     "- t:\n  - workers: [a]\n  followup: default\n- default:\n  - workers: [b]\n",
     "t",
     64,
     {{"a", 10, 1024}, {"b", 900, 1024}},
     0,
     "b",
     NULL},
    {"followup: default fails when the default tag finds none either",
     "- t:\n  - workers: [a]\n  followup: default\n- default:\n  - workers: [a]\n",
     "t",
     64,
     {{"a", 10, 1024}, {"b", 900, 1024}},
     0,
     NULL,
     "of tag t nor of default"},
    {"followup: default without a default tag",
     "- t:\n  - workers: [a]\n  followup: default\n",
     "t",
     64,
     {{"a", 10, 1024}},
     0,
     NULL,
     "and no default tag to follow up with"},
    {"default's own followup: default does not loop",
     "- default:\n  - workers: [a]\n  followup: default\n",
     "t",
     64,
     {{"a", 10, 1024}},
     0,
     NULL,
     "no valid worker in the blocks of tag default"},
    {"a tag the script lacks uses the default tag",
     "- t:\n  - workers: [a]\n- default:\n  - workers: [b]\n",
     "other",
     64,
     {{"a", 900, 1024}, {"b", 900, 1024}},
     0,
     "b",
     NULL},
    {"an untagged function uses the default tag",
     "- t:\n  - workers: [a]\n- default:\n  - workers: [b]\n",
     "",
     64,
     {{"a", 900, 1024}, {"b", 900, 1024}},
     0,
     "b",
     NULL},
    {"no such tag and no default tag",
     ALL_W,
     "other",
     64,
     {{"a", 900, 1024}},
     0,
     NULL,
     "no matching tag for 'other'"},
    {"affinity: only a Worker running the tag",
     ALL_W "    affinity: [db]\n",
     "t",
     64,
     {{"a", 900, 1024, 0, "web"}, {"b", 900, 1024, 0, "web,db"}},
     0,
     "b",
     NULL},
    {"anti-affinity: never a Worker running the tag",
     ALL_W "    affinity: ['!db']\n",
     "t",
     64,
     {{"a", 900, 1024, 0, "db"}, {"b", 900, 1024, 0, "web"}},
     0,
     "b",
     NULL},
    {"affinity and anti-affinity together",
     ALL_W "    affinity: [web, '!db']\n",
     "t",
     64,
     {{"a", 900, 1024, 0, "web,db"}, {"b", 900, 1024, 0, NULL}, {"c", 900, 1024, 0, "web"}},
     0,
     "c",
     NULL},
    {"a Worker that answered busy is not a candidate again",
     ALL_W,
     "t",
     64,
     {{"a", 900, 1024, 0, NULL, true}, {"b", 900, 1024}},
     0,
     "b",
     NULL},
    {"a Worker without load data counts as all free",
     ALL_W "    strategy: platform\n",
     "t",
     2000,
     {{"a", 900, 1024}, {"b", 0, 0}},
     0,
     "b",
     NULL},
    {"no Worker at all", ALL_W, "t", 64, {{NULL}}, 0, NULL, "no valid worker"},
};

static void test_select_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(select_rows) / sizeof(select_rows[0]); i++) {
        const struct select_row *row = &select_rows[i];
        struct app_script *script = parse_ok(row->yaml);
        struct app_worker workers[4];
        char tag_text[4][64];
        const char *tags[4][4];
        size_t count = 0;
        for (; count < 4 && row->workers[count].name; count++) {
            const struct worker_row *w = &row->workers[count];
            workers[count] = (struct app_worker){w->name,      w->free_mb * MB, w->total_mb * MB,
                                                 w->in_flight, tags[count],     0,
                                                 w->excluded};
            snprintf(tag_text[count], sizeof(tag_text[count]), "%s", w->tags ? w->tags : "");
            for (char *save = NULL, *t = strtok_r(tag_text[count], ",", &save); t;
                 t = strtok_r(NULL, ",", &save))
                tags[count][workers[count].tag_count++] = t;
        }
        char detail[256] = "";
        long chosen = app_select(script, row->tag, row->capacity_mb * MB, workers, count,
                                 row->random, detail, sizeof(detail));
        const char *got = chosen >= 0 ? workers[chosen].name : NULL;
        if (row->chosen ? !got || strcmp(got, row->chosen) != 0
                        : got || !strstr(detail, row->error))
            fail_msg("rule \"%s\": chose %s (%s), wanted %s (%s)", row->rule, got ? got : "none",
                     detail, row->chosen ? row->chosen : "none", row->error ? row->error : "");
        app_release(script);
    }
}

/* Random picks only valid Workers, and all of them. */
static void test_random_spread(void **state)
{
    (void)state;
    struct app_script *script = parse_ok(ALL_W "    strategy: random\n");
    struct app_worker workers[] = {{.name = "a", .free_mem = 900 * MB, .total_mem = 1024 * MB},
                                   {.name = "b", .free_mem = 1 * MB, .total_mem = 1024 * MB},
                                   {.name = "c", .free_mem = 900 * MB, .total_mem = 1024 * MB},
                                   {.name = "d", .free_mem = 900 * MB, .total_mem = 1024 * MB}};
    unsigned seen[4] = {0};
    char detail[256];
    for (uint64_t r = 0; r < 300; r++)
        seen[app_select(script, "t", 64 * MB, workers, 4, r * 2654435761u, detail,
                        sizeof(detail))]++;
    assert_int_equal(seen[1], 0);
    assert_true(seen[0] > 50 && seen[2] > 50 && seen[3] > 50);
    app_release(script);
}

/* The default policy's order, with ties spread by the rotation. */
static void test_most_free(void **state)
{
    (void)state;
    struct app_worker workers[] = {{.name = "a", .free_mem = 900 * MB, .total_mem = 1024 * MB},
                                   {.name = "b", .free_mem = 950 * MB, .total_mem = 1024 * MB},
                                   {.name = "c", .free_mem = 400 * MB, .total_mem = 1024 * MB}};
    bool valid[] = {true, true, true};
    /* 900 and 950 MiB are the same 64 MiB step: the rotation decides */
    assert_int_equal(app_most_free(workers, valid, 3, 0), 0);
    assert_int_equal(app_most_free(workers, valid, 3, 1), 1);
    workers[0].in_flight = 1;
    assert_int_equal(app_most_free(workers, valid, 3, 0), 1);
    valid[1] = false;
    assert_int_equal(app_most_free(workers, valid, 3, 0), 0);
    valid[0] = valid[2] = false;
    assert_int_equal(app_most_free(workers, valid, 3, 0), -1);
}

/* The in-memory set: a script in use outlives its replacement and its deletion. */
static void test_scripts_references(void **state)
{
    (void)state;
    struct app_scripts *set = app_scripts_new();
    assert_null(app_scripts_get(set, "s"));
    assert_int_equal(app_scripts_put(set, "s", parse_ok(ALL_W)), FL_OK);
    struct app_script *in_use = app_scripts_get(set, "s");
    assert_non_null(in_use);
    assert_int_equal(app_scripts_put(set, "s", parse_ok("- u:\n  - workers: [x]\n")), FL_OK);
    struct app_script *replaced = app_scripts_get(set, "s");
    assert_string_equal(replaced->tags[0].name, "u");
    assert_string_equal(in_use->tags[0].name, "t"); /* still whole (ASan checks) */
    app_scripts_remove(set, "s");
    assert_null(app_scripts_get(set, "s"));
    assert_string_equal(replaced->tags[0].name, "u");
    app_release(in_use);
    app_release(replaced);
    app_scripts_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_parse_normalised),
        cmocka_unit_test(test_select_table), cmocka_unit_test(test_random_spread),
        cmocka_unit_test(test_most_free),    cmocka_unit_test(test_scripts_references),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
