#!/usr/bin/python3
"""Interop test: src/cli/warrenctl (rabbitmqctl's verbs over the management API) against the
broker under test: what it prints, its exit codes, and the effects clients then observe."""

import json
import os
import subprocess
import sys
import tempfile
import time

import pika
import pika.exceptions

from checks import (HOST, PORT, TESTS_DIR, check, exit_status, expect, pika_connection,
                    process_until, ready_count, unique, wait_for_value)
from mgmt import MANAGEMENT_PORT, STATS_SECONDS

WARRENCTL = os.path.join(os.environ.get("srcdir") or os.path.join(TESTS_DIR, "..", ".."),
                         "src", "cli", "warrenctl")
VHOST, USER, PASSWORD = unique("wctl-vhost"), unique("wctl-user"), "wctl-secret"
QUEUE, LIMITED, DURABLE = "wc-q", "wc-pol-q", "wc-durable"
WRITE = r"^(wc-.*|amq\.default)$"  # publishing through the default exchange needs it


def ctl(*args, port=None, password="guest", stdin=""):
    """Runs warrenctl; (exit status, stdout, stderr)."""
    command = ["/usr/bin/python3", WARRENCTL, "--port", str(port or MANAGEMENT_PORT),
               "--host", HOST, "--password", password] + list(args)
    result = subprocess.run(command, capture_output=True, timeout=60, input=stdin.encode())
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def expect_run(args, status, out, err, what):
    """warrenctl args exits with status and prints exactly out and err."""
    expect(ctl(*args), (status, out, err), what)


def rows(args):
    """The tab-separated rows of a --silent listing."""
    status, out, _ = ctl(*(args + ("-s",)))
    return status, [line.split("\t") for line in out.splitlines()]


def wait_rows(args, ready, seconds=STATS_SECONDS):
    """rows(args) until ready(rows) holds (RabbitMQ's statistics lag up to 5 s)."""
    deadline = time.monotonic() + seconds
    while True:
        status, found = rows(args)
        if (status == 0 and ready(found)) or time.monotonic() >= deadline:
            return found
        time.sleep(0.5)


def user_connection(password=PASSWORD, **overrides):
    return pika_connection(credentials=pika.PlainCredentials(USER, password),
                           virtual_host=VHOST, **overrides)


def login_refused(password):
    try:
        user_connection(password).close()
        return False
    except pika.exceptions.AMQPConnectionError:
        return True


def check_status():
    status, out, err = ctl("status")
    lines = out.splitlines()
    check(status == 0 and lines[:2] and lines[0].startswith("Status of node ") and
          lines[0].endswith(" ...") and "Runtime" in lines, "status: banner and Runtime (%r)"
          % lines[:2])
    status, out, _ = ctl("status", "--formatter", "json")
    body = json.loads(out) if status == 0 else {}
    check(any(l.get("port") == PORT and l.get("protocol") == "amqp"
              for l in body.get("listeners", [])), "status --formatter json lists the AMQP port")
    expect_run(("await_startup",), 0, "", "", "await_startup: silent, exit 0")


