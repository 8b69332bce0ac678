#!/usr/bin/python3
"""smoke.py -- the bench_smoke test: runs aa-bench with the arguments given
(tiny counts), and passes when it exits 0 and prints JSON that parses and
has a figure for every workload, guest-loop row and host-function row it
measured (a run without --only measures them all).  Never looks at
timings."""

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
sections = {}
for section in ("guest", "host"):
    rows = sections[section] = report.get(section)
    if rows is None and "--only" not in sys.argv:
        sys.exit(f"smoke: no {section} rows in the report")
    for name, row in (rows or {}).items():
        if row.get("us") is None:
            sys.exit(f"smoke: no figure for {section} row {name}: "
                     f"{row.get('note')}")
print(f"smoke: {len(report['workloads'])} workloads, "
      f"{len(sections['guest'] or {})} guest rows, "
      f"{len(sections['host'] or {})} host rows, JSON parses")
