#!/usr/bin/python3
"""Interop test: py-amqp (python3-amqp) routes through exchange-to-exchange bindings,
alternate exchanges and CC/BCC headers: a few cases of each of routing_e2e_test.py,
routing_ae_test.py and routing_cc_test.py (pika), here also asserting the class and method
ids of each channel.close, which py-amqp reports. Every expectation was first observed on
RabbitMQ 3.10.8 (the surprises are listed in those three files)."""

import sys

import amqp
import amqp.exceptions

import routing_setup

from checks import HOST, PORT, check, expect, unique

EXCHANGE_BIND, EXCHANGE_UNBIND, BASIC_PUBLISH = (40, 30), (40, 40), (60, 40)


def connect():
    # confirm_publish: each basic_publish waits for its ack; a basic.return comes before it
    # and is handed to the channel's basic_return listeners meanwhile.
    connection = amqp.Connection("%s:%d" % (HOST, PORT), userid="guest", password="guest",
                                 connect_timeout=5, confirm_publish=True)
    connection.connect()
    return connection


class Setup(routing_setup.Setup):
    """A py-amqp channel that also records the basic.returns it gets."""

    prefix = "pyamqp-routing-"

    def open_channel(self):
        channel = self.connection.channel()
        self.returns = []
        channel.events["basic_return"].add(
            lambda error, exchange, key, message: self.returns.append(
                (error.reply_code, error.reply_text, exchange, key, message.body.decode())))
        return channel

    def exchange(self, what, exchange_type="direct", **options):
        options.setdefault("auto_delete", False)  # py-amqp's default is True
        return super().exchange(what, exchange_type, **options)

    def declared_queue(self, ok):
        return ok.queue

    def publish(self, exchange, key, body, headers=None, mandatory=False):
        """Publishes, waits for the ack; the basic.returns that came for it."""
        del self.returns[:]
        properties = {} if headers is None else {"application_headers": headers}
        self.channel.basic_publish(amqp.Message(body.encode(), **properties), exchange, key,
                                   mandatory=mandatory)
        return list(self.returns)

    def received(self, queue):
        """(body, exchange, routing key, headers) of each message in queue, emptying it."""
        found = []
        while True:
            message = self.channel.basic_get(queue, no_ack=True)
            if message is None:
                return found
            found.append((message.body.decode(), message.delivery_info["exchange"],
                          message.delivery_info["routing_key"],
                          message.properties.get("application_headers")))

    def drain(self, queue):
        return [body for body, _, _, _ in self.received(queue)]



def exchange_exists(connection, name):
    channel = connection.channel()
    try:
        channel.exchange_declare(name, "direct", passive=True)
    except amqp.exceptions.NotFound:
        return False
    channel.close()
    return True


def expect_channel_error(connection, action, error_class, code, text, method_sig, what):
    """action(channel) must end in channel.close with code, text and method_sig."""
    channel = connection.channel()
    try:
        action(channel)
        check(False, "%s: expected %d, but it succeeded" % (what, code))
        channel.close()
    except error_class as error:
        expect((error.reply_code, error.reply_text, error.method_sig), (code, text, method_sig),
               what)
    except amqp.exceptions.AMQPError as error:
        check(False, "%s: expected %s, got %r" % (what, error_class.__name__, error))
    check(connection.connected, "%s: the connection stays open" % what)


def missing_text(name):
    return "NOT_FOUND - no exchange '%s' in vhost '/'" % name


def check_capability(connection):
    capabilities = connection.server_properties.get("capabilities", {})
    expect(capabilities.get("exchange_exchange_bindings"), True,
           "server capabilities advertise exchange_exchange_bindings")


def check_exchange_bindings(connection):
    s = Setup(connection)
    first, second = s.exchange("e2e-1", "topic"), s.exchange("e2e-2", "fanout")
    s.channel.exchange_bind(second, first, "a.*")
    queue = s.queue((second, ""))
    s.publish(first, "a.b", "routed")
    s.publish(first, "b.a", "not-routed")
    expect(s.received(queue), [("routed", first, "a.b", None)],
           "topic -> fanout -> queue: delivered with the first exchange and the key")
    back_queue = s.queue((first, "#"))
    s.channel.exchange_bind(first, second)  # a loop
    s.publish(first, "a.c", "looped")
    expect((s.drain(queue), s.drain(back_queue)), (["looped"], ["looped"]),
           "a loop delivers once to each queue")
    s.channel.exchange_unbind(second, first, "a.*")
    s.publish(first, "a.b", "after-unbind")
    expect((s.drain(queue), s.drain(back_queue)), ([], ["after-unbind"]),
           "after unbind only the first exchange's own queue gets it")
    expect(s.publish(second, "k", "via-loop-half", mandatory=True), [],
           "the remaining binding second -> first still routes (mandatory satisfied)")
    s.drain(back_queue)
    s.close()


