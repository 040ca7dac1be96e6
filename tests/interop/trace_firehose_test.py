#!/usr/bin/python3
"""RabbitMQ's firehose: with tracing on for a vhost, every publish goes to amq.rabbitmq.trace
as publish.<exchange> and every delivery (basic.deliver, basic.get-ok) as deliver.<queue>,
with RabbitMQ 3.10's headers, types and order (observed beside it; this test passes against
both). Tracing off: nothing more reaches the trace exchange."""

import os
import re
import subprocess
import sys
import time

import pika

from checks import HOST, PORT, check, expect, exit_status, unique
from mgmt import http, path_of
import rawamqp

VHOST = "/"
NODE = re.compile(r"^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+$")
CONNECTION = re.compile(r"^127\.0\.0\.1:\d+ -> 127\.0\.0\.1:%d$" % PORT)


def set_tracing(on):
    reply = http("PUT", path_of("vhosts", VHOST), body={"tracing": on})
    check(reply.status in (201, 204), "PUT /api/vhosts/%%2F tracing=%s: %d" % (on, reply.status))
    shown = http("GET", path_of("vhosts", VHOST)).json or {}
    expect(shown.get("tracing"), on, "GET /api/vhosts/%2F shows tracing")


def check_tracing_refusals():
    """What RabbitMQ 3.10 answers for a "tracing" that is no boolean."""
    for value in ("maybe", 1):
        reply = http("PUT", path_of("vhosts", VHOST), body={"tracing": value})
        expect((reply.status, reply.json), (400, {"error": "bad_request",
                                                  "reason": ["not_boolean", value]}),
               "PUT tracing=%r is refused" % (value,))
    reply = http("PUT", path_of("vhosts", VHOST), body={"tracing": "false"})
    expect(reply.status, 204, 'PUT tracing="false" is taken')


def raw_client():
    c = rawamqp.Client(HOST, PORT)
    c.send_header()
    c.read_start()
    c.send_start_ok()
    c.read_tune()
    c.send_method(0, 10, 31, rawamqp.tune_ok_args())
    c.send_method(0, 10, 40, rawamqp.open_args(VHOST))
    c.expect_method(10, 41)
    c.open_channel(1)
    return c


def drain(queue):
    """Every message in queue, by basic.get, as (exchange, routing key, property flags,
    typed headers, body): the types are the wire's letters, which pika would hide."""
    c = raw_client()
    got = []
    while True:
        c.send_method(1, 60, 70, rawamqp.short(0) + rawamqp.shortstr(queue) + rawamqp.octet(1))
        f = c.read_frame_skip_heartbeats()
        if f.is_method(60, 72):
            break
        r = f.args()
        r.longlong()
        r.octet()
        exchange, key = r.shortstr(), r.shortstr()
        h = c.read_frame_skip_heartbeats()
        hr = rawamqp.Reader(h.payload)
        hr.short(), hr.short()
        size = hr.longlong()
        flags = hr.short()
        headers = hr.table() if flags & 0x2000 else None
        body = b""
        while len(body) < size:
            body += c.read_frame_skip_heartbeats().payload
        got.append((exchange, key, flags, headers, body))
    c.close()
    return got


def expect_publish_trace(msg, exchange, keys, queues, props, body, what):
    x, key, flags, headers, got_body = msg
    expect((x, key), ("amq.rabbitmq.trace", "publish." + exchange), what + ": exchange, key")
    expect(flags, 0x2000, what + ": only the headers property")
    expect(got_body, body, what + ": the body")
    h = dict(headers or {})
    expect(list(h), ["exchange_name", "routing_keys", "properties", "node", "vhost",
                     "connection", "channel", "user", "routed_queues"], what + ": header order")
    expect(h.get("exchange_name"), ("S", exchange.encode()), what + ": exchange_name")
    expect(h.get("routing_keys"), ("A", [("S", k.encode()) for k in keys]),
           what + ": routing_keys")
    expect(h.get("properties"), ("F", props), what + ": properties")
    check(NODE.match(h.get("node", ("", b""))[1].decode()), what + ": node %r" % (h.get("node"),))
    expect(h.get("vhost"), ("S", VHOST.encode()), what + ": vhost")
    conn = h.get("connection", ("", b""))
    check(conn[0] == "S" and CONNECTION.match(conn[1].decode()),
          what + ": connection %r" % (conn,))
    expect(h.get("channel"), ("I", 1), what + ": channel")
    expect(h.get("user"), ("S", b"guest"), what + ": user")
    expect(h.get("routed_queues"), ("A", [("S", q.encode()) for q in queues]),
           what + ": routed_queues")


def expect_deliver_trace(msg, queue, exchange, keys, props, redelivered, body, what):
    x, key, flags, headers, got_body = msg
    expect((x, key), ("amq.rabbitmq.trace", "deliver." + queue), what + ": exchange, key")
    expect(flags, 0x2000, what + ": only the headers property")
    expect(got_body, body, what + ": the body")
    h = dict(headers or {})
    expect(list(h), ["exchange_name", "routing_keys", "properties", "node", "redelivered",
                     "vhost", "connection", "channel", "user"], what + ": header order")
    expect(h.get("exchange_name"), ("S", exchange.encode()), what + ": exchange_name")
    expect(h.get("routing_keys"), ("A", [("S", k.encode()) for k in keys]),
           what + ": routing_keys")
    expect(h.get("properties"), ("F", props), what + ": properties")
    expect(h.get("redelivered"), ("I", redelivered), what + ": redelivered")
    expect(h.get("channel"), ("I", 1), what + ": channel")
    expect(h.get("user"), ("S", b"guest"), what + ": user")
    expect(h.get("vhost"), ("S", VHOST.encode()), what + ": vhost")


