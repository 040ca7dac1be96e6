#!/usr/bin/python3
"""Interop test: the management HTTP API (urllib) as RabbitMQ 3.10 answers it: codes, errors,
field names and types, and values after a known AMQP workload."""

import sys

import pika
import pika.exceptions

from checks import check, exit_status, expect, pika_connection, process_until, unique
from mgmt import (NOT_FOUND, REALM, connection_named, expect_error, expect_fields,
                  expect_status, field, get, get_json, http, path_of, quote, wait_json)

VHOST = unique("mgmt-vhost")
PASSWORD = "secret-" + unique("pw")
# password_hash for "guest" with rabbit_password_hashing_sha256 (salt + SHA-256, base64)
GUEST_HASH = "BdvxLacSxJHtoXqYlgMeeIihFhAesZXWIlQmXoWdcRquq+oR"
SHA256 = "rabbit_password_hashing_sha256"
ACKMODES = ("ack_requeue_true", "ack_requeue_false", "reject_requeue_true",
            "reject_requeue_false")


def user_name(tag):
    return unique("mgmt-user-" + (tag or "none"))


def put(path, body=None, **options):
    if body is None and "raw_body" not in options:
        body = {}
    return http("PUT", path, body, **options)


def delete(path, **options):
    return http("DELETE", path, **options)


def post(path, body, **options):
    return http("POST", path, body, **options)


# ---- authentication, unknown paths, methods

def check_auth():
    reply = get("/api/overview", user=None)
    expect_status(reply, 401, "no credentials")
    expect(reply.headers.get("www-authenticate"), REALM, "no credentials: WWW-Authenticate")
    reply = get("/api/overview", user=("guest", "wrong"))
    expect_error(reply, 401, "not_authorized", "wrong password", "Login failed")
    expect(reply.headers.get("www-authenticate"), REALM, "wrong password: WWW-Authenticate")
    reply = get("/api/overview", user=(unique("nobody"), "x"))
    expect_error(reply, 401, "not_authorized", "unknown user", "Login failed")
    reply = get("/api/no-such-endpoint")
    expect_status(reply, 404, "unknown endpoint")
    expect(reply.json, NOT_FOUND, "unknown endpoint: body")
    reply = http("POST", "/api/overview", {})
    expect_status(reply, 405, "POST /api/overview")
    check("GET" in reply.headers.get("allow", ""), "405 carries Allow with GET (%r)"
          % reply.headers.get("allow"))
    reply = http("POST", path_of("vhosts", VHOST), {})
    expect_status(reply, 405, "POST /api/vhosts/NAME")
    allow = reply.headers.get("allow", "")
    check(all(m in allow for m in ("GET", "PUT", "DELETE")),
          "/api/vhosts/NAME allows GET, PUT, DELETE (%r)" % allow)


# ---- overview, whoami, nodes

def check_overview():
    body = get_json("/api/overview")
    expect_fields(body, "management_version:s rabbitmq_version:s product_name:s "
                  "product_version:s cluster_name:s node:s erlang_version:s rates_mode:s "
                  "exchange_types:l listeners:l contexts:l message_stats:o queue_totals:o "
                  "object_totals:o object_totals.connections:i object_totals.channels:i "
                  "object_totals.consumers:i object_totals.exchanges:i object_totals.queues:i "
                  "statistics_db_event_queue:i churn_rates:o", "overview")
    if not body:
        return
    names = sorted(t.get("name") for t in body.get("exchange_types", []))
    check(set(["direct", "fanout", "headers", "topic"]) <= set(names),
          "overview.exchange_types names include direct, fanout, headers, topic (%r)" % names)
    amqp = [entry for entry in body.get("listeners", []) if entry.get("protocol") == "amqp"]
    check(len(amqp) >= 1, "overview.listeners has an amqp listener")
    if amqp:
        expect_fields(amqp[0], "node:s protocol:s ip_address:s port:i socket_opts:o",
                      "overview.listeners[amqp]")
    reply = get("/api/overview?columns=rabbitmq_version,object_totals.queues")
    expect(sorted(reply.json or {}), ["object_totals", "rabbitmq_version"],
           "overview?columns= keeps only the named top-level fields")
    expect(get_json("/api/whoami"), {"name": "guest", "tags": ["administrator"]}, "whoami")


def check_nodes():
    # a node's figures appear with its first statistics emission, seconds after boot
    nodes = wait_json("/api/nodes", lambda ns: all("fd_used" in n for n in ns))
    if not check(isinstance(nodes, list) and len(nodes) == 1, "one node listed"):
        return
    node = nodes[0]
    expect_fields(node, "name:s type:s running:b fd_used:i fd_total:i sockets_used:i "
                  "sockets_total:i mem_used:i mem_limit:i mem_alarm:b disk_free:i "
                  "disk_free_limit:i disk_free_alarm:b proc_used:i proc_total:i uptime:i "
                  "processors:i partitions:l os_pid:s run_queue:i", "nodes[0]")
    expect(node.get("type"), "disc", "nodes[0].type")
    expect(node.get("running"), True, "nodes[0].running")
    overview = get_json("/api/overview?columns=node")
    expect(node.get("name"), field(overview, "node"), "nodes[0].name is overview.node")
    one = get_json(path_of("nodes", node.get("name", "")))
    expect(field(one, "name"), node.get("name"), "/api/nodes/NAME")


# ---- vhosts, users, permissions

def check_vhosts():
    path = path_of("vhosts", VHOST)
    expect_status(put(path, {"description": "first", "tags": "a,b"}), 201, "PUT new vhost")
    body = get_json(path)
    expect_fields(body, "name:s description:s tags:l metadata:o tracing:b cluster_state:o",
                  "vhost")
    expect(field(body, "description"), "first", "vhost description")
    expect(field(body, "tags"), ["a", "b"], "vhost tags from \"a,b\"")
    expect(field(body, "metadata"), {"description": "first", "tags": ["a", "b"]},
           "vhost metadata")
    expect_status(put(path, {"description": "second", "tags": ["x"]}), 204,
                  "PUT existing vhost")
    body = get_json(path)
    expect((field(body, "description"), field(body, "tags")), ("second", ["x"]),
           "vhost after update: description and tags replaced")
    reply = put(path, raw_body=b"not json")
    expect_error(reply, 400, "bad_request", "PUT vhost with a body that is not JSON",
                 "not_json")
    names = [v.get("name") for v in get_json("/api/vhosts") or []]
    check("/" in names and VHOST in names, "/api/vhosts lists / and the new vhost")
    default = get_json("/api/vhosts/%2F")
    expect(field(default, "name"), "/", "/api/vhosts/%2F is the default vhost")
    expect(get(path_of("vhosts", unique("missing"))).status, 404, "GET missing vhost")
    # the administrator who creates a vhost gets full permissions on it
    expect(get_json(path_of("permissions", VHOST, "guest")),
           {"user": "guest", "vhost": VHOST, "configure": ".*", "write": ".*", "read": ".*"},
           "creator's permissions on a new vhost")
    scratch = path_of("vhosts", unique("mgmt-scratch"))
    expect_status(put(scratch), 201, "PUT vhost without a body")
    expect_status(delete(scratch), 204, "DELETE vhost")
    expect_error(delete(scratch), 404, "Object Not Found", "DELETE deleted vhost", "Not Found")


