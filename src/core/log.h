/* Levelled log lines to stderr and optionally a file, one per event, stamped with the wall-clock time. */
#ifndef LOG_H
#define LOG_H

#include <stdio.h>

/* LOG_NONE is a threshold only: nothing is logged at it, so it silences a destination. */
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_NONE };

struct log {
    enum log_level level;      /* stderr's threshold */
    FILE *file;                /* NULL: no log file */
    enum log_level file_level;
};

/* Parses "debug", "info", "warning", "error" or "none"; returns -1 for anything else. */
int log_level_parse(const char *name);
/* Appends to the file at path from now on, lines at level and above. Returns 0 or -errno. */
int log_open_file(struct log *log, const char *path, enum log_level level);
void log_close_file(struct log *log);
void log_write(const struct log *log, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(log, ...) log_write((log), LOG_DEBUG, __VA_ARGS__)
#define log_info(log, ...) log_write((log), LOG_INFO, __VA_ARGS__)
#define log_warning(log, ...) log_write((log), LOG_WARNING, __VA_ARGS__)
#define log_error(log, ...) log_write((log), LOG_ERROR, __VA_ARGS__)

#endif
