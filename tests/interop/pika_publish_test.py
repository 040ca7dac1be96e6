#!/usr/bin/python3
"""Interop test: pika publishes every property and body size, gets messages back, sees returns."""

import datetime
import decimal
import sys
import time

import pika
import pika.exceptions
import pika.spec

from checks import (SUFFIX, WAIT_SECONDS, check, confirmed_tags, exit_status, expect,
                    expect_channel_close, pika_connection, process_until)

FRAME_MAX = 131072
BODY_FRAME_PAYLOAD = FRAME_MAX - 8  # a frame carries payload + 8 octets of header and end

# The property bytes of every content header pika decodes, to compare with what was sent.
received_property_bytes = []


def record_property_bytes():
    original = pika.spec.BasicProperties.decode

    def decode(self, encoded, offset=0):
        received_property_bytes.append(bytes(encoded[offset:]))
        return original(self, encoded, offset)

    pika.spec.BasicProperties.decode = decode


def every_value_type():
    """One value of every field type pika can encode: S x t I l D T F A V."""
    return {
        "longstr": "text", "unicode": "\u00fc\u00f1\u00ed \u2603", "empty-string": "",
        "bytes": b"\x00\x01\xfe\xff", "empty-bytes": b"", "true": True, "false": False,
        "int": 42, "negative-int": -5, "int-min": -2 ** 31, "int-max": 2 ** 31 - 1,
        "long": 2 ** 40, "long-max": 2 ** 63 - 1,
        "decimal": decimal.Decimal("-1.25"), "decimal-integer": decimal.Decimal("7"),
        "timestamp": datetime.datetime(2020, 1, 2, 3, 4, 5), "void": None,
        "table": {"inner": "x", "n": 1}, "empty-table": {}, "empty-array": [],
    }


def headers_table():
    values = every_value_type()
    headers = dict(values)
    headers["array-of-every-type"] = [value for value in values.values()] + [
        [1, "nested", [b"deeper", None]], {"in-array": [True, {"deep": 2 ** 35}]}]
    headers["nested-tables"] = {"level1": {"level2": {"level3": dict(values)}}}
    headers["x-custom"] = "x- header"
    return headers


def every_property():
    return pika.BasicProperties(
        content_type="application/json", content_encoding="gzip", headers=headers_table(),
        delivery_mode=2, priority=7, correlation_id="correlation-" + SUFFIX,
        reply_to="reply-" + SUFFIX, expiration="60000", message_id="message-" + SUFFIX,
        timestamp=1234567890, type="event.type", user_id="guest", app_id="pika-test",
        cluster_id="cluster-id")


PROPERTY_NAMES = ("content_type", "content_encoding", "headers", "delivery_mode", "priority",
                  "correlation_id", "reply_to", "expiration", "message_id", "timestamp", "type",
                  "user_id", "app_id", "cluster_id")


