#!/usr/bin/python3
# Raw-socket checks that queue and exchange arguments get exactly RabbitMQ 3.10's answers.
"""queue.declare and exchange.declare with arguments of exact AMQP field types (wrong types,
negative, zero and too-large values, several wrong at once, redeclares of existing queues
and exchanges), each asserting the reply code, text and class/method ids RabbitMQ 3.10.8
sends. The cases and the rules behind them are recorded in queue-args-rabbitmq.md (the
notes on RabbitMQ's argument checks); every expectation here was observed on RabbitMQ.

Each scenario runs on its own connection and its own queue or exchange names (a per-run
suffix), so the scenarios run concurrently and leave nothing behind.

Left out on purpose: the cases where RabbitMQ 3.10.8 crashes and closes the connection
with 541 INTERNAL_ERROR (class 0, method 0). Warren answers those differently, on purpose:
  - x-queue-master-locator S "abc" or I 1 on a new classic queue (a case_clause in
    rabbit_queue_master_location_misc);
  - x-max-age S "bogus" on a new stream queue (list_to_integer("") in the validator);
  - a server-named (queue "") declare with x-queue-type S "bogus" (the type lookup for the
    "Cannot declare a server-named queue" check crashes);
  - a redeclare where a compared argument is a D decimal on one side and differs, for
    example x-message-ttl I 1000 against D (0,1000), or x-delivery-limit S "abc" against
    D (1,15) on a quorum queue (RabbitMQ takes the {Scale, Value} pair for a {Type, Value}
    and crashes formatting the inequivalent-arg text)."""

import os
import re
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checks import SUFFIX  # noqa: E402
from rawamqp import (  # noqa: E402
    Raw, bits, decode_close, encode_value, long_, longstr, method_frame, provoke,
    reply_text_cut, run_scenarios, short, shortstr, table)

# ------------------------------------------------------------------ exact field types

def b(v): return Raw(b"b" + struct.pack(">b", v))
def B(v): return Raw(b"B" + struct.pack(">B", v))
def s(v): return Raw(b"s" + struct.pack(">h", v))
def u(v): return Raw(b"u" + struct.pack(">H", v))
def I(v): return Raw(b"I" + struct.pack(">i", v))  # noqa: E741,E743
def i(v): return Raw(b"i" + struct.pack(">I", v))
def l(v): return Raw(b"l" + struct.pack(">q", v))  # noqa: E741,E743
def L(v): return Raw(b"L" + struct.pack(">q", v))
def f(v): return Raw(b"f" + struct.pack(">f", v))
def d(v): return Raw(b"d" + struct.pack(">d", v))
def D(scale, v): return Raw(b"D" + struct.pack(">Bi", scale, v))
def t(v): return Raw(b"t" + struct.pack(">B", 1 if v else 0))
def S(v): return Raw(b"S" + longstr(v))
def x(v): return Raw(b"x" + longstr(v))
def T(v): return Raw(b"T" + struct.pack(">Q", v))
V = Raw(b"V")
def F(dct): return Raw(b"F" + table(dct))


def A(*values):
    body = b"".join(encode_value(v) for v in values)
    return Raw(b"A" + long_(len(body)) + body)


def show(value):
    """A short label for an encoded value: S:'abc', I:-1, ..."""
    raw = bytes(value)
    letter, rest = chr(raw[0]), raw[1:]
    simple = {"b": ">b", "B": ">B", "s": ">h", "u": ">H", "I": ">i", "i": ">I", "l": ">q",
              "L": ">q", "f": ">f", "d": ">d", "T": ">Q", "t": ">B"}
    if letter in simple:
        shown = struct.unpack(simple[letter], rest)[0]
        shown = bool(shown) if letter == "t" else shown
    elif letter in "Sx":
        shown = rest[4:].decode()
    elif letter == "D":
        shown = struct.unpack(">Bi", rest)
    else:
        shown = {"V": "", "F": "{..}", "A": "[..]"}[letter]
    return f"{letter}:{shown!r}" if shown != "" else letter


TWO_40 = 2 ** 40
TOO_BIG = "1099511627776"  # 2^40 as RabbitMQ prints it
LIMIT = 315360000000       # x-message-ttl and x-expires upper bound, inclusive

# ------------------------------------------------------------------ expected outcomes
# Texts use <Q> for "queue '<name>' in vhost '/'", <X> for "exchange '<name>' in vhost '/'"
# and <N> for the bare name.

OK = ("ok",)
# Warren has no streams yet: it refuses them as RabbitMQ does with the stream feature flag off.
STREAM_OK = OK if os.environ.get("AMQP_EXPECT_PRODUCT") != "Warren" else (
    "connection", 541, "INTERNAL_ERROR - Cannot declare a queue 'queue '<N>' in vhost '/'' of "
    "type 'rabbit_stream_queue' on node 'warren@%s': the corresponding feature flag is disabled"
    % socket.gethostname(), 50, 10)
PF = "PRECONDITION_FAILED - "


def close406(text, class_id=50):
    return ("channel", 406, text, class_id, 10)


def t1(arg, err):
    """Template T1: a validator refused the value."""
    return close406(f"{PF}invalid arg '{arg}' for <Q>: {err}")


