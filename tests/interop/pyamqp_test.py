#!/usr/bin/python3
"""Interop test: py-amqp (python3-amqp) declares, binds, publishes, gets, consumes, acks,
rejects and confirms, asserting exactly what RabbitMQ shows it."""

import datetime
import decimal
import os
import sys

import amqp
import amqp.exceptions
import amqp.spec

from checks import (HOST, PORT, SERVER_NAMED, SERVER_TAG, SUFFIX, check, drain_until, exit_status,
                    expect)


def connect(**options):
    connection = amqp.Connection("%s:%d" % (HOST, PORT), userid="guest", password="guest",
                                 connect_timeout=5, **options)
    connection.connect()
    return connection


def settle(connection):
    """Take in frames for a while: what arrives late counts too."""
    drain_until(connection, lambda: False, 0.3)


def expect_channel_error(connection, action, error_class, code, text, method_sig, what):
    """action(channel) must fail with a channel close carrying code, text and the ids of the
    method that caused it."""
    channel = connection.channel()
    try:
        action(channel)
        check(False, "%s: expected %d, but it succeeded" % (what, code))
    except error_class as error:
        expect((error.reply_code, error.reply_text, error.method_sig), (code, text, method_sig),
               what)
    except amqp.exceptions.AMQPError as error:
        check(False, "%s: expected %s, got %r" % (what, error_class.__name__, error))


def headers_table():
    """A value of every field type py-amqp writes: S t I L d D T F A V (bytes go as S)."""
    return {
        "string": "text", "unicode": "\u00fc\u2603", "bytes-as-string": b"\x00\xff",
        "true": True, "false": False, "int": -5, "long": 2 ** 40, "negative-long": -2 ** 40,
        "double": 1.5, "decimal": decimal.Decimal("1.25"),
        "timestamp": datetime.datetime(2020, 1, 2, 3, 4, 5), "void": None,
        "table": {"nested": {"deeper": [1, "a", {"x": None}]}},
        "array": [1, 2 ** 35, 2.5, "s", True, None, decimal.Decimal("-7.5"),
                  datetime.datetime(1999, 12, 31), {"in-array": [[]]}, []],
    }


def every_property():
    return dict(content_type="application/json", content_encoding="utf-8",
                application_headers=headers_table(), delivery_mode=2, priority=3,
                correlation_id="corr-" + SUFFIX, reply_to="reply-" + SUFFIX,
                expiration="600000", message_id="id-" + SUFFIX, timestamp=1234567890,
                type="kind", user_id="guest", app_id="pyamqp-test")


def check_server_properties(connection):
    product = connection.server_properties.get("product")
    expected = os.environ.get("AMQP_EXPECT_PRODUCT")
    if expected:
        expect(product, expected, "server product")
    capabilities = connection.server_properties.get("capabilities", {})
    for capability in ("publisher_confirms", "basic.nack", "consumer_cancel_notify",
                       "per_consumer_qos"):
        expect(capabilities.get(capability), True, "server advertises %s" % capability)


