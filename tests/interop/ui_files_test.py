#!/usr/bin/python3
"""Interop test: the management listener serves the web UI's files at RabbitMQ's paths ("/",
/js/..., /css/...) with their content types and no-cache, answers 404 for any other file and
for path tricks, 405 for writes, and leaves everything under /api/ to the API."""
import http.client
import re
import sys

from checks import check, exit_status
import mgmt


def fetch(method, path):
    c = http.client.HTTPConnection("127.0.0.1", mgmt.MANAGEMENT_PORT, timeout=5)
    c.putrequest(method, path, skip_accept_encoding=True)  # the path as given, ".." and all
    c.endheaders()
    r = c.getresponse()
    body = r.read()
    headers = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, headers, body


def main():
    status, headers, index = fetch("GET", "/")
    check(status == 200 and headers.get("content-type") == "text/html; charset=utf-8",
          "/ is the index as HTML (%d %s)" % (status, headers.get("content-type")))
    check(headers.get("cache-control") == "no-cache", "the index says no-cache")
    check("default-src 'self'" in headers.get("content-security-policy", ""),
          "the page may load only its own scripts (CSP)")
    check(fetch("GET", "/index.html")[2] == index, "/index.html is the same file")
    # every script and stylesheet the page and its modules name is served with its type
    wanted = set(re.findall(rb'(?:src|href)="((?:js|css)/[^"]+)"', index))
    seen = set()
    while wanted:
        name = wanted.pop()
        seen.add(name)
        status, headers, body = fetch("GET", "/" + name.decode())
        kind = "text/javascript; charset=utf-8" if name.endswith(b".js") else "text/css; charset=utf-8"
        check(status == 200 and headers.get("content-type") == kind and body,
              "/%s is served as %s (%d %s)" % (name.decode(), kind, status, headers.get("content-type")))
        for imported in re.findall(rb"from '\./([^']+)'", body):
            if b"js/" + imported not in seen:
                wanted.add(b"js/" + imported)
    check(len(seen) >= 10, "the page's modules were all found (%d files)" % len(seen))
    head = fetch("HEAD", "/js/main.js")
    check(head[0] == 200 and head[2] == b"" and head[1].get("content-length") == str(len(fetch("GET", "/js/main.js")[2])),
          "HEAD answers the headers and length without the body")

    for path in ("/nope.html", "/js/nope.js", "/js/../index.html", "/../index.html", "/%2e%2e/index.html",
                 "/js/%2e%2e/index.html", "/index.html/", "//index.html", "/js", "/js/", "/etc/passwd"):
        status, headers, body = fetch("GET", path)
        check(status == 404 and headers.get("content-type", "").startswith("text/plain"),
              "%s is 404 (%d)" % (path, status))
    status, headers, _ = fetch("POST", "/")
    check(status == 405 and "GET" in headers.get("allow", ""), "POST / is 405 with allow (%d)" % status)
    status, headers, _ = fetch("DELETE", "/js/main.js")
    check(status == 405, "DELETE of a file is 405 (%d)" % status)

    # the API is not shadowed: its own 404s, 401s and answers
    status, headers, body = fetch("GET", "/api/index.html")
    check(status == 404 and headers.get("content-type") == "application/json", "/api/index.html is the API's JSON 404")
    status, headers, _ = fetch("GET", "/api/overview")
    check(status == 401 and "www-authenticate" in headers, "/api/overview without credentials is the API's 401")
    check(mgmt.http("GET", "/api/whoami").json == {"name": "guest", "tags": ["administrator"]},
          "/api/whoami answers as before")
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
