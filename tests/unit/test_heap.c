/* Unit tests for the deadline heap (order, removal, rescheduling, callbacks, random ops) and the clock. */
#include <check.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/container.h"
#include "core/heap.h"

/* ck_assert costs a system call (a mark point down Check's pipe): loops check with this. */
#define CHECK(cond) \
    do { \
        if (!(cond)) \
            ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #cond); \
    } while (0)

static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
    rng_state = seed ? seed : 1;
}

static uint32_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

/* A deadline's owner; what its fire callback does is chosen per test. */
struct item {
    struct deadline d;
    struct ctx *ctx;
    unsigned id;
    unsigned fired;
    uint64_t fired_at;   /* the now_ms its last firing was given */
    struct item *other;  /* a deadline the callback acts on */
    uint64_t other_at;
};

struct ctx {
    struct deadline_heap heap;
    unsigned order[4096]; /* ids in firing order */
    unsigned n;
    uint64_t last_at;     /* deadlines fire in non-decreasing order within a run */
    unsigned run_n;       /* how many fired in this run so far */
};

static struct item *item_of(struct deadline *d)
{
    return container_of(d, struct item, d);
}

static void record(struct item *it, uint64_t now)
{
    struct ctx *c = it->ctx;
    CHECK(!deadline_pending(&it->d)); /* unscheduled before it fires */
    CHECK(it->d.at_ms <= now);
    CHECK(it->d.at_ms >= c->last_at);
    c->last_at = it->d.at_ms;
    c->run_n++;
    if (c->n < sizeof c->order / sizeof c->order[0])
        c->order[c->n] = it->id;
    c->n++;
    it->fired++;
    it->fired_at = now;
}

static void fire_record(struct deadline *d, uint64_t now)
{
    record(item_of(d), now);
}

static void ctx_init(struct ctx *c)
{
    deadline_heap_init(&c->heap);
    c->n = 0;
    c->last_at = 0;
}

static void item_init(struct item *it, struct ctx *c, unsigned id, void (*fire)(struct deadline *, uint64_t))
{
    *it = (struct item){.ctx = c, .id = id};
    deadline_init(&it->d, fire);
}

static size_t run(struct ctx *c, uint64_t now)
{
    c->last_at = 0;
    c->run_n = 0;
    size_t fired = deadline_heap_run_due(&c->heap, now);
    CHECK(deadline_heap_next_ms(&c->heap) > now);
    return fired;
}

/* The heap property and the back-pointers, checked from the outside. */
static void check_invariant(const struct deadline_heap *h)
{
    for (uint32_t i = 0; i < h->len; i++) {
        CHECK(h->slots[i].d->index == i + 1);
        CHECK(h->slots[i].d->at_ms == h->slots[i].at_ms);
        if (i > 0) {
            const struct deadline_slot *p = &h->slots[(i - 1) / 2], *s = &h->slots[i];
            CHECK(p->at_ms < s->at_ms || (p->at_ms == s->at_ms && p->seq < s->seq));
        }
    }
}

START_TEST(test_empty)
{
    struct ctx c;
    ctx_init(&c);
    ck_assert_uint_eq(deadline_heap_next_ms(&c.heap), UINT64_MAX);
    ck_assert_uint_eq(deadline_heap_run_due(&c.heap, UINT64_MAX - 1), 0);
    struct item it;
    item_init(&it, &c, 0, fire_record);
    ck_assert(!deadline_pending(&it.d));
    deadline_heap_remove(&c.heap, &it.d); /* idle: a no-op */
    struct deadline zeroed = {0};
    ck_assert(!deadline_pending(&zeroed));
    deadline_heap_free(&c.heap);
}
END_TEST

START_TEST(test_ordering)
{
    enum { N = 2000 };
    struct ctx c;
    ctx_init(&c);
    struct item *items = xcalloc(N, sizeof *items);
    rng_seed(7);
    for (unsigned i = 0; i < N; i++) {
        item_init(&items[i], &c, i, fire_record);
        deadline_heap_add(&c.heap, &items[i].d, 1000 + rng_next() % 5000);
    }
    check_invariant(&c.heap);
    ck_assert_uint_eq(run(&c, 999), 0);
    ck_assert_uint_eq(run(&c, UINT64_MAX - 1), N); /* record() checks the order */
    for (unsigned i = 0; i < N; i++)
        ck_assert_uint_eq(items[i].fired, 1);
    ck_assert_uint_eq(c.heap.len, 0);
    deadline_heap_free(&c.heap);
    free(items);
}
END_TEST

