/* rabbitmq.conf: RabbitMQ's sysctl-style (cuttlefish) file, read into a broker configuration. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/information_unit.h"

/* The grammar is cuttlefish 3.0.1's (RabbitMQ 3.10's): no quoting (quotes stay part of the
 * value), "#" starts a comment anywhere after the value, "include PATTERN" pulls in files
 * relative to the including one, a value "$(<FILE)" is FILE's contents; the last setting of a
 * key wins. */

#define MAX_INCLUDE_DEPTH 16
#define MAX_SEGMENTS 16

/* ---- the store ---- */

static void *keep(struct config_store *store, void *p)
{
    if (store->count == store->cap) {
        store->cap = store->cap ? store->cap * 2 : 16;
        store->blocks = xrealloc_array(store->blocks, store->cap, sizeof *store->blocks);
    }
    store->blocks[store->count++] = p;
    return p;
}

static char *keep_string(struct config_store *store, const char *s)
{
    size_t n = strlen(s) + 1;
    return keep(store, xmemdup(s, n));
}

void config_store_free(struct config_store *store)
{
    for (size_t i = 0; i < store->count; i++)
        free(store->blocks[i]);
    free(store->blocks);
    *store = (struct config_store){0};
}

/* ---- reading files into settings ---- */

struct setting {
    char *segments[MAX_SEGMENTS];
    size_t segment_count;
    char *key;   /* the segments joined by '.', as RabbitMQ names the key in messages */
    char *value;
    const char *file;
    int line;
};

struct reader {
    struct setting *settings;
    size_t count, cap;
    char **files;  /* the names settings point at */
    size_t file_count;
    struct config_error *err;
    size_t err_len;
    int errors;
};

static void report(struct reader *r, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report(struct reader *r, const char *file, int line, const char *fmt, ...)
{
    r->errors++;
    char *out = r->err->text + r->err_len;
    size_t room = sizeof r->err->text - r->err_len;
    if (room < 2)
        return;
    int n = line > 0 ? snprintf(out, room, "%s%s:%d: ", r->err_len ? "\n" : "", file, line)
                     : snprintf(out, room, "%s%s: ", r->err_len ? "\n" : "", file);
    if (n < 0 || (size_t)n >= room) {
        r->err_len = sizeof r->err->text - 1;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(out + n, room - (size_t)n, fmt, ap);
    va_end(ap);
    size_t total = (size_t)n + (m < 0 ? 0 : (size_t)m);
    r->err_len += total < room ? total : room - 1;
}

static const char *remember_file(struct reader *r, const char *name)
{
    r->files = xrealloc_array(r->files, r->file_count + 1, sizeof *r->files);
    size_t n = strlen(name) + 1;
    return r->files[r->file_count++] = xmemdup(name, n);
}

static void setting_free(struct setting *s)
{
    for (size_t i = 0; i < s->segment_count; i++)
        free(s->segments[i]);
    free(s->key);
    free(s->value);
}

static void reader_free(struct reader *r)
{
    for (size_t i = 0; i < r->count; i++)
        setting_free(&r->settings[i]);
    free(r->settings);
    for (size_t i = 0; i < r->file_count; i++)
        free(r->files[i]);
    free(r->files);
}

static char *copy_span(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    memcpy(out, s, n);
    out[n] = 0;
    return out;
}

static bool is_ws(char c) { return c == ' ' || c == '\t'; }

static bool is_word_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

static bool is_include_char(char c)
{
    return is_word_char(c) || c == '.' || c == '*' || c == '/';
}

/* A setting replaces an earlier one of the same key (cuttlefish's remove_duplicates). */
static void add_setting(struct reader *r, struct setting *s)
{
    for (size_t i = 0; i < r->count; i++) {
        struct setting *old = &r->settings[i];
        if (strcmp(old->key, s->key) == 0) {
            free(old->value);
            old->value = s->value;
            old->file = s->file;
            old->line = s->line;
            s->value = NULL;
            setting_free(s);
            return;
        }
    }
    if (r->count == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 32;
        r->settings = xrealloc_array(r->settings, r->cap, sizeof *r->settings);
    }
    r->settings[r->count++] = *s;
}

/* key: word ("." word)*, a word being [A-Za-z0-9_-] and "\." (a dot inside the segment). */
static bool parse_key(const char *s, size_t n, size_t *pos, struct setting *out)
{
    size_t i = *pos;
    char seg[256];
    for (;;) {
        size_t start = i, len = 0;
        while (i < n && len < sizeof seg - 1) {
            if (s[i] == '\\' && i + 1 < n && s[i + 1] == '.') {
                seg[len++] = '.';
                i += 2;
            } else if (is_word_char(s[i])) {
                seg[len++] = s[i++];
            } else {
                break;
            }
        }
        if (len == 0) {
            if (out->segment_count == 0)
                return false;
            i = start - 1; /* ("." word)* gives the dot back when no word follows it */
            break;
        }
        if (out->segment_count == MAX_SEGMENTS)
            return false;
        out->segments[out->segment_count++] = copy_span(seg, len);
        if (i < n && s[i] == '.') {
            i++;
            continue;
        }
        break;
    }
    size_t total = 0;
    for (size_t k = 0; k < out->segment_count; k++)
        total += strlen(out->segments[k]) + 1;
    out->key = xmalloc(total);
    out->key[0] = 0;
    for (size_t k = 0; k < out->segment_count; k++) {
        if (k)
            strcat(out->key, ".");
        strcat(out->key, out->segments[k]);
    }
    *pos = i;
    return true;
}

/* Where the value starting at i ends: before ws* "#", or before ws* at the end of a line that
 * a newline ends (at the end of the file trailing blanks stay, as in cuttlefish). */
static size_t value_end(const char *s, size_t n, size_t i, bool newline_follows)
{
    for (; i < n; i++) {
        size_t j = i;
        while (j < n && is_ws(s[j]))
            j++;
        if ((j < n && s[j] == '#') || (j == n && newline_follows))
            return i;
    }
    return n;
}

/* The rest of a line after a setting or include: optional blanks, then a comment or nothing. */
static bool rest_is_empty_or_comment(const char *s, size_t n, size_t i)
{
    while (i < n && is_ws(s[i]))
        i++;
    return i == n || s[i] == '#';
}

static bool parse_setting(const char *s, size_t n, bool newline_follows, struct setting *out)
{
    size_t i = 0;
    while (i < n && is_ws(s[i]))
        i++;
    if (!parse_key(s, n, &i, out))
        return false;
    while (i < n && is_ws(s[i]))
        i++;
    if (i == n || s[i] != '=')
        return false;
    i++;
    while (i < n && is_ws(s[i]))
        i++;
    size_t end = value_end(s, n, i, newline_follows);
    if (end == i)
        return false; /* an empty value is no setting */
    out->value = copy_span(s + i, end - i);
    return rest_is_empty_or_comment(s, n, end);
}

/* include: "include" ws* [A-Za-z0-9_.*\/-]+ comment? */
static bool parse_include(const char *s, size_t n, char **pattern)
{
    size_t i = 0;
    while (i < n && is_ws(s[i]))
        i++;
    if (n - i < 7 || memcmp(s + i, "include", 7) != 0)
        return false;
    i += 7;
    while (i < n && is_ws(s[i]))
        i++;
    size_t start = i;
    while (i < n && is_include_char(s[i]))
        i++;
    if (i == start)
        return false;
    size_t end = i;
    while (i < n && is_ws(s[i]))
        i++;
    if (i < n && s[i] != '#')
        return false;
    if (i == n && i != end)
        return false; /* blanks after the path without a comment: cuttlefish stops there */
    *pattern = copy_span(s + start, end - start);
    return true;
}

static bool line_is_blank_or_comment(const char *s, size_t n)
{
    return rest_is_empty_or_comment(s, n, 0);
}

static void read_file(struct reader *r, const char *path, int depth, const char *from_file,
                      int from_line);

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return copy_span(".", 1);
    return copy_span(path, slash == path ? 1 : (size_t)(slash - path));
}

static char *join_path(const char *dir, const char *name)
{
    if (name[0] == '/')
        return copy_span(name, strlen(name));
    size_t n = strlen(dir) + strlen(name) + 2;
    char *out = xmalloc(n);
    snprintf(out, n, "%s/%s", dir, name);
    return out;
}

/* The files an include names: a glob relative to the including file's directory, sorted;
 * none matching is no error (cuttlefish's filelib:wildcard). */
static void read_include(struct reader *r, const char *file, int line, const char *pattern,
                         int depth)
{
    if (depth >= MAX_INCLUDE_DEPTH) {
        report(r, file, line, "include %s: includes nest deeper than %d files", pattern,
               MAX_INCLUDE_DEPTH);
        return;
    }
    char *dir = dir_of(file);
    char *full = join_path(dir, pattern);
    glob_t g;
    int rc = glob(full, 0, NULL, &g);
    if (rc == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            read_file(r, g.gl_pathv[i], depth + 1, file, line);
    }
    if (rc != GLOB_NOMATCH)
        globfree(&g);
    free(full);
    free(dir);
}

static void parse_text(struct reader *r, const char *file, const char *text, size_t len,
                       int depth)
{
    const char *name = remember_file(r, file);
    int line = 0;
    size_t pos = 0;
    while (pos < len) {
        line++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t n = end - pos;
        const char *s = text + pos;
        if (nl && n > 0 && s[n - 1] == '\r')
            n--; /* crlf is "\r"? "\n" */
        pos = nl ? end + 1 : len;
        if (memchr(s, 0, n)) {
            report(r, name, line, "Syntax error, parsing incomplete (a NUL byte)");
            return;
        }
        struct setting st = {.file = name, .line = line};
        char *pattern = NULL;
        if (parse_setting(s, n, nl != NULL, &st)) {
            add_setting(r, &st);
            continue;
        }
        setting_free(&st);
        if (parse_include(s, n, &pattern)) {
            read_include(r, name, line, pattern, depth);
            free(pattern);
        } else if (!line_is_blank_or_comment(s, n)) {
            /* cuttlefish stops at the first line it cannot parse */
            report(r, name, line,
                   "Syntax error, parsing incomplete (a line is a setting \"key = value\", a "
                   "comment \"# ...\" or \"include FILES\")");
            return;
        }
    }
}

static char *slurp(const char *path, size_t *len, int *error)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *error = errno;
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = xrealloc(buf, cap *= 2);
    }
    *error = ferror(f) ? EIO : 0;
    fclose(f);
    if (*error) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static void read_file(struct reader *r, const char *path, int depth, const char *from_file,
                      int from_line)
{
    struct stat st;
    int error = 0;
    size_t len = 0;
    char *text = NULL;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        error = EISDIR;
    else
        text = slurp(path, &len, &error);
    if (!text) {
        if (from_file)
            report(r, from_file, from_line, "Could not open file (%s) for Reason %s", path,
                   strerror(error));
        else
            report(r, path, 0, "Could not open file (%s) for Reason %s", path, strerror(error));
        return;
    }
    parse_text(r, path, text, len, depth);
    free(text);
}

