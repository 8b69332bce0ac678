/*
 * asyncio.c -- the SDK's asyncio family (autoawait/runner-sdk.h): a whole
 * runner from a loop factory, one event loop for the whole session.  The
 * shipped asyncio runner is this with asyncio.new_event_loop, uvloop's with
 * uvloop.new_event_loop.
 *
 * Owns the session's loop: made lazily (asyncio is not even imported until
 * a cell imports it or runs async), made the thread's current loop before
 * every cell, adopted from the user's code when a sync cell made one first,
 * and drained and closed with the session.  Starts each async cell as a
 * task of that loop inside the session's contextvars.Context, turns an
 * interrupt into a cancellation whose cleanup runs before KeyboardInterrupt
 * is reported, and is a guest of the host's loop: the library steps it
 * (one pass of the loop that never waits: loop.stop() then
 * loop.run_forever(), as asyncio documents) when the selector's fd is
 * readable or the next callback or timer is due, both read off the loop.
 *
 * The loop itself, made, made current and closed, is loop.c's.
 *
 * Compiling cells, cutting tracebacks and deciding when to interrupt are the
 * library's.  The cell's coroutine is handed to the task as it is, never
 * wrapped, so that no frame of ours sits between the user's frames.
 */
#include "family.h"

#include <limits.h>
#include <string.h>

static const aa_sdk_name names_list[] = {NAMES(AA_SDK_NAME_ENTRY){NULL, 0}};

/* ------------------------------------------------------------- one cell */

/* Marks the task's exception as retrieved so that it is not logged when
 * the task dies. */
static void mark_retrieved(runner_state *st, PyObject *task)
{
    if (aa__family_call_void(task, st->str.exception) < 0)
        PyErr_Clear();
}

/* asyncio.CancelledError, a new reference, or NULL; the exception set
 * (the cell's) is kept. */
static PyObject *cancelled_class(runner_state *st)
{
    PyObject *t, *v, *tb, *cls;

    PyErr_Fetch(&t, &v, &tb);
    cls = PyObject_GetAttr(st->asyncio, st->str.CancelledError);
    PyErr_Clear();
    PyErr_Restore(t, v, tb);
    return cls;
}

/* loop.create_task(coro, context=context); context may be NULL or None. */
static PyObject *create_task(runner_state *st, PyObject *coro,
                             PyObject *context)
{
    PyObject *args[3] = {st->loop, coro, context};

    if (context == NULL || context == Py_None)
        return PyObject_CallMethodOneArg(st->loop, st->str.create_task, coro);
    return PyObject_VectorcallMethod(st->str.create_task, args, 2,
                                     st->context_kw);
}

/*
 * A loop runs already in this thread: the session's own (a cell of this
 * session running a cell of it again) or another session's, whose cell is
 * running this one (a nested session).  asyncio cannot run one loop inside
 * another, so say what works instead.
 */
static PyObject *run_nested(PyObject *coro)
{
    PyErr_SetString(PyExc_RuntimeError,
                    "cannot run this async cell: an asyncio event loop is "
                    "already running in this thread (a nested session "
                    "under asyncio).  Run the nested session from a sync "
                    "cell, or use the trio runner (%autoawait trio), whose "
                    "nested sessions run while the outer cell awaits");
    aa_sdk_close_coro(coro);
    return NULL;
}

static int asyncio_start(void *state, PyObject *coro, PyObject *context)
{
    runner_state *st = state;
    int busy = -1;

    if (st->cell.running) {
        aa_sdk_run_refused(st->family->name, coro);
        return -1;
    }
    if (aa__family_ensure_loop(st) == 0 && aa__family_make_current(st) == 0)
        busy = aa__family_loop_busy(st);
    if (busy != 0) {
        if (busy > 0)
            run_nested(coro);
        else
            aa_sdk_close_coro(coro);
        return -1;
    }
    st->task = create_task(st, coro, context);
    if (st->task == NULL) {
        aa_sdk_close_coro(coro);
        return -1;
    }
    aa_sdk_cell_begin(&st->cell);
    st->foreign_steps = 0;
    st->waiter = NULL;
    st->settled = 0;
    return 0;
}

/*
 * 1 when the exception set is the one the cell's task ended with (it is
 * then cleared: collect reports it), 0 when it came from elsewhere.
 */
