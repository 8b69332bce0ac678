"""wire_interop.py ENDPOINT KEY -- jupyter_client's Session against the
kernel's wire layer (tests/unit/check_wire.c runs it): connects a DEALER to
ENDPOINT, sends an execute_request signed with a wrong key (to be dropped)
and one signed with KEY (to be answered), and checks the execute_reply with
Session.deserialize, which verifies its signature.  Prints "ok"; exits 77
when jupyter_client or pyzmq is not installed."""

import sys

try:
    import zmq
    from jupyter_client.session import Session
except ImportError as e:
    print(f"no jupyter_client ({e}): install python3-jupyter-client")
    sys.exit(77)


def main():
    endpoint, key = sys.argv[1], sys.argv[2].encode()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(endpoint)
    bad = Session(key=b"not-the-key", signature_scheme="hmac-sha256",
                  username="interop")
    good = Session(key=key, signature_scheme="hmac-sha256", username="interop")
    bad.send(sock, "execute_request", content={"code": "bad", "silent": False})
    sent = good.send(sock, "execute_request",
                     content={"code": "1 + 1", "silent": False})
    if not sock.poll(20000):
        sys.exit("no reply within 20 s")
    idents, frames = good.feed_identities(sock.recv_multipart())
    reply = good.deserialize(frames)  # raises on a bad signature
    assert idents == [], idents
    assert reply["msg_type"] == "execute_reply", reply
    assert reply["header"]["version"] == "5.3", reply
    assert reply["parent_header"]["msg_id"] == sent["header"]["msg_id"], reply
    assert reply["content"]["status"] == "ok", reply
    assert reply["content"]["execution_count"] == 1, reply
    if sock.poll(200):
        sys.exit("a reply to the message signed with the wrong key came too")
    sock.close()
    ctx.term()
    print("ok")


main()
