#!/usr/bin/python3
"""Interop test: SIGHUP reloads the TLS certificate and key under live connections. A pika
connection opened before the reload keeps working; clients that come after it see the new
certificate; a file that cannot be loaded at a reload is logged and the last good one
stays."""
import os
import shutil
import signal
import ssl
import sys
import time

import pika

import own_broker
from own_broker import free_port, start, wait_for_log
from tls_certs import Certs

WARREN = own_broker.WARREN
failures = 0


def check(ok, text):
    global failures
    print("%s: %s" % ("PASS" if ok else "FAIL", text), flush=True)
    failures += not ok


def connect(port, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    return pika.BlockingConnection(pika.ConnectionParameters(
        "localhost", port, ssl_options=pika.SSLOptions(ctx, "localhost"),
        connection_attempts=1, socket_timeout=5))


def outcome(port, cafile):
    try:
        connect(port, cafile).close()
        return "connected"
    except Exception as e:  # what the client observes is the point
        return "%s: %s" % (type(e).__name__, e)


def still_works(c, label):
    ch = c.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"after " + label.encode())
    got = ch.basic_get(q, auto_ack=True)[2]
    check(got == b"after " + label.encode(),
          "the connection opened before %s still publishes and gets" % label)
    ch.close()


def main():
    if not os.access(WARREN, os.X_OK):
        print("FAIL: $WARREN is not the broker binary")
        return 1
    certs = Certs()
    try:
        d = certs.dir
        live_cert, live_key = os.path.join(d, "live.pem"), os.path.join(d, "live.key")
        shutil.copy(certs.server_cert, live_cert)
        shutil.copy(certs.server_key, live_key)
        port = free_port()
        conf = os.path.join(d, "reload.conf")
        with open(conf, "w") as f:
            f.write("listeners.tcp = none\nlisteners.ssl.default = 127.0.0.1:%d\n"
                    "ssl_options.certfile = %s\nssl_options.keyfile = %s\n"
                    % (port, live_cert, live_key))
        log = os.path.join(d, "broker.log")
        proc = start(["--config", conf, "--management-port", "0", "--prometheus-port", "0"],
                     port, stderr_path=log)
        check(outcome(port, certs.ca) == "connected", "the first certificate is served")
        before = connect(port, certs.ca)

        shutil.copy(certs.rogue_cert, live_cert)
        shutil.copy(certs.rogue_key, live_key)
        proc.send_signal(signal.SIGHUP)
        check(wait_for_log(log, "TLS certificates and key reloaded"), "SIGHUP: the reload is logged")
        check(outcome(port, certs.rogue_ca) == "connected",
              "after SIGHUP a new client gets the new certificate")
        o = outcome(port, certs.ca)
        check("CERTIFICATE_VERIFY_FAILED" in o, "and no longer the old one: %s" % o)
        still_works(before, "the reload")

        with open(live_cert, "w") as f:
            f.write("half a certificate\n")
        proc.send_signal(signal.SIGHUP)
        check(wait_for_log(log, "TLS certificates not reloaded, the old ones stay"),
              "SIGHUP with a bad certificate file: logged, why included")
        check(outcome(port, certs.rogue_ca) == "connected",
              "the last good certificate is still served")
        still_works(before, "a failed reload")
        before.close()
        check(proc.poll() is None, "the broker runs on after both reloads")
        check(own_broker.stop(proc) == 0, "broker exits 0 on SIGTERM")
    finally:
        own_broker.kill_leftovers()
        certs.remove()
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
