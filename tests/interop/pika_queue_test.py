#!/usr/bin/python3
"""Interop test: pika declares, binds, purges and deletes queues, with RabbitMQ's replies."""

import sys
import time

import pika
import pika.exceptions

from checks import (DEFAULT_EXCHANGE_REFUSED, SERVER_NAMED, check, exit_status, expect,
                    expect_channel_close, expect_ok, pika_connection, unique, wait_for_value)

WAIT_SECONDS = 3.0


def in_vhost(name):
    return "queue '%s' in vhost '/'" % name


def locked_text(name):
    return ("RESOURCE_LOCKED - cannot obtain exclusive access to locked %s. It could be "
            "originally declared on another connection or the exclusive property value does "
            "not match that of the original declaration." % in_vhost(name))


def declare_ok(method):
    """The fields of a queue.declare-ok as a tuple (queue, message count, consumer count)."""
    return (method.queue, method.message_count, method.consumer_count)


def queue_state(connection, name):
    """(messages, consumers) from a passive declare, or None when the queue does not exist."""
    channel = connection.channel()
    try:
        method = channel.queue_declare(name, passive=True).method
    except pika.exceptions.ChannelClosedByBroker as error:
        if error.reply_code == 404:
            return None
        raise
    channel.close()
    return (method.message_count, method.consumer_count)


def wait_for_state(connection, name, wanted):
    """The broker may finish deleting a queue a moment after the event that causes it."""
    return wait_for_value(lambda: queue_state(connection, name), wanted, WAIT_SECONDS)


def publish(connection, queue, bodies):
    """Publish with confirms, so that the messages are in the queue when this returns."""
    channel = connection.channel()
    channel.confirm_delivery()
    for body in bodies:
        channel.basic_publish("", queue, body)
    channel.close()


def check_server_named(connection):
    channel = connection.channel()
    names = [channel.queue_declare("", exclusive=True).method.queue for _ in range(3)]
    for name in names:
        check(SERVER_NAMED.match(name) is not None, "server-named queue %r is amq.gen-<22 chars>"
              % name)
    expect(len(set(names)), 3, "three server-named declares give distinct names")
    method = channel.queue_declare("", exclusive=True).method
    expect(declare_ok(method)[1:], (0, 0), "a new server-named queue has 0 messages, 0 consumers")
    channel.close()
    named = unique("amq.reserved")
    expect_channel_close(connection, lambda ch: ch.queue_declare(named), 403,
                         "ACCESS_REFUSED - queue name '%s' contains reserved prefix 'amq.*'"
                         % named,
                         "declaring a queue name starting with amq.")
    expect_channel_close(connection, lambda ch: ch.queue_declare(named, passive=True), 404,
                         "NOT_FOUND - no %s" % in_vhost(named),
                         "passive declare of a missing amq. queue")


def check_last_declared_queue(connection):
    """An empty queue name means the channel's last declared queue (except in a declare)."""
    channel = connection.channel()
    name = channel.queue_declare("", exclusive=True).method.queue
    channel.confirm_delivery()
    channel.basic_publish("", name, b"last")
    expect(channel.queue_purge("").method.message_count, 1,
           "queue.purge with an empty name purges the last declared queue")
    fanout = unique("last-declared-fanout")
    channel.exchange_declare(fanout, "fanout")
    channel.queue_bind("", fanout, "")
    channel.basic_publish(fanout, "", b"via fanout")
    method, _, body = channel.basic_get("", auto_ack=True)
    expect((method.routing_key, body) if method else None, ("", b"via fanout"),
           "queue.bind and basic.get with an empty name use the last declared queue")
    channel.queue_unbind("", fanout, "")
    channel.basic_publish(fanout, "", b"unbound")
    expect(channel.basic_get(name, auto_ack=True)[0], None,
           "queue.unbind with an empty name unbinds the last declared queue")
    expect(channel.queue_delete("").method.message_count, 0,
           "queue.delete with an empty name deletes the last declared queue")
    channel.exchange_delete(fanout)
    channel.close()
    expect(queue_state(connection, name), None, "the last declared queue was deleted")
    expect_channel_close(connection, lambda ch: ch.queue_declare("", passive=True), 404,
                         "NOT_FOUND - no queue '' in vhost '/'", "passive declare of ''")
    expect_channel_close(connection, lambda ch: ch.queue_purge(""), 404,
                         "NOT_FOUND - no previously declared queue",
                         "queue.purge of '' on a channel that declared nothing")


