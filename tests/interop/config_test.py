#!/usr/bin/python3
"""Interop test: the command line and the RabbitMQ container variables (RABBITMQ_DEFAULT_USER,
_PASS, _VHOST) set the default user and vhost, options win over the variables, and --help,
--version, bad options and a taken port behave."""
import os
import subprocess
import sys

import pika

import own_broker
from own_broker import WARREN, free_port
failures = 0


def check(ok, text):
    global failures
    print("%s: %s" % ("PASS" if ok else "FAIL", text), flush=True)
    failures += not ok


def start(args, env_extra):
    port = free_port()
    proc = own_broker.start(["--port", str(port), "--management-port", "0", "--prometheus-port",
                             "0"] + args, port, env_extra)
    return proc, port


def stop(proc):
    check(own_broker.stop(proc) == 0, "broker exits 0 on SIGTERM")


def login(port, user, password, vhost):
    try:
        c = pika.BlockingConnection(pika.ConnectionParameters(
            "127.0.0.1", port, vhost, pika.PlainCredentials(user, password),
            connection_attempts=1, socket_timeout=5))
        c.close()
        return "ok"
    except pika.exceptions.ProbableAuthenticationError:
        return "refused"
    except pika.exceptions.ProbableAccessDeniedError as e:  # pika's name for a 530 on open
        return "closed 530" if "(530)" in str(e) else "access denied: %s" % e


def publish_outcome(port, size):
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, socket_timeout=5))
    try:
        ch = c.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_publish("", q, b"x" * size)
        method, _, body = ch.basic_get(q, auto_ack=True)
        return "delivered" if body is not None and len(body) == size else "lost"
    except pika.exceptions.ChannelClosedByBroker as e:
        return "%d %s" % (e.reply_code, e.reply_text)
    finally:
        if c.is_open:
            c.close()


def main():
    if not os.access(WARREN, os.X_OK):
        print("FAIL: $WARREN is not the broker binary")
        return 1
    env = {"RABBITMQ_DEFAULT_USER": "alice", "RABBITMQ_DEFAULT_PASS": "s3cret",
           "RABBITMQ_DEFAULT_VHOST": "dev"}
    proc, port = start([], env)
    check(login(port, "alice", "s3cret", "dev") == "ok", "environment user logs in to its vhost")
    check(login(port, "guest", "guest", "dev") == "refused", "guest is not created then")
    check(login(port, "alice", "s3cret", "/") == "closed 530", "vhost / does not exist then")
    stop(proc)
    proc, port = start(["--default-user", "bob", "--default-pass", "pw", "--default-vhost", "v"], env)
    check(login(port, "bob", "pw", "v") == "ok", "options win over the environment")
    check(login(port, "alice", "s3cret", "dev") == "refused", "the environment user is not made")
    stop(proc)
    proc, port = start(["--max-message-size", "4096"], {})
    check(publish_outcome(port, 4096) == "delivered", "a body of exactly --max-message-size is taken")
    outcome = publish_outcome(port, 4097)
    check(outcome == "406 PRECONDITION_FAILED - message size 4097 is larger than configured max "
          "size 4096", "one octet more closes the channel: %s" % outcome)
    stop(proc)
    out = subprocess.run([WARREN, "--help"], capture_output=True, text=True)
    check(out.returncode == 0 and "--port" in out.stdout, "--help prints the options, exits 0")
    out = subprocess.run([WARREN, "--version"], capture_output=True, text=True)
    check(out.returncode == 0 and out.stdout.startswith("warren "), "--version: %r" % out.stdout.strip())
    out = subprocess.run([WARREN, "--port", "x"], capture_output=True, text=True)
    check(out.returncode == 2 and "invalid value 'x' for option --port" in out.stderr,
          "a bad option value exits 2 naming the option: %r" % out.stderr.strip())
    proc, port = start([], {})
    out = subprocess.run([WARREN, "--port", str(port), "--management-port", "0", "--data-dir",
                          own_broker.data_dir()], capture_output=True, text=True, timeout=10)
    check(out.returncode == 1 and "cannot listen" in out.stderr, "a taken port exits 1 and says so")
    stop(proc)
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        own_broker.kill_leftovers()  # never leave a broker behind, whatever failed
