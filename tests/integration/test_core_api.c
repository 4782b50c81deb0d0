/*
 * The Core's REST API, driven over HTTP against a real `funless core`
 * process. Run twice by the suite: with SQLite, and with a real PostgreSQL
 * server (FUNLESS_TEST_DB) that tests/integration/with_postgres.sh starts.
 *
 * env: FUNLESS_BIN (the funless binary), FIXTURES_DIR (built .wasm files),
 *      FUNLESS_TEST_DB (optional store URL; default SQLite in a temp dir)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/hash.h"
#include "core_process.h"
#include "fixture.h"

static struct core_process core;
static char data_dir[] = "/tmp/funless-test-core-XXXXXX";
static const char *funless_bin;
static const char *db_url;

static int group_setup(void **state)
{
    (void)state;
    funless_bin = getenv("FUNLESS_BIN");
    db_url = getenv("FUNLESS_TEST_DB");
    if (!funless_bin || !mkdtemp(data_dir))
        return -1;
    return core_start(&core, funless_bin, data_dir, db_url) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    int status = core_stop(&core, false);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", data_dir);
    if (system(cmd) != 0)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Asserts the status and that the body contains `needle` (if any); frees the reply. */
static void expect(struct http_reply r, long status, const char *needle)
{
    assert_true(http_reply_is(r, status, needle));
}

#define GUEST core.guest_token
#define ADMIN core.admin_token

static struct http_reply upload(const char *method, const char *path, const char *name,
                                const void *code, size_t len, const char *metadata)
{
    struct form_field fields[5];
    int n = 0;
    if (name)
        fields[n++] = (struct form_field){"name", name, strlen(name), false};
    if (code)
        fields[n++] = (struct form_field){"code", code, len, true};
    if (metadata)
        fields[n++] = (struct form_field){"metadata", metadata, strlen(metadata), false};
    fields[n] = (struct form_field){0};
    return http_form(&core, method, path, GUEST, fields);
}

static struct http_reply upload_fixture(const char *method, const char *path, const char *name,
                                        const char *fixture, const char *metadata)
{
    struct fixture fx = fixture_read(fixture);
    struct http_reply r = upload(method, path, name, fx.bytes, fx.len, metadata);
    fixture_free(&fx);
    return r;
}

static void create_module(const char *name)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"module\":{\"name\":\"%s\"}}", name);
    expect(http_call(&core, "POST", "/v1/fn", GUEST, body), 201, name);
}

/* ---- tests ---- */

static void test_root_health_metrics(void **state)
{
    (void)state;
    expect(http_call(&core, "GET", "/v1/", NULL, NULL), 200, "up");
    expect(http_call(&core, "GET", "/livez", NULL, NULL), 200, "alive");
    expect(http_call(&core, "GET", "/readyz", NULL, NULL), 503, "no worker connected");
    expect(http_call(&core, "GET", "/metrics", NULL, NULL), 200,
           "funless_core_http_requests_total{route=\"/v1/\"");
    /* FunLess's detail, our reason beside it (docs/api.md, "Errors") */
    expect(http_call(&core, "GET", "/nope", GUEST, NULL), 404,
           "{\"errors\":{\"detail\":\"Not Found\",\"reason\":\"no such route");
    /* another method: 404, as Phoenix answers FunLess's routes */
    expect(http_call(&core, "PATCH", "/v1/fn", GUEST, NULL), 404, "allowed: GET, POST");
}

static void test_tokens(void **state)
{
    (void)state;
    expect(http_call(&core, "GET", "/v1/fn", NULL, NULL), 401,
           "{\"errors\":{\"detail\":\"Unauthorized\",\"reason\":\"missing or unknown token\"}}");
    expect(http_call(&core, "GET", "/v1/fn", "0123456789abcdef", NULL), 401, NULL);
    expect(http_call(&core, "GET", "/v1/admin/subjects", GUEST, NULL), 403, "admin token");
    expect(http_call(&core, "GET", "/v1/admin/subjects", ADMIN, NULL), 200, "{\"name\":\"guest\"}");
    /* subjects are listed, their tokens never */
    struct http_reply r = http_call(&core, "GET", "/v1/admin/subjects", ADMIN, NULL);
    assert_null(strstr(r.body, GUEST));
    http_reply_free(&r);
}