def check_declare_counts(connection):
    name = unique("counts")
    channel = connection.channel()
    expect(declare_ok(channel.queue_declare(name).method), (name, 0, 0),
           "declare-ok of a new queue")
    publish(connection, name, [b"1", b"2", b"3"])
    expect(declare_ok(channel.queue_declare(name).method), (name, 3, 0),
           "declare-ok after three publishes counts 3 messages")
    expect(declare_ok(channel.queue_declare(name, passive=True).method), (name, 3, 0),
           "passive declare-ok counts 3 messages")
    consumer_channel = connection.channel()
    consumer_channel.basic_qos(prefetch_count=1)
    consumer_channel.basic_consume(name, lambda *args: None)
    consumer_channel.basic_consume(name, lambda *args: None)
    # Two consumers with prefetch 1 hold two messages unacknowledged: one message stays ready.
    state = wait_for_state(connection, name, (1, 2))
    expect(state, (1, 2), "message count counts ready messages only; consumer count is 2")
    expect(declare_ok(channel.queue_declare(name).method), (name, 1, 2),
           "non-passive redeclare-ok carries the same counts")
    consumer_channel.close()
    expect(wait_for_state(connection, name, (3, 0)), (3, 0),
           "closing the consumers' channel requeues their messages: 3 ready, 0 consumers")
    channel.queue_delete(name)
    channel.close()


def check_passive_missing(connection):
    missing = unique("missing")
    expect_channel_close(connection, lambda ch: ch.queue_declare(missing, passive=True), 404,
                         "NOT_FOUND - no %s" % in_vhost(missing),
                         "passive declare of a missing queue")


def check_equivalence(connection):
    name = unique("equiv")
    setup = connection.channel()
    setup.queue_declare(name)

    def inequivalent(field, received, current):
        return ("PRECONDITION_FAILED - inequivalent arg '%s' for %s: received %s but current is %s"
                % (field, in_vhost(name), received, current))

    expect_channel_close(connection, lambda ch: ch.queue_declare(name, durable=True), 406,
                         inequivalent("durable", "'true'", "'false'"),
                         "redeclaring a transient queue as durable")
    expect_channel_close(connection, lambda ch: ch.queue_declare(name, auto_delete=True), 406,
                         inequivalent("auto_delete", "'true'", "'false'"),
                         "redeclaring with auto_delete")
    expect_channel_close(connection, lambda ch: ch.queue_declare(name, durable=True,
                                                                 auto_delete=True), 406,
                         inequivalent("durable", "'true'", "'false'"),
                         "durable and auto_delete both differ: durable reported")
    expect_channel_close(connection, lambda ch: ch.queue_declare(name, exclusive=True), 405,
                         locked_text(name), "redeclaring a shared queue as exclusive")
    expect_channel_close(connection, lambda ch: ch.queue_declare(name, durable=True, exclusive=True,
                                                                 auto_delete=True), 405,
                         locked_text(name), "exclusive is checked before durable")
    expect_channel_close(connection, lambda ch: ch.queue_declare(
        name, arguments={"x-max-length": 10}), 406,
        inequivalent("x-max-length", "the value '10' of type 'signedint'", "none"),
        "redeclaring with x-max-length added")
    # RabbitMQ compares only the x- arguments it knows; others are ignored.
    expect_ok(connection, lambda ch: ch.queue_declare(name, arguments={"foo": "bar"}),
              "redeclaring with an unknown argument")
    expect_ok(connection, lambda ch: ch.queue_declare(name), "redeclaring identically")
    setup.queue_delete(name)
    setup.close()


def check_exclusive(connection):
    name = unique("exclusive")
    owner = pika_connection()
    owner_channel = owner.channel()
    owner_channel.confirm_delivery()
    expect(declare_ok(owner_channel.queue_declare(name, exclusive=True).method), (name, 0, 0),
           "exclusive queue declared")
    owner_channel.basic_publish("", name, b"own")
    locked = locked_text(name)
    actions = [
        ("declare", lambda ch: ch.queue_declare(name, exclusive=True)),
        ("non-exclusive declare", lambda ch: ch.queue_declare(name)),
        ("passive declare", lambda ch: ch.queue_declare(name, passive=True)),
        ("consume", lambda ch: ch.basic_consume(name, lambda *args: None)),
        ("get", lambda ch: ch.basic_get(name)),
        ("bind", lambda ch: ch.queue_bind(name, "amq.direct", "k")),
        ("purge", lambda ch: ch.queue_purge(name)),
        ("delete", lambda ch: ch.queue_delete(name)),
    ]
    for what, action in actions:
        expect_channel_close(connection, action, 405, locked,
                             "%s of another connection's exclusive queue" % what)
    # RabbitMQ lets another connection unbind a binding that does not exist, and publish.
    expect_ok(connection, lambda ch: ch.queue_unbind(name, "amq.direct", "nothing"),
              "unbinding a missing binding of another connection's exclusive queue")

    def publish_to_it(ch):
        ch.confirm_delivery()
        ch.basic_publish("", name, b"from another connection", mandatory=True)

    expect_ok(connection, publish_to_it, "publishing to another connection's exclusive queue")
    expect(declare_ok(owner_channel.queue_declare(name, exclusive=True).method), (name, 2, 0),
           "the owner redeclares its exclusive queue: 2 messages")
    expect_channel_close(owner, lambda ch: ch.queue_declare(name), 405, locked,
                         "the owner redeclaring its exclusive queue as non-exclusive")
    owner.close()
    expect(wait_for_state(connection, name, None), None,
           "the exclusive queue is deleted when its connection closes")


