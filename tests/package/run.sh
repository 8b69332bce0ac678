#!/usr/bin/env bash
# run.sh BUILD-DIR [CC] -- the package test.
#
# Builds the Debian packages with scripts/package.sh (in a tree of its own,
# BUILD-DIR/package), installs them on this machine with dpkg, and uses
# them as their users would:
#   - the README's embedding example: its host.c and its cc line, both
#     taken from README.md's "Embedding" section so that the README stays
#     true, built against the installed libautoawait-dev and run (42);
#   - pkg-config gives no -I or -L for the system's own folders;
#   - an outside CMake project finds the installed CMake package;
#   - aa-shell from its package runs a cell, on the asyncio runner found
#     beside the installed library, and on the trio runner;
#   - aa-runner-check from the same package passes on the asyncio runner;
#   - aa-kernel from its package says its version; its kernelspec, in
#     /usr/share/jupyter, is the one the program writes and the one
#     `jupyter kernelspec list` shows; a host serving a session builds with
#     pkg-config autoawait-kernel and with autoawait::kernel, and runs;
#   - meanwhile, the build tree's aa-shell still loads the build tree's
#     library, not the installed one;
# then purges the packages and checks that nothing of theirs is left under
# /usr or in the dynamic loader's cache.  The packages are purged on every
# way out (a trap), and the test refuses to start when any of them is
# installed already: it never replaces what it did not install.
#
# Needs root (dpkg -i) and dpkg: exits 77, which ctest reports as skipped,
# without them.
set -euo pipefail

build=$(cd "$1" && pwd)
cc=${2:-cc}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
packages=(libautoawait0 libautoawait-runners libautoawait-dev aa-shell
    libautoawait-kernel0 aa-kernel)

if ((EUID != 0)); then
    echo "SKIP: installing packages needs root (dpkg -i); run as root, as CI does"
    exit 77
fi
if ! command -v dpkg >/dev/null || ! command -v dpkg-deb >/dev/null; then
    echo "SKIP: no dpkg here: not a Debian system"
    exit 77
fi

. "$(dirname "${BASH_SOURCE[0]}")/../checks.sh"
die() {
    echo "FAIL: $*" >&2
    exit 1
}
ok() {
    echo "ok: $*"
}

# present PACKAGE: 0 when dpkg knows the package as anything but absent
# (installed, unpacked, half-configured, its conffiles left, ...).
present() {
    local status
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) || return 1
    [[ -n $status && ${status:1:1} != n ]]
}

for p in "${packages[@]}"; do
    if present "$p"; then
        die "$p is already installed on this machine; this test installs" \
            "and purges these packages and will not replace ones it did not" \
            "install: remove them first (dpkg -P ${packages[*]})"
    fi
done

# The files the packages could leave behind, by name, anywhere in /usr.
ours() {
    find /usr \( -name '*autoawait*' -o -name 'aa-shell*' -o -name 'aa-kernel*' \
        -o -name 'aa_runner_*' \) \
        -print 2>/dev/null | sort
}

work=$build/package
rm -rf "$work"
mkdir -p "$work"
start=$SECONDS
if ! "$src/scripts/package.sh" --build-dir "$work/build" --out "$work/debs" \
    -DAA_WERROR=ON -DCMAKE_C_COMPILER="$cc" >"$work/package.log" 2>&1; then
    tail -n 60 "$work/package.log" >&2
    die "scripts/package.sh failed (the whole log: $work/package.log)"
fi
grep '^package.sh: ' "$work/package.log" || true
ok "packages built in $((SECONDS - start)) s"

debs=()
for p in "${packages[@]}"; do
    found=("$work/debs/${p}_"*.deb)
    [[ -f ${found[0]} ]] || die "scripts/package.sh made no $p package"
    debs+=("${found[0]}")
