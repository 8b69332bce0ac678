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
 * Compiling cells, cutting tracebacks and deciding when to interrupt are the
 * library's.  The cell's coroutine is handed to the task as it is, never
 * wrapped, so that no frame of ours sits between the user's frames.
 */
#include <autoawait/runner-sdk.h>

#include <limits.h>
#include <string.h>

/*
 * Interned names of what the runner looks up, kept per session (see
 * plugin.h).  Sessions cannot outlive their interpreter.
 */
#define NAMES(X)                                                               \
    X(asyncio)                                                                 \
    X(set_event_loop)                                                          \
    X(get_event_loop_policy)                                                   \
    X(_get_running_loop)                                                       \
    X(_local)                                                                  \
    X(_loop)                                                                   \
    X(is_closed)                                                               \
    X(is_running)                                                              \
    X(create_task)                                                             \
    X(context)                                                                 \
    X(run_until_complete)                                                      \
    X(run_forever)                                                             \
    X(_selector)                                                               \
    X(_get_backend_id)                                                         \
    X(fileno)                                                                  \
    X(_ready)                                                                  \
    X(_scheduled)                                                              \
    X(_when)                                                                   \
    X(_fut_waiter)                                                             \
    X(call_soon_threadsafe)                                                    \
    X(call_soon)                                                               \
    X(stop)                                                                    \
    X(done)                                                                    \
    X(cancel)                                                                  \
    X(exception)                                                               \
    X(close)                                                                   \
    X(all_tasks)                                                               \
    X(wait)                                                                    \
    X(timeout)                                                                 \
    X(cancelled)                                                               \
    X(shutdown_asyncgens)                                                      \
    X(shutdown_default_executor)                                               \
    X(result)                                                                  \
    X(CancelledError)

AA_SDK_NAMES(NAMES);

typedef struct runner_state {
    names str;
    const aa_sdk_asyncio *family; /* what makes the loop */
    aa_sdk_cell cell;             /* the started cell's handshake */
    PyObject *context_kw;         /* ("context",), the kwnames of create_task */
    PyObject *asyncio;            /* the module, once some code imported it */
    PyObject *loop;        /* the session's loop, NULL until one is needed */
    PyObject *task;        /* the task of the cell started */
    int settling;          /* its task is done, the loop's pass not yet */
    int settled;           /* a foreign loop's pass ran after it was done */
    PyObject *pass_end;    /* pass_end() bound to this state */
    PyObject *pass_handle; /* its Handle queued now, or NULL */
    int passes;            /* passes of the loop in this step */
    int foreign_steps;     /* steps of a foreign loop since the cell moved */
    const void *waiter;    /* what the cell's task awaited then (compared) */
    int stopped;           /* pass_end called loop.stop() in this step */
    PyObject *flush_end;   /* flush_end() bound to this state */
    PyObject *flush_exc;   /* the class flush_end raises */
    int asyncio_at_enter;  /* asyncio was imported when the cell began */
} runner_state;

/* The most passes of the loop one step runs. */
#define STEP_PASSES 16

/*
 * A loop that is not asyncio's own (uvloop's) has no ready queue nor timer
 * heap to read, so its timers cannot be waited for: while a cell runs on
 * it, the FOREIGN_EAGER steps after the cell began or moved on (its task
 * awaits another future) come at once, so that a cell awaiting what is
 * ready ends in them; then one every millisecond for FOREIGN_BRISK steps,
 * so that short sleeps end on time; then every FOREIGN_LOOP_MS, which is
 * also how often it is stepped when no cell runs but tasks cells left do,
 * and every FOREIGN_IDLE_MS when no task is left (for timers alone: a
 * call_later of a sync cell).  Its I/O wakes it at once when it has a
 * descriptor to watch (uvloop's backend fd).
 */
#define FOREIGN_EAGER 4
#define FOREIGN_BRISK 100
#define FOREIGN_LOOP_MS 10
#define FOREIGN_IDLE_MS 100

/* ----------------------------------------------------------------- helpers */

