#!/usr/bin/python3
"""transport.py -- where aa-kernel listens, and the files it writes.

- A connection file aa-kernel writes itself (-f FILE that does not exist,
  and no -f: Jupyter's runtime folder) is mode 0600 in a 0700 folder, has
  a key, five distinct ports on 127.0.0.1, and every socket of the process
  listens on 127.0.0.1 only (read from /proc/net/tcp by the sockets'
  inodes); a client attaches with it.
- --transport ipc --ip PREFIX: Unix sockets PREFIX-1 ... PREFIX-5, a client
  attaches with the file.
- A file Jupyter wrote for ipc (jupyter_client's KernelManager with
  transport='ipc' writes it) is read and served.

Usage: transport.py AA-KERNEL [unittest args]
"""

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
import unittest

import harness
from harness import TIMEOUT

AA_KERNEL = None


def listening_addresses(pid):
    """The (address, port) of every TCP socket pid listens on."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            # state 0A is LISTEN
            if f[3] != "0A" or f[9] not in inodes:
                continue
            addr, port = f[1].split(":")
            if len(addr) == 8:
                ip = ".".join(str(int(addr[i:i + 2], 16))
                              for i in (6, 4, 2, 0))
            else:
                ip = addr
            found.append((ip, int(port, 16)))
    return found


class Transport(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="aa-kernel-transport-")
        self.procs = []
        self.clients = []

    def tearDown(self):
        for kc in self.clients:
            kc.stop_channels()
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    def start(self, *args):
        with open(os.path.join(self.tmp, "stderr"), "wb") as log:
            p = subprocess.Popen([AA_KERNEL] + list(args),
                                 stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=log, env=harness.kernel_env(self.tmp))
        self.procs.append(p)
        return p

    def log(self):
        with open(os.path.join(self.tmp, "stderr"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_file(self, path):
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(path):
            self.assertLess(time.monotonic(), deadline,
                            "no connection file: " + self.log())
            time.sleep(0.01)

    def attach(self, path):
        kc = harness.connect(path)
        self.clients.append(kc)
        msg_id = kc.execute("6 * 7")
        reply = kc.get_shell_msg(timeout=TIMEOUT)
        self.assertEqual(reply["parent_header"]["msg_id"], msg_id)
        self.assertEqual(reply["content"]["status"], "ok")
        return kc

    def shut(self, kc, p):
        kc.shutdown()
        self.assertEqual(p.wait(timeout=TIMEOUT), 0, self.log())

    def check_written(self, path):
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path) as f:
            info = json.load(f)
        self.assertEqual(info["signature_scheme"], "hmac-sha256")
        self.assertGreaterEqual(len(info["key"]), 32)
        return info

    def test_written_file_binds_loopback(self):
        path = os.path.join(self.tmp, "written.json")
        p = self.start("-f", path)
        self.wait_file(path)
        info = self.check_written(path)
        self.assertEqual((info["transport"], info["ip"]), ("tcp", "127.0.0.1"))
        ports = [info[n + "_port"] for n in
                 ("shell", "control", "stdin", "hb", "iopub")]
        self.assertEqual(len(set(ports)), 5, ports)
        kc = self.attach(path)
        listening = listening_addresses(p.pid)
        self.assertEqual(sorted(port for _, port in listening),
                         sorted(ports), listening)
        self.assertEqual({ip for ip, _ in listening}, {"127.0.0.1"})
        self.shut(kc, p)

    def test_runtime_folder(self):
        p = self.start()
        runtime = os.path.join(self.tmp, "runtime")
        path = os.path.join(runtime, "kernel-%d.json" % p.pid)
        self.wait_file(path)
        self.assertEqual(stat.S_IMODE(os.stat(runtime).st_mode), 0o700)
        self.check_written(path)
        deadline = time.monotonic() + TIMEOUT
        while "jupyter console --existing %s" % path not in self.log():
            self.assertLess(time.monotonic(), deadline, self.log())
            time.sleep(0.01)
        self.shut(self.attach(path), p)

    def test_ipc_written(self):
        prefix = os.path.join(self.tmp, "ipc", "k")
        os.mkdir(os.path.dirname(prefix), 0o700)
        path = os.path.join(self.tmp, "ipc.json")
        p = self.start("-f", path, "--transport", "ipc", "--ip", prefix)
        self.wait_file(path)
        info = self.check_written(path)
        self.assertEqual((info["transport"], info["ip"]), ("ipc", prefix))
        for n in ("shell", "control", "stdin", "hb", "iopub"):
            sock = "%s-%d" % (prefix, info[n + "_port"])
            self.assertTrue(stat.S_ISSOCK(os.stat(sock).st_mode), sock)
        self.assertEqual(listening_addresses(p.pid), [])
        self.shut(self.attach(path), p)

    def test_ipc_file_from_jupyter(self):
        from jupyter_client.connect import write_connection_file
        prefix = os.path.join(self.tmp, "jk")
        path = os.path.join(self.tmp, "jupyter-ipc.json")
        write_connection_file(path, transport="ipc", ip=prefix,
                              key=b"a-key-jupyter-chose")
        p = self.start("-f", path)
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(prefix + "-1"):
            self.assertLess(time.monotonic(), deadline, self.log())
            time.sleep(0.01)
        self.shut(self.attach(path), p)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        raise SystemExit("usage: transport.py AA-KERNEL [unittest args]")
    AA_KERNEL = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
