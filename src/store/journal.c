/* The definitions journal's file: records of [length][CRC32C][type][payload], appended and synced, replayed at boot, and rewritten whole by compaction. */
#include "store/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/crc32c.h"

/* The file starts with this, so that a stray file is never read as definitions; the last
 * octet is the format: 2 checks records with CRC32C, as the segments do. */
static const char magic[8] = {'W', 'R', 'N', 'D', 'E', 'F', 'S', '2'};
/* Format 1 (zlib's CRC-32) had no released users: it is recognised only to be refused. */
static const char magic_v1[8] = {'W', 'R', 'N', 'D', 'E', 'F', 'S', '1'};

/* length (of type and payload), then the CRC32C of type and payload; big-endian as AMQP */
#define HEADER_SIZE 8

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t record_crc(uint8_t type, const void *payload, size_t len)
{
    return crc32c(crc32c(0, &type, 1), payload, len);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Writes all of the iovecs (a regular file may still take them in parts). */
static int write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++, n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

static int write_record(int fd, uint8_t type, const void *payload, size_t len)
{
    if (len + 1 > JOURNAL_MAX_RECORD)
        return -EFBIG;
    uint8_t header[HEADER_SIZE + 1];
    put_u32(header, (uint32_t)(len + 1));
    put_u32(header + 4, record_crc(type, payload, len));
    header[HEADER_SIZE] = type;
    struct iovec iov[2] = {{header, sizeof header}, {(void *)payload, len}};
    return write_all(fd, iov, len ? 2 : 1);
}

static int read_file(int fd, uint8_t **out, size_t *size)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    size_t n = (size_t)st.st_size, got = 0;
    uint8_t *data = xmalloc(n);
    while (got < n) {
        ssize_t r = pread(fd, data + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int err = r < 0 ? -errno : -EIO;
            free(data);
            return err;
        }
        got += (size_t)r;
    }
    *out = data;
    *size = n;
    return 0;
}

/* Replays the records after the magic; *good is where the last good one ends. */
static int replay_records(const uint8_t *data, size_t size, journal_record_fn fn, void *ctx,
                          struct journal_replay *replay, size_t *good)
{
    size_t at = sizeof magic;
    while (size - at >= HEADER_SIZE + 1) {
        uint32_t len = get_u32(data + at);
        if (len == 0 || len > JOURNAL_MAX_RECORD || len > size - at - HEADER_SIZE)
            break;
        const uint8_t *body = data + at + HEADER_SIZE;
        if (get_u32(data + at + 4) != record_crc(body[0], body + 1, len - 1))
            break;
        int rc = fn ? fn(ctx, body[0], body + 1, len - 1) : 0;
        if (rc)
            return rc;
        replay->records++;
        at += HEADER_SIZE + len;
    }
    *good = at;
    return 0;
}

static int sync_dir(struct journal *j)
{
    return fsync(j->dir_fd) < 0 ? -errno : 0;
}