def t2(arg, module="rabbit_classic_queue"):
    """Template T2: the argument is not allowed for the queue type."""
    return close406(f"{PF}invalid arg '{arg}' for <Q> of queue type {module}")


def t3(type_name):
    """Template T3: x-dead-letter-exchange of the wrong type (checked before all else)."""
    return close406(f"{PF}invalid type '{type_name}' for arg 'x-dead-letter-exchange' in <Q>")


def t4(prop):
    """Template T4: a flag quorum and stream queues refuse."""
    return close406(f"{PF}invalid property '{prop}' for <Q>")


def not_int(type_name):
    return f'"expected integer, got {type_name}"'


def negative(n=-1):
    return "{value_negative,%d}" % n


def bad_type(type_name):
    return "{unacceptable_type,%s}" % type_name


def ineq(arg, received, current, where="<Q>", class_id=50):
    return close406(f"{PF}inequivalent arg '{arg}' for {where}: received {received} "
                    f"but current is {current}", class_id)


def q(value):
    """How RabbitMQ prints a present value in an inequivalent-arg text."""
    return f"'{value}'"


def typed(value, type_name):
    """How it prints a value the other side does not have."""
    return f"the value '{value}' of type '{type_name}'"


NONE = "none"
# Not a validator: rabbit_stream_queue checks the segment size once every argument and flag
# check has passed, and words it differently.
SEGMENT_TOO_BIG = close406(f"{PF}Exceeded max value for x-stream-max-segment-size-bytes")
QUORUM = {"x-queue-type": S("quorum")}
STREAM = {"x-queue-type": S("stream")}
QQ = "rabbit_quorum_queue"
SQ = "rabbit_stream_queue"

# ------------------------------------------------------------------ raw AMQP steps

def declare_payload(name, args, durable=False, exclusive=False, auto_delete=False,
                    passive=False):
    return (short(0) + shortstr(name) + bits(passive, durable, exclusive, auto_delete, False)
            + table(args))


def exchange_payload(name, etype, args):
    return short(0) + shortstr(name) + shortstr(etype) + bits(False, False, False, False,
                                                              False) + table(args)


def queue_delete(c, channel, name):
    c.send_method(channel, 50, 40, short(0) + shortstr(name) + bits(False, False, False))
    c.expect_method(50, 41)


def exchange_delete(c, channel, name):
    c.send_method(channel, 40, 20, short(0) + shortstr(name) + bits(False, False))
    c.expect_method(40, 21)


SERVER_NAMED = "amq.gen-[A-Za-z0-9_-]{22}"


def expected_text(text, kind, name):
    """The exact text, or a pattern when the broker chose the queue name."""
    where = f"{kind} '{name}' in vhost '/'"
    if name:
        return reply_text_cut(text.replace("<Q>", where).replace("<X>", where)
                              .replace("<N>", name))
    parts = text.split("<Q>")
    return re.compile(f"queue '{SERVER_NAMED}' in vhost '/'".join(map(re.escape, parts)))


def check_outcome(c, channel, out, expected, ok_method, kind, name):
    """Asserts that out is expected; answers a close with close-ok. Returns a description."""
    if expected == OK:
        if not (out.frame and out.frame.is_method(*ok_method) and out.frame.channel == channel):
            raise AssertionError(f"expected {ok_method} on channel {channel}; observed {out!r}")
        return "ok"
    scope, code, text, class_id, method_id = expected
    want = expected_text(text, kind, name)
    frame_ids = (20, 40) if scope == "channel" else (10, 50)
    got_channel = channel if scope == "channel" else 0
    if not (out.frame and out.frame.is_method(*frame_ids) and out.frame.channel == got_channel):
        raise AssertionError(f"expected {scope}.close({code}, {_shown(want)!r}, {class_id}, "
                             f"{method_id}); observed {out!r}")
    got = decode_close(out.frame)
    text_ok = want.fullmatch(got.text) if isinstance(want, re.Pattern) else got.text == want
    if (got.code, got.class_id, got.method_id) != (code, class_id, method_id) or not text_ok:
        raise AssertionError(f"expected ({code}, {_shown(want)!r}, {class_id}, {method_id}); "
                             f"observed {got!r}")
    if scope == "channel":
        c.send_method(channel, 20, 41)
    return f"{scope}.close {got!r}"


def _shown(text):
    return text.pattern if isinstance(text, re.Pattern) else text


def new_queue_scenario(name, args, expected, **flags):
    """queue.declare of a queue that does not exist; deleted again if it was created."""
    def scenario(ctx):
        c = ctx.client("channel")
        out = provoke(c, method_frame(1, 50, 10, declare_payload(name, args, **flags)))
        try:
            return check_outcome(c, 1, out, expected, (50, 11), "queue", name)
        finally:
            if out.frame and out.frame.is_method(50, 11):  # created, expected or not
                queue_delete(c, 1, out.frame.args().shortstr())
    return scenario


def redeclare_scenario(name, existing, args, expected, existing_flags=None, **flags):
    """Creates a queue with existing (on channel 1), redeclares it with args (channel 2),
    then deletes it."""
    existing_flags = existing_flags if existing_flags is not None else flags

    def scenario(ctx):
        c = ctx.client("channel")
        c.send_method(1, 50, 10, declare_payload(name, existing, **existing_flags))
        c.expect_method(50, 11)
        c.open_channel(2)
        out = provoke(c, method_frame(2, 50, 10, declare_payload(name, args, **flags)))
        try:
            return check_outcome(c, 2, out, expected, (50, 11), "queue", name)
        finally:
            queue_delete(*tidy_channel(ctx, c, out), name)
    return scenario


