#!/usr/bin/env bash
# run.sh BUILD-DIR [CC [MAJOR]] -- the install test.
#
# Installs BUILD-DIR with `cmake --install --prefix` into a scratch folder
# (staged through DESTDIR, so that a file installed outside the prefix is
# caught instead of landing on the system), then checks the installed tree
# as a host would use it: headers, the library's SONAME and exported
# symbols, the RUNPATH of every installed program and library, the runner
# plugin, the docs, aa-shell, aa-runner-check, embed-host, outside programs
# built through pkg-config and through the CMake package, and the runner
# plugin templates (examples/runner-plugin, installed with the docs) built
# out of tree against the prefix alone, with the runner SDK, CMake and make.
# When the build has the Jupyter kernel (AA_KERNEL_BUILT=1 in the
# environment, which tests/install/CMakeLists.txt sets): libautoawait-kernel,
# its docs, a host serving a session built through autoawait-kernel.pc and
# autoawait::kernel (kernel.c), and aa-kernel's kernelspec.
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

# Exported: exactly the functions the installed headers declare with AA_API
# (kernel.h's are libautoawait-kernel's).
nm -D --defined-only "$lib" | awk '{ print $NF }' | sort -u >"$tmp/exported"
aa_library_declared "$prefix"/include/autoawait >"$tmp/declared"
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

# ------------------------------------------------------------- the docs
# What a user of the install reads, in the prefix's doc folder, laid out as
# in the sources so that their links hold: README.md, docs/, and the
# runner plugin templates.
docdir=$prefix/share/doc/autoawait
missing=()
for f in README.md docs/embedding.md docs/api.md docs/runner-plugins.md \
    docs/host-functions.md docs/aa-shell.md docs/python-module.md \
    docs/python-versions.md docs/packaging.md docs/aa-runner-check.md \
    examples/hello.c examples/runner-plugin/README.md; do
    [[ -f $docdir/$f ]] || missing+=("$f")
