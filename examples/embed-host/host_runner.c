/*
 * host_runner.c -- the runner "host": a cell's await turns the host's loop.
 *
 * A runner gets the coroutine of an async cell and must run it to its end.
 * asyncio does that with its own loop; this one has none.  It steps the
 * coroutine itself, and reads what the coroutine yields as a request to
 * the host:
 *
 *     ('sleep', seconds)   wait that long; the host's loop keeps serving
 *                          meanwhile.  The answer sent back into the
 *                          coroutine is how many ticks the loop ran.
 *     None                 a bare yield (what asyncio.sleep(0) does): the
 *                          loop serves what is ready, then the cell goes on.
 *
 * Anything else (an asyncio future, say) is answered with a TypeError
 * thrown into the coroutine.  host_sleep, defined by the setup cell below,
 * is the awaitable that yields the first kind.
 *
 * This is the only file of the host that includes Python.h: a runner
 * speaks CPython's C API, a host does not need to.  Every function here is
 * called by libautoawait with the GIL held and returns with it held; run
 * gives it up while the loop waits in poll(2), which is also what lets the
 * library's interrupt thread reach interrupt.  The loop itself is not
 * thread-safe: like the host, which runs every cell on its main thread,
 * only one thread may turn it at a time.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <autoawait/runner.h>

#include "host_runner.h"

const char host_runner_setup[] =
    "import types\n"
    "@types.coroutine\n"
    "def host_sleep(seconds):\n"
    "    \"\"\"Sleeps in the host's own event loop, which serves its\n"
    "    clients meanwhile; returns the ticks the loop ran.\"\"\"\n"
    "    return (yield ('sleep', float(seconds)))\n"
    "del types\n";

/*
 * Per-session state: the loop comes from aa_runner_register's userdata.
 * The flags are touched only with the GIL held, by run's thread and by the
 * library's interrupt thread: the GIL is their lock.
 */
typedef struct host_state {
    host_loop *loop;
    int running;     /* run is in progress: interrupt may reach it */
    int interrupted; /* interrupt was called during this run */
} host_state;

/* ----------------------------------------------------------- the coroutine */

/*
 * Resumes coro by sending value into it, or by throwing exc into it when
 * exc is not NULL.  Answers as PyIter_Send does: PYGEN_NEXT with *out the
 * value it yielded, PYGEN_RETURN with *out the value it returned (new
 * references both), or PYGEN_ERROR with an exception set.
 */
static PySendResult resume(PyObject *coro, PyObject *value, PyObject *exc,
                           PyObject **out)
{
    PyObject *t, *v, *tb;

    if (exc == NULL)
        return PyIter_Send(coro, value, out);
    *out = PyObject_CallMethod(coro, "throw", "O", exc);
    if (*out != NULL)
        return PYGEN_NEXT;
    if (!PyErr_ExceptionMatches(PyExc_StopIteration))
        return PYGEN_ERROR;
    /* It caught exc and returned: its value rides on StopIteration. */
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    *out = PyObject_GetAttrString(v, "value");
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    return *out != NULL ? PYGEN_RETURN : PYGEN_ERROR;
}

/* The exception set now, as an instance, taken off the thread. */
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

