/* Faults armed on one connection for client testing: applied at once or kept until the path they concern consults them. */
#include "proto/fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_spec.h"
#include "core/alloc.h"
#include "core/log.h"
#include "proto/channel.h"
#include "model/broker.h"
#include "proto/connection.h"

static const char *const kind_names[] = {
    [FAULT_BLOCK] = "block",
    [FAULT_UNBLOCK] = "unblock",
    [FAULT_CLOSE] = "close",
    [FAULT_CLOSE_CHANNEL] = "close_channel",
    [FAULT_CUT] = "cut",
    [FAULT_DELAY] = "delay",
    [FAULT_STOP_HEARTBEATS] = "stop_heartbeats",
    [FAULT_RESUME_HEARTBEATS] = "resume_heartbeats",
    [FAULT_NACK] = "nack",
    [FAULT_FAIL_NEXT] = "fail_next",
};

bool fault_kind_parse(const char *name, enum fault_kind *out)
{
    for (size_t i = 0; i < sizeof kind_names / sizeof *kind_names; i++) {
        if (!strcmp(name, kind_names[i])) {
            *out = (enum fault_kind)i;
            return true;
        }
    }
    return false;
}

const char *fault_kind_name(enum fault_kind kind)
{
    return kind_names[kind];
}

/* The connection's pointer to what is armed on it. */
static struct connection_faults **slot(struct connection *c)
{
    return connection_faults_slot(c);
}

static struct connection_faults *armed(struct connection *c)
{
    struct connection_faults **f = slot(c);
    if (!*f)
        *f = xcalloc(1, sizeof **f);
    return *f;
}

static bool output_armed(const struct output_fault *o)
{
    return o->delay_ms || o->cut_armed;
}

/* Once nothing is armed the connection's pointer is NULL again, and the transport's too. */
static void release_if_idle(struct connection *c)
{
    struct connection_faults *f = *slot(c);
    if (!f)
        return;
    const struct connection_io *io = connection_transport(c);
    if (!output_armed(&f->output) && f->output_handed) {
        io->set_output_fault(io->ctx, NULL);
        f->output_handed = false;
    }
    if (f->heartbeats_stopped || f->nacks_left || f->consume.code || f->declare.code ||
        output_armed(&f->output))
        return;
    free(f);
    *slot(c) = NULL;
}

/* connection.blocked or unblocked, to a client that takes them: RabbitMQ sends neither to
 * one whose start-ok did not announce the connection.blocked capability. */
static bool send_blocking(struct connection *c, const struct fault_request *r, const char **why)
{
    if (!connection_takes_blocked(c)) {
        *why = "the client did not announce the connection.blocked capability (RabbitMQ never "
               "sends it connection.blocked)";
        return false;
    }
    struct amqp_method m = {.id = r->kind == FAULT_BLOCK ? AMQP_CONNECTION_BLOCKED
                                                         : AMQP_CONNECTION_UNBLOCKED};
    if (r->kind == FAULT_BLOCK)
        m.connection_blocked.reason = amqp_bytes_of(r->text, strlen(r->text));
    connection_send_method(c, 0, &m);
    return true;
}

static bool close_channel(struct connection *c, const struct fault_request *r, const char **why)
{
    struct channel *ch = r->channel ? connection_channel(c, r->channel) : NULL;
    if (!ch || !channel_is_open(ch)) {
        *why = "the connection has no open channel with that number";
        return false;
    }
    channel_close_as_given(ch, r->code, 0, r->text);
    return true;
}

/* Delay and cut live in the transport: it is handed the settings to obey. */
static bool arm_output(struct connection *c, const struct fault_request *r, const char **why)
{
    const struct connection_io *io = connection_transport(c);
    if (!io->set_output_fault) {
        *why = "this connection's transport cannot delay or cut its writes";
        return false;
    }
    struct output_fault *o = &armed(c)->output;
    if (r->kind == FAULT_DELAY) {
        o->delay_ms = r->ms;
    } else {
        o->cut_armed = true;
        o->cut_after = r->bytes;
    }
    if (output_armed(o)) {
        io->set_output_fault(io->ctx, o);
        (*slot(c))->output_handed = true;
    }
    return true;
}

static void arm_error(struct connection *c, const struct fault_request *r)
{
    struct connection_faults *f = armed(c);
    struct fault_error *e = r->method_id == AMQP_BASIC_CONSUME ? &f->consume : &f->declare;
    e->code = r->code;
    snprintf(e->text, sizeof e->text, "%s", r->text);
}

bool fault_inject(struct connection *c, const struct fault_request *r, const char **why)
{
    if (!connection_is_open(c)) {
        *why = "the connection is not open (still in its handshake, or closing)";
        return false;
    }
    log_warning(&connection_broker(c)->log, "connection %s: fault injected: %s", connection_log_name(c),
                fault_kind_name(r->kind));
    bool ok = true;
    switch (r->kind) {
    case FAULT_BLOCK:
    case FAULT_UNBLOCK: ok = send_blocking(c, r, why); break;
    case FAULT_CLOSE: connection_close_as_given(c, r->code, r->text); break;
    case FAULT_CLOSE_CHANNEL: ok = close_channel(c, r, why); break;
    case FAULT_CUT:
    case FAULT_DELAY: ok = arm_output(c, r, why); break;
    case FAULT_STOP_HEARTBEATS:
        if (!connection_heartbeat(c)) {
            *why = "the connection negotiated no heartbeats (heartbeat 0): there are none to stop";
            ok = false;
            break;
        }
        armed(c)->heartbeats_stopped = true;
        break;
    case FAULT_RESUME_HEARTBEATS:
        if (*slot(c))
            (*slot(c))->heartbeats_stopped = false;
        break;
    case FAULT_NACK: armed(c)->nacks_left = r->count; break;
    case FAULT_FAIL_NEXT: arm_error(c, r); break;
    }
    release_if_idle(c);
    return ok;
}

void fault_clear(struct connection *c)
{
    struct connection_faults *f = *slot(c);
    if (!f)
        return;
    bool handed = f->output_handed;
    memset(f, 0, sizeof *f);
    f->output_handed = handed;
    release_if_idle(c);
}

bool fault_take_nack(struct connection *c)
{
    struct connection_faults *f = *slot(c);
    if (!f || !f->nacks_left)
        return false;
    f->nacks_left--;
    release_if_idle(c);
    return true;
}

bool fault_take_error(struct connection *c, uint32_t method_id, uint16_t *code, char *text,
                      size_t size)
{
    struct connection_faults *f = *slot(c);
    if (!f)
        return false;
    struct fault_error *e = method_id == AMQP_BASIC_CONSUME ? &f->consume : &f->declare;
    if (!e->code)
        return false;
    *code = e->code;
    snprintf(text, size, "%s", e->text);
    e->code = 0;
    release_if_idle(c);
    return true;
}
