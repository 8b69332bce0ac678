/*
 * trio.c -- the trio runner: each cell one trio run, a guest of the host's
 * loop, or a trio.run of its own when it nests.
 *
 * trio keeps no loop between runs, so each async cell is one run of a small
 * wrapper (compiled from the Python source below when a session opens the
 * runner; trio itself is not imported until the first async cell).  The
 * run is a guest of the host's loop (trio.lowlevel.start_guest_run):
 * start begins it and returns, trio's I/O thread waits for trio's I/O and
 * timers and hands its ticks to the host through a queue and an eventfd
 * of the state's (guest.c), and step runs what was queued.  The wrapper
 * runs the cell's coroutine inside a CancelScope that interrupt cancels
 * from another thread through the run's TrioToken, so that the cell's
 * finally blocks and __aexit__ run before KeyboardInterrupt is reported.
 * trio copies the current context for its tasks: the wrapper sets the
 * session Context's variables in that copy first and copies back the ones
 * the cell changed, so that context variables persist from cell to cell as
 * they do under asyncio (tokens of ContextVar.set do not: a later cell runs
 * in another copy).  What trio sets for itself (sniffio's "trio") stays in
 * the copy.
 *
 * trio keeps its run in a thread-local (GLOBAL_RUN_CONTEXT) of the thread
 * that started it and expects every tick there.  A session's steps may
 * come from any thread, with other sessions' cells in between, so the run's
 * values of that thread-local live in the state between steps and are put
 * on whichever thread steps, for the step only: a sync cell may call
 * trio.run meanwhile, and another session's guest run its own steps.
 *
 * A cell may start another console whose trio cell runs while a trio run
 * (trio.run, or a step of a guest run) is on this thread's stack: trio
 * refuses a run inside a run on one thread, so start answers that it
 * cannot, and run sends that inner run to a fresh thread of its own while
 * the outer one waits with the GIL released.  A step of a guest run asked
 * for from inside another run goes to a thread of its own the same way.
 *
 * Compiling cells, cutting tracebacks (the wrapper's and trio's frames sit
 * before the cell's and are cut with them) and deciding when to interrupt
 * are the library's.
 */
#include "guest.h"
#include <autoawait/runner-sdk.h>
#include "pyversion.h"

#include <time.h>

/*
 * The wrapper trio.run runs.  begin, a C function of this file, records the
 * run's token and scope for interrupt, and answers True when interrupt came
 * first: the cell then does not start at all.  After the with block only a
 * cancellation of the scope can be left, and only interrupt cancels it:
 * the cell ended by the interrupt, and KeyboardInterrupt carries the cell's
 * traceback as it stood, up to where the cell's code called into trio (what
 * lies below is trio delivering the cancellation).  `where` is dropped on
 * the way out, or it would tie the traceback to this frame in a cycle.
 */
static const char wrapper_source[] = AA_SDK_UNTIL_SOURCE
    "from contextvars import copy_context\n"
    "_missing = object()\n"
    "async def cell(trio, begin, coro, context):\n"
    "    own = copy_context()\n"
    "    for var, value in context.items():\n"
    "        if var not in own:\n"
    "            var.set(value)\n"
    "    start = copy_context()\n"
    "    where = None\n"
    "    try:\n"
    "        with trio.CancelScope() as scope:\n"
    "            if begin(trio.lowlevel.current_trio_token(), scope):\n"
    "                raise KeyboardInterrupt\n"
    "            try:\n"
    "                return await coro\n"
    "            except BaseException as exc:\n"
    "                where = exc.__traceback__\n"
    "                raise\n"
    "        where = _until(trio, where)\n"
    "        raise KeyboardInterrupt().with_traceback(where)\n"
    "    finally:\n"
    "        where = None\n"
    "        for var, value in copy_context().items():\n"
    "            if var not in own and start.get(var, _missing) is not value:\n"
    "                context.run(var.set, value)\n";

#define WRAPPER_FILE "<autoawait trio>"

