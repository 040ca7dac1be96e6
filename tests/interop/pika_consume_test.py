#!/usr/bin/python3
"""Interop test: pika consumes, acks, nacks, rejects, recovers and prefetches as on RabbitMQ."""

import functools
import sys
import time

import pika
import pika.exceptions
import pika.spec

import checks
from checks import (SERVER_TAG, check, exit_status, expect, pika_connection, process_until,
                    ready_count, unique, wait_for_value)

SETTLE_SECONDS = 0.3  # how long "nothing more arrives" is watched for
# basic.ack and the like get no reply: a round trip after each action collects the close.
expect_channel_close = functools.partial(checks.expect_channel_close, round_trip=True)


class Deliveries:
    """Messages delivered to consumers, in arrival order, as (consumer tag, delivery tag,
    redelivered, body text)."""

    def __init__(self, connection):
        self.connection = connection
        self.list = []

    def callback(self, _channel, method, _properties, body):
        self.list.append((method.consumer_tag, method.delivery_tag, method.redelivered,
                          body.decode()))

    def wait_for(self, count):
        process_until(self.connection, lambda: len(self.list) >= count)
        return self.list

    def settle(self):
        """Process events for a while: what arrives late counts too."""
        process_until(self.connection, lambda: False, SETTLE_SECONDS)
        return self.list

    def bodies(self, consumer_tag=None):
        return [body for tag, _, _, body in self.list if consumer_tag in (None, tag)]

    def take(self):
        taken, self.list = self.list, []
        return taken


def fill(connection, queue, bodies):
    """Publish with confirms: the messages are in the queue when this returns."""
    channel = connection.channel()
    channel.confirm_delivery()
    for body in bodies:
        channel.basic_publish("", queue, body.encode())
    channel.close()


def settled_ready_count(channel, queue):
    """Ready messages after a pause: RabbitMQ requeues asynchronously, so a count that
    must not grow is read only once a requeue would have shown."""
    time.sleep(SETTLE_SECONDS)
    return ready_count(channel, queue)


def wait_for_ready(connection, queue, wanted):
    """Ready messages once they reach wanted (or the time limit): what a closed channel held
    is requeued a moment after the close."""
    channel = connection.channel()
    count = wait_for_value(lambda: ready_count(channel, queue), wanted)
    channel.close()
    return count


def new_queue(channel):
    return channel.queue_declare("", exclusive=True).method.queue


def expect_connection_close(action, code, text, what):
    connection = pika_connection()
    channel = connection.channel()
    try:
        action(connection, channel)
        channel.queue_declare("", exclusive=True)
    except pika.exceptions.ConnectionClosedByBroker as error:
        expect((error.reply_code, error.reply_text), (code, text), what)
        return
    except pika.exceptions.AMQPError as error:
        check(False, "%s: expected connection.close %d, got %r" % (what, code, error))
    else:
        check(False, "%s: expected connection.close %d, but it succeeded" % (what, code))
    if connection.is_open:
        connection.close()


def server_named_consume(connection, channel, queue, callback, auto_ack=False, tag="",
                         no_local=False):
    """basic.consume sent as given (pika always invents a tag and never sets no-local);
    with an empty tag the server names the consumer."""
    impl = channel._impl
    replies = []
    # The blocking channel watches every consume-ok; entering its result object re-arms it.
    with channel._basic_consume_ok_result:
        impl._rpc(pika.spec.Basic.Consume(queue=queue, consumer_tag=tag, no_ack=auto_ack,
                                          no_local=no_local),
                  replies.append, [pika.spec.Basic.ConsumeOk])
        process_until(connection, lambda: replies)
    tag = replies[0].method.consumer_tag
    impl._consumers[tag] = callback
    if auto_ack:
        impl._consumers_with_noack.add(tag)
    return tag


def raw_cancel(connection, channel, tag):
    replies = []
    channel._impl._rpc(pika.spec.Basic.Cancel(consumer_tag=tag), replies.append,
                       [pika.spec.Basic.CancelOk])
    process_until(connection, lambda: replies)
    return replies[0].method.consumer_tag if replies else None