int journal_open(struct journal *j, const char *dir, journal_record_fn fn, void *ctx,
                 struct journal_replay *replay)
{
    *replay = (struct journal_replay){0};
    *j = (struct journal){.fd = -1, .dir_fd = -1};
    j->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (j->dir_fd < 0)
        return -errno;
    j->path = join(dir, JOURNAL_FILE);
    j->rewrite_path = join(dir, JOURNAL_REWRITE_FILE);
    unlink(j->rewrite_path); /* a compaction that did not finish: the journal is still whole */
    int rc;
    j->fd = open(j->path, O_RDWR | O_CLOEXEC);
    if (j->fd < 0 && errno != ENOENT) {
        rc = -errno;
        goto fail;
    }
    if (j->fd < 0 && (j->fd = open(j->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        rc = -errno;
        goto fail;
    }
    uint8_t *data = NULL;
    size_t size = 0, good = 0;
    if ((rc = read_file(j->fd, &data, &size)) < 0)
        goto fail;
    if (size < sizeof magic && memcmp(data, magic, size) == 0) {
        /* new, or made by a first boot that died before its magic was on disk: nothing was
         * recorded in it. The file is made durable with its directory entry. */
        free(data);
        struct iovec iov = {(void *)magic, sizeof magic};
        if ((rc = ftruncate(j->fd, 0) < 0 ? -errno : 0) < 0 ||
            (rc = write_all(j->fd, &iov, 1)) < 0 || (rc = fdatasync(j->fd) < 0 ? -errno : 0) < 0 ||
            (rc = sync_dir(j)) < 0)
            goto fail;
        j->size = sizeof magic;
        return 0;
    }
    replay->existed = true;
    if (size < sizeof magic || memcmp(data, magic, sizeof magic) != 0) {
        rc = size >= sizeof magic_v1 && memcmp(data, magic_v1, sizeof magic_v1) == 0
                 ? -EPROTONOSUPPORT
                 : -EILSEQ;
        free(data);
        goto fail;
    }
    rc = replay_records(data, size, fn, ctx, replay, &good);
    free(data);
    if (rc)
        goto fail;
    if (good < size) {
        replay->dropped_at = good;
        replay->dropped_bytes = size - good;
        if (ftruncate(j->fd, (off_t)good) < 0 || fdatasync(j->fd) < 0) {
            rc = -errno;
            goto fail;
        }
    }
    j->size = good;
    if (lseek(j->fd, (off_t)good, SEEK_SET) < 0) {
        rc = -errno;
        goto fail;
    }
    return 0;
fail:
    journal_close(j);
    return rc;
}

int journal_append(struct journal *j, uint8_t type, const void *payload, size_t len)
{
    int rc = write_record(j->fd, type, payload, len);
    if (rc < 0) { /* no half record left behind for the next append to follow */
        if (ftruncate(j->fd, (off_t)j->size) == 0)
            lseek(j->fd, (off_t)j->size, SEEK_SET);
        return rc;
    }
    j->size += HEADER_SIZE + 1 + len;
    j->unsynced = true;
    return 0;
}

int journal_sync(struct journal *j)
{
    if (!j->unsynced)
        return 0;
    if (fdatasync(j->fd) < 0)
        return -errno;
    j->unsynced = false;
    return 0;
}

void journal_close(struct journal *j)
{
    if (j->fd >= 0)
        close(j->fd);
    if (j->dir_fd >= 0)
        close(j->dir_fd);
    free(j->path);
    free(j->rewrite_path);
    *j = (struct journal){.fd = -1, .dir_fd = -1};
}

int journal_rewrite_begin(struct journal *j, struct journal_rewrite *w)
{
    *w = (struct journal_rewrite){.fd = -1};
    w->fd = open(j->rewrite_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (w->fd < 0)
        return -errno;
    struct iovec iov = {(void *)magic, sizeof magic};
    w->error = write_all(w->fd, &iov, 1);
    w->size = sizeof magic;
    return 0;
}

void journal_rewrite_append(struct journal_rewrite *w, uint8_t type, const void *payload,
                            size_t len)
{
    if (w->error)
        return;
    w->error = write_record(w->fd, type, payload, len);
    w->size += HEADER_SIZE + 1 + len;
}

void journal_rewrite_abort(struct journal *j, struct journal_rewrite *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    unlink(j->rewrite_path);
}

int journal_rewrite_commit(struct journal *j, struct journal_rewrite *w)
{
    int rc = w->error;
    if (!rc && fsync(w->fd) < 0)
        rc = -errno;
    if (!rc && rename(j->rewrite_path, j->path) < 0)
        rc = -errno;
    if (rc) {
        journal_rewrite_abort(j, w);
        return rc;
    }
    close(j->fd);
    j->fd = w->fd; /* opened write-only and at its end: appends go on from there */
    j->size = w->size;
    j->unsynced = false;
    w->fd = -1;
    return sync_dir(j); /* the rename itself durable */
}