/* A value "$(<FILE)" is replaced by FILE's contents (relative to the setting's file) less one
 * line end, as cuttlefish's expand_values does (re "[\n\r]$": before a final "\n" too). */
static bool expand_value(struct reader *r, struct setting *s)
{
    size_t n = strlen(s->value);
    if (n < 5 || memcmp(s->value, "$(<", 3) != 0 || s->value[n - 1] != ')')
        return true;
    const char *name = s->value + 3;
    size_t name_len = n - 4;
    while (name_len && strchr(" \t\r\n\f\v", *name))
        name++, name_len--;
    while (name_len && strchr(" \t\r\n\f\v", name[name_len - 1]))
        name_len--;
    char *rel = copy_span(name, name_len);
    char *dir = dir_of(s->file);
    char *path = join_path(dir, rel);
    free(rel);
    free(dir);
    size_t len = 0;
    int error = 0;
    char *text = slurp(path, &len, &error);
    if (!text) {
        report(r, s->file, s->line, "%s: cannot read %s for its value: %s", s->key, path,
               strerror(error));
        free(path);
        return false;
    }
    free(path);
    for (size_t i = 0; i < len; i++) {
        bool at_end = i == len - 1 || (i == len - 2 && text[len - 1] == '\n');
        if ((text[i] == '\n' || text[i] == '\r') && at_end) {
            memmove(text + i, text + i + 1, len - i - 1);
            len--;
            break;
        }
    }
    free(s->value);
    s->value = copy_span(text, len);
    free(text);
    return true;
}

/* ---- keys ---- */

static bool key_matches(const char *pattern, const struct setting *s)
{
    size_t seg = 0;
    const char *p = pattern;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (seg == s->segment_count)
            return false;
        if (p[0] != '$' && (strlen(s->segments[seg]) != len || memcmp(p, s->segments[seg], len)))
            return false;
        seg++;
        p += len + (dot ? 1 : 0);
    }
    return seg == s->segment_count;
}

