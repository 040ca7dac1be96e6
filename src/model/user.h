/* A broker user: name, password hash as RabbitMQ stores it, tags, limits and its sessions. */
#ifndef USER_H
#define USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"
#include "core/string_list.h"

/* The tags RabbitMQ gives a meaning; others are kept and shown but grant nothing. */
enum user_tag {
    USER_TAG_ADMINISTRATOR = 1u << 0,
    USER_TAG_MONITORING = 1u << 1,
    USER_TAG_POLICYMAKER = 1u << 2,
    USER_TAG_MANAGEMENT = 1u << 3,
    USER_TAG_IMPERSONATOR = 1u << 4,
};

/* RabbitMQ's rabbit_password_hashing_* modules: base64(salt[4] ++ H(salt ++ password)). */
enum password_hashing { PASSWORD_SHA256, PASSWORD_SHA512, PASSWORD_MD5 };

#define USER_HASH_MAX (4 + 64)
/* Limits are kept as set (RabbitMQ shows -1 back); any negative one limits nothing. */
#define USER_NO_LIMIT INT64_MIN

struct user {
    struct list link; /* in broker.users */
    char *name;
    enum password_hashing hashing;
    uint8_t hash[USER_HASH_MAX]; /* salt then digest */
    size_t hash_len;             /* 0: no password, so no password login */
    uint8_t *pending;            /* a password set but not hashed yet (user.c's settle) */
    size_t pending_len;
    struct string_list tags;     /* as given, in order */
    unsigned tag_bits;           /* enum user_tag of the known ones */
    int64_t max_connections;     /* USER_NO_LIMIT, or the most sessions at once */
    int64_t max_channels;        /* across all its connections */
    struct list sessions;        /* struct session.in_user: its open connections */
    uint32_t session_count;
    uint32_t channel_count;
};

struct user *user_new(const char *name);
void user_free(struct user *u);

/* A fresh 4-byte salt and the SHA-256 hash, as RabbitMQ's default hashing does. */
void user_set_password(struct user *u, const uint8_t *password, size_t len);
void user_clear_password(struct user *u);
/* A hash as an export carries it ("" clears it); false when it is not base64 of a salt and
 * a digest of the algorithm's size. */
bool user_set_password_hash(struct user *u, const char *base64, enum password_hashing hashing);
/* The hash as exports show it; out needs USER_HASH_BASE64_SIZE bytes. */
#define USER_HASH_BASE64_SIZE 96
void user_password_hash_base64(const struct user *u, char out[USER_HASH_BASE64_SIZE]);
/* "rabbit_password_hashing_sha256" and the like; false for anything else. */
bool user_parse_hashing(const char *name, enum password_hashing *out);
const char *user_hashing_name(enum password_hashing hashing);

/* Constant-time comparison of a password against the stored hash. u NULL (no such user):
 * false, after the same digest, so that an unknown name costs what a wrong password does. */
bool user_check_password(const struct user *u, const uint8_t *password, size_t len);

/* Replaces the tags; empty names are skipped, as RabbitMQ does with "a,,b". */
void user_set_tags(struct user *u, const char *const *tags, size_t ntags);
bool user_has_tag(const struct user *u, enum user_tag tag);

#endif
