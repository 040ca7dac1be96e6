/* The message log's write side: stored messages and queues, records appended into per-iteration batches, reclamation and compaction, the clean stop. */
#include "store/message_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/container.h"
#include "core/log.h"
#include "model/broker.h"
#include "model/exchange.h"
#include "model/exchange_delayed.h"
#include "model/message.h"
#include "model/queue.h"
#include "model/vhost.h"
#include "store/message_log_internal.h"
#include "store/segment.h"

/* A forget record holds at most this many pairs, so no record outgrows a segment by much. */
#define FORGETS_PER_RECORD 65536

uint64_t message_log_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- segments ---- */

struct store_segment *message_log_add_segment(struct message_log *l, uint32_t number,
                                              uint64_t used, uint64_t size)
{
    if (l->nsegments == l->segments_cap) {
        l->segments_cap = l->segments_cap ? l->segments_cap * 2 : 16;
        l->segments = xrealloc_array(l->segments, l->segments_cap, sizeof *l->segments);
    }
    struct store_segment *s = xcalloc(1, sizeof *s);
    *s = (struct store_segment){.number = number, .used = used, .size = size, .read_fd = -1};
    list_init(&s->live);
    l->segments[l->nsegments++] = s;
    l->figures.disk_bytes += size;
    if (number >= l->next_segment)
        l->next_segment = number + 1;
    return s;
}

static struct store_segment *active(struct message_log *l)
{
    return l->nsegments && !l->roll ? l->segments[l->nsegments - 1] : NULL;
}

/* A segment's header, written into the batch. */
static void write_header(struct message_log *l, uint32_t number)
{
    size_t from = l->batch->bytes.len;
    segment_encode_header(amqp_buf_extend(&l->batch->bytes, SEGMENT_HEADER_SIZE), number);
    writer_batch_add(l->batch, (struct writer_op){.kind = WRITER_WRITE, .segment = number,
                                                  .offset = 0, .from = from,
                                                  .len = SEGMENT_HEADER_SIZE});
}

/* A new segment to append to, with room for at least `need` octets of records: the one made
 * ahead when it is big enough, else a new one. */
static struct store_segment *start_segment(struct message_log *l, uint64_t need)
{
    bool spare_fits = l->spare && SEGMENT_HEADER_SIZE + need <= l->segment_bytes;
    if (l->spare && !spare_fits) /* it goes, as segments follow their numbers */
        writer_batch_add(l->batch, (struct writer_op){.kind = WRITER_DELETE, .segment = l->spare});
    uint64_t size = SEGMENT_HEADER_SIZE + need > l->segment_bytes ? SEGMENT_HEADER_SIZE + need
                                                                  : l->segment_bytes;
    uint32_t number = spare_fits ? l->spare : l->next_segment;
    struct store_segment *s = message_log_add_segment(l, number, SEGMENT_HEADER_SIZE, size);
    l->spare = 0;
    l->roll = false;
    if (!spare_fits)
        writer_batch_add(l->batch, (struct writer_op){.kind = WRITER_CREATE, .segment = number,
                                                      .size = size});
    /* a spare has its header already: writing it again is this batch's first touch of it */
    write_header(l, number);
    return s;
}

/* The active segment, with room for `need` more octets (a new one if it has not). */
static struct store_segment *reserve(struct message_log *l, uint64_t need)
{
    struct store_segment *s = active(l);
    if (!s || s->used + need > s->size)
        s = start_segment(l, need);
    return s;
}

/* Appends encoded records (room reserved) to the active segment; returns their offset. */
static uint64_t append(struct message_log *l, const uint8_t *bytes, size_t len)
{
    struct store_segment *s = active(l);
    struct writer_batch *b = l->batch;
    uint64_t offset = s->used;
    struct writer_op *last = b->nops ? &b->ops[b->nops - 1] : NULL;
    if (last && last->kind == WRITER_WRITE && last->segment == s->number &&
        last->offset + last->len == offset && last->from + last->len == b->bytes.len)
        last->len += len;
    else
        writer_batch_add(b, (struct writer_op){.kind = WRITER_WRITE, .segment = s->number,
                                               .offset = offset, .from = b->bytes.len, .len = len});
    amqp_buf_put(&b->bytes, bytes, len);
    s->used += len;
    l->figures.appended_records++;
    return offset;
}

/* ---- queues ---- */

struct stored_queue *message_log_add_queue(struct message_log *l, uint32_t id, const char *vhost,
                                           struct amqp_bytes name)
{
    if (id >= l->queues_cap) {
        size_t cap = l->queues_cap ? l->queues_cap : 16;
        while (cap <= id)
            cap *= 2;
        l->queues = xrealloc_array(l->queues, cap, sizeof *l->queues);
        memset(l->queues + l->queues_cap, 0, (cap - l->queues_cap) * sizeof *l->queues);
        l->queues_cap = cap;
    }
    struct stored_queue *sq = l->queues[id];
    if (sq) {
        free(sq->vhost);
        amqp_bytes_free(sq->name);
    } else {
        sq = l->queues[id] = xcalloc(1, sizeof *sq);
    }
    sq->id = id;
    sq->vhost = xstrdup(vhost);
    sq->name = amqp_bytes_dup(name);
    if (id >= l->nqueues)
        l->nqueues = id + 1;
    return sq;
}

