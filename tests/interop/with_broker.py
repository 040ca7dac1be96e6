#!/usr/bin/python3
"""Runs one interop test script against a freshly started Warren (or an external broker).

Usage: with_broker.py TEST_SCRIPT [ARGS...]   (automake's PY_LOG_COMPILER)

Environment:
  WARREN        absolute path of the broker binary to start.
  AMQP_PORT     if already set, start nothing: run the script against that external broker
                (e.g. RabbitMQ for differential runs); AMQP_HOST defaults to 127.0.0.1.
  WITH_BROKER_TIMEOUT  seconds the test script may run (default 120).
  WITH_BROKER_KEEP     if set, keep the temporary directory (broker log, data dir).
  MANAGEMENT_PORT, PROMETHEUS_PORT  with an external broker, passed on (default AMQP_PORT+10000
                and +10100, rabbitmq-beside's convention); with Warren, free ports it is given.
The script gets AMQP_HOST, AMQP_PORT, MANAGEMENT_PORT, PROMETHEUS_PORT, WARREN_LOG (broker log path), WARREN_PID (the first
broker's pid), WARREN_DATA_DIR (its --data-dir) and WARREN_CONTROL (see below).
Exit status: the script's (77 = skip passes through), 1 if the broker misbehaved,
99 if the harness itself could not run.

Stopping and restarting the broker from a test (checks.py wraps this: stop_broker,
kill_broker, signal_broker, wait_broker, start_broker, restart_broker):
  WARREN_CONTROL names a Unix socket. A test connects, sends one JSON object on one line and
  reads one JSON line back; each request gets its own connection. Requests:
    {"op": "signal", "signal": "SIGINT"}  send a signal, do not wait    -> {"ok": true}
    {"op": "wait", "seconds": 10}         wait for the broker to exit   -> {"status": S}
    {"op": "stop"}                        SIGTERM, then wait            -> {"status": S}
    {"op": "kill"}                        SIGKILL, then wait            -> {"status": S}
    {"op": "start", "args": [...]}        start it again, same command line, port and data
                                          directory, plus args; waits until it listens
                                                                        -> {"pid": P}
  S is the exit status, negative for a signal (-9 after kill). Errors come back as
  {"error": "why"}. The broker stays the harness's child, so the harness still sees every
  exit: a broker that exits other than with status 0, or by a SIGKILL it was asked to send,
  fails the test, as one that misbehaves at the final stop does. At the end the harness
  stops whichever broker runs then (none, if the test left it stopped).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

PYTHON = "/usr/bin/python3"
HOST = "127.0.0.1"
START_ATTEMPTS = 3
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
LOG_TAIL_LINES = 50
HARD_ERROR = 99
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")
PORT_TAKEN = re.compile(r"EADDRINUSE|address already in use", re.IGNORECASE)


class Interrupted(Exception):
    """SIGTERM/SIGHUP/SIGINT arrived: clean up and leave."""


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


def on_signal(signum, _frame):
    for other in STOP_SIGNALS:  # a second signal must not interrupt the clean-up
        signal.signal(other, signal.SIG_IGN)
    raise Interrupted(signal.Signals(signum).name)


def say(text):
    print("with_broker: " + text, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def listening_inodes(port):
    """Inodes of loopback TCP sockets listening on port, from /proc/net/tcp."""
    wanted = "0100007F:%04X" % port
    inodes = set()
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if fields[1] == wanted and fields[3] == "0A":
                inodes.add(fields[9])
    return inodes


def process_owns_socket(pid, inodes):
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


def broker_listens(pid, port):
    """True once the broker itself listens on port; checked in /proc rather than by
    connecting, so the broker log shows no stray connection from the harness."""
    try:
        inodes = listening_inodes(port)
        return bool(inodes) and process_owns_socket(pid, inodes)
    except OSError:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return True
        except OSError:
            return False


def log_tail(log_path, lines=LOG_TAIL_LINES):
    try:
        with open(log_path, errors="replace") as log:
            return log.readlines()[-lines:]
    except OSError as err:
        return ["(no broker log: %s)\n" % err]


def print_log_tail(log_path):
    say("last %d lines of the broker log %s:" % (LOG_TAIL_LINES, log_path))
    sys.stdout.write("".join(log_tail(log_path)))
    sys.stdout.flush()


class Broker:
    """One Warren process at a time in its own session, so a terminal's Ctrl-C reaches only
    us; started again on the same port, data directory and log when the test asks."""

    def __init__(self, binary, tmp_dir):
        self.binary = binary
        self.log_path = os.path.join(tmp_dir, "broker.log")
        self.data_dir = os.path.join(tmp_dir, "data")
        self.process = None
        self.port = None
        self.management_port = None
        self.prometheus_port = None
        self.reaped = False      # the current process's exit was already judged
        self.kill_sent = False   # the test asked for SIGKILL: that death is expected
        self.problems = []       # every exit that was not clean, in order

    def command(self, extra_args=()):
        return [self.binary, "--bind", HOST, "--port", str(self.port),
                "--management-port", str(self.management_port),
                "--prometheus-port", str(self.prometheus_port),
                "--data-dir", self.data_dir, "--log-level", "info"] + list(extra_args)

    def spawn(self, extra_args=()):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(extra_args), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        self.reaped = False
        self.kill_sent = False

    def start(self):
        """Start on a free port; None on success, else the reason it failed."""
        os.makedirs(self.data_dir, exist_ok=True)
        open(self.log_path, "ab").close()
        attempt = 1
        while True:
            self.port = free_port()
            self.management_port = free_port()
            self.prometheus_port = free_port()
            attempt_log_start = os.path.getsize(self.log_path)
            self.spawn()
            failure = self.wait_until_listening()
            if failure is None:
                return None
            # Another process may grab the port between free_port() and the broker's bind.
            port_taken = self.process.poll() is not None and \
                PORT_TAKEN.search(self.log_text(attempt_log_start))
            if not port_taken or attempt == START_ATTEMPTS:
                return failure
            say("port %d was taken; retrying on another port" % self.port)
            attempt += 1

    def restart(self, extra_args):
        """Start again on the same port (the previous process must have exited); None on
        success, else the reason it failed."""
        if self.process.poll() is None:
            return "the broker (pid %d) is still running" % self.process.pid
        self.judge_exit()
        self.spawn(extra_args)
        failure = self.wait_until_listening()
        if failure:
            self.reaped = True  # wait_until_listening killed it or saw it exit; said why
        return failure

    def wait_until_listening(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            status = self.process.poll()
            if status is not None:
                return "broker exited with status %d during start-up" % status
            if broker_listens(self.process.pid, self.port):
                return None
            time.sleep(0.05)
        self.kill()
        return "broker did not listen on %s:%d within %.0f s" % (HOST, self.port, START_TIMEOUT)

    def wait(self, seconds):
        """The exit status once the broker exits within seconds, else None."""
        try:
            status = self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None
        self.judge_exit()
        return status

    def judge_exit(self):
        """Once per process: record an exit that was neither status 0 nor a requested kill."""
        if self.reaped:
            return
        self.reaped = True
        status = self.process.returncode
        if status == 0 or (status == -signal.SIGKILL and self.kill_sent):
            return
        if status < 0:
            self.problems.append("broker (pid %d) died of signal %s"
                                 % (self.process.pid, signal.Signals(-status).name))
        else:
            self.problems.append("broker (pid %d) exited with status %d"
                                 % (self.process.pid, status))

    def send_signal(self, signum):
        if self.process.poll() is not None:
            return False
        if signum == signal.SIGKILL:
            self.kill_sent = True
        self.process.send_signal(signum)
        return True

    def kill(self):
        if self.process and self.process.poll() is None:
            self.kill_sent = True
            self.process.kill()
            self.process.wait()

    def ensure_stopped(self):
        """Clean-up path: SIGTERM, a short grace period, then SIGKILL."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.kill()

    def stop(self):
        """SIGTERM the broker running now, if any, and wait; every problem seen during the
        test (empty if each broker exited cleanly)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            if self.wait(STOP_TIMEOUT) is None:
                self.kill()
                self.reaped = True
                self.problems.append("broker did not exit within %.0f s of SIGTERM (killed)"
                                     % STOP_TIMEOUT)
        elif not self.reaped:
            say("note: broker had already exited (status %d) before it was stopped"
                % self.process.returncode)
        self.judge_exit()
        return self.problems + self.sanitizer_reports()

    def log_text(self, start=0):
        try:
            with open(self.log_path, "rb") as log:
                log.seek(start)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def sanitizer_reports(self):
        text = self.log_text()
        return ["broker log contains %r" % marker for marker in SANITIZER_MARKERS
                if marker in text]


class Control:
    """Serves the test script's requests on a Unix socket (see the module docstring)."""

    def __init__(self, broker, path):
        self.broker = broker
        self.path = path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(4)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return  # closed by close()
            with conn:
                try:
                    request = json.loads(conn.makefile("r").readline())
                    reply = self.handle(request)
                except Exception as error:  # a bad request is the test's problem, not ours
                    reply = {"error": "%s: %s" % (type(error).__name__, error)}
                try:
                    conn.sendall((json.dumps(reply) + "\n").encode())
                except OSError:
                    pass

    def handle(self, request):
        broker, op = self.broker, request.get("op")
        if op == "signal":
            signum = signal.Signals[request["signal"]]
            if not broker.send_signal(signum):
                return {"error": "the broker is not running"}
            say("sent %s to the broker (pid %d)" % (signum.name, broker.process.pid))
            return {"ok": True}
        if op in ("stop", "kill"):
            if not broker.send_signal(signal.SIGTERM if op == "stop" else signal.SIGKILL):
                return {"error": "the broker is not running"}
            say("%s: broker pid %d" % (op, broker.process.pid))
            op, request = "wait", {"seconds": STOP_TIMEOUT}
        if op == "wait":
            status = broker.wait(float(request.get("seconds", STOP_TIMEOUT)))
            if status is None:
                return {"error": "the broker (pid %d) is still running" % broker.process.pid}
            return {"status": status}
        if op == "start":
            failure = broker.restart([str(a) for a in request.get("args", [])])
            if failure:
                return {"error": failure}
            say("broker restarted: pid %d on %s:%d" % (broker.process.pid, HOST, broker.port))
            return {"pid": broker.process.pid}
        return {"error": "unknown op %r" % op}

    def close(self):
        """Stops serving: no request is being handled once this returns."""
        if self.server.fileno() < 0:
            return
        try:
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        except OSError:
            pass
        self.thread.join(STOP_TIMEOUT + 5)
        self.server.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def test_timeout():
    return float(os.environ.get("WITH_BROKER_TIMEOUT", "120"))


