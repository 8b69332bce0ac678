# jail.py -- the first cell of every fuzzing session (tests/fuzz).
#
# The fuzz targets feed one long-lived session whatever libFuzzer makes of
# the seed corpus: mostly Python-ish text, so sooner or later a call to
# os._exit, os.kill, shutil.rmtree or `while True: pass`.  The point is to
# find the bugs of libautoawait, not to watch a cell end the fuzzer, stall
# it, or delete its corpus.  This cell, run once through aa_exec_file, does
# three things:
#
#   1. Refuses what would harm the process or the machine.  An audit hook
#      (PEP 578; no Python code can remove one) refuses processes, signals
#      to others, writes to the file system, the network, hand-made code
#      objects and the gc's views of half-built objects, and the import of
#      modules that exist to crash (faulthandler, _testcapi, ctypes, ...).
#      What raises no audit event (os._exit, os.abort, closing or dup2-ing
#      the fuzzer's descriptors, signal handlers and masks, set*id, starting
#      threads) is replaced by a function that raises PermissionError.
#   2. Keeps inputs from stalling: time.sleep sleeps 10 ms at most, the
#      recursion limit stays at RECURSION_LIMIT or below, stdin is empty.
#      The harness interrupts a cell that runs longer than a second.
#   3. Makes every input start from the same state: the reset, which the
#      harness runs after each input, puts back the namespace, builtins,
#      the sys settings and the attributes of the modules patched here,
#      empties the session's AST transformers, forgets the sources of past
#      cells, and cancels the tasks an input left on the loop.  Without it
#      a crash could depend on any of the inputs before it, and memory
#      would grow with every input.
#
# It guards against the accidents of mutation, not against code written to
# escape it (importlib.reload of a builtin module, say, gets the originals
# back).  The choices are documented in docs/fuzzing.md.


