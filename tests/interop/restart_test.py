#!/usr/bin/python3
"""Interop test: the broker restarted on the same port and data directory (after SIGTERM, and
after kill -9) listens again, takes new clients, and is a fresh process; exercises the
harness's stop/kill/start API that durability tests build on."""
import os
import socket
import sys

import pika

from checks import (HOST, PORT, SKIP, can_control_broker, check, exit_status, expect,
                    kill_broker, pika_connection, start_broker, stop_broker, unique)
from rawamqp import Closed, Timeout, client_in


def command_line(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().decode().split("\0")[:-1]


def refused():
    """Whether a connection to the broker's port is refused (nothing listens)."""
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def round_trip(what):
    """A pika client declares a queue, publishes and gets the message back."""
    connection = pika_connection()
    channel = connection.channel()
    queue = channel.queue_declare(unique("restart"), auto_delete=False).method.queue
    channel.basic_publish("", queue, b"hello")
    _, _, body = channel.basic_get(queue, auto_ack=True)
    expect(body, b"hello", "%s: a client connects, publishes and gets" % what)
    connection.close()
    return queue


def transient_queue_gone(queue, what):
    connection = pika_connection()
    try:
        connection.channel().queue_declare(queue, passive=True)
        check(False, "%s: the transient queue %s survived, so the broker did not restart"
              % (what, queue))
    except pika.exceptions.ChannelClosedByBroker as error:
        expect(error.reply_code, 404, "%s: the transient queue is gone (a fresh broker)" % what)
    connection.close()


def main():
    if not can_control_broker():
        print("SKIP: needs the broker started by with_broker.py (WARREN_CONTROL)")
        return SKIP
    first_pid = int(os.environ["WARREN_PID"])
    first_command = command_line(first_pid)
    check(os.environ["WARREN_DATA_DIR"] in first_command,
          "the broker runs on WARREN_DATA_DIR")
    queue = round_trip("first broker")

    expect(stop_broker(), 0, "SIGTERM: the broker exits with status")
    check(refused(), "nothing listens on port %d while it is stopped" % PORT)
    second_pid = start_broker()
    check(second_pid != first_pid, "started again as a new process (pid %d)" % second_pid)
    expect(command_line(second_pid), first_command, "with the same command line")
    transient_queue_gone(queue, "after a restart")
    round_trip("after a restart")

    raw = client_in("channel")
    expect(kill_broker(), -9, "kill -9: the broker dies of SIGKILL, status")
    try:
        frame = raw.read_frame(3.0)
        check(False, "a client of the killed broker got %s instead of a dropped socket"
              % frame.describe())
    except Closed:
        check(True, "a client of the killed broker sees its socket drop, without a frame")
    except Timeout:
        check(False, "a client of the killed broker still has an open socket after 3 s")
    raw.close()
    check(refused(), "nothing listens on port %d after kill -9" % PORT)
    third_pid = start_broker(["--log-level", "debug"])
    check(third_pid not in (first_pid, second_pid), "started again after kill -9 (pid %d)"
          % third_pid)
    expect(command_line(third_pid), first_command + ["--log-level", "debug"],
           "with the same command line plus the arguments asked for")
    round_trip("after kill -9 and a restart")
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
