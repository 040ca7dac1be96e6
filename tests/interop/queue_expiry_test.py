#!/usr/bin/python3
"""Interop test (pika, py-amqp): x-expires deletes a queue left unused that long (no consumer,
no basic.get, no declare), messages and all; a consumer keeps it, and so does each use.
Timings are generous for a loaded machine; every expectation was first seen on RabbitMQ 3.10."""
import time

import amqp
import pika.exceptions

from checks import HOST, PORT, check, exit_status, expect, fresh_name, pika_connection

EXPIRES_MS = 600


def exists(connection, queue):
    """Whether a passive declare finds the queue (itself a use, as in RabbitMQ)."""
    channel = connection.channel()
    try:
        channel.queue_declare(queue, passive=True)
        channel.close()
        return True
    except pika.exceptions.ChannelClosedByBroker as error:
        expect(error.reply_code, 404, "a missing queue's passive declare gets 404")
        return False


def gone_within(connection, queue, seconds):
    """Waits (without using the queue) until it is gone; True if it went in time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        connection.sleep(0.1)
    return not exists(connection, queue)


def main():
    connection = pika_connection()
    channel = connection.channel()
    arguments = {"x-expires": EXPIRES_MS}

    unused = fresh_name("expires")
    channel.queue_declare(unused, arguments=arguments)
    channel.basic_publish("", unused, b"lost with the queue")
    check(gone_within(connection, unused, 1.5), "an unused queue with messages goes after x-expires")

    kept = fresh_name("expires-get")
    channel.queue_declare(kept, arguments=arguments)
    for _ in range(6):  # 1.8 s of basic.get every 0.3 s: each renews it
        connection.sleep(0.3)
        channel.basic_get(kept, auto_ack=True)
    check(exists(connection, kept), "basic.get (even of nothing) keeps it")
    check(gone_within(connection, kept, 1.5), "it goes once the gets stop")

    held = fresh_name("expires-consumer")
    channel.queue_declare(held, arguments=arguments)
    tag = channel.basic_consume(held, lambda *a: None, auto_ack=True)
    connection.sleep(1.5)
    check(exists(connection, held), "a consumer keeps it past x-expires")
    channel.basic_cancel(tag)
    check(gone_within(connection, held, 1.5), "it goes x-expires after its consumer leaves")
    connection.close()

    # py-amqp: redeclaring renews it too
    client = amqp.Connection("%s:%d" % (HOST, PORT), userid="guest", password="guest")
    client.connect()
    ch = client.channel()
    renewed = fresh_name("expires-pyamqp")
    for _ in range(5):
        ch.queue_declare(renewed, arguments=arguments, auto_delete=False)
        time.sleep(0.35)
    expect(ch.queue_declare(renewed, arguments=arguments, auto_delete=False).queue, renewed,
           "py-amqp: a queue redeclared every 0.35 s is still there after 1.75 s")
    time.sleep(1.5)
    try:
        ch.queue_declare(renewed, passive=True)
        check(False, "py-amqp: the queue should have expired")
    except amqp.exceptions.NotFound:
        check(True, "py-amqp: once left alone it expires (404 on passive declare)")
    client.close()
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
