#!/usr/bin/env bash
# check.sh [--note FILE] LIBRARY -- the built libautoawait.so keeps the ABI
# recorded in abi/libautoawait.abi: a compiled host or runner plugin still
# works with it.  Fails on any change a compiled host could notice (a
# function or variable gone, a changed signature, a public struct changed
# other than grown at its end), naming it; passes on compatible additions
# (new functions, fields appended to aa_options or aa_runner), printing them
# and writing them to FILE, so that the reference gets updated
# (scripts/abi-update.sh, docs/abi.md).  Exits 77 (ctest's skip) where
# abidiff is missing or the machine is not x86_64, whose ABI the reference
# records.
#
# check.sh --compare OLD NEW [ABIDIFF-ARGS...] -- the verdict alone, for
# scripts/abi-update.sh: exit 0 same, 3 compatible additions, 1
# incompatible, 2 abidiff failed.  OLD and NEW are .abi files or libraries.
#
# check.sh --self-test -- the verdict on doctored copies of the reference,
# so that a policy which passes everything cannot pass this test.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
reference=$src/abi/libautoawait.abi
suppressions=$src/abi/libautoawait.abignore

# verdict OLD NEW [ABIDIFF-ARGS...]: prints abidiff's report of what
# matters and returns 0, 3, 1 or 2 as --compare says.
#
# abidiff's exit status has bit 8 only for changes it knows are
# incompatible (a symbol removed); a changed signature or struct sets bit 4
# alone, as does a mere addition.  So it runs twice: once without the
# additions and with the suppressions of abi/libautoawait.abignore (fields
# appended to the sized structs), where any change at all is a break; once
# as is, where a change can now only be an addition.
verdict() {
    local old=$1 new=$2 rc
    shift 2
    rc=0
    abidiff --no-added-syms --suppressions "$suppressions" "$@" \
        "$old" "$new" >"$tmp/breaks.txt" 2>&1 || rc=$?
    if ((rc & 3)); then
        cat "$tmp/breaks.txt"
        echo "abidiff failed (exit status $rc)"
        return 2
    elif ((rc)); then
        cat "$tmp/breaks.txt"
        return 1
    fi
    rc=0
    abidiff "$@" "$old" "$new" >"$tmp/all.txt" 2>&1 || rc=$?
    if ((rc & 3)); then
        cat "$tmp/all.txt"
        echo "abidiff failed (exit status $rc)"
        return 2
    elif ((rc)); then
        cat "$tmp/all.txt"
        return 3
    fi
    return 0
}

