#!/usr/bin/python3
# Raw-socket checks of which error wins when a queue verb has several faults (as RabbitMQ 3.10).
"""queue.bind, queue.unbind, queue.purge, queue.delete, basic.get and basic.consume with the
queue name "" (meaning the queue this channel declared last), missing queues and exchanges,
the default exchange and reused consumer tags. Each scenario asserts the reply code, text
and class/method ids RabbitMQ 3.10.8 sends; all were observed on it.

What RabbitMQ does, and why (rabbit_channel.erl at v3.10.8):
  - The queue name "" is expanded (expand_shortcuts) before the method is handled at all,
    so on a channel that declared no queue, "NOT_FOUND - no previously declared queue"
    (404, a channel error) beats every other error: a missing or default exchange on
    queue.bind / queue.unbind, and even a reused consumer tag on basic.consume.
  - Once the channel has declared a queue, "" stands for that name even after the queue
    is deleted, and the verb then fails as it would with that name.
  - basic.consume looks up the consumer tag before the queue, so a reused tag on a
    missing queue gives the connection error 530 "attempt to reuse consumer tag".
  - queue.bind checks the default exchange (403) before whether the queue or exchange
    exists, and a missing exchange (404) before a missing queue."""

import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import DEFAULT_EXCHANGE_REFUSED, SUFFIX  # noqa: E402
from rawamqp import (  # noqa: E402
    bits, expect_channel_close, expect_connection_close, expect_reply, method_frame,
    provoke, queue_declare_args, run_scenarios, short, shortstr, table)

NO_PREVIOUS = "NOT_FOUND - no previously declared queue"
MISSING_X = "no-such-x-" + SUFFIX
MISSING_Q = "no-such-q-" + SUFFIX


_numbers = itertools.count()


def queue_name(what):
    """A name of this run that no other scenario uses."""
    return f"vo-{what}{next(_numbers)}-{SUFFIX}"


def no_queue(name):
    return f"NOT_FOUND - no queue '{name}' in vhost '/'"


def no_exchange(name):
    return f"NOT_FOUND - no exchange '{name}' in vhost '/'"


def reused(tag):
    return f"NOT_ALLOWED - attempt to reuse consumer tag '{tag}'"


# ------------------------------------------------------------------ method frames (channel 1)

def bind(queue, exchange, routing_key="", channel=1):
    return method_frame(channel, 50, 20, short(0) + shortstr(queue) + shortstr(exchange)
                        + shortstr(routing_key) + bits(False) + table({}))


def unbind(queue, exchange, routing_key="", channel=1):
    return method_frame(channel, 50, 50, short(0) + shortstr(queue) + shortstr(exchange)
                        + shortstr(routing_key) + table({}))


def purge(queue, channel=1):
    return method_frame(channel, 50, 30, short(0) + shortstr(queue) + bits(False))


def delete(queue, channel=1):
    return method_frame(channel, 50, 40, short(0) + shortstr(queue) + bits(False, False, False))


def get(queue, channel=1):
    return method_frame(channel, 60, 70, short(0) + shortstr(queue) + bits(False))


def consume(queue, tag="", channel=1, exclusive=False):
    return method_frame(channel, 60, 20, short(0) + shortstr(queue) + shortstr(tag)
                        + bits(False, False, exclusive, False) + table({}))


def declare(queue, channel=1):
    return method_frame(channel, 50, 10, queue_declare_args(queue, exclusive=True))


# ------------------------------------------------------------------ set-ups

def fresh(ctx):
    """Channel 1 open and nothing declared on it."""
    return ctx.client("channel")


def with_consumer(tag):
    """A queue declared on channel 2 (so channel 1 still has no declared queue) and a
    consumer with tag on channel 1."""
    def setup(ctx):
        c = ctx.client("channel")
        name = queue_name(tag)
        c.open_channel(2)
        c.send(declare(name, channel=2))
        c.expect_method(50, 11)
        c.send(consume(name, tag))
        c.expect_method(60, 21)
        return c
    return setup


def declared_then_deleted(ctx):
    """Channel 1 declared a queue and deleted it; returns the client and that name."""
    c = ctx.client("channel")
    name = queue_name("gone")
    c.send(declare(name))
    c.expect_method(50, 11)
    c.send(delete(name))
    c.expect_method(50, 41)
    return c, name


def existing_queue(ctx):
    """A queue declared on channel 2; returns the client and its name."""
    c = ctx.client("channel")
    name = queue_name("q")
    c.open_channel(2)
    c.send(declare(name, channel=2))
    c.expect_method(50, 11)
    return c, name


# ------------------------------------------------------------------ scenario builders

def channel_error(setup, data, code, text, class_id, method_id):
    def scenario(ctx):
        c = setup(ctx)
        return expect_channel_close(provoke(c, data), 1, code, text, class_id, method_id)
    return scenario


def connection_error(setup, data, code, text, class_id, method_id):
    def scenario(ctx):
        c = setup(ctx)
        return expect_connection_close(provoke(c, data), code, text, class_id, method_id)
    return scenario


def succeeds(data, ids):
    """The verb succeeds on a fresh channel: a reply with these ids on channel 1."""
    def scenario(ctx):
        return expect_reply(provoke(fresh(ctx), data), *ids, 1)
    return scenario


def after_delete(make, expected):
    """make(name) -> frame; expected(name) -> (code, text, class, method) or (class, method)
    of the reply."""
    def scenario(ctx):
        c, name = declared_then_deleted(ctx)
        want = expected(name)
        out = provoke(c, make(""))
        if len(want) == 2:
            return expect_reply(out, *want, 1)
        return expect_channel_close(out, 1, *want)
    return scenario


