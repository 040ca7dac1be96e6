#!/usr/bin/python3
"""Interop test (pika, py-amqp, raw frames): dead-lettering. x-dead-letter-exchange and
x-dead-letter-routing-key on reject and nack without requeue, expiry, and length limits
(drop-head and reject-publish-dlx); the x-death header to the byte (its tables' field order
and value types, counts merged per queue and reason, most recent first), x-first-death-*, the
original expiration moved into x-death, CC kept or dropped, BCC keys routing the dead letter,
other headers' types untouched;
RabbitMQ's cycle rule. Every expectation was first seen on RabbitMQ 3.10, which does not write
the x-last-death-* headers of RabbitMQ 3.13: Warren does, and they are checked only there."""
import os
import struct
import time

import amqp
import pika
import pika.exceptions

import rawamqp
from checks import (HOST, PORT, check, exit_status, expect, fresh_name, pika_connection,
                    ready_bodies, ready_count)

WARREN = os.environ.get("AMQP_EXPECT_PRODUCT") == "Warren"
SETTLE = 0.3
PROPERTY_ORDER = ["content_type", "content_encoding", "headers", "delivery_mode", "priority",
                  "correlation_id", "reply_to", "expiration", "message_id", "timestamp", "type",
                  "user_id", "app_id", "cluster_id"]


class RawChannel:
    """Channel 1 of a raw connection: publishes with typed headers, and gets messages with
    their properties decoded to (type letter, value) pairs."""

    def __init__(self):
        self.client = rawamqp.client_in("channel")

    def publish(self, exchange, routing_key, body, headers=None, expiration=None):
        flags, props = 0, b""
        if headers is not None:
            flags |= 1 << 13
            props += rawamqp.table(headers)
        if expiration is not None:
            flags |= 1 << 8
            props += rawamqp.shortstr(expiration)
        c = self.client
        c.send_method(1, 60, 40, rawamqp.basic_publish_args(exchange, routing_key))
        c.send(rawamqp.content_header_frame(1, len(body), flags=flags, props=props))
        c.send(rawamqp.body_frame(1, body))

    def get(self, queue):
        """(exchange, routing_key, properties, body), or None when the queue is empty."""
        c = self.client
        c.send_method(1, 60, 70, rawamqp.short(0) + rawamqp.shortstr(queue) + rawamqp.bits(True))
        f = c.read_frame_skip_heartbeats()
        if f.is_method(60, 72):
            return None
        if not f.is_method(60, 71):
            raise AssertionError("expected basic.get-ok, got " + f.describe())
        r = f.args()
        r.longlong()
        r.octet()
        exchange, routing_key = r.shortstr(), r.shortstr()
        header = c.read_frame_skip_heartbeats()
        h = rawamqp.Reader(header.payload)
        h.short(), h.short()
        size = h.longlong()
        flags = h.short()
        props = {}
        for i, name in enumerate(PROPERTY_ORDER):
            if not flags & (1 << (15 - i)):
                continue
            if name == "headers":
                props[name] = h.table()
            elif name in ("delivery_mode", "priority"):
                props[name] = h.octet()
            elif name == "timestamp":
                props[name] = h.longlong()
            else:
                props[name] = h.shortstr()
        body = b""
        while len(body) < size:
            body += c.read_frame_skip_heartbeats().payload
        return exchange, routing_key, props, body

    def close(self):
        self.client.close()


def setup_dlq(channel, dlx_type="fanout", keys=("",)):
    """A dead-letter exchange and one queue bound to it; returns (exchange, queue)."""
    dlx, dlq = fresh_name("dlx"), fresh_name("dlq")
    channel.exchange_declare(dlx, dlx_type, auto_delete=False)
    channel.queue_declare(dlq)
    for key in keys:
        channel.queue_bind(dlq, dlx, key)
    return dlx, dlq


