/* Names in a certificate as RabbitMQ spells them (rabbit_ssl, rabbit_cert_info): the login
 * name SASL EXTERNAL takes, the subject and issuer the management API shows. */
#include "net/cert_name.h"

#include <stdio.h>
#include <string.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct name_writer {
    char *out;
    size_t len, used;
    bool overflow;
    bool nul; /* an unescaped value held a NUL: the name would be cut short */
};

static void put_char(struct name_writer *w, char ch)
{
    if (w->used + 1 >= w->len) {
        w->overflow = true;
        return;
    }
    w->out[w->used++] = ch;
    w->out[w->used] = 0;
}

static void put_text(struct name_writer *w, const char *text)
{
    while (*text)
        put_char(w, *text++);
}

/* RabbitMQ's attribute names (rabbit_cert_info:format_rdn); others as a dotted OID. */
static void put_attribute_name(struct name_writer *w, const ASN1_OBJECT *obj)
{
    static const struct { int nid; const char *name; } names[] = {
        {NID_surname, "SN"}, {NID_givenName, "GIVENNAME"}, {NID_initials, "INITIALS"},
        {NID_generationQualifier, "GENERATIONQUALIFIER"}, {NID_commonName, "CN"},
        {NID_localityName, "L"}, {NID_stateOrProvinceName, "ST"},
        {NID_organizationName, "O"}, {NID_organizationalUnitName, "OU"}, {NID_title, "TITLE"},
        {NID_countryName, "C"}, {NID_serialNumber, "SERIALNUMBER"}, {NID_pseudonym, "PSEUDONYM"},
        {NID_domainComponent, "DC"}, {NID_pkcs9_emailAddress, "EMAILADDRESS"},
        {NID_streetAddress, "STREET"}, {NID_userId, "UID"}};
    int nid = OBJ_obj2nid(obj);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (names[i].nid == nid) {
            put_text(w, names[i].name);
            return;
        }
    }
    char oid[128];
    OBJ_obj2txt(oid, sizeof oid, obj, 1);
    put_text(w, oid);
}

/* RFC 4514 escaping as rabbit_cert_info:escape_rdn_value does it: a leading space or #, a
 * trailing space, the specials, and every byte outside 32..125 as \XX. */
static void put_escaped(struct name_writer *w, const unsigned char *v, size_t n, bool escape)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = v[i];
        if (!escape) {
            w->nul |= ch == 0;
            put_char(w, (char)ch);
        } else if ((i == 0 && (ch == ' ' || ch == '#')) || (i == n - 1 && ch == ' ') ||
                   (ch && strchr("\"+,;<>\\", ch))) {
            put_char(w, '\\');
            put_char(w, (char)ch);
        } else if (ch < 32 || ch >= 126) {
            char hex[4];
            snprintf(hex, sizeof hex, "\\%02X", ch);
            put_text(w, hex);
        } else {
            put_char(w, (char)ch);
        }
    }
}

static void put_value(struct name_writer *w, const X509_NAME_ENTRY *e, bool escape)
{
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (n >= 0)
        put_escaped(w, utf8, (size_t)n, escape);
    OPENSSL_free(utf8);
}

/* distinguished_name: the RDNs last first, joined with ",", a multi-valued one's parts with
 * "+". */
static void put_distinguished_name(struct name_writer *w, const X509_NAME *name)
{
    int last = X509_NAME_entry_count(name) - 1;
    while (last >= 0) {
        int set = X509_NAME_ENTRY_set(X509_NAME_get_entry(name, last)), first = last;
        while (first > 0 && X509_NAME_ENTRY_set(X509_NAME_get_entry(name, first - 1)) == set)
            first--;
        if (w->used)
            put_char(w, ',');
        for (int i = first; i <= last; i++) {
            const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
            if (i > first)
                put_char(w, '+');
            put_attribute_name(w, X509_NAME_ENTRY_get_object(e));
            put_char(w, '=');
            put_value(w, e, true);
        }
        last = first - 1;
    }
}

/* common_name: every CN in the subject's order, joined with "," (unescaped, as RabbitMQ). */
static bool put_common_names(struct name_writer *w, const X509_NAME *name)
{
    bool found = false;
    for (int i = -1; (i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) >= 0;) {
        if (found)
            put_char(w, ',');
        put_value(w, X509_NAME_get_entry(name, i), false);
        found = true;
    }
    return found;
}

/* subject_alternative_name: the index-th SAN of the configured type, as it is. */
static bool put_alternative_name(struct name_writer *w, X509 *cert, enum broker_san_type type,
                                 unsigned index)
{
    static const int kinds[] = {[BROKER_SAN_DNS] = GEN_DNS, [BROKER_SAN_EMAIL] = GEN_EMAIL,
                                [BROKER_SAN_URI] = GEN_URI};
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    bool found = false;
    unsigned seen = 0;
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && !found; i++) {
        const GENERAL_NAME *n = sk_GENERAL_NAME_value(names, i);
        if (n->type != kinds[type] || seen++ != index)
            continue;
        const ASN1_IA5STRING *v = n->d.ia5; /* dNSName, rfc822Name, uniformResourceIdentifier */
        put_escaped(w, ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v), false);
        found = true;
    }
    GENERAL_NAMES_free(names);
    return found;
}

void cert_distinguished_name(const X509_NAME *name, char *out, size_t len)
{
    struct name_writer w = {out, len, 0, false, false};
    out[0] = 0;
    put_distinguished_name(&w, name);
}

bool cert_login_name(X509 *cert, const struct broker_config *cfg, char *out, size_t len,
                     const char **why)
{
    struct name_writer w = {out, len, 0, false, false};
    out[0] = 0;
    const X509_NAME *subject = X509_get_subject_name(cert);
    if (cfg->ssl_cert_login_from == BROKER_CERT_LOGIN_CN ||
        cfg->ssl_cert_login_from == BROKER_CERT_LOGIN_SAN) {
        bool found = cfg->ssl_cert_login_from == BROKER_CERT_LOGIN_CN
                         ? put_common_names(&w, subject)
                         : put_alternative_name(&w, cert, cfg->ssl_cert_login_san_type,
                                                cfg->ssl_cert_login_san_index);
        if (!found) {
            *why = "no name found";
            return false;
        }
    } else {
        put_distinguished_name(&w, subject);
    }
    if (w.overflow || w.nul) {
        *why = w.nul ? "the certificate's name holds a NUL byte"
                     : "the certificate's name is longer than Warren's user names";
        return false;
    }
    return true;
}
