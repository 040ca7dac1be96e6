#!/usr/bin/python3
"""Interop test (Warren): failed logins are refused as RabbitMQ refuses them (403
ACCESS_REFUSED to pika, which asks for authentication_failure_close), whether the user is
unknown or the password wrong, and a client failing in a loop does not fill the log: failed
logins are logged once a second at most, the next line counting those left out."""
import os
import re
import time

import pika

from checks import HOST, PORT, SKIP, check, exit_status


def fail_login(user, password):
    try:
        pika.BlockingConnection(pika.ConnectionParameters(
            HOST, PORT, credentials=pika.PlainCredentials(user, password),
            connection_attempts=1, socket_timeout=5)).close()
        return "logged in"
    except pika.exceptions.ProbableAuthenticationError as e:
        return "refused: %s" % e
    except pika.exceptions.AMQPConnectionError as e:
        return "refused: %r" % e


def log_lines(path):
    with open(path, errors="replace") as f:
        return [line for line in f if "login refused" in line]


def main():
    log = os.environ.get("WARREN_LOG")
    if os.environ.get("AMQP_EXPECT_PRODUCT") != "Warren" or not log:
        print("SKIP: Warren's log is what this test reads")
        return SKIP
    before = len(log_lines(log))
    started = time.monotonic()
    outcomes = [fail_login("nobody-%d" % i if i % 2 else "guest", "wrong") for i in range(20)]
    took = time.monotonic() - started
    check(all(o.startswith("refused") and "ACCESS_REFUSED" in o for o in outcomes),
          "20 failed logins, unknown users and a wrong password, all refused with 403 (%s)"
          % outcomes[0])
    burst = log_lines(log)[before:]
    seconds = int(took) + 1
    check(1 <= len(burst) <= seconds + 1,
          "%d failures in %.1f s made %d log lines (at most one a second)"
          % (len(outcomes), took, len(burst)))
    time.sleep(1.1)
    fail_login("guest", "wrong again")
    time.sleep(0.2)
    last = log_lines(log)[-1]
    left_out = re.search(r"and (\d+) more failed logins", last)
    check(left_out and int(left_out.group(1)) >= len(outcomes) - len(burst),
          "a second later the next failure is logged with the count left out: %s" % last.strip())
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
