#!/usr/bin/python3
"""Interop test: pika binds exchanges to exchanges (exchange.bind / exchange.unbind) and
routes through them: every source type, chains, loops, diamonds, unbind, errors and
auto-delete. Every expectation was first observed on RabbitMQ 3.10.8.

What RabbitMQ 3.10.8 does that one might not guess (all asserted below):
  - exchange.bind where both exchanges are missing reports the SOURCE:
    404 "NOT_FOUND - no exchange '<source>' in vhost '/'".
  - The default exchange as destination or source is refused with 403 "ACCESS_REFUSED -
    operation not permitted on the default exchange" before existence is checked (also
    when the other exchange is missing); "amq.default" is just a missing name (404).
  - exchange.unbind always answers unbind-ok when the binding is absent, even when the
    destination, the source or both exchanges do not exist (no 404).
  - exchange.bind of an exchange to itself is accepted; a message then still reaches
    each queue once. Loops (x1 -> x2 -> x1) deliver once per queue, and a queue reachable
    by several paths gets one copy.
  - The delivered message keeps the exchange it was published to and its routing key,
    whatever path it took.
  - An e2e binding is only removed by exchange.unbind with the same routing key AND
    arguments; with other arguments unbind-ok comes back and the binding stays.
  - Internal exchanges can be bound either way.
  - exchange.delete if-unused refuses (406 "... in use") an exchange that is the source of
    an e2e binding (also when it is bound only to itself), but deletes one that is only
    the destination of bindings.
  - Binding arguments are checked only for a headers source: x-match 'foo' gives 406
    "PRECONDITION_FAILED - Invalid x-match field value <<"foo">>; expected all, any,
    all-with-x, or any-with-x" (an integer: "Invalid x-match field type signedint (value
    1); expected longstr"); from a fanout source the same arguments are accepted. Two
    bindings differing only in arguments are two bindings (one copy routed).
  - Auto-delete counts only bindings where the exchange is the SOURCE: it goes when its
    last source binding goes, whether by exchange.unbind, by deletion of the destination
    exchange or queue, and in cascade (ad1 -> ad2 -> q: deleting q deletes ad2, which
    removes ad1 -> ad2, which deletes ad1). An auto-delete exchange that is only ever a
    destination stays when that binding goes (unbind or source deleted), and one bound
    only to itself goes when that self-binding is unbound. When an auto-delete exchange
    goes, its bindings as destination go too (re-declared, it is not routed to). The
    cascade also runs when an exclusive queue goes with its owner's connection.
"""

import sys

import routing_setup
from routing_setup import exchange_exists

from checks import (DEFAULT_EXCHANGE_REFUSED, check, expect, expect_channel_close,
                    expect_ok, pika_connection, process_until, unique, wait_for_value)


def missing_text(name):
    return "NOT_FOUND - no exchange '%s' in vhost '/'" % name


class Setup(routing_setup.ConfirmSetup):
    """Confirmed publishes on a pika channel."""

    prefix = "e2e-"

    def drain(self, queue):
        """The bodies in queue, emptying it."""
        return [body for body, _, _ in self.deliveries(queue)]

    def deliveries(self, queue):
        """(body, exchange, routing key) of each message in queue, emptying it."""
        found = []
        while True:
            method, _, body = self.channel.basic_get(queue, auto_ack=True)
            if method is None:
                return found
            found.append((body.decode(), method.exchange, method.routing_key))


def check_capability(connection):
    capabilities = (connection._impl.server_properties or {}).get("capabilities", {})
    expect(capabilities.get("exchange_exchange_bindings"), True,
           "server capabilities advertise exchange_exchange_bindings")


