#!/usr/bin/env bash
# run.sh EMBED-HOST -- the test of examples/embed-host.
#
# Runs embed-host with a few cells and talks to it while they run:
#   1. while a cell awaits host_sleep, the host answers on its TCP socket
#      (loopback) and its timer ticks: the answers arrive before the cell's
#      result, and the cell's result is the ticks its await let run;
#   2. SIGINT during an await stops that cell (its finally runs, it reports
#      KeyboardInterrupt) and the host goes on with the next cells;
#   3. a UNIX socket, input read from stdin, and an await the runner does
#      not know, which fails in the cell with a TypeError saying why.
# Every wait is bounded, and no process outlives the test.
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
    until grep -Eq -- "$1" "$tmp/out"; do
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

# ------------------------------------------- 1 and 2: the loop, SIGINT
"$host" -l 0 \
    -c $'print("awaiting")\nticks = await host_sleep(2.0)\nticks' \
    -c 'print("second cell")' \
    -c $'try:\n    print("awaiting again")\n    await host_sleep(60)\nfinally:\n    print("cleanup ran")' \
    -c 'print("after the interrupt")' \
    -c 'await host_sleep(0.1); "the runner still works"' \
    </dev/null >"$tmp/out" 2>&1 &
pid=$!

wait_for '^\[host\] listening on 127\.0\.0\.1:[0-9]+$' 20
port=$(sed -n 's/^\[host\] listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/out")
wait_for '^awaiting$' 20

# The cell awaits for 2 s: talk to the host meanwhile.
exec 3<>"/dev/tcp/127.0.0.1/$port" || die "cannot connect to 127.0.0.1:$port"
answers=()
for i in 1 2 3; do
    printf 'ping %s\n' "$i" >&3
    if IFS= read -r -t 5 -u 3 line; then
        answers+=("$line")
    else
        answers+=("(none)")
    fi
done
exec 3>&-
if [[ ${answers[*]} == "pong 1 pong 2 pong 3" ]]; then
    ok "the host answered while the cell awaited: ${answers[*]}"
else
    fail "answers: ${answers[*]}"
fi

wait_for '^second cell$' 20
# Everything the host prints goes out in order, from one thread: the
# answers come between the cell's start and its result.
awaiting=$(line_of '^awaiting$')
pong=$(line_of '^\[host\] pong 3$')
result=$(line_of '^Out\[1\]: [0-9]+$')
if [[ -n $pong && -n $result && $awaiting -lt $pong && $pong -lt $result ]]; then
    ok "the answers came before the awaiting cell's result"
else
    fail "order of awaiting/pong/result: '$awaiting' '$pong' '$result'"
fi
ticks=$(sed -n 's/^Out\[1\]: \([0-9]*\)$/\1/p' "$tmp/out")
# 20 ticks in 2 s at 100 ms; a busy machine may skip a few, none are made up.
if [[ -n $ticks ]] && ((ticks >= 5)); then
    ok "the host's timer ticked $ticks times during the await"
else
    fail "the timer ticked '$ticks' times during a 2 s await"
fi
grep -Eq '^\[host\] cell 1: [0-9.]+ s, [0-9]+ ticks and 3 answers meanwhile$' \
    "$tmp/out" || fail "the host's own count of cell 1 is not 3 answers"

wait_for '^awaiting again$' 20
sleep 0.2
kill -INT "$pid"
wait_for '^after the interrupt$' 20
ok "SIGINT stopped the awaiting cell (host_sleep(60))"
grep -q '^cleanup ran$' "$tmp/out" || fail "the cell's finally did not run"
grep -q '^KeyboardInterrupt' "$tmp/out" ||
    fail "the interrupted cell did not report KeyboardInterrupt"
grep -q 'await host_sleep(60)' "$tmp/out" ||
    fail "the traceback does not show the user's line"
wait_exit 20
grep -q "^Out\[5\]: 'the runner still works'$" "$tmp/out" ||
    fail "no await after the interrupt"
# One cell failed (the interrupted one): exit status 1, as aa-shell's.
[[ $status == 1 ]] || fail "exit status $status, not 1"
if ((failures)); then
    echo "--- embed-host said:" >&2
    cat "$tmp/out" >&2
fi

# ------------------------------------ 3: UNIX socket, stdin, a bad await
sock=$tmp/host.sock
mkfifo "$tmp/in"
"$host" -l "$sock" <"$tmp/in" >"$tmp/out" 2>&1 &
pid=$!
exec 4>"$tmp/in"
wait_for "^\\[host\\] listening on $sock\$" 20
[[ -S $sock ]] || fail "no UNIX socket at $sock"
printf '%s\n' 'x = 20' 'print("sleeping"); await host_sleep(1.5); x + 1' >&4
wait_for '^sleeping$' 20
# bash has no UNIX sockets; the interpreter the library embeds has.
py=/usr/bin/python3
if [[ -x $py ]]; then
    reply=$("$py" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"ping\n")
print(s.makefile().readline().strip())
' "$sock") || reply="(none)"
    [[ $reply == "pong 1" ]] || fail "UNIX socket answer: '$reply'"
    ok "the host answered on its UNIX socket during the await"
fi
wait_for '^Out\[2\]: 21$' 20
ok "cells read from standard input share one namespace"
# An awaitable that yields what no runner of this host knows.
printf '%s\n' \
    'Odd = type("Odd", (), {"__await__": lambda self: iter(["odd"])})' \
    'await Odd()' >&4
wait_for '^TypeError: the host runner can only await host_sleep' 20
ok "an unknown await fails in the cell with a TypeError"
exec 4>&-
wait_exit 20
[[ $status == 1 ]] || fail "exit status $status after failed cells, not 1"
[[ ! -e $sock ]] || fail "the UNIX socket file is left behind"

if ((failures)); then
    echo "--- embed-host said:" >&2
    cat "$tmp/out" >&2
    echo "$failures embed check(s) failed" >&2
    exit 1
fi
echo "embed test passed"
