/*
 * Invocation end to end: a real `funless core` and real `funless worker`
 * processes on loopback — code push, the default policy, the "no code"
 * path, a Worker killed mid-call, time limits, saturation.
 *
 * env: FUNLESS_BIN, FIXTURES_DIR, FL_HAVE_RUST
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/hash.h"
#include "core_process.h"
#include "fixture.h"

static const char *funless_bin;
static char root[] = "/tmp/funless-test-cluster-XXXXXX";

static int group_setup(void **state)
{
    (void)state;
    funless_bin = getenv("FUNLESS_BIN");
    return funless_bin && mkdtemp(root) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    return system(cmd) == 0 ? 0 : -1;
}

/*
 * Under ThreadSanitizer (the test command sets FL_UNDER_TSAN) a time limit cannot stop guest
 * code: TSan defers a signal until its thread calls an intercepted function, and a function
 * spinning in code compiled at run time calls none. The tests that need the limit to cut a
 * pure loop run in the plain and ASan builds only.
 */
static bool skip_under_tsan(void)
{
    if (!getenv("FL_UNDER_TSAN"))
        return false;
    fprintf(stderr, "skipped under ThreadSanitizer: it defers the time limit's signal\n");
    return true;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void path_in_root(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", root, name);
}

/* Asserts the status and that the body contains `needle` (if any); frees the reply. */
static void expect(struct http_reply r, long status, const char *needle)
{
    assert_true(http_reply_is(r, status, needle));
}

static struct http_reply deploy(const struct core_process *core, const char *method,
                                const char *path, const char *name, const char *fixture,
                                const char *metadata, bool wait)
{
    struct fixture fx = fixture_read(fixture);
    struct form_field fields[5];
    int n = 0;
    fields[n++] = (struct form_field){"name", name, strlen(name), false};
    fields[n++] = (struct form_field){"code", fx.bytes, fx.len, true};
    if (metadata)
        fields[n++] = (struct form_field){"metadata", metadata, strlen(metadata), false};
    fields[n++] =
        (struct form_field){"wait_for_workers", wait ? "true" : "false", wait ? 4 : 5, false};
    fields[n] = (struct form_field){0};
    struct http_reply r = http_form(core, method, path, core->guest_token, fields);
    fixture_free(&fx);
    return r;
}

static struct http_reply invoke(const struct core_process *core, const char *fn, const char *body)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/fn/_/%s", fn);
    return http_call(core, "POST", path, core->guest_token, body);
}

/* How many Workers the Core lists as connected. */
static int connected_count(const struct core_process *core)
{
    struct http_reply r = http_call(core, "GET", "/v1/admin/workers", core->admin_token, NULL);
    int n = 0;
    for (const char *p = r.body; (p = strstr(p, "\"connected\":true")) != NULL; p++)
        n++;
    http_reply_free(&r);
    return n;
}

/* Waits until the Core lists `count` connected Workers. */
static void wait_connected(const struct core_process *core, int count)
{
    for (int i = 0; i < 100; i++) {
        if (connected_count(core) == count)
            return;
        usleep(50 * 1000);
    }
    fail_msg("workers did not connect");
}

static long metric_value(const struct worker_process *w, const char *prefix)
{
    char *text = worker_metrics(w);
    long total = 0;
    for (const char *p = text; p && (p = strstr(p, prefix)) != NULL; p++) {
        const char *space = strchr(p, ' ');
        const char *eol = strchr(p, '\n');
        if (space && (!eol || space < eol))
            total += atol(space + 1);
    }
    free(text);
    return total;
}

static bool code_on_worker(const struct worker_process *w, const char *fixture)
{
    struct fixture fx = fixture_read(fixture);
    char hash[FL_HASH_HEX_BYTES], path[512];
    const void *parts[] = {fx.bytes};
    size_t lens[] = {fx.len};
    fl_hash_hex(parts, lens, 1, hash);
    fixture_free(&fx);
    snprintf(path, sizeof(path), "%s/code/%s.wasm", w->cache_dir, hash);
    return access(path, R_OK) == 0;
}