def check_users():
    name = user_name("management")
    path = path_of("users", name)
    expect_status(put(path, {"password": PASSWORD, "tags": "management"}), 201, "PUT new user")
    body = get_json(path)
    expect_fields(body, "name:s password_hash:s hashing_algorithm:s tags:l limits:o", "user")
    expect(field(body, "tags"), ["management"], "user tags")
    expect(field(body, "hashing_algorithm"), SHA256, "user hashing_algorithm")
    expect_status(put(path, {"password": PASSWORD, "tags": ["management", "custom"]}), 204,
                  "PUT existing user")
    expect(field(get_json(path), "tags"), ["management", "custom"], "tags as a list")
    hashed = path_of("users", unique("mgmt-user-hashed"))
    expect_status(put(hashed, {"password_hash": GUEST_HASH, "hashing_algorithm": SHA256,
                               "tags": ""}), 201, "PUT user with password_hash")
    expect(field(get_json(hashed), "password_hash"), GUEST_HASH, "password_hash kept as given")
    reply = put(path_of("users", unique("mgmt-user-notags")), {"password": "x"})
    expect_error(reply, 400, "bad_request", "PUT user without tags", "tags_not_present")
    without = [u.get("name") for u in get_json("/api/users/without-permissions") or []]
    check(name in without, "a user without permissions is in /api/users/without-permissions")
    listed = [u.get("name") for u in get_json("/api/users") or []]
    check("guest" in listed and name in listed, "/api/users lists guest and the new user")
    expect_status(delete(hashed), 204, "DELETE user")
    expect_status(delete(hashed), 404, "DELETE deleted user")
    expect(get(path_of("users", unique("missing"))).status, 404, "GET missing user")


def check_permissions():
    name = user_name("management")
    path = path_of("permissions", VHOST, name)
    body = {"configure": ".*", "write": ".*", "read": ".*"}
    expect_status(put(path, body), 201, "PUT new permissions")
    expect_status(put(path, body), 204, "PUT existing permissions")
    expect(get_json(path), dict(body, user=name, vhost=VHOST), "GET permissions")
    mine = get_json(path_of("users", name, "permissions"))
    expect(mine, [dict(body, user=name, vhost=VHOST)], "/api/users/NAME/permissions")
    of_vhost = [p.get("user") for p in get_json(path_of("vhosts", VHOST, "permissions")) or []]
    check(name in of_vhost, "/api/vhosts/V/permissions lists the user")
    listed = get_json("/api/permissions") or []
    check(any(p.get("user") == name and p.get("vhost") == VHOST for p in listed),
          "/api/permissions lists the new permissions")
    without = [u.get("name") for u in get_json("/api/users/without-permissions") or []]
    check(name not in without, "a user with permissions leaves without-permissions")
    reply = put(path, {"configure": ".*"})
    expect_error(reply, 400, "bad_request", "PUT permissions without write and read",
                 "[{key_missing,write},{key_missing,read}]")
    reply = put(path_of("permissions", unique("missing"), name), body)
    expect_error(reply, 400, "bad_request", "PUT permissions on a missing vhost",
                 "vhost_or_user_not_found")
    reply = put(path_of("permissions", VHOST, unique("missing")), body)
    expect_error(reply, 400, "bad_request", "PUT permissions for a missing user",
                 "vhost_or_user_not_found")
    expect(get(path_of("permissions", "/", name)).status, 404, "GET missing permissions")


def check_topic_permissions():
    name = user_name("management")
    path = path_of("topic-permissions", VHOST, name)
    body = {"exchange": "amq.topic", "write": "^w", "read": ".*"}
    expect_status(put(path, body), 201, "PUT first topic permissions")
    expect_status(put(path, dict(body, exchange="other")), 204,
                  "PUT topic permissions for a second exchange")
    listed = get_json(path) or []
    expect(sorted(p.get("exchange") for p in listed), ["amq.topic", "other"],
           "GET topic permissions lists one entry per exchange")
    if listed:
        expect(sorted(listed[0]), ["exchange", "read", "user", "vhost", "write"],
               "topic permission fields")
    check(any(p.get("user") == name for p in get_json("/api/topic-permissions") or []),
          "/api/topic-permissions lists them")
    expect(len(get_json(path_of("users", name, "topic-permissions")) or []), 2,
           "/api/users/NAME/topic-permissions")
    reply = put(path, {"write": "", "read": ""})
    expect_error(reply, 400, "bad_request", "PUT topic permissions without exchange",
                 "[{key_missing,exchange}]")
    expect_status(delete(path), 204, "DELETE topic permissions")
    expect_status(get(path), 404, "GET deleted topic permissions")


