"""Builds the Go interop programs against Debian's amqp091-go, offline in GOPATH mode (no
module download), once per change of the program or the library."""

import os
import shutil
import subprocess

from checks import SKIP, TESTS_DIR, build_tree_dir, stale

BUILD_TIMEOUT_SECONDS = 300
# Debian installs Go libraries as a GOPATH tree; GOPATH mode needs no module download.
DEBIAN_GOPATH = "/usr/share/gocode"
LIBRARY_DIR = os.path.join(DEBIAN_GOPATH, "src", "github.com", "rabbitmq", "amqp091-go")
PACKAGES = "golang-go golang-github-rabbitmq-amqp091-go-dev"


def build(go, source, out_dir, program):
    """None if the program is up to date (or was just built), else why the build failed."""
    library = [os.path.join(LIBRARY_DIR, n) for n in os.listdir(LIBRARY_DIR) if n.endswith(".go")]
    if not stale(program, [source, *library]):
        return None
    os.makedirs(out_dir, exist_ok=True)
    env = dict(os.environ, GO111MODULE="off", GOPATH=DEBIAN_GOPATH, GOFLAGS="",
               GOPROXY="off", GOCACHE=os.path.join(out_dir, "cache"))
    command = [go, "build", "-o", program, source]
    print("building: GO111MODULE=off GOPATH=%s %s" % (DEBIAN_GOPATH, " ".join(command)),
          flush=True)
    try:
        result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL,
                                timeout=BUILD_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return "go build did not finish within %d s" % BUILD_TIMEOUT_SECONDS
    return None if result.returncode == 0 else "go build exited with %d" % result.returncode


def amqp091go_program(source_dir, name):
    """(path of the built program, None), or (None, the exit status: SKIP when Go or the
    library is missing, 1 when the build failed) after saying why. The source is
    tests/interop/SOURCE_DIR/NAME.go; the program goes to the build tree's SOURCE_DIR."""
    go = shutil.which("go")
    if go is None or not os.path.isdir(LIBRARY_DIR):
        print("SKIP: go or amqp091-go is missing (install %s)" % PACKAGES)
        return None, SKIP
    out_dir = build_tree_dir(source_dir)
    program = os.path.join(out_dir, name)
    failure = build(go, os.path.join(TESTS_DIR, source_dir, name + ".go"), out_dir, program)
    if failure:
        print("FAIL: %s" % failure)
        return None, 1
    return program, None
