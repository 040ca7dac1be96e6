/* Dead letters: the copy of a message that leaves a queue for its dead-letter exchange, with the
 * x-death history RabbitMQ 3.10 writes, and the cycle rule that drops it. */
#ifndef DEADLETTER_H
#define DEADLETTER_H

#include <stdbool.h>
#include <stdint.h>

#include "amqp_types.h"
#include "model/message.h"
#include "model/queue.h"

/* RabbitMQ's name of the reason, as x-death's "reason" holds it: "rejected", "expired"... */
const char *deadletter_reason_name(enum dead_letter_reason reason);

/* The dead-lettered copy of m, leaving `queue` for `reason` at `now_s` (seconds since the
 * epoch): published to `dlx` with `dlrk` as its routing key (the CC header dropped) or, when
 * dlrk is NULL, its own routing key and CC; x-death updated (merged per queue and reason,
 * most recent first), x-first-death-* set on the first death, x-last-death-* on every one;
 * the expiration property moved to x-death's original-expiration. */
struct message *deadletter_message(const struct message *m, struct amqp_bytes queue,
                                   enum dead_letter_reason reason, struct amqp_bytes dlx,
                                   const struct amqp_bytes *dlrk, uint64_t now_s);

/* RabbitMQ's cycle rule for a dead letter routed to `queue`: its x-death (newest first)
 * already has that queue, and no death since then, that one included, was a rejection. */
bool deadletter_is_cycle(const struct message *dead_letter, struct amqp_bytes queue);

#endif
