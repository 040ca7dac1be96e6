#!/usr/bin/python3
"""Interop test: slow-loris and flood. While thousands of misbehaving sockets hit the broker at
once, a pika client's publish/get round trips keep a p99 under 10 ms, the broker's resident
set stays under a bound written here, and every misbehaving client gets RabbitMQ's answer:

  - 5,000 sockets that connect and send nothing: closed silently at the handshake timeout;
  - 1,000 that send a byte a second: 500 dribble the protocol header (closed silently at the
    handshake timeout, having received nothing), 500 open quickly and then dribble a
    channel.open frame (answered with channel.open-ok once its last octet is in);
  - 100 that open and close a channel in a loop (every open and close answered);
  - clients announcing huge frames: a frame of 2^32-1 octets (connection.close 501
    {frame_too_large,4294967295,131064} as soon as the frame header is in, socket closed
    about 3 s later though no close-ok is sent), a content header announcing a 4 GiB body
    followed by 12 MiB of body (nothing kept, no answer; the method that interrupts it gets
    505 UNEXPECTED_FRAME), a body frame past frame_max (501 {frame_too_large,131073,131064});
  - 5 that pipeline basic.qos for 6 s without reading the replies, then read them all: the
    broker stops reading from a client whose replies pile up (its queued output is bounded;
    RabbitMQ 3.10 is not: it reads on and its writer holds every reply, 9 GiB after 30 s of
    this from one client), and reads on once that client reads;
  - 2 that do the same with heartbeat 2 and then go silent, as a vanished peer: dropped by
    the heartbeat check (RabbitMQ reads on, so its monitor sees the silence; a broker that
    stopped reading must not take the pause for a sign of life).

The broker is one of the test's own, with handshake_timeout = 4000 (ms) in its rabbitmq.conf
so that the silent sockets are dropped quickly. With AMQP_PORT set (and no WARREN_PID) the same
script runs against that broker instead, e.g. a RabbitMQ started by rabbitmq-beside with
handshake_timeout = 4000; the memory bound is then not checked (it is Warren's figure)."""
import heapq
import json
import os
import resource
import selectors
import socket
import struct
import subprocess
import sys
import time

import own_broker
from memory_return_test import sanitizer_report, under_asan
from rawamqp import (PROTOCOL_HEADER, basic_publish_args, basic_qos_args, body_frame,
                     close_args, content_header_frame, method_frame, open_args, shortstr,
                     start_ok_args, tune_ok_args)

SILENT = 5000
HEADER_DRIBBLERS = 500
FRAME_DRIBBLERS = 500
CHURNERS = 100
HUGE_EACH = 5                  # clients of each huge-frame kind
NON_READERS = 5
VANISHERS = 2
STALL_S = 6.0                  # how long a non-reader sends without reading
HANDSHAKE_TIMEOUT_S = 4.0
P99_LIMIT_MS = 10.0
# The memory bound, from measuring Warren (plain build, RSS deltas over 5,000 and 1,000): a
# socket that has sent nothing costs 4.0 KiB, an open connection with a channel 13.2 KiB.
# A client that does not read its replies holds its queued output (1 MiB pending, 1 MiB being
# written) and a read buffer (256 KiB): 2.5 MiB. This load then takes about 48 MiB at its peak;
# the bound is 1.5 times what the sockets cost plus 8 MiB. Keeping the 4 GiB bodies' 5 x 12 MiB
# would exceed it on its own, and so would a non-reader's replies unbounded (1.6 GiB in 10 s).
IDLE_SOCKET_KIB = 4.0
OPEN_CONNECTION_KIB = 13.2
NON_READER_KIB = 2.5 * 1024
RSS_GROWTH_LIMIT_KIB = int(1.5 * ((SILENT + HEADER_DRIBBLERS) * IDLE_SOCKET_KIB +
                                  (FRAME_DRIBBLERS + CHURNERS + 3 * HUGE_EACH) * OPEN_CONNECTION_KIB +
                                  (NON_READERS + VANISHERS) * NON_READER_KIB)
                           + 8 * 1024)
