#!/usr/bin/python3
"""Interop test: the web UI's developer pages in a real browser (headless chromium over the
DevTools protocol). Traces: a trace started from the UI on a pika connection shows the
Basic.Publish pika sends (arguments, properties, body) in the live table, the filter narrows
it, the pcap and JSON Lines downloads save files (the pcap starts with its magic number), the
connection page starts and stops one; the vhost page turns the firehose on and off. Faults:
the page says how to enable fault injection while the broker refuses it (403); after a
restart with --enable-fault-injection, "close 320" armed from the UI reaches pika with that
text, a delay and nacks armed on the connection page show as armed and are disarmed, a bad
code is refused with the API's reason, and the memory alarm is set and cleared from the UI
as the API reports. Screenshots are saved and must not be blank."""
import json
import os
import shutil
import sys
import tempfile
import time

import pika

import checks
from checks import SKIP, check, expect, exit_status, unique, pika_connection
import mgmt
from mgmt import http, path_of
from ui_page import SHOTS, fill_and_submit, js, shot, wait_api

try:
    import cdp
except ImportError as e:  # python3-websocket missing: a broken test host, not a skip
    print("FAIL: %s (Debian: apt-get install python3-websocket)" % e)
    sys.exit(1)

BASE = "http://127.0.0.1:%d/" % mgmt.MANAGEMENT_PORT
PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")


def click(b, css, text=None):
    """Clicks the first element matching css (whose text starts with text, if given)."""
    return b.eval("""(() => { const el = [...document.querySelectorAll(%s)].find(x => %s === null || x.textContent.startsWith(%s));
        if (!el) return false; el.click(); return true; })()""" % (js(css), js(text), js(text)))


def click_twice(b, label):
    """A confirm button: the first click arms it ("Really ...?"), the second acts."""
    ok = click(b, "main button", label)
    return ok and click(b, "main button", "Really")


def api_name(connection_name):
    """The API's name of the connection whose client gave connection_name."""
    def read():
        for c in mgmt.get_json("/api/connections") or []:
            if c.get("user_provided_name") == connection_name:
                return c["name"]
        return None
    return wait_api(read)


def traces():
    return http("GET", "/api/warren/traces").json or []


def trace_of(kind, name):
    return next((t for t in traces() if t["kind"] == kind and t["name"] == name), None)


def rows_text(b):
    return b.eval("[...document.querySelectorAll('#trace-frames tbody tr')].map(tr => tr.textContent)") or []