static void test_subjects(void **state)
{
    (void)state;
    struct http_reply r =
        http_call(&core, "POST", "/v1/admin/subjects", ADMIN, "{\"subject\":{\"name\":\"alice\"}}");
    assert_int_equal(r.status, 201);
    char *token = strstr(r.body, "\"token\":\"");
    assert_non_null(token);
    char alice[64] = {0};
    memcpy(alice, token + 9, strcspn(token + 9, "\""));
    http_reply_free(&r);
    expect(http_call(&core, "GET", "/v1/fn", alice, NULL), 200, "\"_\"");
    expect(http_call(&core, "GET", "/v1/admin/subjects", alice, NULL), 403, NULL);
    expect(
        http_call(&core, "POST", "/v1/admin/subjects", ADMIN, "{\"subject\":{\"name\":\"alice\"}}"),
        422, "{\"errors\":{\"name\":[\"has already been taken\"]"); /* FunLess's changeset */
    expect(
        http_call(&core, "POST", "/v1/admin/subjects", ADMIN, "{\"subject\":{\"name\":\"a b\"}}"),
        422, NULL);
    expect(http_call(&core, "POST", "/v1/admin/subjects", ADMIN, "{\"subject\":{}}"), 400, NULL);
}

static void test_modules(void **state)
{
    (void)state;
    create_module("mods_a");
    /* a taken module name: 422 in FunLess's changeset shape (a function's is 409) */
    expect(http_call(&core, "POST", "/v1/fn", GUEST, "{\"module\":{\"name\":\"mods_a\"}}"), 422,
           "{\"errors\":{\"name\":[\"has already been taken\"],\"reason\":\"module mods_a "
           "already exists\"}}");
    expect(http_call(&core, "GET", "/v1/fn", GUEST, NULL), 200, "{\"name\":\"mods_a\"}");
    expect(http_call(&core, "GET", "/v1/fn/mods_a", GUEST, NULL), 200,
           "{\"data\":{\"name\":\"mods_a\",\"functions\":[]}}");
    expect(upload_fixture("POST", "/v1/fn/mods_a", "f1", "c_hello.wasm", NULL), 201, NULL);
    expect(http_call(&core, "PUT", "/v1/fn/mods_a", GUEST, "{\"module\":{\"name\":\"mods_b\"}}"),
           200, "mods_b");
    expect(http_call(&core, "GET", "/v1/fn/mods_a", GUEST, NULL), 404, "not found");
    expect(http_call(&core, "GET", "/v1/fn/mods_b/f1", GUEST, NULL), 200,
           "\"module\":\"mods_b\""); /* functions follow */
    create_module("mods_c");
    expect(http_call(&core, "PUT", "/v1/fn/mods_b", GUEST, "{\"module\":{\"name\":\"mods_c\"}}"),
           422, "has already been taken");
    expect(http_call(&core, "DELETE", "/v1/fn/mods_b", GUEST, NULL), 204, NULL);
    expect(http_call(&core, "GET", "/v1/fn/mods_b/f1", GUEST, NULL), 404,
           NULL); /* deleted with its module */
    expect(http_call(&core, "DELETE", "/v1/fn/mods_b", GUEST, NULL), 404, NULL);
    expect(http_call(&core, "DELETE", "/v1/fn/_", GUEST, NULL), 400, "cannot be deleted");
    expect(http_call(&core, "PUT", "/v1/fn/_", GUEST, "{\"module\":{\"name\":\"x\"}}"), 400,
           "cannot be renamed");
}

