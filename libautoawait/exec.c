/*
 * exec.c -- running a compiled cell.
 *
 * A sync cell is evaluated in the session's namespace, inside the session's
 * contextvars.Context; an async cell (its code object is CO_COROUTINE) is
 * evaluated to a coroutine that the session's runner runs, handed the same
 * Context.  Around both: the runner's enter and leave, and the marks that
 * let aa_interrupt reach the cell.  Then the value of a last expression is
 * displayed: bound to `_`, its repr put in the result.  Compiling is left
 * to cell.c; turning exceptions into results to result.c.
 */
#include "internal.h"

#include <unistd.h>

static PyObject *run_sync(aa_session *s, PyObject *code)
{
    PyObject *value, *type, *exc, *tb;

    if (PyContext_Enter(s->context) < 0)
        return NULL;
    value = PyEval_EvalCode(code, s->ns, s->ns);
    PyErr_Fetch(&type, &exc, &tb);
    if (PyContext_Exit(s->context) < 0)
        PyErr_Clear();
    PyErr_Restore(type, exc, tb);
    return value;
}

/* Returns the coroutine's result; NULL with an exception set, or NULL with
 * none set when the runner broke its contract (*broken is then 1). */
static PyObject *run_async(aa_session *s, PyObject *code, int *broken)
{
    aa__opened *o = s->runner;
    PyObject *coro, *value;

    coro = PyEval_EvalCode(code, s->ns, s->ns);
    if (coro == NULL)
        return NULL;
    value = o->entry->vt.run(o->state, coro, s->context);
    Py_DECREF(coro);
    *broken = value == NULL && !PyErr_Occurred();
    return value;
}

/* Shows value: bound to `_`, its repr in r (None shows nothing), kept for
 * a capturing session.  value is borrowed. */
static int show(aa_session *s, aa_result *r, PyObject *value)
{
    PyObject *repr;
    int rc;

    if (s->capture) {
        Py_INCREF(value);
        Py_XSETREF(s->captured_value, value);
    }
    if (value == Py_None)
        return 0;
    if (PyDict_SetItemString(s->ns, "_", value) < 0 ||
        (repr = PyObject_Repr(value)) == NULL)
        return -1;
    rc = aa__result_set_string(&r->repr, repr);
    Py_DECREF(repr);
    return rc;
}

/* Takes the value the tree's rewrite kept under the hidden name out of the
 * namespace (also when the cell failed after setting it); shows it when r
 * is given. */
static int take_kept(aa_session *s, aa_result *r)
{
    PyObject *key = aa__cell_last_name();
    PyObject *value = PyDict_GetItemWithError(s->ns, key);
    int rc = 0;

    if (value == NULL)
        return PyErr_Occurred() ? -1 : 0;
    Py_INCREF(value);
    if (PyDict_DelItem(s->ns, key) < 0)
        rc = -1;
    else if (r != NULL)
        rc = show(s, r, value);
    Py_DECREF(value);
    return rc;
}

static void leave(aa__opened *o)
{
    PyObject *type, *exc, *tb;

    if (o->entry->vt.leave == NULL)
        return;
    PyErr_Fetch(&type, &exc, &tb);
    o->entry->vt.leave(o->state);
    if (PyErr_Occurred())
        PyErr_Clear();
    PyErr_Restore(type, exc, tb);
}

int aa__exec_code(aa_session *s, PyObject *code, const aa__display *d,
                  aa_result *r)
{
    aa__opened *o = s->runner;
    int is_async = (((PyCodeObject *)code)->co_flags & CO_COROUTINE) != 0;
    int broken = 0, ok, entered = 1;
    PyObject *value = NULL;

    r->is_async = is_async;
    /* In a child of fork, the runner's loop, its tasks and its selector
     * are the parent's: running them would run the parent's tasks twice
     * and take the parent's events. */
    if (is_async && s->pid != getpid())
        return aa__result_fail(r, AA_ERUNNER,
                               "this session was made before fork(): its "
                               "runner and its tasks belong to the parent "
                               "process; make a new session in the child "
                               "for async cells");
    if (o->entry->vt.enter != NULL && o->entry->vt.enter(o->state) != 0) {
        entered = 0;
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_RuntimeError, "runner '%s' failed to start",
                         o->entry->name);
        /* A sync cell needs no runner: it runs (the one that repairs what
         * broke the runner, say) without the loop made current. */
        if (is_async)
            return aa__result_from_exception(s, r, AA__PHASE_RUN);
        PyErr_Clear();
    }
    aa__interrupt_cell_begin(s, is_async ? AA__CELL_ASYNC : AA__CELL_SYNC);
    value = is_async ? run_async(s, code, &broken) : run_sync(s, code);
    ok = value != NULL;
    if (d->how == AA__DISPLAY_RETURNED && ok && show(s, r, value) < 0)
        ok = 0;
    if (d->how == AA__DISPLAY_CONSTANT && ok && show(s, r, d->constant) < 0)
        ok = 0;
    Py_XDECREF(value);
    if (d->how == AA__DISPLAY_KEPT && take_kept(s, ok ? r : NULL) < 0 && ok)
        ok = 0;
    aa__interrupt_cell_end(s);
    if (entered)
        leave(o);
    if (broken) {
        return aa__result_fail(r, AA_ERUNNER,
                               "the runner returned neither a result nor an "
                               "exception");
    }
    return ok ? AA_OK : aa__result_from_exception(s, r, AA__PHASE_RUN);
}