def check_user_tags():
    """What each user tag may see and do."""
    names = {}
    for tag in ("", "monitoring", "management", "policymaker"):
        name = user_name(tag)
        names[tag] = name
        if tag != "management":  # made by check_users, with permissions on VHOST
            put(path_of("users", name), {"password": PASSWORD, "tags": tag})
            put(path_of("permissions", VHOST, name), {"configure": ".*", "write": ".*",
                                                     "read": ".*"})

    def as_user(tag):
        return (names[tag], PASSWORD)

    reply = get("/api/overview", user=as_user(""))
    expect_error(reply, 401, "not_authorised", "user without tags: overview",
                 "Not management user")
    check("www-authenticate" not in reply.headers,
          "an authorisation refusal carries no WWW-Authenticate")
    expect(get("/api/whoami", user=as_user("")).status, 401, "user without tags: whoami")
    expect(get_json("/api/whoami", user=as_user("management")),
           {"name": names["management"], "tags": ["management", "custom"]},
           "whoami as a management user")
    for tag in ("monitoring", "management", "policymaker"):
        expect(get("/api/overview", user=as_user(tag)).status, 200, "%s: overview" % tag)
        expect_error(get("/api/users", user=as_user(tag)), 401, "not_authorised",
                     "%s: /api/users" % tag, "Not administrator user")
        expect_error(get("/api/definitions", user=as_user(tag)), 401, "not_authorised",
                     "%s: /api/definitions" % tag, "Not administrator user")
    expect(get("/api/nodes", user=as_user("monitoring")).status, 200, "monitoring: nodes")
    expect_error(get("/api/nodes", user=as_user("management")), 401, "not_authorised",
                 "management: nodes", "Not monitor user")
    seen = [v.get("name") for v in get_json("/api/vhosts", user=as_user("management")) or []]
    expect(seen, [VHOST], "management user sees only the vhosts it has permissions on")
    expect_error(get("/api/queues/%2F", user=as_user("management")), 401, "not_authorised",
                 "management: queues of a vhost without permissions",
                 "User not authorised to access virtual host")
    expect_error(get("/api/vhosts/%2F", user=as_user("management")), 401, "not_authorised",
                 "management: GET another vhost", "Not administrator user")
    expect_error(put(path_of("vhosts", unique("mgmt-refused")), user=as_user("management")),
                 401, "not_authorised", "management: PUT vhost", "Not administrator user")
    queue = path_of("queues", VHOST, unique("mgmt-by-management"))
    expect_status(put(queue, user=as_user("management")), 201, "management: PUT queue")
    expect_status(delete(queue, user=as_user("management")), 204, "management: DELETE queue")
    policy = {"pattern": "^never", "definition": {"max-length": 1}}
    policy_path = path_of("policies", VHOST, unique("mgmt-by-tag"))
    expect_error(put(policy_path, policy, user=as_user("management")), 401, "not_authorised",
                 "management: PUT policy", "User not authorised to access object")
    expect_status(put(policy_path, policy, user=as_user("policymaker")), 201,
                  "policymaker: PUT policy")
    expect_status(delete(policy_path, user=as_user("policymaker")), 204,
                  "policymaker: DELETE policy")
    expect(get("/api/global-parameters", user=as_user("management")).status, 401,
           "management: global-parameters")
    return names


# ---- policies, parameters, limits

def check_policies():
    for kind in ("policies", "operator-policies"):
        name = unique("mgmt-" + kind)
        path = path_of(kind, VHOST, name)
        body = {"pattern": "^mgmt-never", "definition": {"max-length": 10}, "priority": 3,
                "apply-to": "queues"}
        expect_status(put(path, body), 201, "PUT new %s" % kind)
        expect(get_json(path), dict(body, vhost=VHOST, name=name), "GET %s" % kind)
        expect_status(put(path, {"pattern": "^mgmt-never", "definition": {"max-length": 11}}),
                      204, "PUT existing %s" % kind)
        updated = get_json(path) or {}
        expect((updated.get("priority"), updated.get("apply-to")), (0, "all"),
               "%s PUT without priority and apply-to resets them to 0 and all" % kind)
        check(any(p.get("name") == name for p in get_json("/api/" + kind) or []),
              "/api/%s lists it" % kind)
        expect([p.get("name") for p in get_json(path_of(kind, VHOST)) or []], [name],
               "/api/%s/VHOST lists it" % kind)
        expect_error(put(path, {"pattern": "x"}), 400, "bad_request",
                     "%s without definition" % kind, "[{key_missing,definition}]")
        expect_error(put(path, {"pattern": "x", "definition": {"no-such-key": 1}}), 400,
                     "bad_request", "%s with an unknown key" % kind)
        expect_error(put(path, {"pattern": "x", "definition": {"max-length": 1},
                                "apply-to": "nothing"}), 400, "bad_request",
                     "%s with a bad apply-to" % kind)
        expect_status(delete(path), 204, "DELETE %s" % kind)
        expect_status(delete(path), 404, "DELETE deleted %s" % kind)
        expect_status(get(path), 404, "GET deleted %s" % kind)


def check_parameters():
    check(isinstance(get_json("/api/parameters"), list), "/api/parameters is a list")
    reply = put(path_of("parameters", "no-such-component", VHOST, "x"), {"value": {}})
    expect_error(reply, 400, "bad_request", "PUT parameter of an unknown component")
    expect(get(path_of("parameters", "federation-upstream", VHOST, "x")).status, 404,
           "GET missing parameter")
    listed = get_json("/api/global-parameters") or []
    check(any(p.get("name") == "internal_cluster_id" for p in listed),
          "/api/global-parameters has internal_cluster_id")


def check_limits(names):
    path = path_of("vhost-limits", VHOST, "max-connections")
    expect_status(put(path, {"value": 100}), 204, "PUT vhost limit")
    expect_status(put(path_of("vhost-limits", VHOST, "max-queues"), {"value": 50}), 204,
                  "PUT second vhost limit")
    expect(get_json(path_of("vhost-limits", VHOST)),
           [{"vhost": VHOST, "value": {"max-connections": 100, "max-queues": 50}}],
           "GET /api/vhost-limits/VHOST")
    check(any(entry.get("vhost") == VHOST for entry in get_json("/api/vhost-limits") or []),
          "/api/vhost-limits lists the vhost")
    expect_error(put(path_of("vhost-limits", VHOST, "max-bogus"), {"value": 1}), 400,
                 "bad_request", "PUT unknown vhost limit")
    expect_error(put(path, {}), 400, "bad_request", "PUT vhost limit without value",
                 "[{key_missing,value}]")
    expect_status(delete(path_of("vhost-limits", VHOST, "max-queues")), 204,
                  "DELETE vhost limit")
    expect(get_json(path_of("vhost-limits", VHOST)),
           [{"vhost": VHOST, "value": {"max-connections": 100}}], "vhost limits after DELETE")
    expect_status(delete(path), 204, "DELETE last vhost limit")
    expect(get(path_of("vhost-limits", unique("missing"))).status, 404,
           "vhost limits of a missing vhost")

    user = names["monitoring"]
    path = path_of("user-limits", user, "max-connections")
    expect_status(put(path, {"value": 7}), 204, "PUT user limit")
    expect(get_json(path_of("user-limits", user)), [{"user": user, "value":
                                                      {"max-connections": 7}}],
           "GET /api/user-limits/USER")
    check(any(entry.get("user") == user for entry in get_json("/api/user-limits") or []),
          "/api/user-limits lists the user")
    expect(field(get_json(path_of("users", user)), "limits"), {"max-connections": 7},
           "the user's limits field")
    expect_error(put(path_of("user-limits", user, "max-queues"), {"value": 1}), 400,
                 "bad_request", "PUT unknown user limit")
    expect_status(delete(path), 204, "DELETE user limit")
    expect(get_json(path_of("user-limits", user)), [], "user limits after DELETE")


