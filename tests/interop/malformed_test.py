#!/usr/bin/python3
# Raw-socket checks that handshake, framing and protocol faults get exactly RabbitMQ 3.10's answers.
"""Each scenario runs on fresh connections to AMQP_HOST:AMQP_PORT and asserts the observed
frames, reply codes/texts, class/method ids and socket closing. Expected values come from
RabbitMQ; see rabbitmq-observed.md. Exit status 0 only if every scenario passed."""

import os
import re
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawamqp import (  # noqa: E402
    PROTOCOL_HEADER, Raw, amqplain_response, basic_publish_args, basic_qos_args,
    bits, body_frame, close_args, content_header_frame, default_client_properties,
    erlang_octets, exchange_declare_args, expect_alive, expect_channel_close,
    expect_connection_close, expect_fatal_close, expect_quiet, expect_reply,
    expect_silent_close, frame, heartbeat_frame, long_, longstr, method_frame,
    method_payload, open_args, provoke, queue_declare_args, reply_text_cut, run_scenarios,
    short, shortstr, start_ok_args, table, table_body, tune_ok_args)

HANDSHAKE_DELAY = (2.5, 4.0)   # RabbitMQ waits 3 s before silently dropping a bad handshake
AT_ONCE = (0.0, 1.0)
AFC = {"authentication_failure_close": True}
RUNNING_504 = "CHANNEL_ERROR - unexpected method in connection state running"
OPENING_504 = "CHANNEL_ERROR - unexpected method in connection state opening"
EXPECTED_OPEN = "CHANNEL_ERROR - expected 'channel.open'"
SECOND_OPEN = "CHANNEL_ERROR - second 'channel.open' seen"
UNIMPLEMENTED = "COMMAND_INVALID - unimplemented method"
NOT_METHOD = "UNEXPECTED_FRAME - expected method frame, got non method frame instead"
NOT_HEADER = ("UNEXPECTED_FRAME - expected content header for class 60, "
              "got non content header frame instead")
NOT_BODY = "UNEXPECTED_FRAME - expected content body, got non content body frame instead"


# ------------------------------------------------------------------ scenario builders

def conn_error(state, data, code, text, class_id, method_id, **kw):
    def scenario(ctx):
        c = ctx.client(state, **kw)
        return expect_connection_close(provoke(c, data), code, text, class_id, method_id)
    return scenario


def fatal_error(state, data, code, text, class_id, method_id, **kw):
    def scenario(ctx):
        c = ctx.client(state, **kw)
        out = provoke(c, data, close_wait=HANDSHAKE_DELAY[1] + 0.5)
        return expect_fatal_close(out, code, text, class_id, method_id, HANDSHAKE_DELAY)
    return scenario


# RabbitMQ 3.10's connection process crashes on an unknown method id or field type and drops
# TCP without a word; Warren departs from that on purpose and sends a connection.close.
WARREN = os.environ.get("AMQP_EXPECT_PRODUCT") == "Warren"


def unknown_method_close(state, channel, class_id, method_id):
    if not WARREN:
        return silent_close(state, method_frame(channel, class_id, method_id), AT_ONCE)
    return conn_error(state, method_frame(channel, class_id, method_id), 540,
                      f"NOT_IMPLEMENTED - unknown method class {class_id} id {method_id}",
                      class_id, method_id)


def silent_close(state, data, within=HANDSHAKE_DELAY, **kw):
    def scenario(ctx):
        c = ctx.client(state, **kw)
        return expect_silent_close(provoke(c, data, timeout=within[1] + 0.5), within)
    return scenario


def replies(state, data, class_id, method_id, channel=None, **kw):
    def scenario(ctx):
        c = ctx.client(state, **kw)
        return expect_reply(provoke(c, data), class_id, method_id, channel)
    return scenario


def accepted(state, data, **kw):
    """No error: nothing comes back and the connection still answers basic.qos."""
    def scenario(ctx):
        c = ctx.client(state, **kw)
        for chunk in (data if isinstance(data, list) else [data]):
            c.send(chunk)
        quiet = expect_quiet(c, 0.3)
        return f"{quiet}; {expect_alive(c)}"
    return scenario


def start_ok(**kw):
    return method_frame(0, 10, 11, start_ok_args(**kw))


def afc_start_ok(**kw):
    return start_ok(client_properties=default_client_properties(AFC), **kw)


def tune_ok(channel_max=2047, frame_max=131072, heartbeat=0):
    return method_frame(0, 10, 31, tune_ok_args(channel_max, frame_max, heartbeat))


def publish(channel=1):
    return method_frame(channel, 60, 40, basic_publish_args("", "no-such-queue"))


