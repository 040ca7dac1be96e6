#!/usr/bin/python3
"""Interop test (pika, py-amqp): message TTLs. The queue's x-message-ttl and the message's own
expiration (the smaller wins), expiry at the head (one behind a live message waits until it
gets there), TTL 0 (now or never), a requeued message keeping its deadline, an expired message
never delivered, and the 406 texts for malformed expirations. Every expectation was first seen
on RabbitMQ 3.10."""
import time

import amqp
import pika
import pika.exceptions

from checks import (HOST, PORT, check, exit_status, expect, expect_channel_close, fresh_name,
                    pika_connection, process_until, ready_bodies, ready_count)

SETTLE = 0.6  # seconds after a 200 ms TTL: long enough for the broker to have dropped it


def publish(channel, queue, body, expiration=None):
    channel.basic_publish("", queue, body.encode(), pika.BasicProperties(expiration=expiration))


def check_queue_ttl(channel):
    queue = fresh_name("ttl-queue")
    channel.queue_declare(queue, arguments={"x-message-ttl": 1000})
    for body in ("a", "b", "c"):
        publish(channel, queue, body)
    time.sleep(0.1)  # RabbitMQ's count may lag its publishes
    expect(ready_count(channel, queue), 3, "x-message-ttl 1000: the messages are there at first")
    time.sleep(1.0 + SETTLE)
    expect(ready_count(channel, queue), 0, "x-message-ttl 1000: all gone after it (message count)")
    expect(ready_bodies(channel, queue), [], "x-message-ttl 1000: basic.get finds nothing")


def check_message_ttl(channel):
    queue = fresh_name("ttl-message")
    channel.queue_declare(queue)
    publish(channel, queue, "short", "200")
    publish(channel, queue, "none")
    time.sleep(SETTLE)
    expect(ready_bodies(channel, queue), ["none"], "expiration 200: the expired head goes, the other stays")
    queue = fresh_name("ttl-min")
    channel.queue_declare(queue, arguments={"x-message-ttl": 60000})
    publish(channel, queue, "short", "200")
    publish(channel, queue, "long", "120000")
    time.sleep(SETTLE)
    expect(ready_bodies(channel, queue), ["long"],
           "queue TTL 60 s, message expirations 200 ms and 120 s: the smaller of the two applies")
    queue = fresh_name("ttl-years")
    channel.queue_declare(queue)
    publish(channel, queue, "58 days", "5000000000")
    publish(channel, queue, "ten years", "315360000000")
    publish(channel, queue, "short", "100")
    time.sleep(SETTLE)
    expect(ready_bodies(channel, queue), ["58 days", "ten years"],
           "expirations beyond 2^32 ms (58 days, ten years) are kept that long")


def check_head_only(channel):
    queue = fresh_name("ttl-behind")
    channel.queue_declare(queue)
    publish(channel, queue, "live", "60000")
    publish(channel, queue, "dies", "100")
    time.sleep(SETTLE)
    # RabbitMQ expires at the head only: the expired one behind a live one is still counted
    expect(ready_count(channel, queue), 2, "an expired message behind a live one still counts")
    expect(ready_bodies(channel, queue), ["live"], "but it is never delivered once it reaches the head")


def check_ttl_zero(connection):
    channel = connection.channel()
    queue = fresh_name("ttl-zero")
    channel.queue_declare(queue, arguments={"x-message-ttl": 0})
    publish(channel, queue, "nobody")
    expect(ready_count(channel, queue), 0, "x-message-ttl 0 without a consumer: expired at once")
    got = []
    channel.basic_consume(queue, lambda ch, m, p, b: got.append(b.decode()), auto_ack=True)
    publish(channel, queue, "taken")
    process_until(connection, lambda: got)
    expect(got, ["taken"], "x-message-ttl 0 with a waiting consumer: delivered")
    channel.close()
    channel = connection.channel()
    queue = fresh_name("ttl-zero-msg")
    channel.queue_declare(queue)
    publish(channel, queue, "nobody", "0")
    expect(ready_bodies(channel, queue), [], "expiration 0 without a consumer: expired at once")
    channel.close()


