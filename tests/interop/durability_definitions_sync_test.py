#!/usr/bin/python3
"""Interop test: a durable definition's reply waits for its journal record to be synced, and
the sync never stalls the broker. A preloaded shim makes every sync of the definitions journal
take 300 ms: a durable queue.declare's declare-ok (and the management API's 201) arrives only
after the fdatasync that covered its record, while a second connection's round trips stay
fast; methods pipelined after the declare on the same connection are answered after it, in
order; a client that goes while its reply waits leaves the broker healthy (run under ASan,
anything left behind fails the stop), and so does a stop while a sync is under way; a sync that fails closes the AMQP connection with 541
INTERNAL_ERROR and answers the API with a 500, as RabbitMQ reports an internal error.

Warren only: it starts its own broker with the shim (RabbitMQ cannot be made to sync slowly)."""
import base64
import http.client
import json
import os
import socket
import struct
import tempfile
import threading
import time

import pika

import own_broker
import rawamqp
from checks import HOST, SKIP, check, exit_status, expect

DELAY_S = 0.3
FAST_S = 0.05  # a round trip of another connection while a sync is under way


def journal_path(data_dir):
    return os.path.join(data_dir, "definitions", "definitions.journal")


def synced_end(log_path, path):
    end = 0
    if os.path.exists(log_path):
        with open(log_path) as f:
            for line in f:
                p, e = line.rsplit(" ", 1)
                if p == path:
                    end = max(end, int(e))
    return end


def record_synced(data_dir, log_path, name):
    """Whether the journal holds name and some sync covered it."""
    path = journal_path(data_dir)
    with open(path, "rb") as f:
        at = f.read().find(name.encode())
    return at >= 0 and synced_end(log_path, path) >= at + len(name)


