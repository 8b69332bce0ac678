#!/usr/bin/env bash
# private_api.sh SOURCE-DIR -- no C file of the project uses CPython's
# private API or depends on its version, except the one file made for it.
#
# libautoawait/pyversion.c and pyversion.h hold every piece of code that
# differs between the CPythons the project supports (docs/python-versions.md
# lists them): private names (_Py*, _PyObject_*, ...), CPython's internal
# headers, bytecode (opcode.h, co_code) and #if on the version.  Anywhere
# else, such a line breaks silently on the next CPython.  Fails naming each
# line found, and fails when it finds no C file at all (a wrong folder must
# not pass).
set -euo pipefail

if (($# != 1)); then
    echo "usage: $0 SOURCE-DIR" >&2
    exit 2
fi
cd "$1"

# What marks code as CPython's private or version-specific, as extended
# regular expressions.  `struct _object` (runner.h's forward declaration of
# PyObject) is public and matches none of them.
patterns=(
    '\b_Py[A-Za-z0-9_]*'                      # private functions, macros, types
    '\bPY_VERSION_HEX\b'                      # a version guard
    '^[[:space:]]*#[[:space:]]*if.*\bPY_(MAJOR|MINOR|MICRO)_VERSION\b'
    '\bPy_BUILD_CORE'                         # the door to internal headers
    '#[[:space:]]*include[[:space:]]*[<"](internal/|cpython/|opcode)'
    '\bco_code\b|\bco_code_adaptive\b'        # the bytecode itself
)
# runner.h records the version a runner is built against
# (AA_RUNNER_PYTHON_VERSION, which the loader compares): a value, no guard.
allowed='^(libautoawait/pyversion\.[ch]|include/autoawait/runner\.h)$'

mapfile -d '' files < <(find libautoawait runners bindings examples include \
    -type f \( -name '*.c' -o -name '*.h' \) -print0 2>/dev/null | sort -z)
checked=0 bad=0
for file in "${files[@]}"; do
    checked=$((checked + 1))
    [[ $file =~ $allowed ]] && continue
    for pattern in "${patterns[@]}"; do
        while IFS= read -r hit; do
            echo "FAIL: $file:$hit" >&2
            bad=$((bad + 1))
        done < <(grep -nE -- "$pattern" "$file" || true)
    done
done
if ((checked == 0)); then
    echo "FAIL: no C file under $1" >&2
    exit 1
fi
if ((bad)); then
    echo "$bad line(s) use CPython's private API or its version outside" \
        "libautoawait/pyversion.[ch]: move them there, guarded by version" >&2
    exit 1
fi
echo "ok: $checked C files, CPython's private API and version only in libautoawait/pyversion.[ch]"
