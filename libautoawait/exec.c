/*
 * exec.c -- running a compiled cell.
 *
 * A sync cell is evaluated in the session's namespace, inside the session's
 * contextvars.Context; an async cell (its code object is CO_COROUTINE) is
 * evaluated to a coroutine that the session's runner runs, handed the same
 * Context: started, when the runner is a guest of the host's loop, and
 * collected when a later step ended it, or else run to its end.  Around
 * each part: the runner's enter and leave, and the marks that let
 * aa_interrupt reach the cell (a runner whose enter fails fails the cell,
 * which then does not run).  Then the value of a last expression is
 * displayed: bound to `_`, its repr put in the result.  Compiling is left
 * to cell.c, stepping the runners to guest.c, turning exceptions into
 * results to result.c.
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

/*
 * Begins the coroutine of an async cell: started on a guest runner (1, the
 * runner has it), or run to its end (0, *value its result; NULL with an
 * exception set, or NULL with none set when the runner broke its contract:
 * *broken is then 1).
 */
static int run_async(aa_session *s, PyObject *code, PyObject **value,
                     int *broken)
{
    aa__opened *o = s->runner;
    PyObject *coro;
    int rc = 1;

    *value = NULL;
    coro = PyEval_EvalCode(code, s->ns, s->ns);
    if (coro == NULL)
        return 0;
    if (aa__runner_is_guest(o))
        rc = aa__runner_start(o, coro, s->context);
    if (rc == 1)
        *value = aa__runner_run(o, coro, s->context, broken);
    Py_DECREF(coro);
    return rc == 0;
}

/* Shows value: bound to `_`, its repr in r (None shows nothing), kept for
 * a capturing cell.  value is borrowed. */
static int show(aa_session *s, aa__cell *c, aa_result *r, PyObject *value)
{
    PyObject *repr;
    int rc;

    if (c->capture) {
        Py_INCREF(value);
        Py_XSETREF(c->value, value);
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
static int take_kept(aa_session *s, aa__cell *c, aa_result *r)
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
        rc = show(s, c, r, value);
    Py_DECREF(value);
    return rc;
}

/*
 * The runner's enter failed: the cell, sync or async, does not run, and
 * fails with AA_ERUNNER, a failure of the runner rather than an outcome of
 * the user's code.  The message names the runner and its exception, whose
 * class is the result's exception; there is no traceback, since no frame
 * is the user's.
 */
static int enter_failed(aa__cell *c, const aa__opened *o, aa_result *r)
{
    char msg[AA__ERRMSG_SIZE];

    aa__result_from_exception(c, r, AA__PHASE_RUN);
    snprintf(msg, sizeof msg, "runner '%s' could not start the cell: %s%s%s",
             o->entry->name, r->exception ? r->exception : "an exception",
             r->message && *r->message ? ": " : "",
             r->message ? r->message : "");
    free(r->traceback);
    r->traceback = NULL;
    return aa__result_fail(r, AA_ERUNNER, msg);
}

/*
 * Ends c with value, what its code or its runner gave (NULL: an exception
 * is set, or none when the runner broke its contract), inside the runner's
 * enter: shows the value, ends the interrupt marks, leaves the runner.
 */
static void finish(aa_session *s, aa__cell *c, PyObject *value, int broken)
{
    aa_result *r = c->r;
    int ok = value != NULL;

    if (c->d.how == AA__DISPLAY_RETURNED && ok && show(s, c, r, value) < 0)
        ok = 0;
    if (c->d.how == AA__DISPLAY_CONSTANT && ok &&
        show(s, c, r, c->d.constant) < 0)
        ok = 0;
    Py_XDECREF(value);
    if (c->d.how == AA__DISPLAY_KEPT && take_kept(s, c, ok ? r : NULL) < 0 &&
        ok)
        ok = 0;
    aa__interrupt_cell_end(s);
    aa__runner_leave(c->runner);
    if (broken)
        aa__result_fail(r, AA_ERUNNER,
                        "the runner returned neither a result nor an "
                        "exception");
    else if (ok)
        r->status = AA_OK;
    else
        aa__result_from_exception(c, r, AA__PHASE_RUN);
}

/*
 * Runs c's code: a sync cell to its end, an async one started on a guest
 * runner or run to its end.  AA__EXEC_DONE when c->r has the outcome,
 * AA__EXEC_STARTED when the runner has the cell (aa__exec_collect then
 * ends it), AA__EXEC_REFUSED when the cell is async, must not block, and
 * the runner cannot start it: nothing ran.
 */
int aa__exec_begin(aa_session *s, aa__cell *c)
{
    aa__opened *o = s->runner;
    PyObject *value = NULL;
    int broken = 0;

    c->r->is_async = c->is_async;
    c->runner = o;
    /* In a child of fork, the runner's loop, its tasks and its selector
     * are the parent's: running them would run the parent's tasks twice
     * and take the parent's events. */
    if (c->is_async && s->pid != getpid()) {
        aa__result_fail(c->r, AA_ERUNNER,
                        "this session was made before fork(): its "
                        "runner and its tasks belong to the parent "
                        "process; make a new session in the child "
                        "for async cells");
        return AA__EXEC_DONE;
    }
    if (c->is_async && c->refuse_blocking && !aa__runner_is_guest(o))
        return AA__EXEC_REFUSED;
    if (aa__runner_enter(o) < 0) {
        enter_failed(c, o, c->r);
        return AA__EXEC_DONE;
    }
    aa__interrupt_cell_begin(s, c->is_async ? AA__CELL_ASYNC : AA__CELL_SYNC);
    if (!c->is_async)
        value = run_sync(s, c->code);
    else if (run_async(s, c->code, &value, &broken)) {
        Py_CLEAR(c->code);
        aa__interrupt_step_end(s);
        aa__runner_leave(o);
        return AA__EXEC_STARTED;
    }
    Py_CLEAR(c->code);
    finish(s, c, value, broken);
    return AA__EXEC_DONE;
}

/*
 * Looks whether the started cell c has ended, and ends it when it has:
 * AA__EXEC_DONE then, else AA__EXEC_STARTED.  Its display may run the
 * user's code (a __repr__), so this is a step of the cell too.
 */
int aa__exec_collect(aa_session *s, aa__cell *c)
{
    PyObject *value;
    int broken;

    if (aa__runner_enter(c->runner) < 0)
        PyErr_Clear(); /* it could start the cell: let it end it */
    aa__interrupt_step_begin(s);
    if (!aa__runner_collect(c->runner, &value, &broken)) {
        aa__interrupt_step_end(s);
        aa__runner_leave(c->runner);
        return AA__EXEC_STARTED;
    }
    /* What escaped its loop while it ran is how it ended (guest.c). */
    if (c->escaped != NULL) {
        Py_CLEAR(value);
        PyErr_Clear();
        broken = 0;
        PyErr_Restore(Py_NewRef(Py_TYPE(c->escaped)), c->escaped,
                      PyException_GetTraceback(c->escaped));
        c->escaped = NULL;
    }
    finish(s, c, value, broken);
    return AA__EXEC_DONE;
}
