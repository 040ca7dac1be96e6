/* The data directory: where it is by default, and the lock that keeps one Warren per directory. */
#include "store/data_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"

static bool fits(int n, size_t size)
{
    return n > 0 && (size_t)n < size;
}

bool data_dir_default(char *out, size_t size)
{
    const char *env;
    if ((env = getenv("RABBITMQ_MNESIA_DIR")) && *env)
        return fits(snprintf(out, size, "%s", env), size);
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    if ((env = getenv("RABBITMQ_MNESIA_BASE")) && *env)
        return fits(snprintf(out, size, "%s/warren@%s", env, host), size);
    if ((env = getenv("XDG_STATE_HOME")) && *env == '/')
        return fits(snprintf(out, size, "%s/warren/warren@%s", env, host), size);
    if ((env = getenv("HOME")) && *env)
        return fits(snprintf(out, size, "%s/.local/state/warren/warren@%s", env, host), size);
    return false;
}

/* mkdir -p, with mode 0700 for what it creates (definitions hold password hashes). */
static int make_dirs(const char *path)
{
    char *p = xstrdup(path);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s)
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0700) < 0 && errno != EEXIST) {
            rc = -errno;
            break;
        }
        *s = c;
        if (!c)
            break;
    }
    free(p);
    struct stat st;
    if (!rc && (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)))
        rc = -ENOTDIR;
    return rc;
}

/* The pid in the lock file, for the message; 0 when unreadable. */
static long lock_owner(int fd)
{
    char text[32] = {0};
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    return n > 0 ? strtol(text, NULL, 10) : 0;
}

bool data_dir_open(struct data_dir *d, const char *path, char *err, size_t err_size)
{
    *d = (struct data_dir){.lock_fd = -1};
    int rc = make_dirs(path);
    if (rc < 0) {
        snprintf(err, err_size, "cannot create the data directory %s: %s", path, strerror(-rc));
        return false;
    }
    size_t n = strlen(path) + sizeof DATA_DIR_LOCK_FILE + 1;
    char *lock_path = xmalloc(n);
    snprintf(lock_path, n, "%s/%s", path, DATA_DIR_LOCK_FILE);
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(lock_path);
    if (fd < 0) {
        snprintf(err, err_size, "cannot open the lock file in %s: %s", path, strerror(errno));
        return false;
    }
    /* flock: released by the kernel when the process dies, kill -9 included */
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        long owner = lock_owner(fd);
        if (e == EWOULDBLOCK && owner > 0)
            snprintf(err, err_size, "the data directory %s is in use by another Warren (pid %ld)",
                     path, owner);
        else if (e == EWOULDBLOCK)
            snprintf(err, err_size, "the data directory %s is in use by another Warren", path);
        else
            snprintf(err, err_size, "cannot lock the data directory %s: %s", path, strerror(e));
        close(fd);
        return false;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        snprintf(err, err_size, "cannot write the lock file in %s: %s", path, strerror(errno));
        close(fd);
        return false;
    }
    d->path = xstrdup(path);
    d->lock_fd = fd;
    return true;
}

bool data_dir_subdir(const struct data_dir *d, const char *name, char *out, size_t size,
                     char *err, size_t err_size)
{
    if (!fits(snprintf(out, size, "%s/%s", d->path, name), size)) {
        snprintf(err, err_size, "the data directory's path is too long");
        return false;
    }
    if (mkdir(out, 0700) == 0) { /* its entry durable before anything is written in it */
        int fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
    } else if (errno != EEXIST) {
        snprintf(err, err_size, "cannot create %s: %s", out, strerror(errno));
        return false;
    }
    return true;
}

void data_dir_close(struct data_dir *d)
{
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    free(d->path);
    *d = (struct data_dir){.lock_fd = -1};
}
