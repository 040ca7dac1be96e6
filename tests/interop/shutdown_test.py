#!/usr/bin/python3
"""Interop test: SIGTERM, and then SIGINT (on a restarted broker), each close every open
connection with 320 CONNECTION_FORCED, as RabbitMQ words it, and the broker exits with
status 0."""
import signal
import sys

from checks import (SKIP, can_control_broker, check, exit_status, expect, signal_broker,
                    start_broker, wait_broker)
from rawamqp import Closed, Timeout, client_in, decode_close

SHUTDOWN_TEXT = "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"
CONNECTIONS = 3


def shutdown_by(signum):
    name = signal.Signals(signum).name
    clients = [client_in("channel") for _ in range(CONNECTIONS)]
    signal_broker(signum)
    for i, c in enumerate(clients):
        try:
            f = c.read_frame_skip_heartbeats(5.0)
        except (Closed, Timeout) as error:
            check(False, "%s: connection %d got no connection.close (%s)"
                  % (name, i, type(error).__name__))
            continue
        if f.is_method(10, 50):
            close = decode_close(f)
            got = (close.code, close.text, close.class_id, close.method_id)
        else:
            got = f.describe()
        expect(got, (320, SHUTDOWN_TEXT, 0, 0), "%s: connection %d gets connection.close"
               % (name, i))
        c.send_method(0, 10, 51)
    try:
        expect(wait_broker(10), 0, "%s: the broker exits with status" % name)
    except RuntimeError as error:
        check(False, "%s: %s" % (name, error))
    for c in clients:
        c.close()


def main():
    if not can_control_broker():
        print("SKIP: needs the broker started by with_broker.py (WARREN_CONTROL)")
        return SKIP
    shutdown_by(signal.SIGTERM)
    start_broker()
    shutdown_by(signal.SIGINT)
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