def run_test(argv, extra_env):
    """Run the test script to completion (or its time limit); its exit status."""
    env = dict(os.environ, **extra_env)
    test = subprocess.Popen([PYTHON] + argv, env=env)
    try:
        return test.wait(timeout=test_timeout())
    except subprocess.TimeoutExpired:
        say("test exceeded %.0f s; stopping it" % test_timeout())
        return 1
    finally:
        stop_test(test)


def stop_test(test):
    if test.poll() is not None:
        return
    test.terminate()
    try:
        test.wait(timeout=3)
    except subprocess.TimeoutExpired:
        test.kill()
        test.wait()


def run_against_external(argv):
    os.environ.setdefault("AMQP_HOST", HOST)
    port = int(os.environ["AMQP_PORT"])
    os.environ.setdefault("MANAGEMENT_PORT", str(port + 10000))
    os.environ.setdefault("PROMETHEUS_PORT", str(port + 10100))
    say("external broker at %s:%s; starting nothing" % (os.environ["AMQP_HOST"],
                                                     os.environ["AMQP_PORT"]))
    return run_test(argv, {})


def run_against_warren(argv):
    binary = os.environ.get("WARREN")
    if not binary or not os.access(binary, os.X_OK):
        say("WARREN must name the broker binary (got %r)" % binary)
        return HARD_ERROR
    tmp_dir = tempfile.mkdtemp(prefix="warren-test.")
    broker = Broker(binary, tmp_dir)
    control = None
    try:
        failure = broker.start()
        if failure:
            say("FAIL: " + failure)
            print_log_tail(broker.log_path)
            return 1
        say("broker pid %d on %s:%d, log %s" % (broker.process.pid, HOST, broker.port,
                                                broker.log_path))
        control = Control(broker, os.path.join(tmp_dir, "control"))
        status = run_test(argv, {"AMQP_HOST": HOST, "AMQP_PORT": str(broker.port),
                                 "MANAGEMENT_PORT": str(broker.management_port),
                                 "PROMETHEUS_PORT": str(broker.prometheus_port),
                                 "WARREN_LOG": broker.log_path,
                                 "WARREN_PID": str(broker.process.pid),
                                 "WARREN_DATA_DIR": broker.data_dir,
                                 "WARREN_CONTROL": control.path})
        control.close()  # the broker is ours alone again
        problems = broker.stop()
        for problem in problems:
            say("FAIL: " + problem)
        if problems or status not in (0, 77):
            print_log_tail(broker.log_path)
        return 1 if problems else status
    finally:
        if control:
            control.close()
        broker.ensure_stopped()
        if os.environ.get("WITH_BROKER_KEEP"):
            say("kept " + tmp_dir)
        else:
            shutil.rmtree(tmp_dir, ignore_errors=True)


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return HARD_ERROR
    for signum in STOP_SIGNALS:
        signal.signal(signum, on_signal)
    try:
        if os.environ.get("AMQP_PORT"):
            return run_against_external(argv)
        return run_against_warren(argv)
    except Interrupted as why:
        say("interrupted by %s; cleaned up" % why)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