def qos(channel=1):
    return method_frame(channel, 60, 10, basic_qos_args())


# ------------------------------------------------------------------ 1. handshake values

def start_contents(ctx):
    c = ctx.raw()
    c.send_header()
    r = c.read_start().args()
    version = (r.octet(), r.octet())
    props = r.table()
    mechanisms, locales, rest = r.longstr(), r.longstr(), r.rest()
    assert version == (0, 9), f"version {version}"
    want_keys = {"capabilities", "cluster_name", "copyright", "information", "platform",
                 "product", "version"}
    assert set(props) == want_keys, f"server-properties keys {sorted(props)}"
    for k in want_keys - {"capabilities"}:
        assert props[k][0] == "S", f"{k} has type {props[k][0]}, expected S"
    assert props["capabilities"][0] == "F", "capabilities is not a table"
    caps = props["capabilities"][1]
    want_caps = ["publisher_confirms", "exchange_exchange_bindings", "basic.nack",
                 "consumer_cancel_notify", "connection.blocked", "consumer_priorities",
                 "authentication_failure_close", "per_consumer_qos", "direct_reply_to"]
    assert sorted(caps) == sorted(want_caps), f"capabilities {list(caps)}"
    assert all(v == ("t", True) for v in caps.values()), f"capability values {caps}"
    assert mechanisms == b"PLAIN AMQPLAIN", f"mechanisms {mechanisms!r}"
    assert locales == b"en_US", f"locales {locales!r}"
    assert rest == b"", f"trailing {rest!r}"
    return (f"version 0-9, properties {sorted(props)}, {len(caps)} capabilities all true, "
            f"mechanisms {mechanisms.decode()}, locales {locales.decode()}")


def tune_and_open_ok(ctx):
    c = ctx.client("tune")
    assert c.tune == (2047, 131072, 60), f"tune {c.tune}"
    c.send(tune_ok())
    c.send_method(0, 10, 40, open_args("/"))
    f = c.expect_method(10, 41)
    assert f.payload == b"\x00\x0a\x00\x29\x00", f"open-ok payload {f.payload.hex()}"
    return "tune (2047, 131072, 60); open-ok carries one empty shortstr"


def amqp_0_9_header(ctx):
    c = ctx.raw()
    c.send(b"AMQP\x01\x01\x00\x09")
    r = c.read_start().args()
    assert (r.octet(), r.octet()) == (0, 9)
    c.send_start_ok()
    c.read_tune()
    c.send(tune_ok())
    c.send_method(0, 10, 40, open_args("/"))
    c.expect_method(10, 41)
    return "AMQP 1-1-0-9 header accepted, handshake completed"


def start_ok_at_handshake_frame_limit(size, accept):
    def scenario(ctx):
        c = ctx.client("start")
        base = start_ok_args(client_properties={"product": "x", "pad": ""})
        pad = size - 4 - len(base)
        payload = method_payload(10, 11, start_ok_args(
            client_properties={"product": "x", "pad": "p" * pad}))
        assert len(payload) == size
        out = provoke(c, frame(1, 0, payload), timeout=4.5)
        if accept:
            return expect_reply(out, 10, 30)
        return expect_silent_close(out, HANDSHAKE_DELAY)
    return scenario


# ------------------------------------------------------------------ 2. protocol header

def header_refused(header, shut=False):
    def scenario(ctx):
        c = ctx.raw()
        c.send(header)
        if shut:
            c.sock.shutdown(1)
        got = c.read_all_until_close(AT_ONCE[1] + 1.0)
        want = b"" if shut else PROTOCOL_HEADER
        assert got == want, f"got {got!r}, expected {want!r}"
        return f"got {got!r}, socket closed"
    return scenario


# ------------------------------------------------------------------ 8. channels

def channel_max_counts_channels(ctx):
    c = ctx.client("open", channel_max=10)
    c.send_method(11, 20, 10, shortstr(""))
    c.expect_method(20, 11)
    c.send_method(65535, 20, 10, shortstr(""))
    c.expect_method(20, 11)
    for ch in range(1, 9):
        c.send_method(ch, 20, 10, shortstr(""))
        c.expect_method(20, 11)
    out = provoke(c, method_frame(500, 20, 10, shortstr("")))
    text = ("NOT_ALLOWED - number of channels opened (10) has reached the negotiated "
            "channel_max (10)")
    return "ids 11 and 65535 accepted; " + expect_connection_close(out, 530, text, 0, 0)


def reopen_after_close_ok(ctx):
    c = ctx.client("channel")
    c.send_method(1, 20, 40, close_args(200, "bye", 0, 0))
    c.expect_method(20, 41)
    c.open_channel(1)
    return expect_alive(c)


