/*
 * simple.c -- aa_runner_simple.so: a runner plugin, and the template to
 * copy for one of your own.
 *
 * The runner "simple" runs each cell the way asyncio.run() runs a program:
 * in an event loop made for that cell and closed after it.  What a cell
 * leaves running (tasks, async generators, executor jobs) is cancelled and
 * cleaned up before the cell's result is shown, so no cell sees another's
 * loop.  Two things asyncio.run() does not do: the cell runs in the
 * session's contextvars.Context (context variables persist from cell to
 * cell), and an interrupt cancels the cell, whose cleanup then runs.
 * (The shipped runner "asyncio" keeps one loop for the whole session
 * instead.)
 *
 * What a plugin is (docs/runner-plugins.md has the whole story):
 *   - a shared object aa_runner_<name>.so, here aa_runner_simple.so;
 *   - exporting exactly one symbol, aa_runner_entry (AA_RUNNER_ENTRY),
 *     which checks the library it is loaded into and hands back a vtable;
 *   - the vtable (struct aa_runner) of functions the library calls, every
 *     one of them with the GIL held.
 *
 * The plugin needs <autoawait/runner.h> and <Python.h>; it does not link
 * against libautoawait, whose process it is loaded into.  Build it with
 * this folder's CMakeLists.txt or Makefile, which ask pkg-config for
 * nothing but `--cflags autoawait` and python3-embed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h> /* first, as CPython asks */

#include <string.h>

#include <autoawait/runner.h>

/* The name is in three places that must agree: here, the file name
 * (aa_runner_simple.so), and what users ask for (`%autoawait simple`). */
#define RUNNER_NAME "simple"

/*
 * Per-session state, made by open and freed by close.  Python objects live
 * here, never in static variables: the entry runs once per process, and
 * one plugin serves every session of it.
 *
 * The fields of the running cell are read by interrupt, on another thread.
 * Both hold the GIL when they touch them: the GIL is their lock.
 */
typedef struct simple_state {
    PyObject *asyncio;   /* the module */
    PyObject *cancelled; /* asyncio.CancelledError */
    /* While run runs: */
    int running;     /* interrupt may reach the cell */
    int interrupted; /* interrupt was called for this cell */
    PyObject *loop;  /* the cell's loop */
    PyObject *task;  /* the cell's task */
} simple_state;

/* ------------------------------------------------------------- helpers */

/*
 * Closes a coroutine that will not run, so that it does not warn "was never
 * awaited".  The exception already set (the reason) is kept.
 */
static void close_coro(PyObject *coro)
{
    PyObject *t, *v, *tb, *r;

    PyErr_Fetch(&t, &v, &tb);
    r = PyObject_CallMethod(coro, "close", NULL);
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
    PyErr_Restore(t, v, tb);
}

/* loop.create_task(coro, context=context): a new reference, or NULL. */
static PyObject *create_task(PyObject *loop, PyObject *coro, PyObject *context)
{
    PyObject *method, *args, *kwargs = NULL, *task = NULL;

    method = PyObject_GetAttrString(loop, "create_task");
    args = PyTuple_Pack(1, coro);
    if (method != NULL && args != NULL)
        kwargs = Py_BuildValue("{s:O}", "context", context);
    if (kwargs != NULL)
        task = PyObject_Call(method, args, kwargs);
    Py_XDECREF(kwargs);
    Py_XDECREF(args);
    Py_XDECREF(method);
    return task;
}

/*
 * The cell ended with an exception.  When it is the CancelledError that
 * interrupt caused, report KeyboardInterrupt instead, as runner.h asks,
 * keeping the traceback: it goes through the cell's frames (the library
 * shows those only).
 */
static void report_interrupt(simple_state *st)
{
    PyObject *t, *v, *tb, *kbi;

    if (!st->interrupted || !PyErr_ExceptionMatches(st->cancelled))
        return;
    /* No Python call may run with an exception set: take it off first. */
    PyErr_Fetch(&t, &v, &tb);
    kbi = PyObject_CallNoArgs(PyExc_KeyboardInterrupt);
    if (kbi == NULL) { /* that failure is reported instead */
        Py_XDECREF(t);
        Py_XDECREF(v);
        Py_XDECREF(tb);
        return;
    }
    if (tb != NULL)
        PyException_SetTraceback(kbi, tb);
    PyErr_Restore(Py_NewRef(PyExc_KeyboardInterrupt), kbi, tb);
    Py_XDECREF(t);
    Py_XDECREF(v);
}

