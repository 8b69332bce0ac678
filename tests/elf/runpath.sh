#!/usr/bin/env bash
# runpath.sh [--skip NAME]... DIR... -- every ELF program and shared object
# under the DIRs searches for libraries only where its own files are.
#
# The dynamic loader reads an empty element of DT_RUNPATH or DT_RPATH
# ("a::b", a trailing ':') as the current directory, and an element that is
# neither absolute nor $ORIGIN-based ("lib", "$LIB/x") as a folder relative
# to it: a program that has one loads a library planted wherever it is
# started from.  Fails naming each file and its bad element, and fails when
# it finds no ELF file at all (a wrong DIR must not pass).  Folders called
# NAME (--skip) are not searched: a scratch folder another test fills and
# empties while this one runs.
set -euo pipefail

skip=()
while (($#)) && [[ $1 == --skip ]]; do
    skip+=(-name "$2" -prune -o)
    shift 2
done
if (($# == 0)); then
    echo "usage: $0 [--skip NAME]... DIR..." >&2
    exit 2
fi

# good ELEMENT: 0 when the element names the same folder whatever the
# current directory is.
good() {
    case $1 in
    /*) return 0 ;;
    '$ORIGIN' | '$ORIGIN/'* | '${ORIGIN}' | '${ORIGIN}/'*) return 0 ;;
    *) return 1 ;;
    esac
}

checked=0 bad=0
while IFS= read -r -d '' file; do
    # Only ELF files: objects, scripts and data are skipped by their magic.
    [[ $(head -c 4 "$file" 2>/dev/null | od -An -c | tr -d ' ') == 177ELF ]] ||
        continue
    # Objects (.o) and static programs have no dynamic section to check.
    dynamic=$(LC_ALL=C readelf -d "$file" 2>/dev/null) || continue
    grep -q '^Dynamic section' <<<"$dynamic" || continue
    checked=$((checked + 1))
    while IFS= read -r line; do
        tag=${line#*(}
        tag=${tag%%)*}
        value=${line#*\[}
        value=${value%\]}
        # Split on ':' keeping empty elements, the trailing one included.
        IFS=: read -r -a elements <<<"$value:"
        for element in "${elements[@]}"; do
            if [[ -z $element ]]; then
                echo "FAIL: $file: $tag [$value] has an empty element" \
                    "(the current directory)" >&2
                bad=$((bad + 1))
            elif ! good "$element"; then
                echo "FAIL: $file: $tag [$value] has the relative element" \
                    "'$element'" >&2
                bad=$((bad + 1))
            fi
        done
    done < <(grep -E '\((RUNPATH|RPATH)\)' <<<"$dynamic" || true)
done < <(find "$@" "${skip[@]}" -type f -print0)

if ((checked == 0)); then
    echo "FAIL: no dynamically linked ELF file under $*" >&2
    exit 1
fi
if ((bad)); then
    echo "$bad bad RUNPATH/RPATH element(s) in $checked dynamically linked ELF files" >&2
    exit 1
fi
echo "ok: $checked dynamically linked ELF files, no empty or relative RUNPATH/RPATH element"
