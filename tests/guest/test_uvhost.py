"""test_uvhost.py -- the test of examples/uv-host, a libuv application
whose Python console is a guest of its loop.

Run by ctest as `/usr/bin/python3 test_uvhost.py PATH-TO-UV-HOST`.  Each
test starts uv-host with pipes for its standard streams, types cells into
it, and talks to its TCP server while they run:

- a client connecting while a cell awaits asyncio.sleep(2) is answered
  within 10 ms (the median of five), and the timer goes on ticking;
- an asyncio task made in one cell runs while the console waits for input;
- after `%autoawait trio`, `await trio.sleep(1)` keeps the server answering;
- SIGINT during `await asyncio.sleep(30)` cancels the cell (its finally
  runs, KeyboardInterrupt is shown, a prompt follows), and the host goes on
  serving and running cells;
- an idle uv-host uses under 1% of a CPU over 5 s, with a session that has
  no loop yet and with an idle asyncio loop;
- the host functions it defines with aa_define: host.stats() gives a dict
  of the host's counters; `await host.wait_tick()` ends at each tick of the
  host's timer while the server answers within 10 ms; `await host.run_job(n)` gets the
  sum its worker thread computed, several at once too, and a bad n is a
  ValueError; SIGINT during `await host.wait_tick()` (a 60 s tick) or a slow
  run_job cancels the cell, the host drops the tick's waiter or learns that
  its job's answer was not wanted, and goes on;
- -k FILE (a uv-host built with libautoawait-kernel; skipped, saying so,
  when -h says it was not): the connection file is written 0600, a
  kernel_info_request of jupyter_client's BlockingKernelClient is answered
  while the server answers pong and the console runs cells, and the
  client's shutdown stops the kernel, not uv-host.  (The client's whole
  script against the kernel is tests/kernel's.)

The figures a test measures (the latency of pings during an await) are
printed on stderr.

Bounds are generous (the sanitizer build is slow) but for the two the issue
fixes: 10 ms and 1%.  Every child is killed when its test ends.
"""

import json
import os
import re
import shutil
import signal
import socket
import stat
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unittest

UV_HOST = None

# One cell's worth of waiting, generous for the sanitizer build.
TIMEOUT = 20


