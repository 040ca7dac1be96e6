#!/usr/bin/python3
"""Runs one interop test script against a freshly started Warren (or an external broker).

Usage: with_broker.py TEST_SCRIPT [ARGS...]   (automake's PY_LOG_COMPILER)

Environment:
  WARREN        absolute path of the broker binary to start.
  AMQP_PORT     if already set, start nothing: run the script against that external broker
                (e.g. RabbitMQ for differential runs); AMQP_HOST defaults to 127.0.0.1.
  WITH_BROKER_TIMEOUT  seconds the test script may run (default 120).
  WITH_BROKER_KEEP     if set, keep the temporary directory (broker log, data dir).
The script gets AMQP_HOST, AMQP_PORT, WARREN_LOG (broker log path) and WARREN_PID.
Exit status: the script's (77 = skip passes through), 1 if the broker misbehaved,
99 if the harness itself could not run.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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
    """One Warren process in its own session, so a terminal's Ctrl-C reaches only us."""

    def __init__(self, binary, tmp_dir):
        self.binary = binary
        self.log_path = os.path.join(tmp_dir, "broker.log")
        self.data_dir = os.path.join(tmp_dir, "data")
        self.process = None
        self.port = None

    def start(self):
        """Start on a free port; None on success, else the reason it failed."""
        os.makedirs(self.data_dir, exist_ok=True)
        open(self.log_path, "ab").close()
        attempt = 1
        while True:
            self.port = free_port()
            attempt_log_start = os.path.getsize(self.log_path)
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [self.binary, "--bind", HOST, "--port", str(self.port),
                     "--data-dir", self.data_dir, "--log-level", "info"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                    start_new_session=True)
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

    def kill(self):
        if self.process and self.process.poll() is None:
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
        """SIGTERM and wait; a list of problems (empty if it stopped cleanly)."""
        problems = []
        status = self.process.poll()
        if status is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                status = self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
                return ["broker did not exit within %.0f s of SIGTERM (killed)" % STOP_TIMEOUT]
        else:
            say("note: broker had already exited (status %d) before it was stopped" % status)
        if status < 0:
            problems.append("broker died of signal %s" % signal.Signals(-status).name)
        elif status != 0:
            problems.append("broker exited with status %d" % status)
        problems.extend(self.sanitizer_reports())
        return problems

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
    try:
        failure = broker.start()
        if failure:
            say("FAIL: " + failure)
            print_log_tail(broker.log_path)
            return 1
        say("broker pid %d on %s:%d, log %s" % (broker.process.pid, HOST, broker.port,
                                                broker.log_path))
        status = run_test(argv, {"AMQP_HOST": HOST, "AMQP_PORT": str(broker.port),
                                 "WARREN_LOG": broker.log_path,
                                 "WARREN_PID": str(broker.process.pid)})
        problems = broker.stop()
        for problem in problems:
            say("FAIL: " + problem)
        if problems or status not in (0, 77):
            print_log_tail(broker.log_path)
        return 1 if problems else status
    finally:
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