def check_server_tags(connection):
    channel = connection.channel()
    queue = new_queue(channel)
    deliveries = Deliveries(connection)
    first = server_named_consume(connection, channel, queue, deliveries.callback)
    second = server_named_consume(connection, channel, queue, deliveries.callback)
    check(SERVER_TAG.match(first) is not None, "server-generated consumer tag %r is "
          "amq.ctag-<22 chars>" % first)
    check(SERVER_TAG.match(second) is not None and second != first,
          "a second server-generated tag on the channel differs: %r" % second)
    fill(connection, queue, ["a", "b"])
    got = deliveries.wait_for(2)
    expect([(tag, delivery, redelivered) for tag, delivery, redelivered, _ in got],
           [(first, 1, False), (second, 2, False)],
           "deliveries carry the server-generated tags, delivery tags 1 and 2")
    expect(raw_cancel(connection, channel, first), first, "cancel-ok echoes the server tag")
    expect(raw_cancel(connection, channel, second), second, "cancel-ok echoes the second tag")
    channel.basic_ack(2, multiple=True)
    expect(channel.basic_cancel("no-such-consumer"), [], "cancelling an unknown tag succeeds")
    check(channel.is_open, "the channel is open after cancelling an unknown tag")
    channel.close()


def check_duplicate_tag():
    def reuse(connection, channel):
        queue = new_queue(channel)
        channel.basic_consume(queue, lambda *args: None, consumer_tag="dup")
        channel._impl._rpc(pika.spec.Basic.Consume(queue=queue, consumer_tag="dup"),
                           lambda frame: None, [pika.spec.Basic.ConsumeOk])
        process_until(connection, lambda: False)

    expect_connection_close(reuse, 530, "NOT_ALLOWED - attempt to reuse consumer tag 'dup'",
                            "a duplicate consumer tag on one channel closes the connection")


def check_no_local_ignored(connection):
    channel = connection.channel()
    queue = new_queue(channel)
    deliveries = Deliveries(connection)
    tag = server_named_consume(connection, channel, queue, deliveries.callback, auto_ack=True,
                               tag="no-local", no_local=True)
    expect(tag, "no-local", "consume-ok echoes the client's tag")
    channel.basic_publish("", queue, b"from this connection")
    expect(deliveries.wait_for(1), [("no-local", 1, False, "from this connection")],
           "no-local is ignored: the connection's own publish is delivered")
    channel.close()


def check_exclusive_consumer(connection):
    channel = connection.channel()
    queue = new_queue(channel)
    text = "ACCESS_REFUSED - queue '%s' in vhost '/' in exclusive use" % queue
    channel.basic_consume(queue, lambda *args: None, exclusive=True)
    expect_channel_close(connection, lambda ch: ch.basic_consume(queue, lambda *args: None), 403,
                         text, "a second consumer on a queue with an exclusive consumer")
    expect_channel_close(connection, lambda ch: ch.basic_consume(queue, lambda *args: None,
                                                                 exclusive=True),
                         403, text, "a second exclusive consumer")
    other = new_queue(channel)
    channel.basic_consume(other, lambda *args: None)
    text = "ACCESS_REFUSED - queue '%s' in vhost '/' in exclusive use" % other
    expect_channel_close(connection, lambda ch: ch.basic_consume(other, lambda *args: None,
                                                                 exclusive=True),
                         403, text, "an exclusive consumer on a queue that has a consumer")
    channel.close()


def check_no_ack(connection):
    channel = connection.channel()
    queue = new_queue(channel)
    deliveries = Deliveries(connection)
    tag = channel.basic_consume(queue, deliveries.callback, auto_ack=True)
    fill(connection, queue, ["n1", "n2", "n3"])
    expect(deliveries.wait_for(3), [(tag, 1, False, "n1"), (tag, 2, False, "n2"),
                                    (tag, 3, False, "n3")],
           "no-ack consumer gets delivery tags 1..3")
    expect(settled_ready_count(channel, queue), 0, "no-ack deliveries leave nothing in the queue")
    channel.basic_cancel(tag)
    channel.close()
    time.sleep(SETTLE_SECONDS)
    expect(wait_for_ready(connection, queue, 0), 0,
           "nothing is requeued when the no-ack channel closes")

    def ack_no_ack(ch):
        fill(connection, queue, ["x"])
        method, _, _ = ch.basic_get(queue, auto_ack=True)
        ch.basic_ack(method.delivery_tag)

    expect_channel_close(connection, ack_no_ack, 406,
                         "PRECONDITION_FAILED - unknown delivery tag 1",
                         "acking a message delivered with no-ack")


