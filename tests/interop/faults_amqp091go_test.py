#!/usr/bin/python3
"""Interop test: fault injection as amqp091-go sees it. Restarts the broker with
--enable-fault-injection, builds go/faults_amqp091go_main.go against Debian's amqp091-go
(offline, GOPATH mode, as amqp091go_test.py does) and runs it: close, block, cut (now and
mid-frame), nack, channel close, refused declare/consume, alarm, stopped heartbeats, each
through the client's own error or notification path, with a bystander connection unaffected."""

import sys

import checks
from checks import run_program
from gobuild import amqp091go_program

RUN_TIMEOUT_SECONDS = 90


def main():
    program, status = amqp091go_program("go", "faults_amqp091go_main")
    if not program:
        return status
    checks.restart_broker(["--enable-fault-injection"])
    return run_program([program], "faults_amqp091go_main", RUN_TIMEOUT_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
