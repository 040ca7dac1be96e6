#!/usr/bin/python3
"""Every permission-checked AMQP verb through two real clients, pika and py-amqp: what a user
with configure/write/read patterns may do, and the 403/530 texts it gets where it may not.
The user, vhost and permissions are made over the management API just before, so this also
shows that what HTTP creates works over AMQP at once. Green against RabbitMQ 3.10.8 first."""

import sys

import amqp
import pika

from checks import HOST, PORT, SUFFIX, check, exit_status, expect
from mgmt import http, path_of

VHOST = "perm-clients-" + SUFFIX
USER = "perm-clients-user-" + SUFFIX
PASSWORD = "secret-" + SUFFIX
# configure cfg-*, write wr-*, read rd-*; all-* gets everything
PERMISSIONS = {"configure": "^(cfg|all)-", "write": "^(wr|all)-", "read": "^(rd|all)-"}
EXCHANGES = ["all-x", "wr-x", "rd-x", "cfg-x"]
QUEUES = ["all-q", "wr-q", "rd-q", "cfg-q", "cfg-q2"]


def put(path, body=None):
    return http("PUT", path, {} if body is None else body)


def delete(path):
    return http("DELETE", path)


def refused(kind, name):
    return (403, "ACCESS_REFUSED - access to %s '%s' in vhost '%s' refused for user '%s'"
            % (kind, name, VHOST, USER))


# (what, verb, arguments, expected outcome: "ok" or (code, text))
CASES = [
    ("exchange.declare with configure", "exchange_declare", ("cfg-new",), "ok"),
    ("exchange.declare without configure", "exchange_declare", ("wr-new",),
     refused("exchange", "wr-new")),
    ("passive exchange.declare needs nothing", "exchange_declare_passive", ("rd-x",), "ok"),
    ("queue.declare with configure", "queue_declare", ("cfg-newq",), "ok"),
    ("queue.declare without configure", "queue_declare", ("rd-newq",), refused("queue", "rd-newq")),
    ("passive queue.declare needs nothing", "queue_declare_passive", ("wr-q",), "ok"),
    ("queue.bind: write on the queue, read on the exchange", "queue_bind", ("wr-q", "rd-x"), "ok"),
    ("queue.bind without write on the queue", "queue_bind", ("rd-q", "rd-x"), refused("queue", "rd-q")),
    ("queue.bind without read on the exchange", "queue_bind", ("wr-q", "wr-x"),
     refused("exchange", "wr-x")),
    ("queue.unbind: write on the queue, read on the exchange", "queue_unbind", ("wr-q", "rd-x"), "ok"),
    ("queue.unbind without write on the queue", "queue_unbind", ("rd-q", "rd-x"),
     refused("queue", "rd-q")),
    ("queue.unbind without read on the exchange", "queue_unbind", ("wr-q", "wr-x"),
     refused("exchange", "wr-x")),
    ("basic.publish with write", "publish", ("wr-x",), "ok"),
    ("basic.publish without write", "publish", ("rd-x",), refused("exchange", "rd-x")),
    ("basic.publish to the default exchange is checked as amq.default", "publish", ("",),
     refused("exchange", "amq.default")),
    ("basic.consume with read", "consume", ("rd-q",), "ok"),
    ("basic.consume without read", "consume", ("wr-q",), refused("queue", "wr-q")),
    ("basic.get with read", "get", ("rd-q",), "ok"),
    ("basic.get without read", "get", ("wr-q",), refused("queue", "wr-q")),
    ("queue.purge with read", "queue_purge", ("rd-q",), "ok"),
    ("queue.purge without read", "queue_purge", ("wr-q",), refused("queue", "wr-q")),
    ("exchange.delete without configure", "exchange_delete", ("rd-x",), refused("exchange", "rd-x")),
    ("queue.delete without configure", "queue_delete", ("rd-q",), refused("queue", "rd-q")),
]
# the two that remove something run once per client, on an object of their own
DELETE_CASES = [
    ("exchange.delete with configure", "exchange_delete", "cfg-x-%s", "ok"),
    ("queue.delete with configure", "queue_delete", "cfg-q-%s", "ok"),
]


class PikaClient:
    name = "pika"

    def __init__(self, vhost=VHOST):
        params = pika.ConnectionParameters(HOST, PORT, vhost, pika.PlainCredentials(USER, PASSWORD),
                                           heartbeat=0)
        self.connection = pika.BlockingConnection(params)

    def run(self, verb, args):
        """"ok", or the (code, text) of the channel.close the verb got."""
        ch = self.connection.channel()
        try:
            if verb == "exchange_declare":
                ch.exchange_declare(args[0], "direct")
            elif verb == "exchange_declare_passive":
                ch.exchange_declare(args[0], "direct", passive=True)
            elif verb == "queue_declare":
                ch.queue_declare(args[0])
            elif verb == "queue_declare_passive":
                ch.queue_declare(args[0], passive=True)
            elif verb == "queue_bind":
                ch.queue_bind(args[0], args[1], "k")
            elif verb == "queue_unbind":
                ch.queue_unbind(args[0], args[1], "k")
            elif verb == "publish":
                ch.basic_publish(args[0], "rd-q", b"m")
                ch.queue_declare("rd-q", passive=True)  # a round trip: a refusal arrives first
            elif verb == "consume":
                ch.basic_consume(args[0], lambda *a: None, auto_ack=True)
            elif verb == "get":
                ch.basic_get(args[0], auto_ack=True)
            elif verb == "queue_purge":
                ch.queue_purge(args[0])
            elif verb == "exchange_delete":
                ch.exchange_delete(args[0])
            elif verb == "queue_delete":
                ch.queue_delete(args[0])
        except pika.exceptions.ChannelClosedByBroker as error:
            return (error.reply_code, error.reply_text)
        ch.close()
        return "ok"

    def close(self):
        self.connection.close()


