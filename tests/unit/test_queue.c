/* Unit tests for queues: round-robin within credit, requeue in place, counts, deletion and refs. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/exchange.h"
#include "model/message.h"
#include "model/queue.h"
#include "model/vhost.h"

/* ck_assert reports every passing check to the runner; hot loops check quietly instead. */
#define EXPECT(cond)                            \
    do {                                        \
        if (!(cond))                            \
            ck_abort_msg("expected %s", #cond); \
    } while (0)

/* ---- a consumer that records what it is given, as a channel would ---- */

enum { MAX_HELD = 4096, UNLIMITED = -1 };

struct test_consumer {
    struct consumer base;
    int credit; /* deliveries it may still take; UNLIMITED for no window */
    struct queue_entry held[MAX_HELD];
    size_t nheld;            /* unsettled entries, in delivery order */
    size_t delivered;        /* every delivery ever */
    uint64_t seen[MAX_HELD]; /* the seq of each delivery, in order */
    bool told_deleted;
    bool cancel_on_deliver; /* removes itself from inside deliver */
};

static struct test_consumer *tc(struct consumer *c)
{
    return (struct test_consumer *)c;
}

static bool has_credit(struct consumer *c)
{
    return tc(c)->credit != 0;
}

static void deliver(struct consumer *c, struct queue *q, struct queue_entry e)
{
    struct test_consumer *t = tc(c);
    ck_assert(t->credit != 0);
    if (t->credit > 0)
        t->credit--;
    queue_ref(q); /* the holder of an unacked entry keeps the queue alive */
    ck_assert_uint_lt(t->nheld, MAX_HELD);
    t->held[t->nheld++] = e;
    t->seen[t->delivered++ % MAX_HELD] = e.seq;
    if (t->cancel_on_deliver)
        queue_remove_consumer(q, c);
}

/* The queue has already let go of the consumer when it says it went. */
static void queue_deleted(struct consumer *c, struct queue *q)
{
    (void)q;
    ck_assert(list_empty(&c->link));
    tc(c)->told_deleted = true;
}

static const struct consumer_ops test_ops = {has_credit, deliver, queue_deleted};

static struct test_consumer *consumer_new(int credit)
{
    struct test_consumer *t = calloc(1, sizeof *t);
    ck_assert_ptr_nonnull(t);
    t->credit = credit;
    return t;
}

/* Settles (acks) the consumer's i-th held entry, as a channel does on basic.ack. */
static void ack(struct queue *q, struct test_consumer *t, size_t i)
{
    ck_assert_uint_lt(i, t->nheld);
    struct queue_entry e = t->held[i];
    memmove(&t->held[i], &t->held[i + 1], (t->nheld - i - 1) * sizeof e);
    t->nheld--;
    queue_settle(q, &e);
    queue_unref(q);
}

static void nack_requeue(struct queue *q, struct test_consumer *t, size_t i)
{
    ck_assert_uint_lt(i, t->nheld);
    struct queue_entry e = t->held[i];
    memmove(&t->held[i], &t->held[i + 1], (t->nheld - i - 1) * sizeof e);
    t->nheld--;
    queue_requeue(q, &e);
    queue_unref(q);
}

/* ---- messages whose body is a number, so tests can say which one they got ---- */

static struct message *msg(unsigned n)
{
    char body[16];
    int len = snprintf(body, sizeof body, "%u", n);
    struct message *m =
        message_new(AMQP_BYTES_LIT(""), AMQP_BYTES_LIT("k"),
                    AMQP_BYTES_LIT("\0\x3c\0\0\0\0\0\0\0\0\0\0\0\0"), (uint64_t)len,
                    (uint64_t)len);
    message_write_body(m, 0, amqp_bytes_of(body, (size_t)len));
    return m;
}

static unsigned number_of(struct message *m)
{
    char body[16] = {0};
    memcpy(body, message_body(m), m->body_size);
    return (unsigned)strtoul(body, NULL, 10);
}

/* Publishes message n (the queue takes its own reference). */
static void publish(struct queue *q, unsigned n)
{
    struct message *m = msg(n);
    queue_publish(q, m);
    message_unref(m);
}

static struct queue *new_queue(bool auto_delete)
{
    return queue_new(AMQP_BYTES_LIT("q"), false, false, auto_delete, NULL, (struct amqp_bytes){NULL, 0}, NULL);
}

/* The ready messages' numbers, oldest first, as a string like "0 1 2". */
static const char *ready(const struct queue *q)
{
    static char out[8192];
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < q->ready.len; i++) {
        const struct queue_entry *e = queue_ring_at(&q->ready, i);
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%u%s", i ? " " : "", number_of(e->msg),
                              e->redelivered ? "r" : "");
    }
    return out;
}