/* One Worker and a Core that dials it. */
static void start_one(struct core_process *core, struct worker_process *w, const char *tag,
                      unsigned threads, unsigned queue)
{
    char dir[300], cache[300], workers[64];
    snprintf(cache, sizeof(cache), "%s/%s-cache", root, tag);
    assert_true(worker_start(w, funless_bin, tag, cache, 0, threads, queue));
    snprintf(workers, sizeof(workers), "127.0.0.1:%u", w->port);
    snprintf(dir, sizeof(dir), "%s/%s-core", root, tag);
    assert_true(core_start_with(core, funless_bin, dir, NULL, workers));
    wait_connected(core, 1);
}

static void start_pair(struct core_process *core, struct worker_process w[2], const char *tag,
                       unsigned threads, unsigned queue)
{
    char dir[300], workers[128];
    for (int i = 0; i < 2; i++) {
        char name[16], cache[300];
        snprintf(name, sizeof(name), "w%d", i + 1);
        snprintf(cache, sizeof(cache), "%s/%s-cache-%s", root, tag, name);
        assert_true(worker_start(&w[i], funless_bin, name, cache, 0, threads, queue));
    }
    snprintf(workers, sizeof(workers), "127.0.0.1:%u,127.0.0.1:%u", w[0].port, w[1].port);
    snprintf(dir, sizeof(dir), "%s/%s-core", root, tag);
    assert_true(core_start_with(core, funless_bin, dir, NULL, workers));
    wait_connected(core, 2);
}

/* create -> both hold the code -> many invocations use both -> update -> delete */
static void test_lifecycle(void **state)
{
    (void)state;
    struct core_process core;
    struct worker_process w[2];
    start_pair(&core, w, "life", 2, 64);
    expect(http_call(&core, "GET", "/readyz", NULL, NULL), 200, "ready");
    expect(deploy(&core, "POST", "/v1/fn/_", "hello", "c_hello.wasm", NULL, true), 201, NULL);
    assert_true(code_on_worker(&w[0], "c_hello.wasm"));
    assert_true(code_on_worker(&w[1], "c_hello.wasm"));
    for (int i = 0; i < 40; i++)
        expect(invoke(&core, "hello", "{\"args\":{\"name\":\"Ada\"}}"), 200,
               "{\"data\":{\"payload\":\"Hello Ada!\"}}");
    long used0 = metric_value(&w[0], "funless_worker_invocations_total{");
    long used1 = metric_value(&w[1], "funless_worker_invocations_total{");
    assert_int_equal(used0 + used1, 40);
    assert_true(used0 > 0 && used1 > 0); /* same host, same free memory: both get work */
    expect(invoke(&core, "hello", "{\"args\":{}}"), 422, "Error: missing field `name`");
    /* update: the new code runs everywhere */
    expect(deploy(&core, "PUT", "/v1/fn/_/hello", "hello", "c_error.wasm", NULL, true), 200, NULL);
    for (int i = 0; i < 4; i++)
        expect(invoke(&core, "hello", "{}"), 422, "Error: something went wrong");
    expect(http_call(&core, "DELETE", "/v1/fn/_/hello", core.guest_token, NULL), 204, NULL);
    expect(invoke(&core, "hello", "{}"), 404, "function _/hello not found");
    usleep(200 * 1000);
    assert_int_equal(metric_value(&w[0], "funless_worker_functions "), 0);
    assert_int_equal(metric_value(&w[1], "funless_worker_functions "), 0);
    core_stop(&core, false);
    worker_stop(&w[0], false);
    worker_stop(&w[1], false);
}

