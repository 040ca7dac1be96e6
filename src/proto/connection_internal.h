/* The connection's state, private to connection.c (channels use the accessors in connection.h). */
#ifndef CONNECTION_INTERNAL_H
#define CONNECTION_INTERNAL_H

#include <stdbool.h>

#include "amqp_frame.h"
#include "amqp_spec.h"
#include "core/heap.h"
#include "core/list.h"
#include "model/session.h"
#include "proto/connection.h"
#include "proto/frame_trace.h"

struct channel;

enum connection_state {
    CONN_AWAIT_HEADER,   /* waiting for "AMQP" 0 0 9 1 */
    CONN_AWAIT_START_OK,
    CONN_AWAIT_TUNE_OK,
    CONN_AWAIT_OPEN,
    CONN_OPEN,
    CONN_CLOSING,        /* we sent connection.close and wait for close-ok */
    CONN_CLOSE_OK_SENT,  /* the client closed; we answered and wait for it to drop TCP */
    CONN_DOOMED,         /* input ignored; the socket closes when the timer fires */
    CONN_CLOSED,         /* the socket is being closed; input is ignored */
};

struct connection {
    struct broker *broker;
    struct connection_io io;
    enum connection_state state;
    char name[128]; /* "peer -> local", for logs */

    uint8_t *in; /* read buffer; frames are parsed in place */
    size_t in_len;
    size_t in_cap;
    size_t read_room;    /* free space offered to the next read; grows under load */
    size_t read_offered; /* what the last read was offered */
    struct output out;
    struct frame_tap tap; /* the frame trace it records into; tap.trace NULL: none */

    uint32_t frame_max;
    uint16_t channel_max;
    uint16_t heartbeat;
    bool auth_failure_close; /* client capabilities */
    bool consumer_cancel_notify;
    bool blocked_notify;        /* the client takes connection.blocked and unblocked */
    struct session session; /* from connection.open: the user in the vhost */
    char user[256];
    char vhost[256];
    /* what the management API shows */
    struct amqp_bytes client_properties; /* owned copy of start-ok's table body */
    char auth_mechanism[32];
    uint64_t connected_at_ms;            /* wall clock, as RabbitMQ's connected_at */
    uint64_t recv_oct, recv_cnt;         /* bytes and reads from the socket */
    uint64_t send_oct, send_cnt;         /* bytes and writes to it */

    struct channel **channel_pages[256]; /* channel id -> channel, in pages of 256 */
    uint32_t channel_count;
    bool channels_released;     /* the connection is closing: channels hold nothing any more */
    struct list dirty_channels; /* channels owing publisher confirms, flushed per read */
    bool deliveries_held;       /* a consumer was refused credit because output was full */
    uint16_t resume_cursor;     /* where the next resume scan starts, for fairness */
    struct queue *congested;    /* publisher flow control: the queue this connection waits on */
    bool reading_paused;
    /* A channel's reply waits for the disk (connection_hold_input): while the connection is
     * open, its input waits too. */
    bool input_held;
    /* Resource alarms: the connection published while one was in effect, so it reads no
     * more until every alarm clears (RabbitMQ's "blocked"); the rest of its input waits. */
    bool alarm_blocked;
    bool blocked_sent;          /* connection.blocked went out; unblocked is owed */

    struct deadline timer;           /* handshake timeout, then the close wait or doomed delay */
    struct deadline heartbeat_timer; /* ticks at half the heartbeat interval */
    unsigned heartbeat_ticks;
    unsigned missed_checks;     /* consecutive receive checks that saw no octet */
    bool read_since_check;
    bool peer_took_output;      /* a write completed since the last receive check */
    bool wrote_since_tick;
    struct connection_faults *faults; /* proto/fault.h; NULL while none is armed */
};

#endif
