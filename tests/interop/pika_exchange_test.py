#!/usr/bin/python3
"""Interop test: pika declares, checks, deletes and routes through exchanges of every type."""

import decimal
import sys

import pika
import pika.exceptions

from checks import (DEFAULT_EXCHANGE_REFUSED, check, exit_status, expect, expect_channel_close,
                    expect_ok, pika_connection, unique)


def vhost_text(kind, name):
    return "%s '%s' in vhost '/'" % (kind, name)


def exchange_exists(connection, name, exchange_type="direct"):
    channel = connection.channel()
    try:
        channel.exchange_declare(name, exchange_type, passive=True)
    except pika.exceptions.ChannelClosedByBroker as error:
        if error.reply_code == 404:
            return False
        raise
    channel.close()
    return True


def check_declare_each_type(connection):
    channel = connection.channel()
    for exchange_type in ("direct", "fanout", "topic", "headers"):
        name = unique("declare-" + exchange_type)
        frame = channel.exchange_declare(name, exchange_type)
        expect(type(frame.method).__name__, "DeclareOk", "declare a %s exchange" % exchange_type)
        frame = channel.exchange_declare(name, exchange_type, passive=True)
        expect(type(frame.method).__name__, "DeclareOk",
               "passive declare of the %s exchange" % exchange_type)
        frame = channel.exchange_declare(name, "fanout" if exchange_type != "fanout" else "direct",
                                         passive=True)
        expect(type(frame.method).__name__, "DeclareOk",
               "passive declare ignores the type of the %s exchange" % exchange_type)
        frame = channel.exchange_declare(name, exchange_type)
        expect(type(frame.method).__name__, "DeclareOk",
               "redeclaring the %s exchange identically" % exchange_type)
        frame = channel.exchange_delete(name)
        expect(type(frame.method).__name__, "DeleteOk", "delete the %s exchange" % exchange_type)
        check(not exchange_exists(connection, name), "the %s exchange is gone" % exchange_type)
    for name, exchange_type in (("amq.direct", "direct"), ("amq.fanout", "fanout"),
                                ("amq.topic", "topic"), ("amq.headers", "headers"),
                                ("amq.match", "headers")):
        check(exchange_exists(connection, name, exchange_type),
              "predeclared %s exists (passive declare)" % name)
    expect_ok(connection, lambda ch: ch.exchange_declare("amq.direct", "direct", durable=True),
              "redeclaring amq.direct with its own properties (durable direct)")
    channel.close()


def check_declare_errors(connection):
    missing = unique("missing")
    expect_channel_close(
        connection, lambda ch: ch.exchange_declare(missing, "direct", passive=True),
        404, "NOT_FOUND - no " + vhost_text("exchange", missing),
        "passive declare of a missing exchange")
    expect_channel_close(
        connection, lambda ch: ch.exchange_declare("amq.nosuch", "direct", passive=True),
        404, "NOT_FOUND - no " + vhost_text("exchange", "amq.nosuch"),
        "passive declare of a missing amq. exchange")
    reserved = unique("amq.reserved")
    expect_channel_close(
        connection, lambda ch: ch.exchange_declare(reserved, "direct"),
        403, "ACCESS_REFUSED - exchange name '%s' contains reserved prefix 'amq.*'" % reserved,
        "declaring a name starting with amq.")
    expect_channel_close(
        connection, lambda ch: ch.exchange_declare("amq.direct", "direct"),
        406, "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'amq.direct' in vhost "
        "'/': received 'false' but current is 'true'", "redeclaring amq.direct non-durable")
    expect_channel_close(
        connection, lambda ch: ch.exchange_declare("amq.direct", "fanout", durable=True),
        406, "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'amq.direct' in vhost "
        "'/': received 'fanout' but current is 'direct'", "redeclaring amq.direct as fanout")
    for passive in (False, True):
        expect_channel_close(
            connection, lambda ch: ch.exchange_declare("", "direct", passive=passive),
            *DEFAULT_EXCHANGE_REFUSED, "declaring the default exchange (passive=%s)" % passive)
    expect_channel_close(connection, lambda ch: ch.exchange_delete(""),
                         *DEFAULT_EXCHANGE_REFUSED, "deleting the default exchange")
    expect_channel_close(
        connection, lambda ch: ch.exchange_delete("amq.direct"),
        403, "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed",
        "deleting amq.direct")
    expect_ok(connection, lambda ch: ch.exchange_delete(missing), "deleting a missing exchange")
    expect_ok(connection, lambda ch: ch.exchange_delete(missing, if_unused=True),
              "deleting a missing exchange with if-unused")


