#!/usr/bin/python3
"""Interop test: a real Celery worker (python3-celery) against the broker: a task round trip
through the rpc result backend, a countdown task that must not hold back an immediate one
(kombu's QoS reading of a broker that is not RabbitMQ), and `celery inspect ping`."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from checks import HOST, PORT, SKIP, SUFFIX, check, exit_status, expect

PYTHON = "/usr/bin/python3"
WORKER = "warren-test-%s@localhost" % SUFFIX
READY_SECONDS = 20
RESULT_SECONDS = 10
COUNTDOWN_SECONDS = 4
STOP_SECONDS = 10

# The application, written into the worker's temporary directory. One process (solo pool)
# and a prefetch multiplier of 1 give a window of one task: a countdown task held by the
# worker fills it, so the immediate task behind it gets through only if the window grows.
TASKS_MODULE = """
import os
import time

from celery import Celery

app = Celery("celery_tasks",
             broker="amqp://guest:guest@%s:%s//" % (os.environ["AMQP_HOST"], os.environ["AMQP_PORT"]),
             backend="rpc://")
app.conf.update(worker_prefetch_multiplier=1, broker_connection_max_retries=1,
                task_default_queue=os.environ["CELERY_TEST_QUEUE"],
                worker_hijack_root_logger=False)


@app.task
def add(x, y):
    return x + y


@app.task
def finished_at():
    return time.time()
"""


def celery_installed():
    probe = subprocess.run([PYTHON, "-c", "import celery"], capture_output=True)
    return probe.returncode == 0


def write_app(directory):
    with open(os.path.join(directory, "celery_tasks.py"), "w") as module:
        module.write(TASKS_MODULE)


def app_environment(directory):
    env = dict(os.environ, AMQP_HOST=HOST, AMQP_PORT=str(PORT), PYTHONPATH=directory,
               CELERY_TEST_QUEUE="celery-test-" + SUFFIX)
    env.pop("CELERY_BROKER_URL", None)
    return env


def start_worker(directory, log):
    command = [PYTHON, "-m", "celery", "-A", "celery_tasks", "worker", "--pool=solo",
               "--concurrency=1", "--without-gossip", "--without-mingle", "--without-heartbeat",
               "--loglevel=INFO", "-n", WORKER]
    return subprocess.Popen(command, cwd=directory, env=app_environment(directory),
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(worker, log_path):
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline and worker.poll() is None:
        with open(log_path) as log:
            if " ready." in log.read():
                return True
        time.sleep(0.1)
    return False


def stop_worker(worker):
    """SIGTERM (Celery's warm shutdown), then SIGKILL if it lingers; by PID only."""
    if worker.poll() is not None:
        return
    os.kill(worker.pid, signal.SIGTERM)
    try:
        worker.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()


def check_round_trip(tasks):
    result = tasks.add.delay(2, 3)
    expect(result.get(timeout=RESULT_SECONDS), 5, "add(2, 3) round-trips through the rpc backend")


def finished_within(result, seconds):
    """The task's result (its finishing time), or None when it does not come in time."""
    import celery.exceptions

    try:
        return result.get(timeout=seconds)
    except celery.exceptions.TimeoutError:
        return None


def broker_view(queue_name):
    """What the broker says of the task queue and the channels, for a failure's message."""
    from mgmt import http, path_of

    queue = http("GET", path_of("queues", "/", queue_name)).json or {}
    channels = http("GET", "/api/channels").json or []
    return "queue: ready %s, unacked %s, consumers %s; channels (prefetch, unacked): %s" % (
        queue.get("messages_ready"), queue.get("messages_unacknowledged"), queue.get("consumers"),
        [(c.get("prefetch_count"), c.get("messages_unacknowledged")) for c in channels])


def countdown_attempt(tasks):
    """Publishes a countdown task, then an immediate one; returns whether the immediate one
    ran in time, what happened, when they were sent, and when the countdown one ran."""
    sent = time.time()
    delayed = tasks.finished_at.apply_async(countdown=COUNTDOWN_SECONDS)
    published = time.time() - sent
    time.sleep(0.5)  # the worker holds the delayed task before the immediate one arrives
    immediate = tasks.finished_at.delay()
    both_published = time.time() - sent
    done = finished_within(immediate, COUNTDOWN_SECONDS - 1.5)
    in_time = done is not None and done - sent < COUNTDOWN_SECONDS - 1
    if done is not None:
        what = "after %.1f s" % (done - sent)
    else:  # whether publishing or delivering took the time, and how long it took
        view = broker_view(os.environ["CELERY_TEST_QUEUE"])
        late = finished_within(immediate, RESULT_SECONDS)
        what = ("it waited (published after %.2f s and %.2f s; then %s; it ran after %s)"
                % (published, both_published, view,
                   "%.1f s" % (late - sent) if late else "more than %d s" % RESULT_SECONDS))
    delayed_done = finished_within(delayed, RESULT_SECONDS + COUNTDOWN_SECONDS)
    return in_time, what, sent, delayed_done


def check_countdown_beside_immediate(tasks, log_path):
    in_time, what, sent, delayed_done = countdown_attempt(tasks)
    if not in_time:
        # A stall of about 10 s was seen in some loaded runs and never reproduced alone; one
        # more attempt, and what the first saw goes to the log (tools/dev prints RETRY lines).
        with open(log_path) as log:
            tail = log.read()[-2500:]
        print("RETRY: celery_test countdown: %s\n---- worker log\n%s" % (what, tail), flush=True)
        in_time, what, sent, delayed_done = countdown_attempt(tasks)
    check(in_time, "an immediate task runs while a countdown task waits (countdown %d s): %s"
          % (COUNTDOWN_SECONDS, what))
    check(delayed_done is not None and delayed_done - sent >= COUNTDOWN_SECONDS - 0.2,
          "the countdown task runs after its countdown: %s"
          % ("after %.1f s" % (delayed_done - sent) if delayed_done else "no result"))


def check_inspect_ping(directory):
    command = [PYTHON, "-m", "celery", "-A", "celery_tasks", "inspect", "ping", "-d", WORKER,
               "--timeout", "5"]
    ping = subprocess.run(command, cwd=directory, env=app_environment(directory),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    check(ping.returncode == 0 and "pong" in ping.stdout,
          "celery inspect ping answers pong (exit %d): %s" % (ping.returncode,
                                                             (ping.stdout + ping.stderr).strip()))


def run_checks(directory, log_path):
    sys.path.insert(0, directory)
    os.environ.update(app_environment(directory))
    import celery_tasks  # the module written above, as the worker imports it

    try:
        check_round_trip(celery_tasks)
        check_countdown_beside_immediate(celery_tasks, log_path)
        check_inspect_ping(directory)
    finally:
        celery_tasks.app.close()


def main():
    if not celery_installed():
        print("SKIP: celery is missing (install python3-celery)")
        return SKIP
    directory = tempfile.mkdtemp(prefix="warren-celery-")
    log_path = os.path.join(directory, "worker.log")
    worker = None
    try:
        write_app(directory)
        with open(log_path, "w") as log:
            worker = start_worker(directory, log)
        if check(wait_ready(worker, log_path), "the worker starts and connects"):
            run_checks(directory, log_path)
    except Exception as error:  # any client error is a failed check, with the worker's log
        check(False, "no unexpected exception: %s: %s" % (type(error).__name__, error))
    finally:
        if worker is not None:
            stop_worker(worker)
        if exit_status():
            with open(log_path) as log:
                print("---- worker log\n" + log.read()[-4000:])
        shutil.rmtree(directory, ignore_errors=True)
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