static bool rabbitmq_knows(const struct setting *s)
{
    for (size_t i = 0; i < config_rabbitmq_key_count; i++)
        if (key_matches(config_rabbitmq_keys[i], s))
            return true;
    return false;
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 200 || lb > 200)
        return SIZE_MAX;
    size_t row[201];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* RabbitMQ's three nearest names, for the unknown-key message. */
static void nearest_keys(const char *key, const char *out[3])
{
    size_t dist[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
    out[0] = out[1] = out[2] = NULL;
    for (size_t i = 0; i < config_rabbitmq_key_count; i++) {
        size_t d = edit_distance(key, config_rabbitmq_keys[i]);
        for (int k = 0; k < 3; k++) {
            if (d < dist[k]) {
                for (int m = 2; m > k; m--) {
                    dist[m] = dist[m - 1];
                    out[m] = out[m - 1];
                }
                dist[k] = d;
                out[k] = config_rabbitmq_keys[i];
                break;
            }
        }
    }
}

/* ---- values, with cuttlefish's datatypes ---- */

struct loader {
    struct reader *r;
    struct config_store *store;
    struct broker_config *cfg;
    config_warn_fn *warn;
    void *warn_ctx;
    /* what a translation needs every setting of its group for */
    struct broker_listener tcp[BROKER_MAX_LISTENERS];
    size_t tcp_count;
    bool tcp_none;
    struct broker_listener ssl[BROKER_MAX_LISTENERS];
    size_t ssl_count;
    bool ssl_none;
    const char **tags, **loopback, **mechanisms;
    size_t tag_count, loopback_count, mechanism_count;
    /* ssl_options.*, management.ssl.*, prometheus.ssl.* (enum tls_scope) */
    const char **versions[3], **ciphers[3];
    size_t version_count[3], cipher_count[3];
    bool management_tcp_set, management_ssl_set, prometheus_tcp_set, prometheus_ssl_set;
    bool tags_set, loopback_set, loopback_none;
    const char *perm_configure, *perm_write, *perm_read;
    const struct setting *perm_setting;
    bool memory_relative_set, memory_absolute_set, disk_relative_set, disk_absolute_set;
    double memory_relative, disk_relative;
    const struct setting *memory_relative_setting, *memory_absolute, *disk_absolute;
};

static void warn(struct loader *l, const struct setting *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void warn(struct loader *l, const struct setting *s, const char *fmt, ...)
{
    char text[600];
    int n = snprintf(text, sizeof text, "%s:%d: ", s->file, s->line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text + n, sizeof text - (size_t)n, fmt, ap);
    va_end(ap);
    if (l->warn)
        l->warn(l->warn_ctx, text);
}

/* RabbitMQ's wording: "Error transforming datatype for: KEY" then the conversion's error. */
static bool not_a(struct loader *l, const struct setting *s, const char *type)
{
    report(l->r, s->file, s->line,
           "Error transforming datatype for: %s: \"%s\" cannot be converted to a(n) %s", s->key,
           s->value, type);
    return false;
}

/* A validator's failure, as cuttlefish words it: "KEY invalid, WHY". */
static bool invalid(struct loader *l, const struct setting *s, const char *why)
{
    report(l->r, s->file, s->line, "%s invalid, %s", s->key, why);
    return false;
}

/* Erlang's list_to_integer: an optional sign and digits, nothing else. */
static bool parse_integer(const char *v, long long *out)
{
    const char *p = v + (*v == '+' || *v == '-');
    if (!*p)
        return false;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return false;
    errno = 0;
    long long n = strtoll(v, NULL, 10);
    if (errno == ERANGE)
        n = *v == '-' ? LLONG_MIN : LLONG_MAX; /* Erlang has no limit; any range check fails */
    *out = n;
    return true;
}

/* Erlang's list_to_float: digits "." digits, optionally an exponent ("1" and ".5" are not floats). */
static bool parse_float(const char *v, double *out)
{
    const char *p = v + (*v == '+' || *v == '-');
    size_t digits = strspn(p, "0123456789");
    if (!digits || p[digits] != '.')
        return false;
    p += digits + 1;
    digits = strspn(p, "0123456789");
    if (!digits)
        return false;
    p += digits;
    if (*p == 'e' || *p == 'E') {
        p++;
        p += (*p == '+' || *p == '-');
        digits = strspn(p, "0123456789");
        if (!digits)
            return false;
        p += digits;
    }
    if (*p)
        return false;
    *out = strtod(v, NULL);
    return true;
}

/* An enum: value must be one of the NULL-terminated names; returns its index or -1. */
static int parse_enum(struct loader *l, const struct setting *s, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(s->value, names[i]) == 0)
            return i;
    char list[300] = "";
    for (int i = 0; names[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", names[i]);
    report(l->r, s->file, s->line,
           "Error transforming datatype for: %s: \"%s\" is not a valid enum value, acceptable "
           "values are: %s", s->key, s->value, list);
    return -1;
}

static const char *const booleans[] = {"true", "false", NULL};

static bool parse_boolean(struct loader *l, const struct setting *s, bool *out)
{
    int i = parse_enum(l, s, booleans);
    if (i < 0)
        return false;
    *out = i == 0;
    return true;
}

/* An integer setting Warren takes within [min, max]. */
static bool integer_in(struct loader *l, const struct setting *s, long long min, long long max,
                       long long *out)
{
    if (!parse_integer(s->value, out))
        return not_a(l, s, "integer");
    if (*out < min || *out > max) {
        report(l->r, s->file, s->line, "%s invalid, Warren takes %lld to %lld, not %s", s->key,
               min, max, s->value);
        return false;
    }
    return true;
}

/* cuttlefish's bytesize: a number with an optional KB, MB or GB (or kb, mb, gb), powers of 1024. */
static bool parse_bytesize(const char *v, double *out)
{
    static const struct { const char *suffix; double factor; } units[] = {
        {"KB", 1024.0}, {"kb", 1024.0}, {"MB", 1048576.0}, {"mb", 1048576.0},
        {"GB", 1073741824.0}, {"gb", 1073741824.0}};
    size_t n = strlen(v);
    double factor = 1;
    char number[64];
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        if (n > 2 && strcmp(v + n - 2, units[i].suffix) == 0) {
            factor = units[i].factor;
            n -= 2;
            break;
        }
    }
    if (n == 0 || n >= sizeof number - 1)
        return false;
    /* cuttlefish_util:numerify: a float (".5" reads as "0.5"), else an integer */
    size_t lead = v[0] == '.';
    if (lead)
        number[0] = '0';
    memcpy(number + lead, v, n);
    number[n + lead] = 0;
    double f;
    long long i;
    if (parse_float(number, &f))
        *out = f * factor;
    else if (parse_integer(number, &i))
        *out = (double)i * factor;
    else
        return false;
    return true;
}

/* cuttlefish's ip: "ADDRESS:PORT", split at the last colon, the address as inet:parse_address
 * reads it (so IPv6 without brackets: "::1:5672"; RabbitMQ 3.10 refuses "[::1]:5672"). */
static bool parse_ip_port(const char *v, char *host, size_t host_len, long long *port)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v || (size_t)(colon - v) >= host_len)
        return false;
    memcpy(host, v, (size_t)(colon - v));
    host[colon - v] = 0;
    unsigned char addr[16];
    if (inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1)
        return false;
    return parse_integer(colon + 1, port) && *port >= 0;
}

