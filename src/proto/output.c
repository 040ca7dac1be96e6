/* What a connection has queued for its socket: one contiguous buffer of frames, with large
 * message bodies spliced in by reference (never copied) at the offsets they belong. */
#include "proto/output.h"

#include <stdlib.h>

#include "core/alloc.h"

void output_init(struct output *o)
{
    amqp_buf_init(&o->bytes);
    o->refs = NULL;
    o->nrefs = o->cap = 0;
    o->ref_bytes = 0;
}

void output_reset(struct output *o)
{
    for (size_t i = 0; i < o->nrefs; i++)
        message_unref(o->refs[i].msg);
    o->nrefs = 0;
    o->ref_bytes = 0;
    amqp_buf_reset(&o->bytes);
}

void output_free(struct output *o)
{
    output_reset(o);
    amqp_buf_free(&o->bytes);
    free(o->refs);
    o->refs = NULL;
    o->cap = 0;
}

void output_put_message_bytes(struct output *o, struct message *m, const uint8_t *ptr, size_t len)
{
    if (len < OUTPUT_REF_MIN) {
        amqp_buf_put(&o->bytes, ptr, len);
        return;
    }
    if (o->nrefs == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 16;
        o->refs = xrealloc(o->refs, o->cap * sizeof *o->refs);
    }
    o->refs[o->nrefs++] = (struct output_ref){o->bytes.len, ptr, len, message_ref(m)};
    o->ref_bytes += len;
}

static void push(uv_buf_t **bufs, unsigned *cap, unsigned *n, const uint8_t *ptr, size_t len)
{
    if (len == 0)
        return;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *bufs = xrealloc(*bufs, *cap * sizeof **bufs);
    }
    (*bufs)[(*n)++] = uv_buf_init((char *)ptr, (unsigned)len);
}

unsigned output_iov(const struct output *o, uv_buf_t **bufs, unsigned *cap)
{
    unsigned n = 0;
    size_t copied = 0;
    for (size_t i = 0; i < o->nrefs; i++) {
        const struct output_ref *r = &o->refs[i];
        push(bufs, cap, &n, o->bytes.data + copied, r->at - copied);
        push(bufs, cap, &n, r->ptr, r->len);
        copied = r->at;
    }
    push(bufs, cap, &n, o->bytes.data + copied, o->bytes.len - copied);
    return n;
}

unsigned output_iov_limit(uv_buf_t *iov, unsigned n, size_t limit)
{
    unsigned i = 0;
    for (; i < n && limit; i++) {
        if (iov[i].len > limit)
            iov[i].len = (unsigned)limit;
        limit -= iov[i].len;
    }
    return i;
}
