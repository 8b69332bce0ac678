"""test_console.py -- the interactive console, through a real pty."""

import os
import re
import signal
import stat
import time

import harness
from harness import ShellTest


class Prompts(ShellTest):
    def test_banner_names_python_runner_and_switch(self):
        child = self.spawn()
        child.expect(r"Python 3\.\d+")
        child.expect_exact("asyncio")
        child.expect_exact("%autoawait trio")
        child.expect_exact("In [1]: ")

    def test_quiet_has_no_banner(self):
        child = self.spawn("-q")
        child.expect_exact("In [1]: ")
        self.assertNotIn("Python", child.before)

    def test_numbering_out_and_blank_line(self):
        child = self.console()
        child.sendline("40 + 2")
        child.expect_exact("Out[1]: 42\r\n\r\n")
        child.expect_exact("In [2]: ")
        self.cell(child, "x = 5", 3)  # no Out for a statement
        self.assertNotIn("Out[2]", child.before)
        self.assertEqual(self.value(child, "x * 2", 3), "10")
        child.sendline("1/0")
        child.expect_exact("ZeroDivisionError")
        child.expect_exact("In [5]: ")  # a failing cell counts too
        child.sendline("")  # an empty line is no cell
        child.expect_exact("In [5]: ")

    def test_top_level_await(self):
        child = self.console()
        self.cell(child, "import asyncio", 2)
        out = self.value(child, "await asyncio.sleep(0, result='done')", 2)
        self.assertEqual(out, "'done'")

    def test_colors_unless_no_color(self):
        child = self.spawn("-q", env=self.env(NO_COLOR=None))
        child.expect_exact("\x1b[32m")
        child.expect_exact("In [")
        child.sendline("7")
        child.expect_exact("\x1b[31mOut[")


class MultiLine(ShellTest):
    def test_async_with_typed_line_by_line_with_auto_indent(self):
        child = self.console()
        self.cell(child, "import asyncio", 2)
        child.sendline("async with asyncio.timeout(5):")
        # the continuation prompt, aligned on IPython's colon, then the
        # block's indent already in the line
        child.expect_exact("   ...: ")
        self.expect_indent(child, 4)
        child.sendline("await asyncio.sleep(0.01)")
        self.expect_indent(child, 4)
        child.sendline("r = 7")
        self.expect_indent(child, 4)
        child.sendline("")  # the indented blank line ends the block
        child.expect_exact("In [3]: ")
        self.assertEqual(self.value(child, "r", 3), "7")
        child.sendeof()
        self.wait_exit(child)
        # the indent was in the lines themselves
        with open(os.path.join(self.home, ".aa_shell_history")) as f:
            self.assertIn("async with asyncio.timeout(5):\\n"
                          "    await asyncio.sleep(0.01)\\n    r = 7\n",
                          f.read())

    def test_nested_block_indents_twice(self):
        child = self.console()
        child.sendline("for i in range(2):")
        self.expect_indent(child, 4)
        child.sendline("if i:")
        self.expect_indent(child, 8)
        child.sendline("print('odd', i)")
        self.expect_indent(child, 8)
        child.sendline("")
        child.expect_exact("odd 1")
        child.expect_exact("In [2]: ")

    def test_open_bracket_continues(self):
        child = self.console()
        child.sendline("t = (1,")
        child.expect_exact("   ...: ")
        child.sendline("2)")
        child.expect_exact("In [2]: ")
        self.assertEqual(self.value(child, "t", 2), "(1, 2)")


class Completion(ShellTest):
    def test_name_from_an_earlier_cell(self):
        child = self.console()
        self.cell(child, "zebra_count_xyz = 3", 2)
        child.send("zebra_c\t")
        child.expect_exact("zebra_count_xyz")
        child.send("\r")
        child.expect_exact("Out[2]: 3")
        self.assertNotIn("\x07", child.before)  # no bell for a sure match

    def test_attribute_and_list_on_second_tab(self):
        child = self.console()
        self.cell(child, "import asyncio", 2)
        child.send("await asyncio.sle\t")
        child.expect_exact("asyncio.sleep")
        child.send("(0, 5)\r")
        child.expect_exact("Out[2]: 5")
        child.expect_exact("In [3]: ")
        child.send("asyncio.gat")
        time.sleep(0.2)
        child.send("\t")
        child.expect_exact("asyncio.gather")
        child.send("\x15")  # Ctrl-U: drop the line
        child.send("asyncio.Ti\t")
        time.sleep(0.2)
        child.send("\t")  # two matches: Timeout, TimeoutError
        child.expect_exact("TimeoutError")

    def test_tab_at_line_start_indents(self):
        child = self.console()
        child.sendline("if True:")
        self.expect_indent(child, 4)
        child.send("\tz = 1\r")  # 4 spaces more: 8, still valid
        self.expect_indent(child, 8)
        child.sendline("")
        child.expect_exact("In [2]: ")
        self.assertEqual(self.value(child, "z", 2), "1")


