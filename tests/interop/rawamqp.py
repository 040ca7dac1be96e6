# Raw-socket AMQP 0-9-1 helper for interop tests: frame/table/method codec and a scriptable client.
"""Stdlib-only building blocks for tests that must put exact (often invalid) bytes on the
wire and observe exactly what the broker answers, including when it closes the socket."""

import os
import re
import socket
import struct
import time

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT = 1, 2, 3, 8
FRAME_END = 0xCE

# (class_id, method_id) -> name, for readable reports.
METHOD_NAMES = {
    (10, 10): "connection.start", (10, 11): "connection.start-ok",
    (10, 20): "connection.secure", (10, 21): "connection.secure-ok",
    (10, 30): "connection.tune", (10, 31): "connection.tune-ok",
    (10, 40): "connection.open", (10, 41): "connection.open-ok",
    (10, 50): "connection.close", (10, 51): "connection.close-ok",
    (10, 60): "connection.blocked", (10, 61): "connection.unblocked",
    (20, 10): "channel.open", (20, 11): "channel.open-ok",
    (20, 20): "channel.flow", (20, 21): "channel.flow-ok",
    (20, 40): "channel.close", (20, 41): "channel.close-ok",
    (40, 10): "exchange.declare", (40, 11): "exchange.declare-ok",
    (50, 10): "queue.declare", (50, 11): "queue.declare-ok",
    (60, 10): "basic.qos", (60, 11): "basic.qos-ok",
    (60, 20): "basic.consume", (60, 21): "basic.consume-ok",
    (60, 30): "basic.cancel", (60, 31): "basic.cancel-ok",
    (60, 40): "basic.publish", (60, 60): "basic.deliver",
    (60, 70): "basic.get", (60, 71): "basic.get-ok",
    (60, 72): "basic.get-empty",
    (85, 10): "confirm.select", (85, 11): "confirm.select-ok",
}


def env_addr():
    """The broker under test, from AMQP_HOST / AMQP_PORT."""
    return os.environ.get("AMQP_HOST", "127.0.0.1"), int(os.environ.get("AMQP_PORT", "5672"))


# ---------------------------------------------------------------- encoding primitives

def octet(v): return struct.pack(">B", v)
def short(v): return struct.pack(">H", v)
def long_(v): return struct.pack(">I", v)
def longlong(v): return struct.pack(">Q", v)


def shortstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">B", len(b)) + b


def longstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">I", len(b)) + b


def bits(*flags):
    """Pack consecutive bit arguments into one octet, first flag in the lowest bit."""
    v = 0
    for i, f in enumerate(flags):
        if f:
            v |= 1 << i
    return octet(v)


class Raw(bytes):
    """A table value already encoded as type-letter + payload (to craft odd types)."""


def encode_value(v):
    if isinstance(v, Raw):
        return bytes(v)
    if isinstance(v, bool):
        return b"t" + octet(1 if v else 0)
    if isinstance(v, int):
        if -2**31 <= v < 2**31:
            return b"I" + struct.pack(">i", v)
        return b"l" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"d" + struct.pack(">d", v)
    if isinstance(v, (str, bytes)):
        return b"S" + longstr(v)
    if isinstance(v, dict):
        return b"F" + table(v)
    if isinstance(v, (list, tuple)):
        body = b"".join(encode_value(x) for x in v)
        return b"A" + long_(len(body)) + body
    if v is None:
        return b"V"
    raise TypeError(f"cannot encode {v!r}")


def table_body(d):
    return b"".join(shortstr(k) + encode_value(v) for k, v in d.items())


def table(d):
    body = table_body(d)
    return long_(len(body)) + body


# ---------------------------------------------------------------- decoding

class Reader:
    """Cursor over a byte string; raises ValueError when reading past the end."""

    def __init__(self, data):
        self.data, self.pos = bytes(data), 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("truncated")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def octet(self): return self.unpack(">B")
    def short(self): return self.unpack(">H")
    def long(self): return self.unpack(">I")
    def longlong(self): return self.unpack(">Q")
    def shortstr(self): return self.take(self.octet()).decode("utf-8", "surrogateescape")
    def longstr(self): return self.take(self.long())
    def table(self): return decode_table(self.longstr())
    def rest(self): return self.take(len(self.data) - self.pos)