static int task_raised(runner_state *st)
{
    PyObject *t, *v, *tb, *exc = NULL;
    int same = 0;

    if (st->task == NULL)
        return 0;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (aa__family_call_bool(st->task, st->str.done) == 1 &&
        aa__family_call_bool(st->task, st->str.cancelled) == 0)
        exc = PyObject_CallMethodNoArgs(st->task, st->str.exception);
    PyErr_Clear();
    same = exc != NULL && exc == v;
    Py_XDECREF(exc);
    if (same) {
        Py_XDECREF(t);
        Py_XDECREF(v);
        Py_XDECREF(tb);
    } else {
        PyErr_Restore(t, v, tb);
    }
    return same;
}

/* 1 when the loop has callbacks ready to run, 0 when not, -1 when it
 * cannot tell (a foreign loop keeps them out of sight): maybe. */
static int ready_callbacks(runner_state *st)
{
    PyObject *ready = PyObject_GetAttr(st->loop, st->str._ready);
    Py_ssize_t n = ready != NULL ? PyObject_Size(ready) : -1;

    Py_XDECREF(ready);
    PyErr_Clear();
    return n > 0 ? 1 : n == 0 ? 0 : -1;
}

/* Queues pass_end after what is ready; None, or NULL with an exception. */
static PyObject *queue_pass_end(runner_state *st)
{
    st->pass_handle =
        PyObject_CallMethodOneArg(st->loop, st->str.call_soon, st->pass_end);
    return st->pass_handle != NULL ? Py_NewRef(Py_None) : NULL;
}

/*
 * The callback that ends each pass of a step's loop (it is queued last):
 * another pass when callbacks are ready (the cell's task resumed, say) and
 * the step has passes left, else loop.stop().  A pass with it queued never
 * waits in the selector.
 */
static PyObject *pass_end(PyObject *capsule, PyObject *unused)
{
    runner_state *st = PyCapsule_GetPointer(capsule, NULL);
    int ready;

    (void)unused;
    if (st == NULL)
        return NULL;
    Py_CLEAR(st->pass_handle);
    ready = ready_callbacks(st);
    /* A foreign loop's queue cannot be read: its passes go on until the
     * cell's task is done and one more pass has run what that queued. */
    if (ready < 0 && st->task != NULL &&
        aa__family_call_bool(st->task, st->str.done) > 0)
        ready = st->settled++ ? 0 : 1;
    PyErr_Clear();
    if (++st->passes < STEP_PASSES && ready != 0)
        return queue_pass_end(st);
    st->stopped = 1;
    return PyObject_CallMethodNoArgs(st->loop, st->str.stop);
}

static PyMethodDef pass_end_def = {"pass_end", pass_end, METH_NOARGS, NULL};

/* The callback that ends flush_stop's run: raises st->flush_exc. */
static PyObject *flush_end(PyObject *capsule, PyObject *unused)
{
    runner_state *st = PyCapsule_GetPointer(capsule, NULL);

    (void)unused;
    if (st != NULL)
        PyErr_SetNone(st->flush_exc);
    return NULL;
}

static PyMethodDef flush_end_def = {"flush_end", flush_end, METH_NOARGS, NULL};

/*
 * After an exception ended a run in which pass_end called loop.stop().
 * asyncio's stop() sets a flag that run_forever clears as it ends: nothing
 * to do.  uvloop's queues a callback, and when the exception ended the run
 * before that callback ran (a timer or a callback raised KeyboardInterrupt
 * before pass_end's turn in the same pass), it stays queued and ends the
 * next run after one pass: a sync cell's run_until_complete then fails
 * with "Event loop stopped before Future completed" (the idle-hook pitfall
 * of docs/runner-plugins.md).  One more run takes it out of the queue,
 * ended not by stop(), which would queue another, but by flush_end raising
 * an exception of its own (a SystemExit, which every loop lets out of
 * run_forever).  The exception set, the step's, is kept; one that the
 * flush's run raises is dropped, as uvloop itself lets flush_end's replace
 * it.
 */
static void flush_stop(runner_state *st)
{
    PyObject *t, *v, *tb, *handle, *r;

    PyErr_Fetch(&t, &v, &tb);
    if (ready_callbacks(st) >= 0) { /* asyncio's own kind of loop */
        PyErr_Restore(t, v, tb);
        return;
    }
    if (st->flush_exc == NULL)
        st->flush_exc = PyErr_NewException("autoawait_runner.FlushEnd",
                                           PyExc_SystemExit, NULL);
    handle = st->flush_exc == NULL
                 ? NULL
                 : PyObject_CallMethodOneArg(st->loop, st->str.call_soon,
                                             st->flush_end);
    if (handle != NULL) {
        r = PyObject_CallMethodNoArgs(st->loop, st->str.run_forever);
        Py_XDECREF(r);
        PyErr_Clear();
        /* A run that a stop of the user's ended before flush_end ran must
         * not leave flush_end to end a later one. */
        if (aa__family_call_void(handle, st->str.cancel) < 0)
            PyErr_Clear();
        Py_DECREF(handle);
    }
    PyErr_Clear();
    PyErr_Restore(t, v, tb);
}

