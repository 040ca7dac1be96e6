#!/usr/bin/python3
"""Interop test: memory and disk alarms as pika and the management API see them. A limit in
the configuration raises the alarm at start; the health checks answer 503 naming it and
/api/nodes shows it; connections are "blocking" until they publish, then the publisher is
"blocked", hears connection.blocked ("low on memory" / "low on disk") and its publish waits
unrouted, while a consumer on another connection drains a backlog and never hears
connection.blocked; a runtime change (warrenctl, rabbitmqctl for RabbitMQ) clears the alarm:
connection.unblocked, and the held publish arrives. For Warren, also the real thing: a
watermark a little above the broker's memory, crossed by queued bodies, blocks the publisher
until a consumer drains them and the memory is given back.

Against RabbitMQ (AMQP_PORT set, BESIDE_DIR naming a rabbitmq-beside node with the management
plugin): RabbitMQ cannot be restarted with a file here, so rabbitmqctl sets the same limits
first; the sampling scenario is skipped (RabbitMQ pages bodies to disk instead)."""
import os
import subprocess
import sys
import tempfile
import time

import pika

import own_broker

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
WARRENCTL = os.path.join(os.environ.get("srcdir") or os.path.join(TESTS_DIR, "..", ".."),
                         "src", "cli", "warrenctl")
BESIDE = "/work/shared/tools/rabbitmq-beside"
LOW_MEMORY = "1MB"       # below any broker's resident memory
HUGE_DISK = "100000GB"   # more than any disk here has free
failures = 0


def check(ok, text):
    global failures
    print("%s: %s" % ("PASS" if ok else "FAIL", text), flush=True)
    failures += not ok


def http(port, method, path, body=None):
    import base64
    import json
    import urllib.error
    import urllib.request
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Authorization", "Basic " + base64.b64encode(b"guest:guest").decode())
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read()
        return e.code, json.loads(text) if text else None


