/* A broker user: name, password hash as RabbitMQ stores it, tags, limits and its sessions. */
#include "model/user.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/random.h"

static const EVP_MD *digest_of(enum password_hashing hashing)
{
    switch (hashing) {
    case PASSWORD_SHA512: return EVP_sha512();
    case PASSWORD_MD5: return EVP_md5();
    case PASSWORD_SHA256: break;
    }
    return EVP_sha256();
}

static size_t hash_password(enum password_hashing hashing, const uint8_t salt[4],
                            const uint8_t *password, size_t len, uint8_t *out)
{
    unsigned n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, digest_of(hashing), NULL) ||
        !EVP_DigestUpdate(ctx, salt, 4) || !EVP_DigestUpdate(ctx, password, len) ||
        !EVP_DigestFinal_ex(ctx, out, &n))
        abort();
    EVP_MD_CTX_free(ctx);
    return n;
}

static void forget_pending(struct user *u)
{
    if (!u->pending)
        return;
    OPENSSL_cleanse(u->pending, u->pending_len);
    free(u->pending);
    u->pending = NULL;
}

/* A password set by user_set_password is hashed when its hash is first needed: OpenSSL's first
 * digest loads its providers (about 2 MiB resident), which a broker nobody has logged in to
 * (a throwaway one in a test suite) need not carry. The hash is a cache of the password, so
 * filling it in through a const pointer changes nothing a caller can see. */
static void settle(const struct user *shown)
{
    struct user *u = (struct user *)shown;
    if (!u->pending)
        return;
    u->hash_len = 4 + hash_password(u->hashing, u->hash, u->pending, u->pending_len, u->hash + 4);
    forget_pending(u);
}

struct user *user_new(const char *name)
{
    struct user *u = xcalloc(1, sizeof *u);
    u->name = xstrdup(name);
    u->max_connections = u->max_channels = USER_NO_LIMIT;
    list_init(&u->link);
    list_init(&u->sessions);
    return u;
}

void user_free(struct user *u)
{
    if (!u)
        return;
    forget_pending(u);
    string_list_free(&u->tags);
    free(u->name);
    free(u);
}

void user_set_password(struct user *u, const uint8_t *password, size_t len)
{
    forget_pending(u);
    u->hashing = PASSWORD_SHA256;
    random_bytes(u->hash, 4);
    u->hash_len = 0;
    u->pending = xmalloc(len ? len : 1);
    memcpy(u->pending, password, len);
    u->pending_len = len;
}

void user_clear_password(struct user *u)
{
    forget_pending(u);
    u->hash_len = 0;
}

bool user_set_password_hash(struct user *u, const char *base64, enum password_hashing hashing)
{
    size_t len = strlen(base64);
    if (len == 0) {
        u->hashing = hashing;
        user_clear_password(u);
        return true;
    }
    size_t want = 4 + (size_t)EVP_MD_get_size(digest_of(hashing));
    uint8_t decoded[USER_HASH_BASE64_SIZE];
    /* EVP_DecodeBlock counts padding as data bytes: subtract what the '=' stood for. */
    if (len % 4 || len > sizeof decoded * 4 / 3)
        return false;
    int n = EVP_DecodeBlock(decoded, (const unsigned char *)base64, (int)len);
    if (n < 0)
        return false;
    size_t pad = (base64[len - 1] == '=') + (len > 1 && base64[len - 2] == '=');
    if ((size_t)n - pad != want)
        return false;
    forget_pending(u);
    u->hashing = hashing;
    memcpy(u->hash, decoded, want);
    u->hash_len = want;
    return true;
}

void user_password_hash_base64(const struct user *u, char out[USER_HASH_BASE64_SIZE])
{
    settle(u);
    EVP_EncodeBlock((unsigned char *)out, u->hash, (int)u->hash_len);
}

static const char *const hashing_names[] = {
    [PASSWORD_SHA256] = "rabbit_password_hashing_sha256",
    [PASSWORD_SHA512] = "rabbit_password_hashing_sha512",
    [PASSWORD_MD5] = "rabbit_password_hashing_md5",
};

bool user_parse_hashing(const char *name, enum password_hashing *out)
{
    for (size_t i = 0; i < sizeof hashing_names / sizeof *hashing_names; i++) {
        if (strcmp(name, hashing_names[i]) == 0) {
            *out = (enum password_hashing)i;
            return true;
        }
    }
    return false;
}

const char *user_hashing_name(enum password_hashing hashing)
{
    return hashing_names[hashing];
}

bool user_check_password(const struct user *u, const uint8_t *password, size_t len)
{
    uint8_t hash[64];
    if (!u) {
        static const uint8_t no_salt[4];
        hash_password(PASSWORD_SHA256, no_salt, password, len, hash);
        return false;
    }
    settle(u); /* a second digest, once, at a user's first login after its password was set */
    /* a user without a password still costs one digest */
    size_t n = hash_password(u->hashing, u->hash, password, len, hash);
    return u->hash_len == 4 + n && CRYPTO_memcmp(hash, u->hash + 4, n) == 0;
}

static unsigned tag_bit(const char *tag)
{
    static const struct { const char *name; unsigned bit; } known[] = {
        {"administrator", USER_TAG_ADMINISTRATOR}, {"monitoring", USER_TAG_MONITORING},
        {"policymaker", USER_TAG_POLICYMAKER},     {"management", USER_TAG_MANAGEMENT},
        {"impersonator", USER_TAG_IMPERSONATOR},
    };
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(tag, known[i].name) == 0)
            return known[i].bit;
    return 0;
}

void user_set_tags(struct user *u, const char *const *tags, size_t ntags)
{
    string_list_set(&u->tags, tags, ntags);
    u->tag_bits = 0;
    for (size_t i = 0; i < u->tags.count; i++)
        u->tag_bits |= tag_bit(u->tags.items[i]);
}

bool user_has_tag(const struct user *u, enum user_tag tag)
{
    return (u->tag_bits & tag) != 0;
}
