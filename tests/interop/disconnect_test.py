#!/usr/bin/python3
"""Interop test: clients that vanish at every byte of a session, or send random garbage, never
disturb another connection, and the broker keeps serving (the ASan build checks its memory)."""
import random
import socket
import sys

import pika

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
    if data:
        s.sendall(data)
    if half_close:
        s.shutdown(socket.SHUT_WR)
    s.close()


def main():
    host, port = env_addr()
    witness = pika.BlockingConnection(pika.ConnectionParameters(host, port, heartbeat=0))
    channel = witness.channel()
    queue = channel.queue_declare("disconnect-witness", exclusive=True).method.queue
    stream = session_bytes("disconnect-test")
    for cut in range(len(stream) + 1):
        send_and_vanish(stream[:cut], half_close=cut % 2 == 0)
    print("PASS: %d clients vanished, one at each byte of a %d-byte session"
          % (len(stream) + 1, len(stream)))
    rng = random.Random(20261124)
    handshake = stream[:stream.index(method_frame(1, 20, 10, shortstr("")))]
    for _ in range(300):
        garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        prefix = handshake if rng.random() < 0.7 else b""
        send_and_vanish(prefix + garbage, half_close=rng.random() < 0.5)
    print("PASS: 300 clients sent random garbage (most after a valid handshake)")
    channel.basic_publish("", queue, b"still here")
    method, _, body = channel.basic_get(queue, auto_ack=True)
    ok = body == b"still here"
    print("%s: the witness connection still works: %r" % ("PASS" if ok else "FAIL", body))
    witness.close()
    after = pika.BlockingConnection(pika.ConnectionParameters(host, port))
    after.close()
    print("PASS: new connections are still accepted")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
