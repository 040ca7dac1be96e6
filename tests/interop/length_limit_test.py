#!/usr/bin/python3
"""Interop test (pika, py-amqp): queue length limits, x-max-length and x-max-length-bytes, with
x-overflow drop-head (the oldest ready messages go), reject-publish and reject-publish-dlx
(the new message is refused: basic.nack under confirms, dropped without). Only ready messages
count, as RabbitMQ counts them. Every expectation was first seen on RabbitMQ 3.10."""
import amqp
import pika
import pika.exceptions

from checks import (HOST, PORT, check, exit_status, expect, fresh_name, pika_connection,
                    ready_bodies, ready_count)


def declare(channel, arguments):
    name = fresh_name("limit")
    channel.queue_declare(name, arguments=arguments)
    return name


def check_drop_head(connection):
    channel = connection.channel()
    queue = declare(channel, {"x-max-length": 2})
    for i in range(5):
        channel.basic_publish("", queue, str(i).encode())
    expect(ready_bodies(channel, queue), ["3", "4"], "x-max-length 2 (drop-head): the newest two stay")
    queue = declare(channel, {"x-max-length-bytes": 10})
    for body in ("aaaa", "bbbb", "cccc"):
        channel.basic_publish("", queue, body.encode())
    expect(ready_bodies(channel, queue), ["bbbb", "cccc"], "x-max-length-bytes 10: 8 octets of bodies stay")
    queue = declare(channel, {"x-max-length": 0})
    channel.basic_publish("", queue, b"gone")
    expect(ready_count(channel, queue), 0, "x-max-length 0 keeps nothing ready")


def check_unacked_do_not_count(connection):
    channel = connection.channel()
    queue = declare(channel, {"x-max-length": 1})
    channel.basic_publish("", queue, b"first")
    method, _, _ = channel.basic_get(queue, auto_ack=False)  # out, unacked
    channel.basic_publish("", queue, b"second")
    expect(ready_count(channel, queue), 1, "an unacked message does not count against x-max-length")
    channel.basic_nack(method.delivery_tag, requeue=True)
    # RabbitMQ puts it back at the head and then applies the limit: the head goes
    expect(ready_bodies(channel, queue), ["second"], "a requeued message past the limit is dropped (drop-head)")


def check_reject_publish(connection):
    for overflow in ("reject-publish", "reject-publish-dlx"):
        channel = connection.channel()
        queue = declare(channel, {"x-max-length": 2, "x-overflow": overflow})
        channel.confirm_delivery()
        refused = []
        for i in range(4):
            try:
                channel.basic_publish("", queue, str(i).encode())
            except pika.exceptions.NackError:
                refused.append(i)
        expect(refused, [2, 3], "%s: publishes past the limit are nacked" % overflow)
        expect(ready_bodies(channel, queue), ["0", "1"], "%s: the first two stay" % overflow)
        channel.close()
    channel = connection.channel()
    queue = declare(channel, {"x-max-length": 1, "x-overflow": "reject-publish"})
    for i in range(3):
        channel.basic_publish("", queue, str(i).encode())
    expect(ready_bodies(channel, queue), ["0"], "reject-publish without confirms: the rest are dropped")


def check_pyamqp_nack():
    """py-amqp sees the same nack: its confirmed publish raises."""
    connection = amqp.Connection("%s:%d" % (HOST, PORT), userid="guest", password="guest",
                                 confirm_publish=True)
    connection.connect()
    channel = connection.channel()
    queue = fresh_name("limit-pyamqp")
    channel.queue_declare(queue, arguments={"x-max-length": 1, "x-overflow": "reject-publish"},
                          auto_delete=False)
    channel.basic_publish(amqp.Message("kept"), "", queue)
    try:
        channel.basic_publish(amqp.Message("refused"), "", queue)
        check(False, "py-amqp: a publish past the limit should be nacked")
    except amqp.exceptions.MessageNacked:
        check(True, "py-amqp: a publish past the limit raises MessageNacked")
    expect(channel.queue_declare(queue, passive=True).message_count, 1, "py-amqp: one message stays")
    channel.queue_delete(queue)
    connection.close()


def main():
    connection = pika_connection()
    check_drop_head(connection)
    check_unacked_do_not_count(connection)
    check_reject_publish(connection)
    connection.close()
    check_pyamqp_nack()
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
