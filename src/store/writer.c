/* The writer thread: pwrite, fallocate, one fdatasync per round, directory fsyncs; completions back through uv_async. */
#include "store/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "store/segment.h"

struct writer_batch *writer_batch_new(uint64_t ticket)
{
    struct writer_batch *b = xcalloc(1, sizeof *b);
    b->ticket = ticket;
    amqp_buf_init(&b->bytes);
    amqp_buf_init(&b->forgets);
    return b;
}

void writer_batch_free(struct writer_batch *b)
{
    if (!b)
        return;
    amqp_buf_free(&b->bytes);
    amqp_buf_free(&b->forgets);
    free(b->gone);
    free(b->ops);
    free(b);
}

void writer_batch_add(struct writer_batch *b, struct writer_op op)
{
    if (b->nops == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->ops = xrealloc_array(b->ops, b->cap, sizeof *b->ops);
    }
    b->ops[b->nops++] = op;
}

/* ---- on the writer thread: bytes only ---- */

static struct open_segment *find_open(struct writer *w, uint32_t segment)
{
    for (size_t i = 0; i < w->nopen; i++)
        if (w->open[i].segment == segment)
            return &w->open[i];
    return NULL;
}

static struct open_segment *add_open(struct writer *w, uint32_t segment, int fd)
{
    if (w->nopen == w->open_cap) {
        w->open_cap = w->open_cap ? w->open_cap * 2 : 4;
        w->open = xrealloc_array(w->open, w->open_cap, sizeof *w->open);
    }
    w->open[w->nopen] = (struct open_segment){segment, fd, false};
    return &w->open[w->nopen++];
}

static void fail(struct writer_batch *b, const char *call)
{
    if (!b->error) {
        b->error = errno ? errno : EIO;
        b->failed = call;
    }
}

/* The call failed on segment: the batch fails, and the segment is written no more. */
static void break_segment(struct writer *w, struct writer_batch *b, uint32_t segment,
                          const char *call)
{
    int err = errno ? errno : EIO;
    fail(b, call);
    if (segment >= w->broken) {
        w->broken = segment;
        w->broken_error = err;
    }
}

static int open_segment(struct writer *w, uint32_t segment, int flags)
{
    char path[4096];
    segment_path(path, sizeof path, w->dir, segment);
    return open(path, flags | O_CLOEXEC, 0644);
}

/* A segment made ahead of need failed: nothing but the spare is lost. */
static void ahead_failed(struct writer *w, struct writer_batch *b, int fd, uint32_t segment,
                         int err)
{
    char path[4096];
    segment_path(path, sizeof path, w->dir, segment);
    if (fd >= 0)
        close(fd);
    unlink(path);
    if (!b->ahead_error)
        b->ahead_error = err ? err : EIO;
}

static bool write_all_at(int fd, const uint8_t *p, size_t left, off_t at)
{
    while (left) {
        ssize_t n = pwrite(fd, p, left, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        left -= (size_t)n;
        at += n;
    }
    return true;
}

static void do_create(struct writer *w, struct writer_batch *b, const struct writer_op *op,
                      bool *dir_dirty)
{
    int fd = open_segment(w, op->segment, O_WRONLY | O_CREAT | O_TRUNC);
    if (fd < 0 && op->ahead) {
        ahead_failed(w, b, -1, op->segment, errno);
        return;
    }
    if (fd < 0) {
        break_segment(w, b, op->segment, "open");
        return;
    }
    /* the space is reserved now, so a write accepted into this segment cannot meet ENOSPC */
    int rc = posix_fallocate(fd, 0, (off_t)op->size);
    if (op->ahead && ((rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) ||
                      !write_all_at(fd, b->bytes.data + op->from, op->len, 0))) {
        ahead_failed(w, b, fd, op->segment, rc && rc != EOPNOTSUPP && rc != EINVAL ? rc : errno);
        return;
    }
    if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) {
        /* nothing is in it yet: it goes at once, so a full disk gathers no empty files */
        char path[4096];
        segment_path(path, sizeof path, w->dir, op->segment);
        close(fd);
        unlink(path);
        errno = rc;
        break_segment(w, b, op->segment, "fallocate");
        return;
    }
    struct open_segment *s = add_open(w, op->segment, fd);
    s->written |= op->ahead; /* its header: synced with the rest */
    *dir_dirty = true;
}

static void do_write(struct writer *w, struct writer_batch *b, const struct writer_op *op)
{
    if (op->segment == w->broken) {
        errno = w->broken_error;
        fail(b, "an earlier write");
        return;
    }
    struct open_segment *s = find_open(w, op->segment);
    if (!s) {
        int fd = open_segment(w, op->segment, O_WRONLY);
        if (fd < 0) {
            break_segment(w, b, op->segment, "open");
            return;
        }
        s = add_open(w, op->segment, fd);
    }
    const uint8_t *p = b->bytes.data + op->from;
    size_t left = op->len;
    off_t at = (off_t)op->offset;
    while (left) {
        ssize_t n = pwrite(s->fd, p, left, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            break_segment(w, b, op->segment, "pwrite");
            return;
        }
        p += n;
        left -= (size_t)n;
        at += n;
    }
    s->written = true;
}

static void close_open(struct writer *w, size_t i)
{
    close(w->open[i].fd);
    w->open[i] = w->open[--w->nopen];
}

static void do_delete(struct writer *w, struct writer_batch *b, uint32_t segment)
{
    for (size_t i = 0; i < w->nopen; i++)
        if (w->open[i].segment == segment) {
            close_open(w, i);
            break;
        }
    char path[4096];
    segment_path(path, sizeof path, w->dir, segment);
    if (unlink(path) < 0 && errno != ENOENT)
        fail(b, "unlink");
}

