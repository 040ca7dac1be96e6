#!/usr/bin/python3
"""Interop test: kombu (python3-kombu over py-amqp) round-trips messages with a Producer and
Consumer on an Exchange/Queue, and through a SimpleQueue."""

import sys
import time

import kombu
import kombu.exceptions

from checks import HOST, PORT, SUFFIX, WAIT_SECONDS, check, drain_until, exit_status, expect

HEADERS = {"trace": "t-" + SUFFIX, "attempt": 3, "flags": [True, False, None],
           "nested": {"list": [1, "two", {"three": 3}], "empty": {}}}


def check_producer_consumer(connection):
    exchange = kombu.Exchange("kombu-direct-" + SUFFIX, "direct", durable=False, auto_delete=True)
    queue = kombu.Queue("kombu-queue-" + SUFFIX, exchange, routing_key="task.run", durable=False)
    producer = kombu.Producer(connection.channel(), exchange=exchange)
    producer.publish({"task": "run", "n": 1}, routing_key="task.run", declare=[queue],
                     serializer="json", headers=HEADERS, priority=5,
                     correlation_id="corr-" + SUFFIX, reply_to="reply-" + SUFFIX,
                     message_id="id-" + SUFFIX, expiration=60, type="job", app_id="kombu-test",
                     user_id="guest", timestamp=1234567890)
    producer.publish("plain text", routing_key="task.run", serializer=None,
                     content_type="text/plain", content_encoding="utf-8")
    received = []
    consumer_channel = connection.channel()
    with kombu.Consumer(consumer_channel, [queue], accept=["json", "text/plain"],
                        callbacks=[lambda body, message: received.append((body, message))]):
        drain_until(connection, lambda: len(received) >= 2)
        expect(len(received), 2, "the consumer received both messages")
        if len(received) < 2:
            return
        body, message = received[0]
        expect(body, {"task": "run", "n": 1}, "the JSON payload round-trips")
        # py-amqp hands kombu the body decoded, since content_encoding is utf-8.
        expect(message.body, '{"task": "run", "n": 1}', "the raw body is kombu's JSON text")
        expect(message.headers, HEADERS, "headers with nested tables and arrays round-trip")
        expect(message.properties,
               {"content_type": "application/json", "content_encoding": "utf-8",
                "application_headers": HEADERS, "delivery_mode": 2, "priority": 5,
                "correlation_id": "corr-" + SUFFIX, "reply_to": "reply-" + SUFFIX,
                "expiration": "60000", "message_id": "id-" + SUFFIX, "timestamp": 1234567890,
                "type": "job", "user_id": "guest", "app_id": "kombu-test"},
               "every property round-trips (expiration in ms)")
        info = dict(message.delivery_info)
        info.pop("consumer_tag", None)  # kombu names its consumers itself
        expect(info, {"delivery_tag": 1, "redelivered": False, "exchange": exchange.name,
                      "routing_key": "task.run"}, "delivery info of the first message")
        message.ack()
        body, message = received[1]
        expect((body, message.content_type, message.delivery_tag), ("plain text", "text/plain", 2),
               "the text message arrives second with delivery tag 2")
        message.requeue()
        drain_until(connection, lambda: len(received) >= 3)
        expect([(body, message.delivery_info["redelivered"], message.delivery_tag)
                for body, message in received[2:]], [("plain text", True, 3)],
               "a requeued message comes back redelivered with tag 3")
        if len(received) >= 3:
            received[2][1].ack()
    channel = connection.channel()
    declare_ok = queue(channel).queue_declare(passive=True)
    expect((declare_ok.message_count, declare_ok.consumer_count), (0, 0),
           "the queue is empty and unconsumed after the consumer ends")
    queue(channel).delete()
    channel.close()
    consumer_channel.close()
    producer.channel.close()


def check_simple_queue(connection):
    name = "kombu-simple-" + SUFFIX
    simple = connection.SimpleQueue(name)
    simple.put({"a": 1})
    simple.put("text")
    simple.put(b"\x00binary\xff", serializer=None, content_type="application/octet-stream",
               content_encoding="binary")
    deadline = time.monotonic() + WAIT_SECONDS
    while simple.qsize() < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    expect(simple.qsize(), 3, "SimpleQueue qsize counts three messages")
    message = simple.get_nowait()  # basic.get
    expect((message.payload, message.content_type, message.delivery_info["routing_key"],
            message.delivery_info["exchange"], message.delivery_info["redelivered"],
            message.delivery_info["message_count"]),
           ({"a": 1}, "application/json", name, name, False, 2),
           "SimpleQueue get_nowait (basic.get): JSON payload, routed by a direct exchange "
           "named like the queue, 2 left")
    message.ack()
    message = simple.get(timeout=WAIT_SECONDS)  # starts a consumer
    expect((message.payload, message.content_type), ("text", "text/plain"),
           "SimpleQueue get (consumer): text payload")
    message.requeue()
    # Without a prefetch limit the third message was already delivered before the requeue.
    message = simple.get(timeout=WAIT_SECONDS)
    expect((message.body, message.content_type, message.delivery_info["redelivered"]),
           (b"\x00binary\xff", "application/octet-stream", False),
           "SimpleQueue get: binary body intact")
    message.ack()
    message = simple.get(timeout=WAIT_SECONDS)
    expect((message.payload, message.delivery_info["redelivered"]), ("text", True),
           "the requeued text comes back redelivered")
    message.ack()
    try:
        simple.get(timeout=0.5)
        check(False, "SimpleQueue get on an empty queue raises Empty (but a message came)")
    except simple.Empty:
        check(True, "SimpleQueue get on an empty queue raises Empty")
    simple.close()
    channel = connection.channel()
    expect(channel.queue_delete(name), 0, "the SimpleQueue's queue is empty when deleted")
    channel.exchange_delete(name)
    channel.close()


def main():
    with kombu.Connection("pyamqp://guest:guest@%s:%d//" % (HOST, PORT),
                          connect_timeout=5) as connection:
        connection.connect()
        check(connection.connected, "kombu connected over py-amqp")
        check_producer_consumer(connection)
        check_simple_queue(connection)
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
