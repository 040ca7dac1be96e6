#!/usr/bin/python3
"""Interop test: pika sees sane server properties, opens and closes 100 channels, closes cleanly."""

import os
import re
import sys
import time

from checks import HOST, PORT, check, exit_status, pika_connection

CHANNEL_COUNT = 100
LOG_WAIT_SECONDS = 3.0


def check_server_properties(connection):
    properties = connection._impl.server_properties or {}
    product = properties.get("product")
    check(isinstance(product, str) and product != "",
          "server properties carry a product name (%r)" % (product,))
    expected = os.environ.get("AMQP_EXPECT_PRODUCT")
    if expected:
        check(product == expected, "product is %r" % expected)
    capabilities = properties.get("capabilities")
    check(isinstance(capabilities, dict) and len(capabilities) > 0,
          "server properties carry a capabilities table (%s)" % (
              ", ".join(sorted(capabilities)) if isinstance(capabilities, dict) else capabilities))


def check_many_channels(connection):
    channels = [connection.channel() for _ in range(CHANNEL_COUNT)]
    numbers = sorted(channel.channel_number for channel in channels)
    check(numbers == list(range(1, CHANNEL_COUNT + 1)),
          "%d channels opened with distinct numbers 1..%d" % (CHANNEL_COUNT, CHANNEL_COUNT))
    check(all(channel.is_open for channel in channels), "all %d channels are open" % CHANNEL_COUNT)
    for channel in channels:
        channel.close()
    check(all(channel.is_closed for channel in channels),
          "all %d channels are closed after channel.close" % CHANNEL_COUNT)
    another = connection.channel()
    check(another.is_open, "one more channel opens after closing them (number %d)"
          % another.channel_number)
    another.close()
    check(another.is_closed, "that channel closes too")


def connection_log_lines(log_path, client_port):
    """The broker log's lines about this connection: (opening lines, closing lines)."""
    mentions_port = re.compile(r":%d\b" % client_port)
    opening, closing = [], []
    with open(log_path, errors="replace") as log:
        for line in log:
            if not mentions_port.search(line):
                continue
            if re.search(r"clos", line, re.IGNORECASE):
                closing.append(line)
            elif re.search(r"accept|open", line, re.IGNORECASE):
                opening.append(line)
    return opening, closing


def check_broker_log(log_path, client_port):
    # The broker may log the close a moment after close-ok reached us.
    deadline = time.monotonic() + LOG_WAIT_SECONDS
    while True:
        opening, closing = connection_log_lines(log_path, client_port)
        if len(closing) >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check(len(opening) == 1, "broker log has one opening line for client port %d (found %d)"
          % (client_port, len(opening)))
    check(len(closing) == 1, "broker log has one closing line for client port %d (found %d)"
          % (client_port, len(closing)))
    for line in opening + closing:
        print("    log: " + line.rstrip())


def main():
    connection = pika_connection()
    check(connection.is_open, "connected to %s:%d as guest" % (HOST, PORT))
    client_port = connection._impl._transport._sock.getsockname()[1]
    check_server_properties(connection)
    check_many_channels(connection)
    try:
        connection.close()
        closed_cleanly = True
    except Exception as error:  # any exception here is the failure being tested
        closed_cleanly = False
        print("    close raised %r" % error)
    check(closed_cleanly and connection.is_closed, "connection closed cleanly")
    log_path = os.environ.get("WARREN_LOG")
    if log_path:
        check_broker_log(log_path, client_port)
    else:
        print("SKIP: broker log checks (WARREN_LOG not set)")
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