def check_bind_ok_frames(connection):
    s = Setup(connection)
    source, destination = s.exchange("frames-src"), s.exchange("frames-dst", "fanout")
    frame = s.channel.exchange_bind(destination, source, "k")
    expect(type(frame.method).__name__, "BindOk", "exchange.bind answers bind-ok")
    frame = s.channel.exchange_bind(destination, source, "k")
    expect(type(frame.method).__name__, "BindOk", "binding the same again answers bind-ok")
    queue = s.queue((destination, ""))
    expect(s.publish(source, "k", "once"), [], "publish through a doubled binding")
    expect(s.drain(queue), ["once"], "a binding made twice routes one copy")
    frame = s.channel.exchange_unbind(destination, source, "k")
    expect(type(frame.method).__name__, "UnbindOk", "exchange.unbind answers unbind-ok")
    s.publish(source, "k", "after")
    expect(s.drain(queue), [], "one unbind removes the binding made twice")
    # nowait (pika's underlying channel sends nowait=true without a callback)
    s.channel._impl.exchange_bind(destination=destination, source=source, routing_key="nw")
    s.publish(source, "nw", "nowait")
    expect(s.drain(queue), ["nowait"], "exchange.bind with nowait binds")
    s.channel._impl.exchange_unbind(destination=destination, source=source, routing_key="nw")
    s.publish(source, "nw", "nowait-unbound")
    expect(s.drain(queue), [], "exchange.unbind with nowait unbinds")
    s.close()


def check_direct_source(connection):
    s = Setup(connection)
    source = s.exchange("direct-src")
    d1, d2 = s.exchange("direct-d1", "fanout"), s.exchange("direct-d2", "fanout")
    s.channel.exchange_bind(d1, source, "k1")
    s.channel.exchange_bind(d2, source, "k2")
    s.channel.exchange_bind(d2, source, "k12")
    s.channel.exchange_bind(d1, source, "k12")
    q1, q2 = s.queue((d1, "")), s.queue((d2, ""))
    for key in ("k1", "k2", "k12", "other", ""):
        s.publish(source, key, key or "empty")
    expect(s.drain(q1), ["k1", "k12"], "direct source: destination bound by k1 and k12")
    expect(s.drain(q2), ["k2", "k12"], "direct source: destination bound by k2 and k12")
    s.channel.exchange_unbind(d1, source, "k12")
    s.publish(source, "k12", "k12-after")
    expect((s.drain(q1), s.drain(q2)), ([], ["k12-after"]),
           "direct source: unbind of one destination leaves the other's binding")
    s.channel.exchange_unbind(d1, source, "k2")  # the binding d2 has, not d1: no effect
    s.publish(source, "k2", "k2-after")
    expect(s.drain(q2), ["k2-after"], "unbinding another destination's key leaves it routing")
    s.close()


def check_fanout_source(connection):
    s = Setup(connection)
    source = s.exchange("fanout-src", "fanout")
    destination = s.exchange("fanout-dst", "direct")
    s.channel.exchange_bind(destination, source, "ignored")
    q_a, q_b = s.queue((destination, "a")), s.queue((destination, "b"))
    for key in ("a", "b", "ignored", "c"):
        s.publish(source, key, key)
    # The fanout binding ignores its key; the direct destination routes by the message's.
    expect((s.drain(q_a), s.drain(q_b)), (["a"], ["b"]),
           "fanout source -> direct destination routes by the message's key")
    s.channel.exchange_unbind(destination, source, "other")
    s.publish(source, "a", "a-after-other-unbind")
    expect(s.drain(q_a), ["a-after-other-unbind"],
           "fanout: unbind with another routing key leaves the binding")
    s.channel.exchange_unbind(destination, source, "ignored")
    s.publish(source, "a", "a-after-unbind")
    expect(s.drain(q_a), [], "fanout: unbind with the binding's key removes it")
    s.close()


def check_topic_source(connection):
    s = Setup(connection)
    source = s.exchange("topic-src", "topic")
    d1, d2 = s.exchange("topic-d1", "fanout"), s.exchange("topic-d2", "topic")
    s.channel.exchange_bind(d1, source, "a.*")
    s.channel.exchange_bind(d2, source, "#.z")
    q1, q2 = s.queue((d1, "")), s.queue((d2, "a.#"))
    for key in ("a.b", "a.b.z", "a.z", "b.z", "a"):
        s.publish(source, key, key)
    expect(s.drain(q1), ["a.b", "a.z"], "topic source: a.* destination")
    expect(s.drain(q2), ["a.b.z", "a.z"], "topic source #.z then topic destination a.#")
    s.channel.exchange_unbind(d1, source, "a.*")
    s.publish(source, "a.b", "a.b-after")
    expect(s.drain(q1), [], "topic source: unbind stops routing")
    s.close()


