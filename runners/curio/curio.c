/*
 * curio.c -- the curio runner: one curio Kernel for the whole session.
 *
 * Owns the session's Kernel: made on the first async cell (curio is not
 * imported before) and shut down with the session, which cancels what is
 * left.  The session is a guest of the host's loop (runner.h's guest
 * entries): start hands the cell over, step runs one cycle of the kernel
 * with no wait, fd is the kernel's selector and timeout its next sleeper's
 * deadline, so the host waits where the kernel would have.  Tasks a cell
 * spawns live on in the kernel and run during later cells and whenever
 * the host dispatches, as they would under one curio.run (curio.run per
 * cell would cancel them as each cell ends).  A kernel that curio disabled
 * after an error in its own code is dropped, its tasks lost, and the next
 * cell gets a new one.  The kernel runs inside the session's
 * contextvars.Context: curio's tasks do not copy contexts, so every cell
 * and every task sees and sets the session's context variables directly.
 *
 * What curio lacks, and how it is got round.  curio's Kernel has one
 * public call, run(): run() with no task is one cycle with a zero select
 * timeout (which is step), and run(main) runs until main ends, so a cell
 * goes in as a task that a tiny main spawns.  Nothing public tells what
 * the kernel waits for: its selector is kernel._selector, and its ready
 * queue and sleep queue are locals of the closure run() calls, which the
 * wrapper reads by name (see _probe).  A curio laid out otherwise leaves
 * the runner without deadlines: it then asks for a step every
 * FALLBACK_MS.  docs/runner-plugins.md, "The curio runner", says so.
 *
 * Interrupting.  curio offers nothing a thread may call to cancel a task,
 * but a UniversalEvent may be set from any thread: each cell runs under a
 * small wrapper (compiled from the Python source below when a session
 * opens the runner) whose watcher task waits for that event and cancels
 * the cell's task.  The cell then gets TaskCancelled at its next blocking
 * operation, its finally blocks and __aexit__ run, and the wrapper reports
 * KeyboardInterrupt.  A cell that never blocks is left to the library's
 * second interrupt.  The event wakes the kernel through curio's own
 * notification socket, which its selector, and so the session's fd, sees.
 *
 * curio allows one running kernel per thread.  When a cell of another
 * session runs curio on this thread (a console started from a curio cell),
 * start answers 1 and run runs the whole cell on a thread of its own while
 * this one waits with the GIL released; a step or the close from there
 * does the same.
 *
 * Compiling cells, cutting tracebacks (the wrapper's and curio's frames
 * sit before the cell's and are cut with them) and deciding when to
 * interrupt are the library's.
 */
#include <autoawait/runner-sdk.h>

#include <limits.h>

/*
 * cell wraps each cell.  run makes it the kernel's main task; start makes
 * guest of it, a task that launch spawns, which hands its outcome back as
 * a value, (True, result) or (False, exception): a task that raises makes
 * the kernel log a "Task Crash", and re-raise what is no Exception out of
 * the kernel's own run.  GeneratorExit, a closing coroutine's, goes
 * through.  launch puts the task in box, or the exception that kept it
 * from spawning it: how the runner finds the task even when something
 * escaped the kernel before launch ran.
 *
 * An interrupt that came before the cell started stops it there.  cell's
 * watcher is a daemon, cancelled when the cell ends.  Only interrupt sets
 * `stop`, so a TaskCancelled with `stop` set is the interrupt's:
 * KeyboardInterrupt then carries the cell's traceback up to where the cell's
 * code called into curio.  `where` is dropped on the way out, or it would tie
 * the traceback to this frame in a cycle.
 *
 * _curio_only steps the cell's coroutine and hands the kernel only what
 * looks like a curio trap.  Anything else (asyncio's bare yield, a Future)
 * would make the kernel fail in its own code and disable itself, taking
 * every task of the session with it; the cell gets a TypeError at that
 * await instead, as trio does it.
 *
 * interrupt sets the event from sync Python code: UniversalEvent.set picks
 * its sync or async flavour from its caller's frame, and a call from C has
 * none.
 *
 * _probe finds the ready queue and the sleep queue of a kernel's runtime
 * (kernel._runner, the closure run() calls), by the names curio 1.x gives
 * them; a KeyError says this curio has them no more.
 */