static bool is_ip(const char *v)
{
    unsigned char addr[16];
    return inet_pton(AF_INET, v, addr) == 1 || inet_pton(AF_INET6, v, addr) == 1;
}

static void push_string(const char ***list, size_t *count, const char *s)
{
    *list = xrealloc_array(*list, *count + 1, sizeof **list);
    (*list)[(*count)++] = s;
}

/* ---- what each key Warren honours does ---- */

static bool set_string(struct loader *l, const struct setting *s, const char **field)
{
    *field = keep_string(l->store, s->value);
    return true;
}

/* RabbitMQ's file_accessible validator: the file exists and can be read. */
static bool set_readable_file(struct loader *l, const struct setting *s, const char **field)
{
    if (access(s->value, R_OK) != 0)
        return invalid(l, s, "file does not exist or cannot be read by the node");
    return set_string(l, s, field);
}

/* listeners.tcp.NAME and listeners.ssl.NAME: [integer, ip] */
static bool add_listener(struct loader *l, const struct setting *s, struct broker_listener *list,
                         size_t *count)
{
    char host[64];
    long long port;
    bool port_only = parse_integer(s->value, &port);
    if (!port_only && !parse_ip_port(s->value, host, sizeof host, &port)) {
        report(l->r, s->file, s->line,
               "Error transforming datatype for: %s: \"%s\" cannot be converted to a(n) "
               "integer, nor to a(n) IP (\"ADDRESS:PORT\", IPv6 without brackets as in "
               "\"::1:5672\")", s->key, s->value);
        return false;
    }
    if (port < 0 || port > 65535) {
        report(l->r, s->file, s->line, "%s invalid, a port is 0 to 65535, not %lld", s->key, port);
        return false;
    }
    if (*count == BROKER_MAX_LISTENERS) {
        report(l->r, s->file, s->line, "%s: Warren opens at most %d listeners of a kind", s->key,
               BROKER_MAX_LISTENERS);
        return false;
    }
    list[*count].host = port_only ? NULL : keep_string(l->store, host);
    list[*count].port = (int)port;
    (*count)++;
    return true;
}

static const char *const none_only[] = {"none", NULL};

static bool set_tcp_none(struct loader *l, const struct setting *s)
{
    return (l->tcp_none = parse_enum(l, s, none_only) == 0);
}

static bool add_tcp_listener(struct loader *l, const struct setting *s)
{
    return add_listener(l, s, l->tcp, &l->tcp_count);
}

static bool set_ssl_none(struct loader *l, const struct setting *s)
{
    return (l->ssl_none = parse_enum(l, s, none_only) == 0);
}

static bool add_ssl_listener(struct loader *l, const struct setting *s)
{
    return add_listener(l, s, l->ssl, &l->ssl_count);
}

static bool set_default_user(struct loader *l, const struct setting *s)
{
    return set_string(l, s, &l->cfg->default_user);
}

static bool set_default_pass(struct loader *l, const struct setting *s)
{
    return set_string(l, s, &l->cfg->default_pass);
}

static bool set_default_vhost(struct loader *l, const struct setting *s)
{
    return set_string(l, s, &l->cfg->default_vhost);
}

/* warren.fault_injection = true: the management API may inject faults (for client testing). */
static bool set_fault_injection(struct loader *l, const struct setting *s)
{
    return parse_boolean(l, s, &l->cfg->fault_injection);
}

/* default_user_tags.TAG = true|false: the tags set true replace the default (administrator). */
static bool set_user_tag(struct loader *l, const struct setting *s)
{
    bool on;
    if (!parse_boolean(l, s, &on))
        return false;
    l->tags_set = true;
    if (on)
        push_string(&l->tags, &l->tag_count, keep_string(l->store, s->segments[1]));
    return true;
}

static bool set_permission(struct loader *l, const struct setting *s)
{
    const char *kind = s->segments[1];
    const char **field = strcmp(kind, "configure") == 0 ? &l->perm_configure
                         : strcmp(kind, "write") == 0   ? &l->perm_write
                                                        : &l->perm_read;
    l->perm_setting = s;
    return set_string(l, s, field);
}

static bool set_loopback_none(struct loader *l, const struct setting *s)
{
    return (l->loopback_none = parse_enum(l, s, none_only) == 0);
}

/* loopback_users.NAME: an atom; only "true" makes NAME loopback-only (RabbitMQ's translation). */
static bool set_loopback_user(struct loader *l, const struct setting *s)
{
    l->loopback_set = true;
    if (strcmp(s->value, "true") == 0)
        push_string(&l->loopback, &l->loopback_count, keep_string(l->store, s->segments[1]));
    return true;
}

static bool set_heartbeat(struct loader *l, const struct setting *s)
{
    long long n;
    if (!integer_in(l, s, 0, 65535, &n))
        return false;
    l->cfg->heartbeat = (uint16_t)n;
    return true;
}

static bool set_frame_max(struct loader *l, const struct setting *s)
{
    double n;
    if (!parse_bytesize(s->value, &n)) {
        report(l->r, s->file, s->line,
               "Error transforming datatype for: %s: Error converting value \"%s\" to a number "
               "of bytes", s->key, s->value);
        return false;
    }
    if (n != (double)(uint64_t)n || n < 4096 || n > UINT32_MAX) {
        report(l->r, s->file, s->line,
               "frame_max invalid, Warren takes whole numbers of bytes from 4096 to 4294967295 "
               "(RabbitMQ's 0, no limit, included), not %s", s->value);
        return false;
    }
    l->cfg->frame_max = (uint32_t)n;
    return true;
}

