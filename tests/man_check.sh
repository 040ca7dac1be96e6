#!/bin/sh
# Fails when a manual page in doc/ makes groff warn, or when warren --help names an option
# that doc/warren.1 does not document.
set -u
if [ -z "${srcdir:-}" ]; then
    srcdir=$(cd "$(dirname "$0")/.." && pwd)
fi
if ! command -v groff >/dev/null 2>&1; then
    echo "man_check: groff not found, skipping (Debian: apt-get install groff)" >&2
    exit 77
fi
status=0
for page in "$srcdir"/doc/*.[1-8]; do
    warnings=$(groff -man -ww -z "$page" 2>&1)
    if [ -n "$warnings" ]; then
        echo "man_check: groff warns about $page:" >&2
        echo "$warnings" >&2
        status=1
    fi
done

warren=${WARREN:-${BUILDDIR:-.}/src/warren}
if [ ! -x "$warren" ]; then
    echo "man_check: no broker binary at $warren (set WARREN)" >&2
    exit 1
fi
# Compared with the page as rendered (its source writes \-\- for --), plain ASCII.
page=$(groff -man -Tascii -P-cbou -rHY=0 -rLL=200n "$srcdir/doc/warren.1" 2>/dev/null)
for option in $("$warren" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
    if ! printf '%s\n' "$page" | grep -q -- "$option\>"; then
        echo "man_check: doc/warren.1 does not document $option (warren --help lists it)" >&2
        status=1
    fi
done
[ $status = 0 ] && echo "man_check: the manual pages are clean and warren.1 documents every option"
exit $status
