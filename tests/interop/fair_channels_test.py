#!/usr/bin/python3
"""Interop test: when a slow reader holds deliveries back, the channels of its connection take
turns at the room freed: two channels consuming from two full queues both make progress
(each gets at least a quarter of the deliveries), instead of the first channel taking it all."""
import struct
import sys
import time

from checks import check, exit_status, pika_connection, ready_count, unique, wait_for_value
from rawamqp import FRAME_METHOD, basic_consume_args, client_in, method_frame, queue_declare_args

BODY = 1000
PER_QUEUE = 15000         # below the publisher flow-control mark: the queues fill freely
SKIP = 1000               # deliveries that may come before the second consumer starts
WINDOW = 12000            # deliveries counted: about a dozen rounds of the broker's 1 MiB
MIN_SHARE = 0.25
READ_SIZE = 32 * 1024     # read this much every READ_PAUSE: about 10 MB/s, far slower
READ_PAUSE = 0.003        # than the broker delivers, so deliveries are held back
RCVBUF = 64 * 1024        # a small receive window, so the kernel hides little
DELIVER = struct.pack(">HH", 60, 60)


def fill(queues):
    connection = pika_connection()
    channel = connection.channel()
    body = b"x" * BODY
    for queue in queues:
        channel.queue_declare(queue, auto_delete=True)
        for _ in range(PER_QUEUE):
            channel.basic_publish("", queue, body)
        # Every publish is queued before anyone consumes (RabbitMQ counts them a little late).
        ready = wait_for_value(lambda: ready_count(channel, queue), PER_QUEUE)
        check(ready == PER_QUEUE, "queue %s holds %d messages" % (queue, ready))
    return connection


def split_of_deliveries(reader):
    """Reads slowly; the channel of each delivery from SKIP to SKIP + WINDOW."""
    buf, seen, counts = bytearray(reader.buf), 0, {}
    reader.sock.settimeout(5.0)
    deadline = time.monotonic() + 60
    while seen < SKIP + WINDOW and time.monotonic() < deadline:
        chunk = reader.sock.recv(READ_SIZE)
        if not chunk:
            break
        buf += chunk
        pos = 0
        while len(buf) - pos >= 7:
            ftype, channel, size = struct.unpack_from(">BHI", buf, pos)
            if len(buf) - pos < size + 8:
                break
            if ftype == FRAME_METHOD and buf[pos + 7:pos + 11] == DELIVER:
                if SKIP <= seen < SKIP + WINDOW:
                    counts[channel] = counts.get(channel, 0) + 1
                seen += 1
            pos += size + 8
        del buf[:pos]
        time.sleep(READ_PAUSE)
    return counts


def main():
    queues = [unique("fair-1"), unique("fair-2")]
    owner = fill(queues)
    reader = client_in("channel", rcvbuf=RCVBUF)
    reader.open_channel(2)
    for channel, queue in ((1, queues[0]), (2, queues[1])):
        reader.send_method(channel, 50, 10, queue_declare_args(queue, passive=True))
        reader.expect_method(50, 11)
    # Both consumes go out together; the first consume-ok may already come behind deliveries.
    reader.send(b"".join(method_frame(channel, 60, 20, basic_consume_args(
        queue, "fair-%d" % channel, no_ack=True)) for channel, queue in ((1, queues[0]),
                                                                      (2, queues[1]))))
    counts = split_of_deliveries(reader)
    total = sum(counts.values())
    check(total == WINDOW, "%d deliveries counted after the first %d" % (total, SKIP))
    for channel in (1, 2):
        got = counts.get(channel, 0)
        check(got >= MIN_SHARE * WINDOW,
              "channel %d got %d of %d deliveries (%.0f%%; at least %.0f%% wanted)"
              % (channel, got, WINDOW, 100.0 * got / WINDOW, 100 * MIN_SHARE))
    reader.close()
    owner.close()
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
