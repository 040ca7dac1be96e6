/* Unit tests for the incremental frame reader and the frame writers. */
#include <check.h>
#include <stdlib.h>

#include "amqp_frame.h"
#include "amqp_spec.h"
#include "amqp_wire.h"

#define MAX_PAYLOAD 131072u
#define MAX_FRAMES 64

static uint64_t rng_state;

static uint32_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* A frame as the tests remember it: the payload copied out of the reader's buffer. */
struct seen_frame {
    uint8_t type;
    uint16_t channel;
    size_t len;
    uint8_t payload[2048];
};

struct seen {
    struct seen_frame frames[MAX_FRAMES];
    size_t count;
};

static void put_frame(struct amqp_buf *b, uint8_t type, uint16_t channel, const void *payload,
                      size_t len)
{
    size_t start = amqp_frame_begin(b, type, channel);
    amqp_buf_put(b, payload, len);
    amqp_frame_finish(b, start);
}

/* Several frames of every type, including an empty body and a payload larger than a split. */
static void build_stream(struct amqp_buf *b)
{
    static const uint8_t open[] = {0, 10, 0, 40, 1, '/', 0, 0};
    static const uint8_t header[] = {0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0x80, 0};
    uint8_t big[1500];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    put_frame(b, AMQP_FRAME_METHOD, 0, open, sizeof open);
    amqp_frame_put_heartbeat(b);
    put_frame(b, AMQP_FRAME_METHOD, 1, open, 4);
    put_frame(b, AMQP_FRAME_HEADER, 1, header, sizeof header);
    put_frame(b, AMQP_FRAME_BODY, 1, "hello", 5);
    put_frame(b, AMQP_FRAME_BODY, 1, "", 0);
    amqp_frame_put_heartbeat(b);
    put_frame(b, AMQP_FRAME_HEADER, 65535, header, sizeof header);
    put_frame(b, AMQP_FRAME_BODY, 65535, big, sizeof big);
    put_frame(b, AMQP_FRAME_METHOD, 2047, open, sizeof open);
    amqp_frame_put_heartbeat(b);
}

static void record(struct seen *s, const struct amqp_frame *f, const uint8_t *buf, size_t len)
{
    ck_assert_uint_lt(s->count, MAX_FRAMES);
    ck_assert_uint_le(f->payload.len, sizeof s->frames[0].payload);
    /* zero copy: the payload lies inside the caller's buffer */
    ck_assert(f->payload.len == 0 ||
              (f->payload.ptr >= buf && f->payload.ptr + f->payload.len <= buf + len));
    struct seen_frame *out = &s->frames[s->count++];
    out->type = f->type;
    out->channel = f->channel;
    out->len = f->payload.len;
    if (f->payload.len)
        memcpy(out->payload, f->payload.ptr, f->payload.len);
}

/* The connection's receive loop in miniature: bytes arrive in pieces and are appended to a
 * pending buffer; complete frames are taken off its front. Each read sees an exact-size copy,
 * so AddressSanitizer catches any read past the bytes that have arrived. */
struct receiver {
    uint8_t pending[8192];
    size_t len;
    struct seen seen;
};

static void receive(struct receiver *r, const uint8_t *data, size_t n)
{
    ck_assert_uint_le(r->len + n, sizeof r->pending);
    memcpy(r->pending + r->len, data, n);
    r->len += n;
    size_t off = 0;
    for (;;) {
        size_t avail = r->len - off;
        uint8_t *copy = malloc(avail ? avail : 1);
        ck_assert_ptr_nonnull(copy);
        memcpy(copy, r->pending + off, avail);
        struct amqp_frame f;
        struct amqp_error err = {0};
        long used = amqp_frame_read(copy, avail, MAX_PAYLOAD, &f, &err);
        ck_assert_msg(used >= 0, "unexpected frame error: %s", err.text);
        if (used > 0) {
            ck_assert_uint_le((size_t)used, avail);
            record(&r->seen, &f, copy, avail);
            off += (size_t)used;
        }
        free(copy);
        if (used == 0)
            break;
    }
    memmove(r->pending, r->pending + off, r->len - off);
    r->len -= off;
}

static void assert_same(const struct seen *a, const struct seen *b)
{
    ck_assert_uint_eq(a->count, b->count);
    for (size_t i = 0; i < a->count; i++) {
        ck_assert_uint_eq(a->frames[i].type, b->frames[i].type);
        ck_assert_uint_eq(a->frames[i].channel, b->frames[i].channel);
        ck_assert_uint_eq(a->frames[i].len, b->frames[i].len);
        ck_assert(memcmp(a->frames[i].payload, b->frames[i].payload, a->frames[i].len) == 0);
    }
}

static struct receiver whole;

