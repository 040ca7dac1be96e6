/* The data directory: where it is by default, and the lock that keeps one Warren per directory. */
#ifndef DATA_DIR_H
#define DATA_DIR_H

#include <stdbool.h>
#include <stddef.h>

/* The lock file's name inside the data directory; it holds the owner's pid. */
#define DATA_DIR_LOCK_FILE "warren.lock"

struct data_dir {
    char *path;
    int lock_fd; /* holds the lock while open; -1: not open */
};

/* The default as RabbitMQ's RABBITMQ_MNESIA_BASE/RABBITMQ_MNESIA_DIR work: $RABBITMQ_MNESIA_DIR
 * when set; else $RABBITMQ_MNESIA_BASE/NODE; else $XDG_STATE_HOME/warren/NODE, or
 * ~/.local/state/warren/NODE, NODE being "warren@HOST". False when none can be made (no
 * HOME) or it does not fit. */
bool data_dir_default(char *out, size_t size);

/* Creates the directory (and its parents) when missing and takes its lock. False with the
 * reason in err when it cannot, or when another process holds the lock. */
bool data_dir_open(struct data_dir *d, const char *path, char *err, size_t err_size);
/* A subdirectory (created when missing); false with the reason. */
bool data_dir_subdir(const struct data_dir *d, const char *name, char *out, size_t size,
                     char *err, size_t err_size);
/* Releases the lock (the file stays: its next owner rewrites it). */
void data_dir_close(struct data_dir *d);

#endif
