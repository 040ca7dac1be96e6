#!/usr/bin/python3
"""Interop test: the Prometheus endpoint (/metrics, /metrics/per-object) as RabbitMQ 3.10
serves it: metric names, types, labels, values after a known workload, promtool's verdict."""

import os
import re
import shutil
import subprocess
import sys
import time

from checks import check, exit_status, expect, pika_connection, process_until, unique
from mgmt import PROMETHEUS_PORT, STATS_SECONDS, get_json, http

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
QUEUE = unique("prom-q")
# Exchanges of this run only: the per-channel figures of channels closed by earlier runs
# linger for a while, so sums are taken over this run's exchange labels.
EXCHANGE, DEAD_END = unique("prom-x"), unique("prom-x-unbound")
PUBLISHED, UNROUTABLE = 4, 1
# RabbitMQ's own erlang_* families draw promtool lint findings; Warren writes none of those.
WARREN = os.environ.get("AMQP_EXPECT_PRODUCT") == "Warren"

# name: (type, labels of its samples in /metrics/per-object); () means no labels.
PER_OBJECT = {
    "rabbitmq_connections": ("gauge", ()),
    "rabbitmq_channels": ("gauge", ()),
    "rabbitmq_consumers": ("gauge", ()),
    "rabbitmq_queues": ("gauge", ()),
    "rabbitmq_connections_opened_total": ("counter", ()),
    "rabbitmq_connections_closed_total": ("counter", ()),
    "rabbitmq_channels_opened_total": ("counter", ()),
    "rabbitmq_channels_closed_total": ("counter", ()),
    "rabbitmq_queues_declared_total": ("counter", ()),
    "rabbitmq_queues_created_total": ("counter", ()),
    "rabbitmq_queues_deleted_total": ("counter", ()),
    "rabbitmq_process_open_fds": ("gauge", ()),
    "rabbitmq_process_max_fds": ("gauge", ()),
    "rabbitmq_process_open_tcp_sockets": ("gauge", ()),
    "rabbitmq_process_resident_memory_bytes": ("gauge", ()),
    "rabbitmq_resident_memory_limit_bytes": ("gauge", ()),
    "rabbitmq_disk_space_available_bytes": ("gauge", ()),
    "rabbitmq_queue_messages_ready": ("gauge", ("queue", "vhost")),
    "rabbitmq_queue_messages_unacked": ("gauge", ("queue", "vhost")),
    "rabbitmq_queue_messages": ("gauge", ("queue", "vhost")),
    "rabbitmq_queue_consumers": ("gauge", ("queue", "vhost")),
    "rabbitmq_queue_messages_published_total": (
        "counter", ("channel", "exchange", "exchange_vhost", "queue", "queue_vhost")),
    "rabbitmq_channel_consumers": ("gauge", ("channel",)),
    "rabbitmq_channel_messages_unacked": ("gauge", ("channel",)),
    "rabbitmq_channel_messages_unconfirmed": ("gauge", ("channel",)),
    "rabbitmq_channel_prefetch": ("gauge", ("channel",)),
    "rabbitmq_consumer_prefetch": ("gauge", ("channel",)),
    "rabbitmq_channel_messages_published_total": ("counter", ("channel", "exchange", "vhost")),
    "rabbitmq_channel_messages_confirmed_total": ("counter", ("channel", "exchange", "vhost")),
    "rabbitmq_channel_messages_unroutable_dropped_total": (
        "counter", ("channel", "exchange", "vhost")),
    "rabbitmq_channel_messages_delivered_ack_total": ("counter", ("channel", "queue", "vhost")),
    "rabbitmq_channel_messages_redelivered_total": ("counter", ("channel", "queue", "vhost")),
    "rabbitmq_channel_messages_acked_total": ("counter", ("channel", "queue", "vhost")),
    "rabbitmq_connection_incoming_bytes_total": ("counter", ("channel",)),
    "rabbitmq_connection_outgoing_bytes_total": ("counter", ("channel",)),
    "rabbitmq_connection_channels": ("gauge", ("channel",)),
    "rabbitmq_global_messages_received_total": ("counter", ("protocol",)),
    "rabbitmq_global_messages_received_confirm_total": ("counter", ("protocol",)),
    "rabbitmq_global_messages_routed_total": ("counter", ("protocol",)),
    "rabbitmq_global_messages_confirmed_total": ("counter", ("protocol",)),
    "rabbitmq_global_messages_unroutable_dropped_total": ("counter", ("protocol",)),
    "rabbitmq_global_messages_unroutable_returned_total": ("counter", ("protocol",)),
    "rabbitmq_global_messages_delivered_total": ("counter", ("protocol", "queue_type")),
    "rabbitmq_global_messages_delivered_consume_manual_ack_total": (
        "counter", ("protocol", "queue_type")),
    "rabbitmq_global_messages_acknowledged_total": ("counter", ("protocol", "queue_type")),
    "rabbitmq_global_messages_redelivered_total": ("counter", ("protocol", "queue_type")),
    "rabbitmq_global_consumers": ("gauge", ("protocol",)),
    "rabbitmq_build_info": ("untyped", ("erlang_version", "prometheus_client_version",
                                        "prometheus_plugin_version", "rabbitmq_version")),
    "rabbitmq_identity_info": ("untyped", ("rabbitmq_cluster", "rabbitmq_cluster_permanent_id",
                                           "rabbitmq_node")),
}
# In /metrics the per-object families are summed into one unlabelled sample each; these are
# compared with the sums of /metrics/per-object.
AGGREGATED = ("rabbitmq_queue_messages_ready", "rabbitmq_queue_messages_unacked",
              "rabbitmq_queue_messages", "rabbitmq_queue_consumers",
              "rabbitmq_channel_consumers", "rabbitmq_connection_channels",
              "rabbitmq_channel_messages_published_total")