/*
 * Before a step: when the cell's task awaits another future than at the
 * last step, it moved on, and the steps of a foreign loop count from there
 * (see FOREIGN_EAGER).  The future is only compared, never kept.
 */
static void note_waiter(runner_state *st)
{
    PyObject *w;

    if (st->task == NULL)
        return;
    w = PyObject_GetAttr(st->task, st->str._fut_waiter);
    if (w != NULL && (const void *)w != st->waiter) {
        st->waiter = w;
        st->foreign_steps = 0;
    }
    Py_XDECREF(w);
    PyErr_Clear();
}

/*
 * Runs what is ready and never waits: a few passes of the loop, the
 * selector polled with a zero timeout in each, for as long as callbacks are
 * ready (so that `await asyncio.sleep(0)` costs one step, not one per
 * pass), at most STEP_PASSES, so that a task that never sleeps still lets
 * the host have its turn.  A KeyboardInterrupt or SystemExit raised by the
 * cell's own task comes out of run_forever with the task done: that is the
 * cell's ending, for collect.  Anything else that escapes is the step's
 * failure.
 */
static int asyncio_step(void *state)
{
    runner_state *st = state;
    PyObject *r;

    if (st->loop == NULL || aa__family_loop_usable(st, st->loop) != 1 ||
        aa__family_loop_busy(st) != 0)
        return PyErr_Occurred() ? -1 : 0;
    st->passes = 0;
    st->foreign_steps++;
    note_waiter(st);
    st->stopped = 0;
    if ((r = queue_pass_end(st)) == NULL)
        return -1;
    Py_DECREF(r);
    r = PyObject_CallMethodNoArgs(st->loop, st->str.run_forever);
    if (r != NULL) {
        Py_DECREF(r);
        return 0;
    }
    /* An exception cut the pass short: the pass_end queued would end a
     * pass of the next step before its time. */
    if (st->pass_handle != NULL) {
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        if (aa__family_call_void(st->pass_handle, st->str.cancel) < 0)
            PyErr_Clear();
        Py_CLEAR(st->pass_handle);
        PyErr_Restore(t, v, tb);
    } else if (st->stopped) {
        flush_stop(st);
    }
    return task_raised(st) ? 0 : -1;
}

static int asyncio_collect(void *state, PyObject **result)
{
    runner_state *st = state;
    PyObject *t, *v, *tb;
    int done, ready;

    *result = NULL;
    if (st->task == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "no cell was started");
        return 1;
    }
    if ((done = aa__family_call_bool(st->task, st->str.done)) == 0)
        return 0;
    /* The pass of the loop that ended the task may have queued callbacks
     * (its done callbacks, what the cell's last line scheduled): they run
     * before the cell ends, as under run_until_complete, whose stop comes
     * after them.  One more step does it; an exception they raise is then
     * the cell's, and never lands in a later cell. */
    ready = done > 0 && !st->settling ? ready_callbacks(st) : 0;
    if (ready > 0 || (ready < 0 && !st->settled)) {
        st->settling = 1;
        return 0;
    }
    if (done > 0)
        *result = PyObject_CallMethodNoArgs(st->task, st->str.result);
    if (*result == NULL) {
        PyObject *cancelled;
        PyErr_Fetch(&t, &v, &tb);
        mark_retrieved(st, st->task);
        PyErr_Restore(t, v, tb);
        cancelled = cancelled_class(st);
        aa_sdk_cell_outcome(&st->cell, cancelled);
        Py_XDECREF(cancelled);
    }
    Py_CLEAR(st->task);
    aa_sdk_cell_end(&st->cell);
    st->settling = 0;
    return 1;
}

/* The selector's fd, or -1 when there is no loop or it is not asyncio's
 * own selector loop. */
static int asyncio_fd(void *state)
{
    runner_state *st = state;
    PyObject *sel, *fd = NULL;
    long n = -1;

    if (st->loop == NULL)
        return -1;
    sel = PyObject_GetAttr(st->loop, st->str._selector);
    if (sel != NULL && sel != Py_None) {
        fd = PyObject_CallMethodNoArgs(sel, st->str.fileno);
    } else {
        /* uvloop's: its libuv loop's epoll descriptor, readable when one
         * of its watchers is (what libuv offers to embed a loop). */
        PyErr_Clear();
        fd = PyObject_CallMethodNoArgs(st->loop, st->str._get_backend_id);
    }
    if (fd != NULL)
        n = PyLong_AsLong(fd);
    Py_XDECREF(fd);
    Py_XDECREF(sel);
    PyErr_Clear();
    return n >= 0 && n <= INT_MAX ? (int)n : -1;
}