def check_headers_source(connection):
    s = Setup(connection)
    source = s.exchange("headers-src", "headers")
    destination = s.exchange("headers-dst", "fanout")
    all_args = {"x-match": "all", "a": "1", "b": "2"}
    any_args = {"x-match": "any", "c": "3"}
    s.channel.exchange_bind(destination, source, "", arguments=all_args)
    queue = s.queue((destination, ""))
    s.publish(source, "", "all", headers={"a": "1", "b": "2", "z": "9"})
    s.publish(source, "", "partial", headers={"a": "1"})
    s.publish(source, "", "none")
    expect(s.drain(queue), ["all"], "headers source: x-match all binding arguments")
    # unbind must name the same arguments: other or no arguments leave the binding.
    for arguments, what in (({"x-match": "all", "a": "1"}, "other arguments"),
                            (None, "no arguments")):
        frame = s.channel.exchange_unbind(destination, source, "", arguments=arguments)
        expect(type(frame.method).__name__, "UnbindOk", "unbind with %s answers unbind-ok"
               % what)
        s.publish(source, "", "still", headers={"a": "1", "b": "2"})
        expect(s.drain(queue), ["still"], "unbind with %s leaves the binding" % what)
    s.channel.exchange_unbind(destination, source, "", arguments=all_args)
    s.publish(source, "", "gone", headers={"a": "1", "b": "2"})
    expect(s.drain(queue), [], "unbind with the same arguments removes the binding")
    # two bindings differing only in arguments are two bindings
    s.channel.exchange_bind(destination, source, "", arguments=all_args)
    s.channel.exchange_bind(destination, source, "", arguments=any_args)
    s.publish(source, "", "both", headers={"a": "1", "b": "2", "c": "3"})
    s.publish(source, "", "any-only", headers={"c": "3"})
    expect(s.drain(queue), ["both", "any-only"],
           "headers: two bindings by arguments, still one copy when both match")
    s.channel.exchange_unbind(destination, source, "", arguments=any_args)
    s.publish(source, "", "any-after", headers={"c": "3"})
    s.publish(source, "", "all-after", headers={"a": "1", "b": "2"})
    expect(s.drain(queue), ["all-after"], "unbinding one of them leaves the other")
    s.close()


def check_arguments_on_direct(connection):
    s = Setup(connection)
    source = s.exchange("args-src")
    destination = s.exchange("args-dst", "fanout")
    queue = s.queue((destination, ""))
    s.channel.exchange_bind(destination, source, "k", arguments={"foo": "bar"})
    s.publish(source, "k", "with-args")
    expect(s.drain(queue), ["with-args"], "direct binding with (ignored) arguments routes")
    s.channel.exchange_unbind(destination, source, "k")
    s.publish(source, "k", "after-plain-unbind")
    expect(s.drain(queue), ["after-plain-unbind"],
           "direct: unbind without the arguments leaves the binding")
    s.channel.exchange_unbind(destination, source, "k", arguments={"foo": "bar"})
    s.publish(source, "k", "after-unbind")
    expect(s.drain(queue), [], "direct: unbind with the arguments removes it")
    s.channel.exchange_bind(destination, source, "k", arguments={"a": 1})
    s.channel.exchange_bind(destination, source, "k", arguments={"a": 2})
    s.publish(source, "k", "two-bindings")
    expect(s.drain(queue), ["two-bindings"],
           "direct: two bindings differing only in arguments route one copy")
    s.channel.exchange_unbind(destination, source, "k", arguments={"a": 1})
    s.publish(source, "k", "one-left")
    expect(s.drain(queue), ["one-left"], "direct: unbinding one of them leaves the other")
    # x-match is validated only when the source is a headers exchange
    frame = s.channel.exchange_bind(source, destination, "", arguments={"x-match": "foo"})
    expect(type(frame.method).__name__, "BindOk", "x-match 'foo' from a fanout source: bind-ok")
    s.close()


