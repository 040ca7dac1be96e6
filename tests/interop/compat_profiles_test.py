#!/usr/bin/python3
"""Interop test: the RabbitMQ-version profiles (--rabbitmq-compat, warren.rabbitmq_compat). The
same kombu and pika code against the default 3.13 profile and the 4.3 one: the server
properties kombu decides its qos from, basic.qos global=true applied per consumer, transient
non-exclusive queues refused with 541, the 8192-byte frame minimum before and at tune-ok,
x-queue-version 1, x-queue-mode and x-queue-master-locator, ha-* policies; and connection_max
(both profiles, RabbitMQ 3.11+)."""
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import amqp
import kombu
import pika

import own_broker
from checks import check, exit_status, expect
from own_broker import WARREN, free_port

PROFILES = ("3.13", "4.3")


class Broker:
    def __init__(self, profile, extra=()):
        self.port, self.management = free_port(), free_port()
        args = ["--port", str(self.port), "--management-port", str(self.management),
                "--prometheus-port", "0", "--ephemeral"]
        if profile != "3.13":  # 3.13 is the default: no option
            args += ["--rabbitmq-compat", profile]
        args += list(extra)
        self.proc = own_broker.start(args, self.port)

    def params(self, **kw):
        return pika.ConnectionParameters("127.0.0.1", self.port, **kw)

    def connect(self, **kw):
        return pika.BlockingConnection(self.params(**kw))

    def stop(self):
        expect(own_broker.stop(self.proc), 0, "the broker stops with status 0")


def closed_by(action):
    """(code, text) of the channel or connection close that action provoked; None if none."""
    try:
        action()
    except (pika.exceptions.ChannelClosedByBroker,
            pika.exceptions.ConnectionClosedByBroker) as closed:
        return closed.reply_code, closed.reply_text
    return None


def server_properties_and_kombu_qos(b, profile):
    with kombu.Connection("amqp://guest:guest@127.0.0.1:%d//" % b.port) as conn:
        conn.connect()
        props = conn.connection.server_properties
        product, version = props.get("product"), props.get("version")
        spec = conn.qos_semantics_matches_spec
        if profile == "4.3":
            expect((product, version), ("RabbitMQ", "4.3.5"), "4.3: product and version as "
                   "RabbitMQ 4.3 sends them")
            expect(spec, False, "4.3: kombu reads RabbitMQ >= 3.3 and so asks for global qos "
                   "(as Celery then does)")
        else:
            expect(product, "Warren", "3.13: Warren names itself")
            expect(spec, True, "3.13: kombu keeps the spec's qos semantics")
        # basic.qos global=true over py-amqp (kombu's channel), then two consumers on it
        channel = conn.default_channel
        channel.basic_qos(0, 1, True)
        delivered = []
        for n in range(2):
            queue = "qos-%d" % n
            channel.queue_declare(queue, durable=True, auto_delete=False)
            for i in range(3):
                    channel.basic_publish(amqp.Message("m%d" % i), "", queue)
            channel.basic_consume(queue, callback=lambda m: delivered.append(m))
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.1)
            except Exception:
                pass
        want = 2 if profile == "4.3" else 1
        expect(len(delivered), want, "%s: basic.qos(prefetch 1, global=true) lets %d unacked "
               "messages out to two consumers" % (profile, want))


def transient_queues(b, profile):
    conn = b.connect()
    ch = conn.channel()
    ch.queue_declare("durable-one", durable=True)
    ch.queue_declare("", exclusive=True)
    check(True, "%s: durable and exclusive transient queues are declared" % profile)
    result = closed_by(lambda: ch.queue_declare("transient-shared", durable=False,
                                                exclusive=False, auto_delete=True))
    if profile == "4.3":
        check(result is not None and result[0] == 541 and result[1].startswith(
            "INTERNAL_ERROR - Feature `transient_nonexcl_queues` is deprecated.\nBy default, "
            "this feature is not permitted anymore."),
            "4.3: a transient non-exclusive queue closes the connection with 541 and "
            "RabbitMQ's warning: %r" % (result,))
        check(result is not None and len(result[1]) == 255, "the text cut at 255 characters")
        check(conn.is_closed, "the whole connection is closed")
    else:
        expect(result, None, "3.13: a transient non-exclusive queue is declared")
        conn.close()


