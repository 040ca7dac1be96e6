#!/usr/bin/python3
"""Interop test: the web UI in a real browser (Debian's chromium, headless, over the DevTools
protocol). It logs in (and is refused for a user without a management tag), reads the
overview, adds a queue through the form, publishes to it and sees the count move, peeks at the
messages (body as text, JSON and hex) without taking them, purges it, and looks at the queue
list on a phone-sized screen; each screenshot is saved and must not be blank. Skipped only
when no chromium is installed."""
import json
import os
import sys
import threading
import time

import pika

from checks import SKIP, check, exit_status, unique, pika_connection
import mgmt
from mgmt import http, path_of
from ui_page import SHOTS, fill_and_submit, js, shot, wait_api

try:
    import cdp
except ImportError as e:  # python3-websocket missing: a broken test host, not a skip
    print("FAIL: %s (Debian: apt-get install python3-websocket)" % e)
    sys.exit(1)

BASE = "http://127.0.0.1:%d/" % mgmt.MANAGEMENT_PORT


def text_of(b, css):
    return b.eval("(() => { const e = document.querySelector(%s); return e ? e.textContent : null; })()" % js(css))


def click_twice(b, label):
    """A confirm button: the first click arms it, the second acts."""
    for _ in range(2):
        ok = b.eval("""(() => { const btn = [...document.querySelectorAll('button')].find(x => x.textContent === %s || x.textContent.startsWith('Really')); if (!btn) return false; btn.click(); return true; })()""" % js(label))
        if not ok:
            return False
    return True


def publish_for(seconds, queue, stop):
    """Publishes to queue (and consumes half of it) from a thread of its own, so the overview's
    charts have something to draw."""
    conn = pika_connection()
    ch = conn.channel()
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline and not stop.is_set():
        ch.basic_publish("", queue, b"load %d" % n)
        if n % 2:
            ch.basic_get(queue, auto_ack=True)
        n += 1
        conn.process_data_events(0.01)
    conn.close()


def close_connection_with_reason(b):
    """The connection page's close: the client sees 320 with the reason typed."""
    conn = pika_connection(client_properties={"connection_name": "ui-victim"})
    try:
        named = None
        deadline = time.monotonic() + 5
        while not named and time.monotonic() < deadline:
            named = [c["name"] for c in http("GET", "/api/connections").json if c.get("user_provided_name") == "ui-victim"]
            time.sleep(0.1)
        b.goto(BASE + "#/connections")
        shown = b.wait_for("[...document.querySelectorAll('main td')].some(td => td.textContent === 'ui-victim')")
        check(shown, "the connection list shows the client's connection_name")
        b.goto(BASE + "#/connections/" + mgmt.quote(named[0]))
        check(b.wait_for("document.querySelector('main').textContent.includes('Pika Python Client Library')"),
              "the connection page shows the client properties")
        fill_and_submit(b, "form.close", {"reason": "closed by the UI test"})
        check(b.wait_for("location.hash === '#/connections'"), "closing returns to the list")
        try:
            conn.process_data_events(2)
            conn.process_data_events(2)
            check(False, "the client saw its connection closed")
        except pika.exceptions.ConnectionClosedByBroker as e:
            check((e.reply_code, e.reply_text) == (320, "CONNECTION_FORCED - closed by the UI test"),
                  "the client saw 320 with the reason typed: %r" % ((e.reply_code, e.reply_text),))
    finally:
        if conn.is_open:
            conn.close()


def found(path):
    """The API's answer at path when it is there (200), else None."""
    r = http("GET", path)
    return r.json if r.status == 200 else None