def check_auto_delete(connection):
    name = unique("autodelete")
    channel = connection.channel()
    channel.queue_declare(name, auto_delete=True)
    time.sleep(0.2)
    expect(queue_state(connection, name), (0, 0), "an auto-delete queue never consumed stays")
    first = channel.basic_consume(name, lambda *args: None)
    second = channel.basic_consume(name, lambda *args: None)
    expect(queue_state(connection, name), (0, 2), "two consumers on the auto-delete queue")
    channel.basic_cancel(first)
    expect(queue_state(connection, name), (0, 1), "auto-delete queue stays after one cancel")
    channel.basic_cancel(second)
    expect(wait_for_state(connection, name, None), None,
           "auto-delete queue goes when its last consumer is cancelled")
    # The last consumer going away with its channel counts too.
    channel.queue_declare(name, auto_delete=True)
    other = connection.channel()
    other.basic_consume(name, lambda *args: None)
    other.close()
    expect(wait_for_state(connection, name, None), None,
           "auto-delete queue goes when its last consumer's channel closes")
    channel.close()


def check_bind_errors(connection):
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    missing_queue = unique("no-queue")
    missing_exchange = unique("no-exchange")
    expect_channel_close(connection, lambda ch: ch.queue_bind(queue, "", "k"),
                         *DEFAULT_EXCHANGE_REFUSED, "binding to the default exchange")
    expect_channel_close(connection, lambda ch: ch.queue_unbind(queue, "", queue),
                         *DEFAULT_EXCHANGE_REFUSED, "unbinding from the default exchange")
    expect_channel_close(connection,
                         lambda ch: ch.queue_bind(missing_queue, "amq.direct", "k"), 404,
                         "NOT_FOUND - no %s" % in_vhost(missing_queue), "binding a missing queue")
    expect_channel_close(connection, lambda ch: ch.queue_bind(queue, missing_exchange, "k"), 404,
                         "NOT_FOUND - no exchange '%s' in vhost '/'" % missing_exchange,
                         "binding to a missing exchange")
    expect_channel_close(connection, lambda ch: ch.queue_bind(missing_queue, missing_exchange, "k"),
                         404, "NOT_FOUND - no exchange '%s' in vhost '/'" % missing_exchange,
                         "binding a missing queue to a missing exchange: the exchange is reported")
    expect_ok(connection, lambda ch: ch.queue_unbind(queue, "amq.direct", "never-bound"),
              "unbinding a binding that does not exist")
    expect_ok(connection, lambda ch: ch.queue_unbind(missing_queue, "amq.direct", "k"),
              "unbinding a missing queue")
    expect_ok(connection, lambda ch: ch.queue_unbind(queue, missing_exchange, "k"),
              "unbinding from a missing exchange")
    channel.queue_bind(queue, "amq.direct", unique("key"))
    channel.queue_bind(queue, "amq.direct", unique("key"))
    channel.queue_unbind(queue, "amq.direct", unique("key"))
    channel.confirm_delivery()
    channel.basic_publish("amq.direct", unique("key"), b"x")
    expect(channel.basic_get(queue, auto_ack=True)[0], None,
           "a binding made twice is removed by one unbind")
    channel.close()


