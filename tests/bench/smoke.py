#!/usr/bin/python3
"""smoke.py -- the bench_smoke test: runs aa-bench with the arguments given
(tiny counts), and passes when it exits 0 and prints JSON that parses and
has a figure for every workload and guest-loop row it measured (a run
without --only measures them all).  Never looks at timings."""

import json
import subprocess
import sys

run = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True)
if run.returncode != 0:
    sys.exit(f"smoke: aa-bench exited {run.returncode}")
report = json.loads(run.stdout)
for row in report["workloads"]:
    if row["aa_us"] is None and "runner" not in row.get("note", ""):
        sys.exit(f"smoke: no figure for {row['name']}: {row.get('note')}")
guest = report.get("guest")
if guest is None and "--only" not in sys.argv:
    sys.exit("smoke: no guest-loop rows in the report")
for name, row in (guest or {}).items():
    if row.get("us") is None:
        sys.exit(f"smoke: no figure for guest row {name}: {row.get('note')}")
print(f"smoke: {len(report['workloads'])} workloads, "
      f"{len(guest or {})} guest rows, JSON parses")