static struct stored_queue *queue_of(struct message_log *l, struct queue *q)
{
    if (q->store_id == 0) {
        /* the queue's vhost is the queue host's owner */
        struct vhost *v = container_of(q->host, struct vhost, queue_host);
        uint32_t id = l->nqueues ? (uint32_t)l->nqueues : 1;
        struct stored_queue *sq = message_log_add_queue(l, id, v->name, q->name);
        sq->queue = q;
        q->store_id = id;
    }
    return l->queues[q->store_id];
}

/* A durable delayed exchange's number, as a queue's. */
static struct stored_queue *holder_of(struct message_log *l, const char *vhost, struct exchange *x)
{
    if (x->delayed->store_id == 0) {
        uint32_t id = l->nqueues ? (uint32_t)l->nqueues : 1;
        struct stored_queue *sq = message_log_add_queue(l, id, vhost, x->name);
        sq->is_exchange = true;
        sq->exchange = x;
        x->delayed->store_id = id;
    }
    return l->queues[x->delayed->store_id];
}

static void encode_name(struct message_log *l, const struct stored_queue *sq)
{
    size_t at = segment_record_begin(&l->names, sq->is_exchange ? SEGMENT_RECORD_EXCHANGE_NAME
                                                                 : SEGMENT_RECORD_QUEUE_NAME);
    amqp_buf_put_u32(&l->names, sq->id);
    size_t vlen = strlen(sq->vhost);
    amqp_buf_put_u16(&l->names, (uint16_t)vlen);
    amqp_buf_put(&l->names, sq->vhost, vlen);
    amqp_buf_put_u16(&l->names, (uint16_t)sq->name.len);
    amqp_buf_put(&l->names, sq->name.ptr, sq->name.len);
    segment_record_end(&l->names, at);
}

/* The name records segment `number` still needs for these ids, into l->names. */
static void encode_names(struct message_log *l, const uint32_t *ids, uint32_t n, uint32_t number)
{
    amqp_buf_reset(&l->names);
    for (uint32_t i = 0; i < n; i++) {
        struct stored_queue *sq = l->queues[ids[i]];
        bool seen = false;
        for (uint32_t j = 0; j < i; j++)
            seen |= ids[j] == ids[i];
        if (sq->named_in != number && !seen)
            encode_name(l, sq);
    }
}

static void mark_named(struct message_log *l, const uint32_t *ids, uint32_t n, uint32_t number)
{
    for (uint32_t i = 0; i < n; i++)
        l->queues[ids[i]]->named_in = number;
}

/* ---- stored messages ---- */

/* ids: the queues it is written for (those not gone); delayed: some are exchanges holding it,
 * whose due time and keys follow as a trailer. */
static void encode_message(struct amqp_buf *out, const struct stored_message *sm,
                           const uint32_t *ids, uint32_t nids, bool delayed)
{
    struct message *m = sm->msg;
    size_t at = segment_record_begin(out, SEGMENT_RECORD_MESSAGE);
    amqp_buf_put_u64(out, sm->seq);
    amqp_buf_put_u64(out, sm->arrived_ms);
    amqp_buf_put_u8(out, m->flags & (MESSAGE_HAS_TTL | MESSAGE_TTL_SECONDS | MESSAGE_CHECK_CYCLES));
    amqp_buf_put_u32(out, m->ttl);
    amqp_buf_put_u16(out, (uint16_t)nids);
    for (uint32_t i = 0; i < nids; i++)
        amqp_buf_put_u32(out, ids[i]);
    amqp_buf_put_shortstr(out, message_exchange(m));
    amqp_buf_put_shortstr(out, message_routing_key(m));
    amqp_buf_put_longstr(out, message_header(m));
    amqp_buf_put_u64(out, m->body_size);
    amqp_buf_put(out, message_body(m), (size_t)m->body_size);
    amqp_buf_put_longstr(out, message_kept_bcc(m));
    if (delayed && sm->delay)
        amqp_buf_put(out, sm->delay->bytes, sm->delay->len);
    segment_record_end(out, at);
}

void message_log_link(struct store_segment *s, struct stored_message *sm)
{
    sm->segment = s;
    list_push_back(&s->live, &sm->link);
    s->live_bytes += sm->record_len;
    s->live_count++;
}

static void unlink_from_segment(struct stored_message *sm)
{
    struct store_segment *s = sm->segment;
    list_remove(&sm->link);
    s->live_bytes -= sm->record_len;
    s->live_count--;
    sm->segment = NULL;
}

/* Writes the message's record, preceded by the name records its segment lacks. A deleted
 * queue's number is left out: its gone record may be reclaimed before this record is. */
static void write_message(struct message_log *l, struct stored_message *sm)
{
    uint32_t inline_ids[8], *ids = sm->nids <= 8 ? inline_ids : xmalloc(sm->nids * sizeof *ids);
    uint32_t nids = 0;
    bool delayed = false;
    for (uint32_t i = 0; i < sm->nids; i++)
        if (!l->queues[sm->ids[i]]->gone) {
            ids[nids++] = sm->ids[i];
            delayed |= l->queues[sm->ids[i]]->is_exchange;
        }
    amqp_buf_reset(&l->scratch);
    encode_message(&l->scratch, sm, ids, nids, delayed);
    struct store_segment *s = active(l);
    if (s)
        encode_names(l, ids, nids, s->number);
    if (!s || s->used + l->names.len + l->scratch.len > s->size) {
        encode_names(l, ids, nids, l->next_segment); /* a new segment needs them all */
        s = start_segment(l, l->names.len + l->scratch.len);
    }
    if (l->names.len)
        append(l, l->names.data, l->names.len);
    mark_named(l, ids, nids, s->number);
    if (ids != inline_ids)
        free(ids);
    sm->offset = (uint32_t)append(l, l->scratch.data, l->scratch.len);
    sm->record_len = (uint32_t)l->scratch.len;
    sm->written_in = l->batch->ticket;
    message_log_link(s, sm);
}