/* A Worker that joins after the function was created gets it through "no code". */
static void test_late_worker(void **state)
{
    (void)state;
    struct core_process core;
    struct worker_process w;
    char dir[300], cache[300], body[128];
    path_in_root(dir, sizeof(dir), "late-core");
    assert_true(core_start_with(&core, funless_bin, dir, NULL, NULL));
    expect(deploy(&core, "POST", "/v1/fn/_", "hello", "c_hello.wasm", NULL, false), 201, NULL);
    expect(invoke(&core, "hello", "{}"), 503, "no worker available");
    path_in_root(cache, sizeof(cache), "late-cache");
    assert_true(worker_start(&w, funless_bin, "late", cache, 0, 1, 8));
    snprintf(body, sizeof(body), "{\"address\":\"127.0.0.1:%u\"}", w.port);
    expect(http_call(&core, "POST", "/v1/admin/workers", core.admin_token, body), 201, NULL);
    wait_connected(&core, 1);
    expect(invoke(&core, "hello", "{\"args\":{\"name\":\"late\"}}"), 200, "Hello late!");
    assert_true(code_on_worker(&w, "c_hello.wasm"));
    if (fixture_have_rust()) { /* a FunLess-style Rust function, unchanged */
        expect(deploy(&core, "POST", "/v1/fn/_", "rust", "rust_hello.wasm", NULL, true), 201, NULL);
        expect(invoke(&core, "rust", "{\"args\":{\"name\":\"X\"}}"), 200,
               "{\"data\":{\"payload\":\"Hello X!\"}}");
    }
    core_stop(&core, false);
    worker_stop(&w, false);
}

/* Uploads whose names carry C source (tests/fixtures/hostile_names.py), as a guest: each runs
 * normally at tier 0 and tier 1 on the Worker it was pushed to, and its C never runs there. */
static void test_hostile_names(void **state)
{
    (void)state;
    static const char *const kinds[] = {"export", "custom", "name", "all"};
    struct core_process core;
    struct worker_process w;
    start_one(&core, &w, "hostile", 2, 16);
    for (int i = 0; i < 4; i++) {
        char fixture[64], name[32], marker[512];
        snprintf(fixture, sizeof(fixture), "hostile_%s.wasm", kinds[i]);
        snprintf(name, sizeof(name), "hostile_%s", kinds[i]);
        snprintf(marker, sizeof(marker), "%s/injected-%s", getenv("FIXTURES_DIR"), kinds[i]);
        unlink(marker);
        expect(deploy(&core, "POST", "/v1/fn/_", name, fixture, NULL, true), 201, NULL);
        expect(invoke(&core, name, "{}"), 200, "{\"data\":{\"ok\":true}}");
        assert_int_equal(access(marker, F_OK), -1);
    }
    /* tier 1 of every one of them (gcc, then dlopen in the Worker; a module loaded twice
     * counts twice) */
    const char *tier1 = "funless_worker_compile_seconds_count{tier=\"1\"}";
    for (int i = 0; i < 600 && metric_value(&w, tier1) < 4; i++)
        usleep(100 * 1000);
    assert_true(metric_value(&w, tier1) >= 4);
    assert_int_equal(metric_value(&w, "funless_worker_compile_failures_total{"), 0);
    for (int i = 0; i < 4; i++) {
        char name[32], marker[512];
        snprintf(name, sizeof(name), "hostile_%s", kinds[i]);
        snprintf(marker, sizeof(marker), "%s/injected-%s", getenv("FIXTURES_DIR"), kinds[i]);
        expect(invoke(&core, name, "{}"), 200, "{\"data\":{\"ok\":true}}");
        assert_int_equal(access(marker, F_OK), -1);
    }
    /* an import the host does not provide is refused at upload, its name quoted as data */
    expect(deploy(&core, "POST", "/v1/fn/_", "hostile_import", "hostile_import_module.wasm", NULL,
                  true),
           422, "unknown import");
    core_stop(&core, false);
    worker_stop(&w, false);
}

/* Time limits: 504 at the function's timeout_ms, and the Worker keeps serving. */
static void test_timeout(void **state)
{
    (void)state;
    if (skip_under_tsan())
        return;
    struct core_process core;
    struct worker_process w[2];
    start_pair(&core, w, "time", 1, 8);
    expect(deploy(&core, "POST", "/v1/fn/_", "loop", "wat_loop.wasm", "{\"timeout_ms\":300}", true),
           201, NULL);
    expect(deploy(&core, "POST", "/v1/fn/_", "tiny", "wat_tiny.wasm", NULL, true), 201, NULL);
    double t0 = now_s();
    expect(invoke(&core, "loop", "{}"), 504, "time limit of 300 ms");
    assert_true(now_s() - t0 < 2.0);
    for (int i = 0; i < 4; i++)
        expect(invoke(&core, "tiny", "{}"), 200, "{\"data\":{}}");
    core_stop(&core, false);
    worker_stop(&w[0], false);
    worker_stop(&w[1], false);
}

