/* Durable definitions kept in the journal: the model's definitions_ops recorded as records, replayed into the model at boot, compacted. */
#ifndef DEFINITIONS_STORE_H
#define DEFINITIONS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amqp_buf.h"
#include "core/list.h"
#include "model/definitions_ops.h"
#include "store/journal.h"

struct broker;

/* Record types. Exchanges, queues and bindings as the AMQP methods that make them (a u16
 * vhost name length, the name, then the method frame payload); everything else as one
 * record of the settings' definitions JSON, the latest of which wins. */
enum definitions_record {
    DEFINITIONS_RECORD_METHOD = 1,
    DEFINITIONS_RECORD_SETTINGS = 2,
};

/* The settings' JSON lives above the store (src/admin): the server hands its two functions
 * down. */
struct definitions_settings_codec {
    char *(*text)(struct broker *b, size_t *len); /* malloc'd */
    bool (*replace)(struct broker *b, const char *text, size_t len, char *err, size_t err_size);
};

struct journal_job;
struct uv_loop_s; /* libuv's uv_loop_t */

struct definitions_store {
    struct journal journal;
    struct broker *broker;
    struct definitions_settings_codec settings;
    struct uv_loop_s *loop;   /* while the loop runs: writes go to the journal's writer */
    struct amqp_buf pending;  /* encoded records not yet handed to the disk */
    uint64_t recorded;        /* records made: the tickets */
    uint64_t settled;         /* every record through this ticket is done with */
    struct journal_job *busy; /* the writer's job in flight, or NULL */
    struct list waiters;      /* definitions_waiter, by ticket */
    bool compact_due;         /* a job failed: the next rewrites the journal from the model */
    int batch_depth;
    bool settings_dirty;      /* changed in the batch, not yet written */
    char *settings_written;   /* the last settings record, to skip one that says the same */
    size_t settings_written_len;
    uint64_t compacted_size;  /* the journal's size after the last compaction */
    uint64_t syncs;
    uint64_t sync_ns;         /* time spent in fdatasync, for the log */
};

/* What opening found, for the server's log. */
struct definitions_recovery {
    bool recovered; /* there was a journal: this is not the first boot */
    struct journal_replay replay;
    uint64_t exchanges, queues, bindings; /* durable ones in the model afterwards */
    uint64_t elapsed_us;
};

/* Opens the journal in dir (DATA_DIR/definitions, existing) and replays it into the broker,
 * whose definitions must not be recorded meanwhile (its hook not yet installed). A damaged
 * tail is dropped and logged. False with the reason when the journal cannot be used. */
bool definitions_store_open(struct definitions_store *s, struct broker *b, const char *dir,
                            struct definitions_settings_codec settings,
                            struct definitions_recovery *rec, char *err, size_t err_size);
/* From now on the broker's changes are recorded here. */
void definitions_store_install(struct definitions_store *s);
/* Rewrites the journal as the live set (settings, then durable exchanges, queues and the
 * bindings between durable ends), at once, before the loop runs. Returns 0 or -errno (the
 * old journal then stays). */
int definitions_store_compact(struct definitions_store *s);
/* The loop runs from now on: the disk is reached from the journal's writer (libuv's thread
 * pool), and replies wait for it through the ops' wait. */
void definitions_store_start(struct definitions_store *s, struct uv_loop_s *loop);
/* Once per loop iteration: what the iteration recorded goes to the writer as one job (or the
 * next, when one is in flight). */
void definitions_store_commit(struct definitions_store *s);
/* After the loop has returned: changes are written and synced at once again. */
void definitions_store_stop(struct definitions_store *s);
/* Writes what is pending, uninstalls itself from the broker and closes the journal. */
void definitions_store_close(struct definitions_store *s);

#endif
