/* rabbitmq.conf: RabbitMQ's sysctl-style (cuttlefish) file, read into a broker configuration. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>

#include "model/broker.h"

/* What a loaded file allocated for the configuration (strings, lists): it lives as long as
 * the configuration does and is freed in one go. Zero-initialised is empty. */
struct config_store {
    void **blocks;
    size_t count, cap;
};

/* Errors, one per line, each "FILE:LINE: text" (as many as fit). */
struct config_error {
    char text[2048];
};

/* Gets each warning line: a key RabbitMQ knows that Warren does not use, a value RabbitMQ
 * replaces with its default. */
typedef void config_warn_fn(void *ctx, const char *text);

/* Reads the file at path (and what it includes) into cfg, over what cfg holds. Returns 0, or
 * -1 with err filled; cfg may then be half-changed. */
int config_load_file(struct config_store *store, const char *path, struct broker_config *cfg,
                     config_warn_fn *warn, void *warn_ctx, struct config_error *err);
/* The same for text already in memory, named name in messages (includes are relative to it). */
int config_load_text(struct config_store *store, const char *name, const char *text, size_t len,
                     struct broker_config *cfg, config_warn_fn *warn, void *warn_ctx,
                     struct config_error *err);
void config_store_free(struct config_store *store);

/* RABBITMQ_CONFIG_FILE's lookup: name itself when it is a regular file, else name.conf.
 * Returns the path (name or out), or NULL when neither exists. *erlang_format is set when
 * the file found is RabbitMQ's older Erlang-term format (name.config), which Warren cannot
 * read. */
const char *config_find_rabbitmq_file(const char *name, char *out, size_t len, int *erlang_format);

/* The keys RabbitMQ 3.10's schemas define (src/config_keys.c); "$x" segments are wildcards. */
extern const char *const config_rabbitmq_keys[];
extern const size_t config_rabbitmq_key_count;

#endif
