/* Levelled log lines to stderr, one per event, stamped with the wall-clock time. */
#ifndef LOG_H
#define LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR };

struct log {
    enum log_level level;
};

/* Parses "debug", "info", "warning" or "error"; returns -1 for anything else. */
int log_level_parse(const char *name);
void log_write(const struct log *log, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(log, ...) log_write((log), LOG_DEBUG, __VA_ARGS__)
#define log_info(log, ...) log_write((log), LOG_INFO, __VA_ARGS__)
#define log_warning(log, ...) log_write((log), LOG_WARNING, __VA_ARGS__)
#define log_error(log, ...) log_write((log), LOG_ERROR, __VA_ARGS__)

#endif