static void check_sorted(const struct queue *q)
{
    for (size_t i = 1; i < q->ready.len; i++) {
        const struct queue_entry *a = queue_ring_at(&q->ready, i - 1);
        const struct queue_entry *b = queue_ring_at(&q->ready, i);
        EXPECT(a->seq < b->seq);
    }
}

/* ---- tests ---- */

START_TEST(test_round_robin_unlimited)
{
    struct queue *q = new_queue(false);
    struct test_consumer *c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = consumer_new(UNLIMITED);
        queue_add_consumer(q, &c[i]->base, &test_ops, false, 0);
    }
    for (unsigned n = 0; n < 9; n++)
        publish(q, n);
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(c[i]->nheld, 3);
        for (size_t k = 0; k < 3; k++)
            ck_assert_uint_eq(number_of(c[i]->held[k].msg), (unsigned)(k * 3 + (size_t)i));
    }
    ck_assert_uint_eq(queue_message_count(q), 0);
    ck_assert_uint_eq(q->unacked, 9);
    for (int i = 0; i < 3; i++) {
        while (c[i]->nheld)
            ack(q, c[i], 0);
        queue_remove_consumer(q, &c[i]->base);
        free(c[i]);
    }
    ck_assert_uint_eq(q->unacked, 0);
    ck_assert_uint_eq(q->refs, 1);
    queue_unref(q);
}
END_TEST

START_TEST(test_round_robin_with_credit)
{
    struct queue *q = new_queue(false);
    struct test_consumer *c[3] = {consumer_new(1), consumer_new(2), consumer_new(0)};
    for (int i = 0; i < 3; i++)
        queue_add_consumer(q, &c[i]->base, &test_ops, false, 0);
    for (unsigned n = 0; n < 6; n++)
        publish(q, n);
    /* c0 takes 0 and is out of credit; c1 takes 1 and 2; c2 has none: 3, 4, 5 wait */
    ck_assert_uint_eq(c[0]->nheld, 1);
    ck_assert_uint_eq(number_of(c[0]->held[0].msg), 0);
    ck_assert_uint_eq(c[1]->nheld, 2);
    ck_assert_uint_eq(number_of(c[1]->held[0].msg), 1);
    ck_assert_uint_eq(number_of(c[1]->held[1].msg), 2);
    ck_assert_uint_eq(c[2]->nheld, 0);
    ck_assert_str_eq(ready(q), "3 4 5");
    ck_assert_uint_eq(q->unacked, 3);

    /* credit returns: an ack frees a slot and the channel calls dispatch */
    ack(q, c[0], 0);
    c[0]->credit++;
    queue_dispatch(q);
    ck_assert_uint_eq(c[0]->nheld, 1);
    ck_assert_uint_eq(number_of(c[0]->held[0].msg), 3);
    ck_assert_str_eq(ready(q), "4 5");

    /* c2 gets a window of 5: it takes the rest, and later publishes go to it alone */
    c[2]->credit = 5;
    queue_dispatch(q);
    ck_assert_uint_eq(c[2]->nheld, 2);
    ck_assert_uint_eq(number_of(c[2]->held[0].msg), 4);
    ck_assert_uint_eq(number_of(c[2]->held[1].msg), 5);
    publish(q, 6);
    ck_assert_uint_eq(c[2]->nheld, 3);
    ck_assert_uint_eq(q->unacked, 6);
    ck_assert_str_eq(ready(q), "");

    /* with credit everywhere, order resumes from where rotation left it */
    c[0]->credit = c[1]->credit = c[2]->credit = UNLIMITED;
    for (unsigned n = 7; n < 13; n++)
        publish(q, n);
    size_t total = 0;
    for (int i = 0; i < 3; i++)
        total += c[i]->nheld;
    ck_assert_uint_eq(total, 12); /* 0 was acked */
    for (int i = 0; i < 3; i++)
        ck_assert_uint_ge(c[i]->nheld, 3);
    for (int i = 0; i < 3; i++) {
        while (c[i]->nheld)
            ack(q, c[i], 0);
        queue_remove_consumer(q, &c[i]->base);
        free(c[i]);
    }
    ck_assert_uint_eq(q->unacked, 0);
    ck_assert_uint_eq(q->refs, 1);
    queue_unref(q);
}
END_TEST