def check_headers_destination(connection):
    s = Setup(connection)
    source = s.exchange("hdst-src")
    destination = s.exchange("hdst-dst", "headers")
    s.channel.exchange_bind(destination, source, "k")
    queue = s.queue((destination, "", {"x-match": "any", "colour": "red"}))
    s.publish(source, "k", "red", headers={"colour": "red"})
    s.publish(source, "k", "blue", headers={"colour": "blue"})
    s.publish(source, "other", "red-other-key", headers={"colour": "red"})
    expect(s.drain(queue), ["red"], "direct source -> headers destination matches headers")
    s.close()


def check_chain(connection):
    s = Setup(connection)
    x1, x2, x3 = s.exchange("chain-1", "topic"), s.exchange("chain-2"), s.exchange("chain-3",
                                                                                     "fanout")
    s.channel.exchange_bind(x2, x1, "a.#")
    s.channel.exchange_bind(x3, x2, "a.b")
    q2, q3 = s.queue((x2, "a.c")), s.queue((x3, ""))
    for key in ("a.b", "a.c", "b.b"):
        s.publish(x1, key, key)
    expect(s.deliveries(q3), [("a.b", x1, "a.b")],
           "chain x1 -> x2 -> x3 -> q: delivered with the first exchange and the key")
    expect(s.deliveries(q2), [("a.c", x1, "a.c")], "chain x1 -> x2 -> q")
    expect(s.publish(x1, "a.b", "mandatory-through-chain", mandatory=True), [],
           "mandatory through a chain that reaches a queue: no basic.return")
    s.drain(q3)
    expect(s.publish(x1, "a.zzz", "mandatory-dead-end", mandatory=True),
           [(312, "NO_ROUTE", x1, "a.zzz", "mandatory-dead-end")],
           "mandatory into a chain that reaches no queue: basic.return 312 NO_ROUTE")
    s.channel.exchange_unbind(x2, x1, "a.#")
    s.publish(x1, "a.b", "after-unbind")
    expect((s.drain(q2), s.drain(q3)), ([], []), "unbinding the first link stops the chain")
    s.close()


def check_loop(connection):
    s = Setup(connection)
    x1, x2 = s.exchange("loop-1", "fanout"), s.exchange("loop-2", "fanout")
    s.channel.exchange_bind(x2, x1)
    s.channel.exchange_bind(x1, x2)
    q1, q2 = s.queue((x1, "")), s.queue((x2, ""))
    s.publish(x1, "k", "into-1")
    s.publish(x2, "k", "into-2")
    expect(s.deliveries(q1), [("into-1", x1, "k"), ("into-2", x2, "k")],
           "loop x1 <-> x2: x1's queue gets each message once")
    expect(s.deliveries(q2), [("into-1", x1, "k"), ("into-2", x2, "k")],
           "loop x1 <-> x2: x2's queue gets each message once")
    # A three-exchange loop with the queue at one point only.
    x3 = s.exchange("loop-3", "fanout")
    s.channel.exchange_unbind(x1, x2)
    s.channel.exchange_bind(x3, x2)
    s.channel.exchange_bind(x1, x3)
    q3 = s.queue((x3, ""))
    s.publish(x2, "k", "three")
    expect((s.drain(q1), s.drain(q2), s.drain(q3)), (["three"], ["three"], ["three"]),
           "loop x1 -> x2 -> x3 -> x1: each queue once")
    # A loop that reaches no queue: no hang, a mandatory message is returned.
    y1, y2 = s.exchange("loop-empty-1", "fanout"), s.exchange("loop-empty-2", "fanout")
    s.channel.exchange_bind(y2, y1)
    s.channel.exchange_bind(y1, y2)
    expect(s.publish(y1, "k", "nowhere", mandatory=True),
           [(312, "NO_ROUTE", y1, "k", "nowhere")],
           "a loop without queues: basic.return 312 NO_ROUTE")
    s.close()


