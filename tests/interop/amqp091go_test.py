#!/usr/bin/python3
"""Interop test: builds go/amqp091_test_main.go against Debian's amqp091-go (offline) and runs it."""

import os
import shutil
import subprocess
import sys
import tempfile

SKIP = 77
BUILD_TIMEOUT_SECONDS = 300
RUN_TIMEOUT_SECONDS = 60
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "go", "amqp091_test_main.go")
# Debian installs Go libraries as a GOPATH tree; GOPATH mode needs no module download.
DEBIAN_GOPATH = "/usr/share/gocode"
LIBRARY_DIR = os.path.join(DEBIAN_GOPATH, "src", "github.com", "rabbitmq", "amqp091-go")
PACKAGES = "golang-go golang-github-rabbitmq-amqp091-go-dev"


def build_dir():
    """Builds go to the build tree, never the source tree (a temporary directory when run by
    hand without BUILDDIR)."""
    root = os.environ.get("BUILDDIR") or os.path.join(
        tempfile.gettempdir(), "warren-interop-%d" % os.getuid())
    return os.path.join(root, "tests", "interop", "go")


def library_files():
    return [os.path.join(LIBRARY_DIR, name) for name in os.listdir(LIBRARY_DIR)
            if name.endswith(".go")]


def stale(program):
    if not os.path.exists(program):
        return True
    built = os.path.getmtime(program)
    return any(os.path.getmtime(path) > built for path in [SOURCE, *library_files()])


def build(go, out_dir, program):
    """None if the program is up to date (or was just built), else why the build failed."""
    if not stale(program):
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
    out_dir = build_dir()
    program = os.path.join(out_dir, "amqp091_test_main")
    failure = build(go, out_dir, program)
    if failure:
        print("FAIL: %s" % failure)
        return 1
    print("running %s" % program, flush=True)
    try:
        return subprocess.run([program], stdin=subprocess.DEVNULL,
                              timeout=RUN_TIMEOUT_SECONDS).returncode
    except subprocess.TimeoutExpired:
        print("FAIL: amqp091_test_main did not finish within %d s" % RUN_TIMEOUT_SECONDS)
        return 1


if __name__ == "__main__":
    sys.exit(main())