def without_last_death(headers):
    """The headers as RabbitMQ 3.10 writes them, after checking Warren's x-last-death-*."""
    return {k: v for k, v in headers.items() if not k.startswith("x-last-death-")}


def death_table(d):
    """An x-death table without its time, as [(key, type, value)], and the time's type."""
    return [(k, t, v) for k, (t, v) in d.items() if k != "time"], d["time"][0]


def check_reject_exact(channel, raw):
    dlx, dlq = setup_dlq(channel)
    src = fresh_name("dl-src")
    channel.queue_declare(src, arguments={"x-dead-letter-exchange": dlx})
    headers = {"zeta": rawamqp.Raw(b"l" + struct.pack(">q", 7)),
               "alpha": rawamqp.Raw(b"I" + struct.pack(">i", -3)),
               "nested": {"deep": [1, "two"]},
               "stamp": rawamqp.Raw(b"T" + struct.pack(">Q", 1234567890)),
               "dec": rawamqp.Raw(b"D" + struct.pack(">Bi", 2, 31415)),
               "CC": ["cc-key"]}
    raw.publish("", src, b"payload", headers=headers, expiration="60000")
    time.sleep(0.1)
    method, _, _ = channel.basic_get(src, auto_ack=False)
    channel.basic_reject(method.delivery_tag, requeue=False)
    time.sleep(SETTLE)
    got = raw.get(dlq)
    if not check(got is not None, "a rejected message reaches the dead-letter queue"):
        return
    exchange, routing_key, props, body = got
    expect((exchange, routing_key, body), (dlx, src, b"payload"),
           "it is republished to the dead-letter exchange with its own routing key")
    check("expiration" not in props, "its expiration property is removed")
    h = props["headers"]
    if WARREN:
        expect({k: h.get(k) for k in ("x-last-death-exchange", "x-last-death-queue", "x-last-death-reason")},
               {"x-last-death-exchange": ("S", b""), "x-last-death-queue": ("S", src.encode()),
                "x-last-death-reason": ("S", b"rejected")}, "Warren: x-last-death-* as RabbitMQ 3.13")
        h = without_last_death(h)
    expect(list(h.keys()), ["CC", "alpha", "dec", "nested", "stamp", "x-death", "x-first-death-exchange",
                            "x-first-death-queue", "x-first-death-reason", "zeta"],
           "the headers come back sorted by name")
    expect((h["zeta"], h["alpha"], h["stamp"], h["dec"]),
           (("l", 7), ("I", -3), ("T", 1234567890), ("D", (2, 31415))),
           "other headers keep their types and values")
    expect(h["nested"], ("F", {"deep": ("A", [("I", 1), ("S", b"two")])}), "a nested table stays a table")
    expect((h["x-first-death-exchange"], h["x-first-death-queue"], h["x-first-death-reason"]),
           (("S", b""), ("S", src.encode()), ("S", b"rejected")), "x-first-death-* on the first death")
    kind, deaths = h["x-death"]
    expect((kind, len(deaths)), ("A", 1), "x-death is an array of one entry")
    fields, time_type = death_table(deaths[0][1])
    expect(fields, [("count", "l", 1), ("reason", "S", b"rejected"), ("queue", "S", src.encode()),
                    ("exchange", "S", b""),
                    ("routing-keys", "A", [("S", src.encode()), ("S", b"cc-key")]),
                    ("original-expiration", "S", b"60000")],
           "x-death's first entry: RabbitMQ's field order and types, CC among the routing keys")
    expect((list(deaths[0][1].keys())[3], time_type), ("time", "T"), "time is a timestamp, fourth")
    stamp = deaths[0][1]["time"][1]
    check(abs(stamp - time.time()) < 30, "time is the dead-lettering's time in seconds: %d" % stamp)

    # the same message dead-lettered again from the same queue: one entry, count 2, sorted
    raw.publish("", src, b"payload", headers={k: rawamqp.Raw(encode_typed(v)) for k, v in h.items()})
    time.sleep(0.1)
    method, _, _ = channel.basic_get(src, auto_ack=False)
    channel.basic_nack(method.delivery_tag, requeue=False)
    time.sleep(SETTLE)
    _, _, props, _ = raw.get(dlq)
    h = without_last_death(props["headers"])
    _, deaths = h["x-death"]
    fields, _ = death_table(deaths[0][1])
    expect((len(deaths), fields),
           (1, [("count", "l", 2), ("exchange", "S", b""), ("original-expiration", "S", b"60000"),
                ("queue", "S", src.encode()), ("reason", "S", b"rejected"),
                ("routing-keys", "A", [("S", src.encode()), ("S", b"cc-key")])]),
           "a second death for the same queue and reason: count 2, fields sorted, the rest kept")
    return h


