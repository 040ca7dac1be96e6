#!/usr/bin/python3
"""Interop test: back-pressure on deliveries. A no-ack consumer that stops reading its socket
while 200 MB is published to its queue does not make the broker buffer those deliveries: its
memory grows by far less than what was published (the publisher is held back instead), and
once the consumer reads again every message arrives, exactly once and in order."""
import os
import struct
import sys
import threading
import time

from checks import check, exit_status, expect, unique
from rawamqp import (FRAME_METHOD, basic_consume_args, basic_publish_args, body_frame,
                     client_in, content_header_frame, method_frame, queue_declare_args)

BODY = 1000                    # bodies of 512 B and more are sent by reference, not copied
MESSAGES = 200_000             # 200 MB of bodies in all
BATCH = 1000                   # messages per send
# Held back, the broker keeps about its flow-control mark of queued messages (20,000, ~25 MB
# here) plus what one read adds; unbounded, it holds all 200 MB for the consumer. Growth is
# compared, not absolute size, so a sanitizer build's larger baseline does not matter.
GROWTH_LIMIT = 100 * 2**20
STALL_SECONDS = 2.0            # no progress for this long: the publisher is held back
PUBLISH_SECONDS = 90.0         # the whole flood may take this long on a slow build
DELIVER = struct.pack(">HH", 60, 60)


def memory(pid, field):
    """A /proc/PID/status field (VmRSS, VmHWM) in bytes."""
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


class Publisher(threading.Thread):
    """Publishes MESSAGES bodies numbered in order; counts the messages the broker took."""

    def __init__(self, queue):
        super().__init__(daemon=True)
        self.client = client_in("channel")
        self.client.sock.settimeout(None)  # a held-back publisher simply blocks
        self.queue = queue
        self.sent = 0
        self.error = None

    def run(self):
        head = method_frame(1, 60, 40, basic_publish_args("", self.queue)) \
            + content_header_frame(1, BODY)
        pad = b"." * (BODY - 8)
        try:
            for first in range(0, MESSAGES, BATCH):
                self.client.sock.sendall(b"".join(head + body_frame(1, b"%08d" % i + pad)
                                                  for i in range(first, first + BATCH)))
                self.sent = first + BATCH
        except OSError as error:
            self.error = error


def wait_for_stall_or_end(publisher):
    """Waits until the publisher finished or made no progress for STALL_SECONDS."""
    deadline = time.monotonic() + PUBLISH_SECONDS
    last, since = publisher.sent, time.monotonic()
    while publisher.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
        if publisher.sent != last:
            last, since = publisher.sent, time.monotonic()
        elif time.monotonic() - since >= STALL_SECONDS:
            return


def count_deliveries(consumer, wanted, seconds):
    """Reads the consumer's socket until wanted deliveries arrived (or seconds passed);
    returns (deliveries, whether their bodies ran 0, 1, 2, ... in order)."""
    sock = consumer.sock
    buf, pos = bytearray(consumer.buf), 0
    deliveries, expected, in_order = 0, 0, True
    deadline = time.monotonic() + seconds
    sock.settimeout(1.0)
    while deliveries < wanted and time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            continue
        if not chunk:
            break
        buf += chunk
        while len(buf) - pos >= 7:
            ftype, _, size = struct.unpack_from(">BHI", buf, pos)
            if len(buf) - pos < size + 8:
                break
            if ftype == FRAME_METHOD and buf[pos + 7:pos + 11] == DELIVER:
                deliveries += 1
            elif ftype == 3:  # a body: the first 8 octets number the message
                in_order = in_order and int(buf[pos + 7:pos + 15]) == expected
                expected += 1
            pos += size + 8
        del buf[:pos]
        pos = 0
    return deliveries, in_order


def main():
    pid = int(os.environ["WARREN_PID"]) if os.environ.get("WARREN_PID") else None
    queue = unique("slow-reader")
    consumer = client_in("channel")
    consumer.send_method(1, 50, 10, queue_declare_args(queue, auto_delete=True))
    consumer.expect_method(50, 11)
    consumer.send_method(1, 60, 20, basic_consume_args(queue, "slow", no_ack=True))
    consumer.expect_method(60, 21)
    # From here the consumer reads nothing until the publisher is done or held back.
    baseline = memory(pid, "VmRSS") if pid else None
    publisher = Publisher(queue)
    publisher.start()
    wait_for_stall_or_end(publisher)
    held_at = publisher.sent
    if pid:
        growth = memory(pid, "VmHWM") - baseline
        check(growth < GROWTH_LIMIT,
              "the broker's memory grew by %.0f MB (peak) while %.0f MB was published to a "
              "consumer that does not read (limit %.0f MB)"
              % (growth / 2**20, held_at * BODY / 2**20, GROWTH_LIMIT / 2**20))
    else:
        print("note: an external broker: its memory is not measured")
    check(held_at < MESSAGES, "the publisher was held back after %d of %d messages"
          % (held_at, MESSAGES))

    deliveries, in_order = count_deliveries(consumer, MESSAGES, PUBLISH_SECONDS)
    publisher.join(10)
    check(publisher.error is None and publisher.sent == MESSAGES,
          "once the consumer reads, the publisher finishes (%d sent, error %r)"
          % (publisher.sent, publisher.error))
    expect(deliveries, MESSAGES, "every message is delivered, once")
    check(in_order, "in publish order")
    publisher.client.close()
    consumer.close()
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
