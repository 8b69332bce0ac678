#!/usr/bin/env bash
# run.sh BUILD-DIR [CC [MAJOR]] -- the install test.
#
# Installs BUILD-DIR with `cmake --install --prefix` into a scratch folder
# (staged through DESTDIR, so that a file installed outside the prefix is
# caught instead of landing on the system), then checks the installed tree
# as a host would use it: headers, the library's SONAME and exported
# symbols, the RUNPATH of every installed program and library, the runner
# plugin, aa-shell, aa-runner-check, embed-host, outside programs built
# through pkg-config and through the CMake package, and the template runner
# plugin (examples/runner-plugin) built out of tree against the prefix.
set -euo pipefail

build=$(cd "$1" && pwd)
cc=${2:-cc}
major=${3:-0}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)

# The scratch folder is in the build tree, whose folders the loader trusts
# wherever the checkout is (a folder of mktemp's straight in /tmp would do
# too, but a checkout's own tree is the one case every machine has).
# (tests/elf/CMakeLists.txt leaves install-scratch.* out of its scan.)
tmp=$(mktemp -d "$build/tests/install-scratch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
stage=$tmp/stage
. "$(dirname "${BASH_SOURCE[0]}")/../checks.sh"


# --------------------------------------------------------------- install
DESTDIR=$stage cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" ||
    { cat "$tmp/install.log" >&2; echo "FAIL: cmake --install" >&2; exit 1; }
outside=$(cd "$stage" && find . ! -type d ! -path ".$prefix/*")
if [[ -n $outside ]]; then
    fail "installed outside the --prefix (absolute DESTINATION?):" \
        $'\n'"$(sed 's|^\.|    |' <<<"$outside")"
fi
mkdir -p "$(dirname "$prefix")"
mv "$stage$prefix" "$prefix"

# No installed program or library may search the current directory or a
# folder relative to it for libraries (tests/elf/runpath.sh says why).
if out=$("$src/tests/elf/runpath.sh" "$prefix" 2>&1); then
    ok "RUNPATH: ${out#ok: }"
else
    fail "RUNPATH of the installed files:"$'\n'"$out"
fi

lib=$(find "$prefix" -name "libautoawait.so.$major" | head -n 1)
if [[ -z $lib ]]; then
    echo "FAIL: no libautoawait.so.$major under $prefix" >&2
    exit 1
fi
libdir=$(dirname "$lib")
ok "library installed in ${libdir#"$prefix"/}"

# ---------------------------------------------------------- the library
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $soname == "libautoawait.so.$major" ]] ||
    fail "SONAME is '$soname', not libautoawait.so.$major"
[[ -L $libdir/libautoawait.so && -e $libdir/libautoawait.so ]] ||
    fail "no libautoawait.so link for the linker"

