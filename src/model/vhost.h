/* A virtual host: the namespace that holds exchanges, queues and bindings. */
#ifndef VHOST_H
#define VHOST_H

#include <stdbool.h>

#include "amqp_types.h"
#include "core/list.h"
#include "core/map.h"

struct exchange;
struct queue;

struct vhost {
    struct list link; /* in broker.vhosts */
    char *name;
    struct map exchanges; /* name -> struct exchange */
    struct map queues;    /* name -> struct queue */
    uint64_t route_stamp; /* bumped per routed message, see queue.route_stamp */
};

/* Creates the vhost with its standard exchanges: "" (direct), amq.direct, amq.fanout,
 * amq.topic, amq.headers and amq.match. */
struct vhost *vhost_new(const char *name);
void vhost_free(struct vhost *v);

struct exchange *vhost_find_exchange(struct vhost *v, struct amqp_bytes name);
struct queue *vhost_find_queue(struct vhost *v, struct amqp_bytes name);
void vhost_add_exchange(struct vhost *v, struct exchange *x);
void vhost_add_queue(struct vhost *v, struct queue *q);
/* Removes the exchange, its bindings, and frees it. */
void vhost_delete_exchange(struct vhost *v, struct exchange *x);
/* Removes the queue and its bindings (auto-delete exchanges left without bindings go too),
 * tells its consumers, drops its ready messages, and releases the vhost's reference. */
void vhost_delete_queue(struct vhost *v, struct queue *q);
/* Deletes every exclusive queue the connection `owner` declared (it is closing). */
void vhost_delete_owned_queues(struct vhost *v, const void *owner);
/* A fresh "amq.gen-..." name (RabbitMQ's form: 22 url-safe base64 characters). */
void vhost_generate_queue_name(struct vhost *v, char out[32]);

#endif