struct call {
    const struct core_process *core;
    const char *fn;
    long status;
    double seconds;
    const char *body; /* NULL: {} */
};

static void *call_thread(void *arg)
{
    struct call *c = arg;
    double t0 = now_s();
    struct http_reply r = invoke(c->core, c->fn, c->body ? c->body : "{}");
    c->status = r.status;
    c->seconds = now_s() - t0;
    if (r.status >= 500) /* what a failing assertion below will not say */
        fprintf(stderr, "call to %s: %ld %.300s\n", c->fn, r.status, r.body ? r.body : "");
    http_reply_free(&r);
    return NULL;
}

/* A Worker offering 1024 MiB runs calls that declare 1024 MiB one at a time, whatever its
 * threads; a call declaring more than any Worker offers is refused with the reason. */
static void test_memory_budget(void **state)
{
    (void)state;
    struct core_process core;
    struct worker_process w;
    setenv("FUNLESS_WORKER_MEMORY_MB", "1024", 1);
    start_one(&core, &w, "budget", 3, 16);
    unsetenv("FUNLESS_WORKER_MEMORY_MB");
    expect(deploy(&core, "POST", "/v1/fn/_", "spin", "c_spin.wasm",
                  "{\"capacity\":1024,\"timeout_ms\":10000}", true),
           201, NULL);
    const char *body = "{\"args\":{\"ms\":400}}";
    struct call calls[3] = {
        {&core, "spin", 0, 0, body}, {&core, "spin", 0, 0, body}, {&core, "spin", 0, 0, body}};
    pthread_t threads[3];
    double t0 = now_s();
    for (int i = 0; i < 3; i++)
        pthread_create(&threads[i], NULL, call_thread, &calls[i]);
    for (int i = 0; i < 3; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(calls[i].status, 200);
    }
    double took = now_s() - t0; /* one after another: 3 x 400 ms at least (at once: 0.4 s) */
    if (took < 1.15)
        fail_msg("three 1024 MiB calls ran at once on a 1024 MiB Worker (%.2f s)", took);
    core_stop(&core, false);
    worker_stop(&w, false);
    setenv("FUNLESS_WORKER_MEMORY_MB", "512", 1);
    start_one(&core, &w, "budget-small", 2, 16);
    unsetenv("FUNLESS_WORKER_MEMORY_MB");
    expect(deploy(&core, "POST", "/v1/fn/_", "spin", "c_spin.wasm", "{\"capacity\":1024}", true),
           201, NULL);
    /* the Core sees it cannot fit (the Worker would refuse it too, naming its 512 MiB) */
    expect(invoke(&core, "spin", "{}"), 503, "not enough free memory");
    core_stop(&core, false);
    worker_stop(&w, false);
}

