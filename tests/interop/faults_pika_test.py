#!/usr/bin/python3
"""Interop test: fault injection (/api/warren/faults) as pika sees each fault. Refused (403)
while not enabled, then the broker is restarted with --enable-fault-injection and every
fault is asked for through the API and observed by pika: connection.blocked/unblocked
callbacks, ConnectionClosedByBroker and ChannelClosedByBroker with the code and text asked
for, a socket cut (StreamLostError, and for a cut after N bytes exactly N bytes then EOF on a
raw socket), delayed writes, a heartbeat timeout when the broker stops sending heartbeats,
NackError for nacked publishes (not routed), a refused queue.declare and basic.consume, and
the memory/disk alarms blocking a publisher. A second connection is never affected. Bad
requests get 400 with a reason, an unknown connection 404."""
import os
import socket
import ssl
import struct
import subprocess
import tempfile
import time

import pika

import checks
from checks import HOST, PORT, check, expect, fresh_name
import mgmt
from mgmt import http, path_of
import own_broker

FAULTS = "/api/warren/faults"


def params(name, **extra):
    return pika.ConnectionParameters(host=HOST, port=PORT, client_properties={"connection_name": name},
                                     **extra)


def connect(name, **extra):
    return pika.BlockingConnection(params(name, **extra))


def inject(name, body):
    return http("POST", path_of("warren", "faults", "connections", name), body)


