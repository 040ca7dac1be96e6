#!/usr/bin/python3
"""Interop test (pika, py-amqp): x-single-active-consumer: of a queue's consumers only the
earliest still there gets messages, even while it is blocked by prefetch; when it goes, the
next in order takes over, unacked messages included. Every expectation was first seen on
RabbitMQ 3.10."""
import os

import amqp

from checks import (HOST, PORT, check, exit_status, expect, fresh_name, pika_connection,
                    process_until)

SAC = {"x-single-active-consumer": True}
WARREN = os.environ.get("AMQP_EXPECT_PRODUCT") == "Warren"


def consume(channel, queue, got, auto_ack=True, arguments=None):
    return channel.basic_consume(queue, lambda ch, method, props, body: got.append(body),
                                 auto_ack=auto_ack, arguments=arguments or {})


def check_one_active(connection):
    first, second = connection.channel(), connection.channel()
    queue = fresh_name("sac")
    first.queue_declare(queue, arguments=SAC)
    got_first, got_second = [], []
    tag = consume(first, queue, got_first)
    consume(second, queue, got_second, arguments={"x-priority": 10})
    for n in range(10):
        first.basic_publish("", queue, str(n).encode())
    process_until(connection, lambda: len(got_first) + len(got_second) == 10)
    expect((len(got_first), len(got_second)), (10, 0),
           "only the first consumer gets messages (a higher x-priority changes nothing)")
    first.basic_cancel(tag)
    for n in range(5):
        first.basic_publish("", queue, str(n).encode())
    process_until(connection, lambda: len(got_second) == 5)
    expect(len(got_second), 5, "after it cancels, the next consumer takes over")
    first.queue_delete(queue)
    first.close()
    second.close()


def check_blocked_active_keeps_it(connection):
    first, second = connection.channel(), connection.channel()
    first.basic_qos(prefetch_count=1)
    queue = fresh_name("sac-blocked")
    first.queue_declare(queue, arguments=SAC)
    got_first, got_second = [], []
    consume(first, queue, got_first, auto_ack=False)
    consume(second, queue, got_second)
    for n in range(4):
        first.basic_publish("", queue, str(n).encode())
    process_until(connection, lambda: len(got_second) > 0, seconds=1.0)
    expect((len(got_first), len(got_second)), (1, 0),
           "a blocked active consumer still holds the queue: the others get nothing")
    first.basic_cancel(first.consumer_tags[0])
    if WARREN:
        # a deliberate departure (README): the next consumer gets the ready messages at once
        process_until(connection, lambda: len(got_second) == 3)
        expect(sorted(got_second), [b"1", b"2", b"3"],
               "when the blocked active consumer cancels, the next gets the ready messages")
        first.basic_publish("", queue, b"4")
        process_until(connection, lambda: len(got_second) == 4)
    else:
        # RabbitMQ 3.10 leaves them stranded while the old consumer's channel holds an unacked
        # message: the next consumer gets only new publishes until that channel closes
        process_until(connection, lambda: len(got_second) > 0, seconds=1.0)
        expect(got_second, [], "RabbitMQ: after the active consumer cancels, nothing moves")
        first.basic_publish("", queue, b"4")
        process_until(connection, lambda: len(got_second) == 1)
        expect(got_second, [b"4"], "RabbitMQ: the next publish goes to the next consumer alone")
    first.close()  # its unacked message is requeued and goes to the new active consumer
    process_until(connection, lambda: len(got_second) == 5)
    expect(sorted(got_second), [b"0", b"1", b"2", b"3", b"4"],
           "when its channel closes, the next consumer gets everything, the requeued one too")
    second.queue_delete(queue)
    second.close()


def check_pyamqp():
    client = amqp.Connection("%s:%d" % (HOST, PORT), userid="guest", password="guest")
    client.connect()
    ch = client.channel()
    queue = fresh_name("sac-pyamqp")
    ch.queue_declare(queue, arguments=SAC, auto_delete=False)
    got = {"a": 0, "b": 0}
    ch.basic_consume(queue, callback=lambda m: got.__setitem__("a", got["a"] + 1), no_ack=True,
                     consumer_tag="a")
    ch.basic_consume(queue, callback=lambda m: got.__setitem__("b", got["b"] + 1), no_ack=True,
                     consumer_tag="b")
    for n in range(6):
        ch.basic_publish(amqp.Message(str(n)), "", queue)
    while got["a"] + got["b"] < 6:
        client.drain_events(timeout=5)
    expect(got, {"a": 6, "b": 0}, "py-amqp: the first consumer takes all")
    ch.basic_cancel("a")  # first: a queue deleted under its consumers cancels them (an error to py-amqp)
    ch.basic_cancel("b")
    ch.queue_delete(queue)
    client.close()


def main():
    connection = pika_connection()
    check_one_active(connection)
    check_blocked_active_keeps_it(connection)
    connection.close()
    check_pyamqp()
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
