#!/usr/bin/python3
"""Interop test: the x-delayed-message exchange (the rabbitmq_delayed_message_exchange plugin's
type) through pika and py-amqp: declare checks and their texts, x-delay timing and order,
the x-delay types the plugin reads, routing after the delay as the x-delayed-type (direct,
topic, fanout, headers, exchange-to-exchange bindings, alternate exchanges), and what a
publisher sees of confirms and mandatory.

Every expectation was first observed on RabbitMQ 3.10.8 with the plugin built from its 3.10
source (rabbitmq-delayed-message-exchange e6c8b16, loaded into Debian's rabbitmq-server).
What it does that one might not guess (all asserted below):
  - The confirm comes at once, and a mandatory delayed message gets basic.return 312 NO_ROUTE
    at once: the delayed exchange routed it to no queue yet. It is still delivered later.
  - An alternate exchange of the delayed exchange gets every delayed message at once (the
    delayed exchange "routed nowhere"), and once due it gets it again if it matches no binding.
  - The delivered message carries its x-delay header as published (type and value).
  - Integers of any width, decimal strings ("300", "+300") and floats (truncated) delay; zero,
    negative values, other types and delays above 2^32-1 ms route at once.
  - x-delayed-type is not compared on redeclare; the type is, as ''x-delayed-message''.
  - An unknown x-delayed-type closes the connection with 503 "unknown exchange type" (a name
    that is no Erlang atom; RabbitMQ says "invalid" for one that is); the alternate-exchange
    type is checked before x-delayed-type.
Where Warren departs (README): deleting the exchange drops its held messages (the plugin
routes them through a new exchange of the same name), so that check runs only against Warren.
"""

import os
import sys
import time

import pika
import pika.exceptions

from checks import HOST, PORT, check, exit_status, expect, pika_connection, unique

WARREN = os.environ.get("AMQP_EXPECT_PRODUCT") == "Warren"
DELAYED = "x-delayed-message"
EARLY_MS = 50     # the broker's coarse clock may trail by a tick: a delay may end this early
LATE_S = 2.0      # a shared, busy host: a due message may come this late


def delayed_args(delayed_type, **more):
    arguments = {"x-delayed-type": delayed_type}
    arguments.update(more)
    return arguments


class Consumer:
    """Deliveries of queues on a pika channel, each with its arrival time."""

    def __init__(self, connection, channel, queues):
        self.connection, self.channel = connection, channel
        self.got = []  # (queue, body, seconds since start, headers)
        self.start = time.monotonic()
        for queue in queues:
            channel.basic_consume(queue, self.on_message(queue), auto_ack=True)

    def on_message(self, queue):
        def on(channel, method, properties, body):
            self.got.append((queue, body.decode(), time.monotonic() - self.start,
                             properties.headers))
        return on

    def wait(self, count, seconds):
        deadline = time.monotonic() + seconds
        while len(self.got) < count and time.monotonic() < deadline:
            self.connection.process_data_events(time_limit=0.02)
        return self.got

    def bodies(self):
        return [body for _, body, _, _ in self.got]


class Setup:
    """A confirm-mode pika channel that deletes what it declared."""

    def __init__(self, connection, confirm=True):
        self.connection = connection
        self.channel = connection.channel()
        if confirm:
            self.channel.confirm_delivery()
        self.exchanges, self.queues = [], []

    def exchange(self, what, exchange_type=DELAYED, arguments=None):
        name = unique("delayed-" + what)
        self.channel.exchange_declare(name, exchange_type, arguments=arguments)
        self.exchanges.append(name)
        return name

    def queue(self, *bindings):
        name = self.channel.queue_declare("", exclusive=True).method.queue
        self.queues.append(name)
        for binding in bindings:
            self.channel.queue_bind(name, *binding)
        return name

    def publish(self, exchange, key, body, delay=None, headers=None, mandatory=False):
        """Publishes; the basic.returns (code, text) that came before the confirm."""
        headers = dict(headers or {})
        if delay is not None:
            headers["x-delay"] = delay
        try:
            self.channel.basic_publish(exchange, key, body.encode(),
                                       pika.BasicProperties(headers=headers or None),
                                       mandatory=mandatory)
        except pika.exceptions.UnroutableError as error:
            return [(m.method.reply_code, m.method.reply_text) for m in error.messages]
        return []

    def consumer(self, *queues):
        return Consumer(self.connection, self.channel, queues)

    def close(self):
        channel = self.channel if self.channel.is_open else self.connection.channel()
        for name in self.queues:
            channel.queue_delete(name)
        for name in self.exchanges:
            channel.exchange_delete(name)
        channel.close()