# ---- exchanges, queues, bindings, messages

def check_exchanges():
    name = unique("mgmt-x")
    path = path_of("exchanges", VHOST, name)
    body = {"type": "topic", "durable": True, "auto_delete": False, "internal": False,
            "arguments": {"alternate-exchange": "nowhere"}}
    expect_status(put(path, body), 201, "PUT new exchange")
    expect_status(put(path, body), 204, "PUT same exchange again")
    reply = put(path, {"type": "direct", "durable": True})
    expect_error(reply, 400, "bad_request", "PUT exchange with another type",
                 "inequivalent arg 'type' for exchange '%s' in vhost '%s': received 'direct' "
                 "but current is 'topic'" % (name, VHOST))
    got = get_json(path)
    expect_fields(got, "name:s vhost:s type:s durable:b auto_delete:b internal:b arguments:o "
                  "incoming:l outgoing:l", "exchange")
    expect({k: field(got, k) for k in body}, body, "exchange as declared")
    plain = path_of("exchanges", VHOST, unique("mgmt-x-plain"))
    expect_status(put(plain), 201, "PUT exchange with an empty body")
    defaults = get_json(plain) or {}
    expect((defaults.get("type"), defaults.get("durable"), defaults.get("auto_delete")),
           ("direct", False, False), "an empty body declares a transient direct exchange")
    expect_error(put(path_of("exchanges", VHOST, "mgmt-x"), {"type": "no-such"}), 400,
                 "bad_request", "PUT exchange of an unknown type",
                 "unknown exchange type 'no-such'")
    expect_error(put(path_of("exchanges", unique("missing"), "x"), {"type": "direct"}), 404,
                 "not_found", "PUT exchange in a missing vhost", "vhost_not_found")
    expect_error(put(path_of("exchanges", VHOST, "amq.mgmt"), {"type": "direct"}), 401,
                 "not_authorised", "PUT exchange named amq.*", "Access refused.")
    default = get_json(path_of("exchanges", VHOST, "amq.default"))
    expect((field(default, "name"), field(default, "type")), ("", "direct"),
           "amq.default names the default exchange")
    names = [x.get("name") for x in get_json(path_of("exchanges", VHOST)) or []]
    check({"", "amq.direct", "amq.fanout", "amq.headers", "amq.match", "amq.topic",
           "amq.rabbitmq.trace", name} <= set(names),
          "/api/exchanges/VHOST lists the standard exchanges and the new one")
    expect(get(path_of("exchanges", VHOST, unique("missing"))).status, 404, "GET missing exchange")
    return name, plain


def check_queues_declare():
    name = unique("mgmt-q")
    path = path_of("queues", VHOST, name)
    expect_status(put(path, {"durable": True, "arguments": {"x-max-length": 100}}), 201,
                  "PUT new queue")
    expect_status(put(path, {"durable": True, "arguments": {"x-max-length": 100}}), 204,
                  "PUT same queue again")
    expect_error(put(path, {"durable": False, "arguments": {"x-max-length": 100}}), 400,
                 "bad_request", "PUT queue with other durability",
                 "inequivalent arg 'durable' for queue '%s' in vhost '%s': received 'false' "
                 "but current is 'true'" % (name, VHOST))
    expect_error(put(path_of("queues", VHOST, unique("mgmt-q-bad")),
                     {"arguments": {"x-max-length": "many"}}), 400, "bad_request",
                 "PUT queue with a bad x-max-length")
    expect_error(put(path_of("queues", VHOST, "amq.mgmt")), 401, "not_authorised",
                 "PUT queue named amq.*", "Access refused.")
    expect_error(put(path_of("queues", unique("missing"), "q")), 404, "not_found",
                 "PUT queue in a missing vhost", "vhost_not_found")
    got = wait_json(path, lambda q: "messages" in q)
    expect_fields(got, "name:s vhost:s durable:b auto_delete:b exclusive:b arguments:o "
                  "type:s node:s state:s consumers:i messages:i messages_ready:i "
                  "messages_unacknowledged:i messages_details.rate:n "
                  "messages_ready_details.rate:n messages_unacknowledged_details.rate:n "
                  "message_bytes:i memory:i policy:s? exclusive_consumer_tag:s? "
                  "consumer_details:l", "queue")
    expect((field(got, "type"), field(got, "durable"), field(got, "arguments")),
           ("classic", True, {"x-max-length": 100}), "queue as declared")
    expect(get(path_of("queues", VHOST, unique("missing"))).status, 404, "GET missing queue")
    quorum = path_of("queues", VHOST, unique("mgmt-qq"))
    expect_status(put(quorum, {"durable": True, "arguments": {"x-queue-type": "quorum"}}), 201,
                  "PUT quorum queue")
    expect(field(get_json(quorum), "type"), "quorum", "quorum queue type")
    reply = delete(quorum + "?if-empty=true")
    expect_error(reply, 400, "bad_request", "DELETE quorum queue with if-empty")
    expect_status(delete(quorum), 204, "DELETE quorum queue")
    return name


