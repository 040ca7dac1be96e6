/* A TLS server context built from one set of rabbitmq.conf ssl options (certificates, key, verify, versions, ciphers). */
#include "net/tls_context.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/alloc.h"

/* TLS 1.2 ciphers unless ciphers.N says: forward-secret AEAD ones only (Erlang's default list,
 * RabbitMQ's, also has CBC suites); TLS 1.3's are OpenSSL's, all AEAD. */
#define DEFAULT_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL"

void tls_context_error(char *out, size_t len)
{
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, out, len);
    else
        snprintf(out, len, "unknown error");
    ERR_clear_error();
}

static int version_number(const char *name)
{
    if (strcmp(name, "tlsv1.3") == 0)
        return TLS1_3_VERSION;
    if (strcmp(name, "tlsv1.2") == 0)
        return TLS1_2_VERSION;
    if (strcmp(name, "tlsv1.1") == 0)
        return TLS1_1_VERSION;
    return TLS1_VERSION;
}

/* versions.N name the versions; OpenSSL takes the range from the lowest to the highest. */
static bool set_versions(SSL_CTX *ctx, const struct broker_tls_options *o)
{
    int min = TLS1_2_VERSION, max = TLS1_3_VERSION;
    if (o->version_count) {
        min = INT_MAX;
        max = 0;
        for (size_t i = 0; i < o->version_count; i++) {
            int v = version_number(o->versions[i]);
            min = v < min ? v : min;
            max = v > max ? v : max;
        }
    }
    return SSL_CTX_set_min_proto_version(ctx, min) && SSL_CTX_set_max_proto_version(ctx, max);
}

/* ciphers.N mix TLS 1.3 suites (TLS_*) and TLS 1.2 ciphers, which OpenSSL sets apart; a kind
 * not named keeps its default. */
static bool set_ciphers(SSL_CTX *ctx, const struct broker_tls_options *o, const char *keys,
                        char *why, size_t why_size)
{
    size_t total = 1;
    for (size_t i = 0; i < o->cipher_count; i++)
        total += strlen(o->ciphers[i]) + 1;
    char *v12 = xcalloc(1, total), *v13 = xcalloc(1, total);
    for (size_t i = 0; i < o->cipher_count; i++) {
        char *list = strncmp(o->ciphers[i], "TLS_", 4) == 0 ? v13 : v12;
        if (*list)
            strcat(list, ":");
        strcat(list, o->ciphers[i]);
    }
    bool ok = true;
    if (!SSL_CTX_set_cipher_list(ctx, *v12 ? v12 : DEFAULT_CIPHERS)) {
        snprintf(why, why_size, "%s.ciphers: OpenSSL knows none of %s", keys, v12);
        ok = false;
    } else if (*v13 && !SSL_CTX_set_ciphersuites(ctx, v13)) {
        snprintf(why, why_size, "%s.ciphers: OpenSSL does not know all of %s", keys, v13);
        ok = false;
    }
    free(v12);
    free(v13);
    ERR_clear_error();
    return ok;
}

static bool load_files(SSL_CTX *ctx, const struct broker_tls_options *o, const char *keys,
                       char *why, size_t why_size)
{
    char err[256];
    if (o->password) /* OpenSSL's default callback takes the user data as the passphrase */
        SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)o->password);
    if (!SSL_CTX_use_certificate_chain_file(ctx, o->certfile)) {
        tls_context_error(err, sizeof err);
        snprintf(why, why_size, "%s.certfile %s: cannot load the certificate: %s", keys,
                 o->certfile, err);
        return false;
    }
    if (!SSL_CTX_use_PrivateKey_file(ctx, o->keyfile, SSL_FILETYPE_PEM)) {
        unsigned long e = ERR_peek_last_error();
        bool mismatch = ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH;
        tls_context_error(err, sizeof err);
        if (mismatch) {
            snprintf(why, why_size, "%s.keyfile %s does not match the certificate in %s.certfile %s",
                     keys, o->keyfile, keys, o->certfile);
            return false;
        }
        snprintf(why, why_size, "%s.keyfile %s: cannot load the private key%s%s%s: %s", keys,
                 o->keyfile, o->password ? " (with " : "", o->password ? keys : "",
                 o->password ? ".password)" : "", err);
        return false;
    }
    if (!SSL_CTX_check_private_key(ctx)) {
        tls_context_error(err, sizeof err);
        snprintf(why, why_size, "%s.keyfile %s does not match %s.certfile %s: %s", keys,
                 o->keyfile, keys, o->certfile, err);
        return false;
    }
    if (o->cacertfile) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->cacertfile);
        if (!names || !SSL_CTX_load_verify_locations(ctx, o->cacertfile, NULL)) {
            tls_context_error(err, sizeof err);
            snprintf(why, why_size, "%s.cacertfile %s: cannot load the CA certificates: %s",
                     keys, o->cacertfile, err);
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            return false;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
    }
    return true;
}

SSL_CTX *tls_context_new(const struct broker_tls_options *o, const char *keys, char *why,
                         size_t why_size)
{
    if (!o->certfile || !o->keyfile) {
        snprintf(why, why_size, "a TLS listener needs %s.certfile and %s.keyfile", keys, keys);
        return NULL;
    }
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        char err[256];
        tls_context_error(err, sizeof err);
        snprintf(why, why_size, "cannot make a TLS context: %s", err);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                        (o->honor_cipher_order ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* idle connections hold no record buffers */
    SSL_CTX_set_dh_auto(ctx, 1);
    static const unsigned char session_context[] = "warren";
    SSL_CTX_set_session_id_context(ctx, session_context, sizeof session_context - 1);
    if (!set_versions(ctx, o)) {
        snprintf(why, why_size, "%s.versions: OpenSSL refuses that range", keys);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (!set_ciphers(ctx, o, keys, why, why_size) || !load_files(ctx, o, keys, why, why_size)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (o->verify_peer)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
                           (o->fail_if_no_peer_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
    /* Erlang's ssl counts depth as OpenSSL does (intermediates allowed), and defaults to 10 */
    SSL_CTX_set_verify_depth(ctx, o->depth >= 0 ? o->depth : 10);
    return ctx;
}
