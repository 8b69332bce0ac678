#!/usr/bin/env bash
# check.sh [--note FILE] LIBRARY -- the built libautoawait.so keeps the ABI
# recorded in abi/libautoawait.abi: a compiled host or runner plugin still
# works with it.  Fails on any change a compiled host could notice (a
# function or variable gone, a changed signature, a public struct changed
# other than aa_runner grown at its end), naming it; passes on compatible
# additions (new functions, members appended to aa_runner), printing them
# and writing them to FILE, so that the reference gets updated
# (scripts/abi-update.sh, docs/abi.md).  Exits 77 (ctest's skip) where
# abidiff is missing or the machine is not x86_64, whose ABI the reference
# records.
#
# check.sh --compare OLD NEW -- the verdict alone, for scripts/abi-update.sh:
# exit 0 same, 3 compatible additions, 1 incompatible, 2 abidiff failed.
# OLD and NEW are .abi files or libraries.
#
# check.sh --self-test -- the verdict on doctored copies of the reference,
# so that a policy which passes everything cannot pass this test.
#
# check.sh --declared -- the reference records exactly the functions the
# public headers declare AA_API: an addition must be recorded (with
# scripts/abi-update.sh) in the change that makes it, or the check would
# not protect it.  Needs no abidiff.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
reference=$src/abi/libautoawait.abi

# verdict OLD NEW: prints abidiff's report of what matters and returns 0, 3,
# 1 or 2 as --compare says.
#
# abidiff's exit status has bit 8 only for changes it knows are
# incompatible (a symbol removed); a changed signature or struct sets bit 4
# alone, as does a mere addition.  So the first run leaves the additions
# out (--no-added-syms), and any change it finds is a break, unless it is
# members appended to aa_runner (see SIZED in abi-dump.py): then NEW is
# compared again with that struct cut to OLD's size (abi-dump.py
# --sized-as), and must have no change left.  A last run with the additions
# tells 3 from 0.  (libabigail's own suppression for appended members,
# has_data_member_inserted_at = end, was tried and hid a member's changed
# type and two members swapped.)
verdict() {
    local old=$1 new=$2 rc=0
    abidiff_to "$tmp/breaks.txt" --no-added-syms "$old" "$new" || rc=$?
    if ((rc == 1)); then
        python3 "$src/scripts/abi-dump.py" --sized-as "$old" "$new" \
            >"$tmp/cut.abi" || return 2
        rc=0
        abidiff_to "$tmp/cut.txt" --no-added-syms "$old" "$tmp/cut.abi" ||
            rc=$?
        if ((rc == 1)); then
            cat "$tmp/breaks.txt"
        fi
    fi
    ((rc == 0)) || return $rc
    abidiff_to "$tmp/all.txt" "$old" "$new" || rc=$?
    if ((rc == 1)); then
        cat "$tmp/all.txt"
        return 3
    fi
    return $rc
}

# abidiff_to FILE ABIDIFF-ARGS...: abidiff's report into FILE; returns 0
# for no change, 1 for a change, 2 (printing the report) when abidiff
# failed.
abidiff_to() {
    local out=$1 rc=0
    shift
    abidiff "$@" >"$out" 2>&1 || rc=$?
    if ((rc & 3)); then
        cat "$out"
        echo "abidiff failed (exit status $rc)"
        return 2
    fi
    ((rc == 0)) || return 1
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
    python3 - "$reference" "$tmp" <<'EOF' || return 1
import sys, xml.etree.ElementTree as ET
reference, out = sys.argv[1:]

def doctor(name, *edits):
    corpus = ET.parse(reference).getroot()
    for edit in edits:
        edit(corpus)
    ET.ElementTree(corpus).write(f"{out}/{name}.abi", encoding="unicode")

def struct(corpus, name):
    return next(e for e in corpus.iter("class-decl") if e.get("name") == name
                and "size-in-bits" in e.attrib)

def member(corpus, struct_name, name):
    return next(m for m in struct(corpus, struct_name).findall("data-member")
                if m.find("var-decl").get("name") == name)

def type_id(corpus, name):
    return next(e.get("id") for e in corpus.iter()
                if e.tag in ("type-decl", "typedef-decl") and e.get("name") == name)

def drop_function(corpus):
    for parent in corpus.iter():
        for e in list(parent):
            if e.get("name") == "aa_version" and e.tag in ("elf-symbol", "function-decl"):
                parent.remove(e)

def drop_runner(corpus):
    struct(corpus, "aa_options").remove(member(corpus, "aa_options", "runner"))

def appender(struct_name):
    def append_member(corpus):
        target = struct(corpus, struct_name)
        size = int(target.get("size-in-bits"))
        m = ET.SubElement(target, "data-member", access="public",
                          **{"layout-offset-in-bits": str(size)})
        ET.SubElement(m, "var-decl", name="appended", visibility="default",
                      **{"type-id": type_id(corpus, "int")})
        target.set("size-in-bits", str(size + 64))
    return append_member

def retype_autoawait(corpus):
    # int -> size_t: the offsets stay, only the member's type changes.
    member(corpus, "aa_options", "autoawait").find("var-decl").set(
        "type-id", type_id(corpus, "size_t"))

def swap_enter_leave(corpus):
    enter = member(corpus, "aa_runner", "enter").find("var-decl")
    leave = member(corpus, "aa_runner", "leave").find("var-decl")
    a, b = enter.get("type-id"), leave.get("type-id")
    assert a != b
    enter.set("type-id", b)
    leave.set("type-id", a)

doctor("no_version", drop_function)
doctor("options_shrunk", drop_runner)
doctor("options_retyped", retype_autoawait)
doctor("options_grown", appender("aa_options"))
doctor("runner_swapped", swap_enter_leave)
doctor("runner_grown", appender("aa_runner"))
doctor("runner_grown_swapped", appender("aa_runner"), swap_enter_leave)
EOF
    expect 0 unchanged "$reference" "$reference"
    expect 1 function_removed "$reference" "$tmp/no_version.abi"
    expect 3 function_added "$tmp/no_version.abi" "$reference"
    expect 1 member_removed "$reference" "$tmp/options_shrunk.abi"
    expect 1 member_retyped "$reference" "$tmp/options_retyped.abi"
    # aa_options_init would overflow an older host's struct (abi-dump.py).
    expect 1 options_member_appended "$reference" "$tmp/options_grown.abi"
    expect 1 members_swapped "$reference" "$tmp/runner_swapped.abi"
    expect 3 runner_member_appended "$reference" "$tmp/runner_grown.abi"
    expect 1 runner_member_removed "$tmp/runner_grown.abi" "$reference"
    expect 1 runner_member_appended_and_swapped "$reference" \
        "$tmp/runner_grown_swapped.abi"
    ((ok))
}