def admin_flows(b):
    """The administration pages' forms, each checked through the API."""
    vhost, user, policy, exchange = unique("ui-vhost"), unique("ui-user"), unique("ui-policy"), unique("ui-ex")
    imported = unique("ui-imported")
    b.goto(BASE + "#/vhosts")
    b.wait_for("!!document.querySelector('form.vhost')")
    fill_and_submit(b, "form.vhost", {"name": vhost, "description": "made in the UI"})
    check(wait_api(lambda: http("GET", path_of("vhosts", vhost)).status == 200), "the vhost form adds a vhost")

    b.goto(BASE + "#/users")
    b.wait_for("!!document.querySelector('form.user')")
    fill_and_submit(b, "form.user", {"name": user, "password": "secret", "tags": "management"})
    got = wait_api(lambda: (found(path_of("users", user)) or {}).get("tags"))
    check(got == ["management"], "the user form adds a user with its tags (%r)" % got)
    check(b.wait_for("location.hash === %s" % js("#/users/" + mgmt.quote(user))), "and opens the user's page")
    b.wait_for("!!document.querySelector('form.permissions select[name=vhost]')")
    fill_and_submit(b, "form.permissions", {"vhost": vhost, "configure": "^ui-", "write": ".*", "read": ".*"})
    perm = wait_api(lambda: found(path_of("permissions", vhost, user)))
    check(perm and perm.get("configure") == "^ui-", "the user page sets a permission (%r)" % perm)

    b.goto(BASE + "#/policies")
    b.wait_for("!!document.querySelector('form.policy')")
    fill_and_submit(b, "form.policy", {"vhost": vhost, "name": policy, "pattern": "^ui-", "apply-to": "queues",
                                       "priority": "3", "definition": '{"max-length": 7}'})
    p = wait_api(lambda: found(path_of("policies", vhost, policy)))
    check(p and p.get("definition") == {"max-length": 7} and p.get("priority") == 3 and p.get("apply-to") == "queues",
          "the policy form sets a policy (%r)" % p)

    b.goto(BASE + "#/exchanges")
    b.wait_for("!!document.querySelector('form.add-exchange')")
    fill_and_submit(b, "form.add-exchange", {"vhost": vhost, "name": exchange, "type": "fanout"})
    e = wait_api(lambda: found(path_of("exchanges", vhost, exchange)))
    check(e and e.get("type") == "fanout", "the exchange form adds a fanout exchange (%r)" % (e and e.get("type")))

    b.goto(BASE + "#/definitions")
    b.wait_for("!!document.querySelector('form.import')")
    defs = {"queues": [{"name": imported, "vhost": vhost, "durable": True, "auto_delete": False, "arguments": {}}],
            "bindings": [{"source": exchange, "vhost": vhost, "destination": imported, "destination_type": "queue",
                          "routing_key": "", "arguments": {}}]}
    fill_and_submit(b, "form.import", {"text": json.dumps(defs)})
    check(wait_api(lambda: http("GET", path_of("queues", vhost, imported)).status == 200),
          "importing pasted definitions adds their queue")
    fill_and_submit(b, "form.export", {"vhost": vhost})
    check(b.wait_for("(a => a && a.download)(document.querySelector('p.download a'))"), "the export offers a file to save")
    exported = b.wait_for("(p => p && p.textContent)(document.querySelector('pre.exported'))")
    try:
        exported = json.loads(exported or "null")
    except ValueError:
        exported = None
    check(exported and [q["name"] for q in exported.get("queues", [])] == [imported]
          and any(x.get("name") == policy for x in exported.get("policies", [])),
          "the export of the vhost holds its queue and policy")

    b.goto(BASE + "#/exchanges/" + mgmt.quote(vhost) + "/" + mgmt.quote(exchange))
    check(b.wait_for("[...document.querySelectorAll('main a')].some(a => a.textContent === %s)" % js(imported)),
          "the exchange page lists the imported binding to the queue")

    fill_and_submit(b, "form.publish", {"routing_key": "any", "payload": "through the fanout"})
    q = wait_api(lambda: (found(path_of("queues", vhost, imported)) or {}).get("messages"))
    check(q == 1, "the exchange page's publish reaches the bound queue (%r)" % q)

    # the user made above has the management tag only: no administration pages, its vhost only
    b.eval("[...document.querySelectorAll('#who button')].find(x => x.textContent === 'Log out').click()")
    check(b.wait_for("!!document.querySelector('form#login')"), "Log out returns to the login form")
    check(b.eval("sessionStorage.getItem('warren.credentials') === null"), "and forgets the credentials")
    fill_and_submit(b, "form#login", {"username": user, "password": "secret"})
    check(b.wait_for("(u => u && u.textContent === %s)(document.querySelector('#who .user'))" % js(user)),
          "a management user logs in")
    pages = b.eval("[...document.querySelectorAll('#nav a')].map(a => a.textContent)")
    check(pages == ["Overview", "Connections", "Channels", "Exchanges", "Queues", "Policies"],
          "a management user's navigation leaves out the administrator's pages: %r" % pages)
    b.goto(BASE + "#/queues")
    names = b.wait_for("(r => r.length && r)([...document.querySelectorAll('#queue-list tbody tr')].map(tr => tr.children[1].textContent))")
    check(names == [imported], "a management user sees only its vhost's queues: %r" % names)
    b.eval("[...document.querySelectorAll('#who button')].find(x => x.textContent === 'Log out').click()")
    b.wait_for("!!document.querySelector('form#login')")
    fill_and_submit(b, "form#login", {"username": "guest", "password": "guest"})
    b.wait_for("(u => u && u.textContent === 'guest')(document.querySelector('#who .user'))")

    b.goto(BASE + "#/vhosts/" + mgmt.quote(vhost))
    b.wait_for("(h => h && h.textContent === %s)(document.querySelector('main h1'))" % js("Virtual host " + vhost))
    click_twice(b, "Delete")
    check(wait_api(lambda: http("GET", path_of("vhosts", vhost)).status == 404), "the vhost page deletes the vhost")
    http("DELETE", path_of("users", user))