def _jail():
    import _io
    import _signal
    import _thread
    import asyncio
    import autoawait
    import builtins
    import gc
    import io
    import linecache
    import os
    import posix
    import signal
    import sys
    import threading
    import time
    import warnings

    # The other runners' libraries, imported while nothing is refused yet:
    # trio needs ctypes, which cells then cannot import (the modules
    # that loaded it keep their own reference).
    for name in ("trio", "curio"):
        try:
            __import__(name)
        except Exception:
            pass
    for name in [n for n in sys.modules if n.split(".")[0] in
                 ("ctypes", "_ctypes")]:
        del sys.modules[name]

    RECURSION_LIMIT = 1000
    SLEEP_MAX = 0.01

    refused_events = frozenset({
        # Other processes, and signals to them.
        "os.exec", "os.fork", "os.forkpty", "os.kill", "os.killpg",
        "os.posix_spawn", "os.system", "subprocess.Popen",
        "signal.pthread_kill", "pdb.Pdb",
        # The file system: the corpus, the source tree, the machine.
        "os.chdir", "os.chmod", "os.chown", "os.link", "os.lockf",
        "os.mkdir", "os.putenv", "os.remove", "os.removexattr", "os.rename",
        "os.rmdir", "os.setxattr", "os.symlink", "os.truncate",
        "os.unsetenv", "os.utime", "shutil.copyfile", "shutil.copymode",
        "shutil.copystat", "shutil.copytree", "shutil.make_archive",
        "shutil.move", "shutil.rmtree", "shutil.unpack_archive",
        "tempfile.mkdtemp", "tempfile.mkstemp", "fcntl.fcntl",
        "fcntl.flock", "fcntl.ioctl", "fcntl.lockf", "mmap.__new__",
        "sqlite3.connect", "syslog.openlog", "syslog.syslog",
        # The network and the host's settings.
        "socket.bind", "socket.connect", "socket.getaddrinfo",
        "socket.gethostbyaddr", "socket.gethostbyname",
        "socket.getnameinfo", "socket.sendmsg", "socket.sendto",
        "socket.sethostname", "webbrowser.open", "ensurepip.bootstrap",
        "resource.setrlimit", "resource.prlimit",
        # The gc's views show objects half built: crashes there are
        # CPython's, documented as such.
        "gc.get_objects", "gc.get_referrers", "gc.get_referents",
        # A cell's own hook would run on through every later input.
        "sys.addaudithook",
    })
    refused_modules = frozenset({
        "ctypes", "_ctypes", "_ctypes_test", "faulthandler", "_testcapi",
        "_testinternalcapi", "_testbuffer", "_testclinic",
        "_testimportmultiple", "_testmultiphase", "_xxsubinterpreters",
        "_xxtestfuzz", "xxlimited", "xxlimited_35", "multiprocessing",
        "_multiprocessing", "_posixshmem", "pty", "tty", "termios",
        "readline", "curses", "_curses", "_curses_panel", "tkinter",
        "_tkinter", "turtle", "turtledemo", "idlelib", "sqlite3",
        "_sqlite3", "dbm", "_dbm", "_gdbm", "ossaudiodev", "nis",
        # Loaded already and patched below: a second copy would not be.
        "os", "posix", "signal", "_signal", "time", "_thread", "threading",
        "_posixsubprocess",
    })
    readable_devices = ("/dev/null", "/dev/zero", "/dev/urandom")
    write_flags = (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC |
                   os.O_APPEND)

    def hook(event, args, _refused=refused_events, _mods=refused_modules,
             _int=int, _str=str, _isinstance=isinstance,
             _fsdecode=os.fsdecode, _devices=readable_devices,
             _write=write_flags, _Perm=PermissionError, _Import=ImportError,
             _Exc=Exception, _getframe=sys._getframe,
             _from_cells=frozenset({"code.__new__", "marshal.load",
                                    "marshal.loads"})):
        if event in _refused:
            raise _Perm("fuzzing: %s is refused" % event)
        if event in _from_cells:
            # Code objects CPython trusts blindly: imports read them from
            # .pyc files and types.coroutine rewrites flags, but the bytes
            # and fields of a cell's making (or of code it exec()s) could
            # crash CPython, which is not what is being fuzzed.
            name = _getframe(1).f_code.co_filename
            if name.startswith("<") and not name.startswith("<frozen"):
                raise _Perm("fuzzing: %s is refused" % event)
        if event == "open":
            path, mode, flags = args
            if _isinstance(path, _int):
                raise _Perm("fuzzing: opening a descriptor is refused")
            if mode is None:
                bad = _isinstance(flags, _int) and flags & _write
            else:
                bad = "w" in mode or "a" in mode or "x" in mode or \
                    "+" in mode
            if bad:
                raise _Perm("fuzzing: writing files is refused")
            try:
                p = _fsdecode(path)
            except _Exc:
                return  # not a path: open itself will say so
            if (p.startswith("/dev/") or p.startswith("/proc/")) and \
                    p not in _devices:
                raise _Perm("fuzzing: %s is refused" % p)
        elif event == "import":
            top = _str(args[0]).partition(".")[0]
            if top in _mods:
                raise _Import("fuzzing: importing %s is refused" % top)

    sys.addaudithook(hook)

    # Functions that raise no audit event are replaced; the modules keep
    # the replacements (put back by the reset if an input rebinds one).
    def refuse(name):
        def refused(*args, **kwargs):
            raise PermissionError("fuzzing: %s is refused" % name)
        refused.__name__ = name.rpartition(".")[2]
        return refused

    patched = {}  # module -> {name: replacement}

    def patch(mod, names):
        for name in names:
            if hasattr(mod, name):
                fn = refuse(mod.__name__ + "." + name)
                setattr(mod, name, fn)
                patched.setdefault(mod, {})[name] = fn

    os_refused = ["_exit", "abort", "close", "closerange", "dup2", "chroot",
                  "mkfifo", "mknod", "login_tty", "nice", "plock",
                  "sched_setaffinity", "sched_setparam",
                  "sched_setscheduler", "pidfd_open", "fork", "forkpty",
                  "kill", "killpg", "system"]
    os_refused += [n for n in dir(posix) if n.startswith("set") and
                   n not in ("set_blocking", "set_inheritable")]
    patch(os, os_refused)
    patch(posix, os_refused)
    signal_refused = ["signal", "raise_signal", "alarm", "setitimer",
                      "pthread_sigmask", "pthread_kill", "siginterrupt",
                      "set_wakeup_fd", "pause", "sigwait", "sigwaitinfo",
                      "sigtimedwait", "pidfd_send_signal"]
    patch(signal, signal_refused)
    patch(_signal, signal_refused)
    patch(_thread, ["start_new_thread", "start_new", "interrupt_main"])
    patch(threading, ["_start_new_thread"])
    if "_posixsubprocess" in sys.modules:
        patch(sys.modules["_posixsubprocess"], ["fork_exec"])
    if "faulthandler" in sys.modules:
        fh = sys.modules["faulthandler"]
        patch(fh, [n for n in dir(fh) if n.startswith("_") and
                   not n.startswith("__")])

    real_sleep = time.sleep

    def sleep(secs, _sleep=real_sleep, _min=min, _max=max):
        _sleep(_max(0.0, _min(secs, SLEEP_MAX)))

    time.sleep = sleep
    patched[time] = {"sleep": sleep}

    real_setrecursionlimit = sys.setrecursionlimit

    def setrecursionlimit(n, _set=real_setrecursionlimit, _min=min):
        _set(_min(n, RECURSION_LIMIT))

    class Sink(io.TextIOBase):
        """A stream that takes everything and keeps nothing."""

        def writable(self):
            return True

        def write(self, s):
            return len(s)

    sink = Sink()
    sys.setrecursionlimit = setrecursionlimit
    sys.breakpointhook = lambda *args, **kwargs: None
    sys.__stdout__ = sys.__stderr__ = sink
    sys.__stdin__ = sys.stdin = _io.StringIO()
    sys.dont_write_bytecode = True
    real_setrecursionlimit(RECURSION_LIMIT)

    # A second way to the reset, for when a cell cannot reach it: the
    # harness's `%autoawait __fuzz__.reset` looks the attribute up before
    # any AST transformer an input left could rewrite a cell.  The runner
    # it then gets closes the coroutine unrun; the harness puts asyncio
    # back.
    def fuzz_getattr(name):
        if name != "reset":
            raise AttributeError(name)
        reset()
        return run_nothing

    def run_nothing(coro):
        coro.close()

    fuzz_module = type(sys)("__fuzz__")
    fuzz_module.__getattr__ = fuzz_getattr
    sys.modules["__fuzz__"] = fuzz_module
    transformers_of = autoawait.__getattr__

    # What the reset puts back.
    ns = globals()
    ns_saved = dict(ns)
    del ns_saved["_jail"]
    ns_saved.pop("__file__", None)
    builtins_dict = builtins.__dict__
    sys_dict = sys.__dict__
    modules = sys.modules
    modules_saved = dict(modules)
    lists_saved = [(lst, list(lst)) for lst in
                   (sys.path, sys.meta_path, sys.path_hooks, gc.callbacks,
                    warnings.filters)]
    cache = linecache.cache  # the dict the library fills, even if rebound
    gc_threshold = gc.get_threshold()
    switch_interval = sys.getswitchinterval()
    int_digits = getattr(sys, "get_int_max_str_digits", lambda: None)()
    asyncgen_hooks = sys.get_asyncgen_hooks()
    task_set = getattr(asyncio.tasks, "_all_tasks", None)
    # The dicts of the modules a cell could most easily break for the next
    # one: names rebound or deleted are put back, new names are left.
    watched = [m for name, m in sorted(modules.items())
               if name.split(".")[0] in ("asyncio", "os", "posix", "signal",
                                         "_signal", "time", "threading",
                                         "_thread", "io", "_io", "linecache",
                                         "warnings", "traceback", "gc",
                                         "autoawait")]
    watched_saved = [(m.__dict__, dict(m.__dict__)) for m in watched]

    def restore(d, saved, drop_new):
        if drop_new:
            for k in [k for k in d if k not in saved]:
                del d[k]
        for k, v in saved.items():
            if d.get(k, d) is not v:
                d[k] = v

    def reset(_list=list, _Stream=_io.StringIO, _str=str, _Exc=Exception):
        sys_dict.pop("last_type", None)
        sys_dict.pop("last_value", None)
        sys_dict.pop("last_traceback", None)
        restore(ns, ns_saved, True)
        restore(builtins_dict, builtins_saved, True)
        restore(sys_dict, sys_saved, False)
        restore(modules, modules_saved, False)
        for d, saved in watched_saved:
            restore(d, saved, False)
        for mod, names in patched.items():
            for name, fn in names.items():
                mod.__dict__[name] = fn
        for lst, saved in lists_saved:
            if lst != saved:
                lst[:] = saved
                warnings._filters_mutated()
        sys_dict["stdin"] = sys_dict["__stdin__"] = _Stream()
        sys_dict["__stdout__"] = sys_dict["__stderr__"] = sink
        real_setrecursionlimit(RECURSION_LIMIT)
        sys.settrace(None)
        sys.setprofile(None)
        sys.setswitchinterval(switch_interval)
        sys.set_asyncgen_hooks(*asyncgen_hooks)
        sys.set_coroutine_origin_tracking_depth(0)
        if int_digits is not None:
            sys.set_int_max_str_digits(int_digits)
        gc.enable()
        gc.set_debug(0)
        gc.set_threshold(*gc_threshold)
        del gc.garbage[:]
        for c in (cache, linecache.cache):
            for k in [k for k in c if _str(k).startswith("<cell-")]:
                del c[k]
        del transformers_of("ast_transformers")[:]
        if task_set is not None:
            for t in _list(task_set):
                try:
                    t.cancel()
                except _Exc:
                    pass
        return "reset"

    # The reset must run whatever an input rebound: a name in the namespace
    # or in builtins can be shadowed or deleted, so the harness's cell finds
    # it with attribute look-ups on built-in types alone, which no Python
    # code can change:
    #   [c for c in ().__class__.__base__.__subclasses__()
    #    if c.__dict__.get('__fuzz_reset__')][0].__fuzz_reset__()
    # It answers 'reset', which the harness checks: an AST transformer left
    # by an input could have turned the cell into something else.
    # object.__subclasses__() holds its classes weakly: the hook, which
    # lives as long as the process, keeps this one.
    class FuzzReset:
        __fuzz_reset__ = staticmethod(reset)

    hook.keep = FuzzReset
    builtins_saved = dict(builtins_dict)
    sys_saved = dict(sys_dict)
    for k in ("stdout", "stderr", "last_type", "last_value",
              "last_traceback"):
        sys_saved.pop(k, None)


_jail()
del _jail
globals().pop("__file__", None)
