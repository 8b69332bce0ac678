#!/usr/bin/python3
"""kernel_smoke.py -- the bench_kernel test: runs kernel.py with the
arguments given (tiny counts, --json), and passes when it exits 0, every
row has our kernel's figure, the peer's and their ratio, and every process
of our kernel exited 0 after its shutdown_request (under the sanitizers,
a leak fails it).  Never looks at timings.  Without the peer (Debian's python3-ipykernel) our figures are
still required, and the test is then skipped (exit 77), saying why."""

import json
import subprocess
import sys

run = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True)
if run.returncode != 0:
    sys.exit(f"kernel_smoke: kernel.py exited {run.returncode}")
report = json.loads(run.stdout)
rows = report["rows"]
if sorted(rows) != ["execute", "start"]:
    sys.exit(f"kernel_smoke: rows {sorted(rows)}, not execute and start")
missing_peer = []
for name, row in rows.items():
    if row["ours"]["ms"] is None:
        sys.exit(f"kernel_smoke: no figure of ours for {name}: "
                 f"{row['ours']['note']}")
    if row["peer"]["ms"] is None:
        missing_peer.append(f"{name}: {row['peer']['note']}")
    elif row["ratio"] is None:
        sys.exit(f"kernel_smoke: no ratio for {name}")
bad = [s for s in report["exits"].get("ours", []) if s != 0]
if bad:
    sys.exit(f"kernel_smoke: our kernel ended badly after its "
             f"shutdown_request: {bad} (run kernel.py --keep-logs)")
if missing_peer:
    print("kernel_smoke: skipped, the peer gave no figures (is "
          "python3-ipykernel installed?): " + "; ".join(missing_peer))
    sys.exit(77)
print("kernel_smoke: " + ", ".join(
    f"{name} {row['ours']['ms']:.2f} ms against {row['peer']['ms']:.2f} ms"
    for name, row in rows.items()) + "; JSON parses")
