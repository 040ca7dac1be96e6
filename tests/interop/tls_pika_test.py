#!/usr/bin/python3
"""Interop test: AMQP over TLS (listeners.ssl.*, --tls-port, ssl_options.*) as pika and
Python's ssl module see it. TLS 1.2 and 1.3 carry small and multi-frame messages both ways;
versions.N and ciphers.N choose what is negotiated; the refusals are RabbitMQ 3.10's
(observed beside it): a plain AMQP client on the TLS port reads a fatal unexpected_message
alert and a reset, a client that does not trust the server's certificate gives up, and
verify_peer with fail_if_no_peer_cert refuses a client without a certificate (a
handshake_failure alert in TLS 1.2, certificate_required after the handshake in 1.3). A bad
certificate, key or password stops start-up with a message naming the setting."""
import base64
import json
import os
import select
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

import pika

import own_broker
import rawamqp
from own_broker import clean_env, free_port, start
from tls_certs import Certs

WARREN = own_broker.WARREN
VERSIONS = (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
failures = 0


def check(ok, text):
    global failures
    print("%s: %s" % ("PASS" if ok else "FAIL", text), flush=True)
    failures += not ok


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def tls_conf(certs, port, extra=""):
    return ("listeners.ssl.default = 127.0.0.1:%d\n"
            "ssl_options.cacertfile = %s\nssl_options.certfile = %s\nssl_options.keyfile = %s\n"
            % (port, certs.ca, certs.server_cert, certs.server_key)) + extra


def client_context(cafile, version=None, cert=None):
    ctx = ssl.create_default_context(cafile=cafile)
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    if cert:
        ctx.load_cert_chain(*cert)
    return ctx


def pika_connect(port, ctx):
    return pika.BlockingConnection(pika.ConnectionParameters(
        "localhost", port, ssl_options=pika.SSLOptions(ctx, "localhost"),
        connection_attempts=1, socket_timeout=5, blocked_connection_timeout=10))


def pika_outcome(port, ctx):
    """"connected", or the exception pika raised, as text."""
    try:
        c = pika_connect(port, ctx)
    except Exception as e:  # what the client observes is the point
        return "%s: %s" % (type(e).__name__, e)
    c.close()
    return "connected"


def raw_handshake(port, ctx):
    """(version, cipher, first reply byte to the AMQP header), or the ssl error."""
    try:
        with socket.create_connection(("127.0.0.1", port), 5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"AMQP\x00\x00\x09\x01")
                first = s.recv(1)
                return (s.version(), s.cipher()[0], first)
    except (ssl.SSLError, OSError) as e:
        return "%s: %s" % (type(e).__name__, e)


def round_trips(port, ctx, label):
    """Messages of 10 B, 200 KB (two frames and more) and 1 MiB, and a burst of 500 with
    publisher confirms, published and consumed over one TLS connection."""
    c = pika_connect(port, ctx)
    ch = c.channel()
    ch.confirm_delivery()
    q = ch.queue_declare("", exclusive=True).method.queue
    bodies = [b"0123456789", os.urandom(200000), os.urandom(1 << 20)]
    for body in bodies:
        ch.basic_publish("", q, body)
    got = [ch.basic_get(q, auto_ack=True)[2] for _ in bodies]
    check(got == bodies, "%s: 10 B, 200 KB and 1 MiB bodies come back intact" % label)
    for i in range(500):
        ch.basic_publish("", q, b"m%d" % i)
    seen = []
    for _method, _props, body in ch.consume(q, auto_ack=True, inactivity_timeout=5):
        if body is None:
            break
        seen.append(body)
        if len(seen) == 500:
            break
    check(seen == [b"m%d" % i for i in range(500)],
          "%s: 500 confirmed messages consumed in order (%d seen)" % (label, len(seen)))
    ch.cancel()
    c.close()


def held_input(port, ctx):
    """A durable queue.declare holds the connection's input until the definition is on disk
    (the TLS transport stops reading, records stay undecrypted); the 20 publishes sent in
    the same burst behind it are all handled once it resumes. The burst is two TLS records,
    read at once: the second waits in OpenSSL, for nothing more comes from the socket."""
    c = rawamqp.Client("127.0.0.1", port)
    c.sock = ctx.wrap_socket(c.sock, server_hostname="localhost")
    c.send_header()
    c.read_start()
    c.send_start_ok()
    c.read_tune()
    c.send_method(0, 10, 31, rawamqp.tune_ok_args())
    c.send_method(0, 10, 40, rawamqp.open_args())
    c.expect_method(10, 41)
    c.open_channel(1)
    queue = "tls-held-%d" % os.getpid()
    body = b"h" * 1000
    burst = rawamqp.method_frame(1, 50, 10, rawamqp.queue_declare_args(queue, durable=True))
    burst += (rawamqp.method_frame(1, 60, 40, rawamqp.basic_publish_args("", queue)) +
              rawamqp.content_header_frame(1, len(body)) + rawamqp.body_frame(1, body)) * 20
    burst += rawamqp.method_frame(1, 50, 10, rawamqp.queue_declare_args(queue, passive=True))
    c.send(burst)
    c.expect_method(50, 11)
    r = c.expect_method(50, 11, timeout=10).args()
    r.shortstr()
    count = r.long()
    check(count == 20, "over TLS, 20 publishes behind a durable queue.declare (input held "
          "for the disk) are all handled: %d messages" % count)
    c.send_method(1, 50, 40, rawamqp.short(0) + rawamqp.shortstr(queue) + rawamqp.bits(False, False))
    c.expect_method(50, 41)
    c.sock.close()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def idle_memory(pid, plain_port, tls_port, ctx):
    """Connections that each took a 1 MiB message and then idle: the TLS ones hold no copy of
    it (OpenSSL's memory BIOs and the ciphertext buffer shrink once drained). Measured
    against as many plain connections, opened first, whose growth is the baseline."""
    n, body, kept = 30, os.urandom(1 << 20), []

    def open_some(params):
        before = rss_kib(pid)
        for _ in range(n):
            c = pika.BlockingConnection(params)
            ch = c.channel()
            q = ch.queue_declare("", exclusive=True).method.queue
            ch.basic_publish("", q, body)
            ch.basic_get(q, auto_ack=True)
            kept.append(c)
        time.sleep(0.3)
        return rss_kib(pid) - before

    plain = open_some(pika.ConnectionParameters("127.0.0.1", plain_port))
    tls = open_some(pika.ConnectionParameters("localhost", tls_port,
                                              ssl_options=pika.SSLOptions(ctx, "localhost")))
    for c in kept:
        c.close()
    check(tls < plain + n * 256, "%d idle TLS connections after a 1 MiB message each take %d KiB, "
          "%d plain ones %d KiB (TLS may add 256 KiB each at most)" % (n, tls, n, plain))


def plain_client_on_tls_port(port):
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(b"AMQP\x00\x00\x09\x01")
        data, how = b"", "closed"
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                data += d
        except ConnectionResetError:
            how = "reset"
        except socket.timeout:
            how = "still open"
    check((data, how) == (b"\x15\x03\x01\x00\x02\x02\x0a", "reset"),
          "a plain AMQP header on the TLS port gets RabbitMQ's fatal unexpected_message alert, "
          "then a reset: %r, %s" % (data, how))
    try:
        pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, connection_attempts=1,
                                                          socket_timeout=5)).close()
        outcome = "connected"
    except pika.exceptions.AMQPConnectionError as e:
        outcome = type(e).__name__
    check(outcome == "IncompatibleProtocolError",
          "pika without TLS on the TLS port fails as against RabbitMQ: %s" % outcome)


