#!/usr/bin/python3
"""Interop test: amqp091-go over TLS 1.2 and 1.3 against a Warren with a TLS listener and
verify_peer (go_tls/amqp091_tls_main.go, built against Debian's amqp091-go, offline)."""

import os
import shutil
import subprocess
import sys

import own_broker
from checks import SKIP, TESTS_DIR, build_tree_dir, run_program, stale
from own_broker import free_port, start
from tls_certs import Certs

BUILD_TIMEOUT_SECONDS = 300
RUN_TIMEOUT_SECONDS = 60
SOURCE = os.path.join(TESTS_DIR, "go_tls", "amqp091_tls_main.go")
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
    try:
        result = subprocess.run([go, "build", "-o", program, SOURCE], env=env,
                                stdin=subprocess.DEVNULL, timeout=BUILD_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return "go build did not finish within %d s" % BUILD_TIMEOUT_SECONDS
    return None if result.returncode == 0 else "go build exited with %d" % result.returncode


def main():
    go = shutil.which("go")
    if go is None or not os.path.isdir(LIBRARY_DIR):
        print("SKIP: go or amqp091-go is missing (install %s)" % PACKAGES)
        return SKIP
    out_dir = build_tree_dir("go_tls")
    program = os.path.join(out_dir, "amqp091_tls_main")
    failure = build(go, out_dir, program)
    if failure:
        print("FAIL: %s" % failure)
        return 1
    certs = Certs()
    try:
        port = free_port()
        conf = os.path.join(certs.dir, "go.conf")
        with open(conf, "w") as f:
            f.write("listeners.ssl.default = 127.0.0.1:%d\nssl_options.cacertfile = %s\n"
                    "ssl_options.certfile = %s\nssl_options.keyfile = %s\n"
                    "ssl_options.verify = verify_peer\n"
                    % (port, certs.ca, certs.server_cert, certs.server_key))
        proc = start(["--config", conf, "--port", str(free_port()), "--management-port", "0",
                      "--prometheus-port", "0"], port)
        status = run_program([program, str(port), certs.ca, certs.client_cert, certs.client_key,
                              certs.rogue_ca], "amqp091_tls_main", RUN_TIMEOUT_SECONDS)
        stopped = own_broker.stop(proc)
        print("%s: broker exits 0 on SIGTERM" % ("PASS" if stopped == 0 else "FAIL"))
        return status or (stopped != 0)
    finally:
        own_broker.kill_leftovers()
        certs.remove()


if __name__ == "__main__":
    sys.exit(main())
