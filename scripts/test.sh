#!/usr/bin/env bash
# test.sh -- installs what is missing, then builds libautoawait with
# warnings as errors and runs every test: first the plain build in build/,
# then the AddressSanitizer/UBSan build in build-asan/, both against the
# system's CPython; then scripts/matrix.sh, the unit, conformance and
# install tests against every other CPython 3.11 or later on the machine
# (pyenv's), each in build-py<version>/.
#
#   scripts/test.sh           all three
#   scripts/test.sh --quick   the plain pass only, for local iteration
#
# Extra arguments after the options go to ctest (e.g. -R install); the
# matrix runs its own tests.
set -euo pipefail

quick=0
while (($#)); do
    case $1 in
    --quick) quick=1; shift ;;
    -h | --help)
        sed -n '2,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 0 ;;
    *) break ;;
    esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"

# pass NAME DIR CMAKE-ARGS...: configure, build and test one build tree.
pass() {
    local name=$1 dir=$2
    shift 2
    echo "== $name: configure $dir"
    cmake -S "$root" -B "$dir" -DAA_WERROR=ON "$@"
    echo "== $name: build"
    cmake --build "$dir" -j2
    echo "== $name: test"
    (cd "$dir" && ctest --output-on-failure "${ctest_args[@]}")
    # ctest shows no passing test's output: the ABI check's note that the
    # library adds to the recorded ABI (docs/abi.md) would go unseen.
    if [[ -s $dir/tests/abi/unrecorded.txt ]]; then
        cat "$dir/tests/abi/unrecorded.txt"
    fi
}

ctest_args=("$@")
pass plain "$root/build" -DCMAKE_BUILD_TYPE=Release -DAA_SANITIZE=OFF
if ((!quick)); then
    # Leaks are checked too (tests/CMakeLists.txt says why PYTHONMALLOC
    # is malloc there); these reach the programs tests start themselves.
    export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1
    export LSAN_OPTIONS=suppressions=$root/tests/lsan.supp:print_suppressions=0
    export PYTHONMALLOC=malloc
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    pass sanitize "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DAA_SANITIZE=ON
    unset ASAN_OPTIONS LSAN_OPTIONS PYTHONMALLOC UBSAN_OPTIONS
fi
system=$("$root/build/bin/aa-shell" -c \
    'import sys; print(sys.version.split()[0], sys.executable)')
echo "== CPython $system: every test passed ($( ((quick)) &&
    echo "plain pass" || echo "plain and sanitize passes"))"
if ((!quick)); then
    "$root/scripts/matrix.sh"
fi
echo "== all tests passed"
