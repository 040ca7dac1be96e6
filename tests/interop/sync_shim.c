/* An LD_PRELOAD shim for durability tests: logs, after each successful fdatasync or fsync, how far that file had been written, so a test can tell whether a confirmed record was on disk before its confirm; and can make the syncs of chosen files slow or failing. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* The end of the furthest write on each descriptor since it was opened (a test tool: the
 * broker's writer uses a handful of descriptors, all below this). */
#define MAX_FD 65536

static off_t written_end[MAX_FD];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void note_write(int fd, off_t offset, ssize_t n)
{
    if (fd < 0 || fd >= MAX_FD || n <= 0)
        return;
    pthread_mutex_lock(&lock);
    if (offset + n > written_end[fd])
        written_end[fd] = offset + n;
    pthread_mutex_unlock(&lock);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real)
        real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    ssize_t n = real(fd, buf, count, offset);
    note_write(fd, offset, n);
    return n;
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset)
{
    return pwrite(fd, buf, count, offset);
}

int close(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "close");
    if (fd >= 0 && fd < MAX_FD) {
        pthread_mutex_lock(&lock);
        written_end[fd] = 0;
        pthread_mutex_unlock(&lock);
    }
    return real(fd);
}

/* "PATH END": everything in PATH before END is on disk. */
static void log_synced(int fd)
{
    const char *log = getenv("SYNC_SHIM_LOG");
    if (!log || fd < 0 || fd >= MAX_FD)
        return;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, path, sizeof path - 1);
    if (len <= 0)
        return;
    path[len] = 0;
    pthread_mutex_lock(&lock);
    off_t end = written_end[fd];
    pthread_mutex_unlock(&lock);
    FILE *f = fopen(log, "a");
    if (!f)
        return;
    fprintf(f, "%s %lld\n", path, (long long)end);
    fclose(f);
}

/* SYNC_SHIM_MATCH names files by a part of their path: their syncs first sleep
 * SYNC_SHIM_DELAY_MS, and fail with EIO while the file SYNC_SHIM_FAIL_WHILE exists. Returns
 * whether this sync is to fail. */
static int slow_or_failing(int fd)
{
    const char *match = getenv("SYNC_SHIM_MATCH");
    if (!match || fd < 0)
        return 0;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, path, sizeof path - 1);
    if (len <= 0)
        return 0;
    path[len] = 0;
    if (!strstr(path, match))
        return 0;
    const char *delay = getenv("SYNC_SHIM_DELAY_MS");
    if (delay && atoi(delay) > 0)
        usleep((useconds_t)atoi(delay) * 1000);
    const char *flag = getenv("SYNC_SHIM_FAIL_WHILE");
    return flag && access(flag, F_OK) == 0;
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    if (slow_or_failing(fd)) {
        errno = EIO;
        return -1;
    }
    int rc = real(fd);
    if (rc == 0)
        log_synced(fd);
    return rc;
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    if (slow_or_failing(fd)) {
        errno = EIO;
        return -1;
    }
    int rc = real(fd);
    if (rc == 0)
        log_synced(fd);
    return rc;
}