def check_bindings(exchange, queue):
    base = path_of("bindings", VHOST, "e", exchange, "q", queue)
    reply = post(base, {"routing_key": "a.b", "arguments": {"x-match-me": "y"}})
    expect_status(reply, 201, "POST binding")
    location = reply.headers.get("location", "")
    check(location.startswith(quote(queue) + "/a.b~"),
          "Location is QUEUE/ROUTINGKEY~HASH relative to the request (%r)" % location)
    reply = post(base, {"routing_key": "plain"})
    expect((reply.status, reply.headers.get("location")), (201, quote(queue) + "/plain"),
           "POST binding without arguments: Location")
    expect(post(base, {}).headers.get("location"), quote(queue) + "/~",
           "POST binding with an empty routing key: Location ends in ~")
    listed = get_json(base) or []
    expect(sorted(b.get("routing_key") for b in listed), ["", "a.b", "plain"],
           "GET /api/bindings/V/e/E/q/Q lists the three")
    for entry in listed:
        expect_fields(entry, "source:s vhost:s destination:s destination_type:s "
                      "routing_key:s arguments:o properties_key:s", "binding")
    keys = {b.get("routing_key"): b.get("properties_key") for b in listed}
    expect((keys.get("plain"), keys.get("")), ("plain", "~"),
           "properties_key: the routing key, or ~ when empty, without arguments")
    with_args = keys.get("a.b") or "a.b~missing"
    check(with_args.startswith("a.b~"), "properties_key with arguments is KEY~HASH")
    one = get_json(base + "/" + quote(with_args))
    expect(field(one, "arguments"), {"x-match-me": "y"}, "GET one binding by properties_key")
    expect(get(base + "/no-such-key").status, 404, "GET binding with an unknown key")
    sources = get_json(path_of("exchanges", VHOST, exchange, "bindings", "source")) or []
    expect(len(sources), 3, "/api/exchanges/V/E/bindings/source")
    queue_bindings = get_json(path_of("queues", VHOST, queue, "bindings")) or []
    expect(sorted((b.get("source"), b.get("routing_key")) for b in queue_bindings),
           [("", queue), (exchange, ""), (exchange, "a.b"), (exchange, "plain")],
           "/api/queues/V/Q/bindings includes the default exchange binding")
    vhost_bindings = get_json(path_of("bindings", VHOST)) or []
    check(len(vhost_bindings) >= 4, "/api/bindings/VHOST lists them")
    check(any(b.get("vhost") == VHOST for b in get_json("/api/bindings") or []),
          "/api/bindings lists them")
    expect_error(post(path_of("bindings", VHOST, "e", unique("missing"), "q", queue), {}), 404,
                 "not_found", "POST binding from a missing exchange",
                 "no exchange '%s' in vhost '%s'" % (unique("missing"), VHOST))
    expect_error(post(path_of("bindings", VHOST, "e", exchange, "q", unique("missing")), {}),
                 404, "not_found", "POST binding to a missing queue",
                 "no queue '%s' in vhost '%s'" % (unique("missing"), VHOST))
    expect_error(post(path_of("bindings", VHOST, "e", "amq.default", "q", queue), {}), 401,
                 "not_authorised", "POST binding from the default exchange")
    expect_status(delete(base + "/plain"), 204, "DELETE binding")
    expect_status(delete(base + "/plain"), 404, "DELETE deleted binding")
    reply = delete(path_of("exchanges", VHOST, exchange) + "?if-unused=true")
    expect_error(reply, 400, "bad_request", "DELETE bound exchange with if-unused",
                 "exchange '%s' in vhost '%s' in use" % (exchange, VHOST))

    target = unique("mgmt-x-target")
    put(path_of("exchanges", VHOST, target), {"type": "fanout"})
    e2e = path_of("bindings", VHOST, "e", exchange, "e", target)
    reply = post(e2e, {"routing_key": "k"})
    expect((reply.status, reply.headers.get("location")), (201, quote(target) + "/k"),
           "POST exchange-to-exchange binding")
    expect([b.get("destination_type") for b in get_json(e2e) or []], ["exchange"],
           "GET /api/bindings/V/e/E/e/E")
    dests = get_json(path_of("exchanges", VHOST, target, "bindings", "destination")) or []
    expect([(b.get("source"), b.get("routing_key")) for b in dests], [(exchange, "k")],
           "/api/exchanges/V/E/bindings/destination")
    expect_status(delete(e2e + "/k"), 204, "DELETE exchange-to-exchange binding")
    expect_status(delete(path_of("exchanges", VHOST, target) + "?if-unused=true"), 204,
                  "DELETE unbound exchange with if-unused")


def publish_through_api(exchange, routing_key, payload, encoding="string", properties=None):
    return post(path_of("exchanges", VHOST, exchange, "publish"),
                {"properties": properties or {}, "routing_key": routing_key,
                 "payload": payload, "payload_encoding": encoding})


def get_messages(queue, count, ackmode, encoding="auto", truncate=None):
    body = {"count": count, "ackmode": ackmode, "encoding": encoding}
    if truncate is not None:
        body["truncate"] = truncate
    return post(path_of("queues", VHOST, queue, "get"), body)


