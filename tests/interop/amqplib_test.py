#!/usr/bin/python3
"""Interop test: runs node/amqplib_test.js (amqplib, pinned in node/package-lock.json) against the broker."""

import os
import shutil
import subprocess
import sys

SKIP = 77
TIMEOUT_SECONDS = 60
NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")
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
    print("running %s" % " ".join(command), flush=True)
    try:
        return subprocess.run(command, cwd=NODE_DIR, stdin=subprocess.DEVNULL,
                              timeout=TIMEOUT_SECONDS).returncode
    except subprocess.TimeoutExpired:
        print("FAIL: amqplib_test.js did not finish within %d s" % TIMEOUT_SECONDS)
        return 1


if __name__ == "__main__":
    sys.exit(main())
