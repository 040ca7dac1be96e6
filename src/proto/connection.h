/* An AMQP connection: handshake, tuning, heartbeats, close, and frame dispatch to channels. */
#ifndef CONNECTION_H
#define CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "amqp_buf.h"
#include "proto/output.h"
#include "model/broker.h"

struct session;

struct connection;

/* What the transport underneath provides. The connection appends bytes to its output buffer
 * (connection_output) and calls flush; close asks the transport to write what is pending, close
 * the socket and then call connection_destroy. */
/* What the management API shows of a TLS session, in RabbitMQ's spelling ("tlsv1.3",
 * "ecdhe_rsa", "aes_256_gcm", "aead"); a field left empty is shown as null. */
struct connection_tls_info {
    char protocol[16], key_exchange[32], cipher[40], hash[16];
    char peer_subject[256], peer_issuer[256], peer_validity[48];
};

struct connection_io {
    void (*flush)(void *ctx);
    void (*close)(void *ctx);
    /* Stop reading (publisher flow control) until connection_may_read says otherwise; the
     * transport asks once per loop iteration. */
    void (*pause_reading)(void *ctx);
    void *ctx;
    bool peer_loopback; /* the peer's address is a loopback one (loopback_users) */
    bool tls;           /* the transport is TLS (the management API's "ssl"; EXTERNAL offered) */
    /* The verified client certificate's name as ssl_cert_login_from says (SASL EXTERNAL), or
     * false with RabbitMQ's reason; NULL on plain TCP. */
    bool (*peer_cert_name)(void *ctx, char *out, size_t len, const char **why);
    void (*tls_info)(void *ctx, struct connection_tls_info *out); /* NULL on plain TCP */
    /* Fault injection (proto/fault.h): the transport obeys f from now on, NULL: no more. NULL
     * where the transport takes no output faults. */
    void (*set_output_fault)(void *ctx, struct output_fault *f);
};

struct connection *connection_new(struct broker *broker, const struct connection_io *io,
                                  const char *name);
/* Where the transport should read the next bytes to (never less than 4 KiB of room). */
void connection_read_buffer(struct connection *c, char **base, size_t *len);
/* The transport read n octets from its socket (ciphertext under TLS, as RabbitMQ counts them
 * for the management API). */
void connection_received(struct connection *c, size_t n);
/* n bytes were read into the buffer last handed out: parse and act on every complete frame. */
void connection_read_done(struct connection *c, size_t n);
/* The peer closed the socket or it failed; the transport closes its side next. */
void connection_read_eof(struct connection *c, const char *why);
struct output *connection_output(struct connection *c);
/* The transport wrote n octets to its socket (ciphertext under TLS), counted as received ones. */
void connection_sent(struct connection *c, size_t n);
/* The transport takes this output (plaintext frames) for its socket: recorded while a frame
 * trace is on. */
void connection_output_taken(struct connection *c, const struct output *o);
/* A write finished: the connection may send what it held back while its output was full. */
void connection_write_done(struct connection *c);
/* Whether a paused publisher may read again: the queue that made it wait has drained, and
 * no resource alarm blocks it (connection.unblocked goes out then). */
bool connection_may_read(struct connection *c);
/* The transport reads again after a pause: input already read and held back is handled. */
void connection_read_resumed(struct connection *c);
/* The broker is stopping: close with 320 CONNECTION_FORCED (or drop, mid-handshake). */
void connection_shutdown(struct connection *c);
/* The socket is closed: release everything; the connection is freed before this returns. */
void connection_destroy(struct connection *c);

