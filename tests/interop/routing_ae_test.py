#!/usr/bin/python3
"""Interop test: pika publishes through exchanges with an alternate-exchange argument:
unroutable messages go to the AE, chains of AEs, AE loops, missing, internal and
self-referring AEs, mandatory with an AE, AEs on topic and headers exchanges, and AEs
combined with exchange-to-exchange bindings. Every expectation was first observed on
RabbitMQ 3.10.8.

What RabbitMQ 3.10.8 does that one might not guess (all asserted below):
  - The AE is looked up at publish time: a missing AE drops the message (basic.return 312
    NO_ROUTE when mandatory), and once an exchange of that name is declared it is used.
  - A loop of AEs (x1 AE x2, x2 AE x1) or an exchange that is its own AE ends without a
    hang; nothing bound: dropped / 312 NO_ROUTE. Each exchange is tried once, so a queue
    bound to x2 by the key still gets the message, once.
  - The AE receives the original routing key and routes by it with its own type (a
    direct AE without a matching binding drops the message); deliveries show the
    exchange the message was published to, not the AE.
  - An internal exchange works as an AE (only publishing to it directly is refused).
  - alternate-exchange "" (the default exchange) does not route by queue name: the message
    is dropped (312 NO_ROUTE).
  - An exchange whose bindings only lead to other exchanges that reach no queue does NOT
    use its AE (it did route, to an exchange): 312 NO_ROUTE. An exchange reached through
    an e2e binding that routes nowhere uses its own AE.
  - The alternate-exchange argument must be a longstr: a new declare with another type is
    refused with 406 "PRECONDITION_FAILED - invalid type 'signedint' for arg
    'alternate-exchange' in exchange '<x>' in vhost '/'" ('binary' for a byte array), but
    a redeclare of an existing exchange with the same name as a byte array (x) is
    accepted as equivalent.
"""

import sys

import routing_setup
from routing_setup import exchange_exists

from checks import check, expect, expect_channel_close, expect_ok, pika_connection, \
    unique


def ae(name):
    return {"alternate-exchange": name}


class Setup(routing_setup.ConfirmSetup):
    """Confirmed publishes on a pika channel."""

    prefix = "ae-"

    def drain(self, queue):
        return [body for body, _, _, _ in self.deliveries(queue)]

    def deliveries(self, queue):
        """(body, exchange, routing key, headers) of each message in queue, emptying it."""
        found = []
        while True:
            method, properties, body = self.channel.basic_get(queue, auto_ack=True)
            if method is None:
                return found
            found.append((body.decode(), method.exchange, method.routing_key, properties.headers))


def no_route(exchange, key, body):
    return [(312, "NO_ROUTE", exchange, key, body)]


def check_basic(connection):
    s = Setup(connection)
    alternate = s.exchange("basic-ae", "fanout")
    main = s.exchange("basic", "direct", arguments=ae(alternate))
    bound = s.queue((main, "k"))
    caught = s.queue((alternate, ""))
    expect(s.publish(main, "k", "routed", mandatory=True), [], "routed mandatory: no return")
    expect(s.publish(main, "other", "unrouted"), [], "unroutable publish is confirmed")
    expect(s.publish(main, "other", "unrouted-mandatory", headers={"h": "v"}, mandatory=True),
           [], "unroutable mandatory publish caught by the AE: no basic.return")
    expect(s.deliveries(bound), [("routed", main, "k", None)],
           "the bound queue gets only the routed message")
    expect(s.deliveries(caught), [("unrouted", main, "other", None),
                                  ("unrouted-mandatory", main, "other", {"h": "v"})],
           "the AE's queue gets the unroutable ones, with the original exchange and key")
    s.close()


def check_chain(connection):
    s = Setup(connection)
    last = s.exchange("chain-ae2", "fanout")
    middle = s.exchange("chain-ae1", "direct", arguments=ae(last))
    main = s.exchange("chain", "topic", arguments=ae(middle))
    at_middle = s.queue((middle, "m.k"))
    at_last = s.queue((last, ""))
    expect(s.publish(main, "a.b", "to-last", mandatory=True), [],
           "x -> ae1 -> ae2: mandatory caught at the end of the chain")
    expect(s.publish(main, "m.k", "to-middle", mandatory=True), [],
           "x -> ae1: mandatory caught by the first AE")
    expect(s.deliveries(at_last), [("to-last", main, "a.b", None)],
           "the second AE's queue gets what neither x nor ae1 routes")
    expect(s.deliveries(at_middle), [("to-middle", main, "m.k", None)],
           "the first AE's queue gets what it routes, and ae2 does not")
    s.close()


def check_long_chain(connection):
    s = Setup(connection)
    names = [s.name("long-%d" % i) for i in range(40)]
    for name, alternate in zip(names, names[1:] + [None]):
        s.channel.exchange_declare(name, "direct",
                                   arguments=ae(alternate) if alternate else None)
    queue = s.queue((names[-1], "k"))
    expect(s.publish(names[0], "k", "deep", mandatory=True), [],
           "a chain of 40 AEs: the last one routes (no depth limit)")
    expect(s.deliveries(queue), [("deep", names[0], "k", None)], "delivered once")
    s.close()