def visit_every_page(b):
    """Clicks through the navigation: each page draws its heading and reports no error."""
    links = b.eval("[...document.querySelectorAll('#nav a')].map(a => [a.getAttribute('href'), a.textContent])")
    check(len(links) == 12, "the navigation has 12 pages for an administrator (%d)" % len(links))
    for href, label in links:
        b.eval("document.querySelector('#nav a[href=\"%s\"]').click()" % href)
        drawn = b.wait_for("location.hash === %s && document.querySelector('#nav a.on') && document.querySelector('#nav a.on').textContent === %s && document.querySelector('main h1') && document.querySelector('main h1').textContent" % (js(href), js(label)))
        time.sleep(0.3)
        failed = b.eval("[...document.querySelectorAll('.notice.error')].map(n => n.textContent).join('; ')")
        check(drawn and not failed, "page %s draws (%r) without an error notice %r" % (href, drawn, failed))


def main():
    chromium = cdp.find_chromium()
    if not chromium:
        print("SKIP: no chromium found (Debian: apt-get install chromium)")
        return SKIP
    os.makedirs(SHOTS, exist_ok=True)
    queue = unique("ui-queue")
    nobody = unique("ui-nomgmt")
    check(http("PUT", path_of("users", nobody), {"password": "pw", "tags": ""}).status in (201, 204),
          "a user without tags is created")

    # the load for the overview's charts starts now: the broker's rates need a few seconds
    load = unique("ui-load")
    http("PUT", path_of("queues", "/", load), {"durable": False})
    stop = threading.Event()
    loader = threading.Thread(target=publish_for, args=(20, load, stop))
    loader.start()
    try:
        b = cdp.Browser(chromium)
    except Exception:
        stop.set()
        loader.join()
        raise
    try:
        b.goto(BASE)
        check(b.wait_for("!!document.querySelector('form#login')"), "the index shows the login form")
        shot(b, "1-login")

        fill_and_submit(b, "form#login", {"username": nobody, "password": "pw"})
        refused = b.wait_for("document.querySelector('.login-error').textContent")
        check(refused and "management" in refused, "a user without a management tag is refused: %r" % refused)
        fill_and_submit(b, "form#login", {"username": "guest", "password": "wrong"})
        wrong = b.wait_for("(t => t.startsWith('Login failed') && t)(document.querySelector('.login-error').textContent)")
        check(wrong, "a wrong password is refused: %r" % wrong)

        fill_and_submit(b, "form#login", {"username": "guest", "password": "guest"})
        check(b.wait_for("!!document.querySelector('#totals .card')"), "logging in shows the overview's totals")
        # two samples (5 s apart) draw lines; the publish rate must show above zero
        rate = b.wait_for("(t => parseFloat(t) > 0 && t)(document.querySelector('.legend b[data-series=publish]').textContent)", 15)
        check(rate, "the overview's rate chart shows publishes (%r)" % rate)
        check(b.eval("sessionStorage.getItem('warren.credentials') !== null"), "the credentials are kept in sessionStorage")
        check(b.eval("document.getElementById('who').textContent.includes('guest')"), "the header names the user")
        check(b.wait_for("document.querySelectorAll('canvas.chart').length == 2"), "the overview draws two charts")
        shot(b, "2-overview")
        stop.set()
        loader.join()
        http("DELETE", path_of("queues", "/", load))
        visit_every_page(b)
        admin_flows(b)
        close_connection_with_reason(b)

        b.goto(BASE + "#/queues")
        check(b.wait_for("!!document.querySelector('form.add-queue')"), "the queues page has the add form")
        fill_and_submit(b, "form.add-queue", {"name": queue, "arguments": '{"x-max-length": 100}'})
        listed = b.wait_for("[...document.querySelectorAll('#queue-list a')].some(a => a.textContent === %s)" % js(queue))
        check(listed, "the new queue shows in the list")
        q = http("GET", path_of("queues", "/", queue))
        check(q.status == 200 and q.json["arguments"] == {"x-max-length": 100},
              "the API has the queue with its argument: %r" % (q.json and q.json.get("arguments")))
        b.eval("document.getElementById('queue-filter').value = %s; document.getElementById('queue-filter').dispatchEvent(new Event('input'))" % js(queue[:-3]))
        check(b.wait_for("document.querySelectorAll('#queue-list tbody tr').length == 1"), "the filter leaves the one queue")

        b.goto(BASE + "#/queues/%2F/" + queue)
        check(b.wait_for("(document.querySelector('[data-total=messages] .n') || {}).textContent === '0'"),
              "the queue page shows 0 messages")
        bodies = ['{"order": 1, "item": "tea"}', "plain text", '{"order": 3}']
        for body in bodies:
            fill_and_submit(b, "form.publish", {"payload": body})
            time.sleep(0.2)
        moved = b.wait_for("(document.querySelector('[data-total=messages] .n') || {}).textContent === '3'")
        check(moved, "after three publishes the page's count shows 3 (%r)" % text_of(b, "[data-total=messages] .n"))
        q = http("GET", path_of("queues", "/", queue))
        check(q.json["messages"] == 3, "the API counts 3 messages")

        peek_route = http("GET", path_of("queues", "/", queue) + "/peek?offset=0&count=1").status != 404
        if peek_route:
            fill_and_submit(b, "form.peek", {"view": "json"})
            got = b.wait_for("document.querySelectorAll('#peeked article').length")
            check(got == 3, "peek shows the 3 messages (%r)" % got)
            first = text_of(b, "#peeked article pre") or ""
            check('"item": "tea"' in first, "the first body is shown as pretty JSON: %r" % first[:60])
            b.eval("""(() => { const s = document.querySelector('#peeked article select'); s.value = 'hex'; s.dispatchEvent(new Event('change')); })()""")
            hexed = text_of(b, "#peeked article pre") or ""
            check(hexed.startswith("00000000  7b 22 6f 72"), "the body switches to hex: %r" % hexed[:40])
            q = http("GET", path_of("queues", "/", queue))
            check(q.json["messages_ready"] == 3, "peeking took nothing off the queue")
        else:
            print("SKIP (peek part only): GET /api/queues/VHOST/NAME/peek is not on this broker (404 Not Found)")
        fill_and_submit(b, "form.get", {"count": "1", "ackmode": "ack_requeue_true"})
        check(b.wait_for("document.querySelectorAll('#got article').length == 1"), "get shows one message")
        shot(b, "3-queue")

        click_twice(b, "Purge")
        check(b.wait_for("(document.querySelector('[data-total=messages] .n') || {}).textContent === '0'"),
              "after the purge the page shows 0 messages")
        q = http("GET", path_of("queues", "/", queue))
        check(q.json["messages"] == 0, "the API counts 0 messages after the purge")

        b.viewport(390, 844, mobile=True)
        b.goto(BASE + "#/queues")
        check(b.wait_for("document.querySelectorAll('#queue-list tbody tr').length >= 1"), "the queue list draws on a phone")
        wide = b.eval("document.documentElement.scrollWidth")
        check(wide <= 400, "the phone page does not scroll sideways (%r px wide)" % wide)
        shot(b, "4-queues-phone")

        b.goto(BASE + "#/queues/%2F/" + queue)
        check(b.wait_for("!!document.querySelector('[data-total=messages]')"), "the queue page draws on a phone")
        click_twice(b, "Delete")
        check(b.wait_for("location.hash === '#/queues'"), "deleting the queue returns to the list")
        check(http("GET", path_of("queues", "/", queue)).status == 404, "the API no longer has the queue")

        errors = b.errors()
        check(not errors, "the page logged no JavaScript errors: %r" % errors[:3])
    finally:
        stop.set()
        loader.join()
        b.close()
        http("DELETE", path_of("users", nobody))
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
