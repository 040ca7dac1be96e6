#!/usr/bin/python3
"""Interop test: a publish on one connection reaches an idle consumer on another connection
that sends nothing at all (heartbeats off), so deliveries never wait for the consumer's input."""
import sys
import threading
import time

import pika

from checks import HOST, PORT


def params():
    return pika.ConnectionParameters(HOST, PORT, heartbeat=0)


def main():
    consumer = pika.BlockingConnection(params())
    channel = consumer.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    received = []

    def on_message(ch, method, properties, body):
        received.append(body)
        if len(received) == 3:
            ch.stop_consuming()

    channel.basic_consume(queue, on_message, auto_ack=True)
    publisher = pika.BlockingConnection(params())
    publish_channel = publisher.channel()

    def publish():
        time.sleep(0.3)  # the consumer is blocked waiting on its socket by now
        for i in range(3):
            publish_channel.basic_publish("", queue, b"m%d" % i)

    thread = threading.Thread(target=publish)
    thread.start()
    # The bound only keeps a broken broker from hanging the suite; a working one is sub-ms.
    consumer.call_later(10, channel.stop_consuming)
    channel.start_consuming()
    thread.join()
    ok = received == [b"m0", b"m1", b"m2"]
    print("%s: idle consumer on another connection got %r" % ("PASS" if ok else "FAIL", received))
    publisher.close()
    consumer.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
