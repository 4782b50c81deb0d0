/* The Core <-> Worker frames: round trips, and refusal of every malformed shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/announce.h"
#include "proto/link.h"
#include "proto/proto.h"

static enum fl_err decode(const struct fl_buf *frame, struct proto_msg *msg)
{
    struct proto_header h;
    enum fl_err err = proto_read_header((const uint8_t *)frame->data, &h);
    if (err != FL_OK)
        return err;
    if (h.length != frame->len - PROTO_HEADER_BYTES)
        return FL_ERR_BAD_REQUEST;
    return proto_decode(&h, (const uint8_t *)frame->data + PROTO_HEADER_BYTES, msg);
}

static void test_round_trips(void **state)
{
    (void)state;
    struct fl_buf f;
    fl_buf_init(&f, 1 << 20);
    struct proto_msg *m = malloc(sizeof(*m));
    assert_true(proto_put_invoke(&f, 7, "mod", "fn", "abc", 64, 1000, (const uint8_t *)"{}", 2,
                                 (const uint8_t *)"\0asm", 4, "api.example.com,10.0.0.0/8",
                                 (const uint8_t *)"A=1\0B=two\0", 10));
    assert_int_equal(decode(&f, m), FL_OK);
    assert_string_equal(m->u.invoke.http_allow, "api.example.com,10.0.0.0/8");
    assert_int_equal(m->u.invoke.env.len, 10);
    assert_memory_equal(m->u.invoke.env.data, "A=1\0B=two\0", 10);
    assert_int_equal(m->header.type, PROTO_INVOKE);
    assert_int_equal(m->header.id, 7);
    assert_string_equal(m->u.invoke.module, "mod");
    assert_string_equal(m->u.invoke.hash, "abc");
    assert_int_equal(m->u.invoke.timeout_ms, 1000);
    assert_int_equal(m->u.invoke.args.len, 2);
    assert_memory_equal(m->u.invoke.code.data, "\0asm", 4);
    fl_buf_reset(&f); /* an environment whose last entry has no end is refused */
    assert_true(proto_put_invoke(&f, 8, "mod", "fn", "abc", 64, 1000, (const uint8_t *)"{}", 2,
                                 NULL, 0, "", (const uint8_t *)"A=1", 3));
    assert_int_not_equal(decode(&f, m), FL_OK);
    fl_buf_reset(&f);
    assert_true(proto_put_result(&f, 9, FL_ERR_TRAP, "out", 3, "", 0, "trapped"));
    assert_int_equal(decode(&f, m), FL_OK);
    assert_int_equal(m->u.result.status, FL_ERR_TRAP);
    assert_string_equal(m->u.result.detail, "trapped");
    fl_buf_reset(&f);
    assert_true(proto_put_heartbeat(&f, 1ull << 40, 1ull << 41, 1500, 3, 4));
    assert_int_equal(decode(&f, m), FL_OK);
    assert_true(m->u.heartbeat.free_mem == 1ull << 40);
    assert_int_equal(m->u.heartbeat.queued, 4);
    fl_buf_reset(&f);
    assert_true(proto_put_empty(&f, PROTO_BUSY, 11));
    assert_int_equal(decode(&f, m), FL_OK);
    assert_int_equal(m->header.type, PROTO_BUSY);
    free(m);
    fl_buf_deinit(&f);
}