/*
 * asyncio.Runner.close(): cancels the tasks left on the loop and waits for
 * them, shuts down async generators and the default executor, unsets the
 * thread's loop and closes it.  A failure of its own is reported only
 * when the cell succeeded (*result is then dropped), as asyncio.run()
 * would; the cell's exception otherwise stays the one reported.
 */
static void close_runner(PyObject *runner, PyObject **result)
{
    PyObject *t, *v, *tb, *r;

    PyErr_Fetch(&t, &v, &tb);
    r = PyObject_CallMethod(runner, "close", NULL);
    if (r == NULL && t == NULL && *result != NULL) {
        Py_CLEAR(*result);
        return;
    }
    if (r == NULL)
        PyErr_Clear();
    Py_XDECREF(r);
    PyErr_Restore(t, v, tb);
}

/* ------------------------------------------------------------ the vtable */

/*
 * Runs one async cell.  The library calls it with the GIL held, on the
 * cell's thread.
 *   coro     borrowed.  Run it or close it: never leave it unawaited.
 *   context  borrowed: the session's contextvars.Context, not entered.
 * Returns a new reference to the cell's result, or NULL with the cell's
 * exception set.  NULL without an exception is a broken runner.
 *
 * While the loop waits (in select), asyncio releases the GIL: that is when
 * the library's interrupt thread can call interrupt.
 */
static PyObject *simple_run(void *state, PyObject *coro, PyObject *context)
{
    simple_state *st = state;
    PyObject *running, *runner = NULL, *result = NULL;

    /* asyncio loops do not nest: a cell run from inside a running loop
     * (a nested session's cell, run from a coroutine) gets an error, as
     * asyncio.run() would, rather than a loop that cannot run.
     * asyncio._get_running_loop() answers the loop or None, never raises. */
    running = PyObject_CallMethod(st->asyncio, "_get_running_loop", NULL);
    if (running == NULL || running != Py_None) {
        if (running != NULL)
            PyErr_SetString(PyExc_RuntimeError,
                            "the simple runner cannot run a cell from inside "
                            "a running event loop");
        Py_XDECREF(running);
        close_coro(coro);
        return NULL;
    }
    Py_DECREF(running);

    st->running = 1;
    st->interrupted = 0;
    /* asyncio.Runner makes the loop, makes it the thread's current one (so
     * that asyncio.get_event_loop() works in the cell), and cleans it up. */
    runner = PyObject_CallMethod(st->asyncio, "Runner", NULL);
    if (runner != NULL)
        st->loop = PyObject_CallMethod(runner, "get_loop", NULL);
    if (st->loop != NULL)
        st->task = create_task(st->loop, coro, context);
    if (st->task == NULL) {
        close_coro(coro); /* the task never took it over */
        goto done;
    }
    /* interrupt came before the task existed: it could only leave a note. */
    if (st->interrupted) {
        PyObject *r = PyObject_CallMethod(st->task, "cancel", NULL);
        if (r == NULL)
            PyErr_Clear();
        Py_XDECREF(r);
    }
    result = PyObject_CallMethod(st->loop, "run_until_complete", "O", st->task);
    if (result == NULL)
        report_interrupt(st);
done:
    /* Cleanup runs the loop again: the cell's task, if it is still pending
     * (an exception came from outside it), is cancelled and its finally
     * blocks run now, never in a later cell. */
    if (runner != NULL)
        close_runner(runner, &result);
    st->running = 0;
    Py_CLEAR(st->task);
    Py_CLEAR(st->loop);
    Py_XDECREF(runner);
    return result;
}

/*
 * Asks the running cell to stop.  Called with the GIL from the library's
 * interrupt thread while run is in progress, once per aa_interrupt that
 * reaches the cell; it must not block.  Cancelling a task from another
 * thread is not safe, so the loop is asked to do it (call_soon_threadsafe
 * also wakes it, which is what a second call, after the library raised
 * KeyboardInterrupt in the cell's thread, is for).  Returns 0, or non-zero
 * when it could not: the library then raises KeyboardInterrupt in the
 * cell's thread itself.
 */
