/* Segment files: naming, the header, record framing with CRC32C, and the reader that skips damage. */
#include "store/segment.h"

#include <stdio.h>
#include <string.h>

#include "core/crc32c.h"

static const uint8_t magic[8] = {'W', 'A', 'R', 'R', 'E', 'N', 'S', 'G'};

void segment_path(char *out, size_t size, const char *dir, uint32_t number)
{
    snprintf(out, size, "%s/%010u.seg", dir, number);
}

bool segment_parse_name(const char *name, uint32_t *number)
{
    if (strlen(name) != 14 || strcmp(name + 10, ".seg") != 0)
        return false;
    uint64_t n = 0;
    for (int i = 0; i < 10; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        n = n * 10 + (uint64_t)(name[i] - '0');
    }
    if (n > UINT32_MAX)
        return false;
    *number = (uint32_t)n;
    return true;
}

void segment_encode_header(uint8_t out[SEGMENT_HEADER_SIZE], uint32_t number)
{
    memcpy(out, magic, sizeof magic);
    amqp_put_u32(out + 8, SEGMENT_FORMAT);
    amqp_put_u32(out + 12, number);
}

size_t segment_record_begin(struct amqp_buf *out, enum segment_record_type type)
{
    size_t at = out->len;
    amqp_buf_extend(out, 8); /* length and CRC, filled in by segment_record_end */
    amqp_buf_put_u8(out, (uint8_t)type);
    return at;
}

void segment_record_end(struct amqp_buf *out, size_t at)
{
    uint8_t *r = out->data + at;
    size_t len = out->len - at - 8;
    amqp_put_u32(r, (uint32_t)len);
    amqp_put_u32(r + 4, crc32c(0, r + 8, len));
}

uint8_t segment_get_u8(struct segment_cursor *c)
{
    const uint8_t *p = segment_get_bytes(c, 1);
    return p ? *p : 0;
}

uint16_t segment_get_u16(struct segment_cursor *c)
{
    const uint8_t *p = segment_get_bytes(c, 2);
    return p ? amqp_get_u16(p) : 0;
}

uint32_t segment_get_u32(struct segment_cursor *c)
{
    const uint8_t *p = segment_get_bytes(c, 4);
    return p ? amqp_get_u32(p) : 0;
}

uint64_t segment_get_u64(struct segment_cursor *c)
{
    const uint8_t *p = segment_get_bytes(c, 8);
    return p ? amqp_get_u64(p) : 0;
}

const uint8_t *segment_get_bytes(struct segment_cursor *c, size_t len)
{
    if (c->bad || (size_t)(c->end - c->p) < len) {
        c->bad = true;
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += len;
    return p;
}

bool segment_record_open(const uint8_t *record, size_t len, uint8_t *type,
                         struct segment_cursor *payload)
{
    if (len < SEGMENT_RECORD_OVERHEAD || amqp_get_u32(record) != len - 8 ||
        crc32c(0, record + 8, len - 8) != amqp_get_u32(record + 4))
        return false;
    *type = record[8];
    *payload = (struct segment_cursor){record + 9, record + len, false};
    return true;
}

bool segment_reader_init(struct segment_reader *r, const uint8_t *data, size_t size)
{
    *r = (struct segment_reader){.data = data, .size = size, .pos = SEGMENT_HEADER_SIZE};
    if (size < SEGMENT_HEADER_SIZE || memcmp(data, magic, sizeof magic) != 0 ||
        amqp_get_u32(data + 8) != SEGMENT_FORMAT)
        return false;
    r->number = amqp_get_u32(data + 12);
    return true;
}

static void truncate_at(struct segment_reader *r)
{
    r->truncated = true;
    r->dropped_at = r->pos;
    r->pos = r->size;
}

bool segment_reader_next(struct segment_reader *r, uint8_t *type, struct segment_cursor *payload)
{
    while (r->pos + 8 <= r->size) {
        const uint8_t *h = r->data + r->pos;
        uint32_t len = amqp_get_u32(h), crc = amqp_get_u32(h + 4);
        if (len == 0) {
            /* preallocated zeros: the end, unless a record was torn here (nonzero bytes on) */
            if (crc != 0)
                truncate_at(r);
            return false;
        }
        if (len > r->size - r->pos - 8) {
            truncate_at(r); /* torn: the record would pass the end, or its length is garbage */
            return false;
        }
        const uint8_t *body = h + 8;
        r->pos += 8 + (size_t)len;
        if (crc32c(0, body, len) != crc) {
            /* skipped by its length; a torn tail leaves zeros after it, which end the walk */
            r->damaged++;
            continue;
        }
        *type = body[0];
        *payload = (struct segment_cursor){body + 1, body + len, false};
        return true;
    }
    for (size_t i = r->pos; i < r->size; i++)
        if (r->data[i]) {
            truncate_at(r); /* a few bytes, too short for a record's length and CRC */
            break;
        }
    return false;
}
