/* A broker user: name and salted SHA-256 password hash, as RabbitMQ stores them. */
#include "model/user.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

static void hash_password(const uint8_t salt[4], const uint8_t *password, size_t len, uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) || !EVP_DigestUpdate(ctx, salt, 4) ||
        !EVP_DigestUpdate(ctx, password, len) || !EVP_DigestFinal_ex(ctx, out, NULL))
        abort();
    EVP_MD_CTX_free(ctx);
}

struct user *user_new(const char *name, const char *password)
{
    struct user *u = xcalloc(1, sizeof *u);
    u->name = xstrdup(name);
    if (RAND_bytes(u->salt, sizeof u->salt) != 1)
        abort();
    list_init(&u->link);
    hash_password(u->salt, (const uint8_t *)password, strlen(password), u->hash);
    return u;
}

void user_free(struct user *u)
{
    if (!u)
        return;
    free(u->name);
    free(u);
}

bool user_check_password(const struct user *u, const uint8_t *password, size_t len)
{
    uint8_t hash[32];
    hash_password(u->salt, password, len, hash);
    return CRYPTO_memcmp(hash, u->hash, sizeof hash) == 0;
}
