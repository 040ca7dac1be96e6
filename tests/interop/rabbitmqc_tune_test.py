#!/usr/bin/python3
"""Interop test: runs the rabbitmq-c tune program (rabbitmqc_tune.c) against the broker."""

import os
import subprocess
import sys

SKIP = 77
HOST = os.environ.get("AMQP_HOST", "127.0.0.1")
PORT = os.environ.get("AMQP_PORT", "5672")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT_SECONDS = 60


def librabbitmq_installed():
    """As configure decides it: pkg-config knows librabbitmq."""
    try:
        return subprocess.run(["pkg-config", "--exists", "librabbitmq"]).returncode == 0
    except FileNotFoundError:
        return False


def main():
    build_dir = os.environ.get("BUILDDIR") or REPO_ROOT
    program = os.path.join(build_dir, "tests", "interop", "rabbitmqc_tune")
    if not os.access(program, os.X_OK):
        if not librabbitmq_installed():
            print("SKIP: %s was not built because librabbitmq (rabbitmq-c) is missing; "
                  "install librabbitmq-dev and re-run configure" % program)
            return SKIP
        print("FAIL: %s is missing although librabbitmq is installed (build it with "
              "'make check', or re-run configure)" % program)
        return 1
    print("running %s %s %s" % (program, HOST, PORT), flush=True)
    try:
        return subprocess.run([program, HOST, PORT], timeout=TIMEOUT_SECONDS).returncode
    except subprocess.TimeoutExpired:
        print("FAIL: %s did not finish within %d s" % (program, TIMEOUT_SECONDS))
        return 1


if __name__ == "__main__":
    sys.exit(main())
