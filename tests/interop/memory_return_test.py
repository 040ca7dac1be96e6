#!/usr/bin/python3
"""Interop test: after 10,000 AMQP connections (a channel each) open, stay open together and
close, the broker gives back at least half of the memory they took within 60 s: its resident
set falls below peak - (peak - before) / 2. The figures are printed either way.

The broker is one of the test's own so that under ASan it runs with quarantine_size_mb=0 and
allocator_release_to_os_interval_ms=0 (ASan would otherwise keep every freed block in
quarantine and its pages resident, and RSS could not fall); there the figures are ASan's
allocator's, not glibc's. Whatever the sanitizers report at the broker's exit (LeakSanitizer
included) fails the test."""
import os
import resource
import selectors
import socket
import struct
import sys
import time

import own_broker
from rawamqp import (PROTOCOL_HEADER, close_args, method_frame, open_args, shortstr,
                     start_ok_args, tune_ok_args)

CONNECTIONS = 10000
RETURN_WITHIN_S = 60.0
SAMPLE_EVERY_S = 2.0
PHASE_TIMEOUT_S = 60.0
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")


def under_asan(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def sanitizer_report(log):
    with open(log, errors="replace") as f:
        text = f.read()
    return text if any(m in text for m in SANITIZER_MARKERS) else None


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


class Conn:
    """A non-blocking raw connection, driven by the phases below."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def frames(self):
        """Complete frames received so far, as (type, channel, class_id, method_id)."""
        out = []
        while len(self.buf) >= 8:
            ftype, channel, size = struct.unpack(">BHI", self.buf[:7])
            if len(self.buf) < 8 + size:
                break
            payload = self.buf[7:7 + size]
            self.buf = self.buf[8 + size:]
            if ftype == 1:
                out.append(struct.unpack(">HH", payload[:4]))
        return out


def phase(conns, send, want, what):
    """Sends send(c) on every connection, then waits until each has received method want
    (class_id, method_id) or raises."""
    sel = selectors.DefaultSelector()
    for c in conns:
        data = send(c)
        if data:
            c.sock.sendall(data)
        sel.register(c.sock, selectors.EVENT_READ, c)
    waiting = len(conns)
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while waiting:
        if time.monotonic() > deadline:
            raise SystemExit("FAIL: %s: %d of %d connections still waiting after %.0f s"
                             % (what, waiting, len(conns), PHASE_TIMEOUT_S))
        for key, _ in sel.select(1.0):
            c = key.data
            chunk = c.sock.recv(65536)
            if not chunk:
                raise SystemExit("FAIL: %s: the broker closed a connection" % what)
            c.buf += chunk
            if want in c.frames():
                sel.unregister(c.sock)
                waiting -= 1
    sel.close()


def open_all(port, count):
    conns = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        conns.append(Conn(s))
    phase(conns, lambda c: PROTOCOL_HEADER, (10, 10), "connection.start")
    phase(conns, lambda c: method_frame(0, 10, 11, start_ok_args()), (10, 30), "connection.tune")
    phase(conns, lambda c: method_frame(0, 10, 31, tune_ok_args()) +
          method_frame(0, 10, 40, open_args()), (10, 41), "connection.open-ok")
    phase(conns, lambda c: method_frame(1, 20, 10, shortstr("")), (20, 11), "channel.open-ok")
    return conns


def close_all(conns):
    phase(conns, lambda c: method_frame(0, 10, 50, close_args()), (10, 51), "connection.close-ok")
    for c in conns:
        c.sock.close()


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = CONNECTIONS + 200
    if hard < want:
        print("FAIL: %d connections need %d descriptors; this machine allows %d"
              % (CONNECTIONS, want, hard))
        return 1
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if os.environ.get("AMQP_PORT") and not os.environ.get("WARREN_PID"):
        print("SKIP: measures Warren's own process")
        return 77
    port = own_broker.free_port()
    asan = (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0:allocator_release_to_os_interval_ms=0").lstrip(":")
    log = os.path.join(own_broker.data_dir(), "warren.log")
    proc = own_broker.start(["-p", str(port), "--management-port", "0",
                             "--prometheus-port", "0"], port, {"ASAN_OPTIONS": asan}, log)
    try:
        rc = measure(proc, port)
        status = own_broker.stop(proc) if proc.poll() is None else proc.returncode
    finally:
        own_broker.kill_leftovers()
    report = sanitizer_report(log)
    if report:
        print(report)
        print("FAIL: the sanitizers reported the above at the broker's exit")
        return 1
    if status != 0:
        print("FAIL: the broker exited with status %s (log: %s)" % (status, log))
        return 1
    return rc


def measure(proc, port):
    if under_asan(proc.pid):
        print("note: the broker runs under ASan: these are ASan's allocator's figures", flush=True)
    before = rss_kib(proc.pid)
    t0 = time.monotonic()
    conns = open_all(port, CONNECTIONS)
    peak_open = rss_kib(proc.pid)
    print("opened %d connections with a channel each in %.1f s"
          % (len(conns), time.monotonic() - t0), flush=True)
    close_all(conns)
    closed_at = time.monotonic()
    peak = max(peak_open, rss_kib(proc.pid))
    growth = peak - before
    target = peak - growth // 2
    print("RSS before %d KiB, at peak %d KiB (growth %d KiB, %.1f KiB per connection); "
          "target below %d KiB" % (before, peak, growth, growth / CONNECTIONS, target), flush=True)
    if growth < 10 * 1024:
        print("FAIL: 10,000 connections grew the broker by only %d KiB: nothing to measure"
              % growth)
        return 1
    rss = peak
    while True:
        elapsed = time.monotonic() - closed_at
        rss = rss_kib(proc.pid)
        print("  %4.1f s after the closes: RSS %d KiB (%.0f %% of the growth given back)"
              % (elapsed, rss, 100.0 * (peak - rss) / growth), flush=True)
        if rss < target or elapsed >= RETURN_WITHIN_S:
            break
        time.sleep(SAMPLE_EVERY_S)
    if rss >= target:
        print("FAIL: %.0f s after 10,000 connections closed the broker still holds %d KiB of "
              "the %d KiB they took (RSS %d KiB, target below %d KiB)"
              % (elapsed, rss - before, growth, rss, target))
        return 1
    print("PASS: %.1f s after the closes RSS is %d KiB, below %d KiB (%.0f %% of the growth "
          "given back)" % (elapsed, rss, target, 100.0 * (peak - rss) / growth))
    return 0


if __name__ == "__main__":
    sys.exit(main())
