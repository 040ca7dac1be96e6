/* An editable field table: entries as (key, encoded value) slices that can be stored, deleted
 * and sorted as Erlang's lists:keystore, keydelete and RabbitMQ's sort_field_table do, then
 * encoded again; with the encoded values it needs built in a scratch area. */
#ifndef FIELD_LIST_H
#define FIELD_LIST_H

#include <stddef.h>
#include <stdint.h>

#include "amqp_buf.h"
#include "amqp_types.h"

struct field_entry {
    struct amqp_bytes key;
    struct amqp_bytes value; /* type letter and payload */
    size_t order;            /* keeps the sort stable, as Erlang's lists:keysort */
};

struct field_list {
    struct field_entry *items;
    size_t len, cap;
};

/* Where encoded values built for a list live until it is encoded. */
struct field_scratch {
    struct amqp_buf *bufs;
    size_t len, cap;
};

/* A fresh buffer that lives until field_scratch_free. */
struct amqp_buf *field_scratch_buf(struct field_scratch *s);
void field_scratch_free(struct field_scratch *s);
struct amqp_bytes field_scratch_bytes(const struct amqp_buf *b);

void field_list_push(struct field_list *f, struct amqp_bytes key, struct amqp_bytes value);
/* The entries of a checked table body, as slices into it. */
void field_list_parse(struct field_list *f, struct amqp_bytes body);
struct field_entry *field_list_find(struct field_list *f, const char *key);
/* lists:keystore: the first entry of that key gets the value, or one is appended. */
void field_list_store(struct field_list *f, const char *key, struct amqp_bytes value);
/* lists:keydelete: the first entry of that key goes. */
void field_list_delete(struct field_list *f, const char *key);
/* RabbitMQ's sort_field_table: by key, octet by octet, stable. */
void field_list_sort(struct field_list *f);
/* The list as a table value: 'F', length, entries. */
struct amqp_bytes field_list_encode(const struct field_list *f, struct field_scratch *s);

/* Encoded values (type letter and payload). */
struct amqp_bytes field_value_longstr(struct field_scratch *s, struct amqp_bytes v);
struct amqp_bytes field_value_long(struct field_scratch *s, int64_t v);
struct amqp_bytes field_value_timestamp(struct field_scratch *s, uint64_t v);
struct amqp_bytes field_value_array(struct field_scratch *s, const struct amqp_bytes *items, size_t n);
/* The body of an encoded table or array value, past its type letter and length. */
struct amqp_bytes field_value_nested_body(struct amqp_bytes value);

#endif
