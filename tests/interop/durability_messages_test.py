#!/usr/bin/python3
"""Interop test: persistent messages in a durable queue survive an orderly restart and a kill -9
restart, seen by pika and py-amqp, with RabbitMQ 3.10's redelivered flags (after an orderly
stop only those delivered and not acked; after a crash all of them); transient messages and
non-durable queues do not survive; and a publisher confirm is sent only after its record was
synced (an LD_PRELOAD shim logs what every fdatasync covered). The durable queue comes back
from a definitions file loaded at boot, so this passes with or without a definitions journal."""
import json
import os
import tempfile
import time

import amqp
import pika

from checks import (HOST, PORT, SKIP, can_control_broker, check, exit_status, expect,
                    kill_broker, pika_connection, start_broker, stop_broker, unique)
import own_broker

PERSISTENT = pika.BasicProperties(delivery_mode=2)
TRANSIENT = pika.BasicProperties(delivery_mode=1)
DURABLE = unique("durable-messages")
TRANSIENT_QUEUE = unique("not-durable")
TTL_QUEUE = unique("durable-ttl")
TTL_MS = 6000
PRIORITY_QUEUE = unique("durable-priority")
REJECTING = unique("durable-rejecting")
DEAD_LETTERS = unique("durable-dead-letters")
TX_QUEUE = unique("durable-tx")
QUEUE_ARGUMENTS = {
    TTL_QUEUE: {"x-message-ttl": TTL_MS},
    PRIORITY_QUEUE: {"x-max-priority": 5},
    REJECTING: {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": DEAD_LETTERS},
    DEAD_LETTERS: {},
    TX_QUEUE: {},
    DURABLE: {},
}


def definitions_config(tmp):
    """A rabbitmq.conf whose load_definitions declares the durable queue (and the guest user a
    broker booted with definitions otherwise lacks)."""
    defs = {
        "users": [{"name": "guest", "password": "guest", "tags": "administrator"}],
        "vhosts": [{"name": "/"}],
        "permissions": [{"user": "guest", "vhost": "/", "configure": ".*", "write": ".*",
                         "read": ".*"}],
        "queues": [{"name": name, "vhost": "/", "durable": True, "auto_delete": False,
                    "arguments": arguments} for name, arguments in QUEUE_ARGUMENTS.items()],
    }
    defs_path = os.path.join(tmp, "definitions.json")
    with open(defs_path, "w") as f:
        json.dump(defs, f)
    conf = os.path.join(tmp, "rabbitmq.conf")
    with open(conf, "w") as f:
        f.write("load_definitions = %s\n" % defs_path)
    return conf


def pyamqp_connection():
    c = amqp.Connection("%s:%d" % (HOST, PORT), userid="guest", password="guest")
    c.connect()
    return c


def publish_pika(bodies, props, queue=DURABLE):
    connection = pika_connection()
    channel = connection.channel()
    channel.confirm_delivery()
    for body in bodies:
        channel.basic_publish("", queue, body, props)  # returns once confirmed
    connection.close()


def publish_pyamqp(bodies):
    connection = pyamqp_connection()
    channel = connection.channel()
    channel.confirm_select()
    for body in bodies:
        channel.basic_publish(amqp.Message(body, delivery_mode=2), exchange="", routing_key=DURABLE,
                              confirm_timeout=5)
    connection.close()


def drain_pika(queue=DURABLE):
    """Every ready message as (body, redelivered), acked."""
    connection = pika_connection()
    channel = connection.channel()
    got = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        got.append((body, method.redelivered))
    connection.close()
    return got


def drain_pyamqp():
    connection = pyamqp_connection()
    channel = connection.channel()
    got = []
    while True:
        message = channel.basic_get(DURABLE, no_ack=True)
        if message is None:
            break
        body = message.body if isinstance(message.body, bytes) else message.body.encode()
        got.append((body, message.delivery_info["redelivered"]))
    connection.close()
    return got


def queue_exists(name):
    connection = pika_connection()
    try:
        connection.channel().queue_declare(name, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        if connection.is_open:
            connection.close()


def declare_queues():
    connection = pika_connection()
    channel = connection.channel()
    for name, arguments in QUEUE_ARGUMENTS.items():
        channel.queue_declare(name, durable=True, arguments=arguments)
    channel.queue_declare(TRANSIENT_QUEUE, durable=False)
    connection.close()


def publish_rules():
    """Messages whose TTL, priority, x-death and transaction must survive too."""
    connection = pika_connection()
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_publish("", TTL_QUEUE, b"expires", PERSISTENT)
    for p in (1, 5, 3):
        channel.basic_publish("", PRIORITY_QUEUE, b"priority-%d" % p,
                              pika.BasicProperties(delivery_mode=2, priority=p))
    channel.basic_publish("", REJECTING, b"rejected", PERSISTENT)
    method, _, _ = channel.basic_get(REJECTING, auto_ack=False)
    channel.basic_reject(method.delivery_tag, requeue=False)
    tx = connection.channel()
    tx.tx_select()
    tx.basic_publish("", TX_QUEUE, b"committed", PERSISTENT)
    tx.tx_commit()  # commit-ok only once the message is on disk
    connection.close()
    return time.monotonic()


def check_rules(published_at):
    connection = pika_connection()
    channel = connection.channel()
    _, _, body = channel.basic_get(TTL_QUEUE, auto_ack=True)
    expect(body, b"expires", "a message with x-message-ttl left is still there after the restart")
    expect([channel.basic_get(PRIORITY_QUEUE, auto_ack=True)[2] for _ in range(3)],
           [b"priority-5", b"priority-3", b"priority-1"],
           "a priority queue delivers recovered messages by priority")
    method, props, body = channel.basic_get(DEAD_LETTERS, auto_ack=True)
    deaths = (props.headers or {}).get("x-death") if method else None
    expect((body, deaths and deaths[0].get("reason"), deaths and deaths[0].get("queue")),
           (b"rejected", "rejected", REJECTING), "a dead letter keeps its x-death")
    expect(channel.basic_get(TX_QUEUE, auto_ack=True)[2], b"committed",
           "a committed transaction's persistent message survives")
    connection.close()


def check_ttl_after_restart(conf):
    """The TTL counts from the publish, not from the restart: the broker stays down for half
    the TTL, and the message is gone soon after the TTL from its publish."""
    connection = pika_connection()
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_publish("", TTL_QUEUE, b"expires-later", PERSISTENT)
    published_at = time.monotonic()
    connection.close()
    expect(stop_broker(), 0, "orderly stop before the TTL runs out")
    time.sleep(TTL_MS / 2000.0)
    start_broker(["--config", conf])
    connection = pika_connection()
    count = connection.channel().queue_declare(TTL_QUEUE, passive=True).method.message_count
    expect(count, 1, "the message is back while its TTL runs")
    time.sleep(max(0, published_at + TTL_MS / 1000.0 + 0.7 - time.monotonic()))
    count = connection.channel().queue_declare(TTL_QUEUE, passive=True).method.message_count
    connection.close()
    expect(count, 0, "it expires when its TTL, counted from its publish, ends")


def orderly_restart(conf):
    declare_queues()
    publish_pika([b"pika-%d" % i for i in range(5)], PERSISTENT)
    publish_pika([b"transient-%d" % i for i in range(3)], TRANSIENT)
    publish_pyamqp([b"pyamqp-%d" % i for i in range(5)])
    publish_pika([b"lost-with-its-queue"], PERSISTENT, TRANSIENT_QUEUE)
    rules_at = publish_rules()
    # one delivered and never acked: its channel is open when the broker stops
    holder = pika_connection()
    method, _, body = holder.channel().basic_get(DURABLE, auto_ack=False)
    expect(body, b"pika-0", "a consumer holds the first message unacked")
    expect(stop_broker(), 0, "orderly stop")
    try:
        holder.close()
    except Exception:
        pass
    start_broker(["--config", conf])
    expected = [b"pika-%d" % i for i in range(5)] + [b"pyamqp-%d" % i for i in range(5)]
    got = drain_pyamqp()
    expect([b for b, _ in got], expected,
           "after an orderly restart py-amqp gets every persistent message, in order, and no "
           "transient one")
    expect([r for _, r in got], [True] + [False] * 9,
           "only the message delivered before the stop is redelivered (RabbitMQ 3.10)")
    check(not queue_exists(TRANSIENT_QUEUE), "the non-durable queue did not survive")
    check_rules(rules_at)
    check_ttl_after_restart(conf)


def crash_restart(conf):
    publish_pika([b"crash-pika-%d" % i for i in range(20)], PERSISTENT)
    publish_pyamqp([b"crash-pyamqp-%d" % i for i in range(20)])
    publish_pika([b"crash-transient"], TRANSIENT)
    # two acked before the crash: they must not come back
    connection = pika_connection()
    channel = connection.channel()
    for _ in range(2):
        channel.basic_get(DURABLE, auto_ack=True)
    connection.close()
    expect(kill_broker(), -9, "kill -9")
    start_broker(["--config", conf])
    got = drain_pika()
    expected = ([b"crash-pika-%d" % i for i in range(2, 20)] +
                [b"crash-pyamqp-%d" % i for i in range(20)])
    # an ack is not synced (at-least-once, as in RabbitMQ): one the kill overtook comes back
    acked = {b"crash-pika-0", b"crash-pika-1"}
    expect([b for b, _ in got if b not in acked], expected,
           "after kill -9 pika gets every confirmed persistent message not acked, in order")
    print("acked before the kill and redelivered after it: %d" % sum(b in acked for b, _ in got))
    check(got and all(r for _, r in got),
          "after a crash every recovered message is redelivered, as RabbitMQ marks them")


def segments(data_dir):
    d = os.path.join(data_dir, "messages")
    return [os.path.join(d, n) for n in sorted(os.listdir(d)) if n.endswith(".seg")]


def synced_ends(log_path):
    ends = {}
    if os.path.exists(log_path):
        with open(log_path) as f:
            for line in f:
                path, end = line.rsplit(" ", 1)
                ends[path] = max(ends.get(path, 0), int(end))
    return ends


def confirms_after_sync(tmp):
    """With the shim preloaded, each confirmed message's record must lie within what some
    fdatasync of its segment covered before the confirm arrived."""
    shim = os.path.join(os.environ.get("BUILDDIR", "."), "tests", "interop", "sync_shim.so")
    if not os.path.exists(shim):
        check(False, "the sync shim %s was built" % shim)
        return
    data_dir = os.path.join(tmp, "shim-data")
    log_path = os.path.join(tmp, "syncs.log")
    port = own_broker.free_port()
    env = {"LD_PRELOAD": shim, "SYNC_SHIM_LOG": log_path,
           "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
    proc = own_broker.start(["--port", str(port), "--management-port", "0",
                             "--prometheus-port", "0", "--data-dir", data_dir],
                            port, env, os.path.join(tmp, "shim-broker.log"))
    try:
        connection = pika.BlockingConnection(pika.ConnectionParameters(HOST, port))
        channel = connection.channel()
        channel.queue_declare("synced", durable=True)
        channel.confirm_delivery()
        unsynced = []
        for i in range(40):
            body = b"sync-order-%04d" % i
            channel.basic_publish("", "synced", body, PERSISTENT)  # returns once confirmed
            ends = synced_ends(log_path)
            found = False
            for path in segments(data_dir):
                with open(path, "rb") as f:
                    at = f.read().find(body)
                if at >= 0:
                    found = True
                    if ends.get(path, 0) < at + len(body):
                        unsynced.append(i)
            if not found:
                unsynced.append(i)
        connection.close()
        expect(unsynced, [], "every confirm came after an fdatasync that covered its record")
    finally:
        own_broker.stop(proc)
        own_broker.kill_leftovers()


def main():
    if not can_control_broker():
        print("SKIP: needs with_broker.py's control socket to restart the broker")
        return SKIP
    with tempfile.TemporaryDirectory() as tmp:
        conf = definitions_config(tmp)
        orderly_restart(conf)
        crash_restart(conf)
        confirms_after_sync(tmp)
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
