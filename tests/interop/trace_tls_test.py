#!/usr/bin/python3
"""A frame trace of a TLS connection holds the plaintext AMQP frames: its JSON shows the
methods pika sent, and its pcap (the broker on 5672) decodes in tshark's AMQP dissector
(that part skipped, with a message, without tshark)."""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

import pika

import own_broker
from own_broker import free_port, start
from tls_certs import Certs

failures = 0


def check(ok, text):
    global failures
    print("%s: %s" % ("PASS" if ok else "FAIL", text), flush=True)
    failures += not ok


def api(mgmt, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (mgmt, path), data=data, method=method,
                                 headers={"Authorization": "Basic " +
                                          base64.b64encode(b"guest:guest").decode()})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read()


def main():
    if not os.access(own_broker.WARREN, os.X_OK):
        print("FAIL: $WARREN is not the broker binary")
        return 1
    certs = Certs()
    tls_port, mgmt = free_port(), free_port()
    conf = os.path.join(certs.dir, "tls.conf")
    with open(conf, "w") as f:
        f.write("listeners.ssl.default = 127.0.0.1:%d\nssl_options.cacertfile = %s\n"
                "ssl_options.certfile = %s\nssl_options.keyfile = %s\n"
                % (tls_port, certs.ca, certs.server_cert, certs.server_key))
    proc = start(["--config", conf, "--port", str(free_port()), "--management-port", str(mgmt),
                  "--prometheus-port", "0"], tls_port)
    try:
        ctx = __import__("ssl").create_default_context(cafile=certs.ca)
        conn = pika.BlockingConnection(pika.ConnectionParameters(
            "localhost", tls_port, ssl_options=pika.SSLOptions(ctx, "localhost"),
            connection_attempts=1))
        listed = json.loads(api(mgmt, "GET", "/api/connections")[1])
        check(len(listed) == 1 and listed[0]["ssl"], "one TLS connection listed")
        path = "/api/warren/traces/connections/" + urllib.parse.quote(listed[0]["name"], safe="")
        check(api(mgmt, "PUT", path, {})[0] == 201, "PUT starts the trace")
        ch = conn.channel()
        ch.queue_declare("tls-traced")
        ch.basic_publish("", "tls-traced", b"secret over TLS")
        ch.basic_get("tls-traced", auto_ack=True)
        trace = json.loads(api(mgmt, "GET", path)[1])
        names = [f.get("method") for f in trace]
        check("queue.declare" in names and "basic.publish" in names and "basic.get-ok" in names,
              "the trace holds the plaintext methods: %r" % names)
        check(any(f.get("body_head") == "secret over TLS" for f in trace), "and the body's octets")
        status, pcap = api(mgmt, "GET", path + "?format=pcap")
        check(status == 200 and pcap[:4] == b"\xd4\xc3\xb2\xa1", "a pcap file")
        if not shutil.which("tshark"):
            print("SKIP: tshark not installed (apt-get install tshark): the pcap is not decoded")
        else:
            with tempfile.NamedTemporaryFile(suffix=".pcap") as f:
                f.write(pcap)
                f.flush()
                out = subprocess.run(["tshark", "-r", f.name, "-Y", "amqp", "-T", "fields", "-e",
                                      "amqp.method.class", "-e", "amqp.method.method", "-e",
                                      "amqp.method.arguments.queue"],
                                     capture_output=True, text=True, timeout=60).stdout
                check("50\t10\ttls-traced" in out, "tshark decodes Queue.Declare of the TLS connection")
        conn.close()
    finally:
        check(own_broker.stop(proc) == 0, "the broker stops cleanly")
        shutil.rmtree(certs.dir, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
