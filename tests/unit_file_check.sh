#!/bin/sh
# Fails when systemd-analyze finds fault with dist/warren.service.in, filled in with this build's
# broker (skipped where systemd-analyze is missing).
set -u
if [ -z "${srcdir:-}" ]; then
    srcdir=$(cd "$(dirname "$0")/.." && pwd)
fi
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "unit_file_check: systemd-analyze not found, skipping (Debian: apt-get install systemd)" >&2
    exit 77
fi
warren=${WARREN:-${BUILDDIR:-.}/src/warren}
if [ ! -x "$warren" ]; then
    echo "unit_file_check: no broker binary at $warren (set WARREN)" >&2
    exit 1
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# The unit's name must be warren.service; ExecStart must name an executable that exists.
sed -e "s|@bindir@|$(dirname "$warren")|g" -e "s|@sysconfdir@|/etc|g" \
    "$srcdir/dist/warren.service.in" > "$tmp/warren.service" || exit 1
if grep -q '@[a-z]*@' "$tmp/warren.service"; then
    echo "unit_file_check: unsubstituted names left:" >&2
    grep '@[a-z]*@' "$tmp/warren.service" >&2
    exit 1
fi
# --man=no: the page is not installed yet; tests/man_check.sh checks it.
out=$(systemd-analyze verify --man=no "$tmp/warren.service" 2>&1)
rc=$?
if [ $rc != 0 ] || [ -n "$out" ]; then
    echo "unit_file_check: systemd-analyze verify says (status $rc):" >&2
    echo "$out" >&2
    exit 1
fi
echo "unit_file_check: systemd-analyze verify accepts warren.service"
