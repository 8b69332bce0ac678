"""test_terminal.py -- what the terminal hands the console arrives whole.

Every byte typed or pasted reaches the cell: in the C locale (as python3
does, PEP 538 and 540) and in lines far longer than a screen.
"""

import os
import subprocess
import threading

import pexpect

import harness
from harness import ShellTest, TIMEOUT

TEXT = "héllo €"
RESULT = "('héllo €', 7, b'h\\xc3\\xa9llo \\xe2\\x82\\xac')"


class CLocale(ShellTest):
    def c_env(self, lc_all="C"):
        return self.env(LANG="C", LC_ALL=lc_all, LC_CTYPE=None)

    def check_console(self, env, paste):
        child = self.console(env=env)
        line = 's = "%s"\r' % TEXT
        if paste:
            self.paste(child, line)
        else:
            for ch in line:  # one key at a time
                child.send(ch)
        child.expect_exact("In [2]: ")
        self.assertEqual(self.value(child, "s, len(s), s.encode()", 2), RESULT)
        return child

    def test_typed_with_lc_all_c(self):
        self.check_console(self.c_env(), paste=False)

    def test_pasted_with_lc_all_c(self):
        self.check_console(self.c_env(), paste=True)

    def test_lang_c_coerces_lc_ctype_for_children(self):
        # PEP 538, as python3: LC_CTYPE=C.UTF-8 in the environment.
        child = self.check_console(self.c_env(lc_all=None), paste=False)
        self.cell(child, "import os, sys", 4)
        self.assertEqual(
            self.value(child, "os.environ.get('LC_CTYPE'), "
                              "sys.getfilesystemencoding()", 4),
            "('C.UTF-8', 'utf-8')")

    def run_bytes(self, args, data=None):
        return subprocess.run(
            [harness.AA_SHELL] + args, input=data, env=self.c_env(),
            cwd=self.tmp, capture_output=True, timeout=60)

    def test_dash_c_with_lc_all_c(self):
        r = self.run_bytes(
            ["-c", 's = "%s"\nprint(s, len(s), s.encode())' % TEXT])
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        self.assertEqual(r.stdout.decode(),
                         "héllo € 7 b'h\\xc3\\xa9llo \\xe2\\x82\\xac'\n")

    def test_piped_with_lc_all_c(self):
        r = self.run_bytes(
            [], ('s = "%s"\ns, len(s), s.encode()\n' % TEXT).encode())
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        self.assertEqual(r.stdout.decode(), "Out[2]: %s\n" % RESULT)


class LongLines(ShellTest):
    """One line of 4 KiB, 64 KiB or 1 MiB, pasted: python3 and IPython take
    them, and so does the console, which stays alive after."""

    def paste_in_chunks(self, child, data):
        # The console echoes what it reads: write from a thread while
        # pexpect reads, or both sides end up waiting on full buffers.
        def write():
            view = memoryview(data)
            try:
                while view:
                    n = os.write(child.child_fd, view[:4096])
                    view = view[n:]
            except OSError:  # the console died: the test says so
                pass
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        return writer

    def check(self, size):
        child = self.console()
        writer = self.paste_in_chunks(
            child, ('x = "' + "a" * size + '"\r').encode())
        i = child.expect_exact(["In [2]: ", pexpect.EOF], timeout=120,
                               searchwindowsize=4096)
        self.assertEqual(i, 0, "the console died: " + child.before[-300:])
        writer.join(TIMEOUT)
        self.assertEqual(self.value(child, "len(x), set(x)", 2),
                         "(%d, {'a'})" % size)
        child.send("\x1b[A\x1b[A")  # Up, Up: the long line from history
        child.expect_exact("aaaa", timeout=120)
        child.send("\x15")  # Ctrl-U drops it
        self.cell(child, "", 3)
        self.assertEqual(self.value(child, "6 * 7", 3), "42")
        child.sendeof()
        self.assertEqual(self.wait_exit(child), (0, None))

    def test_4_kib(self):
        self.check(4 * 1024)

    def test_64_kib(self):
        self.check(64 * 1024)

    def test_1_mib(self):
        self.check(1024 * 1024)


if __name__ == "__main__":
    harness.main()