def check_round_robin(connection):
    setup = connection.channel()
    queue = new_queue(setup)
    deliveries = Deliveries(connection)
    channels = [connection.channel() for _ in range(3)]
    tags = [channel.basic_consume(queue, deliveries.callback, auto_ack=True,
                                  consumer_tag="rr%d" % index)
            for index, channel in enumerate(channels)]
    fill(connection, queue, ["%d" % index for index in range(9)])
    deliveries.wait_for(9)
    expect([deliveries.bodies(tag) for tag in tags],
           [["0", "3", "6"], ["1", "4", "7"], ["2", "5", "8"]],
           "three consumers are served round-robin in the order they subscribed")
    for channel in channels:
        channel.close()
    setup.close()


def check_cancel(connection):
    channel = connection.channel()
    queue = new_queue(channel)
    deliveries = Deliveries(connection)
    tag = channel.basic_consume(queue, deliveries.callback, consumer_tag="to-cancel")
    fill(connection, queue, ["c1", "c2"])
    deliveries.wait_for(2)
    expect(channel.basic_cancel(tag), [], "basic.cancel of a manual-ack consumer")
    fill(connection, queue, ["c3"])
    expect(deliveries.settle(), [(tag, 1, False, "c1"), (tag, 2, False, "c2")],
           "no delivery after basic.cancel")
    expect(ready_count(channel, queue), 1, "the message published after the cancel waits")
    channel.basic_ack(2, multiple=True)  # unacked messages survive the cancel and can be acked
    channel.basic_recover(requeue=True)  # would requeue c1 and c2 had the ack not taken them
    expect(settled_ready_count(channel, queue), 1, "acks after the cancel were accepted: 1 ready")
    channel.close()


def check_server_cancel(connection):
    channel = connection.channel()
    name = unique("server-cancel")
    channel.queue_declare(name)
    cancels = []
    channel.add_on_cancel_callback(lambda frame: cancels.append(frame.method))
    deliveries = Deliveries(connection)
    tag = channel.basic_consume(name, deliveries.callback, consumer_tag="cancelled-by-server")
    other = connection.channel()
    other.queue_delete(name)
    process_until(connection, lambda: cancels)
    expect([(type(method).__name__, method.consumer_tag) for method in cancels],
           [("Cancel", tag)], "deleting the queue sends the consumer a basic.cancel")
    check(channel.is_open, "the consumer's channel stays open")
    other.close()
    channel.close()


def check_redelivery(connection):
    channel = connection.channel()
    queue = new_queue(channel)
    fill(connection, queue, ["r1", "r2", "r3", "r4"])
    deliveries = Deliveries(connection)
    tag = channel.basic_consume(queue, deliveries.callback, consumer_tag="redeliver")
    deliveries.wait_for(4)
    expect(deliveries.take(), [(tag, 1, False, "r1"), (tag, 2, False, "r2"), (tag, 3, False, "r3"),
                               (tag, 4, False, "r4")], "first deliveries are not redelivered")
    channel.basic_nack(1, requeue=True)
    expect(deliveries.wait_for(1), [(tag, 5, True, "r1")], "nack with requeue: redelivered=true")
    channel.basic_reject(2, requeue=True)
    expect(deliveries.wait_for(2)[1:], [(tag, 6, True, "r2")],
           "reject with requeue: redelivered=true, next delivery tag")
    deliveries.take()
    channel.basic_reject(3, requeue=False)
    channel.basic_nack(4, requeue=False)
    expect(deliveries.settle(), [], "reject and nack without requeue drop the messages")
    channel.basic_recover(requeue=True)
    expect(sorted(deliveries.wait_for(2)), [(tag, 7, True, "r1"), (tag, 8, True, "r2")],
           "basic.recover redelivers the unacked messages with new tags")
    channel.basic_ack(8, multiple=True)
    channel.basic_cancel(tag)
    expect(settled_ready_count(channel, queue), 0, "dropped and acked messages are gone")

    # Unacked messages of a closed channel, then of a closed connection, come back redelivered.
    queue = unique("redeliver-on-close")
    channel.queue_declare(queue)
    fill(connection, queue, ["closed1", "closed2"])
    first = connection.channel()
    first.basic_get(queue)
    first.basic_get(queue)
    first.close()
    other = pika_connection()
    other_channel = other.channel()
    got = [other_channel.basic_get(queue) for _ in range(2)]
    expect([(method.delivery_tag, method.redelivered, body) for method, _, body in got],
           [(1, True, b"closed1"), (2, True, b"closed2")],
           "a closed channel's unacked messages return in order, redelivered")
    other.close()
    got = [channel.basic_get(queue, auto_ack=True) for _ in range(2)]
    expect([(method.redelivered, body) for method, _, body in got],
           [(True, b"closed1"), (True, b"closed2")],
           "a closed connection's unacked messages return, redelivered")
    channel.queue_delete(queue)
    channel.close()