class Warren:
    """A broker of the test's own, started with a rabbitmq.conf."""

    def __init__(self, conf_text, tmp, name):
        self.port, self.mport = own_broker.free_port(), own_broker.free_port()
        conf = os.path.join(tmp, name + ".conf")
        with open(conf, "w") as f:
            f.write(conf_text)
        # ASan keeps freed memory in quarantine: without this RSS could not fall after a drain
        asan = (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0").lstrip(":")
        self.proc = own_broker.start(
            ["--config", conf, "-p", str(self.port), "--management-port", str(self.mport),
             "--prometheus-port", "0", "--data-dir", tmp],
            self.port, {"ASAN_OPTIONS": asan}, os.path.join(tmp, name + ".log"))

    def ctl(self, *args):
        r = subprocess.run(["/usr/bin/python3", WARRENCTL, "--port", str(self.mport)] +
                           list(args), capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout + r.stderr

    def stop(self):
        check(own_broker.stop(self.proc) == 0, "broker exits 0 on SIGTERM")


class RabbitMQ:
    def __init__(self, beside_dir):
        self.dir = beside_dir
        self.port = int(os.environ["AMQP_PORT"])
        self.mport = int(os.environ.get("MANAGEMENT_PORT", self.port + 10000))

    def ctl(self, *args):
        r = subprocess.run([BESIDE, "ctl", self.dir] + list(args), capture_output=True,
                           text=True, timeout=60)
        return r.returncode, r.stdout + r.stderr

    def stop(self):
        pass


def wait_for(predicate, seconds, pump=()):
    """Polls predicate (pumping the given pika connections meanwhile) until true or timeout."""
    deadline = time.monotonic() + seconds
    while True:
        for c in pump:
            c.process_data_events(0.05)
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        if not pump:  # pumping waits already, and returns as soon as something came
            time.sleep(0.05)


def connection_states(broker):
    status, conns = http(broker.mport, "GET", "/api/connections")
    return {c["client_properties"].get("connection_name"): c.get("state")
            for c in (conns or []) if isinstance(c.get("client_properties"), dict)}


def connect(broker, name, events):
    c = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", broker.port, client_properties={"connection_name": name}))
    c.add_on_connection_blocked_callback(lambda conn, m: events.append(("blocked", m.method.reason)))
    c.add_on_connection_unblocked_callback(lambda conn, m: events.append(("unblocked",)))
    return c


def node_flag(broker, key):
    """RabbitMQ refreshes /api/nodes every 5 s: the caller polls."""
    status, nodes = http(broker.mport, "GET", "/api/nodes")
    return nodes[0].get(key) if status == 200 and nodes else None


def check_health(broker, resource, node_key):
    for check_name, where in (("alarms", "in the cluster"), ("local-alarms", "on the node")):
        status, body = http(broker.mport, "GET", "/api/health/checks/" + check_name)
        check(status == 503 and body.get("status") == "failed" and
              body.get("reason") == "There are alarms in effect " + where and
              [a.get("resource") for a in body.get("alarms", [])] == [resource],
              "%s: 503 naming %r while the alarm is on (%s %r)" % (check_name, resource, status,
                                                                   body))
    check(wait_for(lambda: node_flag(broker, node_key) is True, 15),
          "/api/nodes %s is true" % node_key)


def check_healthy(broker, node_key):
    status, body = http(broker.mport, "GET", "/api/health/checks/alarms")
    check(status == 200 and body == {"status": "ok"}, "alarms health check ok once cleared")
    check(wait_for(lambda: node_flag(broker, node_key) is False, 15),
          "/api/nodes %s is false" % node_key)


def scenario(broker, kind, raise_args, clear_args):
    """kind: "memory" or "disk"; the alarm is on when this starts."""
    resource = {"memory": "memory", "disk": "disk space"}[kind]
    node_key = {"memory": "mem_alarm", "disk": "disk_free_alarm"}[kind]
    reason = "low on " + kind
    check_health(broker, resource, node_key)

    pub_events, con_events = [], []
    pub = connect(broker, "alarms-pub", pub_events)
    con = connect(broker, "alarms-con", con_events)
    pch, cch = pub.channel(), con.channel()
    queue, backlog = "alarms_%s" % kind, "alarms_%s_backlog" % kind
    for q in (queue, backlog):
        cch.queue_declare(q)
        cch.queue_purge(q)
    received = []
    cch.basic_consume(queue, lambda ch, m, p, body: received.append(body), auto_ack=True)
    check(wait_for(lambda: connection_states(broker).get("alarms-pub") == "blocking" and
                   connection_states(broker).get("alarms-con") == "blocking", 15, (pub, con)),
          "both connections 'blocking' before any publish (%r)" % connection_states(broker))

    pch.basic_publish("", queue, b"held-1")
    check(wait_for(lambda: pub_events, 5, (pub, con)) and pub_events == [("blocked", reason)],
          "publisher hears connection.blocked %r (%r)" % (reason, pub_events))
    check(wait_for(lambda: connection_states(broker).get("alarms-pub") == "blocked", 15,
                   (pub, con)), "publisher 'blocked' in /api/connections")
    wait_for(lambda: False, 1, (pub, con))
    check(received == [], "the publish that blocked waits unrouted (%r)" % received)

    check(broker.ctl(*clear_args)[0] == 0, "runtime change %r accepted" % (clear_args,))
    check(wait_for(lambda: ("unblocked",) in pub_events, 10, (pub, con)),
          "publisher hears connection.unblocked (%r)" % pub_events)
    check(wait_for(lambda: received == [b"held-1"], 5, (pub, con)),
          "the held publish arrives once unblocked (%r)" % received)
    check_healthy(broker, node_key)

    # A backlog while the limit allows it, then the alarm again: a consumer drains the backlog
    # while the publisher stays blocked.
    confirm = pub.channel()
    confirm.confirm_delivery()
    for i in range(50):
        confirm.basic_publish("", backlog, b"backlog-%d" % i)
    check(broker.ctl(*raise_args)[0] == 0, "runtime change %r accepted" % (raise_args,))
    pub_events.clear()
    pch.basic_publish("", queue, b"held-2")
    check(wait_for(lambda: pub_events == [("blocked", reason)], 5, (pub, con)),
          "blocked again at the next publish (%r)" % pub_events)
    drained = []
    dch = con.channel()
    dch.basic_consume(backlog, lambda ch, m, p, body: drained.append(body), auto_ack=True)
    check(wait_for(lambda: len(drained) == 50, 10, (pub, con)),
          "the consumer drains the backlog while the publisher is blocked (%d)" % len(drained))
    check(received == [b"held-1"] and pub_events == [("blocked", reason)],
          "the publisher stays blocked meanwhile (%r, %r)" % (received, pub_events))
    check(broker.ctl(*clear_args)[0] == 0, "cleared again")
    check(wait_for(lambda: received == [b"held-1", b"held-2"], 10, (pub, con)) and
          pub_events == [("blocked", reason), ("unblocked",)],
          "unblocked, and the second held publish arrives (%r, %r)" % (received, pub_events))
    check(con_events == [], "the consumer's connection never hears connection.blocked (%r)"
          % con_events)
    check(wait_for(lambda: connection_states(broker).get("alarms-pub") == "running", 15,
                   (pub, con)), "publisher 'running' again")
    for q in (queue, backlog):
        cch.queue_delete(q)
    pub.close()
    con.close()


def sampled_memory(broker):
    """Warren only: RSS crosses a watermark set at start-up a little above it, because bodies
    queue up; a consumer draining them brings it back under, with no runtime change."""
    status, nodes = http(broker.mport, "GET", "/api/nodes")
    used, limit = nodes[0]["mem_used"], nodes[0]["mem_limit"]
    check(not nodes[0]["mem_alarm"] and used < limit,
          "no alarm at start: %d bytes used, limit %d" % (used, limit))
    events = []
    pub = connect(broker, "sampled-pub", events)
    ch = pub.channel()
    ch.queue_declare("alarms_sampled")
    # bodies under MESSAGE_APART_MIN stay in memory (larger ones are paged out to disk)
    body = b"m" * 1000
    published = 0
    deadline = time.monotonic() + 30
    while not events and published < 200000 and time.monotonic() < deadline:
        ch.basic_publish("", "alarms_sampled", body)
        published += 1
        if published % 500 == 0:
            pub.process_data_events(0.05)
    wait_for(lambda: events, 3, (pub,))
    check(events == [("blocked", "low on memory")],
          "1000-byte bodies queued past the watermark block the publisher after %d (%r)"
          % (published, events))
    con = connect(broker, "sampled-con", [])
    got = []
    cch = con.channel()
    cch.basic_consume("alarms_sampled", lambda c, m, p, b: got.append(len(b)), auto_ack=True)
    check(wait_for(lambda: ("unblocked",) in events, 20, (pub, con)),
          "draining the queue brings memory back under the watermark: unblocked (%r, %d drained)"
          % (events, len(got)))
    check(wait_for(lambda: len(got) == published, 20, (con,)),
          "every body arrives, the held one too (%d of %d)" % (len(got), published))
    cch.queue_delete("alarms_sampled")
    pub.close()
    con.close()


def main():
    beside = os.environ.get("BESIDE_DIR")
    if os.environ.get("AMQP_EXPECT_PRODUCT") != "Warren" and beside:
        broker = RabbitMQ(beside)
        broker.ctl("set_disk_free_limit", "50MB")
        broker.ctl("set_vm_memory_high_watermark", "absolute", LOW_MEMORY)
        scenario(broker, "memory", ("set_vm_memory_high_watermark", "absolute", LOW_MEMORY),
                 ("set_vm_memory_high_watermark", "0.4"))
        broker.ctl("set_disk_free_limit", HUGE_DISK)
        scenario(broker, "disk", ("set_disk_free_limit", HUGE_DISK),
                 ("set_disk_free_limit", "50MB"))
        broker.ctl("set_disk_free_limit", "50MB")
    elif os.environ.get("AMQP_EXPECT_PRODUCT") != "Warren":
        print("SKIP: against another broker this test needs BESIDE_DIR (rabbitmq-beside)")
        return 77
    else:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                broker = Warren("vm_memory_high_watermark.absolute = %s\n" % LOW_MEMORY, tmp, "memory")
                scenario(broker, "memory", ("set_vm_memory_high_watermark", "absolute", LOW_MEMORY),
                         ("set_vm_memory_high_watermark", "0.4"))
                broker.stop()
                broker = Warren("disk_free_limit.absolute = %s\n" % HUGE_DISK, tmp, "disk")
                scenario(broker, "disk", ("set_disk_free_limit", HUGE_DISK),
                         ("set_disk_free_limit", "1MB"))
                broker.stop()
                sampled_memory_broker(tmp)
            finally:
                own_broker.kill_leftovers()
    print("%d failure(s)" % failures)
    return 1 if failures else 0


def sampled_memory_broker(tmp):
    """Measures a fresh broker's memory, then starts one whose watermark is 24 MiB above it."""
    probe = Warren("", tmp, "probe")
    wait_for(lambda: False, 1.5)  # a memory sample or two
    status, nodes = http(probe.mport, "GET", "/api/nodes")
    baseline = nodes[0]["mem_used"]
    probe.stop()
    broker = Warren("vm_memory_high_watermark.absolute = %d\n" % (baseline + (24 << 20)), tmp,
                    "sampled")
    sampled_memory(broker)
    broker.stop()


if __name__ == "__main__":
    sys.exit(main())
