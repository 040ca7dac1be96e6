#!/usr/bin/python3
"""Interop test (pika, py-amqp, raw frames): direct reply-to. A channel consumes the
pseudo-queue amq.rabbitmq.reply-to without acks; a request it publishes with that reply_to
reaches the server with an unguessable amq.rabbitmq.reply-to.<opaque> name instead, and a
reply published to the default exchange under that name, from any connection, goes straight
to the requesting channel. Misuse gets RabbitMQ's 406s, and queue.declare of the pseudo-queue
succeeds (Spring AMQP probes for the feature so). Every expectation was first seen on
RabbitMQ 3.10."""
import os
import re
import select
import struct
import threading
import time

import amqp
import pika
import pika.exceptions

from checks import (HOST, PORT, check, drain_until, exit_status, expect, expect_channel_close,
                    fresh_name, pika_connection, process_until)
from rawamqp import (basic_consume_args, basic_publish_args, body_frame, client_in,
                     content_header_frame, decode_close, method_frame, queue_declare_args,
                     shortstr)

REPLY_TO = "amq.rabbitmq.reply-to"
REPLY_NAME = re.compile(r"^amq\.rabbitmq\.reply-to\.[A-Za-z0-9+/=._-]{20,}$")
NO_CONSUMER = (406, "PRECONDITION_FAILED - fast reply consumer does not exist")
CANNOT_ACK = (406, "PRECONDITION_FAILED - reply consumer cannot acknowledge")
ALREADY_SET = (406, "PRECONDITION_FAILED - reply consumer already set")
WARREN = os.environ.get("AMQP_EXPECT_PRODUCT") == "Warren"
REPLY_TO_FLAG = 1 << 9    # the reply_to bit of basic's property flags
FLOOD_MESSAGES = 30000    # past Warren's flow-control mark (20,000 ready) and RabbitMQ's credit
FLOOD_BODY = 2000         # 60 MB in all: more than socket buffers can hide


class Requester:
    """A pika channel consuming its replies, with a server queue to send requests to."""

    def __init__(self, connection):
        self.connection = connection
        self.channel = connection.channel()
        self.replies = []
        self.tag = self.channel.basic_consume(
            REPLY_TO, lambda ch, method, props, body: self.replies.append((method, props, body)),
            auto_ack=True)
        self.server_queue = self.channel.queue_declare("", exclusive=True).method.queue

    def request(self, body=b"request", **properties):
        """Publishes a request and takes it from the server queue: its properties there."""
        self.channel.basic_publish("", self.server_queue, body,
                                   pika.BasicProperties(reply_to=REPLY_TO, **properties))
        for _ in range(100):
            method, props, _body = self.channel.basic_get(self.server_queue, auto_ack=True)
            if method:
                return props
            self.connection.sleep(0.02)
        raise AssertionError("the request never reached the server queue")

    def wait_replies(self, count, seconds=5.0):
        process_until(self.connection, lambda: len(self.replies) >= count, seconds)
        return self.replies


def replier(connection):
    """A pika channel that publishes replies with confirms."""
    channel = connection.channel()
    channel.confirm_delivery()
    return channel


def publish_mandatory(channel, routing_key, body):
    """A mandatory publish on a confirming channel: the basic.returns that preceded its ack
    (pika raises UnroutableError with them), as (code, text, routing key, body)."""
    try:
        channel.basic_publish("", routing_key, body, mandatory=True)
        return []
    except pika.exceptions.UnroutableError as error:
        return [(m.method.reply_code, m.method.reply_text, m.method.routing_key, m.body)
                for m in error.messages]


def check_round_trip(connection, other):
    requester = Requester(connection)
    props = requester.request(correlation_id="c1")
    name = props.reply_to
    check(REPLY_NAME.match(name or "") is not None,
          "the server sees reply_to rewritten to amq.rabbitmq.reply-to.<opaque>: %r" % name)
    expect(props.correlation_id, "c1", "the request's other properties are kept")
    channel = replier(other)
    channel.basic_publish("", name, b"reply",
                          pika.BasicProperties(correlation_id="c1", headers={"n": 1}))
    replies = requester.wait_replies(1)
    expect(len(replies), 1, "a reply from another connection reaches the requesting channel")
    if replies:
        method, props, body = replies[0]
        expect((method.consumer_tag, method.exchange, method.routing_key, method.redelivered),
               (requester.tag, "", name, False),
               "basic.deliver: the reply consumer's tag, the default exchange, the reply name")
        expect((body, props.correlation_id, props.headers), (b"reply", "c1", {"n": 1}),
               "the reply's body and properties as the server published them")
    check(channel.is_open, "the replier's confirm came (acked) and its channel stays open")
    second = requester.request()
    expect(second.reply_to, name, "a channel's requests all carry the same reply name")
    requester.channel.basic_publish("", name, b"to myself")
    expect(len(requester.wait_replies(2)), 2, "the requesting channel may reply to itself")
    requester.channel.close()
    channel.close()