def saved(directory, suffix, seconds=10):
    """The bytes of the first finished download in directory whose name ends with suffix."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name in os.listdir(directory):
            if name.endswith(suffix):
                with open(os.path.join(directory, name), "rb") as f:
                    return name, f.read()
        time.sleep(0.1)
    return None, None


def login(b):
    b.goto(BASE)
    fill_and_submit(b, "form#login", {"username": "guest", "password": "guest"})
    check(b.wait_for("(u => u && u.textContent === 'guest')(document.querySelector('#who .user'))"), "guest logs in")


def go(b, hash_):
    """Shows the page at hash_ (by way of another, so the same hash draws afresh), and waits
    until the router has replaced the old page: a hash change is routed a moment later."""
    for where in ("#/nowhere", hash_):
        b.eval("document.getElementById('main').append(Object.assign(document.createElement('i'), {id: 'stale-page'}))")
        b.goto(BASE + where)
        b.wait_for("!document.getElementById('stale-page')")


def trace_flows(b, downloads):
    queue = unique("ui-trace-q")
    conn = pika_connection(client_properties={"connection_name": "ui-traced"})
    try:
        ch = conn.channel()
        ch.queue_declare(queue, auto_delete=True)
        name = api_name("ui-traced")
        check(name, "the traced connection is listed (%r)" % name)
        go(b, "#/traces")
        check(b.wait_for("[...document.querySelectorAll('form.start-trace select[name=connection] option')].some(o => o.value === %s)" % js(name)),
              "the traces page offers the connection to trace")
        fill_and_submit(b, "form.start-trace", {"kind": "connection", "connection": name, "frames": "200"})
        check(b.wait_for("location.hash === %s" % js("#/traces/connections/" + mgmt.quote(name))),
              "starting the trace opens its page")
        t = wait_api(lambda: trace_of("connection", name))
        check(t and t["max_frames"] == 200 and t["recording"], "the API has the trace, a ring of 200 frames: %r" % t)

        ch.basic_publish("", queue, b"hello, trace", pika.BasicProperties(content_type="text/plain", delivery_mode=2))
        ch.queue_declare(queue, passive=True)  # a reply, so the broker's side shows too
        check(b.wait_for("[...document.querySelectorAll('#trace-frames tbody tr')].some(tr => tr.textContent.includes('queue.declare-ok') && tr.textContent.includes('← out'))"),
              "the live table shows the broker's queue.declare-ok going out")
        row = b.wait_for("(r => r && r.textContent)([...document.querySelectorAll('#trace-frames tbody tr')].find(tr => tr.textContent.includes('basic.publish')))")
        check(row and ("routing_key=" + js(queue)) in row and "→ in" in row,
              "the live table shows the client's basic.publish with its routing key: %r" % row)
        rows = rows_text(b)
        check(any("content_type=\"text/plain\"" in r and "delivery_mode=2" in r and "12 B" in r for r in rows),
              "and its content header with the properties and body size")
        check(any("\"hello, trace\"" in r for r in rows), "and the body's first bytes")
        b.eval("(f => { f.value = 'basic.publish'; f.dispatchEvent(new Event('input')); })(document.getElementById('trace-filter'))")
        rows = rows_text(b)
        check(rows and all("basic.publish" in r for r in rows), "the filter leaves only basic.publish frames (%d)" % len(rows))
        b.eval("(f => { f.value = ''; f.dispatchEvent(new Event('input')); })(document.getElementById('trace-filter'))")
        check(len(rows_text(b)) > len(rows), "emptying the filter shows every frame again")
        shot(b, "5-trace-frames")

        click(b, "button.download[data-format=pcap]")
        fname, pcap = saved(downloads, ".pcap")
        check(pcap and pcap[:4] in PCAP_MAGICS and len(pcap) > 100,
              "the pcap download saves a pcap file (%r, %r)" % (fname, pcap[:4] if pcap else None))
        click(b, "button.download[data-format=jsonl]")
        fname, jsonl = saved(downloads, ".jsonl")
        try:
            lines = [json.loads(x) for x in (jsonl or b"").decode().splitlines()]
        except ValueError:
            lines = []
        check(any(x.get("method") == "basic.publish" and x["arguments"].get("routing_key") == queue for x in lines),
              "the JSON Lines download holds the basic.publish (%r, %d lines)" % (fname, len(lines)))

        # the connection page: the trace is there, stopped there, started again there
        go(b, "#/connections/" + mgmt.quote(name))
        check(b.wait_for("[...document.querySelectorAll('main a')].some(a => a.textContent === 'See the frames')"),
              "the connection page links to its trace")
        b.wait_for("[...document.querySelectorAll('main button')].some(x => x.textContent === 'Stop trace')")
        click_twice(b, "Stop trace")
        check(wait_api(lambda: trace_of("connection", name) is None), "the connection page stops (deletes) the trace")
        fill_and_submit(b, "form.start-trace", {"frames": "50"})
        check(b.wait_for("location.hash === %s" % js("#/traces/connections/" + mgmt.quote(name))),
              "the connection page's Start trace opens the trace")
        t = wait_api(lambda: trace_of("connection", name))
        check(t and t["max_frames"] == 50, "with the ring size typed (%r)" % (t and t["max_frames"]))
        b.wait_for("[...document.querySelectorAll('main button')].some(x => x.textContent === 'Stop')")
        click_twice(b, "Stop")
        check(b.wait_for("location.hash === '#/traces'"), "the trace page's Stop returns to the list")
        check(wait_api(lambda: trace_of("connection", name) is None), "and the trace is gone")

        # a vhost's trace, and a bad ring size refused with the API's reason
        b.wait_for("!!document.querySelector('form.start-trace select[name=vhost]')")
        fill_and_submit(b, "form.start-trace", {"kind": "vhost", "vhost": "/", "frames": "0"})
        err = b.wait_for("(n => n && n.textContent)(document.querySelector('.notice.error'))")
        check(err and "frames must be an integer" in err, "a ring size of 0 is refused with the API's reason: %r" % err)
        b.eval("document.querySelectorAll('.notice.error').forEach(n => n.remove())")
        fill_and_submit(b, "form.start-trace", {"kind": "vhost", "vhost": "/", "frames": "100"})
        check(b.wait_for("location.hash === '#/traces/vhosts/%2F'"), "a vhost trace opens its page")
        ch.basic_publish("", queue, b"in the vhost trace")
        conn.process_data_events(0.3)
        # this connection was open before: a vhost trace takes it in
        check(b.wait_for("[...document.querySelectorAll('#trace-frames tbody tr')].some(tr => tr.textContent.includes('basic.publish') && tr.textContent.includes(%s))" % js(name)),
              "the vhost trace shows the publish with its connection")
        go(b, "#/traces")
        check(b.wait_for("[...document.querySelectorAll('main td a')].some(a => a.textContent === '/') && document.querySelectorAll('button.firehose').length"),
              "the traces page lists the vhost trace and the firehose switches")
        shot(b, "5-traces")
        http("DELETE", path_of("warren", "traces", "vhosts", "/"))
    finally:
        if conn.is_open:
            conn.close()


def firehose_flow(b):
    before = http("GET", path_of("vhosts", "/")).json
    go(b, "#/vhosts/%2F")
    b.wait_for("!!document.querySelector('button.firehose')")
    click(b, "button.firehose")
    on = wait_api(lambda: http("GET", path_of("vhosts", "/")).json.get("tracing"))
    check(on, "the vhost page turns the firehose on")
    after = http("GET", path_of("vhosts", "/")).json
    check(after.get("description") == before.get("description") and after.get("tags") == before.get("tags"),
          "and keeps the vhost's description and tags (%r)" % after.get("description"))
    check(b.wait_for("(x => x && x.textContent === 'Turn the firehose off')(document.querySelector('button.firehose'))"),
          "the button then offers to turn it off")
    click(b, "button.firehose")
    check(wait_api(lambda: http("GET", path_of("vhosts", "/")).json.get("tracing") is False), "and turns it off")


def faults_disabled(b):
    go(b, "#/faults")
    text = b.wait_for("(p => p && p.textContent)(document.querySelector('.disabled-feature'))")
    check(text and "disabled" in text and "--enable-fault-injection" in text and "warren.fault_injection = true" in text,
          "the faults page says fault injection is disabled and how to enable it: %r" % (text or "")[:120])
    check(not b.eval("document.querySelector('.notice.error')"), "without an error notice")
    shot(b, "6-faults-disabled")


def faults_flows(b):
    victim = pika_connection(client_properties={"connection_name": "ui-fault-victim"})
    armed = pika_connection(client_properties={"connection_name": "ui-fault-armed"})
    try:
        name = api_name("ui-fault-victim")
        go(b, "#/faults")
        check(b.wait_for("[...document.querySelectorAll('#fault-target option')].some(o => o.value === %s)" % js(name)),
              "the faults page offers the connection")
        b.eval("(s => { s.value = %s; s.dispatchEvent(new Event('change')); })(document.getElementById('fault-target'))" % js(name))
        fill_and_submit(b, "form.fault", {"fault": "close", "code": "999"})
        err = b.wait_for("(n => n && n.textContent)(document.querySelector('.notice.error'))")
        check(err and "code must be an AMQP 0-9-1 reply code" in err, "a bad code is refused with the API's reason: %r" % err)
        b.eval("document.querySelectorAll('.notice.error').forEach(n => n.remove())")
        fill_and_submit(b, "form.fault", {"fault": "close", "code": "320", "text": "CONNECTION_FORCED - from the UI"})
        try:
            for _ in range(3):
                victim.process_data_events(1)
            check(False, "pika saw its connection closed")
        except pika.exceptions.ConnectionClosedByBroker as e:
            expect((e.reply_code, e.reply_text), (320, "CONNECTION_FORCED - from the UI"),
                   "close 320 armed from the UI: pika's ConnectionClosedByBroker")

        # the connection page's Faults section: arm a delay and nacks, see them armed, disarm
        other = api_name("ui-fault-armed")
        go(b, "#/connections/" + mgmt.quote(other))
        fill_and_submit(b, "form.fault", {"fault": "delay", "ms": "250"})
        got = wait_api(lambda: (http("GET", path_of("warren", "faults", "connections", other)).json or [{}])[0].get("delay_ms"))
        expect(got, 250, "the connection page arms a 250 ms delay (the API's delay_ms)")
        fill_and_submit(b, "form.fault", {"fault": "nack", "count": "3"})
        got = wait_api(lambda: (http("GET", path_of("warren", "faults", "connections", other)).json or [{}])[0].get("nacks_left"))
        expect(got, 3, "and nacks for the next 3 publishes")
        shown = b.wait_for("(p => p && p.textContent.includes('writes delayed 250 ms') && p.textContent.includes('nack the next 3') && p.textContent)(document.querySelector('p.armed'))")
        check(shown, "the connection page shows what is armed: %r" % shown)
        go(b, "#/faults")
        listed = b.wait_for("(t => t && t.includes(%s) && t.includes('writes delayed 250 ms') && t)(document.getElementById('armed').textContent)" % js(other))
        check(listed, "the faults page lists the armed connection")
        late = pika_connection(client_properties={"connection_name": "ui-fault-late"})
        try:
            check(b.wait_for("[...document.querySelectorAll('#fault-target option')].some(o => o.textContent.includes('(ui-fault-late)'))"),
                  "a connection opened later joins the page's picker")
        finally:
            late.close()
        armed.process_data_events(0.1)
        check(armed.is_open, "arming delay and nack left the connection open")

        click(b, "[data-alarm=memory] button", "Set")
        alarms = wait_api(lambda: http("GET", "/api/warren/faults").json["alarms"]["memory"])
        check(alarms, "the faults page sets the memory alarm (the API's alarms.memory)")
        node = (mgmt.get_json("/api/nodes") or [{}])[0]
        check(node.get("mem_alarm") is True, "and /api/nodes reports mem_alarm")
        check(b.wait_for("(x => x && x.textContent.includes('SET'))(document.querySelector('[data-alarm=memory]'))"),
              "the page shows the memory alarm set")
        shot(b, "7-faults")
        click(b, "[data-alarm=memory] button", "Clear")
        check(wait_api(lambda: http("GET", "/api/warren/faults").json["alarms"]["memory"] is False),
              "and clears it")
        check(wait_api(lambda: (mgmt.get_json("/api/nodes") or [{}])[0].get("mem_alarm") is False), "/api/nodes agrees")

        click(b, "#armed button.disarm")
        got = wait_api(lambda: (lambda a: a["delay_ms"] == 0 and a["nacks_left"] == 0)(
            http("GET", path_of("warren", "faults", "connections", other)).json[0]))
        check(got, "Disarm on the faults page disarms the connection")

        b.viewport(390, 844, mobile=True)
        go(b, "#/connections/" + mgmt.quote(other))
        check(b.wait_for("(p => p && p.textContent.startsWith('Armed: nothing') && !!document.querySelector('form.fault'))(document.querySelector('p.armed'))"),
              "after the disarm the connection page shows nothing armed, and the fault form")
        wide = b.eval("document.documentElement.scrollWidth")
        check(wide <= 400, "the connection page with its trace and faults sections fits a phone (%r px)" % wide)
        shot(b, "8-connection-phone")
        b.viewport(1280, 900)
    finally:
        for c in (victim, armed):
            if c.is_open:
                c.close()


def main():
    chromium = cdp.find_chromium()
    if not chromium:
        print("SKIP: no chromium found (Debian: apt-get install chromium)")
        return SKIP
    os.makedirs(SHOTS, exist_ok=True)
    downloads = tempfile.mkdtemp(prefix="warren-ui-downloads.")
    b = cdp.Browser(chromium)
    try:
        b.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=downloads)
        login(b)
        faults_disabled(b)
        trace_flows(b, downloads)
        firehose_flow(b)
        checks.restart_broker(["--enable-fault-injection"])
        go(b, "#/")
        check(b.wait_for("(u => u && u.textContent === 'guest')(document.querySelector('#who .user'))"),
              "the UI still works after the broker's restart")
        faults_flows(b)
        errors = b.errors()
        check(not errors, "the page logged no JavaScript errors: %r" % errors[:3])
    finally:
        b.close()
        shutil.rmtree(downloads, ignore_errors=True)
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