def on_existing(make, expected):
    def scenario(ctx):
        c, name = existing_queue(ctx)
        out = provoke(c, make(name))
        if len(expected) == 2:
            return expect_reply(out, *expected, 1)
        return expect_channel_close(out, 1, *expected)
    return scenario


def scenarios():
    refused_code, refused_text = DEFAULT_EXCHANGE_REFUSED
    return [
        # a. queue.bind with "" on a channel that declared no queue
        ("a bind '' to a missing exchange", channel_error(
            fresh, bind("", MISSING_X), 404, NO_PREVIOUS, 50, 20)),
        ("a bind '' to the default exchange", channel_error(
            fresh, bind("", ""), 404, NO_PREVIOUS, 50, 20)),
        ("a bind '' to amq.direct", channel_error(
            fresh, bind("", "amq.direct"), 404, NO_PREVIOUS, 50, 20)),
        # b. queue.unbind with "" on a fresh channel
        ("b unbind '' from the default exchange", channel_error(
            fresh, unbind("", ""), 404, NO_PREVIOUS, 50, 50)),
        ("b unbind '' from a missing exchange", channel_error(
            fresh, unbind("", MISSING_X), 404, NO_PREVIOUS, 50, 50)),
        # c. reused consumer tag on a queue that does not exist: the tag wins
        ("c consume a missing queue with a reused tag", connection_error(
            with_consumer("c1"), consume(MISSING_Q, "c1"), 530, reused("c1"), 60, 20)),
        ("c exclusive consume of a missing queue with a reused tag", connection_error(
            with_consumer("c2"), consume(MISSING_Q, "c2", exclusive=True), 530, reused("c2"),
            60, 20)),
        ("c consume amq.rabbitmq.reply-to with a reused tag", connection_error(
            with_consumer("c3"), consume("amq.rabbitmq.reply-to", "c3"), 530, reused("c3"),
            60, 20)),
        # d. queue "" with a reused tag on a channel that declared no queue: "" wins
        ("d consume '' with a reused tag", channel_error(
            with_consumer("d1"), consume("", "d1"), 404, NO_PREVIOUS, 60, 20)),
        # e. the other verbs with "" on a fresh channel
        ("e purge ''", channel_error(fresh, purge(""), 404, NO_PREVIOUS, 50, 30)),
        ("e get ''", channel_error(fresh, get(""), 404, NO_PREVIOUS, 60, 70)),
        ("e delete ''", channel_error(fresh, delete(""), 404, NO_PREVIOUS, 50, 40)),
        ("e consume ''", channel_error(fresh, consume(""), 404, NO_PREVIOUS, 60, 20)),
        # "" after the channel's declared queue was deleted: that name, which is now missing
        ("f purge '' after the declared queue was deleted", after_delete(
            purge, lambda n: (404, no_queue(n), 50, 30))),
        ("f get '' after the declared queue was deleted", after_delete(
            get, lambda n: (404, no_queue(n), 60, 70))),
        ("f consume '' after the declared queue was deleted", after_delete(
            consume, lambda n: (404, no_queue(n), 60, 20))),
        ("f bind '' to amq.direct after the declared queue was deleted", after_delete(
            lambda q: bind(q, "amq.direct"), lambda n: (404, no_queue(n), 50, 20))),
        ("f bind '' to a missing exchange after the declared queue was deleted", after_delete(
            lambda q: bind(q, MISSING_X), lambda n: (404, no_exchange(MISSING_X), 50, 20))),
        ("f delete '' after the declared queue was deleted", after_delete(
            delete, lambda n: (50, 41))),
        ("f unbind '' from amq.direct after the declared queue was deleted", after_delete(
            lambda q: unbind(q, "amq.direct"), lambda n: (50, 51))),
        # named queues
        ("g bind a missing queue to a missing exchange", channel_error(
            fresh, bind(MISSING_Q, MISSING_X), 404, no_exchange(MISSING_X), 50, 20)),
        ("g bind a missing queue to the default exchange", channel_error(
            fresh, bind(MISSING_Q, ""), refused_code, refused_text, 50, 20)),
        ("g bind a missing queue to amq.direct", channel_error(
            fresh, bind(MISSING_Q, "amq.direct"), 404, no_queue(MISSING_Q), 50, 20)),
        ("g bind an existing queue to the default exchange", on_existing(
            lambda q: bind(q, ""), (refused_code, refused_text, 50, 20))),
        ("g unbind an existing queue from the default exchange", on_existing(
            lambda q: unbind(q, ""), (refused_code, refused_text, 50, 50))),
        ("g unbind an existing queue from a missing exchange", on_existing(
            lambda q: unbind(q, MISSING_X), (50, 51))),
        ("g unbind an existing queue from amq.direct, never bound", on_existing(
            lambda q: unbind(q, "amq.direct"), (50, 51))),
        ("g unbind a missing queue from a missing exchange", succeeds(
            unbind(MISSING_Q, MISSING_X), (50, 51))),
        ("g consume a missing queue", channel_error(
            fresh, consume(MISSING_Q), 404, no_queue(MISSING_Q), 60, 20)),
        ("g purge a missing queue", channel_error(
            fresh, purge(MISSING_Q), 404, no_queue(MISSING_Q), 50, 30)),
        ("g delete a missing queue", succeeds(delete(MISSING_Q), (50, 41))),
    ]


if __name__ == "__main__":
    sys.exit(run_scenarios(scenarios()))
