#!/usr/bin/python3
"""Interop test: amqp-tools (rabbitmq-c CLIs) declare, publish, get, consume and delete queues."""

import re
import shutil
import subprocess
import sys
import tempfile
import time

import pika

from checks import (HOST, PORT, SKIP, WAIT_SECONDS, check, exit_status, fresh_name,
                    pika_connection, wait_for_value)

SERVER = ("--server", HOST, "--port", str(PORT))
TIMEOUT_SECONDS = 10
TOOLS = ("amqp-declare-queue", "amqp-publish", "amqp-get", "amqp-consume", "amqp-delete-queue")
# amqp-get exits with 2 when basic.get answers get-empty.
GET_EMPTY_STATUS = 2
SERVER_NAMED_NOTE = re.compile(r"Server provided queue name: amq\.gen-[A-Za-z0-9_-]{22}\n")


def tool(name, *options, stdin_text=None):
    """(exit status, stdout, stderr) of one amqp-tools command against the broker."""
    try:
        result = subprocess.run([name, *SERVER, *options], input=stdin_text,
                                stdin=None if stdin_text is not None else subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return None, "", "timed out after %d s" % TIMEOUT_SECONDS
    return result.returncode, result.stdout, result.stderr


def check_result(what, got, status, stdout, stderr=""):
    check(got == (status, stdout, stderr),
          "%s: status %r, stdout %r, stderr %r (got %r)" % (what, status, stdout, stderr, got))


def channel_error(method, code, text):
    return "%s: server channel error %d, message: %s\n" % (method, code, text)


def check_declare(queue):
    check_result("declare %s prints its name" % queue,
                 tool("amqp-declare-queue", "--queue", queue), 0, queue + "\n")
    status, stdout, stderr = tool("amqp-declare-queue", "--queue", "")
    name = stdout.strip()
    check(status == 0 and stderr == "" and name.startswith("amq.gen-") and len(name) == 30,
          "declare '' prints a server name amq.gen-<22 chars> (got %r, %r, %r)"
          % (status, stdout, stderr))
    if name:
        check_result("delete the server-named queue prints its count 0",
                     tool("amqp-delete-queue", "--queue", name), 0, "0\n")


def check_declare_errors(queue):
    check_result("redeclare %s durable is refused with 406" % queue,
                 tool("amqp-declare-queue", "--queue", queue, "--durable"), 1, "",
                 channel_error("queue.declare", 406,
                               "PRECONDITION_FAILED - inequivalent arg 'durable' for queue "
                               "'%s' in vhost '/': received 'true' but current is 'false'"
                               % queue))
    reserved = "amq." + fresh_name("amqptools-reserved")
    check_result("declare %s is refused with 403" % reserved,
                 tool("amqp-declare-queue", "--queue", reserved), 1, "",
                 channel_error("queue.declare", 403,
                               "ACCESS_REFUSED - queue name '%s' contains reserved prefix "
                               "'amq.*'" % reserved))


def check_properties_round_trip(queue):
    """amqp-tools print only bodies, so pika reads back what amqp-publish encoded."""
    check_result("publish with every property amqp-publish can set",
                 tool("amqp-publish", "--routing-key", queue, "--body", "hello, properties",
                      "--content-type", "text/plain", "--content-encoding", "gzip",
                      "--reply-to", "reply.queue", "--persistent",
                      "--header", "x-first: 1", "--header", "second:two words",
                      "--header", "third:  spaced : colon"), 0, "")
    check_result("publish without properties", tool("amqp-publish", "--routing-key", queue,
                                                     "--body", "plain"), 0, "")
    connection = pika_connection()
    channel = connection.channel()
    method, properties, body = channel.basic_get(queue, auto_ack=True)
    check(method is not None and (method.delivery_tag, method.redelivered, method.exchange,
                                  method.routing_key, method.message_count)
          == (1, False, "", queue, 1),
          "get-ok: tag 1, not redelivered, exchange '', key %s, 1 more (got %r)"
          % (queue, method))
    check(body == b"hello, properties", "body round-trips (got %r)" % body)
    expected = {"content_type": "text/plain", "content_encoding": "gzip",
                "reply_to": "reply.queue", "delivery_mode": 2,
                "headers": {"x-first": "1", "second": "two words", "third": "spaced : colon"}}
    check(set_properties(properties) == expected,
          "properties exactly %r (got %r)" % (expected, set_properties(properties)))
    method, properties, body = channel.basic_get(queue, auto_ack=True)
    check(method is not None and method.message_count == 0 and body == b"plain"
          and set_properties(properties) == {"delivery_mode": 1},
          "plain publish: body 'plain', only delivery_mode 1 set (got %r %r %r)"
          % (method, set_properties(properties) if properties else None, body))
    connection.close()


def set_properties(properties):
    return {name: value for name, value in vars(properties).items() if value is not None}


def check_get(queue):
    check_result("publish one for amqp-get",
                 tool("amqp-publish", "--routing-key", queue, "--body", "got it"), 0, "")
    check_result("amqp-get prints the body", tool("amqp-get", "--queue", queue), 0, "got it")
    check_result("amqp-get on an empty queue exits 2 silently",
                 tool("amqp-get", "--queue", queue), GET_EMPTY_STATUS, "")
    missing = fresh_name("amqptools-missing")
    check_result("amqp-get on a missing queue: 404",
                 tool("amqp-get", "--queue", missing), 1, "",
                 channel_error("basic.get", 404,
                               "NOT_FOUND - no queue '%s' in vhost '/'" % missing))


CONSUME_COMMAND = ("--", "sh", "-c", 'cat >> "$0"; printf "|" >> "$0"')


def consume(queue, count, *options):
    """Runs amqp-consume for count messages; each body is appended to a file, then a "|"."""
    with tempfile.NamedTemporaryFile("r") as output:
        status, stdout, stderr = tool("amqp-consume", "--queue", queue, "--count", str(count),
                                      *options, *CONSUME_COMMAND, output.name)
        return status, stdout, stderr, output.read()


def check_consume_count(queue):
    check_result("publish 4 lines as 4 messages (each keeps its newline)",
                 tool("amqp-publish", "--routing-key", queue, "--line-buffered",
                      stdin_text="one\ntwo\nthree\nfour\n"), 0, "")
    got = consume(queue, 3, "--prefetch-count", "1")
    check(got == (0, "", "", "one\n|two\n|three\n|"),
          "amqp-consume --count 3 --prefetch-count 1 runs the command for one, two, three "
          "(got %r)" % (got,))
    check_result("amqp-get takes the 4th", tool("amqp-get", "--queue", queue), 0, "four\n")
    check_result("publish 4 lines again",
                 tool("amqp-publish", "--routing-key", queue, "--line-buffered",
                      stdin_text="a\nb\nc\nd\n"), 0, "")
    # Without a prefetch limit the 4th is delivered but never acked: it goes back on close.
    got = consume(queue, 3)
    check(got == (0, "", "", "a\n|b\n|c\n|"),
          "amqp-consume --count 3 (no prefetch) runs the command for a, b, c (got %r)" % (got,))
    check_result("the unacked 4th is back for amqp-get", tool("amqp-get", "--queue", queue),
                 0, "d\n")
    check_result("publish 2 more",
                 tool("amqp-publish", "--routing-key", queue, "--line-buffered",
                      stdin_text="x\ny\n"), 0, "")
    check_result("delete --if-empty on 2 messages: 406",
                 tool("amqp-delete-queue", "--queue", queue, "--if-empty"), 1, "",
                 channel_error("queue.delete", 406,
                               "PRECONDITION_FAILED - queue '%s' in vhost '/' not empty" % queue))


def passive_declare(queue):
    """(message count, consumer count) of queue, or the reply (code, text) that refused it."""
    connection = pika_connection()
    try:
        channel = connection.channel()
        try:
            ok = channel.queue_declare(queue, passive=True).method
            return ok.message_count, ok.consumer_count
        except pika.exceptions.ChannelClosedByBroker as closed:
            return closed.reply_code, closed.reply_text
    finally:
        connection.close()


def wait_for_consumer(queue):
    return wait_for_value(lambda: passive_declare(queue), (0, 1)) == (0, 1)


def start_consumer(output, *options):
    return subprocess.Popen(["amqp-consume", *SERVER, *options, *CONSUME_COMMAND, output.name],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish_consumer(consumer, output):
    try:
        stdout, stderr = consumer.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return "timed out after %d s" % TIMEOUT_SECONDS
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait()
    return consumer.returncode, stdout, stderr, output.read()


def check_consume_bound(queue):
    """amqp-consume --exchange declares the queue auto-delete and binds it to amq.direct."""
    key = fresh_name("amqptools-key")
    with tempfile.NamedTemporaryFile("r") as output:
        consumer = start_consumer(output, "--queue", queue, "--exchange", "amq.direct",
                                  "--routing-key", key, "--count", "2")
        try:
            check(wait_for_consumer(queue),
                  "amqp-consume --exchange declared %s with 0 messages and 1 consumer" % queue)
            check_result("delete --if-unused while consumed: 406",
                         tool("amqp-delete-queue", "--queue", queue, "--if-unused"), 1, "",
                         channel_error("queue.delete", 406,
                                       "PRECONDITION_FAILED - queue '%s' in vhost '/' in use"
                                       % queue))
            check_result("publish 2 to amq.direct",
                         tool("amqp-publish", "--exchange", "amq.direct", "--routing-key", key,
                              "--line-buffered", stdin_text="via\nexchange\n"), 0, "")
        finally:
            got = finish_consumer(consumer, output)
        check(got == (0, "", "", "via\n|exchange\n|"),
              "the bound consumer got 'via', 'exchange' and exited 0 (got %r)" % (got,))
    expected = (404, "NOT_FOUND - no queue '%s' in vhost '/'" % queue)
    got = wait_for_value(lambda: passive_declare(queue), expected)
    check(got == expected, "the auto-delete queue went with its consumer: passive declare %r "
          "(got %r)" % (expected, got))


def check_consume_exclusive_no_ack():
    """A server-named exclusive queue: publish until the consumer has bound it, then one
    message ends it."""
    key = fresh_name("amqptools-key")
    with tempfile.NamedTemporaryFile("r") as output:
        consumer = start_consumer(output, "--exclusive", "--no-ack", "--exchange", "amq.direct",
                                  "--routing-key", key, "--count", "1")
        try:
            deadline = time.monotonic() + WAIT_SECONDS
            while consumer.poll() is None and time.monotonic() < deadline:
                tool("amqp-publish", "--exchange", "amq.direct", "--routing-key", key,
                     "--body", "ping")
                time.sleep(0.1)
        finally:
            got = finish_consumer(consumer, output)
        ok = (isinstance(got, tuple) and got[:2] == (0, "") and got[3] == "ping|"
              and SERVER_NAMED_NOTE.fullmatch(got[2]))
        check(ok, "amqp-consume --exclusive --no-ack on a server-named queue got 'ping' and "
              "named the queue on stderr (got %r)" % (got,))


def check_publish_errors():
    missing = fresh_name("amqptools-exchange")
    check_result("publish to a missing exchange: 404 on channel close",
                 tool("amqp-publish", "--exchange", missing, "--routing-key", "x",
                      "--body", "lost"), 1, "",
                 channel_error("closing channel", 404,
                               "NOT_FOUND - no exchange '%s' in vhost '/'" % missing))
    missing_queue = fresh_name("amqptools-missing")
    check_result("consume from a missing queue: 404",
                 tool("amqp-consume", "--queue", missing_queue, "--", "cat"), 1, "",
                 channel_error("basic.consume", 404,
                               "NOT_FOUND - no queue '%s' in vhost '/'" % missing_queue))


def main():
    missing = [name for name in TOOLS if shutil.which(name) is None]
    if missing:
        print("SKIP: %s not found (install the amqp-tools package)" % ", ".join(missing))
        return SKIP
    queue = fresh_name("amqptools-queue")
    bound_queue = fresh_name("amqptools-bound")
    try:
        check_declare(queue)
        check_declare_errors(queue)
        check_properties_round_trip(queue)
        check_get(queue)
        check_consume_count(queue)
        check_result("delete returns the count 2", tool("amqp-delete-queue", "--queue", queue),
                     0, "2\n")
        check_result("deleting it again succeeds with 0",
                     tool("amqp-delete-queue", "--queue", queue), 0, "0\n")
        check_consume_bound(bound_queue)
        check_consume_exclusive_no_ack()
        check_publish_errors()
    finally:
        for name in (queue, bound_queue):
            tool("amqp-delete-queue", "--queue", name)
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
