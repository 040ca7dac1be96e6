#!/usr/bin/python3
"""Interop test: 100,000 messages through one queue to three acking consumers, none lost,
none duplicated, each consumer's share in publish order."""

import os
import struct
import sys
import threading
import time

import pika
import pika.exceptions

from checks import check, exit_status, expect, fresh_name, pika_connection, process_until

MESSAGES = int(os.environ.get("VOLUME_MESSAGES", "100000"))
CONSUMERS = 3
PREFETCH = 200
CONFIRM_BATCH = 1000
PADDING = b"." * 56  # 64-octet bodies: an 8-octet sequence number and padding
TIME_LIMIT = 90.0


def connect():
    return pika_connection(blocked_connection_timeout=30)


class Publisher(threading.Thread):
    """Publishes sequence numbers 0..MESSAGES-1 in confirm mode on its own connection,
    waiting for the confirms of each batch before sending the next."""

    def __init__(self, queue):
        super().__init__(daemon=True)
        self.queue = queue
        self.error = None
        self.outstanding = set()  # delivery tags published and not yet confirmed
        self.confirmed = 0
        self.nacks = 0
        self.stray_confirms = 0  # confirms of a tag already confirmed or never published

    def on_confirm(self, frame):
        if isinstance(frame.method, pika.spec.Basic.Nack):
            self.nacks += 1
        tag = frame.method.delivery_tag
        if frame.method.multiple:
            covered = {t for t in self.outstanding if t <= tag}
        else:
            covered = {tag} & self.outstanding
        if not covered:
            self.stray_confirms += 1
        self.outstanding -= covered
        self.confirmed += len(covered)

    def run(self):
        try:
            connection = connect()
            channel = connection.channel()
            impl = channel._impl
            selected = []
            impl.confirm_delivery(ack_nack_callback=self.on_confirm, callback=selected.append)
            while not selected:
                connection.process_data_events(time_limit=0.05)
            for sequence in range(MESSAGES):
                impl.basic_publish("", self.queue, struct.pack(">Q", sequence) + PADDING)
                self.outstanding.add(sequence + 1)
                if (sequence + 1) % CONFIRM_BATCH == 0 or sequence + 1 == MESSAGES:
                    self.wait_for_confirms(connection)
            connection.close()
        except Exception as error:  # reported by the main thread as a failure
            self.error = error

    def wait_for_confirms(self, connection):
        """Until every publish so far is confirmed (RabbitMQ may confirm out of order)."""
        process_until(connection, lambda: not self.outstanding, TIME_LIMIT)


class Consumers:
    """Three manual-ack consumers on three channels of one connection."""

    def __init__(self, connection, queue):
        self.connection = connection
        self.received = [[] for _ in range(CONSUMERS)]
        self.redelivered = 0
        self.bad_bodies = 0
        self.channels = []
        for index in range(CONSUMERS):
            channel = connection.channel()
            channel.basic_qos(prefetch_count=PREFETCH)
            channel.basic_consume(queue, self.on_message(index), consumer_tag="volume-%d" % index)
            self.channels.append(channel)

    def on_message(self, index):
        received = self.received[index]

        def deliver(channel, method, _properties, body):
            if len(body) != 8 + len(PADDING) or body[8:] != PADDING:
                self.bad_bodies += 1
            if method.redelivered:
                self.redelivered += 1
            received.append(struct.unpack(">Q", body[:8])[0])
            channel.basic_ack(method.delivery_tag)

        return deliver

    def total(self):
        return sum(len(share) for share in self.received)

    def run_until(self, count, publisher):
        deadline = time.monotonic() + TIME_LIMIT
        while self.total() < count and time.monotonic() < deadline:
            if publisher.error is not None:
                break
            self.connection.process_data_events(time_limit=0.1)


def in_order(share):
    return all(earlier < later for earlier, later in zip(share, share[1:]))


def main():
    queue = fresh_name("volume")
    connection = connect()
    setup = connection.channel()
    setup.queue_declare(queue)
    consumers = Consumers(connection, queue)
    publisher = Publisher(queue)
    started = time.monotonic()
    publisher.start()
    consumers.run_until(MESSAGES, publisher)
    publisher.join(TIME_LIMIT)
    # Anything sent after the last expected message (a duplicate) must show up too.
    settle_until = time.monotonic() + 0.5
    while time.monotonic() < settle_until:
        connection.process_data_events(time_limit=0.1)
    seconds = time.monotonic() - started
    check(publisher.error is None, "publisher finished without error (%r)" % (publisher.error,))
    expect(publisher.nacks, 0, "no publish was nacked")
    expect(publisher.confirmed, MESSAGES, "publishes confirmed")
    expect(publisher.stray_confirms, 0, "no confirm repeated a tag or covered nothing new")
    everything = sorted(sequence for share in consumers.received for sequence in share)
    expect(len(everything), MESSAGES, "deliveries in all")
    check(everything == list(range(MESSAGES)),
          "every message delivered exactly once (%d distinct, none missing)" % len(set(everything)))
    shares = [len(share) for share in consumers.received]
    check(all(share > 0 for share in shares), "all three consumers got messages: %s" % shares)
    for index, share in enumerate(consumers.received):
        check(in_order(share), "consumer %d received its %d messages in publish order"
              % (index, len(share)))
    expect(consumers.redelivered, 0, "no delivery was flagged redelivered")
    expect(consumers.bad_bodies, 0, "no body was altered")
    for channel in consumers.channels:
        channel.close()
    expect(setup.queue_delete(queue).method.message_count, 0, "the queue is empty at the end")
    connection.close()
    print("INFO: %d messages in %.1f s (%.0f msg/s)" % (MESSAGES, seconds, MESSAGES / seconds),
          flush=True)
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