def check_self_binding(connection):
    s = Setup(connection)
    x = s.exchange("self", "fanout")
    frame = s.channel.exchange_bind(x, x, "k")
    expect(type(frame.method).__name__, "BindOk", "exchange.bind of an exchange to itself")
    queue = s.queue((x, ""))
    s.publish(x, "k", "self")
    expect(s.drain(queue), ["self"], "an exchange bound to itself delivers once")
    frame = s.channel.exchange_unbind(x, x, "k")
    expect(type(frame.method).__name__, "UnbindOk", "exchange.unbind of the self-binding")
    only_self = s.exchange("self-only", "fanout")
    s.channel.exchange_bind(only_self, only_self)
    expect(s.publish(only_self, "k", "self-only", mandatory=True),
           [(312, "NO_ROUTE", only_self, "k", "self-only")],
           "an exchange bound only to itself: basic.return 312 NO_ROUTE")
    s.close()


def check_diamond(connection):
    s = Setup(connection)
    top = s.exchange("diamond-top", "fanout")
    left, right = s.exchange("diamond-left"), s.exchange("diamond-right", "topic")
    s.channel.exchange_bind(left, top)
    s.channel.exchange_bind(right, top)
    queue = s.queue((left, "k"), (right, "#"), (top, ""))
    s.publish(top, "k", "diamond")
    expect(s.deliveries(queue), [("diamond", top, "k")],
           "a queue reachable by three paths gets one copy")
    other = s.queue((left, "k"))
    s.channel.exchange_bind(left, right, "#")  # a second path top -> right -> left
    s.publish(top, "k", "two-paths")
    expect((s.drain(queue), s.drain(other)), (["two-paths"], ["two-paths"]),
           "an exchange reached by two paths routes once")
    s.close()


def check_depth_and_width(connection):
    """No depth or width limit: a chain of 60 exchanges, one exchange bound to 100 others
    that all lead to one queue, a ring of 10 with a queue on each."""
    s = Setup(connection)
    chain = [s.exchange("deep-%d" % i, "direct" if i % 2 else "fanout") for i in range(60)]
    for upper, lower in zip(chain, chain[1:]):
        s.channel.exchange_bind(lower, upper, "k")
    deep = s.queue((chain[-1], "k"))
    expect(s.publish(chain[0], "k", "deep", mandatory=True), [],
           "a chain of 60 exchanges routes to the queue at its end")
    expect(s.deliveries(deep), [("deep", chain[0], "k")], "delivered once, from the first")
    hub = s.exchange("hub", "fanout")
    wide = s.queue()
    for i in range(100):
        spoke = s.exchange("spoke-%d" % i, "fanout")
        s.channel.exchange_bind(spoke, hub)
        s.channel.queue_bind(wide, spoke, "")
    s.publish(hub, "k", "wide")
    expect(s.drain(wide), ["wide"], "a queue behind 100 exchanges bound to one gets one copy")
    ring = [s.exchange("ring-%d" % i, "fanout") for i in range(10)]
    queues = []
    for i, name in enumerate(ring):
        s.channel.exchange_bind(ring[(i + 1) % len(ring)], name)
        queues.append(s.queue((name, "")))
    s.publish(ring[3], "k", "ring")
    expect([s.drain(queue) for queue in queues], [["ring"]] * len(ring),
           "a ring of 10 exchanges, a queue on each: each queue once")
    s.close()


def check_internal(connection):
    s = Setup(connection)
    source = s.exchange("int-src", "fanout")
    internal = s.exchange("int-mid", "fanout", internal=True)
    expect_ok(connection, lambda ch: ch.exchange_bind(internal, source),
              "binding an internal exchange as destination")
    destination = s.exchange("int-dst", "fanout")
    expect_ok(connection, lambda ch: ch.exchange_bind(destination, internal),
              "binding an internal exchange as source")
    queue = s.queue((destination, ""))
    s.publish(source, "k", "via-internal")
    expect(s.drain(queue), ["via-internal"], "a message routes through an internal exchange")
    s.close()