def check_names_are_per_channel(connection, other):
    first, second = Requester(connection), Requester(connection)
    a, b = first.request().reply_to, second.request().reply_to
    check(a != b, "two channels of one connection get different reply names")
    channel = replier(other)
    channel.basic_publish("", b, b"for the second")
    channel.basic_publish("", a, b"for the first")
    first.wait_replies(1)
    second.wait_replies(1)
    expect(([r[2] for r in first.replies], [r[2] for r in second.replies]),
           ([b"for the first"], [b"for the second"]), "each reply reaches its own channel only")
    first.channel.close()
    second.channel.close()
    channel.close()


def check_delivery_tags(connection, other):
    """RabbitMQ gives a reply the channel's next delivery tag without using it up."""
    requester = Requester(connection)
    name = requester.request().reply_to  # basic.get took tag 1
    channel = replier(other)
    for n in range(3):
        channel.basic_publish("", name, b"reply %d" % n)
    tags = [method.delivery_tag for method, _props, _body in requester.wait_replies(3)]
    expect(tags, [2, 2, 2], "replies all carry the next delivery tag")
    requester.channel.basic_publish("", requester.server_queue, b"x")
    method = None
    for _ in range(100):
        method, _props, _body = requester.channel.basic_get(requester.server_queue)
        if method:
            break
        connection.sleep(0.02)
    expect(method.delivery_tag if method else None, 2, "the next basic.get gets that tag too")
    requester.channel.basic_ack(method.delivery_tag)
    requester.channel.close()
    channel.close()


def check_mandatory_reply(connection, other):
    requester = Requester(connection)
    name = requester.request().reply_to
    channel = replier(other)
    expect(publish_mandatory(channel, name, b"mandatory reply"),
           [(312, "NO_ROUTE", name, b"mandatory reply")],
           "a mandatory reply reaches no queue: basic.return 312 NO_ROUTE, then the ack")
    expect([r[2] for r in requester.wait_replies(1)], [b"mandatory reply"],
           "and it is delivered all the same")
    requester.channel.close()
    channel.close()


def check_stale_names(connection, other):
    requester = Requester(connection)
    name = requester.request().reply_to
    requester.channel.close()
    channel = replier(other)
    expect(len(publish_mandatory(channel, name, b"late")), 1,
           "a mandatory reply to a closed channel's name is returned")
    channel.basic_publish("", name, b"late")
    check(channel.is_open, "a reply to a closed channel's name is dropped (acked, channel open)")
    made_up = "amq.rabbitmq.reply-to.%s" % fresh_name("made-up")
    expect(len(publish_mandatory(channel, made_up, b"guess")), 1,
           "a mandatory reply to a made-up name is returned")
    expect(len(publish_mandatory(channel, REPLY_TO, b"bare")), 1,
           "the pseudo-queue itself is no routing key for replies: returned")
    check(channel.is_open, "the replier's channel stays open throughout")
    channel.close()
    expect_channel_close(other, lambda ch: ch.queue_declare(name, passive=True), 404,
                         "NOT_FOUND - no queue '%s' in vhost '/'" % name,
                         "passive declare of a closed channel's reply name")


def check_cancel(connection, other):
    requester = Requester(connection)
    name = requester.request().reply_to
    requester.channel.basic_cancel(requester.tag)
    channel = replier(other)
    channel.basic_publish("", name, b"after cancel")
    connection.sleep(0.3)
    expect(len(requester.replies), 0, "after basic.cancel replies to the old name are dropped")
    try:
        requester.channel.basic_publish("", requester.server_queue, b"x",
                                        pika.BasicProperties(reply_to=REPLY_TO))
        requester.channel.queue_declare(requester.server_queue, passive=True)
        check(False, "a request after cancel: expected channel.close 406")
    except pika.exceptions.ChannelClosedByBroker as error:
        expect((error.reply_code, error.reply_text), NO_CONSUMER,
               "a request after the reply consumer was cancelled")
    again = connection.channel()
    tag = again.basic_consume(REPLY_TO, lambda *args: None, auto_ack=True)
    again.basic_cancel(tag)
    again.basic_consume(REPLY_TO, lambda *args: None, auto_ack=True)
    check(again.is_open, "a channel may consume replies again after a cancel")
    again.close()
    channel.close()


