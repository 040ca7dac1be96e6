"""Helpers shared by the Python interop tests: PASS/FAIL lines, broker address, names, waits."""

import os
import re
import socket
import subprocess
import tempfile
import time
import uuid

SKIP = 77  # the exit status automake reads as "skipped"
HOST = os.environ.get("AMQP_HOST", "127.0.0.1")
PORT = int(os.environ.get("AMQP_PORT", "5672"))
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
SUFFIX = uuid.uuid4().hex[:12]  # one per run, so names differ between runs
WAIT_SECONDS = 5.0
SERVER_NAMED = re.compile(r"^amq\.gen-[A-Za-z0-9_-]{22}$")
SERVER_TAG = re.compile(r"^amq\.ctag-[A-Za-z0-9_-]{22}$")
DEFAULT_EXCHANGE_REFUSED = (403, "ACCESS_REFUSED - operation not permitted on the default exchange")

failures = 0


def check(ok, text):
    """Prints a PASS or FAIL line; a FAIL makes exit_status() 1."""
    global failures
    print("%s: %s" % ("PASS" if ok else "FAIL", text), flush=True)
    if not ok:
        failures += 1
    return ok


def expect(actual, expected, text):
    if actual == expected:
        return check(True, "%s: %r" % (text, actual))
    return check(False, "%s: expected %r, got %r" % (text, expected, actual))


def exit_status():
    return 1 if failures else 0


def unique(name):
    """name with this run's suffix: the same name again for the same argument."""
    return "%s-%s" % (name, SUFFIX)


def fresh_name(name):
    """name with a new random suffix on every call."""
    return "%s-%s" % (name, uuid.uuid4().hex[:12])


def wait_for_value(read, wanted, seconds=WAIT_SECONDS):
    """Calls read() until it returns wanted or seconds pass; returns the last value read."""
    deadline = time.monotonic() + seconds
    value = read()
    while value != wanted and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value


def confirmed_tags(confirms):
    """Sorted tags covered by ("Ack"/"Nack", tag, multiple) events. A multiple confirm covers
    every earlier tag not yet confirmed; a tag confirmed twice appears twice, a nacked one
    negated, a multiple confirm covering nothing new as 0, so a comparison exposes them."""
    covered = []
    for kind, tag, multiple in confirms:
        sign = 1 if kind == "Ack" else -1
        if multiple:
            newly = [t for t in range(1, tag + 1) if t not in covered and -t not in covered]
            covered.extend(sign * t for t in newly)
            if not newly:
                covered.append(0)
        else:
            covered.append(sign * tag)
    return sorted(covered)


def pika_connection(**overrides):
    """A pika BlockingConnection to the broker as guest; overrides replace parameters."""
    import pika  # here, so that tests of other clients run without pika

    parameters = dict(credentials=pika.PlainCredentials("guest", "guest"),
                      connection_attempts=1, socket_timeout=5, blocked_connection_timeout=5)
    parameters.update(overrides)
    return pika.BlockingConnection(pika.ConnectionParameters(HOST, PORT, **parameters))


def process_until(connection, until, seconds=WAIT_SECONDS):
    """Lets a pika BlockingConnection process events until until() holds or seconds pass."""
    deadline = time.monotonic() + seconds
    while not until() and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.05)


def ready_count(channel, queue):
    """Ready messages in queue, by a passive declare on a pika channel."""
    return channel.queue_declare(queue, passive=True).method.message_count


def ready_bodies(channel, queue):
    """The ready bodies of queue as text, oldest first, taken with basic.get on a pika
    channel (no ack)."""
    out = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return out
        out.append(body.decode())


def expect_channel_close(connection, action, code, text, what, round_trip=False):
    """Runs action on a fresh pika channel; it must end in channel.close(code, text). With
    round_trip a queue.declare follows action, to collect a close that action did not wait
    for (basic.ack and the like get no reply)."""
    import pika.exceptions

    channel = connection.channel()
    try:
        action(channel)
        if round_trip:
            channel.queue_declare("", exclusive=True)
    except pika.exceptions.ChannelClosedByBroker as error:
        expect((error.reply_code, error.reply_text), (code, text), what)
        check(connection.is_open, "%s: the connection stays open" % what)
        return
    check(False, "%s: expected channel.close %d, but the operation succeeded" % (what, code))
    channel.close()


