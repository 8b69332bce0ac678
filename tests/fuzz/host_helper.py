# host_helper.py -- the Python half of fuzz_host (tests/fuzz/fuzz_host.c).
#
# fuzz_host loads this file once, after the jail, as the module _fzhost;
# the jail's reset keeps modules an input did not replace, so every cell
# can `from _fzhost import ...` instead of defining its helpers again.
#
# A cell of fuzz_host calls one host function the harness defined, through
# outcome (a sync function), aoutcome (an async one, awaited the way the
# cell's mode says) or doutcome (an async one driven by hand, as a host's
# own coroutine driver would), and displays a string that says what
# happened, which the harness compares with what it expects:
#
#   REPR#NAME#MODULE#RESULT        REPR, __name__, __module__ of the function
#
#   RESULT    exc:CLASS:KIND:P      the call raised; KIND T (TypeError),
#                                   O (OverflowError), V (ValueError), -
#                                   (other); P 'p' when the message starts
#                                   with QUALNAME(), else '-'
#             ok:VALUE              it returned VALUE, normalized by norm
#             notfuture:TYPE        an async function gave no HostFuture
#             A|...                 an async call; what follows is its mode's
#
# Values are hex or plain ASCII, so that the repr of the whole string is the
# string between quotes.

import json
import select
import struct

import fzt


def norm(v, code):
    """v, converted from the C type of code, in a form C can compare."""
    if code in "jJ":
        text = json.dumps(v, sort_keys=True)
        return "json:" + text.encode("utf-8", "surrogatepass").hex()
    if v is None:
        return "None"
    kind = type(v).__name__
    if code == "v":
        return "notnone:" + kind
    if code == "b":
        return "bool:%r" % v if kind == "bool" else "bad:" + kind
    if code in "iIlLz":
        return "int:%d" % v if kind == "int" else "bad:" + kind
    if code in "df":
        if kind != "float":
            return "bad:" + kind
        return "nan" if v != v else "float:" + struct.pack("<d", v).hex()
    if code in "sS":
        if kind != "str":
            return "bad:" + kind
        return "str:" + v.encode("utf-8", "surrogatepass").hex()
    if code in "yY":
        return "bytes:" + v.hex() if kind == "bytes" else "bad:" + kind
    if code == "p":
        if kind != "Pointer":
            return "bad:" + kind
        if v != v or hash(v) != hash(fzt.ptr(fzt.unptr(v))) or not repr(v):
            return "pointer-compare"
        return "ptr:%d" % fzt.unptr(v)
    return "code?" + code


def failed(e, qual):
    kind = ("T" if isinstance(e, TypeError) else
            "O" if isinstance(e, OverflowError) else
            "V" if isinstance(e, ValueError) else "-")
    try:
        prefix = "p" if str(e).startswith(qual + "()") else "-"
    except Exception:
        prefix = "?"
    return "exc:%s:%s:%s" % (type(e).__name__, kind, prefix)


def about(f):
    return "%s#%s#%s#" % (repr(f), getattr(f, "__name__", "?"),
                          getattr(f, "__module__", "?"))


def outcome(f, call, qual, code):
    """A sync call: call(f), its value normalized as code says."""
    head = about(f)
    try:
        v = call(f)
    except BaseException as e:
        return head + failed(e, qual)
    return head + "ok:" + norm(v, code)


async def awaited(r, qual, code):
    # Exception, not BaseException: a loop's cancellation (trio.Cancelled,
    # asyncio.CancelledError) must reach the loop.
    try:
        v = await r
    except Exception as e:
        return failed(e, qual)
    return "ok:" + norm(v, code)


def nexted(r, qual, code):
    """A finished HostFuture iterated, as `yield from` would: its outcome
    once more."""
    try:
        next(r.__await__())
        return "yielded"
    except StopIteration as e:
        return "ok:" + norm(e.value, code)
    except Exception as e:
        return failed(e, qual)


