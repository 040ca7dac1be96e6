/* Queues: ready entries in seq order, round-robin dispatch, requeue in place, retirement. */
#include "model/queue.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/container.h"
#include "model/field_list.h"
#include "model/message_store.h"

struct queue *queue_new(struct amqp_bytes name, bool durable, bool exclusive, bool auto_delete,
                        const void *owner, struct amqp_bytes arguments,
                        const struct compat *compat)
{
    struct queue *q = xcalloc(1, sizeof *q);
    q->name = amqp_bytes_dup(name);
    q->durable = durable;
    q->exclusive = exclusive;
    q->auto_delete = auto_delete;
    q->owner = owner;
    q->arguments = amqp_bytes_dup(arguments);
    /* parsed again from the copy, so that the parsed slices point into memory the queue owns */
    struct outcome ignored;
    queue_args_parse(q->arguments, durable, exclusive, auto_delete,
                     &(struct arguments_owner){"queue", name, ""}, compat, &q->own_args, &ignored);
    q->args = q->own_args;
    q->refs = 1;
    queue_ring_init(&q->ready);
    q->levels = &q->ready;
    q->nlevels = 1;
    if (q->args.max_priority > 0) {
        q->nlevels = (uint32_t)q->args.max_priority + 1;
        q->levels = xcalloc(q->nlevels, sizeof *q->levels);
        for (uint32_t i = 0; i < q->nlevels; i++)
            queue_ring_init(&q->levels[i]);
    }
    q->limited = q->args.max_length != QUEUE_ARG_UNSET || q->args.max_length_bytes != QUEUE_ARG_UNSET;
    q->has_rules = q->limited || q->nlevels > 1;
    list_init(&q->consumers);
    list_init(&q->bindings);
    return q;
}

static void on_ttl_timer(struct deadline *d, uint64_t now_ms);

void queue_use_store(struct queue *q)
{
    q->persist_mask = q->durable && q->host && q->host->store ? MESSAGE_PERSISTENT : 0;
}

void queue_set_host(struct queue *q, struct queue_host *host)
{
    q->host = host;
    queue_use_store(q);
    q->ttl_watch = host && host->clock && q->args.message_ttl_ms != QUEUE_ARG_UNSET;
    q->has_rules |= q->ttl_watch;
    deadline_init(&q->ttl_timer, on_ttl_timer);
}

/* ---- the ready messages: one ring, or one per priority with the highest served first ---- */

static inline struct queue_ring *level_of(struct queue *q, struct message *m)
{
    if (q->nlevels == 1)
        return &q->ready;
    uint8_t p = message_priority(m); /* above the maximum counts as the maximum */
    return &q->levels[p < q->nlevels ? p : q->nlevels - 1];
}

/* The level the next message comes from; q->ready_len > 0. */
static inline struct queue_ring *next_level(struct queue *q)
{
    uint32_t i = q->nlevels - 1;
    while (q->levels[i].len == 0)
        i--;
    return &q->levels[i];
}

static inline void push_ready(struct queue *q, struct queue_entry e)
{
    struct message *m = queue_entry_message(&e);
    message_park(m);
    queue_ring_push(level_of(q, m), e);
    q->ready_len++;
    q->ready_bytes += m->body_size;
}

static void insert_ready(struct queue *q, struct queue_entry e)
{
    struct message *m = queue_entry_message(&e);
    message_park(m);
    queue_ring_insert_by_seq(level_of(q, m), e);
    q->ready_len++;
    q->ready_bytes += m->body_size;
}

/* Takes the head of a level out of the ready messages. */
static inline struct queue_entry take_from(struct queue *q, struct queue_ring *level)
{
    struct queue_entry e = queue_ring_pop(level);
    struct message *m = queue_entry_message(&e);
    message_unpark(m);
    q->ready_len--;
    q->ready_bytes -= m->body_size;
    return e;
}

/* The next ready entry leaves the ready list (to a consumer, basic.get or the drop). */
static inline struct queue_entry take_next(struct queue *q)
{
    return take_from(q, q->nlevels == 1 ? &q->ready : next_level(q));
}

/* A persistent message came into, or left for good, a durable queue: the store is told. One
 * predictable branch for every other message. */
static inline void kept(struct queue *q, struct message *m)
{
    if (__builtin_expect(m->flags & q->persist_mask, 0))
        q->host->store->ops->enqueued(q->host->store, q, m);
}

static inline void left(struct queue *q, struct message *m)
{
    if (__builtin_expect(m->flags & q->persist_mask, 0) && m->stored)
        q->host->store->ops->dequeued(q->host->store, q, m);
}

