#!/usr/bin/python3
"""Interop test: pika publishes with sender-selected distribution headers (CC and BCC, arrays
of routing keys) on direct, topic, fanout, headers and the default exchange, through
exchange-to-exchange bindings and alternate exchanges, with mandatory, and with malformed
CC/BCC values. Every expectation was first observed on RabbitMQ 3.10.8.

What RabbitMQ 3.10.8 does that one might not guess (all asserted below):
  - CC and BCC are looked up by exact, case-sensitive name: "cc", "Cc", "bcc" are plain
    headers (a lowercase "bcc" is delivered, not removed).
  - Only longstr entries of the array count; other entries (integers, booleans, void, byte
    arrays, tables, nested arrays) are ignored silently, and the CC header is delivered
    unchanged, those entries included.
  - BCC is removed from the delivered message, the other headers keep their order; when
    BCC was the only header the message arrives with an EMPTY headers table (the property
    is present, {}), not without headers. A basic.return carries the message without BCC
    too, and so do basic.deliver and a redelivery after a requeue. CC is delivered
    unchanged.
  - A CC or BCC header that is not an array (a string, an integer, a byte array, a table,
    void) closes the channel: 406 "PRECONDITION_FAILED - invalid message:
    {unacceptable_type_in_header,"CC",longstr}" (the AMQP type named as RabbitMQ calls it:
    longstr, signedint, binary, table, void), on every exchange type including fanout and
    the default exchange, and nothing is delivered. CC is checked before BCC. A missing
    exchange (404) and an internal exchange (403) are reported before it.
  - The CC/BCC keys are used at every hop: by an exchange reached through an e2e binding
    and by an alternate exchange, as well as by the exchange published to. A message
    whose key or CC matched a binding does not go to the AE.
  - mandatory is satisfied when only a CC or BCC key routes the message.
  - Fanout and headers exchanges ignore the CC keys; the message is routed once.
"""

import sys

import pika
import pika.exceptions

import routing_setup

from checks import check, expect, pika_connection, process_until, unique


class Setup(routing_setup.ConfirmSetup):
    """Confirmed publishes on a pika channel, on another channel too, returns with headers."""

    prefix = "cc-"

    def publish(self, exchange, key, body, headers=None, mandatory=False, channel=None):
        """Publishes and waits for the confirm; the basic.returns as (code, text, exchange,
        routing key, body, headers as a list of items) tuples."""
        try:
            (channel or self.channel).basic_publish(exchange, key, body.encode(),
                                                    pika.BasicProperties(headers=headers),
                                                    mandatory=mandatory)
        except pika.exceptions.UnroutableError as error:
            return [(m.method.reply_code, m.method.reply_text, m.method.exchange,
                     m.method.routing_key, m.body.decode(), items(m.properties.headers))
                    for m in error.messages]
        return []

    def received(self, queue):
        """(body, routing key, headers as a list of items) of each message, emptying it."""
        found = []
        while True:
            method, properties, body = self.channel.basic_get(queue, auto_ack=True)
            if method is None:
                return found
            found.append((body.decode(), method.routing_key, items(properties.headers)))

    def drain(self, queue):
        return [body for body, _, _ in self.received(queue)]


def items(headers):
    """Headers as a list of (name, value), so that their order counts; None stays None."""
    return None if headers is None else list(headers.items())