def decode_value(r):
    """Returns (type_letter, python_value)."""
    t = chr(r.octet())
    simple = {"t": ">B", "b": ">b", "B": ">B", "s": ">h", "u": ">H", "I": ">i", "i": ">I",
              "l": ">q", "f": ">f", "d": ">d", "T": ">Q"}
    if t in simple:
        v = r.unpack(simple[t])
        return t, (bool(v) if t == "t" else v)
    if t == "S":
        return t, r.longstr()
    if t == "x":
        return t, r.longstr()
    if t == "D":
        scale = r.octet()
        return t, (scale, r.unpack(">i"))
    if t == "F":
        return t, r.table()
    if t == "A":
        sub = Reader(r.longstr())
        items = []
        while sub.pos < len(sub.data):
            items.append(decode_value(sub))
        return t, items
    if t == "V":
        return t, None
    raise ValueError(f"unknown field type {t!r}")


def decode_table(data):
    """Returns {name: (type_letter, value)} preserving order."""
    r = Reader(data)
    out = {}
    while r.pos < len(r.data):
        name = r.shortstr()
        out[name] = decode_value(r)
    return out


# ---------------------------------------------------------------- frames and methods

class Frame:
    def __init__(self, ftype, channel, payload):
        self.type, self.channel, self.payload = ftype, channel, bytes(payload)

    @property
    def method_id(self):
        """(class_id, method_id) for method frames, else None."""
        if self.type != FRAME_METHOD or len(self.payload) < 4:
            return None
        return struct.unpack(">HH", self.payload[:4])

    def args(self):
        return Reader(self.payload[4:])

    def is_method(self, class_id, method_id):
        return self.method_id == (class_id, method_id)

    def describe(self):
        if self.type == FRAME_METHOD and self.method_id:
            name = METHOD_NAMES.get(self.method_id, "method %d.%d" % self.method_id)
            if self.method_id in ((10, 50), (20, 40)):
                c = decode_close(self)
                return (f"{name}(ch={self.channel}, code={c.code}, text={c.text!r}, "
                        f"class={c.class_id}, method={c.method_id})")
            return f"{name}(ch={self.channel})"
        kind = {2: "header", 3: "body", 8: "heartbeat"}.get(self.type, f"type{self.type}")
        return f"{kind}-frame(ch={self.channel}, {len(self.payload)} bytes)"

    def __repr__(self):
        return self.describe()


def frame(ftype, channel, payload, end=FRAME_END):
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + octet(end)


def method_payload(class_id, method_id, args=b""):
    return struct.pack(">HH", class_id, method_id) + args


def method_frame(channel, class_id, method_id, args=b""):
    return frame(FRAME_METHOD, channel, method_payload(class_id, method_id, args))


def heartbeat_frame(channel=0):
    return frame(FRAME_HEARTBEAT, channel, b"")


def content_header_frame(channel, body_size, class_id=60, flags=0, props=b""):
    return frame(FRAME_HEADER, channel,
                 struct.pack(">HHQH", class_id, 0, body_size, flags) + props)


def body_frame(channel, body):
    return frame(FRAME_BODY, channel, body)


class Close:
    """Decoded connection.close / channel.close arguments."""

    def __init__(self, code, text, class_id, method_id):
        self.code, self.text, self.class_id, self.method_id = code, text, class_id, method_id

    def __repr__(self):
        return f"({self.code}, {self.text!r}, {self.class_id}, {self.method_id})"


def decode_close(f):
    r = f.args()
    return Close(r.short(), r.shortstr(), r.short(), r.short())


# Client -> server method argument encoders (only those the tests use).

def start_ok_args(client_properties=None, mechanism="PLAIN", response=None, locale="en_US",
                  raw_properties=None):
    if response is None:
        response = b"\x00guest\x00guest"
    props = raw_properties if raw_properties is not None else table(
        client_properties if client_properties is not None else default_client_properties())
    return props + shortstr(mechanism) + longstr(response) + shortstr(locale)


def default_client_properties(capabilities=None):
    return {"product": "warren-interop", "version": "0",
            "capabilities": capabilities or {}}


def amqplain_response(login, password):
    """AMQPLAIN response: a field table body without its length prefix."""
    return table_body({"LOGIN": login, "PASSWORD": password})


def tune_ok_args(channel_max=2047, frame_max=131072, heartbeat=0):
    return short(channel_max) + long_(frame_max) + short(heartbeat)


def open_args(vhost="/"):
    return shortstr(vhost) + shortstr("") + bits(False)


def close_args(code=200, text="Goodbye", class_id=0, method_id=0):
    return short(code) + shortstr(text) + short(class_id) + short(method_id)


def basic_publish_args(exchange="", routing_key="", mandatory=False, immediate=False):
    return short(0) + shortstr(exchange) + shortstr(routing_key) + bits(mandatory, immediate)


