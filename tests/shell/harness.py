"""harness.py -- what the aa-shell tests share.

Each test file is run by ctest as `python3 test_X.py PATH-TO-AA-SHELL`.
Every test gets its own HOME and XDG_CONFIG_HOME (temporary folders), a
clean environment (no AA_SHELL_*, no NO_COLOR unless asked), and every
child it starts is killed when it ends, whatever happened.  Interactive
tests drive aa-shell through a real pseudo-terminal with pexpect (Debian's
python3-pexpect); screen tests through tmux.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import pexpect

AA_SHELL = None

# One cell's worth of waiting: generous, for the sanitizer build.
TIMEOUT = 20


def main():
    global AA_SHELL
    if len(sys.argv) < 2:
        sys.exit("usage: %s PATH-TO-AA-SHELL [unittest args]" % sys.argv[0])
    AA_SHELL = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)


class ShellTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="aa-shell-test-")
        self.home = os.path.join(self.tmp, "home")
        self.xdg = os.path.join(self.tmp, "xdg")
        os.mkdir(self.home)
        os.mkdir(self.xdg)
        self.children = []
        self.procs = []

    def tearDown(self):
        for child in self.children:
            if child.isalive():
                child.close(force=True)
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------ setup

    def env(self, **extra):
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AA_SHELL", "XDG_", "PYTHON"))
            and k not in ("NO_COLOR", "EDITRC", "TMUX")
        }
        env.update(
            HOME=self.home,
            XDG_CONFIG_HOME=self.xdg,
            TERM="xterm",
            NO_COLOR="1",
            LC_ALL="C.UTF-8",
        )
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def write_config(self, text, base=None):
        folder = os.path.join(base or self.xdg, "aa-shell")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "config")
        with open(path, "w") as f:
            f.write(text)
        return path

    # ------------------------------------------------ through a terminal

    def spawn(self, *args, env=None, rows=30, cols=100):
        child = pexpect.spawn(
            AA_SHELL,
            list(args),
            env=env or self.env(),
            cwd=self.tmp,
            encoding="utf-8",
            codec_errors="replace",
            timeout=TIMEOUT,
            dimensions=(rows, cols),
        )
        self.children.append(child)
        return child

    def console(self, *args, env=None):
        """A console with no banner, at its first prompt."""
        child = self.spawn("-q", *args, env=env)
        child.expect_exact("In [1]: ")
        return child

    def cell(self, child, text, n):
        """Types a one-line cell and waits for the prompt after it."""
        child.sendline(text)
        child.expect_exact("In [%d]: " % n)
        return child.before

    def paste(self, child, text):
        """Sends text in one write, as a terminal pastes it: the console
        then leaves auto-indent to the text."""
        child.send(text.replace("\n", "\r"))

    def expect_indent(self, child, n, width=8):
        """Waits for a continuation prompt whose line starts with n spaces
        of auto-indent (libedit may move the cursor over them)."""
        child.expect(r"\.\.\.:(?: {%d}|\x1b\[%dG)" % (n + 1, width + n + 1))

    def value(self, child, expr, n):
        """The Out[n] of expr, the n-th cell."""
        child.sendline(expr)
        child.expect(r"Out\[%d\]: (.*?)\r\n" % n)
        out = child.match.group(1)
        child.expect_exact("In [%d]: " % (n + 1))
        return out

    def wait_exit(self, child):
        child.expect(pexpect.EOF)
        child.close()
        return child.exitstatus, child.signalstatus

    # ------------------------------------------------------ without one

    def run_shell(self, *args, input=None, env=None, timeout=60):
        return subprocess.run(
            [AA_SHELL] + list(args),
            input=input,
            env=env or self.env(),
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, *args, env=None):
        proc = subprocess.Popen(
            [AA_SHELL] + list(args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env or self.env(),
            cwd=self.tmp,
            text=True,
        )
        self.procs.append(proc)
        return proc


class Tmux:
    """aa-shell in a tmux pane of its own server, to look at the screen."""

    def __init__(self, test, *args, env=None, rows=30, cols=100):
        self.sock = "aa-shell-test-%d-%d" % (os.getpid(), id(self))
        env = env or test.env()
        cmd = ["env", "-i"] + ["%s=%s" % kv for kv in env.items()]
        cmd += [AA_SHELL] + list(args)
        self.tmux(
            "new-session", "-d", "-x", str(cols), "-y", str(rows),
            "-s", "t", " ".join(_quote(c) for c in cmd),
        )
        self.tmux("set-option", "-t", "t", "remain-on-exit", "on")

    def tmux(self, *args):
        return subprocess.run(
            ["tmux", "-L", self.sock, "-f", "/dev/null"] + list(args),
            capture_output=True, text=True, timeout=TIMEOUT, check=True,
        ).stdout

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "t", *keys)

    def paste(self, text):
        """Pastes text as a terminal does (newlines become Enter)."""
        self.tmux("set-buffer", "--", text)
        self.tmux("paste-buffer", "-t", "t")

    def screen(self):
        lines = self.tmux("capture-pane", "-p", "-t", "t").split("\n")
        while lines and not lines[-1].strip():
            lines.pop()
        return lines

    def wait_for(self, predicate, timeout=TIMEOUT):
        end = time.monotonic() + timeout
        while True:
            lines = self.screen()
            if predicate(lines):
                return lines
            if time.monotonic() > end:
                raise AssertionError("screen never matched:\n" + "\n".join(lines))
            time.sleep(0.05)

    def close(self):
        subprocess.run(["tmux", "-L", self.sock, "kill-server"],
                       capture_output=True, timeout=TIMEOUT)


def _quote(s):
    return "'" + s.replace("'", "'\\''") + "'"
