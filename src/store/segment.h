/* Segment files: a header, then records [length][CRC32C][type][payload] appended one after another. */
#ifndef SEGMENT_H
#define SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amqp_buf.h"

/* "WARRENSG", a format version and the segment's number. */
#define SEGMENT_HEADER_SIZE 16
#define SEGMENT_FORMAT 1
/* length (of type and payload), CRC32C (over type and payload), type; network order */
#define SEGMENT_RECORD_OVERHEAD 9

enum segment_record_type {
    SEGMENT_RECORD_MESSAGE = 1,     /* a message and the durable queues it went to (and the
                                     * delayed exchanges holding it, with its due time) */
    SEGMENT_RECORD_FORGET = 2,      /* (queue, seq) pairs: those messages left those queues */
    SEGMENT_RECORD_QUEUE_GONE = 3,  /* a queue was deleted: every reference to it dies */
    SEGMENT_RECORD_QUEUE_NAME = 4,  /* a queue id's vhost and name, for this segment's records */
    SEGMENT_RECORD_REDELIVERED = 5, /* (queue, seq) pairs marked redelivered at a clean stop */
    SEGMENT_RECORD_CLEAN_STOP = 6,  /* the broker stopped in order after this */
    SEGMENT_RECORD_EXCHANGE_NAME = 7, /* as QUEUE_NAME, for a durable delayed exchange's id */
};

/* "<dir>/<number, ten digits>.seg" into out. */
void segment_path(char *out, size_t size, const char *dir, uint32_t number);
/* Parses a segment file name; false for other files. */
bool segment_parse_name(const char *name, uint32_t *number);

void segment_encode_header(uint8_t out[SEGMENT_HEADER_SIZE], uint32_t number);

/* Starts a record of `type` in out; returns its offset, for segment_record_end. */
size_t segment_record_begin(struct amqp_buf *out, enum segment_record_type type);
/* Fills in the length and CRC of the record begun at `at` (the payload follows it in out). */
void segment_record_end(struct amqp_buf *out, size_t at);

/* Payload fields are written with amqp_buf_put_u* (network order) and read with these: a read
 * past the end sets `bad` and yields zeros. */
struct segment_cursor {
    const uint8_t *p, *end;
    bool bad;
};
uint8_t segment_get_u8(struct segment_cursor *c);
uint16_t segment_get_u16(struct segment_cursor *c);
uint32_t segment_get_u32(struct segment_cursor *c);
uint64_t segment_get_u64(struct segment_cursor *c);
const uint8_t *segment_get_bytes(struct segment_cursor *c, size_t len);

/* One whole record, read back on its own: its type and payload; false when its length or CRC
 * is wrong. */
bool segment_record_open(const uint8_t *record, size_t len, uint8_t *type,
                         struct segment_cursor *payload);

/* Walks the records of a segment's bytes, as read from its file. */
struct segment_reader {
    const uint8_t *data;
    size_t size;
    size_t pos;
    uint32_t number;      /* from the header */
    uint32_t damaged;     /* records skipped for a bad CRC */
    bool truncated;       /* the rest was dropped: a torn or insane length */
    size_t dropped_at;    /* where, when truncated */
};

/* False when the header is missing or wrong (the file is not a segment). */
bool segment_reader_init(struct segment_reader *r, const uint8_t *data, size_t size);
/* The next intact record: its type and payload; false at the end (zeros, as preallocation
 * leaves them, or the end of the file). A record with a bad CRC is skipped by its length when
 * that length fits the file, and counted in damaged; a length that does not fit ends the walk
 * with truncated set. */
bool segment_reader_next(struct segment_reader *r, uint8_t *type, struct segment_cursor *payload);

#endif
