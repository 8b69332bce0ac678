/*
 * loop.c -- the session's loop of the SDK's asyncio family: finding
 * asyncio without importing it, making the loop from the family's factory
 * and replacing one the user closed, making it the thread's current loop,
 * and draining and closing it as asyncio.run() ends.  What runs on it, the
 * cells and the guest entries, is asyncio.c's.
 */
#include "family.h"

#include <string.h>

/* ----------------------------------------------------------------- helpers */

/* Calls obj.name() and answers its truth: 1, 0, or -1 with an exception. */
int aa__family_call_bool(PyObject *obj, PyObject *name)
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
int aa__family_call_void(PyObject *obj, PyObject *name)
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
int aa__family_find_asyncio(runner_state *st)
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
    int found = aa__family_find_asyncio(st);

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
PyObject *aa__family_peek_current(runner_state *st)
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
int aa__family_loop_usable(runner_state *st, PyObject *loop)
{
    int closed = aa__family_call_bool(loop, st->str.is_closed);

    if (closed != 0)
        return closed < 0 ? -1 : 0;
    return aa__family_call_bool(loop, st->str.is_running) == 0 ? 1 : 0;
}

/*
 * 1 when the session's loop cannot be run from here: it runs already (in
 * this thread or another), or another loop runs in this thread.
 */
int aa__family_loop_busy(runner_state *st)
{
    PyObject *other;
    int busy = aa__family_call_bool(st->loop, st->str.is_running);

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
int aa__family_ensure_loop(runner_state *st)
{
    if (st->loop != NULL) {
        int closed = aa__family_call_bool(st->loop, st->str.is_closed);
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
int aa__family_make_current(runner_state *st)
{
    PyObject *cur = aa__family_peek_current(st), *r;
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
void aa__family_unset_current(runner_state *st)
{
    PyObject *cur, *r;
    int same;

    if (st->asyncio == NULL)
        return;
    cur = aa__family_peek_current(st);
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
        if (aa__family_call_bool(t, st->str.done) == 1 &&
            aa__family_call_bool(t, st->str.cancelled) == 0 &&
            aa__family_call_void(t, st->str.exception) < 0)
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
        if (aa__family_call_void(t, st->str.cancel) < 0)
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
void aa__family_shutdown_loop(runner_state *st)
{
    if (aa__family_loop_busy(st) == 0) {
        cancel_all_tasks(st);
        run_loop_coro(st, st->str.shutdown_asyncgens);
        run_loop_coro(st, st->str.shutdown_default_executor);
    }
    PyErr_Clear();
    if (aa__family_call_void(st->loop, st->str.close) < 0)
        PyErr_Clear();
}
