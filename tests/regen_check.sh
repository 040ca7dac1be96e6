#!/bin/sh
# Fails with a diff when the committed amqp/amqp_spec.[ch] differ from what the generator writes.
set -u

# The source tree: $srcdir (set by `make check`), else the directory above this script.
if [ -z "${srcdir:-}" ]; then
    srcdir=$(cd "$(dirname "$0")/.." && pwd)
fi
python=/usr/bin/python3
if [ ! -x "$python" ]; then
    echo "regen_check: $python not found, skipping" >&2
    exit 77
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

"$python" "$srcdir/tools/amqp_codegen.py" "$tmp" \
    "$srcdir/spec/amqp0-9-1.xml" "$srcdir/spec/warren-extensions.xml" || exit 1

status=0
for f in amqp_spec.h amqp_spec.c; do
    if ! diff -u "$srcdir/amqp/$f" "$tmp/$f"; then
        echo "regen_check: amqp/$f is stale; run 'make regen' (or tools/amqp_codegen.py)" >&2
        status=1
    fi
done
exit $status