def check_purge(connection):
    name = unique("purge")
    channel = connection.channel()
    channel.queue_declare(name)
    expect(channel.queue_purge(name).method.message_count, 0, "purging an empty queue returns 0")
    publish(connection, name, [b"1", b"2", b"3", b"4"])
    method, _, body = channel.basic_get(name)
    expect((method.message_count, body), (3, b"1"), "get-ok counts the 3 remaining messages")
    expect(channel.queue_purge(name).method.message_count, 3,
           "purge returns the 3 ready messages (not the unacknowledged one)")
    expect(queue_state(connection, name), (0, 0), "the queue is empty after purge")
    channel.basic_nack(method.delivery_tag, requeue=True)
    expect(wait_for_state(connection, name, (1, 0)), (1, 0),
           "the unacknowledged message survived the purge")
    missing = unique("purge-missing")
    expect_channel_close(connection, lambda ch: ch.queue_purge(missing), 404,
                         "NOT_FOUND - no %s" % in_vhost(missing), "purging a missing queue")
    channel.queue_delete(name)
    channel.close()


def check_delete(connection):
    name = unique("delete")
    channel = connection.channel()
    channel.queue_declare(name)
    publish(connection, name, [b"keep"])
    expect_channel_close(connection, lambda ch: ch.queue_delete(name, if_empty=True), 406,
                         "PRECONDITION_FAILED - %s not empty" % in_vhost(name),
                         "delete with if-empty of a queue holding a message")
    consumer_channel = connection.channel()
    consumer_channel.basic_qos(prefetch_count=1)
    consumer_channel.basic_consume(name, lambda *args: None)
    expect_channel_close(connection, lambda ch: ch.queue_delete(name, if_unused=True), 406,
                         "PRECONDITION_FAILED - %s in use" % in_vhost(name),
                         "delete with if-unused of a consumed queue")
    expect_channel_close(connection, lambda ch: ch.queue_delete(name, if_unused=True,
                                                                if_empty=True), 406,
                         "PRECONDITION_FAILED - %s in use" % in_vhost(name),
                         "both conditions fail: in use is reported")
    expect(wait_for_state(connection, name, (0, 1)), (0, 1),
           "the consumer holds the message unacknowledged: 0 ready, 1 consumer")
    expect_ok(connection, lambda ch: ch.queue_delete(name, if_empty=True),
              "delete with if-empty when the only message is unacknowledged")
    expect(queue_state(connection, name), None, "the queue was deleted")
    consumer_channel.close()
    channel.queue_declare(name)
    publish(connection, name, [b"1", b"2", b"3"])
    method, _, _ = channel.basic_get(name)
    expect(channel.queue_delete(name).method.message_count, 2,
           "delete-ok counts the 2 ready messages, not the unacknowledged one")
    channel.basic_ack(method.delivery_tag)  # acking a message of a deleted queue is accepted
    expect(channel.queue_delete(name).method.message_count, 0, "deleting a missing queue succeeds")
    expect(channel.queue_delete(name, if_unused=True, if_empty=True).method.message_count, 0,
           "deleting a missing queue with if-unused and if-empty succeeds")
    check(channel.is_open, "the channel is still open")
    channel.close()


def check_nowait(connection):
    """pika's underlying channel sends nowait=true when no completion callback is given."""
    name = unique("nowait")
    channel = connection.channel()
    impl = channel._impl
    impl.queue_declare(name, exclusive=True, callback=None)
    fanout = unique("nowait-fanout")
    channel.exchange_declare(fanout, "fanout")
    impl.queue_bind(name, fanout, "")
    channel.confirm_delivery()
    channel.basic_publish(fanout, "", b"one")
    channel.basic_publish("", name, b"two")
    expect(declare_ok(channel.queue_declare(name, passive=True).method), (name, 2, 0),
           "queue.declare and queue.bind with nowait took effect")
    impl.queue_unbind(name, fanout, "", callback=lambda frame: None)
    impl.queue_purge(name)
    expect(declare_ok(channel.queue_declare(name, passive=True).method), (name, 0, 0),
           "queue.purge with nowait emptied it")
    channel.exchange_delete(fanout)
    impl.queue_delete(name)
    channel.queue_declare("", exclusive=True)  # a round trip: the nowait delete is done
    expect(queue_state(connection, name), None, "queue.delete with nowait deleted it")

    def failing_nowait(ch):
        ch._impl.queue_declare(name, passive=True, callback=None)
        ch.queue_declare("", exclusive=True)

    expect_channel_close(connection, failing_nowait, 404, "NOT_FOUND - no %s" % in_vhost(name),
                         "a failing passive queue.declare with nowait still closes the channel")
    channel.close()


def main():
    connection = pika_connection()
    check_server_named(connection)
    check_last_declared_queue(connection)
    check_declare_counts(connection)
    check_passive_missing(connection)
    check_equivalence(connection)
    check_exclusive(connection)
    check_auto_delete(connection)
    check_bind_errors(connection)
    check_purge(connection)
    check_delete(connection)
    check_nowait(connection)
    connection.close()
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
