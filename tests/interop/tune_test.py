#!/usr/bin/python3
"""Interop test: connection.tune offers the configured channel_max, frame_max and heartbeat
(RabbitMQ's defaults, then --channel-max 17 --frame-max 8192 --heartbeat 7 on a restarted
broker), pika negotiates them, and the broker holds clients to them: a tune-ok above either
limit, a frame above frame_max and a channel past channel_max are refused as RabbitMQ does.

Against an external broker (AMQP_PORT set) only one set is checked: RabbitMQ's defaults, or
AMQP_TUNE="CHANNEL_MAX,FRAME_MAX,HEARTBEAT" when that broker was configured so."""
import os
import sys

from checks import SKIP, can_control_broker, check, exit_status, pika_connection, restart_broker
from rawamqp import (basic_publish_args, basic_qos_args, body_frame, client_in,
                     content_header_frame, expect_connection_close, expect_reply,
                     expect_silent_close, method_frame, open_args, provoke, run_scenarios,
                     shortstr, tune_ok_args)

DEFAULTS = (2047, 131072, 60)
CONFIGURED = (17, 8192, 7)
OPTIONS = ["--channel-max", "17", "--frame-max", "8192", "--heartbeat", "7"]
SILENT_DELAY = (2.5, 4.0)  # RabbitMQ drops a refused tune-ok after about 3 s, without a frame


def scenarios(tune):
    channel_max, frame_max, heartbeat = tune

    def offered(_ctx):
        c = client_in("tune")
        try:
            if c.tune != tune:
                raise AssertionError("connection.tune offered %r, expected %r" % (c.tune, tune))
            return "connection.tune offered (channel_max, frame_max, heartbeat) = %r" % (tune,)
        finally:
            c.close()

    def refused(cm, fm):
        def scenario(ctx):
            c = ctx.client("tune")
            out = provoke(c, method_frame(0, 10, 31, tune_ok_args(cm, fm, 0)),
                          timeout=SILENT_DELAY[1] + 0.5)
            return expect_silent_close(out, SILENT_DELAY)
        return scenario

    def accepted(ctx):
        c = ctx.client("tune")
        out = provoke(c, [method_frame(0, 10, 31, tune_ok_args(channel_max, frame_max, 0)),
                          method_frame(0, 10, 40, open_args())])
        return expect_reply(out, 10, 41, 0)

    def body_of(size):
        return [method_frame(1, 60, 40, basic_publish_args("", "no-such-queue")),
                content_header_frame(1, size), body_frame(1, b"x" * size)]

    def largest_frame(ctx):
        c = ctx.client("channel", frame_max=frame_max)
        c.send(b"".join(body_of(frame_max)))
        c.send_method(1, 60, 10, basic_qos_args())  # answered only if the connection lives
        return "a body frame carrying frame_max octets is taken; " + \
            expect_reply(provoke(c, b""), 60, 11, 1)

    def too_large_frame(ctx):
        c = ctx.client("channel", frame_max=frame_max)
        out = provoke(c, body_of(frame_max + 1), close_ok=False)
        text = "FRAME_ERROR - type 3, all octets = <<>>: {frame_too_large,%d,%d}" \
            % (frame_max + 1, frame_max - 8)
        return expect_connection_close(out, 501, text, 0, 0, closes_within=None)

    def channels(ctx):
        c = ctx.client("open", channel_max=channel_max)
        c.send(b"".join(method_frame(ch, 20, 10, shortstr(""))
                        for ch in range(1, channel_max + 1)))
        for _ in range(channel_max):
            c.expect_method(20, 11)
        out = provoke(c, method_frame(channel_max + 1, 20, 10, shortstr("")), close_ok=False)
        text = ("NOT_ALLOWED - number of channels opened (%d) has reached the negotiated "
                "channel_max (%d)" % (channel_max, channel_max))
        return "%d channels opened; " % channel_max + \
            expect_connection_close(out, 530, text, 0, 0, closes_within=None)

    def pika_negotiates(_ctx):
        proposed = []

        def choose(_connection, server_value):
            proposed.append(server_value)
            return server_value

        connection = pika_connection(heartbeat=choose, blocked_connection_timeout=None)
        params = connection._impl.params
        seen = (params.channel_max, params.frame_max, proposed[0])
        connection.close()
        if seen != tune:
            raise AssertionError("pika negotiated %r, expected %r" % (seen, tune))
        return "pika negotiated %r" % (seen,)

    label = "%d/%d/%d" % tune
    found = [
        (label + " tune offers the configured values", offered),
        (label + " tune-ok frame_max above the offer refused", refused(channel_max, frame_max + 1)),
        (label + " tune-ok frame_max 0 (no limit) refused", refused(channel_max, 0)),
        (label + " tune-ok at the offered limits accepted", accepted),
        (label + " a frame of frame_max accepted", largest_frame),
        (label + " a frame past frame_max refused (501)", too_large_frame),
        (label + " channel_max channels, not one more (530)", channels),
        (label + " pika negotiates the offer", pika_negotiates),
    ]
    if channel_max < 65535:
        found.insert(3, (label + " tune-ok channel_max above the offer refused",
                         refused(channel_max + 1, frame_max)))
    return found


def main():
    if can_control_broker():
        failed = run_scenarios(scenarios(DEFAULTS))
        status, _ = restart_broker(OPTIONS)
        check(status == 0, "the broker stopped cleanly for the restart (status %d)" % status)
        failed |= run_scenarios(scenarios(CONFIGURED))
        return failed or exit_status()
    if os.environ.get("AMQP_PORT"):
        given = os.environ.get("AMQP_TUNE")
        tune = tuple(int(v) for v in given.split(",")) if given else DEFAULTS
        return run_scenarios(scenarios(tune))
    print("SKIP: needs with_broker.py or an external broker (AMQP_PORT)")
    return SKIP


if __name__ == "__main__":
    sys.exit(main())
