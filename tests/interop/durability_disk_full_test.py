#!/usr/bin/python3
"""Interop test (Warren only): a disk that refuses writes. An LD_PRELOAD shim makes
posix_fallocate and pwrite in DATA_DIR/messages fail with ENOSPC while a marker file exists.
Then a pika publisher with confirms gets nacks and hears connection.blocked ("low on disk"), a
consumer acking meanwhile makes no pile of segment files (a new segment is tried once per
interval, and one whose preallocation failed is removed at once); when the marker goes, the
publisher hears connection.unblocked and its confirms are acks again; after a kill -9 and a
restart every confirmed message that was not acked is there, none that was acked, and the
recovery finds no damaged record."""
import os
import tempfile
import time

import pika

from checks import HOST, SKIP, check, exit_status, expect
import own_broker

PERSISTENT = pika.BasicProperties(delivery_mode=2)
QUEUE = "disk-full"


def seg_files(data_dir):
    return sorted(n for n in os.listdir(os.path.join(data_dir, "messages")) if n.endswith(".seg"))


def refusals(log_path, call):
    if not os.path.exists(log_path):
        return 0
    with open(log_path) as f:
        return sum(1 for line in f if line.startswith(call + " "))


def connect(port):
    return pika.BlockingConnection(pika.ConnectionParameters(
        HOST, port, connection_attempts=1, socket_timeout=5, blocked_connection_timeout=None))


def process_until(connection, until, seconds):
    deadline = time.monotonic() + seconds
    while not until() and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.05)
    return until()


def publish(channel, body):
    """True when confirmed (ack), False when nacked."""
    try:
        channel.basic_publish("", QUEUE, body, PERSISTENT)
        return True
    except pika.exceptions.NackError:
        return False


def run(tmp, shim):
    data_dir = os.path.join(tmp, "data")
    marker = os.path.join(tmp, "disk-full")
    shim_log = os.path.join(tmp, "refused.log")
    port = own_broker.free_port()
    env = {"LD_PRELOAD": shim, "ENOSPC_SHIM_MARKER": marker, "ENOSPC_SHIM_LOG": shim_log,
           "ENOSPC_SHIM_DIR": os.path.realpath(os.path.join(data_dir, "messages")),
           "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
    args = ["--port", str(port), "--management-port", "0", "--prometheus-port", "0",
            "--data-dir", data_dir]
    log1 = os.path.join(tmp, "broker-1.log")
    os.makedirs(data_dir)  # there at once, so the free-space sample at boot finds it
    proc = own_broker.start(args, port, env, log1)
    confirmed, acked = [], []
    try:
        pub = connect(port)
        events = []
        pub.add_on_connection_blocked_callback(
            lambda conn, m: events.append(("blocked", m.method.reason)))
        pub.add_on_connection_unblocked_callback(lambda conn, m: events.append(("unblocked",)))
        channel = pub.channel()
        channel.queue_declare(QUEUE, durable=True)
        channel.confirm_delivery()
        for i in range(50):
            body = b"before-%03d" % i
            check(publish(channel, body), "confirmed before the disk fills (%d)" % i)
            confirmed.append(body)
        files_before = seg_files(data_dir)

        open(marker, "w").close()
        check(not publish(channel, b"refused"), "a publish the disk refuses is nacked")
        # the next publish (on a channel without confirms, so this does not wait) is where
        # the connection blocks, as RabbitMQ blocks it: its body is read once the alarm clears
        pub.channel().basic_publish("", QUEUE, b"held", PERSISTENT)
        check(process_until(pub, lambda: events, 5) and events == [("blocked", "low on disk")],
              "the publisher hears connection.blocked 'low on disk' (%r)" % events)

        # a consumer goes on meanwhile: its acks make commits, which must not make files
        con = connect(port)
        cch = con.channel()
        started = time.monotonic()
        for _ in range(30):
            method, _, body = cch.basic_get(QUEUE)
            if method is None:
                break
            cch.basic_ack(method.delivery_tag)
            acked.append(body)
            time.sleep(0.1)
        time.sleep(max(0.0, 4.0 - (time.monotonic() - started)))
        failing_for = time.monotonic() - started
        expect(len(acked), 30, "the consumer is served while the disk is full")
        files_during = seg_files(data_dir)
        check(len(files_during) <= len(files_before) + 1,
              "no pile of segment files while the disk refuses (%d before, %d now: %r)"
              % (len(files_before), len(files_during), files_during))
        tries = refusals(shim_log, "fallocate")
        check(1 <= tries <= int(failing_for) + 2,
              "a new segment is tried about once per interval (%d tries in %.1f s)"
              % (tries, failing_for))

        os.unlink(marker)
        check(process_until(pub, lambda: ("unblocked",) in events, 15),
              "connection.unblocked once a write succeeds again (%r)" % events)
        for i in range(20):
            body = b"after-%03d" % i
            check(publish(channel, body), "confirmed again once the disk has room (%d)" % i)
            confirmed.append(body)
        con.close()
        pub.close()
    finally:
        if os.path.exists(marker):
            os.unlink(marker)
        proc.kill()  # kill -9: recovery must not lean on a clean stop
        proc.wait()

    with open(log1) as f:
        text = f.read()
    check("No space left on device" in text and "publishers blocked" in text,
          "the broker logged the failure")
    check("writing to" in text and "again" in text, "and that it writes again")

    log2 = os.path.join(tmp, "broker-2.log")
    proc = own_broker.start(args, port, {}, log2)
    try:
        c = connect(port)
        ch = c.channel()
        got = []
        while True:
            method, _, body = ch.basic_get(QUEUE, auto_ack=True)
            if method is None:
                break
            got.append(body)
        c.close()
    finally:
        own_broker.stop(proc)
    wanted = [b for b in confirmed if b not in acked]
    lost = [b for b in wanted if b not in got]
    expect(lost, [], "every confirmed message that was not acked survives the episode and a crash")
    back = [b for b in acked if b in got]
    expect(back, [], "the acks given while the disk was full were recorded once it had room")
    expect(len(got), len(set(got)), "no message twice")
    with open(log2) as f:
        text = f.read()
    check("damaged" not in text and "torn" not in text and "not a segment" not in text,
          "the recovery found nothing damaged")
    print("confirmed %d, acked while full %d, recovered %d" % (len(confirmed), len(acked),
                                                                 len(got)))


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
