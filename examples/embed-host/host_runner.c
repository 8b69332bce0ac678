/*
 * host_runner.c -- the runner "host": a runner of the host's own, made a
 * guest of its loop, registered with aa_runner_register.
 *
 * The shipped asyncio runner is what embed-host's cells use.  This one is
 * here to show the other way: a host hands the library a runner without
 * writing a plugin, and the runner reaches the host's structures through
 * the userdata it was registered with.  `%autoawait host` selects it.  It
 * has no loop of its own: it steps the cell's coroutine itself, and reads
 * what the coroutine yields as a request to the host:
 *
 *     ('sleep', seconds)   resume me that much later; the answer sent back
 *                          is how many ticks the host's loop ran meanwhile.
 *     None                 a bare yield (what asyncio.sleep(0) does):
 *                          resume me on the next dispatch.
 *
 * Anything else (an asyncio future, say) is answered with a TypeError
 * thrown into the coroutine.  host_sleep, defined by the setup cell below,
 * is the awaitable that yields the first kind.
 *
 * It has only the guest entries of runner.h (start, step, collect, fd,
 * timeout), no run: it never blocks, so it cannot help but leave the host's
 * loop in charge.  A sleep is a deadline its timeout reports, and the
 * host's poll waits for it along with everything else.
 *
 * This is the only file of the host that includes Python.h: a runner
 * speaks CPython's C API, the rest of a host does not need to.  Every
 * entry is called by libautoawait with the GIL held, which is also the
 * lock of the state below: interrupt comes from the library's interrupt
 * thread, the others from whichever thread dispatches the session.
 */
#define _POSIX_C_SOURCE 200809L
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <fcntl.h>
#include <unistd.h>

#include <autoawait/runner.h>

#include "host_runner.h"

const char host_runner_setup[] =
    "import types\n"
    "@types.coroutine\n"
    "def host_sleep(seconds):\n"
    "    \"\"\"Under %autoawait host, sleeps while the host's loop serves\n"
    "    its clients; returns the ticks the loop ran meanwhile.\"\"\"\n"
    "    return (yield ('sleep', float(seconds)))\n"
    "del types\n";

/*
 * Per-session state.  The loop comes from aa_runner_register's userdata.
 * The started cell is coro; what the next resume gives it is one of
 * answer_ticks (a sleep's answer), value or error, at the time due.
 */
typedef struct host_state {
    host_loop *loop;
    int wake[2];       /* interrupt writes, the library watches wake[0] */
    PyObject *coro;    /* the started cell, or NULL */
    PyObject *context; /* the session's Context, entered for each resume */
    long long due;     /* when to resume it, on host_loop_now's clock */
    int answer_ticks;  /* send the ticks since `ticks` (a sleep ended) */
    unsigned long ticks;
    PyObject *error; /* throw this in instead (an unknown request) */
    int interrupted; /* aa_interrupt reached the cell */
    int ended;       /* the cell ended: with result, or with error */
    PyObject *result;
} host_state;

/* ----------------------------------------------------------- the coroutine */

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

/*
 * Resumes coro by sending value into it, or by throwing exc into it when
 * exc is not NULL.  Answers as PyIter_Send does: PYGEN_NEXT with *out the
 * value it yielded, PYGEN_RETURN with *out the value it returned (new
 * references both), or PYGEN_ERROR with an exception set.
 */
