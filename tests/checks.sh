# checks.sh -- sourced by the test scripts that count their checks: ok
# prints a passed check, fail a failed one and counts it in $failures,
# which the script looks at when it ends.
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

ok() {
    echo "ok: $*"
}