START_TEST(test_partial_run)
{
    struct ctx c;
    ctx_init(&c);
    struct item it[5];
    uint64_t at[5] = {50, 10, 40, 20, 30};
    for (unsigned i = 0; i < 5; i++) {
        item_init(&it[i], &c, i, fire_record);
        deadline_heap_add(&c.heap, &it[i].d, at[i]);
    }
    ck_assert_uint_eq(deadline_heap_next_ms(&c.heap), 10);
    ck_assert_uint_eq(run(&c, 25), 2);
    ck_assert_uint_eq(c.order[0], 1);
    ck_assert_uint_eq(c.order[1], 3);
    ck_assert_uint_eq(it[1].fired_at, 25);
    ck_assert_uint_eq(deadline_heap_next_ms(&c.heap), 30);
    ck_assert_uint_eq(run(&c, 30), 1); /* due at exactly now */
    ck_assert_uint_eq(c.order[2], 4);
    ck_assert_uint_eq(run(&c, 100), 2);
    ck_assert_uint_eq(c.order[3], 2);
    ck_assert_uint_eq(c.order[4], 0);
    deadline_heap_free(&c.heap);
}
END_TEST

START_TEST(test_ties_fire_in_schedule_order)
{
    enum { N = 50 };
    struct ctx c;
    ctx_init(&c);
    struct item it[N];
    for (unsigned i = 0; i < N; i++) {
        item_init(&it[i], &c, i, fire_record);
        deadline_heap_add(&c.heap, &it[i].d, 10);
    }
    /* Rescheduled to the same time, a deadline goes behind the others, as a restarted
     * libuv timer does. */
    deadline_heap_reschedule(&c.heap, &it[0].d, 10);
    deadline_heap_reschedule(&c.heap, &it[7].d, 10);
    ck_assert_uint_eq(run(&c, 10), N);
    for (unsigned i = 0; i < N - 2; i++)
        ck_assert_uint_eq(c.order[i], i < 6 ? i + 1 : i + 2);
    ck_assert_uint_eq(c.order[N - 2], 0);
    ck_assert_uint_eq(c.order[N - 1], 7);
    deadline_heap_free(&c.heap);
}
END_TEST

START_TEST(test_remove_from_middle)
{
    enum { N = 100 };
    struct ctx c;
    ctx_init(&c);
    struct item it[N];
    for (unsigned i = 0; i < N; i++) {
        item_init(&it[i], &c, i, fire_record);
        deadline_heap_add(&c.heap, &it[i].d, (i * 37) % N); /* a shuffled 0..N-1 */
    }
    for (unsigned i = 0; i < N; i += 3) {
        deadline_heap_remove(&c.heap, &it[i].d);
        ck_assert(!deadline_pending(&it[i].d));
        check_invariant(&c.heap);
    }
    deadline_heap_remove(&c.heap, &it[0].d); /* twice: still a no-op */
    ck_assert_uint_eq(run(&c, N), N - (N + 2) / 3);
    for (unsigned i = 0; i < N; i++)
        ck_assert_uint_eq(it[i].fired, i % 3 ? 1 : 0);
    deadline_heap_free(&c.heap);
}
END_TEST

START_TEST(test_reschedule)
{
    struct ctx c;
    ctx_init(&c);
    struct item it[4];
    for (unsigned i = 0; i < 4; i++) {
        item_init(&it[i], &c, i, fire_record);
        deadline_heap_add(&c.heap, &it[i].d, 100 * (i + 1)); /* 100 200 300 400 */
    }
    deadline_heap_reschedule(&c.heap, &it[3].d, 50);  /* later one moves first */
    deadline_heap_reschedule(&c.heap, &it[0].d, 350); /* first one moves later */
    check_invariant(&c.heap);
    ck_assert_uint_eq(deadline_heap_next_ms(&c.heap), 50);
    ck_assert_uint_eq(run(&c, 1000), 4);
    unsigned expect[4] = {3, 1, 2, 0};
    for (unsigned i = 0; i < 4; i++)
        ck_assert_uint_eq(c.order[i], expect[i]);
    /* Rescheduling an idle deadline schedules it; add on a pending one moves it. */
    deadline_heap_reschedule(&c.heap, &it[0].d, 2000);
    ck_assert(deadline_pending(&it[0].d));
    deadline_heap_add(&c.heap, &it[0].d, 1500);
    ck_assert_uint_eq(c.heap.len, 1);
    ck_assert_uint_eq(deadline_heap_next_ms(&c.heap), 1500);
    deadline_heap_free(&c.heap);
    ck_assert(!deadline_pending(&it[0].d)); /* free leaves owners idle */
}
END_TEST

/* Callbacks that change the heap while it runs. */

static void fire_remove_other(struct deadline *d, uint64_t now)
{
    struct item *it = item_of(d);
    record(it, now);
    deadline_heap_remove(&it->ctx->heap, &it->other->d);
}

static void fire_add_other(struct deadline *d, uint64_t now)
{
    struct item *it = item_of(d);
    record(it, now);
    deadline_heap_add(&it->ctx->heap, &it->other->d, it->other_at);
}

