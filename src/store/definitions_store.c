/* Durable definitions kept in the journal: the model's definitions_ops recorded as records, replayed into the model at boot, compacted. */
#include "store/definitions_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amqp_buf.h"
#include "amqp_spec.h"
#include "core/alloc.h"
#include "core/container.h"
#include "model/broker.h"
#include "model/exchange.h"
#include "model/queue.h"
#include "model/vhost.h"
#include "store/journal_writer.h"

/* Compaction once the journal is this much beyond twice its compacted size. */
#define COMPACT_SLACK (1u << 20)

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* ---- records ---- */

static void put_method(struct amqp_buf *buf, const char *vhost, const struct amqp_method *m)
{
    size_t n = strlen(vhost);
    amqp_buf_put_u16(buf, (uint16_t)n);
    amqp_buf_put(buf, vhost, n);
    amqp_method_encode(buf, m);
}

static struct amqp_method exchange_declare(const struct exchange *x)
{
    return (struct amqp_method){
        .id = AMQP_EXCHANGE_DECLARE,
        .exchange_declare = {.exchange = x->name, .type = amqp_cstr(exchange_type_name(x->type)),
                             .durable = x->durable, .auto_delete = x->auto_delete,
                             .internal = x->internal, .arguments = x->arguments}};
}

static struct amqp_method queue_declare(const struct queue *q)
{
    return (struct amqp_method){
        .id = AMQP_QUEUE_DECLARE,
        .queue_declare = {.queue = q->name, .durable = q->durable, .auto_delete = q->auto_delete,
                          .arguments = q->arguments}};
}

static struct amqp_method binding_method(const struct definitions_binding *b, bool bound)
{
    struct amqp_method m = {0};
    if (b->to_exchange && bound) {
        m.id = AMQP_EXCHANGE_BIND;
        m.exchange_bind = (struct amqp_exchange_bind){.destination = b->destination, .source = b->source,
                                                      .routing_key = b->routing_key, .arguments = b->arguments};
    } else if (b->to_exchange) {
        m.id = AMQP_EXCHANGE_UNBIND;
        m.exchange_unbind = (struct amqp_exchange_unbind){.destination = b->destination, .source = b->source,
                                                          .routing_key = b->routing_key, .arguments = b->arguments};
    } else if (bound) {
        m.id = AMQP_QUEUE_BIND;
        m.queue_bind = (struct amqp_queue_bind){.queue = b->destination, .exchange = b->source,
                                                .routing_key = b->routing_key, .arguments = b->arguments};
    } else {
        m.id = AMQP_QUEUE_UNBIND;
        m.queue_unbind = (struct amqp_queue_unbind){.queue = b->destination, .exchange = b->source,
                                                    .routing_key = b->routing_key, .arguments = b->arguments};
    }
    return m;
}

/* ---- the write path ----
 *
 * Records are encoded into `pending` as the model reports changes. Before the loop runs
 * (boot, stop) they are written and synced at once, each change (or batch) before the caller
 * goes on. While it runs, the once-per-iteration commit hands what the iteration produced to
 * the journal's writer as one write and one fdatasync (group commit), one job at a time, so
 * jobs reach the file in order; what arrives meanwhile goes in the next. Waiters hear on the
 * loop when the job that holds their ticket is over. */

static void log_failure(struct definitions_store *s, const char *what, int rc)
{
    log_error(&s->broker->log, "definitions journal: %s failed: %s; the changes it held may not "
              "survive a crash, and their replies report an internal error", what, strerror(-rc));
}

/* Everything through ticket is done (error 0: on disk). */
static void settle_waiters(struct definitions_store *s, uint64_t ticket, int error)
{
    s->settled = ticket;
    while (!list_empty(&s->waiters)) {
        struct definitions_waiter *w =
            list_entry(s->waiters.next, struct definitions_waiter, link);
        if (w->ticket > ticket)
            break;
        definitions_waiter_cancel(w);
        w->settled(w, error);
    }
}

