"""test_glibhost.py -- the test of examples/glib-host, the GLib recipe of
docs/embedding.md.

Run by ctest as `/usr/bin/python3 test_glibhost.py PATH-TO-GLIB-HOST`.
glib-host runs one cell in a session that is the guest of a GMainLoop
while a 20 ms g_timeout ticks, and quits from the cell's done callback:

- `await asyncio.sleep(0.2, result=42)` gives "Out: 42", and the loop
  ticked meanwhile (a host that blocked in the cell would show 0 ticks);
- a sync cell is done inside aa_exec_start: "Out: 42" with the loop never
  run, and the program still ends;
- a cell that fails after an await shows its traceback, exit status 1.
"""

import os
import re
import subprocess
import sys
import time
import unittest

GLIB_HOST = None

# Generous, for the sanitizer build.
TIMEOUT = 60


def run(cell):
    start = time.monotonic()
    proc = subprocess.run([GLIB_HOST, cell], capture_output=True, text=True,
                          timeout=TIMEOUT)
    return proc, time.monotonic() - start


def ticks(out):
    m = re.search(r"^ticks: (\d+)$", out, re.M)
    assert m, "no ticks line in:\n" + out
    return int(m.group(1))


class GlibHostTest(unittest.TestCase):
    def test_await_while_the_loop_ticks(self):
        proc, took = run("import asyncio\n"
                         "await asyncio.sleep(0.2, result=42)\n")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertRegex(proc.stdout, r"(?m)^Out: 42$")
        self.assertGreaterEqual(took, 0.2)
        # 10 ticks of 20 ms in 0.2 s; a loaded machine may skip some.
        self.assertGreaterEqual(ticks(proc.stdout), 4,
                                "the loop did not tick during the await")

    def test_sync_cell_done_before_the_loop_runs(self):
        proc, _ = run("print('sync'); 6 * 7")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, "sync\nOut: 42\nticks: 0\n")

    def test_failing_cell(self):
        proc, _ = run("import asyncio\nawait asyncio.sleep(0.05)\n1/0\n")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("ZeroDivisionError: division by zero", proc.stderr)
        self.assertIn("1/0", proc.stderr)
        self.assertGreaterEqual(ticks(proc.stdout), 1)


def main():
    global GLIB_HOST
    if len(sys.argv) < 2:
        sys.exit("usage: %s PATH-TO-GLIB-HOST [unittest args]" % sys.argv[0])
    GLIB_HOST = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)


if __name__ == "__main__":
    main()