CLASSIC = {"protocol": "amqp091", "queue_type": "rabbit_classic_queue"}
AMQP = {"protocol": "amqp091"}


class Scrape:
    """One parsed exposition: TYPE and HELP per family, samples as (name, labels, value)."""

    def __init__(self, text):
        self.text = text
        self.types, self.helps, self.samples = {}, {}, []
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ", 3)
                self.types[name] = kind
            elif line.startswith("# HELP "):
                parts = line.split(" ", 3)
                self.helps[parts[2]] = parts[3] if len(parts) > 3 else ""
            elif line and not line.startswith("#"):
                match = SAMPLE.match(line)
                if match:
                    labels = dict(LABEL.findall(match.group(2) or ""))
                    self.samples.append((match.group(1), labels, float(match.group(3))))

    def of(self, name):
        return [(labels, value) for n, labels, value in self.samples if n == name]

    def value(self, name, **labels):
        """The value of the one sample of name whose labels include labels (None if none)."""
        found = [v for got, v in self.of(name) if all(got.get(k) == w for k, w in labels.items())]
        return found[0] if len(found) == 1 else None

    def total(self, name, **labels):
        return sum(v for got, v in self.of(name)
                   if all(got.get(k) == w for k, w in labels.items()))


def scrape(path):
    reply = http("GET", path, user=None, port=PROMETHEUS_PORT)
    check(reply.status == 200, "GET %s answers 200 (got %d)" % (path, reply.status))
    expect(reply.headers.get("content-type"), "text/plain; version=0.0.4",
           "%s content-type" % path)
    return Scrape(reply.body.decode())


def wait_scrape(path, ready, seconds=STATS_SECONDS):
    """Scrapes until ready(scrape) holds (RabbitMQ refreshes most figures every 5 s)."""
    deadline = time.monotonic() + seconds
    while True:
        got = scrape(path)
        if ready(got) or time.monotonic() >= deadline:
            return got
        time.sleep(0.5)