def check_loops(connection):
    s = Setup(connection)
    first, second = s.name("loop-1"), s.name("loop-2")
    s.channel.exchange_declare(first, "direct", arguments=ae(second))
    s.channel.exchange_declare(second, "direct", arguments=ae(first))
    expect(s.publish(first, "k", "looped"), [], "AE loop: publish confirmed (no hang)")
    expect(s.publish(first, "k", "looped-mandatory", mandatory=True),
           no_route(first, "k", "looped-mandatory"),
           "AE loop with nothing bound: mandatory gets 312 NO_ROUTE")
    queue = s.queue((second, "k2"))
    expect(s.publish(first, "k2", "loop-to-queue", mandatory=True), [],
           "AE loop: a queue on the second exchange catches its key")
    expect(s.publish(second, "k3", "from-second", mandatory=True),
           no_route(second, "k3", "from-second"), "AE loop entered from the other side")
    expect(s.drain(queue), ["loop-to-queue"], "the loop delivers once")
    itself = s.name("self")
    s.channel.exchange_declare(itself, "direct", arguments=ae(itself))
    expect(s.publish(itself, "k", "self-ae", mandatory=True), no_route(itself, "k", "self-ae"),
           "an exchange that is its own AE: 312 NO_ROUTE, no hang")
    a, b, c = s.name("loop3-a"), s.name("loop3-b"), s.name("loop3-c")
    s.channel.exchange_declare(a, "fanout", arguments=ae(b))
    s.channel.exchange_declare(b, "topic", arguments=ae(c))
    s.channel.exchange_declare(c, "direct", arguments=ae(a))
    expect(s.publish(b, "k", "loop3", mandatory=True), no_route(b, "k", "loop3"),
           "a three-exchange AE loop: 312 NO_ROUTE")
    s.close()


def check_missing(connection):
    s = Setup(connection)
    missing = s.name("missing")
    main = s.exchange("missing-main", "direct", arguments=ae(missing))
    expect(s.publish(main, "k", "dropped"), [], "missing AE: publish confirmed")
    expect(s.publish(main, "k", "returned", mandatory=True), no_route(main, "k", "returned"),
           "missing AE with mandatory: basic.return 312 NO_ROUTE")
    s.channel.exchange_declare(missing, "fanout")
    queue = s.queue((missing, ""))
    expect(s.publish(main, "k", "now-caught", mandatory=True), [],
           "the AE declared later is used from then on")
    expect(s.drain(queue), ["now-caught"], "only the message published after it exists")
    s.channel.exchange_delete(missing)
    expect(s.publish(main, "k", "after-delete", mandatory=True),
           no_route(main, "k", "after-delete"), "AE deleted again: 312 NO_ROUTE")
    check(exchange_exists(connection, main), "deleting the AE leaves the exchange naming it")
    s.close()


def check_internal(connection):
    s = Setup(connection)
    alternate = s.exchange("internal-ae", "fanout", internal=True)
    main = s.exchange("internal-main", "direct", arguments=ae(alternate))
    queue = s.queue((alternate, ""))
    expect(s.publish(main, "k", "to-internal", mandatory=True), [],
           "an internal exchange as AE catches the message")
    expect(s.drain(queue), ["to-internal"], "the internal AE's queue gets it")

    def publish_to_internal(ch):
        ch.basic_publish(alternate, "k", b"direct")
        ch.queue_declare("", exclusive=True)

    expect_channel_close(connection, publish_to_internal, 403,
                         "ACCESS_REFUSED - cannot publish to internal exchange '%s' in vhost '/'"
                         % alternate, "publishing to the internal AE itself is still refused")
    s.close()


def check_ae_routes_by_key(connection):
    s = Setup(connection)
    alternate = s.exchange("bykey-ae", "direct")
    main = s.exchange("bykey-main", "fanout", arguments=ae(alternate))  # nothing bound
    queue = s.queue((alternate, "wanted"))
    expect(s.publish(main, "wanted", "matched", mandatory=True), [],
           "fanout without bindings -> direct AE with a binding for the key")
    expect(s.publish(main, "other", "unmatched", mandatory=True),
           no_route(main, "other", "unmatched"),
           "direct AE without a binding for the key: 312 NO_ROUTE")
    expect(s.drain(queue), ["matched"], "the AE routed by the original key")
    s.close()