def check_errors(connection):
    s = Setup(connection)
    x = s.exchange("err")
    missing_d, missing_s = unique("e2e-missing-dst"), unique("e2e-missing-src")
    expect_channel_close(connection, lambda ch: ch.exchange_bind(missing_d, x, "k"),
                         404, missing_text(missing_d), "exchange.bind to a missing destination")
    expect_channel_close(connection, lambda ch: ch.exchange_bind(x, missing_s, "k"),
                         404, missing_text(missing_s), "exchange.bind from a missing source")
    expect_channel_close(connection, lambda ch: ch.exchange_bind(missing_d, missing_s, "k"),
                         404, missing_text(missing_s),
                         "exchange.bind with both missing reports the source")
    for destination, source, what in ((missing_d, x, "a missing destination"),
                                      (x, missing_s, "a missing source"),
                                      (missing_d, missing_s, "both missing"),
                                      (x, "amq.direct", "a binding never made")):
        expect_ok(connection, lambda ch: ch.exchange_unbind(destination, source, "k"),
                  "exchange.unbind with %s answers unbind-ok" % what)
    check(not exchange_exists(connection, missing_d) and not exchange_exists(connection,
                                                                                missing_s),
          "the missing exchanges were not created")
    default_cases = (("", x, "the default exchange as destination"),
                     (x, "", "the default exchange as source"),
                     ("", missing_s, "the default exchange as destination, source missing"),
                     (missing_d, "", "the default exchange as source, destination missing"))
    for destination, source, what in default_cases:
        expect_channel_close(connection,
                             lambda ch: ch.exchange_bind(destination, source, "k"),
                             *DEFAULT_EXCHANGE_REFUSED, "exchange.bind with %s" % what)
        expect_channel_close(connection,
                             lambda ch: ch.exchange_unbind(destination, source, "k"),
                             *DEFAULT_EXCHANGE_REFUSED, "exchange.unbind with %s" % what)
    expect_channel_close(connection, lambda ch: ch.exchange_bind("amq.default", x, "k"),
                         404, missing_text("amq.default"),
                         "exchange.bind to 'amq.default' (not a name of the default exchange)")

    def bind_nowait(ch):
        ch._impl.exchange_bind(destination=x, source=missing_s, routing_key="k")
        ch.queue_declare("", exclusive=True)  # a round trip to collect the close

    expect_channel_close(connection, bind_nowait, 404, missing_text(missing_s),
                         "exchange.bind with nowait from a missing source still closes")
    headers = s.exchange("err-headers", "headers")
    expect_channel_close(
        connection, lambda ch: ch.exchange_bind(x, headers, "", arguments={"x-match": "foo"}),
        406, 'PRECONDITION_FAILED - Invalid x-match field value <<"foo">>; expected all, any, '
        'all-with-x, or any-with-x', "exchange.bind from headers with x-match 'foo'")
    expect_channel_close(
        connection, lambda ch: ch.exchange_bind(x, headers, "", arguments={"x-match": 1}),
        406, "PRECONDITION_FAILED - Invalid x-match field type signedint (value 1); "
        "expected longstr", "exchange.bind from headers with x-match 1")
    s.close()


def check_delete_removes_bindings(connection):
    s = Setup(connection)
    source, destination = s.exchange("del-src"), s.exchange("del-dst", "fanout")
    s.channel.exchange_bind(destination, source, "k")
    queue = s.queue((destination, ""))
    s.channel.exchange_delete(destination)
    s.channel.exchange_declare(destination, "fanout")
    s.channel.queue_bind(queue, destination, "")
    expect(s.publish(source, "k", "after-dst-delete", mandatory=True),
           [(312, "NO_ROUTE", source, "k", "after-dst-delete")],
           "deleting the destination exchange removes the binding (re-declared: no route)")
    s.channel.exchange_bind(destination, source, "k")
    s.channel.exchange_delete(source)
    s.channel.exchange_declare(source, "direct")
    expect(s.publish(source, "k", "after-src-delete", mandatory=True),
           [(312, "NO_ROUTE", source, "k", "after-src-delete")],
           "deleting the source exchange removes the binding (re-declared: no route)")
    # if-unused counts bindings as source only.
    s.channel.exchange_bind(destination, source, "k")
    expect_channel_close(connection, lambda ch: ch.exchange_delete(source, if_unused=True),
                         406, "PRECONDITION_FAILED - exchange '%s' in vhost '/' in use" % source,
                         "exchange.delete if-unused of the source of an e2e binding")
    s.channel.queue_unbind(queue, destination, "")
    expect_ok(connection, lambda ch: ch.exchange_delete(destination, if_unused=True),
              "exchange.delete if-unused of an exchange that is only a destination")
    check(not exchange_exists(connection, destination), "the destination-only exchange is gone")
    itself = s.exchange("del-self", "fanout")
    s.channel.exchange_bind(itself, itself)
    expect_channel_close(connection, lambda ch: ch.exchange_delete(itself, if_unused=True),
                         406, "PRECONDITION_FAILED - exchange '%s' in vhost '/' in use" % itself,
                         "exchange.delete if-unused of an exchange bound only to itself")
    s.close()