def check_publish_and_get(queue):
    reply = publish_through_api("amq.default", queue, "hello")
    expect((reply.status, reply.json), (200, {"routed": True}), "publish to a queue")
    properties = {"delivery_mode": 2, "headers": {"h": 1}, "content_type": "text/plain",
                  "correlation_id": "c1", "priority": 3, "message_id": "m1",
                  "timestamp": 1700000000, "type": "t", "app_id": "a", "reply_to": "r",
                  "expiration": "60000"}
    reply = publish_through_api("amq.default", queue, "AAEC/w==", "base64", properties)
    expect(reply.json, {"routed": True}, "publish base64 with properties")
    expect((publish_through_api("amq.default", unique("nowhere"), "x").json), {"routed": False},
           "publish to no queue: routed false")
    reply = post(path_of("exchanges", VHOST, "amq.default", "publish"),
                 {"routing_key": queue, "payload": "x"})
    expect_error(reply, 400, "bad_request", "publish without properties and payload_encoding",
                 "[{key_missing,properties},{key_missing,payload_encoding}]")
    expect_error(publish_through_api("amq.default", queue, "!!", "base64"), 400, "bad_request",
                 "publish bad base64")
    reply = publish_through_api(unique("missing"), queue, "x")
    expect_error(reply, 400, "bad_request", "publish to a missing exchange",
                 "404 NOT_FOUND - no exchange '%s' in vhost '%s'" % (unique("missing"), VHOST))
    reply = publish_through_api("amq.default", queue, "x", properties={"user_id": "other"})
    expect_error(reply, 400, "bad_request", "publish with someone else's user_id",
                 "406 PRECONDITION_FAILED - user_id property set to 'other' but "
                 "authenticated user was 'guest'")

    reply = get_messages(queue, 2, "ack_requeue_true")
    expect_status(reply, 200, "POST /get")
    got = reply.json or [{}, {}]
    if not check(isinstance(got, list) and len(got) == 2, "two messages got"):
        return
    expect(got[0], {"payload_bytes": 5, "redelivered": False, "exchange": "",
                    "routing_key": queue, "message_count": 1, "properties": [],
                    "payload": "hello", "payload_encoding": "string"},
           "first message; no properties is an empty list")
    expect((got[1].get("payload"), got[1].get("payload_encoding"), got[1].get("payload_bytes")),
           ("AAEC/w==", "base64", 4), "binary payload comes back in base64 under auto")
    expect(got[1].get("properties"), properties, "all properties come back")
    expect(got[1].get("message_count"), 0, "message_count counts those left after this one")
    reply = get_messages(queue, 5, "ack_requeue_true", "base64", truncate=2)
    again = reply.json or [{}]
    expect([(m.get("payload"), m.get("payload_bytes"), m.get("redelivered")) for m in again],
           [("aGU=", 5, True), ("AAE=", 4, True)],
           "base64 with truncate 2: payload cut, payload_bytes whole, redelivered")
    expect_error(get_messages(queue, 1, "ack_requeue_true", "hex"), 400, "bad_request",
                 "get with encoding hex", "Unsupported encoding. Please use auto or base64.")
    expect_error(post(path_of("queues", VHOST, queue, "get"), {"count": 1}), 400, "bad_request",
                 "get without ackmode and encoding",
                 "[{key_missing,ackmode},{key_missing,encoding}]")
    expect_error(get_messages(unique("missing"), 1, "ack_requeue_true"), 404, "not_found",
                 "get from a missing queue",
                 "NOT_FOUND - no queue '%s' in vhost '%s'" % (unique("missing"), VHOST))
    reply = get_messages(queue, 1, "ack_requeue_false")
    expect([m.get("payload") for m in reply.json or []], ["hello"], "ack_requeue_false takes one")
    reply = get_messages(queue, 1, "reject_requeue_true")
    expect([m.get("payload") for m in reply.json or []], ["AAEC/w=="], "reject_requeue_true")
    reply = get_messages(queue, 1, "reject_requeue_false")
    expect([m.get("payload") for m in reply.json or []], ["AAEC/w=="],
           "reject_requeue_false gets the requeued one")
    expect(get_messages(queue, 1, "ack_requeue_true").json, [],
           "the queue is empty after ack_requeue_false and reject_requeue_false")
    for body in ("one", "two"):
        publish_through_api("amq.default", queue, body)
    reply = delete(path_of("queues", VHOST, queue) + "?if-empty=true")
    expect_error(reply, 400, "bad_request", "DELETE non-empty queue with if-empty",
                 "queue '%s' in vhost '%s' not empty" % (queue, VHOST))
    expect_status(delete(path_of("queues", VHOST, queue, "contents")), 204,
                  "DELETE /contents (purge)")
    expect(get_messages(queue, 5, "ack_requeue_true").json, [], "the queue is empty after purge")
    expect_status(get(path_of("queues", VHOST, queue, "contents")), 405, "GET /contents")
    expect(delete(path_of("queues", VHOST, unique("missing"), "contents")).status, 404,
           "purge a missing queue")


# ---- the AMQP workload, connections, channels, consumers

def amqp_workload(connection, queue):
    """Publishes 3 (confirmed), then a consumer with prefetch 2 takes 1, acks it, nacks the
    next with requeue, and keeps the redelivery and the third unacked: ready 0, unacked 2."""
    channel = connection.channel()
    channel.confirm_delivery()
    for n in range(3):
        channel.basic_publish("", queue, b"m%d" % n)
    consumer = connection.channel()
    consumer.basic_qos(prefetch_count=2)
    deliveries = []
    consumer.basic_consume(queue, lambda _ch, method, _p, _b: deliveries.append(method),
                           consumer_tag=unique("mgmt-ctag"))
    process_until(connection, lambda: len(deliveries) >= 2)
    if len(deliveries) < 2:
        return None
    consumer.basic_ack(deliveries[0].delivery_tag)
    consumer.basic_nack(deliveries[1].delivery_tag, requeue=True)
    process_until(connection, lambda: len(deliveries) >= 4)
    expect(len(deliveries), 4, "the consumer got 4 deliveries (one a redelivery)")
    return consumer


def check_queue_stats(queue):
    path = path_of("queues", VHOST, queue)
    wanted = {"messages": 2, "messages_ready": 0, "messages_unacknowledged": 2, "consumers": 1,
              "message_stats.publish": 3, "message_stats.ack": 1,
              "message_stats.deliver_get": 4, "message_stats.redeliver": 1}
    got = wait_json(path, lambda q: all(field(q, k) == v for k, v in wanted.items()))
    expect({k: field(got, k) for k in wanted}, wanted, "queue counts after the workload")
    expect_fields(got, "message_stats.publish_details.rate:n message_stats.ack_details.rate:n "
                  "message_stats.deliver_get_details.rate:n message_stats.deliver:i "
                  "message_stats.deliver_no_ack:i message_stats.get:i "
                  "message_stats.get_no_ack:i message_stats.redeliver_details.rate:n",
                  "queue message_stats")
    details = field(got, "consumer_details", [])
    if check(len(details) == 1, "queue consumer_details has the consumer"):
        expect_fields(details[0], "consumer_tag:s ack_required:b exclusive:b prefetch_count:i "
                      "arguments:o channel_details.name:s channel_details.connection_name:s "
                      "queue.name:s queue.vhost:s", "consumer_details[0]")
        expect((details[0].get("consumer_tag"), details[0].get("prefetch_count")),
               (unique("mgmt-ctag"), 2), "consumer tag and prefetch")
    nested = get_json(path_of("queues", VHOST) + "?columns=name,message_stats.publish")
    expect([q for q in nested or [] if q.get("name") == queue],
           [{"name": queue, "message_stats": {"publish": 3}}],
           "columns=a.b on a list keeps only that nested field")
    reply = delete(path + "?if-unused=true")
    expect_error(reply, 400, "bad_request", "DELETE queue in use with if-unused",
                 "queue '%s' in vhost '%s' in use" % (queue, VHOST))
    overview = wait_json("/api/overview", lambda o: field(o, "object_totals.consumers", 0) >= 1)
    expect_fields(overview, "queue_totals.messages:i queue_totals.messages_ready:i "
                  "queue_totals.messages_unacknowledged:i message_stats.publish:i "
                  "message_stats.deliver_get:i message_stats.ack:i message_stats.confirm:i",
                  "overview after the workload")


