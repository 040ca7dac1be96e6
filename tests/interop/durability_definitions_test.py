#!/usr/bin/python3
"""Interop test: durable definitions survive a restart. Durable exchanges, durable queues (with
their arguments), bindings between durable ends, and users, vhosts, permissions, topic
permissions, limits and policies made over HTTP come back after an orderly restart and after
kill -9; non-durable and exclusive queues (and bindings to them) are gone; what was deleted
before the restart stays deleted. Seen by pika and py-amqp (passive declares, a routed get).
Against Warren a second broker on the same data directory must refuse to start.

Restarts: Warren through with_broker.py (WARREN_CONTROL); RabbitMQ started with
rabbitmq-beside when RABBITMQ_BESIDE_DIR names its directory (stopped and started there)."""
import os
import signal
import subprocess
import sys
import time

import amqp
import pika

from checks import (HOST, PORT, SKIP, can_control_broker, check, exit_status, expect,
                    kill_broker, pika_connection, start_broker, stop_broker, unique)
import own_broker
from mgmt import get, http, path_of, wait_json

BESIDE = "/work/shared/tools/rabbitmq-beside"
BESIDE_DIR = os.environ.get("RABBITMQ_BESIDE_DIR")
PASSWORD = "s3cret-pw"


# ---- restarting whichever broker this is ----

def beside_beam_pid():
    out = subprocess.run(["ss", "-Htlnp", "sport = :%d" % PORT], capture_output=True,
                         text=True).stdout
    for part in out.split("pid=")[1:]:
        return int(part.split(",")[0])
    return None


def restart(kind):
    """kind "orderly" (SIGTERM and wait) or "kill" (kill -9); then start on the same data."""
    if can_control_broker():
        status = stop_broker() if kind == "orderly" else kill_broker()
        expect(status, 0 if kind == "orderly" else -9, "%s stop: the broker's exit" % kind)
        start_broker()
        return
    env = dict(os.environ, BESIDE_PLUGINS="rabbitmq_management")
    if kind == "orderly":
        subprocess.run([BESIDE, "stop", BESIDE_DIR], check=True, env=env)
    else:
        pid = beside_beam_pid()
        check(pid is not None, "RabbitMQ's pid found")
        os.kill(pid, signal.SIGKILL)
        while beside_beam_pid():
            time.sleep(0.1)
        subprocess.run([BESIDE, "stop", BESIDE_DIR], env=env)  # its wrapper, by its pid file
    subprocess.run([BESIDE, "start", str(PORT), BESIDE_DIR], check=True, env=env,
                   stdout=subprocess.DEVNULL)


# ---- what is made before the restart ----

class Names:
    def __init__(self, kind):
        self.x = unique("dur-x-" + kind)            # durable topic exchange
        self.fan = unique("dur-fan-" + kind)        # durable fanout, bound to x
        self.q = unique("dur-q-" + kind)            # durable queue with arguments
        self.auto_q = unique("dur-adq-" + kind)     # durable auto-delete queue, never consumed
        self.consumed_q = unique("dur-acq-" + kind)  # the same, consumed at the restart
        self.transient = unique("dur-tq-" + kind)   # non-durable queue, bound to x
        self.exclusive = unique("dur-eq-" + kind)
        self.deleted_q = unique("dur-delq-" + kind)
        self.deleted_x = unique("dur-delx-" + kind)
        self.vhost = unique("dur-vh-" + kind)
        self.user = unique("dur-user-" + kind)
        self.gone_user = unique("dur-gone-" + kind)
        self.vhost_q = unique("dur-vq-" + kind)     # a durable queue in the new vhost
        self.policy = unique("dur-pol-" + kind)


QUEUE_ARGS = {"x-max-length": 10, "x-message-ttl": 600000, "x-overflow": "reject-publish"}


def expect_http(reply, statuses, what):
    check(reply.status in statuses, "%s: HTTP %s (got %d %r)" % (what, statuses, reply.status,
                                                                 reply.body[:200]))