def check_transaction(connection, other):
    requester = Requester(connection)
    name = requester.request().reply_to
    channel = other.channel()
    channel.tx_select()
    channel.basic_publish("", name, b"in a transaction")
    expect(len(requester.wait_replies(1)), 1,
           "a reply published in a transaction is delivered before the commit")
    channel.tx_commit()
    connection.sleep(0.2)
    expect(len(requester.replies), 1, "and not again at the commit")
    requester.channel.close()
    channel.close()


def check_misuse(connection):
    def request_without_consumer(channel):
        channel.basic_publish("", "anywhere", b"x", pika.BasicProperties(reply_to=REPLY_TO))

    expect_channel_close(connection, request_without_consumer, *NO_CONSUMER,
                         "a request with reply_to amq.rabbitmq.reply-to on a channel without "
                         "the reply consumer", round_trip=True)

    requester = Requester(connection)
    expect_channel_close(connection, request_without_consumer, *NO_CONSUMER,
                         "the reply consumer is per channel: another channel of the same "
                         "connection may not ask for replies", round_trip=True)
    requester.channel.close()

    channel = connection.channel()
    missing = fresh_name("no-such-exchange")
    try:
        channel.basic_publish(missing, "", b"x", pika.BasicProperties(reply_to=REPLY_TO))
        channel.queue_declare("", exclusive=True)
        check(False, "a request to a missing exchange: expected channel.close 404")
    except pika.exceptions.ChannelClosedByBroker as error:
        expect((error.reply_code, error.reply_text),
               (404, "NOT_FOUND - no exchange '%s' in vhost '/'" % missing),
               "a request to a missing exchange fails on the exchange first")

    expect_channel_close(connection,
                         lambda ch: ch.basic_consume(REPLY_TO, lambda *a: None, auto_ack=False),
                         *CANNOT_ACK, "consuming the pseudo-queue with acknowledgements")

    def second_consumer(channel):
        channel.basic_consume(REPLY_TO, lambda *a: None, auto_ack=True)
        channel.basic_consume(REPLY_TO, lambda *a: None, auto_ack=True)

    expect_channel_close(connection, second_consumer, *ALREADY_SET,
                         "a second reply consumer on one channel")


def connection_error(action):
    """Runs action(connection) on a fresh pika connection: the connection.close it provoked, as
    (code, text), or None."""
    connection = pika_connection()
    try:
        action(connection)
    except pika.exceptions.ConnectionClosedByBroker as error:
        return (error.reply_code, error.reply_text)
    connection.close()
    return None


def check_departures():
    """Where RabbitMQ 3.10 crashes the connection (541), Warren answers as for a neighbouring
    case (README, "Deliberate departures")."""
    def two_part_name(connection):
        channel = replier(connection)
        returned = publish_mandatory(channel, REPLY_TO + ".AAAA.BBBB", b"x")
        expect(len(returned), 1, "a reply to a two-part name that does not decode is returned")

    crash = connection_error(two_part_name)
    if WARREN:
        expect(crash, None, "and the connection stays open")
    else:
        expect(crash, (541, "INTERNAL_ERROR"), "RabbitMQ: a two-part name that does not decode")

    def own_name(connection):
        requester = Requester(connection)
        name = requester.request().reply_to
        expect(declare_ok(requester.channel, name, passive=True), (name, 0, 1),
               "a channel's passive declare of its own reply name")

    crash = connection_error(own_name)
    if not WARREN:
        expect(crash, (541, "INTERNAL_ERROR"), "RabbitMQ: a channel declaring its own reply name")


