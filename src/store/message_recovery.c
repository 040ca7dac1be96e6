/* Recovery of the message log at boot: segments replayed in order, the live messages rebuilt into the durable queues that exist. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "model/broker.h"
#include "model/exchange.h"
#include "model/exchange_delayed.h"
#include "model/message.h"
#include "model/queue.h"
#include "model/vhost.h"
#include "store/message_log_internal.h"
#include "store/segment.h"

/* A message record as replay leaves it: the last record of its seq, minus forgotten queues. */
struct recovered {
    uint64_t seq;
    struct segment_cursor rest; /* the payload after the queue ids */
    uint64_t arrived_ms;
    uint8_t flags;
    uint32_t ttl;
    uint32_t segment;           /* index in the segment table */
    uint32_t record_len;
    uint32_t offset;            /* of the record in its segment */
    uint32_t nids;
    uint32_t *ids;
    uint64_t redelivered;       /* bit i: ids[i] was marked redelivered (the first 64) */
};

struct mapped {
    uint8_t *data;
    size_t size;
};

struct replay {
    struct message_log *l;
    struct recovered *msgs;
    size_t nmsgs, cap;
    uint32_t *slots; /* open addressing by seq: index + 1, 0 empty */
    size_t slot_mask;
    bool clean;
    uint64_t damaged, max_seq;
};

static size_t slot_of(const struct replay *r, uint64_t seq)
{
    uint64_t h = seq * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 20) & r->slot_mask;
}

static void grow_slots(struct replay *r)
{
    size_t n = r->slot_mask ? (r->slot_mask + 1) * 2 : 1024;
    free(r->slots);
    r->slots = xcalloc(n, sizeof *r->slots);
    r->slot_mask = n - 1;
    for (size_t i = 0; i < r->nmsgs; i++) {
        size_t s = slot_of(r, r->msgs[i].seq);
        while (r->slots[s])
            s = (s + 1) & r->slot_mask;
        r->slots[s] = (uint32_t)i + 1;
    }
}

static struct recovered *find(struct replay *r, uint64_t seq)
{
    if (!r->slots)
        return NULL;
    for (size_t s = slot_of(r, seq); r->slots[s]; s = (s + 1) & r->slot_mask)
        if (r->msgs[r->slots[s] - 1].seq == seq)
            return &r->msgs[r->slots[s] - 1];
    return NULL;
}

static struct recovered *insert(struct replay *r, uint64_t seq)
{
    if ((r->nmsgs + 1) * 2 > r->slot_mask + 1)
        grow_slots(r);
    if (r->nmsgs == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 1024;
        r->msgs = xrealloc_array(r->msgs, r->cap, sizeof *r->msgs);
    }
    struct recovered *m = &r->msgs[r->nmsgs];
    *m = (struct recovered){.seq = seq};
    size_t s = slot_of(r, seq);
    while (r->slots[s])
        s = (s + 1) & r->slot_mask;
    r->slots[s] = (uint32_t)++r->nmsgs;
    return m;
}

static void replay_message(struct replay *r, struct segment_cursor *c, uint32_t segment,
                           uint32_t offset, uint32_t record_len)
{
    uint64_t seq = segment_get_u64(c);
    uint64_t arrived = segment_get_u64(c);
    uint8_t flags = segment_get_u8(c);
    uint32_t ttl = segment_get_u32(c);
    uint16_t n = segment_get_u16(c);
    const uint8_t *ids = segment_get_bytes(c, (size_t)n * 4);
    if (c->bad) {
        r->damaged++;
        return;
    }
    struct recovered *m = find(r, seq);
    if (m)
        free(m->ids); /* a later record of the same message (rewritten) replaces it */
    else
        m = insert(r, seq);
    m->rest = *c;
    m->arrived_ms = arrived;
    m->flags = flags;
    m->ttl = ttl;
    m->segment = segment;
    m->record_len = record_len;
    m->offset = offset;
    m->nids = n;
    m->ids = xmalloc((n ? n : 1) * sizeof *m->ids);
    for (uint16_t i = 0; i < n; i++)
        m->ids[i] = amqp_get_u32(ids + 4 * i);
    m->redelivered = 0;
    if (seq > r->max_seq)
        r->max_seq = seq;
}

