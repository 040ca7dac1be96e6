#!/usr/bin/python3
"""Frame traces (/api/warren/traces): pika drives traffic on a traced connection and on the
connections of a traced vhost; the API's JSON and JSON Lines show the frames sent and
received with their fields, the pcap download decodes in tshark with the AMQP dissector
(skipped, with a message, without tshark), the ring keeps only the newest frames, and a
stopped trace records nothing."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pika

from checks import HOST, PORT, check, expect, exit_status, pika_connection, unique, wait_for_value
from mgmt import http, path_of, quote

TRACES = "/api/warren/traces"


def connection_named(client_name):
    """The broker's name ("peer -> local") of the connection whose client sent client_name."""
    def find():
        for c in http("GET", "/api/connections").json or []:
            if (c.get("client_properties") or {}).get("connection_name") == client_name:
                return c["name"]
        return None
    return wait_for_value(find, None) or find()


def trace_path(kind, name, query=""):
    return "%s/%s/%s%s" % (TRACES, kind, quote(name), query)


def frames(kind, name):
    reply = http("GET", trace_path(kind, name))
    check(reply.status == 200, "GET the %s trace: %d" % (kind, reply.status))
    return reply.json or []


def methods(trace, direction=None):
    return [f.get("method") for f in trace
            if f["type"] == "method" and (direction is None or f["direction"] == direction)]


def first(trace, method, direction):
    for i, f in enumerate(trace):
        if f.get("method") == method and f["direction"] == direction:
            return i, f
    return None, {}


def check_refusals(name):
    expect(http("GET", trace_path("connections", name)).status, 404, "no trace before PUT: 404")
    for body, what in (({"frames": 0}, "frames 0"), ({"frames": "many"}, "frames a string"),
                       ({"bytes": -1}, "negative bytes")):
        reply = http("PUT", trace_path("connections", name), body=body)
        expect((reply.status, (reply.json or {}).get("error")), (400, "bad_request"),
               "PUT with %s is refused" % what)
    expect(http("PUT", trace_path("connections", "127.0.0.1:1 -> 127.0.0.1:2"), body={}).status,
           404, "PUT for a connection that does not exist: 404")
    expect(http("PUT", trace_path("vhosts", unique("no-vhost")), body={}).status, 404,
           "PUT for a vhost that does not exist: 404")
    user = unique("trace-monitor")
    http("PUT", path_of("users", user), body={"password": "pw", "tags": "monitoring"})
    expect(http("GET", TRACES, user=(user, "pw")).status, 401, "a monitoring user may not read traces")
    http("DELETE", path_of("users", user))