def workload(connection):
    """Publishes 4 confirmed messages to QUEUE through EXCHANGE and 1 to DEAD_END, which
    routes nowhere; a consumer with
    prefetch 2 acks one, nacks the next with requeue and holds the redelivery and the third:
    ready 1, unacked 2, 4 deliveries of which 1 redelivered, 1 ack."""
    publisher = connection.channel()
    publisher.confirm_delivery()
    publisher.queue_declare(QUEUE)
    publisher.exchange_declare(EXCHANGE, "direct")
    publisher.exchange_declare(DEAD_END, "direct")
    publisher.queue_bind(QUEUE, EXCHANGE, "k")
    for n in range(PUBLISHED):
        publisher.basic_publish(EXCHANGE, "k", b"m%d" % n)
    publisher.basic_publish(DEAD_END, "k", b"lost")
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=2)
    deliveries = []
    consumer.basic_consume(QUEUE, lambda _ch, method, _p, _b: deliveries.append(method))
    process_until(connection, lambda: len(deliveries) >= 2)
    if not check(len(deliveries) >= 2, "the consumer got its first two deliveries"):
        return False
    consumer.basic_ack(deliveries[0].delivery_tag)
    consumer.basic_nack(deliveries[1].delivery_tag, requeue=True)
    process_until(connection, lambda: len(deliveries) >= 4)
    return expect(len(deliveries), 4, "4 deliveries (one a redelivery)")


def keeps_labels(name):
    """Whether a family keeps its labels in /metrics (the others are summed unlabelled)."""
    return name.startswith("rabbitmq_global_") or name.endswith("_info")


def check_families(got, path, per_object):
    for name, (kind, labels) in PER_OBJECT.items():
        expect(got.types.get(name), kind, "%s: TYPE %s" % (path, name))
        check(bool(got.helps.get(name)), "%s: HELP %s present" % (path, name))
        samples = got.of(name)
        if not check(bool(samples), "%s: %s has samples" % (path, name)):
            continue
        wanted = labels if per_object or keeps_labels(name) else ()
        label_sets = sorted(set(tuple(sorted(s)) for s, _ in samples))
        expect(label_sets, [tuple(sorted(wanted))], "%s: %s labels" % (path, name))
    for labels, _ in got.of("rabbitmq_build_info"):
        check(bool(labels.get("rabbitmq_version")), "%s: build_info has a rabbitmq_version"
              % path)


def check_values(before, after):
    def delta(name, **labels):
        return after.total(name, **labels) - before.total(name, **labels)

    expect(delta("rabbitmq_global_messages_received_total", **AMQP), PUBLISHED + UNROUTABLE,
           "received_total grew by the 5 published")
    expect(delta("rabbitmq_global_messages_received_confirm_total", **AMQP),
           PUBLISHED + UNROUTABLE, "received_confirm_total grew by 5")
    expect(delta("rabbitmq_global_messages_confirmed_total", **AMQP), PUBLISHED + UNROUTABLE,
           "confirmed_total grew by 5 (an unroutable message is confirmed too)")
    expect(delta("rabbitmq_global_messages_routed_total", **AMQP), PUBLISHED,
           "routed_total grew by 4")
    expect(delta("rabbitmq_global_messages_unroutable_dropped_total", **AMQP), UNROUTABLE,
           "unroutable_dropped_total grew by 1")
    expect(delta("rabbitmq_global_messages_unroutable_returned_total", **AMQP), 0,
           "unroutable_returned_total did not grow")
    expect(delta("rabbitmq_global_messages_delivered_total", **CLASSIC), 4,
           "delivered_total (classic) grew by 4")
    expect(delta("rabbitmq_global_messages_delivered_consume_manual_ack_total", **CLASSIC), 4,
           "delivered_consume_manual_ack_total grew by 4")
    expect(delta("rabbitmq_global_messages_redelivered_total", **CLASSIC), 1,
           "redelivered_total grew by 1")
    expect(delta("rabbitmq_global_messages_acknowledged_total", **CLASSIC), 1,
           "acknowledged_total grew by 1")
    check(after.total("rabbitmq_global_consumers", **AMQP) >= 1, "global_consumers >= 1")
    # the workload's one connection with two channels and one new queue
    check(delta("rabbitmq_connections_opened_total") >= 1, "connections_opened_total grew")
    check(delta("rabbitmq_channels_opened_total") >= 2, "channels_opened_total grew by 2 or more")
    check(delta("rabbitmq_queues_declared_total") >= 1, "queues_declared_total grew")
    check(delta("rabbitmq_queues_created_total") >= 1, "queues_created_total grew")
    check(delta("rabbitmq_auth_attempts_succeeded_total", **AMQP) >= 1,
          "auth_attempts_succeeded_total grew")


