#!/usr/bin/python3
"""Interop test: policies and operator policies over the management API (urllib) as RabbitMQ
3.10 answers them, and what they change on live queues as a pika client observes it."""

import sys
import time

import pika

from checks import check, exit_status, expect, pika_connection, unique
from mgmt import NOT_FOUND, expect_error, expect_status, get_json, http, path_of, wait_json

VHOST = "/"
PREFIX = unique("pol")


def policy_path(name, kind="policies", vhost=VHOST):
    return path_of(kind, vhost, name)


def put_policy(name, body, kind="policies", **options):
    return http("PUT", policy_path(name, kind), body, **options)


def delete_policy(name, kind="policies", **options):
    return http("DELETE", policy_path(name, kind), **options)


def count(channel, queue):
    return channel.queue_declare(queue, passive=True).method.message_count


def bodies(channel, queue):
    got = []
    while True:
        _, _, body = channel.basic_get(queue, auto_ack=True)
        if body is None:
            return got
        got.append(body)


# ---- the API: codes, shapes and texts

def check_crud():
    name = PREFIX + "-crud"
    body = {"pattern": "^" + name, "definition": {"message-ttl": 1000, "max-length": 5},
            "priority": 1, "apply-to": "queues"}
    expect_status(put_policy(name, body), 201, "PUT a new policy")
    expect_status(put_policy(name, body), 204, "PUT it again")
    want = {"vhost": VHOST, "name": name, "pattern": "^" + name, "apply-to": "queues",
            "definition": {"max-length": 5, "message-ttl": 1000}, "priority": 1}
    expect(get_json(policy_path(name)), want, "GET the policy")
    listed = [p for p in get_json("/api/policies") or [] if p["name"] == name]
    expect(listed, [want], "GET /api/policies lists it")
    listed = [p for p in get_json(path_of("policies", VHOST)) or [] if p["name"] == name]
    expect(listed, [want], "GET /api/policies/VHOST lists it")
    expect(get_json(path_of("parameters", "policy", VHOST, name)),
           {"value": {"pattern": "^" + name, "definition": want["definition"], "priority": 1,
                      "apply-to": "queues"}, "vhost": VHOST, "component": "policy", "name": name},
           "the policy as a runtime parameter")
    everything = get_json("/api/parameters") or []
    check(not [p for p in everything if p["component"] == "policy"],
          "/api/parameters leaves the policy component out")
    reply = http("PUT", path_of("parameters", "policy", VHOST, name + "-p"),
                 {"value": {"pattern": "x", "definition": {"max-length": 1}}})
    expect_error(reply, 400, "bad_request", "PUT a policy through /api/parameters",
                 "policies may not be set using this method")
    expect(http("GET", path_of("parameters", "nonesuch")).json, [], "an unknown component: []")
    reply = http("GET", policy_path(name + "-missing"))
    expect_status(reply, 404, "GET a missing policy")
    expect(reply.json, NOT_FOUND, "GET a missing policy: body")
    expect_status(http("GET", path_of("policies", unique("no-vhost"))), 404,
                  "list policies of a missing vhost")
    expect_error(http("PUT", path_of("policies", unique("no-vhost"), name), body), 404,
                 "not_found", "PUT into a missing vhost", "vhost_not_found")
    expect_status(delete_policy(name), 204, "DELETE the policy")
    expect_status(delete_policy(name), 404, "DELETE it again")
    defaults = PREFIX + "-defaults"
    expect_status(put_policy(defaults, {"pattern": "x", "definition": {"max-length": 1}}), 201,
                  "PUT without priority and apply-to")
    got = get_json(policy_path(defaults)) or {}
    expect((got.get("priority"), got.get("apply-to")), (0, "all"), "their defaults")
    put_policy(defaults, {"pattern": "x", "definition": {"max-length": 1}, "priority": 1.5})
    expect((get_json(policy_path(defaults)) or {}).get("priority"), 1.5, "a real priority")
    delete_policy(defaults)


VALIDATION = "Validation failed\n\n"


