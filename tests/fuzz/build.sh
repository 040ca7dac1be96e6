#!/bin/sh
# Builds the libFuzzer harnesses with clang into $1 (default tests/fuzz/out); extra flags via $FUZZ_CFLAGS.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-"$root/tests/fuzz/out"}
mkdir -p "$out"
cc=${CC_FUZZ:-clang}
flags="-std=c11 -g -O1 -D_GNU_SOURCE -Wall -Wextra -Werror -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
codec="$root/amqp/amqp_buf.c $root/amqp/amqp_error.c $root/amqp/amqp_table.c $root/amqp/amqp_frame.c"
for name in fuzz_frame fuzz_table; do
    # shellcheck disable=SC2086 # flag lists are meant to split
    $cc $flags ${FUZZ_CFLAGS:-} -I"$root/amqp" $codec "$root/tests/fuzz/$name.c" -o "$out/$name"
done
cat <<HELP
Built $out/fuzz_frame and $out/fuzz_table. Run, for example:
  mkdir -p $out/corpus_frame $out/corpus_table
  $out/fuzz_frame -max_total_time=60 $out/corpus_frame
  $out/fuzz_table -max_total_time=60 $out/corpus_table
HELP