static bool compaction_due(const struct definitions_store *s)
{
    return s->journal.size > 2 * s->compacted_size + COMPACT_SLACK;
}

/* The live set as records, in replay order: settings first, then each vhost's durable
 * exchanges, queues and bindings. */
static void encode_live_set(struct definitions_store *s, struct amqp_buf *out);

/* Before the loop runs: pending written and synced now. */
static void write_now(struct definitions_store *s)
{
    if (s->pending.len == 0)
        return;
    uint64_t start = now_ns(), end;
    int rc = journal_write(s->journal.fd, s->journal.size, s->pending.data, s->pending.len, &end);
    s->sync_ns += now_ns() - start;
    s->syncs++;
    s->journal.size = end;
    amqp_buf_reset(&s->pending);
    if (rc < 0)
        log_failure(s, "write and fdatasync", rc);
    settle_waiters(s, s->recorded, rc);
}

static void compact_now(struct definitions_store *s)
{
    if (!compaction_due(s))
        return;
    uint64_t before = s->journal.size;
    int rc = definitions_store_compact(s);
    if (rc < 0)
        log_error(&s->broker->log, "definitions journal: compaction failed: %s", strerror(-rc));
    else
        log_info(&s->broker->log, "definitions journal compacted: %llu bytes to %llu",
                 (unsigned long long)before, (unsigned long long)s->journal.size);
}

static void append(struct definitions_store *s, uint8_t type, const void *payload, size_t len)
{
    int rc = journal_encode(&s->pending, type, payload, len);
    if (rc < 0) {
        log_error(&s->broker->log, "definitions journal: cannot write a record: %s; the change "
                  "will not survive a restart", strerror(-rc));
        return;
    }
    s->recorded++;
}

/* The settings as they are now, unless the last record says the same. */
static void write_settings(struct definitions_store *s)
{
    s->settings_dirty = false;
    size_t len;
    char *text = s->settings.text(s->broker, &len);
    if (s->settings_written && len == s->settings_written_len &&
        memcmp(text, s->settings_written, len) == 0) {
        free(text);
        return;
    }
    append(s, DEFINITIONS_RECORD_SETTINGS, text, len);
    free(s->settings_written);
    s->settings_written = text;
    s->settings_written_len = len;
}

/* A change (or a batch of them) is complete. Without the loop it goes to disk now; with it,
 * at the end of the iteration, and whoever replies waits for it (ops.wait). */
static void settle(struct definitions_store *s)
{
    if (s->batch_depth > 0 || s->loop)
        return;
    write_now(s);
    compact_now(s);
}

static void record_method(struct definitions_store *s, const struct vhost *v,
                          const struct amqp_method *m)
{
    if (s->settings_dirty) /* the vhost it names may be new: its record first */
        write_settings(s);
    struct amqp_buf buf;
    amqp_buf_init(&buf);
    put_method(&buf, v->name, m);
    append(s, DEFINITIONS_RECORD_METHOD, buf.data, buf.len);
    amqp_buf_free(&buf);
    settle(s);
}

/* ---- the ops the model calls ---- */

static void on_exchange_declared(void *ctx, const struct vhost *v, const struct exchange *x)
{
    struct amqp_method m = exchange_declare(x);
    record_method(ctx, v, &m);
}

static void on_exchange_deleted(void *ctx, const struct vhost *v, const struct exchange *x)
{
    struct amqp_method m = {.id = AMQP_EXCHANGE_DELETE, .exchange_delete = {.exchange = x->name}};
    record_method(ctx, v, &m);
}

static void on_queue_declared(void *ctx, const struct vhost *v, const struct queue *q)
{
    struct amqp_method m = queue_declare(q);
    record_method(ctx, v, &m);
}

static void on_queue_deleted(void *ctx, const struct vhost *v, const struct queue *q)
{
    struct amqp_method m = {.id = AMQP_QUEUE_DELETE, .queue_delete = {.queue = q->name}};
    record_method(ctx, v, &m);
}