def check_auto_delete(connection):
    s = Setup(connection)
    # unbind of the last source binding
    source = s.exchange("ad-unbind", auto_delete=True)
    destination = s.exchange("ad-unbind-dst", "fanout")
    s.channel.exchange_bind(destination, source, "k1")
    s.channel.exchange_bind(destination, source, "k2")
    s.channel.exchange_unbind(destination, source, "k1")
    check(exchange_exists(connection, source),
          "auto-delete source stays while one e2e binding remains")
    s.channel.exchange_unbind(destination, source, "k2")
    check(not exchange_exists(connection, source),
          "auto-delete source goes with the unbind of its last e2e binding")
    check(exchange_exists(connection, destination), "its destination stays")

    # the destination exchange is deleted
    source = s.exchange("ad-dstdel", auto_delete=True)
    destination = s.exchange("ad-dstdel-dst", "fanout")
    s.channel.exchange_bind(destination, source, "k")
    s.channel.exchange_delete(destination)
    check(not exchange_exists(connection, source),
          "auto-delete source goes when the destination of its last binding is deleted")
    source = s.exchange("ad-dstdel-q", auto_delete=True)
    destination = s.exchange("ad-dstdel-q-dst", "fanout")
    s.queue((source, "k"))
    s.channel.exchange_bind(destination, source, "k")
    s.channel.exchange_delete(destination)
    check(exchange_exists(connection, source),
          "auto-delete source stays when a queue binding remains after the destination goes")

    # only ever a destination
    parent = s.exchange("ad-destonly-parent")
    child = s.exchange("ad-destonly", "fanout", auto_delete=True)
    s.channel.exchange_bind(child, parent, "k")
    s.channel.exchange_unbind(child, parent, "k")
    check(exchange_exists(connection, child),
          "auto-delete exchange stays when its only binding, as destination, is unbound")
    s.channel.exchange_bind(child, parent, "k")
    s.channel.exchange_delete(parent)
    check(exchange_exists(connection, child),
          "auto-delete exchange stays when the source of its only binding is deleted")

    # going as source takes its destination bindings along
    parent = s.exchange("ad-both-parent")
    middle = s.exchange("ad-both", "fanout", auto_delete=True)
    queue = s.queue((middle, ""))
    s.channel.exchange_bind(middle, parent, "k")
    s.channel.queue_unbind(queue, middle, "")
    check(not exchange_exists(connection, middle),
          "auto-delete exchange goes with its last source binding though still a destination")
    s.channel.exchange_declare(middle, "fanout")
    s.channel.queue_bind(queue, middle, "")
    s.publish(parent, "k", "to-redeclared")
    expect(s.drain(queue), [], "its binding as destination went with it")

    # cascades
    first = s.exchange("ad-cascade-1", "fanout", auto_delete=True)
    second = s.exchange("ad-cascade-2", "fanout", auto_delete=True)
    queue = s.queue((second, ""))
    s.channel.exchange_bind(second, first)
    s.channel.queue_delete(queue)
    check(not exchange_exists(connection, second) and not exchange_exists(connection, first),
          "auto-delete cascade: deleting the queue deletes ad2, then ad1 (ad1 -> ad2 -> q)")
    names = [s.exchange("ad-chain-%d" % i, "fanout", auto_delete=True) for i in (1, 2, 3)]
    s.channel.exchange_bind(names[1], names[0])
    s.channel.exchange_bind(names[2], names[1])
    s.channel.exchange_delete(names[2])
    check(not exchange_exists(connection, names[1]) and not exchange_exists(connection,
                                                                               names[0]),
          "auto-delete cascade: deleting ad3 deletes ad2, then ad1 (ad1 -> ad2 -> ad3)")
    source = s.exchange("ad-srcdel", auto_delete=True)
    destination = s.exchange("ad-srcdel-dst", "fanout", auto_delete=True)
    s.channel.exchange_bind(destination, source, "k")
    s.channel.exchange_delete(source)
    check(exchange_exists(connection, destination),
          "deleting the source leaves an auto-delete destination (no source bindings of its own)")

    # bound to itself
    itself = s.exchange("ad-self", "fanout", auto_delete=True)
    s.channel.exchange_bind(itself, itself)
    check(exchange_exists(connection, itself), "auto-delete exchange bound to itself stays")
    s.channel.exchange_unbind(itself, itself)
    check(not exchange_exists(connection, itself),
          "auto-delete exchange goes when its self-binding is unbound")

    # an unbind that matches nothing does not delete an auto-delete exchange
    lonely = s.exchange("ad-lonely", "fanout", auto_delete=True)
    s.channel.exchange_unbind("amq.fanout", lonely)
    s.channel.exchange_unbind(lonely, "amq.fanout")
    check(exchange_exists(connection, lonely),
          "an unbind matching no binding leaves an unbound auto-delete exchange")
    s.close()


