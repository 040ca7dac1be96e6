/* Unit tests: which policy applies to a name (RabbitMQ's unanchored patterns, targets, queue
 * types, priorities) and how a queue's arguments, a policy and an operator policy combine. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "model/policy.h"

static struct policy *make(const char *name, const char *pattern, enum policy_apply_to to,
                           double priority, struct policy_values *v)
{
    struct policy_values none;
    policy_values_init(&none);
    struct policy *p = policy_new(name, pattern, to, priority, true, "{}", v ? v : &none);
    ck_assert_ptr_nonnull(p);
    return p;
}

static struct policy_values limits(int64_t ttl, int64_t max_length)
{
    struct policy_values v;
    policy_values_init(&v);
    if (ttl != QUEUE_ARG_UNSET) {
        v.keys |= 1u << POLICY_MESSAGE_TTL;
        v.message_ttl_ms = ttl;
    }
    if (max_length != QUEUE_ARG_UNSET) {
        v.keys |= 1u << POLICY_MAX_LENGTH;
        v.max_length = max_length;
    }
    return v;
}

static bool applies(const struct policy *p, bool queue, const char *name)
{
    return policy_applies(p, queue, QUEUE_TYPE_CLASSIC, amqp_cstr(name));
}

START_TEST(test_patterns_and_targets)
{
    struct policy *p = make("p", "pa", POLICY_TO_ALL, 0, NULL);
    ck_assert(applies(p, true, "xpay"));  /* unanchored, as re:run */
    ck_assert(applies(p, false, "pa"));
    ck_assert(!applies(p, true, "p-a"));
    policy_free(p);
    p = make("q", "^pa$", POLICY_TO_QUEUES, 0, NULL);
    ck_assert(applies(p, true, "pa"));
    ck_assert(!applies(p, false, "pa"));
    ck_assert(!applies(p, true, "pax"));
    policy_free(p);
    p = make("x", "", POLICY_TO_EXCHANGES, 0, NULL); /* "" matches every name */
    ck_assert(applies(p, false, "anything"));
    ck_assert(!applies(p, true, "anything"));
    policy_free(p);
    char err[100];
    ck_assert(!policy_pattern_check("(", err, sizeof err));
    ck_assert_str_eq(err, "{\"missing )\",1}");
    ck_assert(policy_pattern_check("^a.*", err, sizeof err));
}
END_TEST

START_TEST(test_queue_types_refuse_unsupported_keys)
{
    struct policy_values v = limits(QUEUE_ARG_UNSET, 5);
    v.keys |= 1u << POLICY_DELIVERY_LIMIT;
    v.delivery_limit = 2;
    struct policy *p = make("p", ".*", POLICY_TO_ALL, 0, &v);
    ck_assert(!policy_applies(p, true, QUEUE_TYPE_CLASSIC, amqp_cstr("q")));
    ck_assert(policy_applies(p, true, QUEUE_TYPE_QUORUM, amqp_cstr("q")));
    policy_free(p);
    policy_values_init(&v);
    v.keys = 1u << POLICY_HA_MODE;
    p = make("ha", ".*", POLICY_TO_ALL, 0, &v);
    ck_assert(policy_applies(p, true, QUEUE_TYPE_CLASSIC, amqp_cstr("q")));
    ck_assert(!policy_applies(p, true, QUEUE_TYPE_QUORUM, amqp_cstr("q")));
    policy_free(p);
    enum policy_key k;
    ck_assert(policy_key_find(POLICY_REGULAR, "overflow", &k) && k == POLICY_OVERFLOW);
    ck_assert(!policy_key_find(POLICY_OPERATOR, "overflow", &k));
    ck_assert(policy_key_find(POLICY_OPERATOR, "delivery-limit", &k));
    ck_assert(!policy_key_find(POLICY_REGULAR, "consumer-timeout", &k));
}
END_TEST

