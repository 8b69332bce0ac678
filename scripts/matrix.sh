#!/usr/bin/env bash
# matrix.sh -- builds libautoawait against every other CPython found on
# this machine and runs the unit, conformance and install tests against
# each (docs/python-versions.md).  The system's CPython (Debian's 3.11,
# python3-embed) is not built here: scripts/test.sh runs the whole suite
# on it.
#
#   scripts/matrix.sh          every CPython found
#   scripts/matrix.sh PC...    these embed .pc files only
#
# Found: $(pyenv root)/versions/*/lib/pkgconfig/python-3.*-embed.pc when
# pyenv is there, and python-3.*-embed.pc files in pkg-config's own folders
# other than the system CPython's.  Each CPython 3.11 or later is built in
# build-py<version>/ (Release, warnings as errors), with Debian's trio and
# its dependencies (pure Python) on a PYTHONPATH of that build's own,
# build-py<version>/pythonpath, so that the trio tests run; where that trio
# does not import, the folder is left empty and they say SKIP.  Older
# ones, and those without a shared libpython, are skipped, saying so; a
# free-threaded one must be refused by the configure.  Fails when a
# build or test fails, and when pyenv is there but no CPython besides the
# system's was found.  Prints what it found and tested.
set -euo pipefail

case ${1:-} in
-h | --help)
    sed -n '2,20s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 0 ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The tests each CPython runs: the whole suite runs on the system's.
tests='^(unit_.*|conformance|install)$'
# Debian's python3-trio and what it depends on, all pure Python.
trio_packages=(python3-trio python3-async-generator python3-attr
    python3-exceptiongroup python3-idna python3-outcome python3-sniffio
    python3-sortedcontainers)

# pyenv's root, or nothing when pyenv is not there.
pyenv_root() {
    if [[ -n ${PYENV_ROOT:-} && -d $PYENV_ROOT/versions ]]; then
        echo "$PYENV_ROOT"
    elif command -v pyenv >/dev/null; then
        pyenv root
    elif [[ -d $HOME/.pyenv/versions ]]; then
        echo "$HOME/.pyenv"
    fi
}

