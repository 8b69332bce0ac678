#!/usr/bin/env bash
# run.sh BUILD-DIR [CC] -- the library builds on a machine that
# has neither Check (the unit tests' framework) nor libedit (aa-shell's
# line editing) nor libzmq (the Jupyter kernel's ZeroMQ).
#
# Such a machine is made up for CMake: PKG_CONFIG_LIBDIR names a folder
# with every .pc file of the system's pkg-config folders but check.pc,
# libedit.pc and libzmq.pc.  In it, from the sources, in BUILD-DIR/options:
#   1. -DAA_BUILD_TESTS=OFF configures and builds, saying that aa-shell and
#      the kernel are left out and why; the library, the runners and
#      embed-host are built and installed, aa-shell is not, no test is
#      registered, and the library runs a cell (through embed-host);
#   2. -DAA_BUILD_SHELL=ON fails at configure time, naming libedit, and
#      -DAA_BUILD_KERNEL=ON too, naming libzmq;
#   3. the tests left ON fail at configure time, naming Check and the
#      option that does without it;
#   4. with Check there but not libedit, the tests configure without the
#      ones that run aa-shell or the kernel, and say so.
set -euo pipefail

build=$(cd "$1" && pwd)
cc=${2:-cc}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
# In the build tree, whose folders the loader trusts: embed-host loads the
# tree's asyncio runner.
work=$build/options-work
rm -rf "$work"
mkdir -p "$work/pc" "$work/pc-check"
. "$(dirname "${BASH_SOURCE[0]}")/../checks.sh"

# ------------------------------------------ a machine without the two
IFS=: read -r -a pcdirs <<<"$(pkg-config --variable pc_path pkg-config)"
for dir in "${pcdirs[@]}"; do
    for pc in "$dir"/*.pc; do
        [[ -e $pc ]] || continue
        name=${pc##*/}
        case $name in
        check.pc | libedit.pc | libzmq.pc) continue ;;
        esac
        [[ -e $work/pc/$name ]] || ln -s "$pc" "$work/pc/$name"
    done
    [[ ! -e $dir/check.pc || -e $work/pc-check/check.pc ]] ||
        ln -s "$dir/check.pc" "$work/pc-check/check.pc"
done
export PKG_CONFIG_LIBDIR=$work/pc
for module in check libedit libzmq; do
    if pkg-config --exists "$module"; then
        echo "FAIL: pkg-config still finds $module (PKG_CONFIG_PATH=${PKG_CONFIG_PATH-})" >&2
        exit 1
    fi
done
configure() {
    local dir=$1
    shift
    cmake -S "$src" -B "$dir" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release \
        -DAA_WERROR=ON "$@"
}

# ------------------------------------------ 1. tests off, aa-shell AUTO
tree=$work/minimal
start=$SECONDS
if ! configure "$tree" -DAA_BUILD_TESTS=OFF >"$work/minimal.log" 2>&1; then
    cat "$work/minimal.log" >&2
    echo "FAIL: -DAA_BUILD_TESTS=OFF does not configure without Check and libedit" >&2
    exit 1
fi
if said=$(grep 'aa-shell' "$work/minimal.log" | grep -i 'libedit'); then
    ok "configure says: ${said#-- }"
else
    fail "configure did not say that aa-shell is left out for want of libedit"
fi
if said=$(grep '^-- kernel: not built' "$work/minimal.log" | grep 'libzmq'); then
    ok "configure says: ${said#-- }"
else
    fail "configure did not say that the kernel is left out for want of libzmq"
fi
if ! cmake --build "$tree" -j2 >>"$work/minimal.log" 2>&1; then
    tail -n 40 "$work/minimal.log" >&2
    echo "FAIL: the tree without Check and libedit does not build" >&2
    exit 1
fi
ok "configured and built in $((SECONDS - start)) s"
for file in lib/libautoawait.so.0 lib/autoawait/runners/aa_runner_asyncio.so \
    lib/autoawait/runners/aa_runner_trio.so lib/autoawait/runners/aa_runner_curio.so \
    bin/embed-host; do
    [[ -e $tree/$file ]] || fail "$file was not built"
