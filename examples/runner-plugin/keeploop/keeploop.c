/*
 * keeploop.c -- aa_runner_keeploop.so: a runner whose event loop lives
 * across cells, written with the runner SDK's lower-level helpers, the way
 * a runner for a loop that the SDK's asyncio family does not fit is
 * written.  (For an asyncio loop itself, the family does all of this and
 * more in a few lines: see ../selector.)
 *
 * One asyncio loop per session, made by open and closed by close.  Each
 * async cell is a task of it, in the session's contextvars.Context, which
 * run runs to completion; tasks a cell leaves behind go on in the next
 * cells, and while the host is idle (poll).  An interrupt cancels the
 * cell's task, so its cleanup runs, and the cell ends in KeyboardInterrupt.
 *
 * The pitfalls of a loop that lives across cells, each of which a runner
 * has fallen into (docs/runner-plugins.md, "A loop that lives across
 * cells"):
 *   - No Python object in a static variable: the entry runs once per
 *     process, for every session and every interpreter the process starts.
 *     The loop, the module and the interned names live in the session's
 *     state.
 *   - poll must come back when fd is readable or the time is up, whatever
 *     the loop is doing: it waits with aa_sdk_wait (the GIL released) and
 *     runs the loop between waits, one pass at a time, each pass polling
 *     the selector without waiting.  It never watches fd with the loop's
 *     add_reader: that would replace the watcher a cell may have on the
 *     same fd (the host's stdin, say), and the cell's would be lost.
 *   - Never stop the loop from a callback that may run twice in one run
 *     (a reader of fd, which fires on every pass while fd stays readable;
 *     a timer beside it).  asyncio's loop.stop() sets a flag, but uvloop's
 *     queues a callback, and a second stop still queued when the first
 *     ended the run ends the next run at once: the next cell fails with
 *     "Event loop stopped before Future completed".  A pass here is
 *     loop.stop() then loop.run_forever(), as asyncio documents, and
 *     nothing else stops the loop.
 *   - The loop is made the thread's current loop in enter, before every
 *     cell: a sync cell's asyncio.run() leaves the thread with none.
 *   - run, poll and close never block with the GIL held, and run none of
 *     the user's code but the cell's coroutine and its tasks.  (A runner
 *     with the guest entries, fd and timeout, must not even do that in
 *     those two, and must never wait in step.)
 *   - A cell run from inside a cell (a nested session) is refused, not run
 *     inside the running loop.
 */
#include <autoawait/runner-sdk.h>

#define NAME "keeploop"
/* While tasks are pending, poll runs a pass of the loop at least this
 * often: the loop's own I/O is seen no later than that. */
#define PASS_MS 10

#define NAMES(X)                                                               \
    X(CancelledError)                                                          \
    X(new_event_loop)                                                          \
    X(set_event_loop)                                                          \
    X(all_tasks)                                                               \
    X(create_task)                                                             \
    X(context)                                                                 \
    X(run_until_complete)                                                      \
    X(run_forever)                                                             \
    X(stop)                                                                    \
    X(done)                                                                    \
    X(cancel)                                                                  \
    X(call_soon_threadsafe)                                                    \
    X(drain)
AA_SDK_NAMES(NAMES);

/* What close runs: the tasks left cancelled and awaited, then the loop
 * closed, as asyncio.run() ends. */
static const char drain_source[] =
    "import asyncio\n"
    "def drain(loop):\n"
    "    tasks = asyncio.all_tasks(loop)\n"
    "    for task in tasks:\n"
    "        task.cancel()\n"
    "    loop.run_until_complete(asyncio.gather(*tasks, "
    "return_exceptions=True))\n"
    "    loop.run_until_complete(loop.shutdown_asyncgens())\n"
    "    loop.close()\n";

typedef struct keeploop {
    names str;
    PyObject *asyncio;
    PyObject *wrapper; /* drain_source's namespace */
    PyObject *loop;
    /* The running cell, read by interrupt on another thread (the GIL is
     * their lock). */
    aa_sdk_cell cell;
    PyObject *task;
} keeploop;

static int init(void *state)
{
    keeploop *st = state;

    if (aa_sdk_names_init(&st->str, names_list) < 0 ||
        (st->asyncio = aa_sdk_import("asyncio")) == NULL ||
        (st->wrapper = aa_sdk_run_wrapper(drain_source, "<keeploop>")) == NULL)
        return -1;
    st->loop = PyObject_CallMethodNoArgs(st->asyncio, st->str.new_event_loop);
    return st->loop != NULL ? 0 : -1;
}

static void free_state(void *state)
{
    keeploop *st = state;
    PyObject *drain, *r = NULL;

    if (st->loop != NULL && st->wrapper != NULL) {
        drain = PyDict_GetItemWithError(st->wrapper, st->str.drain);
        if (drain != NULL)
            r = PyObject_CallOneArg(drain, st->loop);
        Py_XDECREF(r);
        PyErr_Clear(); /* close must not raise */
    }
    Py_CLEAR(st->loop);
    Py_CLEAR(st->wrapper);
    Py_CLEAR(st->asyncio);
    aa_sdk_names_clear(&st->str, names_list);
    PyMem_Free(st);
}

static int keeploop_open(void *userdata, void **state)
{
    (void)userdata;
    return aa_sdk_state_open(state, sizeof(keeploop), init, free_state);
}