/* ---- large bodies paged out to the store, and read back ---- */

static inline struct message_store *store_of(const struct queue *q)
{
    return q->host ? q->host->store : NULL;
}

/* A large body just queued behind more than the resident window goes to the store, when
 * nobody consumes from the queue (a backlog builds) or it is lazy (x-queue-mode): a queue
 * whose consumers are only a little behind keeps its bodies, as writing and reading them back
 * would cost more than they take (the memory alarm bounds that case). */
static __attribute__((noinline)) void consider_paging(struct queue *q, struct message *m)
{
    struct message_apart *a = message_apart(m);
    struct message_store *s = store_of(q);
    if (!s || !queue_over_window(q) || (q->consumer_count && !q->args.lazy) || a->page_asked ||
        !a->bytes || a->parked == 0)
        return;
    a->page_asked = true;
    s->ops->page_out(s, m);
}

static inline void maybe_page_out(struct queue *q, struct message *m)
{
    if (__builtin_expect(m->flags & MESSAGE_APART, 0))
        consider_paging(q, m);
}

/* A paged-out body is needed: read back, or false when it is lost (the store said why). */
static bool page_in(struct queue *q, struct message *m)
{
    struct message_store *s = store_of(q);
    return s && s->ops->page_in(s, m);
}

/* The queue lets go of its reference to m, which may be paged out. */
static void let_go(struct queue *q, struct message *m)
{
    struct message_store *s = store_of(q);
    if (__builtin_expect(message_paged(m), 0) && m->refs == 1 && s)
        s->ops->page_dropped(s, m);
    message_unref(m);
}

static void forget_arrivals_of_ready(struct queue *q);

static void drop_ready(struct queue *q)
{
    forget_arrivals_of_ready(q);
    for (uint32_t l = 0; l < q->nlevels; l++) {
        struct queue_ring *r = &q->levels[l];
        for (size_t i = 0; i < r->len; i++) {
            struct message *m = queue_entry_message(queue_ring_at(r, i));
            message_unpark(m);
            left(q, m);
            let_go(q, m);
        }
        queue_ring_clear(r);
    }
    q->ready_len = 0;
    q->ready_bytes = 0;
}

/* A message leaves the queue without being delivered: to the dead-letter exchange if the
 * queue has one, else away. Takes the reference. */
static void dead_letter_or_drop(struct queue *q, struct message *m, enum dead_letter_reason reason)
{
    if (q->host && q->args.has_dead_letter_exchange)
        q->host->dead_letter(q->host, q, m, reason);
    else
        message_unref(m);
}

/* The same for a message that was in the queue (the store forgets it there); a dead letter's
 * body is read back first. */
static void discard(struct queue *q, struct message *m, enum dead_letter_reason reason)
{
    bool dead_letter = q->host && q->args.has_dead_letter_exchange;
    if (dead_letter && message_paged(m) && !page_in(q, m))
        dead_letter = false; /* lost: nothing to dead-letter */
    left(q, m);
    if (dead_letter)
        q->host->dead_letter(q->host, q, m, reason);
    else
        let_go(q, m);
}

/* ---- per-message and per-queue TTLs: messages expire at the head, as in RabbitMQ ---- */

/* When the entry expires in this queue, or UINT64_MAX. */
static uint64_t expires_at(const struct queue *q, const struct queue_entry *e)
{
    const struct message *m = queue_entry_message(e);
    uint64_t ttl = q->args.message_ttl_ms != QUEUE_ARG_UNSET ? (uint64_t)q->args.message_ttl_ms
                                                            : UINT64_MAX;
    if ((m->flags & MESSAGE_HAS_TTL) && message_ttl_ms(m) < ttl)
        ttl = message_ttl_ms(m);
    uint64_t arrived = ttl == UINT64_MAX ? UINT64_MAX : queue_arrivals_at(&q->arrivals, e->seq);
    return arrived == UINT64_MAX ? UINT64_MAX : arrived + ttl;
}

/* From the first message that can expire on, a queue notes when each entry arrives. */
static void note_arrival(struct queue *q, uint64_t seq)
{
    if (!q->host || !q->host->clock)
        return;
    q->ttl_watch = q->has_rules = true;
    queue_arrivals_note(&q->arrivals, seq, clock_now_ms(q->host->clock));
}

/* An entry has gone for good (settled, dropped or dead-lettered). */
static inline void forget_arrival(struct queue *q, const struct queue_entry *e)
{
    if (q->ttl_watch)
        queue_arrivals_forget(&q->arrivals, e->seq);
}