def tidy_channel(ctx, c, out):
    """(client, channel 1) to delete with, on a new connection if out closed this one."""
    if out.frame and out.frame.is_method(10, 50) or c.eof:
        return ctx.client("channel"), 1
    return c, 1


def locked_scenario(name, args, **flags):
    """An exclusive queue of another connection: 405 whatever the declare says."""
    def scenario(ctx):
        owner = ctx.client("channel")
        owner.send_method(1, 50, 10, declare_payload(name, {"x-message-ttl": I(1000)},
                                                     exclusive=True))
        owner.expect_method(50, 11)
        c = ctx.client("channel")
        out = provoke(c, method_frame(1, 50, 10, declare_payload(name, args, **flags)))
        return check_outcome(c, 1, out, LOCKED, (50, 11), "queue", name)
    return scenario


LOCKED = ("channel", 405, "RESOURCE_LOCKED - cannot obtain exclusive access to locked <Q>. "
          "It could be originally declared on another connection or the exclusive property "
          "value does not match that of the original declaration.", 50, 10)


def exchange_scenario(name, etype, args, expected, existing=None, existing_type="direct"):
    """exchange.declare, of a new exchange or (with existing) of one created first."""
    def scenario(ctx):
        c = ctx.client("channel")
        created = existing is not None
        if created:
            c.send_method(1, 40, 10, exchange_payload(name, existing_type, existing))
            c.expect_method(40, 11)
        c.open_channel(2)
        out = provoke(c, method_frame(2, 40, 10, exchange_payload(name, etype, args)))
        try:
            return check_outcome(c, 2, out, expected, (40, 11), "exchange", name)
        finally:
            if created or (out.frame and out.frame.is_method(40, 11)):
                exchange_delete(*tidy_channel(ctx, c, out), name)
    return scenario


# ------------------------------------------------------------------ the cases

def flag_label(flags):
    return "".join(f" +{k}" for k, v in flags.items() if v)


def args_label(args):
    return ", ".join(f"{k}={show(v)}" for k, v in args.items()) or "no args"


class Cases:
    """Collects (label, scenario) pairs with a fresh queue or exchange name for each."""

    def __init__(self):
        self.items = []

    def name(self, prefix="qa"):
        return f"{prefix}{len(self.items)}-{SUFFIX}"

    def new(self, section, args, expected, name=None, **flags):
        name = self.name() if name is None else name
        label = f"{section} new {args_label(args)}{flag_label(flags)}"
        self.items.append((f"{len(self.items)} {label}",
                           new_queue_scenario(name, args, expected, **flags)))

    def redeclare(self, section, existing, args, expected, existing_flags=None, **flags):
        name = self.name("rq")
        shown_existing = args_label(existing) + flag_label(
            existing_flags if existing_flags is not None else flags)
        label = (f"{section} existing {shown_existing}, redeclare {args_label(args)}"
                 f"{flag_label(flags)}")
        self.items.append((f"{len(self.items)} {label}", redeclare_scenario(
            name, existing, args, expected, existing_flags, **flags)))

    def locked(self, section, args, **flags):
        name = self.name("lq")
        label = f"{section} exclusive of another connection, declare {args_label(args)}" \
                f"{flag_label(flags)}"
        self.items.append((f"{len(self.items)} {label}", locked_scenario(name, args, **flags)))

    def exchange(self, section, etype, args, expected, existing=None, existing_type="direct"):
        name = self.name("xa")
        label = f"{section} exchange {etype} {args_label(args)}"
        if existing is not None:
            label = f"{section} existing {existing_type} {args_label(existing)}, " \
                    f"redeclare {etype} {args_label(args)}"
        self.items.append((f"{len(self.items)} {label}", exchange_scenario(
            name, etype, args, expected, existing, existing_type)))


OTHER_TYPES = [  # non-integer values, with the type name RabbitMQ prints for them
    (S("abc"), "longstr"), (d(1.5), "double"), (f(1.5), "float"), (t(True), "bool"),
    (t(False), "bool"), (D(0, 5), "decimal"), (T(5), "timestamp"), (x(b"abc"), "binary"),
    (V, "void"), (F({"a": 1}), "table"), (A(1), "array")]
INT_WIDTHS = [b(5), B(5), s(5), u(5), I(5), i(5), l(5), L(5)]


