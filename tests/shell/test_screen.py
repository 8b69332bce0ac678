"""test_screen.py -- what the terminal shows, read back from tmux.

pexpect sees the bytes aa-shell writes; these tests look at the screen
those bytes make, where a corrupted line would show: output of background
tasks lands above the cell being typed, which stays whole below it.
"""

import time

import harness
from harness import ShellTest, Tmux

TICKER = (
    "async def talk(n, pause):\n"
    "    for i in range(n):\n"
    "        await asyncio.sleep(pause)\n"
    "        print('tick', i)\n"
)


class Screen(ShellTest):
    def setUp(self):
        super().setUp()
        self.term = None

    def tearDown(self):
        if self.term is not None:
            self.term.close()
        super().tearDown()

    def start(self, cols=100):
        self.term = Tmux(self, "-q", cols=cols)
        self.prompt(1)
        return self.term

    def prompt(self, n):
        """Waits until the last screen line is the empty In [n] prompt."""
        return self.term.wait_for(
            lambda lines: lines and lines[-1].rstrip() == "In [%d]:" % n)

    def line(self, text, n_next=None):
        self.term.keys("-l", text)
        self.term.keys("Enter")
        if n_next is not None:
            self.prompt(n_next)

    def define_ticker(self):
        self.line("import asyncio", 2)
        # pasted: the lines keep their own indentation
        self.term.paste(TICKER + "\n")
        self.prompt(3)

    def test_auto_indent_is_on_screen(self):
        term = self.start()
        self.line("async with asyncio.timeout(1):")
        lines = term.wait_for(lambda l: l[-1].startswith("   ...:"))
        self.assertEqual(lines[-1], "   ...:")  # tmux trims the spaces...
        x = int(term.tmux("display", "-p", "-t", "t", "#{cursor_x}"))
        self.assertEqual(x, len("   ...: ") + 4)  # ...but the cursor is past

    def test_background_output_above_the_partial_line(self):
        term = self.start()
        self.define_ticker()
        self.line("_t = asyncio.ensure_future(talk(3, 0.3))", 4)
        term.keys("-l", "partial = 'abc")
        lines = term.wait_for(lambda l: l[-1] == "In [4]: partial = 'abc" and
                              "tick 2" in l)
        self.assertEqual(lines[-2:], ["tick 2", "In [4]: partial = 'abc"])
        self.assertEqual([l for l in lines if l.startswith("tick")],
                         ["tick 0", "tick 1", "tick 2"])
        term.keys("-l", "def'")
        term.keys("Enter")
        self.prompt(5)
        self.line("partial", 6)
        self.assertIn("Out[5]: 'abcdef'", self.term.screen())

    def test_background_output_moves_the_whole_cell_down(self):
        term = self.start()
        self.define_ticker()
        self.line("_t = asyncio.ensure_future(talk(2, 0.5))", 4)
        self.line("if True:")
        term.wait_for(lambda l: l[-1].startswith("   ...:"))
        time.sleep(0.2)  # let the prompt's auto-indent settle
        term.keys("-l", "y = 1")
        lines = term.wait_for(lambda l: "tick 1" in l and
                              l[-1] == "   ...:     y = 1")
        self.assertEqual(lines[-4:], ["tick 0", "tick 1", "In [4]: if True:",
                                      "   ...:     y = 1"])

    def test_wrapped_line_is_redrawn_whole(self):
        term = self.start(cols=40)
        self.define_ticker()
        self.line("_t = asyncio.ensure_future(talk(2, 0.5))", 4)
        long = "x = '" + "w" * 60
        term.keys("-l", long)
        lines = term.wait_for(lambda l: "tick 1" in l and
                              "".join(l[-2:]) == "In [4]: " + long)
        self.assertEqual(lines[-4:-2], ["tick 0", "tick 1"])
        self.assertEqual(sum("wwww" in l for l in lines), 2)  # no leftovers

    def test_ctrl_c_at_prompt_leaves_the_line_marked(self):
        term = self.start()
        term.keys("-l", "abandoned")
        time.sleep(0.3)
        term.keys("C-c")
        lines = term.wait_for(lambda l: l[-1] == "In [1]:")
        self.assertEqual(lines[-2], "In [1]: abandoned^C")


if __name__ == "__main__":
    harness.main()