def check_exclusive_owner_leaves(connection):
    """The queue of the last binding goes with its owner's connection: the auto-delete
    exchanges above it go, in cascade (on RabbitMQ within milliseconds of the close)."""
    s = Setup(connection)
    first = s.exchange("owner-1", "fanout", auto_delete=True)
    second = s.exchange("owner-2", "fanout", auto_delete=True)
    s.channel.exchange_bind(second, first)
    owner = pika_connection()
    channel = owner.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, second, "")
    owner.close()
    gone = wait_for_value(lambda: (exchange_exists(connection, second),
                                   exchange_exists(connection, first)), (False, False))
    expect(gone, (False, False),
           "the exclusive queue's owner leaves: ad2 and then ad1 are deleted (exists: ad2, ad1)")
    s.close()


def check_consumer_delivery(connection):
    s = Setup(connection)
    first, second = s.exchange("consume-1", "fanout"), s.exchange("consume-2", "fanout")
    s.channel.exchange_bind(second, first)
    s.channel.exchange_bind(first, second)
    queue = s.queue((second, ""))
    delivered = []
    s.channel.basic_consume(queue, lambda _channel, method, _properties, body: delivered.append(
        (body.decode(), method.exchange, method.routing_key, method.redelivered)), auto_ack=True)
    s.publish(first, "k1", "consumed-1")
    s.publish(second, "k2", "consumed-2")
    process_until(connection, lambda: len(delivered) >= 2)
    process_until(connection, lambda: len(delivered) > 2, 0.2)  # no extra copy comes late
    expect(delivered, [("consumed-1", first, "k1", False), ("consumed-2", second, "k2", False)],
           "a consumer behind a loop gets one basic.deliver per message, with the exchange "
           "published to")
    s.close()


def check_passive(connection):
    s = Setup(connection)
    name = s.exchange("passive", "topic")
    frame = s.channel.exchange_declare(name, passive=True)
    expect(type(frame.method).__name__, "DeclareOk", "passive declare of a bound exchange")
    s.channel.exchange_delete(name)
    expect_channel_close(connection, lambda ch: ch.exchange_declare(name, passive=True),
                         404, missing_text(name), "passive declare after delete")
    s.close()


def main():
    return routing_setup.run([check_capability, check_bind_ok_frames, check_direct_source, check_fanout_source,
                check_topic_source, check_headers_source, check_arguments_on_direct,
                check_headers_destination, check_chain, check_loop, check_self_binding,
                check_diamond, check_depth_and_width, check_internal, check_consumer_delivery,
                check_errors, check_delete_removes_bindings, check_auto_delete,
                check_exclusive_owner_leaves, check_passive],
                             pika_connection, lambda connection: connection.is_open)


if __name__ == "__main__":
    sys.exit(main())
