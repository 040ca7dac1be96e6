/* A published message: one refcounted block holding its routing data, content header and body
 * (a large body in a block of its own, which may leave memory while the message waits), referenced
 * (never copied) by every queue it was routed to and every write that sends it. */
#ifndef MESSAGE_H
#define MESSAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "amqp_buf.h"
#include "amqp_spec.h"
#include "amqp_types.h"

/* Kept small: a queued message costs this plus its bytes. Properties stay encoded in the
 * content header (resent verbatim) and are decoded only where they are needed. */
struct message {
    uint32_t refs;
    uint32_t header_len;
    uint64_t body_size;
    uint8_t exchange_len;
    uint8_t routing_key_len;
    uint8_t flags;        /* MESSAGE_* */
    uint8_t priority;     /* its priority property, once MESSAGE_PRIORITY_KNOWN */
    uint32_t ttl;         /* its expiration property, when MESSAGE_HAS_TTL: see message_ttl_ms */
    /* The store's record of it while a durable queue holds it (persistent only), else NULL. */
    struct stored_message *stored;
    uint8_t data[]; /* exchange, routing key, content header, then the body */
};

enum {
    MESSAGE_HAS_TTL = 2,         /* ttl is set */
    MESSAGE_TTL_SECONDS = 32,    /* ttl counts seconds: a TTL past 2^32-1 ms, up to ten years */
    MESSAGE_PRIORITY_KNOWN = 4,  /* priority is read */
    MESSAGE_CHECK_CYCLES = 8,    /* a dead letter whose x-death may make a cycle */
    MESSAGE_BCC_KEPT = 16,       /* its BCC header's keys are kept after the body */
    MESSAGE_PERSISTENT = 64,     /* delivery-mode 2: kept on disk by the durable queues it enters */
    MESSAGE_APART = 128,         /* the body is apart: see struct message_apart */
};

/* Bodies of this size or more are allocated apart from their message, so that the store can
 * page them out while the message waits in queues; smaller ones cost less kept inline. */
#define MESSAGE_APART_MIN 1024

/* Just before a message with MESSAGE_APART, in the same allocation. */
struct message_apart {
    uint8_t *bytes;  /* the body; NULL while paged out (the store can read it back) */
    uint32_t parked; /* ready entries of queues holding it: paged out only while all refs are */
    bool page_asked; /* the store was asked to page it out and has not answered yet */
};

static inline struct message_apart *message_apart(const struct message *m)
{
    return (struct message_apart *)m - 1;
}

/* Copies exchange, routing key and content header (a header frame's payload, already checked
 * to decode) into one allocation with room for body_capacity octets of the body. */
struct message *message_new(struct amqp_bytes exchange, struct amqp_bytes routing_key,
                            struct amqp_bytes header, uint64_t body_size, uint64_t body_capacity);
/* A message as the store kept it: names, content header, body and kept BCC keys (an array
 * body, or empty), with the flags and TTL it had (only MESSAGE_HAS_TTL, MESSAGE_TTL_SECONDS and
 * MESSAGE_CHECK_CYCLES are taken from `flags`). A body of MESSAGE_APART_MIN octets or more with a
 * NULL ptr is left paged out. */
struct message *message_restore(struct amqp_bytes exchange, struct amqp_bytes routing_key,
                                struct amqp_bytes header, struct amqp_bytes body,
                                struct amqp_bytes bcc, uint8_t flags, uint32_t ttl);
/* Makes room for body_capacity octets while the body arrives; the message may move (nothing
 * else refers to it yet). */
struct message *message_grow(struct message *m, uint64_t body_capacity);
/* Copies part of the body, arriving in order, to its place. */
void message_write_body(struct message *m, uint64_t offset, struct amqp_bytes part);

static inline struct amqp_bytes message_exchange(const struct message *m)
{
    return amqp_bytes_of(m->data, m->exchange_len);
}

static inline struct amqp_bytes message_routing_key(const struct message *m)
{
    return amqp_bytes_of(m->data + m->exchange_len, m->routing_key_len);
}