def section_2(cases):
    """Per argument, on a new classic queue (no x-queue-type, non-durable)."""
    sec = "2"
    for arg in ("x-message-ttl", "x-expires"):
        for value, type_name in OTHER_TYPES:
            cases.new(sec, {arg: value}, t1(arg, not_int(type_name)))
        for value in (I(-1), l(-1), b(-1), s(-1)):
            cases.new(sec, {arg: value}, t1(arg, negative()))
        cases.new(sec, {arg: l(TWO_40)}, t1(arg, "{value_too_large,%s}" % TOO_BIG))
        cases.new(sec, {arg: l(LIMIT)}, OK)
        cases.new(sec, {arg: l(LIMIT + 1)}, t1(arg, "{value_too_large,%d}" % (LIMIT + 1)))
        cases.new(sec, {arg: i(4294967295)}, OK)
        for value in INT_WIDTHS:
            cases.new(sec, {arg: value}, OK)
    cases.new(sec, {"x-message-ttl": I(0)}, OK)
    cases.new(sec, {"x-expires": I(0)}, t1("x-expires", "{value_zero,0}"))

    for arg in ("x-max-length", "x-max-length-bytes"):
        for value, type_name in OTHER_TYPES:
            cases.new(sec, {arg: value}, t1(arg, not_int(type_name)))
        for value in (I(-1), l(-1)):
            cases.new(sec, {arg: value}, t1(arg, negative()))
        for value in [I(0), l(TWO_40)] + INT_WIDTHS:
            cases.new(sec, {arg: value}, OK)

    arg = "x-max-priority"
    for value, type_name in OTHER_TYPES:
        cases.new(sec, {arg: value}, t1(arg, not_int(type_name)))
    for value in (I(-1), l(-1), b(-1), s(-1)):
        cases.new(sec, {arg: value}, t1(arg, negative()))
    for value in [I(0), I(255)] + INT_WIDTHS:
        cases.new(sec, {arg: value}, OK)
    cases.new(sec, {arg: I(256)}, t1(arg, "{max_value_exceeded,256}"))
    cases.new(sec, {arg: I(1000)}, t1(arg, "{max_value_exceeded,1000}"))
    cases.new(sec, {arg: l(TWO_40)}, t1(arg, "{max_value_exceeded,%s}" % TOO_BIG))

    arg = "x-overflow"
    for value in (S("drop-head"), S("reject-publish"), S("reject-publish-dlx")):
        cases.new(sec, {arg: value}, OK)
    for value in (S("bogus"), S("")):
        cases.new(sec, {arg: value}, t1(arg, "invalid_overflow"))
    for value, type_name in ((x(b"drop-head"), "binary"), (I(1), "signedint"),
                             (t(True), "bool"), (d(1.5), "double"), (V, "void")):
        cases.new(sec, {arg: value}, t1(arg, bad_type(type_name)))

    arg = "x-queue-mode"
    for value in (S("lazy"), S("default")):
        cases.new(sec, {arg: value}, OK)
    cases.new(sec, {arg: S("bogus")}, t1(arg, "\"unsupported queue mode 'bogus'\""))
    cases.new(sec, {arg: S("")}, t1(arg, "\"unsupported queue mode ''\""))
    for value, type_name in ((x(b"lazy"), "binary"), (I(1), "signedint"), (t(True), "bool"),
                             (V, "void")):
        cases.new(sec, {arg: value}, t1(arg, bad_type(type_name)))

    arg = "x-queue-type"
    cases.new(sec, {arg: S("classic")}, OK)
    cases.new(sec, {arg: S("bogus")}, t1(arg, "\"unsupported queue type 'bogus'\""))
    cases.new(sec, {arg: S("")}, t1(arg, "\"unsupported queue type ''\""))
    for value, type_name in ((x(b"classic"), "binary"), (I(1), "signedint"),
                             (t(True), "bool"), (V, "void")):
        cases.new(sec, {arg: value}, t1(arg, bad_type(type_name)))

    arg = "x-dead-letter-exchange"
    for value in (S("amq.direct"), S("nonexistent-x"), S("")):
        cases.new(sec, {arg: value}, OK)
    for value, type_name in ((x(b"amq.direct"), "binary"), (I(1), "signedint"),
                             (t(True), "bool"), (V, "void")):
        cases.new(sec, {arg: value}, t3(type_name))

    arg = "x-dead-letter-routing-key"
    dlx = {"x-dead-letter-exchange": S("amq.direct")}
    cases.new(sec, {arg: S("rk")}, t1(arg, "routing_key_but_no_dlx_defined"))
    cases.new(sec, {**dlx, arg: S("rk")}, OK)
    for value, type_name in ((x(b"rk"), "binary"), (I(1), "signedint"), (t(True), "bool"),
                             (V, "void")):
        cases.new(sec, {arg: value}, t1(arg, bad_type(type_name)))
        cases.new(sec, {**dlx, arg: value}, t1(arg, bad_type(type_name)))

    arg = "x-single-active-consumer"
    for value in (t(True), t(False)):
        cases.new(sec, {arg: value}, OK)
    for value, type_name in ((S("true"), "longstr"), (S("abc"), "longstr"),
                             (I(1), "signedint"), (I(0), "signedint"), (x(b"true"), "binary"),
                             (V, "void")):
        cases.new(sec, {arg: value}, t1(arg, bad_type(type_name)))

    arg = "x-queue-version"
    for value in (I(1), I(2)):
        cases.new(sec, {arg: value}, OK)
    cases.new(sec, {arg: I(0)}, t1(arg, "\"unsupported queue version '0'\""))
    cases.new(sec, {arg: I(3)}, t1(arg, "\"unsupported queue version '3'\""))
    cases.new(sec, {arg: I(-1)}, t1(arg, negative()))
    cases.new(sec, {arg: S("2")}, t1(arg, not_int("longstr")))
    cases.new(sec, {arg: d(2.0)}, t1(arg, not_int("double")))

    # Arguments of other queue types: refused on classic whatever the value.
    for value in (S("abc"), I(-1), I(0), I(5), b(5), l(5), d(1.5), t(True)):
        cases.new(sec, {"x-delivery-limit": value}, t2("x-delivery-limit"))
    for arg in ("x-max-in-memory-length", "x-max-in-memory-bytes"):
        for value in (I(5), S("abc"), I(-1)):
            cases.new(sec, {arg: value}, t2(arg))
    for value in (S("at-most-once"), S("bogus"), I(1)):
        cases.new(sec, {"x-dead-letter-strategy": value}, t2("x-dead-letter-strategy"))
    cases.new(sec, {"x-max-age": S("1D")}, t2("x-max-age"))
    cases.new(sec, {"x-quorum-initial-group-size": I(1)}, t2("x-quorum-initial-group-size"))
    # Unknown to 3.10, hence ignored: x-consumer-timeout, x-bogus-arg, foo.
    for value in (S("abc"), I(-1), I(0), l(TWO_40), d(1.5), t(True), D(0, 5), T(5), x(b"a"),
                  V, F({}), A(1)):
        cases.new(sec, {"x-consumer-timeout": value}, OK)
    cases.new(sec, {"x-bogus-arg": S("abc"), "foo": I(-1)}, OK)


