/* Consuming: a frame state machine over the read buffer, with hand-decoded hot frames. */
#include "consumer.h"

#include <string.h>

#include "amqp_wire.h"
#include "link.h"

void consumer_init(struct consumer *c, uint32_t id, const struct options *o)
{
    struct stream st = c->st;
    memset(c, 0, sizeof *c);
    c->st = st;
    c->id = id;
    c->manual_ack = !o->autoack;
    c->ack_every = o->multi_ack_every;
    c->limit = o->cmessages ? o->cmessages : UINT64_MAX;
    c->expect = CONSUMER_EXPECT_METHOD;
    size_t cap = CONSUMER_READ_BYTES;
    if (cap < 2 * ((size_t)st.frame_max + AMQP_FRAME_OVERHEAD))
        cap = 2 * ((size_t)st.frame_max + AMQP_FRAME_OVERHEAD);
    stream_reserve_input(&c->st, cap);
}

/* basic.ack(tag, multiple=true) on channel 1, written without the generic encoder. */
static void put_ack(struct stream *s, uint64_t tag)
{
    uint8_t *p = amqp_buf_extend(&s->out, 21);
    p[0] = AMQP_FRAME_METHOD;
    amqp_put_u16(p + 1, 1);
    amqp_put_u32(p + 3, 13);
    amqp_put_u32(p + 7, AMQP_BASIC_ACK);
    amqp_put_u64(p + 11, tag);
    p[19] = 1; /* multiple */
    p[20] = AMQP_FRAME_END;
}

/* The totals reach the shared counters once per read buffer, not per message. */
static void publish_counts(struct consumer *c, struct counters *k)
{
    counters_add(&k->received, c->received - c->received_published);
    counters_add(&k->bytes, c->bytes - c->bytes_published);
    c->received_published = c->received;
    c->bytes_published = c->bytes;
}

static void finish(struct consumer *c, uint64_t now_ns, struct counters *k)
{
    publish_counts(c, k); /* before `finished`, which the main thread trusts the totals by */
    c->finished = true;
    if (c->manual_ack && c->unacked && !c->st.close_sent) {
        put_ack(&c->st, c->last_tag);
        c->unacked = 0;
    }
    counters_set(&k->last_event_ns, now_ns);
    counters_add_release(&k->finished, 1);
}

/* A whole message arrived: count it, and ack every ack_every messages. */
static void complete(struct consumer *c, uint64_t now_ns, struct counters *k)
{
    c->expect = CONSUMER_EXPECT_METHOD;
    if (!c->counting)
        return;
    c->received++;
    c->bytes += c->body_size;
    if (c->manual_ack && ++c->unacked >= c->ack_every && !c->st.close_sent) {
        put_ack(&c->st, c->last_tag);
        c->unacked = 0;
    }
    if (c->received == c->limit)
        finish(c, now_ns, k);
}

static int unexpected(struct consumer *c, const char *what, struct errors *e)
{
    errors_add(e, "%s: unexpected %s frame from broker", c->st.name, what);
    return -1;
}

static int on_method(struct consumer *c, const struct amqp_frame *f, struct errors *e)
{
    const uint8_t *p = f->payload.ptr;
    size_t len = f->payload.len;
    if (len >= 5 && amqp_get_u32(p) == AMQP_BASIC_DELIVER && len >= 14u + p[4]) {
        if (c->expect != CONSUMER_EXPECT_METHOD)
            return unexpected(c, "method", e);
        c->last_tag = amqp_get_u64(p + 5 + p[4]);
        c->expect = CONSUMER_EXPECT_HEADER;
        c->counting = !c->finished;
        return 0;
    }
    struct amqp_method m;
    if (link_decode(&c->st, f->channel, f->payload, &m, &c->paused, e) == LINK_FATAL)
        return -1;
    if (m.id == AMQP_BASIC_CANCEL) {
        errors_add(e, "%s: the broker cancelled the consumer (queue deleted?)", c->st.name);
        return -1;
    }
    return 0;
}

static int on_header(struct consumer *c, const struct amqp_frame *f, uint64_t now_ns,
                     struct counters *k, struct errors *e)
{
    if (c->expect != CONSUMER_EXPECT_HEADER || f->payload.len < 14)
        return unexpected(c, "content header", e);
    c->body_size = c->body_left = amqp_get_u64(f->payload.ptr + 4);
    c->expect = CONSUMER_EXPECT_BODY;
    if (c->body_size == 0)
        complete(c, now_ns, k);
    return 0;
}

static int on_body(struct consumer *c, const struct amqp_frame *f, uint64_t now_ns,
                   struct counters *k, struct histogram *h, struct errors *e)
{
    size_t len = f->payload.len;
    if (c->expect != CONSUMER_EXPECT_BODY || len > c->body_left)
        return unexpected(c, "content body", e);
    if (c->body_left == c->body_size && len >= 8 && c->counting) {
        uint64_t sent_ns = amqp_get_u64(f->payload.ptr);
        histogram_record(h, now_ns > sent_ns ? now_ns - sent_ns : 0);
    }
    c->body_left -= len;
    if (c->body_left == 0)
        complete(c, now_ns, k);
    return 0;
}

int consumer_handle_input(struct consumer *c, uint64_t now_ns, struct counters *k,
                          struct histogram *h, struct errors *e)
{
    struct stream *s = &c->st;
    const uint8_t *p = s->in + s->in_off, *end = s->in + s->in_len;
    uint64_t received_before = c->received;
    int rc = 0;
    while (rc == 0) {
        struct amqp_frame f;
        struct amqp_error err;
        long n = amqp_frame_read(p, (size_t)(end - p), s->frame_max, &f, &err);
        if (n == 0)
            break;
        if (n < 0) {
            errors_add(e, "%s: bad frame from broker: %s", s->name, err.text);
            rc = -1;
            break;
        }
        p += n;
        switch (f.type) {
        case AMQP_FRAME_BODY:
            rc = on_body(c, &f, now_ns, k, h, e);
            break;
        case AMQP_FRAME_METHOD:
            rc = on_method(c, &f, e);
            break;
        case AMQP_FRAME_HEADER:
            rc = on_header(c, &f, now_ns, k, e);
            break;
        default:
            break; /* heartbeats */
        }
    }
    s->in_off = (size_t)(p - s->in);
    if (c->received != received_before) {
        publish_counts(c, k);
        if (!c->finished)
            counters_set(&k->last_event_ns, now_ns);
    }
    return rc;
}