static void test_malformed(void **state)
{
    (void)state;
    struct fl_buf f;
    fl_buf_init(&f, 1 << 20);
    struct proto_msg *m = malloc(sizeof(*m));
    assert_true(proto_put_ack(&f, 1, 0, "fine"));
    struct proto_header h;
    f.data[0] = 'X'; /* magic */
    assert_int_equal(proto_read_header((const uint8_t *)f.data, &h), FL_ERR_BAD_REQUEST);
    f.data[0] = 'F';
    f.data[2] = PROTO_VERSION + 1; /* another version */
    assert_int_equal(proto_read_header((const uint8_t *)f.data, &h), FL_ERR_BAD_REQUEST);
    f.data[2] = PROTO_VERSION;
    f.data[3] = 99; /* type */
    assert_int_equal(proto_read_header((const uint8_t *)f.data, &h), FL_ERR_BAD_REQUEST);
    f.data[3] = PROTO_ACK;
    f.data[11] = 0x7f; /* a length far past the maximum */
    assert_int_equal(proto_read_header((const uint8_t *)f.data, &h), FL_ERR_BAD_REQUEST);
    f.data[11] = 0;
    /* a string that says it is longer than the payload */
    assert_int_equal(proto_read_header((const uint8_t *)f.data, &h), FL_OK);
    ((uint8_t *)f.data)[PROTO_HEADER_BYTES + 4] = 200;
    assert_int_equal(proto_decode(&h, (const uint8_t *)f.data + PROTO_HEADER_BYTES, m),
                     FL_ERR_BAD_REQUEST);
    /* trailing bytes */
    fl_buf_reset(&f);
    assert_true(proto_put_empty(&f, PROTO_NO_CODE, 3));
    h = (struct proto_header){PROTO_NO_CODE, 3, 1};
    assert_int_equal(proto_decode(&h, (const uint8_t *)"x", m), FL_ERR_BAD_REQUEST);
    /* a NUL inside a string */
    fl_buf_reset(&f);
    assert_true(proto_put_drop(&f, 1, "a", "b"));
    ((uint8_t *)f.data)[PROTO_HEADER_BYTES + 4] = 0;
    assert_int_equal(decode(&f, m), FL_ERR_BAD_REQUEST);
    free(m);
    fl_buf_deinit(&f);
}

/* Announcements: signed round trip, refused when tampered or unsigned, replays refused. */
static void test_announce(void **state)
{
    (void)state;
    struct fl_secret secret = {.set = true, .len = 12};
    memcpy(secret.key, "cluster-key!", 12);
    struct fl_secret other = secret;
    other.key[0] = 'X';
    struct announce a = {.port = 4020, .sequence = 7, .time_ms = 1000000}, got;
    snprintf(a.name, sizeof(a.name), "w1");
    memcpy(a.boot_id, "bootboot", 8);
    uint8_t datagram[ANNOUNCE_MAX_BYTES];
    size_t len = announce_encode(&a, &secret, datagram, sizeof(datagram));
    char detail[128];
    assert_int_equal(announce_decode(datagram, len, &secret, &got, detail, sizeof(detail)), FL_OK);
    assert_string_equal(got.name, "w1");
    assert_int_equal(got.port, 4020);
    assert_int_equal(got.sequence, 7);
    assert_true(got.is_signed);
    assert_int_equal(announce_decode(datagram, len, &other, &got, detail, sizeof(detail)),
                     FL_ERR_UNAUTHORIZED);
    assert_string_equal(detail, "wrong cluster secret");
    datagram[20] ^= 1; /* the sequence, tampered */
    assert_int_equal(announce_decode(datagram, len, &secret, &got, detail, sizeof(detail)),
                     FL_ERR_UNAUTHORIZED);
    size_t unsigned_len = announce_encode(&a, NULL, datagram, sizeof(datagram));
    assert_int_equal(announce_decode(datagram, unsigned_len, &secret, &got, detail, sizeof(detail)),
                     FL_ERR_UNAUTHORIZED);
    assert_int_equal(announce_decode(datagram, unsigned_len, NULL, &got, detail, sizeof(detail)),
                     FL_OK);
    assert_int_equal(
        announce_decode(datagram, unsigned_len - 1, NULL, &got, detail, sizeof(detail)),
        FL_ERR_BAD_REQUEST);
    assert_int_equal(announce_encode(&a, &secret, datagram, 40), 0); /* too small a buffer */

    struct announce_seen seen = {0};
    assert_false(announce_replay(&seen, &a, 1000000, 30000));
    assert_true(announce_replay(&seen, &a, 1000000, 30000)); /* the same one again */
    a.sequence = 8;
    assert_false(announce_replay(&seen, &a, 1000500, 30000));
    a.sequence = 9;
    a.time_ms = 900000;
    assert_true(announce_replay(&seen, &a, 1000500, 30000)); /* 100 s away from our clock */
    struct announce older_boot = a;
    memcpy(older_boot.boot_id, "earlier!", 8);
    older_boot.time_ms = 999000; /* a previous run of the Worker, replayed */
    assert_true(announce_replay(&seen, &older_boot, 1000500, 30000));
    struct announce restarted = older_boot;
    restarted.time_ms = 1000600;
    restarted.sequence = 1; /* a new run starts counting again */
    assert_false(announce_replay(&seen, &restarted, 1000700, 30000));
}