def check_unknown_type():
    connection = pika_connection()
    channel = connection.channel()
    name = unique("badtype")
    try:
        # Not an Erlang atom: RabbitMQ says "invalid" instead for names like 'foo' that are.
        channel.exchange_declare(name, "no-such-exchange-type")
        check(False, "unknown exchange type refused (but the declare succeeded)")
        channel.exchange_delete(name)
    except pika.exceptions.ConnectionClosedByBroker as error:
        expect((error.reply_code, error.reply_text),
               (503, "COMMAND_INVALID - unknown exchange type 'no-such-exchange-type'"),
               "unknown exchange type closes the connection")
    except pika.exceptions.AMQPError as error:
        check(False, "unknown exchange type closes the connection (got %r)" % error)
    if connection.is_open:
        connection.close()
    connection = pika_connection()
    check(not exchange_exists(connection, name), "the exchange of unknown type was not created")
    connection.close()


def inequivalent(field, name, received, current):
    return ("PRECONDITION_FAILED - inequivalent arg '%s' for exchange '%s' in vhost '/': "
            "received %s but current is %s" % (field, name, received, current))


def check_equivalence(connection):
    name = unique("equiv")
    setup = connection.channel()
    setup.exchange_declare(name, "direct")
    cases = [
        ("type", dict(exchange_type="fanout"), "'fanout'", "'direct'"),
        ("durable", dict(durable=True), "'true'", "'false'"),
        ("auto_delete", dict(auto_delete=True), "'true'", "'false'"),
        ("internal", dict(internal=True), "'true'", "'false'"),
    ]
    for field, changes, received, current in cases:
        arguments = dict(exchange_type="direct")
        arguments.update(changes)
        expect_channel_close(connection, lambda ch: ch.exchange_declare(name, **arguments),
                             406, inequivalent(field, name, received, current),
                             "redeclaring with a different %s" % field)
    # Several differences at once: RabbitMQ reports the first of type, durable, auto_delete,
    # internal.
    expect_channel_close(
        connection, lambda ch: ch.exchange_declare(name, "topic", durable=True, auto_delete=True,
                                                   internal=True),
        406, inequivalent("type", name, "'topic'", "'direct'"), "several differences: type first")
    expect_channel_close(
        connection, lambda ch: ch.exchange_declare(name, "direct", durable=True, auto_delete=True,
                                                   internal=True),
        406, inequivalent("durable", name, "'true'", "'false'"),
        "several differences: durable before auto_delete and internal")
    expect_channel_close(
        connection, lambda ch: ch.exchange_declare(name, "direct", auto_delete=True, internal=True),
        406, inequivalent("auto_delete", name, "'true'", "'false'"),
        "several differences: auto_delete before internal")
    # RabbitMQ compares only the arguments it knows (alternate-exchange); others are ignored.
    expect_ok(connection, lambda ch: ch.exchange_declare(name, "direct", arguments={"foo": "bar"}),
              "redeclaring with an unknown argument added")
    expect_channel_close(
        connection, lambda ch: ch.exchange_declare(name, "direct",
                                                   arguments={"alternate-exchange": "ae"}),
        406, inequivalent("alternate-exchange", name, "the value 'ae' of type 'longstr'", "none"),
        "redeclaring with alternate-exchange added")
    with_args = unique("equiv-args")
    setup.exchange_declare(with_args, "topic", arguments={"foo": "bar", "n": 5})
    expect_ok(connection, lambda ch: ch.exchange_declare(with_args, "topic"),
              "redeclaring without its unknown arguments")
    expect_ok(connection, lambda ch: ch.exchange_declare(with_args, "topic",
                                                         arguments={"foo": "baz"}),
              "redeclaring with a different unknown argument value")
    setup.exchange_delete(name)
    setup.exchange_delete(with_args)
    setup.close()


