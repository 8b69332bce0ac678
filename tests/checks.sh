# checks.sh -- sourced by the test scripts that count their checks: ok
# prints a passed check, fail a failed one and counts it in $failures,
# which the script looks at when it ends.  aa_api_declared lists what the
# public headers declare AA_API, aa_library_declared what of it is
# libautoawait's (the install test and the ABI reference's check compare
# their sets with it).
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

ok() {
    echo "ok: $*"
}

# aa_api_declared HEADER...: the functions the headers declare with AA_API,
# one a line, sorted.
aa_api_declared() {
    sed -n 's/^AA_API[^(]*[^A-Za-z0-9_]\(aa_[A-Za-z0-9_]*\)(.*/\1/p' "$@" |
        sort -u
}

# aa_library_declared DIR: what libautoawait itself exports, the AA_API
# functions of the headers in DIR (include/autoawait) but kernel.h, which
# is libautoawait-kernel's.
aa_library_declared() {
    local h headers=()
    for h in "$1"/*.h; do
        [[ ${h##*/} == kernel.h ]] || headers+=("$h")
    done
    aa_api_declared "${headers[@]}"
}
