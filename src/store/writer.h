/* The writer thread: takes batches of segment writes from the loop, writes them, syncs once per round (group commit) and hands them back. */
#ifndef WRITER_H
#define WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "amqp_buf.h"

enum writer_op_kind {
    WRITER_CREATE, /* a new segment file, preallocated to `size` octets */
    WRITER_WRITE,  /* len octets from the batch's bytes at `from`, to the segment at `offset` */
    WRITER_DELETE, /* the segment file goes, once this round is synced */
};

struct writer_op {
    enum writer_op_kind kind;
    uint32_t segment;
    uint64_t offset; /* WRITER_WRITE: where in the file */
    uint64_t size;   /* WRITER_CREATE: preallocation */
    size_t from, len; /* WRITER_WRITE, and a WRITER_CREATE's first bytes (its header) */
    /* WRITER_CREATE of a segment made ahead of need: its failure is reported in the batch's
     * ahead_error and fails nothing else */
    bool ahead;
};

/* What one loop iteration hands over: bytes and what to do with them, in order. */
struct writer_batch {
    struct writer_batch *next;
    uint64_t ticket;
    struct amqp_buf bytes;
    struct writer_op *ops;
    size_t nops, cap;
    int error;          /* set by the writer: 0, or the first errno that hit this batch */
    const char *failed; /* the call that failed */
    int ahead_error;    /* a segment made ahead could not be: the errno */
    bool refused;       /* not tried (error preset): the store refuses writes while its disk
                         * fails, and the batch only keeps its place in the order */
    /* What its forget and gone records said, for the store to say again should it fail. */
    struct amqp_buf forgets; /* (id, seq) pairs */
    uint32_t nforgets;
    uint32_t *gone;
    size_t ngone;
};

struct writer_batch *writer_batch_new(uint64_t ticket);
void writer_batch_free(struct writer_batch *b);
void writer_batch_add(struct writer_batch *b, struct writer_op op);
static inline bool writer_batch_empty(const struct writer_batch *b)
{
    return b->nops == 0;
}

struct writer;
/* Batches come back on the loop, in the order handed over, once synced (or failed). */
typedef void writer_done_fn(struct writer *w, struct writer_batch *b);

struct writer {
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t wake;
    uv_async_t done_async;
    struct writer_batch *todo, **todo_tail; /* under lock */
    struct writer_batch *done, **done_tail; /* under lock */
    bool stopping;                          /* under lock */
    /* the thread's own */
    char *dir;
    int dir_fd;
    struct open_segment {
        uint32_t segment;
        int fd;
        bool written;
    } *open;
    size_t nopen, open_cap;
    /* The newest segment a write, preallocation or sync of failed, and how: it takes no more
     * writes, since a record behind a hole would be lost at recovery although confirmed. */
    uint32_t broken;
    int broken_error;
    writer_done_fn *on_done;
    void *owner;
};

/* Starts the thread for segments in dir (an existing directory). Returns 0 or -errno. */
int writer_start(struct writer *w, uv_loop_t *loop, const char *dir, writer_done_fn *on_done,
                 void *owner);
/* Hands a batch over (the writer owns it until it comes back through on_done). */
void writer_submit(struct writer *w, struct writer_batch *b);
/* Waits for everything handed over to be written and synced, delivers what is done, stops the
 * thread and closes the async handle (the loop must run once more to finish closing). */
void writer_stop(struct writer *w);

#endif
