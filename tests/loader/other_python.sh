#!/usr/bin/env bash
# other_python.sh BUILD-DIR SOURCE-DIR -- a runner plugin built against
# another CPython than the library's is refused, with both versions named,
# before any of its code but the entry runs; the same plugin built against
# the library's CPython loads and runs a cell.
#
# The plugin is the template that uses runner.h alone
# (examples/runner-plugin/simple), compiled here twice: once against an
# embed .pc of a CPython of another major.minor (pyenv's, when the machine
# has one: the test skips, saying so, when it has none), once against the
# library's (autoawait.pc's python_pc).  Without the check, the first one's
# calls into CPython would land in the library's CPython, whose structures
# differ.
set -euo pipefail

build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
. "$src/tests/checks.sh"
# aa-shell finalizes the interpreter at exit; CPython's own leaks then are
# not the library's (tests/shell/CMakeLists.txt says the same).
export ASAN_OPTIONS=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}

shell=$build/bin/aa-shell
if [[ ! -x $shell ]]; then
    echo "SKIP: no aa-shell in this build (libedit missing)"
    exit 77
fi
ours=$(pkg-config --variable=python_version "$build/autoawait.pc")
ours_pc=$(pkg-config --variable=python_pc "$build/autoawait.pc")

# An embed .pc of a CPython 3.10 or later whose major.minor is not ours.
other_pc=
pyenv=${PYENV_ROOT:-$(command -v pyenv >/dev/null && pyenv root || echo "$HOME/.pyenv")}
for pc in "$pyenv"/versions/*/lib/pkgconfig/python-3.*-embed.pc; do
    [[ -e $pc ]] || continue
    version=$(pkg-config --modversion "$pc")
    minor=${version#3.}
    minor=${minor%%.*}
    if [[ $version != "$ours" && $minor -ge 10 ]]; then
        other_pc=$pc
        break
    fi
done
if [[ -z $other_pc ]]; then
    echo "SKIP: no CPython but $ours on this machine (pyenv's embed .pc files)"
    exit 77
fi
other=$(pkg-config --modversion "$other_pc")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir -m 755 "$work/other" "$work/ours"

# build DIR PC: the template as aa_runner_simple.so in DIR, against PC.
build_plugin() {
    local libdir
    libdir=$(pkg-config --variable=libdir "$2")
    ${CC:-cc} -std=c11 -fPIC -shared -fvisibility=hidden -I"$src/include" \
        $(pkg-config --cflags "$2") \
        -o "$1/aa_runner_simple.so" "$src/examples/runner-plugin/simple/simple.c" \
        $(pkg-config --libs "$2") -Wl,-rpath,"$libdir" 2>"$1/cc.log"
}

if ! build_plugin "$work/other" "$other_pc"; then
    fail "the template does not build against CPython $other: $(cat "$work/other/cc.log")"
else
    out=$(AA_RUNNER_PATH=$work/other "$shell" -c '%autoawait simple' 2>&1) || true
    want="built against CPython $other, this library embeds CPython $ours"
    if [[ $out == *"$want"* && $out == *"aa_runner_simple.so"* ]]; then
        ok "a plugin built against CPython $other is refused: $want"
    else
        fail "a plugin built against CPython $other: want '$want', got: $out"
    fi
fi

if ! build_plugin "$work/ours" "$ours_pc"; then
    fail "the template does not build against CPython $ours: $(cat "$work/ours/cc.log")"
else
    out=$(AA_RUNNER_PATH=$work/ours "$shell" -c \
        $'%autoawait simple\nasync def f():\n    return 6 * 7\nawait f()' 2>&1) || true
    if [[ $out == *"Out[1]: 42"* ]]; then
        ok "the same plugin built against CPython $ours runs a cell"
    else
        fail "the plugin built against CPython $ours: want Out[1]: 42, got: $out"
    fi
fi
exit $((failures > 0))