def check_connection(name, queue):
    entry = connection_named(name)
    if not check(entry is not None, "the AMQP connection is in /api/connections"):
        return None
    expect_fields(entry, "name:s user:s vhost:s protocol:s state:s channels:i "
                  "peer_host:s peer_port:i host:s port:i auth_mechanism:s ssl:b "
                  "frame_max:i channel_max:i timeout:i client_properties:o connected_at:i "
                  "recv_oct:i send_oct:i type:s node:s user_provided_name:s", "connection")
    expect((entry.get("user"), entry.get("vhost"), entry.get("protocol"), entry.get("state"),
            entry.get("auth_mechanism"), entry.get("type")),
           ("guest", VHOST, "AMQP 0-9-1", "running", "PLAIN", "network"),
           "connection user, vhost, protocol, state, mechanism, type")
    expect(field(entry, "client_properties.connection_name"), name,
           "client_properties carry what the client sent")
    path = path_of("connections", entry["name"])
    one = get_json(path)
    expect(field(one, "name"), entry["name"], "GET /api/connections/NAME")
    wanted_channels = wait_json(path, lambda c: c.get("channels") == 2)
    expect(field(wanted_channels, "channels"), 2, "connection channels")
    channels = wait_json(path + "/channels", lambda chs: len(chs) == 2) or []
    expect(sorted(c.get("number") for c in channels), [1, 2], "/api/connections/NAME/channels")
    for channel in channels:
        expect_fields(channel, "name:s number:i user:s vhost:s connection_details.name:s "
                      "connection_details.peer_port:i prefetch_count:i consumer_count:i "
                      "messages_unacknowledged:i confirm:b transactional:b state:s",
                      "channel")
    by_number = {c.get("number"): c for c in channels}
    expect((field(by_number.get(1), "confirm"), field(by_number.get(2), "consumer_count")),
           (True, 1), "channel 1 in confirm mode, channel 2 with the consumer")
    expect(field(by_number.get(2), "name"), "%s (2)" % entry["name"],
           "a channel is named after its connection and number")
    publisher = wait_json(path_of("channels", "%s (1)" % entry["name"]),
                          lambda c: field(c, "message_stats.publish") == 3)
    expect((field(publisher, "message_stats.publish"), field(publisher, "message_stats.confirm")),
           (3, 3), "/api/channels/NAME message_stats publish and confirm")
    all_channels = [c.get("name") for c in get_json("/api/channels") or []]
    check("%s (2)" % entry["name"] in all_channels, "/api/channels lists the channel")
    vhost_connections = [c.get("name") for c in get_json(path_of("vhosts", VHOST,
                                                                 "connections")) or []]
    expect(vhost_connections, [entry["name"]], "/api/vhosts/V/connections")
    consumers = get_json(path_of("consumers", VHOST)) or []
    expect([(c.get("consumer_tag"), field(c, "queue.name")) for c in consumers],
           [(unique("mgmt-ctag"), queue)], "/api/consumers/VHOST")
    check(any(c.get("consumer_tag") == unique("mgmt-ctag") for c in
              get_json("/api/consumers") or []), "/api/consumers lists it")
    expect(get(path_of("connections", unique("missing"))).status, 404, "GET missing connection")
    expect(get(path_of("channels", unique("missing"))).status, 404, "GET missing channel")
    return entry["name"]


def check_close_connection(connection, listed_name):
    reason = "mgmt test says goodbye"
    reply = delete(path_of("connections", listed_name), headers={"X-Reason": reason})
    expect_status(reply, 204, "DELETE /api/connections/NAME with X-Reason")
    try:
        process_until(connection, lambda: not connection.is_open)
        check(False, "the client sees its connection closed")
    except pika.exceptions.ConnectionClosedByBroker as error:
        expect((error.reply_code, error.reply_text), (320, "CONNECTION_FORCED - " + reason),
               "the client gets connection.close 320 with the X-Reason text")
    gone = wait_json("/api/connections", lambda conns: all(
        c.get("name") != listed_name for c in conns))
    check(gone is not None and all(c.get("name") != listed_name for c in gone),
          "the closed connection leaves /api/connections")
    expect(delete(path_of("connections", listed_name)).status, 404, "DELETE it again")

    name = unique("mgmt-conn-default")
    other = pika_connection(client_properties={"connection_name": name}, virtual_host=VHOST)
    entry = connection_named(name)
    delete(path_of("connections", field(entry, "name", "missing")))
    try:
        process_until(other, lambda: not other.is_open)
    except pika.exceptions.ConnectionClosedByBroker as error:
        expect((error.reply_code, error.reply_text),
               (320, "CONNECTION_FORCED - Closed via management plugin"),
               "without X-Reason the text is 'Closed via management plugin'")
        return
    check(False, "the second connection closed through the API")


# ---- listing options

