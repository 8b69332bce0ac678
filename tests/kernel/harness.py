"""harness.py -- what the kernel tests share: a kernel process and a
jupyter_client BlockingKernelClient talking to it.

The kernel under test is a command with "{connection_file}" in it, as in a
kernelspec's argv: by default [aa-kernel, "-f", "{connection_file}"];
`--kernel-cmd "/usr/bin/python3 -m ipykernel_launcher -f {connection_file}"`
runs the same tests against Debian's ipykernel, which speaks the same
protocol.  The harness writes the connection file (free ports on
127.0.0.1, a known key), starts the command, keeps its stderr in a file
(printed when a test fails) and kills it when the test ends, whatever
happened.

Run with /usr/bin/python3: Debian's python3-jupyter-client lives there.
"""

import argparse
import importlib.util
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.connect import write_connection_file

# One request's worth of waiting: generous, for the sanitizer build.
TIMEOUT = 30

# The key of the connection files the harness writes.
KEY = b"a0b1c2d3-aa-kernel-test-key"

# Set by main(): the kernel command, as a list with "{connection_file}".
KERNEL_CMD = None

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def sibling_module(name, *path):
    """A module of another test folder (tests/PATH...), under name."""
    where = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                         *path)
    spec = importlib.util.spec_from_file_location(name, where)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plain(text):
    """text without its ANSI colours (ipykernel colours tracebacks)."""
    return ANSI.sub("", text)


def main(description, extra_args=None):
    """Parses the command line: [--kernel-cmd CMD] [AA-KERNEL] [unittest
    args]; extra_args(parser) may add options, whose values are returned."""
    global KERNEL_CMD
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--kernel-cmd",
        help="the kernel's command line, with {connection_file} in it "
        "(default: AA-KERNEL -f {connection_file})")
    if extra_args:
        extra_args(parser)
    parser.add_argument("aa_kernel", nargs="?", help="the aa-kernel to test")
    args, rest = parser.parse_known_args()
    if args.kernel_cmd and args.aa_kernel:
        # Then the first free argument is unittest's.
        rest.insert(0, args.aa_kernel)
        args.aa_kernel = None
    if args.kernel_cmd:
        KERNEL_CMD = shlex.split(args.kernel_cmd)
    elif args.aa_kernel:
        KERNEL_CMD = [os.path.abspath(args.aa_kernel), "-f",
                      "{connection_file}"]
    return args, rest


def run_tests(rest):
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


def is_ipykernel(cmd):
    return cmd is not None and any("ipykernel" in a for a in cmd)


def is_aa_kernel(cmd):
    return cmd is not None and os.path.basename(cmd[0]) == "aa-kernel"


class Kernel:
    """A kernel process started on a connection file the harness wrote."""

    def __init__(self, tmp, cmd=None, key=KEY, env=None):
        self.tmp = tmp
        self.cmd = cmd or KERNEL_CMD
        if self.cmd is None:
            raise unittest.SkipTest("no kernel command given")
        self.key = key
        self.connection_file = os.path.join(tmp, "kernel.json")
        write_connection_file(self.connection_file, ip="127.0.0.1", key=key,
                              transport="tcp")
        argv = [a.replace("{connection_file}", self.connection_file)
                for a in self.cmd]
        self.stderr_path = os.path.join(tmp, "kernel.stderr")
        self.stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self.stderr,
            stderr=self.stderr, cwd=tmp, env=env or kernel_env(tmp),
            start_new_session=True)

    def log(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self.stderr.close()


def kernel_env(tmp):
    """The environment of a kernel: Jupyter's folders in tmp, no PYTHON*."""
    # PYTHONMALLOC stays: under the sanitizers it puts CPython's objects
    # where LeakSanitizer sees them (tests/CMakeLists.txt).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "JUPYTER")) or k == "PYTHONMALLOC"}
    env.update(
        HOME=tmp,
        JUPYTER_RUNTIME_DIR=os.path.join(tmp, "runtime"),
        JUPYTER_DATA_DIR=os.path.join(tmp, "data"),
        JUPYTER_CONFIG_DIR=os.path.join(tmp, "config"),
        IPYTHONDIR=os.path.join(tmp, "ipython"),
        LC_ALL="C.UTF-8",
    )
    return env


def connect(connection_file, timeout=TIMEOUT):
    """A BlockingKernelClient on the file, its channels started and the
    kernel ready: it answered kernel_info and its iopub is connected (what
    wait_for_ready waits for)."""
    kc = BlockingKernelClient(connection_file=connection_file)
    kc.load_connection_file()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=timeout)
    except RuntimeError:
        kc.stop_channels()
        raise
    return kc