static bool set_channel_max(struct loader *l, const struct setting *s)
{
    long long n;
    if (!integer_in(l, s, 1, 65535, &n))
        return false;
    l->cfg->channel_max = (uint16_t)n;
    return true;
}

static bool set_max_message_size(struct loader *l, const struct setting *s)
{
    long long n;
    if (!parse_integer(s->value, &n))
        return not_a(l, s, "integer");
    if (n <= 0 || n > 536870912)
        return invalid(l, s, "Max message size should be between 0 and 512MB");
    l->cfg->max_message_size = (uint64_t)n;
    return true;
}

/* 2^40 ms (35 years) stands for RabbitMQ's "infinity" without overflowing a deadline. */
#define FOREVER_MS (1ull << 40)

static bool set_handshake_timeout(struct loader *l, const struct setting *s)
{
    long long n;
    if (strcmp(s->value, "infinity") == 0) {
        l->cfg->handshake_timeout_ms = FOREVER_MS;
        return true;
    }
    if (!parse_integer(s->value, &n)) {
        report(l->r, s->file, s->line,
               "Error transforming datatype for: %s: \"%s\" cannot be converted to a(n) "
               "integer, nor is it infinity", s->key, s->value);
        return false;
    }
    if (!integer_in(l, s, 1, (long long)FOREVER_MS, &n))
        return false;
    l->cfg->handshake_timeout_ms = (uint64_t)n;
    return true;
}

static bool set_consumer_timeout(struct loader *l, const struct setting *s)
{
    long long n;
    if (!parse_integer(s->value, &n))
        return not_a(l, s, "integer");
    if (n < 1)
        return invalid(l, s, "number should be greater or equal to one");
    l->cfg->consumer_timeout_ms = (uint64_t)n;
    return true;
}

/* The node's connection limit (integer or infinity), refused at connection.open from 3.11 on. */
static bool set_connection_max(struct loader *l, const struct setting *s)
{
    long long n;
    if (!strcmp(s->value, "infinity")) {
        l->cfg->connection_max = BROKER_NO_CONNECTION_MAX;
        return true;
    }
    if (!parse_integer(s->value, &n))
        return not_a(l, s, "integer");
    if (n < 0)
        return invalid(l, s, "should be a non-negative integer");
    l->cfg->connection_max = n;
    return true;
}

/* Warren's own key: the RabbitMQ release whose defaults to follow (--rabbitmq-compat). */
static bool set_rabbitmq_compat(struct loader *l, const struct setting *s)
{
    static const char *const names[] = {"3.13", "4.3", NULL};
    int i = parse_enum(l, s, names);
    if (i < 0)
        return false;
    l->cfg->compat = compat_find(names[i]);
    return true;
}

static bool set_fraction(struct loader *l, const struct setting *s, double *field, bool *set)
{
    if (!parse_float(s->value, field))
        return not_a(l, s, "float");
    *set = true;
    return true;
}

static bool set_memory_relative(struct loader *l, const struct setting *s)
{
    l->memory_relative_setting = s;
    return set_fraction(l, s, &l->memory_relative, &l->memory_relative_set);
}

static bool set_disk_relative(struct loader *l, const struct setting *s)
{
    return set_fraction(l, s, &l->disk_relative, &l->disk_relative_set);
}

/* [integer, string]: the string is read (units and all) by the resource monitor later. */
static bool set_memory_absolute(struct loader *l, const struct setting *s)
{
    l->memory_absolute = s;
    l->memory_absolute_set = true;
    return true;
}

static bool set_disk_absolute(struct loader *l, const struct setting *s)
{
    l->disk_absolute = s;
    l->disk_absolute_set = true;
    return true;
}

static bool set_load_definitions(struct loader *l, const struct setting *s)
{
    return set_readable_file(l, s, &l->cfg->load_definitions);
}

static bool set_port(struct loader *l, const struct setting *s, int *field)
{
    long long n;
    if (!integer_in(l, s, 0, 65535, &n))
        return false;
    *field = (int)n;
    return true;
}

static bool set_ip(struct loader *l, const struct setting *s, const char **field)
{
    if (!is_ip(s->value))
        return invalid(l, s, "value should be a valid IP address");
    return set_string(l, s, field);
}

static bool set_management_port(struct loader *l, const struct setting *s)
{
    l->management_tcp_set = true;
    return set_port(l, s, &l->cfg->management_port);
}

static bool set_management_ip(struct loader *l, const struct setting *s)
{
    l->management_tcp_set = true;
    return set_ip(l, s, &l->cfg->management_bind);
}

static bool set_prometheus_port(struct loader *l, const struct setting *s)
{
    l->prometheus_tcp_set = true;
    return set_port(l, s, &l->cfg->prometheus_port);
}

static bool set_prometheus_ip(struct loader *l, const struct setting *s)
{
    l->prometheus_tcp_set = true;
    return set_ip(l, s, &l->cfg->prometheus_bind);
}

/* management.ssl.* or prometheus.ssl.*, by the key's first segment. */
static struct broker_https *https_of(struct loader *l, const struct setting *s)
{
    return strcmp(s->segments[0], "management") == 0 ? &l->cfg->management_ssl
                                                     : &l->cfg->prometheus_ssl;
}

static bool set_https_port(struct loader *l, const struct setting *s)
{
    *(strcmp(s->segments[0], "management") == 0 ? &l->management_ssl_set
                                                : &l->prometheus_ssl_set) = true;
    return set_port(l, s, &https_of(l, s)->port);
}

static bool set_https_ip(struct loader *l, const struct setting *s)
{
    return set_ip(l, s, &https_of(l, s)->bind);
}

/* {management,prometheus}.{tcp,ssl}.{request,idle}_timeout, in milliseconds. */
static bool set_http_timeout(struct loader *l, const struct setting *s)
{
    bool ssl = strcmp(s->segments[1], "ssl") == 0;
    struct broker_http_timeouts *t =
        ssl ? &https_of(l, s)->timeouts
            : strcmp(s->segments[0], "management") == 0 ? &l->cfg->management_timeouts
                                                          : &l->cfg->prometheus_timeouts;
    long long n;
    if (!parse_integer(s->value, &n))
        return not_a(l, s, "integer");
    if (!integer_in(l, s, 1, UINT32_MAX, &n))
        return false;
    *(strcmp(s->segments[2], "request_timeout") == 0 ? &t->request_ms : &t->idle_ms) = (uint32_t)n;
    return true;
}

/* RabbitMQ's levels onto Warren's four: notice sits between info and warning, so it hides
 * info; critical, alert and emergency are errors. */
