"""Helpers shared by the management API and Prometheus tests: HTTP calls, ports, field checks."""

import base64
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

from checks import HOST, PORT, check, expect

MANAGEMENT_PORT = int(os.environ.get("MANAGEMENT_PORT", PORT + 10000))
PROMETHEUS_PORT = int(os.environ.get("PROMETHEUS_PORT", PORT + 10100))
GUEST = ("guest", "guest")
# RabbitMQ refreshes its statistics every 5 s (collect_statistics_interval), so a value that
# follows from a workload may take that long to show; a faster broker passes at once.
STATS_SECONDS = 15.0
REALM = 'Basic realm="RabbitMQ Management"'
NOT_FOUND = {"error": "Object Not Found", "reason": "Not Found"}


class Reply:
    """One HTTP response: status, headers (lower-case names), raw body and the parsed JSON."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {name.lower(): value for name, value in headers.items()}
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:200])


def quote(name):
    """A vhost, object or connection name as one path segment ("/" becomes %2F)."""
    return urllib.parse.quote(name, safe="")


def path_of(*segments):
    """/api/ followed by the quoted segments."""
    return "/api/" + "/".join(quote(s) for s in segments)


def http(method, path, body=None, user=GUEST, headers=None, port=None, raw_body=None):
    """Sends one request to the management (or given) port; body is sent as JSON, raw_body
    as is; user None sends no Authorization header."""
    all_headers = dict(headers or {})
    data = raw_body
    if body is not None:
        data = json.dumps(body).encode()
    if data is not None:
        all_headers.setdefault("Content-Type", "application/json")
    if user is not None:
        token = base64.b64encode(("%s:%s" % user).encode()).decode()
        all_headers["Authorization"] = "Basic " + token
    url = "http://%s:%d%s" % (HOST, port or MANAGEMENT_PORT, path)
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Reply(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.headers, error.read())


def get(path, **options):
    return http("GET", path, **options)


def get_json(path, **options):
    """The parsed body of a GET that must answer 200 (None otherwise, after a FAIL)."""
    reply = get(path, **options)
    if not check(reply.status == 200, "GET %s answers 200 (got %d)" % (path, reply.status)):
        return None
    return reply.json


def expect_status(reply, status, what):
    return expect(reply.status, status, "%s: status" % what)


def expect_error(reply, status, error, what, reason=None):
    """reply is status with {"error": error, "reason": ...}; reason checked when given."""
    expect_status(reply, status, what)
    body = reply.json if isinstance(reply.json, dict) else {}
    expect(body.get("error"), error, "%s: error" % what)
    check(isinstance(body.get("reason"), (str, list)), "%s: reason present (%r)"
          % (what, body.get("reason")))
    if reason is not None:
        expect(body.get("reason"), reason, "%s: reason" % what)


TYPES = {"s": str, "i": int, "n": (int, float), "b": bool, "o": dict, "l": list,
         "s?": (str, type(None)), "i?": (int, type(None))}


def expect_fields(obj, spec, what):
    """Each "name:kind" of spec (kinds in TYPES; name may be a.b for nested) is present in obj
    with that JSON type (bool is not an int here)."""
    if not check(isinstance(obj, dict), "%s is an object" % what):
        return
    for item in spec.split():
        name, kind = item.rsplit(":", 1)
        value, present = obj, True
        for part in name.split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            else:
                present = False
                break
        wanted = TYPES[kind]
        ok = present and isinstance(value, wanted) and not (
            isinstance(value, bool) and kind in ("i", "n", "i?"))
        check(ok, "%s.%s is %s (%s)" % (what, name, kind,
                                        repr(value)[:60] if present else "missing"))


def wait_json(path, ready, seconds=STATS_SECONDS, **options):
    """GETs path until ready(parsed body) holds or seconds pass; the last body (None on error)."""
    deadline = time.monotonic() + seconds
    while True:
        reply = get(path, **options)
        body = reply.json if reply.status == 200 else None
        try:
            done = body is not None and ready(body)
        except (KeyError, TypeError, IndexError):
            done = False
        if done or time.monotonic() >= deadline:
            return body
        time.sleep(0.25)


def field(obj, dotted, default=None):
    """obj's nested field a.b.c, or default."""
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return default
        obj = obj[part]
    return obj


def connection_named(name, seconds=STATS_SECONDS):
    """The /api/connections entry whose user_provided_name is name, once it is listed."""
    found = wait_json("/api/connections", lambda conns: any(
        c.get("user_provided_name") == name for c in conns), seconds)
    for entry in found or []:
        if entry.get("user_provided_name") == name:
            return entry
    return None
