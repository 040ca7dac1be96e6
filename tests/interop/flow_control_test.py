#!/usr/bin/python3
"""Interop test: publisher flow control. A publisher flooding a queue whose consumer has no
credit left is stopped near the high mark instead of growing the queue without bound, and
once the consumer takes messages again every message arrives, exactly once."""
import sys
import threading
import time

from checks import check, exit_status, pika_connection, unique
from rawamqp import (Client, basic_publish_args, body_frame, content_header_frame, method_frame,
                     open_args, start_ok_args, tune_ok_args)

MESSAGES = 50000
BODY = 2000        # 100 MB in all: far more than socket buffers can hide
HIGH_MARK = 20000  # the broker's FLOW_QUEUE_HIGH
SLACK = 10000      # what one read of publishes may add past the mark


def flood(queue, done):
    c = Client(timeout=60)
    c.send_header()
    c.read_start()
    c.send_method(0, 10, 11, start_ok_args())
    c.read_tune()
    c.send_method(0, 10, 31, tune_ok_args(heartbeat=0))
    c.send_method(0, 10, 40, open_args())
    c.expect_method(10, 41)
    c.open_channel(1)
    one = (method_frame(1, 60, 40, basic_publish_args("", queue)) + content_header_frame(1, BODY))
    pad = b"." * (BODY - 8)
    batch = b"".join(one + body_frame(1, b"%08d" % i + pad) for i in range(MESSAGES))
    c.sock.settimeout(None)  # blocks while the broker is not reading; main keeps the deadline
    c.send(batch)
    done.set()
    time.sleep(1)
    c.close()


def main():
    queue = unique("flow")
    consumer = pika_connection()
    channel = consumer.channel()
    channel.queue_declare(queue, auto_delete=True)
    channel.basic_qos(prefetch_count=10)
    received = []
    channel.basic_consume(queue, lambda ch, m, p, body: received.append((m.delivery_tag, body)))
    observer = pika_connection()
    watch = observer.channel()
    done = threading.Event()
    publisher = threading.Thread(target=flood, args=(queue, done), daemon=True)
    publisher.start()
    deepest = 0
    for _ in range(30):  # three seconds in which the consumer takes nothing more
        consumer.process_data_events(0)
        deepest = max(deepest, watch.queue_declare(queue, passive=True).method.message_count)
        time.sleep(0.1)
    check(deepest > HIGH_MARK // 2, "the queue filled while the consumer had no credit (%d)" % deepest)
    check(deepest <= HIGH_MARK + SLACK, "it stayed near the high mark: at most %d ready" % deepest)
    check(not done.is_set(), "the publisher was held back meanwhile")
    channel.basic_qos(prefetch_count=0)
    deadline = time.monotonic() + 100
    acked = 0
    while len(received) < MESSAGES and time.monotonic() < deadline:
        consumer.process_data_events(0.2)
        for tag, _ in received[-1:]:
            if tag > acked:  # acking a tag twice is a 406, as in RabbitMQ
                channel.basic_ack(tag, multiple=True)
                acked = tag
    bodies = [body for _, body in received]
    check(len(bodies) == MESSAGES and len(set(bodies)) == MESSAGES,
          "all %d messages arrived once each (got %d, %d distinct)"
          % (MESSAGES, len(bodies), len(set(bodies))))
    check(bodies == sorted(bodies), "in publish order")
    check(done.wait(10), "the publisher finished")
    observer.close()
    consumer.close()
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
