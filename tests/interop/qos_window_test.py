#!/usr/bin/python3
"""Interop test: how a basic.qos with global=false reaches consumers already running, through
pika and py-amqp. RabbitMQ applies it to later consumers only; Warren also lets a raise reach
the running ones (kombu expects that from a broker that is not RabbitMQ), never a cut."""

import os
import sys
import time

import amqp
import pika

from checks import (HOST, PORT, WAIT_SECONDS, check, exit_status, expect, pika_connection,
                    process_until)

WARREN = os.environ.get("AMQP_EXPECT_PRODUCT") == "Warren"
SETTLE_SECONDS = 0.4


class Counts:
    """Deliveries per consumer tag, with their delivery tags."""

    def __init__(self):
        self.tags = {}

    def callback_for(self, consumer_tag):
        def callback(_channel, method, _properties, _body):
            self.tags.setdefault(consumer_tag, []).append(method.delivery_tag)
        return callback

    def count(self, consumer_tag):
        return len(self.tags.get(consumer_tag, []))


def filled_queue(connection, channel, count):
    queue = channel.queue_declare("", exclusive=True).method.queue
    publisher = connection.channel()
    publisher.confirm_delivery()
    for index in range(count):
        publisher.basic_publish("", queue, b"m%d" % index)
    publisher.close()
    return queue


def settle(connection, counts=None, wanted=None):
    """Process events until the consumers have the deliveries wanted ({tag: count}) or a few
    seconds pass, then a little longer: a delivery beyond the window shows too."""
    if wanted:
        process_until(connection, lambda: all(counts.count(tag) >= n for tag, n in wanted.items()),
                      WAIT_SECONDS)
    process_until(connection, lambda: False, SETTLE_SECONDS)


def check_cut_keeps_running_consumer(connection):
    """RabbitMQ's documented use: qos(10); consume A; qos(1); consume B. A keeps 10."""
    channel = connection.channel()
    first, second = filled_queue(connection, channel, 12), filled_queue(connection, channel, 3)
    counts = Counts()
    channel.basic_qos(prefetch_count=10)
    channel.basic_consume(first, counts.callback_for("A"), consumer_tag="A")
    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(second, counts.callback_for("B"), consumer_tag="B")
    settle(connection, counts, {"A": 10, "B": 1})
    expect((counts.count("A"), counts.count("B")), (10, 1),
           "qos 10, consume A, qos 1, consume B: A keeps a window of 10, B gets 1")
    channel.basic_ack(counts.tags["A"][0])
    settle(connection, counts, {"A": 11})
    expect(counts.count("A"), 11, "an ack by A lets one more through: its window is still 10")
    channel.close()


def check_raise_reaches_running_consumer(connection):
    """kombu's use against a broker that is not RabbitMQ: raise the window while consuming."""
    channel = connection.channel()
    queue = filled_queue(connection, channel, 5)
    counts = Counts()
    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue, counts.callback_for("A"), consumer_tag="A")
    settle(connection, counts, {"A": 1})
    expect(counts.count("A"), 1, "qos 1: one delivery")
    channel.basic_qos(prefetch_count=3)
    settle(connection, counts, {"A": 3 if WARREN else 1})
    # RabbitMQ 3.10 leaves the running consumer at 1 (a departure, see README).
    expect(counts.count("A"), 3 if WARREN else 1,
           "qos raised to 3 while consuming: the running consumer's window %s"
           % ("grows to 3" if WARREN else "stays 1 (RabbitMQ)"))
    channel.basic_qos(prefetch_count=1)
    channel.basic_ack(counts.tags["A"][0])
    settle(connection, counts, {"A": 3 if WARREN else 2})
    expect(counts.count("A"), 3 if WARREN else 2,
           "qos back to 1, then one ack: %s" % (
               "the window is 1 again (2 unacked), nothing more" if WARREN
               else "the window is still 1: one more"))
    channel.basic_qos(prefetch_count=0)
    settle(connection, counts, {"A": 5 if WARREN else 2})
    expect(counts.count("A"), 5 if WARREN else 2,
           "qos 0 (no limit) while consuming: %s" % (
               "the rest arrives" if WARREN else "nothing more (RabbitMQ)"))
    channel.close()


def check_global_applies_at_once(connection):
    """global=true (RabbitMQ's per-channel limit) applies at once on both brokers."""
    channel = connection.channel()
    queue = filled_queue(connection, channel, 4)
    counts = Counts()
    channel.basic_qos(prefetch_count=1, global_qos=True)
    channel.basic_consume(queue, counts.callback_for("A"), consumer_tag="A")
    settle(connection, counts, {"A": 1})
    expect(counts.count("A"), 1, "global qos 1: one delivery")
    channel.basic_qos(prefetch_count=3, global_qos=True)
    settle(connection, counts, {"A": 3})
    expect(counts.count("A"), 3, "global qos raised to 3: the channel's window grows at once")
    channel.close()


def check_pyamqp_raise():
    """The same raise through py-amqp, the client under kombu and Celery."""
    connection = amqp.Connection("%s:%d" % (HOST, PORT), userid="guest", password="guest")
    connection.connect()
    try:
        channel = connection.channel()
        queue, _, _ = channel.queue_declare("", exclusive=True)
        for index in range(4):
            channel.basic_publish(amqp.Message(b"m%d" % index), "", queue)
        got = []
        channel.basic_qos(0, 1, False)
        channel.basic_consume(queue, callback=got.append)
        drain(connection, lambda: len(got) >= 1)
        expect(len(got), 1, "py-amqp: qos 1, one delivery")
        channel.basic_qos(0, 2, False)
        drain(connection, lambda: len(got) >= (2 if WARREN else 1))
        expect(len(got), 2 if WARREN else 1,
               "py-amqp: qos raised to 2 while consuming: %s"
               % ("a second delivery" if WARREN else "none more (RabbitMQ)"))
    finally:
        connection.close()


def drain(connection, until):
    """py-amqp's events until until() holds (or a few seconds pass), then a little longer."""
    deadline = time.monotonic() + WAIT_SECONDS
    settled = None
    while settled is None or time.monotonic() < settled:
        if settled is None and (until() or time.monotonic() > deadline):
            settled = time.monotonic() + SETTLE_SECONDS
        try:
            connection.drain_events(timeout=0.05)
        except TimeoutError:
            pass


def main():
    connection = pika_connection()
    try:
        check_cut_keeps_running_consumer(connection)
        check_raise_reaches_running_consumer(connection)
        check_global_applies_at_once(connection)
    finally:
        connection.close()
    check_pyamqp_raise()
    return exit_status()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (pika.exceptions.AMQPError, amqp.exceptions.AMQPError) as error:
        check(False, "no unexpected client error: %r" % (error,))
        sys.exit(1)