/* Drops (or dead-letters) the heads expired `grace` ms ago, then sets the timer for the next
 * head. */
static void expire_heads(struct queue *q, uint64_t grace)
{
    uint64_t now = clock_now_ms(q->host->clock);
    for (uint32_t l = 0; l < q->nlevels && !q->deleted; l++) {
        struct queue_ring *level = &q->levels[l];
        while (level->len) {
            uint64_t at = expires_at(q, queue_ring_at(level, 0));
            if (at == UINT64_MAX || at + grace > now)
                break;
            struct queue_entry e = take_from(q, level);
            forget_arrival(q, &e);
            discard(q, queue_entry_message(&e), DEAD_LETTER_EXPIRED);
        }
    }
    if (!q->host->deadlines || q->deleted)
        return;
    /* read from every head afterwards: a dead letter may have come back into a level passed */
    uint64_t next = UINT64_MAX;
    for (uint32_t l = 0; l < q->nlevels; l++) {
        uint64_t at = q->levels[l].len ? expires_at(q, queue_ring_at(&q->levels[l], 0)) : UINT64_MAX;
        if (at < next)
            next = at;
    }
    if (next == UINT64_MAX)
        deadline_heap_remove(q->host->deadlines, &q->ttl_timer);
    else if (!deadline_pending(&q->ttl_timer) || q->ttl_timer.at_ms != next)
        deadline_heap_reschedule(q->host->deadlines, &q->ttl_timer, next);
}

static void on_ttl_timer(struct deadline *d, uint64_t now_ms)
{
    (void)now_ms;
    struct queue *q = container_of(d, struct queue, ttl_timer);
    queue_ref(q); /* a dead letter may come back round to this queue */
    expire_heads(q, 0);
    queue_unref(q);
}

static inline void expire(struct queue *q)
{
    if (q->ttl_watch)
        expire_heads(q, 0);
}

/* The ready entries are about to go: their marks with them (all of them when nothing is out
 * with consumers). */
static void forget_arrivals_of_ready(struct queue *q)
{
    if (!q->ttl_watch)
        return;
    if (q->unacked == 0) {
        queue_arrivals_clear(&q->arrivals);
        return;
    }
    for (uint32_t l = 0; l < q->nlevels; l++)
        for (size_t i = 0; i < q->levels[l].len; i++)
            forget_arrival(q, queue_ring_at(&q->levels[l], i));
}

/* A paged-out entry taken for a delivery: its body is read back; false when that failed and
 * the message is gone. */
static __attribute__((noinline)) bool bring_back(struct queue *q, struct queue_entry *e)
{
    struct message *m = queue_entry_message(e);
    if (page_in(q, m))
        return true;
    forget_arrival(q, e);
    left(q, m);
    let_go(q, m);
    return false;
}

static inline bool deliverable(struct queue *q, struct queue_entry *e)
{
    return __builtin_expect(!message_paged(queue_entry_message(e)), 1) || bring_back(q, e);
}

/* ---- length limits ---- */

/* Would `extra` more messages of `bytes` octets pass a limit? */
static bool over_limit(const struct queue *q, uint64_t extra, uint64_t bytes)
{
    return (q->args.max_length != QUEUE_ARG_UNSET &&
            q->ready_len + extra > (uint64_t)q->args.max_length) ||
           (q->args.max_length_bytes != QUEUE_ARG_UNSET &&
            q->ready_bytes + bytes > (uint64_t)q->args.max_length_bytes);
}

/* drop-head: the next messages to go out are dropped until the queue is within its limits. */
static void drop_head_over_limit(struct queue *q)
{
    while (q->ready_len && over_limit(q, 0, 0) && !q->deleted) {
        struct queue_entry e = take_next(q);
        forget_arrival(q, &e);
        discard(q, queue_entry_message(&e), DEAD_LETTER_MAXLEN);
    }
}

static bool points_into(struct amqp_bytes slice, struct amqp_bytes owner)
{
    return slice.ptr >= owner.ptr && slice.ptr + slice.len <= owner.ptr + owner.len;
}

/* The effective dead-letter names into memory the queue owns (a policy may go first): those
 * from its arguments already are, a policy's are copied. */
