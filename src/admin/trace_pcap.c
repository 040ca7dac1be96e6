/* pcap (libpcap's classic format, microseconds, Ethernet) of a frame trace. */
#include "admin/trace_pcap.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_frame.h"
#include "core/alloc.h"

/* The largest TCP payload one synthesised IPv4 packet carries (a frame may be larger). */
#define SEGMENT_MAX 65000u
#define HEADERS_LEN (14 + 20 + 20)

enum { TCP_SYN = 0x02, TCP_PSH = 0x08, TCP_ACK = 0x10 };

struct endpoint {
    uint32_t addr; /* host order */
    uint16_t port;
    uint8_t mac[6];
};

struct stream_state {
    struct endpoint client, broker;
    uint32_t next_seq[2]; /* by enum frame_trace_direction: client's, broker's */
    bool begun;
};

static void put_le32(struct amqp_buf *b, uint32_t v)
{
    uint8_t *p = amqp_buf_extend(b, 4);
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static void put_le16(struct amqp_buf *b, uint16_t v)
{
    uint8_t *p = amqp_buf_extend(b, 2);
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)(p[len - 1] << 8);
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put_be16_at(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_be32_at(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_packet(struct amqp_buf *out, uint64_t time_us, const struct endpoint *src,
                       const struct endpoint *dst, uint32_t seq, uint32_t ack, uint8_t flags,
                       const uint8_t *payload, size_t len)
{
    put_le32(out, (uint32_t)(time_us / 1000000));
    put_le32(out, (uint32_t)(time_us % 1000000));
    put_le32(out, (uint32_t)(HEADERS_LEN + len));
    put_le32(out, (uint32_t)(HEADERS_LEN + len));
    uint8_t *p = amqp_buf_extend(out, HEADERS_LEN);
    memset(p, 0, HEADERS_LEN);
    memcpy(p, dst->mac, 6);
    memcpy(p + 6, src->mac, 6);
    put_be16_at(p + 12, 0x0800);
    uint8_t *ip = p + 14;
    ip[0] = 0x45;
    put_be16_at(ip + 2, (uint16_t)(40 + len));
    put_be16_at(ip + 6, 0x4000); /* don't fragment */
    ip[8] = 64;
    ip[9] = 6; /* TCP */
    put_be32_at(ip + 12, src->addr);
    put_be32_at(ip + 16, dst->addr);
    put_be16_at(ip + 10, fold(sum16(ip, 20, 0)));
    uint8_t *tcp = ip + 20;
    put_be16_at(tcp, src->port);
    put_be16_at(tcp + 2, dst->port);
    put_be32_at(tcp + 4, seq);
    put_be32_at(tcp + 8, ack);
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    put_be16_at(tcp + 14, 65535);
    if (len)
        amqp_buf_put(out, payload, len);
    /* the pseudo-header, the TCP header and the payload (just appended after it) */
    tcp = out->data + out->len - len - 20;
    uint8_t pseudo[12];
    put_be32_at(pseudo, src->addr);
    put_be32_at(pseudo + 4, dst->addr);
    pseudo[8] = 0;
    pseudo[9] = 6;
    put_be16_at(pseudo + 10, (uint16_t)(20 + len));
    put_be16_at(tcp + 16, fold(sum16(tcp, 20 + len, sum16(pseudo, 12, 0))));
}

/* "a.b.c.d:port" at s (to its end or to end); false for anything else (IPv6). */
static bool parse_ipv4(const char *s, const char *end, uint32_t *addr, uint16_t *port)
{
    char text[64];
    size_t len = (size_t)(end - s);
    if (len >= sizeof text)
        return false;
    memcpy(text, s, len);
    text[len] = 0;
    char *colon = strrchr(text, ':');
    if (!colon)
        return false;
    *colon = 0;
    struct in_addr a;
    if (inet_pton(AF_INET, text, &a) != 1)
        return false;
    *addr = ntohl(a.s_addr);
    *port = (uint16_t)atoi(colon + 1);
    return true;
}

/* The stream's ends from its connection name, "peer -> local"; an address that is not IPv4
 * becomes a private one, keeping the peer's port. */
static void stream_ends(const char *name, uint32_t index, struct stream_state *s)
{
    const char *arrow = strstr(name, " -> ");
    uint16_t unused;
    s->client = (struct endpoint){.addr = 0x0a000001u, .port = (uint16_t)(40000 + index % 20000)};
    s->broker = (struct endpoint){.addr = 0x0a000002u, .port = TRACE_PCAP_BROKER_PORT};
    if (arrow) {
        if (!parse_ipv4(name, arrow, &s->client.addr, &s->client.port)) {
            const char *colon = NULL;
            for (const char *p = name; p < arrow; p++)
                if (*p == ':')
                    colon = p;
            if (colon)
                s->client.port = (uint16_t)atoi(colon + 1);
        }
        parse_ipv4(arrow + 4, arrow + 4 + strlen(arrow + 4), &s->broker.addr, &unused);
    }
    static const uint8_t client_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
    static const uint8_t broker_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
    memcpy(s->client.mac, client_mac, 6);
    memcpy(s->broker.mac, broker_mac, 6);
}

static void begin_stream(struct amqp_buf *out, struct stream_state *s, uint64_t time_us)
{
    uint32_t isn_c = 1000, isn_s = 5000;
    put_packet(out, time_us, &s->client, &s->broker, isn_c, 0, TCP_SYN, NULL, 0);
    put_packet(out, time_us, &s->broker, &s->client, isn_s, isn_c + 1, TCP_SYN | TCP_ACK, NULL, 0);
    put_packet(out, time_us, &s->client, &s->broker, isn_c + 1, isn_s + 1, TCP_ACK, NULL, 0);
    put_packet(out, time_us, &s->client, &s->broker, isn_c + 1, isn_s + 1, TCP_PSH | TCP_ACK,
               amqp_protocol_header, sizeof amqp_protocol_header);
    s->next_seq[FRAME_TRACE_IN] = isn_c + 1 + (uint32_t)sizeof amqp_protocol_header;
    s->next_seq[FRAME_TRACE_OUT] = isn_s + 1;
    s->begun = true;
}

void trace_pcap_write(const struct frame_trace *trace, struct amqp_buf *out)
{
    put_le32(out, 0xa1b2c3d4u); /* microsecond timestamps */
    put_le16(out, 2);
    put_le16(out, 4);
    put_le32(out, 0);      /* GMT */
    put_le32(out, 0);      /* sigfigs */
    put_le32(out, 262144); /* snaplen */
    put_le32(out, 1);      /* LINKTYPE_ETHERNET */
    struct stream_state *streams = xcalloc(trace->nstreams ? trace->nstreams : 1, sizeof *streams);
    for (uint32_t i = 0; i < trace->nstreams; i++)
        stream_ends(trace->streams[i].name, i, &streams[i]);
    for (size_t i = 0; i < trace->len; i++) {
        const struct frame_trace_record *r = frame_trace_at(trace, i);
        struct stream_state *s = &streams[r->stream];
        if (!s->begun)
            begin_stream(out, s, r->time_us);
        bool in = r->direction == FRAME_TRACE_IN;
        const struct endpoint *src = in ? &s->client : &s->broker;
        const struct endpoint *dst = in ? &s->broker : &s->client;
        uint32_t *seq = &s->next_seq[r->direction];
        uint32_t ack = s->next_seq[in ? FRAME_TRACE_OUT : FRAME_TRACE_IN];
        for (size_t off = 0; off < r->len; off += SEGMENT_MAX) {
            size_t len = r->len - off < SEGMENT_MAX ? r->len - off : SEGMENT_MAX;
            put_packet(out, r->time_us, src, dst, *seq, ack, TCP_PSH | TCP_ACK, r->bytes + off, len);
            *seq += (uint32_t)len;
        }
    }
    free(streams);
}
