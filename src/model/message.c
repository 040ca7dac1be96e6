/* Messages: one allocation per published message (two for a large body), shared by reference until the last holder. */
#include "model/message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_buf.h"
#include "core/alloc.h"
#include "model/field_list.h"

static size_t names_len(const struct message *m)
{
    return (size_t)m->exchange_len + m->routing_key_len + m->header_len;
}

/* delivery-mode 2, read from the encoded properties: content-type and content-encoding
 * (short strings) and headers (a table) come before it. */
static bool header_is_persistent(struct amqp_bytes header)
{
    if (header.len < 14)
        return false;
    uint16_t flags = amqp_get_u16(header.ptr + 12);
    if (!(flags & AMQP_BASIC_DELIVERY_MODE_FLAG))
        return false;
    size_t at = 14;
    if ((flags & AMQP_BASIC_CONTENT_TYPE_FLAG) && at < header.len)
        at += 1 + (size_t)header.ptr[at];
    if ((flags & AMQP_BASIC_CONTENT_ENCODING_FLAG) && at < header.len)
        at += 1 + (size_t)header.ptr[at];
    if ((flags & AMQP_BASIC_HEADERS_FLAG) && at + 4 <= header.len)
        at += 4 + (size_t)amqp_get_u32(header.ptr + at);
    return at < header.len && header.ptr[at] == 2;
}

_Static_assert(sizeof(struct message_apart) % _Alignof(struct message) == 0,
               "a message after its apart part stays aligned");

/* A message with a large body's first body_capacity octets in a block of their own. */
static __attribute__((noinline)) struct message *alloc_apart(size_t inline_size,
                                                             uint64_t body_capacity)
{
    struct message_apart *a = xmalloc(sizeof *a + inline_size);
    *a = (struct message_apart){.bytes = xmalloc(body_capacity ? (size_t)body_capacity : 1)};
    return (struct message *)(a + 1);
}

/* A message with room for body_capacity octets of a body of body_size and `trailer` octets
 * after it (kept BCC keys): inline, or for a large body, the body in a block of its own. */
static struct message *message_alloc(struct amqp_bytes exchange, struct amqp_bytes routing_key,
                                     struct amqp_bytes header, uint64_t body_size,
                                     uint64_t body_capacity, size_t trailer)
{
    size_t names = exchange.len + routing_key.len + header.len;
    if (exchange.len > 255 || routing_key.len > 255 || header.len > UINT32_MAX ||
        body_capacity + trailer > SIZE_MAX / 2)
        abort(); /* the codec and the configured size limit bound all of these */
    uint8_t flags = header_is_persistent(header) ? MESSAGE_PERSISTENT : 0;
    struct message *m;
    if (__builtin_expect(body_size >= MESSAGE_APART_MIN, 0)) {
        m = alloc_apart(sizeof *m + names + trailer, body_capacity);
        flags |= MESSAGE_APART;
    } else {
        m = xmalloc(sizeof *m + names + (size_t)body_capacity + trailer);
    }
    m->refs = 1;
    m->header_len = (uint32_t)header.len;
    m->body_size = body_size;
    m->exchange_len = (uint8_t)exchange.len;
    m->routing_key_len = (uint8_t)routing_key.len;
    m->flags = flags;
    m->stored = NULL;
    memcpy(m->data, exchange.ptr, exchange.len);
    memcpy(m->data + exchange.len, routing_key.ptr, routing_key.len);
    memcpy(m->data + exchange.len + routing_key.len, header.ptr, header.len);
    return m;
}

struct message *message_new(struct amqp_bytes exchange, struct amqp_bytes routing_key,
                            struct amqp_bytes header, uint64_t body_size, uint64_t body_capacity)
{
    if (body_capacity > body_size)
        abort();
    return message_alloc(exchange, routing_key, header, body_size, body_capacity, 0);
}

/* Where the kept BCC keys go: after the names, and after the body when it is inline. */
static uint8_t *trailer_of(const struct message *m)
{
    return (uint8_t *)m->data + names_len(m) + (m->flags & MESSAGE_APART ? 0 : m->body_size);
}

struct amqp_bytes message_kept_bcc(const struct message *m)
{
    if (!(m->flags & MESSAGE_BCC_KEPT))
        return (struct amqp_bytes){NULL, 0};
    const uint8_t *end = trailer_of(m);
    uint32_t len;
    memcpy(&len, end, sizeof len);
    return amqp_bytes_of(end + sizeof len, len);
}