def queue_arguments(b, profile):
    conn = b.connect()
    ch = conn.channel()
    result = closed_by(lambda: ch.queue_declare("v1", durable=True,
                                                arguments={"x-queue-version": 1}))
    if profile == "4.3":
        expect(result, (406, "PRECONDITION_FAILED - invalid arg 'x-queue-version' for queue "
                        "'v1' in vhost '/': \"unsupported queue version '1'\""),
               "4.3: x-queue-version 1 is refused (CQv1 removed)")
        ch = conn.channel()
    else:
        expect(result, None, "3.13: x-queue-version 1 is taken")
    result = closed_by(lambda: ch.queue_declare("mode", durable=True,
                                                arguments={"x-queue-mode": "bogus"}))
    if profile == "4.3":
        expect(result, None, "4.3: x-queue-mode is no longer checked (any value taken)")
    else:
        check(result is not None and result[0] == 406, "3.13: x-queue-mode bogus is a 406: %r"
              % (result,))
        ch = conn.channel()
    result = closed_by(lambda: ch.queue_declare("located", durable=True,
                                                arguments={"x-queue-master-locator": "min-masters"}))
    if profile == "4.3":
        check(result is not None and result[0] == 541 and
              "Feature `queue_master_locator` is deprecated." in result[1],
              "4.3: x-queue-master-locator closes the connection with 541: %r" % (result,))
    else:
        expect(result, None, "3.13: x-queue-master-locator is taken")
        conn.close()


def ha_policy(b, profile):
    body = json.dumps({"pattern": "^ha\\.", "definition": {"ha-mode": "all"}}).encode()
    request = urllib.request.Request("http://127.0.0.1:%d/api/policies/%%2F/mirror" % b.management,
                                     data=body, method="PUT")
    request.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status, reply = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, reply = error.code, error.read()
    if profile == "4.3":
        expect(status, 400, "4.3: an ha-mode policy is refused")
        check(b"are not recognised policy settings" in reply, "as an unknown key: %r" % reply)
    else:
        check(status in (201, 204), "3.13: an ha-mode policy is taken (%d)" % status)


def frame_limits(b, profile):
    # connection.tune-ok with frame_max 4096 (amqplib's old default)
    result = None
    try:
        b.connect(frame_max=4096).close()
    except pika.exceptions.AMQPConnectionError as error:
        result = repr(error)
    if profile == "4.3":
        check(result is not None and "530" in result and "negotiated frame_max = 4096 is lower "
              "than the minimum allowed value (8192)" in result,
              "4.3: frame_max 4096 is refused at tune-ok with 530: %s" % result)
    else:
        expect(result, None, "3.13: frame_max 4096 is taken")
    b.connect(frame_max=8192).close()
    check(True, "%s: frame_max 8192 is taken" % profile)
    # a start-ok between 4096 and 8192 bytes (a large JWT, say), before authentication
    big = {"product": "x" * 5000}
    result = None
    try:
        b.connect(client_properties=big).close()
    except pika.exceptions.AMQPConnectionError as error:
        result = repr(error)
    if profile == "4.3":
        expect(result, None, "4.3: a 5 kB connection.start-ok is read (limit 8192 before auth)")
    else:
        check(result is not None, "3.13: a 5 kB start-ok exceeds the 4096-byte limit: %s" % result)


def connection_max(profile):
    conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    conf.write("connection_max = 1\nwarren.rabbitmq_compat = %s\n" % profile)
    conf.close()
    try:
        # started without own_broker's probe connection, which would count against the limit
        proc = subprocess.Popen([WARREN, "--config", conf.name, "--bind", "127.0.0.1", "--port",
                                 "0", "--management-port", "0", "--prometheus-port", "0",
                                 "--ephemeral"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, env=own_broker.clean_env())
        own_broker.started.append(proc)
        ready = proc.stdout.readline().decode().split()
        port = int(dict(w.split("=", 1) for w in ready[1:])["amqp"].rsplit(":", 1)[1])
        params = pika.ConnectionParameters("127.0.0.1", port)
        first = pika.BlockingConnection(params)
        check(first.is_open, "connection_max = 1: one connection opens")
        props = first._impl.server_properties
        expect(props.get("product"), "RabbitMQ" if profile == "4.3" else "Warren",
               "warren.rabbitmq_compat = %s in the file picks the profile" % profile)
        result = None
        try:
            pika.BlockingConnection(params).close()
        except pika.exceptions.AMQPConnectionError as error:
            result = str(error)
        expect(result, "ConnectionClosedByBroker: (530) 'NOT_ALLOWED - connection refused: node "
               "connection limit (1) is reached'",
               "%s: the second is refused at connection.open" % profile)
        first.close()
        pika.BlockingConnection(params).close()
        check(True, "once the first is closed another opens")
        expect(own_broker.stop(proc), 0, "stops with status 0")
        proc.stdout.close()
    finally:
        os.unlink(conf.name)


def bad_profile():
    out = subprocess.run([WARREN, "--rabbitmq-compat", "5.0", "--port", "0", "--ephemeral"],
                         capture_output=True, text=True, timeout=10)
    expect(out.returncode, 2, "--rabbitmq-compat 5.0 is refused with status 2")
    check("invalid value '5.0' for option --rabbitmq-compat" in out.stderr, out.stderr.strip())


def main():
    try:
        for profile in PROFILES:
            print("---- profile %s" % profile, flush=True)
            b = Broker(profile)
            server_properties_and_kombu_qos(b, profile)
            transient_queues(b, profile)
            queue_arguments(b, profile)
            ha_policy(b, profile)
            frame_limits(b, profile)
            b.stop()
            connection_max(profile)
        bad_profile()
    finally:
        own_broker.kill_leftovers()
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
