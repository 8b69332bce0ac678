/*
 * curio.c -- the curio runner: one curio Kernel for the whole session.
 *
 * Owns the session's Kernel: made on the first async cell (curio is not
 * imported before), run once per cell with the cell as its main task, and
 * shut down with the session, which cancels what is left.  Tasks a cell
 * spawns live on in the kernel and run again during later cells and while
 * the host polls, as they would under one curio.run (curio.run per cell
 * would cancel them as each cell ends).  A kernel that curio disabled
 * after an error in its own code is replaced, its tasks lost.  The kernel runs
 * inside the session's contextvars.Context: curio's tasks do not copy
 * contexts, so every cell and every task sees and sets the session's
 * context variables directly.
 *
 * Interrupting.  curio offers nothing a thread may call to cancel a task,
 * but a UniversalEvent may be set from any thread: each cell runs under a
 * small wrapper (compiled from the Python source below when a session
 * opens the runner) whose watcher task waits for that event and cancels
 * the cell's task.  The cell then gets TaskCancelled at its next blocking
 * operation, its finally blocks and __aexit__ run, and the wrapper reports
 * KeyboardInterrupt.  A cell that never blocks is left to the library's
 * second interrupt.
 *
 * curio allows one running kernel per thread.  When a cell of another
 * session runs curio on this thread (a console started from a curio cell),
 * the kernel runs on a thread of its own while this one waits with the GIL
 * released; closing from there does the same.
 *
 * Compiling cells, cutting tracebacks (the wrapper's and curio's frames
 * sit before the cell's and are cut with them) and deciding when to
 * interrupt are the library's.
 */
#include "plugin.h"

#include <unistd.h>

/*
 * cell is the main task of each cell, idle the main task of a poll: it
 * waits for watch, a duplicate of the host's fd (see aa__fd_watch), and
 * the timeout, and hands its task to the poll in `me`.
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
 */
static const char wrapper_source[] = AA_UNTIL_SOURCE
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
    "def interrupt(stop):\n"
    "    stop.set()\n"
    "async def idle(curio, watch, timeout, me):\n"
    "    me.append(await curio.current_task())\n"
    "    if watch < 0:\n"
    "        await curio.sleep(timeout)\n"
    "    elif timeout < 0:\n"
    "        await curio.traps._read_wait(watch)\n"
    "    else:\n"
    "        await curio.ignore_after(\n"
    "            timeout, curio.traps._read_wait, watch)\n";

#define WRAPPER_FILE "<autoawait curio>"

/* Interned names of what the runner looks up (see plugin.h). */
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
    X(cell)                                                                    \
    X(interrupt)                                                               \
    X(idle)                                                                    \
    X(terminated)                                                              \
    X(cancel)

AA_NAMES(NAMES);

typedef struct runner_state {
    names str;
    PyObject *cell_fn;      /* the wrapper, an async function */
    PyObject *idle_fn;      /* what poll runs, an async function */
    PyObject *interrupt_fn; /* sets the event, from sync code */
    PyObject *curio;        /* the module, once an async cell needed it */
    PyObject *kernel;       /* the session's Kernel, NULL until then */
    PyObject *context;      /* the session's Context, for poll and close */
    PyObject *stop;         /* the UniversalEvent of the running cell */
    int running;            /* run is in progress */
    int interrupted;        /* interrupt came before there was an event */
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
 * asynchronous KeyboardInterrupt that landed in the kernel's own code, say):
 * it then refuses to run, and says to make a new one.
 */
static int kernel_crashed(runner_state *st)
{
    PyObject *funcs = PyObject_GetAttr(st->kernel, st->str._shutdown_funcs);
    int crashed = funcs == Py_None;

    if (funcs == NULL)
        PyErr_Clear();
    Py_XDECREF(funcs);
    return crashed;
}

/*
 * Imports curio and makes the kernel, the first time a cell needs them;
 * replaces a kernel that crashed (its tasks are lost with it).
 */
static int ensure_kernel(runner_state *st)
{
    if (st->kernel != NULL && kernel_crashed(st))
        Py_CLEAR(st->kernel);
    if (st->kernel != NULL)
        return 0;
    if (st->curio == NULL &&
        (st->curio = aa__own_import(st->str.curio)) == NULL)
        return -1;
    st->kernel = PyObject_CallMethodNoArgs(st->curio, st->str.Kernel);
    return st->kernel == NULL ? -1 : 0;
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
    return aa__call_on_thread(call_here, c,
                              "a curio kernel inside a running one");
}

/* kernel.name(arg), inside the session's Context. */
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
    return r;
}

