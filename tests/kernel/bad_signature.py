"""bad_signature.py -- messages whose HMAC signature is wrong or missing are
dropped: never answered, never run, and logged on the kernel's stderr.

    /usr/bin/python3 bad_signature.py AA-KERNEL [unittest args]
    /usr/bin/python3 bad_signature.py --kernel-cmd "CMD -f {connection_file}"

The harness writes the connection file with a known key and starts the
kernel on it.  A raw ZeroMQ DEALER socket on the shell (or control) port
then sends an execute_request whose cell would create a file:

- signed with another key,
- with no signature at all (an empty signature frame),
- signed with the right key, then its content changed,

and for each: no reply comes within 2 s, the file is not created, and the
kernel's stderr says it dropped a message (for aa-kernel: a line starting
"aa-kernel: " that names the signature).  A shutdown_request signed with
another key on the control channel does not stop the kernel.  Afterwards a
correctly signed kernel_info_request on the same socket is answered: the
kernel did not stop listening.
"""

import json
import os
import time
import unittest

import zmq
from jupyter_client.session import Session

import harness
from harness import KEY, TIMEOUT

# How long a dropped message is given to be (wrongly) answered.
SILENCE = 2.0


class BadSignature(unittest.TestCase):
    def setUp(self):
        import tempfile
        import shutil
        self.tmp = tempfile.mkdtemp(prefix="aa-kernel-sig-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.kernel = harness.Kernel(self.tmp)
        self.addCleanup(self.kernel.kill)
        with open(self.kernel.connection_file) as f:
            self.info = json.load(f)
        self.ctx = zmq.Context()
        self.addCleanup(self.ctx.destroy, linger=0)
        self.good = Session(key=KEY, username="test")
        # Ready: the kernel answers a signed kernel_info (it may take a
        # while to bind its ports).
        self.kernel_info_answered("shell", timeout=TIMEOUT)
        self.marker = os.path.join(self.tmp, "ran")

    def socket(self, channel):
        sock = self.ctx.socket(zmq.DEALER)
        sock.linger = 0
        sock.connect("tcp://%s:%d" % (self.info["ip"],
                                      self.info[channel + "_port"]))
        return sock

    def cell(self):
        return {"code": "open(%r, 'w').close()" % self.marker,
                "silent": False, "store_history": True,
                "user_expressions": {}, "allow_stdin": False,
                "stop_on_error": True}

    def kernel_info_answered(self, channel, timeout=TIMEOUT):
        sock = self.socket(channel)
        try:
            deadline = time.monotonic() + timeout
            while True:
                msg = self.good.send(sock, "kernel_info_request", {})
                if sock.poll(1000):
                    _, reply = self.good.feed_identities(sock.recv_multipart())
                    reply = self.good.deserialize(reply)
                    self.assertEqual(reply["msg_type"], "kernel_info_reply")
                    self.assertEqual(reply["parent_header"]["msg_id"],
                                     msg["header"]["msg_id"])
                    return
                if time.monotonic() > deadline:
                    self.fail("no kernel_info_reply within %g s; the "
                              "kernel said:\n%s" % (timeout, self.kernel.log()))
                # A DEALER keeps what it could not send: start afresh.
                sock.close()
                sock = self.socket(channel)
        finally:
            sock.close()

    def assert_dropped(self, send, channel="shell"):
        log_before = len(self.kernel.log())
        sock = self.socket(channel)
        try:
            send(sock)
            self.assertEqual(
                sock.poll(int(SILENCE * 1000)), 0,
                "the kernel answered a message it should have dropped")
        finally:
            sock.close()
        self.assertFalse(os.path.exists(self.marker),
                         "the kernel ran a cell it should have dropped")
        self.assertIsNone(self.kernel.proc.poll(), "the kernel exited")
        log = self.kernel.log()[log_before:]
        if harness.is_aa_kernel(self.kernel.cmd):
            lines = [l for l in log.splitlines()
                     if l.startswith("aa-kernel: ") and "signature" in l]
            self.assertTrue(lines, "aa-kernel did not log the drop; its "
                            "stderr:\n%s" % log)
        else:
            self.assertTrue(log.strip(), "the kernel logged nothing")
        # The kernel still serves the clients who hold the key.
        self.kernel_info_answered(channel)

    def test_wrong_key(self):
        bad = Session(key=b"not-the-key", username="intruder")
        self.assert_dropped(
            lambda sock: bad.send(sock, "execute_request", self.cell()))

    def test_no_signature(self):
        unsigned = Session(key=b"", username="intruder")
        self.assert_dropped(
            lambda sock: unsigned.send(sock, "execute_request", self.cell()))

    def test_tampered(self):
        def send(sock):
            msg = self.good.msg("execute_request", {
                "code": "1 + 1", "silent": False, "store_history": True,
                "user_expressions": {}, "allow_stdin": False,
                "stop_on_error": True})
            frames = self.good.serialize(msg)
            # The frames: delimiter, signature, header, parent, metadata,
            # content.  The signature is the one of "1 + 1".
            frames[-1] = self.good.pack(self.cell())
            sock.send_multipart(frames)
        self.assert_dropped(send)

    def test_wrong_key_shutdown(self):
        bad = Session(key=b"not-the-key", username="intruder")
        self.assert_dropped(
            lambda sock: bad.send(sock, "shutdown_request",
                                  {"restart": False}),
            channel="control")


if __name__ == "__main__":
    args, rest = harness.main(__doc__.split("\n\n")[0])
    if harness.KERNEL_CMD is None:
        raise SystemExit("usage: bad_signature.py [--kernel-cmd CMD] "
                         "AA-KERNEL [unittest args]")
    harness.run_tests(rest)