def check_validation():
    name = PREFIX + "-bad"
    cases = [
        ({"pattern": "(", "definition": {"message-ttl": 1}},
         "pattern should be regular expression but is invalid: {\"missing )\",1}\n"),
        ({"pattern": "x", "definition": {"foo": 1}},
         "[{&lt;&lt;\"foo\"&gt;&gt;,1}] are not recognised policy settings\n"),
        ({"pattern": "x", "definition": {"max-length": 1, "foo": 2, "bar": "x"}},
         "[{&lt;&lt;\"bar\"&gt;&gt;,&lt;&lt;\"x\"&gt;&gt;},{&lt;&lt;\"foo\"&gt;&gt;,2}] are not "
         "recognised policy settings\n"),
        ({"pattern": "x", "definition": {"message-ttl": "a"}},
         "&lt;&lt;\"a\"&gt;&gt; is not a valid message TTL\n"),
        ({"pattern": "x", "definition": {"message-ttl": -1, "max-length": -1}},
         "-1 is not a valid maximum length\n"),
        ({"pattern": "x", "definition": {"message-ttl": -1, "foo": 1}},
         "-1 is not a valid message TTL\n"),
        ({"pattern": "x", "definition": {"max-length": 1.5}}, "1.5 is not a valid maximum length\n"),
        ({"pattern": "x", "definition": {"max-length": True}}, "true is not a valid maximum length\n"),
        ({"pattern": "x", "definition": {"expires": 0}}, "0 is not a valid queue expiry\n"),
        ({"pattern": "x", "definition": {"overflow": "bogus"}},
         "&lt;&lt;\"bogus\"&gt;&gt; is not a valid overflow value\n"),
        ({"pattern": "x", "definition": {"alternate-exchange": 1}},
         "1 is not a valid alternate exchange name\n"),
        ({"pattern": "x", "definition": {"consumer-timeout": 1000}},
         "[{&lt;&lt;\"consumer-timeout\"&gt;&gt;,1000}] are not recognised policy settings\n"),
        ({"pattern": "x", "definition": {"ha-mode": "exactly"}},
         "ha-mode=\"exactly\" takes an integer, none given\n"),
        ({"pattern": "x", "definition": {}}, "no policy provided\n"),
        ({"pattern": 5, "definition": {"max-length": 1}}, "pattern should be a binary but was 5\n"),
        ({"pattern": "x", "definition": {"max-length": 1}, "apply-to": "foo"},
         "apply-to 'foo' unrecognised; should be 'queues', 'exchanges' or 'all'\n"),
        ({"pattern": "x", "definition": {"max-length": 1}, "priority": "3"},
         "priority should be a number, actually was &lt;&lt;\"3\"&gt;&gt;\n"),
        ({"pattern": "(", "definition": {"message-ttl": -1}, "priority": "x", "apply-to": "bad"},
         "-1 is not a valid message TTL\napply-to 'bad' unrecognised; should be 'queues', "
         "'exchanges' or 'all'\npattern should be regular expression but is invalid: "
         "{\"missing )\",1}\npriority should be a number, actually was &lt;&lt;\"x\"&gt;&gt;\n"),
    ]
    for body, reason in cases:
        expect_error(put_policy(name, body), 400, "bad_request", "PUT %r" % body,
                     VALIDATION + reason)
    expect_error(put_policy(name, {"definition": {"max-length": 1}}), 400, "bad_request",
                 "PUT without pattern", "[{key_missing,pattern}]")
    expect_error(put_policy(name, None, raw_body=b"{bad json"), 400, "bad_request", "PUT bad JSON",
                 "not_json")
    expect_status(put_policy(name, {"pattern": "x", "definition": {"ha-mode": "all"}}), 201,
                  "ha-mode is a recognised key")
    delete_policy(name)
    # operator policies: the limits only, and texts not escaped
    expect_error(put_policy(name, {"pattern": "x", "definition": {"overflow": "drop-head"}},
                            "operator-policies"), 400, "bad_request", "operator overflow",
                 VALIDATION + "[{<<\"overflow\">>,<<\"drop-head\">>}] are not recognised "
                 "policy settings\n")
    expect_error(put_policy(name, {"pattern": "x", "definition": {"message-ttl": "a"}},
                            "operator-policies"), 400, "bad_request", "operator bad TTL",
                 VALIDATION + "<<\"a\">> is not a valid message TTL\n")
    for key in ("message-ttl", "expires", "max-length", "max-length-bytes", "delivery-limit"):
        expect_status(put_policy(name, {"pattern": "x", "definition": {key: 7}},
                                 "operator-policies"), 201, "operator policy with %s" % key)
        delete_policy(name, "operator-policies")
    expect_status(put_policy(name, {"pattern": "x", "definition": {"max-length": 2}},
                             "operator-policies"), 201, "an operator policy")
    param = [p for p in get_json("/api/parameters") or [] if p["name"] == name]
    expect(param, [{"value": {"pattern": "x", "definition": {"max-length": 2}, "priority": 0,
                              "apply-to": "all"}, "vhost": VHOST,
                    "component": "operator_policy", "name": name}],
           "/api/parameters lists the operator policy")
    delete_policy(name, "operator-policies")


