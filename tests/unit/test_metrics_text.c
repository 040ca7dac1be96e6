/* Unit tests for the Prometheus text format: TYPE before HELP, escaped labels, integers, the summed form. */
#include <check.h>
#include <string.h>

#include "admin/metrics_text.h"

START_TEST(test_per_object_samples_keep_labels_escaped)
{
    struct metrics_text t = {0};
    struct metrics_family f;
    metrics_family_begin(&f, &t, "rabbitmq_queue_messages", "gauge", "Depth", true);
    static const char name[] = "a\"b\\c\nd";
    struct metrics_label labels[] = {{"vhost", "/", 1}, {"queue", name, sizeof name - 1}};
    metrics_family_add(&f, labels, 2, 3);
    metrics_family_add(&f, NULL, 0, 2.5);
    metrics_family_end(&f);
    ck_assert_str_eq(t.p, "# TYPE rabbitmq_queue_messages gauge\n"
                          "# HELP rabbitmq_queue_messages Depth\n"
                          "rabbitmq_queue_messages{vhost=\"/\",queue=\"a\\\"b\\\\c\\nd\"} 3\n"
                          "rabbitmq_queue_messages 2.5\n");
    metrics_text_free(&t);
}
END_TEST

START_TEST(test_summed_form_writes_one_unlabelled_sample)
{
    struct metrics_text t = {0};
    struct metrics_family f;
    metrics_family_begin(&f, &t, "rabbitmq_channel_consumers", "gauge", "Consumers", false);
    struct metrics_label channel = {"channel", "c1", 2};
    metrics_family_add(&f, &channel, 1, 2);
    metrics_family_add(&f, &channel, 1, 5);
    metrics_family_end(&f);
    metrics_family_begin(&f, &t, "rabbitmq_queues", "gauge", "Queues", false);
    metrics_family_end(&f); /* nothing added: 0 */
    ck_assert_str_eq(t.p, "# TYPE rabbitmq_channel_consumers gauge\n"
                          "# HELP rabbitmq_channel_consumers Consumers\n"
                          "rabbitmq_channel_consumers 7\n"
                          "# TYPE rabbitmq_queues gauge\n"
                          "# HELP rabbitmq_queues Queues\n"
                          "rabbitmq_queues 0\n");
    metrics_text_free(&t);
}
END_TEST

START_TEST(test_large_counters_keep_every_digit)
{
    struct metrics_text t = {0};
    metrics_sample(&t, "x_total", NULL, 0, 4503599627370497.0); /* 2^52 + 1 */
    ck_assert_str_eq(t.p, "x_total 4503599627370497\n");
    metrics_text_free(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics_text");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, test_per_object_samples_keep_labels_escaped);
    tcase_add_test(tc, test_summed_form_writes_one_unlabelled_sample);
    tcase_add_test(tc, test_large_counters_keep_every_digit);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