def api_name(connection_name):
    """The broker's name for the connection whose client gave connection_name."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for c in mgmt.get_json("/api/connections") or []:
            if (c.get("client_properties") or {}).get("connection_name") == connection_name:
                return c["name"]
        time.sleep(0.05)
    return None


def still_works(conn, what):
    """A second connection declares, publishes and gets as if nothing happened."""
    try:
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_publish("", q, b"ok")
        got = None
        for _ in range(50):
            _, _, got = ch.basic_get(q, auto_ack=True)
            if got:
                break
            time.sleep(0.02)
        ch.close()
        expect(got, b"ok", "%s: the other connection is unaffected" % what)
    except Exception as e:  # noqa: BLE001 - any failure here is the test's answer
        check(False, "%s: the other connection failed: %r" % (what, e))


def disabled():
    for method, path, body in (("GET", FAULTS, None), ("DELETE", FAULTS, None),
                               ("GET", FAULTS + "/alarms", None),
                               ("POST", FAULTS + "/alarms", {"alarm": "memory", "set": True}),
                               ("POST", FAULTS + "/connections/x", {"fault": "cut"})):
        r = http(method, path, body)
        expect(r.status, 403, "disabled: %s %s is refused" % (method, path))
        check(r.json and r.json.get("error") == "forbidden" and
              "--enable-fault-injection" in r.json.get("reason", ""),
              "disabled: the reason says how to enable it: %r" % (r.json,))
    r = http("GET", FAULTS, user=None)
    expect(r.status, 401, "disabled: without credentials, 401 first")


def bad_requests():
    conn = connect("bad-requests")
    cases = [
        ({"fault": "explode"}, "fault must be one of"),
        ({}, "fault must be one of"),
        ({"fault": "close", "code": 999}, "code must be an AMQP 0-9-1 reply code"),
        ({"fault": "close"}, "code must be"),
        ({"fault": "close", "code": 320, "text": "x" * 300}, "at most 255 bytes"),
        ({"fault": "close_channel", "code": 406}, "channel must be an integer"),
        ({"fault": "close_channel", "channel": 9, "code": 406}, "no open channel"),
        ({"fault": "delay", "ms": -1}, "ms must be an integer"),
        ({"fault": "nack"}, "count must be an integer"),
        ({"fault": "cut", "after": 3}, "takes no member \"after\""),
        ({"fault": "fail_next", "method": "basic.get", "code": 404}, "method must be"),
    ]
    for body, reason in cases:
        r = inject("bad-requests", body)
        check(r.status == 400 and r.json.get("error") == "bad_request" and
              reason in r.json.get("reason", ""),
              "bad request %r: 400 saying %r (got %d %r)" % (body, reason, r.status, r.json))
    r = http("POST", path_of("warren", "faults", "connections", "bad-requests"), raw_body=b"{nope")
    expect(r.status, 400, "a body that is not JSON: 400")
    r = inject("no-such-connection", {"fault": "cut"})
    expect((r.status, r.json), (404, mgmt.NOT_FOUND), "unknown connection: 404 Object Not Found")
    r = http("POST", FAULTS + "/alarms", {"alarm": "cpu", "set": True})
    expect(r.status, 400, "unknown alarm: 400")
    r = http("POST", FAULTS + "/alarms", {"alarm": "memory"})
    expect(r.status, 400, "alarm without set: 400")
    mgmt.http("PUT", "/api/users/faultmon", {"password": "pw", "tags": "monitoring"})
    r = http("GET", FAULTS, user=("faultmon", "pw"))
    expect(r.status, 401, "a monitoring user may not use the faults API")
    conn.close()


def blocked(other):
    events = []
    conn = connect("block-me")
    conn.add_on_connection_blocked_callback(lambda c, f: events.append(("blocked", f.method.reason)))
    conn.add_on_connection_unblocked_callback(lambda c, f: events.append(("unblocked",)))
    r = inject("block-me", {"fault": "block", "reason": "testing the blocked path"})
    expect(r.status, 200, "block: 200")
    expect(r.json and r.json.get("connections"), [api_name("block-me")], "block: names the connection")
    conn.process_data_events(time_limit=0.5)
    expect(events, [("blocked", "testing the blocked path")], "block: pika's blocked callback with the reason")
    inject("block-me", {"fault": "unblock"})
    conn.process_data_events(time_limit=0.5)
    expect(events[1:], [("unblocked",)], "unblock: pika's unblocked callback")
    still_works(other, "block")
    conn.close()


def close_connection(other):
    conn = connect("close-me")
    conn.channel()
    r = inject("close-me", {"fault": "close", "code": 320, "text": "CONNECTION_FORCED - chosen text"})
    expect(r.status, 200, "close: 200")
    try:
        conn.process_data_events(time_limit=2)
        check(False, "close: pika raised nothing")
    except pika.exceptions.ConnectionClosedByBroker as e:
        expect((e.reply_code, e.reply_text), (320, "CONNECTION_FORCED - chosen text"),
               "close: ConnectionClosedByBroker with the code and text")
    conn = connect("close-me-541")
    r = inject("close-me-541", {"fault": "close", "code": 541})
    try:
        conn.process_data_events(time_limit=2)
        check(False, "close 541: pika raised nothing")
    except pika.exceptions.ConnectionClosedByBroker as e:
        expect((e.reply_code, e.reply_text), (541, "INTERNAL_ERROR - injected fault"),
               "close without text: RabbitMQ's form of the code's name")
    still_works(other, "close")


def close_channel(other):
    conn = connect("close-channel")
    ch1 = conn.channel()
    ch2 = conn.channel()
    r = inject("close-channel", {"fault": "close_channel", "channel": ch2.channel_number,
                                 "code": 406, "text": "PRECONDITION_FAILED - chosen"})
    expect(r.status, 200, "close_channel: 200")
    try:
        ch2.queue_declare("", exclusive=True)
        check(False, "close_channel: pika raised nothing")
    except pika.exceptions.ChannelClosedByBroker as e:
        expect((e.reply_code, e.reply_text), (406, "PRECONDITION_FAILED - chosen"),
               "close_channel: ChannelClosedByBroker with the code and text")
    q = ch1.queue_declare("", exclusive=True).method.queue
    check(q.startswith("amq.gen-"), "close_channel: the connection's other channel goes on")
    still_works(other, "close_channel")
    conn.close()


def cut_now(other):
    conn = connect("cut-now")
    ch = conn.channel()
    r = inject("cut-now", {"fault": "cut"})
    expect(r.status, 200, "cut: 200")
    try:
        conn.process_data_events(time_limit=1)
        ch.queue_declare("", exclusive=True)
        check(False, "cut: pika raised nothing")
    except pika.exceptions.StreamLostError as e:
        check(True, "cut: StreamLostError (%s)" % e)
    still_works(other, "cut")


def cut_after_bytes(other):
    # pika: the declare-ok is cut after 5 bytes, so the frame never completes
    conn = connect("cut-after")
    ch = conn.channel()
    inject("cut-after", {"fault": "cut", "after_bytes": 5})
    try:
        ch.queue_declare("", exclusive=True)
        check(False, "cut after 5 bytes: pika raised nothing")
    except pika.exceptions.StreamLostError as e:
        check(True, "cut after 5 bytes: StreamLostError (%s)" % e)
    # a raw socket sees exactly the bytes allowed, mid-frame, then EOF
    s = socket.create_connection((HOST, PORT))
    name = raw_open(s, None)
    r = inject(name, {"fault": "block"})
    check(r.status == 400 and "connection.blocked capability" in r.json.get("reason", ""),
          "block to a client without the connection.blocked capability: 400 (%r)" % (r.json,))
    inject(name, {"fault": "cut", "after_bytes": 10})
    expect_cut_open_ok(s, "raw")
    still_works(other, "cut after bytes")


def raw_open(s, mport):
    """The AMQP handshake by hand (no client capabilities); the connection's API name."""
    s.sendall(b"AMQP\x00\x00\x09\x01")
    start = read_frame(s)  # connection.start
    check(start[0] == 1, "raw: connection.start")
    send_method(s, 0, 10, 11, b"\x00\x00\x00\x00" + shortstr("PLAIN") + longstr(b"\x00guest\x00guest") +
                shortstr("en_US"))
    read_frame(s)  # tune
    send_method(s, 0, 10, 31, struct.pack(">HIH", 10, 131072, 0))
    send_method(s, 0, 10, 40, shortstr("/") + shortstr("") + b"\x00")
    read_frame(s)  # open-ok
    return find_raw_name(s, mport)