START_TEST(test_no_consumer_credit_stops_dispatch)
{
    struct queue *q = new_queue(false);
    struct test_consumer *c = consumer_new(0);
    queue_add_consumer(q, &c->base, &test_ops, false, 0);
    for (unsigned n = 0; n < 4; n++)
        publish(q, n);
    ck_assert_uint_eq(c->nheld, 0);
    ck_assert_uint_eq(queue_message_count(q), 4);
    c->credit = 2;
    queue_dispatch(q);
    ck_assert_str_eq(ready(q), "2 3");
    queue_remove_consumer(q, &c->base);
    while (c->nheld)
        ack(q, c, 0);
    free(c);
    queue_unref(q);
}
END_TEST

START_TEST(test_requeue_original_position)
{
    struct queue *q = new_queue(false);
    struct test_consumer *c = consumer_new(UNLIMITED);
    for (unsigned n = 0; n < 6; n++)
        publish(q, n);
    struct queue_entry e[3];
    for (int i = 0; i < 3; i++) {
        ck_assert(queue_get(q, &e[i]));
        queue_ref(q);
    }
    ck_assert_uint_eq(q->unacked, 3);
    ck_assert_str_eq(ready(q), "3 4 5");
    queue_requeue(q, &e[1]);
    queue_unref(q);
    ck_assert_str_eq(ready(q), "1r 3 4 5");
    queue_requeue(q, &e[2]);
    queue_unref(q);
    ck_assert_str_eq(ready(q), "1r 2r 3 4 5");
    queue_requeue(q, &e[0]);
    queue_unref(q);
    ck_assert_str_eq(ready(q), "0r 1r 2r 3 4 5");
    ck_assert_uint_eq(q->unacked, 0);

    /* a consumer's requeue lands in place too, behind nothing newer */
    struct queue_entry g;
    ck_assert(queue_get(q, &g));
    queue_ref(q);
    c->credit = 2;
    queue_add_consumer(q, &c->base, &test_ops, false, 0);
    queue_dispatch(q); /* takes 1r and 2r */
    ck_assert_str_eq(ready(q), "3 4 5");
    publish(q, 6);
    /* 2r goes back before 3; the channel frees its window slot first, so it is delivered
     * again at once by the dispatch inside requeue */
    c->credit++;
    nack_requeue(q, c, 1);
    ck_assert_uint_eq(c->nheld, 2);
    ck_assert_uint_eq(number_of(c->held[1].msg), 2);
    ck_assert(c->held[1].redelivered);
    ck_assert_str_eq(ready(q), "3 4 5 6");
    queue_remove_consumer(q, &c->base);
    nack_requeue(q, c, 1);
    nack_requeue(q, c, 0);
    ck_assert_str_eq(ready(q), "1r 2r 3 4 5 6");
    queue_requeue(q, &g);
    queue_unref(q);
    ck_assert_str_eq(ready(q), "0r 1r 2r 3 4 5 6");
    free(c);
    ck_assert_uint_eq(q->refs, 1);
    queue_unref(q);
}
END_TEST

