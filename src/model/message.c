/* Messages: one allocation per published message, shared by reference until the last holder. */
#include "model/message.h"

#include <stdlib.h>
#include <string.h>

#include "amqp_buf.h"
#include "amqp_table.h"
#include "core/alloc.h"

static size_t names_len(const struct message *m)
{
    return (size_t)m->exchange_len + m->routing_key_len + m->header_len;
}

struct message *message_new(struct amqp_bytes exchange, struct amqp_bytes routing_key,
                            struct amqp_bytes header, uint64_t body_size, uint64_t body_capacity)
{
    size_t names = exchange.len + routing_key.len + header.len;
    if (exchange.len > 255 || routing_key.len > 255 || header.len > UINT32_MAX ||
        body_capacity > body_size || body_size > SIZE_MAX - sizeof(struct message) - names)
        abort(); /* the codec and the configured size limit bound all of these */
    struct message *m = xmalloc(sizeof *m + names + (size_t)body_capacity);
    m->refs = 1;
    m->header_len = (uint32_t)header.len;
    m->body_size = body_size;
    m->exchange_len = (uint8_t)exchange.len;
    m->routing_key_len = (uint8_t)routing_key.len;
    memcpy(m->data, exchange.ptr, exchange.len);
    memcpy(m->data + exchange.len, routing_key.ptr, routing_key.len);
    memcpy(m->data + exchange.len + routing_key.len, header.ptr, header.len);
    return m;
}

struct message *message_grow(struct message *m, uint64_t body_capacity)
{
    struct message *grown = xrealloc(m, sizeof *m + names_len(m) + (size_t)body_capacity);
    return grown;
}

void message_write_body(struct message *m, uint64_t offset, struct amqp_bytes part)
{
    if (part.len)
        memcpy(message_body(m) + offset, part.ptr, part.len);
}

void message_properties(const struct message *m, struct amqp_basic_properties *out)
{
    struct amqp_content_header h;
    if (amqp_content_header_decode(message_header(m), &h, NULL) != 0)
        abort(); /* checked when it was published */
    *out = h.props;
}

void message_unref(struct message *m)
{
    if (m && --m->refs == 0)
        free(m);
}

struct message *message_without_header(const struct message *m, const char *name)
{
    struct amqp_content_header h;
    if (amqp_content_header_decode(message_header(m), &h, NULL) != 0)
        abort(); /* checked when it was published */
    struct amqp_buf headers, header;
    amqp_buf_init(&headers);
    amqp_buf_init(&header);
    size_t mark = amqp_table_begin(&headers);
    struct amqp_table_iter it;
    struct amqp_bytes key;
    struct amqp_field value;
    amqp_table_iter_init(&it, h.props.headers);
    while (amqp_table_next(&it, &key, &value)) {
        if (amqp_bytes_eq_cstr(key, name))
            continue;
        amqp_buf_put_shortstr(&headers, key);
        amqp_field_put(&headers, &value);
    }
    amqp_table_end(&headers, mark);
    h.props.headers = amqp_bytes_of(headers.data + mark + 4, headers.len - mark - 4);
    amqp_content_header_encode(&header, &h);
    struct message *copy = message_new(message_exchange(m), message_routing_key(m),
                                       amqp_bytes_of(header.data, header.len), m->body_size,
                                       m->body_size);
    memcpy(message_body(copy), message_body((struct message *)m), (size_t)m->body_size);
    amqp_buf_free(&header);
    amqp_buf_free(&headers);
    return copy;
}