static void read_whole(const struct amqp_buf *stream)
{
    memset(&whole, 0, sizeof whole);
    receive(&whole, stream->data, stream->len);
    ck_assert_uint_eq(whole.len, 0);
}

START_TEST(many_frames_in_one_buffer)
{
    struct amqp_buf b;
    amqp_buf_init(&b);
    build_stream(&b);
    read_whole(&b);
    ck_assert_uint_eq(whole.seen.count, 11);
    const struct seen_frame *f = whole.seen.frames;
    ck_assert_uint_eq(f[0].type, AMQP_FRAME_METHOD);
    ck_assert_uint_eq(f[0].channel, 0);
    ck_assert_uint_eq(f[0].len, 8);
    ck_assert_uint_eq(f[1].type, AMQP_FRAME_HEARTBEAT);
    ck_assert_uint_eq(f[1].len, 0);
    ck_assert_uint_eq(f[4].type, AMQP_FRAME_BODY);
    ck_assert(f[4].len == 5 && memcmp(f[4].payload, "hello", 5) == 0);
    ck_assert_uint_eq(f[5].len, 0);
    ck_assert_uint_eq(f[7].channel, 65535);
    ck_assert_uint_eq(f[8].len, 1500);
    ck_assert_uint_eq(f[9].channel, 2047);
    amqp_buf_free(&b);
}
END_TEST

START_TEST(every_two_part_split)
{
    struct amqp_buf b;
    static struct receiver split;
    amqp_buf_init(&b);
    build_stream(&b);
    read_whole(&b);
    for (size_t cut = 0; cut <= b.len; cut++) {
        memset(&split, 0, sizeof split);
        receive(&split, b.data, cut);
        receive(&split, b.data + cut, b.len - cut);
        ck_assert_uint_eq(split.len, 0);
        assert_same(&whole.seen, &split.seen);
    }
    amqp_buf_free(&b);
}
END_TEST

START_TEST(byte_by_byte)
{
    struct amqp_buf b;
    static struct receiver trickle;
    amqp_buf_init(&b);
    build_stream(&b);
    read_whole(&b);
    memset(&trickle, 0, sizeof trickle);
    for (size_t i = 0; i < b.len; i++)
        receive(&trickle, b.data + i, 1);
    ck_assert_uint_eq(trickle.len, 0);
    assert_same(&whole.seen, &trickle.seen);
    amqp_buf_free(&b);
}
END_TEST

START_TEST(random_splits)
{
    struct amqp_buf b;
    static struct receiver chunks;
    amqp_buf_init(&b);
    build_stream(&b);
    read_whole(&b);
    rng_state = 7;
    for (int round = 0; round < 500; round++) {
        memset(&chunks, 0, sizeof chunks);
        for (size_t i = 0; i < b.len;) {
            size_t n = 1 + rng_next() % 40;
            if (n > b.len - i)
                n = b.len - i;
            receive(&chunks, b.data + i, n);
            i += n;
        }
        assert_same(&whole.seen, &chunks.seen);
    }
    amqp_buf_free(&b);
}
END_TEST

START_TEST(short_prefixes_need_more)
{
    struct amqp_buf b;
    struct amqp_frame f;
    amqp_buf_init(&b);
    put_frame(&b, AMQP_FRAME_BODY, 3, "abc", 3);
    for (size_t len = 0; len < b.len; len++)
        ck_assert_int_eq(amqp_frame_read(b.data, len, MAX_PAYLOAD, &f, NULL), 0);
    ck_assert_int_eq(amqp_frame_read(b.data, b.len, MAX_PAYLOAD, &f, NULL), 11);
    amqp_buf_free(&b);
}
END_TEST

START_TEST(writer_bytes)
{
    struct amqp_buf b;
    amqp_buf_init(&b);
    amqp_buf_put(&b, "xy", 2); /* frames may start anywhere in the buffer */
    amqp_frame_put_heartbeat(&b);
    static const uint8_t heartbeat[] = {8, 0, 0, 0, 0, 0, 0, 0xCE};
    ck_assert_uint_eq(b.len, 2 + sizeof heartbeat);
    ck_assert(memcmp(b.data + 2, heartbeat, sizeof heartbeat) == 0);
    size_t start = amqp_frame_begin(&b, AMQP_FRAME_METHOD, 0x1234);
    ck_assert_uint_eq(start, 10);
    amqp_buf_put(&b, "\0\x0a\0\x0b", 4);
    amqp_frame_finish(&b, start);
    static const uint8_t method[] = {1, 0x12, 0x34, 0, 0, 0, 4, 0, 10, 0, 11, 0xCE};
    ck_assert_uint_eq(b.len, 10 + sizeof method);
    ck_assert(memcmp(b.data + 10, method, sizeof method) == 0);
    static const uint8_t proto[] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};
    ck_assert(memcmp(amqp_protocol_header, proto, sizeof proto) == 0);
    amqp_buf_free(&b);
}
END_TEST