# Under ASan (quarantine off) every allocation carries redzones and shadow: measured there,
# the same load takes 1.4 times as much (59 MiB).
ASAN_FACTOR = 2
BODY_FRAMES = 96               # 96 x 131064 octets: 12 MiB of a 4 GiB body per client
FRAME_PAYLOAD_MAX = 131072 - 8
# The phase ends when every finite client is done, about 20 s on a quiet machine; on a loaded
# one 45 s once ran out with 814,406 of a non-reader's 835,000 replies read, none lost.
PHASE_DEADLINE_S = 75.0
CLOSE_SLACK_S = 6.0            # accept queue and SYN retries under 6,000 connects


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


class Loop:
    """One selector and a timer heap driving every raw socket of the test."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.timers = []
        self.seq = 0

    def at(self, when, fn):
        self.seq += 1
        heapq.heappush(self.timers, (when, self.seq, fn))

    def run_once(self, wait):
        now = time.monotonic()
        if self.timers:
            wait = max(0.0, min(wait, self.timers[0][0] - now))
        for key, mask in self.sel.select(wait):
            key.data.on_event(mask)
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            heapq.heappop(self.timers)[2]()


class Peer:
    """A non-blocking raw AMQP socket: an outbox, received frames, EOF."""

    def __init__(self, loop, addr, kind, rcvbuf=None):
        self.loop, self.kind = loop, kind
        self.sock = socket.socket()
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.reading = True
        self.t0 = time.monotonic()
        self.sock.connect_ex(addr)
        self.inbuf = b""
        self.out = bytearray()
        self.received = 0
        self.closed_at = None
        self.error = None
        self.mask = selectors.EVENT_READ
        loop.sel.register(self.sock, self.mask, self)

    def fail(self, why):
        if self.error is None:
            self.error = why
        self.finish()

    def finish(self):
        if self.closed_at is None:
            self.closed_at = time.monotonic()
            self.loop.sel.unregister(self.sock)
            self.sock.close()

    def send(self, data):
        if self.closed_at is not None:
            return
        self.out += data
        self.flush()

    def flush(self):
        try:
            while self.out:
                n = self.sock.send(self.out)
                del self.out[:n]
                self.last_send_at = time.monotonic()
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.on_eof()
            return
        self.update_mask()

    def update_mask(self):
        want = ((selectors.EVENT_READ if self.reading else 0) |
                (selectors.EVENT_WRITE if self.out else 0))
        if want != self.mask and self.closed_at is None:
            self.mask = want
            self.loop.sel.modify(self.sock, want, self)

    def on_event(self, mask):
        if mask & selectors.EVENT_WRITE:
            self.flush()
            self.writable()
        if self.closed_at is not None or not mask & selectors.EVENT_READ:
            return
        try:
            chunk = self.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.on_eof()
            return
        self.received += len(chunk)
        self.inbuf += chunk
        buf, pos = self.inbuf, 0  # parsed by offset: one copy of the rest per read
        while len(buf) - pos >= 7 and self.closed_at is None:
            ftype, channel, size = struct.unpack_from(">BHI", buf, pos)
            if len(buf) - pos < 8 + size:
                break
            if ftype == 1:
                class_id, method_id = struct.unpack_from(">HH", buf, pos + 7)
                self.on_method(channel, class_id, method_id, buf[pos + 11:pos + 7 + size])
            pos += 8 + size
        self.inbuf = buf[pos:]

    def writable(self):
        pass

    def on_eof(self):
        self.finish()

    def on_method(self, channel, class_id, method_id, args):
        self.fail("unexpected method %d.%d on channel %d" % (class_id, method_id, channel))


def decode_close(args):
    code, = struct.unpack(">H", args[:2])
    n = args[2]
    text = args[3:3 + n].decode("latin-1")
    class_id, method_id = struct.unpack(">HH", args[3 + n:7 + n])
    return code, text, class_id, method_id


class Silent(Peer):
    """Connects and sends nothing."""


class HeaderDribbler(Peer):
    """Sends the protocol header a byte a second."""

    def __init__(self, loop, addr):
        super().__init__(loop, addr, "header dribbler")
        self.sent = 0
        self.loop.at(self.t0 + 1.0, self.dribble)

    def dribble(self):
        if self.closed_at is not None or self.sent == len(PROTOCOL_HEADER):
            return
        self.send(PROTOCOL_HEADER[self.sent:self.sent + 1])
        self.sent += 1
        self.loop.at(time.monotonic() + 1.0, self.dribble)


class Opener(Peer):
    """Completes the handshake at once (heartbeat 0), then calls opened()."""

    def __init__(self, loop, addr, kind, rcvbuf=None):
        super().__init__(loop, addr, kind, rcvbuf)
        self.heartbeat = 0
        self.open = False
        self.done = False
        self.send(PROTOCOL_HEADER)

    def on_method(self, channel, class_id, method_id, args):
        if self.open:
            return self.on_open_method(channel, class_id, method_id, args)
        if (class_id, method_id) == (10, 10):
            self.send(method_frame(0, 10, 11, start_ok_args()))
        elif (class_id, method_id) == (10, 30):
            self.send(method_frame(0, 10, 31, tune_ok_args(heartbeat=self.heartbeat)) +
                      method_frame(0, 10, 40, open_args()))
        elif (class_id, method_id) == (10, 41):
            self.open = True
            self.opened_at = time.monotonic()
            self.opened()
        else:
            self.fail("handshake: unexpected method %d.%d" % (class_id, method_id))

    def close_connection(self):
        self.send(method_frame(0, 10, 50, close_args()))

    def on_open_method(self, channel, class_id, method_id, args):
        if (class_id, method_id) == (10, 51):
            self.done = True
            self.finish()
        else:
            Peer.on_method(self, channel, class_id, method_id, args)

    def on_eof(self):
        if not self.done:
            self.error = self.error or ("closed by the broker (%s)" %
                                        ("after open" if self.open else "during the handshake"))
        self.finish()


class FrameDribbler(Opener):
    """Once open, sends a channel.open frame a byte a second; expects channel.open-ok."""

    FRAME = method_frame(1, 20, 10, shortstr(""))

    def __init__(self, loop, addr):
        super().__init__(loop, addr, "frame dribbler")
        self.sent = 0

    def opened(self):
        self.dribble()

    def dribble(self):
        if self.closed_at is not None:
            return
        self.send(self.FRAME[self.sent:self.sent + 1])
        self.sent += 1
        self.last_byte_at = time.monotonic()
        if self.sent < len(self.FRAME):
            self.loop.at(self.last_byte_at + 1.0, self.dribble)

    def on_open_method(self, channel, class_id, method_id, args):
        if (class_id, method_id) == (20, 11) and self.sent == len(self.FRAME):
            self.answered_in = time.monotonic() - self.last_byte_at
            self.close_connection()
        elif (class_id, method_id) == (20, 11):
            self.fail("channel.open-ok before the frame was complete")
        else:
            Opener.on_open_method(self, channel, class_id, method_id, args)


class Churner(Opener):
    """Once open, opens and closes channel 1 in a loop until told to stop."""

    def __init__(self, loop, addr):
        super().__init__(loop, addr, "channel churner")
        self.cycles = 0
        self.stopping = False

    def opened(self):
        self.send(method_frame(1, 20, 10, shortstr("")))

    def on_open_method(self, channel, class_id, method_id, args):
        if (class_id, method_id) == (20, 11):
            self.send(method_frame(1, 20, 40, close_args()))
        elif (class_id, method_id) == (20, 41):
            self.cycles += 1
            if self.stopping:
                self.close_connection()
            else:
                self.send(method_frame(1, 20, 10, shortstr("")))
        else:
            Opener.on_open_method(self, channel, class_id, method_id, args)


class Closer(Opener):
    """A client that provokes a connection.close; records it and when the socket closed."""

    def __init__(self, loop, addr, kind):
        super().__init__(loop, addr, kind)
        self.close = None

    def on_open_method(self, channel, class_id, method_id, args):
        if (class_id, method_id) == (10, 50) and self.close is None:
            self.close = decode_close(args)
            self.close_at = time.monotonic()
            self.on_close()
        elif (class_id, method_id) == (20, 11):
            self.channel_opened()
        else:
            Opener.on_open_method(self, channel, class_id, method_id, args)

    def on_close(self):
        pass

    def on_eof(self):
        if self.close is not None:
            self.done = True
        Opener.on_eof(self)


class HugeFrame(Closer):
    """Announces a method frame of 2^32-1 octets and never sends it, nor a close-ok."""

    def __init__(self, loop, addr):
        super().__init__(loop, addr, "2^32-1 frame")

    def opened(self):
        self.send(struct.pack(">BHI", 1, 0, 0xFFFFFFFF))


class HugeBody(Closer):
    """Announces a 4 GiB body, sends 12 MiB of it, then a method on the channel."""

    def __init__(self, loop, addr):
        super().__init__(loop, addr, "4 GiB body")
        self.interrupted_at = None

    def opened(self):
        self.send(method_frame(1, 20, 10, shortstr("")))

    def channel_opened(self):
        chunk = body_frame(1, b"x" * FRAME_PAYLOAD_MAX)
        self.send(method_frame(1, 60, 40, basic_publish_args("", "flood-nowhere"))
                  + content_header_frame(1, 4 << 30) + chunk * BODY_FRAMES)
        self.loop.at(time.monotonic() + 0.5, self.interrupt)

    def interrupt(self):
        if self.closed_at is not None:
            return
        if self.out:  # the broker has not read it all yet
            self.loop.at(time.monotonic() + 0.5, self.interrupt)
            return
        if self.close is not None:
            self.fail("answered before the body was interrupted: %r" % (self.close,))
            return
        self.interrupted_at = time.monotonic()
        self.send(method_frame(1, 60, 10, basic_qos_args(0, 10)))

    def on_close(self):
        self.send(method_frame(0, 10, 51))


class PastFrameMax(Closer):
    """Sends a body frame one octet past the negotiated frame_max (131072)."""

    def __init__(self, loop, addr):
        super().__init__(loop, addr, "frame past frame_max")

    def opened(self):
        self.send(method_frame(1, 20, 10, shortstr("")))

    def channel_opened(self):
        self.send(method_frame(1, 60, 40, basic_publish_args("", "flood-nowhere"))
                  + content_header_frame(1, 200000)
                  + body_frame(1, b"y" * (FRAME_PAYLOAD_MAX + 9)))


class NonReader(Opener):
    """Once its channel is open, pipelines basic.qos for STALL_S seconds without reading the
    replies (a 4 KiB receive buffer), then reads: every basic.qos-ok must arrive."""

    BATCH = method_frame(1, 60, 10, basic_qos_args(0, 10)) * 5000
    CAP = None  # against another broker: RabbitMQ reads on and holds every reply

    def __init__(self, loop, addr):
        super().__init__(loop, addr, "non-reader", rcvbuf=4096)
        self.sent = self.answered = 0
        self.stalling = False

    def opened(self):
        self.send(method_frame(1, 20, 10, shortstr("")))

    def on_open_method(self, channel, class_id, method_id, args):
        if (class_id, method_id) == (20, 11) and not self.stalling:
            self.stalling = True
            self.reading = False
            self.loop.at(time.monotonic() + STALL_S, self.read_again)
            self.writable()
        elif (class_id, method_id) == (60, 11):
            self.answered += 1
            if self.answered == self.sent:
                self.close_connection()
        else:
            Opener.on_open_method(self, channel, class_id, method_id, args)

    def writable(self):
        while (self.stalling and not self.out and self.closed_at is None and
               (self.CAP is None or self.sent < self.CAP)):
            self.sent += 5000
            self.send(self.BATCH)

    def read_again(self):
        self.stalling = False
        self.reading = True
        self.update_mask()


class Vanisher(NonReader):
    """With heartbeat 2, pipelines basic.qos without reading until the broker stops taking
    them, then sends nothing more either, as a peer that vanished: the broker must drop it at
    the heartbeat timeout (2 to 3 intervals after its last octet), not hold it for ever."""

    HEARTBEAT = 2

    def __init__(self, loop, addr):
        super().__init__(loop, addr)
        self.kind = "vanished peer"
        self.heartbeat = self.HEARTBEAT
        self.looking = False

    def read_again(self):
        self.stalling = False  # what is left in the outbox still goes when the broker reads
        self.look()

    def look(self):
        # Its last octet must be 3 intervals and 2 s old before it looks for the drop.
        due = self.last_send_at + 3 * self.HEARTBEAT + 2.0
        if time.monotonic() < due:
            self.loop.at(due, self.look)
            return
        self.reading = self.looking = True
        self.update_mask()
        self.loop.at(time.monotonic() + 3.0, self.verdict)

    def on_eof(self):
        if not self.looking:  # a send that failed: the drop is seen when it looks
            if not self.open:
                self.fail("closed during the handshake")
            return
        self.done = True
        self.finish()

    def on_event(self, mask):
        if not self.looking:
            return Peer.on_event(self, mask)
        try:  # what the broker answered before it stopped reading is not looked at
            while self.sock.recv(1 << 20):
                pass
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self.on_eof()

    def verdict(self):
        if self.closed_at is None:
            self.fail("still open %.1f s after its last octet (checked by reading at %.1f s)"
                      % (time.monotonic() - self.last_send_at, 3 * self.HEARTBEAT + 2.0))


def start_measurer(port):
    """A pika client in a process of its own (the driver's sockets must not steal its time),
    measuring publish + basic.get round trips until its stdin closes."""
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), "--measure", str(port)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def measure(port):
    import threading
    import pika
    params = pika.ConnectionParameters("127.0.0.1", port, heartbeat=0,
                                       blocked_connection_timeout=30)
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    queue = ch.queue_declare("", exclusive=True).method.queue
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    print("ready", flush=True)
    rtts, empty = [], 0
    while not stop.is_set():
        t = time.perf_counter()
        ch.basic_publish("", queue, b"ping")
        method, _, body = ch.basic_get(queue, auto_ack=True)
        rtts.append((time.perf_counter() - t) * 1000.0)
        if method is None or body != b"ping":
            empty += 1
        time.sleep(0.002)
    conn.close()
    print(json.dumps({"rtts": rtts, "empty": empty}), flush=True)


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p / 100.0))]


class Checks:
    def __init__(self):
        self.failed = 0

    def __call__(self, ok, what):
        print(("PASS: " if ok else "FAIL: ") + what, flush=True)
        if not ok:
            self.failed += 1


def expect_all(check, peers, ok, what, show):
    bad = [p for p in peers if not ok(p)]
    check(not bad, "%s (%d of %d)%s" % (what, len(peers) - len(bad), len(peers),
                                         "; first bad: " + show(bad[0]) if bad else ""))


def run(port, pid):
    addr = ("127.0.0.1", port)
    check = Checks()
    before = rss_kib(pid) if pid else 0
    measurer = start_measurer(port)
    if measurer.stdout.readline().strip() != b"ready":
        print("FAIL: the pika client did not connect")
        return 1
    # The broker and the measuring client come first: the round trips measure the broker's
    # fairness under this load, not how this driver competes with it for the two cores.
    os.nice(10)
    loop = Loop()
    t_start = time.monotonic()
    churners = [Churner(loop, addr) for _ in range(CHURNERS)]
    dribblers = [FrameDribbler(loop, addr) for _ in range(FRAME_DRIBBLERS)]
    huge = ([HugeFrame(loop, addr) for _ in range(HUGE_EACH)] +
            [HugeBody(loop, addr) for _ in range(HUGE_EACH)] +
            [PastFrameMax(loop, addr) for _ in range(HUGE_EACH)])
    non_readers = [NonReader(loop, addr) for _ in range(NON_READERS)]
    vanished = [Vanisher(loop, addr) for _ in range(VANISHERS)]
    silent = [Silent(loop, addr, "silent") for _ in range(SILENT)]
    header = [HeaderDribbler(loop, addr) for _ in range(HEADER_DRIBBLERS)]
    print("%d sockets connecting (%.1f s)" % (len(churners + dribblers + huge + non_readers + vanished +
                                                  silent + header), time.monotonic() - t_start),
          flush=True)
    finite = silent + header + dribblers + huge + non_readers + vanished
    peak, next_sample = before, 0.0
    deadline = t_start + PHASE_DEADLINE_S
    while time.monotonic() < deadline and any(p.closed_at is None for p in finite):
        loop.run_once(0.1)
        if pid and time.monotonic() >= next_sample:
            peak = max(peak, rss_kib(pid))
            next_sample = time.monotonic() + 0.25
    for c in churners:
        c.stopping = True
    stop_by = time.monotonic() + 10
    while time.monotonic() < stop_by and any(c.closed_at is None for c in churners):
        loop.run_once(0.1)
    load_s = time.monotonic() - t_start
    measurer.stdin.close()
    result = json.loads(measurer.stdout.read())
    measurer.wait(10)
    print("load phase %.1f s" % load_s, flush=True)

    t = HANDSHAKE_TIMEOUT_S
    for group in (silent, header):
        expect_all(check, group,
                   lambda p: p.closed_at is not None and p.received == 0 and
                   t - 0.05 <= p.closed_at - p.t0 <= t + CLOSE_SLACK_S,
                   "%s sockets closed silently at the handshake timeout (%.0f s, closed %.1f-%.1f s "
                   "after connecting)" % (group[0].kind, t,
                                          min((p.closed_at or 1e9) - p.t0 for p in group),
                                          max((p.closed_at or 0) - p.t0 for p in group)),
                   lambda p: "received %d octets, closed %s" % (
                       p.received, "%.2f s after connecting" % (p.closed_at - p.t0)
                       if p.closed_at else "never"))
    expect_all(check, dribblers,
               lambda p: p.done and p.error is None and p.answered_in < 1.0,
               "frame dribblers: channel.open sent a byte a second over %d s, open-ok after the "
               "last octet, then closed cleanly" % (len(FrameDribbler.FRAME) - 1),
               lambda p: p.error or "not done")
    expect_all(check, churners,
               lambda p: p.done and p.error is None and p.cycles >= 10,
               "channel churners opened and closed channels (%d cycles in all, fewest %d)"
               % (sum(c.cycles for c in churners), min(c.cycles for c in churners)),
               lambda p: p.error or "%d cycles, done %s" % (p.cycles, p.done))

    expect_all(check, non_readers,
               lambda p: p.done and p.error is None and p.answered == p.sent,
               "non-readers: basic.qos pipelined for %.0f s without reading (%d in all), then "
               "every basic.qos-ok read" % (STALL_S, sum(p.sent for p in non_readers)),
               lambda p: "%s; %d of %d answered" % (p.error, p.answered, p.sent))
    expect_all(check, vanished,
               lambda p: p.done and p.error is None,
               "vanished peers (heartbeat %d s, replies unread, then silent): dropped by the "
               "heartbeat check within %d s of their last octet"
               % (Vanisher.HEARTBEAT, 3 * Vanisher.HEARTBEAT + 2),
               lambda p: p.error or "not dropped")

    def closed_with(kind, code, text, cls, meth, within):
        group = [p for p in huge if p.kind == kind]
        expect_all(check, group,
                   lambda p: p.close == (code, text, cls, meth) and p.closed_at is not None
                   and within[0] <= p.closed_at - p.close_at <= within[1],
                   "%s: connection.close(%d, %r, %d, %d), socket closed %.1f-%.1f s later"
                   % (kind, code, text, cls, meth, within[0], within[1]),
                   lambda p: "close %r, socket closed %s, %s" % (
                       p.close, p.closed_at and p.close and "%.2f s later" % (p.closed_at - p.close_at),
                       p.error))
    closed_with("2^32-1 frame", 501,
                "FRAME_ERROR - type 1, all octets = <<>>: {frame_too_large,4294967295,131064}",
                0, 0, (2.0, 5.0))
    closed_with("4 GiB body", 505,
                "UNEXPECTED_FRAME - expected content body, got non content body frame instead",
                60, 40, (0.0, 1.0))
    closed_with("frame past frame_max", 501,
                "FRAME_ERROR - type 3, all octets = <<>>: {frame_too_large,131073,131064}",
                0, 0, (2.0, 5.0))

    rtts = result["rtts"]
    p50, p99 = percentile(rtts, 50), percentile(rtts, 99)
    check(result["empty"] == 0, "pika: every basic.get returned the message just published "
          "(%d of %d)" % (len(rtts) - result["empty"], len(rtts)))
    check(len(rtts) >= 1000 and p99 < P99_LIMIT_MS,
          "pika publish/get round trips under load: %d measured, p50 %.2f ms, p99 %.2f ms, max "
          "%.2f ms (p99 limit %.0f ms)" % (len(rtts), p50, p99, max(rtts), P99_LIMIT_MS))
    if pid:
        growth = peak - before
        limit = RSS_GROWTH_LIMIT_KIB * (ASAN_FACTOR if under_asan(pid) else 1)
        check(growth < limit, "broker RSS before %d KiB, peak %d KiB: growth %d KiB (limit %d KiB%s)"
              % (before, peak, growth, limit, ", ASan" if under_asan(pid) else ""))
    return 1 if check.failed else 0


def main():
    if sys.argv[1:2] == ["--measure"]:
        measure(int(sys.argv[2]))
        return 0
    want = (SILENT + HEADER_DRIBBLERS + FRAME_DRIBBLERS + CHURNERS + 3 * HUGE_EACH + NON_READERS +
            VANISHERS + 500)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < want:
        print("FAIL: %d sockets need %d descriptors; this machine allows %d" % (want - 500, want, hard))
        return 1
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if os.environ.get("AMQP_PORT") and not os.environ.get("WARREN_PID"):
        print("against the broker on port %s (handshake_timeout must be %d ms there)"
              % (os.environ["AMQP_PORT"], HANDSHAKE_TIMEOUT_S * 1000), flush=True)
        NonReader.CAP = 200000
        return run(int(os.environ["AMQP_PORT"]), None)
    port = own_broker.free_port()
    conf = os.path.join(own_broker.data_dir(), "rabbitmq.conf")
    with open(conf, "w") as f:
        f.write("handshake_timeout = %d\n" % (HANDSHAKE_TIMEOUT_S * 1000))
    log = os.path.join(own_broker.data_dir(), "warren.log")
    # Under ASan, freed blocks would stay resident in its quarantine (256 MiB by default).
    asan = (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0").lstrip(":")
    proc = own_broker.start(["-p", str(port), "--config", conf, "--management-port", "0",
                             "--prometheus-port", "0"], port, {"ASAN_OPTIONS": asan}, log)
    try:
        rc = run(port, proc.pid)
        if proc.poll() is not None:
            print("FAIL: the broker exited (status %s; log %s)" % (proc.returncode, log))
            rc = 1
        elif own_broker.stop(proc) != 0:
            print("FAIL: the broker did not stop cleanly (log %s)" % log)
            rc = 1
    finally:
        own_broker.kill_leftovers()
    report = sanitizer_report(log)
    if report:
        print(report)
        print("FAIL: the sanitizers reported the above at the broker's exit")
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
