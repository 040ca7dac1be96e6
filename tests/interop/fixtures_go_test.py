#!/usr/bin/python3
"""Interop test: tools/fixtures/warren_test.go's StartWarren under `go test` (GOPATH mode,
Debian's amqp091-go, offline), with fixtures_go/warren_example_test.go."""
import os
import shutil
import subprocess
import sys
import tempfile

from checks import SKIP, TESTS_DIR, build_tree_dir, check, exit_status
from own_broker import WARREN

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(TESTS_DIR)), "tools", "fixtures",
                       "warren_test.go")
EXAMPLE = os.path.join(TESTS_DIR, "fixtures_go", "warren_example_test.go")
DEBIAN_GOPATH = "/usr/share/gocode"
LIBRARY_DIR = os.path.join(DEBIAN_GOPATH, "src", "github.com", "rabbitmq", "amqp091-go")
TIMEOUT_SECONDS = 300


def main():
    go = shutil.which("go")
    if go is None or not os.path.isdir(LIBRARY_DIR):
        print("SKIP: go or amqp091-go is missing (golang-go golang-github-rabbitmq-amqp091-go-dev)")
        return SKIP
    cache = build_tree_dir("go-fixture-cache")
    os.makedirs(cache, exist_ok=True)
    package = tempfile.mkdtemp(prefix="warren-go-fixture.")
    try:
        for source in (FIXTURE, EXAMPLE):
            shutil.copy(source, package)
        env = dict(os.environ, WARREN=WARREN, GO111MODULE="off", GOPATH=DEBIAN_GOPATH,
                   GOFLAGS="", GOPROXY="off", GOCACHE=cache)
        result = subprocess.run([go, "test", "-count=1", "-v", "."], cwd=package, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, timeout=TIMEOUT_SECONDS, text=True)
    finally:
        shutil.rmtree(package, ignore_errors=True)
    print(result.stdout)
    check(result.returncode == 0, "go test passes with StartWarren (exit %d)" % result.returncode)
    for name in ("TestWarrenRoundTrip", "TestWarrenIsFresh"):
        check("--- PASS: %s" % name in result.stdout, "%s passed" % name)
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