static bool parse_level(struct loader *l, const struct setting *s, const char *const *names,
                        enum log_level *out)
{
    static const enum log_level levels[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_WARNING,
                                            LOG_ERROR, LOG_ERROR, LOG_ERROR, LOG_ERROR, LOG_NONE};
    static const char *const plain[] = {"debug", "info", "notice", "warning", "error",
                                        "critical", "alert", "emergency", "none"};
    if (parse_enum(l, s, names) < 0)
        return false;
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
        if (strcmp(s->value, plain[i]) == 0) {
            *out = levels[i];
            return true;
        }
    }
    report(l->r, s->file, s->line,
           "%s = %s: Warren logs one level and those above it; use debug, info, notice, warning, "
           "error, critical, alert, emergency or none", s->key, s->value);
    return false;
}

static bool set_console_level(struct loader *l, const struct setting *s)
{
    static const char *const names[] = {"debug", "info", "notice", "warning", "error",
                                        "critical", "alert", "emergency", "none", NULL};
    return parse_level(l, s, names, &l->cfg->log_level);
}

static bool set_file_level(struct loader *l, const struct setting *s)
{
    static const char *const names[] = {"=debug", "debug", "info", "!=info", "notice",
                                        "<=notice", "<warning", "warning", "error", "critical",
                                        "alert", "emergency", "none", NULL};
    return parse_level(l, s, names, &l->cfg->log_file_level);
}

static bool set_console(struct loader *l, const struct setting *s)
{
    return parse_boolean(l, s, &l->cfg->log_console);
}

/* log.file: [{enum, [false]}, string] */
static bool set_log_file(struct loader *l, const struct setting *s)
{
    if (strcmp(s->value, "false") == 0) {
        l->cfg->log_file = NULL;
        return true;
    }
    return set_string(l, s, &l->cfg->log_file);
}

/* Which set of ssl options a key belongs to: ssl_options.*, management.ssl.*, prometheus.ssl.*. */
enum tls_scope { TLS_SCOPE_AMQP, TLS_SCOPE_MANAGEMENT, TLS_SCOPE_PROMETHEUS };

static enum tls_scope tls_scope_of(const struct setting *s)
{
    if (strcmp(s->segments[0], "management") == 0)
        return TLS_SCOPE_MANAGEMENT;
    return strcmp(s->segments[0], "prometheus") == 0 ? TLS_SCOPE_PROMETHEUS : TLS_SCOPE_AMQP;
}

static struct broker_tls_options *tls_options_of(struct loader *l, const struct setting *s)
{
    return tls_scope_of(s) == TLS_SCOPE_AMQP ? &l->cfg->tls : &https_of(l, s)->tls;
}

static bool set_cacertfile(struct loader *l, const struct setting *s)
{
    return set_readable_file(l, s, &tls_options_of(l, s)->cacertfile);
}

static bool set_certfile(struct loader *l, const struct setting *s)
{
    return set_readable_file(l, s, &tls_options_of(l, s)->certfile);
}

static bool set_keyfile(struct loader *l, const struct setting *s)
{
    return set_readable_file(l, s, &tls_options_of(l, s)->keyfile);
}

static bool set_tls_password(struct loader *l, const struct setting *s)
{
    return set_string(l, s, &tls_options_of(l, s)->password);
}

static bool set_verify(struct loader *l, const struct setting *s)
{
    static const char *const names[] = {"verify_peer", "verify_none", NULL};
    int i = parse_enum(l, s, names);
    if (i >= 0)
        tls_options_of(l, s)->verify_peer = i == 0;
    return i >= 0;
}

static bool set_fail_if_no_peer_cert(struct loader *l, const struct setting *s)
{
    return parse_boolean(l, s, &tls_options_of(l, s)->fail_if_no_peer_cert);
}

static bool set_depth(struct loader *l, const struct setting *s)
{
    long long n;
    if (!parse_integer(s->value, &n))
        return not_a(l, s, "integer");
    if (n < 0 || n > 255)
        return invalid(l, s, "Integer must be in the range [0, 255]");
    tls_options_of(l, s)->depth = (int)n;
    return true;
}

/* An atom to RabbitMQ; Warren checks it names a TLS version OpenSSL knows. */
static bool add_version(struct loader *l, const struct setting *s)
{
    static const char *const versions[] = {"tlsv1.3", "tlsv1.2", "tlsv1.1", "tlsv1", NULL};
    if (parse_enum(l, s, versions) < 0)
        return false;
    enum tls_scope scope = tls_scope_of(s);
    push_string(&l->versions[scope], &l->version_count[scope], keep_string(l->store, s->value));
    return true;
}

static bool add_cipher(struct loader *l, const struct setting *s)
{
    enum tls_scope scope = tls_scope_of(s);
    push_string(&l->ciphers[scope], &l->cipher_count[scope], keep_string(l->store, s->value));
    return true;
}

static bool set_honor_cipher_order(struct loader *l, const struct setting *s)
{
    return parse_boolean(l, s, &tls_options_of(l, s)->honor_cipher_order);
}

static bool set_cert_login_from(struct loader *l, const struct setting *s)
{
    static const char *const names[] = {"distinguished_name", "common_name",
                                        "subject_alternative_name", "subject_alt_name", NULL};
    static const enum broker_cert_login modes[] = {BROKER_CERT_LOGIN_DN, BROKER_CERT_LOGIN_CN,
                                                   BROKER_CERT_LOGIN_SAN, BROKER_CERT_LOGIN_SAN};
    int i = parse_enum(l, s, names);
    if (i >= 0)
        l->cfg->ssl_cert_login_from = modes[i];
    return i >= 0;
}

/* ip and other_name are RabbitMQ's too, not Warren's yet: refused rather than logging users
 * in under another name. */
static bool set_cert_login_san_type(struct loader *l, const struct setting *s)
{
    static const char *const names[] = {"dns", "email", "uri", "ip", "other_name", NULL};
    int i = parse_enum(l, s, names);
    if (i >= 3)
        return invalid(l, s, "ip and other_name are not supported by Warren yet");
    if (i >= 0)
        l->cfg->ssl_cert_login_san_type = (enum broker_san_type)i;
    return i >= 0;
}

static bool set_cert_login_san_index(struct loader *l, const struct setting *s)
{
    long long n;
    if (!parse_integer(s->value, &n))
        return not_a(l, s, "integer");
    if (!integer_in(l, s, 0, UINT32_MAX, &n))
        return false;
    l->cfg->ssl_cert_login_san_index = (unsigned)n;
    return true;
}