def check_direct(connection):
    s = Setup(connection)
    x = s.exchange("direct")
    q1, q2, q3, q4 = (s.queue((x, key)) for key in ("k1", "k2", "k3", "k4"))
    expect(s.publish(x, "k1", "m1", headers={"x": "y", "CC": ["k2"], "BCC": ["k3"], "z": 1}),
           [], "publish with CC and BCC")
    delivered = ("m1", "k1", [("x", "y"), ("CC", ["k2"]), ("z", 1)])
    expect(s.received(q1), [delivered], "direct: the key's queue gets it, BCC removed")
    expect(s.received(q2), [delivered], "direct: the CC key's queue gets it, routing key kept")
    expect(s.received(q3), [delivered], "direct: the BCC key's queue gets it, without BCC")
    expect(s.received(q4), [], "direct: an unnamed key's queue does not")
    s.publish(x, "k1", "dups", headers={"CC": ["k1", "k2", "k2"], "BCC": ["k1", "k2"]})
    expect([s.drain(q) for q in (q1, q2, q3)], [["dups"], ["dups"], []],
           "a queue matched by the key, CC and BCC at once gets one copy")
    s.publish(x, "k1", "only-bcc", headers={"BCC": ["k3"]})
    expect(s.received(q3), [("only-bcc", "k1", [])],
           "BCC as the only header: delivered with an empty headers table")
    expect(s.received(q1), [("only-bcc", "k1", [])], "the same on the key's queue")
    s.publish(x, "none", "empty-arrays", headers={"CC": [], "BCC": []})
    expect([s.drain(q) for q in (q1, q2, q3, q4)], [[], [], [], []],
           "empty CC and BCC arrays route nothing")
    empty_key = s.queue((x, ""))
    s.publish(x, "none", "empty-string", headers={"CC": [""]})
    expect(s.received(empty_key), [("empty-string", "none", [("CC", [""])])],
           "an empty string in CC is the empty routing key")
    s.close()


def check_not_strings(connection):
    s = Setup(connection)
    x = s.exchange("nonstr")
    q2, q3, q4 = (s.queue((x, key)) for key in ("k2", "k3", "k4"))
    cc = [5, b"k2", True, None, {"a": "k3"}, ["k3"], "k4"]
    s.publish(x, "none", "mixed", headers={"CC": cc})
    expect(s.received(q4), [("mixed", "none", [("CC", cc)])],
           "CC with non-string entries: only the string routes; the header is unchanged")
    expect((s.drain(q2), s.drain(q3)), ([], []),
           "byte-array, table and nested-array entries do not route")
    s.publish(x, "none", "bcc-mixed", headers={"BCC": [7, b"k2", "k3"]})
    expect((s.received(q3), s.drain(q2)), ([("bcc-mixed", "none", [])], []),
           "BCC with non-string entries: only the string routes; BCC removed")
    lower = [("cc", ["k2"]), ("bcc", ["k3"]), ("Cc", ["k4"]), ("Bcc", ["k4"])]
    q1 = s.queue((x, "k1"))
    s.publish(x, "k1", "lowercase", headers=dict(lower))
    expect(s.received(q1), [("lowercase", "k1", lower)],
           "cc, bcc, Cc, Bcc are ordinary headers: delivered as sent")
    expect((s.drain(q2), s.drain(q3), s.drain(q4)), ([], [], []),
           "and they route nothing")
    s.close()


def check_topic(connection):
    s = Setup(connection)
    x = s.exchange("topic", "topic")
    q1, q2, q3 = s.queue((x, "a.*")), s.queue((x, "b.#")), s.queue((x, "c"))
    s.publish(x, "z", "t1", headers={"CC": ["a.x", "b.y.z"], "BCC": ["c"]})
    expect([s.received(q) for q in (q1, q2, q3)],
           [[("t1", "z", [("CC", ["a.x", "b.y.z"])])]] * 3,
           "topic: CC and BCC keys are matched against the binding patterns")
    s.publish(x, "a.q", "t2", headers={"CC": ["a.r", "#", "*"]})
    expect([s.drain(q) for q in (q1, q2, q3)], [["t2"], [], []],
           "topic: key and CC matching the same binding: once; CC keys are not patterns")
    s.close()


def check_default_exchange(connection):
    s = Setup(connection)
    names = [s.queue(name=unique("cc-default-%d" % i)) for i in (1, 2, 3)]
    s.publish("", names[0], "default", headers={"CC": [names[1]],
                                                "BCC": [names[2], unique("cc-no-such-queue")]})
    expect([s.received(q) for q in names],
           [[("default", names[0], [("CC", [names[1]])])]] * 3,
           "default exchange: CC and BCC name further queues")
    missing = unique("cc-no-such-queue")
    expect(s.publish("", missing, "cc-only", headers={"CC": [names[1]]}, mandatory=True), [],
           "default exchange, mandatory to a missing queue with a CC that exists: no return")
    expect([s.drain(q) for q in names], [[], ["cc-only"], []], "the CC queue got it")
    s.close()