void message_log_free_stored(struct stored_message *sm)
{
    sm->msg->stored = NULL;
    if (sm->ids != sm->inline_ids)
        free(sm->ids);
    free(sm->delay);
    free(sm);
}

struct stored_message *message_log_new_stored(struct message *m, uint64_t seq, uint64_t arrived_ms)
{
    struct stored_message *sm = xmalloc(sizeof *sm);
    *sm = (struct stored_message){.msg = m, .seq = seq, .arrived_ms = arrived_ms,
                                  .cap = 2};
    sm->ids = sm->inline_ids;
    list_init(&sm->link);
    m->stored = sm;
    return sm;
}

void message_log_add_id(struct stored_message *sm, uint32_t id)
{
    if (sm->nids == sm->cap) {
        uint32_t cap = sm->cap * 2;
        uint32_t *ids = xmalloc(cap * sizeof *ids);
        memcpy(ids, sm->ids, sm->nids * sizeof *ids);
        if (sm->ids != sm->inline_ids)
            free(sm->ids);
        sm->ids = ids;
        sm->cap = cap;
    }
    sm->ids[sm->nids++] = id;
}

/* ---- what the model calls ---- */

static struct message_log *log_of(struct message_store *s)
{
    return container_of(s, struct message_log, store);
}

static void on_enqueued(struct message_store *s, struct queue *q, struct message *m)
{
    struct message_log *l = log_of(s);
    if (!l->open)
        return;
    struct stored_queue *sq = queue_of(l, q);
    struct stored_message *sm = m->stored;
    if (!sm) {
        sm = message_log_new_stored(m, l->next_seq++, message_log_wall_ms());
        list_push_back(&l->pending, &sm->link);
    } else if (sm->segment) {
        /* written already for other queues (a delayed message's alternate route): written
         * again with them all, as recovery takes the last record of a seq */
        unlink_from_segment(sm);
        list_push_back(&l->pending, &sm->link);
    }
    message_log_add_id(sm, sq->id);
}

static void add_forget(struct message_log *l, uint32_t id, uint64_t seq)
{
    amqp_buf_put_u32(&l->forgets, id);
    amqp_buf_put_u64(&l->forgets, seq);
    l->nforgets++;
}

/* The message left the holder ids[i] (a queue or an exchange) for good. */
static void drop_holder(struct message_log *l, struct stored_message *sm, uint32_t i)
{
    uint32_t id = sm->ids[i];
    sm->ids[i] = sm->ids[--sm->nids];
    /* written once: a record of it may be on disk while it waits to be written again */
    if ((sm->segment || sm->written_in) && !l->queues[id]->gone)
        add_forget(l, id, sm->seq);
    if (sm->nids)
        return;
    /* other queues still hold the message, its body paged out: the record stays, for them */
    if (sm->segment && message_paged(sm->msg) && sm->msg->refs > 1)
        return;
    if (sm->segment)
        unlink_from_segment(sm);
    else
        list_remove(&sm->link);
    message_log_free_stored(sm);
}

static void on_dequeued(struct message_store *s, struct queue *q, struct message *m)
{
    struct message_log *l = log_of(s);
    struct stored_message *sm = m->stored;
    if (!l->open || !sm)
        return;
    for (uint32_t i = 0; i < sm->nids; i++)
        if (l->queues[sm->ids[i]]->queue == q) {
            drop_holder(l, sm, i);
            return;
        }
}

/* The trailer of its records while exchanges hold it: the due time and the keys. */
static struct stored_delay *encode_delay(uint64_t due_wall_ms, const struct amqp_bytes *keys,
                                         size_t nkeys)
{
    struct amqp_buf b;
    amqp_buf_init(&b);
    amqp_buf_put_u64(&b, due_wall_ms);
    amqp_buf_put_u16(&b, (uint16_t)nkeys);
    for (size_t i = 0; i < nkeys; i++)
        amqp_buf_put_shortstr(&b, keys[i]);
    struct stored_delay *d = xmalloc(sizeof *d + b.len);
    d->len = (uint32_t)b.len;
    memcpy(d->bytes, b.data, b.len);
    amqp_buf_free(&b);
    return d;
}

static void on_held(struct message_store *s, const char *vhost, struct exchange *x,
                    struct message *m, uint64_t delay_ms, const struct amqp_bytes *keys,
                    size_t nkeys)
{
    struct message_log *l = log_of(s);
    if (!l->open)
        return;
    struct stored_queue *sq = holder_of(l, vhost, x);
    struct stored_message *sm = m->stored;
    if (!sm) {
        sm = message_log_new_stored(m, l->next_seq++, message_log_wall_ms());
        list_push_back(&l->pending, &sm->link);
    } else if (sm->segment) {
        unlink_from_segment(sm); /* written again with the exchange and its trailer */
        list_push_back(&l->pending, &sm->link);
    }
    if (!sm->delay) /* a second exchange (an alternate) holds it as long, by the same keys */
        sm->delay = encode_delay(message_log_wall_ms() + delay_ms, keys, nkeys);
    message_log_add_id(sm, sq->id);
}