def check_declare_bind_publish_get(connection):
    channel = connection.channel()
    exchange = "pyamqp-topic-" + SUFFIX
    expect(channel.exchange_declare(exchange, "topic", auto_delete=True), None,
           "exchange.declare of a topic exchange returns")
    queue, messages, consumers = channel.queue_declare("", exclusive=True)
    check(SERVER_NAMED.match(queue) is not None, "server-named queue %r" % queue)
    expect((messages, consumers), (0, 0), "declare-ok counts of a new queue")
    channel.queue_bind(queue, exchange, "orders.*.created")
    channel.basic_publish(amqp.Message(b"with properties", **every_property()), exchange,
                          "orders.eu.created")
    channel.basic_publish(amqp.Message(b"second"), exchange, "orders.us.created")
    channel.basic_publish(amqp.Message(b"not routed"), exchange, "orders.eu.deleted")
    drain_until(connection, lambda: channel.queue_declare(queue, passive=True).message_count == 2)
    expect(tuple(channel.queue_declare(queue, passive=True)), (queue, 2, 0),
           "two of three publishes routed by the topic binding")
    message = channel.basic_get(queue)
    # py-amqp decodes the body itself when content_encoding is set.
    expect(message.body, "with properties", "basic.get body (decoded by py-amqp as utf-8)")
    expect(message.delivery_info, {"delivery_tag": 1, "redelivered": False, "exchange": exchange,
                                   "routing_key": "orders.eu.created", "message_count": 1},
           "basic.get delivery info")
    sent = every_property()  # py-amqp reads back b"\x00\xff" sent as S as bytes: not UTF-8
    for name, value in sent.items():
        expect(message.properties.get(name, "<missing>"), value, "property %s round-trips" % name)
    expect(sorted(message.properties), sorted(sent), "no property added or lost")
    channel.basic_ack(message.delivery_tag)
    message = channel.basic_get(queue, no_ack=True)
    expect((message.body, message.delivery_info["delivery_tag"],
            message.delivery_info["message_count"], message.properties),
           (b"second", 2, 0, {}), "second get: no properties, tag 2, count 0")
    expect(channel.basic_get(queue), None, "basic.get of an empty queue returns None")
    channel.queue_unbind(queue, exchange, "orders.*.created")
    expect(channel.queue_delete(queue), 0, "queue.delete returns the message count 0")
    channel.close()


def check_errors(connection):
    missing = "pyamqp-missing-" + SUFFIX
    expect_channel_error(connection, lambda ch: ch.queue_declare(missing, passive=True),
                         amqp.exceptions.NotFound, 404,
                         "NOT_FOUND - no queue '%s' in vhost '/'" % missing, (50, 10),
                         "passive declare of a missing queue")
    expect_channel_error(connection, lambda ch: ch.exchange_declare(missing, "direct",
                                                                    passive=True),
                         amqp.exceptions.NotFound, 404,
                         "NOT_FOUND - no exchange '%s' in vhost '/'" % missing, (40, 10),
                         "passive declare of a missing exchange")
    expect_channel_error(connection, lambda ch: ch.exchange_declare("amq.direct", "topic",
                                                                    durable=True),
                         amqp.exceptions.PreconditionFailed, 406,
                         "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'amq.direct' "
                         "in vhost '/': received 'topic' but current is 'direct'", (40, 10),
                         "redeclaring amq.direct as topic")
    expect_channel_error(connection, lambda ch: ch.queue_bind("pyamqp-q", "", "k"),
                         amqp.exceptions.AccessRefused, 403,
                         "ACCESS_REFUSED - operation not permitted on the default exchange",
                         (50, 20), "binding to the default exchange")

    def ack_unknown(ch):
        ch.basic_ack(9)
        ch.queue_declare("", exclusive=True)

    expect_channel_error(connection, ack_unknown, amqp.exceptions.PreconditionFailed, 406,
                         "PRECONDITION_FAILED - unknown delivery tag 9", (60, 80),
                         "ack of an unknown delivery tag")


def nack(channel, delivery_tag, multiple, requeue):
    """py-amqp 5.1 has no basic_nack; send the method itself."""
    channel.send_method(amqp.spec.Basic.Nack, "Lbb", (delivery_tag, multiple, requeue))