/* Fires again, one ms later each time, three times in all. */
static void fire_repeat(struct deadline *d, uint64_t now)
{
    struct item *it = item_of(d);
    record(it, now);
    if (it->fired < 3)
        deadline_heap_reschedule(&it->ctx->heap, d, d->at_ms + 1);
}

static void fire_free_self(struct deadline *d, uint64_t now)
{
    struct item *it = item_of(d);
    record(it, now);
    it->other->fired++; /* the count outlives the freed item */
    free(it);
}

START_TEST(test_callbacks_change_heap)
{
    struct ctx c;
    ctx_init(&c);
    struct item remover, victim, adder, added_due, adder_late, added_late, repeater, counter;
    item_init(&remover, &c, 1, fire_remove_other);
    item_init(&victim, &c, 2, fire_record);
    item_init(&adder, &c, 3, fire_add_other);
    item_init(&added_due, &c, 4, fire_record);
    item_init(&adder_late, &c, 5, fire_add_other);
    item_init(&added_late, &c, 6, fire_record);
    item_init(&repeater, &c, 7, fire_repeat);
    item_init(&counter, &c, 8, fire_record);
    struct item *self_freeing = xmalloc(sizeof *self_freeing);
    item_init(self_freeing, &c, 9, fire_free_self);
    remover.other = &victim;
    adder.other = &added_due;
    adder.other_at = 15; /* due now: fires in this same run */
    adder_late.other = &added_late;
    adder_late.other_at = 500;
    self_freeing->other = &counter;
    deadline_heap_add(&c.heap, &remover.d, 10);
    deadline_heap_add(&c.heap, &victim.d, 20); /* due, but removed before its turn */
    deadline_heap_add(&c.heap, &adder.d, 5);
    deadline_heap_add(&c.heap, &adder_late.d, 30);
    deadline_heap_add(&c.heap, &repeater.d, 40);
    deadline_heap_add(&c.heap, &self_freeing->d, 45);

    ck_assert_uint_eq(run(&c, 41), 6);
    unsigned expect[] = {3, 1, 4, 5, 7, 7};
    for (unsigned i = 0; i < 6; i++)
        ck_assert_uint_eq(c.order[i], expect[i]);
    ck_assert_uint_eq(victim.fired, 0);
    ck_assert(!deadline_pending(&victim.d));
    ck_assert(deadline_pending(&added_late.d));
    ck_assert(deadline_pending(&repeater.d)); /* its third firing is at 42 */
    ck_assert_uint_eq(deadline_heap_next_ms(&c.heap), 42);
    ck_assert_uint_eq(run(&c, 100), 2);
    ck_assert_uint_eq(repeater.fired, 3);
    ck_assert_uint_eq(counter.fired, 1);
    ck_assert_uint_eq(run(&c, 1000), 1);
    ck_assert_uint_eq(added_late.fired, 1);
    ck_assert_uint_eq(c.heap.len, 0);
    deadline_heap_free(&c.heap);
}
END_TEST

/* A callback rescheduling itself to exactly now fires again in the same run (documented). */
static void fire_until_five(struct deadline *d, uint64_t now)
{
    struct item *it = item_of(d);
    record(it, now);
    if (it->fired < 5)
        deadline_heap_reschedule(&it->ctx->heap, d, now);
}

START_TEST(test_reschedule_to_now_runs_again)
{
    struct ctx c;
    ctx_init(&c);
    struct item it;
    item_init(&it, &c, 1, fire_until_five);
    deadline_heap_add(&c.heap, &it.d, 3);
    ck_assert_uint_eq(run(&c, 3), 5);
    deadline_heap_free(&c.heap);
}
END_TEST

/* The reference model: each item's scheduled time, or none. Times are kept distinct from
 * now on by a small range, so ties and reorderings are exercised. */
static struct {
    bool scheduled;
    uint64_t at;
    uint64_t seq; /* when it was last scheduled: the order among equal times */
} model[512];
static uint64_t model_seq, last_fired_seq;

static void model_schedule(unsigned id, uint64_t at)
{
    model[id].scheduled = true;
    model[id].at = at;
    model[id].seq = model_seq++;
}

static void fire_model(struct deadline *d, uint64_t now)
{
    struct item *it = item_of(d);
    bool tie = it->ctx->run_n > 0 && d->at_ms == it->ctx->last_at;
    record(it, now);
    CHECK(model[it->id].scheduled);
    CHECK(model[it->id].at == d->at_ms);
    /* record() checked the times; equal ones come in the order they were scheduled */
    if (tie)
        CHECK(model[it->id].seq > last_fired_seq);
    last_fired_seq = model[it->id].seq;
    model[it->id].scheduled = false;
    /* Now and then a callback acts on another item, as a TTL sweep might. */
    struct item *o = it->other;
    switch (rng_next() % 8) {
    case 0:
        deadline_heap_remove(&it->ctx->heap, &o->d);
        model[o->id].scheduled = false;
        break;
    case 1: {
        uint64_t at = now + rng_next() % 50; /* may be due within this run */
        deadline_heap_reschedule(&it->ctx->heap, &o->d, at);
        model_schedule(o->id, at);
        break;
    }
    case 2: {
        uint64_t at = now + 1 + rng_next() % 50;
        deadline_heap_reschedule(&it->ctx->heap, d, at);
        model_schedule(it->id, at);
        break;
    }
    default:
        break;
    }
}