static PySendResult resume(PyObject *coro, PyObject *value, PyObject *exc,
                           PyObject **out)
{
    PyObject *stop;

    if (exc == NULL)
        return PyIter_Send(coro, value, out);
    *out = PyObject_CallMethod(coro, "throw", "O", exc);
    if (*out != NULL)
        return PYGEN_NEXT;
    if (!PyErr_ExceptionMatches(PyExc_StopIteration))
        return PYGEN_ERROR;
    /* It caught exc and returned: its value rides on StopIteration. */
    stop = take_exception();
    *out = stop != NULL ? PyObject_GetAttrString(stop, "value") : NULL;
    Py_XDECREF(stop);
    return *out != NULL ? PYGEN_RETURN : PYGEN_ERROR;
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
 * Takes in what the coroutine yielded, and says when and how to resume it:
 * a sleep at its deadline with the ticks, a bare yield at once, anything
 * else at once with a TypeError thrown in, so that the cell can handle it
 * and its finally blocks run.
 */
static void take_request(host_state *st, PyObject *request)
{
    double seconds = 0.0;

    st->due = host_loop_now();
    if (request == Py_None)
        return;
    if (!is_sleep(request, &seconds)) {
        PyErr_Format(PyExc_TypeError,
                     "the host runner can only await host_sleep(seconds) "
                     "and bare yields, not %R (try %%autoawait asyncio)",
                     request);
        st->error = take_exception();
        return;
    }
    if (seconds < 0.0 || seconds != seconds)
        seconds = 0.0;
    if (seconds > 86400.0)
        seconds = 86400.0;
    st->due += (long long)(seconds * 1000.0);
    st->answer_ticks = 1;
    st->ticks = st->loop->ticks;
}

/*
 * Resumes the cell once, inside the session's Context (so that context
 * variables set by one cell are there in the next), with what it is owed.
 */
static void resume_cell(host_state *st)
{
    PyObject *value = NULL, *exc = st->error, *out = NULL;
    PySendResult sent = PYGEN_ERROR;

    st->error = NULL;
    if (st->interrupted) {
        /* Thrown in where the cell waits: its finally blocks and
         * __aexit__ run, and unless it catches it, it ends the cell with
         * KeyboardInterrupt, which is what runner.h asks. */
        st->interrupted = 0;
        Py_CLEAR(exc);
        exc = PyObject_CallNoArgs(PyExc_KeyboardInterrupt);
    } else if (exc == NULL && st->answer_ticks) {
        value = PyLong_FromUnsignedLong(st->loop->ticks - st->ticks);
    } else if (exc == NULL) {
        value = Py_NewRef(Py_None);
    }
    st->answer_ticks = 0;
    st->due = -1;
    if ((value != NULL || exc != NULL) && PyContext_Enter(st->context) == 0) {
        PyObject *t, *v, *tb;

        sent = resume(st->coro, value, exc, &out);
        PyErr_Fetch(&t, &v, &tb); /* the cell's, if any: keep it */
        if (PyContext_Exit(st->context) < 0)
            PyErr_Clear();
        PyErr_Restore(t, v, tb);
    }
    Py_XDECREF(value);
    Py_XDECREF(exc);
    if (sent == PYGEN_NEXT) {
        take_request(st, out);
        Py_DECREF(out);
        return;
    }
    st->ended = 1;
    if (sent == PYGEN_RETURN)
        st->result = out;
    else
        st->error = take_exception();
}

/* ------------------------------------------------------------ the vtable */

static int host_open(void *userdata, void **state)
{
    host_state *st = PyMem_Calloc(1, sizeof *st);
    int i;

    if (st == NULL)
        return -1; /* open fails with a status, not an exception */
    if (pipe(st->wake) < 0) {
        PyMem_Free(st);
        return -1;
    }
    for (i = 0; i < 2; i++) {
        fcntl(st->wake[i], F_SETFL, fcntl(st->wake[i], F_GETFL) | O_NONBLOCK);
        fcntl(st->wake[i], F_SETFD, FD_CLOEXEC);
    }
    st->loop = userdata;
    st->due = -1;
    *state = st;
    return 0;
}

/* Forgets the cell, whatever it came to. */
static void forget(host_state *st)
{
    Py_CLEAR(st->coro);
    Py_CLEAR(st->context);
    Py_CLEAR(st->error);
    Py_CLEAR(st->result);
    st->due = -1;
    st->answer_ticks = st->interrupted = st->ended = 0;
}

static void host_close(void *state)
{
    host_state *st = state;

    if (st->coro != NULL && !st->ended) {
        /* Never collected: close it, so that its finally blocks run. */
        PyObject *r = PyObject_CallMethod(st->coro, "close", NULL);
        if (r == NULL)
            PyErr_Clear();
        Py_XDECREF(r);
    }
    forget(st);
    close(st->wake[0]);
    close(st->wake[1]);
    PyMem_Free(st);
}

/* Takes coro as the session's cell; its first step comes at once. */
static int host_start(void *state, PyObject *coro, PyObject *context)
{
    host_state *st = state;

    forget(st);
    st->coro = Py_NewRef(coro);
    st->context = Py_NewRef(context);
    st->due = host_loop_now();
    return 0;
}

/* Resumes the cell when it is owed a resume; never waits. */
static int host_step(void *state)
{
    host_state *st = state;
    char drain[64];

    while (read(st->wake[0], drain, sizeof drain) > 0)
        ;
    if (st->coro == NULL || st->ended)
        return 0;
    if (st->interrupted || (st->due >= 0 && host_loop_now() >= st->due))
        resume_cell(st);
    return 0;
}

static int host_collect(void *state, PyObject **result)
{
    host_state *st = state;

    if (st->coro == NULL || !st->ended)
        return 0;
    *result = st->result;
    st->result = NULL;
    if (*result == NULL && st->error != NULL) /* its traceback on it */
        PyErr_Restore(Py_NewRef(PyExceptionInstance_Class(st->error)),
                      Py_NewRef(st->error),
                      PyException_GetTraceback(st->error));
    else if (*result == NULL)
        PyErr_SetString(PyExc_SystemError, "the cell failed and said nothing");
    forget(st);
    return 1;
}

static int host_fd(void *state)
{
    return ((host_state *)state)->wake[0];
}

static int host_timeout(void *state)
{
    host_state *st = state;
    long long left;

    if (st->coro == NULL)
        return -1;
    if (st->ended || st->interrupted)
        return 0;
    if (st->due < 0)
        return -1;
    left = st->due - host_loop_now();
    return left <= 0 ? 0 : left > 86400000 ? 86400000 : (int)left;
}

/*
 * Called from the library's interrupt thread, with the GIL, on aa_interrupt
 * while a cell is started.  It must not block: it leaves a note and makes
 * the runner's fd readable, so that the host dispatches and host_step
 * throws KeyboardInterrupt into the cell.  Non-zero when no cell is
 * started: the library then raises KeyboardInterrupt itself.
 */
static int host_interrupt(void *state)
{
    host_state *st = state;
    char c = 'i';

    if (st->coro == NULL || st->ended)
        return 1;
    st->interrupted = 1;
    if (write(st->wake[1], &c, 1) < 0) {
        /* a full pipe already holds a wake-up */
    }
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
    vt.interrupt = host_interrupt;
    /* The guest entries, and no run: this runner never blocks.  No poll,
     * enter or leave either: it keeps no loop, and nothing runs between
     * cells. */
    vt.start = host_start;
    vt.step = host_step;
    vt.collect = host_collect;
    vt.fd = host_fd;
    vt.timeout = host_timeout;
    return aa_runner_register(&vt, loop);
}