/* What the management API shows of a connection; strings live as long as it does. */
struct connection_info {
    const char *name; /* "peer -> local", RabbitMQ's connection name */
    const char *user;
    const char *vhost;
    struct amqp_bytes client_properties; /* a checked table body; empty before start-ok */
    const char *auth_mechanism;
    uint64_t connected_at_ms; /* wall clock */
    uint16_t heartbeat;
    uint32_t frame_max;
    uint16_t channel_max;
    uint32_t channels;
    const char *state; /* "starting", "tuning", "opening", "running" or "closing" */
    bool open;
    bool ssl; /* over TLS */
    uint64_t recv_oct, recv_cnt, send_oct, send_cnt;
};
void connection_info(const struct connection *c, struct connection_info *out);
/* The TLS session's details; all empty on plain TCP. */
void connection_tls_info(const struct connection *c, struct connection_tls_info *out);
/* An operator (the management API) or the broker (the connection's vhost or user was deleted)
 * closes it: 320 CONNECTION_FORCED with this text (dropped mid-handshake). */
void connection_force_close(struct connection *c, const char *reason);
/* Its frame trace's tap (proto/frame_trace.h), for the management API to attach. */
struct frame_tap *connection_frame_tap(struct connection *c);

/* Fault injection: connection.close with this code and text exactly, as RabbitMQ sends it;
 * the peer's close-ok is awaited as usual. */
void connection_close_as_given(struct connection *c, uint16_t code, const char *text);
/* Where the connection points at its armed faults (NULL while none is): its channels read
 * it, proto/fault.c sets it; connection_destroy frees what it points at. */
struct connection_faults;
struct connection_faults **connection_faults_slot(struct connection *c);
/* What proto/fault.c needs besides: the transport, the client's connection.blocked
 * capability, the negotiated heartbeat (seconds, 0: none). */
const struct connection_io *connection_transport(const struct connection *c);
bool connection_takes_blocked(const struct connection *c);
uint16_t connection_heartbeat(const struct connection *c);

/* ---- what channels use ---- */

struct amqp_frame;
struct amqp_method;
struct channel;
struct list;
struct queue;

void connection_send_method(struct connection *c, uint16_t channel, const struct amqp_method *m);
/* A connection exception: connection.close with code, "NAME - text" and the offending method
 * (0 when a frame, not a method, was at fault). */
void connection_fail(struct connection *c, uint16_t code, uint32_t method_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A method frame whose payload did not decode: the error RabbitMQ gives for that fault. */
void connection_fail_decode(struct connection *c, const struct amqp_frame *f,
                            const struct amqp_error *err);
struct channel *connection_channel(struct connection *c, uint16_t id);
void connection_set_channel(struct connection *c, uint16_t id, struct channel *ch);
uint32_t connection_channel_count(const struct connection *c);
uint16_t connection_channel_max(const struct connection *c);

struct broker *connection_broker(const struct connection *c);
struct vhost *connection_vhost(const struct connection *c);
/* Who the connection's verbs run as (model/session.h). */
struct session *connection_session(struct connection *c);
/* "peer -> local", for logs. */
const char *connection_log_name(const struct connection *c);
/* The negotiated frame size: fixed before any channel opens. */
uint32_t connection_frame_max(const struct connection *c);
/* Did the client ask for basic.cancel when a queue it consumes from goes? */
bool connection_wants_cancel_notify(const struct connection *c);
bool connection_is_open(const struct connection *c);
/* Output not yet handed to the socket beyond which deliveries wait (back-pressure). */
#define CONNECTION_OUTPUT_HIGH (1u << 20)
/* A delivery waited because the output passed the mark: connection_write_done resumes them. */
void connection_hold_deliveries(struct connection *c);
/* The channel owes publisher confirms: they go out once this run of input is handled.
 * link is the channel's dirty_link. */
void connection_owe_confirms(struct connection *c, struct list *link);
/* A reply waits for the disk: c handles no more of its input (the rest of what was read
 * stays in the buffer) and stops reading until connection_release_input. */
void connection_hold_input(struct connection *c);
void connection_release_input(struct connection *c);
/* A publish on c left q congested: c stops reading until q drains (publisher flow control). */
void connection_note_congested(struct connection *c, struct queue *q);

#endif