def check_tags():
    password = "pw-" + PREFIX
    users = {}
    for tag in ("policymaker", "monitoring", "management"):
        user = unique("pol-" + tag)
        users[tag] = (user, password)
        http("PUT", path_of("users", user), {"password": password, "tags": tag})
    vhost = unique("pol-vhost")
    http("PUT", path_of("vhosts", vhost), {})
    http("PUT", path_of("permissions", vhost, users["policymaker"][0]),
         {"configure": ".*", "write": ".*", "read": ".*"})
    body = {"pattern": "x", "definition": {"max-length": 1}}
    name = PREFIX + "-tags"
    maker = users["policymaker"]
    expect_status(http("PUT", path_of("policies", vhost, name), body, user=maker), 201,
                  "a policymaker sets a policy in its vhost")
    expect_status(http("GET", path_of("policies", vhost, name), user=maker), 200,
                  "a policymaker reads it")
    expect_error(http("PUT", path_of("policies", VHOST, name), body, user=maker), 401,
                 "not_authorised", "a policymaker in a vhost it may not use",
                 "User not authorised to access object")
    expect_error(http("PUT", path_of("operator-policies", vhost, name), body, user=maker), 401,
                 "not_authorised", "a policymaker and operator policies", "Not administrator user")
    for tag in ("monitoring", "management"):
        expect_error(http("PUT", path_of("policies", vhost, name), body, user=users[tag]), 401,
                     "not_authorised", "a %s user sets a policy" % tag,
                     "User not authorised to access object")
    listed = http("GET", "/api/policies", user=users["monitoring"])
    expect_status(listed, 200, "a monitoring user lists policies")
    check(not [p for p in listed.json or [] if p["vhost"] == vhost],
          "... but not those of vhosts it may not use")
    expect_status(http("DELETE", path_of("policies", vhost, name), user=maker), 204,
                  "a policymaker deletes it")
    http("DELETE", path_of("vhosts", vhost))
    for user, _ in users.values():
        http("DELETE", path_of("users", user))


# ---- what policies do to queues and exchanges

def check_live_queue(channel):
    queue = PREFIX + "-live"
    name = PREFIX + "-live-policy"
    channel.queue_declare(queue)
    channel.basic_publish("", queue, b"before")
    expect_status(put_policy(name, {"pattern": "^" + queue + "$", "apply-to": "queues",
                                    "definition": {"message-ttl": 200, "max-length": 2}}),
                  201, "PUT a TTL and length policy")
    time.sleep(0.6)
    expect(count(channel, queue), 1, "a message queued before the TTL does not expire")
    for i in range(5):
        channel.basic_publish("", queue, b"m%d" % i)
    expect(bodies(channel, queue), [b"m3", b"m4"], "max-length 2 drops the head")
    channel.basic_publish("", queue, b"expiring")
    time.sleep(0.6)
    expect(count(channel, queue), 0, "a message published under the policy expires")
    details = wait_json(path_of("queues", VHOST, queue), lambda q: q.get("policy") == name)
    expect((details or {}).get("policy"), name, "the queue shows its policy")
    expect((details or {}).get("operator_policy"), None, "no operator policy")
    expect((details or {}).get("effective_policy_definition"),
           {"max-length": 2, "message-ttl": 200}, "its effective definition")
    expect_status(delete_policy(name), 204, "DELETE the policy")
    time.sleep(0.3)
    for i in range(4):
        channel.basic_publish("", queue, b"n%d" % i)
    time.sleep(0.6)
    expect(count(channel, queue), 4, "after DELETE: nothing expires or is dropped")
    details = wait_json(path_of("queues", VHOST, queue), lambda q: q.get("policy") is None)
    expect(((details or {}).get("policy"), (details or {}).get("effective_policy_definition")),
           (None, {}), "the queue shows no policy")
    channel.queue_delete(queue)


