#!/usr/bin/python3
"""Interop test: clients that vanish at every byte of a session, or send random garbage, never
disturb another connection, the broker closes every one of theirs (counted in /proc/net/tcp),
and it keeps accepting new clients (the ASan build checks its memory)."""
import random
import socket
import sys

import pika

from checks import check, exit_status, expect, server_side_connections, wait_for_value
from rawamqp import (PROTOCOL_HEADER, basic_publish_args, body_frame, content_header_frame,
                     env_addr, method_frame, open_args, queue_declare_args, shortstr,
                     start_ok_args, tune_ok_args)


def session_bytes(queue):
    """A whole session as one client would send it, declaring, publishing and consuming."""
    return b"".join([
        PROTOCOL_HEADER,
        method_frame(0, 10, 11, start_ok_args()),
        method_frame(0, 10, 31, tune_ok_args()),
        method_frame(0, 10, 40, open_args()),
        method_frame(1, 20, 10, shortstr("")),
        method_frame(1, 50, 10, queue_declare_args(queue)),
        method_frame(1, 60, 40, basic_publish_args("", queue)),
        content_header_frame(1, 5),
        body_frame(1, b"hello"),
        method_frame(1, 60, 20, b"\x00\x00" + shortstr(queue) + shortstr("") + b"\x00"
                     + b"\x00\x00\x00\x00"),
    ])


def send_and_vanish(data, half_close):
    s = socket.create_connection(env_addr(), 5)
    try:
        if data:
            s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the broker may already have dropped a client that sent garbage
    s.close()


# A client that sent a bad header or a fatal frame is dropped after a delay of about 3 s
# (RabbitMQ's, which Warren copies); allow for that on a loaded machine, but stay below the
# 10 s handshake timeout, which would otherwise hide connections the broker failed to close.
RELEASE_SECONDS = 8


def witness_works(channel, queue, what):
    """The witness connection, open throughout, still publishes and gets."""
    channel.basic_publish("", queue, what.encode())
    _, _, body = channel.basic_get(queue, auto_ack=True)
    expect(body, what.encode(), "%s: the witness connection still works" % what)


def all_released(what):
    """The broker closed every vanished client's connection: only the witness remains."""
    held = wait_for_value(server_side_connections, 1, RELEASE_SECONDS)
    if held is None:
        print("note: the broker is not on loopback; its connections are not counted")
        return
    expect(held, 1, "%s: the broker holds no connection but the witness's" % what)


def main():
    host, port = env_addr()
    witness = pika.BlockingConnection(pika.ConnectionParameters(host, port, heartbeat=0))
    channel = witness.channel()
    queue = channel.queue_declare("disconnect-witness", exclusive=True).method.queue
    if server_side_connections() is not None:
        expect(server_side_connections(), 1, "before: the broker holds the witness's connection")
    stream = session_bytes("disconnect-test")
    for cut in range(len(stream) + 1):
        send_and_vanish(stream[:cut], half_close=cut % 2 == 0)
    what = "%d clients vanished, one at each byte of a %d-byte session" % (
        len(stream) + 1, len(stream))
    witness_works(channel, queue, what)
    all_released(what)
    rng = random.Random(20261124)
    handshake = stream[:stream.index(method_frame(1, 20, 10, shortstr("")))]
    for _ in range(300):
        garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        prefix = handshake if rng.random() < 0.7 else b""
        send_and_vanish(prefix + garbage, half_close=rng.random() < 0.5)
    what = "300 clients sent random garbage (most after a valid handshake)"
    witness_works(channel, queue, what)
    all_released(what)
    witness.close()
    try:
        after = pika.BlockingConnection(pika.ConnectionParameters(host, port))
        check(after.channel().is_open, "new connections are still accepted and open channels")
        after.close()
    except pika.exceptions.AMQPError as error:
        check(False, "a new connection failed: %r" % error)
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