TLS_FIELDS = ("ssl_protocol", "ssl_key_exchange", "ssl_cipher", "ssl_hash", "peer_cert_subject",
              "peer_cert_issuer", "peer_cert_validity")


def api_connections(mgmt_port):
    req = urllib.request.Request("http://127.0.0.1:%d/api/connections" % mgmt_port)
    req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


def listed_connections(mgmt_port):
    """{connection name: its "ssl"} from GET /api/connections."""
    return {c["name"]: c["ssl"] for c in api_connections(mgmt_port)}


def session_fields(mgmt_port):
    """The TLS fields of the only connection the management API lists."""
    listed = api_connections(mgmt_port)
    return tuple(listed[0].get(f) for f in TLS_FIELDS) if len(listed) == 1 else listed


def validity_of(cert_path):
    """The certificate's validity as RabbitMQ shows it: "2026-12-02T13:59:12Z - ..."."""
    decoded = ssl._ssl._test_decode_cert(cert_path)  # pylint: disable=protected-access
    return " - ".join(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ssl.cert_time_to_seconds(
        decoded[k]))) for k in ("notBefore", "notAfter"))


def session_details(mgmt_port, port, certs):
    """What RabbitMQ 3.10 lists for a TLS connection with a client certificate (observed beside
    it with these certificates and Python's default suites)."""
    client = (certs.client_cert, certs.client_key)
    peer = ("O=Warren tests,CN=warren-client", "CN=Warren test CA", validity_of(certs.client_cert))
    for v, suite in ((ssl.TLSVersion.TLSv1_3, ("tlsv1.3", "any", "aes_256_gcm", "aead")),
                     (ssl.TLSVersion.TLSv1_2, ("tlsv1.2", "ecdhe_rsa", "aes_256_gcm", "aead"))):
        c = pika_connect(port, client_context(certs.ca, v, client))
        fields = session_fields(mgmt_port)
        check(fields == suite + peer, "%s: the management API's ssl_* and peer_cert_* fields are "
              "RabbitMQ's: %r" % (v.name, fields))
        c.close()