def wait_for_get(channel, queue, auto_ack=True):
    """basic.get until a message arrives (publishes without confirms are asynchronous)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=auto_ack)
        if method is not None or time.monotonic() > deadline:
            return method, properties, body
        time.sleep(0.02)


def check_every_property(connection):
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    sent = every_property()
    channel.basic_publish("", queue, b"all properties", sent)
    received_property_bytes.clear()
    method, properties, body = wait_for_get(channel, queue)
    check(method is not None, "the message with every property arrived")
    if method is None:
        return
    expect(body, b"all properties", "body round-trips")
    for name in PROPERTY_NAMES:
        if name == "headers":
            continue
        expect(getattr(properties, name), getattr(sent, name), "property %s round-trips" % name)
    for key, value in sent.headers.items():
        expect(properties.headers.get(key, "<missing>"), value, "header %r round-trips" % key)
    expect(sorted(properties.headers), sorted(sent.headers), "no header added or lost")
    sent_bytes = b"".join(sent.encode())
    check(received_property_bytes[-1:] == [sent_bytes],
          "the content header's property bytes arrive exactly as sent (%d octets)"
          % len(sent_bytes))
    # A negative 64-bit value: RabbitMQ passes the bytes through; pika decodes them unsigned.
    channel.basic_publish("", queue, b"negative long",
                          pika.BasicProperties(headers={"negative-long": -2 ** 40}))
    method, properties, body = wait_for_get(channel, queue)
    expect(properties.headers if method else None, {"negative-long": 2 ** 64 - 2 ** 40},
           "a negative long header reaches pika as the same 8 octets (read unsigned by pika)")
    channel.basic_publish("", queue, b"no properties")
    method, properties, body = wait_for_get(channel, queue)
    expect([getattr(properties, name) for name in PROPERTY_NAMES] if method else None,
           [None] * len(PROPERTY_NAMES), "a message without properties arrives without any")
    channel.close()


def check_user_id(connection):
    def publish_as_other(ch):
        ch.basic_publish("amq.direct", "nowhere", b"x", pika.BasicProperties(user_id="other"))
        ch.queue_declare("", exclusive=True)

    expect_channel_close(connection, publish_as_other, 406,
                         "PRECONDITION_FAILED - user_id property set to 'other' but authenticated "
                         "user was 'guest'", "publishing with another user's user_id")


def body_of(size):
    pattern = bytes(range(256))
    return (pattern * (size // 256 + 1))[:size]


def check_body_sizes(connection):
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.confirm_delivery()
    sizes = [0, 1, BODY_FRAME_PAYLOAD - 1, BODY_FRAME_PAYLOAD, BODY_FRAME_PAYLOAD + 1,
             2 * BODY_FRAME_PAYLOAD, 3 * BODY_FRAME_PAYLOAD + 17, 1024 * 1024, 5 * 1024 * 1024 + 3]
    for size in sizes:
        body = body_of(size)
        channel.basic_publish("", queue, body, pika.BasicProperties(message_id=str(size)))
    expect(channel.queue_declare(queue, passive=True).method.message_count, len(sizes),
           "%d messages of sizes 0..5 MiB queued" % len(sizes))
    for size in sizes:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        ok = method is not None and properties.message_id == str(size) and body == body_of(size)
        check(ok, "a %d-octet body (%d body frames) round-trips intact"
              % (size, (size + BODY_FRAME_PAYLOAD - 1) // BODY_FRAME_PAYLOAD))
    channel.close()


def check_get(connection):
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    frame = channel.basic_get(queue)
    expect(frame, (None, None, None), "basic.get on an empty queue: get-empty")
    channel.confirm_delivery()
    for body in (b"first", b"second", b"third"):
        channel.basic_publish("", queue, body, pika.BasicProperties(content_type="text/plain"))
    observed = []
    for _ in range(3):
        method, properties, body = channel.basic_get(queue)
        observed.append((method.delivery_tag, method.redelivered, method.exchange,
                         method.routing_key, method.message_count, properties.content_type, body))
    expect(observed, [(1, False, "", queue, 2, "text/plain", b"first"),
                      (2, False, "", queue, 1, "text/plain", b"second"),
                      (3, False, "", queue, 0, "text/plain", b"third")],
           "get-ok: delivery tags 1..3, message counts 2, 1, 0, bodies in order")
    expect(channel.basic_get(queue), (None, None, None), "get-empty once drained")
    channel.basic_ack(3, multiple=True)
    expect(channel.queue_declare(queue, passive=True).method.message_count, 0,
           "acked get-ok messages are gone")
    channel.basic_publish("amq.direct", "nowhere", b"unroutable")
    method, _, body = channel.basic_get(queue, auto_ack=True)
    expect(method, None, "an unroutable publish without mandatory is dropped silently")
    channel.close()


class Events:
    """Collects returns and confirms on pika's underlying channel in arrival order."""

    def __init__(self, connection, channel):
        self.list = []
        self.connection = connection
        impl = channel._impl
        impl.add_on_return_callback(self.on_return)
        impl.confirm_delivery(ack_nack_callback=self.on_confirm, callback=self.on_select_ok)

    def on_return(self, _channel, method, properties, body):
        self.list.append(("return", method.reply_code, method.reply_text, method.exchange,
                          method.routing_key, properties, body))

    def on_confirm(self, frame):
        self.list.append((type(frame.method).__name__, frame.method.delivery_tag,
                          frame.method.multiple))

    def on_select_ok(self, _frame):
        self.list.append(("select-ok",))

    def confirms(self):
        return [event for event in self.list if event[0] in ("Ack", "Nack")]

    def wait(self, until):
        process_until(self.connection, until)
        return self.list