START_TEST(test_highest_priority_then_first_name)
{
    struct list policies;
    list_init(&policies);
    struct policy *low = make("a-low", ".*", POLICY_TO_ALL, 1, NULL);
    struct policy *b = make("b", ".*", POLICY_TO_ALL, 5, NULL);
    struct policy *a = make("a", ".*", POLICY_TO_ALL, 5, NULL);
    struct policy *other = make("c", "^other$", POLICY_TO_ALL, 9, NULL);
    list_push_back(&policies, &low->link);
    list_push_back(&policies, &b->link);
    list_push_back(&policies, &a->link);
    list_push_back(&policies, &other->link);
    ck_assert_ptr_eq(policy_best(&policies, true, QUEUE_TYPE_CLASSIC, amqp_cstr("q")), a);
    ck_assert_ptr_eq(policy_best(&policies, true, QUEUE_TYPE_CLASSIC, amqp_cstr("other")), other);
    ck_assert_ptr_eq(policy_find(&policies, "b"), b);
    ck_assert_ptr_null(policy_find(&policies, "zz"));
    struct policy *ps[] = {low, b, a, other};
    for (int i = 0; i < 4; i++)
        policy_free(ps[i]);
}
END_TEST

START_TEST(test_precedence)
{
    struct queue_args own, out;
    queue_args_defaults(&own);
    own.message_ttl_ms = 1000;
    own.max_length = 3;
    own.overflow = QUEUE_REJECT_PUBLISH;
    own.has_overflow = true;
    struct policy_values v = limits(5000, 2);
    v.keys |= 1u << POLICY_OVERFLOW | 1u << POLICY_DEAD_LETTER_EXCHANGE | 1u << POLICY_EXPIRES;
    v.overflow = QUEUE_DROP_HEAD;
    v.dead_letter_exchange = strdup("dlx");
    v.expires_ms = 60000;
    struct policy *p = make("p", ".*", POLICY_TO_ALL, 0, &v);
    struct policy_values ov = limits(200, 10);
    struct policy *op = make("op", ".*", POLICY_TO_ALL, 0, &ov);

    policy_queue_args(&own, p, NULL, &out);
    ck_assert_int_eq(out.message_ttl_ms, 1000);   /* the lower: the argument */
    ck_assert_int_eq(out.max_length, 2);          /* the lower: the policy */
    ck_assert_int_eq(out.overflow, QUEUE_REJECT_PUBLISH); /* the argument wins */
    ck_assert(out.has_dead_letter_exchange && amqp_bytes_eq_cstr(out.dead_letter_exchange, "dlx"));
    ck_assert_int_eq(out.expires_ms, 60000);

    policy_queue_args(&own, p, op, &out);
    ck_assert_int_eq(out.message_ttl_ms, 200);    /* the operator's lower limit */
    ck_assert_int_eq(out.max_length, 2);          /* the policy's, lower than the operator's */

    own.has_overflow = false;
    own.overflow = QUEUE_DROP_HEAD;
    own.expires_ms = 1000;
    policy_queue_args(&own, p, NULL, &out);
    ck_assert_int_eq(out.expires_ms, 1000);       /* classic: the lower */

    own.type = QUEUE_TYPE_QUORUM;
    own.overflow = QUEUE_REJECT_PUBLISH;
    own.has_overflow = true;
    policy_queue_args(&own, p, NULL, &out);
    ck_assert_int_eq(out.expires_ms, 60000);      /* quorum: the policy's expiry wins */
    ck_assert_int_eq(out.overflow, QUEUE_DROP_HEAD); /* and its overflow */

    queue_args_defaults(&own);
    policy_queue_args(&own, NULL, NULL, &out);
    ck_assert_int_eq(out.max_length, QUEUE_ARG_UNSET);
    ck_assert(!out.has_dead_letter_exchange);
    policy_free(p);
    policy_free(op);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("policy");
    tcase_add_test(tc, test_patterns_and_targets);
    tcase_add_test(tc, test_queue_types_refuse_unsupported_keys);
    tcase_add_test(tc, test_highest_priority_then_first_name);
    tcase_add_test(tc, test_precedence);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
