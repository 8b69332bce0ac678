#!/usr/bin/env bash
# run.sh TOOL MODE [ARGS...] -- aa-runner-check as a user runs it.
#
#   pass FLOOR [--import PYTHON MODULE] ARGS...
#                        `TOOL ARGS...` exits 0, its last line is "N passed,
#                        0 failed" with N the number of cases `TOOL --list
#                        ARGS...` names (every case that applies ran and
#                        held) and at least FLOOR.  When the runner's library
#                        does not import, the tool must skip every case
#                        visibly ("SKIP ...: requires LIB (import LIB
#                        failed)", "0 passed, 0 failed, N skipped", exit 0),
#                        and the test is then skipped (exit 77).  With
#                        --import, the test is skipped when PYTHON (the
#                        CPython the library embeds) cannot import MODULE,
#                        which the runner needs (uvloop).
#   broken ARGS...       a runner that answers wrongly: exit 1, one FAIL
#                        line per failed case saying what differed, a last
#                        line "N passed, N failed" with N failed > 0 and
#                        the counts adding up to --list's.
#   usage TEXT ARGS...   exit 2 and TEXT in what it wrote to stderr, nothing
#                        on stdout.
#   rule FAMILY_ARGS... -- [+TITLE|-TITLE]...
#                        --list names each +TITLE and no -TITLE.
set -uo pipefail

tool=$1 mode=$2
shift 2
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# The counts of a last line "N passed, N failed[, N skipped]"; 1 when the
# line is not of that form.
counts() {
    local re='^([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$'
    [[ $1 =~ $re ]] || return 1
    passed=${BASH_REMATCH[1]} failed=${BASH_REMATCH[2]}
    skipped=${BASH_REMATCH[4]:-0}
}

# The number of cases that apply: the lines of --list.
applicable() {
    local list
    list=$("$tool" --list "$@") || {
        fail "$tool --list $*: exit $?"
        echo 0
        return
    }
    grep -c . <<<"$list"
}

run() {
    out=$("$tool" "$@" 2>"$errfile")
    rc=$?
    err=$(<"$errfile")
    last=$(tail -n 1 <<<"$out")
}

errfile=$(mktemp)
trap 'rm -f "$errfile"' EXIT

case $mode in
pass)
    floor=$1
    shift
    if [[ ${1:-} == --import ]]; then
        if ! "$2" -c "import $3" 2>/dev/null; then
            echo "$2 cannot import $3, which the runner needs: skipped"
            exit 77
        fi
        shift 3
    fi
    n=$(applicable "$@")
    run "$@"
    if ! counts "$last"; then
        fail "aa-runner-check $*: last line '$last', not 'N passed, N failed'" \
            "(exit $rc)"$'\n'"$out"$'\n'"$err"
    elif ((passed == 0 && failed == 0 && skipped == n && rc == 0)); then
        # Every case skipped: each must say it is for want of the library.
        whys=$(grep '^SKIP ' <<<"$out" | grep -c ': requires [a-z_]* (import [a-z_]* failed) \[')
        if ((whys != n)); then
            fail "aa-runner-check $*: $n cases skipped, $whys of them saying" \
                "which import failed"$'\n'"$out"
        else
            echo "$(head -n 1 <<<"$out")"
            echo "aa-runner-check $*: $last (the runner's library does not" \
                "import): skipped"
            exit 77
        fi
    elif ((rc != 0 || failed != 0)); then
        fail "aa-runner-check $*: exit $rc, $last"$'\n'"$out"$'\n'"$err"
    elif ((passed != n)); then
        fail "aa-runner-check $*: $passed passed of the $n cases --list names" \
            $'\n'"$out"
    elif ((passed < floor)); then
        fail "aa-runner-check $*: $passed passed, fewer than $floor"
    else
        echo "ok: aa-runner-check $*: $last ($n cases apply)"
    fi
    ;;
broken)
    n=$(applicable "$@")
    run "$@"
    if ! counts "$last"; then
        fail "aa-runner-check $*: last line '$last' (exit $rc)"$'\n'"$out"$'\n'"$err"
    elif ((rc != 1 || failed == 0)); then
        fail "aa-runner-check $*: want exit 1 and failures, got exit $rc," \
            "$last"$'\n'"$out"$'\n'"$err"
    elif ((passed + failed + skipped != n)); then
        fail "aa-runner-check $*: $last, but --list names $n cases"
    elif (($(grep -c '^FAIL ' <<<"$out") != failed)); then
        fail "aa-runner-check $*: $last, but not one FAIL line each"$'\n'"$out"
    elif ! grep -A2 '^FAIL top-level await of a coroutine displays its value ' \
        <<<"$out" | grep -q "got: \"'wrong result'\""; then
        fail "aa-runner-check $*: no FAIL line for the awaited 42 saying" \
            "what it got"$'\n'"$out"
    else
        echo "ok: aa-runner-check $*: exit 1, $last"
    fi
    ;;
usage)
    want=$1
    shift
    run "$@"
    if ((rc != 2)); then
        fail "aa-runner-check $*: exit $rc, not 2"$'\n'"$out"$'\n'"$err"
    elif [[ $err != *"$want"* ]]; then
        fail "aa-runner-check $*: stderr does not say '$want':"$'\n'"$err"
    elif [[ -n $out ]]; then
        fail "aa-runner-check $*: wrote to stdout:"$'\n'"$out"
    else
        echo "ok: aa-runner-check $*: exit 2: $(head -n 1 <<<"$err")"
    fi
    ;;
rule)
    args=()
    while (($#)) && [[ $1 != -- ]]; do
        args+=("$1")
        shift
    done
    shift
    list=$("$tool" --list "${args[@]}") || fail "--list ${args[*]}: exit $?"
    for want in "$@"; do
        title=${want:1} listed=0
        while IFS= read -r line; do
            [[ $line == "$title ["* ]] && listed=1
        done <<<"$list"
        if [[ $want == +* ]] && ((!listed)); then
            fail "${args[*]}: '$title' should apply"
        elif [[ $want == -* ]] && ((listed)); then
            fail "${args[*]}: '$title' should not apply"
        fi
    done
    ((failures)) || echo "ok: the cases that apply to ${args[*]}"
    ;;
*)
    echo "usage: $0 TOOL pass|broken|usage|rule ..." >&2
    exit 2
    ;;
esac
((failures == 0))