# Exported: exactly the functions the installed headers declare with AA_API.
nm -D --defined-only "$lib" | awk '{ print $NF }' | sort -u >"$tmp/exported"
aa_api_declared "$prefix"/include/autoawait/*.h >"$tmp/declared"
stray=$(grep -v '^aa_[a-z0-9]' "$tmp/exported" || true)
extra=$(comm -23 "$tmp/exported" "$tmp/declared")
absent=$(comm -13 "$tmp/exported" "$tmp/declared")
if [[ -n $stray ]]; then
    fail "exported symbols besides aa_*:" "${stray//$'\n'/ }"
elif [[ -n $extra ]]; then
    fail "exported but declared in no public header:" "${extra//$'\n'/ }"
elif [[ -n $absent ]]; then
    fail "declared AA_API but not exported:" "${absent//$'\n'/ }"
else
    ok "$(wc -l <"$tmp/exported") symbols exported, exactly the AA_API ones"
fi

runner=$libdir/autoawait/runners/aa_runner_asyncio.so
if [[ -f $runner ]]; then
    nm -D --defined-only "$runner" | grep -qw aa_runner_entry ||
        fail "$runner does not export aa_runner_entry"
    ok "asyncio runner installed"
else
    fail "no runner at ${runner#"$prefix"/}"
fi

# ---------------------------------------------------------- the headers
cflags=(-Wall -Wextra -Wpedantic -Werror -I"$prefix/include" -fsyntax-only)
printf '#include <autoawait/autoawait.h>\n#include <autoawait/runner.h>\n' \
    >"$tmp/headers.c"
"$cc" -std=c99 "${cflags[@]}" "$tmp/headers.c" ||
    fail "the public headers do not compile as C99 on their own"
if command -v c++ >/dev/null; then
    c++ -std=c++11 "${cflags[@]}" -x c++ "$tmp/headers.c" ||
        fail "the public headers do not compile as C++11"
fi

# A host built against an instrumented library needs the sanitizer runtime;
# the interpreter keeps memory until exit, which is not a leak of ours.
sanitize=()
if readelf -d "$lib" | grep -q 'NEEDED.*libasan'; then
    sanitize=("-fsanitize=address,undefined")
    export ASAN_OPTIONS=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}
fi

# Plugins must come from the prefix, found beside the installed library.
unset AA_RUNNER_PATH

# ----------------------------------------------------------- pkg-config
export PKG_CONFIG_PATH=$libdir/pkgconfig
if flags=$(pkg-config --cflags --libs autoawait); then
    for f in $flags; do
        case $f in
        -I* | -L*)
            [[ ${f:2} == "$prefix"/* ]] ||
                fail "autoawait.pc gives $f, outside the prefix $prefix" ;;
        esac
    done
    # shellcheck disable=SC2086 # flags are words
    if "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror "${sanitize[@]}" \
        "$here/hello.c" $flags -Wl,-rpath,"$libdir" -o "$tmp/hello-pc"; then
        if out=$("$tmp/hello-pc") && [[ $out == 42 ]]; then
            ok "pkg-config host prints $out"
        else
            fail "pkg-config host: printed '$out'"
        fi
    else
        fail "hello.c does not build with pkg-config's flags: $flags"
    fi
    # shellcheck disable=SC2086
    if "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror "${sanitize[@]}" \
        "$src/examples/embed-host/hello.c" $flags -Wl,-rpath,"$libdir" \
        -o "$tmp/embed-host"; then
        if ! out=$("$tmp/embed-host"); then
            fail "examples/embed-host/hello failed"
        elif grep -q "^hello from __main__" <<<"$out" &&
            grep -q "^=> 'done' (async)" <<<"$out"; then
            ok "examples/embed-host builds and runs"
        else
            fail "examples/embed-host/hello printed: $out"
        fi
    else
        fail "examples/embed-host/hello.c does not build with pkg-config's flags"
    fi
else
    fail "pkg-config finds no autoawait in $PKG_CONFIG_PATH"
fi

# -------------------------------------------------------- CMake package
if cmake -S "$here/cmake" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="${sanitize[*]}" \
    >"$tmp/cmake.log" 2>&1 &&
    cmake --build "$tmp/cmake-build" >>"$tmp/cmake.log" 2>&1; then
    if out=$("$tmp/cmake-build/hello") && [[ $out == 42 ]]; then
        ok "CMake package host prints $out"
    else
        fail "CMake package host: printed '$out'"
    fi
else
    cat "$tmp/cmake.log" >&2
    fail "the CMake package does not build tests/install/cmake"
fi

# --------------------------------------------------------------- aa-shell
shell=$prefix/bin/aa-shell
if [[ -x $shell ]]; then
    if ! out=$("$shell" -c $'import asyncio\nawait asyncio.sleep(0, result=7)'); then
        fail "installed aa-shell failed"
    elif [[ $out != "Out[1]: 7" ]]; then
        fail "installed aa-shell printed '$out'"
    else
        ok "installed aa-shell runs"
    fi
else
    fail "no aa-shell in ${shell#"$prefix"/}"
fi

# -------------------------------------------------------- aa-runner-check
# The conformance cases are compiled in: run from a folder with no case
# file, the installed tool checks the installed asyncio runner.
check=$prefix/bin/aa-runner-check
if [[ -x $check ]]; then
    if ! out=$(cd "$tmp" && "$check" asyncio 2>&1); then
        fail "installed aa-runner-check asyncio failed:"$'\n'"$out"
    elif [[ $(tail -n 1 <<<"$out") =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]; then
        ok "installed aa-runner-check asyncio: $(tail -n 1 <<<"$out")"
    else
        fail "installed aa-runner-check asyncio printed:"$'\n'"$out"
    fi
else
    fail "no aa-runner-check in ${check#"$prefix"/}"
fi

# ------------------------------------------------------------ embed-host
# The example host with its own loop: an asyncio await (the installed
# runner plugin) keeps its timer ticking.
embed=$prefix/bin/embed-host
if [[ -x $embed ]]; then
    if ! out=$("$embed" -c 'import asyncio; await asyncio.sleep(0.3); "slept"' \
        </dev/null); then
        fail "installed embed-host failed: $out"
    elif grep -q "^Out\[1\]: 'slept'$" <<<"$out" &&
        grep -Eq '^\[host\] cell 1: [0-9.]+ s, [1-9][0-9]* ticks' <<<"$out"; then
        ok "installed embed-host awaits in its own loop"
    else
        fail "installed embed-host printed: $out"
    fi
else
    fail "no embed-host in ${embed#"$prefix"/}"
fi

# ---------------------------------------------- a plugin built outside
# examples/runner-plugin copied out of the source tree, as a plugin author
# starts, and built against the prefix with pkg-config alone (the
# PKG_CONFIG_PATH set above).  Its runner runs each cell in a fresh loop.
plugin_src=$tmp/plugin-src
cp -R "$src/examples/runner-plugin" "$plugin_src"
plugin_cell=$'import asyncio\nawait asyncio.sleep(0.01, result=6 * 7)'

# run_plugin WHAT [ENV...]: runs the cell with --runner simple, expects 42.
run_plugin() {
    local what=$1 out
    shift
    if out=$(env "$@" "$shell" --runner simple -c "$plugin_cell" 2>&1) &&
        [[ $out == "Out[1]: 42" ]]; then
        ok "$what"
    else
        fail "$what: aa-shell printed '$out'"
    fi
}

# libpython FILE: the libpython FILE needs, by its SONAME.
libpython() {
    readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(libpython[^]]*\)\]/\1/p'
}

# check_plugin FILE: exports the entry and nothing else, and links the
# libpython the library links (the CPython autoawait.pc names): one process
# has one CPython.
check_plugin() {
    local syms
    syms=$(nm -D --defined-only "$1" | awk '{ print $NF }' | sort -u)
    [[ $syms == aa_runner_entry ]] ||
        fail "$1 exports '${syms//$'\n'/ }', not just aa_runner_entry"
    [[ $(libpython "$1") == "$(libpython "$lib")" ]] ||
        fail "$1 links '$(libpython "$1")', the library '$(libpython "$lib")'"
}

if cmake -S "$plugin_src" -B "$tmp/plugin-build" -DCMAKE_C_COMPILER="$cc" \
    >"$tmp/plugin.log" 2>&1 &&
    cmake --build "$tmp/plugin-build" >>"$tmp/plugin.log" 2>&1; then
    built=$tmp/plugin-build/aa_runner_simple.so
    check_plugin "$built"
    mkdir -p "$tmp/runners"
    cp "$built" "$tmp/runners/"
    run_plugin "the template plugin (CMake) runs a cell from AA_RUNNER_PATH" \
        AA_RUNNER_PATH="$tmp/runners"
    # The current directory is never searched, nor is a relative folder.
    if out=$(cd "$tmp/runners" && AA_RUNNER_PATH=. "$shell" --runner simple \
        -c 1 2>&1); then
        fail "a plugin was loaded from a relative AA_RUNNER_PATH: $out"
    elif grep -q "no runner 'simple'" <<<"$out"; then
        ok "a relative AA_RUNNER_PATH and the current directory are ignored"
    else
        fail "relative AA_RUNNER_PATH: aa-shell said '$out'"
    fi
    # Its install rule puts it in autoawait.pc's runnerdir, where the
    # library finds it with no AA_RUNNER_PATH.
    if cmake --install "$tmp/plugin-build" >>"$tmp/plugin.log" 2>&1 &&
        [[ -f $libdir/autoawait/runners/aa_runner_simple.so ]]; then
        run_plugin "the template installs into runnerdir and is found there"
        rm -f "$libdir/autoawait/runners/aa_runner_simple.so"
    else
        cat "$tmp/plugin.log" >&2
        fail "the template's install rule did not reach runnerdir"
    fi
else
    cat "$tmp/plugin.log" >&2
    fail "examples/runner-plugin does not build out of tree with CMake"
fi

if command -v make >/dev/null; then
    if make -C "$plugin_src" CC="$cc" >"$tmp/make.log" 2>&1; then
        check_plugin "$plugin_src/aa_runner_simple.so"
        mkdir -p "$tmp/runners-make"
        cp "$plugin_src/aa_runner_simple.so" "$tmp/runners-make/"
        run_plugin "the template plugin (Makefile) runs a cell" \
            AA_RUNNER_PATH="$tmp/runners-make"
    else
        cat "$tmp/make.log" >&2
        fail "examples/runner-plugin does not build with its Makefile"
    fi
fi

if ((failures)); then
    echo "$failures install check(s) failed" >&2
    exit 1
fi
echo "install test passed"
