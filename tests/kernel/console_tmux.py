"""console_tmux.py -- `jupyter console --kernel autoawait` in tmux, as a
user types into it.

    /usr/bin/python3 console_tmux.py AA-KERNEL [unittest args]
    /usr/bin/python3 console_tmux.py --kernel-cmd "CMD -f {connection_file}"

`aa-kernel --install --prefix TMP` writes the kernelspec (with
--kernel-cmd the test writes one with that argv itself), and jupyter
console runs with JUPYTER_PATH=TMP/share/jupyter in a tmux pane of its own
server (tests/shell/harness.py's Tmux).  The user types `import asyncio`
and `await asyncio.sleep(0.1, result=42)`: the screen shows `Out[2]: 42`
and the prompt `In [3]:`; a print() in an awaiting cell shows its line;
`1/0` shows ZeroDivisionError.  A for loop typed line by line is indented
by is_complete's reply and runs once an empty line ends it.  Ctrl-D and `y` end the console: it exits 0
and the kernel it started exits too.

Ctrl-C is left out: jupyter console 6.4 on Python 3.11 catches it itself
("KeyboardInterrupt escaped interact()") and does not interrupt the kernel,
ipykernel's either; client_script.py sends the interrupt_request it would.  Whatever happens, the tmux server and
every kernel started under the test's folder are killed.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import harness
from harness import TIMEOUT


# tests/shell/harness.py, for its Tmux.
shell_harness = harness.sibling_module("shell_harness", "shell", "harness.py")

KERNEL_NAME = "autoawait"


def processes_under(folder):
    """The pids of processes whose command line names folder (the kernels
    jupyter console started, with their connection file in it)."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmdline = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if folder in cmdline:
            pids.append(int(pid))
    return pids


def describe(pids):
    out = []
    for pid in pids:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode()
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        with open("/proc/%d/status" % pid) as f:
            ppid = [l.split()[1] for l in f if l.startswith("PPid:")][0]
        out.append("%d (%s, parent %s) %s" % (pid, state, ppid, cmd))
    return "; ".join(out)


