/* The message log: persistent messages of durable queues (and durable delayed exchanges) in segment files, written once per message, with per-segment live counts, reclamation, compaction and recovery. */
#ifndef MESSAGE_LOG_H
#define MESSAGE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "amqp_buf.h"
#include "core/heap.h"
#include "core/list.h"
#include "model/message_store.h"
#include "store/writer.h"

struct broker;
struct queue;

/* After a failed write: the first wait before a new segment is tried, and the longest (RabbitMQ
 * looks at the disk every 10 s while its disk alarm is on). */
#define MESSAGE_LOG_RETRY_FIRST_MS 1000
#define MESSAGE_LOG_RETRY_MAX_MS 10000

/* One segment file as the loop sees it. */
struct store_segment {
    uint32_t number;
    uint64_t used;       /* octets appended, header included */
    uint64_t size;       /* preallocated */
    uint64_t live_bytes; /* records of messages still in some durable queue */
    uint64_t live_count;
    struct list live;    /* struct stored_message.link */
    int read_fd;         /* for reading paged-out bodies back; -1 until needed */
    bool unreadable;     /* a body could not be read back: never compacted */
};

/* A durable queue's number in the records, with the names that find it again at recovery; or
 * the same for a durable x-delayed-message exchange holding messages (a holder like a queue). */
struct stored_queue {
    uint32_t id;
    char *vhost;
    struct amqp_bytes name;
    struct queue *queue; /* the queue it stands for; NULL when none was found at recovery */
    bool is_exchange;    /* it stands for an exchange (queue stays NULL) */
    struct exchange *exchange;       /* that exchange, once known */
    struct vhost *exchange_vhost;    /* and its vhost */
    uint32_t named_in;   /* the segment its name record was last written to; 0: none */
    bool gone;           /* deleted: its references are dead for good */
};

/* What the store keeps for a message while durable queues hold it (message.stored), or while
 * its body is paged out (or about to be) with no durable queue holding it: then nids is 0 (a
 * "spill" record, which recovery ignores). */
struct stored_message {
    struct message *msg;
    uint64_t seq;
    uint64_t arrived_ms;           /* wall clock, for TTLs after a restart */
    uint64_t written_in;           /* the ticket of the batch its record went in */
    struct store_segment *segment; /* NULL: not written yet */
    uint32_t record_len;
    uint32_t nids, cap;
    uint32_t offset;               /* of its record in the segment */
    uint32_t *ids;                 /* the stored_queues holding it: inline_ids or the heap */
    uint32_t inline_ids[2];
    struct list link;              /* in its segment's live list, or the log's pending list */
    struct stored_delay *delay;    /* held by delayed exchanges: when and how to route; or NULL */
};

/* A held message's due time (wall clock) and routing keys, as its record's trailer encodes
 * them: u64 due, u16 count, then each key as a shortstr. */
struct stored_delay {
    uint32_t len;
    uint8_t bytes[];
};

struct message_log_figures {
    uint64_t segments, disk_bytes, live_bytes, live_messages;
    uint64_t appended_records, compacted_messages, deleted_segments;
    uint64_t paged_out, paged_in;
};

struct message_log {
    struct message_store store; /* what the model calls (broker.store points here) */
    struct broker *broker;
    struct log *log;
    char *dir;                  /* DATA_DIR/messages */
    uint64_t segment_bytes;
    struct store_segment **segments; /* oldest first; the last is the one appended to */
    size_t nsegments, segments_cap;
    uint32_t next_segment;
    bool roll;                  /* start a new segment before the next append (after an error) */
    /* While a write has failed (disk_error, an errno): nothing is written, each commit's
     * waiters are nacked, and a new segment alone is tried once per retry_interval_ms
     * (doubling up to MESSAGE_LOG_RETRY_MAX_MS) as the batch numbered retry_ticket; when it
     * succeeds the failure ends and what waited is written after it. */
    int disk_error;
    uint64_t retry_interval_ms;
    uint64_t retry_ticket;      /* 0: no try under way */
    struct deadline retry;      /* on the broker's deadline heap */
    /* The next segment, made (its space reserved) once the active one is half full, so that
     * what publishers send has room before they are told to stop: 0 when none. */
    uint32_t spare;
    uint64_t spare_ticket;      /* the batch that makes it */
    bool spare_failed;          /* it could not be made: the disk alarm holds until it can */
    struct deadline spare_retry;
    struct stored_queue **queues; /* by id; [0] unused */
    size_t nqueues, queues_cap;
    uint64_t next_seq;
    struct list pending;        /* stored messages to write at the next commit */
    struct amqp_buf forgets;    /* (id, seq) pairs for the next forget record */
    uint32_t nforgets;
    uint32_t *gone;             /* queue ids for gone records */
    size_t ngone, gone_cap;
    /* Segments reclaimed by a commit that failed: deleted by the next one that is written
     * (with the records that were to replace theirs). */
    uint32_t *owed_deletes;
    size_t nowed_deletes, owed_deletes_cap;
    struct writer_batch *batch; /* filled during this iteration */
    bool ticket_taken;          /* someone waits for the current batch */
    struct amqp_buf scratch, names;
    struct list waiters;        /* struct store_waiter */
    struct message **page_requests; /* referenced, waiting for their records to be on disk */
    size_t npage_requests, page_requests_cap;
    struct amqp_buf readback;   /* a record read back for its body */
    struct writer writer;
    bool open;
    struct message_log_figures figures;
};

/* Creates dir (DATA_DIR/messages) if needed and starts the writer; the model reaches the log
 * through l->store once broker_use_store is given it. Returns 0 or -errno (why says what). */
int message_log_open(struct message_log *l, struct broker *b, uv_loop_t *loop, const char *dir,
                     uint64_t segment_bytes, char *why, size_t why_size);
/* Replays the segments into the durable queues that exist now (looked up by vhost and name),
 * dropping messages of queues that do not, then appends to a new segment. Call once, after the
 * definitions are loaded and before listeners open; it logs what it found and how long it
 * took. */
void message_log_recover(struct message_log *l);
/* Once per loop iteration: what the iteration appended goes to the writer as one batch, and
 * segments nothing lives in any more are reclaimed (the oldest first; an old one pinned by a
 * few live messages is compacted: they are written again, then it is deleted). */
void message_log_commit(struct message_log *l);
/* An orderly stop: redelivered marks and a clean-stop record are written and synced, the writer
 * stops, and the model is detached (message.stored cleared). */
void message_log_close(struct message_log *l);
void message_log_figures(const struct message_log *l, struct message_log_figures *out);

#endif
