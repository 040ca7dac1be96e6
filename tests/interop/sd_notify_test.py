#!/usr/bin/python3
"""Interop test: Warren tells systemd (sd_notify, through $NOTIFY_SOCKET) READY=1 only once every
listener is open, STOPPING=1 on SIGTERM, and nothing like READY=1 when its start fails. The
test plays systemd's part: it owns the Unix datagram socket Warren sends to.

READY=1 only after the listeners: before the broker starts, the test fills its socket's queue,
so the broker's blocking send of READY=1 waits until the test reads. A broker that sent it
before listening would wait there without a listener; a correct one listens while it waits."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pika

import own_broker
from checks import SKIP, check, exit_status
from own_broker import WARREN, free_port

WAIT_SECONDS = 10.0


def notify_socket(directory):
    """A datagram socket bound where NOTIFY_SOCKET will point, as systemd's is."""
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    return sock, path


def fill(path):
    """Queues datagrams at path until its queue is full (a blocking sender then waits);
    returns how many."""
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    filler.setblocking(False)
    count = 0
    try:
        while True:
            filler.sendto(b"FILLER=1", path)
            count += 1
    except BlockingIOError:
        return count
    finally:
        filler.close()


def receive(sock, seconds):
    """The datagrams that arrive within seconds, each as a dict of its KEY=VALUE lines, with
    the filler ones dropped."""
    messages = []
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return messages
        sock.settimeout(left)
        try:
            data = sock.recv(4096)
        except socket.timeout:
            return messages
        fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
        if "FILLER" not in fields:
            messages.append(fields)


def receive_until(sock, key, seconds):
    """Reads datagrams until one sets key (returned with all read before it), or seconds pass."""
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for message in receive(sock, min(0.2, max(0.0, deadline - time.monotonic()))):
            seen.append(message)
            if key in message:
                return message, seen
    return None, seen


def listens(port):
    """Whether something listens on 127.0.0.1:port, read from /proc/net/tcp, so the check
    itself opens no connection and cannot block on a stopped broker."""
    wanted = "0100007F:%04X" % port
    with open("/proc/net/tcp") as table:
        next(table)
        return any(f[1] == wanted and f[3] == "0A" for f in (line.split() for line in table))


