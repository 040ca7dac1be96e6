#!/bin/sh
# Fails when an #include breaks DESIGN.md's layering: amqp/ -> nothing of ours, core/ and model/ -> no
# proto/ or net/, no two model files including each other, connection_internal.h for connection.c only.
set -u
if [ -z "${srcdir:-}" ]; then
    srcdir=$(cd "$(dirname "$0")/.." && pwd)
fi
cd "$srcdir" || exit 1
status=0
fail() {
    echo "layering: $*" >&2
    status=1
}

# The quoted includes of a file, one per line.
includes() {
    sed -n 's/^#include "\([^"]*\)".*/\1/p' "$1"
}

for f in amqp/*.[ch]; do
    for inc in $(includes "$f"); do
        case "$inc" in
        amqp_*.h) ;;
        *) fail "$f includes \"$inc\" (the codec includes nothing outside amqp/)" ;;
        esac
    done
done

for f in src/core/*.[ch] src/model/*.[ch]; do
    for inc in $(includes "$f"); do
        case "$inc" in
        proto/* | net/* | admin/* | store/* | server.h)
            fail "$f includes \"$inc\" (a lower layer reaches up)" ;;
        model/*)
            case "$f" in src/core/*) fail "$f includes \"$inc\" (core knows no model)" ;; esac ;;
        esac
    done
done

# model/a.[ch] including model/b.h while model/b.[ch] includes model/a.h is a cycle.
for f in src/model/*.[ch]; do
    a=$(basename "$f"); a=${a%.*}
    for inc in $(includes "$f"); do
        case "$inc" in model/*) ;; *) continue ;; esac
        b=$(basename "$inc" .h)
        [ "$b" = "$a" ] && continue
        for g in src/model/"$b".c src/model/"$b".h; do
            [ -f "$g" ] && includes "$g" | grep -qx "model/$a.h" &&
                fail "src/model/$a and src/model/$b include each other"
        done
    done
done

for f in src/proto/*.[ch] src/net/*.[ch]; do
    for inc in $(includes "$f"); do
        case "$inc" in
        admin/* | server.h) fail "$f includes \"$inc\" (the AMQP layers know no management API)" ;;
        esac
    done
done

for f in $(grep -rl '#include "proto/connection_internal.h"' src); do
    [ "$f" = src/proto/connection.c ] || fail "$f includes connection_internal.h (use connection.h's accessors)"
done

[ $status = 0 ] && echo "layering: amqp/, core/, model/, proto/ and net/ include only what they may"
exit $status
