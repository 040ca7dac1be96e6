/* Permissions: a user's configure, write and read patterns in a vhost, and topic permissions
 * on an exchange's routing keys, matched as RabbitMQ matches them (PCRE2 for Erlang's re). */
#ifndef PERMISSION_H
#define PERMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"
#include "core/map.h"

struct pcre2_real_code_8;
struct pcre2_real_match_data_8;

/* RabbitMQ runs re:run(Name, Pattern): a search anywhere in the name, not a whole-name match,
 * over the name's bytes (no UTF-8 mode); an empty pattern stands for "^$". */
struct permission_regex {
    char *source;                           /* as the user gave it */
    struct pcre2_real_code_8 *code;
    struct pcre2_real_match_data_8 *match;
    bool matches_all;                       /* ".*": no need to run it */
};

/* Compiles source (after any topic variables were expanded); on failure writes PCRE2's
 * reason into err and leaves r empty. */
bool permission_regex_compile(struct permission_regex *r, const char *source, char *err,
                              size_t err_size);
void permission_regex_free(struct permission_regex *r);
bool permission_regex_matches(const struct permission_regex *r, const uint8_t *s, size_t len);

enum permission_kind { PERMISSION_CONFIGURE, PERMISSION_WRITE, PERMISSION_READ };

/* One user's permissions in one vhost. */
struct permission {
    char *user;
    struct permission_regex patterns[3]; /* by enum permission_kind */
};

/* NULL when a pattern does not compile (err says why). */
struct permission *permission_new(const char *user, const char *configure, const char *write,
                                  const char *read, char *err, size_t err_size);
void permission_free(struct permission *p);

/* A user's topic permission on one exchange of a vhost: patterns on routing keys, with
 * {username} and {vhost} replaced before compiling, as RabbitMQ's AMQP context does. */
struct topic_permission {
    struct list link; /* in the vhost's list */
    char *user;
    char *exchange;
    char *write_source, *read_source; /* unexpanded, as set and exported */
    struct permission_regex write, read;
};

struct topic_permission *topic_permission_new(const char *user, const char *vhost,
                                              const char *exchange, const char *write,
                                              const char *read, char *err, size_t err_size);
void topic_permission_free(struct topic_permission *t);

/* A vhost's permissions and topic permissions. */
struct permission_set {
    struct map by_user;  /* user name -> struct permission */
    struct list topics;  /* struct topic_permission, in the order set */
    uint64_t epoch;      /* bumped on every change, so sessions know to look again */
};

void permission_set_init(struct permission_set *s);
void permission_set_free(struct permission_set *s);
const struct permission *permission_set_find(const struct permission_set *s, const char *user);
/* Takes p, replacing the user's earlier permissions. */
void permission_set_put(struct permission_set *s, struct permission *p);
bool permission_set_remove(struct permission_set *s, const char *user);
/* Takes t, replacing the user's earlier one for the same exchange. */
void permission_set_put_topic(struct permission_set *s, struct topic_permission *t);
/* exchange NULL: all of the user's; false when there was none. */
bool permission_set_remove_topic(struct permission_set *s, const char *user, const char *exchange);
const struct topic_permission *permission_set_find_topic(const struct permission_set *s,
                                                         const char *user, const uint8_t *exchange,
                                                         size_t len);

#endif
