#!/usr/bin/python3
"""Interop test: builds go/amqp091_test_main.go against Debian's amqp091-go (offline) and runs it."""

import sys

from checks import run_program
from gobuild import amqp091go_program

RUN_TIMEOUT_SECONDS = 60


def main():
    program, status = amqp091go_program("go", "amqp091_test_main")
    if not program:
        return status
    return run_program([program], "amqp091_test_main", RUN_TIMEOUT_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