/* kill -9 of a Worker mid-call: 502 within a second; the other Worker takes over; it rejoins. */
static void test_worker_killed(void **state)
{
    (void)state;
    if (skip_under_tsan())
        return;
    struct core_process core;
    struct worker_process w[2];
    /* both Workers offer the same memory whatever the host's does meanwhile (other tests run
     * beside this one): the two calls then go one to each, by calls in flight */
    setenv("FUNLESS_WORKER_MEMORY_MB", "4096", 1);
    start_pair(&core, w, "kill", 1, 8);
    unsetenv("FUNLESS_WORKER_MEMORY_MB");
    expect(
        deploy(&core, "POST", "/v1/fn/_", "loop", "wat_loop.wasm", "{\"timeout_ms\":3000}", true),
        201, NULL);
    expect(deploy(&core, "POST", "/v1/fn/_", "tiny", "wat_tiny.wasm", NULL, true), 201, NULL);
    struct call calls[2] = {{&core, "loop", 0, 0, NULL}, {&core, "loop", 0, 0, NULL}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&threads[i], NULL, call_thread, &calls[i]);
    usleep(500 * 1000); /* both loops are running, one on each Worker */
    unsigned port = w[0].port;
    char cache[256];
    snprintf(cache, sizeof(cache), "%s", w[0].cache_dir);
    worker_stop(&w[0], true);
    pthread_join(threads[0], NULL); /* one of the two calls fails (502)... */
    pthread_join(threads[1], NULL); /* ...the other runs into its time limit on the survivor */
    assert_true((calls[0].status == 502 && calls[1].status == 504) ||
                (calls[0].status == 504 && calls[1].status == 502));
    for (int i = 0; i < 4; i++) /* the survivor serves */
        expect(invoke(&core, "tiny", "{}"), 200, NULL);
    /* back on the same port: the Core reconnects and uses it again */
    assert_true(worker_start(&w[0], funless_bin, "w1", cache, port, 1, 8));
    wait_connected(&core, 2);
    for (int i = 0; i < 20; i++)
        expect(invoke(&core, "tiny", "{}"), 200, NULL);
    assert_true(metric_value(&w[0], "funless_worker_invocations_total{") > 0);
    core_stop(&core, false);
    worker_stop(&w[0], false);
    worker_stop(&w[1], false);
}

/* Sends an invocation of _/FN on a raw connection and returns its socket, unread. */
static int invoke_raw(const struct core_process *core, const char *fn, const char *body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)core->port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    char request[1024];
    int n = snprintf(request, sizeof(request),
                     "POST /v1/fn/_/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     fn, core->guest_token, strlen(body), body);
    assert_int_equal(send(fd, request, (size_t)n, 0), n);
    return fd;
}

static long cancelled_on(const struct worker_process *w)
{
    return metric_value(w, "funless_worker_invocations_total{module=\"_\",function=\"spin\","
                           "outcome=\"cancelled\"}");
}

static void wait_cancelled(const struct worker_process *w, long want)
{
    for (int i = 0; i < 40 && cancelled_on(w) < want; i++)
        usleep(50 * 1000);
    assert_int_equal(cancelled_on(w), want);
}

/* Calls whose clients went away stop on the Worker and free its slots at once; so do the
 * calls of a Core that died. */
static void test_abandoned_calls(void **state)
{
    (void)state;
    if (skip_under_tsan())
        return;
    struct core_process core;
    struct worker_process w;
    start_one(&core, &w, "abandon", 2, 16);
    expect(deploy(&core, "POST", "/v1/fn/_", "spin", "c_spin.wasm", "{\"timeout_ms\":10000}", true),
           201, NULL);
    expect(deploy(&core, "POST", "/v1/fn/_", "tiny", "wat_tiny.wasm", NULL, true), 201, NULL);
    int fds[6];
    for (int i = 0; i < 6; i++) /* two run, four wait in the Worker's queue */
        fds[i] = invoke_raw(&core, "spin", "{\"args\":{\"ms\":8000}}");
    usleep(200 * 1000);
    for (int i = 0; i < 6; i++)
        close(fds[i]);
    double t0 = now_s();
    expect(invoke(&core, "tiny", "{}"), 200, "{\"data\":{}}");
    double waited = now_s() - t0;
    if (waited > 1.0)
        fail_msg("the next call waited %.2f s behind abandoned ones", waited);
    wait_cancelled(&w, 6);
    /* a Core killed with calls running: the Worker stops them when the link ends */
    for (int i = 0; i < 2; i++)
        fds[i] = invoke_raw(&core, "spin", "{\"args\":{\"ms\":8000}}");
    usleep(200 * 1000);
    core_stop(&core, true);
    t0 = now_s();
    wait_cancelled(&w, 8);
    assert_true(now_s() - t0 < 1.0); /* counted once each call has stopped */
    close(fds[0]);
    close(fds[1]);
    worker_stop(&w, false);
}