class Host:
    """uv-host with pipes: what it prints, with the time each chunk came."""

    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [UV_HOST, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.cond = threading.Condition()
        self.text = {"out": "", "err": ""}
        self.chunks = {"out": [], "err": []}  # (time, offset where it ends)
        self.readers = [
            threading.Thread(target=self._read, args=(name, f), daemon=True)
            for name, f in (("out", self.proc.stdout), ("err", self.proc.stderr))
        ]
        for reader in self.readers:
            reader.start()
        m = self.wait_for(r"\[uv-host\] listening on 127\.0\.0\.1:(\d+)\n")
        self.port = int(m.group(1))

    def _read(self, name, f):
        while True:
            data = os.read(f.fileno(), 65536)
            now = time.monotonic()
            with self.cond:
                if data:
                    self.text[name] += data.decode("utf-8", "replace")
                    self.chunks[name].append((now, len(self.text[name])))
                else:
                    self.chunks[name].append((now, -1))
                self.cond.notify_all()
            if not data:
                return

    def offset(self, stream="out"):
        with self.cond:
            return len(self.text[stream])

    def wait_for(self, pattern, stream="out", start=0, timeout=TIMEOUT):
        """The first match of pattern in what stream said from start on."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                m = regex.search(self.text[stream], start)
                if m:
                    return m
                left = deadline - time.monotonic()
                ended = self.chunks[stream] and self.chunks[stream][-1][1] < 0
                if left <= 0 or ended:
                    raise AssertionError(
                        "uv-host did not say /%s/ on std%s within %g s; it "
                        "said:\n--- stdout\n%s\n--- stderr\n%s"
                        % (pattern, stream, timeout, self.text["out"],
                           self.text["err"]))
                self.cond.wait(min(left, 0.1))

    def time_of(self, offset, stream="out"):
        """When the byte at offset arrived."""
        with self.cond:
            for when, end in self.chunks[stream]:
                if end > offset:
                    return when
        raise AssertionError("offset %d never arrived" % offset)

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def run(self, cell, pattern, stream="out"):
        """Types cell and waits for pattern in what follows."""
        start = self.offset(stream)
        self.send(cell)
        return self.wait_for(pattern, stream, start)

    def ticks(self):
        m = self.run("%ticks\n", r"ticks: (\d+), answers: (\d+)\n")
        return int(m.group(1)), int(m.group(2))

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # utime and stime, fields 14 and 15 of proc(5); fields[0] is field 3.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self):
        return self.proc.poll() is None

    def finish(self, timeout=TIMEOUT):
        """Ends the input; the exit status."""
        self.proc.stdin.close()
        status = self.proc.wait(timeout)
        for reader in self.readers:
            reader.join(timeout)
        return status

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


def figure(text):
    """A figure the test measured, for whoever reads its output."""
    print("  figure: " + text, file=sys.stderr, flush=True)


def ping(port, timeout=5):
    """Connects, sends a line, returns (the answer, seconds it took)."""
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        c.sendall(b"ping\n")
        answer = b""
        while not answer.endswith(b"\n"):
            data = c.recv(64)
            if not data:
                break
            answer += data
    return answer, time.perf_counter() - start


def pings_during(test, host, unsaid, what, count=5):
    """Pings count times while host awaits `what`: each is answered, within
    10 ms (the median), before the host said `unsaid`.  Prints the times."""
    times = []
    for _ in range(count):
        answer, took = ping(host.port)
        test.assertEqual(answer, b"pong\n")
        times.append(took)
    test.assertNotIn(unsaid, host.text["out"],
                     "the pings were not made during the await")
    figure("ping during %s: median %.2f ms, max %.2f ms"
           % (what, statistics.median(times) * 1000, max(times) * 1000))
    test.assertLessEqual(
        statistics.median(times), 0.010,
        "answers during the await took %s s" % ["%.4f" % t for t in times])


def interrupt(test, host, cell, said):
    """Types cell, sends SIGINT once it said `said`; checks the cell was
    cancelled (finally ran, KeyboardInterrupt shown, a prompt) and the host
    goes on answering."""
    m = host.run(cell, said)
    err = host.offset("err")
    time.sleep(0.2)
    host.proc.send_signal(signal.SIGINT)
    m = host.wait_for(r"finally ran\n", start=m.end(), timeout=10)
    host.wait_for(r"KeyboardInterrupt", "err", err, timeout=10)
    host.wait_for(r"In \[\d+\]: ", start=m.end())
    test.assertTrue(host.alive(), "SIGINT ended the host")
    test.assertEqual(ping(host.port)[0], b"pong\n")
    return m


class UvHostTest(unittest.TestCase):
    def start(self, *args):
        host = Host(*args)
        self.addCleanup(host.kill)
        return host

    def test_answers_during_asyncio_sleep(self):
        host = self.start()
        ticks_before, _ = host.ticks()
        m = host.run(
            "import asyncio\n"
            "print('sleeping'); await asyncio.sleep(2); print('woke')\n",
            r"sleeping\n")
        slept_at = host.time_of(m.start())
        pings_during(self, host, "woke", "await asyncio.sleep(2)")
        m = host.wait_for(r"woke\n", start=m.end())
        self.assertGreater(host.time_of(m.start()) - slept_at, 1.5)
        ticks_after, answers = host.ticks()
        self.assertGreaterEqual(ticks_after - ticks_before, 10,
                                "the timer did not tick during the await")
        self.assertEqual(answers, 5)
        self.assertEqual(host.finish(), 0)

    def test_background_task_ticks_while_console_waits(self):
        host = self.start()
        host.send("import asyncio\nticks = []\n"
                  "async def ticker():\n"
                  "    while True:\n"
                  "        ticks.append(1)\n"
                  "        print('tick', len(ticks))\n"
                  "        await asyncio.sleep(0.1)\n"
                  "\n")
        m = host.run("task = asyncio.ensure_future(ticker()); "
                     "await asyncio.sleep(0)\n", r"tick 1\n")
        # Nothing is typed for 1.5 s: the task runs all the same.
        time.sleep(1.5)
        waited = host.text["out"][m.end():]
        self.assertGreaterEqual(len(re.findall(r"tick \d+\n", waited)), 5,
                                "the task did not tick while the console "
                                "waited:\n" + host.text["out"])
        host.run("len(ticks) >= 5\n", r"Out\[\d+\]: True\n")
        host.run("task.cancel()\n", r"Out\[\d+\]: True\n")
        answer, _ = ping(host.port)
        self.assertEqual(answer, b"pong\n")
        self.assertEqual(host.finish(), 0)

    def test_trio_keeps_the_server_answering(self):
        host = self.start()
        host.run("%autoawait trio\nimport trio\nprint('imported')\n",
                 r"imported\n")
        m = host.run("print('trio sleeping'); await trio.sleep(1); "
                     "print('trio woke')\n", r"trio sleeping\n")
        answer, took = ping(host.port)
        self.assertEqual(answer, b"pong\n")
        self.assertNotIn("trio woke", host.text["out"],
                         "the ping was not answered during the await")
        self.assertLess(took, 0.5)
        host.wait_for(r"trio woke\n", start=m.end())
        host.run("%autoawait asyncio\nimport asyncio\n"
                 "await asyncio.sleep(0.1, result='back')\n",
                 r"Out\[\d+\]: 'back'\n")
        self.assertEqual(host.finish(), 0)

    def test_sigint_cancels_the_cell_not_the_host(self):
        host = self.start("-i")
        host.wait_for(r"In \[1\]: ")
        interrupt(self, host, "import asyncio\n"
                  "try:\n"
                  "    print('long sleep'); await asyncio.sleep(30)\n"
                  "finally:\n"
                  "    print('finally ran')\n"
                  "\n", r"long sleep\n")
        host.run("print('next cell')\n", r"next cell\n")
        # The interrupted cell failed: exit status 1, as aa-shell's.
        self.assertEqual(host.finish(), 1)

    def assert_idle(self, host, what):
        time.sleep(0.5)
        before = host.cpu_seconds()
        time.sleep(5)
        used = host.cpu_seconds() - before
        self.assertLess(used, 0.05,
                        "%s: %.2f s of CPU in 5 s idle" % (what, used))

    def test_idle_cpu(self):
        host = self.start()
        host.run("1 + 1\n", r"Out\[1\]: 2\n")
        self.assert_idle(host, "a session without a loop")
        host.run("import asyncio\nawait asyncio.sleep(0, result='loop')\n",
                 r"Out\[3\]: 'loop'\n")
        self.assert_idle(host, "an idle asyncio loop")
        self.assertEqual(host.finish(), 0)


class HostFunctionsTest(unittest.TestCase):
    """The functions uv-host defines for its cells (aa_define)."""

    def start(self, *args):
        host = Host(*args)
        self.addCleanup(host.kill)
        return host

    def stats(self, host):
        m = host.run("print('stats', json.dumps(host.stats()))\n",
                     r"stats (\{.*\})\n")
        return json.loads(m.group(1))

    def test_stats(self):
        host = self.start()
        host.run("import host, json\nprint('imported')\n", r"imported\n")
        for _ in range(3):
            self.assertEqual(ping(host.port)[0], b"pong\n")
        time.sleep(0.3)
        stats = self.stats(host)
        self.assertEqual(
            sorted(stats),
            ["answers", "connections", "jobs_done", "jobs_running", "tick_ms",
             "ticks", "uptime", "waiting"])
        self.assertEqual(stats["connections"], 3)
        self.assertEqual(stats["answers"], 3)
        self.assertEqual(stats["tick_ms"], 100)
        self.assertGreaterEqual(stats["ticks"], 1)
        self.assertGreater(stats["uptime"], 0.2)
        self.assertEqual(stats["waiting"], 0)
        # The same counters as the host's own magic.
        ticks, answers = host.ticks()
        self.assertEqual(answers, 3)
        self.assertGreaterEqual(ticks, stats["ticks"])
        host.run("type(host.stats).__name__, host.stats.__module__\n",
                 r"Out\[\d+\]: \('HostFunction', 'host'\)\n")
        self.assertEqual(host.finish(), 0)

    def test_wait_tick_while_the_server_answers(self):
        # Ticks every 500 ms: three waits take a second or more.
        host = self.start("-t", "500")
        host.run("import host, json\nprint('imported')\n", r"imported\n")
        m = host.run("print('waiting'); got = [await host.wait_tick() "
                     "for _ in range(3)]; print('ticked', got)\n",
                     r"waiting\n")
        pings_during(self, host, "ticked", "await host.wait_tick()")
        m = host.wait_for(r"ticked \[(\d+), (\d+), (\d+)\]\n",
                          start=m.end())
        got = [int(t) for t in m.groups()]
        # Each await ends at the next tick, and says which it was.
        self.assertEqual(got, [got[0], got[0] + 1, got[0] + 2])
        self.assertGreaterEqual(self.stats(host)["ticks"], got[2])
        self.assertEqual(self.stats(host)["waiting"], 0)
        self.assertEqual(host.finish(), 0)

    def test_run_job(self):
        host = self.start("-j", "1000")
        host.run("import host, asyncio, json\nprint('imported')\n",
                 r"imported\n")
        m = host.run("print('job'); await host.run_job(1000)\n", r"job\n")
        answer, took = ping(host.port)
        self.assertEqual(answer, b"pong\n")
        self.assertNotIn("Out[", host.text["out"][m.end():],
                         "the ping was not made while the job ran")
        figure("ping during await host.run_job(1000): %.2f ms"
               % (took * 1000))
        self.assertLess(took, 0.5)
        # The sum of the squares of 1..1000, computed on a worker thread.
        host.wait_for(r"Out\[\d+\]: 333833500\n", start=m.end())
        # Four jobs at once, each resolved by its own worker.
        start = time.monotonic()
        host.run("await asyncio.gather(*(host.run_job(n) for n in "
                 "(1, 2, 3, 10)))\n", r"Out\[\d+\]: \[1, 5, 14, 385\]\n")
        figure("four 1 s jobs at once took %.2f s"
               % (time.monotonic() - start))
        host.run("try:\n    await host.run_job(-1)\n"
                 "except ValueError as e:\n    print('refused:', e)\n\n",
                 r"refused: host\.run_job\(\): n must be from 0 to "
                 r"1000000, not -1\n")
        stats = self.stats(host)
        self.assertEqual((stats["jobs_done"], stats["jobs_running"]), (5, 0))
        self.assertEqual(host.finish(), 0)

    def test_sigint_during_wait_tick(self):
        host = self.start("-i", "-t", "60000")
        host.run("import host, json\nprint('imported')\n", r"imported\n")
        interrupt(self, host, "try:\n"
                  "    print('waiting'); await host.wait_tick()\n"
                  "finally:\n"
                  "    print('finally ran')\n"
                  "\n", r"waiting\n")
        # The host's cancel callback took the future off its list.
        stats = self.stats(host)
        self.assertEqual(stats["waiting"], 0)
        self.assertEqual(stats["ticks"], 0)
        host.run("print('next cell')\n", r"next cell\n")
        self.assertEqual(host.finish(), 1)

    def test_sigint_during_run_job(self):
        host = self.start("-i", "-j", "3000")
        host.run("import host, json\nprint('imported')\n", r"imported\n")
        m = interrupt(self, host, "try:\n"
                      "    print('working'); await host.run_job(10)\n"
                      "finally:\n"
                      "    print('finally ran')\n"
                      "\n", r"working\n")
        # The worker's late resolve is harmless, and tells the host.
        host.wait_for(r"\[uv-host\] job 1 \(n=10\) is done, but its cell "
                      r"stopped waiting\n", start=m.end())
        host.run("await host.run_job(10)\n", r"Out\[\d+\]: 385\n")
        self.assertEqual(self.stats(host)["jobs_done"], 2)
        self.assertEqual(host.finish(), 1)


class KernelTest(unittest.TestCase):
    """uv-host -k FILE: its session served to Jupyter clients."""

    def setUp(self):
        helped = subprocess.run([UV_HOST, "-h"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True).stdout
        if "built without libautoawait-kernel" in helped:
            self.skipTest("this uv-host was built without "
                          "libautoawait-kernel: it has no -k")
        self.assertIn("-k FILE", helped, "uv-host -h says nothing of -k")
        try:
            from jupyter_client import BlockingKernelClient
        except ImportError:
            self.skipTest("no jupyter_client (Debian: python3-jupyter-client)")
        self.client_class = BlockingKernelClient
        tmp = tempfile.mkdtemp(prefix="uvhost-kernel-")
        self.addCleanup(shutil.rmtree, tmp, True)
        self.path = os.path.join(tmp, "kernel.json")

    def test_kernel_info_while_serving(self):
        host = Host("-k", self.path)
        self.addCleanup(host.kill)
        m = host.wait_for(r"\[uv-host\] kernel: (.+)\n")
        self.assertEqual(m.group(1), self.path)
        host.wait_for(r"\[uv-host\] attach with: jupyter console --existing "
                      + re.escape(self.path) + r"\n")
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)
        with open(self.path) as f:
            info = json.load(f)
        self.assertEqual(info["ip"], "127.0.0.1")
        self.assertTrue(info["key"])

        client = self.client_class(connection_file=self.path)
        client.load_connection_file()
        client.start_channels()
        self.addCleanup(client.stop_channels)
        reply = client.kernel_info(reply=True, timeout=TIMEOUT)
        self.assertEqual(reply["content"]["status"], "ok")
        self.assertTrue(reply["content"]["protocol_version"].startswith("5."))
        self.assertEqual(ping(host.port)[0], b"pong\n")
        host.run("print('console', 6 * 7)\n", r"console 42\n")

        # The client's shutdown stops the kernel; uv-host goes on.
        reply = client.shutdown(reply=True, timeout=TIMEOUT)
        self.assertEqual(reply["content"]["status"], "ok")
        host.wait_for(r"\[uv-host\] kernel: shut down by its client")
        self.assertEqual(ping(host.port)[0], b"pong\n")
        host.run("print('still', 6 * 7)\n", r"still 42\n")
        self.assertEqual(host.finish(), 0)


def main():
    global UV_HOST
    if len(sys.argv) < 2:
        sys.exit("usage: %s PATH-TO-UV-HOST [unittest args]" % sys.argv[0])
    UV_HOST = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)


if __name__ == "__main__":
    main()
