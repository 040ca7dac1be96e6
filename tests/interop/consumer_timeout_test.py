#!/usr/bin/python3
"""Interop test: the consumer acknowledgement timeout through pika and py-amqp. A delivery
left unacknowledged too long (to a consumer or by basic.get) closes its channel with 406 and
RabbitMQ's text, and goes back to its queue; the broker-wide timeout (--consumer-timeout,
RabbitMQ's consumer_timeout) and the queue argument x-consumer-timeout (RabbitMQ 3.12+).

Against Warren the test restarts the broker with a short --consumer-timeout. Against RabbitMQ
(AMQP_PORT set) it needs a node started with `consumer_timeout = N` and AMQP_CONSUMER_TIMEOUT_MS=N;
RabbitMQ 3.10 checks once a minute, so that run takes a minute or two, and its checks of
x-consumer-timeout are left out (3.10 ignores the argument)."""

import os
import sys
import threading
import time

import amqp
import pika
import pika.exceptions

from checks import (HOST, PORT, SKIP, can_control_broker, check, exit_status, expect,
                    fresh_name, pika_connection, process_until, restart_broker)

BROKER_TIMEOUT_MS = 1500  # what Warren is restarted with
QUEUE_TIMEOUT_MS = 1000   # x-consumer-timeout on a queue of a broker with the 30 min default
# How late a close may come: Warren's deadline is exact, RabbitMQ 3.10 checks every minute.
LATE_SECONDS = 1.5 if can_control_broker() else 62.0


def timeout_text(channel_number, timeout_ms):
    return ("PRECONDITION_FAILED - delivery acknowledgement on channel %d timed out. Timeout "
            "value used: %d ms. This timeout value can be configured, see consumers doc guide "
            "to learn more" % (channel_number, timeout_ms))


class Watched:
    """A pika channel and how (and when) the broker closed it."""

    def __init__(self, connection, what):
        self.what = what
        self.channel = connection.channel()
        self.closed = None
        self.closed_at = None
        self.delivered_at = None  # set once its message is out
        # BlockingChannel has no close callback; its impl does (as pika_confirm_tx_test uses).
        self.channel._impl.add_on_close_callback(self.on_close)

    def on_close(self, _channel, reason):
        if isinstance(reason, pika.exceptions.ChannelClosedByBroker):
            self.closed = (reason.reply_code, reason.reply_text)
        else:
            self.closed = ("closed", repr(reason))
        self.closed_at = time.monotonic()


def queue_with_one_message(connection, arguments=None):
    setup = connection.channel()
    queue = setup.queue_declare(fresh_name("consumer-timeout"), arguments=arguments).method.queue
    setup.confirm_delivery()
    setup.basic_publish("", queue, b"held")
    setup.close()
    return queue


def check_requeued(connection, queue, what):
    channel = connection.channel()
    method, _, body = channel.basic_get(queue, auto_ack=True)
    expect((method is not None and method.redelivered, body), (True, b"held"),
           "%s: the message went back to its queue, marked redelivered" % what)
    channel.queue_delete(queue)
    channel.close()


def watch_until(connection, watched, seconds):
    process_until(connection, lambda: all(w.closed for w in watched), seconds)


def check_closed(watched, timeout_ms):
    expect(watched.closed, (406, timeout_text(watched.channel.channel_number, timeout_ms)),
           "%s: the channel is closed with 406 and RabbitMQ's text" % watched.what)
    if watched.closed_at is not None:
        after = watched.closed_at - watched.delivered_at
        check(timeout_ms / 1000.0 - 0.05 <= after <= timeout_ms / 1000.0 + LATE_SECONDS,
              "%s: closed %.2f s after the delivery (timeout %d ms)" % (watched.what, after,
                                                                    timeout_ms))


