"""test_fds.py -- aa-shell started with its standard descriptors closed.

A daemon, or `aa-shell <&-`, starts with fd 0 (and maybe 1) closed: the
library's own descriptors must never take their numbers, or the console
would read its interrupt channel as its input, and what a cell writes to
fd 1 would reach the library (issue 9, H2).
"""

import os
import signal
import subprocess
import time

import harness
from harness import ShellTest


def closing(*fds):
    def close():
        for fd in fds:
            os.close(fd)
    return close


class ClosedDescriptors(ShellTest):
    def start(self, *args, close=(0,)):
        proc = subprocess.Popen(
            [harness.AA_SHELL] + list(args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env(),
            cwd=self.tmp,
            text=True,
            preexec_fn=closing(*close),
        )
        self.procs.append(proc)
        return proc

    def test_closed_stdin_is_the_end_of_input(self):
        # As `python3 <&-`: no input, so the console ends at once, status 0.
        proc = self.start("-q")
        out, err = proc.communicate(timeout=harness.TIMEOUT)
        self.assertEqual((proc.returncode, err), (0, ""))

    def test_script_with_stdin_closed(self):
        proc = self.start("-c", "print('ran')")
        out, err = proc.communicate(timeout=harness.TIMEOUT)
        self.assertEqual((proc.returncode, out, err), (0, "ran\n", ""))

    def test_interrupts_work_with_stdin_and_stdout_closed(self):
        # A cell's write to fd 1 fails (it is closed) rather than reaching
        # the library; Ctrl-C still stops the cell.
        proc = self.start(
            "-c",
            "import os, sys, time\n"
            "try:\n    os.write(1, b'q')\n"
            "except OSError as e:\n    print('fd 1:', e.errno, file=sys.stderr)\n"
            "print('busy', file=sys.stderr, flush=True)\n"
            "while True:\n    pass",
            close=(0, 1),
        )
        line = proc.stderr.readline()
        self.assertEqual(line, "fd 1: 9\n")
        self.assertEqual(proc.stderr.readline(), "busy\n")
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=harness.TIMEOUT)[1]
        self.assertIn("KeyboardInterrupt", err)
        self.assertEqual(proc.returncode, -signal.SIGINT)


if __name__ == "__main__":
    harness.main()