def check_users_and_vhosts():
    expect_run(("add_vhost", VHOST), 0, 'Adding vhost "%s" ...\n' % VHOST, "", "add_vhost")
    status, found = rows(("list_vhosts",))
    check([VHOST] in found and ["/"] in found, "list_vhosts shows / and the new vhost")
    expect_run(("add_user", USER, PASSWORD), 0,
               'Adding user "%s" ...\nDone. Don\'t forget to grant the user permissions to '
               "some virtual hosts! See 'rabbitmqctl help set_permissions' to learn more.\n"
               % USER, "", "add_user")
    expect_run(("add_user", USER, PASSWORD), 70, 'Adding user "%s" ...\n' % USER,
               'Error:\nUser "%s" already exists\n' % USER, "add_user again")
    expect_run(("-q", "set_permissions", "-p", VHOST, USER, "^wc-", WRITE, "^wc-"), 0, "", "",
               "set_permissions -q")
    expect_run(("list_permissions", "-p", VHOST), 0,
               'Listing permissions for vhost "%s" ...\nuser\tconfigure\twrite\tread\n'
               "%s\t^wc-\t%s\t^wc-\n" % (VHOST, USER, WRITE), "",
               "list_permissions: the user's, none for the creator of the vhost")
    # warrenctl acts as its API user, who needs permissions there for the queue verbs.
    expect_run(("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*", "-s"), 0, "", "",
               "set_permissions -s for guest")
    connection = user_connection()
    channel = connection.channel()
    channel.queue_declare(QUEUE)
    check(True, "the new user logs in and declares %s" % QUEUE)
    try:
        channel.queue_declare("other")
        check(False, "a queue outside the permissions is refused")
    except pika.exceptions.ChannelClosedByBroker as error:
        expect(error.reply_code, 403, "a queue outside the permissions: 403")
    connection.close()
    expect_run(("change_password", USER, "new-secret"), 0,
               'Changing password for user "%s" ...\n' % USER, "", "change_password")
    check(login_refused(PASSWORD), "change_password: the old password is refused")
    user_connection("new-secret").close()
    check(True, "change_password: the new password logs in")
    expect_run(("set_user_tags", USER, "monitoring", "management"), 0,
               'Setting tags for user "%s" to [monitoring, management] ...\n' % USER, "",
               "set_user_tags")
    status, found = rows(("list_users",))
    check([USER, "[monitoring, management]"] in found and ["guest", "[administrator]"] in found,
          "list_users shows the tags")
    user_connection("new-secret").close()
    check(True, "set_user_tags keeps the password")
    status, out, _ = ctl("list_users", "--formatter", "json")
    listed = json.loads(out) if status == 0 else []
    check({"user": USER, "tags": ["monitoring", "management"]} in listed,
          "list_users --formatter json")
    expect_run(("change_password", USER, PASSWORD), 0,
               'Changing password for user "%s" ...\n' % USER, "", "change_password back")


def check_queue_lists():
    connection = user_connection()
    channel = connection.channel()
    channel.queue_declare(DURABLE, durable=True)
    channel.exchange_declare("wc-x", "fanout")
    channel.queue_bind(QUEUE, "wc-x", "wc-key")
    for _ in range(3):
        channel.basic_publish("", QUEUE, b"m")
    found = wait_rows(("list_queues", "-p", VHOST, "name", "messages", "durable"),
                      lambda rs: [QUEUE, "3", "false"] in rs)
    check([QUEUE, "3", "false"] in found and [DURABLE, "0", "true"] in found,
          "list_queues name messages durable after 3 publishes (%r)" % found)
    status, out, err = ctl("list_queues", "-p", VHOST)
    lines = out.splitlines()
    expect((status, lines[:3]), (0, ["Timeout: 60.0 seconds ...",
                                     "Listing queues for vhost %s ..." % VHOST,
                                     "name\tmessages"]), "list_queues: banner and header")
    check("%s\t3" % QUEUE in lines, "list_queues: the row, tab-separated")
    status, out, _ = ctl("list_queues", "-q", "-p", VHOST)
    expect(out.splitlines()[:1], ["name\tmessages"], "list_queues -q: the header, no banner")
    status, out, _ = ctl("list_queues", "-p", VHOST, "--formatter", "json", "name", "messages",
                         "arguments")
    lines = out.splitlines()
    check(lines[0] == "[" and lines[-1] == "]", "list_queues --formatter json: [ and ] lines")
    listed = json.loads(out) if status == 0 else []
    check({"name": QUEUE, "messages": 3, "arguments": []} in listed,
          "list_queues --formatter json holds the queue (%r)" % listed)
    status, found = rows(("list_exchanges", "-p", VHOST, "name", "type", "durable"))
    check(["wc-x", "fanout", "false"] in found and ["amq.direct", "direct", "true"] in found,
          "list_exchanges name type durable")
    status, found = rows(("list_bindings", "-p", VHOST))
    check(["wc-x", "exchange", QUEUE, "queue", "wc-key", "[]"] in found and
          ["", "exchange", QUEUE, "queue", QUEUE, "[]"] in found, "list_bindings")
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=7)
    consumer.basic_consume(DURABLE, lambda *a: None, consumer_tag="wc-tag")
    found = wait_rows(("list_consumers", "-p", VHOST, "queue_name", "consumer_tag",
                       "ack_required", "prefetch_count"), lambda rs: len(rs) > 0)
    expect(found, [[DURABLE, "wc-tag", "true", "7"]], "list_consumers")
    found = wait_rows(("list_channels", "user", "consumer_count", "prefetch_count"),
                      lambda rs: [USER, "1", "7"] in rs)
    check([USER, "1", "7"] in found, "list_channels shows the consumer's channel (%r)" % found)
    found = wait_rows(("list_connections", "user", "vhost", "state"),
                      lambda rs: [USER, VHOST, "running"] in rs)
    check([USER, VHOST, "running"] in found, "list_connections user vhost state")
    connection.close()