# declared: the reference's functions against the headers' AA_API ones.
declared() {
    local missing extra
    . "$src/tests/checks.sh"
    aa_library_declared "$src"/include/autoawait >"$tmp/declared"
    sed -n 's/.*<elf-symbol name="\([^"]*\)" type="func-type".*/\1/p' \
        "$reference" | sort -u >"$tmp/recorded"
    missing=$(comm -23 "$tmp/declared" "$tmp/recorded")
    extra=$(comm -13 "$tmp/declared" "$tmp/recorded")
    if [[ -n $missing ]]; then
        echo "FAIL: declared AA_API but not recorded in abi/libautoawait.abi:" \
            "${missing//$'\n'/ } (record them: scripts/abi-update.sh, docs/abi.md)"
    fi
    if [[ -n $extra ]]; then
        echo "FAIL: recorded in abi/libautoawait.abi but declared in no public" \
            "header: ${extra//$'\n'/ }"
    fi
    [[ -z $missing && -z $extra ]] || return 1
    echo "ok: abi/libautoawait.abi records the $(wc -l <"$tmp/declared")" \
        "AA_API functions of the headers"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [[ ${1-} == --declared ]]; then
    declared
    exit
fi
if ! command -v abidiff >/dev/null; then
    echo "SKIP: abidiff not found (Debian: apt-get install abigail-tools)"
    exit 77
fi

note=
case ${1-} in
--compare)
    shift
    (($# == 2)) || { echo "usage: $0 --compare OLD NEW" >&2; exit 2; }
    old=$1
    # An old library is read as the reference is made: as abidiff reads it,
    # its own structs and CPython's would count as changed.
    if [[ $(head -c 4 "$old" | od -An -c | tr -d ' ') == 177ELF ]]; then
        python3 "$src/scripts/abi-dump.py" "$old" >"$tmp/old.abi" || exit 2
        old=$tmp/old.abi
    fi
    rc=0
    verdict "$old" "$2" || rc=$?
    exit $rc ;;
--self-test)
    self_test
    exit ;;
--note)
    note=$2
    shift 2 ;;
esac
if (($# != 1)); then
    echo "usage: $0 [--note FILE] LIBRARY | --compare OLD NEW | --self-test |" \
        "--declared" >&2
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

if [[ ! -f $library ]]; then
    echo "FAIL: no library $library"
    exit 1
fi
# Without DWARF abidiff compares the symbols alone, and quietly: a changed
# signature or struct would pass.
if [[ $(LC_ALL=C readelf -S "$library") != *.debug_info* ]]; then
    echo "FAIL: $library has no DWARF for abidiff to read (the tests' build" \
        "adds -g to the library; see libautoawait/CMakeLists.txt)"
    exit 1
fi
# The library's DWARF as it is: abidiff counts a type the reference has as
# a declaration and the library defines (struct aa_session, CPython's
# PyObject) as harmless.  --headers-dir2 would not do: it takes every type
# of the reference, which has no source locations, for a private one and
# hides its changes.
rc=0
verdict "$reference" "$library" >"$tmp/report.txt" || rc=$?
cat "$tmp/report.txt"
case $rc in
0)
    echo "ok: $library keeps the ABI of abi/libautoawait.abi" ;;
3)
    message="ABI additions not yet recorded in abi/libautoawait.abi (compatible; record them with scripts/abi-update.sh, see docs/abi.md)"
    echo "ok: $message"
    if [[ -n $note ]]; then
        { echo "note: $message:"; grep -v '^$' "$tmp/report.txt"; } >"$note"
    fi ;;
1)
    echo "FAIL: $library breaks the ABI recorded in abi/libautoawait.abi (above)."
    echo "If the break is deliberate: bump the major version in CMakeLists.txt's"
    echo "project(VERSION) and autoawait.h, then scripts/abi-update.sh (docs/abi.md)."
    exit 1 ;;
*)
    echo "FAIL: could not compare $library with abi/libautoawait.abi"
    exit 1 ;;
esac