/* A tiny deterministic generator for the randomized interleavings. */
static uint64_t rng = 88172645463325252ull;
static uint32_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

/* Publishes, gets, requeues and settles in random order, with the ring wrapping and growing,
 * against a model: the ready set is always every live message not held, in seq order. */
START_TEST(test_requeue_interleavings)
{
    for (int round = 0; round < 40; round++) {
        struct queue *q = new_queue(false);
        enum { HELD_MAX = 64 };
        struct queue_entry held[HELD_MAX];
        size_t nheld = 0;
        unsigned next = 0;
        bool is_ready[4096] = {0};
        bool was_redelivered[4096] = {0};
        for (int step = 0; step < 600; step++) {
            uint32_t op = next_random() % 10;
            if (op < 4 && next < 4096) {
                publish(q, next);
                is_ready[next++] = true;
            } else if (op < 7 && nheld < HELD_MAX) {
                struct queue_entry e;
                if (queue_get(q, &e)) {
                    unsigned n = number_of(e.msg);
                    EXPECT(is_ready[n]);
                    EXPECT(e.redelivered == was_redelivered[n]);
                    is_ready[n] = false;
                    queue_ref(q);
                    held[nheld++] = e;
                }
            } else if (nheld) {
                size_t i = next_random() % nheld;
                struct queue_entry e = held[i];
                held[i] = held[--nheld];
                unsigned n = number_of(e.msg);
                if (op < 9) {
                    queue_requeue(q, &e);
                    is_ready[n] = was_redelivered[n] = true;
                } else {
                    queue_settle(q, &e);
                }
                queue_unref(q);
            }
            check_sorted(q);
            EXPECT(q->unacked == nheld);
            size_t expect = 0;
            for (unsigned n = 0; n < next; n++)
                expect += is_ready[n];
            EXPECT(queue_message_count(q) == expect);
            for (size_t i = 0; i < q->ready.len; i++) {
                const struct queue_entry *e = queue_ring_at(&q->ready, i);
                unsigned n = number_of(e->msg);
                EXPECT(is_ready[n]);
                EXPECT(e->redelivered == was_redelivered[n]);
            }
        }
        while (nheld) {
            queue_settle(q, &held[--nheld]);
            queue_unref(q);
        }
        ck_assert_uint_eq(q->refs, 1);
        queue_unref(q);
    }
}
END_TEST

/* Requeues into a ring whose head sits at every offset, so inserts cross the wrap point. */
START_TEST(test_requeue_across_wrap)
{
    for (unsigned offset = 0; offset < 16; offset++) {
        for (unsigned gets = 1; gets <= 8; gets++) {
            struct queue *q = new_queue(false);
            struct queue_entry e;
            for (unsigned n = 0; n < offset; n++) { /* move the head forward */
                publish(q, 1000 + n);
                ck_assert(queue_get(q, &e));
                queue_settle(q, &e);
            }
            for (unsigned n = 0; n < 12; n++)
                publish(q, n);
            struct queue_entry held[8];
            for (unsigned i = 0; i < gets; i++)
                ck_assert(queue_get(q, &held[i]));
            /* ack every other one so the requeues land in gaps */
            for (unsigned i = 0; i < gets; i++) {
                if (i % 2)
                    queue_settle(q, &held[i]);
            }
            for (unsigned i = gets; i-- > 0;) {
                if (i % 2 == 0)
                    queue_requeue(q, &held[i]);
            }
            char expect[256] = "";
            size_t len = 0;
            for (unsigned n = 0; n < 12; n++) {
                if (n < gets && n % 2)
                    continue;
                len += (size_t)snprintf(expect + len, sizeof expect - len, "%s%u%s", len ? " " : "",
                                        n, n < gets ? "r" : "");
            }
            ck_assert_str_eq(ready(q), expect);
            ck_assert_uint_eq(q->unacked, 0);
            queue_unref(q);
        }
    }
}
END_TEST