def check_default_and_amq_exchanges(connection):
    s = Setup(connection)
    target = s.queue()
    to_default = s.exchange("to-default", "direct", arguments=ae(""))
    expect(s.publish(to_default, target, "by-queue-name", mandatory=True),
           no_route(to_default, target, "by-queue-name"),
           "alternate-exchange '' (the default exchange) does not route by queue name")
    expect(s.drain(target), [], "nothing reached the queue named by the key")
    to_amq = s.exchange("to-amq-direct", "direct", arguments=ae("amq.direct"))
    key = unique("ae-amq-key")
    s.channel.queue_bind(target, "amq.direct", key)
    expect(s.publish(to_amq, key, "via-amq.direct", mandatory=True), [],
           "amq.direct as AE routes by its bindings")
    expect(s.drain(target), ["via-amq.direct"], "amq.direct as AE delivered")
    s.channel.queue_unbind(target, "amq.direct", key)
    s.close()


def check_topic_and_headers(connection):
    s = Setup(connection)
    alternate = s.exchange("th-ae", "fanout")
    topic = s.exchange("th-topic", "topic", arguments=ae(alternate))
    headers = s.exchange("th-headers", "headers", arguments=ae(alternate))
    on_topic = s.queue((topic, "a.*"))
    on_headers = s.queue((headers, "", {"x-match": "all", "k": "v"}))
    caught = s.queue((alternate, ""))
    s.publish(topic, "a.b", "topic-routed")
    s.publish(topic, "b.a", "topic-unrouted")
    s.publish(headers, "", "headers-routed", headers={"k": "v"})
    s.publish(headers, "", "headers-unrouted", headers={"k": "w"})
    s.publish(headers, "", "headers-none")
    expect(s.drain(on_topic), ["topic-routed"], "topic exchange with AE: routed message")
    expect(s.drain(on_headers), ["headers-routed"], "headers exchange with AE: routed message")
    expect(s.drain(caught), ["topic-unrouted", "headers-unrouted", "headers-none"],
           "topic and headers exchanges send only what they do not route to the AE")
    s.close()


def check_with_exchange_bindings(connection):
    s = Setup(connection)
    alternate = s.exchange("e2e-ae", "fanout")
    main = s.exchange("e2e-main", "direct", arguments=ae(alternate))
    dead_end = s.exchange("e2e-deadend", "direct")
    s.channel.exchange_bind(dead_end, main, "k")
    caught = s.queue((alternate, ""))
    expect(s.publish(main, "k", "into-dead-end", mandatory=True),
           no_route(main, "k", "into-dead-end"),
           "bound only to an exchange that reaches no queue: the AE is not used, 312 NO_ROUTE")
    expect(s.publish(main, "other", "unbound-key", mandatory=True), [],
           "a key matching no binding at all still goes to the AE")
    expect(s.drain(caught), ["unbound-key"], "the AE got only the unbound key")
    inner_ae = s.exchange("e2e-inner-ae", "fanout")
    inner = s.exchange("e2e-inner", "direct", arguments=ae(inner_ae))
    s.channel.exchange_bind(inner, main, "j")
    inner_caught = s.queue((inner_ae, ""))
    expect(s.publish(main, "j", "inner-unrouted", mandatory=True), [],
           "an exchange reached by an e2e binding uses its own AE")
    expect((s.drain(inner_caught), s.drain(caught)), (["inner-unrouted"], []),
           "the inner exchange's AE got it, the outer AE did not")
    s.close()


def check_argument_type(connection):
    s = Setup(connection)
    for value, type_name in ((5, "signedint"), (b"amq.direct", "binary")):
        name = s.name("badtype-" + type_name)
        expect_channel_close(
            connection, lambda ch: ch.exchange_declare(name, "direct", arguments=ae(value)),
            406, "PRECONDITION_FAILED - invalid type '%s' for arg 'alternate-exchange' in "
            "exchange '%s' in vhost '/'" % (type_name, name),
            "declaring with alternate-exchange of type %s" % type_name)
        check(not exchange_exists(connection, name), "the %s-AE exchange was not created"
              % type_name)
    existing = s.exchange("redeclare", "direct", arguments=ae("amq.direct"))
    expect_ok(connection, lambda ch: ch.exchange_declare(existing, "direct",
                                                         arguments=ae(b"amq.direct")),
              "redeclaring with the same AE name as a byte array")
    expect_channel_close(
        connection, lambda ch: ch.exchange_declare(existing, "direct", arguments=ae("other")),
        406, "PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange '%s' in "
        "vhost '/': received 'other' but current is 'amq.direct'" % existing,
        "redeclaring with another AE")
    expect_channel_close(
        connection, lambda ch: ch.exchange_declare(existing, "direct"),
        406, "PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange '%s' in "
        "vhost '/': received none but current is the value 'amq.direct' of type 'longstr'"
        % existing, "redeclaring without the AE")
    s.close()


def main():
    return routing_setup.run([check_basic, check_chain, check_long_chain, check_loops, check_missing,
                check_internal, check_ae_routes_by_key, check_default_and_amq_exchanges,
                check_topic_and_headers, check_with_exchange_bindings, check_argument_type],
                             pika_connection, lambda connection: connection.is_open)


if __name__ == "__main__":
    sys.exit(main())