static long read_bytes(const uint8_t *p, size_t len, uint32_t max, struct amqp_error *err)
{
    struct amqp_frame f;
    return amqp_frame_read(p, len, max, &f, err);
}

START_TEST(bad_type_refused)
{
    struct amqp_error err = {0};
    for (int type = 0; type < 256; type++) {
        if (type == 1 || type == 2 || type == 3 || type == 8)
            continue;
        uint8_t frame[] = {(uint8_t)type, 0, 1, 0, 0, 0, 2, 0xAB, 0xCD, 0xCE};
        /* Like RabbitMQ, the type is judged once the whole frame is there. */
        for (size_t len = 0; len < sizeof frame; len++)
            ck_assert_int_eq(read_bytes(frame, len, MAX_PAYLOAD, &err), 0);
        err.code = 0;
        ck_assert_int_eq(read_bytes(frame, sizeof frame, MAX_PAYLOAD, &err), -1);
        ck_assert_uint_eq(err.code, AMQP_FRAME_ERROR);
    }
    static const uint8_t nine[] = {9, 0, 0, 0, 0, 0, 0, 0xCE};
    read_bytes(nine, sizeof nine, MAX_PAYLOAD, &err);
    ck_assert_str_eq(err.text, "type 9, all octets = <<>>: unknown_frame");
}
END_TEST

START_TEST(oversize_refused_from_header_alone)
{
    struct amqp_error err = {0};
    uint8_t header[7] = {AMQP_FRAME_BODY, 0, 1};
    amqp_put_u32(header + 3, MAX_PAYLOAD + 1);
    ck_assert_int_eq(read_bytes(header, 6, MAX_PAYLOAD, &err), 0);
    ck_assert_int_eq(read_bytes(header, 7, MAX_PAYLOAD, &err), -1);
    ck_assert_uint_eq(err.code, AMQP_FRAME_ERROR);
    ck_assert_str_eq(err.text, "type 3, all octets = <<>>: {frame_too_large,131073,131064}");
    amqp_put_u32(header + 3, UINT32_MAX);
    ck_assert_int_eq(read_bytes(header, 7, MAX_PAYLOAD, &err), -1);
    /* The size is checked before the type. */
    header[0] = 9;
    ck_assert_int_eq(read_bytes(header, 7, MAX_PAYLOAD, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.text, "frame_too_large"));
}
END_TEST

START_TEST(bad_frame_end_refused)
{
    struct amqp_error err = {0};
    uint8_t frame[] = {AMQP_FRAME_METHOD, 0, 0, 0, 0, 0, 3, 'a', 'b', 'c', 0xCE};
    ck_assert_int_eq(read_bytes(frame, sizeof frame, MAX_PAYLOAD, &err), 11);
    for (int end = 0; end < 256; end++) {
        if (end == 0xCE)
            continue;
        frame[10] = (uint8_t)end;
        ck_assert_int_eq(read_bytes(frame, 10, MAX_PAYLOAD, &err), 0);
        err.code = 0;
        ck_assert_int_eq(read_bytes(frame, sizeof frame, MAX_PAYLOAD, &err), -1);
        ck_assert_uint_eq(err.code, AMQP_FRAME_ERROR);
    }
    frame[10] = 0;
    read_bytes(frame, sizeof frame, MAX_PAYLOAD, &err);
    ck_assert_str_eq(err.text,
                     "type 1, all octets = <<\"abc\">>: {invalid_frame_end_marker,0}");
    /* The frame end is checked before the type. */
    frame[0] = 9;
    read_bytes(frame, sizeof frame, MAX_PAYLOAD, &err);
    ck_assert_ptr_nonnull(strstr(err.text, "invalid_frame_end_marker"));
}
END_TEST

START_TEST(error_quotes_first_16_octets)
{
    struct amqp_error err = {0};
    uint8_t frame[7 + 20 + 1] = {AMQP_FRAME_BODY, 0, 1, 0, 0, 0, 20};
    for (int i = 0; i < 20; i++)
        frame[7 + i] = (uint8_t)i;
    frame[27] = 1;
    ck_assert_int_eq(read_bytes(frame, sizeof frame, MAX_PAYLOAD, &err), -1);
    ck_assert_str_eq(err.text, "type 3, first 16 octets = <<0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,"
                               "15>>: {invalid_frame_end_marker,1}");
}
END_TEST

