/* Unit tests for CRC32C: RFC 3720's vectors through the instruction and the table, and both agreeing on every length and alignment. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "core/crc32c.h"

typedef uint32_t crc_fn(uint32_t crc, const void *data, size_t len);

/* RFC 3720, appendix B.4, and the usual check value of "123456789". */
static void check_vectors(crc_fn *crc)
{
    uint8_t v[48];
    memset(v, 0, 32);
    ck_assert_uint_eq(crc(0, v, 32), 0x8a9136aau);
    memset(v, 0xff, 32);
    ck_assert_uint_eq(crc(0, v, 32), 0x62a8ab43u);
    for (int i = 0; i < 32; i++)
        v[i] = (uint8_t)i;
    ck_assert_uint_eq(crc(0, v, 32), 0x46dd794eu);
    for (int i = 0; i < 32; i++)
        v[i] = (uint8_t)(31 - i);
    ck_assert_uint_eq(crc(0, v, 32), 0x113fdb5cu);
    static const uint8_t iscsi_read[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    ck_assert_uint_eq(crc(0, iscsi_read, sizeof iscsi_read), 0xd9963a56u);
    ck_assert_uint_eq(crc(0, "123456789", 9), 0xe3069283u);
    ck_assert_uint_eq(crc(0, "", 0), 0);
    /* continuing over pieces gives the same as one call */
    ck_assert_uint_eq(crc(crc(0, "1234", 4), "56789", 5), 0xe3069283u);
}

START_TEST(test_dispatched_vectors)
{
    check_vectors(crc32c);
}
END_TEST

START_TEST(test_portable_vectors)
{
    check_vectors(crc32c_portable);
}
END_TEST

START_TEST(test_both_agree)
{
    uint8_t data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 167 + 13);
    for (size_t at = 0; at < 8; at++) /* every alignment of the 8-octet steps */
        for (size_t len = 0; at + len <= sizeof data; len++)
            ck_assert_uint_eq(crc32c(0x1234u, data + at, len), crc32c_portable(0x1234u, data + at, len));
}
END_TEST

START_TEST(test_accelerated_where_expected)
{
#if defined(__x86_64__)
    ck_assert(crc32c_accelerated() == (__builtin_cpu_supports("sse4.2") != 0));
#else
    ck_assert(!crc32c_accelerated());
#endif
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crc32c");
    TCase *tc = tcase_create("crc32c");
    tcase_add_test(tc, test_dispatched_vectors);
    tcase_add_test(tc, test_portable_vectors);
    tcase_add_test(tc, test_both_agree);
    tcase_add_test(tc, test_accelerated_where_expected);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