def section_3(cases):
    """Quorum and stream queues: flag rules and per-type arguments."""
    sec = "3"
    for qtype, module in ((QUORUM, QQ), (STREAM, SQ)):
        cases.new(sec, qtype, t4("non-durable"))
        cases.new(sec, qtype, OK if qtype is QUORUM else STREAM_OK, durable=True)
        cases.new(sec, qtype, t4("exclusive-owner"), durable=True, exclusive=True)
        cases.new(sec, qtype, t4("exclusive-owner"), exclusive=True)
        cases.new(sec, qtype, t4("auto-delete"), durable=True, auto_delete=True)
        cases.new(sec, qtype, t4("auto-delete"), exclusive=True, auto_delete=True)
        cases.new(sec, qtype, t4("auto-delete"), durable=True, exclusive=True,
                  auto_delete=True)
        cases.new(sec, qtype, t4("auto-delete"), auto_delete=True)
        cases.new(sec, qtype, close406(f"{PF}Cannot declare a server-named queue for type "
                                       f"{module}"), name="", durable=True)

    quorum = [
        ("x-delivery-limit", S("abc"), OK), ("x-delivery-limit", I(-1), OK),
        ("x-delivery-limit", I(0), OK), ("x-delivery-limit", I(5), OK),
        ("x-delivery-limit", d(1.5), OK),
        ("x-max-in-memory-length", S("abc"), t1("x-max-in-memory-length", not_int("longstr"))),
        ("x-max-in-memory-length", I(-1), t1("x-max-in-memory-length", negative())),
        ("x-max-in-memory-length", I(5), OK),
        ("x-max-in-memory-bytes", S("abc"), t1("x-max-in-memory-bytes", not_int("longstr"))),
        ("x-max-in-memory-bytes", I(-1), t1("x-max-in-memory-bytes", negative())),
        ("x-max-in-memory-bytes", l(5), OK),
        ("x-max-priority", I(5), t2("x-max-priority", QQ)),
        ("x-queue-mode", S("lazy"), t2("x-queue-mode", QQ)),
        ("x-queue-version", I(2), t2("x-queue-version", QQ)),
        ("x-max-age", S("1D"), t2("x-max-age", QQ)),
        ("x-overflow", S("drop-head"), OK), ("x-overflow", S("reject-publish-dlx"), OK),
        ("x-overflow", S("bogus"), t1("x-overflow", "invalid_overflow")),
        ("x-message-ttl", I(1000), OK),
        ("x-message-ttl", S("abc"), t1("x-message-ttl", not_int("longstr"))),
        ("x-single-active-consumer", t(True), OK), ("x-expires", I(1000), OK),
        ("x-quorum-initial-group-size", I(0), t1("x-quorum-initial-group-size",
                                                 "{value_zero,0}")),
        ("x-quorum-initial-group-size", S("abc"), t1("x-quorum-initial-group-size",
                                                     not_int("longstr"))),
        ("x-quorum-initial-group-size", I(1), OK),
        ("x-consumer-timeout", S("abc"), OK),
        ("x-queue-leader-locator", S("bogus"), t1("x-queue-leader-locator",
                                                  "invalid_queue_locator_arg")),
        ("x-queue-leader-locator", S("balanced"), OK),
        ("x-dead-letter-strategy", S("at-most-once"), OK),
        ("x-dead-letter-strategy", S("bogus"), t1("x-dead-letter-strategy",
                                                  "invalid_dlx_strategy")),
        ("x-dead-letter-strategy", I(1), t1("x-dead-letter-strategy", bad_type("signedint"))),
    ]
    for arg, value, expected in quorum:
        cases.new(sec, {**QUORUM, arg: value}, expected, durable=True)

    stream = [
        ("x-max-length-bytes", I(-1), t1("x-max-length-bytes", negative())),
        ("x-max-length-bytes", I(1000), STREAM_OK),
        ("x-max-age", S("1D"), STREAM_OK),
        ("x-max-age", S("0D"), t1("x-max-age", "invalid_max_age")),
        ("x-max-age", I(5), t1("x-max-age", bad_type("signedint"))),
        ("x-stream-max-segment-size-bytes", I(-1), t1("x-stream-max-segment-size-bytes",
                                                      negative())),
        ("x-stream-max-segment-size-bytes", l(TWO_40), SEGMENT_TOO_BIG),
        ("x-stream-max-segment-size-bytes", l(3000000001), SEGMENT_TOO_BIG),
        ("x-stream-max-segment-size-bytes", l(3000000000), STREAM_OK),
        ("x-stream-max-segment-size-bytes", I(0), STREAM_OK),
        ("x-stream-max-segment-size-bytes", S("abc"), t1("x-stream-max-segment-size-bytes",
                                                         not_int("longstr"))),
        ("x-stream-max-segment-size-bytes", d(1.5), t1("x-stream-max-segment-size-bytes",
                                                       not_int("double"))),
        ("x-initial-cluster-size", I(0), t1("x-initial-cluster-size", "{value_zero,0}")),
        ("x-message-ttl", I(1000), t2("x-message-ttl", SQ)),
        ("x-max-length", I(5), t2("x-max-length", SQ)),
        ("x-delivery-limit", I(5), t2("x-delivery-limit", SQ)),
    ]
    for arg, value, expected in stream:
        cases.new(sec, {**STREAM, arg: value}, expected, durable=True)