def make_settings(n):
    """Users, a vhost, permissions, topic permissions, limits and a policy, over HTTP."""
    expect_http(http("PUT", path_of("vhosts", n.vhost), {}), (201, 204), "PUT vhost")
    expect_http(http("PUT", path_of("users", n.user), {"password": PASSWORD, "tags": "management"}),
                (201, 204), "PUT user")
    expect_http(http("PUT", path_of("permissions", n.vhost, n.user),
                     {"configure": "^dur-", "write": ".*", "read": ".*"}), (201, 204),
                "PUT permissions")
    expect_http(http("PUT", path_of("topic-permissions", n.vhost, n.user),
                     {"exchange": "amq.topic", "write": "^w\\.", "read": "^r\\."}), (201, 204),
                "PUT topic permissions")
    expect_http(http("PUT", path_of("vhost-limits", n.vhost, "max-queues"), {"value": 50}),
                (201, 204), "PUT vhost limit")
    expect_http(http("PUT", path_of("policies", n.vhost, n.policy),
                     {"pattern": "^dur-vq", "definition": {"max-length": 3}, "apply-to": "queues",
                      "priority": 2}), (201, 204), "PUT policy")
    expect_http(http("PUT", path_of("users", n.gone_user), {"password": "x", "tags": ""}),
                (201, 204), "PUT the user deleted next")
    expect_http(http("DELETE", path_of("users", n.gone_user)), (204,), "DELETE that user")


def make_topology(n):
    """The AMQP part through pika; returns the connection holding the exclusive queue."""
    connection = pika_connection()
    ch = connection.channel()
    ch.exchange_declare(n.x, "topic", durable=True)
    ch.exchange_declare(n.fan, "fanout", durable=True)
    ch.exchange_bind(n.x, n.fan, "")
    ch.queue_declare(n.q, durable=True, arguments=QUEUE_ARGS)
    ch.queue_bind(n.q, n.x, "k.#")
    ch.queue_bind(n.q, "amq.direct", n.q)
    ch.queue_bind(n.q, n.x, "unbound.key")
    ch.queue_unbind(n.q, n.x, "unbound.key")
    ch.queue_declare(n.auto_q, durable=True, auto_delete=True)
    ch.queue_declare(n.transient, durable=False)
    ch.queue_bind(n.transient, n.x, "#")
    ch.queue_declare(n.consumed_q, durable=True, auto_delete=True)
    ch.basic_consume(n.consumed_q, lambda *args: None)
    ch.queue_declare(n.exclusive, durable=True, exclusive=True)
    ch.queue_bind(n.exclusive, n.x, "#")
    ch.queue_declare(n.deleted_q, durable=True)
    ch.queue_bind(n.deleted_q, n.x, "d")
    ch.queue_delete(n.deleted_q)
    ch.exchange_declare(n.deleted_x, "direct", durable=True)
    ch.exchange_delete(n.deleted_x)
    # the new user, in the new vhost
    other = pika_connection(credentials=pika.PlainCredentials(n.user, PASSWORD),
                            virtual_host=n.vhost)
    other.channel().queue_declare(n.vhost_q, durable=True)
    other.close()
    return connection


# ---- what is seen after it ----

def pika_exists(kind, name, vhost="/", credentials=None):
    """Whether a passive declare finds it (404: not)."""
    connection = pika_connection(virtual_host=vhost, **({"credentials": credentials}
                                                        if credentials else {}))
    ch = connection.channel()
    try:
        if kind == "queue":
            ch.queue_declare(name, passive=True)
        else:
            ch.exchange_declare(name, passive=True)
        connection.close()
        return True
    except pika.exceptions.ChannelClosedByBroker as error:
        expect(error.reply_code, 404, "passive declare of %s %s: 404 when missing" % (kind, name))
        connection.close()
        return False


