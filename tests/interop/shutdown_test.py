#!/usr/bin/python3
"""Interop test: SIGTERM closes every open connection with 320 CONNECTION_FORCED, as RabbitMQ
words it, and the broker exits with status 0."""
import os
import signal
import sys
import time

from rawamqp import Client, decode_close, open_args, start_ok_args, tune_ok_args

SHUTDOWN_TEXT = "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"


def open_connection():
    c = Client()
    c.send_header()
    c.read_start()
    c.send_method(0, 10, 11, start_ok_args())
    c.read_tune()
    c.send_method(0, 10, 31, tune_ok_args())
    c.send_method(0, 10, 40, open_args())
    c.expect_method(10, 41)
    c.open_channel(1)
    return c


def exited(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] == "Z"  # a zombie has exited
    except FileNotFoundError:
        return True


def main():
    pid = os.environ.get("WARREN_PID")
    if not pid:
        print("SKIP: needs the broker started by with_broker.py (WARREN_PID)")
        return 77
    pid = int(pid)
    clients = [open_connection() for _ in range(3)]
    os.kill(pid, signal.SIGTERM)
    failures = 0
    for i, c in enumerate(clients):
        f = c.read_frame_skip_heartbeats(5.0)
        close = decode_close(f) if f.is_method(10, 50) else None
        ok = close is not None and (close.code, close.text, close.class_id, close.method_id) == \
            (320, SHUTDOWN_TEXT, 0, 0)
        print("%s: connection %d got %r" % ("PASS" if ok else "FAIL", i, close or f))
        failures += not ok
        c.send_method(0, 10, 51)
    deadline = time.monotonic() + 10
    while not exited(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    ok = exited(pid)
    print("%s: broker exited after SIGTERM" % ("PASS" if ok else "FAIL"))
    return 0 if ok and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
