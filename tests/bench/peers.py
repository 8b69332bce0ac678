#!/usr/bin/python3
"""peers.py -- the peers of aa-bench, timed on the cells aa-bench runs.

The peers:
  ipython_hist_on   IPython's InteractiveShell.run_cell(src, store_history=True),
                    as its terminal calls it, with the SQLite history on (the
                    default), in a temporary IPYTHONDIR
  ipython_hist_off  the same with HistoryManager.enabled = False
  asyncio_console   a console built like `python -m asyncio`: the event loop
                    runs in a thread of its own; the console compiles what it
                    reads one statement at a time with top-level await
                    allowed and has the loop's thread run it, waiting for
                    the result (run_coroutine_threadsafe for a coroutine,
                    call_soon_threadsafe for sync code)

Usage:
  aa-bench --dump-workloads | /usr/bin/python3 peers.py --spec -
  peers.py --spec FILE [--only NAME,...] [--cells N] [--rounds R]
           [--format table|json|tsv]

The method is aa-bench's: every peer lives in a worker process of its own
(IPython's shell is one per process, and one peer's leftovers must not slow
another), and this coordinator has the workers take turns, a block of N
cells each, for several rounds, the peer going first rotating; a peer's
figure is its median round's time per cell.  Each cell's text is made
before its block starts, with a number no other cell has.  Whatever a cell
writes goes to a writer that drops it, as aa-bench's write callback does.
"""

import argparse
import ast
import asyncio
import builtins
import codeop
import concurrent.futures
import inspect
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import types

PEERS = ("ipython_hist_on", "ipython_hist_off", "asyncio_console")


class NullWriter:
    """A text stream that drops what it is given."""

    encoding = "utf-8"

    def write(self, text):
        return len(text)

    def writelines(self, lines):
        pass

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        raise OSError("no file descriptor")


class Unavailable(Exception):
    """A peer that cannot run here, or not this workload."""


# ------------------------------------------------------------------ peers


class IPythonPeer:
    def __init__(self, history):
        import atexit
        import shutil
        import tempfile

        home = tempfile.mkdtemp(prefix="aa-bench-ipython-")
        atexit.register(shutil.rmtree, home, True)
        os.environ["IPYTHONDIR"] = home
        try:
            import IPython
            from IPython.core.interactiveshell import InteractiveShell
            from traitlets.config import Config
        except ImportError as e:
            raise Unavailable(f"not installed ({e})") from None
        config = Config()
        config.HistoryManager.enabled = history
        self.shell = InteractiveShell.instance(config=config)
        self.version = "IPython " + IPython.__version__
        self.runner = "asyncio"

    def use_runner(self, name):
        if name != self.runner:
            self.shell.run_line_magic("autoawait", name)
            self.runner = name

    def run(self, source):
        result = self.shell.run_cell(source, store_history=True)
        if not result.success:
            raise result.error_before_exec or result.error_in_exec


class ThreadedLoopConsole:
    """A console in the design of `python -m asyncio`, written for this
    bench: lines are pushed as a user types them; each statement, once
    complete, is compiled with top-level await allowed and runs in the
    thread of the event loop, the console waiting: a coroutine through
    run_coroutine_threadsafe, sync code through call_soon_threadsafe."""

    def __init__(self):
        self.ns = {"__name__": "__main__", "__builtins__": builtins}
        self.compiler = codeop.CommandCompiler()
        self.compiler.compiler.flags |= ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        self.loop = asyncio.new_event_loop()
        self.lines = []
        started = threading.Event()
        threading.Thread(target=self._serve, args=(started,), daemon=True).start()
        started.wait()
        self.version = "Python %d.%d.%d" % sys.version_info[:3]

    def _serve(self, started):
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(started.set)
        self.loop.run_forever()

    def use_runner(self, name):
        if name != "asyncio":
            raise Unavailable("python -m asyncio runs asyncio only")

    def push(self, line):
        """Takes one line; True when the statement wants more lines."""
        self.lines.append(line)
        try:
            code = self.compiler("\n".join(self.lines), "<console>", "single")
        except BaseException:
            self.lines.clear()
            raise
        if code is None:
            return True
        self.lines.clear()
        statement = types.FunctionType(code, self.ns)
        if code.co_flags & inspect.CO_COROUTINE:
            # Calling it only makes the coroutine; it runs on the loop.
            asyncio.run_coroutine_threadsafe(statement(), self.loop).result()
        else:
            self.call_on_loop(statement)
        return False

    def call_on_loop(self, fn):
        """Runs fn() in the loop's thread and waits for it, as `python -m
        asyncio` does with every statement, so that sync code can use the
        loop (call_soon, create_task) as freely as async code."""
        done = concurrent.futures.Future()

        def call():
            try:
                done.set_result(fn())
            except BaseException as e:
                done.set_exception(e)

        self.loop.call_soon_threadsafe(call)
        return done.result()

    def run(self, source):
        more = False
        try:
            for line in source.split("\n"):
                more = self.push(line)
            if more:
                self.push("")
        finally:
            self.lines.clear()


def make_peer(name):
    if name == "ipython_hist_on":
        return IPythonPeer(history=True)
    if name == "ipython_hist_off":
        return IPythonPeer(history=False)
    if name == "asyncio_console":
        return ThreadedLoopConsole()
    raise Unavailable(f"no peer called {name}")


# ----------------------------------------------------------------- worker


