"""test_pipes.py -- aa-shell writing into a pipe whose reader goes away.

`aa-shell ... | head -1`: once head has its line and exits, python3 (which
ignores SIGPIPE) gets BrokenPipeError from its next write, runs the
program's finally blocks and exits 1.  aa-shell must do the same, whether
it was started with SIGPIPE ignored (it must not print into nothing
forever) or with the default (it must not die before the cleanup runs),
in every batch mode.  A hang fails the test after a timeout instead of
blocking.
"""

import os
import signal
import subprocess
import tempfile
import threading

import harness
from harness import ShellTest

PYTHON3 = "/usr/bin/python3"

# How long a program may take to notice its reader has gone.
ENDS_WITHIN = harness.TIMEOUT

LOOP = "while True:\n    print(1)\n"


def _ignore_sigpipe():
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)


class Pipes(ShellTest):
    def head1(self, argv, sigpipe="ignored", stdin_line=None):
        """Runs argv with its stdout read by a `head -1` of our own: one line
        is read, then the pipe is closed.  With stdin_line, stdin is that
        line over and over, endlessly.  Returns (status, first line,
        stderr); a program that does not end fails the test."""
        err = tempfile.TemporaryFile(dir=self.tmp)
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin_line else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env=self.env(),
            cwd=self.tmp,
            preexec_fn=_ignore_sigpipe if sigpipe == "ignored" else None,
        )
        self.procs.append(proc)
        if stdin_line:
            threading.Thread(target=self.feed, args=(proc, stdin_line),
                             daemon=True).start()
        first = proc.stdout.readline().decode()
        proc.stdout.close()
        try:
            status = proc.wait(timeout=ENDS_WITHIN)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            err.close()
            self.fail("%s never ended once its reader had gone" % argv[0])
        err.seek(0)
        text = err.read().decode(errors="replace")
        err.close()
        return status, first, text

    @staticmethod
    def feed(proc, line):
        chunk = (line * 256).encode()
        try:
            while True:
                proc.stdin.write(chunk)
                proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def script(self, text):
        path = os.path.join(self.tmp, "script.py")
        with open(path, "w") as f:
            f.write(text)
        return path

    def marker_code(self):
        self.marker = os.path.join(self.tmp, "marker")
        return ("try:\n    while True:\n        print(1)\nfinally:\n"
                "    open(%r, 'w').write('done')\n" % self.marker)

    # ------------------------------------------------------------ H3

    def test_c_ends_as_python3_does(self):
        want = self.head1([PYTHON3, "-c", LOOP])
        got = self.head1([harness.AA_SHELL, "-c", LOOP])
        self.assertEqual(want[:2], (1, "1\n"))
        self.assertEqual(got[:2], want[:2])
        self.assertEqual(got[2].splitlines()[-1], want[2].splitlines()[-1])
        self.assertEqual(got[2].splitlines()[-1],
                         "BrokenPipeError: [Errno 32] Broken pipe")

    def test_script_ends_as_python3_does(self):
        path = self.script(LOOP)
        want = self.head1([PYTHON3, path])
        got = self.head1([harness.AA_SHELL, path])
        self.assertEqual(got[:2], want[:2])
        self.assertEqual(got[2].splitlines()[-1], want[2].splitlines()[-1])

    def test_endless_piped_cells_end(self):
        status, first, err = self.head1([harness.AA_SHELL],
                                        stdin_line="print(1)\n")
        self.assertEqual((status, first), (1, "1\n"))
        # The first cell that let BrokenPipeError out ends the input, as
        # for python3 reading a script from stdin: one traceback.
        self.assertEqual(err.count("BrokenPipeError: [Errno 32] Broken pipe"),
                         1, err)

    def test_endless_values_end_with_120(self):
        # The shell's own output (Out[n]) fails: python3's status when its
        # stdout cannot be flushed at exit.
        status, first, err = self.head1([harness.AA_SHELL], stdin_line="1\n")
        self.assertEqual((status, first), (120, "Out[1]: 1\n"))
        self.assertEqual(err, "aa-shell: cannot write to standard output: "
                              "Broken pipe\n")

    def test_caught_broken_pipe_goes_on(self):
        code = ("import sys\ntry:\n    while True:\n        print(1)\n"
                "except BrokenPipeError as e:\n"
                "    sys.stderr.write('caught %d\\n' % e.errno)\n")
        self.assertEqual(self.head1([harness.AA_SHELL, "-c", code]),
                         (0, "1\n", "caught 32\n"))

    # ------------------------------------------------------------ W3

    def test_finally_runs_with_default_sigpipe(self):
        for mode in ("-c", "file", "piped"):
            code = self.marker_code()
            if mode == "-c":
                argv, line = [harness.AA_SHELL, "-c", code], None
            elif mode == "file":
                argv, line = [harness.AA_SHELL, self.script(code)], None
            else:
                argv, line = [harness.AA_SHELL], code + "\n"
            for sigpipe in ("default", "ignored"):
                if os.path.exists(self.marker):
                    os.unlink(self.marker)
                status, first, err = self.head1(argv, sigpipe, line)
                what = "%s, SIGPIPE %s: %s" % (mode, sigpipe, err)
                self.assertEqual((status, first), (1, "1\n"), what)
                self.assertTrue(os.path.exists(self.marker), what)
                with open(self.marker) as f:
                    self.assertEqual(f.read(), "done")


if __name__ == "__main__":
    harness.main()
