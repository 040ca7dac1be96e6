#!/usr/bin/python3
"""Interop test: the throwaway broker of a test suite. --port 0 binds free ports (the
management and Prometheus listeners left at their defaults too, TLS with --tls-port 0), and
one WARREN_READY line on stdout names every listener once it listens, also with fixed ports;
--ephemeral writes nothing to disk whatever the configuration says."""
import base64
import json
import os
import select
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

import pika

from checks import check, exit_status, expect
from own_broker import WARREN, clean_env, free_port
from tls_certs import Certs

READY_TIMEOUT = 10.0
started = []


def start(args, env_extra=None):
    """Starts warren; (process, {key: value} of its READY line, the line)."""
    proc = subprocess.Popen([WARREN, "--bind", "127.0.0.1"] + args, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            env=clean_env(env_extra))
    started.append(proc)
    fd, data = proc.stdout.fileno(), b""
    deadline = time.monotonic() + READY_TIMEOUT
    while b"\n" not in data and time.monotonic() < deadline:
        if select.select([fd], [], [], max(0, deadline - time.monotonic()))[0]:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    line = data.split(b"\n", 1)[0].decode()
    words = line.split()
    if not words or words[0] != "WARREN_READY":
        raise SystemExit("FAIL: no READY line from %s (got %r)" % (args, line))
    return proc, dict(w.split("=", 1) for w in words[1:]), line


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    status = proc.wait(10)
    rest = proc.stdout.read()
    proc.stdout.close()
    return status, rest


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def api_get(port, path):
    request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    request.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read()


def free_ports_and_ready_line():
    proc, ready, line = start(["--port", "0", "--ephemeral"])
    print("got: " + line)
    expect(sorted(ready), ["amqp", "management", "pid", "prometheus"],
           "--port 0: the READY line names amqp, management, prometheus and the pid")
    expect(int(ready["pid"]), proc.pid, "the pid is the broker's")
    ports = [port_of(ready[k]) for k in ("amqp", "management", "prometheus")]
    check(all(ports) and len(set(ports)) == 3 and 15672 not in ports and 15692 not in ports,
          "three distinct free ports, none of them the defaults: %s" % ports)
    # the line comes once everything listens: connect at once, no retry
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", ports[0]))
    check(connection.is_open, "pika connects to the amqp address at once")
    connection.close()
    overview = json.loads(api_get(ports[1], "/api/overview"))
    listeners = {l["protocol"]: l["port"] for l in overview["listeners"]}
    expect(listeners.get("amqp"), ports[0], "the management API lists the bound AMQP port")
    expect(listeners.get("http"), ports[1], "and its own bound port")
    check(b"rabbitmq_" in api_get(ports[2], "/metrics"), "Prometheus answers on its free port")
    status, rest = stop(proc)
    expect(status, 0, "SIGTERM stops it with status 0")
    expect(rest, b"", "nothing else on stdout: one READY line")


def fixed_ports():
    amqp, management = free_port(), free_port()
    proc, ready, line = start(["--port", str(amqp), "--management-port", str(management),
                               "--prometheus-port", "0"])
    expect(line, "WARREN_READY amqp=127.0.0.1:%d management=127.0.0.1:%d pid=%d"
           % (amqp, management, proc.pid), "fixed ports: the same line, without Prometheus (0)")
    expect(stop(proc)[0], 0, "stopped with status 0")
    proc, ready, line = start(["--port", "0", "--management-port", "0", "--prometheus-port", "0",
                               "--ephemeral"])
    expect(sorted(ready), ["amqp", "pid"], "--port 0 with both HTTP listeners off: amqp alone")
    expect(stop(proc)[0], 0, "stopped with status 0")


def tls_free_port():
    certs = Certs()
    conf_dir = tempfile.mkdtemp(prefix="warren-ready.")
    try:
        conf = os.path.join(conf_dir, "rabbitmq.conf")
        with open(conf, "w") as f:
            f.write("ssl_options.cacertfile = %s\nssl_options.certfile = %s\n"
                    "ssl_options.keyfile = %s\n" % (certs.ca, certs.server_cert, certs.server_key))
        proc, ready, line = start(["--config", conf, "--port", "0", "--tls-port", "0",
                                   "--ephemeral"])
        print("got: " + line)
        check("amqps" in ready and port_of(ready.get("amqps", ":0")) not in (0, 5671),
              "--tls-port 0: amqps= names a free port")
        ctx = ssl.create_default_context(cafile=certs.ca)
        params = pika.ConnectionParameters("127.0.0.1", port_of(ready["amqps"]),
                                           ssl_options=pika.SSLOptions(ctx, "localhost"))
        connection = pika.BlockingConnection(params)
        check(connection.is_open, "pika connects over TLS to it")
        connection.close()
        expect(stop(proc)[0], 0, "stopped with status 0")
    finally:
        certs.remove()
        shutil.rmtree(conf_dir, ignore_errors=True)


def listing(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, dirs, files in os.walk(root) for f in files + dirs)


def ephemeral_writes_nothing():
    root = tempfile.mkdtemp(prefix="warren-ephemeral.")
    try:
        conf = os.path.join(root, "rabbitmq.conf")
        with open(conf, "w") as f:
            f.write("log.file = %s\n" % os.path.join(root, "warren.log"))
        os.makedirs(os.path.join(root, "home"))
        env = {"HOME": os.path.join(root, "home"), "XDG_STATE_HOME": os.path.join(root, "state"),
               "RABBITMQ_MNESIA_BASE": os.path.join(root, "mnesia")}
        before = listing(root)
        args = ["--config", conf, "--port", "0", "--management-port", "0",
                "--prometheus-port", "0", "--data-dir", os.path.join(root, "data"), "--ephemeral"]
        proc, ready, _ = start(args, env)
        port = port_of(ready["amqp"])
        connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare("kept", durable=True)
        channel.basic_publish("", "kept", b"persistent",
                              pika.BasicProperties(delivery_mode=2))
        expect(channel.queue_declare("kept", passive=True).method.message_count, 1,
               "a durable queue holds a confirmed persistent message")
        connection.close()
        expect(stop(proc)[0], 0, "stopped with status 0")
        expect(listing(root), before, "--ephemeral: nothing written (no data dir, lock, log "
               "file or default state directory) though --data-dir and log.file were given")
        proc, ready, _ = start(args, env)
        connection = pika.BlockingConnection(
            pika.ConnectionParameters("127.0.0.1", port_of(ready["amqp"])))
        try:
            connection.channel().queue_declare("kept", passive=True)
            check(False, "the next ephemeral broker has forgotten the durable queue")
        except pika.exceptions.ChannelClosedByBroker as closed:
            expect(closed.reply_code, 404, "the next ephemeral broker has forgotten the queue")
        expect(stop(proc)[0], 0, "stopped with status 0")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    try:
        free_ports_and_ready_line()
        fixed_ports()
        tls_free_port()
        ephemeral_writes_nothing()
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