static void keep_strings(struct queue *q, struct queue_args *a)
{
    struct amqp_bytes *names[] = {&a->dead_letter_exchange, &a->dead_letter_routing_key};
    bool copied[2];
    size_t total = 0;
    for (size_t i = 0; i < 2; i++) {
        copied[i] = !(names[i]->len && q->arguments.len && points_into(*names[i], q->arguments));
        total += copied[i] ? names[i]->len : 0;
    }
    char *copy = xmalloc(total + 1), *p = copy;
    for (size_t i = 0; i < 2; i++) {
        if (!copied[i])
            continue;
        if (names[i]->len)
            memcpy(p, names[i]->ptr, names[i]->len);
        *names[i] = amqp_bytes_of(p, names[i]->len);
        p += names[i]->len;
    }
    free(q->policy_strings);
    q->policy_strings = copy;
}

void queue_apply_args(struct queue *q, const struct queue_args *effective)
{
    struct queue_args a = *effective;
    keep_strings(q, &a);
    q->args = a;
    q->limited = a.max_length != QUEUE_ARG_UNSET || a.max_length_bytes != QUEUE_ARG_UNSET;
    /* once set, arrivals stay noted: entries already marked are forgotten as they go */
    q->ttl_watch |= q->host && q->host->clock && a.message_ttl_ms != QUEUE_ARG_UNSET;
    q->has_rules = q->limited || q->nlevels > 1 || q->ttl_watch;
    if (q->deleted)
        return;
    queue_ref(q); /* dead letters may come back round to this queue */
    if (q->limited && a.overflow == QUEUE_DROP_HEAD)
        drop_head_over_limit(q);
    expire(q);
    queue_unref(q);
}

static void queue_free(struct queue *q)
{
    if (q->host && q->host->deadlines)
        deadline_heap_remove(q->host->deadlines, &q->ttl_timer);
    drop_ready(q);
    for (uint32_t l = 0; l < q->nlevels; l++)
        queue_ring_free(&q->levels[l]);
    if (q->levels != &q->ready)
        free(q->levels);
    queue_arrivals_free(&q->arrivals);
    amqp_bytes_free(q->name);
    amqp_bytes_free(q->arguments);
    free(q->policy_strings);
    free(q);
}

void queue_ref(struct queue *q)
{
    q->refs++;
}

/* queue_unref, inlined where it runs once per message */
static inline void release(struct queue *q)
{
    if (--q->refs == 0)
        queue_free(q);
}

void queue_unref(struct queue *q)
{
    if (q)
        release(q);
}

/* queue_publish for a queue with limits, TTLs or priorities, or a message with a TTL. */
static __attribute__((noinline)) enum queue_publish_result publish_with_rules(struct queue *q,
                                                                          struct message *m)
{
    if (q->limited && q->args.overflow != QUEUE_DROP_HEAD && over_limit(q, 1, m->body_size)) {
        if (q->args.overflow == QUEUE_REJECT_PUBLISH_DLX)
            dead_letter_or_drop(q, message_ref(m), DEAD_LETTER_MAXLEN);
        return QUEUE_REJECTED;
    }
    uint64_t seq = q->next_seq++;
    if (q->ttl_watch || (m->flags & MESSAGE_HAS_TTL))
        note_arrival(q, seq);
    push_ready(q, (struct queue_entry){.msg = message_ref(m), .seq = seq});
    kept(q, m);
    queue_dispatch(q);
    maybe_page_out(q, m);
    /* TTL 0 means now or never: what no consumer took expires here */
    expire(q);
    if (q->limited && q->args.overflow == QUEUE_DROP_HEAD)
        drop_head_over_limit(q);
    return QUEUE_ENQUEUED;
}

enum queue_publish_result queue_publish(struct queue *q, struct message *m)
{
    if (q->deleted)
        return QUEUE_GONE;
    if (q->has_rules || (m->flags & MESSAGE_HAS_TTL))
        return publish_with_rules(q, m);
    message_park(m);
    queue_ring_push(&q->ready, (struct queue_entry){.msg = message_ref(m), .seq = q->next_seq++});
    q->ready_len++;
    q->ready_bytes += m->body_size;
    kept(q, m);
    queue_dispatch(q);
    maybe_page_out(q, m);
    return QUEUE_ENQUEUED;
}

/* The consumer just served goes behind the others of its priority (with a single active
 * consumer nothing rotates: the first to come is served until it goes). */
static void rotate(struct queue *q, struct consumer *c)
{
    if (q->args.single_active_consumer)
        return;
    struct list *after = q->consumers.prev;
    if (q->priorities_differ) {
        after = &c->link;
        while (after->next != &q->consumers &&
               list_entry(after->next, struct consumer, link)->priority == c->priority)
            after = after->next;
    }
    if (after == &c->link)
        return;
    list_remove(&c->link);
    list_insert_after(after, &c->link);
}

