/* Levelled log lines to stderr and optionally a file, one per event, stamped with the wall-clock time. */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *const level_names[] = {"debug", "info", "warning", "error", "none"};

int log_level_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof level_names / sizeof *level_names); i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

int log_open_file(struct log *log, const char *path, enum log_level level)
{
    FILE *f = fopen(path, "a");
    if (!f)
        return -errno;
    setvbuf(f, NULL, _IOLBF, 0); /* a line is on disk (well, in the kernel) once logged */
    log_close_file(log);
    log->file = f;
    log->file_level = level;
    return 0;
}

void log_close_file(struct log *log)
{
    if (log->file)
        fclose(log->file);
    log->file = NULL;
}

void log_write(const struct log *log, enum log_level level, const char *fmt, ...)
{
    bool to_stderr = level >= log->level;
    bool to_file = log->file && level >= log->file_level;
    if (!to_stderr && !to_file)
        return;
    struct timeval now;
    gettimeofday(&now, NULL);
    struct tm tm;
    localtime_r(&now.tv_sec, &tm);
    char line[1024];
    size_t n = strftime(line, sizeof line, "%Y-%m-%d %H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03d [%s] ", (int)(now.tv_usec / 1000),
                          level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    int body = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    n = body < 0 ? n : n + (size_t)body;
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    if (to_stderr)
        fwrite(line, 1, n, stderr); /* one write per line keeps lines whole */
    if (to_file)
        fwrite(line, 1, n, log->file);
}
