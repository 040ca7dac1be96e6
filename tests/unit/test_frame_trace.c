/* Unit tests for frame traces: the ring's bounds, output split into frames, taps let go. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "amqp_frame.h"
#include "proto/frame_trace.h"

/* A heartbeat-sized frame of `type` with a payload of n octets, all `fill`. */
static size_t make_frame(uint8_t *out, uint8_t type, uint16_t channel, size_t n, uint8_t fill)
{
    out[0] = type;
    out[1] = (uint8_t)(channel >> 8);
    out[2] = (uint8_t)channel;
    out[3] = (uint8_t)(n >> 24);
    out[4] = (uint8_t)(n >> 16);
    out[5] = (uint8_t)(n >> 8);
    out[6] = (uint8_t)n;
    memset(out + 7, fill, n);
    out[7 + n] = AMQP_FRAME_END;
    return n + 8;
}

START_TEST(test_ring_keeps_the_newest)
{
    struct frame_traces *traces = frame_traces_new();
    struct frame_trace *t = frame_traces_start(traces, FRAME_TRACE_CONNECTION, "c", 3, 1 << 20);
    struct frame_tap tap;
    frame_tap_init(&tap);
    frame_tap_attach(&tap, t, "127.0.0.1:1 -> 127.0.0.1:2", false);
    uint8_t f[64];
    for (uint8_t i = 0; i < 5; i++)
        frame_tap_record(&tap, FRAME_TRACE_IN, f, make_frame(f, 3, 1, 4, i));
    ck_assert_uint_eq(t->len, 3);
    ck_assert_uint_eq(t->recorded, 5);
    ck_assert_uint_eq(t->dropped, 2);
    ck_assert_uint_eq(frame_trace_at(t, 0)->bytes[7], 2); /* the oldest kept is the third */
    ck_assert_uint_eq(frame_trace_at(t, 2)->bytes[7], 4);
    ck_assert_uint_eq(t->bytes, 3 * 12);
    frame_traces_free(traces);
    ck_assert_ptr_null(tap.trace); /* the connection stops recording */
}
END_TEST

START_TEST(test_ring_bounded_by_bytes)
{
    struct frame_traces *traces = frame_traces_new();
    struct frame_trace *t = frame_traces_start(traces, FRAME_TRACE_VHOST, "/", 100, 40);
    struct frame_tap tap;
    frame_tap_init(&tap);
    frame_tap_attach(&tap, t, "a", false);
    uint8_t f[64];
    for (uint8_t i = 0; i < 4; i++)
        frame_tap_record(&tap, FRAME_TRACE_OUT, f, make_frame(f, 1, 0, 10, i)); /* 18 each */
    ck_assert_uint_eq(t->len, 2);
    ck_assert_uint_le(t->bytes, 40);
    frame_tap_record(&tap, FRAME_TRACE_OUT, f, make_frame(f, 3, 0, 50, 9)); /* larger than all */
    ck_assert_uint_eq(t->len, 2);
    frame_tap_detach(&tap);
    frame_traces_delete(traces, t);
    ck_assert_ptr_null(frame_traces_find(traces, FRAME_TRACE_VHOST, "/"));
    frame_traces_free(traces);
}
END_TEST

START_TEST(test_output_split_into_frames)
{
    struct frame_traces *traces = frame_traces_new();
    struct frame_trace *t = frame_traces_start(traces, FRAME_TRACE_CONNECTION, "c", 10, 1 << 20);
    struct frame_tap tap;
    frame_tap_init(&tap);
    frame_tap_attach(&tap, t, "c", false);
    struct output o;
    output_init(&o);
    uint8_t f[64];
    amqp_buf_put(&o.bytes, f, make_frame(f, 1, 1, 5, 'a'));
    amqp_buf_put(&o.bytes, f, make_frame(f, 2, 1, 14, 'b'));
    amqp_frame_put_heartbeat(&o.bytes);
    frame_tap_record_output(&tap, &o);
    ck_assert_uint_eq(t->len, 3);
    ck_assert_uint_eq(frame_trace_at(t, 0)->len, 13);
    ck_assert_uint_eq(frame_trace_at(t, 1)->bytes[0], 2);
    ck_assert_uint_eq(frame_trace_at(t, 2)->bytes[0], 8);
    ck_assert_uint_eq(frame_trace_at(t, 2)->direction, FRAME_TRACE_OUT);
    /* restarting empties it and keeps the tap */
    frame_traces_start(traces, FRAME_TRACE_CONNECTION, "c", 2, 1 << 20);
    ck_assert_uint_eq(t->len, 0);
    ck_assert_ptr_eq(tap.trace, t);
    output_free(&o);
    frame_traces_free(traces);
}
END_TEST

START_TEST(test_connections_forgotten)
{
    /* a vhost trace of many short connections keeps only those still in sight */
    struct frame_traces *traces = frame_traces_new();
    struct frame_trace *t = frame_traces_start(traces, FRAME_TRACE_VHOST, "/", 3, 1 << 20);
    struct frame_tap stay;
    frame_tap_init(&stay);
    frame_tap_attach(&stay, t, "stays", false);
    uint8_t f[64];
    for (int i = 0; i < 1000; i++) {
        struct frame_tap tap;
        char name[32];
        snprintf(name, sizeof name, "c%d", i);
        frame_tap_init(&tap);
        frame_tap_attach(&tap, t, name, false);
        frame_tap_record(&tap, FRAME_TRACE_IN, f, make_frame(f, 1, 0, 1, (uint8_t)i));
        frame_tap_detach(&tap);
    }
    ck_assert_uint_lt(t->nstreams, 130);
    frame_tap_record(&stay, FRAME_TRACE_IN, f, make_frame(f, 1, 0, 1, 0));
    ck_assert_str_eq(t->streams[frame_trace_at(t, 2)->stream].name, "stays");
    ck_assert_str_eq(t->streams[frame_trace_at(t, 1)->stream].name, "c999");
    ck_assert_str_eq(t->streams[frame_trace_at(t, 0)->stream].name, "c998");
    frame_traces_free(traces);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("frame_trace");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_ring_keeps_the_newest);
    tcase_add_test(tc, test_ring_bounded_by_bytes);
    tcase_add_test(tc, test_output_split_into_frames);
    tcase_add_test(tc, test_connections_forgotten);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
