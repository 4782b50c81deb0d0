/* The Core <-> Worker frames: round trips, and refusal of every malformed shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/announce.h"
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
                                 (const uint8_t *)"\0asm", 4));
    assert_int_equal(decode(&f, m), FL_OK);
    assert_int_equal(m->header.type, PROTO_INVOKE);
    assert_int_equal(m->header.id, 7);
    assert_string_equal(m->u.invoke.module, "mod");
    assert_string_equal(m->u.invoke.hash, "abc");
    assert_int_equal(m->u.invoke.timeout_ms, 1000);
    assert_int_equal(m->u.invoke.args.len, 2);
    assert_memory_equal(m->u.invoke.code.data, "\0asm", 4);
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
    f.data[2] = 2; /* version */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_announce),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