static int simple_interrupt(void *state)
{
    simple_state *st = state;
    PyObject *cancel, *r = NULL;

    if (!st->running)
        return 1;
    st->interrupted = 1;
    if (st->task == NULL)
        return 0; /* run cancels the task once it exists */
    cancel = PyObject_GetAttrString(st->task, "cancel");
    if (cancel != NULL)
        r = PyObject_CallMethod(st->loop, "call_soon_threadsafe", "O", cancel);
    Py_XDECREF(cancel);
    if (r == NULL) {
        PyErr_Clear();
        return 1;
    }
    Py_DECREF(r);
    return 0;
}

/*
 * Makes a session's state, when a session first uses the runner.  Returns
 * 0, or non-zero (the session then keeps its old runner, and the call that
 * asked for this one fails with AA_ERUNNER).  userdata is NULL for a
 * plugin; it is what aa_runner_register was given for a host's runner.
 * The library runs open with its own imports in force: the asyncio
 * imported here cannot be an asyncio.py of the current folder.  A runner
 * that imports later, when a cell first needs its library, does it
 * through host->own_imports (see docs/runner-plugins.md).
 */
static int simple_open(void *userdata, void **state)
{
    simple_state *st = PyMem_Calloc(1, sizeof *st);

    (void)userdata;
    if (st == NULL)
        return -1;
    st->asyncio = PyImport_ImportModule("asyncio");
    if (st->asyncio != NULL)
        st->cancelled = PyObject_GetAttrString(st->asyncio, "CancelledError");
    if (st->cancelled == NULL) {
        Py_XDECREF(st->asyncio);
        PyMem_Free(st);
        PyErr_Clear(); /* open reports a status, not an exception */
        return -1;
    }
    *state = st;
    return 0;
}

/*
 * Ends a session's use of the runner: releases every reference.  Nothing
 * is left running between cells, so there is nothing to cancel.  Must not
 * raise.
 */
static void simple_close(void *state)
{
    simple_state *st = state;

    Py_XDECREF(st->cancelled);
    Py_XDECREF(st->asyncio);
    PyMem_Free(st);
}

/*
 * The vtable.  abi_version and struct_size say what this plugin was built
 * against (AA_RUNNER_INIT sets the same two), and python_version the
 * CPython's (AA_RUNNER_PYTHON_VERSION: the loader refuses the plugin when the
 * library embeds another major.minor); the library reads no field
 * beyond struct_size, and takes a missing one as NULL.  Only run is
 * required.  poll, enter and leave stay NULL: between cells this runner
 * has no loop to turn or to make current.
 */
static const aa_runner simple_runner = {
    .abi_version = AA_RUNNER_ABI_VERSION,
    .struct_size = sizeof(aa_runner),
    .name = RUNNER_NAME,
    .open = simple_open,
    .close = simple_close,
    .run = simple_run,
    .interrupt = simple_interrupt,
    .python_version = AA_RUNNER_PYTHON_VERSION,
};

/* ------------------------------------------------------------- the entry */

/*
 * True when the library's aa_runner_host holds field.  The host table only
 * grows at its end: a plugin built against a later runner.h may be loaded
 * by an earlier library, whose table is shorter.
 */
#define HOST_HAS(host, field)                                                  \
    ((host)->struct_size >=                                                    \
     offsetof(aa_runner_host, field) + sizeof((host)->field))

/* Declared here too, for -Wmissing-prototypes. */
AA_API int AA_RUNNER_ENTRY(const aa_runner_host *host, const aa_runner **out);

/*
 * The one exported symbol (AA_API: default visibility, every other symbol
 * being hidden by -fvisibility=hidden).  Called once per process, with the
 * GIL held, which it must not release.  A non-zero return refuses the load:
 * the library then dlcloses the plugin.
 */
AA_API int AA_RUNNER_ENTRY(const aa_runner_host *host, const aa_runner **out)
{
    /* Another ABI version means fields that mean something else: refuse
     * before reading anything else. */
    if (host == NULL || out == NULL ||
        host->abi_version != AA_RUNNER_ABI_VERSION)
        return 1;
    /* Loaded under another name (the file was renamed): say no here,
     * rather than hand over a vtable the library would refuse. */
    if (HOST_HAS(host, name) && host->name != NULL &&
        strcmp(host->name, RUNNER_NAME) != 0)
        return 2;
    *out = &simple_runner;
    return 0;
}
