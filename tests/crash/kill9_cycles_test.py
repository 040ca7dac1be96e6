#!/usr/bin/python3
"""Crash test: cycles of persistent publishes with confirms from several connections (while a
consumer acks), kill -9 at a random moment, restart on the same data directory, consume
everything. Confirmed-but-lost must be 0; duplicates (at-least-once redeliveries of messages
whose ack the crash lost) are reported. CRASH_CYCLES sets the number of cycles (default 5;
tools/crash-cycles runs 100)."""
import json
import os
import random
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))

import pika  # noqa: E402

from checks import (SKIP, can_control_broker, check, exit_status, expect, kill_broker,  # noqa: E402
                    pika_connection, start_broker, unique)

QUEUE = unique("crash-cycles")
PUBLISHERS = 4
PERSISTENT = pika.BasicProperties(delivery_mode=2)


def definitions_config(tmp):
    defs = {
        "users": [{"name": "guest", "password": "guest", "tags": "administrator"}],
        "vhosts": [{"name": "/"}],
        "permissions": [{"user": "guest", "vhost": "/", "configure": ".*", "write": ".*",
                         "read": ".*"}],
        "queues": [{"name": QUEUE, "vhost": "/", "durable": True, "auto_delete": False,
                    "arguments": {}}],
    }
    path = os.path.join(tmp, "definitions.json")
    with open(path, "w") as f:
        json.dump(defs, f)
    conf = os.path.join(tmp, "rabbitmq.conf")
    with open(conf, "w") as f:
        f.write("load_definitions = %s\n" % path)
    return conf


class Ledger:
    """What the clients saw: confirmed ids, ids acked by the consumer, ids consumed later."""

    def __init__(self):
        self.lock = threading.Lock()
        self.confirmed = set()
        self.acked = set()


def publisher(ledger, cycle, index, stop):
    try:
        connection = pika_connection(socket_timeout=2)
        channel = connection.channel()
        channel.confirm_delivery()
        n = 0
        while not stop.is_set():
            body = ("c%d-p%d-%d" % (cycle, index, n)).encode()
            channel.basic_publish("", QUEUE, body, PERSISTENT)  # returns once confirmed
            with ledger.lock:
                ledger.confirmed.add(body)
            n += 1
    except Exception:
        pass  # the broker was killed under it


def consumer(ledger, stop):
    """Takes and acks messages while the publishers run, some of which the crash may resurrect."""
    try:
        connection = pika_connection(socket_timeout=2)
        channel = connection.channel()
        while not stop.is_set():
            method, _, body = channel.basic_get(QUEUE, auto_ack=False)
            if method is None:
                time.sleep(0.01)
                continue
            channel.basic_ack(method.delivery_tag)
            with ledger.lock:
                ledger.acked.add(body)
    except Exception:
        pass


def drain():
    connection = pika_connection()
    channel = connection.channel()
    got = []
    while True:
        method, _, body = channel.basic_get(QUEUE, auto_ack=True)
        if method is None:
            break
        got.append(body)
    connection.close()
    return got


def main():
    if not can_control_broker():
        print("SKIP: needs with_broker.py's control socket to kill and restart the broker")
        return SKIP
    cycles = int(os.environ.get("CRASH_CYCLES", "5"))
    rng = random.Random(os.environ.get("CRASH_SEED", str(time.time())))
    with tempfile.TemporaryDirectory() as tmp:
        conf = definitions_config(tmp)
        connection = pika_connection()
        connection.channel().queue_declare(QUEUE, durable=True)
        connection.close()
        lost_total = duplicates_total = confirmed_total = 0
        for cycle in range(cycles):
            ledger = Ledger()
            stop = threading.Event()
            threads = [threading.Thread(target=publisher, args=(ledger, cycle, i, stop))
                       for i in range(PUBLISHERS)]
            threads.append(threading.Thread(target=consumer, args=(ledger, stop)))
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.3, 1.5))
            status = kill_broker()
            stop.set()
            for t in threads:
                t.join(10)
            start_broker(["--config", conf])
            got = drain()
            seen = set(got)
            repeats = len(got) - len(seen)
            with ledger.lock:
                lost = ledger.confirmed - ledger.acked - seen
                duplicates = len(seen & ledger.acked) + repeats
                confirmed = len(ledger.confirmed)
            print("cycle %d: killed (%d) with %d confirmed, %d acked before the kill; %d recovered, "
                  "%d confirmed-but-lost, %d duplicates (acked, then redelivered)"
                  % (cycle + 1, status, confirmed, len(ledger.acked), len(got), len(lost),
                     duplicates), flush=True)
            check(status == -9, "cycle %d: the broker was killed by SIGKILL" % (cycle + 1))
            check(confirmed > 0, "cycle %d: publishers had confirms before the kill" % (cycle + 1))
            lost_total += len(lost)
            duplicates_total += duplicates
            confirmed_total += confirmed
        print("%d cycles: %d confirmed, %d confirmed-but-lost, %d duplicates"
              % (cycles, confirmed_total, lost_total, duplicates_total))
        expect(lost_total, 0, "confirmed-but-lost over %d kill -9 cycles" % cycles)
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
