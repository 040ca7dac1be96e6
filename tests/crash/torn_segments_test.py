#!/usr/bin/python3
"""Crash test with hand-made damage: after an orderly stop a segment is truncated in the middle
of a record, a byte of a body is flipped, or a record's CRC is spoilt in the middle of the file;
the broker starts, drops only the damaged record, says so in its log, and serves the rest."""
import json
import os
import struct
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))

import pika  # noqa: E402

from checks import (SKIP, can_control_broker, check, exit_status, expect,  # noqa: E402
                    pika_connection, start_broker, stop_broker, unique)

PERSISTENT = pika.BasicProperties(delivery_mode=2)
HEADER = 16  # "WARRENSG", format, number


def definitions_config(tmp, queues):
    defs = {
        "users": [{"name": "guest", "password": "guest", "tags": "administrator"}],
        "vhosts": [{"name": "/"}],
        "permissions": [{"user": "guest", "vhost": "/", "configure": ".*", "write": ".*",
                         "read": ".*"}],
        "queues": [{"name": q, "vhost": "/", "durable": True, "auto_delete": False,
                    "arguments": {}} for q in queues],
    }
    path = os.path.join(tmp, "definitions.json")
    with open(path, "w") as f:
        json.dump(defs, f)
    conf = os.path.join(tmp, "rabbitmq.conf")
    with open(conf, "w") as f:
        f.write("load_definitions = %s\n" % path)
    return conf


def segment_with(data_dir, marker):
    d = os.path.join(data_dir, "messages")
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        with open(path, "rb") as f:
            data = f.read()
        if marker in data:
            return path, data
    raise AssertionError("no segment holds %r" % marker)


def record_around(data, offset):
    """(start, length) of the record whose bytes include offset: [length][CRC][type][payload]."""
    pos = HEADER
    while pos + 8 <= len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        if length == 0:
            break
        if pos <= offset < pos + 8 + length:
            return pos, length
        pos += 8 + length
    raise AssertionError("offset %d is in no record" % offset)


def publish(queue, bodies):
    connection = pika_connection()
    channel = connection.channel()
    channel.queue_declare(queue, durable=True)
    channel.confirm_delivery()
    for body in bodies:
        channel.basic_publish("", queue, body, PERSISTENT)
    connection.close()


def drain(queue):
    connection = pika_connection()
    channel = connection.channel()
    got = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        got.append(body)
    connection.close()
    return got


def log_lines(start):
    with open(os.environ["WARREN_LOG"]) as f:
        f.seek(start)
        return f.read()


def log_size():
    return os.path.getsize(os.environ["WARREN_LOG"])


def main():
    if not can_control_broker():
        print("SKIP: needs with_broker.py's control socket to restart the broker")
        return SKIP
    data_dir = os.environ["WARREN_DATA_DIR"]
    cases = ["truncated", "flipped", "bad-crc"]
    queues = {c: unique("torn-" + c) for c in cases}
    with tempfile.TemporaryDirectory() as tmp:
        conf = definitions_config(tmp, queues.values())
        for case in cases:
            bodies = [b"%s-%d-%s" % (case.encode(), i, b"x" * 40) for i in range(3)]
            publish(queues[case], bodies)
            expect(stop_broker(), 0, "%s: orderly stop" % case)
            if case == "truncated":
                # a crash in the middle of writing the last record: the file ends inside it
                path, data = segment_with(data_dir, bodies[2])
                start, length = record_around(data, data.find(bodies[2]))
                with open(path, "r+b") as f:
                    f.truncate(start + 8 + length // 2)
                expected = bodies[:2]
                said = "torn record"
            elif case == "flipped":
                path, data = segment_with(data_dir, bodies[1])
                at = data.find(bodies[1]) + 5
                with open(path, "r+b") as f:
                    f.seek(at)
                    f.write(bytes([data[at] ^ 0x20]))
                expected = [bodies[0], bodies[2]]
                said = "damaged record"
            else:
                path, data = segment_with(data_dir, bodies[1])
                start, _ = record_around(data, data.find(bodies[1]))
                with open(path, "r+b") as f:
                    f.seek(start + 4)
                    f.write(bytes([data[start + 4] ^ 0xff]))
                expected = [bodies[0], bodies[2]]
                said = "damaged record"
            before = log_size()
            start_broker(["--config", conf])
            expect(drain(queues[case]), expected,
                   "%s: the broker starts and serves every message but the damaged one" % case)
            check(said in log_lines(before), "%s: the log says '%s'" % (case, said))
            publish(queues[case], [b"after-" + case.encode()])
            expect(drain(queues[case]), [b"after-" + case.encode()],
                   "%s: and takes new persistent messages" % case)
    return exit_status()


if __name__ == "__main__":
    raise SystemExit(main())