/* 502 quickly: measured alone, with no other call in flight to blur the timing. */
static void test_worker_killed_fast(void **state)
{
    (void)state;
    struct core_process core;
    struct worker_process w;
    start_one(&core, &w, "fast", 1, 8);
    expect(
        deploy(&core, "POST", "/v1/fn/_", "loop", "wat_loop.wasm", "{\"timeout_ms\":20000}", true),
        201, NULL);
    struct call c = {&core, "loop", 0, 0, NULL};
    pthread_t thread;
    pthread_create(&thread, NULL, call_thread, &c);
    usleep(500 * 1000);
    double killed_at = now_s();
    worker_stop(&w, true);
    pthread_join(thread, NULL);
    assert_int_equal(c.status, 502);
    double after_kill = now_s() - killed_at;
    if (after_kill > 1.0)
        fprintf(stderr, "502 came %.2f s after the kill\n", after_kill);
    assert_true(after_kill <= 1.0);
    core_stop(&core, false);
}

/* 200 concurrent clients, one Worker with one thread and a queue of 2: only 200s and 429s. */
static void test_saturation(void **state)
{
    (void)state;
    struct core_process core;
    struct worker_process w;
    start_one(&core, &w, "sat", 1, 2);
    expect(deploy(&core, "POST", "/v1/fn/_", "sha", "c_sha256.wasm", NULL, true), 201, NULL);
    enum { CLIENTS = 200 };
    static struct call calls[CLIENTS];
    static pthread_t threads[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        calls[i] = (struct call){&core, "sha", 0, 0, NULL};
        pthread_create(&threads[i], NULL, call_thread, &calls[i]);
    }
    int ok = 0, busy = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(threads[i], NULL);
        if (calls[i].status != 200 && calls[i].status != 429)
            fprintf(stderr, "client %d: status %ld\n", i, calls[i].status);
        assert_true(calls[i].status == 200 || calls[i].status == 429);
        ok += calls[i].status == 200;
        busy += calls[i].status == 429;
    }
    assert_true(ok > 0);
    assert_true(busy > 0);
    expect(invoke(&core, "sha", "{}"), 200, "sha256"); /* and it still serves */
    core_stop(&core, false);
    worker_stop(&w, false);
}

/* One invocation of "spin" with `body`, on a thread: its status and where it ran. */
struct placed_call {
    const struct core_process *core;
    const char *body;
    long status;
    char worker[64];
};

static void *placed_call_thread(void *arg)
{
    struct placed_call *c = arg;
    struct http_reply r = invoke(c->core, "spin", c->body);
    c->status = r.status;
    snprintf(c->worker, sizeof(c->worker), "%s", r.worker);
    http_reply_free(&r);
    return NULL;
}

/* A call a Worker turns away (BUSY) goes to the next Worker that fits, not back as 429. */
static void test_busy_goes_elsewhere(void **state)
{
    (void)state;
    struct core_process core;
    struct worker_process w[2];
    char dir[300], workers[128], cache[2][300];
    path_in_root(cache[0], sizeof(cache[0]), "busy-cache-w1");
    path_in_root(cache[1], sizeof(cache[1]), "busy-cache-w2");
    assert_true(worker_start(&w[0], funless_bin, "w1", cache[0], 0, 1, 1)); /* holds 2 calls */
    assert_true(worker_start(&w[1], funless_bin, "w2", cache[1], 0, 1, 8));
    snprintf(workers, sizeof(workers), "127.0.0.1:%u,127.0.0.1:%u", w[0].port, w[1].port);
    path_in_root(dir, sizeof(dir), "busy-core");
    assert_true(core_start_with(&core, funless_bin, dir, NULL, workers));
    wait_connected(&core, 2);
    expect(deploy(&core, "POST", "/v1/fn/_", "spin", "c_spin.wasm", NULL, true), 201, NULL);
    const char *yaml = "- default:\n  - workers: [w1]\n  - workers: [w2]\n";
    struct form_field fields[] = {
        {"name", "w1_first", 8, false}, {"file", yaml, strlen(yaml), true}, {0}};
    expect(http_form(&core, "POST", "/v1/scripts/app", core.guest_token, fields), 201, NULL);
    enum { CALLS = 4 }; /* all placed on w1 first: it holds two, says BUSY to the others */
    struct placed_call calls[CALLS];
    pthread_t threads[CALLS];
    for (int i = 0; i < CALLS; i++) {
        calls[i] = (struct placed_call){
            .core = &core,
            .body = "{\"args\":{\"ms\":400},\"scheduling\":{\"language\":\"app\","
                    "\"script\":\"w1_first\"}}"};
        pthread_create(&threads[i], NULL, placed_call_thread, &calls[i]);
    }
    int on_w2 = 0;
    for (int i = 0; i < CALLS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(calls[i].status, 200);
        on_w2 += strcmp(calls[i].worker, "w2") == 0;
    }
    assert_true(metric_value(&w[0], "funless_worker_busy_total ") > 0); /* it did say BUSY */
    assert_true(on_w2 > 0);
    core_stop(&core, false);
    worker_stop(&w[0], false);
    worker_stop(&w[1], false);
}