static void on_released(struct message_store *s, struct exchange *x, struct message *m)
{
    struct message_log *l = log_of(s);
    struct stored_message *sm = m->stored;
    if (!l->open || !sm)
        return;
    for (uint32_t i = 0; i < sm->nids; i++)
        if (l->queues[sm->ids[i]]->exchange == x) {
            drop_holder(l, sm, i);
            return;
        }
}

static void push_gone(struct message_log *l, uint32_t id)
{
    if (l->ngone == l->gone_cap) {
        l->gone_cap = l->gone_cap ? l->gone_cap * 2 : 8;
        l->gone = xrealloc_array(l->gone, l->gone_cap, sizeof *l->gone);
    }
    l->gone[l->ngone++] = id;
}

static void mark_gone(struct message_log *l, struct stored_queue *sq)
{
    sq->gone = true;
    push_gone(l, sq->id);
}

static void on_queue_deleted(struct message_store *s, struct queue *q)
{
    struct message_log *l = log_of(s);
    if (!l->open)
        return;
    for (size_t id = 1; id < l->nqueues; id++) {
        struct stored_queue *sq = l->queues[id];
        if (sq && sq->queue == q && !sq->gone)
            mark_gone(l, sq);
    }
}

static void on_exchange_deleted(struct message_store *s, struct exchange *x)
{
    struct message_log *l = log_of(s);
    if (!l->open)
        return;
    for (size_t id = 1; id < l->nqueues; id++) {
        struct stored_queue *sq = l->queues[id];
        if (sq && sq->exchange == x && !sq->gone) {
            mark_gone(l, sq);
            sq->exchange = NULL; /* another exchange may come at its address */
        }
    }
}

static uint64_t on_ticket(struct message_store *s)
{
    struct message_log *l = log_of(s);
    l->ticket_taken = true;
    return l->batch->ticket;
}

static void on_wait(struct message_store *s, struct store_waiter *w)
{
    struct message_log *l = log_of(s);
    if (!store_waiter_waiting(w))
        list_push_back(&l->waiters, &w->link);
}

/* ---- bodies paged out of memory ---- */

/* A spill record (nids 0) is no longer needed. */
static void forget_spill(struct stored_message *sm)
{
    if (sm->segment)
        unlink_from_segment(sm);
    else
        list_remove(&sm->link);
    message_log_free_stored(sm);
}

/* A spill record for m, written at the next commit. */
static void new_spill(struct message_log *l, struct message *m)
{
    struct stored_message *sm = message_log_new_stored(m, l->next_seq++, message_log_wall_ms());
    list_push_back(&l->pending, &sm->link);
}

