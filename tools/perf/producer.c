/* Publishing: message template, batch building, pacing by the clock and confirm accounting. */
#include "producer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_wire.h"
#include "link.h"

static size_t put_body_frames(struct amqp_buf *b, uint32_t id, uint32_t size, uint32_t frame_max)
{
    size_t per_frame = frame_max - AMQP_FRAME_OVERHEAD;
    size_t stamp_offset = 0;
    for (size_t done = 0; done < size;) {
        size_t chunk = size - done < per_frame ? size - done : per_frame;
        size_t start = amqp_frame_begin(b, AMQP_FRAME_BODY, 1);
        uint8_t *payload = amqp_buf_extend(b, chunk);
        memset(payload, 0, chunk);
        if (done == 0) {
            stamp_offset = (size_t)(payload - b->data);
            amqp_put_u32(payload + 8, id);
        }
        amqp_frame_finish(b, start);
        done += chunk;
    }
    return stamp_offset;
}

void producer_init(struct producer *p, uint32_t id, const struct options *o, const char *exchange,
                   const char *routing_key)
{
    struct stream st = p->st;
    memset(p, 0, sizeof *p);
    p->st = st;
    p->id = id;
    struct amqp_buf b;
    amqp_buf_init(&b);
    struct amqp_method publish = {.id = AMQP_BASIC_PUBLISH,
                                  .basic_publish = {.exchange = amqp_cstr(exchange),
                                                    .routing_key = amqp_cstr(routing_key),
                                                    .mandatory = o->mandatory}};
    size_t start = amqp_frame_begin(&b, AMQP_FRAME_METHOD, 1);
    amqp_method_encode(&b, &publish);
    amqp_frame_finish(&b, start);
    struct amqp_content_header header = {.class_id = AMQP_CLASS_BASIC, .body_size = o->size};
    if (o->persistent) {
        header.props.flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
        header.props.delivery_mode = 2;
    }
    start = amqp_frame_begin(&b, AMQP_FRAME_HEADER, 1);
    amqp_content_header_encode(&b, &header);
    amqp_frame_finish(&b, start);
    p->stamp_offset = put_body_frames(&b, id, o->size, p->st.frame_max);
    p->message = b.data;
    p->message_len = b.len;
    p->batch_max = PRODUCER_BATCH_BYTES / b.len ? PRODUCER_BATCH_BYTES / b.len : 1;
    p->limit = o->pmessages ? o->pmessages : UINT64_MAX;
    p->rate = o->rate;
    p->window = o->confirm;
    if (p->window && !(p->settled = calloc(p->window, 1)))
        abort();
}

void producer_free(struct producer *p)
{
    free(p->message);
    free(p->settled);
    p->message = p->settled = NULL;
}

void producer_start_pacing(struct producer *p, uint64_t start_ns, double phase)
{
    p->rate_start_ns = start_ns + (p->rate > 0 ? (uint64_t)(phase / p->rate * 1e9) : 0);
}

/* At most this much backlog of paced messages is caught up after a stall. */
static uint64_t pace_allowed(struct producer *p, uint64_t now_ns)
{
    if (now_ns < p->rate_start_ns)
        return 0;
    double due = floor((double)(now_ns - p->rate_start_ns) / 1e9 * p->rate) + 1;
    uint64_t due_count = (uint64_t)due;
    if (due_count <= p->rate_sent)
        return 0;
    uint64_t backlog = due_count - p->rate_sent;
    uint64_t burst = (uint64_t)(p->rate) + 1; /* one second's worth */
    if (backlog > burst) {
        p->rate_sent += backlog - burst; /* forgo what a long stall missed */
        backlog = burst;
    }
    return backlog;
}

uint64_t producer_allowed(struct producer *p, uint64_t now_ns)
{
    if (p->paused || p->sent >= p->limit)
        return 0;
    uint64_t n = p->limit - p->sent;
    if (p->window) {
        uint64_t outstanding = p->sent - p->confirmed_upto;
        uint64_t room = outstanding < p->window ? p->window - outstanding : 0;
        if (room < n)
            n = room;
    }
    if (p->rate > 0) {
        uint64_t paced = pace_allowed(p, now_ns);
        if (paced < n)
            n = paced;
    }
    return n < p->batch_max ? n : p->batch_max;
}