def expect_cut_open_ok(s, what):
    """After a cut armed for 10 bytes, channel.open's open-ok (16 bytes) arrives cut short."""
    send_method(s, 1, 20, 10, shortstr(""))  # channel.open: open-ok is 7 + 8 + 1 = 16 bytes
    got = b""
    s.settimeout(5)
    while True:
        try:
            chunk = s.recv(100)
        except ssl.SSLEOFError:  # TLS: the socket went without close_notify
            break
        if not chunk:
            break
        got += chunk
    expect(len(got), 10, "%s: exactly 10 bytes of channel.open-ok's 16, then EOF" % what)
    check(got[:3] == b"\x01\x00\x01", "%s: they are the start of the open-ok frame" % what)
    s.close()


def shortstr(s):
    b = s.encode() if isinstance(s, str) else s
    return bytes([len(b)]) + b


def longstr(b):
    return struct.pack(">I", len(b)) + b


def send_method(s, channel, class_id, method_id, args):
    payload = struct.pack(">HH", class_id, method_id) + args
    s.sendall(struct.pack(">BHI", 1, channel, len(payload)) + payload + b"\xce")


def read_exact(s, n):
    got = b""
    while len(got) < n:
        chunk = s.recv(n - len(got))
        if not chunk:
            raise EOFError("EOF after %d bytes" % len(got))
        got += chunk
    return got


def read_frame(s):
    kind, channel, size = struct.unpack(">BHI", read_exact(s, 7))
    payload = read_exact(s, size + 1)[:-1]
    return kind, channel, payload


def find_raw_name(s, mport=None):
    local = "%s:%d" % s.getsockname()[:2]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for c in mgmt.get_json("/api/connections", port=mport) or []:
            if c["name"].startswith(local + " ->"):
                return c["name"]
        time.sleep(0.05)
    return local


def delay(other):
    conn = connect("delay-me")
    ch = conn.channel()
    t0 = time.monotonic()
    ch.queue_declare("", exclusive=True)
    plain = time.monotonic() - t0
    inject(api_name("delay-me"), {"fault": "delay", "ms": 400})
    t0 = time.monotonic()
    ch.queue_declare("", exclusive=True)
    delayed = time.monotonic() - t0
    check(delayed >= 0.4 and plain < 0.3,
          "delay 400 ms by API name: a round trip took %.3f s (%.3f s before)" % (delayed, plain))
    t0 = time.monotonic()
    still_works(other, "delay")
    check(time.monotonic() - t0 < 0.3, "delay: the other connection is not delayed")
    armed = http("GET", path_of("warren", "faults", "connections", "delay-me")).json
    expect(armed and armed[0].get("delay_ms"), 400, "delay: GET shows it armed")
    inject("delay-me", {"fault": "delay", "ms": 0})
    t0 = time.monotonic()
    ch.queue_declare("", exclusive=True)
    check(time.monotonic() - t0 < 0.3, "delay 0: writes go at once again")
    conn.close()


def heartbeats(other):
    conn = connect("quiet", heartbeat=2)
    r = inject("quiet", {"fault": "stop_heartbeats"})
    expect(r.status, 200, "stop_heartbeats: 200")
    t0 = time.monotonic()
    try:
        conn.process_data_events(time_limit=20)
        check(False, "stop_heartbeats: pika raised nothing in 20 s")
    except pika.exceptions.AMQPHeartbeatTimeout as e:
        check(True, "stop_heartbeats: pika's AMQPHeartbeatTimeout after %.1f s (%s)" %
              (time.monotonic() - t0, e))
    except pika.exceptions.StreamLostError as e:
        check("heartbeat" in str(e).lower(), "stop_heartbeats: pika lost the stream on its heartbeat timeout: %s" % e)
    still_works(other, "stop_heartbeats")


