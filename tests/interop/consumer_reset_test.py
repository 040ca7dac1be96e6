#!/usr/bin/python3
"""Interop test: consumers that reset their TCP connection (RST) while a delivery for them is
being written leave nothing behind that fires later: the broker outlives the linger delay it
would have waited, keeps serving another connection, and (on the ASan build) touches no freed
memory. Each round: A consumes without acks, B publishes to A's queue, A resets at once."""
import socket
import struct
import time

from checks import check, exit_status, expect
from rawamqp import (basic_consume_args, basic_publish_args, body_frame, client_in,
                     content_header_frame, method_frame, queue_declare_args)

ROUNDS = 200
LINGER_SECONDS = 5  # how long a closing connection may wait for its output to drain


def reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def main():
    publisher = client_in("channel")
    body = b"x" * 100
    for i in range(ROUNDS):
        queue = "reset-%d" % i
        consumer = client_in("channel")
        consumer.send_method(1, 50, 10, queue_declare_args(queue))
        consumer.expect_method(50, 11)
        consumer.send_method(1, 60, 20, basic_consume_args(queue, no_ack=True))
        consumer.expect_method(60, 21)
        publisher.sock.sendall(method_frame(1, 60, 40, basic_publish_args("", queue))
                               + content_header_frame(1, len(body)) + body_frame(1, body))
        reset(consumer.sock)
    time.sleep(LINGER_SECONDS + 2)  # past every linger deadline the resets could have left
    publisher.send_method(1, 50, 10, queue_declare_args("reset-witness"))
    declare_ok = publisher.expect_method(50, 11)
    check(declare_ok is not None,
          "after %d consumers reset mid-delivery, another connection is still served" % ROUNDS)
    again = client_in("channel")
    expect(again is not None, True, "the broker still accepts new connections")
    publisher.close()
    again.close()
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