def section_4(cases):
    """Which error wins when several are wrong (new queue)."""
    sec = "4"
    bad_ttl = t1("x-message-ttl", not_int("longstr"))
    reserved = cases.name("amq.qa")
    cases.new(sec, {"x-message-ttl": S("abc")}, ("channel", 403, (
        f"ACCESS_REFUSED - queue name '{reserved}' contains reserved prefix 'amq.*'"), 50, 10),
        name=reserved)
    cases.new(sec, {"x-message-ttl": S("abc")}, bad_ttl, name="")  # server-named classic
    cases.new(sec, {"x-message-ttl": S("abc"), "x-expires": S("abc")},
              t1("x-expires", not_int("longstr")))
    cases.new(sec, {"x-expires": S("abc"), "x-message-ttl": S("abc")},
              t1("x-expires", not_int("longstr")))
    cases.new(sec, {"x-max-priority": S("abc"), "x-max-length": S("abc")},
              t1("x-max-length", not_int("longstr")))
    cases.new(sec, {"x-queue-mode": S("bogus"), "x-overflow": S("bogus")},
              t1("x-overflow", "invalid_overflow"))
    bogus_type = t1("x-queue-type", "\"unsupported queue type 'bogus'\"")
    cases.new(sec, {"x-message-ttl": S("abc"), "x-queue-type": S("bogus")}, bogus_type)
    cases.new(sec, {"x-queue-type": S("bogus"), "x-message-ttl": S("abc")}, bogus_type)
    cases.new(sec, {"x-delivery-limit": I(1), "x-queue-type": S("bogus")}, bogus_type)
    cases.new(sec, {"x-message-ttl": S("abc"), "x-dead-letter-exchange": I(1)},
              t3("signedint"))
    cases.new(sec, {"x-dead-letter-exchange": x(b"e"), "x-dead-letter-routing-key": I(1)},
              t3("binary"))
    cases.new(sec, {"x-message-ttl": S("abc"), "x-dead-letter-exchange": S("nonexistent-x")},
              bad_ttl)
    cases.new(sec, {"x-delivery-limit": I(5), "x-message-ttl": S("abc")}, bad_ttl)
    cases.new(sec, {"x-delivery-limit": I(5), "x-max-in-memory-length": I(5)},
              t2("x-delivery-limit"))
    cases.new(sec, {"x-max-in-memory-length": I(5), "x-delivery-limit": I(5)},
              t2("x-max-in-memory-length"))
    cases.new(sec, {"x-single-active-consumer": S("abc"), "x-queue-version": I(3)},
              t1("x-queue-version", "\"unsupported queue version '3'\""))
    cases.new(sec, {**QUORUM, "x-max-priority": I(1), "x-message-ttl": S("abc")}, bad_ttl,
              durable=True)
    cases.new(sec, {**STREAM, "x-max-length": I(1), "x-max-length-bytes": S("abc")},
              t1("x-max-length-bytes", not_int("longstr")), durable=True)
    cases.new(sec, {**QUORUM, "x-message-ttl": S("abc")}, bad_ttl, exclusive=True)
    cases.new(sec, {**QUORUM, "x-max-priority": I(5)}, t2("x-max-priority", QQ))
    # The segment-size limit comes after every validator, the T2 check and the flag rules.
    seg = {**STREAM, "x-stream-max-segment-size-bytes": l(TWO_40)}
    cases.new(sec, {**seg, "x-initial-cluster-size": I(0)},
              t1("x-initial-cluster-size", "{value_zero,0}"), durable=True)
    cases.new(sec, {**seg, "x-max-age": S("0D")}, t1("x-max-age", "invalid_max_age"),
              durable=True)
    cases.new(sec, {**seg, "x-max-length-bytes": I(-1)}, t1("x-max-length-bytes", negative()),
              durable=True)
    cases.new(sec, {**seg, "x-message-ttl": I(1)}, t2("x-message-ttl", SQ), durable=True)
    cases.new(sec, seg, t4("non-durable"))
    cases.new(sec, seg, t4("exclusive-owner"), durable=True, exclusive=True)
    # passive: no argument is looked at
    cases.new(sec, {"x-message-ttl": S("abc")}, ("channel", 404, "NOT_FOUND - no queue "
                                                 "'<N>' in vhost '/'", 50, 10), passive=True)