def encode_typed(tv):
    """Re-encodes a (type letter, value) pair as decoded by rawamqp, to republish it as is."""
    t, v = tv
    if t == "S":
        return b"S" + rawamqp.longstr(v)
    if t == "F":
        return b"F" + rawamqp.table({k: rawamqp.Raw(encode_typed(x)) for k, x in v.items()})
    if t == "A":
        body = b"".join(encode_typed(x) for x in v)
        return b"A" + rawamqp.long_(len(body)) + body
    if t == "D":
        return b"D" + struct.pack(">Bi", *v)
    formats = {"l": ">q", "I": ">i", "T": ">Q", "t": ">B", "b": ">b", "B": ">B", "s": ">h",
               "u": ">H", "i": ">I", "f": ">f", "d": ">d"}
    return t.encode() + struct.pack(formats[t], v)


def check_merge_order(channel, raw):
    """Deaths in two queues: the newest first, counts per queue and reason."""
    dlx, dlq = setup_dlq(channel)
    first, second = fresh_name("dl-first"), fresh_name("dl-second")
    channel.queue_declare(first, arguments={"x-dead-letter-exchange": dlx})
    channel.queue_declare(second, arguments={"x-dead-letter-exchange": dlx, "x-message-ttl": 0})
    raw.publish("", first, b"m")
    time.sleep(0.1)
    method, _, _ = channel.basic_get(first, auto_ack=False)
    channel.basic_reject(method.delivery_tag, requeue=False)
    time.sleep(SETTLE)
    _, _, props, _ = raw.get(dlq)
    headers = without_last_death(props["headers"])
    raw.publish("", second, b"m", headers={k: rawamqp.Raw(encode_typed(v)) for k, v in headers.items()})
    time.sleep(SETTLE)
    got = raw.get(dlq)
    if not check(got is not None, "a message expiring (TTL 0) is dead-lettered"):
        return
    h = without_last_death(got[2]["headers"])
    _, deaths = h["x-death"]
    summary = [(d[1]["queue"][1].decode(), d[1]["reason"][1].decode(), d[1]["count"][1]) for d in deaths]
    expect(summary, [(second, "expired", 1), (first, "rejected", 1)], "x-death: the newest death first")
    fields, _ = death_table(deaths[0][1])
    expect([k for k, _, _ in fields], ["count", "exchange", "queue", "reason", "routing-keys"],
           "a new entry beside older ones is sorted by name")
    expect(h["x-first-death-queue"], ("S", first.encode()), "x-first-death-* stay those of the first")


def reject_from_both(channel, dlx, plain, keyed, dlrk, headers):
    """Declares two queues dead-lettering to dlx, the second with dlrk as its dead-letter
    routing key, puts a message with headers in each and rejects it; returns the properties
    the two messages were delivered with."""
    channel.queue_declare(plain, arguments={"x-dead-letter-exchange": dlx})
    channel.queue_declare(keyed, arguments={"x-dead-letter-exchange": dlx,
                                            "x-dead-letter-routing-key": dlrk})
    delivered = []
    for queue in (plain, keyed):
        channel.basic_publish("", queue, b"m", pika.BasicProperties(headers=headers))
        time.sleep(0.1)
        method, props, _ = channel.basic_get(queue, auto_ack=False)
        delivered.append(props)
        channel.basic_reject(method.delivery_tag, requeue=False)
    time.sleep(SETTLE)
    return delivered


