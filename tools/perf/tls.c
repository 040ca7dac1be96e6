/* TLS for warren-perf's connections: OpenSSL reads and writes the non-blocking socket itself. */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "clock.h"

static void last_error(char *err, size_t err_size, const char *what)
{
    unsigned long code = ERR_get_error();
    char reason[256] = "no detail";
    if (code)
        ERR_error_string_n(code, reason, sizeof reason);
    ERR_clear_error();
    snprintf(err, err_size, "%s: %s", what, reason);
}

SSL_CTX *tls_context_new(const char *cacert, char *err, size_t err_size)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        last_error(err, err_size, "SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int loaded = cacert ? SSL_CTX_load_verify_locations(ctx, cacert, NULL)
                        : SSL_CTX_set_default_verify_paths(ctx);
    if (loaded != 1) {
        last_error(err, err_size, cacert ? cacert : "the system's CA certificates");
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* The output buffer is written a record at a time and may move (grow) between retries. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
}

void tls_context_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}

static bool is_ip_address(const char *host)
{
    unsigned char addr[16];
    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* The name the certificate must carry; SNI only for DNS names, as RFC 6066 says. */
static int expect_host(SSL *ssl, const char *host)
{
    if (is_ip_address(host))
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    return SSL_set1_host(ssl, host) == 1 && SSL_set_tlsext_host_name(ssl, host) == 1;
}

static int wait_socket(int fd, short events, uint64_t deadline)
{
    uint64_t now = clock_now_ns();
    if (now >= deadline)
        return -1;
    struct pollfd p = {.fd = fd, .events = events};
    int rc = poll(&p, 1, (int)((deadline - now) / 1000000 + 1));
    return rc > 0 || (rc < 0 && errno == EINTR) ? 0 : -1;
}

static void handshake_error(SSL *ssl, int rc, char *err, size_t err_size)
{
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
        ERR_clear_error();
        snprintf(err, err_size, "TLS handshake: certificate rejected: %s",
                 X509_verify_cert_error_string(verify));
    } else if (SSL_get_error(ssl, rc) == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        snprintf(err, err_size, "TLS handshake: %s", errno ? strerror(errno) : "connection closed");
    } else {
        last_error(err, err_size, "TLS handshake");
    }
}

SSL *tls_connect(SSL_CTX *ctx, int fd, const char *host, char *err, size_t err_size)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1 || expect_host(ssl, host) != 1) {
        last_error(err, err_size, "TLS set-up");
        SSL_free(ssl);
        return NULL;
    }
    uint64_t deadline = clock_now_ns() + TLS_HANDSHAKE_TIMEOUT_MS * 1000000ull;
    for (;;) {
        int rc = SSL_connect(ssl);
        if (rc == 1)
            return ssl;
        int why = SSL_get_error(ssl, rc);
        short events = why == SSL_ERROR_WANT_READ    ? POLLIN
                       : why == SSL_ERROR_WANT_WRITE ? POLLOUT
                                                     : 0;
        if (events && wait_socket(fd, events, deadline) == 0)
            continue;
        if (events)
            snprintf(err, err_size, "TLS handshake: timed out");
        else
            handshake_error(ssl, rc, err, err_size);
        SSL_free(ssl);
        return NULL;
    }
}

void tls_free(SSL *ssl)
{
    SSL_free(ssl);
}

ssize_t tls_read(SSL *ssl, uint8_t *buf, size_t len, bool *drained)
{
    size_t total = 0;
    *drained = false;
    while (total < len) {
        size_t n;
        if (SSL_read_ex(ssl, buf + total, len - total, &n) == 1) {
            total += n;
            continue;
        }
        int why = SSL_get_error(ssl, 0);
        if (why == SSL_ERROR_WANT_READ || why == SSL_ERROR_WANT_WRITE) {
            *drained = true;
            return (ssize_t)total;
        }
        ERR_clear_error();
        return total ? (ssize_t)total : -1; /* the error comes back on the next call */
    }
    return (ssize_t)total;
}

ssize_t tls_write(SSL *ssl, const uint8_t *buf, size_t len)
{
    size_t n;
    if (SSL_write_ex(ssl, buf, len, &n) == 1)
        return (ssize_t)n;
    int why = SSL_get_error(ssl, 0);
    if (why == SSL_ERROR_WANT_WRITE || why == SSL_ERROR_WANT_READ)
        return 0;
    ERR_clear_error();
    return -1;
}

void tls_describe(SSL *ssl, char *out, size_t size)
{
    snprintf(out, size, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}
