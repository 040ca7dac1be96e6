#!/usr/bin/python3
"""Interop test: RabbitMQ 3.10's rabbitmqadmin script against the management API: list,
declare, delete, publish, get, purge, close, export and import, and what it prints."""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse

import pika.exceptions

from checks import HOST, SKIP, check, exit_status, expect, pika_connection, process_until, unique
from mgmt import MANAGEMENT_PORT, STATS_SECONDS, connection_named

SCRIPT = os.environ.get("RABBITMQADMIN", "/usr/lib/rabbitmq/lib/rabbitmq_server-3.10.8/plugins/"
                        "rabbitmq_management-3.10.8/priv/www/cli/rabbitmqadmin")
VHOST = unique("admin-vhost")
EXCHANGE, QUEUE, IMPORTED = unique("admin-x"), unique("admin-q"), unique("admin-imported")


def admin(*args, password="guest"):
    """Runs rabbitmqadmin with args; (exit status, stdout, stderr)."""
    command = ["/usr/bin/python3", SCRIPT, "-H", HOST, "-P", str(MANAGEMENT_PORT), "-u", "guest",
               "-p", password] + list(args)
    result = subprocess.run(command, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def expect_says(args, text, what):
    """rabbitmqadmin args exits 0 and prints exactly text (one line)."""
    status, out, err = admin(*args)
    expect((status, out.strip()), (0, text), what)
    return out


def in_vhost(*args):
    return ("-V", VHOST) + args


def tsv_rows(args):
    """The rows of a -f tsv listing (after its header line), each split on tabs."""
    status, out, _ = admin(*(args + ("-f", "tsv")))
    lines = out.splitlines()
    return status, lines[:1], [line.split("\t") for line in lines[1:]]


def wait_rows(args, wanted, seconds=STATS_SECONDS):
    """tsv_rows until its rows equal wanted (statistics lag up to 5 s on RabbitMQ)."""
    deadline = time.monotonic() + seconds
    while True:
        status, header, rows = tsv_rows(args)
        if rows == wanted or time.monotonic() >= deadline:
            return status, header, rows
        time.sleep(0.5)


def check_declare():
    expect_says(("declare", "vhost", "name=" + VHOST), "vhost declared", "declare vhost")
    expect_says(in_vhost("declare", "exchange", "name=" + EXCHANGE, "type=fanout",
                         "durable=false"), "exchange declared", "declare exchange")
    expect_says(in_vhost("declare", "queue", "name=" + QUEUE, "durable=false",
                         'arguments={"x-max-length": 10}'), "queue declared", "declare queue")
    expect_says(in_vhost("declare", "binding", "source=" + EXCHANGE, "destination=" + QUEUE,
                         "routing_key=k"), "binding declared", "declare binding")
    status, header, rows = tsv_rows(in_vhost("list", "exchanges", "name", "type"))
    expect((status, header), (0, ["name\ttype"]), "list exchanges -f tsv: header")
    check([EXCHANGE, "fanout"] in rows, "list exchanges shows the new fanout exchange")
    check(["amq.direct", "direct"] in rows, "list exchanges shows amq.direct")
    status, out, _ = admin(*in_vhost("list", "queues", "name", "arguments", "-f", "raw_json"))
    listed = json.loads(out) if status == 0 else []
    expect(listed, [{"name": QUEUE, "arguments": {"x-max-length": 10}}],
           "list queues -f raw_json with columns")
    status, header, rows = tsv_rows(in_vhost("list", "bindings", "source", "destination",
                                             "routing_key"))
    expect(sorted(rows), sorted([["", QUEUE, QUEUE], [EXCHANGE, QUEUE, "k"]]),
           "list bindings: the default one and the declared one")
    status, out, _ = admin(*in_vhost("list", "queues"))
    header_cells = [c.strip() for c in out.splitlines()[1].strip("|").split("|")] if status == 0 \
        and len(out.splitlines()) > 1 else []
    check(out.startswith("+-") and header_cells == ["name", "messages"] and QUEUE in out,
          "list queues draws a table with name and messages columns (%r)" % header_cells)


def check_publish_get():
    expect_says(in_vhost("publish", "exchange=" + EXCHANGE, "routing_key=k", "payload=hello"),
                "Message published", "publish routed")
    expect_says(in_vhost("publish", "exchange=amq.default", "routing_key=" + unique("nowhere"),
                         "payload=x"), "Message published but NOT routed",
                "publish unroutable")
    expect_says(in_vhost("publish", "exchange=amq.default", "routing_key=" + QUEUE,
                         "payload=second", "properties={\"content_type\": \"text/plain\"}"),
                "Message published", "publish with properties")
    status, header, rows = wait_rows(in_vhost("list", "queues", "name", "messages"),
                                     [[QUEUE, "2"]])
    expect((status, header, rows), (0, ["name\tmessages"], [[QUEUE, "2"]]),
           "list queues name messages -f tsv after two publishes")
    status, out, _ = admin(*in_vhost("get", "queue=" + QUEUE, "ackmode=ack_requeue_true",
                                     "count=2", "-f", "raw_json"))
    got = json.loads(out) if status == 0 else []
    expect([(m.get("payload"), m.get("payload_encoding"), m.get("redelivered"),
             m.get("routing_key"), m.get("exchange")) for m in got],
           [("hello", "string", False, "k", EXCHANGE), ("second", "string", False, QUEUE, "")],
           "get count=2 -f raw_json")
    if len(got) == 2:
        expect(got[1].get("properties"), {"content_type": "text/plain"},
               "the second message's properties")
    status, out, _ = admin(*in_vhost("get", "queue=" + QUEUE, "ackmode=ack_requeue_true"))
    lines = out.splitlines()
    check(status == 0 and len(lines) == 5 and "payload" in lines[1] and "hello" in lines[3],
          "get draws a one-row table with the payload")
    if len(lines) == 5:
        expect([c.strip() for c in lines[3].strip("|").split("|")][:4], ["k", EXCHANGE, "1",
                                                                          "hello"],
               "get table row: routing_key, exchange, message_count, payload")
    expect_says(in_vhost("purge", "queue", "name=" + QUEUE), "queue purged", "purge queue")
    status, out, _ = admin(*in_vhost("get", "queue=" + QUEUE, "ackmode=ack_requeue_true",
                                     "-f", "raw_json"))
    expect((status, json.loads(out) if status == 0 else None), (0, []),
           "get from the purged queue")


def check_show_and_lists():
    status, out, _ = admin("show", "overview", "-f", "raw_json")
    overview = json.loads(out) if status == 0 else [{}]
    check(len(overview) == 1 and overview[0].get("rabbitmq_version"),
          "show overview -f raw_json has rabbitmq_version (%r)" % overview)
    status, header, rows = tsv_rows(("list", "nodes", "name", "type", "running"))
    expect((status, len(rows), rows[0][1:] if rows else None), (0, 1, ["disc", "True"]),
           "list nodes: one disc node running")
    status, header, rows = tsv_rows(("list", "users", "name", "tags"))
    check(["guest", "administrator"] in rows, "list users shows guest, administrator")
    status, header, rows = tsv_rows(("list", "vhosts", "name"))
    check(["/"] in rows and [VHOST] in rows, "list vhosts shows / and the new vhost")
    status, header, rows = tsv_rows(("list", "permissions", "vhost", "user"))
    check([VHOST, "guest"] in rows, "list permissions: the creator on the new vhost")


def check_close_connection():
    name = unique("admin-conn")
    connection = pika_connection(client_properties={"connection_name": name}, virtual_host=VHOST)
    entry = connection_named(name)
    if not check(entry is not None, "the connection is listed"):
        connection.close()
        return
    status, header, rows = tsv_rows(in_vhost("list", "connections", "name", "user"))
    check([entry["name"], "guest"] in rows, "list connections shows it")
    expect_says(("close", "connection", "name=" + entry["name"]), "connection closed",
                "close connection")
    try:
        process_until(connection, lambda: not connection.is_open)
        check(False, "the client sees the close")
    except pika.exceptions.ConnectionClosedByBroker as error:
        expect((error.reply_code, error.reply_text),
               (320, "CONNECTION_FORCED - Closed via management plugin"),
               "the client gets 320 from close connection")


def check_export_import(directory):
    everything = os.path.join(directory, "all.json")
    expect_says(("export", everything), 'Exported definitions for %s to "%s"' % (HOST, everything),
                "export")
    with open(everything) as source:
        definitions = json.load(source)
    check(any(q.get("name") == QUEUE and q.get("vhost") == VHOST
              for q in definitions.get("queues", [])), "the export holds the queue")
    check(any(v.get("name") == VHOST for v in definitions.get("vhosts", [])),
          "the export holds the vhost")
    scoped = os.path.join(directory, "vhost.json")
    expect_says(in_vhost("export", scoped), 'Exported definitions for %s to "%s"'
                % (HOST, scoped), "export -V")
    with open(scoped) as source:
        of_vhost = json.load(source)
    expect([(b.get("source"), b.get("destination")) for b in of_vhost.get("bindings", [])],
           [(EXCHANGE, QUEUE)], "the vhost export holds the binding (no vhost field)")
    upload = os.path.join(directory, "import.json")
    with open(upload, "w") as target:
        json.dump({"queues": [{"name": IMPORTED, "durable": True, "auto_delete": False,
                               "arguments": {}}]}, target)
    expect_says(in_vhost("import", upload),
                'Uploaded definitions from "%s" to %s. The import process may take some time. '
                "Consult server logs to track progress." % (HOST, upload), "import -V")
    status, header, rows = tsv_rows(in_vhost("list", "queues", "name", "durable"))
    check([IMPORTED, "True"] in rows, "the imported queue is listed")


def check_delete_and_errors():
    quoted = urllib.parse.quote_plus(VHOST)
    expect_says(in_vhost("delete", "queue", "name=" + IMPORTED), "queue deleted",
                "delete queue")
    status, out, err = admin(*in_vhost("delete", "queue", "name=" + IMPORTED))
    expect((status, err.strip()), (1, "*** Not found: /api/queues/%s/%s" % (quoted, IMPORTED)),
           "delete a missing queue: exit 1 and Not found")
    expect_says(in_vhost("delete", "binding", "source=" + EXCHANGE, "destination=" + QUEUE,
                         "destination_type=queue", "properties_key=k"), "binding deleted",
                "delete binding")
    expect_says(in_vhost("delete", "exchange", "name=" + EXCHANGE), "exchange deleted",
                "delete exchange")
    status, out, err = admin("list", "queues", password="wrong")
    expect((status, err.strip()), (1, "*** Access refused: /api/queues?columns=name,messages"),
           "a wrong password: exit 1 and Access refused")
    status, out, err = admin("declare", "exchange", "name=x")
    check(status == 1 and "ERROR" in err and "type" in err,
          "declare exchange without type is refused before any request (%r)" % err.strip())


def main():
    if not os.path.exists(SCRIPT):
        print("SKIP: no rabbitmqadmin at %s" % SCRIPT)
        return SKIP
    with tempfile.TemporaryDirectory() as directory:
        try:
            check_declare()
            check_publish_get()
            check_show_and_lists()
            check_close_connection()
            check_export_import(directory)
            check_delete_and_errors()
        finally:
            admin("delete", "vhost", "name=" + VHOST)
    status, header, rows = tsv_rows(("list", "vhosts", "name"))
    check([VHOST] not in rows, "delete vhost removed it")
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