static int id_index(const struct recovered *m, uint32_t id)
{
    for (uint32_t i = 0; i < m->nids; i++)
        if (m->ids[i] == id)
            return (int)i;
    return -1;
}

/* (queue, seq) pairs: forgotten there (forget) or marked redelivered there. */
static void replay_pairs(struct replay *r, struct segment_cursor *c, bool forget)
{
    uint32_t n = segment_get_u32(c);
    for (uint32_t k = 0; k < n && !c->bad; k++) {
        uint32_t id = segment_get_u32(c);
        uint64_t seq = segment_get_u64(c);
        struct recovered *m = c->bad ? NULL : find(r, seq);
        int i = m ? id_index(m, id) : -1;
        if (i < 0)
            continue;
        if (!forget) {
            if (i < 64)
                m->redelivered |= 1ull << i;
            continue;
        }
        uint64_t last_bit = 1ull << (m->nids - 1), bit = 1ull << i;
        m->ids[i] = m->ids[--m->nids];
        /* the moved id keeps its mark */
        m->redelivered = (m->redelivered & ~bit) | ((m->redelivered & last_bit) && i < 64 ? bit : 0);
        m->redelivered &= ~last_bit;
    }
    if (c->bad)
        r->damaged++;
}

static void replay_name(struct replay *r, struct segment_cursor *c, bool is_exchange)
{
    uint32_t id = segment_get_u32(c);
    uint16_t vlen = segment_get_u16(c);
    const uint8_t *vhost = segment_get_bytes(c, vlen);
    uint16_t nlen = segment_get_u16(c);
    const uint8_t *name = segment_get_bytes(c, nlen);
    if (c->bad || id == 0) {
        r->damaged++;
        return;
    }
    char *v = xmalloc((size_t)vlen + 1);
    memcpy(v, vhost, vlen);
    v[vlen] = 0;
    message_log_add_queue(r->l, id, v, amqp_bytes_of(name, nlen))->is_exchange = is_exchange;
    free(v);
}

static void replay_gone(struct replay *r, struct segment_cursor *c)
{
    uint32_t id = segment_get_u32(c);
    if (c->bad || id == 0) {
        r->damaged++;
        return;
    }
    struct message_log *l = r->l;
    if (id >= l->queues_cap || !l->queues[id])
        message_log_add_queue(l, id, "", amqp_bytes_of(NULL, 0));
    l->queues[id]->gone = true;
}

static void replay_segment(struct replay *r, uint32_t number, const struct mapped *file,
                           uint32_t index)
{
    struct message_log *l = r->l;
    struct segment_reader reader;
    if (!segment_reader_init(&reader, file->data, file->size) || reader.number != number) {
        log_warning(l->log, "message store: %010u.seg is not a segment of this format; ignored",
                    number);
        return;
    }
    uint8_t type;
    struct segment_cursor c;
    while (segment_reader_next(&reader, &type, &c)) {
        uint32_t record_len = (uint32_t)(c.end - c.p) + SEGMENT_RECORD_OVERHEAD;
        r->clean = type == SEGMENT_RECORD_CLEAN_STOP;
        switch (type) {
        case SEGMENT_RECORD_MESSAGE:
            replay_message(r, &c, index, (uint32_t)(c.end - file->data) - record_len, record_len);
            break;
        case SEGMENT_RECORD_FORGET: replay_pairs(r, &c, true); break;
        case SEGMENT_RECORD_REDELIVERED: replay_pairs(r, &c, false); break;
        case SEGMENT_RECORD_QUEUE_NAME: replay_name(r, &c, false); break;
        case SEGMENT_RECORD_EXCHANGE_NAME: replay_name(r, &c, true); break;
        case SEGMENT_RECORD_QUEUE_GONE: replay_gone(r, &c); break;
        case SEGMENT_RECORD_CLEAN_STOP: break;
        default:
            log_warning(l->log, "message store: %010u.seg: a record of unknown type %u; skipped",
                        number, type);
        }
    }
    if (reader.damaged)
        log_warning(l->log, "message store: %010u.seg: %u damaged record%s (bad CRC) dropped",
                    number, reader.damaged, reader.damaged == 1 ? "" : "s");
    if (reader.truncated) {
        log_warning(l->log, "message store: %010u.seg: torn record at offset %zu; the rest of "
                    "the segment dropped", number, reader.dropped_at);
        r->clean = false;
    }
    r->damaged += reader.damaged + reader.truncated;
    l->segments[index]->used = reader.pos;
}

