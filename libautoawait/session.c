/*
 * session.c -- sessions: their making, their runners, their end, and the
 * public entry of a cell.
 *
 * A session is a namespace that is both globals and locals of every cell
 * (a dict with __name__ == "__main__" and __builtins__), a
 * contextvars.Context, the runners it has opened, its output streams and
 * its interrupt watcher.  Compiling and running a cell is left to cell.c
 * and exec.c; the interpreter and the GIL to interp.c.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int aa__session_fail(aa_session *s, int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    return status;
}

static PyObject *make_namespace(void)
{
    PyObject *ns = PyDict_New(), *builtins = PyImport_ImportModule("builtins");
    PyObject *name = PyUnicode_FromString("__main__");

    if (ns == NULL || builtins == NULL || name == NULL ||
        PyDict_SetItemString(ns, "__name__", name) < 0 ||
        PyDict_SetItemString(ns, "__builtins__", builtins) < 0 ||
        PyDict_SetItemString(ns, "__doc__", Py_None) < 0 ||
        PyDict_SetItemString(ns, "__package__", Py_None) < 0 ||
        PyDict_SetItemString(ns, "__spec__", Py_None) < 0) {
        Py_XDECREF(ns);
        ns = NULL;
    }
    Py_XDECREF(builtins);
    Py_XDECREF(name);
    return ns;
}

/* Keeps the reason aa_session_new failed where aa_errmsg finds it. */
static int new_failed(int status, const char *message)
{
    snprintf(aa__thread_errmsg, AA__ERRMSG_SIZE, "%s", message);
    return status;
}

/* Copies what the host's options cover: an older, shorter struct is read
 * only as far as its size says. */
static int read_options(aa_options *o, const aa_options *opts)
{
    aa_options_init(o);
    if (opts == NULL)
        return AA_OK;
    if (opts->size < sizeof(size_t) + sizeof(int))
        return AA_EINVAL;
    memcpy(o, opts, opts->size < sizeof *o ? opts->size : sizeof *o);
    if (opts->size < offsetof(aa_options, runner) + sizeof(char *) ||
        o->runner == NULL)
        o->runner = "asyncio";
    if (opts->size < offsetof(aa_options, userdata) + sizeof(void *))
        o->write = NULL, o->userdata = NULL;
    return aa__runner_name_ok(o->runner) ? AA_OK : AA_EINVAL;
}

static void close_runners(aa_session *s)
{
    while (s->opened != NULL) {
        aa__opened *o = s->opened;
        s->opened = o->next;
        if (o->entry->vt.close != NULL)
            o->entry->vt.close(o->state);
        if (PyErr_Occurred())
            PyErr_Clear();
        free(o);
    }
    s->runner = NULL;
}

/* Frees what the session holds; the GIL is held. */
static void destroy(aa_session *s)
{
    PyObject *saved[2] = {NULL, NULL};
    int streams;

    aa__interrupt_stop(s);
    /* What the runner's cleanup and the namespace's finalizers print is
     * still the session's output. */
    streams = s->ns != NULL && aa__output_begin(s, saved) == 0;
    close_runners(s);
    aa__sources_forget(s);
    if (s->ns != NULL)
        PyDict_Clear(s->ns);
    if (streams)
        aa__output_end(s, saved);
    Py_CLEAR(s->ns);
    Py_CLEAR(s->context);
    aa__output_free(s);
    if (PyErr_Occurred())
        PyErr_Clear();
    aa__interp_session_removed(s->id);
    free(s);
}

int aa_session_new(aa_session **out, const aa_options *opts)
{
    aa_options o;
    aa_session *s;
    PyGILState_STATE g;
    int rc;

    aa__thread_errmsg[0] = '\0';
    if (out == NULL)
        return new_failed(AA_EINVAL, "aa_session_new: out is NULL");
    *out = NULL;
    if ((rc = read_options(&o, opts)) != AA_OK)
        return new_failed(rc, "aa_session_new: bad options (size 0, or a "
                              "runner name outside [a-z0-9_]+)");
    if ((s = calloc(1, sizeof *s)) == NULL)
        return new_failed(AA_ENOMEM, "aa_session_new: out of memory");
    s->intr_pipe[0] = s->intr_pipe[1] = -1;
    s->autoawait = o.autoawait != 0;
    s->write = o.write;
    s->userdata = o.userdata;
    if ((rc = aa__interp_enter(&g)) != AA_OK) {
        free(s);
        return new_failed(rc, "aa_session_new: no Python interpreter (it "
                              "failed to start, or aa_shutdown ended it)");
    }
    rc = AA_ENOMEM;
    snprintf(s->errmsg, sizeof s->errmsg, "aa_session_new: out of memory");
    if ((s->id = aa__interp_session_added()) == 0) {
        snprintf(s->errmsg, sizeof s->errmsg,
                 "aa_session_new: too many sessions at once");
        goto fail;
    }
    s->ns = make_namespace();
    s->context = s->ns != NULL ? PyContext_New() : NULL;
    if (s->context == NULL || aa__output_make(s) < 0 ||
        aa__interrupt_start(s) < 0)
        goto fail;
    if ((rc = aa__session_use_runner(s, o.runner)) != AA_OK)
        goto fail;
    aa__interp_leave(g);
    s->errmsg[0] = '\0';
    *out = s;
    return AA_OK;
fail:
    if (PyErr_Occurred())
        PyErr_Clear();
    new_failed(rc, s->errmsg);
    destroy(s);
    aa__interp_leave(g);
    return rc;
}