def check_exchange_binding_errors(connection):
    s = Setup(connection)
    x = s.exchange("e2e-err")
    missing_d, missing_s = unique("pyamqp-missing-dst"), unique("pyamqp-missing-src")
    expect_channel_error(connection, lambda ch: ch.exchange_bind(missing_d, x, "k"),
                         amqp.exceptions.NotFound, 404, missing_text(missing_d), EXCHANGE_BIND,
                         "exchange.bind to a missing destination")
    expect_channel_error(connection, lambda ch: ch.exchange_bind(missing_d, missing_s, "k"),
                         amqp.exceptions.NotFound, 404, missing_text(missing_s), EXCHANGE_BIND,
                         "exchange.bind with both missing reports the source")
    refused = "ACCESS_REFUSED - operation not permitted on the default exchange"
    expect_channel_error(connection, lambda ch: ch.exchange_bind(x, "", "k"),
                         amqp.exceptions.AccessRefused, 403, refused, EXCHANGE_BIND,
                         "exchange.bind from the default exchange")
    expect_channel_error(connection, lambda ch: ch.exchange_unbind("", x, "k"),
                         amqp.exceptions.AccessRefused, 403, refused, EXCHANGE_UNBIND,
                         "exchange.unbind to the default exchange")
    channel = connection.channel()
    channel.exchange_unbind(missing_d, missing_s, "k")
    channel.exchange_unbind(x, "amq.direct", "never")
    check(channel.is_open, "exchange.unbind between missing exchanges and of a binding never "
          "made answer unbind-ok")
    channel.close()
    s.close()


def check_auto_delete(connection):
    s = Setup(connection)
    source = s.exchange("ad-src", "direct", auto_delete=True)
    destination = s.exchange("ad-dst", "fanout")
    s.channel.exchange_bind(destination, source, "k")
    s.channel.exchange_delete(destination)
    check(not exchange_exists(connection, source),
          "an auto-delete source goes when the destination of its last binding is deleted")
    child = s.exchange("ad-child", "fanout", auto_delete=True)
    s.channel.exchange_bind(child, "amq.direct", unique("pyamqp-ad-key"))
    s.channel.exchange_unbind(child, "amq.direct", unique("pyamqp-ad-key"))
    check(exchange_exists(connection, child),
          "an auto-delete exchange that was only a destination stays after the unbind")
    s.close()


def check_alternate_exchange(connection):
    s = Setup(connection)
    alternate = s.exchange("ae", "fanout")
    main = s.exchange("ae-main", "direct", arguments={"alternate-exchange": alternate})
    bound, caught = s.queue((main, "k")), s.queue((alternate, ""))
    expect(s.publish(main, "k", "routed", mandatory=True), [], "routed: no basic.return")
    expect(s.publish(main, "other", "unrouted", mandatory=True), [],
           "unroutable but caught by the AE: mandatory satisfied, no basic.return")
    expect((s.received(bound), s.received(caught)),
           ([("routed", main, "k", None)], [("unrouted", main, "other", None)]),
           "the routed message goes only to its queue, the unroutable one to the AE")
    loop_1, loop_2 = unique("pyamqp-ae-loop-1"), unique("pyamqp-ae-loop-2")
    s.exchanges += [loop_1, loop_2]
    s.channel.exchange_declare(loop_1, "direct", auto_delete=False,
                               arguments={"alternate-exchange": loop_2})
    s.channel.exchange_declare(loop_2, "topic", auto_delete=False,
                               arguments={"alternate-exchange": loop_1})
    expect(s.publish(loop_1, "k", "looped", mandatory=True),
           [(312, "NO_ROUTE", loop_1, "k", "looped")],
           "an AE loop with nothing bound: basic.return 312 NO_ROUTE, no hang")
    missing = unique("pyamqp-ae-missing")
    lost = s.exchange("ae-to-missing", "direct", arguments={"alternate-exchange": missing})
    expect(s.publish(lost, "k", "lost", mandatory=True), [(312, "NO_ROUTE", lost, "k", "lost")],
           "a missing AE: basic.return 312 NO_ROUTE")
    s.close()


def check_cc(connection):
    s = Setup(connection)
    x = s.exchange("cc", "direct")
    q1, q2, q3 = s.queue((x, "k1")), s.queue((x, "k2")), s.queue((x, "k3"))
    s.publish(x, "k1", "cc", headers={"CC": ["k2"], "BCC": ["k3"], "n": 1})
    delivered = ("cc", x, "k1", {"CC": ["k2"], "n": 1})
    expect([s.received(q) for q in (q1, q2, q3)], [[delivered]] * 3,
           "CC and BCC add routing keys; BCC removed, CC kept")
    s.publish(x, "k1", "only-bcc", headers={"BCC": ["k1", "k3"]})
    expect((s.received(q1), s.drain(q3)), ([("only-bcc", x, "k1", {})], ["only-bcc"]),
           "BCC alone: one copy per queue, delivered with an empty headers table")
    expect(s.publish(x, "none", "cc-only", headers={"CC": ["k2", 7]}, mandatory=True), [],
           "mandatory satisfied by a CC key alone (the integer entry ignored)")
    expect(s.drain(q2), ["cc-only"], "the CC queue got it")
    expect_channel_error(
        connection, lambda ch: ch.basic_publish(amqp.Message(b"bad", application_headers={
            "CC": "k2"}), x, "k1"),
        amqp.exceptions.PreconditionFailed, 406,
        'PRECONDITION_FAILED - invalid message: {unacceptable_type_in_header,"CC",longstr}',
        BASIC_PUBLISH, "CC as a string closes the channel")
    expect((s.drain(q1), s.drain(q2)), ([], []), "the refused message was not delivered")
    s.close()


def main():
    return routing_setup.run([check_capability, check_exchange_bindings,
                              check_exchange_binding_errors, check_auto_delete,
                              check_alternate_exchange, check_cc],
                             connect, lambda connection: connection.connected)


if __name__ == "__main__":
    sys.exit(main())