def pyamqp_exists(channel_of, kind, name):
    ch = channel_of()
    try:
        if kind == "queue":
            ch.queue_declare(name, passive=True)
        else:
            ch.exchange_declare(name, "topic", passive=True)
        ch.close()
        return True
    except amqp.exceptions.NotFound:
        return False


def binding_keys(source, destination, to="q", vhost="/"):
    reply = get(path_of("bindings", vhost, "e", source, to, destination))
    check(reply.status == 200, "bindings %s -> %s: 200 (got %d)" % (source, destination,
                                                                     reply.status))
    return sorted(b["routing_key"] for b in (reply.json or []))


def check_topology(n, what, kind):
    # RabbitMQ 3.10: an orderly stop closes the connection, whose consumer going deletes the
    # auto-delete queue; after kill -9 nothing did, and the durable queue is recovered
    expect(pika_exists("queue", n.consumed_q), kind == "kill",
           "%s: the durable auto-delete queue that had a consumer exists" % what)
    for kind, name in (("exchange", n.x), ("exchange", n.fan), ("queue", n.q),
                       ("queue", n.auto_q)):
        check(pika_exists(kind, name), "%s: pika finds durable %s %s" % (what, kind, name))
    for kind, name in (("queue", n.transient), ("queue", n.exclusive), ("queue", n.deleted_q),
                       ("exchange", n.deleted_x)):
        check(not pika_exists(kind, name), "%s: %s %s is gone" % (what, kind, name))
    queue = get(path_of("queues", "/", n.q)).json or {}
    expect(queue.get("arguments"), QUEUE_ARGS, "%s: the durable queue's arguments" % what)
    expect(queue.get("durable"), True, "%s: the queue is durable" % what)
    expect(binding_keys(n.x, n.q), ["k.#"], "%s: bindings exchange -> queue (the unbound one "
           "stays unbound)" % what)
    expect(binding_keys("amq.direct", n.q), [n.q], "%s: the amq.direct binding" % what)
    expect(binding_keys(n.fan, n.x, to="e"), [""], "%s: the exchange-to-exchange binding" % what)
    expect(binding_keys(n.x, n.transient), [], "%s: no binding to the non-durable queue" % what)

    # py-amqp: passive declares, and a message routed fanout -> topic -> queue
    connection = amqp.Connection("%s:%d" % (HOST, PORT), userid="guest", password="guest")
    connection.connect()
    try:
        for kind, name in (("exchange", n.x), ("queue", n.q)):
            check(pyamqp_exists(connection.channel, kind, name),
                  "%s: py-amqp finds %s %s" % (what, kind, name))
        check(not pyamqp_exists(connection.channel, "queue", n.transient),
              "%s: py-amqp does not find the non-durable queue" % what)
        ch = connection.channel()
        ch.basic_publish(amqp.Message(b"routed"), exchange=n.fan, routing_key="k.1")
        got = None
        deadline = time.monotonic() + 5
        while got is None and time.monotonic() < deadline:
            got = ch.basic_get(n.q, no_ack=True)
        check(got is not None and got.body == b"routed",
              "%s: a message published to the fanout reaches the queue through both "
              "recovered bindings" % what)
    finally:
        connection.close()


