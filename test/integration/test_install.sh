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
echo "1..10"

check "meson install into a scratch root" \
    meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet
pc=$(find "$tmp/root" -name uvfib.pc | head -n 1)
lib=$(find "$tmp/root" -name 'libuvfib.so' | head -n 1)
export PKG_CONFIG_PATH="$(dirname "${pc:-/nonexistent/x}")"
export PKG_CONFIG_SYSROOT_DIR="$tmp/root"

# extract NAME: the fenced C block after the "example: NAME" marker of docs/api.md, to $tmp/NAME.
extract() {
    awk -v name="$1" '$0 ~ "<!-- example: " name {on=1; next} on && /^```c/ {inblk=1; next}
         inblk && /^```/ {exit} inblk {print}' "$src/docs/api.md" >"$tmp/$1"
}
# compile NAME: cc with warnings as errors, as an embedder would, against the installed library.
compile() {
    cc -Wall -Wextra -Werror -Wno-unused-parameter "$tmp/$1.c" \
        $(pkg-config --cflags --libs uvfib libcjson) -o "$tmp/$1"
}
# start NAME: runs $tmp/NAME on a free port and sets pid and port from its listening line.
start() {
    LD_LIBRARY_PATH="$(dirname "${lib:-/x/x}")" "$tmp/$1" 0 >"$tmp/$1.out" 2>"$tmp/$1.err" &
    pid=$!
    port=
    for _ in $(seq 1 100); do
        port=$(sed -n "s/^$1 listening on port \([0-9]*\)$/\1/p" "$tmp/$1.out")
        [ -n "$port" ] && break
        sleep 0.05
    done
}
# stop: SIGTERM, then the exit status (1 if it does not exit within 5 s).
stop() {
    kill -TERM "$pid" 2>/dev/null
    status=1
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; status=$?; pid=; break; fi
        sleep 0.05
    done
}

extract embed.c
check "embedding example compiles with pkg-config --cflags --libs uvfib" compile embed
start embed
check "inline route answers" \
    sh -c "[ \"\$(curl -s -m 10 http://127.0.0.1:$port/hello/world)\" = '{\"hello\":\"world\"}' ]"
check "offloaded route answers" \
    sh -c "[ \"\$(curl -s -m 10 http://127.0.0.1:$port/sum/100)\" = '{\"sum\":5050}' ]"
stop
check "SIGTERM shuts the example down with status 0 (loop closed)" [ "$status" = 0 ]

# The second example: an offloaded POST reading its body, a header and the query.
extract hash.c
check "POST example compiles with pkg-config --cflags --libs uvfib" compile hash
start hash
want='{"algo":"fnv1a64","bytes":11,"hash":"779a65e7023cd2e7","type":"text/plain"}'
check "POST example hashes its body in the pool" \
    sh -c "[ \"\$(curl -s -m 10 -H 'Content-Type: text/plain' --data-binary 'hello world' \
        'http://127.0.0.1:$port/hash?algo=fnv1a64')\" = '$want' ]"
check "POST example refuses an unknown algo with 400" \
    sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -m 10 --data-binary x \
        'http://127.0.0.1:$port/hash?algo=md5')\" = 400 ]"
stop
check "SIGTERM shuts the POST example down with status 0" [ "$status" = 0 ]
# libuv's own header needs POSIX declarations under strict C17.
header_alone() {
    echo '#include <uvfib.h>' | cc -std=c17 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror \
        -pedantic -x c -c - -o /dev/null $(pkg-config --cflags uvfib)
}
check "the installed header compiles on its own with warnings as errors" header_alone
exit $failed