static inline struct amqp_bytes message_header(const struct message *m)
{
    return amqp_bytes_of(m->data + m->exchange_len + m->routing_key_len, m->header_len);
}

/* NULL while paged out (message_paged). */
static inline uint8_t *message_body(const struct message *m)
{
    if (m->flags & MESSAGE_APART)
        return message_apart(m)->bytes;
    return (uint8_t *)m->data + m->exchange_len + m->routing_key_len + m->header_len;
}

/* ---- paging: what queues and the store say about a body apart ---- */

static inline bool message_paged(const struct message *m)
{
    return (m->flags & MESSAGE_APART) && !message_apart(m)->bytes;
}

/* A ready entry took, or let go of, a reference. */
static inline void message_park(struct message *m)
{
    if (m->flags & MESSAGE_APART)
        message_apart(m)->parked++;
}

static inline void message_unpark(struct message *m)
{
    if (m->flags & MESSAGE_APART)
        message_apart(m)->parked--;
}

/* Is every reference but `others` a ready entry (nothing is sending the body)? */
static inline bool message_only_parked(const struct message *m, uint32_t others)
{
    const struct message_apart *a = message_apart(m);
    return a->parked > 0 && m->refs == a->parked + others;
}

/* The body leaves memory: the store keeps it and can read it back. */
void message_page_out(struct message *m);
/* Room for the body again (body_size octets), for the store to fill. */
uint8_t *message_page_in(struct message *m);

/* A copy of m without its BCC header (how BCC is kept from consumers), whose BCC keys stay
 * with it, out of sight, for dead-lettering as RabbitMQ routes dead letters by them too. */
struct message *message_without_bcc(const struct message *m);
/* The kept BCC keys: an array body, empty when there are none. */
struct amqp_bytes message_kept_bcc(const struct message *m);

/* The content header's property flags (AMQP_BASIC_*_FLAG), read without decoding: a check
 * for a rare property costs a load, not a decode. */
static inline uint16_t message_property_flags(const struct message *m)
{
    const uint8_t *p = message_header(m).ptr + 12; /* after class, weight and body size */
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Decodes the basic properties; slices point into the message. */
void message_properties(const struct message *m, struct amqp_basic_properties *out);

/* Keeps the message's own TTL in 4 octets: milliseconds below 2^32, else (over 49 days,
 * where nobody can tell) whole seconds, rounded up. */
static inline void message_set_ttl(struct message *m, uint64_t ttl_ms)
{
    m->flags |= MESSAGE_HAS_TTL;
    if (ttl_ms <= UINT32_MAX) {
        m->ttl = (uint32_t)ttl_ms;
    } else {
        m->ttl = (uint32_t)((ttl_ms + 999) / 1000);
        m->flags |= MESSAGE_TTL_SECONDS;
    }
}

static inline uint64_t message_ttl_ms(const struct message *m)
{
    return m->flags & MESSAGE_TTL_SECONDS ? (uint64_t)m->ttl * 1000 : m->ttl;
}

/* The priority property (0 when absent), read once. */
uint8_t message_priority(struct message *m);

/* RabbitMQ's parse of the expiration property (a decimal string of milliseconds, at most
 * ten years): true with the value, or false with its Erlang error term for the 406 text, e.g.
 * "no_integer" or "{value_negative,-5}". */
bool message_parse_expiration(struct amqp_bytes expiration, uint64_t *ttl_ms, char *why,
                              size_t why_size);

/* m's content header with these properties instead of its own, appended to out. */
void message_encode_header(const struct message *m, const struct amqp_basic_properties *props,
                           struct amqp_buf *out);
/* A copy of m with these properties instead of its own, routed as published to `exchange`
 * with `routing_key`, keeping `bcc` (an array body of BCC keys, or empty). */
struct message *message_with_properties(const struct message *m,
                                        const struct amqp_basic_properties *props,
                                        struct amqp_bytes exchange, struct amqp_bytes routing_key,
                                        struct amqp_bytes bcc);

static inline struct message *message_ref(struct message *m)
{
    m->refs++;
    return m;
}
void message_unref(struct message *m);

#endif
