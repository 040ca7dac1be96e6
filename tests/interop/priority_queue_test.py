#!/usr/bin/python3
"""Interop test (pika, kombu): priority queues (x-max-priority). Higher priorities first, FIFO
within one, a priority above the maximum counting as the maximum and none as 0; requeued
messages back in their place; drop-head and TTLs on a priority queue; consumers served in
priority order. Every expectation was first seen on RabbitMQ 3.10."""
import time

import kombu
import pika

from checks import (HOST, PORT, drain_until, exit_status, expect, fresh_name,
                    pika_connection, process_until, ready_bodies, ready_count)


def publish(channel, queue, body, priority=None, expiration=None):
    channel.basic_publish("", queue, body.encode(),
                          pika.BasicProperties(priority=priority, expiration=expiration))


SEQUENCE = [("none-1", None), ("p5-1", 5), ("p10-1", 10), ("p255", 255), ("p1", 1), ("p5-2", 5),
            ("p0", 0), ("none-2", None)]
ORDERED = ["p10-1", "p255", "p5-1", "p5-2", "p1", "none-1", "p0", "none-2"]


def check_order(channel):
    queue = fresh_name("prio")
    channel.queue_declare(queue, arguments={"x-max-priority": 10})
    for body, priority in SEQUENCE:
        publish(channel, queue, body, priority)
    time.sleep(0.1)
    expect(ready_count(channel, queue), len(SEQUENCE), "every message is counted")
    expect(ready_bodies(channel, queue), ORDERED,
           "highest first, FIFO within a priority, 255 counts as the maximum 10, none as 0")
    plain = fresh_name("prio-none")
    channel.queue_declare(plain)
    for body, priority in SEQUENCE:
        publish(channel, plain, body, priority)
    expect(ready_bodies(channel, plain), [b for b, _ in SEQUENCE], "without x-max-priority: FIFO")


def check_requeue(channel):
    queue = fresh_name("prio-requeue")
    channel.queue_declare(queue, arguments={"x-max-priority": 3})
    for body, priority in (("low", 1), ("high-1", 3), ("high-2", 3)):
        publish(channel, queue, body, priority)
    time.sleep(0.1)
    first, _, _ = channel.basic_get(queue, auto_ack=False)
    second, _, _ = channel.basic_get(queue, auto_ack=False)
    channel.basic_nack(second.delivery_tag, requeue=True)
    channel.basic_nack(first.delivery_tag, requeue=True)
    out = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        out.append((body.decode(), method.redelivered))
    expect(out, [("high-1", True), ("high-2", True), ("low", False)],
           "requeued messages go back to their place in their priority")


def check_limits(channel):
    queue = fresh_name("prio-maxlen")
    channel.queue_declare(queue, arguments={"x-max-priority": 5, "x-max-length": 2})
    for body, priority in (("a0", 0), ("b5", 5), ("c0", 0)):
        publish(channel, queue, body, priority)
    time.sleep(0.1)
    # RabbitMQ drops the message that would be delivered next: the highest priority's head
    expect(ready_bodies(channel, queue), ["a0", "c0"], "x-max-length drop-head drops the next to go out")
    queue = fresh_name("prio-ttl")
    channel.queue_declare(queue, arguments={"x-max-priority": 5})
    publish(channel, queue, "high-short", 5, "100")
    publish(channel, queue, "low-live", 1)
    publish(channel, queue, "low-short", 1, "100")
    time.sleep(0.5)
    expect(ready_bodies(channel, queue), ["low-live"], "expired heads go in every priority")


def check_consumer(connection):
    channel = connection.channel()
    queue = fresh_name("prio-consume")
    channel.queue_declare(queue, arguments={"x-max-priority": 9})
    for body, priority in (("p2", 2), ("p9", 9), ("p5", 5)):
        publish(channel, queue, body, priority)
    got = []
    channel.basic_qos(prefetch_count=1)
    channel.basic_consume(queue, lambda ch, m, p, b: (got.append(b.decode()),
                                                      ch.basic_ack(m.delivery_tag)))
    process_until(connection, lambda: len(got) == 3)
    expect(got, ["p9", "p5", "p2"], "a consumer gets them highest first")
    channel.close()


def check_kombu():
    name = fresh_name("prio-kombu")
    with kombu.Connection("amqp://guest:guest@%s:%d//" % (HOST, PORT)) as connection:
        queue = kombu.Queue(name, kombu.Exchange(name, "direct", auto_delete=True), name,
                            max_priority=4, auto_delete=True)
        producer = kombu.Producer(connection.channel())
        for body, priority in (("k1", 1), ("k4", 4), ("k0", None), ("k9", 9)):
            producer.publish(body, exchange=queue.exchange, routing_key=name, declare=[queue],
                             priority=priority, serializer=None, content_type="text/plain",
                             content_encoding="utf-8")
        received = []
        with kombu.Consumer(connection.channel(), [queue], accept=["text/plain"],
                            callbacks=[lambda body, m: (received.append(body), m.ack())]) as consumer:
            consumer.qos(prefetch_count=1)
            drain_until(connection, lambda: len(received) >= 4)
        expect(received, ["k4", "k9", "k1", "k0"], "kombu: max_priority 4, 9 counted as 4")


def main():
    connection = pika_connection()
    channel = connection.channel()
    check_order(channel)
    check_requeue(channel)
    check_limits(channel)
    channel.close()
    check_consumer(connection)
    connection.close()
    check_kombu()
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