def check_routing_keys(channel):
    """Without x-dead-letter-routing-key the original key and CC route; with one, only it,
    and CC is removed."""
    dlx = fresh_name("dlx-direct")
    channel.exchange_declare(dlx, "direct", auto_delete=False)
    by_key, by_cc, by_dlrk = fresh_name("dl-key"), fresh_name("dl-cc"), fresh_name("dl-dlrk")
    plain, keyed = fresh_name("dl-plain"), fresh_name("dl-keyed")
    for queue, key in ((by_key, plain), (by_cc, "cc-route"), (by_dlrk, "dlrk")):
        channel.queue_declare(queue)
        channel.queue_bind(queue, dlx, key)
    reject_from_both(channel, dlx, plain, keyed, "dlrk", {"CC": ["cc-route"]})
    counts = {q: ready_count(channel, q) for q in (by_key, by_cc, by_dlrk)}
    expect(counts, {by_key: 1, by_cc: 1, by_dlrk: 1},
           "the plain queue's dead letter routes by its key and CC; the keyed one's by its key only")
    method, props, _ = channel.basic_get(by_dlrk, auto_ack=True)
    expect((method.routing_key, "CC" in props.headers,
            props.headers["x-death"][0]["routing-keys"]), ("dlrk", False, [keyed, "cc-route"]),
           "with x-dead-letter-routing-key: that key, CC removed, x-death keeps the original keys")


def check_bcc(channel):
    """RabbitMQ routes a dead letter by the BCC keys it was published with, though the header
    itself never reaches anyone, unless the queue gives a dead-letter routing key."""
    dlx = fresh_name("dlx-bcc")
    channel.exchange_declare(dlx, "direct", auto_delete=False)
    by_bcc, by_dlrk = fresh_name("dl-by-bcc"), fresh_name("dl-by-dlrk")
    channel.queue_declare(by_bcc)
    channel.queue_bind(by_bcc, dlx, "bcc-route")
    channel.queue_declare(by_dlrk)
    channel.queue_bind(by_dlrk, dlx, "only")
    plain, keyed = fresh_name("dl-bcc-plain"), fresh_name("dl-bcc-keyed")
    for props in reject_from_both(channel, dlx, plain, keyed, "only", {"BCC": ["bcc-route"]}):
        check("BCC" not in (props.headers or {}), "BCC is not delivered")
    expect((ready_count(channel, by_bcc), ready_count(channel, by_dlrk)), (1, 1),
           "the dead letter routes by its BCC keys, but not past a dead-letter routing key")
    method, props, _ = channel.basic_get(by_bcc, auto_ack=True)
    expect(("BCC" in props.headers, props.headers["x-death"][0]["routing-keys"]), (False, [plain]),
           "and x-death's routing keys leave BCC out")


def check_maxlen(channel):
    dlx, dlq = setup_dlq(channel)
    head = fresh_name("dl-drophead")
    channel.queue_declare(head, arguments={"x-dead-letter-exchange": dlx, "x-max-length": 1})
    channel.basic_publish("", head, b"old")
    channel.basic_publish("", head, b"new")
    time.sleep(SETTLE)
    method, props, body = channel.basic_get(dlq, auto_ack=True)
    expect((body, props.headers["x-death"][0]["reason"]), (b"old", "maxlen"),
           "drop-head dead-letters the dropped head with reason maxlen")
    refuse = fresh_name("dl-rejectdlx")
    channel.queue_declare(refuse, arguments={"x-dead-letter-exchange": dlx, "x-max-length": 1,
                                             "x-overflow": "reject-publish-dlx"})
    channel.confirm_delivery()
    channel.basic_publish("", refuse, b"kept")
    try:
        channel.basic_publish("", refuse, b"refused")
        check(False, "reject-publish-dlx: the publish past the limit should be nacked")
    except pika.exceptions.NackError:
        check(True, "reject-publish-dlx: the publish past the limit is nacked")
    time.sleep(SETTLE)
    method, props, body = channel.basic_get(dlq, auto_ack=True)
    expect((body, props.headers["x-death"][0]["reason"], props.headers["x-death"][0]["queue"]),
           (b"refused", "maxlen", refuse), "and dead-lettered with reason maxlen")
    expect(ready_count(channel, refuse), 1, "the queue keeps the first")