static int read_fd_of(struct message_log *l, struct store_segment *s)
{
    if (s->read_fd < 0) {
        char path[4096];
        segment_path(path, sizeof path, l->dir, s->number);
        s->read_fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    return s->read_fd;
}

static void close_read_fd(struct store_segment *s)
{
    if (s->read_fd >= 0)
        close(s->read_fd);
    s->read_fd = -1;
}

/* The body of sm's message (written, paged out) back from its record: on the loop, as reads
 * of recent records come from the page cache. False when it cannot be read (logged). */
static bool read_body(struct message_log *l, struct stored_message *sm)
{
    struct store_segment *s = sm->segment;
    struct message *m = sm->msg;
    amqp_buf_reset(&l->readback);
    uint8_t *record = amqp_buf_extend(&l->readback, sm->record_len);
    int fd = read_fd_of(l, s);
    const char *why = fd < 0 ? strerror(errno) : NULL;
    size_t got = 0;
    while (!why && got < sm->record_len) {
        ssize_t n = pread(fd, record + got, sm->record_len - got, (off_t)sm->offset + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            why = n < 0 ? strerror(errno) : "the file is shorter";
        else
            got += (size_t)n;
    }
    uint8_t type = 0;
    struct segment_cursor c = {0};
    if (!why && (!segment_record_open(record, sm->record_len, &type, &c) ||
                 type != SEGMENT_RECORD_MESSAGE))
        why = "a damaged record (bad length or CRC)";
    const uint8_t *body = NULL;
    if (!why) {
        segment_get_bytes(&c, 8 + 8 + 1 + 4); /* seq, arrival, flags, TTL */
        segment_get_bytes(&c, (size_t)segment_get_u16(&c) * 4);
        segment_get_bytes(&c, segment_get_u8(&c));
        segment_get_bytes(&c, segment_get_u8(&c));
        segment_get_bytes(&c, segment_get_u32(&c));
        uint64_t size = segment_get_u64(&c);
        body = size == m->body_size ? segment_get_bytes(&c, (size_t)size) : NULL;
        if (c.bad || !body)
            why = "a record that is not this message's";
    }
    if (why) {
        log_error(l->log, "message store: a paged-out body could not be read back from "
                  "%010u.seg at %u: %s; the message is lost", s->number, sm->offset, why);
        s->unreadable = true;
        return false;
    }
    memcpy(message_page_in(m), body, (size_t)m->body_size);
    l->figures.paged_in++;
    return true;
}

static void on_page_out(struct message_store *s, struct message *m)
{
    struct message_log *l = log_of(s);
    if (!l->open) {
        message_apart(m)->page_asked = false;
        return;
    }
    if (!m->stored) /* no durable queue keeps it: a spill record will */
        new_spill(l, m);
    if (l->npage_requests == l->page_requests_cap) {
        l->page_requests_cap = l->page_requests_cap ? l->page_requests_cap * 2 : 64;
        l->page_requests = xrealloc_array(l->page_requests, l->page_requests_cap,
                                          sizeof *l->page_requests);
    }
    l->page_requests[l->npage_requests++] = message_ref(m);
}

static bool on_page_in(struct message_store *s, struct message *m)
{
    struct message_log *l = log_of(s);
    struct stored_message *sm = m->stored;
    if (!l->open || !sm || !sm->segment || !read_body(l, sm))
        return false;
    if (sm->nids == 0)
        forget_spill(sm);
    return true;
}

static void on_page_dropped(struct message_store *s, struct message *m)
{
    struct message_log *l = log_of(s);
    struct stored_message *sm = m->stored;
    if (l->open && sm && sm->nids == 0)
        forget_spill(sm);
}

/* A batch is back: the requests whose records it carried are answered. A body goes only if
 * every reference to its message is still a ready entry (none is being sent, or held
 * elsewhere); else it stays, and a spill record made for it is forgotten. */
static void answer_page_requests(struct message_log *l, const struct writer_batch *b)
{
    size_t keep = 0;
    for (size_t i = 0; i < l->npage_requests; i++) {
        struct message *m = l->page_requests[i];
        struct stored_message *sm = m->stored;
        if (sm && (!sm->segment || sm->written_in > b->ticket)) {
            l->page_requests[keep++] = m; /* its record is in a later batch */
            continue;
        }
        bool on_disk = sm && (b->error == 0 || sm->written_in < b->ticket);
        message_apart(m)->page_asked = false;
        if (on_disk && message_only_parked(m, 1)) {
            message_page_out(m);
            l->figures.paged_out++;
        } else if (sm && sm->nids == 0) {
            forget_spill(sm);
        }
        message_unref(m);
    }
    l->npage_requests = keep;
}

static const struct message_store_ops log_ops = {
    .enqueued = on_enqueued,
    .dequeued = on_dequeued,
    .queue_deleted = on_queue_deleted,
    .held = on_held,
    .released = on_released,
    .exchange_deleted = on_exchange_deleted,
    .page_out = on_page_out,
    .page_in = on_page_in,
    .page_dropped = on_page_dropped,
    .ticket = on_ticket,
    .wait = on_wait,
};

/* ---- the commit, once per iteration ---- */

static void append_record(struct message_log *l)
{
    reserve(l, l->scratch.len);
    append(l, l->scratch.data, l->scratch.len);
}

static void write_forgets(struct message_log *l)
{
    const uint8_t *pairs = l->forgets.data;
    uint32_t left = l->nforgets;
    while (left) {
        uint32_t n = left < FORGETS_PER_RECORD ? left : FORGETS_PER_RECORD;
        amqp_buf_reset(&l->scratch);
        size_t at = segment_record_begin(&l->scratch, SEGMENT_RECORD_FORGET);
        amqp_buf_put_u32(&l->scratch, n);
        amqp_buf_put(&l->scratch, pairs, (size_t)n * 12);
        segment_record_end(&l->scratch, at);
        append_record(l);
        pairs += (size_t)n * 12;
        left -= n;
    }
    /* kept with the batch: should it fail, they are written again */
    amqp_buf_put(&l->batch->forgets, l->forgets.data, l->forgets.len);
    l->batch->nforgets += l->nforgets;
    amqp_buf_reset(&l->forgets);
    l->nforgets = 0;
}

static void write_gone(struct message_log *l)
{
    struct writer_batch *b = l->batch;
    b->gone = xrealloc_array(b->gone, b->ngone + l->ngone, sizeof *b->gone);
    memcpy(b->gone + b->ngone, l->gone, l->ngone * sizeof *l->gone);
    b->ngone += l->ngone;
    for (size_t i = 0; i < l->ngone; i++) {
        amqp_buf_reset(&l->scratch);
        size_t at = segment_record_begin(&l->scratch, SEGMENT_RECORD_QUEUE_GONE);
        amqp_buf_put_u32(&l->scratch, l->gone[i]);
        segment_record_end(&l->scratch, at);
        append_record(l);
    }
    l->ngone = 0;
}

/* An old segment is compacted when what still lives in it is under a quarter of it and two
 * newer segments exist: under steady traffic the disk holds a few segments, whatever a few
 * stuck messages pin. */
static bool worth_compacting(const struct message_log *l, const struct store_segment *s)
{
    return l->nsegments >= 3 && s->live_bytes * 4 < s->used;
}

/* Moves what lives in s to the active segment: bodies paged out are read back for it and
 * paged out again once rewritten; a spill record is not rewritten (its body stays in memory
 * until a queue asks again). False when a body could not be read: s stays. */
static bool compact(struct message_log *l, struct store_segment *s)
{
    while (!list_empty(&s->live)) {
        struct stored_message *sm = list_entry(s->live.next, struct stored_message, link);
        struct message *m = sm->msg;
        bool paged = message_paged(m);
        if (paged && !read_body(l, sm))
            return false;
        l->figures.compacted_messages++;
        if (sm->nids == 0) { /* a spill record, paged out or asked for: made again */
            forget_spill(sm);
            if (!paged)
                new_spill(l, m);
        } else {
            unlink_from_segment(sm);
            write_message(l, sm);
        }
        if (paged) {
            message_apart(m)->page_asked = true;
            on_page_out(&l->store, m);
        }
    }
    return true;
}

static void reclaim(struct message_log *l)
{
    while (l->nsegments > 1) {
        struct store_segment *head = l->segments[0];
        if (head->live_count && !worth_compacting(l, head))
            break;
        if (head->live_count && head->unreadable)
            break;
        if (!compact(l, head))
            break;
        close_read_fd(head);
        writer_batch_add(l->batch, (struct writer_op){.kind = WRITER_DELETE, .segment = head->number});
        l->figures.disk_bytes -= head->size;
        l->figures.deleted_segments++;
        free(head);
        memmove(l->segments, l->segments + 1, --l->nsegments * sizeof *l->segments);
    }
}

static void submit(struct message_log *l)
{
    writer_submit(&l->writer, l->batch);
    l->batch = writer_batch_new(l->batch->ticket + 1);
    l->ticket_taken = false;
}

/* While the disk fails nothing is written: the batch goes to the writer empty and comes back
 * failed in its turn, so its waiters are nacked after those of the batches before it. What
 * was enqueued meanwhile waits for the next try. */
static void refuse(struct message_log *l)
{
    if (!l->ticket_taken)
        return;
    l->batch->refused = true;
    l->batch->error = l->disk_error;
    submit(l);
}

/* Once the active segment is half full, the next one is made, its space reserved: when the
 * disk has no room for it, publishers are blocked (the disk alarm) while the active segment
 * still takes what they already sent, instead of their messages being nacked later. */
static void make_spare(struct message_log *l)
{
    struct store_segment *s = active(l);
    if (l->spare || !s || s->used * 2 < s->size || deadline_pending(&l->spare_retry))
        return;
    uint32_t number = l->next_segment++;
    size_t from = l->batch->bytes.len;
    segment_encode_header(amqp_buf_extend(&l->batch->bytes, SEGMENT_HEADER_SIZE), number);
    writer_batch_add(l->batch, (struct writer_op){.kind = WRITER_CREATE, .segment = number,
                                                  .size = l->segment_bytes, .from = from,
                                                  .len = SEGMENT_HEADER_SIZE, .ahead = true});
    l->spare = number;
    l->spare_ticket = l->batch->ticket;
}

/* The spare's batch is back: made, or not (tried again a second later, even if nothing else
 * happens meanwhile, as blocked publishers send nothing). */
static void spare_made(struct message_log *l, const struct writer_batch *b)
{
    if (b->ahead_error) {
        if (!l->spare_failed)
            log_warning(l->log, "message store: the next segment in %s could not be made (%s); "
                        "publishers are blocked until it can", l->dir, strerror(b->ahead_error));
        if (l->spare && l->spare_ticket == b->ticket)
            l->spare = 0;
        l->spare_failed = true;
        alarms_set_store_unreserved(&l->broker->alarms, true);
        if (!deadline_pending(&l->spare_retry))
            deadline_heap_add(&l->broker->deadlines, &l->spare_retry,
                              clock_now_ms(&l->broker->clock) + MESSAGE_LOG_RETRY_FIRST_MS);
    } else if (l->spare_failed && b->ticket == l->spare_ticket && b->error == 0) {
        l->spare_failed = false;
        alarms_set_store_unreserved(&l->broker->alarms, false);
    }
}

static void on_spare_retry(struct deadline *d, uint64_t now_ms)
{
    (void)now_ms;
    struct message_log *l = container_of(d, struct message_log, spare_retry);
    if (!l->open || l->disk_error || l->spare)
        return;
    make_spare(l);
    if (!l->spare) { /* nothing to be made ahead of (the active segment is emptier now) */
        l->spare_failed = false;
        alarms_set_store_unreserved(&l->broker->alarms, false);
    } else {
        submit(l);
    }
}

void message_log_commit(struct message_log *l)
{
    if (!l->open)
        return;
    if (l->disk_error) {
        refuse(l);
        return;
    }
    while (!list_empty(&l->pending)) {
        struct stored_message *sm = list_entry(l->pending.next, struct stored_message, link);
        list_remove(&sm->link);
        write_message(l, sm);
    }
    if (l->nforgets)
        write_forgets(l);
    if (l->ngone)
        write_gone(l);
    reclaim(l);
    for (size_t i = 0; i < l->nowed_deletes; i++)
        writer_batch_add(l->batch, (struct writer_op){.kind = WRITER_DELETE,
                                                      .segment = l->owed_deletes[i]});
    l->nowed_deletes = 0;
    make_spare(l);
    if (!writer_batch_empty(l->batch) || l->ticket_taken)
        submit(l);
}

static struct store_segment *segment_numbered(struct message_log *l, uint32_t number)
{
    for (size_t i = l->nsegments; i-- > 0;)
        if (l->segments[i]->number == number)
            return l->segments[i];
    return NULL;
}

/* The records batch `ticket` appended to s (the last of its live list, which is in the order
 * written) go back to pending, to be written again with the holders they have then. A paged
 * body's record stays (its body was paged out from an earlier record, still on disk). */
static void rewrite_records_of(struct message_log *l, struct store_segment *s, uint64_t ticket)
{
    struct list *pos = s->live.prev;
    while (pos != &s->live) {
        struct stored_message *sm = list_entry(pos, struct stored_message, link);
        pos = pos->prev;
        if (sm->written_in < ticket)
            break;
        if (sm->written_in != ticket || sm->nids == 0 || message_paged(sm->msg))
            continue;
        unlink_from_segment(sm);
        list_push_back(&l->pending, &sm->link);
    }
}

/* A batch failed: what it carried is done again by the first commit written after the
 * failure, so that no ack is forgotten on disk, no message record lost from a segment that
 * stays, and no segment it was to delete (emptied, or compacted into its records) is left. */
static void redo_failed(struct message_log *l, const struct writer_batch *b)
{
    if (!l->open)
        return;
    amqp_buf_put(&l->forgets, b->forgets.data, b->forgets.len);
    l->nforgets += b->nforgets;
    for (size_t i = 0; i < b->ngone; i++)
        push_gone(l, b->gone[i]);
    for (size_t i = 0; i < b->nops; i++) {
        const struct writer_op *op = &b->ops[i];
        if (op->kind == WRITER_WRITE) {
            struct store_segment *s = segment_numbered(l, op->segment);
            if (s)
                rewrite_records_of(l, s, b->ticket);
        } else if (op->kind == WRITER_DELETE) {
            if (l->nowed_deletes == l->owed_deletes_cap) {
                l->owed_deletes_cap = l->owed_deletes_cap ? l->owed_deletes_cap * 2 : 8;
                l->owed_deletes = xrealloc_array(l->owed_deletes, l->owed_deletes_cap,
                                                 sizeof *l->owed_deletes);
            }
            l->owed_deletes[l->nowed_deletes++] = op->segment;
        }
    }
}

/* A batch failed. The first failure, or the failure of a try, stops the writes until a new
 * segment is tried (once per interval, so a full disk gathers no file per commit) and raises
 * the disk alarm; a batch handed over before then, in flight meanwhile, only fails. */
static void note_failed(struct message_log *l, const struct writer_batch *b)
{
    bool first = !l->disk_error, try_failed = l->retry_ticket && b->ticket >= l->retry_ticket;
    if (!first && !try_failed)
        return;
    const char *call = b->failed ? b->failed : "a write";
    if (first) {
        l->retry_interval_ms = MESSAGE_LOG_RETRY_FIRST_MS;
        log_error(l->log, "message store: %s failed in %s: %s; publishes are nacked and "
                  "publishers blocked until a write succeeds again", call, l->dir,
                  strerror(b->error));
        alarms_set_store_failed(&l->broker->alarms, true);
    } else {
        l->retry_interval_ms *= 2;
        if (l->retry_interval_ms > MESSAGE_LOG_RETRY_MAX_MS)
            l->retry_interval_ms = MESSAGE_LOG_RETRY_MAX_MS;
        log_warning(l->log, "message store: a new segment in %s failed too (%s: %s)", l->dir,
                    call, strerror(b->error));
    }
    l->disk_error = b->error;
    l->roll = true; /* the failed segment may have a hole: nothing is appended after it */
    l->retry_ticket = 0;
    deadline_heap_add(&l->broker->deadlines, &l->retry,
                      clock_now_ms(&l->broker->clock) + l->retry_interval_ms);
}

/* Time to try again: a new segment alone, created, preallocated and synced. Only once it is
 * on disk do the records that waited meanwhile (messages, acks' forgets) follow it, so none
 * of them is lost in a try that fails. */
static void on_retry(struct deadline *d, uint64_t now_ms)
{
    struct message_log *l = container_of(d, struct message_log, retry);
    (void)now_ms;
    if (!l->open || !l->disk_error)
        return;
    refuse(l); /* whoever waits on the current batch waits for records the try does not hold */
    l->retry_ticket = l->batch->ticket;
    start_segment(l, 0);
    submit(l);
}

/* A batch is back from the writer: its waiters hear how it went. */
static void on_batch_done(struct writer *w, struct writer_batch *b)
{
    struct message_log *l = w->owner;
    bool ok = b->error == 0;
    answer_page_requests(l, b);
    spare_made(l, b);
    if (!ok && !b->refused) {
        redo_failed(l, b);
        note_failed(l, b);
    } else if (ok && l->disk_error && l->retry_ticket && b->ticket >= l->retry_ticket &&
               b->nops) {
        log_info(l->log, "message store: writing to %s again", l->dir);
        l->disk_error = 0;
        l->retry_ticket = 0;
        alarms_set_store_failed(&l->broker->alarms, false);
    }
    struct list *pos, *tmp;
    list_for_each_safe(pos, tmp, &l->waiters) {
        struct store_waiter *waiter = list_entry(pos, struct store_waiter, link);
        waiter->settled(waiter, b->ticket, ok);
    }
    writer_batch_free(b);
}

/* ---- open and close ---- */

static int make_dir(const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    for (char *p = copy + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(copy, 0755) < 0 && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    if (mkdir(copy, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int message_log_open(struct message_log *l, struct broker *b, uv_loop_t *loop, const char *dir,
                     uint64_t segment_bytes, char *why, size_t why_size)
{
    memset(l, 0, sizeof *l);
    l->store.ops = &log_ops;
    l->broker = b;
    l->log = &b->log;
    l->dir = xstrdup(dir);
    l->segment_bytes = segment_bytes;
    l->next_segment = 1;
    l->next_seq = 1;
    list_init(&l->pending);
    list_init(&l->waiters);
    amqp_buf_init(&l->forgets);
    amqp_buf_init(&l->scratch);
    amqp_buf_init(&l->names);
    amqp_buf_init(&l->readback);
    l->batch = writer_batch_new(1);
    deadline_init(&l->retry, on_retry);
    deadline_init(&l->spare_retry, on_spare_retry);
    int rc = make_dir(dir);
    if (rc == 0)
        rc = writer_start(&l->writer, loop, dir, on_batch_done, l);
    if (rc < 0) {
        snprintf(why, why_size, "cannot use the message store directory %s: %s", dir,
                 strerror(-rc));
        writer_batch_free(l->batch);
        amqp_buf_free(&l->forgets);
        amqp_buf_free(&l->scratch);
        amqp_buf_free(&l->names);
        free(l->dir);
        return rc;
    }
    l->open = true;
    return 0;
}

/* At a clean stop every ready entry that was delivered once says so in a record, as RabbitMQ
 * keeps the redelivered flag of messages delivered and not acked across an orderly restart. */
static void write_redelivered(struct message_log *l)
{
    amqp_buf_reset(&l->forgets);
    uint32_t n = 0;
    struct list *pos;
    list_for_each(pos, &l->broker->vhosts) {
        struct vhost *v = list_entry(pos, struct vhost, link);
        struct map_iter it;
        void *value;
        map_iter_init(&it, &v->queues);
        while (map_iter_next(&it, NULL, NULL, &value)) {
            struct queue *q = value;
            if (!q->persist_mask)
                continue;
            for (uint32_t lv = 0; lv < q->nlevels; lv++)
                for (size_t i = 0; i < q->levels[lv].len; i++) {
                    const struct queue_entry *e = queue_ring_at(&q->levels[lv], i);
                    struct stored_message *sm = queue_entry_message(e)->stored;
                    if (!e->redelivered || !sm)
                        continue;
                    for (uint32_t k = 0; k < sm->nids; k++)
                        if (l->queues[sm->ids[k]]->queue == q) {
                            amqp_buf_put_u32(&l->forgets, sm->ids[k]);
                            amqp_buf_put_u64(&l->forgets, sm->seq);
                            n++;
                            break;
                        }
                }
        }
    }
    if (n) {
        amqp_buf_reset(&l->scratch);
        size_t at = segment_record_begin(&l->scratch, SEGMENT_RECORD_REDELIVERED);
        amqp_buf_put_u32(&l->scratch, n);
        amqp_buf_put(&l->scratch, l->forgets.data, l->forgets.len);
        segment_record_end(&l->scratch, at);
        append_record(l);
    }
    amqp_buf_reset(&l->forgets);
}

void message_log_close(struct message_log *l)
{
    if (!l->open)
        return;
    /* a disk that failed gets a last try at the stop, with everything that waited (l->roll
     * puts it in a new segment) */
    l->disk_error = 0;
    message_log_commit(l);
    write_redelivered(l);
    amqp_buf_reset(&l->scratch);
    size_t at = segment_record_begin(&l->scratch, SEGMENT_RECORD_CLEAN_STOP);
    segment_record_end(&l->scratch, at);
    append_record(l);
    submit(l);
    writer_stop(&l->writer);
    if (deadline_pending(&l->retry))
        deadline_heap_remove(&l->broker->deadlines, &l->retry);
    if (deadline_pending(&l->spare_retry))
        deadline_heap_remove(&l->broker->deadlines, &l->spare_retry);
    l->open = false;
    broker_use_store(l->broker, NULL);
    for (size_t i = 0; i < l->nsegments; i++) {
        struct store_segment *s = l->segments[i];
        while (!list_empty(&s->live)) {
            struct stored_message *sm = list_entry(s->live.next, struct stored_message, link);
            list_remove(&sm->link);
            message_log_free_stored(sm);
        }
        close_read_fd(s);
        free(s);
    }
    while (!list_empty(&l->pending)) {
        struct stored_message *sm = list_entry(l->pending.next, struct stored_message, link);
        list_remove(&sm->link);
        message_log_free_stored(sm);
    }
    /* after the stored messages, which point at them */
    for (size_t i = 0; i < l->npage_requests; i++) {
        message_apart(l->page_requests[i])->page_asked = false;
        message_unref(l->page_requests[i]);
    }
    free(l->page_requests);
    free(l->segments);
    for (size_t id = 0; id < l->queues_cap; id++)
        if (l->queues[id]) {
            if (l->queues[id]->queue && !l->queues[id]->gone)
                l->queues[id]->queue->store_id = 0;
            if (l->queues[id]->exchange && !l->queues[id]->gone)
                l->queues[id]->exchange->delayed->store_id = 0;
            free(l->queues[id]->vhost);
            amqp_bytes_free(l->queues[id]->name);
            free(l->queues[id]);
        }
    free(l->queues);
    free(l->gone);
    free(l->owed_deletes);
    writer_batch_free(l->batch);
    amqp_buf_free(&l->forgets);
    amqp_buf_free(&l->scratch);
    amqp_buf_free(&l->names);
    amqp_buf_free(&l->readback);
    free(l->dir);
}

void message_log_figures(const struct message_log *l, struct message_log_figures *out)
{
    *out = l->figures;
    out->segments = l->nsegments;
    out->live_bytes = out->live_messages = 0;
    for (size_t i = 0; i < l->nsegments; i++) {
        out->live_bytes += l->segments[i]->live_bytes;
        out->live_messages += l->segments[i]->live_count;
    }
}