static int keeploop_enter(void *state)
{
    keeploop *st = state;
    PyObject *r = PyObject_CallMethodOneArg(st->asyncio, st->str.set_event_loop,
                                            st->loop);

    Py_XDECREF(r);
    return r != NULL ? 0 : -1;
}

/* loop.create_task(coro, context=context): a new reference, or NULL. */
static PyObject *create_task(keeploop *st, PyObject *coro, PyObject *context)
{
    PyObject *args[] = {st->loop, coro, context};
    PyObject *kw = PyTuple_Pack(1, st->str.context);
    PyObject *task = NULL;

    if (kw != NULL)
        task = PyObject_VectorcallMethod(st->str.create_task, args, 2, kw);
    Py_XDECREF(kw);
    return task;
}

static PyObject *keeploop_run(void *state, PyObject *coro, PyObject *context)
{
    keeploop *st = state;
    PyObject *result, *done;

    if (st->cell.running)
        return aa_sdk_run_refused(NAME, coro);
    if ((st->task = create_task(st, coro, context)) == NULL) {
        aa_sdk_close_coro(coro);
        return NULL;
    }
    aa_sdk_cell_begin(&st->cell);
    result = PyObject_CallMethodOneArg(st->loop, st->str.run_until_complete,
                                       st->task);
    if (result == NULL) {
        /* A KeyboardInterrupt the library raised (a second interrupt of a
         * busy cell) leaves the task unfinished: cancel it, so that it
         * does not run on in the next cells. */
        PyObject *exc = aa_sdk_take_exception(), *r = NULL, *cancelled;
        done = PyObject_CallMethodNoArgs(st->task, st->str.done);
        if (done == Py_False)
            r = PyObject_CallMethodNoArgs(st->task, st->str.cancel);
        Py_XDECREF(r);
        Py_XDECREF(done);
        /* Looked up before the exception is set again: a lookup that
         * misses the type cache clears a pending exception. */
        cancelled = PyObject_GetAttr(st->asyncio, st->str.CancelledError);
        PyErr_Clear();
        if (exc != NULL)
            aa_sdk_raise_exception(exc);
        Py_XDECREF(exc);
        aa_sdk_cell_outcome(&st->cell, cancelled);
        Py_XDECREF(cancelled);
    }
    aa_sdk_cell_end(&st->cell);
    Py_CLEAR(st->task);
    return result;
}

static int keeploop_interrupt(void *state)
{
    keeploop *st = state;
    PyObject *schedule = NULL, *cancel = NULL;
    int r;

    if (st->task != NULL) {
        schedule = PyObject_GetAttr(st->loop, st->str.call_soon_threadsafe);
        cancel = PyObject_GetAttr(st->task, st->str.cancel);
        if (schedule == NULL || cancel == NULL) {
            PyErr_Clear(); /* the flag alone, then */
            Py_CLEAR(schedule);
            Py_CLEAR(cancel);
        }
    }
    r = aa_sdk_cell_interrupt(&st->cell, schedule, cancel, NULL);
    Py_XDECREF(schedule);
    Py_XDECREF(cancel);
    return r;
}

/* 1 when the loop has tasks pending, 0 when none, -1 with an exception. */
static int pending(keeploop *st)
{
    PyObject *tasks =
        PyObject_CallMethodOneArg(st->asyncio, st->str.all_tasks, st->loop);
    Py_ssize_t n = tasks != NULL ? PyObject_Size(tasks) : -1;

    Py_XDECREF(tasks);
    return n < 0 ? -1 : n > 0;
}

/* One pass of the loop that never waits: what is ready runs, once. */
static int pass(keeploop *st)
{
    PyObject *r = PyObject_CallMethodNoArgs(st->loop, st->str.stop);

    Py_XDECREF(r);
    if (r != NULL)
        r = PyObject_CallMethodNoArgs(st->loop, st->str.run_forever);
    Py_XDECREF(r);
    return r != NULL ? 0 : -1;
}

static int keeploop_poll(void *state, int fd, int timeout_ms)
{
    keeploop *st = state;
    double end = (aa_sdk_now_ms() + timeout_ms) / 1000; /* in seconds */
    int first = 1, wait, left, busy;

    for (;; first = 0) {
        if ((busy = pending(st)) < 0)
            return -1;
        if (!busy && first)
            return AA_POLL_IDLE; /* the library waits, without the loop */
        if (busy && pass(st) < 0)
            return -1; /* a task raised SystemExit, say */
        wait = busy ? PASS_MS : -1;
        if (timeout_ms >= 0) {
            if ((left = aa_sdk_timeout_ms(end, aa_sdk_now_ms() / 1000)) == 0)
                return AA_POLL_TIMEOUT;
            if (wait < 0 || left < wait)
                wait = left;
        }
        if ((wait = aa_sdk_wait(fd, wait)) != AA_POLL_TIMEOUT || !busy)
            return wait;
    }
}

static const aa_runner keeploop_runner = {
    .abi_version = AA_RUNNER_ABI_VERSION,
    .struct_size = sizeof(aa_runner),
    .name = NAME,
    .open = keeploop_open,
    .close = free_state,
    .run = keeploop_run,
    .interrupt = keeploop_interrupt,
    .poll = keeploop_poll,
    .enter = keeploop_enter,
    .python_version = AA_RUNNER_PYTHON_VERSION,
};
AA_SDK_PLUGIN(keeploop_runner);