done
if ((${#missing[@]})); then
    fail "not installed in ${docdir#"$prefix"/}: ${missing[*]}"
else
    ok "the docs and the templates are installed in ${docdir#"$prefix"/}"
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
# autoawait.pc requires the CPython the library embeds, by its module name:
# when python_pc is the path of a .pc file (a CPython of pyenv's), its
# folder goes on PKG_CONFIG_PATH, as docs/python-versions.md says.
python_pc=$(pkg-config --variable=python_pc autoawait || true)
if [[ $python_pc == */*.pc ]]; then
    PKG_CONFIG_PATH=$PKG_CONFIG_PATH:$(dirname "$python_pc")
fi
module=${python_pc##*/}
module=${module%.pc}
# Its -I (Python.h, which a host does not need but gets) is all that may
# lie outside the prefix.
python_cflags=" $(pkg-config --cflags "$module" || true) "
if flags=$(pkg-config --cflags --libs autoawait); then
    for f in $flags; do
        case $f in
        -I* | -L*)
            [[ ${f:2} == "$prefix"/* || $python_cflags == *" $f "* ]] ||
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

# ------------------------------------------- the CPython autoawait.pc names
# libpython FILE: the libpython FILE needs, by its SONAME.
libpython() {
    readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(libpython[^]]*\)\]/\1/p'
}
# The library's CPython, major.minor, from the libpython it links.
python_mm=$(libpython "$lib" | sed -n 's/^libpython\([0-9]*\.[0-9]*\).*/\1/p')
pc_version=$(pkg-config --variable=python_version autoawait || true)
if [[ -z $python_mm ]]; then
    fail "the library links no libpython3.X: $(libpython "$lib")"
elif [[ $pc_version != "$python_mm" ]]; then
    fail "autoawait.pc says python_version='$pc_version', the library links CPython $python_mm"
else
    ok "autoawait.pc: python_version=$pc_version, the library's CPython"
fi
# Requires.private names that CPython's module (the name of the .pc file
# when python_pc is a path), so that --static links libpython too.
required=$(pkg-config --print-requires-private autoawait || true)
if [[ -z $python_pc ]]; then
    fail "autoawait.pc has no python_pc"
elif ! grep -Eq "^$module( = $python_mm)?\$" <<<"$required"; then
    fail "autoawait.pc's Requires.private is '$required', not $module"
elif ! static=$(pkg-config --static --libs autoawait); then
    fail "pkg-config --static --libs autoawait fails"
elif ! grep -Eq -- "(^| )-lpython$python_mm" <<<"$static"; then
    fail "pkg-config --static --libs autoawait gives '$static', no -lpython$python_mm"
else
    ok "autoawait.pc requires $module privately: --static gives $static"
fi
# autoawait-runner.pc, the runner SDK's, requires it too, publicly: a
# plugin links that CPython.
if [[ $(pkg-config --variable=python_version autoawait-runner || true) != "$python_mm" ]]; then
    fail "autoawait-runner.pc's python_version is not $python_mm"
elif ! grep -Eq "^$module = $python_mm\$" <<<"$(pkg-config --print-requires autoawait-runner)"; then
    fail "autoawait-runner.pc does not require $module = $python_mm"
elif ! sdk=$(pkg-config --libs autoawait-runner) ||
    [[ " $sdk " != *" -lautoawait-runner "*" -lpython$python_mm "* ]]; then
    fail "pkg-config --libs autoawait-runner gives '$sdk'"
elif [[ ! -f $libdir/libautoawait-runner.a ]]; then
    fail "no libautoawait-runner.a in ${libdir#"$prefix"/}"
else
    ok "autoawait-runner.pc: $sdk"
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

# ------------------------------------------------------------- the kernel
# libautoawait-kernel and aa-kernel, when the build has them (AA_BUILD_KERNEL:
# the install test's ctest entry says so in AA_KERNEL_BUILT): the library
# with its SONAME and only kernel.h's functions exported, its guide and
# man page, a host that serves a session built from the prefix alone
# (pkg-config's autoawait-kernel and the CMake package's autoawait::kernel),
# and the installed aa-kernel's kernelspec.
# kernel_host WHAT EXE: EXE serves a session with a connection file it
# writes, 0600, in a folder of its own.
kernel_host() {
    local what=$1 exe=$2 dir out
    dir=$(mktemp -d "$tmp/conn.XXXXXX")
    if ! out=$("$exe" "$dir/kernel.json" 2>&1); then
        fail "$what: the kernel host failed: $out"
    elif [[ $out != "$dir/kernel.json 600" ]]; then
        fail "$what: the kernel host printed '$out', not '$dir/kernel.json 600'"
    elif [[ ! -f $dir/kernel.json ]] || ! grep -q '"key"' "$dir/kernel.json"; then
        fail "$what: no connection file with a key at $dir/kernel.json"
    elif [[ $(stat -c %a "$dir/kernel.json") != 600 ]]; then
        fail "$what: the connection file's mode is $(stat -c %a "$dir/kernel.json")"
    else
        ok "$what: aa_kernel_start writes the connection file 0600; aa_kernel_stop"
    fi
}
if [[ ${AA_KERNEL_BUILT-} != 1 ]]; then
    echo "SKIP: the kernel is not built (AA_BUILD_KERNEL; libzmq, jansson," \
        "libcrypto): libautoawait-kernel, aa-kernel and autoawait-kernel.pc not checked"
else
    klib=$libdir/libautoawait-kernel.so.$major
    ksoname=$(readelf -d "$klib" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    if [[ ! -f $klib ]]; then
        fail "no libautoawait-kernel.so.$major in ${libdir#"$prefix"/}"
    elif [[ $ksoname != "libautoawait-kernel.so.$major" ]]; then
        fail "libautoawait-kernel's SONAME is '$ksoname'"
    elif [[ ! -L $libdir/libautoawait-kernel.so || ! -e $libdir/libautoawait-kernel.so ]]; then
        fail "no libautoawait-kernel.so link for the linker"
    else
        nm -D --defined-only "$klib" | awk '{ print $NF }' | sort -u >"$tmp/kexported"
        aa_api_declared "$prefix/include/autoawait/kernel.h" >"$tmp/kdeclared"
        if ! cmp -s "$tmp/kexported" "$tmp/kdeclared"; then
            fail "libautoawait-kernel exports other than kernel.h's AA_API functions:" \
                "$(diff "$tmp/kdeclared" "$tmp/kexported" | grep '^[<>]' | tr '\n' ' ')"
        else
            ok "libautoawait-kernel.so.$major: $(wc -l <"$tmp/kexported") symbols, kernel.h's"
        fi
    fi
    for f in "$docdir/docs/kernel.md" "$prefix/share/man/man1/aa-kernel.1"; do
        [[ -f $f ]] || fail "not installed: ${f#"$prefix"/}"
    done

    # pkg-config: autoawait-kernel requires autoawait; its flags point into
    # the prefix (but CPython's -I, from autoawait.pc).
    if ! kflags=$(pkg-config --cflags --libs autoawait-kernel); then
        fail "pkg-config finds no autoawait-kernel in $PKG_CONFIG_PATH"
    elif [[ $(pkg-config --modversion autoawait-kernel) != "$(pkg-config --modversion autoawait)" ]]; then
        fail "autoawait-kernel.pc's version is not autoawait.pc's"
    elif [[ " $kflags " != *" -lautoawait-kernel "* || " $kflags " != *" -lautoawait "* ]]; then
        fail "pkg-config --cflags --libs autoawait-kernel gives '$kflags'"
    else
        for f in $kflags; do
            case $f in
            -I* | -L*)
                [[ ${f:2} == "$prefix"/* || $python_cflags == *" $f "* ]] ||
                    fail "autoawait-kernel.pc gives $f, outside the prefix $prefix" ;;
            esac
        done
        # shellcheck disable=SC2086 # flags are words
        if "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror "${sanitize[@]}" \
            "$here/kernel.c" $kflags -Wl,-rpath,"$libdir" -o "$tmp/kernel-pc"; then
            kernel_host "pkg-config autoawait-kernel host" "$tmp/kernel-pc"
        else
            fail "tests/install/kernel.c does not build with pkg-config's flags: $kflags"
        fi
    fi

    # The CMake package: find_package(autoawait COMPONENTS kernel).
    if cmake -S "$here/kernel" -B "$tmp/kernel-cmake" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="${sanitize[*]}" \
        >"$tmp/kernel-cmake.log" 2>&1 &&
        cmake --build "$tmp/kernel-cmake" >>"$tmp/kernel-cmake.log" 2>&1; then
        kernel_host "CMake autoawait::kernel host" "$tmp/kernel-cmake/kernel-host"
    else
        cat "$tmp/kernel-cmake.log" >&2
        fail "the CMake package does not build tests/install/kernel (autoawait::kernel)"
    fi

    # aa-kernel: its version, and the kernelspec it writes names the
    # installed program.
    akernel=$prefix/bin/aa-kernel
    if [[ ! -x $akernel ]]; then
        fail "no aa-kernel in ${akernel#"$prefix"/}"
    elif [[ $("$akernel" --version 2>&1) != "aa-kernel $(pkg-config --modversion autoawait)" ]]; then
        fail "installed aa-kernel --version printed '$("$akernel" --version 2>&1)'"
    elif ! out=$("$akernel" --install --prefix "$tmp/kspec" 2>&1) ||
        [[ $out != "$tmp/kspec/share/jupyter/kernels/autoawait/kernel.json" ]]; then
        fail "installed aa-kernel --install --prefix printed '$out'"
    elif ! argv0=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["argv"][0])' \
        "$out" 2>&1) || [[ $argv0 != "$akernel" ]]; then
        fail "the installed aa-kernel's kernelspec has argv[0] '$argv0', not $akernel"
    else
        ok "installed aa-kernel --install --prefix: kernel.json runs $argv0"
    fi
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

# ------------------------------------------------ plugins built outside
# The templates of examples/runner-plugin, copied out of the prefix's doc
# folder as a plugin author starts, each built against the prefix alone:
# with CMake (the prefix the one CMAKE_PREFIX_PATH) and with its Makefile
# (pkg-config, the PKG_CONFIG_PATH set above), then run from a runner
# folder of the test's by the installed aa-shell or by cells.c, a host
# that is idle between cells.
templates=$docdir/examples/runner-plugin
plugin_cell=$'import asyncio\nawait asyncio.sleep(0.01, result=6 * 7)'

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

# build_cmake NAME: template NAME built with CMake in $tmp/NAME-cmake, its
# plugin copied to $tmp/runners-cmake.  Its log is $tmp/NAME-cmake.log.
build_cmake() {
    local name=$1 srcdir=$tmp/$1-cmake-src
    cp -R "$templates/$name" "$srcdir"
    if cmake -S "$srcdir" -B "$tmp/$name-cmake" -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/$name-cmake.log" 2>&1 &&
        cmake --build "$tmp/$name-cmake" >>"$tmp/$name-cmake.log" 2>&1 &&
        [[ -f $tmp/$name-cmake/aa_runner_$name.so ]]; then
        check_plugin "$tmp/$name-cmake/aa_runner_$name.so"
        mkdir -p "$tmp/runners-cmake"
        cp "$tmp/$name-cmake/aa_runner_$name.so" "$tmp/runners-cmake/"
    else
        cat "$tmp/$name-cmake.log" >&2
        fail "examples/runner-plugin/$name does not build with CMake"
        return 1
    fi
}

# build_make NAME: template NAME built with its Makefile, its plugin copied
# to $tmp/runners-make.
build_make() {
    local name=$1 srcdir=$tmp/$1-make-src
    cp -R "$templates/$name" "$srcdir"
    if make -C "$srcdir" CC="$cc" >"$tmp/$name-make.log" 2>&1; then
        check_plugin "$srcdir/aa_runner_$name.so"
        mkdir -p "$tmp/runners-make"
        cp "$srcdir/aa_runner_$name.so" "$tmp/runners-make/"
    else
        cat "$tmp/$name-make.log" >&2
        fail "examples/runner-plugin/$name does not build with its Makefile"
        return 1
    fi
}

# run_shell WHAT RUNNER CELL WANT [ENV...]: aa-shell -c CELL on RUNNER
# prints WANT.
run_shell() {
    local what=$1 runner=$2 cell=$3 want=$4 out
    shift 4
    if out=$(env "$@" "$shell" --runner "$runner" -c "$cell" 2>&1) &&
        [[ $out == "$want" ]]; then
        ok "$what"
    else
        fail "$what: aa-shell printed '$out', not '$want'"
    fi
}

# The cells of a runner whose loop lives across cells: a task made in the
# first runs while the host is idle (its result is there in the sync cell
# after), a cell's exception leaves the runner usable, and the task is
# awaited from a later cell.
across=(
    $'import asyncio\ndone = []\nasync def bg():\n    await asyncio.sleep(0.05)\n    done.append(1)\n    return 42\nt = asyncio.create_task(bg())\nawait asyncio.sleep(0)'
    @idle 'done' '1/0' 'await t')
across_want=$'Out: \nOut: [1]\nEXC: ZeroDivisionError: division by zero\nOut: 42'

# run_across WHAT RUNNER DIR: cells.c runs the cells above on RUNNER found
# in DIR.
run_across() {
    local what=$1 runner=$2 dir=$3 out
    if out=$(AA_RUNNER_PATH=$dir "$tmp/cells" "$runner" "${across[@]}" 2>&1) &&
        [[ $out == "$across_want" ]]; then
        ok "$what"
    else
        fail "$what: cells printed '$out', not '$across_want'"
    fi
}

# run_check WHAT RUNNER DIR: the installed aa-runner-check passes every
# case that applies to RUNNER, of the asyncio family, found in DIR.
run_check() {
    local what=$1 runner=$2 dir=$3 out
    if out=$(AA_RUNNER_PATH=$dir "$check" --like asyncio "$runner" 2>&1) &&
        [[ $(tail -n 1 <<<"$out") =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]; then
        ok "$what: $(tail -n 1 <<<"$out")"
    else
        fail "$what:"$'\n'"$out"
    fi
}

# shellcheck disable=SC2086 # flags are words
if ! "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror "${sanitize[@]}" \
    "$here/cells.c" $flags -Wl,-rpath,"$libdir" -o "$tmp/cells"; then
    fail "tests/install/cells.c does not build with pkg-config's flags"
fi

# The loop-factory template is the issue's promise: a runner in under 40
# lines, C and build file together.
lines=$(cat "$templates/selector/selector.c" "$templates/selector/CMakeLists.txt" | wc -l)
if ((lines < 40)); then
    ok "the loop-factory template is $lines lines of C and CMakeLists.txt"
else
    fail "the loop-factory template is $lines lines of C and CMakeLists.txt, not under 40"
fi

selector_cell=$'import asyncio\nloop = asyncio.get_running_loop()\nawait asyncio.sleep(0.01)\nisinstance(loop, asyncio.SelectorEventLoop) and loop.get_debug()'
for kind in cmake make; do
    runners=$tmp/runners-$kind
    if build_$kind selector; then
        run_shell "selector ($kind) runs a cell on its loop, in debug mode" \
            selector "$selector_cell" "Out[1]: True" AA_RUNNER_PATH="$runners"
        run_across "selector ($kind): tasks live across cells and idle time" \
            selector "$runners"
        [[ $kind == make ]] ||
            run_check "aa-runner-check --like asyncio selector" selector "$runners"
    fi
    if build_$kind keeploop; then
        run_across "keeploop ($kind): tasks live across cells and idle time" \
            keeploop "$runners"
        [[ $kind == make ]] ||
            run_check "aa-runner-check --like asyncio keeploop" keeploop "$runners"
    fi
    if build_$kind simple; then
        run_shell "simple ($kind), the template without the SDK, runs a cell" \
            simple "$plugin_cell" "Out[1]: 42" AA_RUNNER_PATH="$runners"
    fi
done

# The current directory is never searched, nor is a relative folder.
if [[ -f $tmp/runners-cmake/aa_runner_simple.so ]]; then
    if out=$(cd "$tmp/runners-cmake" && AA_RUNNER_PATH=. "$shell" --runner simple \
        -c 1 2>&1); then
        fail "a plugin was loaded from a relative AA_RUNNER_PATH: $out"
    elif grep -q "no runner 'simple'" <<<"$out"; then
        ok "a relative AA_RUNNER_PATH and the current directory are ignored"
    else
        fail "relative AA_RUNNER_PATH: aa-shell said '$out'"
    fi
fi

# The templates' install rules put them in the library's runner folder,
# where the library finds them with no AA_RUNNER_PATH.
for name in selector simple; do
    installed=$libdir/autoawait/runners/aa_runner_$name.so
    [[ -d $tmp/$name-cmake ]] || continue
    if cmake --install "$tmp/$name-cmake" >>"$tmp/$name-cmake.log" 2>&1 &&
        [[ -f $installed ]]; then
        run_shell "$name installs into the runner folder and is found there" \
            "$name" "$plugin_cell" "Out[1]: 42"
        rm -f "$installed"
    else
        cat "$tmp/$name-cmake.log" >&2
        fail "the install rule of $name did not reach the runner folder"
    fi
done
if make -C "$tmp/selector-make-src" install DESTDIR="$tmp/destdir" \
    >>"$tmp/selector-make.log" 2>&1 &&
    [[ -f $tmp/destdir$(pkg-config --variable=runnerdir autoawait-runner)/aa_runner_selector.so ]]; then
    ok "the selector Makefile installs into DESTDIR + runnerdir"
else
    fail "make install DESTDIR=... of selector did not reach the runner folder"
fi

if ((failures)); then
    echo "$failures install check(s) failed" >&2
    exit 1
fi
echo "install test passed"
