/* RabbitMQ's firehose messages: a message's copy for amq.rabbitmq.trace with the headers
 * rabbit_trace writes (exchange_name, routing_keys, properties, node, then what the event adds). */
#include "model/firehose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_table.h"

bool firehose_is_trace(const struct message *m)
{
    return amqp_bytes_eq(message_exchange(m), amqp_cstr(FIREHOSE_EXCHANGE));
}

static void put_string_array(struct amqp_buf *b, const char *key, const struct amqp_bytes *items,
                             size_t n)
{
    amqp_table_put_key(b, key);
    amqp_buf_put_u8(b, 'A');
    size_t mark = amqp_table_begin(b);
    for (size_t i = 0; i < n; i++)
        amqp_field_put(b, &(struct amqp_field){.type = 'S', .v.bytes = items[i]});
    amqp_table_end(b, mark);
}

/* RabbitMQ's "signedint": 32 bits where the value fits, as Erlang's term encoder picks. */
static void put_integer(struct amqp_buf *b, const char *key, int64_t v)
{
    if (v >= INT32_MIN && v <= INT32_MAX)
        amqp_table_put_i32(b, key, (int32_t)v);
    else
        amqp_table_put_i64(b, key, v);
}

/* The properties present, last to first as RabbitMQ folds them: strings as longstr,
 * integers as signedint, headers as the table they are. */
static void put_properties(struct amqp_buf *b, const struct message *m)
{
    size_t mark = amqp_table_begin_nested(b, "properties");
    struct amqp_basic_properties props;
    message_properties(m, &props);
    for (size_t i = AMQP_BASIC_PROPERTY_COUNT; i-- > 0;) {
        const struct amqp_property_info *p = &amqp_basic_property_table[i];
        if (!(props.flags & p->flag))
            continue;
        const char *at = (const char *)&props + p->offset;
        char name[32]; /* the record's field name: "content_type", not the spec's dashes */
        snprintf(name, sizeof name, "%s", p->name);
        for (char *c = name; *c; c++)
            if (*c == '-')
                *c = '_';
        switch (p->type) {
        case AMQP_ARG_OCTET:
            put_integer(b, name, *(const uint8_t *)at);
            break;
        case AMQP_ARG_TIMESTAMP:
        case AMQP_ARG_LONGLONG:
            put_integer(b, name, (int64_t) * (const uint64_t *)at);
            break;
        case AMQP_ARG_TABLE:
            amqp_table_put_key(b, name);
            amqp_field_put(b, &(struct amqp_field){.type = 'F', .v.table = *(const struct amqp_bytes *)at});
            break;
        default:
            amqp_table_put_longstr(b, name, *(const struct amqp_bytes *)at);
            break;
        }
    }
    amqp_table_end(b, mark);
}

static void put_common(struct amqp_buf *b, const struct message *m,
                       const struct firehose_context *ctx, const struct amqp_bytes *keys,
                       size_t nkeys)
{
    amqp_table_put_longstr(b, "exchange_name", message_exchange(m));
    put_string_array(b, "routing_keys", keys, nkeys);
    put_properties(b, m);
    amqp_table_put_cstr(b, "node", ctx->node);
}

static void put_origin(struct amqp_buf *b, const struct firehose_context *ctx)
{
    amqp_table_put_cstr(b, "vhost", ctx->vhost);
    amqp_table_put_cstr(b, "connection", ctx->origin ? ctx->origin->connection : "");
    amqp_table_put_i32(b, "channel", ctx->origin ? ctx->origin->channel : 0);
    amqp_table_put_cstr(b, "user", ctx->user);
}

/* The copy: only a headers property, the original body, routed as prefix.suffix. */
static struct message *trace_copy(const struct message *m, struct amqp_buf *headers,
                                  const char *prefix, struct amqp_bytes suffix)
{
    char key[256 + 16];
    int n = snprintf(key, sizeof key, "%s.%.*s", prefix, (int)suffix.len, (const char *)suffix.ptr);
    struct amqp_basic_properties props = {.flags = AMQP_BASIC_HEADERS_FLAG};
    /* the table body, without the length amqp_table_begin wrote first */
    props.headers = amqp_bytes_of(headers->data + 4, headers->len - 4);
    struct message *copy = message_with_properties(
        m, &props, amqp_cstr(FIREHOSE_EXCHANGE),
        amqp_bytes_of((const uint8_t *)key, n < 255 ? (size_t)n : 255), amqp_bytes_of(NULL, 0));
    amqp_buf_free(headers);
    return copy;
}

struct message *firehose_publish_message(const struct message *m, const struct firehose_context *ctx,
                                         const struct amqp_bytes *routing_keys, size_t nkeys,
                                         const struct amqp_bytes *queues, size_t nqueues)
{
    struct amqp_buf b;
    amqp_buf_init(&b);
    size_t mark = amqp_table_begin(&b);
    put_common(&b, m, ctx, routing_keys, nkeys);
    put_origin(&b, ctx);
    put_string_array(&b, "routed_queues", queues, nqueues);
    amqp_table_end(&b, mark);
    return trace_copy(m, &b, "publish", message_exchange(m));
}

struct message *firehose_deliver_message(const struct message *m, const struct firehose_context *ctx,
                                         const struct amqp_bytes *routing_keys, size_t nkeys,
                                         struct amqp_bytes queue, bool redelivered)
{
    struct amqp_buf b;
    amqp_buf_init(&b);
    size_t mark = amqp_table_begin(&b);
    put_common(&b, m, ctx, routing_keys, nkeys);
    amqp_table_put_i32(&b, "redelivered", redelivered ? 1 : 0);
    put_origin(&b, ctx);
    amqp_table_end(&b, mark);
    return trace_copy(m, &b, "deliver", queue);
}
