/* Unit tests for warren-perf's latency histogram: bucket bounds, precision, percentiles. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "histogram.h"

static struct histogram *new_histogram(void)
{
    struct histogram *h = malloc(sizeof *h);
    ck_assert_ptr_nonnull(h);
    histogram_init(h);
    return h;
}

START_TEST(test_small_values_are_exact)
{
    for (uint64_t v = 0; v < 2 * HISTOGRAM_SUB_COUNT; v++) {
        ck_assert_uint_eq(histogram_bucket_of(v), v);
        ck_assert_uint_eq(histogram_bucket_high((unsigned)v), v);
    }
}
END_TEST

/* Every value lies in its bucket, above the previous bucket, within 1/64 of the bucket's top. */
static void check_value(uint64_t v)
{
    unsigned b = histogram_bucket_of(v);
    ck_assert_uint_lt(b, HISTOGRAM_BUCKETS);
    uint64_t high = histogram_bucket_high(b);
    ck_assert_uint_ge(high, v);
    if (b > 0)
        ck_assert_uint_lt(histogram_bucket_high(b - 1), v);
    ck_assert((double)(high - v) <= (double)v / HISTOGRAM_SUB_COUNT);
}

START_TEST(test_buckets_cover_values_precisely)
{
    for (unsigned shift = 0; shift < 64; shift++) {
        uint64_t p = (uint64_t)1 << shift;
        check_value(p);
        check_value(p - 1);
        check_value(p + 1);
        check_value(p + p / 3);
    }
    check_value(UINT64_MAX);
    ck_assert_uint_eq(histogram_bucket_of(UINT64_MAX), HISTOGRAM_BUCKETS - 1);
    ck_assert_uint_eq(histogram_bucket_high(HISTOGRAM_BUCKETS - 1), UINT64_MAX);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        check_value(x >> (x & 63));
    }
}
END_TEST

START_TEST(test_buckets_are_monotonic_and_contiguous)
{
    for (unsigned b = 1; b < HISTOGRAM_BUCKETS; b++) {
        uint64_t low = histogram_bucket_high(b - 1) + 1;
        ck_assert_uint_eq(histogram_bucket_of(low), b);
        ck_assert_uint_eq(histogram_bucket_of(histogram_bucket_high(b)), b);
    }
}
END_TEST

START_TEST(test_empty_histogram)
{
    struct histogram *h = new_histogram();
    ck_assert_uint_eq(histogram_total(h), 0);
    ck_assert_uint_eq(histogram_percentile(h, 50), 0);
    ck_assert_uint_eq(histogram_percentile(h, 99.9), 0);
    ck_assert_uint_eq(histogram_max(h), 0);
    free(h);
}
END_TEST

START_TEST(test_single_value)
{
    struct histogram *h = new_histogram();
    histogram_record(h, 123456);
    /* The bucket's top is clipped to the maximum, so one value reads back exactly. */
    ck_assert_uint_eq(histogram_percentile(h, 0), 123456);
    ck_assert_uint_eq(histogram_percentile(h, 50), 123456);
    ck_assert_uint_eq(histogram_percentile(h, 100), 123456);
    ck_assert_uint_eq(histogram_max(h), 123456);
    free(h);
}
END_TEST

static void assert_near(uint64_t got, uint64_t want)
{
    ck_assert_msg(got >= want && (double)(got - want) <= (double)want / HISTOGRAM_SUB_COUNT,
                  "got %llu, want %llu (+1/64)", (unsigned long long)got,
                  (unsigned long long)want);
}

START_TEST(test_uniform_percentiles)
{
    struct histogram *h = new_histogram();
    for (uint64_t v = 1; v <= 100000; v++)
        histogram_record(h, v);
    ck_assert_uint_eq(histogram_total(h), 100000);
    assert_near(histogram_percentile(h, 50), 50000);
    assert_near(histogram_percentile(h, 99), 99000);
    assert_near(histogram_percentile(h, 99.9), 99900);
    ck_assert_uint_eq(histogram_percentile(h, 100), 100000);
    ck_assert_uint_eq(histogram_max(h), 100000);
    free(h);
}
END_TEST

START_TEST(test_rank_rounds_up)
{
    /* 99 fast and 1 slow: p99 is still fast, anything above it is the slow one. */
    struct histogram *h = new_histogram();
    for (int i = 0; i < 99; i++)
        histogram_record(h, 10);
    histogram_record(h, 1000000);
    ck_assert_uint_eq(histogram_percentile(h, 50), 10);
    ck_assert_uint_eq(histogram_percentile(h, 99), 10);
    ck_assert_uint_eq(histogram_percentile(h, 99.5), 1000000);
    ck_assert_uint_eq(histogram_percentile(h, 99.9), 1000000);
    free(h);
}
END_TEST

START_TEST(test_add_and_subtract_give_intervals)
{
    struct histogram *a = new_histogram(), *b = new_histogram(), *sum = new_histogram();
    for (uint64_t v = 0; v < 1000; v++)
        histogram_record(a, 100);
    for (uint64_t v = 0; v < 1000; v++)
        histogram_record(b, 5000);
    histogram_add(sum, a);
    histogram_add(sum, b);
    ck_assert_uint_eq(histogram_total(sum), 2000);
    ck_assert_uint_eq(histogram_max(sum), 5000);
    ck_assert_uint_eq(histogram_percentile(sum, 50), 100);
    ck_assert_uint_eq(histogram_percentile(sum, 51), 5000);
    /* sum - a leaves b's values only. */
    histogram_subtract(sum, a);
    ck_assert_uint_eq(histogram_total(sum), 1000);
    ck_assert_uint_eq(histogram_percentile(sum, 1), 5000);
    free(a);
    free(b);
    free(sum);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("perf_histogram");
    TCase *tc = tcase_create("perf_histogram");
    tcase_add_test(tc, test_small_values_are_exact);
    tcase_add_test(tc, test_buckets_cover_values_precisely);
    tcase_add_test(tc, test_buckets_are_monotonic_and_contiguous);
    tcase_add_test(tc, test_empty_histogram);
    tcase_add_test(tc, test_single_value);
    tcase_add_test(tc, test_uniform_percentiles);
    tcase_add_test(tc, test_rank_rounds_up);
    tcase_add_test(tc, test_add_and_subtract_give_intervals);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