static void keep_bcc(struct message *m, struct amqp_bytes bcc)
{
    if (!bcc.len)
        return;
    uint32_t len = (uint32_t)bcc.len;
    uint8_t *at = trailer_of(m);
    memcpy(at, &len, sizeof len);
    memcpy(at + sizeof len, bcc.ptr, bcc.len);
    m->flags |= MESSAGE_BCC_KEPT;
}

static size_t bcc_room(struct amqp_bytes bcc)
{
    return bcc.len ? sizeof(uint32_t) + bcc.len : 0;
}

/* A copy of m (its body in memory) with the content header `header`, keeping `bcc` (an array
 * body) after it. */
static struct message *copy_with_header(const struct message *m, struct amqp_bytes exchange,
                                        struct amqp_bytes routing_key, struct amqp_bytes header,
                                        struct amqp_bytes bcc)
{
    struct message *copy = message_alloc(exchange, routing_key, header, m->body_size,
                                         m->body_size, bcc_room(bcc));
    if (m->body_size)
        memcpy(message_body(copy), message_body(m), (size_t)m->body_size);
    keep_bcc(copy, bcc);
    return copy;
}

struct message *message_restore(struct amqp_bytes exchange, struct amqp_bytes routing_key,
                                struct amqp_bytes header, struct amqp_bytes body,
                                struct amqp_bytes bcc, uint8_t flags, uint32_t ttl)
{
    bool paged = !body.ptr && body.len >= MESSAGE_APART_MIN;
    struct message *m = message_alloc(exchange, routing_key, header, body.len,
                                      paged ? 0 : body.len, bcc_room(bcc));
    if (paged)
        message_page_out(m);
    else if (body.len)
        memcpy(message_body(m), body.ptr, body.len);
    keep_bcc(m, bcc);
    m->flags |= flags & (MESSAGE_HAS_TTL | MESSAGE_TTL_SECONDS | MESSAGE_CHECK_CYCLES);
    m->ttl = ttl;
    return m;
}

struct message *message_grow(struct message *m, uint64_t body_capacity)
{
    if (m->flags & MESSAGE_APART) {
        struct message_apart *a = message_apart(m);
        a->bytes = xrealloc(a->bytes, (size_t)body_capacity);
        return m;
    }
    return xrealloc(m, sizeof *m + names_len(m) + (size_t)body_capacity);
}

void message_write_body(struct message *m, uint64_t offset, struct amqp_bytes part)
{
    if (part.len)
        memcpy(message_body(m) + offset, part.ptr, part.len);
}

void message_page_out(struct message *m)
{
    struct message_apart *a = message_apart(m);
    free(a->bytes);
    a->bytes = NULL;
}

uint8_t *message_page_in(struct message *m)
{
    struct message_apart *a = message_apart(m);
    a->bytes = xmalloc(m->body_size ? (size_t)m->body_size : 1);
    return a->bytes;
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
    if (!m || --m->refs != 0)
        return;
    if (m->flags & MESSAGE_APART) {
        free(message_apart(m)->bytes);
        free(message_apart(m));
    } else {
        free(m);
    }
}

struct message *message_without_bcc(const struct message *m)
{
    struct amqp_basic_properties props;
    message_properties(m, &props);
    struct field_list headers = {0};
    struct field_scratch scratch = {0};
    field_list_parse(&headers, props.headers);
    struct field_entry *bcc = field_list_find(&headers, "BCC");
    struct amqp_bytes kept = bcc && bcc->value.ptr[0] == 'A' ? field_value_nested_body(bcc->value)
                                                             : (struct amqp_bytes){NULL, 0};
    while (field_list_find(&headers, "BCC"))
        field_list_delete(&headers, "BCC");
    props.headers = field_value_nested_body(field_list_encode(&headers, &scratch));
    struct message *copy = message_with_properties(m, &props, message_exchange(m),
                                                   message_routing_key(m), kept);
    copy->ttl = m->ttl;
    copy->flags |= m->flags & (MESSAGE_HAS_TTL | MESSAGE_TTL_SECONDS);
    free(headers.items);
    field_scratch_free(&scratch);
    return copy;
}

uint8_t message_priority(struct message *m)
{
    if (!(m->flags & MESSAGE_PRIORITY_KNOWN)) {
        m->priority = 0;
        if (message_property_flags(m) & AMQP_BASIC_PRIORITY_FLAG) {
            struct amqp_basic_properties props;
            message_properties(m, &props);
            m->priority = props.priority;
        }
        m->flags |= MESSAGE_PRIORITY_KNOWN;
    }
    return m->priority;
}