/* 1 and *seconds for a ('sleep', seconds) request, else 0. */
static int is_sleep(PyObject *request, double *seconds)
{
    PyObject *verb;

    if (!PyTuple_Check(request) || PyTuple_GET_SIZE(request) != 2)
        return 0;
    verb = PyTuple_GET_ITEM(request, 0);
    if (!PyUnicode_Check(verb) ||
        PyUnicode_CompareWithASCIIString(verb, "sleep"))
        return 0;
    *seconds = PyFloat_AsDouble(PyTuple_GET_ITEM(request, 1));
    if (*seconds == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}

/*
 * Turns the host's loop until deadline, with the GIL released: the loop is
 * plain C, and other threads (the library's interrupt thread among them)
 * need the GIL meanwhile.  Returns early when interrupted.  On a failure of
 * the loop, returns -1 with OSError set.
 */
static int wait_in_loop(host_state *st, long long deadline)
{
    int why;

    for (;;) {
        /* What Py_BEGIN_ALLOW_THREADS and Py_END_ALLOW_THREADS expand to. */
        PyThreadState *saved = PyEval_SaveThread();
        why = host_loop_serve(st->loop, deadline, -1);
        PyEval_RestoreThread(saved);
        /* A wake-up that is not ours (none else writes the pipe today)
         * must not cut the sleep short. */
        if (why != HOST_WOKEN || st->interrupted)
            break;
    }
    if (why == HOST_ERROR) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}

/*
 * Carries out what the coroutine yielded.  Sets *answer to what is sent
 * back into it, or *error to an exception to throw into it instead: a cell
 * that awaits something this runner cannot do gets to handle it, and its
 * finally blocks run.
 */
static void serve_request(host_state *st, PyObject *request, PyObject **answer,
                          PyObject **error)
{
    unsigned long ticks = st->loop->ticks;
    double seconds = 0.0;

    *answer = *error = NULL;
    if (request != Py_None && !is_sleep(request, &seconds)) {
        PyErr_Format(PyExc_TypeError,
                     "the host runner can only await host_sleep(seconds) "
                     "and bare yields, not %R (try %%autoawait asyncio)",
                     request);
        *error = take_exception();
        return;
    }
    if (seconds < 0.0 || seconds != seconds)
        seconds = 0.0;
    if (seconds > 86400.0)
        seconds = 86400.0;
    if (wait_in_loop(st, host_loop_now() + (long long)(seconds * 1000.0)) < 0)
        *error = take_exception();
    else if ((*answer = PyLong_FromUnsignedLong(st->loop->ticks - ticks)) ==
             NULL)
        *error = take_exception();
}

/* ------------------------------------------------------------ the vtable */

/*
 * Runs coro to its end.  coro and context are borrowed; the result is a
 * new reference, or NULL with the cell's exception set.
 */
static PyObject *host_run(void *state, PyObject *coro, PyObject *context)
{
    host_state *st = state;
    PyObject *value = Py_NewRef(Py_None), *exc = NULL, *out = NULL;
    PyObject *t, *v, *tb;
    PySendResult sent;

    /* Inside the session's Context, so that context variables set by one
     * cell are there in the next.  Entered once: between two steps the
     * thread runs no Python code. */
    if (PyContext_Enter(context) < 0) {
        Py_DECREF(value);
        PyErr_Fetch(&t, &v, &tb);
        out = PyObject_CallMethod(coro, "close", NULL); /* run it or close it */
        Py_XDECREF(out);
        PyErr_Restore(t, v, tb);
        return NULL;
    }
    st->running = 1;
    st->interrupted = 0;
    for (;;) {
        if (st->interrupted && exc == NULL) {
            /* Thrown in where the cell waits: its finally blocks and
             * __aexit__ run, and unless it catches it, it ends the cell
             * with KeyboardInterrupt, which is what the contract asks. */
            Py_CLEAR(value);
            exc = PyObject_CallNoArgs(PyExc_KeyboardInterrupt);
            st->interrupted = 0;
            if (exc == NULL)
                exc = take_exception();
        }
        sent = resume(coro, value, exc, &out);
        Py_CLEAR(value);
        Py_CLEAR(exc);
        if (sent != PYGEN_NEXT)
            break;
        serve_request(st, out, &value, &exc);
        Py_CLEAR(out);
        if (value == NULL && exc == NULL) /* cannot happen; never send NULL */
            value = Py_NewRef(Py_None);
    }
    st->running = 0;
    st->interrupted = 0;
    PyErr_Fetch(&t, &v, &tb);
    if (PyContext_Exit(context) < 0)
        PyErr_Clear();
    PyErr_Restore(t, v, tb);
    return sent == PYGEN_RETURN ? out : NULL;
}

static int host_open(void *userdata, void **state)
{
    host_state *st = PyMem_Calloc(1, sizeof *st);

    if (st == NULL)
        return -1; /* open fails with a status, not an exception */
    st->loop = userdata;
    *state = st;
    return 0;
}

static void host_close(void *state)
{
    PyMem_Free(state);
}

/*
 * Called from the library's interrupt thread, with the GIL, while run is
 * in progress: run is then either waiting in the loop with the GIL
 * released, or inside the cell's Python code.  It must not block: it
 * leaves a note and wakes the loop; run throws KeyboardInterrupt into the
 * cell as soon as it has the coroutine in hand.  Non-zero when no run is
 * in progress: the library then raises KeyboardInterrupt itself.
 */
static int host_interrupt(void *state)
{
    host_state *st = state;

    if (!st->running)
        return 1;
    st->interrupted = 1;
    host_loop_wake(st->loop);
    return 0;
}

int host_runner_register(host_loop *loop)
{
    /* AA_RUNNER_INIT sets the ABI version and the size this host was built
     * with, and every entry to NULL.  The library copies the struct, so a
     * local is fine; the name must outlive it (a literal does). */
    aa_runner vt = AA_RUNNER_INIT;

    vt.name = HOST_RUNNER_NAME;
    vt.open = host_open;
    vt.close = host_close;
    vt.run = host_run;
    vt.interrupt = host_interrupt;
    /* No poll, enter or leave: the runner leaves nothing running between
     * cells, and the host turns its loop itself while it is idle. */
    return aa_runner_register(&vt, loop);
}
