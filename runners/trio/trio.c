/*
 * trio.c -- the trio runner: one trio.run per cell, nested runs included.
 *
 * trio keeps no loop between runs, so each async cell is one trio.run of a
 * small wrapper (compiled from the Python source below when a session opens
 * the runner; trio itself is not imported until the first async cell).
 * The wrapper runs the cell's coroutine inside a CancelScope that interrupt
 * cancels from another thread through the run's TrioToken, so that the
 * cell's finally blocks and __aexit__ run before KeyboardInterrupt is
 * reported.  trio.run copies the current context for its tasks: the wrapper
 * sets the session Context's variables in that copy first and copies back
 * the ones the cell changed, so that context variables persist from cell to
 * cell as they do under asyncio (tokens of ContextVar.set do not: a later
 * cell runs in another copy).  What trio sets for itself (sniffio's "trio")
 * stays in the copy.
 *
 * A cell may start another console whose trio cell runs while this trio.run
 * is still on the stack: trio refuses a run inside a run on one thread, so
 * that inner run goes to a fresh thread of its own while the outer one
 * waits with the GIL released.
 *
 * Compiling cells, cutting tracebacks (the wrapper's and trio's frames sit
 * before the cell's and are cut with them) and deciding when to interrupt
 * are the library's.
 */
#include "plugin.h"
#include "pyversion.h"

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
static const char wrapper_source[] = AA_UNTIL_SOURCE
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

/* Interned names of what the runner looks up (see plugin.h). */
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
    X(cell)

AA_NAMES(NAMES);

typedef struct runner_state {
    names str;
    PyObject *cell;      /* the wrapper, an async function */
    PyObject *begin;     /* begin() bound to this state */
    PyObject *not_main;  /* signal.signal as seen off the main thread */
    PyObject *trio;      /* the module, once an async cell needed it */
    PyObject *signal_fn; /* the real signal.signal while it is hidden */
    PyObject *token;     /* the TrioToken of the cell's run */
    PyObject *scope;     /* the CancelScope around the cell */
    int running;         /* run is in progress */
    int interrupted;     /* interrupt was called during this run */
} runner_state;

/* The arguments of a trio.run handed to a thread of its own. */
typedef struct trio_call {
    runner_state *st;
    PyObject *coro, *context; /* borrowed from run */
} trio_call;

/* ----------------------------------------------------------------- helpers */

static int import_trio(runner_state *st)
{
    if (st->trio == NULL)
        st->trio = aa__own_import(st->str.trio);
    return st->trio == NULL ? -1 : 0;
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
    PyObject *signal, *threading = aa__own_import(st->str.threading);
    int rc = threading != NULL ? aa__py_is_main_thread(threading) : -1;

    Py_XDECREF(threading);
    if (rc <= 0)
        return rc;
    rc = -1;
    signal = aa__own_import(st->str.signal);
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

    return aa__call_on_thread(nested_main, &c, "a trio run inside a trio run");
}

static PyObject *trio_run(void *state, PyObject *coro, PyObject *context)
{
    runner_state *st = state;
    PyObject *r = NULL, *own_context = NULL;
    int nested;

    if (st->running)
        return aa__run_refused("trio", coro, st->str.close);
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
    aa__close_coro(coro, st->str.close);
    Py_XDECREF(own_context);
    return r;
}

/* ------------------------------------------------------ the other entries */

/*
 * Interns the names, compiles the wrapper and binds begin and not_main to
 * this state.
 */
static int state_init(void *state)
{
    runner_state *st = state;
    PyObject *globals, *capsule = NULL;
    int rc = -1;

    if (aa__names_init(&st->str, names_list) < 0 ||
        (globals = aa__run_wrapper(wrapper_source, WRAPPER_FILE)) == NULL)
        return -1;
    st->cell = PyDict_GetItemWithError(globals, st->str.cell);
    if (st->cell == NULL)
        goto done;
    Py_INCREF(st->cell);
    capsule = PyCapsule_New(st, NULL, NULL);
    if (capsule == NULL ||
        (st->begin = PyCFunction_New(&begin_def, capsule)) == NULL ||
        (st->not_main = PyCFunction_New(&not_main_def, NULL)) == NULL)
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

    Py_CLEAR(st->cell);
    Py_CLEAR(st->begin);
    Py_CLEAR(st->not_main);
    Py_CLEAR(st->trio);
    Py_CLEAR(st->signal_fn);
    Py_CLEAR(st->token);
    Py_CLEAR(st->scope);
    aa__names_clear(&st->str, names_list);
    PyMem_Free(st);
}

static int trio_open(void *userdata, void **state)
{
    (void)userdata;
    return aa__state_open(state, sizeof(runner_state), state_init, state_free);
}

/* Nothing of trio outlives a cell: there is only the state to free. */
static void trio_close(void *state)
{
    PyObject *t, *v, *tb;

    if (state == NULL)
        return;
    PyErr_Fetch(&t, &v, &tb);
    state_free(state);
    PyErr_Restore(t, v, tb);
}

/*
 * From another thread, while run waits with the GIL released.  Before
 * begin there is no scope yet: the flag alone stops the cell before it
 * starts.  A run that has finished cannot take the cancellation, and needs
 * none.
 */
static int trio_interrupt(void *state)
{
    runner_state *st = state;
    PyObject *cancel, *r, *finished, *t, *v, *tb;
    int rc;

    if (!st->running)
        return 1;
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

/* ------------------------------------------------------------- the entry */

static const aa_runner trio_runner = {
    .abi_version = AA_RUNNER_ABI_VERSION,
    .struct_size = sizeof(aa_runner),
    .name = "trio",
    .open = trio_open,
    .close = trio_close,
    .run = trio_run,
    .interrupt = trio_interrupt,
};

AA_API int AA_RUNNER_ENTRY(const aa_runner_host *host, const aa_runner **out)
{
    return aa__plugin_entry(host, out, &trio_runner);
}
