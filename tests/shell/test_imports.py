"""test_imports.py -- the modules aa-shell and the library import for
themselves never come from the current folder or the script's folder.

aa-shell puts '' (or the script's folder) first on sys.path, as python3
does.  Every test here runs aa-shell in a folder that holds a module of
each standard-library name (sys.stdlib_module_names), each of which leaves
a file NAME.py.ran behind when it is imported: only what the user's own
code imports may run, as with python3.
"""

import os
import sys
import textwrap

import harness
from harness import ShellTest

PLANTED = "open(__file__ + '.ran', 'w').close()\n"


class Planted(ShellTest):
    def setUp(self):
        super().setUp()
        for name in sys.stdlib_module_names:
            with open(os.path.join(self.tmp, name + ".py"), "w") as f:
                f.write(PLANTED)

    def ran(self):
        """The planted modules that were imported."""
        return sorted(f[:-len(".py.ran")] for f in os.listdir(self.tmp)
                      if f.endswith(".py.ran"))

    def test_exception_imports_nothing_from_the_folder(self):
        r = self.run_shell("-c", "1/0")
        self.assertEqual(self.ran(), [])
        self.assertEqual(r.returncode, 1)
        # The caret line needs the real ast (traceback imports it lazily).
        self.assertEqual(r.stderr, 'Traceback (most recent call last):\n'
                         '  File "<cell-1>", line 1, in <module>\n'
                         '    1/0\n'
                         '    ~^~\n'
                         'ZeroDivisionError: division by zero\n')

    def test_async_cell_imports_nothing_from_the_folder(self):
        r = self.run_shell("-c", "async def f():\n    return 41\n"
                           "x = await f()\nx + 1")
        self.assertEqual(self.ran(), [])
        self.assertEqual((r.returncode, r.stdout, r.stderr),
                         (0, "Out[1]: 42\n", ""))

    def test_trio_cell_imports_nothing_from_the_folder(self):
        # Is trio there?  Asked without importing it.
        probe = self.run_shell(
            "-c", "import _frozen_importlib_external as e\n"
            "print(e.PathFinder.find_spec('trio') is not None)")
        if probe.stdout != "True\n":
            self.skipTest("trio is not installed")
        r = self.run_shell("--runner", "trio", "-c",
                           "async def f():\n    return 41\nawait f() + 1")
        self.assertEqual(self.ran(), [])
        self.assertEqual((r.returncode, r.stdout, r.stderr),
                         (0, "Out[1]: 42\n", ""))

    def test_script_in_the_folder_imports_nothing_from_it(self):
        path = os.path.join(self.tmp, "script.py")
        with open(path, "w") as f:
            f.write(textwrap.dedent("""\
                async def f():
                    return 41
                x = await f()
                print(x + 1)
                {}[x]
                """))
        r = self.run_shell(path)
        self.assertEqual(self.ran(), [])
        self.assertEqual((r.returncode, r.stdout), (1, "42\n"))
        self.assertTrue(r.stderr.endswith("    {}[x]\n    ~~^^^\n"
                                          "KeyError: 41\n"), r.stderr)

    def test_completion_and_magics_import_nothing_from_the_folder(self):
        child = self.console()
        child.send("import zipf\t")
        child.expect_exact("import zipfile")
        child.sendcontrol("c")
        child.expect_exact("In [1]: ")
        child.send("zipf = 1; zip\t\t")
        child.expect_exact("zipf")
        child.sendcontrol("c")
        child.expect_exact("In [1]: ")
        self.cell(child, "%time 6 * 7", 2)
        self.cell(child, "%timeit -n1 -r1 6 * 7", 3)
        child.sendcontrol("d")
        self.wait_exit(child)
        self.assertEqual(self.ran(), [])

    def test_a_first_timeit_imports_nothing_from_the_folder(self):
        # Its harness needs ast and linecache, which nothing before it in
        # this console has imported.
        child = self.console()
        self.cell(child, "%timeit -n1 -r1 6 * 7", 2)
        child.sendcontrol("d")
        self.wait_exit(child)
        self.assertEqual(self.ran(), [])

    def test_import_trusted_skips_the_folder(self):
        r = self.run_shell("-c", "import autoawait, os\n"
                           "m = autoawait.import_trusted('keyword')\n"
                           "print(m.__file__ != os.path.abspath('keyword.py'),"
                           " m.iskeyword('await'))\n"
                           "autoawait.import_trusted(b'keyword')")
        self.assertEqual(self.ran(), [])
        self.assertEqual((r.returncode, r.stdout), (1, "True True\n"))
        self.assertIn("TypeError: import_trusted() takes a module name, "
                      "not bytes", r.stderr)

    def test_the_users_own_import_still_finds_the_folder(self):
        # As python3 -c 'import traceback' does: the user's choice.
        r = self.run_shell("-c", "import traceback, keyword\n"
                           "print(traceback.__file__ == "
                           "__import__('os').path.abspath('traceback.py'))")
        self.assertEqual((r.returncode, r.stdout), (0, "True\n"))
        self.assertEqual(self.ran(), ["keyword", "traceback"])


if __name__ == "__main__":
    harness.main()