static const char wrapper_source[] = AA_SDK_UNTIL_SOURCE
    "from types import coroutine\n"
    "@coroutine\n"
    "def _curio_only(coro):\n"
    "    send, value = coro.send, None\n"
    "    while True:\n"
    "        try:\n"
    "            trap = send(value)\n"
    "        except StopIteration as end:\n"
    "            return end.value\n"
    "        finally:\n"
    "            value = None\n"
    "        if type(trap) is tuple and trap and type(trap[0]) is str:\n"
    "            try:\n"
    "                value, send = (yield trap), coro.send\n"
    "            except BaseException as exc:\n"
    "                value, send = exc, coro.throw\n"
    "        else:\n"
    "            value, send = TypeError(\n"
    "                f'curio cannot run {trap!r}, which the cell awaited: '\n"
    "                'code of another async library (asyncio?) does not '\n"
    "                'run under curio'), coro.throw\n"
    "async def cell(curio, coro, stop):\n"
    "    if stop.is_set():\n"
    "        raise KeyboardInterrupt\n"
    "    main = await curio.current_task()\n"
    "    async def watch():\n"
    "        await stop.wait()\n"
    "        await main.cancel(blocking=False)\n"
    "    watcher = await curio.spawn(watch, daemon=True)\n"
    "    where = None\n"
    "    try:\n"
    "        return await _curio_only(coro)\n"
    "    except curio.TaskCancelled as exc:\n"
    "        if not stop.is_set():\n"
    "            raise\n"
    "        where = _until(curio, exc.__traceback__)\n"
    "    finally:\n"
    "        await watcher.cancel()\n"
    "    try:\n"
    "        raise KeyboardInterrupt().with_traceback(where)\n"
    "    finally:\n"
    "        where = None\n"
    "async def guest(curio, coro, stop):\n"
    "    try:\n"
    "        return True, await cell(curio, coro, stop)\n"
    "    except GeneratorExit:\n"
    "        raise\n"
    "    except BaseException as exc:\n"
    "        return False, exc\n"
    "async def launch(curio, main, box):\n"
    "    try:\n"
    "        box.append(await curio.spawn(main, daemon=True))\n"
    "    except BaseException as exc:\n"
    "        box.append(exc)\n"
    "def interrupt(stop):\n"
    "    stop.set()\n"
    "def _probe(runtime):\n"
    "    cells = dict(zip(runtime.__code__.co_freevars, runtime.__closure__))\n"
    "    return cells['ready'].cell_contents, cells['sleepq'].cell_contents\n"
    "from time import monotonic\n";

/* Milliseconds between steps when the kernel's deadlines cannot be read. */
#define FALLBACK_MS 10

#define WRAPPER_FILE "<autoawait curio>"

/* Interned names of what the runner looks up (see runner-sdk.h). */
#define NAMES(X)                                                               \
    X(curio)                                                                   \
    X(meta)                                                                    \
    X(curio_running)                                                           \
    X(Kernel)                                                                  \
    X(UniversalEvent)                                                          \
    X(run)                                                                     \
    X(shutdown)                                                                \
    X(close)                                                                   \
    X(_shutdown_funcs)                                                         \
    X(_runner)                                                                 \
    X(_selector)                                                               \
    X(fileno)                                                                  \
    X(next_deadline)                                                           \
    X(cell)                                                                    \
    X(guest)                                                                   \
    X(launch)                                                                  \
    X(interrupt)                                                               \
    X(_probe)                                                                  \
    X(monotonic)                                                               \
    X(terminated)                                                              \
    X(result)

AA_SDK_NAMES(NAMES);

typedef struct runner_state {
    names str;
    PyObject *cell_fn;      /* the wrapper, an async function */
    PyObject *guest_fn;     /* the wrapper of a started cell */
    PyObject *launch_fn;    /* spawns a started cell's task */
    PyObject *interrupt_fn; /* sets the event, from sync code */
    PyObject *probe_fn;     /* finds a runtime's queues */
    PyObject *monotonic;    /* time.monotonic, curio's clock */
    PyObject *curio;        /* the module, once an async cell needed it */
    PyObject *kernel;       /* the session's Kernel, NULL until then */
    int fd;                 /* its selector's descriptor, or -1 */
    PyObject *runtime;      /* kernel._runner that ready and sleepq are of */
    PyObject *ready;        /* its ready queue, a deque; NULL: unknown */
    PyObject *sleepq;       /* its TimeQueue of sleepers and timeouts */
    PyObject *context;      /* the session's Context */
    PyObject *stop;         /* the UniversalEvent of the running cell */
    int running;            /* a cell is run or started */
    int interrupted;        /* interrupt came before there was an event */

    /* The started cell, from start until collect says it ended. */
    PyObject *coro;    /* its coroutine */
    PyObject *main;    /* guest's coroutine around it; NULL: none started */
    PyObject *box;     /* what launch puts there: the task, or why not */
    int launched;      /* launch was handed to the kernel */
    PyObject *failure; /* the exception that ended it outside its task */
} runner_state;