WARRENCTL = os.path.join(os.environ.get("srcdir") or os.path.join(os.path.dirname(__file__),
                                                                  "..", ".."), "src", "cli", "warrenctl")


def ctl(*args):
    from mgmt import MANAGEMENT_PORT
    command = ["/usr/bin/python3", WARRENCTL, "--port", str(MANAGEMENT_PORT), "--host", HOST,
               "--password", "guest"] + list(args)
    r = subprocess.run(command, capture_output=True, timeout=60)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def check_warrenctl():
    """trace_on / trace_off print what rabbitmqctl 3.10 prints, and flip the vhost's tracing
    (a missing vhost is no error and is not created)."""
    expect(ctl("trace_on"), (0, 'Starting tracing for vhost "/" ...\nTrace enabled for vhost /\n',
                             ""), "warrenctl trace_on")
    expect((http("GET", path_of("vhosts", VHOST)).json or {}).get("tracing"), True,
           "tracing after trace_on")
    expect(ctl("trace_off", "-q"), (0, "Trace disabled for vhost /\n", ""), "warrenctl trace_off -q")
    expect((http("GET", path_of("vhosts", VHOST)).json or {}).get("tracing"), False,
           "tracing after trace_off")
    missing = unique("no-such-vhost")
    expect(ctl("trace_on", "-p", missing)[0], 0, "trace_on -p a missing vhost succeeds")
    expect(http("GET", path_of("vhosts", missing)).status, 404, "and does not create it")
    status, out, _ = ctl("trace_off", "--formatter", "json")
    check(status == 0 and '"value":"Trace disabled for vhost /"' in out,
          "trace_off --formatter json: %r" % out)


def main():
    q = unique("trace-q")
    sink = unique("trace-sink")
    conn = pika.BlockingConnection(pika.ConnectionParameters(HOST, PORT))
    ch = conn.channel()
    ch.queue_declare(q)
    ch.queue_declare(sink)
    ch.queue_bind(sink, "amq.rabbitmq.trace", "#")
    ch.queue_purge(q)
    ch.queue_purge(sink)

    check_tracing_refusals()
    set_tracing(True)
    props = pika.BasicProperties(content_type="text/plain", delivery_mode=2, priority=3,
                                 correlation_id="c-1", message_id="m-1", timestamp=1700000000,
                                 headers={"h": "v", "n": 7}, app_id="trace-test")
    ch.basic_publish("", q, b"hello", props)
    ch.basic_publish("amq.direct", "nowhere", b"lost")
    method, _, body = ch.basic_get(q, auto_ack=False)
    check(body == b"hello", "basic.get takes the message")
    ch.basic_nack(method.delivery_tag, requeue=True)
    got = []
    tag = ch.basic_consume(q, lambda c, m, p, b: got.append((m, b)), auto_ack=True)
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        conn.process_data_events(0.1)
    ch.basic_cancel(tag)
    check(len(got) == 1 and got[0][0].redelivered, "the consumer gets it redelivered")
    later = unique("trace-later-q")  # declared while tracing: traced as well
    ch.queue_declare(later)
    ch.basic_publish("", later, b"later")
    ch.basic_get(later, auto_ack=True)
    ch.queue_delete(later)
    set_tracing(False)
    # tracing off: neither the publish nor the get below is traced
    ch.basic_publish("", q, b"after")
    ch.basic_get(q, auto_ack=True)
    time.sleep(0.3)

    traced = drain(sink)
    expect([m[1] for m in traced], ["publish.", "publish.amq.direct", "deliver." + q,
                                    "deliver." + q, "publish.", "deliver." + later],
           "the trace messages, in order")
    if len(traced) != 6:
        return
    # RabbitMQ lists the properties last to first, integers as signed 32-bit
    wanted_props = {"app_id": ("S", b"trace-test"), "timestamp": ("I", 1700000000),
                    "message_id": ("S", b"m-1"), "correlation_id": ("S", b"c-1"),
                    "priority": ("I", 3), "delivery_mode": ("I", 2),
                    "headers": ("F", {"h": ("S", b"v"), "n": ("I", 7)}),
                    "content_type": ("S", b"text/plain")}
    expect(list(traced[0][3]["properties"][1]), list(wanted_props), "properties order")
    expect_publish_trace(traced[0], "", [q], [q], wanted_props, b"hello", "publish trace")
    expect_publish_trace(traced[1], "amq.direct", ["nowhere"], [], {}, b"lost",
                         "unroutable publish trace")
    expect_deliver_trace(traced[2], q, "", [q], wanted_props, 0, b"hello", "get-ok trace")
    expect_deliver_trace(traced[3], q, "", [q], wanted_props, 1, b"hello", "deliver trace")
    ch.queue_delete(q)
    ch.queue_delete(sink)
    conn.close()
    if os.environ.get("WARREN"):
        check_warrenctl()


if __name__ == "__main__":
    main()
    sys.exit(exit_status())