START_TEST(test_purge_get_counts)
{
    struct queue *q = new_queue(false);
    struct queue_entry e;
    ck_assert(!queue_get(q, &e));
    ck_assert_uint_eq(queue_purge(q), 0);
    for (unsigned n = 0; n < 5; n++)
        publish(q, n);
    ck_assert_uint_eq(queue_message_count(q), 5);
    ck_assert(queue_get(q, &e));
    ck_assert_uint_eq(number_of(e.msg), 0);
    ck_assert(!e.redelivered);
    ck_assert_uint_eq(queue_message_count(q), 4);
    ck_assert_uint_eq(q->unacked, 1);
    ck_assert_uint_eq(queue_purge(q), 4); /* unacked messages are not purged */
    ck_assert_uint_eq(queue_message_count(q), 0);
    struct queue_entry none;
    ck_assert(!queue_get(q, &none));
    ck_assert_uint_eq(q->unacked, 1);
    queue_requeue(q, &e);
    ck_assert_uint_eq(queue_message_count(q), 1);
    ck_assert_uint_eq(q->unacked, 0);
    ck_assert(queue_get(q, &e));
    ck_assert(e.redelivered);
    queue_settle(q, &e);
    ck_assert_uint_eq(q->unacked, 0);
    ck_assert_uint_eq(queue_message_count(q), 0);

    /* the ring grows past its first capacity and keeps order */
    for (unsigned n = 0; n < 1000; n++)
        publish(q, n);
    for (unsigned n = 0; n < 1000; n++) {
        ck_assert(queue_get(q, &e));
        ck_assert_uint_eq(number_of(e.msg), n);
        queue_settle(q, &e);
    }
    queue_unref(q);
}
END_TEST

START_TEST(test_message_shared_not_copied)
{
    struct queue *a = new_queue(false), *b = new_queue(false);
    struct message *m = msg(7);
    queue_publish(a, m);
    queue_publish(b, m);
    ck_assert_uint_eq(m->refs, 3);
    struct queue_entry e;
    ck_assert(queue_get(a, &e));
    ck_assert_ptr_eq(e.msg, m);
    queue_settle(a, &e);
    ck_assert_uint_eq(m->refs, 2);
    queue_purge(b);
    ck_assert_uint_eq(m->refs, 1);
    message_unref(m);
    queue_unref(a);
    queue_unref(b);
}
END_TEST

START_TEST(test_auto_delete_signal)
{
    struct queue *q = new_queue(true);
    struct test_consumer *c1 = consumer_new(UNLIMITED), *c2 = consumer_new(UNLIMITED);
    queue_add_consumer(q, &c1->base, &test_ops, false, 0);
    queue_add_consumer(q, &c2->base, &test_ops, false, 0);
    ck_assert_uint_eq(q->consumer_count, 2);
    ck_assert(!queue_remove_consumer(q, &c1->base));
    ck_assert(queue_remove_consumer(q, &c2->base));
    ck_assert_uint_eq(q->consumer_count, 0);
    queue_unref(q);

    /* not auto-delete: never signals */
    q = new_queue(false);
    queue_add_consumer(q, &c1->base, &test_ops, false, 0);
    ck_assert(!queue_remove_consumer(q, &c1->base));
    queue_unref(q);
    free(c1);
    free(c2);
}
END_TEST

START_TEST(test_exclusive_consumer_flag)
{
    struct queue *q = new_queue(false);
    struct test_consumer *c1 = consumer_new(UNLIMITED), *c2 = consumer_new(UNLIMITED);
    queue_add_consumer(q, &c1->base, &test_ops, false, 0);
    ck_assert(!queue_has_exclusive_consumer(q));
    queue_add_consumer(q, &c2->base, &test_ops, true, 0);
    ck_assert(queue_has_exclusive_consumer(q));
    ck_assert(c2->base.exclusive);
    queue_remove_consumer(q, &c2->base);
    ck_assert(!queue_has_exclusive_consumer(q));
    queue_remove_consumer(q, &c1->base);
    queue_unref(q);
    free(c1);
    free(c2);
}
END_TEST

