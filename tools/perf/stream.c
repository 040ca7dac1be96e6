/* Non-blocking socket I/O with large buffers: connect, read, write and frame queuing. */
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int connect_any(const struct uri *u, char *err, size_t err_size)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *list;
    int rc = getaddrinfo(u->host, u->port, &hints, &list);
    if (rc != 0) {
        snprintf(err, err_size, "cannot resolve %s: %s", u->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *a = list; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(list);
    if (fd < 0)
        snprintf(err, err_size, "cannot connect to %s:%s: %s", u->host, u->port, strerror(saved));
    return fd;
}

int stream_connect(struct stream *s, const struct uri *u, struct ssl_ctx_st *tls,
                   const char *name, char *err, size_t err_size)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    snprintf(s->name, sizeof s->name, "%s", name);
    amqp_buf_init(&s->out);
    s->frame_max = 131072; /* until tune */
    stream_reserve_input(s, 1u << 16);
    int fd = connect_any(u, err, err_size);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (tls && !(s->tls = tls_connect(tls, fd, u->host, err, err_size))) {
        close(fd);
        return -1;
    }
    s->fd = fd;
    s->readable = s->writable = true;
    return 0;
}

void stream_close(struct stream *s)
{
    tls_free(s->tls); /* no close_notify: the AMQP close already ended the session */
    s->tls = NULL;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    free(s->in);
    s->in = NULL;
    s->in_off = s->in_len = s->in_cap = 0;
    amqp_buf_free(&s->out);
    s->out_off = 0;
}

void stream_reserve_input(struct stream *s, size_t cap)
{
    if (s->in_cap >= cap)
        return;
    uint8_t *in = realloc(s->in, cap);
    if (!in)
        abort();
    s->in = in;
    s->in_cap = cap;
}

void stream_compact(struct stream *s)
{
    if (s->in_off == 0)
        return;
    size_t left = s->in_len - s->in_off;
    if (left)
        memmove(s->in, s->in + s->in_off, left);
    s->in_off = 0;
    s->in_len = left;
}

/* Makes room at the input's tail; false when the buffer is full of unparsed bytes. */
static inline bool make_input_room(struct stream *s)
{
    if (s->in_off == s->in_len)
        s->in_off = s->in_len = 0;
    if (s->in_len == s->in_cap)
        stream_compact(s);
    return s->in_len < s->in_cap;
}

static ssize_t read_tls(struct stream *s)
{
    bool drained;
    ssize_t n = tls_read(s->tls, s->in + s->in_len, s->in_cap - s->in_len, &drained);
    if (n > 0)
        s->in_len += (size_t)n;
    if (drained)
        s->readable = false;
    if (n < 0) {
        s->eof = true;
        s->readable = false;
    }
    return n;
}

ssize_t stream_read(struct stream *s)
{
    if (!make_input_room(s))
        return 0;
    if (s->tls)
        return read_tls(s);
    for (;;) {
        size_t room = s->in_cap - s->in_len;
        ssize_t n = read(s->fd, s->in + s->in_len, room);
        if (n > 0) {
            s->in_len += (size_t)n;
            if ((size_t)n < room && !s->hangup)
                s->readable = false;
            return n;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            s->readable = false;
            return 0;
        }
        s->eof = true;
        s->readable = false;
        return -1;
    }
}

static inline int output_written(struct stream *s)
{
    amqp_buf_reset(&s->out);
    s->out_off = 0;
    return 1;
}

static int flush_tls(struct stream *s)
{
    while (s->out_off < s->out.len) {
        ssize_t n = tls_write(s->tls, s->out.data + s->out_off, s->out.len - s->out_off);
        if (n > 0) {
            s->out_off += (size_t)n;
            continue;
        }
        if (n == 0) {
            s->writable = false;
            return 0;
        }
        s->eof = true;
        return -1;
    }
    return output_written(s);
}

int stream_flush(struct stream *s)
{
    if (s->tls)
        return flush_tls(s);
    while (s->out_off < s->out.len) {
        ssize_t n = write(s->fd, s->out.data + s->out_off, s->out.len - s->out_off);
        if (n > 0) {
            s->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            s->writable = false;
            return 0;
        }
        s->eof = true;
        return -1;
    }
    return output_written(s);
}

void stream_put_method(struct stream *s, uint16_t channel, const struct amqp_method *m)
{
    size_t start = amqp_frame_begin(&s->out, AMQP_FRAME_METHOD, channel);
    amqp_method_encode(&s->out, m);
    amqp_frame_finish(&s->out, start);
}