static void test_names(void **state)
{
    (void)state;
    char long_name[200], body[300];
    memset(long_name, 'a', 161);
    long_name[161] = '\0';
    snprintf(body, sizeof(body), "{\"module\":{\"name\":\"%s\"}}", long_name);
    expect(http_call(&core, "POST", "/v1/fn", GUEST, body), 422,
           "{\"errors\":{\"name\":[\"should be at most 160 character(s)\"],\"reason\":\"invalid "
           "module name");
    long_name[160] = '\0'; /* 160 is fine */
    snprintf(body, sizeof(body), "{\"module\":{\"name\":\"%s\"}}", long_name);
    expect(http_call(&core, "POST", "/v1/fn", GUEST, body), 201, NULL);
    expect(http_call(&core, "POST", "/v1/fn", GUEST, "{\"module\":{\"name\":\"a/b\"}}"), 422,
           "{\"errors\":{\"name\":[\"must contain only alphanumeric characters and "
           "underscores\"]");
    expect(http_call(&core, "POST", "/v1/fn", GUEST, "{\"module\":{\"name\":\"..\"}}"), 422, NULL);
    expect(http_call(&core, "POST", "/v1/fn", GUEST, "{\"module\":{\"name\":\"caf\u00e9\"}}"), 422,
           NULL);
    expect(http_call(&core, "POST", "/v1/fn", GUEST, "{\"module\":{\"name\":\"\"}}"), 422,
           "{\"errors\":{\"name\":[\"can't be blank\"]");
    /* a name in the path that no module can have: 404, as FunLess (no such module) */
    expect(http_call(&core, "GET", "/v1/fn/%2e%2e", GUEST, NULL), 404, "not found");
    expect(http_call(&core, "GET", "/v1/fn/a/b/c", GUEST, NULL), 404, "no such route");
    expect(upload_fixture("POST", "/v1/fn/_", "bad name", "c_hello.wasm", NULL), 422,
           "invalid function name");
    expect(upload_fixture("POST", "/v1/fn/_", "\xc3\xa9t\xc3\xa9", "c_hello.wasm", NULL), 422,
           NULL);
}

static void test_bad_bodies(void **state)
{
    (void)state;
    expect(http_call(&core, "POST", "/v1/fn", GUEST, "{\"module\":"), 400, "JSON object");
    expect(http_call(&core, "POST", "/v1/fn", GUEST, "[1,2]"), 400, NULL);
    expect(http_call(&core, "POST", "/v1/fn", GUEST, "{\"mod\":{}}"), 400, NULL);
    const char *garbage = "--xyz\r\nnot headers at all";
    expect(http_raw(&core, "POST", "/v1/fn/_", GUEST, "multipart/form-data; boundary=xyz", garbage,
                    strlen(garbage)),
           400, "malformed multipart");
    expect(http_raw(&core, "POST", "/v1/fn/_", GUEST, "application/json", "{}", 2), 400,
           "multipart/form-data");
}

static void test_function_lifecycle(void **state)
{
    (void)state;
    create_module("life");
    struct fixture fx = fixture_read("c_hello.wasm");
    expect(upload("POST", "/v1/fn/life", "hello", fx.bytes, fx.len,
                  "{\"tag\":\"t1\",\"capacity\":32,\"timeout_ms\":5000}"),
           201, "{\"data\":{\"name\":\"hello\"}}");
    char hash[FL_HASH_HEX_BYTES], want[256];
    const void *parts[] = {fx.bytes};
    size_t lens[] = {fx.len};
    fl_hash_hex(parts, lens, 1, hash);
    snprintf(want, sizeof(want),
             "\"hash\":\"%s\",\"size\":%zu,\"metadata\":{\"tag\":\"t1\",\"capacity\":32,\"timeout_"
             "ms\":5000}",
             hash, fx.len);
    expect(http_call(&core, "GET", "/v1/fn/life/hello", GUEST, NULL), 200, want);
    expect(upload("POST", "/v1/fn/life", "hello", fx.bytes, fx.len, NULL), 409, "already exists");
    expect(upload("POST", "/v1/fn/nomodule", "hello", fx.bytes, fx.len, NULL), 404,
           "module nomodule not found");
    expect(upload("POST", "/v1/fn/life", "nocode", NULL, 0, NULL), 400, "'code'");
    expect(upload("POST", "/v1/fn/life", NULL, fx.bytes, fx.len, NULL), 400, "'name'");
    expect(upload("POST", "/v1/fn/life", "m", fx.bytes, fx.len, "{\"capacity\":\"lots\"}"), 422,
           "capacity");
    expect(upload("POST", "/v1/fn/life", "m", fx.bytes, fx.len, "{\"timeout_ms\":300001}"), 422,
           "timeout_ms");
    expect(upload("POST", "/v1/fn/life", "m", fx.bytes, fx.len, "not json"), 400, "metadata");
    /* update: new code, new name */
    struct fixture other = fixture_read("c_error.wasm");
    expect(upload("PUT", "/v1/fn/life/hello", "renamed", other.bytes, other.len, NULL), 200,
           "renamed");
    expect(http_call(&core, "GET", "/v1/fn/life/hello", GUEST, NULL), 404, NULL);
    const void *other_parts[] = {other.bytes};
    size_t other_lens[] = {other.len};
    fl_hash_hex(other_parts, other_lens, 1, hash);
    expect(http_call(&core, "GET", "/v1/fn/life/renamed", GUEST, NULL), 200, hash);
    expect(http_call(&core, "GET", "/v1/fn/life", GUEST, NULL), 200,
           "\"functions\":[{\"name\":\"renamed\"}]");
    /* invocation: checked, then no Worker is there to run it */
    expect(http_call(&core, "POST", "/v1/fn/life/renamed", GUEST, "{\"args\":{\"name\":\"x\"}}"),
           503, "no worker available");
    expect(http_call(&core, "POST", "/v1/fn/life/missing", GUEST, "{}"), 404,
           "function life/missing not found");
    expect(http_call(&core, "POST", "/v1/fn/life/renamed", GUEST, "{oops"), 400, NULL);
    expect(http_call(&core, "DELETE", "/v1/fn/life/renamed", GUEST, NULL), 204, NULL);
    expect(http_call(&core, "DELETE", "/v1/fn/life/renamed", GUEST, NULL), 404, NULL);
    fixture_free(&fx);
    fixture_free(&other);
}