def check_delete_if_unused(connection):
    name = unique("ifunused")
    channel = connection.channel()
    channel.exchange_declare(name, "direct")
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, name, "k")
    expect_channel_close(connection, lambda ch: ch.exchange_delete(name, if_unused=True),
                         406, "PRECONDITION_FAILED - %s in use" % vhost_text("exchange", name),
                         "delete with if-unused of a bound exchange")
    check(exchange_exists(connection, name), "the bound exchange survived if-unused")
    channel.queue_unbind(queue, name, "k")
    frame = channel.exchange_delete(name, if_unused=True)
    expect(type(frame.method).__name__, "DeleteOk", "delete with if-unused once unbound")
    check(not exchange_exists(connection, name), "the unbound exchange is gone")
    # Deleting a bound exchange without if-unused removes its bindings too.
    channel.exchange_declare(name, "direct")
    channel.queue_bind(queue, name, "k")
    channel.exchange_delete(name)
    channel.exchange_declare(name, "direct")
    channel.confirm_delivery()
    channel.basic_publish(name, "k", b"after re-create")
    method, _, _ = channel.basic_get(queue, auto_ack=True)
    check(method is None, "a deleted exchange's bindings are gone with it (re-created: no route)")
    channel.exchange_delete(name)
    channel.close()


def check_auto_delete(connection):
    name = unique("autodel")
    channel = connection.channel()
    channel.exchange_declare(name, "direct", auto_delete=True)
    check(exchange_exists(connection, name), "an auto-delete exchange without bindings stays")
    first = channel.queue_declare("", exclusive=True).method.queue
    second = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(first, name, "a")
    channel.queue_bind(second, name, "b")
    channel.queue_bind(second, name, "c")
    channel.queue_unbind(first, name, "a")
    check(exchange_exists(connection, name), "auto-delete exchange stays while bindings remain")
    channel.queue_unbind(second, name, "b")
    check(exchange_exists(connection, name), "auto-delete exchange stays with one binding left")
    channel.queue_unbind(second, name, "c")
    check(not exchange_exists(connection, name), "auto-delete exchange goes with its last unbind")
    channel.exchange_declare(name, "fanout", auto_delete=True)
    channel.queue_bind(first, name, "")
    channel.queue_delete(first)
    check(not exchange_exists(connection, name),
          "auto-delete exchange goes when the queue of its last binding is deleted")
    channel.queue_delete(second)
    channel.close()


def check_internal(connection):
    name = unique("internal")
    channel = connection.channel()
    channel.exchange_declare(name, "fanout", internal=True)
    check(exchange_exists(connection, name, "fanout"), "internal exchange declared")

    def publish(ch):
        ch.basic_publish(name, "k", b"refused")
        ch.queue_declare("", exclusive=True)  # a round trip to collect the close

    expect_channel_close(connection, publish, 403,
                         "ACCESS_REFUSED - cannot publish to internal "
                         + vhost_text("exchange", name),
                         "publishing to an internal exchange")
    channel.exchange_delete(name)
    channel.close()


def check_default_exchange(connection):
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    for action, what in ((lambda ch: ch.queue_bind(queue, "", "k"), "binding to"),
                         (lambda ch: ch.queue_bind(queue, "", queue), "binding by queue name to"),
                         (lambda ch: ch.queue_unbind(queue, "", queue), "unbinding from")):
        expect_channel_close(connection, action, *DEFAULT_EXCHANGE_REFUSED,
                             "%s the default exchange" % what)
    channel.confirm_delivery()
    channel.basic_publish("", queue, b"by name")
    method, _, body = channel.basic_get(queue, auto_ack=True)
    expect((method.exchange, method.routing_key, body) if method else None, ("", queue, b"by name"),
           "the default exchange routes by queue name")
    channel.close()

    def publish_amq_default(ch):
        ch.basic_publish("amq.default", queue, b"x")
        ch.queue_declare("", exclusive=True)

    expect_channel_close(connection, publish_amq_default, 404,
                         "NOT_FOUND - no " + vhost_text("exchange", "amq.default"),
                         "publishing to 'amq.default'")