class CountingRelay:
    """One TCP connection relayed to the broker's port, counting the octets each way."""

    def __init__(self, port):
        self.sent = self.received = 0  # client to broker, broker to client
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, args=(port,), daemon=True)
        self.thread.start()

    def serve(self, port):
        client, _ = self.listener.accept()
        broker = socket.create_connection(("127.0.0.1", port), 5)
        ends = {client: broker, broker: client}
        while ends:
            for s in select.select(list(ends), [], [], 10)[0]:
                data = s.recv(65536)
                if not data:
                    ends.pop(ends.pop(s), None)
                    continue
                if s is client:
                    self.sent += len(data)
                else:
                    self.received += len(data)
                ends[s].sendall(data)
        client.close()
        broker.close()
        self.listener.close()


def socket_octets(mgmt_port, port, ctx):
    """recv_oct and send_oct count the octets on the socket, ciphertext, as RabbitMQ's do."""
    relay = CountingRelay(port)
    c = pika_connect(relay.port, ctx)
    ch = c.channel()
    ch.queue_declare("octets", auto_delete=True)
    ch.basic_publish("", "octets", b"x" * 5000)
    ch.queue_declare("octets", passive=True)
    time.sleep(0.3)
    listed = [(x.get("recv_oct"), x.get("send_oct")) for x in api_connections(mgmt_port)]
    check(listed == [(relay.sent, relay.received)],
          "recv_oct and send_oct are the TLS socket's octets, %r, as the relay counted them: %r"
          % ((relay.sent, relay.received), listed))
    c.close()
    relay.thread.join(5)


def start_fails(args, why_words, label):
    r = subprocess.run([WARREN] + args + ["--data-dir", own_broker.data_dir()],
                       env=clean_env(), capture_output=True, text=True, timeout=10)
    out = r.stdout + r.stderr
    check(r.returncode != 0 and all(w in out for w in why_words),
          "%s stops start-up with a message naming it (status %d): %s"
          % (label, r.returncode, out.strip().splitlines()[-1:] if out.strip() else "nothing"))


