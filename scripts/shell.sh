#!/usr/bin/env bash
# shell.sh -- installs what is missing, builds libautoawait (Release) in
# build/ and starts aa-shell with the given arguments.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
if [[ ! -x $root/build/bin/aa-shell ]]; then
    echo "shell.sh: building aa-shell in build/ (the first time takes a while)" >&2
fi
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j2 >/dev/null
exec "$root/build/bin/aa-shell" "$@"