void aa_session_free(aa_session *s)
{
    PyGILState_STATE g;

    if (s == NULL)
        return;
    if (aa__interp_enter(&g) != AA_OK) {
        free(s); /* the interpreter is gone, and its objects with it */
        return;
    }
    destroy(s);
    aa__interp_leave(g);
}

/*
 * Makes the runner called name the session's, opening it for this session
 * on first use.  The GIL is held.  On failure nothing changes.
 */
int aa__session_use_runner(aa_session *s, const char *name)
{
    const aa__runner_entry *e;
    aa__opened *o;
    int rc;

    rc = aa__registry_find(name, &e, s->errmsg, sizeof s->errmsg);
    if (rc != AA_OK)
        return rc;
    for (o = s->opened; o != NULL; o = o->next)
        if (o->entry == e)
            break;
    if (o == NULL) {
        if ((o = calloc(1, sizeof *o)) == NULL)
            return aa__session_fail(s, AA_ENOMEM, "out of memory");
        o->entry = e;
        rc = e->vt.open != NULL ? e->vt.open(e->userdata, &o->state) : 0;
        if (PyErr_Occurred())
            PyErr_Clear();
        if (rc != 0) {
            free(o);
            return aa__session_fail(s, AA_ERUNNER,
                                    "runner '%s' could not open a session "
                                    "(its open returned %d)",
                                    name, rc);
        }
        o->next = s->opened;
        s->opened = o;
    }
    s->runner = o;
    return AA_OK;
}

int aa_session_set_runner(aa_session *s, const char *name)
{
    PyGILState_STATE g;
    int rc;

    if (s == NULL)
        return AA_EINVAL;
    s->errmsg[0] = '\0';
    if (!aa__runner_name_ok(name))
        return aa__session_fail(s, AA_EINVAL,
                                "'%s' is not a runner name: names are "
                                "[a-z0-9_]+",
                                name != NULL ? name : "(null)");
    if ((rc = aa__interp_enter(&g)) != AA_OK)
        return aa__session_fail(s, rc, "no Python interpreter");
    if (s->busy)
        rc = aa__session_fail(s, AA_EBUSY, "a cell of the session is running");
    else
        rc = aa__session_use_runner(s, name);
    aa__interp_leave(g);
    return rc;
}

const char *aa_session_runner(const aa_session *s)
{
    return s != NULL && s->runner != NULL ? s->runner->entry->name : NULL;
}

int aa_session_set_autoawait(aa_session *s, int on)
{
    if (s == NULL)
        return AA_EINVAL;
    s->autoawait = on != 0;
    return AA_OK;
}

int aa_session_autoawait(const aa_session *s)
{
    return s != NULL ? s->autoawait : AA_EINVAL;
}

const char *aa_session_errmsg(const aa_session *s)
{
    return s != NULL ? s->errmsg : "no session";
}

int aa_execn(aa_session *s, const char *source, size_t len, aa_result **out)
{
    aa_result *r;
    PyGILState_STATE g;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (s == NULL || (source == NULL && len > 0))
        return AA_EINVAL;
    s->errmsg[0] = '\0';
    if ((r = calloc(1, sizeof *r)) == NULL)
        return AA_ENOMEM;
    if ((rc = aa__interp_enter(&g)) != AA_OK) {
        aa__result_fail(r, rc, "no Python interpreter");
    } else {
        if (s->busy) {
            aa__result_fail(r, AA_EBUSY, "a cell of the session is running");
        } else {
            s->busy = 1;
            aa__cell_run(s, source != NULL ? source : "", len, r);
            s->busy = 0;
        }
        aa__interp_leave(g);
    }
    rc = r->status;
    if (rc < 0 && r->message != NULL)
        aa__session_fail(s, rc, "%s", r->message);
    if (out != NULL)
        *out = r;
    else
        aa_result_free(r);
    return rc;
}

int aa_exec(aa_session *s, const char *source, aa_result **out)
{
    if (out != NULL)
        *out = NULL;
    if (s == NULL || source == NULL)
        return AA_EINVAL;
    return aa_execn(s, source, strlen(source), out);
}
