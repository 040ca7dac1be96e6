#!/usr/bin/python3
"""Interop test: SASL EXTERNAL with a verified client certificate (auth_mechanisms.N,
ssl_cert_login_from), as RabbitMQ 3.10 with rabbitmq_auth_mechanism_ssl does it (observed
beside it): connection.start lists PLAIN AMQPLAIN EXTERNAL on TLS whatever the order of
auth_mechanisms.N, and no EXTERNAL on plain TCP; the user is the certificate's subject in
RabbitMQ's RFC 4514 form ("O=Warren tests,CN=warren-client") or its common name; an unknown
user, a client without a certificate and verify_none are refused with 403 ACCESS_REFUSED
"Login was refused using authentication mechanism EXTERNAL". With
ssl_cert_login_from = subject_alternative_name the user is the Nth SAN of
ssl_cert_login_san_type (dns by default, index 0 by default); none there is a refusal."""
import base64
import json
import os
import socket
import ssl
import struct
import sys
import urllib.parse
import urllib.request

import pika

import own_broker
from own_broker import free_port, start
from tls_certs import Certs

WARREN = own_broker.WARREN
CLIENT_DN = "O=Warren tests,CN=warren-client"
REFUSED = "ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL"
failures = 0


def check(ok, text):
    global failures
    print("%s: %s" % ("PASS" if ok else "FAIL", text), flush=True)
    failures += not ok


def context(certs, with_cert=True):
    ctx = ssl.create_default_context(cafile=certs.ca)
    if with_cert:
        ctx.load_cert_chain(certs.client_cert, certs.client_key)
    return ctx


def offered(port, ctx):
    """The mechanisms field of connection.start."""
    s = socket.create_connection(("127.0.0.1", port), 5)
    if ctx:
        s = ctx.wrap_socket(s, server_hostname="localhost")
    with s:
        s.sendall(b"AMQP\x00\x00\x09\x01")
        data = b""
        while len(data) < 7 or len(data) < 8 + struct.unpack(">I", data[3:7])[0]:
            chunk = s.recv(65536)
            if not chunk:
                return None
            data += chunk
    payload = data[7:]
    at = 6 + 4 + struct.unpack(">I", payload[6:10])[0]  # class, method, versions, properties
    n = struct.unpack(">I", payload[at:at + 4])[0]
    return payload[at + 4:at + 4 + n].decode()


def external(port, ctx):
    """(outcome, the user name the broker reports for the connection)."""
    params = dict(host="localhost", port=port, connection_attempts=1, socket_timeout=5,
                  credentials=pika.credentials.ExternalCredentials())
    if ctx:
        params["ssl_options"] = pika.SSLOptions(ctx, "localhost")
    try:
        c = pika.BlockingConnection(pika.ConnectionParameters(**params))
    except Exception as e:  # what the client observes is the point
        return repr(e)
    ch = c.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"by certificate")
    got = ch.basic_get(q, auto_ack=True)[2]
    c.close()
    return "connected" if got == b"by certificate" else "connected, but the get returned %r" % got