def section_5(cases):
    """Redeclaring an existing queue: compared, never validated."""
    sec = "5"
    ttl = "x-message-ttl"
    base = {ttl: I(1000)}
    current = q(1000)
    cases.redeclare(sec, base, {ttl: S("abc")}, ineq(ttl, q("abc"), current))
    for same in (I(1000), l(1000), u(1000), i(1000), T(1000)):
        cases.redeclare(sec, base, {ttl: same}, OK)
    cases.redeclare(sec, {ttl: l(100)}, {ttl: b(100)}, OK)
    cases.redeclare(sec, base, {ttl: d(1000.0)}, ineq(ttl, q("1.0e3"), current))
    cases.redeclare(sec, base, {ttl: I(2000)}, ineq(ttl, q(2000), current))
    cases.redeclare(sec, base, {ttl: I(-1)}, ineq(ttl, q(-1), current))
    cases.redeclare(sec, base, {ttl: t(True)}, ineq(ttl, q("true"), current))
    cases.redeclare(sec, base, {}, ineq(ttl, NONE, typed(1000, "signedint")))
    cases.redeclare(sec, base, {ttl: I(1000), "x-expires": S("abc")},
                    ineq("x-expires", typed("abc", "longstr"), NONE))
    cases.redeclare(sec, base, {ttl: I(1000), "x-delivery-limit": S("abc")}, OK)
    cases.redeclare(sec, base, {ttl: I(1000), "x-bogus": S("abc")}, OK)
    both = {ttl: I(1000), "x-expires": I(100000)}
    cases.redeclare(sec, both, {ttl: I(1), "x-expires": I(1)},
                    ineq("x-expires", q(1), q(100000)))
    cases.redeclare(sec, both, {"x-max-priority": I(1), ttl: I(1), "x-expires": I(100000)},
                    ineq(ttl, q(1), current))
    cases.redeclare(sec, both, {"x-queue-type": S("classic"), **both}, OK)
    cases.redeclare(sec, {}, {ttl: S("abc")},
                    ineq("durable", q("true"), q("false")), existing_flags={}, durable=True)
    cases.redeclare(sec, base, {ttl: I(1)},
                    ineq("auto_delete", q("true"), q("false")), existing_flags={},
                    auto_delete=True)
    cases.redeclare(sec, {}, {}, ineq("durable", q("true"), q("false")), existing_flags={},
                    durable=True, auto_delete=True)
    cases.redeclare(sec, {}, {"x-queue-type": S("classic")}, OK)
    cases.redeclare(sec, {"x-queue-type": S("classic")}, {}, OK)
    for qtype in ("quorum", "bogus"):
        cases.redeclare(sec, {}, {"x-queue-type": S(qtype)},
                        ineq("x-queue-type", typed(qtype, "longstr"), NONE))
    dlx = "x-dead-letter-exchange"
    cases.redeclare(sec, {dlx: S("amq.fanout")}, {dlx: S("amq.direct")},
                    ineq(dlx, q("amq.direct"), q("amq.fanout")))
    cases.redeclare(sec, {dlx: S("amq.direct")}, {dlx: x(b"amq.direct")}, OK)
    cases.redeclare(sec, {"x-max-priority": I(5)}, {"x-max-priority": I(10)},
                    ineq("x-max-priority", q(10), q(5)))
    cases.redeclare(sec, {}, {"x-overflow": S("drop-head")},
                    ineq("x-overflow", typed("drop-head", "longstr"), NONE))
    sac = "x-single-active-consumer"
    cases.redeclare(sec, {sac: t(True)}, {sac: t(False)}, ineq(sac, q("false"), q("true")))
    cases.redeclare(sec, {sac: t(True)}, {sac: I(1)}, ineq(sac, q(1), q("true")))

    cases.redeclare(sec, {dlx: S("amq.direct")}, {dlx: I(1)},
                    ineq(dlx, q(1), q("amq.direct")))
    # A void value prints as none even when both sides have the argument.
    cases.redeclare(sec, {dlx: S("amq.direct")}, {dlx: V}, ineq(dlx, NONE, q("amq.direct")))
    cases.redeclare(sec, base, {ttl: S("abc")}, OK, existing_flags={}, passive=True)
    # Exclusive queues are never durable, whatever the durable flag says.
    excl = {"exclusive": True}
    excl_durable = {"exclusive": True, "durable": True}
    cases.redeclare(sec, {}, {}, OK, existing_flags=excl, **excl_durable)
    cases.redeclare(sec, {}, {}, OK, existing_flags=excl_durable, **excl)
    cases.redeclare(sec, {}, {}, OK, existing_flags=excl_durable, **excl_durable)
    cases.redeclare(sec, {}, {}, ineq("auto_delete", q("true"), q("false")),
                    existing_flags=excl_durable, exclusive=True, auto_delete=True)
    # The owner itself, without the exclusive flag: the exclusive check comes first.
    cases.redeclare(sec, {}, {}, LOCKED, existing_flags=excl_durable, durable=True)
    cases.locked(sec, {"x-message-ttl": I(1000)}, exclusive=True)
    cases.locked(sec, {}, durable=True)
    cases.locked(sec, {}, passive=True)

    limit = "x-delivery-limit"
    void = {**QUORUM, limit: V}
    cases.redeclare(sec, void, {**QUORUM, limit: I(5)}, ineq(limit, q(5), NONE), durable=True)
    cases.redeclare(sec, void, {**QUORUM, limit: t(True)}, ineq(limit, q("true"), NONE),
                    durable=True)
    cases.redeclare(sec, void, void, OK, durable=True)
    cases.redeclare(sec, void, QUORUM, ineq(limit, NONE, typed("undefined", "void")),
                    durable=True)
    text = {**QUORUM, limit: S("abc")}
    current = q("abc")
    for value, shown in ((V, NONE), (A(1), q("[{signedint,1}]")),
                         (F({"a": 1}), q('[{<<"a">>,signedint,1}]')),
                         (l(TWO_40), q(TOO_BIG)), (d(1.5), q("1.5")), (f(1.5), q("1.5")),
                         (T(15), q(15))):
        cases.redeclare(sec, text, {**QUORUM, limit: value}, ineq(limit, shown, current),
                        durable=True)
    cases.redeclare(sec, text, {**QUORUM, limit: x(b"abc")}, OK, durable=True)
    cases.redeclare(sec, text, QUORUM, ineq(limit, NONE, typed("abc", "longstr")),
                    durable=True)
    quorum = {**QUORUM, limit: I(5)}
    cases.redeclare(sec, quorum, {**QUORUM, limit: l(5)}, OK, durable=True)
    cases.redeclare(sec, quorum, {**QUORUM, limit: S("abc")}, ineq(limit, q("abc"), q(5)),
                    durable=True)
    cases.redeclare(sec, quorum, {limit: I(5)},
                    ineq("x-queue-type", NONE, typed("quorum", "longstr")), durable=True)
    cases.redeclare(sec, quorum, {"x-queue-type": S("classic"), limit: I(5)},
                    ineq("x-queue-type", q("classic"), q("quorum")), durable=True)
    cases.redeclare(sec, quorum, {**quorum, "x-max-priority": S("abc")}, OK, durable=True)