def check_mandatory_return(connection):
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    events = Events(connection, channel)
    events.wait(lambda: events.list)
    impl = channel._impl
    sent = every_property()
    routing_key = "nowhere-" + SUFFIX
    impl.basic_publish("amq.direct", routing_key, b"returned whole", sent, mandatory=True)
    impl.basic_publish("", queue, b"routed", mandatory=True)
    impl.basic_publish("amq.direct", routing_key, b"dropped", mandatory=False)
    seen = events.wait(lambda: 3 in confirmed_tags(events.confirms()))
    expect(seen[0], ("select-ok",), "confirm.select answered with select-ok")
    returns = [event for event in seen if event[0] == "return"]
    expect(len(returns), 1, "only the mandatory unroutable message is returned")
    if not returns:
        return
    kind, code, text, exchange, key, properties, body = returns[0]
    expect((code, text, exchange, key, body), (312, "NO_ROUTE", "amq.direct", routing_key,
                                               b"returned whole"),
           "basic.return 312 NO_ROUTE with exchange, routing key and body")
    expect([getattr(properties, name) for name in PROPERTY_NAMES],
           [getattr(sent, name) for name in PROPERTY_NAMES],
           "the returned message carries every property")
    confirms = events.confirms()
    expect(confirmed_tags(confirms), [1, 2, 3],
           "each of the three publishes is acked once (returned and dropped ones too)")
    return_index = seen.index(returns[0])
    covering_first = [seen.index(event) for event in confirms if event[1] == 1 or event[2]]
    check(covering_first and return_index < covering_first[0],
          "the basic.return precedes the ack covering its publish (%s)"
          % ", ".join(str(event[:3]) for event in seen[1:]))
    expect(channel.queue_declare(queue, passive=True).method.message_count, 1,
           "the routed mandatory message is queued")
    channel.close()


def check_unknown_exchange(connection):
    missing = "missing-" + SUFFIX

    def publish(ch):
        ch.basic_publish(missing, "k", b"x")
        ch.queue_declare("", exclusive=True)

    expect_channel_close(connection, publish, 404,
                         "NOT_FOUND - no exchange '%s' in vhost '/'" % missing,
                         "publishing to a missing exchange")

    def publish_confirmed(ch):
        ch.confirm_delivery()
        ch.basic_publish(missing, "k", b"x")

    expect_channel_close(connection, publish_confirmed, 404,
                         "NOT_FOUND - no exchange '%s' in vhost '/'" % missing,
                         "publishing to a missing exchange in confirm mode")


def check_immediate():
    """RabbitMQ refuses immediate=true with a connection error; pika has no flag for it."""
    connection = pika_connection()
    channel = connection.channel()
    try:
        channel._impl._send_method(
            pika.spec.Basic.Publish(exchange="", routing_key="x", immediate=True),
            (pika.BasicProperties(), b"x"))
        channel.queue_declare("", exclusive=True)
        check(False, "immediate=true refused (but the publish was accepted)")
    except pika.exceptions.ConnectionClosedByBroker as error:
        expect((error.reply_code, error.reply_text), (540, "NOT_IMPLEMENTED - immediate=true"),
               "publishing with immediate=true closes the connection")
    except pika.exceptions.AMQPError as error:
        check(False, "immediate=true closes the connection (got %r)" % error)
    if connection.is_open:
        connection.close()


def main():
    record_property_bytes()
    connection = pika_connection()
    check_every_property(connection)
    check_user_id(connection)
    check_body_sizes(connection)
    check_get(connection)
    check_mandatory_return(connection)
    check_unknown_exchange(connection)
    connection.close()
    check_immediate()
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