def future_of(f, call, qual):
    """Calls an async host function: (head, its HostFuture), or (head
    with what went wrong, None)."""
    head = about(f)
    try:
        r = call(f)
    except BaseException as e:
        return head + failed(e, qual), None
    if type(r).__name__ != "HostFuture":
        return head + "notfuture:" + type(r).__name__, None
    return head, r


async def aoutcome(f, call, qual, code, mode):
    """An async call, awaited as mode says:
      await     await it
      await2    await it twice, then iterate it (the same outcome three
                times, '|' between)
      timeout   asyncio.wait_for(it, 0.001)
      tick      loop.call_soon(fzt.tick), then await it
      drop      never await it: say whether it is done, and drop it
      trio_await, trio_timeout (trio.move_on_after(0.001): 'timeout'),
      trio_tick (the trio token's run_sync_soon(fzt.tick))"""
    head, r = future_of(f, call, qual)
    if r is None:
        return head
    if mode == "await":
        out = await awaited(r, qual, code)
    elif mode == "await2":
        out = await awaited(r, qual, code)
        out += "|" + await awaited(r, qual, code)
        out += "|" + nexted(r, qual, code)
    elif mode == "timeout":
        import asyncio
        try:
            v = await asyncio.wait_for(r, 0.001)
            out = "ok:" + norm(v, code)
        except BaseException as e:
            out = failed(e, qual)
    elif mode == "tick":
        import asyncio
        asyncio.get_running_loop().call_soon(fzt.tick)
        out = await awaited(r, qual, code)
    elif mode == "drop":
        out = "drop:%d" % r.done()
        repr(r)
    elif mode == "trio_await":
        out = await awaited(r, qual, code)
    elif mode == "trio_timeout":
        import trio
        out = "timeout"
        with trio.move_on_after(0.001):
            out = await awaited(r, qual, code)
    elif mode == "trio_tick":
        import trio
        trio.lowlevel.current_trio_token().run_sync_soon(fzt.tick)
        out = await awaited(r, qual, code)
    else:
        out = "mode?" + mode
    del r
    return head + "A|" + out


def readable(fd):
    return 1 if select.select([fd], [], [], 0)[0] else 0


async def _await(r):
    return await r


def doutcome(f, call, qual, code):
    """An async call driven by hand, with send(None) on a coroutine that
    awaits it, as a driver that is none of the known loops would: 'now|OUT'
    when the first send ends it, else 'wait:Y:DR:DR|OUT', Y 1 when what the
    coroutine yielded is the HostFuture, D done() and R its fileno
    readable, before and after fzt.tick()."""
    head, r = future_of(f, call, qual)
    if r is None:
        return head
    c = _await(r)
    try:
        y = c.send(None)
    except StopIteration as e:
        return head + "A|now|ok:" + norm(e.value, code)
    except BaseException as e:
        return head + "A|now|" + failed(e, qual)
    fd = r.fileno()
    state = "wait:%d:%d%d" % (y is r, r.done(), readable(fd))
    fzt.tick()
    state += ":%d%d" % (r.done(), readable(fd))
    try:
        y = c.send(None)
        out = "yielded-again"
        c.close()
    except StopIteration as e:
        out = "ok:" + norm(e.value, code)
    except BaseException as e:
        out = failed(e, qual)
    return head + "A|" + state + "|" + out


# Arguments of odd kinds, for the cells to pass.

class Idx:
    def __init__(self, v):
        self.v = v

    def __index__(self):
        return self.v


class Bad:
    """Everything a conversion could ask of it raises."""

    def _no(self, *args):
        raise RuntimeError("fuzz: no conversion")

    __index__ = __int__ = __float__ = __str__ = __bool__ = __len__ = _no


class Str(str):
    pass


class Int(int):
    pass


def circular():
    lst = []
    lst.append(lst)
    return lst


def deep(n):
    v = []
    for _ in range(n):
        v = [v]
    return v
