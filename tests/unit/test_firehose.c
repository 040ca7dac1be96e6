/* Unit tests for the firehose's messages: RabbitMQ 3.10's headers, in its order and types. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "amqp_table.h"
#include "model/firehose.h"

static struct message *published(void)
{
    struct amqp_content_header h = {.class_id = 60, .body_size = 2};
    h.props.flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_PRIORITY_FLAG;
    h.props.content_type = amqp_cstr("text/plain");
    h.props.priority = 4;
    struct amqp_buf b;
    amqp_buf_init(&b);
    amqp_content_header_encode(&b, &h);
    struct message *m = message_new(amqp_cstr("amq.topic"), amqp_cstr("a.b"),
                                    amqp_bytes_of(b.data, b.len), 2, 2);
    message_write_body(m, 0, amqp_cstr("hi"));
    amqp_buf_free(&b);
    return m;
}

/* The keys of a table body and their type letters, as "key:T key:T". */
static void describe(struct amqp_bytes table, char *out, size_t size)
{
    struct amqp_table_iter it;
    struct amqp_bytes key;
    struct amqp_field v;
    size_t n = 0;
    out[0] = 0;
    amqp_table_iter_init(&it, table);
    while (amqp_table_next(&it, &key, &v))
        n += (size_t)snprintf(out + n, size - n, "%s%.*s:%c", n ? " " : "", (int)key.len,
                              (const char *)key.ptr, v.type);
}

START_TEST(test_publish_trace)
{
    struct message *m = published();
    struct firehose_origin origin = {"127.0.0.1:1 -> 127.0.0.1:2", "guest", 3};
    struct firehose_context ctx = {"warren@host", "/", "guest", &origin};
    struct amqp_bytes keys[] = {amqp_cstr("a.b")}, queues[] = {amqp_cstr("q1"), amqp_cstr("q2")};
    struct message *t = firehose_publish_message(m, &ctx, keys, 1, queues, 2);
    ck_assert(firehose_is_trace(t));
    ck_assert(!firehose_is_trace(m));
    ck_assert(amqp_bytes_eq_cstr(message_routing_key(t), "publish.amq.topic"));
    ck_assert_uint_eq(message_property_flags(t), AMQP_BASIC_HEADERS_FLAG);
    ck_assert_mem_eq(message_body(t), "hi", 2);
    struct amqp_basic_properties p;
    message_properties(t, &p);
    char text[512];
    describe(p.headers, text, sizeof text);
    ck_assert_str_eq(text, "exchange_name:S routing_keys:A properties:F node:S vhost:S "
                           "connection:S channel:I user:S routed_queues:A");
    struct amqp_field props, channel;
    ck_assert(amqp_table_get(p.headers, "properties", &props));
    describe(props.v.table, text, sizeof text);
    ck_assert_str_eq(text, "priority:I content_type:S"); /* last to first, as RabbitMQ */
    ck_assert(amqp_table_get(p.headers, "channel", &channel));
    ck_assert_int_eq(channel.v.i32, 3);
    message_unref(t);
    message_unref(m);
}
END_TEST

START_TEST(test_deliver_trace)
{
    struct message *m = published();
    struct firehose_context ctx = {"warren@host", "/", "guest", NULL};
    struct amqp_bytes keys[] = {amqp_cstr("a.b")};
    struct message *t = firehose_deliver_message(m, &ctx, keys, 1, amqp_cstr("q1"), true);
    ck_assert(amqp_bytes_eq_cstr(message_routing_key(t), "deliver.q1"));
    struct amqp_basic_properties p;
    message_properties(t, &p);
    char text[512];
    describe(p.headers, text, sizeof text);
    ck_assert_str_eq(text, "exchange_name:S routing_keys:A properties:F node:S redelivered:I "
                           "vhost:S connection:S channel:I user:S");
    struct amqp_field redelivered;
    ck_assert(amqp_table_get(p.headers, "redelivered", &redelivered));
    ck_assert_int_eq(redelivered.v.i32, 1);
    message_unref(t);
    message_unref(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("firehose");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_publish_trace);
    tcase_add_test(tc, test_deliver_trace);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
