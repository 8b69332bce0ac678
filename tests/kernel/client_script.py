"""client_script.py -- a real Jupyter client (jupyter_client's
BlockingKernelClient) runs a script of requests against a kernel and checks
every answer.

    /usr/bin/python3 client_script.py AA-KERNEL [unittest args]
    /usr/bin/python3 client_script.py --kernel-cmd \
        "/usr/bin/python3 -m ipykernel_launcher -f {connection_file}"

Each test starts a fresh kernel (so execution counts start at 1) and kills
it when it ends.  What they check:

- kernel_info: protocol 5.3, language python, status busy/idle around it;
- execute: `1 + 1` gives execute_result '2' with execution_count 1 as the
  reply's; names persist across cells; `await asyncio.sleep(0.1,
  result=42)` gives '42'; print() and sys.stderr give stream messages named
  stdout and stderr, on iopub before the idle and sent before the reply;
  `1/0` gives an error message (ZeroDivisionError, a traceback showing the
  user's line) and a reply with status error;
- complete (`import asy`, and after a line of non-ASCII text: offsets are
  code points), is_complete (as Python's codeop says), inspect (`len`, its
  docstring), comm_info (empty);
- input(): input_request with the prompt, the client's input_reply is
  what input() returns;
- interrupt_request on the control channel while a cell awaits
  asyncio.sleep(30): interrupt_reply, the cell's finally runs, error
  KeyboardInterrupt, and the kernel runs the next cell;
- `%autoawait trio` then `await trio.sleep(0.01)` (skipped without trio);
- shutdown_request: shutdown_reply, and the kernel exits 0.

The embedded kernel's test (uvhost_kernel.py) runs the same class against
uv-host -k FILE.
"""

import codeop
import queue
import time
import unittest

import harness
from harness import TIMEOUT, plain


def python_says(code):
    """What codeop says of code, in is_complete's words."""
    try:
        compiled = codeop.compile_command(code, "<cell>", "exec")
    except (SyntaxError, OverflowError, ValueError):
        return "invalid"
    return "incomplete" if compiled is None else "complete"