/* One round: every batch handed over meanwhile is written, then one fdatasync per file
 * written covers them all (group commit), then the directory, then deletions. */
static void run_round(struct writer *w, struct writer_batch *round)
{
    bool dir_dirty = false;
    for (struct writer_batch *b = round; b; b = b->next)
        for (size_t i = 0; i < b->nops; i++) {
            const struct writer_op *op = &b->ops[i];
            if (op->kind == WRITER_CREATE)
                do_create(w, b, op, &dir_dirty);
            else if (op->kind == WRITER_WRITE)
                do_write(w, b, op);
        }
    int sync_error = 0;
    for (size_t i = 0; i < w->nopen; i++) {
        if (!w->open[i].written)
            continue;
        w->open[i].written = false;
        if (fdatasync(w->open[i].fd) < 0) {
            /* what the page cache held may be gone: nothing may follow it in this file */
            int err = errno ? errno : EIO;
            if (!sync_error)
                sync_error = err;
            if (w->open[i].segment >= w->broken) {
                w->broken = w->open[i].segment;
                w->broken_error = err;
            }
        }
    }
    if (dir_dirty && fsync(w->dir_fd) < 0 && !sync_error)
        sync_error = errno ? errno : EIO;
    bool deleted = false;
    for (struct writer_batch *b = round; b; b = b->next) {
        if (sync_error && !b->error) {
            b->error = sync_error;
            b->failed = "fdatasync";
        }
        /* a segment whose live messages were rewritten goes only once they are safe */
        for (size_t i = 0; i < b->nops && !b->error; i++)
            if (b->ops[i].kind == WRITER_DELETE) {
                do_delete(w, b, b->ops[i].segment);
                deleted = true;
            }
    }
    if (deleted)
        fsync(w->dir_fd);
    /* only the newest segment is still appended to, and the one made ahead of it */
    for (size_t i = w->nopen; i-- > 0;) {
        uint32_t newest = 0, next = 0;
        for (size_t j = 0; j < w->nopen; j++) {
            uint32_t n = w->open[j].segment;
            if (n > newest) {
                next = newest;
                newest = n;
            } else if (n > next) {
                next = n;
            }
        }
        if (w->open[i].segment != newest && w->open[i].segment != next)
            close_open(w, i);
    }
}

static void writer_main(void *arg)
{
    struct writer *w = arg;
    uv_mutex_lock(&w->lock);
    for (;;) {
        while (!w->todo && !w->stopping)
            uv_cond_wait(&w->wake, &w->lock);
        if (!w->todo && w->stopping)
            break;
        struct writer_batch *round = w->todo;
        w->todo = NULL;
        w->todo_tail = &w->todo;
        uv_mutex_unlock(&w->lock);
        run_round(w, round);
        uv_mutex_lock(&w->lock);
        struct writer_batch *last = round;
        while (last->next)
            last = last->next;
        *w->done_tail = round;
        w->done_tail = &last->next;
        uv_async_send(&w->done_async);
        uv_cond_broadcast(&w->wake);
    }
    uv_mutex_unlock(&w->lock);
}

/* ---- on the loop ---- */

static void deliver_done(struct writer *w)
{
    uv_mutex_lock(&w->lock);
    struct writer_batch *done = w->done;
    w->done = NULL;
    w->done_tail = &w->done;
    uv_mutex_unlock(&w->lock);
    while (done) {
        struct writer_batch *next = done->next;
        done->next = NULL;
        w->on_done(w, done);
        done = next;
    }
}

static void on_done_async(uv_async_t *h)
{
    deliver_done(h->data);
}

int writer_start(struct writer *w, uv_loop_t *loop, const char *dir, writer_done_fn *on_done,
                 void *owner)
{
    memset(w, 0, sizeof *w);
    w->todo_tail = &w->todo;
    w->done_tail = &w->done;
    w->on_done = on_done;
    w->owner = owner;
    w->dir = xstrdup(dir);
    w->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dir_fd < 0) {
        int err = -errno;
        free(w->dir);
        return err;
    }
    uv_mutex_init(&w->lock);
    uv_cond_init(&w->wake);
    uv_async_init(loop, &w->done_async, on_done_async);
    w->done_async.data = w;
    int rc = uv_thread_create(&w->thread, writer_main, w);
    if (rc < 0) {
        uv_close((uv_handle_t *)&w->done_async, NULL);
        close(w->dir_fd);
        free(w->dir);
        return rc;
    }
    return 0;
}

void writer_submit(struct writer *w, struct writer_batch *b)
{
    b->next = NULL;
    uv_mutex_lock(&w->lock);
    *w->todo_tail = b;
    w->todo_tail = &b->next;
    uv_cond_signal(&w->wake);
    uv_mutex_unlock(&w->lock);
}

void writer_stop(struct writer *w)
{
    uv_mutex_lock(&w->lock);
    w->stopping = true;
    uv_cond_broadcast(&w->wake);
    uv_mutex_unlock(&w->lock);
    uv_thread_join(&w->thread);
    deliver_done(w);
    uv_close((uv_handle_t *)&w->done_async, NULL);
    for (size_t i = 0; i < w->nopen; i++)
        close(w->open[i].fd);
    free(w->open);
    close(w->dir_fd);
    uv_mutex_destroy(&w->lock);
    uv_cond_destroy(&w->wake);
    free(w->dir);
}