def nacks(other):
    conn = connect("nack-me")
    ch = conn.channel()
    ch.confirm_delivery()
    q = ch.queue_declare(fresh_name("faults-nack"), exclusive=True).method.queue
    r = inject("nack-me", {"fault": "nack", "count": 2})
    expect(r.status, 200, "nack: 200")
    outcomes = []
    for i in range(3):
        try:
            ch.basic_publish("", q, b"m%d" % i)
            outcomes.append("ack")
        except pika.exceptions.NackError:
            outcomes.append("nack")
    expect(outcomes, ["nack", "nack", "ack"], "nack 2: pika's NackError for the next two publishes only")
    expect(ch.queue_declare(q, passive=True).method.message_count, 1,
           "nack: the nacked messages were not routed")
    _, _, body = ch.basic_get(q, auto_ack=True)
    expect(body, b"m2", "nack: the acked one was")
    armed = http("GET", FAULTS).json
    expect([c["name"] for c in armed["connections"] if c["name"] == api_name("nack-me")], [],
           "nack: once used up nothing stays armed")
    still_works(other, "nack")
    conn.close()


def fail_next(other):
    conn = connect("fail-next")
    ch = conn.channel()
    inject("fail-next", {"fault": "fail_next", "method": "queue.declare", "code": 406,
                         "text": "PRECONDITION_FAILED - no declare for you"})
    try:
        ch.queue_declare("", exclusive=True)
        check(False, "fail_next queue.declare: pika raised nothing")
    except pika.exceptions.ChannelClosedByBroker as e:
        expect((e.reply_code, e.reply_text), (406, "PRECONDITION_FAILED - no declare for you"),
               "fail_next queue.declare: ChannelClosedByBroker with the code and text")
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    check(q.startswith("amq.gen-"), "fail_next: only the next declare failed")
    inject("fail-next", {"fault": "fail_next", "method": "basic.consume", "code": 403,
                         "text": "ACCESS_REFUSED - no consume"})
    try:
        ch.basic_consume(q, lambda *a: None)
        check(False, "fail_next basic.consume: pika raised nothing")
    except pika.exceptions.ChannelClosedByBroker as e:
        expect((e.reply_code, e.reply_text), (403, "ACCESS_REFUSED - no consume"),
               "fail_next basic.consume: ChannelClosedByBroker with the code and text")
    still_works(other, "fail_next")
    conn.close()


def alarms(other_name):
    events = []
    conn = connect("alarmed")
    conn.add_on_connection_blocked_callback(lambda c, f: events.append(("blocked", f.method.reason)))
    conn.add_on_connection_unblocked_callback(lambda c, f: events.append(("unblocked",)))
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    for alarm, reason in (("memory", "low on memory"), ("disk", "low on disk")):
        del events[:]
        r = http("POST", FAULTS + "/alarms", {"alarm": alarm, "set": True})
        expect((r.status, r.json and r.json.get(alarm)), (200, True), "%s alarm set: 200" % alarm)
        health = http("GET", "/api/health/checks/alarms")
        expect(health.status, 503, "%s alarm: the health check sees it" % alarm)
        ch.basic_publish("", q, b"held")
        conn.process_data_events(time_limit=0.5)
        expect(events, [("blocked", reason)], "%s alarm: the publisher hears connection.blocked" % alarm)
        state = [c["state"] for c in mgmt.get_json("/api/connections")
                 if c["name"] == api_name("alarmed")]
        expect(state, ["blocked"], "%s alarm: the publisher is blocked" % alarm)
        r = http("POST", FAULTS + "/alarms", {"alarm": alarm, "set": False})
        expect(r.status, 200, "%s alarm cleared: 200" % alarm)
        conn.process_data_events(time_limit=0.5)
        expect(events[1:], [("unblocked",)], "%s alarm cleared: connection.unblocked" % alarm)
        expect(ch.queue_declare(q, passive=True).method.message_count, 1,
               "%s alarm cleared: the held publish arrived" % alarm)
        ch.queue_purge(q)
    conn.close()