class ClientScript(harness.KernelTest):
    # The process whose exit shutdown_request must bring; None when the
    # kernel lives in a host that goes on (the subclass says).
    shutdown_exits = True

    def test_kernel_info(self):
        msg_id = self.kc.kernel_info()
        r = self.wait(msg_id)
        self.assertEqual(r.reply["msg_type"], "kernel_info_reply")
        c = r.content
        self.assertEqual(c["status"], "ok")
        self.assertEqual(c["protocol_version"], "5.3")
        self.assertEqual(c["language_info"]["name"], "python")
        self.assertTrue(c["implementation"])
        self.assertIn("banner", c)
        self.assert_busy_idle(r)

    def test_execute_result(self):
        r = self.execute_ok("1 + 1")
        self.assertEqual(r.content["execution_count"], 1)
        results = r.of_type("execute_result")
        self.assertEqual(len(results), 1, r.types())
        self.assertEqual(results[0]["content"]["data"]["text/plain"], "2")
        self.assertEqual(results[0]["content"]["execution_count"], 1)
        self.assert_busy_idle(r)
        # A cell without a value has no execute_result, and counts.
        r = self.execute_ok("a = 40")
        self.assertEqual(r.of_type("execute_result"), [])
        self.assertEqual(r.content["execution_count"], 2)

    def test_names_persist(self):
        self.execute_ok("a = 40")
        self.execute_ok("def f(x):\n    return x + a\n")
        self.assertEqual(self.value("f(2)"), "42")

    def test_await(self):
        self.execute_ok("import asyncio")
        r = self.execute_ok("await asyncio.sleep(0.1, result=42)")
        results = r.of_type("execute_result")
        self.assertEqual([m["content"]["data"]["text/plain"]
                          for m in results], ["42"])
        self.assertEqual(results[0]["content"]["execution_count"], 2)
        self.assertEqual(r.content["execution_count"], 2)
        # A name bound by an awaiting cell is there in the next.
        self.execute_ok("v = await asyncio.sleep(0, result='kept')")
        self.assertEqual(self.value("v"), "'kept'")

    def test_streams(self):
        r = self.execute_ok(
            "import sys\n"
            "print('to out')\n"
            "print('to err', file=sys.stderr)\n"
            "sys.stdout.write('more out\\n')\n")
        self.assertEqual(r.stream("stdout"), "to out\nmore out\n")
        self.assertEqual(r.stream("stderr"), "to err\n")
        self.assert_busy_idle(r)
        # Sent before the reply: the kernel stamps every header.
        for m in r.of_type("stream"):
            self.assertLessEqual(m["header"]["date"], r.reply["header"]["date"])
            self.assertEqual(m["parent_header"]["msg_id"],
                             r.reply["parent_header"]["msg_id"])

    def test_stream_a_line_a_message(self):
        # print() writes 'a', ' ', '42' and '\n' apart: the client gets one
        # message a line, as from ipykernel; a line's start without its end
        # is not held back while the cell awaits.
        self.execute_ok("import asyncio")
        msg_id = self.kc.execute("print('client sees', 42)\n"
                                 "print('working', end='')\n"
                                 "await asyncio.sleep(1)\n"
                                 "print(' done')\n")
        started = time.monotonic()
        texts = []
        while "working" not in "".join(texts):
            self.assertLess(time.monotonic() - started, 0.9,
                            "'working' waited for the cell's end")
            try:
                m = self.kc.get_iopub_msg(timeout=0.05)
            except queue.Empty:
                continue
            if (m["parent_header"].get("msg_id") == msg_id
                    and m["msg_type"] == "stream"):
                texts.append(m["content"]["text"])
        self.assertTrue(texts[0].startswith("client sees 42\n"), texts)
        r = self.wait(msg_id)
        self.assertEqual(r.content["status"], "ok")
        self.assertEqual("".join(texts) + r.stream("stdout"),
                         "client sees 42\nworking done\n")

    def test_error_aborts_the_queue(self):
        # Requests already queued behind a failing cell (stop_on_error,
        # the default) are answered "aborted"; one sent after the client
        # saw the error runs.
        self.execute_ok("import time\nran = []")
        first = self.kc.execute("time.sleep(0.3)\n1/0")
        second = self.kc.execute("ran.append(2)")
        replies = []
        while len(replies) < 2:
            m = self.kc.get_shell_msg(timeout=TIMEOUT)
            if m["parent_header"].get("msg_id") in (first, second):
                replies.append(m)
        # In order, as a client reading replies one by one wants them.
        self.assertEqual([m["parent_header"]["msg_id"] for m in replies],
                         [first, second])
        self.assertEqual(replies[0]["content"]["status"], "error")
        self.assertEqual(replies[1]["content"]["status"], "aborted")
        if harness.is_ipykernel(harness.KERNEL_CMD):
            return  # it aborts on for a moment after, a request sent at once
        self.assertEqual(self.value("ran"), "[]")
        self.assertEqual(self.value("ran.append(3) or ran"), "[3]")

    def test_history(self):
        self.execute_ok("h1 = 1")
        self.execute_ok("h2 = 2")
        msg_id = self.request("history_request",
                              {"output": False, "raw": True,
                               "hist_access_type": "tail", "n": 2})
        r = self.wait(msg_id)
        self.assertEqual(r.reply["msg_type"], "history_reply")
        self.assertEqual([entry[2] for entry in r.content["history"]],
                         ["h1 = 1", "h2 = 2"])

    def test_stream_while_awaiting(self):
        self.execute_ok("import asyncio")
        r = self.execute_ok("print('before')\n"
                            "await asyncio.sleep(0.05)\n"
                            "print('after')\n")
        self.assertEqual(r.stream("stdout"), "before\nafter\n")

    def test_error(self):
        r = self.execute("x = 1\n1/0\n")
        self.assertEqual(r.content["status"], "error")
        self.assertEqual(r.content["ename"], "ZeroDivisionError")
        errors = r.of_type("error")
        self.assertEqual(len(errors), 1, r.types())
        e = errors[0]["content"]
        self.assertEqual(e["ename"], "ZeroDivisionError")
        self.assertEqual(e["evalue"], "division by zero")
        tb = plain("\n".join(e["traceback"]))
        self.assertIn("1/0", tb)
        self.assertIn("ZeroDivisionError", tb)
        self.assert_busy_idle(r)
        # The kernel goes on; the cell before the error ran.
        self.assertEqual(self.value("x"), "1")

    def test_complete(self):
        code = "import asy"
        msg_id = self.kc.complete(code, len(code))
        r = self.wait(msg_id)
        self.assertEqual(r.reply["msg_type"], "complete_reply")
        self.assertEqual(r.content["status"], "ok")
        self.assertIn("asyncio", r.content["matches"])
        self.assertEqual(r.content["cursor_start"], len("import "))
        self.assertEqual(r.content["cursor_end"], len(code))
        self.assert_busy_idle(r)

    def test_complete_unicode(self):
        # Offsets are in code points (protocol 5.2+), not bytes nor UTF-16
        # units: the line before has 2- 3- and 4-byte characters.
        code = 's = "\u00e9\u65e5\U0001F600"\nimport asy'
        msg_id = self.kc.complete(code, len(code))
        r = self.wait(msg_id)
        self.assertEqual(r.content["status"], "ok")
        self.assertIn("asyncio", r.content["matches"])
        self.assertEqual(r.content["cursor_start"], len(code) - 3)
        self.assertEqual(r.content["cursor_end"], len(code))
        # A name of the namespace, after non-ASCII on the same line.
        self.execute_ok("r\u00e9sum\u00e9_total = 1")
        code = "'\u00e9\u00e9' if r\u00e9sum"
        msg_id = self.kc.complete(code, len(code))
        r = self.wait(msg_id)
        self.assertIn("r\u00e9sum\u00e9_total", r.content["matches"])
        self.assertEqual(r.content["cursor_start"], len(code) - 5)
        self.assertEqual(r.content["cursor_end"], len(code))

    def test_is_complete(self):
        cases = [("for i in range(3):", "incomplete"), ("1+1", "complete"),
                 ("1+", python_says("1+")), (")", python_says(")"))]
        for code, want in cases:
            with self.subTest(code=code):
                msg_id = self.kc.is_complete(code)
                r = self.wait(msg_id)
                self.assertEqual(r.reply["msg_type"], "is_complete_reply")
                self.assertEqual(r.content["status"], want)
                if want == "incomplete":
                    self.assertEqual(r.content["indent"], "    ")
                self.assert_busy_idle(r)

    def test_inspect(self):
        msg_id = self.kc.inspect("len", 3, detail_level=0)
        r = self.wait(msg_id)
        self.assertEqual(r.reply["msg_type"], "inspect_reply")
        self.assertEqual(r.content["status"], "ok")
        self.assertTrue(r.content["found"])
        text = plain(r.content["data"]["text/plain"])
        self.assertIn("Return the number of items in a container", text)
        self.assert_busy_idle(r)
        # A name that is not there is not found, and that is no error.
        msg_id = self.kc.inspect("no_such_name_here", 5)
        r = self.wait(msg_id)
        self.assertEqual(r.content["status"], "ok")
        self.assertFalse(r.content["found"])

    def test_input(self):
        def answer(msg):
            self.assertEqual(msg["msg_type"], "input_request")
            self.assertEqual(msg["content"]["prompt"], "name? ")
            self.assertFalse(msg["content"]["password"])
            self.kc.input("Ada Lovelace")

        r = self.execute_ok("x = input('name? ')", allow_stdin=True,
                            on_stdin=answer)
        self.assertEqual(len(r.stdin), 1)
        self.assertEqual(self.value("x"), "'Ada Lovelace'")

    def test_interrupt(self):
        if harness.is_ipykernel(harness.KERNEL_CMD):
            self.skipTest("ipykernel 6 does not interrupt a cell that "
                          "awaits: the sleep runs its 30 s")
        self.execute_ok("import asyncio")
        self.interrupt("await asyncio.sleep(30)")
        # The kernel runs the next cell, and its loop still works.
        self.assertEqual(self.value("await asyncio.sleep(0, result=7)"), "7")

    def test_interrupt_sync(self):
        # A sync cell blocked in a C call gets its KeyboardInterrupt when
        # the call returns (the library interrupts between bytecodes; the
        # host's signals are not its to use): the interrupt is not lost,
        # and the cell's finally runs.
        self.execute_ok("import time")
        self.interrupt("time.sleep(3)")
        self.assertEqual(self.value("6 * 7"), "42")

    def test_interrupt_busy(self):
        self.execute_ok("n = 0")
        self.interrupt("while True: n += 1")
        self.assertEqual(self.value("n > 0"), "True")

    def interrupt(self, sleep):
        """Runs a cell that sleeps in a try/finally, interrupts it with an
        interrupt_request on the control channel once it sleeps, and checks
        what the client sees."""
        msg_id = self.kc.execute(
            "try:\n"
            "    print('sleeping', flush=True)\n"
            "    %s\n"
            "finally:\n"
            "    print('cleaned')\n" % sleep)
        # Wait until the cell runs (its first line came), then interrupt.
        deadline = time.monotonic() + TIMEOUT
        seen = []
        while "sleeping\n" not in "".join(
                m["content"]["text"] for m in seen
                if m["msg_type"] == "stream"):
            self.assertLess(time.monotonic(), deadline, "the cell never ran")
            try:
                m = self.kc.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                continue
            if m["parent_header"].get("msg_id") == msg_id:
                seen.append(m)
        time.sleep(0.2)
        started = time.monotonic()
        int_id = self.request("interrupt_request", {}, channel="control")
        reply = self.kc.get_control_msg(timeout=TIMEOUT)
        self.assertEqual(reply["msg_type"], "interrupt_reply")
        self.assertEqual(reply["parent_header"]["msg_id"], int_id)
        # Every reply has a status (messaging 5.3); ipykernel 6 sends back
        # the request's empty content, which clients take for ok.
        if not harness.is_ipykernel(harness.KERNEL_CMD):
            self.assertEqual(reply["content"]["status"], "ok")
        else:
            self.assertEqual(reply["content"].get("status", "ok"), "ok")
        r = self.wait(msg_id)
        self.assertLess(time.monotonic() - started, 20,
                        "the cell was not interrupted")
        r.iopub[:0] = seen
        self.assertEqual(r.content["status"], "error")
        self.assertEqual(r.content["ename"], "KeyboardInterrupt")
        self.assertEqual(r.stream("stdout"), "sleeping\ncleaned\n")
        errors = r.of_type("error")
        self.assertEqual([e["content"]["ename"] for e in errors],
                         ["KeyboardInterrupt"])

    def test_comm_info(self):
        msg_id = self.kc.comm_info()
        r = self.wait(msg_id)
        self.assertEqual(r.reply["msg_type"], "comm_info_reply")
        self.assertEqual(r.content["status"], "ok")
        self.assertEqual(r.content["comms"], {})

    def test_autoawait_trio(self):
        try:
            import trio  # noqa: F401 -- is it there for the kernel?
        except ImportError:
            self.skipTest("trio is not installed (Debian: python3-trio)")
        self.execute_ok("%autoawait trio")
        self.execute_ok("import trio")
        self.assertEqual(
            self.value("(await trio.sleep(0.01)) or 'slept'"), "'slept'")
        # asyncio's sleep does not run under trio: the runner is trio's.
        r = self.execute("import asyncio\nawait asyncio.sleep(0)")
        self.assertEqual(r.content["status"], "error")

    def test_shutdown(self):
        self.execute_ok("1 + 1")
        msg_id = self.kc.shutdown()
        reply = self.kc.get_control_msg(timeout=TIMEOUT)
        self.assertEqual(reply["msg_type"], "shutdown_reply")
        self.assertEqual(reply["parent_header"]["msg_id"], msg_id)
        self.assertEqual(reply["content"]["status"], "ok")
        self.assertFalse(reply["content"]["restart"])
        if self.shutdown_exits:
            proc = self.kernel_proc()
            try:
                code = proc.wait(timeout=10)
            except Exception:
                self._report()
                raise AssertionError("the kernel did not exit within 10 s "
                                     "of its shutdown_reply")
            self.assertEqual(code, 0, self.kernel_log())


if __name__ == "__main__":
    args, rest = harness.main(__doc__.split("\n\n")[0])
    if harness.KERNEL_CMD is None:
        raise SystemExit("usage: client_script.py [--kernel-cmd CMD] "
                         "AA-KERNEL [unittest args]")
    harness.run_tests(rest)