def check_existing_messages_dropped(channel):
    queue = PREFIX + "-full"
    name = PREFIX + "-full-policy"
    channel.queue_declare(queue)
    for i in range(5):
        channel.basic_publish("", queue, b"old%d" % i)
    time.sleep(0.2)
    put_policy(name, {"pattern": "^" + queue + "$", "definition": {"max-length": 2}})
    time.sleep(0.3)
    expect(bodies(channel, queue), [b"old3", b"old4"], "a new limit drops the head at once")
    delete_policy(name)
    channel.queue_delete(queue)


def check_precedence(channel):
    queue = PREFIX + "-own"
    name = PREFIX + "-own-policy"
    channel.queue_declare(queue, arguments={"x-max-length": 3, "x-overflow": "reject-publish"})
    put_policy(name, {"pattern": "^" + queue + "$", "priority": 1,
                      "definition": {"max-length": 2, "overflow": "drop-head"}})
    lower = PREFIX + "-own-lower"
    put_policy(lower, {"pattern": "^" + queue + "$", "priority": 0,
                       "definition": {"max-length": 1}})
    time.sleep(0.2)
    for i in range(5):
        channel.basic_publish("", queue, b"m%d" % i)
    expect(bodies(channel, queue), [b"m0", b"m1"],
           "the lower max-length (policy) and the argument's overflow (reject-publish) win; "
           "the lower priority policy does not apply")
    op = PREFIX + "-op"
    put_policy(op, {"pattern": "^" + queue + "$", "definition": {"max-length": 10,
                                                                 "message-ttl": 5000}},
               "operator-policies")
    details = wait_json(path_of("queues", VHOST, queue),
                        lambda q: q.get("operator_policy") == op)
    expect((details or {}).get("effective_policy_definition"),
           {"max-length": 2, "message-ttl": 5000, "overflow": "drop-head"},
           "effective definition: the lower limit of policy and operator policy")
    put_policy(op, {"pattern": "^" + queue + "$", "definition": {"max-length": 1}},
               "operator-policies")
    time.sleep(0.3)
    for i in range(3):
        channel.basic_publish("", queue, b"k%d" % i)
    expect(bodies(channel, queue), [b"k0"], "the operator policy's lower limit wins")
    delete_policy(op, "operator-policies")
    # (of equal priorities RabbitMQ takes the first its parameter table yields: no rule)
    for p in (name, lower):
        delete_policy(p)
    channel.queue_delete(queue)


def check_pattern_unanchored(channel):
    queue = "x" + PREFIX + "-mid"
    name = PREFIX + "-mid-policy"
    channel.queue_declare(queue)
    put_policy(name, {"pattern": PREFIX + "-mid", "definition": {"max-length": 1},
                      "apply-to": "queues"})
    time.sleep(0.3)
    for i in range(3):
        channel.basic_publish("", queue, b"%d" % i)
    expect(count(channel, queue), 1, "the pattern matches anywhere in the name")
    put_policy(name, {"pattern": PREFIX + "-mid", "definition": {"max-length": 1},
                      "apply-to": "exchanges"})
    time.sleep(0.3)  # RabbitMQ's queue process hears of the change a moment later
    for i in range(3):
        channel.basic_publish("", queue, b"%d" % i)
    expect(count(channel, queue), 4, "apply-to exchanges leaves queues alone")
    delete_policy(name)
    channel.queue_delete(queue)


