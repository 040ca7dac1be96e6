/* A frame trace as a pcap file: synthesised Ethernet, IPv4 and TCP headers around the frames'
 * real bytes, one TCP stream per connection with the broker on port 5672, so that
 * Wireshark's AMQP dissector decodes it. */
#ifndef TRACE_PCAP_H
#define TRACE_PCAP_H

#include "amqp_buf.h"
#include "proto/frame_trace.h"

/* The broker's side of every stream: where Wireshark looks for AMQP. */
#define TRACE_PCAP_BROKER_PORT 5672

/* Appends the whole file. Each stream opens with a handshake and the client's protocol
 * header (sent before any trace could start), then its frames in the order recorded, with
 * sequence and acknowledgement numbers that follow the octets each side sent. */
void trace_pcap_write(const struct frame_trace *trace, struct amqp_buf *out);

#endif