def config_key():
    """warren.fault_injection in rabbitmq.conf enables it as the option does; false does not;
    a value that is not a boolean stops the start."""
    for value, status in (("true", 200), ("false", 403)):
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write("warren.fault_injection = %s\n" % value)
        port, mport = own_broker.free_port(), own_broker.free_port()
        proc = own_broker.start(["--config", f.name, "--port", str(port), "--management-port",
                                 str(mport), "--prometheus-port", "0"], port)
        r = http("GET", FAULTS, port=mport)
        expect(r.status, status, "rabbitmq.conf warren.fault_injection = %s: GET answers" % value)
        expect(own_broker.stop(proc), 0, "warren.fault_injection = %s: the broker stops cleanly" % value)
        os.unlink(f.name)
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
        f.write("warren.fault_injection = maybe\n")
    result = subprocess.run([own_broker.WARREN, "--config", f.name, "--port", "0",
                             "--data-dir", own_broker.data_dir()],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=10)
    check(result.returncode != 0 and b"warren.fault_injection" in result.stderr,
          "warren.fault_injection = maybe: the broker refuses to start, naming the key (%d, %r)" %
          (result.returncode, result.stderr[-200:]))
    os.unlink(f.name)


def tls_faults():
    """Cut (now, and mid-frame inside an intact TLS record) and delay on a TLS connection: a
    broker of its own with a TLS listener."""
    from tls_certs import Certs
    certs = Certs()
    try:
        tls_port, mport = own_broker.free_port(), own_broker.free_port()
        conf = os.path.join(certs.dir, "tls.conf")
        with open(conf, "w") as f:
            f.write("listeners.ssl.default = 127.0.0.1:%d\nssl_options.cacertfile = %s\n"
                    "ssl_options.certfile = %s\nssl_options.keyfile = %s\n"
                    % (tls_port, certs.ca, certs.server_cert, certs.server_key))
        proc = own_broker.start(["--config", conf, "--port", str(own_broker.free_port()),
                                 "--management-port", str(mport), "--prometheus-port", "0",
                                 "--enable-fault-injection"], tls_port)

        def tls_connect(name):
            ctx = ssl.create_default_context(cafile=certs.ca)
            return pika.BlockingConnection(pika.ConnectionParameters(
                "localhost", tls_port, ssl_options=pika.SSLOptions(ctx, "localhost"),
                client_properties={"connection_name": name}))

        def tls_inject(name, body):
            return http("POST", path_of("warren", "faults", "connections", name), body, port=mport)

        bystander = tls_connect("tls-bystander")
        conn = tls_connect("tls-delay")
        ch = conn.channel()
        expect(tls_inject("tls-delay", {"fault": "delay", "ms": 300}).status, 200, "TLS delay: 200")
        t0 = time.monotonic()
        ch.queue_declare("", exclusive=True)
        check(time.monotonic() - t0 >= 0.3, "TLS delay 300 ms: a round trip took %.3f s" %
              (time.monotonic() - t0))
        conn.close()
        for name, body in (("tls-cut", {"fault": "cut"}),
                           ("tls-cut-after", {"fault": "cut", "after_bytes": 5})):
            conn = tls_connect(name)
            ch = conn.channel()
            expect(tls_inject(name, body).status, 200, "TLS %r: 200" % body)
            try:
                conn.process_data_events(time_limit=0.5)
                ch.queue_declare("", exclusive=True)
                check(False, "TLS %r: pika raised nothing" % body)
            except pika.exceptions.StreamLostError as e:
                check(True, "TLS %r: StreamLostError (%s)" % (body, e))
        ctx = ssl.create_default_context(cafile=certs.ca)
        raw = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port)),
                              server_hostname="localhost")
        tls_inject(raw_open(raw, mport), {"fault": "cut", "after_bytes": 10})
        expect_cut_open_ok(raw, "raw over TLS")
        ch = bystander.channel()
        check(ch.queue_declare("", exclusive=True).method.queue.startswith("amq.gen-"),
              "TLS: the other connection is unaffected")
        bystander.close()
        expect(own_broker.stop(proc), 0, "TLS broker: stops cleanly")
    finally:
        certs.remove()


def main():
    disabled()
    config_key()
    checks.restart_broker(["--enable-fault-injection"])
    r = http("GET", FAULTS)
    expect((r.status, r.json), (200, {"enabled": True, "alarms": {"memory": False, "disk": False},
                                      "connections": []}), "enabled: GET /api/warren/faults")
    other = connect("bystander")
    bad_requests()
    blocked(other)
    close_connection(other)
    close_channel(other)
    cut_now(other)
    cut_after_bytes(other)
    delay(other)
    nacks(other)
    fail_next(other)
    alarms("bystander")
    heartbeats(other)
    tls_faults()
    r = http("DELETE", FAULTS)
    expect(r.status, 204, "DELETE /api/warren/faults: 204")
    still_works(other, "the end")
    other.close()
    return checks.exit_status()


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    finally:
        own_broker.kill_leftovers()
