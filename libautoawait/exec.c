/*
 * exec.c -- running a compiled cell.
 *
 * A sync cell is evaluated in the session's namespace, inside the session's
 * contextvars.Context; an async cell (its code object is CO_COROUTINE) is
 * evaluated to a coroutine that the session's runner runs, handed the same
 * Context.  Around both: the runner's enter and leave, and the marks that
 * let aa_interrupt reach the cell (a runner whose enter fails fails the
 * cell, which then does not run).  Then the value of a last expression is
 * displayed: bound to `_`, its repr put in the result.  Compiling is left
 * to cell.c; turning exceptions into results to result.c.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
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

/*
 * The runner's enter failed: the cell, sync or async, does not run, and
 * fails with AA_ERUNNER, a failure of the runner rather than an outcome of
 * the user's code.  The message names the runner and its exception, whose
 * class is the result's exception; there is no traceback, since no frame
 * is the user's.
 */
static int enter_failed(aa_session *s, const aa__opened *o, aa_result *r)
{
    char msg[AA__ERRMSG_SIZE];

    if (!PyErr_Occurred()) {
        snprintf(msg, sizeof msg,
                 "runner '%s' could not start the cell (its enter failed "
                 "without an exception)",
                 o->entry->name);
        return aa__result_fail(r, AA_ERUNNER, msg);
    }
    aa__result_from_exception(s, r, AA__PHASE_RUN);
    snprintf(msg, sizeof msg, "runner '%s' could not start the cell: %s%s%s",
             o->entry->name, r->exception ? r->exception : "an exception",
             r->message && *r->message ? ": " : "",
             r->message ? r->message : "");
    free(r->traceback);
    r->traceback = NULL;
    return aa__result_fail(r, AA_ERUNNER, msg);
}

int aa__exec_code(aa_session *s, PyObject *code, const aa__display *d,
                  aa_result *r)
{
    aa__opened *o = s->runner;
    int is_async = (((PyCodeObject *)code)->co_flags & CO_COROUTINE) != 0;
    int broken = 0, ok;
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
    if (o->entry->vt.enter != NULL && o->entry->vt.enter(o->state) != 0)
        return enter_failed(s, o, r);
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
    leave(o);
    if (broken) {
        return aa__result_fail(r, AA_ERUNNER,
                               "the runner returned neither a result nor an "
                               "exception");
    }
    return ok ? AA_OK : aa__result_from_exception(s, r, AA__PHASE_RUN);
}