static void write_secret(const char *path, const char *secret)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", secret);
    fclose(f);
}

/* The cluster secret: a Worker works only for a Core that proves the same secret. */
static void test_secret(void **state)
{
    (void)state;
    char good[300], bad[300], cache[300], dir[300], workers[64];
    path_in_root(good, sizeof(good), "secret-good");
    path_in_root(bad, sizeof(bad), "secret-bad");
    write_secret(good, "correct horse battery staple");
    write_secret(bad, "another horse, another staple");
    path_in_root(cache, sizeof(cache), "secret-cache");
    struct worker_process w;
    setenv("FUNLESS_SECRET_FILE", good, 1);
    assert_true(worker_start(&w, funless_bin, "guarded", cache, 0, 1, 8));
    snprintf(workers, sizeof(workers), "127.0.0.1:%u", w.port);
    const char *secrets[] = {bad, NULL, good};
    for (int i = 0; i < 3; i++) {
        struct core_process core;
        if (secrets[i])
            setenv("FUNLESS_SECRET_FILE", secrets[i], 1);
        else
            unsetenv("FUNLESS_SECRET_FILE");
        snprintf(dir, sizeof(dir), "%s/secret-core-%d", root, i);
        assert_true(core_start_with(&core, funless_bin, dir, NULL, workers));
        if (i < 2) { /* wrong secret, or none: the Worker never joins */
            usleep(1200 * 1000);
            assert_int_equal(connected_count(&core), 0);
            expect(deploy(&core, "POST", "/v1/fn/_", "tiny", "wat_tiny.wasm", NULL, false), 201,
                   NULL);
            expect(invoke(&core, "tiny", "{}"), 503, "no worker available");
        } else {
            wait_connected(&core, 1);
            expect(deploy(&core, "POST", "/v1/fn/_", "tiny", "wat_tiny.wasm", NULL, true), 201,
                   NULL);
            expect(invoke(&core, "tiny", "{}"), 200, "{\"data\":{}}");
        }
        core_stop(&core, false);
    }
    unsetenv("FUNLESS_SECRET_FILE");
    worker_stop(&w, false);
}

/* Uploads (POST) or replaces (PUT) the APP script `name`. */
static void put_script(const struct core_process *core, const char *name, const char *yaml,
                       bool create)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/scripts/app%s%s", create ? "" : "/", create ? "" : name);
    struct form_field fields[] = {
        {"name", name, strlen(name), false}, {"file", yaml, strlen(yaml), true}, {0}};
    expect(http_form(core, create ? "POST" : "PUT", path, core->guest_token,
                     create ? fields : fields + 1),
           create ? 201 : 200, NULL);
}

/* An APP script pins a tag to one of 3 named Workers, capped at one call, falling back to
 * `default`: sequential calls all land there; concurrent ones put exactly one there. */