def basic_consume_args(queue, tag="", no_local=False, no_ack=False, exclusive=False,
                       nowait=False, arguments=None):
    return (short(0) + shortstr(queue) + shortstr(tag)
            + bits(no_local, no_ack, exclusive, nowait) + table(arguments or {}))


def basic_cancel_args(tag, nowait=False):
    return shortstr(tag) + bits(nowait)


def basic_qos_args(prefetch_size=0, prefetch_count=0, global_=False):
    return long_(prefetch_size) + short(prefetch_count) + bits(global_)


def exchange_declare_args(name, etype="direct", passive=False, durable=False,
                          auto_delete=False, internal=False, nowait=False, arguments=None,
                          raw_arguments=None):
    args = raw_arguments if raw_arguments is not None else table(arguments or {})
    return (short(0) + shortstr(name) + shortstr(etype)
            + bits(passive, durable, auto_delete, internal, nowait) + args)


def queue_declare_args(name="", passive=False, durable=False, exclusive=False,
                       auto_delete=False, nowait=False, arguments=None):
    return (short(0) + shortstr(name)
            + bits(passive, durable, exclusive, auto_delete, nowait) + table(arguments or {}))


# ---------------------------------------------------------------- client

class Closed(Exception):
    """The peer closed the TCP connection (EOF or reset)."""


class Timeout(Exception):
    """Nothing (complete) arrived in time."""


class BadFrame(Exception):
    """The peer sent bytes that are not a valid frame."""