def check_dead_letter_and_alternate(channel):
    queue, dead = PREFIX + "-dl", PREFIX + "-dead"
    channel.queue_declare(dead)
    channel.queue_declare(queue)
    name = PREFIX + "-dl-policy"
    put_policy(name, {"pattern": "^" + queue + "$", "definition": {
        "dead-letter-exchange": "", "dead-letter-routing-key": dead, "message-ttl": 50}})
    time.sleep(0.3)
    channel.basic_publish("", queue, b"to die")
    time.sleep(0.4)
    expect(bodies(channel, dead), [b"to die"], "dead-letter-exchange from a policy")
    delete_policy(name)
    exchange, spare = PREFIX + "-ae-x", PREFIX + "-ae-q"
    channel.exchange_declare(exchange, "direct")
    channel.queue_declare(spare)
    channel.queue_bind(spare, "amq.fanout")
    ae = PREFIX + "-ae-policy"
    put_policy(ae, {"pattern": "^" + exchange + "$", "apply-to": "exchanges",
                    "definition": {"alternate-exchange": "amq.fanout"}})
    time.sleep(0.3)
    channel.basic_publish(exchange, "nowhere", b"unroutable")
    time.sleep(0.2)
    expect(bodies(channel, spare), [b"unroutable"], "alternate-exchange from a policy")
    x = get_json(path_of("exchanges", VHOST, exchange)) or {}
    expect(x.get("policy"), ae, "the exchange shows its policy")
    delete_policy(ae)
    time.sleep(0.3)
    channel.basic_publish(exchange, "nowhere", b"lost")
    time.sleep(0.2)
    expect(bodies(channel, spare), [], "after DELETE: no alternate exchange")
    check("policy" not in (get_json(path_of("exchanges", VHOST, exchange)) or {"policy": 1}),
          "an exchange without a policy has no policy field")
    channel.queue_unbind(spare, "amq.fanout")
    for q in (queue, dead, spare):
        channel.queue_delete(q)
    channel.exchange_delete(exchange)


def check_definitions():
    name = PREFIX + "-def"
    op = PREFIX + "-def-op"
    put_policy(name, {"pattern": "^nothing-" + PREFIX, "definition": {"max-length": 3},
                      "priority": 2})
    put_policy(op, {"pattern": "^nothing-" + PREFIX, "definition": {"max-length": 3}},
               "operator-policies")
    exported = get_json("/api/definitions") or {}
    mine = [p for p in exported.get("policies", []) if p["name"] == name]
    expect(mine, [{"vhost": VHOST, "name": name, "pattern": "^nothing-" + PREFIX,
                   "apply-to": "all", "definition": {"max-length": 3}, "priority": 2}],
           "the export's policies")
    ops = [p for p in exported.get("parameters", []) if p.get("name") == op]
    expect([p.get("component") for p in ops], ["operator_policy"],
           "operator policies are exported as parameters")
    delete_policy(name)
    delete_policy(op, "operator-policies")
    doc = {"policies": mine, "parameters": ops}
    expect_status(http("POST", "/api/definitions", doc), 204, "import them")
    expect((get_json(policy_path(name)) or {}).get("definition"), {"max-length": 3},
           "the policy is back")
    expect((get_json(policy_path(op, "operator-policies")) or {}).get("definition"),
           {"max-length": 3}, "the operator policy is back")
    delete_policy(name)
    delete_policy(op, "operator-policies")
    bad = {"policies": [dict(mine[0], name=name + "-ok") if mine else {},
                        dict(mine[0] if mine else {}, name=name + "-bad",
                             definition={"foo": 1})]}
    reply = http("POST", "/api/definitions", bad)
    check(reply.status >= 400, "a file with a bad policy is refused (%d)" % reply.status)
    expect_status(http("GET", policy_path(name + "-bad")), 404, "... the bad policy is not set")
    # RabbitMQ keeps the policies before the bad one; Warren imports all or nothing
    delete_policy(name + "-ok")


def main():
    check_crud()
    check_validation()
    check_tags()
    connection = pika_connection()
    channel = connection.channel()
    check_live_queue(channel)
    check_existing_messages_dropped(channel)
    check_precedence(channel)
    check_pattern_unanchored(channel)
    check_dead_letter_and_alternate(channel)
    connection.close()
    check_definitions()
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
