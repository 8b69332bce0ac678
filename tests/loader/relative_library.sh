#!/usr/bin/env bash
# relative_library.sh BUILD-DIR -- the runners beside libautoawait.so are
# found when the dynamic loader found the library through a relative folder
# (LD_LIBRARY_PATH=lib), with no AA_RUNNER_PATH, and still after a cell has
# changed the current directory.
set -euo pipefail

build=$(cd "$1" && pwd)
runners=$(realpath "$build/lib/autoawait/runners")
unset AA_RUNNER_PATH
# aa-shell finalizes the interpreter at exit; CPython's own leaks then are
# not the library's (tests/shell/CMakeLists.txt says the same).
export ASAN_OPTIONS=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
. "$(dirname "${BASH_SOURCE[0]}")/../checks.sh"

# Which file a runner's code was mapped from, as the kernel saw it opened.
mapped() {
    printf '[l.split()[-1] for l in open("/proc/self/maps") if "aa_runner_%s." in l][0]' "$1"
}

cd "$build"
want="Out[1]: '$runners/aa_runner_asyncio.so'"
if ! out=$(LD_LIBRARY_PATH=lib bin/aa-shell -c \
    "import asyncio; await asyncio.sleep(0); $(mapped asyncio)" 2>&1); then
    fail "LD_LIBRARY_PATH=lib: aa-shell failed: $out"
elif [[ $out != "$want" ]]; then
    fail "LD_LIBRARY_PATH=lib: want $want, got: $out"
else
    echo "ok: LD_LIBRARY_PATH=lib finds the asyncio runner beside the library"
fi

# A runner loaded after the current directory changed: trio's plugin is
# found (its module may be missing, which is another message).
out=$(printf '%s\n' 'import os; os.chdir("/")' '%autoawait trio' \
    "'switched'" | LD_LIBRARY_PATH=lib bin/aa-shell 2>&1) || true
if grep -q "no runner 'trio'" <<<"$out"; then
    fail "after chdir, the trio runner beside the library is not found: $out"
elif grep -q "^Out\[.*'switched'" <<<"$out" ||
    grep -q "No module named 'trio'" <<<"$out"; then
    echo "ok: after chdir the runner folder beside the library is still found"
else
    fail "after chdir: unexpected output: $out"
fi

if ((failures)); then
    exit 1
fi
