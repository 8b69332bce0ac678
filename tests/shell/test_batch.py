"""test_batch.py -- -c CODE, FILE [ARGS] and piped standard input."""

import os
import signal
import textwrap
import time

import harness
from harness import ShellTest


class Code(ShellTest):
    def test_one_cell_with_await(self):
        r = self.run_shell("-c", "import asyncio\nawait asyncio.sleep(0, 42)")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "Out[1]: 42\n", ""))

    def test_argv(self):
        r = self.run_shell("-c", "import sys; print(sys.argv)", "a", "-q")
        self.assertEqual(r.stdout, "['-c', 'a', '-q']\n")

    def test_exception_exits_1(self):
        r = self.run_shell("-c", "x = 1\n1/x - 1/0")
        self.assertEqual(r.returncode, 1)
        self.assertIn('File "<cell-1>", line 2', r.stderr)
        self.assertIn("ZeroDivisionError: division by zero", r.stderr)

    def test_syntax_error_exits_1(self):
        r = self.run_shell("-c", "def f(:")
        self.assertEqual(r.returncode, 1)
        self.assertIn("SyntaxError", r.stderr)

    def test_system_exit_codes(self):
        for code, status, err in [("raise SystemExit(7)", 7, ""),
                                  ("import sys; sys.exit()", 0, ""),
                                  ("exit(0)", 0, ""),
                                  ("import sys; sys.exit('bye')", 1, "bye\n")]:
            r = self.run_shell("-c", code)
            self.assertEqual((r.returncode, r.stderr), (status, err), code)

    def test_imports_from_the_current_folder(self):
        with open(os.path.join(self.tmp, "here_mod.py"), "w") as f:
            f.write("VALUE = 'here'\n")
        r = self.run_shell("-c", "import here_mod; here_mod.VALUE")
        self.assertEqual(r.stdout, "Out[1]: 'here'\n")

    def test_ctrl_c_interrupts_and_dies_of_sigint(self):
        child = self.spawn("-c", "import asyncio\ntry:\n    await asyncio.sleep(30)\n"
                           "finally:\n    print('cleanup ran')")
        time.sleep(1.0)
        child.sendintr()
        child.expect_exact("cleanup ran")
        child.expect_exact("KeyboardInterrupt")
        self.assertEqual(self.wait_exit(child), (None, signal.SIGINT))


