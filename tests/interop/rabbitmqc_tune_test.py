#!/usr/bin/python3
"""Interop test: runs the rabbitmq-c tune program (rabbitmqc_tune.c) against the broker."""

import os
import subprocess
import sys

from checks import HOST, PORT, SKIP, run_program

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
    return run_program([program, HOST, str(PORT)], program, TIMEOUT_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
