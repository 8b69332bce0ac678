#!/usr/bin/python3
"""kernel.py -- aa-kernel against ipykernel, seen from a Jupyter client.

Two rows, both kernels measured in one run by the same client code
(jupyter_client's Session over pyzmq sockets, as BlockingKernelClient sends
and receives, without its channel classes around them):

  execute   the round trip of an execute_request of `1 + 1` on the shell
            channel: from the send to its execute_reply (the kernel's
            iopub messages for the request, status idle last, are drained
            after the clock stops, so every trip starts on an idle
            kernel).  One kernel of each kind serves all the trips; after
            a warm-up, rounds of a block of trips on each kernel, the
            kernel going first swapping every round.
  start     a kernel's start: from the spawn of its process, with a
            connection file written for it (free ports, a key), to the
            first kernel_info_reply on the shell channel, the request sent
            at once (the client's sockets connect before the kernel binds
            and retry every millisecond).  Each start is a new process,
            shut down with a shutdown_request afterwards; starts of the
            two kernels alternate, after one untimed start of each.

A kernel's figure is the median of its rounds' (or starts') figures; the
ratio is the median of the rounds' ours / peer (for start, of the pairs of
one start each).  A third column, `echo`, times a Python kernel of a
hundred lines in this file (--echo-kernel) that answers with the same
messages and evaluates nothing: what the client, pyzmq and the wire cost
at the least, and a Python process's start with zmq.

Usage:
  kernel.py --ours 'build/bin/aa-kernel -f {connection_file}'
            [--peer CMD] [--trips N] [--rounds R] [--starts N]
            [--no-echo] [--only execute,start] [--json]

A kernel's command is split as a shell would, and {connection_file} is
replaced with the file's path (a kernelspec's argv).  --peer defaults to
Debian's ipykernel, `/usr/bin/python3 -m ipykernel_launcher -f
{connection_file}`.  It reports; it never judges: bench_kernel_smoke runs
it with tiny counts and checks that every row has its figures.
"""

import argparse
import datetime
import hashlib
import hmac
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

IPYKERNEL = "/usr/bin/python3 -m ipykernel_launcher -f {connection_file}"
ROWS = ("execute", "start")
LABELS = {
    "execute": "execute_request `1 + 1` round trip",
    "start": "start to the first kernel_info_reply",
}
TARGETS = {"execute": 0.2, "start": 0.2}
TIMEOUT = 30.0  # seconds a kernel may take to answer anything


class KernelFailed(Exception):
    """A kernel that died, never answered, or answered wrongly."""


# ------------------------------------------------------------ the client


def free_ports(n):
    import socket

    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


# How each kernel process ended after its shutdown_request: its exit
# status, or "killed" when it had not exited 10 s later.
EXITS = {}