def settled(got):
    """Whether the per-object figures show the finished workload."""
    return (got.value("rabbitmq_queue_messages_ready", vhost="/", queue=QUEUE) == 1 and
            got.value("rabbitmq_queue_messages_unacked", vhost="/", queue=QUEUE) == 2 and
            got.value("rabbitmq_channel_messages_acked_total", vhost="/", queue=QUEUE) == 1 and
            2 in [v for _, v in got.of("rabbitmq_connection_channels")])


def check_per_object(got):
    queue = {"vhost": "/", "queue": QUEUE}
    expect([got.value(n, **queue) for n in ("rabbitmq_queue_messages_ready",
                                            "rabbitmq_queue_messages_unacked",
                                            "rabbitmq_queue_messages",
                                            "rabbitmq_queue_consumers")],
           [1, 2, 3, 1], "per-object queue ready, unacked, messages, consumers")
    expect(got.total("rabbitmq_queue_messages_published_total", queue=QUEUE, queue_vhost="/",
                     exchange=EXCHANGE, exchange_vhost="/"), PUBLISHED,
           "queue_messages_published_total for the queue and exchange")
    expect(got.total("rabbitmq_channel_messages_published_total", vhost="/", exchange=EXCHANGE),
           PUBLISHED, "channel_messages_published_total for the exchange")
    expect(got.total("rabbitmq_channel_messages_confirmed_total", vhost="/", exchange=EXCHANGE),
           PUBLISHED, "channel_messages_confirmed_total for the exchange")
    expect(got.total("rabbitmq_channel_messages_unroutable_dropped_total", vhost="/",
                     exchange=DEAD_END), UNROUTABLE,
           "channel_messages_unroutable_dropped_total for the unbound exchange")
    expect(got.total("rabbitmq_channel_messages_delivered_ack_total", vhost="/", queue=QUEUE),
           4, "channel_messages_delivered_ack_total for the queue")
    expect(got.total("rabbitmq_channel_messages_redelivered_total", vhost="/", queue=QUEUE), 1,
           "channel_messages_redelivered_total for the queue")
    expect(got.total("rabbitmq_channel_messages_acked_total", vhost="/", queue=QUEUE), 1,
           "channel_messages_acked_total for the queue")
    prefetches = sorted(v for _, v in got.of("rabbitmq_consumer_prefetch"))
    check(2 in prefetches, "a channel's consumer_prefetch is 2 (%r)" % prefetches)
    channels = sorted(v for _, v in got.of("rabbitmq_connection_channels"))
    check(2 in channels, "a connection has 2 channels (%r)" % channels)


def check_aggregated(got, per_object):
    check(got.value("rabbitmq_connections") >= 1, "rabbitmq_connections >= 1")
    check(got.value("rabbitmq_channels") >= 2, "rabbitmq_channels >= 2")
    check(got.value("rabbitmq_consumers") >= 1, "rabbitmq_consumers >= 1")
    check(got.value("rabbitmq_queues") >= 1, "rabbitmq_queues >= 1")
    check(got.value("rabbitmq_process_open_fds") > 0, "rabbitmq_process_open_fds > 0")
    check(got.value("rabbitmq_process_resident_memory_bytes") > 0, "resident memory > 0")
    for name in AGGREGATED:
        expect(got.value(name), per_object.total(name),
               "/metrics %s is the sum of the per-object samples" % name)
    check(not got.of("rabbitmq_queue_messages_ready") or
          all(not labels for labels, _ in got.of("rabbitmq_queue_messages_ready")),
          "/metrics has no per-queue labels")


