/* What the message log's write side and its recovery share. */
#ifndef MESSAGE_LOG_INTERNAL_H
#define MESSAGE_LOG_INTERNAL_H

#include "store/message_log.h"

uint64_t message_log_wall_ms(void);
/* Appends a segment to the table (numbers only grow). */
struct store_segment *message_log_add_segment(struct message_log *l, uint32_t number,
                                              uint64_t used, uint64_t size);
/* The queue numbered id, created or renamed. */
struct stored_queue *message_log_add_queue(struct message_log *l, uint32_t id, const char *vhost,
                                           struct amqp_bytes name);
/* A new stored message for m (m->stored points at it), in no list yet. */
struct stored_message *message_log_new_stored(struct message *m, uint64_t seq, uint64_t arrived_ms);
void message_log_add_id(struct stored_message *sm, uint32_t id);
/* The stored message's record lives in s from now on. */
void message_log_link(struct store_segment *s, struct stored_message *sm);
/* Frees it and clears its message's stored. */
void message_log_free_stored(struct stored_message *sm);

#endif