static void on_bound(void *ctx, const struct vhost *v, const struct definitions_binding *b)
{
    struct amqp_method m = binding_method(b, true);
    record_method(ctx, v, &m);
}

static void on_unbound(void *ctx, const struct vhost *v, const struct definitions_binding *b)
{
    struct amqp_method m = binding_method(b, false);
    record_method(ctx, v, &m);
}

static void on_settings_changed(void *ctx, bool now)
{
    struct definitions_store *s = ctx;
    if (s->batch_depth > 0 && !now) { /* written once, when the batch ends or a method needs it */
        s->settings_dirty = true;
        return;
    }
    write_settings(s);
    settle(s);
}

static void on_batch_begin(void *ctx)
{
    ((struct definitions_store *)ctx)->batch_depth++;
}

static void on_batch_end(void *ctx)
{
    struct definitions_store *s = ctx;
    if (--s->batch_depth > 0)
        return;
    if (s->settings_dirty)
        write_settings(s);
    settle(s);
}

static uint64_t on_ticket(void *ctx)
{
    return ((struct definitions_store *)ctx)->recorded;
}

static bool on_wait(void *ctx, struct definitions_waiter *w)
{
    struct definitions_store *s = ctx;
    if (w->ticket <= s->settled)
        return false;
    list_push_back(&s->waiters, &w->link); /* tickets only grow: the list stays in order */
    return true;
}

static const struct definitions_ops store_ops = {
    .exchange_declared = on_exchange_declared,
    .exchange_deleted = on_exchange_deleted,
    .queue_declared = on_queue_declared,
    .queue_deleted = on_queue_deleted,
    .bound = on_bound,
    .unbound = on_unbound,
    .settings_changed = on_settings_changed,
    .batch_begin = on_batch_begin,
    .batch_end = on_batch_end,
    .ticket = on_ticket,
    .wait = on_wait,
};

/* ---- replay: each record through the model's verbs, as the broker itself (who NULL) ---- */

/* A queue recorded while the vhost's queue limit allowed it is recovered whatever the limit
 * says now. */
static void replay_queue_declare(struct vhost *v, const struct amqp_queue_declare *d,
                                 struct outcome *out)
{
    int64_t limit = v->max_queues;
    v->max_queues = VHOST_NO_LIMIT;
    vhost_declare_queue(v, &(struct queue_declare){.name = d->queue, .arguments = d->arguments,
                                                   .durable = d->durable,
                                                   .auto_delete = d->auto_delete},
                        out);
    v->max_queues = limit;
}

static void replay_method(struct vhost *v, const struct amqp_method *m, struct outcome *out)
{
    switch (m->id) {
    case AMQP_EXCHANGE_DECLARE: {
        const struct amqp_exchange_declare *d = &m->exchange_declare;
        vhost_declare_exchange(v, &(struct exchange_declare){.name = d->exchange, .type = d->type,
                                                             .arguments = d->arguments,
                                                             .durable = d->durable,
                                                             .auto_delete = d->auto_delete,
                                                             .internal = d->internal},
                               out);
        break;
    }
    case AMQP_EXCHANGE_DELETE:
        vhost_delete_exchange(v, NULL, m->exchange_delete.exchange, false, out);
        break;
    case AMQP_QUEUE_DECLARE:
        replay_queue_declare(v, &m->queue_declare, out);
        break;
    case AMQP_QUEUE_DELETE: {
        struct queue *q = vhost_queue_to_delete(v, m->queue_delete.queue, NULL, false, false, out);
        if (q)
            vhost_delete_queue(v, q);
        break;
    }
    case AMQP_QUEUE_BIND: {
        const struct amqp_queue_bind *d = &m->queue_bind;
        vhost_bind_queue(v, &(struct queue_binding){d->exchange, d->queue, d->routing_key,
                                                    d->arguments, NULL}, out);
        break;
    }
    case AMQP_QUEUE_UNBIND: {
        const struct amqp_queue_unbind *d = &m->queue_unbind;
        vhost_unbind_queue(v, &(struct queue_binding){d->exchange, d->queue, d->routing_key,
                                                      d->arguments, NULL}, out);
        break;
    }
    case AMQP_EXCHANGE_BIND: {
        const struct amqp_exchange_bind *d = &m->exchange_bind;
        vhost_bind_exchange(v, &(struct exchange_binding){d->destination, d->source, d->routing_key,
                                                          d->arguments, NULL}, out);
        break;
    }
    case AMQP_EXCHANGE_UNBIND: {
        const struct amqp_exchange_unbind *d = &m->exchange_unbind;
        vhost_unbind_exchange(v, &(struct exchange_binding){d->destination, d->source,
                                                            d->routing_key, d->arguments, NULL},
                              out);
        break;
    }
    default:
        outcome_fail(out, AMQP_NOT_IMPLEMENTED, "not a definitions method");
    }
}