/* Interned names of what the runner looks up (see runner-sdk.h). */
#define NAMES(X)                                                               \
    X(trio)                                                                    \
    X(lowlevel)                                                                \
    X(current_trio_token)                                                      \
    X(run)                                                                     \
    X(run_sync_soon)                                                           \
    X(cancel)                                                                  \
    X(close)                                                                   \
    X(RunFinishedError)                                                        \
    X(signal)                                                                  \
    X(threading)                                                               \
    X(cell)                                                                    \
    X(start_guest_run)                                                         \
    X(run_sync_soon_threadsafe)                                                \
    X(run_sync_soon_not_threadsafe)                                            \
    X(done_callback)                                                           \
    X(host_uses_signal_set_wakeup_fd)                                          \
    X(unwrap)                                                                  \
    X(_core)                                                                   \
    X(_run)                                                                    \
    X(GLOBAL_RUN_CONTEXT)                                                      \
    X(runner)                                                                  \
    X(deliver_ki)                                                              \
    X(io_manager)                                                              \
    X(force_wakeup)

AA_SDK_NAMES(NAMES);

typedef struct runner_state {
    names str;
    PyObject *cell;      /* the wrapper, an async function */
    PyObject *begin;     /* begin() bound to this state */
    PyObject *not_main;  /* signal.signal as seen off the main thread */
    PyObject *trio;      /* the module, once an async cell needed it */
    PyObject *signal_fn; /* the real signal.signal while it is hidden */
    PyObject *token;     /* the TrioToken of the cell's run */
    PyObject *scope;     /* the CancelScope around the cell */
    int running;         /* run is in progress, or a cell is started */
    int interrupted;     /* interrupt was called during this run */
    double cancelled_ms; /* when it was first called (now_ms) */

    /* Guest mode. */
    trio_guest *q;                  /* the queue trio's run calls into */
    PyObject *fns[GUEST_CALLABLES]; /* its callables, which keep q */
    PyObject *start_guest_run;      /* NULL: this trio has none */
    PyObject *coro;                 /* the started cell, until collect */
} runner_state;

/* The arguments of a trio.run handed to a thread of its own. */
typedef struct trio_call {
    runner_state *st;
    PyObject *coro, *context; /* borrowed from run */
} trio_call;

/* ----------------------------------------------------------------- helpers */

/*
 * What guest mode needs of trio: start_guest_run, and the thread-local its
 * runs live in (trio._core._run.GLOBAL_RUN_CONTEXT, not public).  A trio
 * without either gets its cells run by run, blocking.
 */
static void find_guest_mode(runner_state *st)
{
    PyObject *lowlevel, *core, *run_module = NULL;

    lowlevel = PyObject_GetAttr(st->trio, st->str.lowlevel);
    if (lowlevel != NULL)
        st->start_guest_run =
            PyObject_GetAttr(lowlevel, st->str.start_guest_run);
    core = PyObject_GetAttr(st->trio, st->str._core);
    if (core != NULL)
        run_module = PyObject_GetAttr(core, st->str._run);
    if (run_module != NULL)
        st->q->run_context =
            PyObject_GetAttr(run_module, st->str.GLOBAL_RUN_CONTEXT);
    Py_XDECREF(lowlevel);
    Py_XDECREF(core);
    Py_XDECREF(run_module);
    PyErr_Clear();
    if (st->q->run_context == NULL)
        Py_CLEAR(st->start_guest_run);
}

static int import_trio(runner_state *st)
{
    if (st->trio != NULL)
        return 0;
    st->trio = aa_sdk_import("trio");
    if (st->trio == NULL)
        return -1;
    find_guest_mode(st);
    return 0;
}

/*
 * 1 when a trio.run is in progress on this thread (a cell of another
 * session running under trio started this one), 0 when not, -1 on error.
 * current_trio_token() answers wherever trio runs, in sync code it called
 * too, and raises RuntimeError anywhere else.
 */
static int trio_running_here(runner_state *st)
{
    PyObject *lowlevel, *token;

    lowlevel = PyObject_GetAttr(st->trio, st->str.lowlevel);
    if (lowlevel == NULL)
        return -1;
    token = PyObject_CallMethodNoArgs(lowlevel, st->str.current_trio_token);
    Py_DECREF(lowlevel);
    if (token != NULL) {
        Py_DECREF(token);
        return 1;
    }
    if (!PyErr_ExceptionMatches(PyExc_RuntimeError))
        return -1;
    PyErr_Clear();
    return 0;
}

