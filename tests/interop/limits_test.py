#!/usr/bin/python3
# Raw-socket checks that vhost and user limits get exactly RabbitMQ 3.10's answers.
"""vhost max-connections and max-queues, user max-connections and max-channels, set over
the management HTTP API: what a client sees when one is reached (reply code, full text,
the class/method the close names, channel or connection), what 0 and a negative value
mean, which limit or check comes first, and the API's answers to bad values. Every
expectation was observed on RabbitMQ 3.10.8; the facts are in
rabbitmq-permissions-observed.md.

Each case has its own vhost and user (per-run names), so the cases run concurrently; they
are deleted at the end. Needs the management API (MANAGEMENT_PORT, default
AMQP_PORT+10000) with guest/guest as an administrator."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import SUFFIX  # noqa: E402
from permissions_test import (  # noqa: E402
    ANY, ChannelClosed, ConnectionClosed, Ok, api, api_ok, assert_outcome, create_user,
    create_vhost, delete_user, delete_vhost, expect_verb, main, make_queue, open_vhost,
    opened, q, set_permissions)
from rawamqp import close_args, method_frame, provoke, shortstr  # noqa: E402


def set_vhost_limit(vhost, name, value):
    api_ok("PUT", "vhost-limits/" + q(vhost, name), {"value": value})


def set_user_limit(user, name, value):
    api_ok("PUT", "user-limits/" + q(user, name), {"value": value})


class Env:
    """A case's own vhost and user (full permissions for the user and guest), plus a
    second vhost for limits that span vhosts."""

    def __init__(self, number):
        self.vhost = "lim-%d-%s" % (number, SUFFIX)
        self.vhost2 = "lim-%d-b-%s" % (number, SUFFIX)
        self.user = "lim-u%d-%s" % (number, SUFFIX)

    def create(self):
        create_user(self.user)
        for vhost in (self.vhost, self.vhost2):
            create_vhost(vhost)
            for user in (self.user, "guest"):
                set_permissions(vhost, user, ANY, ANY, ANY)

    def delete(self):
        delete_user(self.user)
        delete_vhost(self.vhost)
        delete_vhost(self.vhost2)


class Case:
    def __init__(self, name, run):
        self.name, self.run, self.env = name, run, None

    def scenario(self):
        return lambda ctx: self.run(ctx, self.env)


CASES = []


def case(name):
    def register(fn):
        CASES.append(Case(name, fn))
        return fn
    return register


def refused_open(ctx, user, vhost, expected):
    """connection.open of vhost as user ends in expected and the socket closes."""
    c, out = open_vhost(user, vhost)
    ctx.clients.append(c)
    detail = assert_outcome(out, expected, 0, [])
    if out.closed_at is None:
        raise AssertionError("the socket stayed open after close-ok: %r" % out)
    return detail


def close_connection(c):
    """A client-initiated connection.close, waiting for close-ok."""
    out = provoke(c, method_frame(0, 10, 50, close_args()))
    assert_outcome(out, Ok((10, 51)), 0, [])
    c.close()


def open_channel(c, channel):
    c.send_method(channel, 20, 10, shortstr(""))
    return provoke(c, b"")


def vhost_limit_text(vhost, user, limit):
    return ("NOT_ALLOWED - access to vhost '%s' refused for user '%s': connection limit (%d) "
            "is reached" % (vhost, user, limit))


def user_limit_text(user, limit):
    return ("NOT_ALLOWED - connection refused for user '%s': user connection limit (%d) is "
            "reached" % (user, limit))


def channel_limit_text(user, limit):
    return ("NOT_ALLOWED - number of channels opened for user '%s' has reached the maximum "
            "allowed user limit of (%d)" % (user, limit))


def queue_limit_close(queue, vhost, limit):
    return ChannelClosed(406, "PRECONDITION_FAILED - cannot declare queue '%s': queue limit in "
                         "vhost '%s' (%d) is reached" % (queue, vhost, limit), 50, 10)


# ---- vhost max-connections: checked first at connection.open, for any user.


@case("vhost max-connections 1: a second connection.open gets 530 on connection.open")
def vhost_connections_reached(ctx, env):
    set_vhost_limit(env.vhost, "max-connections", 1)
    opened(ctx, env.user, env.vhost, channels=())
    return refused_open(ctx, env.user, env.vhost, ConnectionClosed(
        530, vhost_limit_text(env.vhost, env.user, 1), 10, 40))


@case("vhost max-connections counts every user's connections")
def vhost_connections_any_user(ctx, env):
    set_vhost_limit(env.vhost, "max-connections", 1)
    opened(ctx, "guest", env.vhost, channels=(), password="guest")
    return refused_open(ctx, env.user, env.vhost, ConnectionClosed(
        530, vhost_limit_text(env.vhost, env.user, 1), 10, 40))


@case("vhost max-connections: a closed connection frees its place at once")
def vhost_connections_freed(ctx, env):
    set_vhost_limit(env.vhost, "max-connections", 1)
    close_connection(opened(ctx, env.user, env.vhost, channels=()))
    opened(ctx, env.user, env.vhost, channels=())
    return "a new connection.open-ok after the first closed"


@case("vhost max-connections 0 refuses every connection")
def vhost_connections_zero(ctx, env):
    set_vhost_limit(env.vhost, "max-connections", 0)
    return refused_open(ctx, env.user, env.vhost, ConnectionClosed(
        530, vhost_limit_text(env.vhost, env.user, 0), 10, 40))


@case("vhost max-connections -1 means no limit (and reads back as -1)")
def vhost_connections_negative(ctx, env):
    set_vhost_limit(env.vhost, "max-connections", -1)
    for _ in range(3):
        opened(ctx, env.user, env.vhost, channels=())
    limits = api_ok("GET", "vhost-limits/" + q(env.vhost))
    if limits != [{"vhost": env.vhost, "value": {"max-connections": -1}}]:
        raise AssertionError("GET vhost-limits: %r" % limits)
    return "3 connections open; GET says %r" % limits


@case("vhost max-connections is checked before the user's max-connections")
def vhost_limit_before_user_limit(ctx, env):
    set_vhost_limit(env.vhost, "max-connections", 1)
    set_user_limit(env.user, "max-connections", 1)
    opened(ctx, env.user, env.vhost, channels=())
    return refused_open(ctx, env.user, env.vhost, ConnectionClosed(
        530, vhost_limit_text(env.vhost, env.user, 1), 10, 40))


@case("vhost max-connections is checked before the user's access to the vhost")
def vhost_limit_before_access(ctx, env):
    set_vhost_limit(env.vhost, "max-connections", 0)
    api_ok("DELETE", "permissions/" + q(env.vhost, env.user))
    return refused_open(ctx, env.user, env.vhost, ConnectionClosed(
        530, vhost_limit_text(env.vhost, env.user, 0), 10, 40))


# ---- user max-connections: across all vhosts, after the vhost limit, before access.


@case("user max-connections 1: a second connection.open gets 530 on connection.open")
def user_connections_reached(ctx, env):
    set_user_limit(env.user, "max-connections", 1)
    opened(ctx, env.user, env.vhost, channels=())
    return refused_open(ctx, env.user, env.vhost, ConnectionClosed(
        530, user_limit_text(env.user, 1), 10, 40))


@case("user max-connections counts connections to every vhost")
def user_connections_across_vhosts(ctx, env):
    set_user_limit(env.user, "max-connections", 1)
    opened(ctx, env.user, env.vhost2, channels=())
    return refused_open(ctx, env.user, env.vhost, ConnectionClosed(
        530, user_limit_text(env.user, 1), 10, 40))


@case("user max-connections: a closed connection frees its place at once")
def user_connections_freed(ctx, env):
    set_user_limit(env.user, "max-connections", 1)
    close_connection(opened(ctx, env.user, env.vhost, channels=()))
    opened(ctx, env.user, env.vhost2, channels=())
    return "a new connection.open-ok after the first closed"


@case("user max-connections 0 refuses every connection (login itself succeeds)")
def user_connections_zero(ctx, env):
    set_user_limit(env.user, "max-connections", 0)
    return refused_open(ctx, env.user, env.vhost, ConnectionClosed(
        530, user_limit_text(env.user, 0), 10, 40))


@case("user max-connections is checked before the user's access to the vhost")
def user_limit_before_access(ctx, env):
    set_user_limit(env.user, "max-connections", 0)
    api_ok("DELETE", "permissions/" + q(env.vhost, env.user))
    return refused_open(ctx, env.user, env.vhost, ConnectionClosed(
        530, user_limit_text(env.user, 0), 10, 40))


@case("user max-connections -1 means no limit")
def user_connections_negative(ctx, env):
    set_user_limit(env.user, "max-connections", -1)
    for _ in range(3):
        opened(ctx, env.user, env.vhost, channels=())
    return "3 connections open"


# ---- user max-channels: channel.open beyond it closes the whole connection.


@case("user max-channels 1: a second channel.open closes the connection with 530")
def user_channels_reached(ctx, env):
    set_user_limit(env.user, "max-channels", 1)
    c = opened(ctx, env.user, env.vhost, channels=(1,))
    return assert_outcome(open_channel(c, 2), ConnectionClosed(
        530, channel_limit_text(env.user, 1), 0, 0), 0, [])


@case("user max-channels counts the user's channels on every connection")
def user_channels_across_connections(ctx, env):
    set_user_limit(env.user, "max-channels", 1)
    opened(ctx, env.user, env.vhost2, channels=(1,))
    c = opened(ctx, env.user, env.vhost, channels=())
    return assert_outcome(open_channel(c, 1), ConnectionClosed(
        530, channel_limit_text(env.user, 1), 0, 0), 0, [])


@case("user max-channels: a closed channel frees its place (shortly after close-ok)")
def user_channels_freed(ctx, env):
    set_user_limit(env.user, "max-channels", 1)
    c = opened(ctx, env.user, env.vhost, channels=(1,))
    out = provoke(c, method_frame(1, 20, 40, close_args()))
    assert_outcome(out, Ok((20, 41)), 1, [])
    # RabbitMQ untracks a channel asynchronously: a channel.open right after close-ok
    # may still be refused (observed), 50 ms later it never was.
    time.sleep(0.5)
    return assert_outcome(open_channel(c, 2), Ok((20, 11)), 2, [])


@case("user max-channels 0 refuses the first channel.open")
def user_channels_zero(ctx, env):
    set_user_limit(env.user, "max-channels", 0)
    c = opened(ctx, env.user, env.vhost, channels=())
    return assert_outcome(open_channel(c, 1), ConnectionClosed(
        530, channel_limit_text(env.user, 0), 0, 0), 0, [])


@case("user max-channels -1 means no limit")
def user_channels_negative(ctx, env):
    set_user_limit(env.user, "max-channels", -1)
    opened(ctx, env.user, env.vhost, channels=(1, 2, 3))
    return "3 channels open"


# ---- vhost max-queues: a new queue beyond it is refused with 406 on queue.declare.
QD = "queue.declare"


@case("vhost max-queues 1: a second queue.declare gets 406 on the channel")
def queues_reached(ctx, env):
    set_vhost_limit(env.vhost, "max-queues", 1)
    c = opened(ctx, env.user, env.vhost, channels=(1, 2))
    expect_verb(c, 1, QD, Ok(), "q1")
    detail = expect_verb(c, 1, QD, queue_limit_close("q2", env.vhost, 1), "q2")
    expect_verb(c, 2, QD, Ok(), "q1")
    return detail + "; redeclaring q1 still succeeds"


@case("vhost max-queues counts queues made over HTTP and exclusive ones")
def queues_counted(ctx, env):
    set_vhost_limit(env.vhost, "max-queues", 2)
    make_queue("made-over-http", vhost=env.vhost)
    c = opened(ctx, env.user, env.vhost)
    expect_verb(c, 1, QD, Ok(), "q-exclusive", exclusive=True)
    return expect_verb(c, 1, QD, queue_limit_close("q3", env.vhost, 2), "q3")


@case("vhost max-queues: a server-named queue is refused under its generated name")
def queues_server_named(ctx, env):
    set_vhost_limit(env.vhost, "max-queues", 0)
    c = opened(ctx, env.user, env.vhost)
    text = re.compile(re.escape("PRECONDITION_FAILED - cannot declare queue '") +
                      r"amq\.gen-[A-Za-z0-9_-]{22}" + re.escape(
                          "': queue limit in vhost '%s' (0) is reached" % env.vhost))
    return expect_verb(c, 1, QD, ChannelClosed(406, text, 50, 10), "", exclusive=True)


@case("vhost max-queues: passive declares are unaffected")
def queues_passive(ctx, env):
    set_vhost_limit(env.vhost, "max-queues", 0)
    c = opened(ctx, env.user, env.vhost)
    return expect_verb(c, 1, QD, ChannelClosed(
        404, "NOT_FOUND - no queue 'absent' in vhost '%s'" % env.vhost, 50, 10), "absent",
        passive=True)


@case("vhost max-queues: a deleted queue frees its place")
def queues_freed(ctx, env):
    set_vhost_limit(env.vhost, "max-queues", 1)
    c = opened(ctx, env.user, env.vhost)
    expect_verb(c, 1, QD, Ok(), "q1")
    expect_verb(c, 1, "queue.delete", Ok(), "q1")
    return expect_verb(c, 1, QD, Ok(), "q2")


@case("vhost max-queues: configure is checked before the limit")
def queues_configure_first(ctx, env):
    set_vhost_limit(env.vhost, "max-queues", 0)
    set_permissions(env.vhost, env.user, "^other$", ANY, ANY)
    c = opened(ctx, env.user, env.vhost)
    return expect_verb(c, 1, QD, ChannelClosed(
        403, "ACCESS_REFUSED - access to queue 'q1' in vhost '%s' refused for user '%s'"
        % (env.vhost, env.user), 50, 10), "q1")


@case("vhost max-queues: the limit is checked before the dead-letter permissions")
def queues_limit_before_dlx(ctx, env):
    set_vhost_limit(env.vhost, "max-queues", 0)
    set_permissions(env.vhost, env.user, ANY, "", "")
    c = opened(ctx, env.user, env.vhost)
    return expect_verb(c, 1, QD, queue_limit_close("q1", env.vhost, 0), "q1",
                       arguments={"x-dead-letter-exchange": "amq.direct"})


@case("vhost max-queues -1 means no limit; a limit below the count keeps existing queues")
def queues_negative_and_lowered(ctx, env):
    set_vhost_limit(env.vhost, "max-queues", -1)
    c = opened(ctx, env.user, env.vhost)
    for name in ("q1", "q2", "q3"):
        expect_verb(c, 1, QD, Ok(), name)
    set_vhost_limit(env.vhost, "max-queues", 1)
    expect_verb(c, 1, QD, Ok(), "q2")
    return expect_verb(c, 1, QD, queue_limit_close("q4", env.vhost, 1), "q4")


# ---- the management API's answers to limit values.


def expect_status(method, path, body, status, reason=None):
    got, answer = api(method, path, body)
    if got != status or (reason is not None and answer != reason):
        raise AssertionError("%s /api/%s %r: expected %d %r, got %d %r"
                             % (method, path, body, status, reason, got, answer))


@case("HTTP: limit values must be integers; unknown limit names are refused")
def http_limit_values(ctx, env):
    user_path = "user-limits/" + q(env.user, "max-channels")
    vhost_path = "vhost-limits/" + q(env.vhost, "max-queues")
    expect_status("PUT", user_path, {"value": 5}, 204)
    expect_status("PUT", user_path, {"value": -5}, 204)
    expect_status("PUT", user_path, {"value": "abc"}, 400, {
        "error": "bad_request",
        "reason": 'max-channels should be a number, actually was <<"abc">>'})
    expect_status("PUT", user_path, {"value": 1.5}, 400, {
        "error": "bad_request", "reason": "max-channels should be a number, actually was 1.5"})
    expect_status("PUT", vhost_path, {"value": "abc"}, 400, {
        "error": "bad_request", "reason": "Validation failed\n\nmax-queues should be a "
        'number, actually was <<"abc">>\n'})
    expect_status("PUT", "vhost-limits/" + q(env.vhost, "max-bogus"), {"value": 1}, 400)
    expect_status("PUT", "user-limits/" + q(env.user, "max-bogus"), {"value": 1}, 400)
    limits = api_ok("GET", "user-limits/" + q(env.user))
    if limits != [{"user": env.user, "value": {"max-channels": -5}}]:
        raise AssertionError("GET user-limits: %r" % limits)
    expect_status("DELETE", user_path, None, 204)
    limits = api_ok("GET", "user-limits/" + q(env.user))
    if limits != []:
        raise AssertionError("GET user-limits after DELETE: %r" % limits)
    return "204 for integers (a negative one is kept as given), 400 otherwise"


def set_up():
    for number, c in enumerate(CASES, 1):
        c.env = Env(number)
        c.env.create()


def tear_down():
    for c in CASES:
        if c.env:
            c.env.delete()


if __name__ == "__main__":
    sys.exit(main(CASES, set_up, tear_down))
