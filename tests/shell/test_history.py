"""test_history.py -- the history file is the user's own, or it is not used.

Whoever can write the folder of ~/.aa_shell_history (a shared HOME, a
HOME on /tmp) must not make the console write anywhere else: a symbolic
link, a hard link, a FIFO or a file of another user at that name turns
the history off with one warning, and the console goes on.  The
compaction writes a fresh file of its own (mkstemp) and renames it over.
"""

import os
import pexpect
import stat

import harness
from harness import ShellTest, TIMEOUT

NAME = ".aa_shell_history"
WARNING = "aa-shell: history off: %s "


class HistoryFile(ShellTest):
    def setUp(self):
        super().setUp()
        self.path = os.path.join(self.home, NAME)
        self.victim = os.path.join(self.tmp, "victim")
        with open(self.victim, "w") as f:
            f.write("precious\n")

    def victim_text(self):
        with open(self.victim) as f:
            return f.read()

    def refused(self, reason):
        """A console that warns once, runs a cell and leaves."""
        child = self.spawn("-q")
        child.expect_exact(WARNING % self.path + reason + "\r\n")
        child.expect_exact("In [1]: ")
        self.assertNotIn("history", child.before)  # one line, no more
        self.assertEqual(self.value(child, "6 * 7", 1), "42")
        child.send("\x1b[A")  # Up: the cell typed, nothing from the file
        child.expect_exact("6 * 7")
        child.send("\x15")
        child.sendeof()
        self.assertEqual(self.wait_exit(child), (0, None))

    def test_symlink_is_refused_and_its_target_untouched(self):
        os.symlink(self.victim, self.path)
        self.refused("is a symbolic link")
        self.assertEqual(self.victim_text(), "precious\n")
        self.assertTrue(os.path.islink(self.path))

    def test_hard_link_is_refused(self):
        os.link(self.victim, self.path)
        self.refused("has 2 hard links")
        self.assertEqual(self.victim_text(), "precious\n")

    def test_fifo_is_refused_without_hanging(self):
        os.mkfifo(self.path, 0o600)
        self.refused("is not a regular file")
        self.assertTrue(stat.S_ISFIFO(os.lstat(self.path).st_mode))

    def test_file_of_another_user_is_refused(self):
        if os.geteuid() != 0:
            self.skipTest("making a file of another user needs root")
        with open(self.path, "w") as f:
            f.write("theirs = 1\n")
        os.chmod(self.path, 0o666)
        os.chown(self.path, 54321, -1)
        self.refused("is owned by uid 54321, not by you (uid %d)"
                     % os.geteuid())
        with open(self.path) as f:
            self.assertEqual(f.read(), "theirs = 1\n")
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o666)

    def test_existing_file_is_made_0600(self):
        with open(self.path, "w") as f:
            f.write("kept = 1\n")
        os.chmod(self.path, 0o644)
        child = self.console()
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)
        self.assertNotIn("history off", child.before)
        child.send("\x1b[A")
        child.expect_exact("kept = 1")
        child.send("\r")
        child.expect_exact("In [2]: ")
        child.sendeof()
        self.wait_exit(child)
        with open(self.path) as f:
            self.assertEqual(f.read(), "kept = 1\n")

    def test_compaction_ignores_a_planted_temporary_name(self):
        # Twice the limit and one: the console rewrites the file as it starts.
        with open(self.path, "w") as f:
            for i in range(4001):
                f.write("old_%d = %d\n" % (i, i))
        os.chmod(self.path, 0o600)
        # The name the console used to write to, planted before it starts:
        # exec keeps the pid, so $$ is the console's.
        child = pexpect.spawn(
            "/bin/sh",
            ["-c", 'ln -s "$1" "$HOME/%s.$$.tmp" && exec "$2" -q' % NAME,
             "sh", self.victim, harness.AA_SHELL],
            env=self.env(), cwd=self.tmp, encoding="utf-8",
            codec_errors="replace", timeout=TIMEOUT, dimensions=(30, 100))
        self.children.append(child)
        child.expect_exact("In [1]: ")
        child.sendeof()
        self.assertEqual(self.wait_exit(child), (0, None))
        self.assertEqual(self.victim_text(), "precious\n")
        st = os.lstat(self.path)
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        with open(self.path) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], "old_2001 = 2001")
        self.assertEqual(len(lines), 2000)
        # Nothing left behind but the planted link.
        left = sorted(n for n in os.listdir(self.home) if n != NAME)
        self.assertEqual(len(left), 1)
        self.assertTrue(os.path.islink(os.path.join(self.home, left[0])))


if __name__ == "__main__":
    harness.main()
