#!/usr/bin/python3
"""Interop test: runs node/amqplib_test.js (amqplib, pinned in node/package-lock.json) against the broker."""

import os
import shutil
import sys

from checks import SKIP, TESTS_DIR, run_program

TIMEOUT_SECONDS = 60
NODE_DIR = os.path.join(TESTS_DIR, "node")
# amqplib is installed beside the script, where node's require() finds it.
INSTALL_COMMAND = "npm ci --prefix %s" % NODE_DIR


def main():
    node = shutil.which("node")
    if node is None:
        print("SKIP: node not found (Node.js is needed for the amqplib test)")
        return SKIP
    if not os.path.isfile(os.path.join(NODE_DIR, "node_modules", "amqplib", "package.json")):
        print("SKIP: amqplib is not installed; run: %s" % INSTALL_COMMAND)
        return SKIP
    command = [node, os.path.join(NODE_DIR, "amqplib_test.js")]
    return run_program(command, "amqplib_test.js", TIMEOUT_SECONDS, cwd=NODE_DIR)


if __name__ == "__main__":
    sys.exit(main())
