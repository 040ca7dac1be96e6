#!/usr/bin/python3
"""The management API as shell scripts drive it: curl with the idioms people paste from
RabbitMQ's docs and answers (-u, -d without a content type, -T for a file, -w for the status,
-i for headers) and jq on the output. Green against RabbitMQ 3.10.8 first."""

import json
import os
import subprocess
import sys
import tempfile

from checks import HOST, SUFFIX, check, exit_status, expect
from mgmt import MANAGEMENT_PORT

BASE = "http://%s:%d" % (HOST, MANAGEMENT_PORT)
VHOST = "curl-" + SUFFIX
QUEUE = "curl-q-" + SUFFIX


def sh(script):
    """Runs a bash script with BASE, VHOST and QUEUE set; (exit status, stdout)."""
    env = dict(os.environ, BASE=BASE, VHOST=VHOST, QUEUE=QUEUE)
    done = subprocess.run(["bash", "-c", "set -o pipefail\n" + script], env=env,
                          capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout.strip()


def status_of(script):
    """The HTTP status curl's -w printed (the script's last output line)."""
    rc, out = sh(script)
    return out.splitlines()[-1] if rc == 0 and out else "exit %d" % rc


def main():
    try:
        expect(status_of('curl -s -o /dev/null -w "%{http_code}" "$BASE/api/overview"'), "401",
               "no credentials: 401")
        rc, out = sh('curl -s -u guest:guest "$BASE/api/overview" | jq -r .rabbitmq_version')
        expect((rc, out), (0, "3.10.8"), "overview | jq .rabbitmq_version")
        expect(status_of('curl -s -o /dev/null -w "%{http_code}" -u guest:guest -X PUT '
                         '"$BASE/api/vhosts/$VHOST"'), "201", "PUT vhost without a body")
        # -d without -H sends application/x-www-form-urlencoded: RabbitMQ reads it as JSON
        expect(status_of('curl -s -o /dev/null -w "%{http_code}" -u guest:guest -X PUT '
                         '-d \'{"durable":true,"arguments":{"x-max-length":5}}\' '
                         '"$BASE/api/queues/$VHOST/$QUEUE"'), "201", "PUT queue with -d, no content type")
        rc, out = sh('curl -s -u guest:guest -H "content-type: application/json" -X POST '
                     '-d \'{"properties":{},"routing_key":"\'$QUEUE\'","payload":"hello",'
                     '"payload_encoding":"string"}\' "$BASE/api/exchanges/$VHOST/amq.default/publish"')
        expect((rc, out), (0, '{"routed":true}'), "publish through amq.default")
        rc, out = sh('curl -s -u guest:guest "$BASE/api/queues/$VHOST/$QUEUE?columns=name,messages,durable"'
                     ' | jq -c "{name, durable}"')
        expect((rc, out), (0, json.dumps({"name": QUEUE, "durable": True}, separators=(",", ":"))),
               "?columns= | jq")
        rc, out = sh('curl -s -u guest:guest -X POST -d \'{"count":5,"ackmode":"ack_requeue_false",'
                     '"encoding":"auto"}\' "$BASE/api/queues/$VHOST/$QUEUE/get" | jq -r ".[].payload"')
        expect((rc, out), (0, "hello"), "get with ack_requeue_false | jq payloads")
        rc, out = sh('curl -s -u guest:guest "$BASE/api/health/checks/alarms"')
        expect((rc, out), (0, '{"status":"ok"}'), "health/checks/alarms")
        rc, out = sh('curl -si -u guest:guest "$BASE/api/whoami" | tr -d "\\r" | '
                     'grep -i "^content-type:"')
        check(rc == 0 and out.lower().startswith("content-type: application/json"),
              "-i shows a JSON content type: %r" % out)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "defs.json")
            rc, _ = sh('curl -sf -u guest:guest -o "%s" "$BASE/api/definitions/$VHOST"' % path)
            check(rc == 0 and os.path.getsize(path) > 0, "definitions saved with -o")
            rc, out = sh('jq -r ".queues[].name" "%s"' % path)
            expect((rc, out), (0, QUEUE), "the saved definitions hold the queue")
            expect(status_of('curl -s -o /dev/null -w "%{http_code}" -u guest:guest -X DELETE '
                             '"$BASE/api/queues/$VHOST/$QUEUE"'), "204", "DELETE queue")
            # -T uploads the file (with Expect: 100-continue); -X POST makes it a POST
            expect(status_of('curl -s -o /dev/null -w "%%{http_code}" -u guest:guest -H '
                             '"content-type: application/json" -X POST -T "%s" '
                             '"$BASE/api/definitions/$VHOST"' % path), "204",
                   "POST definitions with -T")
            rc, out = sh('curl -s -u guest:guest "$BASE/api/queues/$VHOST" | jq -r ".[].name"')
            expect((rc, out), (0, QUEUE), "the queue is back after the import")
            big = os.path.join(tmp, "big.json")
            with open(big, "w") as f:  # over 1 MiB: curl always asks for 100-continue then
                json.dump({"queues": [{"name": QUEUE, "vhost": VHOST, "durable": True,
                                       "auto_delete": False, "arguments": {"x-max-length": 5}}],
                           "padding": "x" * (1 << 20)}, f)
            expect(status_of('curl -s -o /dev/null -w "%%{http_code}" -u guest:guest -H '
                             '"content-type: application/json" -X POST --data-binary @"%s" '
                             '"$BASE/api/definitions"' % big), "204",
                   "POST a 1 MiB definitions file")
        rc, out = sh('curl -s -u guest:guest "$BASE/api/aliveness-test/$VHOST"')
        expect((rc, out), (0, '{"status":"ok"}'), "aliveness-test")
        rc, out = sh('curl -s -u guest:guest -X DELETE -w "%{http_code}" "$BASE/api/vhosts/$VHOST"')
        expect((rc, out), (0, "204"), "DELETE vhost")
    finally:
        sh('curl -s -o /dev/null -u guest:guest -X DELETE "$BASE/api/vhosts/$VHOST"')
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