def wait_listening(ports, proc, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        if all(listens(p) for p in ports):
            return True
        time.sleep(0.05)
    return all(listens(p) for p in ports)


def spawn(args, notify_path, log_path):
    if "--data-dir" not in args:  # never the per-user default, which other brokers share
        args = list(args) + ["--data-dir", own_broker.data_dir()]
    with open(log_path, "w") as log:
        proc = subprocess.Popen([WARREN] + args, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log, env=own_broker.clean_env({"NOTIFY_SOCKET": notify_path}))
    own_broker.started.append(proc)
    return proc


def amqp_works(port):
    try:
        connection = pika.BlockingConnection(pika.ConnectionParameters(
            "127.0.0.1", port, connection_attempts=1, socket_timeout=5))
        channel = connection.channel()
        queue = channel.queue_declare("", exclusive=True).method.queue
        connection.close()
        return bool(queue)
    except pika.exceptions.AMQPError as error:
        print("  AMQP failed: %r" % error)
        return False


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")


def check_sanitizers(log_path):
    """A sanitizer build's reports go to the broker's log, which only this test reads."""
    with open(log_path, errors="replace") as log:
        text = log.read()
    found = [m for m in SANITIZER_MARKERS if m in text]
    check(not found, "no sanitizer report in %s: %r" % (os.path.basename(log_path), found))


def show_log(log_path):
    with open(log_path, errors="replace") as log:
        print("  broker log:\n" + "".join("    " + line for line in log.readlines()[-20:]))


def ready_after_listening(directory):
    sock, path = notify_socket(directory)
    log_path = os.path.join(directory, "ready.log")
    try:
        queued = fill(path)
        check(queued > 0, "the notify socket's queue is full (%d datagrams), so the broker's "
              "send waits for the test" % queued)
        port, management = free_port(), free_port()
        proc = spawn(["--port", str(port), "--management-port", str(management),
                      "--prometheus-port", "0"], path, log_path)
        listening = wait_listening([port, management], proc, WAIT_SECONDS)
        if not check(listening, "AMQP (%d) and the management API (%d) listen while READY=1 is "
                     "still unsent" % (port, management)):
            show_log(log_path)
        ready, before = receive_until(sock, "READY", WAIT_SECONDS)
        check(ready is not None and ready.get("READY") == "1",
              "READY=1 arrives once the test reads: %r" % ready)
        check(not before[:-1], "nothing came before READY=1: %r" % before[:-1])
        check(ready is not None and ("127.0.0.1:%d" % port) in ready.get("STATUS", ""),
              "READY=1 carries STATUS= naming the listener: %r"
              % (ready or {}).get("STATUS"))
        check(amqp_works(port), "the broker takes AMQP connections once READY=1 is read")
        with open(log_path, errors="replace") as log:
            said = [line for line in log if "Server startup complete" in line]
        check(len(said) == 1, "the log says RabbitMQ's 'Server startup complete' once, which "
              "Testcontainers waits for: %r" % said)

        # A connection open when SIGTERM arrives: STOPPING=1 comes while it is being closed.
        connection = pika.BlockingConnection(pika.ConnectionParameters(
            "127.0.0.1", port, connection_attempts=1, socket_timeout=5))
        proc.send_signal(signal.SIGTERM)
        stopping, seen = receive_until(sock, "STOPPING", WAIT_SECONDS)
        check(stopping is not None and stopping.get("STOPPING") == "1",
              "STOPPING=1 arrives after SIGTERM: %r" % seen)
        closed_with = None
        try:
            connection.process_data_events(time_limit=WAIT_SECONDS)
        except pika.exceptions.ConnectionClosedByBroker as closed:
            closed_with = closed.reply_code
        check(closed_with == 320, "the open connection is closed with 320 (got %r)" % closed_with)
        status = proc.wait(WAIT_SECONDS)
        check(status == 0, "the broker exits 0 after STOPPING=1 (status %r)" % status)
        rest = receive(sock, 0.2)
        check(not any("READY" in m for m in rest), "no READY= after stopping: %r" % rest)
        check_sanitizers(log_path)
    finally:
        sock.close()


def failed_start_is_never_ready(directory):
    """The management port is taken: AMQP listens, the start then fails, so never READY=1."""
    sock, path = notify_socket(directory)
    log_path = os.path.join(directory, "failed.log")
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = free_port()
        proc = spawn(["--port", str(port), "--management-port", str(taken.getsockname()[1]),
                      "--prometheus-port", "0"], path, log_path)
        status = proc.wait(WAIT_SECONDS)
        check(status == 1, "a broker whose management port is taken exits 1 (status %r)" % status)
        messages = receive(sock, 0.5)
        check(not any("READY" in m for m in messages),
              "it never sent READY=1: %r" % messages)
        with open(log_path, errors="replace") as log:
            check("Server startup complete" not in log.read(),
                  "nor logged 'Server startup complete'")
        check_sanitizers(log_path)
    finally:
        taken.close()
        sock.close()


def main():
    if os.environ.get("WARREN_SERVICE_NOTIFY") == "no":
        print("SKIP: this warren was configured --without-systemd, so it sends systemd nothing",
              flush=True)
        return SKIP
    directory = tempfile.mkdtemp(prefix="warren-notify.")
    try:
        ready_after_listening(directory)
        second = os.path.join(directory, "failed")
        os.mkdir(second)
        failed_start_is_never_ready(second)
    finally:
        own_broker.kill_leftovers()
        shutil.rmtree(directory, ignore_errors=True)
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