def main():
    if not os.access(WARREN, os.X_OK):
        print("FAIL: $WARREN is not the broker binary")
        return 1
    certs = Certs()
    try:
        d = certs.dir
        plain, tlsp = free_port(), free_port()
        # 1. beside the plain listener, verify_none: both versions, both listeners serve
        conf = os.path.join(d, "one.conf")
        write(conf, tls_conf(certs, tlsp))
        mgmt = free_port()
        # ASan keeps freed memory in quarantine: idle_memory's figures would be its
        asan = (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0").lstrip(":")
        proc = start(["--config", conf, "--port", str(plain), "--management-port", str(mgmt),
                      "--prometheus-port", "0"], tlsp, {"ASAN_OPTIONS": asan})
        for v in VERSIONS:
            hs = raw_handshake(tlsp, client_context(certs.ca, v))
            check(isinstance(hs, tuple) and hs[0] == v.name.replace("v1_", "v1.") and hs[2] == b"\x01",
                  "%s handshake, then connection.start for the AMQP header: %r" % (v.name, hs))
            round_trips(tlsp, client_context(certs.ca, v), "pika over %s" % v.name)
        ctx10 = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx10.load_verify_locations(certs.ca)
        ctx10.minimum_version = ctx10.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx10.set_ciphers("ALL:@SECLEVEL=0")
        check(isinstance(raw_handshake(tlsp, ctx10), str), "TLS 1.1 is refused by default")
        held_input(tlsp, client_context(certs.ca))
        idle_memory(proc.pid, plain, tlsp, client_context(certs.ca))
        plain_client_on_tls_port(tlsp)
        outcome = pika_outcome(tlsp, client_context(certs.rogue_ca))
        check("CERTIFICATE_VERIFY_FAILED" in outcome,
              "a client that does not trust the server's CA refuses it: %s" % outcome)
        c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", plain,
                                                              connection_attempts=1))
        check(c.is_open, "the plain listener serves beside the TLS one")
        t = pika_connect(tlsp, client_context(certs.ca))
        listed = listed_connections(mgmt)
        check(set(listed.values()) == {False, True},
              "the management API lists both connections, ssl true for the TLS one: %r" % listed)
        fields = {c["ssl"]: tuple(c.get(f) for f in TLS_FIELDS) for c in api_connections(mgmt)}
        check(fields.get(False) == (None,) * 7 and fields.get(True, ())[:4] ==
              ("tlsv1.3", "any", "aes_256_gcm", "aead") and fields[True][4:] == (None,) * 3,
              "ssl_* fields null on plain TCP, no peer_cert_* without a client certificate: %r"
              % fields)
        t.close()
        c.close()
        socket_octets(mgmt, tlsp, client_context(certs.ca))
        check(own_broker.stop(proc) == 0, "broker exits 0 on SIGTERM")

        # 2. TLS only, verify_peer and fail_if_no_peer_cert; an encrypted key with its password
        tls2 = free_port()
        conf = os.path.join(d, "verify.conf")
        write(conf, tls_conf(certs, tls2).replace(certs.server_key, certs.locked_key) +
              "listeners.tcp = none\nssl_options.verify = verify_peer\n"
              "ssl_options.fail_if_no_peer_cert = true\nssl_options.password = %s\n"
              "ssl_handshake_timeout = 1000\n" % certs.PASSWORD)
        mgmt = free_port()
        proc = start(["--config", conf, "--management-port", str(mgmt), "--prometheus-port", "0"],
                     tls2)
        session_details(mgmt, tls2, certs)
        client = (certs.client_cert, certs.client_key)
        for v, alert in zip(VERSIONS, ("SSLV3_ALERT_HANDSHAKE_FAILURE",
                                       "TLSV13_ALERT_CERTIFICATE_REQUIRED")):
            outcome = pika_outcome(tls2, client_context(certs.ca, v))
            check(alert in outcome, "%s without a client certificate: refused with %s: %s"
                  % (v.name, alert, outcome))
            outcome = pika_outcome(tls2, client_context(certs.ca, v, client))
            check(outcome == "connected", "%s with a trusted client certificate: %s"
                  % (v.name, outcome))
        with socket.create_connection(("127.0.0.1", tls2), 5) as s:
            began = time.monotonic()
            try:
                ended = s.recv(1)
            except OSError as e:
                ended = e
            took = time.monotonic() - began
        check(isinstance(ended, ConnectionResetError) and 0.8 < took < 3,
              "ssl_handshake_timeout = 1000: a client that never starts the TLS handshake is "
              "reset, as by RabbitMQ, after %.1f s (the AMQP handshake_timeout is 10 s): %r"
              % (took, ended))
        check(own_broker.stop(proc) == 0, "broker exits 0 on SIGTERM (TLS only)")

        # 3. versions.N and ciphers.N, with --tls-port instead of the file's listener
        tls3 = free_port()
        conf = os.path.join(d, "narrow.conf")
        write(conf, tls_conf(certs, free_port()) +
              "ssl_options.versions.1 = tlsv1.2\n"
              "ssl_options.ciphers.1 = ECDHE-RSA-AES128-GCM-SHA256\n"
              "ssl_options.honor_cipher_order = true\n")
        proc = start(["--config", conf, "--port", str(free_port()), "--tls-port", str(tls3),
                      "--management-port", "0", "--prometheus-port", "0"], tls3)
        hs = raw_handshake(tls3, client_context(certs.ca))
        check(isinstance(hs, tuple) and hs[:2] == ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"),
              "versions.1 = tlsv1.2 and ciphers.1 are what a client gets: %r" % (hs,))
        hs = raw_handshake(tls3, client_context(certs.ca, ssl.TLSVersion.TLSv1_3))
        check(isinstance(hs, str), "a TLS 1.3 only client is refused: %s" % hs)
        live = pika_connect(tls3, client_context(certs.ca, ssl.TLSVersion.TLSv1_2))
        check(own_broker.stop(proc) == 0, "broker exits 0 on SIGTERM with a TLS connection open")
        try:
            live.process_data_events(time_limit=2)
            closed = "still open"
        except pika.exceptions.ConnectionClosedByBroker as e:
            closed = "%d %s" % (e.reply_code, e.reply_text)
        except pika.exceptions.AMQPError as e:
            closed = repr(e)
        check(closed.startswith("320 CONNECTION_FORCED"),
              "the TLS client hears 320 CONNECTION_FORCED at shutdown: %s" % closed)

        # 4. bad files stop start-up
        garbage = os.path.join(d, "garbage.pem")
        write(garbage, "not a certificate\n")
        base = ["--port", str(free_port()), "--management-port", "0", "--prometheus-port", "0"]
        for name, text, words in (
                ("a certificate file that holds none", tls_conf(certs, free_port()).replace(
                    certs.server_cert, garbage), ["ssl_options.certfile", garbage]),
                ("a key file that holds none", tls_conf(certs, free_port()).replace(
                    certs.server_key, garbage), ["ssl_options.keyfile", garbage]),
                ("a key that is not the certificate's", tls_conf(certs, free_port()).replace(
                    certs.server_key, certs.rogue_key), ["does not match"]),
                ("an encrypted key with a wrong password", tls_conf(certs, free_port()).replace(
                    certs.server_key, certs.locked_key) + "ssl_options.password = wrong\n",
                 ["ssl_options.keyfile", "password"]),
                ("a TLS listener without a certificate",
                 "listeners.ssl.default = 127.0.0.1:%d\n" % free_port(),
                 ["ssl_options.certfile"])):
            conf = os.path.join(d, "bad.conf")
            write(conf, text)
            start_fails(["--config", conf] + base, words, name)
    finally:
        own_broker.kill_leftovers()
        certs.remove()
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