def method_after_close_ok(ctx):
    c = ctx.client("channel")
    c.send_method(1, 20, 40, close_args(200, "bye", 0, 0))
    c.expect_method(20, 41)
    return expect_connection_close(provoke(c, qos()), 504, EXPECTED_OPEN, 60, 10)


def provoke_channel_close(c):
    out = provoke(c, method_frame(1, 50, 10, queue_declare_args("no-such-queue", passive=True)))
    expect_channel_close(out, 1, 404, "NOT_FOUND - no queue 'no-such-queue' in vhost '/'",
                         50, 10)


def server_closed_channel_ignores(ctx):
    c = ctx.client("channel")
    provoke_channel_close(c)
    c.send(qos())
    c.send(publish())
    c.send(content_header_frame(1, 3))
    c.send(body_frame(1, b"abc"))
    expect_quiet(c, 0.3)
    c.send_method(1, 20, 41)
    c.open_channel(1)
    return "404 channel.close; qos and publish ignored until close-ok; reopened; " \
        + expect_alive(c)


def server_closed_channel_crossing_close(ctx):
    c = ctx.client("channel")
    provoke_channel_close(c)
    out = provoke(c, method_frame(1, 20, 40, close_args()))
    return expect_reply(out, 20, 41, 1)


def server_closed_channel_open(ctx):
    c = ctx.client("channel")
    provoke_channel_close(c)
    out = provoke(c, method_frame(1, 20, 10, shortstr("")))
    return expect_connection_close(out, 504, SECOND_OPEN, 20, 10)


# ------------------------------------------------------------------ 9. content

def body_overrun_then_method(ctx):
    c = ctx.client("channel")
    c.send(publish())
    c.send(content_header_frame(1, 3))
    if WARREN:
        # RabbitMQ waits forever for a body that cannot end; Warren says so at once.
        return expect_connection_close(
            provoke(c, body_frame(1, b"abcde")), 505,
            "UNEXPECTED_FRAME - content body of 5 octets exceeds the 3 announced", 60, 40)
    c.send(body_frame(1, b"abcde"))
    quiet = expect_quiet(c, 0.3)
    return f"overrun: {quiet}; then qos: " + expect_connection_close(
        provoke(c, qos()), 505, NOT_BODY, 60, 40)


def frame_max_boundary(payload_size, ok):
    def scenario(ctx):
        c = ctx.client("channel", frame_max=4096)
        data = [publish(), content_header_frame(1, payload_size),
                body_frame(1, b"x" * payload_size)]
        if ok:
            for chunk in data:
                c.send(chunk)
            return f"body payload {payload_size} accepted; {expect_alive(c)}"
        out = provoke(c, data, close_wait=HANDSHAKE_DELAY[1] + 0.5)
        text = f"FRAME_ERROR - type 3, all octets = <<>>: {{frame_too_large,{payload_size},4088}}"
        return expect_fatal_close(out, 501, text, 0, 0, HANDSHAKE_DELAY)
    return scenario


# ------------------------------------------------------------------ 12. closing

def flow_active(ctx):
    c = ctx.client("channel")
    out = provoke(c, method_frame(1, 20, 20, bits(True)))
    expect_reply(out, 20, 21, 1)
    assert out.frame.payload[4:] == b"\x01", f"flow-ok args {out.frame.payload[4:]!r}"
    return "channel.flow-ok active=true"


def client_channel_close(ctx):
    c = ctx.client("channel")
    out = provoke(c, method_frame(1, 20, 40, close_args(406, "client says so", 60, 40)))
    expect_reply(out, 20, 41, 1)
    c.open_channel(2)
    return f"channel.close-ok; {expect_alive(c, channel=2)}"


def client_connection_close(ctx):
    c = ctx.client("channel")
    out = provoke(c, method_frame(0, 10, 50, close_args(200, "bye", 0, 0)))
    expect_reply(out, 10, 51, 0)
    assert out.frame.payload == b"\x00\x0a\x00\x33", "close-ok has arguments"
    return "connection.close-ok"


def after_server_close(ctx):
    c = ctx.client("channel")
    out = provoke(c, frame(9, 0, b""), close_ok=False)
    expect_connection_close(out, 501, "FRAME_ERROR - type 9, all octets = <<>>: unknown_frame",
                            0, 0, closes_within=None)
    for chunk in (qos(), start_ok(), frame(9, 0, b""), heartbeat_frame(1),
                  method_frame(1, 20, 10, shortstr(""))):
        c.send(chunk)
    ignored = expect_quiet(c, 0.3)
    crossing = provoke(c, method_frame(0, 10, 50, close_args()), close_ok=False)
    expect_reply(crossing, 10, 51, 0)
    c.send_method(0, 10, 51)
    closed = c.wait_closed(1.0)
    assert closed is not None, "socket not closed after close-ok"
    return (f"other frames ignored ({ignored}); crossing close answered with close-ok; "
            f"socket closed {closed:.2f}s after our close-ok")