class CtrlC(ShellTest):
    def test_during_sleep_back_at_prompt_under_a_second(self):
        child = self.console()
        self.cell(child, "import asyncio", 2)
        child.sendline("await asyncio.sleep(30)")
        time.sleep(0.5)
        start = time.monotonic()
        child.sendintr()
        child.expect_exact("KeyboardInterrupt")
        child.expect_exact("In [3]: ")
        self.assertLess(time.monotonic() - start, 1.0)
        self.assertNotIn("Traceback", child.before)
        self.assertEqual(self.value(child, "await asyncio.sleep(0, 9)", 3), "9")

    def test_cleanup_runs_and_loop_survives(self):
        child = self.console()
        self.cell(child, "import asyncio", 2)
        self.paste(child, "try:\n    await asyncio.sleep(30)\n"
                          "finally:\n    print('cleaned up')\n\n")
        time.sleep(0.5)
        child.sendintr()
        child.expect_exact("cleaned up")
        child.expect_exact("KeyboardInterrupt")
        child.expect_exact("In [3]: ")
        self.cell(child, "t = asyncio.ensure_future(asyncio.sleep(0, 'ok'))", 4)
        self.assertEqual(self.value(child, "await t", 4), "'ok'")

    def test_busy_sync_cell(self):
        child = self.console()
        child.sendline("while True: pass")
        time.sleep(0.5)
        child.sendintr()
        child.expect_exact("KeyboardInterrupt")
        child.expect_exact("In [2]: ")
        self.assertEqual(self.value(child, "2 + 2", 2), "4")

    def test_at_prompt_clears_the_line(self):
        child = self.console()
        child.send("garbage_that_must_not_run")
        time.sleep(0.3)
        child.sendintr()
        child.expect_exact("^C")
        child.expect_exact("In [1]: ")  # the same cell number
        self.assertEqual(self.value(child, "6 * 7", 1), "42")

    def test_at_prompt_drops_a_partial_cell(self):
        child = self.console()
        child.sendline("if True:")
        self.expect_indent(child, 4)
        child.send("x = 1")
        time.sleep(0.3)
        child.sendintr()
        child.expect_exact("In [1]: ")
        self.assertEqual(self.value(child, "'fresh'", 1), "'fresh'")
        child.sendline("x")
        child.expect_exact("NameError")

    def test_second_ctrl_c_forces_a_busy_unwinding_cell(self):
        child = self.console()
        self.cell(child, "import asyncio", 2)
        # A cell whose cleanup keeps running Python code: the first Ctrl-C
        # cancels it, the second forces it.
        self.paste(child, "try:\n    await asyncio.sleep(30)\nfinally:\n"
                          "    print('unwinding')\n    while True: pass\n\n")
        time.sleep(0.5)
        child.sendintr()
        child.expect_exact("unwinding")
        time.sleep(0.3)
        start = time.monotonic()
        child.sendintr()
        child.expect_exact("KeyboardInterrupt")
        child.expect_exact("In [3]: ")
        self.assertLess(time.monotonic() - start, 1.0)
        self.assertEqual(self.value(child, "1", 3), "1")


class Exit(ShellTest):
    def test_ctrl_d_exits_0(self):
        child = self.console()
        child.sendeof()
        self.assertEqual(self.wait_exit(child), (0, None))

    def test_ctrl_d_after_typing_does_not_exit(self):
        child = self.console()
        child.send("12")
        child.sendcontrol("a")  # cursor to the start: Ctrl-D deletes the 1
        child.sendeof()
        child.send("\r")
        child.expect_exact("Out[1]: 2")

    def test_exit_with_code(self):
        child = self.console()
        child.sendline("exit(3)")
        self.assertEqual(self.wait_exit(child), (3, None))

    def test_sys_exit_and_quit(self):
        child = self.console()
        child.sendline("import sys; sys.exit(5)")
        self.assertEqual(self.wait_exit(child), (5, None))
        child = self.console()
        child.sendline("quit()")
        self.assertEqual(self.wait_exit(child), (0, None))

    def test_bare_exit(self):
        child = self.console()
        child.sendline("exit")
        self.assertEqual(self.wait_exit(child), (0, None))


