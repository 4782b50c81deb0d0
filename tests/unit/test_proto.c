/* The Core <-> Worker frames: round trips, and refusal of every malformed shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