def check_nowait(connection):
    """pika's underlying channel sends nowait=true when no completion callback is given."""
    name = unique("nowait")
    channel = connection.channel()
    impl = channel._impl
    impl.exchange_declare(name, "fanout")
    impl.exchange_declare(name, "fanout")  # an equivalent redeclare, also without reply
    queue = channel.queue_declare("", exclusive=True).method.queue
    check(exchange_exists(connection, name, "fanout"), "exchange.declare with nowait created it")
    channel.queue_bind(queue, name, "")
    channel.confirm_delivery()
    channel.basic_publish(name, "", b"through nowait")
    expect(drain(channel, queue), ["through nowait"], "the nowait-declared exchange routes")
    impl.exchange_delete(name)
    channel.queue_declare("", exclusive=True)  # a round trip: the nowait delete is done
    check(not exchange_exists(connection, name), "exchange.delete with nowait deleted it")

    def failing_nowait(ch):
        ch._impl.exchange_declare("amq.direct", "topic", durable=True)
        ch.queue_declare("", exclusive=True)

    expect_channel_close(connection, failing_nowait, 406,
                         inequivalent("type", "amq.direct", "'topic'", "'direct'"),
                         "a failing exchange.declare with nowait still closes the channel")
    channel.close()


def drain(channel, queue):
    bodies = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return bodies
        bodies.append(body.decode())


def route(connection, exchange_type, bindings, messages):
    """Bind one queue per binding, publish each message, return {binding name: bodies}."""
    channel = connection.channel()
    exchange = unique("route-" + exchange_type)
    channel.exchange_declare(exchange, exchange_type, auto_delete=True)
    queues = {}
    for name, (key, arguments) in bindings.items():
        queues[name] = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(queues[name], exchange, key, arguments=arguments)
    channel.confirm_delivery()
    for body, (key, headers) in messages.items():
        channel.basic_publish(exchange, key, body.encode(), pika.BasicProperties(headers=headers))
    received = {name: drain(channel, queue) for name, queue in queues.items()}
    for queue in queues.values():
        channel.queue_delete(queue)
    check(not exchange_exists(connection, exchange, exchange_type),
          "auto-delete %s exchange gone with its queues" % exchange_type)
    channel.close()
    return received


def check_routes(received, expected, what):
    for name, bodies in expected.items():
        expect(received.get(name), bodies, "%s binding %s receives" % (what, name))


def check_direct(connection):
    bindings = {"k1": ("k1", None), "k1-again": ("k1", None), "k2": ("k2", None),
                "empty": ("", None), "dotted": ("a.b", None)}
    messages = {"to-k1": ("k1", None), "to-k2": ("k2", None), "to-none": ("k3", None),
                "to-empty": ("", None), "to-dotted": ("a.b", None), "to-K1": ("K1", None),
                "to-star": ("*", None)}
    received = route(connection, "direct", bindings, messages)
    check_routes(received, {"k1": ["to-k1"], "k1-again": ["to-k1"], "k2": ["to-k2"],
                            "empty": ["to-empty"], "dotted": ["to-dotted"]}, "direct")
    # One queue bound twice: one copy per message.
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, "amq.direct", unique("one"))
    channel.queue_bind(queue, "amq.direct", unique("two"))
    channel.queue_bind(queue, "amq.direct", unique("one"))  # binding twice is idempotent
    channel.confirm_delivery()
    channel.basic_publish("amq.direct", unique("one"), b"1")
    channel.basic_publish("amq.direct", unique("two"), b"2")
    expect(drain(channel, queue), ["1", "2"], "queue bound twice to amq.direct gets one copy each")
    channel.queue_unbind(queue, "amq.direct", unique("one"))
    channel.basic_publish("amq.direct", unique("one"), b"3")
    channel.basic_publish("amq.direct", unique("two"), b"4")
    expect(drain(channel, queue), ["4"], "after unbind only the remaining binding routes")
    channel.queue_delete(queue)
    channel.close()


def check_fanout(connection):
    bindings = {"one": ("ignored", None), "two": ("", None), "three": ("x.y", None)}
    messages = {"m1": ("", None), "m2": ("any.key", None), "m3": ("#", None)}
    received = route(connection, "fanout", bindings, messages)
    check_routes(received, {name: ["m1", "m2", "m3"] for name in bindings}, "fanout")


# Observed on RabbitMQ 3.10: keys split on '.', an empty key is zero words, empty words count.
TOPIC_KEYS = ["a.b.c", "a.c", "a", "", "a.b", "a.b.b.c", "a.x.c", "a..c", ".", "a.", "b",
              "x.b.y", "a.b.c.d", "b.c", ".c", "a.b.x.b.c", "..", "c"]