/* ------------------------------------------------------ the main thread */

/*
 * On the main thread, trio.run asks whether it is there by putting back
 * SIGINT's handler, signal.signal(SIGINT, signal.getsignal(SIGINT)), and
 * then installs a handler of its own when Python's is in place.  Python's
 * idea of SIGINT's handler is not the host's: it is fixed when `signal` is
 * first imported, and the host may install its own at any time.  So trio
 * would put SIG_DFL or its own handler over the host's (a Ctrl-C during
 * the cell would then kill the host, or never reach aa_interrupt), or fail
 * with TypeError when Python saw the host's handler as not its own.  For
 * trio's set-up, up to begin, signal.signal therefore answers as it does
 * on any other thread, and trio leaves signals alone: Ctrl-C reaches a
 * cell through aa_interrupt, as under every runner.
 */
static PyObject *not_main_thread(PyObject *self, PyObject *const *args,
                                 Py_ssize_t nargs)
{
    (void)self;
    (void)args;
    (void)nargs;
    PyErr_SetString(PyExc_ValueError,
                    "signal only works in main thread of the main interpreter");
    return NULL;
}

static PyMethodDef not_main_def = {"signal",
                                   (PyCFunction)(void (*)(void))not_main_thread,
                                   METH_FASTCALL, NULL};

static int hide_main_thread(runner_state *st)
{
    PyObject *signal, *threading = aa_sdk_import("threading");
    int rc = threading != NULL ? aa__py_is_main_thread(threading) : -1;

    Py_XDECREF(threading);
    if (rc <= 0)
        return rc;
    rc = -1;
    signal = aa_sdk_import("signal");
    if (signal == NULL)
        return -1;
    st->signal_fn = PyObject_GetAttr(signal, st->str.signal);
    if (st->signal_fn != NULL &&
        PyObject_SetAttr(signal, st->str.signal, st->not_main) == 0)
        rc = 0;
    else
        Py_CLEAR(st->signal_fn);
    Py_DECREF(signal);
    return rc;
}

/* Puts signal.signal back, if it was hidden.  Must not raise. */
static void show_main_thread(runner_state *st)
{
    PyObject *t, *v, *tb, *signal;

    if (st->signal_fn == NULL)
        return;
    PyErr_Fetch(&t, &v, &tb);
    signal = PyImport_GetModule(st->str.signal);
    if (signal == NULL ||
        PyObject_SetAttr(signal, st->str.signal, st->signal_fn) < 0)
        PyErr_Clear();
    Py_XDECREF(signal);
    Py_CLEAR(st->signal_fn);
    PyErr_Restore(t, v, tb);
}

/* ------------------------------------------------------------- one cell */

/*
 * begin(token, scope), called by the wrapper as the cell starts, on the
 * thread of its run: keeps what interrupt needs, and answers whether
 * interrupt came before there was anything to cancel.  Both this and
 * interrupt hold the GIL throughout, so one of them sees the other's work.
 */
static PyObject *begin(PyObject *capsule, PyObject *const *args,
                       Py_ssize_t nargs)
{
    runner_state *st = PyCapsule_GetPointer(capsule, NULL);

    if (st == NULL)
        return NULL;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "begin(token, scope)");
        return NULL;
    }
    show_main_thread(st);
    Py_XSETREF(st->token, Py_NewRef(args[0]));
    Py_XSETREF(st->scope, Py_NewRef(args[1]));
    return PyBool_FromLong(st->interrupted);
}

static PyMethodDef begin_def = {"begin", (PyCFunction)(void (*)(void))begin,
                                METH_FASTCALL, NULL};

/*
 * trio.run(cell, trio, begin, coro, context) in a new, empty Context:
 * trio copies the current one for its tasks, and the wrapper takes what it
 * finds there for trio's own, so nothing of the caller's (another session's
 * variables, when runs nest) may be in it.
 */