class Kernel:
    """One kernel process and the client's sockets to it."""

    def __init__(self, name, argv, workdir, env):
        import zmq
        from jupyter_client.session import Session

        self.name = name
        self.zmq = zmq
        key = uuid.uuid4().hex
        shell, iopub, stdin, control, hb = free_ports(5)
        self.info = {
            "transport": "tcp", "ip": "127.0.0.1", "shell_port": shell,
            "iopub_port": iopub, "stdin_port": stdin,
            "control_port": control, "hb_port": hb, "key": key,
            "signature_scheme": "hmac-sha256", "kernel_name": "",
        }
        self.file = os.path.join(workdir, f"kernel-{uuid.uuid4().hex[:8]}.json")
        fd = os.open(self.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.info, f)
        self.session = Session(key=key.encode(), signature_scheme="hmac-sha256")
        self.ctx = zmq.Context.instance()
        self.shell = self.socket(zmq.DEALER, shell)
        self.control = self.socket(zmq.DEALER, control)
        self.iopub = None
        self.log = open(os.path.join(workdir, f"{name}.log"), "ab")
        command = [a.replace("{connection_file}", self.file) for a in argv]
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log, env=env)

    def socket(self, kind, port):
        s = self.ctx.socket(kind)
        s.setsockopt(self.zmq.LINGER, 0)
        s.setsockopt(self.zmq.RECONNECT_IVL, 1)
        if kind == self.zmq.SUB:
            s.setsockopt(self.zmq.SUBSCRIBE, b"")
        s.connect(f"tcp://127.0.0.1:{port}")
        return s

    def recv(self, sock, what):
        """The next message on sock, within TIMEOUT."""
        deadline = time.monotonic() + TIMEOUT
        while not sock.poll(100):
            if self.proc.poll() is not None:
                raise KernelFailed(f"{self.name} exited {self.proc.returncode}"
                                   f" waiting for {what}")
            if time.monotonic() > deadline:
                raise KernelFailed(f"{self.name}: no {what} in {TIMEOUT:.0f} s")
        return self.session.recv(sock, mode=0)[1]

    def request(self, msg_type, content=None, sock=None):
        """Sends a request, returns its reply (other replies skipped)."""
        sock = sock or self.shell
        sent = self.session.send(sock, msg_type, content or {})
        reply = msg_type.replace("_request", "_reply")
        while True:
            msg = self.recv(sock, reply)
            if msg["parent_header"].get("msg_id") == sent["header"]["msg_id"]:
                if msg["msg_type"] != reply:
                    raise KernelFailed(f"{self.name} answered {msg_type} "
                                       f"with {msg['msg_type']}")
                return sent, msg

    def first_reply(self):
        """Seconds from the spawn to the first kernel_info_reply."""
        self.request("kernel_info_request")
        return time.perf_counter() - self.t0

    def ready(self):
        """Subscribes to iopub and waits until the subscription carries
        messages (ZeroMQ drops what is published before it does), as
        jupyter_client's wait_for_ready does with kernel_info."""
        self.iopub = self.socket(self.zmq.SUB, self.info["iopub_port"])
        deadline = time.monotonic() + TIMEOUT
        while True:
            self.request("kernel_info_request")
            if self.iopub.poll(200):
                break
            if time.monotonic() > deadline:
                raise KernelFailed(f"{self.name}: nothing on iopub")
        while self.iopub.poll(50):
            self.session.recv(self.iopub, mode=0)

    def trip(self, code):
        """Seconds from an execute_request's send to its execute_reply;
        then the request's iopub messages, up to its status idle."""
        t0 = time.perf_counter()
        sent, reply = self.request("execute_request", {
            "code": code, "silent": False, "store_history": True,
            "user_expressions": {}, "allow_stdin": False,
            "stop_on_error": True})
        seconds = time.perf_counter() - t0
        if reply["content"].get("status") != "ok":
            raise KernelFailed(f"{self.name}: {code!r} failed: "
                               f"{reply['content']}")
        msg_id = sent["header"]["msg_id"]
        while True:
            msg = self.recv(self.iopub, "status idle")
            if (msg["msg_type"] == "status"
                    and msg["parent_header"].get("msg_id") == msg_id
                    and msg["content"]["execution_state"] == "idle"):
                return seconds

    def stop(self):
        """Asks the kernel to shut down; kills it if it does not."""
        status = self.proc.poll()
        if status is None:
            try:
                self.session.send(self.control, "shutdown_request",
                                  {"restart": False})
                status = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                status = "killed"
        EXITS.setdefault(self.name, []).append(status)
        for s in (self.shell, self.control, self.iopub):
            if s is not None:
                s.close(0)
        self.log.close()
        try:
            os.unlink(self.file)
        except OSError:
            pass


# ----------------------------------------------------------- measurement


def measure_execute(kernels, trips, rounds, workdir, env, notes):
    """Per kernel: the median over the rounds of the round's median trip
    (ms), and the median of the rounds' ours / peer."""
    live = {}
    try:
        for name, argv in kernels.items():
            try:
                k = live[name] = Kernel(name, argv, workdir, env)
                k.first_reply()
                k.ready()
                for i in range(max(trips // 4, 3)):  # warm-up
                    k.trip(f"1 + 1  # {i}")
            except (KernelFailed, OSError) as e:
                notes[name] = str(e)
                live.pop(name).stop()
        names = list(live)
        per_round = {n: [] for n in names}
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)] if names else []
            for n in order:
                try:
                    per_round[n].append(statistics.median(
                        live[n].trip("1 + 1") * 1e3 for _ in range(trips)))
                except KernelFailed as e:
                    notes[n] = str(e)
                    names.remove(n)
                    del per_round[n]
        return per_round
    finally:
        for k in live.values():
            k.stop()


def measure_start(kernels, starts, workdir, env, notes):
    """Per kernel: the start times (ms) of the timed starts, in order."""
    times = {n: [] for n in kernels}
    for i in range(-1, starts):  # start -1: warm-up (disk caches), untimed
        order = list(kernels) if i % 2 == 0 else list(kernels)[::-1]
        for name in order:
            if name in notes:
                continue
            k = None
            try:
                k = Kernel(name, kernels[name], workdir, env)
                seconds = k.first_reply()
                if i >= 0:
                    times[name].append(seconds * 1e3)
            except (KernelFailed, OSError) as e:
                notes[name] = str(e)
                times.pop(name, None)
            finally:
                if k is not None:
                    k.stop()
    return times