/* When a foreign loop is stepped next (see FOREIGN_EAGER). */
static int foreign_timeout(runner_state *st)
{
    int late = st->foreign_steps - FOREIGN_EAGER;
    PyObject *tasks;
    Py_ssize_t n;

    if (!st->cell.running) {
        tasks = st->asyncio == NULL
                    ? NULL
                    : PyObject_CallMethodOneArg(st->asyncio, st->str.all_tasks,
                                                st->loop);
        n = tasks != NULL ? PyObject_Size(tasks) : -1;
        Py_XDECREF(tasks);
        PyErr_Clear();
        return n == 0 ? FOREIGN_IDLE_MS : FOREIGN_LOOP_MS;
    }
    if (late < 0)
        return 0;
    return late < FOREIGN_BRISK ? 1 : FOREIGN_LOOP_MS;
}

/*
 * 0 when callbacks are ready, the milliseconds until the first timer is
 * due (rounded up), or -1: read off the loop's ready queue and timer heap.
 * A closed loop has nothing to run; a loop that is not asyncio's own has
 * neither to read (foreign_timeout).
 */
static int asyncio_timeout(void *state)
{
    runner_state *st = state;
    PyObject *ready, *heap = NULL, *when = NULL;
    double at = -1;
    int ms = FOREIGN_LOOP_MS; /* a heap it cannot read */

    if (st->loop == NULL ||
        aa__family_call_bool(st->loop, st->str.is_closed) != 0) {
        PyErr_Clear();
        return -1;
    }
    if ((ready = PyObject_GetAttr(st->loop, st->str._ready)) == NULL) {
        PyErr_Clear();
        return foreign_timeout(st);
    }
    heap = PyObject_GetAttr(st->loop, st->str._scheduled);
    if (heap != NULL && PyList_Check(heap)) {
        if (PyObject_Size(ready) > 0) {
            ms = 0;
        } else if (PyList_GET_SIZE(heap) == 0) {
            ms = -1;
        } else if ((when = PyObject_GetAttr(PyList_GET_ITEM(heap, 0),
                                            st->str._when)) != NULL &&
                   (at = PyFloat_AsDouble(when)) >= 0) {
            /* asyncio's loop.time() is the monotonic clock. */
            ms = aa_sdk_timeout_ms(at, aa_sdk_now_ms() / 1e3);
        }
    }
    Py_XDECREF(when);
    Py_XDECREF(heap);
    Py_XDECREF(ready);
    PyErr_Clear();
    return ms;
}

/* ------------------------------------------------------ the other entries */

static int state_init(void *state)
{
    runner_state *st = state;

    PyObject *capsule;

    if (aa_sdk_names_init(&st->str, names_list) < 0 ||
        (capsule = PyCapsule_New(st, NULL, NULL)) == NULL)
        return -1;
    st->pass_end = PyCFunction_New(&pass_end_def, capsule);
    st->flush_end = PyCFunction_New(&flush_end_def, capsule);
    Py_DECREF(capsule);
    st->context_kw = PyTuple_Pack(1, st->str.context);
    return st->context_kw == NULL || st->pass_end == NULL ||
                   st->flush_end == NULL
               ? -1
               : 0;
}

static void state_free(void *state)
{
    runner_state *st = state;

    Py_CLEAR(st->task);
    Py_CLEAR(st->loop);
    Py_CLEAR(st->asyncio);
    Py_CLEAR(st->context_kw);
    Py_CLEAR(st->pass_end);
    Py_CLEAR(st->flush_end);
    Py_CLEAR(st->flush_exc);
    Py_CLEAR(st->pass_handle);
    aa_sdk_names_clear(&st->str, names_list);
    PyMem_Free(st);
}

/* The family of a plugin, whose open gets no userdata. */
static const aa_sdk_asyncio *plugin_family;

static int asyncio_open(void *userdata, void **state)
{
    const aa_sdk_asyncio *family = userdata != NULL ? userdata : plugin_family;

    if (family == NULL) {
        aa_sdk_error("no aa_sdk_asyncio family was given");
        return -1;
    }
    if (aa_sdk_state_open(state, sizeof(runner_state), state_init, state_free) <
        0)
        return -1;
    ((runner_state *)*state)->family = family;
    return 0;
}