done
[[ ! -e $tree/bin/aa-shell ]] || fail "bin/aa-shell was built without libedit"
tests=$(cd "$tree" && ctest -N | sed -n 's/^Total Tests: //p')
[[ $tests == 0 ]] || fail "$tests test(s) registered with -DAA_BUILD_TESTS=OFF"
if out=$("$tree/bin/embed-host" -c '6 * 7' </dev/null 2>&1) &&
    grep -q '^Out\[1\]: 42$' <<<"$out"; then
    ok "the library runs a cell (embed-host -c '6 * 7')"
else
    fail "embed-host of the minimal tree printed: $out"
fi
if DESTDIR=$work/stage cmake --install "$tree" --prefix /usr >"$work/install.log" 2>&1; then
    [[ -e $work/stage/usr/include/autoawait/autoawait.h ]] ||
        fail "cmake --install put no header in place"
    # aa-shell's files: not its manual among the guides (share/doc), which
    # installs with the library's docs whatever is built.
    if found=$(find "$work/stage" -name 'aa-shell*' \
        -not -path '*/share/doc/*' | grep .); then
        fail "cmake --install installed aa-shell's files: $found"
    else
        ok "cmake --install installs the tree, without aa-shell"
    fi
else
    cat "$work/install.log" >&2
    fail "cmake --install of the tree without aa-shell fails"
fi

# ------------------------------------------ 2. aa-shell ON, no libedit
if configure "$work/shell-on" -DAA_BUILD_TESTS=OFF -DAA_BUILD_SHELL=ON \
    >"$work/shell-on.log" 2>&1; then
    fail "-DAA_BUILD_SHELL=ON configures without libedit"
elif grep -q 'libedit' "$work/shell-on.log"; then
    ok "-DAA_BUILD_SHELL=ON without libedit stops at configure time, naming libedit"
else
    cat "$work/shell-on.log" >&2
    fail "-DAA_BUILD_SHELL=ON without libedit fails without naming libedit"
fi

if configure "$work/kernel-on" -DAA_BUILD_TESTS=OFF -DAA_BUILD_KERNEL=ON \
    >"$work/kernel-on.log" 2>&1; then
    fail "-DAA_BUILD_KERNEL=ON configures without libzmq"
elif grep -q 'libzmq' "$work/kernel-on.log"; then
    ok "-DAA_BUILD_KERNEL=ON without libzmq stops at configure time, naming libzmq"
else
    cat "$work/kernel-on.log" >&2
    fail "-DAA_BUILD_KERNEL=ON without libzmq fails without naming libzmq"
fi

# ------------------------------------------ 3. tests ON, no Check
if configure "$work/tests-on" >"$work/tests-on.log" 2>&1; then
    fail "the tests configure without Check"
elif grep -q 'AA_BUILD_TESTS=OFF' "$work/tests-on.log"; then
    ok "the tests without Check stop at configure time, naming AA_BUILD_TESTS=OFF"
else
    cat "$work/tests-on.log" >&2
    fail "the tests without Check fail without naming -DAA_BUILD_TESTS=OFF"
fi

if ((failures)); then
    echo "$failures build-option check(s) failed (the logs: $work)" >&2
    exit 1
fi
# ------------------------------------------ 4. tests ON, no libedit
if [[ -e $work/pc-check/check.pc ]]; then
    ln -s "$work"/pc/*.pc "$work/pc-check/"
    if ! PKG_CONFIG_LIBDIR=$work/pc-check configure "$work/no-shell" \
        >"$work/no-shell.log" 2>&1; then
        cat "$work/no-shell.log" >&2
        fail "the tests do not configure without libedit"
    elif ! grep -q 'tests: no aa-shell' "$work/no-shell.log"; then
        fail "the tests without aa-shell do not say which are left out"
    elif ! grep -q 'tests: no kernel' "$work/no-shell.log"; then
        fail "the tests without the kernel do not say which are left out"
    elif (cd "$work/no-shell" && ctest -N | grep -q ' unit_wire$'); then
        fail "check_wire is registered without the kernel"
    elif (cd "$work/no-shell" && ctest -N | grep -Eq ' (shell_|install$)'); then
        fail "tests that run aa-shell are registered without aa-shell"
    else
        ok "without libedit and libzmq the tests configure, less the ones that run aa-shell or the kernel"
    fi
else
    echo "note: no check.pc on this machine: the tests without aa-shell not tried"
fi

rm -rf "$work"
echo "build options test passed"
