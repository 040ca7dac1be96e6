/* A TLS session's details as the management API shows them, named as Erlang's ssl names them. */
#include "net/tls_info.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "net/cert_name.h"

struct nid_name {
    int nid;
    const char *name;
};

static const char *name_of(const struct nid_name *names, size_t n, int nid)
{
    for (size_t i = 0; i < n; i++)
        if (names[i].nid == nid)
            return names[i].name;
    return NULL;
}

/* "any" for TLS 1.3; an ephemeral exchange names its signature too (ecdhe_rsa, dhe_dss). */
static void key_exchange_name(const SSL_CIPHER *c, char *out, size_t len)
{
    static const struct nid_name kx[] = {
        {NID_kx_any, "any"},         {NID_kx_ecdhe, "ecdhe"},         {NID_kx_dhe, "dhe"},
        {NID_kx_rsa, "rsa"},         {NID_kx_psk, "psk"},             {NID_kx_ecdhe_psk, "ecdhe_psk"},
        {NID_kx_dhe_psk, "dhe_psk"}, {NID_kx_rsa_psk, "rsa_psk"}};
    static const struct nid_name auth[] = {
        {NID_auth_rsa, "rsa"}, {NID_auth_ecdsa, "ecdsa"}, {NID_auth_dss, "dss"}};
    int kx_nid = SSL_CIPHER_get_kx_nid(c);
    const char *k = name_of(kx, sizeof kx / sizeof kx[0], kx_nid);
    const char *a = name_of(auth, sizeof auth / sizeof auth[0], SSL_CIPHER_get_auth_nid(c));
    if (a && (kx_nid == NID_kx_ecdhe || kx_nid == NID_kx_dhe))
        snprintf(out, len, "%s_%s", k, a);
    else
        snprintf(out, len, "%s", k ? k : "unknown");
}

/* OpenSSL's names lower-cased, '-' as '_': aes-256-gcm is Erlang's aes_256_gcm. */
static void erlang_name(const char *openssl_name, char *out, size_t len)
{
    size_t i = 0;
    for (; openssl_name && openssl_name[i] && i + 1 < len; i++)
        out[i] = openssl_name[i] == '-' ? '_' : (char)tolower((unsigned char)openssl_name[i]);
    out[i] = 0;
}

static void hash_name(const SSL_CIPHER *c, char *out, size_t len)
{
    if (SSL_CIPHER_is_aead(c)) { /* Erlang names the MAC of an AEAD suite "aead" */
        snprintf(out, len, "aead");
        return;
    }
    int nid = SSL_CIPHER_get_digest_nid(c);
    erlang_name(nid == NID_sha1 ? "sha" : OBJ_nid2sn(nid), out, len);
}

static void put_time(const ASN1_TIME *t, char *out, size_t len)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm) || !strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, len, "?");
}

/* RabbitMQ's peer_cert_validity: "not before - not after". */
static void validity(X509 *cert, char *out, size_t len)
{
    char from[21], to[21]; /* 2026-12-02T13:59:12Z */
    put_time(X509_get0_notBefore(cert), from, sizeof from);
    put_time(X509_get0_notAfter(cert), to, sizeof to);
    snprintf(out, len, "%s - %s", from, to);
}

void tls_info_fill(SSL *ssl, struct connection_tls_info *out)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    if (!c)
        return;
    erlang_name(SSL_get_version(ssl), out->protocol, sizeof out->protocol); /* tlsv1.3 */
    key_exchange_name(c, out->key_exchange, sizeof out->key_exchange);
    erlang_name(OBJ_nid2ln(SSL_CIPHER_get_cipher_nid(c)), out->cipher, sizeof out->cipher);
    hash_name(c, out->hash, sizeof out->hash);
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (!cert)
        return;
    cert_distinguished_name(X509_get_subject_name(cert), out->peer_subject,
                            sizeof out->peer_subject);
    cert_distinguished_name(X509_get_issuer_name(cert), out->peer_issuer, sizeof out->peer_issuer);
    validity(cert, out->peer_validity, sizeof out->peer_validity);
}
