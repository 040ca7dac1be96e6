#!/usr/bin/python3
"""Interop test: the broker holds thousands of open AMQP connections at once, each with an open
channel, and every one of them still answers; then all close cleanly."""
import resource
import sys

from rawamqp import Client, close_args, open_args, start_ok_args, tune_ok_args

CONNECTIONS = 3000


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, CONNECTIONS + 200)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    count = min(CONNECTIONS, want - 200)
    if count < 2000:
        print("FAIL: this machine allows only %d descriptors (hard limit %d)" % (want, hard))
        return 1
    clients = []
    # Every phase goes out to all connections before any answer is read, so all of them are
    # mid-handshake at the same time.
    for _ in range(count):
        c = Client(timeout=30.0)
        c.send_header()
        clients.append(c)
    for c in clients:
        c.read_start(timeout=30.0)
        c.send_method(0, 10, 11, start_ok_args())
    for c in clients:
        c.read_tune(timeout=30.0)
        c.send_method(0, 10, 31, tune_ok_args())
        c.send_method(0, 10, 40, open_args())
    for c in clients:
        c.expect_method(10, 41, timeout=30.0)
        c.send_method(1, 20, 10, b"\x00")
    for c in clients:
        c.expect_method(20, 11, timeout=30.0)
    print("PASS: %d connections opened, each with channel 1 open" % count)
    # All still live: each answers a channel.flow while every other one stays open.
    for c in clients:
        c.send_method(1, 20, 20, b"\x01")
    for c in clients:
        c.expect_method(20, 21, timeout=30.0)
    print("PASS: all %d answer channel.flow while the others stay open" % count)
    for c in clients:
        c.send_method(0, 10, 50, close_args())
    for c in clients:
        c.expect_method(10, 51, timeout=30.0)
        c.close()
    print("PASS: all %d closed with connection.close-ok" % count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