def check_listing_options():
    names = sorted(x.get("name") for x in get_json(path_of("exchanges", VHOST)) or [])
    total = len(names)
    reply = get(path_of("exchanges", VHOST) + "?page=1&page_size=3&columns=name")
    page = reply.json or {}
    expect(sorted(page), ["filtered_count", "item_count", "items", "page", "page_count",
                          "page_size", "total_count"], "a paged reply's fields")
    expect((page.get("page"), page.get("page_size"), page.get("item_count"),
            page.get("total_count"), page.get("filtered_count"), page.get("page_count")),
           (1, 3, 3, total, total, (total + 2) // 3), "page 1 of size 3")
    expect(page.get("items"), [{"name": n} for n in names[:3]],
           "items sorted by name, columns=name keeps only name")
    page = get_json(path_of("exchanges", VHOST) + "?page=1&name=amq.&columns=name") or {}
    amq = [n for n in names if "amq." in n]
    expect((page.get("filtered_count"), page.get("page_size")), (len(amq), 100),
           "name= filters by substring; page_size defaults to 100")
    page = get_json(path_of("exchanges", VHOST) + "?page=1&name=DIRECT&columns=name") or {}
    expect([i.get("name") for i in page.get("items", [])], ["amq.direct"],
           "name= without regex is case-insensitive")
    page = get_json(path_of("exchanges", VHOST) +
                    "?page=1&use_regex=true&columns=name&name=" +
                    quote("^amq\\.(direct|fanout)$")) or {}
    expect([i.get("name") for i in page.get("items", [])], ["amq.direct", "amq.fanout"],
           "use_regex=true matches a regular expression")
    page = get_json(path_of("exchanges", VHOST) + "?page=1&name=amq.*c&columns=name") or {}
    expect(page.get("filtered_count"), 0, "without use_regex .* is literal")
    reply = get(path_of("exchanges", VHOST) + "?page=99&page_size=3")
    expect_error(reply, 400, "page_out_of_range", "a page beyond the end")
    expect_error(get(path_of("exchanges", VHOST) + "?page=0"), 400,
                 "invalid_pagination_parameters", "page 0")
    expect_error(get(path_of("exchanges", VHOST) + "?page=1&page_size=501"), 400,
                 "invalid_pagination_parameters", "page_size 501")
    expect_error(get(path_of("exchanges", VHOST) + "?page=x"), 400, "bad_request",
                 "page not a number", "Pagination parameters are invalid")
    listed = get_json(path_of("exchanges", VHOST) + "?sort=name&sort_reverse=true&columns=name")
    expect([x.get("name") for x in listed or []], list(reversed(names)),
           "sort=name&sort_reverse=true")
    by_type = get_json(path_of("exchanges", VHOST) + "?sort=type&columns=type") or []
    types = [x.get("type") for x in by_type]
    expect(types, sorted(types), "sort=type")
    one = get_json(path_of("exchanges", VHOST, "amq.direct") + "?columns=name,type")
    expect(one, {"name": "amq.direct", "type": "direct"}, "columns= on a single object")


# ---- definitions, health

def check_definitions(exchange, queue):
    body = get_json("/api/definitions") or {}
    expect_fields(body, "rabbit_version:s rabbitmq_version:s product_name:s product_version:s "
                  "users:l vhosts:l permissions:l topic_permissions:l parameters:l "
                  "global_parameters:l policies:l queues:l exchanges:l bindings:l",
                  "definitions")
    check(any(q.get("name") == queue and q.get("vhost") == VHOST for q in body.get("queues", [])),
          "definitions list the queue")
    check(all(not x.get("name", "").startswith("amq.") and x.get("name") for x in
              body.get("exchanges", [])), "definitions leave out amq.* and the default exchange")
    check(all(b.get("source") for b in body.get("bindings", [])),
          "definitions leave out default-exchange bindings")
    of_vhost = get_json(path_of("definitions", VHOST)) or {}
    expect(sorted(of_vhost), ["bindings", "exchanges", "parameters", "policies", "queues",
                              "rabbit_version"], "vhost definitions' sections")
    check(all("vhost" not in q for q in of_vhost.get("queues", [])),
          "vhost definitions carry no vhost fields")
    check(any(x.get("name") == exchange for x in of_vhost.get("exchanges", [])),
          "vhost definitions list the exchange")
    imported = unique("mgmt-imported")
    reply = post("/api/definitions", {"queues": [{"name": imported, "vhost": VHOST,
                                                  "durable": True, "auto_delete": False,
                                                  "arguments": {}}]})
    expect_status(reply, 204, "POST /api/definitions")
    expect(get(path_of("queues", VHOST, imported)).status, 200, "the imported queue exists")
    delete(path_of("queues", VHOST, imported))
    reply = post(path_of("definitions", VHOST), {"queues": [{"name": imported, "durable": True,
                                                              "auto_delete": False,
                                                              "arguments": {}}]})
    expect_status(reply, 204, "POST /api/definitions/VHOST")
    expect(get(path_of("queues", VHOST, imported)).status, 200, "imported into the vhost")
    delete(path_of("queues", VHOST, imported))
    expect_error(http("POST", "/api/definitions", raw_body=b"nonsense"), 400, "bad_request",
                 "POST definitions that are not JSON")
    reply = post("/api/definitions", {"queues": [{"name": "q", "vhost": unique("missing"),
                                                  "durable": True, "auto_delete": False,
                                                  "arguments": {}}]})
    expect_error(reply, 400, "bad_request", "POST definitions naming a missing vhost")
    reply = get("/api/definitions?download=defs.json")
    check("attachment" in reply.headers.get("content-disposition", ""),
          "?download= answers as an attachment")


def check_health():
    expect(get_json(path_of("aliveness-test", VHOST)), {"status": "ok"}, "aliveness-test")
    expect(get(path_of("aliveness-test", unique("missing"))).status, 404,
           "aliveness-test of a missing vhost")
    delete(path_of("queues", VHOST, "aliveness-test"))  # the test leaves its queue behind
    for name in ("alarms", "local-alarms", "virtual-hosts"):
        expect(get_json("/api/health/checks/" + name), {"status": "ok"}, "health " + name)
    from checks import PORT
    expect(get_json("/api/health/checks/port-listener/%d" % PORT),
           {"status": "ok", "port": PORT}, "port-listener on the AMQP port")
    reply = get("/api/health/checks/port-listener/1")
    expect(reply.status, 503, "port-listener on a closed port")
    expect((field(reply.json, "status"), field(reply.json, "missing")), ("failed", 1),
           "port-listener failure body")
    check(PORT in field(reply.json, "ports", []), "the failure lists the open ports")
    expect_error(get("/api/health/checks/port-listener/abc"), 400, "bad_request",
                 "port-listener with a bad port", "Invalid port")
    expect(get_json("/api/health/checks/protocol-listener/amqp"),
           {"status": "ok", "protocol": "amqp"}, "protocol-listener amqp")
    expect(get("/api/health/checks/is-in-service").status, 404,
           "3.10 has no is-in-service check")


def cleanup(names, exchange, plain_exchange):
    delete(path_of("exchanges", VHOST, exchange))
    delete(plain_exchange)
    delete(path_of("vhosts", VHOST))
    for name in names.values():
        delete(path_of("users", name))
    delete(path_of("users", unique("mgmt-user-hashed")))


def main():
    names = {}
    exchange, plain = unique("mgmt-x"), path_of("exchanges", VHOST, unique("mgmt-x-plain"))
    try:
        check_auth()
        check_overview()
        check_nodes()
        check_vhosts()
        check_users()
        check_permissions()
        check_topic_permissions()
        names = check_user_tags()
        check_policies()
        check_parameters()
        check_limits(names)
        exchange, plain = check_exchanges()
        queue = check_queues_declare()
        check_bindings(exchange, queue)
        check_publish_and_get(queue)
        check_listing_options()
        check_definitions(exchange, queue)
        check_health()
        connection_name = unique("mgmt-conn")
        connection = pika_connection(client_properties={"connection_name": connection_name},
                                     virtual_host=VHOST)
        work_queue = unique("mgmt-q-work")
        expect_status(put(path_of("queues", VHOST, work_queue)), 201, "PUT the workload queue")
        if amqp_workload(connection, work_queue) is not None:
            check_queue_stats(work_queue)
            listed = check_connection(connection_name, work_queue)
            if listed:
                check_close_connection(connection, listed)
        if connection.is_open:
            connection.close()
    finally:
        cleanup(names or {t: user_name(t) for t in ("", "monitoring", "management",
                                                     "policymaker")}, exchange, plain)
    expect(get(path_of("vhosts", VHOST)).status, 404, "the test's vhost is gone")
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