def api(port, method, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Authorization", "Basic " + base64.b64encode(b"admin:guest").decode())
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status


def conf(certs, path, tls_port, extra):
    with open(path, "w") as f:
        f.write("listeners.ssl.default = 127.0.0.1:%d\nssl_options.cacertfile = %s\n"
                "ssl_options.certfile = %s\nssl_options.keyfile = %s\n"
                % (tls_port, certs.ca, certs.server_cert, certs.server_key) + extra)
    return path


def main():
    if not os.access(WARREN, os.X_OK):
        print("FAIL: $WARREN is not the broker binary")
        return 1
    certs = Certs()
    try:
        d = certs.dir
        # 1. distinguished_name (the default); EXTERNAL named first, listed last
        tls1, plain1, mgmt = free_port(), free_port(), free_port()
        path = conf(certs, os.path.join(d, "dn.conf"), tls1,
                    "ssl_options.verify = verify_peer\nauth_mechanisms.1 = EXTERNAL\n"
                    "auth_mechanisms.2 = PLAIN\nauth_mechanisms.3 = AMQPLAIN\n")
        proc = start(["--config", path, "--port", str(plain1), "--management-port", str(mgmt),
                      "--prometheus-port", "0", "--default-user", "admin"], tls1)
        got = offered(tls1, context(certs))
        check(got == "PLAIN AMQPLAIN EXTERNAL", "connection.start over TLS offers %r" % got)
        got = offered(plain1, None)
        check(got == "PLAIN AMQPLAIN", "plain TCP offers no EXTERNAL: %r" % got)
        o = external(tls1, context(certs))
        check(REFUSED in o, "EXTERNAL for a certificate whose subject is no user: refused: %s" % o)
        user = urllib.parse.quote(CLIENT_DN, safe="")
        api(mgmt, "PUT", "/api/users/" + user, {"password": "", "tags": ""})
        api(mgmt, "PUT", "/api/permissions/%2F/" + user,
            {"configure": ".*", "write": ".*", "read": ".*"})
        o = external(tls1, context(certs))
        check(o == "connected", "EXTERNAL as user %r (the subject, RFC 4514, last RDN first): %s"
              % (CLIENT_DN, o))
        o = external(tls1, context(certs, with_cert=False))
        check(REFUSED in o, "EXTERNAL without a client certificate: refused: %s" % o)
        o = external(plain1, None)
        check("could not negotiate use of the EXTERNAL" in o,
              "pika does not find EXTERNAL on plain TCP: %s" % o)
        c = pika.BlockingConnection(pika.ConnectionParameters(
            "localhost", tls1, credentials=pika.PlainCredentials("admin", "guest"),
            ssl_options=pika.SSLOptions(context(certs), "localhost"), connection_attempts=1))
        check(c.is_open, "PLAIN still logs in over TLS")
        c.close()
        check(own_broker.stop(proc) == 0, "broker exits 0 on SIGTERM")

        # 2. common_name
        tls2 = free_port()
        path = conf(certs, os.path.join(d, "cn.conf"), tls2,
                    "ssl_options.verify = verify_peer\nauth_mechanisms.1 = EXTERNAL\n"
                    "ssl_cert_login_from = common_name\n")
        proc = start(["--config", path, "--port", str(free_port()), "--management-port", "0",
                      "--prometheus-port", "0", "--default-user", "warren-client"], tls2)
        got = offered(tls2, context(certs))
        check(got == "EXTERNAL", "auth_mechanisms.1 = EXTERNAL alone: only it is offered: %r" % got)
        o = external(tls2, context(certs))
        check(o == "connected", "ssl_cert_login_from = common_name: EXTERNAL as 'warren-client': %s" % o)
        check(own_broker.stop(proc) == 0, "broker exits 0 on SIGTERM (common_name)")

        # 3. subject_alternative_name: type and index
        for extra, user, label in (
                ("", "client.example", "the first DNS SAN by default"),
                ("ssl_cert_login_san_type = dns\nssl_cert_login_san_index = 1\n",
                 "second.example", "san_index = 1: the second DNS SAN"),
                ("ssl_cert_login_san_type = email\n", "client@example.com", "the email SAN"),
                ("ssl_cert_login_san_type = uri\n", "spiffe://warren/client", "the URI SAN"),
                ("ssl_cert_login_san_type = uri\nssl_cert_login_san_index = 1\n", None,
                 "san_index past the URIs there are")):
            port = free_port()
            path = conf(certs, os.path.join(d, "san.conf"), port,
                        "ssl_options.verify = verify_peer\nauth_mechanisms.1 = EXTERNAL\n"
                        "ssl_cert_login_from = subject_alternative_name\n" + extra)
            proc = start(["--config", path, "--port", str(free_port()), "--management-port", "0",
                          "--prometheus-port", "0", "--default-user", user or "client.example"],
                         port)
            o = external(port, context(certs))
            if user:
                check(o == "connected", "%s: EXTERNAL as %r: %s" % (label, user, o))
            else:
                check(REFUSED in o, "%s: refused (RabbitMQ: no name found): %s" % (label, o))
            check(own_broker.stop(proc) == 0, "broker exits 0 on SIGTERM (%s)" % label)

        # 4. verify_none: a certificate nobody checked names no one
        tls3 = free_port()
        path = conf(certs, os.path.join(d, "unsafe.conf"), tls3,
                    "auth_mechanisms.1 = EXTERNAL\nssl_cert_login_from = common_name\n")
        proc = start(["--config", path, "--port", str(free_port()), "--management-port", "0",
                      "--prometheus-port", "0", "--default-user", "warren-client"], tls3)
        o = external(tls3, context(certs))
        check(REFUSED in o, "EXTERNAL with verify_none: refused (RabbitMQ: TLS configuration is "
              "unsafe): %s" % o)
        check(own_broker.stop(proc) == 0, "broker exits 0 on SIGTERM (verify_none)")
    finally:
        own_broker.kill_leftovers()
        certs.remove()
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
