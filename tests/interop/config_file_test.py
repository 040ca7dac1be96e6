#!/usr/bin/python3
"""Interop test: rabbitmq.conf through --config and RABBITMQ_CONFIG_FILE. Listeners, the default
user, password and vhost, frame_max, channel_max and heartbeat take effect as pika sees them;
the command line wins over the file and RabbitMQ's environment variables over the file; a
known RabbitMQ key Warren ignores is one warning line; log.file gets the log; a bad file stops
start-up naming file, line and key, with a non-zero exit."""
import os
import subprocess
import sys
import tempfile

import pika

import own_broker
from own_broker import clean_env, free_port, listening, start

WARREN = own_broker.WARREN
failures = 0


def check(ok, text):
    global failures
    print("%s: %s" % ("PASS" if ok else "FAIL", text), flush=True)
    failures += not ok


def stop(proc):
    check(own_broker.stop(proc) == 0, "broker exits 0 on SIGTERM")


def connect(port, user, password, vhost):
    """The negotiated (channel_max, frame_max, heartbeat), or why the login failed."""
    try:
        c = pika.BlockingConnection(pika.ConnectionParameters(
            "127.0.0.1", port, vhost, pika.PlainCredentials(user, password),
            connection_attempts=1, socket_timeout=5))
    except pika.exceptions.ProbableAuthenticationError:
        return "refused"
    except pika.exceptions.ProbableAccessDeniedError as e:
        return "closed 530" if "(530)" in str(e) else "access denied: %s" % e
    except pika.exceptions.AMQPConnectionError as e:
        return "cannot connect: %r" % e
    p = c._impl.params
    tuned = (p.channel_max, p.frame_max, p.heartbeat)
    c.close()
    return tuned


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def run_to_exit(args, env_extra=None):
    return subprocess.run([WARREN] + args, env=clean_env(env_extra or {}), capture_output=True,
                          text=True, timeout=10)


def main():
    if not os.access(WARREN, os.X_OK):
        print("FAIL: $WARREN is not the broker binary")
        return 1
    tmp = tempfile.mkdtemp(prefix="warren-conf-")
    p1, p2 = free_port(), free_port()
    conf = os.path.join(tmp, "rabbitmq.conf")
    log_file = os.path.join(tmp, "warren.log")
    write(conf, "# Warren from a RabbitMQ config file\n"
                "listeners.tcp.default = 127.0.0.1:%d\n"
                "listeners.tcp.second  = 127.0.0.1:%d   # a second listener\n"
                "default_user = alice\n"
                "default_pass = s3cret\n"
                "default_vhost = dev\n"
                "frame_max = 8KB\n"
                "channel_max = 16\n"
                "heartbeat = 13\n"
                "queue_master_locator = min-masters\n"
                "log.file = %s\n"
                "management.tcp.port = 0\n"
                "prometheus.tcp.port = 0\n" % (p1, p2, log_file))
    stderr_path = os.path.join(tmp, "stderr")
    proc = start(["--config", conf], p1, stderr_path=stderr_path)
    check(listening(p2), "the second listeners.tcp entry listens too")
    tuned = connect(p1, "alice", "s3cret", "dev")
    check(tuned == (16, 8192, 13), "channel_max 16, frame_max 8KB, heartbeat 13 negotiated: %r"
          % (tuned,))
    check(connect(p2, "alice", "s3cret", "dev") == (16, 8192, 13), "the second port serves too")
    check(connect(p1, "guest", "guest", "dev") == "refused", "guest is not created")
    check(connect(p1, "alice", "s3cret", "/") == "closed 530", "vhost / does not exist")
    stop(proc)
    with open(stderr_path) as f:
        warnings = [line for line in f if "queue_master_locator" in line]
    check(len(warnings) == 1 and "[warning]" in warnings[0] and "rabbitmq.conf:10" in warnings[0],
          "a RabbitMQ key Warren ignores: one warning naming file and line: %r" % warnings)
    with open(log_file) as f:
        logged = f.read()
    check("listening on 127.0.0.1:%d, 127.0.0.1:%d" % (p1, p2) in logged,
          "log.file gets the log, both listeners named")

    # the command line wins over the file: --port replaces the file's listeners
    p3 = free_port()
    proc = start(["--config", conf, "--port", str(p3), "--default-user", "bob",
                  "--default-pass", "pw", "--heartbeat", "20"], p3)
    check(not listening(p1) and not listening(p2), "--port replaces the file's listeners")
    check(connect(p3, "bob", "pw", "dev") == (16, 8192, 20),
          "options win over the file; the rest of the file still applies")
    stop(proc)

    # RABBITMQ_CONFIG_FILE, named without its .conf as RabbitMQ allows; its environment
    # variables win over the file (rabbit.erl: an environment origin beats the app env)
    env = {"RABBITMQ_CONFIG_FILE": conf[:-len(".conf")], "RABBITMQ_DEFAULT_USER": "carol",
           "RABBITMQ_DEFAULT_PASS": "cpw"}
    proc = start([], p1, env_extra=env)
    check(connect(p1, "carol", "cpw", "dev") == (16, 8192, 13),
          "RABBITMQ_CONFIG_FILE without .conf is read; RABBITMQ_DEFAULT_USER/PASS win over it")
    check(connect(p1, "alice", "s3cret", "dev") == "refused", "the file's user is not made then")
    stop(proc)

    # bad files stop start-up, naming file, line and key
    bad = os.path.join(tmp, "bad.conf")
    write(bad, "heartbeat = 10\n\nheartbeat_interval = 5\n")
    out = run_to_exit(["--config", bad, "--port", str(free_port())])
    check(out.returncode == 1 and "%s:3: You've tried to set heartbeat_interval" % bad in out.stderr,
          "an unknown key stops start-up with file:line and key: %r" % out.stderr.strip())
    write(bad, "default_user = x\nchannel_max = lots\n")
    out = run_to_exit(["--config", bad, "--port", str(free_port())])
    check(out.returncode == 1 and "%s:2:" % bad in out.stderr and "channel_max" in out.stderr
          and '"lots" cannot be converted to a(n) integer' in out.stderr,
          "a bad value stops start-up with file:line, key and RabbitMQ's reason: %r"
          % out.stderr.strip())
    write(bad, "listeners.tcp.default = 127.0.0.1:%d\nnot a setting\n" % free_port())
    out = run_to_exit(["--config", bad])
    check(out.returncode == 1 and "%s:2: Syntax error" % bad in out.stderr,
          "a syntax error stops start-up with file:line: %r" % out.stderr.strip())
    write(bad, "listeners.tcp = none\n")
    out = run_to_exit(["--config", bad])
    check(out.returncode == 1 and "no AMQP listener" in out.stderr,
          "listeners.tcp = none without TLS refuses to start: %r" % out.stderr.strip())
    out = run_to_exit(["--config", os.path.join(tmp, "absent.conf")])
    check(out.returncode == 1 and "absent.conf" in out.stderr, "a missing --config file stops it")
    out = run_to_exit([], {"RABBITMQ_CONFIG_FILE": bad[:-len(".conf")]})
    check(out.returncode == 1 and "no AMQP listener" in out.stderr,
          "RABBITMQ_CONFIG_FILE's file is checked the same way")
    for name in os.listdir(tmp):
        os.unlink(os.path.join(tmp, name))
    os.rmdir(tmp)
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        own_broker.kill_leftovers()  # never leave a broker behind, whatever failed
