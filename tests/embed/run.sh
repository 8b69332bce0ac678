#!/usr/bin/env bash
# run.sh EMBED-HOST -- the test of examples/embed-host.
#
# embed-host turns its own poll(2) loop and has the session as its guest.
# The test runs it with a few cells and talks to it while they run:
#   1. under the default runner, asyncio: while a cell awaits
#      asyncio.sleep, the host answers on its TCP socket (loopback) within
#      a second and its timer ticks, the answers arriving before the cell's
#      result; SIGINT during an await cancels that cell (its finally runs,
#      it reports KeyboardInterrupt) and the host goes on with the next
#      cells;
#   2. cells read from stdin, with a UNIX socket: they share a namespace;
#      an asyncio task a cell left behind runs while the host waits for
#      input; SIGINT with no cell running leaves the host alone; the idle
#      host does not spin;
#   3. the host's functions (aa_define, module host): host.log(text) is
#      a sync call whose line the host prints; host.counts() a dict;
#      `await host.sleep(2)`, resolved by a timer of the host's own loop,
#      keeps the host serving and answers the ticks; SIGINT during
#      `await host.sleep(60)` runs the cell's finally and the host cancels
#      its timer; a bad argument is a ValueError; under trio,
#      trio.move_on_after stops a host.sleep the same way; then a runner
#      that cannot be a guest, whose cell the host runs with aa_execn.
# Every wait is bounded, and no process outlives the test.  The times the
# pings took are printed ("figure: ...").
set -euo pipefail

host=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aa-embed.XXXXXX")
pid=
. "$(dirname "${BASH_SOURCE[0]}")/../checks.sh"

