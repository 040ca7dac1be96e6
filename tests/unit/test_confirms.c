/* Unit tests for publisher confirms: runs, coalesced replies, nacks and waiting outcomes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "proto/confirms.h"

/* Every reply ready now, as "a3m n4 a6" (a/n, tag, m when multiple). */
static const char *drain(struct confirms *c)
{
    static char out[512];
    size_t n = 0;
    struct confirm_reply r;
    out[0] = '\0';
    while (confirms_next(c, &r))
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%c%llu%s", n ? " " : "", r.nack ? 'n' : 'a',
                              (unsigned long long)r.tag, r.multiple ? "m" : "");
    return out;
}

START_TEST(test_acks_coalesce)
{
    struct confirms c;
    confirms_init(&c);
    ck_assert_str_eq(drain(&c), "");
    ck_assert_uint_eq(confirms_add(&c, CONFIRM_ACK), 1);
    ck_assert_str_eq(drain(&c), "a1");
    for (int i = 0; i < 1000; i++)
        confirms_add(&c, CONFIRM_ACK);
    ck_assert_uint_eq(c.len, 1); /* steady traffic is one run */
    ck_assert_str_eq(drain(&c), "a1001m");
    ck_assert(!confirms_pending(&c));
    confirms_free(&c);
}
END_TEST

START_TEST(test_nack_between_acks)
{
    struct confirms c;
    confirms_init(&c);
    confirms_add(&c, CONFIRM_ACK);
    confirms_add(&c, CONFIRM_ACK);
    confirms_add(&c, CONFIRM_NACK);
    confirms_add(&c, CONFIRM_ACK);
    confirms_add(&c, CONFIRM_NACK);
    confirms_add(&c, CONFIRM_NACK);
    ck_assert_str_eq(drain(&c), "a2m n3 a4 n6m");
    confirms_free(&c);
}
END_TEST

START_TEST(test_waiting_holds_later_replies)
{
    struct confirms c;
    confirms_init(&c);
    confirms_add(&c, CONFIRM_ACK);                 /* 1 */
    uint64_t w = confirms_add(&c, CONFIRM_WAITING); /* 2 */
    uint64_t w2 = confirms_add(&c, CONFIRM_WAITING); /* 3 */
    uint64_t w3 = confirms_add(&c, CONFIRM_WAITING); /* 4 */
    confirms_add(&c, CONFIRM_ACK);                 /* 5 */
    ck_assert_str_eq(drain(&c), "a1");
    confirms_settle(&c, w2, CONFIRM_NACK);          /* the middle one first */
    ck_assert_str_eq(drain(&c), "");
    confirms_settle(&c, w, CONFIRM_ACK);
    ck_assert_str_eq(drain(&c), "a2 n3");
    confirms_settle(&c, w3, CONFIRM_ACK);
    confirms_settle(&c, w3, CONFIRM_NACK); /* settled already: ignored */
    ck_assert_str_eq(drain(&c), "a5m");
    confirms_free(&c);
}
END_TEST

/* Against a plain array of outcomes: every sequence number is confirmed exactly once, in order,
 * with its outcome, and nothing is replied while an earlier one waits. */
START_TEST(test_random_against_model)
{
    enum { N = 20000 };
    static enum confirm_outcome want[N + 1];
    static bool waiting[N + 1];
    struct confirms c;
    confirms_init(&c);
    srand(7);
    uint64_t confirmed = 0, added = 0;
    while (confirmed < N) {
        int op = rand() % 10;
        if (op < 5 && added < N) {
            enum confirm_outcome o = (enum confirm_outcome)(rand() % 3);
            uint64_t seq = confirms_add(&c, o);
            ck_assert_uint_eq(seq, ++added);
            want[seq] = o;
            waiting[seq] = o == CONFIRM_WAITING;
        } else if (op < 8 && added > confirmed) {
            uint64_t seq = confirmed + 1 + (uint64_t)rand() % (added - confirmed);
            if (waiting[seq]) {
                want[seq] = rand() % 2 ? CONFIRM_ACK : CONFIRM_NACK;
                waiting[seq] = false;
                confirms_settle(&c, seq, want[seq]);
            }
        } else {
            struct confirm_reply r;
            while (confirms_next(&c, &r)) {
                ck_assert_uint_gt(r.tag, confirmed);
                ck_assert(r.multiple == (r.tag > confirmed + 1));
                for (uint64_t s = confirmed + 1; s <= r.tag; s++) {
                    ck_assert(!waiting[s]);
                    ck_assert_int_eq(want[s], r.nack ? CONFIRM_NACK : CONFIRM_ACK);
                }
                confirmed = r.tag;
            }
            if (confirmed < added && !waiting[confirmed + 1])
                ck_abort_msg("%llu is ready but was not replied", (unsigned long long)confirmed + 1);
            if (added == N)
                for (uint64_t s = confirmed + 1; s <= added; s++)
                    if (waiting[s]) {
                        want[s] = CONFIRM_ACK;
                        waiting[s] = false;
                        confirms_settle(&c, s, CONFIRM_ACK);
                    }
        }
    }
    ck_assert(!confirms_pending(&c));
    confirms_free(&c);
}
END_TEST

START_TEST(test_settle_through)
{
    struct confirms c;
    confirms_init(&c);
    confirms_add(&c, CONFIRM_WAITING); /* 1 */
    confirms_add(&c, CONFIRM_WAITING); /* 2 */
    confirms_add(&c, CONFIRM_NACK);    /* 3: refused by a queue, never waits */
    confirms_add(&c, CONFIRM_WAITING); /* 4 */
    confirms_add(&c, CONFIRM_WAITING); /* 5 */
    confirms_add(&c, CONFIRM_WAITING); /* 6 */
    ck_assert_str_eq(drain(&c), "");
    confirms_settle_through(&c, 4, CONFIRM_ACK); /* one sync covers 1..4 */
    ck_assert_str_eq(drain(&c), "a2m n3 a4");
    confirms_settle_through(&c, 4, CONFIRM_ACK); /* nothing left to settle there */
    ck_assert_str_eq(drain(&c), "");
    confirms_settle_through(&c, 5, CONFIRM_NACK); /* a failed write nacks */
    ck_assert_str_eq(drain(&c), "n5");
    confirms_settle_through(&c, 100, CONFIRM_ACK);
    ck_assert_str_eq(drain(&c), "a6");
    ck_assert(!confirms_pending(&c));
    confirms_free(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("confirms");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_acks_coalesce);
    tcase_add_test(tc, test_nack_between_acks);
    tcase_add_test(tc, test_waiting_holds_later_replies);
    tcase_add_test(tc, test_random_against_model);
    tcase_add_test(tc, test_settle_through);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