class Client:
    """One raw connection. Every read has a timeout; socket close is reported as Closed."""

    def __init__(self, host=None, port=None, timeout=5.0, rcvbuf=None):
        """rcvbuf: a receive buffer size in bytes, set before connecting (it bounds what the
        kernel takes in for a client that reads slowly)."""
        dh, dp = env_addr()
        if rcvbuf is None:
            self.sock = socket.create_connection((host or dh, port or dp), timeout=timeout)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect((host or dh, port or dp))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False
        self.start = None        # the connection.start frame
        self.tune = None         # (channel_max, frame_max, heartbeat) from connection.tune

    # -- raw I/O
    def send(self, data):
        """Send bytes; returns False if the peer already closed (EPIPE/ECONNRESET)."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _fill(self, deadline):
        if self.eof:
            raise Closed()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout()
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise Timeout()
        except ConnectionResetError:
            self.eof = True
            raise Closed()
        if not chunk:
            self.eof = True
            raise Closed()
        self.buf += chunk

    def read_all_until_close(self, timeout=5.0):
        """Everything the peer sends until it closes; raises Timeout if it stays open."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._fill(deadline)
            except Closed:
                out, self.buf = self.buf, b""
                return out

    def read_frame(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while len(self.buf) < 7:
            self._fill(deadline)
        ftype, channel, size = struct.unpack(">BHI", self.buf[:7])
        if ftype == ord("A"):
            raise BadFrame(f"protocol header-like bytes {self.buf[:8]!r}")
        while len(self.buf) < 8 + size:
            self._fill(deadline)
        payload, end = self.buf[7:7 + size], self.buf[7 + size]
        self.buf = self.buf[8 + size:]
        if end != FRAME_END:
            raise BadFrame(f"frame-end 0x{end:02x}")
        return Frame(ftype, channel, payload)

    def read_frame_skip_heartbeats(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            f = self.read_frame(max(0.0, deadline - time.monotonic()))
            if f.type != FRAME_HEARTBEAT:
                return f

    def wait_closed(self, timeout=5.0):
        """Seconds until the peer closed, ignoring anything it sends; None if still open."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        try:
            while True:
                self._fill(deadline)
                self.buf = b""
        except Closed:
            return time.monotonic() - t0
        except Timeout:
            return None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- handshake steps
    def send_header(self, header=PROTOCOL_HEADER):
        self.send(header)

    def send_method(self, channel, class_id, method_id, args=b""):
        return self.send(method_frame(channel, class_id, method_id, args))

    def expect_method(self, class_id, method_id, timeout=5.0):
        f = self.read_frame_skip_heartbeats(timeout)
        if not f.is_method(class_id, method_id):
            want = METHOD_NAMES.get((class_id, method_id), f"{class_id}.{method_id}")
            raise AssertionError(f"expected {want}, got {f.describe()}")
        return f

    def read_start(self, timeout=5.0):
        self.start = self.expect_method(10, 10, timeout)
        return self.start

    def send_start_ok(self, **kw):
        return self.send_method(0, 10, 11, start_ok_args(**kw))

    def read_tune(self, timeout=5.0):
        f = self.expect_method(10, 30, timeout)
        r = f.args()
        self.tune = (r.short(), r.long(), r.short())
        return f

    def open_channel(self, channel=1):
        self.send_method(channel, 20, 10, shortstr(""))
        return self.expect_method(20, 11)


# ---------------------------------------------------------------- scenario support

def erlang_octets(data):
    """RabbitMQ's rendering of raw octets in `cannot decode` texts: <<1,2,3>>."""
    return "<<" + ",".join(str(b) for b in data) + ">>"


def reply_text_cut(text):
    """RabbitMQ cuts a reply-text longer than a shortstr to 252 characters plus '...'."""
    return text if len(text) <= 255 else text[:252] + "..."


def client_in(state, channel_max=None, frame_max=None, heartbeat=0, capabilities=None,
              timeout=5.0, rcvbuf=None):
    """A fresh connection driven up to `state`:
    tcp (connected), start (header sent, start read), tune (start-ok sent, tune read),
    tuned (tune-ok sent), open (open-ok read), channel (channel 1 open)."""
    c = Client(timeout=timeout, rcvbuf=rcvbuf)
    if state == "tcp":
        return c
    c.send_header()
    c.read_start()
    if state == "start":
        return c
    c.send_start_ok(client_properties=default_client_properties(capabilities))
    c.read_tune()
    if state == "tune":
        return c
    cm = c.tune[0] if channel_max is None else channel_max
    fm = c.tune[1] if frame_max is None else frame_max
    c.send_method(0, 10, 31, tune_ok_args(cm, fm, heartbeat))
    if state == "tuned":
        return c
    c.send_method(0, 10, 40, open_args("/"))
    c.expect_method(10, 41)
    if state == "open":
        return c
    c.open_channel(1)
    return c


class Outcome:
    """The broker's reaction to a provocation: the first non-heartbeat frame and when it
    came, and when the socket closed (seconds since the provocation; None = still open)."""

    def __init__(self):
        self.frame = None
        self.frame_at = None
        self.close = None
        self.closed_at = None
        self.error = None

    def __repr__(self):
        parts = [self.frame.describe() + " at %.2fs" % self.frame_at if self.frame
                 else "no frame"]
        parts.append("socket closed at %.2fs" % self.closed_at if self.closed_at is not None
                     else "socket open")
        if self.error:
            parts.append(self.error)
        return "; ".join(parts)


def provoke(client, data, timeout=3.0, close_ok=True, close_wait=1.5):
    """Send `data` (bytes or a list of bytes), then observe: read the first non-heartbeat
    frame; if it is connection.close, answer close-ok (unless told not to) and wait up to
    `close_wait` s for the socket to close."""
    t0 = time.monotonic()
    for chunk in (data if isinstance(data, (list, tuple)) else [data]):
        client.send(chunk)
    out = Outcome()
    try:
        out.frame = client.read_frame_skip_heartbeats(timeout)
        out.frame_at = time.monotonic() - t0
    except Closed:
        out.closed_at = time.monotonic() - t0
        return out
    except Timeout:
        return out
    except BadFrame as e:
        out.error = str(e)
        return out
    if out.frame.method_id in ((10, 50), (20, 40)):
        out.close = decode_close(out.frame)
    if out.frame.is_method(10, 50) and close_ok:
        client.send_method(0, 10, 51)
        if client.wait_closed(close_wait) is not None:
            out.closed_at = time.monotonic() - t0
    return out


def _text_ok(expected, actual):
    if isinstance(expected, re.Pattern):
        return expected.fullmatch(actual) is not None
    return expected == actual


def _show(text):
    return text.pattern if isinstance(text, re.Pattern) else text


def expect_connection_close(out, code, text, class_id, method_id, closes_within=1.0):
    """connection.close on channel 0 with exactly these fields, and the socket closed
    within `closes_within` s of that frame once close-ok was sent (None: don't check)."""
    if not (out.frame and out.frame.is_method(10, 50) and out.frame.channel == 0):
        raise AssertionError(f"expected connection.close({code}, {_show(text)!r}, "
                             f"{class_id}, {method_id}); observed {out!r}")
    c = out.close
    if (c.code, c.class_id, c.method_id) != (code, class_id, method_id) \
            or not _text_ok(text, c.text):
        raise AssertionError(f"expected ({code}, {_show(text)!r}, {class_id}, {method_id}); "
                             f"observed {c!r}")
    if closes_within is not None:
        if out.closed_at is None or out.closed_at - out.frame_at > closes_within:
            raise AssertionError(f"socket not closed within {closes_within}s of "
                                 f"close-ok; observed {out!r}")
    return f"observed {out!r}"


def expect_fatal_close(out, code, text, class_id, method_id, delay=(2.5, 4.0)):
    """connection.close, then the socket closes `delay` s later even though close-ok was
    sent (RabbitMQ stops reading after a fatal frame error)."""
    expect_connection_close(out, code, text, class_id, method_id, closes_within=None)
    if out.closed_at is None or not delay[0] <= out.closed_at - out.frame_at <= delay[1]:
        raise AssertionError(f"expected the socket to close {delay[0]}-{delay[1]}s after "
                             f"connection.close; observed {out!r}")
    return f"observed {out!r}"


def expect_channel_close(out, channel, code, text, class_id, method_id):
    if not (out.frame and out.frame.is_method(20, 40) and out.frame.channel == channel):
        raise AssertionError(f"expected channel.close({code}) on channel {channel}; "
                             f"observed {out!r}")
    c = out.close
    if (c.code, c.class_id, c.method_id) != (code, class_id, method_id) \
            or not _text_ok(text, c.text):
        raise AssertionError(f"expected ({code}, {_show(text)!r}, {class_id}, {method_id}); "
                             f"observed {c!r}")
    return f"observed {out!r}"


def expect_silent_close(out, within=(0.0, 1.0)):
    """No frame at all, and the socket closed `within` (lo, hi) seconds."""
    if out.frame is not None or out.closed_at is None \
            or not within[0] <= out.closed_at <= within[1]:
        raise AssertionError(f"expected a silent socket close within {within[0]}-"
                             f"{within[1]}s; observed {out!r}")
    return f"observed {out!r}"


def expect_reply(out, class_id, method_id, channel=None):
    if not (out.frame and out.frame.is_method(class_id, method_id)) \
            or (channel is not None and out.frame.channel != channel):
        want = METHOD_NAMES.get((class_id, method_id), f"{class_id}.{method_id}")
        raise AssertionError(f"expected {want}; observed {out!r}")
    return f"observed {out!r}"


def expect_quiet(client, seconds=0.5):
    """Nothing but heartbeats arrives for `seconds` and the socket stays open."""
    try:
        f = client.read_frame_skip_heartbeats(seconds)
    except Timeout:
        return f"nothing for {seconds}s, socket open"
    except Closed:
        raise AssertionError("expected silence, but the socket closed")
    raise AssertionError(f"expected silence, got {f.describe()}")


def expect_alive(client, channel=1):
    """The connection still works: basic.qos on an open channel is answered."""
    client.send_method(channel, 60, 10, basic_qos_args())
    out = provoke(client, b"", timeout=3.0)
    expect_reply(out, 60, 11, channel)
    return "connection still alive"


class Context:
    """Hands out clients for one scenario and closes them afterwards."""

    def __init__(self):
        self.clients = []

    def client(self, state="open", **kw):
        c = client_in(state, **kw)
        self.clients.append(c)
        return c

    def raw(self):
        c = Client()
        self.clients.append(c)
        return c

    def close(self):
        for c in self.clients:
            c.close()


def run_scenario(name, fn):
    ctx = Context()
    try:
        detail = fn(ctx) or ""
        ok = True
    except AssertionError as e:
        ok, detail = False, str(e)
    except Closed:
        ok, detail = False, "the broker closed the socket unexpectedly"
    except Timeout:
        ok, detail = False, "timed out waiting for the broker"
    except Exception as e:  # a crash in one scenario is that scenario's failure
        ok, detail = False, f"{type(e).__name__}: {e}"
    finally:
        ctx.close()
    return ok, detail


def run_scenarios(scenarios, workers=24):
    """Run (name, fn(ctx)) scenarios concurrently, each on its own connections; print one
    PASS/FAIL line per scenario in list order; return the process exit status."""
    from concurrent.futures import ThreadPoolExecutor
    names = [n for n, _ in scenarios]
    if len(set(names)) != len(names):
        raise SystemExit("duplicate scenario names")
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_scenario, n, fn) for n, fn in scenarios]
        results = [f.result() for f in futures]
    failed = 0
    for name, (ok, detail) in zip(names, results):
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
    print(f"{len(scenarios) - failed}/{len(scenarios)} passed in "
          f"{time.monotonic() - t0:.1f}s against {':'.join(map(str, env_addr()))}", flush=True)
    return 0 if failed == 0 else 1
