#!/usr/bin/python3
"""Interop test: persistent messages held by a durable x-delayed-message exchange survive an
orderly restart and a kill -9 restart (their confirms come once their records are synced: an
LD_PRELOAD shim logs what every fdatasync covered), and are
routed at their original due time, or at once when it passed while the broker was down,
exactly once (a second restart brings none back). Transient messages, and those of a
non-durable delayed exchange or of one deleted before the restart, are gone, as is the
non-durable exchange. The plugin keeps every delayed message in a disc table (transient ones
too, and a non-durable exchange's, which then route nowhere); Warren keeps the persistent ones
of durable exchanges, as it keeps persistent messages of durable queues (README)."""
import os
import tempfile
import time

import pika
import pika.exceptions

from checks import (HOST, SKIP, can_control_broker, check, exit_status, expect, kill_broker,
                    pika_connection, start_broker, stop_broker, unique)
from durability_messages_test import segments, synced_ends
import own_broker

DELAYED = "x-delayed-message"
PERSISTENT = 2
TRANSIENT = 1
SOON_MS = 1500    # due while the broker is down: routed at once after the restart
LATER_MS = 7000   # due after the restart: routed then, not before
EARLY_MS = 50     # the broker's coarse clock may trail by a tick
LATE_S = 2.0      # a shared, busy host: a due message may come this late


def declare(channel, names):
    channel.queue_declare(names["queue"], durable=True)
    for x, durable in ((names["durable"], True), (names["transient_x"], False),
                       (names["deleted"], True)):
        channel.exchange_declare(x, DELAYED, durable=durable,
                                 arguments={"x-delayed-type": "direct"})
        channel.queue_bind(names["queue"], x, "k")


def publish_held(names):
    """Publishes with confirms (each publish returns once confirmed); the wall time then."""
    connection = pika_connection()
    channel = connection.channel()
    declare(channel, names)
    channel.confirm_delivery()

    def publish(exchange, body, mode, delay_ms, key="k", headers=None):
        channel.basic_publish(exchange, key, body, pika.BasicProperties(
            delivery_mode=mode, headers=dict(headers or {}, **{"x-delay": delay_ms})))

    published_at = time.time()
    publish(names["durable"], "soon", PERSISTENT, SOON_MS)
    publish(names["durable"], "later", PERSISTENT, LATER_MS)
    publish(names["durable"], "transient", TRANSIENT, SOON_MS)
    # routed by its CC key alone: the keys are kept with it
    publish(names["durable"], "cc", PERSISTENT, SOON_MS, key="nowhere", headers={"CC": ["k"]})
    publish(names["transient_x"], "non-durable exchange", PERSISTENT, SOON_MS)
    publish(names["deleted"], "deleted exchange", PERSISTENT, SOON_MS)
    channel.exchange_delete(names["deleted"])
    connection.close()
    return published_at


def arrivals(seconds):
    """(body, wall time) of every delivery from the queue within seconds, acked."""
    got = []
    connection = pika_connection()
    channel = connection.channel()

    def on_message(ch, method, _props, body):
        got.append((body.decode(), time.time()))
        ch.basic_ack(method.delivery_tag)

    channel.basic_consume(NAMES["queue"], on_message)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.05)
    connection.close()
    return got


def exchange_exists(name):
    connection = pika_connection()
    channel = connection.channel()
    try:
        channel.exchange_declare(name, DELAYED, passive=True)
        connection.close()
        return True
    except pika.exceptions.ChannelClosedByBroker as e:
        connection.close()
        return e.reply_code != 404


def restart_after(how, names):
    published_at = publish_held(names)
    if how == "kill -9":
        expect(kill_broker(), -9, "kill -9")
    else:
        expect(stop_broker(), 0, "orderly stop")
    # the first message falls due while the broker is down
    time.sleep(max(0.0, published_at + SOON_MS / 1000 + 0.5 - time.time()))
    start_broker()
    restarted_at = time.time()
    check(exchange_exists(names["durable"]), how + ": the durable delayed exchange is back")
    check(not exchange_exists(names["transient_x"]), how + ": the non-durable one is not")
    wait = published_at + LATER_MS / 1000 + LATE_S - time.time()
    got = arrivals(wait)
    expect(sorted(body for body, _ in got), ["cc", "later", "soon"],
           how + ": the persistent messages of the durable exchange, each once, nothing else")
    times = dict(got)
    for body in ("soon", "cc"):
        if body in times:
            check(times[body] - restarted_at < LATE_S,
                  how + ": the overdue message %r is routed at once (%.2f s after the restart)"
                  % (body, times[body] - restarted_at))
    if "later" in times:
        due = published_at + LATER_MS / 1000
        check(times["later"] >= due - EARLY_MS / 1000,
              how + ": the other is routed at its original due time, not before (%.2f s)"
              % (times["later"] - due))
    # the routed messages were acked and their holds forgotten: none comes back
    if how == "kill -9":
        expect(kill_broker(), -9, how + ": second kill")
    else:
        expect(stop_broker(), 0, how + ": second orderly stop")
    start_broker()
    expect(arrivals(1.5), [], how + ": after another restart nothing is routed again")


def confirms_after_sync(tmp):
    """With the sync shim preloaded (see durability_messages_test), each confirmed held
    message's record lies within what an fdatasync of its segment covered before the
    confirm."""
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
        channel.exchange_declare("held", DELAYED, durable=True,
                                 arguments={"x-delayed-type": "direct"})
        channel.confirm_delivery()
        unsynced = []
        for i in range(20):
            body = b"held-sync-%04d" % i
            channel.basic_publish("held", "k", body, pika.BasicProperties(
                delivery_mode=PERSISTENT, headers={"x-delay": 600000}))  # returns once confirmed
            ends = synced_ends(log_path)
            at = -1
            for path in segments(data_dir):
                with open(path, "rb") as f:
                    at = f.read().find(body)
                if at >= 0:
                    if ends.get(path, 0) < at + len(body):
                        unsynced.append(i)
                    break
            if at < 0:
                unsynced.append(i)
        connection.close()
        expect(unsynced, [], "every held message's confirm came after a sync that covered it")
    finally:
        own_broker.stop(proc)
        own_broker.kill_leftovers()


NAMES = {}


def main():
    if not can_control_broker():
        print("SKIP: needs with_broker.py's control socket to restart the broker")
        return SKIP
    for how in ("orderly", "kill -9"):
        NAMES.clear()
        NAMES.update({key: unique("delayed-" + key) for key in
                      ("queue", "durable", "transient_x", "deleted")})
        restart_after(how, NAMES)
    with tempfile.TemporaryDirectory() as tmp:
        confirms_after_sync(tmp)
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
