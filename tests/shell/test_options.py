"""test_options.py -- options, AA_SHELL_RUNNER and the config file.

Precedence: option > environment > config file > default.  Which runner
won is read from the error naming where a runner that does not exist came
from, or from %autoawait when it does exist.
"""

import os

import harness
from harness import ShellTest

STATE = "%autoawait"


class CommandLine(ShellTest):
    def test_help(self):
        r = self.run_shell("--help")
        self.assertEqual(r.returncode, 0)
        for word in ("usage: aa-shell", "--runner", "--no-autoawait", "-q",
                     "--version", "AA_SHELL_RUNNER", "config"):
            self.assertIn(word, r.stdout)

    def test_version(self):
        r = self.run_shell("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^aa-shell \d+\.\d+\.\d+ "
                                   r"\(libautoawait \d+\.\d+\.\d+\)\n$")

    def test_usage_errors_exit_2(self):
        for args in (["--bogus"], ["--runner"], ["-c"]):
            r = self.run_shell(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("aa-shell:", r.stderr)

    def test_runner_option(self):
        r = self.run_shell("--runner", "asyncio", "-c", STATE)
        self.assertIn("set to use `asyncio`", r.stdout)
        r = self.run_shell("--runner=no_such_runner", "-c", "1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no_such_runner", r.stderr)
        self.assertIn("comes from --runner", r.stderr)

    def test_no_autoawait(self):
        r = self.run_shell("--no-autoawait", "-c", "import asyncio\nawait asyncio.sleep(0)")
        self.assertEqual(r.returncode, 1)
        self.assertIn("'await' outside function", r.stderr)


class Precedence(ShellTest):
    def test_config_then_env_then_option(self):
        path = self.write_config("# the default runner\nrunner = from_config\n")
        r = self.run_shell("-c", "1")
        self.assertEqual(r.returncode, 1)
        self.assertIn("'from_config' comes from %s:2" % path, r.stderr)

        env = self.env(AA_SHELL_RUNNER="from_env")
        r = self.run_shell("-c", "1", env=env)
        self.assertIn("'from_env' comes from AA_SHELL_RUNNER", r.stderr)

        r = self.run_shell("--runner", "asyncio", "-c", STATE, env=env)
        self.assertEqual(r.returncode, 0)
        self.assertIn("set to use `asyncio`", r.stdout)

    def test_env_over_config(self):
        self.write_config("runner = from_config\n")
        r = self.run_shell("-c", STATE, env=self.env(AA_SHELL_RUNNER="asyncio"))
        self.assertEqual(r.returncode, 0)
        self.assertIn("set to use `asyncio`", r.stdout)

    def test_config_picks_a_real_runner(self):
        probe = self.run_shell("--runner", "trio", "-c", "1")
        if probe.returncode != 0:
            self.skipTest("the trio runner does not load here: " + probe.stderr)
        self.write_config("runner = trio\n")
        r = self.run_shell("-c", STATE)
        self.assertIn("set to use `trio`", r.stdout)


class ConfigFile(ShellTest):
    def test_xdg_config_home_then_home(self):
        self.write_config("runner = in_xdg\n")
        r = self.run_shell("-c", "1")
        self.assertIn("in_xdg", r.stderr)
        # without XDG_CONFIG_HOME (or with a relative one): ~/.config
        self.write_config("runner = in_home\n", os.path.join(self.home, ".config"))
        for xdg in (None, "relative/dir"):
            r = self.run_shell("-c", "1", env=self.env(XDG_CONFIG_HOME=xdg))
            self.assertIn("in_home", r.stderr)

    def test_bad_lines_warn_with_file_and_line_and_the_rest_applies(self):
        path = self.write_config(
            "runner = asyncio\n"
            "colour = on\n"
            "autoawait = maybe\n"
            "just words\n"
            "runner = Not A Name\n"
            "autoawait = off\n")
        r = self.run_shell("-c", "import asyncio\nawait asyncio.sleep(0)")
        self.assertIn("%s:2: unknown setting 'colour'" % path, r.stderr)
        self.assertIn("%s:3: expected on or off, not 'maybe'" % path, r.stderr)
        self.assertIn("%s:4: expected 'name = value', not 'just words'" % path,
                      r.stderr)
        self.assertIn("%s:5: not a runner name" % path, r.stderr)
        self.assertIn("'await' outside function", r.stderr)  # line 6 applied

    def test_autoawait_off_then_option_cannot_turn_it_on_but_magic_can(self):
        self.write_config("autoawait = off\n")
        r = self.run_shell(input="%autoawait\n%autoawait on\n"
                                 "import asyncio\nawait asyncio.sleep(0, 3)\n")
        self.assertIn("autoawait is `off`", r.stdout)
        self.assertIn("Out[4]: 3", r.stdout)

    def test_banner_off(self):
        self.write_config("banner = off\n")
        child = self.spawn()
        child.expect_exact("In [1]: ")
        self.assertNotIn("Python", child.before)

    def test_color_off(self):
        self.write_config("color = off\n")
        child = self.spawn("-q", env=self.env(NO_COLOR=None))
        child.expect_exact("In [1]: ")
        child.sendline("1")
        child.expect_exact("Out[1]: 1")
        self.assertNotIn("\x1b[3", child.before)

    def test_history_off(self):
        self.write_config("history = off\n")
        child = self.console()
        self.cell(child, "x = 1", 2)
        child.sendeof()
        self.wait_exit(child)
        self.assertFalse(os.path.exists(os.path.join(self.home, ".aa_shell_history")))


if __name__ == "__main__":
    harness.main()