/* ------------------------------------------------------------- one cell */

/*
 * The wrapper's coroutine for coro, with a fresh event for interrupt, set
 * at once when interrupt came first (while curio was being imported, say).
 * Both this and interrupt hold the GIL from making the event to looking at
 * the flag, so one of them sees the other's work.
 */
static PyObject *wrap_cell(runner_state *st, PyObject *coro)
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
    return PyObject_Vectorcall(st->cell_fn, args, 3, NULL);
}

static PyObject *curio_run(void *state, PyObject *coro, PyObject *context)
{
    runner_state *st = state;
    PyObject *main = NULL, *r = NULL;

    if (st->running)
        return aa__run_refused("curio", coro, st->str.close);
    st->running = 1;
    st->interrupted = 0;
    if (context != NULL && context != Py_None)
        Py_XSETREF(st->context, Py_NewRef(context));
    if (ensure_kernel(st) == 0 && (main = wrap_cell(st, coro)) != NULL)
        r = kernel_method(st, st->str.run, main, NULL);
    st->running = 0;
    st->interrupted = 0;
    Py_CLEAR(st->stop);
    if (main != NULL) {
        aa__close_coro(main, st->str.close);
        Py_DECREF(main);
    }
    aa__close_coro(coro, st->str.close);
    return r;
}

/* ------------------------------------------------------ the other entries */

/* Interns the names, compiles the wrapper and takes its functions. */
static int state_init(void *state)
{
    runner_state *st = state;
    PyObject *globals;
    int rc = -1;

    if (aa__names_init(&st->str, names_list) < 0 ||
        (globals = aa__run_wrapper(wrapper_source, WRAPPER_FILE)) == NULL)
        return -1;
    st->cell_fn = Py_XNewRef(PyDict_GetItemWithError(globals, st->str.cell));
    st->idle_fn = Py_XNewRef(PyDict_GetItemWithError(globals, st->str.idle));
    st->interrupt_fn =
        Py_XNewRef(PyDict_GetItemWithError(globals, st->str.interrupt));
    if (st->cell_fn != NULL && st->idle_fn != NULL && st->interrupt_fn != NULL)
        rc = 0;
    Py_DECREF(globals);
    return rc;
}

static void state_free(void *state)
{
    runner_state *st = state;

    Py_CLEAR(st->cell_fn);
    Py_CLEAR(st->idle_fn);
    Py_CLEAR(st->interrupt_fn);
    Py_CLEAR(st->curio);
    Py_CLEAR(st->kernel);
    Py_CLEAR(st->context);
    Py_CLEAR(st->stop);
    aa__names_clear(&st->str, names_list);
    PyMem_Free(st);
}

static int curio_open(void *userdata, void **state)
{
    (void)userdata;
    return aa__state_open(state, sizeof(runner_state), state_init, state_free);
}

/*
 * Shuts the kernel down: the tasks left are cancelled and their cleanup
 * runs, then the kernel's selector and sockets are closed.  A kernel that
 * is not shut down complains when it dies.
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
 * From another thread, while run waits with the GIL released.  An event
 * set before the watcher waits is not lost: the wait returns at once.
 * Before there is an event, the flag tells wrap_cell to set it.
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

/*
 * After an exception escaped the kernel during a poll (a task raised
 * KeyboardInterrupt): cancels idle's task, which the kernel left waiting
 * on the duplicate the poll is about to close.  Left there, it would make
 * the next wait on that number fail (curio lets one task wait to read it)
 * and wake, its coroutine closed, on whatever fd gets the number next.
 * The escaped exception stays set; one that escapes this run too is
 * dropped.
 */