class Console(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="aa-kernel-console-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.addCleanup(self.kill_kernels)
        prefix = os.path.join(self.tmp, "prefix")
        self.data = os.path.join(prefix, "share", "jupyter")
        cmd = harness.KERNEL_CMD
        if harness.is_aa_kernel(cmd):
            p = subprocess.run([cmd[0], "--install", "--prefix", prefix],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
        else:
            folder = os.path.join(self.data, "kernels", KERNEL_NAME)
            os.makedirs(folder)
            with open(os.path.join(folder, "kernel.json"), "w") as f:
                json.dump({"argv": cmd, "display_name": "kernel under test",
                           "language": "python",
                           "interrupt_mode": "message"}, f)
        self.runtime = os.path.join(self.tmp, "runtime")
        # What the command line of a kernel jupyter console starts holds:
        # its connection file (the tmux server's holds only the folder).
        self.kernels = os.path.join(self.runtime, "kernel-")
        home = os.path.join(self.tmp, "home")
        os.mkdir(home)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTHON", "JUPYTER", "XDG_", "AA_"))
               and k not in ("TMUX", "NO_COLOR")}
        env.update(
            HOME=home, TERM="xterm", LC_ALL="C.UTF-8",
            JUPYTER_PATH=self.data,
            JUPYTER_DATA_DIR=os.path.join(self.tmp, "data"),
            JUPYTER_CONFIG_DIR=os.path.join(self.tmp, "config"),
            JUPYTER_RUNTIME_DIR=self.runtime,
            IPYTHONDIR=os.path.join(self.tmp, "ipython"),
            # No colours and no banner noise to match around.
            NO_COLOR="1")
        self.env = env

    def kill_kernels(self):
        for pid in processes_under(self.kernels):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def start(self):
        # tests/shell's Tmux runs its harness's AA_SHELL: here a shell that
        # runs jupyter console and writes its exit status to a file (tmux
        # 3.3 sometimes leaves the dead pane's process unreaped, its status
        # unknown).
        self.status_file = os.path.join(self.tmp, "console-status")
        shell_harness.AA_SHELL = "/bin/sh"
        jupyter = shutil.which("jupyter") or "/usr/bin/jupyter"
        t = shell_harness.Tmux(
            None, "-c", '"$0" console --kernel "$1"; echo $? > "$2"',
            jupyter, KERNEL_NAME, self.status_file,
            env=self.env, rows=40, cols=100)
        self.addCleanup(t.close)
        return t

    def screen_text(self, t):
        return "\n".join(t.screen())

    def wait_text(self, t, pattern, timeout=TIMEOUT * 2):
        regex = re.compile(pattern, re.M)
        try:
            return t.wait_for(lambda lines: regex.search("\n".join(lines)),
                              timeout=timeout)
        except AssertionError as e:
            raise AssertionError("%s\n(waiting for /%s/)\n%s"
                                 % (e, pattern, self.kernel_state()))

    def kernel_state(self):
        """Whether the console's kernel answers another client: tells a
        console that lost a key from a kernel that hangs."""
        import glob
        from jupyter_client.blocking.client import BlockingKernelClient
        files = glob.glob(self.kernels + "*.json")
        if not files:
            return "no connection file in %s" % self.runtime
        kc = BlockingKernelClient(connection_file=files[0])
        kc.load_connection_file()
        kc.start_channels()
        try:
            msg_id = kc.kernel_info()
            try:
                reply = kc.get_shell_msg(timeout=5)
            except Exception:
                return "the kernel does not answer kernel_info within 5 s"
            return "the kernel answers kernel_info (%s)" % (
                "ok" if reply["parent_header"].get("msg_id") == msg_id
                else "another reply first: %s" % reply["msg_type"])
        finally:
            kc.stop_channels()

    def type_line(self, t, text):
        t.keys("-l", text)
        t.keys("Enter")

    def test_await_and_exit(self):
        t = self.start()
        self.wait_text(t, r"^In \[1\]:")
        self.type_line(t, "import asyncio")
        self.wait_text(t, r"^In \[2\]:")
        self.type_line(t, "await asyncio.sleep(0.1, result=42)")
        lines = self.wait_text(t, r"^In \[3\]:")
        text = "\n".join(lines)
        self.assertRegex(text, r"(?m)^Out\[2\]: 42$")
        self.assertNotRegex(text, r"Out\[1\]")

        self.type_line(t, "print('hello from', 'the kernel')")
        self.wait_text(t, r"^In \[4\]:")
        self.assertRegex(self.screen_text(t), r"(?m)^hello from the kernel$")
        self.type_line(t, "1/0")
        self.wait_text(t, r"^In \[5\]:")
        self.assertIn("ZeroDivisionError", self.screen_text(t))

        kernels = processes_under(self.kernels)
        self.assertTrue(kernels, "no kernel with its connection file in %s"
                        % self.runtime)
        # Ctrl-D asks "Do you really want to exit ([y]/n)?".
        t.keys("C-d")
        self.wait_text(t, r"exit \(\[y\]/n\)\?")
        t.keys("y", "Enter")
        status = self.wait_exit(t)
        self.assertEqual(status, 0, self.screen_text(t))
        deadline = time.monotonic() + TIMEOUT
        while processes_under(self.kernels):
            self.assertLess(time.monotonic(), deadline,
                            "the kernel outlived jupyter console: %s"
                            % describe(processes_under(self.kernels)))
            time.sleep(0.1)

    def test_block(self):
        # A compound statement: the console asks is_complete at each Enter
        # and indents by the reply; an Enter on the empty indented line
        # ends the block (is_complete says complete), which then runs.
        t = self.start()
        self.wait_text(t, r"^In \[1\]:")
        self.type_line(t, "for i in range(3):")
        self.wait_text(t, r"^\s*\.\.\.: {4}$|^\s*\.\.\.:$")
        self.type_line(t, "print('row', i * 7)")
        time.sleep(0.5)
        self.assertNotRegex(self.screen_text(t), r"row 0",
                            "the block ran before it ended")
        t.keys("Enter")
        lines = self.wait_text(t, r"^In \[2\]:")
        rows = [l for l in lines if l.startswith("row ")]
        self.assertEqual(rows, ["row 0", "row 7", "row 14"])
        # The console indented the body by the reply's indent.
        self.assertRegex("\n".join(lines), r"(?m)^\s*\.\.\.: {5}print")

    def wait_exit(self, t, timeout=TIMEOUT):
        """The exit status of jupyter console, once it ended."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(self.status_file) as f:
                    status = f.read()
                if status.endswith("\n"):
                    return int(status)
            except FileNotFoundError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    "jupyter console did not exit (kernels: %s):\n%s"
                    % (describe(processes_under(self.kernels)),
                       self.screen_text(t)))
            time.sleep(0.1)


if __name__ == "__main__":
    args, rest = harness.main(__doc__.split("\n\n")[0])
    if harness.KERNEL_CMD is None:
        raise SystemExit("usage: console_tmux.py [--kernel-cmd CMD] "
                         "AA-KERNEL [unittest args]")
    harness.run_tests(rest)