done
all=("$work/debs/"*.deb)
((${#all[@]} == ${#packages[@]})) ||
    fail "scripts/package.sh made other packages too: ${all[*]##*/}"

# Every path the packages hold, to find the runner and the multiarch folder.
for deb in "${debs[@]}"; do
    dpkg-deb --fsys-tarfile "$deb" | tar -t
done | sed 's|^\./|/|; s|/$||' | grep -v '^$' | sort -u >"$work/paths"
runner=$(grep '/autoawait/runners/aa_runner_asyncio\.so$' "$work/paths") ||
    die "no asyncio runner in the packages"
ours >"$work/before"

installed=0
cleanup() {
    if ((installed)); then
        dpkg -P "${packages[@]}" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# --------------------------------------------------------------- install
installed=1
start=$SECONDS
if ! dpkg -i "${debs[@]}" >"$work/install.log" 2>&1; then
    cat "$work/install.log" >&2
    die "dpkg -i ${debs[*]##*/}"
fi
for p in "${packages[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$p") == ii* ]] ||
        fail "$p is not installed and configured after dpkg -i"
done
ok "installed ${packages[*]} in $((SECONDS - start)) s"

# What follows must use the installed packages only.
unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR LD_LIBRARY_PATH AA_RUNNER_PATH
unset CMAKE_PREFIX_PATH

# ------------------------------------------------------------ pkg-config
version=$(dpkg-deb -f "${debs[0]}" Version)
# Beside -lautoawait, only the -I of the CPython the library embeds
# (Requires.private: python3-embed): the packages' own folders are the
# system's.
read -r -a words <<<"$(pkg-config --cflags python3-embed) -lautoawait"
want=${words[*]}
python_mm=$(pkg-config --modversion python3-embed)
if ! flags=$(pkg-config --cflags --libs autoawait); then
    fail "pkg-config finds no autoawait in the system's folders"
elif read -r -a words <<<"$flags" && flags=${words[*]} && [[ $flags != "$want" ]]; then
    # -I/-L of the system's own folders, spelled so that pkg-config does
    # not recognise them, would put them ahead of the host's other folders.
    fail "pkg-config --cflags --libs autoawait gives '$flags', not '$want'"
elif [[ $(pkg-config --modversion autoawait) != "$version" ]]; then
    fail "pkg-config says version $(pkg-config --modversion autoawait), the package $version"
elif [[ $(pkg-config --variable=python_version autoawait) != "$python_mm" ]]; then
    fail "autoawait.pc's python_version is" \
        "'$(pkg-config --variable=python_version autoawait)', not $python_mm"
elif ! static=$(pkg-config --static --libs autoawait) ||
    [[ " $static " != *" -lpython$python_mm "* ]]; then
    fail "pkg-config --static --libs autoawait gives '$static', no -lpython$python_mm"
else
    ok "pkg-config --cflags --libs autoawait: $flags; --static --libs: $static"
fi

# ----------------------------------------------- the README's embedding
# The first C block after the "## Embedding" heading is host.c; the line of
# the next sh block that builds host.c is the build command.
readme=$src/README.md
mkdir -p "$work/readme"
awk '/^## Embedding/ { on = 1; next }
     on && /^## / { exit }
     on && !code && /^```c$/ { code = 1; next }
     code && /^```$/ { exit }
     code { print }' "$readme" >"$work/readme/host.c"
build_line=$(awk '/^## Embedding/ { on = 1; next }
     on && /^## / { exit }
     on && /^```sh$/ { sh = 1; next }
     sh && /^```$/ { sh = 0 }
     sh && /host\.c/ { print; exit }' "$readme")
if [[ ! -s $work/readme/host.c ]] || ! grep -q 'aa_session_new' "$work/readme/host.c"; then
    fail "no host.c found in README.md's Embedding section"
elif [[ -z $build_line ]]; then
    fail "no command that builds host.c in README.md's Embedding section"
elif ! (cd "$work/readme" && bash -euc "$build_line") >"$work/readme/cc.log" 2>&1; then
    cat "$work/readme/cc.log" >&2
    fail "the README's '$build_line' fails against the installed package"
else
    exe=$(cd "$work/readme" && find . -maxdepth 1 -type f -perm -u+x -printf '%f\n' | head -n 1)
    lib=$(cd "$work/readme" && LD_TRACE_LOADED_OBJECTS=1 "./$exe" |
        sed -n 's/^\s*libautoawait\.so\.[0-9]* => \(\S*\) .*/\1/p')
    if ! out=$(cd "$work/readme" && "./$exe" 2>&1); then
        fail "the README's host failed: $out"
    elif [[ $out != 42 ]]; then
        fail "the README's host printed '$out', not 42"
    elif [[ -z $lib ]] || ! owner=$(dpkg -S "$(realpath "$lib")" 2>/dev/null) ||
        [[ ${owner%%:*} != libautoawait0 ]]; then
        fail "the README's host did not load libautoawait0's library: '$lib'"
    else
        ok "the README's host ($build_line) prints $out, with $(realpath "$lib")"
    fi
fi

# ---------------------------------------------------------------- docs
# The guides and the templates are in the -dev package's doc folder.
devdoc=/usr/share/doc/libautoawait-dev
for f in README.md docs/embedding.md docs/api.md docs/runner-plugins.md \
    docs/host-functions.md docs/kernel.md examples/hello.c examples/runner-plugin/README.md; do
    if [[ $(dpkg -S "$devdoc/$f" 2>/dev/null) != "libautoawait-dev: $devdoc/$f" ]]; then
        fail "$devdoc/$f is not in libautoawait-dev"
    fi
done
ok "the docs and the templates are in $devdoc"

# --------------------------------------------------------- CMake package
if cmake -S "$src/tests/install/cmake" -B "$work/cmake" -DCMAKE_C_COMPILER="$cc" \
    >"$work/cmake.log" 2>&1 && cmake --build "$work/cmake" >>"$work/cmake.log" 2>&1; then
    dir=$(sed -n 's/^autoawait_DIR:PATH=//p' "$work/cmake/CMakeCache.txt")
    if ! out=$("$work/cmake/hello" 2>&1) || [[ $out != 42 ]]; then
        fail "the CMake package's host printed '$out'"
    elif [[ $dir != /usr/* ]]; then
        fail "find_package(autoawait) found $dir, not the installed package"
    else
        ok "find_package(autoawait) finds $dir; its host prints $out"
    fi
else
    cat "$work/cmake.log" >&2
    fail "tests/install/cmake does not build against the installed package"
fi

# ----------------------------------------------------- a runner plugin
# The loop-factory template, from the -dev package's doc folder, built
# against the installed packages with the runner SDK (CMake, and make with
# pkg-config) and run by the installed aa-shell.
cell=$'import asyncio\nloop = asyncio.get_running_loop()\nawait asyncio.sleep(0)\nisinstance(loop, asyncio.SelectorEventLoop) and loop.get_debug()'
for kind in cmake make; do
    dir=$work/selector-$kind
    rm -rf "$dir"
    cp -R "$devdoc/examples/runner-plugin/selector" "$dir"
    if [[ $kind == cmake ]]; then
        so=$dir/build/aa_runner_selector.so
        cmake -S "$dir" -B "$dir/build" -DCMAKE_C_COMPILER="$cc" >"$dir.log" 2>&1 &&
            cmake --build "$dir/build" >>"$dir.log" 2>&1
    else
        so=$dir/aa_runner_selector.so
        make -C "$dir" CC="$cc" >"$dir.log" 2>&1
    fi || { cat "$dir.log" >&2; fail "the selector template does not build with $kind"; continue; }
    mkdir -p "$dir/runners"
    cp "$so" "$dir/runners/"
    if out=$(AA_RUNNER_PATH=$dir/runners /usr/bin/aa-shell --runner selector -c "$cell" 2>&1) &&
        [[ $out == "Out[1]: True" ]]; then
        ok "the selector template builds with $kind against the packages and runs"
    else
        fail "the selector template built with $kind: aa-shell printed '$out'"
    fi
done

# -------------------------------------------------------------- aa-shell
# mapped NAME: a cell's expression naming the file NAME was mapped from.
mapped() {
    printf '[l.split()[-1] for l in open("/proc/self/maps") if "%s" in l][0]' "$1"
}
shell=/usr/bin/aa-shell
if [[ $(dpkg -S "$shell" 2>/dev/null) != "aa-shell: $shell" ]]; then
    fail "$shell does not come from the aa-shell package"
else
    if ! out=$("$shell" -c 'await __import__("asyncio").sleep(0, result=42)' 2>&1); then
        fail "aa-shell -c failed: $out"
    elif [[ $out != "Out[1]: 42" ]]; then
        fail "aa-shell -c printed '$out', not Out[1]: 42"
    else
        ok "aa-shell -c 'await __import__(\"asyncio\").sleep(0, result=42)': $out"
    fi
    want="Out[1]: '$runner'"
    if ! out=$("$shell" -c "import asyncio; await asyncio.sleep(0); $(mapped aa_runner_asyncio)" 2>&1) ||
        [[ $out != "$want" ]]; then
        fail "aa-shell's asyncio runner: want $want, got: $out"
    else
        ok "the asyncio runner comes from $runner"
    fi
    if /usr/bin/python3 -c 'import trio' 2>/dev/null; then
        if ! out=$("$shell" --runner trio -c 'import trio; await trio.sleep(0); 6 * 7' 2>&1) ||
            [[ $out != "Out[1]: 42" ]]; then
            fail "aa-shell --runner trio printed '$out', not Out[1]: 42"
        else
            ok "aa-shell --runner trio runs a trio cell"
        fi
    else
        echo "note: trio is not importable (python3-trio): its runner not tried"
    fi
    if command -v man >/dev/null; then
        page=$(man -w aa-shell 2>/dev/null || true)
        if [[ $page == /usr/share/man/man1/aa-shell.1.gz ]]; then
            ok "man aa-shell: $page"
        else
            fail "man -w aa-shell gives '$page'"
        fi
    fi
fi

# ------------------------------------------------------- aa-runner-check
# In the aa-shell package with the console; its cases are compiled in.
check=/usr/bin/aa-runner-check
if [[ $(dpkg -S "$check" 2>/dev/null) != "aa-shell: $check" ]]; then
    fail "$check does not come from the aa-shell package"
elif ! out=$(cd / && "$check" asyncio 2>&1); then
    fail "aa-runner-check asyncio failed:"$'\n'"$out"
elif [[ $(tail -n 1 <<<"$out") =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]; then
    ok "aa-runner-check asyncio: $(tail -n 1 <<<"$out")"
else
    fail "aa-runner-check asyncio printed:"$'\n'"$out"
fi

# ------------------------------------------------------------- the kernel
# libautoawait-kernel0 has the library, aa-kernel the program, its man page
# and the kernelspec that Jupyter finds in /usr/share/jupyter; a host that
# serves a session builds against libautoawait-dev (autoawait-kernel.pc,
# the CMake package's autoawait::kernel).
akernel=/usr/bin/aa-kernel
kspec=/usr/share/jupyter/kernels/autoawait/kernel.json
klib=$(grep '/libautoawait-kernel\.so\.0$' "$work/paths") ||
    die "no libautoawait-kernel.so.0 in the packages"
if [[ $(dpkg -S "$akernel" 2>/dev/null) != "aa-kernel: $akernel" ]]; then
    fail "$akernel does not come from the aa-kernel package"
elif [[ $(dpkg -S "$klib" 2>/dev/null) != "libautoawait-kernel0: $klib" ]]; then
    fail "$klib does not come from the libautoawait-kernel0 package"
elif [[ $(dpkg -S "$kspec" 2>/dev/null) != "aa-kernel: $kspec" ]]; then
    fail "$kspec does not come from the aa-kernel package"
elif ! out=$("$akernel" --version 2>&1) || [[ $out != "aa-kernel $version" ]]; then
    fail "aa-kernel --version printed '$out', not 'aa-kernel $version'"
else
    ok "aa-kernel --version: $out"
    # The packaged kernelspec, written when the packages were built, is the
    # one the installed program writes itself.
    if ! out=$("$akernel" --install --prefix "$work/kspec" 2>&1); then
        fail "aa-kernel --install --prefix failed: $out"
    elif ! diff=$(/usr/bin/python3 - "$kspec" "$out" <<'PY' 2>&1
import json, sys
packaged, written = (json.load(open(f)) for f in sys.argv[1:])
if packaged != written:
    sys.exit("packaged %r, aa-kernel writes %r" % (packaged, written))
if packaged["argv"][0] != "/usr/bin/aa-kernel":
    sys.exit("argv[0] is %r" % packaged["argv"][0])
PY
    ); then
        fail "the packaged kernelspec: $diff"
    else
        ok "$kspec runs $akernel, as aa-kernel --install writes it"
    fi
    # Jupyter's own list, with no user's kernels in the way.
    if [[ -x /usr/bin/jupyter ]] && /usr/bin/jupyter kernelspec --help >/dev/null 2>&1; then
        if ! list=$(env -u JUPYTER_PATH JUPYTER_DATA_DIR="$work/jupyter-data" \
            /usr/bin/jupyter kernelspec list 2>&1); then
            fail "jupyter kernelspec list failed: $list"
        elif grep -Eq '^ *autoawait +/usr/share/jupyter/kernels/autoawait$' <<<"$list"; then
            ok "jupyter kernelspec list: autoawait at /usr/share/jupyter/kernels/autoawait"
        else
            fail "jupyter kernelspec list does not show autoawait in" \
                "/usr/share/jupyter/kernels/autoawait (one in /usr/local/share/jupyter," \
                "from aa-kernel --install as root, comes first):"$'\n'"$list"
        fi
    else
        echo "note: no /usr/bin/jupyter kernelspec (Debian: jupyter-core):" \
            "Jupyter's kernelspec list not tried"
    fi
    if command -v man >/dev/null; then
        page=$(man -w aa-kernel 2>/dev/null || true)
        [[ $page == /usr/share/man/man1/aa-kernel.1.gz ]] ||
            fail "man -w aa-kernel gives '$page'"
    fi
fi
kwork=$work/kernel-host
mkdir -p "$kwork"
kernel_host() {
    local what=$1 exe=$2 out
    rm -f "$kwork/conn.json"
    if ! out=$("$exe" "$kwork/conn.json" 2>&1) || [[ $out != "$kwork/conn.json 600" ]]; then
        fail "$what: the kernel host printed '$out', not '$kwork/conn.json 600'"
    else
        ok "$what serves a session: connection file written 0600"
    fi
}
# shellcheck disable=SC2046 # flags are words
if "$cc" -std=c11 -Wall -Wextra -Werror "$src/tests/install/kernel.c" \
    $(pkg-config --cflags --libs autoawait-kernel) -o "$kwork/kernel-pc" \
    >"$kwork/pc.log" 2>&1; then
    kernel_host "a host built with pkg-config autoawait-kernel" "$kwork/kernel-pc"
else
    cat "$kwork/pc.log" >&2
    fail "tests/install/kernel.c does not build with pkg-config autoawait-kernel"
fi
if cmake -S "$src/tests/install/kernel" -B "$kwork/cmake" -DCMAKE_C_COMPILER="$cc" \
    >"$kwork/cmake.log" 2>&1 && cmake --build "$kwork/cmake" >>"$kwork/cmake.log" 2>&1; then
    kernel_host "a host built with autoawait::kernel" "$kwork/cmake/kernel-host"
else
    cat "$kwork/cmake.log" >&2
    fail "tests/install/kernel does not build against the installed CMake package"
fi

# ------------------------------------------- the build tree is unshadowed
# The other tests use the build tree; with the packages installed, its
# programs must still load its own library.
if [[ -x $build/bin/aa-shell ]]; then
    want="Out[1]: '$(realpath "$build/lib/libautoawait.so.0")'"
    if ! out=$(env -u ASAN_OPTIONS "$build/bin/aa-shell" -c "$(mapped libautoawait.so)" 2>&1) ||
        [[ $out != "$want" ]]; then
        fail "with the packages installed, the build tree's aa-shell: want $want, got: $out"
    else
        ok "the build tree's aa-shell still loads the build tree's library"
    fi
fi

# ----------------------------------------------------------------- purge
start=$SECONDS
if ! dpkg -P "${packages[@]}" >"$work/purge.log" 2>&1; then
    cat "$work/purge.log" >&2
    die "dpkg -P ${packages[*]}"
fi
installed=0
for p in "${packages[@]}"; do
    if present "$p"; then
        fail "$p is still known to dpkg after dpkg -P"
    fi
done
ours >"$work/after"
left=$(comm -13 "$work/before" "$work/after")
if [[ -n $left ]]; then
    fail "left under /usr after dpkg -P:"$'\n'"$left"
fi
if ldconfig -p | grep -q 'libautoawait\.so'; then
    fail "libautoawait is still in the dynamic loader's cache after dpkg -P"
fi
if [[ -z $left ]]; then
    ok "purged in $((SECONDS - start)) s; nothing of the packages is left under /usr"
fi

if ((failures)); then
    echo "$failures package check(s) failed" >&2
    exit 1
fi
echo "package test passed"
