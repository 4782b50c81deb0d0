/* Tests of src/common: bounded buffers, options, paths, hashes, processes, the event loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "common/buf.h"
#include "common/escape.h"
#include "common/net.h"
#include "common/evloop.h"
#include "common/hash.h"
#include "common/options.h"
#include "common/path.h"
#include "common/proc.h"

static void test_buf_bounded(void **state)
{
    (void)state;
    struct fl_buf b;
    fl_buf_init(&b, 8);
    assert_true(fl_buf_append(&b, "abcd", 4));
    assert_true(fl_buf_append(&b, "efgh", 4));
    assert_false(fl_buf_append(&b, "i", 1)); /* past the max: refused, unchanged */
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "abcdefgh");
    assert_false(fl_buf_set(&b, "123456789", 9));
    assert_string_equal(b.data, "abcdefgh");
    assert_true(fl_buf_set(&b, "xy", 2));
    assert_string_equal(b.data, "xy");
    assert_false(fl_buf_printf(&b, "%d", 1234567));
    assert_true(fl_buf_printf(&b, "%d", 12));
    assert_string_equal(b.data, "xy12");
    size_t len;
    char *s = fl_buf_steal(&b, &len);
    assert_int_equal(len, 4);
    assert_null(b.data);
    free(s);
    fl_buf_deinit(&b);
}

static void test_options(void **state)
{
    (void)state;
    const char *name = NULL;
    uint64_t n = 0;
    bool flag = false;
    const struct fl_option opts[] = {
        {"--name", "FL_TEST_NAME", FL_OPT_STRING, &name, "def", 0, 0, "a name"},
        {"--n", "FL_TEST_N", FL_OPT_UINT, &n, "5", 1, 10, "a number"},
        {"--flag", NULL, FL_OPT_FLAG, &flag, NULL, 0, 0, "a flag"},
    };
    char *pos[2], err[200];
    size_t npos;
    bool help;
    char *argv1[] = {"x", "file", "--n", "7", "--flag", "--name=abc", NULL};
    assert_true(fl_options_parse(opts, 3, 6, argv1, pos, 2, &npos, &help, err, sizeof(err)));
    assert_int_equal(npos, 1);
    assert_string_equal(pos[0], "file");
    assert_int_equal(n, 7);
    assert_true(flag);
    assert_string_equal(name, "abc");
    setenv("FL_TEST_N", "9", 1);
    char *argv2[] = {"x", NULL};
    assert_true(fl_options_parse(opts, 3, 1, argv2, pos, 2, &npos, &help, err, sizeof(err)));
    assert_int_equal(n, 9); /* env over default */
    char *argv3[] = {"x", "--n", "11", NULL};
    assert_false(fl_options_parse(opts, 3, 3, argv3, pos, 2, &npos, &help, err, sizeof(err)));
    assert_non_null(strstr(err, "from 1 to 10"));
    char *argv4[] = {"x", "--bogus", NULL};
    assert_false(fl_options_parse(opts, 3, 2, argv4, pos, 2, &npos, &help, err, sizeof(err)));
    unsetenv("FL_TEST_N");
}

static void test_path_join(void **state)
{
    (void)state;
    char out[8];
    assert_true(fl_path_join(out, sizeof(out), "a", "bc"));
    assert_string_equal(out, "a/bc");
    assert_false(fl_path_join(out, sizeof(out), "abcd", "efgh"));
    assert_string_equal(out, "");
}