cleanup() {
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# Shows what the host said, once, when a check of the part failed.
show_output() {
    if ((failures)); then
        echo "--- embed-host said:" >&2
        cat "$tmp/out" >&2 || true
    fi
}

# Stops the test, showing what the host said.
die() {
    echo "FAIL: $*" >&2
    echo "--- embed-host said:" >&2
    cat "$tmp/out" >&2 || true
    exit 1
}

# wait_for REGEX SECONDS: until a line of the host's output matches.
wait_for() {
    local deadline=$((SECONDS + $2))
    until grep -Eqs -- "$1" "$tmp/out"; do
        ((SECONDS < deadline)) || die "no line matching '$1' within $2 s"
        kill -0 "$pid" 2>/dev/null || die "embed-host ended before '$1'"
        sleep 0.05
    done
}

# wait_exit SECONDS: sets status to the host's exit status, once it ended.
wait_exit() {
    local deadline=$((SECONDS + $1))
    while kill -0 "$pid" 2>/dev/null; do
        ((SECONDS < deadline)) || die "embed-host still runs after $1 s"
        sleep 0.05
    done
    status=0
    wait "$pid" || status=$?
    pid=
}

# line_of REGEX: the number of the first line of the output matching it.
line_of() {
    grep -nE -- "$1" "$tmp/out" | head -n 1 | cut -d: -f1
}

# start_tcp CELL...: starts the host on a free TCP port of the loopback,
# running these cells; sets pid and port.
start_tcp() {
    local cell args=()
    for cell; do
        args+=(-c "$cell")
    done
    "$host" -l 0 "${args[@]}" </dev/null >"$tmp/out" 2>&1 &
    pid=$!
    wait_for '^\[host\] listening on 127\.0\.0\.1:[0-9]+$' 20
    port=$(sed -n 's/^\[host\] listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' \
        "$tmp/out")
}

# usec: the time now, in microseconds.
usec() {
    local t=$EPOCHREALTIME
    echo $((10#${t%.*} * 1000000 + 10#${t#*.}))
}

# pings_answered WHILE: sends three lines on one connection to the port,
# each to be answered within a second.
pings_answered() {
    local i line answers=() start took max=0
    exec 3<>"/dev/tcp/127.0.0.1/$port" || die "cannot connect to 127.0.0.1:$port"
    for i in 1 2 3; do
        start=$(usec)
        printf 'ping %s\n' "$i" >&3
        if IFS= read -r -t 1 -u 3 line; then
            answers+=("$line")
        else
            answers+=("(none)")
        fi
        took=$(($(usec) - start))
        ((took > max)) && max=$took
    done
    exec 3>&-
    printf 'figure: the slowest of 3 pings while %s: %d.%03d ms\n' "$1" \
        $((max / 1000)) $((max % 1000))
    if [[ ${answers[*]} == "pong 1 pong 2 pong 3" ]]; then
        ok "the host answered at once while $1"
    else
        fail "answers while $1 (each waited for 1 s): ${answers[*]}"
    fi
}

# cpu_ticks: the user and system CPU time the host has used, in clock ticks.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$pid/stat"
}

# ------------------------------------ 1: asyncio cells, the loop, SIGINT
start_tcp \
    $'import asyncio\nprint("awaiting")\nawait asyncio.sleep(3)\n"slept"' \
    'print("second cell")' \
    $'try:\n    print("awaiting again")\n    await asyncio.sleep(60)\nfinally:\n    print("cleanup ran")' \
    'print("after the interrupt")' \
    'await asyncio.sleep(0.1); "the loop still works"'
wait_for '^awaiting$' 20
# The cell awaits for 3 s: talk to the host meanwhile.
pings_answered "an asyncio cell awaited"

wait_for '^second cell$' 20
if grep -q 'no running event loop' "$tmp/out"; then
    fail "asyncio.sleep found no running event loop"
elif grep -q "^Out\[1\]: 'slept'$" "$tmp/out"; then
    ok "await asyncio.sleep(3) ran in the host's loop"
else
    fail "the asyncio cell did not show 'slept'"
fi
# Everything the host prints goes out in order, from one thread: the
# answers come between the cell's start and its result.
awaiting=$(line_of '^awaiting$')
pong=$(line_of '^\[host\] pong 3$')
result=$(line_of '^Out\[1\]: ')
if [[ -n $pong && -n $result && $awaiting -lt $pong && $pong -lt $result ]]; then
    ok "the answers came before the awaiting cell's result"
else
    fail "order of awaiting/pong/result: '$awaiting' '$pong' '$result'"
fi
ticks=$(sed -n 's/^\[host\] cell 1: [0-9.]* s, \([0-9]*\) ticks and 3 answers meanwhile$/\1/p' \
    "$tmp/out")
# 30 ticks in 3 s at 100 ms; a busy machine may skip a few, none are made up.
if [[ -n $ticks ]] && ((ticks >= 10)); then
    ok "the host's timer ticked $ticks times during the await"
else
    fail "the host's count of cell 1 is not 3 answers and >= 10 ticks" \
        "(ticks: '$ticks')"
fi

wait_for '^awaiting again$' 20
sleep 0.2
kill -INT "$pid"
wait_for '^after the interrupt$' 20
ok "SIGINT cancelled the awaiting cell (asyncio.sleep(60))"
grep -q '^cleanup ran$' "$tmp/out" || fail "the cell's finally did not run"
grep -q '^KeyboardInterrupt' "$tmp/out" ||
    fail "the interrupted cell did not report KeyboardInterrupt"
grep -q 'await asyncio.sleep(60)' "$tmp/out" ||
    fail "the traceback does not show the user's line"
wait_exit 20
if grep -q "^Out\[5\]: 'the loop still works'$" "$tmp/out"; then
    ok "the host ran an asyncio cell after the interrupt"
else
    fail "no await after the interrupt"
fi
# One cell failed (the interrupted one): exit status 1, as aa-shell's.
[[ $status == 1 ]] || fail "exit status $status, not 1"
show_output

# ----------------- 2: stdin, a UNIX socket, a task left behind, idleness
failed_before=$failures
sock=$tmp/host.sock
mkfifo "$tmp/in"
"$host" -l "$sock" <"$tmp/in" >"$tmp/out" 2>&1 &
pid=$!
exec 4>"$tmp/in"
wait_for "^\\[host\\] listening on $sock\$" 20
[[ -S $sock ]] || fail "no UNIX socket at $sock"
printf '%s\n' 'x = 20' \
    'import asyncio; print("sleeping"); await asyncio.sleep(1.5); x + 1' >&4
wait_for '^sleeping$' 20
# bash has no UNIX sockets; the interpreter the library embeds has.
py=/usr/bin/python3
if [[ -x $py ]]; then
    reply=$("$py" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(1)
s.connect(sys.argv[1])
s.sendall(b"ping\n")
print(s.makefile().readline().strip())
' "$sock") || reply="(none)"
    if [[ $reply == "pong 1" ]]; then
        ok "the host answered on its UNIX socket during the await"
    else
        fail "UNIX socket answer (waited for 1 s): '$reply'"
    fi
fi
wait_for '^Out\[2\]: 21$' 20
ok "cells read from standard input share one namespace"

# A task the cell leaves on the loop runs while the host waits for input:
# nothing more is written to the host until it has.
printf '%s\n' \
    'async def later(): await asyncio.sleep(0.5); print("the task ran")' \
    'task = asyncio.ensure_future(later())' >&4
wait_for '^\[host\] cell 4: ' 20
wait_for '^the task ran$' 10
ok "a task left on the loop ran while the host waited for input"

# Ctrl-C with no cell running does nothing.
kill -INT "$pid"
sleep 0.2
printf '%s\n' 'print("still here")' >&4
wait_for '^still here$' 20
ok "SIGINT between cells leaves the host running"

# Idle, the host wakes for its ticks only: it must not spin.
sleep 0.5
hz=$(getconf CLK_TCK)
before=$(cpu_ticks)
sleep 3
used=$(($(cpu_ticks) - before))
# 3 s of wall time; a busy loop would burn all of it.
if ((used * 4 < 3 * hz)); then
    ok "idle for 3 s, the host used $used/$hz s of CPU"
else
    fail "idle for 3 s, the host used $used/$hz s of CPU: it spins"
fi
exec 4>&-
wait_exit 20
[[ $status == 0 ]] || fail "exit status $status after good cells, not 0"
[[ ! -e $sock ]] || fail "the UNIX socket file is left behind"
((failures == failed_before)) || show_output

# ------------------------------------------ 3: the host's functions
failed_before=$failures
start_tcp \
    'import host' \
    'host.log("hello from a cell")' \
    'sorted(host.counts())' \
    $'print("host sleeping")\nticks = await host.sleep(2.0)\nticks' \
    $'try:\n    print("host sleeping again")\n    await host.sleep(60)\nfinally:\n    print("host cleanup ran")' \
    'host.counts()["timers"]' \
    $'try:\n    host.sleep(-1)\nexcept ValueError as e:\n    print("refused:", e)' \
    'import asyncio; await asyncio.gather(host.sleep(0.3), host.sleep(0.1))' \
    '%autoawait trio' \
    $'import trio\nwith trio.move_on_after(0.2):\n    await host.sleep(30)\nhost.counts()["timers"]' \
    'await host.sleep(0.1); "under trio"' \
    '%autoawait asyncio' \
    'my_runner = lambda coro: asyncio.run(coro)' \
    '%autoawait my_runner' \
    'await asyncio.sleep(0.1); "no guest, still run"'
wait_for '^host sleeping$' 20
pings_answered "a cell awaited host.sleep"
wait_for '^host sleeping again$' 20
if grep -q '^\[host\] hello from a cell$' "$tmp/out"; then
    ok "host.log(text), a sync host function, printed the host's line"
else
    fail "no '[host] hello from a cell' from host.log"
fi
if grep -q "^Out\[3\]: \['answers', 'clients', 'ticks', 'timers'\]$" \
    "$tmp/out"; then
    ok "host.counts() gave a dict of the host's counters"
else
    fail "host.counts() did not give the four counters"
fi
ticks=$(sed -n 's/^Out\[4\]: \([0-9]*\)$/\1/p' "$tmp/out")
# 20 ticks in 2 s at 100 ms.
if [[ -n $ticks ]] && ((ticks >= 5)); then
    ok "await host.sleep(2.0) ended by the host's timer, after $ticks ticks"
else
    fail "await host.sleep(2.0) answered '$ticks' ticks"
fi
sleep 0.2
kill -INT "$pid"
wait_for '^\[host\] cell 5: ' 20
if grep -q '^host cleanup ran$' "$tmp/out" &&
    grep -q '^KeyboardInterrupt' "$tmp/out"; then
    ok "SIGINT stopped await host.sleep(60) and its finally ran"
else
    fail "no finally or no KeyboardInterrupt after SIGINT in host.sleep"
fi
wait_exit 30
if grep -q '^Out\[6\]: 0$' "$tmp/out"; then
    ok "the host cancelled the timer of the interrupted host.sleep"
else
    fail "a timer of the interrupted host.sleep is left"
fi
grep -q '^refused: host\.sleep(): seconds must be from 0 to 86400, not -1$' \
    "$tmp/out" || fail "host.sleep(-1) was not a ValueError"
grep -Eq '^Out\[8\]: \[[0-9]+, [0-9]+\]$' "$tmp/out" ||
    fail "asyncio.gather of two host.sleep did not give two counts"
if grep -q '^Out\[10\]: 0$' "$tmp/out" &&
    grep -q "^Out\[11\]: 'under trio'$" "$tmp/out"; then
    ok "under trio, host.sleep works and move_on_after cancels its timer"
else
    fail "host.sleep under trio"
fi
# A Python callable is a runner that cannot be a guest: aa_exec_start
# answers AA_ENOTSUP, and the host runs the cell with aa_execn instead.
if grep -q "^Out\[15\]: 'no guest, still run'$" "$tmp/out" &&
    grep -q "^\[host\] .*: the loop waits for this cell$" "$tmp/out"; then
    ok "a runner that cannot be a guest still runs the cell, blocking"
else
    fail "no result from the runner that cannot be a guest"
fi
[[ $status == 1 ]] || fail "exit status $status after failed cells, not 1"
((failures == failed_before)) || show_output

if ((failures)); then
    echo "$failures embed check(s) failed" >&2
    exit 1
fi
echo "embed test passed"