def declare_outcome(connection, name, exchange_type, arguments):
    """'ok', or (reply code, reply text) of the channel.close a declare on a new channel got."""
    channel = connection.channel()
    try:
        channel.exchange_declare(name, exchange_type, arguments=arguments)
    except pika.exceptions.ChannelClosedByBroker as error:
        return error.reply_code, error.reply_text
    channel.close()
    return "ok"


def check_declare(connection):
    name = unique("delayed-declare")
    must_exist = (406, "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must be an "
                       "existing exchange type")
    expect(declare_outcome(connection, name, DELAYED, None), must_exist,
           "no x-delayed-type: 406")
    expect(declare_outcome(connection, name, DELAYED, {"x-delayed-type": 5}), must_exist,
           "an integer x-delayed-type: 406")
    expect(declare_outcome(connection, name, DELAYED, {"x-delayed-type": DELAYED}),
           (406, "PRECONDITION_FAILED - Invalid argument, 'x-delayed-message' can't be used "
                 "for 'x-delayed-type'"), "x-delayed-type x-delayed-message: 406")
    expect(declare_outcome(connection, name, DELAYED, {"alternate-exchange": 5}),
           (406, "PRECONDITION_FAILED - invalid type 'signedint' for arg 'alternate-exchange' "
                 "in exchange '%s' in vhost '/'" % name),
           "the alternate-exchange type is checked before x-delayed-type")
    for delayed_type in ("direct", "fanout", "topic", "headers"):
        expect(declare_outcome(connection, name + delayed_type, DELAYED,
                               {"x-delayed-type": delayed_type}), "ok",
               "x-delayed-type %s is accepted" % delayed_type)
    fanout = name + "fanout"
    expect(declare_outcome(connection, fanout, DELAYED, {"x-delayed-type": "topic"}), "ok",
           "a redeclare with another x-delayed-type is accepted (not compared)")
    expect(declare_outcome(connection, fanout, DELAYED, None), "ok",
           "a redeclare without x-delayed-type is accepted")
    expect(declare_outcome(connection, fanout, "fanout", None),
           (406, "PRECONDITION_FAILED - inequivalent arg 'type' for exchange '%s' in vhost '/': "
                 "received 'fanout' but current is ''x-delayed-message''" % fanout),
           "a redeclare as fanout: 406 inequivalent type")
    channel = connection.channel()
    channel.exchange_declare(name + "plain", "direct")
    channel.close()
    expect(declare_outcome(connection, name + "plain", DELAYED, {"x-delayed-type": "direct"}),
           (406, "PRECONDITION_FAILED - inequivalent arg 'type' for exchange '%splain' in vhost "
                 "'/': received ''x-delayed-message'' but current is 'direct'" % name),
           "a direct exchange redeclared as x-delayed-message: 406 inequivalent type")
    channel = connection.channel()
    for suffix in ("direct", "fanout", "topic", "headers", "plain"):
        channel.exchange_delete(name + suffix)
    channel.close()

    unknown = "no-such-type-" + unique("t")
    other = pika_connection()
    try:
        other.channel().exchange_declare(name, DELAYED, arguments={"x-delayed-type": unknown})
        check(False, "an unknown x-delayed-type: expected connection.close 503")
    except pika.exceptions.ConnectionClosedByBroker as error:
        expect((error.reply_code, error.reply_text),
               (503, "COMMAND_INVALID - unknown exchange type '%s'" % unknown),
               "an unknown x-delayed-type closes the connection: 503")


def check_timing(connection):
    s = Setup(connection)
    x = s.exchange("timing", arguments=delayed_args("direct"))
    q = s.queue((x, "k"))
    consumer = s.consumer(q)
    t0 = time.monotonic()
    expect(s.publish(x, "k", "one-second", delay=1000), [], "a delayed publish is confirmed")
    confirm_s = time.monotonic() - t0
    check(confirm_s < 0.5, "the confirm of a 1000 ms delayed message comes at once (%.3f s)"
          % confirm_s)
    s.publish(x, "k", "no-header")
    s.publish(x, "k", "zero", delay=0)
    s.publish(x, "k", "negative", delay=-1000)
    got = consumer.wait(3, 0.9)
    expect([body for _, body, _, _ in got], ["no-header", "zero", "negative"],
           "messages without a positive delay, published after the delayed one, come first")
    check(all(at < 0.8 for _, _, at, _ in got[:3]),
          "and at once (%s)" % ", ".join("%.3f s" % at for _, _, at, _ in got[:3]))
    got = consumer.wait(4, 1.0 + LATE_S)
    check(len(got) == 4 and got[3][1] == "one-second", "the delayed message arrives")
    if len(got) == 4:
        at = got[3][2]
        check(1.0 - EARLY_MS / 1000 <= at <= 1.0 + LATE_S,
              "x-delay 1000 arrives no earlier than 1 s after publish (%.3f s)" % at)
        expect(got[3][3], {"x-delay": 1000}, "the delivered message keeps its x-delay header")
    s.close()