def section_6(cases):
    """exchange.declare and alternate-exchange."""
    sec = "6"
    ae = "alternate-exchange"
    cases.exchange(sec, "direct", {ae: S("ae")}, OK)
    for value, type_name in ((I(1), "signedint"), (t(True), "bool"), (x(b"ae"), "binary"),
                             (d(1.5), "double"), (V, "void"), (F({}), "table"),
                             (A(S("ae")), "array")):
        cases.exchange(sec, "direct", {ae: value}, close406(
            f"{PF}invalid type '{type_name}' for arg 'alternate-exchange' in <X>", 40))
    cases.exchange(sec, "direct", {"x-delayed-type": S("direct")}, OK)
    cases.exchange(sec, "direct", {"x-delayed-type": S("bogus")}, OK)
    cases.exchange(sec, "topic", {"x-delayed-type": I(1)}, OK)
    # Warren has the delayed-message plugin's type built in (delayed_message_test.py); a
    # RabbitMQ without the plugin does not know it.
    if os.environ.get("AMQP_EXPECT_PRODUCT") == "Warren":
        cases.exchange(sec, "x-delayed-message", {"x-delayed-type": S("direct")}, OK)
    else:
        cases.exchange(sec, "x-delayed-message", {"x-delayed-type": S("direct")}, (
            "connection", 503, "COMMAND_INVALID - unknown exchange type 'x-delayed-message'",
            40, 10))
    cases.exchange(sec, "fanout", {"x-bogus": I(-1), "foo": S("bar")}, OK)

    def xineq(received, current):
        return ineq(ae, received, current, where="<X>", class_id=40)
    existing = {ae: S("ae1")}
    cases.exchange(sec, "direct", {ae: S("ae2")}, xineq(q("ae2"), q("ae1")), existing)
    cases.exchange(sec, "direct", {}, xineq(NONE, typed("ae1", "longstr")), existing)
    cases.exchange(sec, "direct", {ae: x(b"ae1")}, OK, existing)
    cases.exchange(sec, "direct", {ae: I(1)}, xineq(q(1), q("ae1")), existing)
    cases.exchange(sec, "direct", {ae: S("ae1"), "x-bogus": I(1)}, OK, existing)
    cases.exchange(sec, "fanout", {ae: S("ae2")}, close406(
        f"{PF}inequivalent arg 'type' for <X>: received 'fanout' but current is 'direct'", 40),
        existing)
    cases.exchange(sec, "direct", {ae: S("ae2")}, xineq(typed("ae2", "longstr"), NONE), {})


def scenarios():
    cases = Cases()
    for section in (section_2, section_3, section_4, section_5, section_6):
        section(cases)
    return cases.items


if __name__ == "__main__":
    sys.exit(run_scenarios(scenarios()))
