/* Unit tests for memory_return: memory goes back only after enough releases, at most once per check. */
#include <check.h>

#include "core/clock.h"
#include "core/heap.h"
#include "core/log.h"
#include "core/memory_return.h"

static unsigned trim_calls;

static int count_trim(size_t pad)
{
    (void)pad;
    trim_calls++;
    return 1;
}

struct fixture {
    struct clock clock;
    struct deadline_heap heap;
    struct log log;
    uint64_t released;
    struct memory_return m;
};

static void setup(struct fixture *f)
{
    clock_init(&f->clock);
    clock_set_manual(&f->clock, 1000);
    deadline_heap_init(&f->heap);
    f->log = (struct log){.level = LOG_NONE, .file = NULL, .file_level = LOG_NONE};
    f->released = 7; /* what was released before start does not count */
    memory_return_start(&f->m, &f->heap, &f->clock, &f->log, &f->released);
    f->m.trim = count_trim;
    trim_calls = 0;
}

static void advance(struct fixture *f, uint64_t ms)
{
    uint64_t now = clock_now_ms(&f->clock) + ms;
    clock_set_manual(&f->clock, now);
    deadline_heap_run_due(&f->heap, now);
}

START_TEST(test_nothing_released_nothing_trimmed)
{
    struct fixture f;
    setup(&f);
    advance(&f, 10 * MEMORY_RETURN_CHECK_MS);
    ck_assert_uint_eq(trim_calls, 0);
    ck_assert(deadline_pending(&f.m.check)); /* it keeps checking */
    memory_return_stop(&f.m);
    deadline_heap_free(&f.heap);
}
END_TEST

START_TEST(test_few_releases_are_not_worth_a_trim)
{
    struct fixture f;
    setup(&f);
    f.released += MEMORY_RETURN_MIN_RELEASES - 1;
    advance(&f, 3 * MEMORY_RETURN_CHECK_MS);
    ck_assert_uint_eq(trim_calls, 0);
    f.released++; /* the releases add up across checks */
    advance(&f, MEMORY_RETURN_CHECK_MS);
    ck_assert_uint_eq(trim_calls, 1);
    memory_return_stop(&f.m);
    deadline_heap_free(&f.heap);
}
END_TEST

START_TEST(test_a_burst_trims_once_at_the_next_check)
{
    struct fixture f;
    setup(&f);
    f.released += 10000;
    advance(&f, MEMORY_RETURN_CHECK_MS - 1);
    ck_assert_uint_eq(trim_calls, 0); /* not before the check */
    advance(&f, 1);
    ck_assert_uint_eq(trim_calls, 1);
    ck_assert_uint_eq(f.m.trims, 1);
    advance(&f, 5 * MEMORY_RETURN_CHECK_MS); /* nothing new released: no more trims */
    ck_assert_uint_eq(trim_calls, 1);
    memory_return_stop(&f.m);
    deadline_heap_free(&f.heap);
}
END_TEST

START_TEST(test_steady_releases_trim_at_most_once_per_check)
{
    struct fixture f;
    setup(&f);
    for (unsigned i = 0; i < 20 * MEMORY_RETURN_CHECK_MS / 100; i++) {
        f.released += 50; /* 500 releases a second */
        advance(&f, 100);
    }
    ck_assert_uint_eq(trim_calls, 20);
    memory_return_stop(&f.m);
    deadline_heap_free(&f.heap);
}
END_TEST

START_TEST(test_stop_ends_the_checks)
{
    struct fixture f;
    setup(&f);
    memory_return_stop(&f.m);
    ck_assert(!deadline_pending(&f.m.check));
    f.released += 10000;
    advance(&f, 10 * MEMORY_RETURN_CHECK_MS);
    ck_assert_uint_eq(trim_calls, 0);
    deadline_heap_free(&f.heap);
}
END_TEST

START_TEST(test_the_real_trim_runs)
{
    struct fixture f;
    setup(&f);
    f.m.trim = NULL;
    memory_return_stop(&f.m);
    /* the default is the allocator's own: start sets it each time */
    memory_return_start(&f.m, &f.heap, &f.clock, &f.log, &f.released);
    ck_assert_ptr_nonnull(f.m.trim);
    f.released += MEMORY_RETURN_MIN_RELEASES;
    advance(&f, MEMORY_RETURN_CHECK_MS);
    ck_assert_uint_eq(f.m.trims, 1);
    memory_return_stop(&f.m);
    deadline_heap_free(&f.heap);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("memory_return");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_nothing_released_nothing_trimmed);
    tcase_add_test(tc, test_few_releases_are_not_worth_a_trim);
    tcase_add_test(tc, test_a_burst_trims_once_at_the_next_check);
    tcase_add_test(tc, test_steady_releases_trim_at_most_once_per_check);
    tcase_add_test(tc, test_stop_ends_the_checks);
    tcase_add_test(tc, test_the_real_trim_runs);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