def check_cycles(channel):
    """An automatic cycle (no rejection) is dropped; one with a rejection goes round."""
    selfish = fresh_name("dl-self")
    channel.queue_declare(selfish, arguments={"x-dead-letter-exchange": "", "x-message-ttl": 100,
                                              "x-dead-letter-routing-key": selfish})
    channel.basic_publish("", selfish, b"round")
    time.sleep(0.8)
    expect(ready_count(channel, selfish), 0, "expired into itself: a cycle, dropped")
    a, b = fresh_name("dl-ping"), fresh_name("dl-pong")
    channel.queue_declare(a, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": b,
                                        "x-message-ttl": 100})
    channel.queue_declare(b, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": a,
                                        "x-message-ttl": 100})
    channel.basic_publish("", a, b"ping")
    time.sleep(0.8)
    expect((ready_count(channel, a), ready_count(channel, b)), (0, 0),
           "expiring from one queue into another and back: a cycle, dropped")
    rejecting = fresh_name("dl-reject-self")
    channel.queue_declare(rejecting, arguments={"x-dead-letter-exchange": "",
                                                "x-dead-letter-routing-key": rejecting})
    channel.basic_publish("", rejecting, b"again")
    counts = []
    for _ in range(3):
        time.sleep(0.1)
        method, props, _ = channel.basic_get(rejecting, auto_ack=False)
        if method is None:
            break
        counts.append(props.headers["x-death"][0]["count"] if props.headers else 0)
        channel.basic_reject(method.delivery_tag, requeue=False)
    expect(counts, [0, 1, 2], "rejected into itself: not a cycle, it comes back with its count")


def check_death_order(channel):
    """Three rejections in a row (a → b → c → d): RabbitMQ 3.10 turns the older entries round
    each time it merges them, so x-death reads c, a, b."""
    names = [fresh_name("dl-chain-%s" % n) for n in "abcd"]
    for i, name in enumerate(names):
        nxt = names[i + 1] if i + 1 < len(names) else None
        channel.queue_declare(name, arguments={"x-dead-letter-exchange": "",
                                               "x-dead-letter-routing-key": nxt} if nxt else {})
    channel.basic_publish("", names[0], b"m")
    for name in names[:-1]:
        time.sleep(0.1)
        method, _, _ = channel.basic_get(name, auto_ack=False)
        channel.basic_reject(method.delivery_tag, requeue=False)
    time.sleep(SETTLE)
    method, props, _ = channel.basic_get(names[-1], auto_ack=True)
    expect([d["queue"] for d in props.headers["x-death"]], [names[2], names[0], names[1]],
           "x-death after three deaths, in RabbitMQ 3.10's order")


def check_expiry_comes_round(channel):
    """A dead letter that comes back into a priority queue while it expires a head still
    expires on time (its TTL timer must not be lost)."""
    fan, back, seen = fresh_name("dlx-round"), fresh_name("dl-round-back"), fresh_name("dl-round-seen")
    prio = fresh_name("dl-round-prio")
    channel.exchange_declare(fan, "fanout", auto_delete=False)
    channel.queue_declare(prio, arguments={"x-message-ttl": 300, "x-dead-letter-exchange": fan,
                                           "x-max-priority": 2})
    channel.queue_declare(back, arguments={"x-max-length": 1, "x-dead-letter-exchange": "",
                                           "x-dead-letter-routing-key": prio})
    channel.queue_declare(seen)
    channel.queue_bind(back, fan)
    channel.queue_bind(seen, fan)
    channel.basic_publish("", back, b"m0", pika.BasicProperties(priority=0))
    channel.basic_publish("", prio, b"m1", pika.BasicProperties(priority=1))
    time.sleep(1.5)  # m1 expires at 300 ms and pushes m0 out of back into prio: due at 600 ms
    expect(ready_bodies(channel, seen), ["m1", "m0"],
           "the message pushed back into the priority queue expires too")