def delivery_arrives(sock, seconds):
    """Reads a raw connection's socket, without touching its timeout (another thread is
    writing to it), until a basic.deliver arrives: True, or False after seconds."""
    deadline = time.monotonic() + seconds
    data = b""
    while time.monotonic() < deadline:
        if not select.select([sock], [], [], 0.1)[0]:
            continue
        chunk = sock.recv(65536)
        if not chunk:
            return False
        data += chunk
        while len(data) >= 7:
            kind, _channel, size = struct.unpack(">BHI", data[:7])
            if len(data) < 8 + size:
                break
            if kind == 1 and data[7:11] == struct.pack(">HH", 60, 60):
                return True
            data = data[8 + size:]
    return False


def check_held_back_requester(other):
    """A requester whose connection is held back while it floods a queue that a consumer does
    not drain (Warren's publisher flow control, RabbitMQ's credit flow) still gets its reply."""
    lagging = other.channel()
    flooded = fresh_name("flooded")
    lagging.queue_declare(flooded)
    lagging.basic_qos(prefetch_count=1)
    lagging.basic_consume(flooded, lambda *args: None)  # takes one, never acknowledges
    server = other.channel()
    server_queue = server.queue_declare("", exclusive=True).method.queue
    c = client_in("channel", timeout=60)
    c.send_method(1, 60, 20, basic_consume_args(REPLY_TO, "replies", no_ack=True))
    c.expect_method(60, 21)
    c.send(method_frame(1, 60, 40, basic_publish_args("", server_queue))
           + content_header_frame(1, 7, flags=REPLY_TO_FLAG, props=shortstr(REPLY_TO))
           + body_frame(1, b"request"))
    props = None
    for _ in range(100):
        method, props, _body = server.basic_get(server_queue, auto_ack=True)
        if method:
            break
        other.sleep(0.02)
    one = method_frame(1, 60, 40, basic_publish_args("", flooded)) + content_header_frame(1, FLOOD_BODY)
    batch = (one + body_frame(1, b"." * FLOOD_BODY)) * FLOOD_MESSAGES
    flooded_all = threading.Event()

    def flood():
        c.sock.sendall(batch)
        flooded_all.set()

    thread = threading.Thread(target=flood, daemon=True)
    thread.start()
    ready = 0
    deadline = time.monotonic() + 30
    while ready < 20000 and not flooded_all.is_set() and time.monotonic() < deadline:
        other.sleep(0.1)
        ready = lagging.queue_declare(flooded, passive=True).method.message_count
    server.basic_publish("", props.reply_to if props else "", b"reply")
    arrived = delivery_arrives(c.sock, 10)
    held_back = not flooded_all.is_set()
    check(arrived, "the reply reaches a requester held back by flow control (%d ready)" % ready)
    if WARREN:
        check(held_back, "the requester was held back when its reply arrived")
    lagging.queue_delete(flooded)
    thread.join(60)
    c.close()
    lagging.close()
    server.close()


def declare_ok(channel, name, **kwargs):
    ok = channel.queue_declare(name, **kwargs).method
    return (ok.queue, ok.message_count, ok.consumer_count)


def check_declare(connection, other):
    channel = connection.channel()
    expect(declare_ok(channel, REPLY_TO, passive=True), (REPLY_TO, 0, 1),
           "passive declare of amq.rabbitmq.reply-to: declare-ok, 0 messages, 1 consumer")
    expect(declare_ok(channel, REPLY_TO, durable=True, arguments={"x-max-length": "not a number"}),
           (REPLY_TO, 0, 1), "non-passive declare too, whatever its flags and arguments")
    channel.close()
    requester = Requester(connection)
    name = requester.request().reply_to
    elsewhere = other.channel()
    expect(declare_ok(elsewhere, name, passive=True), (name, 0, 1),
           "passive declare of a live reply name from another connection")
    expect(declare_ok(elsewhere, name, exclusive=True), (name, 0, 1),
           "non-passive declare of a live reply name")
    elsewhere.close()
    requester.channel.close()
    for name in (REPLY_TO + "x", REPLY_TO + ".nothing"):
        expect_channel_close(connection, lambda ch: ch.queue_declare(name), 404,
                             "NOT_FOUND - no queue '%s' in vhost '/'" % name,
                             "declare of %s" % name)


