/* Unit tests for dead letters: x-death merging (old arrays without counts too) and cycles. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "amqp_buf.h"
#include "amqp_spec.h"
#include "amqp_table.h"
#include "model/deadletter.h"

/* A death table: queue and reason, and a count unless count < 0. */
static void put_death(struct amqp_buf *b, const char *queue, const char *reason, int count)
{
    amqp_buf_put_u8(b, 'F');
    size_t mark = amqp_table_begin(b);
    if (count >= 0)
        amqp_table_put_i64(b, "count", count);
    amqp_table_put_cstr(b, "queue", queue);
    amqp_table_put_cstr(b, "reason", reason);
    amqp_table_end(b, mark);
}

/* A message on queue "q" whose headers hold an x-death of the given deaths (NULL-ended
 * triples of queue, reason and count as strings; count "-" for none), or, with x_death_type
 * 'S', an x-death that is a string. */
static struct message *message_with_deaths(char x_death_type, const char *const *deaths)
{
    struct amqp_buf headers;
    amqp_buf_init(&headers);
    size_t mark = amqp_table_begin(&headers);
    amqp_table_put_cstr(&headers, "CC", "not an array");
    if (x_death_type == 'S') {
        amqp_table_put_cstr(&headers, "x-death", "mangled");
    } else if (deaths) {
        amqp_table_put_key(&headers, "x-death");
        amqp_buf_put_u8(&headers, 'A');
        size_t array = amqp_table_begin(&headers);
        for (const char *const *d = deaths; *d; d += 3)
            put_death(&headers, d[0], d[1], d[2][0] == '-' ? -1 : d[2][0] - '0');
        amqp_table_end(&headers, array);
    }
    amqp_table_end(&headers, mark);
    struct amqp_content_header h = {.class_id = AMQP_CLASS_BASIC, .body_size = 0};
    h.props.flags = AMQP_BASIC_HEADERS_FLAG;
    h.props.headers = amqp_bytes_of(headers.data + mark + 4, headers.len - mark - 4);
    struct amqp_buf header;
    amqp_buf_init(&header);
    amqp_content_header_encode(&header, &h);
    struct message *m = message_new(amqp_cstr("x"), amqp_cstr("q"), amqp_bytes_of(header.data, header.len),
                                    0, 0);
    amqp_buf_free(&header);
    amqp_buf_free(&headers);
    return m;
}

/* x-death of m as "queue/reason/count ..." , newest first. */
static const char *deaths_of(const struct message *m)
{
    static char out[512];
    out[0] = 0;
    struct amqp_basic_properties props;
    message_properties(m, &props);
    struct amqp_field x_death, item, f;
    ck_assert(amqp_table_get(props.headers, "x-death", &x_death));
    ck_assert_int_eq(x_death.type, 'A');
    struct amqp_table_iter it;
    amqp_table_iter_init(&it, x_death.v.array);
    while (amqp_array_next(&it, &item)) {
        ck_assert_int_eq(item.type, 'F');
        char one[128];
        int64_t count = -1;
        struct amqp_bytes queue = {0}, reason = {0};
        if (amqp_table_get(item.v.table, "queue", &f))
            queue = f.v.bytes;
        if (amqp_table_get(item.v.table, "reason", &f))
            reason = f.v.bytes;
        if (amqp_table_get(item.v.table, "count", &f))
            amqp_field_integer(&f, &count);
        snprintf(one, sizeof one, "%s%.*s/%.*s/%lld", out[0] ? " " : "", (int)queue.len,
                 (const char *)queue.ptr, (int)reason.len, (const char *)reason.ptr, (long long)count);
        strncat(out, one, sizeof out - strlen(out) - 1);
    }
    return out;
}

static bool has_header(const struct message *m, const char *name)
{
    struct amqp_basic_properties props;
    message_properties(m, &props);
    struct amqp_field f;
    return amqp_table_get(props.headers, name, &f);
}

static struct message *dead(struct message *m, const char *queue, enum dead_letter_reason reason)
{
    struct amqp_bytes dlrk = amqp_cstr("dlrk");
    struct message *d = deadletter_message(m, amqp_cstr(queue), reason, amqp_cstr("dlx"), &dlrk, 1000);
    message_unref(m);
    return d;
}

START_TEST(old_arrays_are_grouped_per_queue_and_reason)
{
    /* RabbitMQ's arrays from before counts: repeated entries count as one with their number */
    static const char *const deaths[] = {"a", "expired", "-", "b", "rejected", "-", "a", "expired", "-",
                                         NULL};
    struct message *m = dead(message_with_deaths('A', deaths), "a", DEAD_LETTER_EXPIRED);
    ck_assert_str_eq(deaths_of(m), "a/expired/3 b/rejected/1");
    message_unref(m);
}
END_TEST

START_TEST(a_single_old_entry_is_counted_from_one)
{
    static const char *const deaths[] = {"a", "expired", "-", NULL};
    struct message *m = dead(message_with_deaths('A', deaths), "a", DEAD_LETTER_EXPIRED);
    ck_assert_str_eq(deaths_of(m), "a/expired/1");
    message_unref(m);
}
END_TEST

START_TEST(a_new_queue_or_reason_goes_first)
{
    static const char *const deaths[] = {"a", "expired", "2", NULL};
    struct message *m = dead(message_with_deaths('A', deaths), "a", DEAD_LETTER_MAXLEN);
    ck_assert_str_eq(deaths_of(m), "a/maxlen/1 a/expired/2");
    ck_assert(!has_header(m, "x-first-death-queue")); /* only on the first death */
    ck_assert(has_header(m, "x-last-death-queue"));
    ck_assert(!has_header(m, "CC")); /* a dead-letter routing key drops CC */
    message_unref(m);
}
END_TEST

START_TEST(an_x_death_of_another_type_starts_again)
{
    struct message *m = dead(message_with_deaths('S', NULL), "a", DEAD_LETTER_REJECTED);
    ck_assert_str_eq(deaths_of(m), "a/rejected/1");
    ck_assert(!has_header(m, "x-first-death-queue")); /* RabbitMQ sets those only without x-death */
    message_unref(m);
}
END_TEST

START_TEST(cycles_need_no_rejection_since_the_queue)
{
    static const char *const deaths[] = {"b", "expired", "1", "a", "maxlen", "1", "c", "rejected", "1",
                                         NULL};
    struct message *m = message_with_deaths('A', deaths);
    ck_assert(deadletter_is_cycle(m, amqp_cstr("b")));
    ck_assert(deadletter_is_cycle(m, amqp_cstr("a")));
    ck_assert(!deadletter_is_cycle(m, amqp_cstr("c"))); /* its own death was a rejection */
    ck_assert(!deadletter_is_cycle(m, amqp_cstr("d"))); /* never there */
    message_unref(m);
    struct message *fresh = message_with_deaths('A', NULL);
    ck_assert(!deadletter_is_cycle(fresh, amqp_cstr("q")));
    message_unref(fresh);
}
END_TEST

static Suite *deadletter_suite(void)
{
    Suite *s = suite_create("deadletter");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, old_arrays_are_grouped_per_queue_and_reason);
    tcase_add_test(tc, a_single_old_entry_is_counted_from_one);
    tcase_add_test(tc, a_new_queue_or_reason_goes_first);
    tcase_add_test(tc, an_x_death_of_another_type_starts_again);
    tcase_add_test(tc, cycles_need_no_rejection_since_the_queue);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(deadletter_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
