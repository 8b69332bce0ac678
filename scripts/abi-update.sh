#!/usr/bin/env bash
# abi-update.sh [BUILD] -- records the ABI of BUILD/lib/libautoawait.so
# (default build/, where scripts/test.sh builds) in abi/libautoawait.abi,
# the reference the ABI check (ctest abi_check) compares every build with.
#
# Prints what changed against the reference and refuses a break that keeps
# the SONAME: a break needs the next major version in CMakeLists.txt's
# project(VERSION) and in autoawait.h, which gives the library a new SONAME.
# Commit the new reference with the change it records.  See docs/abi.md.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
reference=$root/abi/libautoawait.abi
build=${1:-$root/build}
library=$build/lib/libautoawait.so

fail() {
    echo "abi-update: $*" >&2
    exit 1
}

if (($# > 1)) || [[ ${1-} == -* ]]; then
    sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 2
fi
[[ -f $library ]] || fail "no $library; build first (scripts/test.sh --quick)"
[[ $(LC_ALL=C readelf -S "$library") == *.debug_info* ]] ||
    fail "$library has no DWARF; configure with the tests" \
        "(AA_BUILD_TESTS, the default), which build the library with -g"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 "$root/scripts/abi-dump.py" "$library" >"$tmp/new.abi"

soname() {
    sed -n 's/^<abi-corpus .*soname="\([^"]*\)".*/\1/p' "$1"
}

if [[ -f $reference ]]; then
    rc=0
    "$root/tests/abi/check.sh" --compare "$reference" "$tmp/new.abi" || rc=$?
    case $rc in
    0)
        # Left as it is: another CPython or compiler may order and number
        # the same types differently, and the file changes only with the ABI.
        echo "abi-update: $reference is up to date (abidiff finds no change)"
        exit 0 ;;
    3)
        echo "abi-update: compatible additions (above) recorded" ;;
    1)
        old=$(soname "$reference") new=$(soname "$tmp/new.abi")
        if [[ $old == "$new" ]]; then
            fail "the changes above break the ABI of $old; if that is" \
                "deliberate, bump the major version (CMakeLists.txt's" \
                "project(VERSION), AA_VERSION_* in autoawait.h), rebuild" \
                "and run this again (docs/abi.md)"
        fi
        echo "abi-update: a new ABI, $old -> $new (changes above), recorded" ;;
    *)
        fail "abidiff could not compare the reference with the build" ;;
    esac
fi
mv "$tmp/new.abi" "$reference"
echo "abi-update: wrote $reference"
