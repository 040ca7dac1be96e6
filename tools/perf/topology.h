/* What the run declares on the broker (exchange, queues, bindings) and removes afterwards. */
#ifndef PERF_TOPOLOGY_H
#define PERF_TOPOLOGY_H

#include <stdbool.h>

#include "errors.h"
#include "options.h"
#include "stream.h"

struct topology {
    unsigned count;                      /* queues; 0 only with --no-declare and no -u/-Q */
    char (*names)[OPTIONS_NAME_MAX];
    bool delete_queues;                  /* named queues this run created for its consumers */
};

/* Declares through the control connection (unless --no-declare):
 * - the exchange given by -e with type -t, unless it is "" or an amq.* name;
 * - the queues: -Q N named <-u or perf-test>-0..N-1, else -u, else one server-named queue
 *   (exclusive to the control connection when there are no consumers, else auto-delete);
 *   named queues are durable with -f persistent; with --predeclared an existing queue is
 *   used as it is (passive declare first);
 * - a binding of every queue to -e with -k, or with the queue's name.
 * Returns 0, or -1 with the error added to e. */
int topology_declare(struct topology *t, struct stream *control, const struct options *o,
                     struct errors *e);
/* Deletes the named queues when this run owns them: not with --predeclared or --no-declare,
 * nor when there were no consumers (that run fills a backlog for a later one). */
void topology_cleanup(struct topology *t, struct stream *control, struct errors *e);
void topology_free(struct topology *t);

/* The queue consumer i reads and the routing key producer i publishes with. */
const char *topology_queue_for(const struct topology *t, unsigned consumer);
const char *topology_routing_key_for(const struct topology *t, const struct options *o,
                                     unsigned producer);

#endif
