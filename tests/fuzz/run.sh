#!/bin/sh
# Builds every fuzz harness and runs each for $FUZZ_SECONDS (default 30) from a copy of its seed
# corpus (tests/fuzz/corpus_NAME) and with its dictionary (tests/fuzz/fuzz_NAME.dict), where
# they exist. Usage: run.sh [BUILD_DIR]. Fails on any crash or leak, and when clang or libFuzzer
# is missing. Crashing inputs are kept in BUILD_DIR/crashes. With $FUZZ_CORPUS_DIR set, each
# corpus is FUZZ_CORPUS_DIR/corpus_NAME and is kept and grown from run to run (tools/fuzz-long).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${FUZZ_SECONDS:-30}
corpus_dir=${FUZZ_CORPUS_DIR:-}
cc=${CC_FUZZ:-clang}
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "run.sh: $cc is missing; the fuzzers need clang and libFuzzer (Debian: apt-get install clang libclang-rt-14-dev)" >&2
    exit 1
fi
probe=$(mktemp -d)
tmp_out=
failed=
# A temporary build goes at exit, unless it holds a crash to look at.
trap 'rm -rf "$probe"; if [ -n "$tmp_out" ] && [ -z "$failed" ]; then rm -rf "$tmp_out"; fi' EXIT
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n); int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' >"$probe/probe.c"
if ! "$cc" -fsanitize=fuzzer,address "$probe/probe.c" -o "$probe/probe" 2>"$probe/err"; then
    cat "$probe/err" >&2
    echo "run.sh: $cc cannot link with -fsanitize=fuzzer; libFuzzer is missing (Debian: apt-get install libclang-rt-14-dev)" >&2
    exit 1
fi

if [ $# -gt 0 ]; then
    out=$1
else
    out=$(mktemp -d -t warren-fuzz.XXXXXX)
    tmp_out=$out
fi
sh "$root/tests/fuzz/build.sh" "$out"
mkdir -p "$out/crashes"
for harness in "$root"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$harness" .c)
    if [ -n "$corpus_dir" ]; then
        corpus=$corpus_dir/corpus_${name#fuzz_}
    else
        corpus=$out/corpus_${name#fuzz_}
        rm -rf "$corpus"
    fi
    mkdir -p "$corpus"
    seeds=$root/tests/fuzz/corpus_${name#fuzz_}
    if [ -d "$seeds" ]; then
        cp "$seeds"/* "$corpus"/
    fi
    set --
    if [ -f "$root/tests/fuzz/$name.dict" ]; then
        set -- -dict="$root/tests/fuzz/$name.dict"
    fi
    echo "== $name: $seconds s from $(find "$corpus" -type f | wc -l) seed(s)"
    if "$out/$name" "$@" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$out/crashes/$name-" "$corpus" >"$out/$name.log" 2>&1; then
        grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$out/$name.log" || true
    else
        failed="$failed $name"
        tail -n 60 "$out/$name.log" >&2
        echo "run.sh: $name failed; log $out/$name.log, input in $out/crashes/" >&2
    fi
done
if [ -n "$failed" ]; then
    echo "run.sh: failing harnesses:$failed" >&2
    exit 1
fi
echo "run.sh: every harness ran $seconds s without a crash"
