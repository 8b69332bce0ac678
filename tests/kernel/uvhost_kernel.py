"""uvhost_kernel.py -- the embedded kernel: examples/uv-host serving its
session to Jupyter clients (`uv-host -k FILE`), checked with the same script
of requests as aa-kernel (client_script.py), while the host goes on.

    /usr/bin/python3 uvhost_kernel.py UV-HOST [unittest args]

Each test starts `uv-host -k FILE` with its standard input a pipe kept open
(the host's own console stays idle), waits for the port of its pong server
and for FILE (uv-host writes it: free ports, a random key), then runs one
test of client_script.py with a BlockingKernelClient on FILE, and kills
uv-host when it ends.  Besides the script:

- while a client's cell awaits asyncio.sleep(2), uv-host's TCP server
  still answers "pong" (the kernel is a guest of the host's loop), and the
  cell ends with its value after;
- after a client's shutdown_request the host either exits 0 or goes on
  answering its server (the session is the host's);
- the cells' names are the host's session: what the client binds is there
  for the host's own console, and the other way round.

Skipped, saying so, when uv-host has no -k option (or was built without
libautoawait-kernel).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import client_script
import console_tmux
import harness
from harness import TIMEOUT

UV_HOST = None


# tests/guest/test_uvhost.py, for its Host and ping.
guest = harness.sibling_module("guest_uvhost", "guest", "test_uvhost.py")


def has_kernel_option(uv_host):
    """Whether uv-host's help offers -k FILE, and it is built in."""
    p = subprocess.run([uv_host, "-h"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=TIMEOUT)
    said = p.stdout + p.stderr
    return "-k FILE" in said and "built without" not in said


class UvHostMixin:
    def start_kernel(self):
        if not has_kernel_option(UV_HOST):
            self.skipTest("uv-host has no -k FILE option (the embedded "
                          "kernel), or is built without "
                          "libautoawait-kernel: %s" % UV_HOST)
        guest.UV_HOST = UV_HOST
        self.file = os.path.join(self.tmp, "uv-host-kernel.json")
        self.host = guest.Host("-k", self.file)
        self.addCleanup(self.host.kill)
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(self.file) or not os.path.getsize(self.file):
            if time.monotonic() > deadline or not self.host.alive():
                self.fail("uv-host -k did not write %s; it said:\n%s\n%s"
                          % (self.file, self.host.text["out"],
                             self.host.text["err"]))
            time.sleep(0.05)
        self.assertEqual(os.stat(self.file).st_mode & 0o777, 0o600)

    def connection_file(self):
        return self.file

    def kernel_log(self):
        host = getattr(self, "host", None)
        if host is None:
            return ""
        return "stdout:\n%s\nstderr:\n%s" % (host.text["out"],
                                             host.text["err"])

    def kernel_proc(self):
        return self.host.proc

    def stop_kernel(self):
        if self.kc is not None:
            self.kc.stop_channels()
        host = getattr(self, "host", None)
        if host is not None:
            host.kill()


class UvHostScript(UvHostMixin, client_script.ClientScript):
    """client_script.py's tests, against uv-host's kernel."""

    shutdown_exits = False

    def test_shutdown(self):
        super().test_shutdown()
        # The host's session is its own: uv-host exits 0, or goes on.
        try:
            status = self.host.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            answer, _ = guest.ping(self.host.port)
            self.assertEqual(answer, b"pong\n")
        else:
            self.assertEqual(status, 0, self.kernel_log())


class UvHostGuest(UvHostMixin, harness.KernelTest):
    def test_server_answers_during_await(self):
        self.execute_ok("import asyncio")
        msg_id = self.kc.execute("await asyncio.sleep(2, result='slept')")
        # Once the cell runs (busy came), the server answers at once.
        deadline = time.monotonic() + TIMEOUT
        while True:
            self.assertLess(time.monotonic(), deadline, "the cell never ran")
            try:
                m = self.kc.get_iopub_msg(timeout=0.1)
            except Exception:
                continue
            if (m["parent_header"].get("msg_id") == msg_id
                    and m["msg_type"] == "status"
                    and m["content"]["execution_state"] == "busy"):
                break
        started = time.monotonic()
        for _ in range(3):
            answer, took = guest.ping(self.host.port)
            self.assertEqual(answer, b"pong\n")
            guest.figure("ping during a client's await: %.2f ms"
                         % (took * 1000))
        # A host that waited for the cell would answer after its 2 s.
        self.assertLess(time.monotonic() - started, 1.0,
                        "the pings waited for the cell")
        r = self.wait(msg_id)
        self.assertEqual(r.content["status"], "ok")
        self.assertEqual([m["content"]["data"]["text/plain"]
                          for m in r.of_type("execute_result")], ["'slept'"])

    def test_one_namespace(self):
        # A name the client binds is the host console's, and back.
        self.execute_ok("from_client = 6 * 7")
        self.host.run("print('host sees', from_client)\n",
                      r"host sees 42\n")
        start = self.host.offset()
        self.host.send("from_host = 'hello'\nprint('bound')\n")
        self.host.wait_for(r"bound\n", start=start)
        self.assertEqual(self.value("from_host"), "'hello'")

    def test_client_cell_waits_for_the_host_cell(self):
        # A client's cell sent while the host's own cell awaits starts
        # when that one ends, as the next cell of a console would: not an
        # error, and not before.
        self.host.send("import asyncio\n"
                       "await asyncio.sleep(1); order = ['host']\n")
        time.sleep(0.3)
        r = self.execute("order.append('client'); order")
        self.assertEqual(r.content["status"], "ok", r.content)
        self.assertEqual([m["content"]["data"]["text/plain"]
                          for m in r.of_type("execute_result")],
                         ["['host', 'client']"])


class ConsoleExisting(unittest.TestCase):
    """`jupyter console --existing FILE` in tmux, attached to uv-host's
    live session: the host's names are there, an await runs while the
    host's server answers, the console's names reach the host's console,
    and leaving the console leaves the host running."""

    def setUp(self):
        if not has_kernel_option(UV_HOST):
            self.skipTest("uv-host has no -k FILE option: %s" % UV_HOST)
        self.tmp = tempfile.mkdtemp(prefix="aa-uvhost-console-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def wait_screen(self, t, pattern):
        regex = re.compile(pattern, re.M)
        return "\n".join(t.wait_for(
            lambda lines: regex.search("\n".join(lines)),
            timeout=TIMEOUT * 2))

    def test_attach(self):
        guest.UV_HOST = UV_HOST
        file = os.path.join(self.tmp, "uv-host-kernel.json")
        host = guest.Host("-k", file)
        self.addCleanup(host.kill)
        host.wait_for(r"kernel: " + re.escape(file))
        host.run("from_host = 6 * 7\nprint('bound')\n", r"bound\n")

        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTHON", "JUPYTER", "XDG_", "AA_"))
               and k not in ("TMUX", "NO_COLOR")}
        env.update(HOME=self.tmp, TERM="xterm", LC_ALL="C.UTF-8",
                   JUPYTER_DATA_DIR=os.path.join(self.tmp, "data"),
                   JUPYTER_CONFIG_DIR=os.path.join(self.tmp, "config"),
                   JUPYTER_RUNTIME_DIR=os.path.join(self.tmp, "runtime"),
                   IPYTHONDIR=os.path.join(self.tmp, "ipython"),
                   NO_COLOR="1")
        console_tmux.shell_harness.AA_SHELL = "/bin/sh"
        jupyter = shutil.which("jupyter") or "/usr/bin/jupyter"
        t = console_tmux.shell_harness.Tmux(
            None, "-c", '"$0" console --existing "$1"', jupyter, file,
            env=env, rows=40, cols=100)
        self.addCleanup(t.close)
        self.wait_screen(t, r"^In \[1\]:")
        t.keys("-l", "from_host")
        t.keys("Enter")
        screen = self.wait_screen(t, r"^In \[2\]:")
        self.assertRegex(screen, r"(?m)^Out\[1\]: 42$")

        t.keys("-l", "import asyncio; await asyncio.sleep(1, result='awaited')")
        t.keys("Enter")
        time.sleep(0.3)
        answer, took = guest.ping(host.port)
        self.assertEqual(answer, b"pong\n")
        self.assertLess(took, 0.5, "the host waited for the console's cell")
        screen = self.wait_screen(t, r"^In \[3\]:")
        self.assertRegex(screen, r"(?m)^Out\[2\]: 'awaited'$")

        t.keys("-l", "from_console = 'hi'")
        t.keys("Enter")
        self.wait_screen(t, r"^In \[4\]:")
        host.run("print('host sees', from_console)\n", r"host sees hi\n")

        # Leaving an --existing console leaves the kernel, and the host.
        t.keys("C-d")
        self.wait_screen(t, r"exit \(\[y\]/n\)\?")
        t.keys("y", "Enter")
        time.sleep(1)
        self.assertTrue(host.alive(), host.text["err"])
        answer, _ = guest.ping(host.port)
        self.assertEqual(answer, b"pong\n")
        host.run("print('still', from_host)\n", r"still 42\n")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        raise SystemExit("usage: uvhost_kernel.py UV-HOST [unittest args]")
    UV_HOST = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
