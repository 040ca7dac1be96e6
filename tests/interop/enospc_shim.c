/* An LD_PRELOAD shim for disk-full tests: while the file ENOSPC_SHIM_MARKER exists, posix_fallocate and pwrite on files under ENOSPC_SHIM_DIR fail with ENOSPC (only fallocate when ENOSPC_SHIM_ONLY=fallocate), and each refusal is logged to ENOSPC_SHIM_LOG. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* Whether a call on fd must fail now: the marker is there and fd's file is under the dir. */
static bool refused(int fd, const char *call)
{
    const char *marker = getenv("ENOSPC_SHIM_MARKER"), *dir = getenv("ENOSPC_SHIM_DIR");
    const char *only = getenv("ENOSPC_SHIM_ONLY");
    if (!marker || !dir || access(marker, F_OK) != 0 || (only && strcmp(only, call) != 0))
        return false;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, path, sizeof path - 1);
    if (len <= 0)
        return false;
    path[len] = 0;
    size_t dlen = strlen(dir);
    if (strncmp(path, dir, dlen) != 0 || path[dlen] != '/')
        return false;
    const char *log = getenv("ENOSPC_SHIM_LOG");
    FILE *f = log ? fopen(log, "a") : NULL;
    if (f) {
        fprintf(f, "%s %s\n", call, path);
        fclose(f);
    }
    return true;
}

int posix_fallocate(int fd, off_t offset, off_t len)
{
    static int (*real)(int, off_t, off_t);
    if (!real)
        real = (int (*)(int, off_t, off_t))dlsym(RTLD_NEXT, "posix_fallocate");
    return refused(fd, "fallocate") ? ENOSPC : real(fd, offset, len);
}

int posix_fallocate64(int fd, off_t offset, off_t len)
{
    return posix_fallocate(fd, offset, len);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real)
        real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    if (refused(fd, "pwrite")) {
        errno = ENOSPC;
        return -1;
    }
    return real(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset)
{
    return pwrite(fd, buf, count, offset);
}