def check_order(connection):
    s = Setup(connection)
    x = s.exchange("order", arguments=delayed_args("fanout"))
    q = s.queue((x, ""))
    consumer = s.consumer(q)
    for body, delay in (("600", 600), ("200-a", 200), ("400", 400), ("200-b", 200),
                        ("300", 300), ("200-c", 200)):
        s.publish(x, "", body, delay=delay)
    consumer.wait(6, 0.6 + LATE_S)
    expect(consumer.bodies(), ["200-a", "200-b", "200-c", "300", "400", "600"],
           "delayed messages come by due time, those due together in publish order")
    s.close()


def check_delay_types(connection):
    s = Setup(connection)
    x = s.exchange("types", arguments=delayed_args("direct"))
    q = s.queue((x, "k"))
    consumer = s.consumer(q)
    held = [("string", "300"), ("plus-string", "+300"), ("integer", 300)]
    now = [("bool", True), ("bytes", b"300"), ("too-long", 2 ** 32), ("negative-string", "-300")]
    for body, value in held + now:
        s.publish(x, "k", body, delay=value)
    consumer.wait(len(now), 0.25)
    expect(sorted(consumer.bodies()), sorted(body for body, _ in now),
           "true, a byte array, 2^32 and \"-300\" route at once")
    consumer.wait(len(now) + len(held), 0.3 + LATE_S)
    expect(sorted(consumer.bodies()[len(now):]), sorted(body for body, _ in held),
           "\"300\", \"+300\" and 300 are delayed")
    headers = {body: h for _, body, _, h in consumer.got}
    expect(headers.get("string"), {"x-delay": "300"}, "a string x-delay is delivered as sent")
    s.close()


def check_routing(connection):
    s = Setup(connection)
    topic = s.exchange("topic", arguments=delayed_args("topic"))
    fanout = s.exchange("fanout", arguments=delayed_args("fanout"))
    headers = s.exchange("headers", arguments=delayed_args("headers"))
    q_topic = s.queue((topic, "a.*"))
    q_fan1, q_fan2 = s.queue((fanout, "")), s.queue((fanout, "ignored"))
    q_headers = s.queue((headers, "", {"x-match": "all", "h": "v"}))
    consumer = s.consumer(q_topic, q_fan1, q_fan2, q_headers)
    s.publish(topic, "a.b", "topic-match", delay=300)
    s.publish(topic, "b.a", "topic-other", delay=300)
    s.publish(fanout, "any", "fanout", delay=300)
    s.publish(headers, "", "headers-match", delay=300, headers={"h": "v"})
    s.publish(headers, "", "headers-other", delay=300, headers={"h": "w"})
    consumer.wait(5, 0.2)
    expect(consumer.got, [], "nothing arrives before the delay")
    consumer.wait(5, 0.3 + LATE_S)
    consumer.wait(6, 0.3)  # anything more would be a routing error
    expect(sorted((queue, body) for queue, body, _, _ in consumer.got),
           sorted([(q_topic, "topic-match"), (q_fan1, "fanout"), (q_fan2, "fanout"),
                   (q_headers, "headers-match")]),
           "after the delay each routes as its x-delayed-type: topic, fanout, headers")
    s.close()


def check_mandatory(connection):
    s = Setup(connection)
    x = s.exchange("mandatory", arguments=delayed_args("direct"))
    q = s.queue((x, "k"))
    consumer = s.consumer(q)
    expect(s.publish(x, "k", "mandatory", delay=300, mandatory=True), [(312, "NO_ROUTE")],
           "a mandatory delayed message: basic.return 312 NO_ROUTE at once, then the confirm")
    consumer.wait(1, 0.3 + LATE_S)
    expect(consumer.bodies(), ["mandatory"], "and it is delivered after the delay all the same")
    expect(s.publish(x, "k", "mandatory-now", mandatory=True), [],
           "a mandatory message without x-delay that routes: no return")
    s.close()


def check_alternate_exchange(connection):
    s = Setup(connection)
    ae = s.exchange("ae", "fanout")
    x = s.exchange("with-ae", arguments=delayed_args("direct", **{"alternate-exchange": ae}))
    bound, caught = s.queue((x, "k")), s.queue((ae, ""))
    consumer = s.consumer(bound, caught)
    s.publish(x, "k", "matching", delay=300)
    s.publish(x, "none", "unmatched", delay=300)
    consumer.wait(2, 0.2)
    expect(sorted((queue, body) for queue, body, _, _ in consumer.got),
           [(caught, "matching"), (caught, "unmatched")],
           "the alternate exchange gets each delayed message at once")
    consumer.wait(4, 0.3 + LATE_S)
    expect(sorted((queue, body) for queue, body, _, _ in consumer.got[2:]),
           sorted([(bound, "matching"), (caught, "unmatched")]),
           "after the delay: the bound queue gets its match, the AE the unmatched one again")
    s.close()