def check_purge_delete():
    expect_run(("purge_queue", "-p", VHOST, QUEUE), 0,
               "Purging queue '%s' in vhost '%s' ...\n" % (QUEUE, VHOST), "", "purge_queue")
    connection = user_connection()
    expect(ready_count(connection.channel(), QUEUE), 0, "purge_queue emptied it")
    connection.channel().basic_publish("", QUEUE, b"again")
    connection.close()
    wait_rows(("list_queues", "-p", VHOST), lambda rs: [QUEUE, "1"] in rs)
    expect_run(("delete_queue", "-p", VHOST, QUEUE), 0,
               "Deleting queue '%s' on vhost '%s' ...\nQueue was successfully deleted with 1 "
               "ready messages\n" % (QUEUE, VHOST), "", "delete_queue")
    expect_run(("delete_queue", "-p", VHOST, QUEUE), 64,
               "Deleting queue '%s' on vhost '%s' ...\n" % (QUEUE, VHOST),
               "Error:\nQueue not found\n", "delete_queue again")
    expect_run(("purge_queue", "-p", VHOST, QUEUE), 69,
               "Purging queue '%s' in vhost '%s' ...\n" % (QUEUE, VHOST), "Error:\nnot_found\n",
               "purge_queue of a missing queue")


def check_close_connection():
    name = unique("wctl-conn")
    connection = user_connection(client_properties={"connection_name": name})
    found = wait_rows(("list_connections", "name", "user"),
                      lambda rs: any(r[1:] == [USER] for r in rs))
    names = [r[0] for r in found if r[1:] == [USER]]
    if not check(len(names) == 1, "list_connections name user: the one connection (%r)" % found):
        connection.close()
        return
    expect_run(("close_connection", names[0], "bye now"), 0,
               "Closing connection %s, reason: bye now...\n" % names[0], "", "close_connection")
    try:
        process_until(connection, lambda: not connection.is_open)
        check(False, "the client sees the close")
    except pika.exceptions.ConnectionClosedByBroker as error:
        expect((error.reply_code, error.reply_text), (320, "CONNECTION_FORCED - bye now"),
               "close_connection: the client gets 320 with the reason")


