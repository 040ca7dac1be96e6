#!/usr/bin/python3
"""Interop test: a 5 MiB message in 4 KiB frames (over a thousand body frames, a body that
grows as it arrives) comes back byte for byte, through basic.get and through a consumer."""
import os
import sys

from checks import check, exit_status, pika_connection

SIZE = 5 * 1024 * 1024 + 123


def main():
    connection = pika_connection(frame_max=4096)
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    body = os.urandom(SIZE)
    channel.basic_publish("", queue, body)
    channel.basic_publish("", queue, body[::-1])
    _, _, got = channel.basic_get(queue, auto_ack=True)
    check(got == body, "basic.get returns the %d-octet body intact" % SIZE)
    for _, _, delivered in channel.consume(queue, auto_ack=True, inactivity_timeout=10):
        check(delivered == body[::-1], "a consumer receives the second one intact")
        break
    channel.cancel()
    connection.close()
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
