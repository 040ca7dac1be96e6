/* A published message: one refcounted block holding its routing data, content header and body,
 * referenced (never copied) by every queue it was routed to and every write that sends it. */
#ifndef MESSAGE_H
#define MESSAGE_H

#include <stdint.h>

#include "amqp_spec.h"
#include "amqp_types.h"

struct message {
    uint32_t refs;
    struct amqp_bytes exchange;     /* the name it was published to */
    struct amqp_bytes routing_key;
    struct amqp_bytes header;       /* the content header payload as received, resent verbatim */
    struct amqp_basic_properties props; /* decoded from header; slices point into it */
    uint64_t body_size;
    uint64_t body_received;         /* while the body frames are arriving */
    uint8_t *body;                  /* body_size octets, inside the same block */
};

/* Copies exchange, routing key and header into one allocation with room for the body.
 * header must decode (the caller checked it) into props, whose slices point into header and
 * are re-pointed into the copy; props may be NULL to have the copied header decoded here.
 * The new message has one reference, the caller's. */
struct message *message_new(struct amqp_bytes exchange, struct amqp_bytes routing_key,
                            struct amqp_bytes header, const struct amqp_basic_properties *props,
                            uint64_t body_size);
/* Appends a body frame's payload; the caller ensures it fits. */
void message_append_body(struct message *m, struct amqp_bytes part);
static inline struct message *message_ref(struct message *m)
{
    m->refs++;
    return m;
}
void message_unref(struct message *m);

#endif