def check_topic_and_limits():
    expect_run(("set_topic_permissions", "-p", VHOST, USER, "amq.topic", "^a", "^b"), 0,
               'Setting topic permissions on "amq.topic" for user "%s" in vhost "%s" ...\n'
               % (USER, VHOST), "", "set_topic_permissions")
    status, found = rows(("list_topic_permissions", "-p", VHOST))
    expect(found, [[USER, "amq.topic", "^a", "^b"]], "list_topic_permissions")
    expect_run(("set_vhost_limits", "-p", VHOST, '{"max-queues": 2}'), 0,
               'Setting vhost limits to "{"max-queues": 2}" for vhost "%s" ...\n' % VHOST, "",
               "set_vhost_limits")
    expect_run(("list_vhost_limits", "-p", VHOST, "-q"), 0, '{"max-queues":2}\n', "",
               "list_vhost_limits")
    connection = user_connection()
    channel = connection.channel()
    channel.queue_declare("wc-second")  # DURABLE and this one: the limit
    try:
        channel.queue_declare("wc-third")
        check(False, "a third queue is refused by max-queues 2")
    except pika.exceptions.ChannelClosedByBroker as error:
        expect(error.reply_code, 406, "a third queue is refused by max-queues 2")
    connection.channel().queue_delete("wc-second")
    connection.close()
    expect_run(("clear_vhost_limits", "-p", VHOST, "-q"), 0, "", "", "clear_vhost_limits")
    expect_run(("list_vhost_limits", "-p", VHOST, "--formatter", "json"), 0, "[]\n", "",
               "list_vhost_limits --formatter json, no limits")


def check_policies():
    """Needs /api/policies (RabbitMQ has it; Warren gains it on branch policies)."""
    expect_run(("set_policy", "-p", VHOST, "wc-pol", "^wc-pol-", '{"max-length":2}', "--priority",
                "1", "--apply-to", "queues"), 0,
               'Setting policy "wc-pol" for pattern "^wc-pol-" to "{"max-length":2}" with priority '
               '"1" for vhost "%s" ...\n' % VHOST, "", "set_policy")
    expect_run(("list_policies", "-p", VHOST, "-q"), 0,
               "vhost\tname\tpattern\tapply-to\tdefinition\tpriority\n"
               '%s\twc-pol\t^wc-pol-\tqueues\t{"max-length":2}\t1\n' % VHOST, "", "list_policies")
    connection = user_connection()
    channel = connection.channel()
    channel.queue_declare(LIMITED)
    for _ in range(4):
        channel.basic_publish("", LIMITED, b"p")
    expect(wait_for_value(lambda: ready_count(channel, LIMITED), 2), 2,
           "the policy's max-length holds the queue at 2")
    channel.queue_delete(LIMITED)
    connection.close()
    expect_run(("set_policy", "-p", VHOST, "wc-bad", "^x", '{"nosuchkey":5}'), 69,
               'Setting policy "wc-bad" for pattern "^x" to "{"nosuchkey":5}" with priority "0"'
               ' for vhost "%s" ...\n' % VHOST,
               'Error:\nValidation failed\n\n[{<<"nosuchkey">>,5}] are not recognised policy '
               "settings\n\n", "set_policy with an unknown key")
    expect_run(("clear_policy", "-p", VHOST, "wc-pol"), 0,
               'Clearing policy "wc-pol" on vhost "%s" ...\n' % VHOST, "", "clear_policy")
    expect_run(("clear_policy", "-p", VHOST, "wc-pol"), 69,
               'Clearing policy "wc-pol" on vhost "%s" ...\n' % VHOST,
               "Error:\nParameter does not exist\n", "clear_policy again")
    expect_run(("list_policies", "-p", VHOST), 0,
               'Listing policies for vhost "%s" ...\n\n' % VHOST, "", "list_policies, none")


