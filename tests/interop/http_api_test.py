#!/usr/bin/python3
"""The management HTTP API through urllib, beside pika: status codes, error bodies, field names,
and that what HTTP declares, publishes, gets and closes is what AMQP clients see. Green against
RabbitMQ 3.10 (MANAGEMENT_PORT = AMQP_PORT + 10000) and Warren."""

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pika

HOST = os.environ.get("AMQP_HOST", "127.0.0.1")
PORT = int(os.environ.get("AMQP_PORT", "5672"))
API = "http://%s:%s/api" % (HOST, os.environ.get("MANAGEMENT_PORT", str(PORT + 10000)))
failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures += 1


def call(method, path, body=None, auth=("guest", "guest"), headers=None, raw=None):
    """(status, headers, parsed JSON or None) of one request."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(API + path, data=data, method=method)
    if auth:
        token = base64.b64encode(("%s:%s" % auth).encode()).decode()
        req.add_header("Authorization", "Basic " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            status, hdrs, text = res.status, res.headers, res.read()
    except urllib.error.HTTPError as err:
        status, hdrs, text = err.code, err.headers, err.read()
    return status, hdrs, (json.loads(text) if text else None)


def q(name):
    return urllib.parse.quote(name, safe="")


def test_auth_and_errors():
    status, hdrs, body = call("GET", "/overview", auth=None)
    check(status == 401 and hdrs.get("WWW-Authenticate") == 'Basic realm="RabbitMQ Management"',
          "no credentials: 401 with the Basic challenge")
    status, hdrs, body = call("GET", "/overview", auth=("guest", "wrong"))
    check(status == 401 and body == {"error": "not_authorized", "reason": "Login failed"},
          "a wrong password: 401 not_authorized, Login failed (%r)" % (body,))
    status, _, body = call("GET", "/no-such-thing")
    check(status == 404 and body == {"error": "Object Not Found", "reason": "Not Found"},
          "an unknown path: 404 Object Not Found")
    status, hdrs, _ = call("DELETE", "/overview")
    check(status == 405 and "GET" in hdrs.get("Allow", ""), "DELETE /overview: 405 with Allow")
    status, hdrs, body = call("GET", "/overview")
    check(status == 200 and hdrs.get_content_type() == "application/json", "overview: 200 JSON")
    for key in ("management_version", "rabbitmq_version", "node", "object_totals", "listeners",
                "exchange_types", "queue_totals"):
        check(key in body, "overview has %s" % key)
    status, _, body = call("GET", "/whoami")
    check(status == 200 and body.get("name") == "guest" and "administrator" in body.get("tags", []),
          "whoami: guest, administrator")
    status, _, body = call("GET", "/nodes")
    check(status == 200 and body and body[0].get("running") is True, "nodes: one running node")
    status, _, body = call("GET", "/vhosts/%2F")
    check(status == 200 and body.get("name") == "/", "vhosts/%2F is /")
    status, _, _ = call("GET", "/vhosts/nope")
    check(status == 404, "an unknown vhost: 404")
    for path in ("/health/checks/alarms", "/health/checks/local-alarms",
                 "/health/checks/virtual-hosts", "/aliveness-test/%2F",
                 "/health/checks/port-listener/%d" % PORT):
        status, _, body = call("GET", path)
        check(status == 200 and body.get("status") == "ok", "%s: ok" % path)


def test_queues(conn):
    name = "http-api-q"
    call("DELETE", "/queues/%2F/" + name)
    status, _, _ = call("PUT", "/queues/%2F/" + name, {"durable": False, "auto_delete": False,
                                                       "arguments": {"x-max-length": 10}})
    check(status == 201, "PUT a new queue: 201 (%d)" % status)
    status, _, _ = call("PUT", "/queues/%2F/" + name, {"durable": False,
                                                       "arguments": {"x-max-length": 10}})
    check(status == 204, "PUT it again: 204 (%d)" % status)
    status, _, body = call("PUT", "/queues/%2F/" + name, {"durable": True})
    check(status == 400 and body.get("error") == "bad_request" and "inequivalent arg 'durable'"
          in body.get("reason", ""), "PUT inequivalent: 400 bad_request (%r)" % (body,))
    status, _, body = call("PUT", "/queues/%2F/" + name, raw=b"{not json")
    check(status == 400 and body == {"error": "bad_request", "reason": "not_json"}, "not JSON: 400 not_json")
    ch = conn.channel()
    ok = ch.queue_declare(name, passive=True)
    check(ok.method.message_count == 0, "the HTTP-declared queue is there for pika")
    ch.basic_publish("", name, b"from-amqp", pika.BasicProperties(content_type="text/plain",
                                                                  headers={"h": 1}))
    deadline = time.time() + 10
    while True:
        status, _, body = call("GET", "/queues/%2F/" + name)
        if body.get("messages_ready") == 1 or time.time() > deadline:
            break
        time.sleep(0.5)  # RabbitMQ's statistics arrive every 5 s
    check(status == 200 and body.get("messages_ready") == 1, "GET queue: messages_ready 1")
    for key in ("name", "vhost", "durable", "auto_delete", "exclusive", "arguments", "messages",
                "messages_unacknowledged", "consumers", "memory", "state", "node", "type"):
        check(key in body, "queue has %s" % key)
    check(body.get("arguments") == {"x-max-length": 10}, "queue arguments as declared")
    status, _, body = call("GET", "/queues/%2F?columns=name,durable")
    mine = [x for x in body if x["name"] == name]
    check(status == 200 and mine == [{"name": name, "durable": False}], "?columns= picks fields")
    status, _, body = call("GET", "/queues?page=1&page_size=1&name=" + name)
    check(status == 200 and body.get("filtered_count") == 1 and body.get("page_size") == 1
          and body["items"][0]["name"] == name, "pagination with a name filter")
    status, _, body = call("GET", "/queues?page=999&page_size=1&name=" + name)
    check(status == 400 and body.get("error") == "page_out_of_range", "a page past the end: 400")
    status, _, body = call("POST", "/queues/%2F/" + name + "/get", {"count": 1})
    check(status == 400 and "key_missing" in body.get("reason", ""), "get without ackmode: 400")
    status, _, body = call("POST", "/queues/%2F/" + name + "/get",
                           {"count": 5, "ackmode": "ack_requeue_true", "encoding": "auto"})
    check(status == 200 and len(body) == 1 and body[0]["payload"] == "from-amqp"
          and body[0]["payload_encoding"] == "string" and body[0]["redelivered"] is False
          and body[0]["properties"].get("headers") == {"h": 1}
          and body[0]["properties"].get("content_type") == "text/plain"
          and body[0]["payload_bytes"] == 9 and body[0]["routing_key"] == name,
          "get over HTTP shows the AMQP message (%r)" % (body,))
    status, _, body = call("POST", "/queues/%2F/" + name + "/get",
                           {"count": 1, "ackmode": "ack_requeue_false", "encoding": "base64"})
    check(status == 200 and body and body[0]["redelivered"] is True
          and base64.b64decode(body[0]["payload"]) == b"from-amqp", "requeued, then got in base64")
    method, _, _ = ch.basic_get(name, auto_ack=True)
    check(method is None, "ack_requeue_false took it for good")
    ch.basic_publish("", name, b"x")
    time.sleep(0.3)
    status, _, body = call("DELETE", "/queues/%2F/" + name + "?if-empty=true")
    check(status == 400 and "not empty" in body.get("reason", ""), "DELETE if-empty: 400 not empty")
    status, _, _ = call("DELETE", "/queues/%2F/" + name + "/contents")
    check(status == 204, "purge: 204")
    check(ch.queue_declare(name, passive=True).method.message_count == 0, "purged for pika too")
    status, _, _ = call("DELETE", "/queues/%2F/" + name + "?if-empty=true")
    check(status == 204, "DELETE an empty queue: 204")
    status, _, _ = call("GET", "/queues/%2F/" + name)
    check(status == 404, "the deleted queue: 404")
    status, _, _ = call("DELETE", "/queues/%2F/" + name)
    check(status == 404, "DELETE a missing queue: 404")
    ch.close()


def test_exchanges_bindings(conn):
    x, name = "http-api-x", "http-api-bq"
    call("DELETE", "/exchanges/%2F/" + x)
    status, _, _ = call("PUT", "/exchanges/%2F/" + x, {"type": "direct", "durable": False})
    check(status == 201, "PUT a new exchange: 201")
    status, _, _ = call("PUT", "/exchanges/%2F/" + x, {"type": "direct", "durable": False})
    check(status == 204, "PUT it again: 204")
    status, _, body = call("PUT", "/exchanges/%2F/" + x, {"type": "fanout", "durable": False})
    check(status == 400 and "inequivalent arg 'type'" in body.get("reason", ""), "a new type: 400")
    status, _, body = call("PUT", "/exchanges/%2F/http-api-bogus", {"type": "bogus"})
    check(status == 400 and body.get("reason") == "unknown exchange type 'bogus'",
          "unknown type: 400 (%r)" % (body,))
    status, _, body = call("PUT", "/exchanges/%2F/amq.http-api", {"type": "direct"})
    check(status == 401 and body.get("error") == "not_authorised", "amq. names: 401 not_authorised")
    status, _, body = call("GET", "/exchanges/%2F/" + x)
    check(status == 200 and body.get("type") == "direct" and body.get("durable") is False
          and body.get("internal") is False, "GET exchange")
    status, _, body = call("GET", "/exchanges/%2F/amq.default")
    check(status == 200 and body.get("name") == "", "amq.default is the default exchange")
    call("PUT", "/queues/%2F/" + name, {"durable": False})
    status, hdrs, _ = call("POST", "/bindings/%%2F/e/%s/q/%s" % (x, name), {"routing_key": "a.*"})
    check(status == 201 and hdrs.get("Location") == name + "/a.%252A",
          "POST binding: 201, Location %r" % hdrs.get("Location"))
    status, _, body = call("POST", "/bindings/%%2F/e/%s/q/%s" % (x, name),
                           {"routing_key": "k", "arguments": {"x-a": "b"}})
    status, _, body = call("GET", "/bindings/%%2F/e/%s/q/%s" % (x, name))
    keys = sorted(b["properties_key"] for b in body)
    check(status == 200 and len(body) == 2 and keys[0] == "a.%2A" and keys[1].startswith("k~"),
          "bindings between: two, properties keys %r" % keys)
    status, _, body = call("GET", "/queues/%2F/" + name + "/bindings")
    check(status == 200 and body[0]["source"] == "" and body[0]["routing_key"] == name
          and len(body) == 3, "queue bindings: the default exchange's first")
    status, _, body = call("GET", "/exchanges/%2F/" + x + "/bindings/source")
    check(status == 200 and len(body) == 2 and all(b["destination_type"] == "queue" for b in body),
          "exchange bindings/source")
    status, _, body = call("POST", "/exchanges/%2F/" + x + "/publish",
                           {"routing_key": "a.*", "properties": {}, "payload": "hi",
                            "payload_encoding": "string"})
    check(status == 200 and body == {"routed": True}, "publish: routed true")
    status, _, body = call("POST", "/exchanges/%2F/" + x + "/publish",
                           {"routing_key": "zz", "properties": {}, "payload": "hi",
                            "payload_encoding": "string"})
    check(status == 200 and body == {"routed": False}, "publish unroutable: routed false")
    status, _, body = call("DELETE", "/exchanges/%2F/" + x + "?if-unused=true")
    check(status == 400 and "in use" in body.get("reason", ""), "DELETE if-unused: 400 in use")
    status, _, _ = call("DELETE", "/bindings/%%2F/e/%s/q/%s/%s" % (x, name, q(keys[1])))
    check(status == 204, "DELETE a binding by properties key: 204")
    status, _, _ = call("DELETE", "/bindings/%%2F/e/%s/q/%s/a.%%2A" % (x, name))
    check(status == 204, "DELETE the other: 204")
    status, _, body = call("GET", "/bindings/%%2F/e/%s/q/%s" % (x, name))
    check(status == 200 and body == [], "no bindings left")
    status, _, _ = call("DELETE", "/exchanges/%2F/" + x + "?if-unused=true")
    check(status == 204, "DELETE an unused exchange: 204")
    status, _, _ = call("DELETE", "/exchanges/%2F/" + x)
    check(status == 404, "DELETE a missing exchange: 404")
    call("DELETE", "/queues/%2F/" + name)


def test_publish_reaches_consumer(conn):
    name = "http-api-consume"
    call("PUT", "/queues/%2F/" + name, {"durable": False})
    ch = conn.channel()
    got = []
    ch.basic_consume(name, lambda c, m, p, b: got.append((p, b)), auto_ack=True)
    status, _, body = call("POST", "/exchanges/%2F/amq.default/publish",
                           {"routing_key": name, "payload": "aGVsbG8=", "payload_encoding": "base64",
                            "properties": {"content_type": "text/x", "headers": {"k": "v"},
                                           "delivery_mode": 2}})
    check(status == 200 and body == {"routed": True}, "publish to amq.default: routed")
    deadline = time.time() + 5
    while not got and time.time() < deadline:
        conn.process_data_events(0.2)
    check(len(got) == 1 and got[0][1] == b"hello" and got[0][0].content_type == "text/x"
          and got[0][0].headers == {"k": "v"} and got[0][0].delivery_mode == 2,
          "the pika consumer gets the HTTP-published message")
    deadline = time.time() + 10
    while True:
        status, _, body = call("GET", "/consumers/%2F")
        mine = [c for c in body if c["queue"]["name"] == name]
        if mine or time.time() > deadline:
            break
        time.sleep(0.5)
    check(len(mine) == 1 and mine[0]["ack_required"] is False and "consumer_tag" in mine[0]
          and "channel_details" in mine[0], "consumers lists it")
    ch.close()
    call("DELETE", "/queues/%2F/" + name)


def test_connections():
    params = pika.ConnectionParameters(HOST, PORT, client_properties={"connection_name": "http-api"})
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    deadline = time.time() + 10
    while True:
        status, _, body = call("GET", "/connections")
        mine = [c for c in body if c.get("client_properties", {}).get("connection_name") == "http-api"]
        if mine or time.time() > deadline:
            break
        time.sleep(0.5)
    check(len(mine) == 1, "connections lists the pika connection")
    c = mine[0] if mine else {}
    for key in ("name", "user", "vhost", "peer_host", "peer_port", "host", "port",
                "client_properties", "channels", "state", "protocol", "auth_mechanism",
                "connected_at", "timeout", "frame_max"):
        check(key in c, "connection has %s" % key)
    check(c.get("user") == "guest" and c.get("vhost") == "/" and c.get("protocol") == "AMQP 0-9-1"
          and c.get("auth_mechanism") == "PLAIN" and c.get("port") == PORT
          and c.get("frame_max") == 131072, "connection fields' values")
    name = c.get("name", "")
    status, _, one = call("GET", "/connections/" + q(name))
    check(status == 200 and one.get("name") == name, "GET one connection by name")
    deadline = time.time() + 10
    while True:
        status, _, chans = call("GET", "/connections/%s/channels" % q(name))
        if chans or time.time() > deadline:
            break
        time.sleep(0.5)
    check(status == 200 and len(chans) == 1 and chans[0].get("number") == 1
          and chans[0].get("name") == name + " (1)", "its channels")
    status, _, allch = call("GET", "/channels")
    check(status == 200 and any(x.get("name") == name + " (1)" for x in allch), "/channels has it")
    status, _, _ = call("DELETE", "/connections/" + q(name), headers={"X-Reason": "bye from http"})
    check(status == 204, "DELETE the connection: 204")
    closed = None
    try:
        deadline = time.time() + 5
        while time.time() < deadline:
            conn.process_data_events(0.2)
    except pika.exceptions.ConnectionClosedByBroker as err:
        closed = err
    check(closed is not None and closed.reply_code == 320
          and closed.reply_text == "CONNECTION_FORCED - bye from http",
          "pika hears 320 with the X-Reason (%r)" % (closed,))
    status, _, _ = call("GET", "/connections/no-such-connection")
    check(status == 404, "an unknown connection: 404")


def main():
    test_auth_and_errors()
    conn = pika.BlockingConnection(pika.ConnectionParameters(HOST, PORT))
    test_queues(conn)
    test_exchanges_bindings(conn)
    test_publish_reaches_consumer(conn)
    conn.close()
    test_connections()
    print("%d failures" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