# The embed .pc files of every CPython on the machine but the system's.
find_pcs() {
    local pyenv system dir pc
    pyenv=$(pyenv_root)
    if [[ -n $pyenv ]]; then
        for pc in "$pyenv"/versions/*/lib/pkgconfig/python-3.*-embed.pc; do
            [[ -e $pc ]] && echo "$pc"
        done
    fi
    system=$(pkg-config --variable=prefix python3-embed 2>/dev/null || true)
    IFS=: read -r -a dirs <<<"$(pkg-config --variable=pc_path pkg-config)"
    for dir in "${dirs[@]}"; do
        for pc in "$dir"/python-3.*-embed.pc; do
            [[ -e $pc ]] || continue
            [[ $(pkg-config --variable=prefix "$pc") == "$system" ]] && continue
            echo "$pc"
        done
    done
}

# trio_path DIR: links the top-level packages of trio_packages into DIR.
trio_path() {
    local dir=$1 pkg file
    rm -rf "$dir"
    mkdir -p "$dir"
    for pkg in "${trio_packages[@]}"; do
        dpkg -L "$pkg" 2>/dev/null || true
    done | grep -E '^/usr/lib/python3/dist-packages/[^/]+$' |
        grep -vE '\.(egg|dist)-info$' | while IFS= read -r file; do
        ln -s "$file" "$dir/"
    done
}

if (($#)); then
    pcs=("$@")
else
    # One line per file, however many links (a pyenv alias) lead to it.
    mapfile -t pcs < <(find_pcs | xargs -r -d '\n' readlink -f | sort -uV)
fi

echo "== CPython matrix: the system's (python3-embed) runs the whole suite" \
    "in scripts/test.sh; found here: ${#pcs[@]} other embed .pc file(s)"
summary=() tested=0 failed=0
for pc in "${pcs[@]}"; do
    prefix=$(pkg-config --variable=prefix "$pc")
    name=$(basename "$pc" -embed.pc) # python-3.13 or python-3.13t
    ld=${name#python-}
    version=$("$prefix/bin/python$ld" -c \
        'import platform; print(platform.python_version())' 2>/dev/null ||
        pkg-config --modversion "$pc")
    label="CPython $version ($pc)"
    if [[ $(printf '%s\n' 3.11 "$version" | sort -V | head -n 1) != 3.11 ]]; then
        echo "== $label: skipped, older than 3.11 (not supported)"
        summary+=("skipped  $version  older than 3.11")
        continue
    fi
    libdir=$(pkg-config --variable=libdir "$pc")
    if [[ ! -e $libdir/libpython$ld.so ]]; then
        echo "== $label: skipped, no libpython$ld.so in $libdir (built" \
            "without --enable-shared: cannot be embedded in a shared library)"
        summary+=("skipped  $version  no shared libpython")
        continue
    fi
    build=$root/build-py$version${ld//[0-9.]/}
    if [[ $ld == *t ]]; then
        # Free-threaded: the configure must refuse it, saying why.
        echo "== $label: free-threaded, the configure must refuse it"
        if out=$(cmake -S "$root" -B "$build" -DAA_PYTHON_PC="$pc" 2>&1); then
            echo "error: the configure took free-threaded $label" >&2
            failed=$((failed + 1))
            summary+=("FAILED   $version  free-threaded, not refused")
        elif grep -q 'free-threaded' <<<"$out"; then
            summary+=("refused  $version  free-threaded (as it must be)")
        else
            echo "$out" >&2
            failed=$((failed + 1))
            summary+=("FAILED   $version  free-threaded, refused for another reason")
        fi
        rm -rf "$build"
        continue
    fi
    start=$SECONDS summary_trio=""
    echo "== $label: configure $build"
    ok=1
    cmake -S "$root" -B "$build" -DAA_WERROR=ON -DCMAKE_BUILD_TYPE=Release \
        -DAA_SANITIZE=OFF -DAA_PYTHON_PC="$pc" >"$build.configure.log" 2>&1 ||
        { cat "$build.configure.log" >&2; ok=0; }
    rm -f "$build.configure.log"
    if ((ok)); then
        echo "== $label: build"
        cmake --build "$build" -j2 || ok=0
    fi
    if ((ok)); then
        trio_path "$build/pythonpath"
        if why=$(PYTHONPATH=$build/pythonpath "$prefix/bin/python$ld" -c \
            'import trio' 2>&1); then
            echo "== $label: trio imports from $build/pythonpath"
        else
            # Left out, so that the trio tests find no trio and say SKIP.
            rm -rf "$build/pythonpath"
            mkdir "$build/pythonpath"
            echo "== $label: SKIP trio: Debian's trio $(dpkg-query -W \
                -f='${Version}' python3-trio 2>/dev/null) does not import" \
                "here ($(tail -n 1 <<<"$why")): the trio tests say SKIP"
            summary_trio=" (trio skipped)"
        fi
        echo "== $label: test"
        (cd "$build" && PYTHONPATH=$build/pythonpath \
            ctest --output-on-failure -R "$tests") || ok=0
    fi
    tested=$((tested + 1))
    if ((ok)); then
        summary+=("passed   $version  unit, conformance, install$summary_trio ($((SECONDS - start)) s)")
    else
        failed=$((failed + 1))
        summary+=("FAILED   $version  see above ($((SECONDS - start)) s)")
    fi
done

echo "== CPython matrix:"
printf '    %s\n' "${summary[@]+"${summary[@]}"}"
if ((tested == 0)) && [[ -n $(pyenv_root) ]]; then
    echo "error: pyenv is at $(pyenv_root) but no CPython 3.11 or later" \
        "besides the system's was found to test" >&2
    exit 1
fi
if ((failed)); then
    echo "error: $failed CPython(s) failed" >&2
    exit 1
fi
if ((tested == 0)); then
    echo "== no CPython besides the system's found: nothing more to test"
fi