/* A record the model refuses is logged and skipped: the rest still comes back. */
static int replay_record(void *ctx, uint8_t type, const uint8_t *p, size_t len)
{
    struct definitions_store *s = ctx;
    struct broker *b = s->broker;
    if (type == DEFINITIONS_RECORD_SETTINGS) {
        char err[512];
        if (!s->settings.replace(b, (const char *)p, len, err, sizeof err))
            log_warning(&b->log, "definitions journal: settings record skipped: %s", err);
        free(s->settings_written);
        s->settings_written = xmemdup(p, len);
        s->settings_written_len = len;
        return 0;
    }
    size_t n = len >= 2 ? (size_t)p[0] << 8 | p[1] : 0;
    struct amqp_method m;
    struct amqp_error aerr;
    if (type != DEFINITIONS_RECORD_METHOD || len < 2 || n > len - 2 ||
        amqp_method_decode(amqp_bytes_of(p + 2 + n, len - 2 - n), &m, &aerr) != 0) {
        log_warning(&b->log, "definitions journal: an unreadable record (type %u) skipped", type);
        return 0;
    }
    const char *what = amqp_method_name(m.id);
    struct vhost *v = broker_find_vhost(b, p + 2, n);
    if (!v) {
        log_warning(&b->log, "definitions journal: %s skipped: no vhost '%.*s'", what, (int)n,
                    (const char *)p + 2);
        return 0;
    }
    struct outcome out = {0};
    replay_method(v, &m, &out);
    if (!outcome_ok(&out))
        log_warning(&b->log, "definitions journal: %s in vhost '%s' skipped: %s", what, v->name,
                    out.text);
    return 0;
}

/* ---- the live set ---- */

static bool standard_exchange(const struct exchange *x)
{
    return x->name.len == 0 || (x->name.len >= 4 && memcmp(x->name.ptr, "amq.", 4) == 0);
}

static void put_record(struct amqp_buf *out, struct amqp_buf *buf, const struct vhost *v,
                       const struct amqp_method *m)
{
    amqp_buf_reset(buf);
    put_method(buf, v->name, m);
    if (out)
        journal_encode(out, DEFINITIONS_RECORD_METHOD, buf->data, buf->len);
}

