#!/usr/bin/python3
"""Interop test: GET /api/queues/VHOST/NAME/peek (Warren's own) shows a queue's ready messages
in delivery order as /get shows them, each with its offset, and leaves them where they are:
not taken, not reordered, not marked redelivered; bad parameters get 400, a missing queue 404,
a user without read permission 401 (RabbitMQ's management status for a refusal)."""
import base64
import sys
import time

import pika

from checks import exit_status, expect, pika_connection, process_until, ready_count, unique
from mgmt import expect_error, expect_status, get, http, path_of

QUEUE = unique("peek")
PRIORITIES = unique("peek-priorities")
BACKLOG = unique("peek-backlog")
MIB = 1 << 20


def peek(queue, query="", **options):
    return get(path_of("queues", "/", queue, "peek") + query, **options)


def peeked(queue, query=""):
    reply = peek(queue, query)
    expect_status(reply, 200, "peek %s%s" % (queue, query))
    return reply.json if isinstance(reply.json, list) else []


def bodies(items):
    return [item.get("payload") for item in items]


def main():
    connection = pika_connection()
    channel = connection.channel()
    channel.queue_declare(QUEUE)
    for i in range(5):
        properties = pika.BasicProperties(content_type="text/plain", headers={"n": i})
        channel.basic_publish("", QUEUE, ("m%d" % i).encode(), properties)
    channel.queue_declare(PRIORITIES, arguments={"x-max-priority": 9})
    for body, priority in (("low", 1), ("high", 5), ("middle", 3), ("high2", 5)):
        channel.basic_publish("", PRIORITIES, body.encode(), pika.BasicProperties(priority=priority))
    channel.queue_declare(QUEUE, passive=True)  # a round trip: the publishes are in

    items = peeked(QUEUE, "?count=3")
    expect(bodies(items), ["m0", "m1", "m2"], "the first three, oldest first")
    expect([item.get("offset") for item in items], [0, 1, 2], "their offsets")
    first = items[0] if items else {}
    expect(first.get("redelivered"), False, "not redelivered")
    expect(first.get("exchange"), "", "exchange")
    expect(first.get("routing_key"), QUEUE, "routing key")
    expect(first.get("payload_bytes"), 2, "payload_bytes")
    expect(first.get("payload_encoding"), "string", "payload_encoding")
    expect(first.get("properties"), {"content_type": "text/plain", "headers": {"n": 0}},
           "properties")
    expect(bodies(peeked(QUEUE)), ["m0", "m1", "m2", "m3", "m4"], "count defaults to 10: all five")
    expect(bodies(peeked(QUEUE, "?offset=3&count=10")), ["m3", "m4"], "from offset 3")
    expect(peeked(QUEUE, "?offset=5"), [], "past the end: nothing")
    items = peeked(QUEUE, "?count=1&encoding=base64&truncate=1")
    expect([(i.get("payload"), i.get("payload_encoding"), i.get("payload_bytes")) for i in items],
           [(base64.b64encode(b"m").decode(), "base64", 2)], "base64, truncated to 1 octet")
    expect(bodies(peeked(PRIORITIES)), ["high", "high2", "middle", "low"],
           "a priority queue: in delivery order")

    # 1 MiB bodies far behind the queue's resident window (8 MiB) are paged out: peek reads
    # them back
    channel.queue_declare(BACKLOG)
    for i in range(24):
        channel.basic_publish("", BACKLOG, (b"big-%02d|" % i) * (MIB // 7))
    channel.queue_declare(BACKLOG, passive=True)
    time.sleep(0.5)
    items = peeked(BACKLOG, "?offset=20&count=10&truncate=14")
    expect([(i.get("payload"), i.get("payload_bytes")) for i in items],
           [("big-%02d|big-%02d|" % (n, n), MIB // 7 * 7) for n in range(20, 24)],
           "paged-out bodies read back for a peek")
    expect(ready_count(channel, BACKLOG), 24, "still all there")
    channel.queue_delete(BACKLOG)

    ok = channel.queue_declare(QUEUE, passive=True)
    expect(ok.method.message_count, 5, "peeking took nothing")
    method, _, body = channel.basic_get(QUEUE)
    expect((body, method.redelivered), (b"m0", False), "a get after peeks: the head, not redelivered")
    channel.basic_nack(method.delivery_tag, requeue=True)
    items = peeked(QUEUE, "?count=1")
    expect([(i.get("payload"), i.get("redelivered")) for i in items], [("m0", True)],
           "a requeued message shows as redelivered, back at the head")

    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=2)
    delivered = []
    consumer.basic_consume(QUEUE, lambda _ch, _method, _props, body: delivered.append(body))
    process_until(connection, lambda: len(delivered) == 2)
    expect(delivered, [b"m0", b"m1"], "a consumer holds two unacked")
    expect(bodies(peeked(QUEUE)), ["m2", "m3", "m4"], "messages out with a consumer are not shown")

    for query, reason in (("?count=abc", "count must be an integer from 0 to 1000"),
                          ("?count=1001", "count must be an integer from 0 to 1000"),
                          ("?offset=-1", None), ("?truncate=x", None),
                          ("?encoding=hex", "Unsupported encoding. Please use auto or base64.")):
        expect_error(peek(QUEUE, query), 400, "bad_request", "peek" + query, reason)
    expect_error(peek(unique("missing")), 404, "Object Not Found", "a missing queue", "Not Found")
    expect_status(get(path_of("queues", "no-such-vhost", QUEUE, "peek")), 404, "a missing vhost")

    user = (unique("reader"), "secret")
    expect_status(http("PUT", path_of("users", user[0]),
                       {"password": user[1], "tags": "management"}), 201, "a management user")
    expect_status(http("PUT", path_of("permissions", "/", user[0]),
                       {"configure": ".*", "write": ".*", "read": "^$"}), 201,
                  "its permissions without read")
    # RabbitMQ's management answers a refused resource with 401, as /get does
    expect_error(peek(QUEUE, user=user), 401, "not_authorised", "peek without read permission",
                 "Access refused.")
    expect_status(http("PUT", path_of("permissions", "/", user[0]),
                       {"configure": "^$", "write": "^$", "read": ".*"}), 204,
                  "read permission given")
    expect(bodies(peek(QUEUE, user=user).json or []), ["m2", "m3", "m4"], "then it may peek")
    expect_status(http("DELETE", path_of("users", user[0])), 204, "user deleted")
    connection.close()


if __name__ == "__main__":
    main()
    sys.exit(exit_status())
