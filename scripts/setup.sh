#!/usr/bin/env bash
# setup.sh -- installs what building and testing libautoawait needs on
# Debian 12.  Idempotent: when every package is already there it touches
# nothing and returns at once, so the other scripts call it on every run.
set -euo pipefail

# python3-embed.pc comes with libpython3-dev; python3 gives the interpreter
# and standard library the embedded interpreter runs with.  The rest: the
# toolchain, libffi for the bindings, Check for the unit tests, trio and
# uvloop for their runners (the runner suites, check_trio and check_uvloop,
# skip without them, leaving the runners untested), libedit for the
# console, clang and its libFuzzer runtime (only recommended by clang) for
# the fuzzers, clang-format for the style check, valgrind, tmux,
# python3-pexpect (aa-shell's pty tests) and hyperfine for the shell tests
# and benchmarks; IPython and GNU time for the benchmark's
# peers and its peak-RSS cross-checks; abigail-tools (libabigail's abidw and
# abidiff) for the ABI check against abi/libautoawait.abi (docs/abi.md).
# scripts/package.sh (the Debian packages) runs dpkg-dev's dpkg-buildflags
# and dpkg-shlibdeps, and CPack runs file; lintian checks the packages.
# libuv1-dev and libglib2.0-dev build the example hosts whose session is a
# guest of their loop, uv-host and glib-host, and so their tests.
# libzmq3-dev, libjansson-dev and libssl-dev (libcrypto) build the Jupyter
# kernel (kernel/: ZeroMQ, JSON, HMAC-SHA256 signing).
# python3-jupyter-client, jupyter-client (its `jupyter kernelspec`),
# jupyter-console and python3-ipykernel are the real Jupyter clients the
# kernel's tests (tests/kernel) drive aa-kernel with, and the kernel they
# are checked against.
packages=(
    build-essential cmake pkg-config git
    python3 libpython3-dev libffi-dev libedit-dev
    check python3-trio python3-uvloop
    clang libclang-rt-14-dev clang-format valgrind tmux hyperfine
    python3-pexpect python3-ipython time
    abigail-tools dpkg-dev file lintian
    libuv1-dev libglib2.0-dev
    libzmq3-dev libjansson-dev libssl-dev
    python3-jupyter-client jupyter-client jupyter-console python3-ipykernel
)

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
    [[ $status == ii* ]] || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
    exit 0
fi

as_root=()
if ((EUID != 0)); then
    if ! command -v sudo >/dev/null; then
        echo "setup: missing packages: ${missing[*]}" >&2
        echo "setup: run this script as root (or install sudo) to install them" >&2
        exit 1
    fi
    as_root=(sudo)
fi

echo "setup: installing ${missing[*]}" >&2
apt_opts=(-y -q -o DPkg::Lock::Timeout=300 --no-install-recommends)
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install "${apt_opts[@]}" "${missing[@]}"