def check_consume(connection):
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True, auto_delete=True).queue
    received = []
    tag = channel.basic_consume(queue, callback=received.append)
    check(SERVER_TAG.match(tag) is not None, "server-generated consumer tag %r" % tag)
    for body in (b"c1", b"c2", b"c3"):
        channel.basic_publish(amqp.Message(body, content_type="text/plain"), "", queue)
    drain_until(connection, lambda: len(received) >= 3)

    def summary(message):
        info = message.delivery_info
        return (info["consumer_tag"], info["delivery_tag"], info["redelivered"],
                message.body, message.properties)

    expect([summary(message) for message in received],
           [(tag, 1, False, b"c1", {"content_type": "text/plain"}),
            (tag, 2, False, b"c2", {"content_type": "text/plain"}),
            (tag, 3, False, b"c3", {"content_type": "text/plain"})],
           "deliveries: tag, delivery tags 1..3, not redelivered, bodies and properties")
    received.clear()
    channel.basic_ack(1)
    channel.basic_reject(2, requeue=True)
    drain_until(connection, lambda: received)
    expect([summary(message)[1:4] for message in received], [(4, True, b"c2")],
           "a rejected-with-requeue message comes back redelivered with tag 4")
    received.clear()
    channel.basic_reject(4, requeue=False)
    nack(channel, 3, multiple=True, requeue=True)
    drain_until(connection, lambda: received)
    expect([summary(message)[1:4] for message in received], [(5, True, b"c3")],
           "nack multiple requeues only what is unacked (c3); the dropped c2 stays gone")
    channel.basic_ack(5)
    expect(channel.basic_cancel(tag), tag, "basic.cancel returns the tag from cancel-ok")
    settle(connection)
    expect(len(received), 1, "no delivery after basic.cancel")
    expect_channel_error(connection, lambda ch: ch.queue_declare(queue, passive=True),
                         amqp.exceptions.NotFound, 404,
                         "NOT_FOUND - no queue '%s' in vhost '/'" % queue, (50, 10),
                         "the auto-delete queue went with its only consumer")
    channel.close()


def check_qos(connection):
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).queue
    for index in range(5):
        channel.basic_publish(amqp.Message(b"%d" % index), "", queue)
    channel.basic_qos(0, 2, False)
    received = []
    channel.basic_consume(queue, callback=received.append)
    settle(connection)
    expect([message.body for message in received], [b"0", b"1"], "prefetch 2 stops at two")
    channel.basic_ack(2, multiple=True)
    settle(connection)
    expect([message.body for message in received], [b"0", b"1", b"2", b"3"],
           "acking both lets two more through")
    channel.close()


def check_confirms(connection):
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).queue
    events = []
    channel.events["basic_ack"].add(lambda tag, multiple: events.append(("ack", tag, multiple)))
    channel.events["basic_nack"].add(lambda tag, multiple: events.append(("nack", tag, multiple)))
    channel.events["basic_return"].add(
        lambda error, exchange, key, message: events.append(
            ("return", error.reply_code, error.reply_text, exchange, key, message.body,
             message.properties)))
    channel.confirm_select()
    channel.basic_publish(amqp.Message(b"kept"), "", queue, mandatory=True)
    channel.basic_publish(amqp.Message(b"lost", message_id="lost-1"), "amq.direct", "nowhere",
                          mandatory=True)
    channel.basic_publish(amqp.Message(b"kept too"), "", queue)

    def confirmed():
        covered = set()
        for kind, tag, multiple in (event for event in events if event[0] in ("ack", "nack")):
            covered |= set(range(1, tag + 1)) if multiple else {tag}
        return covered

    drain_until(connection, lambda: confirmed() >= {1, 2, 3})
    expect(confirmed(), {1, 2, 3}, "publishes 1..3 confirmed")
    expect([event for event in events if event[0] == "nack"], [], "no nack")
    returns = [event for event in events if event[0] == "return"]
    expect(returns, [("return", 312, "NO_ROUTE", "amq.direct", "nowhere", b"lost",
                      {"message_id": "lost-1"})], "the unroutable mandatory publish is returned")
    if returns:
        return_at = events.index(returns[0])
        covering = [index for index, event in enumerate(events)
                    if event[0] == "ack" and (event[1] == 2 or (event[2] and event[1] > 2))]
        check(covering and return_at < covering[0], "the return precedes the ack of publish 2 (%s)"
              % [event[:3] for event in events])
    expect(channel.queue_declare(queue, passive=True).message_count, 2,
           "the two routable publishes are queued")
    channel.close()
    confirming = connect(confirm_publish=True)
    channel = confirming.channel()
    queue = channel.queue_declare("", exclusive=True).queue
    for body in (b"a", b"b"):
        channel.basic_publish(amqp.Message(body), "", queue)
    expect(channel.queue_declare(queue, passive=True).message_count, 2,
           "confirm_publish=True: each publish waited for its ack")
    confirming.close()


def main():
    connection = connect()
    check_server_properties(connection)
    check_declare_bind_publish_get(connection)
    check_errors(connection)
    check_consume(connection)
    check_qos(connection)
    check_confirms(connection)
    connection.close()
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
