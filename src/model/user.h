/* A broker user: name and salted SHA-256 password hash, as RabbitMQ stores them. */
#ifndef USER_H
#define USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"

struct user {
    struct list link; /* in broker.users */
    char *name;
    uint8_t salt[4];
    uint8_t hash[32]; /* SHA-256(salt ++ password) */
};

struct user *user_new(const char *name, const char *password);
void user_free(struct user *u);
/* Constant-time comparison of a password against the stored hash. */
bool user_check_password(const struct user *u, const uint8_t *password, size_t len);

#endif