class PyAmqpClient:
    name = "py-amqp"

    def __init__(self, vhost=VHOST):
        self.connection = amqp.Connection("%s:%d" % (HOST, PORT), userid=USER, password=PASSWORD,
                                          virtual_host=vhost, heartbeat=0)
        self.connection.connect()

    def run(self, verb, args):
        ch = self.connection.channel()
        try:
            if verb == "exchange_declare":
                ch.exchange_declare(args[0], "direct", auto_delete=False)
            elif verb == "exchange_declare_passive":
                ch.exchange_declare(args[0], "direct", passive=True, auto_delete=False)
            elif verb == "queue_declare":
                ch.queue_declare(args[0], auto_delete=False)
            elif verb == "queue_declare_passive":
                ch.queue_declare(args[0], passive=True)
            elif verb == "queue_bind":
                ch.queue_bind(args[0], args[1], "k")
            elif verb == "queue_unbind":
                ch.queue_unbind(args[0], args[1], "k")
            elif verb == "publish":
                ch.basic_publish(amqp.Message(b"m"), args[0], "rd-q")
                ch.queue_declare("rd-q", passive=True)
            elif verb == "consume":
                ch.basic_consume(args[0], callback=lambda m: None, no_ack=True)
            elif verb == "get":
                ch.basic_get(args[0], no_ack=True)
            elif verb == "queue_purge":
                ch.queue_purge(args[0])
            elif verb == "exchange_delete":
                ch.exchange_delete(args[0])
            elif verb == "queue_delete":
                ch.queue_delete(args[0])
        except amqp.exceptions.AMQPError as error:
            return (error.reply_code, error.reply_text)
        ch.close()
        return "ok"

    def close(self):
        self.connection.close()


def set_up():
    expect(put(path_of("vhosts", VHOST)).status, 201, "PUT vhost")
    expect(put(path_of("users", USER), {"password": PASSWORD, "tags": ""}).status, 201, "PUT user")
    expect(put(path_of("permissions", VHOST, USER), PERMISSIONS).status, 201, "PUT permissions")
    for name in EXCHANGES + ["cfg-x-pika", "cfg-x-py-amqp"]:
        put(path_of("exchanges", VHOST, name), {"type": "direct", "durable": False})
    for name in QUEUES + ["cfg-q-pika", "cfg-q-py-amqp"]:
        put(path_of("queues", VHOST, name), {"durable": False})
    # so that unbind has something to remove
    for queue, exchange in (("wr-q", "rd-x"), ("rd-q", "rd-x"), ("wr-q", "wr-x")):
        http("POST", path_of("bindings", VHOST, "e", exchange, "q", queue), {"routing_key": "k"})


def refused_vhost(client_class):
    """connection.open to a vhost the user has no permissions in."""
    try:
        client_class(vhost="/").close()
        return "ok"
    except pika.exceptions.ConnectionClosedByBroker as error:
        return (error.reply_code, error.reply_text)
    except pika.exceptions.ProbableAccessDeniedError as error:
        return ("pika ProbableAccessDeniedError", str(error))
    except amqp.exceptions.AMQPError as error:
        return (error.reply_code, error.reply_text)


def main():
    try:
        set_up()
        for client_class in (PikaClient, PyAmqpClient):
            client = client_class()
            for what, verb, args, wanted in CASES:
                expect(client.run(verb, args), wanted, "%s: %s %s" % (client.name, what, args))
            for what, verb, pattern, wanted in DELETE_CASES:
                name = pattern % client.name
                expect(client.run(verb, (name,)), wanted, "%s: %s" % (client.name, what))
            client.close()
            got = refused_vhost(client_class)
            # pika reports a close during connection.open as a probable access denial
            wanted = (530, "NOT_ALLOWED - access to vhost '/' refused for user '%s'" % USER)
            if client_class is PikaClient:
                text = "%s %s" % got if got != "ok" else ""
                check("530" in text and wanted[1] in text,
                      "pika: connection.open to a vhost without permissions: %r" % (got,))
            else:
                expect(got, wanted, "py-amqp: connection.open to a vhost without permissions")
    finally:
        delete(path_of("vhosts", VHOST))
        delete(path_of("users", USER))
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