static void cancel_idle(runner_state *st, PyObject *me)
{
    PyObject *t, *v, *tb, *task, *done, *cancel, *r;

    if (PyList_GET_SIZE(me) != 1)
        return;
    task = PyList_GET_ITEM(me, 0);
    PyErr_Fetch(&t, &v, &tb);
    done = PyObject_GetAttr(task, st->str.terminated);
    if (done == Py_False && !kernel_crashed(st) &&
        (cancel = PyObject_GetAttr(task, st->str.cancel)) != NULL) {
        r = kernel_method(st, st->str.run, cancel, NULL);
        Py_XDECREF(r);
        Py_DECREF(cancel);
    }
    Py_XDECREF(done);
    PyErr_Clear();
    PyErr_Restore(t, v, tb);
}

/* What a poll's wait needs: the runner and the duplicate it watches. */
typedef struct poll_wait {
    runner_state *st;
    int watch;
} poll_wait;

/*
 * Runs the kernel with idle as its main task: the tasks cells left run
 * until the watched duplicate is readable or timeout_ms has passed (no
 * duplicate: the timeout alone; timeout_ms < 0: the duplicate alone).
 * 0, or -1 with an exception set.  arg is a poll_wait.
 */
static int run_idle(void *arg, double timeout_ms)
{
    runner_state *st = ((poll_wait *)arg)->st;
    PyObject *args[4], *main = NULL, *r = NULL;

    args[0] = st->curio;
    args[1] = PyLong_FromLong(((poll_wait *)arg)->watch);
    args[2] = PyFloat_FromDouble(timeout_ms < 0 ? -1.0 : timeout_ms / 1000.0);
    args[3] = PyList_New(0);
    if (args[1] != NULL && args[2] != NULL && args[3] != NULL)
        main = PyObject_Vectorcall(st->idle_fn, args, 4, NULL);
    if (main != NULL) {
        r = kernel_method(st, st->str.run, main, NULL);
        if (r == NULL)
            cancel_idle(st, args[3]);
        aa__close_coro(main, st->str.close);
        Py_DECREF(main);
    }
    Py_XDECREF(args[1]);
    Py_XDECREF(args[2]);
    Py_XDECREF(args[3]);
    Py_XDECREF(r);
    return r != NULL ? 0 : -1;
}

/*
 * Lets the tasks cells left behind run until fd is readable or timeout_ms
 * has passed (see aa__poll_until).  The kernel waits on a duplicate of fd
 * (see aa__fd_watch), never on fd itself: curio lets one task at a time
 * wait to read an fd, and a cell's task may be waiting on fd already
 * (curio.traps._read_wait, a curio socket's recv), or start to meanwhile;
 * either would fail.  A timeout of 0 runs one cycle of the kernel
 * (kernel.run() with no main task).  Nothing to run before the first
 * async cell, nor while curio runs on this thread (the host polls from
 * inside a cell); and nothing would end a wait for no fd and no timeout.
 */
static int curio_poll(void *state, int fd, int timeout_ms)
{
    runner_state *st = state;
    poll_wait w = {st, -1};
    int busy, status;
    PyObject *r;

    if (st->kernel == NULL || st->running || (fd < 0 && timeout_ms < 0) ||
        kernel_crashed(st))
        return AA_POLL_IDLE;
    if ((busy = curio_running_here(st)) != 0)
        return busy < 0 ? -1 : AA_POLL_IDLE;
    if (aa__fd_ready(fd))
        return AA_POLL_READY;
    if (timeout_ms == 0) {
        if ((r = kernel_method(st, st->str.run, NULL, NULL)) == NULL)
            return -1;
        Py_DECREF(r);
        return aa__fd_ready(fd) ? AA_POLL_READY : AA_POLL_TIMEOUT;
    }
    if (fd >= 0 && (w.watch = aa__fd_watch(fd)) < 0)
        return -1;
    status = aa__poll_until(fd, timeout_ms, run_idle, &w);
    if (w.watch >= 0)
        close(w.watch);
    return status;
}

/* ------------------------------------------------------------- the entry */

static const aa_runner curio_runner = {
    .abi_version = AA_RUNNER_ABI_VERSION,
    .struct_size = sizeof(aa_runner),
    .name = "curio",
    .open = curio_open,
    .close = curio_close,
    .run = curio_run,
    .interrupt = curio_interrupt,
    .poll = curio_poll,
};

AA_API int AA_RUNNER_ENTRY(const aa_runner_host *host, const aa_runner **out)
{
    return aa__plugin_entry(host, out, &curio_runner);
}
