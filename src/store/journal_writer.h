/* The definitions journal's writes off the loop: one job at a time on libuv's thread pool (appends with their fdatasync, or a whole rewrite), its outcome back on the loop. */
#ifndef JOURNAL_WRITER_H
#define JOURNAL_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "amqp_buf.h"
#include "store/journal.h"

enum journal_job_kind {
    JOURNAL_JOB_APPEND,  /* records written at the end, then fdatasync */
    JOURNAL_JOB_REPLACE, /* the live set as the whole new journal (compaction) */
};

/* What the thread gets: bytes, the descriptor and where to write; nothing of the model. */
struct journal_job {
    uv_work_t work;
    enum journal_job_kind kind;
    struct amqp_buf records;  /* APPEND: what to add; REPLACE: every record of the new file */
    struct amqp_buf fallback; /* REPLACE: appended to the old file instead if it cannot be replaced */
    uint64_t ticket;          /* the last record this job makes durable */
    const struct journal *journal; /* its paths and directory only: fixed while it is open */
    int fd;
    uint64_t at;              /* the file's size when handed over */
    /* the outcome, read on the loop */
    int error;                /* 0 or -errno */
    const char *failed;       /* what failed: "write and fdatasync", "compaction" */
    int replace_error;        /* REPLACE: why the rewrite failed (the fallback went on), or 0 */
    int new_fd;               /* REPLACE that renamed: the new file; else -1 */
    uint64_t new_size;        /* the file's size afterwards */
    uint64_t elapsed_ns;      /* spent on the disk */
    void (*done)(struct journal_job *job, void *owner);
    void *owner;
};

/* A job with empty buffers, to fill before journal_job_start. */
struct journal_job *journal_job_new(enum journal_job_kind kind, uint64_t ticket);
void journal_job_free(struct journal_job *job);
/* Hands the job to the pool; done(job, owner) runs on the loop once it is over (the job is
 * then the caller's to free). Returns 0 or a libuv error (done is then never called). */
int journal_job_start(uv_loop_t *loop, struct journal_job *job);

#endif
