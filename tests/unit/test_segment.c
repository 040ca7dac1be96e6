/* Unit tests for segment files: record framing, and the reader's handling of torn and corrupted records. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "store/segment.h"

/* A segment image: header, then records "one", "two", "three" (type 4), then zeros. */
static size_t build(uint8_t *out, size_t size, size_t offsets[3])
{
    struct amqp_buf b;
    amqp_buf_init(&b);
    segment_encode_header(amqp_buf_extend(&b, SEGMENT_HEADER_SIZE), 7);
    const char *words[] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++) {
        offsets[i] = b.len;
        size_t at = segment_record_begin(&b, SEGMENT_RECORD_QUEUE_NAME);
        amqp_buf_put(&b, words[i], strlen(words[i]));
        segment_record_end(&b, at);
    }
    ck_assert_uint_le(b.len, size);
    memset(out, 0, size);
    memcpy(out, b.data, b.len);
    size_t len = b.len;
    amqp_buf_free(&b);
    return len;
}

/* The payloads the reader yields, joined by spaces. */
static const char *read_all(const uint8_t *data, size_t size, struct segment_reader *r)
{
    static char out[256];
    out[0] = 0;
    ck_assert(segment_reader_init(r, data, size));
    ck_assert_uint_eq(r->number, 7);
    uint8_t type;
    struct segment_cursor c;
    while (segment_reader_next(r, &type, &c)) {
        ck_assert_uint_eq(type, SEGMENT_RECORD_QUEUE_NAME);
        if (out[0])
            strcat(out, " ");
        strncat(out, (const char *)c.p, (size_t)(c.end - c.p));
    }
    return out;
}

START_TEST(test_reads_records_until_zeros)
{
    uint8_t data[256];
    size_t offsets[3];
    build(data, sizeof data, offsets);
    struct segment_reader r;
    ck_assert_str_eq(read_all(data, sizeof data, &r), "one two three");
    ck_assert_uint_eq(r.damaged, 0);
    ck_assert(!r.truncated);
}
END_TEST

START_TEST(test_exact_size_file)
{
    uint8_t data[256];
    size_t offsets[3];
    size_t len = build(data, sizeof data, offsets);
    struct segment_reader r;
    ck_assert_str_eq(read_all(data, len, &r), "one two three");
    ck_assert(!r.truncated);
}
END_TEST

START_TEST(test_torn_tail_dropped)
{
    uint8_t data[256];
    size_t offsets[3];
    size_t len = build(data, sizeof data, offsets);
    struct segment_reader r;
    /* the file ends in the middle of the last record */
    ck_assert_str_eq(read_all(data, len - 2, &r), "one two");
    ck_assert(r.truncated);
    ck_assert_uint_eq(r.dropped_at, offsets[2]);
    /* or its header is cut short */
    ck_assert_str_eq(read_all(data, offsets[2] + 5, &r), "one two");
    ck_assert(r.truncated);
    /* or the last record's bytes never reached the disk (zeros where its payload was) */
    memset(data + offsets[2] + 8, 0, len - offsets[2] - 8);
    ck_assert_str_eq(read_all(data, sizeof data, &r), "one two");
    ck_assert_uint_eq(r.damaged, 1);
}
END_TEST

START_TEST(test_bad_crc_in_the_middle_skips_one)
{
    uint8_t data[256];
    size_t offsets[3];
    build(data, sizeof data, offsets);
    data[offsets[1] + 10] ^= 0x40; /* a flipped bit in "two" */
    struct segment_reader r;
    ck_assert_str_eq(read_all(data, sizeof data, &r), "one three");
    ck_assert_uint_eq(r.damaged, 1);
    ck_assert(!r.truncated);
}
END_TEST

START_TEST(test_insane_length_drops_the_rest)
{
    uint8_t data[256];
    size_t offsets[3];
    build(data, sizeof data, offsets);
    data[offsets[1]] = 0x7f; /* the length of "two" now points far past the file */
    struct segment_reader r;
    ck_assert_str_eq(read_all(data, sizeof data, &r), "one");
    ck_assert(r.truncated);
    ck_assert_uint_eq(r.dropped_at, offsets[1]);
}
END_TEST

START_TEST(test_not_a_segment)
{
    uint8_t data[64] = "WARRENSX";
    struct segment_reader r;
    ck_assert(!segment_reader_init(&r, data, sizeof data));
    ck_assert(!segment_reader_init(&r, data, 4));
}
END_TEST

START_TEST(test_names)
{
    char path[64];
    segment_path(path, sizeof path, "/d", 42);
    ck_assert_str_eq(path, "/d/0000000042.seg");
    uint32_t n;
    ck_assert(segment_parse_name("0000000042.seg", &n));
    ck_assert_uint_eq(n, 42);
    ck_assert(!segment_parse_name("000000042.seg", &n));
    ck_assert(!segment_parse_name("00000000x2.seg", &n));
    ck_assert(!segment_parse_name("0000000042.tmp", &n));
}
END_TEST

START_TEST(test_cursor_bounds)
{
    uint8_t bytes[5] = {0, 0, 0, 9, 1};
    struct segment_cursor c = {bytes, bytes + sizeof bytes, false};
    ck_assert_uint_eq(segment_get_u32(&c), 9);
    ck_assert(!c.bad);
    ck_assert_uint_eq(segment_get_u16(&c), 0); /* one byte left */
    ck_assert(c.bad);
    ck_assert_ptr_null(segment_get_bytes(&c, 0));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("segment");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_reads_records_until_zeros);
    tcase_add_test(tc, test_exact_size_file);
    tcase_add_test(tc, test_torn_tail_dropped);
    tcase_add_test(tc, test_bad_crc_in_the_middle_skips_one);
    tcase_add_test(tc, test_insane_length_drops_the_rest);
    tcase_add_test(tc, test_not_a_segment);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_cursor_bounds);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