/* The first consumer in round-robin order that may take a message now, or NULL. */
static struct consumer *next_with_credit(struct queue *q)
{
    if (q->args.single_active_consumer) {
        struct consumer *active = list_empty(&q->consumers)
                                      ? NULL
                                      : list_entry(q->consumers.next, struct consumer, link);
        return active && active->ops->has_credit(active) ? active : NULL;
    }
    for (struct list *pos = q->consumers.next; pos != &q->consumers; pos = pos->next) {
        struct consumer *c = list_entry(pos, struct consumer, link);
        if (c->ops->has_credit(c))
            return c;
    }
    return NULL;
}

void queue_dispatch(struct queue *q)
{
    /* deliver may cancel consumers or even delete the queue: hold it until the loop ends */
    queue_ref(q);
    while (!q->deleted && q->ready_len > 0) {
        /* an expired message is never delivered; one that expires this very millisecond (a
         * TTL of 0 as it is published) still goes to a consumer that can take it now. First:
         * its dead letter may take a consumer's credit */
        if (q->ttl_watch) {
            expire_heads(q, 1);
            if (q->deleted || q->ready_len == 0)
                break;
        }
        struct consumer *c = next_with_credit(q);
        if (!c)
            break;
        struct queue_entry e = take_next(q);
        if (!deliverable(q, &e))
            continue;
        rotate(q, c);
        q->unacked++;
        q->unacked_bytes += queue_entry_message(&e)->body_size;
        c->ops->deliver(c, q, e);
    }
    release(q);
}

bool queue_get(struct queue *q, struct queue_entry *out)
{
    if (!q->deleted)
        expire(q);
    do {
        if (q->deleted || q->ready_len == 0)
            return false;
        *out = take_next(q);
    } while (!deliverable(q, out));
    q->unacked++;
    q->unacked_bytes += queue_entry_message(out)->body_size;
    return true;
}

struct message *queue_peek(struct queue *q, uint64_t offset, bool *redelivered)
{
    if (!q->deleted)
        expire(q);
    if (q->deleted || offset >= q->ready_len)
        return NULL;
    uint32_t level = q->nlevels;
    while (offset >= q->levels[--level].len)
        offset -= q->levels[level].len;
    const struct queue_entry *e = queue_ring_at(&q->levels[level], (size_t)offset);
    struct message *m = queue_entry_message(e);
    if (message_paged(m))
        page_in(q, m); /* on failure the body stays away, and delivery will drop it */
    *redelivered = e->redelivered;
    return m;
}

void queue_settle(struct queue *q, struct queue_entry *e)
{
    struct message *m = queue_entry_message(e);
    forget_arrival(q, e);
    q->unacked_bytes -= m->body_size;
    left(q, m);
    message_unref(m);
    e->msg = NULL;
    q->unacked--;
}

void queue_reject(struct queue *q, struct queue_entry *e)
{
    struct message *m = queue_entry_message(e);
    forget_arrival(q, e);
    e->msg = NULL;
    q->unacked--;
    q->unacked_bytes -= m->body_size;
    if (q->deleted) {
        left(q, m);
        message_unref(m);
    } else {
        discard(q, m, DEAD_LETTER_REJECTED);
    }
}

void queue_return(struct queue *q, struct queue_entry *e)
{
    struct queue_entry back = *e;
    e->msg = NULL;
    q->unacked--;
    q->unacked_bytes -= queue_entry_message(&back)->body_size;
    if (q->deleted) {
        forget_arrival(q, &back);
        left(q, queue_entry_message(&back));
        message_unref(queue_entry_message(&back));
        return;
    }
    back.redelivered = true;
    if (q->args.type == QUEUE_TYPE_QUORUM) {
        if (back.returns < UINT16_MAX)
            back.returns++;
        /* a quorum queue counts every return; past its x-delivery-limit the message goes */
        if (q->args.delivery_limit != QUEUE_ARG_UNSET && back.returns > q->args.delivery_limit) {
            forget_arrival(q, &back);
            discard(q, queue_entry_message(&back), DEAD_LETTER_DELIVERY_LIMIT);
            return;
        }
    }
    insert_ready(q, back);
    /* a requeued message keeps its expiry: it may be due now, at the head */
    expire(q);
    /* RabbitMQ applies the limit to a requeue too: the head goes, whichever it is */
    if (q->limited && q->args.overflow == QUEUE_DROP_HEAD)
        drop_head_over_limit(q);
}

