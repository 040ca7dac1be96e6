/* The server: the loop, signals, once-per-iteration subscribers, the deadline timer, start and stop order. */
#ifndef SERVER_H
#define SERVER_H

#include "core/list.h"
#include "model/broker.h"

struct server;

/* Work done once per loop iteration, just before the loop waits for I/O: what callbacks
 * queued during the iteration (output, later confirms and store commits) leaves in one go. */
struct server_subscriber {
    struct list link;
    void (*run)(struct server_subscriber *sub);
};

/* Runs the broker until SIGINT or SIGTERM, then closes every connection with 320 and frees
 * everything once they have gone. Returns the process's exit status. */
int server_run(const struct broker_config *config);
/* Subscribers run in the order they subscribed; after the last, the deadline timer is
 * re-armed, so whatever they scheduled is waited for. A subscriber may unsubscribe itself
 * while it runs, but not the one after it. */
void server_subscribe(struct server *s, struct server_subscriber *sub);
void server_unsubscribe(struct server_subscriber *sub);

#endif
