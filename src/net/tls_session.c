/* One TLS session over OpenSSL memory BIOs: ciphertext from the socket in, plaintext out, and back. */
#include "net/tls_session.h"

#include <limits.h>
#include <stdlib.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/alloc.h"

/* Plaintext goes to OpenSSL this much at a time, its ciphertext moved out after each: the
 * memory BIO never holds more than about one record. */
#define ENCRYPT_CHUNK (16u << 10)

bool tls_session_init(struct tls_session *t, SSL_CTX *ctx)
{
    *t = (struct tls_session){0};
    t->ssl = SSL_new(ctx);
    t->net_in = BIO_new(BIO_s_mem());
    t->net_out = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->net_in || !t->net_out) {
        SSL_free(t->ssl);
        BIO_free(t->net_in);
        BIO_free(t->net_out);
        *t = (struct tls_session){0};
        return false;
    }
    SSL_set_bio(t->ssl, t->net_in, t->net_out);
    SSL_set_accept_state(t->ssl);
    return true;
}

void tls_session_free(struct tls_session *t)
{
    SSL_free(t->ssl); /* and both BIOs */
    *t = (struct tls_session){0};
}

bool tls_session_feed(struct tls_session *t, const char *data, size_t len)
{
    return len <= INT_MAX && BIO_write(t->net_in, data, (int)len) == (int)len;
}

enum tls_handshake tls_session_handshake(struct tls_session *t)
{
    if (t->established)
        return TLS_HANDSHAKE_DONE;
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        t->established = true;
        return TLS_HANDSHAKE_DONE;
    }
    int e = SSL_get_error(t->ssl, rc);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? TLS_HANDSHAKE_WANT
                                                                 : TLS_HANDSHAKE_FAILED;
}

ssize_t tls_session_read(struct tls_session *t, char *buf, size_t len)
{
    int rc = SSL_read(t->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
    if (rc > 0)
        return rc;
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_ZERO_RETURN)
        return TLS_READ_CLOSED;
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? TLS_READ_AGAIN : TLS_READ_FAILED;
}

void tls_session_take(struct tls_session *t, struct tls_ciphertext *out)
{
    size_t n = BIO_ctrl_pending(t->net_out);
    if (n == 0)
        return;
    if (out->len + n > out->cap) {
        out->cap = out->len + n > 2 * out->cap ? out->len + n : 2 * out->cap;
        out->p = xrealloc(out->p, out->cap);
    }
    int got = BIO_read(t->net_out, out->p + out->len, (int)n);
    if (got > 0)
        out->len += (size_t)got;
}

bool tls_session_encrypt(struct tls_session *t, const char *data, size_t len,
                         struct tls_ciphertext *out)
{
    for (size_t at = 0; at < len; at += ENCRYPT_CHUNK) {
        int part = (int)(len - at < ENCRYPT_CHUNK ? len - at : ENCRYPT_CHUNK);
        if (SSL_write(t->ssl, data + at, part) != part)
            return false;
        tls_session_take(t, out);
    }
    return true;
}

bool tls_session_has_output(const struct tls_session *t)
{
    return BIO_ctrl_pending(t->net_out) != 0;
}

void tls_session_shutdown(struct tls_session *t)
{
    SSL_shutdown(t->ssl);
}

bool tls_session_refuse(struct tls_session *t)
{
    static const unsigned char unexpected_message[] = {0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x0a};
    if (tls_session_has_output(t))
        return false;
    BIO_write(t->net_out, unexpected_message, sizeof unexpected_message);
    return true;
}

static BIO *fresh_if_grown(BIO *bio, size_t max)
{
    BUF_MEM *mem = NULL;
    if (BIO_ctrl_pending(bio) != 0 || BIO_get_mem_ptr(bio, &mem) <= 0 || !mem || mem->max <= max)
        return NULL;
    return BIO_new(BIO_s_mem());
}

void tls_session_trim_input(struct tls_session *t, size_t max)
{
    BIO *in = fresh_if_grown(t->net_in, max);
    if (in) {
        SSL_set0_rbio(t->ssl, in); /* frees the old one */
        t->net_in = in;
    }
}

void tls_session_trim_output(struct tls_session *t, size_t max)
{
    BIO *out = fresh_if_grown(t->net_out, max);
    if (out) {
        SSL_set0_wbio(t->ssl, out);
        t->net_out = out;
    }
}

void tls_ciphertext_trim(struct tls_ciphertext *out, size_t max)
{
    if (out->len == 0 && out->cap > max)
        tls_ciphertext_free(out);
}

void tls_ciphertext_free(struct tls_ciphertext *out)
{
    free(out->p);
    *out = (struct tls_ciphertext){0};
}