static void test_refused_code(void **state)
{
    (void)state;
    expect(upload("POST", "/v1/fn/_", "text", "not wasm!", 9, NULL), 422,
           "not a WebAssembly module");
    expect(upload("POST", "/v1/fn/_", "empty", "", 0, NULL), 422, "not a WebAssembly module");
    expect(upload_fixture("POST", "/v1/fn/_", "simd", "wat_simd.wasm", NULL), 422, "SIMD");
    expect(upload_fixture("POST", "/v1/fn/_", "deep", "nested_20000.wasm", NULL), 422,
           "nested deeper than 16000");
    /* the admin's ceiling on declared memory (--max-capacity-mb, 1024 by default) */
    expect(upload_fixture("POST", "/v1/fn/_", "greedy", "wat_tiny.wasm", "{\"capacity\":2048}"),
           422, "at most 1024 MiB");
    expect(upload_fixture("POST", "/v1/fn/_", "imp", "wat_unknown_import.wasm", NULL), 422,
           "launch_missiles");
    expect(upload_fixture("POST", "/v1/fn/_", "big", "wat_big_memory.wasm", NULL), 422,
           "exceeds the limit of 64 MiB");
    expect(upload_fixture("POST", "/v1/fn/_", "big", "wat_big_memory.wasm", "{\"capacity\":200}"),
           201, NULL);
    expect(upload_fixture("POST", "/v1/fn/_", "typo", "wat_invalid_type.wasm", NULL), 422,
           "type mismatch");
    /* nothing refused was stored */
    expect(http_call(&core, "GET", "/v1/fn/_/text", GUEST, NULL), 404, NULL);
}

static void test_limits(void **state)
{
    (void)state;
    size_t big = (size_t)40 << 20;
    uint8_t *code = calloc(1, big);
    memcpy(code, "\0asm\1\0\0\0", 8);
    http_expect_continue = true; /* refused from its headers: the 40 MiB are never sent */
    expect(upload("POST", "/v1/fn/_", "huge", code, big, NULL), 413, "larger than");
    http_expect_continue = false;
    free(code);
    size_t json_len = (size_t)2 << 20;
    char *json = malloc(json_len + 1);
    memset(json, ' ', json_len);
    memcpy(json, "{\"args\":{}", 10);
    json[json_len - 1] = '}';
    json[json_len] = '\0';
    expect(http_call(&core, "POST", "/v1/fn/_/big", GUEST, json), 413, NULL);
    free(json);
    expect(http_call(&core, "GET", "/v1/fn/_/huge", GUEST, NULL), 404, NULL);
}