/* A consumer that cancels from inside deliver: dispatch goes on with the others. */
START_TEST(test_cancel_during_deliver)
{
    struct queue *q = new_queue(true);
    struct test_consumer *c1 = consumer_new(UNLIMITED), *c2 = consumer_new(UNLIMITED);
    c1->cancel_on_deliver = true;
    queue_add_consumer(q, &c1->base, &test_ops, false, 0);
    queue_add_consumer(q, &c2->base, &test_ops, false, 0);
    for (unsigned n = 0; n < 4; n++)
        publish(q, n);
    ck_assert_uint_eq(c1->nheld, 1);
    ck_assert_uint_eq(c2->nheld, 3);
    while (c1->nheld)
        ack(q, c1, 0);
    while (c2->nheld)
        ack(q, c2, 0);
    ck_assert(queue_remove_consumer(q, &c2->base));
    queue_unref(q);
    free(c1);
    free(c2);
}
END_TEST

/* Deleted with entries out: the queue stays valid until the last holder lets go. */
START_TEST(test_deleted_queue_with_outstanding_refs)
{
    struct vhost *v = vhost_new("/");
    struct outcome out;
    struct queue *q = vhost_declare_queue(v, &(struct queue_declare){.name = AMQP_BYTES_LIT("work")}, &out);
    struct exchange *direct = vhost_find_exchange(v, AMQP_BYTES_LIT("amq.direct"));
    exchange_bind(direct, q, AMQP_BYTES_LIT("k"), (struct amqp_bytes){NULL, 0});
    struct test_consumer *c = consumer_new(2);
    queue_add_consumer(q, &c->base, &test_ops, false, 0);
    struct message *kept = msg(0);
    queue_publish(q, kept);
    for (unsigned n = 1; n < 5; n++)
        publish(q, n);
    ck_assert_uint_eq(c->nheld, 2);
    ck_assert_uint_eq(q->refs, 3);
    ck_assert_uint_eq(kept->refs, 2);

    vhost_delete_queue(v, q);
    ck_assert(c->told_deleted);
    ck_assert_ptr_null(vhost_find_queue(v, AMQP_BYTES_LIT("work")));
    ck_assert_uint_eq(direct->binding_count, 0);
    /* the two unacked entries still hold the queue */
    ck_assert(q->deleted);
    ck_assert_uint_eq(q->refs, 2);
    ck_assert_uint_eq(queue_message_count(q), 0);
    publish(q, 99); /* a late publish to a deleted queue is dropped */
    ck_assert_uint_eq(queue_message_count(q), 0);
    nack_requeue(q, c, 0); /* requeue on a deleted queue just drops the message */
    ck_assert_uint_eq(kept->refs, 1);
    ack(q, c, 0); /* the last holder frees the queue (ASan checks) */
    message_unref(kept);
    free(c);
    vhost_unref(v);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("queue");
    TCase *tc_core = tcase_create("core");
    tcase_add_test(tc_core, test_round_robin_unlimited);
    tcase_add_test(tc_core, test_round_robin_with_credit);
    tcase_add_test(tc_core, test_no_consumer_credit_stops_dispatch);
    tcase_add_test(tc_core, test_requeue_original_position);
    tcase_add_test(tc_core, test_requeue_interleavings);
    tcase_add_test(tc_core, test_requeue_across_wrap);
    tcase_add_test(tc_core, test_purge_get_counts);
    tcase_add_test(tc_core, test_message_shared_not_copied);
    tcase_add_test(tc_core, test_auto_delete_signal);
    tcase_add_test(tc_core, test_exclusive_consumer_flag);
    tcase_add_test(tc_core, test_cancel_during_deliver);
    tcase_add_test(tc_core, test_deleted_queue_with_outstanding_refs);
    suite_add_tcase(s, tc_core);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
