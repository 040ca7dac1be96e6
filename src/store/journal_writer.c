/* The definitions journal's writes off the loop: one job at a time on libuv's thread pool (appends with their fdatasync, or a whole rewrite), its outcome back on the loop. */
#include "store/journal_writer.h"

#include <time.h>

#include "core/alloc.h"
#include "core/container.h"

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

struct journal_job *journal_job_new(enum journal_job_kind kind, uint64_t ticket)
{
    struct journal_job *job = xcalloc(1, sizeof *job);
    job->kind = kind;
    job->ticket = ticket;
    job->new_fd = -1;
    amqp_buf_init(&job->records);
    amqp_buf_init(&job->fallback);
    return job;
}

void journal_job_free(struct journal_job *job)
{
    if (!job)
        return;
    amqp_buf_free(&job->records);
    amqp_buf_free(&job->fallback);
    free(job);
}

static void append(struct journal_job *job, const struct amqp_buf *records)
{
    job->error = journal_write(job->fd, job->at, records->data, records->len, &job->new_size);
    job->failed = "write and fdatasync";
}

/* On a pool thread. */
static void run(uv_work_t *work)
{
    struct journal_job *job = container_of(work, struct journal_job, work);
    uint64_t start = now_ns();
    job->new_size = job->at;
    if (job->kind == JOURNAL_JOB_APPEND) {
        append(job, &job->records);
    } else {
        job->error = journal_replace(job->journal, job->records.data, job->records.len,
                                     &job->new_fd, &job->new_size);
        job->failed = "compaction";
        if (job->error && job->new_fd < 0) { /* the old file goes on, with what was pending */
            job->replace_error = job->error;
            job->error = 0;
            if (job->fallback.len)
                append(job, &job->fallback);
        }
    }
    if (job->error == 0)
        job->failed = NULL;
    job->elapsed_ns = now_ns() - start;
}

/* On the loop. */
static void after(uv_work_t *work, int status)
{
    struct journal_job *job = container_of(work, struct journal_job, work);
    if (status < 0 && job->error == 0) { /* cancelled: nothing was written */
        job->error = status;
        job->failed = "the writer";
    }
    job->done(job, job->owner);
}

int journal_job_start(uv_loop_t *loop, struct journal_job *job)
{
    return uv_queue_work(loop, &job->work, run, after);
}