def check_connection_trace(conn, name, queue):
    ch = conn.channel()
    expect(http("PUT", trace_path("connections", name), body={"frames": 100}).status, 201,
           "PUT starts a connection trace")
    ch.queue_declare(queue)
    body = bytes(range(32, 127)) + b"tail"  # 99 octets: the head shows the first 64
    ch.basic_publish("", queue, body, pika.BasicProperties(
        content_type="text/plain", delivery_mode=2, headers={"k": "v"}))
    big = b"B" * 300000  # three body frames at frame_max 131072
    ch.basic_publish("", queue, big)
    _, _, got = ch.basic_get(queue, auto_ack=True)
    check(got == body, "basic.get returns the message")
    ch.basic_get(queue, auto_ack=True)
    trace = frames("connections", name)
    sent = methods(trace, "in")
    for m in ("queue.declare", "basic.publish", "basic.get"):
        check(m in sent, "the trace shows %s from the client" % m)
    for m in ("queue.declare-ok", "basic.get-ok"):
        check(m in methods(trace, "out"), "the trace shows %s from the broker" % m)
    i, declare = first(trace, "queue.declare", "in")
    expect((declare.get("channel"), declare.get("arguments", {}).get("queue"),
            declare.get("arguments", {}).get("durable")), (ch.channel_number, queue, False),
           "queue.declare: channel, queue and durable")
    check(all(f["connection"] == name for f in trace), "every frame names the connection")
    check(all(trace[k]["timestamp_us"] <= trace[k + 1]["timestamp_us"]
              for k in range(len(trace) - 1)), "frames are in time order")
    check(str(trace[0]["time"]).endswith("Z") and "T" in trace[0]["time"], "time is ISO 8601 UTC")
    i, publish = first(trace, "basic.publish", "in")
    expect((publish["arguments"]["exchange"], publish["arguments"]["routing_key"],
            publish["arguments"]["mandatory"]), ("", queue, False), "basic.publish arguments")
    header, first_body = trace[i + 1], trace[i + 2]
    expect((header["type"], header["body_size"], header["properties"]),
           ("header", len(body), {"content_type": "text/plain", "delivery_mode": 2,
                                  "headers": {"k": "v"}}), "the content header and properties")
    expect((first_body["type"], first_body["body_size"], first_body["body_head"]),
           ("body", len(body), body[:64].decode()), "the body frame: size and first 64 octets")
    j, big_publish = first(trace[i + 1:], "basic.publish", "in")
    big_frames = trace[i + 1 + j + 2:i + 1 + j + 5]
    expect([(f["type"], f["body_size"]) for f in big_frames],
           [("body", 131064), ("body", 131064), ("body", 300000 - 2 * 131064)],
           "a large body arrives as frame_max-sized body frames")
    k, get_ok = first(trace, "basic.get-ok", "out")
    expect((get_ok["arguments"]["routing_key"], get_ok["arguments"]["redelivered"],
            trace[k + 1]["properties"].get("content_type"), trace[k + 2]["body_head"]),
           (queue, False, "text/plain", body[:64].decode()), "basic.get-ok and its content")
    lines = http("GET", trace_path("connections", name, "?format=jsonl"))
    expect(lines.headers.get("content-type"), "application/jsonl", "JSON Lines content type")
    check([json.loads(line) for line in lines.body.decode().splitlines()] == trace,
          "the JSON Lines download holds the same %d frames" % len(trace))
    return trace


def tshark_fields(pcap, *fields):
    out = subprocess.run(["tshark", "-r", pcap, "-Y", "amqp", "-T", "fields"] +
                         [a for f in fields for a in ("-e", f)],
                         capture_output=True, text=True, timeout=60)
    return [line.split("\t") for line in out.stdout.splitlines()]


def check_pcap(kind, name, queue, expect_connections):
    reply = http("GET", trace_path(kind, name, "?format=pcap"))
    expect((reply.status, reply.headers.get("content-type")),
           (200, "application/vnd.tcpdump.pcap"), "pcap download")
    if not shutil.which("tshark"):
        print("SKIP: tshark not installed (apt-get install tshark): the pcap is not decoded")
        return
    with tempfile.NamedTemporaryFile(suffix=".pcap") as f:
        f.write(reply.body)
        f.flush()
        rows = tshark_fields(f.name, "amqp.method.class", "amqp.method.method",
                             "amqp.method.arguments.queue", "amqp.method.arguments.routing_key",
                             "tcp.stream")
        calls = {(r[0], r[1]) for r in rows if len(r) > 1}
        check(("50", "10") in calls, "tshark decodes Queue.Declare (%s)" % kind)
        check(("60", "40") in calls, "tshark decodes Basic.Publish (%s)" % kind)
        check(any(r[:3] == ["50", "10", queue] for r in rows),
              "tshark shows Queue.Declare's queue name %s" % queue)
        check(any(r[0:2] == ["60", "40"] and r[3] == queue for r in rows),
              "tshark shows Basic.Publish's routing key %s" % queue)
        expect(len({r[4] for r in rows if len(r) > 4}), expect_connections,
               "one TCP stream per traced connection")
        bad = subprocess.run(["tshark", "-r", f.name, "-Y",
                              "_ws.malformed || _ws.expert.severity >= warning"],
                             capture_output=True, text=True, timeout=60).stdout.strip()
        expect(bad, "", "no malformed packets and no warnings in the pcap")