def check_requeue_position(connection):
    channel = connection.channel()
    queue = new_queue(channel)
    fill(connection, queue, ["m1", "m2", "m3", "m4", "m5"])
    got = [channel.basic_get(queue)[0] for _ in range(3)]
    channel.basic_reject(got[2].delivery_tag, requeue=True)
    channel.basic_nack(got[0].delivery_tag, requeue=True)
    observed = []
    while True:
        method, _, body = channel.basic_get(queue)
        if method is None:
            break
        observed.append((body.decode(), method.delivery_tag, method.redelivered,
                         method.message_count))
    expect(observed, [("m1", 4, True, 3), ("m3", 5, True, 2), ("m4", 6, False, 1),
                      ("m5", 7, False, 0)],
           "requeued messages go back to their original positions")
    channel.close()


def check_delivery_tag_errors(connection):
    def ack(tag, multiple=False):
        return lambda ch: ch.basic_ack(tag, multiple=multiple)

    unknown = "PRECONDITION_FAILED - unknown delivery tag %d"
    expect_channel_close(connection, ack(5), 406, unknown % 5, "ack of a tag never delivered")
    expect_channel_close(connection, ack(0), 406, unknown % 0, "ack of tag 0 without multiple")
    expect_channel_close(connection, ack(3, True), 406, unknown % 3,
                         "ack multiple of a tag never delivered")
    expect_channel_close(connection, lambda ch: ch.basic_nack(7), 406, unknown % 7,
                         "nack of a tag never delivered")
    expect_channel_close(connection, lambda ch: ch.basic_reject(8), 406, unknown % 8,
                         "reject of a tag never delivered")
    queue = new_queue(connection.channel())

    def ack_twice(ch):
        fill(connection, queue, ["twice"])
        method, _, _ = ch.basic_get(queue)
        ch.basic_ack(method.delivery_tag)
        ch.basic_ack(method.delivery_tag)

    expect_channel_close(connection, ack_twice, 406, unknown % 1, "acking a tag twice")

    def ack_multiple_past(ch):
        fill(connection, queue, ["one"])
        ch.basic_get(queue)
        ch.basic_ack(2, multiple=True)

    expect_channel_close(connection, ack_multiple_past, 406, unknown % 2,
                         "ack multiple beyond the last delivered tag")
    expect(wait_for_ready(connection, queue, 1), 1,
           "the message of the failed channel was requeued")
    channel = connection.channel()
    channel.basic_ack(0, multiple=True)
    check(channel.is_open, "ack multiple of tag 0 with nothing outstanding succeeds")
    channel.close()


def check_multiple(connection):
    channel = connection.channel()
    queue = new_queue(channel)
    fill(connection, queue, ["a1", "a2", "a3", "a4", "a5"])
    for _ in range(5):
        channel.basic_get(queue)
    channel.basic_ack(3, multiple=True)
    channel.basic_nack(5, multiple=True, requeue=True)
    got = []
    for _ in range(3):
        method, _, body = channel.basic_get(queue, auto_ack=True)
        got.append((method.redelivered, body.decode()) if method else None)
    expect(got, [(True, "a4"), (True, "a5"), None],
           "ack multiple 3 then nack multiple 5: a4 and a5 requeued, a1..a3 gone")
    fill(connection, queue, ["b1", "b2", "b3"])
    for _ in range(3):
        channel.basic_get(queue)
    channel.basic_ack(0, multiple=True)  # tag 0 with multiple: everything outstanding
    channel.basic_recover(requeue=True)  # would requeue what the ack missed
    expect(settled_ready_count(channel, queue), 0, "ack multiple of tag 0 acked all outstanding")
    fill(connection, queue, ["c1", "c2", "c3"])
    for _ in range(3):
        channel.basic_get(queue)
    channel.basic_nack(0, multiple=True, requeue=True)
    expect(wait_for_ready(connection, queue, 3), 3,
           "nack multiple of tag 0 requeued all outstanding")
    channel.close()