static void test_scripts(void **state)
{
    (void)state;
    const char *yaml = "- default:\n  - workers: \"*\"\n    strategy: platform\n";
    struct form_field fields[] = {
        {"name", "s1", 2, false}, {"file", yaml, strlen(yaml), true}, {0}};
    expect(http_form(&core, "POST", "/v1/scripts/app", GUEST, fields), 201,
           "{\"data\":{\"id\":1,\"name\":\"s1\",\"script\":{\"tags\":{\"default\":{\"blocks\":[{"
           "\"workers\":\"*\",\"strategy\":\"platform\",\"invalidate\":{\"capacity_used\":"
           "\"infinity\",\"max_concurrent_invocations\":\"infinity\"},\"affinity\":{"
           "\"affinity\":[],\"antiaffinity\":[]}}],\"followup\":\"fail\"}}}}}");
    expect(http_form(&core, "POST", "/v1/scripts/app", GUEST, fields), 422,
           "has already been taken");
    expect(http_call(&core, "GET", "/v1/scripts/app/s1", GUEST, NULL), 200,
           "\"strategy\":\"platform\"");
    expect(http_call(&core, "GET", "/v1/app", GUEST, NULL), 200,
           "\"name\":\"s1\""); /* FunLess v0.9 alias */
    const char *bad = "- default:\n  - workers: [a\n";
    struct form_field bad_fields[] = {
        {"name", "s2", 2, false}, {"file", bad, strlen(bad), true}, {0}};
    expect(http_form(&core, "POST", "/v1/scripts/app", GUEST, bad_fields), 422, "line 3");
    /* well-formed YAML that is not APP: the message names the tag, the block and the line */
    const char *not_app = "- default:\n  - workers: '*'\n  - workers: [w1]\n    strategy: fast\n";
    struct form_field not_app_fields[] = {
        {"name", "s2", 2, false}, {"file", not_app, strlen(not_app), true}, {0}};
    expect(http_form(&core, "POST", "/v1/scripts/app", GUEST, not_app_fields), 422,
           "invalid APP script: tag default, block 2, line 4: unknown strategy 'fast'");
    expect(http_call(&core, "GET", "/v1/scripts/app/s2", GUEST, NULL), 404, NULL);
    /* a refused update keeps the stored script */
    struct form_field bad_update[] = {{"file", not_app, strlen(not_app), true}, {0}};
    expect(http_form(&core, "PUT", "/v1/scripts/app/s1", GUEST, bad_update), 422, "line 4");
    expect(http_call(&core, "GET", "/v1/scripts/app/s1", GUEST, NULL), 200,
           "\"strategy\":\"platform\"");
    const char *v2 = "- default:\n  - workers: [w1]\n    invalidate: {capacity_used: 50}\n";
    struct form_field update[] = {{"file", v2, strlen(v2), true}, {0}};
    expect(http_form(&core, "PUT", "/v1/scripts/app/s1", GUEST, update), 200,
           "\"workers\":[\"w1\"],\"strategy\":\"best-first\",\"invalidate\":{\"capacity_"
           "used\":50,");
    expect(http_form(&core, "PUT", "/v1/scripts/app/nope", GUEST, update), 404, NULL);
    expect(http_call(&core, "DELETE", "/v1/app/s1", GUEST, NULL), 204, NULL);
    expect(http_call(&core, "GET", "/v1/scripts/app/s1", GUEST, NULL), 404, NULL);
}

struct racer {
    const struct fixture *fx;
    long status;
};

static void *race_create(void *arg)
{
    struct racer *r = arg;
    struct http_reply reply = upload("POST", "/v1/fn/_", "raced", r->fx->bytes, r->fx->len, NULL);
    r->status = reply.status;
    http_reply_free(&reply);
    return NULL;
}

static void test_concurrent_creates(void **state)
{
    (void)state;
    struct fixture fx = fixture_read("wat_tiny.wasm");
    enum { RACERS = 8 };
    pthread_t threads[RACERS];
    struct racer racers[RACERS];
    for (int i = 0; i < RACERS; i++) {
        racers[i] = (struct racer){&fx, 0};
        pthread_create(&threads[i], NULL, race_create, &racers[i]);
    }
    int created = 0, conflicts = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(threads[i], NULL);
        created += racers[i].status == 201;
        conflicts += racers[i].status == 409;
    }
    assert_int_equal(created, 1);
    assert_int_equal(conflicts, RACERS - 1);
    fixture_free(&fx);
}

