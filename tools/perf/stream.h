/* A non-blocking TCP (or TLS) connection: an input buffer of unparsed bytes and an output queue. */
#ifndef PERF_STREAM_H
#define PERF_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "amqp_buf.h"
#include "amqp_frame.h"
#include "amqp_spec.h"
#include "tls.h"
#include "uri.h"

struct stream {
    int fd;
    uint32_t frame_max;       /* the largest frame payload accepted from the peer */
    uint8_t *in;              /* unparsed input is in[in_off..in_len) */
    size_t in_off, in_len, in_cap;
    struct amqp_buf out;      /* unwritten output is out.data[out_off..out.len) */
    size_t out_off;
    bool readable, writable;  /* edge-triggered readiness, cleared on EAGAIN */
    bool hangup;              /* the peer shut down: read until EOF, not just until short */
    bool eof;
    bool close_sent;          /* our connection.close is queued; waiting for close-ok */
    bool closed;              /* done with: the socket is closed or about to be */
    uint64_t close_deadline_ns;
    struct ssl_st *tls;       /* NULL for plain TCP (last: the hot fields keep their places) */
    char name[48];            /* "producer 3", for messages */
};

/* Connects (blocking connect, then non-blocking with TCP_NODELAY), then with tls (for an
 * amqps URI) runs the TLS handshake. Returns 0, or -1 with a reason in err. */
int stream_connect(struct stream *s, const struct uri *u, struct ssl_ctx_st *tls,
                   const char *name, char *err, size_t err_size);
void stream_close(struct stream *s);

/* Makes in_cap at least cap (keeping the unparsed bytes). */
void stream_reserve_input(struct stream *s, size_t cap);
/* Moves the unparsed bytes to the front of the buffer. */
void stream_compact(struct stream *s);
/* One read() into the free tail of the input buffer. Returns the bytes read, 0 when the socket
 * had nothing (readable cleared) or the buffer is full, -1 on EOF or error (eof set). A short
 * read drained the socket, so it clears readable too (saving the EAGAIN read) unless the
 * peer hung up. */
ssize_t stream_read(struct stream *s);
/* Writes queued output. Returns 1 when all is written, 0 when some is left (writable cleared),
 * -1 on error (eof set). */
int stream_flush(struct stream *s);

static inline bool stream_has_output(const struct stream *s)
{
    return s->out_off < s->out.len;
}

/* Appends a method frame on channel. */
void stream_put_method(struct stream *s, uint16_t channel, const struct amqp_method *m);

#endif
