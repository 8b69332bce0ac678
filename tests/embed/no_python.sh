#!/usr/bin/env bash
# no_python.sh SOURCE-DIR [PROGRAM]... -- the example hosts need no Python:
# no file under examples/ includes Python.h or calls CPython's C API, and no
# PROGRAM (the example programs built) links libpython: they link
# libautoawait, which keeps its Python private.  What a host wants from a
# cell's side, it offers with aa_define (docs/host-functions.md).
#
# One folder is left out: examples/runner-plugin, the template of a runner
# plugin, which by the contract of runner.h speaks CPython's C API (the
# coroutine it runs is a PyObject *); a plugin is not a host.
set -euo pipefail

if (($# < 1)); then
    echo "usage: $0 SOURCE-DIR [PROGRAM]..." >&2
    exit 2
fi
src=$1
shift
. "$(dirname "${BASH_SOURCE[0]}")/../checks.sh"

# Every file of examples/, sources and build files alike, but the plugin.
mapfile -d '' files < <(find "$src/examples" -path "$src/examples/runner-plugin" \
    -prune -o -type f -print0 | sort -z)
if ((${#files[@]} == 0)); then
    fail "no file under $src/examples"
fi
checked=0
for file in "${files[@]}"; do
    checked=$((checked + 1))
    rel=${file#"$src"/}
    case $rel in
    *.c | *.h)
        # An include of Python.h, or a name of CPython's C API in code.
        if hits=$(grep -nE '#[[:space:]]*include[[:space:]]*[<"]Python\.h[>"]|\<Py[A-Z][A-Za-z]*_[A-Za-z]|\<PyObject\>|\<Py_[A-Z]' \
            "$file"); then
            fail "$rel uses Python's C API:"$'\n'"$hits"
        fi
        ;;
    CMakeLists.txt | */CMakeLists.txt | *.cmake | Makefile | */Makefile)
        if hits=$(grep -nE 'PkgConfig::PYTHON|python3-embed|Python3?::' \
            "$file"); then
            fail "$rel links Python:"$'\n'"$hits"
        fi
        ;;
    esac
done
ok "$checked files under examples/ (but runner-plugin/) use no Python C API"

for program; do
    if [[ ! -x $program ]]; then
        fail "no program $program"
        continue
    fi
    needed=$(LC_ALL=C readelf -d "$program" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    if grep -q '^libpython' <<<"$needed"; then
        fail "$(basename "$program") links $(grep '^libpython' <<<"$needed")"
    elif ! grep -q '^libautoawait\.so' <<<"$needed"; then
        fail "$(basename "$program") does not link libautoawait: $needed"
    else
        ok "$(basename "$program") links $(tr '\n' ' ' <<<"$needed")(no libpython)"
    fi
done

if ((failures)); then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "no example needs Python"
