/* Process and machine figures from /proc, getrlimit, sysconf and statvfs. */
#include "core/process.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

uint64_t process_resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    if (!f)
        return 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    return n == 2 ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

void process_release_free_memory(void)
{
    malloc_trim(0); /* glibc: every arena's free pages, not only the heap's top */
}

uint64_t process_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    uint64_t n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n ? n - 1 : 0; /* not the one opendir holds */
}

uint64_t process_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY)
        return 1048576;
    return (uint64_t)rl.rlim_cur;
}

uint64_t system_memory_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

uint64_t system_disk_free_bytes(const char *path)
{
    /* a directory not made yet (the data directory at first boot) will be on its parent's disk */
    char at[4096];
    snprintf(at, sizeof at, "%s", path);
    struct statvfs s;
    while (statvfs(at, &s) != 0) {
        char *slash = strrchr(at, '/');
        if (errno != ENOENT || !strcmp(at, "."))
            return 0;
        if (!slash)
            snprintf(at, sizeof at, ".");
        else
            slash[slash == at] = 0; /* "/x" becomes "/" */
    }
    return (uint64_t)s.f_bavail * (uint64_t)s.f_frsize;
}

unsigned system_processors(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}