def expect_ok(connection, action, what):
    """Runs action on a fresh pika channel; it must succeed and leave the channel open."""
    import pika.exceptions

    channel = connection.channel()
    try:
        result = action(channel)
    except pika.exceptions.AMQPError as error:
        check(False, "%s: expected success, got %r" % (what, error))
        return None
    check(channel.is_open, "%s succeeds" % what)
    channel.close()
    return result


def drain_until(connection, until, seconds=WAIT_SECONDS):
    """Lets a py-amqp or kombu connection take in frames until until() holds or seconds pass."""
    deadline = time.monotonic() + seconds
    while not until() and time.monotonic() < deadline:
        try:
            connection.drain_events(timeout=0.05)
        except socket.timeout:
            pass


def build_tree_dir(name):
    """tests/interop/name in the build tree, never the source tree (a temporary directory
    when run by hand without BUILDDIR)."""
    root = os.environ.get("BUILDDIR") or os.path.join(
        tempfile.gettempdir(), "warren-interop-%d" % os.getuid())
    return os.path.join(root, "tests", "interop", name)


def stale(output, inputs):
    """Whether output is missing or older than any of inputs."""
    if not os.path.exists(output):
        return True
    built = os.path.getmtime(output)
    return any(os.path.getmtime(path) > built for path in inputs)


def run_program(command, name, seconds, cwd=None):
    """Runs a client program that prints its own PASS/FAIL lines; returns its exit status,
    or 1 after a FAIL line when it runs longer than seconds."""
    print("running %s" % " ".join(command), flush=True)
    try:
        return subprocess.run(command, cwd=cwd, stdin=subprocess.DEVNULL,
                              timeout=seconds).returncode
    except subprocess.TimeoutExpired:
        print("FAIL: %s did not finish within %d s" % (name, seconds))
        return 1


# ---- stopping and restarting the broker through with_broker.py (WARREN_CONTROL)

def can_control_broker():
    """Whether with_broker.py started the broker and takes stop/kill/start requests."""
    return bool(os.environ.get("WARREN_CONTROL"))


def control_broker(op, timeout=30, **fields):
    """One request to with_broker.py's control socket; the reply (a dict). Raises
    RuntimeError when the harness answers with an error; timeout bounds the wait in seconds."""
    import json

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(os.environ["WARREN_CONTROL"])
        sock.sendall((json.dumps(dict(fields, op=op)) + "\n").encode())
        reply = json.loads(sock.makefile("r").readline())
    if "error" in reply:
        raise RuntimeError("with_broker %s: %s" % (op, reply["error"]))
    return reply


def stop_broker():
    """SIGTERM and wait; the exit status."""
    return control_broker("stop")["status"]


def kill_broker():
    """SIGKILL and wait; the exit status (-9)."""
    return control_broker("kill")["status"]


def signal_broker(signum):
    """Sends signum to the broker without waiting for it to exit."""
    import signal

    control_broker("signal", signal=signal.Signals(signum).name)


def wait_broker(seconds=10):
    """Waits for the broker to exit; its exit status (negative: killed by that signal).
    Raises RuntimeError if it still runs after seconds."""
    return control_broker("wait", timeout=seconds + 5, seconds=seconds)["status"]


def start_broker(args=()):
    """Starts the stopped broker again on the same port and data directory, with args added
    to its command line; its pid once it listens."""
    return control_broker("start", args=list(args))["pid"]


def restart_broker(args=()):
    """stop_broker then start_broker; (the old broker's exit status, the new pid)."""
    status = stop_broker()
    return status, start_broker(args)


def server_side_connections(port=PORT):
    """Connections the broker at 127.0.0.1:port still holds open, counted in /proc/net/tcp:
    its side of each is ESTABLISHED, or CLOSE_WAIT when the client left and the broker has
    not closed yet (a closed one lingers only as FIN_WAIT/TIME_WAIT). None when the broker
    is not on this machine's loopback."""
    if HOST != "127.0.0.1":
        return None
    local = "0100007F:%04X" % port
    with open("/proc/net/tcp") as table:
        next(table)
        return sum(1 for line in table
                   if line.split()[1] == local and line.split()[3] in ("01", "08"))