def check_settings(n, what):
    creds = pika.PlainCredentials(n.user, PASSWORD)
    check(pika_exists("queue", n.vhost_q, vhost=n.vhost, credentials=creds),
          "%s: the user made over HTTP logs in to its vhost with its password and finds its "
          "durable queue" % what)
    user = get(path_of("users", n.user)).json or {}
    expect(user.get("tags"), ["management"], "%s: the user's tags" % what)
    expect(get(path_of("users", n.gone_user)).status, 404, "%s: the deleted user stays deleted"
           % what)
    expect(get(path_of("vhosts", n.vhost)).status, 200, "%s: the vhost" % what)
    perm = get(path_of("permissions", n.vhost, n.user)).json or {}
    expect((perm.get("configure"), perm.get("write"), perm.get("read")), ("^dur-", ".*", ".*"),
           "%s: the permissions" % what)
    topic = get(path_of("topic-permissions", n.vhost, n.user)).json or []
    expect([(t.get("exchange"), t.get("write"), t.get("read")) for t in topic],
           [("amq.topic", "^w\\.", "^r\\.")], "%s: the topic permissions" % what)
    limits = get(path_of("vhost-limits", n.vhost)).json or []
    expect([l.get("value") for l in limits], [{"max-queues": 50}], "%s: the vhost's limits" % what)
    policy = get(path_of("policies", n.vhost, n.policy)).json or {}
    expect((policy.get("pattern"), policy.get("definition"), policy.get("priority")),
           ("^dur-vq", {"max-length": 3}, 2), "%s: the policy" % what)
    # RabbitMQ shows a recovered queue's policy once its statistics are refreshed
    queue = wait_json(path_of("queues", n.vhost, n.vhost_q),
                      lambda q: q.get("policy") == n.policy) or {}
    expect(queue.get("policy"), n.policy, "%s: the policy applies to the recovered queue" % what)
    # a permission is enforced, not only shown: configure outside ^dur- is refused
    connection = pika_connection(virtual_host=n.vhost, credentials=creds)
    try:
        connection.channel().queue_declare("other-" + n.vhost_q, durable=True)
        check(False, "%s: the recovered permissions refuse a queue outside ^dur-" % what)
    except pika.exceptions.ChannelClosedByBroker as error:
        expect(error.reply_code, 403, "%s: the recovered permissions refuse configure" % what)
    try:
        connection.close()
    except pika.exceptions.ConnectionWrongStateError:
        pass
    check(pika_exists("exchange", "amq.direct"), "%s: guest still logs in" % what)


def cleanup(n):
    connection = pika_connection()
    ch = connection.channel()
    for q in (n.q, n.auto_q, n.consumed_q):
        ch.queue_delete(q)
    for x in (n.x, n.fan):
        ch.exchange_delete(x)
    connection.close()
    http("DELETE", path_of("vhosts", n.vhost))
    http("DELETE", path_of("users", n.user))


def check_lock():
    """A second Warren on the same data directory refuses to start, and says why."""
    port = own_broker.free_port()
    command = [own_broker.WARREN, "--port", str(port), "--management-port", "0",
               "--prometheus-port", "0", "--data-dir", os.environ["WARREN_DATA_DIR"]]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=own_broker.clean_env())
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        check(False, "a second broker on the same data directory started (it should refuse)")
        return
    expect(proc.returncode, 1, "a second broker on the same data directory exits with 1")
    check("in use by another Warren (pid %s)" % os.environ.get("WARREN_PID", "") in err
          or "in use by another Warren" in err,
          "it says the directory is in use by another Warren (%r)" % err.strip()[-200:])


def main():
    if not can_control_broker() and not BESIDE_DIR:
        print("SKIP: needs a broker this test can restart (with_broker.py's WARREN_CONTROL, or "
              "RABBITMQ_BESIDE_DIR for rabbitmq-beside)")
        return SKIP
    for kind in ("orderly", "kill"):
        n = Names(kind)
        make_settings(n)
        holder = make_topology(n)
        restart(kind)
        try:
            holder.close()
        except Exception:  # the broker went away under it
            pass
        what = "after an %s restart" % kind if kind == "orderly" else "after kill -9"
        check_topology(n, what, kind)
        check_settings(n, what)
        cleanup(n)
    # the deletions of the last round survive a further restart
    restart("orderly")
    check(not pika_exists("queue", n.q), "deleted before a restart: the queue stays deleted")
    expect(get(path_of("vhosts", n.vhost)).status, 404, "the deleted vhost stays deleted")
    if can_control_broker():
        check_lock()
    return exit_status()


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        own_broker.kill_leftovers()