static PyObject *run_trio(runner_state *st, PyObject *coro, PyObject *context)
{
    PyObject *args[] = {st->cell, st->trio, st->begin, coro, context};
    PyObject *ctx = PyContext_New(), *run = NULL, *r = NULL, *t, *v, *tb;

    if (ctx == NULL || PyContext_Enter(ctx) < 0) {
        Py_XDECREF(ctx);
        return NULL;
    }
    run = PyObject_GetAttr(st->trio, st->str.run);
    if (run != NULL && hide_main_thread(st) == 0)
        r = PyObject_Vectorcall(run, args, 5, NULL);
    show_main_thread(st);
    PyErr_Fetch(&t, &v, &tb);
    if (PyContext_Exit(ctx) < 0)
        PyErr_Clear();
    PyErr_Restore(t, v, tb);
    Py_XDECREF(run);
    Py_DECREF(ctx);
    return r;
}

/* What the thread of a nested run runs, with the GIL. */
static PyObject *nested_main(void *arg)
{
    trio_call *c = arg;

    return run_trio(c->st, c->coro, c->context);
}

/*
 * trio.run is already in progress on this thread, so the cell's run goes
 * to a thread of its own, waited for with the GIL released.  The outer run
 * stays blocked meanwhile, as it would in any sync call.
 */
static PyObject *run_nested(runner_state *st, PyObject *coro, PyObject *context)
{
    trio_call c = {st, coro, context};

    return aa_sdk_call_on_thread(nested_main, &c,
                                 "a trio run inside a trio run");
}

static PyObject *trio_run(void *state, PyObject *coro, PyObject *context)
{
    runner_state *st = state;
    PyObject *r = NULL, *own_context = NULL;
    int nested;

    if (st->running)
        return aa_sdk_run_refused("trio", coro);
    /* From here interrupt may come: until begin, it only sets the flag
     * (the first cell may spend a while importing trio). */
    st->interrupted = 0;
    st->running = 1;
    if (context == NULL || context == Py_None)
        context = own_context = PyContext_New();
    if (context != NULL && import_trio(st) == 0 &&
        (nested = trio_running_here(st)) >= 0)
        r = nested ? run_nested(st, coro, context)
                   : run_trio(st, coro, context);
    st->running = 0;
    st->interrupted = 0;
    Py_CLEAR(st->token);
    Py_CLEAR(st->scope);
    aa_sdk_close_coro(coro);
    Py_XDECREF(own_context);
    return r;
}

/* ------------------------------------------------------------ guest mode */

/*
 * The keyword arguments of start_guest_run.  The host's loop does not
 * touch signal.set_wakeup_fd, but trio must not either: signal.signal is
 * hidden while it sets up (hide_main_thread), so trio takes the thread for
 * one where signals cannot be had and leaves them alone.
 */
static PyObject *guest_kwargs(runner_state *st)
{
    return Py_BuildValue(
        "{O:O,O:O,O:O,O:O}", st->str.run_sync_soon_threadsafe,
        st->fns[GUEST_SOON_THREADSAFE], st->str.run_sync_soon_not_threadsafe,
        st->fns[GUEST_SOON], st->str.done_callback, st->fns[GUEST_DONE],
        st->str.host_uses_signal_set_wakeup_fd, Py_False);
}

/*
 * start_guest_run(cell, trio, begin, coro, context, ...) in a new, empty
 * Context, as run_trio runs trio.run; then the run's values of the run
 * context go from this thread into the state.  0, or -1 with an exception
 * set.
 */