ALL_KEYS = list(TOPIC_KEYS)
ALL_BUT_EMPTY = [key for key in TOPIC_KEYS if key != ""]
TOPIC_EXPECTED = {
    "a.b.c": ["a.b.c"],
    "a.*.c": ["a.b.c", "a.x.c", "a..c"],
    "*.b.*": ["a.b.c", "x.b.y"],
    "a.#": ["a.b.c", "a.c", "a", "a.b", "a.b.b.c", "a.x.c", "a..c", "a.", "a.b.c.d", "a.b.x.b.c"],
    "#.c": ["a.b.c", "a.c", "a.b.b.c", "a.x.c", "a..c", "b.c", ".c", "a.b.x.b.c", "c"],
    "a.#.c": ["a.b.c", "a.c", "a.b.b.c", "a.x.c", "a..c", "a.b.x.b.c"],
    "#": ALL_KEYS,
    "*": ["a", "b", "c"],
    "#.#": ALL_KEYS,
    "*.*": ["a.c", "a.b", ".", "a.", "b.c", ".c"],
    "a.*.#": ["a.b.c", "a.c", "a.b", "a.b.b.c", "a.x.c", "a..c", "a.", "a.b.c.d", "a.b.x.b.c"],
    "#.b.#": ["a.b.c", "a.b", "a.b.b.c", "b", "x.b.y", "a.b.c.d", "b.c", "a.b.x.b.c"],
    "": [""],
    "a..c": ["a..c"],
    "a.*": ["a.c", "a.b", "a."],
    "*.#": ALL_BUT_EMPTY,
    "#.*": ALL_BUT_EMPTY,
    "a.#.#.c": ["a.b.c", "a.c", "a.b.b.c", "a.x.c", "a..c", "a.b.x.b.c"],
    ".": ["."],
    "a.": ["a."],
    "*.": [".", "a."],
    "#.": [".", "a.", ".."],
    "..": [".."],
    "a.b.c.#": ["a.b.c", "a.b.c.d"],
    "#.a.b.c": ["a.b.c"],
    "*.*.*": ["a.b.c", "a.x.c", "a..c", "x.b.y", ".."],
    "a.#.b.#.c": ["a.b.c", "a.b.b.c", "a.b.x.b.c"],
}


def check_topic(connection):
    bindings = {repr(pattern): (pattern, None) for pattern in TOPIC_EXPECTED}
    messages = {key: (key, None) for key in TOPIC_KEYS}
    received = route(connection, "topic", bindings, messages)
    check_routes(received, {repr(pattern): keys for pattern, keys in TOPIC_EXPECTED.items()},
                 "topic")
    # Overlapping patterns on one queue: one copy per message.
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    exchange = unique("overlap")
    channel.exchange_declare(exchange, "topic", auto_delete=True)
    for pattern in ("a.*", "a.#", "#", "a.b"):
        channel.queue_bind(queue, exchange, pattern)
    channel.confirm_delivery()
    channel.basic_publish(exchange, "a.b", b"one copy")
    expect(drain(channel, queue), ["one copy"],
           "a queue matching four topic bindings gets one copy")
    channel.queue_delete(queue)
    channel.close()