/* Calls obj.name() and answers its truth: 1, 0, or -1 with an exception. */
static int call_bool(PyObject *obj, PyObject *name)
{
    PyObject *r = PyObject_CallMethodNoArgs(obj, name);
    int b;

    if (r == NULL)
        return -1;
    b = PyObject_IsTrue(r);
    Py_DECREF(r);
    return b;
}

/* Calls obj.name() for its effect only; an exception is left set. */
static int call_void(PyObject *obj, PyObject *name)
{
    PyObject *r = PyObject_CallMethodNoArgs(obj, name);

    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/*
 * Finds asyncio in sys.modules without importing it: 1 when some code has
 * imported it (st->asyncio is then set), 0 when not, -1 on error.  A plain
 * dictionary look-up, as enter runs before every cell.
 */
static int find_asyncio(runner_state *st)
{
    PyObject *mod;

    if (st->asyncio != NULL)
        return 1;
    /* PyImport_GetModule waits while another thread is still importing
     * asyncio; a plain look in sys.modules would get it half made. */
    mod = PyImport_GetModule(st->str.asyncio);
    if (mod == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (!PyModule_Check(mod)) {
        Py_DECREF(mod);
        return 0;
    }
    st->asyncio = mod;
    return 1;
}

static int import_asyncio(runner_state *st)
{
    int found = find_asyncio(st);

    if (found != 0)
        return found < 0 ? -1 : 0;
    st->asyncio = aa_sdk_import("asyncio");
    return st->asyncio == NULL ? -1 : 0;
}

/*
 * The thread's current event loop as the default policy keeps it, looked at
 * without asking for one (get_event_loop() would make one).  Answers a new
 * reference to the loop, to None when there is none, or NULL without an
 * exception when the policy keeps it some other way.
 */
static PyObject *peek_current(runner_state *st)
{
    PyObject *policy, *local = NULL, *loop = NULL;

    policy =
        PyObject_CallMethodNoArgs(st->asyncio, st->str.get_event_loop_policy);
    if (policy != NULL)
        local = PyObject_GetAttr(policy, st->str._local);
    if (local != NULL)
        loop = PyObject_GetAttr(local, st->str._loop);
    Py_XDECREF(local);
    Py_XDECREF(policy);
    if (loop == NULL)
        PyErr_Clear();
    return loop;
}

/* 1 when loop is neither closed nor running, 0 when it is, -1 on error. */
static int loop_usable(runner_state *st, PyObject *loop)
{
    int closed = call_bool(loop, st->str.is_closed);

    if (closed != 0)
        return closed < 0 ? -1 : 0;
    return call_bool(loop, st->str.is_running) == 0 ? 1 : 0;
}

/*
 * 1 when the session's loop cannot be run from here: it runs already (in
 * this thread or another), or another loop runs in this thread.
 */
static int loop_busy(runner_state *st)
{
    PyObject *other;
    int busy = call_bool(st->loop, st->str.is_running);

    if (busy != 0)
        return busy;
    other = PyObject_CallMethodNoArgs(st->asyncio, st->str._get_running_loop);
    if (other == NULL)
        return -1;
    busy = other != Py_None;
    Py_DECREF(other);
    return busy;
}

/* ------------------------------------------------------------ the loop */

/*
 * A new loop from the family's factory: its new_loop, or its
 * "module:callable" (asyncio.new_event_loop when it has neither).
 */
static PyObject *new_loop(void *arg)
{
    const aa_sdk_asyncio *family = arg;
    const char *spec = family->factory, *colon;
    PyObject *mod, *fn, *loop = NULL;
    char module[256];
    size_t len;

    if (family->new_loop != NULL)
        return family->new_loop(family->userdata);
    if (spec == NULL)
        spec = "asyncio:new_event_loop";
    colon = strchr(spec, ':');
    len = colon != NULL ? (size_t)(colon - spec) : 0;
    if (len == 0 || len >= sizeof module || colon[1] == '\0') {
        PyErr_Format(PyExc_ValueError,
                     "the %s runner's loop factory is '%s', not "
                     "'module:callable'",
                     family->name, spec);
        return NULL;
    }
    memcpy(module, spec, len);
    module[len] = '\0';
    if ((mod = aa_sdk_import(module)) == NULL)
        return NULL;
    fn = PyObject_GetAttrString(mod, colon + 1);
    Py_DECREF(mod);
    if (fn != NULL)
        loop = PyObject_CallNoArgs(fn);
    Py_XDECREF(fn);
    return loop;
}

/*
 * Makes sure the session has a loop: importing asyncio if need be, and
 * replacing a loop the user's code closed.
 */
static int ensure_loop(runner_state *st)
{
    if (st->loop != NULL) {
        int closed = call_bool(st->loop, st->str.is_closed);
        if (closed <= 0)
            return closed;
        Py_CLEAR(st->loop);
    }
    if (import_asyncio(st) < 0)
        return -1;
    st->loop = aa_sdk_own_call(new_loop, (void *)st->family);
    return st->loop == NULL ? -1 : 0;
}

/*
 * Makes the session's loop the thread's current one.  The look costs far
 * less than setting it, and sync cells, which call this too, are on a path
 * measured in microseconds.
 */
static int make_current(runner_state *st)
{
    PyObject *cur = peek_current(st), *r;
    int same = cur == st->loop;

    Py_XDECREF(cur);
    if (same)
        return 0;
    r = PyObject_CallMethodOneArg(st->asyncio, st->str.set_event_loop,
                                  st->loop);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* Forgets the session's loop as the thread's current one, if it is. */
static void unset_current(runner_state *st)
{
    PyObject *cur, *r;
    int same;

    if (st->asyncio == NULL)
        return;
    cur = peek_current(st);
    same = cur == st->loop;
    Py_XDECREF(cur);
    if (!same)
        return;
    r = PyObject_CallMethodOneArg(st->asyncio, st->str.set_event_loop, Py_None);
    Py_XDECREF(r);
    PyErr_Clear();
}

/* Runs the coroutine loop.name() to its end; errors are dropped. */
static void run_loop_coro(runner_state *st, PyObject *name)
{
    PyObject *coro = PyObject_CallMethodNoArgs(st->loop, name), *r = NULL;

    if (coro != NULL)
        r = PyObject_CallMethodOneArg(st->loop, st->str.run_until_complete,
                                      coro);
    Py_XDECREF(r);
    Py_XDECREF(coro);
    PyErr_Clear();
}

/* Marks the exceptions of finished tasks as seen, so that none is logged
 * as "never retrieved" when the loop goes. */
static void retrieve_all(runner_state *st, PyObject *tasks)
{
    Py_ssize_t i;

    for (i = 0; i < PyTuple_GET_SIZE(tasks); i++) {
        PyObject *t = PyTuple_GET_ITEM(tasks, i);
        if (call_bool(t, st->str.done) == 1 &&
            call_bool(t, st->str.cancelled) == 0 &&
            call_void(t, st->str.exception) < 0)
            PyErr_Clear();
        PyErr_Clear();
    }
}

/* Cancels what is pending and gives it up to timeout seconds to end;
 * answers what is still pending (new reference), or NULL. */
static PyObject *cancel_and_wait(runner_state *st, PyObject *pending,
                                 double timeout)
{
    PyObject *it = PyObject_GetIter(pending), *t, *wait, *kw, *args;
    PyObject *w = NULL;
    PyObject *r = NULL, *left = NULL;

    while (it != NULL && (t = PyIter_Next(it)) != NULL) {
        if (call_void(t, st->str.cancel) < 0)
            PyErr_Clear();
        Py_DECREF(t);
    }
    Py_XDECREF(it);
    wait = PyObject_GetAttr(st->asyncio, st->str.wait);
    kw = Py_BuildValue("{Od}", st->str.timeout, timeout);
    args = PyTuple_Pack(1, pending);
    if (wait != NULL && kw != NULL && args != NULL)
        w = PyObject_Call(wait, args, kw);
    Py_XDECREF(args);
    if (w != NULL)
        r = PyObject_CallMethodOneArg(st->loop, st->str.run_until_complete, w);
    if (r != NULL && PyTuple_Check(r) && PyTuple_GET_SIZE(r) == 2)
        left = Py_NewRef(PyTuple_GET_ITEM(r, 1));
    Py_XDECREF(r);
    Py_XDECREF(w);
    Py_XDECREF(kw);
    Py_XDECREF(wait);
    return left;
}

/*
 * Cancels every task left on the loop and lets them end, as asyncio.run
 * does, but in bounded time: a task that swallows its cancellation is
 * cancelled again, and after a few seconds in all it is left behind
 * rather than hold the host in aa_session_free forever.
 */
static void cancel_all_tasks(runner_state *st)
{
    static const double waits[] = {2.0, 0.5, 0.5};
    PyObject *set, *tasks = NULL, *pending;
    size_t k;

    set = PyObject_CallMethodOneArg(st->asyncio, st->str.all_tasks, st->loop);
    if (set != NULL)
        tasks = PySequence_Tuple(set);
    pending = Py_XNewRef(set);
    for (k = 0; pending != NULL && PyObject_Size(pending) > 0 &&
                k < sizeof waits / sizeof waits[0];
         k++)
        Py_SETREF(pending, cancel_and_wait(st, pending, waits[k]));
    PyErr_Clear();
    if (tasks != NULL)
        retrieve_all(st, tasks);
    Py_XDECREF(pending);
    Py_XDECREF(tasks);
    Py_XDECREF(set);
    PyErr_Clear();
}

/*
 * What asyncio.run() does when it ends, to the session's loop, which is not
 * running.  When another loop runs in this thread (a session freed from a
 * cell of another) the loop cannot run to drain its tasks: it is only
 * closed, which is still better than leaving it open.
 */
static void shutdown_loop(runner_state *st)
{
    if (loop_busy(st) == 0) {
        cancel_all_tasks(st);
        run_loop_coro(st, st->str.shutdown_asyncgens);
        run_loop_coro(st, st->str.shutdown_default_executor);
    }
    PyErr_Clear();
    if (call_void(st->loop, st->str.close) < 0)
        PyErr_Clear();
}

/* ------------------------------------------------------------- one cell */

/* Marks the task's exception as retrieved so that it is not logged when
 * the task dies. */
static void mark_retrieved(runner_state *st, PyObject *task)
{
    if (call_void(task, st->str.exception) < 0)
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
    if (ensure_loop(st) == 0 && make_current(st) == 0)
        busy = loop_busy(st);
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
    if (call_bool(st->task, st->str.done) == 1 &&
        call_bool(st->task, st->str.cancelled) == 0)
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
    if (ready < 0 && st->task != NULL && call_bool(st->task, st->str.done) > 0)
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
        if (call_void(handle, st->str.cancel) < 0)
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

    if (st->loop == NULL || loop_usable(st, st->loop) != 1 ||
        loop_busy(st) != 0)
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
        if (call_void(st->pass_handle, st->str.cancel) < 0)
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
    if ((done = call_bool(st->task, st->str.done)) == 0)
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

    if (st->loop == NULL || call_bool(st->loop, st->str.is_closed) != 0) {
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
        if (loop_usable(st, st->loop) == 1)
            shutdown_loop(st);
        PyErr_Clear();
        unset_current(st);
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
        int found = find_asyncio(st);
        if (found == 0 && !default_factory(st->family)) {
            found = import_asyncio(st) == 0;
            PyErr_Clear();
        }
        st->asyncio_at_enter = found != 0;
        if (found <= 0)
            return found;
    }
    if (ensure_loop(st) < 0 || make_current(st) < 0)
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
    if (find_asyncio(st) > 0 && (cur = peek_current(st)) != NULL) {
        if (cur != Py_None && loop_usable(st, cur) == 1)
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