static void asyncio_close(void *state)
{
    runner_state *st = state;
    PyObject *t, *v, *tb;

    if (st == NULL)
        return;
    PyErr_Fetch(&t, &v, &tb);
    if (st->loop != NULL) {
        if (aa__family_loop_usable(st, st->loop) == 1)
            aa__family_shutdown_loop(st);
        PyErr_Clear();
        aa__family_unset_current(st);
    }
    state_free(st);
    PyErr_Clear();
    PyErr_Restore(t, v, tb);
}

/*
 * 1 when family makes asyncio's default loop, the one asyncio makes
 * itself when a sync cell asks for the current loop before any is set.
 */
static int default_factory(const aa_sdk_asyncio *family)
{
    return family->new_loop == NULL &&
           (family->factory == NULL ||
            strcmp(family->factory, "asyncio:new_event_loop") == 0);
}

/*
 * Before a cell.  Until some code imports asyncio there is nothing to do:
 * importing it here would cost every session's start-up.  Not so for a
 * family with a loop of its own (uvloop's): a first cell that imports
 * asyncio and asks for the current loop (asyncio.get_event_loop()) would
 * get asyncio's default one, which leave would then adopt, and the
 * session would run on the wrong loop; so its loop is made before the
 * first cell, at the cost of importing asyncio and the factory's module
 * there.  A loop that
 * cannot be made or made current now (a cell took asyncio.new_event_loop
 * away, say) is no reason to refuse the cell: a failing enter fails sync
 * cells too, and one of them may be the cell that puts asyncio back.  An
 * async cell's run tries again and raises why.
 */
static int asyncio_enter(void *state)
{
    runner_state *st = state;

    if (st->loop == NULL) {
        int found = aa__family_find_asyncio(st);
        if (found == 0 && !default_factory(st->family))
            found = 1; /* ensure_loop imports asyncio, below */
        st->asyncio_at_enter = found != 0;
        if (found <= 0)
            return found;
    }
    if (aa__family_ensure_loop(st) < 0 || aa__family_make_current(st) < 0)
        PyErr_Clear();
    return 0;
}

/*
 * After a cell.  A cell that imported asyncio and made a current loop
 * (asyncio.get_event_loop(), say) may have left tasks on it: that loop
 * becomes the session's, so that the next cell runs them.
 */
static void asyncio_leave(void *state)
{
    runner_state *st = state;
    PyObject *t, *v, *tb, *cur;

    if (st->loop != NULL || st->asyncio_at_enter)
        return;
    PyErr_Fetch(&t, &v, &tb);
    if (aa__family_find_asyncio(st) > 0 &&
        (cur = aa__family_peek_current(st)) != NULL) {
        if (cur != Py_None && aa__family_loop_usable(st, cur) == 1)
            st->loop = cur;
        else
            Py_DECREF(cur);
    }
    PyErr_Clear();
    PyErr_Restore(t, v, tb);
}

/*
 * From another thread, while a started cell waits for the host's next
 * step or runs.  Before the task exists the flag alone is set, and start
 * never makes the task after an interrupt (it runs with the GIL).
 */
static int asyncio_interrupt(void *state)
{
    runner_state *st = state;
    PyObject *schedule = NULL, *cancel = NULL;
    int rc;

    if (st->cell.running && st->task != NULL) {
        schedule = PyObject_GetAttr(st->loop, st->str.call_soon_threadsafe);
        cancel = PyObject_GetAttr(st->task, st->str.cancel);
        if (schedule == NULL || cancel == NULL) {
            Py_XDECREF(schedule);
            Py_XDECREF(cancel);
            PyErr_Clear();
            return 1;
        }
    }
    rc = aa_sdk_cell_interrupt(&st->cell, schedule, cancel, NULL);
    Py_XDECREF(schedule);
    Py_XDECREF(cancel);
    return rc;
}

/* ------------------------------------------------------------ the family */

void aa_sdk_asyncio_runner(aa_runner *runner, const aa_sdk_asyncio *family)
{
    static const aa_runner init = AA_RUNNER_INIT;

    *runner = init;
    runner->name = family->name;
    runner->python_version = AA_RUNNER_PYTHON_VERSION;
    runner->open = asyncio_open;
    runner->close = asyncio_close;
    runner->interrupt = asyncio_interrupt;
    runner->enter = asyncio_enter;
    runner->leave = asyncio_leave;
    runner->start = asyncio_start;
    runner->step = asyncio_step;
    runner->collect = asyncio_collect;
    runner->fd = asyncio_fd;
    runner->timeout = asyncio_timeout;
    if (plugin_family == NULL)
        plugin_family = family;
}