# self_test: each doctored copy of the reference must get its verdict.
self_test() {
    local ok=1 got
    # expect WANT NAME OLD NEW
    expect() {
        got=0
        verdict "$3" "$4" >"$tmp/$2.txt" || got=$?
        if ((got == $1)); then
            echo "ok: $2 (verdict $got)"
        else
            echo "FAIL: $2: verdict $got, expected $1; abidiff said:"
            sed 's/^/    /' "$tmp/$2.txt"
            ok=0
        fi
    }
    # The copies are edited as text: abi-normalize.py writes one element a
    # line, each struct member as <data-member ...> around one <var-decl>.
    sed -e '/<elf-symbol name="aa_version"/d' \
        -e '/<function-decl name="aa_version"/,/<\/function-decl>/d' \
        "$reference" >"$tmp/no_version.abi"
    # aa_options without its `runner` member, then with one appended.
    local members
    members=$(sed -n '/<class-decl name="aa_options"/,/<\/class-decl>/p' \
        "$reference")
    [[ $members == *'name="runner"'* && $members == *'size-in-bits="320"'* ]] || {
        echo "FAIL: the reference has no 320-bit aa_options with a runner member"
        return 1
    }
    awk '
        /<class-decl name="aa_options"/ { inside = 1 }
        inside && /<data-member/ { held = $0; next }
        inside && held != "" {
            if ($0 ~ /name="runner"/) { skip = 1 } else { print held }
            held = ""
        }
        skip && /<\/data-member>/ { skip = 0; next }
        skip { next }
        /<\/class-decl>/ { inside = 0 }
        { print }
    ' "$reference" >"$tmp/options_shrunk.abi"
    local int
    int=$(sed -n 's/.*<type-decl name="int" .*id="\([^"]*\)".*/\1/p' "$reference")
    [[ -n $int ]] || {
        echo "FAIL: the reference has no int type to give an appended member"
        return 1
    }
    awk -v intid="$int" '
        /<class-decl name="aa_options"/ {
            inside = 1; sub(/size-in-bits="320"/, "size-in-bits=\"384\"")
        }
        inside && /<\/class-decl>/ {
            print "      <data-member access=\"public\" layout-offset-in-bits=\"320\">"
            print "        <var-decl name=\"appended\" type-id=\"" intid "\" visibility=\"default\" />"
            print "      </data-member>"
            inside = 0
        }
        { print }
    ' "$reference" >"$tmp/options_grown.abi"

    expect 0 unchanged "$reference" "$reference"
    expect 1 function_removed "$reference" "$tmp/no_version.abi"
    expect 3 function_added "$tmp/no_version.abi" "$reference"
    expect 1 member_removed "$reference" "$tmp/options_shrunk.abi"
    expect 3 member_appended "$reference" "$tmp/options_grown.abi"
    expect 1 appended_member_removed "$tmp/options_grown.abi" "$reference"
    ((ok))
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! command -v abidiff >/dev/null; then
    echo "SKIP: abidiff not found (Debian: apt-get install abigail-tools)"
    exit 77
fi

note=
case ${1-} in
--compare)
    shift
    (($# >= 2)) || { echo "usage: $0 --compare OLD NEW [ABIDIFF-ARGS...]" >&2; exit 2; }
    rc=0
    verdict "$@" || rc=$?
    exit $rc ;;
--self-test)
    self_test
    exit ;;
--note)
    note=$2
    shift 2 ;;
esac
if (($# != 1)); then
    echo "usage: $0 [--note FILE] LIBRARY | --compare OLD NEW | --self-test" >&2
    exit 2
fi
library=$1
[[ -z $note ]] || rm -f "$note"

if [[ $(uname -m) != x86_64 ]]; then
    echo "SKIP: $reference records x86_64's ABI; this machine is $(uname -m)"
    exit 77
fi
if [[ ! -f $reference ]]; then
    echo "FAIL: $reference is missing; scripts/abi-update.sh makes it"
    exit 1
fi

# Without DWARF abidiff compares the symbols alone, and quietly: a changed
# signature or struct would pass.
if [[ $(LC_ALL=C readelf -S "$library") != *.debug_info* ]]; then
    echo "FAIL: $library has no DWARF for abidiff to read (the tests' build" \
        "adds -g to the library; see libautoawait/CMakeLists.txt)"
    exit 1
fi
# The library's DWARF read as the public headers see it: types defined in
# the library's own sources (struct aa_session) stay opaque, as they are to
# a host.
rc=0
verdict "$reference" "$library" \
    --headers-dir2 "$src/include/autoawait" --drop-private-types || rc=$?
case $rc in
0)
    echo "ok: $library keeps the ABI of abi/libautoawait.abi" ;;
3)
    message="ABI additions not yet recorded in abi/libautoawait.abi (compatible; record them with scripts/abi-update.sh, see docs/abi.md)"
    echo "ok: $message"
    [[ -z $note ]] || echo "note: $message" >"$note" ;;
1)
    echo "FAIL: $library breaks the ABI recorded in abi/libautoawait.abi (above)."
    echo "If the break is deliberate: bump the major version in CMakeLists.txt's"
    echo "project(VERSION) and autoawait.h, then scripts/abi-update.sh (docs/abi.md)."
    exit 1 ;;
*)
    echo "FAIL: could not compare $library with abi/libautoawait.abi"
    exit 1 ;;
esac