/*
 * One call into the kernel, made on this thread or, when curio already
 * runs here, on a thread of its own.  Everything is borrowed.
 */
typedef struct kernel_call {
    PyObject *fn;
    PyObject *arg;     /* the one argument, or NULL */
    PyObject *kwargs;  /* or NULL */
    PyObject *context; /* entered around the call, or NULL */
} kernel_call;

/* ----------------------------------------------------------------- helpers */

/* 1 when a curio kernel runs on this thread, 0 when not, -1 on error. */
static int curio_running_here(runner_state *st)
{
    PyObject *meta, *r;
    int running;

    meta = PyObject_GetAttr(st->curio, st->str.meta);
    if (meta == NULL)
        return -1;
    r = PyObject_CallMethodNoArgs(meta, st->str.curio_running);
    Py_DECREF(meta);
    if (r == NULL)
        return -1;
    running = PyObject_IsTrue(r);
    Py_DECREF(r);
    return running;
}

/*
 * 1 when curio disabled the kernel after an error inside it (an
 * asynchronous KeyboardInterrupt that landed in the kernel's own code, a
 * task that awaited something no curio trap): it then refuses to run, and
 * says to make a new one.  An exception set stays set.
 */
static int kernel_crashed(runner_state *st)
{
    PyObject *t, *v, *tb, *funcs;
    int crashed;

    PyErr_Fetch(&t, &v, &tb);
    funcs = PyObject_GetAttr(st->kernel, st->str._shutdown_funcs);
    crashed = funcs == Py_None;
    if (funcs == NULL)
        PyErr_Clear();
    Py_XDECREF(funcs);
    PyErr_Restore(t, v, tb);
    return crashed;
}

/* Forgets the kernel and what was read of it; its tasks are lost. */
static void drop_kernel(runner_state *st)
{
    Py_CLEAR(st->kernel);
    Py_CLEAR(st->runtime);
    Py_CLEAR(st->ready);
    Py_CLEAR(st->sleepq);
    st->fd = -1;
}

/* The descriptor of the kernel's selector (an epoll set on Linux), or -1
 * when it has none. */
static int selector_fd(runner_state *st)
{
    PyObject *sel, *r = NULL;
    int fd = -1;

    sel = PyObject_GetAttr(st->kernel, st->str._selector);
    if (sel != NULL)
        r = PyObject_CallMethodNoArgs(sel, st->str.fileno);
    if (r != NULL)
        fd = (int)PyLong_AsLong(r);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        fd = -1;
    }
    Py_XDECREF(r);
    Py_XDECREF(sel);
    return fd;
}

/*
 * Imports curio and makes the kernel, the first time a cell needs them;
 * replaces a kernel that crashed (its tasks are lost with it).
 */
static int ensure_kernel(runner_state *st)
{
    if (st->kernel != NULL && kernel_crashed(st))
        drop_kernel(st);
    if (st->kernel != NULL)
        return 0;
    if (st->curio == NULL && (st->curio = aa_sdk_import("curio")) == NULL)
        return -1;
    st->kernel = PyObject_CallMethodNoArgs(st->curio, st->str.Kernel);
    if (st->kernel == NULL)
        return -1;
    st->fd = selector_fd(st);
    return 0;
}

