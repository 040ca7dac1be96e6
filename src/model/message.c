/* Messages: one allocation per published message, shared by reference until the last holder. */
#include "model/message.h"

#include <stdlib.h>
#include <string.h>

/* Copies src to *at and returns the slice of the copy. */
static struct amqp_bytes place(uint8_t **at, struct amqp_bytes src)
{
    struct amqp_bytes copy = {*at, src.len};
    if (src.len)
        memcpy(*at, src.ptr, src.len);
    *at += src.len;
    return copy;
}

/* Points every string/table property at the same bytes inside the copied header. */
static void rebase_props(struct amqp_basic_properties *props, struct amqp_bytes from,
                         struct amqp_bytes to)
{
    for (size_t i = 0; i < AMQP_BASIC_PROPERTY_COUNT; i++) {
        const struct amqp_property_info *info = &amqp_basic_property_table[i];
        if (info->type != AMQP_ARG_SHORTSTR && info->type != AMQP_ARG_LONGSTR &&
            info->type != AMQP_ARG_TABLE)
            continue;
        struct amqp_bytes *slice = (struct amqp_bytes *)((char *)props + info->offset);
        if (slice->len == 0) {
            slice->ptr = to.ptr;
            continue;
        }
        size_t offset = (size_t)(slice->ptr - from.ptr);
        if (slice->ptr < from.ptr || offset + slice->len > from.len)
            abort(); /* props were not decoded from header: a caller bug */
        slice->ptr = to.ptr + offset;
    }
}

struct message *message_new(struct amqp_bytes exchange, struct amqp_bytes routing_key,
                            struct amqp_bytes header, const struct amqp_basic_properties *props,
                            uint64_t body_size)
{
    size_t total = sizeof(struct message) + exchange.len + routing_key.len + header.len;
    if (body_size > SIZE_MAX - total)
        abort();
    struct message *m = malloc(total + (size_t)body_size);
    if (!m)
        abort();
    uint8_t *at = (uint8_t *)(m + 1);
    m->refs = 1;
    m->body = at; /* first, so large bodies start right after the struct */
    at += body_size;
    m->exchange = place(&at, exchange);
    m->routing_key = place(&at, routing_key);
    m->header = place(&at, header);
    if (props) {
        m->props = *props;
        rebase_props(&m->props, header, m->header);
    } else {
        struct amqp_content_header decoded;
        if (amqp_content_header_decode(m->header, &decoded, NULL) != 0)
            abort(); /* the caller promised a header that decodes */
        m->props = decoded.props;
    }
    m->body_size = body_size;
    m->body_received = 0;
    return m;
}

void message_append_body(struct message *m, struct amqp_bytes part)
{
    if (part.len)
        memcpy(m->body + m->body_received, part.ptr, part.len);
    m->body_received += part.len;
}

void message_unref(struct message *m)
{
    if (m && --m->refs == 0)
        free(m);
}
