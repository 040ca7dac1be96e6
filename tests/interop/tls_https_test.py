#!/usr/bin/python3
"""Interop test: the management API and Prometheus over HTTPS (management.ssl.*, prometheus.ssl.*).
curl and Python's ssl fetch /api/overview, which lists the listeners as https and
https/prometheus; a plain HTTP request on the HTTPS port gets no HTTP answer; a client that
does not trust the CA is refused; verify_peer with fail_if_no_peer_cert wants a client
certificate; rabbitmqadmin --ssl lists queues; /metrics over HTTPS passes promtool; SIGHUP
serves a new certificate to new connections while an open one keeps working; a bad
certificate stops start-up naming its key.

Against a RabbitMQ already running (WARREN unset; HTTPS_MANAGEMENT_PORT, HTTPS_PROMETHEUS_PORT,
HTTPS_CA name its HTTPS ports and the CA that signed their certificate for localhost;
AMQP_PORT its AMQP port) it checks what needs no broker of its own."""
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

import pika

import own_broker
from checks import SKIP, check, exit_status, expect, unique
from own_broker import free_port, start, wait_for_log
from tls_certs import Certs

WARREN = own_broker.WARREN
RABBITMQADMIN = os.environ.get("RABBITMQADMIN", "/usr/lib/rabbitmq/lib/rabbitmq_server-3.10.8/"
                               "plugins/rabbitmq_management-3.10.8/priv/www/cli/rabbitmqadmin")
AUTH = "Basic " + base64.b64encode(b"guest:guest").decode()


def https_get(port, path, cafile, cert=None, conn=None):
    """GET over HTTPS with Python's ssl: (status, body); raises what the client raises."""
    own = conn is None
    if own:
        ctx = ssl.create_default_context(cafile=cafile)
        if cert:
            ctx.load_cert_chain(*cert)
        conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": AUTH})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        if own:
            conn.close()


def outcome(port, cafile, cert=None):
    """What a client sees asking for /api/overview: "200", or the exception."""
    try:
        return str(https_get(port, "/api/overview", cafile, cert)[0])
    except Exception as e:  # what the client observes is the point
        return "%s: %s" % (type(e).__name__, e)


def check_overview_with_curl(port, cafile):
    result = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", cafile, "-u",
                             "guest:guest", "-w", "\n%{http_code}",
                             "https://localhost:%d/api/overview" % port],
                            capture_output=True, timeout=30)
    body, _, code = result.stdout.decode().rpartition("\n")
    expect((result.returncode, code), (0, "200"), "curl --cacert GET /api/overview over HTTPS")
    try:
        overview = json.loads(body)
    except ValueError:
        overview = {}
    check("management_version" in overview and "listeners" in overview,
          "curl gets the overview's JSON")
    return overview


def listener_ports(overview, protocol):
    return sorted(l["port"] for l in overview.get("listeners", []) if l.get("protocol") == protocol)