class Reply:
    """What one request brought: the shell reply and its iopub messages,
    in the order they came, and the stdin requests it made."""

    def __init__(self, reply, iopub, stdin):
        self.reply = reply
        self.content = reply["content"]
        self.iopub = iopub
        self.stdin = stdin

    def of_type(self, msg_type):
        return [m for m in self.iopub if m["msg_type"] == msg_type]

    def types(self):
        return [m["msg_type"] for m in self.iopub]

    def stream(self, name):
        return "".join(m["content"]["text"] for m in self.of_type("stream")
                       if m["content"]["name"] == name)


class KernelTest(unittest.TestCase):
    """Each test gets a fresh kernel (self.kernel) and a client on it
    (self.kc), both ended with the test."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="aa-kernel-test-")
        self.kernel = None
        self.kc = None
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.start_kernel()
        self.addCleanup(self.stop_kernel)
        try:
            self.kc = connect(self.connection_file())
        except RuntimeError as e:
            self.fail("%s; the kernel said:\n%s" % (e, self.kernel_log()))

    def start_kernel(self):
        self.kernel = Kernel(self.tmp)

    def connection_file(self):
        return self.kernel.connection_file

    def kernel_log(self):
        return self.kernel.log() if self.kernel else ""

    def kernel_proc(self):
        return self.kernel.proc if self.kernel else None

    def stop_kernel(self):
        if self.kc is not None:
            self.kc.stop_channels()
        if self.kernel is not None:
            self.kernel.kill()

    def _report(self):
        log = self.kernel_log()
        if log:
            sys.stderr.write("--- the kernel's stderr\n%s---\n" % log)

    # ---------------------------------------------------------- requests

    def wait(self, msg_id, channel="shell", timeout=TIMEOUT, on_stdin=None):
        """The reply to msg_id on channel, and the iopub messages whose
        parent is msg_id up to its status idle (both must come)."""
        kc = self.kc
        reply = None
        iopub, stdin = [], []
        idle = False
        get_reply = {"shell": kc.get_shell_msg,
                     "control": kc.get_control_msg}[channel]
        deadline = time.monotonic() + timeout
        while reply is None or not idle:
            if time.monotonic() > deadline:
                self._report()
                self.fail("no %s within %g s for request %s: reply %r, "
                          "iopub %r" % ("reply" if reply is None else "idle",
                                        timeout, msg_id,
                                        reply and reply["msg_type"],
                                        [m["msg_type"] for m in iopub]))
            if reply is None:
                try:
                    msg = get_reply(timeout=0.02)
                except queue.Empty:
                    pass
                else:
                    if msg["parent_header"].get("msg_id") == msg_id:
                        reply = msg
            while True:
                try:
                    msg = kc.get_iopub_msg(timeout=0.02)
                except queue.Empty:
                    break
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                iopub.append(msg)
                if (msg["msg_type"] == "status"
                        and msg["content"]["execution_state"] == "idle"):
                    idle = True
            if on_stdin is not None:
                try:
                    msg = kc.get_stdin_msg(timeout=0.02)
                except queue.Empty:
                    pass
                else:
                    stdin.append(msg)
                    on_stdin(msg)
        return Reply(reply, iopub, stdin)

    def execute(self, code, allow_stdin=False, on_stdin=None,
                timeout=TIMEOUT):
        msg_id = self.kc.execute(code, allow_stdin=allow_stdin,
                                 store_history=True)
        r = self.wait(msg_id, on_stdin=on_stdin, timeout=timeout)
        self.assertEqual(r.reply["msg_type"], "execute_reply")
        return r

    def execute_ok(self, code, **kw):
        r = self.execute(code, **kw)
        if r.content["status"] != "ok":
            self._report()
            self.fail("cell %r failed: %s: %s\n%s" % (
                code, r.content.get("ename"), r.content.get("evalue"),
                plain("\n".join(r.content.get("traceback", [])))))
        return r

    def value(self, code, **kw):
        """The text/plain of the cell's execute_result (None without one)."""
        r = self.execute_ok(code, **kw)
        results = r.of_type("execute_result")
        if not results:
            return None
        self.assertEqual(len(results), 1, r.types())
        return results[0]["content"]["data"]["text/plain"]

    def assert_busy_idle(self, r):
        """status busy first and idle last on iopub, parented to the
        request, as every request must."""
        states = [m["content"]["execution_state"] for m in r.of_type("status")]
        self.assertEqual(states, ["busy", "idle"], r.types())
        self.assertEqual(r.types()[0], "status", r.types())
        self.assertEqual(r.types()[-1], "status", r.types())

    def request(self, msg_type, content, channel="shell"):
        msg = self.kc.session.msg(msg_type, content)
        getattr(self.kc, channel + "_channel").send(msg)
        return msg["header"]["msg_id"]