static int start_guest(runner_state *st, PyObject *coro, PyObject *context)
{
    PyObject *ctx = PyContext_New(), *kwargs = guest_kwargs(st);
    PyObject *args =
        PyTuple_Pack(5, st->cell, st->trio, st->begin, coro, context);
    PyObject *r = NULL, *t, *v, *tb;

    if (ctx != NULL && kwargs != NULL && args != NULL &&
        PyContext_Enter(ctx) == 0) {
        if (hide_main_thread(st) == 0)
            r = PyObject_Call(st->start_guest_run, args, kwargs);
        show_main_thread(st);
        PyErr_Fetch(&t, &v, &tb);
        if (PyContext_Exit(ctx) < 0)
            PyErr_Clear();
        PyErr_Restore(t, v, tb);
    }
    Py_XDECREF(ctx);
    Py_XDECREF(kwargs);
    Py_XDECREF(args);
    /* A run that failed half set up leaves its values here too. */
    aa__guest_stash(st->q);
    if (r == NULL) {
        Py_CLEAR(st->q->locals);
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

static int trio_start(void *state, PyObject *coro, PyObject *context)
{
    runner_state *st = state;
    PyObject *own_context = NULL;
    int rc = -1;

    if (st->running) {
        aa_sdk_run_refused("trio", coro);
        return -1;
    }
    st->interrupted = 0;
    st->running = 1;
    if (context == NULL || context == Py_None)
        context = own_context = PyContext_New();
    if (context != NULL && import_trio(st) == 0 &&
        (rc = trio_running_here(st)) == 0) {
        if (st->start_guest_run == NULL)
            rc = 1;
        else if ((rc = start_guest(st, coro, context)) == 0)
            st->coro = Py_NewRef(coro);
    }
    Py_XDECREF(own_context);
    if (rc != 0)
        st->running = 0;
    if (rc < 0)
        aa_sdk_close_coro(coro);
    /* 1: run runs the cell, on a thread of its own. */
    return rc < 0 ? -1 : rc;
}

/*
 * Runs batch, callbacks trio queued, on this thread with the guest run's
 * values of the run context in place, and signal.signal hidden until the
 * cell has begun (trio asks for the main thread in its first tick).
 */
static PyObject *run_batch(runner_state *st, PyObject *batch)
{
    int rc = -1;

    if ((st->q->locals == NULL || aa__guest_unstash(st->q) == 0) &&
        (st->token != NULL || !st->running || hide_main_thread(st) == 0))
        rc = aa__guest_run(st->q, batch);
    else
        aa__guest_requeue(st->q, batch, 0);
    show_main_thread(st);
    if (st->q->locals != NULL)
        aa__guest_stash(st->q);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* What a thread of its own runs for a step asked for inside another run. */
typedef struct batch_call {
    runner_state *st;
    PyObject *batch;
    int ran; /* the thread started */
} batch_call;

static PyObject *batch_main(void *arg)
{
    batch_call *c = arg;

    c->ran = 1;
    return run_batch(c->st, c->batch);
}

/*
 * Runs the callbacks trio queued before this step, once.  A callback that
 * raises is trio's failure, not the cell's (trio hands every failure of
 * the cell, its own included, to done_callback).
 */
static int trio_step(void *state)
{
    runner_state *st = state;
    batch_call c = {st, aa__guest_take(st->q), 0};
    PyObject *r = NULL;
    int taken = 0;

    if (c.batch == NULL)
        return -1;
    if (PyList_GET_SIZE(c.batch) == 0) {
        Py_DECREF(c.batch);
        return 0;
    }
    if (st->q->locals != NULL)
        taken = aa__guest_taken(st->q);
    if (taken == 0)
        r = run_batch(st, c.batch);
    else if (taken == 1)
        r = aa_sdk_call_on_thread(batch_main, &c,
                                  "a trio step inside a trio run");
    /* Nothing of the batch ran: it is the next step's. */
    if (taken < 0 || (taken == 1 && !c.ran))
        aa__guest_requeue(st->q, c.batch, 0);
    Py_DECREF(c.batch);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* Forgets the cell that ran; keeps the exception set. */
static void end_cell(runner_state *st)
{
    PyObject *t, *v, *tb;

    PyErr_Fetch(&t, &v, &tb);
    st->running = 0;
    st->interrupted = 0;
    Py_CLEAR(st->token);
    Py_CLEAR(st->scope);
    Py_CLEAR(st->q->locals);
    Py_CLEAR(st->q->outcome);
    if (st->coro != NULL)
        aa_sdk_close_coro(st->coro);
    Py_CLEAR(st->coro);
    PyErr_Restore(t, v, tb);
}

static int trio_collect(void *state, PyObject **result)
{
    runner_state *st = state;

    if (st->coro == NULL || st->q->outcome == NULL)
        return 0;
    /* outcome.unwrap() is what trio.run returns, or raises. */
    *result = PyObject_CallMethodNoArgs(st->q->outcome, st->str.unwrap);
    end_cell(st);
    return 1;
}

static int trio_fd(void *state)
{
    runner_state *st = state;

    return st->q->fd;
}

/* trio's timers are its I/O thread's to wait for: only a queued callback
 * makes a deadline. */
static int trio_timeout(void *state)
{
    runner_state *st = state;

    return PyList_GET_SIZE(st->q->calls) > 0 ? 0 : -1;
}

/* ------------------------------------------------ interrupt, and close */

/* Milliseconds on the monotonic clock. */
static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * From another thread, while run waits with the GIL released, or while a
 * cell is started (its run waiting for the host's next step, or in one).
 * token.run_sync_soon wakes trio's I/O thread, and so the host's loop
 * through the eventfd.  Before begin there is no scope yet: the flag alone
 * stops the cell before it starts.  A run that has finished cannot take
 * the cancellation, and needs none.
 */
static int cancel_cell(runner_state *st)
{
    PyObject *cancel, *r, *finished, *t, *v, *tb;
    int rc;

    if (!st->interrupted)
        st->cancelled_ms = now_ms();
    st->interrupted = 1;
    if (st->token == NULL)
        return 0;
    cancel = PyObject_GetAttr(st->scope, st->str.cancel);
    r = cancel == NULL ? NULL
                       : PyObject_CallMethodOneArg(
                             st->token, st->str.run_sync_soon, cancel);
    Py_XDECREF(cancel);
    if (r != NULL) {
        Py_DECREF(r);
        return 0;
    }
    PyErr_Fetch(&t, &v, &tb);
    finished = PyObject_GetAttr(st->trio, st->str.RunFinishedError);
    rc = finished == NULL || !PyErr_GivenExceptionMatches(t, finished);
    Py_XDECREF(finished);
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    PyErr_Clear();
    return rc;
}

static int trio_interrupt(void *state)
{
    runner_state *st = state;

    return st->running ? cancel_cell(st) : 1;
}

/* Calls the method name of the guest run's Runner, or of its attribute
 * attr (when not NULL); errors are cleared. */
static void call_runner(runner_state *st, PyObject *attr, PyObject *name)
{
    PyObject *runner, *owner, *r = NULL;

    runner = st->q->locals != NULL
                 ? PyDict_GetItemWithError(st->q->locals, st->str.runner)
                 : NULL;
    owner = runner == NULL ? NULL
            : attr == NULL ? Py_NewRef(runner)
                           : PyObject_GetAttr(runner, attr);
    if (owner != NULL)
        r = PyObject_CallMethodNoArgs(owner, name);
    Py_XDECREF(owner);
    Py_XDECREF(r);
    PyErr_Clear();
}

/*
 * What a thread of its own does when close gives a run up: wakes trio's I/O
 * thread, so that it does not sit out its wait, and drops the queue.  What
 * trio then drops closes the run's generator, which clears the run context
 * of the thread it is on (trio's finally): never the closing thread's,
 * which may be inside another run.
 */
static PyObject *abandon_main(void *arg)
{
    runner_state *st = arg;

    call_runner(st, st->str.io_manager, st->str.force_wakeup);
    aa__guest_orphan(st->q);
    Py_RETURN_NONE;
}

/* How long after a cell was first cancelled close raises KeyboardInterrupt
 * in it (it sits in a shielded wait), and how long close drives it before
 * it gives up. */
#define CLOSE_CANCEL_MS 2000
#define CLOSE_GIVE_UP_MS 4000

/*
 * close with a cell started: cancels it (unless interrupt did already) and
 * steps the run until it ends, waiting on the eventfd with the GIL
 * released.  A cell that sits out the cancellation gets KeyboardInterrupt,
 * as Ctrl-C would give it in trio.run; one that survives that too is given
 * up (abandon_main).
 */
static void finish_guest(runner_state *st)
{
    double t0 = now_ms();
    int forced = 0;
    PyObject *r;

    cancel_cell(st);
    while (st->q->outcome == NULL && st->q->locals != NULL) {
        if (now_ms() - t0 >= CLOSE_GIVE_UP_MS) {
            r = aa_sdk_call_on_thread(abandon_main, st, "giving up a trio run");
            Py_XDECREF(r);
            PyErr_Clear();
            return;
        }
        if (!forced && now_ms() - st->cancelled_ms >= CLOSE_CANCEL_MS) {
            forced = 1;
            call_runner(st, NULL, st->str.deliver_ki);
        }
        aa__guest_wait(st->q, 50);
        if (trio_step(st) < 0)
            PyErr_Clear();
    }
}

/* ------------------------------------------------------ the other entries */

/*
 * Interns the names, compiles the wrapper, binds begin and not_main to this
 * state and makes the guest queue, whose eventfd is the state's fd.
 */
static int state_init(void *state)
{
    runner_state *st = state;
    PyObject *globals, *capsule = NULL;
    int rc = -1;

    if (aa_sdk_names_init(&st->str, names_list) < 0 ||
        (globals = aa_sdk_run_wrapper(wrapper_source, WRAPPER_FILE)) == NULL)
        return -1;
    st->cell = PyDict_GetItemWithError(globals, st->str.cell);
    if (st->cell == NULL)
        goto done;
    Py_INCREF(st->cell);
    capsule = PyCapsule_New(st, NULL, NULL);
    if (capsule == NULL ||
        (st->begin = PyCFunction_New(&begin_def, capsule)) == NULL ||
        (st->not_main = PyCFunction_New(&not_main_def, NULL)) == NULL ||
        (st->q = aa__guest_new(st->fns)) == NULL)
        goto done;
    rc = 0;
done:
    Py_XDECREF(capsule);
    Py_DECREF(globals);
    return rc;
}

static void state_free(void *state)
{
    runner_state *st = state;

    /* A run close gave up on still holds begin: it finds no state now. */
    if (st->begin != NULL &&
        PyCapsule_SetName(PyCFunction_GET_SELF(st->begin), "freed") < 0)
        PyErr_Clear();
    Py_CLEAR(st->cell);
    Py_CLEAR(st->begin);
    Py_CLEAR(st->not_main);
    Py_CLEAR(st->trio);
    Py_CLEAR(st->signal_fn);
    Py_CLEAR(st->token);
    Py_CLEAR(st->scope);
    Py_CLEAR(st->start_guest_run);
    Py_CLEAR(st->coro);
    /* What a run left holding the guest's callables drops what comes. */
    if (st->q != NULL)
        aa__guest_orphan(st->q);
    for (int i = 0; i < GUEST_CALLABLES; i++)
        Py_CLEAR(st->fns[i]);
    aa_sdk_names_clear(&st->str, names_list);
    PyMem_Free(st);
}

static int trio_open(void *userdata, void **state)
{
    (void)userdata;
    return aa_sdk_state_open(state, sizeof(runner_state), state_init,
                             state_free);
}

/*
 * Nothing of trio outlives a cell: a cell still started is cancelled and
 * driven to its end (finish_guest), and then there is only the state to
 * free.
 */
static void trio_close(void *state)
{
    runner_state *st = state;
    PyObject *t, *v, *tb;

    if (st == NULL)
        return;
    PyErr_Fetch(&t, &v, &tb);
    if (st->coro != NULL) {
        finish_guest(st);
        end_cell(st);
    }
    state_free(st);
    PyErr_Restore(t, v, tb);
}

/* ------------------------------------------------------------- the entry */

static const aa_runner trio_runner = {
    .abi_version = AA_RUNNER_ABI_VERSION,
    .struct_size = sizeof(aa_runner),
    .python_version = AA_RUNNER_PYTHON_VERSION,
    .name = "trio",
    .open = trio_open,
    .close = trio_close,
    .run = trio_run,
    .interrupt = trio_interrupt,
    .start = trio_start,
    .step = trio_step,
    .collect = trio_collect,
    .fd = trio_fd,
    .timeout = trio_timeout,
};

AA_SDK_PLUGIN(trio_runner);