def check_requeue_keeps_deadline(channel):
    queue = fresh_name("ttl-requeue")
    channel.queue_declare(queue, arguments={"x-message-ttl": 300})
    publish(channel, queue, "held")
    method, _, _ = channel.basic_get(queue, auto_ack=False)
    time.sleep(0.5)  # past its TTL while unacked: an unacked message does not expire
    channel.basic_nack(method.delivery_tag, requeue=True)
    time.sleep(0.1)
    expect(ready_bodies(channel, queue), [], "a message requeued after its TTL keeps its deadline and expires")
    publish(channel, queue, "early")
    method, _, _ = channel.basic_get(queue, auto_ack=False)
    channel.basic_nack(method.delivery_tag, requeue=True)
    expect(ready_bodies(channel, queue), ["early"], "one requeued before its TTL is still there")


def check_consumer_never_sees_expired(connection):
    channel = connection.channel()
    queue = fresh_name("ttl-consumer")
    channel.queue_declare(queue, arguments={"x-message-ttl": 200})
    for body in ("first", "second", "third"):
        publish(channel, queue, body)
    channel.basic_qos(prefetch_count=1)
    got = []
    channel.basic_consume(queue, lambda ch, m, p, b: got.append((m.delivery_tag, b.decode())))
    process_until(connection, lambda: got)
    time.sleep(SETTLE)  # the two waiting behind the unacked one expire meanwhile
    channel.basic_ack(got[0][0])
    process_until(connection, lambda: len(got) > 1, seconds=0.5)
    expect([b for _, b in got], ["first"], "messages expired while the consumer was full never arrive")
    channel.close()


def check_invalid_expirations(connection):
    cases = [
        ("abc", "no_integer"),
        ("", "no_integer"),
        (" 5", "no_integer"),
        ("10x", '{leftover_string,"x"}'),
        ("1.5", '{leftover_string,".5"}'),
        ("-5", "{value_negative,-5}"),
        ("315360000001", "{value_too_large,315360000001}"),
        ("99999999999999999999", "{value_too_large,\n" + " " * 44 + "99999999999999999999}"),
        ("-9999999999999999999", "{value_negative,\n" + " " * 44 + "-9999999999999999999}"),
    ]
    for expiration, why in cases:
        expect_channel_close(
            connection,
            lambda ch, e=expiration: (ch.confirm_delivery(), publish(ch, "nowhere", "x", e)),
            406, "PRECONDITION_FAILED - invalid expiration '%s': %s" % (expiration, why),
            "expiration %r" % expiration)
    channel = connection.channel()
    channel.confirm_delivery()
    for fine in ("0", "+5", "00012", "315360000000"):
        publish(channel, "nowhere", "x", fine)
    check(channel.is_open, "expirations 0, +5, 00012 and 315360000000 (ten years) are accepted")
    channel.close()


def check_pyamqp():
    connection = amqp.Connection("%s:%d" % (HOST, PORT), userid="guest", password="guest")
    connection.connect()
    channel = connection.channel()
    queue = fresh_name("ttl-pyamqp")
    channel.queue_declare(queue, arguments={"x-message-ttl": 200}, auto_delete=False)
    channel.basic_publish(amqp.Message("gone"), "", queue)
    channel.basic_publish(amqp.Message("gone too", expiration="100"), "", queue)
    time.sleep(SETTLE)
    expect(channel.basic_get(queue, no_ack=True), None, "py-amqp: expired messages are not got")
    expect(channel.queue_declare(queue, passive=True).message_count, 0, "py-amqp: none counted")
    channel.queue_delete(queue)
    try:
        channel.basic_publish(amqp.Message("x", expiration="soon"), "", queue)
        channel.queue_declare(queue, passive=True)  # a round trip to collect the close
        check(False, "py-amqp: a malformed expiration should close the channel")
    except amqp.exceptions.PreconditionFailed as error:
        expect(str(error.reply_text), "PRECONDITION_FAILED - invalid expiration 'soon': no_integer",
               "py-amqp: the 406 for a malformed expiration")
    connection.close()


def main():
    connection = pika_connection()
    channel = connection.channel()
    check_queue_ttl(channel)
    check_message_ttl(channel)
    check_head_only(channel)
    check_requeue_keeps_deadline(channel)
    channel.close()
    check_ttl_zero(connection)
    check_consumer_never_sees_expired(connection)
    check_invalid_expirations(connection)
    connection.close()
    check_pyamqp()
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