def check_dead_letters_keep_prefetch(connection):
    """Dead letters of expired messages go on to another queue without overrunning a channel's
    prefetch shared by the consumers of both."""
    channel = connection.channel()
    a, b = fresh_name("dl-qos-a"), fresh_name("dl-qos-b")
    channel.queue_declare(a, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": b})
    channel.queue_declare(b)
    channel.basic_publish("", a, b"m1")
    channel.basic_publish("", a, b"m2", pika.BasicProperties(expiration="1"))
    channel.basic_publish("", a, b"m3")
    time.sleep(0.2)  # m2 expires behind m1
    channel.basic_qos(prefetch_count=2, global_qos=True)
    got = []
    channel.basic_consume(b, lambda ch, m, p, body: got.append(body))
    channel.basic_consume(a, lambda ch, m, p, body: got.append(body))
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.05)
    expect(len(got), 2, "a global prefetch of 2 holds with dead letters among the deliveries")
    channel.close()


def check_missing_exchange(channel):
    src = fresh_name("dl-nowhere")
    channel.queue_declare(src, arguments={"x-dead-letter-exchange": fresh_name("missing")})
    channel.basic_publish("", src, b"lost")
    method, _, _ = channel.basic_get(src, auto_ack=False)
    channel.basic_reject(method.delivery_tag, requeue=False)
    expect(ready_count(channel, src), 0, "a dead-letter exchange that does not exist: dropped")
    check(channel.is_open, "and nothing fails")


def check_pyamqp():
    connection = amqp.Connection("%s:%d" % (HOST, PORT), userid="guest", password="guest")
    connection.connect()
    channel = connection.channel()
    dlx, dlq = fresh_name("dlx-pyamqp"), fresh_name("dlq-pyamqp")
    channel.exchange_declare(dlx, "fanout", auto_delete=False)
    channel.queue_declare(dlq, auto_delete=False)
    channel.queue_bind(dlq, dlx)
    src = fresh_name("dl-pyamqp")
    channel.queue_declare(src, auto_delete=False, arguments={"x-dead-letter-exchange": dlx,
                                                            "x-message-ttl": 100})
    channel.basic_publish(amqp.Message("expiring", expiration="50"), "", src)
    time.sleep(SETTLE + 0.2)
    message = channel.basic_get(dlq, no_ack=True)
    if check(message is not None, "py-amqp: the expired message is dead-lettered"):
        death = message.headers["x-death"][0]
        expect((death["reason"], death["queue"], death["count"], death["original-expiration"],
                message.headers["x-first-death-reason"]), ("expired", src, 1, "50", "expired"),
               "py-amqp: x-death for an expiry, the per-message TTL as original-expiration")
    for q in (src, dlq):
        channel.queue_delete(q)
    channel.exchange_delete(dlx)
    connection.close()


def main():
    connection = pika_connection()
    channel = connection.channel()
    raw = RawChannel()
    check_reject_exact(channel, raw)
    check_merge_order(channel, raw)
    raw.close()
    check_routing_keys(channel)
    check_bcc(channel)
    check_maxlen(channel)
    channel = connection.channel()
    check_cycles(channel)
    check_missing_exchange(channel)
    check_death_order(channel)
    check_expiry_comes_round(channel)
    check_dead_letters_keep_prefetch(connection)
    connection.close()
    check_pyamqp()
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
