"""test_magics.py -- %time, %%time, %timeit and %%timeit, await included."""

import re

import harness
from harness import ShellTest

UNIT = r"(?:ns|µs|ms|s)"
TIMEIT = (r"([\d.]+) (%s) ± [\d.]+ %s per loop \(mean ± std\. dev\. of "
          r"(\d+) runs?, ([\d,]+) loops? each\)" % (UNIT, UNIT))
SCALE = {"ns": 1e-9, "µs": 1e-6, "ms": 1e-3, "s": 1.0}


class Magics(ShellTest):
    def piped(self, text):
        return self.run_shell(input="import asyncio\n" + text)

    def test_time_await_prints_times_then_out(self):
        r = self.piped("%time await asyncio.sleep(0.1, result=5)\n")
        self.assertEqual(r.returncode, 0)
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], r"^CPU times: user [\d.]+ %s, sys [\d.]+ %s, "
                                   r"total [\d.]+ %s$" % (UNIT, UNIT, UNIT))
        m = re.match(r"^Wall time: ([\d.]+) (%s)$" % UNIT, lines[1])
        self.assertTrue(m, lines[1])
        self.assertGreaterEqual(float(m.group(1)) * SCALE[m.group(2)], 0.1)
        self.assertEqual(lines[2], "Out[2]: 5")

    def test_time_sync_statement_and_names_stay(self):
        r = self.piped("%time y = sum(range(1000))\ny\n")
        self.assertIn("Wall time:", r.stdout)
        self.assertIn("Out[3]: 499500", r.stdout)

    def test_time_exception_shows_traceback_only(self):
        r = self.piped("%time 1/0\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("ZeroDivisionError", r.stderr)
        self.assertNotIn("Wall time", r.stdout)

    def test_cell_time(self):
        r = self.piped("%%time\nawait asyncio.sleep(0.05)\n")
        self.assertIn("Wall time:", r.stdout)
        r = self.piped("%%time\nfor i in range(3):\n    await asyncio.sleep(0)\n\ni\n")
        self.assertIn("Wall time:", r.stdout)
        self.assertIn("Out[3]: 2", r.stdout)

    def test_timeit_await_autoscales(self):
        r = self.piped("async def nop():\n    return 1\n\n%timeit await nop()\n")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        m = re.search(TIMEIT, r.stdout)
        self.assertTrue(m, r.stdout)
        self.assertEqual(m.group(3), "7")
        loops = int(m.group(4).replace(",", ""))
        self.assertGreaterEqual(loops, 1000)  # scaled up to >= 0.2 s a run
        self.assertEqual(str(loops).strip("0"), "1")  # 1, 10, 100, ...
        per_loop = float(m.group(1)) * SCALE[m.group(2)]
        self.assertGreaterEqual(per_loop * loops, 0.2 / 10)

    def test_timeit_options_and_a_slow_await(self):
        r = self.piped("%timeit -n 3 -r 2 await asyncio.sleep(0.02)\n")
        m = re.search(TIMEIT, r.stdout)
        self.assertTrue(m, r.stdout + r.stderr)
        self.assertEqual((m.group(3), m.group(4)), ("2", "3"))
        per_loop = float(m.group(1)) * SCALE[m.group(2)]
        self.assertGreaterEqual(per_loop, 0.02)
        self.assertLess(per_loop, 0.5)

    def test_timeit_sync_statement(self):
        r = self.piped("%timeit -n 1000 -r 3 x = 1\n")
        self.assertRegex(r.stdout, TIMEIT)
        self.assertIn("1,000 loops each", r.stdout)

    def test_timeit_leaves_no_names_and_keeps_underscore(self):
        r = self.piped("41 + 1\n%timeit -n 10 -r 2 await asyncio.sleep(0)\n"
                       "_\n[k for k in globals() if 'timeit' in k]\n")
        self.assertIn("Out[4]: 42", r.stdout)
        self.assertIn("Out[5]: []", r.stdout)

    def test_timeit_is_one_cell(self):
        # tracebacks of later cells still name them by their In [n]
        r = self.piped("%timeit -n 2 -r 2 await asyncio.sleep(0)\n1/0\n")
        self.assertIn('File "<cell-3>"', r.stderr)

    def test_timeit_compiles_the_statement_once(self):
        # A statement with a side effect on a counter: run n * r times (plus
        # calibration), which a recompiling timeit would also do -- but the
        # code object is the same one every time.
        r = self.piped("codes = set()\n"
                       "import sys\n"
                       "%timeit -n 5 -r 2 codes.add(id(sys._getframe().f_code))\n"
                       "len(codes)\n")
        self.assertIn("Out[5]: 1", r.stdout)

    def test_timeit_errors(self):
        r = self.piped("%timeit 1/0\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("ZeroDivisionError", r.stderr)
        r = self.piped("%timeit def (\n")
        self.assertIn("SyntaxError", r.stderr)
        self.assertIn("def (", r.stderr)  # the user's text, not generated code
        r = self.piped("%timeit\n")
        self.assertIn("UsageError", r.stderr)
        self.assertEqual(r.returncode, 1)

    def test_cell_timeit(self):
        r = self.piped("%%timeit -n 2 -r 2\nawait asyncio.sleep(0)\nx = 1\n\n")
        self.assertRegex(r.stdout, TIMEIT)

    def test_timeit_with_autoawait_off(self):
        r = self.piped("%autoawait off\n%timeit -n 10 -r 2 x = 1\n")
        self.assertRegex(r.stdout, TIMEIT)


# Adds 1 to every integer constant of the cells after the one that adds it.
ADD_ONE = (
    "import ast, autoawait\n"
    "class AddOne(ast.NodeTransformer):\n"
    "    def visit_Constant(self, node):\n"
    "        if type(node.value) is int:\n"
    "            return ast.copy_location(ast.Constant(node.value + 1), node)\n"
    "        return node\n"
    "\n"
    "autoawait.ast_transformers.append(AddOne())\n"
    "seen = []\n"
)


class TimeitAsIPython(ShellTest):
    """The session's AST transformers apply to the user's statement (and
    setup) only, never to the timing code; %%timeit's first line is setup."""

    def piped(self, text):
        return self.run_shell(input="import asyncio\n" + text)

    def test_transformers_apply_to_the_statement_only(self):
        r = self.piped(ADD_ONE + "%timeit -n 3 -r 2 seen.append(1)\n"
                       "sorted(set(seen)), len(seen)\n")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        m = re.search(TIMEIT, r.stdout)
        self.assertTrue(m, r.stdout)
        self.assertEqual((m.group(3), m.group(4)), ("2", "3"))
        self.assertIn("Out[7]: ([2], 6)", r.stdout)

    def test_transformers_and_autoscale_and_await(self):
        r = self.piped(ADD_ONE + "%timeit seen.append(0); await asyncio.sleep(0.0)\n"
                       "sorted(set(seen))\n")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        m = re.search(TIMEIT, r.stdout)
        self.assertTrue(m, r.stdout)
        self.assertEqual(m.group(3), "7")
        loops = int(m.group(4).replace(",", ""))
        self.assertGreaterEqual(loops, 100)
        self.assertEqual(str(loops).strip("0"), "1")  # 1, 10, 100, ...
        self.assertIn("Out[7]: [1]", r.stdout)

    def test_cell_setup_line_runs_before_each_run(self):
        r = self.piped("log = []\n"
                       "%%timeit -n 3 -r 2 log.append('s'); acc = []\n"
                       "acc.append(1); log.append(len(acc))\n"
                       "log\n")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertRegex(r.stdout, TIMEIT)
        self.assertIn("Out[4]: ['s', 1, 2, 3, 's', 1, 2, 3]", r.stdout)

    def test_cell_setup_is_transformed_too(self):
        r = self.piped(ADD_ONE + "%%timeit -n1 -r1 base = 0\n"
                       "seen.append(base)\n"
                       "\n"
                       "seen\n")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertRegex(r.stdout, TIMEIT)
        self.assertIn("Out[7]: [1]", r.stdout)

    def test_cell_setup_syntax_error_is_the_users(self):
        r = self.piped("%%timeit -n1 -r1 x = (\nx\n\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("SyntaxError", r.stderr)
        self.assertIn("x = (", r.stderr)


if __name__ == "__main__":
    harness.main()