/* What link_read_ready handed over, in order. */
struct frames_seen {
    uint32_t ids[512];
    size_t count;
    size_t big_len; /* output length of the frame with id 1000 */
    bool big_intact;
    size_t refuse_at; /* on_frame says "hang up" at this count (0: never) */
};

static bool collect(void *arg, const struct proto_msg *m)
{
    struct frames_seen *seen = arg;
    if (seen->refuse_at && seen->count + 1 == seen->refuse_at)
        return false;
    seen->ids[seen->count++] = m->header.id;
    if (m->header.id == 1000) {
        seen->big_len = m->u.result.output.len;
        seen->big_intact = true;
        for (size_t i = 0; i < m->u.result.output.len; i++)
            seen->big_intact &= m->u.result.output.data[i] == (uint8_t)('a' + i % 26);
    }
    return true;
}

/* `link` on end `end` of a new connected socket pair `fds`. */
static void link_on_pair(struct link *link, int fds[2], int end)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    link_init(link, fds[end]);
}

/* 300 small frames with a 100 KB one (larger than the read-ahead buffer) in the middle. */
static void frames_stream(struct fl_buf *out)
{
    static char big[100000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    for (uint32_t id = 1; id <= 300; id++) {
        assert_true(proto_put_result(out, id, FL_OK, "{}", 2, "", 0, ""));
        if (id == 150)
            assert_true(proto_put_result(out, 1000, FL_OK, big, sizeof(big), "", 0, ""));
        if (id % 50 == 0)
            assert_true(proto_put_heartbeat(out, 1, 2, 3, 4, 5));
    }
}

/*
 * A reader on an event loop gets every frame whole and in order, however the bytes are cut
 * on the way (one byte, a header's part, many frames at once, a large frame in pieces).
 */
static void test_link_read_ready(void **state)
{
    (void)state;
    int fds[2];
    struct link reader;
    link_on_pair(&reader, fds, 0);
    struct fl_buf stream, payload;
    fl_buf_init(&stream, 8 << 20);
    fl_buf_init(&payload, PROTO_MAX_PAYLOAD);
    frames_stream(&stream);
    struct proto_msg *m = malloc(sizeof(*m));
    struct frames_seen *seen = calloc(1, sizeof(*seen));
    static const size_t cuts[] = {1, 3, 15, 16, 17, 700, 4096, 16385, 40000};
    size_t sent = 0;
    for (size_t k = 0; sent < stream.len; k++) {
        size_t n = cuts[k % (sizeof(cuts) / sizeof(cuts[0]))];
        n = n < stream.len - sent ? n : stream.len - sent;
        assert_int_equal(write(fds[1], stream.data + sent, n), (ssize_t)n);
        sent += n;
        assert_int_equal(link_read_ready(&reader, &payload, m, collect, seen), FL_OK);
    }
    assert_int_equal(seen->count, 300 + 1 + 6); /* results, the large one, heartbeats */
    size_t at = 0;
    for (uint32_t id = 1; id <= 300; id++) { /* in the order sent */
        assert_int_equal(seen->ids[at++], id);
        if (id == 150)
            assert_int_equal(seen->ids[at++], 1000);
        if (id % 50 == 0)
            assert_int_equal(seen->ids[at++], 0); /* a heartbeat has no id */
    }
    assert_int_equal(seen->big_len, 100000);
    assert_true(seen->big_intact);
    /* nothing more: a read finds nothing and says so without waiting */
    assert_int_equal(link_read_ready(&reader, &payload, m, collect, seen), FL_OK);
    close(fds[1]);
    assert_int_equal(link_read_ready(&reader, &payload, m, collect, seen), FL_ERR_IO);
    link_close(&reader);
    link_deinit(&reader);
    free(seen);
    free(m);
    fl_buf_deinit(&payload);
    fl_buf_deinit(&stream);
}

/* link_poll_briefly: nothing within its time → false; bytes already there, or arriving while
 * it polls → true, and link_read then reads the frame; the peer gone → false. */
struct late_writer {
    int fd;
    struct fl_buf frame;
};

static void *write_late(void *arg)
{
    struct late_writer *w = arg;
    usleep(2000);
    assert_int_equal(write(w->fd, w->frame.data, w->frame.len), (ssize_t)w->frame.len);
    return NULL;
}

static void test_link_poll_briefly(void **state)
{
    (void)state;
    int fds[2];
    struct link reader;
    link_on_pair(&reader, fds, 0);
    struct fl_buf payload;
    fl_buf_init(&payload, PROTO_MAX_PAYLOAD);
    struct proto_msg *m = malloc(sizeof(*m));
    struct late_writer w = {.fd = fds[1]};
    fl_buf_init(&w.frame, 4096);
    assert_true(proto_put_result(&w.frame, 7, FL_OK, "{}", 2, "", 0, ""));

    assert_false(link_poll_briefly(&reader, 100 * 1000)); /* 100 µs of nothing */
    assert_false(link_has_bytes(&reader));
    pthread_t writer;
    assert_int_equal(pthread_create(&writer, NULL, write_late, &w), 0);
    assert_true(link_poll_briefly(&reader, 5ULL * 1000 * 1000 * 1000)); /* comes in 2 ms */
    pthread_join(writer, NULL);
    assert_true(link_has_bytes(&reader));
    assert_true(link_poll_briefly(&reader, 0)); /* already there: at once */
    assert_int_equal(link_read(&reader, &payload, m), FL_OK);
    assert_int_equal(m->header.id, 7);
    close(fds[1]);
    assert_false(link_poll_briefly(&reader, 5ULL * 1000 * 1000 * 1000)); /* EOF: not 5 s */
    link_close(&reader);
    link_deinit(&reader);
    fl_buf_deinit(&w.frame);
    fl_buf_deinit(&payload);
    free(m);
}

/* A malformed header, and a handler that hangs up, end the connection. */
static void test_link_read_ready_refusals(void **state)
{
    (void)state;
    struct fl_buf stream, payload;
    fl_buf_init(&stream, 8 << 20);
    fl_buf_init(&payload, PROTO_MAX_PAYLOAD);
    struct proto_msg *m = malloc(sizeof(*m));
    struct frames_seen *seen = calloc(1, sizeof(*seen));
    for (int variant = 0; variant < 2; variant++) {
        int fds[2];
        struct link reader;
        link_on_pair(&reader, fds, 0);
        fl_buf_reset(&stream);
        assert_true(proto_put_result(&stream, 1, FL_OK, "{}", 2, "", 0, ""));
        assert_true(proto_put_result(&stream, 2, FL_OK, "{}", 2, "", 0, ""));
        if (variant == 0)
            memset(stream.data + stream.len / 2, 0xff, 4); /* the second frame's magic */
        *seen = (struct frames_seen){.refuse_at = variant == 1 ? 2 : 0};
        assert_int_equal(write(fds[1], stream.data, stream.len), (ssize_t)stream.len);
        assert_int_equal(link_read_ready(&reader, &payload, m, collect, seen), FL_ERR_BAD_REQUEST);
        assert_int_equal(seen->count, 1);
        close(fds[1]);
        link_close(&reader);
        link_deinit(&reader);
    }
    free(seen);
    free(m);
    fl_buf_deinit(&payload);
    fl_buf_deinit(&stream);
}

/* Queued frames leave only with a flush, or ahead of a later write, in order. */
static void test_link_queue(void **state)
{
    (void)state;
    int fds[2];
    struct link writer;
    link_on_pair(&writer, fds, 1);
    struct fl_buf frame;
    fl_buf_init(&frame, 1 << 20);
    for (uint32_t id = 1; id <= 3; id++) {
        fl_buf_reset(&frame);
        assert_true(proto_put_empty(&frame, PROTO_BUSY, id));
        assert_true(link_queue(&writer, &frame));
    }
    char got[256];
    assert_int_equal(recv(fds[0], got, sizeof(got), MSG_DONTWAIT), -1); /* nothing sent yet */
    assert_int_equal(link_flush(&writer), LINK_FLUSHED);
    assert_int_equal(recv(fds[0], got, sizeof(got), MSG_DONTWAIT), 3 * PROTO_HEADER_BYTES);
    fl_buf_reset(&frame);
    assert_true(proto_put_empty(&frame, PROTO_BUSY, 4));
    assert_true(link_queue(&writer, &frame));
    fl_buf_reset(&frame);
    assert_true(proto_put_empty(&frame, PROTO_BUSY, 5));
    assert_true(link_write(&writer, &frame)); /* the queued one goes first */
    assert_int_equal(recv(fds[0], got, sizeof(got), MSG_DONTWAIT), 2 * PROTO_HEADER_BYTES);
    struct proto_header h;
    assert_int_equal(proto_read_header((const uint8_t *)got, &h), FL_OK);
    assert_int_equal(h.id, 4);
    assert_int_equal(proto_read_header((const uint8_t *)got + PROTO_HEADER_BYTES, &h), FL_OK);
    assert_int_equal(h.id, 5);
    close(fds[0]);
    link_close(&writer);
    link_deinit(&writer);
    fl_buf_deinit(&frame);
}

/* Reads everything from `fd` until EOF (a thread: the writer blocks meanwhile). */
struct drain {
    int fd;
    struct fl_buf got;
};

static void *drain_main(void *arg)
{
    struct drain *d = arg;
    char chunk[65536];
    ssize_t n;
    while ((n = read(d->fd, chunk, sizeof(chunk))) > 0)
        fl_buf_append(&d->got, chunk, (size_t)n);
    return NULL;
}

/*
 * A flush never waits: not for another writer (it gives way, and the writer sends the queue),
 * not for a full socket (the rest goes first with the next write). The stream stays whole.
 */
static void test_link_flush_never_waits(void **state)
{
    (void)state;
    int fds[2];
    struct link writer;
    link_on_pair(&writer, fds, 1);
    struct fl_buf frame;
    fl_buf_init(&frame, 1 << 20);
    assert_true(proto_put_empty(&frame, PROTO_BUSY, 1));
    assert_true(link_queue(&writer, &frame));
    pthread_mutex_lock(&writer.write_lock); /* another thread is writing */
    assert_int_equal(link_flush(&writer), LINK_FLUSH_LATER);
    pthread_mutex_unlock(&writer.write_lock);
    static char big[200000];
    uint32_t id = 2;
    enum link_flush_result result = LINK_FLUSHED;
    for (; id < 200 && result == LINK_FLUSHED; id++) { /* until the socket is full */
        fl_buf_reset(&frame);
        assert_true(proto_put_result(&frame, id, FL_OK, big, sizeof(big), "", 0, ""));
        assert_true(link_queue(&writer, &frame));
        result = link_flush(&writer);
    }
    assert_int_equal(result, LINK_FLUSH_LATER); /* did not wait */
    struct drain d = {.fd = fds[0]};
    fl_buf_init(&d.got, 256 << 20);
    pthread_t reader;
    pthread_create(&reader, NULL, drain_main, &d);
    fl_buf_reset(&frame);
    assert_true(proto_put_empty(&frame, PROTO_BUSY, id));
    assert_true(link_write(&writer, &frame)); /* the rest of the queue first */
    link_close(&writer);
    pthread_join(reader, NULL);
    size_t at = 0;
    for (uint32_t want = 1; want <= id; want++) { /* every frame, whole, in order */
        struct proto_header h;
        assert_true(at + PROTO_HEADER_BYTES <= d.got.len);
        assert_int_equal(proto_read_header((const uint8_t *)d.got.data + at, &h), FL_OK);
        assert_int_equal(h.id, want);
        at += PROTO_HEADER_BYTES + h.length;
    }
    assert_int_equal(at, d.got.len);
    close(fds[0]);
    link_deinit(&writer);
    fl_buf_deinit(&d.got);
    fl_buf_deinit(&frame);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_announce),
        cmocka_unit_test(test_link_read_ready),
        cmocka_unit_test(test_link_read_ready_refusals),
        cmocka_unit_test(test_link_queue),
        cmocka_unit_test(test_link_poll_briefly),
        cmocka_unit_test(test_link_flush_never_waits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