def check_mandatory(connection):
    s = Setup(connection)
    x = s.exchange("mandatory")
    q2, q3 = s.queue((x, "k2")), s.queue((x, "k3"))
    expect(s.publish(x, "none", "cc-routes", headers={"CC": ["k2"]}, mandatory=True), [],
           "mandatory, only a CC key routes: no basic.return")
    expect(s.publish(x, "none", "bcc-routes", headers={"BCC": ["k3"]}, mandatory=True), [],
           "mandatory, only a BCC key routes: no basic.return")
    expect(s.publish(x, "none", "nothing", headers={"CC": ["zz"], "BCC": ["yy"], "a": "b"},
                     mandatory=True),
           [(312, "NO_ROUTE", x, "none", "nothing", [("CC", ["zz"]), ("a", "b")])],
           "mandatory, no key routes: 312 NO_ROUTE, the returned message without BCC")
    expect(s.publish(x, "none", "only-bcc", headers={"BCC": ["yy"]}, mandatory=True),
           [(312, "NO_ROUTE", x, "none", "only-bcc", [])],
           "returned with BCC its only header: an empty headers table")
    expect((s.drain(q2), s.drain(q3)), (["cc-routes"], ["bcc-routes"]),
           "the CC and BCC queues got theirs")
    s.close()


def check_consumer_and_requeue(connection):
    """BCC is removed from basic.deliver too, and stays removed when the message is requeued
    and delivered again."""
    s = Setup(connection)
    x = s.exchange("consume")
    queue = s.queue((x, "k"))
    delivered = []

    def on_message(channel, method, properties, body):
        delivered.append((body.decode(), method.routing_key, method.redelivered,
                          items(properties.headers)))
        if not method.redelivered:
            channel.basic_nack(method.delivery_tag, requeue=True)
        else:
            channel.basic_ack(method.delivery_tag)

    s.channel.basic_consume(queue, on_message)
    s.publish(x, "other", "consumed", headers={"BCC": ["k"], "h": 1, "CC": ["z"]})
    process_until(connection, lambda: len(delivered) >= 2)
    headers = [("h", 1), ("CC", ["z"])]
    expect(delivered, [("consumed", "other", False, headers), ("consumed", "other", True, headers)],
           "basic.deliver without BCC, and again without it after a requeue")
    s.close()


def check_fanout_and_headers(connection):
    s = Setup(connection)
    fanout = s.exchange("fanout", "fanout")
    headers = s.exchange("headers", "headers")
    on_fanout = s.queue((fanout, "k2"))
    on_headers = s.queue((headers, "", {"x-match": "any", "a": "1"}))
    s.publish(fanout, "k", "fan", headers={"CC": ["k2", "k3"], "BCC": ["k4"]})
    expect(s.received(on_fanout), [("fan", "k", [("CC", ["k2", "k3"])])],
           "fanout: one copy whatever the CC keys; BCC removed")
    s.publish(headers, "k", "hdr", headers={"a": "1", "CC": ["k2"], "BCC": ["k4"]})
    s.publish(headers, "k", "hdr-nomatch", headers={"CC": ["k2"], "BCC": ["k4"]})
    expect(s.received(on_headers), [("hdr", "k", [("a", "1"), ("CC", ["k2"])])],
           "headers exchange: routed by headers alone; BCC removed")
    s.close()