def check_pyamqp():
    requester = amqp.Connection("%s:%d" % (HOST, PORT), userid="guest", password="guest")
    server = amqp.Connection("%s:%d" % (HOST, PORT), userid="guest", password="guest")
    requester.connect()
    server.connect()
    ch = requester.channel()
    name, messages, consumers = ch.queue_declare(REPLY_TO, passive=True)
    expect((name, messages, consumers), (REPLY_TO, 0, 1),
           "py-amqp: passive declare of amq.rabbitmq.reply-to")
    replies = []
    tag = ch.basic_consume(REPLY_TO, callback=replies.append, no_ack=True)
    sch = server.channel()
    queue = sch.queue_declare("", exclusive=True)[0]
    requests = []
    sch.basic_consume(queue, callback=requests.append, no_ack=True)
    ch.basic_publish(amqp.Message(b"ping", reply_to=REPLY_TO, correlation_id="py-1"), "", queue)
    drain_until(server, lambda: requests)
    reply_to = requests[0].properties.get("reply_to") if requests else None
    check(REPLY_NAME.match(reply_to or "") is not None,
          "py-amqp: the server sees the rewritten reply_to %r" % reply_to)
    sch.confirm_select()
    sch.basic_publish(amqp.Message(b"pong", correlation_id="py-1"), "", reply_to or "")
    drain_until(requester, lambda: replies)
    if check(len(replies) == 1, "py-amqp: the reply arrives on the requesting channel"):
        reply = replies[0]
        expect((reply.body, reply.properties.get("correlation_id"),
                reply.delivery_info["consumer_tag"], reply.delivery_info["routing_key"]),
               (b"pong", "py-1", tag, reply_to), "py-amqp: the reply's body, tag and routing key")
    other = requester.channel()
    try:
        other.basic_publish(amqp.Message(b"x", reply_to=REPLY_TO), "", queue)
        other.queue_declare("", exclusive=True)
        check(False, "py-amqp: a request without the reply consumer: expected 406")
    except amqp.exceptions.PreconditionFailed as error:
        expect((error.reply_code, error.reply_text), NO_CONSUMER,
               "py-amqp: a request without the reply consumer")
    other = requester.channel()
    try:
        other.basic_consume(REPLY_TO, callback=replies.append, no_ack=False)
        other.queue_declare("", exclusive=True)
        check(False, "py-amqp: consuming with acks: expected 406")
    except amqp.exceptions.PreconditionFailed as error:
        expect((error.reply_code, error.reply_text), CANNOT_ACK,
               "py-amqp: consuming the pseudo-queue with acks")
    requester.close()
    server.close()


def check_raw_frames():
    """What client libraries hide: the server-made tag, no-wait, and a reused tag."""
    c = client_in("channel")
    c.send_method(1, 60, 20, basic_consume_args(REPLY_TO, "", no_ack=True))
    tag = c.expect_method(60, 21).args().shortstr()
    check(re.match(r"^amq\.ctag-[A-Za-z0-9_-]{22}$", tag) is not None,
          "raw: an empty consumer tag becomes amq.ctag-<22 characters>: %r" % tag)
    c.open_channel(2)
    c.send_method(2, 60, 20, basic_consume_args(REPLY_TO, "quiet", no_ack=True, nowait=True))
    c.send_method(2, 50, 10, queue_declare_args(REPLY_TO, passive=True))
    f = c.expect_method(50, 11)
    check(True, "raw: a no-wait reply consume gets no consume-ok (%s came next)" % f.describe())
    c.open_channel(3)
    c.send_method(3, 50, 10, queue_declare_args("", exclusive=True))
    queue = c.expect_method(50, 11).args().shortstr()
    c.send_method(3, 60, 20, basic_consume_args(queue, "taken", no_ack=True))
    c.expect_method(60, 21)
    c.send_method(3, 60, 20, basic_consume_args(REPLY_TO, "taken", no_ack=True))
    f = c.read_frame_skip_heartbeats()
    close = decode_close(f) if f.is_method(10, 50) else None
    expect((close.code, close.text) if close else f.describe(),
           (530, "NOT_ALLOWED - attempt to reuse consumer tag 'taken'"),
           "raw: a reply consumer with another consumer's tag closes the connection")
    c.close()


def main():
    connection, other = pika_connection(), pika_connection()
    check_round_trip(connection, other)
    check_names_are_per_channel(connection, other)
    check_delivery_tags(connection, other)
    check_mandatory_reply(connection, other)
    check_stale_names(connection, other)
    check_cancel(connection, other)
    check_transaction(connection, other)
    check_misuse(connection)
    check_declare(connection, other)
    check_held_back_requester(other)
    check_departures()
    connection.close()
    other.close()
    check_pyamqp()
    check_raw_frames()
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
