#!/usr/bin/env bash
# configure.sh SOURCE-DIR -- configuring the project refuses a
# CPython it does not support, with a message naming the reason, and takes
# one it does.
#
# Fake CPython installations (a .pc file and the headers cmake/python.cmake
# reads, no library) stand in for the ones this machine lacks: a
# free-threaded 3.13t (Py_GIL_DISABLED in its pyconfig.h), a 3.10, a 3.13
# built without --enable-shared (a libpython3.13.a alone), and, so that a
# refusal for some other reason cannot pass, a 3.13 with the GIL that must
# be taken.  Each is configured with AA_PYTHON_PC set to its
# .pc file.
set -euo pipefail

if (($# != 1)); then
    echo "usage: $0 SOURCE-DIR" >&2
    exit 2
fi
src=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# fake NAME VERSION LDVERSION PYCONFIG-LINE: a CPython in $scratch/NAME,
# its .pc file's path on stdout.
fake() {
    local prefix=$scratch/$1 version=$2 ld=$3 line=$4
    local minor=${version%.*}
    mkdir -p "$prefix/include/python$ld" "$prefix/lib/pkgconfig" "$prefix/bin"
    printf '%s\n' "$line" >"$prefix/include/python$ld/pyconfig.h"
    printf '#define PY_VERSION "%s"\n' "$version" \
        >"$prefix/include/python$ld/patchlevel.h"
    cat >"$prefix/lib/pkgconfig/python-$ld-embed.pc" <<PC
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: Python
Description: Embed Python into an application
Version: $minor
Libs: -L\${libdir} -lpython$ld
Cflags: -I\${includedir}/python$ld
PC
    echo "$prefix/lib/pkgconfig/python-$ld-embed.pc"
}

failed=0
# expect NAME PC STATUS TEXT: configuring with PC ends with STATUS
# (0 or "fail") and prints TEXT (CMake wraps messages: compared with every
# run of spaces and newlines made one space).
expect() {
    local name=$1 pc=$2 want=$3 text=$4 out rc=0
    out=$(cmake -S "$src" -B "$scratch/build-$name" -DAA_PYTHON_PC="$pc" \
        -DAA_BUILD_TESTS=OFF 2>&1) || rc=$?
    if [[ $want == fail && $rc == 0 ]]; then
        echo "FAIL: $name: the configure passed; it must refuse $pc" >&2
        failed=1
    elif [[ $want == 0 && $rc != 0 ]]; then
        echo "FAIL: $name: the configure failed; it must take $pc" >&2
        failed=1
    elif ! tr -s ' \n' '  ' <<<"$out" | grep -qF -- "$text"; then
        echo "FAIL: $name: the configure did not say '$text'" >&2
        failed=1
    else
        echo "ok: $name: $text"
        return 0
    fi
    sed 's/^/    /' <<<"$out" | tail -n 20 >&2
}

expect free-threaded "$(fake ft 3.13.0 3.13t '#define Py_GIL_DISABLED 1')" \
    fail "is a free-threaded build (Py_GIL_DISABLED)"
expect too-old "$(fake old 3.10.13 3.10 '/* #undef Py_GIL_DISABLED */')" \
    fail "needs CPython 3.11 or later"
pc=$(fake static 3.13.0 3.13 '/* #undef Py_GIL_DISABLED */')
: >"$scratch/static/lib/libpython3.13.a"
expect static "$pc" fail "has no shared library"
expect with-gil "$(fake gil 3.13.0 3.13 '/* #undef Py_GIL_DISABLED */')" \
    0 "Embedding CPython 3.13.0"
exit $failed
