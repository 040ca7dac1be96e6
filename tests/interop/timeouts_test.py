#!/usr/bin/python3
# Raw-socket checks of the broker timers (handshake timeout, heartbeats, close) against RabbitMQ 3.10.
"""All scenarios run concurrently, each on its own connection to AMQP_HOST:AMQP_PORT, so the
whole script takes about as long as the longest timer (30 s). Expected timings are those
observed on RabbitMQ (rabbitmq-observed.md, section 13), with a little slack."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawamqp import (  # noqa: E402
    FRAME_HEARTBEAT, Closed, Timeout, bits, close_args, frame,
    heartbeat_frame, run_scenarios)

SLACK = 0.7


class Timeline:
    """Frames received (seconds since t0, frame) until the socket closed or `limit` passed."""

    def __init__(self, client, t0, limit):
        self.frames, self.closed_at = [], None
        while True:
            left = t0 + limit - time.monotonic()
            if left <= 0:
                break
            try:
                f = client.read_frame(left)
            except Closed:
                self.closed_at = time.monotonic() - t0
                break
            except Timeout:
                break
            self.frames.append((time.monotonic() - t0, f))

    def heartbeats(self):
        return [t for t, f in self.frames if f.type == FRAME_HEARTBEAT and f.channel == 0]

    def others(self):
        return [f for _, f in self.frames if f.type != FRAME_HEARTBEAT]

    def __repr__(self):
        hb = ", ".join("%.1f" % t for t in self.heartbeats())
        other = ", ".join(f.describe() for f in self.others())
        closed = "closed at %.2fs" % self.closed_at if self.closed_at is not None else "open"
        return f"heartbeats at [{hb}]; other frames [{other}]; socket {closed}"


def assert_closed_within(tl, lo, hi):
    if tl.closed_at is None or not lo <= tl.closed_at <= hi:
        raise AssertionError(f"expected the socket closed within {lo:.1f}-{hi:.1f}s; "
                             f"observed {tl!r}")


def assert_no_frames(tl):
    if tl.frames:
        raise AssertionError(f"expected no frames; observed {tl!r}")


def assert_heartbeat_cadence(tl, interval, until):
    """Heartbeats every `interval` s (RabbitMQ: half the negotiated heartbeat) while the
    server has nothing else to send, from the start up to `until` s."""
    beats = [0.0] + [t for t in tl.heartbeats() if t <= until]
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    expected = int(until / interval) - 1
    if len(beats) - 1 < expected or any(g > interval + SLACK for g in gaps) \
            or any(g < interval / 2 for g in gaps):
        raise AssertionError(f"expected a heartbeat every {interval}s up to {until}s; "
                             f"observed {tl!r}")


# ------------------------------------------------------------------ handshake timeout

def handshake_timeout(state, **kw):
    def scenario(ctx):
        t0 = time.monotonic()
        c = ctx.client(state, **kw)
        tl = Timeline(c, t0, 12.0)
        assert_no_frames(tl)
        assert_closed_within(tl, 10.0 - SLACK, 10.0 + SLACK)
        return f"silent close at {tl.closed_at:.2f}s after connect"
    return scenario


def handshake_timeout_counts_from_connect(ctx):
    t0 = time.monotonic()
    c = ctx.raw()
    time.sleep(6.0)
    c.send_header()
    c.read_start()
    tl = Timeline(c, t0, 12.0)
    assert_no_frames(tl)
    assert_closed_within(tl, 10.0 - SLACK, 10.0 + SLACK)
    return f"header sent at 6s; silent close at {tl.closed_at:.2f}s after connect"


def partial_header_timeout(ctx):
    t0 = time.monotonic()
    c = ctx.raw()
    c.send(b"AMQ")
    tl = Timeline(c, t0, 12.0)
    assert_no_frames(tl)
    assert_closed_within(tl, 10.0 - SLACK, 10.0 + SLACK)
    return f"3 header octets, silent close at {tl.closed_at:.2f}s"


# ------------------------------------------------------------------ heartbeats

def silent_peer(heartbeat, state="open"):
    def scenario(ctx):
        c = ctx.client(state, heartbeat=heartbeat)
        t0 = time.monotonic()      # tune-ok (and open) just went out: our last octets
        tl = Timeline(c, t0, 4.0 * heartbeat + 2.0)
        if tl.others():
            raise AssertionError(f"expected only heartbeats; observed {tl!r}")
        assert_closed_within(tl, 2.0 * heartbeat - 0.3, 3.0 * heartbeat + SLACK)
        assert_heartbeat_cadence(tl, heartbeat / 2.0, tl.closed_at - 0.1)
        return f"{tl!r}"
    return scenario


def heartbeating_peer_kept(ctx):
    c = ctx.client("open", heartbeat=2)
    t0 = time.monotonic()
    beats = 0
    while time.monotonic() - t0 < 12.0:
        c.send(heartbeat_frame())
        next_send = time.monotonic() + 1.0
        while time.monotonic() < next_send:
            try:
                f = c.read_frame(max(0.01, next_send - time.monotonic()))
            except Timeout:
                break
            except Closed:
                raise AssertionError("dropped after %.1fs although we sent heartbeats every "
                                     "second" % (time.monotonic() - t0))
            if f.type == FRAME_HEARTBEAT:
                beats += 1
            else:
                raise AssertionError(f"unexpected {f.describe()}")
    if beats < 8:
        raise AssertionError(f"only {beats} server heartbeats in 12s with heartbeat=2")
    return f"still open after 12s; {beats} server heartbeats received"


def busy_peer_kept(ctx):
    c = ctx.client("channel", heartbeat=2)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 8.0:
        c.send_method(1, 20, 20, bits(True))  # channel.flow active=true
        try:
            c.expect_method(20, 21, timeout=2.0)
        except Closed:
            raise AssertionError("dropped after %.1fs although we sent a method every "
                                 "second" % (time.monotonic() - t0))
        time.sleep(1.0)
    return "still open after 8s of methods (no heartbeat frames) with heartbeat=2"


def no_heartbeat_when_zero(ctx):
    c = ctx.client("open", heartbeat=0)
    tl = Timeline(c, time.monotonic(), 12.0)
    assert_no_frames(tl)
    if tl.closed_at is not None:
        raise AssertionError(f"dropped with heartbeat=0: {tl!r}")
    return "no frames and still open after 12s"


# ------------------------------------------------------------------ close handshake timer

def unanswered_server_close(heartbeat, expect):
    def scenario(ctx):
        c = ctx.client("open", heartbeat=heartbeat)
        t0 = time.monotonic()
        c.send(frame(9, 0, b""))
        tl = Timeline(c, t0, expect + 3.0)
        others = tl.others()
        if len(others) != 1 or not others[0].is_method(10, 50):
            raise AssertionError(f"expected one connection.close; observed {tl!r}")
        assert_closed_within(tl, expect - 0.3, expect + SLACK)
        if heartbeat:
            assert_heartbeat_cadence(tl, heartbeat / 2.0, tl.closed_at - 0.1)
        return f"{tl!r}"
    return scenario


def lingering_client_after_close_ok(heartbeat, expect):
    def scenario(ctx):
        c = ctx.client("open", heartbeat=heartbeat)
        t0 = time.monotonic()
        c.send_method(0, 10, 50, close_args(200, "bye", 0, 0))
        tl = Timeline(c, t0, expect + 3.0)
        others = tl.others()
        if len(others) != 1 or not others[0].is_method(10, 51):
            raise AssertionError(f"expected one connection.close-ok; observed {tl!r}")
        assert_closed_within(tl, expect - 0.3, expect + SLACK)
        return f"{tl!r}"
    return scenario


def scenarios():
    return [
        ("13 handshake timeout: nothing sent", handshake_timeout("tcp")),
        ("13 handshake timeout: partial header", partial_header_timeout),
        ("13 handshake timeout: header only", handshake_timeout("start")),
        ("13 handshake timeout counts from connect", handshake_timeout_counts_from_connect),
        ("13 handshake timeout: after start-ok", handshake_timeout("tune")),
        ("13 handshake timeout: after tune-ok heartbeat 0", handshake_timeout("tuned", heartbeat=0)),
        ("13 heartbeat 2 starts at tune-ok (no open)", silent_peer(2, state="tuned")),
        ("13 heartbeat 1 silent peer", silent_peer(1)),
        ("13 heartbeat 2 silent peer", silent_peer(2)),
        ("13 heartbeat 2 peer sending heartbeats is kept", heartbeating_peer_kept),
        ("13 heartbeat 2 peer sending methods is kept", busy_peer_kept),
        ("13 heartbeat 0 sends nothing and drops nobody", no_heartbeat_when_zero),
        ("13 unanswered connection.close, heartbeat 2", unanswered_server_close(2, 2.0)),
        ("13 unanswered connection.close, heartbeat 5", unanswered_server_close(5, 5.0)),
        ("13 unanswered connection.close, heartbeat 0", unanswered_server_close(0, 30.0)),
        ("13 client lingers after close-ok, heartbeat 2", lingering_client_after_close_ok(2, 2.0)),
        ("13 client lingers after close-ok, heartbeat 0", lingering_client_after_close_ok(0, 30.0)),
    ]


if __name__ == "__main__":
    sys.exit(run_scenarios(scenarios()))
