#!/usr/bin/python3
"""Interop test: pika negotiates heartbeats (1 s, disabled, server default) and stays connected."""

import sys

from checks import check, exit_status, pika_connection

SERVER_DEFAULT_HEARTBEAT = 60  # RabbitMQ's default, which Warren copies
IDLE_SECONDS = 5
QUIET_SECONDS = 2


def connect(heartbeat):
    """Connect asking for heartbeat (None: take the server's); returns (connection,
    the heartbeat the server proposed in connection.tune)."""
    proposed = []

    def choose(_connection, server_value):
        proposed.append(server_value)
        return server_value if heartbeat is None else heartbeat

    connection = pika_connection(heartbeat=choose, blocked_connection_timeout=None)
    return connection, proposed[0]


def check_channel_and_close(connection, what):
    channel = connection.channel()
    check(channel.is_open, "%s: a channel opens" % what)
    channel.close()
    connection.close()
    check(connection.is_closed, "%s: connection closed cleanly" % what)


def one_second_heartbeat():
    connection, proposed = connect(1)
    check(proposed == SERVER_DEFAULT_HEARTBEAT, "server proposes heartbeat %d (got %d)"
          % (SERVER_DEFAULT_HEARTBEAT, proposed))
    negotiated = connection._impl.params.heartbeat
    check(negotiated == 1, "heartbeat 1 negotiated (got %r)" % negotiated)
    connection.sleep(IDLE_SECONDS)
    check(connection.is_open, "connection still open after %d s idle" % IDLE_SECONDS)
    received = connection._impl._heartbeat_checker._heartbeat_frames_received
    check(received >= IDLE_SECONDS // 2,
          "server sent heartbeats while idle (%d received in %d s)" % (received, IDLE_SECONDS))
    check_channel_and_close(connection, "heartbeat 1")


def heartbeat_disabled():
    connection, proposed = connect(0)
    negotiated = connection._impl.params.heartbeat
    # pika lets the client's value win, so 0 is sent in tune-ok; the server must accept it.
    check(negotiated == 0, "client's heartbeat 0 wins over the server's %d (got %r)"
          % (proposed, negotiated))
    frames_before = connection._impl.frames_received
    connection.sleep(QUIET_SECONDS)
    frames_after = connection._impl.frames_received
    check(frames_after == frames_before,
          "server sends no heartbeats when disabled (%d frames in %d s)"
          % (frames_after - frames_before, QUIET_SECONDS))
    check_channel_and_close(connection, "heartbeat 0")


def server_default_heartbeat():
    connection, proposed = connect(None)
    negotiated = connection._impl.params.heartbeat
    check(negotiated == proposed == SERVER_DEFAULT_HEARTBEAT,
          "no client preference takes the server's %d (got %r)"
          % (SERVER_DEFAULT_HEARTBEAT, negotiated))
    check_channel_and_close(connection, "server heartbeat")


def main():
    one_second_heartbeat()
    heartbeat_disabled()
    server_default_heartbeat()
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