/* The exception set now, taken: its value, with its traceback. */
static PyObject *take_exception(void)
{
    PyObject *t, *v, *tb;

    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (v != NULL && tb != NULL)
        PyException_SetTraceback(v, tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return v;
}

/* Sets exc, an exception instance (borrowed), with its own traceback. */
static void raise_exception(PyObject *exc)
{
    PyErr_Restore(Py_NewRef(Py_TYPE(exc)), Py_NewRef(exc),
                  PyException_GetTraceback(exc));
}

/* ------------------------------------------------------- calling curio */

/*
 * Makes the call (a kernel_call) on this thread, inside its context when
 * there is one.
 */
static PyObject *call_here(void *arg)
{
    kernel_call *c = arg;
    PyObject *args[1] = {c->arg}, *r, *t, *v, *tb;
    size_t nargs = c->arg != NULL ? 1 : 0;

    if (c->context != NULL && PyContext_Enter(c->context) < 0)
        return NULL;
    r = c->kwargs != NULL
            ? PyObject_VectorcallDict(c->fn, args, nargs, c->kwargs)
            : PyObject_Vectorcall(c->fn, args, nargs, NULL);
    if (c->context != NULL) {
        PyErr_Fetch(&t, &v, &tb);
        if (PyContext_Exit(c->context) < 0)
            PyErr_Clear();
        PyErr_Restore(t, v, tb);
    }
    return r;
}

/*
 * Makes the call, on a thread of its own when curio already runs on this
 * one.  Returns its result, or NULL with its exception set.
 */
static PyObject *call_kernel(runner_state *st, kernel_call *c)
{
    int nested = curio_running_here(st);

    if (nested < 0)
        return NULL;
    if (nested == 0)
        return call_here(c);
    return aa_sdk_call_on_thread(call_here, c,
                                 "a curio kernel inside a running one");
}

/*
 * kernel.name(arg), inside the session's Context.  A kernel that the call
 * made crash is dropped (the exception stays set).
 */
static PyObject *kernel_method(runner_state *st, PyObject *name, PyObject *arg,
                               PyObject *kwargs)
{
    kernel_call c = {NULL, arg, kwargs, st->context};
    PyObject *r;

    c.fn = PyObject_GetAttr(st->kernel, name);
    if (c.fn == NULL)
        return NULL;
    r = call_kernel(st, &c);
    Py_DECREF(c.fn);
    if (r == NULL && kernel_crashed(st))
        drop_kernel(st);
    return r;
}

/* ------------------------------------------------------------- one cell */

/*
 * wrapper(curio, coro, stop), the coroutine of cell or guest for coro,
 * with a fresh event for interrupt, set at once when interrupt came first
 * (while curio was being imported, say).  Both this and interrupt hold the
 * GIL from making the event to looking at the flag, so one of them sees
 * the other's work.
 */
static PyObject *wrap_cell(runner_state *st, PyObject *wrapper, PyObject *coro)
{
    PyObject *args[3], *r;

    st->stop = PyObject_CallMethodNoArgs(st->curio, st->str.UniversalEvent);
    if (st->stop == NULL)
        return NULL;
    if (st->interrupted) {
        if ((r = PyObject_CallOneArg(st->interrupt_fn, st->stop)) == NULL)
            return NULL;
        Py_DECREF(r);
    }
    args[0] = st->curio;
    args[1] = coro;
    args[2] = st->stop;
    return PyObject_Vectorcall(wrapper, args, 3, NULL);
}

/* Takes the context of the cell starting now as the session's. */
static void take_context(runner_state *st, PyObject *context)
{
    if (context != NULL && context != Py_None)
        Py_XSETREF(st->context, Py_NewRef(context));
}

/*
 * Runs the whole cell, with the cell as the kernel's main task: for a
 * cell that start could not begin because curio runs on this thread
 * already (call_kernel then runs the kernel on a thread of its own).
 */
static PyObject *curio_run(void *state, PyObject *coro, PyObject *context)
{
    runner_state *st = state;
    PyObject *main = NULL, *r = NULL;

    if (st->running)
        return aa_sdk_run_refused("curio", coro);
    st->running = 1;
    take_context(st, context);
    if (ensure_kernel(st) == 0 &&
        (main = wrap_cell(st, st->cell_fn, coro)) != NULL)
        r = kernel_method(st, st->str.run, main, NULL);
    st->running = 0;
    st->interrupted = 0;
    Py_CLEAR(st->stop);
    if (main != NULL) {
        aa_sdk_close_coro(main);
        Py_DECREF(main);
    }
    aa_sdk_close_coro(coro);
    return r;
}

/* ------------------------------------------------------ a started cell */

/*
 * Forgets the started cell, closing its coroutines (a finished one is left
 * as it is; one that never ran does not warn), and ends its interrupts.
 */
static void end_cell(runner_state *st)
{
    if (st->main != NULL)
        aa_sdk_close_coro(st->main);
    if (st->coro != NULL)
        aa_sdk_close_coro(st->coro);
    Py_CLEAR(st->main);
    Py_CLEAR(st->coro);
    Py_CLEAR(st->box);
    Py_CLEAR(st->failure);
    Py_CLEAR(st->stop);
    st->launched = 0;
    st->running = 0;
    st->interrupted = 0;
}

/*
 * Makes coro the session's started cell: guest's coroutine around it,
 * which the next step hands the kernel.  Nothing runs yet, so nothing
 * else the kernel has can get in the way of the start.  Answers 1 when
 * curio runs on this thread already: run then runs the cell (an interrupt
 * that came meanwhile is kept for it).
 */
static int curio_start(void *state, PyObject *coro, PyObject *context)
{
    runner_state *st = state;
    int nested;

    if (st->running) {
        aa_sdk_run_refused("curio", coro);
        return -1;
    }
    st->running = 1;
    take_context(st, context);
    if (ensure_kernel(st) < 0 || (nested = curio_running_here(st)) < 0)
        goto fail;
    if (nested) {
        st->running = 0;
        return 1;
    }
    st->coro = Py_NewRef(coro);
    if ((st->box = PyList_New(0)) == NULL ||
        (st->main = wrap_cell(st, st->guest_fn, coro)) == NULL)
        goto fail;
    return 0;
fail:
    end_cell(st);
    aa_sdk_close_coro(coro);
    return -1;
}

/*
 * What the kernel runs next: launch(curio, main, box) while the started
 * cell waits to be handed over, else nothing (a new reference, or NULL).
 * 0, or -1 with an exception set.
 */
static int next_main(runner_state *st, PyObject **launch)
{
    PyObject *args[3] = {st->curio, st->main, st->box};

    *launch = NULL;
    if (st->main == NULL || st->launched || st->failure != NULL)
        return 0;
    if ((*launch = PyObject_Vectorcall(st->launch_fn, args, 3, NULL)) == NULL)
        return -1;
    st->launched = 1;
    return 0;
}

/*
 * One cycle of the kernel with a zero select timeout: kernel.run() with
 * no task, or kernel.run(launch) (launch ends in the cycle it runs in).
 * An exception that escapes it is a task's (KeyboardInterrupt, SystemExit)
 * and is step's to answer (the library ends a started cell with it, or
 * reports it); one that disabled the kernel is the started cell's ending,
 * as it would have been for a cell the kernel ran as its main task.
 */
static int curio_step(void *state)
{
    runner_state *st = state;
    PyObject *launch, *r;

    if (st->kernel == NULL)
        return 0;
    if (next_main(st, &launch) < 0) {
        st->failure = take_exception();
        return 0;
    }
    r = kernel_method(st, st->str.run, launch, NULL);
    Py_XDECREF(launch);
    if (r != NULL) {
        Py_DECREF(r);
        return 0;
    }
    if (st->kernel != NULL || st->main == NULL || st->failure != NULL)
        return -1;
    st->failure = take_exception();
    return 0;
}

/*
 * The started cell's outcome, once its task has ended: what guest
 * returned, (True, value) or (False, exception); what launch left instead
 * of the task; or what ended it from outside.
 */
static int curio_collect(void *state, PyObject **result)
{
    runner_state *st = state;
    PyObject *task, *done, *outcome;
    int ended;

    *result = NULL;
    if (st->main == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the curio runner has no cell started");
        return 1;
    }
    if (st->failure != NULL) {
        raise_exception(st->failure);
        end_cell(st);
        return 1;
    }
    if (PyList_GET_SIZE(st->box) == 0)
        return 0;
    task = PyList_GET_ITEM(st->box, 0);
    if (PyExceptionInstance_Check(task)) {
        raise_exception(task);
        end_cell(st);
        return 1;
    }
    done = PyObject_GetAttr(task, st->str.terminated);
    ended = done == NULL ? -1 : PyObject_IsTrue(done);
    Py_XDECREF(done);
    if (ended == 0)
        return 0;
    outcome = ended < 0 ? NULL : PyObject_GetAttr(task, st->str.result);
    if (outcome != NULL && PyTuple_Check(outcome) &&
        PyTuple_GET_SIZE(outcome) == 2) {
        if (PyTuple_GET_ITEM(outcome, 0) == Py_True)
            *result = Py_NewRef(PyTuple_GET_ITEM(outcome, 1));
        else
            raise_exception(PyTuple_GET_ITEM(outcome, 1));
    } else if (outcome != NULL) {
        PyErr_Format(PyExc_RuntimeError,
                     "the curio runner's cell task ended with %R", outcome);
    }
    Py_XDECREF(outcome);
    end_cell(st);
    return 1;
}

/* --------------------------------------------- what the host waits for */

static int curio_fd(void *state)
{
    runner_state *st = state;

    return st->kernel != NULL ? st->fd : -1;
}

/*
 * Finds the ready queue and the sleep queue of the kernel's runtime, once
 * for each runtime.  0 found; 1 no runtime yet (the kernel never ran);
 * -1 this curio keeps them elsewhere (the exception is cleared).
 */
static int probe(runner_state *st)
{
    PyObject *runtime, *queues;

    runtime = PyObject_GetAttr(st->kernel, st->str._runner);
    if (runtime == NULL || runtime == Py_None) {
        Py_XDECREF(runtime);
        PyErr_Clear();
        return runtime == NULL ? -1 : 1;
    }
    if (runtime == st->runtime) {
        Py_DECREF(runtime);
        return st->ready != NULL ? 0 : -1;
    }
    Py_XSETREF(st->runtime, runtime);
    Py_CLEAR(st->ready);
    Py_CLEAR(st->sleepq);
    queues = PyObject_CallOneArg(st->probe_fn, runtime);
    if (queues == NULL || !PyTuple_Check(queues) ||
        PyTuple_GET_SIZE(queues) != 2) {
        Py_XDECREF(queues);
        PyErr_Clear();
        return -1;
    }
    st->ready = Py_NewRef(PyTuple_GET_ITEM(queues, 0));
    st->sleepq = Py_NewRef(PyTuple_GET_ITEM(queues, 1));
    Py_DECREF(queues);
    return 0;
}

/*
 * Milliseconds until the next sleeper or timeout of the kernel is due
 * (rounded up), -1 none, 0 when a task is ready or the started cell waits
 * to be handed over.  What the kernel would have waited for in its
 * select: its selector's I/O is on fd.
 */
static int kernel_timeout(runner_state *st)
{
    PyObject *now, *left;
    Py_ssize_t ready;
    double ms;
    int found;

    if (st->main != NULL && !st->launched)
        return 0;
    if ((found = probe(st)) != 0)
        return found > 0 ? -1 : FALLBACK_MS;
    if ((ready = PyObject_Size(st->ready)) != 0)
        return ready > 0 ? 0 : FALLBACK_MS;
    now = PyObject_CallNoArgs(st->monotonic);
    left = now == NULL ? NULL
                       : PyObject_CallMethodOneArg(st->sleepq,
                                                   st->str.next_deadline, now);
    Py_XDECREF(now);
    if (left == NULL)
        return FALLBACK_MS;
    ms = left == Py_None ? -1.0 : PyFloat_AsDouble(left) * 1000.0;
    Py_DECREF(left);
    if (PyErr_Occurred())
        return FALLBACK_MS;
    if (ms < 0)
        return -1;
    if (ms >= INT_MAX)
        return INT_MAX;
    return (int)ms + ((int)ms < ms); /* rounded up */
}

/* kernel_timeout, never longer than FALLBACK_MS when the kernel has no fd
 * to wake the host with, and 0 while an ended cell waits to be collected;
 * an exception it met is cleared. */
static int curio_timeout(void *state)
{
    runner_state *st = state;
    int ms;

    if (st->failure != NULL)
        return 0;
    if (st->kernel == NULL)
        return -1;
    ms = kernel_timeout(st);
    PyErr_Clear();
    if (st->fd < 0 && (ms < 0 || ms > FALLBACK_MS))
        ms = FALLBACK_MS;
    return ms;
}

/* ------------------------------------------------------ the other entries */

/* A new reference to globals[name], or NULL (with an exception when the
 * lookup failed). */
static PyObject *wrapper_item(PyObject *globals, PyObject *name)
{
    return Py_XNewRef(PyDict_GetItemWithError(globals, name));
}

/* Interns the names, compiles the wrapper and takes its functions. */
static int state_init(void *state)
{
    runner_state *st = state;
    PyObject *g;
    int rc = -1;

    st->fd = -1;
    if (aa_sdk_names_init(&st->str, names_list) < 0 ||
        (g = aa_sdk_run_wrapper(wrapper_source, WRAPPER_FILE)) == NULL)
        return -1;
    st->cell_fn = wrapper_item(g, st->str.cell);
    st->guest_fn = wrapper_item(g, st->str.guest);
    st->launch_fn = wrapper_item(g, st->str.launch);
    st->interrupt_fn = wrapper_item(g, st->str.interrupt);
    st->probe_fn = wrapper_item(g, st->str._probe);
    st->monotonic = wrapper_item(g, st->str.monotonic);
    if (st->cell_fn != NULL && st->guest_fn != NULL && st->launch_fn != NULL &&
        st->interrupt_fn != NULL && st->probe_fn != NULL &&
        st->monotonic != NULL)
        rc = 0;
    else if (!PyErr_Occurred())
        PyErr_SetString(PyExc_RuntimeError, "the curio wrapper is incomplete");
    Py_DECREF(g);
    return rc;
}

static void state_free(void *state)
{
    runner_state *st = state;

    end_cell(st);
    Py_CLEAR(st->cell_fn);
    Py_CLEAR(st->guest_fn);
    Py_CLEAR(st->launch_fn);
    Py_CLEAR(st->interrupt_fn);
    Py_CLEAR(st->probe_fn);
    Py_CLEAR(st->monotonic);
    Py_CLEAR(st->curio);
    drop_kernel(st);
    Py_CLEAR(st->context);
    aa_sdk_names_clear(&st->str, names_list);
    PyMem_Free(st);
}

static int curio_open(void *userdata, void **state)
{
    (void)userdata;
    return aa_sdk_state_open(state, sizeof(runner_state), state_init,
                             state_free);
}

/*
 * Shuts the kernel down: the tasks left are cancelled and their cleanup
 * runs (a started cell's too, when the library has not collected it),
 * then the kernel's selector and sockets are closed.  A kernel that is not
 * shut down complains when it dies.
 */
static void curio_close(void *state)
{
    runner_state *st = state;
    PyObject *t, *v, *tb, *kwargs, *r = NULL;

    if (st == NULL)
        return;
    PyErr_Fetch(&t, &v, &tb);
    if (st->kernel != NULL) {
        kwargs = PyDict_New();
        if (kwargs != NULL &&
            PyDict_SetItem(kwargs, st->str.shutdown, Py_True) == 0)
            r = kernel_method(st, st->str.run, NULL, kwargs);
        Py_XDECREF(r);
        Py_XDECREF(kwargs);
        PyErr_Clear();
    }
    state_free(st);
    PyErr_Restore(t, v, tb);
}

/*
 * From another thread, while run or a started cell is in progress.  An
 * event set before the watcher waits is not lost: the wait returns at
 * once.  Before there is an event, the flag tells wrap_cell to set it.
 * Setting the event wakes the kernel through its notification socket: a
 * run waiting in its select returns, and a host waiting on the session's
 * fd gets it readable.
 */
static int curio_interrupt(void *state)
{
    runner_state *st = state;
    PyObject *r;

    if (!st->running)
        return 1;
    st->interrupted = 1;
    if (st->stop == NULL)
        return 0;
    r = PyObject_CallOneArg(st->interrupt_fn, st->stop);
    if (r == NULL) {
        PyErr_Clear();
        return 1;
    }
    Py_DECREF(r);
    return 0;
}

/* ------------------------------------------------------------- the entry */

static const aa_runner curio_runner = {
    .abi_version = AA_RUNNER_ABI_VERSION,
    .struct_size = sizeof(aa_runner),
    .python_version = AA_RUNNER_PYTHON_VERSION,
    .name = "curio",
    .open = curio_open,
    .close = curio_close,
    .run = curio_run,
    .interrupt = curio_interrupt,
    .start = curio_start,
    .step = curio_step,
    .collect = curio_collect,
    .fd = curio_fd,
    .timeout = curio_timeout,
};

AA_SDK_PLUGIN(curio_runner);