/* The record each durable thing of the vhost needs: exchanges, then queues, then bindings. */
static void write_vhost(struct amqp_buf *out, struct amqp_buf *buf, const struct vhost *v,
                        struct definitions_recovery *count)
{
    struct map_iter it;
    void *value;
    for (int pass = 0; pass < 3; pass++) {
        map_iter_init(&it, pass == 1 ? &v->queues : &v->exchanges);
        while (map_iter_next(&it, NULL, NULL, &value)) {
            struct amqp_method m;
            if (pass == 1) {
                const struct queue *q = value;
                if (!q->durable)
                    continue;
                m = queue_declare(q);
                count->queues++;
            } else if (pass == 0) {
                const struct exchange *x = value;
                if (!x->durable || standard_exchange(x))
                    continue;
                m = exchange_declare(x);
                count->exchanges++;
            } else {
                const struct exchange *x = value;
                if (!x->durable || x->name.len == 0)
                    continue;
                struct list *pos;
                list_for_each(pos, &x->bindings) {
                    const struct binding *b = list_entry(pos, struct binding, exchange_link);
                    bool to_exchange = b->queue == NULL;
                    if (!(to_exchange ? b->to_exchange->durable : b->queue->durable))
                        continue;
                    struct definitions_binding d = {
                        x->name, to_exchange ? b->to_exchange->name : b->queue->name,
                        b->routing_key, b->arguments, to_exchange};
                    m = binding_method(&d, true);
                    put_record(out, buf, v, &m);
                    count->bindings++;
                }
                continue;
            }
            put_record(out, buf, v, &m);
        }
    }
}

/* Encodes (out) or only counts (out NULL) the live set's durable entities. */
static void write_live_set(struct definitions_store *s, struct amqp_buf *out,
                           struct definitions_recovery *count)
{
    struct amqp_buf buf;
    amqp_buf_init(&buf);
    struct list *pos;
    list_for_each(pos, &s->broker->vhosts)
        write_vhost(out, &buf, list_entry(pos, struct vhost, link), count);
    amqp_buf_free(&buf);
}

/* The settings record goes first: every vhost the methods name is in it. Pending records
 * are covered by the snapshot and dropped. */
static void encode_live_set(struct definitions_store *s, struct amqp_buf *out)
{
    size_t len;
    char *text = s->settings.text(s->broker, &len);
    journal_encode(out, DEFINITIONS_RECORD_SETTINGS, text, len);
    struct definitions_recovery count = {0};
    write_live_set(s, out, &count);
    free(s->settings_written);
    s->settings_written = text;
    s->settings_written_len = len;
    s->settings_dirty = false;
    amqp_buf_reset(&s->pending);
}

int definitions_store_compact(struct definitions_store *s)
{
    write_now(s); /* the old journal stays whole should the rewrite fail */
    struct amqp_buf live;
    amqp_buf_init(&live);
    encode_live_set(s, &live);
    int rc = journal_compact(&s->journal, live.data, live.len);
    amqp_buf_free(&live);
    if (rc == 0)
        s->compacted_size = s->journal.size;
    return rc;
}

/* ---- the writer, once the loop runs ---- */

static void start_job(struct definitions_store *s, struct journal_job *job)
{
    job->journal = &s->journal;
    job->fd = s->journal.fd;
    job->at = s->journal.size;
    job->owner = s;
    s->busy = job;
    int rc = journal_job_start(s->loop, job);
    if (rc < 0) { /* libuv refuses only malformed requests: the records then go now */
        s->busy = NULL;
        const struct amqp_buf *records =
            job->kind == JOURNAL_JOB_APPEND ? &job->records : &job->fallback;
        uint64_t end;
        rc = journal_write(job->fd, job->at, records->data, records->len, &end);
        s->journal.size = end;
        if (rc < 0)
            log_failure(s, "write and fdatasync", rc);
        settle_waiters(s, job->ticket, rc);
        journal_job_free(job);
    }
}

static void job_done(struct journal_job *job, void *owner);

void definitions_store_commit(struct definitions_store *s)
{
    if (!s->loop || s->busy || s->batch_depth > 0 || (s->pending.len == 0 && !s->settings_dirty))
        return;
    if (s->settings_dirty)
        write_settings(s);
    struct journal_job *job;
    if (s->compact_due || compaction_due(s)) {
        job = journal_job_new(JOURNAL_JOB_REPLACE, s->recorded);
        amqp_buf_put(&job->fallback, s->pending.data, s->pending.len);
        encode_live_set(s, &job->records); /* covers pending, which it empties */
    } else {
        job = journal_job_new(JOURNAL_JOB_APPEND, s->recorded);
        struct amqp_buf swap = job->records;
        job->records = s->pending;
        s->pending = swap;
    }
    job->done = job_done;
    start_job(s, job);
}

