#!/usr/bin/env bash
# memcheck.sh BUILD_DIR [SUITE...] -- runs the unit suites under valgrind's
# memcheck and fails on any error or any definitely lost block.
#
# CPython's objects go through malloc (PYTHONMALLOC=malloc) so that
# valgrind tracks them; tests/valgrind.supp silences only what valgrind
# reports inside libpython itself, each entry explained there.  Check's
# timeouts are stretched, since everything runs some 20 times slower.
# --fair-sched=yes: valgrind runs one thread at a time, and its default
# lock lets a thread spinning in Python starve the one that interrupts it.
#
# One suite is checked for memory errors but not for leaks: uvloop, whose
# C extension (python3-uvloop 0.17) leaks some 40 blocks when it is
# imported (`valgrind python3 -c 'import uvloop'` shows them), most of
# them code objects of the modules it imports, whose stacks hold no frame
# of uvloop's that a suppression could name.  Its leaks are the sanitize
# pass's: there check_uvloop imports uvloop with LeakSanitizer off, and
# checks everything after.
set -uo pipefail

build=$(cd "${1:?usage: memcheck.sh BUILD_DIR [SUITE...]}" && pwd)
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
supp=$here/../valgrind.supp
suites=("$@")
if ((${#suites[@]} == 0)); then
    for exe in "$build"/tests/unit/check_*; do
        [[ -x $exe ]] && suites+=("$(basename "$exe" | sed 's/^check_//')")
    done
fi

export PYTHONMALLOC=malloc CK_TIMEOUT_MULTIPLIER=20 AA_TEST_TIME_SCALE=10
export AA_RUNNER_PATH=$build/tests/fixtures/runners
failed=()
for suite in "${suites[@]}"; do
    log=$(mktemp)
    start=$SECONDS
    leaks=(--leak-check=full --show-leak-kinds=definite
        --errors-for-leak-kinds=definite)
    what="no memcheck error"
    if [[ $suite == uvloop ]]; then
        leaks=(--leak-check=no)
        what="no memory error (leaks: the sanitize pass)"
    fi
    valgrind --quiet --fair-sched=yes --suppressions="$supp" \
        --error-exitcode=99 "${leaks[@]}" \
        "$build/tests/unit/check_$suite" >"$log" 2>&1
    status=$?
    checks=$(grep -Eo '[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$log" | tail -n 1)
    if ((status != 0)); then
        failed+=("$suite")
        echo "FAIL $suite (exit $status, $((SECONDS - start)) s): $checks"
        grep -E '^==[0-9]+== |:[FE]:' "$log" | head -n 60
    else
        echo "ok   $suite ($((SECONDS - start)) s): $checks, $what"
    fi
    rm -f "$log"
done
if ((${#failed[@]})); then
    echo "memcheck: ${#failed[@]} suite(s) failed: ${failed[*]}"
    exit 1
fi
echo "memcheck: ${#suites[@]} suite(s) clean"
