/* An LD_PRELOAD shim for durability tests: logs, after each successful fdatasync or fsync, how far that file had been written, so a test can tell whether a confirmed record was on disk before its confirm. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
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

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
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
    int rc = real(fd);
    if (rc == 0)
        log_synced(fd);
    return rc;
}
