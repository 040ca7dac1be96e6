#!/usr/bin/python3
"""Interop test (pika, py-amqp): consumer priorities (x-priority): messages go to the highest
priority consumers that can take them, round-robin among equals; lower ones get messages only
while those are blocked by prefetch. A non-integer x-priority gets RabbitMQ's 406. Every
expectation was first seen on RabbitMQ 3.10."""
import amqp

from checks import (HOST, PORT, check, exit_status, expect, expect_channel_close, fresh_name,
                    pika_connection, process_until)


def consumers(connection, channel, queue, priorities, auto_ack=True):
    """One consumer per priority (None: no x-priority); returns the per-consumer delivery lists."""
    got = [[] for _ in priorities]
    for i, priority in enumerate(priorities):
        arguments = {} if priority is None else {"x-priority": priority}
        channel.basic_consume(queue, lambda ch, method, props, body, i=i: got[i].append(body),
                              auto_ack=auto_ack, arguments=arguments)
    return got


def publish(channel, queue, count):
    for n in range(count):
        channel.basic_publish("", queue, str(n).encode())


def check_highest_first(connection):
    channel = connection.channel()
    queue = fresh_name("prio")
    channel.queue_declare(queue, exclusive=True)
    got = consumers(connection, channel, queue, [None, 10, 5])
    publish(channel, queue, 20)
    process_until(connection, lambda: sum(map(len, got)) == 20)
    expect([len(g) for g in got], [0, 20, 0], "auto-ack consumers: the highest priority takes all")
    channel.close()


def check_round_robin_among_equals(connection):
    channel = connection.channel()
    queue = fresh_name("prio-equal")
    channel.queue_declare(queue, exclusive=True)
    got = consumers(connection, channel, queue, [5, 1, 5])
    publish(channel, queue, 20)
    process_until(connection, lambda: sum(map(len, got)) == 20)
    expect([len(g) for g in got], [10, 0, 10], "two consumers of priority 5 share, priority 1 waits")
    channel.close()


def check_blocked_high_priority(connection):
    channel = connection.channel()
    channel.basic_qos(prefetch_count=2)
    queue = fresh_name("prio-blocked")
    channel.queue_declare(queue, exclusive=True)
    got = consumers(connection, channel, queue, [10, 0], auto_ack=False)
    publish(channel, queue, 6)
    process_until(connection, lambda: sum(map(len, got)) == 4)
    connection.sleep(0.2)
    expect([len(g) for g in got], [2, 2],
           "prefetch 2 each, no acks: the high priority takes 2, then the low one 2")
    channel.close()


def check_invalid_priority(connection):
    channel = connection.channel()
    queue = fresh_name("prio-bad")
    channel.queue_declare(queue)
    channel.close()
    expect_channel_close(
        connection,
        lambda ch: ch.basic_consume(queue, lambda *a: None, arguments={"x-priority": "high"}),
        406, "PRECONDITION_FAILED - invalid arg 'x-priority' for queue '%s' in vhost '/': "
             "\"expected integer, got longstr\"" % queue, "x-priority as a string")
    connection.channel().queue_delete(queue)


def check_pyamqp():
    """py-amqp: the capability is advertised and the higher priority consumer wins."""
    client = amqp.Connection("%s:%d" % (HOST, PORT), userid="guest", password="guest")
    client.connect()
    expect(client.server_capabilities.get("consumer_priorities"), True,
           "py-amqp: the server advertises consumer_priorities")
    ch = client.channel()
    queue = fresh_name("prio-pyamqp")
    ch.queue_declare(queue, exclusive=True)
    got = {"low": 0, "high": 0}
    ch.basic_consume(queue, callback=lambda m: got.__setitem__("low", got["low"] + 1), no_ack=True,
                     arguments={"x-priority": -5})
    ch.basic_consume(queue, callback=lambda m: got.__setitem__("high", got["high"] + 1), no_ack=True,
                     arguments={"x-priority": 3})
    for n in range(10):
        ch.basic_publish(amqp.Message(str(n)), "", queue)
    while got["low"] + got["high"] < 10:
        client.drain_events(timeout=5)
    expect(got, {"low": 0, "high": 10}, "py-amqp: priority 3 beats priority -5")
    client.close()


def main():
    connection = pika_connection()
    check_highest_first(connection)
    check_round_robin_among_equals(connection)
    check_blocked_high_priority(connection)
    check_invalid_priority(connection)
    connection.close()
    check_pyamqp()
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