def ratio(ours, peer):
    pairs = [o / p for o, p in zip(ours, peer)]
    return statistics.median(pairs) if pairs else None


def run(args):
    kernels = {"ours": shlex.split(args.ours), "peer": shlex.split(args.peer)}
    if args.echo:
        kernels["echo"] = [sys.executable, os.path.abspath(__file__),
                           "--echo-kernel", "{connection_file}"]
    workdir = tempfile.mkdtemp(prefix="aa-bench-kernel-")
    env = dict(os.environ)
    for var in ("IPYTHONDIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR",
                "JUPYTER_CONFIG_DIR"):
        env[var] = os.path.join(workdir, var.lower())
    env.pop("JPY_PARENT_PID", None)
    report = {"rows": {}, "kernels": {n: " ".join(a) for n, a in kernels.items()},
              "trips": args.trips, "rounds": args.rounds, "starts": args.starts,
              "exits": EXITS}
    try:
        for row in args.only:
            notes = {}
            if row == "execute":
                got = measure_execute(kernels, args.trips, args.rounds, workdir,
                                      env, notes)
            else:
                got = measure_start(kernels, args.starts, workdir, env, notes)
            out = report["rows"][row] = {"label": LABELS[row],
                                         "target": TARGETS[row]}
            for name in kernels:
                if got.get(name):
                    out[name] = {"ms": statistics.median(got[name]),
                                 "samples_ms": got[name]}
                else:
                    out[name] = {"ms": None,
                                 "note": notes.get(name, "no figure")}
            out["ratio"] = ratio(got.get("ours", []), got.get("peer", []))
            if "echo" in kernels:
                out["echo_ratio"] = ratio(got.get("echo", []), got.get("peer", []))
    finally:
        if args.keep_logs:
            print(f"kernel.py: logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


def print_table(report, args):
    rows = report["rows"]
    print(f"Jupyter kernels, seen from jupyter_client's Session: the median "
          f"of {report['rounds']} rounds\nof {report['trips']} round trips "
          f"on each kernel, and of {report['starts']} starts of each; ratio: "
          f"the median\nof the rounds' (the start pairs') ours / peer; in ms")
    echo = "echo" in report["kernels"]
    print(f"{'':<38} {'ours':>8} {'peer':>9} {'ratio':>7} {'target':>7}"
          + (f" {'echo':>8}" if echo else ""))
    for name, row in rows.items():
        ours, peer = row["ours"], row["peer"]
        line = f"{row['label']:<38}"
        if ours["ms"] is None or peer["ms"] is None:
            line += f" {'n/a':>8}" if ours["ms"] is None else f" {ours['ms']:8.2f}"
            line += f" {'n/a':>9}" if peer["ms"] is None else f" {peer['ms']:9.2f}"
            line += f" {'-':>7} {row['target']:6.2f}x"
        else:
            line += (f" {ours['ms']:8.2f} {peer['ms']:9.2f} {row['ratio']:6.2f}x"
                     f" {row['target']:6.2f}x")
        if echo:
            e = row["echo"]["ms"]
            line += f" {e:8.2f}" if e is not None else f" {'n/a':>8}"
        print(line)
    for name, row in rows.items():
        for kernel in report["kernels"]:
            if row[kernel]["ms"] is None:
                print(f"! {name}, {kernel}: {row[kernel]['note']}")
    for kernel, statuses in report["exits"].items():
        bad = [s for s in statuses if s != 0]
        if bad:
            print(f"! {kernel}: {len(bad)} of its {len(statuses)} processes "
                  f"ended badly after their shutdown_request: {bad}")
    for kernel, command in report["kernels"].items():
        print(f"{kernel}: {command}")


# ------------------------------------------------------- the echo kernel


def echo_kernel(path):
    """A least Python kernel: answers kernel_info, execute (status busy,
    execute_input, execute_result `2`, the reply, status idle) and
    shutdown, signing with hmac; evaluates nothing.  Only zmq and the
    standard library, so that its start is a Python process's with zmq."""
    import zmq

    with open(path) as f:
        info = json.load(f)
    key = info["key"].encode()
    ctx = zmq.Context()
    url = f"tcp://{info['ip']}:"

    def bind(kind, port):
        s = ctx.socket(kind)
        s.bind(url + str(info[port]))
        return s

    shell, control = bind(zmq.ROUTER, "shell_port"), bind(zmq.ROUTER, "control_port")
    iopub, hb = bind(zmq.PUB, "iopub_port"), bind(zmq.REP, "hb_port")
    bind(zmq.ROUTER, "stdin_port")
    threading.Thread(target=zmq.proxy, args=(hb, hb), daemon=True).start()
    session = uuid.uuid4().hex
    count = 0

    def send(sock, idents, msg_type, content, parent):
        header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type,
                  "username": "echo", "session": session, "version": "5.3",
                  "date": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        parts = [json.dumps(p).encode() for p in (header, parent, {}, content)]
        mac = hmac.new(key, digestmod=hashlib.sha256)
        for p in parts:
            mac.update(p)
        sock.send_multipart(idents + [b"<IDS|MSG>", mac.hexdigest().encode()]
                            + parts)

    def status(state, parent):
        send(iopub, [b"status"], "status", {"execution_state": state}, parent)

    poller = zmq.Poller()
    poller.register(shell, zmq.POLLIN)
    poller.register(control, zmq.POLLIN)
    while True:
        for sock, _ in poller.poll():
            frames = sock.recv_multipart()
            i = frames.index(b"<IDS|MSG>")
            idents, sig, parts = frames[:i], frames[i + 1], frames[i + 2:i + 6]
            mac = hmac.new(key, digestmod=hashlib.sha256)
            for p in parts:
                mac.update(p)
            if not hmac.compare_digest(mac.hexdigest().encode(), sig):
                continue
            parent = json.loads(parts[0])
            kind = parent["msg_type"]
            status("busy", parent)
            if kind == "kernel_info_request":
                send(sock, idents, "kernel_info_reply", {
                    "status": "ok", "protocol_version": "5.3",
                    "implementation": "echo", "implementation_version": "0",
                    "language_info": {"name": "python"}, "banner": ""}, parent)
            elif kind == "execute_request":
                count += 1
                code = json.loads(parts[3])["code"]
                send(iopub, [b"execute_input"], "execute_input",
                     {"code": code, "execution_count": count}, parent)
                send(iopub, [b"execute_result"], "execute_result",
                     {"execution_count": count, "data": {"text/plain": "2"},
                      "metadata": {}}, parent)
                send(sock, idents, "execute_reply",
                     {"status": "ok", "execution_count": count,
                      "user_expressions": {}, "payload": []}, parent)
            elif kind == "shutdown_request":
                send(sock, idents, "shutdown_reply",
                     {"status": "ok", "restart": False}, parent)
                status("idle", parent)
                return
            status("idle", parent)


# ------------------------------------------------------------------ main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ours", help="our kernel's command, with {connection_file}")
    ap.add_argument("--peer", default=IPYKERNEL,
                    help="the peer's command (default: %(default)s)")
    ap.add_argument("--trips", type=int, default=200,
                    help="round trips per block (default %(default)s)")
    ap.add_argument("--rounds", type=int, default=7,
                    help="blocks per kernel, interleaved (default %(default)s)")
    ap.add_argument("--starts", type=int, default=7,
                    help="timed starts per kernel (default %(default)s)")
    ap.add_argument("--only", default=",".join(ROWS),
                    help="rows, comma-separated: execute, start")
    ap.add_argument("--no-echo", dest="echo", action="store_false",
                    help="leave out the echo kernel")
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.add_argument("--keep-logs", action="store_true",
                    help="keep the kernels' output and say where")
    ap.add_argument("--echo-kernel", metavar="FILE", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.echo_kernel:
        echo_kernel(args.echo_kernel)
        return
    if not args.ours:
        ap.error("--ours is required (e.g. 'build/bin/aa-kernel -f "
                 "{connection_file}')")
    args.only = args.only.split(",")
    for row in args.only:
        if row not in ROWS:
            ap.error(f"--only: no row {row!r} (rows: {', '.join(ROWS)})")
    if min(args.trips, args.rounds, args.starts) < 1:
        ap.error("--trips, --rounds and --starts must be >= 1")
    try:
        import jupyter_client  # noqa: F401
        import zmq  # noqa: F401
    except ImportError as e:
        sys.exit(f"kernel.py: the client needs jupyter_client and pyzmq "
                 f"(Debian: python3-jupyter-client): {e}")
    report = run(args)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print_table(report, args)


if __name__ == "__main__":
    main()