static void test_app_placement(void **state)
{
    (void)state;
    static const char *const names[] = {"wa", "wb", "wc"};
    struct worker_process w[3];
    char dir[300], workers[128] = "";
    for (int i = 0; i < 3; i++) {
        char cache[300];
        snprintf(cache, sizeof(cache), "%s/app-cache-%s", root, names[i]);
        assert_true(worker_start(&w[i], funless_bin, names[i], cache, 0, 4, 16));
        snprintf(workers + strlen(workers), sizeof(workers) - strlen(workers), "%s127.0.0.1:%u",
                 i ? "," : "", w[i].port);
    }
    struct core_process core;
    path_in_root(dir, sizeof(dir), "app-core");
    assert_true(core_start_with(&core, funless_bin, dir, NULL, workers));
    wait_connected(&core, 3);
    expect(deploy(&core, "POST", "/v1/fn/_", "spin", "c_spin.wasm", "{\"tag\":\"heavy\"}", true),
           201, NULL);
    const char *app_body = "{\"args\":{\"ms\":1},\"scheduling\":{\"language\":\"app\","
                           "\"script\":\"pin\"}}";
    expect(invoke(&core, "spin", app_body), 404, "script pin not found");
    put_script(&core, "pin",
               "- heavy:\n  - workers: [wb]\n    invalidate:\n      max_concurrent_invocations: 1\n"
               "  followup: default\n- default:\n  - workers: [wa, wc]\n    strategy: random\n",
               true);
    for (int i = 0; i < 8; i++) { /* one at a time: always the pinned Worker */
        struct http_reply r = invoke(&core, "spin", app_body);
        assert_string_equal(r.worker, "wb");
        expect(r, 200, "{\"data\":{\"spun\":1}}");
    }
    struct placed_call calls[6];
    pthread_t threads[6];
    for (int i = 0; i < 6; i++) {
        calls[i] = (struct placed_call){
            .core = &core,
            .body = "{\"args\":{\"ms\":700},\"scheduling\":{\"language\":\"app\","
                    "\"script\":\"pin\"}}"};
        pthread_create(&threads[i], NULL, placed_call_thread, &calls[i]);
    }
    int on_pinned = 0, on_default = 0;
    for (int i = 0; i < 6; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(calls[i].status, 200);
        on_pinned += strcmp(calls[i].worker, "wb") == 0;
        on_default += strcmp(calls[i].worker, "wa") == 0 || strcmp(calls[i].worker, "wc") == 0;
    }
    assert_int_equal(on_pinned, 1); /* max_concurrent_invocations: 1 */
    assert_int_equal(on_default, 5);
    /* a replaced script takes effect at once; a failing one says why, with 503 */
    put_script(&core, "pin", "- heavy:\n  - workers: [wc]\n", false);
    struct http_reply r = invoke(&core, "spin", app_body);
    assert_string_equal(r.worker, "wc");
    expect(r, 200, NULL);
    put_script(&core, "pin", "- heavy:\n  - workers: [nobody]\n", false);
    expect(invoke(&core, "spin", app_body), 503,
           "no worker can run _/spin: no valid worker in the blocks of tag heavy");
    expect(invoke(&core, "spin", "{\"scheduling\":{\"language\":\"lua\"}}"), 400,
           "unknown scheduling language");
    expect(invoke(&core, "spin", "{\"scheduling\":{\"language\":\"app\"}}"), 400,
           "scheduling.script");
    expect(invoke(&core, "spin", "{\"scheduling\":{\"language\":\"none\"}}"), 200, NULL);
    expect(http_call(&core, "DELETE", "/v1/scripts/app/pin", core.guest_token, NULL), 204, NULL);
    expect(invoke(&core, "spin", app_body), 404, "script pin not found");
    core_stop(&core, false);
    for (int i = 0; i < 3; i++)
        worker_stop(&w[i], false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_late_worker),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_hostile_names),
        cmocka_unit_test(test_abandoned_calls),
        cmocka_unit_test(test_memory_budget),
        cmocka_unit_test(test_worker_killed_fast),
        cmocka_unit_test(test_worker_killed),
        cmocka_unit_test(test_saturation),
        cmocka_unit_test(test_busy_goes_elsewhere),
        cmocka_unit_test(test_secret),
        cmocka_unit_test(test_app_placement),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
