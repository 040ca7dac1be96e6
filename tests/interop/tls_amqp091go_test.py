#!/usr/bin/python3
"""Interop test: amqp091-go over TLS 1.2 and 1.3 against a Warren with a TLS listener and
verify_peer (go_tls/amqp091_tls_main.go, built against Debian's amqp091-go, offline)."""

import os
import sys

import own_broker
from checks import run_program
from gobuild import amqp091go_program
from own_broker import free_port, start
from tls_certs import Certs

RUN_TIMEOUT_SECONDS = 60


def main():
    program, status = amqp091go_program("go_tls", "amqp091_tls_main")
    if not program:
        return status
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