def check_through_e2e_and_ae(connection):
    s = Setup(connection)
    first, second = s.exchange("e2e-1"), s.exchange("e2e-2")
    s.channel.exchange_bind(second, first, "k2")
    via_k2, via_k3 = s.queue((second, "k2")), s.queue((second, "k3"))
    s.publish(first, "k1", "cc-to-e2e", headers={"CC": ["k2"]})
    expect((s.drain(via_k2), s.drain(via_k3)), (["cc-to-e2e"], []),
           "a CC key selects an e2e binding")
    s.publish(first, "k2", "cc-at-second-hop", headers={"CC": ["k3"]})
    expect((s.drain(via_k2), s.drain(via_k3)), (["cc-at-second-hop"], ["cc-at-second-hop"]),
           "the destination exchange routes by the CC keys too")
    alternate = s.exchange("ae")
    main = s.exchange("ae-main", arguments={"alternate-exchange": alternate})
    on_main, ae_k0, ae_k2 = s.queue((main, "k1")), s.queue((alternate, "k0")), \
        s.queue((alternate, "k2"))
    s.publish(main, "k0", "cc-matched", headers={"CC": ["k1"]})
    expect([s.drain(q) for q in (on_main, ae_k0, ae_k2)], [["cc-matched"], [], []],
           "a CC key that routes keeps the message from the AE")
    expect(s.publish(main, "k0", "to-ae", headers={"CC": ["k2"]}, mandatory=True), [],
           "unrouted by key and CC: the AE routes it, mandatory satisfied")
    expect([s.drain(q) for q in (on_main, ae_k0, ae_k2)], [[], ["to-ae"], ["to-ae"]],
           "the AE routes by the key and by the CC keys")
    s.publish(main, "kz", "bcc-to-ae", headers={"BCC": ["k2"]})
    expect(s.received(ae_k2), [("bcc-to-ae", "kz", [])],
           "a BCC key selects the AE's binding; BCC removed")
    s.close()


def check_not_arrays(connection):
    s = Setup(connection)
    x = s.exchange("badtype")
    fanout = s.exchange("badtype-fanout", "fanout")
    internal = s.exchange("badtype-internal", "fanout", internal=True)
    queue = s.queue((x, "k1"), (fanout, ""))
    missing = unique("cc-missing")

    def text(header, type_name):
        return ('PRECONDITION_FAILED - invalid message: {unacceptable_type_in_header,"%s",%s}'
                % (header, type_name))

    cases = [
        (x, {"CC": "k1"}, 406, text("CC", "longstr"), "CC as a string"),
        (x, {"BCC": "k1"}, 406, text("BCC", "longstr"), "BCC as a string"),
        (x, {"CC": 5}, 406, text("CC", "signedint"), "CC as an integer"),
        (x, {"CC": b"k1"}, 406, text("CC", "binary"), "CC as a byte array"),
        (x, {"CC": {"k": "k1"}}, 406, text("CC", "table"), "CC as a table"),
        (x, {"CC": None}, 406, text("CC", "void"), "CC void"),
        (x, {"BCC": None}, 406, text("BCC", "void"), "BCC void"),
        (x, {"BCC": "k1", "CC": "k2"}, 406, text("CC", "longstr"),
         "CC and BCC both strings: CC reported"),
        (x, {"BCC": "k1", "CC": ["k2"]}, 406, text("BCC", "longstr"),
         "BCC a string, CC an array"),
        (fanout, {"CC": "k1"}, 406, text("CC", "longstr"), "CC as a string on fanout"),
        ("", {"CC": "k1"}, 406, text("CC", "longstr"), "CC as a string on the default exchange"),
        (missing, {"CC": "k1"}, 404, "NOT_FOUND - no exchange '%s' in vhost '/'" % missing,
         "CC as a string to a missing exchange: 404 first"),
        (internal, {"CC": "k1"}, 403,
         "ACCESS_REFUSED - cannot publish to internal exchange '%s' in vhost '/'" % internal,
         "CC as a string to an internal exchange: 403 first"),
    ]
    for exchange, headers, code, reply, what in cases:
        channel = connection.channel()
        channel.confirm_delivery()
        key = queue if exchange == "" else "k1"
        try:
            returns = s.publish(exchange, key, "bad", headers=headers, channel=channel)
            check(False, "%s: expected channel.close %d, but the publish was confirmed (%r)"
                  % (what, code, returns))
            channel.close()
        except pika.exceptions.ChannelClosedByBroker as error:
            expect((error.reply_code, error.reply_text), (code, reply), what)
        check(connection.is_open, "%s: the connection stays open" % what)
        expect(s.drain(queue), [], "%s: nothing delivered" % what)
    s.close()


def main():
    return routing_setup.run([check_direct, check_not_strings, check_topic, check_default_exchange,
                check_mandatory, check_consumer_and_requeue, check_fanout_and_headers,
                check_through_e2e_and_ae, check_not_arrays],
                             pika_connection, lambda connection: connection.is_open)


if __name__ == "__main__":
    sys.exit(main())