static void test_hash_sha3(void **state)
{
    (void)state;
    char hex[FL_HASH_HEX_BYTES];
    const void *parts[] = {"abc"};
    size_t lens[] = {3};
    fl_hash_hex(parts, lens, 1, hex);
    /* SHA3-256("abc"), FIPS 202 example */
    assert_string_equal(hex, "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
}

static void test_proc_limits(void **state)
{
    (void)state;
    struct fl_buf out;
    fl_buf_init(&out, 16);
    int status;
    const char *echo[] = {"sh", "-c", "echo hello world, this is long; exit 3", NULL};
    assert_int_equal(proc_run(echo, -1, NULL, &out, &status), FL_OK);
    assert_int_equal(status, 3);
    assert_int_equal(out.len, 16); /* output kept up to its bound */
    const char *sleeper[] = {"sleep", "10", NULL};
    struct proc_limits limits = {.timeout_ms = 100};
    assert_int_equal(proc_run(sleeper, -1, &limits, NULL, &status), FL_OK);
    assert_int_equal(status, -1); /* killed at the deadline */
    fl_buf_deinit(&out);
}

/* What the loop did, seen from its handlers and hooks. */
struct loop_probe {
    struct evloop *loop;
    struct evloop_source pipe_in;
    atomic_int bytes, rounds;
    atomic_bool wrong_thread, flush_before_work;
    int work_this_round; /* loop thread only */
    char last;
};

static void probe_readable(struct evloop_source *source)
{
    struct loop_probe *p =
        (struct loop_probe *)((char *)source - offsetof(struct loop_probe, pipe_in));
    char c;
    if (!evloop_on_thread(p->loop))
        atomic_store(&p->wrong_thread, true);
    if (read(source->fd, &c, 1) == 1) {
        p->last = c;
        atomic_fetch_add(&p->bytes, 1);
    }
}

static void probe_work(void *arg)
{
    struct loop_probe *p = arg;
    p->work_this_round = 1;
}

static void probe_flush(void *arg)
{
    struct loop_probe *p = arg;
    if (!p->work_this_round)
        atomic_store(&p->flush_before_work, true);
    p->work_this_round = 0;
    atomic_fetch_add(&p->rounds, 1);
}

static void probe_remove(void *arg)
{
    struct loop_probe *p = arg;
    if (!evloop_on_thread(p->loop))
        atomic_store(&p->wrong_thread, true);
    evloop_remove(p->loop, &p->pipe_in);
}

static bool wait_for(atomic_int *counter, int at_least)
{
    for (int i = 0; i < 2000 && atomic_load(counter) < at_least; i++)
        usleep(1000);
    return atomic_load(counter) >= at_least;
}

/* A probe with a new loop (not started) and the read end of a new pipe `fds` as its source. */
static struct loop_probe *probe_on_pipe(int fds[2])
{
    assert_int_equal(pipe(fds), 0);
    struct loop_probe *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    p->loop = evloop_new();
    assert_non_null(p->loop);
    p->pipe_in = (struct evloop_source){fds[0], probe_readable};
    return p;
}

/* Handlers and hooks run on the loop's thread, work hooks before flush hooks, every round. */
static void test_evloop(void **state)
{
    (void)state;
    int fds[2];
    struct loop_probe *p = probe_on_pipe(fds);
    /* registered flush first: the phase, not the order, decides */
    assert_true(evloop_on_round_end(p->loop, EVLOOP_FLUSH, probe_flush, p));
    assert_true(evloop_on_round_end(p->loop, EVLOOP_WORK, probe_work, p));
    assert_true(evloop_start(p->loop));
    assert_false(evloop_on_thread(p->loop));
    assert_false(evloop_on_round_end(p->loop, EVLOOP_WORK, probe_work, p)); /* not from here */
    assert_true(evloop_add(p->loop, &p->pipe_in));
    assert_int_equal(write(fds[1], "xy", 2), 2);
    assert_true(wait_for(&p->bytes, 2)); /* level-triggered: both bytes, one read each */
    int rounds = atomic_load(&p->rounds);
    evloop_wake(p->loop);
    assert_true(wait_for(&p->rounds, rounds + 1));
    evloop_call(p->loop, probe_remove, p); /* returns once it has run */
    assert_int_equal(write(fds[1], "z", 1), 1);
    usleep(2 * EVLOOP_TICK_MS * 1000); /* a tick or two: rounds, but no read */
    assert_int_equal(atomic_load(&p->bytes), 2);
    assert_true(atomic_load(&p->rounds) > rounds + 1);
    assert_int_equal(p->last, 'y');
    assert_false(atomic_load(&p->wrong_thread));
    assert_false(atomic_load(&p->flush_before_work));
    evloop_free(p->loop);
    close(fds[0]);
    close(fds[1]);
    free(p);
}

/* A hook that asks for its next round within 5 ms gets it without a socket being ready; once
 * it stops asking, rounds come at the tick again. */
struct soon_probe {
    struct evloop *loop;
    atomic_bool asking;
    atomic_int rounds;
};

static void soon_hook(void *arg)
{
    struct soon_probe *p = arg;
    atomic_fetch_add(&p->rounds, 1);
    if (atomic_load(&p->asking))
        evloop_round_within(p->loop, 5);
}

static void test_evloop_round_within(void **state)
{
    (void)state;
    struct soon_probe p = {.loop = evloop_new()};
    atomic_store(&p.asking, true);
    assert_non_null(p.loop);
    assert_true(evloop_on_round_end(p.loop, EVLOOP_WORK, soon_hook, &p));
    evloop_round_within(p.loop, 5); /* not the loop's thread: nothing */
    assert_true(evloop_start(p.loop));
    evloop_wake(p.loop);
    usleep(300 * 1000); /* a round every 5 ms: about 60, and one a tick would be 2 */
    assert_true(atomic_load(&p.rounds) >= 10);
    atomic_store(&p.asking, false);
    usleep(20 * 1000);
    int rounds = atomic_load(&p.rounds);
    usleep(300 * 1000);
    assert_true(atomic_load(&p.rounds) - rounds <= 3);
    evloop_free(p.loop);
}

/* A loop that polls after busy rounds still hands every event over, and sleeps once traffic
 * stops: over 300 ms of quiet it spends no more than a few of its 1 ms polls of CPU. */
static double process_cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void test_evloop_busy_poll(void **state)
{
    (void)state;
    int fds[2];
    struct loop_probe *p = probe_on_pipe(fds);
    evloop_set_busy_poll(p->loop, 1000);
    assert_true(evloop_add(p->loop, &p->pipe_in));
    assert_true(evloop_start(p->loop));
    for (int i = 0; i < 50; i++) { /* within and past the polls */
        assert_int_equal(write(fds[1], "x", 1), 1);
        usleep(i % 2 ? 100 : 3000);
    }
    assert_true(wait_for(&p->bytes, 50));
    usleep(20 * 1000);
    double cpu_ms = process_cpu_ms();
    usleep(300 * 1000);
    assert_true(process_cpu_ms() - cpu_ms < 30);
    evloop_call(p->loop, probe_remove, p);
    assert_false(atomic_load(&p->wrong_thread));
    evloop_free(p->loop);
    close(fds[0]);
    close(fds[1]);
    free(p);
}

/* Two sources readable in the same round: the first one's handler removes the second, which
 * is then not called (its memory may already be gone). */
struct round_pair {
    struct evloop *loop;
    struct evloop_source a, b;
    atomic_int a_calls, b_calls;
};

static void pair_a_ready(struct evloop_source *source)
{
    struct round_pair *p = (struct round_pair *)((char *)source - offsetof(struct round_pair, a));
    char byte;
    if (read(source->fd, &byte, 1) == 1)
        atomic_fetch_add(&p->a_calls, 1);
    evloop_remove(p->loop, &p->b);
    evloop_remove(p->loop, &p->a);
}

static void pair_b_ready(struct evloop_source *source)
{
    struct round_pair *p = (struct round_pair *)((char *)source - offsetof(struct round_pair, b));
    atomic_fetch_add(&p->b_calls, 1);
    evloop_remove(p->loop, &p->b);
    evloop_remove(p->loop, &p->a);
}

static void pair_wait(void *arg)
{
    (void)arg;
}

static void test_evloop_remove_in_round(void **state)
{
    (void)state;
    int a[2], b[2];
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    struct round_pair p = {.loop = evloop_new()};
    assert_non_null(p.loop);
    p.a = (struct evloop_source){a[0], pair_a_ready};
    p.b = (struct evloop_source){b[0], pair_b_ready};
    assert_int_equal(write(a[1], "x", 1), 1); /* both readable before the loop's first wait */
    assert_int_equal(write(b[1], "y", 1), 1);
    assert_true(evloop_add(p.loop, &p.a) && evloop_add(p.loop, &p.b));
    assert_true(evloop_start(p.loop));
    usleep(50 * 1000);
    evloop_call(p.loop, pair_wait, NULL);
    /* whichever came first removed the other: exactly one handler ran */
    assert_int_equal(atomic_load(&p.a_calls) + atomic_load(&p.b_calls), 1);
    evloop_free(p.loop);
    close(a[0]), close(a[1]), close(b[0]), close(b[1]);
}

/* Tasks posted from several threads at once, one at a time and in chains, all run on the loop,
 * each thread's in the order posted: a post that finds the list taken wakes the loop, and one
 * that finds it waiting does not need to. */
enum { POSTERS = 4, POSTS_EACH = 20000, CHAIN_LEN = 7 };

struct post_probe {
    struct evloop *loop;
    atomic_int ran;
    atomic_bool out_of_order, wrong_thread;
    int next_index[POSTERS]; /* loop thread only */
};

struct posted {
    struct evloop_task task;
    struct post_probe *probe;
    int poster, index;
};

static void posted_run(struct evloop_task *task)
{
    struct posted *t = (struct posted *)task;
    struct post_probe *p = t->probe;
    if (!evloop_on_thread(p->loop))
        atomic_store(&p->wrong_thread, true);
    if (t->index != p->next_index[t->poster]++)
        atomic_store(&p->out_of_order, true);
    atomic_fetch_add(&p->ran, 1);
}

struct poster {
    struct post_probe *probe;
    struct posted *tasks;
    int id;
};

static void *poster_main(void *arg)
{
    struct poster *me = arg;
    for (int i = 0; i < POSTS_EACH;) {
        struct posted *t = &me->tasks[i];
        int len = i % 2 ? 1 : CHAIN_LEN; /* alone and in chains, in turn */
        if (len > POSTS_EACH - i)
            len = POSTS_EACH - i;
        for (int k = 0; k < len; k++) {
            t[k] = (struct posted){
                .task = {.run = posted_run}, .probe = me->probe, .poster = me->id, .index = i + k};
            t[k].task.next = k + 1 < len ? &t[k + 1].task : NULL;
        }
        if (len == 1)
            evloop_post(me->probe->loop, &t->task);
        else
            evloop_post_chain(me->probe->loop, &t->task);
        i += len;
    }
    return NULL;
}

static void test_evloop_post_from_threads(void **state)
{
    (void)state;
    struct post_probe p = {.loop = evloop_new()};
    assert_non_null(p.loop);
    assert_true(evloop_start(p.loop));
    struct poster posters[POSTERS];
    pthread_t threads[POSTERS];
    for (int i = 0; i < POSTERS; i++) {
        posters[i] = (struct poster){&p, calloc(POSTS_EACH, sizeof(struct posted)), i};
        assert_non_null(posters[i].tasks);
        assert_int_equal(pthread_create(&threads[i], NULL, poster_main, &posters[i]), 0);
    }
    for (int i = 0; i < POSTERS; i++)
        pthread_join(threads[i], NULL);
    /* no wake-up lost: every task runs without another post or a round to carry it */
    assert_true(wait_for(&p.ran, POSTERS * POSTS_EACH));
    /* one at a time, each after the last has run: every post finds the list empty and wakes */
    for (int i = 0; i < 100; i++) {
        struct posted *t = &posters[0].tasks[i];
        *t = (struct posted){.task = {.run = posted_run}, .probe = &p, .index = POSTS_EACH + i};
        assert_true(evloop_post(p.loop, &t->task));
        assert_true(wait_for(&p.ran, POSTERS * POSTS_EACH + i + 1));
    }
    assert_false(atomic_load(&p.out_of_order));
    assert_false(atomic_load(&p.wrong_thread));
    evloop_free(p.loop);
    for (int i = 0; i < POSTERS; i++)
        free(posters[i].tasks);
}

static bool loopback(int family, const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = (sa_family_t)family;
    void *where = family == AF_INET ? (void *)&((struct sockaddr_in *)&ss)->sin_addr
                                    : (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
    assert_int_equal(inet_pton(family, text, where), 1);
    return fl_addr_is_loopback(&ss);
}

static void test_loopback(void **state)
{
    (void)state;
    assert_true(loopback(AF_INET, "127.0.0.1"));
    assert_true(loopback(AF_INET, "127.200.3.4"));
    assert_false(loopback(AF_INET, "128.0.0.1"));
    assert_false(loopback(AF_INET, "10.0.0.1"));
    assert_false(loopback(AF_INET, "0.0.0.0"));
    assert_true(loopback(AF_INET6, "::1"));
    assert_true(loopback(AF_INET6, "::ffff:127.0.0.9"));
    assert_false(loopback(AF_INET6, "::ffff:10.0.0.1"));
    assert_false(loopback(AF_INET6, "fe80::1"));
}

/* What reaches a log line or a Prometheus label from outside cannot break its line. */
static void test_escape(void **state)
{
    (void)state;
    char out[64];
    fl_escape_log("a\"b\\c\r\nd\x01\xff", out, sizeof(out));
    assert_string_equal(out, "a\\\"b\\\\c\\x0d\\x0ad\\x01\\xff");
    fl_escape_log("0123456789012345678901234567890123456789", out, 16);
    assert_string_equal(out, "012345678901...");
    struct fl_buf b;
    fl_buf_init(&b, 256);
    assert_true(fl_buf_prom_label(&b, "x\"} 1\nfake_metric{a=\"\\"));
    assert_string_equal(b.data, "x\\\"} 1\\nfake_metric{a=\\\"\\\\");
    fl_buf_deinit(&b);
    assert_true(fl_worker_name_valid("node-1.example_x"));
    assert_false(fl_worker_name_valid(""));
    assert_false(fl_worker_name_valid("evil\r\nX-Injected: 1"));
    assert_false(fl_worker_name_valid("a b"));
    assert_false(
        fl_worker_name_valid("0123456789012345678901234567890123456789012345678901234567890123"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_bounded),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_path_join),
        cmocka_unit_test(test_hash_sha3),
        cmocka_unit_test(test_proc_limits),
        cmocka_unit_test(test_evloop),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_evloop_remove_in_round),
        cmocka_unit_test(test_evloop_round_within),
        cmocka_unit_test(test_evloop_busy_poll),
        cmocka_unit_test(test_evloop_post_from_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