def worker(name):
    """Serves one peer: a JSON command per line on stdin, a JSON answer per
    line on what was stdout, which from then on goes to /dev/null."""
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = sys.stderr = NullWriter()

    def answer(**kw):
        answers.write(json.dumps(kw) + "\n")

    try:
        peer = make_peer(name)
    except Unavailable as e:
        answer(ready=False, why=str(e))
        return
    answer(ready=True, version=peer.version)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "setup":
            try:
                peer.use_runner(cmd["runner"])
                if cmd["setup"]:
                    peer.run(cmd["setup"])
                answer(ok=True)
            except Unavailable as e:
                answer(ok=False, why=str(e))
            except BaseException as e:
                answer(ok=False, why=f"setup failed: {e!r}")
        elif cmd["op"] == "block":
            answer(**block(peer, cmd))
        else:
            break


def block(peer, cmd):
    mark, tmpl = cmd["placeholder"], cmd["template"]
    cells = [tmpl.replace(mark, str(cmd["first"] + i)) for i in range(cmd["n"])]
    errors, first_error = 0, ""
    run = peer.run
    t0 = time.perf_counter()
    for cell in cells:
        try:
            run(cell)
        except BaseException as e:
            if not errors:
                first_error = repr(e)
            errors += 1
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "errors": errors, "error": first_error}


# ------------------------------------------------------------ coordinator


class Worker:
    def __init__(self, name):
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.info = None

    def ask(self, **cmd):
        if cmd:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.name} died")
        return json.loads(line)

    def close(self):
        try:
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait()


def measure(spec, names, cells_override, rounds_override):
    workers = [Worker(name) for name in names]
    peers = {}
    for w in workers:
        w.info = w.ask()
        peers[w.name] = w.info
    ready = [w for w in workers if w.info.get("ready")]
    mark = spec.get("placeholder", "@N@")
    counter = 0
    results = {}
    for wl in spec["workloads"]:
        n = cells_override or wl["cells"]
        rounds = rounds_override or wl["rounds"]
        row = results[wl["name"]] = {}
        active = []
        for w in ready:
            got = w.ask(op="setup", runner=wl["runner"], setup=wl["setup"])
            if got["ok"]:
                active.append(w)
            else:
                row[w.name] = {"na": got["why"]}
        print(f"peers.py: {wl['name']}: {rounds} rounds of {n} cells on "
              f"{len(active)} peers", file=sys.stderr)
        times = {w.name: [] for w in active}
        errors = {w.name: [0, ""] for w in active}
        for r in range(-1, rounds):  # round -1: warm-up, untimed
            size = n // 4 + 1 if r < 0 else n
            k = r % len(active) if active else 0
            for w in active[k:] + active[:k]:
                got = w.ask(op="block", placeholder=mark, template=wl["template"],
                            first=counter, n=size)
                counter += size
                if r < 0:
                    continue
                times[w.name].append(got["seconds"] * 1e6 / size)
                if got["errors"] and not errors[w.name][0]:
                    errors[w.name][1] = got["error"]
                errors[w.name][0] += got["errors"]
        for w in active:
            row[w.name] = {"us": statistics.median(times[w.name]),
                           "rounds_us": times[w.name],
                           "errors": errors[w.name][0],
                           "error": errors[w.name][1]}
    for w in workers:
        w.close()
    return peers, results


# ----------------------------------------------------------------- output


def print_tsv(peers, results):
    def clean(text):
        return " ".join(str(text).split())

    for name, info in peers.items():
        if info.get("ready"):
            print(f"peer\t{name}\tok\t{clean(info['version'])}")
        else:
            print(f"peer\t{name}\tmissing\t{clean(info['why'])}")
    for wl, row in results.items():
        for name, got in row.items():
            if "na" in got:
                print(f"cell\t{name}\t{wl}\tna\t{clean(got['na'])}")
            else:
                print(f"cell\t{name}\t{wl}\tok\t{got['us']:.3f}\t{got['errors']}"
                      f"\t{clean(got['error'])}")


def print_table(peers, results):
    names = list(peers)
    print("µs per cell, median of the rounds")
    print(f"{'workload':<14}" + "".join(f"{n:>18}" for n in names))
    for wl, row in results.items():
        cols = []
        for n in names:
            got = row.get(n)
            if not peers[n].get("ready"):
                cols.append("not installed")
            elif got is None or "na" in got:
                cols.append("n/a")
            else:
                cols.append(f"{got['us']:.1f}" + ("!" if got["errors"] else ""))
        print(f"{wl:<14}" + "".join(f"{c:>18}" for c in cols))
    for n, info in peers.items():
        print(f"{n}: {info.get('version') or info.get('why')}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", help="aa-bench --dump-workloads output, - for stdin")
    ap.add_argument("--only", help="workloads, comma-separated")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help="peers, comma-separated (default: all)")
    ap.add_argument("--cells", type=int, help="cells per block, for every workload")
    ap.add_argument("--rounds", type=int, help="rounds, for every workload")
    ap.add_argument("--format", choices=("table", "json", "tsv"), default="table")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker)
        return
    if not args.spec:
        ap.error("--spec is required (aa-bench --dump-workloads makes one)")
    with (sys.stdin if args.spec == "-" else open(args.spec)) as f:
        spec = json.load(f)
    if args.only:
        keep = args.only.split(",")
        spec["workloads"] = [w for w in spec["workloads"] if w["name"] in keep]
    peers, results = measure(spec, args.peers.split(","), args.cells, args.rounds)
    if args.format == "tsv":
        print_tsv(peers, results)
    elif args.format == "json":
        json.dump({"peers": peers, "workloads": results}, sys.stdout, indent=2)
        print()
    else:
        print_table(peers, results)


if __name__ == "__main__":
    main()
