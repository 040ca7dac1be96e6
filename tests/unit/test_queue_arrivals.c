/* Unit tests for a queue's arrival marks: one per millisecond, found by position, gone with their entries. */
#include <check.h>

#include "model/queue_arrivals.h"

START_TEST(marks_per_millisecond)
{
    struct queue_arrivals a = {0};
    ck_assert_uint_eq(queue_arrivals_at(&a, 0), UINT64_MAX);
    queue_arrivals_note(&a, 5, 100);
    queue_arrivals_note(&a, 6, 100);
    queue_arrivals_note(&a, 7, 103);
    ck_assert_uint_eq(a.len - a.head, 2); /* one mark per millisecond */
    ck_assert_uint_eq(queue_arrivals_at(&a, 4), UINT64_MAX); /* before any note */
    ck_assert_uint_eq(queue_arrivals_at(&a, 5), 100);
    ck_assert_uint_eq(queue_arrivals_at(&a, 6), 100);
    ck_assert_uint_eq(queue_arrivals_at(&a, 7), 103);
    ck_assert_uint_eq(queue_arrivals_at(&a, 99), 103);
    queue_arrivals_free(&a);
}
END_TEST

START_TEST(marks_go_with_their_entries)
{
    struct queue_arrivals a = {0};
    queue_arrivals_note(&a, 0, 10);
    queue_arrivals_note(&a, 1, 10);
    queue_arrivals_note(&a, 2, 20);
    queue_arrivals_note(&a, 3, 30);
    queue_arrivals_forget(&a, 2); /* a later mark empties first: it waits for the front */
    ck_assert_uint_eq(a.len - a.head, 3);
    queue_arrivals_forget(&a, 1);
    queue_arrivals_forget(&a, 0);
    ck_assert_uint_eq(a.len - a.head, 1); /* 10 and the empty 20 go; 30 stays */
    ck_assert_uint_eq(queue_arrivals_at(&a, 3), 30);
    queue_arrivals_forget(&a, 0); /* gone already: nothing changes */
    ck_assert_uint_eq(queue_arrivals_at(&a, 3), 30);
    queue_arrivals_forget(&a, 3);
    ck_assert_uint_eq(a.len, 0);
    queue_arrivals_free(&a);
}
END_TEST

START_TEST(many_marks_keep_their_order)
{
    /* entries going in another order than they came (requeues, priorities) */
    struct queue_arrivals a = {0};
    enum { N = 5000 };
    for (uint64_t seq = 0; seq < N; seq++)
        queue_arrivals_note(&a, seq, 1000 + seq / 3);
    for (uint64_t seq = 0; seq < N; seq++)
        ck_assert_uint_eq(queue_arrivals_at(&a, seq), 1000 + seq / 3);
    for (uint64_t seq = 1; seq < N; seq += 2)
        queue_arrivals_forget(&a, seq);
    for (uint64_t seq = 0; seq < N; seq += 2)
        ck_assert_uint_eq(queue_arrivals_at(&a, seq), 1000 + seq / 3);
    for (uint64_t seq = 0; seq < N; seq += 2)
        queue_arrivals_forget(&a, seq);
    ck_assert_uint_eq(a.len, 0);
    queue_arrivals_note(&a, N, 9999); /* the space is reused */
    ck_assert_uint_eq(queue_arrivals_at(&a, N), 9999);
    queue_arrivals_free(&a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("queue_arrivals");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, marks_per_millisecond);
    tcase_add_test(tc, marks_go_with_their_entries);
    tcase_add_test(tc, many_marks_keep_their_order);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
