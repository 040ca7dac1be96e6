/* Field values printed as RabbitMQ prints them in reply texts: Erlang's "~p" of the decoded
 * term ({<<"key">>,type,value} per table entry, {type,value} per array entry), pretty-printed to
 * 80 columns as OTP's io_lib_pretty does, for the terms a field value can decode to. */
#include "amqp_erlang.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_octets.h"
#include "amqp_table.h"

enum { LINE_LENGTH = 80 };

enum term_kind { TERM_ATOMIC, TERM_BYTES, TERM_LIST, TERM_TUPLE };

/* A decoded field value as Erlang sees it: atomic text, a byte-list binary, a list or tuple. */
struct term {
    enum term_kind kind;
    bool tagged;      /* a tuple whose first element is an atom */
    size_t len;       /* width when written on one line */
    char *text;       /* TERM_ATOMIC and TERM_BYTES: the flat text */
    struct term *items;
    size_t count;
};

struct out {
    char *buf;
    size_t len, cap;
};

static void out_put(struct out *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 128;
        while (o->len + n + 1 > cap)
            cap *= 2;
        char *buf = realloc(o->buf, cap);
        if (!buf)
            abort();
        o->buf = buf;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void out_str(struct out *o, const char *s)
{
    out_put(o, s, strlen(s));
}

static void out_char(struct out *o, char c)
{
    out_put(o, &c, 1);
}

static void out_spaces(struct out *o, size_t n)
{
    while (n--)
        out_char(o, ' ');
}

static void out_fmt(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(struct out *o, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    out_put(o, tmp, n < 0 ? 0 : (size_t)n);
}

static struct term atomic(struct out *o)
{
    return (struct term){.kind = TERM_ATOMIC, .len = o->len, .text = o->buf};
}

static struct term atom_term(const char *s)
{
    struct out o = {0};
    out_str(&o, s);
    return atomic(&o);
}

/* Erlang's float printing (float_to_list(F, [short])): the shortest digits that read back,
 * written plainly ("123.5", "0.001") or in scientific form ("1.0e3"), whichever is shorter,
 * ties going plain; from 2^53 on, always scientific. */
static void put_erlang_float(struct out *o, double v)
{
    if (v != v || v - v != 0) { /* RabbitMQ cannot decode these at all */
        out_str(o, v != v ? "nan" : v < 0 ? "-inf" : "inf");
        return;
    }
    if (v == 0) {
        out_str(o, signbit(v) ? "-0.0" : "0.0");
        return;
    }
    char sci[40];
    for (int precision = 0; precision < 17; precision++) {
        snprintf(sci, sizeof sci, "%.*e", precision, v);
        if (strtod(sci, NULL) == v)
            break;
    }
    /* sci is "[-]d.ddde[+-]x": collect the digits and the decimal exponent */
    char digits[32];
    int len = 0;
    const char *p = sci + (v < 0);
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[len++] = *p;
    digits[len] = '\0';
    int exp10 = atoi(p + 1);

    char scientific[48], plain[400];
    snprintf(scientific, sizeof scientific, "%c.%se%d", digits[0], len == 1 ? "0" : digits + 1,
             exp10);
    int place = exp10 + 1; /* digits before the point */
    size_t n = 0;
    if (place <= 0) {
        plain[n++] = '0';
        plain[n++] = '.';
        for (int i = 0; i < -place; i++)
            plain[n++] = '0';
        memcpy(plain + n, digits, (size_t)len);
        n += (size_t)len;
    } else if (place < len) {
        memcpy(plain, digits, (size_t)place);
        n = (size_t)place;
        plain[n++] = '.';
        memcpy(plain + n, digits + place, (size_t)(len - place));
        n += (size_t)(len - place);
    } else {
        memcpy(plain, digits, (size_t)len);
        n = (size_t)len;
        for (int i = len; i < place; i++)
            plain[n++] = '0';
        plain[n++] = '.';
        plain[n++] = '0';
    }
    plain[n] = '\0';
    if (v < 0)
        out_char(o, '-');
    bool use_plain = (v < 0 ? -v : v) < 9007199254740992.0 && strlen(plain) <= strlen(scientific);
    out_str(o, use_plain ? plain : scientific);
}

/* <<"text">> or <<1,2,3>>, as ~p writes a binary; a byte list may be broken over lines. */
static struct term binary_term(struct amqp_bytes b)
{
    size_t size = b.len * 4 + 8; /* "255," per octet at most, and the brackets */
    char *text = malloc(size);
    if (!text)
        abort();
    amqp_format_octets(text, size, b, true);
    struct out o = {0};
    out_str(&o, text);
    free(text);
    struct term t = atomic(&o);
    if (b.len && !amqp_octets_printable(b))
        t.kind = TERM_BYTES;
    return t;
}

static struct term compound(enum term_kind kind, struct term *items, size_t count)
{
    size_t len = 2;
    for (size_t i = 0; i < count; i++)
        len += items[i].len + (i ? 1 : 0);
    /* our atoms are type names and true/false/undefined: lower-case first letters */
    bool tagged = kind == TERM_TUPLE && count > 1 && items[0].kind == TERM_ATOMIC &&
                  items[0].text[0] >= 'a' && items[0].text[0] <= 'z';
    return (struct term){
        .kind = kind, .tagged = tagged, .len = len, .items = items, .count = count};
}

const char *amqp_field_type_name(char type)
{
    switch (type) {
    case 't': return "bool";
    case 'b': return "byte";
    case 'B': return "unsignedbyte";
    case 's': return "short";
    case 'u': return "unsignedshort";
    case 'I': return "signedint";
    case 'i': return "unsignedint";
    case 'l': return "long";
    case 'f': return "float";
    case 'd': return "double";
    case 'D': return "decimal";
    case 'S': return "longstr";
    case 'x': return "binary";
    case 'A': return "array";
    case 'T': return "timestamp";
    case 'F': return "table";
    default: return "void";
    }
}

static struct term value_term(const struct amqp_field *f);

/* A table or array body as RabbitMQ decodes it: a list of tagged tuples. */
static struct term list_term(struct amqp_bytes body, bool is_table)
{
    size_t cap = 4, count = 0;
    struct term *items = malloc(cap * sizeof *items);
    if (!items)
        abort();
    struct amqp_table_iter it;
    amqp_table_iter_init(&it, body);
    struct amqp_bytes key;
    struct amqp_field field;
    while (is_table ? amqp_table_next(&it, &key, &field) : amqp_array_next(&it, &field)) {
        if (count == cap) {
            cap *= 2;
            struct term *grown = realloc(items, cap * sizeof *items);
            if (!grown)
                abort();
            items = grown;
        }
        size_t n = 0;
        struct term *entry = malloc(3 * sizeof *entry);
        if (!entry)
            abort();
        if (is_table)
            entry[n++] = binary_term(key);
        entry[n++] = atom_term(amqp_field_type_name(field.type));
        entry[n++] = value_term(&field);
        items[count++] = compound(TERM_TUPLE, entry, n);
    }
    if (count == 0) {
        free(items);
        return atom_term("[]");
    }
    return compound(TERM_LIST, items, count);
}

static struct term value_term(const struct amqp_field *f)
{
    struct out o = {0};
    switch (f->type) {
    case 't': out_str(&o, f->v.boolean ? "true" : "false"); break;
    case 'b': out_fmt(&o, "%d", f->v.i8); break;
    case 'B': out_fmt(&o, "%u", f->v.u8); break;
    case 's': out_fmt(&o, "%d", f->v.i16); break;
    case 'u': out_fmt(&o, "%u", f->v.u16); break;
    case 'I': out_fmt(&o, "%" PRId32, f->v.i32); break;
    case 'i': out_fmt(&o, "%" PRIu32, f->v.u32); break;
    case 'l': out_fmt(&o, "%" PRId64, f->v.i64); break;
    case 'T': out_fmt(&o, "%" PRIu64, f->v.u64); break;
    case 'f': put_erlang_float(&o, (double)f->v.f32); break;
    case 'd': put_erlang_float(&o, f->v.f64); break;
    case 'D': {
        struct term *pair = malloc(2 * sizeof *pair);
        if (!pair)
            abort();
        out_fmt(&o, "%u", f->v.decimal.scale);
        pair[0] = atomic(&o);
        o = (struct out){0};
        out_fmt(&o, "%" PRIu32, f->v.decimal.value);
        pair[1] = atomic(&o);
        return compound(TERM_TUPLE, pair, 2);
    }
    case 'S':
    case 'x': return binary_term(f->v.bytes);
    case 'F': return list_term(f->v.table, true);
    case 'A': return list_term(f->v.array, false);
    default: out_str(&o, "undefined"); break;
    }
    return atomic(&o);
}

static void term_free(struct term *t)
{
    free(t->text);
    for (size_t i = 0; i < t->count; i++)
        term_free(&t->items[i]);
    free(t->items);
}

static void write_flat(struct out *o, const struct term *t)
{
    if (t->kind == TERM_ATOMIC || t->kind == TERM_BYTES) {
        out_put(o, t->text, t->len);
        return;
    }
    out_char(o, t->kind == TERM_LIST ? '[' : '{');
    for (size_t i = 0; i < t->count; i++) {
        if (i)
            out_char(o, ',');
        write_flat(o, &t->items[i]);
    }
    out_char(o, t->kind == TERM_LIST ? ']' : '}');
}

/* io_lib_pretty's state: columns are 1-based, `indent` is spaces after a line break,
 * `max` is the whole term's width (its line_max_chars default). */
struct pretty {
    struct out *o;
    size_t max;
};

static bool is_atomic(const struct term *t)
{
    return t->kind == TERM_ATOMIC;
}

static size_t last_depth(bool more_follow, size_t depth)
{
    return more_follow ? 0 : depth + 1;
}

static void pp(struct pretty *p, const struct term *t, long col, size_t indent, size_t depth,
               size_t width);

/* Writes one element; returns its width, or the line length to force a break after it. */
static long pp_element(struct pretty *p, const struct term *t, long col, size_t indent,
                       size_t depth, size_t width)
{
    if (is_atomic(t) && (long)t->len < LINE_LENGTH - col - (long)depth &&
        t->len + width + depth <= p->max) {
        write_flat(p->o, t);
        return (long)t->len;
    }
    pp(p, t, col, indent, depth, width);
    return LINE_LENGTH;
}

/* The elements after the first: atomic ones fill the line, others start a new one. */
static void pp_tail(struct pretty *p, const struct term *items, size_t count, long col0, long col,
                    size_t indent, size_t depth, size_t width)
{
    for (size_t i = 0; i < count; i++) {
        const struct term *e = &items[i];
        size_t depth1 = last_depth(i + 1 < count, depth);
        long elen = 1 + (long)e->len;
        bool fits = depth1 == 0
                        ? elen + 1 < LINE_LENGTH - col && width + (size_t)elen + 1 <= p->max
                        : elen < LINE_LENGTH - col - (long)depth1 &&
                              width + (size_t)elen + depth1 <= p->max;
        if (is_atomic(e) && fits) {
            out_char(p->o, ',');
            write_flat(p->o, e);
            col += elen;
            width += (size_t)elen;
        } else {
            out_str(p->o, ",\n");
            out_spaces(p->o, indent);
            long we = pp_element(p, e, col0, indent, depth1, 0);
            col = col0 + we;
            width = (size_t)we;
        }
    }
}

static void pp_list(struct pretty *p, const struct term *items, size_t count, long col0,
                    size_t indent, size_t depth, size_t width)
{
    long we = pp_element(p, &items[0], col0, indent, last_depth(count > 1, depth), width);
    pp_tail(p, items + 1, count - 1, col0, col0 + we, indent, depth, width + (size_t)we);
}

/* A byte-list binary broken over lines, as many numbers per line as fit. */
static void pp_bytes(struct pretty *p, const struct term *t, long col, size_t indent,
                     size_t depth, size_t width)
{
    long room = LINE_LENGTH - col;
    long by_max = (long)p->max - 4 - (long)width;
    long n0 = (room < by_max ? room : by_max) - (long)depth;
    if (n0 < 8)
        n0 = 8;
    long n = n0;
    out_str(p->o, "<<");
    const char *s = t->text + 2, *end = t->text + t->len - 2;
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        size_t num = (size_t)((comma ? comma : end) - s);
        if (comma) {
            long len = (long)num + 1;
            if (n - len < 0) {
                out_char(p->o, '\n');
                out_spaces(p->o, indent);
                n = n0 - len;
            } else {
                n -= len;
            }
            out_put(p->o, s, num + 1);
            s = comma + 1;
        } else {
            if ((long)num > n) {
                out_char(p->o, '\n');
                out_spaces(p->o, indent);
            }
            out_put(p->o, s, num);
            s = end;
        }
    }
    out_str(p->o, ">>");
}

static void pp(struct pretty *p, const struct term *t, long col, size_t indent, size_t depth,
               size_t width)
{
    if (((long)t->len < LINE_LENGTH - col - (long)depth && t->len + width + depth <= p->max) ||
        t->kind == TERM_ATOMIC) {
        write_flat(p->o, t);
    } else if (t->kind == TERM_BYTES) {
        pp_bytes(p, t, col + 2, indent + 2, depth, width);
    } else if (t->kind == TERM_TUPLE && t->tagged) {
        /* The tag stays on the line; the rest indent by one (io_lib_pretty's fallback tuple
         * indentation, the only one it picks this far right of column 40). */
        out_char(p->o, '{');
        write_flat(p->o, &t->items[0]);
        pp_tail(p, t->items + 1, t->count - 1, col + 1, col + (long)t->items[0].len + 2,
                indent + 1, depth, width + 1 + t->items[0].len);
        out_char(p->o, '}');
    } else {
        out_char(p->o, t->kind == TERM_LIST ? '[' : '{');
        pp_list(p, t->items, t->count, col + 1, indent + 1, depth, width + 1);
        out_char(p->o, t->kind == TERM_LIST ? ']' : '}');
    }
}

/* Appends t as "~p" would, the term starting after `prefix_len` characters of the line. */
static void put_pretty(struct out *o, const struct term *t, size_t prefix_len)
{
    long col = (long)prefix_len + 1;
    if ((long)t->len < LINE_LENGTH - col) {
        write_flat(o, t);
        return;
    }
    struct pretty p = {o, t->len};
    pp(&p, t, col, (size_t)col - 1, 0, 0);
}


size_t amqp_format_field_pretty(char *out, size_t size, const struct amqp_field *f, size_t column)
{
    struct out o = {0};
    struct term value = value_term(f);
    put_pretty(&o, &value, column);
    term_free(&value);
    size_t n = 0;
    if (size) {
        n = o.len < size - 1 ? o.len : size - 1;
        memcpy(out, o.buf, n);
        out[n] = '\0';
    }
    free(o.buf);
    return n;
}