static void restart_core(bool kill9)
{
    int status = core_stop(&core, kill9);
    if (!kill9)
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* graceful shutdown */
    char admin[64], guest[64];
    snprintf(admin, sizeof(admin), "%s", ADMIN);
    snprintf(guest, sizeof(guest), "%s", GUEST);
    assert_true(core_start(&core, funless_bin, data_dir, db_url));
    assert_string_equal(ADMIN, admin); /* the tokens are not re-seeded */
    assert_string_equal(GUEST, guest);
}

static void test_restart_keeps_everything(void **state)
{
    (void)state;
    create_module("keep");
    expect(upload_fixture("POST", "/v1/fn/keep", "kept", "c_hello.wasm", "{\"tag\":\"x\"}"), 201,
           NULL);
    const char *yaml = "- default:\n  - workers: \"*\"\n";
    struct form_field fields[] = {
        {"name", "kept_script", 11, false}, {"file", yaml, strlen(yaml), true}, {0}};
    expect(http_form(&core, "POST", "/v1/scripts/app", GUEST, fields), 201, NULL);
    restart_core(false);
    expect(http_call(&core, "GET", "/v1/fn/keep/kept", GUEST, NULL), 200, "\"tag\":\"x\"");
    expect(http_call(&core, "GET", "/v1/scripts/app/kept_script", GUEST, NULL), 200, NULL);
    expect(http_call(&core, "GET", "/v1/admin/subjects", ADMIN, NULL), 200, "alice");
}

struct uploader {
    atomic_int acknowledged;
    atomic_int stop;
    const struct fixture *fx;
};

static void *upload_stream(void *arg)
{
    struct uploader *u = arg;
    for (int i = 0; !atomic_load(&u->stop) && i < 100000; i++) {
        char name[32];
        snprintf(name, sizeof(name), "stream%d", i);
        struct http_reply r = upload("POST", "/v1/fn/stream", name, u->fx->bytes, u->fx->len, NULL);
        bool ok = r.status == 201;
        http_reply_free(&r);
        if (!ok)
            break;
        atomic_store(&u->acknowledged, i + 1);
    }
    return NULL;
}

/* kill -9 in the middle of a stream of uploads: every acknowledged one survives, whole. */
static void test_kill9_during_uploads(void **state)
{
    (void)state;
    create_module("stream");
    struct fixture fx = fixture_read("c_hello.wasm");
    struct uploader u = {.fx = &fx};
    pthread_t thread;
    pthread_create(&thread, NULL, upload_stream, &u);
    usleep(1500 * 1000);
    int before_kill = atomic_load(&u.acknowledged);
    kill(core.pid, SIGKILL); /* mid-stream; the uploader stops before `core` is rewritten */
    atomic_store(&u.stop, 1);
    pthread_join(thread, NULL);
    restart_core(true);
    assert_true(before_kill > 5);
    char hash[FL_HASH_HEX_BYTES], path[64];
    const void *parts[] = {fx.bytes};
    size_t lens[] = {fx.len};
    fl_hash_hex(parts, lens, 1, hash);
    for (int i = 0; i < u.acknowledged; i++) {
        snprintf(path, sizeof(path), "/v1/fn/stream/stream%d", i);
        expect(http_call(&core, "GET", path, GUEST, NULL), 200, hash);
    }
    /* whatever else is there (an upload in flight at the kill) is whole too */
    snprintf(path, sizeof(path), "/v1/fn/stream/stream%d", u.acknowledged);
    struct http_reply r = http_call(&core, "GET", path, GUEST, NULL);
    assert_true(r.status == 404 || (r.status == 200 && strstr(r.body, hash)));
    http_reply_free(&r);
    fixture_free(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_health_metrics),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_subjects),
        cmocka_unit_test(test_modules),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_function_lifecycle),
        cmocka_unit_test(test_refused_code),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_scripts),
        cmocka_unit_test(test_concurrent_creates),
        cmocka_unit_test(test_restart_keeps_everything),
        cmocka_unit_test(test_kill9_during_uploads),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
