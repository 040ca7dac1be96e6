#!/usr/bin/python3
"""Writes the seed inputs of fuzz_connection into tests/fuzz/corpus_connection/ (or argv[1]).

Each input is one mode byte (see fuzz_connection.c: bit 0 prefixes a handshake and
channel.open 1, bit 1 tunes frame_max 4096, bits 2-3 pick the read size, bit 6 makes the
handshake time out at once) and then client bytes."""
import os
import struct
import sys

HANDSHAKE, CHUNK_1 = 0x01, 0x04


def frame(kind, channel, payload):
    return struct.pack(">BHI", kind, channel, len(payload)) + payload + b"\xce"


def shortstr(s):
    s = s.encode() if isinstance(s, str) else s
    return bytes([len(s)]) + s


def longstr(s):
    s = s.encode() if isinstance(s, str) else s
    return struct.pack(">I", len(s)) + s


def table(items=b""):
    return longstr(items)


def method(channel, class_id, method_id, args=b""):
    return frame(1, channel, struct.pack(">HH", class_id, method_id) + args)


def content(channel, body, flags=0, props=b""):
    """A content header and bodies of at most 4088 octets (within frame_max 4096)."""
    header = struct.pack(">HHQH", 60, 0, len(body), flags) + props
    return frame(2, channel, header) + b"".join(frame(3, channel, body[i:i + 4088])
                                                for i in range(0, len(body), 4088))


def publish(channel, exchange, key, body, mandatory=False, flags=0, props=b""):
    args = struct.pack(">H", 0) + shortstr(exchange) + shortstr(key) + bytes([mandatory])
    return method(channel, 60, 40, args) + content(channel, body, flags, props)


def queue_declare(channel, name, bits=0):
    return method(channel, 50, 10, struct.pack(">H", 0) + shortstr(name) + bytes([bits]) + table())


def queue_bind(channel, queue, exchange, key, args=b""):
    return method(channel, 50, 20, struct.pack(">H", 0) + shortstr(queue) + shortstr(exchange)
                  + shortstr(key) + b"\x00" + table(args))


def consume(channel, queue, tag, no_ack=False):
    return method(channel, 60, 20, struct.pack(">H", 0) + shortstr(queue) + shortstr(tag)
                  + bytes([2 if no_ack else 0]) + table())


def ack(channel, tag, multiple=False):
    return method(channel, 60, 80, struct.pack(">QB", tag, multiple))


def handshake():
    caps = shortstr("capabilities") + b"F" + table(shortstr("authentication_failure_close") + b"t\x01")
    start_ok = table(caps) + shortstr("PLAIN") + longstr(b"\0guest\0guest") + shortstr("en_US")
    return (b"AMQP\x00\x00\x09\x01" + method(0, 10, 11, start_ok)
            + method(0, 10, 31, struct.pack(">HIH", 2047, 131072, 0))
            + method(0, 10, 40, shortstr("/") + shortstr("") + b"\x00")
            + method(1, 20, 10, shortstr("")))


GET = lambda ch, q, no_ack=True: method(ch, 60, 70, struct.pack(">H", 0) + shortstr(q) + bytes([no_ack]))  # noqa: E731
CLOSE = method(0, 10, 50, struct.pack(">H", 200) + shortstr("bye") + struct.pack(">HH", 0, 0))

SEEDS = {
    "raw_get": bytes([0]) + handshake() + queue_declare(1, "q") + publish(1, "", "q", b"hello")
    + GET(1, "q") + CLOSE,
    "consume_ack": bytes([HANDSHAKE]) + queue_declare(1, "w") + queue_bind(1, "w", "amq.direct", "k")
    + method(1, 60, 10, struct.pack(">IHB", 0, 2, 0)) + consume(1, "w", "c")
    + b"".join(publish(1, "amq.direct", "k", b"m%d" % i) for i in range(3)) + ack(1, 2, True)
    + method(1, 60, 90, struct.pack(">QB", 3, 1)) + method(1, 60, 30, shortstr("c") + b"\x00"),
    "consume_bytewise": bytes([HANDSHAKE | CHUNK_1]) + queue_declare(1, "b") + consume(1, "b", "", True)
    + publish(1, "", "b", b"x" * 40),
    "confirms": bytes([HANDSHAKE]) + method(1, 85, 10, b"\x00") + queue_declare(1, "c")
    + b"".join(publish(1, "", "c", b"p") for _ in range(3)) + publish(1, "amq.fanout", "", b"f", True)
    + method(1, 20, 40, struct.pack(">H", 200) + shortstr("") + struct.pack(">HH", 0, 0)),
    "tx": bytes([HANDSHAKE]) + queue_declare(1, "t") + method(1, 90, 10) + publish(1, "", "t", b"a")
    + method(1, 90, 30) + publish(1, "", "t", b"b") + method(1, 90, 20) + GET(1, "t", False)
    + method(1, 60, 90, struct.pack(">QB", 1, 1)) + method(1, 60, 110, b"\x01"),
    "exchanges": bytes([HANDSHAKE])
    + method(1, 40, 10, struct.pack(">H", 0) + shortstr("h") + shortstr("headers") + b"\x00"
             + table(shortstr("alternate-exchange") + b"S" + longstr("ae")))
    + queue_declare(1, "", 0x04)
    + queue_bind(1, "", "h", "", shortstr("x-match") + b"S" + longstr("all") + shortstr("a") + b"I\x00\x00\x00\x01")
    + publish(1, "h", "", b"hdr", flags=0xA000, props=shortstr("text/plain") + table(shortstr("a") + b"I\x00\x00\x00\x01"))
    + method(1, 40, 10, struct.pack(">H", 0) + shortstr("t") + shortstr("topic") + b"\x00" + table())
    + queue_bind(1, "", "t", "a.*.#") + publish(1, "t", "a.b.c", b"topic")
    + method(1, 50, 30, struct.pack(">H", 0) + shortstr("") + b"\x00")
    + method(1, 50, 40, struct.pack(">H", 0) + shortstr("") + b"\x00")
    + method(1, 40, 20, struct.pack(">H", 0) + shortstr("h") + b"\x00"),
    "delete_consumed": bytes([HANDSHAKE | 0x02]) + queue_declare(1, "d") + queue_bind(1, "d", "amq.topic", "#")
    + consume(1, "d", "c", False) + publish(1, "amq.topic", "x.y", b"z" * 5000)
    + method(1, 50, 50, struct.pack(">H", 0) + shortstr("d") + shortstr("amq.topic") + shortstr("#") + table())
    + method(1, 50, 40, struct.pack(">H", 0) + shortstr("d") + b"\x00"),
    "timeout_midway": bytes([0x40 | 0x0c]) + handshake()[:40],
    "bad_header": bytes([0]) + b"AMQP\x00\x00\x09\x00",
    "fault_frame_type": bytes([HANDSHAKE]) + frame(9, 0, b"") + method(0, 10, 51),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus_connection")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