uint64_t producer_next_due_ns(const struct producer *p)
{
    if (p->rate <= 0 || p->paused || p->sent >= p->limit)
        return UINT64_MAX;
    if (p->window && p->sent - p->confirmed_upto >= p->window)
        return UINT64_MAX;
    return p->rate_start_ns + (uint64_t)ceil((double)p->rate_sent / p->rate * 1e9);
}

void producer_check_finished(struct producer *p, uint64_t now_ns, struct counters *k)
{
    if (p->finished || p->sent < p->limit || (p->window && p->confirmed_upto < p->sent) ||
        stream_has_output(&p->st))
        return;
    p->finished = true;
    if (now_ns > counters_get(&k->last_event_ns))
        counters_set(&k->last_event_ns, now_ns);
    counters_add_release(&k->finished, 1);
}

void producer_publish(struct producer *p, uint64_t now_ns, uint64_t n, struct counters *k)
{
    size_t len = p->message_len, stamp = p->stamp_offset;
    uint8_t *dst = amqp_buf_extend(&p->st.out, n * len);
    for (uint64_t i = 0; i < n; i++, dst += len) {
        memcpy(dst, p->message, len);
        amqp_put_u64(dst + stamp, now_ns);
    }
    p->sent += n;
    p->rate_sent += n;
    counters_add(&k->sent, n);
}

/* Settles tag (and with multiple every earlier tag); counts each tag once. */
static void settle(struct producer *p, uint64_t tag, bool multiple, bool nack, struct counters *k)
{
    if (!p->window || tag <= p->confirmed_upto || tag > p->sent)
        return;
    uint64_t acked = 0, nacked = 0;
    if (multiple) {
        for (uint64_t t = p->confirmed_upto + 1; t <= tag; t++) {
            uint8_t *mark = &p->settled[t % p->window];
            if (*mark)
                *mark = 0; /* counted when it was settled alone */
            else if (nack)
                nacked++;
            else
                acked++;
        }
        p->confirmed_upto = tag;
    } else {
        uint8_t *mark = &p->settled[tag % p->window];
        if (*mark)
            return;
        *mark = 1;
        if (nack)
            nacked++;
        else
            acked++;
    }
    while (p->confirmed_upto < p->sent && p->settled[(p->confirmed_upto + 1) % p->window]) {
        p->settled[(p->confirmed_upto + 1) % p->window] = 0;
        p->confirmed_upto++;
    }
    if (acked)
        counters_add(&k->confirmed, acked);
    if (nacked)
        counters_add(&k->nacked, nacked);
}

static int handle_method(struct producer *p, const struct amqp_frame *f, struct counters *k,
                         struct errors *e)
{
    struct amqp_method m;
    if (link_decode(&p->st, f->channel, f->payload, &m, &p->paused, e) == LINK_FATAL)
        return -1;
    switch (m.id) {
    case AMQP_BASIC_ACK:
        settle(p, m.basic_ack.delivery_tag, m.basic_ack.multiple, false, k);
        break;
    case AMQP_BASIC_NACK:
        settle(p, m.basic_nack.delivery_tag, m.basic_nack.multiple, true, k);
        break;
    case AMQP_BASIC_RETURN:
        counters_add(&k->returned, 1);
        p->skip_header = true;
        break;
    default:
        break;
    }
    return 0;
}

int producer_handle_input(struct producer *p, uint64_t now_ns, struct counters *k,
                          struct errors *e)
{
    struct stream *s = &p->st;
    for (;;) {
        struct amqp_frame f;
        struct amqp_error err;
        long n = amqp_frame_read(s->in + s->in_off, s->in_len - s->in_off, s->frame_max, &f, &err);
        if (n == 0)
            break;
        if (n < 0) {
            errors_add(e, "%s: bad frame from broker: %s", s->name, err.text);
            return -1;
        }
        s->in_off += (size_t)n;
        if (f.type == AMQP_FRAME_METHOD) {
            if (handle_method(p, &f, k, e) < 0)
                return -1;
        } else if (f.type == AMQP_FRAME_HEADER && p->skip_header && f.payload.len >= 12) {
            p->skip_header = false;
            p->skip_body = amqp_get_u64(f.payload.ptr + 4);
        } else if (f.type == AMQP_FRAME_BODY && p->skip_body) {
            p->skip_body -= f.payload.len < p->skip_body ? f.payload.len : p->skip_body;
        }
    }
    producer_check_finished(p, now_ns, k);
    return 0;
}
