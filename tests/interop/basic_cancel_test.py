#!/usr/bin/python3
"""Interop test: basic.cancel of a consumer tag the channel does not know (never used, already
cancelled, or a consumer of another channel) is answered with basic.cancel-ok carrying that
tag, as RabbitMQ does, and leaves the channel open; with no-wait nothing is answered. Raw
frames, since client libraries answer an unknown cancel themselves."""
import sys

from rawamqp import (basic_cancel_args, basic_consume_args, expect_alive, expect_quiet,
                     expect_reply, method_frame, provoke, queue_declare_args, run_scenarios)


def consume(c, channel, queue, tag):
    c.send_method(channel, 60, 20, basic_consume_args(queue, tag, no_ack=True))
    got = c.expect_method(60, 21).args().shortstr()
    if got != tag:
        raise AssertionError("consume-ok carried %r, expected %r" % (got, tag))


def declare(c, channel, queue):
    c.send_method(channel, 50, 10, queue_declare_args(queue, exclusive=True))
    c.expect_method(50, 11)


def cancel(tag, nowait=False, channel=1):
    return method_frame(channel, 60, 30, basic_cancel_args(tag, nowait))


def expect_cancel_ok(out, tag, channel=1):
    detail = expect_reply(out, 60, 31, channel)
    got = out.frame.args().shortstr()
    if got != tag:
        raise AssertionError("cancel-ok carried %r, expected %r" % (got, tag))
    return detail


def never_used(ctx):
    c = ctx.client("channel")
    detail = expect_cancel_ok(provoke(c, cancel("no-such-consumer")), "no-such-consumer")
    return detail + "; " + expect_alive(c)


def never_used_nowait(ctx):
    c = ctx.client("channel")
    c.send(cancel("no-such-consumer", nowait=True))
    return expect_quiet(c, 0.5) + "; " + expect_alive(c)


def cancelled_twice(ctx):
    c = ctx.client("channel")
    declare(c, 1, "cancel-twice")
    consume(c, 1, "cancel-twice", "twice")
    expect_cancel_ok(provoke(c, cancel("twice")), "twice")
    detail = expect_cancel_ok(provoke(c, cancel("twice")), "twice")
    return "second cancel: " + detail + "; " + expect_alive(c)


def other_channels_consumer(ctx):
    """Cancelling channel 1's tag on channel 2 answers cancel-ok and leaves the consumer."""
    c = ctx.client("channel")
    c.open_channel(2)
    declare(c, 1, "cancel-other")
    consume(c, 1, "cancel-other", "mine")
    detail = expect_cancel_ok(provoke(c, cancel("mine", channel=2)), "mine", channel=2)
    # The consumer on channel 1 still exists: consuming again under its tag is refused
    # (530 not-allowed, a connection error), which a cancelled tag would not be.
    consume_again = method_frame(1, 60, 20, basic_consume_args("cancel-other", "mine",
                                                               no_ack=True))
    out = provoke(c, consume_again)
    if not (out.frame and out.frame.method_id == (10, 50) and out.close.code == 530):
        raise AssertionError("the consumer on channel 1 is gone: a second consume with its "
                             "tag got %r" % out)
    return "on channel 2: " + detail + "; channel 1's consumer still holds its tag"


SCENARIOS = [
    ("cancel of a tag never used gets cancel-ok", never_used),
    ("cancel of a tag never used, no-wait: no reply", never_used_nowait),
    ("cancel of a tag already cancelled gets cancel-ok", cancelled_twice),
    ("cancel of another channel's tag gets cancel-ok, keeps that consumer",
     other_channels_consumer),
]

if __name__ == "__main__":
    sys.exit(run_scenarios(SCENARIOS))
