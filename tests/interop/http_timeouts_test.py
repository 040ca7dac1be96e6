#!/usr/bin/python3
"""Interop test: the management API's and Prometheus's HTTP timeouts as RabbitMQ 3.10 keeps
them (observed beside it): a connection that sends nothing is closed after request_timeout
(5 s by default) without a word, a request begun and not finished in time is answered 408
and closed (dripping bytes does not extend it), and a kept-alive connection idle after a
response is closed after idle_timeout; management.tcp.*, management.ssl.* and prometheus.tcp.*
set them, and the broker goes on serving meanwhile."""
import os
import socket
import ssl
import time

import own_broker
from own_broker import free_port, start
from tls_certs import Certs

failures = 0
GET = b"GET /api/overview HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n\r\n"


def check(ok, text):
    global failures
    print("%s: %s" % ("PASS" if ok else "FAIL", text), flush=True)
    failures += not ok


def closed_after(port, first=b"", drip=None, wrap=None, limit=20):
    """Seconds until the server closes the connection, and what it sent."""
    s = socket.create_connection(("127.0.0.1", port), 5)
    if wrap:
        s = wrap(s)
    began = time.monotonic()
    if first:
        s.sendall(first)
    s.settimeout(0.25)
    got = b""
    while time.monotonic() - began < limit:
        try:
            data = s.recv(4096)
        except (socket.timeout, ssl.SSLWantReadError):
            if drip:
                try:
                    s.sendall(drip)
                except OSError:
                    break
            continue
        except OSError:
            break
        if not data:
            break
        got += data
    s.close()
    return time.monotonic() - began, got


def expect_close(label, result, low, high, starts=b""):
    took, got = result
    check(low <= took <= high and got.startswith(starts) and (starts or not got),
          "%s: closed after %.1f s (%.1f to %.1f expected), sent %r"
          % (label, took, low, high, got[:40]))


def serves(port, path, label):
    request = GET.replace(b"/api/overview", path).replace(b"\r\n\r\n",
                                                          b"\r\nConnection: close\r\n\r\n")
    _, got = closed_after(port, request, limit=5)
    check(got.startswith(b"HTTP/1.1 200"), "%s still serves: %r" % (label, got[:20]))


def main():
    certs = Certs()
    try:
        # the defaults: 5 s for a request, from the connection's start
        mgmt, amqp = free_port(), free_port()
        proc = start(["--port", str(amqp), "--management-port", str(mgmt),
                      "--prometheus-port", "0"], mgmt)
        expect_close("defaults: a client that sends nothing", closed_after(mgmt), 4.5, 7)
        check(own_broker.stop(proc) == 0, "broker exits 0 on SIGTERM")

        mgmt, https, prom, amqp = free_port(), free_port(), free_port(), free_port()
        conf = os.path.join(certs.dir, "timeouts.conf")
        with open(conf, "w") as f:
            f.write("management.tcp.port = %d\nmanagement.tcp.request_timeout = 1000\n"
                    "management.tcp.idle_timeout = 1500\n"
                    "management.ssl.port = %d\nmanagement.ssl.certfile = %s\n"
                    "management.ssl.keyfile = %s\nmanagement.ssl.request_timeout = 1200\n"
                    "prometheus.tcp.port = %d\nprometheus.tcp.request_timeout = 800\n"
                    % (mgmt, https, certs.server_cert, certs.server_key, prom))
        proc = start(["--config", conf, "--port", str(amqp)], mgmt)
        expect_close("request_timeout 1000: nothing sent", closed_after(mgmt), 0.8, 2.5)
        expect_close("a request begun, never finished: 408",
                     closed_after(mgmt, b"GET /api/overview HTTP/1.1\r\n"), 0.8, 2.5,
                     b"HTTP/1.1 408 Request Timeout")
        expect_close("a byte every 0.25 s does not extend it: 408",
                     closed_after(mgmt, b"GET /api/overview HTTP/1.1\r\nX", drip=b"a"), 0.8, 2.5,
                     b"HTTP/1.1 408 Request Timeout")
        expect_close("idle_timeout 1500: kept alive after a response, then closed",
                     closed_after(mgmt, GET), 1.3, 3, b"HTTP/1.1 200 OK")
        ctx = ssl.create_default_context(cafile=certs.ca)
        wrap = lambda s: ctx.wrap_socket(s, server_hostname="localhost")
        expect_close("HTTPS, management.ssl.request_timeout 1200: nothing sent",
                     closed_after(https, wrap=wrap), 1.0, 3)
        expect_close("a TLS handshake never begun", closed_after(https), 1.0, 3)
        expect_close("prometheus.tcp.request_timeout 800: nothing sent", closed_after(prom),
                     0.6, 2.3)
        serves(mgmt, b"/api/overview", "the management API")
        serves(prom, b"/metrics", "Prometheus")
        check(own_broker.stop(proc) == 0, "broker exits 0 on SIGTERM")
    finally:
        own_broker.kill_leftovers()
        certs.remove()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