class Broker:
    def __init__(self, tmp):
        self.tmp = tmp
        self.data_dir = os.path.join(tmp, "data")
        self.log_path = os.path.join(tmp, "syncs.log")
        self.fail_flag = os.path.join(tmp, "fail-syncs")
        self.stderr = os.path.join(tmp, "broker.log")
        self.port = own_broker.free_port()
        self.mgmt_port = own_broker.free_port()
        self.proc = None

    def start(self):
        shim = os.path.join(os.environ.get("BUILDDIR", "."), "tests", "interop", "sync_shim.so")
        env = {"LD_PRELOAD": shim, "SYNC_SHIM_LOG": self.log_path,
               "SYNC_SHIM_MATCH": "definitions.journal",
               "SYNC_SHIM_DELAY_MS": str(int(DELAY_S * 1000)),
               "SYNC_SHIM_FAIL_WHILE": self.fail_flag,
               "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
        self.proc = own_broker.start(["--port", str(self.port), "--management-port",
                                      str(self.mgmt_port), "--prometheus-port", "0",
                                      "--data-dir", self.data_dir],
                                     self.port, env, self.stderr)

    def stop(self):
        return own_broker.stop(self.proc)

    def pika(self):
        return pika.BlockingConnection(pika.ConnectionParameters(HOST, self.port))

    def raw(self):
        """A raw client with channel 1 open."""
        os.environ["AMQP_PORT"] = str(self.port)
        return rawamqp.client_in("channel")

    def http(self, method, path, body=None):
        c = http.client.HTTPConnection(HOST, self.mgmt_port, timeout=10)
        token = base64.b64encode(b"guest:guest").decode()
        headers = {"Authorization": "Basic " + token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        c.request(method, path, data, headers)
        r = c.getresponse()
        out = (r.status, r.read())
        c.close()
        return out

    def log(self):
        with open(self.stderr, errors="replace") as f:
            return f.read()


def round_trips_while(busy, channel):
    """Round trips of another connection (a transient declare: nothing to record) until busy()
    is false; their durations."""
    times = []
    while busy():
        t0 = time.monotonic()
        channel.queue_declare("sync-test-transient", auto_delete=True)
        times.append(time.monotonic() - t0)
    return times


def declare_waits_for_sync(broker):
    """The declare-ok comes after the sync of its record; the other connection is served."""
    a, b = broker.pika(), broker.pika()
    ch_a, ch_b = a.channel(), b.channel()
    ch_b.queue_declare("sync-test-transient", auto_delete=True)  # warm
    result = {}

    def declare():
        t0 = time.monotonic()
        ch_a.queue_declare("sync-test-durable", durable=True)
        result["elapsed"] = time.monotonic() - t0
        result["synced"] = record_synced(broker.data_dir, broker.log_path, "sync-test-durable")

    t = threading.Thread(target=declare)
    t.start()
    time.sleep(0.02)
    times = round_trips_while(t.is_alive, ch_b)
    t.join()
    check(result.get("elapsed", 0) >= DELAY_S * 0.9,
          "a durable queue.declare's declare-ok waits for the slow sync (%.0f ms)"
          % (result.get("elapsed", 0) * 1000))
    check(result.get("synced"), "when declare-ok arrives, a sync has covered its record")
    check(len(times) >= 3 and max(times) < FAST_S,
          "another connection is served meanwhile: %d round trips, the slowest %.1f ms"
          % (len(times), max(times or [0]) * 1000))

    # a binding, an exchange and their deletes wait the same way
    for what, action in [
            ("exchange.declare-ok", lambda: ch_a.exchange_declare("sync-test-x", "direct",
                                                                  durable=True)),
            ("queue.bind-ok", lambda: ch_a.queue_bind("sync-test-durable", "sync-test-x", "k")),
            ("queue.unbind-ok", lambda: ch_a.queue_unbind("sync-test-durable", "sync-test-x",
                                                          "k")),
            ("exchange.delete-ok", lambda: ch_a.exchange_delete("sync-test-x")),
            ("queue.delete-ok", lambda: ch_a.queue_delete("sync-test-durable"))]:
        t0 = time.monotonic()
        action()
        elapsed = time.monotonic() - t0
        check(elapsed >= DELAY_S * 0.9, "%s waits for the sync (%.0f ms)" % (what, elapsed * 1000))
    t0 = time.monotonic()
    ch_a.queue_declare("sync-test-transient", auto_delete=True)
    check(time.monotonic() - t0 < FAST_S, "a transient declare does not wait")
    a.close()
    b.close()


def pipelined_methods_follow(broker):
    """Methods sent right after the declare, on the same and on another channel, are answered
    after its declare-ok, in order."""
    c = broker.raw()
    c.send_method(0 + 2, 20, 10, rawamqp.shortstr(""))
    c.expect_method(20, 11)
    data = (rawamqp.method_frame(1, 50, 10, rawamqp.queue_declare_args("sync-test-pipe",
                                                                       durable=True))
            + rawamqp.method_frame(1, 60, 10, rawamqp.basic_qos_args(prefetch_count=5))
            + rawamqp.method_frame(2, 60, 10, rawamqp.basic_qos_args(prefetch_count=7)))
    t0 = time.monotonic()
    c.send(data)
    got = []
    for _ in range(3):
        f = c.read_frame_skip_heartbeats(5)
        got.append((f.channel, rawamqp.METHOD_NAMES.get(f.method_id, f.describe()),
                    time.monotonic() - t0 >= DELAY_S * 0.9))
    expect(got, [(1, "queue.declare-ok", True), (1, "basic.qos-ok", True),
                 (2, "basic.qos-ok", True)],
           "pipelined methods are answered after the declare-ok, in order, once it is synced")
    c.close()


def http_waits_for_sync(broker):
    """The API's 201 and 204 come after the sync; other connections are served meanwhile."""
    b = broker.pika()
    ch_b = b.channel()
    result = {}

    def put():
        t0 = time.monotonic()
        result["status"] = broker.http("PUT", "/api/queues/%2F/sync-test-http",
                                       {"durable": True})[0]
        result["elapsed"] = time.monotonic() - t0
        result["synced"] = record_synced(broker.data_dir, broker.log_path, "sync-test-http")

    t = threading.Thread(target=put)
    t.start()
    time.sleep(0.02)
    times = round_trips_while(t.is_alive, ch_b)
    t.join()
    expect(result.get("status"), 201, "PUT of a durable queue")
    check(result.get("elapsed", 0) >= DELAY_S * 0.9 and result.get("synced"),
          "its 201 comes after the sync of its record (%.0f ms)" % (result.get("elapsed", 0) * 1000))
    check(len(times) >= 3 and max(times) < FAST_S,
          "AMQP is served meanwhile: %d round trips, the slowest %.1f ms"
          % (len(times), max(times or [0]) * 1000))
    t0 = time.monotonic()
    status = broker.http("PUT", "/api/users/sync-test-user",
                         {"password": "pw", "tags": ""})[0]
    elapsed = time.monotonic() - t0
    check(status in (201, 204) and elapsed >= DELAY_S * 0.9,
          "PUT of a user: %d after the sync (%.0f ms)" % (status, elapsed * 1000))
    t0 = time.monotonic()
    status = broker.http("DELETE", "/api/queues/%2F/sync-test-http")[0]
    elapsed = time.monotonic() - t0
    check(status == 204 and elapsed >= DELAY_S * 0.9,
          "DELETE of the queue: %d after the sync (%.0f ms)" % (status, elapsed * 1000))
    t0 = time.monotonic()
    definitions = {"queues": [{"name": "sync-test-imported", "vhost": "/", "durable": True,
                               "auto_delete": False, "arguments": {}}]}
    status = broker.http("POST", "/api/definitions", definitions)[0]
    elapsed = time.monotonic() - t0
    check(status == 204 and elapsed >= DELAY_S * 0.9 and elapsed < DELAY_S * 1.9,
          "a definitions import: %d after one sync (%.0f ms)" % (status, elapsed * 1000))
    check(record_synced(broker.data_dir, broker.log_path, "sync-test-imported"),
          "its records were synced by then")
    t0 = time.monotonic()
    status = broker.http("GET", "/api/overview")[0]
    check(status == 200 and time.monotonic() - t0 < FAST_S, "a GET does not wait")
    b.close()


def pipelined_http(broker):
    """Two requests in one write on one HTTP connection: the second is answered after the
    first, whose answer waited for the sync."""
    s = socket.create_connection((HOST, broker.mgmt_port), timeout=5)
    token = base64.b64encode(b"guest:guest").decode()
    body = b'{"durable":true}'
    put = ("PUT /api/queues/%%2F/sync-test-pipe-http HTTP/1.1\r\nHost: x\r\n"
           "Authorization: Basic %s\r\nContent-Type: application/json\r\n"
           "Content-Length: %d\r\n\r\n" % (token, len(body))).encode() + body
    get = ("GET /api/queues/%%2F/sync-test-pipe-http HTTP/1.1\r\nHost: x\r\n"
           "Authorization: Basic %s\r\nConnection: close\r\n\r\n" % token).encode()
    t0 = time.monotonic()
    s.sendall(put + get)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    elapsed = time.monotonic() - t0
    statuses = [int(line.split(b" ")[1]) for line in data.split(b"\r\n")
                if line.startswith(b"HTTP/1.1 ")]
    expect(statuses, [201, 200], "pipelined PUT then GET: both answered, in order")
    check(elapsed >= DELAY_S * 0.9, "after the sync (%.0f ms)" % (elapsed * 1000))
    broker.http("DELETE", "/api/queues/%2F/sync-test-pipe-http")


def gone_while_waiting(broker):
    """A client that disconnects, or is closed by the API, while its reply waits: the
    completion finds it gone and the broker goes on."""
    c = broker.raw()
    c.send_method(1, 50, 10, rawamqp.queue_declare_args("sync-test-gone", durable=True))
    time.sleep(0.05)
    c.close()
    c = broker.raw()
    local = c.sock.getsockname()
    name = "%s:%d -> %s:%d" % (local[0], local[1], HOST, broker.port)
    c.send_method(1, 50, 10, rawamqp.queue_declare_args("sync-test-forced", durable=True))
    time.sleep(0.05)
    status = broker.http("DELETE", "/api/connections/" + name.replace(" ", "%20")
                         .replace(">", "%3E").replace(":", "%3A"))[0]
    expect(status, 204, "the API closes the connection whose declare-ok waits")
    frames = []
    try:
        while True:
            f = c.read_frame_skip_heartbeats(3)
            frames.append(rawamqp.METHOD_NAMES.get(f.method_id, f.describe()))
            if f.is_method(10, 50):
                c.send_method(0, 10, 51)
    except (rawamqp.Closed, rawamqp.Timeout):
        pass
    c.close()
    check("connection.close" in frames and "queue.declare-ok" not in frames,
          "it gets connection.close and no declare-ok: %s" % frames)
    time.sleep(DELAY_S * 2)
    conn = broker.pika()
    ch = conn.channel()
    ok = ch.queue_declare("sync-test-gone", passive=True)
    check(ok is not None, "the broker goes on serving; the declared queue exists")
    conn.close()


def failed_sync(broker):
    """A sync that fails: AMQP 541 INTERNAL_ERROR closes the connection, the API answers 500
    with RabbitMQ's error object, and the log says why."""
    open(broker.fail_flag, "w").close()
    try:
        conn = broker.pika()
        ch = conn.channel()
        try:
            ch.queue_declare("sync-test-failed", durable=True)
            check(False, "a declare whose sync failed is refused")
        except pika.exceptions.ConnectionClosedByBroker as e:
            expect(e.reply_code, 541, "a failed sync closes the connection with")
            check(e.reply_text.startswith("INTERNAL_ERROR - "),
                  "reply text %r" % e.reply_text)
        status, body = broker.http("PUT", "/api/queues/%2F/sync-test-failed-http",
                                   {"durable": True})
        expect(status, 500, "the API's PUT whose sync failed")
        reply = json.loads(body or b"{}")
        expect(reply.get("error"), "internal_server_error", "its error")
        check(isinstance(reply.get("reason"), str) and reply.get("reason"), "and a reason")
        check("definitions journal: write and fdatasync failed" in broker.log(),
              "the log says the sync failed")
    finally:
        os.unlink(broker.fail_flag)
    conn = broker.pika()
    ch = conn.channel()
    ch.queue_declare("sync-test-after", durable=True)
    check(True, "once syncs work again, a durable declare is answered")
    conn.close()


def stop_while_waiting(broker):
    """SIGTERM while a declare waits for its sync: the broker waits for the sync, stops cleanly,
    and the queue is there after the restart."""
    c = broker.raw()
    c.send_method(1, 50, 10, rawamqp.queue_declare_args("sync-test-stop", durable=True))
    time.sleep(0.05)
    t0 = time.monotonic()
    expect(broker.stop(), 0, "a stop while a sync is under way: the broker's exit")
    check(time.monotonic() - t0 < 5, "it stops in %.1f s" % (time.monotonic() - t0))
    c.close()


def main():
    if not os.environ.get("WARREN"):
        print("SKIP: needs WARREN (a broker started with a preloaded shim)")
        return SKIP
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(tmp)
        broker.start()
        try:
            declare_waits_for_sync(broker)
            pipelined_methods_follow(broker)
            http_waits_for_sync(broker)
            pipelined_http(broker)
            gone_while_waiting(broker)
            failed_sync(broker)
            stop_while_waiting(broker)
            broker.start()  # what was declared is there after the restart
            conn = broker.pika()
            ch = conn.channel()
            for name in ("sync-test-pipe", "sync-test-gone", "sync-test-after", "sync-test-stop"):
                ch.queue_declare(name, passive=True)
            check(True, "the durable queues are back after a restart")
            conn.close()
            expect(broker.stop(), 0, "and it stops cleanly again")
        finally:
            own_broker.kill_leftovers()
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
