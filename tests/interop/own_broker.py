"""For tests that start warren themselves (its options, files and environment are what they
test): free ports, starting it until it listens, and never leaving one behind."""

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time

WARREN = os.environ.get("WARREN", "")
started = []
data_dirs = []


@atexit.register
def remove_data_dirs():
    for d in data_dirs:
        shutil.rmtree(d, ignore_errors=True)


def data_dir():
    """A fresh temporary data directory (removed at exit): a test never touches the per-user
    default, and two brokers never share one."""
    d = tempfile.mkdtemp(prefix="warren-own-data.")
    data_dirs.append(d)
    return d


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def clean_env(extra=None):
    """The environment without RABBITMQ_* variables, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
    env.update(extra or {})
    return env


def start(args, port, env_extra=None, stderr_path=None):
    """Starts warren with args and waits until port listens; its stderr goes to stderr_path
    (shown if it never listens). Without --data-dir in args, a fresh one of its own."""
    if "--data-dir" not in args:
        args = list(args) + ["--data-dir", data_dir()]
    err = open(stderr_path, "w") if stderr_path else subprocess.DEVNULL
    proc = subprocess.Popen([WARREN] + args, env=clean_env(env_extra),
                            stdout=subprocess.DEVNULL, stderr=err)
    if stderr_path:
        err.close()
    started.append(proc)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if listening(port):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    if stderr_path:
        with open(stderr_path) as f:
            print(f.read())
    raise SystemExit("FAIL: broker did not listen on %d" % port)


def wait_for_log(path, text, seconds=5):
    """Whether text appears in the log at path within seconds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with open(path) as f:
            if text in f.read():
                return True
        time.sleep(0.05)
    return False


def stop(proc):
    """SIGTERM, and the exit status."""
    proc.terminate()
    return proc.wait(10)


def kill_leftovers():
    """Kills, by PID, every broker started here that still runs."""
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