static void job_done(struct journal_job *job, void *owner)
{
    struct definitions_store *s = owner;
    s->busy = NULL;
    s->syncs++;
    s->sync_ns += job->elapsed_ns;
    if (job->new_fd >= 0) {
        journal_adopt(&s->journal, job->new_fd, job->new_size);
        s->compacted_size = job->new_size;
        s->compact_due = false;
        log_info(&s->broker->log, "definitions journal compacted to %llu bytes",
                 (unsigned long long)job->new_size);
    } else {
        s->journal.size = job->new_size;
    }
    if (job->replace_error) { /* tried again once the journal has doubled once more */
        log_error(&s->broker->log, "definitions journal: compaction failed: %s",
                  strerror(-job->replace_error));
        s->compacted_size = s->journal.size;
    }
    if (job->error) {
        log_failure(s, job->failed, job->error);
        /* what is on disk may now lack records: the next job rewrites it from the model */
        s->compact_due = true;
    }
    settle_waiters(s, job->ticket, job->error);
    journal_job_free(job);
    definitions_store_commit(s); /* what came while this job ran */
}

void definitions_store_start(struct definitions_store *s, struct uv_loop_s *loop)
{
    s->loop = loop;
}

void definitions_store_stop(struct definitions_store *s)
{
    /* a job in flight keeps the loop running, so none is by the time the loop has returned */
    s->loop = NULL;
    if (s->settings_dirty)
        write_settings(s);
    settle(s);
}

bool definitions_store_open(struct definitions_store *s, struct broker *b, const char *dir,
                            struct definitions_settings_codec settings,
                            struct definitions_recovery *rec, char *err, size_t err_size)
{
    *s = (struct definitions_store){.broker = b, .settings = settings};
    amqp_buf_init(&s->pending);
    list_init(&s->waiters);
    *rec = (struct definitions_recovery){0};
    uint64_t start = now_ns();
    int rc = journal_open(&s->journal, dir, replay_record, s, &rec->replay);
    if (rc < 0) {
        snprintf(err, err_size, "cannot use the definitions journal in %s: %s", dir,
                 rc == -EILSEQ            ? "not a Warren definitions journal"
                 : rc == -EPROTONOSUPPORT ? "a journal of an older Warren format, which this "
                                            "version does not read (move it away to start afresh)"
                                          : strerror(-rc));
        free(s->settings_written);
        s->settings_written = NULL;
        amqp_buf_free(&s->pending);
        return false;
    }
    rec->recovered = rec->replay.existed;
    rec->elapsed_us = (now_ns() - start) / 1000;
    if (rec->replay.dropped_bytes)
        log_warning(&b->log, "definitions journal: a damaged record at offset %llu dropped, with "
                    "the %llu bytes from there to the end (a torn last write, or corruption)",
                    (unsigned long long)rec->replay.dropped_at,
                    (unsigned long long)rec->replay.dropped_bytes);
    write_live_set(s, NULL, rec);
    s->compacted_size = s->journal.size;
    return true;
}

void definitions_store_install(struct definitions_store *s)
{
    s->broker->definitions = (struct definitions_hook){&store_ops, s};
}

void definitions_store_close(struct definitions_store *s)
{
    definitions_store_stop(s); /* the last changes, made while connections closed */
    if (s->broker && s->broker->definitions.ctx == s)
        s->broker->definitions = (struct definitions_hook){0};
    if (s->syncs)
        log_debug(&s->broker->log, "definitions journal: %llu syncs, %llu us on average",
                  (unsigned long long)s->syncs,
                  (unsigned long long)(s->sync_ns / s->syncs / 1000));
    journal_close(&s->journal);
    free(s->settings_written);
    s->settings_written = NULL;
    amqp_buf_free(&s->pending);
}