def after_client_close(ctx):
    c = ctx.client("channel")
    expect_reply(provoke(c, method_frame(0, 10, 50, close_args())), 10, 51, 0)
    c.send(qos())
    c.send(frame(9, 0, b""))
    quiet = expect_quiet(c, 0.3)
    again = provoke(c, method_frame(0, 10, 50, close_args()))
    return f"frames ignored ({quiet}); second close: " + expect_reply(again, 10, 51, 0)


# ------------------------------------------------------------------ the list

def scenarios():
    unexpected_ch1_open = "UNEXPECTED_FRAME - type 1, all octets = <<0,20,0,10,0>>"
    bad_table_args = exchange_declare_args(
        "ex-bad-table", raw_arguments=long_(100) + shortstr("k") + b"S")
    trailing_300 = basic_qos_args() + b"\x01" * 300
    unknown_type_args = exchange_declare_args(
        "ex-unknown-type", raw_arguments=long_(5) + shortstr("k") + b"Z\x00\x00")
    every_type_args = exchange_declare_args("ex-every-type", arguments={
        "x": Raw(b"x" + longstr(b"\x01\x02")), "V": Raw(b"V"), "u": Raw(b"u\x00\x05"),
        "s": Raw(b"s\x00\x05"), "B": Raw(b"B\x05"), "b": Raw(b"b\x05"),
        "D": Raw(b"D\x02\x00\x00\x00\x05"), "T": Raw(b"T" + b"\x00" * 7 + b"\x05"),
        "f": Raw(b"f" + struct.pack(">f", 1.5)), "i": Raw(b"i\x00\x00\x00\x05"),
        "A": Raw(b"A\x00\x00\x00\x00"), "F": {"n": 1}, "t": True, "l": 2**40, "d": 0.5})
    def dumped(prefix, suffix=""):
        """An Erlang octet dump whose exact rendering (string or decimals) may vary."""
        return re.compile(re.escape(prefix) + r"(all|first 16) octets = <<.*>>"
                          + re.escape(suffix), re.S)

    return [
        # 1. handshake values
        ("1 connection.start contents", start_contents),
        ("1 tune values and open-ok", tune_and_open_ok),
        ("1 AMQP 0-9 header (1,1,0,9) accepted", amqp_0_9_header),
        ("1 start-ok payload 4096 accepted before tune", start_ok_at_handshake_frame_limit(4096, True)),
        ("1 start-ok payload 4097 refused before tune", start_ok_at_handshake_frame_limit(4097, False)),
        # 2. protocol header
        ("2 header AMQP 0-0-9-0", header_refused(b"AMQP\x00\x00\x09\x00")),
        ("2 header AMQP 0-0-8-0", header_refused(b"AMQP\x00\x00\x08\x00")),
        ("2 header AMQP 0-0-9-2", header_refused(b"AMQP\x00\x00\x09\x02")),
        ("2 header AMQP 1.0", header_refused(b"AMQP\x00\x01\x00\x00")),
        ("2 header AMQPabcd", header_refused(b"AMQPabcd")),
        ("2 header HTTP", header_refused(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")),
        ("2 header 3 bytes then FIN", header_refused(b"AMQ", shut=True)),
        # 3. authentication
        ("3 PLAIN good", replies("start", start_ok(), 10, 30)),
        ("3 AMQPLAIN good", replies("start", start_ok(
            mechanism="AMQPLAIN", response=amqplain_response("guest", "guest")), 10, 30)),
        ("3 locale fr_FR accepted", replies("start", start_ok(locale="fr_FR"), 10, 30)),
        ("3 PLAIN bad password with authentication_failure_close", conn_error(
            "start", afc_start_ok(response=b"\x00guest\x00wrong"), 403,
            "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
            "For details see the broker logfile.", 0, 0)),
        ("3 PLAIN unknown user with authentication_failure_close", conn_error(
            "start", afc_start_ok(response=b"\x00nobody\x00x"), 403,
            "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
            "For details see the broker logfile.", 0, 0)),
        ("3 AMQPLAIN bad password with authentication_failure_close", conn_error(
            "start", afc_start_ok(mechanism="AMQPLAIN",
                                  response=amqplain_response("guest", "wrong")), 403,
            "ACCESS_REFUSED - Login was refused using authentication mechanism AMQPLAIN. "
            "For details see the broker logfile.", 0, 0)),
        ("3 PLAIN bad password without capability", silent_close(
            "start", start_ok(response=b"\x00guest\x00wrong"))),
        ("3 PLAIN bad password with capability false", silent_close(
            "start", start_ok(response=b"\x00guest\x00wrong", client_properties=
                              default_client_properties({"authentication_failure_close": False})))),
        ("3 AMQPLAIN bad password without capability", silent_close(
            "start", start_ok(mechanism="AMQPLAIN", response=amqplain_response("guest", "x")))),
        ("3 unknown mechanism", silent_close("start", afc_start_ok(mechanism="FOO"))),
        ("3 lowercase mechanism", silent_close("start", afc_start_ok(mechanism="plain"))),
        ("3 PLAIN response without NULs", silent_close("start", afc_start_ok(response=b"guestguest"))),
        ("3 PLAIN response with authzid", silent_close(
            "start", afc_start_ok(response=b"guest\x00guest\x00guest"))),
        ("3 AMQPLAIN without PASSWORD", silent_close("start", afc_start_ok(
            mechanism="AMQPLAIN", response=table_body({"LOGIN": "guest"})))),
        # 4. tune-ok
        ("4 tune-ok frame_max 1000", silent_close("tune", tune_ok(frame_max=1000))),
        ("4 tune-ok frame_max 4095", silent_close("tune", tune_ok(frame_max=4095))),
        ("4 tune-ok frame_max 0", silent_close("tune", tune_ok(frame_max=0))),
        ("4 tune-ok frame_max 131073", silent_close("tune", tune_ok(frame_max=131073))),
        ("4 tune-ok frame_max 200000", silent_close("tune", tune_ok(frame_max=200000))),
        ("4 tune-ok channel_max 0", silent_close("tune", tune_ok(channel_max=0))),
        ("4 tune-ok channel_max 2048", silent_close("tune", tune_ok(channel_max=2048))),
        ("4 tune-ok channel_max 3000", silent_close("tune", tune_ok(channel_max=3000))),
        ("4 tune-ok frame_max 4096 channel_max 10", replies(
            "tune", [tune_ok(10, 4096), method_frame(0, 10, 40, open_args())], 10, 41)),
        ("4 tune-ok heartbeat 65535", replies(
            "tune", [tune_ok(heartbeat=65535), method_frame(0, 10, 40, open_args())], 10, 41)),
        ("4 tune-ok truncated", silent_close("tune", method_frame(0, 10, 31, b"\x07\xff"))),
        # 5. connection.open
        ("5 open unknown vhost", conn_error("tuned", method_frame(0, 10, 40, open_args("nosuch")),
                                            530, "NOT_ALLOWED - vhost nosuch not found", 10, 40)),
        ("5 open empty vhost", conn_error("tuned", method_frame(0, 10, 40, open_args("")),
                                          530, "NOT_ALLOWED - vhost  not found", 10, 40)),
        ("5 open with capabilities and insist", replies(
            "tuned", method_frame(0, 10, 40, shortstr("/") + shortstr("x") + bits(True)), 10, 41)),
        ("5 open truncated", silent_close("tuned", method_frame(0, 10, 40, b"\x01"))),
        # 6. out of order during the handshake
        ("6 heartbeat before start-ok is ignored", replies("start", [heartbeat_frame(), start_ok()], 10, 30)),
        ("6 connection.open before start-ok", silent_close("start", method_frame(0, 10, 40, open_args()))),
        ("6 tune-ok before start-ok", silent_close("start", tune_ok())),
        ("6 channel.open on ch 1 before start-ok", silent_close(
            "start", method_frame(1, 20, 10, shortstr("")))),
        ("6 connection.close before start-ok", silent_close("start", method_frame(0, 10, 50, close_args()))),
        ("6 frame type 9 before start-ok", silent_close("start", frame(9, 0, b""))),
        ("6 content header before start-ok", silent_close("start", content_header_frame(0, 0))),
        ("6 connection.open before tune-ok", silent_close("tune", method_frame(0, 10, 40, open_args()))),
        ("6 start-ok twice", silent_close("tune", start_ok())),
        ("6 connection.close before tune-ok", silent_close("tune", method_frame(0, 10, 50, close_args()))),
        ("6 channel.open before connection.open", conn_error(
            "tuned", method_frame(1, 20, 10, shortstr("")), 505, unexpected_ch1_open, 0, 0)),
        ("6 basic.qos on ch 0 before connection.open", conn_error(
            "tuned", method_frame(0, 60, 10, basic_qos_args()), 504, OPENING_504, 60, 10)),
        ("6 connection.close before connection.open", conn_error(
            "tuned", method_frame(0, 10, 50, close_args()), 504, OPENING_504, 10, 50)),
        ("6 start-ok after open", conn_error("open", start_ok(), 504, RUNNING_504, 10, 11)),
        ("6 update-secret after open", replies(
            "open", method_frame(0, 10, 70, longstr(b"new-secret") + shortstr("rotate")), 10, 71)),
        ("6 tune-ok after open", conn_error("open", tune_ok(), 504, RUNNING_504, 10, 31)),
        ("6 connection.open twice", conn_error(
            "open", method_frame(0, 10, 40, open_args()), 504, RUNNING_504, 10, 40)),
        ("6 unsolicited connection.close-ok", conn_error(
            "open", method_frame(0, 10, 51), 504, RUNNING_504, 10, 51)),
        # 7. framing
        ("7 frame type 9 on ch 0", conn_error(
            "open", frame(9, 0, b""), 501, "FRAME_ERROR - type 9, all octets = <<>>: unknown_frame", 0, 0)),
        ("7 frame type 9 on ch 1 with payload", conn_error(
            "channel", frame(9, 1, b"abc"), 501,
            dumped("FRAME_ERROR - type 9, ", ": unknown_frame"), 0, 0)),
        ("7 frame type 0", conn_error(
            "open", frame(0, 0, b"\x00\x01"), 501, "FRAME_ERROR - type 0, all octets = <<0,1>>: unknown_frame", 0, 0)),
        ("7 heartbeat with payload", conn_error(
            "open", frame(8, 0, b"ab"), 501, dumped("FRAME_ERROR - type 8, ", ": unknown_frame"), 0, 0)),
        ("7 heartbeat on ch 1", conn_error(
            "channel", heartbeat_frame(1), 505, "UNEXPECTED_FRAME - type 8, all octets = <<>>", 0, 0)),
        ("7 method frame shorter than ids", conn_error(
            "channel", frame(1, 1, b"\x00\x3c"), 501, "FRAME_ERROR - type 1, all octets = <<0,60>>: unknown_frame", 0, 0)),
        ("7 empty method frame", conn_error(
            "channel", frame(1, 1, b""), 501, "FRAME_ERROR - type 1, all octets = <<>>: unknown_frame", 0, 0)),
        ("7 short content header", conn_error(
            "channel", [publish(), frame(2, 1, struct.pack(">HH", 60, 0))], 501,
            "FRAME_ERROR - type 2, all octets = <<0,60,0,0>>: unknown_frame", 0, 0)),
        ("7 bad frame-end", fatal_error(
            "open", frame(1, 1, method_payload(20, 10, shortstr("")), end=0), 501,
            "FRAME_ERROR - type 1, all octets = <<0,20,0,10,0>>: {invalid_frame_end_marker,0}", 0, 0)),
        ("7 bad frame-end on heartbeat", fatal_error(
            "open", frame(8, 0, b"", end=0xCD), 501,
            "FRAME_ERROR - type 8, all octets = <<>>: {invalid_frame_end_marker,205}", 0, 0)),
        ("7 payload frame_max-8 accepted", frame_max_boundary(4088, True)),
        ("7 payload frame_max-7 accepted", frame_max_boundary(4089, True)),
        ("7 payload frame_max accepted", frame_max_boundary(4096, True)),
        ("7 payload frame_max+1 refused", frame_max_boundary(4097, False)),
        ("7 frame size 2^31-1", fatal_error(
            "open", struct.pack(">BHI", 1, 0, 0x7fffffff), 501,
            "FRAME_ERROR - type 1, all octets = <<>>: {frame_too_large,2147483647,131064}", 0, 0)),
        ("7 protocol header after open", fatal_error(
            "open", PROTOCOL_HEADER, 501,
            "FRAME_ERROR - type 65, all octets = <<>>: {frame_too_large,1342177289,131064}", 0, 0)),
        # 8. channels
        ("8 basic.qos on never-opened ch 5", conn_error("open", qos(5), 504, EXPECTED_OPEN, 60, 10)),
        ("8 channel.close on never-opened ch 5", conn_error(
            "open", method_frame(5, 20, 40, close_args()), 504, EXPECTED_OPEN, 20, 40)),
        ("8 channel.close-ok on never-opened ch 5", conn_error(
            "open", method_frame(5, 20, 41), 504, EXPECTED_OPEN, 20, 41)),
        ("8 content header on never-opened ch 5", conn_error(
            "open", content_header_frame(5, 3), 505, NOT_METHOD, 0, 0)),
        ("8 channel.open on ch 0", conn_error(
            "open", method_frame(0, 20, 10, shortstr("")), 504, RUNNING_504, 20, 10)),
        ("8 channel.open twice", conn_error(
            "channel", method_frame(1, 20, 10, shortstr("")), 504, SECOND_OPEN, 20, 10)),
        ("8 channel.close-ok when not closing", conn_error(
            "channel", method_frame(1, 20, 41), 503, UNIMPLEMENTED, 20, 41)),
        ("8 channel.open with reserved text", replies(
            "open", method_frame(1, 20, 10, shortstr("xyz")), 20, 11, 1)),
        ("8 channel_max limits the number of channels, not ids", channel_max_counts_channels),
        ("8 reopen after close-ok", reopen_after_close_ok),
        ("8 method after close-ok", method_after_close_ok),
        ("8 server-closed channel ignores methods until close-ok", server_closed_channel_ignores),
        ("8 server-closed channel answers crossing close", server_closed_channel_crossing_close),
        ("8 server-closed channel refuses channel.open", server_closed_channel_open),
        # 9. content
        ("9 header without publish", conn_error("channel", content_header_frame(1, 3), 505, NOT_METHOD, 0, 0)),
        ("9 body without publish", conn_error("channel", body_frame(1, b"abc"), 505, NOT_METHOD, 0, 0)),
        ("9 publish then body", conn_error("channel", [publish(), body_frame(1, b"abc")], 505, NOT_HEADER, 60, 40)),
        ("9 publish then method", conn_error("channel", [publish(), qos()], 505, NOT_HEADER, 60, 40)),
        ("9 header of another class", conn_error(
            "channel", [publish(), content_header_frame(1, 3, class_id=50)], 505,
            "UNEXPECTED_FRAME - expected content header for class 60, got one for class 50 instead", 60, 40)),
        ("9 header with weight", conn_error(
            "channel", [publish(), frame(2, 1, struct.pack(">HHQH", 60, 1, 3, 0))], 505, NOT_HEADER, 60, 40)),
        ("9 header on ch 0", conn_error(
            "channel", [publish(), content_header_frame(0, 3)], 505,
            "UNEXPECTED_FRAME - type 2, all octets = <<0,60,0,0,0,0,0,0,0,0,0,3,0,0>>", 0, 0)),
        ("9 method while body expected", conn_error(
            "channel", [publish(), content_header_frame(1, 3), qos()], 505, NOT_BODY, 60, 40)),
        ("9 second header", conn_error(
            "channel", [publish(), content_header_frame(1, 3), content_header_frame(1, 3)], 505, NOT_BODY, 60, 40)),
        ("9 body after size-0 header", conn_error(
            "channel", [publish(), content_header_frame(1, 0), body_frame(1, b"a")], 505, NOT_METHOD, 0, 0)),
        ("9 empty body frame then body", accepted(
            "channel", [publish(), content_header_frame(1, 3), body_frame(1, b""), body_frame(1, b"abc")])),
        ("9 heartbeat between header and body", accepted(
            "channel", [publish(), content_header_frame(1, 3), heartbeat_frame(), body_frame(1, b"abc")])),
        ("9 body longer than header size", body_overrun_then_method),
        ("9 basic.publish on ch 0", conn_error("open", publish(0), 504, RUNNING_504, 60, 40)),
        # 10. unknown ids, malformed arguments
        ("10 unknown class on ch 1", unknown_method_close("channel", 1, 99, 1)),
        ("10 unknown method on ch 1", unknown_method_close("channel", 1, 60, 999)),
        ("10 unknown method on ch 0", unknown_method_close("open", 0, 10, 99)),
        ("10 truncated arguments", conn_error(
            "channel", method_frame(1, 60, 10, b"\x00\x00\x00"), 501, "FRAME_ERROR - cannot decode <<0,0,0>>", 60, 10)),
        ("10 trailing bytes", conn_error(
            "channel", method_frame(1, 60, 10, basic_qos_args() + b"xyz"), 501,
            "FRAME_ERROR - cannot decode <<0,0,0,0,0,0,0,120,121,122>>", 60, 10)),
        ("10 channel.open without arguments", conn_error(
            "open", method_frame(1, 20, 10), 501, "FRAME_ERROR - cannot decode <<>>", 20, 10)),
        ("10 channel.open with trailing bytes", conn_error(
            "open", method_frame(1, 20, 10, shortstr("") + b"\x00\x01"), 501,
            "FRAME_ERROR - cannot decode <<0,0,1>>", 20, 10)),
        ("10 shortstr past the end", conn_error(
            "channel", method_frame(1, 50, 10, short(0) + b"\x10ab"), 501,
            "FRAME_ERROR - cannot decode <<0,0,16,97,98>>", 50, 10)),
        ("10 long reply text is cut to 255", conn_error(
            "channel", method_frame(1, 60, 10, trailing_300), 501,
            reply_text_cut("FRAME_ERROR - cannot decode " + erlang_octets(trailing_300)), 60, 10)),
        ("10 table length past the frame", conn_error(
            "channel", method_frame(1, 40, 10, bad_table_args), 501,
            "FRAME_ERROR - cannot decode " + erlang_octets(bad_table_args), 40, 10)),
        ("10 table with unknown field type", conn_error(
            "channel", method_frame(1, 40, 10, unknown_type_args), 501,
            "FRAME_ERROR - cannot decode " + erlang_octets(unknown_type_args), 40, 10)
         if WARREN else silent_close(
            "channel", method_frame(1, 40, 10, unknown_type_args), AT_ONCE)),
        ("10 table with every field type", replies(
            "channel", method_frame(1, 40, 10, every_type_args), 40, 11, 1)),
        ("10 client-properties with unknown field type", silent_close("start", start_ok(
            raw_properties=long_(5) + shortstr("k") + b"Z\x00\x00"))),
        ("10 client-properties length past the frame", silent_close("start", start_ok(
            raw_properties=long_(1000) + shortstr("k") + b"S"))),
        ("10 start-ok with trailing bytes", silent_close(
            "start", method_frame(0, 10, 11, start_ok_args() + b"zz"))),
        ("10 start-ok without locale", silent_close("start", method_frame(
            0, 10, 11, table({}) + shortstr("PLAIN") + longstr(b"\x00guest\x00guest")))),
        # 11. class on the wrong channel
        ("11 connection.open on ch 1", conn_error(
            "channel", method_frame(1, 10, 40, open_args()), 503, UNIMPLEMENTED, 10, 40)),
        ("11 connection.close on ch 1", conn_error(
            "channel", method_frame(1, 10, 50, close_args()), 503, UNIMPLEMENTED, 10, 50)),
        ("11 connection.close on never-opened ch 3", conn_error(
            "open", method_frame(3, 10, 50, close_args()), 504, EXPECTED_OPEN, 10, 50)),
        ("11 channel.open-ok from client", conn_error(
            "channel", method_frame(1, 20, 11, longstr("")), 503, UNIMPLEMENTED, 20, 11)),
        ("11 channel.flow-ok from client", conn_error(
            "channel", method_frame(1, 20, 21, bits(True)), 503, UNIMPLEMENTED, 20, 21)),
        ("11 channel.close on ch 0", conn_error(
            "open", method_frame(0, 20, 40, close_args()), 504, RUNNING_504, 20, 40)),
        ("11 channel.flow on ch 0", conn_error(
            "open", method_frame(0, 20, 20, bits(True)), 504, RUNNING_504, 20, 20)),
        ("11 basic.qos on ch 0", conn_error("open", qos(0), 504, RUNNING_504, 60, 10)),
        ("11 exchange.declare on ch 0", conn_error(
            "open", method_frame(0, 40, 10, exchange_declare_args("x")), 504, RUNNING_504, 40, 10)),
        ("11 connection.tune from client", conn_error(
            "open", method_frame(0, 10, 30, tune_ok_args()), 504, RUNNING_504, 10, 30)),
        # 12. closing
        ("12 channel.flow active=true", flow_active),
        ("12 channel.flow active=false", conn_error(
            "channel", method_frame(1, 20, 20, bits(False)), 540, "NOT_IMPLEMENTED - active=false", 20, 20)),
        ("12 client channel.close", client_channel_close),
        ("12 client connection.close", client_connection_close),
        ("12 after server connection.close", after_server_close),
        ("12 after client connection.close", after_client_close),
    ]


# Scenarios that need queues, exchanges and basic.* methods: they run in
# malformed_model_test.py, which joins the suite with the messaging model.
NEEDS_MODEL = {
    "7 short content header", "7 payload frame_max-8 accepted", "7 payload frame_max-7 accepted",
    "7 payload frame_max accepted", "7 payload frame_max+1 refused", "8 reopen after close-ok",
    "8 server-closed channel ignores methods until close-ok",
    "8 server-closed channel answers crossing close",
    "8 server-closed channel refuses channel.open", "9 publish then body", "9 publish then method",
    "9 header of another class", "9 header with weight", "9 header on ch 0",
    "9 method while body expected", "9 second header", "9 body after size-0 header",
    "9 empty body frame then body", "9 heartbeat between header and body",
    "9 body longer than header size", "10 table with every field type", "12 client channel.close",
}


def connection_scenarios():
    return [s for s in scenarios() if s[0] not in NEEDS_MODEL]


if __name__ == "__main__":
    sys.exit(run_scenarios(connection_scenarios()))
