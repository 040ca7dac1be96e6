#!/usr/bin/python3
"""Interop test (Warren): backlogs larger than memory. Large bodies queued behind a queue's
resident window are paged out (persistent ones in durable queues read back from their records,
the rest spilled to the message store) so the broker's memory stays bounded while hundreds of
MiB wait; every body comes back intact and in order, through pika: from a transient queue, a
durable queue after kill -9 (recovered without reading the bodies into memory), both ends of a
fanout, dead letters of expired messages, a purge, and segments compacted under paged bodies."""
import os
import tempfile
import time

import pika

from checks import SKIP, check, exit_status, unique
import own_broker

MIB = 1 << 20
PERSISTENT = pika.BasicProperties(delivery_mode=2)
# far more than the resident window (8 MiB a queue); the growth allowed is well under the backlog
BACKLOG = 160
GROWTH_ALLOWED = 80 * MIB


def body(tag, i):
    """1 MiB that says which message it is all the way through."""
    return (b"%s-%06d|" % (tag.encode(), i)) * (MIB // (len(tag) + 8)) + b"!"


class Broker:
    """A Warren of the test's own: its memory is read from /proc, and ASan (in the sanitizer
    build) must not hold freed bodies in its quarantine."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        os.makedirs(data_dir)
        self.port = own_broker.free_port()
        self.start()

    def start(self):
        asan = (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0").lstrip(":")
        self.proc = own_broker.start(
            ["-p", str(self.port), "--management-port", "0", "--prometheus-port", "0",
             "--data-dir", self.data_dir], self.port, {"ASAN_OPTIONS": asan},
            os.path.join(os.path.dirname(self.data_dir), "broker.log"))

    def rss(self):
        return rss(self.proc.pid)

    def connection(self):
        return pika.BlockingConnection(pika.ConnectionParameters(
            "127.0.0.1", self.port, credentials=pika.PlainCredentials("guest", "guest"),
            connection_attempts=1, socket_timeout=5))

    def restart(self, kill=False):
        if kill:
            self.proc.kill()
            self.proc.wait()
        else:
            check(own_broker.stop(self.proc) == 0, "the broker stops in order (exit 0)")
        self.start()


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS for pid %d" % pid)


def publish(channel, exchange, key, tag, count, props=None):
    for i in range(count):
        channel.basic_publish(exchange, key, body(tag, i), props)


def drain(channel, queue, expect_count, ack=True):
    """Every message of the queue, by basic.get: (bodies, redelivered flags)."""
    bodies, flags = [], []
    while True:
        method, _props, got = channel.basic_get(queue, auto_ack=False)
        if method is None:
            break
        bodies.append(got)
        flags.append(method.redelivered)
        if ack:
            channel.basic_ack(method.delivery_tag)
        if len(bodies) > expect_count:
            break
    return bodies, flags


def intact(bodies, tag, count):
    return len(bodies) == count and all(b == body(tag, i) for i, b in enumerate(bodies))


def settle(seconds=0.5):
    time.sleep(seconds)  # page-outs land once the writer is back with their records


def transient_backlog(broker):
    connection = broker.connection()
    channel = connection.channel()
    channel.confirm_delivery()
    queue = unique("paging-transient")
    channel.queue_declare(queue)
    before = broker.rss()
    publish(channel, "", queue, "t", BACKLOG)
    settle()
    grown = broker.rss() - before
    check(grown < GROWTH_ALLOWED,
          "%d MiB of transient bodies queued: memory grew by %.1f MiB only"
          % (BACKLOG, grown / MIB))
    bodies, _ = drain(channel, queue, BACKLOG)
    check(intact(bodies, "t", BACKLOG),
          "every transient body comes back intact and in order (%d of %d)" % (len(bodies), BACKLOG))
    publish(channel, "", queue, "p", 40)
    settle()
    purged = channel.queue_purge(queue).method.message_count
    check(purged == 40, "a purge drops the paged-out bodies too (%d)" % purged)
    publish(channel, "", queue, "after-purge", 3)
    bodies, _ = drain(channel, queue, 3)
    check(intact(bodies, "after-purge", 3), "the queue serves new bodies after the purge")
    channel.queue_delete(queue)
    connection.close()


def durable_backlog_across_kill(broker):
    connection = broker.connection()
    channel = connection.channel()
    channel.confirm_delivery()
    queue = unique("paging-durable")
    channel.queue_declare(queue, durable=True)
    before = broker.rss()
    publish(channel, "", queue, "d", BACKLOG, PERSISTENT)
    settle()
    grown = broker.rss() - before
    check(grown < GROWTH_ALLOWED,
          "%d MiB of persistent bodies confirmed into a durable queue: memory grew by %.1f MiB"
          % (BACKLOG, grown / MIB))
    connection.close()
    broker.restart(kill=True)
    check(broker.rss() < GROWTH_ALLOWED + 32 * MIB,
          "after kill -9 the backlog is recovered without its bodies in memory (%.1f MiB RSS)"
          % (broker.rss() / MIB))
    connection = broker.connection()
    channel = connection.channel()
    count = channel.queue_declare(queue, durable=True, passive=True).method.message_count
    check(count == BACKLOG, "every confirmed message is there after kill -9 (%d)" % count)
    bodies, flags = drain(channel, queue, BACKLOG)
    check(intact(bodies, "d", BACKLOG),
          "every persistent body comes back intact and in order (%d of %d)"
          % (len(bodies), BACKLOG))
    check(all(flags), "recovered after a crash, all are marked redelivered")
    channel.queue_delete(queue)
    connection.close()


def fanout_durable_and_transient(broker):
    """One message, two queues: the durable one's holder goes first, the transient queue still
    reads the bodies back."""
    connection = broker.connection()
    channel = connection.channel()
    channel.confirm_delivery()
    exchange, durable, transient = unique("paging-fan"), unique("paging-fan-d"), unique("paging-fan-t")
    channel.exchange_declare(exchange, "fanout", durable=True)
    channel.queue_declare(durable, durable=True)
    channel.queue_declare(transient)
    channel.queue_bind(durable, exchange)
    channel.queue_bind(transient, exchange)
    before = broker.rss()
    publish(channel, exchange, "", "f", 100, PERSISTENT)
    settle()
    grown = broker.rss() - before
    check(grown < GROWTH_ALLOWED, "100 MiB fanned out to two queues: memory grew by %.1f MiB"
          % (grown / MIB))
    from_durable, _ = drain(channel, durable, 100)
    check(intact(from_durable, "f", 100), "the durable queue's copies are intact (%d)"
          % len(from_durable))
    settle()
    from_transient, _ = drain(channel, transient, 100)
    check(intact(from_transient, "f", 100),
          "the transient queue's copies are intact after the durable queue acked them all (%d)"
          % len(from_transient))
    channel.queue_delete(durable)
    channel.queue_delete(transient)
    channel.exchange_delete(exchange)
    connection.close()


def dead_letters_of_paged_bodies(broker):
    connection = broker.connection()
    channel = connection.channel()
    channel.confirm_delivery()
    expiring, dead = unique("paging-expiring"), unique("paging-dead")
    channel.queue_declare(dead)
    channel.queue_declare(expiring, arguments={"x-message-ttl": 1500,
                                               "x-dead-letter-exchange": "",
                                               "x-dead-letter-routing-key": dead})
    publish(channel, "", expiring, "x", 60)
    time.sleep(2.5)
    bodies, _ = drain(channel, dead, 60)
    check(intact(bodies, "x", 60),
          "expired bodies that were paged out are dead-lettered intact (%d of 60)" % len(bodies))
    channel.queue_delete(expiring)
    channel.queue_delete(dead)
    connection.close()


def segments(data_dir):
    path = os.path.join(data_dir, "messages")
    return len([n for n in os.listdir(path) if n.endswith(".seg")])


def compaction_under_paged_bodies(broker):
    data_dir = broker.data_dir
    """A durable queue's paged-out bodies pin a fifth of every segment while another queue's
    are acked: the segments are compacted (the bodies read back and written again) and the
    bodies still come back intact."""
    connection = broker.connection()
    channel = connection.channel()
    channel.confirm_delivery()
    kept, churn = unique("paging-kept"), unique("paging-churn")
    channel.queue_declare(kept, durable=True)
    channel.queue_declare(churn, durable=True)
    rounds = 48
    for i in range(rounds):
        channel.basic_publish("", kept, body("k", i), PERSISTENT)
        for j in range(4):
            channel.basic_publish("", churn, body("c", i * 4 + j), PERSISTENT)
    settle()
    before = segments(data_dir)
    churned, _ = drain(channel, churn, rounds * 4)
    check(len(churned) == rounds * 4, "the churn queue drained (%d)" % len(churned))
    for i in range(3):  # commits, which reclaim and compact
        channel.basic_publish("", churn, b"tick", PERSISTENT)
        drain(channel, churn, 1)
        settle(0.3)
    after = segments(data_dir)
    check(after * 2 < before, "segments compacted from %d to %d" % (before, after))
    bodies, _ = drain(channel, kept, rounds)
    check(intact(bodies, "k", rounds), "the kept bodies survive compaction intact (%d of %d)"
          % (len(bodies), rounds))
    channel.queue_delete(kept)
    channel.queue_delete(churn)
    connection.close()


def main():
    if not own_broker.WARREN:
        print("SKIP: needs $WARREN (the test starts brokers of its own)")
        return SKIP
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(os.path.join(tmp, "data"))
        try:
            transient_backlog(broker)
            fanout_durable_and_transient(broker)
            dead_letters_of_paged_bodies(broker)
            compaction_under_paged_bodies(broker)
            broker.restart()  # a fresh process: its memory measures this backlog alone
            durable_backlog_across_kill(broker)
            check(own_broker.stop(broker.proc) == 0, "the broker stops in order (exit 0)")
        finally:
            own_broker.kill_leftovers()
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