START_TEST(max_payload_boundary)
{
    struct amqp_error err = {0};
    struct amqp_frame f;
    static const uint32_t limits[] = {0, 1, 4088, 131072};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        uint32_t max = limits[i];
        size_t len = AMQP_FRAME_OVERHEAD + max;
        uint8_t *frame = calloc(1, len);
        ck_assert_ptr_nonnull(frame);
        frame[0] = AMQP_FRAME_BODY;
        amqp_put_u32(frame + 3, max);
        frame[len - 1] = 0xCE;
        ck_assert_int_eq(amqp_frame_read(frame, len, max, &f, &err), (long)len);
        ck_assert_uint_eq(f.payload.len, max);
        ck_assert_ptr_eq(f.payload.ptr, frame + 7);
        amqp_put_u32(frame + 3, max + 1);
        ck_assert_int_eq(amqp_frame_read(frame, 7, max, &f, &err), -1);
        ck_assert_uint_eq(err.code, AMQP_FRAME_ERROR);
        free(frame);
    }
    /* With no limit (UINT32_MAX) the largest size waits for its bytes. */
    uint8_t header[7] = {AMQP_FRAME_BODY};
    amqp_put_u32(header + 3, UINT32_MAX);
    ck_assert_int_eq(amqp_frame_read(header, 7, UINT32_MAX, &f, &err), 0);
}
END_TEST

/* Overwrites buf with a chain of frames that are mostly well formed (small sizes, usual
 * types, usually a frame end) so random tests reach the accepting paths; returns the length
 * used, at most cap. */
static size_t near_frames(uint8_t *buf, size_t cap)
{
    static const uint8_t types[] = {1, 2, 3, 8, 1, 2, 3, 8, 0, 9, 206};
    size_t len = 0;
    while (cap - len >= AMQP_FRAME_HEADER_SIZE) {
        uint32_t r = rng_next();
        uint32_t size = (r >> 4) % 24;
        buf[len] = types[r % sizeof types];
        amqp_put_u16(buf + len + 1, (uint16_t)(r >> 16));
        amqp_put_u32(buf + len + 3, size);
        len += AMQP_FRAME_HEADER_SIZE;
        for (uint32_t k = 0; k < size && len < cap; k++)
            buf[len++] = (uint8_t)rng_next();
        if (len < cap)
            buf[len++] = (r >> 12) % 16 ? 0xCE : (uint8_t)rng_next();
    }
    return len;
}

START_TEST(random_bytes_never_crash)
{
    uint8_t buf[64];
    static const uint8_t plausible[] = {1, 2, 3, 8, 0, 0xCE};
    rng_state = 0xF00D;
    size_t frames = 0, errors = 0;
    for (int i = 0; i < 200000; i++) {
        size_t len = rng_next() % (sizeof buf + 1);
        for (size_t j = 0; j < len; j++) {
            uint32_t r = rng_next();
            buf[j] = r % 2 ? plausible[(r >> 8) % sizeof plausible] : (uint8_t)(r >> 8);
        }
        if (i % 2)
            len = near_frames(buf, len);
        uint32_t max = rng_next() % 64;
        uint8_t *copy = malloc(len ? len : 1);
        ck_assert_ptr_nonnull(copy);
        if (len)
            memcpy(copy, buf, len);
        size_t off = 0;
        for (;;) {
            struct amqp_frame f;
            struct amqp_error err = {0};
            long used = amqp_frame_read(copy + off, len - off, max, &f, &err);
            if (used < 0) {
                ck_assert_uint_eq(err.code, AMQP_FRAME_ERROR);
                errors++;
                break;
            }
            if (used == 0)
                break;
            ck_assert_uint_le((size_t)used, len - off);
            ck_assert_uint_eq((size_t)used, f.payload.len + AMQP_FRAME_OVERHEAD);
            ck_assert_uint_le(f.payload.len, max);
            frames++;
            off += (size_t)used;
        }
        free(copy);
    }
    ck_assert_uint_gt(frames, 100);
    ck_assert_uint_gt(errors, 100);
}
END_TEST

static Suite *frame_suite(void)
{
    Suite *s = suite_create("amqp_frame");
    TCase *tc = tcase_create("frame");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, many_frames_in_one_buffer);
    tcase_add_test(tc, every_two_part_split);
    tcase_add_test(tc, byte_by_byte);
    tcase_add_test(tc, random_splits);
    tcase_add_test(tc, short_prefixes_need_more);
    tcase_add_test(tc, writer_bytes);
    tcase_add_test(tc, bad_type_refused);
    tcase_add_test(tc, oversize_refused_from_header_alone);
    tcase_add_test(tc, bad_frame_end_refused);
    tcase_add_test(tc, error_quotes_first_16_octets);
    tcase_add_test(tc, max_payload_boundary);
    tcase_add_test(tc, random_bytes_never_crash);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(frame_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
