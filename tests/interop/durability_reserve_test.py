#!/usr/bin/python3
"""Interop test (Warren only): space is reserved before publishes are accepted. The store makes
its next segment (preallocated) once the active one is half full; an LD_PRELOAD shim makes that
preallocation fail with ENOSPC while a marker file exists. Then a pika publisher with confirms
hears connection.blocked ("low on disk") while every message it had sent is still confirmed
(acked: the active segment had room for them), no segment file is left behind by the failed
tries, and once the marker goes the next segment is made, the publisher hears unblocked, and
its messages fill the active segment and go on into the new one, all acked; after a kill -9
every confirmed message comes back."""
import os
import tempfile
import threading
import time

import pika

from checks import HOST, SKIP, check, exit_status, expect
import own_broker

PERSISTENT = pika.BasicProperties(delivery_mode=2)
QUEUE = "reserve"
BODY = b"r" * 60000  # under the 16 MiB segment: half of it is about 140 of these


def seg_files(data_dir):
    return sorted(n for n in os.listdir(os.path.join(data_dir, "messages")) if n.endswith(".seg"))


def connect(port):
    return pika.BlockingConnection(pika.ConnectionParameters(
        HOST, port, connection_attempts=1, socket_timeout=5, blocked_connection_timeout=None))


def process_until(connection, until, seconds):
    deadline = time.monotonic() + seconds
    while not until() and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.05)
    return until()


def publish_all(connection, channel, count, result):
    """Publishes count with confirms (each waits for its confirm; a blocked broker reads no
    more, so the one sent when the block begins waits for the unblock). Counts acks and nacks
    into result."""
    for _ in range(count):
        try:
            channel.basic_publish("", QUEUE, BODY, PERSISTENT)
            result["acked"] += 1
        except pika.exceptions.NackError:
            result["nacked"] += 1
    connection.process_data_events(0.1)  # the callbacks for what came meanwhile


def run(tmp, shim):
    data_dir = os.path.join(tmp, "data")
    marker = os.path.join(tmp, "no-room")
    port = own_broker.free_port()
    env = {"LD_PRELOAD": shim, "ENOSPC_SHIM_MARKER": marker, "ENOSPC_SHIM_ONLY": "fallocate",
           "ENOSPC_SHIM_LOG": os.path.join(tmp, "refused.log"),
           "ENOSPC_SHIM_DIR": os.path.realpath(os.path.join(data_dir, "messages")),
           "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
    args = ["--port", str(port), "--management-port", "0", "--prometheus-port", "0",
            "--data-dir", data_dir]
    os.makedirs(data_dir)
    proc = own_broker.start(args, port, env, os.path.join(tmp, "broker-1.log"))
    pub = connect(port)
    events = []
    pub.add_on_connection_blocked_callback(
        lambda conn, m: events.append(("blocked", m.method.reason)))
    pub.add_on_connection_unblocked_callback(lambda conn, m: events.append(("unblocked",)))
    channel = pub.channel()
    channel.queue_declare(QUEUE, durable=True)
    channel.confirm_delivery()
    result = {"acked": 0, "nacked": 0}
    publish_all(pub, channel, 100, result)  # a third of the first segment
    check(result["acked"] == 100 and seg_files(data_dir) == ["0000000001.seg"],
          "100 confirmed into the first segment (%r, files %r)" % (result, seg_files(data_dir)))
    with open(marker, "w"):
        pass
    # past half the next segment is tried and cannot be made: the publisher blocks, in a
    # thread of its own, while this one looks on
    publisher = threading.Thread(target=publish_all, args=(pub, channel, 300, result))
    publisher.start()
    deadline = time.monotonic() + 10
    while result["acked"] < 140 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(2.5)  # blocked by now, and a try a second made
    during = dict(result)
    check(during["acked"] < 270 and during["nacked"] == 0,
          "the publisher is held, not nacked, while the next segment cannot be made (%r)"
          % during)
    check(seg_files(data_dir) == ["0000000001.seg"],
          "the failed tries leave no file (%r)" % seg_files(data_dir))
    with open(os.path.join(tmp, "refused.log")) as f:
        tries = sum(1 for line in f if line.startswith("fallocate "))
    check(2 <= tries <= 5, "the next segment is tried about once a second (%d tries)" % tries)
    os.unlink(marker)
    publisher.join(20)
    check(not publisher.is_alive() and result == {"acked": 400, "nacked": 0},
          "once there is room the publisher goes on: all 400 acked, none nacked (%r)" % result)
    check(events[:2] == [("blocked", "low on disk"), ("unblocked",)],
          "it heard connection.blocked (low on disk), then unblocked (%r)" % events)
    files = seg_files(data_dir)
    check(len(files) >= 2 and files[0] == "0000000001.seg",
          "the messages went on into the segment made ahead (%r)" % files)
    pub.close()
    proc.kill()
    proc.wait()
    proc = own_broker.start(args, port, env, os.path.join(tmp, "broker-2.log"))
    con = connect(port)
    count = con.channel().queue_declare(QUEUE, durable=True, passive=True).method.message_count
    expect(count, 400, "every confirmed message is back after kill -9")
    con.close()
    check(own_broker.stop(proc) == 0, "the broker stops in order (exit 0)")


def main():
    if not os.access(own_broker.WARREN, os.X_OK):
        print("SKIP: needs $WARREN, the broker binary, to preload the shim into")
        return SKIP
    shim = os.path.join(os.environ.get("BUILDDIR", "."), "tests", "interop", "enospc_shim.so")
    if not os.path.exists(shim):
        check(False, "the ENOSPC shim %s was built" % shim)
        return exit_status()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            run(tmp, shim)
        finally:
            own_broker.kill_leftovers()
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
