#!/usr/bin/python3
"""Interop test: builds go/amqp091_test_main.go against Debian's amqp091-go (offline) and runs it."""

import os
import shutil
import subprocess
import sys

from checks import SKIP, TESTS_DIR, build_tree_dir, run_program, stale

BUILD_TIMEOUT_SECONDS = 300
RUN_TIMEOUT_SECONDS = 60
SOURCE = os.path.join(TESTS_DIR, "go", "amqp091_test_main.go")
# Debian installs Go libraries as a GOPATH tree; GOPATH mode needs no module download.
DEBIAN_GOPATH = "/usr/share/gocode"
LIBRARY_DIR = os.path.join(DEBIAN_GOPATH, "src", "github.com", "rabbitmq", "amqp091-go")
PACKAGES = "golang-go golang-github-rabbitmq-amqp091-go-dev"


def library_files():
    return [os.path.join(LIBRARY_DIR, name) for name in os.listdir(LIBRARY_DIR)
            if name.endswith(".go")]


def build(go, out_dir, program):
    """None if the program is up to date (or was just built), else why the build failed."""
    if not stale(program, [SOURCE, *library_files()]):
        return None
    os.makedirs(out_dir, exist_ok=True)
    env = dict(os.environ, GO111MODULE="off", GOPATH=DEBIAN_GOPATH, GOFLAGS="",
               GOPROXY="off", GOCACHE=os.path.join(out_dir, "cache"))
    command = [go, "build", "-o", program, SOURCE]
    print("building: GO111MODULE=off GOPATH=%s %s" % (DEBIAN_GOPATH, " ".join(command)),
          flush=True)
    try:
        result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL,
                                timeout=BUILD_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return "go build did not finish within %d s" % BUILD_TIMEOUT_SECONDS
    return None if result.returncode == 0 else "go build exited with %d" % result.returncode


def main():
    go = shutil.which("go")
    if go is None or not os.path.isdir(LIBRARY_DIR):
        print("SKIP: go or amqp091-go is missing (install %s)" % PACKAGES)
        return SKIP
    out_dir = build_tree_dir("go")
    program = os.path.join(out_dir, "amqp091_test_main")
    failure = build(go, out_dir, program)
    if failure:
        print("FAIL: %s" % failure)
        return 1
    return run_program([program], "amqp091_test_main", RUN_TIMEOUT_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