static bool set_ssl_handshake_timeout(struct loader *l, const struct setting *s)
{
    long long n;
    if (!parse_integer(s->value, &n))
        return not_a(l, s, "integer");
    if (!integer_in(l, s, 1, (long long)FOREVER_MS, &n))
        return false;
    l->cfg->ssl_handshake_timeout_ms = (uint64_t)n;
    return true;
}

static bool add_mechanism(struct loader *l, const struct setting *s)
{
    push_string(&l->mechanisms, &l->mechanism_count, keep_string(l->store, s->value));
    return true;
}

struct handler {
    const char *pattern;
    bool (*apply)(struct loader *l, const struct setting *s);
};

/* The keys Warren honours; every other key RabbitMQ knows is warned about and ignored. */
static const struct handler handlers[] = {
    {"listeners.tcp", set_tcp_none},
    {"listeners.tcp.$name", add_tcp_listener},
    {"listeners.ssl", set_ssl_none},
    {"listeners.ssl.$name", add_ssl_listener},
    {"default_user", set_default_user},
    {"default_pass", set_default_pass},
    {"default_vhost", set_default_vhost},
    {"default_user_tags.$tag", set_user_tag},
    {"default_permissions.configure", set_permission},
    {"default_permissions.read", set_permission},
    {"default_permissions.write", set_permission},
    {"loopback_users", set_loopback_none},
    {"loopback_users.$user", set_loopback_user},
    {"heartbeat", set_heartbeat},
    {"frame_max", set_frame_max},
    {"channel_max", set_channel_max},
    {"connection_max", set_connection_max},
    {"warren.rabbitmq_compat", set_rabbitmq_compat},
    {"max_message_size", set_max_message_size},
    {"handshake_timeout", set_handshake_timeout},
    {"consumer_timeout", set_consumer_timeout},
    {"vm_memory_high_watermark.relative", set_memory_relative},
    {"vm_memory_high_watermark.absolute", set_memory_absolute},
    {"disk_free_limit.relative", set_disk_relative},
    {"disk_free_limit.absolute", set_disk_absolute},
    {"load_definitions", set_load_definitions},
    {"management.tcp.port", set_management_port},
    {"management.tcp.request_timeout", set_http_timeout},
    {"management.tcp.idle_timeout", set_http_timeout},
    {"management.ssl.request_timeout", set_http_timeout},
    {"management.ssl.idle_timeout", set_http_timeout},
    {"prometheus.tcp.request_timeout", set_http_timeout},
    {"prometheus.tcp.idle_timeout", set_http_timeout},
    {"prometheus.ssl.request_timeout", set_http_timeout},
    {"prometheus.ssl.idle_timeout", set_http_timeout},
    {"management.tcp.ip", set_management_ip},
    {"prometheus.tcp.port", set_prometheus_port},
    {"prometheus.tcp.ip", set_prometheus_ip},
    {"log.console", set_console},
    {"log.console.level", set_console_level},
    {"log.file", set_log_file},
    {"log.file.level", set_file_level},
    {"ssl_options.cacertfile", set_cacertfile},
    {"ssl_options.certfile", set_certfile},
    {"ssl_options.keyfile", set_keyfile},
    {"ssl_options.password", set_tls_password},
    {"ssl_options.verify", set_verify},
    {"ssl_options.fail_if_no_peer_cert", set_fail_if_no_peer_cert},
    {"ssl_options.depth", set_depth},
    {"ssl_options.versions.$version", add_version},
    {"ssl_options.ciphers.$cipher", add_cipher},
    {"ssl_options.honor_cipher_order", set_honor_cipher_order},
    {"management.ssl.port", set_https_port},
    {"management.ssl.ip", set_https_ip},
    {"management.ssl.cacertfile", set_cacertfile},
    {"management.ssl.certfile", set_certfile},
    {"management.ssl.keyfile", set_keyfile},
    {"management.ssl.password", set_tls_password},
    {"management.ssl.verify", set_verify},
    {"management.ssl.fail_if_no_peer_cert", set_fail_if_no_peer_cert},
    {"management.ssl.depth", set_depth},
    {"management.ssl.versions.$version", add_version},
    {"management.ssl.ciphers.$cipher", add_cipher},
    {"management.ssl.honor_cipher_order", set_honor_cipher_order},
    {"prometheus.ssl.port", set_https_port},
    {"prometheus.ssl.ip", set_https_ip},
    {"prometheus.ssl.cacertfile", set_cacertfile},
    {"prometheus.ssl.certfile", set_certfile},
    {"prometheus.ssl.keyfile", set_keyfile},
    {"prometheus.ssl.password", set_tls_password},
    {"prometheus.ssl.verify", set_verify},
    {"prometheus.ssl.fail_if_no_peer_cert", set_fail_if_no_peer_cert},
    {"prometheus.ssl.depth", set_depth},
    {"prometheus.ssl.versions.$version", add_version},
    {"prometheus.ssl.ciphers.$cipher", add_cipher},
    {"prometheus.ssl.honor_cipher_order", set_honor_cipher_order},
    {"auth_mechanisms.$name", add_mechanism},
    {"ssl_cert_login_from", set_cert_login_from},
    {"ssl_cert_login_san_type", set_cert_login_san_type},
    {"ssl_cert_login_san_index", set_cert_login_san_index},
    {"ssl_handshake_timeout", set_ssl_handshake_timeout},
    {"warren.fault_injection", set_fault_injection},
};

static void apply(struct loader *l, const struct setting *s)
{
    for (size_t i = 0; i < sizeof handlers / sizeof *handlers; i++) {
        if (key_matches(handlers[i].pattern, s)) {
            handlers[i].apply(l, s);
            return;
        }
    }
    if (rabbitmq_knows(s)) {
        warn(l, s, "%s is a RabbitMQ setting Warren does not use: ignored", s->key);
        return;
    }
    const char *near[3];
    nearest_keys(s->key, near);
    report(l->r, s->file, s->line,
           "You've tried to set %s, but there is no setting with that name (did you mean %s, "
           "%s or %s?)", s->key, near[0], near[1], near[2]);
}

static const struct broker_listener *keep_listeners(struct loader *l,
                                                    const struct broker_listener *list, size_t n)
{
    return keep(l->store, xmemdup(list, n * sizeof *list));
}

