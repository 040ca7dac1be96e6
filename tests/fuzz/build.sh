#!/bin/sh
# Builds every libFuzzer harness (tests/fuzz/fuzz_*.c) with clang into $1 (default tests/fuzz/out).
# The codec (every amqp/*.c) and the broker without its sockets (every src/core, src/model and
# src/proto *.c) go into two archives, so renamed or added files need no change here.
# Extra flags via $FUZZ_CFLAGS, another compiler via $CC_FUZZ.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-"$root/tests/fuzz/out"}
cc=${CC_FUZZ:-clang}
command -v "$cc" >/dev/null 2>&1 || { echo "build.sh: $cc not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
pkg-config --exists libuv libcrypto || { echo "build.sh: pkg-config finds no libuv or libcrypto (libuv1-dev, libssl-dev)" >&2; exit 1; }
mkdir -p "$out/obj"
version=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$root/configure.ac")
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
version="-DPACKAGE_VERSION=\"${version:-fuzz}\""
flags="-std=c11 -g -O1 -D_GNU_SOURCE -Wall -Wextra -Werror -fno-omit-frame-pointer $sanitize ${FUZZ_CFLAGS:-}"
includes="-I$root/amqp -I$root/src $(pkg-config --cflags libuv libcrypto libpcre2-8)"
libs=$(pkg-config --libs libuv libcrypto libpcre2-8)

# archive NAME FILE...: compiles each file (instrumented for coverage, not linked with
# libFuzzer's main) and archives the objects, named after their paths so none collide.
archive() {
    lib=$out/obj/$1.a
    shift
    rm -f "$lib"
    for src in "$@"; do
        obj=$out/obj/$(echo "${src#"$root"/}" | tr / _ | sed 's/\.c$/.o/')
        # shellcheck disable=SC2086 # flag lists are meant to split
        $cc $flags "$version" -fsanitize=fuzzer-no-link $includes -c "$src" -o "$obj"
        ar rc "$lib" "$obj"
    done
}
archive libamqp "$root"/amqp/*.c
archive libwarren "$root"/src/core/*.c "$root"/src/model/*.c "$root"/src/proto/*.c

built=
for harness in "$root"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$harness" .c)
    # shellcheck disable=SC2086
    $cc $flags -fsanitize=fuzzer $includes "$harness" "$out/obj/libwarren.a" "$out/obj/libamqp.a" \
        $libs -o "$out/$name"
    built="$built $name"
done
echo "Built in $out:$built"
echo "Run them with tests/fuzz/run.sh, or one by hand: $out/fuzz_connection -max_total_time=60 DIR"
