#!/usr/bin/python3
"""Interop test: messages taken by basic.get and not yet acknowledged do not count against
the prefetch limit (RabbitMQ counts consumer deliveries only): after N unacked gets on a
channel with prefetch N, per channel (global) or per consumer, a consumer still receives N
messages, acking the gets gives it no more, and acking one of its own gives it one more."""
import sys

from checks import check, exit_status, expect, pika_connection, process_until, unique

PREFETCH = 3
MESSAGES = 4 * PREFETCH
SETTLE_SECONDS = 0.5  # how long to wait for deliveries that must not come


def scenario(global_qos):
    what = "prefetch %d %s" % (PREFETCH, "per channel" if global_qos else "per consumer")
    connection = pika_connection()
    channel = connection.channel()
    queue = channel.queue_declare(unique("prefetch-get-%s" % global_qos),
                                  exclusive=True).method.queue
    for i in range(MESSAGES):
        channel.basic_publish("", queue, b"%d" % i)
    channel.basic_qos(prefetch_count=PREFETCH, global_qos=global_qos)
    gets = []
    for _ in range(PREFETCH):
        method, _, _ = channel.basic_get(queue, auto_ack=False)
        if method is not None:
            gets.append(method.delivery_tag)
    expect(len(gets), PREFETCH, "%s: basic.get took messages without acking" % what)

    delivered = []
    channel.basic_consume(queue, lambda _ch, method, _p, _b: delivered.append(method.delivery_tag))
    process_until(connection, lambda: len(delivered) >= PREFETCH)
    connection.process_data_events(time_limit=SETTLE_SECONDS)
    expect(len(delivered), PREFETCH,
           "%s: with %d gets unacked, the consumer still receives" % (what, PREFETCH))

    for tag in gets:
        channel.basic_ack(tag)
    connection.process_data_events(time_limit=SETTLE_SECONDS)
    expect(len(delivered), PREFETCH, "%s: acking the gets frees no consumer credit" % what)

    if delivered:
        channel.basic_ack(delivered[0])
        process_until(connection, lambda: len(delivered) > PREFETCH)
        connection.process_data_events(time_limit=SETTLE_SECONDS)
        expect(len(delivered), PREFETCH + 1,
               "%s: acking one consumer delivery lets exactly one more through" % what)
    check(channel.is_open, "%s: the channel stays open" % what)
    connection.close()


def main():
    scenario(global_qos=True)
    scenario(global_qos=False)
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