def check_prefetch_per_consumer(connection):
    channel = connection.channel()
    queue = new_queue(channel)
    fill(connection, queue, ["p%d" % index for index in range(6)])
    channel.basic_qos(prefetch_count=2)
    deliveries = Deliveries(connection)
    channel.basic_consume(queue, deliveries.callback, consumer_tag="window")
    expect(deliveries.settle(), [("window", 1, False, "p0"), ("window", 2, False, "p1")],
           "prefetch_count 2: deliveries stop at two unacked")
    channel.basic_ack(1)
    expect(deliveries.settle()[2:], [("window", 3, False, "p2")], "one ack lets one more through")
    channel.basic_ack(3, multiple=True)
    expect(deliveries.settle()[3:], [("window", 4, False, "p3"), ("window", 5, False, "p4")],
           "acking the window lets two more through")
    channel.basic_qos(prefetch_count=1)
    # RabbitMQ applies a per-consumer qos change to consumers created after it only (Warren
    # lets a raise reach them too: qos_window_test.py).
    expect(len(deliveries.settle()), 5, "a later, lower qos does not change an existing consumer")
    channel.close()


def check_prefetch_per_channel(connection):
    channel = connection.channel()
    first, second = new_queue(channel), new_queue(channel)
    fill(connection, first, ["f%d" % index for index in range(5)])
    fill(connection, second, ["s%d" % index for index in range(5)])
    channel.basic_qos(prefetch_count=3, global_qos=True)
    deliveries = Deliveries(connection)
    channel.basic_consume(first, deliveries.callback, consumer_tag="first")
    channel.basic_consume(second, deliveries.callback, consumer_tag="second")
    got = deliveries.settle()
    expect(len(got), 3, "global prefetch 3 shared by two consumers: 3 deliveries in all")
    channel.basic_ack(deliveries.list[0][1])
    expect(len(deliveries.settle()), 4, "one ack on the channel lets one more through")
    channel.close()


def check_prefetch_both(connection):
    channel = connection.channel()
    queues = [new_queue(channel) for _ in range(3)]
    for queue in queues:
        fill(connection, queue, ["%s-%d" % (queue[-4:], index) for index in range(4)])
    channel.basic_qos(prefetch_count=2, global_qos=False)
    channel.basic_qos(prefetch_count=5, global_qos=True)
    deliveries = Deliveries(connection)
    tags = [channel.basic_consume(queue, deliveries.callback, consumer_tag="both%d" % index)
            for index, queue in enumerate(queues)]

    def per_consumer():
        return [len(deliveries.bodies(tag)) for tag in tags]

    for round_name in ("first window", "after acking all five"):
        deliveries.settle()
        counts = per_consumer()
        expect(sum(counts), 5, "%s: the per-channel limit 5 caps the total (per consumer: %s)"
               % (round_name, counts))
        check(max(counts) <= 2, "%s: the per-consumer limit 2 caps each consumer: %s"
              % (round_name, counts))
        channel.basic_ack(0, multiple=True)
        deliveries.take()
    deliveries.settle()
    expect(sum(per_consumer()), 2, "the last two messages follow the second ack")
    channel.close()


def check_unsupported():
    expect_connection_close(lambda connection, ch: ch.basic_qos(prefetch_size=10), 540,
                            "NOT_IMPLEMENTED - prefetch_size!=0 (10)",
                            "basic.qos with prefetch_size 10")
    expect_connection_close(lambda connection, ch: ch.basic_recover(requeue=False), 540,
                            "NOT_IMPLEMENTED - requeue=false", "basic.recover with requeue=false")


def main():
    connection = pika_connection()
    check_server_tags(connection)
    check_exclusive_consumer(connection)
    check_no_local_ignored(connection)
    check_no_ack(connection)
    check_round_robin(connection)
    check_cancel(connection)
    check_server_cancel(connection)
    check_redelivery(connection)
    check_requeue_position(connection)
    check_delivery_tag_errors(connection)
    check_multiple(connection)
    check_prefetch_per_consumer(connection)
    check_prefetch_per_channel(connection)
    check_prefetch_both(connection)
    connection.close()
    check_duplicate_tag()
    check_unsupported()
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