/* Translations: settings that only mean something together. */
static void translate(struct loader *l)
{
    struct broker_config *cfg = l->cfg;
    if (l->tcp_none) {
        cfg->tcp_listeners_none = true;
        cfg->tcp_listener_count = 0;
    } else if (l->tcp_count) {
        cfg->tcp_listeners_none = false;
        cfg->tcp_listeners = keep_listeners(l, l->tcp, l->tcp_count);
        cfg->tcp_listener_count = l->tcp_count;
    }
    if (l->ssl_none) {
        cfg->ssl_listener_count = 0;
    } else if (l->ssl_count) {
        cfg->ssl_listeners = keep_listeners(l, l->ssl, l->ssl_count);
        cfg->ssl_listener_count = l->ssl_count;
    }
    if (l->tags_set) {
        cfg->default_user_tags = keep(l->store, l->tags);
        cfg->default_user_tag_count = l->tag_count;
        l->tags = NULL;
    }
    if (l->loopback_none) {
        cfg->loopback_user_count = 0;
    } else if (l->loopback_set) {
        cfg->loopback_users = keep(l->store, l->loopback);
        cfg->loopback_user_count = l->loopback_count;
        l->loopback = NULL;
    }
    if (l->perm_setting) {
        /* RabbitMQ's translation reads all three: one missing fails its start */
        if (!l->perm_configure || !l->perm_write || !l->perm_read) {
            report(l->r, l->perm_setting->file, l->perm_setting->line,
                   "default_permissions: set all of default_permissions.configure, .read and "
                   ".write or none (RabbitMQ's translation fails on a missing one)");
        } else {
            cfg->default_permission_configure = l->perm_configure;
            cfg->default_permission_write = l->perm_write;
            cfg->default_permission_read = l->perm_read;
        }
    }
    struct broker_tls_options *scopes[3] = {&cfg->tls, &cfg->management_ssl.tls,
                                            &cfg->prometheus_ssl.tls};
    for (size_t i = 0; i < 3; i++) {
        if (l->version_count[i]) {
            scopes[i]->versions = keep(l->store, l->versions[i]);
            scopes[i]->version_count = l->version_count[i];
            l->versions[i] = NULL;
        }
        if (l->cipher_count[i]) {
            scopes[i]->ciphers = keep(l->store, l->ciphers[i]);
            scopes[i]->cipher_count = l->cipher_count[i];
            l->ciphers[i] = NULL;
        }
    }
    /* as rabbit_mgmt_app and rabbit_prometheus_app: with only the ssl keys set, no plain
     * HTTP listener; with both, both */
    if (l->management_ssl_set && !l->management_tcp_set)
        cfg->management_port = 0;
    if (l->prometheus_ssl_set && !l->prometheus_tcp_set)
        cfg->prometheus_port = 0;
    if (l->mechanism_count) {
        cfg->auth_mechanisms = keep(l->store, l->mechanisms);
        cfg->auth_mechanism_count = l->mechanism_count;
        l->mechanisms = NULL;
    }
    /* the relative figure wins when both are set, as in RabbitMQ's translations */
    if (l->memory_relative_set) {
        cfg->vm_memory_high_watermark = l->memory_relative;
        cfg->vm_memory_high_watermark_absolute = 0;
        if (l->memory_relative > 1.0) {
            warn(l, l->memory_relative_setting, "Memory high watermark of %s is above the "
                 "allowed maximum, falling back to 1.0", l->memory_relative_setting->value);
            cfg->vm_memory_high_watermark = 1.0;
        }
    } else if (l->memory_absolute_set) {
        uint64_t bytes;
        if (information_unit_parse(l->memory_absolute->value, &bytes) && bytes > 0) {
            cfg->vm_memory_high_watermark_absolute = bytes;
        } else {
            warn(l, l->memory_absolute, "Unable to parse vm_memory_high_watermark value \"%s\": "
                 "the default, 0.4 of RAM, applies", l->memory_absolute->value);
            cfg->vm_memory_high_watermark = 0.4;
            cfg->vm_memory_high_watermark_absolute = 0;
        }
    }
    if (l->disk_relative_set) {
        cfg->disk_free_limit_relative = l->disk_relative;
    } else if (l->disk_absolute_set) {
        uint64_t bytes;
        cfg->disk_free_limit_relative = 0;
        if (information_unit_parse(l->disk_absolute->value, &bytes)) {
            cfg->disk_free_limit = bytes;
        } else {
            warn(l, l->disk_absolute, "Unable to parse disk_free_limit value \"%s\": the "
                 "default, 50000000 bytes, applies", l->disk_absolute->value);
            cfg->disk_free_limit = 50000000;
        }
    }
}

static void loader_free(struct loader *l)
{
    free(l->tags);
    free(l->loopback);
    for (size_t i = 0; i < 3; i++) {
        free(l->versions[i]);
        free(l->ciphers[i]);
    }
    free(l->mechanisms);
}

static int load(struct reader *r, struct config_store *store, struct broker_config *cfg,
                config_warn_fn *warn_fn, void *warn_ctx)
{
    if (r->errors == 0) {
        for (size_t i = 0; i < r->count; i++)
            expand_value(r, &r->settings[i]);
    }
    if (r->errors == 0) {
        struct loader l = {.r = r, .store = store, .cfg = cfg, .warn = warn_fn,
                           .warn_ctx = warn_ctx};
        for (size_t i = 0; i < r->count; i++)
            apply(&l, &r->settings[i]);
        if (r->errors == 0)
            translate(&l);
        loader_free(&l);
    }
    int rc = r->errors ? -1 : 0;
    reader_free(r);
    return rc;
}

int config_load_file(struct config_store *store, const char *path, struct broker_config *cfg,
                     config_warn_fn *warn_fn, void *warn_ctx, struct config_error *err)
{
    struct reader r = {.err = err};
    err->text[0] = 0;
    read_file(&r, path, 0, NULL, 0);
    return load(&r, store, cfg, warn_fn, warn_ctx);
}

int config_load_text(struct config_store *store, const char *name, const char *text, size_t len,
                     struct broker_config *cfg, config_warn_fn *warn_fn, void *warn_ctx,
                     struct config_error *err)
{
    struct reader r = {.err = err};
    err->text[0] = 0;
    parse_text(&r, name, text, len, 0);
    return load(&r, store, cfg, warn_fn, warn_ctx);
}

static bool is_regular(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

const char *config_find_rabbitmq_file(const char *name, char *out, size_t len, int *erlang_format)
{
    *erlang_format = 0;
    if (is_regular(name)) {
        *erlang_format = ends_with(name, ".config");
        return name;
    }
    /* RabbitMQ tries NAME.config first (and prefers it when both exist) */
    snprintf(out, len, "%s.config", name);
    if (is_regular(out)) {
        *erlang_format = 1;
        return out;
    }
    snprintf(out, len, "%s.conf", name);
    return is_regular(out) ? out : NULL;
}