class Script(ShellTest):
    def script(self, text, name="script.py"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        return path

    def test_top_level_await_argv_and_file(self):
        path = self.script("""\
            import asyncio, sys
            async def double(x):
                await asyncio.sleep(0.01)
                return 2 * x
            async def agen():
                yield 1
            async with asyncio.timeout(5):
                await asyncio.sleep(0)
            async for item in agen():
                pass
            print(await double(21), item, sys.argv[1:], __file__ == sys.argv[0])
            """)
        r = self.run_shell(path, "one", "--two")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertEqual(r.stdout, "42 1 ['one', '--two'] True\n")

    def test_last_expression_prints_nothing(self):
        path = self.script("1 + 1\n")
        r = self.run_shell(path)
        self.assertEqual((r.returncode, r.stdout), (0, ""))

    def test_traceback_shows_the_file(self):
        path = self.script("import asyncio\nawait asyncio.sleep(0)\n\nraise ValueError('in script')\n")
        r = self.run_shell(path)
        self.assertEqual(r.returncode, 1)
        self.assertIn('File "%s", line 4, in <module>' % path, r.stderr)
        self.assertIn("raise ValueError('in script')", r.stderr)
        self.assertIn("ValueError: in script", r.stderr)

    def test_sibling_module_imports(self):
        os.mkdir(os.path.join(self.tmp, "pkg"))
        self.script("NAME = 'sibling'\n", "pkg/sib.py")
        path = self.script("import sib\nprint(sib.NAME)\n", "pkg/main.py")
        r = self.run_shell(path)
        self.assertEqual((r.returncode, r.stdout), (0, "sibling\n"))

    def test_system_exit(self):
        path = self.script("import sys\nsys.exit(4)\n")
        self.assertEqual(self.run_shell(path).returncode, 4)

    def test_missing_file_exits_2(self):
        r = self.run_shell(os.path.join(self.tmp, "nope.py"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("nope.py", r.stderr)

    def test_dash_dash_and_dash(self):
        path = self.script("print('dashed')\n", "-odd.py")
        r = self.run_shell("--", path)
        self.assertEqual(r.stdout, "dashed\n")
        r = self.run_shell("-", input="print('from stdin')\n")
        self.assertEqual(r.stdout, "from stdin\n")


class Piped(ShellTest):
    def test_cells_by_completeness_without_prompts(self):
        src = textwrap.dedent("""\
            import asyncio
            async def f(x):
                await asyncio.sleep(0)
                return x + 1

            await f(1)
            t = (1,
            2)
            t
            """)
        r = self.run_shell(input=src)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertEqual(r.stdout, "Out[3]: 2\nOut[5]: (1, 2)\n")
        self.assertNotIn("In [", r.stdout)

    def test_lines_that_need_more_and_lines_that_do_not(self):
        # One-line cells take a shortcut past the completeness check;
        # everything that can ask for more must still get it.
        src = ("x = 2\n"
               "x +\n"                      # invalid, never incomplete
               "x * 10\n"
               "y = x \\\n"                # continued
               "+ 1\n"
               "y\n"
               "@staticmethod\n"            # a decorator wants its def
               "def f(): return 3\n"
               "f.__func__()\n"
               "s = '''a\n"                 # an open string
               "b'''\n"
               "len(s)\n"
               "x = 4  # a comment: with a colon\n"
               "x\r\n")
        r = self.run_shell(input=src)
        self.assertEqual(r.stdout, "Out[3]: 20\nOut[5]: 3\nOut[7]: 3\n"
                                   "Out[9]: 3\nOut[11]: 4\n")
        self.assertEqual(r.stderr.count("SyntaxError"), 1, r.stderr)
        self.assertIn('File "<cell-2>", line 1', r.stderr)
        self.assertEqual(r.returncode, 1)

    def test_block_ended_by_dedent_or_blank_line(self):
        r = self.run_shell(input="for i in range(2):\n    print(i)\n\nprint('after')\n")
        self.assertEqual(r.stdout, "0\n1\nafter\n")

    def test_unfinished_cell_at_end_runs(self):
        r = self.run_shell(input="for i in range(2):\n    print(i)")
        self.assertEqual((r.returncode, r.stdout), (0, "0\n1\n"))

    def test_exception_goes_on_then_exits_1(self):
        r = self.run_shell(input="1/0\nprint('still here')\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("ZeroDivisionError", r.stderr)
        self.assertEqual(r.stdout, "still here\n")

    def test_system_exit_stops_with_its_code(self):
        r = self.run_shell(input="print('a')\nexit(6)\nprint('never')\n")
        self.assertEqual((r.returncode, r.stdout), (6, "a\n"))

    def test_magic_and_runner_switch(self):
        r = self.run_shell(input="%autoawait\n%autoawait off\nawait x\n")
        self.assertIn("autoawait is `on`, and set to use `asyncio`", r.stdout)
        self.assertIn("'await' outside function", r.stderr)
        self.assertEqual(r.returncode, 1)

    def test_sigint_interrupts_and_dies_of_sigint(self):
        proc = self.popen()
        proc.stdin.write("import asyncio\nawait asyncio.sleep(30)\nprint('never')\n")
        proc.stdin.flush()
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=harness.TIMEOUT)
        self.assertEqual(proc.returncode, -signal.SIGINT)
        self.assertIn("KeyboardInterrupt", err)
        self.assertNotIn("never", out)


if __name__ == "__main__":
    harness.main()