/* RabbitMQ's longest per-message TTL: ten years. */
#define MESSAGE_TTL_MAX 315360000000ull

/* Erlang's ~p line breaking as RabbitMQ's texts show it: a tuple {Tag,Value} that would end
 * past column 78 continues on a new line under its first element. `col` is where it starts. */
static void format_tuple(char *out, size_t size, size_t col, const char *tag, const char *value)
{
    size_t len = strlen(tag) + strlen(value) + 3;
    if (col + len < 79)
        snprintf(out, size, "{%s,%s}", tag, value);
    else
        snprintf(out, size, "{%s,\n%*s%s}", tag, (int)(col + 1), "", value);
}

/* An Erlang string as ~p prints it: quoted when every octet is printable, else a list. */
static void format_erlang_string(char *out, size_t size, struct amqp_bytes s)
{
    bool printable = true;
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] < 0x20 || s.ptr[i] >= 0x7f)
            printable = false;
    size_t n = 0;
    out[0] = 0;
    if (n < size)
        n += (size_t)snprintf(out + n, size - n, printable ? "\"" : "[");
    for (size_t i = 0; i < s.len && n < size; i++) {
        if (printable)
            n += (size_t)snprintf(out + n, size - n, "%s%c",
                                  s.ptr[i] == '"' || s.ptr[i] == '\\' ? "\\" : "", s.ptr[i]);
        else
            n += (size_t)snprintf(out + n, size - n, "%s%u", i ? "," : "", s.ptr[i]);
    }
    if (n < size)
        snprintf(out + n, size - n, printable ? "\"" : "]");
}

bool message_parse_expiration(struct amqp_bytes expiration, uint64_t *ttl_ms, char *why,
                              size_t why_size)
{
    /* Erlang's string:to_integer: an optional sign, then digits, the rest left over */
    size_t i = 0;
    bool negative = false;
    if (i < expiration.len && (expiration.ptr[i] == '+' || expiration.ptr[i] == '-'))
        negative = expiration.ptr[i++] == '-';
    size_t digits_start = i;
    while (i < expiration.len && expiration.ptr[i] >= '0' && expiration.ptr[i] <= '9')
        i++;
    if (i == digits_start) {
        snprintf(why, why_size, "no_integer");
        return false;
    }
    /* "invalid expiration '<value>': " comes before the term in RabbitMQ's text */
    size_t col = 20 + expiration.len + 3;
    char value[600];
    if (i < expiration.len) {
        format_erlang_string(value, sizeof value,
                             amqp_bytes_of(expiration.ptr + i, expiration.len - i));
        format_tuple(why, why_size, col, "leftover_string", value);
        return false;
    }
    size_t first = digits_start;
    while (first + 1 < i && expiration.ptr[first] == '0')
        first++;
    snprintf(value, sizeof value, "%s%.*s", negative ? "-" : "", (int)(i - first),
             (const char *)expiration.ptr + first);
    bool zero = i - first == 1 && expiration.ptr[first] == '0';
    if (negative && !zero) {
        format_tuple(why, why_size, col, "value_negative", value);
        return false;
    }
    uint64_t ms = 0;
    bool too_large = i - first > 12;
    for (size_t k = first; k < i && !too_large; k++)
        ms = ms * 10 + (uint64_t)(expiration.ptr[k] - '0');
    if (too_large || ms > MESSAGE_TTL_MAX) {
        format_tuple(why, why_size, col, "value_too_large", value);
        return false;
    }
    *ttl_ms = ms;
    return true;
}

void message_encode_header(const struct message *m, const struct amqp_basic_properties *props,
                           struct amqp_buf *out)
{
    struct amqp_content_header h;
    if (amqp_content_header_decode(message_header(m), &h, NULL) != 0)
        abort(); /* checked when it was published */
    h.props = *props;
    amqp_content_header_encode(out, &h);
}

struct message *message_with_properties(const struct message *m,
                                        const struct amqp_basic_properties *props,
                                        struct amqp_bytes exchange, struct amqp_bytes routing_key,
                                        struct amqp_bytes bcc)
{
    struct amqp_buf header;
    amqp_buf_init(&header);
    message_encode_header(m, props, &header);
    struct message *copy = copy_with_header(m, exchange, routing_key,
                                            amqp_bytes_of(header.data, header.len), bcc);
    amqp_buf_free(&header);
    return copy;
}
