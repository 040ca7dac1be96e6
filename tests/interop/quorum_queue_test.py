#!/usr/bin/python3
"""Interop test (pika, py-amqp): quorum queues as one RabbitMQ node shows them. Every return
counts (nack, reject, recover, a closed channel); basic.get shows x-delivery-count always, a
consumer once the message has come back; past x-delivery-limit the message is dead-lettered
with reason delivery_limit, without the count header; streams are refused. Every expectation
was first seen on RabbitMQ 3.10."""
import time

import amqp
import pika

from checks import (HOST, PORT, check, exit_status, expect, fresh_name,
                    pika_connection, process_until)

SETTLE = 0.3


def quorum(channel, limit=None, dlx=None):
    name = fresh_name("quorum")
    arguments = {"x-queue-type": "quorum"}
    if limit is not None:
        arguments["x-delivery-limit"] = limit
    if dlx is not None:
        arguments["x-dead-letter-exchange"] = dlx
    channel.queue_declare(name, durable=True, arguments=arguments)
    return name


def dead_letter_queue(channel):
    dlx, dlq = fresh_name("qdlx"), fresh_name("qdlq")
    channel.exchange_declare(dlx, "fanout", auto_delete=True)
    channel.queue_declare(dlq)
    channel.queue_bind(dlq, dlx)
    return dlx, dlq


def check_delivery_limit(channel):
    dlx, dlq = dead_letter_queue(channel)
    queue = quorum(channel, limit=2, dlx=dlx)
    channel.basic_publish("", queue, b"a", pika.BasicProperties(headers={"h": 1}))
    time.sleep(SETTLE)
    seen = []
    for _ in range(5):
        method, props, _ = channel.basic_get(queue)
        if method is None:
            break
        seen.append((method.redelivered, props.headers))
        channel.basic_nack(method.delivery_tag, requeue=True)
        time.sleep(0.05)
    expect(seen, [(False, {"h": 1, "x-delivery-count": 0}), (True, {"h": 1, "x-delivery-count": 1}),
                  (True, {"h": 1, "x-delivery-count": 2})],
           "x-delivery-limit 2: delivered three times, basic.get showing the count from 0")
    time.sleep(SETTLE)
    method, props, body = channel.basic_get(dlq, auto_ack=True)
    if check(method is not None, "then dead-lettered"):
        death = props.headers["x-death"][0]
        expect((body, death["reason"], death["queue"], death["count"], "x-delivery-count" in props.headers),
               (b"a", "delivery_limit", queue, 1, False),
               "reason delivery_limit, and the count header is not carried along")


def check_channel_close_counts(connection):
    channel = connection.channel()
    queue = quorum(channel, limit=1)
    channel.basic_publish("", queue, b"b")
    time.sleep(SETTLE)
    counts = []
    for _ in range(3):
        other = connection.channel()
        method, props, _ = other.basic_get(queue)
        if method is None:
            break
        counts.append(props.headers["x-delivery-count"])
        other.close()
        time.sleep(0.05)
    expect(counts, [0, 1], "a return by closing the channel counts too; limit 1 lets it come back once")
    channel.close()


def check_consumer_header(connection):
    channel = connection.channel()
    queue = quorum(channel)
    channel.basic_publish("", queue, b"c")
    got = []

    def on_message(ch, method, props, body):
        got.append((method.redelivered, props.headers))
        ch.basic_nack(method.delivery_tag, requeue=len(got) < 3)

    channel.basic_consume(queue, on_message)
    process_until(connection, lambda: len(got) >= 3)
    expect(got, [(False, None), (True, {"x-delivery-count": 1}), (True, {"x-delivery-count": 2})],
           "a consumer sees no header at first, then the count; without a limit it comes back")
    channel.close()


def check_pyamqp():
    connection = amqp.Connection("%s:%d" % (HOST, PORT), userid="guest", password="guest")
    connection.connect()
    channel = connection.channel()
    queue = fresh_name("quorum-pyamqp")
    channel.queue_declare(queue, durable=True, auto_delete=False,
                          arguments={"x-queue-type": "quorum", "x-delivery-limit": 1})
    channel.basic_publish(amqp.Message("q"), "", queue)
    time.sleep(SETTLE)
    counts = []
    for _ in range(3):
        message = channel.basic_get(queue)
        if message is None:
            break
        counts.append(message.headers.get("x-delivery-count"))
        channel.basic_reject(message.delivery_tag, requeue=True)
        time.sleep(0.05)
    expect(counts, [0, 1], "py-amqp: x-delivery-limit 1, then the message is gone")
    channel.queue_delete(queue)
    connection.close()


def main():
    connection = pika_connection()
    channel = connection.channel()
    check_delivery_limit(channel)
    channel.close()
    check_channel_close_counts(connection)
    check_consumer_header(connection)
    connection.close()
    check_pyamqp()
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