def check_broker_wide(timeout_ms):
    """A consumer and a basic.get that never ack are closed; a no-ack consumer and one that
    acks in time are not."""
    connection = pika_connection()
    queues = [queue_with_one_message(connection) for _ in range(3)]
    prompt_queue = queue_with_one_message(connection)
    consumer = Watched(connection, "a manual-ack consumer that never acks")
    consumer.channel.basic_consume(queues[0], lambda *args: None)
    consumer.delivered_at = time.monotonic()
    getter = Watched(connection, "a basic.get with ack, never acked")
    getter.channel.basic_get(queues[1])
    getter.delivered_at = time.monotonic()
    no_ack = Watched(connection, "a no-ack consumer")
    no_ack.channel.basic_consume(queues[2], lambda *args: None, auto_ack=True)
    prompt = Watched(connection, "a consumer that acks each delivery at once")
    prompt.channel.basic_consume(
        prompt_queue, lambda ch, method, _props, _body: ch.basic_ack(method.delivery_tag))
    started = time.monotonic()
    pyamqp = threading.Thread(target=check_pyamqp, args=(timeout_ms,))
    pyamqp.start()
    publisher = connection.channel()
    # Deliveries keep coming to the prompt consumer for longer than the timeout.
    deadline = started + timeout_ms / 1000.0 + LATE_SECONDS
    while not (consumer.closed and getter.closed) and time.monotonic() < deadline:
        publisher.basic_publish("", prompt_queue, b"again")
        watch_until(connection, [consumer, getter], min(timeout_ms / 3000.0, 5.0))
    pyamqp.join()
    check_closed(consumer, timeout_ms)
    check_closed(getter, timeout_ms)
    expect(no_ack.closed, None, "a no-ack consumer's channel stays open")
    expect(prompt.closed, None, "a consumer that acks in time keeps its channel")
    check_requeued(connection, queues[0], "the consumer's delivery")
    check_requeued(connection, queues[1], "the basic.get's message")
    cleanup = connection.channel()
    for queue in (queues[2], prompt_queue):
        cleanup.queue_delete(queue)
    connection.close()


def check_pyamqp(timeout_ms):
    """The same close as py-amqp reports it: PreconditionFailed with the text."""
    connection = amqp.Connection("%s:%d" % (HOST, PORT), userid="guest", password="guest")
    connection.connect()
    try:
        channel = connection.channel()
        queue, _, _ = channel.queue_declare(fresh_name("consumer-timeout-pyamqp"))
        channel.basic_publish(amqp.Message(b"held"), "", queue)
        channel.basic_consume(queue, callback=lambda message: None)
        error = None
        deadline = time.monotonic() + timeout_ms / 1000.0 + LATE_SECONDS
        while error is None and time.monotonic() < deadline:
            try:
                connection.drain_events(timeout=0.2)
            except TimeoutError:
                pass
            except amqp.exceptions.PreconditionFailed as failed:
                error = failed
        expect((error.reply_code, error.reply_text) if error else None,
               (406, timeout_text(channel.channel_id, timeout_ms)),
               "py-amqp: the consumer's channel is closed with 406 and RabbitMQ's text")
        other = connection.channel()
        other.queue_delete(queue)
    finally:
        connection.close()


def check_queue_argument():
    """x-consumer-timeout overrides the broker-wide 30 minutes for its queue only."""
    connection = pika_connection()
    short = queue_with_one_message(connection, {"x-consumer-timeout": QUEUE_TIMEOUT_MS})
    plain = queue_with_one_message(connection)
    with_arg = Watched(connection, "a consumer of a queue with x-consumer-timeout %d"
                       % QUEUE_TIMEOUT_MS)
    with_arg.channel.basic_consume(short, lambda *args: None)
    with_arg.delivered_at = time.monotonic()
    without = Watched(connection, "a consumer of a queue without it")
    without.channel.basic_consume(plain, lambda *args: None)
    watch_until(connection, [with_arg], QUEUE_TIMEOUT_MS / 1000.0 + LATE_SECONDS)
    process_until(connection, lambda: False, 0.3)
    check_closed(with_arg, QUEUE_TIMEOUT_MS)
    expect(without.closed, None, "the queue without x-consumer-timeout keeps the 30 minutes")
    check_requeued(connection, short, "x-consumer-timeout's delivery")
    without.channel.close()
    cleanup = connection.channel()
    cleanup.queue_delete(plain)
    connection.close()


def check_queue_argument_longer(timeout_ms):
    """A queue's longer x-consumer-timeout wins over a shorter broker-wide one."""
    connection = pika_connection()
    longer = queue_with_one_message(connection, {"x-consumer-timeout": 60000})
    consumer = Watched(connection, "a consumer of a queue with x-consumer-timeout 60000")
    consumer.channel.basic_consume(longer, lambda *args: None)
    process_until(connection, lambda: consumer.closed, timeout_ms / 1000.0 + 1.0)
    expect(consumer.closed, None,
           "x-consumer-timeout 60000 outlasts the broker's %d ms" % timeout_ms)
    consumer.channel.queue_delete(longer)
    connection.close()


def main():
    if can_control_broker():
        check_queue_argument()
        restart_broker(["--consumer-timeout", str(BROKER_TIMEOUT_MS)])
        check_broker_wide(BROKER_TIMEOUT_MS)
        check_queue_argument_longer(BROKER_TIMEOUT_MS)
        return exit_status()
    configured = os.environ.get("AMQP_CONSUMER_TIMEOUT_MS")
    if not configured:
        print("SKIP: against an external broker, set AMQP_CONSUMER_TIMEOUT_MS to its "
              "consumer_timeout")
        return SKIP
    print("x-consumer-timeout is not checked here: RabbitMQ 3.10 ignores it (3.12+)")
    check_broker_wide(int(configured))
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