def check_ring_and_stop(conn, name, queue):
    ch = conn.channel()
    expect(http("PUT", trace_path("connections", name), body={"frames": 5}).status, 204,
           "PUT again restarts the trace, emptied, with the new size")
    for n in range(10):
        ch.basic_publish("", queue, b"m%d" % n)
    ch.queue_purge(queue)
    trace = frames("connections", name)
    expect(len(trace), 5, "the ring keeps the newest 5 frames")
    expect(methods(trace)[-2:], ["queue.purge", "queue.purge-ok"], "the newest are the last sent")
    summary = [t for t in http("GET", TRACES).json if t["name"] == name]
    check(summary and summary[0]["dropped"] > 0 and summary[0]["recording"],
          "GET /api/warren/traces counts the frames dropped: %r" % summary)
    expect(http("DELETE", trace_path("connections", name)).status, 204, "DELETE stops it")
    expect(http("GET", trace_path("connections", name)).status, 404, "a stopped trace is gone")
    ch.basic_publish("", queue, b"after")
    ch.queue_declare(queue, passive=True)
    check(all(t["name"] != name for t in http("GET", TRACES).json),
          "traffic after the stop records nothing")
    expect(http("PUT", trace_path("connections", name), body={}).status, 201, "a new trace")
    expect(frames("connections", name), [], "starts empty: nothing of what went before")
    http("DELETE", trace_path("connections", name))
    expect(http("DELETE", trace_path("connections", name)).status, 404, "DELETE again: 404")


def check_vhost_trace(queue):
    vhost = unique("trace-vhost")
    http("PUT", path_of("vhosts", vhost), body={})
    http("PUT", path_of("permissions", vhost, "guest"),
         body={"configure": ".*", "write": ".*", "read": ".*"})
    before = pika_connection(virtual_host=vhost,
                             client_properties={"connection_name": "trace-before"})
    expect(http("PUT", trace_path("vhosts", vhost), body={}).status, 201, "PUT starts a vhost trace")
    after = pika_connection(virtual_host=vhost,
                            client_properties={"connection_name": "trace-after"})
    other = pika_connection(client_properties={"connection_name": "trace-other"})
    for c in (before, after):
        ch = c.channel()
        ch.queue_declare(queue)
        ch.basic_publish("", queue, b"v")
    other.channel().queue_declare(unique("untraced-q"))
    names = {connection_named("trace-before"), connection_named("trace-after")}
    trace = frames("vhosts", vhost)
    expect({f["connection"] for f in trace}, names, "the vhost trace holds both its connections")
    opened = [f for f in trace if f.get("method") == "connection.open"]
    expect([(f["connection"], f["arguments"]["virtual_host"]) for f in opened],
           [(connection_named("trace-after"), vhost)],
           "a connection opened later is traced from its connection.open")
    check(any(f.get("method") == "connection.open-ok" for f in trace), "and its open-ok")
    check_pcap("vhosts", vhost, queue, 2)
    for c in (before, after, other):
        c.close()
    expect(http("DELETE", trace_path("vhosts", vhost)).status, 204, "DELETE stops the vhost trace")
    http("DELETE", path_of("vhosts", vhost))


def main():
    queue = unique("trace-frames-q")
    conn = pika_connection(
                           client_properties={"connection_name": "trace-frames"})
    name = connection_named("trace-frames")
    check(name and " -> " in name, "the connection's name: %r" % name)
    check_refusals(name)
    check_connection_trace(conn, name, queue)
    check_pcap("connections", name, queue, 1)
    check_ring_and_stop(conn, name, queue)
    check_vhost_trace(queue)
    conn.channel().queue_delete(queue)
    conn.close()


if __name__ == "__main__":
    main()
    sys.exit(exit_status())