class Background(ShellTest):
    def test_task_progresses_while_prompt_waits(self):
        child = self.console()
        self.cell(child, "import asyncio", 2)
        self.cell(child, "xs = []", 3)
        self.paste(child, "async def tick():\n    while True:\n"
                          "        xs.append(1)\n"
                          "        await asyncio.sleep(0.05)\n\n")
        child.expect_exact("In [4]: ")
        self.cell(child, "task = asyncio.ensure_future(tick())", 5)
        self.cell(child, "n0 = len(xs)", 6)
        time.sleep(0.6)  # at the prompt: nothing but the poll runs the loop
        grown = int(self.value(child, "len(xs) - n0", 6))
        self.assertGreaterEqual(grown, 5)

    def test_output_does_not_lose_the_edited_line(self):
        child = self.console()
        self.cell(child, "import asyncio", 2)
        self.paste(child, "async def talk():\n    for i in range(3):\n"
                          "        await asyncio.sleep(0.2)\n"
                          "        print('tick', i)\n\n")
        child.expect_exact("In [3]: ")
        self.cell(child, "_t = asyncio.ensure_future(talk())", 4)
        child.send("'abc")
        child.expect_exact("tick 2")
        child.send("def'\r")
        child.expect_exact("Out[4]: 'abcdef'")


class History(ShellTest):
    def test_across_two_runs_mode_0600(self):
        child = self.console()
        self.cell(child, "hist_a = 1", 2)
        child.sendline("if True:")
        self.expect_indent(child, 4)
        child.sendline("hist_b = 2")
        self.expect_indent(child, 4)
        child.sendline("")
        child.expect_exact("In [3]: ")
        child.sendeof()
        self.assertEqual(self.wait_exit(child), (0, None))

        path = os.path.join(self.home, ".aa_shell_history")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path) as f:
            entries = f.read().splitlines()
        # a multi-line cell is one entry
        self.assertEqual(entries, ["hist_a = 1", "if True:\\n    hist_b = 2"])

        child = self.console()
        child.send("\x1b[A")  # Up: the whole block comes back
        child.expect_exact("hist_b = 2")
        child.send("\r")
        child.expect_exact("In [2]: ")
        child.send("\x1b[A\x1b[A\x1b[A")
        child.expect_exact("hist_a = 1")
        child.send("\r")
        child.expect_exact("In [3]: ")
        self.assertEqual(self.value(child, "hist_a + hist_b", 3), "3")

    def test_an_interrupted_cell_is_not_saved(self):
        child = self.console()
        child.send("never_saved")
        time.sleep(0.3)
        child.sendintr()
        child.expect_exact("In [1]: ")
        self.cell(child, "saved = 1", 2)
        child.sendeof()
        self.wait_exit(child)
        with open(os.path.join(self.home, ".aa_shell_history")) as f:
            self.assertEqual(f.read(), "saved = 1\n")


class Magics(ShellTest):
    def test_time_with_await_shows_times_and_out(self):
        child = self.console()
        self.cell(child, "import asyncio", 2)
        child.sendline("%time await asyncio.sleep(0.1, result=5)")
        child.expect(r"CPU times: user [^\r\n]+, sys [^\r\n]+, "
                     r"total [^\r\n]+\r\n")
        child.expect(r"Wall time: ([\d.]+) (ms|s)\r\n")
        wall, unit = child.match.group(1), child.match.group(2)
        self.assertGreaterEqual(float(wall) * (1 if unit == "s" else 1e-3), 0.1)
        child.expect_exact("Out[2]: 5")

    def test_timeit_with_await(self):
        child = self.console()
        self.cell(child, "import asyncio", 2)
        child.sendline("%timeit -n 5 -r 3 await asyncio.sleep(0.01)")
        child.expect(r"([\d.]+) ms ± [\d.]+ .?s per loop "
                     r"\(mean ± std\. dev\. of 3 runs, 5 loops each\)")
        self.assertGreaterEqual(float(child.match.group(1)), 10)
        child.expect_exact("In [3]: ")


if __name__ == "__main__":
    harness.main()