HEADER_BINDINGS = {
    "all(a=1,b=x)": ("", {"x-match": "all", "a": 1, "b": "x"}),
    "any(a=1,b=x)": ("", {"x-match": "any", "a": 1, "b": "x"}),
    "no-x-match(a=1,b=x)": ("", {"a": 1, "b": "x"}),
    "all()": ("", {"x-match": "all"}),
    "any()": ("", {"x-match": "any"}),
    "no-arguments": ("", {}),
    "all-with-x(x-k=v,a=1)": ("", {"x-match": "all-with-x", "x-k": "v", "a": 1}),
    "any-with-x(x-k=v)": ("", {"x-match": "any-with-x", "x-k": "v"}),
    "all(x-k=v)": ("", {"x-match": "all", "x-k": "v"}),
    "any(x-k=v)": ("", {"x-match": "any", "x-k": "v"}),
    "all(a=void)": ("", {"x-match": "all", "a": None}),
    "all(a='1')": ("", {"x-match": "all", "a": "1"}),
    "all(a=2^40)": ("", {"x-match": "all", "a": 2 ** 40}),
    "all(t=true)": ("", {"x-match": "all", "t": True}),
    "all(d=1.5)": ("", {"x-match": "all", "d": decimal.Decimal("1.5")}),
    "all(n={k:1})": ("", {"x-match": "all", "n": {"k": 1}}),
    "all(l=[1,a])": ("", {"x-match": "all", "l": [1, "a"]}),
}
HEADER_MESSAGES = {
    "none": None, "empty": {}, "a1": {"a": 1}, "a1bx": {"a": 1, "b": "x"},
    "a1by": {"a": 1, "b": "y"}, "a2bx": {"a": 2, "b": "x"}, "bx": {"b": "x"},
    "a1bxc": {"a": 1, "b": "x", "c": 3}, "a_str1": {"a": "1"}, "a_long": {"a": 2 ** 40},
    "a_bytes1": {"a": b"1"}, "a_other_long": {"a": 2 ** 33}, "xk": {"x-k": "v"},
    "xk_a1": {"x-k": "v", "a": 1}, "xk_other": {"x-k": "w", "a": 1}, "t_true": {"t": True},
    "t_1": {"t": 1}, "d": {"d": decimal.Decimal("1.5")}, "d15": {"d": decimal.Decimal("15")},
    "n": {"n": {"k": 1}}, "l": {"l": [1, "a"]}, "a_void": {"a": None},
}
EVERY_MESSAGE = list(HEADER_MESSAGES)
# Observed on RabbitMQ 3.10: values compare by value, not by field type ('1' longstr equals
# b'1' bytes, but true is not 1); a void binding value matches any value of that key;
# "all" and "any" ignore x- keys; "all" with no keys matches everything, "any" nothing.
HEADERS_EXPECTED = {
    "all(a=1,b=x)": ["a1bx", "a1bxc"],
    "any(a=1,b=x)": ["a1", "a1bx", "a1by", "a2bx", "bx", "a1bxc", "xk_a1", "xk_other"],
    "no-x-match(a=1,b=x)": ["a1bx", "a1bxc"],
    "all()": EVERY_MESSAGE,
    "any()": [],
    "no-arguments": EVERY_MESSAGE,
    "all-with-x(x-k=v,a=1)": ["xk_a1"],
    "any-with-x(x-k=v)": ["xk", "xk_a1"],
    "all(x-k=v)": EVERY_MESSAGE,
    "any(x-k=v)": [],
    "all(a=void)": ["a1", "a1bx", "a1by", "a2bx", "a1bxc", "a_str1", "a_long", "a_bytes1",
                    "a_other_long", "xk_a1", "xk_other", "a_void"],
    "all(a='1')": ["a_str1", "a_bytes1"],
    "all(a=2^40)": ["a_long"],
    "all(t=true)": ["t_true"],
    "all(d=1.5)": ["d"],
    "all(n={k:1})": ["n"],
    "all(l=[1,a])": ["l"],
}


def check_headers(connection):
    messages = {name: ("ignored", headers) for name, headers in HEADER_MESSAGES.items()}
    received = route(connection, "headers", HEADER_BINDINGS, messages)
    check_routes(received, HEADERS_EXPECTED, "headers")
    exchange = unique("bad-x-match")
    setup = connection.channel()
    setup.exchange_declare(exchange, "headers")
    queue = setup.queue_declare("", exclusive=True).method.queue
    expect_channel_close(
        connection, lambda ch: ch.queue_bind(queue, exchange, "", arguments={"x-match": "foo"}),
        406, 'PRECONDITION_FAILED - Invalid x-match field value <<"foo">>; expected all, any, '
        'all-with-x, or any-with-x', "binding with x-match 'foo'")
    setup.exchange_delete(exchange)
    setup.queue_delete(queue)
    setup.close()


def main():
    connection = pika_connection()
    check_declare_each_type(connection)
    check_declare_errors(connection)
    check_equivalence(connection)
    check_delete_if_unused(connection)
    check_auto_delete(connection)
    check_internal(connection)
    check_nowait(connection)
    check_default_exchange(connection)
    check_direct(connection)
    check_fanout(connection)
    check_topic(connection)
    check_headers(connection)
    connection.close()
    check_unknown_type()
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