def check_exchange_bindings(connection):
    s = Setup(connection)
    source = s.exchange("source", "direct")
    x = s.exchange("via-e2e", arguments=delayed_args("fanout"))
    s.channel.exchange_bind(x, source, "k")
    q = s.queue((x, ""))
    consumer = s.consumer(q)
    s.publish(source, "k", "through-e2e", delay=300)
    consumer.wait(1, 0.2)
    expect(consumer.got, [], "reached through an exchange binding, the message is held")
    consumer.wait(1, 0.3 + LATE_S)
    expect(consumer.bodies(), ["through-e2e"], "and delivered after the delay")
    s.close()


def check_delete_drops_held(connection):
    s = Setup(connection)
    x = s.exchange("deleted", arguments=delayed_args("fanout"))
    q = s.queue((x, ""))
    s.publish(x, "", "held", delay=300)
    s.channel.exchange_delete(x)
    s.channel.exchange_declare(x, DELAYED, arguments=delayed_args("fanout"))
    s.channel.queue_bind(q, x, "")
    consumer = s.consumer(q)
    consumer.wait(1, 0.3 + 0.5)
    expect(consumer.bodies(), [], "deleting the exchange dropped its held message")
    s.close()


# ---- py-amqp ----

def check_pyamqp():
    import amqp
    import amqp.exceptions

    connection = amqp.Connection("%s:%d" % (HOST, PORT), userid="guest", password="guest",
                                 connect_timeout=5, confirm_publish=True)
    connection.connect()
    channel = connection.channel()
    name = unique("delayed-pyamqp")
    try:
        channel.exchange_declare(name, DELAYED, auto_delete=False)
        check(False, "py-amqp: no x-delayed-type: expected 406")
    except amqp.exceptions.PreconditionFailed as error:
        expect((error.reply_code, error.reply_text, error.method_sig),
               (406, "PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must be an "
                     "existing exchange type", (40, 10)),
               "py-amqp: no x-delayed-type: 406 on exchange.declare")
    channel = connection.channel()
    channel.exchange_declare(name, DELAYED, auto_delete=False,
                             arguments={"x-delayed-type": "topic"})
    queue = channel.queue_declare("", exclusive=True).queue
    channel.queue_bind(queue, name, "a.#")
    got = []
    start = time.monotonic()
    channel.basic_consume(queue, no_ack=True, callback=lambda m: got.append(
        (m.body.decode(), time.monotonic() - start, m.properties.get("application_headers"))))
    channel.basic_publish(amqp.Message(b"later", application_headers={"x-delay": 500}), name,
                          "a.b.c")
    channel.basic_publish(amqp.Message(b"double", application_headers={"x-delay": 300.9}),
                          name, "a.double")  # pika cannot send a float
    channel.basic_publish(amqp.Message(b"now"), name, "a.now")
    channel.basic_publish(amqp.Message(b"unbound", application_headers={"x-delay": 100}), name,
                          "b.c")
    deadline = time.monotonic() + 0.5 + LATE_S
    while len(got) < 3 and time.monotonic() < deadline:
        try:
            connection.drain_events(timeout=0.05)
        except OSError:  # socket.timeout: nothing this time
            pass
    expect([body for body, _, _ in got], ["now", "double", "later"],
           "py-amqp: the undelayed message first, then the delayed ones by due time (topic a.#)")
    if len(got) == 3:
        check(got[0][1] < 0.25, "py-amqp: the undelayed message at once (%.3f s)" % got[0][1])
        check(0.3 - EARLY_MS / 1000 <= got[1][1],
              "py-amqp: x-delay 300.9 (a double) delays 300 ms (%.3f s)" % got[1][1])
        expect(got[1][2], {"x-delay": 300.9}, "py-amqp: a double x-delay is delivered as sent")
        check(0.5 - EARLY_MS / 1000 <= got[2][1],
              "py-amqp: x-delay 500 arrives no earlier than 0.5 s (%.3f s)" % got[2][1])
        expect(got[2][2], {"x-delay": 500}, "py-amqp: x-delay stays on the delivered message")
    channel.exchange_delete(name)
    connection.close()


def main():
    checks = [check_declare, check_timing, check_order, check_delay_types, check_routing,
              check_mandatory, check_alternate_exchange, check_exchange_bindings]
    if WARREN:
        checks.append(check_delete_drops_held)
    connection = pika_connection()
    for check_function in checks:
        try:
            check_function(connection)
        except Exception as error:  # a FAIL, then on with the next check
            check(False, "%s raised %r" % (check_function.__name__, error))
            if not connection.is_open:
                connection = pika_connection()
    connection.close()
    try:
        check_pyamqp()
    except Exception as error:
        check(False, "check_pyamqp raised %r" % error)
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
