#!/usr/bin/python3
"""Interop test: fault injection as amqp091-go sees it. Restarts the broker with
--enable-fault-injection, builds go/faults_amqp091go_main.go against Debian's amqp091-go
(offline, GOPATH mode, as amqp091go_test.py does) and runs it: close, block, cut (now and
mid-frame), nack, channel close, refused declare/consume, alarm, stopped heartbeats, each
through the client's own error or notification path, with a bystander connection unaffected."""

import os
import shutil
import subprocess
import sys

import checks
from checks import SKIP, TESTS_DIR, build_tree_dir, run_program, stale

BUILD_TIMEOUT_SECONDS = 300
RUN_TIMEOUT_SECONDS = 90
SOURCE = os.path.join(TESTS_DIR, "go", "faults_amqp091go_main.go")
DEBIAN_GOPATH = "/usr/share/gocode"
LIBRARY_DIR = os.path.join(DEBIAN_GOPATH, "src", "github.com", "rabbitmq", "amqp091-go")
PACKAGES = "golang-go golang-github-rabbitmq-amqp091-go-dev"


def build(go, out_dir, program):
    """None once the program is up to date, else why the build failed."""
    library = [os.path.join(LIBRARY_DIR, n) for n in os.listdir(LIBRARY_DIR) if n.endswith(".go")]
    if not stale(program, [SOURCE, *library]):
        return None
    os.makedirs(out_dir, exist_ok=True)
    env = dict(os.environ, GO111MODULE="off", GOPATH=DEBIAN_GOPATH, GOFLAGS="",
               GOPROXY="off", GOCACHE=os.path.join(out_dir, "cache"))
    command = [go, "build", "-o", program, SOURCE]
    print("building: %s" % " ".join(command), flush=True)
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
    program = os.path.join(out_dir, "faults_amqp091go_main")
    failure = build(go, out_dir, program)
    if failure:
        print("FAIL: %s" % failure)
        return 1
    checks.restart_broker(["--enable-fault-injection"])
    return run_program([program], "faults_amqp091go_main", RUN_TIMEOUT_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