def check_promtool(text, path):
    """promtool must parse it; lint findings are allowed only on non-rabbitmq_ families
    (RabbitMQ's own erlang_* ones have several), and on Warren's output none at all."""
    promtool = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not check(promtool is not None, "promtool is installed"):
        return
    result = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                            capture_output=True, timeout=60)
    output = (result.stdout + result.stderr).decode()
    check(result.returncode in (0, 3) and "error while linting" not in output,
          "promtool parses %s (status %d)" % (path, result.returncode))
    findings = [line for line in output.splitlines() if line.startswith("rabbitmq_")]
    expect(findings, [], "promtool finds nothing to lint in %s's rabbitmq_ families" % path)
    if WARREN:
        expect((result.returncode, output.strip()), (0, ""),
               "promtool accepts %s with no findings" % path)


def check_identity(got):
    """rabbitmq_identity_info names the node and the cluster id the management API shows."""
    labels = [labels for labels, _ in got.of("rabbitmq_identity_info")]
    if not check(len(labels) == 1, "one rabbitmq_identity_info sample"):
        return
    overview = get_json("/api/overview") or {}
    expect(labels[0].get("rabbitmq_node"), overview.get("node"), "identity_info's rabbitmq_node")
    expect(labels[0].get("rabbitmq_cluster"), overview.get("cluster_name"),
           "identity_info's rabbitmq_cluster")
    parameters = {p.get("name"): p.get("value") for p in get_json("/api/global-parameters") or []}
    expect(labels[0].get("rabbitmq_cluster_permanent_id"), parameters.get("internal_cluster_id"),
           "identity_info's rabbitmq_cluster_permanent_id")


def check_listener():
    """The management API lists the Prometheus listener and its port-listener check passes."""
    listeners = [(entry.get("protocol"), entry.get("port"))
                 for entry in (get_json("/api/overview") or {}).get("listeners", [])]
    check(("http/prometheus", PROMETHEUS_PORT) in listeners,
          "/api/overview lists http/prometheus on %d (%r)" % (PROMETHEUS_PORT, listeners))
    expect(get_json("/api/health/checks/port-listener/%d" % PROMETHEUS_PORT),
           {"status": "ok", "port": PROMETHEUS_PORT}, "port-listener on the Prometheus port")


def main():
    reply = http("GET", "/metrics/no-such", user=None, port=PROMETHEUS_PORT)
    expect(reply.status, 404, "an unknown path under /metrics")
    before = scrape("/metrics")
    connection = pika_connection()
    try:
        if not workload(connection):
            return exit_status()
        per_object = wait_scrape("/metrics/per-object", settled)
        check_families(per_object, "/metrics/per-object", True)
        check_per_object(per_object)
        aggregated = wait_scrape("/metrics", lambda got: all(
            got.value(n) == per_object.total(n) for n in AGGREGATED))
        check_families(aggregated, "/metrics", False)
        check_aggregated(aggregated, per_object)
        check_values(before, aggregated)
        check_identity(aggregated)
        check_listener()
        check_promtool(aggregated.text, "/metrics")
        check_promtool(per_object.text, "/metrics/per-object")
    finally:
        if connection.is_open:
            connection.close()
        cleanup()
    return exit_status()


def cleanup():
    connection = pika_connection()
    channel = connection.channel()
    channel.queue_delete(QUEUE)
    channel.exchange_delete(EXCHANGE)
    channel.exchange_delete(DEAD_END)
    connection.close()


if __name__ == "__main__":
    sys.exit(main())