def check_definitions(directory):
    target = os.path.join(directory, "defs.json")
    expect_run(("export_definitions", target), 0,
               'Exporting definitions in JSON to a file at "%s" ...\n' % target, "",
               "export_definitions")
    with open(target) as source:
        definitions = json.load(source)
    check(any(q.get("name") == DURABLE and q.get("vhost") == VHOST
              for q in definitions.get("queues", [])), "the export holds the durable queue")
    check(any(u.get("name") == USER for u in definitions.get("users", [])),
          "the export holds the user")
    status, out, _ = ctl("export_definitions", "-")
    check(status == 0 and json.loads(out).get("vhosts") is not None,
          "export_definitions - writes the JSON to stdout")
    connection = user_connection()
    connection.channel().queue_delete(DURABLE)
    connection.close()
    expect_run(("import_definitions", target), 0,
               'Importing definitions in JSON from a file at "%s" ...\nSuccessfully started '
               "definition import. This process is asynchronous and can take some time.\n"
               % target, "", "import_definitions")
    found = wait_rows(("list_queues", "-p", VHOST, "name", "durable"),
                      lambda rs: [DURABLE, "true"] in rs, seconds=5)
    check([DURABLE, "true"] in found, "import_definitions brought the deleted queue back")
    missing = os.path.join(directory, "missing.json")
    status, out, err = ctl("import_definitions", missing)
    expect((status, err.splitlines()[:1]), (65, ["Error (argument validation): Bad argument: "
                                                 "File %s does not exist" % missing]),
           "import_definitions of a missing file")


def check_errors():
    status, out, err = ctl("no_such_verb")
    check(status == 64 and "Command 'no_such_verb' not found." in err, "an unknown verb: 64")
    status, out, err = ctl("list_queues", "nosuchcol")
    expect((status, err.splitlines()[:1]), (64, ["Error (argument validation): Info key(s) "
                                                 "nosuchcol are not supported"]),
           "list_queues with an unknown column")
    status, out, err = ctl("add_user")
    expect((status, err.splitlines()[:1]), (64, ["Error (argument validation): not enough "
                                                 "arguments."]), "add_user without a name")
    expect_run(("delete_user", "nobody-" + USER), 67, 'Deleting user "nobody-%s" ...\n' % USER,
               'Error:\nUser "nobody-%s" does not exist\n' % USER, "delete_user of nobody")
    expect_run(("delete_vhost", "nope-" + VHOST), 65, 'Deleting vhost "nope-%s" ...\n' % VHOST,
               "Virtual host 'nope-%s' does not exist\n" % VHOST, "delete_vhost of nothing")
    expect_run(("set_permissions", "-p", VHOST, "nobody", "a", "b", "c"), 67,
               'Setting permissions for user "nobody" in vhost "%s" ...\n' % VHOST,
               "Error:\nUser nobody does not exist\n", "set_permissions of nobody")
    status, out, err = ctl("list_users", password="wrong")
    check(status == 69 and "refused user" in err, "a wrong password: 69 (%d %r)"
          % (status, err))
    with __import__("socket").socket() as closed:
        closed.bind((HOST, 0))
        port = closed.getsockname()[1]
    status, out, err = ctl("list_users", port=port)
    check(status == 69 and err.startswith("Error: unable to perform an operation"),
          "nothing listening: 69 (%d %r)" % (status, err))


def check_removal():
    expect_run(("clear_permissions", "-p", VHOST, USER), 0,
               'Clearing permissions for user "%s" in vhost "%s" ...\n' % (USER, VHOST), "",
               "clear_permissions")
    check(login_refused(PASSWORD), "clear_permissions: the vhost is refused to the user")
    expect_run(("delete_user", USER), 0, 'Deleting user "%s" ...\n' % USER, "", "delete_user")
    status, found = rows(("list_users",))
    check(not any(r[0] == USER for r in found), "delete_user: no longer listed")
    status, out, err = ctl("delete_vhost", VHOST, "--formatter", "json")
    check(status == 0 and json.loads(out).get("result") == "ok",
          "delete_vhost --formatter json: result ok (%r)" % out)


def main():
    with tempfile.TemporaryDirectory() as directory:
        try:
            check_status()
            check_users_and_vhosts()
            check_queue_lists()
            check_purge_delete()
            check_close_connection()
            check_topic_and_limits()
            check_policies()
            check_definitions(directory)
            check_errors()
            check_removal()
        finally:
            ctl("delete_user", USER)
            ctl("delete_vhost", VHOST)
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