START_TEST(test_random_against_reference)
{
    enum { N = 512, OPS = 100000 };
    struct ctx c;
    ctx_init(&c);
    struct item *items = xcalloc(N, sizeof *items);
    rng_seed(12345);
    for (unsigned i = 0; i < N; i++) {
        item_init(&items[i], &c, i, fire_model);
        model[i].scheduled = false;
    }
    for (unsigned i = 0; i < N; i++)
        items[i].other = &items[rng_next() % N];
    uint64_t now = 0;
    size_t total_fired = 0;
    for (unsigned op = 0; op < OPS; op++) {
        unsigned i = rng_next() % N;
        unsigned kind = rng_next() % 10;
        if (kind < 4) {
            uint64_t at = now + rng_next() % 200; /* a narrow range: many ties */
            deadline_heap_add(&c.heap, &items[i].d, at);
            model_schedule(i, at);
        } else if (kind < 6) {
            deadline_heap_remove(&c.heap, &items[i].d);
            model[i].scheduled = false;
        } else if (kind < 8) {
            uint64_t at = now + rng_next() % 1000;
            deadline_heap_reschedule(&c.heap, &items[i].d, at);
            model_schedule(i, at);
        } else {
            now += rng_next() % 40;
            total_fired += run(&c, now);
            for (unsigned j = 0; j < N; j++)
                CHECK(!model[j].scheduled || model[j].at > now);
        }
        /* The heap holds exactly what the model says, at the model's times. */
        uint64_t min = UINT64_MAX;
        size_t count = 0;
        for (unsigned j = 0; j < N; j++) {
            CHECK(deadline_pending(&items[j].d) == model[j].scheduled);
            if (model[j].scheduled) {
                CHECK(items[j].d.at_ms == model[j].at);
                count++;
                if (model[j].at < min)
                    min = model[j].at;
            }
        }
        CHECK(c.heap.len == count);
        CHECK(deadline_heap_next_ms(&c.heap) == min);
        if (op % 97 == 0)
            check_invariant(&c.heap);
    }
    ck_assert_uint_gt(total_fired, 10000);
    deadline_heap_free(&c.heap);
    free(items);
}
END_TEST

START_TEST(test_grows_and_shrinks)
{
    enum { N = 100000 };
    struct ctx c;
    ctx_init(&c);
    struct item *items = xcalloc(N, sizeof *items);
    for (unsigned i = 0; i < N; i++) {
        item_init(&items[i], &c, i, fire_record);
        deadline_heap_add(&c.heap, &items[i].d, N - i); /* each add sifts to the top */
    }
    check_invariant(&c.heap);
    ck_assert_uint_ge(c.heap.cap, N);
    ck_assert_uint_eq(run(&c, N - 10), N - 10);
    ck_assert_uint_le(c.heap.cap, 64);
    check_invariant(&c.heap);
    deadline_heap_free(&c.heap);
    free(items);
}
END_TEST

START_TEST(test_clock)
{
    struct clock clk;
    clock_init(&clk);
    uint64_t a = clock_now_ms(&clk);
    ck_assert_uint_gt(a, 0);
    struct timespec pause = {0, 20 * 1000000L};
    nanosleep(&pause, NULL);
    uint64_t b = clock_now_ms(&clk);
    ck_assert_uint_ge(b, a + 20 - CLOCK_COARSE_MAX_MS);
    ck_assert_uint_lt(b, a + 5000);
    clock_set_manual(&clk, 1000);
    ck_assert_uint_eq(clock_now_ms(&clk), 1000);
    clock_set_manual(&clk, 1250);
    ck_assert_uint_eq(clock_now_ms(&clk), 1250);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("heap");
    TCase *tc = tcase_create("heap");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_ordering);
    tcase_add_test(tc, test_partial_run);
    tcase_add_test(tc, test_ties_fire_in_schedule_order);
    tcase_add_test(tc, test_remove_from_middle);
    tcase_add_test(tc, test_reschedule);
    tcase_add_test(tc, test_callbacks_change_heap);
    tcase_add_test(tc, test_reschedule_to_now_runs_again);
    tcase_add_test(tc, test_random_against_reference);
    tcase_add_test(tc, test_grows_and_shrinks);
    tcase_add_test(tc, test_clock);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