void queue_requeue(struct queue *q, struct queue_entry *e)
{
    queue_return(q, e);
    queue_dispatch(q);
}

void queue_restore(struct queue *q, struct message *m, bool redelivered, uint64_t arrived_ms)
{
    uint64_t seq = q->next_seq++;
    if ((q->ttl_watch || (m->flags & MESSAGE_HAS_TTL)) && q->host && q->host->clock) {
        q->ttl_watch = q->has_rules = true;
        queue_arrivals_note(&q->arrivals, seq, arrived_ms);
    }
    push_ready(q, (struct queue_entry){.msg = message_ref(m), .seq = seq, .redelivered = redelivered});
}

void queue_restored(struct queue *q)
{
    if (q->deleted)
        return;
    queue_ref(q);
    expire(q);
    if (q->limited && q->args.overflow == QUEUE_DROP_HEAD)
        drop_head_over_limit(q);
    queue_unref(q);
}

uint32_t queue_message_count(struct queue *q)
{
    if (!q->deleted)
        expire(q);
    return (uint32_t)q->ready_len;
}

uint32_t queue_purge(struct queue *q)
{
    uint32_t count = (uint32_t)q->ready_len;
    drop_ready(q);
    return count;
}

void queue_add_consumer(struct queue *q, struct consumer *c, const struct consumer_ops *ops,
                        bool exclusive, int64_t priority)
{
    c->queue = q;
    c->ops = ops;
    c->exclusive = exclusive;
    c->priority = priority;
    /* behind every consumer of the same or a higher priority; with a single active consumer,
     * in the order they came, RabbitMQ 3.10's order of succession */
    struct list *after = &q->consumers;
    if (q->args.single_active_consumer)
        after = q->consumers.prev;
    else
        while (after->next != &q->consumers &&
               list_entry(after->next, struct consumer, link)->priority >= priority)
            after = after->next;
    if (q->consumer_count == 0)
        q->priorities_differ = false;
    else if (list_entry(q->consumers.next, struct consumer, link)->priority != priority ||
             list_entry(q->consumers.prev, struct consumer, link)->priority != priority)
        q->priorities_differ = true;
    list_insert_after(after, &c->link);
    q->consumer_count++;
    q->had_consumer = true;
}

bool queue_remove_consumer(struct queue *q, struct consumer *c)
{
    list_remove(&c->link);
    q->consumer_count--;
    return q->auto_delete && q->had_consumer && q->consumer_count == 0 && !q->deleted;
}

bool queue_has_exclusive_consumer(const struct queue *q)
{
    for (const struct list *pos = q->consumers.next; pos != &q->consumers; pos = pos->next)
        if (list_entry(pos, const struct consumer, link)->exclusive)
            return true;
    return false;
}

void queue_retire(struct queue *q)
{
    if (q->deleted)
        return;
    q->deleted = true; /* first: the callbacks below must not dispatch from it */
    while (!list_empty(&q->consumers)) {
        struct consumer *c = list_entry(q->consumers.next, struct consumer, link);
        list_remove(&c->link);
        q->consumer_count--;
        c->ops->queue_deleted(c, q);
    }
    if (q->host && q->host->deadlines)
        deadline_heap_remove(q->host->deadlines, &q->ttl_timer);
    drop_ready(q);
    if (q->persist_mask && q->store_id)
        q->host->store->ops->queue_deleted(q->host->store, q);
}

bool queue_quorum_delivery_header(const struct queue_entry *e, bool got, struct amqp_buf *out)
{
    /* RabbitMQ 3.10's quorum queues: basic.get always shows the count, a consumer only once
     * the message has come back */
    if (!got && e->returns == 0)
        return false;
    struct message *m = queue_entry_message(e);
    struct amqp_basic_properties props;
    message_properties(m, &props);
    struct field_list headers = {0};
    struct field_scratch scratch = {0};
    if (props.flags & AMQP_BASIC_HEADERS_FLAG)
        field_list_parse(&headers, props.headers);
    field_list_store(&headers, "x-delivery-count", field_value_long(&scratch, e->returns));
    field_list_sort(&headers); /* as RabbitMQ's set_table_value leaves them */
    props.headers = field_value_nested_body(field_list_encode(&headers, &scratch));
    props.flags |= AMQP_BASIC_HEADERS_FLAG;
    message_encode_header(m, &props, out);
    free(headers.items);
    field_scratch_free(&scratch);
    return true;
}
