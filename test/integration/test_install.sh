#!/usr/bin/env bash
# test_install.sh BUILDDIR SOURCEDIR - installs uvfib into a scratch root,
# compiles the embedding example of docs/api.md against it with pkg-config,
# as an embedder would, runs it and talks to it with curl. Prints TAP.
set -u
build=$1
src=$2
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

n=0
failed=0
check() { # check NAME COMMAND...
    local name=$1
    shift
    n=$((n + 1))
    if "$@"; then echo "ok $n - $name"; else echo "not ok $n - $name"; failed=1; fi
}
echo "1..6"

check "meson install into a scratch root" \
    meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet
pc=$(find "$tmp/root" -name uvfib.pc | head -n 1)
lib=$(find "$tmp/root" -name 'libuvfib.so' | head -n 1)
export PKG_CONFIG_PATH="$(dirname "${pc:-/nonexistent/x}")"
export PKG_CONFIG_SYSROOT_DIR="$tmp/root"

# The example is the fenced block after the "example: embed.c" marker.
awk '/<!-- example: embed.c/ {on=1; next} on && /^```c/ {inblk=1; next}
     inblk && /^```/ {exit} inblk {print}' "$src/docs/api.md" >"$tmp/embed.c"
check "embedding example compiles with pkg-config --cflags --libs uvfib" \
    sh -c "cc -Wall -Wextra -Werror -Wno-unused-parameter '$tmp/embed.c' \
        \$(pkg-config --cflags --libs uvfib libcjson) -o '$tmp/embed' 2>&2"

LD_LIBRARY_PATH="$(dirname "${lib:-/x/x}")" "$tmp/embed" 0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
port=
for _ in $(seq 1 100); do
    port=$(sed -n 's/^embed listening on port \([0-9]*\)$/\1/p' "$tmp/out")
    [ -n "$port" ] && break
    sleep 0.05
done
check "inline route answers" \
    sh -c "[ \"\$(curl -s -m 10 http://127.0.0.1:$port/hello/world)\" = '{\"hello\":\"world\"}' ]"
check "offloaded route answers" \
    sh -c "[ \"\$(curl -s -m 10 http://127.0.0.1:$port/sum/100)\" = '{\"sum\":5050}' ]"
kill -TERM "$pid" 2>/dev/null
status=1
for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; status=$?; pid=; break; fi
    sleep 0.05
done
check "SIGTERM shuts the example down with status 0 (loop closed)" [ "$status" = 0 ]
# libuv's own header needs POSIX declarations under strict C17.
header_alone() {
    echo '#include <uvfib.h>' | cc -std=c17 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror \
        -pedantic -x c -c - -o /dev/null $(pkg-config --cflags uvfib)
}
check "the installed header compiles on its own with warnings as errors" header_alone
exit $failed
