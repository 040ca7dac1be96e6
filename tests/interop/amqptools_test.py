#!/usr/bin/python3
"""Interop test: amqp-tools (rabbitmq-c CLIs) log in, open/close a channel, get refused properly."""

import shutil
import subprocess
import sys

from checks import HOST, PORT, SKIP, check, exit_status

TIMEOUT_SECONDS = 10


def publish_nothing(*options):
    """amqp-publish in line mode with an empty stdin sends no basic.publish: it only does
    the handshake, channel.open 1, channel.close and connection.close."""
    command = ["amqp-publish", *options, "--exchange", "amq.direct", "--routing-key", "x",
               "--line-buffered"]
    try:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return None, "timed out after %d s" % TIMEOUT_SECONDS
    return result.returncode, (result.stdout + result.stderr).strip()


def check_succeeds(what, *options):
    status, output = publish_nothing(*options)
    check(status == 0, "%s: exit status 0 (got %s)%s" % (
        what, status, "; output: " + output if output else ""))


def check_refused(what, expected_code, expected_text, *options):
    status, output = publish_nothing(*options)
    check(status == 1 and "server connection error %d" % expected_code in output
          and expected_text in output,
          "%s: refused with %d %s (status %s; output: %s)"
          % (what, expected_code, expected_text, status, output))


def main():
    if shutil.which("amqp-publish") is None:
        print("SKIP: amqp-publish not found (install the amqp-tools package)")
        return SKIP
    server = ("--server", HOST, "--port", str(PORT))
    check_succeeds("login and channel open/close", *server)
    check_succeeds("login with heartbeat 7", *server, "--heartbeat", "7")
    check_succeeds("login by URL", "--url", "amqp://guest:guest@%s:%s/%%2f" % (HOST, PORT))
    check_refused("wrong password", 403, "ACCESS_REFUSED", *server, "--password", "wrong")
    check_refused("unknown vhost", 530, "NOT_ALLOWED", *server, "--vhost", "no-such-vhost")
    check_succeeds("login after refusals", *server)
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