static int by_number(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The segment numbers in the directory, sorted. */
static uint32_t *list_segments(struct message_log *l, size_t *count)
{
    size_t n = 0, cap = 16;
    uint32_t *numbers = xmalloc(cap * sizeof *numbers);
    DIR *d = opendir(l->dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        uint32_t number;
        if (!segment_parse_name(e->d_name, &number) || number == 0)
            continue;
        if (n == cap)
            numbers = xrealloc_array(numbers, cap *= 2, sizeof *numbers);
        numbers[n++] = number;
    }
    if (d)
        closedir(d);
    qsort(numbers, n, sizeof *numbers, by_number);
    *count = n;
    return numbers;
}

static bool map_file(struct message_log *l, uint32_t number, struct mapped *out)
{
    char path[4096];
    segment_path(path, sizeof path, l->dir, number);
    *out = (struct mapped){NULL, 0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        log_warning(l->log, "message store: cannot read %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    out->size = (size_t)st.st_size;
    if (out->size) {
        void *p = mmap(NULL, out->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            log_warning(l->log, "message store: cannot map %s: %s", path, strerror(errno));
            close(fd);
            out->size = 0;
            return false;
        }
        madvise(p, out->size, MADV_SEQUENTIAL);
        out->data = p;
    }
    close(fd);
    return true;
}

static int by_seq(const void *a, const void *b)
{
    uint64_t x = ((const struct recovered *)a)->seq, y = ((const struct recovered *)b)->seq;
    return x < y ? -1 : x > y;
}

/* The durable delayed exchange a stored holder's names find now (the definitions came back
 * first); false when there is none. */
static bool resolve_exchange(struct stored_queue *sq, struct vhost *v)
{
    struct exchange *x = v && sq->name.len ? vhost_find_exchange(v, sq->name) : NULL;
    if (!x || !x->durable || !x->delayed)
        return false;
    sq->exchange = x;
    sq->exchange_vhost = v;
    if (sq->id > x->delayed->store_id)
        x->delayed->store_id = sq->id;
    return true;
}

/* The durable queue a stored queue's names find now, or NULL; for an exchange's number,
 * whether it found the exchange (state 1), NULL either way. */
static struct queue *resolve(struct message_log *l, struct stored_queue *sq, uint8_t *state)
{
    if (*state == 0) {
        *state = 2;
        struct vhost *v = sq->gone ? NULL
                                   : broker_find_vhost(l->broker, (const uint8_t *)sq->vhost,
                                                       strlen(sq->vhost));
        if (sq->is_exchange) {
            if (resolve_exchange(sq, v))
                *state = 1;
            return NULL;
        }
        struct queue *q = v && sq->name.len ? vhost_find_queue(v, sq->name) : NULL;
        if (q && q->persist_mask) {
            sq->queue = q;
            if (sq->id > q->store_id)
                q->store_id = sq->id; /* new messages go under its newest number */
            *state = 1;
        }
    }
    return *state == 1 ? sq->queue : NULL;
}

/* The keys of a held message's trailer (at most 64 are kept); false when damaged. */
static bool read_delay(struct segment_cursor *c, uint64_t *due_wall, struct amqp_bytes *keys,
                       size_t *nkeys)
{
    *due_wall = segment_get_u64(c);
    uint16_t n = segment_get_u16(c);
    *nkeys = 0;
    for (uint16_t i = 0; i < n && !c->bad; i++) {
        uint8_t len = segment_get_u8(c);
        const uint8_t *key = segment_get_bytes(c, len);
        if (*nkeys < 64)
            keys[(*nkeys)++] = amqp_bytes_of(key, len);
    }
    return !c->bad && *nkeys > 0;
}

/* Builds the message and hands it to its queues; false when nothing takes it. */
static bool restore(struct message_log *l, struct recovered *r, uint8_t *states, uint64_t now_clock,
                    uint64_t now_wall, bool clean, uint64_t *damaged, uint64_t *held)
{
    struct queue *queues[64];
    uint32_t ids[64], holders[8];
    bool redelivered[64];
    uint32_t n = 0, nholders = 0;
    for (uint32_t i = 0; i < r->nids && n < 64; i++) {
        uint32_t id = r->ids[i];
        struct stored_queue *sq = id < l->queues_cap ? l->queues[id] : NULL;
        struct queue *q = sq ? resolve(l, sq, &states[id]) : NULL;
        if (sq && sq->is_exchange && states[id] == 1 && nholders < 8)
            holders[nholders++] = id;
        if (!q)
            continue;
        queues[n] = q;
        ids[n] = id;
        redelivered[n++] = !clean || (i < 64 && (r->redelivered >> i & 1));
    }
    if (n == 0 && nholders == 0)
        return false;
    struct segment_cursor c = r->rest;
    uint8_t xlen = segment_get_u8(&c);
    const uint8_t *x = segment_get_bytes(&c, xlen);
    uint8_t klen = segment_get_u8(&c);
    const uint8_t *k = segment_get_bytes(&c, klen);
    uint32_t hlen = segment_get_u32(&c);
    const uint8_t *h = segment_get_bytes(&c, hlen);
    uint64_t blen = segment_get_u64(&c);
    const uint8_t *body = segment_get_bytes(&c, (size_t)blen);
    uint32_t bcclen = segment_get_u32(&c);
    const uint8_t *bcc = segment_get_bytes(&c, bcclen);
    if (c.bad || hlen < 14) {
        (*damaged)++;
        return false;
    }
    uint64_t due_wall = 0;
    struct amqp_bytes keys[64];
    size_t nkeys = 0;
    struct segment_cursor trailer = c;
    if (nholders && !read_delay(&c, &due_wall, keys, &nkeys)) {
        (*damaged)++;
        nholders = 0;
        if (n == 0)
            return false;
    }
    /* a large body behind a queue's resident window stays on disk until its turn (one that a
     * delayed exchange holds is routed from memory) */
    bool paged = false;
    for (uint32_t i = 0; i < n && blen >= MESSAGE_APART_MIN && nholders == 0; i++)
        paged |= queue_over_window(queues[i]);
    struct message *m = message_restore(amqp_bytes_of(x, xlen), amqp_bytes_of(k, klen),
                                        amqp_bytes_of(h, hlen),
                                        amqp_bytes_of(paged ? NULL : body, blen),
                                        amqp_bytes_of(bcc, bcclen), r->flags, r->ttl);
    struct stored_message *sm = message_log_new_stored(m, r->seq, r->arrived_ms);
    for (uint32_t i = 0; i < n; i++)
        message_log_add_id(sm, ids[i]);
    uint64_t delay = due_wall > now_wall ? due_wall - now_wall : 0; /* overdue: at once */
    for (uint32_t i = 0; i < nholders; i++) {
        struct stored_queue *sq = l->queues[holders[i]];
        if (vhost_restore_held(sq->exchange_vhost, sq->exchange, m, delay, keys, nkeys)) {
            message_log_add_id(sm, holders[i]);
            (*held)++;
        }
    }
    if (sm->nids > n) { /* the trailer goes on with the message while exchanges hold it */
        size_t len = (size_t)(c.p - trailer.p);
        sm->delay = xmalloc(sizeof *sm->delay + len);
        sm->delay->len = (uint32_t)len;
        memcpy(sm->delay->bytes, trailer.p, len);
    }
    if (sm->nids == 0) {
        message_log_free_stored(sm);
        message_unref(m);
        return false;
    }
    sm->record_len = r->record_len;
    sm->offset = r->offset;
    message_log_link(l->segments[r->segment], sm);
    uint64_t age = now_wall > r->arrived_ms ? now_wall - r->arrived_ms : 0;
    uint64_t arrived = age < now_clock ? now_clock - age : 0;
    for (uint32_t i = 0; i < n; i++)
        queue_restore(queues[i], m, redelivered[i], arrived);
    message_unref(m);
    return true;
}

void message_log_recover(struct message_log *l)
{
    uint64_t started = message_log_wall_ms();
    size_t nfiles;
    uint32_t *numbers = list_segments(l, &nfiles);
    struct mapped *files = xcalloc(nfiles ? nfiles : 1, sizeof *files);
    struct replay r = {.l = l};
    for (size_t i = 0; i < nfiles; i++) {
        if (!map_file(l, numbers[i], &files[i]))
            continue;
        uint32_t index = (uint32_t)l->nsegments;
        message_log_add_segment(l, numbers[i], SEGMENT_HEADER_SIZE, files[i].size);
        replay_segment(&r, numbers[i], &files[i], index);
    }
    if (r.nmsgs)
        qsort(r.msgs, r.nmsgs, sizeof *r.msgs, by_seq);
    uint8_t *states = xcalloc(l->queues_cap ? l->queues_cap : 1, 1);
    uint64_t now_clock = clock_now_ms(&l->broker->clock), now_wall = message_log_wall_ms();
    uint64_t restored = 0, dropped = 0, held = 0;
    for (size_t i = 0; i < r.nmsgs; i++) {
        struct recovered *m = &r.msgs[i];
        if (m->nids == 0)
            continue;
        if (restore(l, m, states, now_clock, now_wall, r.clean, &r.damaged, &held))
            restored++;
        else
            dropped++;
        free(m->ids);
        m->ids = NULL;
    }
    for (size_t i = 0; i < r.nmsgs; i++)
        free(r.msgs[i].ids);
    /* numbers of queues that are no more die for good: a queue declared later under the same
     * name must not inherit their messages */
    uint32_t queues = 0;
    for (size_t id = 1; id < l->queues_cap; id++) {
        struct stored_queue *sq = l->queues[id];
        if (!sq || sq->gone)
            continue;
        if (resolve(l, sq, &states[id]) || states[id] == 1) {
            queues += !sq->is_exchange;
            continue;
        }
        sq->gone = true;
        if (l->ngone == l->gone_cap) {
            l->gone_cap = l->gone_cap ? l->gone_cap * 2 : 8;
            l->gone = xrealloc_array(l->gone, l->gone_cap, sizeof *l->gone);
        }
        l->gone[l->ngone++] = (uint32_t)id;
    }
    if (r.max_seq >= l->next_seq)
        l->next_seq = r.max_seq + 1;
    l->roll = true; /* never append after a tail that may be torn */
    for (size_t id = 1; id < l->queues_cap; id++)
        if (states[id] == 1 && !l->queues[id]->is_exchange)
            queue_restored(l->queues[id]->queue);
    for (size_t i = 0; i < nfiles; i++)
        if (files[i].data)
            munmap(files[i].data, files[i].size);
    free(files);
    free(numbers);
    free(states);
    free(r.msgs);
    free(r.slots);
    if (nfiles == 0) {
        log_info(l->log, "message store: no segments in %s yet", l->dir);
        return;
    }
    log_info(l->log, "message store: recovered %llu persistent message%s into %u durable "
             "queue%s (%llu held by delayed exchanges) from %zu segment%s in %llu ms (%s stop%s%llu "
             "dropped: queue gone%s)",
             (unsigned long long)restored, restored == 1 ? "" : "s", queues,
             queues == 1 ? "" : "s", (unsigned long long)held, nfiles, nfiles == 1 ? "" : "s",
             (unsigned long long)(message_log_wall_ms() - started),
             r.clean ? "after a clean" : "after an unclean", r.clean ? ", " : ": all marked redelivered, ",
             (unsigned long long)dropped, r.damaged ? "; damaged records dropped, see above" : "");
}