def check_plain_http_refused(port):
    """A plain HTTP request on the HTTPS port: whatever comes back is not HTTP."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /api/overview HTTP/1.1\r\nHost: localhost\r\n\r\n")
        got = b""
        try:
            while len(got) < 64:
                part = s.recv(64)
                if not part:
                    break
                got += part
        except OSError:
            pass
    check(not got.startswith(b"HTTP/"), "a plain HTTP request on the HTTPS port gets no HTTP "
          "answer (got %r)" % got[:16])
    check(got[:1] == b"\x15", "it gets a TLS alert record instead")


def check_untrusted_refused(port, rogue_ca):
    o = outcome(port, rogue_ca)
    check("CERTIFICATE_VERIFY_FAILED" in o, "a client that does not trust the CA is refused: %s" % o)


def check_rabbitmqadmin(port, cafile, amqp_port):
    if not os.path.exists(RABBITMQADMIN):
        check(False, "rabbitmqadmin is at %s (RABBITMQADMIN)" % RABBITMQADMIN)
        return
    queue = unique("https-q")
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", amqp_port))
    conn.channel().queue_declare(queue)
    try:
        result = subprocess.run(["/usr/bin/python3", RABBITMQADMIN, "--ssl", "--ssl-ca-cert-file",
                                 cafile, "-H", "localhost", "-P", str(port), "-u", "guest", "-p",
                                 "guest", "-f", "tsv", "-q", "list", "queues", "name"],
                                capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        names = result.stdout.decode().split()
        check(result.returncode == 0 and queue in names,
              "rabbitmqadmin --ssl --ssl-ca-cert-file lists queues (status %d, %s)"
              % (result.returncode, result.stderr.decode().strip()[-200:]))
    finally:
        conn.channel().queue_delete(queue)
        conn.close()


def check_metrics(port, cafile):
    status, body = https_get(port, "/metrics", cafile)
    expect(status, 200, "GET /metrics over HTTPS")
    check(b"rabbitmq_" in body, "/metrics over HTTPS has rabbitmq_ families")
    promtool = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not check(promtool is not None, "promtool is installed (PROMTOOL)"):
        return
    result = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                            timeout=60)
    output = (result.stdout + result.stderr).decode()
    findings = [line for line in output.splitlines() if line.startswith("rabbitmq_")]
    check(result.returncode in (0, 3) and "error while linting" not in output and not findings,
          "promtool check metrics accepts /metrics served over HTTPS (status %d)"
          % result.returncode)


def step(what, *args):
    """Runs one group of checks; an exception the client raises is a FAIL, not the end."""
    try:
        return what(*args)
    except Exception as e:  # what the client observes is the point
        check(False, "%s: %s: %s" % (what.__name__, type(e).__name__, e))
        return None


def check_python_clients(mport, ca, overview):
    status, body = https_get(mport, "/api/overview", ca)
    expect(status, 200, "Python's ssl GET /api/overview over HTTPS")
    check(json.loads(body).get("listeners") == overview.get("listeners"),
          "and the same JSON (listeners)")
    ctx = ssl.create_default_context(cafile=ca)
    request = urllib.request.Request("https://localhost:%d/api/whoami" % mport,
                                     headers={"Authorization": AUTH})
    with urllib.request.urlopen(request, context=ctx, timeout=10) as r:
        expect(json.loads(r.read()).get("name"), "guest", "urllib over HTTPS: /api/whoami")


def check_common(mport, pport, amqp_port, ca, rogue_ca):
    overview = check_overview_with_curl(mport, ca)
    expect(listener_ports(overview, "https"), [mport], "/api/overview lists the https listener")
    expect(listener_ports(overview, "https/prometheus"), [pport],
           "and the https/prometheus listener")
    step(check_python_clients, mport, ca, overview)
    step(check_plain_http_refused, mport)
    step(check_plain_http_refused, pport)
    step(check_untrusted_refused, mport, rogue_ca)
    step(check_rabbitmqadmin, mport, ca, amqp_port)
    step(check_metrics, pport, ca)
    return overview


def ssl_lines(prefix, port, cert, key, ca=None, extra=""):
    lines = "%s.port = %d\n%s.certfile = %s\n%s.keyfile = %s\n" % (prefix, port, prefix, cert,
                                                                   prefix, key)
    if ca:
        lines += "%s.cacertfile = %s\n" % (prefix, ca)
    return lines + extra


def write_conf(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def https_only(certs):
    """management.ssl.* and prometheus.ssl.* alone: only HTTPS, reloaded on SIGHUP."""
    d = certs.dir
    live_cert, live_key = os.path.join(d, "live.pem"), os.path.join(d, "live.key")
    shutil.copy(certs.server_cert, live_cert)
    shutil.copy(certs.server_key, live_key)
    amqp, mport, pport = free_port(), free_port(), free_port()
    conf = write_conf(os.path.join(d, "https.conf"),
                      "listeners.tcp.default = 127.0.0.1:%d\n" % amqp +
                      ssl_lines("management.ssl", mport, live_cert, live_key, certs.ca) +
                      ssl_lines("prometheus.ssl", pport, live_cert, live_key))
    log = os.path.join(d, "https.log")
    proc = start(["--config", conf], amqp, stderr_path=log)
    try:
        for _ in range(50):
            if own_broker.listening(mport) and own_broker.listening(pport):
                break
            time.sleep(0.1)
        overview = check_common(mport, pport, amqp, certs.ca, certs.rogue_ca)
        expect(listener_ports(overview, "http") + listener_ports(overview, "http/prometheus"), [],
               "with only the ssl keys set, no plain HTTP listener (as RabbitMQ)")

        ctx = ssl.create_default_context(cafile=certs.ca)
        before = http.client.HTTPSConnection("localhost", mport, context=ctx, timeout=10)
        expect(https_get(mport, "/api/overview", None, conn=before)[0], 200,
               "a keep-alive HTTPS connection opened before SIGHUP")
        shutil.copy(certs.rogue_cert, live_cert)
        shutil.copy(certs.rogue_key, live_key)
        proc.send_signal(signal.SIGHUP)
        check(wait_for_log(log, "management API HTTPS certificates and key reloaded") and
              wait_for_log(log, "Prometheus HTTPS certificates and key reloaded"),
              "SIGHUP: both HTTPS reloads are logged")
        expect(outcome(mport, certs.rogue_ca), "200", "after SIGHUP a new client gets the new "
               "certificate")
        check("CERTIFICATE_VERIFY_FAILED" in outcome(mport, certs.ca), "and no longer the old one")
        expect(https_get(pport, "/metrics", certs.rogue_ca)[0], 200,
               "Prometheus serves the new certificate too")
        expect(https_get(mport, "/api/overview", None, conn=before)[0], 200,
               "the connection opened before SIGHUP still answers")
        with open(live_cert, "w") as f:
            f.write("half a certificate\n")
        proc.send_signal(signal.SIGHUP)
        check(wait_for_log(log, "management API HTTPS certificates not reloaded, the old ones "
                           "stay: management.ssl.certfile"),
              "SIGHUP with a bad certificate file: logged, naming the key")
        expect(outcome(mport, certs.rogue_ca), "200", "the last good certificate is still served")
        expect(https_get(mport, "/api/overview", None, conn=before)[0], 200,
               "and the old connection still answers")
        before.close()
        check(proc.poll() is None, "the broker runs on after both reloads")
    finally:
        expect(own_broker.stop(proc), 0, "broker exits 0 on SIGTERM")


def peer_verified(certs):
    """verify_peer + fail_if_no_peer_cert; management.tcp.port as well: both are served."""
    amqp, hport, mport = free_port(), free_port(), free_port()
    conf = write_conf(os.path.join(certs.dir, "verify.conf"),
                      "listeners.tcp.default = 127.0.0.1:%d\nmanagement.tcp.port = %d\n"
                      "management.tcp.ip = 127.0.0.1\nprometheus.tcp.port = 0\n" % (amqp, hport) +
                      ssl_lines("management.ssl", mport, certs.server_cert, certs.server_key,
                                certs.ca, "management.ssl.verify = verify_peer\n"
                                "management.ssl.fail_if_no_peer_cert = true\n"))
    proc = start(["--config", conf], amqp, stderr_path=os.path.join(certs.dir, "verify.log"))
    try:
        for _ in range(50):
            if own_broker.listening(mport):
                break
            time.sleep(0.1)
        o = outcome(mport, certs.ca)
        check(o != "200" and ("SSL" in o or "reset" in o.lower() or "EOF" in o),
              "verify_peer + fail_if_no_peer_cert: a client without a certificate is refused: %s" % o)
        expect(outcome(mport, certs.ca, (certs.client_cert, certs.client_key)), "200",
               "a client with a certificate the CA signed is served")
        c = http.client.HTTPConnection("127.0.0.1", hport, timeout=10)
        c.request("GET", "/api/overview", headers={"Authorization": AUTH})
        r = c.getresponse()
        overview = json.loads(r.read())
        c.close()
        expect(r.status, 200, "with management.tcp.port set too, plain HTTP is served as well")
        expect((listener_ports(overview, "http"), listener_ports(overview, "https")),
               ([hport], [mport]), "and both are listed")
    finally:
        expect(own_broker.stop(proc), 0, "broker exits 0 on SIGTERM")


def bad_certificate(certs):
    bad = write_conf(os.path.join(certs.dir, "bad.pem"), "not a certificate\n")
    amqp = free_port()
    conf = write_conf(os.path.join(certs.dir, "bad.conf"),
                      "listeners.tcp.default = 127.0.0.1:%d\n" % amqp +
                      ssl_lines("prometheus.ssl", free_port(), bad, certs.server_key))
    result = subprocess.run([WARREN, "--config", conf, "--data-dir", own_broker.data_dir()],
                            capture_output=True, timeout=30, env=own_broker.clean_env())
    named = [line for line in result.stderr.decode().splitlines()
             if "prometheus.ssl.certfile %s" % bad in line]
    check(result.returncode == 1 and named,
          "a bad prometheus.ssl.certfile stops start-up with a message naming it (status %d): %s"
          % (result.returncode, named))


def against_running_broker():
    mport, pport = os.environ.get("HTTPS_MANAGEMENT_PORT"), os.environ.get("HTTPS_PROMETHEUS_PORT")
    ca, amqp = os.environ.get("HTTPS_CA"), os.environ.get("AMQP_PORT")
    if not (mport and pport and ca and amqp):
        print("SKIP: neither $WARREN nor HTTPS_MANAGEMENT_PORT, HTTPS_PROMETHEUS_PORT, HTTPS_CA "
              "and AMQP_PORT")
        return SKIP
    certs = Certs()  # for a CA nobody trusts
    try:
        check_common(int(mport), int(pport), int(amqp), ca, certs.rogue_ca)
    finally:
        certs.remove()
    return exit_status()


def main():
    if not WARREN:
        return against_running_broker()
    if not os.access(WARREN, os.X_OK):
        print("FAIL: $WARREN is not the broker binary")
        return 1
    certs = Certs()
    try:
        step(https_only, certs)
        step(peer_verified, certs)
        step(bad_certificate, certs)
    finally:
        own_broker.kill_leftovers()
        certs.remove()
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
