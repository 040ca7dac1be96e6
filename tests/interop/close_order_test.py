#!/usr/bin/python3
"""Interop test (raw socket): the bytes a client sees, in order, when connection.open names a
missing vhost: connection.close 530 always arrives before the socket closes, whatever the
client does next (drops TCP as Bunny does, answers close-ok as pika does, pipelines, half-
closes). Each case runs many times, since a lost close shows only now and then."""

import socket
import sys
import time

from checks import check, exit_status
from rawamqp import (Closed, Timeout, client_in, close_args, decode_close, method_frame,
                     open_args, shortstr, tune_ok_args)

ROUNDS = 20
REFUSED = (530, "NOT_ALLOWED - vhost nosuch not found", 10, 40)
QUIET_SECONDS = 0.2


def describe_close(frame):
    close = decode_close(frame)
    return (close.code, close.text, close.class_id, close.method_id)


def tuned():
    client = client_in("tune")
    client.send_method(0, 10, 31, tune_ok_args(2047, 131072, 0))
    return client


def read_refusal(client):
    """The first frame after connection.open: the 530 close, or why not."""
    try:
        frame = client.read_frame_skip_heartbeats(5.0)
    except (Closed, Timeout) as error:
        return "no frame (%s)" % type(error).__name__
    if not frame.is_method(10, 50):
        return frame.describe()
    return describe_close(frame)


def after_close(client, seconds):
    """What follows the close: ("closed"|"open", bytes received meanwhile)."""
    deadline = time.monotonic() + seconds
    received = client.buf
    client.buf = b""
    try:
        while True:
            client._fill(deadline)
            received += client.buf
            client.buf = b""
    except Closed:
        return "closed", received
    except Timeout:
        return "open", received


def case_drop():
    """Bunny: read the close, then close the socket without close-ok."""
    client = tuned()
    client.send_method(0, 10, 40, open_args("nosuch"))
    refusal = read_refusal(client)
    state = after_close(client, QUIET_SECONDS)
    client.close()
    return refusal, state, ("open", b"")


def case_close_ok():
    """pika: answer close-ok; the broker closes the socket at once, sending nothing more."""
    client = tuned()
    client.send_method(0, 10, 40, open_args("nosuch"))
    refusal = read_refusal(client)
    client.send_method(0, 10, 51)
    state = after_close(client, 2.0)
    client.close()
    return refusal, state, ("closed", b"")


def case_close_ok_and_more():
    """close-ok with a channel.open behind it in the same segment: ignored, socket closed."""
    client = tuned()
    client.send_method(0, 10, 40, open_args("nosuch"))
    refusal = read_refusal(client)
    client.send(method_frame(0, 10, 51) + method_frame(1, 20, 10, shortstr("")))
    state = after_close(client, 2.0)
    client.close()
    return refusal, state, ("closed", b"")


def case_close_crossing():
    """The client's own connection.close crossing the broker's: answered with close-ok."""
    client = tuned()
    client.send_method(0, 10, 40, open_args("nosuch"))
    refusal = read_refusal(client)
    client.send_method(0, 10, 50, close_args())
    state = after_close(client, QUIET_SECONDS)
    client.close()
    return refusal, state, ("open", method_frame(0, 10, 51))


def case_pipelined_half_close():
    """tune-ok and open in one segment, then the client's FIN: the close still comes first."""
    client = client_in("tune")
    client.send(method_frame(0, 10, 31, tune_ok_args(2047, 131072, 0)) +
                method_frame(0, 10, 40, open_args("nosuch")))
    client.sock.shutdown(socket.SHUT_WR)
    refusal = read_refusal(client)
    state = after_close(client, 2.0)
    client.close()
    return refusal, state, ("closed", b"")


CASES = [
    ("the client drops TCP after the close (Bunny)", "the broker sends nothing more",
     case_drop),
    ("the client answers close-ok (pika)", "the socket closes", case_close_ok),
    ("close-ok with a frame behind it", "the socket closes", case_close_ok_and_more),
    ("the client's close crosses the broker's", "close-ok and nothing more",
     case_close_crossing),
    ("tune-ok and open pipelined, then a half-close", "the socket closes",
     case_pipelined_half_close),
]


def main():
    for what, then, case in CASES:
        outcomes = {}
        for _ in range(ROUNDS):
            refusal, state, wanted = case()
            outcome = "ok" if (refusal, state) == (REFUSED, wanted) else \
                "close %r, then %r" % (refusal, state)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        failed = {k: v for k, v in outcomes.items() if k != "ok"}
        check(not failed, "%s: connection.close 530, then %s, in %d of %d rounds%s"
              % (what, then, outcomes.get("ok", 0), ROUNDS, " %r" % failed if failed else ""))
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
