#!/usr/bin/env bash
# package.sh -- builds the Debian packages of libautoawait as .deb files:
# libautoawait0, libautoawait-runners, libautoawait-dev, aa-shell,
# libautoawait-kernel0 and aa-kernel (CPack's DEB generator,
# cmake/packaging.cmake; docs/packaging.md is the manual).
#
#   scripts/package.sh [--build-dir DIR] [--out DIR] [--no-lintian] [CMAKE-ARGS...]
#
# The tree (build-deb/ unless --build-dir) is configured afresh for /usr
# with Debian's compiler flags (dpkg-buildflags, hardening=+all) against the
# system's CPython, and the .deb files land in its packages/ folder (or
# --out).  CMAKE-ARGS go to the configure step (-DAA_WERROR=ON, say).  Then
# every file `cmake --install` installs must be in a package (but the two
# the packages leave out on purpose), and lintian, where it is installed,
# must report no error and no warning (--no-lintian skips it).  The
# packages' Maintainer is "$DEBFULLNAME <$DEBEMAIL>" when both are set.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build-deb
out=
lintian=1
while (($#)); do
    case $1 in
    --build-dir) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-lintian) lintian=0; shift ;;
    -h | --help)
        sed -n '2,16s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        exit 0 ;;
    *) break ;;
    esac
done
say() {
    echo "package.sh: $*"
}

"$root/scripts/setup.sh"
for tool in dpkg-buildflags dpkg-shlibdeps dpkg-deb cpack file; do
    command -v "$tool" >/dev/null ||
        { echo "package.sh: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done

# Debian's flags, as a package build of Debian's own gets them: optimised,
# fortified, stack-protected, relro and bindnow, with the source folder
# mapped to . in the debug info.  CMake reads CFLAGS and LDFLAGS when it
# first configures a tree (which is why the tree is always new), and not
# CPPFLAGS.  dpkg-buildflags maps the current directory: the sources'.
cd "$root"
eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
export CFLAGS="$CFLAGS $CPPFLAGS"
# The packages embed the system's CPython (python3-embed.pc of Debian's
# libpython3-dev), which their dependencies name: one found through
# PKG_CONFIG_PATH (a pyenv build, say) belongs to no package.
if [[ -n ${PKG_CONFIG_PATH-} ]]; then
    say "PKG_CONFIG_PATH ignored: the packages are built against the system's CPython"
    unset PKG_CONFIG_PATH
fi

# The packages' file times are the changelog's date, as in Debian's own
# builds: the same sources make the same .deb files, byte for byte.
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l "$root/cmake/deb/changelog" -STimestamp)
export SOURCE_DATE_EPOCH

maintainer=()
if [[ -n ${DEBFULLNAME-} && -n ${DEBEMAIL-} ]]; then
    maintainer=("-DAA_DEB_MAINTAINER=$DEBFULLNAME <$DEBEMAIL>")
fi

rm -rf "$build"
cmake -S "$root" -B "$build" -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=None \
    -DAA_PACKAGE=ON -DAA_BUILD_TESTS=OFF -DAA_BUILD_SHELL=ON -DAA_BUILD_KERNEL=ON \
    "${maintainer[@]}" "$@"
cmake --build "$build" -j"$(nproc)"
(cd "$build" && cpack --config CPackConfig.cmake)
debs=("$build"/packages/*.deb)
[[ -f ${debs[0]} ]] || { echo "package.sh: cpack made no .deb" >&2; exit 1; }
if [[ -n $out ]]; then
    mkdir -p "$out"
    cp "${debs[@]}" "$out/"
    debs=("${debs[@]/#"$build/packages/"/"$(cd "$out" && pwd)/"}")
fi

# Every file of a plain install is in a package, but the example programs
# (embed-host, uv-host, glib-host: component examples) and the uncompressed
# man pages (aa-shell has them compressed).
stage=$build/stage
rm -rf "$stage"
DESTDIR=$stage cmake --install "$build" >/dev/null
(cd "$stage" && find . ! -type d | sed 's|^\.||' | sort) >"$build/installed"
for deb in "${debs[@]}"; do
    dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\.||' | grep -v '/$' || true
done | sort -u >"$build/packaged"
missing=$(comm -23 "$build/installed" "$build/packaged" |
    grep -Ev '^/usr/bin/(embed|uv|glib)-host$|^/usr/share/man/man1/aa-(shell|runner-check|kernel)\.1$' ||
        true)
if [[ -n $missing ]]; then
    echo "package.sh: installed by cmake --install but in no package" \
        "(an install rule with no packaged COMPONENT?):" >&2
    sed 's/^/    /' <<<"$missing" >&2
    exit 1
fi
say "every installed file is in a package (but the example hosts and the uncompressed man pages)"

for deb in "${debs[@]}"; do
    say "$(basename "$deb"): $(($(stat -c %s "$deb") / 1024)) KiB," \
        "installed $(dpkg-deb -f "$deb" Installed-Size) KiB;" \
        "Depends: $(dpkg-deb -f "$deb" Depends)"
done

if ((lintian)) && command -v lintian >/dev/null; then
    # Info tags are shown, not fatal; docs/packaging.md discusses them.
    if ! lintian --display-info --fail-on error,warning "${debs[@]}" >"$build/lintian.log" 2>&1; then
        cat "$build/lintian.log" >&2
        echo "package.sh: lintian reports errors or warnings" >&2
        exit 1
    fi
    tags=$(grep -c '^[EWIP]: ' "$build/lintian.log" || true)
    say "lintian $(lintian --print-version): no error, no warning ($tags info tag(s))"
    sed 's/^/    /' "$build/lintian.log"
elif ((lintian)); then
    say "lintian is not installed: the packages are not checked"
fi
say "packages in $(dirname "${debs[0]}")"
